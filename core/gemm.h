/* gemm.h: private to the GEMM files of core/ (gemm.c the driver, gemm_ukernel.c
 * the register micro-kernels, gemm_pack.c the packing, gemm_small.c the rank-1,
 * direct and narrow paths, gemm_mt.c the multi-threaded entry). It holds the
 * ISA layer, the blocking constants and the prototypes the files share.
 *
 * Per-dtype code is written once, in an implementation header (gemm_*_impl.h)
 * that a .c file includes once per dtype with T (float, double) and S (f32,
 * f64) defined, and undefines after. Inside, the ISA names below without
 * their suffix (VLD, vt, MR, KC, ...) stand for the dtype's own (VLD_f32, ...)
 * and FN(name) is name_S, so one line of source serves both dtypes and the
 * debugger and profiler see it. */
#ifndef TG_GEMM_H
#define TG_GEMM_H
#include "internal.h"

/* ---- the current dtype's names, for the implementation headers ----
 * Expanded where they are used, with S defined: VLD is VLD_f32 or VLD_f64. */
#define TG_GLUE_(a, b) a##_##b
#define TG_GLUE(a, b) TG_GLUE_(a, b)
#define FN(name) TG_GLUE(name, S)
/* name_S_NV, for code also generated per vector count NV (or tile width) */
#define FNV(name) TG_GLUE(FN(name), NV)
#define vt TG_GLUE(vt, S)
#define vm TG_GLUE(vm, S)
#define p8 TG_GLUE(p8, S)
#define VL TG_GLUE(VL, S)
#define MR TG_GLUE(MR, S)
#define NR TG_GLUE(NR, S)
#define KC TG_GLUE(KC, S)
#define MP TG_GLUE(MP, S)
#define NP TG_GLUE(NP, S)
#define VLD TG_GLUE(VLD, S)
#define VST TG_GLUE(VST, S)
#define VSET1 TG_GLUE(VSET1, S)
#define VZERO TG_GLUE(VZERO, S)
#define VFMA TG_GLUE(VFMA, S)
#define VADD TG_GLUE(VADD, S)
#define VMUL TG_GLUE(VMUL, S)
#define VMASK TG_GLUE(VMASK, S)
#define VLDM TG_GLUE(VLDM, S)
#define VSTM TG_GLUE(VSTM, S)
#define SFMA TG_GLUE(SFMA, S)
#define P8ZERO TG_GLUE(P8ZERO, S)
#define P8LD TG_GLUE(P8LD, S)
#define P8LDM TG_GLUE(P8LDM, S)
#define P8FMA TG_GLUE(P8FMA, S)
#define P8PIN TG_GLUE(P8PIN, S)
#define P8SUMS TG_GLUE(P8SUMS, S)


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
#define T float
#define S f32
#include "gemm_p8_scalar.h"
#undef T
#undef S
#define P8PIN_f32(v) (void)0
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
#define T double
#define S f64
#include "gemm_p8_scalar.h"
#undef T
#undef S
#define P8PIN_f64(v) (void)0
#endif
#define P8SUMS_f64(acc, out, n)                                                     \
    for (int q_ = 0; q_ < (n); q_++) (out)[q_] = p8sum_f64((acc)[q_])

/* Blocking (see the top of gemm.c): K blocks of at most KC, B blocks of
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
 * fetched from L2 again for every A micro-panel (Zen 3, 32×512·512×128 on
 * 2 threads: 51 µs in place, 41 µs packed; 1024^3 in place 73 GFLOP/s,
 * packed 100; docs/benchmarks.md, "GEMM"). */
#define PACKA_MIN_PANELS 5
#define PACKB_MIN_PANELS 2

/* Below this many multiply-adds (or with M < DIRECT_M) packing costs more
 * than it saves: the direct loop runs instead. */
#define DIRECT_FLOPS 4096
#define DIRECT_M 2

/* The largest packing buffer any product can ask for (the full A block plus
 * the full B block, f32 or f64). The first request allocates this much, so a
 * thread's scratch is allocated once, at its first GEMM, and never again:
 * allocation counts do not depend on which thread got which tile. */
#define SCRATCH_MAX_F32 (((size_t)MP_f32 * KC_f32 + 15) / 16 * 16 + (size_t)NP_f32 * KC_f32) * sizeof(float)
#define SCRATCH_MAX_F64 (((size_t)MP_f64 * KC_f64 + 15) / 16 * 16 + (size_t)NP_f64 * KC_f64) * sizeof(double)
#define SCRATCH_MAX (SCRATCH_MAX_F32 > SCRATCH_MAX_F64 ? SCRATCH_MAX_F32 : SCRATCH_MAX_F64)
/* The calling thread's packing scratch, 64-byte aligned, at least bytes long
 * (gemm.c); NULL when it cannot be allocated (the caller then computes the
 * product without it: an allocation failure is not an error). */
void *tg__gemm_scratch_get(size_t bytes);

/* ---- what the files share, per dtype ---- */
typedef void (*ukr_fn_f32)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *,
                           int64_t, int);
typedef void (*ukr_fn_f64)(int64_t, const double *, int64_t, int64_t, const double *, int64_t,
                           double *, int64_t, int);
typedef void (*ukre_fn_f32)(int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *,
                            int64_t, int, int, int);
typedef void (*ukre_fn_f64)(int64_t, const double *, int64_t, int64_t, const double *, int64_t,
                            double *, int64_t, int, int, int);
/* gemm_ukernel.c: the micro-kernel for an MR × NV·VL tile, by NV (1..ISA_NVMAX),
 * and (HAVE_VMASK) its edge twin that stores mr rows and nrl lanes of the last
 * vector. */
extern const ukr_fn_f32 tg__gemm_ukr_f32[ISA_NVMAX + 1];
extern const ukr_fn_f64 tg__gemm_ukr_f64[ISA_NVMAX + 1];
#if HAVE_VMASK
extern const ukre_fn_f32 tg__gemm_ukre_f32[ISA_NVMAX + 1];
extern const ukre_fn_f64 tg__gemm_ukre_f64[ISA_NVMAX + 1];
#endif

#define TG_GEMM_PROTOS(T, S)                                                                            \
    /* gemm_pack.c: A[m0:m0+mb, k0:k0+kc] -> MR-row micro-panels [k][MR]; */                          \
    /* B[k0:k0+kc, n0:n0+nb] -> micro-panels [k][w] (zero-padded) */                                 \
    void tg__gemm_pack_a_##S(int tA, const T *A, int64_t lda, int64_t m0, int64_t mb, int64_t k0,       \
                             int64_t kc, T *restrict dst);                                              \
    void tg__gemm_pack_b_##S(int tB, const T *B, int64_t ldb, int64_t k0, int64_t kc, int64_t n0,       \
                             int64_t nb, T *restrict dst);                                              \
    /* gemm_small.c: K = 1; the direct loop; the narrow paths (1 when done) */                        \
    void tg__gemm_rank1_##S(int tA, int tB, int64_t M, int64_t N, const T *A, int64_t lda, const T *B,  \
                            int64_t ldb, int add, T *C, int64_t ldc);                                   \
    void tg__gemm_direct_##S(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,  \
                             const T *B, int64_t ldb, int add, T *C, int64_t ldc);                      \
    int tg__gemm_narrow_##S(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,   \
                            const T *B, int64_t ldb, int add, T *C, int64_t ldc);
TG_GEMM_PROTOS(float, f32)
TG_GEMM_PROTOS(double, f64)
#undef TG_GEMM_PROTOS
#endif
