/* result.c: the last stdout line, "result: key=value ...", which scripts and
 * tests parse (see common.h). */
#include "common.h"

#include <stdarg.h>

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
