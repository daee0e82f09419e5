/* gemm_rowblk_impl.h: one block of NV vectors of a row of C for the direct
 * loop (gemm_small_impl.h), included with T, S and NV (8, 4, 2, 1) defined.
 *
 * c[0 : NV·VL] (+)= Σ_k a[k·sa] · b[k·ldb + 0 : NV·VL]: NV vectors of C, one
 * FMA chain per element over k in increasing order from 0, then added to C:
 * the same bits as the packed micro-kernel gives when K <= KC. */
static inline __attribute__((always_inline)) void FN(TG_GLUE(rowblk, NV))(
    int64_t K, const T *restrict a, int64_t sa, const T *restrict b, int64_t ldb,
    T *restrict c, int add) {
    vt acc[NV];
    for (int v = 0; v < NV; v++) acc[v] = VZERO();
    for (int64_t k = 0; k < K; k++, b += ldb) {
        vt av = VSET1(a[k * sa]);
        for (int v = 0; v < NV; v++) acc[v] = VFMA(av, VLD(b + v * VL), acc[v]);
    }
    if (add)
        for (int v = 0; v < NV; v++) {
            T *p = c + v * VL;
            VST(p, VADD(VLD(p), acc[v]));
        }
    else
        for (int v = 0; v < NV; v++) VST(c + v * VL, acc[v]);
}
