/* plot.c: the SVG line plot of per-epoch curves behind --plot (see
 * common.h). */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks. */
static double nice_step(double span, int n) {
    if (!(span > 0)) return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct axis {
    double lo, hi, step;
} axis;

static axis make_axis(const ex_series *s, int ns, int right) {
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; k++) {
        if (s[k].right_axis != right) continue;
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-12 * (fabs(hi) + 1)) lo -= 0.5 * (fabs(lo) + 1e-3), hi += 0.5 * (fabs(hi) + 1e-3);
    axis a;
    a.step = nice_step(hi - lo, 5);
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    if (a.hi <= a.lo) a.hi = a.lo + a.step;
    return a;
}

static void svg_text(FILE *fp, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

int ex_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel_left,
                const char *ylabel_right, const ex_series *s, int ns) {
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
    const double W = 760, H = 470, ml = 80, mr = 80, mt = 70, mb = 60;
    const double pw = W - ml - mr, ph = H - mt - mb;
    FILE *fp = fopen(path, "w");
    if (!fp) return -1;
    int npts = 1, has_right = 0;
    for (int k = 0; k < ns; k++) {
        if (s[k].n > npts) npts = s[k].n;
        if (s[k].right_axis) has_right = 1;
    }
    /* x from 1 to npts (epochs); a single point sits in the middle */
    double xlo = npts > 1 ? 1 : 0.5, xhi = npts > 1 ? npts : 1.5;
    double xstep = nice_step(xhi - xlo, 8);
    if (xstep < 1) xstep = 1;
    axis L = make_axis(s, ns, 0), R = make_axis(s, ns, 1);
#define PX(x) (ml + ((x) - xlo) / (xhi - xlo) * pw)
#define PY(a, y) (mt + ph - ((y) - (a).lo) / ((a).hi - (a).lo) * ph)
    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(fp, "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    svg_text(fp, title);
    fprintf(fp, "</text>\n");
    /* grid and ticks */
    fprintf(fp, "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
    for (double y = L.lo; y <= L.hi + 1e-9 * L.step; y += L.step)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml, PY(L, y), ml + pw,
                PY(L, y));
    for (double x = ceil(xlo); x <= xhi + 1e-9; x += xstep)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), mt, PX(x), mt + ph);
    fprintf(fp, "</g>\n<g stroke=\"black\" stroke-width=\"1\" fill=\"none\">\n");
    fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", ml, mt, pw, ph);
    for (double y = L.lo; y <= L.hi + 1e-9 * L.step; y += L.step)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml - 5, PY(L, y), ml,
                PY(L, y));
    if (has_right)
        for (double y = R.lo; y <= R.hi + 1e-9 * R.step; y += R.step)
            fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ml + pw, PY(R, y),
                    ml + pw + 5, PY(R, y));
    for (double x = ceil(xlo); x <= xhi + 1e-9; x += xstep)
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PX(x), mt + ph, PX(x),
                mt + ph + 5);
    fprintf(fp, "</g>\n<g fill=\"black\">\n");
    for (double y = L.lo; y <= L.hi + 1e-9 * L.step; y += L.step)
        fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ml - 8, PY(L, y) + 4,
                fabs(y) < 1e-12 * L.step ? 0.0 : y);
    if (has_right)
        for (double y = R.lo; y <= R.hi + 1e-9 * R.step; y += R.step)
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\">%g</text>\n", ml + pw + 8,
                    PY(R, y) + 4, fabs(y) < 1e-12 * R.step ? 0.0 : y);
    for (double x = ceil(xlo); x <= xhi + 1e-9; x += xstep)
        fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(x), mt + ph + 20, x);
    /* axis labels */
    fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", ml + pw / 2, H - 15);
    svg_text(fp, xlabel);
    fprintf(fp, "</text>\n<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">", 20.0,
            mt + ph / 2);
    svg_text(fp, ylabel_left);
    fprintf(fp, "</text>\n");
    if (has_right && ylabel_right) {
        fprintf(fp, "<text transform=\"translate(%.1f,%.1f) rotate(90)\" text-anchor=\"middle\">", W - 20,
                mt + ph / 2);
        svg_text(fp, ylabel_right);
        fprintf(fp, "</text>\n");
    }
    fprintf(fp, "</g>\n");
    /* curves: right-axis series dashed */
    for (int k = 0; k < ns; k++) {
        const char *c = colors[k % 6];
        const axis *a = s[k].right_axis ? &R : &L;
        fprintf(fp, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", c,
                s[k].right_axis ? " stroke-dasharray=\"6,3\"" : "");
        int pen = 0;
        for (int i = 0; i < s[k].n; i++) {
            double v = s[k].y[i];
            if (!isfinite(v)) continue; /* skipped; the line joins its neighbours */
            double x = npts > 1 ? i + 1 : 1;
            fprintf(fp, "%c%.1f,%.1f ", pen ? 'L' : 'M', PX(x), PY(*a, v));
            pen = 1;
        }
        fprintf(fp, "\"/>\n");
        if (s[k].n <= 60)
            for (int i = 0; i < s[k].n; i++)
                if (isfinite(s[k].y[i]))
                    fprintf(fp, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                            PX(npts > 1 ? i + 1 : 1), PY(*a, s[k].y[i]), c);
    }
    /* legend: one row under the title */
    double lx = ml;
    for (int k = 0; k < ns; k++) {
        const char *c = colors[k % 6];
        fprintf(fp, "<line x1=\"%.1f\" y1=\"45\" x2=\"%.1f\" y2=\"45\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                lx, lx + 24, c, s[k].right_axis ? " stroke-dasharray=\"6,3\"" : "");
        fprintf(fp, "<text x=\"%.1f\" y=\"49\">", lx + 30);
        svg_text(fp, s[k].name);
        if (s[k].right_axis && has_right) fputs(" (right axis)", fp);
        fprintf(fp, "</text>\n");
        lx += 50 + 7.0 * (double)(strlen(s[k].name ? s[k].name : "") + (s[k].right_axis ? 13 : 0));
    }
    fprintf(fp, "</svg>\n");
#undef PX
#undef PY
    int err = ferror(fp);
    if (fclose(fp) != 0 || err) {
        if (!errno) errno = EIO;
        return -1;
    }
    return 0;
}
