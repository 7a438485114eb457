/* backend/decode_prof.c — see decode_prof.h. */
#include "decode_prof.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tg_dprof {
    char *path; /* where the table goes; "-" = stderr */
    int on;     /* inside a recorded forward pass */
    double wall0, cpu0, wall_last, cpu_last;
    int64_t tokens;
    double fwd_wall, fwd_cpu; /* begin to end, summed */
    double wall[TG_DP_COUNT], cpu[TG_DP_COUNT];
    int64_t calls[TG_DP_COUNT];
    size_t bytes[TG_DP_COUNT];
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
    return p;
}

void tg__dprof_set_bytes(tg_dprof *p, int stage, size_t bytes)
{
    if (p)
        p->bytes[stage] = bytes;
}

void tg__dprof_begin(tg_dprof *p, size_t M)
{
    if (!p || M != 1)
        return;
    p->on = 1;
    p->wall0 = p->wall_last = clock_s(CLOCK_MONOTONIC);
    p->cpu0 = p->cpu_last = clock_s(CLOCK_THREAD_CPUTIME_ID);
}

void tg__dprof_mark(tg_dprof *p, int stage)
{
    if (!p || !p->on)
        return;
    const double w = clock_s(CLOCK_MONOTONIC), c = clock_s(CLOCK_THREAD_CPUTIME_ID);
    p->wall[stage] += w - p->wall_last;
    p->cpu[stage] += c - p->cpu_last;
    p->calls[stage]++;
    p->wall_last = w;
    p->cpu_last = c;
}

void tg__dprof_end(tg_dprof *p)
{
    if (!p || !p->on)
        return;
    p->on = 0;
    p->fwd_wall += clock_s(CLOCK_MONOTONIC) - p->wall0;
    p->fwd_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - p->cpu0;
    p->tokens++;
}

static void report(const tg_dprof *p, FILE *f)
{
    const double n = (double)p->tokens, ms = 1e3 / n;
    double sum_wall = 0, sum_cpu = 0;
    for (int s = 0; s < TG_DP_COUNT; s++) {
        sum_wall += p->wall[s];
        sum_cpu += p->cpu[s];
    }
    fprintf(f, "decode profile: %lld one-row forward passes (tokens); a mark costs ~%.2f us\n",
            (long long)p->tokens, p->mark_cost_us);
    fprintf(f, "%-24s %7s %10s %7s %10s %8s\n", "stage", "calls/t", "wall ms/t", "share",
            "cpu ms/t", "GB/s");
    for (int s = 0; s < TG_DP_COUNT; s++) {
        if (!p->calls[s])
            continue;
        const double per_call = p->wall[s] / (double)p->calls[s];
        char gbs[16] = "";
        if (p->bytes[s] && per_call > 0)
            snprintf(gbs, sizeof gbs, "%8.1f", (double)p->bytes[s] / per_call * 1e-9);
        fprintf(f, "%-24s %7.1f %10.3f %6.1f%% %10.3f %8s\n", stage_names[s],
                (double)p->calls[s] / n, p->wall[s] * ms, 100.0 * p->wall[s] / p->fwd_wall,
                p->cpu[s] * ms, gbs);
    }
    size_t bytes = 0;
    double prod_wall = 0, prod_cpu = 0;
    for (int s = 0; s < TG_DP_COUNT; s++)
        if (p->bytes[s]) {
            bytes += p->bytes[s] * (size_t)(p->calls[s] / p->tokens);
            prod_wall += p->wall[s];
            prod_cpu += p->cpu[s];
        }
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f %8.1f\n", "all weight products", "", prod_wall * ms,
            100.0 * prod_wall / p->fwd_wall, prod_cpu * ms,
            prod_wall > 0 ? (double)bytes / (prod_wall / n) * 1e-9 : 0.0);
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f\n", "between marks", "",
            (p->fwd_wall - sum_wall) * ms, 100.0 * (p->fwd_wall - sum_wall) / p->fwd_wall,
            (p->fwd_cpu - sum_cpu) * ms);
    fprintf(f, "%-24s %7s %10.3f %6.1f%% %10.3f\n", "forward pass", "", p->fwd_wall * ms, 100.0,
            p->fwd_cpu * ms);
}

void tg__dprof_free(tg_dprof *p)
{
    if (!p)
        return;
    if (p->tokens) {
        FILE *f = strcmp(p->path, "-") == 0 ? stderr : fopen(p->path, "a");
        if (f) {
            report(p, f);
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
