/*
 * graph_internal.h: graph/'s private declarations: optimizer state for
 * checkpoints, the op-checking sweep. Visible to the tests only; core/ and
 * ops/ are built without graph/ on their include path.
 */
#ifndef TG_GRAPH_INTERNAL_H
#define TG_GRAPH_INTERNAL_H
#include "ops_internal.h"

/* ---- optimizer state, for checkpoints (graph/optim.c) ----
 * Each parameter of an optimizer group has n_slots state buffers with the
 * parameter's shape and dtype (Adam: "exp_avg", "exp_avg_sq"; momentum:
 * "momentum_buffer"; AdaGrad: "sum"; RMSProp: "square_avg" [+ "momentum_buffer"];
 * AdaDelta: "square_avg", "acc_delta"), named as in torch.optim's state_dict. */
int tg__optim_nparams(const tg_optim *o);
tg_tensor *tg__optim_param(const tg_optim *o, int i);
int tg__optim_nslots(const tg_optim *o);
const char *tg__optim_slot_name(const tg_optim *o, int s);
void *tg__optim_slot(const tg_optim *o, int i, int s); /* param-shaped buffer */
void tg__optim_set_steps(tg_optim *o, int64_t steps);
tg_optim_kind tg__optim_kind(const tg_optim *o);  /* the group's algorithm */

/* acc + Σ grad[k]² over t's gradient in double, k in flat order (one
 * order, so a sum over many tensors is the same wherever it is taken:
 * tg_optim_clip_grad_norm, the DOT export's gradient norms). graph/optim.c. */
double tg__grad_sumsq(const tg_tensor *t, double acc);

/* ---- layer construction (graph/init.c) ----
 * Every layer (dense, conv2d, tree, RNN cell, stacked RNN) creates its
 * parameters through tg__layer_params, so each gets the same checks (name
 * 1..TG_LAYER_NAME_MAX bytes, dtype f32/f64, no existing "<name><sub>.<role>")
 * and the same all-or-nothing rule: on any failure every parameter it had
 * created is unregistered and freed, each *out is NULL, and the context holds
 * exactly what it held before. */
typedef struct tg__param_spec {
    const char *role;      /* last part of the name: "<name><sub>.<role>" */
    int rank;              /* 1..4 */
    int64_t shape[4];
    tg_tensor **out;       /* receives the parameter (NULL on failure) */
} tg__param_spec;
/* who starts messages ("dense_init"); sub is "" or a cell's ".l<k>[r]" inside
 * a stacked RNN (the name limit applies to name, not to name + sub). */
tg_status tg__layer_params(tg_ctx *ctx, const char *who, const char *name, const char *sub, tg_dtype dt,
                           const tg__param_spec *ps, int n);
/* Unregister and free every parameter registered after the first `keep` (the
 * tg_param_count before a multi-part construction); for undoing a layer. */
void tg__params_truncate(tg_ctx *ctx, int keep);

/* ---- op checking (graph/opcheck.c, graph/gradcheck.c) ---- */
/* Sweep the registry (or the op named `only`): f64 gradcheck of every case,
 * and with full=1 the f32/f64, zero-dy, twice, used-twice and bad-input
 * checks. One line per check to out (may be NULL). */
int tg__opcheck_run(const char *only, int full, FILE *out, int *n_pass, int *n_fail);
/* "2,3;1,3" -> shapes; 0 or -1 on a malformed string. */
int tg__parse_shapes(const char *s, int *n_in, int rank[], int64_t shape[][TG_MAX_RANK]);
/* One input value from the spec's range, away from its kinks (ctx RNG). */
double tg__sample_input(tg_ctx *ctx, const tg_check_spec *sp);

#endif /* TG_GRAPH_INTERNAL_H */
