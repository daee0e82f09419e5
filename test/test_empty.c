/* test_empty: zero-size tensors through the public API (issue 21). The
 * header allows every dimension >= 0; the registry sweep (test_ops) runs
 * every op's zero-size check cases for gradients and f32/f64 agreement. This
 * test checks the values that docs/reliability.md ("Misuse: zero-size
 * tensors") states, which are PyTorch's:
 *  - matrix products with M, N or K = 0, forward and backward, at 1, 2 and 3
 *    threads (they died of SIGFPE in the threaded GEMM's tiling): an empty
 *    result, or exact zeros for K = 0, and gradients dA = dY·Bᵀ, dB = Aᵀ·dY
 *    checked element by element against closed forms (with a control
 *    product that is not empty, so the closed forms are seen to hold);
 *  - addmm with N = 0 and K = 0 (Y = C);
 *  - reductions over an empty axis: sum 0, mean NaN, logsumexp -inf, max an
 *    error naming the op; over a non-empty axis of an empty tensor: empty;
 *  - softmax over an empty axis and over an empty batch: empty;
 *  - mse and cross_entropy of an empty batch: 0 under TG_SUM and TG_MEAN
 *    alike (tapegrad.h: PyTorch gives NaN for the mean; 0 is deliberate). */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A leaf of the given shape, every element v, with gradients on. */
static tg_tensor *leaf(tg_ctx *ctx, int rank, const int64_t *shape, double v) {
    tg_tensor *t = tg_tensor_temp(ctx, TG_F64, rank, shape);
    if (!t) return NULL;
    tg_tensor_fill(t, v);
    tg_tensor_requires_grad(t, 1);
    return t;
}

/* A (.., M, K) filled with 1.5, B (.., K, N) with -2; loss = Σ Y. Then
 * Y = -3K everywhere, dA = Σ_n B = -2N, dB = Σ_m A = 1.5M (dY = 1). */
static int g_products;
static void product(tg_ctx *ctx, int rank, const int64_t *as, const int64_t *bs) {
    int64_t M = as[rank - 2], K = as[rank - 1], N = bs[rank - 1];
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *a = leaf(ctx, rank, as, 1.5), *b = leaf(ctx, rank, bs, -2.0);
    tg_tensor *y = a && b ? tg_matmul(a, b) : NULL;
    tg_tensor *loss = y ? tg_sum(y, 0, NULL, 0) : NULL;
    CHECK(loss != NULL, "matmul %lldx%lldx%lld: %s", (long long)M, (long long)K, (long long)N, tg_last_error(ctx));
    if (loss) {
        ASSERT_EQ(y->shape[rank - 2], M);
        ASSERT_EQ(y->shape[rank - 1], N);
        int bad = 0;
        for (int64_t i = 0; i < y->numel; i++) bad += tg_tensor_get(y, i) != -3.0 * (double)K;
        CHECK(bad == 0, "matmul %lldx%lldx%lld: %d elements of Y are not %g", (long long)M, (long long)K,
              (long long)N, bad, -3.0 * (double)K);
        ASSERT_EQ(tg_backward(loss), TG_OK);
        bad = 0;
        for (int64_t i = 0; i < a->numel; i++) bad += tg_tensor_grad_get(a, i) != -2.0 * (double)N;
        for (int64_t i = 0; i < b->numel; i++) bad += tg_tensor_grad_get(b, i) != 1.5 * (double)M;
        CHECK(bad == 0, "matmul %lldx%lldx%lld: %d gradient elements wrong", (long long)M, (long long)K,
              (long long)N, bad);
        g_products++;
    }
    tg_tape_end(tape);
}

static void products(tg_ctx *ctx) {
    static const int64_t p2[][4] = {
        {1, 2, 2, 0},      /* N = 0: Y (1,0); dA = dY·Bᵀ has K = 0: zeros */
        {1, 0, 0, 6},      /* K = 0: Y zeros; backward dA = dY·Bᵀ has N = 0 */
        {0, 500, 500, 3000}, /* M = 0, large N·K: the tiling saw M = 0 */
        {400, 300, 300, 0},  /* N = 0, large M·K */
        {300, 0, 0, 700},    /* K = 0, large M·N */
        {2, 3, 3, 4},        /* controls: not empty */
        {64, 300, 300, 200}, /* (threaded: 7.7 MFLOP) */
    };
    for (size_t i = 0; i < sizeof p2 / sizeof p2[0]; i++) product(ctx, 2, p2[i], p2[i] + 2);
    static const int64_t p3[][6] = {{2, 17, 0, 2, 0, 2}, {2, 0, 5, 2, 5, 3}, {3, 4, 5, 3, 5, 6}};
    for (size_t i = 0; i < sizeof p3 / sizeof p3[0]; i++) product(ctx, 3, p3[i], p3[i] + 3);

    /* addmm: Y = C + A·B; K = 0 gives Y = C (broadcast row), N = 0 empty */
    tg_tape *tape = tg_tape_begin(ctx);
    int64_t c6[1] = {6}, a20[2] = {2, 0}, b06[2] = {0, 6}, c0[1] = {0}, a23[2] = {2, 3}, b30[2] = {3, 0};
    tg_tensor *c = tg_tensor_temp(ctx, TG_F64, 1, c6);
    for (int64_t j = 0; c && j < 6; j++) tg_tensor_set(c, j, (double)j - 2.5);
    tg_tensor *y = c ? tg_addmm(c, leaf(ctx, 2, a20, 1), leaf(ctx, 2, b06, 1)) : NULL;
    CHECK(y && y->numel == 12, "addmm K = 0: %s", tg_last_error(ctx));
    for (int64_t i = 0; y && i < 12; i++) ASSERT_EQ(tg_tensor_get(y, i), (double)(i % 6) - 2.5);
    y = tg_addmm(tg_tensor_temp(ctx, TG_F64, 1, c0), leaf(ctx, 2, a23, 1), leaf(ctx, 2, b30, 1));
    CHECK(y && y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 0, "addmm N = 0: %s", tg_last_error(ctx));
    tg_tape_end(tape);
}

/* A scalar result equal to want (NaN matches NaN, -inf matches -inf). */
static void scalar_is(tg_ctx *ctx, const char *what, tg_tensor *y, double want) {
    CHECK(y != NULL, "%s: NULL: %s", what, tg_last_error(ctx));
    if (!y) return;
    ASSERT_EQ(y->numel, 1);
    double v = tg_tensor_get(y, 0);
    CHECK(isnan(want) ? isnan(v) : v == want, "%s = %g, expected %g", what, v, want);
}

static void reductions(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    int64_t s03[2] = {0, 3};
    tg_tensor *x = leaf(ctx, 2, s03, 1.0);
    int ax0 = 0, ax1 = 1;
    scalar_is(ctx, "sum of (0,3)", tg_sum(x, 0, NULL, 0), 0.0);
    scalar_is(ctx, "mean of (0,3)", tg_mean(x, 0, NULL, 0), NAN);
    scalar_is(ctx, "logsumexp of (0,3)", tg_logsumexp(x, 0, NULL, 0), -INFINITY);
    tg_tensor *s0 = tg_sum(x, 1, &ax0, 0), *m0 = tg_mean(x, 1, &ax0, 0);
    CHECK(s0 && s0->numel == 3 && m0 && m0->numel == 3, "sum/mean over axis 0 of (0,3): %s", tg_last_error(ctx));
    for (int64_t i = 0; s0 && m0 && i < 3; i++) {
        ASSERT_EQ(tg_tensor_get(s0, i), 0.0);
        CHECK(isnan(tg_tensor_get(m0, i)), "mean over axis 0 of (0,3)[%lld] is not NaN", (long long)i);
    }
    /* max of nothing has no value: an error, as PyTorch raises */
    tg_clear_error(ctx);
    CHECK(tg_max(x, 0, NULL, 0) == NULL, "max of (0,3) returned a tensor");
    CHECK(strstr(tg_last_error(ctx), "max: cannot reduce over an empty axis") == tg_last_error(ctx),
          "max of (0,3): message: %s", tg_last_error(ctx));
    CHECK(tg_max(x, 1, &ax0, 0) == NULL, "max over axis 0 of (0,3) returned a tensor");
    /* over the non-empty axis: an empty result, no error */
    tg_tensor *mx1 = tg_max(x, 1, &ax1, 0);
    CHECK(mx1 && mx1->rank == 1 && mx1->shape[0] == 0, "max over axis 1 of (0,3): %s", tg_last_error(ctx));
    /* backward through the mean of nothing: nothing to differentiate */
    tg_tensor *m = tg_mean(x, 0, NULL, 0);
    CHECK(m && tg_backward(m) == TG_OK, "backward of mean of (0,3): %s", tg_last_error(ctx));

    /* softmax over an empty axis and over an empty batch: empty results */
    int64_t s30[2] = {3, 0};
    tg_tensor *e = tg_softmax(leaf(ctx, 2, s30, 1.0), -1), *f = tg_softmax(x, -1);
    CHECK(e && e->shape[0] == 3 && e->shape[1] == 0, "softmax of (3,0): %s", tg_last_error(ctx));
    CHECK(f && f->shape[0] == 0 && f->shape[1] == 3, "softmax of (0,3): %s", tg_last_error(ctx));

    /* losses of an empty batch: 0 under both reductions (tapegrad.h) */
    tg_tensor *t = leaf(ctx, 2, s03, 2.0);
    scalar_is(ctx, "mse sum of (0,3)", tg_mse(x, t, TG_SUM), 0.0);
    scalar_is(ctx, "mse mean of (0,3)", tg_mse(x, t, TG_MEAN), 0.0);
    int64_t s05[2] = {0, 5};
    int32_t lab[1] = {0};
    tg_tensor *lg = leaf(ctx, 2, s05, 0.5);
    scalar_is(ctx, "cross_entropy sum of (0,5)", tg_cross_entropy(lg, lab, TG_SUM), 0.0);
    scalar_is(ctx, "cross_entropy mean of (0,5)", tg_cross_entropy(lg, lab, TG_MEAN), 0.0);
    tg_tape_end(tape);
}

int main(void) {
    for (int threads = 1; threads <= 3; threads++) {
        tg_ctx *ctx = tl_ctx_seeded(1, threads);
        if (!ctx) {
            FAILF("no context with %d threads", threads);
            break;
        }
        products(ctx);
        reductions(ctx);
        tg_ctx_free(ctx);
    }
    CHECK(g_products == 3 * 10, "%d products checked, expected 30", g_products);
    printf("%d products checked\n", g_products);
    return tl_summary();
}
