// Counts calls to malloc, for tests that a compiled plan's run allocates
// (almost) nothing: the test bundle's malloc replaces glibc's for the whole
// process (the Swift runtime's allocations included) and hands every
// request on to glibc's own allocator, so free and realloc still match.
#include <stdatomic.h>
#include <stddef.h>
#include "malloc_counter.h"

extern void *__libc_malloc(size_t size);

static atomic_long calls;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

long mnemo_malloc_calls(void) { return atomic_load_explicit(&calls, memory_order_relaxed); }
