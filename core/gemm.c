/* gemm.c: C(M,N) = beta·C + op(A)·op(B), row-major, beta 0 or 1, for f32 and
 * f64. transA: A is stored (K,M); transB: B is stored (N,K).
 *
 * Structure (GotoBLAS/BLIS loops in the BLIS order, written for row-major C):
 *
 *   for n0 in N step NP:                      B block columns
 *     for k0 in K step kc (<= KC):            one rank-kc update of C
 *       pack B[k0:k0+kc, n0:n0+NP] into NR-column micro-panels (L3)
 *       for m0 in M step MP:                  A block rows
 *         pack A[m0:m0+MP, k0:k0+kc] into MR-row micro-panels    (L2)
 *         for each B micro-panel (NR cols):   stays in L1 while ...
 *           for each A micro-panel (MR rows): ... A micro-panels stream from L2
 *             micro-kernel: MR×NR tile of C in registers
 *
 * An operand read in place (see PACK* below) skips its packing step, and the
 * macro-kernel then keeps the A micro-panel outside and walks the B panels.
 *
 * The micro-kernel keeps an MR×NR tile of C in vector registers, broadcasts
 * one element of the A micro-panel per row and multiplies it with the NR/VL
 * vectors of one row of the B micro-panel, k by k. Packed layouts: A
 * micro-panel [k][MR]; B micro-panel [k][w], w = NR, or for the last columns
 * the narrowest multiple of the vector width VL that covers them. Packing pads
 * with zeros, so every kernel call computes a full tile; a tile that overhangs
 * C is stored with masked stores (its first mr rows, nr columns; AVX-512 and
 * AVX2), or through a scratch tile (SSE2, plain C). Packing also absorbs the transposes, so all
 * four (transA, transB) variants share one kernel. An operand that would be
 * packed for only one or two uses is read in place instead (see PACK*).
 *
 * Blocking: K is cut into equal blocks of at most KC, so K = 784 runs as
 * 4 × 196, not 3 × 256 + 16, and M into equal blocks (a multiple of MR).
 * f32: KC 256, so one B micro-panel (256×16×4 = 16 KiB) stays in L1 while
 * the A micro-panels (6×256×4 = 6 KiB each) stream from the A block (MP =
 * 144 rows, 144 KiB, L2); the B block is 256 × 2048 (2 MiB, L3). f64: the
 * same byte sizes (KC 256, MP 72, NP 1024). Streaming the narrow A panels
 * rather than the wide B panels cuts what the kernel pulls from L2 per k
 * step to MR = 6 elements instead of NR (AVX2: 16 f32, 8 f64).
 * Before, KC was 512 and the A micro-panel stayed in L1 while B micro-
 * panels streamed from L2. The change, together with the 512 × 512 tiles of
 * tg__gemm_mt_* for big products, took 1024^3 on 2 threads of a Zen 3 from
 * 154 to 164 GFLOP/s (medians of 6 interleaved runs); the MLP and LSTM
 * benchmarks did not move.
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
 * rounding; an allocation failure is not an error).
 *
 * Paths, picked from (transA, transB, M, N, K) alone, in this order:
 *   K = 1            rank1: c[j] (+)= a_i·b_j row by row (bitwise what the
 *                    packed path gives).
 *   M = 1 or M·N·K <= DIRECT_FLOPS
 *                    direct: op(B) = B: register blocks of up to 8 vectors
 *                    of a row of C, one FMA chain per element (= packed bits
 *                    for K <= KC); op(B) = Bᵀ: dot products, 8 partial sums.
 *   N narrow (HAVE_VMASK)
 *                    Aᵀ: the transposed kernel ukt, vectors along M (= packed
 *                    bits); A: dot products against the rows of Bᵀ.
 *   otherwise        the packed/in-place GotoBLAS loops above.
 * Each output element's summation order depends only on the path and K, so
 * results never depend on the thread count (see tg__gemm_mt_*). */
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
#define VMUL_f32 _mm512_mul_ps
#define VMUL_f64 _mm512_mul_pd
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
#define VMUL_f32 _mm256_mul_ps
#define VMUL_f64 _mm256_mul_pd
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
#define VMUL_f32 _mm_mul_ps
#define VMUL_f64 _mm_mul_pd
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
#define VMUL_f32(a, b) ((a) * (b))
#define VMUL_f64(a, b) ((a) * (b))
#endif

/* -Dblas=openblas (comparison only): every product goes to OpenBLAS's
 * cblas_?gemm instead (core/blas.c), the multi-threaded entry included, so
 * OpenBLAS threads it its own way. Off (the default), these compile away. */
#if defined(TG_BLAS_OPENBLAS)
#define USE_BLAS 1
void tg__blas_gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void tg__blas_gemm_f64(int transA, int transB, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                       const double *B, int64_t ldb, double beta, double *C, int64_t ldc);
#else
#define USE_BLAS 0
#define tg__blas_gemm_f32(...) ((void)0)
#define tg__blas_gemm_f64(...) ((void)0)
#endif

#define NR_f32 (ISA_NVMAX * VL_f32)
#define NR_f64 (ISA_NVMAX * VL_f64)

/* ---- masked vectors, scalar FMA and 8-lane partial sums ----
 * VMASK_S(r): the first r lanes of a vector (1 <= r <= VL); VLDM_S loads them
 * (the other lanes read as 0, nothing beyond them is touched) and VSTM_S
 * stores them. AVX-512 uses mask registers, AVX2 vmaskmov; SSE2 and plain C
 * have none (HAVE_VMASK 0) and fall back to scalar tails.
 * SFMA_S is the scalar twin of VFMA_S: fused exactly where VFMA_S is, so a
 * scalar tail rounds like the vector lanes beside it. */
#if defined(__AVX512F__)
#define HAVE_VMASK 1
typedef __mmask16 vm_f32;
typedef __mmask8 vm_f64;
#define VMASK_f32(r) ((__mmask16)((1u << (r)) - 1u))
#define VMASK_f64(r) ((__mmask8)((1u << (r)) - 1u))
#define VLDM_f32(p, m) _mm512_maskz_loadu_ps(m, p)
#define VLDM_f64(p, m) _mm512_maskz_loadu_pd(m, p)
#define VSTM_f32(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define VSTM_f64(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#elif defined(__AVX2__) && defined(__FMA__)
#define HAVE_VMASK 1
typedef __m256i vm_f32;
typedef __m256i vm_f64;
#define VMASK_f32(r) LANES32(r)
#define VMASK_f64(r) LANES64(r)
#define VLDM_f32(p, m) _mm256_maskload_ps(p, m)
#define VLDM_f64(p, m) _mm256_maskload_pd(p, m)
#define VSTM_f32(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VSTM_f64(p, m, v) _mm256_maskstore_pd(p, m, v)
#else
#define HAVE_VMASK 0
#endif

#if defined(__AVX2__)
/* lane masks for vmaskmov: LANES32(r) has its first r of 8 int32 lanes set */
__attribute__((unused)) static const int32_t g_lanes32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
__attribute__((unused)) static const int64_t g_lanes64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
#define LANES32(r) _mm256_loadu_si256((const __m256i *)(g_lanes32 + 8 - (r)))
#define LANES64(r) _mm256_loadu_si256((const __m256i *)(g_lanes64 + 4 - (r)))
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define SFMA_f32(a, b, c) __builtin_fmaf(a, b, c)
#define SFMA_f64(a, b, c) __builtin_fma(a, b, c)
#else
#define SFMA_f32(a, b, c) ((a) * (b) + (c))
#define SFMA_f64(a, b, c) ((a) * (b) + (c))
#endif

/* Dot products (op(B) = Bᵀ, rows of both operands contiguous in k) keep 8
 * partial sums, lane t summing the k ≡ t (mod 8) terms in increasing k with
 * SFMA, and end with P8SUM = ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)). The same
 * order on every ISA: one ymm for f32 (AVX2, AVX-512), one zmm or two ymm
 * for f64, or 8 scalars. p8_S: the 8 sums; P8LDM_S(p, r): the first r < 8
 * elements at p, zeros after. dot_ref_S below is the strided scalar twin. */
#if defined(__AVX2__) && defined(__FMA__)
typedef __m256 p8_f32;
#define P8ZERO_f32() _mm256_setzero_ps()
#define P8LD_f32(p) _mm256_loadu_ps(p)
#define P8LDM_f32(p, r) _mm256_maskload_ps(p, LANES32(r))
#define P8FMA_f32(a, b, c) _mm256_fmadd_ps(a, b, c)
#define P8PIN_f32(v) __asm__("" : "+x"(v))
static inline float p8sum_f32(__m256 v) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* s0+s4 .. s3+s7 */
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));                                       /* t0+t2, t1+t3 */
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}
/* p8sum_f32 of 8 vectors at once, the same additions, with the results in one
 * vector: pairs (q, q+4) share a register through the first step. */
static inline __m256 p8sum8_f32(const __m256 *v) {
    __m256 u[4];
    for (int q = 0; q < 4; q++) /* [t_q | t_q+4], t = lo + hi */
        u[q] = _mm256_add_ps(_mm256_permute2f128_ps(v[q], v[q + 4], 0x20), _mm256_permute2f128_ps(v[q], v[q + 4], 0x31));
    for (int q = 0; q < 4; q++) {
        u[q] = _mm256_add_ps(u[q], _mm256_permute_ps(u[q], 0x4E)); /* t0+t2, t1+t3 */
        u[q] = _mm256_add_ps(u[q], _mm256_permute_ps(u[q], 0xB1)); /* (t0+t2)+(t1+t3) in lanes 0, 4 */
    }
    return _mm256_shuffle_ps(_mm256_unpacklo_ps(u[0], u[1]), _mm256_unpacklo_ps(u[2], u[3]), 0x44);
}
#define P8SUMS_f32(acc, out, n)                                                     \
    do {                                                                            \
        int q_ = 0;                                                                 \
        for (; q_ + 8 <= (n); q_ += 8) _mm256_storeu_ps((out) + q_, p8sum8_f32((acc) + q_)); \
        for (; q_ < (n); q_++) (out)[q_] = p8sum_f32((acc)[q_]);                    \
    } while (0)
#else
typedef struct { float s[8]; } p8_f32;
static inline p8_f32 P8ZERO_f32(void) { return (p8_f32){{0, 0, 0, 0, 0, 0, 0, 0}}; }
static inline p8_f32 P8LD_f32(const float *p) {
    p8_f32 v;
    memcpy(v.s, p, sizeof v.s);
    return v;
}
static inline p8_f32 P8LDM_f32(const float *p, int r) {
    p8_f32 v = P8ZERO_f32();
    memcpy(v.s, p, (size_t)r * sizeof(float));
    return v;
}
#define P8PIN_f32(v) (void)0
static inline p8_f32 P8FMA_f32(p8_f32 a, p8_f32 b, p8_f32 c) {
    for (int t = 0; t < 8; t++) c.s[t] = SFMA_f32(a.s[t], b.s[t], c.s[t]);
    return c;
}
static inline float p8sum_f32(p8_f32 v) {
    return ((v.s[0] + v.s[4]) + (v.s[2] + v.s[6])) + ((v.s[1] + v.s[5]) + (v.s[3] + v.s[7]));
}
#define P8SUMS_f32(acc, out, n)                                                     \
    for (int q_ = 0; q_ < (n); q_++) (out)[q_] = p8sum_f32((acc)[q_])
#endif
#if defined(__AVX512F__)
typedef __m512d p8_f64;
#define P8ZERO_f64() _mm512_setzero_pd()
#define P8LD_f64(p) _mm512_loadu_pd(p)
#define P8LDM_f64(p, r) _mm512_maskz_loadu_pd((__mmask8)((1u << (r)) - 1u), p)
#define P8FMA_f64(a, b, c) _mm512_fmadd_pd(a, b, c)
#define P8PIN_f64(v) __asm__("" : "+v"(v))
static inline double p8sum_f64(__m512d v) {
    __m256d t = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}
#elif defined(__AVX2__) && defined(__FMA__)
typedef struct { __m256d lo, hi; } p8_f64;
static inline p8_f64 P8ZERO_f64(void) { return (p8_f64){_mm256_setzero_pd(), _mm256_setzero_pd()}; }
static inline p8_f64 P8LD_f64(const double *p) { return (p8_f64){_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
static inline p8_f64 P8LDM_f64(const double *p, int r) {
    return (p8_f64){_mm256_maskload_pd(p, LANES64(r < 4 ? r : 4)),
                    r > 4 ? _mm256_maskload_pd(p + 4, LANES64(r - 4)) : _mm256_setzero_pd()};
}
#define P8PIN_f64(v) __asm__("" : "+x"((v).lo), "+x"((v).hi))
static inline p8_f64 P8FMA_f64(p8_f64 a, p8_f64 b, p8_f64 c) {
    return (p8_f64){_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
static inline double p8sum_f64(p8_f64 v) {
    __m256d t = _mm256_add_pd(v.lo, v.hi);
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}
#else
typedef struct { double s[8]; } p8_f64;
static inline p8_f64 P8ZERO_f64(void) { return (p8_f64){{0, 0, 0, 0, 0, 0, 0, 0}}; }
static inline p8_f64 P8LD_f64(const double *p) {
    p8_f64 v;
    memcpy(v.s, p, sizeof v.s);
    return v;
}
static inline p8_f64 P8LDM_f64(const double *p, int r) {
    p8_f64 v = P8ZERO_f64();
    memcpy(v.s, p, (size_t)r * sizeof(double));
    return v;
}
#define P8PIN_f64(v) (void)0
static inline p8_f64 P8FMA_f64(p8_f64 a, p8_f64 b, p8_f64 c) {
    for (int t = 0; t < 8; t++) c.s[t] = SFMA_f64(a.s[t], b.s[t], c.s[t]);
    return c;
}
static inline double p8sum_f64(p8_f64 v) {
    return ((v.s[0] + v.s[4]) + (v.s[2] + v.s[6])) + ((v.s[1] + v.s[5]) + (v.s[3] + v.s[7]));
}
#endif
#define P8SUMS_f64(acc, out, n)                                                     \
    for (int q_ = 0; q_ < (n); q_++) (out)[q_] = p8sum_f64((acc)[q_])

/* Blocking (see the top of the file): K blocks of at most KC, B blocks of
 * KC × NP columns (L3), A blocks of MP rows (L2). Where both operands are
 * packed, the macro-kernel keeps one B micro-panel (KC × NR: 16 KiB, f32 or
 * f64) in L1 while the A micro-panels stream past it. */
#define KC_f32 256
#define MP_f32 (MR_f32 * 24)
#define NP_f32 2048
#define KC_f64 256
#define MP_f64 (MR_f64 * 12)
#define NP_f64 1024

/* When to pack. A block is packed when at least PACKA_MIN_PANELS B micro-
 * panels reuse each A micro-panel (N > 4·NR), B when at least
 * PACKB_MIN_PANELS A micro-panels reuse each B micro-panel (M > MR), and
 * always for transB (its rows must be turned into vectors). Otherwise the
 * kernel reads the operand in place: packing a panel for one or two uses
 * costs more than it saves (N = 10: 33 -> 62 GFLOP/s). B is packed as soon
 * as two A micro-panels (M > 6) reuse it: read in place, each row of a B
 * micro-panel is one cache line at a stride of ldb, and with power-of-two
 * ldb (the LSTM's 512) those lines fall into a few L1 sets, so the panel is
 * fetched from L2 again for every A micro-panel. Zen 3, 32×512·512×128 on
 * 2 threads: 51 µs in place, 41 µs packed. (On a Zen 4 with AVX-512 an
 * earlier measurement favoured reading in place at M = 32, 82 -> 94 GFLOP/s;
 * M > 42 was the threshold then.) Packing matters most for large
 * power-of-two leading dimensions (1024^3 in place: 73 GFLOP/s; packed:
 * 100). */
#define PACKA_MIN_PANELS 5
#define PACKB_MIN_PANELS 2

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
#define SCRATCH_MAX_F32 (((size_t)MP_f32 * KC_f32 + 15) / 16 * 16 + (size_t)NP_f32 * KC_f32) * sizeof(float)
#define SCRATCH_MAX_F64 (((size_t)MP_f64 * KC_f64 + 15) / 16 * 16 + (size_t)NP_f64 * KC_f64) * sizeof(double)
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
 * (used when a panel would be packed for a single use). The body computes
 * `rows` rows (a compile-time constant at every call: MR, or the mr of an
 * edge tile, so a 2-row edge costs a third of a full tile, not a full one).
 * The C tile is prefetched before the k loop, which is unrolled by 4: with
 * the edge kernels, the LSTM benchmark ran about 10% faster. */

#define UKR(T, S, NV)                                                                      \
    static inline __attribute__((always_inline)) void ukr_body_##S##_##NV(                 \
        int64_t kc, const T *restrict a, int64_t rsa, int64_t csa, const T *restrict b,    \
        int64_t rsb, T *restrict c, int64_t ldc, int add, int edge, int mr, int nrl,       \
        int rows) {                                                                        \
        enum { MR = MR_##S, VL = VL_##S };                                                 \
        vt_##S acc[MR][NV];                                                                \
        for (int i = 0; i < rows; i++)                                                     \
            for (int v = 0; v < NV; v++) acc[i][v] = VZERO_##S();                          \
        for (int i = 0; i < rows; i++) { /* the C tile is needed at the end: fetch it now */ \
            __builtin_prefetch(c + i * ldc, 1, 3);                                         \
            __builtin_prefetch(c + i * ldc + NV * VL - 1, 1, 3);                           \
        }                                                                                  \
        _Pragma("GCC unroll 4")                                                            \
        for (int64_t k = 0; k < kc; k++) {                                                 \
            vt_##S bv[NV];                                                                 \
            for (int v = 0; v < NV; v++) bv[v] = VLD_##S(b + v * VL);                      \
            for (int i = 0; i < rows; i++) {                                               \
                vt_##S av = VSET1_##S(a[i * rsa]);                                         \
                for (int v = 0; v < NV; v++) acc[i][v] = VFMA_##S(av, bv[v], acc[i][v]);   \
            }                                                                              \
            a += csa;                                                                      \
            b += rsb;                                                                      \
        }                                                                                  \
        if (edge) {                                                                        \
            UKR_EDGE_STORE(T, S, NV)                                                          \
        } else if (add) {                                                                  \
            for (int i = 0; i < rows; i++)                                                   \
                for (int v = 0; v < NV; v++) {                                             \
                    T *p = c + i * ldc + v * VL;                                           \
                    VST_##S(p, VADD_##S(VLD_##S(p), acc[i][v]));                           \
                }                                                                          \
        } else {                                                                           \
            for (int i = 0; i < rows; i++)                                                   \
                for (int v = 0; v < NV; v++) VST_##S(c + i * ldc + v * VL, acc[i][v]);     \
        }                                                                                  \
    }                                                                                      \
    static void ukr_##S##_##NV(int64_t kc, const T *a, int64_t rsa, int64_t csa, const T *b, \
                               int64_t rsb, T *c, int64_t ldc, int add) {                  \
        if (rsa == 1 && csa == MR_##S && rsb == NV * VL_##S) /* packed: constant strides */ \
            ukr_body_##S##_##NV(kc, a, 1, MR_##S, b, NV * VL_##S, c, ldc, add, 0, 0, 0, MR_##S); \
        else                                                                               \
            ukr_body_##S##_##NV(kc, a, rsa, csa, b, rsb, c, ldc, add, 0, 0, 0, MR_##S);    \
    }                                                                                      \
    UKR_EDGE(T, S, NV)

/* Edge tiles (HAVE_VMASK): the same kernel, storing only the first mr rows
 * and the first nrl lanes of the last vector, straight into C; the packed
 * panels are zero-padded, so the other lanes compute zeros that are never
 * stored. Each stored element gets the bits the full kernel would give it. */
#if HAVE_VMASK
#define UKR_EDGE_STORE(T, S, NV)                                                              \
    vm_##S m = VMASK_##S(nrl);                                                             \
    for (int i = 0; i < rows; i++) {                                                       \
        if (i >= mr) break;                                                                \
        T *p = c + i * ldc;                                                                \
        for (int v = 0; v < NV - 1; v++, p += VL)                                          \
            VST_##S(p, add ? VADD_##S(VLD_##S(p), acc[i][v]) : acc[i][v]);                 \
        VSTM_##S(p, m, add ? VADD_##S(VLDM_##S(p, m), acc[i][NV - 1]) : acc[i][NV - 1]);   \
    }
#define UKR_EDGE(T, S, NV)                                                                 \
    static void ukre_##S##_##NV(int64_t kc, const T *a, int64_t rsa, int64_t csa, const T *b, \
                                int64_t rsb, T *c, int64_t ldc, int add, int mr, int nrl) { \
        /* only the mr stored rows are computed: a 2-row edge panel costs */              \
        /* about a third of a full one (the same bits per element) */                    \
        if (rsa == 1 && csa == MR_##S && rsb == NV * VL_##S) {                             \
            switch (mr) {                                                                  \
            UKR_ROWS_CASES(S, NV, (kc, a, 1, MR_##S, b, NV * VL_##S, c, ldc, add, 1, mr, nrl, ROWS)) \
            }                                                                              \
        } else {                                                                           \
            switch (mr) {                                                                  \
            UKR_ROWS_CASES(S, NV, (kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, ROWS)) \
            }                                                                              \
        }                                                                                  \
    }
/* case r: the body for r rows (r = 1 .. MR; MR is 6 with vector masks) */
#define UKR_ROW_CALL_(S, NV, ARGS, R) { enum { ROWS = R }; ukr_body_##S##_##NV ARGS; break; }
#define UKR_ROWS_CASES(S, NV, ARGS)                                                        \
    case 1: UKR_ROW_CALL_(S, NV, ARGS, 1)                                                  \
    case 2: UKR_ROW_CALL_(S, NV, ARGS, 2)                                                  \
    case 3: UKR_ROW_CALL_(S, NV, ARGS, 3)                                                  \
    case 4: UKR_ROW_CALL_(S, NV, ARGS, 4)                                                  \
    case 5: UKR_ROW_CALL_(S, NV, ARGS, 5)                                                  \
    default: UKR_ROW_CALL_(S, NV, ARGS, MR_##S)
#else
#define UKR_EDGE_STORE(T, S, NV) (void)mr, (void)nrl;
#define UKR_EDGE(T, S, NV)
#endif

typedef void (*ukr_f32_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *,
                           int64_t, int);
typedef void (*ukr_f64_fn)(int64_t, const double *, int64_t, int64_t, const double *, int64_t,
                           double *, int64_t, int);
typedef void (*ukre_f32_fn)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *,
                            int64_t, int, int, int);
typedef void (*ukre_f64_fn)(int64_t, const double *, int64_t, int64_t, const double *, int64_t,
                            double *, int64_t, int, int, int);

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
#if HAVE_VMASK
static const ukre_f32_fn ukre_f32[5] = {NULL, ukre_f32_1, ukre_f32_2, ukre_f32_3, ukre_f32_4};
static const ukre_f64_fn ukre_f64[5] = {NULL, ukre_f64_1, ukre_f64_2, ukre_f64_3, ukre_f64_4};
#endif
#else
static const ukr_f32_fn ukr_f32[3] = {NULL, ukr_f32_1, ukr_f32_2};
static const ukr_f64_fn ukr_f64[3] = {NULL, ukr_f64_1, ukr_f64_2};
#if HAVE_VMASK
static const ukre_f32_fn ukre_f32[3] = {NULL, ukre_f32_1, ukre_f32_2};
static const ukre_f64_fn ukre_f64[3] = {NULL, ukre_f64_1, ukre_f64_2};
#endif
#endif

/* ---- small products: rank-1 updates and the direct loops ----
 * Shapes that packing does not pay for (M = 1, or under DIRECT_FLOPS) and the
 * no-memory fallback. Every loop below has its transposes and beta decided
 * before it starts, keeps its sums in registers and runs along a contiguous
 * axis of B and C, so the compiler emits vector code with no tests inside. */

/* Register shapes of the dot-product tiles: DOT_RI rows of op(A) × DOT_RJ
 * rows of B, and DOT_RJ1 rows of B for a single row of op(A) (M = 1). */
#if defined(__AVX512F__)
#define DOT_RI_f32 4
#define DOT_RJ_f32 4
#define DOT_RJ1_f32 8
#define DOT_RI_f64 4
#define DOT_RJ_f64 4
#define DOT_RJ1_f64 8
#elif defined(__AVX2__) && defined(__FMA__)
#define DOT_RI_f32 2
#define DOT_RJ_f32 5
#define DOT_RJ1_f32 8
#define DOT_RI_f64 2
#define DOT_RJ_f64 2
#define DOT_RJ1_f64 4
#else
#define DOT_RI_f32 2
#define DOT_RJ_f32 2
#define DOT_RJ1_f32 4
#define DOT_RI_f64 2
#define DOT_RJ_f64 2
#define DOT_RJ1_f64 4
#endif

/* c[0 : NV·VL] (+)= Σ_k a[k·sa] · b[k·ldb + 0 : NV·VL]: NV vectors of C, one
 * FMA chain per element over k in increasing order from 0, then added to C:
 * the same bits as the packed micro-kernel gives when K <= KC. */
#define ROWBLK(T, S, NV)                                                                    \
    static inline __attribute__((always_inline)) void rowblk_##S##_##NV(                  \
        int64_t K, const T *restrict a, int64_t sa, const T *restrict b, int64_t ldb,      \
        T *restrict c, int add) {                                                          \
        vt_##S acc[NV];                                                                    \
        for (int v = 0; v < NV; v++) acc[v] = VZERO_##S();                                 \
        for (int64_t k = 0; k < K; k++, b += ldb) {                                        \
            vt_##S av = VSET1_##S(a[k * sa]);                                              \
            for (int v = 0; v < NV; v++) acc[v] = VFMA_##S(av, VLD_##S(b + v * VL_##S), acc[v]); \
        }                                                                                  \
        if (add)                                                                           \
            for (int v = 0; v < NV; v++) {                                                 \
                T *p = c + v * VL_##S;                                                     \
                VST_##S(p, VADD_##S(VLD_##S(p), acc[v]));                                  \
            }                                                                              \
        else                                                                               \
            for (int v = 0; v < NV; v++) VST_##S(c + v * VL_##S, acc[v]);                  \
    }

/* The last r < VL columns of the same: one masked vector, or scalar. */
#if HAVE_VMASK
#define ROWTAIL(T, S)                                                                       \
    static inline void rowtail_##S(int64_t K, const T *a, int64_t sa, const T *b, int64_t ldb, \
                                   T *c, int add, int64_t r) {                              \
        vm_##S m = VMASK_##S((int)r);                                                      \
        vt_##S acc = VZERO_##S();                                                          \
        for (int64_t k = 0; k < K; k++, b += ldb) acc = VFMA_##S(VSET1_##S(a[k * sa]), VLDM_##S(b, m), acc); \
        VSTM_##S(c, m, add ? VADD_##S(VLDM_##S(c, m), acc) : acc);                         \
    }
#define AXPY_TAIL(T, S)                                                                     \
    if (j < nj) {                                                                          \
        vm_##S m = VMASK_##S((int)(nj - j));                                               \
        vt_##S p = VMUL_##S(av, VLDM_##S(b + j, m));                                       \
        VSTM_##S(c + j, m, add ? VADD_##S(VLDM_##S(c + j, m), p) : p);                     \
    }
#else
#define ROWTAIL(T, S)                                                                       \
    static inline void rowtail_##S(int64_t K, const T *a, int64_t sa, const T *b, int64_t ldb, \
                                   T *c, int add, int64_t r) {                              \
        for (int64_t j = 0; j < r; j++) {                                                  \
            T s = 0;                                                                       \
            for (int64_t k = 0; k < K; k++) s = SFMA_##S(a[k * sa], b[k * ldb + j], s);    \
            c[j] = add ? c[j] + s : s;                                                     \
        }                                                                                  \
    }
#define AXPY_TAIL(T, S)                                                                     \
    for (; j < nj; j++) {                                                                  \
        T p = a * b[j];                                                                    \
        c[j] = add ? c[j] + p : p;                                                         \
    }
#endif

/* C[0:mi, 0:nj] (+)= dot products of RI rows of op(A) (contiguous, stride
 * lda) with RJ rows of B (contiguous, stride ldb), k in steps of 8. Missing
 * rows (mi < RI, nj < RJ) repeat the last one and are not stored. */
#define DOTTILE(T, S, NAME, RI, RJ)                                                         \
    static void NAME(int64_t K, const T *A, int64_t lda, int64_t mi, const T *B, int64_t ldb, \
                     int64_t nj, int add, T *C, int64_t ldc) {                              \
        const T *a[RI], *b[RJ];                                                             \
        p8_##S acc[RI][RJ];                                                                 \
        for (int r = 0; r < RI; r++) a[r] = A + (r < mi ? r : mi - 1) * lda;                \
        for (int q = 0; q < RJ; q++) b[q] = B + (q < nj ? q : nj - 1) * ldb;                \
        for (int r = 0; r < RI; r++)                                                        \
            for (int q = 0; q < RJ; q++) acc[r][q] = P8ZERO_##S();                          \
        int64_t k = 0;                                                                      \
        for (; k + 8 <= K; k += 8) {                                                        \
            p8_##S av[RI];                                                                  \
            for (int r = 0; r < RI; r++) {                                                  \
                av[r] = P8LD_##S(a[r] + k);                                                 \
                P8PIN_##S(av[r]);                                                           \
            }                                                                               \
            for (int q = 0; q < RJ; q++) {                                                  \
                p8_##S bv = P8LD_##S(b[q] + k);                                             \
                P8PIN_##S(bv);                                                              \
                for (int r = 0; r < RI; r++) acc[r][q] = P8FMA_##S(av[r], bv, acc[r][q]);   \
            }                                                                               \
        }                                                                                   \
        if (k < K) {                                                                        \
            int rk = (int)(K - k);                                                          \
            p8_##S av[RI];                                                                  \
            for (int r = 0; r < RI; r++) av[r] = P8LDM_##S(a[r] + k, rk);                   \
            for (int q = 0; q < RJ; q++) {                                                  \
                p8_##S bv = P8LDM_##S(b[q] + k, rk);                                        \
                for (int r = 0; r < RI; r++) acc[r][q] = P8FMA_##S(av[r], bv, acc[r][q]);   \
            }                                                                               \
        }                                                                                   \
        T sum[RI][RJ]; /* reduce with constant indices: acc stays in registers */          \
        for (int r = 0; r < RI; r++) P8SUMS_##S(acc[r], sum[r], RJ);                        \
        for (int64_t r = 0; r < mi; r++)                                                    \
            for (int64_t q = 0; q < nj; q++) {                                              \
                T *p = C + r * ldc + q;                                                     \
                *p = add ? *p + sum[r][q] : sum[r][q];                                      \
            }                                                                               \
    }

#define SMALL_IMPL(T, S)                                                                    \
    ROWBLK(T, S, 8)                                                                         \
    ROWBLK(T, S, 4)                                                                         \
    ROWBLK(T, S, 2)                                                                         \
    ROWBLK(T, S, 1)                                                                         \
    ROWTAIL(T, S)                                                                           \
    DOTTILE(T, S, dottile_##S, DOT_RI_##S, DOT_RJ_##S)                                      \
    DOTTILE(T, S, dottile1_##S, 1, DOT_RJ1_##S)                                             \
                                                                                            \
    /* K = 1: C (+)= a·bᵀ, row by row: c[j] = c[j] + a_i·b_j (beta 1) or */                \
    /* a_i·b_j, the bits the packed path gives (its one-term chain is a_i·b_j). */         \
    static void rank1_##S(int tA, int tB, int64_t M, int64_t N, const T *A, int64_t lda,    \
                          const T *B, int64_t ldb, int add, T *C, int64_t ldc) {            \
        enum { VL = VL_##S, CH = 512 };                                                     \
        T buf[CH];                                                                          \
        int64_t sa = tA ? 1 : lda; /* element i of the column a */                        \
        for (int64_t j0 = 0; j0 < N; j0 += CH) {                                            \
            int64_t nj = N - j0 < CH ? N - j0 : CH;                                         \
            const T *restrict b = B + j0;                                                   \
            if (tB && ldb != 1) { /* B stored (N,1): gather the column */                  \
                for (int64_t j = 0; j < nj; j++) buf[j] = B[(j0 + j) * ldb];                \
                b = buf;                                                                    \
            }                                                                               \
            for (int64_t i = 0; i < M; i++) {                                               \
                T a = A[i * sa], *restrict c = C + i * ldc + j0;                            \
                vt_##S av = VSET1_##S(a);                                                   \
                int64_t j = 0;                                                              \
                if (add)                                                                    \
                    for (; j + VL <= nj; j += VL)                                           \
                        VST_##S(c + j, VADD_##S(VLD_##S(c + j), VMUL_##S(av, VLD_##S(b + j)))); \
                else                                                                        \
                    for (; j + VL <= nj; j += VL) VST_##S(c + j, VMUL_##S(av, VLD_##S(b + j))); \
                AXPY_TAIL(T, S)                                                             \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    /* The strided scalar twin of the dot tiles (same 8 sums, same order). */              \
    static T dot_ref_##S(int64_t K, const T *a, int64_t sa, const T *b) {                   \
        T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                  \
        for (int64_t k = 0; k < K; k++) s[k & 7] = SFMA_##S(a[k * sa], b[k], s[k & 7]);     \
        return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));            \
    }                                                                                       \
                                                                                            \
    /* Direct loop. op(B) = B: each row of C is NV-vector blocks of FMA chains */         \
    /* (rowblk), so C + (the full chain), like the packed path when K <= KC. */            \
    /* op(B) = Bᵀ: dot products in 8 partial sums (dottile). */                            \
    static void direct_##S(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A,     \
                           int64_t lda, const T *B, int64_t ldb, int add, T *C,             \
                           int64_t ldc) {                                                   \
        enum { VL = VL_##S, RI = DOT_RI_##S, RJ = DOT_RJ_##S, RJ1 = DOT_RJ1_##S };          \
        int64_t ra = tA ? 1 : lda, sa = tA ? lda : 1; /* A(i,k) = A[i·ra + k·sa] */       \
        if (!tB) {                                                                          \
            for (int64_t i = 0; i < M; i++) {                                               \
                const T *a = A + i * ra;                                                    \
                T *c = C + i * ldc;                                                         \
                int64_t j = 0;                                                              \
                for (; j + 8 * VL <= N; j += 8 * VL) rowblk_##S##_8(K, a, sa, B + j, ldb, c + j, add); \
                if (j + 4 * VL <= N) rowblk_##S##_4(K, a, sa, B + j, ldb, c + j, add), j += 4 * VL; \
                if (j + 2 * VL <= N) rowblk_##S##_2(K, a, sa, B + j, ldb, c + j, add), j += 2 * VL; \
                if (j + VL <= N) rowblk_##S##_1(K, a, sa, B + j, ldb, c + j, add), j += VL; \
                if (j < N) rowtail_##S(K, a, sa, B + j, ldb, c + j, add, N - j);            \
            }                                                                               \
        } else if (sa != 1) { /* rows of op(A) strided (Aᵀ with M > 1): scalar */          \
            for (int64_t i = 0; i < M; i++)                                                 \
                for (int64_t j = 0; j < N; j++) {                                           \
                    T v = dot_ref_##S(K, A + i * ra, sa, B + j * ldb), *p = C + i * ldc + j; \
                    *p = add ? *p + v : v;                                                  \
                }                                                                           \
        } else {                                                                            \
            for (int64_t i = 0; i < M; i += RI) {                                           \
                int64_t mi = M - i < RI ? M - i : RI;                                       \
                if (mi == 1)                                                                \
                    for (int64_t j = 0; j < N; j += RJ1)                                    \
                        dottile1_##S(K, A + i * ra, ra, 1, B + j * ldb, ldb, N - j < RJ1 ? N - j : RJ1, \
                                     add, C + i * ldc + j, ldc);                            \
                else                                                                        \
                    for (int64_t j = 0; j < N; j += RJ)                                     \
                        dottile_##S(K, A + i * ra, ra, mi, B + j * ldb, ldb, N - j < RJ ? N - j : RJ, \
                                    add, C + i * ldc + j, ldc);                             \
            }                                                                               \
        }                                                                                   \
    }

SMALL_IMPL(float, f32)
SMALL_IMPL(double, f64)

/* ---- narrow N (HAVE_VMASK only) ----
 * With N below two vectors the register tile of the packed path leaves lanes
 * idle (N = 10: 10 of 16) and, at one vector, keeps only MR = 6 FMA chains.
 * Narrow products are turned around instead:
 *  - op(A) = Aᵀ: the "transposed" kernel ukt holds a tile of C as UKT_MV
 *    vectors along M (contiguous rows of the stored A) × nn <= UKT_NN columns
 *    (elements of B broadcast); every lane is used and C is written through a
 *    small transposed tile. Each element is still one FMA chain over k per
 *    K block (the same equal blocks of at most KC), added to C block after
 *    block: bitwise what the packed path computes.
 *  - op(A) = A: op(B) is copied into rows (Bᵀ, N × K, unless it is stored so)
 *    and every element is a dot product of two contiguous rows (the dot tiles
 *    of the direct loop, 8 partial sums). */
#if defined(__AVX512F__)
#define UKT_MV 2
#define UKT_NN 12
#define UKT_KCH 32
#else
#define UKT_MV 2
#define UKT_NN 6
#define UKT_KCH 64
#endif
/* When the narrow paths run (measured on Zen 3, AVX2, M = 200..500, K = 200
 * and 500; Aᵀ 1.3-4x faster for every N below 2 vectors, the dot products
 * 1.5-2.4x for f32 N <= 10 and f64 N <= 2 and no faster above): Aᵀ with
 * N <= NARROW_T_N and at least one full ukt panel of rows; A with
 * N <= NARROW_D_N. */
#define NARROW_T_N_f32 (2 * VL_f32 - 1)
#define NARROW_T_N_f64 (2 * VL_f64 - 1)
#define NARROW_D_N_f32 12
#define NARROW_D_N_f64 2

#if HAVE_VMASK
/* Keep a loaded vector in a register: without this GCC folds the load into
 * every FMA that uses it, and the loads, not the FMAs, set the pace. */
#define VPIN(v) __asm__("" : "+v"(v))
/* C[0:mr, 0:NN] (+)= Σ_k A[k·lda + 0:mr] ⊗ B[k·rsb + n·csb]: mr <= UKT_MV·VL. */
#define UKT(T, S, NN)                                                                       \
    /* t[n][0:MT] = (cont ? t[n] : 0) + Σ_k a[k·lda + 0:MT] · B(k, n): a full panel */     \
    static __attribute__((noinline)) void ukt_loop_##S##_##NN(                              \
        int64_t kc, const T *restrict a, int64_t lda, const T *restrict b, int64_t rsb,     \
        int64_t csb, int cont, T t[NN][UKT_MV * VL_##S]) {                                  \
        enum { VL = VL_##S, MV = UKT_MV };                                                  \
        vt_##S acc[NN][MV];                                                                 \
        for (int n = 0; n < NN; n++)                                                        \
            for (int v = 0; v < MV; v++) acc[n][v] = cont ? VLD_##S(t[n] + v * VL) : VZERO_##S(); \
        for (int64_t k = 0; k < kc; k++, a += lda, b += rsb) {                              \
            vt_##S av[MV];                                                                  \
            for (int v = 0; v < MV; v++) {                                                  \
                av[v] = VLD_##S(a + v * VL);                                                \
                VPIN(av[v]);                                                                \
            }                                                                               \
            for (int n = 0; n < NN; n++) {                                                  \
                vt_##S bv = VSET1_##S(b[n * csb]);                                          \
                for (int v = 0; v < MV; v++) acc[n][v] = VFMA_##S(av[v], bv, acc[n][v]);    \
            }                                                                               \
        }                                                                                   \
        for (int n = 0; n < NN; n++)                                                        \
            for (int v = 0; v < MV; v++) VST_##S(t[n] + v * VL, acc[n][v]);                  \
    }                                                                                       \
    /* C[0:mr, 0:NN] (+)= Σ_k A[k·lda + 0:mr] ⊗ B(k, 0:NN), mr <= MT; a ragged */          \
    /* panel is copied, zero-padded, UKT_KCH k at a time (the chains go on). */            \
    static void ukt_##S##_##NN(int64_t kc, const T *a, int64_t lda, const T *b, int64_t rsb, \
                               int64_t csb, T *c, int64_t ldc, int add, int64_t mr) {       \
        enum { MT = UKT_MV * VL_##S };                                                      \
        _Alignas(64) T t[NN][MT];                                                           \
        if (mr == MT) {                                                                     \
            ukt_loop_##S##_##NN(kc, a, lda, b, rsb, csb, 0, t);                             \
        } else {                                                                            \
            _Alignas(64) T buf[UKT_KCH][MT];                                                \
            vm_##S m[UKT_MV];                                                               \
            for (int v = 0; v < UKT_MV; v++) {                                              \
                int64_t r = mr - v * VL_##S;                                                \
                m[v] = VMASK_##S((int)(r < 0 ? 0 : r > VL_##S ? VL_##S : r));               \
            }                                                                               \
            int64_t k0 = 0;                                                                 \
            do { /* kc >= 1: t is always written */                                         \
                int64_t kn = kc - k0 < UKT_KCH ? kc - k0 : UKT_KCH;                         \
                for (int64_t k = 0; k < kn; k++)                                            \
                    for (int v = 0; v < UKT_MV; v++)                                        \
                        VST_##S(buf[k] + v * VL_##S, VLDM_##S(a + (k0 + k) * lda + v * VL_##S, m[v])); \
                ukt_loop_##S##_##NN(kn, buf[0], MT, b + k0 * rsb, rsb, csb, k0 > 0, t);      \
                k0 += kn;                                                                   \
            } while (k0 < kc);                                                              \
        }                                                                                   \
        if (add)                                                                            \
            for (int64_t r = 0; r < mr; r++, c += ldc)                                      \
                for (int n = 0; n < NN; n++) c[n] += t[n][r];                               \
        else                                                                                \
            for (int64_t r = 0; r < mr; r++, c += ldc)                                      \
                for (int n = 0; n < NN; n++) c[n] = t[n][r];                                \
    }

#define UKT_ALL(T, S)                                                                       \
    UKT(T, S, 1) UKT(T, S, 2) UKT(T, S, 3) UKT(T, S, 4) UKT(T, S, 5) UKT(T, S, 6)           \
    UKT_MORE(T, S)                                                                          \
    typedef void (*ukt_##S##_fn)(int64_t, const T *, int64_t, const T *, int64_t, int64_t, T *, \
                                 int64_t, int, int64_t);                                    \
    static const ukt_##S##_fn ukt_##S[UKT_NN + 1] = {NULL, ukt_##S##_1, ukt_##S##_2, ukt_##S##_3, \
                                                      ukt_##S##_4, ukt_##S##_5, ukt_##S##_6 UKT_MORE_TAB(S)};
#if UKT_NN > 6
#define UKT_MORE(T, S) UKT(T, S, 7) UKT(T, S, 8) UKT(T, S, 9) UKT(T, S, 10) UKT(T, S, 11) UKT(T, S, 12)
#define UKT_MORE_TAB(S) , ukt_##S##_7, ukt_##S##_8, ukt_##S##_9, ukt_##S##_10, ukt_##S##_11, ukt_##S##_12
#else
#define UKT_MORE(T, S)
#define UKT_MORE_TAB(S)
#endif

#define NARROW_IMPL(T, S)                                                                   \
    UKT_ALL(T, S)                                                                           \
    /* op(A) = Aᵀ, N <= NARROW_N: K in the packed path's equal blocks; per */              \
    /* block, panels of UKT_MV·VL rows × balanced column passes of <= UKT_NN. */            \
    static void narrow_t_##S(int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, \
                             const T *B, int64_t ldb, int add, T *C, int64_t ldc) {         \
        enum { KC = KC_##S, MT = UKT_MV * VL_##S };                                         \
        int64_t rsb = tB ? 1 : ldb, csb = tB ? ldb : 1; /* op(B)(k,n) = B[k·rsb + n·csb] */ \
        int64_t np = (N + UKT_NN - 1) / UKT_NN, nn0 = (N + np - 1) / np;                   \
        int64_t kcb = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC);                     \
        for (int64_t k0 = 0; k0 < K; k0 += kcb) {                                           \
            int64_t kc = K - k0 < kcb ? K - k0 : kcb;                                       \
            int addk = add || k0 > 0;                                                       \
            for (int64_t m = 0; m < M; m += MT) {                                           \
                int64_t mr = M - m < MT ? M - m : MT;                                       \
                for (int64_t n = 0; n < N; n += nn0) {                                      \
                    int64_t nn = N - n < nn0 ? N - n : nn0;                                 \
                    ukt_##S[nn](kc, A + k0 * lda + m, lda, B + k0 * rsb + n * csb, rsb, csb, \
                                C + m * ldc + n, ldc, addk, mr);                            \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* op(A) = A, N <= NARROW_N: dot products against the rows of op(B); 0 when */         \
    /* Bᵀ would have to be copied and does not fit the per-thread scratch. */              \
    static int narrow_n_##S(int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, \
                            const T *B, int64_t ldb, int add, T *C, int64_t ldc) {          \
        if (!tB) { /* rows of Bᵀ start on 64-byte boundaries: no split loads */             \
            int64_t ldt = (K + 64 / (int64_t)sizeof(T) - 1) & -(64 / (int64_t)sizeof(T));   \
            T *bt = (size_t)N * (size_t)ldt <= SCRATCH_MAX / sizeof(T) ? scratch_get((size_t)(N * ldt) * sizeof(T)) : NULL; \
            if (!bt) return 0;                                                              \
            for (int64_t k = 0; k < K; k++)                                                 \
                for (int64_t n = 0; n < N; n++) bt[n * ldt + k] = B[k * ldb + n];           \
            B = bt;                                                                         \
            ldb = ldt;                                                                      \
        }                                                                                   \
        direct_##S(0, 1, M, N, K, A, lda, B, ldb, add, C, ldc);                             \
        return 1;                                                                           \
    }

NARROW_IMPL(float, f32)
NARROW_IMPL(double, f64)
#define NARROW(T, S)                                                                        \
    if (transA ? N <= NARROW_T_N_##S && M >= UKT_MV * VL_##S : N <= NARROW_D_N_##S) {        \
        if (transA) {                                                                       \
            narrow_t_##S(transB, M, N, K, A, lda, B, ldb, add, C, ldc);                     \
            return;                                                                         \
        }                                                                                   \
        if (narrow_n_##S(transB, M, N, K, A, lda, B, ldb, add, C, ldc)) return;             \
    }
#else
#define NARROW(T, S)
#endif

/* pack_b with transpose, 8 rows of B (8 columns of op(B)) at a time:
 * dst[k·w + t] = s0[t·ldb + k] for t < 8, k < kc. With AVX2 an 8×8 block is
 * loaded as 8 row vectors and transposed in registers (unpack, shuffle,
 * permute), where the scalar loop gathers one element per load; a copy
 * either way, so the bits are the same. */
static inline void pack_bt8_f32(const float *restrict s0, int64_t ldb, int64_t kc, float *restrict dst, int64_t w) {
    int64_t k = 0;
#if defined(__AVX2__)
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8], t[8], u[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s0 + i * ldb + k);
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
            u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
            u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
        }
        for (int i = 0; i < 4; i++) {
            _mm256_storeu_ps(dst + (k + i) * w, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
            _mm256_storeu_ps(dst + (k + i + 4) * w, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
        }
    }
#endif
    for (; k < kc; k++) {
        float *d = dst + k * w;
        for (int t = 0; t < 8; t++) d[t] = s0[t * ldb + k];
    }
}
static inline void pack_bt8_f64(const double *restrict s0, int64_t ldb, int64_t kc, double *restrict dst, int64_t w) {
    for (int64_t k = 0; k < kc; k++) {
        double *d = dst + k * w;
        for (int t = 0; t < 8; t++) d[t] = s0[t * ldb + k];
    }
}

/* pack_b without transpose: kc rows of nr <= NR elements (row stride ldb)
 * into rows of w (zero-padded), as whole vectors, the last one masked; a
 * plain element loop here would become one memmove call per row. */
#if HAVE_VMASK
#define PACK_ROWS(T, S)                                                                     \
    {                                                                                       \
        int nv = (int)(w / VL);                                                             \
        vm_##S m = VMASK_##S((int)(nr - w + VL));                                           \
        for (int64_t k = 0; k < kc; k++, src += ldb) {                                      \
            T *d = dst + k * w;                                                             \
            for (int v = 0; v < ISA_NVMAX; v++)                                             \
                if (v < nv - 1) VST_##S(d + v * VL, VLD_##S(src + v * VL));                 \
            VST_##S(d + (nv - 1) * VL, VLDM_##S(src + (nv - 1) * VL, m));                   \
        }                                                                                   \
    }
#else
#define PACK_ROWS(T, S)                                                                     \
    {                                                                                       \
        int nv = (int)(nr / VL);                                                            \
        for (int64_t k = 0; k < kc; k++, src += ldb) {                                      \
            T *d = dst + k * w;                                                             \
            for (int v = 0; v < ISA_NVMAX; v++)                                             \
                if (v < nv) VST_##S(d + v * VL, VLD_##S(src + v * VL));                     \
            for (int64_t j = (int64_t)nv * VL; j < w; j++) d[j] = j < nr ? src[j] : 0;      \
        }                                                                                   \
    }
#endif

/* A tile that overhangs C: with vector masks, the edge kernel stores its mr
 * rows and nr columns straight into C; otherwise the full tile is computed
 * into a scratch tile and its valid part added or copied into C. */
#if HAVE_VMASK
#define EDGE_TILE(T, S) ukre_##S[w / VL](kc, a, rsa, csa, b, rsb, c, g->ldc, add, (int)mr, (int)(nr - w + VL));
#else
#define EDGE_TILE(T, S)                                                                     \
    {                                                                                       \
        _Alignas(64) T tile[MR_##S * NR_##S];                                               \
        f(kc, a, rsa, csa, b, rsb, tile, w, 0);                                             \
        for (int64_t i = 0; i < mr; i++)                                                    \
            for (int64_t j = 0; j < nr; j++)                                                \
                c[i * g->ldc + j] = add ? c[i * g->ldc + j] + tile[i * w + j] : tile[i * w + j]; \
    }
#endif

/* ---- the generic driver, instantiated per dtype ---- */

#define GEMM_IMPL(T, S)                                                                     \
    /* A[m0:m0+mb, k0:k0+kc] -> MR-row micro-panels [k][MR], zero-padded rows. */           \
    static void pack_a_##S(int tA, const T *A, int64_t lda, int64_t m0, int64_t mb,         \
                           int64_t k0, int64_t kc, T *restrict dst) {                       \
        enum { MR = MR_##S };                                                               \
        for (int64_t p = 0; p < mb; p += MR, dst += MR * kc) {                              \
            int64_t mr = mb - p < MR ? mb - p : MR;                                         \
            if (tA) { /* MR contiguous elements per k: fixed-size moves, no memmove */     \
                const T *src = A + k0 * lda + m0 + p;                                       \
                if (mr == MR)                                                               \
                    for (int64_t k = 0; k < kc; k++, src += lda)                            \
                        for (int r = 0; r < MR; r++) dst[k * MR + r] = src[r];              \
                else                                                                        \
                    for (int64_t k = 0; k < kc; k++, src += lda)                            \
                        for (int r = 0; r < MR; r++) dst[k * MR + r] = r < mr ? src[r] : 0; \
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
                const T *src = B + k0 * ldb + n0 + q;                                       \
                PACK_ROWS(T, S)                                                             \
            } else {                                                                        \
                /* 8 columns of B's rows at a time: reads stay sequential */              \
                int64_t j = 0;                                                              \
                for (; j + 8 <= nr; j += 8)                                                 \
                    pack_bt8_##S(B + (n0 + q + j) * ldb + k0, ldb, kc, dst + j, w);         \
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
    /* One MR × w tile of C: the full kernel, or the edge kernel for the mr rows */        \
    /* and nr columns that lie in C. */                                                     \
    static inline void tile_##S(const gemm_##S *g, int64_t kc, const T *a, int64_t rsa,     \
                                int64_t csa, const T *b, int64_t rsb, T *c, int add,        \
                                int64_t mr, int64_t nr, int64_t w) {                        \
        enum { MR = MR_##S, VL = VL_##S };                                                  \
        ukr_##S##_fn f = ukr_##S[w / VL];                                                   \
        if (mr == MR && nr == w)                                                            \
            f(kc, a, rsa, csa, b, rsb, c, g->ldc, add);                                     \
        else                                                                                \
            EDGE_TILE(T, S)                                                                 \
    }                                                                                       \
                                                                                            \
    /* C[m0:m0+mb, n0:n0+nb] (+)= A[m0.., k0:k0+kc]·B[k0.., n0..]: the unit of */          \
    /* work a thread pool would split. Any set of (A micro-panel, B micro-panel) */        \
    /* pairs computes the same bits, wherever and in whatever order it runs. */            \
    static void macro_##S(const gemm_##S *g, int64_t m0, int64_t mb, int64_t k0, int64_t kc, \
                          int64_t n0, int64_t nb, int add) {                                \
        enum { MR = MR_##S, NR = NR_##S, VL = VL_##S };                                     \
        T *edge_a = g->pa, *edge_b = g->pb;                                                 \
        /* unpacked B: only the last, ragged panel is packed (reads stay in bounds) */     \
        int64_t qlast = (nb - 1) / NR * NR;                                                 \
        int ragged = !g->packb && (nb - qlast) % VL != 0;                                   \
        if (ragged) pack_b_##S(g->tB, g->B, g->ldb, k0, kc, n0 + qlast, nb - qlast, edge_b); \
        if (g->packa && g->packb) { /* B micro-panel in L1, A micro-panels stream from L2 */ \
            for (int64_t q = 0; q < nb; q += NR) {                                          \
                int64_t nr = nb - q < NR ? nb - q : NR;                                     \
                int64_t w = (nr + VL - 1) / VL * VL, rsb = w, rsa = 1, csa = MR;            \
                const T *b = g->pb + q * kc;                                                \
                for (int64_t p = 0; p < mb; p += MR)                                        \
                    tile_##S(g, kc, g->pa + p * kc, rsa, csa, b, rsb, g->C + (m0 + p) * g->ldc + n0 + q, \
                             add, mb - p < MR ? mb - p : MR, nr, w);                        \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
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
                tile_##S(g, kc, a, rsa, csa, b, rsb, g->C + (m0 + p) * g->ldc + n0 + q, add, mr, nr, w); \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    void tg__gemm_##S(int transA, int transB, int64_t M, int64_t N, int64_t K, const T *A,  \
                      int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {    \
        enum { MR = MR_##S, NR = NR_##S, KC = KC_##S, MP = MP_##S, NP = NP_##S };           \
        int add = beta != 0;                                                                \
        if (M <= 0 || N <= 0) return;                                                       \
        if (USE_BLAS) {                                                                     \
            tg__blas_gemm_##S(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);       \
            return;                                                                         \
        }                                                                                   \
        if (K <= 0) {                                                                       \
            if (!add)                                                                       \
                for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(T)); \
            return;                                                                         \
        }                                                                                   \
        if (K == 1) {                                                                       \
            rank1_##S(transA, transB, M, N, A, lda, B, ldb, add, C, ldc);                   \
            return;                                                                         \
        }                                                                                   \
        if (M >= DIRECT_M && (double)M * (double)N * (double)K > DIRECT_FLOPS) {            \
            NARROW(T, S)                                                                    \
        }                                                                                   \
        gemm_##S g = {transA, transB, A, B, lda, ldb, C, ldc, 1, 1, NULL, NULL};            \
        /* Pack A when several B panels reuse each A micro-panel; pack B when */           \
        /* several A micro-panels reuse it (or it must be transposed). */                  \
        g.packa = N > (int64_t)PACKA_MIN_PANELS * NR - NR;                                  \
        g.packb = transB || M > (int64_t)PACKB_MIN_PANELS * MR - MR;                        \
        if (M >= DIRECT_M && (double)M * (double)N * (double)K > DIRECT_FLOPS) {            \
            int64_t kcmax = K < KC ? K : KC;                                                \
            int64_t mbmax = M < MP ? (M + MR - 1) / MR * MR : MP;                           \
            int64_t nbmax = N < NP ? (N + NR - 1) / NR * NR : NP;                           \
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
        /* K in equal blocks of at most KC (no short tail block), M likewise in */         \
        /* equal blocks of at most MP rows, rounded up to a multiple of MR. BLIS */        \
        /* order: each B block is packed once per (n0, k0), the A blocks run under it. */   \
        int64_t kcb = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC);                     \
        int64_t nmp = (M + MP - 1) / MP, mpb = ((M + nmp - 1) / nmp + MR - 1) / MR * MR;     \
        for (int64_t n0 = 0; n0 < N; n0 += NP) {                                            \
            int64_t nb = N - n0 < NP ? N - n0 : NP;                                         \
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {                                       \
                int64_t kc = K - k0 < kcb ? K - k0 : kcb;                                   \
                int addk = add || k0 > 0;                                                   \
                if (g.packb) pack_b_##S(transB, B, ldb, k0, kc, n0, nb, g.pb);              \
                for (int64_t m0 = 0; m0 < M; m0 += mpb) {                                   \
                    int64_t mb = M - m0 < mpb ? M - m0 : mpb;                               \
                    if (g.packa) pack_a_##S(transA, A, lda, m0, mb, k0, kc, g.pa);          \
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
 * identical at 1, 2 or 64 threads. Small products (under GEMM_MT_FLOPS, 1
 * MFLOP) are one task: handing them to the pool costs more than it saves.
 * With the pool's workers spinning between jobs a hand-off costs a few µs,
 * so the MLP's 2-MFLOP output-layer products (200×500·500×10 and its
 * gradients, 40-60 µs each) are split too (4 MFLOP before: MLP 4% faster). */
#define GEMM_TM 192 /* the most rows of a tile; tiles are of equal height (gemm_tile_m) */
#define GEMM_TN 256  /* a multiple of every NR */
#define GEMM_MT_FLOPS 1.0e6
/* A product with a single row tile (M <= GEMM_TM) and fewer than
 * GEMM_MIN_TILES column tiles of GEMM_TN gets narrower column tiles, a
 * multiple of GEMM_TN_MIN wide, so that small-M products (the LSTM's
 * 32×128·128×512 and 32×512·512×128) still spread over the cores. */
#define GEMM_MIN_TILES 4
/* Products of GEMM_BIG_FLOPS or more (1024^3) get tiles of up to 512 × 512:
 * each tile packs its own A rows and B columns, so 192 × 256 tiles packed A
 * 4 times and B 6 times over at 1024^3. 1024^3 on 2 threads: 154 -> 164
 * GFLOP/s (medians of 6 interleaved runs, with the BLIS loop order). */
#define GEMM_BIG_FLOPS 1.0e9
#define GEMM_TM_BIG 512
#define GEMM_TN_BIG 512 /* a multiple of every NR */
#define GEMM_TN_MIN 64 /* a multiple of every NR */
/* Row tiles: as few as GEMM_TM allows, of equal height rounded up to a
 * multiple of 12 (every MR), so that no tile is a thin remainder (M = 200
 * was 192 + 8 rows). */
static int64_t gemm_tile_m(int64_t M, int64_t most) {
    int64_t tm = (M + most - 1) / most, h = (M + tm - 1) / tm;
    return (h + 11) / 12 * 12;
}
static int64_t gemm_tile_n(int64_t M, int64_t N) {
    if (M > GEMM_TM || N >= (int64_t)GEMM_MIN_TILES * GEMM_TN) return GEMM_TN;
    int64_t w = (N + GEMM_MIN_TILES - 1) / GEMM_MIN_TILES;
    w = (w + GEMM_TN_MIN - 1) / GEMM_TN_MIN * GEMM_TN_MIN;
    return w < GEMM_TN ? w : GEMM_TN;
}

#define GEMM_MT(S, T)                                                                            \
    typedef struct {                                                                             \
        int ta, tb;                                                                              \
        int64_t M, N, K, lda, ldb, ldc, tiles_n, th, tw;                                         \
        const T *A, *B;                                                                          \
        T beta, *C;                                                                              \
    } mt_##S;                                                                                    \
    static void mt_task_##S(void *arg, int64_t t) {                                              \
        const mt_##S *g = arg;                                                                   \
        int64_t m0 = (t / g->tiles_n) * g->th, n0 = (t % g->tiles_n) * g->tw;                    \
        int64_t mm = g->M - m0 < g->th ? g->M - m0 : g->th;                                      \
        int64_t nn = g->N - n0 < g->tw ? g->N - n0 : g->tw;                                      \
        const T *a = g->ta ? g->A + m0 : g->A + m0 * g->lda;                                     \
        const T *b = g->tb ? g->B + n0 * g->ldb : g->B + n0;                                     \
        tg__gemm_##S(g->ta, g->tb, mm, nn, g->K, a, g->lda, b, g->ldb, g->beta,                  \
                     g->C + m0 * g->ldc + n0, g->ldc);                                           \
    }                                                                                            \
    void tg__gemm_mt_##S(tg_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,  \
                         const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,         \
                         int64_t ldc) {                                                          \
        int big = 2.0 * (double)M * (double)N * (double)K >= GEMM_BIG_FLOPS;                    \
        int64_t tw = big ? GEMM_TN_BIG : gemm_tile_n(M, N);                                      \
        int64_t th = gemm_tile_m(M, big ? GEMM_TM_BIG : GEMM_TM);                                \
        int64_t tm = (M + th - 1) / th, tn = (N + tw - 1) / tw;                                  \
        if (USE_BLAS || 2.0 * (double)M * (double)N * (double)K < GEMM_MT_FLOPS || tm * tn <= 1) { \
            tg__gemm_##S(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);                 \
            return;                                                                              \
        }                                                                                        \
        mt_##S g = {transA, transB, M, N, K, lda, ldb, ldc, tn, th, tw, A, B, beta, C};          \
        tg__parallel_for(ctx, tm * tn, mt_task_##S, &g);                                         \
    }

GEMM_MT(f32, float)
GEMM_MT(f64, double)
