/* tensor.c: tensor creation, element access and shape helpers. */
#include "internal.h"

#include <math.h>

size_t tg_dtype_size(tg_dtype dt) { return dt == TG_F64 ? 8 : 4; }
const char *tg_dtype_name(tg_dtype dt) { return dt == TG_F64 ? "f64" : "f32"; }

int64_t tg__numel(int rank, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= shape[i];
    return n;
}

tg_status tg__check_shape(tg_ctx *ctx, const char *who, int rank, const int64_t *shape) {
    if (rank < 0 || rank > TG_MAX_RANK)
        return tg__error(ctx, TG_ESHAPE, "%s: rank %d is outside 0..%d", who, rank, TG_MAX_RANK);
    if (rank > 0 && !shape) return tg__error(ctx, TG_EINVAL, "%s: shape is NULL for rank %d", who, rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return tg__error(ctx, TG_ESHAPE, "%s: dimension %d is negative (%lld)", who, i,
                             (long long)shape[i]);
        if (shape[i] && n > ((int64_t)1 << 48) / shape[i])
            return tg__error(ctx, TG_ESHAPE, "%s: shape %s has too many elements", who,
                             tg__shape_fmt(rank, shape, (char[96]){0}, 96));
        n *= shape[i];
    }
    return TG_OK;
}

static void set_shape(tg_tensor *t, tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->numel = tg__numel(rank, shape);
    t->ctx = ctx;
}

tg_tensor *tg_tensor_new(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape) {
    if (!ctx) return NULL;
    if (dt != TG_F32 && dt != TG_F64) {
        tg__error(ctx, TG_EDTYPE, "tensor_new: unknown dtype %d", (int)dt);
        return NULL;
    }
    if (tg__check_shape(ctx, "tensor_new", rank, shape)) return NULL;
    tg_tensor *t = tg__malloc(sizeof *t);
    if (!t) {
        tg__error(ctx, TG_ENOMEM, "tensor_new: out of memory");
        return NULL;
    }
    set_shape(t, ctx, dt, rank, shape);
    t->data = tg__calloc((size_t)(t->numel ? t->numel : 1), tg_dtype_size(dt));
    if (!t->data) {
        tg__free(t);
        tg__error(ctx, TG_ENOMEM, "tensor_new: out of memory for %s",
                  tg__shape_fmt(rank, shape, (char[96]){0}, 96));
        return NULL;
    }
    t->flags = TG_PERSISTENT;
    return t;
}

void tg_tensor_free(tg_tensor *t) {
    if (!t || !(t->flags & TG_PERSISTENT) || (t->flags & TG_PARAM)) return;
    tg__free(t->data);
    tg__free(t->grad);
    tg__free(t);
}

tg_tensor *tg__tensor_on_tape(tg_tape *tape, tg_dtype dt, int rank, const int64_t *shape, bool zero) {
    int64_t n = tg__numel(rank, shape);
    size_t bytes = (size_t)(n ? n : 1) * tg_dtype_size(dt);
    tg__slot *slot = tg__slot_new(tape); /* the header in a slot: see tg__slot */
    tg_tensor *t = slot ? &slot->t : NULL;
    void *d = t ? tg__arena_alloc(&tape->arena, bytes) : NULL;
    if (!d) {
        tg__error(tape->ctx, TG_ENOMEM, "tape: out of memory for a tensor of %s",
                  tg__shape_fmt(rank, shape, (char[96]){0}, 96));
        return NULL;
    }
    set_shape(t, tape->ctx, dt, rank, shape);
    t->data = d;
    t->tape = tape;
    t->gen = tape->gen;
    if (zero) memset(d, 0, bytes);
    return t;
}

tg_tensor *tg_tensor_temp(tg_ctx *ctx, tg_dtype dt, int rank, const int64_t *shape) {
    if (!ctx) return NULL;
    if (!ctx->active) {
        tg__error(ctx, TG_ESTATE, "tensor_temp: no active tape (call tg_tape_begin first)");
        return NULL;
    }
    if (dt != TG_F32 && dt != TG_F64) {
        tg__error(ctx, TG_EDTYPE, "tensor_temp: unknown dtype %d", (int)dt);
        return NULL;
    }
    if (tg__check_shape(ctx, "tensor_temp", rank, shape)) return NULL;
    return tg__tensor_on_tape(ctx->active, dt, rank, shape, true);
}

tg_tensor *tg_scalar(tg_ctx *ctx, tg_dtype dt, double v) {
    tg_tensor *t = tg_tensor_temp(ctx, dt, 0, NULL);
    if (t) tg__st(t, 0, v);
    return t;
}

tg_status tg_tensor_requires_grad(tg_tensor *t, int on) {
    if (!t) return TG_EINVAL;
    if (tg__check_live(t, "requires_grad")) return TG_ESTATE;
    if (t->node) return tg__error(t->ctx, TG_EINVAL, "requires_grad: only leaf tensors can be marked");
    if (!on) {
        t->flags &= ~(unsigned)TG_REQUIRES_GRAD;
        return TG_OK;
    }
    if (!t->grad) {
        size_t bytes = (size_t)(t->numel ? t->numel : 1) * tg_dtype_size(t->dtype);
        if (t->tape) t->grad = tg__arena_alloc(&t->tape->arena, bytes);
        else t->grad = tg__malloc(bytes);
        if (!t->grad) return tg__error(t->ctx, TG_ENOMEM, "requires_grad: out of memory");
        memset(t->grad, 0, bytes);
    }
    t->flags |= TG_REQUIRES_GRAD;
    return TG_OK;
}

/* Element access is user-facing: an index out of range, or a tensor whose
 * tape has ended, sets an error and reads NaN (or writes nothing) instead of
 * stopping the program. */
static int in_range(const tg_tensor *t, int64_t i, const char *who) {
    if (!t) return 0;
    if (tg__check_live(t, who)) return 0;
    if (i < 0 || i >= t->numel) {
        tg__error(t->ctx, TG_EINVAL, "%s: index %lld is outside a tensor of %s (%lld elements)", who,
                  (long long)i, tg__sh(t), (long long)t->numel);
        return 0;
    }
    return 1;
}
double tg_tensor_get(const tg_tensor *t, int64_t i) { return in_range(t, i, "get") ? tg__ld(t, i) : NAN; }
void tg_tensor_set(tg_tensor *t, int64_t i, double v) {
    if (in_range(t, i, "set")) tg__st(t, i, v);
}
double tg_tensor_item(const tg_tensor *t) { return in_range(t, 0, "item") ? tg__ld(t, 0) : NAN; }
double tg_tensor_grad_get(const tg_tensor *t, int64_t i) {
    if (!in_range(t, i, "grad_get")) return NAN;
    if (!t->grad) return 0.0;
    return t->dtype == TG_F32 ? (double)((const float *)t->grad)[i] : ((const double *)t->grad)[i];
}
tg_status tg_tensor_grad_get_f64(const tg_tensor *t, double *dst, int64_t n) {
    if (!t) return TG_EINVAL; /* no context to hold a message */
    if (tg__check_live(t, "grad_get_f64")) return TG_ESTATE;
    if (!dst) return tg__error(t->ctx, TG_EINVAL, "grad_get_f64: dst is NULL (tensor %s)", tg__sh(t));
    if (n != t->numel)
        return tg__error(t->ctx, TG_ESHAPE, "grad_get_f64: dst holds %lld values, the tensor %s has %lld",
                         (long long)n, tg__sh(t), (long long)t->numel);
    if (!t->grad) {
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0;
    } else if (t->dtype == TG_F32) {
        for (int64_t i = 0; i < n; i++) dst[i] = (double)((const float *)t->grad)[i];
    } else {
        memcpy(dst, t->grad, (size_t)n * sizeof *dst);
    }
    return TG_OK;
}
void tg_tensor_set_f64(tg_tensor *t, const double *src) {
    if (!t) return; /* no context to hold a message; a NULL op result already left one */
    if (tg__check_live(t, "set_f64")) return;
    if (!src) {
        tg__error(t->ctx, TG_EINVAL, "tensor_set_f64: NULL source for %s", tg__sh(t));
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) tg__st(t, i, src[i]);
}
void tg_tensor_get_f64(const tg_tensor *t, double *dst) {
    if (!t) return;
    if (tg__check_live(t, "get_f64")) return;
    if (!dst) {
        tg__error(t->ctx, TG_EINVAL, "tensor_get_f64: NULL destination for %s", tg__sh(t));
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) dst[i] = tg__ld(t, i);
}
void tg_tensor_fill(tg_tensor *t, double v) {
    if (!t) return;
    if (tg__check_live(t, "fill")) return;
    for (int64_t i = 0; i < t->numel; i++) tg__st(t, i, v);
}
int tg_tensor_shape_eq(const tg_tensor *a, const tg_tensor *b) {
    if (!a || !b) return 0;
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}
char *tg_tensor_shape_str(const tg_tensor *t, char *buf, size_t len) { return tg_shape_str(t, buf, len); }
int64_t tg_tensor_dim(const tg_tensor *t, int d) {
    if (!t) return -1;
    if (tg__check_live(t, "dim")) return -1;
    int a = tg__axis(d, t->rank);
    return a < 0 ? -1 : t->shape[a];
}

/* The names before the tg_<thing>_<property> rule (docs/design.md), kept so
 * that no caller has to change; tapegrad.h marks them deprecated. */
double tg_get(const tg_tensor *t, int64_t i) { return tg_tensor_get(t, i); }
void tg_set(tg_tensor *t, int64_t i, double v) { tg_tensor_set(t, i, v); }
double tg_item(const tg_tensor *t) { return tg_tensor_item(t); }
double tg_grad_get(const tg_tensor *t, int64_t i) { return tg_tensor_grad_get(t, i); }
int tg_shape_eq(const tg_tensor *a, const tg_tensor *b) { return tg_tensor_shape_eq(a, b); }
int64_t tg_dim(const tg_tensor *t, int d) { return tg_tensor_dim(t, d); }
int tg__axis(int axis, int rank) {
    if (axis < 0) axis += rank;
    return (axis < 0 || axis >= rank) ? -1 : axis;
}
