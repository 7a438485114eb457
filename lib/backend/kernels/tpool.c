/* backend/kernels/tpool.c — see tpool.h. One job at a time: the caller publishes it under a new
 * generation number, packed with the next unclaimed chunk in one 64-bit counter
 * (generation << 32 | next chunk); a thread claims a chunk with a compare-and-swap that fails if
 * the generation moved on, so a worker waking late can never run a chunk of a later job with an
 * earlier job's function, nor claim chunks past an earlier job's end against a later job's
 * count (the counter is closed before a new job is written). The job ends when `done` reaches
 * the chunk count.
 *
 * When to leave the workers out is tpool_policy.c's decision; this file feeds it the caller's
 * timings and the workers' run-queue delay, read from /proc/thread-self/schedstat files that
 * each worker opens for itself (second field: nanoseconds spent runnable but not running). */
#include "core/alloc.h"
#include "tpool.h"

#include "core/error.h"

#include "cpus.h"
#include "tpool_policy.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct worker {
    tg_tpool *pool;
    int32_t index;
    int delay_fd; /* its /proc/thread-self/schedstat, or -1 */
    pthread_t th;
} worker;

struct tg_tpool {
    int32_t n;              /* threads in all, the caller included */
    int32_t spin_us;        /* idle polling before sleeping */
    worker *w;              /* n - 1 pool threads */
    _Atomic uint64_t claim; /* generation << 32 | next chunk */
    _Atomic uint32_t gen;   /* the job's generation, what idle workers watch */
    _Atomic int64_t done;   /* chunks finished in this generation */
    _Atomic(tg_tpool_fn) fn;
    _Atomic(void *) arg;
    _Atomic int64_t n_chunks;
    _Atomic int stop;
    _Atomic int sleepers;
    int32_t started;     /* workers that have opened their delay_fd (under mu) */
    int no_fallback;     /* tg__tpool_set_fallback(p, 0): never run jobs on the caller alone */
    tg_tpool_policy pol; /* caller's thread only: when to run jobs on the caller alone */
    double work_us;      /* the policy's clock: time spent in jobs (an idle pool's stands still) */
    double solo_delay0;  /* the caller's run-queue delay when a solo period began (-1: unread) */
    double solo_idle0;   /* the CPUs' idle time then (tg__cpus_idle_us; -1: unread) */
    double solo_wall0;   /* and the wall clock */
    int64_t jobs_parallel; /* statistics for tests and benchmarks */
    int64_t jobs_solo;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Claim and run chunks of generation g until none is left; returns how many it ran. */
static int64_t work(tg_tpool *p, uint32_t g, int32_t who)
{
    for (int64_t ran = 0;; ran++) {
        uint64_t v = atomic_load_explicit(&p->claim, memory_order_acquire);
        int64_t idx;
        do {
            if ((uint32_t)(v >> 32) != g)
                return ran;
            idx = (int64_t)(v & 0xffffffffu);
            if (idx >= atomic_load_explicit(&p->n_chunks, memory_order_relaxed))
                return ran;
        } while (!atomic_compare_exchange_weak_explicit(&p->claim, &v, v + 1, memory_order_acq_rel,
                                                        memory_order_acquire));
        /* The claim succeeded for generation g, so the job cannot end (and the next one cannot
         * be published) before this chunk is done: fn and arg are g's. */
        tg_tpool_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        fn(atomic_load_explicit(&p->arg, memory_order_relaxed), idx, who);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

/* The run-queue delay a schedstat file reports, in microseconds; -1 if it cannot be read. */
static double read_delay_us(int fd)
{
    char buf[96];
    const ssize_t got = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (got <= 0)
        return -1;
    buf[got] = 0;
    char *end;
    strtoull(buf, &end, 10); /* first field: time on the CPU */
    const char *second = end;
    const unsigned long long wait_ns = strtoull(second, &end, 10);
    return end == second ? -1 : (double)wait_ns * 1e-3;
}

/* The workers' total run-queue delay in microseconds, or -1 if the kernel does not say. */
static double workers_delay_us(const tg_tpool *p)
{
    double sum = 0;
    for (int32_t i = 0; i < p->n - 1; i++) {
        const double d = read_delay_us(p->w[i].delay_fd);
        if (d < 0)
            return -1;
        sum += d;
    }
    return sum;
}

/* The calling thread's own; opened each time, since the caller may change between jobs (this
 * runs at most twice per solo period). */
static double caller_delay_us(void)
{
    const int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    const double d = read_delay_us(fd);
    if (fd >= 0)
        close(fd);
    return d;
}

/* What a solo period is judged by at its end, read at its start. */
static void solo_begin(tg_tpool *p)
{
    p->solo_delay0 = caller_delay_us();
    p->solo_idle0 = tg__cpus_idle_us();
    p->solo_wall0 = now_us();
}

/* 1 if the next job runs on the caller alone. When a solo period ends, whether any CPU was free
 * during it (the caller's own run-queue delay; the CPUs' idle time over its wall time) decides
 * whether to try the workers at all (tpool_policy.h). */
static int run_solo(tg_tpool *p)
{
    if (p->no_fallback)
        return 0;
    if (tg__policy_solo_over(&p->pol, p->work_us)) {
        const double d = caller_delay_us(), idle = tg__cpus_idle_us(), wall = now_us();
        const double delay = d >= 0 && p->solo_delay0 >= 0 ? d - p->solo_delay0 : -1;
        const double idle_cpus = idle >= 0 && p->solo_idle0 >= 0 && wall > p->solo_wall0
                                     ? (idle - p->solo_idle0) / (wall - p->solo_wall0)
                                     : -1;
        tg__policy_solo_end(&p->pol, p->work_us, delay, idle_cpus);
        if (!tg__policy_solo_over(&p->pol, p->work_us)) /* extended: the next period's base */
            solo_begin(p);
    }
    return tg__policy_solo(&p->pol, p->work_us);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    tg_tpool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    w->delay_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    p->started++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    uint32_t seen = atomic_load(&p->gen);
    for (;;) {
        uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen && !atomic_load(&p->stop)) {
            const double until = now_us() + p->spin_us;
            for (unsigned i = 1; p->spin_us > 0; i++) {
                CPU_RELAX();
                g = atomic_load_explicit(&p->gen, memory_order_acquire);
                if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
                    break;
                if (i % 64 == 0 && now_us() > until)
                    break;
            }
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        work(p, g, w->index);
    }
}

static void wake_all(tg_tpool *p)
{
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

tg_status tg__tpool_create(tg_tpool **out, int32_t n_threads, int32_t spin_us)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return tg__error(TG_EINVAL, "thread pool: n_threads must be 1 to 1024, not %d",
                         (int)n_threads);
    tg_tpool *p = tg__calloc(1, sizeof *p);
    if (!p || (n_threads > 1 && !(p->w = tg__calloc((size_t)n_threads - 1, sizeof *p->w)))) {
        free(p);
        return tg__error(TG_ENOMEM, "out of memory creating a thread pool");
    }
    p->n = n_threads;
    p->spin_us = spin_us < 0 ? 0 : spin_us;
    tg__policy_init(&p->pol, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int32_t i = 0; i < n_threads - 1; i++) {
        p->w[i].pool = p;
        p->w[i].index = i + 1;
        p->w[i].delay_fd = -1;
        if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0) {
            p->n = i + 1; /* free joins the ones that started */
            tg__tpool_free(p);
            return tg__error(TG_ENOMEM, "thread pool: cannot create thread %d of %d", (int)i + 2,
                             (int)n_threads);
        }
    }
    /* The caller reads the workers' delay files: wait until every worker has opened its own. */
    pthread_mutex_lock(&p->mu);
    while (p->started < n_threads - 1)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    *out = p;
    return TG_OK;
}

void tg__tpool_free(tg_tpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int32_t i = 0; i < p->n - 1; i++) {
        pthread_join(p->w[i].th, NULL);
        if (p->w[i].delay_fd >= 0)
            close(p->w[i].delay_fd);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->w);
    free(p);
}

int32_t tg__tpool_size(const tg_tpool *p)
{
    return p ? p->n : 1;
}

tg_tpool *tg__tpool_for_work(tg_tpool *p, int64_t fmas)
{
    return fmas >= 32768 ? p : NULL;
}

int64_t tg__tpool_chunks_for(int32_t n_threads, int64_t units)
{
    /* 8 chunks per thread: a late thread then holds back at most ~1/8 of its share. */
    const int64_t want = n_threads > 1 ? 8 * (int64_t)n_threads : 1;
    return units < want ? (units < 1 ? 1 : units) : want;
}

int64_t tg__tpool_chunks(const tg_tpool *p, int64_t units)
{
    return tg__tpool_chunks_for(p ? p->n : 1, units);
}

int32_t tg__tpool_threads_next(tg_tpool *p)
{
    return !p || p->n == 1 || run_solo(p) ? 1 : p->n;
}

int64_t tg__tpool_chunks_next(tg_tpool *p, int64_t units)
{
    return tg__tpool_chunks_for(tg__tpool_threads_next(p), units);
}

void tg__tpool_run(tg_tpool *p, int64_t n_chunks, tg_tpool_fn fn, void *arg)
{
    if (n_chunks <= 0)
        return;
    if (!p || p->n == 1) {
        for (int64_t c = 0; c < n_chunks; c++)
            fn(arg, c, 0);
        return;
    }
    /* The policy's periods are measured in time spent in jobs, not wall time: a session that
     * sat idle (between prompts, or while the application works) keeps what it learnt. */
    if (n_chunks == 1 || run_solo(p)) {
        const double t0 = now_us();
        p->jobs_solo += n_chunks > 1;
        for (int64_t c = 0; c < n_chunks; c++)
            fn(arg, c, 0);
        p->work_us += now_us() - t0;
        return;
    }
    p->jobs_parallel++;
    const double t0 = now_us();
    const uint32_t g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    /* Close the counter under the new generation before touching the job: a worker still
     * holding a value of the last generation must fail its compare-and-swap now, not claim a
     * chunk against this job's n_chunks (which it may already see). */
    atomic_store(&p->claim, (uint64_t)g << 32 | 0xffffffffu);
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->n_chunks, n_chunks, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, (uint64_t)g << 32, memory_order_release);
    atomic_store(&p->gen, g); /* seq_cst: pairs with the sleepers count in worker_main */
    wake_all(p);
    const int64_t mine = work(p, g, 0);
    const double t1 = now_us();
    /* Wait for chunks other threads hold. Yield now and then: if the thread we wait for shares
     * our CPU, spinning would only delay it. Once the wait is a stall (the worker is not
     * running), sleep in short naps instead: a CPU left idle lets the kernel move the waiting
     * worker onto it rather than leave it queued behind another process for a time slice. */
    const double stall_at = t1 + tg__policy_stall_us(mine, t1 - t0);
    for (unsigned i = 1; atomic_load_explicit(&p->done, memory_order_acquire) < n_chunks; i++) {
        CPU_RELAX();
        if (i % 256 == 0) {
            if (now_us() > stall_at)
                nanosleep(&(struct timespec){0, 20000}, NULL);
            else
                sched_yield();
        }
    }
    /* Tell the policy how long the caller waited; it asks for the workers' run-queue delay
     * once per window of jobs (a pread per worker). Same bits whichever way jobs run. */
    const double t2 = now_us();
    p->work_us += t2 - t0;
    if (tg__policy_job(&p->pol, p->work_us, t2 - t0, mine, t1 - t0, t2 - t1)) {
        const double delay = workers_delay_us(p);
        if (delay >= 0)
            tg__policy_delay(&p->pol, p->work_us, delay, p->n - 1);
    }
    if (p->pol.solo) /* it just went solo */
        solo_begin(p);
}

void tg__tpool_set_fallback(tg_tpool *p, int on)
{
    if (p)
        p->no_fallback = !on;
}

void tg__tpool_wait_count(const _Atomic int64_t *count, int64_t target)
{
    for (unsigned i = 1; atomic_load_explicit(count, memory_order_acquire) < target; i++) {
        CPU_RELAX();
        if (i % 256 == 0)
            sched_yield();
    }
}

void tg__tpool_stats(const tg_tpool *p, int64_t *jobs_parallel, int64_t *jobs_solo)
{
    *jobs_parallel = p ? p->jobs_parallel : 0;
    *jobs_solo = p ? p->jobs_solo : 0;
}

void tg__tpool_signals(const tg_tpool *p, int64_t *stalls, int64_t *busy_windows, double *delay_us)
{
    *stalls = p ? p->pol.stalls : 0;
    *busy_windows = p ? p->pol.busy_windows : 0;
    *delay_us = p && p->n > 1 ? workers_delay_us(p) : -1;
}
