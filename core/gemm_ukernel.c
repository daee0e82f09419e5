/* gemm_ukernel.c: the register micro-kernels of the packed GEMM path
 * (gemm_ukr_impl.h), one per dtype and tile width NV = 1 .. ISA_NVMAX
 * vectors, and the tables the driver picks them from by width. */
#include "gemm.h"

#define TG_DTYPE_IMPL "gemm_ukernel_impl.h"
#include "each_dtype.h"

#if ISA_NVMAX >= 4
const ukr_fn_f32 tg__gemm_ukr_f32[ISA_NVMAX + 1] = {NULL, ukr_f32_1, ukr_f32_2, ukr_f32_3, ukr_f32_4};
const ukr_fn_f64 tg__gemm_ukr_f64[ISA_NVMAX + 1] = {NULL, ukr_f64_1, ukr_f64_2, ukr_f64_3, ukr_f64_4};
#if HAVE_VMASK
const ukre_fn_f32 tg__gemm_ukre_f32[ISA_NVMAX + 1] = {NULL, ukre_f32_1, ukre_f32_2, ukre_f32_3, ukre_f32_4};
const ukre_fn_f64 tg__gemm_ukre_f64[ISA_NVMAX + 1] = {NULL, ukre_f64_1, ukre_f64_2, ukre_f64_3, ukre_f64_4};
#endif
#else
const ukr_fn_f32 tg__gemm_ukr_f32[ISA_NVMAX + 1] = {NULL, ukr_f32_1, ukr_f32_2};
const ukr_fn_f64 tg__gemm_ukr_f64[ISA_NVMAX + 1] = {NULL, ukr_f64_1, ukr_f64_2};
#if HAVE_VMASK
const ukre_fn_f32 tg__gemm_ukre_f32[ISA_NVMAX + 1] = {NULL, ukre_f32_1, ukre_f32_2};
const ukre_fn_f64 tg__gemm_ukre_f64[ISA_NVMAX + 1] = {NULL, ukre_f64_1, ukre_f64_2};
#endif
#endif
