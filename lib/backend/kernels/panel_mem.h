/* backend/kernels/panel_mem.h — memory for packed weight panels, and huge pages for it.
 *
 * Decode reads every panel once per token, so the page size matters: on the AMD EPYC (Zen 4) VM
 * this project measures on, one core reads ~23 GB/s from 4 KiB pages with the bf16 kernel's
 * 4 streams but ~31 GB/s from 2 MiB pages with any stream count (bench/bench_stream,
 * docs/performance.md "Issue 12, phase 4"): the hardware prefetchers stop at every 4 KiB page.
 * Faulting huge pages in at load is slow on such VMs (free 2 MiB blocks are handed back to the
 * host, which takes ~5 ms to supply each one again: ~1 s for 247 MB, twice the whole fast-start
 * budget), so panels are populated with 4 KiB pages as before (fast), side by side in 2 MiB
 * aligned chunks, and once the model is loaded their whole 2 MiB pages are collapsed into huge
 * pages (MADV_COLLAPSE) by one background thread, 2 MiB at a time, while the model already runs
 * (1-20 ms of CPU a page, depending on how fast the host supplies them: 0.05-1.2 s for GPT-2 124M
 * in int8). Until then decode reads 4 KiB pages, ~10 % slower, and while a page is collapsed the
 * decode threads wait for it (the worker runs at the program's priority for that reason, see
 * collapse_worker). Where the kernel has no transparent huge pages (or no MADV_COLLAPSE, Linux
 * < 6.1) the panels simply stay on 4 KiB pages. $TEXTGEN_PANEL_PAGES=4k turns huge pages off
 * (benchmarks compare both). */
#ifndef TG_KERNELS_PANEL_MEM_H
#define TG_KERNELS_PANEL_MEM_H

#include <stddef.h>
#include <stdint.h>

/* `bytes` of zeroed, 64-byte aligned memory, populated up front: for 64 KiB or more 4 KiB
 * aligned in a chunk (*owned = 2, *map_bytes the length handed out), else the heap (*owned = 1).
 * NULL when out of memory. */
void *tg__panel_mem_alloc(size_t bytes, int32_t *owned, size_t *map_bytes);

/* The panels from tg__panel_mem_alloc are written: the 2 MiB pages they complete wait for the
 * collapse into huge pages in the background. Nothing for heap memory (owned != 2). */
void tg__panel_mem_ready(void *p, int32_t owned, size_t map_bytes);

/* A model load in progress: pages packed meanwhile wait until every hold is released, so that
 * the collapse (which takes the memory manager's lock and copies 2 MiB at a time) does not slow
 * the load or the first token down. Pairs nest and may come from several threads. */
void tg__panel_mem_hold(void);
void tg__panel_mem_release(void);

/* Release memory from tg__panel_mem_alloc (waiting for at most the one 2 MiB collapse in flight
 * in its chunk): its pages go at once, the chunk with its last matrix. */
void tg__panel_mem_free(void *p, int32_t owned, size_t map_bytes);

/* Wait until every waiting page is collapsed (tests and benchmarks). */
void tg__panel_mem_settle(void);

/* Where the arena's panels stand, and what the collapses did in this process so far. */
typedef struct {
    size_t panel_bytes;     /* bytes of the live matrices in the arena (4 KiB pages rounded) */
    size_t whole_bytes;     /* bytes of the 2 MiB pages every byte of which was packed, less
                             * those freed entirely since: the pages the collapse is for (the
                             * rest shares a page with unused chunk space) */
    long long huge_bytes;   /* bytes of the chunks measured on huge pages (huge_scan.h); -1 where
                             * the kernel cannot tell */
    size_t waiting;         /* pages waiting for a collapse */
    uint64_t tried, failed; /* MADV_COLLAPSE calls, and those that failed */
    uint64_t failed_eagain, failed_enomem, failed_einval, failed_other; /* by errno */
    double madvise_s, madvise_max_s; /* wall time inside MADV_COLLAPSE: sum, longest call */
    double span_s; /* wall time from the first collapse's start to the last one's end */
    double cpu_s;  /* CPU time of the worker threads */
} tg_panel_coverage;

void tg__panel_mem_coverage(tg_panel_coverage *out);

/* The coverage in one line for people ("panels on huge pages: X of Y MB; ..."), at most n bytes
 * with the NUL. $TEXTGEN_PANEL_REPORT set: the library prints it to stderr each time the collapse
 * worker has no page left to try (the moment tg__panel_mem_settle returns). */
void tg__panel_mem_report(char *buf, size_t n);

#endif
