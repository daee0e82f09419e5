/* losses.c: losses composed from existing ops rather than written as ops
 * with their own kernels. Each is a handful of elementwise ops and one sum,
 * so its gradient comes from the tape and needs no hand derivation; the
 * price is a few temporaries per call, which the tape's arena absorbs.
 *
 *   kl_normal(μ, lv) = ½ Σ (e^lv + μ² - lv - 1)      = -½ Σ (1 + lv - μ² - e^lv)
 *                      (KL(N(μ, σ²) ‖ N(0, 1)) with lv = log σ², per element)
 *   l1_penalty(x)    = Σ |x|
 *
 * TG_MEAN divides by numel (an empty input gives 0, as the other losses do). */
#include "graph_internal.h"

/* s·scale as a rank-0 tensor on s's tape. */
static tg_tensor *scaled(tg_tensor *s, double scale) {
    if (!s) return NULL;
    if (scale == 1.0) return s;
    return tg_mul(s, tg_scalar(s->ctx, s->dtype, scale));
}

static double reduce_scale(const tg_tensor *x, tg_reduction r, double k) {
    return r == TG_MEAN && x->numel > 0 ? k / (double)x->numel : k;
}

static int bad_reduction(tg_ctx *ctx, const char *who, tg_reduction r) {
    if (r == TG_MEAN || r == TG_SUM) return 0;
    tg__error(ctx, TG_EINVAL, "%s: unknown reduction %d", who, (int)r);
    return 1;
}

tg_tensor *tg_kl_normal(tg_tensor *mu, tg_tensor *logvar, tg_reduction r) {
    if (!mu || !logvar) return NULL;
    tg_ctx *ctx = mu->ctx;
    if (bad_reduction(ctx, "kl_normal", r)) return NULL;
    if (mu->dtype != logvar->dtype) {
        tg__error(ctx, TG_EDTYPE, "kl_normal: mu %s is %s but logvar %s is %s", tg__sh(mu),
                  tg_dtype_name(mu->dtype), tg__sh(logvar), tg_dtype_name(logvar->dtype));
        return NULL;
    }
    if (!tg_shape_eq(mu, logvar)) {
        tg__error(ctx, TG_ESHAPE, "kl_normal: mu %s and logvar %s must have the same shape", tg__sh(mu),
                  tg__sh(logvar));
        return NULL;
    }
    /* e^lv + μ² - (lv + 1), summed, times ½ */
    tg_tensor *a = tg_add(tg_exp(logvar), tg_square(mu));
    tg_tensor *b = tg_add(logvar, tg_scalar(ctx, mu->dtype, 1.0));
    tg_tensor *s = tg_sum(tg_sub(a, b), 0, NULL, 0);
    return scaled(s, reduce_scale(mu, r, 0.5));
}

tg_tensor *tg_l1_penalty(tg_tensor *x, tg_reduction r) {
    if (!x) return NULL;
    if (bad_reduction(x->ctx, "l1_penalty", r)) return NULL;
    tg_tensor *s = tg_sum(tg_abs(x), 0, NULL, 0);
    return scaled(s, reduce_scale(x, r, 1.0));
}
