/* perceptron: the lecture's first neural unit, then the net it cannot be.
 *
 * Part 1, the perceptron rule. y = step(w·x + b); after each sample
 *   w += η (t - y) x,   b += η (t - y),
 * starting from w = 0, b = 0, η = 0.1, ten passes over the four rows of the
 * AND truth table, then of the OR table. The forward pass runs through
 * tapegrad ops (matmul, add, step); step has no gradient, so the update is
 * the rule above, not backprop.
 *
 * Part 2, XOR. No single perceptron separates XOR, so a 2-H-1 network with
 * tanh hidden units and a sigmoid output is trained by backprop: the tape
 * records the forward pass, tg_backward gives the gradients of the binary
 * cross-entropy, and an optimizer (Adam by default) updates the parameters.
 *
 * Last line: "result: and_acc=1.00 or_acc=1.00 xor_acc=1.00".
 * Exit codes: 0 ok, 1 runtime error, 2 usage error. */
#include "common.h"

#include <math.h>
#include <string.h>

#define PROG "perceptron"

static const double X4[4][2] = {{1, 1}, {0, 0}, {1, 0}, {0, 1}}; /* the lecture's row order */

/* A (4,2) f64 tensor of the truth-table inputs on the active tape. */
static tg_tensor *inputs(tg_ctx *ctx) {
    int64_t shape[2] = {4, 2};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 2, shape);
    if (x) tg_tensor_set_f64(x, &X4[0][0]);
    return x;
}

/* ---- part 1: perceptron rule ---- */

typedef struct perceptron {
    tg_tensor *w; /* (2, 1) */
    tg_tensor *b; /* (1) */
} perceptron;

/* step(x·w + b) for x (n, 2) -> (n, 1), on the active tape. */
static tg_tensor *predict(const perceptron *p, tg_tensor *x) {
    return tg_step(tg_add(tg_matmul(x, p->w), p->b));
}

/* Train on one truth table; returns accuracy over its 4 rows, -1 on error. */
static double train_rule(tg_ctx *ctx, const char *name, const double *t, int epochs, double lr) {
    int64_t ws[2] = {2, 1}, bs[1] = {1};
    perceptron p = {tg_tensor_new(ctx, TG_F64, 2, ws), tg_tensor_new(ctx, TG_F64, 1, bs)};
    double acc = -1;
    if (!p.w || !p.b) goto out;
    for (int e = 0; e < epochs; e++) {
        for (int r = 0; r < 4; r++) {
            tg_tape *tape = tg_tape_begin(ctx);
            int64_t xs[2] = {1, 2};
            tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F64, 2, xs) : NULL;
            if (x) tg_tensor_set_f64(x, X4[r]);
            tg_tensor *y = x ? predict(&p, x) : NULL;
            if (!y) {
                if (tape) tg_tape_end(tape);
                goto out;
            }
            double delta = t[r] - tg_item(y);
            tg_tape_end(tape);
            for (int i = 0; i < 2; i++) tg_set(p.w, i, tg_get(p.w, i) + lr * delta * X4[r][i]);
            tg_set(p.b, 0, tg_get(p.b, 0) + lr * delta);
        }
    }
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *y = tape ? predict(&p, inputs(ctx)) : NULL;
    if (y) {
        int right = 0;
        for (int r = 0; r < 4; r++) right += tg_get(y, r) == t[r];
        acc = right / 4.0;
        printf("%s: weights [%g, %g] bias %g\n", name, tg_get(p.w, 0), tg_get(p.w, 1), tg_get(p.b, 0));
        for (int r = 0; r < 4; r++)
            printf("  %g %s %g = %g (want %g)\n", X4[r][0], name, X4[r][1], tg_get(y, r), t[r]);
    }
    if (tape) tg_tape_end(tape);
out:
    tg_tensor_free(p.w);
    tg_tensor_free(p.b);
    return acc;
}

/* ---- part 2: XOR by backprop ---- */

static double train_xor(tg_ctx *ctx, int hidden, int steps, double lr, const char *optim) {
    static const double T[4] = {0, 0, 1, 1}; /* XOR of the rows of X4 */
    tg_dense l1, l2;
    if (tg_dense_init(&l1, ctx, "xor.hidden", 2, hidden, TG_F64, TG_INIT_XAVIER) != TG_OK ||
        tg_dense_init(&l2, ctx, "xor.out", hidden, 1, TG_F64, TG_INIT_XAVIER) != TG_OK)
        return -1;
    tg_optim_config oc = tg_optim_defaults((tg_optim_kind)tg_optim_kind_parse(optim));
    oc.lr = lr;
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    if (!opt) return -1;
    double acc = -1, loss_v = NAN, loss0 = NAN; /* loss0: ex_diverged's reference */
    int64_t ts[2] = {4, 1};
    for (int s = 0; s <= steps; s++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *t = tape ? tg_tensor_temp(ctx, TG_F64, 2, ts) : NULL;
        if (t) tg_tensor_set_f64(t, T);
        tg_tensor *z = tape ? tg_dense_forward(&l2, tg_tanh(tg_dense_forward(&l1, inputs(ctx)))) : NULL;
        tg_tensor *loss = tg_bce_with_logits(z, t, TG_MEAN);
        if (!loss) {
            if (tape) tg_tape_end(tape);
            break;
        }
        loss_v = tg_item(loss);
        if (ex_diverged(&loss0, loss_v)) {
            tg_set_error(ctx, TG_ENUMERIC, "XOR training diverged at step %d (loss %g, first loss %g); try a smaller --xor-lr",
                         s, loss_v, loss0);
            tg_tape_end(tape);
            break;
        }
        if (s == steps) { /* the last pass only measures */
            int right = 0;
            for (int r = 0; r < 4; r++) right += (tg_get(z, r) > 0) == (T[r] > 0.5);
            acc = right / 4.0;
            printf("XOR: 2-%d-1 tanh net, %s lr %g, %d steps, loss %.6f\n", hidden, optim, lr, steps, loss_v);
            for (int r = 0; r < 4; r++)
                printf("  %g xor %g = %.4f (want %g)\n", X4[r][0], X4[r][1], 1 / (1 + exp(-tg_get(z, r))), T[r]);
            tg_tape_end(tape);
            break;
        }
        tg_status st = tg_backward(loss);
        if (st == TG_OK) st = tg_optim_step(opt);
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
        if (st != TG_OK) break;
    }
    tg_optim_free(opt);
    return acc;
}

int main(int argc, char **argv) {
    int epochs = 10, hidden = 4, steps = 1000, seed = 42;
    double lr = 0.1, xor_lr = 0.05;
    const char *optim = "adam";
    ex_flag flags[] = {
        ex_flag_int("epochs", &epochs, "passes of the perceptron rule", 1, 1000000),
        {.name = "lr", .type = EX_DOUBLE, .target = &lr, .help = "perceptron learning rate η",
         .range = EX_LO | EX_LO_OPEN, .lo = 0},
        ex_flag_int("hidden", &hidden, "hidden units of the XOR net", 2, 1024),
        ex_flag_int("steps", &steps, "XOR training steps (full batch)", 1, 10000000),
        {.name = "xor-lr", .type = EX_DOUBLE, .target = &xor_lr, .help = "XOR learning rate",
         .range = EX_LO | EX_LO_OPEN, .lo = 0},
        ex_flag_optim(&optim, "XOR optimizer"),
        ex_flag_min("seed", &seed, "seed of the XOR initialisation", 0),
    };
    int rc = ex_parse(argc, argv, PROG,
                      "Perceptron rule on AND and OR, then a small MLP trained by backprop on XOR.", flags,
                      (int)(sizeof flags / sizeof flags[0]));
    if (rc >= 0) return rc;
    tg_ctx *ctx = ex_ctx_new(seed, 1);
    if (!ctx) return ex_runtime_error(PROG, "out of memory");
    static const double AND[4] = {1, 0, 0, 0}, OR[4] = {1, 0, 1, 1};
    double a = train_rule(ctx, "and", AND, epochs, lr);
    double o = a >= 0 ? train_rule(ctx, "or", OR, epochs, lr) : -1;
    double x = o >= 0 ? train_xor(ctx, hidden, steps, xor_lr, optim) : -1;
    if (x < 0) {
        rc = ex_runtime_error(PROG, "%s", tg_last_error(ctx)[0] ? tg_last_error(ctx) : "training failed");
    } else {
        ex_result res = {0};
        ex_result_add(&res, "and_acc", "%.2f", a);
        ex_result_add(&res, "or_acc", "%.2f", o);
        ex_result_add(&res, "xor_acc", "%.2f", x);
        ex_result_print(&res);
        rc = EX_OK;
    }
    tg_ctx_free(ctx);
    return rc;
}
