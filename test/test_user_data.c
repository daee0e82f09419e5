/* test_user_data.c: users with their own data (issue 21).
 *
 * - tg_table_from_arrays, f32 and f64: the values and labels copied, the
 *   class count taken from the labels; NULL, empty, NaN, a label outside the
 *   caller's class count, a bad dtype: each an error naming the fault, with
 *   *out zeroed.
 * - tg_table_read_csv: a header line, spaces, CRLF, blank lines, the label
 *   in the middle column; the values equal to the file's (written here);
 *   ragged rows, a word in a number's place, a fractional or negative label,
 *   no data rows, a missing file, a directory and a FIFO (refused at once,
 *   not waited on): each TG_EFORMAT/TG_EIO naming file, line and column.
 * - tg_table_batch: rows picked by index and converted to the tensor's
 *   dtype; a wrong shape or an index out of range leaves x untouched.
 * - A model trained from a CSV table: softmax regression on two separable
 *   blobs, well above chance (a control: the same steps with labels
 *   shuffled stay near chance).
 * - tg_checkpoint_info_read: names, dtypes, shapes, optimizer kind and steps
 *   of a file saved here with Adam; a file without optimizer state says
 *   none; a truncated and a garbled header are TG_EFORMAT.
 * - Two contexts in two threads at once: each trains the same small MLP from
 *   its own seed; the parameters equal those of the same runs one after the
 *   other on one thread, bit for bit; a control seed differs.
 */
#include <tapegrad.h>

#include "testlib.h"

#include <pthread.h>
#include <sys/stat.h>

static char dir[256];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        FAILF("cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

static void test_arrays(void) {
    tg_ctx *ctx = tl_ctx_seeded(1, 1);
    const float xf[6] = {1, 2, 3, 4, 5, 6};
    const double xd[6] = {1.5, -2, 3, 4, 5, 6.25};
    const int32_t lab[3] = {0, 2, 1};
    tg_table t;
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, xf, 3, 2, lab, 0, &t), TG_OK);
    ASSERT_EQ(t.n, 3);
    ASSERT_EQ(t.d, 2);
    ASSERT_EQ(t.classes, 3);
    ASSERT(t.x != xf && ((float *)t.x)[5] == 6.0f && t.labels[1] == 2);
    tg_table_free(&t);
    ASSERT(t.x == NULL && t.n == 0);
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F64, xd, 2, 3, NULL, 0, &t), TG_OK);
    ASSERT(((double *)t.x)[5] == 6.25 && t.labels == NULL && t.classes == 0);
    tg_table_free(&t);
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, xf, 3, 2, lab, 10, &t), TG_OK);
    ASSERT_EQ(t.classes, 10);
    tg_table_free(&t);

    /* errors */
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, NULL, 3, 2, lab, 0, &t), TG_EINVAL);
    ASSERT(strstr(tg_last_error(ctx), "x is NULL") != NULL);
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, xf, 0, 2, lab, 0, &t), TG_ESHAPE);
    ASSERT_EQ(tg_table_from_arrays(ctx, (tg_dtype)7, xf, 3, 2, lab, 0, &t), TG_EDTYPE);
    float bad[6] = {1, 2, 3, NAN, 5, 6};
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, bad, 3, 2, lab, 0, &t), TG_EINVAL);
    CHECK(strstr(tg_last_error(ctx), "x[1][1]") != NULL, "NaN not located: %s", tg_last_error(ctx));
    ASSERT(t.x == NULL && t.n == 0);
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, xf, 3, 2, lab, 2, &t), TG_EINVAL);
    CHECK(strstr(tg_last_error(ctx), "label 1 is 2") != NULL, "label not named: %s", tg_last_error(ctx));
    ASSERT_EQ(tg_table_from_arrays(NULL, TG_F32, xf, 3, 2, lab, 0, &t), TG_EINVAL);
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F32, xf, 3, 2, lab, 0, NULL), TG_EINVAL);
    tg_ctx_free(ctx);
}

static tg_status read_csv(tg_ctx *ctx, const char *name, const char *text, int label_col, tg_table *t) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text);
    return tg_table_read_csv(ctx, path, TG_F64, label_col, t);
}

/* the error message contains every needle */
static void expect_err(tg_ctx *ctx, tg_status got, tg_status want, const char *a, const char *b) {
    CHECK(got == want, "status %d, want %d (%s)", (int)got, (int)want, tg_last_error(ctx));
    CHECK(strstr(tg_last_error(ctx), a) && (!b || strstr(tg_last_error(ctx), b)), "message '%s' lacks '%s'/'%s'",
          tg_last_error(ctx), a, b ? b : "");
}

static void test_csv(void) {
    tg_ctx *ctx = tl_ctx_seeded(1, 1);
    tg_table t;
    ASSERT_EQ(read_csv(ctx, "ok.csv", "x1, label ,x2\r\n0.5, 1, -2\r\n\r\n1e-3,0,4.25\n  7 , 2 ,8\n", 1, &t), TG_OK);
    ASSERT_EQ(t.n, 3);
    ASSERT_EQ(t.d, 2);
    ASSERT_EQ(t.classes, 3);
    const double want[6] = {0.5, -2, 1e-3, 4.25, 7, 8};
    const double *x = t.x;
    int same = t.x != NULL;
    for (int i = 0; same && i < 6; i++) same = x[i] == want[i];
    CHECK(same, "csv values differ from the file's");
    ASSERT(t.labels && t.labels[0] == 1 && t.labels[1] == 0 && t.labels[2] == 2);
    tg_table_free(&t);
    /* f32, no labels, no header */
    char path[512];
    snprintf(path, sizeof path, "%s/f32.csv", dir);
    write_file(path, "1,2,3\n4,5,6\n");
    ASSERT_EQ(tg_table_read_csv(ctx, path, TG_F32, -1, &t), TG_OK);
    ASSERT(t.dtype == TG_F32 && t.d == 3 && t.n == 2 && t.labels == NULL && ((float *)t.x)[4] == 5.0f);
    tg_table_free(&t);

    expect_err(ctx, read_csv(ctx, "ragged.csv", "1,2,3\n4,5\n", -1, &t), TG_EFORMAT, "ragged.csv:2", "2 columns");
    ASSERT(t.x == NULL);
    expect_err(ctx, read_csv(ctx, "word.csv", "a,b\n1,2\n3,x7\n", -1, &t), TG_EFORMAT, "word.csv:3: column 2",
               "'x7'");
    expect_err(ctx, read_csv(ctx, "nan.csv", "1,nan\n", -1, &t), TG_EFORMAT, "nan.csv:1: column 2", NULL);
    expect_err(ctx, read_csv(ctx, "frac.csv", "1,0.5\n", 1, &t), TG_EFORMAT, "frac.csv:1: column 2",
               "not a class number");
    expect_err(ctx, read_csv(ctx, "neg.csv", "1,-1\n", 1, &t), TG_EFORMAT, "neg.csv:1", "not a class number");
    expect_err(ctx, read_csv(ctx, "empty.csv", "a,b\n\n", -1, &t), TG_EFORMAT, "no data rows", NULL);
    expect_err(ctx, read_csv(ctx, "col.csv", "1,2\n", 5, &t), TG_EFORMAT, "label column 5", NULL);
    snprintf(path, sizeof path, "%s/missing.csv", dir);
    expect_err(ctx, tg_table_read_csv(ctx, path, TG_F32, -1, &t), TG_EIO, "missing.csv: cannot open", NULL);
    expect_err(ctx, tg_table_read_csv(ctx, dir, TG_F32, -1, &t), TG_EIO, "not a regular file", NULL);
    snprintf(path, sizeof path, "%s/fifo.csv", dir);
    if (mkfifo(path, 0600) == 0)
        expect_err(ctx, tg_table_read_csv(ctx, path, TG_F32, -1, &t), TG_EIO, "not a regular file", NULL);
    else
        FAILF("mkfifo %s: %s", path, strerror(errno));
    ASSERT_EQ(tg_table_read_csv(ctx, NULL, TG_F32, -1, &t), TG_EINVAL);
    tg_ctx_free(ctx);
}

static void test_batch(void) {
    tg_ctx *ctx = tl_ctx_seeded(1, 1);
    const double xd[6] = {1, 2, 3, 4, 5, 6};
    const int32_t lab[3] = {0, 1, 0};
    tg_table t;
    ASSERT_EQ(tg_table_from_arrays(ctx, TG_F64, xd, 3, 2, lab, 2, &t), TG_OK);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){2, 2});
    int32_t yb[2] = {-1, -1};
    ASSERT_EQ(tg_table_batch(&t, (const int64_t[]){2, 1}, 2, x, yb), TG_OK);
    ASSERT(tg_get(x, 0) == 5 && tg_get(x, 1) == 6 && tg_get(x, 2) == 3 && tg_get(x, 3) == 4);
    ASSERT(yb[0] == 0 && yb[1] == 1);
    ASSERT_EQ(tg_table_batch(&t, (const int64_t[]){0, 3}, 2, x, yb), TG_EINVAL);
    ASSERT(tg_get(x, 0) == 5); /* untouched */
    tg_tensor *wrong = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){2, 3});
    ASSERT_EQ(tg_table_batch(&t, NULL, 2, wrong, NULL), TG_ESHAPE);
    ASSERT_EQ(tg_table_batch(&t, NULL, 2, NULL, NULL), TG_EINVAL);
    tg_tape_end(tape);
    tg_table_free(&t);
    tg_ctx_free(ctx);
}

/* Softmax regression on a table; returns the training accuracy. */
static double fit_table(tg_ctx *ctx, const char *name, const tg_table *t, int steps) {
    tg_dense l;
    if (tg_dense_init(&l, ctx, name, t->d, t->classes, TG_F32, TG_INIT_ZERO) != TG_OK) {
        FAILF("dense_init %s: %s", name, tg_last_error(ctx));
        return 0;
    }
    tg_optim_config oc = tg_optim_defaults(TG_OPT_SGD);
    oc.lr = 0.5;
    tg_optim *opt = tg_optim_new(ctx, &oc, (tg_tensor *[]){l.W, l.b}, 2);
    int32_t *y = malloc((size_t)t->n * sizeof *y);
    for (int s = 0; s < steps; s++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){t->n, t->d});
        tg_table_batch(t, NULL, t->n, x, y);
        tg_tensor *loss = tg_cross_entropy(tg_dense_forward(&l, x), y, TG_MEAN);
        if (!loss || tg_backward(loss) || tg_optim_step(opt)) FAILF("step %d: %s", s, tg_last_error(ctx));
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
    }
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){t->n, t->d});
    tg_table_batch(t, NULL, t->n, x, y);
    tg_tensor *z = tg_dense_forward(&l, x);
    int right = 0;
    for (int64_t i = 0; z && i < t->n; i++) {
        int best = 0;
        for (int c = 1; c < t->classes; c++)
            if (tg_get(z, i * t->classes + c) > tg_get(z, i * t->classes + best)) best = c;
        right += best == y[i];
    }
    tg_tape_end(tape);
    tg_optim_free(opt);
    free(y);
    return (double)right / (double)t->n;
}

static void test_train_from_csv(void) {
    /* two blobs, centres (-1,-1) and (1,1), noise 0.3; then the same points with labels scrambled */
    size_t cap = 1 << 16;
    char *good = malloc(cap), *scram = malloc(cap);
    size_t ng = 0, ns = 0;
    ng += (size_t)snprintf(good + ng, cap - ng, "a,b,class\n");
    tg_ctx *ctx = tl_ctx_seeded(3, 1);
    for (int i = 0; i < 200; i++) {
        int c = i % 2;
        double a = (c ? 1 : -1) + 0.3 * tg_rng_normal(ctx), b = (c ? 1 : -1) + 0.3 * tg_rng_normal(ctx);
        ng += (size_t)snprintf(good + ng, cap - ng, "%.6f,%.6f,%d\n", a, b, c);
        ns += (size_t)snprintf(scram + ns, cap - ns, "%.6f,%.6f,%d\n", a, b, (i / 2) % 2);
    }
    tg_table t, u;
    ASSERT_EQ(read_csv(ctx, "blobs.csv", good, 2, &t), TG_OK);
    ASSERT_EQ(read_csv(ctx, "scrambled.csv", scram, 2, &u), TG_OK);
    if (t.x && u.x) {
        double acc = fit_table(ctx, "blobs", &t, 50), ctl = fit_table(ctx, "scrambled", &u, 50);
        CHECK(acc >= 0.97, "blobs: training accuracy %.3f, want >= 0.97", acc);
        CHECK(ctl <= 0.65, "control (labels scrambled): accuracy %.3f, want near 0.5", ctl);
        printf("trained from CSV: accuracy %.3f (scrambled labels: %.3f)\n", acc, ctl);
    }
    tg_table_free(&t);
    tg_table_free(&u);
    free(good);
    free(scram);
    tg_ctx_free(ctx);
}

static void test_checkpoint_info(void) {
    tg_ctx *ctx = tl_ctx_seeded(1, 1);
    tg_dense l1, l2;
    tg_dense_init(&l1, ctx, "fc1", 5, 3, TG_F32, TG_INIT_HE);
    tg_dense_init(&l2, ctx, "fc2", 3, 2, TG_F64, TG_INIT_HE);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    for (int s = 0; s < 3; s++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){4, 5});
        tg_tensor_fill(x, 0.5);
        tg_tensor *h = tg_dense_forward(&l1, x);
        tg_tensor *loss = tg_sum(tg_square(h), 0, NULL, 0);
        ASSERT(loss && tg_backward(loss) == TG_OK && tg_optim_step(opt) == TG_OK);
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
    }
    char path[512], bare[512];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(bare, sizeof bare, "%s/bare.safetensors", dir);
    ASSERT_EQ(tg_checkpoint_save(ctx, path, opt), TG_OK);
    ASSERT_EQ(tg_checkpoint_save(ctx, bare, NULL), TG_OK);
    tg_checkpoint_info info;
    ASSERT_EQ(tg_checkpoint_info_read(ctx, path, &info), TG_OK);
    ASSERT_STR_EQ(info.optim, "adam");
    ASSERT_EQ(info.optim_steps, 3);
    /* 4 parameters, Adam's exp_avg and exp_avg_sq for each */
    ASSERT_EQ(info.n, 12);
    int seen = 0;
    for (int i = 0; i < info.n; i++) {
        const tg_checkpoint_entry *e = &info.entries[i];
        if (!strcmp(e->name, "fc1.W")) {
            seen++;
            ASSERT(e->dtype == TG_F32 && e->rank == 2 && e->shape[0] == 5 && e->shape[1] == 3);
        }
        if (!strcmp(e->name, "fc2.b")) {
            seen++;
            ASSERT(e->dtype == TG_F64 && e->rank == 1 && e->shape[0] == 2);
        }
        if (!strcmp(e->name, "optim.fc1.W.exp_avg_sq")) {
            seen++;
            ASSERT(e->rank == 2 && e->shape[0] == 5);
        }
        if (i) ASSERT(strcmp(info.entries[i - 1].name, e->name) < 0);
    }
    ASSERT_EQ(seen, 3);
    tg_checkpoint_info_free(&info);
    ASSERT(info.entries == NULL && info.n == 0);
    ASSERT_EQ(tg_checkpoint_info_read(ctx, bare, &info), TG_OK);
    ASSERT(info.n == 4 && info.optim[0] == '\0' && info.optim_steps == 0);
    tg_checkpoint_info_free(&info);
    /* a truncated file and a garbled header */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/short.safetensors", dir);
    write_file(bad, "\x10\x00\x00");
    expect_err(ctx, tg_checkpoint_info_read(ctx, bad, &info), TG_EFORMAT, "short.safetensors", NULL);
    ASSERT(info.entries == NULL);
    snprintf(bad, sizeof bad, "%s/garbled.safetensors", dir);
    FILE *f = fopen(bad, "wb");
    if (f) {
        fwrite("\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1,}", 1, 16, f);
        fclose(f);
    }
    expect_err(ctx, tg_checkpoint_info_read(ctx, bad, &info), TG_EFORMAT, "garbled.safetensors", NULL);
    expect_err(ctx, tg_checkpoint_info_read(ctx, dir, &info), TG_EIO, "not a regular file", NULL);
    ASSERT_EQ(tg_checkpoint_info_read(NULL, path, &info), TG_EINVAL);
    tg_optim_free(opt);
    tg_ctx_free(ctx);
}

/* ---- two contexts, two threads ---- */

typedef struct job {
    uint64_t seed;
    int threads;
    double params[256 * 128 + 128 + 128 * 4 + 4];
    int ok;
} job;

/* 60 Adam steps of a 256-128-4 MLP on 64 random rows drawn from the seed (products big
 * enough for the packed GEMM and its per-thread scratch). */
static void *train_job(void *arg) {
    job *j = arg;
    tg_ctx *ctx = tl_ctx_seeded(j->seed, j->threads);
    tg_dense l1, l2;
    tg_dense_init(&l1, ctx, "l1", 256, 128, TG_F32, TG_INIT_HE);
    tg_dense_init(&l2, ctx, "l2", 128, 4, TG_F32, TG_INIT_XAVIER);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    static _Thread_local float xs[64 * 256];
    int32_t ys[64];
    for (int i = 0; i < 64 * 256; i++) xs[i] = (float)tg_rng_normal(ctx);
    for (int i = 0; i < 64; i++) ys[i] = (int32_t)(tg_rng_uniform(ctx) * 4) % 4;
    tg_table t;
    j->ok = tg_table_from_arrays(ctx, TG_F32, xs, 64, 256, ys, 4, &t) == TG_OK;
    for (int s = 0; j->ok && s < 60; s++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){64, 256});
        int32_t y[64];
        tg_table_batch(&t, NULL, 64, x, y);
        tg_tensor *loss = tg_cross_entropy(tg_dense_forward(&l2, tg_relu(tg_dense_forward(&l1, x))), y, TG_MEAN);
        j->ok = loss && tg_backward(loss) == TG_OK && tg_optim_step(opt) == TG_OK;
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
    }
    int k = 0;
    tg_tensor *ps[4] = {l1.W, l1.b, l2.W, l2.b};
    for (int p = 0; p < 4; p++)
        for (int64_t i = 0; i < ps[p]->numel; i++) j->params[k++] = tg_get(ps[p], i);
    tg_table_free(&t);
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    return NULL;
}

static void test_two_threads(void) {
    enum { N = 4 };
    static job alone[N], together[N];
    const uint64_t seeds[N] = {7, 8, 7, 9};
    const int threads[N] = {1, 1, 2, 1};
    for (int i = 0; i < N; i++) {
        alone[i] = (job){.seed = seeds[i], .threads = threads[i]};
        together[i] = alone[i];
        train_job(&alone[i]); /* one after the other, on this thread */
    }
    pthread_t th[N];
    for (int i = 0; i < N; i++) ASSERT_EQ(pthread_create(&th[i], NULL, train_job, &together[i]), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    size_t np = sizeof alone[0].params / sizeof alone[0].params[0];
    for (int i = 0; i < N; i++) {
        ASSERT(alone[i].ok && together[i].ok);
        CHECK(!memcmp(alone[i].params, together[i].params, sizeof alone[i].params),
              "context %d (seed %llu, %d threads): parameters differ between the threaded and the sequential run", i,
              (unsigned long long)seeds[i], threads[i]);
    }
    /* controls: another seed gives other parameters (the comparison can fail) */
    CHECK(memcmp(alone[0].params, alone[1].params, sizeof alone[0].params) != 0, "seeds 7 and 8 gave equal parameters");
    printf("two contexts in %d threads: %zu parameters each, equal to the sequential runs bit for bit\n", N, np);
}

int main(void) {
    if (tl_mkdtemp(dir, sizeof dir, "tg_user_data") != 0) {
        fprintf(stderr, "cannot make a temp dir\n");
        return 1;
    }
    test_arrays();
    test_csv();
    test_batch();
    test_train_from_csv();
    test_checkpoint_info();
    test_two_threads();
    tl_rmtree(dir);
    return tl_summary();
}
