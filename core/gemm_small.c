/* gemm_small.c: the GEMM paths that do not pack (gemm_small_impl.h, once per
 * dtype):
 *   K = 1            rank1: c[j] (+)= a_i·b_j row by row (bitwise what the
 *                    packed path gives).
 *   M = 1 or M·N·K <= DIRECT_FLOPS, and the fallback when the packing
 *                    scratch cannot be allocated
 *                    direct: op(B) = B: register blocks of up to 8 vectors
 *                    of a row of C, one FMA chain per element (= packed bits
 *                    for K <= KC); op(B) = Bᵀ: dot products, 8 partial sums.
 *   N narrow (vector masks only)
 *                    Aᵀ: the transposed kernel ukt, vectors along M (= packed
 *                    bits); A: dot products against the rows of Bᵀ.
 * Every loop has its transposes and beta decided before it starts, keeps its
 * sums in registers and runs along a contiguous axis of B and C, so the
 * compiler emits vector code with no tests inside. */
#include "gemm.h"

/* Register shapes of the dot-product tiles: DOT_RI rows of op(A) × DOT_RJ
 * rows of B, and DOT_RJ1 rows of B for a single row of op(A) (M = 1). With
 * AVX2, RI × RJ + RI + 1 ymm registers hold the f32 tile (2 × 5: 13 of 16). */
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
#define DOT_RI TG_GLUE(DOT_RI, S)
#define DOT_RJ TG_GLUE(DOT_RJ, S)
#define DOT_RJ1 TG_GLUE(DOT_RJ1, S)

/* ---- narrow N ----
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
 *    of the direct loop, 8 partial sums).
 * The ukt tile fills the register file: UKT_NN × UKT_MV accumulators, UKT_MV
 * vectors of A and one broadcast, 12 × 2 + 3 = 27 of the 32 zmm registers,
 * 6 × 2 + 3 = 15 of the 16 ymm. */
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
#define NARROW_T_N TG_GLUE(NARROW_T_N, S)
#define NARROW_D_N TG_GLUE(NARROW_D_N, S)

#if HAVE_VMASK
/* Keep a loaded vector in a register: without this GCC folds the load into
 * every FMA that uses it, and the loads, not the FMAs, set the pace. */
#define VPIN(v) __asm__("" : "+v"(v))
#endif

#define TG_DTYPE_IMPL "gemm_small_impl.h"
#include "each_dtype.h"
