/* each_dtype.h: includes the implementation header named by TG_DTYPE_IMPL
 * once with T float, S f32 and once with T double, S f64, and undefines all
 * three after. The GEMM files (core/gemm*.c; gemm.h explains the ISA names
 * S selects) and ops/conv.c (conv_kernels_impl.h) write their kernels once
 * this way, so compilers, debuggers and profilers see real lines. */
#define T float
#define S f32
#include TG_DTYPE_IMPL
#undef T
#undef S

#define T double
#define S f64
#include TG_DTYPE_IMPL
#undef T
#undef S
#undef TG_DTYPE_IMPL
