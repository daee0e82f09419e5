/* rnn.c: recurrent cells (simple RNN, LSTM, GRU), stacked and bidirectional
 * wrappers, and the state carried between chunks in truncated BPTT.
 *
 * Every cell is a short chain of ordinary ops (matmul, add, narrow/split,
 * sigmoid, tanh, mul, sub). No cell has a backward of its own: unrolling T
 * steps on one tape records T copies of that chain over the same parameter
 * tensors, and the tape's reverse walk is back-propagation through time, with
 * each weight's gradient summed over the steps by the usual +=.
 *
 * Row-vector convention (as tg_dense): x (B, I), h (B, H), weights (in, out),
 * so the lecture's W·x is x·Wx here with Wx = Wᵀ. The gates of one cell share
 * one matmul: Wx is (I, G·H) with the gate blocks side by side, in the order
 *   LSTM  i, f, o, c̃      GRU  r, z, h̃ (n)
 * and a gate is a narrow of the (B, G·H) pre-activation. */
#include "graph_internal.h"

#include <math.h>
#include <stdio.h>

static int gates_of(tg_cell_kind k) {
    switch (k) {
    case TG_CELL_RNN_TANH:
    case TG_CELL_RNN_RELU: return 1;
    case TG_CELL_LSTM: return 4;
    case TG_CELL_GRU:
    case TG_CELL_GRU_TORCH: return 3;
    }
    return 0;
}

const char *tg_cell_kind_name(tg_cell_kind k) {
    switch (k) {
    case TG_CELL_RNN_TANH: return "rnn";
    case TG_CELL_RNN_RELU: return "rnn_relu";
    case TG_CELL_LSTM: return "lstm";
    case TG_CELL_GRU: return "gru";
    case TG_CELL_GRU_TORCH: return "gru_torch";
    }
    return "unknown";
}

int tg_cell_kind_parse(const char *name) {
    if (!name) return -1;
    for (int k = TG_CELL_RNN_TANH; k <= TG_CELL_GRU_TORCH; k++)
        if (!strcmp(name, tg_cell_kind_name((tg_cell_kind)k))) return k;
    if (!strcmp(name, "rnn_tanh")) return TG_CELL_RNN_TANH;
    return -1;
}

/* A cell named "<name><sub>": sub is "" for tg_cell_init and ".l<k>[r]" for
 * the cells of a tg_rnn, so the name limit is checked on the user's name. */
static tg_status cell_init(tg_cell *c, tg_ctx *ctx, const char *name, const char *sub, tg_cell_kind kind, int64_t in,
                           int64_t hidden, tg_dtype dt) {
    memset(c, 0, sizeof *c);
    int G = gates_of(kind);
    if (G == 0) return tg__error(ctx, TG_EINVAL, "cell_init: '%s%s': unknown cell kind %d", name, sub, (int)kind);
    if (in <= 0 || hidden <= 0)
        return tg__error(ctx, TG_EINVAL, "cell_init: '%s%s' needs in > 0 and hidden > 0, got in=%lld hidden=%lld",
                         name, sub, (long long)in, (long long)hidden);
    int64_t H = hidden, GH = (int64_t)G * H;
    tg__param_spec ps[4] = {{"Wx", 2, {in, GH}, &c->Wx},
                            {"Wh", 2, {H, kind == TG_CELL_GRU ? 2 * H : GH}, &c->Wh},
                            {"b", 1, {GH}, &c->b}};
    int n = 3;
    if (kind == TG_CELL_GRU) ps[n++] = (tg__param_spec){"Uc", 2, {H, H}, &c->Uc};
    if (kind == TG_CELL_GRU_TORCH) ps[n++] = (tg__param_spec){"bhn", 1, {H}, &c->bhn};
    tg_status st = tg__layer_params(ctx, "cell_init", name, sub, dt, ps, n);
    if (st) return st;
    c->kind = kind;
    c->in = in;
    c->hidden = hidden;
    /* PyTorch's default for its recurrent layers: every weight and bias from
     * U(-1/√H, 1/√H). */
    double a = 1.0 / sqrt((double)H);
    tg_tensor *all[5] = {c->Wx, c->Wh, c->b, c->Uc, c->bhn};
    for (int i = 0; i < 5; i++)
        if (all[i]) tg_init_uniform(all[i], -a, a);
    return TG_OK;
}

tg_status tg_cell_init(tg_cell *c, tg_ctx *ctx, const char *name, tg_cell_kind kind, int64_t in, int64_t hidden,
                       tg_dtype dt) {
    if (!ctx) return TG_EINVAL;
    if (!c || !name) return tg__error(ctx, TG_EINVAL, "cell_init: cell and name must not be NULL");
    return cell_init(c, ctx, name, "", kind, in, hidden, dt);
}

void tg_cell_free(tg_cell *c) {
    if (c) memset(c, 0, sizeof *c);
}

int tg_cell_params(const tg_cell *c, tg_tensor **out) {
    if (!c) return 0;
    tg_tensor *ps[5] = {c->Wx, c->Wh, c->b, c->Uc, c->bhn};
    int n = 0;
    for (int i = 0; i < 5; i++)
        if (ps[i]) {
            if (out) out[n] = ps[i];
            n++;
        }
    return n;
}

/* ---- states ---- */

tg_status tg_rnn_state_zeros(const tg_cell *c, tg_ctx *ctx, int64_t B, tg_rnn_state *s) {
    if (!ctx) return TG_EINVAL;
    if (!c || !c->Wx || !s) return tg__error(ctx, TG_EINVAL, "rnn_state_zeros: cell or state is NULL");
    s->h = s->c = NULL;
    if (B < 0) return tg__error(ctx, TG_EINVAL, "rnn_state_zeros: batch %lld is negative", (long long)B);
    int64_t shape[2] = {B, c->hidden};
    s->h = tg_tensor_temp(ctx, c->Wx->dtype, 2, shape);
    if (c->kind == TG_CELL_LSTM) s->c = tg_tensor_temp(ctx, c->Wx->dtype, 2, shape);
    if (!s->h || (c->kind == TG_CELL_LSTM && !s->c)) {
        s->h = s->c = NULL;
        return tg_last_status(ctx) ? tg_last_status(ctx) : TG_ENOMEM;
    }
    return TG_OK;
}

/* ---- one step ---- */

/* Shapes of x (B, I) and a state tensor (B, H) against the cell; 0 when they
 * fit. `who` starts the message. */
static tg_status check_step(const tg_cell *c, const char *who, tg_tensor *x, tg_tensor *h, tg_tensor *cs) {
    tg_ctx *ctx = x->ctx;
    if (!c || !c->Wx || !c->Wh || !c->b)
        return tg__error(ctx, TG_EINVAL, "%s: the cell is not initialized (input %s)", who, tg__sh(x));
    if (x->rank != 2 || x->shape[1] != c->in)
        return tg__error(ctx, TG_ESHAPE, "%s: input %s does not fit Wx %s: expected (B,%lld)", who, tg__sh(x),
                         tg__sh(c->Wx), (long long)c->in);
    int64_t B = x->shape[0];
    if (h->rank != 2 || h->shape[0] != B || h->shape[1] != c->hidden)
        return tg__error(ctx, TG_ESHAPE, "%s: state h %s does not fit input %s: expected (%lld,%lld)", who,
                         tg__sh(h), tg__sh(x), (long long)B, (long long)c->hidden);
    if (cs && (cs->rank != 2 || cs->shape[0] != B || cs->shape[1] != c->hidden))
        return tg__error(ctx, TG_ESHAPE, "%s: state c %s does not fit input %s: expected (%lld,%lld)", who,
                         tg__sh(cs), tg__sh(x), (long long)B, (long long)c->hidden);
    return TG_OK;
}

static tg_status kind_error(const tg_cell *c, tg_tensor *x, const char *who, const char *want) {
    return tg__error(x->ctx, TG_EINVAL, "%s: the cell is %s, not %s (input %s)", who,
                     c ? tg_cell_kind_name(c->kind) : "NULL", want, tg__sh(x));
}

/* xw = x·Wx + b (B, G·H): the input side of every gate, bias included. */
static tg_tensor *input_side(const tg_cell *c, tg_tensor *x) { return tg_addmm(c->b, x, c->Wx); }

static tg_status last_status(tg_ctx *ctx) { return tg_last_status(ctx) ? tg_last_status(ctx) : TG_EINVAL; }

/* One step from the input side xw (B, G·H) and the state *s (shapes already
 * checked). *out may be s. */
static tg_status step_xw(const tg_cell *c, tg_tensor *xw, tg_rnn_state s, tg_rnn_state *out) {
    tg_ctx *ctx = xw->ctx;
    int64_t H = c->hidden;
    tg_tensor *h = s.h, *hn = NULL, *cn = NULL;
    switch (c->kind) {
    case TG_CELL_RNN_TANH:
    case TG_CELL_RNN_RELU: {
        tg_tensor *a = tg_addmm(xw, h, c->Wh); /* x·Wx + b + h·Wh */
        hn = c->kind == TG_CELL_RNN_RELU ? tg_relu(a) : tg_tanh(a);
        break;
    }
    case TG_CELL_LSTM: {
        /* i, f, o share one sigmoid over (B, 3H); c̃ is tanh of the last H. */
        tg_tensor *a = tg_addmm(xw, h, c->Wh), *part[2], *g[3];
        int64_t sz2[2] = {3 * H, H}, sz3[3] = {H, H, H};
        if (!a || tg_split(a, 1, sz2, 2, part) || tg_split(tg_sigmoid(part[0]), 1, sz3, 3, g)) return last_status(ctx);
        cn = tg_add(tg_mul(g[1], s.c), tg_mul(g[0], tg_tanh(part[1]))); /* c' = f⊙c + i⊙c̃ */
        hn = tg_mul(g[2], tg_tanh(cn));                                  /* h' = o⊙tanh(c') */
        break;
    }
    case TG_CELL_GRU:
    case TG_CELL_GRU_TORCH: {
        int64_t sz2[2] = {2 * H, H}, szh[2] = {H, H};
        tg_tensor *ax[2], *rz[2], *cand;
        if (tg_split(xw, 1, sz2, 2, ax)) return last_status(ctx);
        if (c->kind == TG_CELL_GRU) {
            /* lectures: r, z = σ(x·W + h·U + b); h̃ = tanh(x·Wc + (r⊙h)·Uc + bc) */
            if (tg_split(tg_sigmoid(tg_addmm(ax[0], h, c->Wh)), 1, szh, 2, rz)) return last_status(ctx);
            cand = tg_tanh(tg_addmm(ax[1], tg_mul(rz[0], h), c->Uc));
        } else {
            /* PyTorch: r, z as above; n = tanh(x·Wn + bn + r⊙(h·Un + bhn)) */
            tg_tensor *u[2];
            if (tg_split(tg_matmul(h, c->Wh), 1, sz2, 2, u)) return last_status(ctx);
            if (tg_split(tg_sigmoid(tg_add(ax[0], u[0])), 1, szh, 2, rz)) return last_status(ctx);
            cand = tg_tanh(tg_add(ax[1], tg_mul(rz[0], tg_add(u[1], c->bhn))));
        }
        /* h' = z⊙h + (1-z)⊙h̃, computed as h̃ + z⊙(h - h̃) */
        hn = tg_add(cand, tg_mul(rz[1], tg_sub(h, cand)));
        break;
    }
    }
    if (!hn) return last_status(ctx);
    out->h = hn;
    out->c = cn;
    return TG_OK;
}

static int cell_ready(const tg_cell *c) {
    return c && c->Wx && c->Wh && c->b && (c->kind != TG_CELL_GRU || c->Uc) && (c->kind != TG_CELL_GRU_TORCH || c->bhn);
}

/* One step of any kind once the kind is known to fit: shapes, parameters,
 * then the input side and step_xw. `who` starts the messages. */
static tg_status one_step(const tg_cell *c, const char *who, tg_tensor *x, tg_rnn_state in, tg_rnn_state *out) {
    tg_status st = check_step(c, who, x, in.h, in.c);
    if (st) return st;
    if (!cell_ready(c))
        return tg__error(x->ctx, TG_EINVAL, "%s: the cell is not initialized (input %s)", who, tg__sh(x));
    tg_tensor *xw = input_side(c, x);
    return xw ? step_xw(c, xw, in, out) : last_status(x->ctx);
}

/* The step of a cell whose state is h alone (RNN, GRU), if c's kind is
 * `kind` or `kind2`. */
static tg_tensor *h_step(const tg_cell *c, tg_tensor *x, tg_tensor *h, tg_cell_kind kind, tg_cell_kind kind2,
                         const char *who, const char *want) {
    if (!x || !h) return NULL;
    if (!c || (c->kind != kind && c->kind != kind2)) {
        kind_error(c, x, who, want);
        return NULL;
    }
    tg_rnn_state out;
    return one_step(c, who, x, (tg_rnn_state){h, NULL}, &out) == TG_OK ? out.h : NULL;
}

tg_tensor *tg_rnn_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h) {
    return h_step(c, x, h, TG_CELL_RNN_TANH, TG_CELL_RNN_RELU, "rnn_cell", "rnn or rnn_relu");
}

tg_status tg_lstm_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h, tg_tensor *cs, tg_tensor **h_out,
                       tg_tensor **c_out) {
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    if (!x || !h || !cs) return TG_EINVAL; /* keep the first message */
    if (!h_out || !c_out) return tg__error(x->ctx, TG_EINVAL, "lstm_cell: h_out and c_out must not be NULL");
    if (!c || c->kind != TG_CELL_LSTM) return kind_error(c, x, "lstm_cell", "lstm");
    tg_rnn_state out;
    tg_status st = one_step(c, "lstm_cell", x, (tg_rnn_state){h, cs}, &out);
    if (st) return st;
    *h_out = out.h;
    *c_out = out.c;
    return TG_OK;
}

tg_tensor *tg_gru_cell(const tg_cell *c, tg_tensor *x, tg_tensor *h) {
    return h_step(c, x, h, TG_CELL_GRU, TG_CELL_GRU_TORCH, "gru_cell", "gru or gru_torch");
}

tg_status tg_cell_step(const tg_cell *c, tg_tensor *x, const tg_rnn_state *s, tg_rnn_state *out) {
    if (!out) return x ? tg__error(x->ctx, TG_EINVAL, "cell_step: out is NULL") : TG_EINVAL;
    tg_rnn_state in = s ? *s : (tg_rnn_state){NULL, NULL}; /* out may be s */
    out->h = out->c = NULL;
    if (!x || !in.h) return TG_EINVAL;
    if (!c) return kind_error(c, x, "cell_step", "an initialized cell");
    tg_rnn_state r = {NULL, NULL};
    switch (c->kind) {
    case TG_CELL_LSTM: {
        if (!in.c) return tg__error(x->ctx, TG_EINVAL, "cell_step: an LSTM state needs c (input %s)", tg__sh(x));
        tg_status st = tg_lstm_cell(c, x, in.h, in.c, &r.h, &r.c);
        if (st) return st;
        break;
    }
    case TG_CELL_GRU:
    case TG_CELL_GRU_TORCH: r.h = tg_gru_cell(c, x, in.h); break;
    default: r.h = tg_rnn_cell(c, x, in.h); break;
    }
    if (!r.h) return last_status(x->ctx);
    *out = r;
    return TG_OK;
}

/* ---- stacked and bidirectional ---- */

tg_status tg_rnn_init(tg_rnn *r, tg_ctx *ctx, const char *name, tg_cell_kind kind, int64_t in, int64_t hidden,
                      int layers, int bidirectional, tg_dtype dt) {
    if (!ctx) return TG_EINVAL;
    if (!r || !name) return tg__error(ctx, TG_EINVAL, "rnn_init: rnn and name must not be NULL");
    memset(r, 0, sizeof *r);
    if (layers < 1 || layers > TG_RNN_MAX_LAYERS)
        return tg__error(ctx, TG_EINVAL, "rnn_init: '%s': layers must be 1..%d, got %d", name, TG_RNN_MAX_LAYERS,
                         layers);
    size_t len = strlen(name);
    if (len < 1 || len > TG_LAYER_NAME_MAX)
        return tg__error(ctx, TG_EINVAL, "rnn_init: a layer name needs 1 to %d bytes (got %zu)", TG_LAYER_NAME_MAX,
                         len);
    int dirs = bidirectional ? 2 : 1;
    int keep = tg_param_count(ctx); /* all cells or none */
    for (int l = 0; l < layers; l++)
        for (int d = 0; d < dirs; d++) {
            char sub[16];
            snprintf(sub, sizeof sub, ".l%d%s", l, d ? "r" : "");
            int64_t lin = l == 0 ? in : (int64_t)dirs * hidden;
            tg_status st = cell_init(&r->cell[l][d], ctx, name, sub, kind, lin, hidden, dt);
            if (st) {
                tg__params_truncate(ctx, keep);
                memset(r, 0, sizeof *r);
                return st;
            }
        }
    r->kind = kind;
    r->layers = layers;
    r->dirs = dirs;
    r->in = in;
    r->hidden = hidden;
    return TG_OK;
}

void tg_rnn_free(tg_rnn *r) {
    if (r) memset(r, 0, sizeof *r);
}

int tg_rnn_params(const tg_rnn *r, tg_tensor **out) {
    if (!r) return 0;
    int n = 0;
    for (int l = 0; l < r->layers; l++)
        for (int d = 0; d < r->dirs; d++) n += tg_cell_params(&r->cell[l][d], out ? out + n : NULL);
    return n;
}

static void *tape_array(tg_ctx *ctx, size_t count, size_t size) {
    void *p = ctx->active ? tg__arena_alloc(&ctx->active->arena, count * size) : NULL;
    if (!p) tg__error(ctx, TG_ENOMEM, "rnn_forward: out of memory for %zu step pointers", count);
    return p;
}

/* A given initial state must be (B,H) (and have c for an LSTM). */
static tg_status check_init(const tg_cell *c, tg_ctx *ctx, const tg_rnn_state *s, int i, int64_t B) {
    const tg_tensor *ts[2] = {s->h, c->kind == TG_CELL_LSTM ? s->c : NULL};
    for (int k = 0; k < (c->kind == TG_CELL_LSTM ? 2 : 1); k++) {
        if (!ts[k]) return tg__error(ctx, TG_EINVAL, "rnn_forward: init[%d].%s is NULL", i, k ? "c" : "h");
        if (ts[k]->rank != 2 || ts[k]->shape[0] != B || ts[k]->shape[1] != c->hidden || ts[k]->dtype != c->Wx->dtype)
            return tg__error(ctx, TG_ESHAPE, "rnn_forward: init[%d].%s is %s %s, expected (%lld,%lld) %s", i,
                             k ? "c" : "h", tg__sh(ts[k]), tg_dtype_name(ts[k]->dtype), (long long)B,
                             (long long)c->hidden, tg_dtype_name(c->Wx->dtype));
    }
    return TG_OK;
}

tg_status tg_rnn_forward(const tg_rnn *r, tg_tensor *const *xs, int T, const tg_rnn_state *init,
                         tg_rnn_state *final, tg_tensor **ys) {
    if (!xs || T < 1 || !xs[0]) return TG_EINVAL;
    tg_ctx *ctx = xs[0]->ctx;
    if (!r || r->layers < 1 || r->dirs < 1)
        return tg__error(ctx, TG_EINVAL, "rnn_forward: the rnn is not initialized (input %s)", tg__sh(xs[0]));
    if (!ys) return tg__error(ctx, TG_EINVAL, "rnn_forward: ys is NULL");
    if (!ctx->active) return tg__error(ctx, TG_ESTATE, "rnn_forward: no active tape (call tg_tape_begin first)");
    int64_t B = xs[0]->rank == 2 ? xs[0]->shape[0] : -1;
    for (int t = 0; t < T; t++) {
        if (!xs[t]) return TG_EINVAL;
        if (xs[t]->rank != 2 || xs[t]->shape[0] != B || xs[t]->shape[1] != r->in)
            return tg__error(ctx, TG_ESHAPE, "rnn_forward: xs[%d] is %s; every step must be (B,%lld) with B = %lld",
                             t, tg__sh(xs[t]), (long long)r->in, (long long)B);
    }
    if (init)
        for (int l = 0; l < r->layers; l++)
            for (int d = 0; d < r->dirs; d++) {
                tg_status st = check_init(&r->cell[l][d], ctx, &init[l * r->dirs + d], l * r->dirs + d, B);
                if (st) return st;
            }
    for (int t = 0; t < T; t++) ys[t] = NULL;
    tg_tensor **in = (tg_tensor **)xs;
    tg_tensor **out[2] = {tape_array(ctx, (size_t)T, sizeof(tg_tensor *)),
                          r->dirs == 2 ? tape_array(ctx, (size_t)T, sizeof(tg_tensor *)) : NULL};
    if (!out[0] || (r->dirs == 2 && !out[1])) return TG_ENOMEM;
    for (int l = 0; l < r->layers; l++) {
        /* The input side of every step in one matmul: (T·B, I)·Wx, one GEMM
         * with T·B rows instead of T with B rows; each step narrows its rows. */
        tg_tensor *X = T > 1 ? tg_concat(in, T, 0) : in[0];
        if (!X) return last_status(ctx);
        for (int d = 0; d < r->dirs; d++) {
            const tg_cell *c = &r->cell[l][d];
            if (!cell_ready(c))
                return tg__error(ctx, TG_EINVAL, "rnn_forward: cell [%d][%d] is not initialized", l, d);
            tg_tensor *XW = input_side(c, X);
            if (!XW) return last_status(ctx);
            tg_rnn_state s;
            if (init) {
                s = init[l * r->dirs + d];
            } else {
                tg_status st = tg_rnn_state_zeros(c, ctx, B, &s);
                if (st) return st;
            }
            for (int k = 0; k < T; k++) {
                int t = d == 0 ? k : T - 1 - k;
                tg_tensor *xw = T > 1 ? tg_narrow(XW, 0, (int64_t)t * B, B) : XW;
                tg_status st = xw ? step_xw(c, xw, s, &s) : last_status(ctx);
                if (st) return st;
                out[d][t] = s.h;
            }
            if (final) final[l * r->dirs + d] = s;
        }
        tg_tensor **next = l + 1 < r->layers ? tape_array(ctx, (size_t)T, sizeof(tg_tensor *)) : ys;
        if (!next) return TG_ENOMEM;
        for (int t = 0; t < T; t++) {
            tg_tensor *pair[2] = {out[0][t], r->dirs == 2 ? out[1][t] : NULL};
            next[t] = r->dirs == 2 ? tg_concat(pair, 2, 1) : out[0][t];
            if (!next[t]) return last_status(ctx);
        }
        in = next;
    }
    return TG_OK;
}

/* ---- truncated BPTT: state carried between chunks ---- */

tg_status tg_rnn_carry_init(tg_rnn_carry *cr, const tg_rnn *r, tg_ctx *ctx, int64_t B) {
    if (!ctx) return TG_EINVAL;
    if (!cr || !r || r->layers < 1) return tg__error(ctx, TG_EINVAL, "rnn_carry_init: carry or rnn is NULL");
    memset(cr, 0, sizeof *cr);
    if (B < 1) return tg__error(ctx, TG_EINVAL, "rnn_carry_init: batch %lld must be >= 1", (long long)B);
    cr->n = r->layers * r->dirs;
    cr->dirs = r->dirs;
    int64_t shape[2] = {B, r->hidden};
    tg_dtype dt = r->cell[0][0].Wx->dtype;
    for (int i = 0; i < cr->n; i++) {
        cr->s[i].h = tg_tensor_new(ctx, dt, 2, shape);
        if (r->kind == TG_CELL_LSTM) cr->s[i].c = tg_tensor_new(ctx, dt, 2, shape);
        if (!cr->s[i].h || (r->kind == TG_CELL_LSTM && !cr->s[i].c)) {
            tg_rnn_carry_free(cr);
            return tg_last_status(ctx) ? tg_last_status(ctx) : TG_ENOMEM;
        }
    }
    return TG_OK;
}

static void copy_values(tg_tensor *dst, const tg_tensor *src) {
    memcpy(dst->data, src->data, (size_t)dst->numel * tg_dtype_size(dst->dtype));
}

tg_status tg_rnn_carry_store(tg_rnn_carry *cr, const tg_rnn_state *final) {
    if (!cr || cr->n < 1 || !cr->s[0].h) return TG_EINVAL;
    tg_ctx *ctx = cr->s[0].h->ctx;
    if (!final) return tg__error(ctx, TG_EINVAL, "rnn_carry_store: final is NULL");
    for (int i = 0; i < cr->n; i++) {
        const tg_rnn_state *f = &final[i];
        tg_tensor *pairs[2][2] = {{cr->s[i].h, f->h}, {cr->s[i].c, f->c}};
        for (int k = 0; k < 2; k++) {
            tg_tensor *dst = pairs[k][0], *src = pairs[k][1];
            if (!dst) continue;
            if (!src || !tg_shape_eq(dst, src) || src->dtype != dst->dtype)
                return tg__error(ctx, TG_ESHAPE, "rnn_carry_store: state %d %s is %s, the carry holds %s", i,
                                 k ? "c" : "h", src ? tg__sh(src) : "NULL", tg__sh(dst));
        }
    }
    for (int i = 0; i < cr->n; i++) {
        if (cr->dirs == 2 && i % 2 == 1) {
            /* A reverse direction starts after the chunk's end: nothing to carry. */
            tg_tensor_fill(cr->s[i].h, 0);
            if (cr->s[i].c) tg_tensor_fill(cr->s[i].c, 0);
            continue;
        }
        copy_values(cr->s[i].h, final[i].h);
        if (cr->s[i].c) copy_values(cr->s[i].c, final[i].c);
    }
    return TG_OK;
}

void tg_rnn_carry_zero(tg_rnn_carry *cr) {
    if (!cr) return;
    for (int i = 0; i < cr->n; i++) {
        if (cr->s[i].h) tg_tensor_fill(cr->s[i].h, 0);
        if (cr->s[i].c) tg_tensor_fill(cr->s[i].c, 0);
    }
}

void tg_rnn_carry_free(tg_rnn_carry *cr) {
    if (!cr) return;
    for (int i = 0; i < 2 * TG_RNN_MAX_LAYERS; i++) {
        tg_tensor_free(cr->s[i].h);
        tg_tensor_free(cr->s[i].c);
    }
    memset(cr, 0, sizeof *cr);
}
