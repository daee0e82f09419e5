/* blas.c: the GEMM handed to OpenBLAS, for comparison only (meson option
 * -Dblas=openblas). Built only with that option; the GEMM driver
 * (core/gemm_driver_impl.h) calls these at the top of tg__gemm_{f32,f64},
 * and tg__gemm_mt_{f32,f64} (core/gemm_mt_impl.h) then goes straight to it.
 * OpenBLAS picks its own blocking and threads (OPENBLAS_NUM_THREADS), so
 * results are not bitwise equal across thread counts in this configuration,
 * and the determinism test is expected to fail with it: it exists to measure
 * our kernels against a tuned library inside the same engine, never for real
 * use. */
#include "internal.h"

#include <cblas.h>

static enum CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

void tg__blas_gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, tr(transA), tr(transB), (blasint)M, (blasint)N, (blasint)K, 1.0f, A, (blasint)lda,
                B, (blasint)ldb, beta, C, (blasint)ldc);
}

void tg__blas_gemm_f64(int transA, int transB, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                       const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    cblas_dgemm(CblasRowMajor, tr(transA), tr(transB), (blasint)M, (blasint)N, (blasint)K, 1.0, A, (blasint)lda,
                B, (blasint)ldb, beta, C, (blasint)ldc);
}
