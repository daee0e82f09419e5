/* matmul.c: Y = A·B for (M,K)·(K,N) -> (M,N), and batched
 * (B,M,K)·(B,K,N) -> (B,M,N) (one GEMM per batch entry).
 *
 * Backward, per batch entry, accumulating (beta = 1) into the grad buffers:
 *   dA (M,K) += dY (M,N) · Bᵀ      (GEMM with transB)
 *   dB (K,N) += Aᵀ · dY (M,N)      (GEMM with transA)
 * Every product goes through the GEMM (core/gemm*.c), so no transpose is
 * materialized. */
#include "ops_internal.h"

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

/* dA (+)= dY·Bᵀ and dB (+)= Aᵀ·dY for whichever of a, b wants a gradient;
 * matmul's backward and addmm's. A fresh buffer is assigned (beta 0) rather
 * than zeroed and added to. With a == b (x·x), b's buffer is no longer fresh
 * once a has it, and dA is written before dB adds to it. The batched product
 * writes dA's blocks one by one, each in full, so beta 0 is right for every
 * block. */
static tg_status mm_input_grads(tg_node *n, tg_tensor *a, tg_tensor *b, mm_dims d) {
    void *da = NULL, *db = NULL;
    int fa = 0, fb = 0;
    if (tg_needs_grad(a) && !(da = tg_grad_buf_fresh(a, &fa))) return TG_ENOMEM;
    if (tg_needs_grad(b) && !(db = tg_grad_buf_fresh(b, &fb))) return TG_ENOMEM;
    if (n->out->dtype == TG_F32)
        backward_f32(n->ctx, d, a->data, b->data, n->out->grad, da, db, fa ? 0.0f : 1.0f, fb ? 0.0f : 1.0f);
    else backward_f64(n->ctx, d, a->data, b->data, n->out->grad, da, db, fa ? 0.0 : 1.0, fb ? 0.0 : 1.0);
    return TG_OK;
}

static tg_status matmul_backward(tg_node *n) { return mm_input_grads(n, n->in[0], n->in[1], dims_of(n)); }

const tg_op_def tg_op_matmul = {
    .name = "matmul",
    .n_inputs = 2,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .backward = matmul_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1,1;1,1"}, {"2,3;3,4"}, {"2,3,4;2,4,5"}, {"1,5;5,1"}, {"3,1;1,4"},
                        {"1,2,3;1,3,1"}, {"17,9;9,13"},
                        /* empty products: N = 0, K = 0, batched K = 0, M = 0 */
                        {"1,2;2,0"}, {"1,0;0,6"}, {"2,17,0;2,0,2"}, {"0,3;3,4"}},
              .bad = {{"2,3;4,5"}, {"2,3,4;3,4,5"}, {"2,3;2,3,4"}, {"3;3"}}},
};

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    return tg_apply(&tg_op_matmul, in, 2, NULL);
}

/* ---- addmm: Y = C + A·B, A (M,K), B (K,N), C (M,N) or a row (N) / (1,N) ----
 * PyTorch's addmm, the product behind nn.Linear. One op where tg_add(
 * tg_matmul(a, b), c) is two: the forward copies C into Y and runs the GEMM
 * with beta 1, so the product is never stored on its own, and backward hands
 * dY straight to the two GEMMs. In an LSTM step (x·Wx + b, then + h·Wh) that
 * is two (B, 4H) tensors and their gradients fewer per time step.
 * Backward: dC += dY (or Σ over rows of dY, in double, for a row C);
 * dA += dY·Bᵀ; dB += Aᵀ·dY, each assigned when its buffer is fresh. */

static int addmm_row(const tg_tensor *c) { return c->rank == 1 || (c->rank == 2 && c->shape[0] == 1); }

static tg_status addmm_infer(tg_node *n, tg_out_spec *out) {
    const tg_tensor *c = n->in[0], *a = n->in[1], *b = n->in[2];
    tg_status st = tg__same_dtype(n);
    if (st) return st;
    if (a->rank != 2 || b->rank != 2 || a->shape[1] != b->shape[0])
        return tg__error(n->ctx, TG_ESHAPE, "addmm: cannot multiply %s by %s: expected (M,K)x(K,N)", tg__sh(a),
                         tg__sh(b));
    int64_t M = a->shape[0], N = b->shape[1];
    int full = c->rank == 2 && c->shape[0] == M && c->shape[1] == N;
    int row = addmm_row(c) && c->shape[c->rank - 1] == N;
    if (!full && !row)
        return tg__error(n->ctx, TG_ESHAPE, "addmm: c %s does not fit the product %s x %s: expected (%lld,%lld) or (%lld)",
                         tg__sh(c), tg__sh(a), tg__sh(b), (long long)M, (long long)N, (long long)N);
    out->dtype = a->dtype;
    out->rank = 2;
    out->shape[0] = M;
    out->shape[1] = N;
    return TG_OK;
}

#define ADDMM(T, S)                                                                                  \
    static void addmm_fw_##S(tg_ctx *ctx, int64_t M, int64_t N, int64_t K, const T *c, int row, const T *A, \
                             const T *Bm, T *Y) {                                                    \
        if (row)                                                                                     \
            for (int64_t i = 0; i < M; i++) memcpy(Y + i * N, c, (size_t)N * sizeof(T));             \
        else                                                                                         \
            memcpy(Y, c, (size_t)(M * N) * sizeof(T));                                              \
        tg__gemm_mt_##S(ctx, 0, 0, M, N, K, A, K, Bm, N, (T)1, Y, N);                                \
    }                                                                                                \
    /* acc: N doubles of scratch for a row c, whose column sums run over the */                   \
    /* rows in order (row by row, so the loop is along contiguous memory). */                       \
    static void addmm_dc_##S(int64_t M, int64_t N, const T *dY, int row, int fresh, T *dC, double *acc) { \
        if (!row) {                                                                                  \
            if (fresh) memcpy(dC, dY, (size_t)(M * N) * sizeof(T));                                  \
            else                                                                                     \
                for (int64_t i = 0; i < M * N; i++) dC[i] += dY[i];                                  \
            return;                                                                                  \
        }                                                                                            \
        for (int64_t j = 0; j < N; j++) acc[j] = (double)dY[j];                                      \
        for (int64_t i = 1; i < M; i++)                                                              \
            for (int64_t j = 0; j < N; j++) acc[j] += (double)dY[i * N + j];                         \
        if (fresh)                                                                                   \
            for (int64_t j = 0; j < N; j++) dC[j] = (T)acc[j];                                       \
        else                                                                                         \
            for (int64_t j = 0; j < N; j++) dC[j] += (T)acc[j];                                      \
    }
ADDMM(float, f32)
ADDMM(double, f64)

static tg_status addmm_forward(tg_node *n) {
    const tg_tensor *c = n->in[0], *a = n->in[1], *b = n->in[2];
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (M * N == 0) return TG_OK;
    if (n->out->dtype == TG_F32) addmm_fw_f32(n->ctx, M, N, K, c->data, addmm_row(c), a->data, b->data, n->out->data);
    else addmm_fw_f64(n->ctx, M, N, K, c->data, addmm_row(c), a->data, b->data, n->out->data);
    return TG_OK;
}

static tg_status addmm_backward(tg_node *n) {
    tg_tensor *c = n->in[0], *a = n->in[1], *b = n->in[2];
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    /* c first, then a and b, each buffer fetched just before it is written:
     * an input that appears twice finds its buffer no longer fresh and adds. */
    if (tg_needs_grad(c)) {
        int fresh, row = addmm_row(c);
        void *dc = tg_grad_buf_fresh(c, &fresh);
        if (!dc) return TG_ENOMEM;
        if (M * N == 0) { /* nothing flows back; a fresh buffer still gets its zeros */
            if (fresh) memset(dc, 0, (size_t)(c->numel ? c->numel : 1) * tg_dtype_size(c->dtype));
        } else {
            double *acc = NULL;
            if (row && !(acc = tg_node_alloc(n, (size_t)N * sizeof(double)))) return TG_ENOMEM;
            if (n->out->dtype == TG_F32) addmm_dc_f32(M, N, n->out->grad, row, fresh, dc, acc);
            else addmm_dc_f64(M, N, n->out->grad, row, fresh, dc, acc);
        }
    }
    return mm_input_grads(n, a, b, (mm_dims){1, M, K, N});
}

const tg_op_def tg_op_addmm = {
    .name = "addmm",
    .n_inputs = 3,
    .infer = addmm_infer,
    .forward = addmm_forward,
    .backward = addmm_backward,
    .check = {.lo = -2,
              .hi = 2,
              .cases = {{"1,1;1,1;1,1"}, {"2,4;2,3;3,4"}, {"4;2,3;3,4"}, {"1,5;3,7;7,5"}, {"17,13;17,9;9,13"},
                        {"3;1,2;2,3"},
                        /* empty products: N = 0, K = 0 (Y = C), M = 0 */
                        {"0;2,3;3,0"}, {"2,6;2,0;0,6"}, {"0,4;0,3;3,4"}},
              .bad = {{"2,5;2,3;3,4"}, {"2,4;2,3;4,4"}, {"2,4;2,3"}, {"2,3,4;2,3,3;3,4"}, {"3,4;2,3;3,4"},
                      {"5;2,3;3,4"}}},
};

tg_tensor *tg_addmm(tg_tensor *c, tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[3] = {c, a, b};
    return tg_apply(&tg_op_addmm, in, 3, NULL);
}
