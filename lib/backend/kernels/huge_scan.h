/* backend/kernels/huge_scan.h — how much of a range of this process sits on huge pages.
 *
 * Measured, not inferred from madvise results: the PAGEMAP_SCAN ioctl of /proc/self/pagemap
 * (Linux 6.7) lists the parts of a range that are mapped by PMD-sized (2 MiB) pages, the ones
 * that save the TLB walks and prefetcher stops decode pays for on 4 KiB pages (panel_mem.h).
 * Compiled into the library (panel_mem.c) and into bench_decode, which scans its own address
 * space without the library's help. */
#ifndef TG_KERNELS_HUGE_SCAN_H
#define TG_KERNELS_HUGE_SCAN_H

#include <stddef.h>

/* Bytes of [p, p + len) on PMD-mapped huge pages; unmapped parts count as not huge. -1 where
 * the kernel cannot tell (no PAGEMAP_SCAN: Linux < 6.7, or no /proc). */
long long tg__huge_bytes(const void *p, size_t len);

#endif
