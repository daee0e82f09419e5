/* test_generative.c: the pieces of the unsupervised and generative examples.
 *  - kl_normal and l1_penalty: values against plain C, f64 gradient checks,
 *    errors on mismatched input;
 *  - model gradchecks (f64, central differences) of the very code the
 *    examples train (examples/gen.c): one autoencoder step with the sparse
 *    penalty (whole stack and a greedy layer), one VAE step with ε held fixed,
 *    and the GAN's D and G losses (minimax and non-saturating);
 *  - GAN group isolation: a D step leaves G's gradients exactly zero (the
 *    detached path) and G's parameters bitwise unchanged; a G step leaves D's
 *    parameters bitwise unchanged, while each step does move its own player;
 *  - the PNG grid writer: signature, IHDR dimensions, and every pixel read
 *    back with libpng; bad arguments and unwritable paths are errors. */
#include "gen.h"
#include "graph_internal.h"
#include "testlib.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <unistd.h>

static tg_tensor *leaf(tg_ctx *ctx, int rank, const int64_t *shape, double lo, double hi) {
    tg_tensor *t = tg_tensor_new(ctx, TG_F64, rank, shape);
    for (int64_t i = 0; i < t->numel; i++) tg_set(t, i, lo + (hi - lo) * tg_rng_uniform(ctx));
    return t;
}

static void fill_uniform(tg_tensor *t, double lo, double hi) {
    for (int64_t i = 0; i < t->numel; i++) tg_set(t, i, lo + (hi - lo) * tg_rng_uniform(t->ctx));
}

/* ---- composed losses ---- */

static tg_tensor *kl_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx, (void)n;
    return tg_kl_normal(in[0], in[1], *(tg_reduction *)u);
}
static tg_tensor *l1_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx, (void)n;
    return tg_l1_penalty(in[0], *(tg_reduction *)u);
}

static void losses(tg_ctx *ctx) {
    int64_t sh[2] = {3, 4};
    tg_tensor *mu = leaf(ctx, 2, sh, -1.5, 1.5), *lv = leaf(ctx, 2, sh, -2, 1.5);
    tg_tensor *x = leaf(ctx, 2, sh, -2, 2);
    for (int64_t i = 0; i < x->numel; i++) /* keep off the kink of |x| */
        if (fabs(tg_get(x, i)) < 0.05) tg_set(x, i, 0.3);
    double kl = 0, l1 = 0;
    for (int64_t i = 0; i < mu->numel; i++) {
        double m = tg_get(mu, i), v = tg_get(lv, i);
        kl += -0.5 * (1 + v - m * m - exp(v));
        l1 += fabs(tg_get(x, i));
    }
    for (int r = TG_MEAN; r <= TG_SUM; r++) {
        tg_reduction red = (tg_reduction)r;
        double k = r == TG_MEAN ? 1.0 / 12 : 1.0;
        tg_tape *tape = tg_tape_begin(ctx);
        double got = tg_item(tg_kl_normal(mu, lv, red)), got1 = tg_item(tg_l1_penalty(x, red));
        tg_tape_end(tape);
        CHECK(fabs(got - k * kl) <= 1e-12 * fabs(kl), "kl_normal (%s) = %.15g, plain C %.15g",
              r == TG_MEAN ? "mean" : "sum", got, k * kl);
        CHECK(fabs(got1 - k * l1) <= 1e-12 * l1, "l1_penalty = %.15g, plain C %.15g", got1, k * l1);
        tg_tensor *in[2] = {mu, lv};
        tg_check_report rep;
        tg_status st = tg_gradcheck(ctx, kl_fn, in, 2, &red, NULL, &rep);
        CHECK(st == TG_OK, "kl_normal gradcheck: %s", tg_last_error(ctx));
        st = tg_gradcheck(ctx, l1_fn, &x, 1, &red, NULL, &rep);
        CHECK(st == TG_OK, "l1_penalty gradcheck: %s", tg_last_error(ctx));
    }
    /* KL is 0 exactly at the prior */
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *z = tg_tensor_temp(ctx, TG_F64, 2, sh);
    CHECK(tg_item(tg_kl_normal(z, z, TG_SUM)) == 0, "kl_normal(0, 0) must be 0");
    /* errors name the helper and the shapes */
    int64_t sh2[2] = {4, 3};
    tg_tensor *w = tg_tensor_temp(ctx, TG_F64, 2, sh2);
    tg_clear_error(ctx);
    CHECK(!tg_kl_normal(mu, w, TG_SUM) && strstr(tg_last_error(ctx), "kl_normal") &&
              strstr(tg_last_error(ctx), "[3,4]") && strstr(tg_last_error(ctx), "[4,3]"),
          "kl_normal with mismatched shapes: '%s'", tg_last_error(ctx));
    tg_tensor *f = tg_tensor_temp(ctx, TG_F32, 2, sh);
    CHECK(!tg_kl_normal(mu, f, TG_SUM) && tg_last_status(ctx) == TG_EDTYPE, "kl_normal with mixed dtypes: '%s'",
          tg_last_error(ctx));
    CHECK(!tg_l1_penalty(x, (tg_reduction)7) && strstr(tg_last_error(ctx), "l1_penalty"), "bad reduction: '%s'",
          tg_last_error(ctx));
    CHECK(!tg_l1_penalty(NULL, TG_SUM) && !tg_kl_normal(NULL, lv, TG_SUM), "NULL input must give NULL");
    tg_tape_end(tape);
    tg_tensor_free(mu);
    tg_tensor_free(lv);
    tg_tensor_free(x);
}

/* ---- autoencoder ---- */

typedef struct ae_case {
    const gen_ae *m;
    tg_tensor *x;
    int lo, hi;
    double lambda;
} ae_case;

static tg_tensor *ae_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx, (void)in, (void)n;
    ae_case *c = u;
    return gen_ae_loss(c->m, c->x, c->lo, c->hi, c->lambda, NULL, NULL);
}

static void autoencoder(tg_ctx *ctx) {
    int acts[2] = {GEN_TANH, GEN_RELU};
    for (int a = 0; a < 2; a++) {
        char name[16];
        snprintf(name, sizeof name, "ae%d", a);
        int64_t sizes[3] = {7, 5, 3};
        gen_ae m;
        CHECK(gen_ae_init(&m, ctx, name, 3, sizes, acts[a], TG_F64) == TG_OK, "gen_ae_init: %s", tg_last_error(ctx));
        int64_t xs[2] = {4, 7}, cs[2] = {4, 5};
        tg_tensor *x = leaf(ctx, 2, xs, 0, 1), *c1 = leaf(ctx, 2, cs, 0, 1);
        tg_tensor *p[8];
        int np = gen_ae_layer_params(&m, 0, p);
        np += gen_ae_layer_params(&m, 1, p + np);
        for (int i = 0; i < np; i++) /* nonzero biases keep ReLU inputs off their kink at 0 */
            if (p[i]->rank == 1) fill_uniform(p[i], 0.05, 0.3);
        /* whole stack, sparse */
        ae_case c = {&m, x, 0, 2, 0.05};
        tg_check_report rep;
        tg_status st = tg_gradcheck(ctx, ae_fn, p, np, &c, NULL, &rep);
        CHECK(st == TG_OK, "autoencoder step (%s, sparse) gradcheck: %s", name, tg_last_error(ctx));
        /* the penalty is really in the loss: E(λ) - E(0) = λ/B Σ|c| */
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *code = NULL;
        double e1 = tg_item(gen_ae_loss(&m, x, 0, 2, 0.05, NULL, &code));
        double e0 = tg_item(gen_ae_loss(&m, x, 0, 2, 0, NULL, NULL));
        double l1 = 0;
        for (int64_t i = 0; i < code->numel; i++) l1 += fabs(tg_get(code, i));
        CHECK(fabs(e1 - e0 - 0.05 / 4 * l1) <= 1e-12, "sparse term %.15g, expected %.15g", e1 - e0, 0.05 / 4 * l1);
        tg_tape_end(tape);
        /* greedy pretraining of layer 2 on a given level-1 code: only its own 4 params */
        ae_case g = {&m, c1, 1, 2, 0.05};
        st = tg_gradcheck(ctx, ae_fn, p + 4, 4, &g, NULL, &rep);
        CHECK(st == TG_OK, "greedy layer-2 step (%s) gradcheck: %s", name, tg_last_error(ctx));
        tg_tensor_free(x);
        tg_tensor_free(c1);
    }
}

/* ---- VAE ---- */

typedef struct vae_case {
    const gen_vae *m;
    tg_tensor *x, *eps;
} vae_case;

static tg_tensor *vae_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx, (void)in, (void)n;
    vae_case *c = u;
    return gen_vae_loss(c->m, c->x, c->eps, NULL);
}

static void vae(tg_ctx *ctx) {
    gen_vae m;
    CHECK(gen_vae_init(&m, ctx, "vae", 6, 5, 3, TG_F64) == TG_OK, "gen_vae_init: %s", tg_last_error(ctx));
    tg_tensor *p[10];
    int np = gen_vae_params(&m, p);
    for (int i = 0; i < np; i++)
        if (p[i]->rank == 1) fill_uniform(p[i], -0.3, 0.3); /* nonzero biases */
    int64_t xs[2] = {4, 6}, es[2] = {4, 3};
    tg_tensor *x = leaf(ctx, 2, xs, 0, 1), *eps = leaf(ctx, 2, es, -2, 2); /* ε fixed: a constant input */
    vae_case c = {&m, x, eps};
    tg_check_report rep;
    tg_status st = tg_gradcheck(ctx, vae_fn, p, np, &c, NULL, &rep);
    CHECK(st == TG_OK, "VAE step gradcheck: %s", tg_last_error(ctx));
    /* the loss is (Σ bce + KL)/B, and both parts agree with plain C */
    tg_tape *tape = tg_tape_begin(ctx);
    gen_vae_parts parts;
    double loss = tg_item(gen_vae_loss(&m, x, eps, &parts));
    double rec = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double l = tg_get(parts.logits, i), t = tg_get(x, i);
        rec += fmax(l, 0) - l * t + log1p(exp(-fabs(l)));
    }
    CHECK(fabs(loss - (parts.rec + parts.kl) / 4) <= 1e-12 * fabs(loss), "loss %.15g != (rec + kl)/B", loss);
    CHECK(fabs(rec - parts.rec) <= 1e-12 * rec, "reconstruction %.15g, plain C %.15g", parts.rec, rec);
    CHECK(parts.kl > 0, "KL %.6g must be positive here", parts.kl);
    tg_tape_end(tape);
    tg_tensor_free(x);
    tg_tensor_free(eps);
}

/* ---- GAN ---- */

typedef struct gan_case {
    gen_gan *m;
    tg_tensor *x, *z;
    int which; /* 0: L_D, 1: L_G */
} gan_case;

static tg_tensor *gan_fn(tg_ctx *ctx, tg_tensor **in, int n, void *u) {
    (void)ctx, (void)in, (void)n;
    gan_case *c = u;
    return c->which ? gen_gan_g_loss(c->m, c->z) : gen_gan_d_loss(c->m, c->x, c->z);
}

static void snapshot(tg_tensor **p, int n, double *out) {
    for (int i = 0, o = 0; i < n; i++)
        for (int64_t j = 0; j < p[i]->numel; j++) out[o++] = tg_get(p[i], j);
}

/* 1 when every value equals the snapshot bit for bit. */
static int same(tg_tensor **p, int n, const double *snap) {
    for (int i = 0, o = 0; i < n; i++)
        for (int64_t j = 0; j < p[i]->numel; j++)
            if (memcmp(&((double *)p[i]->data)[j], &snap[o++], sizeof(double))) return 0;
    return 1;
}

/* Number of parameters among p[0..n) with an all-zero gradient. */
static int zero_grads(tg_tensor **p, int n) {
    int z = 0;
    for (int i = 0; i < n; i++) {
        int all = 1;
        for (int64_t j = 0; j < p[i]->numel; j++) all &= tg_grad_get(p[i], j) == 0;
        z += all;
    }
    return z;
}

static void gan(tg_ctx *ctx) {
    tg_clear_error(ctx);
    gen_gan m;
    memset(&m, 0, sizeof m);
    m.Z = 3;
    m.X = 4;
    int64_t gs[3] = {3, 6, 4}, ds[3] = {4, 6, 1};
    CHECK(gen_mlp_init(&m.G, ctx, "G", 3, gs, GEN_RELU, GEN_SIGMOID, TG_F64) == TG_OK &&
              gen_mlp_init(&m.D, ctx, "D", 3, ds, GEN_LEAKY, GEN_IDENT, TG_F64) == TG_OK,
          "gan init: %s", tg_last_error(ctx));
    tg_tensor *pg[4], *pd[4], *all[8];
    int ng = gen_mlp_params(&m.G, pg), nd = gen_mlp_params(&m.D, pd);
    for (int i = 0; i < 4; i++) {
        if (pg[i]->rank == 1) fill_uniform(pg[i], 0.05, 0.3);
        if (pd[i]->rank == 1) fill_uniform(pd[i], -0.3, 0.3);
        all[i] = pg[i];
        all[4 + i] = pd[i];
    }
    tg_optim_config oc = tg_optim_defaults(TG_OPT_MOMENTUM);
    oc.lr = 0.1;
    m.opt_g = tg_optim_new(ctx, &oc, pg, ng);
    m.opt_d = tg_optim_new(ctx, &oc, pd, nd);
    CHECK(m.opt_g && m.opt_d, "per-group optimizers: %s", tg_last_error(ctx));
    int64_t xs[2] = {5, 4}, zs[2] = {5, 3};
    tg_tensor *x = leaf(ctx, 2, xs, 0, 1), *z = leaf(ctx, 2, zs, -2, 2);

    /* gradchecks: L_D in D's parameters; L_G (both forms) in G's and D's */
    tg_check_report rep;
    gan_case c = {&m, x, z, 0};
    CHECK(tg_gradcheck(ctx, gan_fn, pd, nd, &c, NULL, &rep) == TG_OK, "GAN D loss gradcheck: %s",
          tg_last_error(ctx));
    for (m.nonsat = 0; m.nonsat <= 1; m.nonsat++) {
        gan_case g = {&m, x, z, 1};
        CHECK(tg_gradcheck(ctx, gan_fn, all, 8, &g, NULL, &rep) == TG_OK, "GAN G loss (%s) gradcheck: %s",
              m.nonsat ? "nonsat" : "minimax", tg_last_error(ctx));
    }
    /* minimax and nonsat are the logs they claim to be */
    tg_tape *tape = tg_tape_begin(ctx);
    tg_no_grad_begin(ctx);
    tg_tensor *lg = gen_mlp_forward(&m.D, gen_mlp_forward(&m.G, z));
    double mm = 0, ns = 0;
    for (int b = 0; b < 5; b++) {
        double d = 1 / (1 + exp(-tg_get(lg, b)));
        mm += log(1 - d) / 5;
        ns += -log(d) / 5;
    }
    m.nonsat = 0;
    double got_mm = tg_item(gen_gan_g_loss(&m, z));
    m.nonsat = 1;
    double got_ns = tg_item(gen_gan_g_loss(&m, z));
    tg_no_grad_end(ctx);
    tg_tape_end(tape);
    CHECK(fabs(got_mm - mm) <= 1e-12 && fabs(got_ns - ns) <= 1e-12,
          "G losses: minimax %.15g (want %.15g), nonsat %.15g (want %.15g)", got_mm, mm, got_ns, ns);

    /* D step: G untouched, its gradient exactly zero; D moves */
    double snap_g[64], snap_d[64];
    tg_zero_grad(ctx);
    snapshot(pg, ng, snap_g);
    snapshot(pd, nd, snap_d);
    tape = tg_tape_begin(ctx);
    double l;
    CHECK(gen_gan_d_step(&m, x, z, &l) == TG_OK, "D step: %s", tg_last_error(ctx));
    tg_tape_end(tape);
    CHECK(zero_grads(pg, ng) == ng, "D step: %d of %d G parameters got a gradient through the detached path",
          ng - zero_grads(pg, ng), ng);
    CHECK(zero_grads(pd, nd) == 0, "D step: %d of %d D parameters got no gradient", zero_grads(pd, nd), nd);
    CHECK(same(pg, ng, snap_g), "D step changed G's parameters");
    CHECK(!same(pd, nd, snap_d), "D step did not change D's parameters");

    /* G step: D untouched (its grads may fill, its optimizer does not step); G moves */
    snapshot(pg, ng, snap_g);
    snapshot(pd, nd, snap_d);
    tape = tg_tape_begin(ctx);
    CHECK(gen_gan_g_step(&m, z, &l) == TG_OK, "G step: %s", tg_last_error(ctx));
    tg_tape_end(tape);
    CHECK(zero_grads(pg, ng) == 0, "G step: %d of %d G parameters got no gradient", zero_grads(pg, ng), ng);
    CHECK(same(pd, nd, snap_d), "G step changed D's parameters");
    CHECK(!same(pg, ng, snap_g), "G step did not change G's parameters");

    /* the G step's backward did reach D (it must pass through D) ... */
    CHECK(zero_grads(pd, nd) == 0, "G step: the gradient did not reach D's parameters");
    /* ... and the next D step starts from zeroed D grads: its gradient equals
     * that of L_D alone at the same parameters */
    snapshot(pd, nd, snap_d);
    tape = tg_tape_begin(ctx);
    CHECK(gen_gan_d_step(&m, x, z, &l) == TG_OK, "second D step: %s", tg_last_error(ctx));
    tg_tape_end(tape);
    double grad_step[64];
    for (int i = 0, o = 0; i < nd; i++)
        for (int64_t j = 0; j < pd[i]->numel; j++) grad_step[o++] = tg_grad_get(pd[i], j);
    for (int i = 0, o = 0; i < nd; i++) /* back to the parameters the step saw */
        for (int64_t j = 0; j < pd[i]->numel; j++) tg_set(pd[i], j, snap_d[o++]);
    tg_zero_grad(ctx);
    tape = tg_tape_begin(ctx);
    tg_status st = tg_backward(gen_gan_d_loss(&m, x, z));
    tg_tape_end(tape);
    int leak = st != TG_OK;
    for (int i = 0, o = 0; i < nd; i++)
        for (int64_t j = 0; j < pd[i]->numel; j++) leak |= grad_step[o++] != tg_grad_get(pd[i], j);
    CHECK(!leak, "the D step after a G step used leftover gradients (%s)", tg_last_error(ctx));
    tg_optim_free(m.opt_g);
    tg_optim_free(m.opt_d);
    tg_tensor_free(x);
    tg_tensor_free(z);
}

/* ---- PNG ---- */

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static void png(tg_ctx *ctx) {
    char dir[] = "/tmp/tg_png_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    enum { N = 5, R = 3, C = 4, GC = 2 };
    float img[N * R * C];
    for (int i = 0; i < N * R * C; i++) img[i] = (float)((i * 37) % 101) / 100.0f;
    img[0] = NAN;
    img[1] = -0.5f;
    img[2] = 7.0f;
    CHECK(tg_png_write_grid(ctx, path, img, N, R, C, GC) == TG_OK, "png write: %s", tg_last_error(ctx));
    int W = GC * (C + TG_PNG_GAP) + TG_PNG_GAP, H = 3 * (R + TG_PNG_GAP) + TG_PNG_GAP;
    unsigned char head[33] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(head, 1, sizeof head, fp) : 0;
    if (fp) fclose(fp);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(got == sizeof head && !memcmp(head, sig, 8), "png: bad signature");
    CHECK(!memcmp(head + 12, "IHDR", 4) && be32(head + 16) == (unsigned)W && be32(head + 20) == (unsigned)H &&
              head[24] == 8 && head[25] == 0,
          "png: IHDR says %ux%u depth %d colour type %d, want %dx%d 8-bit grey", be32(head + 16), be32(head + 20),
          head[24], head[25], W, H);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    int ok = png_image_begin_read_from_file(&im, path);
    CHECK(ok && im.width == (unsigned)W && im.height == (unsigned)H, "libpng read: %s", im.message);
    if (ok) {
        im.format = PNG_FORMAT_GRAY;
        unsigned char *pix = malloc(PNG_IMAGE_SIZE(im));
        ok = pix && png_image_finish_read(&im, NULL, pix, 0, NULL);
        CHECK(ok, "libpng decode: %s", im.message);
        int bad = 0;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; x < W; x++) {
                int want = 128, ty = y - TG_PNG_GAP, tx = x - TG_PNG_GAP;
                int gy = ty / (R + TG_PNG_GAP), gx = tx / (C + TG_PNG_GAP);
                int ry = ty % (R + TG_PNG_GAP), rx = tx % (C + TG_PNG_GAP);
                int k = gy * GC + gx;
                if (ty >= 0 && tx >= 0 && ry < R && rx < C && k < N) {
                    float v = img[(k * R + ry) * C + rx];
                    want = !(v > 0) ? 0 : v >= 1 ? 255 : (int)lrintf(v * 255);
                }
                if (pix[y * W + x] != want && bad++ < 5)
                    printf("  pixel (%d,%d) = %d, want %d\n", y, x, pix[y * W + x], want);
            }
        CHECK(ok && !bad, "png: %d pixels differ", bad);
        free(pix);
    }
    png_image_free(&im);
    /* grid_cols 0: a square-ish grid */
    CHECK(tg_png_write_grid(ctx, path, img, N, R, C, 0) == TG_OK, "png grid_cols 0: %s", tg_last_error(ctx));
    fp = fopen(path, "rb");
    got = fp ? fread(head, 1, sizeof head, fp) : 0;
    if (fp) fclose(fp);
    CHECK(got == sizeof head && be32(head + 16) == 3u * (C + TG_PNG_GAP) + TG_PNG_GAP &&
              be32(head + 20) == 2u * (R + TG_PNG_GAP) + TG_PNG_GAP,
          "png grid_cols 0: %ux%u", be32(head + 16), be32(head + 20));
    remove(path);
    /* errors */
    CHECK(tg_png_write_grid(ctx, path, img, 0, R, C, 1) == TG_EINVAL && strstr(tg_last_error(ctx), "png"),
          "png n = 0: '%s'", tg_last_error(ctx));
    CHECK(tg_png_write_grid(ctx, path, NULL, N, R, C, 1) == TG_EINVAL, "png NULL images");
    CHECK(tg_png_write_grid(ctx, path, img, N, R, C, -1) == TG_EINVAL, "png grid_cols -1");
    CHECK(tg_png_write_grid(ctx, path, img, 1, 40000, 1, 1) == TG_EINVAL, "png huge tile");
    CHECK(tg_png_write_grid(NULL, path, img, 0, R, C, 1) == TG_EINVAL, "png without ctx");
    const char *bad = "/nonexistent-dir/x.png";
    CHECK(tg_png_write_grid(ctx, bad, img, N, R, C, 1) == TG_EIO && strstr(tg_last_error(ctx), bad),
          "png unwritable path: '%s'", tg_last_error(ctx));
    CHECK(access(path, F_OK) != 0, "png: a file was left at %s", path);
    rmdir(dir);
}

int main(void) {
    tg_config cfg = tg_config_default();
    cfg.seed = 7;
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return 1;
    losses(ctx);
    autoencoder(ctx);
    vae(ctx);
    gan(ctx);
    png(ctx);
    tg_ctx_free(ctx);
    return tl_summary();
}
