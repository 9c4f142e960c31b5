// The DNC's temporal-link kernels (Memory/DNC.swift says what each computes):
// O(N^2) per head and step, the one part of a DNC step that grows faster
// than its memory. Each is compiled for three instruction sets (variants.h),
// the same bits on each.
#include "csupport.h"
#include "variants.h"

// The sum of the eight lanes, in order, then the tail.
#define LANES_SUM(acc, s) float s = 0; for (int k = 0; k < 8; k++) s += acc[k];

// One batch row's links after a write: out[i, j] = (1 - w_i - w_j) L[i, j] + w_i p_j, 0 on the diagonal.
BODY void link_update_forward(const float *restrict L, const float *restrict w, const float *restrict p,
                              float *restrict out, long n) {
    for (long i = 0; i < n; i++) {
        const float wi = w[i], *row = L + i * n;
        float *o = out + i * n;
        for (long j = 0; j < n; j++) o[j] = (1 - wi - w[j]) * row[j] + wi * p[j];
        o[i] = 0;
    }
}

// Its gradient from gL (the links' part): dL = (1 - w_i - w_j) g, dp_j += w_i g,
// dw_i += sum_j g (p_j - L[i, j]), dw_j -= g L[i, j]; g with its diagonal
// taken out (scratch holds one row), since L'[i, i] is 0 whatever the inputs.
BODY void link_update_backward(const float *restrict gL, const float *restrict L, const float *restrict w,
                               const float *restrict p, float *restrict dL, float *restrict dp, float *restrict dw,
                               float *restrict g, long n) {
    for (long i = 0; i < n; i++) {
        const float wi = w[i], *row = L + i * n;
        float *d = dL + i * n;
        for (long j = 0; j < n; j++) g[j] = gL[i * n + j];
        g[i] = 0;
        float acc[8] = {0};
        long j = 0;
        for (; j + 8 <= n; j += 8) {
            for (int k = 0; k < 8; k++) {
                const float gj = g[j + k], l = row[j + k];
                d[j + k] = (1 - wi - w[j + k]) * gj;
                dp[j + k] += wi * gj;
                dw[j + k] -= gj * l;
                acc[k] += gj * (p[j + k] - l);
            }
        }
        LANES_SUM(acc, s)
        for (; j < n; j++) {
            const float gj = g[j], l = row[j];
            d[j] = (1 - wi - w[j]) * gj;
            dp[j] += wi * gj;
            dw[j] -= gj * l;
            s += gj * (p[j] - l);
        }
        dw[i] += s;
    }
}

// dots = L x (dots_i = sum_j L[i, j] x_j) and sums += L^T a, in one pass over L:
// a head's forward and backward weightings (x = a = w, sums from zeros), and
// its previous weighting's gradient (x = g_b, a = g_f: L g_b + L^T g_f).
BODY void links_times(const float *restrict L, const float *restrict x, const float *restrict a,
                      float *restrict dots, float *restrict sums, long n) {
    for (long i = 0; i < n; i++) {
        const float ai = a[i], *row = L + i * n;
        float acc[8] = {0};
        long j = 0;
        for (; j + 8 <= n; j += 8) {
            for (int k = 0; k < 8; k++) {
                acc[k] += row[j + k] * x[j + k];
                sums[j + k] += ai * row[j + k];
            }
        }
        LANES_SUM(acc, s)
        for (; j < n; j++) { s += row[j] * x[j]; sums[j] += ai * row[j]; }
        dots[i] = s;
    }
}

// The links' gradient from one head: dL[i, j] += gf_i w_j + w_i gb_j.
BODY void links_outer_add(const float *restrict w, const float *restrict gf, const float *restrict gb,
                          float *restrict dL, long n) {
    for (long i = 0; i < n; i++) {
        const float fi = gf[i], wi = w[i];
        float *d = dL + i * n;
        for (long j = 0; j < n; j++) d[j] += fi * w[j] + wi * gb[j];
    }
}


VARIANTS(link_update_forward, (const float *L, const float *w, const float *p, float *out, long n), (L, w, p, out, n))
VARIANTS(link_update_backward, (const float *gL, const float *L, const float *w, const float *p, float *dL, float *dp, float *dw, float *g, long n),
         (gL, L, w, p, dL, dp, dw, g, n))
VARIANTS(links_times, (const float *L, const float *x, const float *a, float *dots, float *sums, long n), (L, x, a, dots, sums, n))
VARIANTS(links_outer_add, (const float *w, const float *gf, const float *gb, float *dL, long n), (w, gf, gb, dL, n))
