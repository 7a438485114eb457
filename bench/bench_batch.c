/* bench_batch.c — batched decode throughput (issue 12, goal 6): aggregate tokens/s of B
 * sequences decoded together in one session (one row per sequence per tg_session_decode: the
 * weights are read once per step for all rows) against one sequence alone. Not a test.
 *
 * Usage: bench_batch MODEL_DIR [--weights f32|bf16|int8] [--threads N] [--seqs B] [--reps N]
 *                              [--prompt N] [--gen N]
 *
 * Every repetition runs both in one session of B sequences: the prompt once into sequence 0,
 * copied to the others (tg_session_seq_copy), then --gen steps of sequence 0 alone, then --gen
 * steps of all B sequences (greedy, argmax included), alternating which comes first. Prints
 * medians [min - max] and the paired ratio aggregate(B) / single. */
#include <textgen/textgen.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPS 64
#define MAX_SEQS 64

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

static void stats(const double *v, int n, double *med, double *lo, double *hi)
{
    double s[MAX_REPS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    *med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    *lo = s[0];
    *hi = s[n - 1];
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_batch: %s: %s\n", what, tg_error_last());
    return 1;
}

/* `gen` greedy steps of sequences 0..nseq-1, each from its length; returns tokens/s or < 0. */
static double steps(tg_session *s, int nseq, int gen, int32_t V, int32_t *tok)
{
    tg_batch_row rows[MAX_SEQS];
    int32_t pos0[MAX_SEQS];
    for (int q = 0; q < nseq; q++)
        if (tg_session_seq_length(&pos0[q], s, q) != TG_OK)
            return -1;
    const double t0 = now();
    for (int i = 0; i < gen; i++) {
        for (int q = 0; q < nseq; q++)
            rows[q] = (tg_batch_row){tok[q], pos0[q] + i, q, 1};
        if (tg_session_decode(s, rows, (size_t)nseq) != TG_OK)
            return -1;
        for (int q = 0; q < nseq; q++) {
            const float *lg;
            if (tg_session_logits(&lg, s, (size_t)q) != TG_OK)
                return -1;
            tok[q] = argmax(lg, V);
        }
    }
    return (double)nseq * gen / (now() - t0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s MODEL_DIR [--weights f32|bf16|int8] [--threads N] [--seqs B] "
                "[--reps N] [--prompt N] [--gen N]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1], *wname = "f32";
    int threads = 0, seqs = 8, reps = 5, prompt = 64, gen = 32;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--weights") == 0)
            wname = v;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--seqs") == 0)
            seqs = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            reps = atoi(v);
        else if (strcmp(a, "--prompt") == 0)
            prompt = atoi(v);
        else if (strcmp(a, "--gen") == 0)
            gen = atoi(v);
        else {
            fprintf(stderr, "bench_batch: unknown option %s\n", a);
            return 2;
        }
    }
    if (seqs < 1 || seqs > MAX_SEQS || reps < 1 || reps > MAX_REPS || prompt < 1 || gen < 1) {
        fprintf(stderr, "bench_batch: --seqs 1..%d, --reps 1..%d, --prompt and --gen >= 1\n",
                MAX_SEQS, MAX_REPS);
        return 2;
    }
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = strcmp(wname, "bf16") == 0   ? TG_WEIGHTS_BF16
                     : strcmp(wname, "int8") == 0 ? TG_WEIGHTS_INT8
                                                  : TG_WEIGHTS_F32;
    tg_model *m;
    if (tg_model_load(&m, dir, &mo) != TG_OK)
        return die("loading the model");
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, m);
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_seq = (uint32_t)seqs;
    so.n_ctx = (uint32_t)(prompt + 2 * gen + 1);
    so.n_threads = threads;
    tg_session *s;
    if (tg_session_create(&s, m, &so) != TG_OK)
        return die("creating the session");
    tg_session_info si = TG_SESSION_INFO_INIT;
    tg_session_get_info(&si, s);
    int32_t *ids = malloc((size_t)prompt * sizeof *ids);
    tg_batch_row *rows = malloc((size_t)prompt * sizeof *rows);
    uint32_t x = 12345;
    for (int i = 0; i < prompt; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (int32_t)((x >> 8) % (uint32_t)info.n_vocab);
        rows[i] = (tg_batch_row){ids[i], i, 0, i == prompt - 1};
    }
    double single[MAX_REPS], batch[MAX_REPS], ratio[MAX_REPS];
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (plans, first touch of the cache) */
        for (int q = 0; q < seqs; q++)
            tg_session_seq_clear(s, q);
        if (tg_session_decode(s, rows, (size_t)prompt) != TG_OK)
            return die("prefill");
        const float *lg;
        tg_session_logits(&lg, s, (size_t)prompt - 1);
        int32_t first = argmax(lg, info.n_vocab), tok[MAX_SEQS];
        for (int q = 1; q < seqs; q++)
            if (tg_session_seq_copy(s, q, 0) != TG_OK)
                return die("copying the prompt");
        double one = 0, all = 0;
        for (int order = 0; order < 2; order++) {
            const int do_batch = (order == 0) == (r % 2 != 0);
            for (int q = 0; q < seqs; q++)
                tok[q] = first;
            if (do_batch)
                all = steps(s, seqs, gen, info.n_vocab, tok);
            else
                one = steps(s, 1, gen, info.n_vocab, tok);
            if (one < 0 || all < 0)
                return die("decoding");
        }
        if (r >= 0) {
            single[r] = one;
            batch[r] = all;
            ratio[r] = all / one;
        }
    }
    double a, alo, ahi, b, blo, bhi, c, clo, chi;
    stats(single, reps, &a, &alo, &ahi);
    stats(batch, reps, &b, &blo, &bhi);
    stats(ratio, reps, &c, &clo, &chi);
    printf("bench_batch %s: %s weights, %d threads, prompt %d, %d steps, %d repetitions\n", dir,
           wname, si.n_threads, prompt, gen, reps);
    printf("1 sequence             %8.2f tok/s [%.2f - %.2f]\n", a, alo, ahi);
    printf("%2d sequences aggregate %8.2f tok/s [%.2f - %.2f]\n", seqs, b, blo, bhi);
    printf("aggregate / single, paired per repetition: x%.2f [%.2f - %.2f]  (goal >= 5 at 8)\n", c,
           clo, chi);
    free(ids);
    free(rows);
    tg_session_free(s);
    tg_model_free(m);
    return 0;
}
