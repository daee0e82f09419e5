/* test_tape.c: the tape and the generic backward walk.
 *  - a 100,000-node chain runs backward without recursion, with the exact
 *    gradient (a product computed here in plain C), and 100 repeats neither
 *    grow the arena (its capacity after repeat 2 is its capacity after
 *    repeat 100) nor call the allocator;
 *  - no-grad scopes record nothing; detach stops gradients;
 *  - a NULL input propagates NULL and keeps the first message;
 *  - an op without a gradient says so when a gradient is asked of it;
 *  - parameters accumulate with += across backward calls and zero on request;
 *  - tg_strerror gives every status code of TG_STATUS_MAP its description;
 *  - the counter-based RNG gives fixed numbers for a seed;
 *  - tg_gradcheck_tape names the first node whose backward is wrong. */
#include "graph_internal.h"
#include "testlib.h"

static void long_chain(tg_ctx *ctx) {
    const int N = 100000;
    tg_tensor *p = tg_param_new(ctx, "chain.x", TG_F64, 0, NULL);
    tg_set(p, 0, 0.7);
    size_t cap0 = 0, cap_end = 0;
    tg_alloc_stats s0 = {0};
    for (int rep = 0; rep < 100; rep++) {
        tg_zero_grad(ctx);
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *y = p;
        for (int i = 0; i < N; i++) y = tg_tanh(y);
        CHECK(y != NULL, "chain forward failed: %s", tg_last_error(ctx));
        if (!y) return;
        CHECK(tg_tape_nodes(tape) == N, "expected %d nodes, got %lld", N, (long long)tg_tape_nodes(tape));
        tg_status st = tg_backward(y);
        CHECK(st == TG_OK, "backward failed: %s", tg_last_error(ctx));
        if (rep == 0) {
            /* d/dx of tanh^N(x) = Π (1 - tanh^k(x)^2), computed independently */
            double v = 0.7, g = 1;
            for (int i = 0; i < N; i++) {
                v = tanh(v);
                g *= 1 - v * v;
            }
            double got = tg_grad_get(p, 0);
            CHECK(fabs(got - g) <= 1e-9 * fabs(g), "chain gradient %.17g, expected %.17g", got, g);
        }
        /* capacity before end: ending hands the tape back to the pool */
        if (rep == 1) cap0 = tg_tape_capacity(tape);
        if (rep == 99) cap_end = tg_tape_capacity(tape);
        tg_tape_end(tape);
        if (rep == 1) s0 = tg_alloc_stats_get();
    }
    CHECK(cap0 > 0 && cap_end == cap0, "arena capacity grew across repeats: %zu -> %zu bytes", cap0, cap_end);
    tg_alloc_stats s1 = tg_alloc_stats_get();
    CHECK(s1.n_alloc == s0.n_alloc, "allocations grew across repeats: %llu -> %llu",
          (unsigned long long)s0.n_alloc, (unsigned long long)s1.n_alloc);
    CHECK(s1.bytes_live == s0.bytes_live, "live bytes grew: %llu -> %llu", (unsigned long long)s0.bytes_live,
          (unsigned long long)s1.bytes_live);
}

static void scopes(tg_ctx *ctx) {
    tg_tensor *w = tg_param_new(ctx, "scope.w", TG_F64, 1, (int64_t[]){3});
    for (int i = 0; i < 3; i++) tg_set(w, i, 0.1 * (i + 1));
    tg_tape *tape = tg_tape_begin(ctx);
    tg_no_grad_begin(ctx);
    tg_tensor *a = tg_tanh(w);
    tg_no_grad_end(ctx);
    CHECK(a && !a->node && !(a->flags & TG_REQUIRES_GRAD), "no_grad output must not record");
    CHECK(tg_tape_nodes(tape) == 0, "no_grad recorded %lld nodes", (long long)tg_tape_nodes(tape));
    tg_tensor *b = tg_tanh(tg_detach(tg_tanh(w)));
    CHECK(b && !b->node, "an op on a detached tensor must not record");
    CHECK(tg_tape_nodes(tape) == 1, "expected 1 node (the tanh before detach), got %lld",
          (long long)tg_tape_nodes(tape));
    tg_status st = tg_backward(tg_tanh(tg_scalar(ctx, TG_F64, 1)));
    CHECK(st == TG_ESTATE, "backward of an unrecorded output must fail with TG_ESTATE, got %s", tg_strerror(st));
    tg_tape_end(tape);

    /* += accumulation across two backward calls on one tape */
    tg_zero_grad(ctx);
    tape = tg_tape_begin(ctx);
    tg_tensor *y = tg_tanh(w);
    double dy[3] = {1, 1, 1};
    tg_backward_seeded(y, dy);
    tg_backward_seeded(y, dy);
    for (int i = 0; i < 3; i++) {
        double t = tanh(0.1 * (i + 1)), g = 2 * (1 - t * t);
        CHECK(fabs(tg_grad_get(w, i) - g) < 1e-15, "accumulated grad %d: %.17g vs %.17g", i, tg_grad_get(w, i), g);
    }
    tg_tape_end(tape);
    tg_zero_grad_of(&w, 1);
    CHECK(tg_grad_get(w, 0) == 0 && tg_grad_get(w, 2) == 0, "zero_grad_of left a gradient");
}

static void errors(tg_ctx *ctx) {
    tg_tape *tape = tg_tape_begin(ctx);
    tg_clear_error(ctx);
    tg_tensor *a = tg_tensor_temp(ctx, TG_F64, 2, (int64_t[]){2, 3});
    tg_tensor *b = tg_tensor_temp(ctx, TG_F64, 2, (int64_t[]){4, 3});
    tg_tensor *bad = tg_add(a, b);
    CHECK(bad == NULL, "add of [2,3] and [4,3] must fail");
    char first[512];
    snprintf(first, sizeof first, "%s", tg_last_error(ctx));
    CHECK(strstr(first, "add") == first && strstr(first, "[2,3]") && strstr(first, "[4,3]"),
          "message must name the op and both shapes: \"%s\"", first);
    tg_tensor *c = tg_tanh(tg_exp(bad));
    CHECK(c == NULL && strcmp(first, tg_last_error(ctx)) == 0, "NULL input must keep the first message, got \"%s\"",
          tg_last_error(ctx));
    tg_tensor *neg = tg_tensor_temp(ctx, TG_F64, 2, (int64_t[]){2, -1});
    CHECK(neg == NULL && strstr(tg_last_error(ctx), "negative"), "negative dim: \"%s\"", tg_last_error(ctx));
    CHECK(tg_tensor_temp(ctx, TG_F64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}) == NULL, "rank 9 must fail");

    /* step has no gradient and says so */
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 1, (int64_t[]){2});
    tg_tensor_requires_grad(x, 1);
    tg_tensor *s = tg_tanh(tg_step(x));
    tg_status st = s ? tg_backward_seeded(s, (double[]){1, 1}) : TG_EINVAL;
    CHECK(st == TG_ENOGRAD && strstr(tg_last_error(ctx), "step"), "step backward: %s \"%s\"", tg_strerror(st), tg_last_error(ctx));
    tg_tape_end(tape);

    /* no active tape */
    tg_clear_error(ctx);
    tg_tensor *p = tg_param_new(ctx, "err.p", TG_F32, 1, (int64_t[]){2});
    CHECK(tg_tanh(p) == NULL && strstr(tg_last_error(ctx), "no active tape"), "no tape: \"%s\"", tg_last_error(ctx));
    CHECK(tg_param_new(ctx, "err.p", TG_F32, 1, (int64_t[]){2}) == NULL, "duplicate parameter name must fail");

    /* every code of the status map, with its own description */
    static const struct {
        tg_status code;
        const char *desc;
    } map[] = {
#define XX(name, value, desc) {TG_##name, desc},
        TG_STATUS_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) ASSERT_STR_EQ(tg_strerror(map[i].code), map[i].desc);
    ASSERT_STR_EQ(tg_strerror(TG_ECHECK - 988), "unknown status code");
}

static void rng(void) {
    /* Philox4x32-10 known-answer test from the Random123 distribution
     * (kat_vectors): counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8. */
    CHECK(tg_philox(0, 0, 0) == 0x6627e8d5u && tg_philox(0, 0, 1) == 0xe169c58du &&
              tg_philox(0, 0, 2) == 0xbc57ac4cu && tg_philox(0, 0, 3) == 0x9b00dbd8u,
          "philox KAT: %08x %08x %08x %08x", tg_philox(0, 0, 0), tg_philox(0, 0, 1), tg_philox(0, 0, 2),
          tg_philox(0, 0, 3));
    tg_ctx *a = tl_ctx_seeded(7, 1), *b = tl_ctx_seeded(7, 2);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        if (tg_rng_uniform(a) != tg_rng_uniform(b)) same = 0;
    CHECK(same, "same seed must give the same stream at any thread count");
    tg_ctx_free(a);
    tg_ctx_free(b);
}

/* A user op with a deliberately wrong backward: y = x², dx += dy·x (should be 2x). */
static tg_status sq_infer(tg_node *n, tg_out_spec *o) {
    o->dtype = n->in[0]->dtype;
    o->rank = n->in[0]->rank;
    memcpy(o->shape, n->in[0]->shape, sizeof(int64_t) * (size_t)o->rank);
    return TG_OK;
}
static tg_status sq_forward(tg_node *n) {
    for (int64_t i = 0; i < n->out->numel; i++) tg_set(n->out, i, tg_get(n->in[0], i) * tg_get(n->in[0], i));
    return TG_OK;
}
static tg_status sq_backward_wrong(tg_node *n) {
    double *dx = tg_grad_buf(n->in[0]);
    const double *dy = n->out->grad, *x = n->in[0]->data;
    for (int64_t i = 0; i < n->out->numel; i++) dx[i] += dy[i] * x[i];
    return TG_OK;
}
static const tg_op_def bad_square = {
    .name = "bad_square", .n_inputs = 1, .infer = sq_infer, .forward = sq_forward, .backward = sq_backward_wrong};

static void tape_check(tg_ctx *ctx) {
    tg_tensor *x = tg_param_new(ctx, "tc.x", TG_F64, 1, (int64_t[]){4});
    for (int i = 0; i < 4; i++) tg_set(x, i, 0.3 * i - 0.4);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *h = tg_tanh(x);
    tg_tensor *y = tg_tanh(tg_mul(h, h));
    tg_check_report rep;
    tg_status st = tg_gradcheck_tape(tape, NULL, &rep);
    CHECK(st == TG_OK && rep.ok, "a correct tape must pass: %s", tg_last_error(ctx));
    tg_tensor *z = tg_apply(&bad_square, &y, 1, NULL);
    tg_tensor *w = tg_tanh(z);
    CHECK(w != NULL, "user op failed: %s", tg_last_error(ctx));
    st = tg_gradcheck_tape(tape, NULL, &rep);
    CHECK(st == TG_ECHECK && !rep.ok && strstr(rep.where, "node 3 (bad_square)"),
          "the wrong backward must be named: st %d where \"%s\"", st, rep.where);
    CHECK(strstr(tg_last_error(ctx), "bad_square") != NULL, "message names the op: %s", tg_last_error(ctx));
    tg_tape_end(tape);
}

int main(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    if (!ctx) return 1;
    rng();
    long_chain(ctx);
    scopes(ctx);
    errors(ctx);
    tape_check(ctx);
    tg_ctx_free(ctx);
    return tl_summary();
}
