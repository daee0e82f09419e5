/* linear_unit: the lecture's linear unit on its salary data.
 *
 *   years  [5, 3, 8, 1.4, 10.1]  ->  salary [5500, 2300, 7600, 1800, 11400]
 *
 * Model y = w·x + b, loss E = (1/n) Σ (y - t)² (tg_mse, mean), full-batch
 * gradient descent with gradients from the tape (tg_backward + SGD).
 *
 * Feature scaling: training runs on standardised data, x' = (x - x̄)/s_x and
 * t' = (t - t̄)/s_t (population standard deviations). Then the loss surface is
 * round (its Hessian is 2·I), a learning rate of 0.1 converges in a few hundred
 * steps, and no step size has to be tuned to the units of salary. The fitted
 * w', b' are mapped back to the original units:
 *   w = w'·s_t/s_x,   b = t̄ + s_t·b' - w·x̄,
 * and the reported mse is measured in original units (salary²).
 *
 * Last line: "result: w=... b=... mse=...". Exit codes: 0, 1 runtime, 2 usage. */
#include "common.h"

#include <math.h>

#define PROG "linear_unit"
#define N 5

static const double YEARS[N] = {5, 3, 8, 1.4, 10.1};
static const double SALARY[N] = {5500, 2300, 7600, 1800, 11400};

static void moments(const double *v, double *mean, double *sd) {
    double m = 0, s = 0;
    for (int i = 0; i < N; i++) m += v[i];
    m /= N;
    for (int i = 0; i < N; i++) s += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = sqrt(s / N);
}

int main(int argc, char **argv) {
    int epochs = 300, print_every = 50;
    double lr = 0.1;
    ex_flag flags[] = {
        ex_flag_int("epochs", &epochs, "gradient-descent steps (full batch)", 1, 10000000),
        ex_flag_lr(&lr, "learning rate on the standardised data", 10),
        ex_flag_min("print-every", &print_every, "print the loss every N steps (0 = never)", 0),
    };
    int rc = ex_parse(argc, argv, PROG, "Fit salary = w*years + b by gradient descent through the tape.", flags,
                      (int)(sizeof flags / sizeof flags[0]));
    if (rc >= 0) return rc;
    rc = EX_OK;

    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return ex_runtime_error(PROG, "out of memory");
    double xm, xs, tm, ts, xn[N], tn[N];
    moments(YEARS, &xm, &xs);
    moments(SALARY, &tm, &ts);
    for (int i = 0; i < N; i++) xn[i] = (YEARS[i] - xm) / xs, tn[i] = (SALARY[i] - tm) / ts;

    tg_dense lin;
    tg_optim_config oc = tg_optim_defaults(TG_OPT_SGD);
    oc.lr = lr;
    tg_optim *opt = NULL;
    if (tg_dense_init(&lin, ctx, "linear", 1, 1, TG_F64, TG_INIT_ZERO) != TG_OK ||
        !(opt = tg_optim_new(ctx, &oc, NULL, 0))) {
        rc = ex_runtime_error(PROG, "%s", tg_last_error(ctx));
        goto out;
    }
    int64_t shape[2] = {N, 1};
    double loss0 = NAN; /* the first loss: ex_diverged's reference */
    for (int e = 1; e <= epochs; e++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
        tg_tensor *t = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
        if (x && t) tg_tensor_set_f64(x, xn), tg_tensor_set_f64(t, tn);
        tg_tensor *loss = tg_mse(tg_dense_forward(&lin, x), t, TG_MEAN);
        double lv;
        tg_status st = ex_step_end(opt, tape, loss, loss ? tg_backward(loss) : TG_EINVAL, &lv);
        if (st != TG_OK) {
            rc = ex_runtime_error(PROG, "step %d: %s", e, tg_last_error(ctx));
            goto out;
        }
        if (ex_diverged(&loss0, lv)) {
            rc = ex_runtime_error(PROG, "training diverged at step %d (loss %g, first loss %g); try a smaller --lr", e,
                                  lv, loss0);
            goto out;
        }
        if (print_every && (e % print_every == 0 || e == 1))
            printf("step %5d  loss (standardised) %.10f\n", e, lv);
    }
    /* back to original units */
    double w = tg_get(lin.W, 0) * ts / xs;
    double b = tm + ts * tg_get(lin.b, 0) - w * xm;
    /* mse in original units, measured with the same ops (nothing recorded) */
    double mse = NAN;
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
    tg_tensor *t = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
    if (x && t) {
        tg_tensor_set_f64(x, YEARS);
        tg_tensor_set_f64(t, SALARY);
        tg_tensor *y = tg_add(tg_mul(x, tg_scalar(ctx, TG_F64, w)), tg_scalar(ctx, TG_F64, b));
        tg_tensor *l = tg_mse(y, t, TG_MEAN);
        if (l) mse = tg_item(l);
    }
    if (tape) tg_tape_end(tape);
    printf("weights: [%.6f]\nbias: %.6f\n", w, b);
    static const double ask[4] = {3.4, 15, 1.5, 6.3};
    for (int i = 0; i < 4; i++) printf("Work %g years, monthly salary = %.2f\n", ask[i], w * ask[i] + b);
    ex_result res = {0};
    ex_result_add(&res, "w", "%.6f", w);
    ex_result_add(&res, "b", "%.6f", b);
    ex_result_add(&res, "mse", "%.6f", mse);
    ex_result_print(&res);
out:
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    return rc;
}
