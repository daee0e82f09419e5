/* cnn: the small modern CNN of KANN's MNIST benchmark (examples/mnist-cnn.c
 * there), on Fashion-MNIST (or any MNIST-layout set).
 *
 *   input   1@28x28
 *   conv   32@28x28   3x3, pad 1 (KANN's KAD_PAD_AUTO), ReLU
 *   conv   32@28x28   3x3, pad 1, ReLU
 *   pool   32@14x14   max 2x2, stride 2
 *   dropout
 *   dense  128        ReLU
 *   dropout
 *   dense  10         softmax cross-entropy
 *
 * Defaults: dropout 0.2 (KANN's), Adam lr 1e-3 (KANN trains with RMSProp at
 * the same rate), batch 64, 10 epochs, seed 42; He (uniform) weights before
 * ReLU, Xavier (uniform) for the output layer, zero biases. Dropout is
 * inverted (kept units scaled by 1/(1-p) while training, identity at test
 * time) and drawn from the seeded counter-based RNG, so a seed replays a run
 * bit for bit. --filters and --hidden change the widths (KANN's -f and -h).
 *
 *   cnn                                      # the recipe above
 *   cnn --dropout 0 --epochs 3 --plot cnn.svg
 *   cnn --filters 8 --hidden 32 --limit 2000 --epochs 1
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "classify.h"


#define PROG "cnn"
/* --help's first lines */
static const char SUMMARY[] = "Train KANN's small CNN (conv 32@3x3, conv 32@3x3, max-pool, dropout, dense 128,\n"
                             "dropout, dense 10) on Fashion-MNIST or any MNIST-layout data set.\n"
                             "Defaults: dropout 0.2, Adam lr 1e-3, batch 64, 10 epochs, seed 42.";

typedef struct cnn {
    tg_conv2d_layer conv1, conv2;
    tg_dense fc, out;
    double dropout;
} cnn;

static double dropout_opt = 0.2;
static int filters_opt = 32, hidden_opt = 128;

static tg_tensor *forward(void *model, tg_tensor *x, int train) {
    const cnn *m = model;
    tg_tensor *h = tg_relu(tg_conv2d_layer_forward(&m->conv1, x));      /* (B,F,H,W) */
    h = tg_relu(tg_conv2d_layer_forward(&m->conv2, h));                /* (B,F,H,W) */
    h = tg_dropout(tg_max_pool2d(h, 2, 2, 2, 2, 0, 0), m->dropout, train); /* (B,F,H/2,W/2) */
    h = tg_relu(tg_dense_forward(&m->fc, tg_flatten(h, 1)));            /* (B,hidden) */
    h = tg_dropout(h, m->dropout, train);
    return tg_dense_forward(&m->out, h);                                /* (B,10) */
}

static void free_net(cls_net *net) {
    cnn *m = net->model;
    tg_conv2d_layer_free(&m->conv1);
    tg_conv2d_layer_free(&m->conv2);
}

static int build(tg_ctx *ctx, const cls_opts *o, int64_t rows, int64_t cols, cls_net *net) {
    (void)o;
    /* The data, not the command line, is at fault: a runtime error (exit 1). */
    if (rows < 2 || cols < 2)
        return tg_set_error(ctx, TG_ESHAPE, "images of %lldx%lld are too small for 2x2 pooling", (long long)rows,
                            (long long)cols),
               -1;
    cnn *m = cls_model_new(ctx, net, sizeof *m, forward);
    if (!m) return -1;
    net->H = rows;
    net->W = cols;
    m->dropout = dropout_opt;
    int64_t F = filters_opt, flat = F * (rows / 2) * (cols / 2);
    tg_conv_opts same = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1};
    if (tg_conv2d_layer_init(&m->conv1, ctx, "conv1", 1, F, 3, 3, &same, TG_F32, TG_INIT_HE) ||
        tg_conv2d_layer_init(&m->conv2, ctx, "conv2", F, F, 3, 3, &same, TG_F32, TG_INIT_HE) ||
        tg_dense_init(&m->fc, ctx, "fc", flat, hidden_opt, TG_F32, TG_INIT_HE) ||
        tg_dense_init(&m->out, ctx, "out", hidden_opt, CLS_CLASSES, TG_F32, TG_INIT_XAVIER))
        return -1;
    snprintf(net->desc, sizeof net->desc,
             "cnn: 1x%lldx%lld, conv %lld@3x3 relu, conv %lld@3x3 relu, max-pool 2x2, dropout %g, "
             "dense %d relu, dropout %g, dense 10\n",
             (long long)rows, (long long)cols, (long long)F, (long long)F, m->dropout, hidden_opt, m->dropout);
    return 0;
}

int main(int argc, char **argv) {
    cls_opts o = {.optim = "adam", .lr = 1e-3, .epochs = 10, .batch = 64, .seed = 42};
    ex_flag extra[] = {
        {.name = "dropout", .type = EX_DOUBLE, .target = &dropout_opt, .metavar = "P",
         .help = "dropout rate after the pooling and the hidden dense layer", .range = EX_LO | EX_HI, .lo = 0,
         .hi = 0.95},
        ex_flag_int("filters", &filters_opt, "maps of each conv layer", 1, 1024),
        ex_flag_int("hidden", &hidden_opt, "units of the hidden dense layer", 1, 100000),
    };
    cls_program p = {.prog = PROG,
                     .summary = SUMMARY,
                     .extra = extra, .n_extra = EX_NFLAGS(extra),
                     .build = build, .free_net = free_net,
    };
    return cls_main(argc, argv, &p, &o);
}
