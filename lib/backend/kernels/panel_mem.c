/* backend/kernels/panel_mem.c — panel memory in 2 MiB-aligned chunks, and their background
 * collapse into huge pages (see panel_mem.h for why).
 *
 * Matrices are carved one after another out of chunks (64 MiB, or one matrix's size if larger),
 * each allocation starting on a 4 KiB page, so a model's panels lie side by side and nearly all
 * of them can sit on huge pages: with one mapping per matrix, the matrices under 2 MiB (int8's
 * qkv, every attn.proj) and each mapping's tail past its last 2 MiB boundary stayed on 4 KiB
 * pages (a third of int8's bytes). A 2 MiB page is collapsed once every byte of it is packed
 * (or is padding); the partly used last page of a chunk stays on 4 KiB pages, so nothing is
 * faulted in that no matrix uses (so does a page shared with a matrix freed before it was
 * packed, an error path). A freed matrix gives its pages back at once; the chunk goes
 * when its last matrix does. One worker thread exists while a page waits; it collapses 2 MiB
 * per madvise call, so freeing a matrix never waits for more than one such step. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MADV_* of sys/mman.h */
#endif
#include "panel_mem.h"

#include "core/alloc.h"
#include "huge_scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define HUGE_BYTES ((size_t)2 << 20)
#define PAGE_BYTES ((size_t)4096)
#define CHUNK_BYTES ((size_t)64 << 20)
#define ARENA_MIN ((size_t)64 << 10) /* smaller panels go to the heap */

/* PAGE_GONE: every byte of the page was freed (it no longer counts as a page of panels). */
enum { PAGE_FILLING, PAGE_WAITING, PAGE_DONE, PAGE_GONE };

typedef struct chunk {
    uint8_t *base;     /* 2 MiB aligned */
    size_t len;        /* a multiple of 2 MiB */
    size_t top;        /* bytes handed out, a multiple of 4 KiB */
    size_t live;       /* allocations not freed yet */
    size_t live_bytes; /* their bytes */
    size_t *ready;     /* per 2 MiB page: bytes packed (or padding) */
    uint8_t *state;    /* per 2 MiB page: PAGE_* */
    struct chunk *next;
} chunk;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static chunk *g_chunks;     /* newest first: allocations come from the head */
static size_t g_waiting;    /* pages in state PAGE_WAITING */
static const chunk *g_busy; /* the chunk a 2 MiB step is being collapsed in */
static int g_running;       /* a worker exists */
static pthread_t g_thread;  /* the last worker started, joined before the next one starts */
static int g_joinable;      /* g_thread has not been joined yet */
static struct timespec g_start_after; /* CLOCK_REALTIME: no collapse before (after a load) */
static int g_holds; /* loads in progress: the worker waits for them (panel_mem.h) */
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
/* What the collapses did (tg__panel_mem_coverage): calls, failures, failures by errno. */
static uint64_t g_tried, g_failed, g_failed_by[4]; /* EAGAIN, ENOMEM, EINVAL, other */
static double g_madvise_s, g_madvise_max_s, g_first_s, g_last_s, g_cpu_s; /* seconds */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int huge_wanted(void)
{
    const char *e = getenv("TEXTGEN_PANEL_PAGES");
    return !(e && strcmp(e, "4k") == 0);
}

static chunk *chunk_of(const void *p)
{
    for (chunk *c = g_chunks; c; c = c->next)
        if ((const uint8_t *)p >= c->base && (const uint8_t *)p < c->base + c->len)
            return c;
    return NULL;
}

/* Bytes [off, off + n) of c count as ready; pages that become whole wait for the worker. */
static void mark_ready(chunk *c, size_t off, size_t n, int queue)
{
    while (n > 0) {
        const size_t pg = off / HUGE_BYTES, in = HUGE_BYTES - off % HUGE_BYTES;
        const size_t step = n < in ? n : in;
        c->ready[pg] += step;
        if (c->ready[pg] == HUGE_BYTES && c->state[pg] == PAGE_FILLING) {
            c->state[pg] = queue ? PAGE_WAITING : PAGE_DONE;
            g_waiting += queue;
        }
        off += step;
        n -= step;
    }
}

/* Pages [pg0, pg1) of c that wait for the worker will not be collapsed after all. */
static void forget_waiting(chunk *c, size_t pg0, size_t pg1)
{
    for (size_t pg = pg0; pg < pg1; pg++)
        if (c->state[pg] == PAGE_WAITING) {
            c->state[pg] = PAGE_DONE;
            g_waiting--;
        }
}

static size_t errno_slot(int e)
{
    return e == EAGAIN ? 0 : e == ENOMEM ? 1 : e == EINVAL ? 2 : 3;
}

/* No page of any chunk waits any more (unload, or a forked child that has no worker). */
static void forget_all_waiting(void)
{
    for (chunk *c = g_chunks; c; c = c->next)
        forget_waiting(c, 0, c->len / HUGE_BYTES);
}

static chunk *chunk_new(size_t need)
{
    const size_t len =
        need > CHUNK_BYTES ? (need + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES : CHUNK_BYTES;
    chunk *c = calloc(1, sizeof *c);
    uint8_t *raw = c ? mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                     : MAP_FAILED;
    if (raw == MAP_FAILED) {
        free(c);
        return NULL;
    }
    /* Map 2 MiB more and cut off both ends so that the chunk starts on a huge page. */
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + len + HUGE_BYTES > p + len)
        munmap(p + len, (size_t)(raw + len + HUGE_BYTES - (p + len)));
    c->base = p;
    c->len = len;
    c->ready = calloc(len / HUGE_BYTES, sizeof *c->ready);
    c->state = calloc(len / HUGE_BYTES, 1);
    if (!c->ready || !c->state) {
        munmap(p, len);
        free(c->ready);
        free(c->state);
        free(c);
        return NULL;
    }
    return c;
}

static void *heap_alloc(size_t bytes, int32_t *owned)
{
    *owned = 1;
    return tg__aligned_alloc(64, (bytes + 63) / 64 * 64);
}

void *tg__panel_mem_alloc(size_t bytes, int32_t *owned, size_t *map_bytes)
{
    if (bytes < ARENA_MIN)
        return heap_alloc(bytes, owned);
    const size_t len = (bytes + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES;
    pthread_mutex_lock(&g_mu);
    chunk *c = g_chunks;
    if (!c || c->len - c->top < len) {
        if (!(c = chunk_new(len))) { /* no mapping (address space limit): the heap may do */
            pthread_mutex_unlock(&g_mu);
            return heap_alloc(bytes, owned);
        }
        c->next = g_chunks;
        g_chunks = c;
    }
    uint8_t *p = c->base + c->top;
    c->top += len;
    c->live++;
    c->live_bytes += len;
    pthread_mutex_unlock(&g_mu);
    /* Fault the pages in with one call, as 4 KiB pages: faulting a fresh 500 MB buffer page by
     * page while packing costs ~0.7 s, most of a model load (docs/performance.md, "Fast start"),
     * and huge pages faulted in here would cost ~5 ms each (panel_mem.h). Without
     * MADV_POPULATE_WRITE (Linux < 5.14) the packer faults them in. */
    madvise(p, len, MADV_POPULATE_WRITE);
    *owned = 2;
    *map_bytes = len;
    return p;
}

/* With g_mu held: tg__panel_mem_coverage. */
static void coverage_locked(tg_panel_coverage *out)
{
    memset(out, 0, sizeof *out);
    for (const chunk *c = g_chunks; c; c = c->next) {
        out->panel_bytes += c->live_bytes;
        for (size_t pg = 0; pg < c->len / HUGE_BYTES; pg++)
            out->whole_bytes +=
                c->state[pg] != PAGE_FILLING && c->state[pg] != PAGE_GONE ? HUGE_BYTES : 0;
        const long long h = tg__huge_bytes(c->base, c->len);
        out->huge_bytes = out->huge_bytes < 0 || h < 0 ? -1 : out->huge_bytes + h;
    }
    out->waiting = g_waiting;
    out->tried = g_tried;
    out->failed = g_failed;
    out->failed_eagain = g_failed_by[0];
    out->failed_enomem = g_failed_by[1];
    out->failed_einval = g_failed_by[2];
    out->failed_other = g_failed_by[3];
    out->madvise_s = g_madvise_s;
    out->madvise_max_s = g_madvise_max_s;
    out->span_s = g_tried ? g_last_s - g_first_s : 0;
    out->cpu_s = g_cpu_s;
}

static void report_locked(char *buf, size_t n)
{
    tg_panel_coverage cv;
    coverage_locked(&cv);
    char huge[32];
    if (cv.huge_bytes >= 0)
        snprintf(huge, sizeof huge, "%.1f", (double)cv.huge_bytes / 1e6);
    else
        snprintf(huge, sizeof huge, "(unknown: no PAGEMAP_SCAN)");
    snprintf(buf, n,
             "panels on huge pages: %s of %.1f MB (whole 2 MiB pages %.1f MB); collapses "
             "failed: %llu of %llu (EAGAIN %llu, ENOMEM %llu, EINVAL %llu, other %llu); "
             "%zu pages waiting; collapsing took %.2f s (%.0f ms in madvise, longest call "
             "%.1f ms; worker CPU %.0f ms)",
             huge, (double)cv.panel_bytes / 1e6, (double)cv.whole_bytes / 1e6,
             (unsigned long long)cv.failed, (unsigned long long)cv.tried,
             (unsigned long long)cv.failed_eagain, (unsigned long long)cv.failed_enomem,
             (unsigned long long)cv.failed_einval, (unsigned long long)cv.failed_other, cv.waiting,
             cv.span_s, 1e3 * cv.madvise_s, 1e3 * cv.madvise_max_s, 1e3 * cv.cpu_s);
}

static void *collapse_worker(void *arg)
{
    (void)arg;
    /* The program's own priority, not nice 19: MADV_COLLAPSE holds the memory manager's locks
     * and keeps its 2 MiB range unmapped while it copies, so a worker preempted inside it stalls
     * every decode thread that touches that range or faults anywhere, for as long as the
     * scheduler keeps the worker off a CPU. At nice 19 on a busy machine (a 1-thread decode and
     * another process on the other CPU) single calls took up to 314 ms, the collapse of int8's
     * 62 pages 1.2-5.6 s of wall time (0.05-1.6 s at nice 0), and decode ran at 0.5-0.7 of its
     * rate all that time (docs/performance.md, "Huge-page coverage of the panels"). The work is
     * 0.05-1.3 s of CPU once per load (depending on how fast the host supplies huge pages), a
     * second after the load returned. */
    pthread_mutex_lock(&g_mu);
    while (g_waiting > 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (g_holds > 0) { /* a load runs again */
            pthread_cond_wait(&g_cv, &g_mu);
            continue;
        }
        if (now.tv_sec < g_start_after.tv_sec ||
            (now.tv_sec == g_start_after.tv_sec && now.tv_nsec < g_start_after.tv_nsec)) {
            pthread_cond_timedwait(&g_cv, &g_mu, &g_start_after);
            continue;
        }
        chunk *c = g_chunks;
        size_t pg = 0;
        for (; c; c = c->next) {
            for (pg = 0; pg < c->len / HUGE_BYTES && c->state[pg] != PAGE_WAITING; pg++)
                ;
            if (pg < c->len / HUGE_BYTES)
                break;
        }
        if (!c) /* cannot happen while g_waiting counts right; never spin */
            break;
        c->state[pg] = PAGE_DONE;
        g_waiting--;
        g_busy = c;
        pthread_mutex_unlock(&g_mu);
        /* Failures leave the page on 4 KiB pages (no THP, no free 2 MiB block): still correct. */
        const double t0 = clock_s(CLOCK_MONOTONIC);
        const int rc = madvise(c->base + pg * HUGE_BYTES, HUGE_BYTES, MADV_COLLAPSE);
        const int err = errno;
        const double t1 = clock_s(CLOCK_MONOTONIC);
        pthread_mutex_lock(&g_mu);
        g_first_s = g_tried ? g_first_s : t0;
        g_last_s = t1;
        g_madvise_s += t1 - t0;
        g_madvise_max_s = t1 - t0 > g_madvise_max_s ? t1 - t0 : g_madvise_max_s;
        g_tried++;
        if (rc != 0) {
            g_failed++;
            g_failed_by[errno_slot(err)]++;
        }
        g_busy = NULL;
        pthread_cond_broadcast(&g_cv);
    }
    g_cpu_s += clock_s(CLOCK_THREAD_CPUTIME_ID);
    if (getenv("TEXTGEN_PANEL_REPORT")) { /* before settle returns: see panel_mem.h */
        char line[512];
        report_locked(line, sizeof line);
        fprintf(stderr, "textgen: %s\n", line);
    }
    g_running = 0;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* fork() copies the waiting pages but not the worker: the child forgets them (its panels stay on
 * the pages they have) so that freeing a matrix there never waits for a worker that is not
 * there. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&g_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&g_mu);
}

static void fork_child(void)
{
    forget_all_waiting();
    g_busy = NULL;
    g_running = g_joinable = 0;
    pthread_mutex_unlock(&g_mu);
}

static void register_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The library may be unloaded (dlclose) while pages wait: the worker must not run its code
 * afterwards, so it is stopped (at most one 2 MiB step in flight) and joined. */
__attribute__((destructor)) static void panel_mem_unload(void)
{
    pthread_mutex_lock(&g_mu);
    forget_all_waiting();
    pthread_cond_broadcast(&g_cv); /* a worker waiting for its start time */
    while (g_running)
        pthread_cond_wait(&g_cv, &g_mu);
    const int join = g_joinable;
    g_joinable = 0;
    pthread_mutex_unlock(&g_mu);
    if (join)
        pthread_join(g_thread, NULL);
}

/* With g_mu held: a worker for the waiting pages, unless one runs or a load holds it back. */
static void start_worker(void)
{
    if (g_waiting == 0 || g_running || g_holds > 0)
        return;
    if (g_joinable) /* the last worker has left its loop: this returns at once */
        pthread_join(g_thread, NULL);
    g_joinable = 0;
    if (pthread_create(&g_thread, NULL, collapse_worker, NULL) == 0)
        g_running = g_joinable = 1;
}

void tg__panel_mem_ready(void *p, int32_t owned, size_t map_bytes)
{
    if (owned != 2)
        return;
    const int queue = huge_wanted();
    if (queue)
        pthread_once(&g_fork_once, register_fork_handlers);
    pthread_mutex_lock(&g_mu);
    chunk *c = chunk_of(p);
    if (c)
        mark_ready(c, (size_t)((uint8_t *)p - c->base), map_bytes, queue);
    start_worker();
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_hold(void)
{
    pthread_mutex_lock(&g_mu);
    g_holds++;
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_release(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_holds > 0 && --g_holds == 0) {
        /* The program's first token follows the load: session buffers faulted in, every panel
         * read once. A collapse meanwhile makes it wait (the memory manager's lock, a 2 MiB
         * range unmapped while it is copied): 6 -> 15-50 ms from the load to the first logits
         * of int8, 20 -> 30-170 ms of fp32. So the worker starts a second later. */
        clock_gettime(CLOCK_REALTIME, &g_start_after);
        g_start_after.tv_sec += 1;
    }
    start_worker();
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_free(void *p, int32_t owned, size_t map_bytes)
{
    if (owned == 1) {
        free(p);
        return;
    }
    if (owned != 2 || !p)
        return;
    pthread_mutex_lock(&g_mu);
    chunk *c = chunk_of(p);
    if (!c) {
        pthread_mutex_unlock(&g_mu);
        return;
    }
    while (g_busy == c) /* a collapse in this chunk must not race the release below */
        pthread_cond_wait(&g_cv, &g_mu);
    if (--c->live == 0) {
        forget_waiting(c, 0, c->len / HUGE_BYTES);
        chunk **pp = &g_chunks;
        while (*pp != c)
            pp = &(*pp)->next;
        *pp = c->next;
        munmap(c->base, c->len);
        free(c->ready);
        free(c->state);
        free(c);
    } else {
        /* Resident no more (the range is never handed out again), and its whole 2 MiB pages
         * not collapsed yet never will be: a collapse would fault them in again. Nor do they
         * count as pages of panels any more. */
        const size_t off = (size_t)((uint8_t *)p - c->base);
        const size_t pg0 = (off + HUGE_BYTES - 1) / HUGE_BYTES,
                     pg1 = (off + map_bytes) / HUGE_BYTES;
        forget_waiting(c, pg0, pg1);
        for (size_t pg = pg0; pg < pg1; pg++)
            c->state[pg] = PAGE_GONE;
        c->live_bytes -= map_bytes;
        madvise(p, map_bytes, MADV_DONTNEED);
    }
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_settle(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_running)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_coverage(tg_panel_coverage *out)
{
    pthread_mutex_lock(&g_mu);
    coverage_locked(out);
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_report(char *buf, size_t n)
{
    pthread_mutex_lock(&g_mu);
    report_locked(buf, n);
    pthread_mutex_unlock(&g_mu);
}
