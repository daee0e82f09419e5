/* flags.c: the flag parser every example shares (ex_parse, --help), and the
 * two error printers that give every program the same exit codes (see
 * common.h). */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The name the program was run as (basename of argv[0], set by ex_parse):
 * installed, mlp is "tapegrad-mlp", and the --help hint must name the
 * command the user can type. Empty until ex_parse saw argv[0]. */
static char invoked[256];

const char *ex_prog_name(const char *prog) { return invoked[0] ? invoked : prog; }

/* "PROG: message" on stderr, without the newline. */
static void vmessage(const char *prog, const char *fmt, va_list ap) {
    fprintf(stderr, "%s: ", ex_prog_name(prog));
    vfprintf(stderr, fmt, ap);
}

int ex_usage_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(prog, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", ex_prog_name(prog));
    return EX_USAGE;
}

int ex_runtime_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(prog, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EX_RUNTIME;
}

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
    if (argc > 0 && argv[0] && argv[0][0]) {
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        if (*base) snprintf(invoked, sizeof invoked, "%s", base);
    }
    prog = ex_prog_name(prog);
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
/* The flags many programs have, written once                               */
/* ------------------------------------------------------------------------ */

const char *const ex_optim_names[] = {"sgd",      "momentum", "nesterov", "adagrad", "rmsprop",
                                      "adadelta", "adam",     "adamw",    NULL};

ex_flag ex_flag_int(const char *name, int *target, const char *help, double lo, double hi) {
    return (ex_flag){.name = name, .type = EX_INT, .target = target, .help = help, .range = EX_LO | EX_HI,
                     .lo = lo, .hi = hi};
}

ex_flag ex_flag_min(const char *name, int *target, const char *help, double lo) {
    return (ex_flag){.name = name, .type = EX_INT, .target = target, .help = help, .range = EX_LO, .lo = lo};
}

ex_flag ex_flag_lr(double *target, const char *help, double hi) {
    return (ex_flag){.name = "lr", .type = EX_DOUBLE, .target = target, .help = help,
                     .range = EX_LO | EX_LO_OPEN | EX_HI, .lo = 0, .hi = hi};
}

ex_flag ex_flag_optim(const char **target, const char *help) {
    return (ex_flag){.name = "optim", .type = EX_STRING, .target = target, .choices = ex_optim_names, .help = help};
}

ex_flag ex_flag_file(const char *name, const char **target, const char *metavar, const char *help) {
    return (ex_flag){.name = name, .type = EX_STRING, .target = target, .metavar = metavar, .help = help};
}

ex_flag ex_flag_data(const char **target) {
    return ex_flag_file("data", target, "DIR", "MNIST-layout directory (files with or without .gz)");
}

ex_flag ex_flag_threads(int *target) {
    return ex_flag_int("threads", target, "worker threads; 0 = TG_THREADS or one per core", 0, 256);
}
