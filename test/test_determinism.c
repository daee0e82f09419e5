/* test_determinism.c: training gives bitwise-identical weights with 1 and 2
 * threads. A 784-256-10 ReLU MLP (large enough that its GEMMs are split
 * across the pool) is trained for 20 SGD steps on fixed synthetic batches
 * in a context with 1 thread and one with 2; every parameter byte must
 * match. Also checks that the 2-thread context really has a pool.
 *
 * Second part: the SLEEF elementwise ops on a tensor large enough to be
 * split into chunks on the pool (core/vmath.h, TG_PAR_MIN), in f32 and f64,
 * forward and backward: outputs and input gradients must match bitwise
 * between 1 thread (one call over the whole tensor) and 2 threads, and the
 * last, short chunk included.
 *
 * Third part: the convolutional path at the batch size of the examples
 * (64), where conv2d splits the batch into slices on the pool and pooling
 * and dropout split their passes: x (64,3,16,16) -> conv2d 8@3x3 pad 1 ->
 * relu -> max_pool 2x2 -> conv2d 8@3x3 (groups 2) -> avg_pool 2x2 ->
 * dropout 0.3 -> sum of squares; the loss, every output value and the
 * gradients of x and both weights and biases must match bitwise between 1
 * and 2 threads, in f32 and f64. */
#include "graph_internal.h"
#include "testlib.h"
#include "vmath.h"

#include <math.h>
#include <stdio.h>

static int train(int threads, float *out, int64_t *n_out) {
    tg_config c = tg_config_default();
    c.threads = threads;
    c.seed = 11;
    tg_ctx *ctx = tg_ctx_new(&c);
    if (!ctx) return -1;
    if (tg_ctx_threads(ctx) != threads) {
        printf("FAIL: asked for %d threads, context has %d\n", threads, tg_ctx_threads(ctx));
        tg_ctx_free(ctx);
        return -1;
    }
    tg_dense l1, l2;
    tg_dense_init(&l1, ctx, "l1", 784, 256, TG_F32, TG_INIT_HE);
    tg_dense_init(&l2, ctx, "l2", 256, 10, TG_F32, TG_INIT_XAVIER);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_MOMENTUM);
    oc.lr = 0.05;
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    int32_t labels[200];
    int rc = 0;
    for (int step = 0; step < 20 && opt; step++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){200, 784});
        for (int64_t i = 0; i < x->numel; i++) ((float *)x->data)[i] = (float)(0.5 + 0.5 * sin(0.001 * (double)i + step));
        for (int b = 0; b < 200; b++) labels[b] = (b * 7 + step) % 10;
        tg_tensor *loss = tg_cross_entropy(tg_dense_forward(&l2, tg_relu(tg_dense_forward(&l1, x))), labels, TG_MEAN);
        if (!loss || tg_backward(loss) || tg_optim_step(opt)) {
            printf("FAIL: step %d: %s\n", step, tg_last_error(ctx));
            rc = -1;
        }
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
        if (rc) break;
    }
    int64_t k = 0;
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        memcpy(out + k, p->data, (size_t)p->numel * sizeof(float));
        k += p->numel;
    }
    *n_out = k;
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    return opt ? rc : -1;
}

/* ---- elementwise ops split over the pool ---- */

enum { EW_OPS = 10 };
static const char *ew_name(int k) {
    static const char *names[EW_OPS] = {"exp", "log", "tanh", "sigmoid", "softplus",
                                        "silu", "gelu", "gelu_tanh", "elu", "exp(small)"};
    return names[k];
}
static tg_tensor *ew_apply(int k, tg_tensor *x) {
    switch (k) {
    case 0: return tg_exp(x);
    case 1: return tg_log(x);
    case 2: return tg_tanh(x);
    case 3: return tg_sigmoid(x);
    case 4: return tg_softplus(x);
    case 5: return tg_silu(x);
    case 6: return tg_gelu(x);
    case 7: return tg_gelu_tanh(x);
    case 8: return tg_elu(x, 0.7);
    default: return tg_exp(x);
    }
}

/* y and dx of op k on n elements of dtype dt, into out (2·n elements as f64). */
static int ew_run(int threads, tg_dtype dt, int k, int64_t n, double *out) {
    tg_config c = tg_config_default();
    c.threads = threads;
    tg_ctx *ctx = tg_ctx_new(&c);
    if (!ctx) return -1;
    int rc = -1;
    tg_tensor *x = tg_tensor_new(ctx, dt, 1, &n);
    double *dy = malloc((size_t)n * sizeof(double));
    float *dyf = malloc((size_t)n * sizeof(float));
    if (x && dy && dyf && tg_tensor_requires_grad(x, 1) == TG_OK) {
        for (int64_t i = 0; i < n; i++) {
            double u = sin(0.37 * (double)i) * 6.0;
            tg_set(x, i, k == 1 ? fabs(u) + 0.01 : u); /* log: positive */
            dy[i] = cos(0.11 * (double)i);
            dyf[i] = (float)dy[i];
        }
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *y = ew_apply(k, x);
        if (y && tg_backward_seeded(y, dt == TG_F32 ? (const void *)dyf : (const void *)dy) == TG_OK) {
            for (int64_t i = 0; i < n; i++) {
                out[i] = tg_get(y, i);
                out[n + i] = tg_grad_get(x, i);
            }
            rc = 0;
        } else {
            printf("FAIL: %s: %s\n", ew_name(k), tg_last_error(ctx));
        }
        tg_tape_end(tape);
    }
    free(dy);
    free(dyf);
    tg_tensor_free(x);
    tg_ctx_free(ctx);
    return rc;
}

static void ew_check(void) {
    int fails0 = tl_fail;
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        for (int k = 0; k < EW_OPS; k++) {
            /* smallest chunks (5 and a short one) for even k, the largest (40
             * and a short one) for odd k; the last op stays under the split */
            int64_t n = k == EW_OPS - 1 ? TG_PAR_MIN - 1
                        : k % 2       ? 40 * TG_PAR_CHUNK_MAX + 77
                                      : 5 * TG_PAR_CHUNK + 77;
            double *a = malloc((size_t)(2 * n) * sizeof(double)), *b = malloc((size_t)(2 * n) * sizeof(double));
            int ran = a && b && !ew_run(1, dt, k, n, a) && !ew_run(2, dt, k, n, b);
            CHECK(ran, "%s %s on %lld elements: a run failed", ew_name(k), tg_dtype_name(dt), (long long)n);
            if (ran)
                CHECK(!memcmp(a, b, (size_t)(2 * n) * sizeof(double)),
                      "%s %s on %lld elements differs between 1 and 2 threads", ew_name(k), tg_dtype_name(dt),
                      (long long)n);
            free(a);
            free(b);
        }
    }
    if (tl_fail == fails0)
        printf("ok: %d elementwise ops, f32 and f64, forward and backward bitwise equal at 1 and 2 threads\n", EW_OPS);
}

/* ---- the convolutional path ---- */

static tg_tensor *leaf(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape, double scale, double phase) {
    tg_tensor *t = tg_tensor_new(ctx, dt, rank, shape);
    if (!t || tg_tensor_requires_grad(t, 1) != TG_OK) return t;
    for (int64_t i = 0; i < t->numel; i++) tg_set(t, i, scale * sin(phase + 0.731 * (double)i));
    return t;
}

/* Writes loss, outputs and gradients into out (as doubles); returns the count, or -1. */
static int64_t conv_run(int threads, tg_dtype dt, double *out) {
    tg_config c = tg_config_default();
    c.threads = threads;
    c.seed = 7;
    tg_ctx *ctx = tg_ctx_new(&c);
    if (!ctx) return -1;
    tg_tensor *x = leaf(ctx, dt, 4, (int64_t[]){64, 3, 16, 16}, 1.0, 0.1);
    tg_tensor *w1 = leaf(ctx, dt, 4, (int64_t[]){8, 3, 3, 3}, 0.3, 0.2);
    tg_tensor *b1 = leaf(ctx, dt, 1, (int64_t[]){8}, 0.1, 0.3);
    tg_tensor *w2 = leaf(ctx, dt, 4, (int64_t[]){8, 4, 3, 3}, 0.3, 0.4);
    tg_tensor *b2 = leaf(ctx, dt, 1, (int64_t[]){8}, 0.1, 0.5);
    int64_t n = -1;
    tg_tape *tape = tg_tape_begin(ctx);
    tg_conv_opts same = {{1, 1}, {1, 1}, {1, 1}, 1}, g2 = {{1, 1}, {0, 0}, {1, 1}, 2};
    tg_tensor *h = tg_relu(tg_conv2d(x, w1, b1, &same));
    h = tg_max_pool2d(h, 2, 2, 2, 2, 0, 0);
    h = tg_avg_pool2d(tg_conv2d(h, w2, b2, &g2), 2, 2, 2, 2, 0, 0);
    h = tg_dropout(h, 0.3, 1);
    tg_tensor *loss = tg_sum(tg_square(h), 0, NULL, 0);
    if (loss && tg_backward(loss) == TG_OK) {
        n = 0;
        out[n++] = tg_item(loss);
        for (int64_t i = 0; i < h->numel; i++) out[n++] = tg_get(h, i);
        tg_tensor *ps[5] = {x, w1, b1, w2, b2};
        for (int p = 0; p < 5; p++)
            for (int64_t i = 0; i < ps[p]->numel; i++) out[n++] = tg_grad_get(ps[p], i);
    } else {
        printf("FAIL: conv path (%d threads): %s\n", threads, tg_last_error(ctx));
    }
    tg_tape_end(tape);
    tg_tensor *ps[5] = {x, w1, b1, w2, b2};
    for (int p = 0; p < 5; p++) tg_tensor_free(ps[p]);
    tg_ctx_free(ctx);
    return n;
}

static void conv_check(void) {
    size_t cap = 1 + 64 * 8 * 3 * 3 + 64 * 3 * 16 * 16 + 8 * 3 * 9 + 8 + 8 * 4 * 9 + 8;
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        double *a = malloc(cap * sizeof(double)), *b = malloc(cap * sizeof(double));
        int64_t na = a ? conv_run(1, dt, a) : -1, nb = b ? conv_run(2, dt, b) : -1;
        int ran = na >= 0 && na == nb && (size_t)na <= cap;
        CHECK(ran, "conv path %s: %lld vs %lld values", tg_dtype_name(dt), (long long)na, (long long)nb);
        int64_t diff = 0;
        for (int64_t i = 0; ran && i < na; i++) diff += memcmp(&a[i], &b[i], sizeof(double)) != 0;
        if (ran)
            CHECK(!diff, "conv path %s: %lld of %lld values differ between 1 and 2 threads", tg_dtype_name(dt),
                  (long long)diff, (long long)na);
        if (ran && !diff)
            printf("ok: conv path %s (batch 64): %lld values bitwise equal at 1 and 2 threads\n", tg_dtype_name(dt),
                   (long long)na);
        free(a);
        free(b);
    }
}

int main(void) {
    int64_t n = 784 * 256 + 256 + 256 * 10 + 10, n1 = 0, n2 = 0;
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    int ran = a && b && !train(1, a, &n1) && !train(2, b, &n2) && n1 == n && n2 == n;
    CHECK(ran, "training: a run failed or gave %lld, %lld weights (want %lld)", (long long)n1, (long long)n2,
          (long long)n);
    int64_t diff = 0;
    for (int64_t i = 0; ran && i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) diff++;
    if (ran) CHECK(!diff, "%lld of %lld weights differ between 1 and 2 threads", (long long)diff, (long long)n);
    if (ran && !diff) printf("ok: %lld weights bitwise equal at 1 and 2 threads after 20 steps\n", (long long)n);
    free(a);
    free(b);
    ew_check();
    conv_check();
    return tl_summary();
}
