/* test_numeric: numerical edge cases, each in f32 and f64.
 *
 *   - softmax, log_softmax, cross_entropy: finite values and gradients for
 *     logits up to ±1e4; a row of all -inf gives 1/C, -ln C, ln C and a zero
 *     gradient; -inf entries in a finite row get probability 0, gradient 0.
 *   - bce_with_logits: finite loss and gradients for |x| <= 1e4, exact values.
 *   - sqrt, |x|, an L2 norm sqrt(Σx²) and tg_l1_penalty at 0: subgradient 0.
 *   - NaN propagates through relu, leaky_relu, max, maximum, minimum (both
 *     argument orders: fmax(NaN, 0) is 0, which is wrong here) and
 *     max_pool2d.
 *   - tanh, sigmoid, softplus, silu, exp at ±100 and ±1e4: forward and
 *     backward (dy = 1) against values computed here in double; exp may
 *     overflow to inf (f32 at 100, both at 1e4) and its gradient with it,
 *     but nothing is NaN where the math is defined.
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_dt;

/* got vs want: NaN must match NaN, inf must match exactly, otherwise
 * |got-want| <= atol + rtol·|want|. */
static void check(const char *what, int64_t i, double got, double want, double atol, double rtol) {
    int ok;
    if (isnan(want)) ok = isnan(got);
    else if (isinf(want)) ok = got == want;
    else ok = isfinite(got) && fabs(got - want) <= atol + rtol * fabs(want);
    CHECK(ok, "%s %s[%lld]: got %.9g, want %.9g", g_dt, what, (long long)i, got, want);
}
/* values: relative; gradients: the error scales with the terms summed */
static void near(const char *what, int64_t i, double got, double want, double rtol) {
    check(what, i, got, want, 1e-30, rtol);
}
static void near_g(const char *what, int64_t i, double got, double want, double rtol) {
    check(what, i, got, want, rtol, rtol);
}

static void truth(const char *what, int cond) { CHECK(cond, "%s %s", g_dt, what); }

static tg_tensor *make(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape, const double *v, int grad) {
    tg_tensor *t = tg_tensor_temp(ctx, dt, rank, shape);
    if (!t) return NULL;
    tg_tensor_set_f64(t, v);
    if (grad) tg_tensor_requires_grad(t, 1);
    return t;
}

/* backward from y with dy = 1 everywhere (or the given dy) */
static int seed(tg_tensor *y, const double *dyv) {
    if (!y) return -1;
    double buf[64];
    float fb[64];
    for (int64_t i = 0; i < y->numel && i < 64; i++) {
        buf[i] = dyv ? dyv[i] : 1.0;
        fb[i] = (float)buf[i];
    }
    return tg_backward_seeded(y, y->dtype == TG_F32 ? (const void *)fb : (const void *)buf);
}

/* value as stored in dtype dt (f32 rounds, may overflow to inf) */
static double in_dt(tg_dtype dt, double v) { return dt == TG_F32 ? (double)(float)v : v; }

/* ---- softmax family ---- */

static void softmax_family(tg_ctx *ctx, tg_dtype dt, double rtol) {
    const double I = INFINITY, L = 1e4;
    /* rows: huge mixed, all equal huge, all -inf, finite with -inf entries */
    const double x[4][3] = {{L, -L, 0}, {-L, -L, -L}, {-I, -I, -I}, {0, -I, 1}};
    const int64_t sh[2] = {4, 3};
    const double ln3 = log(3.0), e1 = 1 / (1 + exp(-1.0)); /* softmax of (0, 1) */
    const double want_sm[4][3] = {{1, 0, 0}, {1 / 3., 1 / 3., 1 / 3.}, {1 / 3., 1 / 3., 1 / 3.}, {1 - e1, 0, e1}};
    const double want_ls[4][3] = {{0, -2 * L, -L}, {-ln3, -ln3, -ln3}, {-ln3, -ln3, -ln3},
                                  {log(1 - e1), -I, log(e1)}};
    const double dy[12] = {0.3, -0.2, 0.5, 1, 2, 3, 1, 2, 3, 0.7, 0.1, -0.4};

    tg_tensor *a = make(ctx, dt, 2, sh, &x[0][0], 1);
    tg_tensor *s = tg_softmax(a, -1);
    truth("softmax returns a tensor", s != NULL);
    if (!s) return;
    for (int i = 0; i < 12; i++) near("softmax", i, tg_get(s, i), want_sm[i / 3][i % 3], rtol);
    truth("softmax backward", seed(s, dy) == TG_OK);
    for (int r = 0; r < 4; r++) { /* dx = y(dy - Σ dy y) */
        double d = 0;
        for (int c = 0; c < 3; c++) d += dy[r * 3 + c] * want_sm[r][c];
        for (int c = 0; c < 3; c++) {
            double w = r == 2 ? 0 : want_sm[r][c] * (dy[r * 3 + c] - d);
            near_g("softmax grad", r * 3 + c, tg_grad_get(a, r * 3 + c), w, rtol * 10);
        }
    }

    tg_tensor *b = make(ctx, dt, 2, sh, &x[0][0], 1);
    tg_tensor *ls = tg_log_softmax(b, 1);
    truth("log_softmax returns a tensor", ls != NULL);
    if (!ls) return;
    for (int i = 0; i < 12; i++) near("log_softmax", i, tg_get(ls, i), want_ls[i / 3][i % 3], rtol);
    truth("log_softmax backward", seed(ls, dy) == TG_OK);
    for (int r = 0; r < 4; r++) { /* dx = dy - e^y Σ dy */
        double d = dy[r * 3] + dy[r * 3 + 1] + dy[r * 3 + 2];
        for (int c = 0; c < 3; c++) {
            double w = r == 2 ? 0 : dy[r * 3 + c] - want_sm[r][c] * d;
            near_g("log_softmax grad", r * 3 + c, tg_grad_get(b, r * 3 + c), w, rtol * 10);
        }
    }

    /* cross_entropy: the -inf entries may not be the labels (that loss is inf) */
    const int32_t lab[4] = {1, 2, 0, 2};
    tg_tensor *c = make(ctx, dt, 2, sh, &x[0][0], 1);
    tg_tensor *ce = tg_cross_entropy(c, lab, TG_SUM);
    truth("cross_entropy returns a tensor", ce != NULL);
    if (!ce) return;
    double want = 2 * L + ln3 + ln3 - log(e1); /* row 2 (all -inf) adds ln 3 */
    near("cross_entropy", 0, tg_item(ce), want, rtol);
    truth("cross_entropy backward", tg_backward(ce) == TG_OK);
    /* f32 as tight as f64 (relative to the dtype's rtol): backward forms
     * e^((x - max) - ln Σ), exact near the maximum. Forming e^(x - lse) with
     * lse ~ 1e4 rounded to f32 (ulp 1e-3) would give up to 5e-4 relative
     * error; the row (L, L-1, L-2) below catches that. */
    double ce_tol = rtol * 10;
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 3; k++) {
            double w = r == 2 ? 0 : want_sm[r][k] - (k == lab[r]);
            near_g("cross_entropy grad", r * 3 + k, tg_grad_get(c, r * 3 + k), w, ce_tol);
        }
    /* mean over the rows, and logits of ±1e4 in every position */
    const double big[6] = {L, L, -L, -L, L, -L};
    const int64_t s2[2] = {2, 3};
    const int32_t lab2[2] = {2, 0};
    tg_tensor *d = make(ctx, dt, 2, s2, big, 1);
    tg_tensor *cm = tg_cross_entropy(d, lab2, TG_MEAN);
    truth("cross_entropy mean", cm && tg_backward(cm) == TG_OK);
    if (cm) near("cross_entropy mean", 0, tg_item(cm), (2 * L + log(2.0) + 2 * L) / 2, rtol);
    for (int i = 0; i < 6; i++) truth("cross_entropy mean: finite gradient", isfinite(tg_grad_get(d, i)));
    /* near-equal large logits: softmax (1, e^-1, e^-2)/Z, computed here */
    const double near_l[3] = {L, L - 1, L - 2};
    const int64_t s3[2] = {1, 3};
    const int32_t lab3[1] = {1};
    tg_tensor *e = make(ctx, dt, 2, s3, near_l, 1);
    tg_tensor *ce3 = tg_cross_entropy(e, lab3, TG_SUM);
    truth("cross_entropy (L, L-1, L-2)", ce3 && tg_backward(ce3) == TG_OK);
    double z = 1 + exp(-1.0) + exp(-2.0);
    if (ce3) near("cross_entropy (L, L-1, L-2)", 0, tg_item(ce3), log(z) + 1, rtol);
    for (int k = 0; k < 3; k++)
        near_g("cross_entropy (L, L-1, L-2) grad", k, tg_grad_get(e, k), exp(-(double)k) / z - (k == 1), ce_tol);
}

/* ---- bce_with_logits ---- */

static void bce(tg_ctx *ctx, tg_dtype dt, double rtol) {
    const double x[8] = {-1e4, -1e4, -100, -1, 0, 1, 1e4, 1e4};
    const double t[8] = {0, 1, 1, 0.5, 0.25, 0, 0, 1};
    const int64_t sh[1] = {8};
    tg_tensor *a = make(ctx, dt, 1, sh, x, 1), *b = make(ctx, dt, 1, sh, t, 1);
    tg_tensor *l = tg_bce_with_logits(a, b, TG_SUM);
    truth("bce_with_logits returns a tensor", l != NULL);
    if (!l) return;
    double want = 0;
    for (int i = 0; i < 8; i++) want += fmax(x[i], 0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
    near("bce_with_logits", 0, tg_item(l), want, rtol);
    truth("bce_with_logits backward", tg_backward(l) == TG_OK);
    for (int i = 0; i < 8; i++) {
        double sig = x[i] >= 0 ? 1 / (1 + exp(-x[i])) : exp(x[i]) / (1 + exp(x[i]));
        near_g("bce_with_logits dx", i, tg_grad_get(a, i), sig - t[i], rtol * 10);
        near("bce_with_logits dt", i, tg_grad_get(b, i), -x[i], rtol);
    }
}

/* ---- subgradients at 0 ---- */

static void at_zero(tg_ctx *ctx, tg_dtype dt) {
    const double z[3] = {0, 0, 0};
    const int64_t sh[1] = {3};
    struct {
        const char *name;
        int kind;
    } cases[] = {{"sqrt", 0}, {"abs", 1}, {"l2 norm sqrt(sum(x^2))", 2}, {"l1_penalty", 3}};
    for (int k = 0; k < 4; k++) {
        tg_tensor *x = make(ctx, dt, 1, sh, z, 1);
        tg_tensor *y = cases[k].kind == 0   ? tg_sqrt(x)
                       : cases[k].kind == 1 ? tg_abs(x)
                       : cases[k].kind == 2 ? tg_sqrt(tg_sum(tg_square(x), 0, NULL, 0))
                                            : tg_l1_penalty(x, TG_SUM);
        char w[96];
        snprintf(w, sizeof w, "%s at 0: a tensor", cases[k].name);
        truth(w, y != NULL);
        if (!y) continue;
        for (int64_t i = 0; i < y->numel; i++) near(cases[k].name, i, tg_get(y, i), 0, 0);
        truth(w, seed(y, NULL) == TG_OK);
        for (int i = 0; i < 3; i++) near(cases[k].name, i, tg_grad_get(x, i), 0, 0);
    }
}

/* ---- NaN propagation ---- */

static void nan_flow(tg_ctx *ctx, tg_dtype dt) {
    const double N = NAN;
    const double v[4] = {N, -1, 0, 2};
    const double zero[4] = {0, 0, 0, 0}, neg[4] = {-5, -5, -5, -5};
    const int64_t sh[1] = {4};
    tg_tensor *x = make(ctx, dt, 1, sh, v, 0), *z = make(ctx, dt, 1, sh, zero, 0), *m = make(ctx, dt, 1, sh, neg, 0);
    tg_tensor *ys[7] = {tg_relu(x), tg_leaky_relu(x, 0.1), tg_maximum(x, z), tg_maximum(z, x),
                        tg_minimum(x, m), tg_minimum(m, x), NULL};
    const char *names[7] = {"relu", "leaky_relu", "maximum(x, 0)", "maximum(0, x)",
                            "minimum(x, -5)", "minimum(-5, x)", NULL};
    for (int k = 0; ys[k] || names[k]; k++) {
        truth(names[k], ys[k] != NULL);
        if (ys[k]) truth(names[k], isnan(tg_get(ys[k], 0)) && !isnan(tg_get(ys[k], 3)));
    }
    tg_tensor *mx = tg_max(x, 0, NULL, 0);
    truth("max over a vector holding NaN is NaN", mx && isnan(tg_item(mx)));
    const double row[6] = {1, 2, 3, 4, 5, N};
    const int64_t s2[2] = {2, 3};
    tg_tensor *r = make(ctx, dt, 2, s2, row, 0);
    tg_tensor *mr = tg_max(r, 1, (int[]){1}, 0);
    truth("max along an axis: NaN only in its row", mr && !isnan(tg_get(mr, 0)) && isnan(tg_get(mr, 1)));
    const double img[16] = {N, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int64_t s4[4] = {1, 1, 4, 4};
    tg_tensor *p = tg_max_pool2d(make(ctx, dt, 4, s4, img, 0), 2, 2, 0, 0, 0, 0);
    truth("max_pool2d: NaN in its window only",
          p && isnan(tg_get(p, 0)) && tg_get(p, 1) == 7 && tg_get(p, 2) == 13 && tg_get(p, 3) == 15);
}

/* ---- saturating and overflowing functions ---- */

static double sigm(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

static void saturation(tg_ctx *ctx, tg_dtype dt, double rtol) {
    const double xs[6] = {-1e4, -100, -1, 1, 100, 1e4};
    const int64_t sh[1] = {6};
    for (int k = 0; k < 5; k++) {
        tg_tensor *x = make(ctx, dt, 1, sh, xs, 1);
        const char *name = (const char *[]){"tanh", "sigmoid", "softplus", "silu", "exp"}[k];
        tg_tensor *y = k == 0 ? tg_tanh(x) : k == 1 ? tg_sigmoid(x) : k == 2 ? tg_softplus(x) : k == 3 ? tg_silu(x) : tg_exp(x);
        truth(name, y != NULL);
        if (!y) continue;
        truth(name, seed(y, NULL) == TG_OK);
        for (int i = 0; i < 6; i++) {
            double v = xs[i], s = sigm(v), f, d;
            switch (k) {
            case 0: f = tanh(v), d = 4 / (exp(v) + exp(-v)) / (exp(v) + exp(-v)); break; /* sech² (0 at ±1e4) */
            case 1: f = s, d = s * sigm(-v); break;
            case 2: f = fmax(v, 0) + log1p(exp(-fabs(v))), d = s; break;
            case 3: f = v * s, d = s + v * s * sigm(-v); break;
            default: f = exp(v), d = exp(v); break;
            }
            if (k == 0 && fabs(v) > 300) d = 0;
            char w[64];
            snprintf(w, sizeof w, "%s(%g)", name, v);
            near(w, i, tg_get(y, i), in_dt(dt, f), rtol);
            snprintf(w, sizeof w, "%s'(%g)", name, v);
            near(w, i, tg_grad_get(x, i), in_dt(dt, d), rtol * 10);
        }
    }
}

int main(void) {
    tg_config cfg = tg_config_default();
    cfg.anomaly = 0; /* these tests make inf on purpose */
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return 1;
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        double rtol = d ? 1e-12 : 2e-6;
        g_dt = tg_dtype_name(dt);
        int before = tl_fail;
        tg_tape *tape = tg_tape_begin(ctx);
        softmax_family(ctx, dt, rtol);
        bce(ctx, dt, rtol);
        at_zero(ctx, dt);
        nan_flow(ctx, dt);
        saturation(ctx, dt, rtol);
        tg_tape_end(tape);
        if (tg_last_status(ctx) != TG_OK) {
            FAILF("%s: an op set an error: %s", g_dt, tg_last_error(ctx));
            tg_clear_error(ctx);
        }
        printf("%s: %d failure(s)\n", g_dt, tl_fail - before);
    }
    tg_ctx_free(ctx);
    return tl_summary();
}
