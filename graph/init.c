/* init.c: weight initializers, the one constructor of every layer's
 * parameters (tg__layer_params), and the dense layer.
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
    if (!t || tg__check_live(t, "init_uniform")) return; /* written directly, not through an op */
    for (int64_t i = 0; i < t->numel; i++) tg__st(t, i, lo + (hi - lo) * tg_rng_uniform(t->ctx));
}

void tg_init_normal(tg_tensor *t, double mean, double std) {
    if (!t || tg__check_live(t, "init_normal")) return; /* written directly, not through an op */
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

/* ---- layer construction: all the parameters of a layer, or none ---- */

void tg__params_truncate(tg_ctx *ctx, int keep) {
    if (!ctx || keep < 0) return;
    /* Newest first; nothing outside the layer being built can point at these
     * yet (no optimizer or tape has seen them). */
    while (ctx->params.n > keep) {
        tg_tensor *p = ctx->params.items[--ctx->params.n];
        tg__free((void *)p->name);
        tg__free(p->data);
        tg__free(p->grad);
        tg__free(p);
    }
}

tg_status tg__layer_params(tg_ctx *ctx, const char *who, const char *name, const char *sub, tg_dtype dt,
                           const tg__param_spec *ps, int n) {
    for (int i = 0; i < n; i++) *ps[i].out = NULL;
    size_t len = strlen(name);
    if (len < 1 || len > TG_LAYER_NAME_MAX)
        return tg__error(ctx, TG_EINVAL, "%s: a layer name needs 1 to %d bytes (got %zu)", who, TG_LAYER_NAME_MAX,
                         len);
    if (dt != TG_F32 && dt != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "%s: '%s': dtype %d is not f32 or f64", who, name, (int)dt);
    /* The longest name is TG_LAYER_NAME_MAX + ".l7r" + ".bhn" = 124 bytes,
     * under tg_param_new's 127. Check every name first so that a clash
     * creates nothing. */
    char full[160];
    for (int i = 0; i < n; i++) {
        snprintf(full, sizeof full, "%s%s.%s", name, sub, ps[i].role);
        if (tg_param_find(ctx, full))
            return tg__error(ctx, TG_EINVAL, "%s: parameters of a layer named '%s%s' already exist (%s)", who, name,
                             sub, full);
    }
    int keep = tg_param_count(ctx);
    for (int i = 0; i < n; i++) {
        snprintf(full, sizeof full, "%s%s.%s", name, sub, ps[i].role);
        tg_tensor *p = tg_param_new(ctx, full, dt, ps[i].rank, ps[i].shape);
        if (!p) {
            tg_status st = tg_last_status(ctx);
            tg__params_truncate(ctx, keep);
            for (int k = 0; k < n; k++) *ps[k].out = NULL;
            return st ? st : TG_ENOMEM;
        }
        *ps[i].out = p;
    }
    return TG_OK;
}

tg_tensor *tg_layer_param(tg_ctx *ctx, const char *layer, const char *role) {
    if (!ctx) return NULL;
    if (!layer || !role) {
        tg__error(ctx, TG_EINVAL, "layer_param: layer and role must not be NULL");
        return NULL;
    }
    char full[300];
    int len = snprintf(full, sizeof full, "%s.%s", layer, role);
    tg_tensor *p = len > 0 && (size_t)len < sizeof full ? tg_param_find(ctx, full) : NULL;
    if (!p)
        tg__error(ctx, TG_EINVAL, "layer_param: no parameter '%s.%s' in this context (roles: W, b for dense, "
                  "conv2d and tree layers; Wx, Wh, b, Uc, bhn for cells; l<k>[r].<cell role> for a stacked rnn)",
                  layer, role);
    return p;
}

/* ---- dense layer: y = x·W + b ---- */

tg_status tg_dense_init(tg_dense *layer, tg_ctx *ctx, const char *name, int64_t in, int64_t out,
                        tg_dtype dt, tg_init_kind init) {
    if (!ctx) return TG_EINVAL;
    if (!layer || !name)
        return tg__error(ctx, TG_EINVAL, "dense_init: layer and name must not be NULL");
    memset(layer, 0, sizeof *layer);
    if (in <= 0 || out <= 0)
        return tg__error(ctx, TG_EINVAL, "dense_init: '%s' needs in > 0 and out > 0, got in=%lld out=%lld",
                         name, (long long)in, (long long)out);
    if (init != TG_INIT_XAVIER && init != TG_INIT_HE && init != TG_INIT_ZERO)
        return tg__error(ctx, TG_EINVAL, "dense_init: '%s': unknown init kind %d", name, (int)init);
    tg__param_spec ps[2] = {{"W", 2, {in, out}, &layer->W}, {"b", 1, {out}, &layer->b}};
    tg_status st = tg__layer_params(ctx, "dense_init", name, "", dt, ps, 2);
    if (st) return st;
    /* TG_INIT_ZERO: tg_param_new already zeroed W; b is zero in every case. */
    if (init == TG_INIT_XAVIER) tg_init_xavier_uniform(layer->W);
    else if (init == TG_INIT_HE) tg_init_he_uniform(layer->W);
    return TG_OK;
}

void tg_dense_free(tg_dense *layer) {
    if (layer) memset(layer, 0, sizeof *layer);
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
