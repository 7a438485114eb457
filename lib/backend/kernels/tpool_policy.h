/* backend/kernels/tpool_policy.h — when the thread pool (tpool.h) should run jobs on the caller
 * alone: the decision only, fed with measured times, so that it can be tested with made-up ones.
 *
 * Why: when another process keeps a CPU busy, a worker that the scheduler takes off its CPU
 * makes the caller wait, and the pool becomes slower than the caller alone (docs/performance.md,
 * "Threads"). Two signals say so, each read directly rather than inferred from averages:
 *   - a stall: after finishing its own chunks, the caller waited for the workers far longer
 *     than a chunk takes (a worker holds a chunk but is not running);
 *   - run-queue delay: over a window of parallel jobs, the workers spent a noticeable share of
 *     the time runnable but waiting for a CPU (the kernel's schedstat, read by tpool.c).
 * Either switches the pool to the caller alone for a period of time (not a number of jobs: a
 * prompt's ~50 long jobs and a decode token's ~60 short ones then share one decision, kept
 * across calls). The period doubles while tries keep failing soon, up to a cap, and returns to
 * the base after a parallel run that lasted. A period is extended without a try when no CPU was
 * free during it (the process's CPUs were never idle, or the caller itself waited for one): a
 * try would only stall there, and each try costs a few jobs run slower than the caller alone. All
 * times in microseconds; `now` is the caller's clock, which tpool.c advances only while jobs run
 * (an idle session keeps its decision).
 */
#ifndef TG_KERNELS_TPOOL_POLICY_H
#define TG_KERNELS_TPOOL_POLICY_H

#include <stdint.h>

#define TG_POLICY_SOLO_US 20000.0 /* first period on the caller alone */
/* the longest period (a busy machine is re-tried this often) */
#define TG_POLICY_SOLO_MAX_US 1.0e6
#define TG_POLICY_GOOD_US 200000.0   /* a parallel run this long resets the period to the base */
#define TG_POLICY_WINDOW_US 4000.0   /* parallel job time between run-queue delay readings */
#define TG_POLICY_DELAY_SHARE 0.10   /* workers' run-queue delay / their job time that is "busy" */
#define TG_POLICY_STALL_CHUNKS 3.0   /* a wait longer than this many caller chunks is a stall, */
#define TG_POLICY_STALL_MIN_US 200.0 /* and longer than this */
#define TG_POLICY_IDLE_MIN 0.5       /* free CPUs over a solo period below which no try is made */

typedef struct tg_tpool_policy {
    int solo;            /* jobs run on the caller alone until solo_until */
    double solo_until;   /* end of the current solo period */
    double solo_len;     /* length of the next solo period */
    double par_since;    /* start of the current parallel run */
    double win_job_us;   /* parallel job time since the last delay reading */
    double win_delay_us; /* the workers' total run-queue delay at that reading (< 0: none yet) */
    double solo_start;   /* when the current solo period began */
    int64_t stalls;      /* solo periods started by a stall / by run-queue delay (statistics) */
    int64_t busy_windows;
    int64_t busy_solo; /* solo periods extended because the caller waited for a CPU */
    int64_t no_idle;   /* solo periods extended because no CPU was free */
} tg_tpool_policy;

void tg__policy_init(tg_tpool_policy *pol, double now);

/* 1 if the next job runs on the caller alone; when a solo period is over, starts a parallel run
 * (the next call then answers 0 until a signal says otherwise). */
int tg__policy_solo(tg_tpool_policy *pol, double now);

/* How long the caller may wait for the other threads after running `mine` chunks in caller_us
 * before the wait counts as a stall. */
double tg__policy_stall_us(int64_t mine, double caller_us);

/* 1 if a solo period is over at `now`: before tg__policy_solo ends it, the pool may pass the
 * caller's run-queue delay over the period to tg__policy_solo_delay. */
int tg__policy_solo_over(const tg_tpool_policy *pol, double now);

/* What the pool read over the solo period that is over: the caller's own run-queue delay
 * (delay_us) and how many of the process's CPUs were free on average over the period's wall
 * time (idle_cpus: idle, or running only niced tasks); < 0 for a reading the system did not
 * give. If the caller waited for a CPU (above the busy share of the period) or less than
 * TG_POLICY_IDLE_MIN CPU was free, a worker would find no CPU either: the next period (doubled)
 * follows at once, without a try. */
void tg__policy_solo_end(tg_tpool_policy *pol, double now, double delay_us, double idle_cpus);

/* After a parallel job: it took job_us; the caller ran `mine` chunks in caller_us, then waited
 * wait_us for the other threads. Returns 1 if the workers' run-queue delay should be read now
 * and passed to tg__policy_delay. */
int tg__policy_job(tg_tpool_policy *pol, double now, double job_us, int64_t mine, double caller_us,
                   double wait_us);

/* The workers' total run-queue delay so far (a counter that only grows), n_workers of them. */
void tg__policy_delay(tg_tpool_policy *pol, double now, double delay_us, int32_t n_workers);

#endif
