/* PLACEHOLDER: to be replaced by the real kernels. */
#include "internal.h"
static tg_status neg_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "neg: not implemented yet"); }
static tg_status neg_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return neg_nyi(n); }
const tg_op_def tg_op_neg = {.name = "neg", .n_inputs = -1, .infer = neg_nyi_infer, .forward = neg_nyi};
static tg_status exp_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "exp: not implemented yet"); }
static tg_status exp_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return exp_nyi(n); }
const tg_op_def tg_op_exp = {.name = "exp", .n_inputs = -1, .infer = exp_nyi_infer, .forward = exp_nyi};
static tg_status log_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "log: not implemented yet"); }
static tg_status log_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return log_nyi(n); }
const tg_op_def tg_op_log = {.name = "log", .n_inputs = -1, .infer = log_nyi_infer, .forward = log_nyi};
static tg_status sqrt_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "sqrt: not implemented yet"); }
static tg_status sqrt_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return sqrt_nyi(n); }
const tg_op_def tg_op_sqrt = {.name = "sqrt", .n_inputs = -1, .infer = sqrt_nyi_infer, .forward = sqrt_nyi};
static tg_status square_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "square: not implemented yet"); }
static tg_status square_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return square_nyi(n); }
const tg_op_def tg_op_square = {.name = "square", .n_inputs = -1, .infer = square_nyi_infer, .forward = square_nyi};
static tg_status abs_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "abs: not implemented yet"); }
static tg_status abs_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return abs_nyi(n); }
const tg_op_def tg_op_abs = {.name = "abs", .n_inputs = -1, .infer = abs_nyi_infer, .forward = abs_nyi};
static tg_status pow_nyi(tg_node *n) { return tg__error(n->ctx, TG_EINVAL, "pow: not implemented yet"); }
static tg_status pow_nyi_infer(tg_node *n, tg_out_spec *o) { (void)o; return pow_nyi(n); }
const tg_op_def tg_op_pow = {.name = "pow", .n_inputs = -1, .infer = pow_nyi_infer, .forward = pow_nyi};
