/* common.c: shape inference shared by many ops. */
#include "ops_internal.h"

tg_status tg__same_dtype(tg_node *n) {
    for (int i = 1; i < n->n_in; i++)
        if (n->in[i]->dtype != n->in[0]->dtype)
            return tg__error(n->ctx, TG_EDTYPE, "%s: input %d is %s but input 0 is %s", n->op->name, i,
                             tg_dtype_name(n->in[i]->dtype), tg_dtype_name(n->in[0]->dtype));
    return TG_OK;
}

tg_status tg__infer_same(tg_node *n, tg_out_spec *out) {
    const tg_tensor *x = n->in[0];
    out->dtype = x->dtype;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) out->shape[i] = x->shape[i]; /* no memcpy call: runs per op */
    return TG_OK;
}

tg_status tg__infer_broadcast(tg_node *n, tg_out_spec *out) {
    const tg_tensor *a = n->in[0], *b = n->in[1];
    if (a->dtype != b->dtype) return tg__same_dtype(n); /* the error */
    if (a->rank == b->rank) { /* same shape: the common case, no broadcasting */
        int i = 0;
        while (i < a->rank && a->shape[i] == b->shape[i]) i++;
        if (i == a->rank) {
            out->rank = a->rank;
            out->dtype = a->dtype;
            for (i = 0; i < a->rank; i++) out->shape[i] = a->shape[i];
            return TG_OK;
        }
    }
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return tg__error(n->ctx, TG_ESHAPE,
                             "%s: cannot broadcast %s with %s: dimension %d is %lld against %lld",
                             n->op->name, tg__sh(a), tg__sh(b), i, (long long)da, (long long)db);
        out->shape[i] = da == 1 ? db : da;
    }
    out->rank = r;
    out->dtype = a->dtype;
    return TG_OK;
}
