/* optim.c: first-order optimizers, gradient clipping and learning-rate
 * schedules.
 *
 * Every update follows the single-tensor ("for-loop") path of torch.optim
 * (PyTorch 1.13) operation for operation, in the parameter's own dtype, so an
 * f64 run agrees with torch to rounding (test/test_optim.c holds it to 1e-9
 * against test/ref/optim_ref.txt). With g the gradient, p the parameter and
 * wd the weight decay (0 for TG_NO_DECAY params unless decay_biases):
 *
 *   L2 decay (all but AdamW)  g ← g + wd·p
 *   SGD / momentum            b ← μ·b + g;  d = nesterov ? g + μ·b : b;  p ← p − lr·d
 *   AdaGrad                   s ← s + g²;  p ← p − lr·g/(√s + ε)
 *   RMSProp                   v ← α·v + (1−α)·g²;  a = √v + ε;
 *                             μ > 0: b ← μ·b + g/a, p ← p − lr·b;  else p ← p − lr·g/a
 *   AdaDelta                  v ← ρ·v + (1−ρ)·g²;  δ = √(u+ε)/√(v+ε)·g;
 *                             u ← ρ·u + (1−ρ)·δ²;  p ← p − lr·δ
 *   Adam (step t)             m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *                             p ← p − lr/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + ε)
 *   AdamW                     p ← p·(1 − lr·wd), then Adam without L2 decay
 *
 * torch initialises the momentum buffer to the first gradient; with dampening
 * 0 that equals μ·0 + g, so zeroed buffers give the same numbers and need no
 * "first step" branch. All state lives in buffers allocated by tg_optim_new:
 * tg_optim_step never allocates. */
#include "graph_internal.h"

#include <math.h>

struct tg_optim {
    tg_ctx *ctx;
    tg_optim_config cfg;
    int n;                 /* parameters in the group */
    tg_tensor **params;    /* (n), not owned */
    int n_slots;           /* state buffers per parameter */
    const char *slot_names[2];
    void **slots;          /* (n, n_slots) param-shaped buffers, owned */
    int64_t steps;
};

/* ---- kinds and defaults ---- */

static const char *const kind_names[] = {"sgd", "momentum", "nesterov", "adagrad",
                                         "rmsprop", "adadelta", "adam", "adamw"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(N_KINDS == TG_OPT_ADAMW + 1, "kind_names must list every tg_optim_kind");

int tg_optim_kind_parse(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

const char *tg_optim_kind_name(tg_optim_kind kind) {
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "unknown";
}

tg_optim_config tg_optim_defaults(tg_optim_kind kind) {
    tg_optim_config c = {0};
    c.kind = kind;
    c.decay_biases = 1; /* torch decays every parameter unless told otherwise */
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.alpha = 0.99;
    c.rho = 0.9;
    switch (kind) {
    case TG_OPT_SGD: c.lr = 0.01; break; /* torch has no default lr for SGD */
    case TG_OPT_MOMENTUM:
    case TG_OPT_NESTEROV:
        c.lr = 0.01;
        c.momentum = 0.9;
        break;
    case TG_OPT_ADAGRAD: c.lr = 0.01; c.eps = 1e-10; break;
    case TG_OPT_RMSPROP: c.lr = 0.01; c.eps = 1e-8; break;
    case TG_OPT_ADADELTA: c.lr = 1.0; c.eps = 1e-6; break;
    case TG_OPT_ADAM: c.lr = 1e-3; c.eps = 1e-8; break;
    case TG_OPT_ADAMW: c.lr = 1e-3; c.eps = 1e-8; c.weight_decay = 1e-2; break;
    }
    return c;
}

/* Slots (torch.optim state_dict names) used by a configuration. */
static int slot_layout(const tg_optim_config *c, const char *names[2]) {
    switch (c->kind) {
    case TG_OPT_SGD:
    case TG_OPT_MOMENTUM:
        if (c->momentum == 0) return 0;
        names[0] = "momentum_buffer";
        return 1;
    case TG_OPT_NESTEROV: names[0] = "momentum_buffer"; return 1;
    case TG_OPT_ADAGRAD: names[0] = "sum"; return 1;
    case TG_OPT_RMSPROP:
        names[0] = "square_avg";
        if (c->momentum == 0) return 1;
        names[1] = "momentum_buffer";
        return 2;
    case TG_OPT_ADADELTA: names[0] = "square_avg"; names[1] = "acc_delta"; return 2;
    case TG_OPT_ADAM:
    case TG_OPT_ADAMW: names[0] = "exp_avg"; names[1] = "exp_avg_sq"; return 2;
    }
    return 0;
}

static tg_status check_config(tg_ctx *ctx, const tg_optim_config *c) {
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return tg__error(ctx, TG_EINVAL, "optim_new: unknown optimizer kind %d", (int)c->kind);
    const char *k = kind_names[c->kind];
    /* !(x >= 0) also rejects NaN. */
    if (!(c->lr >= 0) || !isfinite(c->lr))
        return tg__error(ctx, TG_EINVAL, "optim_new: %s: lr must be finite and >= 0, got %g", k, c->lr);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return tg__error(ctx, TG_EINVAL, "optim_new: %s: weight_decay must be finite and >= 0, got %g", k,
                         c->weight_decay);
    if (!(c->momentum >= 0) || !isfinite(c->momentum))
        return tg__error(ctx, TG_EINVAL, "optim_new: %s: momentum must be finite and >= 0, got %g", k,
                         c->momentum);
    if (c->kind == TG_OPT_NESTEROV && !(c->momentum > 0))
        return tg__error(ctx, TG_EINVAL, "optim_new: nesterov needs momentum > 0");
    if (!(c->eps >= 0) || !isfinite(c->eps))
        return tg__error(ctx, TG_EINVAL, "optim_new: %s: eps must be finite and >= 0, got %g", k, c->eps);
    if (c->kind == TG_OPT_ADAM || c->kind == TG_OPT_ADAMW) {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return tg__error(ctx, TG_EINVAL, "optim_new: %s: betas must lie in [0,1), got (%g, %g)", k,
                             c->beta1, c->beta2);
    }
    if (c->kind == TG_OPT_RMSPROP && !(c->alpha >= 0 && c->alpha <= 1))
        return tg__error(ctx, TG_EINVAL, "optim_new: rmsprop: alpha must lie in [0,1], got %g", c->alpha);
    if (c->kind == TG_OPT_ADADELTA && !(c->rho >= 0 && c->rho <= 1))
        return tg__error(ctx, TG_EINVAL, "optim_new: adadelta: rho must lie in [0,1], got %g", c->rho);
    return TG_OK;
}

static void optim_release(tg_optim *o) {
    if (!o) return;
    if (o->slots)
        for (int i = 0; i < o->n * o->n_slots; i++) tg__free(o->slots[i]);
    tg__free(o->slots);
    tg__free(o->params);
    tg__free(o);
}

tg_optim *tg_optim_new(tg_ctx *ctx, const tg_optim_config *cfg, tg_tensor **params, int n) {
    if (!ctx) return NULL;
    if (!cfg) {
        tg__error(ctx, TG_EINVAL, "optim_new: cfg must not be NULL");
        return NULL;
    }
    if (check_config(ctx, cfg) != TG_OK) return NULL;
    if (n < 0 || (n > 0 && !params)) {
        tg__error(ctx, TG_EINVAL, "optim_new: bad parameter list (n = %d)", n);
        return NULL;
    }
    if (n == 0) {
        params = ctx->params.items;
        n = ctx->params.n;
    }
    for (int i = 0; i < n; i++) {
        tg_tensor *p = params[i];
        if (!p) {
            tg__error(ctx, TG_EINVAL, "optim_new: parameter %d is NULL", i);
            return NULL;
        }
        if (p->ctx != ctx || p->tape || p->node || !p->grad || !(p->flags & TG_REQUIRES_GRAD)) {
            tg__error(ctx, TG_EINVAL,
                      "optim_new: parameter %d %s ('%s') must be a persistent leaf of this context "
                      "that requires grad",
                      i, tg__sh(p), p->name ? p->name : "unnamed");
            return NULL;
        }
        if (p->dtype != TG_F32 && p->dtype != TG_F64) {
            tg__error(ctx, TG_EDTYPE, "optim_new: parameter %d %s has an unknown dtype", i, tg__sh(p));
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (params[j] == p) {
                tg__error(ctx, TG_EINVAL, "optim_new: parameter %d %s ('%s') appears twice in the group",
                          i, tg__sh(p), p->name ? p->name : "unnamed");
                return NULL;
            }
    }
    tg_optim *o = tg__calloc(1, sizeof *o);
    if (!o) goto oom;
    o->ctx = ctx;
    o->cfg = *cfg;
    o->n_slots = slot_layout(cfg, o->slot_names);
    o->params = tg__calloc((size_t)(n ? n : 1), sizeof *o->params);
    if (!o->params) goto oom;
    o->n = n;
    if (n) memcpy(o->params, params, (size_t)n * sizeof *params);
    if (o->n_slots) {
        o->slots = tg__calloc((size_t)n * (size_t)o->n_slots, sizeof *o->slots);
        if (!o->slots && n) goto oom;
        for (int i = 0; i < n; i++) {
            const tg_tensor *p = params[i];
            for (int s = 0; s < o->n_slots; s++) {
                void *b = tg__calloc((size_t)(p->numel ? p->numel : 1), tg_dtype_size(p->dtype));
                if (!b) goto oom;
                o->slots[i * o->n_slots + s] = b;
            }
        }
    }
    return o;
oom:
    optim_release(o);
    tg__error(ctx, TG_ENOMEM, "optim_new: out of memory for the state of %d parameters", n);
    return NULL;
}

void tg_optim_free(tg_optim *opt) { optim_release(opt); }

/* ---- update kernels, one body per dtype ----
 * Operation order copies ATen's CPU kernels: add(a, b, alpha) = a + alpha·b,
 * addcmul(a, b, c, v) = a + v·b·c, addcdiv(a, b, c, v) = a + v·b/c. */

#define TG_OPTIM_KERNELS(T, SQRT)                                                              \
    /* The branches are hoisted out of the loops: a NULL buf tested per element \
     * kept the loop from vectorizing cleanly (masked loads of a NULL pointer). */ \
    static void sgd_##T(T *p, const T *g, T *buf, int64_t n, T lr, T wd, T mu, int nesterov) { \
        if (!buf && wd == (T)0) {                                                              \
            for (int64_t i = 0; i < n; i++) p[i] = p[i] + -lr * g[i];                          \
        } else if (!buf) {                                                                     \
            for (int64_t i = 0; i < n; i++) p[i] = p[i] + -lr * (g[i] + wd * p[i]);            \
        } else if (!nesterov) {                                                                \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                    \
                buf[i] = buf[i] * mu + d;                                                      \
                p[i] = p[i] + -lr * buf[i];                                                    \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                    \
                buf[i] = buf[i] * mu + d;                                                      \
                p[i] = p[i] + -lr * (d + mu * buf[i]);                                         \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    static void adagrad_##T(T *p, const T *g, T *sum, int64_t n, T lr, T wd, T eps) {          \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                                            \
            sum[i] = sum[i] + (T)1 * d * d;                                                    \
            T std = SQRT(sum[i]) + eps;                                                        \
            p[i] = p[i] + -lr * d / std;                                                       \
        }                                                                                      \
    }                                                                                          \
    static void rmsprop_##T(T *p, const T *g, T *sq, T *buf, int64_t n, T lr, T wd, T alpha,   \
                            T eps, T mu) {                                                     \
        if (buf) {                                                                             \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                    \
                sq[i] = sq[i] * alpha + ((T)1 - alpha) * d * d;                                \
                T avg = SQRT(sq[i]) + eps;                                                     \
                buf[i] = buf[i] * mu + (T)1 * d / avg;                                         \
                p[i] = p[i] + -lr * buf[i];                                                    \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                    \
                sq[i] = sq[i] * alpha + ((T)1 - alpha) * d * d;                                \
                T avg = SQRT(sq[i]) + eps;                                                     \
                p[i] = p[i] + -lr * d / avg;                                                   \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    static void adadelta_##T(T *p, const T *g, T *sq, T *acc, int64_t n, T lr, T wd, T rho,    \
                             T eps) {                                                          \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                                            \
            sq[i] = sq[i] * rho + ((T)1 - rho) * d * d;                                        \
            T std = SQRT(sq[i] + eps);                                                         \
            T delta = SQRT(acc[i] + eps) / std * d;                                            \
            acc[i] = acc[i] * rho + ((T)1 - rho) * delta * delta;                              \
            p[i] = p[i] + -lr * delta;                                                         \
        }                                                                                      \
    }                                                                                          \
    /* decay: multiplier for decoupled decay (AdamW), 1 for Adam; wd: L2 (Adam) */             \
    static void adam_##T(T *p, const T *g, T *m, T *v, int64_t n, T step_size, T bc2_sqrt,     \
                         T b1, T b2, T eps, T wd, T decay) {                                   \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T d = wd != (T)0 ? g[i] + wd * p[i] : g[i];                                                            \
            if (decay != (T)1) p[i] = p[i] * decay;                                            \
            m[i] = m[i] * b1 + ((T)1 - b1) * d;                                                \
            v[i] = v[i] * b2 + ((T)1 - b2) * d * d;                                            \
            T denom = SQRT(v[i]) / bc2_sqrt + eps;                                             \
            p[i] = p[i] + -step_size * m[i] / denom;                                           \
        }                                                                                      \
    }

TG_OPTIM_KERNELS(float, sqrtf)
TG_OPTIM_KERNELS(double, sqrt)
#undef TG_OPTIM_KERNELS

/* Call the float or double kernel by the parameter's dtype; T-typed scalars
 * are converted once, as torch converts Python scalars to the tensor dtype. */
#define TG_OPT_CALL(p, KERNEL, ...)                                                           \
    do {                                                                                      \
        if ((p)->dtype == TG_F32) {                                                           \
            typedef float T;                                                                  \
            KERNEL##_float(__VA_ARGS__);                                                      \
        } else {                                                                              \
            typedef double T;                                                                 \
            KERNEL##_double(__VA_ARGS__);                                                     \
        }                                                                                     \
    } while (0)

tg_status tg_optim_step(tg_optim *opt) {
    if (!opt) return TG_EINVAL;
    const tg_optim_config *c = &opt->cfg;
    opt->steps++;
    /* Adam's bias corrections use the step count after the increment. */
    double t = (double)opt->steps;
    double bc1 = 1.0 - pow(c->beta1, t), bc2 = 1.0 - pow(c->beta2, t);
    double step_size = c->lr / bc1, bc2_sqrt = sqrt(bc2);
    for (int i = 0; i < opt->n; i++) {
        tg_tensor *p = opt->params[i];
        void **st = opt->n_slots ? opt->slots + (size_t)i * (size_t)opt->n_slots : NULL;
        double wd = (c->decay_biases || !(p->flags & TG_NO_DECAY)) ? c->weight_decay : 0.0;
        int64_t n = p->numel;
        switch (c->kind) {
        case TG_OPT_SGD:
        case TG_OPT_MOMENTUM:
        case TG_OPT_NESTEROV:
            TG_OPT_CALL(p, sgd, p->data, p->grad, st ? st[0] : NULL, n, (T)c->lr, (T)wd, (T)c->momentum,
                        c->kind == TG_OPT_NESTEROV);
            break;
        case TG_OPT_ADAGRAD:
            /* torch: clr = lr / (1 + (step-1)·lr_decay) with lr_decay 0 */
            TG_OPT_CALL(p, adagrad, p->data, p->grad, st[0], n, (T)c->lr, (T)wd, (T)c->eps);
            break;
        case TG_OPT_RMSPROP:
            TG_OPT_CALL(p, rmsprop, p->data, p->grad, st[0], opt->n_slots > 1 ? st[1] : NULL, n,
                        (T)c->lr, (T)wd, (T)c->alpha, (T)c->eps, (T)c->momentum);
            break;
        case TG_OPT_ADADELTA:
            TG_OPT_CALL(p, adadelta, p->data, p->grad, st[0], st[1], n, (T)c->lr, (T)wd, (T)c->rho,
                        (T)c->eps);
            break;
        case TG_OPT_ADAM:
            TG_OPT_CALL(p, adam, p->data, p->grad, st[0], st[1], n, (T)step_size, (T)bc2_sqrt,
                        (T)c->beta1, (T)c->beta2, (T)c->eps, (T)wd, (T)1);
            break;
        case TG_OPT_ADAMW:
            TG_OPT_CALL(p, adam, p->data, p->grad, st[0], st[1], n, (T)step_size, (T)bc2_sqrt,
                        (T)c->beta1, (T)c->beta2, (T)c->eps, (T)0, (T)(1.0 - c->lr * wd));
            break;
        }
    }
    return TG_OK;
}
#undef TG_OPT_CALL

void tg_optim_zero_grad(tg_optim *opt) {
    if (opt) tg_zero_grad_of(opt->params, opt->n);
}

double tg__grad_sumsq(const tg_tensor *t, double acc) {
    if (t->dtype == TG_F32) {
        const float *g = t->grad;
        for (int64_t k = 0; k < t->numel; k++) acc += (double)g[k] * (double)g[k];
    } else {
        const double *g = t->grad;
        for (int64_t k = 0; k < t->numel; k++) acc += g[k] * g[k];
    }
    return acc;
}

tg_status tg_optim_clip_grad_norm(tg_optim *opt, double max_norm, double *norm_out) {
    if (!opt) return TG_EINVAL;
    if (norm_out) *norm_out = 0;
    if (!(max_norm >= 0))
        return tg__error(opt->ctx, TG_EINVAL, "clip_grad_norm: max_norm must be >= 0, got %g", max_norm);
    /* Sum of squares in double whatever the dtype, in a fixed order. */
    double ss = 0;
    for (int i = 0; i < opt->n; i++) ss = tg__grad_sumsq(opt->params[i], ss);
    double norm = sqrt(ss);
    if (norm_out) *norm_out = norm;
    if (!isfinite(norm))
        return tg__error(opt->ctx, TG_ENUMERIC,
                         "clip_grad_norm: the gradient norm over %d parameters is %g; gradients left "
                         "unchanged",
                         opt->n, norm);
    /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1. */
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0) return TG_OK;
    for (int i = 0; i < opt->n; i++) {
        tg_tensor *p = opt->params[i];
        if (p->dtype == TG_F32) {
            float *g = p->grad, cf = (float)coef;
            for (int64_t k = 0; k < p->numel; k++) g[k] *= cf;
        } else {
            double *g = p->grad;
            for (int64_t k = 0; k < p->numel; k++) g[k] *= coef;
        }
    }
    return TG_OK;
}

void tg_optim_set_lr(tg_optim *opt, double lr) {
    if (opt && lr >= 0 && isfinite(lr)) opt->cfg.lr = lr;
}
double tg_optim_lr(const tg_optim *opt) { return opt ? opt->cfg.lr : 0.0; }
double tg_optim_get_lr(const tg_optim *opt) { return tg_optim_lr(opt); } /* deprecated name */
int64_t tg_optim_steps(const tg_optim *opt) { return opt ? opt->steps : 0; }

/* ---- schedules ---- */

double tg_lr_step(double lr0, int epoch, int step_size, double gamma) {
    if (step_size <= 0 || epoch <= 0) return lr0;
    return lr0 * pow(gamma, (double)(epoch / step_size));
}

double tg_lr_cosine(double lr0, double lr_min, int t, int T) {
    if (T <= 0) return lr_min;
    if (t < 0) t = 0;
    if (t > T) t = T;
    return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + cos(3.14159265358979323846 * (double)t / (double)T));
}

/* ---- state access for checkpoints (graph/checkpoint.c) ---- */

int tg__optim_nparams(const tg_optim *o) { return o ? o->n : 0; }
tg_tensor *tg__optim_param(const tg_optim *o, int i) {
    return o && i >= 0 && i < o->n ? o->params[i] : NULL;
}
int tg__optim_nslots(const tg_optim *o) { return o ? o->n_slots : 0; }
const char *tg__optim_slot_name(const tg_optim *o, int s) {
    return o && s >= 0 && s < o->n_slots ? o->slot_names[s] : NULL;
}
void *tg__optim_slot(const tg_optim *o, int i, int s) {
    if (!o || i < 0 || i >= o->n || s < 0 || s >= o->n_slots) return NULL;
    return o->slots[(size_t)i * (size_t)o->n_slots + (size_t)s];
}
void tg__optim_set_steps(tg_optim *o, int64_t steps) {
    if (o && steps >= 0) o->steps = steps;
}
tg_optim_kind tg__optim_kind(const tg_optim *o) { return o ? o->cfg.kind : TG_OPT_SGD; }
