/* hostile_case.c — runs ONE case of the hostile corpus through the public API and prints what
 * the library answered:
 *
 *     status <tg_status as a number>
 *     message <tg_error_last() of the first call that failed, or "">
 *
 * run_corpus.py starts one process per case (so a crash, a hang or a leak belongs to that case),
 * materializes its folder, and compares the answer with the manifest. Exit status: 0 when the
 * case ran (whatever the library answered), 2 for a usage error of this program.
 *
 *   hostile_case [--plugin FILE]... [--plugin-dir DIR]... KIND ARG...
 *     model DIR                      tg_model_load, then a session decodes one token
 *     generate DIR PROMPT SPEC N     tg_model_load, then tg_generate of N tokens with the chain
 *                                    SPEC ("" = the folder's generation_config.json), seed 1
 *     tokenizer PATH                 tg_tokenizer_load, then encode + decode "abc"
 *     vocab_merges VOCAB MERGES      tg_tokenizer_load_vocab_merges
 *     spec DIR SPEC STEPS            tg_chain_parse on the model of DIR, then STEPS steps of
 *                                    sample + accept on fixed logits
 *     chain_file DIR FILE STEPS      tg_chain_load_file into an empty chain, validate, STEPS steps
 *     snapshot DIR SPEC MUTATION     save a chain of SPEC after 3 steps, damage the snapshot as
 *                                    MUTATION says, tg_chain_restore it into a fresh chain
 *     session DIR N_SEQ N_CTX        tg_session_create
 *     plugin_load FILE               tg_plugin_load
 *     plugin_scan DIR                tg_plugin_add_dir + tg_plugin_scan
 *
 * MUTATION: flip:OFFSET (xor 0xff; negative counts from the end) | truncate:LEN | append:HEX |
 *   empty | other:SPEC (restore into a chain of another spec) | set:OFFSET:HEX[:sum] (overwrite
 *   bytes; with ":sum", recompute the trailing FNV-1a 64 checksum, to reach the checks behind
 *   it) | grow:HEX (insert bytes before the checksum and recompute it).
 * Options --plugin/--plugin-dir run first; their failure is the case's answer. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static int report(tg_status st)
{
    printf("status %d\nmessage %s\n", (int)st, st == TG_OK ? "" : tg_error_last());
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: hostile_case [--plugin FILE] [--plugin-dir DIR] KIND ARG... (see the "
                    "comment at the top of hostile_case.c)\n");
    return 2;
}

static int parse_int(const char *s, long long *out)
{
    char *end;
    *out = g_ascii_strtoll(s, &end, 10);
    return *s && !*end;
}

/* Logits of step `s` for n_vocab tokens: varied, a few ties, all finite. */
static float *fixed_logits(int32_t n_vocab, int s)
{
    float *l = g_new(float, (size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; i++)
        l[i] = (float)(2.0 * sin(0.7 * i + 1.1 * s)) + (i % 3 == 0 ? 0.5f : 0.0f);
    return l;
}

static tg_status load_model(tg_model **m, const char *dir)
{
    return tg_model_load(m, dir, NULL);
}

/* STEPS steps of sample + accept: a status, or 1 when a step "succeeded" with a token outside
 * the vocabulary or a NaN log-probability (then this has printed the case's answer). */
static int run_steps(tg_chain *c, int32_t n_vocab, long long steps)
{
    static const int32_t prompt[] = {1, 2, 3};
    tg_status st = tg_chain_set_prompt(c, prompt, 3);
    for (long long s = 0; s < steps && st == TG_OK; s++) {
        float *l = fixed_logits(n_vocab, (int)s);
        int32_t token = -1;
        float lp = 0;
        st = tg_chain_sample(&token, &lp, c, l);
        g_free(l);
        if (st == TG_OK && (token < 0 || token >= n_vocab || isnan(lp))) {
            /* not a status the library gave: say so plainly, the manifest never expects it */
            printf("status 1\nmessage hostile_case: step %lld chose token %d with log-probability "
                   "%g\n",
                   s, (int)token, (double)lp);
            return 1;
        }
        if (st == TG_OK)
            st = tg_chain_accept(c, token);
    }
    return st;
}

static int32_t vocab_of(const tg_model *m)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, m);
    return info.n_vocab;
}

static int case_model(const char *dir)
{
    tg_model *m = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK) {
        tg_session *s = NULL;
        st = tg_session_create(&s, m, NULL);
        const tg_batch_row row = {0, 0, 0, 1};
        const float *logits = NULL;
        if (st == TG_OK)
            st = tg_session_decode(s, &row, 1);
        if (st == TG_OK)
            st = tg_session_logits(&logits, s, 0);
        tg_session_free(s);
    }
    report(st);
    tg_model_free(m);
    return 0;
}

static int case_generate(const char *dir, const char *prompt, const char *spec, const char *n)
{
    long long max_new;
    if (!parse_int(n, &max_new))
        return usage();
    tg_model *m = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK) {
        tg_generate_options go = TG_GENERATE_OPTIONS_INIT;
        go.samplers = *spec ? spec : NULL;
        go.max_new_tokens = (int32_t)max_new;
        go.seed = 1;
        go.n_threads = 1;
        tg_result *r = NULL;
        st = tg_generate(&r, m, prompt, &go);
        if (st == TG_OK) {
            size_t nl = 0;
            const float *lp = tg_result_logprobs(r, &nl);
            for (size_t i = 0; i < nl; i++)
                if (isnan(lp[i])) {
                    tg_result_free(r);
                    tg_model_free(m);
                    printf("status 1\nmessage hostile_case: token %zu was generated with a NaN "
                           "log-probability\n",
                           i);
                    return 0;
                }
        }
        tg_result_free(r);
    }
    report(st);
    tg_model_free(m);
    return 0;
}

static int case_tokenizer(const char *path)
{
    tg_tokenizer *tok = NULL;
    tg_status st = tg_tokenizer_load(&tok, path, NULL);
    if (st == TG_OK) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        st = tg_tokenizer_encode(&ids, &n, tok, "abc", 3, 0);
        if (st == TG_OK)
            st = tg_tokenizer_decode(&text, NULL, tok, ids, n, 0);
        tg_free(ids);
        tg_free(text);
    }
    report(st);
    tg_tokenizer_free(tok);
    return 0;
}

static int case_vocab_merges(const char *vocab, const char *merges)
{
    tg_tokenizer *tok = NULL;
    report(tg_tokenizer_load_vocab_merges(&tok, vocab, merges, NULL));
    tg_tokenizer_free(tok);
    return 0;
}

static tg_status parse_on(tg_chain **c, const tg_model *m, const char *spec)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.model = m;
    o.seed = 5;
    return tg_chain_parse(c, spec, &o);
}

static int case_spec(const char *dir, const char *spec, const char *steps_arg)
{
    long long steps;
    if (!parse_int(steps_arg, &steps))
        return usage();
    tg_model *m = NULL;
    tg_chain *c = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK)
        st = parse_on(&c, m, spec);
    if (st == TG_OK)
        st = run_steps(c, vocab_of(m), steps);
    if (st != 1)
        report(st);
    tg_chain_free(c);
    tg_model_free(m);
    return 0;
}

static int case_chain_file(const char *dir, const char *file, const char *steps_arg)
{
    long long steps;
    if (!parse_int(steps_arg, &steps))
        return usage();
    tg_model *m = NULL;
    tg_chain *c = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK) {
        tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
        o.model = m;
        st = tg_chain_create(&c, &o);
    }
    if (st == TG_OK)
        st = tg_chain_load_file(c, file);
    if (st == TG_OK)
        st = tg_chain_validate(c);
    if (st == TG_OK)
        st = run_steps(c, vocab_of(m), steps);
    if (st != 1)
        report(st);
    tg_chain_free(c);
    tg_model_free(m);
    return 0;
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static GByteArray *hex_bytes(const char *hex)
{
    GByteArray *b = g_byte_array_new();
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
        char two[3] = {hex[i], hex[i + 1], 0};
        guint8 v = (guint8)strtoul(two, NULL, 16);
        g_byte_array_append(b, &v, 1);
    }
    return b;
}

/* Apply MUTATION to the snapshot; *other_spec is set for "other:SPEC". 0 on a bad mutation. */
static int mutate(GByteArray *snap, const char *mutation, const char **other_spec)
{
    long long v;
    if (g_str_has_prefix(mutation, "flip:") && parse_int(mutation + 5, &v)) {
        long long at = v < 0 ? (long long)snap->len + v : v;
        if (at < 0 || at >= (long long)snap->len)
            return 0;
        snap->data[at] ^= 0xff;
    } else if (g_str_has_prefix(mutation, "truncate:") && parse_int(mutation + 9, &v)) {
        if (v < 0 || v > (long long)snap->len)
            return 0;
        g_byte_array_set_size(snap, (guint)v);
    } else if (g_str_has_prefix(mutation, "append:")) {
        GByteArray *b = hex_bytes(mutation + 7);
        g_byte_array_append(snap, b->data, b->len);
        g_byte_array_unref(b);
    } else if (g_str_has_prefix(mutation, "grow:")) {
        if (snap->len < 8)
            return 0;
        GByteArray *b = hex_bytes(mutation + 5);
        const guint at = snap->len - 8;
        g_byte_array_set_size(snap, snap->len + b->len);
        memmove(snap->data + at + b->len, snap->data + at, 8);
        memcpy(snap->data + at, b->data, b->len);
        g_byte_array_unref(b);
        uint64_t sum = fnv1a64(snap->data, snap->len - 8);
        memcpy(snap->data + snap->len - 8, &sum, 8);
    } else if (strcmp(mutation, "empty") == 0) {
        g_byte_array_set_size(snap, 0);
    } else if (g_str_has_prefix(mutation, "other:")) {
        *other_spec = mutation + 6;
    } else if (g_str_has_prefix(mutation, "set:")) {
        gchar **parts = g_strsplit(mutation + 4, ":", 3);
        int ok = parts[0] && parts[1] && parse_int(parts[0], &v);
        GByteArray *b = ok ? hex_bytes(parts[1]) : NULL;
        long long at = v < 0 ? (long long)snap->len + v : v;
        ok = ok && at >= 0 && at + (long long)b->len <= (long long)snap->len;
        if (ok) {
            memcpy(snap->data + at, b->data, b->len);
            if (parts[2] && strcmp(parts[2], "sum") == 0 && snap->len >= 8) {
                uint64_t sum = fnv1a64(snap->data, snap->len - 8);
                memcpy(snap->data + snap->len - 8, &sum, 8);
            }
        }
        if (b)
            g_byte_array_unref(b);
        g_strfreev(parts);
        return ok;
    } else {
        return 0;
    }
    return 1;
}

static int case_snapshot(const char *dir, const char *spec, const char *mutation)
{
    tg_model *m = NULL;
    tg_chain *c = NULL, *d = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK)
        st = parse_on(&c, m, spec);
    if (st == TG_OK && run_steps(c, vocab_of(m), 3) != TG_OK)
        st = TG_ERROR;
    void *buf = NULL;
    size_t len = 0;
    if (st == TG_OK)
        st = tg_chain_save(&buf, &len, c);
    if (st != TG_OK) {
        fprintf(stderr, "hostile_case: the snapshot to damage could not be made: %s\n",
                tg_error_last());
        tg_chain_free(c);
        tg_model_free(m);
        return 2;
    }
    GByteArray *snap = g_byte_array_new();
    g_byte_array_append(snap, buf, (guint)len);
    tg_free(buf);
    const char *other = NULL;
    if (!mutate(snap, mutation, &other)) {
        g_byte_array_unref(snap);
        tg_chain_free(c);
        tg_model_free(m);
        return usage();
    }
    st = parse_on(&d, m, other ? other : spec);
    if (st == TG_OK)
        st = tg_chain_restore(d, snap->len ? snap->data : (const void *)"", snap->len);
    report(st);
    g_byte_array_unref(snap);
    tg_chain_free(c);
    tg_chain_free(d);
    tg_model_free(m);
    return 0;
}

static int case_session(const char *dir, const char *n_seq, const char *n_ctx)
{
    long long seqs, ctx;
    if (!parse_int(n_seq, &seqs) || !parse_int(n_ctx, &ctx))
        return usage();
    tg_model *m = NULL;
    tg_status st = load_model(&m, dir);
    if (st == TG_OK) {
        tg_session_options so = TG_SESSION_OPTIONS_INIT;
        so.n_seq = (uint32_t)seqs;
        so.n_ctx = (uint32_t)ctx;
        so.n_threads = 1;
        tg_session *s = NULL;
        st = tg_session_create(&s, m, &so);
        tg_session_free(s);
    }
    report(st);
    tg_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i + 1 < argc && g_str_has_prefix(argv[i], "--"); i += 2) {
        tg_status st;
        if (strcmp(argv[i], "--plugin") == 0)
            st = tg_plugin_load(argv[i + 1]);
        else if (strcmp(argv[i], "--plugin-dir") == 0)
            st = tg_plugin_add_dir(argv[i + 1]);
        else
            return usage();
        if (st != TG_OK)
            return report(st);
    }
    const int n = argc - i;
    if (n < 1)
        return usage();
    const char *kind = argv[i];
    char **a = argv + i + 1;
    if (strcmp(kind, "model") == 0 && n == 2)
        return case_model(a[0]);
    if (strcmp(kind, "generate") == 0 && n == 5)
        return case_generate(a[0], a[1], a[2], a[3]);
    if (strcmp(kind, "tokenizer") == 0 && n == 2)
        return case_tokenizer(a[0]);
    if (strcmp(kind, "vocab_merges") == 0 && n == 3)
        return case_vocab_merges(a[0], a[1]);
    if (strcmp(kind, "spec") == 0 && n == 4)
        return case_spec(a[0], a[1], a[2]);
    if (strcmp(kind, "chain_file") == 0 && n == 4)
        return case_chain_file(a[0], a[1], a[2]);
    if (strcmp(kind, "snapshot") == 0 && n == 4)
        return case_snapshot(a[0], a[1], a[2]);
    if (strcmp(kind, "session") == 0 && n == 4)
        return case_session(a[0], a[1], a[2]);
    if (strcmp(kind, "plugin_load") == 0 && n == 2)
        return report(tg_plugin_load(a[0]));
    if (strcmp(kind, "plugin_scan") == 0 && n == 2) {
        tg_status st = tg_plugin_add_dir(a[0]);
        return report(st == TG_OK ? tg_plugin_scan() : st);
    }
    return usage();
}
