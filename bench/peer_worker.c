/* peer_worker.c — the libtextgen side of the llama.cpp comparison (bench/peer/compare.mjs).
 *
 * Usage: peer_worker MODEL_DIR fp32|bf16|int8         serve commands on stdin (below)
 *        peer_worker MODEL_DIR fp32|bf16|int8 --start T   time to the first logits, then exit
 *
 * Serving: loads the model once, prints {"ready":1,"load_s":...}, then answers one JSON line per
 * command line:
 *   run T P G   - clear sequence 0 of the T-thread session (created on first use, warmed up
 *                 once), prefill the P-token bench prompt (logits of its last row), then G greedy
 *                 steps of one row each; prefill_tps = P / time to the first argmax, decode_tps =
 *                 G / time of the G steps; tokens = the G+1 greedy tokens.
 *   argmax T P  - one prefill of the P-token prompt with logits on every row; the argmax of each
 *                 row (the greedy next token after every prompt prefix).
 *   quit
 * --start T: the CLOCK_MONOTONIC times (ns) at main(), after tg_model_load, and at the first
 * logits of a 1-token prompt on a fresh T-thread session; the orchestrator subtracts the time it
 * spawned us. The bench prompt is the same LCG sequence as bench_decode's and the llama.cpp
 * worker's (bench/peer/prompt.mjs). */
#include <textgen/textgen.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 16
#define MAX_PROMPT 1024
#define MAX_GEN 1024

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int die(const char *what)
{
    printf("{\"error\":\"%s: %s\"}\n", what, tg_error_last());
    fflush(stdout);
    return 1;
}

static int32_t argmax(const float *v, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static void bench_prompt(int32_t *ids, int n, int32_t n_vocab)
{
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (int32_t)((x >> 8) % (uint32_t)n_vocab);
    }
}

static tg_session *new_session(const tg_model *m, int threads, int n_ctx)
{
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = (uint32_t)n_ctx;
    so.n_seq = 1;
    so.n_threads = threads;
    tg_session *s = NULL;
    return tg_session_create(&s, m, &so) == TG_OK ? s : NULL;
}

/* Prefill P prompt tokens (logits on the last row, or on every row into `row_argmax`), then G
 * greedy steps. */
static int run(tg_session *s, int32_t n_vocab, int P, int G, int32_t *toks, int32_t *row_argmax,
               double *prefill_s, double *decode_s)
{
    static tg_batch_row rows[MAX_PROMPT];
    int32_t ids[MAX_PROMPT];
    bench_prompt(ids, P, n_vocab);
    if (tg_session_seq_clear(s, 0) != TG_OK)
        return -1;
    for (int i = 0; i < P; i++)
        rows[i] = (tg_batch_row){ids[i], i, 0, row_argmax || i == P - 1};
    const float *lg;
    int64_t t0 = now_ns();
    if (tg_session_decode(s, rows, (size_t)P) != TG_OK)
        return -1;
    if (row_argmax) {
        for (int i = 0; i < P; i++) {
            if (tg_session_logits(&lg, s, (size_t)i) != TG_OK)
                return -1;
            row_argmax[i] = argmax(lg, n_vocab);
        }
        return 0;
    }
    if (tg_session_logits(&lg, s, (size_t)P - 1) != TG_OK)
        return -1;
    toks[0] = argmax(lg, n_vocab);
    int64_t t1 = now_ns();
    for (int i = 0; i < G; i++) {
        tg_batch_row r = {toks[i], P + i, 0, 1};
        if (tg_session_decode(s, &r, 1) != TG_OK || tg_session_logits(&lg, s, 0) != TG_OK)
            return -1;
        toks[i + 1] = argmax(lg, n_vocab);
    }
    int64_t t2 = now_ns();
    *prefill_s = (double)(t1 - t0) * 1e-9;
    *decode_s = (double)(t2 - t1) * 1e-9;
    return 0;
}

static void print_ids(const char *key, const int32_t *v, int n)
{
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", v[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    const int64_t t_main = now_ns();
    if (argc < 3 ||
        (strcmp(argv[2], "fp32") && strcmp(argv[2], "bf16") && strcmp(argv[2], "int8"))) {
        fprintf(stderr, "usage: peer_worker MODEL_DIR fp32|bf16|int8 [--start THREADS]\n");
        return 2;
    }
    const int start_threads = argc >= 5 && strcmp(argv[3], "--start") == 0 ? atoi(argv[4]) : 0;
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = strcmp(argv[2], "bf16") == 0   ? TG_WEIGHTS_BF16
                     : strcmp(argv[2], "int8") == 0 ? TG_WEIGHTS_INT8
                                                    : TG_WEIGHTS_F32;
    tg_model *m;
    const int64_t t_load0 = now_ns();
    if (tg_model_load(&m, argv[1], &mo) != TG_OK)
        return die("loading the model");
    const int64_t t_load1 = now_ns();
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, m);
    if (start_threads > 0) {
        tg_session *s = new_session(m, start_threads, 16);
        tg_batch_row r = {0, 0, 0, 1};
        const float *lg;
        if (!s || tg_session_decode(s, &r, 1) != TG_OK || tg_session_logits(&lg, s, 0) != TG_OK)
            return die("first logits");
        const int64_t t_first = now_ns();
        printf(
            "{\"t_main\":%lld,\"t_load0\":%lld,\"t_load1\":%lld,\"t_first\":%lld,\"token\":%d}\n",
            (long long)t_main, (long long)t_load0, (long long)t_load1, (long long)t_first,
            argmax(lg, info.n_vocab));
        tg_session_free(s);
        tg_model_free(m);
        return 0;
    }
    printf("{\"ready\":1,\"load_s\":%.4f,\"weight_bytes\":%llu}\n",
           (double)(t_load1 - t_load0) * 1e-9, (unsigned long long)info.weight_bytes);
    fflush(stdout);
    tg_session *sess[MAX_THREADS + 1] = {0};
    int sess_ctx[MAX_THREADS + 1] = {0};
    static int32_t toks[MAX_GEN + 1], rows[MAX_PROMPT];
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        int T = 0, P = 0, G = 0;
        const int is_run = sscanf(line, "run %d %d %d", &T, &P, &G) == 3;
        const int is_argmax = !is_run && sscanf(line, "argmax %d %d", &T, &P) == 2;
        if (strncmp(line, "quit", 4) == 0)
            break;
        if ((!is_run && !is_argmax) || T < 1 || T > MAX_THREADS || P < 1 || P > MAX_PROMPT ||
            G < 0 || G > MAX_GEN || P + G + 1 > info.n_ctx) {
            printf("{\"error\":\"bad command\"}\n");
            fflush(stdout);
            continue;
        }
        const int n_ctx = P + G + 1;
        if (sess[T] && sess_ctx[T] < n_ctx) {
            tg_session_free(sess[T]);
            sess[T] = NULL;
        }
        double p, d;
        if (!sess[T]) { /* new session: one warm-up run (primitives, KV pages) */
            if (!(sess[T] = new_session(m, T, n_ctx)))
                return die("creating a session");
            sess_ctx[T] = n_ctx;
            if (run(sess[T], info.n_vocab, P, G, toks, NULL, &p, &d) != 0)
                return die("warm-up");
        }
        if (run(sess[T], info.n_vocab, P, G, toks, is_argmax ? rows : NULL, &p, &d) != 0)
            return die("run");
        if (is_argmax) {
            printf("{");
            print_ids("argmax", rows, P);
            printf("}\n");
        } else {
            printf("{\"prefill_tps\":%.3f,\"decode_tps\":%.4f,", P / p, G / d);
            print_ids("tokens", toks, G + 1);
            printf("}\n");
        }
        fflush(stdout);
    }
    for (int t = 0; t <= MAX_THREADS; t++)
        if (sess[t])
            tg_session_free(sess[t]);
    tg_model_free(m);
    return 0;
}
