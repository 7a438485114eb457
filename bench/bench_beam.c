/* bench/bench_beam.c — what beam search costs against greedy decoding, through the public
 * generation API (tg_generator), on one model folder (bench/run_beam.sh: the random GPT-2 124M
 * bench model with GPT-2's tokenizer).
 *
 *   - per-step time: the median time of one tg_generator_next() call (greedy: sample, accept,
 *     decode one row; beams: expand every beam, rank, reorder the session's sequences, decode the
 *     B live beams as one batch) over the `gen` steps after a `prompt`-token prompt, for greedy
 *     and for B beams in the same repetition (alternating which goes first), at each thread
 *     count; the paired ratio is beams / greedy per repetition, then the median;
 *   - KV memory: in a fresh child process per run (`--kv-only`), how much VmRSS grows from the
 *     prompt's prefill to the end of the search (peak), against the positions a KV cache must
 *     hold: prompt + new for greedy, and the goal of issue 9 for B beams, prompt + B x new (the
 *     prompt stored once). The growth also holds the search's own buffers (a few MB).
 *
 * Every run ignores end ids (TG_GEN_IGNORE_EOS) so each makes exactly `gen` steps. Not a test.
 *
 * usage: bench_beam MODEL_DIR --text FILE [--prompt N] [--gen N] [--beams B] [--reps N]
 *                   [--threads A,B]
 *        bench_beam MODEL_DIR --text FILE --kv-only --beams B --threads N [--prompt N] [--gen N]
 */
#include <textgen/textgen.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 4

typedef struct config {
    const char *dir, *text_file;
    int prompt, gen, beams, reps, kv_only;
    int threads[MAX_THREADS], n_threads;
} config;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
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

/* A prompt of exactly `n` tokens: the start of the text file, cut at n tokens, decoded, and
 * checked to encode back to n tokens. */
static char *make_prompt(const tg_model *m, const char *path, int n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_beam: cannot open '%s'\n", path);
        return NULL;
    }
    static char buf[1 << 16]; /* the start of the text is plenty */
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const tg_tokenizer *tok = tg_model_tokenizer(m);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (tg_tokenizer_encode(&ids, &n_ids, tok, buf, len, 0) != TG_OK || n_ids < (size_t)n) {
        fprintf(stderr, "bench_beam: '%s' does not hold %d tokens: %s\n", path, n, tg_error_last());
        tg_free(ids);
        return NULL;
    }
    char *text = NULL;
    for (size_t k = (size_t)n; k > (size_t)n - 8 && !text; k--) {
        char *t;
        int32_t *again = NULL;
        size_t n_again = 0;
        if (tg_tokenizer_decode(&t, NULL, tok, ids, k, 0) != TG_OK)
            break;
        if (tg_tokenizer_encode(&again, &n_again, tok, t, TG_NUL_TERMINATED, 0) == TG_OK &&
            n_again == (size_t)n)
            text = t;
        else
            tg_free(t);
        tg_free(again);
    }
    tg_free(ids);
    if (!text)
        fprintf(stderr, "bench_beam: no prefix of '%s' encodes to exactly %d tokens\n", path, n);
    return text;
}

typedef struct run_stats {
    double prefill_s, step_median_s, step_mean_s;
    int steps;
} run_stats;

/* One generation; per-step times of tg_generator_next(). kv_kb (may be NULL): VmRSS growth from
 * after the prefill to the peak. */
static int run_once(run_stats *out, const tg_model *m, const char *prompt, const config *c,
                    int beams, int threads, long *kv_kb)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_new_tokens = c->gen;
    o.flags = TG_GEN_IGNORE_EOS;
    o.n_threads = threads;
    o.num_beams = beams;
    tg_generator *g;
    double t0 = now_s();
    long rss0 = status_kb("VmRSS");
    if (tg_generator_create(&g, m, prompt, &o) != TG_OK) {
        fprintf(stderr, "bench_beam: %s\n", tg_error_last());
        return 1;
    }
    out->prefill_s = now_s() - t0;
    long rss_prefilled = status_kb("VmRSS");
    double *step = malloc((size_t)c->gen * sizeof *step);
    int n = 0, stop = 0;
    while (!stop && n < c->gen) {
        int32_t tok;
        const char *text;
        size_t len;
        double t1 = now_s();
        if (tg_generator_next(&tok, &text, &len, &stop, g) != TG_OK) {
            fprintf(stderr, "bench_beam: %s\n", tg_error_last());
            tg_generator_free(g);
            free(step);
            return 1;
        }
        step[n++] = now_s() - t1;
    }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += step[i];
    out->steps = n;
    out->step_mean_s = n ? sum / n : 0;
    out->step_median_s = n ? median(step, n) : 0;
    if (kv_kb)
        kv_kb[0] = status_kb("VmHWM") - rss_prefilled, kv_kb[1] = rss_prefilled - rss0;
    free(step);
    tg_generator_free(g);
    return 0;
}

static tg_model *load(const char *dir)
{
    tg_model *m;
    if (tg_model_load(&m, dir, NULL) != TG_OK) {
        fprintf(stderr, "bench_beam: %s\n", tg_error_last());
        return NULL;
    }
    if (!tg_model_tokenizer(m)) {
        fprintf(stderr,
                "bench_beam: '%s' has no tokenizer: copy tests/data/tokenizer/gpt2/tokenizer.json "
                "into it (bench/run_beam.sh does)\n",
                dir);
        tg_model_free(m);
        return NULL;
    }
    return m;
}

/* --kv-only: the child. One line: "KV growth_kb=... prefill_kb=... steps=...". */
static int kv_only(const config *c)
{
    tg_model *m = load(c->dir);
    char *prompt = m ? make_prompt(m, c->text_file, c->prompt) : NULL;
    if (!prompt)
        return 1;
    run_stats st;
    long kv[2];
    int rc = run_once(&st, m, prompt, c, c->beams, c->threads[0], kv);
    if (rc == 0)
        printf("KV growth_kb=%ld prefill_kb=%ld steps=%d\n", kv[0], kv[1], st.steps);
    tg_free(prompt);
    tg_model_free(m);
    return rc;
}

static int kv_child(long *growth_kb, long *prefill_kb, const config *c, int beams)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char b[16], p[16], g[16], t[16];
        snprintf(b, sizeof b, "%d", beams);
        snprintf(p, sizeof p, "%d", c->prompt);
        snprintf(g, sizeof g, "%d", c->gen);
        snprintf(t, sizeof t, "%d", c->threads[0]);
        char *args[] = {"bench_beam",
                        (char *)c->dir,
                        "--text",
                        (char *)c->text_file,
                        "--kv-only",
                        "--beams",
                        b,
                        "--prompt",
                        p,
                        "--gen",
                        g,
                        "--threads",
                        t,
                        NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    char buf[256] = {0};
    ssize_t n = read(fd[0], buf, sizeof buf - 1);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int steps = 0;
    if (n <= 0 ||
        sscanf(buf, "KV growth_kb=%ld prefill_kb=%ld steps=%d", growth_kb, prefill_kb, &steps) != 3)
        return 1;
    return 0;
}

static int parse_args(config *c, int argc, char **argv)
{
    *c = (config){
        .prompt = 512, .gen = 128, .beams = 4, .reps = 5, .threads = {1, 2}, .n_threads = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--kv-only") == 0) {
            c->kv_only = 1;
        } else if (strcmp(a, "--threads") == 0 && v) {
            c->n_threads = 0;
            for (char *s = argv[++i]; *s && c->n_threads < MAX_THREADS;) {
                c->threads[c->n_threads++] = (int)strtol(s, &s, 10);
                s += *s == ',';
            }
        } else if (a[0] == '-' && a[1] == '-' && v) {
            int *dst = strcmp(a, "--prompt") == 0  ? &c->prompt
                       : strcmp(a, "--gen") == 0   ? &c->gen
                       : strcmp(a, "--beams") == 0 ? &c->beams
                       : strcmp(a, "--reps") == 0  ? &c->reps
                                                   : NULL;
            if (strcmp(a, "--text") == 0)
                c->text_file = argv[++i];
            else if (dst)
                *dst = atoi(argv[++i]);
            else
                return fprintf(stderr, "bench_beam: unknown option %s\n", a), 1;
        } else if (!c->dir) {
            c->dir = a;
        } else {
            return fprintf(stderr, "bench_beam: unexpected argument %s\n", a), 1;
        }
    }
    if (!c->dir || !c->text_file || c->prompt < 1 || c->gen < 1 ||
        c->beams < (c->kv_only ? 1 : 2) || c->reps < 1 || c->n_threads < 1) {
        fprintf(stderr, "usage: bench_beam MODEL_DIR --text FILE [--prompt N] [--gen N] [--beams "
                        "B>1] [--reps N] [--threads A,B]\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    config c;
    if (parse_args(&c, argc, argv) != 0)
        return 2;
    if (c.kv_only)
        return kv_only(&c);
    tg_model *m = load(c.dir);
    char *prompt = m ? make_prompt(m, c.text_file, c.prompt) : NULL;
    if (!prompt)
        return 1;
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, m);
    printf("beam search vs greedy: %s, %.1f M parameters, prompt %d + %d new tokens, %d beams, "
           "%d repetitions\n",
           tg_model_path(m), (double)info.n_params / 1e6, c.prompt, c.gen, c.beams, c.reps);
    /* warm-up: oneDNN primitives, pages of the weights */
    run_stats st;
    config warm = c;
    warm.gen = 4;
    if (run_once(&st, m, prompt, &warm, 1, c.threads[0], NULL) ||
        run_once(&st, m, prompt, &warm, c.beams, c.threads[0], NULL))
        return 1;
    printf("\nper-step time (median of the per-run medians over the %d steps) [min - max]\n",
           c.gen);
    printf("  threads  greedy ms/step              %d beams ms/step             paired ratio "
           "(goal <= 1.3)\n",
           c.beams);
    for (int t = 0; t < c.n_threads; t++) {
        double *gs = calloc((size_t)c.reps, sizeof *gs), *bs = calloc((size_t)c.reps, sizeof *bs),
               *ratio = calloc((size_t)c.reps, sizeof *ratio);
        for (int r = 0; r < c.reps; r++) {
            run_stats a, b;
            int beams_first = r % 2;
            if ((beams_first && run_once(&b, m, prompt, &c, c.beams, c.threads[t], NULL)) ||
                run_once(&a, m, prompt, &c, 1, c.threads[t], NULL) ||
                (!beams_first && run_once(&b, m, prompt, &c, c.beams, c.threads[t], NULL)))
                return 1;
            gs[r] = a.step_median_s * 1e3;
            bs[r] = b.step_median_s * 1e3;
            ratio[r] = bs[r] / gs[r];
            fprintf(stderr, "  rep %d, %d threads: greedy %.2f ms/step, beams %.2f ms/step\n",
                    r + 1, c.threads[t], gs[r], bs[r]);
        }
        double gmin = gs[0], gmax = gs[0], bmin = bs[0], bmax = bs[0];
        for (int r = 1; r < c.reps; r++) {
            gmin = gs[r] < gmin ? gs[r] : gmin;
            gmax = gs[r] > gmax ? gs[r] : gmax;
            bmin = bs[r] < bmin ? bs[r] : bmin;
            bmax = bs[r] > bmax ? bs[r] : bmax;
        }
        const double rm = median(ratio, c.reps);
        printf("  %7d  %6.2f [%6.2f - %6.2f]     %6.2f [%6.2f - %6.2f]     %5.2fx %s\n",
               c.threads[t], median(gs, c.reps), gmin, gmax, median(bs, c.reps), bmin, bmax, rm,
               rm <= 1.3 ? "GOAL MET" : "GOAL MISSED");
        fflush(stdout); /* each line as soon as it is measured (the output is often piped) */
        free(gs);
        free(bs);
        free(ratio);
    }
    /* KV memory, each run in a fresh process at the first thread count */
    const double per_pos_mb = 2.0 * info.n_layer * info.n_embd * 4.0 / 1e6;
    long g_growth, g_prefill, b_growth, b_prefill;
    if (kv_child(&g_growth, &g_prefill, &c, 1) || kv_child(&b_growth, &b_prefill, &c, c.beams)) {
        fprintf(stderr, "bench_beam: the --kv-only child failed\n");
        return 1;
    }
    /* What is not KV in a run's growth (buffers, primitives) is taken from the greedy run. */
    const double g_mb = g_growth / 1024.0, b_mb = b_growth / 1024.0;
    const double other_mb = g_mb - per_pos_mb * c.gen;
    const double goal_mb = per_pos_mb * c.beams * c.gen;
    const double b_kv_mb = b_mb - other_mb;
    printf("\nKV memory: VmRSS growth of a fresh process from the end of the prefill (the prompt's "
           "KV, %.1f MB, is in the cache then) to its peak; one position is %.4f MB\n",
           per_pos_mb * c.prompt, per_pos_mb);
    printf("  greedy:   +%6.1f MB = its %d new positions (%.1f MB) + %.1f MB of other buffers\n",
           g_mb, c.gen, per_pos_mb * c.gen, other_mb);
    printf("  %d beams:  +%6.1f MB, so about %.1f MB of KV beyond the prompt; goal (prompt stored "
           "once): %d x %d new = %.1f MB -> %s\n",
           c.beams, b_mb, b_kv_mb, c.beams, c.gen, goal_mb,
           b_kv_mb <= goal_mb * 1.1 ? "GOAL MET" : "GOAL MISSED");
    printf("            (a full copy of the prompt per extra beam would add %.1f MB)\n",
           per_pos_mb * (c.beams - 1) * c.prompt);
    printf("  prefill:  +%.1f MB (greedy run), +%.1f MB (beam run)\n", g_prefill / 1024.0,
           b_prefill / 1024.0);
    tg_free(prompt);
    tg_model_free(m);
    return 0;
}
