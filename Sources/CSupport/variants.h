// Kernels compiled three times, for the build's baseline and for AVX and
// AVX-512, with one entry point choosing by `level` (0: baseline, 1: AVX,
// 2: AVX-512). Every body gives the same bits on each: each element takes the
// same operations in the same order (no fused multiply-add: the target is
// built with -ffp-contract=off), and every sum runs in eight fixed lanes
// added up in lane order at the end, whatever the width of the vectors.
#ifndef MNEMO_VARIANTS_H
#define MNEMO_VARIANTS_H

#define BODY static inline __attribute__((always_inline))

// The sum of eight lanes in lane order, as Swift's SIMD8.sum() adds them.
BODY float lanes_sum(const float *lanes) {
    float s = -0.0f;
    for (int k = 0; k < 8; k++) s += lanes[k];
    return s;
}

// Eight lanes as one value: a single vector on AVX, two on the baseline.
typedef float v8 __attribute__((vector_size(32)));
BODY v8 load8(const float *p) { v8 v; __builtin_memcpy(&v, p, sizeof v); return v; }
BODY void store8(float *p, v8 v) { __builtin_memcpy(p, &v, sizeof v); }
// Sixteen lanes, for elementwise work (the same bits at any width): one
// vector on AVX-512, two on AVX, four on the baseline.
typedef float v16 __attribute__((vector_size(64)));
BODY v16 load16(const float *p) { v16 v; __builtin_memcpy(&v, p, sizeof v); return v; }
BODY void store16(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }

// Four lanes, for the tail of a row whose width is not a multiple of eight:
// elementwise work gives the same bits at any width.
typedef float v4 __attribute__((vector_size(16)));
BODY v4 load4(const float *p) { v4 v; __builtin_memcpy(&v, p, sizeof v); return v; }
BODY void store4(float *p, v4 v) { __builtin_memcpy(p, &v, sizeof v); }
#define SHUFFLE(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)

// One element, for the last columns of a row taken in chunks (EACH_CHUNK).
BODY float load1(const float *p) { return *p; }
BODY void store1(float *p, float v) { *p = v; }

// CHUNK(V, LOAD, STORE, ZERO, j) over the columns j of a row `width` wide:
// sixteen lanes at a time, then eight, four and one. For elementwise work,
// which gives the same bits at any width.
#define EACH_CHUNK(CHUNK, width)                                                         \
    do {                                                                                 \
        const v16 zero16_ = {0};                                                         \
        const v8 zero8_ = {0};                                                           \
        const v4 zero4_ = {0};                                                           \
        long j_ = 0;                                                                     \
        for (; j_ + 16 <= (width); j_ += 16) CHUNK(v16, load16, store16, zero16_, j_)    \
        if (j_ + 8 <= (width)) { CHUNK(v8, load8, store8, zero8_, j_) j_ += 8; }         \
        if (j_ + 4 <= (width)) { CHUNK(v4, load4, store4, zero4_, j_) j_ += 4; }         \
        for (; j_ < (width); j_++) CHUNK(float, load1, store1, 0.0f, j_)                 \
    } while (0)

// Eight vectors transposed in place: lane l of vector r becomes lane r of
// vector l (t pairs vectors, u takes lanes l and l + 4 of four, then lane l
// of all eight).
BODY void transpose8(v8 *v) {
    const v8 t0 = SHUFFLE(v[0], v[1], 0, 8, 1, 9, 4, 12, 5, 13), t1 = SHUFFLE(v[0], v[1], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 t2 = SHUFFLE(v[2], v[3], 0, 8, 1, 9, 4, 12, 5, 13), t3 = SHUFFLE(v[2], v[3], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 t4 = SHUFFLE(v[4], v[5], 0, 8, 1, 9, 4, 12, 5, 13), t5 = SHUFFLE(v[4], v[5], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 t6 = SHUFFLE(v[6], v[7], 0, 8, 1, 9, 4, 12, 5, 13), t7 = SHUFFLE(v[6], v[7], 2, 10, 3, 11, 6, 14, 7, 15);
    const v8 u0 = SHUFFLE(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = SHUFFLE(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    const v8 u2 = SHUFFLE(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = SHUFFLE(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    const v8 u4 = SHUFFLE(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = SHUFFLE(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    const v8 u6 = SHUFFLE(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = SHUFFLE(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    v[0] = SHUFFLE(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);
    v[1] = SHUFFLE(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);
    v[2] = SHUFFLE(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);
    v[3] = SHUFFLE(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);
    v[4] = SHUFFLE(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    v[5] = SHUFFLE(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    v[6] = SHUFFLE(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    v[7] = SHUFFLE(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
}

// For eight lines at once, the sum over j < n of each line's terms in order
// from +0 (s = ((0 + t_0) + t_1) + ...): TERMS(k, j) gives line k's eight
// terms at j as a v8; blocks of eight transposed so that lane k runs line
// k's sum, eight chains of additions side by side instead of one at a
// time. SCALAR(k, j) gives one term, for the last n % 8.
#define EIGHT_LINE_SUMS(sums, n, TERMS, SCALAR)                                          \
    do {                                                                                 \
        v8 s_ = {0};                                                                     \
        long j_ = 0;                                                                     \
        for (; j_ + 8 <= (n); j_ += 8) {                                                 \
            v8 t_[8];                                                                    \
            for (int k_ = 0; k_ < 8; k_++) t_[k_] = TERMS(k_, j_);                       \
            transpose8(t_);                                                              \
            for (int q_ = 0; q_ < 8; q_++) s_ += t_[q_];                                 \
        }                                                                                \
        for (; j_ < (n); j_++) {                                                         \
            v8 t_;                                                                       \
            for (int k_ = 0; k_ < 8; k_++) t_[k_] = SCALAR(k_, j_);                      \
            s_ += t_;                                                                    \
        }                                                                                \
        store8((sums), s_);                                                              \
    } while (0)

// The dot of a and b ([k]) as Tensor's `dot` takes it: lane l sums p = l,
// l + 8, ..., the lanes are added in order, then the last k % 8 products.
BODY float dot8(const float *restrict a, const float *restrict b, long k) {
    v8 s = {0};
    long p = 0;
    for (; p + 8 <= k; p += 8) s += load8(a + p) * load8(b + p);
    float lanes[8];
    store8(lanes, s);
    float t = lanes_sum(lanes);
    for (; p < k; p++) t += a[p] * b[p];
    return t;
}

// out[j] (+)= dot8(a + j * a_step, b + j * k) for the n rows of b ([n, k]):
// a_step 0 dots every row with one vector, a_step k each row with itself.
// Eight rows at a time: one load of a serves all eight when it is shared,
// and their lanes are added in order all eight at once (the accumulators
// transposed, lane l of each row into vector l). `add` adds to out.
BODY void dots_of_rows(const float *restrict a, long a_step, const float *restrict b, float *restrict out,
                       long n, long k, int add) {
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        const float *r = b + j * k, *x = a + j * a_step;
        v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
        long p = 0;
        for (; p + 8 <= k; p += 8) {
            s0 += load8(x + p) * load8(r + p);
            s1 += load8(x + a_step + p) * load8(r + k + p);
            s2 += load8(x + 2 * a_step + p) * load8(r + 2 * k + p);
            s3 += load8(x + 3 * a_step + p) * load8(r + 3 * k + p);
            s4 += load8(x + 4 * a_step + p) * load8(r + 4 * k + p);
            s5 += load8(x + 5 * a_step + p) * load8(r + 5 * k + p);
            s6 += load8(x + 6 * a_step + p) * load8(r + 6 * k + p);
            s7 += load8(x + 7 * a_step + p) * load8(r + 7 * k + p);
        }
        v8 lanes[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
        transpose8(lanes);
        v8 sum = {-0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f};
        for (int l = 0; l < 8; l++) sum += lanes[l];
        float t[8];
        store8(t, sum);
        for (int q = 0; q < 8; q++) {
            const float *row = r + q * k, *xq = x + q * a_step;
            for (long tail = p; tail < k; tail++) t[q] += xq[tail] * row[tail];
            out[j + q] = add ? out[j + q] + t[q] : t[q];
        }
    }
    for (; j < n; j++) {
        const float t = dot8(a + j * a_step, b + j * k, k);
        out[j] = add ? out[j] + t : t;
    }
}

#if defined(__x86_64__)
#define VARIANTS(name, params, args)                                                    \
    static void name##_base params { name args; }                                       \
    __attribute__((target("avx"))) static void name##_avx params { name args; }         \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name args; } \
    void mnemo_##name(int level, MNEMO_UNPAREN params) {                                \
        if (level >= 2) name##_avx512 args; else if (level == 1) name##_avx args; else name##_base args; \
    }
#else
#define VARIANTS(name, params, args) \
    void mnemo_##name(int level, MNEMO_UNPAREN params) { (void)level; name args; }
#endif
#define MNEMO_UNPAREN(...) __VA_ARGS__

#endif
