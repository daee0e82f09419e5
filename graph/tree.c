/* tree.c: the recursive (tree) cell p = tanh([c1, c2]·W + b) and a helper
 * that composes a whole binary tree bottom-up.
 *
 * One W and one b serve every internal node of every tree. A tree is built
 * on its own tape, one tg_tree_cell per internal node, so the graph on the
 * tape has the shape of the tree; the ordinary reverse walk over it is
 * back-propagation through structure, and W's gradient is the sum over the
 * nodes by the usual +=. The walk is iterative, so deep (left- or right-
 * degenerate) trees need no recursion either here or in backward. */
#include "graph_internal.h"

#include <math.h>

tg_status tg_tree_layer_init(tg_tree_layer *c, tg_ctx *ctx, const char *name, int64_t dim, tg_dtype dt) {
    if (!ctx) return TG_EINVAL;
    if (!c || !name) return tg__error(ctx, TG_EINVAL, "tree_layer_init: cell and name must not be NULL");
    memset(c, 0, sizeof *c);
    if (dim <= 0)
        return tg__error(ctx, TG_EINVAL, "tree_layer_init: '%s' needs dim > 0, got %lld", name, (long long)dim);
    tg__param_spec ps[2] = {{"W", 2, {2 * dim, dim}, &c->W}, {"b", 1, {dim}, &c->b}};
    tg_status st = tg__layer_params(ctx, "tree_layer_init", name, "", dt, ps, 2);
    if (st) return st;
    tg_init_xavier_uniform(c->W);
    c->dim = dim;
    return TG_OK;
}

void tg_tree_layer_free(tg_tree_layer *c) {
    if (c) memset(c, 0, sizeof *c);
}

tg_tensor *tg_tree_cell(const tg_tree_layer *c, tg_tensor *left, tg_tensor *right) {
    if (!left || !right) return NULL;
    tg_ctx *ctx = left->ctx;
    if (!c || !c->W || !c->b) {
        tg__error(ctx, TG_EINVAL, "tree_cell: the cell is not initialized (children %s, %s)", tg__sh(left),
                  tg__sh(right));
        return NULL;
    }
    if (left->rank != 2 || left->shape[1] != c->dim || !tg_shape_eq(left, right)) {
        tg__error(ctx, TG_ESHAPE, "tree_cell: children %s and %s must both be (B,%lld)", tg__sh(left), tg__sh(right),
                  (long long)c->dim);
        return NULL;
    }
    tg_tensor *pair[2] = {left, right};
    return tg_tanh(tg_addmm(c->b, tg_concat(pair, 2, 1), c->W));
}

tg_status tg_tree_forward(const tg_tree_layer *c, int n, const int32_t *left, const int32_t *right,
                          tg_tensor *const *leaves, tg_tensor **nodes) {
    if (!leaves || !nodes || n < 1) return TG_EINVAL;
    tg_ctx *ctx = NULL;
    for (int i = 0; i < n && !ctx; i++)
        if (leaves[i]) ctx = leaves[i]->ctx;
    if (!ctx) return TG_EINVAL; /* no leaf at all: nothing holds a context */
    if (!left || !right) return tg__error(ctx, TG_EINVAL, "tree_forward: left and right must not be NULL");
    for (int i = 0; i < n; i++) nodes[i] = NULL;
    /* Validate the whole structure before recording anything. */
    for (int i = 0; i < n; i++) {
        int l = left[i], r = right[i];
        if (l < 0 && r < 0) {
            if (!leaves[i]) return tg__error(ctx, TG_EINVAL, "tree_forward: node %d is a leaf but leaves[%d] is NULL", i, i);
            continue;
        }
        if (l < 0 || r < 0 || l >= i || r >= i || l == r)
            return tg__error(ctx, TG_EINVAL,
                             "tree_forward: node %d has children (%d, %d); an internal node needs two distinct "
                             "children with smaller indices (leaves: -1, -1)",
                             i, l, r);
    }
    for (int i = 0; i < n; i++) {
        if (left[i] < 0) nodes[i] = leaves[i];
        else nodes[i] = tg_tree_cell(c, nodes[left[i]], nodes[right[i]]);
        if (!nodes[i]) return tg_last_status(ctx) ? tg_last_status(ctx) : TG_EINVAL;
    }
    return TG_OK;
}
