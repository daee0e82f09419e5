/* png.c: a grid of grayscale images written as one PNG, through libpng's
 * simplified API (png_image_*), which reports errors in a struct instead of
 * longjmp, so nothing here needs setjmp.
 *
 * Layout: tiles of rows×cols pixels, grid_cols per grid row, separated and
 * framed by TG_PNG_GAP pixels of mid-grey (128), so black-background images
 * (MNIST) stay distinguishable. Image values v in [0,1] map to
 * round(255·v); values outside are clamped and NaN becomes 0. Unused tiles of
 * the last grid row are left grey. */
#include "graph_internal.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>

#define GAP TG_PNG_GAP
#define GREY 128
#define MAX_SIDE 32767 /* pixels per side: far beyond any grid we write, and safe in int */

static unsigned char to_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (unsigned char)lrintf(v * 255.0f);
}

tg_status tg_png_write_grid(tg_ctx *ctx, const char *path, const float *images, int n, int rows, int cols,
                            int grid_cols) {
    if (!path || !path[0]) return tg__error(ctx, TG_EINVAL, "png: no path given");
    if (!images) return tg__error(ctx, TG_EINVAL, "png: %s: images is NULL", path);
    if (n < 1 || rows < 1 || cols < 1 || grid_cols < 0)
        return tg__error(ctx, TG_EINVAL, "png: %s: need n >= 1, rows >= 1, cols >= 1, grid_cols >= 0; got n %d, "
                         "%dx%d, grid_cols %d", path, n, rows, cols, grid_cols);
    if (rows > MAX_SIDE || cols > MAX_SIDE)
        return tg__error(ctx, TG_EINVAL, "png: %s: images of %dx%d are too large", path, rows, cols);
    int gc = grid_cols;
    if (gc == 0) {
        gc = (int)ceil(sqrt((double)n));
        while ((int64_t)gc * gc < n) gc++;
    }
    if (gc > n) gc = n;
    int gr = (n + gc - 1) / gc;
    int64_t W = (int64_t)gc * (cols + GAP) + GAP, H = (int64_t)gr * (rows + GAP) + GAP;
    if (W > MAX_SIDE || H > MAX_SIDE)
        return tg__error(ctx, TG_EINVAL, "png: %s: a grid of %dx%d tiles of %dx%d is %lldx%lld pixels, more than "
                         "%d per side", path, gr, gc, rows, cols, (long long)H, (long long)W, MAX_SIDE);

    unsigned char *pix = tg__malloc((size_t)(W * H));
    if (!pix) return tg__error(ctx, TG_ENOMEM, "png: %s: out of memory for %lldx%lld pixels", path,
                               (long long)H, (long long)W);
    memset(pix, GREY, (size_t)(W * H));
    for (int k = 0; k < n; k++) {
        int64_t y0 = GAP + (int64_t)(k / gc) * (rows + GAP), x0 = GAP + (int64_t)(k % gc) * (cols + GAP);
        const float *img = images + (int64_t)k * rows * cols;
        for (int r = 0; r < rows; r++) {
            unsigned char *dst = pix + (y0 + r) * W + x0;
            for (int c = 0; c < cols; c++) dst[c] = to_byte(img[(int64_t)r * cols + c]);
        }
    }

    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)W;
    im.height = (png_uint_32)H;
    im.format = PNG_FORMAT_GRAY;
    errno = 0;
    int ok = png_image_write_to_file(&im, path, 0, pix, (png_int_32)W, NULL);
    int er = errno;
    tg_status st = TG_OK;
    if (!ok)
        st = tg__error(ctx, TG_EIO, "png: %s: cannot write: %s%s%s", path, im.message[0] ? im.message : "libpng error",
                       er ? ": " : "", er ? strerror(er) : "");
    png_image_free(&im);
    tg__free(pix);
    return st;
}
