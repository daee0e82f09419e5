/* index.c: gathers by integer index (embedding, index_select) and the
 * elementwise select by a byte mask (where).
 *
 * embedding and index_select are one kernel. Viewing x as (outer, R, inner)
 * around the indexed axis (R rows there), the output is (outer, n, inner) with
 *   out[o, k, :] = x[o, idx[k], :].
 * Backward scatter-adds: dx[o, idx[k], :] += dy[o, k, :], in index order, so a
 * row picked several times gets the sum of its uses and the result does not
 * depend on the thread count.
 *
 * Indices and masks are not tensors; they live behind a pointer in the
 * attribute block. The public wrappers copy them into the active tape's arena
 * (so the caller's array may change or die after the call) and infer checks
 * every index against the axis, so no kernel reads out of bounds. Check specs
 * point at static arrays instead. */
#include "ops_internal.h"

#include <stdio.h>

/* ---- attribute blocks ---- */

typedef struct embedding_attr {
    const int32_t *idx;          /* Π shape[0..rank) indices in [0, V) */
    int rank;                    /* rank of the index array, 0..TG_MAX_RANK-1 */
    int64_t shape[TG_MAX_RANK];  /* its shape */
} embedding_attr;

typedef struct index_select_attr {
    const int32_t *idx;  /* n indices in [0, x.shape[axis]) */
    int64_t n;
    int axis;            /* negative counts from the end */
} index_select_attr;

typedef struct where_attr {
    const uint8_t *mask; /* numel bytes; nonzero picks a */
    int64_t n;           /* must equal the inputs' numel */
} where_attr;

/* ---- shared gather / scatter-add kernel ---- */

typedef struct gplan {
    int64_t outer, rows, n, inner;
    const int32_t *idx;
} gplan;

static void gather(const gplan *p, const void *src, void *dst, size_t es) {
    const char *s = src;
    char *d = dst;
    size_t row = (size_t)p->inner * es;
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t k = 0; k < p->n; k++)
            memcpy(d + (size_t)(o * p->n + k) * row, s + (size_t)(o * p->rows + p->idx[k]) * row, row);
}

#define SCATTER_ADD(T, S)                                                                   \
    static void scatter_add_##S(const gplan *p, const T *dy, T *dx) {                       \
        for (int64_t o = 0; o < p->outer; o++)                                              \
            for (int64_t k = 0; k < p->n; k++) {                                            \
                const T *g = dy + (o * p->n + k) * p->inner;                                \
                T *d = dx + (o * p->rows + p->idx[k]) * p->inner;                           \
                for (int64_t j = 0; j < p->inner; j++) d[j] += g[j];                        \
            }                                                                               \
    }
SCATTER_ADD(float, f32)
SCATTER_ADD(double, f64)

static tg_status gather_backward(tg_node *n, const gplan *p) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    if (x->dtype == TG_F32) scatter_add_f32(p, n->out->grad, dx);
    else scatter_add_f64(p, n->out->grad, dx);
    return TG_OK;
}

/* Every index in [0, rows); the message names the op, the position, the
 * index and the input. */
static tg_status check_indices(tg_node *n, const int32_t *idx, int64_t cnt, int64_t rows, const char *where) {
    if (cnt > 0 && !idx)
        return tg__error(n->ctx, TG_EINVAL, "%s: index array is NULL for %lld indices (input %s)",
                         n->op->name, (long long)cnt, tg__sh(n->in[0]));
    for (int64_t k = 0; k < cnt; k++)
        if (idx[k] < 0 || idx[k] >= rows)
            return tg__error(n->ctx, TG_EINVAL,
                             "%s: index %d at position %lld is outside [0,%lld) (%s %s)", n->op->name,
                             (int)idx[k], (long long)k, (long long)rows, where, tg__sh(n->in[0]));
    return TG_OK;
}

/* A copy of cnt elements of es bytes in the active tape's arena; NULL with
 * an error naming `who` when there is no tape or no memory. *out is NULL for
 * cnt 0. */
static tg_status copy_to_tape(tg_ctx *ctx, const char *who, const char *what, const void *src, int64_t cnt,
                              size_t es, const void **out) {
    *out = NULL;
    if (cnt == 0) return TG_OK;
    if (!src) return tg__error(ctx, TG_EINVAL, "%s: the %s array is NULL (%lld entries)", who, what, (long long)cnt);
    if (!ctx->active)
        return tg__error(ctx, TG_ESTATE, "%s: no active tape (call tg_tape_begin first)", who);
    void *p = tg__arena_alloc(&ctx->active->arena, (size_t)cnt * es);
    if (!p) return tg__error(ctx, TG_ENOMEM, "%s: out of memory copying %lld %s entries", who, (long long)cnt, what);
    memcpy(p, src, (size_t)cnt * es);
    *out = p;
    return TG_OK;
}

/* ---- embedding: table (V,D), idx shape S -> (S..., D); out[s,:] = table[idx[s],:] ---- */

static tg_status embedding_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *w = n->in[0];
    const embedding_attr *a = n->attr;
    if (w->rank != 2)
        return tg__error(n->ctx, TG_ESHAPE, "embedding: the table must be (V,D), got %s", tg__sh(w));
    if (a->rank < 0 || a->rank > TG_MAX_RANK - 1)
        return tg__error(n->ctx, TG_ESHAPE, "embedding: index rank %d is outside 0..%d (table %s)", a->rank,
                         TG_MAX_RANK - 1, tg__sh(w));
    if (tg__check_shape(n->ctx, "embedding", a->rank, a->shape)) return TG_ESHAPE;
    tg_status st = check_indices(n, a->idx, tg__numel(a->rank, a->shape), w->shape[0], "table");
    if (st) return st;
    out->dtype = w->dtype;
    out->rank = a->rank + 1;
    memcpy(out->shape, a->shape, sizeof(int64_t) * (size_t)a->rank);
    out->shape[a->rank] = w->shape[1];
    return TG_OK;
}

static gplan embedding_plan(const tg_node *n) {
    const embedding_attr *a = n->attr;
    const tg_tensor *w = n->in[0];
    return (gplan){1, w->shape[0], tg__numel(a->rank, a->shape), w->shape[1], a->idx};
}

static tg_status embedding_forward(tg_node *n) {
    gplan p = embedding_plan(n);
    gather(&p, n->in[0]->data, n->out->data, tg_dtype_size(n->out->dtype));
    return TG_OK;
}

static tg_status embedding_backward(tg_node *n) {
    gplan p = embedding_plan(n);
    return gather_backward(n, &p);
}

static const int32_t E_IDX6[] = {0, 2, 2, 4, 0, 1}, E_IDX00[] = {0, 0}, E_IDX23[] = {3, 1, 3, 0, 0, 2},
                     E_IDX1[] = {2}, E_BADHI[] = {1, 3}, E_BADNEG[] = {0, -1};
static const embedding_attr E_A6 = {E_IDX6, 1, {6}}, E_A00 = {E_IDX00, 1, {2}},
                            E_A23 = {E_IDX23, 2, {2, 3}}, E_A0 = {E_IDX1, 0, {0}},
                            E_AHI = {E_BADHI, 1, {2}}, E_ANEG = {E_BADNEG, 1, {2}},
                            E_AE = {E_IDX1, 1, {0}};

const tg_op_def tg_op_embedding = {
    .name = "embedding",
    .n_inputs = 1,
    .attr_size = sizeof(embedding_attr),
    .infer = embedding_infer,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"5,3", &E_A6}, {"1,1", &E_A00}, {"4,2", &E_A23}, {"3,4", &E_A0}, {"0,3", &E_AE}, {"5,0", &E_A6}},
              .bad = {{"3,2", &E_AHI}, {"3,2", &E_ANEG}, {"6", &E_A00}, {"3,2;3,2", &E_A00}, {"0,3", &E_A00}}},
};

tg_tensor *tg_embedding_nd(tg_tensor *table, const int32_t *idx, int rank, const int64_t *shape) {
    if (!table) return NULL;
    tg_ctx *ctx = table->ctx;
    if (rank < 0 || rank > TG_MAX_RANK - 1 || (rank > 0 && !shape)) {
        tg__error(ctx, TG_ESHAPE, "embedding: bad index shape (rank %d%s) for table %s", rank,
                  (rank > 0 && !shape) ? ", shape NULL" : "", tg__sh(table));
        return NULL;
    }
    if (tg__check_shape(ctx, "embedding", rank, shape)) return NULL;
    embedding_attr a;
    memset(&a, 0, sizeof a);
    a.rank = rank;
    for (int i = 0; i < rank; i++) a.shape[i] = shape[i];
    const void *copy;
    if (copy_to_tape(ctx, "embedding", "index", idx, tg__numel(rank, shape), sizeof(int32_t), &copy)) return NULL;
    a.idx = copy;
    return tg_apply(&tg_op_embedding, &table, 1, &a);
}

tg_tensor *tg_embedding(tg_tensor *table, const int32_t *idx, int64_t n) {
    if (!table) return NULL;
    if (n < 0) {
        tg__error(table->ctx, TG_EINVAL, "embedding: index count %lld is negative (table %s)", (long long)n,
                  tg__sh(table));
        return NULL;
    }
    return tg_embedding_nd(table, idx, 1, &n);
}

/* ---- index_select: out = x with axis `axis` replaced by rows idx[0..n) ---- */

static tg_status index_select_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    const index_select_attr *a = n->attr;
    int ax = tg__axis(a->axis, x->rank);
    if (ax < 0)
        return tg__error(n->ctx, TG_EINVAL, "index_select: axis %d is out of range for %s (rank %d)", a->axis,
                         tg__sh(x), x->rank);
    if (a->n < 0)
        return tg__error(n->ctx, TG_EINVAL, "index_select: index count %lld is negative (input %s)",
                         (long long)a->n, tg__sh(x));
    char where[32];
    snprintf(where, sizeof where, "axis %d of", ax);
    tg_status st = check_indices(n, a->idx, a->n, x->shape[ax], where);
    if (st) return st;
    out->dtype = x->dtype;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->rank);
    out->shape[ax] = a->n;
    return TG_OK;
}

static gplan index_select_plan(const tg_node *n) {
    const index_select_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    int ax = tg__axis(a->axis, x->rank);
    gplan p = {1, x->shape[ax], a->n, 1, a->idx};
    for (int i = 0; i < ax; i++) p.outer *= x->shape[i];
    for (int i = ax + 1; i < x->rank; i++) p.inner *= x->shape[i];
    return p;
}

static tg_status index_select_forward(tg_node *n) {
    gplan p = index_select_plan(n);
    gather(&p, n->in[0]->data, n->out->data, tg_dtype_size(n->out->dtype));
    return TG_OK;
}

static tg_status index_select_backward(tg_node *n) {
    gplan p = index_select_plan(n);
    return gather_backward(n, &p);
}

static const int32_t S_303[] = {3, 0, 3}, S_4402[] = {4, 4, 0, 2}, S_22201[] = {2, 2, 2, 0, 1},
                     S_000[] = {0, 0, 0}, S_BAD[] = {0, 3};
static const index_select_attr S_A0 = {S_303, 3, 0}, S_A1 = {S_4402, 4, 1}, S_AM1 = {S_22201, 5, -1},
                               S_A1X = {S_000, 3, 0}, S_AHI = {S_BAD, 2, 1}, S_AX2 = {S_000, 1, 2},
                               S_AE = {S_000, 0, 0};

const tg_op_def tg_op_index_select = {
    .name = "index_select",
    .n_inputs = 1,
    .attr_size = sizeof(index_select_attr),
    .infer = index_select_infer,
    .forward = index_select_forward,
    .backward = index_select_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"4,3", &S_A0}, {"2,5,3", &S_A1}, {"2,3", &S_AM1}, {"1", &S_A1X}, {"0,3", &S_AE}, {"4,0", &S_A0}},
              .bad = {{"2,3", &S_AHI}, {"2,3", &S_AX2}, {"", &S_A1X}, {"4,3;4,3", &S_A0}, {"0,3", &S_A0}}},
};

tg_tensor *tg_index_select(tg_tensor *x, int axis, const int32_t *idx, int64_t n) {
    if (!x) return NULL;
    if (n < 0) {
        tg__error(x->ctx, TG_EINVAL, "index_select: index count %lld is negative (input %s)", (long long)n,
                  tg__sh(x));
        return NULL;
    }
    index_select_attr a = {NULL, n, axis};
    const void *copy;
    if (copy_to_tape(x->ctx, "index_select", "index", idx, n, sizeof(int32_t), &copy)) return NULL;
    a.idx = copy;
    return tg_apply(&tg_op_index_select, &x, 1, &a);
}

/* ---- where: y = mask ? a : b (same shapes); da += mask ? dy : 0, db += mask ? 0 : dy ---- */

static tg_status where_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const where_attr *w = n->attr;
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (!tg_shape_eq(a, b))
        return tg__error(n->ctx, TG_ESHAPE, "where: a %s and b %s must have the same shape", tg__sh(a),
                         tg__sh(b));
    if (w->n != a->numel || (w->n > 0 && !w->mask))
        return tg__error(n->ctx, TG_ESHAPE, "where: the mask has %lld entries%s but a and b are %s",
                         (long long)w->n, (w->n > 0 && !w->mask) ? " (NULL)" : "", tg__sh(a));
    return tg__infer_same(n, out);
}

static tg_status where_forward(tg_node *n) {
    const uint8_t *m = ((const where_attr *)n->attr)->mask;
    size_t es = tg_dtype_size(n->out->dtype);
    const char *a = n->in[0]->data, *b = n->in[1]->data;
    char *y = n->out->data;
    for (int64_t i = 0; i < n->out->numel; i++) memcpy(y + (size_t)i * es, (m[i] ? a : b) + (size_t)i * es, es);
    return TG_OK;
}

#define WHERE_BW(T)                                                                         \
    {                                                                                       \
        const T *dy = n->out->grad;                                                         \
        for (int s = 0; s < 2; s++) {                                                       \
            if (!tg_needs_grad(n->in[s])) continue;                                         \
            T *d = tg_grad_buf(n->in[s]);                                                   \
            if (!d) return TG_ENOMEM;                                                       \
            for (int64_t i = 0; i < n->out->numel; i++)                                     \
                if ((m[i] != 0) == (s == 0)) d[i] += dy[i];                                 \
        }                                                                                   \
    }
static tg_status where_backward(tg_node *n) {
    const uint8_t *m = ((const where_attr *)n->attr)->mask;
    if (n->out->dtype == TG_F32) WHERE_BW(float) else WHERE_BW(double)
    return TG_OK;
}

static const uint8_t W_M1[] = {1}, W_M6[] = {1, 0, 0, 1, 1, 0}, W_M24[] = {0, 1, 1, 0, 1, 0, 1, 1,
                                                                           0, 0, 0, 1, 1, 1, 0, 0,
                                                                           1, 0, 1, 0, 0, 1, 1, 0};
static const where_attr W_A1 = {W_M1, 1}, W_A6 = {W_M6, 6}, W_A24 = {W_M24, 24}, W_ANULL = {NULL, 6}, W_A0 = {W_M1, 0};

const tg_op_def tg_op_where = {
    .name = "where",
    .n_inputs = 2,
    .attr_size = sizeof(where_attr),
    .infer = where_infer,
    .forward = where_forward,
    .backward = where_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1;1", &W_A1}, {"2,3;2,3", &W_A6}, {"2,3,4;2,3,4", &W_A24}, {";", &W_A1}, {"0;0", &W_A0}, {"2,0;2,0", &W_A0}},
              .bad = {{"2,3;3,2", &W_A6}, {"2,2;2,2", &W_A6}, {"2,3;2,3", &W_ANULL}, {"6", &W_A6}}},
};

tg_tensor *tg_where(const uint8_t *mask, tg_tensor *a, tg_tensor *b) {
    if (!a || !b) return NULL;
    where_attr w = {NULL, a->numel};
    const void *copy;
    if (copy_to_tape(a->ctx, "where", "mask", mask, a->numel, 1, &copy)) return NULL;
    w.mask = copy;
    tg_tensor *in[2] = {a, b};
    return tg_apply(&tg_op_where, in, 2, &w);
}
