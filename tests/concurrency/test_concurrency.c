/* test_concurrency.c — what the public headers promise about threads, checked with real threads
 * (and meant to run under ThreadSanitizer too: tests/concurrency/run_tsan.sh).
 *
 *   test_concurrency SCENARIO      (one scenario per process: the registry is process-wide)
 *
 * generate   THREADS threads run tg_generate() at once on one shared model, each with its own
 *            chain spec and seed, for several rounds; every result (tokens, log-probabilities,
 *            text) equals the same generation done alone before the threads started.
 * sessions   threads create a session on the shared model (n_ctx varying), decode a prompt,
 *            compare the logits with those computed alone, free it, again and again.
 * chains     clones of one chain, one per thread, sample and accept in lock-step with the same
 *            logits; each thread's tokens equal a sequential run of its own clone's twin.
 * tokenizer  threads encode and decode with the model's shared tokenizer (and their own
 *            detokenizers) and compare with single-threaded results.
 * registry   the first plugin scan happens in the race: threads scan, look processors up,
 *            parse specs, load a test plugin by path and add directories at once; afterwards
 *            the registry is complete and consistent.
 * errors     threads provoke distinct errors at once; each thread's tg_error_last() and
 *            tg_error_last_status() always describe its own last failure.
 * loads      threads load, use and free their own copies of the bundled model at once (their
 *            panels share the arena's chunks and its huge-page worker); each copy's logits
 *            equal those of a copy loaded alone.
 *
 * Environment: TG_TEST_DATA (tests/data), TG_SOURCE_ROOT (the bundled model), TG_TEST_PLUGINS
 * (test plugins), TEXTGEN_PLUGIN_PATH.
 * THREADS is 4 (TG_CONCURRENCY_THREADS overrides). Exit 0 when every check held. */
#include <glib.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static atomic_int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            atomic_fetch_add(&failures, 1);                                                        \
        }                                                                                          \
    } while (0)

static int n_threads = 4;
static tg_model *model;
static pthread_barrier_t barrier;

static void load_model_at(const char *dir)
{
    if (tg_model_load(&model, dir, NULL) != TG_OK) {
        fprintf(stderr, "cannot load %s: %s\n", dir, tg_error_last());
        exit(2);
    }
}

static void load_model(void)
{
    const char *data = g_getenv("TG_TEST_DATA");
    char *dir = g_build_filename(data ? data : "tests/data", "models", "char_tiny", NULL);
    load_model_at(dir);
    g_free(dir);
}

/* Start `fn(i)` on n_threads threads at once (a barrier inside fn lines them up). */
static void run_threads(void *(*fn)(void *))
{
    pthread_t *t = g_new(pthread_t, (size_t)n_threads);
    pthread_barrier_init(&barrier, NULL, (unsigned)n_threads);
    for (intptr_t i = 0; i < n_threads; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    for (int i = 0; i < n_threads; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    g_free(t);
}

/* ---- generate ------------------------------------------------------------------------------ */

#define ROUNDS 3

typedef struct gen_ref {
    const char *spec;
    uint64_t seed;
    int32_t *tokens;
    float *logprobs;
    size_t n;
    char *text;
} gen_ref;

static const char *const gen_specs[] = {
    "greedy",
    "top_k(k=20) temperature(t=0.8) dist",
    "repetition_penalty(penalty=1.3) top_p(p=0.9) dist",
    "min_p(p=0.05) typical(p=0.95) dist",
    "dry(multiplier=0.8) xtc(threshold=0.1, probability=0.5) dist",
    "mirostat_v2(tau=4, eta=0.2)",
    "no_repeat_ngram(n=2) top_n_sigma(n=2) dist",
    "frequency_penalty(penalty=0.5) presence_penalty(penalty=0.3) temperature(t=1.2) dist",
};
static gen_ref *gen_refs;

static tg_status generate_once(tg_result **out, const gen_ref *r)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = r->spec;
    o.seed = r->seed;
    o.max_new_tokens = 24;
    o.n_threads = 1;
    o.flags = TG_GEN_IGNORE_EOS;
    return tg_generate(out, model, "ROMEO:\nWhat say", &o);
}

static void *generate_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&barrier);
        /* each round, each thread takes another spec: every pair of specs meets */
        const gen_ref *r = &gen_refs[(size_t)(id + round * n_threads) % (size_t)(2 * n_threads)];
        tg_result *res = NULL;
        tg_status st = generate_once(&res, r);
        CHECK(st == TG_OK, "thread %d: %s", id, tg_error_last());
        if (st != TG_OK)
            continue;
        size_t n = 0, nl = 0;
        const int32_t *tokens = tg_result_tokens(res, &n);
        const float *lp = tg_result_logprobs(res, &nl);
        CHECK(n == r->n && memcmp(tokens, r->tokens, n * sizeof *tokens) == 0,
              "thread %d, '%s' seed %llu: other tokens than alone", id, r->spec,
              (unsigned long long)r->seed);
        CHECK(nl == r->n && memcmp(lp, r->logprobs, nl * sizeof *lp) == 0,
              "thread %d, '%s': other log-probabilities than alone", id, r->spec);
        CHECK(strcmp(tg_result_text(res, NULL), r->text) == 0, "thread %d, '%s': other text", id,
              r->spec);
        tg_result_free(res);
    }
    return NULL;
}

static void scenario_generate(void)
{
    load_model();
    const size_t n_refs = (size_t)(2 * n_threads);
    gen_refs = g_new0(gen_ref, n_refs);
    for (size_t i = 0; i < n_refs; i++) { /* alone, first */
        gen_ref *r = &gen_refs[i];
        r->spec = gen_specs[i % G_N_ELEMENTS(gen_specs)];
        r->seed = 1000 + 7 * i;
        tg_result *res = NULL;
        if (generate_once(&res, r) != TG_OK) {
            fprintf(stderr, "reference run '%s': %s\n", r->spec, tg_error_last());
            exit(2);
        }
        size_t nl;
        const int32_t *t = tg_result_tokens(res, &r->n);
        r->tokens = g_memdup2(t, r->n * sizeof *t);
        r->logprobs = g_memdup2(tg_result_logprobs(res, &nl), r->n * sizeof(float));
        r->text = g_strdup(tg_result_text(res, NULL));
        CHECK(r->n == 24, "reference '%s' made %zu tokens", r->spec, r->n);
        tg_result_free(res);
    }
    run_threads(generate_thread);
    for (size_t i = 0; i < n_refs; i++) {
        g_free(gen_refs[i].tokens);
        g_free(gen_refs[i].logprobs);
        g_free(gen_refs[i].text);
    }
    g_free(gen_refs);
    tg_model_free(model);
}

/* ---- sessions ------------------------------------------------------------------------------ */

#define SESSION_ROUNDS 6
static const tg_batch_row prompt_rows[] = {
    {10, 0, 0, 0}, {20, 1, 0, 0}, {30, 2, 0, 0}, {40, 3, 0, 0}, {50, 4, 0, 1}};
static float *session_ref;
static int32_t n_vocab;

static int decode_prompt(float *out, uint32_t n_ctx)
{
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = n_ctx;
    so.n_threads = 1;
    tg_session *s = NULL;
    const float *logits = NULL;
    tg_status st = tg_session_create(&s, model, &so);
    if (st == TG_OK)
        st = tg_session_decode(s, prompt_rows, G_N_ELEMENTS(prompt_rows));
    if (st == TG_OK)
        st = tg_session_logits(&logits, s, G_N_ELEMENTS(prompt_rows) - 1);
    if (st == TG_OK)
        memcpy(out, logits, (size_t)n_vocab * sizeof *out);
    tg_session_free(s);
    return st == TG_OK;
}

static void *session_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    float *mine = g_new(float, (size_t)n_vocab);
    pthread_barrier_wait(&barrier);
    for (int round = 0; round < SESSION_ROUNDS; round++) {
        const uint32_t n_ctx = 8 + 8 * (uint32_t)((id + round) % 4);
        CHECK(decode_prompt(mine, n_ctx), "thread %d: %s", id, tg_error_last());
        CHECK(memcmp(mine, session_ref, (size_t)n_vocab * sizeof *mine) == 0,
              "thread %d round %d: logits differ from those computed alone", id, round);
    }
    g_free(mine);
    return NULL;
}

/* The prompt's logits on the loaded model computed alone (session_ref), then fn on the threads;
 * the model is freed afterwards. */
static void run_against_reference(uint32_t n_ctx, void *(*fn)(void *))
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, model);
    n_vocab = info.n_vocab;
    session_ref = g_new(float, (size_t)n_vocab);
    if (!decode_prompt(session_ref, n_ctx)) {
        fprintf(stderr, "reference decode: %s\n", tg_error_last());
        exit(2);
    }
    run_threads(fn);
    g_free(session_ref);
    tg_model_free(model);
}

static void scenario_sessions(void)
{
    load_model();
    run_against_reference(8, session_thread);
}

/* ---- loads --------------------------------------------------------------------------------- */

/* Threads load, use and free their own copies of the bundled model at once: its matrices are
 * large enough for the panel arena (lib/backend/kernels/panel_mem.c), so the copies are carved
 * out of the same chunks side by side, the pages they share are collapsed into huge pages by
 * the background worker while other copies are still packed, used or freed, and a freed copy's
 * pages are released under the others' feet. Every copy must give the logits of one loaded
 * alone. */
#define LOAD_ROUNDS 4
static char *bundled_dir;

static void *load_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    pthread_barrier_wait(&barrier);
    for (int round = 0; round < LOAD_ROUNDS; round++) {
        tg_model *m = NULL;
        tg_session *s = NULL;
        const float *logits = NULL;
        tg_session_options so = TG_SESSION_OPTIONS_INIT;
        so.n_ctx = 16;
        so.n_threads = 1;
        tg_status st = tg_model_load(&m, bundled_dir, NULL);
        if (st == TG_OK)
            st = tg_session_create(&s, m, &so);
        if (st == TG_OK)
            st = tg_session_decode(s, prompt_rows, G_N_ELEMENTS(prompt_rows));
        if (st == TG_OK)
            st = tg_session_logits(&logits, s, G_N_ELEMENTS(prompt_rows) - 1);
        CHECK(st == TG_OK, "thread %d round %d: %s", id, round, tg_error_last());
        if (st == TG_OK)
            CHECK(memcmp(logits, session_ref, (size_t)n_vocab * sizeof *logits) == 0,
                  "thread %d round %d: logits differ from those of a model loaded alone", id,
                  round);
        tg_session_free(s);
        tg_model_free(m);
    }
    return NULL;
}

static void scenario_loads(void)
{
    const char *root = g_getenv("TG_SOURCE_ROOT");
    bundled_dir = g_build_filename(root ? root : ".", "models", "shakespeare-char", NULL);
    load_model_at(bundled_dir);
    run_against_reference(16, load_thread);
    g_free(bundled_dir);
}

/* ---- chains -------------------------------------------------------------------------------- */

#define CHAIN_STEPS 40
static tg_chain **clones;
static int32_t (*chain_ref)[CHAIN_STEPS];

static float *step_logits(int step)
{
    float *l = g_new(float, (size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; i++)
        l[i] = (float)(2.5 * sin(0.31 * i + 0.9 * step) + 0.4 * cos(1.7 * i * step));
    return l;
}

static int run_chain(tg_chain *c, int32_t *tokens)
{
    for (int s = 0; s < CHAIN_STEPS; s++) {
        float *l = step_logits(s);
        float lp;
        tg_status st = tg_chain_sample(&tokens[s], &lp, c, l);
        g_free(l);
        if (st != TG_OK || tg_chain_accept(c, tokens[s]) != TG_OK)
            return 0;
    }
    return 1;
}

static void *chain_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    int32_t tokens[CHAIN_STEPS];
    pthread_barrier_wait(&barrier);
    CHECK(run_chain(clones[id], tokens), "thread %d: %s", id, tg_error_last());
    CHECK(memcmp(tokens, chain_ref[id], sizeof tokens) == 0,
          "thread %d: its clone chose other tokens than its twin did alone", id);
    return NULL;
}

static void scenario_chains(void)
{
    load_model();
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, model);
    n_vocab = info.n_vocab;
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.model = model;
    tg_chain *parent = NULL;
    if (tg_chain_parse(&parent,
                       "repetition_penalty(penalty=1.2) dry top_k(k=30) "
                       "mirostat_v2(tau=4)",
                       &o) != TG_OK) {
        fprintf(stderr, "parse: %s\n", tg_error_last());
        exit(2);
    }
    static const int32_t prompt[] = {5, 6, 7};
    tg_chain_set_prompt(parent, prompt, 3);
    clones = g_new0(tg_chain *, (size_t)n_threads);
    chain_ref = g_malloc0((size_t)n_threads * sizeof *chain_ref);
    for (int i = 0; i < n_threads; i++) {
        tg_chain *twin = NULL;
        CHECK(tg_chain_clone(&clones[i], parent) == TG_OK && tg_chain_clone(&twin, parent) == TG_OK,
              "clone: %s", tg_error_last());
        tg_chain_set_seed(clones[i], 77 + (uint64_t)i, i);
        tg_chain_set_seed(twin, 77 + (uint64_t)i, i);
        CHECK(run_chain(twin, chain_ref[i]), "twin %d: %s", i, tg_error_last());
        tg_chain_free(twin);
    }
    run_threads(chain_thread);
    for (int i = 0; i < n_threads; i++)
        tg_chain_free(clones[i]);
    g_free(clones);
    g_free(chain_ref);
    tg_chain_free(parent);
    tg_model_free(model);
}

/* ---- tokenizer ----------------------------------------------------------------------------- */

static const char *const texts[] = {
    "ROMEO:\nBut soft, what light through yonder window breaks?",
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "All:\nSpeak, speak.",
};

static void *tokenizer_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    const tg_tokenizer *tok = tg_model_tokenizer(model);
    tg_detokenizer *d = NULL;
    CHECK(tg_detokenizer_create(&d, tok, 0) == TG_OK, "%s", tg_error_last());
    pthread_barrier_wait(&barrier);
    for (int round = 0; round < 50; round++) {
        const char *text = texts[(size_t)(id + round) % G_N_ELEMENTS(texts)];
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        CHECK(tg_tokenizer_encode(&ids, &n, tok, text, TG_NUL_TERMINATED, 0) == TG_OK, "%s",
              tg_error_last());
        CHECK(tg_tokenizer_decode(&back, NULL, tok, ids, n, 0) == TG_OK, "%s", tg_error_last());
        CHECK(back && strcmp(back, text) == 0, "thread %d: decode(encode(text)) differs", id);
        GString *streamed = g_string_new(NULL);
        for (size_t i = 0; i < n; i++) {
            const char *chunk;
            size_t len;
            if (tg_detokenizer_feed(d, ids[i], &chunk, &len) == TG_OK)
                g_string_append_len(streamed, chunk, (gssize)len);
        }
        const char *chunk;
        size_t len;
        if (tg_detokenizer_flush(d, &chunk, &len) == TG_OK)
            g_string_append_len(streamed, chunk, (gssize)len);
        CHECK(strcmp(streamed->str, text) == 0, "thread %d: the stream differs", id);
        g_string_free(streamed, TRUE);
        tg_free(ids);
        tg_free(back);
    }
    tg_detokenizer_free(d);
    return NULL;
}

static void scenario_tokenizer(void)
{
    load_model();
    CHECK(tg_model_tokenizer(model) != NULL, "char_tiny has no tokenizer");
    if (tg_model_tokenizer(model))
        run_threads(tokenizer_thread);
    tg_model_free(model);
}

/* ---- registry ------------------------------------------------------------------------------ */

static char *good_plugin;

static void *registry_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    pthread_barrier_wait(&barrier);
    /* everyone races for the first scan, each through another door */
    switch (id % 4) {
    case 0:
        CHECK(tg_plugin_scan() == TG_OK, "scan: %s", tg_error_last());
        break;
    case 1: {
        tg_processor_info info = TG_PROCESSOR_INFO_INIT;
        CHECK(tg_processor_find(&info, "top_p") == TG_OK, "find: %s", tg_error_last());
        break;
    }
    case 2: {
        tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
        o.n_vocab = 50;
        tg_chain *c = NULL;
        CHECK(tg_chain_parse(&c, "top_k(k=5) temperature(t=0.7) dist", &o) == TG_OK, "parse: %s",
              tg_error_last());
        tg_chain_free(c);
        break;
    }
    case 3:
        CHECK(tg_plugin_load(good_plugin) == TG_OK, "load %s: %s", good_plugin, tg_error_last());
        break;
    }
    for (int round = 0; round < 20; round++) {
        tg_processor_info info = TG_PROCESSOR_INFO_INIT;
        const size_t n = tg_processor_count();
        CHECK(n >= 1, "no processors");
        CHECK(tg_processor_at(&info, (size_t)round % n) == TG_OK && info.vtable && info.path,
              "processor_at: %s", tg_error_last());
        CHECK(tg_processor_find(&info, "greedy") == TG_OK, "find greedy: %s", tg_error_last());
        if (round % 5 == 0)
            CHECK(tg_plugin_scan() == TG_OK, "rescan: %s", tg_error_last());
        if (round % 7 == 0)
            CHECK(tg_plugin_load(good_plugin) == TG_OK, "reload: %s", tg_error_last());
    }
    return NULL;
}

static void scenario_registry(void)
{
    const char *dir = g_getenv("TG_TEST_PLUGINS");
    good_plugin = g_build_filename(dir ? dir : "tests/plugins", "good.so", NULL);
    run_threads(registry_thread);
    /* consistent afterwards: names sorted and unique, each found by name */
    const size_t n = tg_processor_count();
    const char *prev = "";
    for (size_t i = 0; i < n; i++) {
        tg_processor_info info = TG_PROCESSOR_INFO_INIT, again = TG_PROCESSOR_INFO_INIT;
        CHECK(tg_processor_at(&info, i) == TG_OK, "%s", tg_error_last());
        CHECK(strcmp(prev, info.vtable->name) < 0, "names not sorted or not unique at %zu", i);
        CHECK(tg_processor_find(&again, info.vtable->name) == TG_OK && again.vtable == info.vtable,
              "'%s' not found by name", info.vtable->name);
        prev = info.vtable->name;
    }
    CHECK(n >= 18 + 1, "%zu processors registered; the built-ins and the test plugin's expected",
          n);
    g_free(good_plugin);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void *errors_thread(void *arg)
{
    const int id = (int)(intptr_t)arg;
    char name[32], want[64];
    snprintf(name, sizeof name, "no_such_proc_%d", id);
    snprintf(want, sizeof want, "'%s'", name);
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 10;
    pthread_barrier_wait(&barrier);
    for (int round = 0; round < 200; round++) {
        tg_chain *c = NULL;
        if (round % 2 == 0) {
            CHECK(tg_chain_parse(&c, name, &o) == TG_ESPEC, "thread %d: parse", id);
            CHECK(tg_error_last_status() == TG_ESPEC && strstr(tg_error_last(), want),
                  "thread %d sees another thread's error: %s", id, tg_error_last());
        } else {
            tg_model *m = NULL;
            char path[64];
            snprintf(path, sizeof path, "/nonexistent/model-%d", id);
            CHECK(tg_model_load(&m, path, NULL) == TG_ENOTFOUND, "thread %d: load", id);
            CHECK(tg_error_last_status() == TG_ENOTFOUND && strstr(tg_error_last(), path),
                  "thread %d sees another thread's error: %s", id, tg_error_last());
        }
        if (round % 10 == 9) {
            tg_error_clear();
            CHECK(tg_error_last()[0] == '\0' && tg_error_last_status() == TG_OK,
                  "thread %d: clear did not clear its own error", id);
        }
    }
    return NULL;
}

static void scenario_errors(void)
{
    tg_plugin_scan(); /* the race here is about messages, not the first scan */
    run_threads(errors_thread);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } scenarios[] = {{"generate", scenario_generate}, {"sessions", scenario_sessions},
                     {"chains", scenario_chains},     {"tokenizer", scenario_tokenizer},
                     {"registry", scenario_registry}, {"errors", scenario_errors},
                     {"loads", scenario_loads}};
    const char *env = g_getenv("TG_CONCURRENCY_THREADS");
    if (env)
        n_threads = atoi(env) > 1 ? atoi(env) : 2;
    for (size_t i = 0; argc == 2 && i < G_N_ELEMENTS(scenarios); i++)
        if (strcmp(argv[1], scenarios[i].name) == 0) {
            scenarios[i].run();
            const int f = atomic_load(&failures);
            printf("%s: %d threads, %d failed checks\n", argv[1], n_threads, f);
            return f ? 1 : 0;
        }
    fprintf(stderr,
            "usage: test_concurrency generate|sessions|chains|tokenizer|registry|errors|loads\n");
    return 2;
}
