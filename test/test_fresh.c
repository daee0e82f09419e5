/* test_fresh: kernels that assign into a fresh gradient buffer
 * (tg_grad_buf_fresh) instead of adding into a zeroed one.
 *
 * The assigning path is taken only when an op's input is an intermediate
 * tensor whose gradient nothing has written yet in this backward pass, which
 * the registry sweep (leaf inputs) never reaches. Here every assigning kernel
 * (matmul, addmm, the binary ops' direct case, narrow/split, tanh, sigmoid,
 * relu) gets intermediates, in the cases where assigning would be wrong if
 * the bookkeeping slipped:
 *   - one intermediate used twice by the same op (mul(t, t), matmul(t, t),
 *     addmm(t, t, t)): the first fetch assigns, the second must add;
 *   - one intermediate read by several ops, so its gradient is written first
 *     by an assigning kernel and then added to by others (and the other way
 *     round: first by a kernel that only adds, such as sum);
 *   - split parts of an intermediate: the first narrow backward assigns its
 *     slice and zeros around it, the others add;
 *   - backward run twice on the same tape (a fresh pass each time).
 * Each loss is checked in f64 against central differences (tg_gradcheck),
 * so a wrong gradient fails whatever the library computes. Exit 0 pass, 1
 * fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <stdio.h>


/* t = tanh(X) (3,3), an intermediate; every case below starts from it. */
static tg_tensor *f_mul_twice(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)n, (void)user;
    tg_tensor *t = tg_tanh(in[0]);
    /* mul(t, t), add(t, t), sub(t, ...): one op reading t twice, then more readers */
    tg_tensor *y = tg_add(tg_mul(t, t), tg_sub(tg_add(t, t), tg_mul(t, in[1])));
    return tg_sum(tg_mul(y, y), 0, NULL, 0);
}

static tg_tensor *f_matmul_twice(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)n, (void)user;
    tg_tensor *t = tg_sigmoid(in[0]);
    tg_tensor *m = tg_matmul(t, t);         /* dA and dB both into t's buffer */
    tg_tensor *p = tg_addmm(t, t, in[1]);   /* c and a are both t */
    tg_tensor *q = tg_addmm(in[1], t, t);   /* a and b are both t */
    tg_tensor *r = tg_addmm(t, t, t);       /* all three */
    return tg_sum(tg_tanh(tg_add(tg_add(m, p), tg_add(q, r))), 0, NULL, 0);
}

static tg_tensor *f_split(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)n, (void)user;
    tg_tensor *t = tg_tanh(tg_matmul(in[0], in[1])), *part[3];
    int64_t sizes[3] = {1, 1, 1};
    if (tg_split(t, 1, sizes, 3, part)) return NULL;
    /* parts used unevenly, one not at all; t itself read again after the split */
    tg_tensor *y = tg_add(tg_mul(part[0], part[2]), tg_sigmoid(part[0]));
    return tg_add(tg_sum(tg_mul(y, y), 0, NULL, 0), tg_sum(tg_relu(t), 0, NULL, 0));
}

static tg_tensor *f_order(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)n, (void)user;
    tg_tensor *t = tg_matmul(in[0], in[1]);
    /* recorded last, so run first in backward: a sum, which only adds, writes t's
     * gradient before the relu, tanh and sigmoid backward kernels reach it */
    tg_tensor *a = tg_relu(t), *b = tg_tanh(t), *c = tg_sigmoid(t);
    tg_tensor *s = tg_add(tg_sum(tg_mul(a, b), 0, NULL, 0), tg_sum(tg_mul(c, c), 0, NULL, 0));
    return tg_add(s, tg_sum(tg_mul(t, t), 0, NULL, 0));
}

typedef struct {
    const char *name;
    tg_scalar_fn f;
} fcase;

int main(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return 1;
    int64_t s[2] = {3, 3};
    tg_tensor *X = tg_tensor_new(ctx, TG_F64, 2, s), *Y = tg_tensor_new(ctx, TG_F64, 2, s);
    if (!X || !Y) return 1;
    for (int i = 0; i < 9; i++) {
        tg_set(X, i, 0.37 * (i % 4) - 0.55 + 0.05 * i);
        tg_set(Y, i, 0.8 - 0.19 * i);
    }
    tg_tensor_requires_grad(X, 1);
    tg_tensor_requires_grad(Y, 1);
    const fcase cases[] = {{"mul/add/sub reading t twice", f_mul_twice},
                           {"matmul(t,t) and addmm with t in two or three places", f_matmul_twice},
                           {"split parts of an intermediate, t read again", f_split},
                           {"sum adds first, then relu/tanh/sigmoid", f_order}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_check_report rep;
        tg_status st = tg_gradcheck(ctx, cases[k].f, (tg_tensor *[]){X, Y}, 2, NULL, NULL, &rep);
        CHECK(st == TG_OK && rep.ok, "%s: %s", cases[k].name, tg_last_error(ctx));
        if (st == TG_OK && rep.ok)
            printf("ok %s: %lld elements, max rel %.2e\n", cases[k].name, (long long)rep.n_checked,
                   rep.max_rel_err);
    }
    /* backward twice on one tape: the second pass starts fresh again and
     * must give the same gradients (leaves accumulate: exactly twice) */
    tg_zero_grad_of((tg_tensor *[]){X, Y}, 2);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *l = f_matmul_twice(ctx, (tg_tensor *[]){X, Y}, 2, NULL);
    double g1[9], worst = 0;
    if (!l || tg_backward(l) != TG_OK) {
        FAILF("backward: %s", tg_last_error(ctx));
    } else {
        for (int i = 0; i < 9; i++) g1[i] = tg_grad_get(X, i);
        CHECK(tg_backward(l) == TG_OK, "second backward: %s", tg_last_error(ctx));
        for (int i = 0; i < 9; i++) {
            double d = tg_grad_get(X, i) - 2 * g1[i];
            if (d < 0) d = -d;
            if (d > worst) worst = d;
        }
        CHECK(worst <= 1e-12, "backward twice: X's gradient is not twice the first (off by %.3g)", worst);
    }
    tg_tape_end(tape);
    tg_tensor_free(X);
    tg_tensor_free(Y);
    tg_ctx_free(ctx);
    return tl_summary();
}
