/* loss.c: losses that reduce to a rank-0 tensor. N below is the count the
 * mean divides by (numel, or B for the label losses); TG_SUM uses N = 1.
 *
 *   mse:             L = Σ (p - t)² / N              dp += g·2(p-t)/N, dt -= the same
 *   bce_with_logits: L = Σ max(x,0) - x·y + ln(1 + e^-|x|) / N
 *                    dx += g(σ(x) - y)/N, dy += -g·x/N
 *   cross_entropy:   L = Σ_b (lse_b - x[b, label_b]) / N, lse_b = ln Σ_c e^x[b,c]
 *                    dx[b,c] += g(softmax[b,c] - [c = label_b])/N
 *   nll:             L = -Σ_b logp[b, label_b] / N   dlogp[b, label_b] -= g/N
 *
 * Every formula avoids overflow: lse subtracts the row maximum and bce uses
 * e^-|x| <= 1, so logits up to ±1e4 (and beyond) give finite losses and
 * gradients. An empty input gives the loss 0 in both reductions (PyTorch's
 * mean gives NaN there). A cross_entropy row of all -inf follows softmax.c's
 * policy: its log-probabilities are -ln C, so it adds ln C to the sum and
 * gets no gradient.
 *
 * The label losses take labels[B] in [0, C); each is checked before any
 * work, and the array is copied into the tape's arena by forward, so the
 * caller's array may die after the call. */
#include "ops_internal.h"
#include "lanes.h"
#include "vmath.h"

#include <math.h>

#define EB 2048 /* elements per block of exp work (stack scratch) */

/* Attribute block of every loss. labels: B class indices (label losses only;
 * NULL for mse and bce_with_logits). A NULL attr means TG_MEAN. */
typedef struct {
    int32_t reduction; /* tg_reduction */
    const int32_t *labels;
} loss_attr;

static tg_status check_reduction(tg_node *n) {
    int32_t r = ((const loss_attr *)n->attr)->reduction;
    if (r != TG_MEAN && r != TG_SUM)
        return tg__error(n->ctx, TG_EINVAL, "%s: reduction %d is neither TG_MEAN (0) nor TG_SUM (1)",
                         n->op->name, (int)r);
    return TG_OK;
}

/* The divisor of the mean (1 for TG_SUM); 0 items gives 1, so L = 0. */
static double divisor(const tg_node *n, int64_t items) {
    if (((const loss_attr *)n->attr)->reduction == TG_SUM || items == 0) return 1.0;
    return (double)items;
}

/* Upstream gradient g (rank-0 output) over the divisor. */
static double upstream(const tg_node *n, int64_t items) {
    double g = n->out->dtype == TG_F32 ? (double)*(const float *)n->out->grad : *(const double *)n->out->grad;
    return g / divisor(n, items);
}

static void store_loss(tg_node *n, double v) { tg__st(n->out, 0, v); }

/* ---- pairwise losses: two same-shape, same-dtype inputs ---- */

static tg_status infer_pair(tg_node *n, tg_out_spec *out) {
    tg_status st = check_reduction(n);
    if (st) return st;
    if ((st = tg__same_dtype(n))) return st;
    if (!tg_shape_eq(n->in[0], n->in[1]))
        return tg__error(n->ctx, TG_ESHAPE, "%s: input and target shapes differ: %s and %s", n->op->name,
                         tg__sh(n->in[0]), tg__sh(n->in[1]));
    out->dtype = n->in[0]->dtype;
    out->rank = 0;
    return TG_OK;
}

/* ---- mse ---- */

#define MSE_FW(T)                                                                             \
    {                                                                                         \
        const T *p = n->in[0]->data, *t = n->in[1]->data;                                     \
        for (int64_t i = 0; i < N; i++) {                                                     \
            double d = (double)p[i] - (double)t[i];                                           \
            acc += d * d;                                                                     \
        }                                                                                     \
    }
static tg_status mse_forward(tg_node *n) {
    int64_t N = n->in[0]->numel;
    double acc = 0;
    if (n->out->dtype == TG_F32) MSE_FW(float) else MSE_FW(double)
    store_loss(n, acc / divisor(n, N));
    return TG_OK;
}

#define MSE_BW(T)                                                                             \
    {                                                                                         \
        const T *p = n->in[0]->data, *t = n->in[1]->data, k = (T)(2.0 * g);                   \
        T *dp = tg_needs_grad(n->in[0]) ? tg_grad_buf(n->in[0]) : NULL;                       \
        T *dt = tg_needs_grad(n->in[1]) ? tg_grad_buf(n->in[1]) : NULL;                       \
        if ((tg_needs_grad(n->in[0]) && !dp) || (tg_needs_grad(n->in[1]) && !dt)) return TG_ENOMEM; \
        if (dp)                                                                               \
            for (int64_t i = 0; i < N; i++) dp[i] += k * (p[i] - t[i]);                       \
        if (dt)                                                                               \
            for (int64_t i = 0; i < N; i++) dt[i] -= k * (p[i] - t[i]);                       \
    }
static tg_status mse_backward(tg_node *n) {
    int64_t N = n->in[0]->numel;
    double g = upstream(n, N);
    if (n->out->dtype == TG_F32) MSE_BW(float) else MSE_BW(double)
    return TG_OK;
}

static const loss_attr red_mean = {TG_MEAN, NULL}, red_sum = {TG_SUM, NULL}, red_bad = {7, NULL};
const tg_op_def tg_op_mse = {
    .name = "mse",
    .n_inputs = 2,
    .attr_size = sizeof(loss_attr),
    .infer = infer_pair,
    .forward = mse_forward,
    .backward = mse_backward,
    .check = {.lo = -2, .hi = 2,
              .cases = {{"1;1", &red_mean}, {"3,4;3,4", &red_mean}, {";", &red_sum}, {"2,3,5;2,3,5", &red_sum},
                        {"0;0", &red_sum}, {"0,3;0,3", &red_mean}},
              .bad = {{"2,3;3,2", &red_mean}, {"2,3;2,3", &red_bad}, {"2,3", &red_mean}, {"4;1", &red_sum}}},
};
tg_tensor *tg_mse(tg_tensor *pred, tg_tensor *target, tg_reduction r) {
    tg_tensor *in[2] = {pred, target};
    loss_attr a = {(int32_t)r, NULL};
    return tg_apply(&tg_op_mse, in, 2, &a);
}

/* ---- bce_with_logits ---- */

/* e = e^-|x| over a chunk; e and x distinct. */
#define BCE_E(S, x, e, m)                                                                     \
    do {                                                                                      \
        for (int64_t j = 0; j < (m); j++) (e)[j] = (x)[j] < 0 ? (x)[j] : -(x)[j];             \
        tg__vexp_##S(e, e, m);                                                                \
    } while (0)

#define BCE_FW(T, S)                                                                          \
    {                                                                                         \
        const T *x = n->in[0]->data, *y = n->in[1]->data;                                     \
        T e[EB];                                                                              \
        for (int64_t i0 = 0; i0 < N; i0 += EB) {                                             \
            int64_t m = tg__min64(EB, N - i0);                                                \
            BCE_E(S, x + i0, e, m);                                                           \
            tg__vlog1p_##S(e, e, m);                                                          \
            for (int64_t j = 0; j < m; j++) {                                                 \
                T xv = x[i0 + j];                                                             \
                acc += (double)(xv > 0 ? xv : (T)0) - (double)xv * (double)y[i0 + j] + (double)e[j]; \
            }                                                                                 \
        }                                                                                     \
    }
static tg_status bce_forward(tg_node *n) {
    int64_t N = n->in[0]->numel;
    double acc = 0;
    if (n->out->dtype == TG_F32) BCE_FW(float, f32) else BCE_FW(double, f64)
    store_loss(n, acc / divisor(n, N));
    return TG_OK;
}

#define BCE_BW(T, S)                                                                          \
    {                                                                                         \
        const T *x = n->in[0]->data, *y = n->in[1]->data, k = (T)g;                           \
        T *dx = tg_needs_grad(n->in[0]) ? tg_grad_buf(n->in[0]) : NULL;                       \
        T *dy = tg_needs_grad(n->in[1]) ? tg_grad_buf(n->in[1]) : NULL;                       \
        if ((tg_needs_grad(n->in[0]) && !dx) || (tg_needs_grad(n->in[1]) && !dy)) return TG_ENOMEM; \
        T e[EB];                                                                              \
        if (dx)                                                                               \
            for (int64_t i0 = 0; i0 < N; i0 += EB) {                                         \
                int64_t m = tg__min64(EB, N - i0);                                            \
                BCE_E(S, x + i0, e, m);                                                       \
                for (int64_t j = 0; j < m; j++) {                                             \
                    T r = (T)1 / ((T)1 + e[j]), s = x[i0 + j] >= 0 ? r : e[j] * r;            \
                    dx[i0 + j] += k * (s - y[i0 + j]);                                        \
                }                                                                             \
            }                                                                                 \
        if (dy)                                                                               \
            for (int64_t i = 0; i < N; i++) dy[i] -= k * x[i];                                \
    }
static tg_status bce_backward(tg_node *n) {
    int64_t N = n->in[0]->numel;
    double g = upstream(n, N);
    if (n->out->dtype == TG_F32) BCE_BW(float, f32) else BCE_BW(double, f64)
    return TG_OK;
}

const tg_op_def tg_op_bce_with_logits = {
    .name = "bce_with_logits",
    .n_inputs = 2,
    .attr_size = sizeof(loss_attr),
    .infer = infer_pair,
    .forward = bce_forward,
    .backward = bce_backward,
    .check = {.lo = -4, .hi = 4,
              .cases = {{"1;1", &red_mean}, {"3,4;3,4", &red_mean}, {";", &red_sum}, {"2,3,5;2,3,5", &red_sum},
                        {"0;0", &red_sum}, {"0,3;0,3", &red_mean}},
              .bad = {{"2,3;3,2", &red_mean}, {"2,3;2,3", &red_bad}, {"2,3", &red_mean}, {"4;1", &red_sum}}},
};
tg_tensor *tg_bce_with_logits(tg_tensor *logits, tg_tensor *targets, tg_reduction r) {
    tg_tensor *in[2] = {logits, targets};
    loss_attr a = {(int32_t)r, NULL};
    return tg_apply(&tg_op_bce_with_logits, in, 2, &a);
}

/* ---- label losses: one (B,C) input and labels[B] in [0, C) ---- */

static tg_status infer_labels(tg_node *n, tg_out_spec *out) {
    tg_status st = check_reduction(n);
    if (st) return st;
    const tg_tensor *x = n->in[0];
    const loss_attr *a = n->attr;
    if (x->rank != 2)
        return tg__error(n->ctx, TG_ESHAPE, "%s: input must be (B,C), got %s", n->op->name, tg__sh(x));
    int64_t B = x->shape[0], C = x->shape[1];
    if (B > 0 && !a->labels)
        return tg__error(n->ctx, TG_EINVAL, "%s: labels is NULL for input %s", n->op->name, tg__sh(x));
    for (int64_t b = 0; b < B; b++)
        if (a->labels[b] < 0 || a->labels[b] >= C)
            return tg__error(n->ctx, TG_EINVAL, "%s: label %d of row %lld is outside [0, %lld) for input %s",
                             n->op->name, (int)a->labels[b], (long long)b, (long long)C, tg__sh(x));
    out->dtype = x->dtype;
    out->rank = 0;
    return TG_OK;
}

/* Copy the labels into the tape's arena and point the node's attr at them. */
static tg_status keep_labels(tg_node *n) {
    loss_attr *a = n->attr;
    int64_t B = n->in[0]->shape[0];
    if (B == 0) return TG_OK;
    int32_t *copy = tg_node_alloc(n, (size_t)B * sizeof(int32_t));
    if (!copy) return TG_ENOMEM;
    memcpy(copy, a->labels, (size_t)B * sizeof(int32_t));
    a->labels = copy;
    return TG_OK;
}

/* ---- cross_entropy ----
 * forward keeps lse[B] and ln Σ_c e^(x - max)[B] (double) in n->saved for
 * backward, which recovers the row maximum from the two; a row of all -inf
 * gets lse = -inf as its "no gradient" mark (a real lse is >= the finite row
 * maximum). Work goes in blocks of whole rows (EB elements) so short rows
 * share one SLEEF exp call; rows longer than EB go in column chunks. */

#define CE_DEF(T, S)                                                                          \
    static double ce_fw_##S(const T *x, const int32_t *lab, double *lse, double *s, int64_t B, \
                            int64_t C) {                                                      \
        T t[EB];                                                                              \
        int64_t per = C >= EB ? 1 : EB / C;                                                   \
        for (int64_t b = 0; b < B; b++) {                                                     \
            lse[b] = (double)tg__rowmax_##S(x + b * C, C);                                    \
            s[b] = 0;                                                                         \
        }                                                                                     \
        for (int64_t r0 = 0; r0 < B; r0 += per) {                                             \
            int64_t nb = tg__min64(per, B - r0);                                              \
            for (int64_t c0 = 0; c0 < C; c0 += EB) {                                          \
                int64_t w = tg__min64(EB, C - c0), k = 0;                                     \
                for (int64_t b = r0; b < r0 + nb; b++) {                                      \
                    T m0 = lse[b] == -INFINITY ? (T)0 : (T)lse[b];                            \
                    for (int64_t c = c0; c < c0 + w; c++) t[k++] = x[b * C + c] - m0;         \
                }                                                                             \
                tg__vexp_##S(t, t, k);                                                        \
                k = 0;                                                                        \
                for (int64_t b = r0; b < r0 + nb; b++, k += w) s[b] += tg__rowsum_##S(t + k, w); \
            }                                                                                 \
        }                                                                                     \
        tg__vlog_f64(s, s, B);                                                                \
        double total = 0, ln_c = (double)C;                                                   \
        tg__vlog_f64(&ln_c, &ln_c, 1);                                                        \
        for (int64_t b = 0; b < B; b++) {                                                     \
            const T *xr = x + b * C;                                                          \
            if (lse[b] == -INFINITY) {                                                        \
                int nan = 0;                                                                  \
                for (int64_t c = 0; c < C; c++) nan |= xr[c] != xr[c];                        \
                lse[b] = nan ? NAN : -INFINITY;                                               \
                total += nan ? NAN : ln_c;                                          \
                continue;                                                                     \
            }                                                                                 \
            lse[b] += s[b];                                                                   \
            total += lse[b] - (double)xr[lab[b]];                                             \
        }                                                                                     \
        return total;                                                                         \
    }                                                                                         \
    static void ce_bw_##S(const T *x, const int32_t *lab, const double *lse, const double *ls, \
                          T *dx, int64_t B, int64_t C, double g) {                            \
        T t[EB], k = (T)g;                                                                    \
        int64_t per = C >= EB ? 1 : EB / C;                                                   \
        for (int64_t r0 = 0; r0 < B; r0 += per) {                                             \
            int64_t nb = tg__min64(per, B - r0);                                              \
            for (int64_t c0 = 0; c0 < C; c0 += EB) {                                          \
                int64_t w = tg__min64(EB, C - c0), q = 0;                                     \
                for (int64_t b = r0; b < r0 + nb; b++) {                                      \
                    /* (x - m) - ln Σ, not x - (m + ln Σ): m is a value of the row, so    \
                     * x - m is exact near the maximum, where softmax is large; a       \
                     * rounded m + ln Σ in f32 would cost up to ulp(m)/2 there (5e-4    \
                     * relative at logits of 1e4). m is recovered exactly from lse-ls. */ \
                    T m0 = lse[b] == -INFINITY ? (T)INFINITY : (T)(lse[b] - ls[b]);           \
                    T s0 = lse[b] == -INFINITY ? (T)0 : (T)ls[b];                             \
                    for (int64_t c = c0; c < c0 + w; c++) t[q++] = (x[b * C + c] - m0) - s0;  \
                }                                                                             \
                tg__vexp_##S(t, t, q);                                                        \
                q = 0;                                                                        \
                for (int64_t b = r0; b < r0 + nb; b++, q += w) {                              \
                    if (lse[b] == -INFINITY) continue;                                        \
                    T *dr = dx + b * C + c0;                                                  \
                    for (int64_t j = 0; j < w; j++) dr[j] += k * t[q + j];                    \
                    if (lab[b] >= c0 && lab[b] < c0 + w) dr[lab[b] - c0] -= k;                \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }
CE_DEF(float, f32)
CE_DEF(double, f64)

static tg_status ce_forward(tg_node *n) {
    tg_status st = keep_labels(n);
    if (st) return st;
    const tg_tensor *x = n->in[0];
    int64_t B = x->shape[0], C = x->shape[1];
    double total = 0;
    if (B > 0) {
        double *lse = tg_node_alloc(n, (size_t)B * 2 * sizeof(double));
        if (!lse) return TG_ENOMEM;
        n->saved = lse;
        const int32_t *lab = ((const loss_attr *)n->attr)->labels;
        total = TG_DISPATCH(x->dtype, ce_fw, x->data, lab, lse, lse + B, B, C);
    }
    store_loss(n, total / divisor(n, B));
    return TG_OK;
}

static tg_status ce_backward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    int64_t B = x->shape[0], C = x->shape[1];
    void *dx = tg_grad_buf(n->in[0]);
    if (!dx) return TG_ENOMEM;
    if (B == 0) return TG_OK;
    const int32_t *lab = ((const loss_attr *)n->attr)->labels;
    const double *lse = n->saved;
    TG_DISPATCH(x->dtype, ce_bw, x->data, lab, lse, lse + B, dx, B, C, upstream(n, B));
    return TG_OK;
}

/* Labels for the check cases: each array serves the shapes it is paired with. */
static const int32_t lab_0[] = {0};
static const int32_t lab_4x5[] = {0, 4, 2, 2};
static const int32_t lab_3x10[] = {9, 0, 5};
static const int32_t lab_big[] = {2099, 7};
static const int32_t lab_bad[] = {0, 1, 5};
static const int32_t lab_neg[] = {0, -1};
static const loss_attr la_1 = {TG_MEAN, lab_0}, la_4x5 = {TG_MEAN, lab_4x5}, la_3x10 = {TG_SUM, lab_3x10},
                       la_big = {TG_MEAN, lab_big}, la_bad = {TG_MEAN, lab_bad}, la_neg = {TG_SUM, lab_neg},
                       la_null = {TG_MEAN, NULL}, la_red = {3, lab_4x5};

const tg_op_def tg_op_cross_entropy = {
    .name = "cross_entropy",
    .n_inputs = 1,
    .attr_size = sizeof(loss_attr),
    .infer = infer_labels,
    .forward = ce_forward,
    .backward = ce_backward,
    .check = {.lo = -3, .hi = 3,
              .cases = {{"1,1", &la_1}, {"4,5", &la_4x5}, {"3,10", &la_3x10}, {"1,3", &la_1}, {"2,2100", &la_big},
                        {"0,5", &la_1}, {"0,3", &la_3x10}},
              .bad = {{"3,5", &la_bad}, {"2,4", &la_neg}, {"4", &la_4x5}, {"4,5", &la_red}}},
};
tg_tensor *tg_cross_entropy(tg_tensor *logits, const int32_t *labels, tg_reduction r) {
    loss_attr a = {(int32_t)r, labels};
    return tg_apply(&tg_op_cross_entropy, &logits, 1, &a);
}

/* ---- nll ---- */

static tg_status nll_forward(tg_node *n) {
    tg_status st = keep_labels(n);
    if (st) return st;
    const tg_tensor *x = n->in[0];
    int64_t B = x->shape[0], C = x->shape[1];
    const int32_t *lab = ((const loss_attr *)n->attr)->labels;
    double total = 0;
    for (int64_t b = 0; b < B; b++) total -= tg__ld(x, b * C + lab[b]);
    store_loss(n, total / divisor(n, B));
    return TG_OK;
}

static tg_status nll_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    int64_t B = x->shape[0], C = x->shape[1];
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    const int32_t *lab = ((const loss_attr *)n->attr)->labels;
    double g = upstream(n, B);
    if (x->dtype == TG_F32)
        for (int64_t b = 0; b < B; b++) ((float *)dx)[b * C + lab[b]] -= (float)g;
    else
        for (int64_t b = 0; b < B; b++) ((double *)dx)[b * C + lab[b]] -= g;
    return TG_OK;
}

const tg_op_def tg_op_nll = {
    .name = "nll",
    .n_inputs = 1,
    .attr_size = sizeof(loss_attr),
    .infer = infer_labels,
    .forward = nll_forward,
    .backward = nll_backward,
    .check = {.lo = -4, .hi = 0,
              .cases = {{"1,1", &la_1}, {"4,5", &la_4x5}, {"3,10", &la_3x10}, {"1,3", &la_1}, {"0,5", &la_1}, {"0,3", &la_3x10}},
              .bad = {{"3,5", &la_bad}, {"2,4", &la_neg}, {"4", &la_4x5}, {"4,5", &la_null}}},
};
tg_tensor *tg_nll(tg_tensor *logp, const int32_t *labels, tg_reduction r) {
    loss_attr a = {(int32_t)r, labels};
    return tg_apply(&tg_op_nll, &logp, 1, &a);
}
