/* test_conv.c: convolution, pooling, dropout and flatten.
 *  - conv2d, conv1d, max_pool2d, avg_pool2d against PyTorch f64 references
 *    (test/ref/conv_ref.txt from test/ref/make_conv_ref.py): output and
 *    input/weight/bias gradients within 1e-10 absolute; conv runs through
 *    both algorithms (direct and im2col + GEMM) and the automatic pick, and
 *    once more in f32 (within 1e-4 of the largest reference value);
 *  - every rejected input returns NULL with a message naming the op and the
 *    shapes;
 *  - max pooling sends a tied window's gradient to its first maximum;
 *  - dropout: the same seed gives bitwise the same output (also with another
 *    thread count), successive calls draw fresh masks, train=0 and rate=0 are
 *    the identity, the mask keeps about 1-p of the elements and its scaling
 *    averages to 1, and backward uses the forward's mask;
 *  - flatten shapes and errors;
 *  - a steady-state training step on these ops calls malloc zero times.
 * Prints "N passed, N failed"; exits non-zero on any failure. */
#include "graph_internal.h"
#include "testlib.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

/* ---- the reference file ---- */

#define MAXV 8192
typedef struct ref_case {
    char op[32], name[64];
    int xr, wr, bias, attr[7];
    int64_t xs[4], ws[4];
    int64_t ny, ndx, ndw, ndb;
    double y[MAXV], dx[MAXV], dw[MAXV], db[64];
} ref_case;

static int read_vals(FILE *f, const char *tag, double *dst, int64_t cap, int64_t *n) {
    char t[16];
    long long cnt;
    if (fscanf(f, "%15s %lld", t, &cnt) != 2 || strcmp(t, tag) || cnt < 0 || cnt > cap) return -1;
    for (long long i = 0; i < cnt; i++)
        if (fscanf(f, "%lf", &dst[i]) != 1) return -1;
    *n = cnt;
    return 0;
}

/* Reads the next case; 1 on success, 0 at the end, -1 on a malformed file. */
static int read_case(FILE *f, ref_case *c) {
    char word[64];
    if (fscanf(f, "%63s", word) != 1) return 0;
    while (word[0] == '#') { /* comment line */
        int ch;
        while ((ch = fgetc(f)) != '\n' && ch != EOF) {
        }
        if (fscanf(f, "%63s", word) != 1) return 0;
    }
    memset(c, 0, sizeof *c);
    if (strcmp(word, "case") || fscanf(f, "%31s %63s", c->op, c->name) != 2) return -1;
    if (fscanf(f, " x %d", &c->xr) != 1 || c->xr < 1 || c->xr > 4) return -1;
    for (int i = 0; i < c->xr; i++)
        if (fscanf(f, "%" SCNd64, &c->xs[i]) != 1) return -1;
    if (fscanf(f, " w %d", &c->wr) != 1 || c->wr < 0 || c->wr > 4) return -1;
    for (int i = 0; i < c->wr; i++)
        if (fscanf(f, "%" SCNd64, &c->ws[i]) != 1) return -1;
    if (fscanf(f, " bias %d attr", &c->bias) != 1) return -1;
    for (int i = 0; i < 7; i++)
        if (fscanf(f, "%d", &c->attr[i]) != 1) return -1;
    if (read_vals(f, "y", c->y, MAXV, &c->ny) || read_vals(f, "dx", c->dx, MAXV, &c->ndx)) return -1;
    if (c->wr && read_vals(f, "dw", c->dw, MAXV, &c->ndw)) return -1;
    if (c->bias && read_vals(f, "db", c->db, 64, &c->ndb)) return -1;
    if (fscanf(f, "%63s", word) != 1 || strcmp(word, "end")) return -1;
    return 1;
}

/* ---- running one case ---- */

static double fx(int64_t i) { return sin(0.1 * (double)i + 0.3); }
static double fw(int64_t i) { return 0.5 * cos(0.07 * (double)i + 0.1); }
static double fb(int64_t i) { return 0.1 * (double)i - 0.2; }
static double fdy(int64_t i) { return cos(0.05 * (double)i + 0.2); }

static tg_tensor *leaf(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape, double (*f)(int64_t)) {
    tg_tensor *t = tg_tensor_temp(ctx, dt, rank, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) tg_set(t, i, f(i));
    tg_tensor_requires_grad(t, 1);
    return t;
}

/* max |got - ref| over n elements of t's data (grad = 1: t's gradient). */
static double max_err(const tg_tensor *t, int grad, const double *ref, int64_t n) {
    if (!t || t->numel != n) return INFINITY;
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = grad ? tg_grad_get(t, i) : tg_get(t, i);
        double d = fabs(v - ref[i]);
        if (!(d <= e)) e = d;
    }
    return e;
}

static double max_abs(const double *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static void run_case(tg_ctx *ctx, const ref_case *c, tg_dtype dt, const char *algo) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = leaf(ctx, dt, c->xr, c->xs, fx);
    tg_tensor *w = c->wr ? leaf(ctx, dt, c->wr, c->ws, fw) : NULL;
    tg_tensor *b = c->bias ? leaf(ctx, dt, 1, c->ws, fb) : NULL;
    const int *a = c->attr;
    tg_tensor *y = NULL;
    if (!strcmp(c->op, "conv2d")) {
        tg_conv_opts o = {{a[0], a[1]}, {a[2], a[3]}, {a[4], a[5]}, a[6]};
        y = tg_conv2d(x, w, b, &o);
    } else if (!strcmp(c->op, "conv1d")) {
        tg_conv_opts o = {{a[0], 0}, {a[1], 0}, {a[2], 0}, a[3]};
        y = tg_conv1d(x, w, b, &o);
    } else if (!strcmp(c->op, "max_pool2d")) {
        y = tg_max_pool2d(x, a[0], a[1], a[2], a[3], a[4], a[5]);
    } else if (!strcmp(c->op, "avg_pool2d")) {
        y = tg_avg_pool2d(x, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    const char *dn = tg_dtype_name(dt);
    CHECK(y != NULL, "%s %s %s %s: %s", c->op, c->name, dn, algo, tg_last_error(ctx));
    if (!y) {
        tg_tape_end(tape);
        return;
    }
    tg_tensor *dy = tg_tensor_temp(ctx, dt, y->rank, y->shape);
    for (int64_t i = 0; i < dy->numel; i++) tg_set(dy, i, fdy(i));
    tg_status st = tg_backward_seeded(y, dy->data);
    CHECK(st == TG_OK, "%s %s backward: %s", c->op, c->name, tg_last_error(ctx));
    /* f64 must match PyTorch to 1e-10; f32 to 1e-4 of the largest value */
    double tol_y = dt == TG_F64 ? 1e-10 : 1e-4 * fmax(1, max_abs(c->y, c->ny));
    double tol_dx = dt == TG_F64 ? 1e-10 : 1e-4 * fmax(1, max_abs(c->dx, c->ndx));
    double tol_dw = dt == TG_F64 ? 1e-10 : 1e-4 * fmax(1, max_abs(c->dw, c->ndw));
    double tol_db = dt == TG_F64 ? 1e-10 : 1e-4 * fmax(1, max_abs(c->db, c->ndb));
    double e;
    e = max_err(y, 0, c->y, c->ny);
    CHECK(e <= tol_y, "%s %s %s %s: y differs by %.3g", c->op, c->name, dn, algo, e);
    e = max_err(x, 1, c->dx, c->ndx);
    CHECK(e <= tol_dx, "%s %s %s %s: dx differs by %.3g", c->op, c->name, dn, algo, e);
    if (w) {
        e = max_err(w, 1, c->dw, c->ndw);
        CHECK(e <= tol_dw, "%s %s %s %s: dw differs by %.3g", c->op, c->name, dn, algo, e);
    }
    if (b) {
        e = max_err(b, 1, c->db, c->ndb);
        CHECK(e <= tol_db, "%s %s %s %s: db differs by %.3g", c->op, c->name, dn, algo, e);
    }
    tg_tape_end(tape);
}

static void reference_tests(tg_ctx *ctx) {
    const char *dir = getenv("TG_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/test/ref/conv_ref.txt", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s (set TG_SRCDIR to the source root)", path);
    if (!f) return;
    ref_case *c = malloc(sizeof *c);
    int ncase = 0, r;
    static const char *algo_name[3] = {"auto", "direct", "im2col"};
    while (c && (r = read_case(f, c)) == 1) {
        ncase++;
        int conv = !strcmp(c->op, "conv2d") || !strcmp(c->op, "conv1d");
        for (int algo = 0; algo < (conv ? 3 : 1); algo++) {
            tg__conv_algo = algo;
            run_case(ctx, c, TG_F64, algo_name[algo]);
            run_case(ctx, c, TG_F32, algo_name[algo]);
        }
        tg__conv_algo = 0;
    }
    CHECK(c && r == 0, "malformed reference file %s after %d cases", path, ncase);
    CHECK(ncase >= 20, "only %d reference cases in %s", ncase, path);
    free(c);
    fclose(f);
}

/* ---- rejected inputs ---- */

static tg_tensor *tmp(tg_ctx *ctx, int rank, const int64_t *shape) {
    tg_tensor *t = tg_tensor_temp(ctx, TG_F64, rank, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) tg_set(t, i, fx(i));
    return t;
}
#define T4(a, b, c, d) tmp(ctx, 4, (const int64_t[]){a, b, c, d})
#define T3(a, b, c) tmp(ctx, 3, (const int64_t[]){a, b, c})
#define T1(a) tmp(ctx, 1, (const int64_t[]){a})

/* y must be NULL and the message must start with op and contain every
 * needle (shape strings). */
static void expect_error(tg_ctx *ctx, tg_tensor *y, const char *op, const char *n1, const char *n2,
                         const char *what) {
    const char *m = tg_last_error(ctx);
    int ok = y == NULL && strncmp(m, op, strlen(op)) == 0 && (!n1 || strstr(m, n1)) && (!n2 || strstr(m, n2));
    CHECK(ok, "%s should be rejected naming %s %s %s, got %s \"%s\"", what, op, n1 ? n1 : "", n2 ? n2 : "",
          y ? "a tensor" : "NULL", m);
    tg_clear_error(ctx);
}

static void error_tests(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    const tg_op_def *conv = tg_op_find("conv2d"), *mp = tg_op_find("max_pool2d");
    CHECK(conv && mp, "conv2d / max_pool2d not registered");
    tg_conv_opts g2 = {{1, 1}, {0, 0}, {1, 1}, 2}, neg = {{1, 1}, {-1, 0}, {1, 1}, 1};
    tg_conv_opts s0 = {{0, 1}, {0, 0}, {1, 1}, 1};
    expect_error(ctx, tg_conv2d(T4(1, 3, 5, 5), T4(4, 1, 3, 3), NULL, &g2), "conv2d", "[1,3,5,5]", "[4,1,3,3]",
                 "channels not divisible by groups");
    expect_error(ctx, tg_conv2d(T4(1, 2, 2, 2), T4(1, 2, 3, 3), NULL, NULL), "conv2d", "[1,2,2,2]", "[1,2,3,3]",
                 "kernel larger than the input");
    tg_conv_opts d2 = {{1, 1}, {1, 1}, {4, 4}, 1}; /* span 9 > 5 + 2 */
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(1, 2, 3, 3), NULL, &d2), "conv2d", "[1,2,5,5]", "[1,2,3,3]",
                 "dilated kernel larger than the padded input");
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(1, 2, 3, 3), NULL, &neg), "conv2d", "[1,2,5,5]", "-1",
                 "negative padding");
    if (conv) {
        tg_tensor *in[2] = {T4(1, 2, 5, 5), T4(1, 2, 3, 3)};
        expect_error(ctx, tg_apply(conv, in, 2, &s0), "conv2d", "[1,2,5,5]", "stride", "stride 0");
    }
    /* the public wrappers read a zero field as its default (test_layers_api
     * checks that); a negative stride is still an error there */
    tg_conv_opts sneg = {{-1, 1}, {0, 0}, {1, 1}, 1};
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(1, 2, 3, 3), NULL, &sneg), "conv2d", "[1,2,5,5]", "stride",
                 "tg_conv2d stride -1");
    expect_error(ctx, tg_conv1d(T3(1, 2, 5), T3(1, 2, 3), NULL, &sneg), "conv1d", "[1,2,5]", "stride",
                 "tg_conv1d stride -1");
    expect_error(ctx, tg_conv1d(T3(1, 2, 5), T3(1, 2, 3), NULL, &neg), "conv1d", "[1,2,5]", "-1",
                 "tg_conv1d negative padding");
    tg_conv_opts gneg = {{1, 1}, {0, 0}, {1, 1}, -1};
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(1, 2, 3, 3), NULL, &gneg), "conv2d", "[1,2,5,5]", "groups",
                 "groups -1");
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(1, 3, 3, 3), NULL, NULL), "conv2d", "[1,2,5,5]", "[1,3,3,3]",
                 "weight/input channel mismatch");
    expect_error(ctx, tg_conv2d(T3(2, 5, 5), T4(1, 2, 3, 3), NULL, NULL), "conv2d", "[2,5,5]", "[1,2,3,3]",
                 "rank 3 input");
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T3(1, 2, 3), NULL, NULL), "conv2d", "[1,2,5,5]", "[1,2,3]",
                 "rank 3 weight");
    expect_error(ctx, tg_conv2d(T4(1, 2, 5, 5), T4(3, 2, 3, 3), T1(4), NULL), "conv2d", "[4]", "[3,2,3,3]",
                 "bias of the wrong size");
    expect_error(ctx, tg_conv1d(T3(1, 2, 2), T3(1, 2, 3), NULL, NULL), "conv1d", "[1,2,2]", "[1,2,3]",
                 "conv1d kernel larger than the input");
    expect_error(ctx, tg_conv1d(T4(1, 2, 5, 5), T4(1, 2, 3, 3), NULL, NULL), "conv1d", "[1,2,5,5]", NULL,
                 "conv1d rank 4");
    expect_error(ctx, tg_max_pool2d(T4(1, 1, 4, 4), 3, 3, 1, 1, 2, 0), "max_pool2d", "[1,1,4,4]", NULL,
                 "padding > kernel/2");
    expect_error(ctx, tg_avg_pool2d(T4(1, 1, 2, 2), 3, 3, 1, 1, 0, 0), "avg_pool2d", "[1,1,2,2]", NULL,
                 "pool kernel larger than the input");
    expect_error(ctx, tg_avg_pool2d(T3(1, 4, 4), 2, 2, 0, 0, 0, 0), "avg_pool2d", "[1,4,4]", NULL, "pool rank 3");
    if (mp) {
        int a[6] = {2, 2, 0, 0, 0, 0}; /* the op itself rejects stride 0 */
        tg_tensor *in = T4(1, 1, 4, 4);
        expect_error(ctx, tg_apply(mp, &in, 1, a), "max_pool2d", "[1,1,4,4]", NULL, "pool stride 0");
    }
    expect_error(ctx, tg_dropout(T1(3), 1.0, 1), "dropout", "[3]", NULL, "dropout rate 1");
    expect_error(ctx, tg_dropout(T1(3), -0.5, 0), "dropout", "[3]", NULL, "dropout rate -0.5 in eval mode");
    expect_error(ctx, tg_flatten(T3(2, 3, 4), 3), "flatten", "[2,3,4]", NULL, "flatten start_dim 3");
    tg_tape_end(tape);
}

/* ---- pooling details ---- */

static void pool_tests(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    /* ties: every window's gradient goes to its first maximum */
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 4, (const int64_t[]){1, 1, 3, 3});
    tg_tensor_fill(x, 2.0);
    tg_tensor_requires_grad(x, 1);
    tg_tensor *y = tg_max_pool2d(x, 2, 2, 1, 1, 0, 0); /* 4 overlapping windows */
    CHECK(y && tg_backward(tg_sum(y, 0, NULL, 0)) == TG_OK, "max_pool2d ties: %s", tg_last_error(ctx));
    /* windows start at (0,0) (0,1) (1,0) (1,1): first max = window's top-left */
    static const double want[9] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
    int ok = 1;
    for (int i = 0; i < 9; i++) ok &= tg_grad_get(x, i) == want[i];
    CHECK(ok, "max_pool2d tie gradient should go to each window's first element");
    /* with padding the pad never wins, even over negative inputs */
    tg_tensor *xn = tg_tensor_temp(ctx, TG_F64, 4, (const int64_t[]){1, 1, 2, 2});
    tg_tensor_fill(xn, -5.0);
    tg_tensor *yn = tg_max_pool2d(xn, 3, 3, 1, 1, 1, 1);
    CHECK(yn && tg_get(yn, 0) == -5.0 && tg_get(yn, 3) == -5.0, "max_pool2d: padding must not win");
    tg_tensor *ya = tg_avg_pool2d(xn, 3, 3, 1, 1, 1, 1);
    CHECK(ya && fabs(tg_get(ya, 0) - (-20.0 / 9.0)) < 1e-15, "avg_pool2d counts padding: got %g",
          ya ? tg_get(ya, 0) : NAN);
    /* stride 0 in the public call means stride = kernel */
    tg_tensor *x4 = tmp(ctx, 4, (const int64_t[]){1, 1, 4, 6});
    tg_tensor *p0 = tg_max_pool2d(x4, 2, 3, 0, 0, 0, 0), *p1 = tg_max_pool2d(x4, 2, 3, 2, 3, 0, 0);
    CHECK(p0 && p1 && tg_shape_eq(p0, p1) && p0->shape[2] == 2 && p0->shape[3] == 2 &&
              memcmp(p0->data, p1->data, (size_t)p0->numel * 8) == 0,
          "pool stride 0 should mean stride = kernel");
    tg_tape_end(tape);
}

/* ---- dropout ---- */

static tg_tensor *dropout_ones(tg_ctx *ctx, int64_t n, double rate) {
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 1, &n);
    tg_tensor_fill(x, 1.0);
    return tg_dropout(x, rate, 1);
}

static void dropout_tests(void) {
    const int64_t N = 200000;
    tg_ctx *a = tl_ctx_seeded(1234, 1), *b = tl_ctx_seeded(1234, 2);
    tg_tape *ta = tg_tape_begin(a), *tb = tg_tape_begin(b);
    tg_tensor *ya1 = dropout_ones(a, N, 0.3), *ya2 = dropout_ones(a, N, 0.3);
    tg_tensor *yb1 = dropout_ones(b, N, 0.3);
    CHECK(ya1 && ya2 && yb1, "dropout failed: %s", tg_last_error(a));
    if (ya1 && ya2 && yb1) {
        CHECK(memcmp(ya1->data, yb1->data, (size_t)N * 4) == 0,
              "same seed, different thread count: dropout outputs differ");
        CHECK(memcmp(ya1->data, ya2->data, (size_t)N * 4) != 0, "two dropout calls drew the same mask");
        int64_t kept = 0;
        double sum = 0;
        int values_ok = 1;
        float scale = (float)(1.0 / 0.7);
        for (int64_t i = 0; i < N; i++) {
            float v = ((float *)ya1->data)[i];
            kept += v != 0;
            sum += v;
            values_ok &= v == 0 || v == scale;
        }
        CHECK(values_ok, "dropout: kept elements must be scaled by exactly 1/(1-p)");
        double frac = (double)kept / (double)N, mean = sum / (double)N;
        /* binomial: sd of the kept fraction is sqrt(.21/N) ≈ 1e-3 */
        CHECK(fabs(frac - 0.7) < 0.006, "dropout kept %.4f of the elements, expected 0.7", frac);
        CHECK(fabs(mean - 1.0) < 0.01, "dropout mask scaling averages %.4f, expected 1", mean);
    }
    /* reseeding replays the same masks */
    tg_rng_seed(a, 1234);
    tg_tensor *ya3 = dropout_ones(a, N, 0.3);
    CHECK(ya3 && ya1 && memcmp(ya1->data, ya3->data, (size_t)N * 4) == 0,
          "reseeding should replay the dropout mask bitwise");
    /* eval mode and rate 0: identity (the input itself) */
    tg_tensor *x = tmp(a, 2, (const int64_t[]){3, 4});
    CHECK(tg_dropout(x, 0.5, 0) == x && tg_dropout(x, 0.0, 1) == x, "dropout train=0 / rate=0 should return x");
    /* backward: dx = dy · mask / (1-p), the forward's mask */
    tg_tensor *xg = tmp(a, 1, (const int64_t[]){1000});
    tg_tensor_requires_grad(xg, 1);
    tg_tensor *yg = tg_dropout(xg, 0.5, 1);
    CHECK(yg && tg_backward(tg_sum(yg, 0, NULL, 0)) == TG_OK, "dropout backward: %s", tg_last_error(a));
    int ok = yg != NULL;
    for (int64_t i = 0; ok && i < 1000; i++) {
        double g = tg_grad_get(xg, i), yv = tg_get(yg, i), xv = tg_get(xg, i);
        ok = (g == 2.0 && yv == 2.0 * xv) || (g == 0.0 && yv == 0.0);
    }
    CHECK(ok, "dropout gradient should be mask/(1-p)");
    tg_tape_end(ta);
    tg_tape_end(tb);
    tg_ctx_free(a);
    tg_ctx_free(b);
}

/* ---- flatten ---- */

static void flatten_tests(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tmp(ctx, 4, (const int64_t[]){2, 3, 4, 5});
    tg_tensor *f1 = tg_flatten(x, 1), *f0 = tg_flatten(x, 0), *fm = tg_flatten(x, -2);
    CHECK(f1 && f1->rank == 2 && f1->shape[0] == 2 && f1->shape[1] == 60, "flatten(x,1) of [2,3,4,5]");
    CHECK(f0 && f0->rank == 1 && f0->shape[0] == 120, "flatten(x,0) of [2,3,4,5]");
    CHECK(fm && fm->rank == 3 && fm->shape[2] == 20, "flatten(x,-2) of [2,3,4,5]");
    CHECK(f1 && memcmp(f1->data, x->data, 120 * 8) == 0, "flatten keeps the element order");
    tg_tape_end(tape);
}

/* ---- steady state: no malloc in a training step ---- */

static void alloc_tests(tg_ctx *ctx) {
    tg_tensor *w = tg_param_new(ctx, "c.w", TG_F32, 4, (const int64_t[]){8, 3, 3, 3});
    tg_tensor *bias = tg_param_new(ctx, "c.b", TG_F32, 1, (const int64_t[]){8});
    tg_init_he_uniform(w);
    uint64_t n_alloc = 0;
    for (int step = 0; step < 4; step++) {
        if (step == 2) n_alloc = tg_alloc_stats_get().n_alloc;
        for (int algo = 1; algo <= 2; algo++) {
            tg__conv_algo = algo;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 4, (const int64_t[]){4, 3, 12, 12});
            for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, fx(i));
            tg_tensor *h = tg_relu(tg_conv2d(x, w, bias, NULL));
            h = tg_max_pool2d(tg_dropout(h, 0.2, 1), 2, 2, 0, 0, 0, 0);
            h = tg_avg_pool2d(h, 2, 2, 0, 0, 0, 0);
            tg_tensor *loss = tg_sum(tg_flatten(h, 1), 0, NULL, 0);
            CHECK(loss && tg_backward(loss) == TG_OK, "training step: %s", tg_last_error(ctx));
            tg_tape_end(tape);
        }
    }
    tg__conv_algo = 0;
    uint64_t extra = tg_alloc_stats_get().n_alloc - n_alloc;
    CHECK(extra == 0, "steady-state conv steps called the allocator %llu times", (unsigned long long)extra);
}

int main(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    if (!ctx) {
        printf("0 passed, 1 failed (no context)\n");
        return 1;
    }
    reference_tests(ctx);
    error_tests(ctx);
    pool_tests(ctx);
    dropout_tests();
    flatten_tests(ctx);
    alloc_tests(ctx);
    tg_ctx_free(ctx);
    return tl_summary();
}
