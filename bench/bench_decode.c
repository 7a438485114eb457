/* bench_decode.c — decode/prefill throughput, memory-bandwidth efficiency and peak RSS of
 * libtextgen on one model folder. Not a test: it is built by meson and run by bench/run.sh.
 *
 * Usage: bench_decode MODEL_DIR [--bf16|--int8] [--reps N] [--prompt N] [--gen N] [--bw-mib N]
 *                               [--threads A,B,...] [--no-rss] [--mark] [--spinner] [--settle S]
 *        bench_decode MODEL_DIR --rss-only [--bf16|--int8] [--threads N] [--prompt N] [--gen N]
 *
 * In one run it measures, interleaving the thread counts within every repetition so that the
 * noise of a shared machine hits all of them alike:
 *   - DRAM read bandwidth: a vectorised sum over a --bw-mib buffer (default 1 GiB), on 1 thread
 *     and on 2 pthreads (each reads half), each share read as 1 and as 8 interleaved sequential
 *     streams (those prefetched, bw_probe.h); best (over repetitions and stream counts) and
 *     median; once on 4 KiB pages and once on huge pages; the roofline is the one on the page
 *     kind the library's panels sit on (huge pages, unless $TEXTGEN_PANEL_PAGES=4k);
 *   - prefill tokens/s: one tg_session_decode of a --prompt-token prompt (default 128), logits
 *     for the last row only;
 *   - decode tokens/s: --gen (default 128) greedy steps, one row per tg_session_decode, argmax
 *     of the logits included;
 *   - decode tokens per second of process CPU time (all threads): what a token costs whatever
 *     share of the CPUs a shared machine gave the run;
 *   - decode efficiency = decode tok/s x bytes a token must read / bandwidth, where the bytes
 *     are the weights plus the K and V the token's attention reads (positions attended, averaged
 *     over the decode steps, x the KV bytes of a position, tg_session_get_info): the roofline.
 *     The weights-only fraction is printed too;
 *   - peak RSS (VmHWM) of a fresh child process (`--rss-only`) that loads the model, creates ONE
 *     session with n_ctx = prompt + gen (so its KV cache is entirely written), runs the prompt
 *     and the greedy continuation, and compares VmHWM with weight bytes + the KV bytes the
 *     session reports in use (tg_session_get_info).
 * --spinner: a child process spins on one CPU (`while :; do :; done`) during the model runs of
 * every repetition (not during the bandwidth probe): the busy-machine case of the thread pool.
 * --settle S: sleep S seconds after the load, before anything runs, so that the library's
 * background collapse of the panels into huge pages is done before the timed runs (each
 * repetition prints the huge-page MB it started with).
 * Sessions use n_ctx = prompt + gen, n_seq 1. */
#include <textgen/textgen.h>

#include "bw_probe.h"
#include "huge_scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 8
#define MAX_REPS 64
#define KB_MB(kb) ((double)(kb)*1024.0 / 1e6) /* kB (KiB) to MB */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double vmin(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double vmax(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* A field of /proc/self/status in kB, or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    const size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* `bytes` on huge pages where the kernel gives them (2 MiB aligned, MADV_HUGEPAGE before the
 * first touch; faulting them in is slow on this VM, ~5 ms each, but happens before any timing). */
static void *huge_buffer(size_t bytes)
{
    const size_t H = (size_t)2 << 20;
    uint8_t *raw =
        mmap(NULL, bytes + H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + H - 1) & ~(H - 1));
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* Bytes of this process on huge pages outside [skip, skip + skip_len) (huge_scan.h, over every
 * mapping of /proc/self/maps), -1 where the kernel cannot tell. With transparent huge pages in
 * "madvise" mode only two things here have them: the probe's huge-page buffer (skipped) and the
 * panels the library collapsed (its $TEXTGEN_PANEL_REPORT line gives their exact share). */
static double huge_mb_outside(const void *skip, size_t skip_len)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    long long sum = 0;
    while (sum >= 0 && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) != 2 || strstr(line, "[vsyscall]"))
            continue;
        const long long h = tg__huge_bytes((const void *)(uintptr_t)a, (size_t)(b - a));
        sum = h < 0 ? -1 : sum + h;
    }
    fclose(f);
    const long long in_skip = tg__huge_bytes(skip, skip_len);
    return sum < 0 || in_skip < 0 ? -1 : (double)(sum - in_skip) / 1e6;
}

/* ---- DRAM read bandwidth: bw_measure() of bw_probe.h ---- */

/* ---- the model runs ---- */

typedef struct {
    int prompt, gen;
    int32_t *prompt_ids;
    int32_t n_vocab;
} workload;

/* --mark: print MARK lines on stdout around the timed phases, so that a ONEDNN_VERBOSE=1 log
 * (same stdout, same order) can be split into prefill and decode (bench/profile_decode.sh). */
static int g_mark;

static int fail(const char *what)
{
    fprintf(stderr, "bench_decode: %s: %s\n", what, tg_error_last());
    return -1;
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Decode tokens per second of this process's CPU time (all its threads) in the last run_once:
 * on a shared machine it says what a token costs, whatever share of the CPU the run got. At
 * 1 thread it is the rate while decoding is on the CPU. */
static double g_decode_cpu_tps;

static double cpu_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One prompt + greedy continuation from an empty sequence 0. Returns 0 and the two rates. */
static int run_once(tg_session *s, const workload *w, double *prefill_tps, double *decode_tps,
                    int32_t *last_token)
{
    if (tg_session_seq_clear(s, 0) != TG_OK)
        return fail("clearing the sequence");
    tg_batch_row rows[4096];
    for (int i = 0; i < w->prompt; i++)
        rows[i] = (tg_batch_row){w->prompt_ids[i], i, 0, i == w->prompt - 1};
    if (g_mark)
        printf("MARK prefill\n");
    double t0 = now();
    if (tg_session_decode(s, rows, (size_t)w->prompt) != TG_OK)
        return fail("prefill");
    const float *lg;
    if (tg_session_logits(&lg, s, (size_t)w->prompt - 1) != TG_OK)
        return fail("prefill logits");
    int32_t tok = argmax(lg, w->n_vocab);
    if (g_mark)
        printf("MARK decode\n");
    double t1 = now();
    const double c1 = cpu_time();
    for (int i = 0; i < w->gen; i++) {
        tg_batch_row r = {tok, w->prompt + i, 0, 1};
        if (tg_session_decode(s, &r, 1) != TG_OK)
            return fail("decode");
        if (tg_session_logits(&lg, s, 0) != TG_OK)
            return fail("decode logits");
        tok = argmax(lg, w->n_vocab);
    }
    double t2 = now();
    g_decode_cpu_tps = w->gen / (cpu_time() - c1);
    if (g_mark)
        printf("MARK end prefill_s=%.6f decode_s=%.6f tokens=%d\n", t1 - t0, t2 - t1, w->gen);
    *prefill_tps = w->prompt / (t1 - t0);
    *decode_tps = w->gen / (t2 - t1);
    if (last_token)
        *last_token = tok;
    return 0;
}

static const char *wt_name(int wt)
{
    return wt == TG_WEIGHTS_BF16 ? "bf16" : wt == TG_WEIGHTS_INT8 ? "int8" : "fp32";
}

static tg_model *load(const char *dir, int wt, tg_model_info *info)
{
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = (uint32_t)wt;
    tg_model *m;
    if (tg_model_load(&m, dir, &mo) != TG_OK) {
        fail("loading the model");
        return NULL;
    }
    *info = (tg_model_info)TG_MODEL_INFO_INIT;
    tg_model_get_info(info, m);
    return m;
}

static tg_session *session(const tg_model *m, int n_ctx, int n_threads)
{
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = (uint32_t)n_ctx;
    so.n_seq = 1;
    so.n_threads = n_threads;
    tg_session *s;
    if (tg_session_create(&s, m, &so) != TG_OK) {
        fail("creating a session");
        return NULL;
    }
    return s;
}

static void make_prompt(workload *w)
{
    w->prompt_ids = malloc((size_t)w->prompt * sizeof *w->prompt_ids);
    uint32_t x = 12345;
    for (int i = 0; i < w->prompt; i++) {
        x = x * 1664525u + 1013904223u;
        w->prompt_ids[i] = (int32_t)((x >> 8) % (uint32_t)w->n_vocab);
    }
}

/* --rss-only: the child process. Prints one machine-readable line. */
static int rss_only(const char *dir, int wt, int nt, workload *w)
{
    tg_model_info info;
    tg_model *m = load(dir, wt, &info);
    if (!m)
        return 1;
    long rss_loaded = status_kb("VmRSS");
    long hwm_loaded = status_kb("VmHWM");
    w->n_vocab = info.n_vocab;
    make_prompt(w);
    const int n_ctx = w->prompt + w->gen;
    tg_session *s = session(m, n_ctx, nt);
    double p, d;
    if (!s || run_once(s, w, &p, &d, NULL) != 0)
        return 1;
    long hwm1 = status_kb("VmHWM"), anon1 = status_kb("RssAnon"), file1 = status_kb("RssFile");
    tg_session_info si = TG_SESSION_INFO_INIT; /* KV bytes the filled session holds */
    tg_session_get_info(&si, s);
    long rss1 = status_kb("VmRSS");
    /* A second session on the same model: what each extra session costs. */
    tg_session *s2 = session(m, n_ctx, nt);
    if (!s2 || run_once(s2, w, &p, &d, NULL) != 0)
        return 1;
    long hwm2 = status_kb("VmHWM"), rss2 = status_kb("VmRSS");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "RSS weight_bytes=%llu kv_bytes=%llu n_ctx=%d hwm_loaded_kb=%ld rss_loaded_kb=%ld "
        "hwm1_kb=%ld anon1_kb=%ld file1_kb=%ld hwm2_kb=%ld rss1_kb=%ld rss2_kb=%ld maxrss_kb=%ld\n",
        (unsigned long long)info.weight_bytes, (unsigned long long)si.kv_bytes_in_use, n_ctx,
        hwm_loaded, rss_loaded, hwm1, anon1, file1, hwm2, rss1, rss2, ru.ru_maxrss);
    tg_session_free(s2);
    tg_session_free(s);
    tg_model_free(m);
    free(w->prompt_ids);
    return 0;
}

typedef struct {
    long hwm_loaded, rss_loaded, hwm1, anon1, file1, hwm2, rss1, rss2;
    unsigned long long weight_bytes, kv_bytes;
    int n_ctx, ok;
} rss_result;

/* Run ourselves with --rss-only in a fresh process and parse its line. */
static rss_result rss_child(const char *dir, int wt, int nt, const workload *w)
{
    rss_result r = {0};
    int fd[2];
    if (pipe(fd) != 0)
        return r;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char nts[16], ps[16], gs[16];
        snprintf(nts, sizeof nts, "%d", nt);
        snprintf(ps, sizeof ps, "%d", w->prompt);
        snprintf(gs, sizeof gs, "%d", w->gen);
        char *args[] = {"bench_decode",
                        (char *)dir,
                        "--rss-only",
                        "--threads",
                        nts,
                        "--prompt",
                        ps,
                        "--gen",
                        gs,
                        wt == TG_WEIGHTS_BF16   ? "--bf16"
                        : wt == TG_WEIGHTS_INT8 ? "--int8"
                                                : NULL,
                        NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    char buf[1024] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const char *l = strstr(buf, "RSS ");
    if (l && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        sscanf(l,
               "RSS weight_bytes=%llu kv_bytes=%llu n_ctx=%d hwm_loaded_kb=%ld rss_loaded_kb=%ld "
               "hwm1_kb=%ld anon1_kb=%ld file1_kb=%ld hwm2_kb=%ld rss1_kb=%ld rss2_kb=%ld",
               &r.weight_bytes, &r.kv_bytes, &r.n_ctx, &r.hwm_loaded, &r.rss_loaded, &r.hwm1,
               &r.anon1, &r.file1, &r.hwm2, &r.rss1, &r.rss2) == 11)
        r.ok = 1;
    return r;
}

/* CPU seconds, all CPUs summed, from /proc/stat: busy (user, nice, system, irq, softirq) and
 * steal (taken by the hypervisor for other guests); and this process's own CPU time, all threads
 * (including OpenMP workers spinning at barriers). busy - own = other processes, including
 * those of other containers on this kernel that `ps` does not show. */
typedef struct {
    double busy, steal, own, wall;
} cpu_snap;

static cpu_snap cpu_now(void)
{
    cpu_snap c = {0, 0, 0, now()};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long v[10] = {0};
        int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        fclose(f);
        const double hz = (double)sysconf(_SC_CLK_TCK);
        if (n >= 8) {
            c.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
            c.steal = (double)v[7] / hz;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    c.own = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
            (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    return c;
}

/* Average number of CPUs used by other processes between two snapshots (and steal). */
static double cpu_others(cpu_snap a, cpu_snap b, double *steal)
{
    const double dt = b.wall - a.wall;
    if (steal)
        *steal = dt > 0 ? (b.steal - a.steal) / dt : 0;
    const double o = dt > 0 ? ((b.busy - a.busy) - (b.own - a.own)) / dt : 0;
    return o < 0 ? 0 : o;
}

/* --spinner: a child process that keeps one CPU busy until killed. */
static pid_t spinner_start(void)
{
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0)
        for (volatile unsigned long i = 0;; i++) /* volatile: the loop must not be removed */
            ;
    if (pid < 0)
        fprintf(stderr, "bench_decode: cannot fork the spinner: %s\n", strerror(errno));
    return pid;
}

static void spinner_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

static void loadavg(char *out, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    out[0] = 0;
    if (f) {
        if (fgets(out, (int)n, f))
            out[strcspn(out, "\n")] = 0;
        fclose(f);
    }
}

static void usage(const char *a0)
{
    fprintf(stderr,
            "usage: %s MODEL_DIR [--bf16|--int8] [--reps N] [--prompt N] [--gen N] [--bw-mib N] "
            "[--threads A,B,...] [--no-rss] [--mark] [--spinner] [--settle S]\n"
            "       %s MODEL_DIR --rss-only [--bf16|--int8] [--threads N] [--prompt N] [--gen N]\n",
            a0, a0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int wt = TG_WEIGHTS_F32, reps = 7, bw_mib = 1024, do_rss = 1, rss_mode = 0, spinner = 0;
    double settle = 0; /* --settle: seconds to sleep after the load */
    int threads[MAX_THREADS] = {1, 2}, n_thr = 2;
    workload w = {128, 128, NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        if (strcmp(a, "--bf16") == 0)
            wt = TG_WEIGHTS_BF16;
        else if (strcmp(a, "--int8") == 0)
            wt = TG_WEIGHTS_INT8;
        else if (strcmp(a, "--no-rss") == 0)
            do_rss = 0;
        else if (strcmp(a, "--mark") == 0)
            g_mark = 1;
        else if (strcmp(a, "--spinner") == 0)
            spinner = 1;
        else if (strcmp(a, "--rss-only") == 0)
            rss_mode = 1;
        else if (strcmp(a, "--reps") == 0 && more)
            reps = atoi(argv[++i]);
        else if (strcmp(a, "--prompt") == 0 && more)
            w.prompt = atoi(argv[++i]);
        else if (strcmp(a, "--gen") == 0 && more)
            w.gen = atoi(argv[++i]);
        else if (strcmp(a, "--settle") == 0 && more)
            settle = atof(argv[++i]);
        else if (strcmp(a, "--bw-mib") == 0 && more)
            bw_mib = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && more) {
            n_thr = 0;
            for (char *p = argv[++i]; *p && n_thr < MAX_THREADS;) {
                threads[n_thr++] = (int)strtol(p, &p, 10);
                if (*p == ',')
                    p++;
                else if (*p)
                    usage(argv[0]);
            }
        } else if (a[0] == '-' || dir)
            usage(argv[0]);
        else
            dir = a;
    }
    if (!dir || reps < 1 || reps > MAX_REPS || w.prompt < 1 || w.prompt > 4096 || w.gen < 1 ||
        bw_mib < 1 || n_thr < 1 || !(settle >= 0 && settle <= 600))
        usage(argv[0]);
    for (int t = 0; t < n_thr; t++)
        if (threads[t] < 1 || threads[t] > MAX_THREADS)
            usage(argv[0]);
    if (rss_mode)
        return rss_only(dir, wt, threads[0], &w);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char la0[128], la1[128], date[64];
    loadavg(la0, sizeof la0);
    const time_t start_time = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&start_time));
    const cpu_snap snap0 = cpu_now();
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    /* Bandwidth buffers, written once so that every page is resident before timing: one on
     * 4 KiB pages and one on huge pages, since the library's panels sit on huge pages (unless
     * $TEXTGEN_PANEL_PAGES=4k) and one core reads ~15 % more from those (docs/performance.md). */
    const size_t bw_bytes = (size_t)bw_mib << 20;
    void *buf = NULL, *hbuf = NULL;
    if (posix_memalign(&buf, 4096, bw_bytes) != 0 || !(hbuf = huge_buffer(bw_bytes))) {
        fprintf(stderr, "bench_decode: cannot allocate 2 x %d MiB\n", bw_mib);
        return 1;
    }
    madvise(buf, bw_bytes, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < bw_bytes / 8; i++)
        ((uint64_t *)buf)[i] = ((uint64_t *)hbuf)[i] = i * 0x9E3779B97F4A7C15ull;
    const char *pe = getenv("TEXTGEN_PANEL_PAGES");
    const int panels_huge = !(pe && strcmp(pe, "4k") == 0);

    double t_load = now();
    tg_model_info info;
    tg_model *m = load(dir, wt, &info);
    if (!m)
        return 1;
    t_load = now() - t_load;
    if (settle > 0) { /* the library collapses its panels into huge pages meanwhile */
        const struct timespec ts = {(time_t)settle,
                                    (long)((settle - (double)(time_t)settle) * 1e9)};
        nanosleep(&ts, NULL);
    }
    w.n_vocab = info.n_vocab;
    make_prompt(&w);
    const int n_ctx = w.prompt + w.gen;
    if (n_ctx > info.n_ctx) {
        fprintf(stderr, "bench_decode: prompt + gen = %d exceeds the model's n_ctx %d\n", n_ctx,
                info.n_ctx);
        return 1;
    }
    tg_session *sess[MAX_THREADS];
    double pre[MAX_THREADS][MAX_REPS], dec[MAX_THREADS][MAX_REPS], bw[3][MAX_REPS];
    double dec_cpu[MAX_THREADS][MAX_REPS];
    double other_rep[MAX_REPS], bw_s1[3][MAX_REPS], bw_s8[3][MAX_REPS], bw_h[3][MAX_REPS];
    double huge_rep[MAX_REPS]; /* MB on huge pages outside the probe buffer, before the runs */
    int32_t tokens[MAX_THREADS];
    for (int t = 0; t < n_thr; t++) {
        if (!(sess[t] = session(m, n_ctx, threads[t])))
            return 1;
        double p, d; /* warm-up: primitive creation, KV pages, thread pool */
        if (run_once(sess[t], &w, &p, &d, NULL) != 0)
            return 1;
    }
    /* K and V a decode step reads: the step at position prompt + i attends prompt + i + 1
     * positions, so over the --gen steps a token reads prompt + (gen + 1) / 2 positions' worth. */
    tg_session_info si = TG_SESSION_INFO_INIT;
    tg_session_get_info(&si, sess[0]);
    const double kv_pos = (double)si.kv_block_bytes / (double)si.kv_block_positions;
    const double kv_read = kv_pos * (w.prompt + (w.gen + 1) / 2.0);
    for (int r = 0; r < reps; r++) {
        const cpu_snap rs = cpu_now();
        for (int nt = 1; nt <= 2; nt++) {
            bw_s1[nt][r] = bw_measure(buf, bw_bytes, nt, 1);
            bw_s8[nt][r] = bw_measure(buf, bw_bytes, nt, 8);
            bw[nt][r] = bw_s1[nt][r] > bw_s8[nt][r] ? bw_s1[nt][r] : bw_s8[nt][r];
            const double h1 = bw_measure(hbuf, bw_bytes, nt, 1),
                         h8 = bw_measure(hbuf, bw_bytes, nt, 8);
            bw_h[nt][r] = h1 > h8 ? h1 : h8;
        }
        huge_rep[r] = huge_mb_outside(hbuf, bw_bytes);
        const pid_t spin = spinner ? spinner_start() : 0;
        if (spin < 0)
            return 1;
        /* Alternate the order so neither thread count always runs first. */
        for (int k = 0; k < n_thr; k++) {
            const int t = r % 2 ? n_thr - 1 - k : k;
            if (run_once(sess[t], &w, &pre[t][r], &dec[t][r], &tokens[t]) != 0) {
                spinner_stop(spin);
                return 1;
            }
            dec_cpu[t][r] = g_decode_cpu_tps;
        }
        spinner_stop(spin);
        other_rep[r] = cpu_others(rs, cpu_now(), NULL);
        fprintf(stderr, "bench_decode: repetition %d/%d done (%.2f CPUs used by others)\n", r + 1,
                reps, other_rep[r]);
    }
    const cpu_snap snap1 = cpu_now();
    double steal;
    const double others = cpu_others(snap0, snap1, &steal);
    const double wall = snap1.wall - snap0.wall;
    loadavg(la1, sizeof la1);
    const long hwm_main = status_kb("VmHWM");
    const long long probe_huge = tg__huge_bytes(hbuf, bw_bytes);

    /* ---- report ---- */
    const double wb = (double)info.weight_bytes;
    const double tb = wb + kv_read; /* the roofline's bytes per token */
    const double bw_4k[3] = {0, vmax(bw[1], reps), vmax(bw[2], reps)};
    const double bw_hp[3] = {0, vmax(bw_h[1], reps), vmax(bw_h[2], reps)};
    /* The roofline: the probe on the page kind the panels sit on. */
    const double bw_best[3] = {0, panels_huge ? bw_hp[1] : bw_4k[1],
                               panels_huge ? bw_hp[2] : bw_4k[2]};
    const double bw_med[3] = {0, median(bw[1], reps), median(bw[2], reps)};
    const double bw_top = bw_best[1] > bw_best[2] ? bw_best[1] : bw_best[2];
    printf("== libtextgen decode benchmark: %s weights (%s) ==\n", wt_name(wt),
           wt == TG_WEIGHTS_BF16   ? "TG_WEIGHTS_BF16"
           : wt == TG_WEIGHTS_INT8 ? "TG_WEIGHTS_INT8"
                                   : "TG_WEIGHTS_F32");
    printf("started         %s\n", date);
    printf("model           %s\n", dir);
    printf("shape           %d layers, n_embd %d, %d heads, vocab %d, n_positions %d; "
           "%.2f M params\n",
           info.n_layer, info.n_embd, info.n_head, info.n_vocab, info.n_ctx,
           (double)info.n_params / 1e6);
    printf("weight bytes    %.1f MB streamed per token (weight_bytes); load %.2f s\n", wb / 1e6,
           t_load);
    printf("KV read         %.1f MB per token: %.1f positions attended on average x %.0f B "
           "(K and V of every layer)\n",
           kv_read / 1e6, w.prompt + (w.gen + 1) / 2.0, kv_pos);
    printf("session         n_ctx %d (prompt %d + %d new), n_seq 1; %d repetitions, "
           "thread counts interleaved\n",
           n_ctx, w.prompt, w.gen, reps);
    printf("machine         %ld CPUs; loadavg before: %s; after: %s\n", ncpu, la0, la1);
    printf("spinner         %s\n", spinner ? "yes: one CPU kept busy by a child process during "
                                             "the model runs (counted in 'other load')"
                                           : "no");
    printf("other load      %.2f CPUs busy with other processes on average during the run "
           "(%.0f s), steal %.2f CPUs\n",
           others, wall, steal);
    printf("\nDRAM read bandwidth, GB/s: sum over a %d MiB buffer (%s loads), each thread "
           "reading its half as 1 or as 8 interleaved, prefetched sequential streams:\n",
           bw_mib, __builtin_cpu_supports("avx512f") ? "AVX-512" : "generic vector");
    for (int nt = 1; nt <= 2; nt++)
        printf("  %d thread%s  4 KiB pages: best %6.2f  median %6.2f  min %6.2f   (best 1 stream "
               "%6.2f, 8 streams %6.2f); huge pages: best %6.2f  median %6.2f\n",
               nt, nt > 1 ? "s" : " ", bw_4k[nt], bw_med[nt], vmin(bw[nt], reps),
               vmax(bw_s1[nt], reps), vmax(bw_s8[nt], reps), bw_hp[nt], median(bw_h[nt], reps));
    printf("  'best' (max over repetitions and stream counts) on the panels' page kind (%s) is "
           "the bandwidth used below.\n",
           panels_huge ? "huge pages" : "4 KiB pages, TEXTGEN_PANEL_PAGES=4k");
    printf("  the huge-page buffer: %.1f of %.1f MB on huge pages at the end\n",
           probe_huge < 0 ? -1.0 : (double)probe_huge / 1e6, (double)bw_bytes / 1e6);
    printf("huge pages      outside the probe buffer (the panels): median %.1f MB [%.1f - %.1f] "
           "of %.1f MB of weights, measured before each repetition's runs (-1: unknown)\n",
           median(huge_rep, reps), vmin(huge_rep, reps), vmax(huge_rep, reps), wb / 1e6);
    printf("\n%-34s", "");
    for (int t = 0; t < n_thr; t++)
        printf("| %d thread%s (median [min-max])   ", threads[t], threads[t] > 1 ? "s" : " ");
    printf("\n");
    int best_t = 0;
    for (int t = 1; t < n_thr; t++)
        if (median(dec[t], reps) > median(dec[best_t], reps))
            best_t = t;
    char label[64];
    snprintf(label, sizeof label, "prefill tok/s (%d-token prompt)", w.prompt);
    printf("%-34s", label);
    for (int t = 0; t < n_thr; t++)
        printf("| %8.1f [%7.1f - %7.1f]     ", median(pre[t], reps), vmin(pre[t], reps),
               vmax(pre[t], reps));
    snprintf(label, sizeof label, "decode tok/s (%d new tokens)", w.gen);
    printf("\n%-34s", label);
    for (int t = 0; t < n_thr; t++)
        printf("| %8.2f [%7.2f - %7.2f]     ", median(dec[t], reps), vmin(dec[t], reps),
               vmax(dec[t], reps));
    printf("\n%-34s", "decode ms/token");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.2f [%7.2f - %7.2f]     ", 1e3 / median(dec[t], reps), 1e3 / vmax(dec[t], reps),
               1e3 / vmin(dec[t], reps));
    printf("\n%-34s", "decode tok per CPU second");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.2f [%7.2f - %7.2f]     ", median(dec_cpu[t], reps), vmin(dec_cpu[t], reps),
               vmax(dec_cpu[t], reps));
    printf("\n%-34s", "decode GB/s of weights");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.2f                       ", median(dec[t], reps) * wb / 1e9);
    printf("\n%-34s", "decode GB/s of weights + KV");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.2f                       ", median(dec[t], reps) * tb / 1e9);
    printf("\n%-34s", "roofline: weights+KV / same-thr BW");
    for (int t = 0; t < n_thr; t++) {
        const int bwi = threads[t] >= 2 ? 2 : 1;
        printf("| %8.3f [%7.3f - %7.3f]     ", median(dec[t], reps) * tb / 1e9 / bw_best[bwi],
               vmin(dec[t], reps) * tb / 1e9 / bw_best[bwi],
               vmax(dec[t], reps) * tb / 1e9 / bw_best[bwi]);
    }
    /* The host's memory is not steady: within one run the 2-thread probe reads ~36 GB/s in most
     * repetitions and 55-63 in some. Each repetition's decode against that repetition's probe
     * (panels' page kind) is robust to that; "best" above divides every repetition by the
     * fastest probe of all. */
    double paired[MAX_THREADS][MAX_REPS];
    printf("\n%-34s", "roofline, paired per repetition");
    for (int t = 0; t < n_thr; t++) {
        const int bwi = threads[t] >= 2 ? 2 : 1;
        for (int r = 0; r < reps; r++)
            paired[t][r] = dec[t][r] * tb / 1e9 / (panels_huge ? bw_h[bwi][r] : bw[bwi][r]);
        printf("| %8.3f [%7.3f - %7.3f]     ", median(paired[t], reps), vmin(paired[t], reps),
               vmax(paired[t], reps));
    }
    printf("\n%-34s", "weights only / same-thread BW");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.3f                       ",
               median(dec[t], reps) * wb / 1e9 / bw_best[threads[t] >= 2 ? 2 : 1]);
    printf("\n%-34s", "weights+KV / 4 KiB-page BW");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.3f                       ",
               median(dec[t], reps) * tb / 1e9 / bw_4k[threads[t] >= 2 ? 2 : 1]);
    printf("\n%-34s", "weights+KV / best BW overall");
    for (int t = 0; t < n_thr; t++)
        printf("| %8.3f                       ", median(dec[t], reps) * tb / 1e9 / bw_top);
    printf("\n");
    for (int t = 1; t < n_thr; t++) {
        double rp[MAX_REPS], rd[MAX_REPS];
        for (int r = 0; r < reps; r++) {
            rp[r] = pre[t][r] / pre[0][r];
            rd[r] = dec[t][r] / dec[0][r];
        }
        printf("\n%d vs %d threads, paired per repetition (median [min-max]): prefill x%.2f "
               "[%.2f-%.2f], decode x%.2f [%.2f-%.2f]\n",
               threads[t], threads[0], median(rp, reps), vmin(rp, reps), vmax(rp, reps),
               median(rd, reps), vmin(rd, reps), vmax(rd, reps));
    }
    printf("\nper repetition: BW1 BW2 GB/s | huge-page MB outside the probe | decode tok/s per "
           "thread count | prefill tok/s | CPUs used by others\n");
    for (int r = 0; r < reps; r++) {
        printf("  rep %2d: %6.2f %6.2f | %6.1f |", r, bw[1][r], bw[2][r], huge_rep[r]);
        for (int t = 0; t < n_thr; t++)
            printf(" %7.2f", dec[t][r]);
        printf(" |");
        for (int t = 0; t < n_thr; t++)
            printf(" %7.1f", pre[t][r]);
        printf(" | %.2f\n", other_rep[r]);
    }
    int same = 1;
    for (int t = 1; t < n_thr; t++)
        same &= tokens[t] == tokens[0];
    printf("last greedy token per thread count %s (%d)\n", same ? "identical" : "DIFFERS",
           tokens[0]);
    printf("\nGOAL decode >= 0.85 of the roofline (weights + KV read per token / same-thread "
           "probe on the panels' page kind; against the best probe, and paired per repetition):");
    for (int t = 0; t < n_thr; t++) {
        const double eff = median(dec[t], reps) * tb / 1e9 / bw_best[threads[t] >= 2 ? 2 : 1];
        const double eff_p = median(paired[t], reps);
        printf(" %d thread%s %.3f %s / %.3f %s%s", threads[t], threads[t] > 1 ? "s" : "", eff,
               eff >= 0.85 ? "PASS" : "FAIL", eff_p, eff_p >= 0.85 ? "PASS" : "FAIL",
               t + 1 < n_thr ? "," : "\n");
    }
    printf("main process peak RSS (model + %d sessions + 2 x %d MiB bandwidth buffers): %.1f MB\n",
           n_thr, bw_mib, KB_MB(hwm_main));

    for (int t = 0; t < n_thr; t++)
        tg_session_free(sess[t]);
    tg_model_free(m);
    free(buf);

    if (do_rss) {
        rss_result rr = rss_child(dir, wt, threads[best_t], &w);
        if (!rr.ok) {
            printf("peak RSS: the --rss-only child failed\n");
            return 1;
        }
        const double budget = (double)(rr.weight_bytes + rr.kv_bytes);
        const double hwm = rr.hwm1 * 1024.0;
        printf("\nPeak RSS, fresh process (--rss-only), 1 session, n_ctx %d filled, %d thread%s:\n",
               rr.n_ctx, threads[best_t], threads[best_t] > 1 ? "s" : "");
        printf("  after tg_model_load     VmHWM %7.1f MB  VmRSS %7.1f MB\n", KB_MB(rr.hwm_loaded),
               KB_MB(rr.rss_loaded));
        printf(
            "  after prompt + decode   VmHWM %7.1f MB  (RssAnon %.1f MB + RssFile %.1f MB now)\n",
            hwm / 1e6, KB_MB(rr.anon1), KB_MB(rr.file1));
        printf("  with a 2nd session      VmHWM %7.1f MB  (VmRSS %.1f -> %.1f MB: +%.1f MB per "
               "extra session)\n",
               KB_MB(rr.hwm2), KB_MB(rr.rss1), KB_MB(rr.rss2), KB_MB(rr.rss2 - rr.rss1));
        printf(
            "  weights %.1f MB + KV %.1f MB (in use at n_ctx %d, tg_session_get_info) = %.1f MB\n",
            rr.weight_bytes / 1e6, rr.kv_bytes / 1e6, rr.n_ctx, budget / 1e6);
        printf("GOAL peak RSS <= 1.15 x (weights + KV): %.1f MB = %.3f x -> %s\n", hwm / 1e6,
               hwm / budget, hwm <= 1.15 * budget ? "PASS" : "FAIL");
    }
    free(w.prompt_ids);
    return 0;
}
