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
 * in every op.
 *
 * The ops built on SLEEF (tanh, sigmoid, elu, softplus, silu, gelu,
 * gelu_tanh) write their kernels over a range [i0, i1) of the elements and
 * run them through tg__parallel_range: one call for a small tensor, fixed
 * chunks on the thread pool for a large one (core/vmath.h). Every element is
 * computed from its own inputs by the same instructions either way, so the
 * result is bitwise the same at any thread count. A backward fetches the
 * input's gradient buffer (tg_grad_buf) before the split; the kernels then
 * write n->in[0]->grad. tanh, sigmoid and relu fetch it with
 * tg_grad_buf_fresh and assign instead of adding when nothing wrote it yet
 * in this pass (no zeroing pass over the buffer). */
#include "ops_internal.h"
#include "vmath.h"

#include <math.h>

#define CHUNK 256

/* Attribute block of leaky_relu and elu. */
typedef struct {
    double alpha;
} alpha_attr;

/* ---- shared kernel: s = σ(x) = 1/(1+e^-x), stable, x and s distinct ----
 * Selects between computed values are written TG_SEL(c, a, b) (core/vmath.h)
 * instead of c ? a : b, which GCC leaves scalar and branchy. */

#define SIGMOID_DEF(T, S)                                                    \
    static void sigmoid_##S(const T *restrict x, T *restrict s, int64_t n) { \
        for (int64_t i = 0; i < n; i++) s[i] = x[i] < 0 ? x[i] : -x[i];      \
        tg__vexp_##S(s, s, n);                                               \
        for (int64_t i = 0; i < n; i++) {                                    \
            T e = s[i], r = (T)1 / ((T)1 + e), er = e * r;                   \
            s[i] = TG_SEL(x[i] >= 0, r, er);                                 \
        }                                                                    \
    }
SIGMOID_DEF(float, f32)
SIGMOID_DEF(double, f64)

/* Range kernels. BODY(T, S) sees m = i1 - i0 and pointers already offset to
 * the range: x (input) and y (output); in backward kernels also dy (the
 * output's gradient) and dx (the input's gradient). */
#define RANGE_FW(name, BODY)                                                 \
    static void name(void *arg_, int64_t i0, int64_t i1) {                   \
        const tg_node *n = arg_;                                             \
        const int64_t m = i1 - i0;                                           \
        (void)n;                                                             \
        if (n->out->dtype == TG_F32) {                                       \
            const float *x = (const float *)n->in[0]->data + i0;             \
            float *y = (float *)n->out->data + i0;                           \
            BODY(float, f32)                                                 \
        } else {                                                             \
            const double *x = (const double *)n->in[0]->data + i0;           \
            double *y = (double *)n->out->data + i0;                         \
            BODY(double, f64)                                                \
        }                                                                    \
    }
#define RANGE_BW(name, BODY)                                                 \
    static void name(void *arg_, int64_t i0, int64_t i1) {                   \
        const tg_node *n = arg_;                                             \
        const int64_t m = i1 - i0;                                           \
        if (n->out->dtype == TG_F32) {                                       \
            const float *x = (const float *)n->in[0]->data + i0;             \
            const float *y = (const float *)n->out->data + i0;               \
            const float *dy = (const float *)n->out->grad + i0;              \
            float *dx = (float *)n->in[0]->grad + i0;                        \
            (void)x, (void)y;                                                \
            BODY(float, f32)                                                 \
        } else {                                                             \
            const double *x = (const double *)n->in[0]->data + i0;           \
            const double *y = (const double *)n->out->data + i0;             \
            const double *dy = (const double *)n->out->grad + i0;            \
            double *dx = (double *)n->in[0]->grad + i0;                      \
            (void)x, (void)y;                                                \
            BODY(double, f64)                                                \
        }                                                                    \
    }

static tg_status run_fw(tg_node *n, tg__range_fn k) {
    tg__parallel_range(n->ctx, n->out->numel, k, n);
    return TG_OK;
}
static tg_status run_bw(tg_node *n, tg__range_fn k) {
    if (!tg_grad_buf(n->in[0])) return TG_ENOMEM;
    tg__parallel_range(n->ctx, n->out->numel, k, n);
    return TG_OK;
}
/* The same with an assigning twin `set` of the kernel, run when the input's
 * gradient buffer is fresh (tg_grad_buf_fresh): no zeroing, no reading. */
static tg_status run_bw_set(tg_node *n, tg__range_fn add, tg__range_fn set) {
    int fresh;
    if (!tg_grad_buf_fresh(n->in[0], &fresh)) return TG_ENOMEM;
    tg__parallel_range(n->ctx, n->out->numel, fresh ? set : add, n);
    return TG_OK;
}

/* The bad case shared by the attribute-free unary ops: two inputs. */
#define UNARY_BAD {{"2,3;2,3"}}

/* ---- tanh: y = tanh x, dx += dy (1 - y²) ---- */

#define TANH_FW(T, S) tg__vtanh_##S(x, y, m);
RANGE_FW(tanh_fw, TANH_FW)
#define TANH_D(T) (dy[i] * ((T)1 - y[i] * y[i]))
#define TANH_BW(T, S) for (int64_t i = 0; i < m; i++) dx[i] += TANH_D(T);
#define TANH_SET(T, S) for (int64_t i = 0; i < m; i++) dx[i] = TANH_D(T);
RANGE_BW(tanh_bw, TANH_BW)
RANGE_BW(tanh_bw_set, TANH_SET)
static tg_status tanh_forward(tg_node *n) { return run_fw(n, tanh_fw); }
static tg_status tanh_backward(tg_node *n) { return run_bw_set(n, tanh_bw, tanh_bw_set); }

const tg_op_def tg_op_tanh = {
    .name = "tanh",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = tanh_forward,
    .backward = tanh_backward,
    .check = {.lo = -3, .hi = 3, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_tanh(tg_tensor *x) { return tg_apply(&tg_op_tanh, &x, 1, NULL); }

/* ---- sigmoid: y = σ(x), dx += dy y (1 - y) ---- */

#define SIGMOID_FW(T, S) sigmoid_##S(x, y, m);
RANGE_FW(sigmoid_fw, SIGMOID_FW)
#define SIGMOID_D(T) (dy[i] * y[i] * ((T)1 - y[i]))
#define SIGMOID_BW(T, S) for (int64_t i = 0; i < m; i++) dx[i] += SIGMOID_D(T);
#define SIGMOID_SET(T, S) for (int64_t i = 0; i < m; i++) dx[i] = SIGMOID_D(T);
RANGE_BW(sigmoid_bw, SIGMOID_BW)
RANGE_BW(sigmoid_bw_set, SIGMOID_SET)
static tg_status sigmoid_forward(tg_node *n) { return run_fw(n, sigmoid_fw); }
static tg_status sigmoid_backward(tg_node *n) { return run_bw_set(n, sigmoid_bw, sigmoid_bw_set); }

const tg_op_def tg_op_sigmoid = {
    .name = "sigmoid",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .check = {.lo = -6, .hi = 6, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
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

#define RELU_D(T) (x[i] > 0 ? dy[i] : (T)0)
#define RELU_BW(T)                                                           \
    {                                                                        \
        const T *x = n->in[0]->data, *dy = n->out->grad;                     \
        int fresh;                                                           \
        T *dx = tg_grad_buf_fresh(n->in[0], &fresh);                         \
        if (!dx) return TG_ENOMEM;                                           \
        if (fresh)                                                           \
            for (int64_t i = 0; i < n->out->numel; i++) dx[i] = RELU_D(T);   \
        else                                                                 \
            for (int64_t i = 0; i < n->out->numel; i++) dx[i] += RELU_D(T);  \
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
              .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
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
        for (int64_t i = 0; i < n->out->numel; i++) {                        \
            T ax = al * x[i];                                                \
            y[i] = TG_SEL(x[i] > 0, x[i], ax);                               \
        }                                                                    \
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
        for (int64_t i = 0; i < n->out->numel; i++) {                        \
            T ag = al * dy[i];                                               \
            dx[i] += TG_SEL(x[i] > 0, dy[i], ag);                            \
        }                                                                    \
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
              .cases = {{"1", &leaky_a2}, {"3,4", &leaky_a01}, {"", &leaky_a2}, {"2,3,5", &leaky_a0}, {"0", &leaky_a2}, {"3,0", &leaky_a01}},
              .bad = {{"3", &alpha_nan}, {"2,2", &alpha_inf}, {"2,3;2,3", &leaky_a2}}},
};
tg_tensor *tg_leaky_relu(tg_tensor *x, double alpha) {
    alpha_attr a = {alpha};
    return tg_apply(&tg_op_leaky_relu, &x, 1, &a);
}

/* ---- elu: y = x > 0 ? x : α(e^x - 1), dx += dy (x > 0 ? 1 : α e^x) ---- */

#define ELU_FW(T, S)                                                         \
    {                                                                        \
        const T al = (T)((const alpha_attr *)n->attr)->alpha;                \
        tg__vexpm1_##S(x, y, m);                                             \
        for (int64_t i = 0; i < m; i++) {                                    \
            T ay = al * y[i];                                                \
            y[i] = TG_SEL(x[i] > 0, x[i], ay);                               \
        }                                                                    \
    }
RANGE_FW(elu_fw, ELU_FW)
static tg_status elu_forward(tg_node *n) { return run_fw(n, elu_fw); }

/* α e^x is recomputed from x: y + α would cancel for very negative x. */
#define ELU_BW(T, S)                                                         \
    {                                                                        \
        T al = (T)((const alpha_attr *)n->attr)->alpha, e[CHUNK];            \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            for (int64_t j = 0; j < k; j++) e[j] = x[c0 + j] > 0 ? (T)0 : x[c0 + j]; \
            tg__vexp_##S(e, e, k);                                           \
            for (int64_t j = 0; j < k; j++) {                                \
                T g = dy[c0 + j] * al * e[j];                                \
                dx[c0 + j] += TG_SEL(x[c0 + j] > 0, dy[c0 + j], g);          \
            }                                                                \
        }                                                                    \
    }
RANGE_BW(elu_bw, ELU_BW)
static tg_status elu_backward(tg_node *n) { return run_bw(n, elu_bw); }

static const alpha_attr elu_a1 = {1.0}, elu_a05 = {0.5}, elu_a2 = {2.0};
const tg_op_def tg_op_elu = {
    .name = "elu",
    .n_inputs = 1,
    .attr_size = sizeof(alpha_attr),
    .infer = infer_alpha,
    .forward = elu_forward,
    .backward = elu_backward,
    .check = {.lo = -4, .hi = 3, .kinks = {0}, .n_kinks = 1, .kink_gap = 1e-2,
              .cases = {{"1", &elu_a1}, {"3,4", &elu_a05}, {"", &elu_a2}, {"2,3,5", &elu_a1}, {"0", &elu_a1}, {"3,0", &elu_a05}},
              .bad = {{"3", &alpha_nan}, {"2,2", &alpha_inf}, {"2,3;2,3", &elu_a1}}},
};
tg_tensor *tg_elu(tg_tensor *x, double alpha) {
    alpha_attr a = {alpha};
    return tg_apply(&tg_op_elu, &x, 1, &a);
}

/* ---- softplus: y = max(x,0) + log1p(e^-|x|), dx += dy σ(x) ---- */

#define SOFTPLUS_FW(T, S)                                                    \
    {                                                                        \
        for (int64_t i = 0; i < m; i++) y[i] = x[i] < 0 ? x[i] : -x[i];      \
        tg__vexp_##S(y, y, m);                                               \
        tg__vlog1p_##S(y, y, m);                                             \
        for (int64_t i = 0; i < m; i++) y[i] += x[i] > 0 ? x[i] : (T)0;      \
    }
RANGE_FW(softplus_fw, SOFTPLUS_FW)
static tg_status softplus_forward(tg_node *n) { return run_fw(n, softplus_fw); }

#define SOFTPLUS_BW(T, S)                                                    \
    {                                                                        \
        T s[CHUNK];                                                          \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            sigmoid_##S(x + c0, s, k);                                       \
            for (int64_t j = 0; j < k; j++) dx[c0 + j] += dy[c0 + j] * s[j]; \
        }                                                                    \
    }
RANGE_BW(softplus_bw, SOFTPLUS_BW)
static tg_status softplus_backward(tg_node *n) { return run_bw(n, softplus_bw); }

const tg_op_def tg_op_softplus = {
    .name = "softplus",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = softplus_forward,
    .backward = softplus_backward,
    .check = {.lo = -6, .hi = 6, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_softplus(tg_tensor *x) { return tg_apply(&tg_op_softplus, &x, 1, NULL); }

/* ---- silu: y = x σ(x), dx += dy σ(x) (1 + x (1 - σ(x))) ---- */

#define SILU_FW(T, S)                                                        \
    {                                                                        \
        sigmoid_##S(x, y, m);                                                \
        for (int64_t i = 0; i < m; i++) y[i] *= x[i];                        \
    }
RANGE_FW(silu_fw, SILU_FW)
static tg_status silu_forward(tg_node *n) { return run_fw(n, silu_fw); }

#define SILU_BW(T, S)                                                        \
    {                                                                        \
        T s[CHUNK];                                                          \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            sigmoid_##S(x + c0, s, k);                                       \
            for (int64_t j = 0; j < k; j++)                                  \
                dx[c0 + j] += dy[c0 + j] * s[j] * ((T)1 + x[c0 + j] * ((T)1 - s[j])); \
        }                                                                    \
    }
RANGE_BW(silu_bw, SILU_BW)
static tg_status silu_backward(tg_node *n) { return run_bw(n, silu_bw); }

const tg_op_def tg_op_silu = {
    .name = "silu",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = silu_forward,
    .backward = silu_backward,
    .check = {.lo = -5, .hi = 5, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
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

/* Both dtypes go through the f64 kernels in stack chunks (f32 converted). */
#define GELU_FW(T, S)                                                        \
    {                                                                        \
        double xd[CHUNK], yd[CHUNK];                                         \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            for (int64_t j = 0; j < k; j++) xd[j] = x[c0 + j];               \
            gelu_fw_f64(xd, yd, k);                                          \
            for (int64_t j = 0; j < k; j++) y[c0 + j] = (T)yd[j];            \
        }                                                                    \
    }
RANGE_FW(gelu_fw, GELU_FW)
static tg_status gelu_forward(tg_node *n) { return run_fw(n, gelu_fw); }

#define GELU_BW(T, S)                                                        \
    {                                                                        \
        double xd[CHUNK], d[CHUNK], t[CHUNK];                                \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            for (int64_t j = 0; j < k; j++) xd[j] = x[c0 + j];               \
            gelu_deriv_f64(xd, d, t, k);                                     \
            for (int64_t j = 0; j < k; j++) dx[c0 + j] += dy[c0 + j] * (T)d[j]; \
        }                                                                    \
    }
RANGE_BW(gelu_bw, GELU_BW)
static tg_status gelu_backward(tg_node *n) { return run_bw(n, gelu_bw); }

const tg_op_def tg_op_gelu = {
    .name = "gelu",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = gelu_forward,
    .backward = gelu_backward,
    .check = {.lo = -4, .hi = 4, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
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
    static void gt_sig_##S(const T *restrict x, T *restrict s, T *restrict sm, T *restrict e, \
                           int64_t n) {                                      \
        for (int64_t i = 0; i < n; i++) {                                    \
            T v = (T)(2 * GT_C) * (x[i] + (T)GT_K * x[i] * x[i] * x[i]);     \
            s[i] = v;                                                        \
            e[i] = v < 0 ? v : -v;                                           \
        }                                                                    \
        tg__vexp_##S(e, e, n);                                               \
        for (int64_t i = 0; i < n; i++) {                                    \
            T r = (T)1 / ((T)1 + e[i]), big = r, small = e[i] * r;           \
            int pos = s[i] >= 0;                                             \
            s[i] = TG_SEL(pos, big, small);                                  \
            e[i] = TG_SEL(pos, small, big); /* σ(-v), copied to sm below */  \
        }                                                                    \
        if (sm)                                                              \
            for (int64_t i = 0; i < n; i++) sm[i] = e[i];                    \
    }
GT_SIG_DEF(float, f32)
GT_SIG_DEF(double, f64)

#define GELU_TANH_FW(T, S)                                                   \
    {                                                                        \
        T e[CHUNK];                                                          \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            gt_sig_##S(x + c0, y + c0, NULL, e, k);                          \
            for (int64_t j = 0; j < k; j++) y[c0 + j] *= x[c0 + j];          \
        }                                                                    \
    }
RANGE_FW(gelu_tanh_fw, GELU_TANH_FW)
static tg_status gelu_tanh_forward(tg_node *n) { return run_fw(n, gelu_tanh_fw); }

/* The x σ σ' v' term is skipped where σ(-v) is 0, so |x| so large that v'
 * overflows still gives the exact gradient 1 (or 0) instead of 0·inf. */
#define GELU_TANH_BW(T, S)                                                   \
    {                                                                        \
        T s[CHUNK], sm[CHUNK], e[CHUNK];                                     \
        for (int64_t c0 = 0; c0 < m; c0 += CHUNK) {                          \
            int64_t k = tg__min64(CHUNK, m - c0);                            \
            gt_sig_##S(x + c0, s, sm, e, k);                                 \
            for (int64_t j = 0; j < k; j++) {                                \
                T xv = x[c0 + j], p = s[j] * sm[j];                          \
                T dt = s[j] + xv * p * (T)(2 * GT_C) * ((T)1 + (T)(3 * GT_K) * xv * xv); \
                dx[c0 + j] += dy[c0 + j] * TG_SEL(p != 0, dt, s[j]);         \
            }                                                                \
        }                                                                    \
    }
RANGE_BW(gelu_tanh_bw, GELU_TANH_BW)
static tg_status gelu_tanh_backward(tg_node *n) { return run_bw(n, gelu_tanh_bw); }

const tg_op_def tg_op_gelu_tanh = {
    .name = "gelu_tanh",
    .n_inputs = 1,
    .infer = tg__infer_same,
    .forward = gelu_tanh_forward,
    .backward = gelu_tanh_backward,
    .check = {.lo = -4, .hi = 4, .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
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
              .cases = {{"1"}, {"3,4"}, {""}, {"2,3,5"}, {"0"}, {"3,0"}}, .bad = UNARY_BAD},
};
tg_tensor *tg_step(tg_tensor *x) { return tg_apply(&tg_op_step, &x, 1, NULL); }
