/* gemm.c: C(M,N) = beta·C + op(A)·op(B), row-major, beta 0 or 1, for f32 and
 * f64. transA: A is stored (K,M); transB: B is stored (N,K).
 *
 * Structure (GotoBLAS/BLIS loops, written for row-major C):
 *
 *   for m0 in M step MB:                      A block rows
 *     for k0 in K step kc (<= KC):            one rank-kc update of C
 *       pack A[m0:m0+MB, k0:k0+kc] into MR-row micro-panels    (L2/L3)
 *       for n0 in N step NC:
 *         pack B[k0:k0+kc, n0:n0+NC] into NR-column micro-panels (L2)
 *         for each A micro-panel (MR rows):   stays in L1 while ...
 *           for each B micro-panel (NR cols): ... B micro-panels stream from L2
 *             micro-kernel: MR×NR tile of C in registers
 *
 * The micro-kernel keeps an MR×NR tile of C in vector registers, broadcasts
 * one element of the A micro-panel per row and multiplies it with the NR/VL
 * vectors of one row of the B micro-panel, k by k. Packed layouts: A
 * micro-panel [k][MR]; B micro-panel [k][w], w = NR, or for the last columns
 * the narrowest multiple of the vector width VL that covers them. Packing pads
 * with zeros, so every kernel call computes a full tile; a tile that overhangs
 * C goes through a scratch tile. Packing also absorbs the transposes, so all
 * four (transA, transB) variants share one kernel. An operand that would be
 * packed for only one or two uses is read in place instead (see PACK*).
 *
 * Blocking, for this machine (AMD Zen 4: 32 KiB L1d and 1 MiB L2 per core,
 * 32 MiB L3), checked with a sweep of KC and NC (all choices within the
 * timing noise of ±5% on 1024^3 and the MLP shapes, except that short
 * blocks cost): K is cut into equal blocks of at most KC, so K = 784 runs as
 * 2 × 392, not 512 + 272, and M into equal blocks of at most MB rows. f32: KC 512, NC 256: the A micro-panel (6×512×4 =
 * 12 KiB) stays in L1 beside the streaming B rows, and the B block (512×256×4
 * = 512 KiB) fills half of L2. f64: KC 256, NC 256: the same byte sizes. MB
 * bounds the packed A block (768 rows f32 = 1.5 MiB, in L2/L3); it is reused
 * by every B block of the rank-kc update.
 *
 * Determinism: every element of C is one FMA chain over k in increasing
 * order inside each K block, added to C block after block (k0 increasing).
 * Nothing depends on which tile, or which thread, computes an element, so the
 * n0 blocks and the A micro-panels of macro_*() can later be split across
 * threads in any fixed way without changing a bit. Only the shape picks the
 * path (packed, in place, direct), never the thread count. With K <= KC an
 * element gets exactly C + (A·B)[i,j], so accumulating the same product twice
 * (beta = 1) gives exactly twice the product.
 *
 * ISA (compile time): AVX-512F (6×64 f32, 6×32 f64 tiles: 24 zmm
 * accumulators), AVX2+FMA (6×16 / 6×8: 12 ymm), SSE2 (4×8 / 4×4, mul+add)
 * or plain C (4×4). On Zen 4 the AVX2 kernel reaches the same speed (both
 * issue two 256-bit FMAs per cycle); AVX-512 needs fewer instructions.
 * Measured (1 core, 3.3-3.55 GHz, f32 peak ≈ 105-113 GFLOP/s): 1024^3
 * 88-100 GFLOP/s f32, 43-48 f64; the MLP's 200x784x500 shapes (forward,
 * transA and transB backward) 93-105 f32.
 *
 * Scratch for the packed blocks is a per-thread buffer that grows once and is
 * kept, so a steady-state training step allocates nothing
 * (tg__gemm_free_scratch releases it). When it cannot be allocated, or the
 * problem is tiny, a direct loop computes the product (same results up to
 * rounding; an allocation failure is not an error). */
#include "internal.h"

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#endif

/* ---- vector abstraction per ISA ---- */
#if defined(__AVX512F__)
#define ISA_NVMAX 4
#define MR_f32 6
#define MR_f64 6
typedef __m512 vt_f32;
typedef __m512d vt_f64;
#define VL_f32 16
#define VL_f64 8
#define VLD_f32 _mm512_loadu_ps
#define VLD_f64 _mm512_loadu_pd
#define VST_f32 _mm512_storeu_ps
#define VST_f64 _mm512_storeu_pd
#define VSET1_f32 _mm512_set1_ps
#define VSET1_f64 _mm512_set1_pd
#define VZERO_f32 _mm512_setzero_ps
#define VZERO_f64 _mm512_setzero_pd
#define VFMA_f32(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VFMA_f64(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VADD_f32 _mm512_add_ps
#define VADD_f64 _mm512_add_pd
#elif defined(__AVX2__) && defined(__FMA__)
#define ISA_NVMAX 2
#define MR_f32 6
#define MR_f64 6
typedef __m256 vt_f32;
typedef __m256d vt_f64;
#define VL_f32 8
#define VL_f64 4
#define VLD_f32 _mm256_loadu_ps
#define VLD_f64 _mm256_loadu_pd
#define VST_f32 _mm256_storeu_ps
#define VST_f64 _mm256_storeu_pd
#define VSET1_f32 _mm256_set1_ps
#define VSET1_f64 _mm256_set1_pd
#define VZERO_f32 _mm256_setzero_ps
#define VZERO_f64 _mm256_setzero_pd
#define VFMA_f32(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VFMA_f64(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VADD_f32 _mm256_add_ps
#define VADD_f64 _mm256_add_pd
#elif defined(__SSE2__)
#define ISA_NVMAX 2
#define MR_f32 4
#define MR_f64 4
typedef __m128 vt_f32;
typedef __m128d vt_f64;
#define VL_f32 4
#define VL_f64 2
#define VLD_f32 _mm_loadu_ps
#define VLD_f64 _mm_loadu_pd
#define VST_f32 _mm_storeu_ps
#define VST_f64 _mm_storeu_pd
#define VSET1_f32 _mm_set1_ps
#define VSET1_f64 _mm_set1_pd
#define VZERO_f32 _mm_setzero_ps
#define VZERO_f64 _mm_setzero_pd
#define VFMA_f32(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define VFMA_f64(a, b, c) _mm_add_pd(_mm_mul_pd(a, b), c)
#define VADD_f32 _mm_add_ps
#define VADD_f64 _mm_add_pd
#else /* plain C: a "vector" is one element */
#define ISA_NVMAX 4
#define MR_f32 4
#define MR_f64 4
typedef float vt_f32;
typedef double vt_f64;
#define VL_f32 1
#define VL_f64 1
#define VLD_f32(p) (*(p))
#define VLD_f64(p) (*(p))
#define VST_f32(p, v) (*(p) = (v))
#define VST_f64(p, v) (*(p) = (v))
#define VSET1_f32(x) (x)
#define VSET1_f64(x) (x)
#define VZERO_f32() 0.0f
#define VZERO_f64() 0.0
#define VFMA_f32(a, b, c) ((a) * (b) + (c))
#define VFMA_f64(a, b, c) ((a) * (b) + (c))
#define VADD_f32(a, b) ((a) + (b))
#define VADD_f64(a, b) ((a) + (b))
#endif

#define NR_f32 (ISA_NVMAX * VL_f32)
#define NR_f64 (ISA_NVMAX * VL_f64)

/* Blocking (see the top of the file): K blocks of at most KC, B blocks of
 * NC columns, A blocks of MB rows (a multiple of MR). */
#define KC_f32 512
#define NC_f32 256
#define MB_f32 (MR_f32 * 128)
#define KC_f64 256
#define NC_f64 256
#define MB_f64 (MR_f64 * 64)

/* When to pack. A block is packed when at least PACKA_MIN_PANELS B micro-
 * panels reuse each A micro-panel (N > 4·NR), B when at least
 * PACKB_MIN_PANELS A micro-panels reuse each B micro-panel (M > 7·MR), and
 * always for transB (its rows must be turned into vectors). Otherwise the
 * kernel reads the operand in place: packing a panel for one or two uses
 * costs more than it saves (N = 10: 33 -> 62 GFLOP/s; M = 32: 82 -> 94).
 * Packing matters for large power-of-two leading dimensions (1024^3 read in
 * place: 73 GFLOP/s; packed: 100), where rows in place alias in the caches. */
#define PACKA_MIN_PANELS 5
#define PACKB_MIN_PANELS 8

/* Below this many multiply-adds (or with M < DIRECT_M) packing costs more
 * than it saves: the direct loop runs instead. */
#define DIRECT_FLOPS 4096
#define DIRECT_M 2

/* ---- per-thread scratch ---- */

static _Thread_local void *g_scratch;      /* as returned by tg__malloc */
static _Thread_local size_t g_scratch_cap; /* usable bytes after alignment */

/* The largest packing buffer any product can ask for (the full A block plus
 * the full B block, f32 or f64). The first request allocates this much, so a
 * thread's scratch is allocated once, at its first GEMM, and never again:
 * allocation counts do not depend on which thread got which tile. */
#define SCRATCH_MAX_F32 (((size_t)MB_f32 * KC_f32 + 15) / 16 * 16 + (size_t)NC_f32 * KC_f32) * sizeof(float)
#define SCRATCH_MAX_F64 (((size_t)MB_f64 * KC_f64 + 15) / 16 * 16 + (size_t)NC_f64 * KC_f64) * sizeof(double)
#define SCRATCH_MAX (SCRATCH_MAX_F32 > SCRATCH_MAX_F64 ? SCRATCH_MAX_F32 : SCRATCH_MAX_F64)

static void *scratch_get(size_t bytes) {
    if (bytes <= g_scratch_cap) return (void *)(((uintptr_t)g_scratch + 63) & ~(uintptr_t)63);
    if (bytes < SCRATCH_MAX) bytes = SCRATCH_MAX;
    tg__free(g_scratch);
    g_scratch = tg__malloc(bytes + 64);
    g_scratch_cap = g_scratch ? bytes : 0;
    if (!g_scratch) return NULL;
    return (void *)(((uintptr_t)g_scratch + 63) & ~(uintptr_t)63);
}

void tg__gemm_reserve_scratch(void) { (void)scratch_get(SCRATCH_MAX); }

void tg__gemm_free_scratch(void) {
    tg__free(g_scratch);
    g_scratch = NULL;
    g_scratch_cap = 0;
}

/* ---- micro-kernels ----
 * c[MR × NV·VL] (row stride ldc) = (add ? c : 0) + a·b over kc. Element
 * (i,k) of the A micro-panel is a[i·rsa + k·csa]; row k of the B micro-panel
 * is the NV·VL contiguous elements at b + k·rsb. Packed panels have rsa = 1,
 * csa = MR, rsb = NV·VL; the "direct" variants read A and B where they lie
 * (used when a panel would be packed for a single use). */

#define UKR(T, S, NV)                                                                      \
    static inline __attribute__((always_inline)) void ukr_body_##S##_##NV(                 \
        int64_t kc, const T *restrict a, int64_t rsa, int64_t csa, const T *restrict b,    \
        int64_t rsb, T *restrict c, int64_t ldc, int add) {                                \
        enum { MR = MR_##S, VL = VL_##S };                                                 \
        vt_##S acc[MR][NV];                                                                \
        for (int i = 0; i < MR; i++)                                                       \
            for (int v = 0; v < NV; v++) acc[i][v] = VZERO_##S();                          \
        for (int64_t k = 0; k < kc; k++) {                                                 \
            vt_##S bv[NV];                                                                 \
            for (int v = 0; v < NV; v++) bv[v] = VLD_##S(b + v * VL);                      \
            for (int i = 0; i < MR; i++) {                                                 \
                vt_##S av = VSET1_##S(a[i * rsa]);                                         \
                for (int v = 0; v < NV; v++) acc[i][v] = VFMA_##S(av, bv[v], acc[i][v]);   \
            }                                                                              \
            a += csa;                                                                      \
            b += rsb;                                                                      \
        }                                                                                  \
        if (add) {                                                                         \
            for (int i = 0; i < MR; i++)                                                   \
                for (int v = 0; v < NV; v++) {                                             \
                    T *p = c + i * ldc + v * VL;                                           \
                    VST_##S(p, VADD_##S(VLD_##S(p), acc[i][v]));                           \
                }                                                                          \
        } else {                                                                           \
            for (int i = 0; i < MR; i++)                                                   \
                for (int v = 0; v < NV; v++) VST_##S(c + i * ldc + v * VL, acc[i][v]);     \
        }                                                                                  \
    }                                                                                      \
    static void ukr_##S##_##NV(int64_t kc, const T *a, int64_t rsa, int64_t csa, const T *b, \
                               int64_t rsb, T *c, int64_t ldc, int add) {                  \
        if (rsa == 1 && csa == MR_##S && rsb == NV * VL_##S) /* packed: constant strides */ \
            ukr_body_##S##_##NV(kc, a, 1, MR_##S, b, NV * VL_##S, c, ldc, add);            \
        else                                                                               \
            ukr_body_##S##_##NV(kc, a, rsa, csa, b, rsb, c, ldc, add);                     \
    }

typedef void (*ukr_f32_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *,
                           int64_t, int);
typedef void (*ukr_f64_fn)(int64_t, const double *, int64_t, int64_t, const double *, int64_t,
                           double *, int64_t, int);

UKR(float, f32, 1)
UKR(float, f32, 2)
UKR(double, f64, 1)
UKR(double, f64, 2)
#if ISA_NVMAX >= 4
UKR(float, f32, 3)
UKR(float, f32, 4)
UKR(double, f64, 3)
UKR(double, f64, 4)
static const ukr_f32_fn ukr_f32[5] = {NULL, ukr_f32_1, ukr_f32_2, ukr_f32_3, ukr_f32_4};
static const ukr_f64_fn ukr_f64[5] = {NULL, ukr_f64_1, ukr_f64_2, ukr_f64_3, ukr_f64_4};
#else
static const ukr_f32_fn ukr_f32[3] = {NULL, ukr_f32_1, ukr_f32_2};
static const ukr_f64_fn ukr_f64[3] = {NULL, ukr_f64_1, ukr_f64_2};
#endif

/* ---- the generic driver, instantiated per dtype ---- */

#define GEMM_IMPL(T, S)                                                                     \
    /* Direct loop: small problems and the no-memory fallback. Each C element */          \
    /* is C + (its full dot product), like the packed path when K <= KC. */                \
    static void direct_##S(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A,     \
                           int64_t lda, const T *B, int64_t ldb, int add, T *C,             \
                           int64_t ldc) {                                                   \
        enum { CHUNK = 256 };                                                               \
        T acc[CHUNK];                                                                       \
        for (int64_t i = 0; i < M; i++) {                                                   \
            T *c = C + i * ldc;                                                             \
            for (int64_t j0 = 0; j0 < N; j0 += CHUNK) {                                     \
                int64_t nj = N - j0 < CHUNK ? N - j0 : CHUNK;                               \
                if (!tB) {                                                                  \
                    for (int64_t j = 0; j < nj; j++) acc[j] = 0;                            \
                    for (int64_t k = 0; k < K; k++) {                                       \
                        T a = tA ? A[k * lda + i] : A[i * lda + k];                         \
                        const T *restrict b = B + k * ldb + j0;                             \
                        for (int64_t j = 0; j < nj; j++) acc[j] += a * b[j];                \
                    }                                                                       \
                } else {                                                                    \
                    /* dot products: 8 partial sums in a fixed order */                    \
                    for (int64_t j = 0; j < nj; j++) {                                      \
                        const T *b = B + (j0 + j) * ldb;                                    \
                        T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                  \
                        int64_t k = 0;                                                      \
                        if (!tA) {                                                          \
                            const T *a = A + i * lda;                                       \
                            for (; k + 8 <= K; k += 8)                                      \
                                for (int t = 0; t < 8; t++) s[t] += a[k + t] * b[k + t];    \
                        }                                                                   \
                        for (int t = 0; k < K; k++, t = (t + 1) & 7)                        \
                            s[t] += (tA ? A[k * lda + i] : A[i * lda + k]) * b[k];          \
                        acc[j] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); \
                    }                                                                       \
                }                                                                           \
                if (add)                                                                    \
                    for (int64_t j = 0; j < nj; j++) c[j0 + j] += acc[j];                   \
                else                                                                        \
                    for (int64_t j = 0; j < nj; j++) c[j0 + j] = acc[j];                    \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    /* A[m0:m0+mb, k0:k0+kc] -> MR-row micro-panels [k][MR], zero-padded rows. */           \
    static void pack_a_##S(int tA, const T *A, int64_t lda, int64_t m0, int64_t mb,         \
                           int64_t k0, int64_t kc, T *restrict dst) {                       \
        enum { MR = MR_##S };                                                               \
        for (int64_t p = 0; p < mb; p += MR, dst += MR * kc) {                              \
            int64_t mr = mb - p < MR ? mb - p : MR;                                         \
            if (tA) {                                                                       \
                for (int64_t k = 0; k < kc; k++) {                                          \
                    const T *src = A + (k0 + k) * lda + m0 + p;                             \
                    int64_t r = 0;                                                          \
                    for (; r < mr; r++) dst[k * MR + r] = src[r];                           \
                    for (; r < MR; r++) dst[k * MR + r] = 0;                                \
                }                                                                           \
            } else {                                                                        \
                for (int64_t r = 0; r < MR; r++) {                                          \
                    if (r >= mr) {                                                          \
                        for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = 0;               \
                        continue;                                                           \
                    }                                                                       \
                    const T *src = A + (m0 + p + r) * lda + k0;                             \
                    for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = src[k];              \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    /* B[k0:k0+kc, n0:n0+nb] -> micro-panels [k][w]: w = NR, and for the last */           \
    /* columns the narrowest multiple of VL that covers them (zero-padded). */              \
    static void pack_b_##S(int tB, const T *B, int64_t ldb, int64_t k0, int64_t kc,         \
                           int64_t n0, int64_t nb, T *restrict dst) {                       \
        enum { NR = NR_##S, VL = VL_##S };                                                  \
        for (int64_t q = 0; q < nb; q += NR) {                                              \
            int64_t nr = nb - q < NR ? nb - q : NR;                                         \
            int64_t w = (nr + VL - 1) / VL * VL;                                            \
            if (!tB) {                                                                      \
                for (int64_t k = 0; k < kc; k++) {                                          \
                    const T *src = B + (k0 + k) * ldb + n0 + q;                             \
                    T *d = dst + k * w;                                                     \
                    int64_t j = 0;                                                          \
                    for (; j < nr; j++) d[j] = src[j];                                      \
                    for (; j < w; j++) d[j] = 0;                                            \
                }                                                                           \
            } else {                                                                        \
                /* 8 columns of B's rows at a time: reads stay sequential */              \
                int64_t j = 0;                                                              \
                for (; j + 8 <= nr; j += 8) {                                               \
                    const T *s0 = B + (n0 + q + j) * ldb + k0;                              \
                    for (int64_t k = 0; k < kc; k++) {                                      \
                        T *d = dst + k * w + j;                                             \
                        for (int t = 0; t < 8; t++) d[t] = s0[t * ldb + k];                 \
                    }                                                                       \
                }                                                                           \
                for (; j < nr; j++) {                                                       \
                    const T *s0 = B + (n0 + q + j) * ldb + k0;                              \
                    for (int64_t k = 0; k < kc; k++) dst[k * w + j] = s0[k];                \
                }                                                                           \
                for (; j < w; j++)                                                          \
                    for (int64_t k = 0; k < kc; k++) dst[k * w + j] = 0;                    \
            }                                                                               \
            dst += w * kc;                                                                  \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    typedef struct gemm_##S {                                                               \
        int tA, tB;                                                                         \
        const T *A, *B;                                                                     \
        int64_t lda, ldb;                                                                   \
        T *C;                                                                               \
        int64_t ldc;                                                                        \
        int packa, packb; /* 1: whole blocks are packed; 0: read in place */                \
        T *pa, *pb;       /* packed blocks (or the edge panels when not packing) */         \
    } gemm_##S;                                                                             \
                                                                                            \
    /* C[m0:m0+mb, n0:n0+nb] (+)= A[m0.., k0:k0+kc]·B[k0.., n0..]: the unit of */          \
    /* work a thread pool would split. Any set of (A micro-panel, B micro-panel) */        \
    /* pairs computes the same bits, wherever and in whatever order it runs. */            \
    static void macro_##S(const gemm_##S *g, int64_t m0, int64_t mb, int64_t k0, int64_t kc, \
                          int64_t n0, int64_t nb, int add) {                                \
        enum { MR = MR_##S, NR = NR_##S, VL = VL_##S };                                     \
        _Alignas(64) T tile[MR_##S * NR_##S];                                               \
        T *edge_a = g->pa, *edge_b = g->pb;                                                 \
        /* unpacked B: only the last, ragged panel is packed (reads stay in bounds) */     \
        int64_t qlast = (nb - 1) / NR * NR;                                                 \
        int ragged = !g->packb && (nb - qlast) % VL != 0;                                   \
        if (ragged) pack_b_##S(g->tB, g->B, g->ldb, k0, kc, n0 + qlast, nb - qlast, edge_b); \
        for (int64_t p = 0; p < mb; p += MR) {                                              \
            int64_t mr = mb - p < MR ? mb - p : MR;                                         \
            const T *a;                                                                     \
            int64_t rsa = 1, csa = MR;                                                      \
            if (g->packa) {                                                                 \
                a = g->pa + p * kc;                                                         \
            } else if (mr < MR) { /* ragged last rows: pack them, padded with zeros */     \
                pack_a_##S(g->tA, g->A, g->lda, m0 + p, mr, k0, kc, edge_a);                \
                a = edge_a;                                                                 \
            } else if (!g->tA) {                                                            \
                a = g->A + (m0 + p) * g->lda + k0;                                          \
                rsa = g->lda;                                                               \
                csa = 1;                                                                    \
            } else {                                                                        \
                a = g->A + k0 * g->lda + m0 + p;                                            \
                csa = g->lda;                                                               \
            }                                                                               \
            for (int64_t q = 0; q < nb; q += NR) {                                          \
                int64_t nr = nb - q < NR ? nb - q : NR;                                     \
                int64_t w = (nr + VL - 1) / VL * VL;                                        \
                const T *b;                                                                 \
                int64_t rsb = w;                                                            \
                if (g->packb) {                                                             \
                    b = g->pb + q * kc;                                                     \
                } else if (ragged && q == qlast) { /* the packed ragged panel */          \
                    b = edge_b;                                                             \
                } else {                                                                    \
                    b = g->B + k0 * g->ldb + n0 + q;                                        \
                    rsb = g->ldb;                                                           \
                }                                                                           \
                ukr_##S##_fn f = ukr_##S[w / VL];                                           \
                T *c = g->C + (m0 + p) * g->ldc + n0 + q;                                   \
                if (mr == MR && nr == w) {                                                  \
                    f(kc, a, rsa, csa, b, rsb, c, g->ldc, add);                             \
                } else {                                                                    \
                    f(kc, a, rsa, csa, b, rsb, tile, w, 0);                                 \
                    for (int64_t i = 0; i < mr; i++)                                        \
                        for (int64_t j = 0; j < nr; j++)                                    \
                            c[i * g->ldc + j] = add ? c[i * g->ldc + j] + tile[i * w + j]   \
                                                    : tile[i * w + j];                      \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    void tg__gemm_##S(int transA, int transB, int64_t M, int64_t N, int64_t K, const T *A,  \
                      int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {    \
        enum { MR = MR_##S, NR = NR_##S, KC = KC_##S, NC = NC_##S, MB = MB_##S };           \
        int add = beta != 0;                                                                \
        if (M <= 0 || N <= 0) return;                                                       \
        if (K <= 0) {                                                                       \
            if (!add)                                                                       \
                for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(T)); \
            return;                                                                         \
        }                                                                                   \
        gemm_##S g = {transA, transB, A, B, lda, ldb, C, ldc, 1, 1, NULL, NULL};            \
        /* Pack A when several B panels reuse each A micro-panel; pack B when */           \
        /* several A micro-panels reuse it (or it must be transposed). */                  \
        g.packa = N > (int64_t)PACKA_MIN_PANELS * NR - NR;                                  \
        g.packb = transB || M > (int64_t)PACKB_MIN_PANELS * MR - MR;                        \
        if (M >= DIRECT_M && (double)M * (double)N * (double)K > DIRECT_FLOPS) {            \
            int64_t mbmax = M < MB ? (M + MR - 1) / MR * MR : MB;                           \
            int64_t kcmax = K < KC ? K : KC;                                                \
            int64_t nbmax = N < NC ? (N + NR - 1) / NR * NR : NC;                           \
            size_t na = (size_t)((g.packa ? mbmax : MR) * kcmax);                           \
            size_t nb = (size_t)((g.packb ? nbmax : NR) * kcmax);                           \
            na = (na + 15) & ~(size_t)15;                                                   \
            g.pa = scratch_get((na + nb) * sizeof(T));                                      \
            g.pb = g.pa ? g.pa + na : NULL;                                                 \
        }                                                                                   \
        if (!g.pa) {                                                                        \
            direct_##S(transA, transB, M, N, K, A, lda, B, ldb, add, C, ldc);               \
            return;                                                                         \
        }                                                                                   \
        /* K in equal blocks of at most KC (no short tail block) */                        \
        int64_t kcb = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC);                     \
        /* M likewise, in equal blocks rounded up to a multiple of MR */                   \
        int64_t nmb = (M + MB - 1) / MB, mbb = ((M + nmb - 1) / nmb + MR - 1) / MR * MR;    \
        for (int64_t m0 = 0; m0 < M; m0 += mbb) {                                           \
            int64_t mb = M - m0 < mbb ? M - m0 : mbb;                                       \
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {                                       \
                int64_t kc = K - k0 < kcb ? K - k0 : kcb;                                   \
                int addk = add || k0 > 0;                                                   \
                if (g.packa) pack_a_##S(transA, A, lda, m0, mb, k0, kc, g.pa);              \
                for (int64_t n0 = 0; n0 < N; n0 += NC) {                                    \
                    int64_t nb = N - n0 < NC ? N - n0 : NC;                                 \
                    if (g.packb) pack_b_##S(transB, B, ldb, k0, kc, n0, nb, g.pb);          \
                    macro_##S(&g, m0, mb, k0, kc, n0, nb, addk);                            \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

GEMM_IMPL(float, f32)
GEMM_IMPL(double, f64)

/* ---- multi-threaded entry ----
 * C is cut into fixed tiles of GEMM_TM rows × GEMM_TN columns; each tile is
 * one task running the serial GEMM on its sub-problem. The tiling depends
 * only on (M, N, K), never on the thread count, and every element of C is
 * computed inside exactly one tile by the same code, so results are bitwise
 * identical at 1, 2 or 64 threads. Small products (under GEMM_MT_FLOPS) are
 * one task: handing them to the pool costs more than it saves. */
#define GEMM_TM 96   /* a multiple of every micro-kernel's MR (6 and 4) */
#define GEMM_TN 256  /* a multiple of every NR */
#define GEMM_MT_FLOPS 4.0e6

#define GEMM_MT(S, T)                                                                            \
    typedef struct {                                                                             \
        int ta, tb;                                                                              \
        int64_t M, N, K, lda, ldb, ldc, tiles_n;                                                 \
        const T *A, *B;                                                                          \
        T beta, *C;                                                                              \
    } mt_##S;                                                                                    \
    static void mt_task_##S(void *arg, int64_t t) {                                              \
        const mt_##S *g = arg;                                                                   \
        int64_t m0 = (t / g->tiles_n) * GEMM_TM, n0 = (t % g->tiles_n) * GEMM_TN;                \
        int64_t mm = g->M - m0 < GEMM_TM ? g->M - m0 : GEMM_TM;                                  \
        int64_t nn = g->N - n0 < GEMM_TN ? g->N - n0 : GEMM_TN;                                  \
        const T *a = g->ta ? g->A + m0 : g->A + m0 * g->lda;                                     \
        const T *b = g->tb ? g->B + n0 * g->ldb : g->B + n0;                                     \
        tg__gemm_##S(g->ta, g->tb, mm, nn, g->K, a, g->lda, b, g->ldb, g->beta,                  \
                     g->C + m0 * g->ldc + n0, g->ldc);                                           \
    }                                                                                            \
    void tg__gemm_mt_##S(tg_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,  \
                         const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,         \
                         int64_t ldc) {                                                          \
        int64_t tm = (M + GEMM_TM - 1) / GEMM_TM, tn = (N + GEMM_TN - 1) / GEMM_TN;              \
        if (2.0 * (double)M * (double)N * (double)K < GEMM_MT_FLOPS || tm * tn <= 1) {           \
            tg__gemm_##S(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);                 \
            return;                                                                              \
        }                                                                                        \
        mt_##S g = {transA, transB, M, N, K, lda, ldb, ldc, tn, A, B, beta, C};                  \
        tg__parallel_for(ctx, tm * tn, mt_task_##S, &g);                                         \
    }

GEMM_MT(f32, float)
GEMM_MT(f64, double)
