/* autoencoder: a dense autoencoder on Fashion-MNIST (or any MNIST-layout
 * set), optionally sparse, optionally stacked and fine-tuned.
 *
 *   autoencoder                                 # 784-256-64-256-784, 10 epochs of Adam
 *   autoencoder --sparse 0.01                   # L1 penalty on the code
 *   autoencoder --stacked --labeled 1000        # greedy pretraining, then fine-tuning
 *
 * Model (examples/gen.h): encoder layers 784 -> hidden[0] -> ... -> hidden[n-1]
 * (the code), each followed by --act; the decoder mirrors them, with a
 * sigmoid on the last layer (pixels lie in [0,1]). The loss of a batch of B
 * images x with code c and reconstruction x̂ is
 *
 *   E = (1/(B·784)) Σ (x̂ - x)² + λ·(1/B) Σ |c|          (λ = --sparse)
 *
 * --stacked follows the lecture's recipe: layer 1 learns to rebuild the
 * pixels from its code, layer 2 learns to rebuild layer 1's code from its own
 * code (layer 1 frozen, run without recording), and so on; each layer gets
 * --pretrain-epochs epochs with its own optimizer. A softmax layer then goes
 * on top of the last code and the whole encoder stack plus the softmax is
 * fine-tuned on labels (the first --labeled training images; 0 = all) for
 * --epochs epochs. For comparison the same network (same sizes, activations
 * and initialisation scheme) is trained from scratch on the same labels for
 * the same number of epochs. With few labels the pretrained stack usually
 * wins; with all 60,000 the two end close together.
 *
 * Reported: the test-set reconstruction MSE (mean over pixels; with
 * --stacked, of the pretrained stack before fine-tuning), the fraction of
 * code units with |c| > 0.01 on the test set, and with --stacked both test
 * accuracies. --png writes a grid: rows of test originals, each followed by a
 * row of their reconstructions.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "autoencoder"
/* --help's first lines */
static const char SUMMARY[] = "Train a dense autoencoder on Fashion-MNIST (or any MNIST-layout data set); optionally\n"
                             "sparse (L1 on the code) or stacked (greedy pretraining, then supervised fine-tuning).";
#define N_CLASSES 10
#define PNG_COLS 8
#define PNG_ROWS 4 /* pairs of (originals, reconstructions) rows */

typedef struct opts {
    const char *data, *act, *optim, *png;
    ex_intlist hidden;
    int epochs, pretrain_epochs, batch, seed, threads, limit, labeled, stacked;
    double sparse, lr;
} opts;

/* Builds the loss of one batch; x (B, D) in [0,1], labels (B). */
typedef tg_tensor *(*loss_fn)(void *user, tg_tensor *x, const int32_t *labels);

/* ---- batches ---- */

/* x (B, D) = ds images idx[0..B), on the active tape, and their labels. */
static tg_tensor *batch_of(tg_ctx *ctx, const tg_dataset *ds, const int64_t *idx, int64_t B, int32_t *labels) {
    int64_t shape[2] = {B, ds->rows * ds->cols};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, shape);
    if (!x || tg_dataset_batch(ds, idx, B, x, labels) != TG_OK) return NULL;
    return x;
}

/* Train for `epochs` over the first n images of ds; prints one line per
 * epoch headed by `what`. Returns 0 or an exit code. */
static int fit(tg_ctx *ctx, tg_optim *opt, const tg_dataset *ds, int64_t n, int epochs, int B, loss_fn f,
                 void *user, const char *what, double *last_loss) {
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int32_t *lab = malloc((size_t)B * sizeof *lab);
    int rc = EX_OK;
    if (!perm || !lab) {
        rc = ex_runtime_error(PROG, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    int64_t nb = (n + B - 1) / B;
    ex_progress pr;
    ex_progress_begin(&pr, epochs, nb);
    double loss0 = NAN; /* the first loss: ex_diverged's reference */
    for (int ep = 1; ep <= epochs; ep++) {
        double t0 = ex_epoch_begin(&pr, ctx, ep, perm, n);
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t b0 = bi * B, m = n - b0 < B ? n - b0 : B;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *x = tape ? batch_of(ctx, ds, perm + b0, m, lab) : NULL;
            tg_tensor *loss = x ? f(user, x, lab) : NULL;
            double lv;
            tg_status st = ex_step_end(opt, tape, loss, loss ? tg_backward(loss) : TG_EINVAL, &lv);
            if (st != TG_OK) {
                rc = ex_runtime_error(PROG, "%s: epoch %d batch %lld: %s", what, ep, (long long)bi + 1,
                                      tg_last_error(ctx)[0] ? tg_last_error(ctx) : tg_strerror(st));
                goto done;
            }
            if (ex_diverged(&loss0, lv)) {
                rc = ex_runtime_error(PROG, "%s: training diverged at epoch %d (loss %g, first loss %g); try a "
                                      "smaller --lr", what, ep, lv, loss0);
                goto done;
            }
            ex_progress_batch(&pr, bi, m, lv);
        }
        *last_loss = ex_progress_loss(&pr);
        ex_progress_epoch_end(&pr, "%s epoch %3d  loss %.5f  %.1f s", what, ep, *last_loss, ex_now() - t0);
    }
done:
    free(perm);
    free(lab);
    return rc;
}

/* ---- losses ---- */

typedef struct ae_job {
    const gen_ae *m;
    int lo, hi;       /* levels: lo = 0, hi = n for the whole autoencoder */
    double lambda;
} ae_job;

static tg_tensor *ae_loss(void *u, tg_tensor *x, const int32_t *labels) {
    (void)labels;
    ae_job *j = u;
    if (j->lo > 0) { /* the frozen layers below make the input: record nothing */
        tg_ctx *ctx = x->ctx;
        tg_no_grad_begin(ctx);
        x = gen_ae_encode(j->m, x, 0, j->lo);
        tg_no_grad_end(ctx);
    }
    return gen_ae_loss(j->m, x, j->lo, j->hi, j->lambda, NULL, NULL);
}

typedef struct cls_job {
    const gen_ae *m;      /* encoder stack + cls (fine-tuning), or NULL */
    const tg_dense *cls;
    const gen_mlp *net;   /* the from-scratch network, or NULL */
    tg_ctx *ctx;
} cls_job;

static tg_tensor *logits_of(const cls_job *j, tg_tensor *x) {
    if (j->net) return gen_mlp_forward(j->net, x);
    return tg_dense_forward(j->cls, gen_ae_encode(j->m, x, 0, j->m->n));
}

static tg_tensor *cls_loss(void *u, tg_tensor *x, const int32_t *labels) {
    return tg_cross_entropy(logits_of(u, x), labels, TG_MEAN);
}

/* ---- evaluation (no recording) ---- */

typedef struct ae_eval {
    tg_ctx *ctx;
    const gen_ae *m;
    const tg_dataset *ds;
    double se, act, codes; /* squared error, active code units, code units */
} ae_eval;

/* ex_batch_fn: one batch's squared error and active code units. */
static int ae_eval_batch(void *user, int64_t done, const int64_t *idx, int64_t B) {
    (void)done;
    ae_eval *e = user;
    tg_tensor *x = batch_of(e->ctx, e->ds, idx, B, NULL), *r = NULL, *c = NULL;
    tg_tensor *l = x ? gen_ae_loss(e->m, x, 0, e->m->n, 0, &r, &c) : NULL;
    if (!l) return -1;
    e->se += tg_item(l) * (double)(B * e->ds->rows * e->ds->cols);
    const float *cp = c->data;
    for (int64_t i = 0; i < c->numel; i++) e->act += fabsf(cp[i]) > 0.01f;
    e->codes += (double)c->numel;
    return 0;
}

/* Test reconstruction MSE (mean over pixels) of the whole stack, and the
 * fraction of code units with |c| > 0.01. */
static int eval_ae(tg_ctx *ctx, const gen_ae *m, const tg_dataset *ds, double *mse, double *active) {
    ae_eval e = {ctx, m, ds, 0, 0, 0};
    int rc = ex_eval_batches(ctx, 0, ds->n, 1000, ae_eval_batch, &e);
    *mse = e.se / (double)(ds->n * ds->rows * ds->cols);
    *active = e.codes > 0 ? e.act / e.codes : 0;
    return rc;
}

/* ex_logits_fn: the classifier's logits of a batch. */
static tg_tensor *job_logits(void *user, const tg_dataset *ds, const int64_t *idx, int64_t B, int32_t *labels) {
    const cls_job *j = user;
    tg_tensor *x = batch_of(j->ctx, ds, idx, B, labels);
    return x ? logits_of(j, x) : NULL;
}

static int eval_acc(tg_ctx *ctx, const cls_job *j, const tg_dataset *ds, double *acc) {
    return ex_accuracy(ctx, job_logits, (void *)j, ds, 0, ds->n, 1000, acc);
}

/* Originals and reconstructions of the first test images, row pairs. */
static int write_png(tg_ctx *ctx, const gen_ae *m, const tg_dataset *ds, const char *path) {
    int64_t n = PNG_COLS * PNG_ROWS, D = ds->rows * ds->cols, idx[PNG_COLS * PNG_ROWS];
    if (ds->n < n) n = ds->n;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    float *grid = calloc((size_t)(2 * PNG_COLS * PNG_ROWS * D), sizeof *grid);
    if (!grid) return tg_set_error(ctx, TG_ENOMEM, "png: out of memory");
    tg_no_grad_begin(ctx);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tape ? batch_of(ctx, ds, idx, n, NULL) : NULL, *r = NULL;
    tg_status st = x && gen_ae_loss(m, x, 0, m->n, 0, &r, NULL) ? TG_OK : TG_EINVAL;
    if (!st) {
        for (int64_t i = 0; i < n; i++) {
            int64_t row = i / PNG_COLS, col = i % PNG_COLS;
            memcpy(grid + ((2 * row) * PNG_COLS + col) * D, (float *)x->data + i * D, (size_t)D * sizeof(float));
            memcpy(grid + ((2 * row + 1) * PNG_COLS + col) * D, (float *)r->data + i * D, (size_t)D * sizeof(float));
        }
        int rows_used = (int)((n + PNG_COLS - 1) / PNG_COLS) * 2;
        st = tg_png_write_grid(ctx, path, grid, rows_used * PNG_COLS, (int)ds->rows, (int)ds->cols, PNG_COLS);
    }
    if (tape) tg_tape_end(tape);
    tg_no_grad_end(ctx);
    free(grid);
    return st;
}

/* ---- command line ---- */

static const char *const act_names[] = {"relu", "sigmoid", "tanh", NULL};

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.data = tg_default_data_dir(), .hidden = {2, {256, 64}}, .act = "relu", .optim = "adam",
                .epochs = 10, .batch = 100, .lr = 1e-3, .seed = 42, .png = "autoencoder.png"};
    ex_flag flags[] = {
        ex_flag_data(&o->data),
        {.name = "hidden", .type = EX_INTLIST, .target = &o->hidden, .metavar = "LIST",
         .help = "encoder layer sizes; the last is the code (at most 8 layers)", .range = EX_LO | EX_HI, .lo = 1,
         .hi = 100000},
        {.name = "act", .type = EX_STRING, .target = &o->act, .choices = act_names,
         .help = "activation of the encoder layers (and the decoder's inner layers)"},
        {.name = "sparse", .type = EX_DOUBLE, .target = &o->sparse, .metavar = "LAMBDA",
         .help = "weight of the L1 penalty on the code, per image (0 = off)", .range = EX_LO | EX_HI, .lo = 0,
         .hi = 1000},
        {.name = "stacked", .type = EX_BOOL, .target = &o->stacked,
         .help = "greedy layer-wise pretraining, then a softmax fine-tuned through the stack, "
                 "compared with the same network trained from scratch"},
        ex_flag_int("epochs", &o->epochs,
                    "epochs of training (with --stacked: of fine-tuning, and of the from-scratch run)", 1, 100000),
        ex_flag_int("pretrain-epochs", &o->pretrain_epochs,
                    "with --stacked: epochs per pretrained layer (0 = --epochs)", 0, 100000),
        ex_flag_min("labeled", &o->labeled,
                    "with --stacked: fine-tune on the first N training labels only (0 = all)", 0),
        EX_IMAGE_TRAIN_FLAGS(o, "seed of initialisation and shuffling"),
        ex_flag_file("png", &o->png, "FILE.png", "write test originals and reconstructions here (none: do not)"),
    };
    int n = EX_NFLAGS(flags), rc = ex_parse(argc, argv, PROG, SUMMARY, flags, n);
    if (rc >= 0) return rc;
    if (o->hidden.n > GEN_MAX_LAYERS)
        return ex_usage_error(PROG, "--hidden: at most %d layers, got %d", GEN_MAX_LAYERS, o->hidden.n);
    if (!o->stacked && (ex_flag_find(flags, n, "pretrain-epochs")->set || ex_flag_find(flags, n, "labeled")->set))
        return ex_usage_error(PROG, "--pretrain-epochs and --labeled need --stacked");
    if (!o->pretrain_epochs) o->pretrain_epochs = o->epochs;
    char msg[600];
    if (ex_check_dir(o->data, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--data: %s (use --data DIR to point at an MNIST-layout directory)", msg);
    if (!strcmp(o->png, "none")) o->png = NULL;
    if (o->png && ex_check_writable(o->png, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--png: %s", msg);
    return -1;
}

/* ---- main job ---- */

static tg_optim *make_opt(tg_ctx *ctx, const opts *o, tg_tensor **params, int n) {
    tg_optim_config oc = tg_optim_defaults((tg_optim_kind)tg_optim_kind_parse(o->optim));
    oc.lr = o->lr;
    return tg_optim_new(ctx, &oc, params, n);
}

static int run(const void *op, tg_ctx *ctx, const tg_dataset *train, const tg_dataset *test, ex_result *res) {
    const opts *o = op;
    int64_t D = train->rows * train->cols, sizes[GEN_MAX_LAYERS + 2];
    sizes[0] = D;
    for (int i = 0; i < o->hidden.n; i++) sizes[i + 1] = o->hidden.v[i];
    int nl = o->hidden.n, act = gen_act_parse(o->act), rc = EX_OK;
    gen_ae m;
    if (gen_ae_init(&m, ctx, "ae", nl + 1, sizes, act, TG_F32) != TG_OK)
        return ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
    printf("autoencoder %lld", (long long)D);
    for (int i = 1; i <= nl; i++) printf("-%lld", (long long)sizes[i]);
    for (int i = nl - 1; i >= 0; i--) printf("-%lld", (long long)sizes[i]);
    printf(" %s, sparse %g, %s lr %g, batch %d, %lld training images, %d threads\n", o->act, o->sparse, o->optim,
           o->lr, o->batch, (long long)train->n, tg_ctx_threads(ctx));

    tg_tensor *params[4 * GEN_MAX_LAYERS + 2];
    double loss = NAN, t0 = ex_now();
    if (!o->stacked) {
        int np = 0;
        for (int l = 0; l < nl; l++) np += gen_ae_layer_params(&m, l, params + np);
        tg_optim *opt = make_opt(ctx, o, params, np);
        if (!opt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
        ae_job j = {&m, 0, nl, o->sparse};
        rc = fit(ctx, opt, train, train->n, o->epochs, o->batch, ae_loss, &j, "ae", &loss);
        tg_optim_free(opt);
    } else {
        /* greedy: layer l rebuilds level l from its code, the layers below frozen */
        for (int l = 0; l < nl && !rc; l++) {
            int np = gen_ae_layer_params(&m, l, params);
            tg_optim *opt = make_opt(ctx, o, params, np);
            if (!opt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
            ae_job j = {&m, l, l + 1, o->sparse};
            char what[32];
            snprintf(what, sizeof what, "pretrain layer %d", l + 1);
            rc = fit(ctx, opt, train, train->n, o->pretrain_epochs, o->batch, ae_loss, &j, what, &loss);
            tg_optim_free(opt);
        }
    }
    if (rc) return rc;
    double mse, active;
    if (eval_ae(ctx, &m, test, &mse, &active) != 0)
        return ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
    printf("test reconstruction MSE %.5f (per pixel), %.1f%% of code units active (|c| > 0.01), %.1f s\n", mse,
           100 * active, ex_now() - t0);
    ex_result_add(res, "test_mse", "%.5f", mse);
    if (o->png) {
        if (write_png(ctx, &m, test, o->png) != TG_OK)
            return ex_runtime_error(PROG, "--png: %s", tg_last_error(ctx));
        printf("wrote %s (rows of test images, each followed by its reconstructions)\n", o->png);
    }
    if (!o->stacked) {
        ex_result_add(res, "code_active", "%.4f", active);
        return EX_OK;
    }

    /* fine-tune the pretrained stack with a softmax on top */
    int64_t n_lab = o->labeled > 0 && o->labeled < train->n ? o->labeled : train->n;
    tg_dense cls;
    if (tg_dense_init(&cls, ctx, "cls", sizes[nl], N_CLASSES, TG_F32, TG_INIT_XAVIER) != TG_OK)
        return ex_runtime_error(PROG, "building the classifier: %s", tg_last_error(ctx));
    int np = 0;
    for (int l = 0; l < nl; l++) {
        params[np++] = m.enc[l].W;
        params[np++] = m.enc[l].b;
    }
    params[np++] = cls.W;
    params[np++] = cls.b;
    tg_optim *opt = make_opt(ctx, o, params, np);
    if (!opt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
    cls_job fj = {&m, &cls, NULL, ctx};
    rc = fit(ctx, opt, train, n_lab, o->epochs, o->batch, cls_loss, &fj, "fine-tune", &loss);
    tg_optim_free(opt);
    double acc_ft = 0, acc_sc = 0;
    if (!rc && eval_acc(ctx, &fj, test, &acc_ft) != 0)
        return ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
    if (rc) return rc;
    printf("fine-tuned on %lld labels: test accuracy %.4f\n", (long long)n_lab, acc_ft);

    /* the same network from scratch, same labels, same epochs */
    sizes[nl + 1] = N_CLASSES;
    gen_mlp net;
    if (gen_mlp_init(&net, ctx, "scratch", nl + 2, sizes, act, GEN_IDENT, TG_F32) != TG_OK)
        return ex_runtime_error(PROG, "building the scratch network: %s", tg_last_error(ctx));
    np = gen_mlp_params(&net, params);
    opt = make_opt(ctx, o, params, np);
    if (!opt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
    cls_job sj = {NULL, NULL, &net, ctx};
    rc = fit(ctx, opt, train, n_lab, o->epochs, o->batch, cls_loss, &sj, "scratch", &loss);
    tg_optim_free(opt);
    if (rc) return rc;
    if (eval_acc(ctx, &sj, test, &acc_sc) != 0) return ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
    printf("from scratch on %lld labels: test accuracy %.4f\n", (long long)n_lab, acc_sc);
    ex_result_add(res, "finetune_acc", "%.4f", acc_ft);
    ex_result_add(res, "scratch_acc", "%.4f", acc_sc);
    ex_result_add(res, "code_active", "%.4f", active);
    return EX_OK;
}

/* ex_image_run: run, and the seconds since main began (data loading included). */
static double t_main;
static int run_timed(const void *op, tg_ctx *ctx, const tg_dataset *train, const tg_dataset *test, ex_result *res) {
    int rc = run(op, ctx, train, test, res);
    if (rc == EX_OK) ex_result_add(res, "seconds", "%.2f", ex_now() - t_main);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    t_main = ex_now();
    return rc >= 0 ? rc : ex_image_main(PROG, o.data, o.limit, o.seed, o.threads, run_timed, &o);
}
