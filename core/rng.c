/* rng.c: Philox4x32-10 (Salmon et al., SC'11). The k-th draw is a pure
 * function of (seed, stream, k), so results do not depend on the machine or
 * on how work is split between threads. */
#include "internal.h"

#include <math.h>

static void philox_round(uint32_t c[4], const uint32_t k[2]) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

static void philox4x32(uint32_t ctr[4], uint64_t seed) {
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int r = 0; r < 10; r++) {
        philox_round(ctr, key);
        key[0] += 0x9E3779B9u;
        key[1] += 0xBB67AE85u;
    }
}

uint32_t tg_philox(uint64_t seed, uint64_t stream, uint64_t k) {
    /* One Philox block yields four words: block k/4, word k%4. */
    uint64_t blk = k >> 2;
    uint32_t c[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    philox4x32(c, seed);
    return c[k & 3];
}

void tg_rng_seed(tg_ctx *ctx, uint64_t seed) {
    ctx->rng_seed = seed;
    ctx->rng_counter = 0;
    ctx->has_spare_normal = 0;
}

uint64_t tg_rng_u64(tg_ctx *ctx) {
    uint64_t hi = tg_philox(ctx->rng_seed, 0, ctx->rng_counter++);
    uint64_t lo = tg_philox(ctx->rng_seed, 0, ctx->rng_counter++);
    return hi << 32 | lo;
}

double tg_rng_uniform(tg_ctx *ctx) {
    return (double)(tg_rng_u64(ctx) >> 11) * 0x1.0p-53;
}

double tg_rng_normal(tg_ctx *ctx) {
    if (ctx->has_spare_normal) {
        ctx->has_spare_normal = 0;
        return ctx->spare_normal;
    }
    double u1 = tg_rng_uniform(ctx), u2 = tg_rng_uniform(ctx);
    if (u1 < 1e-300) u1 = 1e-300;
    double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
    ctx->spare_normal = r * sin(th);
    ctx->has_spare_normal = 1;
    return r * cos(th);
}

void tg_shuffle(tg_ctx *ctx, int64_t *perm, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(tg_rng_u64(ctx) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
