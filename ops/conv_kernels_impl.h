/* conv_kernels_impl.h: the convolution kernels for one dtype, included by
 * ops/conv.c once with T float and S f32 and once with T double and S f64
 * (FN(name) is name_f32 or name_f64). They see conv.c's geom, row_range,
 * col_range, OB, JB and NOINLINE. */
/* y = bias + direct convolution. Per (b, o, c, kh, kw) one weight is
 * applied to the valid rows of the output plane, which stays in L1. */
static void FN(direct_fwd)(const geom *g, const T *x, const T *w, const T *bias, T *y,
                           int64_t b0, int64_t b1) {
    const int64_t W = g->W, OW = g->OW, sh = g->sh, sw = g->sw, KH = g->KH, KW = g->KW;
    const int64_t HW = g->H * W, OHW = g->OH * OW;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t o = 0; o < g->O; o++) {
            T *restrict yp = y + (b * g->O + o) * OHW, bv = bias ? bias[o] : (T)0;
            for (int64_t p = 0; p < OHW; p++) yp[p] = bv;
            for (int64_t c = 0; c < g->Cg; c++) {
                const T *restrict xp = x + (b * g->C + (o / g->Og) * g->Cg + c) * HW;
                const T *wp = w + (o * g->Cg + c) * KH * KW;
                for (int64_t kh = 0; kh < KH; kh++) {
                    int64_t ilo, ihi, ioff;
                    row_range(g, kh, &ilo, &ihi, &ioff);
                    for (int64_t kw = 0; kw < KW; kw++) {
                        int64_t lo, hi, off;
                        col_range(g, kw, &lo, &hi, &off);
                        const T wv = wp[kh * KW + kw];
                        for (int64_t i = ilo; i < ihi; i++) {
                            T *restrict yr = yp + i * OW;
                            const T *restrict xr = xp + (i * sh + ioff) * W + off;
                            if (sw == 1)
                                for (int64_t j = lo; j < hi; j++) yr[j] += wv * xr[j];
                            else
                                for (int64_t j = lo; j < hi; j++) yr[j] += wv * xr[j * sw];
                        }
                    }
                }
            }
        }
}
/* dx += Σ w·dy and dw += Σ dy·x, direct. acc: OW partial sums for dw. */
static void FN(direct_bwd)(const geom *g, const T *x, const T *w, const T *dy, T *dx, T *dw,
                           T *acc) {
    const int64_t W = g->W, OW = g->OW, sh = g->sh, sw = g->sw, KH = g->KH, KW = g->KW;
    const int64_t HW = g->H * W, OHW = g->OH * OW, KK = KH * KW;
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t o = 0; o < g->O; o++) {
            const T *restrict dyp = dy + (b * g->O + o) * OHW;
            for (int64_t c = 0; c < g->Cg; c++) {
                int64_t ci = b * g->C + (o / g->Og) * g->Cg + c;
                const T *restrict xp = x + ci * HW;
                T *restrict dxp = dx ? dx + ci * HW : NULL;
                const T *wp = w + (o * g->Cg + c) * KK;
                for (int64_t kh = 0; kh < KH; kh++) {
                    int64_t ilo, ihi, ioff;
                    row_range(g, kh, &ilo, &ihi, &ioff);
                    for (int64_t kw = 0; kw < KW; kw++) {
                        int64_t lo, hi, off;
                        col_range(g, kw, &lo, &hi, &off);
                        const T wv = wp[kh * KW + kw];
                        if (dxp)
                            for (int64_t i = ilo; i < ihi; i++) {
                                const T *restrict dyr = dyp + i * OW;
                                T *restrict dxr = dxp + (i * sh + ioff) * W + off;
                                if (sw == 1)
                                    for (int64_t j = lo; j < hi; j++) dxr[j] += wv * dyr[j];
                                else
                                    for (int64_t j = lo; j < hi; j++) dxr[j * sw] += wv * dyr[j];
                            }
                        if (dw) {
                            for (int64_t j = lo; j < hi; j++) acc[j] = 0;
                            for (int64_t i = ilo; i < ihi; i++) {
                                const T *restrict dyr = dyp + i * OW;
                                const T *restrict xr = xp + (i * sh + ioff) * W + off;
                                if (sw == 1)
                                    for (int64_t j = lo; j < hi; j++) acc[j] += dyr[j] * xr[j];
                                else
                                    for (int64_t j = lo; j < hi; j++) acc[j] += dyr[j] * xr[j * sw];
                            }
                            T s = 0;
                            for (int64_t j = lo; j < hi; j++) s += acc[j];
                            dw[(o * g->Cg + c) * KK + kh * KW + kw] += s;
                        }
                    }
                }
            }
        }
}
/* One tile of the direct forward: r0..r3 (JB outputs each) = Σ over taps
 * (row r of (c,kh), kw) of wq[r·KW+kw] · base[roff[r] + kw·dw + jj]. The
 * four accumulator rows stay in vector registers: JB is a constant, the
 * arrays are never indexed by a variable, and the kw loop is affine (with
 * one flat tap list GCC vectorizes over taps with gathers instead). */
static NOINLINE void FN(tile)(const T *restrict base, const int64_t *roff, int64_t nrow,
                              int64_t KW, int64_t dw, const T *const wq[OB], T *restrict r0,
                              T *restrict r1, T *restrict r2, T *restrict r3) {
    T a0[JB], a1[JB], a2[JB], a3[JB];
    for (int jj = 0; jj < JB; jj++) a0[jj] = a1[jj] = a2[jj] = a3[jj] = 0;
    const T *restrict q0 = wq[0], *restrict q1 = wq[1], *restrict q2 = wq[2], *restrict q3 = wq[3];
    for (int64_t r = 0; r < nrow; r++) {
        const T *restrict rb = base + roff[r];
        for (int64_t kw = 0; kw < KW; kw++) {
            const T *restrict sp = rb + kw * dw;
            const int64_t t = r * KW + kw;
            const T w0 = q0[t], w1 = q1[t], w2 = q2[t], w3 = q3[t];
            for (int jj = 0; jj < JB; jj++) {
                T v = sp[jj];
                a0[jj] += w0 * v, a1[jj] += w1 * v, a2[jj] += w2 * v, a3[jj] += w3 * v;
            }
        }
    }
    for (int jj = 0; jj < JB; jj++) r0[jj] = a0[jj], r1[jj] = a1[jj], r2[jj] = a2[jj], r3[jj] = a3[jj];
}
/* The same for a row shorter than JB (nj outputs), summing in place. */
static void FN(tile_short)(const T *restrict base, const int64_t *roff, int64_t nrow, int64_t KW,
                           int64_t dw, const T *const wq[OB], int64_t nj, T *restrict r0,
                           T *restrict r1, T *restrict r2, T *restrict r3) {
    for (int64_t jj = 0; jj < nj; jj++) r0[jj] = r1[jj] = r2[jj] = r3[jj] = 0;
    for (int64_t r = 0; r < nrow; r++)
        for (int64_t kw = 0; kw < KW; kw++) {
            const T *restrict sp = base + roff[r] + kw * dw;
            const int64_t t = r * KW + kw;
            const T w0 = wq[0][t], w1 = wq[1][t], w2 = wq[2][t], w3 = wq[3][t];
            for (int64_t jj = 0; jj < nj; jj++) {
                T v = sp[jj];
                r0[jj] += w0 * v, r1[jj] += w1 * v, r2[jj] += w2 * v, r3[jj] += w3 * v;
            }
        }
}
/* Direct forward for column stride 1, register-tiled: OB output
 * channels × JB output columns of one row accumulate over every tap
 * (c, kh, kw), and one input load feeds OB products. The sample's group
 * is first copied into a zero-bordered buffer xpad (Cg, H+2ph, W+2pw)
 * when there is padding, so no tap needs a bounds check. A row longer
 * than JB ends with a tile that overlaps the previous one. roff: Cg·KH
 * row offsets (c,kh) (set by conv_forward); junk: OB·JB elements for the
 * outputs of missing channels. Samples [b0, b1). */
static void FN(tiled_fwd)(const geom *g, const T *x, const T *w, const T *bias, T *y, T *xpad,
                          const int64_t *roff, T *junk, int64_t b0, int64_t b1) {
    const int64_t Hp = g->H + 2 * g->ph, Wp = g->W + 2 * g->pw, HWp = Hp * Wp;
    const int64_t OW = g->OW, OHW = g->OH * OW, CKK = g->CKK;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t gi = 0; gi < g->G; gi++) {
            const T *xg = x + (b * g->C + gi * g->Cg) * g->H * g->W;
            if (xpad) {
                for (int64_t p = 0; p < g->Cg * HWp; p++) xpad[p] = 0;
                for (int64_t c = 0; c < g->Cg; c++)
                    for (int64_t r = 0; r < g->H; r++)
                        memcpy(xpad + c * HWp + (r + g->ph) * Wp + g->pw,
                               xg + (c * g->H + r) * g->W, (size_t)g->W * sizeof(T));
                xg = xpad;
            }
            for (int64_t o0 = 0; o0 < g->Og; o0 += OB) {
                const int64_t nob = g->Og - o0 < OB ? g->Og - o0 : OB;
                const T *wq[OB];
                T *yq[OB];
                for (int q = 0; q < OB; q++) {
                    int64_t o = gi * g->Og + o0 + (q < nob ? q : nob - 1);
                    wq[q] = w + o * CKK;
                    yq[q] = q < nob ? y + (b * g->O + o) * OHW : NULL;
                }
                for (int64_t i = 0; i < g->OH; i++)
                    for (int64_t j0 = 0; j0 < OW; j0 += JB) {
                        int64_t js = OW < JB ? 0 : (j0 + JB <= OW ? j0 : OW - JB);
                        int64_t nj = OW < JB ? OW : JB;
                        T *r[OB];
                        for (int q = 0; q < OB; q++) r[q] = yq[q] ? yq[q] + i * OW + js : junk + q * JB;
                        if (nj == JB)
                            FN(tile)(xg + i * g->sh * Wp + js, roff, g->Cg * g->KH, g->KW, g->dw, wq,
                                     r[0], r[1], r[2], r[3]);
                        else
                            FN(tile_short)(xg + i * g->sh * Wp + js, roff, g->Cg * g->KH, g->KW,
                                           g->dw, wq, nj, r[0], r[1], r[2], r[3]);
                    }
                if (bias)
                    for (int64_t q = 0; q < nob; q++) {
                        T bv = bias[gi * g->Og + o0 + q], *yp = yq[q];
                        for (int64_t p = 0; p < OHW; p++) yp[p] += bv;
                    }
            }
        }
}
/* col[(c,kh,kw), i·OW + j] (row stride ld) = x[c, ih, iw] of one sample's group, or 0.
 * Rows of the window that fall in the padding are cleared whole; for
 * column stride 1 a row is copied in blocks of V elements (one vector),
 * except the last valid one: the overhang of a block lands in the next
 * output row, which is written after it, and reads stay inside the next
 * input row (W, OW >= V - 1), so no block needs a tail loop. */
static void FN(im2col)(const geom *g, const T *x, T *col, int64_t ld) {
    enum { V = 32 / sizeof(T) };
    const int64_t H = g->H, W = g->W, OW = g->OW, OH = g->OH, sh = g->sh, sw = g->sw;
    const int blocks = sw == 1 && W >= V - 1 && OW >= V - 1;
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            int64_t ilo, ihi, ioff;
            row_range(g, kh, &ilo, &ihi, &ioff);
            for (int64_t kw = 0; kw < g->KW; kw++) {
                T *row = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                int64_t lo, hi, off;
                col_range(g, kw, &lo, &hi, &off);
                if (ilo > 0) memset(row, 0, (size_t)(ilo * OW) * sizeof(T));
                int64_t i = ilo;
                if (blocks && hi > lo) { /* all rows but the last valid one: whole blocks */
                    const int64_t nblk = (hi - lo + V - 1) / V;
                    for (; i + 1 < ihi; i++) {
                        T *d = row + i * OW;
                        const T *xs = x + (c * H + i * sh + ioff) * W + (lo + off);
                        for (int64_t j = 0; j < lo; j++) d[j] = 0;
                        for (int64_t q = 0; q < nblk; q++)
                            memcpy(d + lo + q * V, xs + q * V, V * sizeof(T));
                        for (int64_t j = hi; j < OW; j++) d[j] = 0;
                    }
                }
                for (; i < ihi; i++) {
                    T *d = row + i * OW;
                    const T *xr = x + (c * H + i * sh + ioff) * W;
                    for (int64_t j = 0; j < lo; j++) d[j] = 0;
                    if (sw == 1)
                        for (int64_t j = lo; j < hi; j++) d[j] = xr[j + off];
                    else
                        for (int64_t j = lo; j < hi; j++) d[j] = xr[j * sw + off];
                    for (int64_t j = hi > lo ? hi : lo; j < OW; j++) d[j] = 0;
                }
                if (ihi < OH) memset(row + ihi * OW, 0, (size_t)((OH - ihi) * OW) * sizeof(T));
            }
        }
}
/* dx (one sample's group) += the col-shaped dcol folded back */
static void FN(col2im)(const geom *g, const T *dcol, int64_t ld, T *dx) {
    const int64_t HW = g->H * g->W;
    for (int64_t c = 0; c < g->Cg; c++)
        for (int64_t kh = 0; kh < g->KH; kh++) {
            int64_t ilo, ihi, ioff;
            row_range(g, kh, &ilo, &ihi, &ioff);
            for (int64_t kw = 0; kw < g->KW; kw++) {
                const T *row = dcol + ((c * g->KH + kh) * g->KW + kw) * ld;
                int64_t lo, hi, off;
                col_range(g, kw, &lo, &hi, &off);
                for (int64_t i = ilo; i < ihi; i++) {
                    const T *restrict s = row + i * g->OW;
                    T *restrict dr = dx + c * HW + (i * g->sh + ioff) * g->W;
                    if (g->sw == 1)
                        for (int64_t j = lo; j < hi; j++) dr[j + off] += s[j];
                    else
                        for (int64_t j = lo; j < hi; j++) dr[j * g->sw + off] += s[j];
                }
            }
        }
}
/* y for the im2col chunk of samples from b0 (col, tmp: the slice's
 * scratch; keep: col has room for every group, kept for the backward) */
static void FN(gemm_fwd)(const geom *g, const T *x, const T *w, const T *bias, T *y, T *col,
                         int keep, T *tmp, int64_t b0) {
    const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;
    int64_t nbc = g->B - b0 < g->nb ? g->B - b0 : g->nb, ncol = nbc * OHW;
    for (int64_t gi = 0; gi < g->G && g->dense; gi++) /* y (nbc, Og) = x (nbc, CKK) · wᵀ */
        FN(tg__gemm)(0, 1, nbc, g->Og, g->CKK, x + (b0 * g->C + gi * g->Cg) * HW, g->C * HW,
                     w + gi * g->Og * g->CKK, g->CKK, (T)0, y + b0 * g->O + gi * g->Og, g->O);
    for (int64_t gi = 0; gi < g->G && !g->dense; gi++) {
        T *dst = nbc == 1 ? y + (b0 * g->O + gi * g->Og) * OHW : tmp;
        if (g->CKK == 0) {
            for (int64_t p = 0; p < g->Og * ncol; p++) dst[p] = 0;
        } else {
            T *cg = col + (keep ? gi * g->CKK * ncol : 0);
            for (int64_t j = 0; j < nbc; j++)
                FN(im2col)(g, x + ((b0 + j) * g->C + gi * g->Cg) * HW, cg + j * OHW, ncol);
            FN(tg__gemm)(0, 0, g->Og, ncol, g->CKK, w + gi * g->Og * g->CKK, g->CKK, cg, ncol,
                         (T)0, dst, ncol);
        }
        if (nbc > 1)
            for (int64_t j = 0; j < nbc; j++)
                for (int64_t o = 0; o < g->Og; o++)
                    memcpy(y + ((b0 + j) * g->O + gi * g->Og + o) * OHW, tmp + o * ncol + j * OHW,
                           (size_t)OHW * sizeof(T));
    }
    if (bias)
        for (int64_t b = b0; b < b0 + nbc; b++)
            for (int64_t o = 0; o < g->O; o++) {
                T *yp = y + (b * g->O + o) * OHW, bv = bias[o];
                for (int64_t p = 0; p < OHW; p++) yp[p] += bv;
            }
}
/* Backward of the chunk from b0: dw (may be NULL) = beta·dw + dy·colᵀ,
 * laid out (O, CKK) for a dense layer and as each group's transpose
 * (CKK, Og) otherwise; dx (may be NULL) += col2im(wᵀ·dy). have_col: col
 * already holds the chunk's im2col (kept by the forward pass). */
static void FN(gemm_bwd)(const geom *g, const T *x, const T *w, const T *dy, T *dx, T *dw,
                         T beta, T *col, int have_col, T *tmp, T *dcol, int64_t b0) {
    const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;
    int64_t nbc = g->B - b0 < g->nb ? g->B - b0 : g->nb, ncol = nbc * OHW;
    for (int64_t gi = 0; gi < g->G && g->dense; gi++) {
        const T *xg = x + (b0 * g->C + gi * g->Cg) * HW, *dyg = dy + b0 * g->O + gi * g->Og;
        const T *wg = w + gi * g->Og * g->CKK;
        if (dw) /* dw (Og, CKK) = beta·dw + dyᵀ · x */
            FN(tg__gemm)(1, 0, g->Og, g->CKK, nbc, dyg, g->O, xg, g->C * HW, beta,
                         dw + gi * g->Og * g->CKK, g->CKK);
        if (dx) /* dx (nbc, CKK) += dy · w */
            FN(tg__gemm)(0, 0, nbc, g->CKK, g->Og, dyg, g->O, wg, g->CKK, (T)1,
                         dx + (b0 * g->C + gi * g->Cg) * HW, g->C * HW);
    }
    for (int64_t gi = 0; gi < g->G && !g->dense; gi++) {
        const T *dyc = dy + (b0 * g->O + gi * g->Og) * OHW;
        if (nbc > 1) {
            for (int64_t j = 0; j < nbc; j++)
                for (int64_t o = 0; o < g->Og; o++)
                    memcpy(tmp + o * ncol + j * OHW, dy + ((b0 + j) * g->O + gi * g->Og + o) * OHW,
                           (size_t)OHW * sizeof(T));
            dyc = tmp;
        }
        if (dw) { /* dw holds dwᵀ (CKK, Og) per group: col · dyᵀ packs dy, not col */
            T *cg = have_col ? col + gi * g->CKK * ncol : col;
            for (int64_t j = 0; j < nbc && !have_col; j++)
                FN(im2col)(g, x + ((b0 + j) * g->C + gi * g->Cg) * HW, cg + j * OHW, ncol);
            FN(tg__gemm)(0, 1, g->CKK, g->Og, ncol, cg, ncol, dyc, ncol, beta,
                         dw + gi * g->Og * g->CKK, g->Og);
        }
        if (dx) {
            FN(tg__gemm)(1, 0, g->CKK, ncol, g->Og, w + gi * g->Og * g->CKK, g->CKK, dyc, ncol,
                         (T)0, dcol, ncol);
            for (int64_t j = 0; j < nbc; j++)
                FN(col2im)(g, dcol + j * OHW, ncol, dx + ((b0 + j) * g->C + gi * g->Cg) * HW);
        }
    }
}
/* db[o] += Σ_{b,p} dy[b,o,p] */
static void FN(bias_bwd)(const geom *g, const T *dy, T *db) {
    /* BL interleaved partial sums (element q of each plane goes to lane
     * q mod BL), so the adds vectorize instead of forming one chain; the
     * lanes are then added in order. */
    enum { BL = 32 };
    const int64_t OHW = g->OH * g->OW, nfull = OHW / BL * BL;
    for (int64_t o = 0; o < g->O; o++) {
        T acc[BL] = {0};
        for (int64_t b = 0; b < g->B; b++) {
            const T *p = dy + (b * g->O + o) * OHW;
            for (int64_t q = 0; q < nfull; q += BL)
                for (int l = 0; l < BL; l++) acc[l] += p[q + l];
            for (int64_t q = nfull; q < OHW; q++) acc[q - nfull] += p[q];
        }
        T s = 0;
        for (int l = 0; l < BL; l++) s += acc[l];
        db[o] += s;
    }
}
/* dw += a slice's partial: (O, CKK) for a dense layer, else per group
 * its transpose (CKK, Og) */
static void FN(add_dw)(const geom *g, const T *p, T *dw) {
    const int64_t CKK = g->CKK, Og = g->Og;
    if (g->dense) {
        for (int64_t e = 0; e < g->O * CKK; e++) dw[e] += p[e];
        return;
    }
    for (int64_t gi = 0; gi < g->G; gi++)
        for (int64_t o = 0; o < Og; o++) {
            T *d = dw + (gi * Og + o) * CKK;
            const T *q = p + gi * CKK * Og + o;
            for (int64_t k = 0; k < CKK; k++) d[k] += q[k * Og];
        }
}
