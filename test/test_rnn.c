/* test_rnn: recurrent and recursive models, checked as whole models.
 *
 * - Gradient checks in f64 (tg_gradcheck, central differences) of every
 *   weight, input and initial state of: a simple RNN (tanh and ReLU), an LSTM,
 *   the lectures' GRU and PyTorch's GRU, each unrolled 5 steps with a softmax
 *   cross-entropy loss at every step; a 2-layer bidirectional LSTM; and a
 *   tree net (shared tree cell, classifier at every node) on a left-deep, a
 *   right-deep and a balanced tree.
 * - PyTorch's LSTMCell, GRUCell and RNNCell, and the lectures' GRU written
 *   with torch ops, unrolled 3 steps from the same weights: every output and
 *   every gradient within 1e-10 (test/ref/rnn_ref.txt, made by
 *   test/ref/make_rnn_ref.py, which documents the gate and bias mapping).
 * - Truncated BPTT: chunks on separate tapes joined by a tg_rnn_carry give
 *   the full unroll's outputs, and the gradients of one tape whose
 *   state is tg_detach'ed at the chunk boundary.
 * - f32 agrees with f64; bad shapes and structures are rejected with a
 *   message naming the helper.
 *
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tg_tensor *leaf(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape, double lo, double hi) {
    tg_tensor *t = tg_tensor_new(ctx, dt, rank, shape);
    if (!t) return NULL;
    tg_init_uniform(t, lo, hi);
    tg_tensor_requires_grad(t, 1);
    return t;
}

/* ---- unrolled cells: a loss at every step ---- */

enum { T5 = 5, B2 = 2, I3 = 3, H4 = 4, C3 = 3 };

typedef struct unroll {
    tg_cell cell;
    tg_dense out;                /* (H, C) classifier on every h_t */
    tg_tensor *X, *h0, *c0;      /* (T,B,I), (B,H), (B,H) or NULL */
    int32_t labels[T5 * B2];
} unroll;

/* x_t = X[t] as (B, I) */
static tg_tensor *step_input(tg_tensor *X, int t) {
    int64_t shape[2] = {X->shape[1], X->shape[2]};
    return tg_reshape(tg_narrow(X, 0, t, 1), 2, shape);
}

static tg_tensor *unroll_loss(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)in, (void)n;
    unroll *u = user;
    tg_rnn_state s = {u->h0, u->c0};
    tg_tensor *loss = NULL;
    for (int t = 0; t < T5; t++) {
        if (tg_cell_step(&u->cell, step_input(u->X, t), &s, &s)) return NULL;
        tg_tensor *l = tg_cross_entropy(tg_dense_forward(&u->out, s.h), u->labels + t * B2, TG_MEAN);
        loss = loss ? tg_add(loss, l) : l;
    }
    return loss;
}

static void check_unroll(tg_cell_kind kind) {
    tg_config cfg = tg_config_default();
    cfg.seed = 11 + (uint64_t)kind;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    unroll u;
    memset(&u, 0, sizeof u);
    CHECK(tg_cell_init(&u.cell, ctx, "cell", kind, I3, H4, TG_F64) == TG_OK, "cell_init: %s", tg_last_error(ctx));
    CHECK(tg_dense_init(&u.out, ctx, "out", H4, C3, TG_F64, TG_INIT_XAVIER) == TG_OK, "dense_init");
    tg_init_uniform(u.out.b, -0.3, 0.3);
    int64_t xs[3] = {T5, B2, I3}, hs[2] = {B2, H4};
    u.X = leaf(ctx, TG_F64, 3, xs, -1, 1);
    u.h0 = leaf(ctx, TG_F64, 2, hs, -0.5, 0.5);
    if (kind == TG_CELL_LSTM) u.c0 = leaf(ctx, TG_F64, 2, hs, -0.5, 0.5);
    for (int i = 0; i < T5 * B2; i++) u.labels[i] = (int32_t)((i * 7 + 1) % C3);
    if (kind == TG_CELL_RNN_RELU) {
        /* keep the pre-activations away from the kink at 0 */
        tg_init_uniform(u.cell.b, 0.4, 0.8);
    }
    tg_tensor *in[10];
    int n = tg_cell_params(&u.cell, in);
    in[n++] = u.out.W;
    in[n++] = u.out.b;
    in[n++] = u.X;
    in[n++] = u.h0;
    if (u.c0) in[n++] = u.c0;
    tg_check_report rep;
    tg_status st = tg_gradcheck(ctx, unroll_loss, in, n, &u, NULL, &rep);
    CHECK(st == TG_OK, "%s unrolled %d steps: %s", tg_cell_kind_name(kind), T5, tg_last_error(ctx));
    printf("gradcheck %-9s x%d steps: %lld elements, max abs err %.2e%s\n", tg_cell_kind_name(kind), T5,
           (long long)rep.n_checked, rep.max_abs_err, st == TG_OK ? "" : "  FAIL");
    tg_tensor_free(u.X);
    tg_tensor_free(u.h0);
    tg_tensor_free(u.c0);
    tg_ctx_free(ctx);
}

/* ---- 2-layer bidirectional LSTM ---- */

enum { BT = 4 };
typedef struct birnn {
    tg_rnn rnn;
    tg_dense out;   /* (2H, C) */
    tg_tensor *X;   /* (T, B, I) */
    int32_t labels[BT * B2];
} birnn;

static tg_tensor *birnn_loss(tg_ctx *ctx, tg_tensor **in, int n, void *user) {
    (void)ctx, (void)in, (void)n;
    birnn *m = user;
    tg_tensor *xs[BT], *ys[BT];
    for (int t = 0; t < BT; t++) xs[t] = step_input(m->X, t);
    if (tg_rnn_forward(&m->rnn, xs, BT, NULL, NULL, ys)) return NULL;
    tg_tensor *loss = NULL;
    for (int t = 0; t < BT; t++) {
        tg_tensor *l = tg_cross_entropy(tg_dense_forward(&m->out, ys[t]), m->labels + t * B2, TG_MEAN);
        loss = loss ? tg_add(loss, l) : l;
    }
    return loss;
}

static void check_bilstm(void) {
    tg_config cfg = tg_config_default();
    cfg.seed = 5;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    birnn m;
    memset(&m, 0, sizeof m);
    CHECK(tg_rnn_init(&m.rnn, ctx, "bilstm", TG_CELL_LSTM, I3, 3, 2, 1, TG_F64) == TG_OK, "rnn_init: %s",
          tg_last_error(ctx));
    CHECK(m.rnn.cell[1][0].in == 6 && m.rnn.cell[1][1].Wx->shape[0] == 6, "layer 1 must read 2H inputs");
    CHECK(tg_param_find(ctx, "bilstm.l1r.Wh") != NULL, "parameter names");
    CHECK(tg_dense_init(&m.out, ctx, "out", 6, C3, TG_F64, TG_INIT_XAVIER) == TG_OK, "dense_init");
    int64_t xs[3] = {BT, B2, I3};
    m.X = leaf(ctx, TG_F64, 3, xs, -1, 1);
    for (int i = 0; i < BT * B2; i++) m.labels[i] = (int32_t)((i * 5 + 2) % C3);
    tg_tensor *in[24];
    int n = tg_rnn_params(&m.rnn, in);
    CHECK(n == 12, "a 2-layer bidirectional LSTM has 12 parameter tensors, got %d", n);
    in[n++] = m.out.W;
    in[n++] = m.out.b;
    in[n++] = m.X;
    tg_check_report rep;
    tg_status st = tg_gradcheck(ctx, birnn_loss, in, n, &m, NULL, &rep);
    CHECK(st == TG_OK, "2-layer bidirectional LSTM: %s", tg_last_error(ctx));
    printf("gradcheck 2-layer bidirectional lstm x%d steps: %lld elements, max abs err %.2e%s\n", BT,
           (long long)rep.n_checked, rep.max_abs_err, st == TG_OK ? "" : "  FAIL");
    tg_tensor_free(m.X);
    tg_ctx_free(ctx);
}

/* ---- tree net ---- */

enum { TD = 4, TV = 6, MAXN = 9 };
typedef struct treenet {
    tg_tree_layer cell;
    tg_tensor *E;         /* (V, D) word vectors */
    tg_dense cls;         /* (D, C) at every node */
    int n;
    int32_t left[MAXN], right[MAXN], word[MAXN], label[MAXN];
} treenet;

static tg_tensor *tree_loss(tg_ctx *ctx, tg_tensor **in, int n_in, void *user) {
    (void)ctx, (void)in, (void)n_in;
    treenet *m = user;
    tg_tensor *leaves[MAXN] = {0}, *nodes[MAXN];
    for (int i = 0; i < m->n; i++)
        if (m->left[i] < 0) leaves[i] = tg_embedding(m->E, &m->word[i], 1);
    if (tg_tree_forward(&m->cell, m->n, m->left, m->right, leaves, nodes)) return NULL;
    tg_tensor *all = tg_concat(nodes, m->n, 0); /* (n, D) */
    return tg_cross_entropy(tg_dense_forward(&m->cls, all), m->label, TG_SUM);
}

static void check_trees(void) {
    static const struct {
        const char *name;
        int n;
        int32_t left[MAXN], right[MAXN];
    } shapes[3] = {
        {"left-deep", 9, {-1, -1, -1, -1, -1, 0, 5, 6, 7}, {-1, -1, -1, -1, -1, 1, 2, 3, 4}},
        {"right-deep", 9, {-1, -1, -1, -1, -1, 3, 2, 1, 0}, {-1, -1, -1, -1, -1, 4, 5, 6, 7}},
        {"balanced", 7, {-1, -1, -1, -1, 0, 2, 4}, {-1, -1, -1, -1, 1, 3, 5}},
    };
    tg_config cfg = tg_config_default();
    cfg.seed = 3;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    treenet m;
    memset(&m, 0, sizeof m);
    CHECK(tg_tree_layer_init(&m.cell, ctx, "tree", TD, TG_F64) == TG_OK, "tree_layer_init: %s", tg_last_error(ctx));
    tg_init_uniform(m.cell.b, -0.2, 0.2);
    int64_t es[2] = {TV, TD};
    m.E = tg_param_new(ctx, "E", TG_F64, 2, es);
    tg_init_uniform(m.E, -1, 1);
    CHECK(tg_dense_init(&m.cls, ctx, "cls", TD, C3, TG_F64, TG_INIT_XAVIER) == TG_OK, "dense_init");
    tg_tensor *in[5] = {m.cell.W, m.cell.b, m.E, m.cls.W, m.cls.b};
    for (int s = 0; s < 3; s++) {
        m.n = shapes[s].n;
        for (int i = 0; i < m.n; i++) {
            m.left[i] = shapes[s].left[i];
            m.right[i] = shapes[s].right[i];
            m.word[i] = (int32_t)((i * 4 + s) % TV);
            m.label[i] = (int32_t)((i + s) % C3);
        }
        tg_check_report rep;
        tg_status st = tg_gradcheck(ctx, tree_loss, in, 5, &m, NULL, &rep);
        CHECK(st == TG_OK, "tree net, %s tree: %s", shapes[s].name, tg_last_error(ctx));
        printf("gradcheck tree net, %-10s (%d nodes): %lld elements, max abs err %.2e%s\n", shapes[s].name, m.n,
               (long long)rep.n_checked, rep.max_abs_err, st == TG_OK ? "" : "  FAIL");
    }
    /* The same leaves under the left-deep and right-deep trees give different roots. */
    double root[2][TD];
    for (int s = 0; s < 2; s++) {
        m.n = shapes[s].n;
        for (int i = 0; i < m.n; i++) {
            m.left[i] = shapes[s].left[i];
            m.right[i] = shapes[s].right[i];
            m.word[i] = (int32_t)i % TV;
        }
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *leaves[MAXN] = {0}, *nodes[MAXN];
        for (int i = 0; i < m.n; i++)
            if (m.left[i] < 0) leaves[i] = tg_embedding(m.E, &m.word[i], 1);
        CHECK(tg_tree_forward(&m.cell, m.n, m.left, m.right, leaves, nodes) == TG_OK, "tree_forward");
        tg_tensor_get_f64(nodes[m.n - 1], root[s]);
        tg_tape_end(tape);
    }
    double diff = 0;
    for (int k = 0; k < TD; k++) diff += fabs(root[0][k] - root[1][k]);
    CHECK(diff > 1e-3, "two parses of the same leaves gave the same root vector");
    tg_ctx_free(ctx);
}

/* ---- PyTorch fixtures ---- */

typedef struct ref_tensor {
    char name[32];
    int rank;
    int64_t shape[4], numel;
    double *v;
} ref_tensor;

typedef struct ref_case {
    char name[32];
    int B, I, H, T;
    int n;
    ref_tensor t[32];
} ref_case;

static const ref_tensor *ref_get(const ref_case *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->t[i].name, name)) return &c->t[i];
    FAILF("case %s has no tensor %s", c->name, name);
    return NULL;
}

/* Reads the whole file into cases; returns the number of cases or -1. */
static int ref_read(const char *path, ref_case *cases, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int nc = -1;
    size_t cap = 1 << 16;
    char *line = malloc(cap);
    while (line && fgets(line, (int)cap, f)) {
        size_t len = strlen(line);
        while (len == cap - 1 && line[len - 1] != '\n') { /* grow for long lines */
            char *bigger = realloc(line, cap * 2);
            if (!bigger) break;
            line = bigger;
            if (!fgets(line + len, (int)(cap + 1), f)) break;
            cap *= 2;
            len = strlen(line);
        }
        if (!strncmp(line, "case ", 5)) {
            if (++nc >= max) break;
            ref_case *c = &cases[nc];
            memset(c, 0, sizeof *c);
            if (sscanf(line + 5, "%31s %d %d %d %d", c->name, &c->B, &c->I, &c->H, &c->T) != 5) nc = max;
        } else if (!strncmp(line, "t ", 2) && nc >= 0 && nc < max && cases[nc].n < 32) {
            ref_tensor *t = &cases[nc].t[cases[nc].n++];
            char *p = line + 2, *end;
            int k = 0;
            while (*p && *p != ' ' && k < 31) t->name[k++] = *p++;
            t->name[k] = 0;
            p++; /* the space */
            t->rank = 0;
            t->numel = 1;
            while (*p && *p != ' ') {
                t->shape[t->rank] = strtoll(p, &end, 10);
                t->numel *= t->shape[t->rank++];
                p = *end == ',' ? end + 1 : end;
            }
            t->v = malloc((size_t)t->numel * sizeof(double));
            for (int64_t i = 0; i < t->numel && t->v; i++) t->v[i] = strtod(p, &p);
        }
    }
    free(line);
    fclose(f);
    return nc >= max ? -1 : nc + 1;
}

static double worst_ref = 0;

static void ref_compare(const char *cs, const char *what, const double *got, const ref_tensor *want) {
    if (!want) return;
    for (int64_t i = 0; i < want->numel; i++) {
        double err = fabs(got[i] - want->v[i]);
        if (err > worst_ref) worst_ref = err;
        if (!(err <= 1e-10 * fmax(1.0, fabs(want->v[i])))) {
            FAILF("%s %s[%lld]: got %.17g, PyTorch %.17g (err %.3g)", cs, what, (long long)i, got[i], want->v[i],
                  err);
            return;
        }
    }
}

static tg_tensor *from_ref(tg_ctx *ctx, const ref_tensor *r, int grad) {
    if (!r) return NULL;
    tg_tensor *t = tg_tensor_new(ctx, TG_F64, r->rank, r->shape);
    if (!t) return NULL;
    tg_tensor_set_f64(t, r->v);
    if (grad) tg_tensor_requires_grad(t, 1);
    return t;
}

/* Our gate block k holds PyTorch's block perm[k]. */
static void map_rows_to_cols(tg_tensor *dst, const double *torch_w, int64_t rows_in, int G, int64_t H,
                             const int *perm) {
    for (int k = 0; k < G; k++)
        for (int64_t j = 0; j < H; j++)
            for (int64_t i = 0; i < rows_in; i++)
                tg_set(dst, i * G * H + k * H + j, torch_w[(perm[k] * H + j) * rows_in + i]);
}

static void map_grad_back(const tg_tensor *src, double *torch_g, int64_t rows_in, int G, int64_t H, const int *perm) {
    for (int k = 0; k < G; k++)
        for (int64_t j = 0; j < H; j++)
            for (int64_t i = 0; i < rows_in; i++)
                torch_g[(perm[k] * H + j) * rows_in + i] = tg_grad_get(src, i * G * H + k * H + j);
}

static void check_ref_case(const ref_case *rc) {
    tg_cell_kind kind = (tg_cell_kind)tg_cell_kind_parse(rc->name);
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_cell cell;
    int B = rc->B, I = rc->I, H = rc->H, T = rc->T;
    CHECK(tg_cell_init(&cell, ctx, "c", kind, I, H, TG_F64) == TG_OK, "cell_init %s", rc->name);
    int G = kind == TG_CELL_LSTM ? 4 : kind == TG_CELL_RNN_TANH ? 1 : 3;
    static const int lstm_perm[4] = {0, 1, 3, 2}, ident[4] = {0, 1, 2, 3};
    const int *perm = kind == TG_CELL_LSTM ? lstm_perm : ident;
    int64_t GH = (int64_t)G * H;
    if (kind == TG_CELL_GRU) { /* the lecture GRU's fixture is in our layout already */
        const ref_tensor *p[4] = {ref_get(rc, "Wx"), ref_get(rc, "Wh"), ref_get(rc, "Uc"), ref_get(rc, "b")};
        tg_tensor *q[4] = {cell.Wx, cell.Wh, cell.Uc, cell.b};
        for (int i = 0; i < 4; i++)
            if (p[i]) tg_tensor_set_f64(q[i], p[i]->v);
    } else {
        const ref_tensor *wih = ref_get(rc, "weight_ih"), *whh = ref_get(rc, "weight_hh"), *bih = ref_get(rc, "bias_ih"),
                         *bhh = ref_get(rc, "bias_hh");
        if (!wih || !whh || !bih || !bhh) return;
        map_rows_to_cols(cell.Wx, wih->v, I, G, H, perm);
        map_rows_to_cols(cell.Wh, whh->v, H, G, H, perm);
        for (int k = 0; k < G; k++)
            for (int j = 0; j < H; j++) {
                int64_t s = perm[k] * H + j;
                /* GRU: b_hn stays apart, inside r⊙(·) */
                double v = bih->v[s] + ((kind == TG_CELL_GRU_TORCH && k == 2) ? 0.0 : bhh->v[s]);
                tg_set(cell.b, k * H + j, v);
            }
        if (kind == TG_CELL_GRU_TORCH)
            for (int j = 0; j < H; j++) tg_set(cell.bhn, j, bhh->v[2 * H + j]);
    }
    tg_tensor *X = from_ref(ctx, ref_get(rc, "x"), 1), *h0 = from_ref(ctx, ref_get(rc, "h0"), 1);
    tg_tensor *c0 = kind == TG_CELL_LSTM ? from_ref(ctx, ref_get(rc, "c0"), 1) : NULL;
    const ref_tensor *wh = ref_get(rc, "wh"), *wc = kind == TG_CELL_LSTM ? ref_get(rc, "wc") : NULL;
    if (!X || !h0 || !wh || (kind == TG_CELL_LSTM && (!c0 || !wc))) return;

    tg_tape *tape = tg_tape_begin(ctx);
    tg_rnn_state s = {h0, c0};
    tg_tensor *L = NULL;
    double *out_h = malloc(sizeof(double) * (size_t)(T * B * H));
    int64_t bh[2] = {B, H};
    for (int t = 0; t < T; t++) {
        CHECK(tg_cell_step(&cell, step_input(X, t), &s, &s) == TG_OK, "%s step %d: %s", rc->name, t, tg_last_error(ctx));
        if (!s.h) break;
        tg_tensor_get_f64(s.h, out_h + t * B * H);
        tg_tensor *w = tg_tensor_temp(ctx, TG_F64, 2, bh);
        tg_tensor_set_f64(w, wh->v + t * B * H);
        tg_tensor *l = tg_sum(tg_mul(s.h, w), 0, NULL, 0);
        L = L ? tg_add(L, l) : l;
    }
    if (wc && s.c) {
        tg_tensor *w = tg_tensor_temp(ctx, TG_F64, 2, bh);
        tg_tensor_set_f64(w, wc->v);
        L = tg_add(L, tg_sum(tg_mul(s.c, w), 0, NULL, 0));
    }
    CHECK(L && tg_backward(L) == TG_OK, "%s backward: %s", rc->name, tg_last_error(ctx));
    if (L) {
        double lv = tg_item(L);
        ref_compare(rc->name, "L", &lv, ref_get(rc, "L"));
        ref_compare(rc->name, "out_h", out_h, ref_get(rc, "out_h"));
        if (s.c) {
            double cv[64];
            tg_tensor_get_f64(s.c, cv);
            ref_compare(rc->name, "out_c", cv, ref_get(rc, "out_c"));
        }
    }
    tg_tape_end(tape);
    free(out_h);

    double *g = malloc(sizeof(double) * 4096);
    tg_tensor *leaves[3] = {X, h0, c0};
    const char *lnames[3] = {"grad_x", "grad_h0", "grad_c0"};
    for (int i = 0; i < 3; i++) {
        if (!leaves[i]) continue;
        for (int64_t k = 0; k < leaves[i]->numel; k++) g[k] = tg_grad_get(leaves[i], k);
        ref_compare(rc->name, lnames[i], g, ref_get(rc, lnames[i]));
    }
    if (kind == TG_CELL_GRU) {
        tg_tensor *q[4] = {cell.Wx, cell.Wh, cell.Uc, cell.b};
        const char *gn[4] = {"grad_Wx", "grad_Wh", "grad_Uc", "grad_b"};
        for (int i = 0; i < 4; i++) {
            for (int64_t k = 0; k < q[i]->numel; k++) g[k] = tg_grad_get(q[i], k);
            ref_compare(rc->name, gn[i], g, ref_get(rc, gn[i]));
        }
    } else {
        map_grad_back(cell.Wx, g, I, G, H, perm);
        ref_compare(rc->name, "grad_weight_ih", g, ref_get(rc, "grad_weight_ih"));
        map_grad_back(cell.Wh, g, H, G, H, perm);
        ref_compare(rc->name, "grad_weight_hh", g, ref_get(rc, "grad_weight_hh"));
        /* both torch biases get our b's gradient; b_hn gets bhn's */
        for (int k = 0; k < G; k++)
            for (int j = 0; j < H; j++) g[perm[k] * H + j] = tg_grad_get(cell.b, k * H + j);
        ref_compare(rc->name, "grad_bias_ih", g, ref_get(rc, "grad_bias_ih"));
        if (kind == TG_CELL_GRU_TORCH)
            for (int j = 0; j < H; j++) g[2 * H + j] = tg_grad_get(cell.bhn, j);
        ref_compare(rc->name, "grad_bias_hh", g, ref_get(rc, "grad_bias_hh"));
    }
    (void)GH;
    free(g);
    tg_tensor_free(X);
    tg_tensor_free(h0);
    tg_tensor_free(c0);
    tg_ctx_free(ctx);
}

static void check_pytorch(void) {
    char path[4096];
    const char *src = getenv("TG_SRCDIR");
    snprintf(path, sizeof path, "%s/test/ref/rnn_ref.txt", src ? src : ".");
    static ref_case cases[8];
    int n = ref_read(path, cases, 8);
    CHECK(n == 4, "cannot read 4 cases from %s (set TG_SRCDIR to the source tree)", path);
    for (int i = 0; i < n; i++) {
        int before = tl_fail;
        worst_ref = 0;
        check_ref_case(&cases[i]);
        printf("pytorch %-9s: outputs and gradients, worst abs err %.2e%s\n", cases[i].name, worst_ref,
               tl_fail == before ? "" : "  FAIL");
        for (int k = 0; k < cases[i].n; k++) free(cases[i].t[k].v);
    }
}

/* ---- truncated BPTT ---- */

static void check_truncated(void) {
    enum { TT = 6, TB = 2, TI = 3, TH = 4 };
    tg_config cfg = tg_config_default();
    cfg.seed = 9;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    tg_rnn r;
    CHECK(tg_rnn_init(&r, ctx, "lstm", TG_CELL_LSTM, TI, TH, 2, 0, TG_F64) == TG_OK, "rnn_init");
    int64_t xs_shape[3] = {TT, TB, TI};
    tg_tensor *X = tg_tensor_new(ctx, TG_F64, 3, xs_shape);
    tg_init_uniform(X, -1, 1);
    tg_tensor *ps[16];
    int np = tg_rnn_params(&r, ps);

    /* full unroll, outputs only */
    double full[TT][TB * TH];
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *xs[TT], *ys[TT];
    for (int t = 0; t < TT; t++) xs[t] = step_input(X, t);
    CHECK(tg_rnn_forward(&r, xs, TT, NULL, NULL, ys) == TG_OK, "rnn_forward: %s", tg_last_error(ctx));
    for (int t = 0; t < TT; t++) tg_tensor_get_f64(ys[t], full[t]);
    tg_tape_end(tape);

    /* one tape, state detached at t = 3; loss on the second chunk */
    double grad_detach[16][64];
    tg_zero_grad(ctx);
    tape = tg_tape_begin(ctx);
    for (int t = 0; t < TT; t++) xs[t] = step_input(X, t);
    tg_rnn_state fin[2], mid[2];
    CHECK(tg_rnn_forward(&r, xs, 3, NULL, fin, ys) == TG_OK, "chunk 1");
    for (int i = 0; i < 2; i++) mid[i] = (tg_rnn_state){tg_detach(fin[i].h), tg_detach(fin[i].c)};
    CHECK(tg_rnn_forward(&r, xs + 3, 3, mid, fin, ys + 3) == TG_OK, "chunk 2");
    tg_tensor *loss = tg_sum(tg_square(tg_concat(ys + 3, 3, 0)), 0, NULL, 0);
    CHECK(tg_backward(loss) == TG_OK, "backward");
    for (int p = 0; p < np; p++)
        for (int64_t k = 0; k < ps[p]->numel && k < 64; k++) grad_detach[p][k] = tg_grad_get(ps[p], k);
    tg_tape_end(tape);

    /* two tapes joined by a carry */
    tg_rnn_carry carry;
    CHECK(tg_rnn_carry_init(&carry, &r, ctx, TB) == TG_OK, "carry_init");
    tg_zero_grad(ctx);
    for (int chunk = 0; chunk < 2; chunk++) {
        tape = tg_tape_begin(ctx);
        for (int t = 0; t < 3; t++) xs[t] = step_input(X, chunk * 3 + t);
        CHECK(tg_rnn_forward(&r, xs, 3, carry.s, fin, ys) == TG_OK, "carry chunk %d: %s", chunk, tg_last_error(ctx));
        for (int t = 0; t < 3; t++) {
            double v[TB * TH];
            tg_tensor_get_f64(ys[t], v);
            double err = 0;
            for (int k = 0; k < TB * TH; k++) err = fmax(err, fabs(v[k] - full[chunk * 3 + t][k]));
            CHECK(err <= 1e-13, "carried chunk %d step %d differs from the full unroll by %.3g", chunk, t, err);
        }
        if (chunk == 1) {
            loss = tg_sum(tg_square(tg_concat(ys, 3, 0)), 0, NULL, 0);
            CHECK(tg_backward(loss) == TG_OK, "backward");
        }
        CHECK(tg_rnn_carry_store(&carry, fin) == TG_OK, "carry_store");
        tg_tape_end(tape);
    }
    double worst = 0;
    for (int p = 0; p < np; p++)
        for (int64_t k = 0; k < ps[p]->numel && k < 64; k++)
            worst = fmax(worst, fabs(tg_grad_get(ps[p], k) - grad_detach[p][k]));
    CHECK(worst <= 1e-13, "truncated BPTT: carry and tg_detach gradients differ by %.3g", worst);
    printf("truncated BPTT: carried chunks equal the full unroll; gradients equal the detached tape (%.1e)\n", worst);
    tg_rnn_carry_free(&carry);
    tg_tensor_free(X);
    tg_ctx_free(ctx);
}

/* ---- f32 against f64 ---- */

static void check_f32(void) {
    for (int kind = TG_CELL_RNN_TANH; kind <= TG_CELL_GRU_TORCH; kind++) {
        double out[2][B2 * H4];
        for (int d = 0; d < 2; d++) {
            tg_config cfg = tg_config_default();
            cfg.seed = 77;
            tg_ctx *ctx = tg_ctx_new(&cfg);
            tg_dtype dt = d ? TG_F64 : TG_F32;
            tg_cell c;
            tg_cell_init(&c, ctx, "c", (tg_cell_kind)kind, I3, H4, dt);
            tg_tape *tape = tg_tape_begin(ctx);
            int64_t xs[2] = {B2, I3};
            tg_rnn_state s;
            tg_rnn_state_zeros(&c, ctx, B2, &s);
            for (int t = 0; t < 4; t++) {
                tg_tensor *x = tg_tensor_temp(ctx, dt, 2, xs);
                for (int i = 0; i < B2 * I3; i++) tg_set(x, i, sin(0.7 * i + t));
                tg_cell_step(&c, x, &s, &s);
            }
            CHECK(s.h != NULL, "%s f%d: %s", tg_cell_kind_name((tg_cell_kind)kind), d ? 64 : 32, tg_last_error(ctx));
            if (s.h) tg_tensor_get_f64(s.h, out[d]);
            tg_tape_end(tape);
            tg_ctx_free(ctx);
        }
        double worst = 0;
        for (int i = 0; i < B2 * H4; i++) worst = fmax(worst, fabs(out[0][i] - out[1][i]));
        CHECK(worst < 1e-5, "%s: f32 and f64 differ by %.3g", tg_cell_kind_name((tg_cell_kind)kind), worst);
    }
}

/* ---- bad input ---- */

static void expect_error(tg_ctx *ctx, int failed, const char *prefix, const char *what) {
    CHECK(failed, "%s: accepted", what);
    CHECK(!strncmp(tg_last_error(ctx), prefix, strlen(prefix)), "%s: message '%s' does not start with '%s'", what,
          tg_last_error(ctx), prefix);
    tg_clear_error(ctx);
}

static void check_errors(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_cell lstm, gru, rnn;
    tg_cell_init(&lstm, ctx, "lstm", TG_CELL_LSTM, 3, 4, TG_F64);
    tg_cell_init(&gru, ctx, "gru", TG_CELL_GRU, 3, 4, TG_F64);
    tg_cell_init(&rnn, ctx, "rnn", TG_CELL_RNN_TANH, 3, 4, TG_F64);
    tg_cell dup;
    expect_error(ctx, tg_cell_init(&dup, ctx, "lstm", TG_CELL_GRU, 3, 4, TG_F64) == TG_EINVAL, "cell_init:",
                 "duplicate cell name");
    expect_error(ctx, tg_cell_init(&dup, ctx, "z", (tg_cell_kind)17, 3, 4, TG_F64) != TG_OK, "cell_init:",
                 "unknown kind");
    expect_error(ctx, tg_cell_init(&dup, ctx, "z", TG_CELL_LSTM, 0, 4, TG_F64) != TG_OK, "cell_init:", "in = 0");
    tg_rnn r;
    expect_error(ctx, tg_rnn_init(&r, ctx, "r", TG_CELL_LSTM, 3, 4, 0, 0, TG_F64) != TG_OK, "rnn_init:", "0 layers");
    expect_error(ctx, tg_rnn_init(&r, ctx, "r", TG_CELL_LSTM, 3, 4, TG_RNN_MAX_LAYERS + 1, 0, TG_F64) != TG_OK,
                 "rnn_init:", "too many layers");

    tg_tape *tape = tg_tape_begin(ctx);
    int64_t s23[2] = {2, 3}, s25[2] = {2, 5}, s24[2] = {2, 4}, s34[2] = {3, 4};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 2, s23), *xbad = tg_tensor_temp(ctx, TG_F64, 2, s25);
    tg_tensor *h = tg_tensor_temp(ctx, TG_F64, 2, s24), *hbad = tg_tensor_temp(ctx, TG_F64, 2, s34);
    tg_tensor *ho, *co;
    expect_error(ctx, tg_rnn_cell(&lstm, x, h) == NULL, "rnn_cell:", "rnn_cell on an LSTM");
    expect_error(ctx, tg_gru_cell(&rnn, x, h) == NULL, "gru_cell:", "gru_cell on an RNN");
    expect_error(ctx, tg_lstm_cell(&gru, x, h, h, &ho, &co) != TG_OK, "lstm_cell:", "lstm_cell on a GRU");
    expect_error(ctx, tg_lstm_cell(&lstm, xbad, h, h, &ho, &co) != TG_OK && !ho && !co, "lstm_cell: input [2,5]",
                 "lstm input width");
    expect_error(ctx, tg_gru_cell(&gru, x, hbad) == NULL, "gru_cell: state h [3,4]", "gru state batch");
    expect_error(ctx, tg_rnn_cell(&rnn, x, hbad) == NULL, "rnn_cell: state h [3,4]", "rnn state batch");
    tg_rnn_state s = {h, NULL}, o;
    expect_error(ctx, tg_cell_step(&lstm, x, &s, &o) != TG_OK, "cell_step:", "LSTM state without c");
    /* a NULL input propagates without a new message */
    tg_set_error(ctx, TG_ESHAPE, "first");
    CHECK(tg_gru_cell(&gru, NULL, h) == NULL && !strcmp(tg_last_error(ctx), "first"), "NULL propagation");
    CHECK(tg_rnn_cell(&rnn, x, NULL) == NULL && !strcmp(tg_last_error(ctx), "first"), "NULL propagation");
    tg_clear_error(ctx);

    tg_rnn bi;
    CHECK(tg_rnn_init(&bi, ctx, "bi", TG_CELL_GRU_TORCH, 3, 4, 2, 1, TG_F64) == TG_OK, "rnn_init");
    tg_tensor *xs[3] = {x, x, xbad}, *ys[3];
    expect_error(ctx, tg_rnn_forward(&bi, xs, 3, NULL, NULL, ys) != TG_OK, "rnn_forward: xs[2] is [2,5]",
                 "mismatched steps");
    xs[2] = x;
    CHECK(tg_rnn_forward(&bi, xs, 3, NULL, NULL, ys) == TG_OK && ys[2] && ys[2]->shape[1] == 8,
          "bidirectional outputs must be (B, 2H): %s", tg_last_error(ctx));

    tg_tree_layer tc;
    CHECK(tg_tree_layer_init(&tc, ctx, "tree", 4, TG_F64) == TG_OK, "tree_layer_init");
    expect_error(ctx, tg_tree_layer_init(&tc, ctx, "tree", 4, TG_F64) != TG_OK, "tree_layer_init:", "duplicate tree");
    CHECK(tg_tree_layer_init(&tc, ctx, "tree2", 4, TG_F64) == TG_OK, "tree_layer_init");
    int64_t s14[2] = {1, 4}, s13[2] = {1, 3};
    tg_tensor *a = tg_tensor_temp(ctx, TG_F64, 2, s14), *bad = tg_tensor_temp(ctx, TG_F64, 2, s13);
    expect_error(ctx, tg_tree_cell(&tc, a, bad) == NULL, "tree_cell: children [1,4] and [1,3]", "tree child width");
    tg_tensor *lv[3] = {a, a, NULL}, *nodes[3];
    int32_t L1[3] = {-1, -1, 0}, R1[3] = {-1, -1, 2}; /* node 2 reads itself */
    expect_error(ctx, tg_tree_forward(&tc, 3, L1, R1, lv, nodes) != TG_OK, "tree_forward: node 2", "cyclic tree");
    int32_t L2[3] = {-1, -1, 0}, R2[3] = {-1, -1, 1};
    CHECK(tg_tree_forward(&tc, 3, L2, R2, lv, nodes) == TG_OK && nodes[2], "tree_forward: %s", tg_last_error(ctx));
    int32_t L3[3] = {-1, -1, -1}, R3[3] = {-1, -1, -1};
    expect_error(ctx, tg_tree_forward(&tc, 3, L3, R3, lv, nodes) != TG_OK, "tree_forward: node 2 is a leaf",
                 "missing leaf");
    tg_tape_end(tape);
    tg_ctx_free(ctx);
}

int main(void) {
    tg_cell_kind kinds[5] = {TG_CELL_RNN_TANH, TG_CELL_RNN_RELU, TG_CELL_LSTM, TG_CELL_GRU, TG_CELL_GRU_TORCH};
    for (int i = 0; i < 5; i++) check_unroll(kinds[i]);
    check_bilstm();
    check_trees();
    check_pytorch();
    check_truncated();
    check_f32();
    check_errors();
    return tl_summary();
}
