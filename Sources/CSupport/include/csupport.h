#ifndef MNEMO_CSUPPORT_H
#define MNEMO_CSUPPORT_H

/// Whether this CPU (and its operating system) can run the AVX kernels.
int mnemo_has_avx(void);

/// c[r * ldc + j] += sum over p of A(r, p) * b[p * ldb + j], for r < 4 and j < n8
/// (a multiple of 8), where A(r, p) = a[r * row_stride + p * column_stride].
/// Each output sums its products in the order of p, one multiply and one add
/// at a time (no fused multiply-add), so the result is the same bits as the
/// eight-lane Swift kernel it replaces on CPUs with AVX.
void mnemo_four_rows_times_b_avx(const float *a, long row_stride, long column_stride,
                                 const float *b, long ldb, float *c, long ldc, long n8, long k);

/// A spinning thread's hint to the core that it is waiting: it leaves the
/// core's resources to the thread beside it (two virtual CPUs are often
/// the two threads of one core) and draws less power.
static inline void mnemo_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Asks the cache for the two lines at p ahead of their use (a plan's next
/// kernel object, which its previous steps' data have pushed out of cache).
static inline void mnemo_prefetch(const void *p) {
    __builtin_prefetch(p);
    __builtin_prefetch((const char *)p + 64);
}

/// Whether this CPU (and its operating system) can run the AVX-512 kernel.
int mnemo_has_avx512(void);

/// The same for eight rows (r < 8), sixteen lanes at a time: each load of B
/// serves eight rows. The same bits as the four-row kernels.
void mnemo_eight_rows_times_b_avx512(const float *a, long row_stride, long column_stride,
                                     const float *b, long ldb, float *c, long ldc, long n8, long k);

/// Bytes of stack left below the caller on the calling thread (its stack's
/// bounds are read once per thread). Deep recursion checks it to end in an
/// error instead of a crash; a large value when the bounds are unknown.
long mnemo_stack_remaining(void);

/// Whether a sixteenth of the calling thread's stack (at most 16 MiB, at
/// least 256 KiB) is still free; see StackGuard.hasMargin.
int mnemo_stack_has_margin(void);

/// The calling thread's whole stack, in bytes.
long mnemo_stack_size(void);

/// The memory the process holds, for the memory budget: its resident set
/// (or, under AddressSanitizer, the sanitizer's count of allocated bytes).
long mnemo_heap_in_use(void);

/// SIGTERM, noted by the signal handler in a volatile sig_atomic_t: the only
/// kind of flag C promises a handler may set and another thread then sees.
void mnemo_note_sigterm(void);
int mnemo_sigterm_received(void);

/// zlib, loaded at run time (zlib.c); statuses are zlib's (0 OK, 1 stream
/// end, -6 zlib not found).
int mnemo_zlib_available(void);
unsigned long mnemo_crc32(unsigned long crc, const unsigned char *bytes, unsigned long count);
unsigned long mnemo_compress_bound(unsigned long count);
int mnemo_compress(unsigned char *out, unsigned long *outCount, const unsigned char *in, unsigned long inCount, int level);
int mnemo_uncompress(unsigned char *out, unsigned long *outCount, const unsigned char *in, unsigned long inCount);
int mnemo_inflate_raw(const unsigned char *in, unsigned long inCount, unsigned char *out, unsigned long outCount, unsigned long *produced);

/// The DNC's temporal-link kernels (dnc_kernels.c), one batch row or head
/// each; level 0 runs the baseline build, 1 AVX, 2 AVX-512, all the same bits.
void mnemo_link_update_forward(int level, const float *L, const float *w, const float *p, float *out, long n);
void mnemo_link_update_backward(int level, const float *gL, const float *L, const float *w, const float *p,
                                float *dL, float *dp, float *dw, float *g, long n);
void mnemo_links_times(int level, const float *L, const float *x, const float *a, float *dots, float *sums, long n);
void mnemo_links_outer_add(int level, const float *w, const float *gf, const float *gb, float *dL, long n);

/// Batch-1 products (row_kernels.c), level as above, the same bits as
/// OwnKernels.oneRow and rowDotRows: c[j] += sum over p of a[p * cs] b[p * n + j]
/// (b [k, n]); and c[j] += dot(a, b[j, :]) (b [n, k]).
void mnemo_row_times_b(int level, const float *a, long cs, const float *b, float *c, long n, long k);
void mnemo_row_dot_rows(int level, const float *a, const float *b, float *c, long n, long k);
/// out[j, i] = x[i, j] for x [rows, columns].
void mnemo_narrow_product(int level, const float *const *as, const float *const *bs, const long *rows, long parts, long m,
                          long m_start, long m_end, long n, float *c);
void mnemo_softmax_lines(int level, const float *x, float *y, long lines, long n);
void mnemo_softmax_backward_lines(int level, const float *y, const float *g, float *dx, long lines, long n, int accumulate);
void mnemo_transpose(int level, const float *x, long rows, long columns, long row_start, long row_end, float *out);

/// One parameter's optimizer update (row_kernels.c; Optimizer.update): the
/// gradient clipped to [-limit, limit] and scaled, each rule on w and its
/// state, and squares[l] += the squares of the clipped gradient's elements
/// l, l + 8, ... (eight lanes, as Optimizer sums them).
void mnemo_update_sgd(int level, float *w, const float *g, float *s0, long n, float limit, float scale, float lr,
                      float momentum, float *squares);
void mnemo_update_adam(int level, float *w, const float *g, float *s0, float *s1, long n, float limit, float scale,
                       float lr, float b1, float b2, float eps, float c1, float c2, float *squares);
void mnemo_update_rmsprop(int level, float *w, const float *g, float *s0, float *s1, float *s2, long n, float limit,
                          float scale, float lr, float decay, float eps, float momentum, int centered, float *squares);
void mnemo_update_graves(int level, float *w, const float *g, float *s0, float *s1, float *s2, long n, float limit,
                         float scale, float lr, float decay, float eps, float momentum, float *squares);

/// The epsilon of the cosine similarity's denominator: a zero row or key gives 0, not NaN.
#define MNEMO_COSINE_EPSILON 1e-8f

/// Content addressing's cosine similarity on one memory [n, w] (memory_kernels.c;
/// AddressingRows says what each computes), level as above.
void mnemo_row_norms(int level, const float *m, long n, long w, float *norms);
void mnemo_cosine_rows(int level, const float *m, const float *norms, const float *key, long n, long w, float *dots,
                       float *out, float *key_norm);
/// The backward pass adds each head's part into dm in turn (mode 0); with at
/// most MNEMO_HEAD_GROUP heads it can sum them from zero and write (mode 1)
/// or add (mode 2) that sum.
#define MNEMO_HEAD_GROUP 4
void mnemo_cosine_backward(int level, const float *g, const float *m, const float *norms, const float *keys,
                           const float *key_norms, const float *dots, long heads, long n, long w, float *dm, float *dk,
                           int mode);

/// NTM addressing after the cosine on one head's n slots (address_kernels.c;
/// AddressingRows says what each computes), level as above. offsets[k] is
/// the slot entry k of a shift kernel moves weight by, in 0..<n; scratch
/// holds n floats.
void mnemo_focus(int level, const float *similarity, float beta, long n, float *out);
void mnemo_focus_backward(int level, const float *g, const float *y, const float *similarity, float beta, long n,
                          float *dk, float *dbeta, float *scratch);
void mnemo_interpolate(int level, const float *a, const float *p, float gate, long n, float *out);
void mnemo_interpolate_backward(int level, const float *g, const float *a, const float *p, float gate, long n,
                                float *da, float *dp, float *dgate, float *scratch);
void mnemo_shift(int level, const float *w, const float *s, const long *offsets, long kernel, long n, float *out);
void mnemo_shift_backward(int level, const float *g, const float *w, const float *s, const long *offsets, long kernel,
                          long n, float *dw, float *ds);
void mnemo_sharpen(int level, const float *w, float gamma, long n, float *logs, float *out, float *log_z);
void mnemo_sharpen_backward(int level, const float *g, const float *w, const float *y, const float *logs, float gamma,
                            float log_z, long n, float *dw, float *dgamma, float *scratch);

/// Reading and writing rows of one memory [n, width] (memory_kernels.c):
/// out[j] += w[i] rows[i, j] in row order, skipping zero weights; several
/// heads' erase then add from src into dst (w [heads, n], erase NULL or
/// [heads, width], add [heads, width]); out[i] = dot(x, rows[i]).
void mnemo_lrua_weights_forward(int level, const float *r, const float *lu, const float *gates, long first, long rows, long n,
                                 long per_lu, float *out);
void mnemo_lrua_weights_backward(int level, const float *g, const float *r, const float *lu, const float *gates, long rows, long n,
                                  long per_lu, float *dr, float *dlu, float *ds);
void mnemo_heads_weighted_sums(int level, const float *w, const float *rows, long n, long width, long heads, float *out);
void mnemo_write_rows(int level, const float *src, float *dst, long n, long width, long heads, const float *w,
                      const float *erase, const float *add, long cleared_row, const float *zeros);
void mnemo_dots_with_rows(int level, const float *x, const float *rows, long n, long width, float *out);
/// dst[i] = (or +=) sum over heads h of w[h, i] x[h] (zero weights skipped), summed from zero first.
void mnemo_heads_sum_rows(int level, float *dst, long n, long width, long heads, const float *w, const float *x, int accumulate);

/// A single erasing head's write, backward, on one memory [n, width]: dw[i],
/// and where w[i] != 0, da, de and the row of dm (a copy of g to start).
void mnemo_write_backward_one_head(int level, const float *g, const float *m, const float *e, const float *a, const float *w,
                                   long n, long width, float *da, float *de, float *dm, float *dw);

/// The LSTM cell's gates for one row of a batch (lstm_kernels.c; Op.lstmGates):
/// z [4H] gets the bias and its activations in place, then c', tanh(c'), h';
/// and their gradients dz [4H] and dc [H] from those of h' and c'.
void mnemo_lstm_gates(int level, float *z, const float *bias, const float *c, float *h_out, float *c_out, float *tanh_c,
                      long hidden);
void mnemo_lstm_gates_backward(int level, const float *z, const float *t, const float *gh, const float *gc, const float *c,
                               float *dz, float *dc, long hidden);
/// exp (kind 0), sigmoid (1) or tanh (2) over n floats, as the kernels take them (for tests).
void mnemo_activations(int level, int kind, const float *x, float *y, long n);

#endif
