/* gemm.c: the serial GEMM driver. C(M,N) = beta·C + op(A)·op(B), row-major, beta 0 or 1, for f32 and
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
 * step to MR = 6 elements instead of NR (AVX2: 16 f32, 8 f64); with the
 * 512 × 512 tiles of gemm_mt.c it took 1024^3 on 2 threads of a Zen 3 from
 * 154 to 164 GFLOP/s (docs/benchmarks.md, "GEMM").
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
 * or plain C (4×4): MR × NR/VL accumulators plus NR/VL vectors of B and one
 * broadcast fill the register file (AVX-512: 24 + 4 + 1 of 32 zmm; AVX2:
 * 12 + 2 + 1 of 16 ymm). On Zen 4 the AVX2 kernel reaches the same speed
 * (both issue two 256-bit FMAs per cycle); AVX-512 needs fewer instructions.
 * Speeds: docs/benchmarks.md, "GEMM".
 *
 * Scratch for the packed blocks is a per-thread buffer that grows once and is
 * kept, so a steady-state training step allocates nothing
 * (tg__gemm_free_scratch releases it). When it cannot be allocated, or the
 * problem is tiny, a direct loop computes the product (same results up to
 * rounding; an allocation failure is not an error).
 *
 * Paths, picked from (transA, transB, M, N, K) alone, in this order:
 *   M = 0 or N = 0   nothing: C is empty (both entries return at once).
 *   K = 0            C = beta·C: zeros for beta 0, C untouched for beta 1
 *                    (the product of an empty sum; PyTorch does the same).
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
 * results never depend on the thread count (see tg__gemm_mt_*).
 *
 * Files: gemm.h (the ISA layer, blocking, what the files share),
 * gemm_ukernel.c (micro-kernels), gemm_pack.c (packing), gemm_small.c (the
 * rank-1, direct and narrow paths), this file (scratch and the loop nest,
 * gemm_driver_impl.h), gemm_mt.c (the multi-threaded entry). */
#include "internal.h"

#include "gemm.h"

/* ---- per-thread scratch ---- */

static _Thread_local void *g_scratch;      /* as returned by tg__malloc */
static _Thread_local size_t g_scratch_cap; /* usable bytes after alignment */

void *tg__gemm_scratch_get(size_t bytes) {
    if (bytes <= g_scratch_cap) return (void *)(((uintptr_t)g_scratch + 63) & ~(uintptr_t)63);
    if (bytes < SCRATCH_MAX) bytes = SCRATCH_MAX;
    tg__free(g_scratch);
    g_scratch = tg__malloc(bytes + 64);
    g_scratch_cap = g_scratch ? bytes : 0;
    if (!g_scratch) return NULL;
    return (void *)(((uintptr_t)g_scratch + 63) & ~(uintptr_t)63);
}

void tg__gemm_reserve_scratch(void) { (void)tg__gemm_scratch_get(SCRATCH_MAX); }

void tg__gemm_free_scratch(void) {
    tg__free(g_scratch);
    g_scratch = NULL;
    g_scratch_cap = 0;
}

/* ---- the loop nest, per dtype ---- */

#define TG_DTYPE_IMPL "gemm_driver_impl.h"
#include "each_dtype.h"
