/* bw_probe.h — the DRAM read-bandwidth probe of the kernel and thread benchmarks: a vectorised
 * sum over a buffer far larger than the caches, on 1..8 pthreads each reading a contiguous
 * share as 1 sequential stream or as several interleaved ones, each of those prefetched 1 KiB
 * ahead (prefetcht2). The prefetch matters: bench_stream found 8 plain streams reading ~22 GB/s
 * on one core of this project's machine and 8 prefetched ones ~30, the best 4 KiB-page pattern
 * of its sweep; without it the "roofline" understated what the kernels can stream. Same method
 * as bench_decode.c's probe, so the rooflines agree. Header-only; bench programs only. */
#ifndef TG_BENCH_BW_PROBE_H
#define TG_BENCH_BW_PROBE_H

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define BW_MAX_THREADS 8

static inline double bw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef uint64_t bw_v8u64 __attribute__((vector_size(64), aligned(64)));

typedef struct {
    const bw_v8u64 *p;
    size_t n;
    int streams;
    uint64_t sum;
} bw_job;

#define BW_READ_BODY                                                                               \
    bw_job *j = arg;                                                                               \
    const int ns = j->streams;                                                                     \
    const size_t per = j->n / (size_t)ns;                                                          \
    bw_v8u64 acc[8] = {{0}};                                                                       \
    const bw_v8u64 *b[8];                                                                          \
    for (int s = 0; s < ns; s++)                                                                   \
        b[s] = j->p + (size_t)s * per;                                                             \
    for (size_t i = 0; i + 2 <= per; i += 2)                                                       \
        for (int s = 0; s < ns; s++) {                                                             \
            if (ns > 1) { /* a hint: past the end of the buffer it does not fault */               \
                __builtin_prefetch((const char *)(b[s] + i) + 1024, 0, 1);                         \
                __builtin_prefetch((const char *)(b[s] + i) + 1088, 0, 1);                         \
            }                                                                                      \
            acc[s] += b[s][i] + b[s][i + 1];                                                       \
        }                                                                                          \
    bw_v8u64 a = {0};                                                                              \
    for (int s = 0; s < 8; s++)                                                                    \
        a += acc[s];                                                                               \
    uint64_t sum = 0;                                                                              \
    for (int k = 0; k < 8; k++)                                                                    \
        sum += a[k];                                                                               \
    j->sum = sum;                                                                                  \
    return NULL;

static void *bw_read_generic(void *arg)
{
    BW_READ_BODY
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) static void *bw_read_avx512(void *arg)
{
    BW_READ_BODY
}
#endif

static volatile uint64_t bw_sink;

/* A buffer of `bytes`, written once so every page is resident. */
static inline void *bw_buffer(size_t bytes)
{
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, bytes) != 0)
        return NULL;
    for (size_t i = 0; i < bytes / 8; i++)
        ((uint64_t *)buf)[i] = i * 0x9E3779B97F4A7C15ull;
    return buf;
}

/* GB/s (1e9 B/s) reading `bytes` of `buf` on nt threads, each share as `streams` streams. */
static inline double bw_measure(const void *buf, size_t bytes, int nt, int streams)
{
    void *(*rd)(void *) = bw_read_generic;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        rd = bw_read_avx512;
#endif
    bw_job jobs[BW_MAX_THREADS];
    pthread_t th[BW_MAX_THREADS];
    const size_t nv = bytes / sizeof(bw_v8u64);
    const size_t per = nv / (size_t)nt / (2 * (size_t)streams) * (2 * (size_t)streams);
    for (int t = 0; t < nt; t++) {
        jobs[t].p = (const bw_v8u64 *)buf + (size_t)t * per;
        jobs[t].n = per;
        jobs[t].streams = streams;
    }
    const double t0 = bw_now();
    for (int t = 1; t < nt; t++)
        pthread_create(&th[t], NULL, rd, &jobs[t]);
    rd(&jobs[0]);
    for (int t = 1; t < nt; t++)
        pthread_join(th[t], NULL);
    const double dt = bw_now() - t0;
    for (int t = 0; t < nt; t++)
        bw_sink += jobs[t].sum;
    return (double)((size_t)nt * per * sizeof(bw_v8u64)) / dt / 1e9;
}

/* The better of 1 and 8 streams per thread. */
static inline double bw_best(const void *buf, size_t bytes, int nt)
{
    const double a = bw_measure(buf, bytes, nt, 1), b = bw_measure(buf, bytes, nt, 8);
    return a > b ? a : b;
}

/* CPU seconds all CPUs spent busy (user, nice, system, irq, softirq), from /proc/stat. */
static inline double bench_cpu_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    int n = 0;
    if (f) {
        n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6]);
        fclose(f);
    }
    return n >= 7 ? (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / 100.0 : 0.0;
}

/* On a shared machine: wait (at most max_s seconds) for a 0.5 s window in which other
 * processes keep less than 0.2 CPUs busy; returns that window's CPUs busy. Call it while this
 * process is idle. */
static inline double bench_wait_quiet(double max_s)
{
    const double end = bw_now() + max_s;
    double busy;
    do {
        const double a = bench_cpu_busy(), t0 = bw_now();
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
        busy = (bench_cpu_busy() - a) / (bw_now() - t0);
    } while (busy >= 0.2 && bw_now() < end);
    return busy;
}

#endif
