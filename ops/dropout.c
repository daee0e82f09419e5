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
 * mask (one byte per element) in tape scratch for backward. The draws come
 * from tg__philox_fill, which uses all four words of each Philox block (the
 * same numbers as tg_philox(seed, stream, i), a quarter of the blocks). */
#include "ops_internal.h"

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

/* m[i] = 1 when element i is kept, for i in [lo, hi). */
static void make_mask(const dropout_attr *a, uint8_t *m, int64_t lo, int64_t hi) {
    /* u >= p  <=>  r >= p·2^32 (r the 32-bit draw); thr <= 2^32 fits in 64 bits */
    uint64_t thr = (uint64_t)ceil(a->rate * 4294967296.0);
    uint32_t r[1024]; /* drawn 1024 at a time, every word of each Philox block used */
    for (int64_t i0 = lo; i0 < hi; i0 += 1024) {
        int64_t len = hi - i0 < 1024 ? hi - i0 : 1024;
        tg__philox_fill(a->seed, a->stream, (uint64_t)i0, len, r);
        for (int64_t i = 0; i < len; i++) m[i0 + i] = (uint64_t)r[i] >= thr;
    }
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

/* Elements are independent (the mask of element i depends on i alone), so
 * the pass is cut into up to DROP_SLICES slices on the context's pool with
 * the same bits at any thread count. */
#define DROP_SLICES 8
#define DROP_MIN ((int64_t)1 << 16) /* elements per slice at least */

typedef struct drop_job {
    const dropout_attr *a;
    uint8_t *m;
    const void *in;
    void *out;
    int64_t n, n_sl;
    double scale;
    int f32, backward; /* forward: draw the mask, out = m·in·scale; backward: out += m·in·scale */
} drop_job;

static void drop_task(void *arg, int64_t t) {
    const drop_job *j = arg;
    int64_t lo = j->n * t / j->n_sl, hi = j->n * (t + 1) / j->n_sl;
    if (!j->backward) make_mask(j->a, j->m, lo, hi);
    if (j->f32) apply_f32(j->m + lo, (const float *)j->in + lo, (float *)j->out + lo, hi - lo, j->scale, j->backward);
    else apply_f64(j->m + lo, (const double *)j->in + lo, (double *)j->out + lo, hi - lo, j->scale, j->backward);
}

static void drop_run(tg_node *n, uint8_t *m, const void *in, void *out, int backward) {
    const dropout_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    drop_job j = {a, m, in, out, x->numel, 1, 1.0 / (1.0 - a->rate), x->dtype == TG_F32, backward};
    j.n_sl = x->numel / DROP_MIN;
    if (j.n_sl > DROP_SLICES) j.n_sl = DROP_SLICES;
    if (j.n_sl < 1) j.n_sl = 1;
    tg__parallel_for(n->ctx, j.n_sl, drop_task, &j);
}

static tg_status dropout_forward(tg_node *n) {
    const dropout_attr *a = n->attr;
    const tg_tensor *x = n->in[0];
    if (!active(a)) {
        memcpy(n->out->data, x->data, (size_t)x->numel * tg_dtype_size(x->dtype));
        return TG_OK;
    }
    uint8_t *m = tg_node_alloc(n, (size_t)(x->numel ? x->numel : 1));
    if (!m) return TG_ENOMEM;
    n->saved = m;
    drop_run(n, m, x->data, n->out->data, 0);
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
    drop_run(n, n->saved, n->out->grad, dx, 1);
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
                        {"64", &d_03}, {"0", &d_half}, {"3,0", &d_03}},
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
