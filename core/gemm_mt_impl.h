/* gemm_mt_impl.h: the multi-threaded entry for one dtype, included by
 * gemm_mt.c with T and S defined. */
typedef struct {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc, tiles_n, th, tw;
    const T *A, *B;
    T beta, *C;
} FN(mt);
static void FN(mt_task)(void *arg, int64_t t) {
    const FN(mt) *g = arg;
    int64_t m0 = (t / g->tiles_n) * g->th, n0 = (t % g->tiles_n) * g->tw;
    int64_t mm = g->M - m0 < g->th ? g->M - m0 : g->th;
    int64_t nn = g->N - n0 < g->tw ? g->N - n0 : g->tw;
    const T *a = g->ta ? g->A + m0 : g->A + m0 * g->lda;
    const T *b = g->tb ? g->B + n0 * g->ldb : g->B + n0;
    FN(tg__gemm)(g->ta, g->tb, mm, nn, g->K, a, g->lda, b, g->ldb, g->beta,
                 g->C + m0 * g->ldc + n0, g->ldc);
}
void FN(tg__gemm_mt)(tg_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K,
                     const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
                     int64_t ldc) {
    /* An empty C (M = 0 or N = 0) is a product with nothing to compute and
     * nothing to tile: the tile sizes below divide by M and N. K = 0 is not
     * empty: C = beta·C (zeros for beta 0), which the serial entry does. */
    if (M <= 0 || N <= 0) return;
    int big = 2.0 * (double)M * (double)N * (double)K >= GEMM_BIG_FLOPS;
    int64_t tw = big ? GEMM_TN_BIG : gemm_tile_n(M, N);
    int64_t th = gemm_tile_m(M, big ? GEMM_TM_BIG : GEMM_TM);
    int64_t tm = (M + th - 1) / th, tn = (N + tw - 1) / tw;
    if (USE_BLAS || 2.0 * (double)M * (double)N * (double)K < GEMM_MT_FLOPS || tm * tn <= 1) {
        FN(tg__gemm)(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    FN(mt) g = {transA, transB, M, N, K, lda, ldb, ldc, tn, th, tw, A, B, beta, C};
    tg__parallel_for(ctx, tm * tn, FN(mt_task), &g);
}
