/* table.c: the user's own data: float arrays or a CSV file as a table of
 * samples (n rows of d features, optional integer class labels), and its
 * batches.
 *
 * Everything is validated before it is kept: every value finite, every row
 * of a CSV file the same width, every label a non-negative integer below the
 * class count. A message names the file, the line and the column (or the
 * array index) at fault, so a user's data problem reads as one.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TABLE_MAX_VALUES ((int64_t)1 << 34) /* 64 GiB of f32: far beyond a CSV anyone trains from */

void tg_table_free(tg_table *t) {
    if (!t) return;
    tg__free(t->x);
    tg__free(t->labels);
    memset(t, 0, sizeof *t);
}

static size_t dt_size(tg_dtype dt) { return dt == TG_F64 ? sizeof(double) : sizeof(float); }

/* labels in [0, classes); classes 0: the largest + 1. */
static tg_status check_labels(tg_ctx *ctx, const char *what, const int32_t *labels, int64_t n, int *classes) {
    int32_t top = -1;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || (*classes > 0 && labels[i] >= *classes))
            return tg__error(ctx, TG_EINVAL, "%s: label %lld is %d, outside [0,%d)", what, (long long)i,
                             (int)labels[i], *classes > 0 ? *classes : INT32_MAX);
        if (labels[i] > top) top = labels[i];
    }
    if (*classes <= 0) *classes = top + 1;
    return TG_OK;
}

tg_status tg_table_from_arrays(tg_ctx *ctx, tg_dtype dtype, const void *x, int64_t n, int64_t d,
                               const int32_t *labels, int classes, tg_table *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return TG_EINVAL;
    if (!out || !x) return tg__error(ctx, TG_EINVAL, "table_from_arrays: %s is NULL", !out ? "out" : "x");
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "table_from_arrays: dtype %d is neither TG_F32 nor TG_F64", (int)dtype);
    if (n < 1 || d < 1 || n > TABLE_MAX_VALUES / d)
        return tg__error(ctx, TG_ESHAPE, "table_from_arrays: %lld rows of %lld values (want n >= 1, d >= 1, n*d <= 2^34)",
                         (long long)n, (long long)d);
    if (classes < 0) return tg__error(ctx, TG_EINVAL, "table_from_arrays: classes is %d, want >= 0", classes);
    for (int64_t i = 0; i < n * d; i++) {
        double v = dtype == TG_F32 ? (double)((const float *)x)[i] : ((const double *)x)[i];
        if (!isfinite(v))
            return tg__error(ctx, TG_EINVAL, "table_from_arrays: x[%lld][%lld] is %g, not a finite number",
                             (long long)(i / d), (long long)(i % d), v);
    }
    tg_table t = {.n = n, .d = d, .dtype = dtype};
    if (labels) {
        t.classes = classes;
        tg_status st = check_labels(ctx, "table_from_arrays", labels, n, &t.classes);
        if (st != TG_OK) return st;
    }
    t.x = tg__malloc((size_t)(n * d) * dt_size(dtype));
    t.labels = labels ? tg__malloc((size_t)n * sizeof *t.labels) : NULL;
    if (!t.x || (labels && !t.labels)) {
        tg_table_free(&t);
        return tg__error(ctx, TG_ENOMEM, "table_from_arrays: out of memory for %lld values", (long long)(n * d));
    }
    memcpy(t.x, x, (size_t)(n * d) * dt_size(dtype));
    if (labels) memcpy(t.labels, labels, (size_t)n * sizeof *labels);
    *out = t;
    return TG_OK;
}

/* ---- CSV ---- */

/* A growing array of doubles (the values) and of int32 (the labels). */
typedef struct grow {
    double *v;
    int32_t *lab;
    int64_t n, cap, nlab, labcap;
} grow;

/* Double *p's capacity *cap (elements of elem bytes; 1024 to start) through
 * the library's allocator, so the hook and its failure injection see it. */
static int grow_buf(void **p, int64_t *cap, size_t elem) {
    int64_t c = *cap ? 2 * *cap : 1024;
    void *q = tg__malloc((size_t)c * elem);
    if (!q) return -1;
    if (*p) memcpy(q, *p, (size_t)*cap * elem);
    tg__free(*p);
    *p = q, *cap = c;
    return 0;
}

static int push_v(grow *g, double v) {
    if (g->n == g->cap && grow_buf((void **)&g->v, &g->cap, sizeof *g->v) != 0) return -1;
    g->v[g->n++] = v;
    return 0;
}

static int push_lab(grow *g, int32_t v) {
    if (g->nlab == g->labcap && grow_buf((void **)&g->lab, &g->labcap, sizeof *g->lab) != 0) return -1;
    g->lab[g->nlab++] = v;
    return 0;
}

/* Splits line (no newline) at commas in place; fields trimmed of spaces.
 * Returns the field count (at most max). */
static int split(char *line, char **f, int max, int *more) {
    int k = 0;
    *more = 0;
    for (char *p = line;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *s = p;
        while (*p && *p != ',') p++;
        char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        int last = *p == '\0';
        *e = '\0';
        if (k == max) {
            *more = 1;
            return k;
        }
        f[k++] = s;
        if (last) return k;
        p++;
    }
}

static int parse_num(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && errno != ERANGE && isfinite(*v) ? 0 : -1;
}

/* Opens path for reading without blocking on a FIFO, and only a regular file. */
static FILE *open_regular(tg_ctx *ctx, const char *path, tg_status *st) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *st = tg__error(ctx, TG_EIO, "csv: %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        *st = tg__error(ctx, TG_EIO, "csv: %s: not a regular file", path);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        *st = tg__error(ctx, TG_ENOMEM, "csv: %s: out of memory", path);
    }
    return f;
}

#define CSV_MAX_COLS 100000

tg_status tg_table_read_csv(tg_ctx *ctx, const char *path, tg_dtype dtype, int label_col, tg_table *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return TG_EINVAL;
    if (!out || !path) return tg__error(ctx, TG_EINVAL, "table_read_csv: %s is NULL", !out ? "out" : "path");
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "table_read_csv: dtype %d is neither TG_F32 nor TG_F64", (int)dtype);
    if (label_col < -1 || label_col >= CSV_MAX_COLS)
        return tg__error(ctx, TG_EINVAL, "table_read_csv: label_col is %d, want -1 (none) or a column index",
                         label_col);
    tg_status st = TG_OK;
    FILE *f = open_regular(ctx, path, &st);
    if (!f) return st;
    char **fields = tg__malloc(CSV_MAX_COLS * sizeof *fields);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    grow g = {0};
    int64_t lineno = 0, rows = 0;
    int width = -1; /* fields per row, from the first data row */
    if (!fields) st = tg__error(ctx, TG_ENOMEM, "csv: %s: out of memory", path);
    while (st == TG_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (strspn(line, " \t") == (size_t)len) continue; /* blank */
        int more;
        int k = split(line, fields, CSV_MAX_COLS, &more);
        if (more) {
            st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: more than %d columns", path, (long long)lineno,
                           CSV_MAX_COLS);
            break;
        }
        double v;
        int any_number = 0;
        for (int j = 0; j < k && !any_number; j++) any_number = parse_num(fields[j], &v) == 0;
        if (!any_number && rows == 0 && width < 0) { /* a header line: names, no numbers */
            width = k;
            continue;
        }
        if (width < 0) width = k;
        if (k != width) {
            st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: %d columns, the %s has %d", path, (long long)lineno, k,
                           rows ? "first row" : "header", width);
            break;
        }
        if (label_col >= width) {
            st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: label column %d, but rows have %d columns (0-based)",
                           path, (long long)lineno, label_col, width);
            break;
        }
        if (width - (label_col >= 0) < 1) {
            st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: no feature column besides the label", path,
                           (long long)lineno);
            break;
        }
        for (int j = 0; j < k && st == TG_OK; j++) {
            if (parse_num(fields[j], &v) != 0) {
                st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: column %d: '%.40s' is not a finite number", path,
                               (long long)lineno, j + 1, fields[j]);
            } else if (j == label_col) {
                if (v < 0 || v > INT32_MAX || v != floor(v))
                    st = tg__error(ctx, TG_EFORMAT,
                                   "csv: %s:%lld: column %d: label '%.40s' is not a class number (0, 1, 2, ...)",
                                   path, (long long)lineno, j + 1, fields[j]);
                else if (push_lab(&g, (int32_t)v) != 0)
                    st = tg__error(ctx, TG_ENOMEM, "csv: %s: out of memory at line %lld", path, (long long)lineno);
            } else if (g.n >= TABLE_MAX_VALUES) {
                st = tg__error(ctx, TG_EFORMAT, "csv: %s:%lld: more than 2^34 values", path, (long long)lineno);
            } else if (push_v(&g, v) != 0) {
                st = tg__error(ctx, TG_ENOMEM, "csv: %s: out of memory at line %lld", path, (long long)lineno);
            }
        }
        rows++;
    }
    if (st == TG_OK && ferror(f)) st = tg__error(ctx, TG_EIO, "csv: %s: read error: %s", path, strerror(errno));
    if (st == TG_OK && rows == 0) st = tg__error(ctx, TG_EFORMAT, "csv: %s: no data rows", path);
    if (st == TG_OK) {
        int64_t d = width - (label_col >= 0);
        tg_table t = {.n = rows, .d = d, .dtype = dtype};
        t.x = tg__malloc((size_t)(rows * d) * dt_size(dtype));
        t.labels = label_col >= 0 ? tg__malloc((size_t)rows * sizeof *t.labels) : NULL;
        if (!t.x || (label_col >= 0 && !t.labels)) {
            tg_table_free(&t);
            st = tg__error(ctx, TG_ENOMEM, "csv: %s: out of memory for %lld values", path, (long long)(rows * d));
        } else {
            for (int64_t i = 0; i < rows * d; i++) {
                if (dtype == TG_F32) ((float *)t.x)[i] = (float)g.v[i];
                else ((double *)t.x)[i] = g.v[i];
            }
            if (t.labels) {
                memcpy(t.labels, g.lab, (size_t)rows * sizeof *t.labels);
                t.classes = 0;
                check_labels(ctx, "csv", t.labels, rows, &t.classes);
            }
            *out = t;
        }
    }
    free(line);
    tg__free(fields);
    tg__free(g.v);
    tg__free(g.lab);
    fclose(f);
    return st;
}

tg_status tg_table_batch(const tg_table *t, const int64_t *idx, int64_t n, tg_tensor *x, int32_t *labels) {
    if (!x) return TG_EINVAL;
    tg_ctx *ctx = x->ctx;
    if (!t || !t->x) return tg__error(ctx, TG_EINVAL, "table_batch: the table is NULL or empty");
    if (n < 0 || x->rank != 2 || x->shape[0] != n || x->shape[1] != t->d)
        return tg__error(ctx, TG_ESHAPE, "table_batch: x is %s, expected [%lld,%lld]", tg__sh(x), (long long)n,
                         (long long)t->d);
    if (x->dtype != TG_F32 && x->dtype != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "table_batch: x has unknown dtype %d", (int)x->dtype);
    if (labels && !t->labels) return tg__error(ctx, TG_EINVAL, "table_batch: labels asked of a table without labels");
    for (int64_t b = 0; b < n; b++) {
        int64_t k = idx ? idx[b] : b;
        if (k < 0 || k >= t->n)
            return tg__error(ctx, TG_EINVAL, "table_batch: idx[%lld] = %lld is outside [0,%lld)", (long long)b,
                             (long long)k, (long long)t->n);
    }
    for (int64_t b = 0; b < n; b++) {
        int64_t k = idx ? idx[b] : b;
        for (int64_t j = 0; j < t->d; j++) {
            double v = t->dtype == TG_F32 ? (double)((const float *)t->x)[k * t->d + j]
                                          : ((const double *)t->x)[k * t->d + j];
            if (x->dtype == TG_F32) ((float *)x->data)[b * t->d + j] = (float)v;
            else ((double *)x->data)[b * t->d + j] = v;
        }
        if (labels) labels[b] = t->labels[k];
    }
    return TG_OK;
}
