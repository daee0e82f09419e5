/* binary.c: elementwise binary ops with NumPy broadcasting: add, sub, mul,
 * div, maximum, minimum.
 *
 * One strided plan serves every shape pair. plan_make() pads both inputs to
 * the output's rank, gives broadcast dims stride 0, drops size-1 dims and
 * merges neighbouring dims that are contiguous in both inputs. After that:
 *   same shape            -> 1 dim,  strides (1,1): one flat loop
 *   x op scalar / size-1  -> 1 dim,  strides (1,0) or (0,1)
 *   (B,N) op (N) (bias)   -> 2 dims, inner strides (1,1), outer (N,0)
 *   (B,N) op (B,1)        -> 2 dims, inner strides (1,0), outer (N,1)
 *   anything else         -> up to 8 dims walked by an odometer
 * The innermost stride of an input is always 0 or 1 (inputs are contiguous),
 * so each kernel has three loops with constant strides that the compiler
 * vectorizes; the odometer runs once per row, not per element.
 *
 * Backward walks the same plan once per input that needs a gradient and adds
 * dy * ∂y/∂input at that input's position. An input with the output's shape
 * gets one term per element, straight into its gradient. A broadcast input
 * (stride 0 somewhere) collects its terms in a double scratch buffer from the
 * tape arena (four partial sums along a stride-0 row), added to the gradient
 * once: f32 bias gradients are summed in double, and applying an op twice
 * adds exactly twice the gradient. The passes for a and b are separate
 * functions, so tg_mul(x, x), where both gradients are one buffer, is fine.
 *
 * Fast path (flat_plan): when each input has either the output's element
 * count or one element, the plan is known without plan_make: one flat row of
 * numel(y) elements with strides 1 or 0. That is the plan plan_make would
 * build for these cases (same kernels, same order, same bits), without its
 * per-call work, which dominated the cost of ops on one-element tensors.
 *
 * maximum / minimum: NaN in either input gives NaN (fmax would drop it), and
 * on a tie the output and the whole gradient go to a. */
#include "ops_internal.h"

#include <math.h>

/* ---- plan ---- */

typedef struct bplan {
    int nd;                   /* >= 1 after plan_make */
    int64_t n[TG_MAX_RANK];   /* collapsed output dims */
    int64_t sa[TG_MAX_RANK];  /* element strides of a per dim (0: broadcast) */
    int64_t sb[TG_MAX_RANK];  /* element strides of b per dim */
} bplan;

/* Strides of t padded on the left to rank r, 0 on broadcast (size-1) dims. */
static void pad_strides(const tg_tensor *t, const tg_tensor *y, int64_t *st) {
    int r = y->rank, off = r - t->rank;
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int64_t d = i >= off ? t->shape[i - off] : 1;
        st[i] = (d == 1) ? 0 : s;
        s *= d;
    }
}

static void plan_make(const tg_tensor *a, const tg_tensor *b, const tg_tensor *y, bplan *p) {
    int64_t sa[TG_MAX_RANK], sb[TG_MAX_RANK];
    pad_strides(a, y, sa);
    pad_strides(b, y, sb);
    p->nd = 0;
    for (int i = 0; i < y->rank; i++) {
        int64_t d = y->shape[i];
        if (d == 1) continue;
        int k = p->nd - 1;
        if (k >= 0 && p->sa[k] == sa[i] * d && p->sb[k] == sb[i] * d) {
            p->n[k] *= d; /* dim i continues dim k in both inputs: merge */
            p->sa[k] = sa[i];
            p->sb[k] = sb[i];
        } else {
            p->n[++k] = d;
            p->sa[k] = sa[i];
            p->sb[k] = sb[i];
            p->nd = k + 1;
        }
    }
    if (p->nd == 0) { /* one element */
        p->nd = 1;
        p->n[0] = 1;
        p->sa[0] = p->sb[0] = 1;
    }
    /* inputs are contiguous, so the innermost strides are 0 or 1, not both 0 */
    TG_ASSERT((p->sa[p->nd - 1] == 0 || p->sa[p->nd - 1] == 1) &&
              (p->sb[p->nd - 1] == 0 || p->sb[p->nd - 1] == 1) &&
              (p->sa[p->nd - 1] | p->sb[p->nd - 1]) != 0);
}

/* Inner kernels: forward y[0..n) from a, b with inner strides sa, sb in {0,1};
 * backward adds into d, one input's gradient (direct: same type as the data)
 * or its double accumulator (reduce), at that input's inner stride. */
typedef void (*fwd_fn)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb, void *y);
typedef void (*bwd_fn)(int64_t n, const void *g, const void *y, const void *a, int64_t sa,
                       const void *b, int64_t sb, void *d);

/* Walk every row of the plan; call fwd (bwd == NULL) or bwd with d (elements
 * of ds bytes) at the offset of input `which` (0: a, 1: b). */
static void plan_run(const bplan *p, size_t es, fwd_fn fwd, bwd_fn bwd, int which, const char *a,
                     const char *b, char *y, const char *g, char *d, size_t ds) {
    int64_t idx[TG_MAX_RANK] = {0};
    int64_t oa = 0, ob = 0, oy = 0;
    int last = p->nd - 1;
    int64_t L = p->n[last], ia = p->sa[last], ib = p->sb[last];
    for (;;) {
        if (bwd)
            bwd(L, g + (size_t)oy * es, y + (size_t)oy * es, a + (size_t)oa * es, ia,
                b + (size_t)ob * es, ib, d + (size_t)(which ? ob : oa) * ds);
        else
            fwd(L, a + (size_t)oa * es, ia, b + (size_t)ob * es, ib, y + (size_t)oy * es);
        oy += L;
        int k = last - 1;
        for (; k >= 0; k--) {
            oa += p->sa[k];
            ob += p->sb[k];
            if (++idx[k] < p->n[k]) break;
            oa -= p->sa[k] * p->n[k];
            ob -= p->sb[k] * p->n[k];
            idx[k] = 0;
        }
        if (k < 0) break;
    }
}

/* The plan of the common cases without plan_make: each input has either the
 * output's element count (then its layout is the output's: any broadcast dim
 * of size > 1 would make it smaller, and numel(y) > 0 here) or one element.
 * Returns 0 (leaving p alone) for every other case. */
static int flat_plan(const tg_tensor *a, const tg_tensor *b, const tg_tensor *y, bplan *p) {
    int64_t n = y->numel;
    if ((a->numel != n && a->numel != 1) || (b->numel != n && b->numel != 1)) return 0;
    p->nd = 1;
    p->n[0] = n;
    p->sa[0] = a->numel == n ? 1 : 0;
    p->sb[0] = b->numel == n ? 1 : 0;
    return 1;
}

/* ---- kernel generators ----
 * F(x, z): forward value. GA/GB, in terms of gv, av, bv, yv: the gradient
 * contribution to a / b of one element with upstream gv, inputs av, bv and
 * output yv. */

#define FWD_KERNEL(op, sfx, T, F)                                                     \
    static void op##_fwd_##sfx(int64_t n, const void *pa, int64_t sa, const void *pb, \
                               int64_t sb, void *py) {                                \
        const T *restrict a = pa, *restrict b = pb;                                   \
        T *restrict y = py;                                                           \
        if (sa && sb) {                                                               \
            for (int64_t i = 0; i < n; i++) y[i] = F(a[i], b[i]);                     \
        } else if (sa) {                                                              \
            const T bv = b[0];                                                        \
            for (int64_t i = 0; i < n; i++) y[i] = F(a[i], bv);                       \
        } else {                                                                      \
            const T av = a[0];                                                        \
            for (int64_t i = 0; i < n; i++) y[i] = F(av, b[i]);                       \
        }                                                                             \
    }

/* Backward into one input with inner stride SD (sa or sb), accumulator type
 * D. SD == 0 (the input is broadcast along the row, so the other input has
 * stride 1) sums the row with four double partial sums. */
#define BWD_KERNEL(op, which, sfx, mode, T, D, EXPR, SD, ASG)                                 \
    static void op##_bw##which##_##mode##_##sfx(int64_t n, const void *pg, const void *py,  \
                                                const void *pa, int64_t sa, const void *pb, \
                                                int64_t sb, void *pd) {                     \
        const T *restrict g = pg, *restrict y = py, *restrict a = pa, *restrict b = pb;     \
        D *restrict d = pd;                                                                 \
        if (SD) {                                                                           \
            if (sa && sb) {                                                                 \
                for (int64_t i = 0; i < n; i++) {                                           \
                    const T gv = g[i], yv = y[i], av = a[i], bv = b[i];                     \
                    (void)yv, (void)av, (void)bv;                                           \
                    d[i] ASG (D)(EXPR);                                                      \
                }                                                                           \
            } else if (sa) {                                                                \
                const T bv = b[0];                                                          \
                for (int64_t i = 0; i < n; i++) {                                           \
                    const T gv = g[i], yv = y[i], av = a[i];                                \
                    (void)yv, (void)av, (void)bv;                                           \
                    d[i] ASG (D)(EXPR);                                                      \
                }                                                                           \
            } else {                                                                        \
                const T av = a[0];                                                          \
                for (int64_t i = 0; i < n; i++) {                                           \
                    const T gv = g[i], yv = y[i], bv = b[i];                                \
                    (void)yv, (void)av, (void)bv;                                           \
                    d[i] ASG (D)(EXPR);                                                      \
                }                                                                           \
            }                                                                               \
        } else {                                                                            \
            double s[4] = {0, 0, 0, 0};                                                     \
            const int64_t sa1 = sa ? 1 : 0, sb1 = sb ? 1 : 0;                               \
            int64_t i = 0;                                                                  \
            for (; i + 4 <= n; i += 4)                                                      \
                for (int u = 0; u < 4; u++) {                                               \
                    const int64_t j = i + u;                                                \
                    const T gv = g[j], yv = y[j], av = a[j * sa1], bv = b[j * sb1];         \
                    (void)yv, (void)av, (void)bv;                                           \
                    s[u] += (double)(EXPR);                                                 \
                }                                                                           \
            for (; i < n; i++) {                                                            \
                const T gv = g[i], yv = y[i], av = a[i * sa1], bv = b[i * sb1];             \
                (void)yv, (void)av, (void)bv;                                               \
                s[0] += (double)(EXPR);                                                     \
            }                                                                               \
            d[0] ASG (D)((s[0] + s[1]) + (s[2] + s[3]));                                     \
        }                                                                                   \
    }

/* The kernels of one op. bw[input][dtype][mode]: mode 0 direct (the input
 * has the output's shape: each element of its gradient gets one term),
 * mode 1 reduce (the input is broadcast: terms go to a double accumulator
 * that is added to the gradient once, so accumulation order cannot depend
 * on what the gradient held before, and f32 bias gradients sum in double). */
typedef struct bin_kernels {
    fwd_fn fwd[2];
    bwd_fn bw[2][2][2];
    bwd_fn set[2][2]; /* [input][dtype]: mode 0 assigning, for a fresh gradient buffer */
} bin_kernels;

static tg_status bin_forward(tg_node *n, const bin_kernels *k) {
    const tg_tensor *a = n->in[0], *b = n->in[1];
    tg_tensor *y = n->out;
    if (y->numel == 0) return TG_OK;
    int t = y->dtype == TG_F64;
    bplan p;
    if (flat_plan(a, b, y, &p)) {
        k->fwd[t](p.n[0], a->data, p.sa[0], b->data, p.sb[0], y->data);
        return TG_OK;
    }
    plan_make(a, b, y, &p);
    size_t es = t ? 8 : 4;
    plan_run(&p, es, k->fwd[t], NULL, 0, a->data, b->data, y->data, NULL, NULL, es);
    return TG_OK;
}

static tg_status bin_backward(tg_node *n, const bin_kernels *k) {
    tg_tensor *a = n->in[0], *b = n->in[1], *y = n->out;
    if (y->numel == 0) return TG_OK;
    int t = y->dtype == TG_F64;
    size_t es = t ? 8 : 4;
    bplan p;
    int flat = flat_plan(a, b, y, &p);
    if (!flat) plan_make(a, b, y, &p);
    for (int w = 0; w < 2; w++) {
        tg_tensor *x = n->in[w];
        if (!(x->flags & TG_REQUIRES_GRAD)) continue;
        /* One row with x the output's size: a direct pass, which assigns a
         * fresh gradient buffer (every element written) instead of adding
         * to a zeroed one. With a == b, b's buffer is no longer fresh. */
        int fresh = 0;
        void *d = flat && x->numel == y->numel ? tg_grad_buf_fresh(x, &fresh) : tg_grad_buf(x);
        if (!d) return TG_ENOMEM;
        if (flat) {
            /* One row: a direct pass, or a broadcast scalar whose terms the
             * reduce kernel sums into one double, added to the gradient once
             * (what plan_run does with a one-element accumulator). */
            if (x->numel == y->numel) {
                (fresh ? k->set[w][t] : k->bw[w][t][0])(p.n[0], y->grad, y->data, a->data, p.sa[0], b->data,
                                                        p.sb[0], d);
            } else {
                double acc = 0;
                k->bw[w][t][1](p.n[0], y->grad, y->data, a->data, p.sa[0], b->data, p.sb[0], &acc);
                if (t) *(double *)d += acc;
                else *(float *)d += (float)acc;
            }
            continue;
        }
        if (x->numel == y->numel) {
            plan_run(&p, es, NULL, k->bw[w][t][0], w, a->data, b->data, y->data, y->grad, d, es);
            continue;
        }
        double *acc = tg_node_alloc(n, (size_t)x->numel * sizeof *acc);
        if (!acc) return TG_ENOMEM;
        memset(acc, 0, (size_t)x->numel * sizeof *acc);
        plan_run(&p, es, NULL, k->bw[w][t][1], w, a->data, b->data, y->data, y->grad, (char *)acc,
                 sizeof *acc);
        if (t) {
            double *dd = d;
            for (int64_t i = 0; i < x->numel; i++) dd[i] += acc[i];
        } else {
            float *df = d;
            for (int64_t i = 0; i < x->numel; i++) df[i] += (float)acc[i];
        }
    }
    return TG_OK;
}

#define BINARY_OP(op, F, GA, GB, LO, HI)                                                 \
    FWD_KERNEL(op, f32, float, F)                                                        \
    FWD_KERNEL(op, f64, double, F)                                                       \
    BWD_KERNEL(op, a, f32, dir, float, float, GA, sa, +=)                                \
    BWD_KERNEL(op, a, f64, dir, double, double, GA, sa, +=)                              \
    BWD_KERNEL(op, b, f32, dir, float, float, GB, sb, +=)                                \
    BWD_KERNEL(op, b, f64, dir, double, double, GB, sb, +=)                              \
    BWD_KERNEL(op, a, f32, red, float, double, GA, sa, +=)                               \
    BWD_KERNEL(op, a, f64, red, double, double, GA, sa, +=)                              \
    BWD_KERNEL(op, b, f32, red, float, double, GB, sb, +=)                               \
    BWD_KERNEL(op, b, f64, red, double, double, GB, sb, +=)                              \
    BWD_KERNEL(op, a, f32, set, float, float, GA, sa, =)                                 \
    BWD_KERNEL(op, a, f64, set, double, double, GA, sa, =)                               \
    BWD_KERNEL(op, b, f32, set, float, float, GB, sb, =)                                 \
    BWD_KERNEL(op, b, f64, set, double, double, GB, sb, =)                               \
    static const bin_kernels op##_k = {                                                  \
        {op##_fwd_f32, op##_fwd_f64},                                                    \
        {{{op##_bwa_dir_f32, op##_bwa_red_f32}, {op##_bwa_dir_f64, op##_bwa_red_f64}},   \
         {{op##_bwb_dir_f32, op##_bwb_red_f32}, {op##_bwb_dir_f64, op##_bwb_red_f64}}},  \
        {{op##_bwa_set_f32, op##_bwa_set_f64}, {op##_bwb_set_f32, op##_bwb_set_f64}}};   \
    static tg_status op##_forward(tg_node *n) { return bin_forward(n, &op##_k); }        \
    static tg_status op##_backward(tg_node *n) { return bin_backward(n, &op##_k); }      \
    const tg_op_def tg_op_##op = {                                                       \
        .name = #op,                                                                     \
        .n_inputs = 2,                                                                   \
        .infer = tg__infer_broadcast,                                                    \
        .forward = op##_forward,                                                         \
        .backward = op##_backward,                                                       \
        .check = {.lo = LO,                                                              \
                  .hi = HI,                                                              \
                  .cases = {{"1;1", NULL},                                               \
                            {"3,4;3,4", NULL},                                           \
                            {"2,3;3", NULL},                                             \
                            {"5,3;5,1", NULL},                                           \
                            {";2,3", NULL},                                              \
                            {"4,1;1,5", NULL},                                           \
                            {"2,3,4;3,1", NULL},                                         \
                            {"2,1,4,3;3,1,1", NULL},                                     \
                            {"0,3;3", NULL},                                             \
                            {"2,0;2,1", NULL}},                                          \
                  .bad = {{"2,3;4,3", NULL},                                             \
                          {"2,3;2", NULL},                                               \
                          {"3,1,2;2,4", NULL},                                           \
                          {"2,3", NULL}}},                                               \
    };                                                                                   \
    tg_tensor *tg_##op(tg_tensor *a, tg_tensor *b) {                                     \
        tg_tensor *in[2] = {a, b};                                                       \
        return tg_apply(&tg_op_##op, in, 2, NULL);                                       \
    }

/* ---- the ops ---- */

/* add: y = a + b; da += dy, db += dy */
#define ADD_F(x, z) ((x) + (z))
BINARY_OP(add, ADD_F, gv, gv, -2.0, 2.0)

/* sub: y = a - b; da += dy, db -= dy */
#define SUB_F(x, z) ((x) - (z))
BINARY_OP(sub, SUB_F, gv, -gv, -2.0, 2.0)

/* mul: y = a b; da += dy b, db += dy a */
#define MUL_F(x, z) ((x) * (z))
BINARY_OP(mul, MUL_F, gv * bv, gv * av, -2.0, 2.0)

/* div: y = a / b; da += dy / b, db -= dy a / b² = (dy / b) y.
 * Checked on [0.5, 2] so that denominators stay away from 0. */
#define DIV_F(x, z) ((x) / (z))
BINARY_OP(div, DIV_F, gv / bv, -(gv / bv) * yv, 0.5, 2.0)

/* maximum: y = a if a >= b or a is NaN, else b (a NaN b gives b = NaN, so NaN
 * always propagates); the gradient follows the chosen input, ties to a.
 * Inputs are drawn independently from a continuous range, so ties in the
 * gradient check have probability ~0. */
#define MAX_SEL(x, z) (((x) >= (z)) | ((x) != (x))) /* |, not ||: no branch, vectorizes */
#define MAX_F(x, z) (MAX_SEL(x, z) ? (x) : (z))
BINARY_OP(maximum, MAX_F, (MAX_SEL(av, bv) ? gv : 0), (MAX_SEL(av, bv) ? 0 : gv), -2.0, 2.0)

/* minimum: y = a if a <= b or a is NaN, else b; ties to a. */
#define MIN_SEL(x, z) (((x) <= (z)) | ((x) != (x)))
#define MIN_F(x, z) (MIN_SEL(x, z) ? (x) : (z))
BINARY_OP(minimum, MIN_F, (MIN_SEL(av, bv) ? gv : 0), (MIN_SEL(av, bv) ? 0 : gv), -2.0, 2.0)
