/* PLACEHOLDER: to be replaced by the real kernels. */
#include "internal.h"
static tg_status prelu_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "prelu: not implemented yet"); }
static tg_status prelu_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return prelu_nyi(n); }
const tg_op_def tg_op_prelu = {.name = "prelu", .n_inputs = -1, .infer = prelu_nyi_infer, .forward = prelu_nyi};
