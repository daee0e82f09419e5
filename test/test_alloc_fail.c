/* test_alloc_fail: every allocation a small training step makes may fail,
 * and each failure must surface as TG_ENOMEM (or NULL with an "out of memory"
 * message), leak nothing and leave the parameters as they were.
 *
 * The step: load a tiny MNIST-layout data set (raw images, gzipped labels)
 * from a temp dir, build a context with a 32-16-4 MLP in f32 (dense, relu,
 * dense, cross_entropy), an Adam optimizer, one tape with backward and a
 * step, a checkpoint save, a change to the parameters, and a checkpoint load.
 * A counting allocator (tg_set_allocator) first counts the N allocations of
 * one clean run; then for every n in 1..N the n-th allocation fails, once
 * ("single") and from there on ("persistent"). For each run:
 *   - the call that met the failure returns TG_ENOMEM / NULL, and the
 *     context's message says "out of memory" (tg_ctx_new has no context: it
 *     returns NULL);
 *   - a failure the library absorbs (the GEMM falls back to its direct loop
 *     when its packing scratch cannot be had) lets the step succeed;
 *   - a failed tg_checkpoint_load leaves the parameters unchanged; a failed
 *     save leaves no temp file behind;
 *   - after cleanup the allocator's live bytes and block count are back
 *     where they started (under ASan, LeakSanitizer checks the rest).
 * A second sweep does the same for tg_ctx_new with two threads (the pool's
 * allocations). Exit 0 pass, 1 fail. */
#include "graph_internal.h"
#include "testlib.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- the counting allocator ---- */

static long g_calls;      /* allocation requests seen */
static long g_fail_at;    /* 1-based request that fails; 0 = none */
static int g_persistent;  /* 1: every request from g_fail_at on fails */
static long g_failed;     /* requests refused */

static void *count_alloc(size_t size, void *user) {
    (void)user;
    long k = ++g_calls;
    if (g_fail_at && (k == g_fail_at || (g_persistent && k > g_fail_at))) {
        g_failed++;
        return NULL;
    }
    return malloc(size);
}
static void count_release(void *p, void *user) {
    (void)user;
    free(p);
}


/* ---- fixtures ---- */

enum { N_IMG = 10, ROWS = 4, COLS = 8, D = ROWS * COLS, H = 16, C = 4 };

static char g_dir[256], g_ckpt[300];

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int write_fixtures(void) {
    char path[400];
    unsigned char img[16 + N_IMG * D], lbl[8 + N_IMG];
    put_be32(img, 0x803), put_be32(img + 4, N_IMG), put_be32(img + 8, ROWS), put_be32(img + 12, COLS);
    for (int i = 0; i < N_IMG * D; i++) img[16 + i] = (unsigned char)(i * 37 % 256);
    put_be32(lbl, 0x801), put_be32(lbl + 4, N_IMG);
    for (int i = 0; i < N_IMG; i++) lbl[8 + i] = (unsigned char)(i % C);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", g_dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(img, 1, sizeof img, f) != sizeof img || fclose(f) != 0) return -1;
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", g_dir);
    gzFile gz = gzopen(path, "wb");
    if (!gz || gzwrite(gz, lbl, sizeof lbl) != (int)sizeof lbl || gzclose(gz) != Z_OK) return -1;
    return 0;
}

/* Files in g_dir other than the two data files and the checkpoint. */
static int stray_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!strcmp(e->d_name, "train-images-idx3-ubyte") || !strcmp(e->d_name, "train-labels-idx1-ubyte.gz") ||
            !strcmp(e->d_name, "m.safetensors"))
            continue;
        fprintf(stderr, "  stray file %s\n", e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

static void cleanup_fixtures(void) {
    char path[400];
    const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz", "m.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    rmdir(g_dir);
}

/* ---- the step ---- */

/* A failure was met by call `what`: it must be TG_ENOMEM with an "out of
 * memory" message (st is the returned status, TG_ENOMEM assumed for a NULL
 * return). Returns 1 so that callers can `return expect_oom(...)`. */
static int expect_oom(tg_ctx *ctx, const char *what, tg_status st) {
    if (!g_failed) FAILF("%s failed without an injected failure: %s", what, tg_last_error(ctx));
    else if (st != TG_ENOMEM || tg_last_status(ctx) != TG_ENOMEM)
        FAILF("%s: status %d (last %d), want TG_ENOMEM: %s", what, st, tg_last_status(ctx), tg_last_error(ctx));
    else
        CHECK(strstr(tg_last_error(ctx), "out of memory"), "%s: message does not say \"out of memory\": %s", what,
              tg_last_error(ctx));
    return 1;
}

/* Saved parameter values, for the "unchanged after a failed load" check. */
typedef struct snap {
    int n;
    double v[4][D * H];
} snap;

static void snap_take(tg_ctx *ctx, snap *s) {
    s->n = tg_param_count(ctx);
    for (int i = 0; i < s->n; i++) tg_tensor_get_f64(tg_param_at(ctx, i), s->v[i]);
}
static int snap_same(tg_ctx *ctx, const snap *s) {
    double tmp[D * H];
    for (int i = 0; i < s->n; i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        tg_tensor_get_f64(p, tmp);
        if (memcmp(tmp, s->v[i], (size_t)p->numel * sizeof(double))) return 0;
    }
    return 1;
}

/* The step with a context; returns 0 when it ran to the end. */
static int step_in(tg_ctx *ctx, tg_dataset *ds) {
    tg_status st = tg_mnist_load(ctx, g_dir, "train", ds);
    if (st) return expect_oom(ctx, "mnist_load", st);
    tg_dense l1, l2;
    if ((st = tg_dense_init(&l1, ctx, "fc1", D, H, TG_F32, TG_INIT_HE))) return expect_oom(ctx, "dense_init fc1", st);
    if ((st = tg_dense_init(&l2, ctx, "fc2", H, C, TG_F32, TG_INIT_XAVIER)))
        return expect_oom(ctx, "dense_init fc2", st);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    if (!opt) return expect_oom(ctx, "optim_new", TG_ENOMEM);
    int rc = 1;
    tg_tape *tape = tg_tape_begin(ctx);
    if (!tape) {
        expect_oom(ctx, "tape_begin", TG_ENOMEM);
        goto out;
    }
    int64_t xs[2] = {N_IMG, D};
    int32_t labels[N_IMG];
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, xs);
    if (!x) {
        expect_oom(ctx, "tensor_temp", TG_ENOMEM);
        goto out;
    }
    if ((st = tg_dataset_batch(ds, NULL, N_IMG, x, labels))) {
        FAILF("dataset_batch: %s", tg_last_error(ctx));
        goto out;
    }
    tg_tensor *loss = tg_cross_entropy(tg_dense_forward(&l2, tg_relu(tg_dense_forward(&l1, x))), labels, TG_MEAN);
    if (!loss) {
        expect_oom(ctx, "forward", TG_ENOMEM);
        goto out;
    }
    if (!isfinite(tg_item(loss))) FAILF("loss is %g", tg_item(loss));
    if ((st = tg_backward(loss))) {
        expect_oom(ctx, "backward", st);
        goto out;
    }
    if ((st = tg_optim_step(opt))) {
        FAILF("optim_step: %s", tg_last_error(ctx)); /* allocates nothing */
        goto out;
    }
    tg_tape_end(tape);
    tape = NULL;
    if ((st = tg_checkpoint_save(ctx, g_ckpt, opt))) {
        expect_oom(ctx, "checkpoint_save", st);
        if (stray_files()) FAILF("checkpoint_save left a temp file behind");
        goto out;
    }
    snap saved, changed;
    snap_take(ctx, &saved);
    for (int i = 0; i < tg_param_count(ctx); i++) tg_tensor_fill(tg_param_at(ctx, i), 0.25);
    snap_take(ctx, &changed);
    if ((st = tg_checkpoint_load(ctx, g_ckpt, opt))) {
        expect_oom(ctx, "checkpoint_load", st);
        if (!snap_same(ctx, &changed)) FAILF("a failed checkpoint_load changed the parameters");
        goto out;
    }
    if (!snap_same(ctx, &saved)) FAILF("checkpoint_load did not restore the saved parameters");
    rc = 0;
out:
    if (tape) tg_tape_end(tape);
    tg_optim_free(opt);
    return rc;
}

/* One whole run; returns 0 when the step ran to the end. */
static int run_step(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    cfg.anomaly = 0;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) {
        if (!g_failed) FAILF("ctx_new returned NULL without an injected failure");
        return 1;
    }
    tg_dataset ds = {0};
    int rc = step_in(ctx, &ds);
    tg_dataset_free(&ds);
    tg_ctx_free(ctx);
    tg__gemm_free_scratch(); /* per-thread packing buffer, kept between GEMMs */
    return rc;
}

static int run_ctx2(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 2;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) {
        if (!g_failed) FAILF("ctx_new (2 threads) returned NULL without an injected failure");
        return 1;
    }
    /* A pool that could not start falls back to one thread. */
    if (tg_ctx_threads(ctx) < 1 || tg_ctx_threads(ctx) > 2) FAILF("threads = %d", tg_ctx_threads(ctx));
    tg_ctx_free(ctx);
    return 0;
}

/* Sweep fail_at over 1..n_total in both modes; returns the number of runs
 * that completed despite a failure (absorbed). */
static long sweep(const char *name, int (*fn)(void), long n_total) {
    tg_alloc_stats base = tg_alloc_stats_get();
    long absorbed = 0, runs = 0;
    for (int mode = 0; mode < 2; mode++) {
        for (long k = 1; k <= n_total; k++) {
            g_calls = 0, g_failed = 0, g_fail_at = k, g_persistent = mode;
            TL_CONTEXT("fail_at %ld%s", k, mode ? " persistent" : "");
            int rc = fn();
            runs++;
            CHECK(g_failed, "%s: request %ld never came (the run made %ld)", name, k, g_calls);
            if (rc == 0) absorbed++;
            tg_alloc_stats now = tg_alloc_stats_get();
            CHECK(now.bytes_live == base.bytes_live && now.n_alloc - now.n_free == base.n_alloc - base.n_free,
                  "%s: leaked %lld bytes in %lld blocks", name, (long long)(now.bytes_live - base.bytes_live),
                  (long long)((now.n_alloc - now.n_free) - (base.n_alloc - base.n_free)));
            CHECK(!stray_files(), "%s: stray files", name);
        }
    }
    g_fail_at = 0, g_persistent = 0;
    tl_context_clear();
    printf("%s: %ld allocations, %ld failure runs, %ld completed despite the failure (fallbacks)\n", name,
           n_total, runs, absorbed);
    return absorbed;
}

int main(void) {
    if (tl_mkdtemp(g_dir, sizeof g_dir, "tg_allocfail")) return 1;
    snprintf(g_ckpt, sizeof g_ckpt, "%s/m.safetensors", g_dir);
    if (write_fixtures()) {
        FAILF("cannot write the fixtures in %s", g_dir);
        cleanup_fixtures();
        return tl_summary();
    }
    tg_set_allocator(&(tg_allocator){count_alloc, count_release, NULL});

    /* A clean run, counted. */
    g_calls = 0, g_fail_at = 0, g_failed = 0;
    tg_alloc_stats base = tg_alloc_stats_get();
    CHECK(run_step() == 0, "the step fails without any injected failure");
    long n_step = g_calls;
    tg_alloc_stats after = tg_alloc_stats_get();
    CHECK(after.bytes_live == base.bytes_live, "the clean run leaks %lld bytes",
          (long long)(after.bytes_live - base.bytes_live));
    g_calls = 0;
    run_ctx2();
    long n_ctx2 = g_calls;
    CHECK(n_step >= 10 && n_ctx2 >= 1, "too few allocations counted (%ld, %ld)", n_step, n_ctx2);

    if (!tl_fail) {
        sweep("training step", run_step, n_step);
        sweep("ctx_new with 2 threads", run_ctx2, n_ctx2);
    }
    tg_set_allocator(NULL);
    cleanup_fixtures();
    return tl_summary();
}
