/* dot.c: the recorded tape as a Graphviz DOT picture.
 *
 * One box per distinct leaf tensor an op read (parameters by name, other
 * leaves as "input" or, for tensors computed off the tape, "const"), one
 * ellipse per recorded node (op name, output shape and dtype), and one edge
 * from each input to the node that read it. Outputs that no later node reads
 * (usually the loss) get a double border. With grad_norms, each edge is
 * labelled ‖g‖₂ of its source tensor's gradient as the last backward left it.
 *
 * Nothing here allocates per node except one pointer table for the leaves;
 * the tape is only read. */
#include "graph_internal.h"

#include <errno.h>
#include <math.h>

/* ---- a pointer -> leaf id table (open addressing, power-of-two size) ---- */

typedef struct {
    const tg_tensor **key;
    int64_t *id;
    int64_t cap, n;
} ptrmap;

static uint64_t ptr_hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static int ptrmap_init(ptrmap *m, int64_t expect) {
    m->cap = 64;
    while (m->cap < 2 * expect) m->cap *= 2;
    m->n = 0;
    m->key = tg__calloc((size_t)m->cap, sizeof *m->key);
    m->id = tg__calloc((size_t)m->cap, sizeof *m->id);
    return m->key && m->id ? 0 : -1;
}

static void ptrmap_free(ptrmap *m) {
    tg__free(m->key);
    tg__free(m->id);
}

/* The id of t, and *is_new = 1 when t was not in the table yet. The table is
 * sized for every input of every node, so it never fills. */
static int64_t ptrmap_get(ptrmap *m, const tg_tensor *t, int *is_new) {
    uint64_t mask = (uint64_t)m->cap - 1, h = ptr_hash(t) & mask;
    while (m->key[h] && m->key[h] != t) h = (h + 1) & mask;
    *is_new = !m->key[h];
    if (*is_new) {
        m->key[h] = t;
        m->id[h] = m->n++;
    }
    return m->id[h];
}

/* ---- helpers ---- */

/* s with '"' and '\' escaped, for a DOT string. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') fputs("\\n", f);
        else fputc(*s, f);
    }
}

/* ‖grad‖₂ of t in double, or -1 when t holds no gradient from the tape's last
 * backward pass (an intermediate's buffer from an older pass is stale). */
static double grad_norm(const tg_tape *tape, const tg_tensor *t) {
    if (!t->grad || !(t->flags & TG_REQUIRES_GRAD)) return -1;
    if (t->node && (t->tape != tape || t->grad_epoch != tape->epoch)) return -1;
    return sqrt(tg__grad_sumsq(t, 0.0));
}

/* Is t the output of a node this picture draws? */
static int drawn_node(const tg_tape *tape, const tg_tensor *t, int64_t first) {
    return t->node && t->tape == tape && t->node->index >= first && t->node->index < tape->n_nodes &&
           tape->nodes[t->node->index] == t->node;
}

tg_status tg_tape_dot(tg_tape *tape, FILE *f, const tg_dot_opts *opts) {
    if (!tape) return TG_EINVAL;
    tg_ctx *ctx = tape->ctx;
    if (!f) return tg__error(ctx, TG_EINVAL, "tape_dot: the FILE is NULL");
    tg_dot_opts o = {0};
    if (opts) o = *opts;
    if (o.max_nodes < 0) return tg__error(ctx, TG_EINVAL, "tape_dot: max_nodes %d < 0", o.max_nodes);
    int64_t first = 0;
    if (o.max_nodes > 0 && tape->n_nodes > o.max_nodes) first = tape->n_nodes - o.max_nodes;

    /* Which outputs does a later drawn node read? consumed[i - first] for node i. */
    int64_t n_draw = tape->n_nodes - first, n_edges = 0;
    unsigned char *consumed = tg__calloc((size_t)(n_draw ? n_draw : 1), 1);
    for (int64_t i = first; i < tape->n_nodes; i++) n_edges += tape->nodes[i]->n_in;
    ptrmap leaves = {0};
    if (!consumed || ptrmap_init(&leaves, n_edges) != 0) {
        tg__free(consumed);
        ptrmap_free(&leaves);
        return tg__error(ctx, TG_ENOMEM, "tape_dot: out of memory for %lld nodes", (long long)n_draw);
    }
    for (int64_t i = first; i < tape->n_nodes; i++) {
        const tg_node *n = tape->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (drawn_node(tape, n->in[j], first)) consumed[n->in[j]->node->index - first] = 1;
    }

    fputs("digraph tape {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n",
          f);
    if (o.title) {
        fputs("  labelloc=t; fontname=\"Helvetica\"; label=\"", f);
        put_escaped(f, o.title);
        fputs("\";\n", f);
    }
    if (first > 0)
        fprintf(f, "  // the first %lld nodes are left out (max_nodes %d)\n", (long long)first, o.max_nodes);

    char sh[96];
    for (int64_t i = first; i < tape->n_nodes; i++) {
        const tg_node *n = tape->nodes[i];
        /* leaves this node reads, each drawn once */
        for (int j = 0; j < n->n_in; j++) {
            const tg_tensor *x = n->in[j];
            if (drawn_node(tape, x, first)) continue;
            int is_new;
            int64_t id = ptrmap_get(&leaves, x, &is_new);
            if (!is_new) continue;
            tg_shape_str(x, sh, sizeof sh);
            fprintf(f, "  l%lld [shape=box, ", (long long)id);
            if (x->name) {
                fputs("style=\"rounded,filled\", fillcolor=\"#cfe2f3\", label=\"", f);
                put_escaped(f, x->name);
            } else if (x->node) {
                /* produced by a node left out by max_nodes */
                fprintf(f, "style=\"dashed\", label=\"(%s)", x->node->op->name);
            } else if (x->flags & TG_REQUIRES_GRAD) {
                fputs("style=\"rounded,filled\", fillcolor=\"#d9ead3\", label=\"leaf", f);
            } else {
                fputs("style=\"rounded\", color=\"#888888\", label=\"input", f);
            }
            fprintf(f, "\\n%s %s\"];\n", sh, tg_dtype_name(x->dtype));
        }
        tg_shape_str(n->out, sh, sizeof sh);
        fprintf(f, "  n%lld [label=\"", (long long)i);
        put_escaped(f, n->op->name);
        fprintf(f, "\\n%s %s\"%s];\n", sh, tg_dtype_name(n->out->dtype),
                consumed[i - first] ? "" : ", peripheries=2");
        for (int j = 0; j < n->n_in; j++) {
            const tg_tensor *x = n->in[j];
            int is_new;
            if (drawn_node(tape, x, first)) fprintf(f, "  n%lld -> n%lld", (long long)x->node->index, (long long)i);
            else fprintf(f, "  l%lld -> n%lld", (long long)ptrmap_get(&leaves, x, &is_new), (long long)i);
            double g = o.grad_norms ? grad_norm(tape, x) : -1;
            if (g >= 0 || isnan(g)) fprintf(f, " [label=\" %.3g\"]", g);
            else if (n->n_in > 1 && !o.grad_norms) fprintf(f, " [label=\"%d\"]", j);
            fputs(";\n", f);
        }
    }
    fputs("}\n", f);
    tg__free(consumed);
    ptrmap_free(&leaves);
    if (fflush(f) != 0 || ferror(f))
        return tg__error(ctx, TG_EIO, "tape_dot: write failed: %s", strerror(errno));
    return TG_OK;
}
