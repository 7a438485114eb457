/* bench_tokenizer — encode throughput of libtextgen's tokenizer, one thread.
 *
 *   bench_tokenizer TOKENIZER_PATH TEXT_FILE [RUNS]
 *
 * Encodes the whole file RUNS times (default 7) after one warm-up run and prints one line:
 *   libtextgen <file> bytes=<n> tokens=<n> median_s=<s> mb_per_s=<MB/s> runs=<r>
 * (MB = 10^6 bytes). Not a test: run by bench/tokenizer/run.sh. */
#include <textgen/tokenizer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
    for (int r = -1; r < runs; r++) {
        int32_t *ids = NULL;
        double t = now();
        if (tg_tokenizer_encode(&ids, &n, tok, text, (size_t)size, 0) != TG_OK) {
            fprintf(stderr, "%s\n", tg_error_last());
            return 1;
        }
        t = now() - t;
        if (r >= 0)
            times[r] = t;
        tg_free(ids);
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    double med = times[runs / 2];
    const char *name = strrchr(argv[2], '/');
    printf("libtextgen %s bytes=%ld tokens=%zu median_s=%.4f mb_per_s=%.2f runs=%d load_s=%.3f\n",
           name ? name + 1 : argv[2], size, n, med, (double)size / med / 1e6, runs, load_s);
    free(times);
    free(text);
    tg_tokenizer_free(tok);
    return 0;
}
