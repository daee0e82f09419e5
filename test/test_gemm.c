/* test_gemm: the GEMM kernels (core/gemm*.c) against a long-double reference.
 *
 * Every path the dispatcher can pick (rank-1 for K = 1, the direct loops for
 * tiny products and M = 1, the narrow-N kernels, the packed/in-place blocked
 * loops with their edge tiles) is reached by sweeping M and N over sizes
 * around the vector widths and tile sizes (1..200), K over 1..600 (thinned
 * above 100), all four transpose combinations and beta 0/1, in f32 and f64,
 * with leading dimensions larger than the rows, plus the shapes of the
 * examples (the MLP's five products, the tree net's, narrow and tall ones)
 * and empty products (M, N or K = 0, serial and threaded).
 * Each result element must be within TOL·(K + 2) of the exact sum, relative
 * to Σ|a·b| (+ |beta·c|), computed here in long double; and the guard band of
 * columns beyond N and elements beyond the last row must be untouched (no
 * kernel writes outside C). Each case is a check of test/testlib.h: prints
 * the failing cases and "N passed, N failed"; exits 1 on any failure. An optional argument names a file that receives a
 * hash of every case's result bits (to compare two builds bitwise). */
#include "graph_internal.h"
#include "testlib.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 88172645463325252ull;
static double rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (double)(s >> 11) / 9007199254740992.0 * 2 - 1; }
static uint64_t fnv(const void *p, size_t n, uint64_t h) { const unsigned char *c = p; for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull; return h; }

#define GUARD 7

#define CASE(T, S, TOL)                                                                                  \
static void case_##S(FILE *out, int tA, int tB, int64_t M, int64_t N, int64_t K, int beta) {              \
    int64_t lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + GUARD;                            \
    int64_t ar = tA ? K : M, br = tB ? N : K;                                                            \
    T *A = malloc(sizeof(T) * (size_t)(ar * lda + 1)), *B = malloc(sizeof(T) * (size_t)(br * ldb + 1));   \
    T *C = malloc(sizeof(T) * (size_t)(M * ldc + GUARD)), *C0 = malloc(sizeof(T) * (size_t)(M * ldc + GUARD)); \
    for (int64_t i = 0; i < ar * lda; i++) A[i] = (T)rnd();                                              \
    for (int64_t i = 0; i < br * ldb; i++) B[i] = (T)rnd();                                              \
    for (int64_t i = 0; i < M * ldc + GUARD; i++) C0[i] = C[i] = (T)rnd();                               \
    tg__gemm_##S(tA, tB, M, N, K, A, lda, B, ldb, (T)beta, C, ldc);                                     \
    double worst = 0;                                                                                    \
    uint64_t h = 1469598103934665603ull;                                                                 \
    for (int64_t i = 0; i < M; i++) {                                                                    \
        for (int64_t j = 0; j < N; j++) {                                                                \
            long double r = beta ? C0[i * ldc + j] : 0, m = beta ? fabsl((long double)C0[i*ldc+j]) : 0;  \
            for (int64_t k = 0; k < K; k++) {                                                            \
                long double x = tA ? A[k * lda + i] : A[i * lda + k], y = tB ? B[j * ldb + k] : B[k * ldb + j]; \
                r += x * y; m += fabsl(x * y);                                                           \
            }                                                                                            \
            double e = (double)(fabsl(C[i * ldc + j] - r) / (m + 1e-30L));                               \
            if (!(e <= worst)) worst = e;                                                                \
        }                                                                                                \
        for (int64_t j = N; j < ldc && i * ldc + j < M * ldc + GUARD; j++)                               \
            if (memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(T))) { FAILF("GUARD " #S " %d%d %lldx%lldx%lld b%d row %lld col %lld", tA, tB, (long long)M, (long long)N, (long long)K, beta, (long long)i, (long long)j); break; } \
        h = fnv(C + i * ldc, sizeof(T) * (size_t)N, h);                                                  \
    }                                                                                                    \
    for (int64_t j = M * ldc; j < M * ldc + GUARD; j++) if (memcmp(&C[j], &C0[j], sizeof(T))) { FAILF("GUARD-END " #S " %d%d %lldx%lldx%lld b%d", tA, tB, (long long)M, (long long)N, (long long)K, beta); break; } \
    CHECK(worst <= TOL * (double)(K + 2), "ERR " #S " %d%d %lldx%lldx%lld b%d rel %g", tA, tB, (long long)M, (long long)N, (long long)K, beta, worst); \
    fprintf(out, #S " %d %d %lld %lld %lld %d %016llx\n", tA, tB, (long long)M, (long long)N, (long long)K, beta, (unsigned long long)h); \
    free(A); free(B); free(C); free(C0);                                                                 \
}
CASE(float, f32, 1.2e-7)
CASE(double, f64, 2.3e-16)

/* The multi-threaded entry: C cut into tiles that depend only on the shape
 * (narrower column tiles for single-row-tile products such as the LSTM's).
 * The result must be bitwise the same with 1, 2 and 3 threads, and within
 * the same bound of the long-double reference. */
static tg_ctx *g_ctx[3];
#define MTCASE(T, S, TOL)                                                                                \
static void mtcase_##S(int tA, int tB, int64_t M, int64_t N, int64_t K, int beta, int64_t rstep) {       \
    int64_t lda = (tA ? M : K) + 1, ldb = (tB ? K : N) + 3, ldc = N + 2;                                \
    int64_t ar = tA ? K : M, br = tB ? N : K;                                                            \
    T *A = malloc(sizeof(T) * (size_t)(ar * lda)), *B = malloc(sizeof(T) * (size_t)(br * ldb));          \
    T *C0 = malloc(sizeof(T) * (size_t)(M * ldc)), *C[3];                                                \
    for (int64_t i = 0; i < ar * lda; i++) A[i] = (T)rnd();                                              \
    for (int64_t i = 0; i < br * ldb; i++) B[i] = (T)rnd();                                              \
    for (int64_t i = 0; i < M * ldc; i++) C0[i] = (T)rnd();                                              \
    for (int t = 0; t < 3; t++) {                                                                        \
        C[t] = malloc(sizeof(T) * (size_t)(M * ldc));                                                    \
        memcpy(C[t], C0, sizeof(T) * (size_t)(M * ldc));                                                 \
        tg__gemm_mt_##S(g_ctx[t], tA, tB, M, N, K, A, lda, B, ldb, (T)beta, C[t], ldc);                  \
    }                                                                                                    \
    for (int t = 1; t < 3; t++)                                                                          \
        CHECK(!memcmp(C[0], C[t], sizeof(T) * (size_t)(M * ldc)),                                        \
              "MT " #S " %d%d %lldx%lldx%lld b%d: %d threads differ from 1 thread", tA, tB,              \
              (long long)M, (long long)N, (long long)K, beta, t + 1);                                    \
    double worst = 0;                                                                                    \
    for (int64_t i = 0; i < M; i += (i + rstep < M || i == M - 1) ? rstep : M - 1 - i)                  \
        for (int64_t j = 0; j < ldc; j++) {                                                              \
            if (j >= N) { /* the columns beyond N are not C's */                                        \
                if (memcmp(&C[1][i * ldc + j], &C0[i * ldc + j], sizeof(T))) { worst = 1; }              \
                continue;                                                                                \
            }                                                                                            \
            long double r = beta ? C0[i * ldc + j] : 0, m = beta ? fabsl((long double)C0[i*ldc+j]) : 0;  \
            for (int64_t k = 0; k < K; k++) {                                                            \
                long double x = tA ? A[k * lda + i] : A[i * lda + k], y = tB ? B[j * ldb + k] : B[k * ldb + j]; \
                r += x * y; m += fabsl(x * y);                                                           \
            }                                                                                            \
            double e = (double)(fabsl(C[1][i * ldc + j] - r) / (m + 1e-30L));                            \
            if (!(e <= worst)) worst = e;                                                                \
        }                                                                                                \
    CHECK(worst <= TOL * (double)(K + 2), "MT-ERR " #S " %d%d %lldx%lldx%lld b%d rel %g", tA, tB,       \
          (long long)M, (long long)N, (long long)K, beta, worst);                                        \
    free(A); free(B); free(C0); for (int t = 0; t < 3; t++) free(C[t]);                                  \
}
MTCASE(float, f32, 1.2e-7)
MTCASE(double, f64, 2.3e-16)

int main(int argc, char **argv) {
    FILE *out = fopen(argc > 1 ? argv[1] : "/dev/null", "w");
    static const int64_t dims[] = {1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 15, 16, 17, 24, 31, 33, 48, 63, 64, 65, 100, 128, 200};
    static const int64_t ks[] = {1, 2, 3, 7, 8, 9, 16, 17, 64, 100, 128, 257, 300, 513, 600};
    int nd = sizeof dims / sizeof dims[0], nk = sizeof ks / sizeof ks[0];
    for (int a = 0; a < nd; a++)
        for (int b = 0; b < nd; b++)
            for (int c = 0; c < nk; c++) {
                if ((a + b + c) % 3 && ks[c] > 100) continue; /* thin the big ones */
                for (int t = 0; t < 8; t++) {
                    case_f32(out, t & 1, (t >> 1) & 1, dims[a], dims[b], ks[c], t >> 2);
                    case_f64(out, t & 1, (t >> 1) & 1, dims[a], dims[b], ks[c], t >> 2);
                }
            }
    /* the named shapes */
    static const int64_t named[][3] = {{1, 64, 128}, {1, 128, 64}, {128, 64, 1}, {64, 5, 1}, {1, 5, 64}, {1, 64, 5},
        {200, 10, 500}, {500, 10, 200}, {200, 500, 10}, {200, 500, 784}, {784, 500, 200}, {1, 500, 784}, {1, 784, 500},
        {96, 256, 500}, {300, 10, 1000}, {1000, 12, 300}, {777, 33, 129}, {1, 1000, 3}, {2, 1000, 2}, {40, 10, 700}};
    for (size_t n = 0; n < sizeof named / sizeof named[0]; n++)
        for (int t = 0; t < 8; t++) {
            case_f32(out, t & 1, (t >> 1) & 1, named[n][0], named[n][1], named[n][2], t >> 2);
            case_f64(out, t & 1, (t >> 1) & 1, named[n][0], named[n][1], named[n][2], t >> 2);
        }
    /* the multi-threaded entry: the LSTM's products (B = 32, H = 128, V = 96),
     * the MLP's, shapes around the tile sizes (192 rows, 64/256 columns) */
    for (int t = 0; t < 3; t++) {
        tg_config cfg = tg_config_default();
        cfg.threads = t + 1;
        g_ctx[t] = tg_ctx_new(&cfg);
        if (!g_ctx[t]) { FAILF("no context with %d threads", t + 1); return tl_summary(); }
    }
    static const int64_t mt[][3] = {{32, 512, 128}, {32, 128, 512}, {128, 512, 32}, {2048, 96, 128}, {128, 96, 2048},
        {2048, 128, 96}, {200, 500, 784}, {784, 500, 200}, {200, 784, 500}, {32, 64, 2000}, {100, 200, 300},
        {192, 257, 100}, {193, 1025, 40}, {50, 1000, 90}, {1, 4000, 1000}, {7, 130, 5000}};
    for (size_t n = 0; n < sizeof mt / sizeof mt[0]; n++)
        for (int t = 0; t < 8; t++) {
            mtcase_f32(t & 1, (t >> 1) & 1, mt[n][0], mt[n][1], mt[n][2], t >> 2, 1);
            mtcase_f64(t & 1, (t >> 1) & 1, mt[n][0], mt[n][1], mt[n][2], t >> 2, 1);
        }
    /* a product over GEMM_BIG_FLOPS (1 GFLOP), which gets 512 × 512 tiles: 2
     * row tiles of 264, column tiles 512, 512, 6. Bitwise at 1, 2, 3 threads
     * over all of C; against the long-double reference on every 13th row
     * and the last (rows 0, 13, .. 507, 519: both row tiles), to bound the
     * time. Two variants. */
    mtcase_f32(0, 0, 520, 1030, 1000, 0, 13);
    mtcase_f32(1, 1, 520, 1030, 1000, 1, 13);
    mtcase_f64(0, 0, 520, 1030, 1000, 0, 13);
    mtcase_f64(1, 1, 520, 1030, 1000, 1, 13);
    /* Empty products (issue 21): M, N or K = 0 divided by zero in the tiling
     * of the multi-threaded entry (SIGFPE). M = 0 or N = 0: C is empty and
     * nothing is written (the guard columns stay); K = 0: C = beta·C, exact
     * zeros for beta 0. Every variant, serial and at 1, 2 and 3 threads,
     * including shapes whose other two sizes would be split into tiles. */
    static const int64_t empty[][3] = {{0, 5, 3}, {4, 0, 3}, {4, 5, 0}, {0, 0, 0}, {1, 0, 2}, {1, 6, 0}, {17, 2, 0},
        {0, 300, 700}, {300, 0, 700}, {300, 700, 0}, {1000, 1000, 0}};
    for (size_t n = 0; n < sizeof empty / sizeof empty[0]; n++)
        for (int t = 0; t < 8; t++) {
            case_f32(out, t & 1, (t >> 1) & 1, empty[n][0], empty[n][1], empty[n][2], t >> 2);
            case_f64(out, t & 1, (t >> 1) & 1, empty[n][0], empty[n][1], empty[n][2], t >> 2);
            mtcase_f32(t & 1, (t >> 1) & 1, empty[n][0], empty[n][1], empty[n][2], t >> 2, 1);
            mtcase_f64(t & 1, (t >> 1) & 1, empty[n][0], empty[n][1], empty[n][2], t >> 2, 1);
        }
    for (int t = 0; t < 3; t++) tg_ctx_free(g_ctx[t]);
    fclose(out);
    return tl_summary();
}
