/* prelu.c: parametric ReLU with a learned slope per channel.
 *
 *   y = x > 0 ? x : α_c x
 *
 * x has rank >= 1. Its channel axis is axis 1 when rank >= 2, so x is
 * (B, C, ...) as in PyTorch's nn.PReLU; for a rank-1 x (C) the channel axis
 * is axis 0. α has shape (C), or (1): one slope shared by every channel
 * (nn.PReLU(num_parameters=1)). Any other α is an error.
 *
 * Backward: dx += dy · (x > 0 ? 1 : α_c), so the gradient at x = 0 takes the
 * slope side (as PyTorch); dα_c += Σ dy · (x > 0 ? 0 : x) over the batch and
 * spatial positions of channel c, summed in double and added once. */
#include "ops_internal.h"

#include <math.h>

/* x viewed as (outer, C, inner). */
typedef struct prelu_dims {
    int64_t outer, C, inner;
    int64_t sa; /* α stride per channel: 1, or 0 for a shared slope */
} prelu_dims;

static prelu_dims dims_of(const tg_tensor *x, const tg_tensor *alpha) {
    prelu_dims d;
    if (x->rank == 1) {
        d.outer = 1;
        d.C = x->shape[0];
        d.inner = 1;
    } else {
        d.outer = x->shape[0];
        d.C = x->shape[1];
        d.inner = 1;
        for (int i = 2; i < x->rank; i++) d.inner *= x->shape[i];
    }
    d.sa = (alpha->numel == d.C) ? 1 : 0;
    return d;
}

static tg_status prelu_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0], *alpha = n->in[1];
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (x->rank < 1)
        return tg__error(n->ctx, TG_ESHAPE,
                         "prelu: x %s must have rank >= 1 ((C) or (B,C,...)), alpha %s", tg__sh(x),
                         tg__sh(alpha));
    int64_t C = x->rank == 1 ? x->shape[0] : x->shape[1];
    if (alpha->rank != 1 || (alpha->shape[0] != C && alpha->shape[0] != 1))
        return tg__error(n->ctx, TG_ESHAPE,
                         "prelu: alpha %s must have shape [%lld] (channels of x %s) or [1]",
                         tg__sh(alpha), (long long)C, tg__sh(x));
    return tg__infer_same(n, out);
}

#define PRELU_FWD(T)                                                         \
    {                                                                        \
        const T *restrict x = n->in[0]->data, *restrict al = n->in[1]->data; \
        T *restrict y = n->out->data;                                        \
        for (int64_t o = 0; o < d.outer; o++)                                \
            for (int64_t c = 0; c < d.C; c++) {                              \
                const T a = al[c * d.sa];                                    \
                const int64_t base = (o * d.C + c) * d.inner;                \
                for (int64_t i = base; i < base + d.inner; i++)              \
                    y[i] = x[i] > 0 ? x[i] : a * x[i];                       \
            }                                                                \
    }

static tg_status prelu_forward(tg_node *n) {
    prelu_dims d = dims_of(n->in[0], n->in[1]);
    if (n->out->dtype == TG_F32) PRELU_FWD(float) else PRELU_FWD(double)
    return TG_OK;
}

/* acc (C doubles, or 1 when shared) collects dα; NULL when α needs no grad. */
#define PRELU_BWD(T)                                                          \
    {                                                                         \
        const T *restrict x = n->in[0]->data, *restrict al = n->in[1]->data;  \
        const T *restrict dy = n->out->grad;                                  \
        T *dx = dxv;                                                          \
        for (int64_t o = 0; o < d.outer; o++)                                 \
            for (int64_t c = 0; c < d.C; c++) {                               \
                const T a = al[c * d.sa];                                     \
                const int64_t base = (o * d.C + c) * d.inner;                 \
                if (dx)                                                       \
                    for (int64_t i = base; i < base + d.inner; i++)           \
                        dx[i] += x[i] > 0 ? dy[i] : a * dy[i];                \
                if (acc) {                                                    \
                    double s = 0;                                             \
                    for (int64_t i = base; i < base + d.inner; i++)           \
                        s += x[i] > 0 ? 0.0 : (double)dy[i] * (double)x[i];   \
                    acc[c * d.sa] += s;                                       \
                }                                                             \
            }                                                                 \
        if (acc) {                                                            \
            T *da = dav;                                                      \
            for (int64_t c = 0; c < n->in[1]->numel; c++) da[c] += (T)acc[c]; \
        }                                                                     \
    }

static tg_status prelu_backward(tg_node *n) {
    tg_tensor *tx = n->in[0], *talpha = n->in[1];
    prelu_dims d = dims_of(tx, talpha);
    void *dxv = NULL, *dav = NULL;
    double *acc = NULL;
    /* prelu(x, x) (x rank 1) is valid: dx and dα are then one buffer, which
     * is why neither pointer is restrict-qualified below. */
    if (tg_needs_grad(tx) && !(dxv = tg_grad_buf(tx))) return TG_ENOMEM;
    if (tg_needs_grad(talpha)) {
        if (!(dav = tg_grad_buf(talpha))) return TG_ENOMEM;
        acc = tg_node_alloc(n, (size_t)talpha->numel * sizeof *acc);
        if (!acc) return TG_ENOMEM;
        memset(acc, 0, (size_t)talpha->numel * sizeof *acc);
    }
    if (!dxv && !acc) return TG_OK;
    if (tx->dtype == TG_F32) PRELU_BWD(float) else PRELU_BWD(double)
    return TG_OK;
}

const tg_op_def tg_op_prelu = {
    .name = "prelu",
    .n_inputs = 2,
    .infer = prelu_infer,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .check = {.lo = -2.0,
              .hi = 2.0,
              .kinks = {0.0},
              .n_kinks = 1,
              .kink_gap = 1e-3,
              .cases = {{"1;1", NULL}, {"5;5", NULL}, {"4,3;3", NULL}, {"2,3,4;3", NULL},
                        {"2,3,2,2;1", NULL}, {"3,1,5;1", NULL}, {"6,4;4", NULL},
                        {"0,3;3", NULL}, {"2,3,0;3", NULL}},
              .bad = {{"2,3;4", NULL}, {"2,3,4;2", NULL}, {"3;3,1", NULL}, {";1", NULL}}},
};

tg_tensor *tg_prelu(tg_tensor *x, tg_tensor *alpha) {
    tg_tensor *in[2] = {x, alpha};
    return tg_apply(&tg_op_prelu, in, 2, NULL);
}
