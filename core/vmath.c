/* vmath.c: SLEEF vector maps y[i] = f(x[i]) for the transcendental functions
 * the ops need. The ISA is fixed at compile time (AVX-512, AVX2 or SSE2, set
 * by the meson option cpu); the tail that does not fill a vector goes through
 * the same vector function in a padded register (u10: 1.0 ULP), so every
 * element of a tensor gets the same function, whatever its position. x and y
 * may alias. Also: tg__parallel_range, the fixed-chunk split of elementwise
 * work over the thread pool. */
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

/* The tail (n mod the vector width elements) is copied into a vector padded
 * with 1s (a harmless argument for every function here) and goes through the
 * same vector function as the body: one vector call is cheaper than even one
 * call of SLEEF's scalar u10 function (tanhf: about half the time), which is
 * what a one-element tensor pays, and f(x) is the same bits wherever x sits in
 * the array. */
#define VMAP_T(fn, T, S, V, LD, ST, VFN)                                   \
    void tg__v##fn##_##S(const T *x, T *y, int64_t n) {                    \
        int64_t i = 0;                                                     \
        for (; i + V <= n; i += V) ST(y + i, VFN(LD(x + i)));              \
        if (i < n) {                                                       \
            T b[V];                                                        \
            int m = (int)(n - i);                                          \
            for (int j = 0; j < V; j++) b[j] = j < m ? x[i + j] : (T)1;    \
            ST(b, VFN(LD(b)));                                             \
            for (int j = 0; j < m; j++) y[i + j] = b[j];                   \
        }                                                                  \
    }
#define VMAP(fn) VMAP_T(fn, float, f32, VF, LDF, STF, SF(fn)) VMAP_T(fn, double, f64, VD, LDD, STD, SD(fn))

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

/* ---- tg__parallel_range ---- */

_Static_assert(TG_PAR_CHUNK % 256 == 0 && TG_PAR_CHUNK % VF == 0 && TG_PAR_CHUNK % VD == 0,
               "chunks must start on vector and stack-chunk boundaries");

typedef struct range_job {
    tg__range_fn fn;
    void *arg;
    int64_t n, chunk;
} range_job;

static void range_task(void *a, int64_t t) {
    const range_job *j = a;
    int64_t i0 = t * j->chunk, i1 = i0 + j->chunk;
    j->fn(j->arg, i0, i1 < j->n ? i1 : j->n);
}

void tg__parallel_range(tg_ctx *ctx, int64_t n, tg__range_fn fn, void *arg) {
    if (n <= 0) return;
    if (n < TG_PAR_MIN || !ctx->pool) {
        fn(arg, 0, n);
        return;
    }
    range_job j = {fn, arg, n, tg__par_chunk(n)};
    tg__parallel_for(ctx, (n + j.chunk - 1) / j.chunk, range_task, &j);
}
