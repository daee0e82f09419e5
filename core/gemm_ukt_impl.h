/* gemm_ukt_impl.h: the transposed kernel of the narrow Aᵀ path
 * (gemm_small_impl.h) for NN columns of C, included with T, S and NN
 * (1 .. UKT_NN) defined: C[0:mr, 0:NN] (+)= Σ_k A[k·lda + 0:mr] ⊗ B[k·rsb +
 * n·csb], mr <= UKT_MV·VL. */
#define UKT_LOOP FN(TG_GLUE(ukt_loop, NN))
#define UKT_FN FN(TG_GLUE(ukt, NN))

/* t[n][0:MT] = (cont ? t[n] : 0) + Σ_k a[k·lda + 0:MT] · B(k, n): a full panel */
static __attribute__((noinline)) void UKT_LOOP(
    int64_t kc, const T *restrict a, int64_t lda, const T *restrict b, int64_t rsb,
    int64_t csb, int cont, T t[NN][UKT_MV * VL]) {
    enum { MV = UKT_MV };
    vt acc[NN][MV];
    for (int n = 0; n < NN; n++)
        for (int v = 0; v < MV; v++) acc[n][v] = cont ? VLD(t[n] + v * VL) : VZERO();
    for (int64_t k = 0; k < kc; k++, a += lda, b += rsb) {
        vt av[MV];
        for (int v = 0; v < MV; v++) {
            av[v] = VLD(a + v * VL);
            VPIN(av[v]);
        }
        for (int n = 0; n < NN; n++) {
            vt bv = VSET1(b[n * csb]);
            for (int v = 0; v < MV; v++) acc[n][v] = VFMA(av[v], bv, acc[n][v]);
        }
    }
    for (int n = 0; n < NN; n++)
        for (int v = 0; v < MV; v++) VST(t[n] + v * VL, acc[n][v]);
}
/* C[0:mr, 0:NN] (+)= Σ_k A[k·lda + 0:mr] ⊗ B(k, 0:NN), mr <= MT; a ragged
 * panel is copied, zero-padded, UKT_KCH k at a time (the chains go on). */
static void UKT_FN(int64_t kc, const T *a, int64_t lda, const T *b, int64_t rsb,
                           int64_t csb, T *c, int64_t ldc, int add, int64_t mr) {
    enum { MT = UKT_MV * VL };
    _Alignas(64) T t[NN][MT];
    if (mr == MT) {
        UKT_LOOP(kc, a, lda, b, rsb, csb, 0, t);
    } else {
        _Alignas(64) T buf[UKT_KCH][MT];
        vm m[UKT_MV];
        for (int v = 0; v < UKT_MV; v++) {
            int64_t r = mr - v * VL;
            m[v] = VMASK((int)(r < 0 ? 0 : r > VL ? VL : r));
        }
        int64_t k0 = 0;
        do { /* kc >= 1: t is always written */
            int64_t kn = kc - k0 < UKT_KCH ? kc - k0 : UKT_KCH;
            for (int64_t k = 0; k < kn; k++)
                for (int v = 0; v < UKT_MV; v++)
                    VST(buf[k] + v * VL, VLDM(a + (k0 + k) * lda + v * VL, m[v]));
            UKT_LOOP(kn, buf[0], MT, b + k0 * rsb, rsb, csb, k0 > 0, t);
            k0 += kn;
        } while (k0 < kc);
    }
    if (add)
        for (int64_t r = 0; r < mr; r++, c += ldc)
            for (int n = 0; n < NN; n++) c[n] += t[n][r];
    else
        for (int64_t r = 0; r < mr; r++, c += ldc)
            for (int n = 0; n < NN; n++) c[n] = t[n][r];
}

#undef UKT_LOOP
#undef UKT_FN
