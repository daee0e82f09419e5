/* layers.c: the convolution layer and its fixed connection table.
 *
 *   y = conv2d(x, W ⊙ M, b, opts)     x (B,C,H,W), W and M (O,C/G,KH,KW), b (O)
 *
 * M is a constant 0/1 mask, absent (all ones) unless a connection table was
 * set. With a table T (C,O), T[p,k] = 1 when output map k reads input map p
 * (the lectures' T_{p,k}; LeNet-5's C3 uses a 6x16 one), and
 *   M[o,c,:,:] = T[g·C/G + c, o],   g = o / (O/G).
 * The product W ⊙ M is an ordinary tg_mul on the tape, so backward gives
 *   dW = dy_conv(W⊙M) ⊙ M
 * and a masked-off weight gets exactly 0: the mask needs no special case in
 * any kernel, and the optimizer never moves that weight (Adam's update of a
 * zero gradient with zero moments is 0). The weights a table switches off
 * are also set to 0 when the table is set, so W itself shows the table.
 *
 * The mask is a persistent tensor that does not require a gradient. It is
 * not a parameter (an optimizer over every parameter would reject it, and a
 * checkpoint needs no copy of a constant), so the layer owns it and
 * tg_conv2d_layer_free releases it. W and b belong to the context. */
#include "graph_internal.h"

#define WHO "conv2d_layer_init"

static tg_status check_args(tg_ctx *ctx, const char *name, int64_t C, int64_t O, int kh, int kw,
                            const tg_conv_opts *a, tg_init_kind init) {
    if (C <= 0 || O <= 0 || kh <= 0 || kw <= 0)
        return tg__error(ctx, TG_EINVAL,
                         WHO ": '%s' needs in, out, kh, kw > 0, got in=%lld out=%lld kernel %dx%d", name,
                         (long long)C, (long long)O, kh, kw);
    for (int i = 0; i < 2; i++)
        if (a->stride[i] < 1 || a->dilation[i] < 1 || a->pad[i] < 0)
            return tg__error(ctx, TG_EINVAL,
                             WHO ": '%s': stride (%d,%d) and dilation (%d,%d) must be >= 1 (0 means 1), "
                             "pad (%d,%d) >= 0",
                             name, a->stride[0], a->stride[1], a->dilation[0], a->dilation[1], a->pad[0],
                             a->pad[1]);
    if (a->groups < 1 || C % a->groups || O % a->groups)
        return tg__error(ctx, TG_EINVAL, WHO ": '%s': in=%lld and out=%lld must both divide into %d groups",
                         name, (long long)C, (long long)O, a->groups);
    if (init != TG_INIT_XAVIER && init != TG_INIT_HE && init != TG_INIT_ZERO)
        return tg__error(ctx, TG_EINVAL, WHO ": '%s': unknown init kind %d", name, (int)init);
    return TG_OK;
}

tg_status tg_conv2d_layer_init(tg_conv2d_layer *layer, tg_ctx *ctx, const char *name, int64_t in_ch,
                               int64_t out_ch, int kh, int kw, const tg_conv_opts *opts, tg_dtype dt,
                               tg_init_kind init) {
    if (!ctx) return TG_EINVAL;
    if (!layer || !name) return tg__error(ctx, TG_EINVAL, WHO ": layer and name must not be NULL");
    memset(layer, 0, sizeof *layer);
    tg_conv_opts a = tg__conv_opts_norm(opts); /* the same defaults as tg_conv2d */
    tg_status st = check_args(ctx, name, in_ch, out_ch, kh, kw, &a, init);
    if (st) return st;
    tg__param_spec ps[2] = {{"W", 4, {out_ch, in_ch / a.groups, kh, kw}, &layer->W}, {"b", 1, {out_ch}, &layer->b}};
    if ((st = tg__layer_params(ctx, WHO, name, "", dt, ps, 2))) return st;
    /* Fans of (O, C/G, KH, KW): fan_in = C/G·KH·KW, fan_out = O·KH·KW. */
    if (init == TG_INIT_XAVIER) tg_init_xavier_uniform(layer->W);
    else if (init == TG_INIT_HE) tg_init_he_uniform(layer->W);
    layer->opts = a;
    return TG_OK;
}

tg_status tg_conv2d_layer_set_table(tg_conv2d_layer *layer, const uint8_t *table) {
    if (!layer || !layer->W) return TG_EINVAL;
    tg_tensor *W = layer->W;
    tg_ctx *ctx = W->ctx;
    if (!table) return tg__error(ctx, TG_EINVAL, "conv2d_layer_set_table: table must not be NULL (W %s)", tg__sh(W));
    int64_t O = W->shape[0], Cg = W->shape[1], K = W->shape[2] * W->shape[3], G = layer->opts.groups;
    int64_t C = Cg * G, Og = O / G;
    /* Validate all of T before touching anything. */
    for (int64_t p = 0; p < C; p++)
        for (int64_t k = 0; k < O; k++) {
            uint8_t t = table[p * O + k];
            if (t > 1)
                return tg__error(ctx, TG_EINVAL,
                                 "conv2d_layer_set_table: T[%lld,%lld] = %u is not 0 or 1 (W %s)", (long long)p,
                                 (long long)k, (unsigned)t, tg__sh(W));
            if (t && p / Cg != k / Og)
                return tg__error(ctx, TG_EINVAL,
                                 "conv2d_layer_set_table: T[%lld,%lld] = 1 connects input map %lld to output "
                                 "map %lld across groups (%lld groups, W %s)",
                                 (long long)p, (long long)k, (long long)p, (long long)k, (long long)G, tg__sh(W));
        }
    if (!layer->mask) {
        layer->mask = tg_tensor_new(ctx, W->dtype, W->rank, W->shape);
        if (!layer->mask) return tg_last_status(ctx);
    }
    tg_tensor *M = layer->mask;
    for (int64_t o = 0; o < O; o++) {
        int64_t g = o / Og;
        for (int64_t c = 0; c < Cg; c++) {
            double m = table[(g * Cg + c) * O + o] ? 1.0 : 0.0;
            int64_t base = (o * Cg + c) * K;
            for (int64_t i = 0; i < K; i++) {
                tg__st(M, base + i, m);
                if (m == 0.0) tg__st(W, base + i, 0.0);
            }
        }
    }
    return TG_OK;
}

tg_tensor *tg_conv2d_layer_forward(const tg_conv2d_layer *layer, tg_tensor *x) {
    if (!x) return NULL; /* keep the first error message */
    if (!layer || !layer->W || !layer->b) {
        tg__error(x->ctx, TG_EINVAL, "conv2d_layer: layer is not initialized (input %s)", tg__sh(x));
        return NULL;
    }
    tg_tensor *w = layer->mask ? tg_mul(layer->W, layer->mask) : layer->W;
    return tg_conv2d(x, w, layer->b, &layer->opts);
}

void tg_conv2d_layer_free(tg_conv2d_layer *layer) {
    if (!layer) return;
    tg_tensor_free(layer->mask);
    memset(layer, 0, sizeof *layer); /* W and b stay in the context */
}
