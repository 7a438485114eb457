/* bench_chain.c — chain time per token at GPT-2's vocabulary (50,257), next to the fp32 decode
 * step of the GPT-2 124M bench model, in one run. Not a test.
 *
 * usage: bench_chain [MODEL_DIR] [--steps N] [--reps R]
 * Logits: "peaked" = a Zipf-like distribution (logit = -1.2 ln(rank) + noise, ranks shuffled),
 * like a trained model's; "flat" = small noise around 0, the worst case for top_p / typical. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>
#include <time.h>

#define N_VOCAB 50257

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void make_logits(float *l, int peaked, uint64_t seed)
{
    int32_t *rank = malloc(N_VOCAB * sizeof *rank);
    for (int i = 0; i < N_VOCAB; i++)
        rank[i] = i;
    for (int i = N_VOCAB - 1; i > 0; i--) { /* shuffle */
        int j = (int)(tg_rng_uniform(seed, 1, 0, (uint64_t)i) * (i + 1));
        int32_t t = rank[i];
        rank[i] = rank[j];
        rank[j] = t;
    }
    for (int i = 0; i < N_VOCAB; i++) {
        double noise = tg_rng_uniform(seed, 2, 0, (uint64_t)i) - 0.5;
        l[i] = peaked ? (float)(-1.2 * log(rank[i] + 1.0) + 0.3 * noise) : (float)(0.2 * noise);
    }
    free(rank);
}

/* Median per-token time (µs) of sample + accept over `steps` steps, `reps` repetitions. */
static double time_chain(const char *spec, const float *logits, int steps, int reps)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = N_VOCAB;
    o.seed = 1;
    tg_chain *c;
    if (tg_chain_parse(&c, spec, &o) != TG_OK) {
        fprintf(stderr, "bench_chain: %s\n", tg_error_last());
        exit(1);
    }
    int32_t prompt[128];
    for (int i = 0; i < 128; i++)
        prompt[i] = (int32_t)(tg_rng_uniform(9, 0, 0, (uint64_t)i) * N_VOCAB);
    double *per = malloc((size_t)reps * sizeof *per);
    for (int r = 0; r < reps; r++) {
        tg_chain_set_prompt(c, prompt, 128);
        double t0 = now();
        for (int s = 0; s < steps; s++) {
            int32_t tok;
            if (tg_chain_sample(&tok, NULL, c, logits) != TG_OK ||
                tg_chain_accept(c, tok) != TG_OK) {
                fprintf(stderr, "bench_chain: %s\n", tg_error_last());
                exit(1);
            }
        }
        per[r] = (now() - t0) / steps * 1e6;
    }
    double m = median(per, reps);
    free(per);
    tg_chain_free(c);
    return m;
}

/* Median fp32 decode step (µs) at 1 thread, position ~128..160. */
static double time_decode(const char *dir, int reps)
{
    tg_model *m;
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = TG_WEIGHTS_F32;
    if (tg_model_load(&m, dir, &mo) != TG_OK) {
        fprintf(stderr, "bench_chain: %s (decode step not measured)\n", tg_error_last());
        return -1;
    }
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = 256;
    so.n_threads = 1;
    tg_session *s;
    tg_session_create(&s, m, &so);
    double *per = malloc((size_t)reps * sizeof *per);
    for (int r = 0; r < reps; r++) {
        tg_session_seq_clear(s, 0);
        tg_batch_row rows[128];
        for (int i = 0; i < 128; i++)
            rows[i] = (tg_batch_row){i * 37 % 50257, i, 0, i == 127};
        tg_session_decode(s, rows, 128);
        double t0 = now();
        for (int i = 0; i < 32; i++) {
            tg_batch_row one = {i, 128 + i, 0, 1};
            tg_session_decode(s, &one, 1);
        }
        per[r] = (now() - t0) / 32 * 1e6;
    }
    double med = median(per, reps);
    free(per);
    tg_session_free(s);
    tg_model_free(m);
    return med;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int steps = 200, reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else
            model = argv[i];
    }
    if (tg_plugin_scan() != TG_OK)
        fprintf(stderr, "bench_chain: warning: %s\n", tg_error_last());
    static const char *const specs[][2] = {
        {"default (penalties, top_k, top_p, temperature, dist)",
         "repetition_penalty(penalty=1.1, last_n=64) frequency_penalty(penalty=0.1) "
         "presence_penalty(penalty=0.1) top_k(k=40) top_p(p=0.9) temperature(t=0.8) dist"},
        {"10 stages",
         "logit_bias(bias=\"50256:-2\") repetition_penalty(penalty=1.1, last_n=64) "
         "frequency_penalty(penalty=0.1) presence_penalty(penalty=0.1) no_repeat_ngram(n=3) "
         "min_p(p=0.01) top_k(k=100) top_p(p=0.95) temperature(t=0.8) dist"},
        {"greedy only", "greedy"},
        {"top_p(0.9) + dist alone", "top_p(p=0.9) dist"},
    };
    float *peaked = malloc(N_VOCAB * sizeof *peaked), *flat = malloc(N_VOCAB * sizeof *flat);
    make_logits(peaked, 1, 5);
    make_logits(flat, 0, 6);
    double decode = model ? time_decode(model, reps) : -1;
    printf("chain time per token at n_vocab %d (median of %d reps x %d steps, 1 thread)\n", N_VOCAB,
           reps, steps);
    if (decode > 0)
        printf("fp32 decode step, GPT-2 124M bench model, 1 thread: %.0f us\n", decode);
    printf("%-55s %12s %12s %10s\n", "chain", "peaked (us)", "flat (us)", "% of step");
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        double p = time_chain(specs[i][1], peaked, steps, reps);
        double f = time_chain(specs[i][1], flat, steps / 4 > 0 ? steps / 4 : 1, reps);
        if (decode > 0)
            printf("%-55s %12.1f %12.1f %9.2f%%\n", specs[i][0], p, f, 100.0 * p / decode);
        else
            printf("%-55s %12.1f %12.1f %10s\n", specs[i][0], p, f, "-");
    }
    free(peaked);
    free(flat);
    return 0;
}
