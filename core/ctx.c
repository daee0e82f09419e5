/* ctx.c: the context: configuration, hwloc topology, parameters, tape pool. */
#include "internal.h"

#include <hwloc.h>
#include <stdio.h>

tg_config tg_config_default(void) {
    tg_config c = {0};
    c.threads = 0;
    c.seed = 42;
    const char *a = getenv("TG_ANOMALY");
    c.anomaly = a && a[0] == '1';
    return c;
}

static void read_topology(tg_topology *t) {
    hwloc_topology_t topo;
    t->cores = 1;
    t->l1d = t->l2 = t->l3 = 0;
    if (hwloc_topology_init(&topo) != 0) return;
    if (hwloc_topology_load(topo) == 0) {
        int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        if (n > 0) t->cores = n;
        hwloc_obj_t o;
        if ((o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L1CACHE, 0)) && o->attr)
            t->l1d = (size_t)o->attr->cache.size;
        if ((o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L2CACHE, 0)) && o->attr)
            t->l2 = (size_t)o->attr->cache.size;
        if ((o = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L3CACHE, 0)) && o->attr)
            t->l3 = (size_t)o->attr->cache.size;
    }
    hwloc_topology_destroy(topo);
}

tg_ctx *tg_ctx_new(const tg_config *cfg) {
    tg_ctx *ctx = tg__calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->cfg = cfg ? *cfg : tg_config_default();
    read_topology(&ctx->topo);
    int th = ctx->cfg.threads;
    if (th <= 0) {
        const char *e = getenv("TG_THREADS");
        th = e ? atoi(e) : 0;
    }
    if (th <= 0) th = ctx->topo.cores;
    if (th > 256) th = 256;
    ctx->threads = th;
    ctx->pool = tg__pool_new(th);
    if (!ctx->pool) ctx->threads = 1;
    tg_rng_seed(ctx, ctx->cfg.seed);
    return ctx;
}

static void tape_destroy(tg_tape *t) {
    tg__arena_free(&t->arena);
    tg__arena_free(&t->hdr[0]);
    tg__arena_free(&t->hdr[1]);
    tg__free(t);
}

void tg_ctx_free(tg_ctx *ctx) {
    if (!ctx) return;
    tg__pool_free(ctx->pool);
    tg__gemm_free_scratch(); /* the caller's GEMM packing cache (refilled on demand) */
    while (ctx->active) {
        tg_tape *t = ctx->active;
        ctx->active = t->prev_active;
        tape_destroy(t);
    }
    while (ctx->free_tapes) {
        tg_tape *t = ctx->free_tapes;
        ctx->free_tapes = t->next_free;
        tape_destroy(t);
    }
    for (int i = 0; i < ctx->params.n; i++) {
        tg_tensor *p = ctx->params.items[i];
        tg__free((void *)p->name);
        tg__free(p->data);
        tg__free(p->grad);
        tg__free(p);
    }
    tg__free(ctx->params.items);
    tg__free(ctx);
}

int tg_ctx_threads(const tg_ctx *ctx) { return ctx ? ctx->threads : 1; }
tg_topology tg_ctx_topology(const tg_ctx *ctx) {
    if (!ctx) return (tg_topology){0};
    return ctx->topo;
}
/* The getter names of the rule in docs/design.md; error.c keeps the state
 * and the deprecated tg_last_error / tg_last_status. */
const char *tg_ctx_last_error(const tg_ctx *ctx) { return tg_last_error(ctx); }
tg_status tg_ctx_last_status(const tg_ctx *ctx) { return tg_last_status(ctx); }

/* ---- parameters ---- */

tg_tensor *tg_param_find(tg_ctx *ctx, const char *name) {
    if (!ctx || !name) return NULL;
    for (int i = 0; i < ctx->params.n; i++)
        if (strcmp(ctx->params.items[i]->name, name) == 0) return ctx->params.items[i];
    return NULL;
}

tg_tensor *tg_param_new(tg_ctx *ctx, const char *name, tg_dtype dt, int rank, const int64_t *shape) {
    if (!ctx) return NULL;
    if (!name || !name[0] || strlen(name) > 127) {
        tg__error(ctx, TG_EINVAL, "param_new: a parameter needs a name of 1 to 127 bytes");
        return NULL;
    }
    if (tg_param_find(ctx, name)) {
        tg__error(ctx, TG_EINVAL, "param_new: a parameter named '%s' already exists", name);
        return NULL;
    }
    tg_tensor *t = tg_tensor_new(ctx, dt, rank, shape);
    if (!t) return NULL;
    t->name = tg__strdup(name);
    t->grad = tg__calloc((size_t)(t->numel ? t->numel : 1), tg_dtype_size(dt));
    if (ctx->params.n == ctx->params.cap) {
        int cap = ctx->params.cap ? ctx->params.cap * 2 : 16;
        tg_tensor **items = tg__malloc((size_t)cap * sizeof *items);
        if (items) {
            if (ctx->params.n) memcpy(items, ctx->params.items, (size_t)ctx->params.n * sizeof *items);
            tg__free(ctx->params.items);
            ctx->params.items = items;
            ctx->params.cap = cap;
        }
    }
    if (!t->name || !t->grad || ctx->params.n == ctx->params.cap) {
        tg__free((void *)t->name);
        t->name = NULL;
        tg_tensor_free(t);
        tg__error(ctx, TG_ENOMEM, "param_new: out of memory for '%s'", name);
        return NULL;
    }
    t->flags |= TG_PARAM | TG_REQUIRES_GRAD;
    if (rank <= 1) t->flags |= TG_NO_DECAY;
    ctx->params.items[ctx->params.n++] = t;
    return t;
}

/* The parameter called name with exactly n elements, or NULL with the error
 * written (who names the caller in the message). */
static tg_tensor *param_sized(tg_ctx *ctx, const char *who, const char *name, const void *buf, int64_t n) {
    if (!name || !buf) {
        tg__error(ctx, TG_EINVAL, "%s: %s is NULL", who, name ? "the value array" : "name");
        return NULL;
    }
    tg_tensor *p = tg_param_find(ctx, name);
    if (!p) {
        tg__error(ctx, TG_EINVAL, "%s: no parameter named '%s' (%d parameters)", who, name, ctx->params.n);
        return NULL;
    }
    if (n != p->numel) {
        tg__error(ctx, TG_ESHAPE, "%s: '%s' is %s (%lld values), got %lld", who, name, tg__sh(p),
                  (long long)p->numel, (long long)n);
        return NULL;
    }
    return p;
}

tg_status tg_param_set_f64(tg_ctx *ctx, const char *name, const double *src, int64_t n) {
    if (!ctx) return TG_EINVAL;
    tg_tensor *p = param_sized(ctx, "param_set_f64", name, src, n);
    if (!p) return tg_last_status(ctx);
    tg_tensor_set_f64(p, src);
    return TG_OK;
}

tg_status tg_param_get_f64(tg_ctx *ctx, const char *name, double *dst, int64_t n) {
    if (!ctx) return TG_EINVAL;
    tg_tensor *p = param_sized(ctx, "param_get_f64", name, dst, n);
    if (!p) return tg_last_status(ctx);
    tg_tensor_get_f64(p, dst);
    return TG_OK;
}

int tg_param_count(const tg_ctx *ctx) { return ctx ? ctx->params.n : 0; }
tg_tensor *tg_param_at(tg_ctx *ctx, int i) {
    if (!ctx || i < 0 || i >= ctx->params.n) return NULL;
    return ctx->params.items[i];
}

void tg_zero_grad_of(tg_tensor **ts, int n) {
    if (!ts) return;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->grad && !tg__check_live(ts[i], "zero_grad_of")) memset(ts[i]->grad, 0, (size_t)ts[i]->numel * tg_dtype_size(ts[i]->dtype));
}

void tg_zero_grad(tg_ctx *ctx) {
    if (ctx) tg_zero_grad_of(ctx->params.items, ctx->params.n);
}
