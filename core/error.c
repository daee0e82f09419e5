/* error.c: status strings and the per-context error message. */
#include "internal.h"

#include <stdio.h>

const char *tg_version(void) {
#define TG_STR2(x) #x
#define TG_STR(x) TG_STR2(x)
    return TG_STR(TG_VERSION_MAJOR) "." TG_STR(TG_VERSION_MINOR) "." TG_STR(TG_VERSION_PATCH);
}

const char *tg_strerror(tg_status s) {
    switch (s) {
#define TG_XX_CASE(name, value, desc) \
    case value: return desc;
        TG_STATUS_MAP(TG_XX_CASE)
#undef TG_XX_CASE
    default: return "unknown status code";
    }
}

tg_status tg_set_error(tg_ctx *ctx, tg_status s, const char *fmt, ...) {
    if (!ctx) return s;
    if (!fmt) { /* no message given: the status's own description */
        ctx->err_status = s;
        snprintf(ctx->err_msg, sizeof ctx->err_msg, "%s", tg_strerror(s));
        return s;
    }
    va_list ap;
    va_start(ap, fmt);
    ctx->err_status = s;
    vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
    va_end(ap);
    return s;
}

/* The library's own name for tg_set_error (internal.h): the same function
 * under a second symbol, not a second body, so the two cannot drift apart.
 * The alias attribute is GCC's and Clang's, the two compilers the build
 * supports on ELF; the version script (tapegrad.map) keeps tg__error out of
 * the .so's exports like every tg__ name. */
tg_status tg__error(tg_ctx *ctx, tg_status s, const char *fmt, ...) __attribute__((alias("tg_set_error")));

const char *tg_last_error(const tg_ctx *ctx) { return ctx ? ctx->err_msg : "no context"; }
tg_status tg_last_status(const tg_ctx *ctx) { return ctx ? ctx->err_status : TG_EINVAL; }
void tg_clear_error(tg_ctx *ctx) {
    if (!ctx) return;
    ctx->err_status = TG_OK;
    ctx->err_msg[0] = 0;
}

char *tg__shape_fmt(int rank, const int64_t *shape, char *buf, size_t len) {
    size_t o = 0;
    if (len == 0) return buf;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t len) {
    if (!buf || len == 0) return buf;
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    return tg__shape_fmt(t->rank, t->shape, buf, len);
}

const char *tg__sh(const tg_tensor *t) {
    /* Rotating buffers so one message can format several shapes. */
    static _Thread_local char bufs[8][96];
    static _Thread_local int k;
    char *b = bufs[k++ & 7];
    return tg_shape_str(t, b, sizeof bufs[0]);
}
