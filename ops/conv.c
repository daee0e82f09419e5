/* conv.c: conv2d and conv1d (cross-correlation, as in PyTorch), batched, with
 * stride, zero padding, dilation and groups, and an optional bias.
 *
 *   x (B,C,H,W), w (O,C/G,KH,KW), b (O) -> y (B,O,OH,OW)
 *   OH = (H + 2·ph - dh·(KH-1) - 1) / sh + 1     (floor; OW likewise)
 *   y[b,o,i,j] = b[o] + Σ_{c,kh,kw} w[o,c,kh,kw] · x[b, g·C/G + c, i·sh - ph + kh·dh, j·sw - pw + kw·dw]
 * with g = o / (O/G) and x = 0 outside the input. conv1d is the same kernel
 * with H = KH = 1.
 *
 * Backward (the adjoints of the sum above):
 *   dx[b, g·C/G + c, ih, iw] += Σ w[o,c,kh,kw] · dy[b,o,i,j] over every (o,i,j,kh,kw) that read it
 *   dw[o,c,kh,kw] += Σ_{b,i,j} dy[b,o,i,j] · x[...]
 *   db[o]         += Σ_{b,i,j} dy[b,o,i,j]
 *
 * Two algorithms, picked per shape by conv_pick() (measurements and the rule:
 * docs/design.md, "Convolution"):
 *   direct:  for column stride 1 the forward pass is register-tiled (OB output
 *            channels × J output columns accumulate over every tap in vector
 *            registers, from a zero-bordered copy of the input); other strides
 *            and the backward pass loop along output rows;
 *   im2col:  per group, the receptive fields of a chunk of nb samples are
 *            unrolled into col (C/G·KH·KW, nb·OH·OW) and y_g = w_g · col is one
 *            GEMM; backward uses dw_g += dy_g · colᵀ and dcol = w_gᵀ · dy_g
 *            followed by col2im. nb grows until a GEMM has about NCOL_TARGET
 *            columns, so a layer with a tiny output (LeNet's 5x5 -> 1x1) still
 *            gets a wide product instead of B matrix-vector products.
 * Scratch (col, the gathered dy chunk, dcol) comes from the tape arena via
 * tg_node_alloc, is kept in n->saved and reused by a second backward.
 * Everything runs in a fixed order, so results are bitwise reproducible. */
#include "internal.h"

#include <limits.h>

int tg__conv_algo = 0;

#define NCOL_TARGET 1024                 /* im2col: aim for this many GEMM columns */
#define NCOL_MIN 256                     /* im2col: one sample per GEMM from this many */
#define COL_BYTES ((int64_t)8 << 20)     /* im2col: cap of one chunk's col buffer */
#define COL_MAX ((int64_t)256 << 20)     /* beyond this per sample, use direct */
/* The tile kernel is compiled on its own: inlined into the loops around it,
 * GCC 12 no longer keeps its accumulators in vector registers. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif
#define OB 4                             /* tiled direct: output channels per tile */
#define JB 16                            /* tiled direct: output columns per tile (J) */

typedef struct geom {
    int64_t B, C, H, W;          /* input (B,C,H,W) */
    int64_t O, KH, KW;           /* weight (O,Cg,KH,KW) */
    int64_t OH, OW;              /* output (B,O,OH,OW) */
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t G, Cg, Og;           /* groups; input and output channels per group */
    int64_t CKK;                 /* Cg·KH·KW: rows of col */
    int64_t nb;                  /* samples per im2col chunk */
    int fwd_direct, bwd_direct;  /* algorithm per direction */
} geom;

typedef struct conv_scratch {
    void *col, *tmp, *dcol;      /* (CKK, nb·OHW), (Og, nb·OHW), (CKK, nb·OHW) */
    void *acc;                   /* direct dw: one output row of partial sums */
} conv_scratch;

/* ---- shape inference ---- */

/* Output length of one spatial axis, or -1 when the dilated kernel does not
 * fit in the padded input. */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t span = d * (k - 1) + 1;
    if (in + 2 * p < span) return -1;
    return (in + 2 * p - span) / s + 1;
}

static tg_status conv_infer_nd(tg_node *n, tg_out_spec *out, int nd) {
    const tg_conv_opts *a = n->attr;
    const char *nm = n->op->name;
    if (n->n_in != 2 && n->n_in != 3)
        return tg__error(n->ctx, TG_EINVAL, "%s: expected 2 or 3 inputs (x, w[, b]), got %d", nm, n->n_in);
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    const tg_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const int r = nd + 2;
    const char *want = nd == 2 ? "x (B,C,H,W) and w (O,C/groups,KH,KW)" : "x (B,C,L) and w (O,C/groups,K)";
    if (x->rank != r || w->rank != r)
        return tg__error(n->ctx, TG_ESHAPE, "%s: expected %s, got x %s and w %s", nm, want, tg__sh(x), tg__sh(w));
    for (int i = 0; i < nd; i++) {
        if (a->stride[i] < 1 || a->dilation[i] < 1)
            return tg__error(n->ctx, TG_EINVAL, "%s: stride and dilation must be >= 1, got stride %d, dilation %d (x %s, w %s)",
                             nm, a->stride[i], a->dilation[i], tg__sh(x), tg__sh(w));
        if (a->pad[i] < 0)
            return tg__error(n->ctx, TG_EINVAL, "%s: padding must be >= 0, got %d (x %s, w %s)", nm, a->pad[i],
                             tg__sh(x), tg__sh(w));
    }
    int64_t G = a->groups, C = x->shape[1], O = w->shape[0];
    if (G < 1)
        return tg__error(n->ctx, TG_EINVAL, "%s: groups must be >= 1, got %d (x %s, w %s)", nm, a->groups, tg__sh(x),
                         tg__sh(w));
    if (C % G || O % G)
        return tg__error(n->ctx, TG_ESHAPE,
                         "%s: groups %lld must divide input channels %lld and output channels %lld (x %s, w %s)", nm,
                         (long long)G, (long long)C, (long long)O, tg__sh(x), tg__sh(w));
    if (w->shape[1] * G != C)
        return tg__error(n->ctx, TG_ESHAPE,
                         "%s: w %s expects %lld input channels per group but x %s has %lld channels in %lld groups",
                         nm, tg__sh(w), (long long)w->shape[1], tg__sh(x), (long long)C, (long long)G);
    if (b && (b->rank != 1 || b->shape[0] != O))
        return tg__error(n->ctx, TG_ESHAPE, "%s: bias %s must have shape [%lld] for w %s", nm, tg__sh(b),
                         (long long)O, tg__sh(w));
    out->dtype = x->dtype;
    out->rank = r;
    out->shape[0] = x->shape[0];
    out->shape[1] = O;
    for (int i = 0; i < nd; i++) {
        int64_t len = out_len(x->shape[2 + i], w->shape[2 + i], a->stride[i], a->pad[i], a->dilation[i]);
        if (len < 1)
            return tg__error(n->ctx, TG_ESHAPE,
                             "%s: kernel %s (dilation %d) is larger than the padded input %s (padding %d)", nm,
                             tg__sh(w), a->dilation[i], tg__sh(x), a->pad[i]);
        out->shape[2 + i] = len;
    }
    return TG_OK;
}
static tg_status conv2d_infer(tg_node *n, tg_out_spec *out) { return conv_infer_nd(n, out, 2); }
static tg_status conv1d_infer(tg_node *n, tg_out_spec *out) { return conv_infer_nd(n, out, 1); }

/* ---- algorithm choice ---- */

/* The rule measured in docs/design.md ("Convolution"): im2col + GEMM wins
 * every dense layer measured (LeNet-5, KANN's CNN) in both directions, except
 * the f32 forward pass of a layer with one input channel per group and rows
 * of at least JB outputs at column stride 1 (LeNet's first layer: the tiled
 * direct kernel is ~25% faster; KANN's ties). Direct also wins both ways when
 * a group has fewer than OB output channels (depthwise: the GEMM degenerates
 * to one row), and it is the fallback when one sample's col buffer would
 * exceed COL_MAX. */
static void conv_pick(geom *g, size_t esz) {
    int64_t OHW = g->OH * g->OW;
    int direct = g->Og < OB;
    int first = esz == 4 && g->Cg == 1 && g->sw == 1 && g->OW >= JB;
    /* a per-sample col buffer beyond COL_MAX would only waste memory */
    if (g->CKK > 0 && OHW > COL_MAX / (int64_t)esz / g->CKK) direct = 1;
    g->fwd_direct = direct || first;
    g->bwd_direct = direct;
    if (tg__conv_algo) g->fwd_direct = g->bwd_direct = tg__conv_algo == 1;
    /* one sample already makes a wide enough product: no gather/scatter */
    int64_t nb = OHW >= NCOL_MIN ? 1 : (NCOL_TARGET + OHW - 1) / OHW;
    int64_t cap = g->CKK > 0 ? COL_BYTES / ((int64_t)esz * g->CKK * OHW) : nb;
    if (nb > cap) nb = cap;
    if (nb > g->B) nb = g->B;
    g->nb = nb < 1 ? 1 : nb;
}

static geom geom_of(const tg_node *n) {
    const tg_conv_opts *a = n->attr;
    const tg_tensor *x = n->in[0], *w = n->in[1], *y = n->out;
    geom g = {0};
    g.B = x->shape[0];
    g.C = x->shape[1];
    g.O = w->shape[0];
    if (x->rank == 4) {
        g.H = x->shape[2], g.W = x->shape[3], g.KH = w->shape[2], g.KW = w->shape[3];
        g.OH = y->shape[2], g.OW = y->shape[3];
        g.sh = a->stride[0], g.sw = a->stride[1], g.ph = a->pad[0], g.pw = a->pad[1];
        g.dh = a->dilation[0], g.dw = a->dilation[1];
    } else { /* conv1d: one row */
        g.H = 1, g.W = x->shape[2], g.KH = 1, g.KW = w->shape[2];
        g.OH = 1, g.OW = y->shape[2];
        g.sh = 1, g.sw = a->stride[0], g.ph = 0, g.pw = a->pad[0], g.dh = 1, g.dw = a->dilation[0];
    }
    g.G = a->groups;
    g.Cg = g.C / g.G;
    g.Og = g.O / g.G;
    g.CKK = g.Cg * g.KH * g.KW;
    conv_pick(&g, tg_dtype_size(x->dtype));
    return g;
}

/* Outputs j in [lo, hi) read input j·s + o inside [0, n_in), n_out outputs. */
static void span(int64_t n_in, int64_t n_out, int64_t s, int64_t o, int64_t *lo, int64_t *hi) {
    int64_t num = n_in - 1 - o;
    int64_t l = o >= 0 ? 0 : (-o + s - 1) / s;
    int64_t h = num < 0 ? 0 : num / s + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = l, *hi = h;
}

/* Output columns j in [lo, hi) read input column j·sw + off inside [0, W). */
static void col_range(const geom *g, int64_t kw, int64_t *lo, int64_t *hi, int64_t *off) {
    *off = kw * g->dw - g->pw;
    span(g->W, g->OW, g->sw, *off, lo, hi);
}
/* Output rows i in [lo, hi) read input row i·sh + off inside [0, H). */
static void row_range(const geom *g, int64_t kh, int64_t *lo, int64_t *hi, int64_t *off) {
    *off = kh * g->dh - g->ph;
    span(g->H, g->OH, g->sh, *off, lo, hi);
}

/* ---- kernels, generated for float and double ---- */

#define CONV_KERNELS(T, S, J)                                                                        \
    /* y = bias + direct convolution. Per (b, o, c, kh, kw) one weight is    \
     * applied to the valid rows of the output plane, which stays in L1. */     \
    static void direct_fwd_##S(const geom *g, const T *x, const T *w, const T *bias, T *y) {        \
        const int64_t W = g->W, OW = g->OW, sh = g->sh, sw = g->sw, KH = g->KH, KW = g->KW;         \
        const int64_t HW = g->H * W, OHW = g->OH * OW;                                              \
        for (int64_t b = 0; b < g->B; b++)                                                          \
            for (int64_t o = 0; o < g->O; o++) {                                                    \
                T *restrict yp = y + (b * g->O + o) * OHW, bv = bias ? bias[o] : (T)0;              \
                for (int64_t p = 0; p < OHW; p++) yp[p] = bv;                                       \
                for (int64_t c = 0; c < g->Cg; c++) {                                               \
                    const T *restrict xp = x + (b * g->C + (o / g->Og) * g->Cg + c) * HW;           \
                    const T *wp = w + (o * g->Cg + c) * KH * KW;                                    \
                    for (int64_t kh = 0; kh < KH; kh++) {                                           \
                        int64_t ilo, ihi, ioff;                                                     \
                        row_range(g, kh, &ilo, &ihi, &ioff);                                        \
                        for (int64_t kw = 0; kw < KW; kw++) {                                       \
                            int64_t lo, hi, off;                                                    \
                            col_range(g, kw, &lo, &hi, &off);                                       \
                            const T wv = wp[kh * KW + kw];                                          \
                            for (int64_t i = ilo; i < ihi; i++) {                                   \
                                T *restrict yr = yp + i * OW;                                       \
                                const T *restrict xr = xp + (i * sh + ioff) * W + off;              \
                                if (sw == 1)                                                        \
                                    for (int64_t j = lo; j < hi; j++) yr[j] += wv * xr[j];          \
                                else                                                                \
                                    for (int64_t j = lo; j < hi; j++) yr[j] += wv * xr[j * sw];     \
                            }                                                                       \
                        }                                                                           \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
    }                                                                                               \
    /* dx += Σ w·dy and dw += Σ dy·x, direct. acc: OW partial sums for dw. */                       \
    static void direct_bwd_##S(const geom *g, const T *x, const T *w, const T *dy, T *dx, T *dw,    \
                               T *acc) {                                                            \
        const int64_t W = g->W, OW = g->OW, sh = g->sh, sw = g->sw, KH = g->KH, KW = g->KW;         \
        const int64_t HW = g->H * W, OHW = g->OH * OW, KK = KH * KW;                                \
        for (int64_t b = 0; b < g->B; b++)                                                          \
            for (int64_t o = 0; o < g->O; o++) {                                                    \
                const T *restrict dyp = dy + (b * g->O + o) * OHW;                                  \
                for (int64_t c = 0; c < g->Cg; c++) {                                               \
                    int64_t ci = b * g->C + (o / g->Og) * g->Cg + c;                                \
                    const T *restrict xp = x + ci * HW;                                             \
                    T *restrict dxp = dx ? dx + ci * HW : NULL;                                     \
                    const T *wp = w + (o * g->Cg + c) * KK;                                         \
                    for (int64_t kh = 0; kh < KH; kh++) {                                           \
                        int64_t ilo, ihi, ioff;                                                     \
                        row_range(g, kh, &ilo, &ihi, &ioff);                                        \
                        for (int64_t kw = 0; kw < KW; kw++) {                                       \
                            int64_t lo, hi, off;                                                    \
                            col_range(g, kw, &lo, &hi, &off);                                       \
                            const T wv = wp[kh * KW + kw];                                          \
                            if (dxp)                                                                \
                                for (int64_t i = ilo; i < ihi; i++) {                               \
                                    const T *restrict dyr = dyp + i * OW;                           \
                                    T *restrict dxr = dxp + (i * sh + ioff) * W + off;              \
                                    if (sw == 1)                                                    \
                                        for (int64_t j = lo; j < hi; j++) dxr[j] += wv * dyr[j];    \
                                    else                                                            \
                                        for (int64_t j = lo; j < hi; j++) dxr[j * sw] += wv * dyr[j]; \
                                }                                                                   \
                            if (dw) {                                                               \
                                for (int64_t j = lo; j < hi; j++) acc[j] = 0;                       \
                                for (int64_t i = ilo; i < ihi; i++) {                               \
                                    const T *restrict dyr = dyp + i * OW;                           \
                                    const T *restrict xr = xp + (i * sh + ioff) * W + off;          \
                                    if (sw == 1)                                                    \
                                        for (int64_t j = lo; j < hi; j++) acc[j] += dyr[j] * xr[j]; \
                                    else                                                            \
                                        for (int64_t j = lo; j < hi; j++) acc[j] += dyr[j] * xr[j * sw]; \
                                }                                                                   \
                                T s = 0;                                                            \
                                for (int64_t j = lo; j < hi; j++) s += acc[j];                      \
                                dw[(o * g->Cg + c) * KK + kh * KW + kw] += s;                       \
                            }                                                                       \
                        }                                                                           \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
    }                                                                                               \
    /* One tile of the direct forward: r0..r3 (J outputs each) = Σ over taps \
     * (row r of (c,kh), kw) of wq[r·KW+kw] · base[roff[r] + kw·dw + jj]. The \
     * four accumulator rows stay in vector registers: J is a constant, the   \
     * arrays are never indexed by a variable, and the kw loop is affine (with \
     * one flat tap list GCC vectorizes over taps with gathers instead). */   \
    static NOINLINE void tile_##S(const T *restrict base, const int64_t *roff, int64_t nrow,        \
                                  int64_t KW, int64_t dw, const T *const wq[OB], T *restrict r0,    \
                                  T *restrict r1, T *restrict r2, T *restrict r3) {                 \
        T a0[J], a1[J], a2[J], a3[J];                                                               \
        for (int jj = 0; jj < J; jj++) a0[jj] = a1[jj] = a2[jj] = a3[jj] = 0;                      \
        const T *restrict q0 = wq[0], *restrict q1 = wq[1], *restrict q2 = wq[2], *restrict q3 = wq[3]; \
        for (int64_t r = 0; r < nrow; r++) {                                                        \
            const T *restrict rb = base + roff[r];                                                  \
            for (int64_t kw = 0; kw < KW; kw++) {                                                   \
                const T *restrict sp = rb + kw * dw;                                                \
                const int64_t t = r * KW + kw;                                                      \
                const T w0 = q0[t], w1 = q1[t], w2 = q2[t], w3 = q3[t];                             \
                for (int jj = 0; jj < J; jj++) {                                                    \
                    T v = sp[jj];                                                                   \
                    a0[jj] += w0 * v, a1[jj] += w1 * v, a2[jj] += w2 * v, a3[jj] += w3 * v;         \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        for (int jj = 0; jj < J; jj++) r0[jj] = a0[jj], r1[jj] = a1[jj], r2[jj] = a2[jj], r3[jj] = a3[jj]; \
    }                                                                                               \
    /* The same for a row shorter than J (nj outputs), summing in place. */   \
    static void tile_short_##S(const T *restrict base, const int64_t *roff, int64_t nrow, int64_t KW, \
                               int64_t dw, const T *const wq[OB], int64_t nj, T *restrict r0,       \
                               T *restrict r1, T *restrict r2, T *restrict r3) {                    \
        for (int64_t jj = 0; jj < nj; jj++) r0[jj] = r1[jj] = r2[jj] = r3[jj] = 0;                  \
        for (int64_t r = 0; r < nrow; r++)                                                          \
            for (int64_t kw = 0; kw < KW; kw++) {                                                   \
                const T *restrict sp = base + roff[r] + kw * dw;                                    \
                const int64_t t = r * KW + kw;                                                      \
                const T w0 = wq[0][t], w1 = wq[1][t], w2 = wq[2][t], w3 = wq[3][t];                 \
                for (int64_t jj = 0; jj < nj; jj++) {                                               \
                    T v = sp[jj];                                                                   \
                    r0[jj] += w0 * v, r1[jj] += w1 * v, r2[jj] += w2 * v, r3[jj] += w3 * v;         \
                }                                                                               \
            }                                                                                       \
    }                                                                                               \
    /* Direct forward for column stride 1, register-tiled: OB output          \
     * channels × J output columns of one row accumulate over every tap      \
     * (c, kh, kw), and one input load feeds OB products. The sample's group  \
     * is first copied into a zero-bordered buffer xpad (Cg, H+2ph, W+2pw)    \
     * when there is padding, so no tap needs a bounds check. A row longer    \
     * than J ends with a tile that overlaps the previous one. roff: Cg·KH   \
     * row offsets (c,kh); junk: OB·J elements for the outputs of missing channels. */ \
    static void tiled_fwd_##S(const geom *g, const T *x, const T *w, const T *bias, T *y, T *xpad,  \
                              int64_t *roff, T *junk) {                                             \
        const int64_t Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw, HWp = Hp * Wp;                 \
        const int64_t OW = g->OW, OHW = g->OH * OW, CKK = g->CKK;                                   \
        for (int64_t c = 0, r = 0; c < g->Cg; c++)                                                  \
            for (int64_t kh = 0; kh < g->KH; kh++) roff[r++] = c * HWp + kh * g->dh * Wp;           \
        for (int64_t b = 0; b < g->B; b++)                                                          \
            for (int64_t gi = 0; gi < g->G; gi++) {                                                 \
                const T *xg = x + (b * g->C + gi * g->Cg) * g->H * g->W;                            \
                if (xpad) {                                                                         \
                    for (int64_t p = 0; p < g->Cg * HWp; p++) xpad[p] = 0;                          \
                    for (int64_t c = 0; c < g->Cg; c++)                                             \
                        for (int64_t r = 0; r < g->H; r++)                                          \
                            memcpy(xpad + c * HWp + (r + g->ph) * Wp + g->pw,                       \
                                   xg + (c * g->H + r) * g->W, (size_t)g->W * sizeof(T));           \
                    xg = xpad;                                                                      \
                }                                                                                   \
                for (int64_t o0 = 0; o0 < g->Og; o0 += OB) {                                        \
                    const int64_t nob = g->Og - o0 < OB ? g->Og - o0 : OB;                          \
                    const T *wq[OB];                                                                \
                    T *yq[OB];                                                                      \
                    for (int q = 0; q < OB; q++) {                                                  \
                        int64_t o = gi * g->Og + o0 + (q < nob ? q : nob - 1);                      \
                        wq[q] = w + o * CKK;                                                        \
                        yq[q] = q < nob ? y + (b * g->O + o) * OHW : NULL;                          \
                    }                                                                               \
                    for (int64_t i = 0; i < g->OH; i++)                                             \
                        for (int64_t j0 = 0; j0 < OW; j0 += J) {                                   \
                            int64_t js = OW < J ? 0 : (j0 + J <= OW ? j0 : OW - J);              \
                            int64_t nj = OW < J ? OW : J;                                         \
                            T *r[OB];                                                               \
                            for (int q = 0; q < OB; q++) r[q] = yq[q] ? yq[q] + i * OW + js : junk + q * J; \
                            if (nj == J)                                                            \
                                tile_##S(xg + i * g->sh * Wp + js, roff, g->Cg * g->KH, g->KW, g->dw, wq, \
                                         r[0], r[1], r[2], r[3]);                                   \
                            else                                                                    \
                                tile_short_##S(xg + i * g->sh * Wp + js, roff, g->Cg * g->KH, g->KW, \
                                               g->dw, wq, nj, r[0], r[1], r[2], r[3]);              \
                        }                                                                           \
                    if (bias)                                                                       \
                        for (int64_t q = 0; q < nob; q++) {                                         \
                            T bv = bias[gi * g->Og + o0 + q], *yp = yq[q];                          \
                            for (int64_t p = 0; p < OHW; p++) yp[p] += bv;                          \
                        }                                                                           \
                }                                                                                   \
            }                                                                                       \
    }                                                                                               \
    /* col[(c,kh,kw), i·OW + j] (row stride ld) = x[c, ih, iw] of one sample's group, or 0 */       \
    static void im2col_##S(const geom *g, const T *x, T *col, int64_t ld) {                         \
        const int64_t HW = g->H * g->W;                                                             \
        for (int64_t c = 0; c < g->Cg; c++)                                                         \
            for (int64_t kh = 0; kh < g->KH; kh++)                                                  \
                for (int64_t kw = 0; kw < g->KW; kw++) {                                            \
                    T *row = col + ((c * g->KH + kh) * g->KW + kw) * ld;                            \
                    int64_t lo, hi, off;                                                            \
                    col_range(g, kw, &lo, &hi, &off);                                               \
                    for (int64_t i = 0; i < g->OH; i++) {                                           \
                        T *restrict d = row + i * g->OW;                                            \
                        int64_t ih = i * g->sh - g->ph + kh * g->dh;                                \
                        if (ih < 0 || ih >= g->H) {                                                 \
                            for (int64_t j = 0; j < g->OW; j++) d[j] = 0;                           \
                            continue;                                                               \
                        }                                                                           \
                        const T *restrict xr = x + c * HW + ih * g->W;                              \
                        for (int64_t j = 0; j < lo; j++) d[j] = 0;                                  \
                        if (g->sw == 1)                                                             \
                            for (int64_t j = lo; j < hi; j++) d[j] = xr[j + off];                   \
                        else                                                                        \
                            for (int64_t j = lo; j < hi; j++) d[j] = xr[j * g->sw + off];           \
                        for (int64_t j = hi; j < g->OW; j++) d[j] = 0;                              \
                    }                                                                               \
                }                                                                                   \
    }                                                                                               \
    /* dx (one sample's group) += the col-shaped dcol folded back */                                \
    static void col2im_##S(const geom *g, const T *dcol, int64_t ld, T *dx) {                       \
        const int64_t HW = g->H * g->W;                                                             \
        for (int64_t c = 0; c < g->Cg; c++)                                                         \
            for (int64_t kh = 0; kh < g->KH; kh++)                                                  \
                for (int64_t kw = 0; kw < g->KW; kw++) {                                            \
                    const T *row = dcol + ((c * g->KH + kh) * g->KW + kw) * ld;                     \
                    int64_t lo, hi, off;                                                            \
                    col_range(g, kw, &lo, &hi, &off);                                               \
                    for (int64_t i = 0; i < g->OH; i++) {                                           \
                        int64_t ih = i * g->sh - g->ph + kh * g->dh;                                \
                        if (ih < 0 || ih >= g->H) continue;                                         \
                        const T *restrict s = row + i * g->OW;                                      \
                        T *restrict dr = dx + c * HW + ih * g->W;                                   \
                        if (g->sw == 1)                                                             \
                            for (int64_t j = lo; j < hi; j++) dr[j + off] += s[j];                  \
                        else                                                                        \
                            for (int64_t j = lo; j < hi; j++) dr[j * g->sw + off] += s[j];          \
                    }                                                                               \
                }                                                                                   \
    }                                                                                               \
    static void gemm_fwd_##S(const geom *g, const T *x, const T *w, const T *bias, T *y,            \
                             conv_scratch *sc) {                                                    \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                                        \
        T *col = sc->col, *tmp = sc->tmp;                                                           \
        for (int64_t b0 = 0; b0 < g->B; b0 += g->nb) {                                              \
            int64_t nbc = g->B - b0 < g->nb ? g->B - b0 : g->nb, ncol = nbc * OHW;                  \
            for (int64_t gi = 0; gi < g->G; gi++) {                                                 \
                T *dst = nbc == 1 ? y + (b0 * g->O + gi * g->Og) * OHW : tmp;                       \
                if (g->CKK == 0) {                                                                  \
                    for (int64_t p = 0; p < g->Og * ncol; p++) dst[p] = 0;                          \
                } else {                                                                            \
                    for (int64_t j = 0; j < nbc; j++)                                               \
                        im2col_##S(g, x + ((b0 + j) * g->C + gi * g->Cg) * HW, col + j * OHW, ncol); \
                    tg__gemm_##S(0, 0, g->Og, ncol, g->CKK, w + gi * g->Og * g->CKK, g->CKK, col,   \
                                 ncol, (T)0, dst, ncol);                                            \
                }                                                                                   \
                if (nbc > 1)                                                                        \
                    for (int64_t j = 0; j < nbc; j++)                                               \
                        for (int64_t o = 0; o < g->Og; o++)                                         \
                            memcpy(y + ((b0 + j) * g->O + gi * g->Og + o) * OHW,                    \
                                   tmp + o * ncol + j * OHW, (size_t)OHW * sizeof(T));              \
            }                                                                                       \
        }                                                                                           \
        if (bias)                                                                                   \
            for (int64_t b = 0; b < g->B; b++)                                                      \
                for (int64_t o = 0; o < g->O; o++) {                                                \
                    T *yp = y + (b * g->O + o) * OHW, bv = bias[o];                                 \
                    for (int64_t p = 0; p < OHW; p++) yp[p] += bv;                                  \
                }                                                                                   \
    }                                                                                               \
    static void gemm_bwd_##S(const geom *g, const T *x, const T *w, const T *dy, T *dx, T *dw,      \
                             conv_scratch *sc) {                                                    \
        const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;                                        \
        T *col = sc->col, *tmp = sc->tmp, *dcol = sc->dcol;                                         \
        if (g->CKK == 0 || g->Og == 0) return;                                                      \
        for (int64_t b0 = 0; b0 < g->B; b0 += g->nb) {                                              \
            int64_t nbc = g->B - b0 < g->nb ? g->B - b0 : g->nb, ncol = nbc * OHW;                  \
            for (int64_t gi = 0; gi < g->G; gi++) {                                                 \
                const T *dyc = dy + (b0 * g->O + gi * g->Og) * OHW;                                 \
                if (nbc > 1) {                                                                      \
                    for (int64_t j = 0; j < nbc; j++)                                               \
                        for (int64_t o = 0; o < g->Og; o++)                                         \
                            memcpy(tmp + o * ncol + j * OHW,                                        \
                                   dy + ((b0 + j) * g->O + gi * g->Og + o) * OHW,                   \
                                   (size_t)OHW * sizeof(T));                                        \
                    dyc = tmp;                                                                      \
                }                                                                                   \
                if (dw) {                                                                           \
                    for (int64_t j = 0; j < nbc; j++)                                               \
                        im2col_##S(g, x + ((b0 + j) * g->C + gi * g->Cg) * HW, col + j * OHW, ncol); \
                    tg__gemm_##S(0, 1, g->Og, g->CKK, ncol, dyc, ncol, col, ncol, (T)1,             \
                                 dw + gi * g->Og * g->CKK, g->CKK);                                 \
                }                                                                                   \
                if (dx) {                                                                           \
                    tg__gemm_##S(1, 0, g->CKK, ncol, g->Og, w + gi * g->Og * g->CKK, g->CKK, dyc,   \
                                 ncol, (T)0, dcol, ncol);                                           \
                    for (int64_t j = 0; j < nbc; j++)                                               \
                        col2im_##S(g, dcol + j * OHW, ncol, dx + ((b0 + j) * g->C + gi * g->Cg) * HW); \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    /* db[o] += Σ_{b,p} dy[b,o,p] */                                                                \
    static void bias_bwd_##S(const geom *g, const T *dy, T *db) {                                   \
        const int64_t OHW = g->OH * g->OW;                                                          \
        for (int64_t o = 0; o < g->O; o++) {                                                        \
            T s = 0;                                                                                \
            for (int64_t b = 0; b < g->B; b++) {                                                    \
                const T *p = dy + (b * g->O + o) * OHW;                                             \
                for (int64_t q = 0; q < OHW; q++) s += p[q];                                        \
            }                                                                                       \
            db[o] += s;                                                                             \
        }                                                                                           \
    }

CONV_KERNELS(float, f32, 16)
CONV_KERNELS(double, f64, 16)

/* ---- scratch ---- */

/* Arena buffer of rows·cols elements of esz bytes, or NULL with an error. */
static void *scratch(tg_node *n, int64_t rows, int64_t cols, size_t esz) {
    if (rows < 0 || cols < 0 || (rows && cols > INT64_MAX / (int64_t)esz / rows)) {
        tg__error(n->ctx, TG_ENOMEM, "%s: scratch of %lld x %lld elements is too large", n->op->name,
                  (long long)rows, (long long)cols);
        return NULL;
    }
    int64_t bytes = rows * cols * (int64_t)esz;
    return tg_node_alloc(n, (size_t)(bytes ? bytes : 1));
}

static conv_scratch *get_scratch(tg_node *n) {
    if (!n->saved) {
        conv_scratch *sc = tg_node_alloc(n, sizeof *sc);
        if (!sc) return NULL;
        memset(sc, 0, sizeof *sc);
        n->saved = sc;
    }
    return n->saved;
}

/* ---- forward / backward ---- */

static tg_status conv_forward(tg_node *n) {
    geom g = geom_of(n);
    const tg_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const void *bd = b ? b->data : NULL;
    int f32 = n->out->dtype == TG_F32;
    size_t esz = tg_dtype_size(n->out->dtype);
    if (g.fwd_direct && g.sw == 1) {
        void *xpad = NULL, *roff = scratch(n, g.Cg, g.KH, sizeof(int64_t)), *junk = scratch(n, OB, JB, esz);
        if (!roff || !junk) return TG_ENOMEM;
        if ((g.ph || g.pw) && !(xpad = scratch(n, g.Cg, (g.H + 2 * g.ph) * (g.W + 2 * g.pw), esz)))
            return TG_ENOMEM;
        if (f32) tiled_fwd_f32(&g, x->data, w->data, bd, n->out->data, xpad, roff, junk);
        else tiled_fwd_f64(&g, x->data, w->data, bd, n->out->data, xpad, roff, junk);
        return TG_OK;
    }
    if (g.fwd_direct) {
        if (f32) direct_fwd_f32(&g, x->data, w->data, bd, n->out->data);
        else direct_fwd_f64(&g, x->data, w->data, bd, n->out->data);
        return TG_OK;
    }
    int64_t ncol = g.nb * g.OH * g.OW;
    conv_scratch *sc = get_scratch(n);
    if (!sc) return TG_ENOMEM;
    if (!sc->col && !(sc->col = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
    if (g.nb > 1 && !sc->tmp && !(sc->tmp = scratch(n, g.Og, ncol, esz))) return TG_ENOMEM;
    if (f32) gemm_fwd_f32(&g, x->data, w->data, bd, n->out->data, sc);
    else gemm_fwd_f64(&g, x->data, w->data, bd, n->out->data, sc);
    return TG_OK;
}

static tg_status conv_backward(tg_node *n) {
    geom g = geom_of(n);
    tg_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    void *dx = NULL, *dw = NULL, *db = NULL;
    if (tg_needs_grad(x) && !(dx = tg_grad_buf(x))) return TG_ENOMEM;
    if (tg_needs_grad(w) && !(dw = tg_grad_buf(w))) return TG_ENOMEM;
    if (b && tg_needs_grad(b) && !(db = tg_grad_buf(b))) return TG_ENOMEM;
    int f32 = n->out->dtype == TG_F32;
    size_t esz = tg_dtype_size(n->out->dtype);
    const void *dy = n->out->grad;
    if (db) {
        if (f32) bias_bwd_f32(&g, dy, db);
        else bias_bwd_f64(&g, dy, db);
    }
    if (!dx && !dw) return TG_OK;
    conv_scratch *sc = get_scratch(n);
    if (!sc) return TG_ENOMEM;
    if (g.bwd_direct) {
        if (dw && !sc->acc && !(sc->acc = scratch(n, 1, g.OW, esz))) return TG_ENOMEM;
        if (f32) direct_bwd_f32(&g, x->data, w->data, dy, dx, dw, sc->acc);
        else direct_bwd_f64(&g, x->data, w->data, dy, dx, dw, sc->acc);
        return TG_OK;
    }
    int64_t ncol = g.nb * g.OH * g.OW;
    if (dw && !sc->col && !(sc->col = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
    if (g.nb > 1 && !sc->tmp && !(sc->tmp = scratch(n, g.Og, ncol, esz))) return TG_ENOMEM;
    if (dx && !sc->dcol && !(sc->dcol = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
    if (f32) gemm_bwd_f32(&g, x->data, w->data, dy, dx, dw, sc);
    else gemm_bwd_f64(&g, x->data, w->data, dy, dx, dw, sc);
    return TG_OK;
}

/* ---- op definitions and public wrappers ---- */

#define OPTS(sh, sw, ph, pw, dh, dw, g) {{sh, sw}, {ph, pw}, {dh, dw}, g}
static const tg_conv_opts c_plain = OPTS(1, 1, 0, 0, 1, 1, 1), c_s2p1 = OPTS(2, 2, 1, 1, 1, 1, 1),
                          c_d2g2 = OPTS(1, 1, 1, 0, 2, 2, 2), c_dw = OPTS(1, 2, 1, 0, 1, 1, 6),
                          c_rect = OPTS(2, 1, 0, 1, 1, 2, 1), c_g2 = OPTS(1, 1, 0, 0, 1, 1, 2),
                          c_s0 = OPTS(0, 1, 0, 0, 1, 1, 1);
/* the check cases cover both algorithms: the last two conv2d cases and the
 * last conv1d case (C/G·K >= 32, O/G >= 4) run im2col, in chunks of samples */

const tg_op_def tg_op_conv2d = {
    .name = "conv2d",
    .n_inputs = -1,
    .attr_size = sizeof(tg_conv_opts),
    .infer = conv2d_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .check = {.lo = -1,
              .hi = 1,
              .cases = {{"1,1,1,1;1,1,1,1;1", &c_plain},
                        {"2,3,5,6;4,3,3,2;4", &c_s2p1},
                        {"1,4,7,6;4,2,3,2;4", &c_d2g2},
                        {"2,2,4,3;3,2,1,1", &c_plain},
                        {"1,6,5,4;6,1,2,3;6", &c_dw},
                        {"2,2,6,5;3,2,3,2", &c_rect},
                        {"2,4,6,5;8,4,3,3;8", &c_s2p1},
                        {"3,8,5,6;8,4,3,3;8", &c_d2g2}},
              .bad = {{"1,3,5,5;4,2,3,3;4", &c_g2},
                      {"1,2,2,2;1,2,3,3", &c_plain},
                      {"1,2,5,5;1,3,3,3;1", &c_plain},
                      {"2,5,5;1,2,3,3", &c_s0}}},
};

static const tg_conv_opts c1_plain = OPTS(1, 1, 0, 0, 1, 1, 1), c1_s2p1 = OPTS(2, 1, 1, 0, 1, 1, 1),
                          c1_d2g2 = OPTS(1, 1, 2, 0, 2, 1, 2), c1_s3 = OPTS(3, 1, 2, 0, 1, 1, 1);

const tg_op_def tg_op_conv1d = {
    .name = "conv1d",
    .n_inputs = -1,
    .attr_size = sizeof(tg_conv_opts),
    .infer = conv1d_infer,
    .forward = conv_forward,
    .backward = conv_backward,
    .check = {.lo = -1,
              .hi = 1,
              .cases = {{"1,1,1;1,1,1;1", &c1_plain},
                        {"2,3,9;4,3,3;4", &c1_s2p1},
                        {"2,4,7;6,2,3;6", &c1_d2g2},
                        {"3,2,10;5,2,4", &c1_s3},
                        {"2,8,9;6,8,5;6", &c1_s2p1}},
              .bad = {{"1,3,5;4,2,3;4", &c1_d2g2},
                      {"1,2,2;1,2,3", &c1_plain},
                      {"1,2,5;1,3,3", &c1_plain},
                      {"1,2,5,5;1,2,3,3", &c1_plain}}},
};

/* NULL opts = defaults; zero stride, dilation or groups = 1 (pad is taken as given). */
static tg_conv_opts norm_opts(const tg_conv_opts *o) {
    tg_conv_opts a = o ? *o : (tg_conv_opts){{1, 1}, {0, 0}, {1, 1}, 1};
    for (int i = 0; i < 2; i++) {
        if (a.stride[i] == 0) a.stride[i] = 1;
        if (a.dilation[i] == 0) a.dilation[i] = 1;
    }
    if (a.groups == 0) a.groups = 1;
    return a;
}

tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o) {
    tg_conv_opts a = norm_opts(o);
    tg_tensor *in[3] = {x, w, b};
    return tg_apply(&tg_op_conv2d, in, b ? 3 : 2, &a);
}

tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o) {
    tg_conv_opts a = norm_opts(o);
    tg_tensor *in[3] = {x, w, b};
    return tg_apply(&tg_op_conv1d, in, b ? 3 : 2, &a);
}

tg_tensor *tg_flatten(tg_tensor *x, int start_dim) {
    if (!x) return NULL;
    int sd = tg__axis(start_dim, x->rank);
    if (sd < 0 || x->rank == 0) {
        tg__error(x->ctx, TG_EINVAL, "flatten: start_dim %d is out of range for %s", start_dim, tg__sh(x));
        return NULL;
    }
    int64_t shape[TG_MAX_RANK], rest = 1;
    for (int i = sd; i < x->rank; i++) rest *= x->shape[i];
    for (int i = 0; i < sd; i++) shape[i] = x->shape[i];
    shape[sd] = rest;
    return tg_reshape(x, sd + 1, shape);
}
