/* shape.c: permute and reshape; transpose is a permute.
 *
 * Both ops copy: the output owns its data (row-major, contiguous), so no view
 * or stride bookkeeping leaks into other kernels.
 *
 * permute: out.shape[i] = x.shape[perm[i]], out[..i..] = x[..perm..]. The copy
 * first merges output axes that stay neighbours in the input and drops size-1
 * axes; when the input's innermost axis lands elsewhere than last, it walks
 * 32x32 tiles so that both reads and writes stay in cache. Backward permutes
 * dy by the inverse permutation, adding into dx.
 *
 * reshape: out = x with a new shape of the same element count (one -1 is
 * inferred); backward adds dy into dx element by element. */
#include "ops_internal.h"

typedef struct permute_attr {
    int perm[TG_MAX_RANK]; /* perm[0..rank) of the input's rank */
} permute_attr;

typedef struct reshape_attr {
    int rank;
    int64_t shape[TG_MAX_RANK]; /* at most one -1 */
} reshape_attr;

/* ---- permute kernel ----
 * dst (shape xs permuted by perm) = or += src (shape xs). */

#define TILE 32

typedef struct pplan {
    int n;                    /* collapsed output rank */
    int64_t size[TG_MAX_RANK];
    int64_t sstr[TG_MAX_RANK]; /* source stride of each output axis */
    int64_t dstr[TG_MAX_RANK]; /* destination stride */
} pplan;

static void make_pplan(int rank, const int64_t *xs, const int *perm, pplan *p) {
    int64_t xst[TG_MAX_RANK], s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        xst[i] = s;
        s *= xs[i];
    }
    int n = 0;
    for (int i = 0; i < rank; i++) {
        int a = perm[i];
        if (xs[a] == 1) continue;
        /* the previous output axis steps over exactly one run of this one */
        if (n > 0 && p->sstr[n - 1] == xst[a] * xs[a]) {
            p->size[n - 1] *= xs[a];
            p->sstr[n - 1] = xst[a];
        } else {
            p->size[n] = xs[a];
            p->sstr[n++] = xst[a];
        }
    }
    if (n == 0) {
        p->size[0] = 1;
        p->sstr[0] = 1;
        n = 1;
    }
    p->n = n;
    s = 1;
    for (int i = n - 1; i >= 0; i--) {
        p->dstr[i] = s;
        s *= p->size[i];
    }
}

#define PERMUTE(T, S)                                                                \
    static void permute_##S(const pplan *p, const T *src, T *dst, int add) {         \
        int n = p->n, last = n - 1, q = -1;                                          \
        for (int i = 0; i < last; i++)                                               \
            if (p->sstr[i] == 1) q = i;                                              \
        /* outer odometer over every axis except last (and q when tiling) */        \
        int64_t idx[TG_MAX_RANK] = {0}, so = 0, dof = 0, outer = 1;                  \
        for (int i = 0; i < last; i++)                                               \
            if (i != q) outer *= p->size[i];                                         \
        const int64_t L = p->size[last], sl = p->sstr[last];                         \
        for (int64_t k = 0; k < outer; k++) {                                        \
            const T *s = src + so;                                                   \
            T *d = dst + dof;                                                        \
            if (q < 0) {                                                             \
                if (add) for (int64_t j = 0; j < L; j++) d[j] += s[j * sl];          \
                else for (int64_t j = 0; j < L; j++) d[j] = s[j * sl];               \
            } else {                                                                 \
                const int64_t Q = p->size[q], dq = p->dstr[q];                       \
                for (int64_t i0 = 0; i0 < Q; i0 += TILE)                             \
                    for (int64_t j0 = 0; j0 < L; j0 += TILE) {                       \
                        int64_t ie = i0 + TILE < Q ? i0 + TILE : Q;                  \
                        int64_t je = j0 + TILE < L ? j0 + TILE : L;                  \
                        for (int64_t i = i0; i < ie; i++) {                          \
                            T *dr = d + i * dq;                                      \
                            const T *sr = s + i;                                     \
                            if (add) for (int64_t j = j0; j < je; j++) dr[j] += sr[j * sl]; \
                            else for (int64_t j = j0; j < je; j++) dr[j] = sr[j * sl]; \
                        }                                                            \
                    }                                                                \
            }                                                                        \
            for (int i = last - 1; i >= 0; i--) {                                    \
                if (i == q) continue;                                                \
                so += p->sstr[i];                                                    \
                dof += p->dstr[i];                                                   \
                if (++idx[i] < p->size[i]) break;                                    \
                so -= p->sstr[i] * p->size[i];                                       \
                dof -= p->dstr[i] * p->size[i];                                      \
                idx[i] = 0;                                                          \
            }                                                                        \
        }                                                                            \
    }

PERMUTE(float, f32)
PERMUTE(double, f64)

static tg_status permute_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    const permute_attr *a = n->attr;
    unsigned seen = 0;
    for (int i = 0; i < x->rank; i++) {
        int v = a->perm[i];
        if (v < 0 || v >= x->rank || ((seen >> v) & 1u)) {
            char buf[64];
            int o = 0;
            for (int j = 0; j < x->rank && o < (int)sizeof buf - 12; j++)
                o += snprintf(buf + o, sizeof buf - (size_t)o, j ? ",%d" : "%d", a->perm[j]);
            if (x->rank == 0) buf[0] = 0;
            return tg__error(n->ctx, TG_EINVAL, "permute: (%s) is not a permutation of the %d axes of %s",
                             buf, x->rank, tg__sh(x));
        }
        seen |= 1u << v;
        out->shape[i] = x->shape[v];
    }
    out->rank = x->rank;
    out->dtype = x->dtype;
    return TG_OK;
}

static tg_status permute_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    const permute_attr *a = n->attr;
    if (x->numel == 0) return TG_OK;
    pplan p;
    make_pplan(x->rank, x->shape, a->perm, &p);
    if (x->dtype == TG_F32) permute_f32(&p, x->data, n->out->data, 0);
    else permute_f64(&p, x->data, n->out->data, 0);
    return TG_OK;
}

static tg_status permute_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    if (x->numel == 0) return TG_OK;
    const permute_attr *a = n->attr;
    int inv[TG_MAX_RANK];
    for (int i = 0; i < x->rank; i++) inv[a->perm[i]] = i;
    pplan p;
    make_pplan(n->out->rank, n->out->shape, inv, &p);
    if (x->dtype == TG_F32) permute_f32(&p, n->out->grad, dx, 1);
    else permute_f64(&p, n->out->grad, dx, 1);
    return TG_OK;
}

static const permute_attr P_0 = {{0}}, P_10 = {{1, 0}}, P_201 = {{2, 0, 1}},
                          P_3120 = {{3, 1, 2, 0}}, P_021 = {{0, 2, 1}}, P_00 = {{0, 0}},
                          P_BAD3 = {{1, 0, 3}};

const tg_op_def tg_op_permute = {
    .name = "permute",
    .n_inputs = 1,
    .attr_size = sizeof(permute_attr),
    .infer = permute_infer,
    .forward = permute_forward,
    .backward = permute_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1", &P_0},
                        {"3,4", &P_10},
                        {"2,3,4", &P_201},
                        {"2,3,4,5", &P_3120},
                        {"3,1,5", &P_021},
                        {"", &P_0},
                        {"0,3", &P_10},
                        {"2,0,4", &P_201}},
              .bad = {{"2,3", &P_00}, {"2,3,4", &P_BAD3}, {"2,3;2,3", &P_10}}},
};

tg_tensor *tg_permute(tg_tensor *x, const int *perm) {
    if (!x) return NULL;
    permute_attr a;
    memset(&a, 0, sizeof a);
    if (x->rank > 0 && !perm) {
        tg__error(x->ctx, TG_EINVAL, "permute: perm is NULL for %s", tg__sh(x));
        return NULL;
    }
    for (int i = 0; i < x->rank; i++) {
        int v = perm[i] < 0 ? perm[i] + x->rank : perm[i];
        a.perm[i] = v;
    }
    return tg_apply(&tg_op_permute, &x, 1, &a);
}

tg_tensor *tg_transpose(tg_tensor *x, int d0, int d1) {
    if (!x) return NULL;
    int a0 = tg__axis(d0, x->rank), a1 = tg__axis(d1, x->rank);
    if (a0 < 0 || a1 < 0) {
        tg__error(x->ctx, TG_EINVAL, "transpose: axes (%d,%d) are out of range for %s (rank %d)", d0,
                  d1, tg__sh(x), x->rank);
        return NULL;
    }
    int perm[TG_MAX_RANK];
    for (int i = 0; i < x->rank; i++) perm[i] = i;
    perm[a0] = a1;
    perm[a1] = a0;
    return tg_permute(x, perm);
}

/* ---- reshape ---- */

static tg_status reshape_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    const reshape_attr *a = n->attr;
    char want[128];
    if (a->rank < 0 || a->rank > TG_MAX_RANK)
        return tg__error(n->ctx, TG_ESHAPE, "reshape: rank %d is outside 0..%d (input %s)", a->rank,
                         TG_MAX_RANK, tg__sh(x));
    tg__shape_fmt(a->rank, a->shape, want, sizeof want);
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < a->rank; i++) {
        int64_t d = a->shape[i];
        if (d == -1) {
            if (infer_at >= 0)
                return tg__error(n->ctx, TG_ESHAPE, "reshape: cannot reshape %s into %s: more than one -1",
                                 tg__sh(x), want);
            infer_at = i;
            continue;
        }
        if (d < 0)
            return tg__error(n->ctx, TG_ESHAPE, "reshape: cannot reshape %s into %s: dimension %d is %lld",
                             tg__sh(x), want, i, (long long)d);
        if (d && known > ((int64_t)1 << 48) / d)
            return tg__error(n->ctx, TG_ESHAPE, "reshape: cannot reshape %s into %s: too many elements",
                             tg__sh(x), want);
        known *= d;
        out->shape[i] = d;
    }
    if (infer_at >= 0) {
        if (known == 0 || x->numel % known != 0)
            return tg__error(n->ctx, TG_ESHAPE,
                             "reshape: cannot reshape %s (%lld elements) into %s: the -1 cannot be inferred",
                             tg__sh(x), (long long)x->numel, want);
        out->shape[infer_at] = x->numel / known;
        known = x->numel;
    }
    if (known != x->numel)
        return tg__error(n->ctx, TG_ESHAPE,
                         "reshape: cannot reshape %s (%lld elements) into %s (%lld elements)", tg__sh(x),
                         (long long)x->numel, want, (long long)known);
    out->rank = a->rank;
    out->dtype = x->dtype;
    return TG_OK;
}

static tg_status reshape_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    memcpy(n->out->data, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
    return TG_OK;
}

static tg_status reshape_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    if (x->dtype == TG_F32) {
        float *d = dx;
        const float *g = n->out->grad;
        for (int64_t i = 0; i < x->numel; i++) d[i] += g[i];
    } else {
        double *d = dx;
        const double *g = n->out->grad;
        for (int64_t i = 0; i < x->numel; i++) d[i] += g[i];
    }
    return TG_OK;
}

static const reshape_attr R_6 = {1, {6}}, R_SCALAR = {0, {0}}, R_4M1 = {2, {4, -1}},
                          R_1_1 = {2, {1, 1}}, R_3_1_2 = {3, {3, 1, 2}}, R_4_2 = {2, {4, 2}},
                          R_M1M1 = {2, {-1, -1}}, R_5M1 = {2, {5, -1}},
                          R_0_3 = {2, {0, 3}}, R_M1_0 = {2, {-1, 0}};

const tg_op_def tg_op_reshape = {
    .name = "reshape",
    .n_inputs = 1,
    .attr_size = sizeof(reshape_attr),
    .infer = reshape_infer,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"2,3", &R_6}, {"1", &R_SCALAR}, {"2,3,4", &R_4M1}, {"", &R_1_1}, {"6", &R_3_1_2},
                        {"3,0", &R_0_3}, {"0", &R_0_3}},
              .bad = {{"2,3", &R_4_2}, {"2,3", &R_M1M1}, {"2,3", &R_5M1}, {"2,3;2,3", &R_6},
                      /* 0 elements: the -1 could be anything (PyTorch refuses too) */
                      {"0,3", &R_M1_0}}},
};

tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape) {
    if (!x) return NULL;
    if (rank < 0 || rank > TG_MAX_RANK || (rank > 0 && !shape)) {
        tg__error(x->ctx, TG_ESHAPE, "reshape: bad target (rank %d%s) for %s", rank,
                  (rank > 0 && !shape) ? ", shape NULL" : "", tg__sh(x));
        return NULL;
    }
    reshape_attr a;
    memset(&a, 0, sizeof a);
    a.rank = rank;
    for (int i = 0; i < rank; i++) a.shape[i] = shape[i];
    return tg_apply(&tg_op_reshape, &x, 1, &a);
}

tg_tensor *tg_flatten(tg_tensor *x, int start_dim) {
    if (!x) return NULL;
    int sd = tg__axis(start_dim, x->rank);
    if (sd < 0 || x->rank == 0) {
        tg__error(x->ctx, TG_EINVAL, "flatten: start_dim %d is out of range for %s", start_dim, tg__sh(x));
        return NULL;
    }
    int64_t shape[TG_MAX_RANK], rest = 1;
    for (int i = sd; i < x->rank; i++) rest *= x->shape[i];
    for (int i = 0; i < sd; i++) shape[i] = x->shape[i];
    shape[sd] = rest;
    return tg_reshape(x, sd + 1, shape);
}
