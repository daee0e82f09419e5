/* bench_kernels.c: the kernel workloads of the benchmark and the machine
 * description. These reach tapegrad's internals (tg__gemm_f32, the SLEEF
 * maps, the pool), so this file includes internal.h.
 *
 *   gemm     C = A·B in f32 (beta 0), tg__gemm_mt_f32 on the context's pool
 *            (the kernel tg_matmul runs), at 1024³ and at the five products of
 *            one MLP training step (784-500-10, batch 200): fc1 forward
 *            200x500x784, fc1 dW = xᵀ·dh 784x500x200 (A transposed), fc2
 *            forward 200x10x500, fc2 dW 500x10x200, fc2 dx = dy·W2ᵀ
 *            200x500x10 (B transposed); gemm_mlp runs the five in a row.
 *            GFLOP/s = 2·M·N·K / time. bench_torch.py times numpy's sgemm
 *            (np.matmul with out=, transposes as views) on the same shapes.
 *   eltwise  exp and tanh of 1M (2^20) floats through the ops (tg_exp /
 *            tg_tanh on a tape, as a user calls them), the same with scalar
 *            libm (expf/tanhf in a plain loop, split over the same number of
 *            threads), and a STREAM-like copy (memcpy) of 1M floats and of
 *            32M floats (beyond the L3 cache). GB/s counts the bytes read
 *            and written: 8 bytes per element.
 *
 * The peak FP32 rate is cores × FMA lanes per cycle × 2 × frequency: lanes
 * from the ISA this build was compiled for (AVX-512 16, AVX2 8, SSE2 4 per
 * vector) times two FMA pipes, except on AMD Zen 4 (family 0x19), whose two
 * FMA pipes are 256 bits wide and run AVX-512 in two halves (16 lanes per
 * cycle). BENCH_FMA_LANES overrides the lanes. The frequency is measured
 * (a chain of dependent adds, so turbo counts) and /proc/cpuinfo's is printed
 * beside it: under KVM the latter is the nominal clock, below the boost. */
#include "graph_internal.h"
#include "vmath.h"

#include <math.h>
#include <stdint.h>

#include "bench.h"

/* ---- machine ---- */

typedef struct cpuinfo {
    char model[128], vendor[32];
    int family;
    double mhz;
} cpuinfo;

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
}

static cpuinfo read_cpuinfo(void) {
    cpuinfo ci = {"unknown", "unknown", -1, 0};
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        trim(v);
        if (!strncmp(line, "model name", 10)) snprintf(ci.model, sizeof ci.model, "%s", v);
        else if (!strncmp(line, "vendor_id", 9)) snprintf(ci.vendor, sizeof ci.vendor, "%s", v);
        else if (!strncmp(line, "cpu family", 10)) ci.family = atoi(v);
        else if (!strncmp(line, "cpu MHz", 7) && atof(v) > ci.mhz) ci.mhz = atof(v);
    }
    if (f) fclose(f);
    /* cpufreq's maximum, where the kernel exposes it, beats the current clock */
    f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    long khz = 0;
    if (f) {
        if (fscanf(f, "%ld", &khz) == 1 && khz > 0) ci.mhz = (double)khz / 1000.0;
        fclose(f);
    }
    return ci;
}

/* The clock the cores actually run at, in MHz: the best of 10 timings of a
 * chain of dependent integer adds (one cycle each), so turbo counts and a
 * preempted trial does not. 0 where there is no x86-64 inline assembly. */
static double measure_mhz(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    const long iters = 5000000; /* 4 dependent adds each: 20M cycles */
    double best = 1e30;
    for (int t = 0; t < 10; t++) {
        long n = iters, x = 0;
        double t0 = bench_now();
        __asm__ volatile("1:\n\t"
                         "add $1, %0\n\t"
                         "add $1, %0\n\t"
                         "add $1, %0\n\t"
                         "add $1, %0\n\t"
                         "dec %1\n\t"
                         "jnz 1b"
                         : "+r"(x), "+r"(n));
        double dt = bench_now() - t0;
        if (dt < best) best = dt;
    }
    return 4.0 * (double)iters / best / 1e6;
#else
    return 0;
#endif
}

void bench_info(const bench_env *e, FILE *out) {
    cpuinfo ci = read_cpuinfo();
    const char *isa = tg__isa_name();
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    tg_topology topo = ctx ? tg_ctx_topology(ctx) : (tg_topology){0, 0, 0, 0};
    tg_ctx_free(ctx);
    int width = !strcmp(isa, "avx512") ? 16 : !strcmp(isa, "avx2") ? 8 : !strcmp(isa, "sse2") ? 4 : 1;
    int lanes = width == 4 ? 4 : 2 * width; /* SSE2: separate mul and add, counted as lanes × 2 */
    const char *why = width == 4 ? "SSE2 mul + add pipes" : "2 FMA pipes x vector width";
    if (!strcmp(ci.vendor, "AuthenticAMD") && ci.family == 0x19 && width == 16) {
        lanes = 16;
        why = "Zen 4: 2 FMA pipes x 256 bits; AVX-512 runs in two halves";
    }
    const char *env = getenv("BENCH_FMA_LANES");
    if (env && atoi(env) > 0) {
        lanes = atoi(env);
        why = "BENCH_FMA_LANES";
    }
    int cores = topo.cores > 0 ? topo.cores : 1;
    double mhz = measure_mhz(), clock = mhz > 0 ? mhz : ci.mhz;
    double peak = (double)cores * lanes * 2.0 * clock / 1000.0;
    double peak_nominal = (double)cores * lanes * 2.0 * ci.mhz / 1000.0;
    fprintf(out, "info model %s\n", ci.model);
    fprintf(out, "info isa %s\n", isa);
    fprintf(out, "info cores %d\n", cores);
    fprintf(out, "info threads %d\n", e->threads);
    fprintf(out, "info cache l1d=%zuK l2=%zuK l3=%zuK\n", topo.l1d >> 10, topo.l2 >> 10, topo.l3 >> 10);
    fprintf(out, "info mhz %.0f\n", ci.mhz);
    fprintf(out, "info mhz_measured %.0f\n", mhz);
    fprintf(out, "info fma_lanes %d (%s)\n", lanes, why);
    fprintf(out, "info peak_gflops %.1f\n", peak);
    fprintf(out, "info peak_gflops_nominal %.1f\n", peak_nominal);
    fprintf(out,
            "info peak_formula %d cores x %d FP32 FMA lanes/cycle x 2 FLOP x %.3f GHz (measured; /proc/cpuinfo says "
            "%.3f GHz, %.1f GFLOP/s) = %.1f GFLOP/s\n",
            cores, lanes, clock / 1000.0, ci.mhz / 1000.0, peak_nominal, peak);
}

/* ---- gemm ---- */

typedef struct gshape {
    const char *key;
    int ta, tb;
    int64_t M, N, K;
    int iters; /* per repeat, full run (quick: a tenth) */
} gshape;

static const gshape SHAPES[] = {
    {"gemm_1024", 0, 0, 1024, 1024, 1024, 10},  {"gemm_fc1_fwd", 0, 0, 200, 500, 784, 60},
    {"gemm_fc1_dw", 1, 0, 784, 500, 200, 60},   {"gemm_fc2_fwd", 0, 0, 200, 10, 500, 3000},
    {"gemm_fc2_dw", 1, 0, 500, 10, 200, 3000},  {"gemm_fc2_dx", 0, 1, 200, 500, 10, 3000},
};
enum { N_SHAPES = (int)(sizeof SHAPES / sizeof SHAPES[0]), MLP_FIRST = 1, MLP_ITERS = 60 };

static float *g_A, *g_B, *g_C;
static tg_ctx *g_gemm_ctx;

static float *fill_random(int64_t n, uint64_t seed) {
    float *p = aligned_alloc(64, (size_t)n * sizeof(float));
    for (int64_t i = 0; p && i < n; i++) p[i] = (float)((tg_philox(seed, 0, (uint64_t)i) >> 8) * (1.0 / 16777216.0) - 0.5);
    return p;
}

static void gemm_once(const gshape *s) {
    /* A stored (M,K), or (K,M) when transposed; B stored (K,N), or (N,K) */
    tg__gemm_mt_f32(g_gemm_ctx, s->ta, s->tb, s->M, s->N, s->K, g_A, s->ta ? s->M : s->K, g_B,
                    s->tb ? s->K : s->N, 0.0f, g_C, s->N);
}

int bench_gemm(bench_env *e, FILE *out) {
    if (!g_A) {
        if (!(g_gemm_ctx = bench_ctx(e))) return fprintf(out, "error gemm: no memory\n"), -1;
        g_A = fill_random(1 << 20, 1);
        g_B = fill_random(1 << 20, 2);
        g_C = fill_random(1 << 20, 3);
        if (!g_A || !g_B || !g_C) return fprintf(out, "error gemm: no memory\n"), -1;
    }
    for (int i = 0; i < N_SHAPES; i++) {
        const gshape *s = &SHAPES[i];
        int iters = e->quick ? (s->iters + 9) / 10 : s->iters;
        double t0 = bench_now();
        for (int k = 0; k < iters; k++) gemm_once(s);
        double dt = bench_now() - t0;
        fprintf(out, "val %s %.6g GFLOP/s\n", s->key, 2.0 * (double)(s->M * s->N * s->K) * iters / dt / 1e9);
    }
    int iters = e->quick ? MLP_ITERS / 10 : MLP_ITERS;
    double flops = 0, t0 = bench_now();
    for (int k = 0; k < iters; k++)
        for (int i = MLP_FIRST; i < N_SHAPES; i++) gemm_once(&SHAPES[i]);
    double dt = bench_now() - t0;
    for (int i = MLP_FIRST; i < N_SHAPES; i++) flops += 2.0 * (double)(SHAPES[i].M * SHAPES[i].N * SHAPES[i].K);
    fprintf(out, "val gemm_mlp %.6g GFLOP/s\n", flops * iters / dt / 1e9);
    return 0;
}

/* ---- elementwise ---- */

enum { EW_N = 1 << 20, EW_BIG = 32 << 20, EW_TASKS = 16 };

static struct {
    tg_ctx *ctx;
    tg_tensor *xe, *xt; /* (EW_N) inputs of exp in [-10,10], of tanh in [-5,5] */
    float *y, *big_src, *big_dst;
} g_ew;

typedef struct ew_job {
    const float *x;
    float *y;
    int64_t n;
    int fn; /* 0 copy, 1 expf, 2 tanhf */
} ew_job;

static void ew_task(void *arg, int64_t t) {
    const ew_job *j = arg;
    int64_t per = (j->n + EW_TASKS - 1) / EW_TASKS, lo = t * per, hi = lo + per < j->n ? lo + per : j->n;
    if (lo >= hi) return;
    const float *x = j->x;
    float *y = j->y;
    switch (j->fn) {
    case 0: memcpy(y + lo, x + lo, (size_t)(hi - lo) * sizeof(float)); break;
    case 1:
        for (int64_t i = lo; i < hi; i++) y[i] = expf(x[i]);
        break;
    default:
        for (int64_t i = lo; i < hi; i++) y[i] = tanhf(x[i]);
        break;
    }
}

/* GB/s of `iters` passes of job over the pool (8 bytes per element). */
static double ew_pool(tg_ctx *ctx, ew_job *j, int iters) {
    double t0 = bench_now();
    for (int k = 0; k < iters; k++) tg__parallel_for(ctx, EW_TASKS, ew_task, j);
    return 8.0 * (double)j->n * iters / (bench_now() - t0) / 1e9;
}

/* GB/s of `iters` calls of the op (tg_exp: which 1, tg_tanh: 2) on x, one tape each. */
static double ew_op(tg_ctx *ctx, tg_tensor *x, int which, int iters, int *err) {
    double t0 = bench_now();
    for (int k = 0; k < iters; k++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *y = which == 1 ? tg_exp(x) : tg_tanh(x);
        if (!tape || !y) *err = 1;
        if (tape) tg_tape_end(tape);
    }
    return 8.0 * (double)x->numel * iters / (bench_now() - t0) / 1e9;
}

int bench_eltwise(bench_env *e, FILE *out) {
    if (!g_ew.ctx) {
        tg_ctx *ctx = g_ew.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error eltwise: no memory\n"), -1;
        int64_t n[1] = {EW_N};
        g_ew.xe = tg_tensor_new(ctx, TG_F32, 1, n);
        g_ew.xt = tg_tensor_new(ctx, TG_F32, 1, n);
        g_ew.y = aligned_alloc(64, (size_t)EW_N * sizeof(float));
        g_ew.big_src = fill_random(EW_BIG, 4);
        g_ew.big_dst = fill_random(EW_BIG, 5);
        if (!g_ew.xe || !g_ew.xt || !g_ew.y || !g_ew.big_src || !g_ew.big_dst)
            return fprintf(out, "error eltwise: no memory\n"), -1;
        float *xe = g_ew.xe->data, *xt = g_ew.xt->data;
        for (int64_t i = 0; i < EW_N; i++) {
            double u = (double)(tg_philox(6, 0, (uint64_t)i) >> 8) * (1.0 / 16777216.0);
            xe[i] = (float)(20.0 * u - 10.0);
            xt[i] = (float)(10.0 * u - 5.0);
        }
    }
    tg_ctx *ctx = g_ew.ctx;
    int q = e->quick, err = 0;
    ew_job copy = {g_ew.xe->data, g_ew.y, EW_N, 0}, big = {g_ew.big_src, g_ew.big_dst, EW_BIG, 0};
    ew_job lexp = {g_ew.xe->data, g_ew.y, EW_N, 1}, ltanh = {g_ew.xt->data, g_ew.y, EW_N, 2};
    double v_exp = ew_op(ctx, g_ew.xe, 1, q ? 20 : 300, &err);
    double v_exp_libm = ew_pool(ctx, &lexp, q ? 3 : 30);
    double v_tanh = ew_op(ctx, g_ew.xt, 2, q ? 20 : 300, &err);
    double v_tanh_libm = ew_pool(ctx, &ltanh, q ? 3 : 30);
    double v_copy = ew_pool(ctx, &copy, q ? 50 : 1000);
    double v_big = ew_pool(ctx, &big, q ? 1 : 6);
    /* one core, no pool: the SLEEF map alone */
    double t0 = bench_now();
    int it1 = q ? 10 : 100;
    for (int k = 0; k < it1; k++) tg__vexp_f32(g_ew.xe->data, g_ew.y, EW_N);
    double v_sleef1 = 8.0 * EW_N * it1 / (bench_now() - t0) / 1e9;
    if (err) return bench_fail(out, "eltwise", ctx);
    fprintf(out, "val exp %.6g GB/s\nval exp_libm %.6g GB/s\nval tanh %.6g GB/s\nval tanh_libm %.6g GB/s\n", v_exp,
            v_exp_libm, v_tanh, v_tanh_libm);
    fprintf(out, "val copy %.6g GB/s\nval copy_dram %.6g GB/s\nval exp_sleef_1t %.6g GB/s\n", v_copy, v_big, v_sleef1);
    return 0;
}
