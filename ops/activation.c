/* activation.c: elementwise activations. Each forward runs a SLEEF vector map
 * where a transcendental function is involved; each backward accumulates
 * dx += dy * f'(x), written in terms of the saved output y where that is
 * cheaper and as accurate, and otherwise recomputing what it needs from x in
 * stack chunks of CHUNK elements (no allocation in backward).
 *
 * Numerics: sigmoid, silu, softplus and gelu_tanh are built on
 * e = exp(-|v|), which never overflows, so they stay finite with finite
 * gradients for any finite x. gelu (erf form) cancels in 1 + erf(x/√2) for
 * negative x; its f32 kernels therefore run in f64 chunks, which keeps f32
 * results within an ulp or two of the f64 ones. NaN inputs give NaN outputs
 * in every op. */
#include "internal.h"
#include "vmath.h"

#include <math.h>

#define CHUNK 256

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Attribute block of leaky_relu and elu. */
typedef struct {
    double alpha;
} alpha_attr;

/* ---- shared kernel: s = σ(x) = 1/(1+e^-x), stable, x and s distinct ---- */

#define SIGMOID_DEF(T, S)                                                    \
    static void sigmoid_##S(const T *x, T *s, int64_t n) {                  \
        for (int64_t i = 0; i < n; i++) s[i] = x[i] < 0 ? x[i] : -x[i];      \
        tg__vexp_##S(s, s, n);                                               \
        for (int64_t i = 0; i < n; i++) {                                    \
            T e = s[i], r = (T)1 / ((T)1 + e);                               \
            s[i] = x[i] >= 0 ? r : e * r;                                    \
        }                                                                    \
    }
SIGMOID_DEF(float, f32)
SIGMOID_DEF(double, f64)

/* The bad case shared by the attribute-free unary ops: two inputs. */
#define UNARY_BAD {{"2,3;2,3"}}

/* ---- tanh: y = tanh x, dx += dy (1 - y²) ---- */

static tg_status tanh_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    if (x->dtype == TG_F32) tg__vtanh_f32(x->data, n->out->data, x->numel);
    else tg__vtanh_f64(x->data, n->out->data, x->numel);
    return TG_OK;
}

#define TANH_BW(T)                                                           \
    {                                                                        \
        const T *y = n->out->data, *dy = n->out->grad;                       \
        T *dx = tg_grad_buf(n->in[0]);                                       \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += dy[i] * ((T)1 - y[i] * y[i]); \
    }
static tg_status tanh_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) TANH_BW(float) else TANH_BW(double)
    return TG_OK;
}

const tg_op_def tg_op_tanh = {
    .name = "tanh",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = tanh_forward,
    .backward = tanh_backward,
    .check = {.lo = -3, .hi = 3, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_tanh(tg_tensor *x) { return tg_apply(&tg_op_tanh, &x, 1, NULL); }

/* ---- sigmoid: y = σ(x), dx += dy y (1 - y) ---- */

static tg_status sigmoid_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    if (x->dtype == TG_F32) sigmoid_f32(x->data, n->out->data, x->numel);
    else sigmoid_f64(x->data, n->out->data, x->numel);
    return TG_OK;
}

#define SIGMOID_BW(T)                                                        \
    {                                                                        \
        const T *y = n->out->data, *dy = n->out->grad;                       \
        T *dx = tg_grad_buf(n->in[0]);                                       \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += dy[i] * y[i] * ((T)1 - y[i]); \
    }
static tg_status sigmoid_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) SIGMOID_BW(float) else SIGMOID_BW(double)
    return TG_OK;
}

const tg_op_def tg_op_sigmoid = {
    .name = "sigmoid",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .check = {.lo = -6, .hi = 6, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_sigmoid(tg_tensor *x) { return tg_apply(&tg_op_sigmoid, &x, 1, NULL); }

/* ---- relu: y = x > 0 ? x : 0 (NaN stays NaN), dx += x > 0 ? dy : 0 ---- */

#define RELU_FW(T)                                                           \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data;                                                 \
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] <= 0 ? (T)0 : x[i]; \
    }
static tg_status relu_forward(tg_node *n) {
    if (n->out->dtype == TG_F32) RELU_FW(float) else RELU_FW(double)
    return TG_OK;
}

#define RELU_BW(T)                                                           \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]);                                       \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += x[i] > 0 ? dy[i] : (T)0; \
    }
static tg_status relu_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) RELU_BW(float) else RELU_BW(double)
    return TG_OK;
}

const tg_op_def tg_op_relu = {
    .name = "relu",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = relu_forward,
    .backward = relu_backward,
    .check = {.lo = -3, .hi = 3, .kinks = {0}, .n_kinks = 1, .kink_gap = 1e-2,
              .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_relu(tg_tensor *x) { return tg_apply(&tg_op_relu, &x, 1, NULL); }

/* ---- attribute check shared by leaky_relu and elu ---- */

static tg_status infer_alpha(tg_node *n, tg_out_spec *out) {
    const alpha_attr *a = n->attr;
    if (!isfinite(a->alpha))
        return tg__error(n->ctx, TG_EINVAL, "%s: alpha must be finite, got %g (input %s)",
                         n->op->name, a->alpha, tg__sh(n->in[0]));
    return tg__infer_same(n, out);
}

/* ---- leaky_relu: y = x > 0 ? x : αx, dx += dy (x > 0 ? 1 : α) ---- */

#define LEAKY_FW(T)                                                          \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data, al = (T)a->alpha;                               \
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] > 0 ? x[i] : al * x[i]; \
    }
static tg_status leaky_relu_forward(tg_node *n) {
    const alpha_attr *a = n->attr;
    if (n->out->dtype == TG_F32) LEAKY_FW(float) else LEAKY_FW(double)
    return TG_OK;
}

#define LEAKY_BW(T)                                                          \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]), al = (T)a->alpha;                     \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += x[i] > 0 ? dy[i] : al * dy[i]; \
    }
static tg_status leaky_relu_backward(tg_node *n) {
    const alpha_attr *a = n->attr;
    if (n->out->dtype == TG_F32) LEAKY_BW(float) else LEAKY_BW(double)
    return TG_OK;
}

static const alpha_attr leaky_a01 = {0.01}, leaky_a2 = {0.2}, leaky_a0 = {0.0},
                        alpha_nan = {NAN}, alpha_inf = {INFINITY};
const tg_op_def tg_op_leaky_relu = {
    .name = "leaky_relu",
    .n_inputs = 1,
    .attr_size = sizeof(alpha_attr),
    .infer = infer_alpha,
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
    .check = {.lo = -3, .hi = 3, .kinks = {0}, .n_kinks = 1, .kink_gap = 1e-2,
              .cases = {{"1", &leaky_a2}, {"3,4", &leaky_a01}, {"", &leaky_a2}, {"2,3,5", &leaky_a0}},
              .bad = {{"3", &alpha_nan}, {"2,2", &alpha_inf}, {"2,3;2,3", &leaky_a2}}},
};
tg_tensor *tg_leaky_relu(tg_tensor *x, double alpha) {
    alpha_attr a = {alpha};
    return tg_apply(&tg_op_leaky_relu, &x, 1, &a);
}

/* ---- elu: y = x > 0 ? x : α(e^x - 1), dx += dy (x > 0 ? 1 : α e^x) ---- */

#define ELU_FW(T, S)                                                         \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data, al = (T)a->alpha;                               \
        tg__vexpm1_##S(x, y, n->out->numel);                                 \
        for (int64_t i = 0; i < n->out->numel; i++) y[i] = x[i] > 0 ? x[i] : al * y[i]; \
    }
static tg_status elu_forward(tg_node *n) {
    const alpha_attr *a = n->attr;
    if (n->out->dtype == TG_F32) ELU_FW(float, f32) else ELU_FW(double, f64)
    return TG_OK;
}

/* α e^x is recomputed from x: y + α would cancel for very negative x. */
#define ELU_BW(T, S)                                                         \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]), al = (T)a->alpha, e[CHUNK];           \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i0 = 0; i0 < n->out->numel; i0 += CHUNK) {              \
            int64_t m = min64(CHUNK, n->out->numel - i0);                    \
            for (int64_t j = 0; j < m; j++) e[j] = x[i0 + j] > 0 ? (T)0 : x[i0 + j]; \
            tg__vexp_##S(e, e, m);                                           \
            for (int64_t j = 0; j < m; j++)                                  \
                dx[i0 + j] += x[i0 + j] > 0 ? dy[i0 + j] : dy[i0 + j] * al * e[j]; \
        }                                                                    \
    }
static tg_status elu_backward(tg_node *n) {
    const alpha_attr *a = n->attr;
    if (n->out->dtype == TG_F32) ELU_BW(float, f32) else ELU_BW(double, f64)
    return TG_OK;
}

static const alpha_attr elu_a1 = {1.0}, elu_a05 = {0.5}, elu_a2 = {2.0};
const tg_op_def tg_op_elu = {
    .name = "elu",
    .n_inputs = 1,
    .attr_size = sizeof(alpha_attr),
    .infer = infer_alpha,
    .forward = elu_forward,
    .backward = elu_backward,
    .check = {.lo = -4, .hi = 3, .kinks = {0}, .n_kinks = 1, .kink_gap = 1e-2,
              .cases = {{"1", &elu_a1}, {"3,4", &elu_a05}, {"", &elu_a2}, {"2,3,5", &elu_a1}},
              .bad = {{"3", &alpha_nan}, {"2,2", &alpha_inf}, {"2,3;2,3", &elu_a1}}},
};
tg_tensor *tg_elu(tg_tensor *x, double alpha) {
    alpha_attr a = {alpha};
    return tg_apply(&tg_op_elu, &x, 1, &a);
}

/* ---- softplus: y = max(x,0) + log1p(e^-|x|), dx += dy σ(x) ---- */

#define SOFTPLUS_FW(T, S)                                                    \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data;                                                 \
        int64_t N = n->out->numel;                                           \
        for (int64_t i = 0; i < N; i++) y[i] = x[i] < 0 ? x[i] : -x[i];      \
        tg__vexp_##S(y, y, N);                                               \
        tg__vlog1p_##S(y, y, N);                                             \
        for (int64_t i = 0; i < N; i++) y[i] += x[i] > 0 ? x[i] : (T)0;      \
    }
static tg_status softplus_forward(tg_node *n) {
    if (n->out->dtype == TG_F32) SOFTPLUS_FW(float, f32) else SOFTPLUS_FW(double, f64)
    return TG_OK;
}

#define SOFTPLUS_BW(T, S)                                                    \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]), s[CHUNK];                             \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i0 = 0; i0 < n->out->numel; i0 += CHUNK) {              \
            int64_t m = min64(CHUNK, n->out->numel - i0);                    \
            sigmoid_##S(x + i0, s, m);                                       \
            for (int64_t j = 0; j < m; j++) dx[i0 + j] += dy[i0 + j] * s[j]; \
        }                                                                    \
    }
static tg_status softplus_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) SOFTPLUS_BW(float, f32) else SOFTPLUS_BW(double, f64)
    return TG_OK;
}

const tg_op_def tg_op_softplus = {
    .name = "softplus",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = softplus_forward,
    .backward = softplus_backward,
    .check = {.lo = -6, .hi = 6, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_softplus(tg_tensor *x) { return tg_apply(&tg_op_softplus, &x, 1, NULL); }

/* ---- silu: y = x σ(x), dx += dy σ(x) (1 + x (1 - σ(x))) ---- */

#define SILU_FW(T, S)                                                        \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data;                                                 \
        sigmoid_##S(x, y, n->out->numel);                                    \
        for (int64_t i = 0; i < n->out->numel; i++) y[i] *= x[i];            \
    }
static tg_status silu_forward(tg_node *n) {
    if (n->out->dtype == TG_F32) SILU_FW(float, f32) else SILU_FW(double, f64)
    return TG_OK;
}

#define SILU_BW(T, S)                                                        \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]), s[CHUNK];                             \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i0 = 0; i0 < n->out->numel; i0 += CHUNK) {              \
            int64_t m = min64(CHUNK, n->out->numel - i0);                    \
            sigmoid_##S(x + i0, s, m);                                       \
            for (int64_t j = 0; j < m; j++)                                  \
                dx[i0 + j] += dy[i0 + j] * s[j] * ((T)1 + x[i0 + j] * ((T)1 - s[j])); \
        }                                                                    \
    }
static tg_status silu_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) SILU_BW(float, f32) else SILU_BW(double, f64)
    return TG_OK;
}

const tg_op_def tg_op_silu = {
    .name = "silu",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = silu_forward,
    .backward = silu_backward,
    .check = {.lo = -5, .hi = 5, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_silu(tg_tensor *x) { return tg_apply(&tg_op_silu, &x, 1, NULL); }

/* ---- gelu (erf form): y = ½x(1 + erf(x/√2)) = x Φ(x),
 *      dx += dy (Φ(x) + x φ(x)), φ(x) = e^{-x²/2}/√(2π) ---- */

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* f64 kernels on arrays; the f32 ops call them on converted chunks. */
static void gelu_fw_f64(const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * INV_SQRT2;
    tg__verf_f64(y, y, n);
    for (int64_t i = 0; i < n; i++) y[i] = 0.5 * x[i] * (1.0 + y[i]);
}
/* d = Φ(x) + x φ(x); t is scratch of n. */
static void gelu_deriv_f64(const double *x, double *d, double *t, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        d[i] = x[i] * INV_SQRT2;
        t[i] = -0.5 * x[i] * x[i];
    }
    tg__verf_f64(d, d, n);
    tg__vexp_f64(t, t, n);
    for (int64_t i = 0; i < n; i++) d[i] = 0.5 * (1.0 + d[i]) + x[i] * INV_SQRT_2PI * t[i];
}

static tg_status gelu_forward(tg_node *n) {
    int64_t N = n->out->numel;
    if (n->out->dtype == TG_F64) {
        gelu_fw_f64(n->in[0]->data, n->out->data, N);
        return TG_OK;
    }
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    double xd[CHUNK], yd[CHUNK];
    for (int64_t i0 = 0; i0 < N; i0 += CHUNK) {
        int64_t m = min64(CHUNK, N - i0);
        for (int64_t j = 0; j < m; j++) xd[j] = x[i0 + j];
        gelu_fw_f64(xd, yd, m);
        for (int64_t j = 0; j < m; j++) y[i0 + j] = (float)yd[j];
    }
    return TG_OK;
}

static tg_status gelu_backward(tg_node *n) {
    int64_t N = n->out->numel;
    double xd[CHUNK], d[CHUNK], t[CHUNK];
    if (n->out->dtype == TG_F64) {
        const double *x = n->in[0]->data, *dy = n->out->grad;
        double *dx = tg_grad_buf(n->in[0]);
        if (!dx) return TG_ENOMEM;
        for (int64_t i0 = 0; i0 < N; i0 += CHUNK) {
            int64_t m = min64(CHUNK, N - i0);
            gelu_deriv_f64(x + i0, d, t, m);
            for (int64_t j = 0; j < m; j++) dx[i0 + j] += dy[i0 + j] * d[j];
        }
    } else {
        const float *x = n->in[0]->data, *dy = n->out->grad;
        float *dx = tg_grad_buf(n->in[0]);
        if (!dx) return TG_ENOMEM;
        for (int64_t i0 = 0; i0 < N; i0 += CHUNK) {
            int64_t m = min64(CHUNK, N - i0);
            for (int64_t j = 0; j < m; j++) xd[j] = x[i0 + j];
            gelu_deriv_f64(xd, d, t, m);
            for (int64_t j = 0; j < m; j++) dx[i0 + j] += dy[i0 + j] * (float)d[j];
        }
    }
    return TG_OK;
}

const tg_op_def tg_op_gelu = {
    .name = "gelu",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .check = {.lo = -4, .hi = 4, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_gelu(tg_tensor *x) { return tg_apply(&tg_op_gelu, &x, 1, NULL); }

/* ---- gelu_tanh: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³).
 * Since ½(1 + tanh u) = σ(2u), y = x σ(v) with v = 2u, which does not cancel
 * for negative x. dx += dy (σ(v) + x σ(v) σ(-v) v'), v' = 2√(2/π)(1 + 3·0.044715x²).
 * σ(v) and σ(-v) both come from e = exp(-|v|) without subtraction. ---- */

#define GT_C 0.79788456080286535588 /* √(2/π) */
#define GT_K 0.044715

/* s = σ(v), sm = σ(-v) from v (sm may be NULL); e is scratch; all length n. */
#define GT_SIG_DEF(T, S)                                                     \
    static void gt_sig_##S(const T *x, T *s, T *sm, T *e, int64_t n) {       \
        for (int64_t i = 0; i < n; i++) {                                    \
            T v = (T)(2 * GT_C) * (x[i] + (T)GT_K * x[i] * x[i] * x[i]);     \
            s[i] = v;                                                        \
            e[i] = v < 0 ? v : -v;                                           \
        }                                                                    \
        tg__vexp_##S(e, e, n);                                               \
        for (int64_t i = 0; i < n; i++) {                                    \
            T r = (T)1 / ((T)1 + e[i]), big = r, small = e[i] * r;           \
            int pos = s[i] >= 0;                                             \
            s[i] = pos ? big : small;                                        \
            if (sm) sm[i] = pos ? small : big;                               \
        }                                                                    \
    }
GT_SIG_DEF(float, f32)
GT_SIG_DEF(double, f64)

#define GELU_TANH_FW(T, S)                                                   \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data, e[CHUNK];                                       \
        for (int64_t i0 = 0; i0 < n->out->numel; i0 += CHUNK) {              \
            int64_t m = min64(CHUNK, n->out->numel - i0);                    \
            gt_sig_##S(x + i0, y + i0, NULL, e, m);                          \
            for (int64_t j = 0; j < m; j++) y[i0 + j] *= x[i0 + j];          \
        }                                                                    \
    }
static tg_status gelu_tanh_forward(tg_node *n) {
    if (n->out->dtype == TG_F32) GELU_TANH_FW(float, f32) else GELU_TANH_FW(double, f64)
    return TG_OK;
}

/* The x σ σ' v' term is skipped where σ(-v) is 0, so |x| so large that v'
 * overflows still gives the exact gradient 1 (or 0) instead of 0·inf. */
#define GELU_TANH_BW(T, S)                                                   \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        T *dx = tg_grad_buf(n->in[0]), s[CHUNK], sm[CHUNK], e[CHUNK];        \
        if (!dx) return TG_ENOMEM;                                           \
        for (int64_t i0 = 0; i0 < n->out->numel; i0 += CHUNK) {              \
            int64_t m = min64(CHUNK, n->out->numel - i0);                    \
            gt_sig_##S(x + i0, s, sm, e, m);                                 \
            for (int64_t j = 0; j < m; j++) {                                \
                T xv = x[i0 + j], p = s[j] * sm[j], d = s[j];                \
                if (p != 0)                                                  \
                    d += xv * p * (T)(2 * GT_C) * ((T)1 + (T)(3 * GT_K) * xv * xv); \
                dx[i0 + j] += dy[i0 + j] * d;                                \
            }                                                                \
        }                                                                    \
    }
static tg_status gelu_tanh_backward(tg_node *n) {
    if (n->out->dtype == TG_F32) GELU_TANH_BW(float, f32) else GELU_TANH_BW(double, f64)
    return TG_OK;
}

const tg_op_def tg_op_gelu_tanh = {
    .name = "gelu_tanh",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = gelu_tanh_forward,
    .backward = gelu_tanh_backward,
    .check = {.lo = -4, .hi = 4, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_gelu_tanh(tg_tensor *x) { return tg_apply(&tg_op_gelu_tanh, &x, 1, NULL); }

/* ---- step: y = x > 0 ? 1 : 0 (NaN stays NaN). No gradient: backward is
 * NULL, so tg_backward through it fails with TG_ENOGRAD. ---- */

#define STEP_FW(T)                                                           \
    {                                                                        \
        const T *x = n->in[0]->data;                                         \
        T *y = n->out->data;                                                 \
        for (int64_t i = 0; i < n->out->numel; i++)                          \
            y[i] = x[i] > 0 ? (T)1 : x[i] <= 0 ? (T)0 : x[i];                \
    }
static tg_status step_forward(tg_node *n) {
    if (n->out->dtype == TG_F32) STEP_FW(float) else STEP_FW(double)
    return TG_OK;
}

const tg_op_def tg_op_step = {
    .name = "step",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = step_forward,
    .backward = NULL,
    .check = {.lo = -3, .hi = 3, .kinks = {0}, .n_kinks = 1, .kink_gap = 1e-2,
              .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_step(tg_tensor *x) { return tg_apply(&tg_op_step, &x, 1, NULL); }
