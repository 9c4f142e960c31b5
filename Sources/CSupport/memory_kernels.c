// The cosine similarity of content addressing (Memory/AddressingRows.swift
// says what each computes), on one memory [N, W] of a batch: the part of an
// NTM or MANN step that passes over the whole memory for every head.
// Compiled for three instruction sets (variants.h), the same bits on each
// and as the Swift loops they replaced.
#include "csupport.h"
#include "variants.h"

// Slots whose per-slot factors are computed together before their rows are visited.
#define SLOT_BLOCK 64

// norms[i] = |M_i|.
BODY void row_norms(const float *restrict m, long n, long w, float *restrict norms) {
    dots_of_rows(m, w, m, norms, n, w, 0);
    for (long i = 0; i < n; i++) norms[i] = __builtin_sqrtf(norms[i]);
}

// out[i] = M_i . k / (|M_i| |k| + eps), keeping the dot products; *key_norm = |k|.
BODY void cosine_rows(const float *restrict m, const float *restrict norms, const float *restrict key, long n, long w,
                      float *restrict dots, float *restrict out, float *restrict key_norm) {
    const float nk = __builtin_sqrtf(dot8(key, key, w));
    dots_of_rows(key, 0, m, dots, n, w, 0);
    for (long i = 0; i < n; i++) out[i] = dots[i] / (norms[i] * nk + MNEMO_COSINE_EPSILON);
    *key_norm = nk;
}

// Adds the similarity's gradient into dm [N, W] and dk [W]. With
// d = |M_i| |k| + eps: dM_i = g_i (k / d - cm M_i), dk = sum_i g_i (M_i / d - ck k),
// cm = M_i.k |k| / (|M_i| d^2) and ck = M_i.k |M_i| / (|k| d^2) (0 for a zero
// vector); rows with g_i = 0 are skipped, and the sum of g_i ck runs in slot order.
BODY void cosine_backward(const float *restrict g, const float *restrict m, const float *restrict norms,
                          const float *restrict key, float nk, const float *restrict dots, long n, long w,
                          float *restrict dm, float *restrict dk) {
    float key_scale = 0;
    for (long i0 = 0; i0 < n; i0 += SLOT_BLOCK) {
        const long count = n - i0 < SLOT_BLOCK ? n - i0 : SLOT_BLOCK;
        float to_key[SLOT_BLOCK], to_row[SLOT_BLOCK], ck[SLOT_BLOCK];
        for (long q = 0; q < count; q++) {
            const float gi = g[i0 + q], nm = norms[i0 + q], dot = dots[i0 + q];
            const float d = nm * nk + MNEMO_COSINE_EPSILON;
            const float cm = nm > 0 ? dot * nk / (nm * d * d) : 0;
            ck[q] = nk > 0 ? dot * nm / (nk * d * d) : 0;
            to_key[q] = gi / d;
            to_row[q] = -gi * cm;
        }
        for (long q = 0; q < count; q++) {
            const float gi = g[i0 + q];
            if (gi == 0) continue;
            key_scale -= gi * ck[q];
            const float a = to_key[q], b = to_row[q];
            const float *row = m + (i0 + q) * w;
            float *drow = dm + (i0 + q) * w;
            long j = 0;
            for (; j + 8 <= w; j += 8) {
                const v8 r = load8(row + j), k = load8(key + j);
                store8(drow + j, load8(drow + j) + (a * k + b * r));
                store8(dk + j, load8(dk + j) + a * r);
            }
            for (; j < w; j++) {
                drow[j] += a * key[j] + b * row[j];
                dk[j] += a * row[j];
            }
        }
    }
    for (long j = 0; j < w; j++) dk[j] += key_scale * key[j];
}

VARIANTS(row_norms, (const float *m, long n, long w, float *norms), (m, n, w, norms))
VARIANTS(cosine_rows, (const float *m, const float *norms, const float *key, long n, long w, float *dots, float *out, float *key_norm),
         (m, norms, key, n, w, dots, out, key_norm))
VARIANTS(cosine_backward, (const float *g, const float *m, const float *norms, const float *key, float nk, const float *dots,
                           long n, long w, float *dm, float *dk),
         (g, m, norms, key, nk, dots, n, w, dm, dk))

// out[j] += w[i] rows[i, j] for the n rows ([n, width]) in order, skipping
// rows whose weight is 0: a read (out a head's read vector, rows the memory)
// or an add vector's gradient (out da, rows the memory's gradient). Columns
// in blocks of NV * 8 held in registers while every row goes past.
#define WEIGHTED_BLOCK(NV)                                                              \
    {                                                                                   \
        v8 acc[NV];                                                                     \
        for (int c = 0; c < NV; c++) acc[c] = load8(out + j0 + 8 * c);                  \
        for (long i = 0; i < n; i++) {                                                  \
            const float wi = w[i];                                                      \
            if (wi == 0) continue;                                                      \
            const float *row = rows + i * width + j0;                                   \
            for (int c = 0; c < NV; c++) acc[c] += wi * load8(row + 8 * c);             \
        }                                                                               \
        for (int c = 0; c < NV; c++) store8(out + j0 + 8 * c, acc[c]);                  \
    }

BODY void weighted_sum_rows(const float *restrict w, const float *restrict rows, long n, long width,
                            float *restrict out) {
    long j0 = 0;
    for (; j0 + 64 <= width; j0 += 64) WEIGHTED_BLOCK(8)
    switch ((width - j0) / 8) {
    case 7: WEIGHTED_BLOCK(7) break;
    case 6: WEIGHTED_BLOCK(6) break;
    case 5: WEIGHTED_BLOCK(5) break;
    case 4: WEIGHTED_BLOCK(4) break;
    case 3: WEIGHTED_BLOCK(3) break;
    case 2: WEIGHTED_BLOCK(2) break;
    case 1: WEIGHTED_BLOCK(1) break;
    default: break;
    }
    for (long j = j0 + (width - j0) / 8 * 8; j < width; j++) {
        float acc = out[j];
        for (long i = 0; i < n; i++) if (w[i] != 0) acc += w[i] * rows[i * width + j];
        out[j] = acc;
    }
}

// Several heads' erase then add on the rows of one memory ([n, width]), from
// src into dst (the same buffer for an update in place): every erase first,
// dst_i = src_i * prod_h (1 - w_h(i) e_h), then every add, + sum_h w_h(i) a_h,
// each in head order and skipped where w_h(i) = 0. w is [heads, n]; erase
// (NULL for none) and add are [heads, width].
BODY void write_rows(const float *src, float *dst, long n, long width, long heads, const float *restrict w,
                     const float *restrict erase, const float *restrict add) {
    for (long i = 0; i < n; i++) {
        const float *s = src + i * width;
        float *d = dst + i * width;
        long j = 0;
        for (; j + 8 <= width; j += 8) {
            v8 v = load8(s + j);
            if (erase) {
                for (long h = 0; h < heads; h++) {
                    const float wi = w[h * n + i];
                    if (wi != 0) v = v * (1 - wi * load8(erase + h * width + j));
                }
            }
            for (long h = 0; h < heads; h++) {
                const float wi = w[h * n + i];
                if (wi != 0) v = v + wi * load8(add + h * width + j);
            }
            store8(d + j, v);
        }
        for (; j < width; j++) {
            float v = s[j];
            if (erase) {
                for (long h = 0; h < heads; h++) {
                    const float wi = w[h * n + i];
                    if (wi != 0) v = v * (1 - wi * erase[h * width + j]);
                }
            }
            for (long h = 0; h < heads; h++) {
                const float wi = w[h * n + i];
                if (wi != 0) v = v + wi * add[h * width + j];
            }
            d[j] = v;
        }
    }
}

// out[i] = dot8(x, rows[i]) for the n rows of a memory: a read's weighting
// gradient (x the read vector's gradient) or a write's (x an add vector).
BODY void dots_with_rows(const float *restrict x, const float *restrict rows, long n, long width, float *restrict out) {
    dots_of_rows(x, 0, rows, out, n, width, 0);
}

VARIANTS(weighted_sum_rows, (const float *w, const float *rows, long n, long width, float *out), (w, rows, n, width, out))
VARIANTS(write_rows, (const float *src, float *dst, long n, long width, long heads, const float *w, const float *erase, const float *add),
         (src, dst, n, width, heads, w, erase, add))
VARIANTS(dots_with_rows, (const float *x, const float *rows, long n, long width, float *out), (x, rows, n, width, out))
