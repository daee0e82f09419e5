/* gemm_dottile_impl.h: one register tile of dot products, included by
 * gemm_small_impl.h with T, S, DOT_NAME and its shape RI × RJ defined.
 *
 * C[0:mi, 0:nj] (+)= dot products of RI rows of op(A) (contiguous, stride
 * lda) with RJ rows of B (contiguous, stride ldb), k in steps of 8 (the 8
 * partial sums of gemm.h). Missing rows (mi < RI, nj < RJ) repeat the last
 * one and are not stored. */
static void DOT_NAME(int64_t K, const T *A, int64_t lda, int64_t mi, const T *B, int64_t ldb,
                 int64_t nj, int add, T *C, int64_t ldc) {
    const T *a[RI], *b[RJ];
    p8 acc[RI][RJ];
    for (int r = 0; r < RI; r++) a[r] = A + (r < mi ? r : mi - 1) * lda;
    for (int q = 0; q < RJ; q++) b[q] = B + (q < nj ? q : nj - 1) * ldb;
    for (int r = 0; r < RI; r++)
        for (int q = 0; q < RJ; q++) acc[r][q] = P8ZERO();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        p8 av[RI];
        for (int r = 0; r < RI; r++) {
            av[r] = P8LD(a[r] + k);
            P8PIN(av[r]);
        }
        for (int q = 0; q < RJ; q++) {
            p8 bv = P8LD(b[q] + k);
            P8PIN(bv);
            for (int r = 0; r < RI; r++) acc[r][q] = P8FMA(av[r], bv, acc[r][q]);
        }
    }
    if (k < K) {
        int rk = (int)(K - k);
        p8 av[RI];
        for (int r = 0; r < RI; r++) av[r] = P8LDM(a[r] + k, rk);
        for (int q = 0; q < RJ; q++) {
            p8 bv = P8LDM(b[q] + k, rk);
            for (int r = 0; r < RI; r++) acc[r][q] = P8FMA(av[r], bv, acc[r][q]);
        }
    }
    T sum[RI][RJ]; /* reduce with constant indices: acc stays in registers */
    for (int r = 0; r < RI; r++) P8SUMS(acc[r], sum[r], RJ);
    for (int64_t r = 0; r < mi; r++)
        for (int64_t q = 0; q < nj; q++) {
            T *p = C + r * ldc + q;
            *p = add ? *p + sum[r][q] : sum[r][q];
        }
}
