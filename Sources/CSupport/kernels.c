// Small pieces that Swift cannot express: matrix kernels compiled for a wider
// instruction set than the build's baseline (AVX, chosen at run time only on
// CPUs that have it), the calling thread's stack bounds, and the allocator's
// count of bytes in use.
#define _GNU_SOURCE
#include "csupport.h"
#include <immintrin.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

// Initial-exec: read straight from the thread pointer (the stack check runs on
// every Mnemo function call), not through __tls_get_addr.
#define THREAD_LOCAL static __thread __attribute__((tls_model("initial-exec")))
THREAD_LOCAL uintptr_t stack_low = 0;
THREAD_LOCAL size_t stack_size = 0;
THREAD_LOCAL int stack_known = 0;
THREAD_LOCAL long stack_margin = 0;

static void read_stack_bounds(void) {
    {
        stack_known = 1;
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void *address = 0;
            size_t size = 0;
            if (pthread_attr_getstack(&attr, &address, &size) == 0) { stack_low = (uintptr_t)address; stack_size = size; }
            pthread_attr_destroy(&attr);
        }
    }
}

long mnemo_stack_size(void) {
    if (!stack_known) read_stack_bounds();
    return stack_low == 0 ? (1L << 40) : (long)stack_size;
}

// The frame address, not a local's: under AddressSanitizer locals may live
// on a separate "fake stack" in the heap.
#define STACK_POINTER ((uintptr_t)__builtin_frame_address(0))

int mnemo_stack_has_margin(void) {
    if (!stack_known) read_stack_bounds();
    if (stack_low == 0) return 1;
    if (stack_margin == 0) {
        long sixteenth = (long)(stack_size / 16);
        stack_margin = sixteenth < (256L << 10) ? (256L << 10) : sixteenth > (16L << 20) ? (16L << 20) : sixteenth;
    }
    return (long)(STACK_POINTER - stack_low) > stack_margin;
}

long mnemo_stack_remaining(void) {
    if (!stack_known) read_stack_bounds();
    if (stack_low == 0) return 1L << 40;
    return (long)(STACK_POINTER - stack_low);
}

// Under AddressSanitizer (the fuzzer's build) the allocator is the sanitizer's.
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

long mnemo_heap_in_use(void) {
    if (__sanitizer_get_current_allocated_bytes) return (long)__sanitizer_get_current_allocated_bytes();
    // The resident set, from /proc/self/statm: constant time, where glibc's
    // mallinfo2 walks every free chunk (seconds after millions of small frees).
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buffer[128];
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        close(fd);
        if (n > 0) {
            buffer[n] = 0;
            char *p = buffer;
            while (*p && *p != ' ') p++;          // skip the total size
            long pages = strtol(p, 0, 10);        // resident pages
            if (pages > 0) return pages * sysconf(_SC_PAGESIZE);
        }
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return (long)(info.uordblks + info.hblkhd);
#else
    return 0;
#endif
}

int mnemo_has_avx(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx");
#else
    return 0;
#endif
}

int mnemo_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
__attribute__((target("avx")))
void mnemo_four_rows_times_b_avx(const float *a, long row_stride, long column_stride,
                                 const float *b, long ldb, float *c, long ldc, long n8, long k) {
    for (long j = 0; j < n8; j += 16) {
        if (j + 16 <= n8) {
            // Two chunks of eight columns: eight accumulators, each B load serving four rows.
            __m256 c0 = _mm256_loadu_ps(c + j), c1 = _mm256_loadu_ps(c + ldc + j);
            __m256 c2 = _mm256_loadu_ps(c + 2 * ldc + j), c3 = _mm256_loadu_ps(c + 3 * ldc + j);
            __m256 d0 = _mm256_loadu_ps(c + j + 8), d1 = _mm256_loadu_ps(c + ldc + j + 8);
            __m256 d2 = _mm256_loadu_ps(c + 2 * ldc + j + 8), d3 = _mm256_loadu_ps(c + 3 * ldc + j + 8);
            for (long p = 0; p < k; p++) {
                const float *bp = b + p * ldb + j;
                const float *ap = a + p * column_stride;
                __m256 bv = _mm256_loadu_ps(bp), bw = _mm256_loadu_ps(bp + 8);
                __m256 a0 = _mm256_set1_ps(ap[0]), a1 = _mm256_set1_ps(ap[row_stride]);
                __m256 a2 = _mm256_set1_ps(ap[2 * row_stride]), a3 = _mm256_set1_ps(ap[3 * row_stride]);
                c0 = _mm256_add_ps(c0, _mm256_mul_ps(a0, bv)); d0 = _mm256_add_ps(d0, _mm256_mul_ps(a0, bw));
                c1 = _mm256_add_ps(c1, _mm256_mul_ps(a1, bv)); d1 = _mm256_add_ps(d1, _mm256_mul_ps(a1, bw));
                c2 = _mm256_add_ps(c2, _mm256_mul_ps(a2, bv)); d2 = _mm256_add_ps(d2, _mm256_mul_ps(a2, bw));
                c3 = _mm256_add_ps(c3, _mm256_mul_ps(a3, bv)); d3 = _mm256_add_ps(d3, _mm256_mul_ps(a3, bw));
            }
            _mm256_storeu_ps(c + j, c0); _mm256_storeu_ps(c + ldc + j, c1);
            _mm256_storeu_ps(c + 2 * ldc + j, c2); _mm256_storeu_ps(c + 3 * ldc + j, c3);
            _mm256_storeu_ps(c + j + 8, d0); _mm256_storeu_ps(c + ldc + j + 8, d1);
            _mm256_storeu_ps(c + 2 * ldc + j + 8, d2); _mm256_storeu_ps(c + 3 * ldc + j + 8, d3);
        } else {
            __m256 c0 = _mm256_loadu_ps(c + j), c1 = _mm256_loadu_ps(c + ldc + j);
            __m256 c2 = _mm256_loadu_ps(c + 2 * ldc + j), c3 = _mm256_loadu_ps(c + 3 * ldc + j);
            for (long p = 0; p < k; p++) {
                const float *ap = a + p * column_stride;
                __m256 bv = _mm256_loadu_ps(b + p * ldb + j);
                c0 = _mm256_add_ps(c0, _mm256_mul_ps(_mm256_set1_ps(ap[0]), bv));
                c1 = _mm256_add_ps(c1, _mm256_mul_ps(_mm256_set1_ps(ap[row_stride]), bv));
                c2 = _mm256_add_ps(c2, _mm256_mul_ps(_mm256_set1_ps(ap[2 * row_stride]), bv));
                c3 = _mm256_add_ps(c3, _mm256_mul_ps(_mm256_set1_ps(ap[3 * row_stride]), bv));
            }
            _mm256_storeu_ps(c + j, c0); _mm256_storeu_ps(c + ldc + j, c1);
            _mm256_storeu_ps(c + 2 * ldc + j, c2); _mm256_storeu_ps(c + 3 * ldc + j, c3);
        }
    }
}

// Eight rows at a time with sixteen lanes: each load of B serves eight rows
// (half the traffic of the four-row kernel), still one multiply and one add
// per product in the order of p, so the same bits.
#define MNEMO_ROWS8(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7)
__attribute__((target("avx512f")))
void mnemo_eight_rows_times_b_avx512(const float *a, long row_stride, long column_stride,
                                     const float *b, long ldb, float *c, long ldc, long n8, long k) {
    long j = 0;
    for (; j + 32 <= n8; j += 32) {
#define LOAD2(r) __m512 c##r = _mm512_loadu_ps(c + r * ldc + j), d##r = _mm512_loadu_ps(c + r * ldc + j + 16);
        MNEMO_ROWS8(LOAD2)
        for (long p = 0; p < k; p++) {
            const float *bp = b + p * ldb + j;
            const float *ap = a + p * column_stride;
            __m512 bv = _mm512_loadu_ps(bp), bw = _mm512_loadu_ps(bp + 16);
#define STEP2(r) { __m512 ar = _mm512_set1_ps(ap[r * row_stride]); \
                   c##r = _mm512_add_ps(c##r, _mm512_mul_ps(ar, bv)); d##r = _mm512_add_ps(d##r, _mm512_mul_ps(ar, bw)); }
            MNEMO_ROWS8(STEP2)
        }
#define STORE2(r) _mm512_storeu_ps(c + r * ldc + j, c##r); _mm512_storeu_ps(c + r * ldc + j + 16, d##r);
        MNEMO_ROWS8(STORE2)
    }
    // The last 16 or 8 columns: sixteen lanes, the unused ones masked off.
    for (; j < n8; j += 16) {
        __mmask16 lanes = n8 - j >= 16 ? 0xFFFF : 0x00FF;
#define LOAD1(r) __m512 c##r = _mm512_maskz_loadu_ps(lanes, c + r * ldc + j);
        MNEMO_ROWS8(LOAD1)
        for (long p = 0; p < k; p++) {
            const float *ap = a + p * column_stride;
            __m512 bv = _mm512_maskz_loadu_ps(lanes, b + p * ldb + j);
#define STEP1(r) c##r = _mm512_add_ps(c##r, _mm512_mul_ps(_mm512_set1_ps(ap[r * row_stride]), bv));
            MNEMO_ROWS8(STEP1)
        }
#define STORE1(r) _mm512_mask_storeu_ps(c + r * ldc + j, lanes, c##r);
        MNEMO_ROWS8(STORE1)
    }
}
#else
void mnemo_four_rows_times_b_avx(const float *a, long row_stride, long column_stride,
                                 const float *b, long ldb, float *c, long ldc, long n8, long k) {
    (void)a; (void)row_stride; (void)column_stride; (void)b; (void)ldb; (void)c; (void)ldc; (void)n8; (void)k;
}
void mnemo_eight_rows_times_b_avx512(const float *a, long row_stride, long column_stride,
                                     const float *b, long ldb, float *c, long ldc, long n8, long k) {
    (void)a; (void)row_stride; (void)column_stride; (void)b; (void)ldb; (void)c; (void)ldc; (void)n8; (void)k;
}
#endif

#include <signal.h>

static volatile sig_atomic_t sigterm_received = 0;

void mnemo_note_sigterm(void) { sigterm_received = 1; }

int mnemo_sigterm_received(void) { return sigterm_received; }
