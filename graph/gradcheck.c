/* gradcheck.c: finite-difference checks of analytic gradients, in f64.
 *
 * Every check reduces the output to a scalar s = Σ w⊙y (w fixed and random,
 * or w = 1 for a scalar function), gets ∂s/∂x from the tape, and compares it
 * element by element with the central difference (s(x+ε) - s(x-ε)) / 2ε.
 * An element passes when |analytic - numeric| <= atol + rtol·|numeric|; the
 * report names the worst element by that ratio. */
#include "graph_internal.h"

#include <math.h>
#include <stdio.h>

typedef tg_tensor *(*build_fn)(tg_ctx *ctx, tg_tensor **in, int n, void *user);

typedef struct {
    double eps, atol, rtol;
    int verbose;
} opts_t;

static opts_t resolve(const tg_check_opts *o, const tg_check_spec *spec) {
    opts_t r = {1e-6, 1e-8, 1e-6, 0};
    if (spec) {
        if (spec->eps > 0) r.eps = spec->eps;
        if (spec->atol > 0) r.atol = spec->atol;
        if (spec->rtol > 0) r.rtol = spec->rtol;
    }
    if (o) {
        if (o->eps > 0) r.eps = o->eps;
        if (o->atol > 0) r.atol = o->atol;
        if (o->rtol > 0) r.rtol = o->rtol;
        r.verbose = o->verbose;
    }
    return r;
}

/* s = Σ w⊙y (w NULL: y must have one element). */
static double reduce_out(const tg_tensor *y, const double *w) {
    if (!w) return tg__ld(y, 0);
    /* Neumaier-compensated: the central difference divides rounding error
     * by 2ε, so a plain sum over a long output would dominate the check. */
    double s = 0, c = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        double v = w[i] * tg__ld(y, i), t = s + v;
        c += fabs(s) >= fabs(v) ? (s - t) + v : (v - t) + s;
        s = t;
    }
    return s + c;
}

/* build(ctx, in, n, user) on `tape`, with a failure's status its own: the
 * context keeps the last failure's status until the next one, so a user
 * function that returns NULL without setting an error would otherwise
 * report whatever failed before it. A tape the function began and left
 * active is ended here (the caller's tape can only end once it is the
 * innermost again) and reported. On success the earlier status comes back. */
static tg_tensor *build_on(tg_ctx *ctx, tg_tape *tape, build_fn build, void *user, tg_tensor **in, int n,
                           tg_status *st) {
    tg_status before = tg_ctx_last_status(ctx);
    char msg[512]; /* the context's message buffer size */
    if (before) snprintf(msg, sizeof msg, "%s", tg_ctx_last_error(ctx));
    tg_clear_error(ctx);
    tg_tensor *y = build(ctx, in, n, user);
    int left_open = 0;
    while (tg_ctx_active_tape(ctx) && tg_ctx_active_tape(ctx) != tape) {
        tg_tape_end(tg_ctx_active_tape(ctx));
        left_open++;
    }
    if (left_open) {
        *st = tg__error(ctx, TG_ESTATE, "gradcheck: the function left %d tape%s active (end every tape it begins)",
                        left_open, left_open == 1 ? "" : "s");
        return NULL;
    }
    if (!y) {
        if (tg_ctx_last_status(ctx) == TG_OK)
            tg__error(ctx, TG_EINVAL, "gradcheck: the function returned NULL without setting an error");
        *st = tg_ctx_last_status(ctx);
        return NULL;
    }
    if (tg_ctx_last_status(ctx) == TG_OK && before != TG_OK) tg_set_error(ctx, before, "%s", msg);
    *st = TG_OK;
    return y;
}

/* The generic check. `in` are f64 leaves; those with TG_REQUIRES_GRAD are
 * differentiated. *w_io: NULL on entry means "make w" when the output has
 * more than one element (freed here). */
static tg_status check_generic(tg_ctx *ctx, build_fn build, void *user, tg_tensor **in, int n,
                               int use_w, opts_t o, tg_check_report *rep, const char *where) {
    tg_check_report r = {0};
    r.ok = 1;
    r.worst_input = -1;
    snprintf(r.where, sizeof r.where, "%s", where ? where : "");
    for (int i = 0; i < n; i++)
        if (!in[i] || in[i]->dtype != TG_F64)
            return tg__error(ctx, TG_EDTYPE, "gradcheck: input %d must be an f64 tensor", i);

    /* Analytic pass. Keep the inputs' existing grads aside and restore them. */
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (tg_needs_grad(in[i])) total += in[i]->numel;
    double *ana = tg__calloc((size_t)(total ? total : 1), sizeof(double));
    double *keep = tg__calloc((size_t)(total ? total : 1), sizeof(double));
    double *w = NULL;
    tg_status st = TG_OK;
    if (!ana || !keep) {
        st = tg__error(ctx, TG_ENOMEM, "gradcheck: out of memory");
        goto done;
    }
    for (int i = 0, off = 0; i < n; i++) {
        if (!tg_needs_grad(in[i])) continue;
        memcpy(keep + off, in[i]->grad, (size_t)in[i]->numel * sizeof(double));
        memset(in[i]->grad, 0, (size_t)in[i]->numel * sizeof(double));
        off += (int)in[i]->numel;
    }
    tg_tape *tape = tg_tape_begin(ctx);
    if (!tape) {
        st = TG_ENOMEM;
        goto done;
    }
    tg_tensor *y = build_on(ctx, tape, build, user, in, n, &st);
    if (!y) {
        tg_tape_end(tape);
        goto restore;
    }
    if (use_w || y->numel != 1) {
        w = tg__malloc((size_t)(y->numel ? y->numel : 1) * sizeof(double));
        void *wd = tg__arena_alloc(&tape->arena, (size_t)(y->numel ? y->numel : 1) * sizeof(double));
        if (!w || !wd) {
            st = tg__error(ctx, TG_ENOMEM, "gradcheck: out of memory");
            tg_tape_end(tape);
            goto restore;
        }
        for (int64_t i = 0; i < y->numel; i++) {
            /* fixed pseudo-random weights in [-1, 1), independent of ctx's RNG */
            w[i] = (double)tg_philox(0x5eed, 7, (uint64_t)i) * 0x1.0p-31 - 1.0;
            ((double *)wd)[i] = w[i];
        }
        st = y->node ? tg_backward_seeded(y, wd) : TG_OK;
    } else {
        st = y->node ? tg_backward(y) : TG_OK;
    }
    tg_tape_end(tape);
    if (st) goto restore;
    for (int i = 0, off = 0; i < n; i++) {
        if (!tg_needs_grad(in[i])) continue;
        memcpy(ana + off, in[i]->grad, (size_t)in[i]->numel * sizeof(double));
        off += (int)in[i]->numel;
    }

    /* Numeric pass, element by element, recording nothing. */
    tg_no_grad_begin(ctx);
    double worst_ratio = -1;
    for (int i = 0, off = 0; i < n && !st; i++) {
        if (!tg_needs_grad(in[i])) continue;
        double *x = in[i]->data;
        for (int64_t j = 0; j < in[i]->numel; j++) {
            double x0 = x[j], s[2];
            for (int k = 0; k < 2 && !st; k++) {
                x[j] = x0 + (k ? -o.eps : o.eps);
                tg_tape *t = tg_tape_begin(ctx);
                tg_tensor *yy = t ? build_on(ctx, t, build, user, in, n, &st) : NULL;
                if (!t) st = TG_ENOMEM;
                else if (yy) s[k] = reduce_out(yy, w);
                tg_tape_end(t);
            }
            x[j] = x0;
            if (st) break;
            double num = (s[0] - s[1]) / (2 * o.eps), a = ana[off + j];
            double err = fabs(a - num), tol = o.atol + o.rtol * fabs(num);
            /* Relative to |n|, floored at atol/rtol: below that scale the
             * pass test is governed by atol, and a pure ratio to a tiny |n|
             * would say nothing. rel <= rtol then means a comfortable pass. */
            double rel = err / fmax(fabs(num), o.rtol > 0 ? o.atol / o.rtol : 1e-300);
            int pass = err <= tol; /* NaN fails */
            if (!pass) r.ok = 0;
            double ratio = isnan(err) ? INFINITY : err / tol;
            if (err > r.max_abs_err || isnan(err)) r.max_abs_err = err;
            if (rel > r.max_rel_err || isnan(rel)) r.max_rel_err = rel;
            if (ratio > worst_ratio) {
                worst_ratio = ratio;
                r.worst_input = i;
                r.worst_index = j;
                r.worst_analytic = a;
                r.worst_numeric = num;
            }
            r.n_checked++;
            if (o.verbose)
                fprintf(stderr, "  %s input %d [%lld]: analytic %.10g numeric %.10g%s\n", r.where, i,
                        (long long)j, a, num, pass ? "" : "  FAIL");
        }
        off += (int)in[i]->numel;
    }
    tg_no_grad_end(ctx);
    if (!st && !r.ok)
        st = tg__error(ctx, TG_ECHECK,
                       "gradcheck: %s: input %d element %lld: analytic %.10g, numeric %.10g "
                       "(abs err %.3g, rel err %.3g)",
                       r.where, r.worst_input, (long long)r.worst_index, r.worst_analytic,
                       r.worst_numeric, fabs(r.worst_analytic - r.worst_numeric),
                       fabs(r.worst_analytic - r.worst_numeric) / fmax(fabs(r.worst_numeric), 1e-300));
restore:
    for (int i = 0, off = 0; i < n; i++) {
        if (!tg_needs_grad(in[i])) continue;
        memcpy(in[i]->grad, keep + off, (size_t)in[i]->numel * sizeof(double));
        off += (int)in[i]->numel;
    }
done:
    tg__free(ana);
    tg__free(keep);
    tg__free(w);
    if (rep) *rep = r;
    return st;
}

/* ---- user functions ---- */

typedef struct {
    tg_scalar_fn f;
    void *user;
} user_wrap;

static tg_tensor *call_user(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    user_wrap *w = u;
    tg_tensor *y = w->f(ctx, in, n, w->user);
    if (y && y->numel != 1) {
        tg__error(ctx, TG_ESHAPE, "gradcheck: the function must return one element, got %s", tg__sh(y));
        return NULL;
    }
    return y;
}

tg_status tg_gradcheck(tg_ctx *ctx, tg_scalar_fn f, tg_tensor **inputs, int n, void *user,
                       const tg_check_opts *opts, tg_check_report *rep) {
    if (!ctx || !f || !inputs || n < 1) return TG_EINVAL;
    for (int i = 0; i < n; i++) {
        if (!inputs[i]) return tg__error(ctx, TG_EINVAL, "gradcheck: input %d is NULL", i);
        if (tg__check_live(inputs[i], "gradcheck")) return TG_ESTATE; /* its data is written directly */
        if (!tg_needs_grad(inputs[i]) && tg_tensor_requires_grad(inputs[i], 1)) return tg_last_status(ctx);
    }
    user_wrap w = {f, user};
    return check_generic(ctx, call_user, &w, inputs, n, 0, resolve(opts, NULL), rep, "function");
}

/* ---- one op on sampled inputs ---- */

typedef struct {
    const tg_op_def *op;
    const void *attr;
} op_wrap;

static tg_tensor *call_op(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx;
    op_wrap *w = u;
    return tg_apply(w->op, in, n, w->attr);
}

int tg__parse_shapes(const char *s, int *n_in, int rank[], int64_t shape[][TG_MAX_RANK]) {
    int n = 0;
    const char *p = s;
    for (;;) {
        if (n >= TG_MAX_INPUTS) return -1;
        rank[n] = 0;
        while (*p && *p != ';') {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 0 || rank[n] >= TG_MAX_RANK) return -1;
            shape[n][rank[n]++] = v;
            p = end;
            if (*p == ',') p++;
        }
        n++;
        if (!*p) break;
        p++; /* ';' */
    }
    *n_in = n;
    return 0;
}

double tg__sample_input(tg_ctx *ctx, const tg_check_spec *sp) {
    double lo = sp->lo, hi = sp->hi;
    if (!(hi > lo)) lo = -2, hi = 2;
    double gap = sp->kink_gap > 0 ? sp->kink_gap : 1e-2;
    for (int tries = 0;; tries++) {
        double v = lo + (hi - lo) * tg_rng_uniform(ctx);
        int near = 0;
        for (int k = 0; k < sp->n_kinks; k++)
            if (fabs(v - sp->kinks[k]) < gap) near = 1;
        if (!near || tries > 1000) return v;
    }
}

tg_status tg_gradcheck_op(tg_ctx *ctx, const tg_op_def *op, const char *shapes, const void *attr,
                          const tg_check_opts *opts, tg_check_report *rep) {
    if (!ctx || !op || !shapes) return TG_EINVAL;
    if (!op->backward)
        return tg__error(ctx, TG_ENOGRAD, "gradcheck: %s has no gradient to check", op->name);
    int n, rank[TG_MAX_INPUTS];
    int64_t shape[TG_MAX_INPUTS][TG_MAX_RANK];
    if (tg__parse_shapes(shapes, &n, rank, shape))
        return tg__error(ctx, TG_EINVAL, "gradcheck: cannot parse shapes \"%s\"", shapes);
    tg_tape *outer = tg_tape_begin(ctx);
    if (!outer) return TG_ENOMEM;
    tg_tensor *in[TG_MAX_INPUTS];
    tg_status st = TG_OK;
    for (int i = 0; i < n && !st; i++) {
        in[i] = tg_tensor_temp(ctx, TG_F64, rank[i], shape[i]);
        if (!in[i]) {
            st = tg_last_status(ctx);
            break;
        }
        for (int64_t j = 0; j < in[i]->numel; j++) tg__st(in[i], j, tg__sample_input(ctx, &op->check));
        if (!(op->check.no_grad_inputs & (1u << i))) st = tg_tensor_requires_grad(in[i], 1);
    }
    if (!st) {
        op_wrap w = {op, attr};
        char where[128];
        snprintf(where, sizeof where, "%s %s", op->name, shapes);
        st = check_generic(ctx, call_op, &w, in, n, 1, resolve(opts, &op->check), rep, where);
    }
    tg_tape_end(outer);
    return st;
}

/* ---- a whole tape, node by node ---- */

tg_status tg_gradcheck_tape(tg_tape *tape, const tg_check_opts *opts, tg_check_report *rep) {
    if (!tape) return TG_EINVAL;
    tg_ctx *ctx = tape->ctx;
    tg_check_report worst = {0};
    worst.ok = 1;
    double worst_rel = -1;
    for (int64_t i = 0; i < tape->n_nodes; i++) {
        tg_node *nd = tape->nodes[i];
        if (!nd->op->backward) continue;
        tg_tape *t = tg_tape_begin(ctx);
        if (!t) return TG_ENOMEM;
        tg_tensor *in[TG_MAX_INPUTS];
        tg_status st = TG_OK;
        int n = nd->n_in;
        if (n > TG_MAX_INPUTS) {
            tg_tape_end(t);
            continue;
        }
        for (int j = 0; j < n && !st; j++) {
            tg_tensor *src = nd->in[j];
            if (src->dtype != TG_F64) {
                st = tg__error(ctx, TG_EDTYPE, "gradcheck_tape: node %lld (%s) input %d is not f64",
                               (long long)i, nd->op->name, j);
                break;
            }
            in[j] = tg_tensor_temp(ctx, TG_F64, src->rank, src->shape);
            if (!in[j]) {
                st = tg_last_status(ctx);
                break;
            }
            memcpy(in[j]->data, src->data, (size_t)src->numel * sizeof(double));
            if (tg_needs_grad(src)) st = tg_tensor_requires_grad(in[j], 1);
        }
        tg_check_report r = {0};
        if (!st) {
            op_wrap w = {nd->op, nd->attr};
            char where[128];
            snprintf(where, sizeof where, "node %lld (%s)", (long long)i, nd->op->name);
            st = check_generic(ctx, call_op, &w, in, n, 1, resolve(opts, &nd->op->check), &r, where);
        }
        tg_tape_end(t);
        if (st == TG_ECHECK) {
            if (rep) *rep = r;
            return st;
        }
        if (st) return st;
        if (r.max_rel_err > worst_rel) {
            worst_rel = r.max_rel_err;
            worst = r;
        }
    }
    if (rep) *rep = worst;
    return TG_OK;
}
