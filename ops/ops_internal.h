/*
 * ops_internal.h: ops/'s private declarations: the helpers op definitions
 * share (shape inference, dtype checks) and the registry table. Visible to
 * graph/ and the tests; core/ cannot include it (its build has no ops/
 * include directory), which keeps the layers one-way.
 */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H
#include "internal.h"

/* ---- op helpers (ops/common.c) ---- */
/* Common infer for unary elementwise ops: output = input's shape and dtype. */
tg_status tg__infer_same(tg_node *n, tg_out_spec *out);
/* Infer for binary elementwise ops with NumPy broadcasting; checks dtypes. */
tg_status tg__infer_broadcast(tg_node *n, tg_out_spec *out);
/* Both inputs must be float tensors of the same dtype; error names the op. */
tg_status tg__same_dtype(tg_node *n);

/* The smaller of a and b: the length of a chunk at the end of a loop in
 * fixed-size chunks (activation.c, loss.c, reduce.c, softmax.c). */
static inline int64_t tg__min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Convolution algorithm override (ops/conv.c), for tests and benchmarks:
 * 0 = pick per shape (default), 1 = direct loops, 2 = im2col + GEMM. */
extern int tg__conv_algo;

/* Convolution options with every zero field made its default (stride 1,
 * dilation 1, groups 1; pad 0 is already its default); NULL is all defaults.
 * Negative fields are kept for the op to reject. tg_conv2d, tg_conv1d and
 * tg_conv2d_layer_init all read their options through it (ops/conv.c). */
tg_conv_opts tg__conv_opts_norm(const tg_conv_opts *o);

/* ---- registry ---- */
extern const tg_op_def *const tg__op_table[];
extern const int tg__op_table_count;

#endif /* TG_OPS_INTERNAL_H */
