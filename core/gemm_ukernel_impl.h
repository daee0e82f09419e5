/* gemm_ukernel_impl.h: the micro-kernels of one dtype (T, S defined by
 * each_dtype.h), one per tile width NV = 1 .. ISA_NVMAX vectors. */
#define NV 1
#include "gemm_ukr_impl.h"
#undef NV
#define NV 2
#include "gemm_ukr_impl.h"
#undef NV
#if ISA_NVMAX >= 4
#define NV 3
#include "gemm_ukr_impl.h"
#undef NV
#define NV 4
#include "gemm_ukr_impl.h"
#undef NV
#endif
