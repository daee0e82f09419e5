/* init.c: weight initializers and the dense layer.
 *
 * Every initializer writes every element in flat index order, drawing from
 * the tensor's context RNG (tg_rng_uniform / tg_rng_normal), so the same seed
 * and the same sequence of calls give bitwise-identical weights. Fans follow
 * the header: rank 2 (in,out); rank >= 3 (out,in,k...); rank 1 n; rank 0 1. */
#include "graph_internal.h"

#include <math.h>
#include <stdio.h>

static void fans(const tg_tensor *t, double *fan_in, double *fan_out) {
    double fi = 1, fo = 1;
    if (t->rank == 1) {
        fi = fo = (double)t->shape[0];
    } else if (t->rank == 2) {
        fi = (double)t->shape[0];
        fo = (double)t->shape[1];
    } else if (t->rank >= 3) {
        double rf = 1; /* receptive field: product of the kernel dims */
        for (int d = 2; d < t->rank; d++) rf *= (double)t->shape[d];
        fi = (double)t->shape[1] * rf;
        fo = (double)t->shape[0] * rf;
    }
    /* An empty tensor has nothing to fill; keep the bounds finite anyway. */
    *fan_in = fi > 0 ? fi : 1;
    *fan_out = fo > 0 ? fo : 1;
}

void tg_init_zeros(tg_tensor *t) {
    if (t) tg_tensor_fill(t, 0.0);
}

void tg_init_constant(tg_tensor *t, double v) {
    if (t) tg_tensor_fill(t, v);
}

void tg_init_uniform(tg_tensor *t, double lo, double hi) {
    if (!t) return;
    for (int64_t i = 0; i < t->numel; i++) tg__st(t, i, lo + (hi - lo) * tg_rng_uniform(t->ctx));
}

void tg_init_normal(tg_tensor *t, double mean, double std) {
    if (!t) return;
    for (int64_t i = 0; i < t->numel; i++) tg__st(t, i, mean + std * tg_rng_normal(t->ctx));
}

void tg_init_xavier_uniform(tg_tensor *t) {
    if (!t) return;
    double fi, fo;
    fans(t, &fi, &fo);
    double a = sqrt(6.0 / (fi + fo));
    tg_init_uniform(t, -a, a);
}

void tg_init_xavier_normal(tg_tensor *t) {
    if (!t) return;
    double fi, fo;
    fans(t, &fi, &fo);
    tg_init_normal(t, 0.0, sqrt(2.0 / (fi + fo)));
}

void tg_init_he_uniform(tg_tensor *t) {
    if (!t) return;
    double fi, fo;
    fans(t, &fi, &fo);
    double a = sqrt(6.0 / fi);
    tg_init_uniform(t, -a, a);
}

void tg_init_he_normal(tg_tensor *t) {
    if (!t) return;
    double fi, fo;
    fans(t, &fi, &fo);
    tg_init_normal(t, 0.0, sqrt(2.0 / fi));
}

/* ---- dense layer: y = x·W + b ---- */

tg_status tg_dense_init(tg_dense *layer, tg_ctx *ctx, const char *name, int64_t in, int64_t out,
                        tg_dtype dt, tg_init_kind init) {
    if (!ctx) return TG_EINVAL;
    if (!layer || !name)
        return tg__error(ctx, TG_EINVAL, "dense_init: layer and name must not be NULL");
    layer->W = layer->b = NULL;
    if (in <= 0 || out <= 0)
        return tg__error(ctx, TG_EINVAL, "dense_init: '%s' needs in > 0 and out > 0, got in=%lld out=%lld",
                         name, (long long)in, (long long)out);
    if (dt != TG_F32 && dt != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "dense_init: '%s': dtype %d is not f32 or f64", name, (int)dt);
    if (init != TG_INIT_XAVIER && init != TG_INIT_HE && init != TG_INIT_ZERO)
        return tg__error(ctx, TG_EINVAL, "dense_init: '%s': unknown init kind %d", name, (int)init);
    char wname[160], bname[160];
    if (!name[0] || strlen(name) > 125)
        return tg__error(ctx, TG_EINVAL, "dense_init: a layer name needs 1 to 125 bytes (got %zu)",
                         strlen(name));
    snprintf(wname, sizeof wname, "%s.W", name);
    snprintf(bname, sizeof bname, "%s.b", name);
    /* Check both names first so that a clash creates neither parameter. */
    if (tg_param_find(ctx, wname) || tg_param_find(ctx, bname))
        return tg__error(ctx, TG_EINVAL, "dense_init: parameters of a layer named '%s' already exist", name);
    int64_t wshape[2] = {in, out}, bshape[1] = {out};
    tg_tensor *W = tg_param_new(ctx, wname, dt, 2, wshape);
    if (!W) return tg_last_status(ctx);
    tg_tensor *b = tg_param_new(ctx, bname, dt, 1, bshape);
    if (!b) return tg_last_status(ctx); /* W stays registered: parameters cannot be removed */
    b->flags |= TG_NO_DECAY;
    if (init == TG_INIT_XAVIER) tg_init_xavier_uniform(W);
    else if (init == TG_INIT_HE) tg_init_he_uniform(W);
    /* TG_INIT_ZERO: tg_param_new already zeroed W; b is zero in every case. */
    layer->W = W;
    layer->b = b;
    return TG_OK;
}

tg_tensor *tg_dense_forward(const tg_dense *layer, tg_tensor *x) {
    if (!x) return NULL; /* keep the first error message */
    if (!layer || !layer->W || !layer->b) {
        tg__error(x->ctx, TG_EINVAL, "dense: layer is not initialized (input %s)", tg__sh(x));
        return NULL;
    }
    const tg_tensor *W = layer->W;
    if (x->rank != 2 || x->shape[1] != W->shape[0]) {
        tg__error(x->ctx, TG_ESHAPE, "dense: input %s does not fit W %s: expected (B,%lld)", tg__sh(x),
                  tg__sh(W), (long long)W->shape[0]);
        return NULL;
    }
    return tg_addmm(layer->b, x, layer->W); /* x·W + b, one op */
}
