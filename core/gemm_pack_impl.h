/* gemm_pack_impl.h: packing for one dtype, included by gemm_pack.c with T
 * and S defined. */
/* A[m0:m0+mb, k0:k0+kc] -> MR-row micro-panels [k][MR], zero-padded rows. */
void FN(tg__gemm_pack_a)(int tA, const T *A, int64_t lda, int64_t m0, int64_t mb,
                       int64_t k0, int64_t kc, T *restrict dst) {
    for (int64_t p = 0; p < mb; p += MR, dst += MR * kc) {
        int64_t mr = mb - p < MR ? mb - p : MR;
        if (tA) { /* MR contiguous elements per k: fixed-size moves, no memmove */
            const T *src = A + k0 * lda + m0 + p;
            if (mr == MR)
                for (int64_t k = 0; k < kc; k++, src += lda)
                    for (int r = 0; r < MR; r++) dst[k * MR + r] = src[r];
            else
                for (int64_t k = 0; k < kc; k++, src += lda)
                    for (int r = 0; r < MR; r++) dst[k * MR + r] = r < mr ? src[r] : 0;
        } else {
            for (int64_t r = 0; r < MR; r++) {
                if (r >= mr) {
                    for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = 0;
                    continue;
                }
                const T *src = A + (m0 + p + r) * lda + k0;
                for (int64_t k = 0; k < kc; k++) dst[k * MR + r] = src[k];
            }
        }
    }
}

/* B[k0:k0+kc, n0:n0+nb] -> micro-panels [k][w]: w = NR, and for the last
 * columns the narrowest multiple of VL that covers them (zero-padded). A
 * stored row of B (no transpose) is kc rows of nr <= NR elements at a stride
 * of ldb; Bᵀ is read 8 of its rows at a time (pack_bt8), so reads stay
 * sequential. */
void FN(tg__gemm_pack_b)(int tB, const T *B, int64_t ldb, int64_t k0, int64_t kc,
                       int64_t n0, int64_t nb, T *restrict dst) {
    for (int64_t q = 0; q < nb; q += NR) {
        int64_t nr = nb - q < NR ? nb - q : NR;
        int64_t w = (nr + VL - 1) / VL * VL;
        if (!tB) {
            const T *src = B + k0 * ldb + n0 + q;
            {
                /* whole vectors, the last one masked: a plain element loop here
                 * would become one memmove call per row */
#if HAVE_VMASK
                int nv = (int)(w / VL);
                vm m = VMASK((int)(nr - w + VL));
                for (int64_t k = 0; k < kc; k++, src += ldb) {
                    T *d = dst + k * w;
                    for (int v = 0; v < ISA_NVMAX; v++)
                        if (v < nv - 1) VST(d + v * VL, VLD(src + v * VL));
                    VST(d + (nv - 1) * VL, VLDM(src + (nv - 1) * VL, m));
                }
#else
                int nv = (int)(nr / VL);
                for (int64_t k = 0; k < kc; k++, src += ldb) {
                    T *d = dst + k * w;
                    for (int v = 0; v < ISA_NVMAX; v++)
                        if (v < nv) VST(d + v * VL, VLD(src + v * VL));
                    for (int64_t j = (int64_t)nv * VL; j < w; j++) d[j] = j < nr ? src[j] : 0;
                }
#endif
            }
        } else {
            /* 8 columns of B's rows at a time: reads stay sequential */
            int64_t j = 0;
            for (; j + 8 <= nr; j += 8)
                FN(pack_bt8)(B + (n0 + q + j) * ldb + k0, ldb, kc, dst + j, w);
            for (; j < nr; j++) {
                const T *s0 = B + (n0 + q + j) * ldb + k0;
                for (int64_t k = 0; k < kc; k++) dst[k * w + j] = s0[k];
            }
            for (; j < w; j++)
                for (int64_t k = 0; k < kc; k++) dst[k * w + j] = 0;
        }
        dst += w * kc;
    }
}
