/*
 * json.h: a small strict JSON parser (RFC 8259) and a JSON string builder,
 * internal to tapegrad (checkpoint headers, graph/checkpoint.c). Not installed.
 *
 * The parser builds a flat array of nodes: node 0 is the root; containers
 * link their children through child/next. Strings are decoded (escapes,
 * surrogate pairs) into one buffer and NUL-terminated; "\u0000" is rejected
 * so that every string is a C string. Rejected: anything outside the RFC
 * grammar (trailing commas, leading zeros, single quotes, control characters
 * and invalid UTF-8 in strings, lone surrogates, trailing non-whitespace),
 * nesting deeper than TG__JSON_MAX_DEPTH and more than TG__JSON_MAX_NODES
 * values. The first error is described in err with its byte position.
 */
#ifndef TG_JSON_H
#define TG_JSON_H

#include "internal.h"

#define TG__JSON_MAX_NODES (1 << 21) /* values in one document */
#define TG__JSON_MAX_DEPTH 32

enum { TG__J_NULL, TG__J_BOOL, TG__J_NUM, TG__J_STR, TG__J_ARR, TG__J_OBJ };

typedef struct tg__jnode {
    uint8_t type;
    uint8_t is_uint;     /* TG__J_NUM: an integer >= 0 without fraction or exponent, fits uint64 */
    uint32_t pos;        /* header byte offset where the value starts */
    int32_t child;       /* TG__J_ARR/TG__J_OBJ: first element or member value, -1 if empty */
    int32_t next;        /* next sibling, -1 at the end */
    int32_t count;       /* TG__J_ARR/TG__J_OBJ: number of elements or members */
    uint32_t key;        /* member of an object: offset of its name in strs */
    uint32_t str;        /* TG__J_STR: offset of the decoded value in strs */
    uint64_t u;          /* TG__J_NUM with is_uint */
} tg__jnode;

typedef struct tg__json {
    const unsigned char *s;
    size_t n, i;
    tg__jnode *nodes;
    int32_t nn, cap;
    char *strs;          /* decoded strings, NUL-terminated; never longer than the input */
    size_t ns;
    int oom;
    char err[200];       /* first syntax error */
} tg__json;

/* Parses s[0..n) into p (which it initializes). 0 on success; -1 with p->oom
 * set (no memory) or p->err describing the first error. Free p with
 * tg__json_free either way. */
int tg__json_parse(tg__json *p, const unsigned char *s, size_t n);
void tg__json_free(tg__json *p);
/* The member name of node j (j a member of an object) / the value of a string node. */
const char *tg__json_key(const tg__json *p, int32_t j);
const char *tg__json_str(const tg__json *p, int32_t j);
/* The member called name of object obj, or -1. Linear in the object's size. */
int32_t tg__json_get(const tg__json *p, int32_t obj, const char *name);
/* The first key that appears twice in object obj, or NULL (*oom = 1 when
 * memory ran out). O(k log k). */
const char *tg__json_dup_key(const tg__json *p, int32_t obj, int *oom);

/* 1 if s is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int tg__utf8_valid(const char *s);

/* A growable NUL-terminated string on the library allocator. On allocation
 * failure oom is set and later appends do nothing. Free buf with tg__free. */
typedef struct tg__sbuf {
    char *buf;
    size_t len, cap;
    int oom;
} tg__sbuf;
void tg__sb_putn(tg__sbuf *b, const char *s, size_t n);
void tg__sb_puts(tg__sbuf *b, const char *s);
void tg__sb_u64(tg__sbuf *b, uint64_t v);
/* Appends s (valid UTF-8) as a JSON string literal, escaping '"', '\\' and
 * control characters. */
void tg__sb_json_str(tg__sbuf *b, const char *s);

#endif /* TG_JSON_H */
