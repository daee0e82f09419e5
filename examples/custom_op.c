/* custom_op: an op defined outside the library, checked, then trained with.
 *
 * The op is log-cosh, y = log cosh x, with dy/dx = tanh x: quadratic near 0
 * (x²/2) and linear far out (|x| - ln 2), so as a loss on residuals it is a
 * smooth cousin of the Huber loss. Everything it needs is public API:
 * a tg_op_def (infer, forward, backward, check spec) applied with tg_apply,
 * tg_needs_grad / tg_grad_buf in the backward kernel, and tg_gradcheck_op to
 * compare the backward with central differences on every case of the spec.
 *
 * The model is robust regression: points on the line t = 2x - 1 with
 * Gaussian noise, a fraction of them (--outliers) pushed up by 5 to 15. A
 * line y = w·x + b is fitted by full-batch Adam twice, once with the loss
 * mean(log cosh((y - t)/s)) (s = --scale) and once with mean((y - t)²);
 * the outliers drag the squared-error line up, log-cosh barely moves.
 *
 * --wrong-backward swaps in a backward with a classic bug (the derivative of
 * tanh where the derivative of log cosh belongs). The gradient check catches
 * it before any training: it names the op, the input and the worst element,
 * and the program exits 1.
 *
 *   custom_op                     # gradcheck, then both fits
 *   custom_op --wrong-backward    # gradcheck fails, exit 1
 *
 * Last line: "result: gradcheck=ok w=... b=... mse_w=... mse_b=...".
 * Exit codes: 0 ok, 1 runtime error (a failed gradient check included),
 * 2 usage error.
 *
 * It includes tapegrad.h and the C library only (not the other examples'
 * common.h), so the installed library is all it needs
 * (docs/adding-an-op.md):
 *   cc -std=c11 -o custom_op custom_op.c $(pkg-config --cflags --libs tapegrad) -lm */
#include <tapegrad.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *PROG = "custom_op"; /* argv[0]'s last component, set in main */

/* ---- messages and the result line ---- */

/* "PROG: message" on stderr; returns 1, the runtime-error exit status. */
static int runtime_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", PROG);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* The last stdout line, "result: k=v k=v ...", built up by result_add. */
typedef struct result {
    char line[512];
} result;

static void result_add(result *r, const char *key, const char *fmt, ...) {
    size_t n = strlen(r->line);
    if (n == 0) n = (size_t)snprintf(r->line, sizeof r->line, "result:");
    if (n >= sizeof r->line) return;
    n += (size_t)snprintf(r->line + n, sizeof r->line - n, " %s=", key);
    if (n >= sizeof r->line) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->line + n, sizeof r->line - n, fmt, ap);
    va_end(ap);
}

/* ---- the op: log cosh ---- */

/* log cosh x = |x| + log1p(e^(-2|x|)) - ln 2: cosh itself overflows for
 * |x| > 710, this form never does. */
static double log_cosh(double x) {
    double a = fabs(x);
    return a + log1p(exp(-2 * a)) - 0.69314718055994530942;
}

/* infer: the output has the input's shape and dtype; no input is invalid. */
static tg_status log_cosh_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    out->dtype = x->dtype;
    out->rank = x->rank;
    for (int d = 0; d < x->rank; d++) out->shape[d] = x->shape[d];
    return TG_OK;
}

/* forward: y = log cosh x. The output arrives uninitialized: write every
 * element, in both dtypes. */
static tg_status log_cosh_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    if (x->dtype == TG_F32) {
        const float *xs = x->data;
        float *ys = n->out->data;
        for (int64_t i = 0; i < x->numel; i++) ys[i] = (float)log_cosh(xs[i]);
    } else {
        const double *xs = x->data;
        double *ys = n->out->data;
        for (int64_t i = 0; i < x->numel; i++) ys[i] = log_cosh(xs[i]);
    }
    return TG_OK;
}

/* dx += dy · f'(x), dy the upstream gradient n->out->grad. Adds, never
 * assigns: x may feed other nodes, and its gradient is the sum over all. */
static tg_status add_vjp(tg_node *n, double (*fprime)(double)) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x); /* zeroed the first time this pass touches it */
    if (!dx) return TG_ENOMEM;
    if (x->dtype == TG_F32) {
        const float *xs = x->data, *dy = n->out->grad;
        float *g = dx;
        for (int64_t i = 0; i < x->numel; i++) g[i] += dy[i] * (float)fprime(xs[i]);
    } else {
        const double *xs = x->data, *dy = n->out->grad;
        double *g = dx;
        for (int64_t i = 0; i < x->numel; i++) g[i] += dy[i] * fprime(xs[i]);
    }
    return TG_OK;
}

/* backward: d(log cosh x)/dx = tanh x. */
static tg_status log_cosh_backward(tg_node *n) { return add_vjp(n, tanh); }

static const tg_op_def log_cosh_op = {
    .name = "log_cosh",
    .n_inputs = 1,
    .infer = log_cosh_infer,
    .forward = log_cosh_forward,
    .backward = log_cosh_backward,
    /* tg_gradcheck_op draws inputs from [lo, hi]; the cases are input shapes:
     * one element, a matrix, rank 0, rank 3 */
    .check = {.lo = -4, .hi = 4,
              .cases = {{.shapes = "5,3"}, {.shapes = "1"}, {.shapes = ""}, {.shapes = "2,3,4"}}},
};

/* The op as a function: a tape-owned result, NULL on error (tg_last_error). */
static tg_tensor *my_log_cosh(tg_tensor *x) { return tg_apply(&log_cosh_op, &x, 1, NULL); }

/* ---- the bug that --wrong-backward swaps in ---- */

/* 1 - tanh² x is the derivative of tanh x, not of log cosh x. */
static double not_the_derivative(double x) {
    double t = tanh(x);
    return 1 - t * t;
}
static tg_status log_cosh_backward_wrong(tg_node *n) { return add_vjp(n, not_the_derivative); }

/* log_cosh_op with that backward: everything else, the check spec included, the same. */
static tg_op_def wrong_op(void) {
    tg_op_def d = log_cosh_op;
    d.backward = log_cosh_backward_wrong;
    return d;
}

/* ---- the check ---- */

/* tg_gradcheck_op on every case of the op's spec. 0 when all pass; -1 after
 * printing what failed (the library's message names the op, the input, the
 * element, and the analytic and numeric values). */
static int check_op(tg_ctx *ctx, const tg_op_def *op, result *res) {
    for (int c = 0; c < TG_MAX_CHECK_CASES && op->check.cases[c].shapes; c++) {
        const char *shapes = op->check.cases[c].shapes;
        tg_check_report rep;
        tg_status st = tg_gradcheck_op(ctx, op, shapes, NULL, NULL, &rep);
        if (st == TG_ECHECK) {
            printf("gradcheck %s on [%s]: FAILED, worst element: input %d index %lld, "
                   "analytic %.6g, numeric %.6g\n",
                   op->name, shapes, rep.worst_input, (long long)rep.worst_index, rep.worst_analytic,
                   rep.worst_numeric);
            result_add(res, "gradcheck", "failed");
            result_add(res, "op", "%s", op->name);
            result_add(res, "shapes", "[%s]", shapes);
            result_add(res, "worst_input", "%d", rep.worst_input);
            result_add(res, "worst_index", "%lld", (long long)rep.worst_index);
            result_add(res, "analytic", "%.6g", rep.worst_analytic);
            result_add(res, "numeric", "%.6g", rep.worst_numeric);
            runtime_error("%s", tg_last_error(ctx));
            return -1;
        }
        if (st != TG_OK) {
            runtime_error("gradcheck %s [%s]: %s", op->name, shapes, tg_last_error(ctx));
            return -1;
        }
        printf("gradcheck %s on [%s]: %lld elements, max abs err %.2e, ok\n", op->name, shapes,
               (long long)rep.n_checked, rep.max_abs_err);
    }
    return 0;
}

/* ---- the model: a robust line fit ---- */

typedef struct data {
    int n;
    double *x, *t; /* (n) each */
} data;

/* t = 2x - 1 + noise·N(0,1), x ~ U(-2, 2); a fraction of the points gets
 * t += U(5, 15). Drawn from ctx's seeded RNG. */
static int make_data(tg_ctx *ctx, data *d, int n, double noise, double outliers) {
    d->n = n;
    d->x = malloc((size_t)n * sizeof *d->x);
    d->t = malloc((size_t)n * sizeof *d->t);
    if (!d->x || !d->t) return -1;
    for (int i = 0; i < n; i++) {
        d->x[i] = -2 + 4 * tg_rng_uniform(ctx);
        d->t[i] = 2 * d->x[i] - 1 + noise * tg_rng_normal(ctx);
        if (tg_rng_uniform(ctx) < outliers) d->t[i] += 5 + 10 * tg_rng_uniform(ctx);
    }
    return 0;
}

/* Fit y = w·x + b by full-batch Adam; robust = 1: loss mean(log cosh(r/s)),
 * 0: mean(r²), r = y - t. The layer's parameters are named by prefix. */
static int fit(tg_ctx *ctx, const data *d, const char *prefix, int robust, double scale, int epochs, double lr,
               double *w, double *b) {
    tg_dense lin;
    if (tg_dense_init(&lin, ctx, prefix, 1, 1, TG_F64, TG_INIT_ZERO) != TG_OK) return -1;
    tg_tensor *group[2] = {lin.W, lin.b};
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    oc.lr = lr;
    tg_optim *opt = tg_optim_new(ctx, &oc, group, 2);
    if (!opt) return -1;
    int64_t shape[2] = {d->n, 1};
    int rc = 0;
    double lv = NAN;
    for (int e = 1; e <= epochs && rc == 0; e++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
        tg_tensor *t = tape ? tg_tensor_temp(ctx, TG_F64, 2, shape) : NULL;
        if (x && t) tg_tensor_set_f64(x, d->x), tg_tensor_set_f64(t, d->t);
        tg_tensor *r = tg_sub(tg_dense_forward(&lin, x), t); /* residuals y - t, (n, 1) */
        tg_tensor *loss;
        if (robust) loss = tg_mean(my_log_cosh(tg_mul(r, tg_scalar(ctx, TG_F64, 1 / scale))), 0, NULL, 0);
        else loss = tg_mean(tg_square(r), 0, NULL, 0);
        tg_status st = loss ? tg_backward(loss) : TG_EINVAL;
        if (st == TG_OK) st = tg_optim_step(opt);
        lv = loss ? tg_item(loss) : NAN;
        tg_optim_zero_grad(opt);
        if (tape) tg_tape_end(tape);
        if (st != TG_OK || !isfinite(lv)) rc = -1;
    }
    *w = tg_get(lin.W, 0);
    *b = tg_get(lin.b, 0);
    printf("%-8s fit: w %8.4f  b %8.4f  (final loss %.4f)\n", robust ? "log-cosh" : "squared", *w, *b, lv);
    tg_optim_free(opt);
    return rc;
}

/* ---- the command line ---- */

/* One flag: an int, a double or a switch, with the range its value must be
 * in; the help text prints "(default D; in [lo, hi])". */
typedef struct flag {
    const char *name, *help;
    char kind; /* 'i' int, 'd' double, 'b' switch */
    void *target;
    double lo, hi;
    int lo_open; /* the range is (lo, hi] */
} flag;

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", PROG);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", PROG);
    va_end(ap);
    return 2;
}

static void help(const flag *f, int n) {
    printf("Usage: %s [OPTIONS]\n"
           "Define a log-cosh op outside the library, gradient-check it, and fit a line\n"
           "robust to outliers with it.\n\nOptions:\n",
           PROG);
    for (int i = 0; i < n; i++) {
        if (f[i].kind == 'b') {
            printf("  --%-21s %s\n", f[i].name, f[i].help);
            continue;
        }
        char def[32];
        if (f[i].kind == 'i') snprintf(def, sizeof def, "%d", *(int *)f[i].target);
        else snprintf(def, sizeof def, "%g", *(double *)f[i].target);
        char name[40];
        snprintf(name, sizeof name, "%s %s", f[i].name, f[i].kind == 'i' ? "N" : "X");
        printf("  --%-21s %s (default %s; in %c%.10g, %.10g])\n", name, f[i].help, def, f[i].lo_open ? '(' : '[',
               f[i].lo, f[i].hi);
    }
    printf("  -h, --help              show this help and exit\n\n"
           "Exit status: 0 success, 1 runtime error, 2 usage error.\n"
           "The last line on stdout is 'result: key=value ...'.\n");
}

/* -1: go on; otherwise the exit status (0 after --help, 2 on a usage error). */
static int parse(int argc, char **argv, const flag *f, int n) {
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) return help(f, n), 0;
        if (strncmp(arg, "--", 2) != 0) return usage_error("unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const flag *g = NULL;
        for (int i = 0; i < n && !g; i++)
            if (strlen(f[i].name) == len && !strncmp(arg + 2, f[i].name, len)) g = &f[i];
        if (!g) return usage_error("unknown flag '%s'", arg);
        if (g->kind == 'b') {
            if (eq) return usage_error("--%s takes no value", g->name);
            *(int *)g->target = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!v) return usage_error("--%s needs a value", g->name);
        char *end;
        errno = 0;
        double x = g->kind == 'i' ? (double)strtol(v, &end, 10) : strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return usage_error("--%s: '%s' is not %s", g->name, v, g->kind == 'i' ? "an integer" : "a number");
        if (x < g->lo || (g->lo_open && x == g->lo) || x > g->hi)
            return usage_error("--%s: %s is out of range (must be in %c%.10g, %.10g])", g->name, v,
                               g->lo_open ? '(' : '[', g->lo, g->hi);
        if (g->kind == 'i') *(int *)g->target = (int)x;
        else *(double *)g->target = x;
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc > 0 && argv[0][0]) PROG = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int epochs = 500, samples = 200, seed = 42, wrong = 0;
    double lr = 0.05, outliers = 0.2, noise = 0.3, scale = 0.3;
    const flag flags[] = {
        {"epochs", "Adam steps per fit (full batch)", 'i', &epochs, 1, 10000000, 0},
        {"lr", "Adam learning rate", 'd', &lr, 0, 10, 1},
        {"samples", "points to fit", 'i', &samples, 2, 10000000, 0},
        {"outliers", "fraction of points pushed up by U(5,15)", 'd', &outliers, 0, 0.5, 0},
        {"noise", "standard deviation of the inliers' noise", 'd', &noise, 0, 100, 0},
        {"scale", "s in log cosh(r/s): residuals well below s count as squared, above as absolute", 'd', &scale, 0,
         1000, 1},
        {"seed", "seed of the data and the gradient check", 'i', &seed, 0, 2147483647, 0},
        {"wrong-backward", "use a deliberately wrong backward, to watch the gradient check catch it", 'b', &wrong, 0, 0,
         0},
    };
    int rc = parse(argc, argv, flags, (int)(sizeof flags / sizeof flags[0]));
    if (rc >= 0) return rc;

    tg_config cfg = tg_config_default();
    cfg.seed = (uint64_t)seed;
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return runtime_error("out of memory");
    result res = {{0}};
    data d = {0};
    rc = 1;
    tg_op_def op = wrong ? wrong_op() : log_cosh_op;
    if (check_op(ctx, &op, &res) != 0) {
        printf("%s\n", res.line);
        goto out;
    }
    result_add(&res, "gradcheck", "ok");
    if (make_data(ctx, &d, samples, noise, outliers) != 0) {
        runtime_error("out of memory");
        goto out;
    }
    printf("data: t = 2x - 1 + %g·N(0,1), %d points, %.0f%% outliers\n", noise, samples, 100 * outliers);
    double w, b, mw, mb;
    if (fit(ctx, &d, "robust", 1, scale, epochs, lr, &w, &b) != 0 ||
        fit(ctx, &d, "squared", 0, scale, epochs, lr, &mw, &mb) != 0) {
        runtime_error("training failed: %s", tg_last_error(ctx)[0] ? tg_last_error(ctx) : "diverged");
        goto out;
    }
    result_add(&res, "w", "%.4f", w);
    result_add(&res, "b", "%.4f", b);
    result_add(&res, "mse_w", "%.4f", mw);
    result_add(&res, "mse_b", "%.4f", mb);
    printf("%s\n", res.line);
    rc = 0;
out:
    free(d.x);
    free(d.t);
    tg_ctx_free(ctx);
    return rc;
}
