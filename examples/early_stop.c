/* early_stop.c: --early-stop's bookkeeping, the lecture's rule: keep a copy
 * of the parameters at the best validation check, stop when the error rises
 * (see common.h). */
#include "common.h"

#include <stdlib.h>
#include <string.h>

int ex_early_stop_check(ex_early_stop *e, tg_ctx *ctx, int ep, double val_acc, int *stop) {
    double err = 1 - val_acc;
    *stop = err > e->last_err;
    e->last_err = err;
    if (!(err < e->best_err)) return 0;
    e->best_err = err;
    e->best_epoch = ep;
    int n = tg_param_count(ctx);
    if (!e->data) {
        e->data = calloc((size_t)n, sizeof *e->data);
        if (!e->data) return -1;
        e->n = n;
    }
    for (int i = 0; i < n && i < e->n; i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        size_t bytes = (size_t)p->numel * tg_dtype_size(p->dtype);
        if (!e->data[i] && !(e->data[i] = malloc(bytes ? bytes : 1))) return -1;
        memcpy(e->data[i], p->data, bytes);
    }
    return 0;
}

int ex_early_stop_restore(const ex_early_stop *e, tg_ctx *ctx, int epochs_run) {
    if (!e->best_epoch || e->best_epoch == epochs_run || !e->data) return 0;
    for (int i = 0; i < e->n; i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        if (p && e->data[i]) memcpy(p->data, e->data[i], (size_t)p->numel * tg_dtype_size(p->dtype));
    }
    return 1;
}

void ex_early_stop_free(ex_early_stop *e) {
    for (int i = 0; e->data && i < e->n; i++) free(e->data[i]);
    free(e->data);
    e->data = NULL;
    e->n = 0;
}
