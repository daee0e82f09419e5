/* mlp: a multilayer perceptron on Fashion-MNIST (or any MNIST-layout set).
 *
 * The defaults are the lecture's homework recipe: 784-500-10, ReLU hidden
 * units, softmax cross-entropy, mini-batches of 200, plain SGD with learning
 * rate 0.1, 20 epochs, seed 42. Every gradient comes from the tape; nothing
 * here is differentiated by hand.
 *
 *   mlp                                   # the recipe
 *   mlp --hidden 300 --act sigmoid --loss mse
 *   mlp --optim adam --early-stop 1 --save model.safetensors --plot curves.svg
 *   mlp --load model.safetensors --eval-only
 *   mlp --hidden 16 --limit 200 --epochs 1 --dot graph.dot   # dot -Tsvg graph.dot
 *
 * Losses (B = batch size, C = 10 classes, z = logits of the last layer):
 *   ce:  E = (1/B) Σ_b -log softmax(z_b)[label_b]
 *   mse: E = (1/B) Σ_b Σ_c (σ(z_bc) - t_bc)², t one-hot. This is the second
 *        lecture's squared error over sigmoid outputs, summed over the output
 *        units and averaged over the batch. The lecture's factor ½ is left
 *        out: it only rescales the learning rate.
 *
 * Initialisation: He (uniform) for ReLU nets, Xavier (uniform) for sigmoid
 * and tanh nets, on every layer; biases 0. Training runs in f32.
 *
 * --early-stop N holds out the last 5000 training samples (a tenth of them
 * when --limit leaves fewer than 10000), checks the validation error every N
 * epochs, stops as soon as it rises and restores the parameters of the best
 * check. Optimizer state is not rolled back.
 *
 * The training loop, evaluation and every flag but --hidden, --act and
 * --loss are classify.c's, shared with lenet5 and cnn; this file is the
 * network, its loss and its flags.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "classify.h"

#include <string.h>

#define PROG "mlp"
/* --help's first lines */
static const char SUMMARY[] = "Train a multilayer perceptron on Fashion-MNIST (or any MNIST-layout data set).\n"
                             "Defaults: the lecture recipe 784-500-10, ReLU, softmax cross-entropy, batch 200,\n"
                             "SGD lr 0.1, 20 epochs, seed 42.";

#define MAX_LAYERS (EX_LIST_MAX + 1)

enum { ACT_RELU, ACT_SIGMOID, ACT_TANH };
enum { LOSS_CE, LOSS_MSE };

typedef struct model {
    tg_ctx *ctx;
    int n_layers;
    tg_dense layer[MAX_LAYERS];
    int act, loss;
} model;

static ex_intlist hidden_opt = {1, {500}};
static const char *act_opt = "relu", *loss_opt = "ce";

/* ---- model ---- */

static tg_tensor *activate(int act, tg_tensor *h) {
    switch (act) {
    case ACT_SIGMOID: return tg_sigmoid(h);
    case ACT_TANH: return tg_tanh(h);
    default: return tg_relu(h);
    }
}

/* x (B, D) -> logits (B, C); no dropout, so train is unused */
static tg_tensor *forward(void *mp, tg_tensor *x, int train) {
    (void)train;
    const model *m = mp;
    tg_tensor *h = x;
    for (int l = 0; l < m->n_layers; l++) {
        h = tg_dense_forward(&m->layer[l], h);
        if (l + 1 < m->n_layers) h = activate(m->act, h);
    }
    return h;
}

/* The batch loss (see the top of the file). mse's one-hot targets t (B, C)
 * are a temporary of the active tape, freed with it. */
static tg_tensor *loss_of(void *mp, tg_tensor *logits, const int32_t *labels, int64_t B) {
    const model *m = mp;
    if (m->loss == LOSS_CE) return tg_cross_entropy(logits, labels, TG_MEAN);
    int64_t shape[2] = {B, CLS_CLASSES};
    tg_tensor *t = tg_tensor_temp(m->ctx, TG_F32, 2, shape);
    if (!t || tg_one_hot(labels, B, CLS_CLASSES, t) != TG_OK) return NULL;
    tg_tensor *sq = tg_mse(tg_sigmoid(logits), t, TG_SUM);
    return tg_mul(sq, tg_scalar(m->ctx, TG_F32, 1.0 / (double)B));
}

static int build(tg_ctx *ctx, const cls_opts *o, int64_t rows, int64_t cols, cls_net *net) {
    (void)o;
    model *m = cls_model_new(ctx, net, sizeof *m, forward);
    if (!m) return -1;
    net->loss = loss_of;
    m->ctx = ctx;
    m->act = !strcmp(act_opt, "sigmoid") ? ACT_SIGMOID : !strcmp(act_opt, "tanh") ? ACT_TANH : ACT_RELU;
    m->loss = !strcmp(loss_opt, "mse") ? LOSS_MSE : LOSS_CE;
    tg_init_kind init = m->act == ACT_RELU ? TG_INIT_HE : TG_INIT_XAVIER;
    int64_t prev = rows * cols;
    m->n_layers = hidden_opt.n + 1;
    int used = snprintf(net->desc, sizeof net->desc, "model %lld", (long long)prev);
    for (int l = 0; l < m->n_layers; l++) {
        int64_t out = l < hidden_opt.n ? hidden_opt.v[l] : CLS_CLASSES;
        char name[16];
        snprintf(name, sizeof name, "fc%d", l + 1);
        if (tg_dense_init(&m->layer[l], ctx, name, prev, out, TG_F32, init) != TG_OK) return -1;
        if (used >= 0 && (size_t)used < sizeof net->desc)
            used += snprintf(net->desc + used, sizeof net->desc - (size_t)used, "-%lld", (long long)out);
        prev = out;
    }
    if (used >= 0 && (size_t)used < sizeof net->desc)
        snprintf(net->desc + used, sizeof net->desc - (size_t)used, " %s %s, ", act_opt, loss_opt);
    snprintf(net->plot_tag, sizeof net->plot_tag, "%s, %s loss, ", act_opt, loss_opt);
    return 0;
}

/* ---- command line ---- */

static const char *const act_names[] = {"relu", "sigmoid", "tanh", NULL};
static const char *const loss_names[] = {"ce", "mse", NULL};

/* mlp's --help, older than the driver, lists its own flags after --data and
 * --early-stop before --limit. */
static const char *const flag_order[] = {
    "data", "hidden", "act", "loss", "epochs", "batch", "lr", "optim", "momentum", "weight-decay",
    "seed", "threads", "save", "load", "eval-only", "plot", "dot", "early-stop", "limit", NULL,
};

int main(int argc, char **argv) {
    cls_opts o = {.optim = "sgd", .lr = 0.1, .epochs = 20, .batch = 200, .seed = 42};
    ex_flag extra[] = {
        {.name = "hidden", .type = EX_INTLIST, .target = &hidden_opt, .metavar = "LIST",
         .help = "hidden layer sizes, e.g. 500 or 300,100", .range = EX_LO | EX_HI, .lo = 1, .hi = 100000},
        {.name = "act", .type = EX_STRING, .target = &act_opt, .choices = act_names, .help = "hidden activation"},
        {.name = "loss", .type = EX_STRING, .target = &loss_opt, .choices = loss_names,
         .help = "softmax cross-entropy, or squared error of sigmoid outputs"},
        /* replacing the driver's entries: mlp's own wording and range */
        ex_flag_int("batch", &o.batch, "mini-batch size", 1, 1000000),
        ex_flag_lr(&o.lr, "learning rate; if not given, 0.1 for sgd, else the optimizer's torch default", 1000),
        ex_flag_min("seed", &o.seed, "seed of initialisation and shuffling", 0),
        ex_flag_int("early-stop", &o.early_stop,
                    "check a held-out validation split every N epochs; stop when its error rises (0 = off)", 0, 100000),
    };
    cls_program p = {.prog = PROG,
                     .summary = SUMMARY,
                     .extra = extra, .n_extra = EX_NFLAGS(extra),
                     .order = flag_order,
                     .flat = 1,
                     .eval_batch = 1000, /* mlp's own batch before the driver: a (1000, 784) input is 3 MB */
                     .one_time = 1,
                     .build = build, /* no free_net: dense layers own nothing outside ctx */
    };
    return cls_main(argc, argv, &p, &o);
}
