/* backend/decode_prof.c — see decode_prof.h. */
#include "decode_prof.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The totals of the decode steps of one row count. */
typedef struct dprof_rows {
    size_t M;                           /* rows per step; 0 = unused slot */
    int64_t steps;                      /* forward passes recorded */
    double fwd_wall, fwd_cpu, fwd_proc; /* begin to end, summed */
    double wall[TG_DP_COUNT], cpu[TG_DP_COUNT], proc[TG_DP_COUNT];
    int64_t calls[TG_DP_COUNT];
} dprof_rows;

struct tg_dprof {
    char *path;      /* where the table goes; "-" = stderr */
    dprof_rows *cur; /* the row count of the pass being recorded, NULL outside one */
    double wall0, cpu0, proc0, wall_last, cpu_last, proc_last;
    dprof_rows rows[TG_DPROF_ROW_COUNTS];
    size_t bytes[TG_DP_COUNT];
    int64_t pool[4];     /* jobs parallel, solo; stalls, busy windows (tg__dprof_set_pool) */
    double mark_cost_us; /* one mark's two clock reads, measured at creation */
};

static const char *const stage_names[TG_DP_COUNT] = {
    "reserve + embeddings",
    "attention norm",
    "qkv product",
    "rope",
    "attention",
    "attention -> act",
    "attn out + residual",
    "mlp norm",
    "mlp up + act",
    "mlp down + residual",
    "final norm",
    "output layer (logits)",
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

tg_dprof *tg__dprof_create(void)
{
    const char *e = getenv("TEXTGEN_DECODE_PROFILE");
    if (!e || !*e)
        return NULL;
    tg_dprof *p = tg__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->path = tg__malloc(strlen(e) + 1);
    if (!p->path) {
        free(p);
        return NULL;
    }
    strcpy(p->path, e);
    const double t0 = clock_s(CLOCK_MONOTONIC);
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        (void)clock_s(CLOCK_MONOTONIC);
        (void)clock_s(CLOCK_THREAD_CPUTIME_ID);
    }
    p->mark_cost_us = (clock_s(CLOCK_MONOTONIC) - t0) * 1e6 / N;
    /* the third clock of a mark: the process's CPU time (the pool's workers included) */
    const double t1 = clock_s(CLOCK_MONOTONIC);
    for (int i = 0; i < N; i++)
        (void)clock_s(CLOCK_PROCESS_CPUTIME_ID);
    p->mark_cost_us += (clock_s(CLOCK_MONOTONIC) - t1) * 1e6 / N;
    return p;
}

void tg__dprof_set_bytes(tg_dprof *p, int stage, size_t bytes)
{
    if (p)
        p->bytes[stage] = bytes;
}

void tg__dprof_set_pool(tg_dprof *p, int64_t parallel, int64_t solo, int64_t stalls,
                        int64_t busy_windows)
{
    if (p) {
        p->pool[0] = parallel;
        p->pool[1] = solo;
        p->pool[2] = stalls;
        p->pool[3] = busy_windows;
    }
}

void tg__dprof_begin(tg_dprof *p, size_t M, int decode_step)
{
    if (!p || !decode_step)
        return;
    dprof_rows *slot = NULL;
    for (int i = 0; i < TG_DPROF_ROW_COUNTS && !slot; i++)
        if (p->rows[i].M == M || p->rows[i].M == 0)
            slot = &p->rows[i];
    if (!slot) /* more row counts than slots: the first ones are kept */
        return;
    slot->M = M;
    p->cur = slot;
    p->wall0 = p->wall_last = clock_s(CLOCK_MONOTONIC);
    p->cpu0 = p->cpu_last = clock_s(CLOCK_THREAD_CPUTIME_ID);
    p->proc0 = p->proc_last = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

void tg__dprof_mark(tg_dprof *p, int stage)
{
    if (!p || !p->cur)
        return;
    const double w = clock_s(CLOCK_MONOTONIC), c = clock_s(CLOCK_THREAD_CPUTIME_ID),
                 pc = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    dprof_rows *r = p->cur;
    r->wall[stage] += w - p->wall_last;
    r->cpu[stage] += c - p->cpu_last;
    r->proc[stage] += pc - p->proc_last;
    r->calls[stage]++;
    p->wall_last = w;
    p->cpu_last = c;
    p->proc_last = pc;
}

void tg__dprof_end(tg_dprof *p)
{
    if (!p || !p->cur)
        return;
    dprof_rows *r = p->cur;
    p->cur = NULL;
    r->fwd_wall += clock_s(CLOCK_MONOTONIC) - p->wall0;
    r->fwd_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - p->cpu0;
    r->fwd_proc += clock_s(CLOCK_PROCESS_CPUTIME_ID) - p->proc0;
    r->steps++;
}

/* One row count's table: per stage, calls, wall ms, share, caller CPU ms (per step) and GB/s. */
static void report(const tg_dprof *p, const dprof_rows *r, FILE *f)
{
    const double n = (double)r->steps, ms = 1e3 / n;
    const char *per = r->M == 1 ? "t" : "s";
    double sum_wall = 0, sum_cpu = 0, sum_proc = 0;
    for (int s = 0; s < TG_DP_COUNT; s++) {
        sum_wall += r->wall[s];
        sum_cpu += r->cpu[s];
        sum_proc += r->proc[s];
    }
    if (r->M == 1)
        fprintf(f, "decode profile: %lld one-row forward passes (tokens); a mark costs ~%.2f us\n",
                (long long)r->steps, p->mark_cost_us);
    else
        fprintf(f,
                "decode profile: %lld forward passes of %zu rows, one per sequence (steps, "
                "%zu tokens each; ms per step); a mark costs ~%.2f us\n",
                (long long)r->steps, r->M, r->M, p->mark_cost_us);
    /* cpu: the calling thread's CPU time; all cpu: the process's (the pool's workers too) */
    char h_calls[16], h_wall[16], h_cpu[16], h_all[16];
    snprintf(h_calls, sizeof h_calls, "calls/%s", per);
    snprintf(h_wall, sizeof h_wall, "wall ms/%s", per);
    snprintf(h_cpu, sizeof h_cpu, "cpu ms/%s", per);
    snprintf(h_all, sizeof h_all, "all cpu/%s", per);
    fprintf(f, "%-24s %7s %10s %7s %10s %10s %8s\n", "stage", h_calls, h_wall, "share", h_cpu,
            h_all, "GB/s");
    for (int s = 0; s < TG_DP_COUNT; s++) {
        if (!r->calls[s])
            continue;
        const double per_call = r->wall[s] / (double)r->calls[s];
        char gbs[16] = "";
        if (p->bytes[s] && per_call > 0)
            snprintf(gbs, sizeof gbs, "%8.1f", (double)p->bytes[s] / per_call * 1e-9);
        fprintf(f, "%-24s %7.1f %10.3f %6.1f%% %10.3f %10.3f %8s\n", stage_names[s],
                (double)r->calls[s] / n, r->wall[s] * ms, 100.0 * r->wall[s] / r->fwd_wall,
                r->cpu[s] * ms, r->proc[s] * ms, gbs);
    }
    size_t bytes = 0;
    double prod_wall = 0, prod_cpu = 0, prod_proc = 0;
    for (int s = 0; s < TG_DP_COUNT; s++)
        if (p->bytes[s]) {
            bytes += p->bytes[s] * (size_t)(r->calls[s] / r->steps);
            prod_wall += r->wall[s];
            prod_cpu += r->cpu[s];
            prod_proc += r->proc[s];
        }
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f %10.3f %8.1f\n", "all weight products", "",
            prod_wall * ms, 100.0 * prod_wall / r->fwd_wall, prod_cpu * ms, prod_proc * ms,
            prod_wall > 0 ? (double)bytes / (prod_wall / n) * 1e-9 : 0.0);
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f %10.3f\n", "between marks", "",
            (r->fwd_wall - sum_wall) * ms, 100.0 * (r->fwd_wall - sum_wall) / r->fwd_wall,
            (r->fwd_cpu - sum_cpu) * ms, (r->fwd_proc - sum_proc) * ms);
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f %10.3f\n", "forward pass", "", r->fwd_wall * ms,
            100.0, r->fwd_cpu * ms, r->fwd_proc * ms);
}

void tg__dprof_free(tg_dprof *p)
{
    if (!p)
        return;
    int any = 0;
    for (int i = 0; i < TG_DPROF_ROW_COUNTS; i++)
        any |= p->rows[i].steps > 0;
    if (any) {
        FILE *f = strcmp(p->path, "-") == 0 ? stderr : fopen(p->path, "a");
        if (f) {
            /* one table per row count, fewest rows first */
            size_t last = 0;
            for (;;) {
                const dprof_rows *next = NULL;
                for (int i = 0; i < TG_DPROF_ROW_COUNTS; i++)
                    if (p->rows[i].steps && p->rows[i].M > last &&
                        (!next || p->rows[i].M < next->M))
                        next = &p->rows[i];
                if (!next)
                    break;
                report(p, next, f);
                last = next->M;
            }
            fprintf(f,
                    "thread pool over the session: %lld jobs shared out, %lld on the caller alone "
                    "(stalls %lld, busy windows %lld)\n",
                    (long long)p->pool[0], (long long)p->pool[1], (long long)p->pool[2],
                    (long long)p->pool[3]);
            if (f != stderr)
                fclose(f);
        } else {
            tg__log(TG_LOG_WARN, "TEXTGEN_DECODE_PROFILE: cannot write '%s': %s", p->path,
                    strerror(errno));
        }
    }
    free(p->path);
    free(p);
}
