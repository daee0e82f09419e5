/* fuzz_checkpoint: libFuzzer target for the checkpoint loader
 * (tg_checkpoint_load, core/io.c, and the JSON parser in core/json.c).
 *
 * The context holds the parameters of the seed checkpoints: fc1.W (3,4) and
 * fc1.b (4) in f32, fc2.W (4,2) and fc2.b (2) in f64, with an Adam
 * optimizer over them. Each input is written to an in-memory file (memfd)
 * and loaded twice: with the optimizer and without (weights only). Before
 * each load every parameter and optimizer slot is reset to known values.
 * Invariants: a failed load returns TG_EFORMAT, TG_ESHAPE, TG_ECHECKSUM,
 * TG_EIO or TG_ENOMEM with a message, and leaves every parameter, every
 * optimizer slot and the step count exactly as they were; a successful load
 * leaves finite-or-not values but no error. A violated invariant aborts,
 * which libFuzzer reports as a crash.
 *
 * With TG_FUZZ_WRITE_SEEDS=DIR set, the first call also writes the seed
 * checkpoints (saved by tg_checkpoint_save from this context) into DIR.
 *
 * Built by `make fuzz` (test/fuzz/run.sh) with -DTG_FUZZ_ENTRY; the normal
 * suite replays the corpus and test/fuzz/regress/ through
 * tg_fuzz_checkpoint_one() (test/test_fuzz_regress.c). */
#include "graph_internal.h" /* the optimizer's slots, to check them */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int tg_fuzz_checkpoint_one(const uint8_t *data, size_t size);

#define NP 4
#define MAXEL 12

static tg_ctx *g_ctx;
static tg_optim *g_opt;
static int g_fd = -1;
static char g_path[64];

/* Known contents for the parameters, the optimizer's slots and steps. */
static void reset(void) {
    for (int i = 0; i < tg_param_count(g_ctx); i++) {
        tg_tensor *p = tg_param_at(g_ctx, i);
        for (int64_t k = 0; k < p->numel; k++) tg_set(p, k, 0.25 * (double)(i + 1) - 0.125 * (double)k);
        for (int s = 0; s < tg__optim_nslots(g_opt); s++) {
            void *b = tg__optim_slot(g_opt, i, s);
            for (int64_t k = 0; k < p->numel; k++) {
                double v = 0.5 * (double)(s + 1) + 0.01 * (double)k;
                if (p->dtype == TG_F32) ((float *)b)[k] = (float)v;
                else ((double *)b)[k] = v;
            }
        }
    }
    tg__optim_set_steps(g_opt, 7);
}

typedef struct snap {
    double v[NP][MAXEL];
    unsigned char slots[NP][2][MAXEL * 8];
    int64_t steps;
} snap;

static void take(snap *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < NP; i++) {
        tg_tensor *p = tg_param_at(g_ctx, i);
        tg_tensor_get_f64(p, s->v[i]);
        for (int k = 0; k < tg__optim_nslots(g_opt) && k < 2; k++)
            memcpy(s->slots[i][k], tg__optim_slot(g_opt, i, k), (size_t)p->numel * tg_dtype_size(p->dtype));
    }
    s->steps = tg_optim_steps(g_opt);
}

static int setup(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    g_ctx = tg_ctx_new(&cfg);
    if (!g_ctx) return -1;
    tg_dense l1, l2;
    if (tg_dense_init(&l1, g_ctx, "fc1", 3, 4, TG_F32, TG_INIT_XAVIER) ||
        tg_dense_init(&l2, g_ctx, "fc2", 4, 2, TG_F64, TG_INIT_XAVIER))
        return -1;
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    g_opt = tg_optim_new(g_ctx, &oc, NULL, 0);
    if (!g_opt) return -1;
    g_fd = memfd_create("tg_fuzz_checkpoint", MFD_CLOEXEC);
    if (g_fd < 0) return -1;
    snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    reset();
    const char *dir = getenv("TG_FUZZ_WRITE_SEEDS");
    if (dir) {
        char p[4096];
        /* two steps of Adam so that the optimizer state is not all zero */
        for (int step = 0; step < 2; step++) {
            for (int i = 0; i < NP; i++) {
                tg_tensor *q = tg_param_at(g_ctx, i);
                for (int64_t k = 0; k < q->numel; k++)
                    if (q->dtype == TG_F32) ((float *)q->grad)[k] = 0.1f * (float)(k + 1 + step);
                    else ((double *)q->grad)[k] = -0.2 * (double)(k + 1 + step);
            }
            tg_optim_step(g_opt);
        }
        tg_optim_zero_grad(g_opt);
        snprintf(p, sizeof p, "%s/with_adam.safetensors", dir);
        if (tg_checkpoint_save(g_ctx, p, g_opt)) fprintf(stderr, "%s\n", tg_last_error(g_ctx));
        snprintf(p, sizeof p, "%s/weights_only.safetensors", dir);
        if (tg_checkpoint_save(g_ctx, p, NULL)) fprintf(stderr, "%s\n", tg_last_error(g_ctx));
        /* the same names in the other dtypes (a converting load) */
        tg_ctx *c2 = tg_ctx_new(&cfg);
        tg_dense m1, m2;
        if (c2 && !tg_dense_init(&m1, c2, "fc1", 3, 4, TG_F64, TG_INIT_XAVIER) &&
            !tg_dense_init(&m2, c2, "fc2", 4, 2, TG_F32, TG_INIT_XAVIER)) {
            tg_optim_config sc = tg_optim_defaults(TG_OPT_MOMENTUM);
            tg_optim *o2 = tg_optim_new(c2, &sc, NULL, 0);
            snprintf(p, sizeof p, "%s/swapped_dtypes_momentum.safetensors", dir);
            if (tg_checkpoint_save(c2, p, o2)) fprintf(stderr, "%s\n", tg_last_error(c2));
            tg_optim_free(o2);
        }
        tg_ctx_free(c2);
        reset();
    }
    return 0;
}

static int fail(const char *what, int with_opt) {
    fprintf(stderr, "fuzz_checkpoint: invariant broken (%s the optimizer): %s; last error: %s\n",
            with_opt ? "with" : "without", what, tg_last_error(g_ctx));
    return 1;
}

/* 0 when every invariant held, 1 otherwise (message on stderr), -1 when the
 * harness itself could not run. */
int tg_fuzz_checkpoint_one(const uint8_t *data, size_t size) {
    if (!g_ctx && setup() != 0) return -1;
    if (ftruncate(g_fd, 0) != 0 || (size && pwrite(g_fd, data, size, 0) != (ssize_t)size)) return -1;
    for (int with_opt = 1; with_opt >= 0; with_opt--) {
        reset();
        snap before, after;
        take(&before);
        tg_clear_error(g_ctx);
        tg_status st = tg_checkpoint_load(g_ctx, g_path, with_opt ? g_opt : NULL);
        take(&after);
        if (st == TG_OK) {
            if (tg_last_status(g_ctx) != TG_OK) return fail("success with an error set", with_opt);
        } else {
            if (st != TG_EFORMAT && st != TG_ESHAPE && st != TG_ECHECKSUM && st != TG_EIO && st != TG_ENOMEM &&
                st != TG_EDTYPE && st != TG_EINVAL)
                return fail("unexpected status", with_opt);
            if (!tg_last_error(g_ctx)[0]) return fail("an error without a message", with_opt);
            if (memcmp(&before, &after, sizeof before) != 0) return fail("a failed load changed the model", with_opt);
        }
    }
    return 0;
}

TG_FUZZ_MAIN(tg_fuzz_checkpoint_one)
