/* bench: tapegrad's side of the speed comparison (issue 7). Not a test:
 * meson builds it, `make bench` runs it through test/bench/compare.py, which
 * interleaves its repeats with PyTorch's (bench_torch.py).
 *
 *   bench [--threads N] [--quick] [--reps N] [--data DIR] [WORKLOAD...]
 *       one warm-up and N (5) timed repeats of each workload (all by
 *       default), then the median of every measurement:
 *       "tapegrad <key> <median> <unit> (n=N)". For profiling:
 *       perf record -g ./bench --reps 3 mlp
 *   bench --serve [--threads N] [--quick] [--data DIR]
 *       the protocol compare.py speaks on stdin/stdout: prints "info ..."
 *       lines and "ready"; then "run <workload>" runs one repeat and answers
 *       "val <key> <value> <unit>" lines (or "error <message>") and "end";
 *       "quit" exits.
 *
 * Workloads: mlp cnn lenet5 lstm treenn overhead gemm eltwise (see
 * bench_models.c and bench_kernels.c). Exit codes: 0 ok, 1 a workload
 * failed, 2 usage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct workload {
    const char *name;
    int (*run)(bench_env *e, FILE *out);
} workload;

static const workload WORKLOADS[] = {
    {"overhead", bench_overhead}, {"treenn", bench_treenn}, {"lstm", bench_lstm}, {"mlp", bench_mlp},
    {"lenet5", bench_lenet5},     {"cnn", bench_cnn},       {"gemm", bench_gemm}, {"eltwise", bench_eltwise},
};
enum { N_WORKLOADS = (int)(sizeof WORKLOADS / sizeof WORKLOADS[0]) };

static const workload *find_workload(const char *name) {
    for (int i = 0; i < N_WORKLOADS; i++)
        if (!strcmp(WORKLOADS[i].name, name)) return &WORKLOADS[i];
    return NULL;
}

/* ---- shared helpers (bench.h) ---- */

const tg_dataset *bench_data(bench_env *e) {
    if (e->ds_state) return &e->ds;
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (ctx && tg_mnist_load(ctx, e->data_dir, "train", &e->ds) == TG_OK) {
        e->ds_state = 1;
    } else {
        fprintf(stderr, "bench: %s; using random data of the same shape\n", ctx ? tg_last_error(ctx) : "no memory");
        int64_t n = 60000, D = 28 * 28;
        e->ds = (tg_dataset){.n = n, .rows = 28, .cols = 28};
        e->ds.images = malloc((size_t)(n * D));
        e->ds.labels = malloc((size_t)n);
        if (!e->ds.images || !e->ds.labels) {
            free(e->ds.images);
            free(e->ds.labels);
            tg_ctx_free(ctx);
            return NULL;
        }
        uint64_t s = 3;
        for (int64_t i = 0; i < n * D; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            e->ds.images[i] = (uint8_t)(s >> 56);
        }
        for (int64_t i = 0; i < n; i++) e->ds.labels[i] = (uint8_t)(e->ds.images[i * D + 400] % 10);
        e->ds_state = 2;
    }
    tg_ctx_free(ctx);
    return &e->ds;
}

tg_ctx *bench_ctx(const bench_env *e) {
    tg_config cfg = tg_config_default();
    cfg.threads = e->threads;
    cfg.seed = 42;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) fprintf(stderr, "bench: out of memory\n");
    return ctx;
}

int bench_fail(FILE *out, const char *who, tg_ctx *ctx) {
    fprintf(out, "error %s: %s\n", who, ctx && tg_last_error(ctx)[0] ? tg_last_error(ctx) : "failed");
    return -1;
}

/* ---- standalone: medians of this side only ---- */

typedef struct meas {
    char key[64], unit[32];
    double v[64];
    int n;
} meas;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Run one repeat into a memory buffer and add its "val" lines to ms. */
static int run_collect(bench_env *e, const workload *w, meas *ms, int *n_ms, int max_ms, int keep) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return -1;
    int rc = w->run(e, f);
    fclose(f);
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[64], unit[32];
        double v;
        if (!strncmp(line, "error", 5)) fprintf(stderr, "bench: %s\n", line);
        if (!keep || sscanf(line, "val %63s %lf %31s", key, &v, unit) != 3) continue;
        int i;
        for (i = 0; i < *n_ms && strcmp(ms[i].key, key); i++) {}
        if (i == *n_ms) {
            if (*n_ms == max_ms) continue;
            memset(&ms[i], 0, sizeof ms[i]);
            snprintf(ms[i].key, sizeof ms[i].key, "%s", key);
            snprintf(ms[i].unit, sizeof ms[i].unit, "%s", unit);
            (*n_ms)++;
        }
        if (ms[i].n < 64) ms[i].v[ms[i].n++] = v;
    }
    free(buf);
    return rc;
}

static int standalone(bench_env *e, int reps, char **names, int n_names) {
    bench_info(e, stdout);
    int rc = 0;
    for (int wi = 0; wi < (n_names ? n_names : N_WORKLOADS); wi++) {
        const workload *w = n_names ? find_workload(names[wi]) : &WORKLOADS[wi];
        meas ms[16];
        int n_ms = 0;
        if (run_collect(e, w, ms, &n_ms, 16, 0) != 0) { /* warm-up */
            rc = 1;
            continue;
        }
        for (int r = 0; r < reps; r++)
            if (run_collect(e, w, ms, &n_ms, 16, 1) != 0) rc = 1;
        for (int i = 0; i < n_ms; i++) {
            qsort(ms[i].v, (size_t)ms[i].n, sizeof(double), cmp_double);
            int n = ms[i].n;
            double med = n % 2 ? ms[i].v[n / 2] : 0.5 * (ms[i].v[n / 2 - 1] + ms[i].v[n / 2]);
            printf("tapegrad %s %.4g %s (n=%d, min %.4g, max %.4g)\n", ms[i].key, med, ms[i].unit, n, ms[i].v[0],
                   ms[i].v[n - 1]);
        }
        fflush(stdout);
    }
    return rc;
}

/* ---- serve: the protocol of compare.py ---- */

static int serve(bench_env *e) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    bench_info(e, stdout);
    printf("ready\n");
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "quit")) break;
        const workload *w = !strncmp(line, "run ", 4) ? find_workload(line + 4) : NULL;
        if (!w) printf("error unknown request '%s'\n", line);
        else w->run(e, stdout);
        printf("end\n");
        fflush(stdout);
    }
    return 0;
}

static int usage(const char *msg) {
    fprintf(stderr,
            "bench: %s\nusage: bench [--threads N] [--quick] [--reps N] [--data DIR] [--serve] [WORKLOAD...]\n"
            "workloads:",
            msg);
    for (int i = 0; i < N_WORKLOADS; i++) fprintf(stderr, " %s", WORKLOADS[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv) {
    bench_env e = {.threads = 2, .data_dir = tg_default_data_dir()};
    int reps = 5, serve_mode = 0, n_names = 0;
    char **names = calloc((size_t)argc, sizeof *names);
    if (!names) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage("tapegrad's side of test/bench/compare.py");
            free(names);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            e.quick = 1;
        } else if (!strcmp(a, "--serve")) {
            serve_mode = 1;
        } else if ((!strcmp(a, "--threads") || !strcmp(a, "--reps") || !strcmp(a, "--data")) && i + 1 < argc) {
            const char *v = argv[++i];
            char *end;
            long n = strtol(v, &end, 10);
            if (!strcmp(a, "--data")) e.data_dir = v;
            else if (*end || n < 1 || n > (strcmp(a, "--reps") ? 256 : 63)) {
                free(names);
                return usage("bad number");
            } else if (!strcmp(a, "--threads")) e.threads = (int)n;
            else reps = (int)n;
        } else if (a[0] != '-' && find_workload(a)) {
            names[n_names++] = argv[i];
        } else {
            free(names);
            return usage(a[0] == '-' ? "unknown or incomplete option" : "unknown workload");
        }
    }
    int rc = serve_mode ? serve(&e) : standalone(&e, reps, names, n_names);
    free(names);
    return rc;
}
