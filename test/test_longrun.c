/* test_longrun: 10,000 training steps of a 784-16-10 ReLU MLP (batch 20,
 * SGD with momentum, cross-entropy) on the first 2000 Fashion-MNIST training
 * images (random images with a label-dependent bright row when the data set
 * is absent), with a
 * no-grad evaluation of 500 samples every 1000 steps. Steady state must not
 * allocate: the allocator's counters (tg_alloc_stats_get) after step 100
 * and after step 10,000 are equal, and the resident set size
 * (/proc/self/statm) differs by at most 1 MiB. The loss must stay finite
 * and fall.
 *
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { N = 2000, D = 784, H = 16, C = 10, B = 20, STEPS = 10000, WARM = 100, EVAL_N = 500 };

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
        fclose(f);
    }
    return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
}

/* Fraction of samples [0, EVAL_N) classified right, without recording. */
static double evaluate(tg_ctx *ctx, const tg_dense *l1, const tg_dense *l2, const tg_dataset *ds) {
    static int32_t lab[EVAL_N];
    tg_no_grad_begin(ctx);
    tg_tape *tape = tg_tape_begin(ctx);
    int64_t xs[2] = {EVAL_N, D};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, xs);
    tg_tensor *z = NULL;
    if (x && tg_dataset_batch(ds, NULL, EVAL_N, x, lab) == TG_OK)
        z = tg_dense_forward(l2, tg_relu(tg_dense_forward(l1, x)));
    double acc = -1;
    if (z) {
        int correct = 0;
        for (int b = 0; b < EVAL_N; b++) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (tg_get(z, b * C + c) > tg_get(z, b * C + best)) best = c;
            correct += best == lab[b];
        }
        acc = (double)correct / EVAL_N;
    }
    tg_tape_end(tape);
    tg_no_grad_end(ctx);
    return acc;
}

int main(void) {
    const char *dir = getenv("TG_DATA") ? getenv("TG_DATA") : tg_default_data_dir();
    tg_config cfg = tg_config_default();
    cfg.anomaly = 0;
    /* Two threads: the pool's workers allocate their GEMM packing buffers
     * when the context is made (core/pool.c), so the allocation count after
     * warm-up does not depend on which thread ran which tile. */
    cfg.threads = 2;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) {
        FAILF("no context");
        return tl_summary();
    }

    /* data: real when present, else random (owned here, not by the library) */
    tg_dataset real = {0}, ds;
    uint8_t *own_img = NULL, *own_lbl = NULL;
    struct stat st;
    if (stat(dir, &st) == 0 && tg_mnist_load(ctx, dir, "train", &real) == TG_OK && real.n >= N) {
        ds = real;
        ds.n = N;
        printf("data: the first %d images of %s\n", N, dir);
    } else {
        tg_clear_error(ctx);
        own_img = malloc((size_t)N * D);
        own_lbl = malloc(N);
        if (!own_img || !own_lbl) {
            FAILF("no memory for the synthetic images");
            return tl_summary();
        }
        /* noise, plus a bright row 2·label + 4 so that the labels can be learnt */
        for (int i = 0; i < N; i++) {
            own_lbl[i] = (uint8_t)(tg_rng_u64(ctx) % C);
            for (int j = 0; j < D; j++) {
                int row = j / 28, hot = row == 2 * own_lbl[i] + 4;
                own_img[(size_t)i * D + j] = (uint8_t)((tg_rng_u64(ctx) >> 58) + (hot ? 160 : 0));
            }
        }
        ds = (tg_dataset){.n = N, .rows = 28, .cols = 28, .images = own_img, .labels = own_lbl};
        printf("data: %d synthetic images (no data set at %s)\n", N, dir);
    }

    tg_dense l1, l2;
    if (tg_dense_init(&l1, ctx, "fc1", D, H, TG_F32, TG_INIT_HE) ||
        tg_dense_init(&l2, ctx, "fc2", H, C, TG_F32, TG_INIT_HE)) {
        FAILF("%s", tg_last_error(ctx));
        return tl_summary();
    }
    tg_optim_config oc = tg_optim_defaults(TG_OPT_MOMENTUM);
    oc.lr = 0.05;
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    if (!opt) {
        FAILF("optim_new: %s", tg_last_error(ctx));
        return tl_summary();
    }

    static int64_t perm[N];
    static int32_t labels[B];
    for (int i = 0; i < N; i++) perm[i] = i;
    tg_alloc_stats s_warm = {0};
    long rss_warm = 0;
    double first_loss = 0, last_loss = 0, epoch_loss = 0, acc0 = evaluate(ctx, &l1, &l2, &ds), acc = acc0;
    int ok = 1;
    for (int step = 1; step <= STEPS; step++) {
        int b0 = ((step - 1) * B) % N;
        if (b0 == 0) tg_shuffle(ctx, perm, N);
        tg_tape *tape = tg_tape_begin(ctx);
        int64_t xs[2] = {B, D};
        tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, xs);
        tg_tensor *loss = NULL;
        if (x && tg_dataset_batch(&ds, perm + b0, B, x, labels) == TG_OK)
            loss = tg_cross_entropy(tg_dense_forward(&l2, tg_relu(tg_dense_forward(&l1, x))), labels, TG_MEAN);
        tg_status s = loss ? tg_backward(loss) : TG_EINVAL;
        if (s == TG_OK) s = tg_optim_step(opt);
        double lv = loss ? tg_item(loss) : NAN;
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
        if (s != TG_OK || !isfinite(lv)) {
            FAILF("step %d: loss %g: %s", step, lv, tg_last_error(ctx));
            ok = 0;
            break;
        }
        epoch_loss += lv;
        if (step % (N / B) == 0) { /* end of an epoch */
            if (step == N / B) first_loss = epoch_loss / (N / B);
            last_loss = epoch_loss / (N / B);
            epoch_loss = 0;
        }
        if (step % 1000 == 0 || step == WARM / 2) acc = evaluate(ctx, &l1, &l2, &ds);
        if (step == WARM) {
            s_warm = tg_alloc_stats_get();
            rss_warm = rss_bytes();
        }
    }
    tg_alloc_stats s_end = tg_alloc_stats_get();
    long rss_end = rss_bytes();
    printf("after step %d: %llu allocations, %llu frees, %llu bytes live, RSS %.2f MiB\n", WARM,
           (unsigned long long)s_warm.n_alloc, (unsigned long long)s_warm.n_free,
           (unsigned long long)s_warm.bytes_live, rss_warm / 1048576.0);
    printf("after step %d: %llu allocations, %llu frees, %llu bytes live, RSS %.2f MiB\n", STEPS,
           (unsigned long long)s_end.n_alloc, (unsigned long long)s_end.n_free,
           (unsigned long long)s_end.bytes_live, rss_end / 1048576.0);
    printf("loss: first epoch %.4f, last epoch %.4f; accuracy on %d training samples %.3f -> %.3f\n",
           first_loss, last_loss, EVAL_N, acc0, acc);
    if (ok) {
        CHECK(s_end.n_alloc == s_warm.n_alloc && s_end.n_free == s_warm.n_free &&
                  s_end.bytes_live == s_warm.bytes_live,
              "the steady state allocates (counters above differ)");
        CHECK(rss_warm >= 0 && rss_end >= 0 && labs(rss_end - rss_warm) <= (1L << 20),
              "resident memory moved by %+.2f MiB (limit 1 MiB)", (rss_end - rss_warm) / 1048576.0);
        CHECK(last_loss < first_loss && acc >= 0, "training did not progress (loss %g -> %g, accuracy %g)",
              first_loss, last_loss, acc);
    }
    tg_optim_free(opt);
    tg_dataset_free(&real);
    free(own_img);
    free(own_lbl);
    tg_ctx_free(ctx);
    return tl_summary();
}
