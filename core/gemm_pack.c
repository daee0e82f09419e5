/* gemm_pack.c: copies a block of A or B into the micro-panel layouts of the
 * packed GEMM path (gemm.c): A micro-panel [k][MR], B micro-panel [k][w],
 * zero-padded, with the transposes absorbed. Copies only, so packing never
 * changes a bit of the result. */
#include "gemm.h"

/* pack_b with transpose, 8 rows of B (8 columns of op(B)) at a time:
 * dst[k·w + t] = s0[t·ldb + k] for t < 8, k < kc. With AVX2 an 8×8 block is
 * loaded as 8 row vectors and transposed in registers (unpack, shuffle,
 * permute), where the scalar loop gathers one element per load; a copy
 * either way, so the bits are the same. */
static inline void pack_bt8_f32(const float *restrict s0, int64_t ldb, int64_t kc, float *restrict dst, int64_t w) {
    int64_t k = 0;
#if defined(__AVX2__)
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8], t[8], u[8];
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s0 + i * ldb + k);
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
            u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
            u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
        }
        for (int i = 0; i < 4; i++) {
            _mm256_storeu_ps(dst + (k + i) * w, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
            _mm256_storeu_ps(dst + (k + i + 4) * w, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
        }
    }
#endif
    for (; k < kc; k++) {
        float *d = dst + k * w;
        for (int t = 0; t < 8; t++) d[t] = s0[t * ldb + k];
    }
}
static inline void pack_bt8_f64(const double *restrict s0, int64_t ldb, int64_t kc, double *restrict dst, int64_t w) {
    for (int64_t k = 0; k < kc; k++) {
        double *d = dst + k * w;
        for (int t = 0; t < 8; t++) d[t] = s0[t * ldb + k];
    }
}

#define TG_DTYPE_IMPL "gemm_pack_impl.h"
#include "each_dtype.h"
