/* dropout.c: inverted dropout.
 *
 *   train, rate p > 0:  y_i = m_i · x_i / (1 - p),  m_i = [u_i >= p],
 *                       u_i = tg_philox(seed, stream, i) / 2^32
 *   otherwise:          y = x
 *   backward:           dx_i += m_i · dy_i / (1 - p)
 *
 * The mask is a pure function of (seed, stream, element index), so it is the
 * same on every machine and at any thread count. The attribute block carries
 * seed and stream, which makes the op deterministic for tg_gradcheck_op and
 * for a second backward; tg_dropout() fills them from the context's RNG and
 * advances its counter once per call, so every call draws a fresh mask while
 * a given seed replays the same sequence of masks. The forward pass keeps the
 * mask (one byte per element) in tape scratch for backward. */
#include "internal.h"

#include <math.h>

/* Dropout streams live in the upper half of the stream space, away from the
 * context RNG's stream 0 and the small stream numbers used by the checkers. */
#define DROPOUT_STREAM ((uint64_t)1 << 63)

typedef struct dropout_attr {
    double rate;       /* p in [0, 1) */
    int train;         /* 0: identity */
    uint64_t seed;     /* Philox key */
    uint64_t stream;   /* Philox stream of this call */
} dropout_attr;

static tg_status check_rate(tg_ctx *ctx, double rate, const tg_tensor *x) {
    if (!(rate >= 0 && rate < 1))
        return tg__error(ctx, TG_EINVAL, "dropout: rate must be in [0, 1), got %g (x %s)", rate, tg__sh(x));
    return TG_OK;
}

static tg_status dropout_infer(tg_node *n, tg_out_spec *out) {
    const dropout_attr *a = n->attr;
    tg_status st = check_rate(n->ctx, a->rate, n->in[0]);
    if (st) return st;
    return tg__infer_same(n, out);
}

static int active(const dropout_attr *a) { return a->train && a->rate > 0; }

/* m[i] = 1 when element i is kept. */
static void make_mask(const dropout_attr *a, uint8_t *m, int64_t n) {
    /* u >= p  <=>  r >= p·2^32 (r the 32-bit draw); thr <= 2^32 fits in 64 bits */
    uint64_t thr = (uint64_t)ceil(a->rate * 4294967296.0);
    for (int64_t i = 0; i < n; i++) m[i] = (uint64_t)tg_philox(a->seed, a->stream, (uint64_t)i) >= thr;
}

#define DROPOUT_APPLY(T, S)                                                        \
    /* out = (m ? in · scale : 0), or += with acc */                               \
    static void apply_##S(const uint8_t *m, const T *in, T *out, int64_t n, double scale, int acc) { \
        const T s = (T)scale;                                                      \
        if (acc)                                                                   \
            for (int64_t i = 0; i < n; i++) out[i] += m[i] ? in[i] * s : (T)0;     \
        else                                                                       \
            for (int64_t i = 0; i < n; i++) out[i] = m[i] ? in[i] * s : (T)0;      \
    }
DROPOUT_APPLY(float, f32)
DROPOUT_APPLY(double, f64)

static tg_status dropout_forward(tg_node *n) {
    const dropout_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    if (!active(a)) {
        memcpy(n->out->data, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
        return TG_OK;
    }
    uint8_t *m = tg_node_alloc(n, (size_t)(x->numel ? x->numel : 1));
    if (!m) return TG_ENOMEM;
    make_mask(a, m, x->numel);
    n->saved = m;
    double scale = 1.0 / (1.0 - a->rate);
    if (x->dtype == TG_F32) apply_f32(m, x->data, n->out->data, x->numel, scale, 0);
    else apply_f64(m, x->data, n->out->data, x->numel, scale, 0);
    return TG_OK;
}

static tg_status dropout_backward(tg_node *n) {
    const dropout_attr *a = n->attr;
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    if (!active(a)) {
        if (x->dtype == TG_F32) {
            const float *dy = n->out->grad;
            float *d = dx;
            for (int64_t i = 0; i < x->numel; i++) d[i] += dy[i];
        } else {
            const double *dy = n->out->grad;
            double *d = dx;
            for (int64_t i = 0; i < x->numel; i++) d[i] += dy[i];
        }
        return TG_OK;
    }
    TG_ASSERT(n->saved != NULL); /* the forward pass of an active dropout keeps its mask */
    double scale = 1.0 / (1.0 - a->rate);
    if (x->dtype == TG_F32) apply_f32(n->saved, n->out->grad, dx, x->numel, scale, 1);
    else apply_f64(n->saved, n->out->grad, dx, x->numel, scale, 1);
    return TG_OK;
}

static const dropout_attr d_half = {0.5, 1, 7, 1}, d_03 = {0.3, 1, 11, 2}, d_eval = {0.5, 0, 7, 1},
                          d_zero = {0.0, 1, 7, 1}, d_one = {1.0, 1, 7, 1}, d_neg = {-0.1, 1, 7, 1},
                          d_nan = {NAN, 1, 7, 1};

const tg_op_def tg_op_dropout = {
    .name = "dropout",
    .n_inputs = 1,
    .attr_size = sizeof(dropout_attr),
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1", &d_half}, {"3,4", &d_half}, {"2,3,5", &d_03}, {"", &d_eval}, {"4,5", &d_zero},
                        {"64", &d_03}},
              .bad = {{"3", &d_one}, {"2,2", &d_neg}, {"3", &d_nan}, {"2,3;2,3", &d_half}}},
};

tg_tensor *tg_dropout(tg_tensor *x, double rate, int train) {
    if (!x) return NULL;
    tg_ctx *ctx = x->ctx;
    if (check_rate(ctx, rate, x)) return NULL;
    if (!train || rate == 0) return x;
    dropout_attr a = {rate, 1, ctx->rng_seed, DROPOUT_STREAM | ctx->rng_counter++};
    return tg_apply(&tg_op_dropout, &x, 1, &a);
}
