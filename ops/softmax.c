/* PLACEHOLDER: to be replaced by the real kernels. */
#include "internal.h"
static tg_status softmax_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "softmax: not implemented yet"); }
static tg_status softmax_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return softmax_nyi(n); }
const tg_op_def tg_op_softmax = {.name = "softmax", .n_inputs = -1, .infer = softmax_nyi_infer, .forward = softmax_nyi};
static tg_status log_softmax_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "log_softmax: not implemented yet"); }
static tg_status log_softmax_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return log_softmax_nyi(n); }
const tg_op_def tg_op_log_softmax = {.name = "log_softmax", .n_inputs = -1, .infer = log_softmax_nyi_infer, .forward = log_softmax_nyi};
