/* json.c: the strict JSON parser and string builder declared in json.h. */
#include "json.h"

#include <stdio.h>

/* ------------------------------------------------------------------------ */
/* UTF-8 and the string builder                                              */
/* ------------------------------------------------------------------------ */
/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int tg__utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}


void tg__sb_putn(tg__sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *nb = tg__malloc(cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        if (b->len) memcpy(nb, b->buf, b->len);
        tg__free(b->buf);
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}
void tg__sb_puts(tg__sbuf *b, const char *s) { tg__sb_putn(b, s, strlen(s)); }
void tg__sb_u64(tg__sbuf *b, uint64_t v) {
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    tg__sb_puts(b, t);
}
/* A JSON string literal; s must be valid UTF-8. */
void tg__sb_json_str(tg__sbuf *b, const char *s) {
    tg__sb_putn(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            tg__sb_putn(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            tg__sb_puts(b, e);
        } else tg__sb_putn(b, p, 1);
    }
    tg__sb_putn(b, "\"", 1);
}

/* ------------------------------------------------------------------------ */
/* The parser                                                                */
/* ------------------------------------------------------------------------ */

static int cmp_name_ptr(const void *a, const void *b) {
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

static void jfail(tg__json *p, const char *what) {
    if (p->err[0] || p->oom) return;
    char found[24];
    if (p->i >= p->n) snprintf(found, sizeof found, "the end of the input");
    else if (p->s[p->i] >= 0x20 && p->s[p->i] < 0x7f) snprintf(found, sizeof found, "'%c'", p->s[p->i]);
    else snprintf(found, sizeof found, "byte 0x%02x", p->s[p->i]);
    snprintf(p->err, sizeof p->err, "byte %zu: %s, found %s", p->i, what, found);
}
static int jbad(const tg__json *p) { return p->err[0] || p->oom; }

static void jws(tg__json *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int32_t jnew(tg__json *p, int type) {
    if (p->nn == p->cap) {
        if (p->cap >= TG__JSON_MAX_NODES) {
            jfail(p, "too many JSON values (the limit is 2097152)");
            return -1;
        }
        int32_t cap = p->cap ? p->cap * 2 : 256;
        tg__jnode *nb = tg__malloc((size_t)cap * sizeof *nb);
        if (!nb) {
            p->oom = 1;
            return -1;
        }
        if (p->nn) memcpy(nb, p->nodes, (size_t)p->nn * sizeof *nb);
        tg__free(p->nodes);
        p->nodes = nb;
        p->cap = cap;
    }
    tg__jnode *j = &p->nodes[p->nn];
    memset(j, 0, sizeof *j);
    j->type = (uint8_t)type;
    j->pos = (uint32_t)p->i;
    j->child = j->next = -1;
    return p->nn++;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int ju4(tg__json *p, unsigned *cp) { /* at the 'u' of \uXXXX */
    if (p->i + 5 > p->n) {
        p->i = p->n;
        jfail(p, "expected 4 hex digits after \\u");
        return -1;
    }
    unsigned v = 0;
    for (int k = 1; k <= 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) {
            p->i += (size_t)k;
            jfail(p, "expected 4 hex digits after \\u");
            return -1;
        }
        v = v * 16 + (unsigned)h;
    }
    p->i += 5;
    *cp = v;
    return 0;
}

static void jput(tg__json *p, unsigned char c) { p->strs[p->ns++] = (char)c; }

/* Parses a string at p->i (which is '"'); returns its offset in strs. */
static uint32_t jstring(tg__json *p) {
    uint32_t start = (uint32_t)p->ns;
    p->i++;
    for (;;) {
        if (p->i >= p->n) {
            jfail(p, "unterminated string");
            return 0;
        }
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) {
            jfail(p, "control character inside a string");
            return 0;
        }
        if (c == '\\') {
            p->i++;
            if (p->i >= p->n) {
                jfail(p, "unterminated escape");
                return 0;
            }
            unsigned char e = p->s[p->i];
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = e ? strchr(from, e) : NULL;
            if (hit) {
                jput(p, (unsigned char)to[hit - from]);
                p->i++;
                continue;
            }
            if (e != 'u') {
                jfail(p, "invalid escape in a string");
                return 0;
            }
            size_t at = p->i - 1;
            unsigned cp;
            if (ju4(p, &cp)) return 0;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->i = at;
                jfail(p, "lone low surrogate escape");
                return 0;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->i + 1 >= p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    jfail(p, "expected a \\u low surrogate after a high surrogate");
                    return 0;
                }
                p->i++;
                if (ju4(p, &lo)) return 0;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    p->i -= 6;
                    jfail(p, "expected a \\u low surrogate after a high surrogate");
                    return 0;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) {
                p->i = at;
                jfail(p, "\\u0000 is not allowed in names");
                return 0;
            }
            if (cp < 0x80) jput(p, (unsigned char)cp);
            else if (cp < 0x800) {
                jput(p, (unsigned char)(0xC0 | cp >> 6));
                jput(p, (unsigned char)(0x80 | (cp & 0x3F)));
            } else if (cp < 0x10000) {
                jput(p, (unsigned char)(0xE0 | cp >> 12));
                jput(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
                jput(p, (unsigned char)(0x80 | (cp & 0x3F)));
            } else {
                jput(p, (unsigned char)(0xF0 | cp >> 18));
                jput(p, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
                jput(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
                jput(p, (unsigned char)(0x80 | (cp & 0x3F)));
            }
            continue;
        }
        size_t k = utf8_seq(p->s + p->i, p->n - p->i);
        if (!k) {
            jfail(p, "invalid UTF-8 inside a string");
            return 0;
        }
        for (size_t q = 0; q < k; q++) jput(p, p->s[p->i + q]);
        p->i += k;
    }
    jput(p, 0);
    return start;
}

static int32_t jvalue(tg__json *p, int depth);

static void jnumber(tg__json *p, tg__jnode *j) {
    int neg = 0, integer = 1;
    if (p->s[p->i] == '-') {
        neg = 1;
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') {
        jfail(p, "expected a digit");
        return;
    }
    uint64_t v = 0;
    int overflow = 0;
    if (p->s[p->i] == '0') p->i++;
    else
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            unsigned d = p->s[p->i] - '0';
            if (v > (UINT64_MAX - d) / 10) overflow = 1;
            else v = v * 10 + d;
            p->i++;
        }
    if (p->i < p->n && p->s[p->i] == '.') {
        integer = 0;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') {
            jfail(p, "expected a digit after '.'");
            return;
        }
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        integer = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') {
            jfail(p, "expected a digit in the exponent");
            return;
        }
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    j->is_uint = (uint8_t)(!neg && integer && !overflow);
    j->u = j->is_uint ? v : 0;
}

static int32_t jcontainer(tg__json *p, int type, int depth) {
    int32_t me = jnew(p, type);
    if (me < 0) return -1;
    unsigned char close = type == TG__J_OBJ ? '}' : ']';
    p->i++;
    jws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return me;
    }
    int32_t last = -1;
    for (;;) {
        uint32_t key = 0;
        if (type == TG__J_OBJ) {
            if (p->i >= p->n || p->s[p->i] != '"') {
                jfail(p, "expected a string (an object key)");
                return -1;
            }
            key = jstring(p);
            if (jbad(p)) return -1;
            jws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                jfail(p, "expected ':' after an object key");
                return -1;
            }
            p->i++;
        }
        int32_t v = jvalue(p, depth + 1);
        if (v < 0) return -1;
        p->nodes[v].key = key;
        if (last < 0) p->nodes[me].child = v;
        else p->nodes[last].next = v;
        last = v;
        p->nodes[me].count++;
        jws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            jws(p);
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return me;
        }
        jfail(p, type == TG__J_OBJ ? "expected ',' or '}' after an object member"
                               : "expected ',' or ']' after an array element");
        return -1;
    }
}

static int32_t jvalue(tg__json *p, int depth) {
    jws(p);
    if (depth > TG__JSON_MAX_DEPTH) {
        jfail(p, "nesting deeper than 32 levels");
        return -1;
    }
    if (p->i >= p->n) {
        jfail(p, "expected a value");
        return -1;
    }
    unsigned char c = p->s[p->i];
    if (c == '{') return jcontainer(p, TG__J_OBJ, depth);
    if (c == '[') return jcontainer(p, TG__J_ARR, depth);
    if (c == '"') {
        int32_t j = jnew(p, TG__J_STR);
        if (j < 0) return -1;
        uint32_t s = jstring(p);
        if (jbad(p)) return -1;
        p->nodes[j].str = s;
        return j;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int32_t j = jnew(p, TG__J_NUM);
        if (j < 0) return -1;
        jnumber(p, &p->nodes[j]);
        return jbad(p) ? -1 : j;
    }
    static const struct {
        const char *word;
        int type;
    } lits[] = {{"true", TG__J_BOOL}, {"false", TG__J_BOOL}, {"null", TG__J_NULL}};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t len = strlen(lits[k].word);
        if (p->n - p->i >= len && memcmp(p->s + p->i, lits[k].word, len) == 0) {
            int32_t j = jnew(p, lits[k].type);
            if (j < 0) return -1;
            p->i += len;
            return j;
        }
    }
    jfail(p, "expected a value");
    return -1;
}

/* Parses the whole header; the root is node 0. Returns 0 or -1 (p->err or p->oom). */
int tg__json_parse(tg__json *p, const unsigned char *s, size_t n) {
    memset(p, 0, sizeof *p);
    p->s = s;
    p->n = n;
    if (n > UINT32_MAX) { /* node positions are 32-bit */
        snprintf(p->err, sizeof p->err, "byte 0: a document of %zu bytes is too large", n);
        return -1;
    }
    p->strs = tg__malloc(n + 1);
    if (!p->strs) {
        p->oom = 1;
        return -1;
    }
    if (jvalue(p, 0) < 0) return -1;
    jws(p);
    if (p->i != p->n) {
        jfail(p, "expected the end of the JSON (only spaces may pad it)");
        return -1;
    }
    return 0;
}

void tg__json_free(tg__json *p) {
    tg__free(p->nodes);
    tg__free(p->strs);
}

const char *tg__json_key(const tg__json *p, int32_t j) { return p->strs + p->nodes[j].key; }
const char *tg__json_str(const tg__json *p, int32_t j) { return p->strs + p->nodes[j].str; }

/* Member `name` of object j, or -1. */
int32_t tg__json_get(const tg__json *p, int32_t obj, const char *name) {
    for (int32_t c = p->nodes[obj].child; c >= 0; c = p->nodes[c].next)
        if (strcmp(tg__json_key(p, c), name) == 0) return c;
    return -1;
}

/* The first key that appears twice in object obj, or NULL. */
const char *tg__json_dup_key(const tg__json *p, int32_t obj, int *oom) {
    int32_t n = p->nodes[obj].count;
    if (n < 2) return NULL;
    const char **keys = tg__malloc((size_t)n * sizeof *keys);
    const char ***ptrs = tg__malloc((size_t)n * sizeof *ptrs);
    const char *dup = NULL;
    if (!keys || !ptrs) {
        *oom = 1;
    } else {
        int32_t k = 0;
        for (int32_t c = p->nodes[obj].child; c >= 0; c = p->nodes[c].next, k++) {
            keys[k] = tg__json_key(p, c);
            ptrs[k] = &keys[k];
        }
        qsort(ptrs, (size_t)n, sizeof *ptrs, cmp_name_ptr);
        for (int32_t i = 1; i < n && !dup; i++)
            if (strcmp(*ptrs[i], *ptrs[i - 1]) == 0) dup = *ptrs[i];
    }
    tg__free(keys);
    tg__free(ptrs);
    return dup;
}
