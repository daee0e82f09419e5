/* gemm_each_dtype.h: includes the implementation header named by
 * TG_GEMM_IMPL once with T float, S f32 and once with T double, S f64, and
 * undefines them after (gemm.h explains the names they select). */
#define T float
#define S f32
#include TG_GEMM_IMPL
#undef T
#undef S

#define T double
#define S f64
#include TG_GEMM_IMPL
#undef T
#undef S
#undef TG_GEMM_IMPL
