/* test_stale: a tensor kept past the end (or reset) of its tape is refused
 * with TG_ESTATE and a message saying the tape ended, wherever it enters the
 * library (issue 21). The old code crashed (SIGSEGV in the backward walk or
 * in tg_apply) or silently used recycled memory. Cases:
 *   - backward of a loss from an ended tape, after a new tg_tape_begin that
 *     reuses the pooled tape, for chains of 2, 100 and 20,000 nodes: right
 *     after begin, after the same chain was recorded again (its data takes
 *     the old data's memory), and two tape uses later;
 *   - an op output from an ended tape fed to an op on the new tape;
 *   - a temporary from an ended tape: get, set, item, fill, set_f64,
 *     get_f64, grad_get_f64, dim, detach, requires_grad, zero_grad_of,
 *     tg_init_uniform, tg_gradcheck: each refused, the new tape's data
 *     untouched;
 *   - tensors recorded before tg_tape_reset; a nested tape's tensors after
 *     it ended, on the outer tape;
 *   - tg_node_alloc on a node kept from an ended tape;
 *   - controls: the same calls on live tensors succeed (outer-tape tensors
 *     inside an inner tape included), and the new chain's gradient is exact.
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ENDED "tape that has ended"

/* The last call failed with TG_ESTATE and a message saying the tape ended
 * and naming `who`; clears the error for the next check. */
static void expect_stale(tg_ctx *ctx, const char *what, const char *who) {
    const char *m = tg_ctx_last_error(ctx);
    CHECK(tg_ctx_last_status(ctx) == TG_ESTATE, "%s: status %s, expected TG_ESTATE (message: %s)", what,
          tg_strerror(tg_ctx_last_status(ctx)), m);
    CHECK(strstr(m, ENDED) != NULL, "%s: message does not say the tape ended: %s", what, m);
    CHECK(strstr(m, who) != NULL, "%s: message does not name \"%s\": %s", what, who, m);
    tg_clear_error(ctx);
}

static tg_tensor *chain(tg_tensor *x, int n) {
    tg_tensor *y = x;
    for (int i = 0; i < n; i++) y = tg_tanh(y);
    return y;
}

/* d/dx tanh^n(x), computed here in plain C. */
static double chain_grad(double x, int n) {
    double g = 1;
    for (int i = 0; i < n; i++) {
        x = tanh(x);
        g *= 1 - x * x;
    }
    return g;
}

static void stale_backward(tg_ctx *ctx, int n) {
    char pname[32];
    snprintf(pname, sizeof pname, "chain%d.x", n);
    tg_tensor *p = tg_param_new(ctx, pname, TG_F64, 0, NULL);
    tg_tensor_set(p, 0, 0.3);
    tg_zero_grad(ctx);

    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *old_loss = chain(p, n);
    CHECK(old_loss != NULL && tg_tape_nodes(tape) == n, "chain %d: forward failed: %s", n, tg_ctx_last_error(ctx));
    tg_tape_end(tape);

    /* the pooled tape comes back, nothing recorded yet */
    tg_tape *t2 = tg_tape_begin(ctx);
    CHECK(t2 == tape, "chain %d: the pool did not hand the same tape back (the case under test)", n);
    tg_status st = tg_backward(old_loss);
    CHECK(st == TG_ESTATE, "chain %d: backward of the old loss returned %s", n, tg_strerror(st));
    expect_stale(ctx, "backward right after begin", "backward");
    CHECK(tg_tensor_grad_get(p, 0) == 0.0, "chain %d: backward of the old loss wrote a gradient %g", n,
          tg_tensor_grad_get(p, 0));

    /* the same chain again: its tensors take the old ones' memory */
    tg_tensor *loss = chain(p, n);
    st = tg_backward(old_loss);
    CHECK(st == TG_ESTATE, "chain %d: backward of the old loss after re-recording returned %s", n, tg_strerror(st));
    expect_stale(ctx, "backward after re-recording", "backward");
    st = tg_backward_seeded(old_loss, (double[]){1.0});
    CHECK(st == TG_ESTATE, "chain %d: backward_seeded of the old loss returned %s", n, tg_strerror(st));
    expect_stale(ctx, "backward_seeded", "backward_seeded");
    CHECK(tg_tensor_grad_get(p, 0) == 0.0, "chain %d: a refused backward wrote a gradient", n);
    /* control: the live loss works and its gradient is exact */
    st = tg_backward(loss);
    CHECK(st == TG_OK, "chain %d: backward of the live loss failed: %s", n, tg_ctx_last_error(ctx));
    double want = chain_grad(0.3, n), got = tg_tensor_grad_get(p, 0);
    CHECK(fabs(got - want) <= 1e-12 * fabs(want), "chain %d: gradient %.17g, expected %.17g", n, got, want);
    tg_tape_end(t2);

    /* two uses later: still refused while its header slot is unused (the
     * header arenas alternate, so this use writes over the first use's
     * headers; a header that a live tensor has taken is that tensor: see
     * docs/design.md, "Tape") */
    tape = tg_tape_begin(ctx);
    st = tg_backward(old_loss);
    CHECK(st == TG_ESTATE, "chain %d: backward two tape uses later returned %s", n, tg_strerror(st));
    expect_stale(ctx, "backward two uses later", "backward");
    tg_tape_end(tape);
}

static void stale_op_input(tg_ctx *ctx) {
    tg_tensor *p = tg_param_new(ctx, "op.x", TG_F64, 1, (int64_t[]){3});
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *y = tg_tanh(p);
    tg_tensor *u = tg_tanh(tg_detach(p)); /* an unrecorded output */
    tg_tape_end(tape);
    tape = tg_tape_begin(ctx);
    tg_tensor *z = tg_mul(p, y);
    CHECK(z == NULL, "an op accepted an output of an ended tape");
    expect_stale(ctx, "mul(param, old output)", "mul: input 1");
    z = tg_exp(u);
    CHECK(z == NULL, "an op accepted an unrecorded output of an ended tape");
    expect_stale(ctx, "exp(old unrecorded output)", "exp: input 0");
    z = tg_sum(y, 0, NULL, 0);
    CHECK(z == NULL, "sum accepted an output of an ended tape");
    expect_stale(ctx, "sum(old output)", "sum");
    /* control: the live parameter still works on the new tape */
    z = tg_tanh(p);
    CHECK(z != NULL && tg_ctx_last_status(ctx) == TG_OK, "tanh(param) on the new tape failed: %s",
          tg_ctx_last_error(ctx));
    tg_tape_end(tape);
}

static double g_user_value;
static double user_fn_value(tg_ctx *ctx, tg_tensor **in) {
    (void)ctx;
    return tg_tensor_get(in[0], 0);
}
static tg_tensor *user_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)n;
    (void)u;
    g_user_value = user_fn_value(ctx, in);
    return tg_sum(tg_square(in[0]), 0, NULL, 0);
}

static void stale_temp(tg_ctx *ctx) {
    int64_t s[1] = {4};
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *old = tg_tensor_temp(ctx, TG_F64, 1, s);
    tg_tensor_set_f64(old, (double[]){1, 2, 3, 4});
    tg_tensor *oldg = tg_tensor_temp(ctx, TG_F64, 1, s);
    tg_tensor_requires_grad(oldg, 1);
    tg_tape_end(tape);

    tape = tg_tape_begin(ctx);
    /* a new temp of the same shape: it takes the old one's data memory */
    tg_tensor *now = tg_tensor_temp(ctx, TG_F64, 1, s);
    tg_tensor_set_f64(now, (double[]){10, 20, 30, 40});

    double v = tg_tensor_get(old, 1);
    CHECK(isnan(v), "get of an old temporary read %g", v);
    expect_stale(ctx, "get", "get");
    tg_tensor_set(old, 1, -5);
    expect_stale(ctx, "set", "set");
    v = tg_tensor_item(old);
    CHECK(isnan(v), "item of an old temporary read %g", v);
    expect_stale(ctx, "item", "item");
    tg_tensor_fill(old, -7);
    expect_stale(ctx, "fill", "fill");
    tg_tensor_set_f64(old, (double[]){-1, -1, -1, -1});
    expect_stale(ctx, "set_f64", "set_f64");
    double out[4] = {99, 99, 99, 99};
    tg_tensor_get_f64(old, out);
    expect_stale(ctx, "get_f64", "get_f64");
    CHECK(out[0] == 99 && out[3] == 99, "get_f64 of an old temporary wrote dst (%g ...)", out[0]);
    tg_status st = tg_tensor_grad_get_f64(oldg, out, 4);
    CHECK(st == TG_ESTATE, "grad_get_f64 of an old temporary returned %s", tg_strerror(st));
    expect_stale(ctx, "grad_get_f64", "grad_get_f64");
    v = tg_tensor_grad_get(oldg, 0);
    CHECK(isnan(v), "grad_get of an old temporary read %g", v);
    expect_stale(ctx, "grad_get", "grad_get");
    CHECK(tg_tensor_dim(old, 0) == -1, "dim of an old temporary gave %lld", (long long)tg_tensor_dim(old, 0));
    expect_stale(ctx, "dim", "dim");
    CHECK(tg_detach(old) == NULL, "detach accepted an old temporary");
    expect_stale(ctx, "detach", "detach");
    st = tg_tensor_requires_grad(old, 1);
    CHECK(st == TG_ESTATE, "requires_grad of an old temporary returned %s", tg_strerror(st));
    expect_stale(ctx, "requires_grad", "requires_grad");
    tg_zero_grad_of(&oldg, 1);
    expect_stale(ctx, "zero_grad_of", "zero_grad_of");
    tg_init_uniform(old, -1, 1);
    expect_stale(ctx, "init_uniform", "init_uniform");
    tg_init_he_normal(old);
    expect_stale(ctx, "init_he_normal", "init_normal");
    g_user_value = -1;
    st = tg_gradcheck(ctx, user_fn, &old, 1, NULL, NULL, NULL);
    CHECK(st == TG_ESTATE, "gradcheck of an old temporary returned %s", tg_strerror(st));
    expect_stale(ctx, "gradcheck", "gradcheck");
    CHECK(g_user_value == -1, "gradcheck ran the function on an old temporary");

    /* none of the refused writes reached the new temporary */
    double want[4] = {10, 20, 30, 40};
    for (int i = 0; i < 4; i++)
        CHECK(tg_tensor_get(now, i) == want[i], "the new temporary changed at %d: %g", i, tg_tensor_get(now, i));
    /* control: the same calls on the live temporary succeed */
    tg_tensor_set(now, 0, 11);
    tg_tensor_fill(now, 1);
    tg_tensor_get_f64(now, out);
    CHECK(tg_tensor_dim(now, 0) == 4 && out[2] == 1 && tg_detach(now) != NULL &&
              tg_tensor_requires_grad(now, 1) == TG_OK && tg_ctx_last_status(ctx) == TG_OK,
          "a live temporary was refused: %s", tg_ctx_last_error(ctx));
    st = tg_gradcheck(ctx, user_fn, &now, 1, NULL, NULL, NULL);
    CHECK(st == TG_OK, "gradcheck of a live temporary: %s", tg_ctx_last_error(ctx));
    tg_tape_end(tape);
}

static void stale_reset_and_nested(tg_ctx *ctx) {
    tg_tensor *p = tg_param_new(ctx, "reset.x", TG_F64, 1, (int64_t[]){2});
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *before = tg_sum(tg_tanh(p), 0, NULL, 0);
    tg_tape_reset(tape);
    tg_status st = tg_backward(before);
    CHECK(st == TG_ESTATE, "backward of a loss recorded before tg_tape_reset returned %s", tg_strerror(st));
    expect_stale(ctx, "backward after reset", "backward");
    CHECK(tg_exp(before) == NULL, "an op accepted a tensor recorded before tg_tape_reset");
    expect_stale(ctx, "op after reset", "exp");

    /* nested: outer tensors stay usable inside; inner ones die with the inner tape */
    tg_tensor *outer = tg_tanh(p);
    tg_tape *inner = tg_tape_begin(ctx);
    tg_tensor *in_t = tg_tensor_temp(ctx, TG_F64, 1, (int64_t[]){2});
    tg_tensor *d = tg_detach(outer);
    tg_tensor *w = tg_mul(d, in_t);
    CHECK(w != NULL, "an outer tape's tensor was refused inside an inner tape: %s", tg_ctx_last_error(ctx));
    tg_tape_end(inner);
    CHECK(tg_add(outer, in_t) == NULL, "the outer tape accepted an ended inner tape's temporary");
    expect_stale(ctx, "inner temp on outer tape", "add: input 1");
    CHECK(tg_add(outer, w) == NULL, "the outer tape accepted an ended inner tape's output");
    expect_stale(ctx, "inner output on outer tape", "add: input 1");
    tg_tensor *loss = tg_sum(outer, 0, NULL, 0);
    st = tg_backward(loss);
    CHECK(st == TG_OK, "the outer tape's own loss failed after the inner ended: %s", tg_ctx_last_error(ctx));
    tg_tape_end(tape);
}

/* A user op whose forward keeps its node (misuse the header does not forbid). */
static tg_node *g_kept;
static tg_status keep_infer(tg_node *n, tg_out_spec *o) {
    o->dtype = n->in[0]->dtype;
    o->rank = n->in[0]->rank;
    memcpy(o->shape, n->in[0]->shape, sizeof o->shape);
    return TG_OK;
}
static tg_status keep_forward(tg_node *n) {
    g_kept = n;
    if (!tg_node_alloc(n, 64)) return TG_ENOMEM; /* control: live node */
    memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * tg_dtype_size(n->out->dtype));
    return TG_OK;
}
static const tg_op_def keep_op = {.name = "keep_node", .n_inputs = 1, .infer = keep_infer, .forward = keep_forward};

static void stale_node(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 1, (int64_t[]){3});
    tg_tensor *y = tg_apply(&keep_op, &x, 1, NULL);
    CHECK(y != NULL, "keep_node forward failed: %s", tg_ctx_last_error(ctx));
    tg_tape_end(tape);
    tape = tg_tape_begin(ctx);
    CHECK(tg_node_alloc(g_kept, 64) == NULL, "node_alloc accepted a node of an ended tape");
    expect_stale(ctx, "node_alloc", "node_alloc");
    tg_tape_end(tape);
}

int main(void) {
    tg_ctx *ctx = tl_ctx_seeded(7, 1);
    int sizes[] = {2, 100, 20000};
    for (int i = 0; i < 3; i++) stale_backward(ctx, sizes[i]);
    stale_op_input(ctx);
    stale_temp(ctx);
    stale_reset_and_nested(ctx);
    stale_node(ctx);
    tg_ctx_free(ctx);
    return tl_summary();
}
