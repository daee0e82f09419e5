/* tape.c: recording ops on a tape (tg_apply), tape lifetime, no-grad and
 * detach. The tape is a flat array of nodes in execution order; its arenas
 * hold every node, attribute block, output tensor and gradient, so ending a
 * tape frees all of them at once. Each use of a tape (begin to reset or end)
 * has a generation number, recorded in its tensors and nodes, so a tensor
 * kept past the end of its tape is refused with TG_ESTATE wherever it enters
 * the library (docs/design.md, "Tape"). */
#include "internal.h"

#include <math.h>
#include <stddef.h>

tg_tape *tg_tape_begin(tg_ctx *ctx) {
    if (!ctx) return NULL;
    tg_tape *t = ctx->free_tapes;
    if (t) {
        ctx->free_tapes = t->next_free;
    } else {
        t = tg__calloc(1, sizeof *t);
        if (!t) {
            tg__error(ctx, TG_ENOMEM, "tape_begin: out of memory");
            return NULL;
        }
        t->ctx = ctx;
        t->gen = 1;
    }
    tg__arena_reset(&t->arena);
    t->nodes = NULL;
    t->n_nodes = t->cap_nodes = 0;
    t->active = 1;
    t->next_free = NULL;
    t->prev_active = ctx->active;
    ctx->active = t;
    return t;
}

/* TG_OK when t may drop its arena: it is active and the innermost tape. An
 * inner tape may hold tensors that point into this tape's arena (tg_detach
 * shares data; a tree net builds a tape per tree over the outer tape's
 * inputs), so recycling an outer tape's arena would leave them dangling. */
static tg_status check_innermost(const tg_tape *t, const char *who) {
    tg_ctx *ctx = t->ctx;
    if (!t->active) return tg__error(ctx, TG_ESTATE, "%s: the tape is not active (ended twice?)", who);
    if (ctx->active == t) return TG_OK;
    int depth = 0;
    for (const tg_tape *q = ctx->active; q && q != t; q = q->prev_active) depth++;
    return tg__error(ctx, TG_ESTATE,
                     "%s: the tape is not the innermost one (%d tape%s begun after it %s still active; end %s "
                     "first)",
                     who, depth, depth == 1 ? "" : "s", depth == 1 ? "is" : "are", depth == 1 ? "it" : "them");
}

/* Start the tape's next use: every tensor and node of this one becomes stale
 * (its gen no longer matches) and its memory is recycled. The header arena
 * of the new use is the one the use before this one filled, so this use's
 * headers stay readable, unchanged, until the use after next. */
static void next_use(tg_tape *t) {
    t->gen++;
    tg__arena_reset(&t->hdr[t->gen & 1]);
    tg__arena_reset(&t->arena);
    t->nodes = NULL;
    t->n_nodes = t->cap_nodes = 0;
}

tg_status tg_tape_end(tg_tape *t) {
    if (!t) return TG_OK; /* like free(NULL): cleanup after a failed begin */
    tg_status st = check_innermost(t, "tape_end");
    if (st) return st;
    tg_ctx *ctx = t->ctx;
    ctx->active = t->prev_active;
    t->active = 0;
    next_use(t);
    t->next_free = ctx->free_tapes;
    ctx->free_tapes = t;
    return TG_OK;
}

tg_status tg_tape_reset(tg_tape *t) {
    if (!t) return TG_EINVAL; /* no context to hold a message */
    tg_status st = check_innermost(t, "tape_reset");
    if (st) return st;
    next_use(t);
    return TG_OK;
}

tg_tape *tg_ctx_active_tape(tg_ctx *ctx) { return ctx ? ctx->active : NULL; }
tg_tape *tg_tape_active(tg_ctx *ctx) { return tg_ctx_active_tape(ctx); } /* deprecated name */
int64_t tg_tape_nodes(const tg_tape *t) { return t ? t->n_nodes : 0; }
size_t tg_tape_capacity(const tg_tape *t) {
    return t ? t->arena.capacity + t->hdr[0].capacity + t->hdr[1].capacity : 0;
}

tg__slot *tg__slot_new(tg_tape *tape) { return tg__arena_alloc(&tape->hdr[tape->gen & 1], sizeof(tg__slot)); }

tg_status tg__check_live(const tg_tensor *t, const char *who) {
    if (!t || !tg__stale(t)) return TG_OK;
    return tg__error(t->ctx, TG_ESTATE,
                     "%s: the tensor %s belongs to a tape that has ended (or been reset) since it was made; "
                     "a tape's tensors die with tg_tape_end",
                     who, tg__sh(t));
}

void tg_no_grad_begin(tg_ctx *ctx) {
    if (ctx) ctx->no_grad++;
}
void tg_no_grad_end(tg_ctx *ctx) {
    if (ctx && ctx->no_grad > 0) ctx->no_grad--;
}

void *tg_node_alloc(tg_node *n, size_t bytes) {
    if (!n || !n->ctx) return NULL;
    tg_tape *t = n->ctx->active;
    if (n->out && n->out->tape) t = n->out->tape;
    if (!t) return NULL;
    if (n->gen != t->gen) {
        tg__error(n->ctx, TG_ESTATE, "node_alloc: the %s node belongs to a tape that has ended (or been reset)",
                  n->op->name);
        return NULL;
    }
    void *p = tg__arena_alloc(&t->arena, bytes);
    if (!p) tg__error(n->ctx, TG_ENOMEM, "%s: out of memory for %zu bytes of scratch", n->op->name, bytes);
    return p;
}

int tg_needs_grad(const tg_tensor *t) { return t && (t->flags & TG_REQUIRES_GRAD); }

/* tg_dtype_size without the call (this file runs once or more per op). */
static inline size_t esize(tg_dtype dt) { return dt == TG_F64 ? 8 : 4; }

/* Both entries: a leaf or parameter's persistent buffer (accumulates); an
 * intermediate's arena buffer, zeroed on its first use in this pass unless
 * the caller will assign it (fresh != NULL: *fresh says whether it must). */
static void *grad_buf(tg_tensor *t, int *fresh) {
    if (fresh) *fresh = 0;
    if (!t->node) return t->grad; /* leaf or parameter: persistent, accumulates */
    tg_tape *tape = t->tape;
    if (t->grad_epoch != tape->epoch) {
        int64_t n = t->numel ? t->numel : 1;
        size_t bytes = (size_t)n * esize(t->dtype);
        if (!t->grad) {
            t->grad = tg__arena_alloc(&tape->arena, bytes);
            if (!t->grad) {
                tg__error(t->ctx, TG_ENOMEM, "backward: out of memory for the gradient of %s",
                          tg__sh(t));
                return NULL;
            }
        }
        if (fresh) *fresh = 1; /* the caller writes every element */
        else if (n == 1 && t->dtype == TG_F32) *(float *)t->grad = 0.0f; /* one element: no memset call */
        else if (n == 1) *(double *)t->grad = 0.0;
        else memset(t->grad, 0, bytes);
        t->grad_epoch = tape->epoch;
    }
    return t->grad;
}

void *tg_grad_buf(tg_tensor *t) {
    if (!t) return NULL;
    return grad_buf(t, NULL);
}

void *tg_grad_buf_fresh(tg_tensor *t, int *fresh) {
    if (!t) {
        if (fresh) *fresh = 0;
        return NULL;
    }
    return grad_buf(t, fresh);
}

/* Gradient element i of t, as double. */
static double grad_at(const tg_tensor *t, int64_t i) {
    return t->dtype == TG_F32 ? (double)((const float *)t->grad)[i] : ((const double *)t->grad)[i];
}

static int64_t first_nonfinite(const void *p, tg_dtype dt, int64_t n) {
    if (dt == TG_F32) {
        const float *f = p;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(f[i])) return i;
    } else {
        const double *d = p;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(d[i])) return i;
    }
    return -1;
}

/* ---- call sites: a per-thread stack fed by tapegrad.h's TG_AT macros ---- */

#define SITE_MAX 64
static _Thread_local struct {
    const char *file;
    int line;
} g_site[SITE_MAX];
static _Thread_local int g_site_depth; /* may exceed SITE_MAX: deeper entries are not kept */

void tg_site_push(const char *file, int line) {
    if (g_site_depth < SITE_MAX) {
        g_site[g_site_depth].file = file;
        g_site[g_site_depth].line = line;
    }
    g_site_depth++;
}
tg_tensor *tg_site_pop(tg_tensor *result) {
    if (g_site_depth > 0) g_site_depth--;
    return result;
}
tg_status tg_site_pop_status(tg_status result) {
    if (g_site_depth > 0) g_site_depth--;
    return result;
}

/* "log created at f.c:12" (the user's call), or why there is no site. */
static const char *site_text(const tg_node *n, char *buf, size_t len) {
    if (n->file) snprintf(buf, len, "%s created at %s:%d", n->op->name, n->file, n->line);
    else snprintf(buf, len, "call site unknown: %s was not called through tapegrad.h's macros", n->op->name);
    return buf;
}

static tg_status push_node(tg_tape *t, tg_node *n) {
    if (t->n_nodes == t->cap_nodes) {
        int64_t cap = t->cap_nodes ? t->cap_nodes * 2 : 256;
        tg_node **nn = tg__arena_alloc(&t->arena, (size_t)cap * sizeof *nn);
        if (!nn) return tg__error(t->ctx, TG_ENOMEM, "%s: out of memory recording the node", n->op->name);
        if (t->n_nodes) memcpy(nn, t->nodes, (size_t)t->n_nodes * sizeof *nn);
        t->nodes = nn;
        t->cap_nodes = cap;
    }
    n->index = t->n_nodes;
    t->nodes[t->n_nodes++] = n;
    return TG_OK;
}

/* The arena blocks of one op application. tg_apply makes three arena
 * allocations per op instead of five: a slot for the node and the output
 * header (tg__slot, in the header arena), the input array + attribute block,
 * then the output data. The attribute block starts at a multiple of 64, so it
 * is 64-byte aligned as a separate arena block would be. */
#define BLK_ALIGN 64
static size_t blk_round(size_t b) { return (b + BLK_ALIGN - 1) & ~(size_t)(BLK_ALIGN - 1); }
_Static_assert(sizeof(tg_tensor) == offsetof(tg_tensor, name) + sizeof(const char *),
               "tg_tensor has a field after name: set it in new_output");

/* Element count of an inferred output shape, or -1 where tg__check_shape
 * would reject it (rank outside 0..TG_MAX_RANK, a negative dimension, more
 * than 2^48 elements); the caller then lets tg__check_shape write the error.
 * n > 2^48 / d (integer division) is the same test as n·d > 2^48. */
static int64_t spec_numel(const tg_out_spec *sp) {
    if (sp->rank < 0 || sp->rank > TG_MAX_RANK) return -1;
    int64_t n = 1;
    for (int i = 0; i < sp->rank; i++) {
        int64_t d = sp->shape[i], nd;
        if (d < 0) return -1;
        if (d && (__builtin_mul_overflow(n, d, &nd) || nd > ((int64_t)1 << 48))) return -1;
        n *= d;
    }
    return n;
}

/* The output tensor, header in the slot `t` and data (not zeroed) in the
 * data arena. */
static tg_tensor *new_output(tg_tape *tape, tg_tensor *t, const tg_out_spec *sp, int64_t numel) {
    size_t bytes = (size_t)(numel ? numel : 1) * esize(sp->dtype);
    void *data = tg__arena_alloc(&tape->arena, bytes);
    if (!data) {
        tg__error(tape->ctx, TG_ENOMEM, "tape: out of memory for a tensor of %s",
                  tg__shape_fmt(sp->rank, sp->shape, (char[96]){0}, 96));
        return NULL;
    }
    /* Every field written once (a compound literal here compiles to a memset
     * call and then the stores); shape entries past the rank are 0. */
    t->dtype = sp->dtype;
    t->rank = sp->rank;
    for (int i = 0; i < TG_MAX_RANK; i++) t->shape[i] = i < sp->rank ? sp->shape[i] : 0;
    t->numel = numel;
    t->data = data;
    t->grad = NULL;
    t->flags = 0;
    t->grad_epoch = 0;
    t->gen = tape->gen;
    t->node = NULL;
    t->ctx = tape->ctx;
    t->tape = tape;
    t->name = NULL;
    return t;
}

tg_tensor *tg_apply(const tg_op_def *op, tg_tensor *const *in, int n_in, const void *attr) {
    if (!op || !in || n_in < 1 || n_in > 1024) return NULL;
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL; /* keep the first error message */
    /* This runs once per op, and for ops on a few elements it is most of the
     * cost: the common path makes two arena allocations and calls neither
     * memcpy nor memset. Every check below stays; only the error paths build
     * messages. */
    tg_ctx *ctx = in[0]->ctx;
    if ((op->n_inputs >= 0 && n_in != op->n_inputs)) {
        tg__error(ctx, TG_EINVAL, "%s: expected %d inputs, got %d", op->name, op->n_inputs, n_in);
        return NULL;
    }
    tg_tape *tape = ctx->active;
    if (!tape) {
        tg__error(ctx, TG_ESTATE, "%s: no active tape (call tg_tape_begin first)", op->name);
        return NULL;
    }
    bool want_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (tg__stale(in[i])) {
            tg__error(in[i]->ctx, TG_ESTATE,
                      "%s: input %d %s belongs to a tape that has ended (or been reset) since it was made; "
                      "a tape's tensors die with tg_tape_end",
                      op->name, i, tg__sh(in[i]));
            return NULL;
        }
        if (in[i]->ctx != ctx) {
            tg__error(ctx, TG_EINVAL, "%s: input %d belongs to another context", op->name, i);
            return NULL;
        }
        if (in[i]->node && in[i]->tape != tape) {
            tg__error(ctx, TG_ESTATE, "%s: input %d %s was recorded on another tape; tg_detach it first",
                      op->name, i, tg__sh(in[i]));
            return NULL;
        }
        if (in[i]->flags & TG_REQUIRES_GRAD) want_grad = true;
    }
    want_grad = want_grad && ctx->no_grad == 0;

    size_t attr_off = blk_round((size_t)n_in * sizeof(tg_tensor *));
    if (op->attr_size > SIZE_MAX / 2) {
        tg__error(ctx, TG_ENOMEM, "%s: out of memory", op->name);
        return NULL;
    }
    tg__slot *slot = tg__slot_new(tape);
    unsigned char *blk = slot ? tg__arena_alloc(&tape->arena, attr_off + op->attr_size) : NULL;
    if (!blk) {
        tg__error(ctx, TG_ENOMEM, "%s: out of memory", op->name);
        return NULL;
    }
    tg_node *n = &slot->n;
    tg_tensor **ins = (tg_tensor **)blk;
    void *a = op->attr_size ? blk + attr_off : NULL;
    for (int i = 0; i < n_in; i++) ins[i] = in[i];
    if (op->attr_size) {
        if (attr) memcpy(a, attr, op->attr_size);
        else memset(a, 0, op->attr_size);
    }
    *n = (tg_node){.op = op, .n_in = n_in, .in = ins, .attr = a, .ctx = ctx, .index = -1, .gen = tape->gen};
    if (g_site_depth > 0) {
        int top = (g_site_depth < SITE_MAX ? g_site_depth : SITE_MAX) - 1;
        n->file = g_site[top].file;
        n->line = g_site[top].line;
    }

    tg_out_spec spec = {0};
    spec.dtype = in[0]->dtype;
    /* The status a kernel leaves says whether it wrote its own message; an
     * earlier failure's status must not answer for it (error.c keeps the
     * last failure until the next one), so the kernels run with it cleared
     * and the earlier one comes back when they succeed. */
    tg_status before = ctx->err_status;
    ctx->err_status = TG_OK;
    tg_status st = op->infer(n, &spec);
    if (st) {
        if (ctx->err_status == TG_OK) tg__error(ctx, st, "%s: invalid input", op->name);
        return NULL;
    }
    int64_t numel = spec_numel(&spec);
    if (numel < 0) {
        if (tg__check_shape(ctx, op->name, spec.rank, spec.shape) == TG_OK)
            tg__error(ctx, TG_ESHAPE, "%s: invalid output shape", op->name); /* not reached */
        return NULL;
    }
    tg_tensor *out = new_output(tape, &slot->t, &spec, numel);
    if (!out) return NULL;
    n->out = out;
    st = op->forward(n);
    if (st) {
        if (ctx->err_status == TG_OK) tg__error(ctx, st, "%s: forward failed", op->name);
        return NULL;
    }
    if (ctx->err_status == TG_OK) ctx->err_status = before;
    if (ctx->cfg.anomaly) {
        int64_t k = first_nonfinite(out->data, out->dtype, out->numel);
        if (k >= 0) {
            char where[600];
            tg__error(ctx, TG_ENUMERIC, "anomaly: %s forward produced %g at output index %lld of %s (%s)",
                      op->name, tg__ld(out, k), (long long)k, tg__sh(out), site_text(n, where, sizeof where));
            return NULL;
        }
    }
    if (want_grad) {
        if (push_node(tape, n)) return NULL;
        out->node = n;
        out->flags |= TG_REQUIRES_GRAD;
    }
    return out;
}

/* ---- detach ---- */

tg_tensor *tg_detach(tg_tensor *x) {
    if (!x) return NULL;
    if (tg__check_live(x, "detach")) return NULL;
    tg_ctx *ctx = x->ctx;
    tg_tape *tape = ctx->active;
    if (!tape) {
        tg__error(ctx, TG_ESTATE, "detach: no active tape");
        return NULL;
    }
    tg__slot *slot = tg__slot_new(tape);
    tg_tensor *t = slot ? &slot->t : NULL;
    if (!t) {
        tg__error(ctx, TG_ENOMEM, "detach: out of memory");
        return NULL;
    }
    *t = *x;
    t->grad = NULL;
    t->grad_epoch = 0;
    t->node = NULL;
    t->tape = tape;
    t->gen = tape->gen;
    t->name = NULL;
    t->flags = 0;
    return t;
}

/* ---- backward: one generic reverse walk ---- */

/* Anomaly mode, before node n's backward: a gradient it will add to that is
 * already non-finite. Intermediate gradients are checked when written, so
 * this finds a leaf's or parameter's gradient that an earlier backward pass
 * left non-finite (not zeroed since): that pass is where it came from, not n. */
static tg_status anomaly_before(tg_ctx *ctx, const tg_node *n) {
    for (int j = 0; j < n->n_in; j++) {
        const tg_tensor *x = n->in[j];
        if (!tg_needs_grad(x) || !x->grad || x->node) continue; /* intermediates: fresh each pass */
        int64_t k = first_nonfinite(x->grad, x->dtype, x->numel);
        if (k < 0) continue;
        char where[600];
        return tg__error(ctx, TG_ENUMERIC,
                         "anomaly: the gradient of %s%s%s %s already held %g at index %lld when this "
                         "backward pass reached %s (input %d, node %lld, %s): it arrived non-finite from an "
                         "earlier backward pass (or was set so) and was not zeroed since (tg_zero_grad)",
                         x->name ? "parameter '" : "leaf", x->name ? x->name : "", x->name ? "'" : "",
                         tg__sh(x), grad_at(x, k), (long long)k, n->op->name, j,
                         (long long)n->index, site_text(n, where, sizeof where));
    }
    return TG_OK;
}

tg_status tg__run_backward(tg_tape *tape, tg_tensor *y, const void *dy) {
    tg_ctx *ctx = y->ctx;
    if (tg__stale(y))
        return tg__error(ctx, TG_ESTATE,
                         "backward: the output %s belongs to a tape that has ended (or been reset) since it "
                         "was made; a tape's tensors die with tg_tape_end",
                         tg__sh(y));
    if (!y->node || !tape || !tape->active || y->tape != tape)
        return tg__error(ctx, TG_ESTATE,
                         "backward: the output %s was not recorded on an active tape (does any "
                         "input require a gradient?)",
                         tg__sh(y));
    if (++tape->epoch == 0) tape->epoch = 1;
    void *g = tg_grad_buf(y);
    if (!g) return TG_ENOMEM;
    if (dy) {
        memcpy(g, dy, (size_t)y->numel * esize(y->dtype));
        int64_t k = ctx->cfg.anomaly ? first_nonfinite(g, y->dtype, y->numel) : -1;
        if (k >= 0)
            return tg__error(ctx, TG_ENUMERIC,
                             "anomaly: the seed dy given to backward holds %g at index %lld (output %s)",
                             grad_at(y, k), (long long)k, tg__sh(y));
    } else {
        for (int64_t i = 0; i < y->numel; i++) {
            if (y->dtype == TG_F32) ((float *)g)[i] = 1.0f;
            else ((double *)g)[i] = 1.0;
        }
    }
    for (int64_t i = y->node->index; i >= 0; i--) {
        tg_node *n = tape->nodes[i];
        if (n->out->grad_epoch != tape->epoch) continue; /* no gradient reached this node */
        if (!n->op->backward)
            return tg__error(ctx, TG_ENOGRAD,
                             "backward: %s has no gradient; wrap it in tg_no_grad or tg_detach its "
                             "output",
                             n->op->name);
        if (ctx->cfg.anomaly) {
            tg_status ast = anomaly_before(ctx, n);
            if (ast) return ast;
        }
        tg_status before = ctx->err_status; /* cleared around the kernel, as in tg_apply */
        ctx->err_status = TG_OK;
        tg_status st = n->op->backward(n);
        if (st) {
            if (ctx->err_status == TG_OK) tg__error(ctx, st, "%s: backward failed", n->op->name);
            return st;
        }
        if (ctx->err_status == TG_OK) ctx->err_status = before;
        if (ctx->cfg.anomaly) {
            for (int j = 0; j < n->n_in; j++) {
                tg_tensor *x = n->in[j];
                if (!tg_needs_grad(x) || !x->grad) continue;
                if (x->node && x->grad_epoch != tape->epoch) continue; /* not written in this pass */
                int64_t k = first_nonfinite(x->grad, x->dtype, x->numel);
                char where[600];
                if (k >= 0)
                    return tg__error(ctx, TG_ENUMERIC,
                                     "anomaly: %s backward produced %g in the gradient of input %d at "
                                     "index %lld of %s (node %lld, %s)",
                                     n->op->name, grad_at(x, k), j, (long long)k, tg__sh(x), (long long)n->index,
                                     site_text(n, where, sizeof where));
            }
        }
    }
    return TG_OK;
}

tg_status tg_backward(tg_tensor *loss) {
    if (!loss) return TG_EINVAL;
    if (tg__check_live(loss, "backward")) return TG_ESTATE;
    if (loss->numel != 1)
        return tg__error(loss->ctx, TG_ESHAPE,
                         "backward: the loss must have one element, got %s (use tg_backward_seeded)",
                         tg__sh(loss));
    return tg__run_backward(loss->tape, loss, NULL);
}

tg_status tg_backward_seeded(tg_tensor *y, const void *dy) {
    if (!y) return TG_EINVAL;
    if (tg__check_live(y, "backward_seeded")) return TG_ESTATE;
    if (!dy) return tg__error(y->ctx, TG_EINVAL, "backward_seeded: dy is NULL");
    return tg__run_backward(y->tape, y, dy);
}
