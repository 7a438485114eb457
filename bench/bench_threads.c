/* bench_threads.c — why 2 OpenMP threads collapse when another process keeps a core busy, and
 * whether the kernels' own pool (lib/backend/kernels/tpool.c) does not. Not a test.
 *
 * Usage: bench_threads [--reps N] [--threads 1,2] [--sweeps N] [--spin-us US] [--prec f32|bf16]
 *                      [--modes omp-static,omp-dynamic,pool] [--no-spinner] [--gate S]
 *
 * The workload is a decoded token's weight products (GPT-2 124M: 12 x (768x2304, 768x768,
 * 768x3072, 3072x768) + 768x50257, distinct copies, M = 1) with the packed kernels, split over
 * threads three ways:
 *   omp-static   #pragma omp parallel for schedule(static) over one panel range per thread:
 *                like oneDNN's matmul (each product is a fork/join; a thread owns half the work)
 *   omp-dynamic  schedule(dynamic, 1) over 8 chunks per thread
 *   pool         tg_tpool: chunks claimed from a counter, the caller works too, the job ends when
 *                all chunks are done (a late thread just does less); idle workers spin --spin-us
 *                then sleep
 * Every repetition runs each (mode, threads) quiet and with a background process spinning on
 * one CPU (fork()ed here, killed after), orders alternating. Printed: median tokens/s (sweeps/s)
 * and the paired ratio N threads / 1 thread. --gate S: wait up to S s for a quiet moment before
 * each repetition (see bench_kernels). libgomp's waiting is set from the environment
 * (OMP_WAIT_POLICY, GOMP_SPINCOUNT), so bench/threads.sh runs this program under each setting. */
#include "bw_probe.h"
#include "kmat.h"
#include "tpool.h"

#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MATS 49
#define MAX_REPS 64

static const int64_t shape_k[5] = {768, 768, 768, 3072, 768};
static const int64_t shape_n[5] = {2304, 768, 3072, 768, 50257};

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static tg_kmat km[N_MATS];
static float x[3072], y[50304];
static void *act;

typedef struct {
    const tg_kmat *m;
    int64_t chunks;
} job;

static void chunk_fn(void *arg, int64_t c, int32_t worker)
{
    (void)worker;
    const job *j = arg;
    const int64_t np = j->m->n_panels;
    tg__kmat_mul(j->m, act, 1, NULL, y, j->m->N, np * c / j->chunks, np * (c + 1) / j->chunks);
}

enum { MODE_STATIC, MODE_DYNAMIC, MODE_POOL, N_MODES };
static const char *const mode_name[N_MODES] = {"omp-static", "omp-dynamic", "pool"};

/* One token: 49 products. */
static void sweep(int mode, int nt, tg_tpool *pool)
{
    for (int i = 0; i < N_MATS; i++) {
        const tg_kmat *m = &km[i];
        tg__kmat_prepare(m, x, 1, m->K, act);
        if (mode == MODE_POOL) {
            job j = {m, tg__tpool_chunks(pool, m->n_panels)};
            tg__tpool_run(pool, j.chunks, chunk_fn, &j);
        } else if (mode == MODE_STATIC) {
            job j = {m, nt};
#pragma omp parallel for schedule(static) num_threads(nt)
            for (int64_t c = 0; c < nt; c++)
                chunk_fn(&j, c, 0);
        } else {
            job j = {m, 8 * (int64_t)nt};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
            for (int64_t c = 0; c < j.chunks; c++)
                chunk_fn(&j, c, 0);
        }
    }
}

static pid_t spinner_start(void)
{
    pid_t p = fork();
    if (p == 0) {
        volatile unsigned long n = 0;
        for (;;)
            n++;
    }
    usleep(100000); /* let it take a CPU */
    return p;
}

static void spinner_stop(pid_t p)
{
    if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
    }
}

int main(int argc, char **argv)
{
    int reps = 5, sweeps = 8, spin_us = 100, use_spinner = 1, n_t = 2, threads[4] = {1, 2};
    int gate = 0;
    int mode_on[N_MODES] = {1, 1, 1};
    int32_t fmt = TG_KFMT_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        if (strcmp(a, "--reps") == 0 && more)
            reps = atoi(argv[++i]);
        else if (strcmp(a, "--sweeps") == 0 && more)
            sweeps = atoi(argv[++i]);
        else if (strcmp(a, "--spin-us") == 0 && more)
            spin_us = atoi(argv[++i]);
        else if (strcmp(a, "--gate") == 0 && more)
            gate = atoi(argv[++i]);
        else if (strcmp(a, "--no-spinner") == 0)
            use_spinner = 0;
        else if (strcmp(a, "--prec") == 0 && more)
            fmt = strcmp(argv[++i], "bf16") == 0 ? TG_KFMT_BF16 : TG_KFMT_F32;
        else if (strcmp(a, "--threads") == 0 && more) {
            n_t = 0;
            for (char *p = argv[++i]; *p && n_t < 4;) {
                threads[n_t++] = (int)strtol(p, &p, 10);
                if (*p == ',')
                    p++;
            }
        } else if (strcmp(a, "--modes") == 0 && more) {
            for (int m = 0; m < N_MODES; m++)
                mode_on[m] = strstr(argv[i + 1], mode_name[m]) != NULL;
            i++;
        } else {
            fprintf(stderr, "usage: bench_threads [--reps N] [--threads 1,2] [--sweeps N] "
                            "[--spin-us US] [--prec f32|bf16] [--modes omp-static,omp-dynamic,"
                            "pool] [--no-spinner] [--gate S]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || sweeps < 1 || n_t < 1)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < N_MATS; i++) {
        const int s = i == N_MATS - 1 ? 4 : i % 4;
        float *w = malloc(sizeof(float) * (size_t)(shape_k[s] * shape_n[s]));
        for (int64_t e = 0; e < shape_k[s] * shape_n[s]; e++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            w[e] = (float)((double)(r >> 40) / 16777216.0 - 0.5) * 0.1f;
        }
        if (tg__kmat_pack(&km[i], w, shape_k[s], shape_n[s], 0, fmt, NULL) != TG_OK)
            return 1;
        free(w);
    }
    for (int k = 0; k < 3072; k++)
        x[k] = (float)(k % 7) - 3.0f;
    act = aligned_alloc(64, 64 + 4 * 3072);
    tg_tpool *pools[4];
    for (int t = 0; t < n_t; t++)
        if (tg__tpool_create(&pools[t], threads[t], spin_us) != TG_OK)
            return 1;
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    printf("bench_threads: %s weights, M=1, %d sweeps per measurement, %d repetitions; "
           "OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s; pool spin %d µs\n",
           fmt == TG_KFMT_BF16 ? "bf16" : "f32", sweeps, reps, wp ? wp : "(unset)",
           sc ? sc : "(unset)", spin_us);
    /* tok[cond][mode][t][rep] */
    static double tok[2][N_MODES][4][MAX_REPS];
    for (int m = 0; m < N_MODES; m++) /* warm-up: thread creation, first touch */
        for (int t = 0; t < n_t; t++)
            if (mode_on[m])
                sweep(m, threads[t], pools[t]);
    const int n_cond = use_spinner ? 2 : 1;
    double quiet[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        quiet[rep] = gate > 0 ? bench_wait_quiet(gate) : -1;
        for (int ck = 0; ck < n_cond; ck++) {
            const int cond = rep % 2 && n_cond == 2 ? 1 - ck : ck;
            const pid_t sp = cond ? spinner_start() : -1;
            for (int k = 0; k < N_MODES * n_t; k++) {
                const int kk = rep % 2 ? N_MODES * n_t - 1 - k : k;
                const int m = kk / n_t, t = kk % n_t;
                if (!mode_on[m])
                    continue;
                const double t0 = bw_now();
                for (int s = 0; s < sweeps; s++)
                    sweep(m, threads[t], pools[t]);
                tok[cond][m][t][rep] = sweeps / (bw_now() - t0);
            }
            spinner_stop(sp);
        }
        fprintf(stderr, "bench_threads: repetition %d/%d\n", rep + 1, reps);
    }
    if (gate > 0) {
        printf("CPUs busy just before each repetition (waited up to %d s for < 0.2):", gate);
        for (int rep = 0; rep < reps; rep++)
            printf(" %.2f", quiet[rep]);
        printf("\n");
    }
    for (int cond = 0; cond < n_cond; cond++) {
        printf("-- %s --\n", cond ? "one CPU kept busy by a spinning process" : "quiet");
        printf("  %-12s", "tokens/s");
        for (int t = 0; t < n_t; t++)
            printf("| %d thread%s  ", threads[t], threads[t] > 1 ? "s" : " ");
        printf("| %d vs %d threads, paired\n", threads[n_t - 1], threads[0]);
        for (int m = 0; m < N_MODES; m++) {
            if (!mode_on[m])
                continue;
            printf("  %-12s", mode_name[m]);
            for (int t = 0; t < n_t; t++)
                printf("| %9.2f ", median(tok[cond][m][t], reps));
            double ratio[MAX_REPS];
            for (int rep = 0; rep < reps; rep++)
                ratio[rep] = tok[cond][m][n_t - 1][rep] / tok[cond][m][0][rep];
            printf("| x%.2f\n", median(ratio, reps));
        }
    }
    for (int t = 0; t < n_t; t++) {
        int64_t par, solo;
        tg__tpool_stats(pools[t], &par, &solo);
        if (mode_on[MODE_POOL] && threads[t] > 1)
            printf("  pool, %d threads: %lld products on the threads, %lld on the caller alone "
                   "(the pool's busy-machine fallback)\n",
                   threads[t], (long long)par, (long long)solo);
        tg__tpool_free(pools[t]);
    }
    for (int i = 0; i < N_MATS; i++)
        tg__kmat_free(&km[i]);
    free(act);
    return 0;
}
