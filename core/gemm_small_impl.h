/* gemm_small_impl.h: the products that packing does not pay for, for one
 * dtype: included by gemm_small.c with T and S defined (the ISA names of
 * gemm.h then stand for the dtype's own). */

/* The last r < VL columns of a row block: one masked vector, or scalar. */
#if HAVE_VMASK
static inline void FN(rowtail)(int64_t K, const T *a, int64_t sa, const T *b, int64_t ldb, T *c, int add, int64_t r) {
    vm m = VMASK((int)r);
    vt acc = VZERO();
    for (int64_t k = 0; k < K; k++, b += ldb) acc = VFMA(VSET1(a[k * sa]), VLDM(b, m), acc);
    VSTM(c, m, add ? VADD(VLDM(c, m), acc) : acc);
}
#else
static inline void FN(rowtail)(int64_t K, const T *a, int64_t sa, const T *b, int64_t ldb, T *c, int add, int64_t r) {
    for (int64_t j = 0; j < r; j++) {
        T s = 0;
        for (int64_t k = 0; k < K; k++) s = SFMA(a[k * sa], b[k * ldb + j], s);
        c[j] = add ? c[j] + s : s;
    }
}
#endif

#define NV 8
#include "gemm_rowblk_impl.h"
#undef NV
#define NV 4
#include "gemm_rowblk_impl.h"
#undef NV
#define NV 2
#include "gemm_rowblk_impl.h"
#undef NV
#define NV 1
#include "gemm_rowblk_impl.h"
#undef NV

#define DOT_NAME FN(dottile)
#define RI DOT_RI
#define RJ DOT_RJ
#include "gemm_dottile_impl.h"
#undef DOT_NAME
#undef RI
#undef RJ
#define DOT_NAME FN(dottile1) /* a single row of op(A) (M = 1) */
#define RI 1
#define RJ DOT_RJ1
#include "gemm_dottile_impl.h"
#undef DOT_NAME
#undef RI
#undef RJ

/* K = 1: C (+)= a·bᵀ, row by row: c[j] = c[j] + a_i·b_j (beta 1) or
 * a_i·b_j, the bits the packed path gives (its one-term chain is a_i·b_j). */
void FN(tg__gemm_rank1)(int tA, int tB, int64_t M, int64_t N, const T *A, int64_t lda,
                      const T *B, int64_t ldb, int add, T *C, int64_t ldc) {
    enum { CH = 512 };
    T buf[CH];
    int64_t sa = tA ? 1 : lda; /* element i of the column a */
    for (int64_t j0 = 0; j0 < N; j0 += CH) {
        int64_t nj = N - j0 < CH ? N - j0 : CH;
        const T *restrict b = B + j0;
        if (tB && ldb != 1) { /* B stored (N,1): gather the column */
            for (int64_t j = 0; j < nj; j++) buf[j] = B[(j0 + j) * ldb];
            b = buf;
        }
        for (int64_t i = 0; i < M; i++) {
            T a = A[i * sa], *restrict c = C + i * ldc + j0;
            vt av = VSET1(a);
            int64_t j = 0;
            if (add)
                for (; j + VL <= nj; j += VL)
                    VST(c + j, VADD(VLD(c + j), VMUL(av, VLD(b + j))));
            else
                for (; j + VL <= nj; j += VL) VST(c + j, VMUL(av, VLD(b + j)));
#if HAVE_VMASK
            if (j < nj) {
                vm m = VMASK((int)(nj - j));
                vt p = VMUL(av, VLDM(b + j, m));
                VSTM(c + j, m, add ? VADD(VLDM(c + j, m), p) : p);
            }
#else
            for (; j < nj; j++) {
                T p = a * b[j];
                c[j] = add ? c[j] + p : p;
            }
#endif
        }
    }
}

/* The strided scalar twin of the dot tiles (same 8 sums, same order). */
static T FN(dot_ref)(int64_t K, const T *a, int64_t sa, const T *b) {
    T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t k = 0; k < K; k++) s[k & 7] = SFMA(a[k * sa], b[k], s[k & 7]);
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* Direct loop. op(B) = B: each row of C is NV-vector blocks of FMA chains
 * (rowblk), so C + (the full chain), like the packed path when K <= KC.
 * op(B) = Bᵀ: dot products in 8 partial sums (dottile). */
void FN(tg__gemm_direct)(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A,
                       int64_t lda, const T *B, int64_t ldb, int add, T *C,
                       int64_t ldc) {
    enum { RI = DOT_RI, RJ = DOT_RJ, RJ1 = DOT_RJ1 };
    int64_t ra = tA ? 1 : lda, sa = tA ? lda : 1; /* A(i,k) = A[i·ra + k·sa] */
    if (!tB) {
        for (int64_t i = 0; i < M; i++) {
            const T *a = A + i * ra;
            T *c = C + i * ldc;
            int64_t j = 0;
            for (; j + 8 * VL <= N; j += 8 * VL) FN(rowblk_8)(K, a, sa, B + j, ldb, c + j, add);
            if (j + 4 * VL <= N) FN(rowblk_4)(K, a, sa, B + j, ldb, c + j, add), j += 4 * VL;
            if (j + 2 * VL <= N) FN(rowblk_2)(K, a, sa, B + j, ldb, c + j, add), j += 2 * VL;
            if (j + VL <= N) FN(rowblk_1)(K, a, sa, B + j, ldb, c + j, add), j += VL;
            if (j < N) FN(rowtail)(K, a, sa, B + j, ldb, c + j, add, N - j);
        }
    } else if (sa != 1) { /* rows of op(A) strided (Aᵀ with M > 1): scalar */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                T v = FN(dot_ref)(K, A + i * ra, sa, B + j * ldb), *p = C + i * ldc + j;
                *p = add ? *p + v : v;
            }
    } else {
        for (int64_t i = 0; i < M; i += RI) {
            int64_t mi = M - i < RI ? M - i : RI;
            if (mi == 1)
                for (int64_t j = 0; j < N; j += RJ1)
                    FN(dottile1)(K, A + i * ra, ra, 1, B + j * ldb, ldb, N - j < RJ1 ? N - j : RJ1,
                                 add, C + i * ldc + j, ldc);
            else
                for (int64_t j = 0; j < N; j += RJ)
                    FN(dottile)(K, A + i * ra, ra, mi, B + j * ldb, ldb, N - j < RJ ? N - j : RJ,
                                add, C + i * ldc + j, ldc);
        }
    }
}

/* ---- narrow N (vector masks only; see gemm_small.c) ---- */
#if HAVE_VMASK
#define NN 1
#include "gemm_ukt_impl.h"
#undef NN
#define NN 2
#include "gemm_ukt_impl.h"
#undef NN
#define NN 3
#include "gemm_ukt_impl.h"
#undef NN
#define NN 4
#include "gemm_ukt_impl.h"
#undef NN
#define NN 5
#include "gemm_ukt_impl.h"
#undef NN
#define NN 6
#include "gemm_ukt_impl.h"
#undef NN
#if UKT_NN > 6
#define NN 7
#include "gemm_ukt_impl.h"
#undef NN
#define NN 8
#include "gemm_ukt_impl.h"
#undef NN
#define NN 9
#include "gemm_ukt_impl.h"
#undef NN
#define NN 10
#include "gemm_ukt_impl.h"
#undef NN
#define NN 11
#include "gemm_ukt_impl.h"
#undef NN
#define NN 12
#include "gemm_ukt_impl.h"
#undef NN
#endif
typedef void (*FN(ukt_fn))(int64_t, const T *, int64_t, const T *, int64_t, int64_t, T *, int64_t, int, int64_t);
static const FN(ukt_fn) FN(ukt)[UKT_NN + 1] = {NULL, FN(ukt_1), FN(ukt_2), FN(ukt_3), FN(ukt_4), FN(ukt_5), FN(ukt_6)
#if UKT_NN > 6
                                               , FN(ukt_7), FN(ukt_8), FN(ukt_9), FN(ukt_10), FN(ukt_11), FN(ukt_12)
#endif
};

/* op(A) = Aᵀ, N <= NARROW_T_N: K in the packed path's equal blocks; per
 * block, panels of UKT_MV·VL rows × balanced column passes of <= UKT_NN. */
static void FN(narrow_t)(int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,
                         const T *B, int64_t ldb, int add, T *C, int64_t ldc) {
    enum { MT = UKT_MV * VL };
    int64_t rsb = tB ? 1 : ldb, csb = tB ? ldb : 1; /* op(B)(k,n) = B[k·rsb + n·csb] */
    int64_t np = (N + UKT_NN - 1) / UKT_NN, nn0 = (N + np - 1) / np;
    int64_t kcb = (K + (K + KC - 1) / KC - 1) / ((K + KC - 1) / KC);
    for (int64_t k0 = 0; k0 < K; k0 += kcb) {
        int64_t kc = K - k0 < kcb ? K - k0 : kcb;
        int addk = add || k0 > 0;
        for (int64_t m = 0; m < M; m += MT) {
            int64_t mr = M - m < MT ? M - m : MT;
            for (int64_t n = 0; n < N; n += nn0) {
                int64_t nn = N - n < nn0 ? N - n : nn0;
                FN(ukt)[nn](kc, A + k0 * lda + m, lda, B + k0 * rsb + n * csb, rsb, csb,
                            C + m * ldc + n, ldc, addk, mr);
            }
        }
    }
}
/* op(A) = A, N <= NARROW_D_N: dot products against the rows of op(B); 0 when
 * Bᵀ would have to be copied and does not fit the per-thread scratch. */
static int FN(narrow_n)(int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,
                        const T *B, int64_t ldb, int add, T *C, int64_t ldc) {
    if (!tB) { /* rows of Bᵀ start on 64-byte boundaries: no split loads */
        int64_t ldt = (K + 64 / (int64_t)sizeof(T) - 1) & -(64 / (int64_t)sizeof(T));
        T *bt = (size_t)N * (size_t)ldt <= SCRATCH_MAX / sizeof(T) ? tg__gemm_scratch_get((size_t)(N * ldt) * sizeof(T)) : NULL;
        if (!bt) return 0;
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++) bt[n * ldt + k] = B[k * ldb + n];
        B = bt;
        ldb = ldt;
    }
    FN(tg__gemm_direct)(0, 1, M, N, K, A, lda, B, ldb, add, C, ldc);
    return 1;
}

/* The narrow paths, when they apply (gemm.h): 1 when the product is done. */
int FN(tg__gemm_narrow)(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B,
                        int64_t ldb, int add, T *C, int64_t ldc) {
    if (tA ? N <= NARROW_T_N && M >= UKT_MV * VL : N <= NARROW_D_N) {
        if (tA) {
            FN(narrow_t)(tB, M, N, K, A, lda, B, ldb, add, C, ldc);
            return 1;
        }
        return FN(narrow_n)(tB, M, N, K, A, lda, B, ldb, add, C, ldc);
    }
    return 0;
}
#else
int FN(tg__gemm_narrow)(int tA, int tB, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B,
                        int64_t ldb, int add, T *C, int64_t ldc) {
    (void)tA, (void)tB, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)add, (void)C,
        (void)ldc;
    return 0; /* without vector masks the packed path serves narrow products too */
}
#endif
