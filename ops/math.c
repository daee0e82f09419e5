/* math.c: elementwise math: neg, exp, log, sqrt, square, abs, pow.
 * Forward kernels are flat loops the compiler vectorizes, or SLEEF vector
 * maps (core/vmath.h) for exp and log; pow with a general exponent uses
 * SLEEF's u10 scalar pow, with exact shortcuts for the common exponents.
 * Each backward adds dx += dy * f'(x), from the saved output y where that is
 * as accurate. Conventions at points without a derivative: sqrt'(0) = 0 and
 * abs'(0) = 0 (subgradients, so a zero input does not poison training with
 * inf/NaN); NaN inputs give NaN gradients. */
#include "ops_internal.h"
#include "vmath.h"

#include <math.h>
#include <sleef.h>

/* Both dtypes of a loop over n elements: BODY sees T and the typed pointers
 * x (input), y (output), dy (upstream gradient, backward only), dx. */
#define DT_FWD(n, BODY)                      \
    do {                                     \
        const tg_tensor *in_ = (n)->in[0];   \
        int64_t cnt = in_->numel;            \
        if (in_->dtype == TG_F32) {          \
            typedef float T;                 \
            const T *restrict x = in_->data; \
            T *restrict y = (n)->out->data;  \
            BODY                             \
        } else {                             \
            typedef double T;                \
            const T *restrict x = in_->data; \
            T *restrict y = (n)->out->data;  \
            BODY                             \
        }                                    \
    } while (0)

#define DT_BWD(n, BODY)                                                    \
    do {                                                                   \
        tg_tensor *in_ = (n)->in[0];                                       \
        if (!tg_needs_grad(in_)) return TG_OK;                             \
        void *dxv_ = tg_grad_buf(in_);                                     \
        if (!dxv_) return TG_ENOMEM;                                       \
        int64_t cnt = in_->numel;                                          \
        if (in_->dtype == TG_F32) {                                        \
            typedef float T;                                               \
            const T *restrict x = in_->data, *restrict y = (n)->out->data; \
            const T *restrict dy = (n)->out->grad;                         \
            T *restrict dx = dxv_;                                         \
            (void)x, (void)y;                                              \
            BODY                                                           \
        } else {                                                           \
            typedef double T;                                              \
            const T *restrict x = in_->data, *restrict y = (n)->out->data; \
            const T *restrict dy = (n)->out->grad;                         \
            T *restrict dx = dxv_;                                         \
            (void)x, (void)y;                                              \
            BODY                                                           \
        }                                                                  \
    } while (0)

/* sqrt and fabs of the loop's own type (sqrt of a float must not go
 * through double, or the loop stops vectorizing well). */
#define TSQRT(v) _Generic((v), float: sqrtf, default: sqrt)(v)
#define TABS(v) _Generic((v), float: fabsf, default: fabs)(v)

#define UNARY_DEF(op, LO, HI, ...)                                                    \
    const tg_op_def tg_op_##op = {                                                    \
        .name = #op,                                                                  \
        .n_inputs = 1,                                                                \
        .infer = tg__infer_same,                                                      \
        .forward = op##_forward,                                                      \
        .backward = op##_backward,                                                    \
        .check = {.lo = LO,                                                           \
                  .hi = HI,                                                           \
                  .cases = {{"1", NULL}, {"", NULL}, {"3,4", NULL}, {"2,3,5", NULL},  \
                            {"0", NULL}, {"2,0,3", NULL}},                     \
                  .bad = {{"2;2", NULL}},                                             \
                  __VA_ARGS__},                                                       \
    };                                                                                \
    tg_tensor *tg_##op(tg_tensor *x) { return tg_apply(&tg_op_##op, &x, 1, NULL); }

/* ---- neg: y = -x, dx -= dy ---- */

static tg_status neg_forward(tg_node *n) {
    DT_FWD(n, for (int64_t i = 0; i < cnt; i++) y[i] = -x[i];);
    return TG_OK;
}
static tg_status neg_backward(tg_node *n) {
    DT_BWD(n, for (int64_t i = 0; i < cnt; i++) dx[i] -= dy[i];);
    return TG_OK;
}
UNARY_DEF(neg, -2.0, 2.0, .n_kinks = 0)

/* exp and log (the SLEEF maps) run forward and backward through
 * tg__parallel_range: one call for a small tensor, fixed chunks on the pool
 * for a large one; each element depends only on its own inputs, so the
 * result is the same bits at any thread count. RANGE_FN(name, BODY): BODY
 * sees m elements at x, y (and dy, dx in backward), offset to the range. */
#define RANGE_FN(name, BODY)                                                    \
    static void name(void *arg_, int64_t i0, int64_t i1) {                      \
        const tg_node *n = arg_;                                                \
        const int64_t m = i1 - i0;                                              \
        if (n->out->dtype == TG_F32) {                                          \
            typedef float T;                                                    \
            const T *restrict x = (const T *)n->in[0]->data + i0;               \
            T *restrict y = (T *)n->out->data + i0;                             \
            const T *restrict dy = n->out->grad ? (const T *)n->out->grad + i0 : NULL; \
            T *restrict dx = n->in[0]->grad ? (T *)n->in[0]->grad + i0 : NULL;  \
            (void)x, (void)y, (void)dy, (void)dx;                               \
            BODY(f32)                                                           \
        } else {                                                                \
            typedef double T;                                                   \
            const T *restrict x = (const T *)n->in[0]->data + i0;               \
            T *restrict y = (T *)n->out->data + i0;                             \
            const T *restrict dy = n->out->grad ? (const T *)n->out->grad + i0 : NULL; \
            T *restrict dx = n->in[0]->grad ? (T *)n->in[0]->grad + i0 : NULL;  \
            (void)x, (void)y, (void)dy, (void)dx;                               \
            BODY(f64)                                                           \
        }                                                                       \
    }

static tg_status range_fw(tg_node *n, tg__range_fn k) {
    tg__parallel_range(n->ctx, n->out->numel, k, n);
    return TG_OK;
}
static tg_status range_bw(tg_node *n, tg__range_fn k) {
    if (!tg_needs_grad(n->in[0])) return TG_OK;
    if (!tg_grad_buf(n->in[0])) return TG_ENOMEM;
    tg__parallel_range(n->ctx, n->out->numel, k, n);
    return TG_OK;
}

/* ---- exp: y = e^x, dx += dy y ---- */

#define EXP_FW(S) tg__vexp_##S(x, y, m);
#define EXP_BW(S) for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * y[i];
RANGE_FN(exp_fw, EXP_FW)
RANGE_FN(exp_bw, EXP_BW)
static tg_status exp_forward(tg_node *n) { return range_fw(n, exp_fw); }
static tg_status exp_backward(tg_node *n) { return range_bw(n, exp_bw); }
UNARY_DEF(exp, -2.0, 2.0, .n_kinks = 0)

/* ---- log: y = ln x, dx += dy / x (x <= 0 gives -inf / NaN, as in C) ---- */

#define LOG_FW(S) tg__vlog_##S(x, y, m);
#define LOG_BW(S) for (int64_t i = 0; i < m; i++) dx[i] += dy[i] / x[i];
RANGE_FN(log_fw, LOG_FW)
RANGE_FN(log_bw, LOG_BW)
static tg_status log_forward(tg_node *n) { return range_fw(n, log_fw); }
static tg_status log_backward(tg_node *n) { return range_bw(n, log_bw); }
UNARY_DEF(log, 0.2, 3.0, .n_kinks = 0)

/* ---- sqrt: y = √x, dx += dy / (2y); 0 where y = 0 (subgradient) ----
 * sqrt is exactly rounded in hardware, and vectorizes (-fno-math-errno). */

static tg_status sqrt_forward(tg_node *n) {
    DT_FWD(n, for (int64_t i = 0; i < cnt; i++) y[i] = TSQRT(x[i]););
    return TG_OK;
}
static tg_status sqrt_backward(tg_node *n) {
    DT_BWD(n, for (int64_t i = 0; i < cnt; i++) {
        const T g = dy[i] * ((T)0.5 / y[i]);
        dx[i] += TG_SEL(y[i] == 0, (T)0, g); /* vectorizes (core/vmath.h) */
    });
    return TG_OK;
}
UNARY_DEF(sqrt, 0.2, 3.0, .n_kinks = 0)

/* ---- square: y = x², dx += 2 dy x ---- */

static tg_status square_forward(tg_node *n) {
    DT_FWD(n, for (int64_t i = 0; i < cnt; i++) y[i] = x[i] * x[i];);
    return TG_OK;
}
static tg_status square_backward(tg_node *n) {
    DT_BWD(n, for (int64_t i = 0; i < cnt; i++) dx[i] += (T)2 * dy[i] * x[i];);
    return TG_OK;
}
UNARY_DEF(square, -2.0, 2.0, .n_kinks = 0)

/* ---- abs: y = |x|, dx += dy sign(x) with sign(0) = 0, sign(NaN) = NaN ---- */

static tg_status abs_forward(tg_node *n) {
    DT_FWD(n, for (int64_t i = 0; i < cnt; i++) y[i] = TABS(x[i]););
    return TG_OK;
}
static tg_status abs_backward(tg_node *n) {
    DT_BWD(n, for (int64_t i = 0; i < cnt; i++) {
        const T v = x[i];
        const T s = v > 0 ? (T)1 : v < 0 ? (T)-1 : v == 0 ? (T)0 : v;
        dx[i] += dy[i] * s;
    });
    return TG_OK;
}
UNARY_DEF(abs, -2.0, 2.0, .kinks = {0.0}, .n_kinks = 1, .kink_gap = 1e-3)

/* ---- pow: y = x^p for a constant p, dx += dy p x^(p-1) ----
 * p = 0 gives y = 1 and gradient 0 everywhere (also at x = 0). Negative x
 * with a non-integer p gives NaN, as C's pow. The shortcuts below are exact
 * or correctly rounded, the general case is SLEEF's pow (1.0 ULP). */

typedef struct pow_attr {
    double p; /* the exponent; must be finite */
} pow_attr;

static tg_status pow_infer(tg_node *n, tg_out_spec *out) {
    const pow_attr *at = n->attr;
    if (!isfinite(at->p))
        return tg__error(n->ctx, TG_EINVAL, "pow: exponent must be finite, got %g (input %s)",
                         at->p, tg__sh(n->in[0]));
    return tg__infer_same(n, out);
}

static tg_status pow_forward(tg_node *n) {
    const double p = ((const pow_attr *)n->attr)->p;
    if (n->in[0]->dtype == TG_F32) {
        const float *restrict x = n->in[0]->data;
        float *restrict y = n->out->data;
        const float pf = (float)p;
        int64_t cnt = n->out->numel;
        if (p == 0) for (int64_t i = 0; i < cnt; i++) y[i] = 1.0f;
        else if (p == 1) for (int64_t i = 0; i < cnt; i++) y[i] = x[i];
        else if (p == 2) for (int64_t i = 0; i < cnt; i++) y[i] = x[i] * x[i];
        else if (p == 0.5) for (int64_t i = 0; i < cnt; i++) y[i] = sqrtf(x[i]);
        else if (p == -1) for (int64_t i = 0; i < cnt; i++) y[i] = 1.0f / x[i];
        else if ((double)pf == p) for (int64_t i = 0; i < cnt; i++) y[i] = Sleef_powf_u10(x[i], pf);
        else for (int64_t i = 0; i < cnt; i++) y[i] = (float)Sleef_pow_u10((double)x[i], p);
    } else {
        const double *restrict x = n->in[0]->data;
        double *restrict y = n->out->data;
        int64_t cnt = n->out->numel;
        if (p == 0) for (int64_t i = 0; i < cnt; i++) y[i] = 1.0;
        else if (p == 1) for (int64_t i = 0; i < cnt; i++) y[i] = x[i];
        else if (p == 2) for (int64_t i = 0; i < cnt; i++) y[i] = x[i] * x[i];
        else if (p == 0.5) for (int64_t i = 0; i < cnt; i++) y[i] = sqrt(x[i]);
        else if (p == -1) for (int64_t i = 0; i < cnt; i++) y[i] = 1.0 / x[i];
        else for (int64_t i = 0; i < cnt; i++) y[i] = Sleef_pow_u10(x[i], p);
    }
    return TG_OK;
}

static tg_status pow_backward(tg_node *n) {
    const double p = ((const pow_attr *)n->attr)->p;
    if (p == 0) return TG_OK; /* x^0 = 1: nothing flows back */
    if (n->in[0]->dtype == TG_F32) {
        /* p x^(p-1) in double: f32 exponents like 2.5 and the factor p lose
         * nothing, and the result matches the f64 kernel to f32 rounding. */
        DT_BWD(n, {
            if (p == 1) for (int64_t i = 0; i < cnt; i++) dx[i] += dy[i];
            else if (p == 2) for (int64_t i = 0; i < cnt; i++) dx[i] += 2.0f * dy[i] * x[i];
            else if (p == -1) for (int64_t i = 0; i < cnt; i++) dx[i] -= dy[i] * (y[i] * y[i]);
            else for (int64_t i = 0; i < cnt; i++)
                dx[i] += (T)((double)dy[i] * p * Sleef_pow_u10((double)x[i], p - 1));
        });
    } else {
        DT_BWD(n, {
            if (p == 1) for (int64_t i = 0; i < cnt; i++) dx[i] += dy[i];
            else if (p == 2) for (int64_t i = 0; i < cnt; i++) dx[i] += 2.0 * dy[i] * x[i];
            else if (p == -1) for (int64_t i = 0; i < cnt; i++) dx[i] -= dy[i] * (y[i] * y[i]);
            else for (int64_t i = 0; i < cnt; i++) dx[i] += dy[i] * p * Sleef_pow_u10(x[i], p - 1);
        });
    }
    return TG_OK;
}

static const pow_attr pow_p2 = {2.0}, pow_p25 = {2.5}, pow_pm15 = {-1.5}, pow_p3 = {3.0},
                      pow_ph = {0.5}, pow_pm1 = {-1.0}, pow_p1 = {1.0};
static const pow_attr pow_pinf = {INFINITY}, pow_pnan = {NAN};

const tg_op_def tg_op_pow = {
    .name = "pow",
    .n_inputs = 1,
    .attr_size = sizeof(pow_attr),
    .infer = pow_infer,
    .forward = pow_forward,
    .backward = pow_backward,
    .check = {.lo = 0.2,
              .hi = 3.0,
              .cases = {{"1", &pow_p25}, {"", &pow_pm15}, {"3,4", &pow_p3}, {"2,3,5", &pow_ph},
                        {"4", &pow_p2}, {"2,2", &pow_pm1}, {"3", &pow_p1}, {"0", &pow_p2}, {"3,0", &pow_pm15}},
              .bad = {{"2", &pow_pinf}, {"2,3", &pow_pnan}, {"2;2", &pow_p2}}},
};

tg_tensor *tg_pow(tg_tensor *x, double p) {
    pow_attr at = {p};
    return tg_apply(&tg_op_pow, &x, 1, &at);
}
