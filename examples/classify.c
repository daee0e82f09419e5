/* classify.c: the training driver of mlp, lenet5 and cnn (see classify.h).
 *
 * One training step: x (B,1,H,W) or (B,D) built from the shuffled batch,
 * logits = net->forward(x, train=1), E = net->loss (default: mean softmax
 * cross-entropy), tg_backward, one optimizer step, zero the grads, end the
 * tape. Evaluation runs forward with train=0 through ex_accuracy. */
#include "classify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* One run: the program, its options, the network and what it trains in. */
typedef struct job {
    const cls_program *p;
    const cls_opts *o;
    tg_ctx *ctx;
    cls_net net;
} job;

/* ---- command line ---- */

/* flags[0..n) in the order of names (NULL-terminated); flags not named keep
 * their table order after the named ones. */
static void reorder(ex_flag *flags, int n, const char *const *names) {
    ex_flag sorted[64];
    int m = 0, used[64] = {0};
    for (; *names && m < n; names++)
        for (int i = 0; i < n; i++)
            if (!used[i] && strcmp(flags[i].name, *names) == 0) sorted[m++] = flags[i], used[i] = 1;
    for (int i = 0; i < n; i++)
        if (!used[i]) sorted[m++] = flags[i];
    memcpy(flags, sorted, (size_t)n * sizeof *flags);
}

static int parse_opts(int argc, char **argv, const cls_program *p, cls_opts *o) {
    o->data = o->data ? o->data : tg_default_data_dir();
    const char *default_optim = o->optim;
    if (o->momentum == 0) o->momentum = 0.9; /* momentum/nesterov's default */
    ex_flag common[] = {
        ex_flag_data(&o->data),
        ex_flag_int("epochs", &o->epochs, "passes over the training set", 1, 100000),
        ex_flag_int("batch", &o->batch, "mini-batch size", 1, 100000),
        ex_flag_lr(&o->lr,
                   "learning rate; if not given with --optim, that optimizer's torch default (sgd: 0.01)", 1000),
        ex_flag_optim(&o->optim, "optimizer"),
        {.name = "momentum", .type = EX_DOUBLE, .target = &o->momentum,
         .help = "momentum of momentum/nesterov (and of rmsprop when given)", .range = EX_LO | EX_HI,
         .lo = 0, .hi = 0.999999},
        {.name = "weight-decay", .type = EX_DOUBLE, .target = &o->weight_decay,
         .help = "L2 weight decay (decoupled for adamw; biases are not decayed)", .range = EX_LO | EX_HI,
         .lo = 0, .hi = 10},
        ex_flag_min("seed", &o->seed, "seed of initialisation, shuffling and dropout", 0),
        ex_flag_threads(&o->threads),
        ex_flag_file("save", &o->save, "FILE", "save parameters and optimizer state (safetensors) after training"),
        ex_flag_file("load", &o->load, "FILE", "load parameters and optimizer state before training"),
        {.name = "eval-only", .type = EX_BOOL, .target = &o->eval_only,
         .help = "with --load: only evaluate on the test set"},
        ex_flag_file("plot", &o->plot, "FILE.svg", "write loss and accuracy per epoch as an SVG plot"),
        ex_flag_file("dot", &o->dot, "FILE.dot",
                     "write the first training step's tape, with gradient norms, as Graphviz DOT"),
        ex_flag_min("limit", &o->limit, "train on the first N training samples only (0 = all)", 0),
        {.name = "early-stop", .type = EX_INT, .target = &o->early_stop,
         .help = "hold out a validation split, check it every N epochs, stop when its error rises and keep the "
                 "best epoch's parameters (0 = off)",
         .range = EX_LO | EX_HI, .lo = 0, .hi = 100000},
    };
    enum { N_COMMON = (int)(sizeof common / sizeof common[0]) };
    ex_flag flags[N_COMMON + CLS_MAX_EXTRA];
    int n_extra = p->n_extra < CLS_MAX_EXTRA ? p->n_extra : CLS_MAX_EXTRA, n = N_COMMON;
    memcpy(flags, common, sizeof common);
    for (int i = 0; i < n_extra; i++) {
        ex_flag *same = ex_flag_find(flags, N_COMMON, p->extra[i].name);
        if (same) *same = p->extra[i];
        else flags[n++] = p->extra[i];
    }
    if (p->order) reorder(flags, n, p->order);
    int rc = ex_parse(argc, argv, p->prog, p->summary, flags, n);
    for (int i = 0; i < n_extra; i++) p->extra[i].set = ex_flag_find(flags, n, p->extra[i].name)->set;
    if (rc >= 0) return rc;
    tg_optim_kind kind = (tg_optim_kind)tg_optim_kind_parse(o->optim);
    tg_optim_config d = tg_optim_defaults(kind);
    if (!ex_flag_find(flags, n, "lr")->set && strcmp(o->optim, default_optim) != 0) o->lr = d.lr;
    if (!ex_flag_find(flags, n, "momentum")->set && kind != TG_OPT_MOMENTUM && kind != TG_OPT_NESTEROV)
        o->momentum = d.momentum;
    if (!ex_flag_find(flags, n, "weight-decay")->set) o->weight_decay = d.weight_decay;
    if (o->eval_only && !o->load) return ex_usage_error(p->prog, "--eval-only needs --load FILE");
    if (o->eval_only && (o->save || o->plot || o->dot || o->early_stop))
        return ex_usage_error(p->prog, "--eval-only does not train: drop --save, --plot, --early-stop and --dot");
    return -1;
}

/* Everything that can be checked before loading data or training. */
static int validate(const char *prog, const cls_opts *o) {
    char msg[600];
    if (ex_check_dir(o->data, msg, sizeof msg) != 0)
        return ex_usage_error(prog, "--data: %s (use --data DIR to point at an MNIST-layout directory)", msg);
    if (o->save && ex_check_save(o->save, msg, sizeof msg) != 0) return ex_usage_error(prog, "--save: %s", msg);
    if (o->plot && ex_check_writable(o->plot, msg, sizeof msg) != 0) return ex_usage_error(prog, "--plot: %s", msg);
    if (o->dot && ex_check_writable(o->dot, msg, sizeof msg) != 0) return ex_usage_error(prog, "--dot: %s", msg);
    if (o->load && ex_check_input(o->load, msg, sizeof msg) != 0) return ex_usage_error(prog, "--load: %s", msg);
    return -1;
}

/* ---- batches ---- */

/* x on the active tape: images idx[0..B) of ds, /255, as (B, D) rows when
 * the program is flat, else as (B,1,H,W) placed at (pad_top, pad_left) in a
 * zero frame; labels[0..B) filled. */
static tg_tensor *make_batch(const job *j, const tg_dataset *ds, const int64_t *idx, int64_t B, int32_t *labels) {
    const cls_net *net = &j->net;
    int64_t D = ds->rows * ds->cols, flat_shape[2] = {B, D}, shape[4] = {B, 1, net->H, net->W};
    tg_tensor *flat = tg_tensor_temp(j->ctx, TG_F32, 2, flat_shape);
    if (!flat || tg_dataset_batch(ds, idx, B, flat, labels) != TG_OK) return NULL;
    if (j->p->flat) return flat;
    if (net->H == ds->rows && net->W == ds->cols) {
        tg_tensor *x = tg_tensor_temp(j->ctx, TG_F32, 4, shape);
        if (x) memcpy(x->data, flat->data, (size_t)(B * D) * sizeof(float));
        return x;
    }
    tg_tensor *x = tg_tensor_temp(j->ctx, TG_F32, 4, shape); /* zeroed: the frame */
    if (!x) return NULL;
    const float *s = flat->data;
    float *d = x->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < ds->rows; r++)
            memcpy(d + (b * net->H + net->pad_top + r) * net->W + net->pad_left, s + b * D + r * ds->cols,
                   (size_t)ds->cols * sizeof(float));
    return x;
}

/* ex_logits_fn: the network's evaluation logits of a batch. */
static tg_tensor *eval_logits(void *user, const tg_dataset *ds, const int64_t *idx, int64_t B, int32_t *labels) {
    const job *j = user;
    tg_tensor *x = make_batch(j, ds, idx, B, labels);
    return x ? j->net.forward(j->net.model, x, 0) : NULL;
}

/* Accuracy on samples [first, first + n) of ds. */
static int evaluate_range(const job *j, const tg_dataset *ds, int64_t first, int64_t n, double *acc) {
    int eb = j->p->eval_batch > 0 ? j->p->eval_batch : CLS_EVAL_B;
    return ex_accuracy(j->ctx, eval_logits, (void *)j, ds, first, n, eb, acc);
}

static int evaluate(const job *j, const tg_dataset *ds, double *acc) { return evaluate_range(j, ds, 0, ds->n, acc); }

/* ---- training ---- */

static int eval_only(const job *j, const tg_dataset *test) {
    double t0 = ex_now(), acc;
    if (evaluate(j, test, &acc) != 0)
        return ex_runtime_error(j->p->prog, "evaluation failed: %s", tg_last_error(j->ctx));
    printf("test accuracy %.4f on %lld samples\n", acc, (long long)test->n);
    ex_result res = {0};
    ex_result_add(&res, "test_acc", "%.4f", acc);
    ex_result_add(&res, "seconds", "%.2f", ex_now() - t0);
    ex_result_print(&res);
    return EX_OK;
}

/* The loss of one training batch on the active tape. */
static tg_tensor *batch_loss(const job *j, const tg_dataset *tr, const int64_t *idx, int64_t B, int32_t *labels) {
    tg_tensor *x = make_batch(j, tr, idx, B, labels);
    if (!x) return NULL;
    tg_tensor *z = j->net.forward(j->net.model, x, 1);
    return j->net.loss ? j->net.loss(j->net.model, z, labels, B) : tg_cross_entropy(z, labels, TG_MEAN);
}

/* --early-stop N: the last 5000 training samples (a tenth when there are
 * fewer than 10000) are held out; every N epochs (and after the last) their
 * accuracy is measured, the parameters of the best check so far are kept,
 * and training stops as soon as the validation error rises above the
 * previous check's. The best parameters are restored at the end; optimizer
 * state is not rolled back. */
static int train(const job *j, tg_optim *opt, const tg_dataset *tr, const tg_dataset *test) {
    const char *prog = j->p->prog;
    const cls_opts *o = j->o;
    tg_ctx *ctx = j->ctx;
    int64_t n_all = tr->n, n_val = o->early_stop ? (n_all >= 10000 ? 5000 : n_all / 10) : 0;
    int64_t n_tr = n_all - n_val, B = o->batch, n_batches = (n_tr + B - 1) / B;
    if (n_tr < 1 || (o->early_stop && n_val < 1))
        return ex_usage_error(prog, "too few training samples (%lld) for this setup", (long long)n_all);
    int64_t *perm = malloc((size_t)n_tr * sizeof *perm);
    int32_t *labels = malloc((size_t)B * sizeof *labels);
    double *h_loss = calloc((size_t)o->epochs, sizeof(double)), *h_acc = calloc((size_t)o->epochs, sizeof(double));
    double *h_val = calloc((size_t)o->epochs, sizeof(double));
    ex_early_stop es = EX_EARLY_STOP_INIT;
    int rc = EX_OK;
    if (!perm || !labels || !h_loss || !h_acc || !h_val) {
        rc = ex_runtime_error(prog, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n_tr; i++) perm[i] = i;
    printf("%s%s lr %g, batch %lld, %lld training samples%s, %d threads\n", j->net.desc, o->optim, o->lr,
           (long long)B, (long long)n_tr, n_val ? " (+ validation split)" : "", tg_ctx_threads(ctx));
    fflush(stdout);

    ex_progress pr;
    ex_progress_begin(&pr, o->epochs, n_batches);
    double t_start = ex_now(), t_train = 0, last_loss = NAN, test_acc = 0, loss0 = NAN;
    int ep;
    for (ep = 1; ep <= o->epochs; ep++) {
        double t0 = ex_epoch_begin(&pr, ctx, ep, perm, n_tr);
        for (int64_t bi = 0; bi < n_batches; bi++) {
            int64_t b0 = bi * B, nb = n_tr - b0 < B ? n_tr - b0 : B;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *loss = tape ? batch_loss(j, tr, perm + b0, nb, labels) : NULL;
            tg_status st = loss ? tg_backward(loss) : TG_EINVAL;
            if (st == TG_OK && o->dot && ep == 1 && bi == 0) st = ex_write_dot(ctx, tape, prog, o->dot);
            double lv;
            st = ex_step_end(opt, tape, loss, st, &lv);
            if (st != TG_OK) {
                rc = ex_step_error(prog, ctx, st, ep, bi);
                goto done;
            }
            if (ex_diverged(&loss0, lv)) {
                rc = ex_runtime_error(prog,
                                      "training diverged at epoch %d batch %lld (loss %g, first loss %g); "
                                      "try a smaller --lr",
                                      ep, (long long)bi + 1, lv, loss0);
                goto done;
            }
            ex_progress_batch(&pr, bi, nb, lv);
        }
        double t_ep = ex_now() - t0;
        t_train += t_ep;
        last_loss = ex_progress_loss(&pr);
        double te0 = ex_now();
        if (evaluate(j, test, &test_acc) != 0) {
            rc = ex_runtime_error(prog, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        h_loss[ep - 1] = last_loss;
        h_acc[ep - 1] = test_acc;
        h_val[ep - 1] = NAN;
        int stop = 0;
        char valtxt[48] = "";
        if (o->early_stop && (ep % o->early_stop == 0 || ep == o->epochs)) {
            double va;
            if (evaluate_range(j, tr, n_tr, n_val, &va) != 0) {
                rc = ex_runtime_error(prog, "validation failed: %s", tg_last_error(ctx));
                goto done;
            }
            h_val[ep - 1] = va;
            snprintf(valtxt, sizeof valtxt, "  val_acc %.4f", va);
            if (ex_early_stop_check(&es, ctx, ep, va, &stop) != 0) {
                rc = ex_runtime_error(prog, "out of memory");
                goto done;
            }
        }
        if (j->p->one_time)
            ex_progress_epoch_end(&pr, "epoch %3d  train_loss %.4f  test_acc %.4f%s  %.1f s", ep, last_loss, test_acc,
                                  valtxt, ex_now() - t0);
        else
            ex_progress_epoch_end(&pr, "epoch %3d  train_loss %.4f  test_acc %.4f%s  %.1f s (+ %.1f s test)", ep,
                                  last_loss, test_acc, valtxt, t_ep, ex_now() - te0);
        if (stop) {
            printf("validation error rose; stopping after epoch %d\n", ep);
            ep++;
            break;
        }
    }
    int epochs_run = ep - 1;
    if (o->early_stop && ex_early_stop_restore(&es, ctx, epochs_run)) {
        if (evaluate(j, test, &test_acc) != 0) {
            rc = ex_runtime_error(prog, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        printf("restored the parameters of epoch %d (validation accuracy %.4f): test_acc %.4f\n", es.best_epoch,
               1 - es.best_err, test_acc);
    }
    double seconds = ex_now() - t_start;
    if (o->save) {
        if (tg_checkpoint_save(ctx, o->save, opt) != TG_OK) {
            rc = ex_runtime_error(prog, "--save: %s", tg_last_error(ctx));
            goto done;
        }
        printf("saved %s\n", o->save);
    }
    if (o->plot) {
        ex_series s[3] = {{"train loss", h_loss, epochs_run, 0},
                          {"test accuracy", h_acc, epochs_run, 1},
                          {"validation accuracy", h_val, epochs_run, 1}};
        char title[160];
        snprintf(title, sizeof title, "%s: %s%s lr %g, batch %lld", prog, j->net.plot_tag, o->optim, o->lr,
                 (long long)B);
        if (ex_plot_svg(o->plot, title, "epoch", "loss", "accuracy", s, o->early_stop ? 3 : 2) != 0) {
            rc = ex_runtime_error(prog, "--plot: cannot write '%s'", o->plot);
            goto done;
        }
        printf("wrote %s\n", o->plot);
    }
    if (o->dot) printf("wrote %s\n", o->dot);
    ex_result res = {0};
    ex_result_add(&res, "test_acc", "%.4f", test_acc);
    ex_result_add(&res, "train_loss", "%.4f", last_loss);
    ex_result_add(&res, "epochs", "%d", epochs_run);
    ex_result_add(&res, "seconds", "%.2f", seconds);
    ex_result_add(&res, "samples_per_s", "%.0f", t_train > 0 ? (double)n_tr * epochs_run / t_train : 0);
    if (o->early_stop) ex_result_add(&res, "best_epoch", "%d", es.best_epoch);
    ex_result_print(&res);
done:
    ex_early_stop_free(&es);
    free(h_val);
    free(h_loss);
    free(h_acc);
    free(perm);
    free(labels);
    return rc;
}

void *cls_model_new(tg_ctx *ctx, cls_net *net, size_t size,
                    tg_tensor *(*forward)(void *model, tg_tensor *x, int train)) {
    net->model = calloc(1, size);
    if (!net->model) return tg_set_error(ctx, TG_ENOMEM, "out of memory"), NULL;
    net->forward = forward;
    return net->model;
}

static void free_net(const cls_program *p, cls_net *net) {
    if (p->free_net && net->model) p->free_net(net);
    free(net->model);
    net->model = NULL;
}

static int run(const cls_program *p, const cls_opts *o, tg_ctx *ctx, tg_dataset *tr, tg_dataset *test) {
    job j = {.p = p, .o = o, .ctx = ctx};
    int b = p->build(ctx, o, test->rows, test->cols, &j.net);
    if (b == EX_USAGE) {
        free_net(p, &j.net);
        return b;
    }
    if (b != 0) {
        free_net(p, &j.net);
        return ex_runtime_error(p->prog, "building the model: %s", tg_last_error(ctx));
    }
    tg_optim_config oc = tg_optim_defaults((tg_optim_kind)tg_optim_kind_parse(o->optim));
    oc.lr = o->lr;
    oc.momentum = o->momentum;
    oc.weight_decay = o->weight_decay;
    oc.decay_biases = 0; /* the lecture's L2 term covers the weights only */
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    int rc;
    if (!opt) rc = ex_runtime_error(p->prog, "creating the optimizer: %s", tg_last_error(ctx));
    /* --eval-only needs the parameters only: the file's optimizer state (of
     * whatever --optim trained it) is not read (docs/tutorial/02-mlp.md). */
    else if (o->load && tg_checkpoint_load(ctx, o->load, o->eval_only ? NULL : opt) != TG_OK)
        rc = ex_runtime_error(p->prog, "--load: %s", tg_last_error(ctx));
    else if (o->eval_only) rc = eval_only(&j, test);
    else if (tr->n < 1) rc = ex_runtime_error(p->prog, "no training samples in '%s'", o->data);
    else rc = train(&j, opt, tr, test);
    tg_optim_free(opt);
    free_net(p, &j.net);
    return rc;
}

/* A flat network reads rows·cols pixels, so it only needs the counts equal. */
static int same_size(const cls_program *p, const tg_dataset *a, const tg_dataset *b) {
    if (p->flat) return a->rows * a->cols == b->rows * b->cols;
    return a->rows == b->rows && a->cols == b->cols;
}

int cls_main(int argc, char **argv, const cls_program *p, cls_opts *o) {
    int rc = parse_opts(argc, argv, p, o);
    if (rc >= 0) return rc;
    if ((rc = validate(p->prog, o)) >= 0) return rc;
    tg_ctx *ctx = ex_ctx_new(o->seed, o->threads);
    if (!ctx) return ex_runtime_error(p->prog, "out of memory");
    tg_dataset tr = {0}, test = {0};
    if (tg_mnist_load(ctx, o->data, "t10k", &test) != TG_OK ||
        (!o->eval_only && tg_mnist_load(ctx, o->data, "train", &tr) != TG_OK)) {
        rc = ex_runtime_error(p->prog, "loading data from '%s': %s", o->data, tg_last_error(ctx));
    } else if (!o->eval_only && !same_size(p, &tr, &test)) {
        rc = ex_size_error(p->prog, &tr, &test);
    } else {
        if (o->limit > 0 && tr.n > o->limit) tr.n = o->limit;
        rc = run(p, o, ctx, &tr, &test);
    }
    tg_dataset_free(&tr);
    tg_dataset_free(&test);
    tg_ctx_free(ctx);
    return rc;
}
