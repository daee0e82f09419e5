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

/* Eight blocks at a time (counters blk0 .. blk0+7): out[4·l + q] = word q of
 * block blk0 + l, the same rounds as philox4x32(). */
#if defined(__AVX2__)
#include <immintrin.h>
/* (hi, lo) halves of the eight 32x32->64 products c·m */
static inline void mulhilo8(__m256i c, __m256i m, __m256i *hi, __m256i *lo) {
    __m256i pe = _mm256_mul_epu32(c, m), po = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}
static void philox4x32_x8(uint64_t blk0, uint64_t stream, uint64_t seed, uint32_t *out) {
    uint32_t lo[8], hi[8];
    for (int l = 0; l < 8; l++) {
        uint64_t blk = blk0 + (uint64_t)l;
        lo[l] = (uint32_t)blk, hi[l] = (uint32_t)(blk >> 32);
    }
    __m256i c0 = _mm256_loadu_si256((const __m256i *)lo), c1 = _mm256_loadu_si256((const __m256i *)hi);
    __m256i c2 = _mm256_set1_epi32((int)(uint32_t)stream), c3 = _mm256_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u), m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        __m256i hi0, lo0, hi1, lo1;
        mulhilo8(c0, m0, &hi0, &lo0);
        mulhilo8(c2, m1, &hi1, &lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    /* transpose: lane l of (c0, c1, c2, c3) -> out[4l .. 4l+3] */
    __m256i a01 = _mm256_unpacklo_epi32(c0, c1), b01 = _mm256_unpackhi_epi32(c0, c1);
    __m256i a23 = _mm256_unpacklo_epi32(c2, c3), b23 = _mm256_unpackhi_epi32(c2, c3);
    __m256i q0 = _mm256_unpacklo_epi64(a01, a23), q1 = _mm256_unpackhi_epi64(a01, a23); /* blocks 0,4 | 1,5 */
    __m256i q2 = _mm256_unpacklo_epi64(b01, b23), q3 = _mm256_unpackhi_epi64(b01, b23); /* blocks 2,6 | 3,7 */
    _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(q0, q1, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 8), _mm256_permute2x128_si256(q2, q3, 0x20));
    _mm256_storeu_si256((__m256i *)(out + 16), _mm256_permute2x128_si256(q0, q1, 0x31));
    _mm256_storeu_si256((__m256i *)(out + 24), _mm256_permute2x128_si256(q2, q3, 0x31));
}
#else
static void philox4x32_x8(uint64_t blk0, uint64_t stream, uint64_t seed, uint32_t *out) {
    for (int l = 0; l < 8; l++) {
        uint64_t blk = blk0 + (uint64_t)l;
        uint32_t c[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
        philox4x32(c, seed);
        for (int q = 0; q < 4; q++) out[4 * l + q] = c[q];
    }
}
#endif

void tg__philox_fill(uint64_t seed, uint64_t stream, uint64_t k0, int64_t n, uint32_t *out) {
    int64_t i = 0;
    /* the words before the first block boundary */
    while (i < n && ((k0 + (uint64_t)i) & 3)) {
        out[i] = tg_philox(seed, stream, k0 + (uint64_t)i);
        i++;
    }
    for (; n - i >= 32; i += 32) philox4x32_x8((k0 + (uint64_t)i) >> 2, stream, seed, out + i);
    for (; i < n; i++) out[i] = tg_philox(seed, stream, k0 + (uint64_t)i);
}

void tg_rng_seed(tg_ctx *ctx, uint64_t seed) {
    if (!ctx) return;
    ctx->rng_seed = seed;
    ctx->rng_counter = 0;
    ctx->has_spare_normal = 0;
}

uint64_t tg_rng_u64(tg_ctx *ctx) {
    if (!ctx) return 0;
    uint64_t hi = tg_philox(ctx->rng_seed, 0, ctx->rng_counter++);
    uint64_t lo = tg_philox(ctx->rng_seed, 0, ctx->rng_counter++);
    return hi << 32 | lo;
}

double tg_rng_uniform(tg_ctx *ctx) {
    if (!ctx) return NAN;
    return (double)(tg_rng_u64(ctx) >> 11) * 0x1.0p-53;
}

double tg_rng_normal(tg_ctx *ctx) {
    if (!ctx) return NAN;
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
    if (!ctx || !perm) return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(tg_rng_u64(ctx) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
