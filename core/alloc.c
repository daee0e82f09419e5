/* alloc.c: the replaceable allocator hook and its counters. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>

static void *default_alloc(size_t size, void *user) {
    (void)user;
    return malloc(size);
}
static void default_release(void *p, void *user) {
    (void)user;
    free(p);
}

static tg_allocator g_alloc = {default_alloc, default_release, NULL};
static _Atomic uint64_t g_n_alloc, g_n_free, g_bytes;

/* Each block carries its size in a 64-byte header so that bytes_live can be
 * kept without asking the user's allocator, and data stays 64-byte aligned
 * when the hook returns 64-byte aligned memory (malloc gives 16). */
#define HDR 64

void tg_set_allocator(const tg_allocator *a) {
    if (a && a->alloc && a->release) g_alloc = *a;
    else g_alloc = (tg_allocator){default_alloc, default_release, NULL};
}

tg_alloc_stats tg_alloc_stats_get(void) {
    tg_alloc_stats s = {atomic_load(&g_n_alloc), atomic_load(&g_n_free), atomic_load(&g_bytes)};
    return s;
}

void *tg__malloc(size_t size) {
    if (size > SIZE_MAX - HDR) return NULL;
    unsigned char *p = g_alloc.alloc(size + HDR, g_alloc.user);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    atomic_fetch_add(&g_n_alloc, 1);
    atomic_fetch_add(&g_bytes, size);
    return p + HDR;
}

void *tg__calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = tg__malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void tg__free(void *ptr) {
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    atomic_fetch_add(&g_n_free, 1);
    atomic_fetch_sub(&g_bytes, size);
    g_alloc.release(p, g_alloc.user);
}

char *tg__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = tg__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

_Noreturn void tg__assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "tapegrad: internal invariant failed at %s:%d: %s\n", file, line, expr);
    abort();
}
