/* common.c: the flag parser, progress reporter, result line and SVG plot
 * shared by every example program (see common.h for the contracts). */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

static const char *g_prog = "example"; /* for the --help hint */

int ex_usage_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
    return EX_USAGE;
}

int ex_runtime_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EX_RUNTIME;
}

/* ------------------------------------------------------------------------ */
/* Flag parser                                                               */
/* ------------------------------------------------------------------------ */

ex_flag *ex_flag_find(ex_flag *flags, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(flags[i].name, name) == 0) return &flags[i];
    return NULL;
}

/* A strict integer: optional sign, digits, nothing else. */
static int parse_int(const char *s, long long *out) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) return -1;
    *out = v; /* on overflow strtoll saturates, which the range check rejects */
    return 0;
}

/* A strict finite decimal number: "0.1", "-3", "1e-3", ".5"; no hex, no
 * inf/nan, no leading blanks, no trailing junk ("1e" and "abc" fail). */
static int parse_double(const char *s, double *out) {
    if (!*s) return -1;
    for (const char *q = s; *q; q++)
        if (!strchr("0123456789+-.eE", *q)) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int in_range(const ex_flag *f, double v) {
    if (f->range & EX_LO) {
        if ((f->range & EX_LO_OPEN) ? !(v > f->lo) : !(v >= f->lo)) return 0;
    }
    if ((f->range & EX_HI) && !(v <= f->hi)) return 0;
    return 1;
}

/* "must be >= 1", "must be in (0, 10]" ... */
static void range_text(const ex_flag *f, char *buf, size_t len) {
    int lo = (f->range & EX_LO) != 0, hi = (f->range & EX_HI) != 0;
    int open = (f->range & EX_LO_OPEN) != 0;
    if (lo && hi)
        snprintf(buf, len, "in %c%.15g, %.15g]", open ? '(' : '[', f->lo, f->hi);
    else if (lo)
        snprintf(buf, len, "%s %.15g", open ? ">" : ">=", f->lo);
    else if (hi)
        snprintf(buf, len, "<= %.15g", f->hi);
    else
        snprintf(buf, len, "any value");
}

static int range_error(const char *prog, const ex_flag *f, const char *val) {
    char r[96];
    range_text(f, r, sizeof r);
    return ex_usage_error(prog, "--%s: %s is out of range (must be %s)", f->name, val, r);
}

static int set_value(const char *prog, ex_flag *f, const char *val) {
    switch (f->type) {
    case EX_INT: {
        long long v;
        if (parse_int(val, &v) != 0)
            return ex_usage_error(prog, "--%s: '%s' is not an integer", f->name, val);
        if (!in_range(f, (double)v) || v < -2147483647LL || v > 2147483647LL)
            return range_error(prog, f, val);
        *(int *)f->target = (int)v;
        return 0;
    }
    case EX_DOUBLE: {
        double v;
        if (parse_double(val, &v) != 0)
            return ex_usage_error(prog, "--%s: '%s' is not a number", f->name, val);
        if (!in_range(f, v)) return range_error(prog, f, val);
        *(double *)f->target = v;
        return 0;
    }
    case EX_STRING:
        if (!*val) return ex_usage_error(prog, "--%s: the value is empty", f->name);
        if (f->choices) {
            int ok = 0;
            for (const char *const *c = f->choices; *c; c++)
                if (strcmp(*c, val) == 0) ok = 1;
            if (!ok) {
                char all[256] = "";
                for (const char *const *c = f->choices; *c; c++) {
                    if (c != f->choices) strncat(all, ", ", sizeof all - strlen(all) - 1);
                    strncat(all, *c, sizeof all - strlen(all) - 1);
                }
                return ex_usage_error(prog, "--%s: '%s' is not one of %s", f->name, val, all);
            }
        }
        *(const char **)f->target = val;
        return 0;
    case EX_INTLIST: {
        ex_intlist l = {0};
        const char *p = val;
        for (;;) {
            char item[32];
            size_t k = strcspn(p, ",");
            if (k == 0 || k >= sizeof item)
                return ex_usage_error(prog, "--%s: '%s' is not a comma-separated list of integers",
                                      f->name, val);
            memcpy(item, p, k);
            item[k] = 0;
            long long v;
            if (parse_int(item, &v) != 0)
                return ex_usage_error(prog, "--%s: '%s' is not an integer", f->name, item);
            if (!in_range(f, (double)v) || v < -2147483647LL || v > 2147483647LL)
                return range_error(prog, f, item);
            if (l.n == EX_LIST_MAX)
                return ex_usage_error(prog, "--%s: at most %d entries", f->name, EX_LIST_MAX);
            l.v[l.n++] = (int)v;
            if (!p[k]) break;
            p += k + 1;
        }
        *(ex_intlist *)f->target = l;
        return 0;
    }
    case EX_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes"))
            *(int *)f->target = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no"))
            *(int *)f->target = 0;
        else
            return ex_usage_error(prog, "--%s: '%s' is not a yes/no value", f->name, val);
        return 0;
    }
    return ex_usage_error(prog, "--%s: bad flag table entry", f->name);
}

static void format_default(const ex_flag *f, char *buf, size_t len) {
    buf[0] = 0;
    switch (f->type) {
    case EX_INT: snprintf(buf, len, "%d", *(const int *)f->target); break;
    case EX_DOUBLE: snprintf(buf, len, "%g", *(const double *)f->target); break;
    case EX_STRING: {
        const char *s = *(const char *const *)f->target;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case EX_INTLIST: {
        const ex_intlist *l = f->target;
        size_t used = 0;
        for (int i = 0; i < l->n && used + 16 < len; i++)
            used += (size_t)snprintf(buf + used, len - used, i ? ",%d" : "%d", l->v[i]);
        break;
    }
    case EX_BOOL: break;
    }
}

/* Print text from column `indent` (the cursor is there already), wrapping at
 * spaces so that no line passes column `width`; '\1' is a space that does not
 * break. */
static void print_wrapped(const char *text, int indent, int width) {
    int col = indent;
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        size_t w = strcspn(p, " ");
        if (!w) break;
        if (col > indent && col + 1 + (int)w > width) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        for (size_t k = 0; k < w; k++) putchar(p[k] == '\1' ? ' ' : p[k]);
        col += (int)w;
        p += w;
    }
    putchar('\n');
}

static void print_help(const char *prog, const char *summary, const ex_flag *flags, int n,
                       char (*defaults)[128]) {
    printf("Usage: %s [OPTIONS]\n", prog);
    if (summary && *summary) printf("%s\n", summary);
    printf("\nOptions:\n");
    for (int i = 0; i < n; i++) {
        const ex_flag *f = &flags[i];
        char left[160], meta[128];
        if (f->metavar) {
            snprintf(meta, sizeof meta, " %s", f->metavar);
        } else if (f->type == EX_STRING && f->choices) {
            size_t used = 0;
            meta[0] = 0;
            for (const char *const *c = f->choices; *c && used + 2 < sizeof meta; c++)
                used += (size_t)snprintf(meta + used, sizeof meta - used, "%c%s",
                                         c == f->choices ? ' ' : '|', *c);
        } else {
            static const char *const names[] = {" N", " X", " STR", " N[,N...]", ""};
            snprintf(meta, sizeof meta, "%s", names[f->type]);
        }
        snprintf(left, sizeof left, "  --%s%s", f->name, meta);
        if (strlen(left) > 25) printf("%s\n%-26s", left, "");
        else printf("%-26s", left);
        char r[96] = "", text[1024];
        if (f->range && f->type != EX_STRING && f->type != EX_BOOL) range_text(f, r, sizeof r);
        for (char *c = r; *c; c++) /* keep "in [1, 100]" on one line */
            if (*c == ' ') *c = '\1';
        if (defaults[i][0] && r[0])
            snprintf(text, sizeof text, "%s (default\1%s; %s)", f->help ? f->help : "", defaults[i], r);
        else if (defaults[i][0])
            snprintf(text, sizeof text, "%s (default\1%s)", f->help ? f->help : "", defaults[i]);
        else if (r[0])
            snprintf(text, sizeof text, "%s (%s)", f->help ? f->help : "", r);
        else
            snprintf(text, sizeof text, "%s", f->help ? f->help : "");
        print_wrapped(text, 26, 79);
    }
    printf("%-26s%s\n", "  -h, --help", "show this help and exit");
    printf("\nExit status: 0 success, 1 runtime error, 2 usage error.\n"
           "The last line on stdout is 'result: key=value ...'.\n");
}

int ex_parse(int argc, char **argv, const char *prog, const char *summary, ex_flag *flags, int n) {
    g_prog = prog;
    char (*defaults)[128] = calloc((size_t)(n > 0 ? n : 1), sizeof *defaults);
    if (!defaults) return ex_runtime_error(prog, "out of memory");
    for (int i = 0; i < n; i++) {
        format_default(&flags[i], defaults[i], sizeof defaults[i]);
        flags[i].set = 0;
    }
    int rc = -1;
    for (int a = 1; a < argc && rc < 0; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            print_help(prog, summary, flags, n, defaults);
            rc = EX_OK;
            break;
        }
        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            rc = ex_usage_error(prog, "unexpected argument '%s'", arg);
            break;
        }
        char name[128];
        const char *eq = strchr(arg + 2, '=');
        size_t k = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
        if (k >= sizeof name) k = sizeof name - 1;
        memcpy(name, arg + 2, k);
        name[k] = 0;
        ex_flag *f = ex_flag_find(flags, n, name);
        if (!f) {
            rc = ex_usage_error(prog, "unknown flag '--%s'", name);
            break;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (f->type == EX_BOOL) {
            val = "1";
        } else if (a + 1 < argc) {
            val = argv[++a];
        } else {
            rc = ex_usage_error(prog, "--%s needs a value", f->name);
            break;
        }
        if (set_value(prog, f, val) != 0) {
            rc = EX_USAGE;
            break;
        }
        f->set = 1;
    }
    free(defaults);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

int ex_check_dir(const char *dir, char *msg, size_t len) {
    struct stat st;
    if (!dir || !*dir) {
        snprintf(msg, len, "no directory given");
        return -1;
    }
    if (stat(dir, &st) != 0) {
        snprintf(msg, len, "directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "'%s' is not a directory", dir);
        return -1;
    }
    return 0;
}

int ex_check_writable(const char *path, char *msg, size_t len) {
    struct stat st;
    if (!path || !*path) {
        snprintf(msg, len, "no file name given");
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "'%s' is a directory", path);
        return -1;
    }
    size_t n = strlen(path);
    char *probe = malloc(n + 7);
    if (!probe) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    memcpy(probe, path, n);
    memcpy(probe + n, ".probe", 7);
    FILE *fp = fopen(probe, "wb");
    if (!fp) {
        snprintf(msg, len, "cannot write '%s' (probe file '%s': %s)", path, probe, strerror(errno));
        free(probe);
        return -1;
    }
    fclose(fp);
    remove(probe);
    free(probe);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Time and progress                                                         */
/* ------------------------------------------------------------------------ */

double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ex_progress_begin(ex_progress *p, int epochs, int64_t batches) {
    memset(p, 0, sizeof *p);
    const char *e = getenv("TG_PROGRESS");
    p->tty = isatty(fileno(stderr)) && !(e && e[0] == '0');
    p->epochs = epochs;
    p->batches = batches > 0 ? batches : 1;
    p->t_start = ex_now();
}

void ex_progress_epoch_begin(ex_progress *p, int epoch) {
    p->epoch = epoch;
    p->t_epoch = ex_now();
    p->loss_sum = 0;
    p->loss_n = p->samples = 0;
}

static void fmt_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "--");
    else if (s < 60) snprintf(buf, len, "%.0fs", s);
    else if (s < 3600) snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, len, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

void ex_progress_batch(ex_progress *p, int64_t i, int64_t n_samples, double loss) {
    p->loss_sum += loss;
    p->loss_n++;
    p->samples += n_samples;
    if (!p->tty) return;
    double now = ex_now();
    if (now - p->t_draw < 0.1 && i + 1 < p->batches) return;
    p->t_draw = now;
    double frac = (double)(i + 1) / (double)p->batches;
    int width = 20, fill = (int)(frac * width + 0.5);
    char bar[32];
    for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    double el = now - p->t_epoch;
    double rate = el > 0 ? (double)p->samples / el : 0;
    /* ETA over the whole run, from the pace so far */
    double done = (double)(p->epoch - 1) * (double)p->batches + (double)(i + 1);
    double total = (double)p->epochs * (double)p->batches;
    double eta = done > 0 ? (now - p->t_start) * (total - done) / done : -1;
    char etas[32];
    fmt_duration(eta, etas, sizeof etas);
    fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld loss %.4f %.0f samples/s ETA %s\033[K", p->epoch,
            p->epochs, bar, (long long)(i + 1), (long long)p->batches, ex_progress_loss(p), rate, etas);
    fflush(stderr);
    p->drawn = 1;
}

double ex_progress_loss(const ex_progress *p) {
    return p->loss_n ? p->loss_sum / (double)p->loss_n : NAN;
}

void ex_progress_epoch_end(ex_progress *p, const char *fmt, ...) {
    if (p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        p->drawn = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Result line                                                               */
/* ------------------------------------------------------------------------ */

void ex_result_add(ex_result *r, const char *key, const char *fmt, ...) {
    if (r->len >= sizeof r->buf - 1) return;
    int k = snprintf(r->buf + r->len, sizeof r->buf - r->len, "%s%s=", r->len ? " " : "", key);
    if (k < 0) return;
    r->len += (size_t)k;
    if (r->len >= sizeof r->buf) {
        r->len = sizeof r->buf - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(r->buf + r->len, sizeof r->buf - r->len, fmt, ap);
    va_end(ap);
    if (k > 0) r->len += (size_t)k;
    if (r->len >= sizeof r->buf) r->len = sizeof r->buf - 1;
}

void ex_result_print(const ex_result *r) {
    printf("result: %.*s\n", (int)r->len, r->buf);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* SVG plot                                                                  */
/* ------------------------------------------------------------------------ */

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

/* ---- early stopping ---- */

int ex_early_stop_check(ex_early_stop *e, tg_ctx *ctx, int ep, double val_acc, int *stop) {
    double err = 1 - val_acc;
    *stop = err > e->last_err;
    e->last_err = err;
    if (!(err < e->best_err)) return 0;
    e->best_err = err;
    e->best_epoch = ep;
    int n = tg_param_count(ctx);
    if (!e->data) {
        e->data = calloc((size_t)n, sizeof *e->data);
        if (!e->data) return -1;
        e->n = n;
    }
    for (int i = 0; i < n && i < e->n; i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        size_t bytes = (size_t)p->numel * tg_dtype_size(p->dtype);
        if (!e->data[i] && !(e->data[i] = malloc(bytes ? bytes : 1))) return -1;
        memcpy(e->data[i], p->data, bytes);
    }
    return 0;
}

int ex_early_stop_restore(const ex_early_stop *e, tg_ctx *ctx, int epochs_run) {
    if (!e->best_epoch || e->best_epoch == epochs_run || !e->data) return 0;
    for (int i = 0; i < e->n; i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        if (p && e->data[i]) memcpy(p->data, e->data[i], (size_t)p->numel * tg_dtype_size(p->dtype));
    }
    return 1;
}

void ex_early_stop_free(ex_early_stop *e) {
    for (int i = 0; e->data && i < e->n; i++) free(e->data[i]);
    free(e->data);
    e->data = NULL;
    e->n = 0;
}
