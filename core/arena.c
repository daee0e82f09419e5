/* arena.c: the bump allocator behind every tape. Reset is O(1) and keeps the
 * chunks, so a training loop in steady state allocates nothing. */
#include "internal.h"

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK ((size_t)1 << 20)
#define CHUNK_HDR ((sizeof(tg__chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

static unsigned char *chunk_base(tg__chunk *c) {
    /* tg__malloc returns 16-byte aligned memory: align the base up. */
    uintptr_t p = (uintptr_t)c + CHUNK_HDR;
    return (unsigned char *)((p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
}

static tg__chunk *chunk_new(size_t need) {
    size_t size = need < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : need;
    if (size > SIZE_MAX - CHUNK_HDR - ARENA_ALIGN) return NULL;
    tg__chunk *c = tg__malloc(CHUNK_HDR + ARENA_ALIGN + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void *arena_alloc_slow(tg__arena *a, size_t bytes);

void *tg__arena_alloc(tg__arena *a, size_t bytes) {
    /* Fast path: a request that fits in the chunk being filled (every op
     * makes a few of these, so it is kept to a handful of instructions). */
    tg__chunk *c = a->cur;
    if (c && bytes - 1 < ARENA_MIN_CHUNK) {
        size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        if (c->size - c->used >= need) {
            void *p = chunk_base(c) + c->used;
            c->used += need;
            return p;
        }
    }
    return arena_alloc_slow(a, bytes);
}

static void *arena_alloc_slow(tg__arena *a, size_t bytes) {
    if (bytes > SIZE_MAX - ARENA_ALIGN) return NULL;
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) need = ARENA_ALIGN;
    if (!a->cur) {
        if (!a->head) {
            a->head = chunk_new(need);
            if (!a->head) return NULL;
            a->capacity += a->head->size;
        }
        a->cur = a->head;
        a->cur->used = 0;
    }
    while (a->cur->size - a->cur->used < need) {
        /* Move to the next kept chunk that fits, or append a new one. A chunk
         * too small for this request is skipped for the rest of the pass. */
        tg__chunk *n = a->cur->next;
        if (!n) {
            n = chunk_new(need);
            if (!n) return NULL;
            a->cur->next = n;
            a->capacity += n->size;
        }
        a->cur = n;
        a->cur->used = 0;
    }
    void *p = chunk_base(a->cur) + a->cur->used;
    a->cur->used += need;
    return p;
}

void tg__arena_reset(tg__arena *a) {
    a->cur = NULL; /* the next allocation restarts at head with used = 0 */
}

void tg__arena_free(tg__arena *a) {
    tg__chunk *c = a->head;
    while (c) {
        tg__chunk *n = c->next;
        tg__free(c);
        c = n;
    }
    a->head = a->cur = NULL;
    a->capacity = 0;
}
