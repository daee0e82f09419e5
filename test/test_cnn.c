/* test_cnn.c: convolutional networks as a whole (issue 4).
 *
 * Default run (no data needed):
 *  - a tiny LeNet-shaped network in f64 (conv, LeCun subsampling = 2x2 sum
 *    times a trainable coefficient plus a bias, a conv through a connection
 *    table, a dense layer, softmax cross-entropy) passes whole-model
 *    tg_gradcheck over every parameter and the input; so does a variant with
 *    max pooling and dropout (the RNG reseeded per evaluation, so each one
 *    draws the same mask);
 *  - the gradient of every weight the table switches off is exactly 0 (f64
 *    and f32), those weights start at 0 and stay exactly 0 through Adam
 *    steps, and every connected weight gets a gradient;
 *  - tg_conv2d_layer: shapes, names, init scale, groups with a table, and
 *    bad arguments rejected with nothing created;
 *  - training a small CNN with dropout is bitwise reproducible from a seed
 *    (two runs, and one with another thread count, give identical weights),
 *    and another seed gives other weights.
 * With --examples: runs examples/lenet5 and examples/cnn as a user would on
 * a synthetic 20x20 MNIST-layout set (always), then on a 1200/300-image
 * subset of Fashion-MNIST ($TG_DATA or the default directory; --limit 1000), checking exit codes and the result line; exits 77
 * (skip) after the synthetic part when the data set is absent.
 * Prints "N passed, N failed"; exits non-zero on any failure. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a tiny LeNet ---- */

/* x (B,1,8,8) -> conv 3@3x3 -> tanh (B,3,6,6) -> subsample (B,3,3,3) ->
 * masked conv 4@2x2 (B,4,2,2) -> tanh -> flatten 16 -> dense 3 -> CE. */
enum { TB = 2, TC1 = 3, TC2 = 4, TK = 3 };
static const uint8_t TABLE[TC1][TC2] = {{1, 0, 1, 1}, {1, 1, 0, 1}, {0, 1, 1, 1}};

typedef struct tiny {
    tg_ctx *ctx;
    tg_dtype dt;
    tg_conv2d_layer c1, c2;
    tg_tensor *coef, *bias; /* (3,1,1) */
    tg_dense fc;
    tg_tensor *x;           /* (B,1,8,8), persistent */
    int32_t labels[TB];
    int variant;            /* 0: LeCun subsampling; 1: max pool + dropout */
} tiny;

static tg_tensor *tiny_loss(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)in;
    (void)n;
    tiny *m = user;
    tg_tensor *h = tg_tanh(tg_conv2d_layer_forward(&m->c1, m->x));
    if (m->variant == 0) {
        tg_tensor *avg = tg_avg_pool2d(h, 2, 2, 2, 2, 0, 0);
        tg_tensor *c4 = tg_mul(m->coef, tg_scalar(ctx, m->dt, 4.0));
        h = tg_tanh(tg_add(tg_mul(avg, c4), m->bias));
    } else {
        tg_rng_seed(ctx, 99); /* the same dropout mask at every evaluation */
        h = tg_dropout(tg_max_pool2d(h, 2, 2, 2, 2, 0, 0), 0.3, 1);
    }
    h = tg_tanh(tg_conv2d_layer_forward(&m->c2, h));
    return tg_cross_entropy(tg_dense_forward(&m->fc, tg_flatten(h, 1)), m->labels, TG_MEAN);
}

static int tiny_init(tiny *m, tg_dtype dt, int variant, uint64_t seed) {
    memset(m, 0, sizeof *m);
    tg_config cfg = tg_config_default();
    cfg.seed = seed;
    cfg.threads = 1;
    m->ctx = tg_ctx_new(&cfg);
    if (!m->ctx) return -1;
    m->dt = dt;
    m->variant = variant;
    int64_t cs[3] = {TC1, 1, 1}, xs[4] = {TB, 1, 8, 8};
    if (tg_conv2d_layer_init(&m->c1, m->ctx, "c1", 1, TC1, TK, TK, NULL, dt, TG_INIT_XAVIER) ||
        tg_conv2d_layer_init(&m->c2, m->ctx, "c2", TC1, TC2, 2, 2, NULL, dt, TG_INIT_XAVIER) ||
        tg_conv2d_layer_set_table(&m->c2, &TABLE[0][0]) ||
        tg_dense_init(&m->fc, m->ctx, "fc", TC2 * 4, 3, dt, TG_INIT_XAVIER))
        return -1;
    m->coef = tg_param_new(m->ctx, "s.coef", dt, 3, cs);
    m->bias = tg_param_new(m->ctx, "s.b", dt, 3, cs);
    m->x = tg_tensor_new(m->ctx, dt, 4, xs);
    if (!m->coef || !m->bias || !m->x) return -1;
    tg_init_uniform(m->coef, 0.2, 0.6);
    tg_init_uniform(m->bias, -0.3, 0.3);
    tg_init_uniform(m->c1.b, -0.3, 0.3);
    tg_init_uniform(m->c2.b, -0.3, 0.3);
    tg_init_uniform(m->fc.b, -0.3, 0.3);
    tg_init_uniform(m->x, -1, 1);
    m->labels[0] = 2;
    m->labels[1] = 0;
    return 0;
}

static void tiny_free(tiny *m) {
    tg_conv2d_layer_free(&m->c1);
    tg_conv2d_layer_free(&m->c2);
    tg_tensor_free(m->x);
    tg_ctx_free(m->ctx);
}

static void test_tiny_gradcheck(int variant) {
    tiny m;
    CHECK(tiny_init(&m, TG_F64, variant, 5) == 0, "tiny net init: %s", m.ctx ? tg_last_error(m.ctx) : "no ctx");
    tg_tensor *in[9] = {m.c1.W, m.c1.b, m.coef, m.bias, m.c2.W, m.c2.b, m.fc.W, m.fc.b, m.x};
    int n = variant == 0 ? 9 : 7;
    if (variant) { /* no coefficient or bias in this variant */
        in[2] = m.c2.W, in[3] = m.c2.b, in[4] = m.fc.W, in[5] = m.fc.b, in[6] = m.x;
    }
    tg_check_report rep;
    tg_status st = tg_gradcheck(m.ctx, tiny_loss, in, n, &m, NULL, &rep);
    CHECK(st == TG_OK, "tiny LeNet (%s) whole-model gradcheck: %s (worst %s, input %d [%lld]: %g vs %g)",
          variant ? "max pool + dropout" : "LeCun subsampling", tg_last_error(m.ctx), rep.where, rep.worst_input,
          (long long)rep.worst_index, rep.worst_analytic, rep.worst_numeric);
    printf("gradcheck tiny LeNet, %-18s: %lld elements, max abs err %.2e%s\n",
           variant ? "max pool + dropout" : "LeCun subsampling", (long long)rep.n_checked, rep.max_abs_err,
           st == TG_OK ? "" : "  FAIL");
    tiny_free(&m);
}

/* Masked-off weights: exactly 0 gradient, start at 0, stay 0 under Adam. */
static void test_mask(tg_dtype dt) {
    tiny m;
    CHECK(tiny_init(&m, dt, 0, 11) == 0, "tiny net init");
    const tg_tensor *W = m.c2.W;
    int64_t K = W->shape[2] * W->shape[3];
    int bad_zero = 0, bad_init = 0, missing = 0;
    for (int64_t o = 0; o < TC2; o++)
        for (int64_t c = 0; c < TC1; c++)
            for (int64_t k = 0; k < K; k++) {
                int64_t i = (o * TC1 + c) * K + k;
                if (tg_get(m.c2.mask, i) != (double)TABLE[c][o]) bad_init++;
                if (!TABLE[c][o] && tg_get(W, i) != 0.0) bad_init++;
            }
    CHECK(bad_init == 0, "mask follows T[c][o] and masked-off weights start at 0 (%d wrong)", bad_init);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    oc.lr = 0.05;
    oc.weight_decay = 0.1; /* L2 on a zero weight adds 0: still exactly 0 */
    tg_optim *opt = tg_optim_new(m.ctx, &oc, NULL, 0);
    CHECK(opt != NULL, "optimizer over every parameter (the mask is not one): %s", tg_last_error(m.ctx));
    for (int step = 0; step < 3 && opt; step++) {
        tg_tape *tape = tg_tape_begin(m.ctx);
        tg_tensor *loss = tiny_loss(m.ctx, NULL, 0, &m);
        CHECK(loss && tg_backward(loss) == TG_OK, "backward: %s", tg_last_error(m.ctx));
        for (int64_t o = 0; o < TC2; o++)
            for (int64_t c = 0; c < TC1; c++) {
                int any = 0;
                for (int64_t k = 0; k < K; k++) {
                    double g = tg_grad_get(W, (o * TC1 + c) * K + k);
                    if (!TABLE[c][o] && g != 0.0) bad_zero++;
                    if (g != 0.0) any = 1;
                }
                if (TABLE[c][o] && !any) missing++;
            }
        tg_optim_step(opt);
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
    }
    CHECK(bad_zero == 0, "%s: %d masked-off weight gradients are not exactly 0", tg_dtype_name(dt), bad_zero);
    CHECK(missing == 0, "%s: %d connected (o,c) kernels got no gradient", tg_dtype_name(dt), missing);
    int moved = 0;
    for (int64_t o = 0; o < TC2; o++)
        for (int64_t c = 0; c < TC1; c++)
            for (int64_t k = 0; k < K; k++)
                if (!TABLE[c][o] && tg_get(W, (o * TC1 + c) * K + k) != 0.0) moved++;
    CHECK(moved == 0, "%s: %d masked-off weights moved under Adam", tg_dtype_name(dt), moved);
    tg_optim_free(opt);
    tiny_free(&m);
}

/* ---- the layer's API ---- */

static void test_layer_api(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_conv2d_layer L;
    tg_conv_opts o = {.stride = {2, 1}, .pad = {1, 0}, .dilation = {1, 2}, .groups = 2};
    CHECK(tg_conv2d_layer_init(&L, ctx, "conv", 4, 6, 3, 2, &o, TG_F32, TG_INIT_HE) == TG_OK, "init: %s",
          tg_last_error(ctx));
    CHECK(L.W && L.W->rank == 4 && L.W->shape[0] == 6 && L.W->shape[1] == 2 && L.W->shape[2] == 3 &&
              L.W->shape[3] == 2 && L.b && L.b->numel == 6 && !L.mask,
          "W (O,C/G,KH,KW) = (6,2,3,2), b (6), no mask");
    CHECK(tg_param_find(ctx, "conv.W") == L.W && tg_param_find(ctx, "conv.b") == L.b && (L.b->flags & TG_NO_DECAY),
          "parameters named conv.W and conv.b, bias not decayed");
    double lim = sqrt(6.0 / (2 * 3 * 2)), mx = 0;
    for (int64_t i = 0; i < L.W->numel; i++) mx = fmax(mx, fabs(tg_get(L.W, i)));
    CHECK(mx <= lim && mx > 0.5 * lim, "He uniform bound sqrt(6/fan_in) = %g, max |W| = %g", lim, mx);
    int64_t xs[4] = {2, 4, 7, 9};
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 4, xs);
    tg_tensor *y = tg_conv2d_layer_forward(&L, x);
    /* OH = (7 + 2 - 2 - 1)/2 + 1 = 4, OW = (9 - 2·1 - 1)/1 + 1 = 7 */
    CHECK(y && y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 4 && y->shape[3] == 7, "output (2,6,4,7)");
    int64_t xb[4] = {2, 3, 7, 9};
    tg_tensor *x3 = tg_tensor_temp(ctx, TG_F32, 4, xb);
    CHECK(tg_conv2d_layer_forward(&L, x3) == NULL && strncmp(tg_last_error(ctx), "conv2d:", 7) == 0,
          "3 channels into a 4-channel layer is rejected by conv2d: '%s'", tg_last_error(ctx));
    tg_tape_end(tape);

    /* A table across 2 groups: (C=4, O=6), group 0 = inputs 0-1 / outputs 0-2. */
    uint8_t T[4][6] = {{1, 0, 1, 0, 0, 0}, {0, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 1, 0}, {0, 0, 0, 0, 1, 1}};
    CHECK(tg_conv2d_layer_set_table(&L, &T[0][0]) == TG_OK && L.mask, "set a grouped table: %s", tg_last_error(ctx));
    int wrong = 0;
    for (int64_t oc = 0; oc < 6; oc++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t k = 0; k < 6; k++) {
                int64_t i = (oc * 2 + c) * 6 + k;
                double want = T[(oc / 3) * 2 + c][oc];
                if (tg_get(L.mask, i) != want || (want == 0 && tg_get(L.W, i) != 0)) wrong++;
            }
    CHECK(wrong == 0, "grouped mask M[o,c] = T[g·C/G+c, o] (%d wrong)", wrong);
    T[0][4] = 1; /* input 0 (group 0) -> output 4 (group 1) */
    CHECK(tg_conv2d_layer_set_table(&L, &T[0][0]) == TG_EINVAL && strstr(tg_last_error(ctx), "across groups"),
          "a table entry across groups is rejected: '%s'", tg_last_error(ctx));
    T[0][4] = 2;
    CHECK(tg_conv2d_layer_set_table(&L, &T[0][0]) == TG_EINVAL, "a table entry of 2 is rejected");
    CHECK(tg_conv2d_layer_set_table(&L, NULL) == TG_EINVAL, "a NULL table is rejected");

    /* Bad arguments: an error, and no parameter created. */
    int np = tg_param_count(ctx);
    tg_conv2d_layer B;
    tg_conv_opts g3 = {{1, 1}, {0, 0}, {1, 1}, 3};
    tg_conv_opts negpad = {{1, 1}, {-1, 0}, {1, 1}, 1};
    tg_conv_opts strideneg = {{-1, 1}, {0, 0}, {1, 1}, 1}; /* 0 would mean the default, 1 */
    CHECK(tg_conv2d_layer_init(&B, ctx, "b1", 4, 6, 3, 3, &g3, TG_F32, TG_INIT_HE) == TG_EINVAL &&
              strstr(tg_last_error(ctx), "groups"),
          "4 channels into 3 groups: '%s'", tg_last_error(ctx));
    CHECK(tg_conv2d_layer_init(&B, ctx, "b2", 4, 6, 3, 3, &negpad, TG_F32, TG_INIT_HE) == TG_EINVAL,
          "negative padding");
    CHECK(tg_conv2d_layer_init(&B, ctx, "b3", 4, 6, 0, 3, NULL, TG_F32, TG_INIT_HE) == TG_EINVAL, "kernel 0");
    CHECK(tg_conv2d_layer_init(&B, ctx, "b4", 4, 6, 3, 3, &strideneg, TG_F32, TG_INIT_HE) == TG_EINVAL &&
              strstr(tg_last_error(ctx), "stride"),
          "stride -1: '%s'", tg_last_error(ctx));
    CHECK(tg_conv2d_layer_init(&B, ctx, "", 4, 6, 3, 3, NULL, TG_F32, TG_INIT_HE) == TG_EINVAL, "empty name");
    CHECK(tg_conv2d_layer_init(&B, ctx, "conv", 4, 6, 3, 3, NULL, TG_F32, TG_INIT_HE) == TG_EINVAL &&
              strstr(tg_last_error(ctx), "already exist"),
          "a duplicate name: '%s'", tg_last_error(ctx));
    CHECK(tg_conv2d_layer_init(&B, ctx, "b4", 4, 6, 3, 3, NULL, (tg_dtype)7, TG_INIT_HE) == TG_EDTYPE, "bad dtype");
    CHECK(tg_param_count(ctx) == np, "failed inits created no parameter (%d -> %d)", np, tg_param_count(ctx));
    CHECK(tg_conv2d_layer_forward(NULL, NULL) == NULL, "NULL input gives NULL");
    tg_conv2d_layer_free(&L);
    tg_conv2d_layer_free(NULL);
    tg_ctx_free(ctx);
}

/* ---- bitwise reproducibility of training with dropout ---- */

enum { RB = 8, RS = 12 };

/* Trains conv 4@3x3 relu -> max pool -> dropout 0.5 -> dense 10 for 4 Adam
 * steps on fixed pseudo-random data; returns every parameter's bytes,
 * concatenated (malloc'ed), and their size in *bytes. */
static unsigned char *train_small(uint64_t seed, int threads, size_t *bytes) {
    tg_config cfg = tg_config_default();
    cfg.seed = seed;
    cfg.threads = threads;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    tg_conv2d_layer c;
    tg_dense d;
    if (tg_conv2d_layer_init(&c, ctx, "c", 1, 4, 3, 3, NULL, TG_F32, TG_INIT_HE) ||
        tg_dense_init(&d, ctx, "d", 4 * 5 * 5, 10, TG_F32, TG_INIT_XAVIER)) {
        tg_ctx_free(ctx);
        return NULL;
    }
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    int64_t xs[4] = {RB, 1, RS, RS};
    int32_t lab[RB];
    for (int step = 0; step < 4; step++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 4, xs);
        for (int64_t i = 0; i < x->numel; i++) tg_set(x, i, tg_philox(1234, (uint64_t)step, (uint64_t)i) / 4294967296.0);
        for (int b = 0; b < RB; b++) lab[b] = (int32_t)(tg_philox(77, (uint64_t)step, (uint64_t)b) % 10);
        tg_tensor *h = tg_relu(tg_conv2d_layer_forward(&c, x));
        h = tg_dropout(tg_max_pool2d(h, 2, 2, 2, 2, 0, 0), 0.5, 1);
        tg_tensor *loss = tg_cross_entropy(tg_dense_forward(&d, tg_flatten(h, 1)), lab, TG_MEAN);
        if (loss && tg_backward(loss) == TG_OK) tg_optim_step(opt);
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
    }
    size_t n = 0;
    for (int i = 0; i < tg_param_count(ctx); i++) n += (size_t)tg_param_at(ctx, i)->numel * sizeof(float);
    unsigned char *out = malloc(n), *p = out;
    for (int i = 0; out && i < tg_param_count(ctx); i++) {
        tg_tensor *t = tg_param_at(ctx, i);
        memcpy(p, t->data, (size_t)t->numel * sizeof(float));
        p += (size_t)t->numel * sizeof(float);
    }
    *bytes = n;
    tg_optim_free(opt);
    tg_conv2d_layer_free(&c);
    tg_ctx_free(ctx);
    return out;
}

static void test_reproducible(void) {
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    unsigned char *a = train_small(7, 1, &n1), *b = train_small(7, 1, &n2), *c = train_small(7, 2, &n3),
                  *d = train_small(8, 1, &n4);
    CHECK(a && b && c && d && n1 == n2 && n1 == n3 && n1 == n4 && n1 > 0, "small CNN trained");
    if (a && b && c && d) {
        CHECK(memcmp(a, b, n1) == 0, "two runs with seed 7 give bitwise identical weights");
        CHECK(memcmp(a, c, n1) == 0, "1 and 2 threads give bitwise identical weights");
        CHECK(memcmp(a, d, n1) != 0, "seed 8 gives other weights");
    }
    free(a);
    free(b);
    free(c);
    free(d);
}

/* ---- the example programs ---- */

static char tmpdir[256];

/* Fashion-MNIST: $TG_DATA (as in test_examples.py) or the default directory. */
static const char *data_dir(void) {
    const char *d = getenv("TG_DATA");
    return d && d[0] ? d : tg_default_data_dir();
}

static int write_idx(const char *dir, const char *name, int rank, const int64_t *dims, const uint8_t *data) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint8_t hdr[4] = {0, 0, 8, (uint8_t)rank};
    fwrite(hdr, 1, 4, f);
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t v = (uint32_t)dims[i];
        uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        fwrite(be, 1, 4, f);
        count *= dims[i];
    }
    size_t w = fwrite(data, 1, (size_t)count, f);
    return fclose(f) == 0 && w == (size_t)count ? 0 : -1;
}

/* Writes split "train"/"t10k" of n images (rows x cols) into dir. */
static int write_split(const char *dir, const char *split, int64_t n, int64_t rows, int64_t cols,
                       const uint8_t *images, const uint8_t *labels) {
    char name[64];
    int64_t di[3] = {n, rows, cols}, dl[1] = {n};
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    if (write_idx(dir, name, 3, di, images)) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    return write_idx(dir, name, 1, dl, labels);
}

/* Synthetic 20x20 digits: class k is a bright 4x4 block at a place of its
 * own, plus noise. */
static int make_synthetic(const char *dir, const char *split, int64_t n, uint64_t seed) {
    enum { S = 20 };
    uint8_t *img = malloc((size_t)n * S * S), *lab = malloc((size_t)n);
    if (!img || !lab) return free(img), free(lab), -1;
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % 10);
        lab[i] = (uint8_t)k;
        int r0 = 2 + (k / 5) * 9, c0 = 1 + (k % 5) * 4;
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int v = (int)(tg_philox(seed, (uint64_t)i, (uint64_t)(r * S + c)) % 60);
                if (r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4) v += 190;
                img[(i * S + r) * S + c] = (uint8_t)v;
            }
    }
    int rc = write_split(dir, split, n, S, S, img, lab);
    free(img);
    free(lab);
    return rc;
}

/* Runs "$TG_BUILDDIR/examples/<prog> <args>" (args split at spaces; no
 * shell) with TG_PROGRESS=0 through tl_run; returns its exit code and the
 * last stdout line in last. Its stderr goes to ours. */
static int run_example(const char *prog, const char *args, char *last, size_t len, int echo) {
    const char *bd = getenv("TG_BUILDDIR");
    char path[1024], words[1024], out[1 << 16];
    char *argv[32];
    int argc = 0;
    snprintf(path, sizeof path, "%s/examples/%s", bd ? bd : "build", prog);
    snprintf(words, sizeof words, "%s", args);
    argv[argc++] = path;
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w && argc < 31; w = strtok_r(NULL, " ", &save)) argv[argc++] = w;
    argv[argc] = NULL;
    setenv("TG_PROGRESS", "0", 1);
    int rc = tl_run(argv, out, sizeof out);
    last[0] = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (echo) printf("  %s: %s\n", prog, line);
        snprintf(last, len, "%s", line);
    }
    return rc;
}

/* Parses "result: test_acc=... train_loss=... epochs=... seconds=... samples_per_s=...". */
static int check_result(const char *prog, const char *line, int epochs, double min_acc) {
    double acc = -1, loss = -1, sec = -1, sps = -1;
    int ep = -1;
    int n = sscanf(line, "result: test_acc=%lf train_loss=%lf epochs=%d seconds=%lf samples_per_s=%lf", &acc, &loss,
                   &ep, &sec, &sps);
    CHECK(n == 5, "%s: a well-formed result line, got '%s'", prog, line);
    CHECK(n < 5 || (acc >= min_acc && acc <= 1 && isfinite(loss) && loss > 0 && ep == epochs && sec >= 0 && sps > 0),
          "%s: test_acc %.4f (want >= %.2f), train_loss %g, epochs %d (want %d)", prog, acc, min_acc, loss, ep,
          epochs);
    return n == 5 ? 0 : -1;
}

static int test_examples(void) {
    char last[1024], args[1024], dir[300];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg_test_cnn.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return 0;
    }
    /* --help and a bad flag */
    CHECK(run_example("lenet5", "--help", last, sizeof last, 0) == 0, "lenet5 --help exits 0");
    CHECK(run_example("cnn", "--dropout 1.5", last, sizeof last, 1) == 2, "cnn --dropout 1.5 is a usage error (2)");
    CHECK(run_example("cnn", "--data /nonexistent/dir", last, sizeof last, 1) == 2, "a missing --data dir exits 2");

    /* Synthetic 20x20 set: lenet5 pads it into a 32x32 frame. */
    snprintf(dir, sizeof dir, "%s/syn", tmpdir);
    mkdir(dir, 0755);
    CHECK(make_synthetic(dir, "train", 640, 1) == 0 && make_synthetic(dir, "t10k", 200, 2) == 0, "synthetic set");
    snprintf(args, sizeof args, "--data %s --epochs 1 --batch 32", dir);
    CHECK(run_example("lenet5", args, last, sizeof last, 1) == 0, "lenet5 on the synthetic set");
    check_result("lenet5 (synthetic)", last, 1, 0.5);
    /* --early-stop: a validation split, the best epoch reported and kept. */
    snprintf(args, sizeof args, "--data %s --epochs 3 --batch 32 --early-stop 1", dir);
    CHECK(run_example("lenet5", args, last, sizeof last, 1) == 0, "lenet5 --early-stop 1 on the synthetic set");
    {
        const char *e = strstr(last, " epochs="), *be = strstr(last, "best_epoch=");
        int ep = -1, best = -1;
        if (e) sscanf(e, " epochs=%d", &ep);
        if (be) sscanf(be, "best_epoch=%d", &best);
        CHECK(ep >= 1 && ep <= 3 && best >= 1 && best <= ep, "lenet5 --early-stop: epochs %d, best_epoch %d in '%s'",
              ep, best, last);
    }
    CHECK(run_example("lenet5", "--early-stop 1 --eval-only --load x", last, sizeof last, 0) == 2,
          "lenet5 --early-stop with --eval-only is a usage error (2)");
    char model[400];
    snprintf(model, sizeof model, "%s/cnn.safetensors", tmpdir);
    snprintf(args, sizeof args, "--data %s --epochs 3 --batch 16 --filters 4 --hidden 16 --save %s", dir, model);
    CHECK(run_example("cnn", args, last, sizeof last, 1) == 0, "cnn on the synthetic set");
    check_result("cnn (synthetic)", last, 3, 0.5);
    double acc_trained = -1, acc_loaded = -2;
    sscanf(last, "result: test_acc=%lf", &acc_trained);
    snprintf(args, sizeof args, "--data %s --filters 4 --hidden 16 --load %s --eval-only", dir, model);
    CHECK(run_example("cnn", args, last, sizeof last, 1) == 0 && sscanf(last, "result: test_acc=%lf", &acc_loaded) == 1 &&
              acc_loaded == acc_trained,
          "cnn --load --eval-only reproduces test_acc %.4f: '%s'", acc_trained, last);

    /* A 1200/300 subset of Fashion-MNIST, if installed. */
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_dataset tr = {0}, te = {0};
    int have = tg_mnist_load(ctx, data_dir(), "train", &tr) == TG_OK &&
               tg_mnist_load(ctx, data_dir(), "t10k", &te) == TG_OK;
    if (have) {
        snprintf(dir, sizeof dir, "%s/fashion", tmpdir);
        mkdir(dir, 0755);
        CHECK(write_split(dir, "train", 1200, tr.rows, tr.cols, tr.images, tr.labels) == 0 &&
                  write_split(dir, "t10k", 300, te.rows, te.cols, te.images, te.labels) == 0,
              "Fashion-MNIST subset");
        snprintf(args, sizeof args, "--data %s --epochs 1 --limit 1000 --batch 32", dir);
        CHECK(run_example("lenet5", args, last, sizeof last, 1) == 0, "lenet5 on 1000 Fashion-MNIST images");
        check_result("lenet5 (fashion)", last, 1, 0.4);
        snprintf(args, sizeof args, "--data %s --epochs 1 --limit 1000 --batch 32 --filters 4 --hidden 32", dir);
        CHECK(run_example("cnn", args, last, sizeof last, 1) == 0, "cnn on 1000 Fashion-MNIST images");
        check_result("cnn (fashion)", last, 1, 0.4);
    }
    tg_dataset_free(&tr);
    tg_dataset_free(&te);
    tg_ctx_free(ctx);
    tl_rmtree(tmpdir);
    return have;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--examples") == 0) {
        if (!test_examples())
            SKIPF("no Fashion-MNIST in %s (set TG_DATA); the examples were skipped, the synthetic part ran",
                  data_dir());
        return tl_summary();
    }
    test_tiny_gradcheck(0);
    test_tiny_gradcheck(1);
    test_mask(TG_F64);
    test_mask(TG_F32);
    test_layer_api();
    test_reproducible();
    return tl_summary();
}
