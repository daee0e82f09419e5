/* gan: a generative adversarial net trained by Goodfellow et al.'s Algorithm
 * 1, on Fashion-MNIST (or any MNIST-layout set) or on a 2-d toy ring.
 *
 *   gan                                    # Fashion-MNIST, MLP G and D, Adam
 *   gan --data ring                        # 8 Gaussians on a circle, mode count
 *   gan --data ring --optim momentum --gen-loss minimax --k 2
 *
 * Algorithm 1, for each generator step:
 *   k times: draw m noise vectors z ~ N(0, I) and m training examples x,
 *            and update D by descending
 *              L_D = -(1/m) Σ [log D(x) + log(1 - D(G(z)))]
 *   once:    draw m noise vectors and update G by descending
 *              minimax: L_G =  (1/m) Σ log(1 - D(G(z)))   (the paper's)
 *              nonsat:  L_G = -(1/m) Σ log D(G(z))        (its practical advice)
 * D outputs a logit and every log above is a bce_with_logits term, so no
 * log of a saturated sigmoid is ever taken. G and D have their own optimizer
 * over their own parameters: the D step detaches G(z), so G gets no
 * gradient; the G step's backward reaches D's parameters too (it must pass
 * through D), but only G's optimizer steps (test_generative checks both).
 * The noise is drawn from the context's seeded RNG and enters the graph as a
 * constant input. One epoch makes every training example pass through a D
 * step once, so it has n/(m·k) generator steps.
 *
 * --data ring: a mixture of 8 Gaussians (σ 0.1) centred on a circle of
 * radius 2; 50,000 points drawn once from the seed form the training set.
 * After training, 10,000 generated points are sorted to the modes: a point
 * counts for a mode when it lies within 3σ of its centre, a mode is covered
 * when it gets at least 5% of the points, and hq is the fraction of points
 * within 3σ of some mode. --svg plots real against generated points.
 *
 * Fashion-MNIST: --png writes a grid of 64 samples at the end and every
 * --png-every epochs (FILE_epochN.png). Sample quality is measured with a
 * small classifier ("judge", an MLP 784-256-10 trained here on the real
 * training set for 2 epochs) applied to 10,000 generated images. Mode
 * coverage is the ring's rule with classes as modes: a class is covered when
 * at least 5% of the samples are put in it (a perfect generator gives 10%
 * each). class_score is exp(E_x KL(p(y|x) ‖ p(y))), the Inception-score
 * formula with our judge: it lies in [1, 10], is high when each sample is
 * confidently one class and the classes are evenly used, and drops both for
 * blurry, ambiguous samples and for collapse onto few classes. It is
 * comparable only between runs that share this judge, not with published
 * Inception scores.
 *
 * The same judge scores the real test images (real_score), which shows
 * where the scale tops out for this judge.
 *
 * Result line: modes_covered=… d_loss=… g_loss=… (means over the last epoch
 * of the losses as defined above), then hq (ring) or class_score,
 * real_score and judge_acc (images).
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "gan"
/* --help's first lines */
static const char SUMMARY[] = "Train a generative adversarial net (Goodfellow et al. 2014, Algorithm 1) on Fashion-MNIST\n"
                             "(or any MNIST-layout data set) or, with --data ring, on 8 Gaussians around a circle.";

#define RING_MODES 8
#define RING_RADIUS 2.0
#define RING_SIGMA 0.1
#define RING_POINTS 50000
#define N_EVAL 10000
#define N_CLASSES 10
#define GRID 8

typedef struct opts {
    const char *data, *optim, *gen_loss, *png, *svg;
    ex_intlist g_hidden, d_hidden;
    int epochs, batch, k, noise, seed, threads, limit, png_every, ring;
    double lr, momentum, beta1;
} opts;

/* The training set: images (ds) or ring points (pts, n×2). */
typedef struct data {
    tg_dataset ds;
    float *pts;
    int64_t n, dim;
} data;

/* x (B, dim) = examples idx[0..B) on the active tape. */
static tg_tensor *batch_of(tg_ctx *ctx, const data *d, const int64_t *idx, int64_t B) {
    int64_t shape[2] = {B, d->dim};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, shape);
    if (!x) return NULL;
    if (!d->pts) return tg_dataset_batch(&d->ds, idx, B, x, NULL) == TG_OK ? x : NULL;
    float *p = x->data;
    for (int64_t b = 0; b < B; b++) memcpy(p + 2 * b, d->pts + 2 * idx[b], 2 * sizeof(float));
    return x;
}

static void ring_centre(int k, double *cx, double *cy) {
    double a = 2 * M_PI * k / RING_MODES;
    *cx = RING_RADIUS * cos(a);
    *cy = RING_RADIUS * sin(a);
}

static int make_ring(tg_ctx *ctx, data *d, int64_t n) {
    d->pts = malloc((size_t)n * 2 * sizeof(float));
    if (!d->pts) return -1;
    d->n = n;
    d->dim = 2;
    for (int64_t i = 0; i < n; i++) {
        double cx, cy;
        ring_centre((int)(tg_rng_u64(ctx) % RING_MODES), &cx, &cy);
        d->pts[2 * i] = (float)(cx + RING_SIGMA * tg_rng_normal(ctx));
        d->pts[2 * i + 1] = (float)(cy + RING_SIGMA * tg_rng_normal(ctx));
    }
    return 0;
}

typedef struct sampler {
    tg_ctx *ctx;
    const gen_gan *m;
    float *out;
} sampler;

/* ex_batch_fn: B samples of G into out from sample done on. */
static int sample_batch(void *user, int64_t done, const int64_t *idx, int64_t B) {
    (void)idx;
    sampler *sp = user;
    tg_tensor *x = gen_mlp_forward(&sp->m->G, gen_noise(sp->ctx, TG_F32, B, sp->m->Z));
    if (!x) return -1;
    memcpy(sp->out + done * sp->m->X, x->data, (size_t)(B * sp->m->X) * sizeof(float));
    return 0;
}

/* n samples of G into out (n·X floats), in batches, no recording. */
static int sample(tg_ctx *ctx, const gen_gan *m, int64_t n, float *out) {
    sampler sp = {ctx, m, out};
    return ex_eval_batches(ctx, 0, n, 1000, sample_batch, &sp);
}

/* ---- ring: mode coverage and the scatter plot ---- */

static void ring_modes(const float *p, int64_t n, int *covered, double *hq, int64_t count[RING_MODES]) {
    int64_t near = 0;
    memset(count, 0, RING_MODES * sizeof *count);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < RING_MODES; k++) {
            double cx, cy;
            ring_centre(k, &cx, &cy);
            double dx = p[2 * i] - cx, dy = p[2 * i + 1] - cy;
            if (dx * dx + dy * dy <= 9 * RING_SIGMA * RING_SIGMA) {
                count[k]++;
                near++;
                break;
            }
        }
    *covered = 0;
    for (int k = 0; k < RING_MODES; k++) *covered += count[k] * 20 >= n; /* >= 5% */
    *hq = n ? (double)near / (double)n : 0;
}

static int write_svg(const char *path, const float *real, const float *fake, int64_t n, int covered, double hq) {
    FILE *fp = fopen(path, "w");
    if (!fp) return -1;
    const double S = 480, L = 3.2; /* pixels; plotted square [-L, L]² */
#define PX(v) (S / 2 + (v) * (S / 2) / L)
#define PY(v) (S / 2 - (v) * (S / 2) / L)
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\">\n", S,
            S + 30, S, S + 30);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    for (int k = 0; k < RING_MODES; k++) {
        double cx, cy;
        ring_centre(k, &cx, &cy);
        fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"3,3\"/>\n",
                PX(cx), PY(cy), 3 * RING_SIGMA * (S / 2) / L);
    }
    fprintf(fp, "<g fill=\"#1f77b4\" fill-opacity=\"0.35\">\n");
    for (int64_t i = 0; i < n; i++)
        fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\"/>\n", PX(real[2 * i]), PY(real[2 * i + 1]));
    fprintf(fp, "</g>\n<g fill=\"#d62728\" fill-opacity=\"0.35\">\n");
    for (int64_t i = 0; i < n; i++) {
        double x = fake[2 * i], y = fake[2 * i + 1];
        if (fabs(x) <= L && fabs(y) <= L) fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\"/>\n", PX(x), PY(y));
    }
    fprintf(fp, "</g>\n<text x=\"8\" y=\"%g\" font-family=\"sans-serif\" font-size=\"12\">"
                "<tspan fill=\"#1f77b4\">real</tspan> / <tspan fill=\"#d62728\">generated</tspan> "
                "(%lld each), 3σ circles; %d/8 modes covered, %.1f%% within 3σ</text>\n",
            S + 20, (long long)n, covered, 100 * hq);
    fprintf(fp, "</svg>\n");
#undef PX
#undef PY
    return fclose(fp) == 0 ? 0 : -1;
}

/* ---- images: the judge classifier ---- */

typedef struct judge_job {
    tg_ctx *ctx;
    const gen_mlp *j;
} judge_job;

/* ex_logits_fn: the judge's logits of a batch of real images. */
static tg_tensor *judge_logits(void *user, const tg_dataset *ds, const int64_t *idx, int64_t B, int32_t *labels) {
    judge_job *jj = user;
    int64_t shape[2] = {B, ds->rows * ds->cols};
    tg_tensor *x = tg_tensor_temp(jj->ctx, TG_F32, 2, shape);
    if (!x || tg_dataset_batch(ds, idx, B, x, labels) != TG_OK) return NULL;
    return gen_mlp_forward(jj->j, x);
}

static int train_judge(tg_ctx *ctx, gen_mlp *j, const tg_dataset *train, const tg_dataset *test, double *acc) {
    int64_t sizes[3] = {train->rows * train->cols, 256, N_CLASSES}, D = sizes[0], B = 100, n = train->n;
    if (gen_mlp_init(j, ctx, "judge", 3, sizes, GEN_RELU, GEN_IDENT, TG_F32) != TG_OK) return -1;
    tg_tensor *params[4];
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *opt = tg_optim_new(ctx, &oc, params, gen_mlp_params(j, params));
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int32_t lab[100]; /* B */
    int rc = opt && perm ? 0 : -1;
    for (int64_t i = 0; i < n && !rc; i++) perm[i] = i;
    for (int ep = 0; ep < 2 && !rc; ep++) {
        tg_shuffle(ctx, perm, n);
        for (int64_t b0 = 0; b0 < n && !rc; b0 += B) {
            int64_t m = n - b0 < B ? n - b0 : B, shape[2] = {m, D};
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F32, 2, shape) : NULL;
            tg_tensor *loss = NULL;
            if (x && tg_dataset_batch(train, perm + b0, m, x, lab) == TG_OK)
                loss = tg_cross_entropy(gen_mlp_forward(j, x), lab, TG_MEAN);
            if (!loss || tg_backward(loss) || tg_optim_step(opt)) rc = -1;
            tg_optim_zero_grad(opt);
            if (tape) tg_tape_end(tape);
        }
    }
    judge_job jj = {ctx, j};
    if (!rc) rc = ex_accuracy(ctx, judge_logits, &jj, test, 0, test->n, 1000, acc);
    free(perm);
    tg_optim_free(opt);
    return rc;
}

/* Classes as modes, and the class score, of n generated images. */
typedef struct judged {
    tg_ctx *ctx;
    const gen_mlp *j;
    const float *img;   /* (n, D) */
    int64_t n, D;
    double *p, *py;     /* p(y|x) (n, C); its mean over x (C) */
    int64_t *count;     /* samples per most likely class (C) */
} judged;

/* ex_batch_fn: the judge's class probabilities of images done..done+B. */
static int judge_batch(void *user, int64_t done, const int64_t *idx, int64_t B) {
    (void)idx;
    judged *jd = user;
    int64_t shape[2] = {B, jd->D};
    tg_tensor *x = tg_tensor_temp(jd->ctx, TG_F32, 2, shape);
    if (x) memcpy(x->data, jd->img + done * jd->D, (size_t)(B * jd->D) * sizeof(float));
    tg_tensor *pr = x ? tg_softmax(gen_mlp_forward(jd->j, x), -1) : NULL;
    if (!pr) return -1;
    for (int64_t b = 0; b < B; b++) {
        const float *q = (const float *)pr->data + b * N_CLASSES;
        int best = 0;
        for (int c = 0; c < N_CLASSES; c++) {
            jd->p[(done + b) * N_CLASSES + c] = q[c];
            jd->py[c] += q[c] / (double)jd->n;
            if (q[c] > q[best]) best = c;
        }
        jd->count[best]++;
    }
    return 0;
}

static int judge_samples(tg_ctx *ctx, const gen_mlp *j, const float *img, int64_t n, int64_t D, int *covered,
                         double *score, int64_t count[N_CLASSES]) {
    double *p = calloc((size_t)n * N_CLASSES, sizeof *p), py[N_CLASSES] = {0};
    memset(count, 0, N_CLASSES * sizeof *count);
    judged jd = {ctx, j, img, n, D, p, py, count};
    int rc = p ? ex_eval_batches(ctx, 0, n, 1000, judge_batch, &jd) : -1;
    double kl = 0;
    for (int64_t i = 0; i < n && !rc; i++)
        for (int c = 0; c < N_CLASSES; c++) {
            double q = p[i * N_CLASSES + c];
            if (q > 0 && py[c] > 0) kl += q * log(q / py[c]);
        }
    *score = n ? exp(kl / (double)n) : 1;
    *covered = 0;
    for (int c = 0; c < N_CLASSES; c++) *covered += count[c] * 20 >= n;
    free(p);
    return rc;
}

/* The same measures on the real test images, for scale. */
static int judge_real(tg_ctx *ctx, const gen_mlp *j, const tg_dataset *test, int *covered, double *score,
                      int64_t count[N_CLASSES]) {
    int64_t D = test->rows * test->cols;
    float *img = malloc((size_t)(test->n * D) * sizeof *img);
    if (!img) return -1;
    for (int64_t i = 0; i < test->n * D; i++) img[i] = (float)test->images[i] / 255.0f;
    int rc = judge_samples(ctx, j, img, test->n, D, covered, score, count);
    free(img);
    return rc;
}

/* FILE.png -> FILE_epochN.png */
static void epoch_path(char *buf, size_t len, const char *path, int ep) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = path + strlen(path);
    snprintf(buf, len, "%.*s_epoch%d%s", (int)(dot - path), path, ep, dot);
}

static int write_grid(tg_ctx *ctx, const gen_gan *m, const data *d, const char *path) {
    float *img = malloc((size_t)(GRID * GRID * m->X) * sizeof *img);
    int rc = img && sample(ctx, m, GRID * GRID, img) == 0 ? 0 : -1;
    if (!rc && tg_png_write_grid(ctx, path, img, GRID * GRID, (int)d->ds.rows, (int)d->ds.cols, GRID) != TG_OK)
        rc = -1;
    free(img);
    return rc;
}

/* ---- command line ---- */

static const char *const optim_names[] = {"adam", "momentum", "sgd", NULL};
static const char *const loss_names[] = {"nonsat", "minimax", NULL};

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.data = tg_default_data_dir(), .optim = "adam", .gen_loss = "nonsat", .k = 1, .momentum = 0.5,
                .beta1 = 0.5, .seed = 42, .png_every = 5, .epochs = 20, .lr = 2e-4, .noise = 100, .batch = 64,
                .g_hidden = {2, {256, 512}}, .d_hidden = {2, {512, 256}}, .png = "gan_samples.png",
                .svg = "gan_ring.svg"};
    ex_flag flags[] = {
        ex_flag_file("data", &o->data, "DIR|ring", "MNIST-layout directory, or \"ring\" for 8 Gaussians on a circle"),
        ex_flag_int("k", &o->k, "discriminator steps per generator step", 1, 100),
        {.name = "gen-loss", .type = EX_STRING, .target = &o->gen_loss, .choices = loss_names,
         .help = "generator loss: -log D(G(z)) (nonsat) or log(1 - D(G(z))) (minimax)"},
        {.name = "optim", .type = EX_STRING, .target = &o->optim, .choices = optim_names,
         .help = "optimizer of both players"},
        ex_flag_lr(&o->lr,
                   "learning rate; if not given: adam 2e-4 on images, 1e-3 on the ring; momentum/sgd 0.02", 1000),
        {.name = "momentum", .type = EX_DOUBLE, .target = &o->momentum, .help = "momentum of --optim momentum",
         .range = EX_LO | EX_HI, .lo = 0, .hi = 0.999999},
        {.name = "beta1", .type = EX_DOUBLE, .target = &o->beta1, .help = "Adam's beta1", .range = EX_LO | EX_HI,
         .lo = 0, .hi = 0.999999},
        ex_flag_int("noise", &o->noise, "dimension of z (2 on the ring if not given)", 1, 10000),
        {.name = "g-hidden", .type = EX_INTLIST, .target = &o->g_hidden, .metavar = "LIST",
         .help = "generator hidden sizes (128,128 on the ring if not given)",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 100000},
        {.name = "d-hidden", .type = EX_INTLIST, .target = &o->d_hidden, .metavar = "LIST",
         .help = "discriminator hidden sizes (128,128 on the ring if not given)",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 100000},
        ex_flag_int("epochs", &o->epochs, "passes of the training set through D", 1, 100000),
        ex_flag_int("batch", &o->batch,
                    "minibatch size m of noise and of data (256 on the ring if not given)", 1, 100000),
        ex_flag_min("seed", &o->seed, "seed of initialisation, data and noise", 0),
        ex_flag_threads(&o->threads),
        ex_flag_min("limit", &o->limit, "use the first N training examples only (0 = all)", 0),
        ex_flag_file("png", &o->png, "FILE.png", "images: write 64 samples here at the end (none: do not)"),
        ex_flag_min("png-every", &o->png_every, "images: also write FILE_epochN.png every N epochs (0 = never)", 0),
        ex_flag_file("svg", &o->svg, "FILE.svg", "ring: plot real and generated points here (none: do not)"),
    };
    int n = EX_NFLAGS(flags), rc = ex_parse(argc, argv, PROG, SUMMARY, flags, n);
    if (rc >= 0) return rc;
    o->ring = !strcmp(o->data, "ring");
    if (o->g_hidden.n > GEN_MAX_LAYERS - 1 || o->d_hidden.n > GEN_MAX_LAYERS - 1)
        return ex_usage_error(PROG, "--g-hidden/--d-hidden: at most %d layers", GEN_MAX_LAYERS - 1);
#define UNSET(name) (!ex_flag_find(flags, n, name)->set)
    if (o->ring && UNSET("g-hidden")) o->g_hidden = (ex_intlist){2, {128, 128}};
    if (o->ring && UNSET("d-hidden")) o->d_hidden = (ex_intlist){2, {128, 128}};
    if (o->ring && UNSET("noise")) o->noise = 2;
    if (o->ring && UNSET("batch")) o->batch = 256;
    if (UNSET("lr")) o->lr = strcmp(o->optim, "adam") ? 0.02 : o->ring ? 1e-3 : 2e-4;
#undef UNSET
    if (ex_flag_find(flags, n, "momentum")->set && strcmp(o->optim, "momentum"))
        return ex_usage_error(PROG, "--momentum needs --optim momentum");
    if (ex_flag_find(flags, n, "beta1")->set && strcmp(o->optim, "adam"))
        return ex_usage_error(PROG, "--beta1 needs --optim adam");
    char msg[600];
    if (!o->ring && ex_check_dir(o->data, msg, sizeof msg) != 0)
        return ex_usage_error(PROG, "--data: %s (give an MNIST-layout directory or \"ring\")", msg);
    if (!strcmp(o->png, "none") || o->ring) o->png = NULL;
    if (!strcmp(o->svg, "none") || !o->ring) o->svg = NULL;
    if (o->png && ex_check_writable(o->png, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--png: %s", msg);
    if (o->svg && ex_check_writable(o->svg, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--svg: %s", msg);
    return -1;
}

/* ---- training ---- */

static tg_optim *make_opt(tg_ctx *ctx, const opts *o, const gen_mlp *net) {
    tg_optim_kind kind = !strcmp(o->optim, "adam") ? TG_OPT_ADAM : TG_OPT_MOMENTUM;
    tg_optim_config oc = tg_optim_defaults(kind);
    oc.lr = o->lr;
    if (kind == TG_OPT_ADAM) oc.beta1 = o->beta1;
    else oc.momentum = strcmp(o->optim, "sgd") ? o->momentum : 0;
    tg_tensor *params[2 * GEN_MAX_LAYERS];
    return tg_optim_new(ctx, &oc, params, gen_mlp_params(net, params));
}

static int run(const opts *o, tg_ctx *ctx, data *d, const tg_dataset *test, ex_result *res) {
    gen_gan m;
    memset(&m, 0, sizeof m);
    m.Z = o->noise;
    m.X = d->dim;
    m.nonsat = !strcmp(o->gen_loss, "nonsat");
    int64_t gs[GEN_MAX_LAYERS + 1], ds[GEN_MAX_LAYERS + 1];
    gs[0] = m.Z;
    for (int i = 0; i < o->g_hidden.n; i++) gs[i + 1] = o->g_hidden.v[i];
    gs[o->g_hidden.n + 1] = m.X;
    ds[0] = m.X;
    for (int i = 0; i < o->d_hidden.n; i++) ds[i + 1] = o->d_hidden.v[i];
    ds[o->d_hidden.n + 1] = 1;
    if (gen_mlp_init(&m.G, ctx, "G", o->g_hidden.n + 2, gs, GEN_RELU, o->ring ? GEN_IDENT : GEN_SIGMOID, TG_F32) ||
        gen_mlp_init(&m.D, ctx, "D", o->d_hidden.n + 2, ds, GEN_LEAKY, GEN_IDENT, TG_F32))
        return ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
    m.opt_g = make_opt(ctx, o, &m.G);
    m.opt_d = make_opt(ctx, o, &m.D);
    int64_t n = d->n, B = o->batch;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    float *gen = malloc((size_t)(N_EVAL * m.X) * sizeof *gen);
    int rc = EX_OK;
    if (!m.opt_g || !m.opt_d || !perm || !gen) {
        rc = ex_runtime_error(PROG, "setting up: %s", tg_last_error(ctx)[0] ? tg_last_error(ctx) : "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    printf("gan on %s: G %lld", o->ring ? "the ring" : o->data, (long long)gs[0]);
    for (int i = 1; i <= o->g_hidden.n + 1; i++) printf("-%lld", (long long)gs[i]);
    printf(", D %lld", (long long)ds[0]);
    for (int i = 1; i <= o->d_hidden.n + 1; i++) printf("-%lld", (long long)ds[i]);
    printf(", %s G loss, k %d, %s lr %g, batch %lld, %lld training examples, %d threads\n", o->gen_loss, o->k,
           o->optim, o->lr, (long long)B, (long long)n, tg_ctx_threads(ctx));

    int64_t n_data_b = n / B; /* full data minibatches per epoch */
    if (n_data_b < 1) n_data_b = 1;
    int64_t g_steps = n_data_b / o->k < 1 ? 1 : n_data_b / o->k;
    ex_progress pr;
    ex_progress_begin(&pr, o->epochs, g_steps);
    double t_start = ex_now(), d_mean = NAN, g_mean = NAN, d0 = NAN, g0 = NAN; /* d0, g0: first losses */
    for (int ep = 1; ep <= o->epochs; ep++) {
        double t0 = ex_epoch_begin(&pr, ctx, ep, perm, n), d_sum = 0, g_sum = 0;
        int64_t next = 0;
        for (int64_t s = 0; s < g_steps; s++) {
            tg_status st = TG_OK;
            double d_step = 0;
            for (int j = 0; j < o->k && !st; j++) {
                int64_t mb = B <= n ? B : n;
                if (next + mb > n) {
                    tg_shuffle(ctx, perm, n);
                    next = 0;
                }
                tg_tape *tape = tg_tape_begin(ctx);
                tg_tensor *x = tape ? batch_of(ctx, d, perm + next, mb) : NULL;
                double l = NAN;
                st = x ? gen_gan_d_step(&m, x, gen_noise(ctx, TG_F32, mb, m.Z), &l) : TG_EINVAL;
                d_sum += l / o->k;
                d_step += l / o->k;
                next += mb;
                if (tape) tg_tape_end(tape);
            }
            double lg = NAN;
            if (!st) {
                tg_tape *tape = tg_tape_begin(ctx);
                st = tape ? gen_gan_g_step(&m, gen_noise(ctx, TG_F32, B, m.Z), &lg) : TG_ENOMEM;
                if (tape) tg_tape_end(tape);
            }
            g_sum += lg;
            if (st) {
                rc = ex_runtime_error(PROG, "epoch %d step %lld: %s", ep, (long long)s + 1,
                                      tg_last_error(ctx)[0] ? tg_last_error(ctx) : tg_strerror(st));
                goto done;
            }
            if (ex_diverged(&d0, d_step) || ex_diverged(&g0, lg)) {
                rc = ex_runtime_error(PROG,
                                      "training diverged at epoch %d step %lld (d_loss %g, first %g; g_loss %g, "
                                      "first %g); try a smaller --lr",
                                      ep, (long long)s + 1, d_step, d0, lg, g0);
                goto done;
            }
            ex_progress_batch(&pr, s, B, lg);
        }
        d_mean = d_sum / (double)g_steps;
        g_mean = g_sum / (double)g_steps;
        ex_progress_epoch_end(&pr, "epoch %3d  d_loss %.4f  g_loss %.4f  %.1f s", ep, d_mean, g_mean, ex_now() - t0);
        if (o->png && o->png_every && ep % o->png_every == 0 && ep != o->epochs) {
            char path[4200];
            epoch_path(path, sizeof path, o->png, ep);
            if (write_grid(ctx, &m, d, path) != 0) {
                rc = ex_runtime_error(PROG, "--png: %s", tg_last_error(ctx));
                goto done;
            }
            printf("wrote %s\n", path);
        }
    }
    double train_s = ex_now() - t_start;
    if (sample(ctx, &m, N_EVAL, gen) != 0) {
        rc = ex_runtime_error(PROG, "sampling: %s", tg_last_error(ctx));
        goto done;
    }
    int covered = 0;
    double hq = NAN, acc = NAN, score = NAN, real_score = NAN; /* hq: ring; the rest: images */
    if (o->ring) {
        int64_t count[RING_MODES];
        ring_modes(gen, N_EVAL, &covered, &hq, count);
        printf("ring: %d of %d modes hold >= 5%% of %d samples; %.1f%% of samples lie within 3 sigma of a mode\n"
               "share of samples per mode (counter-clockwise from (2, 0)):",
               covered, RING_MODES, N_EVAL, 100 * hq);
        for (int k = 0; k < RING_MODES; k++) printf(" %.1f%%", 100.0 * (double)count[k] / N_EVAL);
        printf("\n");
        if (o->svg) {
            int64_t np = n < 2000 ? n : 2000;
            if (write_svg(o->svg, d->pts, gen, np, covered, hq) != 0) {
                rc = ex_runtime_error(PROG, "--svg: cannot write '%s'", o->svg);
                goto done;
            }
            printf("wrote %s\n", o->svg);
        }
    } else {
        gen_mlp judge;
        int64_t count[N_CLASSES], real_count[N_CLASSES];
        int real_covered;
        if (train_judge(ctx, &judge, &d->ds, test, &acc) != 0 ||
            judge_samples(ctx, &judge, gen, N_EVAL, m.X, &covered, &score, count) != 0 ||
            judge_real(ctx, &judge, test, &real_covered, &real_score, real_count) != 0) {
            rc = ex_runtime_error(PROG, "judging the samples: %s", tg_last_error(ctx));
            goto done;
        }
        printf("judge (MLP 784-256-10, test accuracy %.4f): %d of %d classes hold >= 5%% of %d samples, "
               "class score %.2f (real test images: %.2f)\nshare of samples per class:", acc, covered, N_CLASSES,
               N_EVAL, score, real_score);
        for (int c = 0; c < N_CLASSES; c++) printf(" %d:%.1f%%", c, 100.0 * (double)count[c] / N_EVAL);
        printf("\n");
        if (o->png) {
            if (write_grid(ctx, &m, d, o->png) != 0) {
                rc = ex_runtime_error(PROG, "--png: %s", tg_last_error(ctx));
                goto done;
            }
            printf("wrote %s\n", o->png);
        }
    }
    ex_result_add(res, "modes_covered", "%d", covered);
    ex_result_add(res, "d_loss", "%.4f", d_mean);
    ex_result_add(res, "g_loss", "%.4f", g_mean);
    if (o->ring) {
        ex_result_add(res, "hq", "%.4f", hq);
    } else {
        ex_result_add(res, "class_score", "%.2f", score);
        ex_result_add(res, "real_score", "%.2f", real_score);
        ex_result_add(res, "judge_acc", "%.4f", acc);
    }
    ex_result_add(res, "seconds", "%.2f", train_s);
done:
    free(perm);
    free(gen);
    tg_optim_free(m.opt_g);
    tg_optim_free(m.opt_d);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    tg_ctx *ctx = ex_ctx_new(o.seed, o.threads);
    if (!ctx) return ex_runtime_error(PROG, "out of memory");
    rc = EX_OK;
    data d;
    memset(&d, 0, sizeof d);
    tg_dataset test = {0};
    if (o.ring) {
        if (make_ring(ctx, &d, o.limit > 0 && o.limit < RING_POINTS ? o.limit : RING_POINTS) != 0)
            rc = ex_runtime_error(PROG, "out of memory");
    } else if ((rc = ex_mnist_open(ctx, PROG, o.data, o.limit, &d.ds, &test)) == EX_OK) {
        d.n = d.ds.n;
        d.dim = d.ds.rows * d.ds.cols;
    }
    if (rc == EX_OK) {
        ex_result res = {0};
        rc = run(&o, ctx, &d, &test, &res);
        if (rc == EX_OK) ex_result_print(&res);
    }
    free(d.pts);
    tg_dataset_free(&d.ds);
    tg_dataset_free(&test);
    tg_ctx_free(ctx);
    return rc;
}
