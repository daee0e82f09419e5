/* gemm_driver_impl.h: the serial GEMM driver for one dtype (the loop nest at
 * the top of gemm.c), included by gemm.c with T and S defined. */
typedef struct FN(gemm) {
    int tA, tB;
    const T *A, *B;
    int64_t lda, ldb;
    T *C;
    int64_t ldc;
    int packa, packb; /* 1: whole blocks are packed; 0: read in place */
    T *pa, *pb;       /* packed blocks (or the edge panels when not packing) */
} FN(gemm);

/* One MR × w tile of C: the full kernel, or for a tile that overhangs C the
 * mr rows and nr columns that lie in C: with vector masks the edge kernel
 * stores them straight into C; otherwise the full tile is computed into a
 * scratch tile and its valid part added or copied into C. */
static inline void FN(tile)(const FN(gemm) *g, int64_t kc, const T *a, int64_t rsa,
                            int64_t csa, const T *b, int64_t rsb, T *c, int add,
                            int64_t mr, int64_t nr, int64_t w) {
    FN(ukr_fn) f = FN(tg__gemm_ukr)[w / VL];
    if (mr == MR && nr == w)
        f(kc, a, rsa, csa, b, rsb, c, g->ldc, add);
    else
#if HAVE_VMASK
        FN(tg__gemm_ukre)[w / VL](kc, a, rsa, csa, b, rsb, c, g->ldc, add, (int)mr, (int)(nr - w + VL));
#else
    {
        _Alignas(64) T tile[MR * NR];
        f(kc, a, rsa, csa, b, rsb, tile, w, 0);
        for (int64_t i = 0; i < mr; i++)
            for (int64_t j = 0; j < nr; j++)
                c[i * g->ldc + j] = add ? c[i * g->ldc + j] + tile[i * w + j] : tile[i * w + j];
    }
#endif
}

/* C[m0:m0+mb, n0:n0+nb] (+)= A[m0.., k0:k0+kc]·B[k0.., n0..]: the unit of
 * work a thread pool would split. Any set of (A micro-panel, B micro-panel)
 * pairs computes the same bits, wherever and in whatever order it runs. */
static void FN(macro)(const FN(gemm) *g, int64_t m0, int64_t mb, int64_t k0, int64_t kc,
                      int64_t n0, int64_t nb, int add) {
    T *edge_a = g->pa, *edge_b = g->pb;
    /* unpacked B: only the last, ragged panel is packed (reads stay in bounds) */
    int64_t qlast = (nb - 1) / NR * NR;
    int ragged = !g->packb && (nb - qlast) % VL != 0;
    if (ragged) FN(tg__gemm_pack_b)(g->tB, g->B, g->ldb, k0, kc, n0 + qlast, nb - qlast, edge_b);
    if (g->packa && g->packb) { /* B micro-panel in L1, A micro-panels stream from L2 */
        for (int64_t q = 0; q < nb; q += NR) {
            int64_t nr = nb - q < NR ? nb - q : NR;
            int64_t w = (nr + VL - 1) / VL * VL, rsb = w, rsa = 1, csa = MR;
            const T *b = g->pb + q * kc;
            for (int64_t p = 0; p < mb; p += MR)
                FN(tile)(g, kc, g->pa + p * kc, rsa, csa, b, rsb, g->C + (m0 + p) * g->ldc + n0 + q,
                         add, mb - p < MR ? mb - p : MR, nr, w);
        }
        return;
    }
    for (int64_t p = 0; p < mb; p += MR) {
        int64_t mr = mb - p < MR ? mb - p : MR;
        const T *a;
        int64_t rsa = 1, csa = MR;
        if (g->packa) {
            a = g->pa + p * kc;
        } else if (mr < MR) { /* ragged last rows: pack them, padded with zeros */
            FN(tg__gemm_pack_a)(g->tA, g->A, g->lda, m0 + p, mr, k0, kc, edge_a);
            a = edge_a;
        } else if (!g->tA) {
            a = g->A + (m0 + p) * g->lda + k0;
            rsa = g->lda;
            csa = 1;
        } else {
            a = g->A + k0 * g->lda + m0 + p;
            csa = g->lda;
        }
        for (int64_t q = 0; q < nb; q += NR) {
            int64_t nr = nb - q < NR ? nb - q : NR;
            int64_t w = (nr + VL - 1) / VL * VL;
            const T *b;
            int64_t rsb = w;
            if (g->packb) {
                b = g->pb + q * kc;
            } else if (ragged && q == qlast) { /* the packed ragged panel */
                b = edge_b;
            } else {
                b = g->B + k0 * g->ldb + n0 + q;
                rsb = g->ldb;
            }
            FN(tile)(g, kc, a, rsa, csa, b, rsb, g->C + (m0 + p) * g->ldc + n0 + q, add, mr, nr, w);
        }
    }
}

void FN(tg__gemm)(int transA, int transB, int64_t M, int64_t N, int64_t K, const T *A,
                  int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc) {
    int add = beta != 0;
    if (M <= 0 || N <= 0) return;
    if (USE_BLAS) {
        FN(tg__blas_gemm)(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (K <= 0) {
        if (!add)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(T));
        return;
    }
    if (K == 1) {
        FN(tg__gemm_rank1)(transA, transB, M, N, A, lda, B, ldb, add, C, ldc);
        return;
    }
    if (M >= DIRECT_M && (double)M * (double)N * (double)K > DIRECT_FLOPS) {
        if (FN(tg__gemm_narrow)(transA, transB, M, N, K, A, lda, B, ldb, add, C, ldc)) return;
    }
    FN(gemm) g = {transA, transB, A, B, lda, ldb, C, ldc, 1, 1, NULL, NULL};
    /* Pack A when several B panels reuse each A micro-panel; pack B when
     * several A micro-panels reuse it (or it must be transposed). */
    g.packa = N > (int64_t)PACKA_MIN_PANELS * NR - NR;
    g.packb = transB || M > (int64_t)PACKB_MIN_PANELS * MR - MR;
    if (M >= DIRECT_M && (double)M * (double)N * (double)K > DIRECT_FLOPS) {
        int64_t kcmax = K < KC ? K : KC;
        int64_t mbmax = M < MP ? (M + MR - 1) / MR * MR : MP;
        int64_t nbmax = N < NP ? (N + NR - 1) / NR * NR : NP;
        size_t na = (size_t)((g.packa ? mbmax : MR) * kcmax);
        size_t nb = (size_t)((g.packb ? nbmax : NR) * kcmax);
        na = (na + 15) & ~(size_t)15;
        g.pa = tg__gemm_scratch_get((na + nb) * sizeof(T));
        g.pb = g.pa ? g.pa + na : NULL;
    }
    if (!g.pa) {
        FN(tg__gemm_direct)(transA, transB, M, N, K, A, lda, B, ldb, add, C, ldc);
        return;
    }
    /* K in equal blocks of at most KC (no short tail block), M likewise in
     * equal blocks of at most MP rows, rounded up to a multiple of MR. BLIS
     * order: each B block is packed once per (n0, k0), the A blocks run under it. */
    int64_t kcb = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC);
    int64_t nmp = (M + MP - 1) / MP, mpb = ((M + nmp - 1) / nmp + MR - 1) / MR * MR;
    for (int64_t n0 = 0; n0 < N; n0 += NP) {
        int64_t nb = N - n0 < NP ? N - n0 : NP;
        for (int64_t k0 = 0; k0 < K; k0 += kcb) {
            int64_t kc = K - k0 < kcb ? K - k0 : kcb;
            int addk = add || k0 > 0;
            if (g.packb) FN(tg__gemm_pack_b)(transB, B, ldb, k0, kc, n0, nb, g.pb);
            for (int64_t m0 = 0; m0 < M; m0 += mpb) {
                int64_t mb = M - m0 < mpb ? M - m0 : mpb;
                if (g.packa) FN(tg__gemm_pack_a)(transA, A, lda, m0, mb, k0, kc, g.pa);
                FN(macro)(&g, m0, mb, k0, kc, n0, nb, addk);
            }
        }
    }
}
