/* gemm.c: C = beta*C + op(A)·op(B), row-major. A first, simple version: the
 * loops are ordered so the innermost one runs over contiguous memory and the
 * compiler vectorizes it. (Issue 7 replaces this with packed micro-kernels.) */
#include "internal.h"

#define GEMM_BODY(T)                                                             \
    for (int64_t i = 0; i < M; i++) {                                            \
        T *c = C + i * ldc;                                                      \
        if (beta == 0) for (int64_t j = 0; j < N; j++) c[j] = 0;                 \
    }                                                                            \
    if (!transB) {                                                               \
        for (int64_t i = 0; i < M; i++) {                                        \
            T *restrict c = C + i * ldc;                                         \
            for (int64_t k = 0; k < K; k++) {                                    \
                T a = transA ? A[k * lda + i] : A[i * lda + k];                  \
                const T *restrict b = B + k * ldb;                               \
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                \
            }                                                                    \
        }                                                                        \
    } else {                                                                     \
        for (int64_t i = 0; i < M; i++) {                                        \
            T *restrict c = C + i * ldc;                                         \
            for (int64_t j = 0; j < N; j++) {                                    \
                const T *restrict b = B + j * ldb;                               \
                T s = 0;                                                         \
                if (transA) for (int64_t k = 0; k < K; k++) s += A[k * lda + i] * b[k]; \
                else { const T *restrict a = A + i * lda;                        \
                       for (int64_t k = 0; k < K; k++) s += a[k] * b[k]; }       \
                c[j] += s;                                                       \
            }                                                                    \
        }                                                                        \
    }

void tg__gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    GEMM_BODY(float)
}
void tg__gemm_f64(int transA, int transB, int64_t M, int64_t N, int64_t K, const double *A,
                  int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    GEMM_BODY(double)
}
