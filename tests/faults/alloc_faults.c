/* Fault injection, SQLite's way: fail the Nth checked allocation of the library (lib/core/alloc.h),
 * for every N along a scenario of loads and generations, one child process per N. Each child must
 * end with every call either succeeding or returning TG_ENOMEM with an "out of memory" message,
 * never crashing; under ASan, LeakSanitizer checks at the child's exit that the failure path
 * freed everything. The walk ends at the first N the scenario never reaches.
 *
 * usage: alloc_faults SCENARIO [FIRST_N [STEP]]   scenarios: char_beam, llama_sample, tokenizer
 * (STEP > 1 samples every STEP-th N, for a quick look by hand; the test suite walks every N).
 *
 * alloc_faults address_space: no injection, real exhaustion. With the address space limited to
 * what the process holds plus 256 MiB, a session of 4096 sequences and 65536-row batches on the
 * bundled model ($TG_SOURCE_ROOT/models/shakespeare-char) must fail with TG_ENOMEM, at creation or
 * at its first decode, and the process must go on (it frees everything and exits 0). Skipped (77)
 * under ASan, which needs terabytes of address space for its shadow memory. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <textgen/textgen.h>
#include <unistd.h>

static int fired; /* the library logged that it failed the allocation */

static void on_log(int32_t level, const char *message, void *user_data)
{
    (void)level;
    (void)user_data;
    if (strstr(message, "fault injection: checked allocation"))
        fired = 1;
}

/* A failed call must be the injected fault, reported as such. */
#define CALL(expr)                                                                                 \
    do {                                                                                           \
        tg_status st_ = (expr);                                                                    \
        if (st_ != TG_OK) {                                                                        \
            if (st_ == TG_ENOMEM && fired && strstr(tg_error_last(), "out of memory") &&           \
                tg_error_last_status() == TG_ENOMEM)                                               \
                goto out;                                                                          \
            fprintf(stderr, "%s: %s returned %s with '%s' (fault %s)\n", scenario, #expr,          \
                    tg_status_str(st_), tg_error_last(), fired ? "fired" : "not reached");         \
            bad = 1;                                                                               \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static char *data_path(const char *rel)
{
    const char *root = getenv("TG_TEST_DATA");
    return g_build_filename(root ? root : "tests/data", rel, NULL);
}

static int check_result(const char *scenario, const tg_result *r, size_t n_seqs)
{
    size_t n;
    if (tg_result_n_sequences(r) != n_seqs || !tg_result_tokens(r, &n) || n == 0) {
        fprintf(stderr, "%s: a successful generation returned %zu sequences, %zu tokens\n",
                scenario, tg_result_n_sequences(r), n);
        return 1;
    }
    return 0;
}

/* char_tiny: load, a sampled generation through most processors with a stop string and a
 * trace, a chain saved and restored, a beam search returning two sequences. */
static int run_char_beam(void)
{
    const char *scenario = "char_beam";
    int bad = 0;
    tg_model *m = NULL;
    tg_result *r = NULL, *rb = NULL;
    tg_chain *c = NULL, *c2 = NULL;
    void *snap = NULL;
    size_t snap_len = 0;
    char *dir = data_path("models/char_tiny");
    CALL(tg_model_load(&m, dir, NULL));

    tg_generate_options o;
    CALL(tg_generate_options_init(&o, sizeof o));
    o.samplers = "repetition_penalty(penalty=1.3) no_repeat_ngram(n=3) top_k(k=20) top_p(p=0.95) "
                 "min_p(p=0.01) temperature(t=0.9) dist";
    o.seed = 7;
    o.max_new_tokens = 6;
    o.flags = TG_GEN_IGNORE_EOS;
    const char *stops[] = {"zzz"};
    o.stop_strings = stops;
    o.n_stop_strings = 1;
    o.trace_steps = 2;
    CALL(tg_generate(&r, m, "ROMEO: to be", &o));
    if ((bad = check_result(scenario, r, 1)))
        goto out;

    tg_chain_options co;
    CALL(tg_chain_options_init(&co, sizeof co));
    co.n_vocab = 96;
    co.seed = 3;
    CALL(tg_chain_parse(&c, "repetition_penalty(penalty=1.2) mirostat_v2(tau=5)", &co));
    CALL(tg_chain_save(&snap, &snap_len, c));
    CALL(tg_chain_parse(&c2, "repetition_penalty(penalty=1.2) mirostat_v2(tau=5)", &co));
    CALL(tg_chain_restore(c2, snap, snap_len));

    tg_generate_options b;
    CALL(tg_generate_options_init(&b, sizeof b));
    b.num_beams = 3;
    b.num_return_sequences = 2;
    b.max_new_tokens = 4;
    b.flags = TG_GEN_IGNORE_EOS;
    CALL(tg_generate(&rb, m, "JULIET:", &b));
    bad = check_result(scenario, rb, 2);
out:
    free(snap);
    tg_chain_free(c2);
    tg_chain_free(c);
    tg_result_free(rb);
    tg_result_free(r);
    tg_model_free(m);
    g_free(dir);
    return bad;
}

/* A Llama model (GQA, RoPE with Llama 3's scaling, the paged KV cache): a sampled continuation. */
static int run_llama_sample(void)
{
    const char *scenario = "llama_sample";
    int bad = 0;
    tg_model *m = NULL;
    tg_result *r = NULL;
    char *dir = data_path("models/llama_gqa2_llama3");
    CALL(tg_model_load(&m, dir, NULL));
    tg_generate_options o;
    CALL(tg_generate_options_init(&o, sizeof o));
    o.samplers = "frequency_penalty(penalty=0.5) presence_penalty(penalty=0.5) top_k(k=40) "
                 "temperature(t=0.7) dist";
    o.seed = 11;
    o.max_new_tokens = 3;
    o.flags = TG_GEN_IGNORE_EOS;
    CALL(tg_generate(&r, m, "ROMEO: what light", &o));
    bad = check_result(scenario, r, 1);
out:
    tg_result_free(r);
    tg_model_free(m);
    g_free(dir);
    return bad;
}

/* GPT-2's BPE files: load, encode, decode. */
static int run_tokenizer(void)
{
    const char *scenario = "tokenizer";
    int bad = 0;
    tg_tokenizer *t = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    char *vocab = data_path("tokenizer/gpt2/vocab.json");
    char *merges = data_path("tokenizer/gpt2/merges.txt");
    CALL(tg_tokenizer_load_vocab_merges(&t, vocab, merges, NULL));
    size_t n = 0, len = 0;
    CALL(tg_tokenizer_encode(&ids, &n, t, "Hello, world! Ça va? 😀 <|endoftext|>", TG_NUL_TERMINATED,
                             TG_ENCODE_ALLOW_SPECIAL));
    CALL(tg_tokenizer_decode(&text, &len, t, ids, n, 0));
out:
    tg_free(text);
    tg_free(ids);
    tg_tokenizer_free(t);
    g_free(vocab);
    g_free(merges);
    return bad;
}

#if defined(__SANITIZE_ADDRESS__)
#define TG_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_UNDER_ASAN 1
#endif
#endif

#ifndef TG_UNDER_ASAN
static unsigned long long vm_size_bytes(void)
{
    unsigned long long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}
#endif

static int run_address_space(void)
{
#ifdef TG_UNDER_ASAN
    printf("address_space: skipped under AddressSanitizer\n");
    return 77;
#else
    const char *scenario = "address_space";
    int bad = 0;
    tg_model *m = NULL;
    tg_session *s = NULL;
    tg_batch_row *rows = NULL;
    fired = 1; /* an ENOMEM is what this scenario expects; CALL accepts it */
    const char *root = getenv("TG_SOURCE_ROOT");
    char *dir = g_build_filename(root ? root : ".", "models", "shakespeare-char", NULL);
    CALL(tg_model_load(&m, dir, NULL));
    unsigned long long vm = vm_size_bytes();
    if (vm == 0) {
        fprintf(stderr, "address_space: cannot read VmSize from /proc/self/status\n");
        bad = 1;
        goto out;
    }
    struct rlimit lim = {vm + (256ull << 20), vm + (256ull << 20)};
    if (setrlimit(RLIMIT_AS, &lim) != 0) {
        perror("setrlimit");
        bad = 1;
        goto out;
    }
    tg_session_options so;
    CALL(tg_session_options_init(&so, sizeof so));
    so.n_seq = 4096;
    so.n_batch = 65536;
    so.n_threads = 1;
    tg_status st = tg_session_create(&s, m, &so);
    if (st == TG_OK) {
        rows = calloc(so.n_batch, sizeof *rows);
        for (uint32_t i = 0; rows && i < so.n_batch; i++)
            rows[i] = (tg_batch_row){1, (int32_t)(i / so.n_seq), (int32_t)(i % so.n_seq), 0};
        st = rows ? tg_session_decode(s, rows, so.n_batch) : TG_ENOMEM;
    }
    if (st != TG_ENOMEM || !strstr(tg_error_last(), "out of memory")) {
        fprintf(stderr, "address_space: expected TG_ENOMEM, got %s with '%s'\n", tg_status_str(st),
                tg_error_last());
        bad = 1;
    } else
        printf("address_space: %s\n", tg_error_last());
out:
    free(rows);
    tg_session_free(s);
    tg_model_free(m);
    g_free(dir);
    return bad;
#endif
}

static int run(const char *scenario)
{
    tg_log_set(on_log, TG_LOG_DEBUG, NULL);
    int bad;
    if (!strcmp(scenario, "char_beam"))
        bad = run_char_beam();
    else if (!strcmp(scenario, "llama_sample"))
        bad = run_llama_sample();
    else if (!strcmp(scenario, "tokenizer"))
        bad = run_tokenizer();
    else {
        fprintf(stderr, "unknown scenario '%s'\n", scenario);
        return 2;
    }
    tg_log_set(NULL, 0, NULL);
    if (bad)
        return 1;
    return fired ? 10 : 0; /* 0: the scenario never reached the Nth allocation */
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "address_space"))
        return run_address_space();
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: alloc_faults SCENARIO [FIRST_N [STEP]]\n");
        return 2;
    }
    unsigned long first = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    unsigned long step = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
    if (first < 1 || step < 1) {
        fprintf(stderr, "FIRST_N and STEP are numbers >= 1\n");
        return 2;
    }
    unsigned long n_fired = 0, n_failed = 0;
    for (unsigned long nth = first;; nth += step) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            char v[32];
            snprintf(v, sizeof v, "%lu", nth);
            setenv("TEXTGEN_FAULT_ALLOC_NTH", v, 1);
            exit(run(argv[1])); /* exit, not _exit: LeakSanitizer checks at exit */
        }
        int ws;
        if (waitpid(pid, &ws, 0) < 0) {
            perror("waitpid");
            return 2;
        }
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
            printf("%s: every checked allocation up to %lu failed in turn (%lu reached): %lu "
                   "failure paths wrong\n",
                   argv[1], nth - 1, n_fired, n_failed);
            break;
        }
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 10) {
            n_fired++;
            continue;
        }
        n_failed++;
        if (WIFSIGNALED(ws))
            fprintf(stderr, "%s: allocation %lu failing: killed by signal %d\n", argv[1], nth,
                    WTERMSIG(ws));
        else
            fprintf(stderr, "%s: allocation %lu failing: exit %d%s\n", argv[1], nth,
                    WEXITSTATUS(ws), WEXITSTATUS(ws) == 23 ? " (LeakSanitizer: a leak)" : "");
        if (n_failed >= 20) {
            fprintf(stderr, "%s: stopping after 20 wrong failure paths\n", argv[1]);
            break;
        }
    }
    if (n_fired == 0) {
        fprintf(stderr, "%s: the fault was never reached: is fault injection working?\n", argv[1]);
        return 1;
    }
    return n_failed ? 1 : 0;
}
