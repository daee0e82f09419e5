/* bench_models.c: the training workloads of the benchmark, written the way a
 * user writes them: tapegrad.h only (call sites noted, as in user code), the
 * library's layers and cells, one tape per step. test/bench/bench_torch.py
 * builds the same models in PyTorch, op for op; keep the two in step.
 *
 *   mlp       784-500-10 ReLU, batch 200, SGD lr 0.1, softmax CE;
 *             samples/s over one epoch (--quick: 20 batches)
 *   cnn       KANN's small CNN (examples/cnn.c: conv 32@3x3 pad 1, ReLU, conv
 *             32@3x3, ReLU, max-pool 2, dropout 0.2, dense 128 ReLU, dropout,
 *             dense 10), batch 64, Adam; samples/s
 *   lenet5    examples/lenet5.c (tanh, C3 table, trainable subsampling),
 *             batch 64, Adam; samples/s
 *   lstm      char LM: embedding (V=96, H=128), tg_lstm_cell stepped T=64
 *             times (as a loop of PyTorch's nn.LSTMCell), dense H->V, CE over
 *             the T·B=64·32 targets, Adam; tokens/s
 *   treenn    d=64: random binary trees of 16 leaves (word embeddings,
 *             V=100), p = tanh([l,r]·W + b), softmax CE on the root (5
 *             classes), one tape per tree, SGD every 25 trees; trees/s
 *   overhead  x ← tanh(a·x + b) 500 times on 1-element tensors, forward and
 *             backward on one tape; ns per op (1500 ops per chain)
 *
 * Data: the Fashion-MNIST training split (or random data of its shape);
 * the lstm reads random tokens and the trees come from a 64-bit LCG that
 * bench_torch.py reproduces, so both sides see the same trees. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- shared helpers ---- */

static uint64_t lcg_next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* backward, optimizer step, zero grads, end the tape; 0 or -1. */
static int finish_step(tg_tape *tape, tg_tensor *loss, tg_optim *opt, double *loss_out) {
    int ok = loss && tg_backward(loss) == TG_OK && (!opt || tg_optim_step(opt) == TG_OK);
    if (ok) {
        *loss_out = tg_item(loss);
        if (opt) tg_optim_zero_grad(opt);
    }
    tg_tape_end(tape);
    return ok ? 0 : -1;
}

static int report(FILE *out, const char *key, double value, const char *unit, double loss) {
    if (!isfinite(loss)) {
        fprintf(out, "error %s: the loss is not finite (%g)\n", key, loss);
        return -1;
    }
    fprintf(out, "val %s %.6g %s\n", key, value, unit);
    return 0;
}

/* x (B,1,H,W) on the active tape: images idx[0..B) of ds / 255, placed at
 * (pad, pad) in a zero frame of H×W; labels filled. */
static tg_tensor *image_batch(tg_ctx *ctx, const tg_dataset *ds, const int64_t *idx, int64_t B, int64_t H,
                              int64_t W, int64_t pad, int32_t *labels) {
    int64_t D = ds->rows * ds->cols, fs[2] = {B, D}, xs[4] = {B, 1, H, W};
    tg_tensor *flat = tg_tensor_temp(ctx, TG_F32, 2, fs), *x = tg_tensor_temp(ctx, TG_F32, 4, xs);
    if (!flat || !x || tg_dataset_batch(ds, idx, B, flat, labels) != TG_OK) return NULL;
    const float *s = flat->data;
    float *d = x->data;
    if (H == ds->rows && W == ds->cols) {
        memcpy(d, s, (size_t)(B * D) * sizeof(float));
        return x;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < ds->rows; r++)
            memcpy(d + (b * H + pad + r) * W + pad, s + b * D + r * ds->cols, (size_t)ds->cols * sizeof(float));
    return x;
}

/* A shuffled order of the n training samples and a cursor through it. */
typedef struct order {
    int64_t *perm, n, cursor;
} order;

static int order_init(order *o, tg_ctx *ctx, int64_t n) {
    o->perm = malloc((size_t)n * sizeof *o->perm);
    if (!o->perm) return -1;
    for (int64_t i = 0; i < n; i++) o->perm[i] = i;
    tg_shuffle(ctx, o->perm, n);
    o->n = n;
    o->cursor = 0;
    return 0;
}

/* The next B indices (wrapping to the start when fewer are left). */
static const int64_t *order_next(order *o, int64_t B) {
    if (o->cursor + B > o->n) o->cursor = 0;
    const int64_t *p = o->perm + o->cursor;
    o->cursor += B;
    return p;
}

/* An image classifier's timed steps (cnn, lenet5): each takes the next B
 * images of ord (H×W, framed at pad: image_batch), net's logits, mean
 * cross-entropy and opt's step; reports samples/s under key. */
enum { IMAGE_B_MAX = 64 };
typedef tg_tensor *(*image_net)(tg_ctx *ctx, tg_tensor *x);
static int image_steps(FILE *out, const char *key, tg_ctx *ctx, const tg_dataset *ds, order *ord, tg_optim *opt,
                       image_net net, int64_t B, int64_t H, int64_t W, int64_t pad, int steps) {
    int32_t labels[IMAGE_B_MAX];
    if (B > IMAGE_B_MAX) return fprintf(out, "error %s: batch %lld > %d\n", key, (long long)B, IMAGE_B_MAX), -1;
    double loss = 0, t0 = bench_now();
    for (int i = 0; i < steps; i++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tape ? image_batch(ctx, ds, order_next(ord, B), B, H, W, pad, labels) : NULL;
        tg_tensor *l = tg_cross_entropy(net(ctx, x), labels, TG_MEAN);
        if (!tape || finish_step(tape, l, opt, &loss)) return bench_fail(out, key, ctx);
    }
    double dt = bench_now() - t0;
    return report(out, key, (double)steps * B / dt, "samples/s", loss);
}

/* ---- mlp ---- */

enum { MLP_B = 200, MLP_HIDDEN = 500, N_CLASSES = 10 };

static struct {
    tg_ctx *ctx;
    tg_dense l1, l2;
    tg_optim *opt;
    order ord;
} g_mlp;

int bench_mlp(bench_env *e, FILE *out) {
    const tg_dataset *ds = bench_data(e);
    if (!ds) return fprintf(out, "error mlp: no data\n"), -1;
    int64_t D = ds->rows * ds->cols;
    if (!g_mlp.ctx) {
        tg_ctx *ctx = g_mlp.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error mlp: no memory\n"), -1;
        tg_optim_config oc = tg_optim_defaults(TG_OPT_SGD);
        oc.lr = 0.1;
        if (tg_dense_init(&g_mlp.l1, ctx, "fc1", D, MLP_HIDDEN, TG_F32, TG_INIT_HE) ||
            tg_dense_init(&g_mlp.l2, ctx, "fc2", MLP_HIDDEN, N_CLASSES, TG_F32, TG_INIT_HE) ||
            !(g_mlp.opt = tg_optim_new(ctx, &oc, NULL, 0)) || order_init(&g_mlp.ord, ctx, ds->n))
            return bench_fail(out, "mlp", ctx);
    }
    tg_ctx *ctx = g_mlp.ctx;
    int64_t steps = ds->n / MLP_B, shape[2] = {MLP_B, D};
    if (e->quick && steps > 20) steps = 20;
    int32_t labels[MLP_B];
    double loss = 0, t0 = bench_now();
    for (int64_t i = 0; i < steps; i++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = tape ? tg_tensor_temp(ctx, TG_F32, 2, shape) : NULL;
        tg_tensor *l = NULL;
        if (x && tg_dataset_batch(ds, order_next(&g_mlp.ord, MLP_B), MLP_B, x, labels) == TG_OK) {
            tg_tensor *h = tg_relu(tg_dense_forward(&g_mlp.l1, x));
            l = tg_cross_entropy(tg_dense_forward(&g_mlp.l2, h), labels, TG_MEAN);
        }
        if (!tape || finish_step(tape, l, g_mlp.opt, &loss)) return bench_fail(out, "mlp", ctx);
    }
    double dt = bench_now() - t0;
    return report(out, "mlp", (double)(steps * MLP_B) / dt, "samples/s", loss);
}

/* ---- cnn (examples/cnn.c) ---- */

enum { CNN_B = 64, CNN_F = 32, CNN_HIDDEN = 128 };

static struct {
    tg_ctx *ctx;
    tg_conv2d_layer c1, c2;
    tg_dense fc, out;
    tg_optim *opt;
    order ord;
} g_cnn;

static tg_tensor *cnn_net(tg_ctx *ctx, tg_tensor *x) {
    (void)ctx;
    tg_tensor *h = tg_relu(tg_conv2d_layer_forward(&g_cnn.c1, x));
    h = tg_relu(tg_conv2d_layer_forward(&g_cnn.c2, h));
    h = tg_dropout(tg_max_pool2d(h, 2, 2, 2, 2, 0, 0), 0.2, 1);
    h = tg_dropout(tg_relu(tg_dense_forward(&g_cnn.fc, tg_flatten(h, 1))), 0.2, 1);
    return tg_dense_forward(&g_cnn.out, h);
}

int bench_cnn(bench_env *e, FILE *out) {
    const tg_dataset *ds = bench_data(e);
    if (!ds) return fprintf(out, "error cnn: no data\n"), -1;
    int64_t H = ds->rows, W = ds->cols;
    if (!g_cnn.ctx) {
        tg_ctx *ctx = g_cnn.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error cnn: no memory\n"), -1;
        tg_conv_opts same = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1};
        tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
        if (tg_conv2d_layer_init(&g_cnn.c1, ctx, "conv1", 1, CNN_F, 3, 3, &same, TG_F32, TG_INIT_HE) ||
            tg_conv2d_layer_init(&g_cnn.c2, ctx, "conv2", CNN_F, CNN_F, 3, 3, &same, TG_F32, TG_INIT_HE) ||
            tg_dense_init(&g_cnn.fc, ctx, "fc", CNN_F * (H / 2) * (W / 2), CNN_HIDDEN, TG_F32, TG_INIT_HE) ||
            tg_dense_init(&g_cnn.out, ctx, "out", CNN_HIDDEN, N_CLASSES, TG_F32, TG_INIT_XAVIER) ||
            !(g_cnn.opt = tg_optim_new(ctx, &oc, NULL, 0)) || order_init(&g_cnn.ord, ctx, ds->n))
            return bench_fail(out, "cnn", ctx);
    }
    return image_steps(out, "cnn", g_cnn.ctx, ds, &g_cnn.ord, g_cnn.opt, cnn_net, CNN_B, H, W, 0, e->quick ? 3 : 40);
}

/* ---- lenet5 (examples/lenet5.c, tanh squashing) ---- */

enum { LENET_B = 64, LENET_SIDE = 32 };

static const uint8_t C3_TABLE[6][16] = {
    {1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1}, {1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1},
    {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1}, {0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1},
    {0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1}, {0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1},
};

static struct {
    tg_ctx *ctx;
    tg_conv2d_layer c1, c3, c5;
    tg_tensor *s2c, *s2b, *s4c, *s4b; /* (C,1,1) subsampling coefficient and bias */
    tg_dense f6, out;
    tg_optim *opt;
    order ord;
} g_lenet;

/* tanh(2x2 sum · coef + bias) = tanh(avg · 4coef + bias) */
static tg_tensor *subsample(tg_ctx *ctx, tg_tensor *x, tg_tensor *coef, tg_tensor *bias) {
    tg_tensor *avg = tg_avg_pool2d(x, 2, 2, 2, 2, 0, 0);
    return tg_tanh(tg_add(tg_mul(avg, tg_mul(coef, tg_scalar(ctx, TG_F32, 4.0))), bias));
}

static tg_tensor *new_sub_param(tg_ctx *ctx, const char *name, int64_t C, double v) {
    int64_t shape[3] = {C, 1, 1};
    tg_tensor *p = tg_param_new(ctx, name, TG_F32, 3, shape);
    if (p) tg_init_constant(p, v);
    return p;
}

static tg_tensor *lenet_net(tg_ctx *ctx, tg_tensor *x) {
    tg_tensor *h = tg_tanh(tg_conv2d_layer_forward(&g_lenet.c1, x)); /* (B,6,28,28) */
    h = subsample(ctx, h, g_lenet.s2c, g_lenet.s2b);                  /* (B,6,14,14) */
    h = tg_tanh(tg_conv2d_layer_forward(&g_lenet.c3, h));            /* (B,16,10,10) */
    h = subsample(ctx, h, g_lenet.s4c, g_lenet.s4b);                  /* (B,16,5,5) */
    h = tg_tanh(tg_conv2d_layer_forward(&g_lenet.c5, h));            /* (B,120,1,1) */
    h = tg_tanh(tg_dense_forward(&g_lenet.f6, tg_flatten(h, 1)));     /* (B,84) */
    return tg_dense_forward(&g_lenet.out, h);
}

int bench_lenet5(bench_env *e, FILE *out) {
    const tg_dataset *ds = bench_data(e);
    if (!ds) return fprintf(out, "error lenet5: no data\n"), -1;
    if (ds->rows != 28 || ds->cols != 28) return fprintf(out, "error lenet5: needs 28x28 images\n"), -1;
    if (!g_lenet.ctx) {
        tg_ctx *ctx = g_lenet.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error lenet5: no memory\n"), -1;
        tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
        if (tg_conv2d_layer_init(&g_lenet.c1, ctx, "c1", 1, 6, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
            !(g_lenet.s2c = new_sub_param(ctx, "s2.coef", 6, 0.25)) || !(g_lenet.s2b = new_sub_param(ctx, "s2.b", 6, 0)) ||
            tg_conv2d_layer_init(&g_lenet.c3, ctx, "c3", 6, 16, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
            tg_conv2d_layer_set_table(&g_lenet.c3, &C3_TABLE[0][0]) ||
            !(g_lenet.s4c = new_sub_param(ctx, "s4.coef", 16, 0.25)) ||
            !(g_lenet.s4b = new_sub_param(ctx, "s4.b", 16, 0)) ||
            tg_conv2d_layer_init(&g_lenet.c5, ctx, "c5", 16, 120, 5, 5, NULL, TG_F32, TG_INIT_XAVIER) ||
            tg_dense_init(&g_lenet.f6, ctx, "f6", 120, 84, TG_F32, TG_INIT_XAVIER) ||
            tg_dense_init(&g_lenet.out, ctx, "out", 84, N_CLASSES, TG_F32, TG_INIT_XAVIER) ||
            !(g_lenet.opt = tg_optim_new(ctx, &oc, NULL, 0)) || order_init(&g_lenet.ord, ctx, ds->n))
            return bench_fail(out, "lenet5", ctx);
    }
    return image_steps(out, "lenet5", g_lenet.ctx, ds, &g_lenet.ord, g_lenet.opt, lenet_net, LENET_B, LENET_SIDE,
                       LENET_SIDE, 2, e->quick ? 5 : 150);
}

/* ---- lstm char LM ---- */

enum { LSTM_H = 128, LSTM_T = 64, LSTM_B = 32, LSTM_V = 96 };

static struct {
    tg_ctx *ctx;
    tg_tensor *E; /* (V,H) */
    tg_cell cell;
    tg_dense out;
    tg_optim *opt;
    int32_t ids[LSTM_T * LSTM_B], tgt[LSTM_T * LSTM_B]; /* t-major: [t·B + b] */
} g_lstm;

int bench_lstm(bench_env *e, FILE *out) {
    if (!g_lstm.ctx) {
        tg_ctx *ctx = g_lstm.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error lstm: no memory\n"), -1;
        int64_t es[2] = {LSTM_V, LSTM_H};
        tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
        if (!(g_lstm.E = tg_param_new(ctx, "embed", TG_F32, 2, es)) ||
            tg_cell_init(&g_lstm.cell, ctx, "lstm", TG_CELL_LSTM, LSTM_H, LSTM_H, TG_F32) ||
            tg_dense_init(&g_lstm.out, ctx, "out", LSTM_H, LSTM_V, TG_F32, TG_INIT_XAVIER) ||
            !(g_lstm.opt = tg_optim_new(ctx, &oc, NULL, 0)))
            return bench_fail(out, "lstm", ctx);
        tg_init_normal(g_lstm.E, 0, 0.3);
        uint64_t s = 7; /* a random text: (T+1)·B tokens, inputs and next-token targets */
        int32_t text[(LSTM_T + 1) * LSTM_B];
        for (int i = 0; i < (LSTM_T + 1) * LSTM_B; i++) text[i] = (int32_t)(lcg_next(&s) % LSTM_V);
        memcpy(g_lstm.ids, text, sizeof g_lstm.ids);
        memcpy(g_lstm.tgt, text + LSTM_B, sizeof g_lstm.tgt);
    }
    tg_ctx *ctx = g_lstm.ctx;
    int steps = e->quick ? 2 : 12;
    double loss = 0, t0 = bench_now();
    for (int i = 0; i < steps; i++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_rnn_state st = {NULL, NULL};
        tg_tensor *ys[LSTM_T], *l = NULL;
        if (tape && tg_rnn_state_zeros(&g_lstm.cell, ctx, LSTM_B, &st) == TG_OK) {
            tg_tensor *h = st.h, *c = st.c;
            int t;
            for (t = 0; t < LSTM_T; t++) {
                tg_tensor *x = tg_embedding(g_lstm.E, g_lstm.ids + t * LSTM_B, LSTM_B); /* (B,H) */
                if (tg_lstm_cell(&g_lstm.cell, x, h, c, &h, &c) != TG_OK) break;
                ys[t] = h;
            }
            if (t == LSTM_T)
                l = tg_cross_entropy(tg_dense_forward(&g_lstm.out, tg_concat(ys, LSTM_T, 0)), g_lstm.tgt, TG_MEAN);
        }
        if (!tape || finish_step(tape, l, g_lstm.opt, &loss)) return bench_fail(out, "lstm", ctx);
    }
    double dt = bench_now() - t0;
    return report(out, "lstm", (double)steps * LSTM_T * LSTM_B / dt, "tokens/s", loss);
}

/* ---- treenn ---- */

enum { TREE_LEAVES = 16, TREE_NODES = 2 * TREE_LEAVES - 1, TREE_D = 64, TREE_V = 100, TREE_C = 5, TREE_BATCH = 25,
       TREE_MAX = 500 };

typedef struct tree {
    int32_t left[TREE_NODES], right[TREE_NODES]; /* -1 for leaves; children before parents */
    int32_t word[TREE_LEAVES];                   /* nodes 0..15 are the leaves */
    int32_t label;
} tree;

/* A random binary tree over 16 leaves: 16 words, then 15 merges of a random
 * adjacent pair (node 16 + k is the k-th merge), then the label. */
static void tree_random(tree *t, uint64_t *s) {
    int32_t items[TREE_LEAVES];
    int n = TREE_LEAVES;
    for (int i = 0; i < TREE_LEAVES; i++) {
        t->word[i] = (int32_t)(lcg_next(s) % TREE_V);
        t->left[i] = t->right[i] = -1;
        items[i] = i;
    }
    for (int k = TREE_LEAVES; k < TREE_NODES; k++) {
        int i = (int)(lcg_next(s) % (uint64_t)(n - 1));
        t->left[k] = items[i];
        t->right[k] = items[i + 1];
        items[i] = k;
        memmove(items + i + 1, items + i + 2, (size_t)(n - i - 2) * sizeof items[0]);
        n--;
    }
    t->label = (int32_t)(lcg_next(s) % TREE_C);
}

static struct {
    tg_ctx *ctx;
    tg_tensor *E; /* (V,D) */
    tg_tree_layer cell;
    tg_dense cls;
    tg_optim *opt;
    tree trees[TREE_MAX];
} g_tree;

int bench_treenn(bench_env *e, FILE *out) {
    if (!g_tree.ctx) {
        tg_ctx *ctx = g_tree.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error treenn: no memory\n"), -1;
        int64_t es[2] = {TREE_V, TREE_D};
        tg_optim_config oc = tg_optim_defaults(TG_OPT_SGD);
        if (!(g_tree.E = tg_param_new(ctx, "embed", TG_F32, 2, es)) ||
            tg_tree_layer_init(&g_tree.cell, ctx, "tree", TREE_D, TG_F32) ||
            tg_dense_init(&g_tree.cls, ctx, "cls", TREE_D, TREE_C, TG_F32, TG_INIT_XAVIER) ||
            !(g_tree.opt = tg_optim_new(ctx, &oc, NULL, 0)))
            return bench_fail(out, "treenn", ctx);
        tg_init_uniform(g_tree.E, -0.1, 0.1);
        uint64_t s = 11;
        for (int i = 0; i < TREE_MAX; i++) tree_random(&g_tree.trees[i], &s);
    }
    tg_ctx *ctx = g_tree.ctx;
    int n = e->quick ? 50 : TREE_MAX;
    double loss = 0, t0 = bench_now();
    for (int i = 0; i < n; i++) {
        const tree *t = &g_tree.trees[i];
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *leaves[TREE_NODES] = {0}, *nodes[TREE_NODES], *l = NULL;
        for (int k = 0; tape && k < TREE_LEAVES; k++) leaves[k] = tg_embedding(g_tree.E, &t->word[k], 1); /* (1,D) */
        if (tape && tg_tree_forward(&g_tree.cell, TREE_NODES, t->left, t->right, leaves, nodes) == TG_OK)
            l = tg_cross_entropy(tg_dense_forward(&g_tree.cls, nodes[TREE_NODES - 1]), &t->label, TG_MEAN);
        if (!tape || finish_step(tape, l, NULL, &loss)) return bench_fail(out, "treenn", ctx);
        if ((i + 1) % TREE_BATCH == 0) {
            if (tg_optim_step(g_tree.opt) != TG_OK) return bench_fail(out, "treenn", ctx);
            tg_optim_zero_grad(g_tree.opt);
        }
    }
    double dt = bench_now() - t0;
    return report(out, "treenn", (double)n / dt, "trees/s", loss);
}

/* ---- per-op overhead ---- */

enum { CHAIN = 500, OPS_PER_LINK = 3 };

static struct {
    tg_ctx *ctx;
    tg_tensor *a, *b, *x0; /* (1) each; a, b require grad */
} g_ovh;

int bench_overhead(bench_env *e, FILE *out) {
    if (!g_ovh.ctx) {
        tg_ctx *ctx = g_ovh.ctx = bench_ctx(e);
        if (!ctx) return fprintf(out, "error overhead: no memory\n"), -1;
        int64_t one[1] = {1};
        if (!(g_ovh.a = tg_param_new(ctx, "a", TG_F32, 1, one)) || !(g_ovh.b = tg_param_new(ctx, "b", TG_F32, 1, one)) ||
            !(g_ovh.x0 = tg_tensor_new(ctx, TG_F32, 1, one)))
            return bench_fail(out, "overhead", ctx);
        tg_set(g_ovh.a, 0, 0.5);
        tg_set(g_ovh.b, 0, 0.1);
        tg_set(g_ovh.x0, 0, 0.3);
    }
    tg_ctx *ctx = g_ovh.ctx;
    int chains = e->quick ? 20 : 100;
    double y = 0, t0 = bench_now();
    for (int i = 0; i < chains; i++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *x = g_ovh.x0;
        for (int k = 0; tape && k < CHAIN; k++) x = tg_tanh(tg_add(tg_mul(g_ovh.a, x), g_ovh.b));
        if (!tape || finish_step(tape, x, NULL, &y)) return bench_fail(out, "overhead", ctx);
    }
    double dt = bench_now() - t0;
    return report(out, "overhead", dt * 1e9 / ((double)chains * CHAIN * OPS_PER_LINK), "ns/op", y);
}
