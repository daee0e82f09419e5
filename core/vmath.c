/* vmath.c: SLEEF vector maps y[i] = f(x[i]) for the transcendental functions
 * the ops need. The ISA is fixed at compile time (AVX-512, AVX2 or SSE2, set
 * by the meson option cpu); the tail that does not fill a vector goes through
 * SLEEF's scalar function of the same accuracy (u10: 1.0 ULP), so every
 * element of a tensor gets the same error bound. x and y may alias. */
#include "internal.h"
#include "vmath.h"

#include <immintrin.h>
#include <sleef.h>

#if defined(__AVX512F__)
#define VF 16
#define VD 8
#define LDF _mm512_loadu_ps
#define STF _mm512_storeu_ps
#define LDD _mm512_loadu_pd
#define STD _mm512_storeu_pd
#define SF(fn) Sleef_##fn##f16_u10avx512f
#define SD(fn) Sleef_##fn##d8_u10avx512f
#elif defined(__AVX2__) && defined(__FMA__)
#define VF 8
#define VD 4
#define LDF _mm256_loadu_ps
#define STF _mm256_storeu_ps
#define LDD _mm256_loadu_pd
#define STD _mm256_storeu_pd
#define SF(fn) Sleef_##fn##f8_u10avx2
#define SD(fn) Sleef_##fn##d4_u10avx2
#else
#define VF 4
#define VD 2
#define LDF _mm_loadu_ps
#define STF _mm_storeu_ps
#define LDD _mm_loadu_pd
#define STD _mm_storeu_pd
#define SF(fn) Sleef_##fn##f4_u10sse2
#define SD(fn) Sleef_##fn##d2_u10sse2
#endif

#define VMAP(fn)                                                           \
    void tg__v##fn##_f32(const float *x, float *y, int64_t n) {            \
        int64_t i = 0;                                                     \
        for (; i + VF <= n; i += VF) STF(y + i, SF(fn)(LDF(x + i)));       \
        for (; i < n; i++) y[i] = Sleef_##fn##f_u10(x[i]);                 \
    }                                                                      \
    void tg__v##fn##_f64(const double *x, double *y, int64_t n) {          \
        int64_t i = 0;                                                     \
        for (; i + VD <= n; i += VD) STD(y + i, SD(fn)(LDD(x + i)));       \
        for (; i < n; i++) y[i] = Sleef_##fn##_u10(x[i]);                  \
    }

VMAP(exp)
VMAP(log)
VMAP(tanh)
VMAP(log1p)
VMAP(expm1)
VMAP(erf)

const char *tg__isa_name(void) {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
    return "avx2";
#else
    return "sse2";
#endif
}
