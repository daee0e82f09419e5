/* reduce.c: sum, mean, max and logsumexp over any set of axes, with keepdim.
 *
 * Attribute block (reduce_attr): a bitmask of the reduced axes, already
 * normalized (bit a = axis a; mask 0 means every axis), and keepdim. The
 * public wrappers turn an axis list into the mask and reject bad lists.
 *
 * One engine serves all four ops. The input shape is first simplified: size-1
 * axes are dropped and neighbouring axes that are both kept or both reduced
 * are merged. What remains alternates kept/reduced, and its innermost axis
 * decides the loop shape:
 *   row mode    (innermost reduced, length R): every output element reduces
 *               contiguous rows of R elements. Reducing the last axis is the
 *               fast path: one row per output.
 *   column mode (innermost kept, length L): every reduced position adds a
 *               contiguous run of L inputs into L outputs. Reducing axis 0 of
 *               a 2-D tensor (a bias gradient) is the fast path: one run per
 *               input row, vectorized over the columns.
 * Reduced positions are visited in row-major order, and sums use a fixed
 * pattern (8 running partial sums per row, combined in a fixed order), so the
 * result never depends on anything but the shape. f32 sums accumulate in
 * double. The maximum's gradient goes to the first maximum in row-major
 * order; a NaN in a slice makes the max NaN and takes the gradient.
 * logsumexp subtracts the slice maximum; a slice of all -inf gives -inf and a
 * zero gradient. Its backward, exp(x - y), uses y kept in double (n->saved). */
#include "ops_internal.h"
#include "vmath.h"

#include <math.h>

typedef struct reduce_attr {
    uint32_t mask;  /* bit a set: axis a is reduced; 0: all axes */
    int keepdim;    /* 1: reduced axes stay with size 1 */
} reduce_attr;

enum { R_SUM, R_MEAN, R_MAX, R_LSE };
#define CH 256 /* column chunk: stack buffers of CH elements */

/* ---- the plan: simplified shape ---- */

typedef struct dims {
    int n;
    int64_t size[TG_MAX_RANK], stride[TG_MAX_RANK]; /* input strides in elements */
} dims;

typedef struct plan {
    int col;         /* 1: column mode, 0: row mode */
    int64_t inner;   /* L (column) or R (row) */
    dims kept, red;  /* outer kept / outer reduced axes */
    int64_t nred;    /* reduced positions per output element */
    int64_t nout;    /* output elements */
} plan;

static uint32_t full_mask(int rank) { return rank >= 32 ? 0xffffffffu : ((1u << rank) - 1u); }

static void make_plan(const tg_tensor *x, uint32_t mask, plan *p) {
    if (mask == 0) mask = full_mask(x->rank);
    int64_t sz[TG_MAX_RANK + 1];
    int red[TG_MAX_RANK + 1], m = 0;
    for (int a = 0; a < x->rank; a++) {
        int r = (mask >> a) & 1u;
        if (x->shape[a] == 1) continue;
        if (m > 0 && red[m - 1] == r) {
            sz[m - 1] *= x->shape[a];
        } else {
            sz[m] = x->shape[a];
            red[m++] = r;
        }
    }
    if (m == 0) { /* rank 0 or all ones: one output reduces one element */
        sz[0] = 1;
        red[0] = 1;
        m = 1;
    }
    int64_t st[TG_MAX_RANK + 1], s = 1;
    for (int i = m - 1; i >= 0; i--) {
        st[i] = s;
        s *= sz[i];
    }
    memset(p, 0, sizeof *p);
    p->col = !red[m - 1];
    p->inner = sz[m - 1];
    p->nred = p->col ? 1 : p->inner;
    p->nout = p->col ? p->inner : 1;
    for (int i = 0; i < m - 1; i++) {
        dims *d = red[i] ? &p->red : &p->kept;
        d->size[d->n] = sz[i];
        d->stride[d->n++] = st[i];
        if (red[i]) p->nred *= sz[i];
        else p->nout *= sz[i];
    }
}

/* Odometer over d: *off advances to the next position in row-major order. */
static inline void next_pos(const dims *d, int64_t *idx, int64_t *off) {
    for (int i = d->n - 1; i >= 0; i--) {
        *off += d->stride[i];
        if (++idx[i] < d->size[i]) return;
        *off -= d->stride[i] * d->size[i];
        idx[i] = 0;
    }
}
static int64_t dims_count(const dims *d) {
    int64_t c = 1;
    for (int i = 0; i < d->n; i++) c *= d->size[i];
    return c;
}

/* ---- NaN-propagating max, vectorized by hand (compilers will not turn the
 * scalar form into max instructions without -ffast-math) ----
 * MAX1(m, v): v if v is NaN, else v > m ? v : m; once m is NaN it stays NaN
 * (v > NaN is false). The vector forms use max(v, m), which returns m when
 * either is NaN (x86 maxps order), then take v where v is NaN. */
#define MAX1(m, v) (((v) != (v) || (v) > (m)) ? (v) : (m))

#if defined(__AVX512F__)
#include <immintrin.h>
static inline __m512 vmax_f32(__m512 m, __m512 v) {
    return _mm512_mask_mov_ps(_mm512_max_ps(v, m), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}
static inline __m512d vmax_f64(__m512d m, __m512d v) {
    return _mm512_mask_mov_pd(_mm512_max_pd(v, m), _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), v);
}
#define VW_f32 16
#define VW_f64 8
#define VT_f32 __m512
#define VT_f64 __m512d
#define VLD_f32 _mm512_loadu_ps
#define VLD_f64 _mm512_loadu_pd
#define VST_f32 _mm512_storeu_ps
#define VST_f64 _mm512_storeu_pd
#define VSET1_f32 _mm512_set1_ps
#define VSET1_f64 _mm512_set1_pd
#elif defined(__AVX__)
#include <immintrin.h>
static inline __m256 vmax_f32(__m256 m, __m256 v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, m), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
static inline __m256d vmax_f64(__m256d m, __m256d v) {
    return _mm256_blendv_pd(_mm256_max_pd(v, m), v, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
}
#define VW_f32 8
#define VW_f64 4
#define VT_f32 __m256
#define VT_f64 __m256d
#define VLD_f32 _mm256_loadu_ps
#define VLD_f64 _mm256_loadu_pd
#define VST_f32 _mm256_storeu_ps
#define VST_f64 _mm256_storeu_pd
#define VSET1_f32 _mm256_set1_ps
#define VSET1_f64 _mm256_set1_pd
#elif defined(__SSE2__)
#include <emmintrin.h>
static inline __m128 vmax_f32(__m128 m, __m128 v) {
    __m128 nan = _mm_cmpunord_ps(v, v);
    return _mm_or_ps(_mm_and_ps(nan, v), _mm_andnot_ps(nan, _mm_max_ps(v, m)));
}
static inline __m128d vmax_f64(__m128d m, __m128d v) {
    __m128d nan = _mm_cmpunord_pd(v, v);
    return _mm_or_pd(_mm_and_pd(nan, v), _mm_andnot_pd(nan, _mm_max_pd(v, m)));
}
#define VW_f32 4
#define VW_f64 2
#define VT_f32 __m128
#define VT_f64 __m128d
#define VLD_f32 _mm_loadu_ps
#define VLD_f64 _mm_loadu_pd
#define VST_f32 _mm_storeu_ps
#define VST_f64 _mm_storeu_pd
#define VSET1_f32 _mm_set1_ps
#define VSET1_f64 _mm_set1_pd
#endif

#ifdef VW_f32
/* Row: four vector lanes of running maxima, folded at the end (max is
 * order-independent, so the lane split changes nothing but speed). */
#define VMAX_ROW(S, T)                                                          \
    if (n >= 4 * VW_##S) {                                                      \
        VT_##S a0 = VSET1_##S(m), a1 = a0, a2 = a0, a3 = a0;                    \
        for (; j + 4 * VW_##S <= n; j += 4 * VW_##S) {                          \
            a0 = vmax_##S(a0, VLD_##S(x + j));                                  \
            a1 = vmax_##S(a1, VLD_##S(x + j + VW_##S));                         \
            a2 = vmax_##S(a2, VLD_##S(x + j + 2 * VW_##S));                     \
            a3 = vmax_##S(a3, VLD_##S(x + j + 3 * VW_##S));                     \
        }                                                                       \
        T l[4 * VW_##S];                                                        \
        VST_##S(l, a0);                                                         \
        VST_##S(l + VW_##S, a1);                                                \
        VST_##S(l + 2 * VW_##S, a2);                                            \
        VST_##S(l + 3 * VW_##S, a3);                                            \
        for (int k = 0; k < 4 * VW_##S; k++) m = MAX1(m, l[k]);                 \
    }
#define VMAX_COL(S)                                                             \
    for (; j + VW_##S <= n; j += VW_##S)                                        \
        VST_##S(m + j, vmax_##S(VLD_##S(m + j), VLD_##S(x + j)));
#define VMAX_ROW_f32 VMAX_ROW(f32, float)
#define VMAX_ROW_f64 VMAX_ROW(f64, double)
#define VMAX_COL_f32 VMAX_COL(f32)
#define VMAX_COL_f64 VMAX_COL(f64)
#else
#define VMAX_ROW_f32
#define VMAX_ROW_f64
#define VMAX_COL_f32
#define VMAX_COL_f64
#endif

/* ---- row kernels: fixed 8-way partial sums ---- */

#define ROW_KERNELS(T, S)                                                       \
    static double row_sum_##S(const T *x, int64_t n) {                         \
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                 \
        int64_t j = 0;                                                          \
        for (; j + 8 <= n; j += 8)                                              \
            for (int k = 0; k < 8; k++) a[k] += (double)x[j + k];               \
        for (int k = 0; j < n; j++, k++) a[k] += (double)x[j];                  \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); \
    }                                                                           \
    /* max with NaN propagation (see MAXV below for the vector step) */       \
    static T row_max_##S(const T *x, int64_t n, T m) {                         \
        int64_t j = 0;                                                          \
        VMAX_ROW_##S                                                            \
        for (; j < n; j++) m = MAX1(m, x[j]);                                   \
        return m;                                                               \
    }                                                                           \
    /* m[j] = max(m[j], x[j]) elementwise, NaN propagating */                   \
    static void col_max_##S(T *restrict m, const T *restrict x, int64_t n) {    \
        int64_t j = 0;                                                          \
        VMAX_COL_##S                                                            \
        for (; j < n; j++) m[j] = MAX1(m[j], x[j]);                             \
    }                                                                           \
    /* sum_j exp(x_j - m), m finite */                                          \
    static double row_sumexp_##S(const T *x, int64_t n, T m) {                  \
        T t[CH];                                                                \
        double s = 0;                                                           \
        for (int64_t j0 = 0; j0 < n; j0 += CH) {                                \
            int64_t c = tg__min64(CH, n - j0);                                  \
            for (int64_t j = 0; j < c; j++) t[j] = x[j0 + j] - m;               \
            tg__vexp_##S(t, t, c);                                              \
            s += row_sum_##S(t, c);                                             \
        }                                                                       \
        return s;                                                               \
    }

ROW_KERNELS(float, f32)
ROW_KERNELS(double, f64)

/* logsumexp from the slice max m and s = Σ exp(x - m). */
static double lse_finish(double m, double s) {
    if (m != m) return m;
    if (isinf(m)) return m; /* all -inf: -inf; some +inf: +inf */
    double l = s;
    tg__vlog_f64(&l, &l, 1);
    return m + l;
}

/* ---- forward ---- */

#define FORWARD(T, S)                                                             \
    static void forward_##S(const plan *p, int kind, const T *x, T *y, double *yd) { \
        int64_t kidx[TG_MAX_RANK] = {0}, koff = 0, nk = dims_count(&p->kept);    \
        double cnt = (double)p->nred;                                             \
        for (int64_t o = 0; o < nk; o++, next_pos(&p->kept, kidx, &koff)) {      \
            if (!p->col) { /* row mode: y[o] reduces p->nred/R rows */           \
                int64_t ridx[TG_MAX_RANK] = {0}, roff = 0, nr = dims_count(&p->red); \
                const T *xb = x + koff;                                           \
                const int64_t R = p->inner;                                       \
                if (kind == R_SUM || kind == R_MEAN) {                           \
                    double s = 0;                                                 \
                    for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) \
                        s += row_sum_##S(xb + roff, R);                           \
                    y[o] = (T)(kind == R_MEAN ? s / cnt : s);                    \
                } else {                                                          \
                    T m = (T)-INFINITY;                                           \
                    for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) \
                        m = row_max_##S(xb + roff, R, m);                         \
                    if (kind == R_MAX) { y[o] = m; continue; }                   \
                    double s = 0;                                                 \
                    if (isfinite(m)) {                                            \
                        memset(ridx, 0, sizeof ridx);                             \
                        roff = 0;                                                 \
                        for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) \
                            s += row_sumexp_##S(xb + roff, R, m);                 \
                    }                                                             \
                    yd[o] = lse_finish((double)m, s);                             \
                    y[o] = (T)yd[o];                                              \
                }                                                                 \
                continue;                                                         \
            }                                                                     \
            /* column mode: y[o*L + j] for j in [0,L), in chunks of CH */       \
            const int64_t L = p->inner;                                           \
            for (int64_t c0 = 0; c0 < L; c0 += CH) {                              \
                int64_t c = tg__min64(CH, L - c0);                                \
                int64_t ridx[TG_MAX_RANK] = {0}, roff = 0, nr = dims_count(&p->red); \
                const T *xb = x + koff + c0;                                      \
                T *yb = y + o * L + c0;                                           \
                double acc[CH];                                                   \
                T m[CH], t[CH];                                                   \
                if (kind == R_SUM || kind == R_MEAN) {                           \
                    for (int64_t j = 0; j < c; j++) acc[j] = 0;                   \
                    for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) { \
                        const T *xr = xb + roff;                                  \
                        for (int64_t j = 0; j < c; j++) acc[j] += (double)xr[j];  \
                    }                                                             \
                    if (kind == R_MEAN)                                           \
                        for (int64_t j = 0; j < c; j++) yb[j] = (T)(acc[j] / cnt); \
                    else                                                          \
                        for (int64_t j = 0; j < c; j++) yb[j] = (T)acc[j];        \
                    continue;                                                     \
                }                                                                 \
                for (int64_t j = 0; j < c; j++) m[j] = (T)-INFINITY;              \
                for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) \
                    col_max_##S(m, xb + roff, c);                                 \
                if (kind == R_MAX) {                                              \
                    memcpy(yb, m, (size_t)c * sizeof(T));                         \
                    continue;                                                     \
                }                                                                 \
                for (int64_t j = 0; j < c; j++) acc[j] = 0;                       \
                memset(ridx, 0, sizeof ridx);                                     \
                roff = 0;                                                         \
                for (int64_t r = 0; r < nr; r++, next_pos(&p->red, ridx, &roff)) { \
                    const T *xr = xb + roff;                                      \
                    /* non-finite m: the term is unused; keep exp's input finite */ \
                    for (int64_t j = 0; j < c; j++) t[j] = isfinite(m[j]) ? xr[j] - m[j] : (T)0; \
                    tg__vexp_##S(t, t, c);                                        \
                    for (int64_t j = 0; j < c; j++) acc[j] += (double)t[j];       \
                }                                                                 \
                for (int64_t j = 0; j < c; j++) {                                 \
                    yd[o * L + c0 + j] = lse_finish((double)m[j], acc[j]);        \
                    yb[j] = (T)yd[o * L + c0 + j];                                \
                }                                                                 \
            }                                                                     \
        }                                                                         \
    }

FORWARD(float, f32)
FORWARD(double, f64)

/* ---- backward ----
 * sum/mean: dx += dy (/count), broadcast back.
 * max: dx at the first element equal to y (first NaN when y is NaN) += dy.
 * logsumexp: dx += dy·exp(x - y); nothing when y = -inf (an all -inf slice). */

#define IS_HIT(v, yv) ((v) == (yv) || ((yv) != (yv) && (v) != (v)))

#define BACKWARD(T, S)                                                            \
    static void backward_##S(const plan *p, int kind, const T *x, const T *y,     \
                             const double *yd, const T *dy, T *dx) {              \
        int64_t kidx[TG_MAX_RANK] = {0}, koff = 0, nk = dims_count(&p->kept);    \
        int64_t nr = dims_count(&p->red);                                         \
        T scale = kind == R_MEAN ? (T)(1.0 / (double)p->nred) : (T)1;             \
        T t[CH];                                                                  \
        for (int64_t o = 0; o < nk; o++, next_pos(&p->kept, kidx, &koff)) {      \
            if (!p->col) {                                                        \
                int64_t ridx[TG_MAX_RANK] = {0}, roff = 0;                        \
                const int64_t R = p->inner;                                       \
                T g = dy[o], yo = y[o];                                           \
                double ydo = kind == R_LSE ? yd[o] : 0;                           \
                int found = 0;                                                    \
                if (kind == R_LSE && isinf(ydo) && ydo < 0) continue;             \
                for (int64_t r = 0; r < nr && !found; r++, next_pos(&p->red, ridx, &roff)) { \
                    const T *xr = x + koff + roff;                                \
                    T *dr = dx + koff + roff;                                     \
                    if (kind == R_SUM || kind == R_MEAN) {                       \
                        T gs = g * scale;                                         \
                        for (int64_t j = 0; j < R; j++) dr[j] += gs;              \
                    } else if (kind == R_MAX) {                                   \
                        for (int64_t j = 0; j < R; j++)                           \
                            if (IS_HIT(xr[j], yo)) {                              \
                                dr[j] += g;                                       \
                                found = 1;                                        \
                                break;                                            \
                            }                                                     \
                    } else {                                                      \
                        for (int64_t j0 = 0; j0 < R; j0 += CH) {                  \
                            int64_t c = tg__min64(CH, R - j0);                    \
                            for (int64_t j = 0; j < c; j++) t[j] = (T)((double)xr[j0 + j] - ydo); \
                            tg__vexp_##S(t, t, c);                                \
                            for (int64_t j = 0; j < c; j++) dr[j0 + j] += g * t[j]; \
                        }                                                         \
                    }                                                             \
                }                                                                 \
                continue;                                                         \
            }                                                                     \
            const int64_t L = p->inner;                                           \
            for (int64_t c0 = 0; c0 < L; c0 += CH) {                              \
                int64_t c = tg__min64(CH, L - c0);                                \
                int64_t ridx[TG_MAX_RANK] = {0}, roff = 0;                        \
                const T *yb = y + o * L + c0, *gb = dy + o * L + c0;              \
                const double *ydb = kind == R_LSE ? yd + o * L + c0 : NULL;       \
                T g[CH];                                                          \
                unsigned char done[CH];                                           \
                int64_t left = c;                                                 \
                for (int64_t j = 0; j < c; j++) {                                 \
                    g[j] = gb[j] * scale;                                         \
                    /* an all -inf slice of logsumexp gets no gradient */        \
                    done[j] = kind == R_LSE && isinf(ydb[j]) && ydb[j] < 0;       \
                }                                                                 \
                for (int64_t r = 0; r < nr && left > 0; r++, next_pos(&p->red, ridx, &roff)) { \
                    const T *xr = x + koff + c0 + roff;                           \
                    T *dr = dx + koff + c0 + roff;                                \
                    if (kind == R_SUM || kind == R_MEAN) {                       \
                        for (int64_t j = 0; j < c; j++) dr[j] += g[j];            \
                    } else if (kind == R_MAX) {                                   \
                        for (int64_t j = 0; j < c; j++)                           \
                            if (!done[j] && IS_HIT(xr[j], yb[j])) {               \
                                dr[j] += g[j];                                    \
                                done[j] = 1;                                      \
                                left--;                                           \
                            }                                                     \
                    } else {                                                      \
                        for (int64_t j = 0; j < c; j++)                           \
                            t[j] = done[j] ? (T)-INFINITY : (T)((double)xr[j] - ydb[j]); \
                        tg__vexp_##S(t, t, c);                                    \
                        for (int64_t j = 0; j < c; j++) dr[j] += g[j] * t[j];     \
                    }                                                             \
                }                                                                 \
            }                                                                     \
        }                                                                         \
    }

BACKWARD(float, f32)
BACKWARD(double, f64)

/* ---- op plumbing ---- */

static int op_kind(const tg_node *n) {
    const char *s = n->op->name;
    return s[0] == 's' ? R_SUM : s[0] == 'm' ? (s[1] == 'e' ? R_MEAN : R_MAX) : R_LSE;
}

static tg_status reduce_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    const reduce_attr *a = n->attr;
    if (a->mask & ~full_mask(x->rank)) {
        return tg__error(n->ctx, TG_EINVAL, "%s: axis mask 0x%x names an axis outside the rank %d of %s",
                         n->op->name, (unsigned)a->mask, x->rank, tg__sh(x));
    }
    uint32_t mask = a->mask ? a->mask : full_mask(x->rank);
    int r = 0;
    int64_t nred = 1;
    for (int i = 0; i < x->rank; i++) {
        if ((mask >> i) & 1u) {
            nred *= x->shape[i];
            if (a->keepdim) out->shape[r++] = 1;
        } else {
            out->shape[r++] = x->shape[i];
        }
    }
    if (nred == 0 && op_kind(n) == R_MAX && x->numel == 0 && tg__numel(r, out->shape) > 0)
        return tg__error(n->ctx, TG_ESHAPE, "max: cannot reduce over an empty axis of %s", tg__sh(x));
    out->rank = r;
    out->dtype = x->dtype;
    return TG_OK;
}

static tg_status reduce_forward(tg_node *n) {
    const tg_tensor *x = n->in[0];
    tg_tensor *y = n->out;
    const reduce_attr *a = n->attr;
    int kind = op_kind(n);
    if (x->numel == 0) { /* empty slices: sum 0, mean NaN, logsumexp -inf */
        double v = kind == R_SUM ? 0.0 : kind == R_MEAN ? NAN : -INFINITY;
        for (int64_t i = 0; i < y->numel; i++) tg__st(y, i, v);
        return TG_OK;
    }
    plan p;
    make_plan(x, a->mask, &p);
    TG_ASSERT(p.nout == y->numel);
    /* logsumexp keeps its result in double for backward: exp(x - y) with y
     * rounded to f32 would lose |y|·2^-24 of relative accuracy. */
    double *yd = NULL;
    if (kind == R_LSE) {
        yd = tg_node_alloc(n, (size_t)y->numel * sizeof(double));
        if (!yd) return TG_ENOMEM;
        n->saved = yd;
    }
    if (x->dtype == TG_F32) forward_f32(&p, kind, x->data, y->data, yd);
    else forward_f64(&p, kind, x->data, y->data, yd);
    return TG_OK;
}

static tg_status reduce_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *dx = tg_grad_buf(x);
    if (!dx) return TG_ENOMEM;
    if (x->numel == 0) return TG_OK;
    const reduce_attr *a = n->attr;
    plan p;
    make_plan(x, a->mask, &p);
    if (x->dtype == TG_F32) backward_f32(&p, op_kind(n), x->data, n->out->data, n->saved, n->out->grad, dx);
    else backward_f64(&p, op_kind(n), x->data, n->out->data, n->saved, n->out->grad, dx);
    return TG_OK;
}

/* Attribute blocks for the check cases. */
static const reduce_attr A_ALL = {0, 0}, A_ALL_KEEP = {0, 1}, A_0 = {1u, 0}, A_1 = {2u, 0},
                         A_1_KEEP = {2u, 1}, A_02 = {5u, 0}, A_02_KEEP = {5u, 1}, A_12 = {6u, 0},
                         A_BAD = {4u, 0};

/* EMPTY: the cases whose reduced axes are empty (sum 0, mean NaN, logsumexp
 * -inf, as PyTorch gives), or for max, which has no value there, bad cases. */
#define REDUCE_OP(NAME, LO, HI, EMPTY, EMPTY_BAD)                                    \
    const tg_op_def tg_op_##NAME = {                                                   \
        .name = #NAME,                                                                 \
        .n_inputs = 1,                                                                 \
        .attr_size = sizeof(reduce_attr),                                              \
        .infer = reduce_infer,                                                         \
        .forward = reduce_forward,                                                     \
        .backward = reduce_backward,                                                   \
        .check = {.lo = LO,                                                            \
                  .hi = HI,                                                            \
                  .cases = {{"1", &A_ALL},                                             \
                            {"", &A_ALL_KEEP},                                         \
                            {"3,4", &A_1},                                             \
                            {"5,3", &A_0},                                             \
                            {"2,3,4", &A_02},                                          \
                            {"2,1,4", &A_02_KEEP},                                     \
                            {"3,4,5", &A_1_KEEP},                                      \
                            {"2,3,4", &A_12},                                          \
                            {"0,3", &A_1},                                             \
                            {"2,0,4", &A_02_KEEP} EMPTY},                              \
                  .bad = {{"3,4", &A_BAD}, {"2,3;2,3", &A_ALL} EMPTY_BAD}},            \
    };

#define REDUCE_EMPTY , {"0,3", &A_0}, {"0", &A_ALL}
REDUCE_OP(sum, -2, 2, REDUCE_EMPTY, )
REDUCE_OP(mean, -2, 2, REDUCE_EMPTY, )
REDUCE_OP(max, -2, 2, , REDUCE_EMPTY)
REDUCE_OP(logsumexp, -3, 3, REDUCE_EMPTY, )

/* ---- public wrappers: axis list -> mask ---- */

static tg_tensor *reduce_call(const tg_op_def *op, tg_tensor *x, int n_axes, const int *axes,
                              int keepdim) {
    if (!x) return NULL;
    reduce_attr a = {0, keepdim ? 1 : 0};
    if (n_axes < 0 || (n_axes > 0 && !axes)) {
        tg__error(x->ctx, TG_EINVAL, "%s: bad axis list (n_axes %d%s) for %s", op->name, n_axes,
                  axes ? "" : ", axes NULL", tg__sh(x));
        return NULL;
    }
    for (int i = 0; i < n_axes; i++) {
        int ax = tg__axis(axes[i], x->rank);
        if (ax < 0) {
            tg__error(x->ctx, TG_EINVAL, "%s: axis %d is out of range for %s (rank %d)", op->name,
                      axes[i], tg__sh(x), x->rank);
            return NULL;
        }
        if ((a.mask >> ax) & 1u) {
            tg__error(x->ctx, TG_EINVAL, "%s: axis %d is listed twice for %s", op->name, axes[i],
                      tg__sh(x));
            return NULL;
        }
        a.mask |= 1u << ax;
    }
    return tg_apply(op, &x, 1, &a);
}

tg_tensor *tg_sum(tg_tensor *x, int n_axes, const int *axes, int keepdim) {
    return reduce_call(&tg_op_sum, x, n_axes, axes, keepdim);
}
tg_tensor *tg_mean(tg_tensor *x, int n_axes, const int *axes, int keepdim) {
    return reduce_call(&tg_op_mean, x, n_axes, axes, keepdim);
}
tg_tensor *tg_max(tg_tensor *x, int n_axes, const int *axes, int keepdim) {
    return reduce_call(&tg_op_max, x, n_axes, axes, keepdim);
}
tg_tensor *tg_logsumexp(tg_tensor *x, int n_axes, const int *axes, int keepdim) {
    return reduce_call(&tg_op_logsumexp, x, n_axes, axes, keepdim);
}
