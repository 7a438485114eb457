/* core/alloc.h — internal: checked allocation, the only way lib/ allocates memory.
 *
 * GLib's g_malloc and g_new abort the process when memory runs out; a library must not. Every
 * allocation in lib/ goes through these functions instead: they return NULL on failure (and on
 * size overflow for the array forms) and the caller returns TG_ENOMEM, usually through
 * tg__enomem, which names what could not be allocated. Release with free().
 *
 * Fault injection (tests/faults): when the environment variable TEXTGEN_FAULT_ALLOC_NTH holds a
 * number N >= 1 at the process's first checked allocation, the Nth checked allocation of the
 * process fails as if memory had run out (and only that one), so a test can walk every failure
 * path of a load and a generation, one child process per N. */
#ifndef TG_CORE_ALLOC_H
#define TG_CORE_ALLOC_H

#include <stddef.h>
#include <textgen/common.h>

void *tg__malloc(size_t size);
void *tg__calloc(size_t n, size_t size);       /* zeroed; NULL when n * size overflows */
void *tg__malloc_array(size_t n, size_t size); /* NULL when n * size overflows */
void *tg__realloc(void *p, size_t size);       /* on failure p is left as it was */
void *tg__realloc_array(void *p, size_t n, size_t size);
void *tg__aligned_alloc(size_t alignment, size_t size); /* size rounded up to alignment */

/* Give the heap's free pages back to the system (glibc: malloc_trim; elsewhere nothing). A model
 * load leaves megabytes of freed scratch (the tokenizer's parse tree, packing tiles) spread over
 * the heap and the arenas of the threads that made them, which would otherwise count in the
 * process's resident memory for as long as it runs (docs/performance.md, RSS). */
void tg__heap_trim(void);

/* The checked allocations made so far by this process (what a fault-injection test walks). */
unsigned long long tg__alloc_count(void);

/* Record TG_ENOMEM with "out of memory: cannot allocate N bytes for WHAT"; returns TG_ENOMEM. */
tg_status tg__enomem(const char *what, size_t bytes);

#endif
