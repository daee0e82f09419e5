/* test_slice: tg_slice and tg_split, the two wrappers over the narrow op.
 *
 * Values are compared with plain index arithmetic on the source array (the
 * expected numbers are written here, not taken from the library), in f32 and
 * f64:
 *   - slice: a middle range, negative start and end (Python style), an end
 *     past the axis (clamped), start >= end (an empty result), a negative
 *     axis;
 *   - split: three parts along axis 0 and two along axis 1, a zero-size part;
 *   - gradients: a loss over slices and split parts is checked against f64
 *     central differences with tg_gradcheck, and elements no part covers get
 *     exactly zero;
 *   - errors: bad axis, sizes that do not sum to the axis, a negative size,
 *     NULL sizes, n = 0: each returns NULL / a status with a message naming
 *     "slice" or "split", and every out[] slot is NULL after a failed split.
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* x is (R, C) holding v[r][c] = 10 r + c. */
enum { R = 4, C = 5 };

static tg_tensor *make_x(tg_ctx *ctx, tg_dtype dt) {
    tg_tensor *x = tg_tensor_temp(ctx, dt, 2, (int64_t[]){R, C});
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) tg_set(x, r * C + c, 10.0 * r + c);
    return x;
}

/* y must be x[:, c0:c1] (axis 1) or x[c0:c1, :] (axis 0). */
static void expect_range(tg_tensor *y, int axis, int c0, int c1, const char *what) {
    int n = c1 - c0;
    CHECK(y != NULL, "%s: NULL", what);
    if (!y) return;
    int64_t want0 = axis == 0 ? n : R, want1 = axis == 0 ? C : n;
    CHECK(y->rank == 2 && y->shape[0] == want0 && y->shape[1] == want1, "%s: shape [%lld,%lld], want [%lld,%lld]",
          what, (long long)y->shape[0], (long long)(y->rank > 1 ? y->shape[1] : -1), (long long)want0,
          (long long)want1);
    if (y->rank != 2 || y->shape[0] != want0 || y->shape[1] != want1) return;
    int bad = 0;
    for (int64_t i = 0; i < want0; i++)
        for (int64_t j = 0; j < want1; j++) {
            double r = axis == 0 ? (double)(c0 + i) : (double)i, c = axis == 0 ? (double)j : (double)(c0 + j);
            if (tg_get(y, i * want1 + j) != 10 * r + c) bad++;
        }
    CHECK(bad == 0, "%s: %d wrong values", what, bad);
}

static void test_values(tg_ctx *ctx, tg_dtype dt) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = make_x(ctx, dt);
    expect_range(tg_slice(x, 1, 1, 4), 1, 1, 4, "slice(x, 1, 1, 4)");
    expect_range(tg_slice(x, 1, -3, -1), 1, 2, 4, "slice(x, 1, -3, -1)");
    expect_range(tg_slice(x, -1, 3, 100), 1, 3, 5, "slice(x, -1, 3, 100)");
    expect_range(tg_slice(x, 0, -100, 2), 0, 0, 2, "slice(x, 0, -100, 2)");
    expect_range(tg_slice(x, 0, 3, 1), 0, 3, 3, "slice(x, 0, 3, 1) (empty)");

    tg_tensor *p[3];
    tg_status st = tg_split(x, 0, (int64_t[]){1, 0, 3}, 3, p);
    CHECK(st == TG_OK, "split axis 0: %s", tg_last_error(ctx));
    if (st == TG_OK) {
        expect_range(p[0], 0, 0, 1, "split 0 part 0");
        expect_range(p[1], 0, 1, 1, "split 0 part 1 (size 0)");
        expect_range(p[2], 0, 1, 4, "split 0 part 2");
    }
    st = tg_split(x, -1, (int64_t[]){2, 3}, 2, p);
    CHECK(st == TG_OK, "split axis -1: %s", tg_last_error(ctx));
    if (st == TG_OK) {
        expect_range(p[0], 1, 0, 2, "split 1 part 0");
        expect_range(p[1], 1, 2, 5, "split 1 part 1");
    }
    tg_tape_end(tape);
}

/* loss = Σ slice(x,1,1,3)² + Σ 3·split(x,0,{1,2,1})[1] + Σ exp(split(..)[2]).
 * Row 0 outside columns 1..2 is in no part: its gradient must be exactly 0. */
static tg_tensor *loss_fn(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx;
    (void)n;
    (void)user;
    tg_tensor *x = in[0], *p[3];
    tg_tensor *a = tg_sum(tg_square(tg_slice(x, 1, 1, 3)), 0, NULL, 0);
    if (tg_split(x, 0, (int64_t[]){1, 2, 1}, 3, p) != TG_OK) return NULL;
    tg_tensor *b = tg_sum(tg_mul(p[1], tg_scalar(x->ctx, TG_F64, 3.0)), 0, NULL, 0);
    tg_tensor *c = tg_sum(tg_exp(p[2]), 0, NULL, 0);
    return tg_add(tg_add(a, b), c);
}

static void test_grad(tg_ctx *ctx) {
    tg_tensor *x = tg_tensor_new(ctx, TG_F64, 2, (int64_t[]){R, C});
    for (int i = 0; i < R * C; i++) tg_set(x, i, sin(0.7 * i) * 0.5);
    tg_tensor_requires_grad(x, 1);
    tg_check_report rep;
    tg_status st = tg_gradcheck(ctx, loss_fn, &x, 1, NULL, NULL, &rep);
    CHECK(st == TG_OK && rep.ok, "gradcheck through slice/split: %s (max rel %.3g)", tg_last_error(ctx),
          rep.max_rel_err);
    printf("gradcheck slice+split: %lld elements, max abs %.2e, max rel %.2e\n", (long long)rep.n_checked,
           rep.max_abs_err, rep.max_rel_err);

    /* exact zeros and hand-derived values */
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *l = loss_fn(ctx, &x, 1, NULL);
    CHECK(l && tg_backward(l) == TG_OK, "backward: %s", tg_last_error(ctx));
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double v = tg_get(x, r * C + c), want = 0;
            if (c >= 1 && c < 3) want += 2 * v;
            if (r == 1 || r == 2) want += 3;
            if (r == 3) want += exp(v);
            double got = tg_grad_get(x, r * C + c);
            if (r == 0 && (c < 1 || c >= 3) ? got != 0 : fabs(got - want) > 1e-12 * (1 + fabs(want))) bad++;
        }
    CHECK(bad == 0, "hand-derived gradient: %d elements differ", bad);
    tg_tape_end(tape);
    tg_tensor_free(x);
}

static void test_errors(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = make_x(ctx, TG_F32);
    tg_tensor *y = tg_slice(x, 2, 0, 1);
    CHECK(!y && strstr(tg_last_error(ctx), "slice") && strstr(tg_last_error(ctx), "axis"),
          "slice bad axis: %s", tg_last_error(ctx));
    CHECK(tg_slice(NULL, 0, 0, 1) == NULL, "slice(NULL) must be NULL");

    tg_tensor *p[3] = {x, x, x};
    struct {
        int axis, n;
        const int64_t *sizes;
        const char *want;
    } cases[] = {
        {0, 2, (int64_t[]){1, 2}, "sum"},         /* 3 != 4 */
        {1, 2, (int64_t[]){-1, 6}, "does not fit"}, /* negative */
        {1, 2, (int64_t[]){3, 3}, "does not fit"}, /* past the end */
        {0, 1, NULL, "sizes NULL"},
        {0, 0, (int64_t[]){4}, "at least one"},
        {3, 1, (int64_t[]){4}, "axis"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int k = 0; k < 3; k++) p[k] = x;
        tg_status st = tg_split(x, cases[i].axis, cases[i].sizes, cases[i].n, p);
        const char *msg = tg_last_error(ctx);
        CHECK(st != TG_OK && strstr(msg, "split") && strstr(msg, cases[i].want), "split case %zu: status %d, '%s'",
              i, (int)st, msg);
        int n_clear = cases[i].n > 0 ? cases[i].n : 0;
        for (int k = 0; k < n_clear; k++) CHECK(p[k] == NULL, "split case %zu: out[%d] not NULL", i, k);
    }
    tg_tape_end(tape);
}

int main(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return 1;
    test_values(ctx, TG_F32);
    test_values(ctx, TG_F64);
    test_grad(ctx);
    test_errors(ctx);
    tg_ctx_free(ctx);
    return tl_summary();
}
