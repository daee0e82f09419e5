/* lenet5: LeCun et al.'s LeNet-5 (1998), as in the lectures, on Fashion-MNIST
 * (or any MNIST-layout set).
 *
 *   input  1@32x32   the 28x28 image zero-padded by 2 on every side
 *   C1     6@28x28   conv 5x5, then squash
 *   S2     6@14x14   2x2 subsampling: the sum of each 2x2 window times a
 *                    trainable coefficient per map, plus a trainable bias per
 *                    map, then squash
 *   C3    16@10x10   conv 5x5 through LeCun's connection table (below), squash
 *   S4    16@5x5     as S2
 *   C5   120@1x1     conv 5x5 over all 16 maps, squash
 *   F6    84         dense, squash
 *   out   10         dense; softmax cross-entropy stands in for the RBF layer
 *
 * The squashing function is tanh (the classic setting PyTorch reaches 0.886
 * with), or LeCun's scaled 1.7159·tanh(2a/3) with --squash lecun. Defaults:
 * Adam lr 1e-3, batch 64, 10 epochs, seed 42; Xavier (uniform) weights, zero
 * biases, subsampling coefficients 1/4 (so S2 starts as average pooling).
 *
 * S2 and S4 are built from ops: avg_pool2d gives sum/4, so sum·c = avg·(4c);
 * the (C,1,1) coefficient and bias broadcast over (B,C,h,w).
 *
 * Images of another size than 28x28 are padded to max(rows+4, 32) a side,
 * so the network runs on any MNIST-layout set; C5 then has more than 1x1
 * outputs and F6 reads all of them.
 *
 *   lenet5                                       # the recipe above
 *   lenet5 --epochs 1 --limit 5000 --plot lenet.svg
 *   lenet5 --save lenet.safetensors && lenet5 --load lenet.safetensors --eval-only
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "classify.h"

#include <stdlib.h>
#include <string.h>

#define PROG "lenet5"
/* --help's first lines */
static const char SUMMARY[] = "Train LeCun's LeNet-5 (32x32 input, C1-S2-C3-S4-C5-F6, C3 connection table,\n"
                             "trainable subsampling) on Fashion-MNIST or any MNIST-layout data set.\n"
                             "Defaults: tanh, Adam lr 1e-3, batch 64, 10 epochs, seed 42.";

/* LeNet-5's C3 table (LeCun et al. 1998, Table I; the lectures' figure):
 * C3_TABLE[p][k] = 1 when C3 map k reads S2 map p. Maps 0-5 read 3
 * contiguous S2 maps, 6-11 read 4 contiguous, 12-14 read 4 non-contiguous,
 * 15 reads all 6: 60 of the 96 connections. */
static const uint8_t C3_TABLE[6][16] = {
    {1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1},
    {1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1},
    {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1},
    {0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1},
    {0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1},
    {0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1},
};

enum { SQUASH_TANH, SQUASH_LECUN };

typedef struct subsample {
    tg_tensor *coef;  /* (C,1,1), multiplies the 2x2 sum */
    tg_tensor *bias;  /* (C,1,1) */
} subsample;

typedef struct lenet {
    tg_ctx *ctx;
    int squash;
    tg_conv2d_layer c1, c3, c5;
    subsample s2, s4;
    tg_dense f6, out;
} lenet;

static tg_tensor *squash(const lenet *m, tg_tensor *a) {
    if (m->squash == SQUASH_TANH) return tg_tanh(a);
    /* f(a) = A·tanh(S·a), A = 1.7159, S = 2/3 (LeCun 1998, appendix A) */
    return tg_mul(tg_tanh(tg_mul(a, tg_scalar(m->ctx, TG_F32, 2.0 / 3.0))), tg_scalar(m->ctx, TG_F32, 1.7159));
}

/* x (B,C,h,w) -> squash(sum of each 2x2 window · coef_c + bias_c) (B,C,h/2,w/2) */
static tg_tensor *subsample_forward(const lenet *m, const subsample *s, tg_tensor *x) {
    tg_tensor *avg = tg_avg_pool2d(x, 2, 2, 2, 2, 0, 0);
    tg_tensor *c4 = tg_mul(s->coef, tg_scalar(m->ctx, TG_F32, 4.0));
    return squash(m, tg_add(tg_mul(avg, c4), s->bias));
}

static tg_tensor *forward(void *model, tg_tensor *x, int train) {
    (void)train; /* no dropout in LeNet-5 */
    const lenet *m = model;
    tg_tensor *h = squash(m, tg_conv2d_layer_forward(&m->c1, x));  /* (B,6,28,28) */
    h = subsample_forward(m, &m->s2, h);                            /* (B,6,14,14) */
    h = squash(m, tg_conv2d_layer_forward(&m->c3, h));             /* (B,16,10,10) */
    h = subsample_forward(m, &m->s4, h);                            /* (B,16,5,5) */
    h = squash(m, tg_conv2d_layer_forward(&m->c5, h));             /* (B,120,1,1) */
    h = squash(m, tg_dense_forward(&m->f6, tg_flatten(h, 1)));      /* (B,84) */
    return tg_dense_forward(&m->out, h);                            /* (B,10) */
}

static tg_status subsample_init(subsample *s, tg_ctx *ctx, const char *name, int64_t C) {
    char cname[32], bname[32];
    snprintf(cname, sizeof cname, "%s.coef", name);
    snprintf(bname, sizeof bname, "%s.b", name);
    int64_t shape[3] = {C, 1, 1};
    s->coef = tg_param_new(ctx, cname, TG_F32, 3, shape);
    s->bias = s->coef ? tg_param_new(ctx, bname, TG_F32, 3, shape) : NULL;
    if (!s->bias) return tg_last_status(ctx);
    s->coef->flags |= TG_NO_DECAY;
    s->bias->flags |= TG_NO_DECAY;
    tg_init_constant(s->coef, 0.25);
    return TG_OK;
}

/* Side of the padded input: 32 for 28, at least rows+4 in general. */
static int64_t framed(int64_t n) { return n + 4 > 32 ? n + 4 : 32; }
/* Output side of conv 5x5 then 2x2 subsampling (floor), twice, then conv 5x5. */
static int64_t c5_side(int64_t n) { return ((n - 4) / 2 - 4) / 2 - 4; }

static const char *const squash_names[] = {"tanh", "lecun", NULL};
static const char *squash_opt = "tanh";

static void free_net(cls_net *net) {
    lenet *m = net->model;
    tg_conv2d_layer_free(&m->c1);
    tg_conv2d_layer_free(&m->c3);
    tg_conv2d_layer_free(&m->c5);
}

static int build(tg_ctx *ctx, const cls_opts *o, int64_t rows, int64_t cols, cls_net *net) {
    (void)o;
    lenet *m = cls_model_new(ctx, net, sizeof *m, forward);
    if (!m) return -1;
    m->ctx = ctx;
    m->squash = strcmp(squash_opt, "lecun") == 0 ? SQUASH_LECUN : SQUASH_TANH;
    net->H = framed(rows);
    net->W = framed(cols);
    net->pad_top = (net->H - rows) / 2;
    net->pad_left = (net->W - cols) / 2;
    int64_t oh = c5_side(net->H), ow = c5_side(net->W);
    if (tg_conv2d_layer_init(&m->c1, ctx, "c1", 1, 6, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
        subsample_init(&m->s2, ctx, "s2", 6) ||
        tg_conv2d_layer_init(&m->c3, ctx, "c3", 6, 16, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
        tg_conv2d_layer_set_table(&m->c3, &C3_TABLE[0][0]) || subsample_init(&m->s4, ctx, "s4", 16) ||
        tg_conv2d_layer_init(&m->c5, ctx, "c5", 16, 120, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
        tg_dense_init(&m->f6, ctx, "f6", 120 * oh * ow, 84, TG_F32, TG_INIT_XAVIER) ||
        tg_dense_init(&m->out, ctx, "out", 84, CLS_CLASSES, TG_F32, TG_INIT_XAVIER))
        return -1;
    snprintf(net->desc, sizeof net->desc,
             "LeNet-5 %s: %lldx%lld images in a 1x%lldx%lld frame, C1 6@5x5, S2, C3 16@5x5 (60 of 96 "
             "connections), S4, C5 120@5x5 (%lldx%lld), F6 84, 10\n",
             squash_opt, (long long)rows, (long long)cols, (long long)net->H, (long long)net->W, (long long)oh,
             (long long)ow);
    return 0;
}

int main(int argc, char **argv) {
    cls_opts o = {.optim = "adam", .lr = 1e-3, .epochs = 10, .batch = 64, .seed = 42};
    ex_flag extra[] = {
        {.name = "squash", .type = EX_STRING, .target = &squash_opt, .choices = squash_names,
         .help = "squashing function: tanh, or LeCun's 1.7159·tanh(2a/3)"},
    };
    cls_program p = {.prog = PROG,
                     .summary = SUMMARY,
                     .extra = extra, .n_extra = EX_NFLAGS(extra),
                     .build = build, .free_net = free_net,
    };
    return cls_main(argc, argv, &p, &o);
}
