/* test_api.c: the public API's contracts from issue 14 section 5: tapes end
 * innermost first, every failure reports its own status and message, the
 * bulk gradient copy, parameters set and read by name, and the renamed
 * getters agreeing with their deprecated names. Expected values are derived
 * by hand in the comments beside them, never read back from the library. */
#include <tapegrad.h>

#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- 1. tg_tape_end refuses an outer tape ---- */

static void test_tape_end_order(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tape *outer = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 1, (const int64_t[]){4});
    tg_tensor_fill(x, 3.0);
    tg_tape *inner = tg_tape_begin(ctx);
    tg_tensor *xd = tg_detach(x); /* lives on inner, shares outer's data */

    tg_status st = tg_tape_end(outer);
    CHECK(st == TG_ESTATE, "ending the outer tape first returned %d (%s)", st, tg_strerror(st));
    CHECK(tg_ctx_last_status(ctx) == TG_ESTATE, "last status %d", tg_ctx_last_status(ctx));
    CHECK(strstr(tg_ctx_last_error(ctx), "tape_end") && strstr(tg_ctx_last_error(ctx), "innermost") &&
              strstr(tg_ctx_last_error(ctx), "(1 tape begun after it is still active"),
          "message '%s' should name tape_end and the innermost rule", tg_ctx_last_error(ctx));
    CHECK(tg_ctx_active_tape(ctx) == inner, "the inner tape must stay active");
    st = tg_tape_reset(outer); /* the same hazard: it would rewind the arena under inner's tensors */
    CHECK(st == TG_ESTATE && strstr(tg_ctx_last_error(ctx), "tape_reset: the tape is not the innermost"),
          "resetting the outer tape returned %d '%s'", st, tg_ctx_last_error(ctx));
    /* Had the outer arena been recycled, the next tape would take it from the
     * pool and overwrite x's data with its own zeroed tensor. */
    tg_tape *probe = tg_tape_begin(ctx);
    tg_tensor *z = tg_tensor_temp(ctx, TG_F64, 1, (const int64_t[]){4});
    tg_tensor_fill(z, -7.0);
    CHECK(tg_tensor_get(xd, 0) == 3.0 && tg_tensor_get(x, 3) == 3.0,
          "outer tensor overwritten: x[0] = %g, x[3] = %g, want 3", tg_tensor_get(xd, 0), tg_tensor_get(x, 3));
    tg_tensor_requires_grad(z, 1);
    CHECK(tg_add(z, z) && tg_tape_nodes(probe) == 1, "one node recorded: %lld", (long long)tg_tape_nodes(probe));
    CHECK(tg_tape_reset(probe) == TG_OK && tg_tape_nodes(probe) == 0 && tg_ctx_active_tape(ctx) == probe,
          "resetting the innermost tape: %s", tg_ctx_last_error(ctx));
    CHECK(tg_tape_reset(NULL) == TG_EINVAL, "tg_tape_reset(NULL)");
    CHECK(tg_tape_end(probe) == TG_OK, "ending the innermost tape: %s", tg_ctx_last_error(ctx));
    CHECK(tg_tape_end(inner) == TG_OK, "ending the inner tape: %s", tg_ctx_last_error(ctx));
    CHECK(tg_ctx_active_tape(ctx) == outer, "outer should be active again");
    CHECK(tg_tape_end(outer) == TG_OK, "ending the outer tape last: %s", tg_ctx_last_error(ctx));
    CHECK(tg_ctx_active_tape(ctx) == NULL, "no tape should be active");
    st = tg_tape_end(outer);
    CHECK(st == TG_ESTATE && strstr(tg_ctx_last_error(ctx), "not active"),
          "ending a tape twice returned %d '%s'", st, tg_ctx_last_error(ctx));
    CHECK(tg_tape_end(NULL) == TG_OK, "tg_tape_end(NULL) is a no-op");
    tg_ctx_free(ctx);
}

/* ---- 2. each failure writes its own message ---- */

/* A user op whose kernels fail without writing a message (which
 * tapegrad.h allows: tg_apply writes one for them). mode selects the kernel
 * that fails: 1 infer, 2 forward, 3 backward; 0 none. */
typedef struct {
    int mode;
} quiet_attr;

static tg_status quiet_infer(tg_node *n, tg_out_spec *out) {
    const quiet_attr *a = n->attr;
    if (a->mode == 1) return TG_ESHAPE;
    out->dtype = n->in[0]->dtype;
    out->rank = n->in[0]->rank;
    for (int i = 0; i < out->rank; i++) out->shape[i] = n->in[0]->shape[i];
    return TG_OK;
}
static tg_status quiet_forward(tg_node *n) {
    const quiet_attr *a = n->attr;
    if (a->mode == 2) return TG_ENUMERIC;
    memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * tg_dtype_size(n->out->dtype));
    return TG_OK;
}
static tg_status quiet_backward(tg_node *n) {
    const quiet_attr *a = n->attr;
    if (a->mode == 3) return TG_ENOGRAD;
    return TG_OK;
}
static const tg_op_def quiet_op = {
    .name = "quiet", .n_inputs = 1, .attr_size = sizeof(quiet_attr),
    .infer = quiet_infer, .forward = quiet_forward, .backward = quiet_backward,
};

static tg_tensor *quiet(tg_tensor *x, int mode) {
    quiet_attr a = {mode};
    return tg_apply(&quiet_op, &x, 1, &a);
}

/* gradcheck functions: one returns NULL without an error, one leaves a tape. */
static tg_tensor *null_fn(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)in, (void)n, (void)user;
    return NULL;
}
static tg_tensor *leaky_fn(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)n, (void)user;
    tg_tensor *y = tg_sum(in[0], 0, NULL, 0);
    tg_tape_begin(ctx); /* never ended */
    return y;
}

static tg_tensor *square_fn(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)n, (void)user;
    return tg_sum(tg_mul(in[0], in[0]), 0, NULL, 0);
}

static void test_error_state(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 1, (const int64_t[]){3});
    tg_tensor_requires_grad(x, 1);

    /* failure 1: an index out of range */
    CHECK(isnan(tg_tensor_get(x, 5)), "get out of range should be NaN");
    CHECK(tg_ctx_last_status(ctx) == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "get: index 5"),
          "first failure: %d '%s'", tg_ctx_last_status(ctx), tg_ctx_last_error(ctx));
    /* a success leaves the last failure as it was (errno's rule) */
    tg_tensor *ok = quiet(x, 0);
    CHECK(ok != NULL, "quiet mode 0 should succeed: %s", tg_ctx_last_error(ctx));
    CHECK(tg_ctx_last_status(ctx) == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "get: index 5"),
          "a success changed the last failure to %d '%s'", tg_ctx_last_status(ctx), tg_ctx_last_error(ctx));

    /* failure 2: infer fails without a message; it must not report failure 1 */
    CHECK(quiet(x, 1) == NULL, "quiet mode 1 should fail");
    CHECK(tg_ctx_last_status(ctx) == TG_ESHAPE, "second failure's status %d (%s), want TG_ESHAPE",
          tg_ctx_last_status(ctx), tg_ctx_last_error(ctx));
    CHECK(strcmp(tg_ctx_last_error(ctx), "quiet: invalid input") == 0, "second failure's message '%s'",
          tg_ctx_last_error(ctx));
    /* failure 3: forward, after a failure already set */
    CHECK(quiet(x, 2) == NULL, "quiet mode 2 should fail");
    CHECK(tg_ctx_last_status(ctx) == TG_ENUMERIC && strcmp(tg_ctx_last_error(ctx), "quiet: forward failed") == 0,
          "forward failure reported %d '%s'", tg_ctx_last_status(ctx), tg_ctx_last_error(ctx));
    /* failure 4: backward */
    tg_tensor *y = quiet(x, 3);
    CHECK(y != NULL, "quiet mode 3's forward should succeed: %s", tg_ctx_last_error(ctx));
    tg_status st = tg_backward(tg_sum(y, 0, NULL, 0));
    CHECK(st == TG_ENOGRAD && tg_ctx_last_status(ctx) == TG_ENOGRAD &&
              strcmp(tg_ctx_last_error(ctx), "quiet: backward failed") == 0,
          "backward failure returned %d, reported %d '%s'", st, tg_ctx_last_status(ctx), tg_ctx_last_error(ctx));

    /* gradcheck: a function that returns NULL quietly after an earlier failure */
    tg_set_error(ctx, TG_EDTYPE, "an earlier failure");
    tg_tensor *p = tg_tensor_new(ctx, TG_F64, 1, (const int64_t[]){2});
    tg_tensor *ins[1] = {p};
    st = tg_gradcheck(ctx, null_fn, ins, 1, NULL, NULL, NULL);
    CHECK(st == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "returned NULL without"),
          "gradcheck of a quiet NULL returned %d '%s'", st, tg_ctx_last_error(ctx));
    st = tg_gradcheck(ctx, leaky_fn, ins, 1, NULL, NULL, NULL);
    CHECK(st == TG_ESTATE && strstr(tg_ctx_last_error(ctx), "left 1 tape active"),
          "gradcheck of a function leaving a tape returned %d '%s'", st, tg_ctx_last_error(ctx));
    CHECK(tg_ctx_active_tape(ctx) == tape, "gradcheck should leave the caller's tape innermost");
    /* and a passing gradcheck keeps the earlier failure (success changes nothing) */
    tg_set_error(ctx, TG_EDTYPE, "an earlier failure");
    tg_check_report rep;
    st = tg_gradcheck(ctx, square_fn, ins, 1, NULL, NULL, &rep);
    CHECK(st == TG_OK && rep.ok && rep.n_checked == 2, "gradcheck of Σx² returned %d (%lld checked): %s", st,
          (long long)rep.n_checked, tg_ctx_last_error(ctx));
    CHECK(tg_ctx_last_status(ctx) == TG_EDTYPE && strcmp(tg_ctx_last_error(ctx), "an earlier failure") == 0,
          "a passing gradcheck changed the last failure to %d '%s'", tg_ctx_last_status(ctx),
          tg_ctx_last_error(ctx));
    tg_tensor_free(p);
    CHECK(tg_tape_end(tape) == TG_OK, "end: %s", tg_ctx_last_error(ctx));
    tg_ctx_free(ctx);
}

/* ---- 3. bulk gradients ---- */

static void test_grad_bulk(tg_dtype dt) {
    const char *dn = tg_dtype_name(dt);
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tape *tape = tg_tape_begin(ctx);
    /* L = Σ x⊙x + Σ 3x  =>  dL/dx = 2x + 3: x = [1,-2,0.5,3] -> [5,-1,4,9] */
    tg_tensor *x = tg_tensor_new(ctx, dt, 2, (const int64_t[]){2, 2});
    tg_tensor_set_f64(x, (const double[]){1, -2, 0.5, 3});
    tg_tensor_requires_grad(x, 1);
    tg_tensor *L = tg_add(tg_sum(tg_mul(x, x), 0, NULL, 0),
                          tg_sum(tg_mul(x, tg_scalar(ctx, dt, 3.0)), 0, NULL, 0));
    CHECK(L && tg_backward(L) == TG_OK, "%s backward: %s", dn, tg_ctx_last_error(ctx));
    double g[4] = {0}, want[4] = {5, -1, 4, 9};
    CHECK(tg_tensor_grad_get_f64(x, g, 4) == TG_OK, "%s grad_get_f64: %s", dn, tg_ctx_last_error(ctx));
    for (int i = 0; i < 4; i++) CHECK(g[i] == want[i], "%s dL/dx[%d] = %g, want %g", dn, i, g[i], want[i]);

    /* a matrix: L = Σ (a·W), a (1,2) = [2,-1], W (2,3)  =>  dL/dW[i][j] = a[i] */
    tg_tensor *W = tg_tensor_new(ctx, dt, 2, (const int64_t[]){2, 3});
    tg_tensor_requires_grad(W, 1);
    tg_tensor *a = tg_tensor_temp(ctx, dt, 2, (const int64_t[]){1, 2});
    tg_tensor_set_f64(a, (const double[]){2, -1});
    CHECK(tg_backward(tg_sum(tg_matmul(a, W), 0, NULL, 0)) == TG_OK, "%s matmul backward: %s", dn,
          tg_ctx_last_error(ctx));
    double gw[6], ww[6] = {2, 2, 2, -1, -1, -1};
    CHECK(tg_tensor_grad_get_f64(W, gw, 6) == TG_OK, "%s W grad: %s", dn, tg_ctx_last_error(ctx));
    for (int i = 0; i < 6; i++) CHECK(gw[i] == ww[i], "%s dL/dW[%d] = %g, want %g", dn, i, gw[i], ww[i]);

    /* errors leave dst untouched */
    double s[5] = {42, 42, 42, 42, 42};
    tg_status st = tg_tensor_grad_get_f64(x, s, 5);
    CHECK(st == TG_ESHAPE && strstr(tg_ctx_last_error(ctx), "5 values") && s[0] == 42,
          "%s n = 5 for 4 elements: %d '%s' s[0] = %g", dn, st, tg_ctx_last_error(ctx), s[0]);
    st = tg_tensor_grad_get_f64(x, NULL, 4);
    CHECK(st == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "dst is NULL"), "%s NULL dst: %d '%s'", dn, st,
          tg_ctx_last_error(ctx));
    CHECK(tg_tensor_grad_get_f64(NULL, s, 4) == TG_EINVAL && s[0] == 42, "%s NULL tensor", dn);
    /* no grad buffer: zeros */
    tg_tensor *c = tg_tensor_temp(ctx, dt, 1, (const int64_t[]){3});
    double gc[3] = {1, 1, 1};
    CHECK(tg_tensor_grad_get_f64(c, gc, 3) == TG_OK && gc[0] == 0 && gc[1] == 0 && gc[2] == 0,
          "%s no grad: %g %g %g", dn, gc[0], gc[1], gc[2]);
    /* the element getter agrees, under both names */
    CHECK(tg_tensor_grad_get(x, 3) == 9 && tg_grad_get(x, 3) == 9, "%s grad_get(x, 3)", dn);
    tg_tape_end(tape);
    tg_tensor_free(x);
    tg_tensor_free(W);
    tg_ctx_free(ctx);
}

/* ---- 4. parameters by name ---- */

static void test_param_by_name(tg_dtype dt) {
    const char *dn = tg_dtype_name(dt);
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_dense fc1;
    CHECK(tg_dense_init(&fc1, ctx, "fc1", 2, 3, dt, TG_INIT_XAVIER) == TG_OK, "%s dense_init", dn);
    /* known weights, as a numpy port would have them: W (2,3), b (3) */
    const double W[6] = {1, 2, 3, -1, 0.5, 0.25}, b[3] = {0.5, -1, 2};
    CHECK(tg_param_set_f64(ctx, "fc1.W", W, 6) == TG_OK, "%s set W: %s", dn, tg_ctx_last_error(ctx));
    CHECK(tg_param_set_f64(ctx, "fc1.b", b, 3) == TG_OK, "%s set b: %s", dn, tg_ctx_last_error(ctx));
    CHECK(tg_param_find(ctx, "fc1.W") == fc1.W, "%s find returns the layer's W", dn);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, dt, 2, (const int64_t[]){1, 2});
    tg_tensor_set_f64(x, (const double[]){2, 4});
    /* y = x·W + b = [2·1 + 4·(-1), 2·2 + 4·0.5, 2·3 + 4·0.25] + b = [-2, 6, 7] + b = [-1.5, 5, 9] */
    tg_tensor *y = tg_dense_forward(&fc1, x);
    const double want[3] = {-1.5, 5, 9};
    for (int j = 0; j < 3; j++)
        CHECK(y && tg_tensor_get(y, j) == want[j], "%s y[%d] = %g, want %g", dn, j, y ? tg_tensor_get(y, j) : NAN,
              want[j]);
    /* L = Σ y  =>  dL/dW[i][j] = x[i] = 2,2,2,4,4,4 and dL/db = 1,1,1 (docs/tutorial/02-mlp.md) */
    CHECK(y && tg_backward(tg_sum(y, 0, NULL, 0)) == TG_OK, "%s backward: %s", dn, tg_ctx_last_error(ctx));
    double dW[6], db[3];
    const double want_dW[6] = {2, 2, 2, 4, 4, 4};
    CHECK(tg_tensor_grad_get_f64(tg_param_find(ctx, "fc1.W"), dW, 6) == TG_OK &&
              tg_tensor_grad_get_f64(tg_param_find(ctx, "fc1.b"), db, 3) == TG_OK,
          "%s grads by name: %s", dn, tg_ctx_last_error(ctx));
    CHECK(memcmp(dW, want_dW, sizeof dW) == 0 && db[0] == 1 && db[1] == 1 && db[2] == 1,
          "%s dW = %g %g %g %g %g %g, db = %g %g %g", dn, dW[0], dW[1], dW[2], dW[3], dW[4], dW[5], db[0], db[1],
          db[2]);
    tg_tape_end(tape);
    double back[6] = {0};
    CHECK(tg_param_get_f64(ctx, "fc1.W", back, 6) == TG_OK && memcmp(back, W, sizeof W) == 0,
          "%s get_f64 round trip: %g %g ...", dn, back[0], back[1]);

    /* errors leave the parameter untouched */
    const double bad[4] = {9, 9, 9, 9};
    tg_status st = tg_param_set_f64(ctx, "fc1.b", bad, 4);
    CHECK(st == TG_ESHAPE && strstr(tg_ctx_last_error(ctx), "fc1.b") && strstr(tg_ctx_last_error(ctx), "[3]"),
          "%s n = 4 for b (3): %d '%s'", dn, st, tg_ctx_last_error(ctx));
    CHECK(tg_tensor_get(fc1.b, 0) == 0.5, "%s b changed by a refused set: %g", dn, tg_tensor_get(fc1.b, 0));
    st = tg_param_set_f64(ctx, "fc2.W", W, 6);
    CHECK(st == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "no parameter named 'fc2.W'"), "%s unknown: %d '%s'",
          dn, st, tg_ctx_last_error(ctx));
    st = tg_param_set_f64(ctx, "fc1.W", NULL, 6);
    CHECK(st == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "NULL"), "%s NULL src: %d '%s'", dn, st,
          tg_ctx_last_error(ctx));
    st = tg_param_set_f64(ctx, NULL, W, 6);
    CHECK(st == TG_EINVAL && strstr(tg_ctx_last_error(ctx), "name is NULL"), "%s NULL name: %d '%s'", dn, st,
          tg_ctx_last_error(ctx));
    CHECK(tg_param_set_f64(NULL, "fc1.W", W, 6) == TG_EINVAL, "%s NULL ctx", dn);
    CHECK(tg_param_get_f64(ctx, "fc1.W", back, 5) == TG_ESHAPE, "%s get with n = 5", dn);
    tg_ctx_free(ctx);
}

/* ---- 5. the renamed getters are the old ones ---- */

static void test_renames(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tensor *t = tg_tensor_new(ctx, TG_F32, 2, (const int64_t[]){2, 5});
    tg_tensor_set(t, 7, 1.5);
    tg_set(t, 8, 2.5);
    CHECK(tg_tensor_get(t, 8) == 2.5 && tg_get(t, 7) == 1.5, "get/set under both names");
    CHECK(tg_tensor_item(t) == 0 && tg_item(t) == 0, "item");
    CHECK(tg_tensor_dim(t, -1) == 5 && tg_dim(t, 0) == 2 && tg_tensor_dim(t, 2) == -1, "dim");
    CHECK(tg_tensor_shape_eq(t, t) && tg_shape_eq(t, t), "shape_eq");
    char b1[16], b2[16];
    CHECK(strcmp(tg_tensor_shape_str(t, b1, sizeof b1), "[2,5]") == 0 &&
              strcmp(tg_shape_str(t, b2, sizeof b2), "[2,5]") == 0,
          "shape_str '%s'", b1);
    tg_tensor_get(t, 10);
    CHECK(tg_ctx_last_status(ctx) == tg_last_status(ctx) && tg_ctx_last_error(ctx) == tg_last_error(ctx) &&
              tg_ctx_last_status(ctx) == TG_EINVAL,
          "last_status/last_error under both names");
    CHECK(tg_ctx_active_tape(ctx) == NULL && tg_tape_active(ctx) == NULL && tg_ctx_active_tape(NULL) == NULL,
          "no active tape");
    tg_tape *tape = tg_tape_begin(ctx);
    CHECK(tg_ctx_active_tape(ctx) == tape && tg_tape_active(ctx) == tape, "active tape under both names");
    tg_tape_end(tape);
    tg_tensor_free(t);
    tg_ctx_free(ctx);
}

int main(void) {
    test_tape_end_order();
    test_error_state();
    test_grad_bulk(TG_F32);
    test_grad_bulk(TG_F64);
    test_param_by_name(TG_F32);
    test_param_by_name(TG_F64);
    test_renames();
    /* 115 CHECKs run, none conditional; fewer means a section was skipped. */
    CHECK(tl_pass + tl_fail >= 115, "only %d checks ran, expected 115", tl_pass + tl_fail);
    return tl_summary();
}
