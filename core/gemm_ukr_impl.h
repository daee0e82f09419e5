/* gemm_ukr_impl.h: the register micro-kernel for one dtype and one tile
 * width, included by gemm_ukernel_impl.h with T, S and NV (vectors per row of
 * the tile, 1 .. ISA_NVMAX) defined.
 *
 * c[MR × NV·VL] (row stride ldc) = (add ? c : 0) + a·b over kc. Element
 * (i,k) of the A micro-panel is a[i·rsa + k·csa]; row k of the B micro-panel
 * is the NV·VL contiguous elements at b + k·rsb. Packed panels have rsa = 1,
 * csa = MR, rsb = NV·VL; the same kernel reads A and B where they lie when a
 * panel would be packed for a single use. The body computes `rows` rows (a
 * compile-time constant at every call: MR, or the mr of an edge tile, so a
 * 2-row edge costs a third of a full tile, not a full one). The C tile is
 * prefetched before the k loop, which is unrolled by 4 (the LSTM benchmark:
 * about 10% faster with both, docs/benchmarks.md). */
static inline __attribute__((always_inline)) void FNV(ukr_body)(int64_t kc, const T *restrict a, int64_t rsa,
                                                                int64_t csa, const T *restrict b, int64_t rsb,
                                                                T *restrict c, int64_t ldc, int add, int edge,
                                                                int mr, int nrl, int rows) {
    vt acc[MR][NV];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = VZERO();
    for (int i = 0; i < rows; i++) { /* the C tile is needed at the end: fetch it now */
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + NV * VL - 1, 1, 3);
    }
    _Pragma("GCC unroll 4")
    for (int64_t k = 0; k < kc; k++) {
        vt bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = VLD(b + v * VL);
        for (int i = 0; i < rows; i++) {
            vt av = VSET1(a[i * rsa]);
            for (int v = 0; v < NV; v++) acc[i][v] = VFMA(av, bv[v], acc[i][v]);
        }
        a += csa;
        b += rsb;
    }
    if (edge) {
#if HAVE_VMASK
        /* the first mr rows and the first nrl lanes of the last vector, straight
         * into C; the packed panels are zero-padded, so the other lanes compute
         * zeros that are never stored */
        vm m = VMASK(nrl);
        for (int i = 0; i < rows; i++) {
            if (i >= mr) break;
            T *p = c + i * ldc;
            for (int v = 0; v < NV - 1; v++, p += VL)
                VST(p, add ? VADD(VLD(p), acc[i][v]) : acc[i][v]);
            VSTM(p, m, add ? VADD(VLDM(p, m), acc[i][NV - 1]) : acc[i][NV - 1]);
        }
#else
        (void)mr, (void)nrl;
#endif
    } else if (add) {
        for (int i = 0; i < rows; i++)
            for (int v = 0; v < NV; v++) {
                T *p = c + i * ldc + v * VL;
                VST(p, VADD(VLD(p), acc[i][v]));
            }
    } else {
        for (int i = 0; i < rows; i++)
            for (int v = 0; v < NV; v++) VST(c + i * ldc + v * VL, acc[i][v]);
    }
}

static void FNV(ukr)(int64_t kc, const T *a, int64_t rsa, int64_t csa, const T *b, int64_t rsb, T *c, int64_t ldc,
                     int add) {
    if (rsa == 1 && csa == MR && rsb == NV * VL) /* packed: constant strides */
        FNV(ukr_body)(kc, a, 1, MR, b, NV * VL, c, ldc, add, 0, 0, 0, MR);
    else
        FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 0, 0, 0, MR);
}

#if HAVE_VMASK
/* Edge tiles: only the mr stored rows are computed (rows is a constant in
 * each case, r = 1 .. MR; MR is 6 wherever there are vector masks), and each
 * stored element gets the bits the full kernel would give it. */
static inline __attribute__((always_inline)) void FNV(ukre_rows)(int64_t kc, const T *a, int64_t rsa, int64_t csa,
                                                                 const T *b, int64_t rsb, T *c, int64_t ldc,
                                                                 int add, int mr, int nrl) {
    switch (mr) {
    case 1: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, 1); break;
    case 2: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, 2); break;
    case 3: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, 3); break;
    case 4: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, 4); break;
    case 5: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, 5); break;
    default: FNV(ukr_body)(kc, a, rsa, csa, b, rsb, c, ldc, add, 1, mr, nrl, MR); break;
    }
}
static void FNV(ukre)(int64_t kc, const T *a, int64_t rsa, int64_t csa, const T *b, int64_t rsb, T *c,
                      int64_t ldc, int add, int mr, int nrl) {
    if (rsa == 1 && csa == MR && rsb == NV * VL)
        FNV(ukre_rows)(kc, a, 1, MR, b, NV * VL, c, ldc, add, mr, nrl);
    else
        FNV(ukre_rows)(kc, a, rsa, csa, b, rsb, c, ldc, add, mr, nrl);
}
#endif
