/* join.c: joining and cutting along one axis: concat, stack, narrow, and the
 * wrappers slice and split built on narrow.
 *
 * All of them copy whole runs. Viewing a tensor as (outer, axis·inner), each
 * input of concat / stack owns one contiguous run of every output row:
 *   concat: run_i = x_i.shape[axis]·inner, rows = Π shape[0..axis)
 *   stack:  run_i = Π x.shape[axis..rank)  (the new axis has size n)
 *   narrow: the output row is the run [start·inner, (start+length)·inner)
 *           of each input row.
 * Backward adds each run of dy back into the gradient it came from, so
 * concat(x, x) gives x both contributions.
 *
 * infer writes the normalized (non-negative) axis and start back into the
 * node's own copy of the attribute block, so forward and backward read them
 * ready to use. */
#include "ops_internal.h"

typedef struct axis_attr {
    int axis;  /* concat: in [-rank, rank); stack: in [-(rank+1), rank] */
} axis_attr;

typedef struct narrow_attr {
    int axis;        /* negative counts from the end */
    int64_t start;   /* in [-dim, dim]; negative counts from the end */
    int64_t length;  /* >= 0, start + length <= dim */
} narrow_attr;

/* ---- shared run copy ----
 * y rows are `row` elements; input i contributes run[i] elements at offset
 * off[i] of each of `outer` rows. */

static void runs_forward(tg_node *n, int64_t outer, int64_t row, const int64_t *run) {
    size_t es = tg_dtype_size(n->out->dtype);
    char *y = n->out->data;
    int64_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        const char *x = n->in[i]->data;
        size_t bytes = (size_t)run[i] * es;
        if (bytes)
            for (int64_t o = 0; o < outer; o++)
                memcpy(y + (size_t)(o * row + off) * es, x + (size_t)o * bytes, bytes);
        off += run[i];
    }
}

#define RUNS_BW(T)                                                                          \
    {                                                                                       \
        const T *dy = n->out->grad;                                                         \
        T *dx = tg_grad_buf(n->in[i]);                                                      \
        if (!dx) return TG_ENOMEM;                                                          \
        for (int64_t o = 0; o < outer; o++) {                                               \
            const T *g = dy + o * row + off;                                                \
            T *d = dx + o * r;                                                              \
            for (int64_t j = 0; j < r; j++) d[j] += g[j];                                   \
        }                                                                                   \
    }
static tg_status runs_backward(tg_node *n, int64_t outer, int64_t row, const int64_t *run) {
    int64_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t r = run[i];
        if (tg_needs_grad(n->in[i])) {
            if (n->out->dtype == TG_F32) RUNS_BW(float) else RUNS_BW(double)
        }
        off += r;
    }
    return TG_OK;
}

/* ---- concat: y = [x_0, x_1, ...] along axis; shapes agree off the axis ---- */

static tg_status concat_infer(tg_node *n, tg_out_spec *out) {
    axis_attr *a = n->attr;
    const tg_tensor *x0 = n->in[0];
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (x0->rank == 0)
        return tg__error(n->ctx, TG_ESHAPE, "concat: cannot concatenate rank-0 tensors (input 0 is %s); use stack",
                         tg__sh(x0));
    int ax = tg__axis(a->axis, x0->rank);
    if (ax < 0)
        return tg__error(n->ctx, TG_EINVAL, "concat: axis %d is out of range for %s (rank %d)", a->axis,
                         tg__sh(x0), x0->rank);
    int64_t total = 0;
    for (int i = 0; i < n->n_in; i++) {
        const tg_tensor *x = n->in[i];
        int bad = x->rank != x0->rank;
        for (int d = 0; d < x0->rank && !bad; d++)
            if (d != ax && x->shape[d] != x0->shape[d]) bad = 1;
        if (bad)
            return tg__error(n->ctx, TG_ESHAPE,
                             "concat: input %d is %s but input 0 is %s: shapes must agree except on axis %d",
                             i, tg__sh(x), tg__sh(x0), ax);
        total += x->shape[ax];
    }
    a->axis = ax;
    out->dtype = x0->dtype;
    out->rank = x0->rank;
    memcpy(out->shape, x0->shape, sizeof(int64_t) * (size_t)x0->rank);
    out->shape[ax] = total;
    return TG_OK;
}

/* Output rows, row length, and the run of each input (run has n_in entries). */
static void concat_runs(const tg_node *n, int64_t *outer, int64_t *row, int64_t *run) {
    int ax = ((const axis_attr *)n->attr)->axis;
    const tg_tensor *y = n->out;
    int64_t inner = 1;
    *outer = 1;
    for (int d = 0; d < ax; d++) *outer *= y->shape[d];
    for (int d = ax + 1; d < y->rank; d++) inner *= y->shape[d];
    *row = y->shape[ax] * inner;
    for (int i = 0; i < n->n_in; i++) run[i] = n->in[i]->shape[ax] * inner;
}

/* Per-input run lengths: on the stack for up to 64 inputs, else node scratch
 * allocated once (by forward) and kept in n->saved for backward. */
#define RUN_STACK 64
static int64_t *run_buf(tg_node *n, int64_t *stack) {
    if (n->n_in <= RUN_STACK) return stack;
    if (!n->saved) n->saved = tg_node_alloc(n, (size_t)n->n_in * sizeof(int64_t));
    return n->saved;
}

static tg_status concat_forward(tg_node *n) {
    int64_t st[RUN_STACK], *run = run_buf(n, st), outer, row;
    if (!run) return TG_ENOMEM;
    concat_runs(n, &outer, &row, run);
    runs_forward(n, outer, row, run);
    return TG_OK;
}

static tg_status concat_backward(tg_node *n) {
    int64_t st[RUN_STACK], *run = run_buf(n, st), outer, row;
    if (!run) return TG_ENOMEM;
    concat_runs(n, &outer, &row, run);
    return runs_backward(n, outer, row, run);
}

static const axis_attr AX0 = {0}, AX1 = {1}, AXM1 = {-1}, AX2 = {2}, AXM4 = {-4};

const tg_op_def tg_op_concat = {
    .name = "concat",
    .n_inputs = -1,
    .attr_size = sizeof(axis_attr),
    .infer = concat_infer,
    .forward = concat_forward,
    .backward = concat_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"2,3;4,3", &AX0},
                        {"2,1,3;2,4,3;2,2,3", &AX1},
                        {"2,3;2,1;2,2", &AXM1},
                        {"1", &AX0},
                        {"1;1", &AX0},
                        {"3,2,2;3,2,1", &AX2},
                        {"0,3;2,3", &AX0},
                        {"2,0;2,3", &AX1}},
              .bad = {{"2,3;2,4", &AX0}, {"2,3;2,3", &AX2}, {";", &AX0}, {"2,3;2,3,1", &AX0}}},
};

tg_tensor *tg_concat(tg_tensor *const *xs, int n, int axis) {
    if (!xs || n < 1) return NULL;
    axis_attr a = {axis};
    return tg_apply(&tg_op_concat, xs, n, &a);
}

/* ---- stack: y[..., i, ...] = x_i along a new axis; all shapes equal ---- */

static tg_status stack_infer(tg_node *n, tg_out_spec *out) {
    axis_attr *a = n->attr;
    const tg_tensor *x0 = n->in[0];
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (x0->rank >= TG_MAX_RANK)
        return tg__error(n->ctx, TG_ESHAPE, "stack: inputs of rank %d leave no room for a new axis (input %s)",
                         x0->rank, tg__sh(x0));
    int ax = tg__axis(a->axis, x0->rank + 1);
    if (ax < 0)
        return tg__error(n->ctx, TG_EINVAL, "stack: axis %d is out of range for inputs %s (output rank %d)",
                         a->axis, tg__sh(x0), x0->rank + 1);
    for (int i = 1; i < n->n_in; i++)
        if (!tg_shape_eq(n->in[i], x0))
            return tg__error(n->ctx, TG_ESHAPE, "stack: input %d is %s but input 0 is %s: shapes must be equal",
                             i, tg__sh(n->in[i]), tg__sh(x0));
    a->axis = ax;
    out->dtype = x0->dtype;
    out->rank = x0->rank + 1;
    for (int d = 0, s = 0; d < out->rank; d++) out->shape[d] = d == ax ? n->n_in : x0->shape[s++];
    return TG_OK;
}

static void stack_runs(const tg_node *n, int64_t *outer, int64_t *row, int64_t *run) {
    int ax = ((const axis_attr *)n->attr)->axis;
    const tg_tensor *x0 = n->in[0];
    int64_t r = 1;
    *outer = 1;
    for (int d = 0; d < ax; d++) *outer *= x0->shape[d];
    for (int d = ax; d < x0->rank; d++) r *= x0->shape[d];
    *row = r * n->n_in;
    for (int i = 0; i < n->n_in; i++) run[i] = r;
}

static tg_status stack_forward(tg_node *n) {
    int64_t st[RUN_STACK], *run = run_buf(n, st), outer, row;
    if (!run) return TG_ENOMEM;
    stack_runs(n, &outer, &row, run);
    runs_forward(n, outer, row, run);
    return TG_OK;
}

static tg_status stack_backward(tg_node *n) {
    int64_t st[RUN_STACK], *run = run_buf(n, st), outer, row;
    if (!run) return TG_ENOMEM;
    stack_runs(n, &outer, &row, run);
    return runs_backward(n, outer, row, run);
}

const tg_op_def tg_op_stack = {
    .name = "stack",
    .n_inputs = -1,
    .attr_size = sizeof(axis_attr),
    .infer = stack_infer,
    .forward = stack_forward,
    .backward = stack_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"2,3;2,3", &AX0},
                        {"2,3;2,3;2,3", &AX1},
                        {"3,2;3,2", &AXM1},
                        {";;", &AX0},
                        {"1", &AX0},
                        {"2,1,2;2,1,2", &AX2},
                        {"0,3;0,3", &AX0},
                        {"2,0;2,0", &AX1}},
              .bad = {{"2,3;3,2", &AX0}, {"2,3;2,3", &AXM4}, {"2;2,1", &AX0}}},
};

tg_tensor *tg_stack(tg_tensor *const *xs, int n, int axis) {
    if (!xs || n < 1) return NULL;
    axis_attr a = {axis};
    return tg_apply(&tg_op_stack, xs, n, &a);
}

/* ---- narrow: y = x[..., start:start+length, ...] along axis ---- */

static tg_status narrow_infer(tg_node *n, tg_out_spec *out) {
    narrow_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    int ax = tg__axis(a->axis, x->rank);
    if (ax < 0)
        return tg__error(n->ctx, TG_EINVAL, "narrow: axis %d is out of range for %s (rank %d)", a->axis,
                         tg__sh(x), x->rank);
    int64_t dim = x->shape[ax], start = a->start < 0 ? a->start + dim : a->start;
    if (start < 0 || start > dim || a->length < 0 || a->length > dim - start)
        return tg__error(n->ctx, TG_ESHAPE,
                         "narrow: start %lld, length %lld does not fit axis %d (size %lld) of %s",
                         (long long)a->start, (long long)a->length, ax, (long long)dim, tg__sh(x));
    a->axis = ax;
    a->start = start;
    out->dtype = x->dtype;
    out->rank = x->rank;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->rank);
    out->shape[ax] = a->length;
    return TG_OK;
}

/* x viewed as (outer, dim·inner); y as (outer, length·inner) from offset start·inner. */
typedef struct nplan {
    int64_t outer, xrow, yrow, off;
} nplan;

static nplan narrow_plan(const tg_node *n) {
    const narrow_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    int64_t inner = 1, outer = 1;
    for (int d = 0; d < a->axis; d++) outer *= x->shape[d];
    for (int d = a->axis + 1; d < x->rank; d++) inner *= x->shape[d];
    return (nplan){outer, x->shape[a->axis] * inner, a->length * inner, a->start * inner};
}

static tg_status narrow_forward(tg_node *n) {
    nplan p = narrow_plan(n);
    size_t es = tg_dtype_size(n->out->dtype), bytes = (size_t)p.yrow * es;
    const char *x = n->in[0]->data;
    char *y = n->out->data;
    if (bytes)
        for (int64_t o = 0; o < p.outer; o++) memcpy(y + (size_t)o * bytes, x + (size_t)(o * p.xrow + p.off) * es, bytes);
    return TG_OK;
}

/* A fresh gradient buffer (nothing wrote it yet in this pass) gets the slice
 * copied and zeros around it, instead of being zeroed whole and added to. */
#define NARROW_BW(T)                                                                        \
    {                                                                                       \
        const T *dy = n->out->grad;                                                         \
        int fresh;                                                                          \
        T *dx = tg_grad_buf_fresh(x, &fresh);                                               \
        if (!dx) return TG_ENOMEM;                                                          \
        for (int64_t o = 0; o < p.outer; o++) {                                             \
            T *row = dx + o * p.xrow, *d = row + p.off;                                     \
            const T *g = dy + o * p.yrow;                                                   \
            if (fresh) {                                                                    \
                memset(row, 0, (size_t)p.off * sizeof(T));                                  \
                memcpy(d, g, (size_t)p.yrow * sizeof(T));                                   \
                memset(d + p.yrow, 0, (size_t)(p.xrow - p.off - p.yrow) * sizeof(T));       \
            } else {                                                                        \
                for (int64_t j = 0; j < p.yrow; j++) d[j] += g[j];                          \
            }                                                                               \
        }                                                                                   \
        if (fresh && p.outer == 0)                                                          \
            memset(dx, 0, (size_t)(x->numel ? x->numel : 1) * sizeof(T));                   \
    }
static tg_status narrow_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    nplan p = narrow_plan(n);
    if (x->dtype == TG_F32) NARROW_BW(float) else NARROW_BW(double)
    return TG_OK;
}

static const narrow_attr N_0_1_2 = {0, 1, 2}, N_1_0_1 = {1, 0, 1}, N_M1_M3_2 = {-1, -3, 2},
                         N_0_0_1 = {0, 0, 1}, N_2_1_3 = {2, 1, 3}, N_1_2_0 = {1, 2, 0},
                         N_0_2_2 = {0, 2, 2}, N_2_0_1 = {2, 0, 1}, N_0_M4_1 = {0, -4, 1},
                         N_1_0_0 = {1, 0, 0};

const tg_op_def tg_op_narrow = {
    .name = "narrow",
    .n_inputs = 1,
    .attr_size = sizeof(narrow_attr),
    .infer = narrow_infer,
    .forward = narrow_forward,
    .backward = narrow_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"4,3", &N_0_1_2},
                        {"2,3,4", &N_1_0_1},
                        {"2,5", &N_M1_M3_2},
                        {"1", &N_0_0_1},
                        {"2,3,5", &N_2_1_3},
                        {"2,3", &N_1_2_0},
                        {"0,3", &N_1_0_1},
                        {"3,0", &N_1_0_0}},
              .bad = {{"3,2", &N_0_2_2}, {"3,2", &N_2_0_1}, {"3,2", &N_0_M4_1}, {"", &N_0_0_1}, {"3,0", &N_1_0_1}}},
};

tg_tensor *tg_narrow(tg_tensor *x, int axis, int64_t start, int64_t length) {
    narrow_attr a = {axis, start, length};
    return x ? tg_apply(&tg_op_narrow, &x, 1, &a) : NULL;
}

tg_tensor *tg_slice(tg_tensor *x, int axis, int64_t start, int64_t end) {
    if (!x) return NULL;
    int ax = tg__axis(axis, x->rank);
    if (ax < 0) {
        tg__error(x->ctx, TG_EINVAL, "slice: axis %d is out of range for %s (rank %d)", axis, tg__sh(x), x->rank);
        return NULL;
    }
    int64_t dim = x->shape[ax];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < start ? start : end > dim ? dim : end;
    return tg_narrow(x, ax, start, end - start);
}

tg_status tg_split(tg_tensor *x, int axis, const int64_t *sizes, int n, tg_tensor **out) {
    if (!out || n < 0) return TG_EINVAL;
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (!x) return TG_EINVAL;
    int ax = tg__axis(axis, x->rank);
    if (ax < 0)
        return tg__error(x->ctx, TG_EINVAL, "split: axis %d is out of range for %s (rank %d)", axis, tg__sh(x),
                         x->rank);
    if (n < 1 || !sizes)
        return tg__error(x->ctx, TG_EINVAL, "split: need at least one size (got %d%s) for %s", n,
                         (n >= 1 && !sizes) ? ", sizes NULL" : "", tg__sh(x));
    int64_t dim = x->shape[ax], total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0 || sizes[i] > dim - total)
            return tg__error(x->ctx, TG_ESHAPE, "split: size %d (%lld) does not fit axis %d (size %lld) of %s", i,
                             (long long)sizes[i], ax, (long long)dim, tg__sh(x));
        total += sizes[i];
    }
    if (total != dim)
        return tg__error(x->ctx, TG_ESHAPE, "split: sizes sum to %lld but axis %d of %s has %lld", (long long)total,
                         ax, tg__sh(x), (long long)dim);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        out[i] = tg_narrow(x, ax, start, sizes[i]);
        if (!out[i]) {
            for (int j = 0; j < i; j++) out[j] = NULL;
            return tg_last_status(x->ctx);
        }
        start += sizes[i];
    }
    return TG_OK;
}
