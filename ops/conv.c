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
 *            GEMM; backward computes dw_gᵀ = col · dy_gᵀ (so the GEMM packs the
 *            small dy, not col) and dcol = w_gᵀ · dy_g followed by col2im. nb
 *            grows until a GEMM has about NCOL_TARGET columns, so a layer with
 *            a small output still gets a wide product. When every chunk's col
 *            fits in KEEP_BYTES the forward pass keeps them for dw, and backward
 *            skips im2col. A layer whose window is the whole unpadded input
 *            (LeNet's 5x5 -> 1x1) is a dense layer: its GEMMs read x in place
 *            (y = x · wᵀ, DENSE_NB samples at a time), with no col at all.
 * Threads: the batch is cut into at most CONV_SLICES slices (of im2col chunks
 * or of samples), fixed by the shape alone, and the slices run as tasks on
 * the context's pool; each slice has its own scratch. y and dx are written
 * per sample, so they do not depend on the split at all; each slice sums dw
 * into its own partial, and the partials are added to dw in slice order, so
 * every result is bitwise the same at any thread count. The bias gradient
 * and the direct backward pass run on the calling thread.
 * Scratch (col, the gathered dy chunk, dcol, partial dw) comes from the tape
 * arena via tg_node_alloc, is kept in n->saved and reused by a second
 * backward. */
#include "ops_internal.h"

#include <limits.h>

int tg__conv_algo = 0;

#define NCOL_TARGET 1024                 /* im2col: aim for this many GEMM columns */
#define NCOL_MIN 256                     /* im2col: one sample per GEMM from this many */
#define COL_BYTES ((int64_t)8 << 20)     /* im2col: cap of one chunk's col buffer */
#define COL_MAX ((int64_t)256 << 20)     /* beyond this per sample, use direct */
#define KEEP_BYTES ((int64_t)8 << 20)    /* im2col: the forward keeps every chunk's col up to this */
#define DENSE_NB 16                      /* dense layers: samples per GEMM */
/* The tile kernel is compiled on its own: inlined into the loops around it,
 * GCC 12 no longer keeps its accumulators in vector registers. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif
#define CONV_SLICES 8                    /* most tasks (slices of the batch) per pass */
#define SLICE_BYTES ((int64_t)32 << 20)  /* fewer slices when their col buffers pass this */
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
    int dense;                   /* the kernel covers the whole unpadded input: col is x itself */
} geom;

typedef struct conv_slice {
    void *col, *tmp, *dcol;      /* (CKK, nb·OHW), (Og, nb·OHW), (CKK, nb·OHW) */
    void *dw;                    /* slices >= 1: partial dw (O, CKK) */
    void *xpad, *junk;           /* tiled forward: padded input group, OB·J spare outputs */
} conv_slice;

typedef struct conv_scratch {
    conv_slice sl[CONV_SLICES];
    void *kept;                  /* every chunk's col, kept by the forward pass for dw (or NULL) */
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
 * every dense layer measured (LeNet-5, KANN's CNN) in both directions,
 * including the one-input-channel first layers since im2col copies whole
 * vector blocks and the forward pass keeps col for dw (the tiled direct
 * kernel used to take their f32 forward pass). Direct wins both ways when a
 * group has fewer than OB output channels (depthwise: the GEMM degenerates
 * to one row), and it is the fallback when one sample's col buffer would
 * exceed COL_MAX. */
static void conv_pick(geom *g, size_t esz) {
    int64_t OHW = g->OH * g->OW;
    int direct = g->Og < OB;
    /* a per-sample col buffer beyond COL_MAX would only waste memory */
    if (g->CKK > 0 && OHW > COL_MAX / (int64_t)esz / g->CKK) direct = 1;
    g->fwd_direct = direct;
    g->bwd_direct = direct;
    if (tg__conv_algo) g->fwd_direct = g->bwd_direct = tg__conv_algo == 1;
    /* A 1x1 output whose window is the whole unpadded input (LeNet's C5) is
     * a dense layer: the GEMMs read x in place, DENSE_NB samples at a time. */
    g->dense = OHW == 1 && g->ph == 0 && g->pw == 0 && g->KH == g->H && g->KW == g->W && g->CKK > 0;
    if (g->dense) {
        g->nb = g->B < DENSE_NB ? (g->B > 0 ? g->B : 1) : DENSE_NB;
        return;
    }
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

/* ---- kernels, once per dtype (conv_kernels_impl.h) ---- */

/* name_S for the dtype being included */
#define CONV_GLUE_(a, b) a##_##b
#define CONV_GLUE(a, b) CONV_GLUE_(a, b)
#define FN(name) CONV_GLUE(name, S)

#define TG_DTYPE_IMPL "conv_kernels_impl.h"
#include "each_dtype.h"
#undef FN

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

/* ---- the split into tasks ---- */

/* Slices for `units` im2col chunks or samples: at most CONV_SLICES, fewer
 * when their col buffers (bytes_each) would pass SLICE_BYTES. A function of
 * the shape alone, never of the thread count. */
static int64_t n_slices(int64_t units, int64_t bytes_each) {
    int64_t s = units < CONV_SLICES ? units : CONV_SLICES;
    if (bytes_each > 0 && s > 1 && s > SLICE_BYTES / bytes_each) s = SLICE_BYTES / bytes_each;
    return s < 1 && units > 0 ? 1 : s;
}

/* Units [lo, hi) of slice t of n_sl. */
static void slice_units(int64_t units, int64_t n_sl, int64_t t, int64_t *lo, int64_t *hi) {
    *lo = units * t / n_sl;
    *hi = units * (t + 1) / n_sl;
}

typedef struct conv_job {
    const geom *g;
    const void *x, *w, *bias, *dy;
    void *y, *dx, *dw;
    conv_scratch *sc;
    const int64_t *roff;         /* tiled forward */
    int64_t units, n_sl;         /* chunks (im2col) or samples (direct), slices */
    int f32;
} conv_job;

static void tiled_task(void *arg, int64_t t) {
    const conv_job *j = arg;
    int64_t b0, b1;
    slice_units(j->units, j->n_sl, t, &b0, &b1);
    const conv_slice *sl = &j->sc->sl[t];
    if (j->f32) tiled_fwd_f32(j->g, j->x, j->w, j->bias, j->y, sl->xpad, j->roff, sl->junk, b0, b1);
    else tiled_fwd_f64(j->g, j->x, j->w, j->bias, j->y, sl->xpad, j->roff, sl->junk, b0, b1);
}

static void direct_task(void *arg, int64_t t) {
    const conv_job *j = arg;
    int64_t b0, b1;
    slice_units(j->units, j->n_sl, t, &b0, &b1);
    if (j->f32) direct_fwd_f32(j->g, j->x, j->w, j->bias, j->y, b0, b1);
    else direct_fwd_f64(j->g, j->x, j->w, j->bias, j->y, b0, b1);
}

static void gemm_fwd_task(void *arg, int64_t t) {
    const conv_job *j = arg;
    int64_t c0, c1;
    slice_units(j->units, j->n_sl, t, &c0, &c1);
    const conv_slice *sl = &j->sc->sl[t];
    const geom *g = j->g;
    size_t esz = j->f32 ? sizeof(float) : sizeof(double), chunk = (size_t)(g->G * g->CKK * g->nb * g->OH * g->OW);
    for (int64_t c = c0; c < c1; c++) {
        char *kept = j->sc->kept;
        void *col = kept ? kept + (size_t)c * chunk * esz : sl->col;
        if (j->f32) gemm_fwd_f32(g, j->x, j->w, j->bias, j->y, col, kept != NULL, sl->tmp, c * g->nb);
        else gemm_fwd_f64(g, j->x, j->w, j->bias, j->y, col, kept != NULL, sl->tmp, c * g->nb);
    }
}

/* Each slice sums its chunks' dw into its own partial (the first chunk with
 * beta 0); the partials are added to dw afterwards, in slice order. */
static void gemm_bwd_task(void *arg, int64_t t) {
    const conv_job *j = arg;
    int64_t c0, c1;
    slice_units(j->units, j->n_sl, t, &c0, &c1);
    const conv_slice *sl = &j->sc->sl[t];
    const geom *g = j->g;
    void *dw = j->dw ? sl->dw : NULL;
    size_t esz = j->f32 ? sizeof(float) : sizeof(double), chunk = (size_t)(g->G * g->CKK * g->nb * g->OH * g->OW);
    for (int64_t c = c0; c < c1; c++) {
        int first = c == c0;
        char *kept = j->sc->kept;
        void *col = kept ? kept + (size_t)c * chunk * esz : sl->col;
        if (j->f32)
            gemm_bwd_f32(g, j->x, j->w, j->dy, j->dx, dw, first ? 0.0f : 1.0f, col, kept != NULL, sl->tmp,
                         sl->dcol, c * g->nb);
        else
            gemm_bwd_f64(g, j->x, j->w, j->dy, j->dx, dw, first ? 0.0 : 1.0, col, kept != NULL, sl->tmp,
                         sl->dcol, c * g->nb);
    }
}

/* ---- forward / backward ---- */

static tg_status conv_forward(tg_node *n) {
    geom g = geom_of(n);
    const tg_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    size_t esz = tg_dtype_size(n->out->dtype);
    conv_job job = {&g, x->data, w->data, b ? b->data : NULL, NULL, n->out->data, NULL, NULL, NULL, NULL,
                    0, 0, n->out->dtype == TG_F32};
    if (g.fwd_direct) {
        job.units = g.B;
        if (g.sw != 1) {
            job.n_sl = n_slices(g.B, 0);
            tg__parallel_for(n->ctx, job.n_sl, direct_task, &job);
            return TG_OK;
        }
        /* tiled: a zero-bordered copy of one sample's group per slice when padded */
        int64_t padded = (g.ph || g.pw) ? g.Cg * (g.H + 2 * g.ph) * (g.W + 2 * g.pw) : 0;
        job.n_sl = n_slices(g.B, padded * (int64_t)esz);
        int64_t *roff = scratch(n, g.Cg, g.KH, sizeof(int64_t));
        if (!roff || !(job.sc = get_scratch(n))) return TG_ENOMEM;
        const int64_t Wp = g.W + 2 * g.pw, HWp = (g.H + 2 * g.ph) * Wp;
        for (int64_t c = 0, r = 0; c < g.Cg; c++)
            for (int64_t kh = 0; kh < g.KH; kh++) roff[r++] = c * HWp + kh * g.dh * Wp;
        job.roff = roff;
        for (int64_t t = 0; t < job.n_sl; t++) {
            conv_slice *sl = &job.sc->sl[t];
            if (!(sl->junk = scratch(n, OB, JB, esz))) return TG_ENOMEM;
            sl->xpad = NULL;
            if (padded && !(sl->xpad = scratch(n, 1, padded, esz))) return TG_ENOMEM;
        }
        tg__parallel_for(n->ctx, job.n_sl, tiled_task, &job);
        return TG_OK;
    }
    int64_t ncol = g.nb * g.OH * g.OW;
    job.units = (g.B + g.nb - 1) / g.nb;
    job.n_sl = n_slices(job.units, g.dense ? 0 : g.CKK * ncol * (int64_t)esz);
    if (!(job.sc = get_scratch(n))) return TG_ENOMEM;
    /* When every chunk's col fits in KEEP_BYTES and dw will be wanted, the
     * forward pass writes them all and keeps them, so backward skips im2col. */
    int64_t all = job.units * g.G * g.CKK * ncol;
    job.sc->kept = NULL;
    if (!g.dense && n->ctx->no_grad == 0 && (w->flags & TG_REQUIRES_GRAD) && all <= KEEP_BYTES / (int64_t)esz &&
        !(job.sc->kept = scratch(n, 1, all, esz)))
        return TG_ENOMEM;
    for (int64_t t = 0; t < job.n_sl && !g.dense; t++) {
        conv_slice *sl = &job.sc->sl[t];
        if (!job.sc->kept && !sl->col && !(sl->col = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
        if (g.nb > 1 && !sl->tmp && !(sl->tmp = scratch(n, g.Og, ncol, esz))) return TG_ENOMEM;
    }
    tg__parallel_for(n->ctx, job.n_sl, gemm_fwd_task, &job);
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
    if (g.CKK == 0 || g.Og == 0) return TG_OK;
    int64_t ncol = g.nb * g.OH * g.OW;
    conv_job job = {&g, x->data, w->data, NULL, dy, NULL, dx, dw, sc, NULL, (g.B + g.nb - 1) / g.nb, 0, f32};
    job.n_sl = n_slices(job.units, g.dense ? 0 : g.CKK * ncol * (int64_t)esz);
    for (int64_t t = 0; t < job.n_sl; t++) {
        conv_slice *sl = &sc->sl[t];
        if (dw && !sl->dw && !(sl->dw = scratch(n, g.O, g.CKK, esz))) return TG_ENOMEM;
        if (g.dense) continue;
        if (dw && !sc->kept && !sl->col && !(sl->col = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
        if (g.nb > 1 && !sl->tmp && !(sl->tmp = scratch(n, g.Og, ncol, esz))) return TG_ENOMEM;
        if (dx && !sl->dcol && !(sl->dcol = scratch(n, g.CKK, ncol, esz))) return TG_ENOMEM;
    }
    tg__parallel_for(n->ctx, job.n_sl, gemm_bwd_task, &job);
    /* the partial dw of each slice, in slice order */
    if (dw)
        for (int64_t t = 0; t < job.n_sl; t++) {
            if (f32) add_dw_f32(&g, sc->sl[t].dw, dw);
            else add_dw_f64(&g, sc->sl[t].dw, dw);
        }
    return TG_OK;
}

/* ---- op definitions and public wrappers ---- */

#define OPTS(sh, sw, ph, pw, dh, dw, g) {{sh, sw}, {ph, pw}, {dh, dw}, g}
static const tg_conv_opts c_plain = OPTS(1, 1, 0, 0, 1, 1, 1), c_s2p1 = OPTS(2, 2, 1, 1, 1, 1, 1),
                          c_d2g2 = OPTS(1, 1, 1, 0, 2, 2, 2), c_dw = OPTS(1, 2, 1, 0, 1, 1, 6),
                          c_rect = OPTS(2, 1, 0, 1, 1, 2, 1), c_g2 = OPTS(1, 1, 0, 0, 1, 1, 2),
                          c_s0 = OPTS(0, 1, 0, 0, 1, 1, 1), c_negpad = OPTS(1, 1, -1, 0, 1, 1, 1);
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
                        {"3,8,5,6;8,4,3,3;8", &c_d2g2},
                        {"0,3,5,6;4,3,3,2;4", &c_s2p1}},
              .bad = {{"1,3,5,5;4,2,3,3;4", &c_g2},
                      {"1,2,2,2;1,2,3,3", &c_plain},
                      {"1,2,5,5;1,3,3,3;1", &c_plain},
                      {"2,5,5;1,2,3,3", &c_plain},
                      {"1,2,5,5;1,2,3,3", &c_s0},
                      {"1,2,5,5;1,2,3,3", &c_negpad}}},
};

static const tg_conv_opts c1_plain = OPTS(1, 1, 0, 0, 1, 1, 1), c1_s2p1 = OPTS(2, 1, 1, 0, 1, 1, 1),
                          c1_d2g2 = OPTS(1, 1, 2, 0, 2, 1, 2), c1_s3 = OPTS(3, 1, 2, 0, 1, 1, 1),
                          c1_s0 = OPTS(0, 1, 0, 0, 1, 1, 1), c1_negpad = OPTS(1, 1, -2, 0, 1, 1, 1);

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
                        {"2,8,9;6,8,5;6", &c1_s2p1},
                        {"0,3,9;4,3,3;4", &c1_s2p1}},
              .bad = {{"1,3,5;4,2,3;4", &c1_d2g2},
                      {"1,2,2;1,2,3", &c1_plain},
                      {"1,2,5;1,3,3", &c1_plain},
                      {"1,2,5,5;1,2,3,3", &c1_plain},
                      {"1,2,5;1,2,3", &c1_s0},
                      {"1,2,5;1,2,3", &c1_negpad}}},
};

/* A zero field is its default, so `(tg_conv_opts){.stride = {2, 2}}` means
 * stride 2, pad 0, dilation 1, groups 1, as C users expect of a zero-
 * initialized options struct; NULL is every default. A negative field stays
 * as given and the op rejects it with its message. */
tg_conv_opts tg__conv_opts_norm(const tg_conv_opts *o) {
    tg_conv_opts a = o ? *o : (tg_conv_opts){{0, 0}, {0, 0}, {0, 0}, 0};
    for (int i = 0; i < 2; i++) {
        if (a.stride[i] == 0) a.stride[i] = 1;
        if (a.dilation[i] == 0) a.dilation[i] = 1;
    }
    if (a.groups == 0) a.groups = 1;
    return a;
}

tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o) {
    tg_conv_opts a = tg__conv_opts_norm(o);
    tg_tensor *in[3] = {x, w, b};
    return tg_apply(&tg_op_conv2d, in, b ? 3 : 2, &a);
}

tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o) {
    tg_conv_opts a = tg__conv_opts_norm(o);
    tg_tensor *in[3] = {x, w, b};
    return tg_apply(&tg_op_conv1d, in, b ? 3 : 2, &a);
}
