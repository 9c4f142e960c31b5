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

// Adds the similarity's gradient for several heads' keys into dm [N, W]
// and dk [heads, W]; g, dots [heads, N], keys [heads, W], key norms [heads].
// With d = |M_i| |k| + eps: dM_i = g_i (k / d - cm M_i), dk = sum_i g_i (M_i / d - ck k),
// cm = M_i.k |k| / (|M_i| d^2) and ck = M_i.k |M_i| / (|k| d^2) (0 for a zero
// vector). A row with g_i = 0 is skipped for that head; dM_i takes the heads
// in order, dk and the sum of g_i ck the rows in order. Slots in blocks whose
// per-slot factors are computed together (divisions in vectors), then row by
// row, each row of dM loaded once for every head. Mode 0 adds each head's
// part into dm in turn; with at most MNEMO_HEAD_GROUP heads, mode 1 writes the
// heads' sum (from zero) into dm and mode 2 adds that sum to dm's values.
#define ROW_UPDATE(V, LOAD, STORE, ZERO, j)                                             \
    {                                                                                   \
        const V r = LOAD(row + j);                                                      \
        V d = mode == 0 ? LOAD(drow + j) : ZERO;                                        \
        for (long h = 0; h < nh; h++) {                                                 \
            if (gs[h][q] == 0) continue;                                                \
            const float a = to_key[h][q], b = to_row[h][q];                             \
            float *dkh = dk + (h0 + h) * w + j;                                         \
            d = d + (a * LOAD(keys + (h0 + h) * w + j) + b * r);                        \
            STORE(dkh, LOAD(dkh) + a * r);                                              \
        }                                                                               \
        STORE(drow + j, mode == 2 ? LOAD(drow + j) + d : d);                            \
    }

// The same for a group of exactly four heads, a chunk of columns at a time
// through every row of the block: the four keys' chunks and dk's stay in
// registers from row to row (where the row-by-row form loads and stores dk
// at every row). Each element takes the same operations in the same order.
#define FOUR_HEAD_CHUNK(V, LOAD, STORE, ZERO, j)                                        \
    {                                                                                   \
        V key_chunk[4], dk_chunk[4];                                                    \
        for (int h = 0; h < 4; h++) {                                                   \
            key_chunk[h] = LOAD(keys + (h0 + h) * w + j);                               \
            dk_chunk[h] = LOAD(dk + (h0 + h) * w + j);                                  \
        }                                                                               \
        for (long q = 0; q < count; q++) {                                              \
            const V r = LOAD(m + (i0 + q) * w + j);                                     \
            float *drow = dm + (i0 + q) * w;                                            \
            V d = mode == 0 ? LOAD(drow + j) : ZERO;                                    \
            for (int h = 0; h < 4; h++) {                                               \
                if (gs[h][q] == 0) continue;                                            \
                const float a = to_key[h][q], b = to_row[h][q];                         \
                d = d + (a * key_chunk[h] + b * r);                                     \
                dk_chunk[h] = dk_chunk[h] + a * r;                                      \
            }                                                                           \
            STORE(drow + j, mode == 2 ? LOAD(drow + j) + d : d);                        \
        }                                                                               \
        for (int h = 0; h < 4; h++) STORE(dk + (h0 + h) * w + j, dk_chunk[h]);          \
    }

BODY void cosine_backward(const float *restrict g, const float *restrict m, const float *restrict norms,
                          const float *restrict keys, const float *restrict key_norms, const float *restrict dots,
                          long heads, long n, long w, float *restrict dm, float *restrict dk, int mode) {
    for (long h0 = 0; h0 < heads; h0 += MNEMO_HEAD_GROUP) {
        const long nh = heads - h0 < MNEMO_HEAD_GROUP ? heads - h0 : MNEMO_HEAD_GROUP;
        float key_scale[MNEMO_HEAD_GROUP] = {0};
        for (long i0 = 0; i0 < n; i0 += SLOT_BLOCK) {
            const long count = n - i0 < SLOT_BLOCK ? n - i0 : SLOT_BLOCK;
            float to_key[MNEMO_HEAD_GROUP][SLOT_BLOCK], to_row[MNEMO_HEAD_GROUP][SLOT_BLOCK], gs[MNEMO_HEAD_GROUP][SLOT_BLOCK];
            for (long h = 0; h < nh; h++) {
                const float nk = key_norms[h0 + h];
                const float *gh = g + (h0 + h) * n + i0, *dh = dots + (h0 + h) * n + i0;
                float ck[SLOT_BLOCK];
                for (long q = 0; q < count; q++) {
                    const float gi = gh[q], nm = norms[i0 + q], dot = dh[q];
                    const float d = nm * nk + MNEMO_COSINE_EPSILON;
                    const float cm = nm > 0 ? dot * nk / (nm * d * d) : 0;
                    ck[q] = nk > 0 ? dot * nm / (nk * d * d) : 0;
                    to_key[h][q] = gi / d;
                    to_row[h][q] = -gi * cm;
                    gs[h][q] = gi;
                }
                // A local accumulator: the array element would go through memory at every slot.
                float scale = key_scale[h];
                for (long q = 0; q < count; q++) if (gh[q] != 0) scale -= gh[q] * ck[q];
                key_scale[h] = scale;
            }
            if (nh == 4) {
                EACH_CHUNK(FOUR_HEAD_CHUNK, w);
                continue;
            }
            for (long q = 0; q < count; q++) {
                const float *row = m + (i0 + q) * w;
                float *drow = dm + (i0 + q) * w;
                EACH_CHUNK(ROW_UPDATE, w);
            }
        }
        for (long h = 0; h < nh; h++) {
            for (long j = 0; j < w; j++) dk[(h0 + h) * w + j] += key_scale[h] * keys[(h0 + h) * w + j];
        }
    }
}

// A single erasing head's write, backward, for the n rows of one memory:
// dw[i] = g_i . a - (g_i * M_i) . e (each dot in eight lanes, as `dot`), and
// where w_i != 0, da += w_i g_i, de -= w_i g_i * M_i, dM_i = g_i * (1 - w_i e)
// (dm starts as a copy of g).
BODY void write_backward_one_head(const float *restrict g, const float *restrict m, const float *restrict e,
                                  const float *restrict a, const float *restrict w, long n, long width,
                                  float *restrict da, float *restrict de, float *restrict dm, float *restrict dw) {
    for (long i = 0; i < n; i++) {
        const float *gi = g + i * width, *mi = m + i * width;
        float *dmi = dm + i * width;
        const float wi = w[i];
        v8 to_add = {0}, to_erase = {0};
        long j = 0;
        for (; j + 8 <= width; j += 8) {
            const v8 gv = load8(gi + j), ev = load8(e + j);
            to_add += gv * load8(a + j);
            const v8 gm = gv * load8(mi + j);
            to_erase += gm * ev;
            if (wi != 0) {
                store8(da + j, load8(da + j) + wi * gv);
                store8(de + j, load8(de + j) + (-wi) * gm);
                store8(dmi + j, gv * (1 - wi * ev));
            }
        }
        float lanes[8];
        store8(lanes, to_add);
        float sum_add = lanes_sum(lanes);
        store8(lanes, to_erase);
        float sum_erase = lanes_sum(lanes);
        for (; j < width; j++) {
            sum_add += gi[j] * a[j];
            const float gm = gi[j] * mi[j];
            sum_erase += gm * e[j];
            if (wi != 0) {
                da[j] += wi * gi[j];
                de[j] += -wi * gm;
                dmi[j] = gi[j] * (1 - wi * e[j]);
            }
        }
        dw[i] = sum_add - sum_erase;
    }
}

VARIANTS(write_backward_one_head, (const float *g, const float *m, const float *e, const float *a, const float *w, long n, long width,
                                   float *da, float *de, float *dm, float *dw),
         (g, m, e, a, w, n, width, da, de, dm, dw))
VARIANTS(row_norms, (const float *m, long n, long w, float *norms), (m, n, w, norms))
VARIANTS(cosine_rows, (const float *m, const float *norms, const float *key, long n, long w, float *dots, float *out, float *key_norm),
         (m, norms, key, n, w, dots, out, key_norm))
VARIANTS(cosine_backward, (const float *g, const float *m, const float *norms, const float *keys, const float *key_norms,
                           const float *dots, long heads, long n, long w, float *dm, float *dk, int mode),
         (g, m, norms, keys, key_norms, dots, heads, n, w, dm, dk, mode))

// out[j] += w[i] rows[i, j] for the n rows ([n, width]) in order, skipping
// rows whose weight is 0: a read (out a head's read vector, rows the memory)
// or an add vector's gradient (out da, rows the memory's gradient). Columns
// in blocks of up to 64 held in registers while every row goes past.
#define WEIGHTED_BLOCK(V, LANES, LOAD, STORE, NV)                                       \
    {                                                                                   \
        V acc[NV];                                                                      \
        for (int c = 0; c < NV; c++) acc[c] = LOAD(out + j0 + LANES * c);               \
        for (long i = 0; i < n; i++) {                                                  \
            const float wi = w[i];                                                      \
            if (wi == 0) continue;                                                      \
            const float *row = rows + i * width + j0;                                   \
            for (int c = 0; c < NV; c++) acc[c] += wi * LOAD(row + LANES * c);          \
        }                                                                               \
        for (int c = 0; c < NV; c++) STORE(out + j0 + LANES * c, acc[c]);               \
        j0 += LANES * NV;                                                               \
    }

BODY void weighted_sum_rows(const float *restrict w, const float *restrict rows, long n, long width,
                            float *restrict out) {
    long j0 = 0;
    while (j0 + 64 <= width) WEIGHTED_BLOCK(v16, 16, load16, store16, 4)
    switch ((width - j0) / 16) {
    case 3: WEIGHTED_BLOCK(v16, 16, load16, store16, 3) break;
    case 2: WEIGHTED_BLOCK(v16, 16, load16, store16, 2) break;
    case 1: WEIGHTED_BLOCK(v16, 16, load16, store16, 1) break;
    default: break;
    }
    if (j0 + 8 <= width) WEIGHTED_BLOCK(v8, 8, load8, store8, 1)
    for (long j = j0; j < width; j++) {
        float acc = out[j];
        for (long i = 0; i < n; i++) if (w[i] != 0) acc += w[i] * rows[i * width + j];
        out[j] = acc;
    }
}

// The same for four heads at once, w [4, n] and out [4, width]: each row
// loaded once for the four (twelve chains of additions instead of three,
// which one head's sums wait on), every sum in the same order as above.
#define FOUR_HEADS_BLOCK(V, LANES, LOAD, STORE, NV)                                     \
    {                                                                                   \
        V acc[4][NV];                                                                   \
        for (int h = 0; h < 4; h++)                                                     \
            for (int c = 0; c < NV; c++) acc[h][c] = LOAD(out + h * width + j0 + LANES * c); \
        for (long i = 0; i < n; i++) {                                                  \
            const float *row = rows + i * width + j0;                                   \
            V r[NV];                                                                    \
            for (int c = 0; c < NV; c++) r[c] = LOAD(row + LANES * c);                  \
            for (int h = 0; h < 4; h++) {                                               \
                const float wi = w[h * n + i];                                          \
                if (wi == 0) continue;                                                  \
                for (int c = 0; c < NV; c++) acc[h][c] += wi * r[c];                    \
            }                                                                           \
        }                                                                               \
        for (int h = 0; h < 4; h++)                                                     \
            for (int c = 0; c < NV; c++) STORE(out + h * width + j0 + LANES * c, acc[h][c]); \
        j0 += LANES * NV;                                                               \
    }

BODY void four_heads_weighted_sums(const float *restrict w, const float *restrict rows, long n, long width,
                                   float *restrict out) {
    long j0 = 0;
    while (j0 + 32 <= width) FOUR_HEADS_BLOCK(v16, 16, load16, store16, 2)
    if (j0 + 16 <= width) FOUR_HEADS_BLOCK(v16, 16, load16, store16, 1)
    if (j0 + 8 <= width) FOUR_HEADS_BLOCK(v8, 8, load8, store8, 1)
    for (int h = 0; h < 4; h++) {
        for (long j = j0; j < width; j++) {
            float acc = out[h * width + j];
            for (long i = 0; i < n; i++) if (w[h * n + i] != 0) acc += w[h * n + i] * rows[i * width + j];
            out[h * width + j] = acc;
        }
    }
}

// weighted_sum_rows for each of several heads' weightings, w [heads, n],
// into out [heads, width]: four heads at a time, then one.
BODY void heads_weighted_sums(const float *restrict w, const float *restrict rows, long n, long width, long heads,
                              float *restrict out) {
    long h = 0;
    for (; h + 4 <= heads; h += 4) four_heads_weighted_sums(w + h * n, rows, n, width, out + h * width);
    for (; h < heads; h++) weighted_sum_rows(w + h * n, rows, n, width, out + h * width);
}

// Several heads' erase then add on the rows of one memory ([n, width]), from
// src into dst (the same buffer for an update in place): every erase first,
// dst_i = src_i * prod_h (1 - w_h(i) e_h), then every add, + sum_h w_h(i) a_h,
// each in head order and skipped where w_h(i) = 0. w is [heads, n]; erase
// (NULL for none) and add are [heads, width]. Row cleared_row (-1: none) of
// src is read from `zeros` instead: an LRUA write, which clears the
// least-used slot first, without a cleared copy of the memory.
#define WRITE_CHUNK(V, LOAD, STORE, ZERO, j)                                            \
    {                                                                                   \
        V v = LOAD(s + j);                                                              \
        if (erase) {                                                                    \
            for (long h = 0; h < heads; h++) {                                          \
                const float wi = w[h * n + i];                                          \
                if (wi != 0) v = v * (1 - wi * LOAD(erase + h * width + j));            \
            }                                                                           \
        }                                                                               \
        for (long h = 0; h < heads; h++) {                                              \
            const float wi = w[h * n + i];                                              \
            if (wi != 0) v = v + wi * LOAD(add + h * width + j);                        \
        }                                                                               \
        STORE(d + j, v);                                                                \
    }
BODY void write_rows(const float *src, float *dst, long n, long width, long heads, const float *restrict w,
                     const float *restrict erase, const float *restrict add, long cleared_row, const float *zeros) {
    if (heads == 1) {
        // One head (an NTM's write, a read's gradient): a row it does not touch is copied.
        for (long i = 0; i < n; i++) {
            const float *s = i == cleared_row ? zeros : src + i * width, wi = w[i];
            float *d = dst + i * width;
            if (wi == 0) {
                if (d != s) for (long j = 0; j < width; j++) d[j] = s[j];
                continue;
            }
            long j = 0;
            if (erase) {
                for (; j + 16 <= width; j += 16) store16(d + j, load16(s + j) * (1 - wi * load16(erase + j)) + wi * load16(add + j));
                if (j + 8 <= width) { store8(d + j, load8(s + j) * (1 - wi * load8(erase + j)) + wi * load8(add + j)); j += 8; }
                if (j + 4 <= width) { store4(d + j, load4(s + j) * (1 - wi * load4(erase + j)) + wi * load4(add + j)); j += 4; }
                for (; j < width; j++) d[j] = s[j] * (1 - wi * erase[j]) + wi * add[j];
            } else {
                for (; j + 16 <= width; j += 16) store16(d + j, load16(s + j) + wi * load16(add + j));
                if (j + 8 <= width) { store8(d + j, load8(s + j) + wi * load8(add + j)); j += 8; }
                if (j + 4 <= width) { store4(d + j, load4(s + j) + wi * load4(add + j)); j += 4; }
                for (; j < width; j++) d[j] = s[j] + wi * add[j];
            }
        }
        return;
    }
    for (long i = 0; i < n; i++) {
        const float *s = i == cleared_row ? zeros : src + i * width;
        float *d = dst + i * width;
        EACH_CHUNK(WRITE_CHUNK, width);
    }
}

// Several heads' rows summed from zero, s_i = sum_h w_h(i) x_h (in head
// order, zero weights skipped), then written into dst (accumulate 0) or
// added to it, dst_i + s_i (accumulate 1): a several-head read's memory
// gradient, summed whole and then added, as a node's gradient is.
#define SUM_CHUNK(V, LOAD, STORE, ZERO, j)                                              \
    {                                                                                   \
        V v = ZERO;                                                                     \
        for (long h = 0; h < heads; h++) {                                              \
            const float wi = w[h * n + i];                                              \
            if (wi != 0) v = v + wi * LOAD(x + h * width + j);                          \
        }                                                                               \
        STORE(d + j, accumulate ? LOAD(d + j) + v : v);                                 \
    }
// Four heads, a chunk of columns at a time through every row: the heads'
// chunks of x stay in registers from row to row. The same operations in the
// same order for each element.
#define FOUR_SUM_CHUNK(V, LOAD, STORE, ZERO, j)                                         \
    {                                                                                   \
        V xs[4];                                                                        \
        for (int h = 0; h < 4; h++) xs[h] = LOAD(x + h * width + j);                    \
        for (long i = 0; i < n; i++) {                                                  \
            float *d = dst + i * width;                                                 \
            V v = ZERO;                                                                 \
            for (int h = 0; h < 4; h++) {                                               \
                const float wi = w[h * n + i];                                          \
                if (wi != 0) v = v + wi * xs[h];                                        \
            }                                                                           \
            STORE(d + j, accumulate ? LOAD(d + j) + v : v);                             \
        }                                                                               \
    }

BODY void heads_sum_rows(float *restrict dst, long n, long width, long heads, const float *restrict w,
                         const float *restrict x, int accumulate) {
    if (heads == 4) {
        EACH_CHUNK(FOUR_SUM_CHUNK, width);
        return;
    }
    for (long i = 0; i < n; i++) {
        float *d = dst + i * width;
        EACH_CHUNK(SUM_CHUNK, width);
    }
}

// out[i] = dot8(x, rows[i]) for the n rows of a memory: a read's weighting
// gradient (x the read vector's gradient) or a write's (x an add vector).
BODY void dots_with_rows(const float *restrict x, const float *restrict rows, long n, long width, float *restrict out) {
    dots_of_rows(x, 0, rows, out, n, width, 0);
}

VARIANTS(heads_weighted_sums, (const float *w, const float *rows, long n, long width, long heads, float *out),
         (w, rows, n, width, heads, out))
VARIANTS(write_rows, (const float *src, float *dst, long n, long width, long heads, const float *w, const float *erase, const float *add,
                      long cleared_row, const float *zeros),
         (src, dst, n, width, heads, w, erase, add, cleared_row, zeros))
VARIANTS(heads_sum_rows, (float *dst, long n, long width, long heads, const float *w, const float *x, int accumulate),
         (dst, n, width, heads, w, x, accumulate))
VARIANTS(dots_with_rows, (const float *x, const float *rows, long n, long width, float *out), (x, rows, n, width, out))

// The LRUA write weights, out = s r + (1 - s) lu for rows first..<first +
// rows of n slots (s the row's gate), the least-used rows shared by per_lu
// rows in turn (lu from row 0).
BODY void lrua_weights_forward(const float *restrict r, const float *restrict lu, const float *restrict gates, long first,
                               long rows, long n, long per_lu, float *restrict out) {
    for (long row = first; row < first + rows; row++) {
        const float s = gates[row];
        const float *rr = r + row * n, *lur = lu + (row / per_lu) * n;
        float *o = out + row * n;
        for (long i = 0; i < n; i++) o[i] = s * rr[i] + (1 - s) * lur[i];
    }
}

VARIANTS(lrua_weights_forward, (const float *r, const float *lu, const float *gates, long first, long rows, long n, long per_lu,
                                float *out),
         (r, lu, gates, first, rows, n, per_lu, out))

// The LRUA write weights' gradient (Memory/LRUA.swift), for `rows` rows of
// n slots whose least-used rows are shared by per_lu rows in turn: with s the
// row's gate, dr = s g, dlu += (1 - s) g (rows in order) and
// ds = sum_i g_i (r_i - lu_i), in order from 0, eight rows' sums at a time.
BODY void lrua_weights_backward(const float *restrict g, const float *restrict r, const float *restrict lu,
                                const float *restrict gates, long rows, long n, long per_lu,
                                float *restrict dr, float *restrict dlu, float *restrict ds) {
    for (long row = 0; row < rows; row++) {
        const float s = gates[row];
        const float *gr = g + row * n;
        float *dlur = dlu + (row / per_lu) * n, *drr = dr + row * n;
        for (long i = 0; i < n; i++) {
            drr[i] = s * gr[i];
            dlur[i] = dlur[i] + (1 - s) * gr[i];
        }
    }
    long row = 0;
    for (; row + 8 <= rows; row += 8) {
#define LRUA_TERMS(k, j) (load8(g + (row + (k)) * n + (j)) * (load8(r + (row + (k)) * n + (j)) - load8(lu + ((row + (k)) / per_lu) * n + (j))))
#define LRUA_TERM(k, j) (g[(row + (k)) * n + (j)] * (r[(row + (k)) * n + (j)] - lu[((row + (k)) / per_lu) * n + (j)]))
        EIGHT_LINE_SUMS(ds + row, n, LRUA_TERMS, LRUA_TERM);
    }
    for (; row < rows; row++) {
        const float *gr = g + row * n, *rr = r + row * n, *lur = lu + (row / per_lu) * n;
        float sum = 0;
        for (long i = 0; i < n; i++) sum += gr[i] * (rr[i] - lur[i]);
        ds[row] = sum;
    }
}

VARIANTS(lrua_weights_backward, (const float *g, const float *r, const float *lu, const float *gates, long rows, long n, long per_lu,
                                 float *dr, float *dlu, float *ds),
         (g, r, lu, gates, rows, n, per_lu, dr, dlu, ds))
