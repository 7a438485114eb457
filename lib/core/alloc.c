/* core/alloc.c — checked allocation with a fault-injection point (see alloc.h). */
#include "alloc.h"

#include "error.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__) /* set by the C library's headers above */
#include <malloc.h>
#endif

/* 0: not yet read from the environment; UINT64_MAX: no fault to inject. */
static _Atomic unsigned long long fail_nth;
static _Atomic unsigned long long n_allocs;

static unsigned long long read_fail_nth(void)
{
    const char *v = getenv("TEXTGEN_FAULT_ALLOC_NTH");
    char *end = NULL;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *end || n == 0)
        n = UINT64_MAX;
    unsigned long long unset = 0;
    atomic_compare_exchange_strong(&fail_nth, &unset, n);
    return atomic_load(&fail_nth);
}

/* Counts this allocation; true when it is the one to fail. */
static int inject_failure(void)
{
    unsigned long long nth = atomic_load_explicit(&fail_nth, memory_order_relaxed);
    if (nth == 0)
        nth = read_fail_nth();
    unsigned long long k = atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed) + 1;
    if (k != nth)
        return 0;
    /* What a fault-injection test watches for: the fault was reached. */
    tg__log(TG_LOG_DEBUG, "fault injection: checked allocation %llu fails", k);
    return 1;
}

unsigned long long tg__alloc_count(void)
{
    return atomic_load(&n_allocs);
}

void *tg__malloc(size_t size)
{
    if (inject_failure())
        return NULL;
    return malloc(size ? size : 1);
}

void *tg__calloc(size_t n, size_t size)
{
    if (inject_failure())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    return calloc(n, size); /* calloc refuses n * size overflow itself */
}

void *tg__malloc_array(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return tg__malloc(n * size);
}

void *tg__realloc(void *p, size_t size)
{
    if (inject_failure())
        return NULL;
    return realloc(p, size ? size : 1);
}

void *tg__realloc_array(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return tg__realloc(p, n * size);
}

void *tg__aligned_alloc(size_t alignment, size_t size)
{
    if (inject_failure())
        return NULL;
    if (size == 0)
        size = alignment;
    if (size > SIZE_MAX - (alignment - 1))
        return NULL;
    size = (size + alignment - 1) / alignment * alignment; /* aligned_alloc's C11 rule */
    return aligned_alloc(alignment, size);
}

tg_status tg__enomem(const char *what, size_t bytes)
{
    return tg__error(TG_ENOMEM, "out of memory: cannot allocate %zu bytes for %s", bytes, what);
}

void tg__heap_trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
