/* bench_tokenizer — encode throughput of libtextgen's tokenizer, one thread.
 *
 *   bench_tokenizer TOKENIZER_PATH TEXT_FILE [RUNS] [LABEL]
 *
 * Encodes the whole file RUNS times (default 7) after one warm-up run and prints one line:
 *   LABEL <file> bytes=<n> tokens=<n> median_s=<s> mb_per_s=<MB/s> runs=<r> load_s=<s>
 *     cpu_mb_per_s=<MB/s>
 * (MB = 10^6 bytes; LABEL defaults to "libtextgen"). cpu_mb_per_s divides by the thread's CPU
 * time instead of the wall time: on a shared machine it varies less (waiting for the CPU is not
 * counted; sharing its caches still is). Not a test: run by bench/tokenizer/run.sh. */
#include <textgen/tokenizer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_PATH TEXT_FILE [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 7;
    if (runs < 1 || runs > 1000)
        runs = 7;
    const char *label = argc > 4 ? argv[4] : "libtextgen";
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);

    tg_tokenizer *tok = NULL;
    double t0 = now();
    if (tg_tokenizer_load(&tok, argv[1], NULL) != TG_OK) {
        fprintf(stderr, "%s\n", tg_error_last());
        return 1;
    }
    double load_s = now() - t0;

    size_t n = 0;
    double *times = malloc(sizeof(double) * (size_t)runs);
    double *cpu = malloc(sizeof(double) * (size_t)runs);
    for (int r = -1; r < runs; r++) {
        int32_t *ids = NULL;
        double t = now(), c = clock_s(CLOCK_THREAD_CPUTIME_ID);
        if (tg_tokenizer_encode(&ids, &n, tok, text, (size_t)size, 0) != TG_OK) {
            fprintf(stderr, "%s\n", tg_error_last());
            return 1;
        }
        t = now() - t;
        c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c;
        if (r >= 0) {
            times[r] = t;
            cpu[r] = c;
        }
        tg_free(ids);
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    double med = times[runs / 2], cmed = cpu[runs / 2];
    const char *name = strrchr(argv[2], '/');
    printf("%s %s bytes=%ld tokens=%zu median_s=%.4f mb_per_s=%.2f runs=%d load_s=%.3f "
           "cpu_mb_per_s=%.2f\n",
           label, name ? name + 1 : argv[2], size, n, med, (double)size / med / 1e6, runs, load_s,
           (double)size / cmed / 1e6);
    free(times);
    free(cpu);
    free(text);
    tg_tokenizer_free(tok);
    return 0;
}
