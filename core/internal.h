/*
 * internal.h: core/'s private declarations (tg__ names): allocation, arena,
 * the tape and context structs, errors, tensors, RNG, GEMM, the backward walk.
 * Visible to ops/ and graph/ (layers point down: core <- ops <- graph), never
 * the reverse: core/ is built with core/ as its only include directory.
 * Not installed. User code includes only tapegrad.h.
 */
#ifndef TG_INTERNAL_H
#define TG_INTERNAL_H

/* The library's own calls of op functions must not note call sites (the
 * user's call of the outer function is the one to report). */
#ifndef TG_NO_CALL_SITES
#define TG_NO_CALL_SITES
#endif
#include "tapegrad.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* TG_ASSERT guards internal invariants only, never user input. It stays on in
 * release builds (NDEBUG does not remove it). */
#define TG_ASSERT(cond)                                                         \
    do {                                                                        \
        if (!(cond)) tg__assert_fail(__FILE__, __LINE__, #cond);                \
    } while (0)
_Noreturn void tg__assert_fail(const char *file, int line, const char *expr);

/* ---- allocation (every library allocation goes through the hook) ---- */
void *tg__malloc(size_t size);
void *tg__calloc(size_t n, size_t size);
void tg__free(void *p);
char *tg__strdup(const char *s);

/* ---- arena: bump allocator over a list of reusable chunks ---- */
typedef struct tg__chunk {
    struct tg__chunk *next;
    size_t size;  /* usable bytes after the header */
    size_t used;
} tg__chunk;
typedef struct tg__arena {
    tg__chunk *head;  /* first chunk */
    tg__chunk *cur;   /* chunk being filled */
    size_t capacity;  /* sum of chunk sizes */
} tg__arena;
void *tg__arena_alloc(tg__arena *a, size_t bytes); /* 64-byte aligned; NULL on no memory */
void tg__arena_reset(tg__arena *a);               /* O(1): start filling from head again */
void tg__arena_free(tg__arena *a);

/* ---- tape ---- */
/* Every tensor header and node on a tape lives in a slot of one of the
 * tape's two header arenas, never in `arena` with the data: a slot only ever
 * holds a header this tape wrote (its ctx and tape fields always valid), so a
 * tensor kept past tg_tape_end can be read to find that it is stale without
 * reading data as a header. The arenas alternate by generation, so the
 * previous use's headers stay untouched for the whole of the next use. */
typedef struct tg__slot {
    tg_tensor t; /* the tensor (an op's output, a temp, a detached view) */
    tg_node n;   /* the node that made t, when an op made it */
} tg__slot;
struct tg_tape {
    tg_ctx *ctx;
    tg__arena arena;       /* data, gradients, input arrays, attributes, scratch */
    tg__arena hdr[2];      /* tg__slot blocks; hdr[gen & 1] is this use's */
    uint64_t gen;          /* this use: starts at 1, +1 on every tg_tape_end and tg_tape_reset */
    tg_node **nodes;       /* recorded nodes, in order (arena-backed, grown by doubling) */
    int64_t n_nodes, cap_nodes;
    uint32_t epoch;        /* backward pass counter: intermediate grads zeroed per pass */
    int active;            /* 1 from tg_tape_begin to tg_tape_end */
    tg_tape *prev_active;  /* the tape active before this one */
    tg_tape *next_free;    /* pool link when not in use */
};

/* ---- parameters ---- */
typedef struct tg__param_list {
    tg_tensor **items;
    int n, cap;
} tg__param_list;

/* ---- thread pool (core/pool.c) ---- */
typedef struct tg__pool tg__pool;
typedef void (*tg__task_fn)(void *arg, int64_t task);
/* NULL for threads <= 1 (no pool, no overhead), on no memory, or when no
 * thread could start. */
tg__pool *tg__pool_new(int threads);
void tg__pool_free(tg__pool *p);
/* Run fn(arg, t) for t in [0, n_tasks) on the caller and ctx's workers; returns
 * when all are done. Tasks must be fixed by the caller, independent of the
 * thread count, for results to be bitwise identical at any thread count. */
void tg__parallel_for(tg_ctx *ctx, int64_t n_tasks, tg__task_fn fn, void *arg);

/* ---- context ---- */
struct tg_ctx {
    tg_config cfg;
    int threads;
    tg_topology topo;
    /* RNG: Philox counter-based stream 0, counter advances per 32-bit draw */
    uint64_t rng_seed, rng_counter;
    int has_spare_normal;
    double spare_normal;
    /* error state */
    tg_status err_status;
    char err_msg[512];
    /* parameters */
    tg__param_list params;
    /* tapes */
    tg_tape *active;       /* innermost active tape */
    tg_tape *free_tapes;   /* pool of ended tapes with their chunks */
    int no_grad;           /* depth of no-grad scopes */
    tg__pool *pool;        /* NULL with one thread */
};

/* ---- errors ---- */
/* Set ctx's status to s and its message (overwriting, truncated to 511 bytes)
 * and return s; NULL ctx only returns s. Every failure calls it (or
 * tg_set_error, the same) once with its own message: see docs/design.md,
 * "Errors". */
tg_status tg__error(tg_ctx *ctx, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* "[2,3]" for a shape. */
char *tg__shape_fmt(int rank, const int64_t *shape, char *buf, size_t len);
/* "[2,3]", the shape of t ("(null)" for NULL), in one of 8 rotating per-thread
 * buffers, so one message can format up to 8 shapes. */
const char *tg__sh(const tg_tensor *t);

/* ---- tensors ---- */
/* 1 when t lives on a tape that has ended or been reset since t was made
 * (t->gen is not its tape's current use). Reads only t's header and its
 * tape, which stay mapped until tg_ctx_free (see tg__slot). */
static inline bool tg__stale(const tg_tensor *t) { return t->tape && t->gen != t->tape->gen; }
/* TG_OK for a live tensor (or NULL: the caller's own NULL handling applies);
 * TG_ESTATE with a message naming `who` for a stale one. */
tg_status tg__check_live(const tg_tensor *t, const char *who);
/* A slot for a tensor header (and its node) in tape's current header arena;
 * NULL on no memory (no message). */
tg__slot *tg__slot_new(tg_tape *tape);
/* A tensor (header and data, the data zeroed if zero) in tape's arena, as two
 * blocks; NULL with a TG_ENOMEM message. The shape is not checked: the
 * caller has (tg__check_shape). */
tg_tensor *tg__tensor_on_tape(tg_tape *tape, tg_dtype dt, int rank, const int64_t *shape, bool zero);
/* Product of shape[0..rank), 1 for rank 0; no overflow check (call
 * tg__check_shape on a user's shape first). */
int64_t tg__numel(int rank, const int64_t *shape);
/* Check a shape given by the user; sets an error naming `who` on failure. */
tg_status tg__check_shape(tg_ctx *ctx, const char *who, int rank, const int64_t *shape);

/* ---- op helpers ---- */
/* Normalize axis (negative from end) against rank; -1 when out of range. */
int tg__axis(int axis, int rank);

/* Dtype-dispatched scalar loads for generic code. */
static inline double tg__ld(const tg_tensor *t, int64_t i) {
    return t->dtype == TG_F32 ? (double)((const float *)t->data)[i] : ((const double *)t->data)[i];
}
static inline void tg__st(tg_tensor *t, int64_t i, double v) {
    if (t->dtype == TG_F32) ((float *)t->data)[i] = (float)v;
    else ((double *)t->data)[i] = v;
}

/* ---- random numbers (core/rng.c) ---- */
/* out[i] = tg_philox(seed, stream, k0 + i) for i in [0, n), bitwise; all four
 * words of each Philox block are used (eight blocks at a time). */
void tg__philox_fill(uint64_t seed, uint64_t stream, uint64_t k0, int64_t n, uint32_t *out);

/* ---- kernels shared between ops ---- */
/* C(M,N) = beta*C + A·B with optional transposes; row-major, leading dims.
 * transA: A is stored (K,M); transB: B is stored (N,K). beta 0 or 1. */
void tg__gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void tg__gemm_f64(int transA, int transB, int64_t M, int64_t N, int64_t K, const double *A,
                  int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc);
/* Release the calling thread's packing scratch (kept between GEMM calls so a
 * steady-state training step allocates nothing). Safe to call any time. */
void tg__gemm_free_scratch(void);
/* Allocate this thread's GEMM packing buffer now (pool workers do it at start). */
void tg__gemm_reserve_scratch(void);
/* The same product split into fixed tiles run on ctx's thread pool; bitwise
 * equal to the serial result's tiling at any thread count (see gemm.c). */
void tg__gemm_mt_f32(tg_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void tg__gemm_mt_f64(tg_ctx *ctx, int transA, int transB, int64_t M, int64_t N, int64_t K, const double *A,
                     int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

/* Call FN_f32(...) or FN_f64(...) by dtype. */
#define TG_DISPATCH(dt, FN, ...) ((dt) == TG_F32 ? FN##_f32(__VA_ARGS__) : FN##_f64(__VA_ARGS__))

/* ---- backward internals ---- */
/* The walk behind tg_backward and tg_backward_seeded: seed y's gradient with
 * dy (y->numel elements of y's dtype; NULL: ones), then run the backward
 * kernel of every node from y's down to node 0 that a gradient reached.
 * TG_ESTATE with a message when y was not recorded on tape or tape is not
 * active; a kernel's failure stops the walk with its own status. */
tg_status tg__run_backward(tg_tape *tape, tg_tensor *y, const void *dy);

#endif /* TG_INTERNAL_H */
