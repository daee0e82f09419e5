/* matmul.c: Y = A·B for (M,K)·(K,N) -> (M,N), and batched
 * (B,M,K)·(B,K,N) -> (B,M,N) (one GEMM per batch entry).
 *
 * Backward, per batch entry, accumulating (beta = 1) into the grad buffers:
 *   dA (M,K) += dY (M,N) · Bᵀ      (GEMM with transB)
 *   dB (K,N) += Aᵀ · dY (M,N)      (GEMM with transA)
 * Every product goes through core/gemm.c, so no transpose is materialized. */
#include "internal.h"

static tg_status matmul_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *a = n->in[0], *b = n->in[1];
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (a->rank != b->rank || (a->rank != 2 && a->rank != 3))
        return tg__error(n->ctx, TG_ESHAPE,
                         "matmul: cannot multiply %s by %s: expected (M,K)x(K,N) or (B,M,K)x(B,K,N)",
                         tg__sh(a), tg__sh(b));
    int r = a->rank;
    int64_t ka = a->shape[r - 1], kb = b->shape[r - 2];
    if (ka != kb)
        return tg__error(n->ctx, TG_ESHAPE, "matmul: cannot multiply %s by %s: inner dimensions %lld and %lld differ",
                         tg__sh(a), tg__sh(b), (long long)ka, (long long)kb);
    if (r == 3 && a->shape[0] != b->shape[0])
        return tg__error(n->ctx, TG_ESHAPE, "matmul: cannot multiply %s by %s: batch dimensions %lld and %lld differ",
                         tg__sh(a), tg__sh(b), (long long)a->shape[0], (long long)b->shape[0]);
    out->dtype = a->dtype;
    out->rank = r;
    if (r == 3) out->shape[0] = a->shape[0];
    out->shape[r - 2] = a->shape[r - 2];
    out->shape[r - 1] = b->shape[r - 1];
    return TG_OK;
}

/* Sizes of one batch entry. */
typedef struct mm_dims {
    int64_t B, M, K, N;
} mm_dims;
static mm_dims dims_of(const tg_node *n) {
    const tg_tensor *a = n->in[0], *b = n->in[1];
    int r = a->rank;
    return (mm_dims){r == 3 ? a->shape[0] : 1, a->shape[r - 2], a->shape[r - 1], b->shape[r - 1]};
}

#define MM_FORWARD(T, S)                                                                    \
    static void forward_##S(tg_ctx *ctx, mm_dims d, const T *A, const T *Bm, T *Y) {                     \
        for (int64_t i = 0; i < d.B; i++)                                                   \
            tg__gemm_mt_##S(ctx, 0, 0, d.M, d.N, d.K, A + i * d.M * d.K, d.K, Bm + i * d.K * d.N, d.N, \
                         (T)0, Y + i * d.M * d.N, d.N);                                     \
    }
#define MM_BACKWARD(T, S)                                                                   \
    static void backward_##S(tg_ctx *ctx, mm_dims d, const T *A, const T *Bm, const T *dY, T *dA, T *dB, \
                             T betaA, T betaB) {                                            \
        for (int64_t i = 0; i < d.B; i++) {                                                 \
            const T *a = A + i * d.M * d.K, *b = Bm + i * d.K * d.N, *g = dY + i * d.M * d.N; \
            if (dA) tg__gemm_mt_##S(ctx, 0, 1, d.M, d.K, d.N, g, d.N, b, d.N, betaA, dA + i * d.M * d.K, d.K); \
            if (dB) tg__gemm_mt_##S(ctx, 1, 0, d.K, d.N, d.M, a, d.K, g, d.N, betaB, dB + i * d.K * d.N, d.N); \
        }                                                                                   \
    }
MM_FORWARD(float, f32)
MM_FORWARD(double, f64)
MM_BACKWARD(float, f32)
MM_BACKWARD(double, f64)

static tg_status matmul_forward(tg_node *n) {
    mm_dims d = dims_of(n);
    if (n->out->dtype == TG_F32) forward_f32(n->ctx, d, n->in[0]->data, n->in[1]->data, n->out->data);
    else forward_f64(n->ctx, d, n->in[0]->data, n->in[1]->data, n->out->data);
    return TG_OK;
}

static tg_status matmul_backward(tg_node *n) {
    tg_tensor *a = n->in[0], *b = n->in[1];
    void *da = NULL, *db = NULL;
    /* A fresh buffer is assigned (beta 0) rather than zeroed and added to.
     * With a == b (x·x), b's buffer is no longer fresh once a has it, and
     * dA is written before dB adds to it. The batched product writes dA's
     * blocks one by one, each in full, so beta 0 is right for every block. */
    int fa = 0, fb = 0;
    if (tg_needs_grad(a) && !(da = tg_grad_buf_fresh(a, &fa))) return TG_ENOMEM;
    if (tg_needs_grad(b) && !(db = tg_grad_buf_fresh(b, &fb))) return TG_ENOMEM;
    mm_dims d = dims_of(n);
    if (n->out->dtype == TG_F32)
        backward_f32(n->ctx, d, a->data, b->data, n->out->grad, da, db, fa ? 0.0f : 1.0f, fb ? 0.0f : 1.0f);
    else backward_f64(n->ctx, d, a->data, b->data, n->out->grad, da, db, fa ? 0.0 : 1.0, fb ? 0.0 : 1.0);
    return TG_OK;
}

const tg_op_def tg_op_matmul = {
    .name = "matmul",
    .n_inputs = 2,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1,1;1,1"}, {"2,3;3,4"}, {"2,3,4;2,4,5"}, {"1,5;5,1"}, {"3,1;1,4"},
                        {"1,2,3;1,3,1"}, {"17,9;9,13"}},
              .bad = {{"2,3;4,5"}, {"2,3,4;3,4,5"}, {"2,3;2,3,4"}, {"3;3"}}},
};

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    return tg_apply(&tg_op_matmul, in, 2, NULL);
}
