/* pool.c: max_pool2d and avg_pool2d over x (B,C,H,W) -> y (B,C,OH,OW),
 *   OH = (H + 2·ph - KH) / sh + 1   (floor, PyTorch's ceil_mode=False; OW likewise)
 * Window (i,j) covers rows i·sh - ph .. + KH-1 and columns j·sw - pw .. + KW-1.
 *
 * max: y = the largest input in the window (padding never wins); the gradient
 *      goes to the FIRST maximum in row-major window order, and a NaN wins
 *      over numbers (the first NaN). The forward pass stores that position
 *      per output (int32, within the input plane) in tape scratch, so backward
 *      is one scatter: dx[arg] += dy.
 * avg: y = Σ window / (KH·KW), the padding counted as zeros (PyTorch's
 *      count_include_pad=True); dx[window] += dy / (KH·KW).
 *
 * Like PyTorch, the padding may be at most half the kernel, so every window
 * holds at least one real input. */
#include "internal.h"

#include <math.h>

typedef struct pool_attr {
    int kernel[2], stride[2], pad[2];  /* (h, w) each */
} pool_attr;

typedef struct pgeom {
    int64_t planes, H, W, OH, OW, KH, KW, sh, sw, ph, pw;
} pgeom;

static tg_status pool_infer(tg_node *n, tg_out_spec *out) {
    const pool_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    const char *nm = n->op->name;
    if (x->rank != 4)
        return tg__error(n->ctx, TG_ESHAPE, "%s: expected x (B,C,H,W), got %s", nm, tg__sh(x));
    for (int i = 0; i < 2; i++) {
        if (a->kernel[i] < 1 || a->stride[i] < 1)
            return tg__error(n->ctx, TG_EINVAL, "%s: kernel and stride must be >= 1, got kernel %dx%d, stride %dx%d (x %s)",
                             nm, a->kernel[0], a->kernel[1], a->stride[0], a->stride[1], tg__sh(x));
        if (a->pad[i] < 0 || a->pad[i] > a->kernel[i] / 2)
            return tg__error(n->ctx, TG_EINVAL, "%s: padding %dx%d must be between 0 and half the kernel %dx%d (x %s)",
                             nm, a->pad[0], a->pad[1], a->kernel[0], a->kernel[1], tg__sh(x));
        int64_t in = x->shape[2 + i] + 2 * (int64_t)a->pad[i];
        if (in < a->kernel[i])
            return tg__error(n->ctx, TG_ESHAPE, "%s: kernel %dx%d is larger than the padded input %s (padding %dx%d)",
                             nm, a->kernel[0], a->kernel[1], tg__sh(x), a->pad[0], a->pad[1]);
        out->shape[2 + i] = (in - a->kernel[i]) / a->stride[i] + 1;
    }
    if (x->shape[2] * x->shape[3] > INT32_MAX)
        return tg__error(n->ctx, TG_ESHAPE, "%s: input plane %s has more than 2^31 elements", nm, tg__sh(x));
    out->dtype = x->dtype;
    out->rank = 4;
    out->shape[0] = x->shape[0];
    out->shape[1] = x->shape[1];
    return TG_OK;
}

static pgeom pgeom_of(const tg_node *n) {
    const pool_attr *a = n->attr;
    const tg_tensor *x = n->in[0], *y = n->out;
    return (pgeom){x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->shape[2], y->shape[3], a->kernel[0],
                   a->kernel[1], a->stride[0], a->stride[1], a->pad[0], a->pad[1]};
}

#define POOL_KERNELS(T, S)                                                                        \
    /* y = window max; arg (may be NULL) = its position in the plane */                          \
    static void max_fwd_##S(const pgeom *g, const T *x, T *y, int32_t *arg) {                     \
        for (int64_t p = 0; p < g->planes; p++) {                                                 \
            const T *xp = x + p * g->H * g->W;                                                    \
            for (int64_t i = 0; i < g->OH; i++)                                                   \
                for (int64_t j = 0; j < g->OW; j++) {                                             \
                    int64_t best = -1;                                                            \
                    T m = 0;                                                                      \
                    for (int64_t kh = 0; kh < g->KH; kh++) {                                      \
                        int64_t ih = i * g->sh - g->ph + kh;                                      \
                        if (ih < 0 || ih >= g->H) continue;                                       \
                        for (int64_t kw = 0; kw < g->KW; kw++) {                                  \
                            int64_t iw = j * g->sw - g->pw + kw;                                  \
                            if (iw < 0 || iw >= g->W) continue;                                   \
                            T v = xp[ih * g->W + iw];                                             \
                            if (best < 0 || v > m || (isnan(v) && !isnan(m))) {                   \
                                m = v;                                                            \
                                best = ih * g->W + iw;                                            \
                            }                                                                     \
                        }                                                                         \
                    }                                                                             \
                    TG_ASSERT(best >= 0); /* padding <= kernel/2 leaves an input in every window */ \
                    int64_t k = (p * g->OH + i) * g->OW + j;                                      \
                    y[k] = m;                                                                     \
                    if (arg) arg[k] = (int32_t)best;                                              \
                }                                                                                 \
        }                                                                                         \
    }                                                                                             \
    static void max_bwd_##S(const pgeom *g, const int32_t *arg, const T *dy, T *dx) {             \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                                      \
        for (int64_t p = 0; p < g->planes; p++)                                                   \
            for (int64_t k = 0; k < OHW; k++) dx[p * HW + arg[p * OHW + k]] += dy[p * OHW + k];   \
    }                                                                                             \
    /* y = Σ window / KK */                                                                       \
    static void avg_fwd_##S(const pgeom *g, const T *x, T *y) {                                   \
        const T div = (T)(g->KH * g->KW);                                                         \
        for (int64_t p = 0; p < g->planes; p++) {                                                 \
            const T *xp = x + p * g->H * g->W;                                                    \
            for (int64_t i = 0; i < g->OH; i++)                                                   \
                for (int64_t j = 0; j < g->OW; j++) {                                             \
                    T s = 0;                                                                      \
                    for (int64_t kh = 0; kh < g->KH; kh++) {                                      \
                        int64_t ih = i * g->sh - g->ph + kh;                                      \
                        if (ih < 0 || ih >= g->H) continue;                                       \
                        for (int64_t kw = 0; kw < g->KW; kw++) {                                  \
                            int64_t iw = j * g->sw - g->pw + kw;                                  \
                            if (iw >= 0 && iw < g->W) s += xp[ih * g->W + iw];                    \
                        }                                                                         \
                    }                                                                             \
                    y[(p * g->OH + i) * g->OW + j] = s / div;                                     \
                }                                                                                 \
        }                                                                                         \
    }                                                                                             \
    /* dx[window] += dy / KK */                                                                   \
    static void avg_bwd_##S(const pgeom *g, const T *dy, T *dx) {                                 \
        const T div = (T)(g->KH * g->KW);                                                         \
        for (int64_t p = 0; p < g->planes; p++) {                                                 \
            T *dxp = dx + p * g->H * g->W;                                                        \
            for (int64_t i = 0; i < g->OH; i++)                                                   \
                for (int64_t j = 0; j < g->OW; j++) {                                             \
                    T d = dy[(p * g->OH + i) * g->OW + j] / div;                                  \
                    for (int64_t kh = 0; kh < g->KH; kh++) {                                      \
                        int64_t ih = i * g->sh - g->ph + kh;                                      \
                        if (ih < 0 || ih >= g->H) continue;                                       \
                        for (int64_t kw = 0; kw < g->KW; kw++) {                                  \
                            int64_t iw = j * g->sw - g->pw + kw;                                  \
                            if (iw >= 0 && iw < g->W) dxp[ih * g->W + iw] += d;                   \
                        }                                                                         \
                    }                                                                             \
                }                                                                                 \
        }                                                                                         \
    }

POOL_KERNELS(float, f32)
POOL_KERNELS(double, f64)

/* 1 when tg_apply will record this node (so backward may need the argmax). */
static int recording(const tg_node *n) { return n->ctx->no_grad == 0 && (n->in[0]->flags & TG_REQUIRES_GRAD); }

static tg_status max_forward(tg_node *n) {
    pgeom g = pgeom_of(n);
    int32_t *arg = NULL;
    if (recording(n)) {
        arg = tg_node_alloc(n, (size_t)(n->out->numel ? n->out->numel : 1) * sizeof(int32_t));
        if (!arg) return TG_ENOMEM;
        n->saved = arg;
    }
    if (n->out->dtype == TG_F32) max_fwd_f32(&g, n->in[0]->data, n->out->data, arg);
    else max_fwd_f64(&g, n->in[0]->data, n->out->data, arg);
    return TG_OK;
}

static tg_status max_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    pgeom g = pgeom_of(n);
    if (!n->saved) { /* recorded without the forward knowing: find the argmax again */
        int32_t *arg = tg_node_alloc(n, (size_t)(n->out->numel ? n->out->numel : 1) * sizeof(int32_t));
        void *tmp = tg_node_alloc(n, (size_t)(n->out->numel ? n->out->numel : 1) * tg_dtype_size(x->dtype));
        if (!arg || !tmp) return TG_ENOMEM;
        if (x->dtype == TG_F32) max_fwd_f32(&g, x->data, tmp, arg);
        else max_fwd_f64(&g, x->data, tmp, arg);
        n->saved = arg;
    }
    if (x->dtype == TG_F32) max_bwd_f32(&g, n->saved, n->out->grad, dx);
    else max_bwd_f64(&g, n->saved, n->out->grad, dx);
    return TG_OK;
}

static tg_status avg_forward(tg_node *n) {
    pgeom g = pgeom_of(n);
    if (n->out->dtype == TG_F32) avg_fwd_f32(&g, n->in[0]->data, n->out->data);
    else avg_fwd_f64(&g, n->in[0]->data, n->out->data);
    return TG_OK;
}

static tg_status avg_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    pgeom g = pgeom_of(n);
    if (x->dtype == TG_F32) avg_bwd_f32(&g, n->out->grad, dx);
    else avg_bwd_f64(&g, n->out->grad, dx);
    return TG_OK;
}

#define PA(kh, kw, sh, sw, ph, pw) {{kh, kw}, {sh, sw}, {ph, pw}}
static const pool_attr p_k1 = PA(1, 1, 1, 1, 0, 0), p_k2 = PA(2, 2, 2, 2, 0, 0),
                       p_rect = PA(3, 2, 2, 1, 1, 1), p_k3p1 = PA(3, 3, 1, 1, 1, 1),
                       p_k3s2p1 = PA(3, 3, 2, 2, 1, 1), p_k3 = PA(3, 3, 1, 1, 0, 0),
                       p_pad2 = PA(3, 3, 1, 1, 2, 0), p_s0 = PA(2, 2, 0, 2, 0, 0);

#define POOL_CHECK                                                                                \
    {.lo = -1,                                                                                    \
     .hi = 1,                                                                                     \
     .cases = {{"1,1,1,1", &p_k1}, {"2,3,6,5", &p_k2}, {"1,2,5,7", &p_rect}, {"2,1,4,4", &p_k3p1}, \
               {"1,2,7,6", &p_k3s2p1}},                                                           \
     .bad = {{"1,1,2,2", &p_k3}, {"1,1,4,4", &p_pad2}, {"1,1,4,4", &p_s0}, {"4,4", &p_k2}}}

const tg_op_def tg_op_max_pool2d = {
    .name = "max_pool2d",
    .n_inputs = 1,
    .attr_size = sizeof(pool_attr),
    .infer = pool_infer,
    .forward = max_forward,
    .backward = max_backward,
    .check = POOL_CHECK,
};

const tg_op_def tg_op_avg_pool2d = {
    .name = "avg_pool2d",
    .n_inputs = 1,
    .attr_size = sizeof(pool_attr),
    .infer = pool_infer,
    .forward = avg_forward,
    .backward = avg_backward,
    .check = POOL_CHECK,
};

static tg_tensor *pool(const tg_op_def *op, tg_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    pool_attr a = {{kh, kw}, {sh ? sh : kh, sw ? sw : kw}, {ph, pw}};
    return tg_apply(op, &x, 1, &a);
}
tg_tensor *tg_max_pool2d(tg_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    return pool(&tg_op_max_pool2d, x, kh, kw, sh, sw, ph, pw);
}
tg_tensor *tg_avg_pool2d(tg_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    return pool(&tg_op_avg_pool2d, x, kh, kw, sh, sw, ph, pw);
}
