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
