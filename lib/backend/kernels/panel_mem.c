/* backend/kernels/panel_mem.c — panel memory and its background collapse into huge pages (see
 * panel_mem.h for why). One worker thread exists while the queue is not empty; it
 * collapses 2 MiB per madvise call so that freeing a queued matrix never waits long. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#endif
#include "panel_mem.h"

#include "core/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define HUGE_BYTES ((size_t)2 << 20)

typedef struct item {
    uint8_t *p;
    size_t len, done; /* whole huge pages from p; bytes collapsed so far */
    int cancel;       /* tg__panel_mem_free waits for the step in flight */
    struct item *next;
} item;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static item *g_head;       /* queue, FIFO */
static const item *g_busy; /* the item whose 2 MiB step is being collapsed */
static int g_running;      /* a worker exists */
static pthread_t g_thread; /* the last worker started, joined before the next one starts */
static int g_joinable;     /* g_thread has not been joined yet */
static pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;

/* fork() copies the queue but not the worker: the child drops the queue (its panels stay on the
 * pages they have) so that freeing a matrix there never waits for a worker that is not there. */
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
    while (g_head) {
        item *it = g_head;
        g_head = it->next;
        free(it);
    }
    g_busy = NULL;
    g_running = g_joinable = 0;
    pthread_mutex_unlock(&g_mu);
}

static void register_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* The library may be unloaded (dlclose) while models are still queued: the worker must not run
 * its code afterwards, so it is stopped (at most one 2 MiB step in flight) and joined. */
__attribute__((destructor)) static void panel_mem_unload(void)
{
    pthread_mutex_lock(&g_mu);
    for (item *it = g_head; it; it = it->next)
        it->cancel = 1;
    while (g_running)
        pthread_cond_wait(&g_cv, &g_mu);
    const int join = g_joinable;
    g_joinable = 0;
    pthread_mutex_unlock(&g_mu);
    if (join)
        pthread_join(g_thread, NULL);
}

static int huge_wanted(void)
{
    const char *e = getenv("TEXTGEN_PANEL_PAGES");
    return !(e && strcmp(e, "4k") == 0);
}

void *tg__panel_mem_alloc(size_t bytes, int32_t *owned, size_t *map_bytes)
{
    if (bytes >= HUGE_BYTES) {
        /* Aligned to 2 MiB so that every whole 2 MiB of panels can become one huge page: map
         * 2 MiB more, cut off both ends, then populate (not MAP_POPULATE: the slack would be
         * faulted in too). Faulting a fresh 500 MB buffer page by page while packing costs
         * ~0.7 s, most of a model load (docs/performance.md, "Fast start"). */
        const size_t len = (bytes + 4095) / 4096 * 4096;
        uint8_t *raw = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw != MAP_FAILED) {
            uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1));
            if (p > raw)
                munmap(raw, (size_t)(p - raw));
            if (raw + len + HUGE_BYTES > p + len)
                munmap(p + len, (size_t)(raw + len + HUGE_BYTES - (p + len)));
            /* Without MADV_POPULATE_WRITE (Linux < 5.14) the packer faults the pages in. */
            madvise(p, len, MADV_POPULATE_WRITE);
            *owned = 2;
            *map_bytes = len;
            return p;
        }
    }
    *owned = 1;
    return tg__aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static void *collapse_worker(void *arg)
{
    (void)arg;
    /* Lowest priority: the collapse must never take CPU time from decoding or loading. */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    pthread_mutex_lock(&g_mu);
    while (g_head) {
        item *it = g_head;
        if (it->cancel || it->done >= it->len) {
            g_head = it->next;
            free(it);
            pthread_cond_broadcast(&g_cv);
            continue;
        }
        uint8_t *step = it->p + it->done;
        g_busy = it;
        pthread_mutex_unlock(&g_mu);
        /* Failures leave the step on 4 KiB pages (no THP, no free 2 MiB block): still correct. */
        madvise(step, HUGE_BYTES, MADV_COLLAPSE);
        pthread_mutex_lock(&g_mu);
        it->done += HUGE_BYTES;
        g_busy = NULL;
        pthread_cond_broadcast(&g_cv);
    }
    g_running = 0;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

void tg__panel_mem_ready(void *p, int32_t owned, size_t map_bytes)
{
    const size_t whole = map_bytes / HUGE_BYTES * HUGE_BYTES;
    if (owned != 2 || whole == 0 || !huge_wanted())
        return;
    /* Eligible for huge pages (khugepaged may also collapse it, if the explicit path fails). */
    if (madvise(p, whole, MADV_HUGEPAGE) != 0)
        return;
    pthread_once(&g_fork_once, register_fork_handlers);
    item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->p = p;
    it->len = whole;
    pthread_mutex_lock(&g_mu);
    item **tail = &g_head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = it;
    if (!g_running) {
        if (g_joinable) /* the last worker has left its loop: this returns at once */
            pthread_join(g_thread, NULL);
        g_joinable = 0;
        if (pthread_create(&g_thread, NULL, collapse_worker, NULL) == 0)
            g_running = g_joinable = 1;
        else { /* no worker: nothing stays queued */
            *tail = NULL;
            free(it);
        }
    }
    pthread_mutex_unlock(&g_mu);
}

void tg__panel_mem_free(void *p, int32_t owned, size_t map_bytes)
{
    if (owned == 1) {
        free(p);
        return;
    }
    if (owned != 2)
        return;
    pthread_mutex_lock(&g_mu);
    for (item **pp = &g_head; *pp;) {
        item *it = *pp;
        if (it->p != p) {
            pp = &it->next;
            continue;
        }
        it->cancel = 1;
        while (g_busy == it)
            pthread_cond_wait(&g_cv, &g_mu);
        /* The worker may have dropped the cancelled item meanwhile: search again, by address
         * (no other item can have p: the mapping is still ours). */
        pp = &g_head;
        while (*pp && (*pp)->p != p)
            pp = &(*pp)->next;
        if (*pp) {
            item *gone = *pp;
            *pp = gone->next;
            free(gone);
        }
        break;
    }
    pthread_mutex_unlock(&g_mu);
    munmap(p, map_bytes);
}

void tg__panel_mem_settle(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_running)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}
