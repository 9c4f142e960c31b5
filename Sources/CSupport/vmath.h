// exp, sigmoid and tanh eight lanes at a time for the C kernels: the same
// operations in the same order as Tensor/VectorMath.swift, so a C kernel and
// a Swift one give the same bits (that file says where the constants come from).
#ifndef MNEMO_VMATH_H
#define MNEMO_VMATH_H
#include "variants.h"

typedef int v8i __attribute__((vector_size(32)));

// Lanes of yes where mask is set, else of no.
BODY v8 choose8(v8i mask, v8 yes, v8 no) { return (v8)(((v8i)yes & mask) | ((v8i)no & ~mask)); }
BODY v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }

BODY v8 power_of_two8(v8i k) { return (v8)((k + 127) << 23); }

BODY v8 exp8(v8 x) {
    const v8 high = splat8(88.72283f), low = splat8(-87.33654f);
    const v8 number = choose8(x != x, splat8(0), x);
    v8 clamped = choose8(number < low, low, number);
    clamped = choose8(clamped > high, high, clamped);
    const v8 magic = splat8(12582912.0f);
    const v8 shifted = clamped * 1.44269504088896341f + magic;
    const v8 n = shifted - magic;
    const v8 r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
    v8 p = splat8(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const v8 er = p * r * r + r + 1;
    const v8i whole = (v8i)shifted - 0x4B400000;
    const v8i half = whole >> 1;
    v8 y = er * power_of_two8(half) * power_of_two8(whole - half);
    y = choose8(x > high, splat8(__builtin_inff()), y);
    y = choose8(x < low, splat8(0), y);
    y = choose8(x != x, x, y);
    return y;
}

// Swift negates a SIMD value as 0 - x (a NaN keeps its sign; +0 stays +0).
BODY v8 negate8(v8 x) { return 0 - x; }

BODY v8 sigmoid8(v8 x) { return 1 / (1 + exp8(negate8(x))); }

BODY v8 tanh8(v8 x) {
    const v8 a = (v8)((v8i)x & 0x7FFFFFFF);
    const v8 z = x * x;
    v8 p = splat8(-5.70498872745e-3f);
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const v8 small = p * z * x + x;
    v8 large = 1 - 2 / (exp8(a + a) + 1);
    large = choose8(x < 0, negate8(large), large);
    return choose8(a < 0.625f, small, large);
}

// f over n floats from x into y (the same buffer allowed), the last n % 8
// through zero-filled lanes, as VectorMath.apply.
#define APPLY8(f, x, y, n)                                                  \
    do {                                                                    \
        long j_ = 0;                                                        \
        for (; j_ + 8 <= (n); j_ += 8) store8((y) + j_, f(load8((x) + j_))); \
        if (j_ < (n)) {                                                     \
            float in_[8] = {0}, out_[8];                                    \
            for (long k_ = 0; j_ + k_ < (n); k_++) in_[k_] = (x)[j_ + k_];  \
            store8(out_, f(load8(in_)));                                    \
            for (long k_ = 0; j_ + k_ < (n); k_++) (y)[j_ + k_] = out_[k_];  \
        }                                                                   \
    } while (0)

#endif
