/*
 * gen.h: the models of the unsupervised and generative examples
 * (autoencoder, vae, gan). They live here, apart from the command-line
 * programs, so that test/test_generative.c gradient-checks the very code the
 * examples train. Every model is ordinary C calling ops; no gradient below is
 * written by hand.
 *
 * Dimension letters: B batch, D data (pixels), H hidden units, Z latent or
 * noise dimension. All tensors are built on the active tape; parameters
 * belong to the context.
 */
#ifndef EX_GEN_H
#define EX_GEN_H

#include "tapegrad.h"

#define GEN_MAX_LAYERS 8

/* Activations between layers. */
enum { GEN_IDENT, GEN_RELU, GEN_LEAKY, GEN_SIGMOID, GEN_TANH };
/** "identity", "relu", "leaky" (slope 0.2), "sigmoid", "tanh" -> GEN_*; -1 if unknown. */
int gen_act_parse(const char *name);
/** act(x); GEN_IDENT returns x itself. */
tg_tensor *gen_activate(int act, tg_tensor *x);
/** He (uniform) init for ReLU-like activations, Xavier (uniform) otherwise. */
tg_init_kind gen_init_for(int act);

/* ---- a stack of dense layers ---- */

typedef struct gen_mlp {
    int n;                            /* layers */
    tg_dense layer[GEN_MAX_LAYERS];   /* layer[l]: sizes[l] -> sizes[l+1] */
    int act;                          /* after every layer but the last */
    int out_act;                      /* after the last */
} gen_mlp;
/** n_sizes-1 layers (1..GEN_MAX_LAYERS) named "<name>.1", "<name>.2", ... */
tg_status gen_mlp_init(gen_mlp *m, tg_ctx *ctx, const char *name, int n_sizes, const int64_t *sizes, int act,
                       int out_act, tg_dtype dt);
/** x (B, sizes[0]) -> (B, sizes[n]). */
tg_tensor *gen_mlp_forward(const gen_mlp *m, tg_tensor *x);
/** Writes the 2n parameters (W, b of each layer) to out; returns 2n. */
int gen_mlp_params(const gen_mlp *m, tg_tensor **out);

/* ---- autoencoder (dense, optionally sparse, optionally stacked) ---- */

/* Levels 0..n: level 0 is the data, level l the code of encoder l.
 *   enc[l]: level l -> level l+1, followed by act;
 *   dec[l]: level l+1 -> level l, followed by sigmoid for l = 0 (pixels in
 *           [0,1]) and by act otherwise (it rebuilds a code made by act).
 * Loss between levels lo < hi (lo = 0, hi = n: the whole autoencoder; hi =
 * lo+1: greedy pretraining of layer lo), with x the level-lo input (B, S_lo)
 * and c the level-hi code:
 *   E = (1/(B·S_lo)) Σ (dec(c) - x)² + λ·(1/B) Σ |c|
 * so λ weighs the L1 norm of one sample's code against its mean squared
 * pixel error. */
typedef struct gen_ae {
    int n;
    int64_t sizes[GEN_MAX_LAYERS + 1];
    tg_dense enc[GEN_MAX_LAYERS], dec[GEN_MAX_LAYERS];
    int act;
} gen_ae;
/** sizes[0] = D, sizes[1..n] the code sizes; params "<name>.enc<l>.*" and
 *  "<name>.dec<l>.*" (l from 1). */
tg_status gen_ae_init(gen_ae *m, tg_ctx *ctx, const char *name, int n_sizes, const int64_t *sizes, int act,
                      tg_dtype dt);
/** Level lo -> level hi through enc[lo..hi). */
tg_tensor *gen_ae_encode(const gen_ae *m, tg_tensor *x, int lo, int hi);
/** Level hi -> level lo through dec[hi-1], ..., dec[lo]. */
tg_tensor *gen_ae_decode(const gen_ae *m, tg_tensor *c, int hi, int lo);
/** E above; *recon (B, S_lo) and *code (B, S_hi) may be NULL. */
tg_tensor *gen_ae_loss(const gen_ae *m, tg_tensor *x, int lo, int hi, double lambda, tg_tensor **recon,
                       tg_tensor **code);
/** Writes the 4 parameters of layer l (enc W, b, dec W, b); returns 4. */
int gen_ae_layer_params(const gen_ae *m, int l, tg_tensor **out);

/* ---- variational autoencoder (Kingma & Welling) ---- */

/* Encoder x (B,D) -> h = relu(x·W1 + b1) (B,H) -> μ = h·Wμ + bμ, lv = h·Wv + bv
 * (B,Z); z = μ + exp(½·lv)⊙ε with ε (B,Z) ~ N(0,1) given as a constant input;
 * decoder z -> relu (B,H) -> logits (B,D), p(x|z) Bernoulli(σ(logits)).
 * Per image: -ELBO = Σ_d bce_with_logits(logits, x) + KL(N(μ, e^lv) ‖ N(0,1)),
 * and the loss is its mean over the batch. */
typedef struct gen_vae {
    int64_t D, H, Z;
    tg_dense enc, mu, logvar, dec1, dec2;
} gen_vae;
typedef struct gen_vae_parts {
    tg_tensor *logits;   /* (B, D) */
    double rec, kl;      /* batch sums of the two terms */
} gen_vae_parts;
tg_status gen_vae_init(gen_vae *m, tg_ctx *ctx, const char *name, int64_t D, int64_t H, int64_t Z, tg_dtype dt);
/** Mean over the batch of -ELBO; parts may be NULL. */
tg_tensor *gen_vae_loss(const gen_vae *m, tg_tensor *x, tg_tensor *eps, gen_vae_parts *parts);
/** z (B,Z) -> logits (B,D). */
tg_tensor *gen_vae_decode(const gen_vae *m, tg_tensor *z);
/** Writes the 10 parameters; returns 10. */
int gen_vae_params(const gen_vae *m, tg_tensor **out);

/* ---- generative adversarial net (Goodfellow et al. 2014, Algorithm 1) ---- */

/* G: z (B,Z) -> x (B,D); D: x -> one logit (B,1), D(x) = σ(logit).
 *   D step (ascend log D(x) + log(1 - D(G(z)))), as a loss to descend:
 *     L_D = bce(D(x), 1) + bce(D(detach(G(z))), 0)     (batch means)
 *   G step, minimax: L_G = log(1 - D(G(z))) = -bce(D(G(z)), 0)
 *           nonsat:  L_G = -log D(G(z))     =  bce(D(G(z)), 1)
 * The D step detaches G's output, so no gradient reaches G; the G step's
 * backward does reach D's parameters, but only G's optimizer steps, and the
 * next D step zeroes D's gradients before its own backward. */
typedef struct gen_gan {
    gen_mlp G, D;
    int64_t Z, X;
    int nonsat;
    tg_optim *opt_g, *opt_d;   /* one group each (set by the caller) */
} gen_gan;
/** A (B, Z) tensor on the active tape of N(0,1) draws from ctx's RNG. */
tg_tensor *gen_noise(tg_ctx *ctx, tg_dtype dt, int64_t B, int64_t Z);
tg_tensor *gen_gan_d_loss(const gen_gan *m, tg_tensor *x, tg_tensor *z);
tg_tensor *gen_gan_g_loss(const gen_gan *m, tg_tensor *z);
/** One discriminator update on the active tape: zero D's grads, L_D,
 *  backward, opt_d step. *loss (may be NULL) gets L_D. */
tg_status gen_gan_d_step(gen_gan *m, tg_tensor *x, tg_tensor *z, double *loss);
/** One generator update: zero G's grads, L_G, backward, opt_g step. */
tg_status gen_gan_g_step(gen_gan *m, tg_tensor *z, double *loss);

#endif /* EX_GEN_H */
