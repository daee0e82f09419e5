/* gemm_p8_scalar.h: the 8 partial sums of the dot products (gemm.h) as 8
 * scalars, for an ISA without a vector of 8 of this dtype. Included by gemm.h
 * once per dtype, with T and S defined; p8, P8ZERO, ... are the dtype's names
 * (gemm.h). */
typedef struct { T s[8]; } p8;
static inline p8 P8ZERO(void) { return (p8){{0, 0, 0, 0, 0, 0, 0, 0}}; }
static inline p8 P8LD(const T *p) {
    p8 v;
    memcpy(v.s, p, sizeof v.s);
    return v;
}
static inline p8 P8LDM(const T *p, int r) {
    p8 v = P8ZERO();
    memcpy(v.s, p, (size_t)r * sizeof(T));
    return v;
}
static inline p8 P8FMA(p8 a, p8 b, p8 c) {
    for (int t = 0; t < 8; t++) c.s[t] = SFMA(a.s[t], b.s[t], c.s[t]);
    return c;
}
static inline T FN(p8sum)(p8 v) {
    return ((v.s[0] + v.s[4]) + (v.s[2] + v.s[6])) + ((v.s[1] + v.s[5]) + (v.s[3] + v.s[7]));
}
