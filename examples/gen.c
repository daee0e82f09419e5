/* gen.c: autoencoder, VAE and GAN models for the examples and their test.
 * See gen.h for the equations. */
#include "gen.h"

#include <stdio.h>
#include <string.h>

int gen_act_parse(const char *name) {
    static const char *const names[] = {"identity", "relu", "leaky", "sigmoid", "tanh"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

tg_tensor *gen_activate(int act, tg_tensor *x) {
    switch (act) {
    case GEN_RELU: return tg_relu(x);
    case GEN_LEAKY: return tg_leaky_relu(x, 0.2);
    case GEN_SIGMOID: return tg_sigmoid(x);
    case GEN_TANH: return tg_tanh(x);
    default: return x;
    }
}

tg_init_kind gen_init_for(int act) { return act == GEN_RELU || act == GEN_LEAKY ? TG_INIT_HE : TG_INIT_XAVIER; }

/* ---- mlp ---- */

tg_status gen_mlp_init(gen_mlp *m, tg_ctx *ctx, const char *name, int n_sizes, const int64_t *sizes, int act,
                       int out_act, tg_dtype dt) {
    memset(m, 0, sizeof *m);
    if (n_sizes < 2 || n_sizes > GEN_MAX_LAYERS + 1)
        return tg_set_error(ctx, TG_EINVAL, "%s: %d layer sizes, need 2..%d", name, n_sizes, GEN_MAX_LAYERS + 1);
    m->n = n_sizes - 1;
    m->act = act;
    m->out_act = out_act;
    for (int l = 0; l < m->n; l++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s.%d", name, l + 1);
        int a = l + 1 < m->n ? act : out_act;
        tg_status st = tg_dense_init(&m->layer[l], ctx, nm, sizes[l], sizes[l + 1], dt, gen_init_for(a));
        if (st) return st;
    }
    return TG_OK;
}

tg_tensor *gen_mlp_forward(const gen_mlp *m, tg_tensor *x) {
    for (int l = 0; l < m->n; l++) x = gen_activate(l + 1 < m->n ? m->act : m->out_act, tg_dense_forward(&m->layer[l], x));
    return x;
}

int gen_mlp_params(const gen_mlp *m, tg_tensor **out) {
    for (int l = 0; l < m->n; l++) {
        out[2 * l] = m->layer[l].W;
        out[2 * l + 1] = m->layer[l].b;
    }
    return 2 * m->n;
}

/* ---- autoencoder ---- */

static int dec_act(const gen_ae *m, int l) { return l == 0 ? GEN_SIGMOID : m->act; }

tg_status gen_ae_init(gen_ae *m, tg_ctx *ctx, const char *name, int n_sizes, const int64_t *sizes, int act,
                      tg_dtype dt) {
    memset(m, 0, sizeof *m);
    if (n_sizes < 2 || n_sizes > GEN_MAX_LAYERS + 1)
        return tg_set_error(ctx, TG_EINVAL, "%s: %d layer sizes, need 2..%d", name, n_sizes, GEN_MAX_LAYERS + 1);
    m->n = n_sizes - 1;
    m->act = act;
    memcpy(m->sizes, sizes, (size_t)n_sizes * sizeof *sizes);
    for (int l = 0; l < m->n; l++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s.enc%d", name, l + 1);
        tg_status st = tg_dense_init(&m->enc[l], ctx, nm, sizes[l], sizes[l + 1], dt, gen_init_for(act));
        if (st) return st;
        snprintf(nm, sizeof nm, "%s.dec%d", name, l + 1);
        st = tg_dense_init(&m->dec[l], ctx, nm, sizes[l + 1], sizes[l], dt, gen_init_for(dec_act(m, l)));
        if (st) return st;
    }
    return TG_OK;
}

tg_tensor *gen_ae_encode(const gen_ae *m, tg_tensor *x, int lo, int hi) {
    for (int l = lo; l < hi; l++) x = gen_activate(m->act, tg_dense_forward(&m->enc[l], x));
    return x;
}

tg_tensor *gen_ae_decode(const gen_ae *m, tg_tensor *c, int hi, int lo) {
    for (int l = hi - 1; l >= lo; l--) c = gen_activate(dec_act(m, l), tg_dense_forward(&m->dec[l], c));
    return c;
}

tg_tensor *gen_ae_loss(const gen_ae *m, tg_tensor *x, int lo, int hi, double lambda, tg_tensor **recon,
                       tg_tensor **code) {
    if (!x) return NULL;
    tg_tensor *c = gen_ae_encode(m, x, lo, hi);
    tg_tensor *r = gen_ae_decode(m, c, hi, lo);
    if (recon) *recon = r;
    if (code) *code = c;
    tg_tensor *loss = tg_mse(r, x, TG_MEAN);
    if (lambda > 0 && c) {
        double k = lambda / (double)(x->shape[0] > 0 ? x->shape[0] : 1);
        loss = tg_add(loss, tg_mul(tg_l1_penalty(c, TG_SUM), tg_scalar(x->ctx, x->dtype, k)));
    }
    return loss;
}

int gen_ae_layer_params(const gen_ae *m, int l, tg_tensor **out) {
    out[0] = m->enc[l].W;
    out[1] = m->enc[l].b;
    out[2] = m->dec[l].W;
    out[3] = m->dec[l].b;
    return 4;
}

/* ---- VAE ---- */

tg_status gen_vae_init(gen_vae *m, tg_ctx *ctx, const char *name, int64_t D, int64_t H, int64_t Z, tg_dtype dt) {
    memset(m, 0, sizeof *m);
    m->D = D;
    m->H = H;
    m->Z = Z;
    struct {
        tg_dense *d;
        const char *suffix;
        int64_t in, out;
        tg_init_kind init;
    } L[5] = {{&m->enc, "enc", D, H, TG_INIT_HE},      {&m->mu, "mu", H, Z, TG_INIT_XAVIER},
              {&m->logvar, "logvar", H, Z, TG_INIT_XAVIER}, {&m->dec1, "dec1", Z, H, TG_INIT_HE},
              {&m->dec2, "dec2", H, D, TG_INIT_XAVIER}};
    for (int i = 0; i < 5; i++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s.%s", name, L[i].suffix);
        tg_status st = tg_dense_init(L[i].d, ctx, nm, L[i].in, L[i].out, dt, L[i].init);
        if (st) return st;
    }
    return TG_OK;
}

tg_tensor *gen_vae_decode(const gen_vae *m, tg_tensor *z) {
    return tg_dense_forward(&m->dec2, tg_relu(tg_dense_forward(&m->dec1, z)));
}

tg_tensor *gen_vae_loss(const gen_vae *m, tg_tensor *x, tg_tensor *eps, gen_vae_parts *parts) {
    if (!x || !eps) return NULL;
    tg_ctx *ctx = x->ctx;
    tg_tensor *h = tg_relu(tg_dense_forward(&m->enc, x));
    tg_tensor *mu = tg_dense_forward(&m->mu, h);
    tg_tensor *lv = tg_dense_forward(&m->logvar, h);
    /* reparameterization: z = μ + e^{lv/2}·ε, ε a constant input */
    tg_tensor *sd = tg_exp(tg_mul(lv, tg_scalar(ctx, x->dtype, 0.5)));
    tg_tensor *z = tg_add(mu, tg_mul(sd, eps));
    tg_tensor *logits = gen_vae_decode(m, z);
    tg_tensor *rec = tg_bce_with_logits(logits, x, TG_SUM);
    tg_tensor *kl = tg_kl_normal(mu, lv, TG_SUM);
    double inv_b = 1.0 / (double)(x->shape[0] > 0 ? x->shape[0] : 1);
    tg_tensor *loss = tg_mul(tg_add(rec, kl), tg_scalar(ctx, x->dtype, inv_b));
    if (parts && loss) {
        parts->logits = logits;
        parts->rec = tg_item(rec);
        parts->kl = tg_item(kl);
    }
    return loss;
}

int gen_vae_params(const gen_vae *m, tg_tensor **out) {
    const tg_dense *L[5] = {&m->enc, &m->mu, &m->logvar, &m->dec1, &m->dec2};
    for (int i = 0; i < 5; i++) {
        out[2 * i] = L[i]->W;
        out[2 * i + 1] = L[i]->b;
    }
    return 10;
}

/* ---- GAN ---- */

tg_tensor *gen_noise(tg_ctx *ctx, tg_dtype dt, int64_t B, int64_t Z) {
    int64_t shape[2] = {B, Z};
    tg_tensor *z = tg_tensor_temp(ctx, dt, 2, shape);
    if (!z) return NULL;
    if (dt == TG_F32) {
        float *p = z->data;
        for (int64_t i = 0; i < z->numel; i++) p[i] = (float)tg_rng_normal(ctx);
    } else {
        double *p = z->data;
        for (int64_t i = 0; i < z->numel; i++) p[i] = tg_rng_normal(ctx);
    }
    return z;
}

/* A (B,1) tensor of v, the bce target "real" (1) or "fake" (0). */
static tg_tensor *labels(tg_ctx *ctx, tg_dtype dt, int64_t B, double v) {
    int64_t shape[2] = {B, 1};
    tg_tensor *t = tg_tensor_temp(ctx, dt, 2, shape);
    if (t) tg_tensor_fill(t, v);
    return t;
}

tg_tensor *gen_gan_d_loss(const gen_gan *m, tg_tensor *x, tg_tensor *z) {
    if (!x || !z) return NULL;
    tg_ctx *ctx = x->ctx;
    int64_t B = x->shape[0], Bz = z->shape[0];
    tg_tensor *fake = tg_detach(gen_mlp_forward(&m->G, z)); /* no gradient reaches G */
    tg_tensor *l_real = tg_bce_with_logits(gen_mlp_forward(&m->D, x), labels(ctx, x->dtype, B, 1.0), TG_MEAN);
    tg_tensor *l_fake = tg_bce_with_logits(gen_mlp_forward(&m->D, fake), labels(ctx, x->dtype, Bz, 0.0), TG_MEAN);
    return tg_add(l_real, l_fake);
}

tg_tensor *gen_gan_g_loss(const gen_gan *m, tg_tensor *z) {
    if (!z) return NULL;
    tg_ctx *ctx = z->ctx;
    tg_tensor *logit = gen_mlp_forward(&m->D, gen_mlp_forward(&m->G, z));
    if (m->nonsat) return tg_bce_with_logits(logit, labels(ctx, z->dtype, z->shape[0], 1.0), TG_MEAN);
    return tg_neg(tg_bce_with_logits(logit, labels(ctx, z->dtype, z->shape[0], 0.0), TG_MEAN));
}

static tg_status step(tg_optim *opt, tg_tensor *loss, double *out) {
    if (!loss) return TG_EINVAL;
    if (out) *out = tg_item(loss);
    tg_status st = tg_backward(loss);
    return st ? st : tg_optim_step(opt);
}

tg_status gen_gan_d_step(gen_gan *m, tg_tensor *x, tg_tensor *z, double *loss) {
    tg_optim_zero_grad(m->opt_d);
    return step(m->opt_d, gen_gan_d_loss(m, x, z), loss);
}

tg_status gen_gan_g_step(gen_gan *m, tg_tensor *z, double *loss) {
    tg_optim_zero_grad(m->opt_g);
    return step(m->opt_g, gen_gan_g_loss(m, z), loss);
}
