// The LSTM cell's gates (Graph/RecurrentOps.swift says what each computes),
// one row of a batch at a time, compiled for three instruction sets
// (variants.h): the same bits on each and as VectorMath's Swift lanes.
#include "csupport.h"
#include "vmath.h"

// z = [i f g o] pre-activations [4H] (plus the bias, in place, then
// activated: sigmoid, sigmoid, tanh, sigmoid); c' = f c + i g, tanh(c'),
// h' = o tanh(c').
BODY void lstm_gates(float *restrict z, const float *restrict bias, const float *restrict c, float *restrict h_out,
                     float *restrict c_out, float *restrict tanh_c, long hidden) {
    const long n = 4 * hidden;
    for (long j = 0; j < n; j++) z[j] = z[j] + 1 * bias[j];
    APPLY(sigmoid, z, z, 2 * hidden);
    APPLY(tanh, z + 2 * hidden, z + 2 * hidden, hidden);
    APPLY(sigmoid, z + 3 * hidden, z + 3 * hidden, hidden);
    for (long j = 0; j < hidden; j++) c_out[j] = z[hidden + j] * c[j] + z[j] * z[2 * hidden + j];
    APPLY(tanh, c_out, tanh_c, hidden);
    for (long j = 0; j < hidden; j++) h_out[j] = z[3 * hidden + j] * tanh_c[j];
}

// The gates' gradients dz [4H] and dc [H] from those of h' and c'.
BODY void lstm_gates_backward(const float *restrict z, const float *restrict t, const float *restrict gh,
                              const float *restrict gc, const float *restrict c, float *restrict dz,
                              float *restrict dc, long hidden) {
    const long H = hidden;
    for (long j = 0; j < H; j++) {
        const float i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j];
        const float dc2 = gc[j] + gh[j] * o * (1 - t[j] * t[j]);
        dz[j] = dc2 * g * i * (1 - i);
        dz[H + j] = dc2 * c[j] * f * (1 - f);
        dz[2 * H + j] = dc2 * i * (1 - g * g);
        dz[3 * H + j] = gh[j] * t[j] * o * (1 - o);
        dc[j] = dc2 * f;
    }
}

VARIANTS(lstm_gates, (float *z, const float *bias, const float *c, float *h_out, float *c_out, float *tanh_c, long hidden),
         (z, bias, c, h_out, c_out, tanh_c, hidden))
VARIANTS(lstm_gates_backward, (const float *z, const float *t, const float *gh, const float *gc, const float *c, float *dz,
                               float *dc, long hidden),
         (z, t, gh, gc, c, dz, dc, hidden))

// exp (0), sigmoid (1) or tanh (2) over n floats: for the tests that hold
// these to VectorMath's Swift lanes.
BODY void activations(int kind, const float *restrict x, float *restrict y, long n) {
    if (kind == 0) APPLY(exp, x, y, n);
    else if (kind == 1) APPLY(sigmoid, x, y, n);
    else APPLY(tanh, x, y, n);
}

VARIANTS(activations, (int kind, const float *x, float *y, long n), (kind, x, y, n))
