/* gemm_mt.c: the multi-threaded GEMM entry, tg__gemm_mt_*.
 * C is cut into fixed tiles of GEMM_TM rows × GEMM_TN columns; each tile is
 * one task running the serial GEMM on its sub-problem. The tiling depends
 * only on (M, N, K), never on the thread count, and every element of C is
 * computed inside exactly one tile by the same code, so results are bitwise
 * identical at 1, 2 or 64 threads. Small products (under GEMM_MT_FLOPS, 1
 * MFLOP) are one task: handing them to the pool costs more than it saves.
 * With the pool's workers spinning between jobs a hand-off costs a few µs,
 * so the MLP's 2-MFLOP output-layer products (200×500·500×10 and its
 * gradients, 40-60 µs each) are split too: the MLP ran 4% faster with the
 * limit at 1 MFLOP than at 4 (docs/benchmarks.md, "GEMM"). */
#include "gemm.h"

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
 * 4 times and B 6 times over at 1024^3 (1024^3 on 2 threads: 154 GFLOP/s
 * with those, 164 with 512 × 512; docs/benchmarks.md, "GEMM"). */
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

#define TG_DTYPE_IMPL "gemm_mt_impl.h"
#include "each_dtype.h"
