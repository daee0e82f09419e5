/* train.c: the pieces of a training run that several examples share: the
 * context from --seed/--threads, the messages of a failed step and of
 * mismatched data sets, --dot's file, and the accuracy loop of every
 * classifier (see common.h). */
#include "common.h"

#include <math.h>

tg_ctx *ex_ctx_new(int seed, int threads) {
    tg_config cfg = tg_config_default();
    cfg.seed = (uint64_t)seed;
    cfg.threads = threads;
    return tg_ctx_new(&cfg);
}

double ex_epoch_begin(ex_progress *pr, tg_ctx *ctx, int epoch, int64_t *perm, int64_t n) {
    double t0 = ex_now();
    ex_progress_epoch_begin(pr, epoch);
    tg_shuffle(ctx, perm, n);
    return t0;
}

tg_status ex_step_end(tg_optim *opt, tg_tape *tape, tg_tensor *loss, tg_status st, double *lv) {
    if (st == TG_OK) st = tg_optim_step(opt);
    *lv = loss ? tg_item(loss) : NAN;
    tg_optim_zero_grad(opt);
    if (tape) tg_tape_end(tape);
    return st;
}

int ex_step_error(const char *prog, tg_ctx *ctx, tg_status st, int epoch, int64_t batch) {
    return ex_runtime_error(prog, "epoch %d batch %lld: %s", epoch, (long long)batch + 1,
                            tg_last_error(ctx)[0] ? tg_last_error(ctx) : tg_strerror(st));
}

int ex_diverged(double *start, double loss) {
    if (!isfinite(loss)) return 1;
    if (isnan(*start)) *start = loss;
    double ref = fabs(*start) > 1 ? fabs(*start) : 1;
    return fabs(loss) > EX_DIVERGE_FACTOR * ref;
}

int ex_size_error(const char *prog, const tg_dataset *train, const tg_dataset *test) {
    return ex_runtime_error(prog, "training images are %lldx%lld but test images %lldx%lld", (long long)train->rows,
                            (long long)train->cols, (long long)test->rows, (long long)test->cols);
}

int ex_mnist_open(tg_ctx *ctx, const char *prog, const char *dir, int limit, tg_dataset *train, tg_dataset *test) {
    if (tg_mnist_load(ctx, dir, "train", train) != TG_OK || tg_mnist_load(ctx, dir, "t10k", test) != TG_OK)
        return ex_runtime_error(prog, "loading data from '%s': %s", dir, tg_last_error(ctx));
    if (test->rows != train->rows || test->cols != train->cols) return ex_size_error(prog, train, test);
    if (limit > 0 && train->n > limit) train->n = limit;
    if (limit > 0 && test->n > limit) test->n = limit;
    return EX_OK;
}

int ex_image_main(const char *prog, const char *dir, int limit, int seed, int threads, ex_image_run run,
                  const void *opts) {
    tg_ctx *ctx = ex_ctx_new(seed, threads);
    if (!ctx) return ex_runtime_error(prog, "out of memory");
    tg_dataset train = {0}, test = {0};
    int rc = ex_mnist_open(ctx, prog, dir, limit, &train, &test);
    if (rc == EX_OK) {
        ex_result res = {0};
        rc = run(opts, ctx, &train, &test, &res);
        if (rc == EX_OK) ex_result_print(&res);
    }
    tg_dataset_free(&train);
    tg_dataset_free(&test);
    tg_ctx_free(ctx);
    return rc;
}

tg_status ex_write_dot(tg_ctx *ctx, tg_tape *tape, const char *prog, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return tg_set_error(ctx, TG_EIO, "--dot: cannot open '%s' for writing", path);
    char title[96];
    snprintf(title, sizeof title, "%s: the first training step (edges: gradient norms)", prog);
    tg_dot_opts d = {.grad_norms = 1, .title = title};
    tg_status st = tg_tape_dot(tape, f, &d);
    if (fclose(f) != 0 && st == TG_OK) st = tg_set_error(ctx, TG_EIO, "--dot: cannot write '%s'", path);
    return st;
}

int ex_eval_batches(tg_ctx *ctx, int64_t first, int64_t n, int batch, ex_batch_fn fn, void *user) {
    int64_t idx[EX_EVAL_MAX], EB = batch > 0 && batch < EX_EVAL_MAX ? batch : EX_EVAL_MAX;
    int rc = 0;
    tg_no_grad_begin(ctx);
    for (int64_t s = 0; s < n && rc == 0; s += EB) {
        int64_t B = n - s < EB ? n - s : EB;
        for (int64_t i = 0; i < B; i++) idx[i] = first + s + i;
        tg_tape *tape = tg_tape_begin(ctx);
        rc = tape ? fn(user, s, idx, B) : -1;
        if (tape) tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
    return rc;
}

typedef struct accuracy_job {
    ex_logits_fn logits;
    void *user;
    const tg_dataset *ds;
    int64_t correct;
} accuracy_job;

/* ex_batch_fn: count the batch's samples whose first largest logit is the label. */
static int count_correct(void *user, int64_t done, const int64_t *idx, int64_t B) {
    (void)done;
    accuracy_job *a = user;
    int32_t lab[EX_EVAL_MAX];
    tg_tensor *z = a->logits(a->user, a->ds, idx, B, lab); /* (B, C) */
    if (!z) return -1;
    const float *zp = z->data;
    int64_t C = z->shape[1];
    for (int64_t b = 0; b < B; b++) {
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (zp[b * C + c] > zp[b * C + best]) best = c;
        a->correct += best == lab[b];
    }
    return 0;
}

int ex_accuracy(tg_ctx *ctx, ex_logits_fn logits, void *user, const tg_dataset *ds, int64_t first, int64_t n,
                int batch, double *acc) {
    accuracy_job a = {logits, user, ds, 0};
    int rc = ex_eval_batches(ctx, first, n, batch, count_correct, &a);
    *acc = n > 0 ? (double)a.correct / (double)n : 0;
    return rc;
}
