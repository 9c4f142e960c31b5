#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

/// The calls to malloc so far in this process (the test bundle replaces
/// malloc with a counting one that hands on to glibc's).
long mnemo_malloc_calls(void);

#endif
