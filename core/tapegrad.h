/*
 * tapegrad.h: the one public header of tapegrad, a reverse-mode automatic
 * differentiation engine in C11.
 *
 * Model: every op runs its forward kernel at once and, when some input
 * requires a gradient, records a node on the active tape. tg_backward() walks
 * the tape once in reverse and calls each node's backward kernel, which
 * accumulates (+=) into the gradients of its inputs.
 *
 * Ownership, in one rule: a tensor made by an op, by tg_tensor_temp() or by
 * tg_scalar() lives in the active tape's arena and dies when that tape ends
 * (or is reset). A pointer kept past that is refused wherever it enters the
 * library: TG_ESTATE, with a message that the tape ended, returned as the
 * function's type allows (NULL, NaN, -1, or no write with the status in the
 * context); see docs/design.md, "Stale tensors". Parameters belong to the context and die with tg_ctx_free(). Tensors from
 * tg_tensor_new() belong to the caller, who frees them with tg_tensor_free().
 *
 * Errors: an op that fails returns NULL and leaves its own status and
 * message in the context (tg_ctx_last_status, tg_ctx_last_error); success
 * leaves them as they were, like errno. An op given a NULL input returns NULL
 * and keeps the first message, so user code may check once at the end of a
 * chain. Functions that do not return tensors return tg_status: 0 or a
 * negative TG_E* code.
 *
 * NULL arguments: no function crashes on a NULL pointer argument. A function
 * returning a pointer returns NULL, one returning tg_status returns TG_EINVAL
 * (with a message when a context is reachable), a getter returns a neutral
 * value (0, -1 or NaN, as its comment says) and a void function does nothing
 * (or leaves TG_EINVAL in the tensor's context). So
 * tg_tensor_set_f64(tg_tensor_temp(...), xs) with a failed temporary is a
 * no-op, and the temporary's error stays in ctx. test/make_null_test.py
 * calls every function below with each pointer argument NULL in turn.
 *
 * Names: a getter is tg_<thing>_<property>(thing) (tg_ctx_threads,
 * tg_tensor_dim, tg_tape_nodes); an array argument comes before its count
 * (tg_concat(xs, n, axis)), except a count that describes the structure of
 * what follows: a shape is (rank, shape) as in tg_tensor, a reduction's axes
 * (n_axes, axes). docs/design.md lists the rule and the names it replaced;
 * those are kept, marked deprecated, so no caller has to change.
 *
 * Dimension letters used in comments: B batch, N/M/K matrix sizes, C classes
 * or channels, T time.
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

/** Compile-time version of this header, MAJOR.MINOR.PATCH: the same numbers
 *  as meson's project() version and tapegrad.pc (test/test_install.sh checks
 *  that all three agree). */
#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0
/** Run-time version of the linked library, "MAJOR.MINOR.PATCH"; differs from
 *  the TG_VERSION_* a program was compiled with when it runs against another
 *  build of the shared library. Static storage; never NULL; do not free. */
const char *tg_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes (generated from one X-macro list)                            */
/* ------------------------------------------------------------------------ */

/** XX(name, value, description): every status code the library returns. */
#define TG_STATUS_MAP(XX)                                                     \
    XX(OK, 0, "success")                                                      \
    XX(EINVAL, -1, "invalid argument")                                        \
    XX(ENOMEM, -2, "out of memory")                                           \
    XX(ESHAPE, -3, "shape mismatch")                                          \
    XX(EDTYPE, -4, "dtype mismatch")                                          \
    XX(EIO, -5, "I/O error")                                                  \
    XX(EFORMAT, -6, "malformed file")                                         \
    XX(ECHECKSUM, -7, "checksum mismatch")                                    \
    XX(ENOGRAD, -8, "no gradient defined")                                    \
    XX(ENUMERIC, -9, "non-finite value")                                      \
    XX(ESTATE, -10, "invalid state")                                          \
    XX(ECHECK, -11, "gradient check failed")

/** 0 on success, a negative TG_E* code on failure. */
typedef int tg_status;
#define TG_XX_ENUM(name, value, desc) TG_##name = value,
enum { TG_STATUS_MAP(TG_XX_ENUM) TG_STATUS_END_ = 1 };
#undef TG_XX_ENUM

/** A one-line description of a status code. Static storage; never NULL. */
const char *tg_strerror(tg_status s);

/* ------------------------------------------------------------------------ */
/* Memory: a replaceable allocator hook                                      */
/* ------------------------------------------------------------------------ */

/** Every allocation in the library goes through these. A NULL return is an
 *  allocation failure, reported as TG_ENOMEM. */
typedef struct tg_allocator {
    void *(*alloc)(size_t size, void *user);  /* like malloc, 64-byte aligned not required */
    void (*release)(void *ptr, void *user);   /* like free; ptr may be NULL */
    void *user;
} tg_allocator;

/** Install a process-wide allocator (NULL restores malloc/free). Call it
 *  before any context exists. */
void tg_set_allocator(const tg_allocator *a);

/** Counters of the library's allocations since process start. */
typedef struct tg_alloc_stats {
    uint64_t n_alloc;      /* successful allocations */
    uint64_t n_free;       /* releases of non-NULL pointers */
    uint64_t bytes_live;   /* bytes currently held */
} tg_alloc_stats;
/** A snapshot of the allocation counters. */
tg_alloc_stats tg_alloc_stats_get(void);

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct tg_ctx tg_ctx;       /* opaque: parameters, RNG, error state, tapes, thread pool */
typedef struct tg_tape tg_tape;     /* opaque: recorded nodes and the arena of their tensors */
typedef struct tg_node tg_node;     /* one recorded op application (defined under "Ops") */
typedef struct tg_op_def tg_op_def; /* an op: kernels and check spec (defined under "Ops") */

/** Configuration of a context. Start from tg_config_default(). */
typedef struct tg_config {
    int threads;        /* worker threads; 0 = TG_THREADS env or one per physical core */
    uint64_t seed;      /* seed of the counter-based RNG */
    int anomaly;        /* 1: check every op output, and the gradients entering and leaving each backward step, for NaN/Inf */
} tg_config;

/** threads 0, seed 42, anomaly from TG_ANOMALY. */
tg_config tg_config_default(void);

/** A new context. NULL cfg means tg_config_default(). Returns NULL only when
 *  memory runs out. The caller frees it with tg_ctx_free().
 *  Threads: a context, and everything made from it (tensors, tapes,
 *  optimizers), belongs to one thread at a time. Two contexts may be used
 *  from two threads at once: they share no mutable state (the error
 *  message, the RNG, the tapes and the thread pool are per context; the
 *  call-site stack and GEMM scratch are per thread; the allocation counters
 *  are atomic), and each gives the results it gives alone, bit for bit
 *  (test/test_user_data.c). tg_set_allocator is the exception: call it
 *  before any context exists. */
tg_ctx *tg_ctx_new(const tg_config *cfg);
/** Frees the context, its parameters, tapes and pool. NULL is a no-op. */
void tg_ctx_free(tg_ctx *ctx);
/** Threads the context will use (>= 1). */
int tg_ctx_threads(const tg_ctx *ctx);
/** Physical cores and cache sizes read from the hwloc topology (bytes; 0 if
 *  unknown). NULL ctx: every field 0. */
typedef struct tg_topology {
    int cores;
    size_t l1d, l2, l3;
} tg_topology;
tg_topology tg_ctx_topology(const tg_ctx *ctx);

/** The message of the last failure, "" if none: every failure writes its
 *  own (an op whose kernel returns an error without one gets "<op>: invalid
 *  input" or "<op>: forward failed"), and a success changes nothing, so after
 *  a NULL or an error status it describes that failure. Owned by ctx; valid
 *  until the next failure or tg_clear_error(). NULL ctx: "no context". */
const char *tg_ctx_last_error(const tg_ctx *ctx);
/** The status of the last failure, TG_OK if none since tg_ctx_new or
 *  tg_clear_error (same rules as tg_ctx_last_error). NULL ctx: TG_EINVAL. */
tg_status tg_ctx_last_status(const tg_ctx *ctx);
/** Deprecated names of tg_ctx_last_error and tg_ctx_last_status (the getter
 *  rule, docs/design.md); the same functions. */
const char *tg_last_error(const tg_ctx *ctx);
tg_status tg_last_status(const tg_ctx *ctx);
/** Forget the last error. NULL is a no-op. */
void tg_clear_error(tg_ctx *ctx);
/** Set ctx's error to status s with a printf-style message (overwriting the
 *  previous one, truncated to 511 bytes) and return s, so a user op's infer
 *  can `return tg_set_error(n->ctx, TG_ESHAPE, "my_op: ... %s", ...)`. NULL
 *  ctx: returns s and stores nothing; NULL fmt: the message is
 *  tg_strerror(s). */
tg_status tg_set_error(tg_ctx *ctx, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------------------ */
/* Random numbers: Philox4x32-10, counter based                              */
/* ------------------------------------------------------------------------ */

/** The k-th 32-bit draw of stream `stream` under `seed`: a pure function, so
 *  the same seed gives the same numbers on every machine and thread count. */
uint32_t tg_philox(uint64_t seed, uint64_t stream, uint64_t k);
/** Next uniform double in [0, 1) from the context's RNG (advances it).
 *  NULL ctx: NaN. */
double tg_rng_uniform(tg_ctx *ctx);
/** Next standard normal draw (Box-Muller) from the context's RNG. NULL ctx:
 *  NaN. */
double tg_rng_normal(tg_ctx *ctx);
/** Next 64-bit draw from the context's RNG. NULL ctx: 0. */
uint64_t tg_rng_u64(tg_ctx *ctx);
/** Reseed the context's RNG; the draw counter restarts at 0. NULL ctx:
 *  no-op. */
void tg_rng_seed(tg_ctx *ctx, uint64_t seed);
/** Fisher-Yates shuffle of perm[0..n) with the context's RNG. NULL ctx or
 *  perm: no-op (perm and the RNG untouched). */
void tg_shuffle(tg_ctx *ctx, int64_t *perm, int64_t n);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

/** Element types: IEEE single (float) and double. Every op accepts both; the
 *  inputs of one op must share a dtype (TG_EDTYPE otherwise). */
typedef enum tg_dtype { TG_F32 = 0, TG_F64 = 1 } tg_dtype;
#define TG_MAX_RANK 8 /* most dimensions a tensor can have */

/** Tensor flags. */
enum {
    TG_REQUIRES_GRAD = 1u << 0, /* gradients flow into this tensor */
    TG_PARAM = 1u << 1,         /* a named parameter owned by the context */
    TG_PERSISTENT = 1u << 2,    /* heap-owned (tg_tensor_new or parameter) */
    TG_NO_DECAY = 1u << 3,      /* optimizers skip weight decay (biases) */
};

/** An n-d array, row-major and contiguous. The struct is public so that user
 *  op kernels can read data and shape directly. Treat fields as read-only
 *  except `data` contents (and `grad` contents inside backward kernels). */
typedef struct tg_tensor {
    tg_dtype dtype;
    int rank;                      /* 0..TG_MAX_RANK */
    int64_t shape[TG_MAX_RANK];    /* shape[0..rank) */
    int64_t numel;                 /* product of shape; 1 for rank 0 */
    void *data;                    /* numel elements of dtype */
    void *grad;                    /* same layout, or NULL until needed */
    unsigned flags;                /* TG_REQUIRES_GRAD, TG_PARAM, ... */
    uint32_t grad_epoch;           /* internal: backward pass that last zeroed grad */
    uint64_t gen;                  /* internal: the use of `tape` it was made in (tape tensors) */
    tg_node *node;                 /* producing node, NULL for leaves */
    tg_ctx *ctx;
    tg_tape *tape;                 /* owning tape, NULL when persistent */
    const char *name;              /* parameter name, or NULL */
} tg_tensor;

/** Size in bytes of one element of dtype. */
size_t tg_dtype_size(tg_dtype dt);
/** "f32" or "f64" (a static string; do not free). */
const char *tg_dtype_name(tg_dtype dt);

/** A persistent zero tensor owned by the caller (free with tg_tensor_free).
 *  rank 0..8, every dim >= 0. NULL with an error on bad shape or no memory. */
tg_tensor *tg_tensor_new(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape);
/** Frees a tensor from tg_tensor_new (and its grad). NULL and tape tensors
 *  are ignored. */
void tg_tensor_free(tg_tensor *t);
/** A zero tensor in the active tape's arena; dies with the tape (do not
 *  free it). NULL with TG_ESTATE when no tape is active, TG_EDTYPE or a shape
 *  error on bad arguments, TG_ENOMEM. */
tg_tensor *tg_tensor_temp(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape);
/** A rank-0 tensor holding v (converted to dt), in the active tape's arena;
 *  errors as tg_tensor_temp. */
tg_tensor *tg_scalar(tg_ctx *ctx, tg_dtype dt, double v);
/** Mark a leaf tensor (persistent or temp) as requiring gradients; allocates
 *  its grad buffer (zeroed). Returns TG_EINVAL for op outputs. */
tg_status tg_tensor_requires_grad(tg_tensor *t, int on);

/** Element at flat index i, as double. Out of range: NaN and an error in ctx;
 *  NULL t: NaN. */
double tg_tensor_get(const tg_tensor *t, int64_t i);
/** Store v at flat index i, converted to the tensor's dtype (out of range:
 *  error, no write; NULL t: no-op). */
void tg_tensor_set(tg_tensor *t, int64_t i, double v);
/** The first (for a one-element tensor, the only) value; NaN if empty or NULL. */
double tg_tensor_item(const tg_tensor *t);
/** Gradient element at flat index i (0 if no grad buffer); out of range or
 *  NULL t as tg_tensor_get. */
double tg_tensor_grad_get(const tg_tensor *t, int64_t i);
/** Copy t's whole gradient out as doubles (f32 converted, f64 copied):
 *  dst[i] = ∂L/∂t[i] as the last tg_backward left it, n = t->numel; all 0
 *  when t has no grad buffer (it never required a gradient). The bulk form
 *  of tg_tensor_grad_get. Errors (dst untouched): NULL t TG_EINVAL (no
 *  message: no context); NULL dst TG_EINVAL; n != t->numel TG_ESHAPE naming
 *  both counts. */
tg_status tg_tensor_grad_get_f64(const tg_tensor *t, double *dst, int64_t n);
/** Copy n = t->numel doubles into t (converted). NULL t: no-op (so
 *  tg_tensor_set_f64(tg_tensor_temp(...), xs) keeps the temporary's error);
 *  NULL src: TG_EINVAL in t->ctx, t untouched. */
void tg_tensor_set_f64(tg_tensor *t, const double *src);
/** Copy t's values out as doubles (dst holds t->numel). NULL t: no-op, dst
 *  untouched; NULL dst: TG_EINVAL in t->ctx. */
void tg_tensor_get_f64(const tg_tensor *t, double *dst);
/** Fill every element with v. NULL t: no-op. */
void tg_tensor_fill(tg_tensor *t, double v);
/** 1 if both shapes are equal; 0 when a or b is NULL. */
int tg_tensor_shape_eq(const tg_tensor *a, const tg_tensor *b);
/** Writes "[2,3]" into buf (always NUL-terminated; "(null)" for NULL t);
 *  returns buf. NULL buf or len 0: writes nothing, returns buf. */
char *tg_tensor_shape_str(const tg_tensor *t, char *buf, size_t len);
/** Dimension d (negative counts from the end); -1 if out of range or t is
 *  NULL. */
int64_t tg_tensor_dim(const tg_tensor *t, int d);
/** Deprecated names (the getter rule, docs/design.md), the same functions:
 *  tg_get = tg_tensor_get, tg_set = tg_tensor_set, tg_item = tg_tensor_item,
 *  tg_grad_get = tg_tensor_grad_get, tg_shape_eq = tg_tensor_shape_eq,
 *  tg_shape_str = tg_tensor_shape_str, tg_dim = tg_tensor_dim. */
double tg_get(const tg_tensor *t, int64_t i);
void tg_set(tg_tensor *t, int64_t i, double v);
double tg_item(const tg_tensor *t);
double tg_grad_get(const tg_tensor *t, int64_t i);
int tg_shape_eq(const tg_tensor *a, const tg_tensor *b);
char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);
int64_t tg_dim(const tg_tensor *t, int d);

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

/** A named parameter owned by ctx: zero-initialized data, a zeroed grad
 *  buffer, TG_REQUIRES_GRAD set. Names are unique within a context (up to 127
 *  bytes); a duplicate name gives NULL with TG_EINVAL. */
tg_tensor *tg_param_new(tg_ctx *ctx, const char *name, tg_dtype dt, int rank, const int64_t *shape);
/** The parameter called name, or NULL (no error written; NULL ctx or name:
 *  NULL); owned by ctx (do not free). Layers name theirs "<layer>.<role>":
 *  tg_dense_init(&fc1, ctx, "fc1", ...) makes "fc1.W" and "fc1.b". */
tg_tensor *tg_param_find(tg_ctx *ctx, const char *name);
/** Set the parameter called name from n doubles, row-major, converted to its
 *  dtype (f32 rounds): how known weights go in (porting a numpy model,
 *  docs/tutorial/02-mlp.md) without reaching into a layer's struct.
 *  Errors, parameter untouched: NULL ctx TG_EINVAL (no message); NULL name or
 *  src TG_EINVAL; no such parameter TG_EINVAL naming it; n != its element
 *  count TG_ESHAPE naming its shape. */
tg_status tg_param_set_f64(tg_ctx *ctx, const char *name, const double *src, int64_t n);
/** The reverse: copy the parameter's n values out as doubles into dst, with
 *  the same errors (dst untouched). */
tg_status tg_param_get_f64(tg_ctx *ctx, const char *name, double *dst, int64_t n);
/** Number of parameters, and the i-th in creation order (NULL outside
 *  [0, count)). The context owns them. */
int tg_param_count(const tg_ctx *ctx);
tg_tensor *tg_param_at(tg_ctx *ctx, int i);
/** grad = 0 for every parameter of ctx. */
void tg_zero_grad(tg_ctx *ctx);
/** grad = 0 for the n given tensors (parameters or leaves); NULL entries
 *  are skipped, NULL ts is a no-op. */
void tg_zero_grad_of(tg_tensor **ts, int n);

/* ------------------------------------------------------------------------ */
/* Tape                                                                      */
/* ------------------------------------------------------------------------ */

/** Start a tape and make it the active one (tapes nest as a stack). The tape
 *  comes from the context's pool, so after warm-up this allocates nothing.
 *  NULL on no memory. */
tg_tape *tg_tape_begin(tg_ctx *ctx);
/** End the tape: every temp tensor and node on it dies, in O(1); its arena
 *  chunks go back to the pool for reuse, and any later use of its tensors
 *  gives TG_ESTATE ("...belongs to a tape that has ended"). Only the innermost active tape can
 *  end: for an outer one (inner tapes may point into its arena) or one
 *  already ended, TG_ESTATE with a message and nothing changes. NULL is a
 *  no-op returning TG_OK, so cleanup after a failed tg_tape_begin needs no
 *  test. */
tg_status tg_tape_end(tg_tape *tape);
/** Drop everything recorded so far but keep the tape active, O(1); the
 *  tensors made before it die as at tg_tape_end (TG_ESTATE on use). The same
 *  rule as tg_tape_end: only the innermost active tape (TG_ESTATE with a
 *  message otherwise, nothing changed); NULL is TG_EINVAL. */
tg_status tg_tape_reset(tg_tape *tape);
/** The innermost active tape, or NULL (also for NULL ctx); still owned by
 *  whoever began it. */
tg_tape *tg_ctx_active_tape(tg_ctx *ctx);
/** Deprecated name of tg_ctx_active_tape (the getter rule, docs/design.md). */
tg_tape *tg_tape_active(tg_ctx *ctx);
/** Number of nodes recorded on the tape. */
int64_t tg_tape_nodes(const tg_tape *tape);
/** Bytes the tape's arena holds in chunks (used or not). */
size_t tg_tape_capacity(const tg_tape *tape);

/** Enter / leave a no-grad scope: ops still compute but record nothing and
 *  their outputs do not require gradients. Scopes nest. */
void tg_no_grad_begin(tg_ctx *ctx);
void tg_no_grad_end(tg_ctx *ctx);
/** A tensor sharing x's data that no gradient flows through (tape-owned).
 *  NULL with TG_ESTATE when no tape is active or x's tape has ended. */
tg_tensor *tg_detach(tg_tensor *x);

/** Backward from a one-element loss: seeds d(loss)=1 and walks the tape once
 *  in reverse. Parameter and leaf grads accumulate (+=); intermediate grads
 *  are reset at the start of each call, so backward may run again on the same
 *  tape. Returns TG_ESTATE if loss is not on an active tape, or its tape has
 *  ended or been reset since it was made (the message says so). In anomaly
 *  mode, TG_ENUMERIC at the first non-finite gradient, naming the op that
 *  produced it, or saying that a leaf's or parameter's gradient was already
 *  non-finite when the pass reached it (left by an earlier pass, not zeroed). */
tg_status tg_backward(tg_tensor *loss);
/** Backward seeded with dy (y->numel elements of y's dtype) instead of 1;
 *  the same errors (anomaly mode also checks dy itself). */
tg_status tg_backward_seeded(tg_tensor *y, const void *dy);

/* ------------------------------------------------------------------------ */
/* Ops: user-definable                                                       */
/* ------------------------------------------------------------------------ */

#define TG_MAX_INPUTS 8 /* inputs in a check case; tg_apply itself takes up to 1024 */

/** Gradient-check sampling for one op, used by the registry test and by
 *  tg_gradcheck_op. */
typedef struct tg_check_case {
    const char *shapes;   /* input shapes: "2,3;1,3" (";" between inputs, "" = rank 0) */
    const void *attr;     /* attribute block for tg_apply, or NULL */
} tg_check_case;
#define TG_MAX_CHECK_CASES 12
/** Bad-input cases per check spec. */
#define TG_MAX_BAD_CASES 6
typedef struct tg_check_spec {
    double lo, hi;                 /* inputs drawn uniformly from [lo, hi] */
    double kinks[4];               /* points where the derivative jumps */
    int n_kinks;
    double kink_gap;               /* samples keep at least this far from kinks */
    double eps;                    /* finite-difference step (0: 1e-6) */
    double atol, rtol;             /* pass: |a-n| <= atol + rtol*|n| (0: 1e-8, 1e-6) */
    unsigned no_grad_inputs;       /* bitmask of inputs not differentiated */
    tg_check_case cases[TG_MAX_CHECK_CASES]; /* at least 3: a size-1, a zero-size (a dimension 0)
                                                and a broadcast shape among them */
    tg_check_case bad[TG_MAX_BAD_CASES]; /* inputs that must be rejected (NULL + message naming the op) */
} tg_check_spec;

/** Output description filled by an op's infer function. */
typedef struct tg_out_spec {
    tg_dtype dtype;
    int rank;
    int64_t shape[TG_MAX_RANK];
} tg_out_spec;

/** One recorded (or immediate) application of an op. */
struct tg_node {
    const tg_op_def *op;
    int n_in;
    tg_tensor **in;       /* n_in inputs */
    tg_tensor *out;
    void *attr;           /* copy of the attribute block (op->attr_size bytes) */
    void *saved;          /* scratch a forward kernel keeps for backward */
    tg_ctx *ctx;
    int64_t index;        /* position on the tape, -1 when not recorded */
    const char *file;     /* where user code called the op (see TG_AT), or NULL */
    int line;
    uint64_t gen;         /* internal: the use of the tape it was recorded in */
};

/** An op: shape inference, forward and backward kernels, gradcheck spec.
 *  infer: validate inputs, fill *out, or call tg_set_error naming the op and
 *         the shapes and return its code.
 *  forward: compute n->out->data from n->in[i]->data.
 *  backward: for each input with tg_needs_grad(n->in[i]), add the vector-
 *         Jacobian product of n->out->grad into tg_grad_buf(n->in[i]).
 *         NULL means the op has no gradient (asking for one is an error). */
struct tg_op_def {
    const char *name;
    int n_inputs;          /* exact count, or -1 for any count >= 1 */
    size_t attr_size;      /* bytes of the attribute block */
    tg_status (*infer)(tg_node *n, tg_out_spec *out);
    tg_status (*forward)(tg_node *n);
    tg_status (*backward)(tg_node *n);
    tg_check_spec check;
};

/** Apply op to inputs: validate, allocate the output on the active tape, run
 *  forward, record a node when grad mode is on and some input requires a
 *  gradient. attr (op->attr_size bytes) is copied. NULL on any error; NULL if
 *  any input is NULL (message kept). */
tg_tensor *tg_apply(const tg_op_def *op, tg_tensor *const *in, int n_in, const void *attr);
/** Arena scratch of `bytes` (64-byte aligned) living as long as n's tape.
 *  NULL n (or a node without a context): NULL. */
void *tg_node_alloc(tg_node *n, size_t bytes);
/** In backward kernels: 1 if input t wants a gradient. */
int tg_needs_grad(const tg_tensor *t);
/** In backward kernels: t's gradient buffer, zeroed on first use in this
 *  backward pass (so kernels always add). Owned by t (an arena or the
 *  parameter's own buffer); never free it. NULL on no memory or NULL t. */
void *tg_grad_buf(tg_tensor *t);
/** In backward kernels: tg_grad_buf for a kernel that can assign its result
 *  instead of adding it. When nothing has written t's gradient yet in this
 *  backward pass, the buffer is returned NOT zeroed and *fresh is set to 1:
 *  the kernel must then write every element (dx = v, not dx += v). Otherwise
 *  *fresh is 0 and the kernel adds, as with tg_grad_buf. Saves zeroing a
 *  buffer only to add into it. A NULL fresh makes it tg_grad_buf. NULL t:
 *  NULL (and *fresh = 0). */
void *tg_grad_buf_fresh(tg_tensor *t, int *fresh);

/** The registry of built-in ops, for tests and tools: tg_op_count() ops,
 *  tg_op_at(i) the i-th (NULL outside [0, count)), tg_op_find(name) the one
 *  whose .name is name (NULL if none). Static storage; user ops are not in
 *  it. */
int tg_op_count(void);
const tg_op_def *tg_op_at(int i);
const tg_op_def *tg_op_find(const char *name);

/* ------------------------------------------------------------------------ */
/* Built-in ops. Each returns a tape-owned tensor or NULL (see tg_last_error).
 * Elementwise binary ops broadcast with NumPy rules; dtypes must match.     */
/* ------------------------------------------------------------------------ */

tg_tensor *tg_add(tg_tensor *a, tg_tensor *b);      /* a + b */
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b);      /* a - b */
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b);      /* a * b */
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b);      /* a / b */
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b);  /* max(a,b); tie: gradient to a; NaN propagates */
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b);  /* min(a,b); tie: gradient to a; NaN propagates */

tg_tensor *tg_neg(tg_tensor *x);                    /* -x */
tg_tensor *tg_exp(tg_tensor *x);                    /* e^x */
tg_tensor *tg_log(tg_tensor *x);                    /* ln x */
tg_tensor *tg_sqrt(tg_tensor *x);                   /* √x; gradient 0 at x = 0 */
tg_tensor *tg_square(tg_tensor *x);                 /* x² */
tg_tensor *tg_abs(tg_tensor *x);                    /* |x|; subgradient 0 at 0 */
tg_tensor *tg_pow(tg_tensor *x, double p);          /* x^p, p a constant */
tg_tensor *tg_sigmoid(tg_tensor *x);                /* 1/(1+e^-x) */
tg_tensor *tg_tanh(tg_tensor *x);                   /* (e^x-e^-x)/(e^x+e^-x) */
tg_tensor *tg_relu(tg_tensor *x);                   /* max(x,0); gradient 0 at 0 */
tg_tensor *tg_leaky_relu(tg_tensor *x, double alpha); /* x>0 ? x : αx */
tg_tensor *tg_prelu(tg_tensor *x, tg_tensor *alpha);/* x>0 ? x : α_c x; α (C) on axis 1 of x (B,C,...), or of x (C); α (1) is shared by all channels */
tg_tensor *tg_elu(tg_tensor *x, double alpha);      /* x>0 ? x : α(e^x-1) */
tg_tensor *tg_softplus(tg_tensor *x);               /* ln(1+e^x) */
tg_tensor *tg_silu(tg_tensor *x);                   /* swish: x·σ(x) */
tg_tensor *tg_gelu(tg_tensor *x);                   /* x·Φ(x) = ½x(1+erf(x/√2)) */
tg_tensor *tg_gelu_tanh(tg_tensor *x);              /* ½x(1+tanh(√(2/π)(x+0.044715x³))) */
tg_tensor *tg_step(tg_tensor *x);                   /* x>0 ? 1 : 0; has no gradient (TG_ENOGRAD) */

/** Reductions over the axes listed (negative axes count from the end); n_axes
 *  0 reduces over all axes. keepdim keeps reduced axes with size 1. Over an
 *  empty axis (a dimension 0), as PyTorch: sum 0, mean NaN, logsumexp -inf,
 *  and max has no value (NULL, TG_ESHAPE); an empty x reduced over non-empty
 *  axes gives an empty result. */
tg_tensor *tg_sum(tg_tensor *x, int n_axes, const int *axes, int keepdim);  /* Σ x over the axes */
tg_tensor *tg_mean(tg_tensor *x, int n_axes, const int *axes, int keepdim); /* Σ x / (count reduced) */
tg_tensor *tg_max(tg_tensor *x, int n_axes, const int *axes, int keepdim);       /* gradient to the first maximum */
tg_tensor *tg_logsumexp(tg_tensor *x, int n_axes, const int *axes, int keepdim); /* ln Σ e^x, stable */

/** (M,K)·(K,N) -> (M,N), or batched (B,M,K)·(B,K,N) -> (B,M,N). Any size
 *  may be 0: an empty result, or zeros for K = 0 (and zero gradients). */
tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
/** c + a·b for a (M,K), b (K,N) and c (M,N) or a row (N) / (1,N) broadcast
 *  over the M rows (PyTorch's addmm, the product behind nn.Linear). One op
 *  and one (M,N) tensor where tg_add(tg_matmul(a, b), c) records two; the
 *  product is accumulated onto a copy of c. TG_ESHAPE names the shapes when
 *  they do not fit. Used by tg_dense_forward and the RNN cells. */
tg_tensor *tg_addmm(tg_tensor *c, tg_tensor *a, tg_tensor *b);
/** Axes permuted, a tape-owned copy: out.shape[i] = x.shape[perm[i]], and
 *  perm[0..rank) must be a permutation of 0..rank-1 (TG_EINVAL otherwise). */
tg_tensor *tg_permute(tg_tensor *x, const int *perm);
/** x with axes d0 and d1 swapped (negative counts from the end), a
 *  tape-owned copy; TG_EINVAL naming the shape for an axis out of range. */
tg_tensor *tg_transpose(tg_tensor *x, int d0, int d1);
/** The same elements in the same row-major order under a new shape (a
 *  tape-owned copy); one dim may be -1, inferred from the others. The element
 *  counts must agree (TG_ESHAPE naming both shapes). */
tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape);

/** softmax / log_softmax along axis (negative counts from the end); stable
 *  (max subtracted). A slice that is all -inf gives 1/C (log: -ln C) and a
 *  zero gradient; NaN or +inf in a slice gives NaN. */
tg_tensor *tg_softmax(tg_tensor *x, int axis);
tg_tensor *tg_log_softmax(tg_tensor *x, int axis);

/** Loss reductions. A loss over an empty input is 0 under both, with zero
 *  gradients (PyTorch gives NaN for a mean over nothing; 0 keeps an empty
 *  last batch from poisoning a running loss). */
typedef enum tg_reduction { TG_MEAN = 0, TG_SUM = 1 } tg_reduction;
/** Σ(pred-target)² / (numel or 1). Shapes must be equal. */
tg_tensor *tg_mse(tg_tensor *pred, tg_tensor *target, tg_reduction r);
/** -log softmax(logits)[label] per row of (B,C) logits; labels[B] in [0,C).
 *  labels are copied. Mean is over B. */
tg_tensor *tg_cross_entropy(tg_tensor *logits, const int32_t *labels, tg_reduction r);
/** -logp[label] per row of (B,C) log-probabilities. labels are copied. */
tg_tensor *tg_nll(tg_tensor *logp, const int32_t *labels, tg_reduction r);
/** max(x,0) - x·y + ln(1+e^-|x|), elementwise; y same shape as x. Mean over numel. */
tg_tensor *tg_bce_with_logits(tg_tensor *logits, tg_tensor *targets, tg_reduction r);

/* ------------------------------------------------------------------------ */
/* Indexing and joining. Results are tape-owned copies (no views). Index and  */
/* mask arrays are copied into the active tape, so the caller keeps its own.  */
/* Negative axes count from the end.                                          */
/* ------------------------------------------------------------------------ */

/** Row gather: table (V,D), idx[0..n) in [0,V) -> (n,D), out[k,:] = table[idx[k],:].
 *  Backward scatter-adds, so repeated indices accumulate. */
tg_tensor *tg_embedding(tg_tensor *table, const int32_t *idx, int64_t n);
/** The same with idx of shape shape[0..rank) (rank 0..7): (B,T) -> (B,T,D). */
tg_tensor *tg_embedding_nd(tg_tensor *table, const int32_t *idx, int rank, const int64_t *shape);
/** x with axis replaced by the entries idx[0..n) in [0, x.shape[axis]):
 *  out[..., k, ...] = x[..., idx[k], ...]; repeats accumulate in backward. */
tg_tensor *tg_index_select(tg_tensor *x, int axis, const int32_t *idx, int64_t n);
/** mask[i] ? a[i] : b[i]; a, b same shape and dtype, mask has a->numel bytes. */
tg_tensor *tg_where(const uint8_t *mask, tg_tensor *a, tg_tensor *b);
/** xs[0..n) joined along an existing axis; dtypes equal, shapes agree off the
 *  axis. n < 1 or xs NULL gives NULL without a message (no context to hold it). */
tg_tensor *tg_concat(tg_tensor *const *xs, int n, int axis);
/** xs[0..n) (equal shapes) joined along a new axis of size n at position axis
 *  (-(rank+1) .. rank). n < 1 as for tg_concat. */
tg_tensor *tg_stack(tg_tensor *const *xs, int n, int axis);
/** x[..., start:start+length, ...] along axis; start < 0 counts from the end;
 *  the range must fit (error otherwise). */
tg_tensor *tg_narrow(tg_tensor *x, int axis, int64_t start, int64_t length);
/** x[..., start:end, ...] with Python slice rules: negatives count from the
 *  end, bounds clamp, end <= start gives an empty axis. */
tg_tensor *tg_slice(tg_tensor *x, int axis, int64_t start, int64_t end);
/** out[i] = narrow(x, axis, Σ_{j<i} sizes[j], sizes[i]) for i < n; the sizes
 *  must sum to x's size on axis. The caller provides out[n]; each out[i] is
 *  tape-owned. On error every out[i] is NULL. */
tg_status tg_split(tg_tensor *x, int axis, const int64_t *sizes, int n, tg_tensor **out);

/* ------------------------------------------------------------------------ */
/* Convolution (cross-correlation, as in PyTorch). Results are tape-owned.   */
/* Letters: O output channels, G groups, K kernel, OH/OW/OL output sizes.    */
/* ------------------------------------------------------------------------ */

/** Convolution options. stride, pad and dilation are (h, w); conv1d uses
 *  index 0 only (index 1 is ignored). A zero field means its default (stride
 *  1, pad 0, dilation 1, groups 1), so a zero-initialized struct is the
 *  defaults and `(tg_conv_opts){.stride = {2, 2}}` is stride 2 with the rest
 *  at their defaults; a NULL pointer is all defaults too. A negative stride,
 *  pad, dilation or groups is an error naming the op and the shapes. */
typedef struct tg_conv_opts {
    int stride[2], pad[2], dilation[2], groups;
} tg_conv_opts;

/** x (B,C,H,W), w (O,C/G,KH,KW), b (O) or NULL -> (B,O,OH,OW),
 *  OH = (H + 2·pad - dilation·(KH-1) - 1)/stride + 1:
 *  y[b,o,i,j] = b[o] + Σ_{c,kh,kw} w[o,c,kh,kw]·x[b, g·C/G+c, i·s-p+kh·d, j·s-p+kw·d],
 *  g = o/(O/G), x = 0 outside. Errors on rank != 4, C or O not divisible by G,
 *  w's channels != C/G, a dilated kernel larger than the padded input,
 *  a negative stride, dilation, groups or pad. */
tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o);
/** x (B,C,L), w (O,C/G,K), b (O) or NULL -> (B,O,OL): conv2d with one row. */
tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_opts *o);
/** x (B,C,H,W) -> (B,C,OH,OW), OH = (H + 2·ph - kh)/sh + 1: the maximum of
 *  each kh×kw window (padding never wins); the gradient goes to the first
 *  maximum in row-major window order. sh/sw 0 mean the kernel size;
 *  0 <= padding <= kernel/2 (as in PyTorch). */
tg_tensor *tg_max_pool2d(tg_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw);
/** Same windows as max_pool2d: Σ window / (kh·kw), padding counted as zeros
 *  (PyTorch's count_include_pad=True). */
tg_tensor *tg_avg_pool2d(tg_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw);
/** Inverted dropout: train and rate > 0: y = m⊙x/(1-rate), m_i = [u_i >= rate]
 *  with u_i from tg_philox(ctx seed, a fresh stream per call, i), so a seed
 *  replays the same masks at any thread count; otherwise returns x itself.
 *  rate in [0,1). */
tg_tensor *tg_dropout(tg_tensor *x, double rate, int train);
/** (d0..d_{s-1}, d_s..d_{r-1}) -> (d0..d_{s-1}, Π d_s..d_{r-1}), s = start_dim
 *  (negative counts from the end); a tg_reshape, so a copy. */
tg_tensor *tg_flatten(tg_tensor *x, int start_dim);

/* ------------------------------------------------------------------------ */
/* Graph pictures                                                            */
/* ------------------------------------------------------------------------ */

/** Options of tg_tape_dot; a zeroed struct (or NULL) gives the defaults. */
typedef struct tg_dot_opts {
    int grad_norms;      /* 1: label each edge x -> op with ‖∂L/∂x‖₂, the L2 norm of x's
                            whole gradient (summed over all its uses) as the last
                            tg_backward on this tape left it; call after backward and
                            before the optimizer zeroes the grads */
    int max_nodes;       /* 0: draw every node; N > 0: only the last N recorded nodes
                            (inputs made by earlier nodes become dashed boxes) */
    const char *title;   /* graph label, or NULL */
} tg_dot_opts;

/** Write the tape's recorded graph to f as Graphviz DOT (render with
 *  `dot -Tsvg`): one ellipse per recorded node labelled with its op name,
 *  output shape and dtype (outputs no later node reads, e.g. the loss, get a
 *  double border); one box per leaf it reads: parameters by name, other
 *  leaves that require grad as "leaf", the rest as "input"; one edge per
 *  (input, node), labelled with the input index for multi-input ops, or with
 *  the gradient norm under opts->grad_norms. Only reads the tape; f stays
 *  open and owned by the caller. Errors: TG_EINVAL (tape or f NULL,
 *  max_nodes < 0), TG_ENOMEM, TG_EIO when writing to f fails. */
tg_status tg_tape_dot(tg_tape *tape, FILE *f, const tg_dot_opts *opts);

/* ------------------------------------------------------------------------ */
/* Composed losses (graph/losses.c): built from the ops above, so their      */
/* gradients come from the tape. Tape-owned rank-0 results; NULL with a      */
/* message naming the helper and the shapes on bad input.                    */
/* ------------------------------------------------------------------------ */

/** KL(N(μ, e^lv) ‖ N(0, 1)) in closed form, elementwise then reduced:
 *  -½ Σ (1 + lv - μ² - e^lv); TG_MEAN divides by numel. mu and logvar must
 *  have the same shape and dtype. */
tg_tensor *tg_kl_normal(tg_tensor *mu, tg_tensor *logvar, tg_reduction r);
/** L1 penalty Σ |x| (subgradient 0 at 0); TG_MEAN divides by numel. */
tg_tensor *tg_l1_penalty(tg_tensor *x, tg_reduction r);

/* ------------------------------------------------------------------------ */
/* Images (graph/png.c, via libpng)                                           */
/* ------------------------------------------------------------------------ */

/** Pixels of mid-grey (128) between and around the tiles of a PNG grid. */
#define TG_PNG_GAP 2
/** Write n grayscale images as one 8-bit grayscale PNG grid. images holds n
 *  row-major rows×cols images back to back (n·rows·cols floats); a value v
 *  becomes round(255·v) after clamping to [0,1] (NaN: 0). Tiles go left to
 *  right, grid_cols per grid row (0: ⌈√n⌉; more than n: n), ⌈n/grid_cols⌉
 *  grid rows; the picture is grid_cols·(cols+TG_PNG_GAP)+TG_PNG_GAP pixels
 *  wide and likewise high. Errors (ctx may be NULL to get the status only):
 *  TG_EINVAL for bad sizes or a grid over 32767 pixels a side, TG_ENOMEM,
 *  TG_EIO naming path and the reason (a partly written file is removed). */
tg_status tg_png_write_grid(tg_ctx *ctx, const char *path, const float *images, int n, int rows, int cols,
                            int grid_cols);

/* ------------------------------------------------------------------------ */
/* Recurrent and recursive cells (graph/rnn.c, graph/tree.c)                 */
/* Each cell is a chain of the ops above with no backward of its own: T      */
/* steps unrolled on one tape are BPTT, a tree built on its own tape is      */
/* back-propagation through structure. Row vectors as in tg_dense: x (B,I),  */
/* h, c (B,H), weights (in,out), so the lectures' W·x is x·W here. The gates */
/* of a cell share one matmul: Wx (I,G·H) holds the G gate blocks side by    */
/* side, LSTM order i,f,o,c̃ and GRU order r,z,h̃. The structs only point at   */
/* parameters the context owns ("<name>.Wx", ".Wh", ".b", ".Uc", ".bhn").    */
/* Step results are tape-owned; NULL or an error status with a message      */
/* naming the helper and the shapes on bad input.                            */
/* ------------------------------------------------------------------------ */

/** The kind of a recurrent cell; each constant's comment is one step. */
typedef enum tg_cell_kind {
    TG_CELL_RNN_TANH = 0, /* h' = tanh(x·Wx + h·Wh + b); G = 1 */
    TG_CELL_RNN_RELU = 1, /* h' = relu(x·Wx + h·Wh + b); G = 1 */
    TG_CELL_LSTM = 2,     /* [i,f,o] = σ(·), c̃ = tanh(·) of x·Wx + h·Wh + b;
                             c' = f⊙c + i⊙c̃; h' = o⊙tanh(c'); G = 4 (no peepholes) */
    TG_CELL_GRU = 3,      /* lectures (Cho et al. 2014): [r,z] = σ(x·Wx + h·Wh + b) (Wh (H,2H));
                             h̃ = tanh(x·Wxh̃ + (r⊙h)·Uc + bh̃); h' = z⊙h + (1-z)⊙h̃; G = 3 */
    TG_CELL_GRU_TORCH = 4 /* PyTorch nn.GRUCell: r, z as above but Wh (H,3H);
                             n = tanh(x·Wxn + bn + r⊙(h·Whn + bhn)); h' = z⊙h + (1-z)⊙n */
} tg_cell_kind;

/** "rnn", "rnn_relu", "lstm", "gru", "gru_torch"; "unknown" otherwise. Static. */
const char *tg_cell_kind_name(tg_cell_kind k);
/** The inverse of tg_cell_kind_name ("rnn_tanh" also means rnn); -1 if unknown. */
int tg_cell_kind_parse(const char *name);

/** One recurrent cell: pointers to its parameters (owned by the context). */
typedef struct tg_cell {
    tg_cell_kind kind;
    int64_t in, hidden;  /* I, H */
    tg_tensor *Wx;       /* (I, G·H) input weights */
    tg_tensor *Wh;       /* (H, G·H) recurrent weights; TG_CELL_GRU: (H, 2H), r and z only */
    tg_tensor *b;        /* (G·H) bias, TG_NO_DECAY */
    tg_tensor *Uc;       /* TG_CELL_GRU: (H, H), multiplies r⊙h in h̃; else NULL */
    tg_tensor *bhn;      /* TG_CELL_GRU_TORCH: (H), PyTorch's b_hn inside r⊙(·); else NULL */
} tg_cell;

/** The state between steps: h (B,H), and c (B,H) for an LSTM (else NULL). */
typedef struct tg_rnn_state {
    tg_tensor *h, *c;
} tg_rnn_state;

/** Create a cell's parameters in ctx, every one drawn from U(-1/√H, 1/√H)
 *  (PyTorch's default). name is 1 to TG_LAYER_NAME_MAX bytes; in, hidden >
 *  0. All or nothing: TG_EINVAL if a parameter of that name exists, and on
 *  any failure no parameter is left in ctx and *c is zeroed. */
tg_status tg_cell_init(tg_cell *c, tg_ctx *ctx, const char *name, tg_cell_kind kind, int64_t in, int64_t hidden,
                       tg_dtype dt);
/** The cell's parameters (3 or 4) into out (may be NULL); returns the count. */
int tg_cell_params(const tg_cell *c, tg_tensor **out);
/** Zero *c (its parameters stay in the context). NULL is a no-op. */
void tg_cell_free(tg_cell *c);
/** Zero h (and c for an LSTM) of shape (B,H) on the active tape. */
tg_status tg_rnn_state_zeros(const tg_cell *c, tg_ctx *ctx, int64_t B, tg_rnn_state *s);
/** Simple RNN step (TG_CELL_RNN_*): x (B,I), h (B,H) -> h' (B,H). */
tg_tensor *tg_rnn_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h);
/** LSTM step: x (B,I), h, cs (B,H) -> *h_out, *c_out (B,H), tape-owned. */
tg_status tg_lstm_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h, tg_tensor *cs, tg_tensor **h_out,
                       tg_tensor **c_out);
/** GRU step (TG_CELL_GRU or TG_CELL_GRU_TORCH): x (B,I), h (B,H) -> h' (B,H). */
tg_tensor *tg_gru_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h);
/** Any kind: *out = step(x, *s). out may equal s. */
tg_status tg_cell_step(const tg_cell *c, tg_tensor *x, const tg_rnn_state *s, tg_rnn_state *out);

#define TG_RNN_MAX_LAYERS 8 /* layers in a tg_rnn stack */
/** Stacked (and optionally bidirectional) cells of one kind. Layer 0 reads
 *  I inputs, layer k > 0 reads the dirs·H outputs of layer k-1. */
typedef struct tg_rnn {
    tg_cell_kind kind;
    int layers, dirs;    /* dirs: 1, or 2 when bidirectional */
    int64_t in, hidden;
    tg_cell cell[TG_RNN_MAX_LAYERS][2]; /* [layer][0 forward, 1 reverse]: "<name>.l<k>", "<name>.l<k>r" */
} tg_rnn;

/** Create every cell (1..TG_RNN_MAX_LAYERS layers; name 1 to
 *  TG_LAYER_NAME_MAX bytes). All or nothing: if any cell fails, the cells
 *  already made are removed from ctx again and *r is zeroed. */
tg_status tg_rnn_init(tg_rnn *r, tg_ctx *ctx, const char *name, tg_cell_kind kind, int64_t in, int64_t hidden,
                      int layers, int bidirectional, tg_dtype dt);
/** Zero *r (its parameters stay in the context). NULL is a no-op. */
void tg_rnn_free(tg_rnn *r);
/** Every cell's parameters into out (may be NULL); returns the count. */
int tg_rnn_params(const tg_rnn *r, tg_tensor **out);
/** Unroll over xs[0..T) (each (B,I)) on the active tape, layer by layer: the
 *  forward direction runs t = 0..T-1, the reverse one t = T-1..0, and
 *  ys[t] (B, dirs·H) = [h_fwd(t), h_rev(t)] of the top layer (caller's array
 *  of T). init / final (may be NULL): layers·dirs states indexed
 *  layer·dirs + dir; init NULL starts from zeros; final gets each direction's
 *  last state (forward: after t = T-1; reverse: after t = 0). One
 *  tg_backward of a loss over the ys is BPTT over the T steps. */
tg_status tg_rnn_forward(const tg_rnn *r, tg_tensor *const *xs, int T, const tg_rnn_state *init,
                         tg_rnn_state *final, tg_tensor **ys);

/** Truncated BPTT: states carried from one chunk (tape) to the next as
 *  values only, so no gradient flows back across a chunk boundary. The
 *  tensors are persistent, owned by the carry, and can be passed as
 *  tg_rnn_forward's init on any tape. */
typedef struct tg_rnn_carry {
    int n, dirs;                              /* layers·dirs states */
    tg_rnn_state s[2 * TG_RNN_MAX_LAYERS];
} tg_rnn_carry;
/** Zero states of batch B for r. Free with tg_rnn_carry_free. */
tg_status tg_rnn_carry_init(tg_rnn_carry *cr, const tg_rnn *r, tg_ctx *ctx, int64_t B);
/** Copy the values of final (tg_rnn_forward's) into the carry: the detach.
 *  Reverse directions are reset to zero (they start after a chunk's end). */
tg_status tg_rnn_carry_store(tg_rnn_carry *cr, const tg_rnn_state *final);
/** Every carried state = 0 (a new document or epoch). */
void tg_rnn_carry_zero(tg_rnn_carry *cr);
/** Free the carried tensors; NULL is a no-op. */
void tg_rnn_carry_free(tg_rnn_carry *cr);

/** Recursive (tree) cell: p = tanh([c1, c2]·W + b), one W and b for every
 *  node of every tree (the lectures' W [c1; c2] with W here = theirs ᵀ). */
typedef struct tg_tree_layer {
    int64_t dim;         /* D */
    tg_tensor *W;        /* (2D, D), Xavier uniform: "<name>.W" */
    tg_tensor *b;        /* (D), zero, TG_NO_DECAY: "<name>.b" */
} tg_tree_layer;
/** Create W and b in ctx (name 1 to TG_LAYER_NAME_MAX bytes, dim > 0); all
 *  or nothing, as every layer's init. */
tg_status tg_tree_layer_init(tg_tree_layer *c, tg_ctx *ctx, const char *name, int64_t dim, tg_dtype dt);
/** Zero *c (its parameters stay in the context). NULL is a no-op. */
void tg_tree_layer_free(tg_tree_layer *c);
/** left, right (B,D) -> parent (B,D) = tanh([left, right]·W + b), tape-owned. */
tg_tensor *tg_tree_cell(const tg_tree_layer *c, tg_tensor *left, tg_tensor *right);
/** Compose a binary tree bottom-up. Node i is a leaf when left[i] = right[i]
 *  = -1 (nodes[i] = leaves[i], (B,D)), otherwise an internal node whose two
 *  distinct children have smaller indices (any topological order, e.g.
 *  post-order): nodes[i] = tg_tree_cell(nodes[left[i]], nodes[right[i]]).
 *  nodes (caller's array of n) gets every node; the root is the last one
 *  nobody reads, usually nodes[n-1]. The structure is checked first. */
tg_status tg_tree_forward(const tg_tree_layer *c, int n, const int32_t *left, const int32_t *right,
                          tg_tensor *const *leaves, tg_tensor **nodes);

/* ------------------------------------------------------------------------ */
/* Gradient checking (finite differences in f64)                             */
/* ------------------------------------------------------------------------ */

/** Options; zero fields take the defaults: eps 1e-6, atol 1e-8, rtol 1e-6. */
typedef struct tg_check_opts {
    double eps, atol, rtol;
    int verbose;           /* 1: print every compared element to stderr */
} tg_check_opts;

/** What a check found. */
typedef struct tg_check_report {
    int ok;                /* 1 when every element passed */
    double max_abs_err;    /* worst |analytic - numeric| */
    double max_rel_err;    /* worst |a-n| / max(|n|, atol/rtol) over all elements; <= rtol passes */
    int worst_input;       /* input index of the worst element */
    int64_t worst_index;   /* flat element index there */
    double worst_analytic, worst_numeric;
    int64_t n_checked;     /* elements compared */
    char where[128];       /* op or node name where the worst element lives */
} tg_check_report;

/** A user function: reads inputs[0..n) (f64 tensors that require grad) and
 *  returns a one-element tensor built with ops on the active tape. */
typedef tg_tensor *(*tg_scalar_fn)(tg_ctx *ctx, tg_tensor **inputs, int n, void *user);

/** Check f's gradient with respect to every element of every input by
 *  central differences. inputs are f64 tensors (persistent or temp); their
 *  values are restored afterwards. Returns TG_OK or TG_ECHECK (report says
 *  where), or another error if f fails. */
tg_status tg_gradcheck(tg_ctx *ctx, tg_scalar_fn f, tg_tensor **inputs, int n, void *user,
                       const tg_check_opts *opts, tg_check_report *rep);

/** Check one op on inputs of the given shapes ("2,3;3"), drawn from the op's
 *  check spec, with attribute block attr, in dtype f64. The scalar checked is
 *  Σ w⊙y with fixed random w. */
tg_status tg_gradcheck_op(tg_ctx *ctx, const tg_op_def *op, const char *shapes, const void *attr,
                          const tg_check_opts *opts, tg_check_report *rep);

/** Take the active tape apart: re-check each recorded node's backward on its
 *  own (with its recorded inputs) by finite differences. rep names the first
 *  failing node ("node 12 (tanh)") or the worst one when all pass. Inputs
 *  must be f64. */
tg_status tg_gradcheck_tape(tg_tape *tape, const tg_check_opts *opts, tg_check_report *rep);

/* ------------------------------------------------------------------------ */
/* Initializers (draw from the context's seeded RNG)                         */
/* Fans: rank 2 (in,out) has fan_in=in, fan_out=out; rank>=3 (out,in,k...)   */
/* has fan_in=in·Πk, fan_out=out·Πk; rank 1 has fan_in=fan_out=n; rank 0 1.  */
/* Each fills every element of t in flat order from t->ctx's RNG, so the     */
/* same seed and call sequence give bitwise-identical values. NULL: no-op.   */
/* ------------------------------------------------------------------------ */

void tg_init_zeros(tg_tensor *t);                             /* 0 */
void tg_init_constant(tg_tensor *t, double v);                /* v */
void tg_init_uniform(tg_tensor *t, double lo, double hi);     /* U(lo,hi) */
void tg_init_normal(tg_tensor *t, double mean, double std);   /* N(mean,std²) */
void tg_init_xavier_uniform(tg_tensor *t);  /* U(±√6/√(fan_in+fan_out)) */
void tg_init_xavier_normal(tg_tensor *t);   /* N(0, 2/(fan_in+fan_out)) */
void tg_init_he_uniform(tg_tensor *t);      /* U(±√(6/fan_in)) */
void tg_init_he_normal(tg_tensor *t);       /* N(0, 2/fan_in) */

/* ------------------------------------------------------------------------ */
/* Layers                                                                    */
/* Every layer type has the same three calls (graph/init.c, layers.c,        */
/* rnn.c, tree.c), init / forward / free:                                    */
/*   tg_dense         tg_dense_init, tg_dense_forward, tg_dense_free         */
/*   tg_conv2d_layer  tg_conv2d_layer_init, _forward, _free                  */
/*   tg_cell          tg_cell_init, tg_cell_step, tg_cell_free               */
/*   tg_rnn           tg_rnn_init, tg_rnn_forward, tg_rnn_free               */
/*   tg_tree_layer    tg_tree_layer_init, tg_tree_forward, _free             */
/* init creates the parameters "<name>.<role>" in the context, all or none:  */
/* on any failure (bad argument, a name taken, no memory) nothing is left in */
/* the context and the struct is zeroed. The context owns the parameters;    */
/* free releases what the struct itself owns (a conv layer's mask) and       */
/* zeroes it, so call it for every layer. tg_layer_param finds a layer's     */
/* tensor by role, e.g. to set known weights (docs/training.md).             */
/* ------------------------------------------------------------------------ */

/** Longest layer name every *_init accepts: 116, the limit tg_rnn_init has
 *  always documented, leaves room for the longest suffix a layer adds, a
 *  stacked RNN's ".l7r.bhn" (8 bytes: 124 <= tg_param_new's 127). */
#define TG_LAYER_NAME_MAX 116

/** The parameter "<layer>.<role>" that a layer's init created, or NULL with
 *  TG_EINVAL and a message naming it. Roles: "W", "b" (dense, conv2d, tree);
 *  "Wx", "Wh", "b", "Uc", "bhn" (cells); "l<k>.<role>" or "l<k>r.<role>" (the
 *  forward and reverse cells of a stacked rnn). Owned by ctx, do not free;
 *  write values with tg_tensor_set_f64 or tg_init_*. */
tg_tensor *tg_layer_param(tg_ctx *ctx, const char *layer, const char *role);

/** How tg_dense_init fills W (b always starts at 0). */
typedef enum tg_init_kind { TG_INIT_XAVIER = 0, TG_INIT_HE = 1, TG_INIT_ZERO = 2 } tg_init_kind;

/** A dense layer y = x·W + b with W (in,out) and b (out), parameters named
 *  "<name>.W" and "<name>.b". The struct only points at the parameters; the
 *  context owns them. */
typedef struct tg_dense {
    tg_tensor *W;  /* (in, out) */
    tg_tensor *b;  /* (out), flagged TG_NO_DECAY */
} tg_dense;
/** Create the parameters in ctx: W by init (TG_INIT_XAVIER: xavier_uniform,
 *  TG_INIT_HE: he_uniform, TG_INIT_ZERO: 0), b = 0. name is 1 to
 *  TG_LAYER_NAME_MAX bytes; in, out > 0. TG_EINVAL (nothing created) if
 *  "<name>.W" or "<name>.b" already exists; all or nothing on any failure. */
tg_status tg_dense_init(tg_dense *layer, tg_ctx *ctx, const char *name, int64_t in, int64_t out,
                        tg_dtype dt, tg_init_kind init);
/** Zero *layer (W and b stay in the context). NULL is a no-op. */
void tg_dense_free(tg_dense *layer);
/** x (B,in) -> (B,out) = tg_addmm(b, x, W) = x·W + b, one op (one node,
 *  one (B,out) tensor). Tape-owned result; NULL x gives NULL (first message
 *  kept); NULL with TG_EINVAL "dense: layer is not initialized" for a layer
 *  without W or b, TG_ESHAPE "dense: input ... does not fit W ..." if x is
 *  not (B,in). */
tg_tensor *tg_dense_forward(const tg_dense *layer, tg_tensor *x);

/** A conv2d layer y = tg_conv2d(x, W⊙M, b, &opts) (graph/layers.c) with
 *  parameters "<name>.W" and "<name>.b" owned by the context, and an optional
 *  connection mask M owned by the layer (NULL: every connection). */
typedef struct tg_conv2d_layer {
    tg_tensor *W;        /* (O, C/G, KH, KW) */
    tg_tensor *b;        /* (O), flagged TG_NO_DECAY */
    tg_tensor *mask;     /* (O, C/G, KH, KW) constant 0/1, no grad; NULL until a table is set */
    tg_conv_opts opts;   /* as given, each zero field made its default */
} tg_conv2d_layer;
/** Create W by init (xavier_uniform / he_uniform with fan_in = C/G·KH·KW,
 *  fan_out = O·KH·KW, or 0) and b = 0. opts as in tg_conv2d (NULL or a zero
 *  field: the default). name is 1 to TG_LAYER_NAME_MAX bytes; in_ch, out_ch,
 *  kh, kw > 0; both channel counts divisible by groups. TG_EINVAL (nothing
 *  created) on bad arguments or an existing "<name>.W"/"<name>.b"; all or
 *  nothing on any failure. Call tg_conv2d_layer_free when done. */
tg_status tg_conv2d_layer_init(tg_conv2d_layer *layer, tg_ctx *ctx, const char *name, int64_t in_ch,
                               int64_t out_ch, int kh, int kw, const tg_conv_opts *opts, tg_dtype dt,
                               tg_init_kind init);
/** Fixed connection table (LeNet-5's C3): table is (C, O) row-major 0/1 with
 *  T[p,k] = 1 when output map k reads input map p. Sets M[o,c,:,:] =
 *  T[g·C/G+c, o] and zeroes W where M = 0, so dL/dW is exactly 0 there. A
 *  second call replaces the table. TG_EINVAL (nothing changed) for entries
 *  other than 0/1 or a 1 that crosses groups. */
tg_status tg_conv2d_layer_set_table(tg_conv2d_layer *layer, const uint8_t *table);
/** x (B,C,H,W) -> (B,O,OH,OW) = tg_conv2d(x, mask ? tg_mul(W, mask) : W, b,
 *  &opts). Tape-owned result; NULL with the conv2d message on bad shapes. */
tg_tensor *tg_conv2d_layer_forward(const tg_conv2d_layer *layer, tg_tensor *x);
/** Free the layer's mask (not W or b, which the context owns) and zero
 *  *layer. NULL is a no-op. */
void tg_conv2d_layer_free(tg_conv2d_layer *layer);

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */
/* Each update follows torch.optim (PyTorch 1.13, single-tensor path)        */
/* operation for operation, in the parameter's dtype; g is the gradient:     */
/*   L2 (not AdamW)  g ← g + wd·p                                            */
/*   SGD, momentum   b ← μb + g; p ← p − lr·(nesterov ? g + μb : b)          */
/*                   (μ = 0: p ← p − lr·g; dampening 0)                      */
/*   AdaGrad         s ← s + g²; p ← p − lr·g/(√s + ε)                       */
/*   RMSProp         v ← αv + (1−α)g²; μ>0: b ← μb + g/(√v+ε), p ← p − lr·b; */
/*                   else p ← p − lr·g/(√v+ε)   (not centered)               */
/*   AdaDelta        v ← ρv + (1−ρ)g²; δ = √(u+ε)/√(v+ε)·g;                  */
/*                   u ← ρu + (1−ρ)δ²; p ← p − lr·δ                          */
/*   Adam (step t)   m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;                  */
/*                   p ← p − lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε)                  */
/*   AdamW           p ← p(1 − lr·wd), then Adam without the L2 term         */
/* ------------------------------------------------------------------------ */

/** The update rules above; tg_optim_kind_parse / _name convert to and from
 *  their lowercase names. */
typedef enum tg_optim_kind {
    TG_OPT_SGD, TG_OPT_MOMENTUM, TG_OPT_NESTEROV, TG_OPT_ADAGRAD,
    TG_OPT_RMSPROP, TG_OPT_ADADELTA, TG_OPT_ADAM, TG_OPT_ADAMW
} tg_optim_kind;

/** Hyper-parameters; tg_optim_defaults(kind) gives torch.optim's defaults.
 *  Fields a kind does not use are ignored. */
typedef struct tg_optim_config {
    tg_optim_kind kind;
    double lr;             /* >= 0 */
    double momentum;       /* >= 0. SGD and MOMENTUM are one algorithm (torch.optim.SGD):
                              momentum 0 is plain SGD. NESTEROV needs > 0. RMSProp: > 0
                              adds a momentum buffer */
    double weight_decay;   /* >= 0. L2 (added to grad), decoupled for AdamW */
    int decay_biases;      /* 1 (default, as torch): decay every parameter;
                              0: skip params flagged TG_NO_DECAY (biases, rank <= 1) */
    double beta1, beta2;   /* Adam / AdamW, each in [0,1) */
    double eps;            /* Adam, AdaGrad, RMSProp, AdaDelta; >= 0 */
    double alpha;          /* RMSProp smoothing (torch: alpha), in [0,1] */
    double rho;            /* AdaDelta decay, in [0,1] */
} tg_optim_config;

/** An optimizer: one parameter group with its config and per-parameter
 *  state (opaque; tg_optim_new creates it, tg_optim_free frees it). */
typedef struct tg_optim tg_optim;

/** torch.optim's defaults for kind: lr 0.01 for SGD (torch has none),
 *  MOMENTUM/NESTEROV lr 0.01 momentum 0.9; AdaGrad lr 0.01 eps 1e-10;
 *  RMSProp lr 0.01 alpha 0.99 eps 1e-8; AdaDelta lr 1.0 rho 0.9 eps 1e-6;
 *  Adam lr 1e-3 betas (0.9, 0.999) eps 1e-8; AdamW the same with
 *  weight_decay 1e-2. weight_decay 0 otherwise; decay_biases 1. */
tg_optim_config tg_optim_defaults(tg_optim_kind kind);
/** "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
 *  "adamw" -> kind; -1 if unknown. */
int tg_optim_kind_parse(const char *name);
/** The name tg_optim_kind_parse accepts; "unknown" for a bad kind. Static. */
const char *tg_optim_kind_name(tg_optim_kind kind);
/** An optimizer over the n given parameters (a group; the array is copied);
 *  n = 0 takes every parameter ctx has now. Params must be persistent leaves
 *  of ctx that require grad (tg_param_new, or tg_tensor_new +
 *  tg_tensor_requires_grad), each listed once, and must outlive the
 *  optimizer. All state is allocated here, zeroed. NULL with TG_EINVAL on a
 *  bad config or list, TG_ENOMEM on no memory. Caller frees with
 *  tg_optim_free. */
tg_optim *tg_optim_new(tg_ctx *ctx, const tg_optim_config *cfg, tg_tensor **params, int n);
/** Frees the optimizer and its state, not the parameters. NULL is a no-op. */
void tg_optim_free(tg_optim *opt);
/** One update of every parameter in the group from its grad (see above).
 *  Allocates nothing. Non-finite grads propagate into the parameters (check
 *  with tg_optim_clip_grad_norm or anomaly mode first). */
tg_status tg_optim_step(tg_optim *opt);
/** grad = 0 for the group's parameters. */
void tg_optim_zero_grad(tg_optim *opt);
/** As torch.nn.utils.clip_grad_norm_: n = ‖g‖₂ over the whole group
 *  (accumulated in double); if c = max_norm/(n + 1e-6) < 1 every grad is
 *  multiplied by c, so afterwards ‖g‖₂ = min(n, max_norm) up to that 1e-6.
 *  *norm_out (may be NULL) gets n. TG_ENUMERIC (grads untouched) when n is not
 *  finite; TG_EINVAL when max_norm < 0 or NaN. */
tg_status tg_optim_clip_grad_norm(tg_optim *opt, double max_norm, double *norm_out);
/** Learning rate for the next steps (schedules call this each epoch); a
 *  negative or non-finite lr is ignored. */
void tg_optim_set_lr(tg_optim *opt, double lr);
/** The learning rate the next step uses; 0 for NULL opt. */
double tg_optim_lr(const tg_optim *opt);
/** Deprecated name of tg_optim_lr (the getter rule, docs/design.md). */
double tg_optim_get_lr(const tg_optim *opt);
/** Steps taken so far (Adam's t after the last step). */
int64_t tg_optim_steps(const tg_optim *opt);

/** Step decay: lr0 · gamma^floor(epoch / step_size); lr0 when epoch <= 0 or
 *  step_size <= 0. */
double tg_lr_step(double lr0, int epoch, int step_size, double gamma);
/** Cosine: lr_min + ½(lr0-lr_min)(1+cos(π·t/T)), t clamped to [0,T];
 *  lr_min when T <= 0. */
double tg_lr_cosine(double lr0, double lr_min, int t, int T);

/* ------------------------------------------------------------------------ */
/* Checkpoints (safetensors, CRC32 per tensor in __metadata__)               */
/* ------------------------------------------------------------------------ */

/** Save every parameter of ctx under its name, and with opt != NULL the
 *  optimizer's state as "optim.<param>.<slot>" (torch.optim slot names, e.g.
 *  "optim.fc.W.exp_avg") plus __metadata__ "optim.kind" and "optim.steps".
 *  Each tensor keeps its own dtype (F32/F64) and gets "crc32.<name>" (zlib
 *  CRC-32 of its bytes, 8 hex digits) in __metadata__. The file is written to
 *  "<path>.tmp.<pid>" (created exclusively, never through a link), fsync'ed,
 *  renamed over path, and the directory is fsync'ed; on failure the temp
 *  file is removed, an existing file at path is kept, and TG_EIO names the
 *  path and the system's reason. Only a regular file at path is replaced: a
 *  symbolic link, FIFO, device or directory there is refused with TG_EIO
 *  saying what it is, and left alone. "<path>.tmp.<pid>" files of processes
 *  that are gone (saves killed mid-write) are removed first. Readable by
 *  any safetensors reader (test/read_safetensors.py uses only json and struct). */
tg_status tg_checkpoint_save(tg_ctx *ctx, const char *path, const tg_optim *opt);
/** Load a checkpoint written by tg_checkpoint_save (or any safetensors file
 *  with F32/F64 tensors and our crc32 entries). path must be a regular file
 *  (a FIFO is refused with TG_EIO at once, never waited on); temporaries of
 *  dead saves of path are removed as by tg_checkpoint_save. Validated first, in full:
 *  header length (2 .. 100 MiB, inside the file), strict JSON, every dtype,
 *  shape, byte count and offset (tensors must tile the data section: no
 *  overlap, gap or trailing bytes), every checksum (TG_ECHECKSUM naming the
 *  tensor), and the names and shapes against the context: every parameter
 *  must be in the file with its exact shape, and every tensor in the file
 *  must be a parameter or "optim.*" state. Only then are values copied, so
 *  any error (TG_EFORMAT, TG_ESHAPE, TG_ECHECKSUM, TG_EIO, TG_ENOMEM) leaves
 *  the parameters and the optimizer untouched. A file's F32 tensor may be
 *  loaded into an f64 parameter and vice versa (converted; F64 -> f32
 *  rounds). Optimizer state: opt == NULL ignores it (weights only); with an
 *  opt, a file without "optim.kind" leaves opt as it is, otherwise kind, the
 *  group's parameters and slots must match exactly and steps is restored. */
tg_status tg_checkpoint_load(tg_ctx *ctx, const char *path, tg_optim *opt);

/** One tensor of a checkpoint, as its header describes it. */
typedef struct tg_checkpoint_entry {
    char name[128];        /* the tensor's name (longer names are cut, NUL-terminated) */
    tg_dtype dtype;        /* TG_F32 or TG_F64 */
    int rank;                      /* 0..TG_MAX_RANK */
    int64_t shape[TG_MAX_RANK];
} tg_checkpoint_entry;
/** What a checkpoint holds: its tensors and its optimizer. */
typedef struct tg_checkpoint_info {
    int n;                         /* entries */
    tg_checkpoint_entry *entries;  /* (n), sorted by name; owned */
    char optim[32];                /* __metadata__ "optim.kind" ("adam", ...), "" when none */
    int64_t optim_steps;           /* "optim.steps", 0 when none */
} tg_checkpoint_info;
/** Lists what the checkpoint at path holds without a context's parameters
 *  to match: each tensor's name, dtype and shape (parameters and the
 *  "optim.*" slots alike), and the optimizer's kind and steps. The header is
 *  validated as tg_checkpoint_load does (length, strict JSON, dtypes,
 *  shapes, offsets inside the file); the data and checksums are not read.
 *  Errors: TG_EIO (cannot open, not a regular file), TG_EFORMAT naming the
 *  field, TG_ENOMEM; on error *out is zeroed. NULL ctx returns TG_EINVAL.
 *  Free with tg_checkpoint_info_free. */
tg_status tg_checkpoint_info_read(tg_ctx *ctx, const char *path, tg_checkpoint_info *out);
/** Frees info->entries and zeroes *info. NULL is a no-op. */
void tg_checkpoint_info_free(tg_checkpoint_info *info);

/* ------------------------------------------------------------------------ */
/* Data: IDX files (MNIST layout), batching                                  */
/* ------------------------------------------------------------------------ */

/** An IDX array of unsigned bytes (type code 0x08). */
typedef struct tg_idx {
    int rank;              /* 1 (labels) or 3 (images) */
    int64_t dims[4];
    int64_t count;         /* product of dims */
    uint8_t *data;         /* count bytes, owned; free with tg_idx_free */
} tg_idx;
/** Read a raw or gzipped IDX file (zlib detects which). expect_rank is 1
 *  (labels) or 3 (images); 0 accepts any rank 1..4. Checks the magic (00 00
 *  08 rank), the rank, every dimension (1..1e8, product <= 1 TiB) and the
 *  byte count (truncated or trailing bytes) before trusting them; a raw file
 *  is sized before allocating; a gzipped one may promise at most 1032 times
 *  its size on disk (deflate's largest expansion; more is TG_EFORMAT at once)
 *  and is read in 4 MiB pieces, so memory follows the data present. Errors: TG_EIO (cannot open), TG_EFORMAT, naming the
 *  file and the field ("idx: F: magic: expected 0x00000803, found 0x00000801
 *  (a label file?)"). On error *out is zeroed; on success the caller frees
 *  out->data with tg_idx_free. path must be a regular file: a FIFO or a
 *  device is refused with TG_EIO naming it, at once (opened non-blocking). */
tg_status tg_idx_read(tg_ctx *ctx, const char *path, int expect_rank, tg_idx *out);
/** Frees idx->data and zeroes *idx. NULL is a no-op. */
void tg_idx_free(tg_idx *idx);

/** An image classification set: n images of rows×cols, labels in
 *  [0, classes). */
typedef struct tg_dataset {
    int64_t n, rows, cols;
    uint8_t *images;       /* n·rows·cols */
    uint8_t *labels;       /* n */
    int classes;           /* C: the caller's count, or the largest label + 1 */
} tg_dataset;
/** Load split ("train" or "t10k") from an MNIST-layout directory:
 *  <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, each raw or with
 *  .gz (the raw file wins when both exist). Checks that image and label
 *  counts agree. classes > 0 (at most 256: labels are bytes) is the caller's
 *  class count, and a label >= classes is TG_EFORMAT naming the file and the
 *  label's index; classes 0 takes the count from the labels (the largest + 1;
 *  a split may then lack the top classes, so pass the count when you know
 *  it). out->classes is the count used. A missing directory or file is
 *  TG_EIO naming the path. The caller frees with tg_dataset_free; on error
 *  *out is zeroed. */
tg_status tg_dataset_load(tg_ctx *ctx, const char *dir, const char *split, int classes, tg_dataset *out);
/** tg_dataset_load with classes = 10, the count of MNIST and Fashion-MNIST. */
tg_status tg_mnist_load(tg_ctx *ctx, const char *dir, const char *split, tg_dataset *out);
/** Frees the images and labels and zeroes *ds. NULL is a no-op. */
void tg_dataset_free(tg_dataset *ds);
/** Default data directory (/usr/share/datasets/fashion-mnist); a static
 *  string, do not free. */
const char *tg_default_data_dir(void);
/** x[b, :] = images[idx[b]] / 255 for b in [0, n), so x is (n, rows·cols) in
 *  [0,1]; labels[b] = label of idx[b] (labels may be NULL; idx NULL means
 *  0..n-1). x must be f32/f64 of exactly that shape (TG_ESHAPE); an index
 *  outside [0, ds->n) is TG_EINVAL, checked before anything is written.
 *  Errors are reported in x->ctx. */
tg_status tg_dataset_batch(const tg_dataset *ds, const int64_t *idx, int64_t n, tg_tensor *x,
                           int32_t *labels);
/** y (n, C) = one-hot of labels: y[i, labels[i]] = 1, every other entry 0.
 *  A label outside [0, C) is TG_EINVAL (y untouched); errors go to y->ctx. */
tg_status tg_one_hot(const int32_t *labels, int64_t n, int C, tg_tensor *y);

/* ------------------------------------------------------------------------ */
/* Data: your own arrays or a CSV file (docs/training.md, "Your own data")   */
/* ------------------------------------------------------------------------ */

/** A table of samples: n rows of d features, with optional class labels. */
typedef struct tg_table {
    int64_t n;             /* N: samples (rows) */
    int64_t d;             /* D: features per sample */
    tg_dtype dtype;        /* TG_F32 or TG_F64: how x is stored */
    void *x;               /* (N, D) row-major, float or double by dtype; owned */
    int32_t *labels;       /* (N) in [0, classes), owned; NULL when the data has none */
    int classes;           /* C: the caller's count, or the largest label + 1; 0 without labels */
} tg_table;
/** Copies the user's arrays into *out: x is n·d floats (dtype TG_F32) or
 *  doubles (TG_F64), row-major; labels (n of them) may be NULL. classes > 0
 *  is the class count and a label outside [0, classes) is TG_EINVAL naming
 *  its index; classes 0 takes the largest label + 1. Checked before
 *  anything is kept: n >= 1, d >= 1 (TG_ESHAPE), every value finite
 *  (TG_EINVAL naming row and column), dtype (TG_EDTYPE). NULL ctx returns
 *  TG_EINVAL. On error *out is zeroed; the caller frees with tg_table_free. */
tg_status tg_table_from_arrays(tg_ctx *ctx, tg_dtype dtype, const void *x, int64_t n, int64_t d,
                               const int32_t *labels, int classes, tg_table *out);
/** Reads a CSV file: one sample per line, numbers separated by commas
 *  (spaces around them allowed; blank lines skipped; CRLF accepted). A first
 *  line with no number in it is a header and skipped. label_col is the
 *  0-based column of an integer class label (0, 1, 2, ...), or -1 for none;
 *  every other column is a feature, stored as dtype. Errors: TG_EIO (cannot
 *  open, or not a regular file: a FIFO is refused, never waited on),
 *  TG_EFORMAT naming the file, line and column ("csv: F:7: column 3: 'x' is
 *  not a finite number", a row of another width, a label that is not a
 *  class number, no data rows), TG_ENOMEM. On error *out is zeroed; the
 *  caller frees with tg_table_free. */
tg_status tg_table_read_csv(tg_ctx *ctx, const char *path, tg_dtype dtype, int label_col, tg_table *out);
/** Frees x and labels and zeroes *t. NULL is a no-op. */
void tg_table_free(tg_table *t);
/** x[b, :] = row idx[b] of t (converted to x's dtype) for b in [0, n), and
 *  labels[b] its label (labels may be NULL; a non-NULL labels with a table
 *  without labels is TG_EINVAL); idx NULL means 0..n-1. x must be (n, d)
 *  f32/f64 (TG_ESHAPE); an index outside [0, t->n) is TG_EINVAL, checked
 *  before anything is written. Errors are reported in x->ctx; NULL x
 *  returns TG_EINVAL. */
tg_status tg_table_batch(const tg_table *t, const int64_t *idx, int64_t n, tg_tensor *x, int32_t *labels);

/* ------------------------------------------------------------------------ */
/* Call sites (for anomaly mode's messages; docs/debugging.md)               */
/* Each op-making function below is also a function-like macro that notes    */
/* __FILE__:__LINE__ on a per-thread stack around the call, so tg_apply can  */
/* record in the node where user code made it: the innermost noted call      */
/* wins, and ops a library function makes inside (tg_dense_forward's matmul) */
/* get the user's call of that function. Symbols and signatures are          */
/* unchanged: (tg_log)(x) or -DTG_NO_CALL_SITES bypass the macros.           */
/* ------------------------------------------------------------------------ */

/** Note a call site; nodes keep the pointer, so file must have static
 *  storage (__FILE__ has). Pairs with one tg_site_pop / tg_site_pop_status,
 *  which returns its argument. */
void tg_site_push(const char *file, int line);
tg_tensor *tg_site_pop(tg_tensor *result);
tg_status tg_site_pop_status(tg_status result);
/** TG_AT(f(...)): call f with this line noted as the call site. For your
 *  own op function: #define my_op(...) TG_AT(my_op(__VA_ARGS__)), and call
 *  (tg_apply)(...) inside it so that its caller's line is the innermost. */
#define TG_AT(call) (tg_site_push(__FILE__, __LINE__), tg_site_pop(call))
#define TG_AT_STATUS(call) (tg_site_push(__FILE__, __LINE__), tg_site_pop_status(call))

/* One line per op-making function. Hand-kept, since an installed header
 * cannot include ops.def, but checked: test op_contract fails when a public
 * tg_tensor * or tg_status function of ops/ has no line here (step 5 of
 * docs/adding-an-op.md's checklist). */
#if !defined(TG_NO_CALL_SITES)
#define tg_apply(...) TG_AT(tg_apply(__VA_ARGS__))
#define tg_add(...) TG_AT(tg_add(__VA_ARGS__))
#define tg_sub(...) TG_AT(tg_sub(__VA_ARGS__))
#define tg_mul(...) TG_AT(tg_mul(__VA_ARGS__))
#define tg_div(...) TG_AT(tg_div(__VA_ARGS__))
#define tg_maximum(...) TG_AT(tg_maximum(__VA_ARGS__))
#define tg_minimum(...) TG_AT(tg_minimum(__VA_ARGS__))
#define tg_neg(...) TG_AT(tg_neg(__VA_ARGS__))
#define tg_exp(...) TG_AT(tg_exp(__VA_ARGS__))
#define tg_log(...) TG_AT(tg_log(__VA_ARGS__))
#define tg_sqrt(...) TG_AT(tg_sqrt(__VA_ARGS__))
#define tg_square(...) TG_AT(tg_square(__VA_ARGS__))
#define tg_abs(...) TG_AT(tg_abs(__VA_ARGS__))
#define tg_pow(...) TG_AT(tg_pow(__VA_ARGS__))
#define tg_sigmoid(...) TG_AT(tg_sigmoid(__VA_ARGS__))
#define tg_tanh(...) TG_AT(tg_tanh(__VA_ARGS__))
#define tg_relu(...) TG_AT(tg_relu(__VA_ARGS__))
#define tg_leaky_relu(...) TG_AT(tg_leaky_relu(__VA_ARGS__))
#define tg_prelu(...) TG_AT(tg_prelu(__VA_ARGS__))
#define tg_elu(...) TG_AT(tg_elu(__VA_ARGS__))
#define tg_softplus(...) TG_AT(tg_softplus(__VA_ARGS__))
#define tg_silu(...) TG_AT(tg_silu(__VA_ARGS__))
#define tg_gelu(...) TG_AT(tg_gelu(__VA_ARGS__))
#define tg_gelu_tanh(...) TG_AT(tg_gelu_tanh(__VA_ARGS__))
#define tg_step(...) TG_AT(tg_step(__VA_ARGS__))
#define tg_sum(...) TG_AT(tg_sum(__VA_ARGS__))
#define tg_mean(...) TG_AT(tg_mean(__VA_ARGS__))
#define tg_max(...) TG_AT(tg_max(__VA_ARGS__))
#define tg_logsumexp(...) TG_AT(tg_logsumexp(__VA_ARGS__))
#define tg_matmul(...) TG_AT(tg_matmul(__VA_ARGS__))
#define tg_addmm(...) TG_AT(tg_addmm(__VA_ARGS__))
#define tg_permute(...) TG_AT(tg_permute(__VA_ARGS__))
#define tg_transpose(...) TG_AT(tg_transpose(__VA_ARGS__))
#define tg_reshape(...) TG_AT(tg_reshape(__VA_ARGS__))
#define tg_softmax(...) TG_AT(tg_softmax(__VA_ARGS__))
#define tg_log_softmax(...) TG_AT(tg_log_softmax(__VA_ARGS__))
#define tg_mse(...) TG_AT(tg_mse(__VA_ARGS__))
#define tg_cross_entropy(...) TG_AT(tg_cross_entropy(__VA_ARGS__))
#define tg_nll(...) TG_AT(tg_nll(__VA_ARGS__))
#define tg_bce_with_logits(...) TG_AT(tg_bce_with_logits(__VA_ARGS__))
#define tg_embedding(...) TG_AT(tg_embedding(__VA_ARGS__))
#define tg_embedding_nd(...) TG_AT(tg_embedding_nd(__VA_ARGS__))
#define tg_index_select(...) TG_AT(tg_index_select(__VA_ARGS__))
#define tg_where(...) TG_AT(tg_where(__VA_ARGS__))
#define tg_concat(...) TG_AT(tg_concat(__VA_ARGS__))
#define tg_stack(...) TG_AT(tg_stack(__VA_ARGS__))
#define tg_narrow(...) TG_AT(tg_narrow(__VA_ARGS__))
#define tg_slice(...) TG_AT(tg_slice(__VA_ARGS__))
#define tg_split(...) TG_AT_STATUS(tg_split(__VA_ARGS__))
#define tg_conv2d(...) TG_AT(tg_conv2d(__VA_ARGS__))
#define tg_conv1d(...) TG_AT(tg_conv1d(__VA_ARGS__))
#define tg_max_pool2d(...) TG_AT(tg_max_pool2d(__VA_ARGS__))
#define tg_avg_pool2d(...) TG_AT(tg_avg_pool2d(__VA_ARGS__))
#define tg_dropout(...) TG_AT(tg_dropout(__VA_ARGS__))
#define tg_flatten(...) TG_AT(tg_flatten(__VA_ARGS__))
#define tg_kl_normal(...) TG_AT(tg_kl_normal(__VA_ARGS__))
#define tg_l1_penalty(...) TG_AT(tg_l1_penalty(__VA_ARGS__))
#define tg_rnn_cell(...) TG_AT(tg_rnn_cell(__VA_ARGS__))
#define tg_lstm_cell(...) TG_AT_STATUS(tg_lstm_cell(__VA_ARGS__))
#define tg_gru_cell(...) TG_AT(tg_gru_cell(__VA_ARGS__))
#define tg_cell_step(...) TG_AT_STATUS(tg_cell_step(__VA_ARGS__))
#define tg_rnn_forward(...) TG_AT_STATUS(tg_rnn_forward(__VA_ARGS__))
#define tg_tree_cell(...) TG_AT(tg_tree_cell(__VA_ARGS__))
#define tg_tree_forward(...) TG_AT_STATUS(tg_tree_forward(__VA_ARGS__))
#define tg_dense_forward(...) TG_AT(tg_dense_forward(__VA_ARGS__))
#define tg_conv2d_layer_forward(...) TG_AT(tg_conv2d_layer_forward(__VA_ARGS__))
#endif /* !TG_NO_CALL_SITES */

#ifdef __cplusplus
}
#endif
#endif /* TAPEGRAD_H */
