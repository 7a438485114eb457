/* backend/kernels/tpool.h — a small thread pool for the per-token matrix products, built to stay
 * fast when another process keeps a core busy.
 *
 * Why not OpenMP's static split: with 2 threads and the other CPU busy, a static split makes
 * every product wait for the half owned by a thread that is not running, ~60 products per token
 * (docs/performance.md, "Threads"). Here a job is cut into many chunks that threads claim one at
 * a time from a shared counter, the caller claims too, and the job is over when every chunk is
 * done, not when every thread has checked in: a thread that is descheduled simply claims fewer
 * chunks (at most the one it holds is late). Idle workers spin briefly (the next product follows
 * within microseconds during decode), then sleep on a condition variable, so an idle pool costs
 * no CPU. */
#ifndef TG_KERNELS_TPOOL_H
#define TG_KERNELS_TPOOL_H

#include <textgen/common.h>

#include <stdint.h>

typedef struct tg_tpool tg_tpool;

/* chunk in [0, n_chunks); `worker` is 0 for the calling thread, 1.. for pool threads. */
typedef void (*tg_tpool_fn)(void *arg, int64_t chunk, int32_t worker);

/* A pool of n_threads threads in all, the caller of tg__tpool_run included (so n_threads - 1
 * are created). spin_us: how long an idle worker polls for the next job before sleeping
 * (0 = sleep at once). Errors: TG_EINVAL (n_threads < 1 or > 1024), TG_ENOMEM / thread creation
 * failure. */
tg_status tg__tpool_create(tg_tpool **out, int32_t n_threads, int32_t spin_us);
void tg__tpool_free(tg_tpool *p);
int32_t tg__tpool_size(const tg_tpool *p);

/* Run fn(arg, c, worker) for every chunk c, on the caller and the pool's threads; returns when
 * all chunks are done. Not reentrant: one job at a time per pool. When workers are kept off
 * their CPUs (another process wants it: the caller waited for a chunk a worker holds, or the
 * workers' run-queue delay grew), the pool runs the next jobs on the caller alone for a while,
 * then tries its threads again (tpool_policy.h). */
void tg__tpool_run(tg_tpool *p, int64_t n_chunks, tg_tpool_fn fn, void *arg);

/* For a chunk that needs earlier chunks of its job done (they publish with a release add on
 * *count): wait until *count reaches `target`, spinning and now and then yielding the CPU (the
 * thread waited for may share it). Chunks are claimed in index order, so the earlier ones are
 * held by threads that run them (or have run), never left unclaimed behind the waiter. */
void tg__tpool_wait_count(const _Atomic int64_t *count, int64_t target);

/* `p` for a job of `fmas` multiply-adds worth sharing out, NULL (the caller runs it alone) for a
 * smaller one: below ~32k multiply-adds a chunk costs less than handing it to another thread. */
tg_tpool *tg__tpool_for_work(tg_tpool *p, int64_t fmas);

/* on = 0: the pool never runs jobs on the caller alone, whatever the signals say (benchmarks
 * that compare 2-thread code paths on a machine whose other processes would otherwise send
 * every job to the caller; the library never turns it off). A new pool has it on. */
void tg__tpool_set_fallback(tg_tpool *p, int on);

/* Jobs run on several threads / on the caller alone because of the fallback above. */
void tg__tpool_stats(const tg_tpool *p, int64_t *jobs_parallel, int64_t *jobs_solo);

/* Why the fallback happened: stalls seen, busy windows of run-queue delay; and the workers'
 * total run-queue delay so far in microseconds (-1 when the kernel does not report it). */
void tg__tpool_signals(const tg_tpool *p, int64_t *stalls, int64_t *busy_windows, double *delay_us);

/* Threads the next job will run on: 1 while the fallback runs jobs on the caller alone. A job
 * whose best form differs on one thread (one block of rows instead of many) asks this first. */
int32_t tg__tpool_threads_next(tg_tpool *p);

/* Chunks per pool thread that a job of `units` units (e.g. weight panels) should be cut into:
 * enough that a descheduled thread costs little, few enough that claiming stays cheap. */
int64_t tg__tpool_chunks(const tg_tpool *p, int64_t units);

/* The same for a job that starts now: 1 chunk while the pool runs jobs on the caller alone
 * (what a 1-thread pool would do), so a fallback costs nothing against 1 thread. Plans made
 * once (e.g. blocks of rows with their own primitives) use tg__tpool_chunks. */
int64_t tg__tpool_chunks_next(tg_tpool *p, int64_t units);

/* The same on `threads` threads (1 chunk for 1 thread), for a caller that knows the count. */
int64_t tg__tpool_chunks_for(int32_t threads, int64_t units);

#endif
