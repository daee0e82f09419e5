/* treenn: a recursive neural network (tree net) for sentiment, trained by
 * back-propagation through structure on a treebank it generates itself.
 *
 * Model (D = --dim):
 *   leaf vector   x_w = E[w]                        E (V, D), one row per word
 *   parent        p = tanh([c1, c2]·W + b)          W (2D, D), b (D): one tg_tree_layer
 *                                                   shared by every node of every tree
 *   class         softmax(p·Wc + bc) at every node  Wc (D, 5)
 * Each tree is built on its own tape: the graph on the tape has the tree's
 * shape, and tg_backward walks it in reverse (back-propagation through
 * structure). The gradients of --batch trees accumulate in the parameters'
 * grad buffers (+=) before one Adam step.
 *
 * Treebank: random binary parse trees from a small grammar
 *   S → (NP VP)   NP → (DET N) | (DET (ADJP N))   VP → (V ADJP)
 *   ADJP → ADJ | (very ADJP) | (not ADJP) | (ADJP (and ADJP))
 * over words with polarity (good +1, great +2, bad -1, awful -2, ...),
 * negators (not, never), intensifiers (very, really, extremely) and neutral
 * words. Every node carries a label in 0..4 (very negative .. very positive)
 * from its sentiment value v in -2..2:
 *   word: its polarity;  (negator X): -sign(v(X));  (intensifier X): 2·sign(v(X));
 *   any other (A B): clamp(v(A) + v(B), -2, 2).
 * So "not" flips the phrase it heads ("not bad" is positive), and the meaning
 * depends on the tree, not only on the words.
 *
 * Baseline: a bag-of-words classifier (logits = Σ_w U[w] + u over the words
 * of the phrase), trained on the same nodes. Linear in word counts, it cannot
 * express "not" flipping the sign of what follows.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "treenn"
/* --help's first lines */
static const char SUMMARY[] = "Train a recursive neural network (tree net) on a generated sentiment treebank with\n"
                             "negation, and a bag-of-words baseline on the same trees.";

#define N_CLASSES 5
#define MAXN 96 /* nodes per tree */

/* ---- vocabulary ---- */

enum { W_NEUTRAL, W_POLAR, W_NEG, W_INT };
typedef struct word {
    const char *s;
    int kind, value;
} word;

static const word vocab[] = {
    {"good", W_POLAR, 1},      {"nice", W_POLAR, 1},     {"fun", W_POLAR, 1},       {"funny", W_POLAR, 1},
    {"clever", W_POLAR, 1},    {"pleasant", W_POLAR, 1}, {"charming", W_POLAR, 1},  {"decent", W_POLAR, 1},
    {"great", W_POLAR, 2},     {"excellent", W_POLAR, 2}, {"brilliant", W_POLAR, 2}, {"wonderful", W_POLAR, 2},
    {"superb", W_POLAR, 2},    {"amazing", W_POLAR, 2},  {"bad", W_POLAR, -1},      {"dull", W_POLAR, -1},
    {"boring", W_POLAR, -1},   {"weak", W_POLAR, -1},    {"silly", W_POLAR, -1},    {"slow", W_POLAR, -1},
    {"messy", W_POLAR, -1},    {"bland", W_POLAR, -1},   {"awful", W_POLAR, -2},    {"terrible", W_POLAR, -2},
    {"horrible", W_POLAR, -2}, {"dreadful", W_POLAR, -2}, {"atrocious", W_POLAR, -2}, {"abysmal", W_POLAR, -2},
    {"not", W_NEG, 0},         {"never", W_NEG, 0},      {"very", W_INT, 0},        {"really", W_INT, 0},
    {"extremely", W_INT, 0},   {"the", W_NEUTRAL, 0},    {"this", W_NEUTRAL, 0},    {"movie", W_NEUTRAL, 0},
    {"film", W_NEUTRAL, 0},    {"plot", W_NEUTRAL, 0},   {"story", W_NEUTRAL, 0},   {"acting", W_NEUTRAL, 0},
    {"cast", W_NEUTRAL, 0},    {"ending", W_NEUTRAL, 0}, {"script", W_NEUTRAL, 0},  {"music", W_NEUTRAL, 0},
    {"was", W_NEUTRAL, 0},     {"is", W_NEUTRAL, 0},     {"seemed", W_NEUTRAL, 0},  {"felt", W_NEUTRAL, 0},
    {"and", W_NEUTRAL, 0},
};
#define V_SIZE ((int)(sizeof vocab / sizeof vocab[0]))
/* index ranges in vocab[] */
enum { ADJ_LO = 0, ADJ_HI = 28, NEG_LO = 28, INT_LO = 30, DET_LO = 33, N_LO = 35, V_LO = 44, AND_ID = 48 };
_Static_assert(AND_ID == V_SIZE - 1, "the index ranges must match vocab[]");

static const char *const class_names[N_CLASSES] = {"very negative", "negative", "neutral", "positive",
                                                   "very positive"};

/* ---- trees: arrays in post-order, root last ---- */

typedef struct tree {
    int n, n_leaves;
    int32_t left[MAXN], right[MAXN], word[MAXN], label[MAXN];
    int32_t lo[MAXN], hi[MAXN]; /* the node's span of leaves [lo, hi) */
    int32_t leaf_word[MAXN];    /* the words in sentence order */
    int negated;                /* the sentence contains a negator */
} tree;

static int sgn(int v) { return (v > 0) - (v < 0); }

static int leaf(tree *t, int w) {
    if (t->n >= MAXN) return -1;
    int i = t->n++;
    t->left[i] = t->right[i] = -1;
    t->word[i] = w;
    t->label[i] = vocab[w].value + 2;
    t->lo[i] = t->n_leaves;
    t->leaf_word[t->n_leaves++] = w;
    t->hi[i] = t->n_leaves;
    if (vocab[w].kind == W_NEG) t->negated = 1;
    return i;
}

static int node(tree *t, int l, int r) {
    if (l < 0 || r < 0 || t->n >= MAXN) return -1;
    int i = t->n++;
    t->left[i] = l;
    t->right[i] = r;
    t->word[i] = -1;
    int vl = t->label[l] - 2, vr = t->label[r] - 2, v;
    int lk = t->word[l] >= 0 ? vocab[t->word[l]].kind : W_NEUTRAL;
    if (lk == W_NEG) v = -sgn(vr);
    else if (lk == W_INT) v = 2 * sgn(vr);
    else v = vl + vr < -2 ? -2 : vl + vr > 2 ? 2 : vl + vr;
    t->label[i] = v + 2;
    t->lo[i] = t->lo[l];
    t->hi[i] = t->hi[r];
    return i;
}

static int pick(tg_ctx *ctx, int lo, int hi) { return lo + (int)(tg_rng_uniform(ctx) * (hi - lo)); }

static int gen_adjp(tg_ctx *ctx, tree *t, int depth) {
    double r = tg_rng_uniform(ctx);
    if (depth < 3) {
        if (r < 0.22) {
            int w = leaf(t, pick(ctx, NEG_LO, INT_LO));
            return node(t, w, gen_adjp(ctx, t, depth + 1));
        }
        if (r < 0.38) {
            int w = leaf(t, pick(ctx, INT_LO, DET_LO));
            return node(t, w, gen_adjp(ctx, t, depth + 1));
        }
        if (r < 0.50) {
            int a = gen_adjp(ctx, t, depth + 1);
            int w = leaf(t, AND_ID);
            return node(t, a, node(t, w, gen_adjp(ctx, t, depth + 1)));
        }
    }
    return leaf(t, pick(ctx, ADJ_LO, ADJ_HI));
}

static int gen_sentence(tg_ctx *ctx, tree *t) {
    memset(t, 0, sizeof *t);
    int det = leaf(t, pick(ctx, DET_LO, N_LO)), np;
    if (tg_rng_uniform(ctx) < 0.3) {
        int a = gen_adjp(ctx, t, 2);
        np = node(t, det, node(t, a, leaf(t, pick(ctx, N_LO, V_LO))));
    } else {
        np = node(t, det, leaf(t, pick(ctx, N_LO, V_LO)));
    }
    int v = leaf(t, pick(ctx, V_LO, AND_ID));
    return node(t, np, node(t, v, gen_adjp(ctx, t, 0)));
}

static void print_tree(const tree *t, int i, FILE *f) {
    if (t->left[i] < 0) {
        fputs(vocab[t->word[i]].s, f);
        return;
    }
    fputc('(', f);
    print_tree(t, t->left[i], f);
    fputc(' ', f);
    print_tree(t, t->right[i], f);
    fputc(')', f);
}

/* ---- models ---- */

typedef struct model {
    tg_tensor *E;        /* (V, D) */
    tg_tree_layer cell;  /* W (2D, D), b (D) */
    tg_dense cls;        /* (D, 5) */
    tg_tensor *U, *u;    /* bag of words: (V, 5), (5) */
} model;

/* Node vectors of t (nodes[0..n)) on the active tape. */
static tg_status tree_nodes(const model *m, const tree *t, tg_tensor **nodes) {
    tg_tensor *leaves[MAXN] = {0};
    for (int i = 0; i < t->n; i++)
        if (t->left[i] < 0) leaves[i] = tg_embedding(m->E, &t->word[i], 1);
    return tg_tree_forward(&m->cell, t->n, t->left, t->right, leaves, nodes);
}

/* Logits of the tree net at every node: (n, 5). */
static tg_tensor *tree_logits(const model *m, const tree *t) {
    tg_tensor *nodes[MAXN];
    if (tree_nodes(m, t, nodes) != TG_OK) return NULL;
    return tg_dense_forward(&m->cls, tg_concat(nodes, t->n, 0));
}

/* Logits of the bag of words at every node: S·U[words] + u, S (n, leaves)
 * the 0/1 span matrix. */
static tg_tensor *bow_logits(tg_ctx *ctx, const model *m, const tree *t) {
    int64_t ss[2] = {t->n, t->n_leaves};
    tg_tensor *S = tg_tensor_temp(ctx, TG_F32, 2, ss);
    if (!S) return NULL;
    float *sp = S->data;
    for (int i = 0; i < t->n; i++)
        for (int k = t->lo[i]; k < t->hi[i]; k++) sp[i * t->n_leaves + k] = 1;
    return tg_addmm(m->u, S, tg_embedding(m->U, t->leaf_word, t->n_leaves)); /* u + S·U[words] */
}

static int argmax_row(const tg_tensor *z, int row) {
    const float *p = (const float *)z->data + row * N_CLASSES;
    int best = 0;
    for (int c = 1; c < N_CLASSES; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

typedef struct scores {
    double root, negated, node;
    int64_t n_negated;
} scores;

static int evaluate(tg_ctx *ctx, const model *m, const tree *ts, int n, int bow, scores *s) {
    int64_t root = 0, neg = 0, n_neg = 0, nodes = 0, n_nodes = 0;
    tg_no_grad_begin(ctx);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const tree *t = &ts[i];
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *z = bow ? bow_logits(ctx, m, t) : tree_logits(m, t);
        if (!z) {
            rc = -1;
        } else {
            int ok = argmax_row(z, t->n - 1) == t->label[t->n - 1];
            root += ok;
            if (t->negated) neg += ok, n_neg++;
            for (int k = 0; k < t->n; k++) nodes += argmax_row(z, k) == t->label[k];
            n_nodes += t->n;
        }
        tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
    s->root = n ? (double)root / n : 0;
    s->negated = n_neg ? (double)neg / (double)n_neg : 0;
    s->node = n_nodes ? (double)nodes / (double)n_nodes : 0;
    s->n_negated = n_neg;
    return rc;
}

/* One epoch of minibatch training of the tree net (bow = 0) or the bag of
 * words (bow = 1) over the trees in perm order. Returns the mean loss per
 * node, or NaN on error. */
static double train_epoch(tg_ctx *ctx, const model *m, tg_optim *opt, const tree *ts, const int64_t *perm, int n,
                          int batch, int bow) {
    double sum = 0;
    int64_t count = 0;
    for (int b0 = 0; b0 < n; b0 += batch) {
        int nb = n - b0 < batch ? n - b0 : batch;
        for (int j = 0; j < nb; j++) {
            const tree *t = &ts[perm[b0 + j]];
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *z = bow ? bow_logits(ctx, m, t) : tree_logits(m, t);
            /* mean over the nodes of the tree, and over the trees of the batch */
            tg_tensor *loss = tg_mul(tg_cross_entropy(z, t->label, TG_MEAN), tg_scalar(ctx, TG_F32, 1.0 / nb));
            tg_status st = loss ? tg_backward(loss) : TG_EINVAL;
            if (st == TG_OK) sum += tg_item(loss) * nb, count++;
            tg_tape_end(tape);
            if (st != TG_OK) return NAN;
        }
        if (tg_optim_step(opt) != TG_OK) return NAN;
        tg_optim_zero_grad(opt);
    }
    return count ? sum / (double)count : NAN;
}

/* ---- the lectures' ambiguity: same words, two trees ---- */

static void ambiguity(tg_ctx *ctx, const model *m, int dim) {
    /* "the film was not good and funny" */
    tree t[2];
    /* (C leaves the order of argument evaluation open, so every leaf is made
     * in its own statement, left to right.) */
    for (int k = 0; k < 2; k++) {
        tree *x = &t[k];
        memset(x, 0, sizeof *x);
        int the = leaf(x, DET_LO), film = leaf(x, N_LO + 1);
        int np = node(x, the, film);
        int was = leaf(x, V_LO), nt = leaf(x, NEG_LO), good = leaf(x, 0), adjp;
        if (k == 0) { /* not (good (and funny)) */
            int and = leaf(x, AND_ID), funny = leaf(x, 3);
            adjp = node(x, nt, node(x, good, node(x, and, funny)));
        } else { /* (not good) (and funny) */
            int ng = node(x, nt, good);
            int and = leaf(x, AND_ID), funny = leaf(x, 3);
            adjp = node(x, ng, node(x, and, funny));
        }
        node(x, np, node(x, was, adjp));
    }
    printf("ambiguity: the same words under two parse trees\n");
    tg_no_grad_begin(ctx);
    for (int k = 0; k < 2; k++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_tensor *nodes[MAXN];
        if (tree_nodes(m, &t[k], nodes) == TG_OK) {
            tg_tensor *root = nodes[t[k].n - 1];
            tg_tensor *z = tg_dense_forward(&m->cls, root);
            printf("  ");
            print_tree(&t[k], t[k].n - 1, stdout);
            printf("\n    gold %s, predicted %s\n    root vector [", class_names[t[k].label[t[k].n - 1]],
                   z ? class_names[argmax_row(z, 0)] : "?");
            int show = dim < 8 ? dim : 8;
            for (int i = 0; i < show; i++) printf("%s%+.3f", i ? " " : "", tg_get(root, i));
            printf("%s]\n", dim > show ? " ..." : "");
        }
        tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
}

/* ---- command line ---- */

typedef struct opts {
    int dim, epochs, batch, n_train, n_test, seed, threads;
    double lr;
    const char *dot;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.dim = 32, .epochs = 10, .batch = 16, .n_train = 4000, .n_test = 1000, .seed = 42, .lr = 0.005};
    ex_flag flags[] = {
        ex_flag_int("dim", &o->dim, "size of word and phrase vectors", 1, 4096),
        ex_flag_int("epochs", &o->epochs, "passes over the training trees", 1, 100000),
        ex_flag_int("batch", &o->batch, "trees per update (gradients accumulate)", 1, 100000),
        ex_flag_lr(&o->lr, "Adam learning rate", 10),
        {.name = "train", .type = EX_INT, .target = &o->n_train, .metavar = "N", .help = "training trees to generate",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 10000000},
        {.name = "test", .type = EX_INT, .target = &o->n_test, .metavar = "N", .help = "held-out trees to generate",
         .range = EX_LO | EX_HI, .lo = 1, .hi = 10000000},
        ex_flag_min("seed", &o->seed, "seed of the treebank and the initialisation", 0),
        ex_flag_threads(&o->threads),
        ex_flag_file("dot", &o->dot, "FILE",
                     "write the tape of the first test tree (with gradient norms) as Graphviz DOT"),
    };
    int n = EX_NFLAGS(flags), rc = ex_parse(argc, argv, PROG, SUMMARY, flags, n);
    if (rc >= 0) return rc;
    char msg[600];
    if (o->dot && ex_check_writable(o->dot, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--dot: %s", msg);
    return -1;
}

static int write_dot(tg_ctx *ctx, const model *m, const tree *t, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *loss = tg_cross_entropy(tree_logits(m, t), t->label, TG_MEAN);
    tg_dot_opts d = {.grad_norms = 1, .title = "treenn: one tree on its own tape"};
    int rc = loss && tg_backward(loss) == TG_OK && tg_tape_dot(tape, f, &d) == TG_OK ? 0 : -1;
    tg_tape_end(tape);
    tg_zero_grad(ctx);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    rc = EX_OK;
    tg_ctx *ctx = ex_ctx_new(o.seed, o.threads);
    tree *train = malloc(sizeof(tree) * (size_t)o.n_train), *test = malloc(sizeof(tree) * (size_t)o.n_test);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)o.n_train);
    tg_optim *opt = NULL, *opt_bow = NULL;
    if (!ctx || !train || !test || !perm) {
        rc = ex_runtime_error(PROG, "out of memory");
        goto done;
    }
    for (int i = 0; i < o.n_train; i++)
        if (gen_sentence(ctx, &train[i]) < 0) i--; /* too big for MAXN: draw again */
    for (int i = 0; i < o.n_test; i++)
        if (gen_sentence(ctx, &test[i]) < 0) i--;
    int64_t negated = 0, nodes = 0;
    for (int i = 0; i < o.n_train; i++) negated += train[i].negated, nodes += train[i].n;
    printf("treebank: %d training trees (%lld nodes, %.0f%% with a negator), %d test trees, %d words\n", o.n_train,
           (long long)nodes, 100.0 * (double)negated / o.n_train, o.n_test, V_SIZE);
    printf("example: ");
    print_tree(&train[0], train[0].n - 1, stdout);
    printf("  -> %s\n", class_names[train[0].label[train[0].n - 1]]);

    model m;
    memset(&m, 0, sizeof m);
    int64_t es[2] = {V_SIZE, o.dim}, us[2] = {V_SIZE, N_CLASSES}, bs[1] = {N_CLASSES};
    m.E = tg_param_new(ctx, "embed", TG_F32, 2, es);
    if (!m.E || tg_tree_layer_init(&m.cell, ctx, "tree", o.dim, TG_F32) != TG_OK ||
        tg_dense_init(&m.cls, ctx, "cls", o.dim, N_CLASSES, TG_F32, TG_INIT_XAVIER) != TG_OK ||
        !(m.U = tg_param_new(ctx, "bow.U", TG_F32, 2, us)) || !(m.u = tg_param_new(ctx, "bow.u", TG_F32, 1, bs))) {
        rc = ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
        goto done;
    }
    tg_init_uniform(m.E, -0.5, 0.5);
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    oc.lr = o.lr;
    tg_tensor *tree_params[5] = {m.E, m.cell.W, m.cell.b, m.cls.W, m.cls.b}, *bow_params[2] = {m.U, m.u};
    opt = tg_optim_new(ctx, &oc, tree_params, 5);
    oc.lr = 0.02;
    opt_bow = tg_optim_new(ctx, &oc, bow_params, 2);
    if (!opt || !opt_bow) {
        rc = ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
        goto done;
    }
    for (int i = 0; i < o.n_train; i++) perm[i] = i;

    ex_progress pr;
    ex_progress_begin(&pr, o.epochs, (o.n_train + o.batch - 1) / o.batch);
    double t_train = 0;
    scores s = {0}, sb = {0};
    double loss0 = NAN, loss0_bow = NAN; /* the first losses: ex_diverged's references */
    for (int ep = 1; ep <= o.epochs; ep++) {
        double t0 = ex_epoch_begin(&pr, ctx, ep, perm, o.n_train);
        double loss = train_epoch(ctx, &m, opt, train, perm, o.n_train, o.batch, 0);
        t_train += ex_now() - t0;
        double loss_bow = train_epoch(ctx, &m, opt_bow, train, perm, o.n_train, o.batch, 1);
        if (ex_diverged(&loss0, loss) || ex_diverged(&loss0_bow, loss_bow)) {
            rc = ex_runtime_error(PROG, "epoch %d: %s", ep,
                                  tg_last_error(ctx)[0] ? tg_last_error(ctx) : "training diverged; try a smaller --lr");
            goto done;
        }
        if (evaluate(ctx, &m, test, o.n_test, 0, &s) != 0 || evaluate(ctx, &m, test, o.n_test, 1, &sb) != 0) {
            rc = ex_runtime_error(PROG, "evaluation failed: %s", tg_last_error(ctx));
            goto done;
        }
        ex_progress_epoch_end(&pr,
                              "epoch %3d  loss %.4f  root_acc %.4f  negated %.4f  node_acc %.4f  |  bow: root %.4f "
                              "negated %.4f  %.1f s",
                              ep, loss, s.root, s.negated, s.node, sb.root, sb.negated, ex_now() - t0);
    }
    printf("test: %d trees, %lld with a negator\n", o.n_test, (long long)s.n_negated);
    printf("  tree net      root_acc %.4f  negated_root_acc %.4f  node_acc %.4f\n", s.root, s.negated, s.node);
    printf("  bag of words  root_acc %.4f  negated_root_acc %.4f  node_acc %.4f\n", sb.root, sb.negated, sb.node);
    ambiguity(ctx, &m, o.dim);
    if (o.dot) {
        if (write_dot(ctx, &m, &test[0], o.dot) != 0) {
            rc = ex_runtime_error(PROG, "--dot: cannot write '%s': %s", o.dot, tg_last_error(ctx));
            goto done;
        }
        printf("wrote %s\n", o.dot);
    }
    ex_result res = {0};
    ex_result_add(&res, "root_acc", "%.4f", s.root);
    ex_result_add(&res, "negated_root_acc", "%.4f", s.negated);
    ex_result_add(&res, "bow_root_acc", "%.4f", sb.root);
    ex_result_add(&res, "bow_negated_root_acc", "%.4f", sb.negated);
    ex_result_add(&res, "node_acc", "%.4f", s.node);
    ex_result_add(&res, "trees_per_s", "%.0f", t_train > 0 ? (double)o.n_train * o.epochs / t_train : 0);
    ex_result_print(&res);
done:
    tg_optim_free(opt);
    tg_optim_free(opt_bow);
    free(train);
    free(test);
    free(perm);
    tg_ctx_free(ctx);
    return rc;
}
