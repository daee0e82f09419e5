/* PLACEHOLDER: to be replaced by the real kernels. */
#include "internal.h"
static tg_status mse_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "mse: not implemented yet"); }
static tg_status mse_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return mse_nyi(n); }
const tg_op_def tg_op_mse = {.name = "mse", .n_inputs = -1, .infer = mse_nyi_infer, .forward = mse_nyi};
static tg_status cross_entropy_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "cross_entropy: not implemented yet"); }
static tg_status cross_entropy_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return cross_entropy_nyi(n); }
const tg_op_def tg_op_cross_entropy = {.name = "cross_entropy", .n_inputs = -1, .infer = cross_entropy_nyi_infer, .forward = cross_entropy_nyi};
static tg_status nll_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "nll: not implemented yet"); }
static tg_status nll_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return nll_nyi(n); }
const tg_op_def tg_op_nll = {.name = "nll", .n_inputs = -1, .infer = nll_nyi_infer, .forward = nll_nyi};
static tg_status bce_with_logits_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "bce_with_logits: not implemented yet"); }
static tg_status bce_with_logits_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return bce_with_logits_nyi(n); }
const tg_op_def tg_op_bce_with_logits = {.name = "bce_with_logits", .n_inputs = -1, .infer = bce_with_logits_nyi_infer, .forward = bce_with_logits_nyi};
