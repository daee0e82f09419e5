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
#include "ops_internal.h"

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

/* Fast paths for the common 2x2 window at stride 2 without padding (windows
 * tile the plane; an odd last row or column is never read). They give
 * bitwise the generic kernels' results: the same comparisons in the same
 * window order (row-major: a b / c d), and the same sums (0 + a + b + c + d,
 * then / 4, so a window of -0s still gives +0). The loops are branch-free so
 * GCC vectorizes them. */
static int is_2x2(const pgeom *g) {
    return g->KH == 2 && g->KW == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* The generic update "v > m, or v is the first NaN", written so that GCC
 * if-converts and vectorizes it (one use per test; && rather than &). */
#define MAX_TAKES(v, m) ((m) == (m) && !((v) <= (m)))
/* v is the window's first maximum m: the first element equal to m or, when
 * m is a NaN (the window's first NaN), the first NaN. Without a NaN no
 * earlier element can equal m (it would have been kept), and -0 == +0 ties
 * go to the first, as in the generic loop. */
#define MAX_HIT(v, m) ((v) == (m) || (v) != (v))

/* IT: an integer as wide as T, so the position select vectorizes with it */
#define POOL_2X2(T, S, IT)                                                                        \
    static void max_fwd2_##S(const pgeom *g, const T *x, T *y, int32_t *arg) {                    \
        const int64_t W = g->W, OW = g->OW, HW = g->H * W;                                        \
        for (int64_t p = 0; p < g->planes; p++)                                                   \
            for (int64_t i = 0; i < g->OH; i++) {                                                 \
                const T *restrict r0 = x + p * HW + 2 * i * W, *restrict r1 = r0 + W;             \
                T *restrict yr = y + (p * g->OH + i) * OW;                                        \
                if (!arg) {                                                                       \
                    for (int64_t j = 0; j < OW; j++) {                                            \
                        T m = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];     \
                        m = MAX_TAKES(b, m) ? b : m;                                              \
                        m = MAX_TAKES(c, m) ? c : m;                                              \
                        yr[j] = MAX_TAKES(d, m) ? d : m;                                          \
                    }                                                                             \
                    continue;                                                                     \
                }                                                                                 \
                int32_t *restrict ar = arg + (p * g->OH + i) * OW;                                \
                const int32_t base = (int32_t)(2 * i * W), w = (int32_t)W;                        \
                for (int64_t j = 0; j < OW; j++) {                                                \
                    T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1], m = a;  \
                    m = MAX_TAKES(b, m) ? b : m;                                                  \
                    m = MAX_TAKES(c, m) ? c : m;                                                  \
                    m = MAX_TAKES(d, m) ? d : m;                                                  \
                    yr[j] = m;                                                                    \
                    IT k = MAX_HIT(c, m) ? (IT)w : (IT)w + 1;                                     \
                    k = MAX_HIT(b, m) ? 1 : k;                                                    \
                    k = MAX_HIT(a, m) ? 0 : k;                                                    \
                    ar[j] = base + 2 * (int32_t)j + (int32_t)k;                                   \
                }                                                                                 \
            }                                                                                     \
    }                                                                                             \
    static void avg_fwd2_##S(const pgeom *g, const T *x, T *y) {                                  \
        const int64_t W = g->W, OW = g->OW, HW = g->H * W;                                        \
        const T div = (T)4;                                                                       \
        for (int64_t p = 0; p < g->planes; p++)                                                   \
            for (int64_t i = 0; i < g->OH; i++) {                                                 \
                const T *restrict r0 = x + p * HW + 2 * i * W, *restrict r1 = r0 + W;             \
                T *restrict yr = y + (p * g->OH + i) * OW;                                        \
                for (int64_t j = 0; j < OW; j++)                                                  \
                    yr[j] = ((((T)0 + r0[2 * j]) + r0[2 * j + 1]) + r1[2 * j] + r1[2 * j + 1]) / div; \
            }                                                                                     \
    }                                                                                             \
    static void avg_bwd2_##S(const pgeom *g, const T *dy, T *dx) {                                \
        const int64_t W = g->W, OW = g->OW, HW = g->H * W;                                        \
        const T div = (T)4;                                                                       \
        for (int64_t p = 0; p < g->planes; p++)                                                   \
            for (int64_t i = 0; i < g->OH; i++) {                                                 \
                T *restrict r0 = dx + p * HW + 2 * i * W, *restrict r1 = r0 + W;                  \
                const T *restrict dr = dy + (p * g->OH + i) * OW;                                 \
                for (int64_t j = 0; j < OW; j++) {                                                \
                    T d = dr[j] / div;                                                            \
                    r0[2 * j] += d, r0[2 * j + 1] += d, r1[2 * j] += d, r1[2 * j + 1] += d;       \
                }                                                                                 \
            }                                                                                     \
    }

POOL_2X2(float, f32, int32_t)
POOL_2X2(double, f64, int64_t)

/* 1 when tg_apply will record this node (so backward may need the argmax). */
static int recording(const tg_node *n) { return n->ctx->no_grad == 0 && (n->in[0]->flags & TG_REQUIRES_GRAD); }

/* ---- the split into tasks: planes are independent (an argmax is within its
 * plane), so slices of planes give the same bits at any thread count ---- */

#define POOL_SLICES 8                /* most tasks per pass */
#define POOL_MIN_WORK ((int64_t)1 << 15) /* input elements per pass below which one task runs */

enum { MAX_FWD, MAX_BWD, AVG_FWD, AVG_BWD };

typedef struct pool_job {
    const pgeom *g;
    int kind, f32;
    int64_t n_sl;
    const void *x, *dy;      /* input (forward) or output gradient (backward) */
    void *y, *dx;
    int32_t *arg;
} pool_job;

static void pool_task(void *a, int64_t t) {
    const pool_job *j = a;
    pgeom g = *j->g;
    int64_t p0 = g.planes * t / j->n_sl, p1 = g.planes * (t + 1) / j->n_sl;
    const int64_t in = p0 * g.H * g.W, out = p0 * g.OH * g.OW;
    const size_t es = j->f32 ? sizeof(float) : sizeof(double);
    g.planes = p1 - p0;
    /* this slice's planes (NULL stays NULL: x and y in backward, dy and dx in forward) */
    const void *x = j->x ? (const char *)j->x + in * es : NULL, *dy = j->dy ? (const char *)j->dy + out * es : NULL;
    void *y = j->y ? (char *)j->y + out * es : NULL, *dx = j->dx ? (char *)j->dx + in * es : NULL;
    int32_t *arg = j->arg ? j->arg + out : NULL;
    tg_dtype dt = j->f32 ? TG_F32 : TG_F64;
    int fast = is_2x2(&g);
    switch (j->kind) {
    case MAX_FWD:
        if (fast) TG_DISPATCH(dt, max_fwd2, &g, x, y, arg);
        else TG_DISPATCH(dt, max_fwd, &g, x, y, arg);
        break;
    case MAX_BWD: TG_DISPATCH(dt, max_bwd, &g, arg, dy, dx); break;
    case AVG_FWD:
        if (fast) TG_DISPATCH(dt, avg_fwd2, &g, x, y);
        else TG_DISPATCH(dt, avg_fwd, &g, x, y);
        break;
    default:
        if (fast) TG_DISPATCH(dt, avg_bwd2, &g, dy, dx);
        else TG_DISPATCH(dt, avg_bwd, &g, dy, dx);
    }
}

static void pool_run(tg_node *n, int kind, const pgeom *g, const void *x, void *y, const void *dy, void *dx,
                     int32_t *arg) {
    pool_job j = {g, kind, n->in[0]->dtype == TG_F32, 1, x, dy, y, dx, arg};
    if (g->planes * g->H * g->W >= POOL_MIN_WORK) j.n_sl = g->planes < POOL_SLICES ? g->planes : POOL_SLICES;
    if (g->planes > 0) tg__parallel_for(n->ctx, j.n_sl, pool_task, &j);
}

static tg_status max_forward(tg_node *n) {
    pgeom g = pgeom_of(n);
    int32_t *arg = NULL;
    if (recording(n)) {
        arg = tg_node_alloc(n, (size_t)(n->out->numel ? n->out->numel : 1) * sizeof(int32_t));
        if (!arg) return TG_ENOMEM;
        n->saved = arg;
    }
    pool_run(n, MAX_FWD, &g, n->in[0]->data, n->out->data, NULL, NULL, arg);
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
        pool_run(n, MAX_FWD, &g, x->data, tmp, NULL, NULL, arg);
        n->saved = arg;
    }
    pool_run(n, MAX_BWD, &g, NULL, NULL, n->out->grad, dx, n->saved);
    return TG_OK;
}

static tg_status avg_forward(tg_node *n) {
    pgeom g = pgeom_of(n);
    pool_run(n, AVG_FWD, &g, n->in[0]->data, n->out->data, NULL, NULL, NULL);
    return TG_OK;
}

static tg_status avg_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    pgeom g = pgeom_of(n);
    pool_run(n, AVG_BWD, &g, NULL, NULL, n->out->grad, dx, NULL);
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
               {"1,2,7,6", &p_k3s2p1}, {"0,2,5,7", &p_rect}, {"2,0,4,4", &p_k2}},              \
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
