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
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "mlp"
#define MAX_LAYERS (EX_LIST_MAX + 1)
#define N_CLASSES 10

enum { ACT_RELU, ACT_SIGMOID, ACT_TANH };
enum { LOSS_CE, LOSS_MSE };

typedef struct opts {
    const char *data, *act, *loss, *optim, *save, *load, *plot, *dot;
    ex_intlist hidden;
    int epochs, batch, seed, threads, eval_only, early_stop, limit;
    double lr, momentum, weight_decay;
} opts;

typedef struct model {
    int n_layers;
    tg_dense layer[MAX_LAYERS];
    int act, loss;
} model;

/* ---- model ---- */

static tg_tensor *activate(int act, tg_tensor *h) {
    switch (act) {
    case ACT_SIGMOID: return tg_sigmoid(h);
    case ACT_TANH: return tg_tanh(h);
    default: return tg_relu(h);
    }
}

/* x (B, D) -> logits (B, C) */
static tg_tensor *forward(const model *m, tg_tensor *x) {
    tg_tensor *h = x;
    for (int l = 0; l < m->n_layers; l++) {
        h = tg_dense_forward(&m->layer[l], h);
        if (l + 1 < m->n_layers) h = activate(m->act, h);
    }
    return h;
}

/* The batch loss (see the top of the file); onehot is (B, C) scratch used by
 * mse. */
static tg_tensor *loss_of(const model *m, tg_ctx *ctx, tg_tensor *logits, const int32_t *labels,
                          int64_t B) {
    if (m->loss == LOSS_CE) return tg_cross_entropy(logits, labels, TG_MEAN);
    int64_t shape[2] = {B, N_CLASSES};
    tg_tensor *t = tg_tensor_temp(ctx, TG_F32, 2, shape);
    if (!t || tg_one_hot(labels, B, N_CLASSES, t) != TG_OK) return NULL;
    tg_tensor *sq = tg_mse(tg_sigmoid(logits), t, TG_SUM);
    return tg_mul(sq, tg_scalar(ctx, TG_F32, 1.0 / (double)B));
}

static int build(model *m, tg_ctx *ctx, const opts *o, int64_t in_dim) {
    memset(m, 0, sizeof *m);
    m->act = !strcmp(o->act, "sigmoid") ? ACT_SIGMOID : !strcmp(o->act, "tanh") ? ACT_TANH : ACT_RELU;
    m->loss = !strcmp(o->loss, "mse") ? LOSS_MSE : LOSS_CE;
    tg_init_kind init = m->act == ACT_RELU ? TG_INIT_HE : TG_INIT_XAVIER;
    int64_t prev = in_dim;
    m->n_layers = o->hidden.n + 1;
    for (int l = 0; l < m->n_layers; l++) {
        int64_t out = l < o->hidden.n ? o->hidden.v[l] : N_CLASSES;
        char name[16];
        snprintf(name, sizeof name, "fc%d", l + 1);
        if (tg_dense_init(&m->layer[l], ctx, name, prev, out, TG_F32, init) != TG_OK) return -1;
        prev = out;
    }
    return 0;
}

/* ---- evaluation ---- */

/* Accuracy on samples [start, start+n) of ds, in batches, without recording. */
static int evaluate(tg_ctx *ctx, const model *m, const tg_dataset *ds, int64_t start, int64_t n,
                    double *acc) {
    enum { EB = 1000 };
    int64_t idx[EB], correct = 0, D = ds->rows * ds->cols;
    int32_t lab[EB];
    tg_no_grad_begin(ctx);
    int rc = 0;
    for (int64_t s = 0; s < n && rc == 0; s += EB) {
        int64_t B = n - s < EB ? n - s : EB;
        for (int64_t i = 0; i < B; i++) idx[i] = start + s + i;
        tg_tape *tape = tg_tape_begin(ctx);
        int64_t shape[2] = {B, D};
        tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F32, 2, shape) : NULL;
        tg_tensor *z = NULL;
        if (x && tg_dataset_batch(ds, idx, B, x, lab) == TG_OK) z = forward(m, x);
        if (!z) {
            rc = -1;
        } else {
            const float *zp = z->data;
            for (int64_t b = 0; b < B; b++) {
                int best = 0;
                for (int c = 1; c < N_CLASSES; c++)
                    if (zp[b * N_CLASSES + c] > zp[b * N_CLASSES + best]) best = c;
                correct += best == lab[b];
            }
        }
        if (tape) tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
    *acc = n > 0 ? (double)correct / (double)n : 0;
    return rc;
}

/* ---- command line ---- */

static const char *const act_names[] = {"relu", "sigmoid", "tanh", NULL};
static const char *const loss_names[] = {"ce", "mse", NULL};
static const char *const optim_names[] = {"sgd",      "momentum", "nesterov", "adagrad", "rmsprop",
                                          "adadelta", "adam",     "adamw",    NULL};

static int parse_opts(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->data = tg_default_data_dir();
    o->hidden.n = 1;
    o->hidden.v[0] = 500;
    o->act = "relu";
    o->loss = "ce";
    o->epochs = 20;
    o->batch = 200;
    o->lr = 0.1;
    o->optim = "sgd";
    o->momentum = 0.9;
    o->seed = 42;
    ex_flag flags[] = {
        {.name = "data", .type = EX_STRING, .target = &o->data, .metavar = "DIR",
         .help = "MNIST-layout directory (files with or without .gz)"},
        {.name = "hidden", .type = EX_INTLIST, .target = &o->hidden, .metavar = "LIST",
         .help = "hidden layer sizes, e.g. 500 or 300,100", .range = EX_LO | EX_HI, .lo = 1, .hi = 100000},
        {.name = "act", .type = EX_STRING, .target = &o->act, .choices = act_names,
         .help = "hidden activation"},
        {.name = "loss", .type = EX_STRING, .target = &o->loss, .choices = loss_names,
         .help = "softmax cross-entropy, or squared error of sigmoid outputs"},
        {.name = "epochs", .type = EX_INT, .target = &o->epochs, .help = "passes over the training set",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 100000},
        {.name = "batch", .type = EX_INT, .target = &o->batch, .help = "mini-batch size",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 1000000},
        {.name = "lr", .type = EX_DOUBLE, .target = &o->lr,
         .help = "learning rate; if not given, 0.1 for sgd, else the optimizer's torch default",
         .range = EX_LO | EX_LO_OPEN | EX_HI, .lo = 0, .hi = 1000},
        {.name = "optim", .type = EX_STRING, .target = &o->optim, .choices = optim_names,
         .help = "optimizer"},
        {.name = "momentum", .type = EX_DOUBLE, .target = &o->momentum,
         .help = "momentum of momentum/nesterov (and of rmsprop when given)", .range = EX_LO | EX_HI,
         .lo = 0, .hi = 0.999999},
        {.name = "weight-decay", .type = EX_DOUBLE, .target = &o->weight_decay,
         .help = "L2 weight decay (decoupled for adamw; biases are not decayed)", .range = EX_LO | EX_HI,
         .lo = 0, .hi = 10},
        {.name = "seed", .type = EX_INT, .target = &o->seed, .help = "seed of initialisation and shuffling",
         .range = EX_LO, .lo = 0},
        {.name = "threads", .type = EX_INT, .target = &o->threads,
         .help = "worker threads; 0 = TG_THREADS or one per core", .range = EX_LO | EX_HI, .lo = 0,
         .hi = 256},
        {.name = "save", .type = EX_STRING, .target = &o->save, .metavar = "FILE",
         .help = "save parameters and optimizer state (safetensors) after training"},
        {.name = "load", .type = EX_STRING, .target = &o->load, .metavar = "FILE",
         .help = "load parameters and optimizer state before training"},
        {.name = "eval-only", .type = EX_BOOL, .target = &o->eval_only,
         .help = "with --load: only evaluate on the test set"},
        {.name = "plot", .type = EX_STRING, .target = &o->plot, .metavar = "FILE.svg",
         .help = "write loss and accuracy per epoch as an SVG plot"},
        {.name = "dot", .type = EX_STRING, .target = &o->dot, .metavar = "FILE.dot",
         .help = "write the first training step's tape, with gradient norms, as Graphviz DOT"},
        {.name = "early-stop", .type = EX_INT, .target = &o->early_stop,
         .help = "check a held-out validation split every N epochs; stop when its error rises (0 = off)",
         .range = EX_LO | EX_HI, .lo = 0, .hi = 100000},
        {.name = "limit", .type = EX_INT, .target = &o->limit,
         .help = "train on the first N training samples only (0 = all)", .range = EX_LO, .lo = 0},
    };
    int n = (int)(sizeof flags / sizeof flags[0]);
    int rc = ex_parse(argc, argv, PROG,
                      "Train a multilayer perceptron on Fashion-MNIST (or any MNIST-layout data set).\n"
                      "Defaults: the lecture recipe 784-500-10, ReLU, softmax cross-entropy, batch 200,\n"
                      "SGD lr 0.1, 20 epochs, seed 42.",
                      flags, n);
    if (rc >= 0) return rc;
    tg_optim_kind kind = (tg_optim_kind)tg_optim_kind_parse(o->optim);
    tg_optim_config d = tg_optim_defaults(kind);
    if (!ex_flag_find(flags, n, "lr")->set && kind != TG_OPT_SGD) o->lr = d.lr;
    if (!ex_flag_find(flags, n, "momentum")->set && kind != TG_OPT_MOMENTUM && kind != TG_OPT_NESTEROV)
        o->momentum = d.momentum;
    if (!ex_flag_find(flags, n, "weight-decay")->set) o->weight_decay = d.weight_decay;
    if (o->eval_only && !o->load) return ex_usage_error(PROG, "--eval-only needs --load FILE");
    if (o->eval_only && (o->save || o->plot || o->early_stop || o->dot))
        return ex_usage_error(PROG, "--eval-only does not train: drop --save, --plot, --early-stop and --dot");
    return -1;
}

/* Everything that can be checked before loading data or training. */
static int validate(const opts *o) {
    char msg[600];
    if (ex_check_dir(o->data, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--data: %s (use --data DIR to point at an MNIST-layout directory)", msg);
    if (o->save && ex_check_writable(o->save, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--save: %s", msg);
    if (o->plot && ex_check_writable(o->plot, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--plot: %s", msg);
    if (o->dot && ex_check_writable(o->dot, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--dot: %s", msg);
    if (o->load) {
        FILE *fp = fopen(o->load, "rb");
        if (!fp) return ex_usage_error(PROG, "--load: cannot open '%s'", o->load);
        fclose(fp);
    }
    return -1;
}

/* ---- training ---- */

/* --dot: the tape of one step, after backward, edges labelled with gradient
 * norms. */
static tg_status write_dot(tg_ctx *ctx, tg_tape *tape, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return tg_set_error(ctx, TG_EIO, "--dot: cannot open '%s' for writing", path);
    tg_dot_opts d = {.grad_norms = 1, .title = "mlp: the first training step (edges: gradient norms)"};
    tg_status st = tg_tape_dot(tape, f, &d);
    if (fclose(f) != 0 && st == TG_OK) st = tg_set_error(ctx, TG_EIO, "--dot: cannot write '%s'", path);
    return st;
}

typedef struct history {
    double *loss, *test_acc, *val_acc;
} history;

static int run(const opts *o, tg_ctx *ctx, tg_dataset *train, tg_dataset *test) {
    model m;
    if (build(&m, ctx, o, test->rows * test->cols) != 0)
        return ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
    tg_optim_config oc = tg_optim_defaults((tg_optim_kind)tg_optim_kind_parse(o->optim));
    oc.lr = o->lr;
    oc.momentum = o->momentum;
    oc.weight_decay = o->weight_decay;
    oc.decay_biases = 0; /* the lecture's L2 term covers the weights only */
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    if (!opt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
    int rc = EX_OK;
    if (o->load && tg_checkpoint_load(ctx, o->load, opt) != TG_OK) {
        rc = ex_runtime_error(PROG, "--load: %s", tg_last_error(ctx));
        tg_optim_free(opt);
        return rc;
    }
    ex_result res = {0};
    if (o->eval_only) {
        double t0 = ex_now(), acc;
        if (evaluate(ctx, &m, test, 0, test->n, &acc) != 0) {
            rc = ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
        } else {
            printf("test accuracy %.4f on %lld samples\n", acc, (long long)test->n);
            ex_result_add(&res, "test_acc", "%.4f", acc);
            ex_result_add(&res, "seconds", "%.2f", ex_now() - t0);
            ex_result_print(&res);
        }
        tg_optim_free(opt);
        return rc;
    }

    int64_t n_all = train->n, n_val = 0;
    if (o->early_stop) n_val = n_all >= 10000 ? 5000 : n_all / 10;
    int64_t n_tr = n_all - n_val, D = train->rows * train->cols, B = o->batch;
    if (n_tr < 1 || (o->early_stop && n_val < 1)) {
        tg_optim_free(opt);
        return ex_usage_error(PROG, "too few training samples (%lld) for this setup", (long long)n_all);
    }
    int64_t n_batches = (n_tr + B - 1) / B;
    int64_t *perm = malloc((size_t)n_tr * sizeof *perm);
    int32_t *labels = malloc((size_t)B * sizeof *labels);
    history h = {calloc((size_t)o->epochs, sizeof(double)), calloc((size_t)o->epochs, sizeof(double)),
                 calloc((size_t)o->epochs, sizeof(double))};
    ex_early_stop es = EX_EARLY_STOP_INIT;
    if (!perm || !labels || !h.loss || !h.test_acc || !h.val_acc) {
        rc = ex_runtime_error(PROG, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n_tr; i++) perm[i] = i;
    printf("model %lld", (long long)D);
    for (int l = 0; l < m.n_layers; l++) printf("-%lld", (long long)m.layer[l].W->shape[1]);
    printf(" %s %s, %s lr %g, batch %lld, %lld training samples%s, %d threads\n", o->act, o->loss, o->optim,
           o->lr, (long long)B, (long long)n_tr, n_val ? " (+ validation split)" : "", tg_ctx_threads(ctx));

    ex_progress pr;
    ex_progress_begin(&pr, o->epochs, n_batches);
    double t_start = ex_now(), t_train = 0, last_loss = NAN;
    int epochs_run = 0;
    double test_acc = 0;
    for (int ep = 1; ep <= o->epochs; ep++) {
        ex_progress_epoch_begin(&pr, ep);
        double t0 = ex_now();
        tg_shuffle(ctx, perm, n_tr);
        for (int64_t bi = 0; bi < n_batches; bi++) {
            int64_t b0 = bi * B, nb = n_tr - b0 < B ? n_tr - b0 : B;
            tg_tape *tape = tg_tape_begin(ctx);
            int64_t shape[2] = {nb, D};
            tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F32, 2, shape) : NULL;
            tg_tensor *loss = NULL;
            if (x && tg_dataset_batch(train, perm + b0, nb, x, labels) == TG_OK)
                loss = loss_of(&m, ctx, forward(&m, x), labels, nb);
            tg_status st = loss ? tg_backward(loss) : TG_EINVAL;
            if (st == TG_OK && o->dot && ep == 1 && bi == 0) st = write_dot(ctx, tape, o->dot);
            if (st == TG_OK) st = tg_optim_step(opt);
            double lv = loss ? tg_item(loss) : NAN;
            tg_optim_zero_grad(opt);
            if (tape) tg_tape_end(tape);
            if (st != TG_OK) {
                rc = ex_runtime_error(PROG, "epoch %d batch %lld: %s", ep, (long long)bi + 1,
                                      tg_last_error(ctx)[0] ? tg_last_error(ctx) : tg_strerror(st));
                goto done;
            }
            if (!isfinite(lv)) {
                rc = ex_runtime_error(PROG, "training diverged at epoch %d batch %lld (loss %g); try a smaller --lr",
                                      ep, (long long)bi + 1, lv);
                goto done;
            }
            ex_progress_batch(&pr, bi, nb, lv);
        }
        t_train += ex_now() - t0;
        last_loss = ex_progress_loss(&pr);
        if (evaluate(ctx, &m, test, 0, test->n, &test_acc) != 0) {
            rc = ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        h.loss[ep - 1] = last_loss;
        h.test_acc[ep - 1] = test_acc;
        h.val_acc[ep - 1] = NAN;
        epochs_run = ep;
        int stop = 0;
        char valtxt[48] = "";
        if (o->early_stop && (ep % o->early_stop == 0 || ep == o->epochs)) {
            double va;
            if (evaluate(ctx, &m, train, n_tr, n_val, &va) != 0) {
                rc = ex_runtime_error(PROG, "validation failed: %s", tg_last_error(ctx));
                goto done;
            }
            h.val_acc[ep - 1] = va;
            snprintf(valtxt, sizeof valtxt, "  val_acc %.4f", va);
            if (ex_early_stop_check(&es, ctx, ep, va, &stop) != 0) {
                rc = ex_runtime_error(PROG, "out of memory");
                goto done;
            }
        }
        ex_progress_epoch_end(&pr, "epoch %3d  train_loss %.4f  test_acc %.4f%s  %.1f s", ep, last_loss, test_acc,
                              valtxt, ex_now() - t0);
        if (stop) {
            printf("validation error rose; stopping after epoch %d\n", ep);
            break;
        }
    }
    if (o->early_stop && ex_early_stop_restore(&es, ctx, epochs_run)) {
        if (evaluate(ctx, &m, test, 0, test->n, &test_acc) != 0) {
            rc = ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        printf("restored the parameters of epoch %d (validation accuracy %.4f): test_acc %.4f\n", es.best_epoch,
               1 - es.best_err, test_acc);
    }
    double seconds = ex_now() - t_start;
    if (o->save) {
        if (tg_checkpoint_save(ctx, o->save, opt) != TG_OK) {
            rc = ex_runtime_error(PROG, "--save: %s", tg_last_error(ctx));
            goto done;
        }
        printf("saved %s\n", o->save);
    }
    if (o->plot) {
        ex_series s[3] = {{"train loss", h.loss, epochs_run, 0},
                          {"test accuracy", h.test_acc, epochs_run, 1},
                          {"validation accuracy", h.val_acc, epochs_run, 1}};
        char title[160];
        snprintf(title, sizeof title, "mlp: %s, %s loss, %s lr %g, batch %lld", o->act, o->loss, o->optim, o->lr,
                 (long long)B);
        if (ex_plot_svg(o->plot, title, "epoch", "loss", "accuracy", s, o->early_stop ? 3 : 2) != 0) {
            rc = ex_runtime_error(PROG, "--plot: cannot write '%s'", o->plot);
            goto done;
        }
        printf("wrote %s\n", o->plot);
    }
    if (o->dot) printf("wrote %s\n", o->dot);
    ex_result_add(&res, "test_acc", "%.4f", test_acc);
    ex_result_add(&res, "train_loss", "%.4f", last_loss);
    ex_result_add(&res, "epochs", "%d", epochs_run);
    ex_result_add(&res, "seconds", "%.2f", seconds);
    ex_result_add(&res, "samples_per_s", "%.0f", t_train > 0 ? (double)n_tr * epochs_run / t_train : 0);
    if (o->early_stop) ex_result_add(&res, "best_epoch", "%d", es.best_epoch);
    ex_result_print(&res);
done:
    ex_early_stop_free(&es);
    free(h.loss);
    free(h.test_acc);
    free(h.val_acc);
    free(perm);
    free(labels);
    tg_optim_free(opt);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    if ((rc = validate(&o)) >= 0) return rc;

    tg_config cfg = tg_config_default();
    cfg.seed = (uint64_t)o.seed;
    cfg.threads = o.threads;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return ex_runtime_error(PROG, "out of memory");
    tg_dataset train = {0}, test = {0};
    if (tg_mnist_load(ctx, o.data, "t10k", &test) != TG_OK ||
        (!o.eval_only && tg_mnist_load(ctx, o.data, "train", &train) != TG_OK)) {
        rc = ex_runtime_error(PROG, "loading data from '%s': %s", o.data, tg_last_error(ctx));
    } else if (!o.eval_only && test.rows * test.cols != train.rows * train.cols) {
        rc = ex_runtime_error(PROG, "training images are %lldx%lld but test images %lldx%lld",
                              (long long)train.rows, (long long)train.cols, (long long)test.rows,
                              (long long)test.cols);
    } else {
        if (o.limit > 0 && train.n > o.limit) train.n = o.limit;
        rc = run(&o, ctx, &train, &test);
    }
    tg_dataset_free(&train);
    tg_dataset_free(&test);
    tg_ctx_free(ctx);
    return rc;
}
