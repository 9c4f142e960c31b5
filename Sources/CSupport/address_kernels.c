// NTM addressing after the cosine, on one head's weighting over n slots:
// focus, interpolation, shift and sharpening and their backward passes
// (Memory/AddressingRows.swift says what each computes). The elementwise
// loops run in vectors; every sum runs in order over the slots, as the Swift
// it replaced did, so the bits are the same (the several sums of the shift's
// backward side by side, each still in order). Compiled for three
// instruction sets (variants.h).
#include <math.h>
#include "csupport.h"
#include "variants.h"
#include "vmath.h"

// Sums x in order from zero.
BODY float ordered_sum(const float *restrict x, long n) {
    float z = 0;
    for (long i = 0; i < n; i++) z += x[i];
    return z;
}

// out = out / sum(out), the sum in order; returns the sum.
BODY float normalize(float *restrict out, long n) {
    const float z = ordered_sum(out, n);
    const float scale = 1 / z;
    for (long i = 0; i < n; i++) out[i] *= scale;
    return z;
}

// softmax(beta * similarity).
BODY void focus(const float *restrict similarity, float beta, long n, float *restrict out) {
    const float top = scaled_max(similarity, beta, n);
    for (long i = 0; i < n; i++) out[i] = beta * similarity[i] - top;
    APPLY(exp, out, out, n);
    normalize(out, n);
}

// dk = beta y (g - g.y); *dbeta = sum of y (g - g.y) similarity. scratch [n].
BODY void focus_backward(const float *restrict g, const float *restrict y, const float *restrict similarity, float beta,
                         long n, float *restrict dk, float *restrict dbeta, float *restrict scratch) {
    const float inner = dot8(g, y, n);
    for (long i = 0; i < n; i++) {
        const float dz = y[i] * (g[i] - inner);
        dk[i] = dz * beta;
        scratch[i] = dz * similarity[i];
    }
    *dbeta = ordered_sum(scratch, n);
}

// gate a + (1 - gate) p.
BODY void interpolate(const float *restrict a, const float *restrict p, float gate, long n, float *restrict out) {
    for (long i = 0; i < n; i++) out[i] = gate * a[i] + (1 - gate) * p[i];
}

// da = g gate, dp = g (1 - gate), *dgate = sum of g (a - p). scratch [n].
BODY void interpolate_backward(const float *restrict g, const float *restrict a, const float *restrict p, float gate, long n,
                               float *restrict da, float *restrict dp, float *restrict dgate, float *restrict scratch) {
    for (long i = 0; i < n; i++) {
        da[i] = g[i] * gate;
        dp[i] = g[i] * (1 - gate);
        scratch[i] = g[i] * (a[i] - p[i]);
    }
    *dgate = ordered_sum(scratch, n);
}

// offsets[k]: the slot entry k of the kernel moves weight by, in 0..<n.
// out(i) = sum_k s(k) w((i - o_k) mod n), entries of s that are zero skipped.
BODY void shift(const float *restrict w, const float *restrict s, const long *restrict offsets, long kernel, long n,
                float *restrict out) {
    for (long i = 0; i < n; i++) out[i] = 0;
    for (long k = 0; k < kernel; k++) {
        const float sk = s[k];
        const long o = offsets[k];
        if (sk == 0) continue;
        for (long i = 0; i < o; i++) out[i] += sk * w[i - o + n];
        for (long i = o; i < n; i++) out[i] += sk * w[i - o];
    }
}

// Up to this many entries of a shift kernel have their sums taken side by side.
#define SHIFT_GROUP 4

// dw(j) = sum_k s(k) g((j + o_k) mod n) (k in order), ds(k) = sum_i g(i) w((i - o_k) mod n) (i in order).
BODY void shift_backward(const float *restrict g, const float *restrict w, const float *restrict s,
                         const long *restrict offsets, long kernel, long n, float *restrict dw, float *restrict ds) {
    for (long i = 0; i < n; i++) dw[i] = 0;
    for (long k = 0; k < kernel; k++) {
        const float sk = s[k];
        const long o = offsets[k];
        for (long i = 0; i < o; i++) dw[i - o + n] += sk * g[i];
        for (long i = o; i < n; i++) dw[i - o] += sk * g[i];
    }
    for (long k0 = 0; k0 < kernel; k0 += SHIFT_GROUP) {
        const long count = kernel - k0 < SHIFT_GROUP ? kernel - k0 : SHIFT_GROUP;
        float acc[SHIFT_GROUP] = {0, 0, 0, 0};
        long o[SHIFT_GROUP] = {0, 0, 0, 0};
        for (long q = 0; q < count; q++) o[q] = offsets[k0 + q];
        for (long i = 0; i < n; i++) {
            for (long q = 0; q < SHIFT_GROUP; q++) {
                if (q < count) {
                    const long j = i - o[q];
                    acc[q] += g[i] * w[j < 0 ? j + n : j];
                }
            }
        }
        for (long q = 0; q < count; q++) ds[k0 + q] = acc[q];
    }
}

// w^gamma / sum w^gamma in log space, keeping log w; *log_z = log Z (NaN
// for an all-zero row, which gives the uniform weighting).
BODY void sharpen(const float *restrict w, float gamma, long n, float *restrict logs, float *restrict out, float *restrict log_z) {
    for (long i = 0; i < n; i++) logs[i] = w[i] > 0 ? logf(w[i]) : -INFINITY;
    // The largest gamma log w where w > 0 (the others are -inf, which change no maximum).
    for (long i = 0; i < n; i++) out[i] = w[i] > 0 ? gamma * logs[i] : -INFINITY;
    const float top = scaled_max(out, 1, n);
    if (top == -INFINITY) {
        for (long i = 0; i < n; i++) out[i] = 1 / (float)n;
        *log_z = NAN;
        return;
    }
    // exp(gamma log w - top) where w > 0; exp(-inf) = 0 keeps zeros at zero.
    for (long i = 0; i < n; i++) out[i] = w[i] > 0 ? out[i] - top : -INFINITY;
    APPLY(exp, out, out, n);
    *log_z = top + logf(normalize(out, n));
}

// dw from the output y, *dgamma. Where w = 0 the gradient is w^(gamma-1)/Z:
// 1/Z at gamma = 1, else 0. scratch [n].
BODY void sharpen_backward(const float *restrict g, const float *restrict w, const float *restrict y,
                           const float *restrict logs, float gamma, float log_z, long n, float *restrict dw,
                           float *restrict dgamma, float *restrict scratch) {
    for (long i = 0; i < n; i++) dw[i] = 0;
    *dgamma = 0;
    if (isnan(log_z)) return;
    for (long i = 0; i < n; i++) scratch[i] = g[i] * y[i];
    const float inner = ordered_sum(scratch, n);
    const float at_zero = gamma == 1 ? expf(-log_z) : 0;
    for (long i = 0; i < n; i++) {
        const float centred = g[i] - inner;
        const int positive = w[i] > 0;
        // dy/dw = gamma (g - inner) y / w, where y / w = w^(gamma - 1) / Z.
        dw[i] = positive ? gamma * centred * (y[i] / w[i]) : (gamma == 1 ? centred * at_zero : 0);
        scratch[i] = positive ? y[i] * centred * logs[i] : 0;
    }
    // In order over the slots where w > 0, as the gradient has no other terms.
    float s = 0;
    for (long i = 0; i < n; i++) if (w[i] > 0) s += scratch[i];
    *dgamma = s;
}

VARIANTS(focus, (const float *similarity, float beta, long n, float *out), (similarity, beta, n, out))
VARIANTS(focus_backward, (const float *g, const float *y, const float *similarity, float beta, long n, float *dk, float *dbeta,
                          float *scratch), (g, y, similarity, beta, n, dk, dbeta, scratch))
VARIANTS(interpolate, (const float *a, const float *p, float gate, long n, float *out), (a, p, gate, n, out))
VARIANTS(interpolate_backward, (const float *g, const float *a, const float *p, float gate, long n, float *da, float *dp,
                                float *dgate, float *scratch), (g, a, p, gate, n, da, dp, dgate, scratch))
VARIANTS(shift, (const float *w, const float *s, const long *offsets, long kernel, long n, float *out), (w, s, offsets, kernel, n, out))
VARIANTS(shift_backward, (const float *g, const float *w, const float *s, const long *offsets, long kernel, long n, float *dw,
                          float *ds), (g, w, s, offsets, kernel, n, dw, ds))
VARIANTS(sharpen, (const float *w, float gamma, long n, float *logs, float *out, float *log_z), (w, gamma, n, logs, out, log_z))
VARIANTS(sharpen_backward, (const float *g, const float *w, const float *y, const float *logs, float gamma, float log_z, long n,
                            float *dw, float *dgamma, float *scratch), (g, w, y, logs, gamma, log_z, n, dw, dgamma, scratch))
