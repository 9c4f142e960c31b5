// exp, sigmoid and tanh for the C kernels, eight and sixteen lanes at a
// time: the same operations in the same order as Tensor/VectorMath.swift,
// so a C kernel and a Swift one give the same bits (that file says where the
// constants come from). Each function is elementwise: its width changes no bit.
#ifndef MNEMO_VMATH_H
#define MNEMO_VMATH_H
#include "variants.h"

typedef int v8i __attribute__((vector_size(32)));
typedef int v16i __attribute__((vector_size(64)));

// The functions for vectors of W lanes (type V, integer type VI).
#define DEFINE_VMATH(W, V, VI)                                                              \
    /* Lanes of yes where mask is set, else of no. */                                       \
    BODY V choose##W(VI mask, V yes, V no) { return (V)(((VI)yes & mask) | ((VI)no & ~mask)); } \
    BODY V splat##W(float x) { return (V){0} + x; }                                         \
    BODY V power_of_two##W(VI k) { return (V)((k + 127) << 23); }                           \
    /* Swift negates a SIMD value as 0 - x (a NaN keeps its sign; +0 stays +0). */          \
    BODY V negate##W(V x) { return 0 - x; }                                                 \
    BODY V exp##W(V x) {                                                                    \
        const V high = splat##W(88.72283f), low = splat##W(-87.33654f);                     \
        const V number = choose##W(x != x, splat##W(0), x);                                 \
        V clamped = choose##W(number < low, low, number);                                   \
        clamped = choose##W(clamped > high, high, clamped);                                 \
        const V magic = splat##W(12582912.0f);                                              \
        const V shifted = clamped * 1.44269504088896341f + magic;                           \
        const V n = shifted - magic;                                                        \
        const V r = clamped - n * 0.693359375f + n * 2.12194440e-4f;                        \
        V p = splat##W(1.9875691500e-4f);                                                   \
        p = p * r + 1.3981999507e-3f;                                                       \
        p = p * r + 8.3334519073e-3f;                                                       \
        p = p * r + 4.1665795894e-2f;                                                       \
        p = p * r + 1.6666665459e-1f;                                                       \
        p = p * r + 5.0000001201e-1f;                                                       \
        const V er = p * r * r + r + 1;                                                     \
        const VI whole = (VI)shifted - 0x4B400000;                                          \
        const VI half = whole >> 1;                                                         \
        V y = er * power_of_two##W(half) * power_of_two##W(whole - half);                   \
        y = choose##W(x > high, splat##W(__builtin_inff()), y);                             \
        y = choose##W(x < low, splat##W(0), y);                                             \
        y = choose##W(x != x, x, y);                                                        \
        return y;                                                                           \
    }                                                                                       \
    BODY V sigmoid##W(V x) { return 1 / (1 + exp##W(negate##W(x))); }                       \
    BODY V tanh##W(V x) {                                                                   \
        const V a = (V)((VI)x & 0x7FFFFFFF);                                                \
        const V z = x * x;                                                                  \
        V p = splat##W(-5.70498872745e-3f);                                                 \
        p = p * z + 2.06390887954e-2f;                                                      \
        p = p * z - 5.37397155531e-2f;                                                      \
        p = p * z + 1.33314422036e-1f;                                                      \
        p = p * z - 3.33332819422e-1f;                                                      \
        const V small = p * z * x + x;                                                      \
        V large = 1 - 2 / (exp##W(a + a) + 1);                                              \
        large = choose##W(x < 0, negate##W(large), large);                                  \
        return choose##W(a < 0.625f, small, large);                                         \
    }

DEFINE_VMATH(8, v8, v8i)
DEFINE_VMATH(16, v16, v16i)

// top = y >= top ? y : top for each y, as Swift's max(top, y) takes them in
// order: the largest, NaN skipped, -inf if none. Sixteen lanes each keep
// their own, then the lanes in order. Only the sign of a zero top can
// differ from the running order, and no caller's result depends on it
// (x - 0 is x for either; top + log Z adds +0 to a zero top).
BODY v16 keep_larger(v16 y, v16 top) {
    const v16i larger = y >= top;
    return (v16)((larger & (v16i)y) | (~larger & (v16i)top));
}
BODY float lanes_max(v16 lanes, float top) {
    float t[16];
    store16(t, lanes);
    for (int l = 0; l < 16; l++) top = t[l] >= top ? t[l] : top;
    return top;
}

// The largest of beta * x[i] (NaN skipped).
BODY float scaled_max(const float *restrict x, float beta, long n) {
    v16 lanes = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                 -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff()};
    long i = 0;
    for (; i + 16 <= n; i += 16) lanes = keep_larger(beta * load16(x + i), lanes);
    float top = lanes_max(lanes, -__builtin_inff());
    for (; i < n; i++) {
        const float y = beta * x[i];
        top = y >= top ? y : top;
    }
    return top;
}

// f (exp, sigmoid or tanh) over n floats from x into y (the same buffer
// allowed): sixteen lanes at a time, then eight, the last n % 8 through
// zero-filled lanes, as VectorMath.apply.
#define APPLY(f, x, y, n)                                                            \
    do {                                                                             \
        long j_ = 0;                                                                 \
        for (; j_ + 16 <= (n); j_ += 16) store16((y) + j_, f##16(load16((x) + j_))); \
        if (j_ + 8 <= (n)) { store8((y) + j_, f##8(load8((x) + j_))); j_ += 8; }     \
        if (j_ < (n)) {                                                              \
            float in_[8] = {0}, out_[8];                                             \
            for (long k_ = 0; j_ + k_ < (n); k_++) in_[k_] = (x)[j_ + k_];           \
            store8(out_, f##8(load8(in_)));                                          \
            for (long k_ = 0; j_ + k_ < (n); k_++) (y)[j_ + k_] = out_[k_];           \
        }                                                                            \
    } while (0)

#endif
