/* lanes.h: row reductions (max, sum, dot) for softmax.c and loss.c, written
 * as TG_LANES independent partial results: a form the compiler turns into
 * SIMD code without -ffast-math. The order of operations is fixed (lane j
 * takes elements j, j+TG_LANES, ...; the tail and lanes fold in index
 * order), so results are deterministic. Sums of f32 accumulate in double.
 * max ignores NaN unless every element is NaN (-inf for an empty row); the
 * callers let NaN reach the output through the exp of the row instead. */
#ifndef TG_LANES_H
#define TG_LANES_H
#include <math.h>
#include <stdint.h>

#define TG_LANES 16

#define TG_LANES_DEF(T, S)                                                                    \
    static inline T tg__rowmax_##S(const T *x, int64_t n) {                                   \
        T m[TG_LANES], r = (T)-INFINITY;                                                      \
        for (int j = 0; j < TG_LANES; j++) m[j] = (T)-INFINITY;                               \
        int64_t i = 0;                                                                        \
        for (; i + TG_LANES <= n; i += TG_LANES)                                              \
            for (int j = 0; j < TG_LANES; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];      \
        for (; i < n; i++) r = x[i] > r ? x[i] : r;                                           \
        for (int j = 0; j < TG_LANES; j++) r = m[j] > r ? m[j] : r;                           \
        return r;                                                                             \
    }                                                                                         \
    static inline double tg__rowsum_##S(const T *x, int64_t n) {                              \
        double a[TG_LANES], r = 0;                                                            \
        for (int j = 0; j < TG_LANES; j++) a[j] = 0;                                          \
        int64_t i = 0;                                                                        \
        for (; i + TG_LANES <= n; i += TG_LANES)                                              \
            for (int j = 0; j < TG_LANES; j++) a[j] += (double)x[i + j];                      \
        for (; i < n; i++) r += (double)x[i];                                                 \
        for (int j = 0; j < TG_LANES; j++) r += a[j];                                         \
        return r;                                                                             \
    }                                                                                         \
    static inline double tg__rowdot_##S(const T *x, const T *y, int64_t n) {                  \
        double a[TG_LANES], r = 0;                                                            \
        for (int j = 0; j < TG_LANES; j++) a[j] = 0;                                          \
        int64_t i = 0;                                                                        \
        for (; i + TG_LANES <= n; i += TG_LANES)                                              \
            for (int j = 0; j < TG_LANES; j++) a[j] += (double)x[i + j] * (double)y[i + j];   \
        for (; i < n; i++) r += (double)x[i] * (double)y[i];                                  \
        for (int j = 0; j < TG_LANES; j++) r += a[j];                                         \
        return r;                                                                             \
    }
TG_LANES_DEF(float, f32)
TG_LANES_DEF(double, f64)
#undef TG_LANES_DEF

#endif
