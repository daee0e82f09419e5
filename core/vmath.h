/* vmath.h: SLEEF-backed vector maps, y[i] = f(x[i]), n elements; x and y
 * may be the same array. u10 accuracy (1.0 ULP) in both dtypes. */
#ifndef TG_VMATH_H
#define TG_VMATH_H
#include <stdint.h>

#define TG_VMATH_DECL(fn)                                           \
    void tg__v##fn##_f32(const float *x, float *y, int64_t n);      \
    void tg__v##fn##_f64(const double *x, double *y, int64_t n);
TG_VMATH_DECL(exp)
TG_VMATH_DECL(log)
TG_VMATH_DECL(tanh)
TG_VMATH_DECL(log1p)
TG_VMATH_DECL(expm1)
TG_VMATH_DECL(erf)
#undef TG_VMATH_DECL

/* "avx512", "avx2" or "sse2": the ISA this build was compiled for. */
const char *tg__isa_name(void);
#endif
