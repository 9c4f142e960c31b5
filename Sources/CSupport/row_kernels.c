// Batch-1 matrix products and the optimizers' updates: the loops of a
// batch-1 training step that Swift's SIMD types would run four lanes wide
// on the build's baseline, compiled for three instruction sets (variants.h).
// Each gives the same bits as the Swift kernels they stand for
// (Tensor/Gemm.swift's oneRow and rowDotRows, Graph/Optimizer.swift's update).
#include "csupport.h"
#include "variants.h"
#include "vmath.h"

// Columns of C kept in registers while every row of B goes past once.
#define ROW_BLOCK 64

// c[j] += sum over p of a[p * cs] * b[p * n + j]: rows of b four at a time,
// ((a0 b0 + a1 b1) + (a2 b2 + a3 b3)) added to c, then the last k % 4 rows
// one at a time, c[j] + a b[j]: oneRow's order for every column.
BODY void row_block(const float *restrict a, long cs, const float *restrict b, float *restrict c,
                    long n, long k, long width) {
    float acc[ROW_BLOCK];
    for (long l = 0; l < width; l++) acc[l] = c[l];
    long p = 0;
    for (; p + 4 <= k; p += 4) {
        const float a0 = a[p * cs], a1 = a[(p + 1) * cs], a2 = a[(p + 2) * cs], a3 = a[(p + 3) * cs];
        const float *b0 = b + p * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
        for (long l = 0; l < width; l++) acc[l] = acc[l] + ((a0 * b0[l] + a1 * b1[l]) + (a2 * b2[l] + a3 * b3[l]));
    }
    for (; p < k; p++) {
        const float ap = a[p * cs], *bp = b + p * n;
        for (long l = 0; l < width; l++) acc[l] = acc[l] + ap * bp[l];
    }
    for (long l = 0; l < width; l++) c[l] = acc[l];
}

BODY void row_times_b(const float *a, long cs, const float *b, float *c, long n, long k) {
    long j = 0;
    // Full blocks with a constant width, so that the compiler keeps acc in registers.
    for (; j + ROW_BLOCK <= n; j += ROW_BLOCK) row_block(a, cs, b + j, c + j, n, k, ROW_BLOCK);
    if (j < n) row_block(a, cs, b + j, c + j, n, k, n - j);
}

// c[j] += dot(a, b[j, :]) for the n rows of b ([n, k]).
BODY void row_dot_rows(const float *restrict a, const float *restrict b, float *restrict c, long n, long k) {
    dots_of_rows(a, 0, b, c, n, k, 1);
}

// out[j, i] = x[i, j] for x [rows, columns] and rows i in [row_start, row_end): blocks of 8 x 8
// through vectors, the edges one at a time.
BODY void transpose(const float *restrict x, long rows, long columns, long row_start, long row_end, float *restrict out) {
    long i0 = row_start;
    for (; i0 + 8 <= row_end; i0 += 8) {
        long j0 = 0;
        for (; j0 + 8 <= columns; j0 += 8) {
            v8 v[8];
            for (int r = 0; r < 8; r++) v[r] = load8(x + (i0 + r) * columns + j0);
            transpose8(v);
            for (int r = 0; r < 8; r++) store8(out + (j0 + r) * rows + i0, v[r]);
        }
        for (long i = i0; i < i0 + 8; i++) for (long j = j0; j < columns; j++) out[j * rows + i] = x[i * columns + j];
    }
    for (long i = i0; i < row_end; i++) for (long j = 0; j < columns; j++) out[j * rows + i] = x[i * columns + j];
}

// c[i * n + j] += sum over the parts, and over rows p within each, of
// a[p * m + i] * b[p * n + j], for rows m_start <= i < m_end and the N (at most 8)
// columns j: a narrow product A^T B kept as parts (the rows of several
// steps), summed without stacking them. Sixteen rows i in the lanes, each
// output's sum in the order of p, as the four-row kernels take it.
#define NARROW_PRODUCT(N)                                                                \
    BODY void narrow_product_##N(const float *const *as, const float *const *bs, const long *rows, long parts, \
                                 long m, long m_start, long m_end, float *c) {           \
        long i0 = m_start;                                                               \
        for (; i0 + 16 <= m_end; i0 += 16) {                                             \
            v16 acc[N];                                                                  \
            for (int j = 0; j < N; j++) {                                                \
                float start[16];                                                         \
                for (int l = 0; l < 16; l++) start[l] = c[(i0 + l) * N + j];             \
                acc[j] = load16(start);                                                  \
            }                                                                            \
            for (long part = 0; part < parts; part++) {                                  \
                const float *a = as[part] + i0, *b = bs[part];                           \
                for (long p = 0; p < rows[part]; p++) {                                  \
                    const v16 av = load16(a + p * m);                                    \
                    for (int j = 0; j < N; j++) acc[j] += av * b[p * N + j];             \
                }                                                                        \
            }                                                                            \
            for (int j = 0; j < N; j++) {                                                \
                float out[16];                                                           \
                store16(out, acc[j]);                                                    \
                for (int l = 0; l < 16; l++) c[(i0 + l) * N + j] = out[l];               \
            }                                                                            \
        }                                                                                \
        for (long i = i0; i < m_end; i++) {                                              \
            for (int j = 0; j < N; j++) {                                                \
                float sum = c[i * N + j];                                                \
                for (long part = 0; part < parts; part++)                                \
                    for (long p = 0; p < rows[part]; p++) sum += as[part][p * m + i] * bs[part][p * N + j]; \
                c[i * N + j] = sum;                                                      \
            }                                                                            \
        }                                                                                \
    }
NARROW_PRODUCT(1) NARROW_PRODUCT(2) NARROW_PRODUCT(3) NARROW_PRODUCT(4)
NARROW_PRODUCT(5) NARROW_PRODUCT(6) NARROW_PRODUCT(7) NARROW_PRODUCT(8)

BODY void narrow_product(const float *const *as, const float *const *bs, const long *rows, long parts, long m, long m_start, long m_end,
                         long n, float *c) {
    switch (n) {
    case 1: narrow_product_1(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 2: narrow_product_2(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 3: narrow_product_3(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 4: narrow_product_4(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 5: narrow_product_5(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 6: narrow_product_6(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 7: narrow_product_7(as, bs, rows, parts, m, m_start, m_end, c); break;
    case 8: narrow_product_8(as, bs, rows, parts, m, m_start, m_end, c); break;
    default: break;
    }
}

VARIANTS(narrow_product, (const float *const *as, const float *const *bs, const long *rows, long parts, long m, long m_start,
                          long m_end, long n, float *c),
         (as, bs, rows, parts, m, m_start, m_end, n, c))

// Softmax over `lines` contiguous lines of n, as Tensor.softmaxLine takes
// it: m the largest (NaN skipped; 0 for none), y = exp(x - m), summed in
// eight lanes added in lane order then the last n % 8 (VectorMath.sum), and
// each y times 1 / sum.
BODY void softmax_lines(const float *restrict x, float *restrict y, long lines, long n) {
    for (long l = 0; l < lines; l++) {
        const float *xl = x + l * n;
        float *yl = y + l * n;
        float m = scaled_max(xl, 1, n);
        if (m == -__builtin_inff()) m = 0;
        for (long j = 0; j < n; j++) yl[j] = xl[j] - m;
        APPLY(exp, yl, yl, n);
        v8 acc = {0};
        long j = 0;
        for (; j + 8 <= n; j += 8) acc += load8(yl + j);
        float lanes[8];
        store8(lanes, acc);
        float s = lanes_sum(lanes);
        for (; j < n; j++) s += yl[j];
        const float inv = 1 / s;
        for (long k = 0; k < n; k++) yl[k] *= inv;
    }
}

// Softmax's gradient over `lines` contiguous lines of n, from its output y
// and the output's gradient g: dx = y (g - d) with d = sum_j g_j y_j (in
// order from 0), written into dx or, `accumulate`, added to it.
BODY void softmax_backward_lines(const float *restrict y, const float *restrict g, float *restrict dx, long lines, long n,
                                 int accumulate) {
    long l = 0;
    for (; l + 8 <= lines; l += 8) {
        const float *yl = y + l * n, *gl = g + l * n;
        float dots[8];
#define SOFTMAX_TERMS(k, j) (load8(gl + (k) * n + (j)) * load8(yl + (k) * n + (j)))
#define SOFTMAX_TERM(k, j) (gl[(k) * n + (j)] * yl[(k) * n + (j)])
        EIGHT_LINE_SUMS(dots, n, SOFTMAX_TERMS, SOFTMAX_TERM);
        for (int k = 0; k < 8; k++) {
            const float *yk = yl + k * n, *gk = gl + k * n;
            float *dk = dx + (l + k) * n;
            for (long j = 0; j < n; j++) {
                const float v = yk[j] * (gk[j] - dots[k]);
                dk[j] = accumulate ? dk[j] + v : v;
            }
        }
    }
    for (; l < lines; l++) {
        const float *yl = y + l * n, *gl = g + l * n;
        float d = 0;
        for (long j = 0; j < n; j++) d += gl[j] * yl[j];
        for (long j = 0; j < n; j++) {
            const float v = yl[j] * (gl[j] - d);
            dx[l * n + j] = accumulate ? dx[l * n + j] + v : v;
        }
    }
}

VARIANTS(softmax_lines, (const float *x, float *y, long lines, long n), (x, y, lines, n))
VARIANTS(softmax_backward_lines, (const float *y, const float *g, float *dx, long lines, long n, int accumulate),
         (y, g, dx, lines, n, accumulate))
VARIANTS(transpose, (const float *x, long rows, long columns, long row_start, long row_end, float *out),
         (x, rows, columns, row_start, row_end, out))
VARIANTS(row_times_b, (const float *a, long cs, const float *b, float *c, long n, long k), (a, cs, b, c, n, k))
VARIANTS(row_dot_rows, (const float *a, const float *b, float *c, long n, long k), (a, b, c, n, k))

// The optimizers' updates (Graph/Optimizer.swift says what each rule is):
// the gradient clipped into [-limit, limit] and scaled, squares[l] summing
// the squares of elements l, l + 8, ... of the clipped gradient, then the
// rule on the weights w and its state s0, s1, s2.
#define UPDATE_ELEMENT(RULE)                                                      \
    {                                                                             \
        float gv = g[i];                                                          \
        gv = gv < -limit ? -limit : gv;                                           \
        gv = gv > limit ? limit : gv;                                             \
        gv = gv * scale;                                                          \
        squares[l] += gv * gv;                                                    \
        RULE                                                                      \
    }
#define UPDATE_LOOP(RULE)                                                         \
    long j = 0;                                                                   \
    for (; j + 8 <= n; j += 8)                                                    \
        for (int l = 0; l < 8; l++) { const long i = j + l; UPDATE_ELEMENT(RULE) } \
    for (int l = 0; j + l < n; l++) { const long i = j + l; UPDATE_ELEMENT(RULE) }

BODY void update_sgd(float *restrict w, const float *restrict g, float *restrict s0, long n,
                     float limit, float scale, float lr, float momentum, float *restrict squares) {
    UPDATE_LOOP({
        const float a = momentum * s0[i] + gv;
        w[i] = w[i] - lr * a;
        s0[i] = a;
    })
}

BODY void update_adam(float *restrict w, const float *restrict g, float *restrict s0, float *restrict s1, long n,
                      float limit, float scale, float lr, float b1, float b2, float eps, float c1, float c2,
                      float *restrict squares) {
    UPDATE_LOOP({
        const float a = b1 * s0[i] + (1 - b1) * gv;
        const float v = b2 * s1[i] + (1 - b2) * gv * gv;
        w[i] = w[i] - lr * (a / c1) / (__builtin_sqrtf(v / c2) + eps);
        s0[i] = a;
        s1[i] = v;
    })
}

// PyTorch's form; centred keeps the running mean in s1, momentum its buffer in s2.
BODY void update_rmsprop(float *restrict w, const float *restrict g, float *restrict s0, float *restrict s1,
                         float *restrict s2, long n, float limit, float scale, float lr, float decay, float eps,
                         float momentum, int centered, float *restrict squares) {
    UPDATE_LOOP({
        const float a = decay * s0[i] + (1 - decay) * gv * gv;
        float denominator = a;
        if (centered) {
            const float avg = decay * s1[i] + (1 - decay) * gv;
            denominator = denominator - avg * avg;
            s1[i] = avg;
        }
        denominator = denominator < 0 ? 0 : denominator;
        const float scaled = gv / (__builtin_sqrtf(denominator) + eps);
        if (momentum > 0) {
            const float buffer = momentum * s2[i] + scaled;
            w[i] = w[i] - lr * buffer;
            s2[i] = buffer;
        } else {
            w[i] = w[i] - lr * scaled;
        }
        s0[i] = a;
    })
}

// Graves 2013, eqs. 38-41: s1 the running mean of g, s2 the last step.
BODY void update_graves(float *restrict w, const float *restrict g, float *restrict s0, float *restrict s1,
                        float *restrict s2, long n, float limit, float scale, float lr, float decay, float eps,
                        float momentum, float *restrict squares) {
    UPDATE_LOOP({
        const float a = decay * s0[i] + (1 - decay) * gv * gv;
        const float gbar = decay * s1[i] + (1 - decay) * gv;
        float variance = a - gbar * gbar + eps;
        variance = variance < eps ? eps : variance;
        const float delta = momentum * s2[i] - lr * gv / __builtin_sqrtf(variance);
        w[i] = w[i] + delta;
        s0[i] = a;
        s1[i] = gbar;
        s2[i] = delta;
    })
}

VARIANTS(update_sgd, (float *w, const float *g, float *s0, long n, float limit, float scale, float lr, float momentum, float *squares),
         (w, g, s0, n, limit, scale, lr, momentum, squares))
VARIANTS(update_adam, (float *w, const float *g, float *s0, float *s1, long n, float limit, float scale, float lr, float b1, float b2,
                       float eps, float c1, float c2, float *squares),
         (w, g, s0, s1, n, limit, scale, lr, b1, b2, eps, c1, c2, squares))
VARIANTS(update_rmsprop, (float *w, const float *g, float *s0, float *s1, float *s2, long n, float limit, float scale, float lr,
                          float decay, float eps, float momentum, int centered, float *squares),
         (w, g, s0, s1, s2, n, limit, scale, lr, decay, eps, momentum, centered, squares))
VARIANTS(update_graves, (float *w, const float *g, float *s0, float *s1, float *s2, long n, float limit, float scale, float lr,
                         float decay, float eps, float momentum, float *squares),
         (w, g, s0, s1, s2, n, limit, scale, lr, decay, eps, momentum, squares))
