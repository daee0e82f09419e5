/* vae: a variational autoencoder (Kingma & Welling, 2014) on Fashion-MNIST
 * (or any MNIST-layout set).
 *
 *   vae                                   # 784-400-(20,20) / 20-400-784, 10 epochs of Adam
 *   vae --latent 2 --samples latent2.png
 *
 * Model (examples/gen.h): the encoder maps an image x to the mean μ and the
 * log-variance lv = log σ² of a diagonal Gaussian q(z|x); a sample is drawn
 * by reparameterization, z = μ + exp(½·lv)⊙ε with ε ~ N(0, I) drawn from the
 * context's seeded RNG and fed in as a constant input, so the gradient flows
 * through μ and lv and not through the noise. The decoder gives Bernoulli
 * logits for the 784 pixels. Per image,
 *
 *   -ELBO(x) = Σ_d bce_with_logits(logit_d, x_d) + KL(N(μ, σ²) ‖ N(0, I))
 *            = -E_q[log p(x|z)] + KL,  the KL in closed form
 *              -½ Σ_j (1 + lv_j - μ_j² - e^lv_j),
 *
 * and training minimises its batch mean. This is the recipe of PyTorch's
 * examples/vae (batch 128, Adam lr 1e-3, 10 epochs, relu hidden layers);
 * pixels are the grey levels /255, used as Bernoulli targets as PyTorch does.
 *
 * Reported: the test ELBO in nats per image (negative: higher is better),
 * averaged over the test set with one ε draw per image, with its two terms.
 * --samples writes decoder means σ(logits) of z ~ N(0, I); --recon writes
 * rows of test images, each followed by a row of their reconstructions
 * (decoder means at z = μ).
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "vae"
/* --help's first lines */
static const char SUMMARY[] = "Train a variational autoencoder on Fashion-MNIST (or any MNIST-layout data set).\n"
                             "Defaults: PyTorch's examples/vae recipe, 784-400-20, batch 128, Adam lr 1e-3, 10 epochs.";

#define GRID 8

typedef struct opts {
    const char *data, *optim, *samples, *recon;
    int epochs, batch, seed, threads, limit, hidden, latent;
    double lr;
} opts;

static tg_tensor *batch_of(tg_ctx *ctx, const tg_dataset *ds, const int64_t *idx, int64_t B) {
    int64_t shape[2] = {B, ds->rows * ds->cols};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, shape);
    if (!x || tg_dataset_batch(ds, idx, B, x, NULL) != TG_OK) return NULL;
    return x;
}

typedef struct vae_eval {
    tg_ctx *ctx;
    const gen_vae *m;
    const tg_dataset *ds;
    double rec, kl; /* sums over the images so far */
} vae_eval;

/* ex_batch_fn: one batch's reconstruction and KL terms. */
static int vae_eval_batch(void *user, int64_t done, const int64_t *idx, int64_t B) {
    (void)done;
    vae_eval *e = user;
    tg_tensor *x = batch_of(e->ctx, e->ds, idx, B);
    gen_vae_parts p;
    if (!x || !gen_vae_loss(e->m, x, gen_noise(e->ctx, TG_F32, B, e->m->Z), &p)) return -1;
    e->rec += p.rec;
    e->kl += p.kl;
    return 0;
}

/* Mean -ELBO per image over ds, and its two terms; no recording. */
static int evaluate(tg_ctx *ctx, const gen_vae *m, const tg_dataset *ds, double *nelbo, double *rec, double *kl) {
    vae_eval e = {ctx, m, ds, 0, 0};
    int rc = ex_eval_batches(ctx, 0, ds->n, 500, vae_eval_batch, &e);
    double n = ds->n > 0 ? (double)ds->n : 1;
    *rec = e.rec / n;
    *kl = e.kl / n;
    *nelbo = *rec + *kl;
    return rc;
}

/* σ(logits) into dst (numel floats). */
static void sigmoid_to(const tg_tensor *logits, float *dst) {
    const float *p = logits->data;
    for (int64_t i = 0; i < logits->numel; i++) dst[i] = 1.0f / (1.0f + expf(-p[i]));
}

static tg_status write_samples(tg_ctx *ctx, const gen_vae *m, const tg_dataset *ds, const char *path) {
    int64_t n = GRID * GRID;
    float *img = malloc((size_t)(n * m->D) * sizeof *img);
    if (!img) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    tg_no_grad_begin(ctx);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *lg = tape ? gen_vae_decode(m, gen_noise(ctx, TG_F32, n, m->Z)) : NULL;
    tg_status st = lg ? TG_OK : TG_EINVAL;
    if (lg) {
        sigmoid_to(lg, img);
        st = tg_png_write_grid(ctx, path, img, (int)n, (int)ds->rows, (int)ds->cols, GRID);
    }
    if (tape) tg_tape_end(tape);
    tg_no_grad_end(ctx);
    free(img);
    return st;
}

static tg_status write_recon(tg_ctx *ctx, const gen_vae *m, const tg_dataset *ds, const char *path) {
    int64_t n = GRID * GRID / 2, D = m->D, idx[GRID * GRID / 2];
    if (ds->n < n) n = ds->n;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    int rows = (int)((n + GRID - 1) / GRID);
    float *grid = calloc((size_t)(2 * rows * GRID * D), sizeof *grid), *rec = malloc((size_t)(n * D) * sizeof *rec);
    if (!grid || !rec) {
        free(grid);
        free(rec);
        return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    }
    tg_no_grad_begin(ctx);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tape ? batch_of(ctx, ds, idx, n) : NULL;
    tg_tensor *mu = x ? tg_dense_forward(&m->mu, tg_relu(tg_dense_forward(&m->enc, x))) : NULL;
    tg_tensor *lg = mu ? gen_vae_decode(m, mu) : NULL;
    tg_status st = lg ? TG_OK : TG_EINVAL;
    if (lg) {
        sigmoid_to(lg, rec);
        for (int64_t i = 0; i < n; i++) {
            int64_t row = i / GRID, col = i % GRID;
            memcpy(grid + (2 * row * GRID + col) * D, (float *)x->data + i * D, (size_t)D * sizeof(float));
            memcpy(grid + ((2 * row + 1) * GRID + col) * D, rec + i * D, (size_t)D * sizeof(float));
        }
        st = tg_png_write_grid(ctx, path, grid, 2 * rows * GRID, (int)ds->rows, (int)ds->cols, GRID);
    }
    if (tape) tg_tape_end(tape);
    tg_no_grad_end(ctx);
    free(grid);
    free(rec);
    return st;
}

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.data = tg_default_data_dir(), .optim = "adam", .hidden = 400, .latent = 20, .epochs = 10,
                .batch = 128, .lr = 1e-3, .seed = 42, .samples = "vae_samples.png", .recon = "vae_recon.png"};
    ex_flag flags[] = {
        ex_flag_data(&o->data),
        ex_flag_int("hidden", &o->hidden, "hidden units of encoder and decoder", 1, 100000),
        ex_flag_int("latent", &o->latent, "dimension of z", 1, 10000),
        ex_flag_int("epochs", &o->epochs, "passes over the training set", 1, 100000),
        EX_IMAGE_TRAIN_FLAGS(o, "seed of initialisation, shuffling and noise"),
        ex_flag_file("samples", &o->samples, "FILE.png", "write 64 samples from the prior here (none: do not)"),
        ex_flag_file("recon", &o->recon, "FILE.png", "write test images and their reconstructions here (none: do not)"),
    };
    int n = EX_NFLAGS(flags), rc = ex_parse(argc, argv, PROG, SUMMARY, flags, n);
    if (rc >= 0) return rc;
    char msg[600];
    if (ex_check_dir(o->data, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--data: %s (use --data DIR to point at an MNIST-layout directory)", msg);
    if (!strcmp(o->samples, "none")) o->samples = NULL;
    if (!strcmp(o->recon, "none")) o->recon = NULL;
    if (o->samples && ex_check_writable(o->samples, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--samples: %s", msg);
    if (o->recon && ex_check_writable(o->recon, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--recon: %s", msg);
    return -1;
}

/* ex_image_run */
static int run(const void *op, tg_ctx *ctx, const tg_dataset *train, const tg_dataset *test, ex_result *res) {
    const opts *o = op;
    int64_t D = train->rows * train->cols, n = train->n, B = o->batch;
    gen_vae m;
    if (gen_vae_init(&m, ctx, "vae", D, o->hidden, o->latent, TG_F32) != TG_OK)
        return ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
    tg_optim_config oc = tg_optim_defaults((tg_optim_kind)tg_optim_kind_parse(o->optim));
    oc.lr = o->lr;
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int rc = EX_OK;
    if (!opt || !perm) {
        rc = ex_runtime_error(PROG, "setting up: %s", opt ? "out of memory" : tg_last_error(ctx));
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    printf("vae %lld-%d-(%d,%d) / %d-%d-%lld, %s lr %g, batch %lld, %lld training images, %d threads\n",
           (long long)D, o->hidden, o->latent, o->latent, o->latent, o->hidden, (long long)D, o->optim, o->lr,
           (long long)B, (long long)n, tg_ctx_threads(ctx));
    int64_t nb = (n + B - 1) / B;
    ex_progress pr;
    ex_progress_begin(&pr, o->epochs, nb);
    double loss0 = NAN; /* the first loss: ex_diverged's reference */
    double t_start = ex_now(), nelbo = NAN, rec = NAN, kl = NAN;
    for (int ep = 1; ep <= o->epochs; ep++) {
        double t0 = ex_epoch_begin(&pr, ctx, ep, perm, n);
        for (int64_t bi = 0; bi < nb; bi++) {
            int64_t b0 = bi * B, mb = n - b0 < B ? n - b0 : B;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *x = tape ? batch_of(ctx, train, perm + b0, mb) : NULL;
            tg_tensor *loss = x ? gen_vae_loss(&m, x, gen_noise(ctx, TG_F32, mb, m.Z), NULL) : NULL;
            double lv;
            tg_status st = ex_step_end(opt, tape, loss, loss ? tg_backward(loss) : TG_EINVAL, &lv);
            if (st != TG_OK) {
                rc = ex_step_error(PROG, ctx, st, ep, bi);
                goto done;
            }
            if (ex_diverged(&loss0, lv)) {
                rc = ex_runtime_error(PROG, "training diverged at epoch %d (loss %g, first loss %g); try a smaller --lr",
                                      ep, lv, loss0);
                goto done;
            }
            ex_progress_batch(&pr, bi, mb, lv);
        }
        double tr = ex_progress_loss(&pr), t_ep = ex_now() - t0;
        if (evaluate(ctx, &m, test, &nelbo, &rec, &kl) != 0) {
            rc = ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        ex_progress_epoch_end(&pr, "epoch %3d  train -elbo %.2f  test -elbo %.2f (rec %.2f + kl %.2f)  %.1f s", ep, tr,
                              nelbo, rec, kl, t_ep);
    }
    printf("test ELBO %.2f nats per image (reconstruction %.2f, KL %.2f)\n", -nelbo, rec, kl);
    if (o->samples) {
        if (write_samples(ctx, &m, test, o->samples) != TG_OK) {
            rc = ex_runtime_error(PROG, "--samples: %s", tg_last_error(ctx));
            goto done;
        }
        printf("wrote %s (64 samples from the prior)\n", o->samples);
    }
    if (o->recon) {
        if (write_recon(ctx, &m, test, o->recon) != TG_OK) {
            rc = ex_runtime_error(PROG, "--recon: %s", tg_last_error(ctx));
            goto done;
        }
        printf("wrote %s (rows of test images, each followed by its reconstructions)\n", o->recon);
    }
    ex_result_add(res, "test_elbo", "%.2f", -nelbo);
    ex_result_add(res, "rec", "%.2f", rec);
    ex_result_add(res, "kl", "%.2f", kl);
    ex_result_add(res, "seconds", "%.2f", ex_now() - t_start);
done:
    free(perm);
    tg_optim_free(opt);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    return rc >= 0 ? rc : ex_image_main(PROG, o.data, o.limit, o.seed, o.threads, run, &o);
}
