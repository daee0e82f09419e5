/* vmath.h: SLEEF-backed vector maps, y[i] = f(x[i]), n elements; x and y
 * may be the same array. u10 accuracy (1.0 ULP) in both dtypes. Every
 * element, the tail included, goes through the same SLEEF vector function,
 * so f(x[i]) does not depend on i or n: any split of an array gives bitwise
 * the same result as one call. */
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

/* ---- branch-free select for elementwise loops ----
 * TG_SEL(c, a, b) is c ? a : b for float or double a, b, done on the bits
 * with a mask. GCC (with its default -ftrapping-math) does not if-convert a
 * floating-point ?: whose arms are computed values (it might move the
 * arithmetic under the condition), so a loop like
 *     s[i] = x[i] >= 0 ? r : e * r;
 * stays scalar, with a branch on the sign of x that mispredicts on real
 * data (the LSTM's sigmoid ran several times slower than its vector form).
 * Written s[i] = TG_SEL(x[i] >= 0, r, e * r), with both arms computed, it
 * vectorizes to a compare and a blend. Same value, same bits; c is any
 * condition, floating-point comparisons included. */
#include <string.h>
#define TG_SEL_DEF(S, T, U)                                             \
    static inline T tg__sel_##S(int c, T a, T b) {                      \
        U m = (U)0 - (U)(c != 0), ab, bb, o;                            \
        memcpy(&ab, &a, sizeof ab);                                     \
        memcpy(&bb, &b, sizeof bb);                                     \
        o = (ab & m) | (bb & ~m);                                       \
        T r;                                                            \
        memcpy(&r, &o, sizeof r);                                       \
        return r;                                                       \
    }
TG_SEL_DEF(f32, float, uint32_t)
TG_SEL_DEF(f64, double, uint64_t)
#undef TG_SEL_DEF
#define TG_SEL(c, a, b) _Generic((a), float: tg__sel_f32, default: tg__sel_f64)((c), (a), (b))

/* "avx512", "avx2" or "sse2": the ISA this build was compiled for. */
const char *tg__isa_name(void);

/* ---- elementwise work split over the pool ----
 * tg__parallel_range(ctx, n, fn, arg) calls fn(arg, i0, i1) on ranges that
 * cover [0, n) once. Below TG_PAR_MIN elements (or without a pool) that is a
 * single call fn(arg, 0, n) on the calling thread, the fast path for small
 * tensors; from TG_PAR_MIN up, [0, n) is cut into chunks (the last one
 * shorter) that run as tasks on ctx's pool: about n/16 elements each,
 * rounded down to a multiple of TG_PAR_CHUNK and at most TG_PAR_CHUNK_MAX
 * (tg__par_chunk). The cut depends on n alone, never on the thread count,
 * and every chunk is a multiple of every vector width and of the ops' stack
 * chunk, so a kernel that computes each element from its own inputs gives
 * bitwise the same result at any thread count.
 *
 * 4K elements: an LSTM step's gates (B = 32, H = 128: 12K and 4K elements)
 * split too (64K before; the char-LSTM bench 5-15% faster in interleaved
 * A/B pairs on a noisy shared 2-core guest). Large tensors keep 16K chunks,
 * so a 1M-element op is 64 tasks, not 512. */
#define TG_PAR_MIN ((int64_t)4096)
#define TG_PAR_CHUNK ((int64_t)2048)
#define TG_PAR_CHUNK_MAX ((int64_t)16384)
static inline int64_t tg__par_chunk(int64_t n) {
    int64_t c = n / 16 / TG_PAR_CHUNK * TG_PAR_CHUNK;
    return c < TG_PAR_CHUNK ? TG_PAR_CHUNK : c > TG_PAR_CHUNK_MAX ? TG_PAR_CHUNK_MAX : c;
}
struct tg_ctx;
typedef void (*tg__range_fn)(void *arg, int64_t i0, int64_t i1);
void tg__parallel_range(struct tg_ctx *ctx, int64_t n, tg__range_fn fn, void *arg);
#endif
