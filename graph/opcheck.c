/* opcheck.c: the registry sweep shared by test/test_ops.c and the gradcheck
 * tool. For every built-in op and every case of its check spec it runs:
 *  - f64 central-difference gradcheck (tg_gradcheck_op);
 * and with `full`:
 *  - f32 against f64 on the same (f32-representable) inputs, forward and
 *    backward, within 1e-5 relative;
 *  - a zero upstream gradient gives exactly zero input gradients;
 *  - backward twice on one tape gives bitwise-equal gradients;
 *  - the op applied twice to the same inputs gets both contributions
 *    (2x the single gradient within 1e-12 relative);
 *  - the same case with every input passed through an identity node, so the
 *    op's inputs are intermediates and its backward writes arena buffers
 *    through tg_grad_buf_fresh's assigning path (leaf inputs only ever take
 *    the adding one): backward twice, each pass equal to the leaf-input
 *    gradient within 1e-12 relative (the second pass finds last pass's values
 *    in the buffer, so a kernel that adds into a fresh buffer gives 2x), and
 *    the op applied twice to the same intermediates gives 2x (the first
 *    backward assigns, the second must add);
 *  - each bad-input case returns NULL with a message naming the op;
 *  - the spec has at least 3 cases, one of size 1, one with a zero-size
 *    input (a dimension 0: the header allows every dimension >= 0, and an
 *    empty product once crashed the GEMM's tiling), and a bad case. */
#include "graph_internal.h"

#include <math.h>
#include <stdio.h>


typedef struct {
    FILE *out;
    int pass, fail;
} tally;

static void line(tally *t, int ok, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void line(tally *t, int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (t->out) {
        vfprintf(t->out, fmt, ap);
        fprintf(t->out, " %s\n", ok ? "ok" : "FAIL");
    }
    va_end(ap);
    if (ok) t->pass++;
    else t->fail++;
}

/* Inputs of dtype dt for case `shapes`, values from the spec (rounded to f32
 * so both dtypes see the same numbers). Returns the count or -1. */
static int make_inputs(tg_ctx *ctx, const tg_op_def *op, const char *shapes, tg_dtype dt, uint64_t seed,
                       tg_tensor **in, int grad) {
    int n, rank[TG_MAX_INPUTS];
    int64_t shape[TG_MAX_INPUTS][TG_MAX_RANK];
    if (tg__parse_shapes(shapes, &n, rank, shape)) return -1;
    tg_rng_seed(ctx, seed);
    for (int i = 0; i < n; i++) {
        in[i] = tg_tensor_temp(ctx, dt, rank[i], shape[i]);
        if (!in[i]) return -1;
        for (int64_t j = 0; j < in[i]->numel; j++)
            tg__st(in[i], j, (double)(float)tg__sample_input(ctx, &op->check));
        if (grad && !(op->check.no_grad_inputs & (1u << i)) && tg_tensor_requires_grad(in[i], 1))
            return -1;
    }
    return n;
}

static void fill_w(tg_tensor *y, double *w) {
    for (int64_t i = 0; i < y->numel; i++) w[i] = (double)(float)((double)tg_philox(99, 3, (uint64_t)i) * 0x1.0p-31 - 1.0);
}

static void *seed_buf(tg_tape *tape, tg_tensor *y, const double *w) {
    void *b = tg__arena_alloc(&tape->arena, (size_t)(y->numel ? y->numel : 1) * 8);
    if (b)
        for (int64_t i = 0; i < y->numel; i++) {
            if (y->dtype == TG_F32) ((float *)b)[i] = (float)w[i];
            else ((double *)b)[i] = w[i];
        }
    return b;
}

/* max over i of |a_i - b_i| / max(|b_i|, mean|b|, 1e-30) */
static double rel_diff(const tg_tensor *a, const void *adata, const tg_tensor *b, const void *bdata) {
    tg_tensor ta = *a, tb = *b;
    ta.data = (void *)adata;
    tb.data = (void *)bdata;
    double mean = 0, worst = 0;
    for (int64_t i = 0; i < b->numel; i++) mean += fabs(tg__ld(&tb, i));
    mean /= (double)(b->numel ? b->numel : 1);
    for (int64_t i = 0; i < b->numel; i++) {
        double x = tg__ld(&ta, i), y = tg__ld(&tb, i);
        double d = fabs(x - y) / fmax(fmax(fabs(y), mean), 1e-30);
        if (isnan(x) != isnan(y)) d = INFINITY;
        if ((isnan(x) && isnan(y)) || x == y) d = 0; /* equal infinities (logsumexp of nothing: -inf) */
        if (d > worst || isnan(d)) worst = d;
    }
    return worst;
}

/* The identity as an op of its own: its output is an intermediate, so the op
 * under test reads it as a recorded tensor and writes its gradient into an
 * arena buffer (tg_grad_buf_fresh may say "assign"); its backward adds that
 * buffer into the leaf's gradient unchanged. f64 only (the sweep's inputs). */
static tg_status id_infer(tg_node *n, tg_out_spec *o) {
    o->dtype = n->in[0]->dtype;
    o->rank = n->in[0]->rank;
    memcpy(o->shape, n->in[0]->shape, sizeof(int64_t) * (size_t)o->rank);
    return TG_OK;
}
static tg_status id_forward(tg_node *n) {
    memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * 8);
    return TG_OK;
}
static tg_status id_backward(tg_node *n) {
    double *dx = tg_grad_buf(n->in[0]);
    const double *dy = n->out->grad;
    if (!dx) return TG_ENOMEM;
    for (int64_t i = 0; i < n->out->numel; i++) dx[i] += dy[i];
    return TG_OK;
}
static const tg_op_def identity_op = {
    .name = "opcheck_identity", .n_inputs = 1, .infer = id_infer, .forward = id_forward, .backward = id_backward};

/* 1 when every input gradient of in[] is within 1e-12 relative of scale *
 * ref (the leaf-input gradients laid end to end), per tensor's max. */
static int grads_match(tg_tensor **in, int n, const double *ref, double scale) {
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        double big = 0;
        for (int64_t j = 0; j < in[i]->numel; j++) big = fmax(big, fabs(scale * ref[off + j]));
        if (in[i]->grad)
            for (int64_t j = 0; j < in[i]->numel; j++) {
                double g = ((double *)in[i]->grad)[j], e = scale * ref[off + j];
                if (!(fabs(g - e) <= 1e-12 * big || g == e)) return 0;
            }
        off += in[i]->numel;
    }
    return 1;
}

/* The case again with its inputs behind identity nodes (see the header). */
static void check_fresh(const tg_op_def *op, const tg_check_case *cs, tg_tensor **leaf, int n, const void *wb,
                        const double *first, tally *t) {
    tg_ctx *ctx = leaf[0]->ctx;
    tg_tensor *mid[TG_MAX_INPUTS];
    int ok = 1, ok2 = 1;
    for (int i = 0; i < n && ok; i++) {
        /* inputs the op takes no gradient for (indices) stay as they are */
        mid[i] = (op->check.no_grad_inputs & (1u << i)) ? leaf[i] : tg_apply(&identity_op, &leaf[i], 1, NULL);
        if (!mid[i]) ok = 0;
    }
    tg_tensor *y = ok ? tg_apply(op, mid, n, cs->attr) : NULL;
    for (int pass = 0; pass < 2 && ok; pass++) {
        tg_zero_grad_of(leaf, n);
        ok = y && tg_backward_seeded(y, wb) == TG_OK && grads_match(leaf, n, first, 1.0);
    }
    line(t, ok, "%-14s fresh    %-14s %s", op->name, cs->shapes, ok ? "" : tg_last_error(ctx));
    tg_zero_grad_of(leaf, n);
    tg_tensor *y1 = ok ? tg_apply(op, mid, n, cs->attr) : NULL;
    tg_tensor *y2 = ok ? tg_apply(op, mid, n, cs->attr) : NULL;
    tg_tensor *s = y1 && y2 ? tg_add(y1, y2) : NULL;
    ok2 = s && tg_backward_seeded(s, wb) == TG_OK && grads_match(leaf, n, first, 2.0);
    line(t, ok2, "%-14s fresh-2x %-14s %s", op->name, cs->shapes, ok2 ? "" : tg_last_error(ctx));
}

/* Run op on the case in dtype dt; backward seeded with w. Copies output and
 * input grads out (as doubles). */
typedef struct {
    tg_tensor *in[TG_MAX_INPUTS];
    int n;
    tg_tensor *y;
} run_t;

static void check_case(tg_ctx *ctx, const tg_op_def *op, const tg_check_case *cs, tally *t) {
    const char *name = op->name;
    /* f32 vs f64 */
    tg_tape *tape = tg_tape_begin(ctx);
    run_t r[2] = {0};
    double *w = NULL;
    int ok = 1;
    for (int d = 0; d < 2; d++) {
        r[d].n = make_inputs(ctx, op, cs->shapes, d ? TG_F64 : TG_F32, 1234, r[d].in, op->backward != NULL);
        if (r[d].n < 0) {
            ok = 0;
            break;
        }
        r[d].y = tg_apply(op, r[d].in, r[d].n, cs->attr);
        if (!r[d].y) {
            ok = 0;
            break;
        }
        if (!w) {
            w = tg__malloc((size_t)(r[d].y->numel ? r[d].y->numel : 1) * sizeof(double));
            if (!w) {
                ok = 0;
                break;
            }
            fill_w(r[d].y, w);
        }
        if (op->backward && r[d].y->node) {
            void *b = seed_buf(tape, r[d].y, w);
            if (!b || tg_backward_seeded(r[d].y, b)) ok = 0;
        }
    }
    if (!ok) {
        line(t, 0, "%-14s f32/f64  %-14s error: %s", name, cs->shapes, tg_last_error(ctx));
        tg_tape_end(tape);
        tg__free(w);
        return;
    }
    double fwd = rel_diff(r[0].y, r[0].y->data, r[1].y, r[1].y->data), bwd = 0;
    if (op->backward)
        for (int i = 0; i < r[0].n; i++)
            if (r[0].in[i]->grad && r[1].in[i]->grad) {
                double e = rel_diff(r[0].in[i], r[0].in[i]->grad, r[1].in[i], r[1].in[i]->grad);
                if (e > bwd) bwd = e;
            }
    line(t, fwd <= 1e-5 && bwd <= 1e-5, "%-14s f32/f64  %-14s fwd rel %.2e bwd rel %.2e", name, cs->shapes,
         fwd, bwd);
    if (!op->backward) {
        tg_tape_end(tape);
        tg__free(w);
        return;
    }

    /* zero upstream -> exactly zero grads; backward twice -> bitwise equal */
    tg_tensor *y = r[1].y;
    int64_t ny = y->numel;
    double *zero = tg__arena_alloc(&tape->arena, (size_t)(ny ? ny : 1) * 8);
    int zok = zero != NULL;
    if (zero) {
        memset(zero, 0, (size_t)(ny ? ny : 1) * 8);
        tg_zero_grad_of(r[1].in, r[1].n);
        zok = tg_backward_seeded(y, zero) == TG_OK;
        for (int i = 0; i < r[1].n && zok; i++)
            if (r[1].in[i]->grad)
                for (int64_t j = 0; j < r[1].in[i]->numel; j++)
                    if (((double *)r[1].in[i]->grad)[j] != 0.0) zok = 0;
    }
    line(t, zok, "%-14s zero-dy  %-14s", name, cs->shapes);

    int tok = 1;
    double *first = NULL;
    int64_t total = 0;
    for (int i = 0; i < r[1].n; i++) total += r[1].in[i]->numel;
    first = tg__arena_alloc(&tape->arena, (size_t)(total ? total : 1) * 8);
    void *wb = seed_buf(tape, y, w);
    if (!first || !wb) tok = 0;
    for (int pass = 0; pass < 2 && tok; pass++) {
        tg_zero_grad_of(r[1].in, r[1].n);
        if (tg_backward_seeded(y, wb)) {
            tok = 0;
            break;
        }
        int64_t off = 0;
        for (int i = 0; i < r[1].n; i++) {
            size_t bytes = (size_t)r[1].in[i]->numel * 8;
            if (r[1].in[i]->grad) {
                if (pass == 0) memcpy(first + off, r[1].in[i]->grad, bytes);
                else if (memcmp(first + off, r[1].in[i]->grad, bytes) != 0) tok = 0;
            }
            off += r[1].in[i]->numel;
        }
    }
    line(t, tok, "%-14s twice    %-14s", name, cs->shapes);

    /* used twice: add(op(x), op(x)) gives exactly 2x the single gradient */
    int uok = first != NULL;
    if (uok) {
        tg_zero_grad_of(r[1].in, r[1].n);
        tg_tensor *y1 = tg_apply(op, r[1].in, r[1].n, cs->attr);
        tg_tensor *y2 = tg_apply(op, r[1].in, r[1].n, cs->attr);
        tg_tensor *s = tg_add(y1, y2);
        if (!s || tg_backward_seeded(s, wb)) uok = 0;
        int64_t off = 0;
        for (int i = 0; i < r[1].n && uok; i++) {
            double scale = 0;
            for (int64_t j = 0; j < r[1].in[i]->numel; j++) scale = fmax(scale, fabs(2.0 * first[off + j]));
            if (r[1].in[i]->grad)
                for (int64_t j = 0; j < r[1].in[i]->numel; j++) {
                    /* Equal up to rounding: a kernel that accumulates into
                     * the gradient buffer (GEMM with beta = 1) adds the second
                     * contribution term by term, not as one sum. */
                    double g = ((double *)r[1].in[i]->grad)[j], e = 2.0 * first[off + j];
                    if (!(fabs(g - e) <= 1e-12 * scale || g == e)) uok = 0;
                }
            off += r[1].in[i]->numel;
        }
    }
    line(t, uok, "%-14s used-2x  %-14s %s", name, cs->shapes, uok ? "" : tg_last_error(ctx));
    if (first && wb) check_fresh(op, cs, r[1].in, r[1].n, wb, first, t);
    else {
        line(t, 0, "%-14s fresh    %-14s out of memory", name, cs->shapes);
        line(t, 0, "%-14s fresh-2x %-14s out of memory", name, cs->shapes);
    }
    tg_tape_end(tape);
    tg__free(w);
}

int tg__opcheck_run(const char *only, int full, FILE *out, int *n_pass, int *n_fail) {
    tally t = {out, 0, 0};
    tg_ctx *ctx = tg_ctx_new(NULL);
    if (!ctx) return TG_ENOMEM;
    int matched = 0;
    for (int k = 0; k < tg_op_count(); k++) {
        const tg_op_def *op = tg_op_at(k);
        if (only && strcmp(only, op->name) != 0) continue;
        matched++;
        const tg_check_spec *sp = &op->check;
        int ncase = 0, size1 = 0, empty = 0, nbad = 0, bcast = 0;
        /* Broadcasting ops must be checked on a case whose input shapes differ. */
        int needs_bcast = op->infer == tg__infer_broadcast;
        for (int c = 0; c < TG_MAX_CHECK_CASES && sp->cases[c].shapes; c++) {
            const tg_check_case *cs = &sp->cases[c];
            ncase++;
            int n, rank[TG_MAX_INPUTS];
            int64_t shape[TG_MAX_INPUTS][TG_MAX_RANK];
            if (!tg__parse_shapes(cs->shapes, &n, rank, shape))
                for (int i = 0; i < n; i++) {
                    if (tg__numel(rank[i], shape[i]) == 1) size1 = 1;
                    if (tg__numel(rank[i], shape[i]) == 0) empty = 1;
                    if (i > 0 && (rank[i] != rank[0] ||
                                  memcmp(shape[i], shape[0], sizeof(int64_t) * (size_t)rank[0]) != 0))
                        bcast = 1;
                }
            if (op->backward) {
                tg_check_report rep;
                tg_clear_error(ctx);
                tg_rng_seed(ctx, 1000 + (uint64_t)c);
                tg_status st = tg_gradcheck_op(ctx, op, cs->shapes, cs->attr, NULL, &rep);
                line(&t, st == TG_OK && rep.ok, "%-14s f64      %-14s max abs %.2e max rel %.2e%s%s", op->name,
                     cs->shapes, rep.max_abs_err, rep.max_rel_err, st ? " : " : "", st ? tg_last_error(ctx) : "");
            }
            if (full) check_case(ctx, op, cs, &t);
        }
        if (!full) continue;
        for (int b = 0; b < TG_MAX_BAD_CASES && sp->bad[b].shapes; b++) {
            nbad++;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *in[TG_MAX_INPUTS];
            tg_clear_error(ctx);
            int n = make_inputs(ctx, op, sp->bad[b].shapes, TG_F64, 7, in, 0);
            tg_tensor *y = n > 0 ? tg_apply(op, in, n, sp->bad[b].attr) : NULL;
            const char *msg = tg_last_error(ctx);
            int ok = n > 0 && y == NULL && strstr(msg, op->name) == msg;
            line(&t, ok, "%-14s bad      %-14s \"%s\"", op->name, sp->bad[b].shapes, msg);
            tg_tape_end(tape);
        }
        line(&t, ncase >= 3 && size1 && empty && nbad >= 1 && (bcast || !needs_bcast),
             "%-14s spec     cases=%d size1=%d empty=%d broadcast=%s bad=%d", op->name, ncase, size1, empty,
             needs_bcast ? (bcast ? "yes" : "MISSING") : "n/a", nbad);
    }
    if (only && !matched) {
        if (out) fprintf(out, "no op named '%s'\n", only);
        t.fail++;
    }
    tg_ctx_free(ctx);
    *n_pass = t.pass;
    *n_fail = t.fail;
    return TG_OK;
}
