#ifndef MNEMO_CKERNELS_H
#define MNEMO_CKERNELS_H

/// Whether this CPU (and its operating system) can run the AVX kernels.
int mnemo_has_avx(void);

/// c[r * ldc + j] += sum over p of A(r, p) * b[p * ldb + j], for r < 4 and j < n8
/// (a multiple of 8), where A(r, p) = a[r * row_stride + p * column_stride].
/// Each output sums its products in the order of p, one multiply and one add
/// at a time (no fused multiply-add), so the result is the same bits as the
/// eight-lane Swift kernel it replaces on CPUs with AVX.
void mnemo_four_rows_times_b_avx(const float *a, long row_stride, long column_stride,
                                 const float *b, long ldb, float *c, long ldc, long n8, long k);

#endif
