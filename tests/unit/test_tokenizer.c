/* Unit tests of the tokenizer: GPT-2 parity against js-tiktoken vectors (tokenizer.json and
 * vocab.json + merges.txt), round trips, streaming, plain/char BPE, bad inputs. */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/tokenizer.h>

#include "tok_testutil.h"

#define EXPECT(tok, text, ...)                                                                     \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(tok, text, strlen(text), 0, want_, sizeof want_ / sizeof want_[0]);             \
    } while (0)

/* ---- parity ---- */

Test(tokenizer_gpt2, vectors_tokenizer_json)
{
    tg_tokenizer *tok = load_gpt2(0);
    check_vectors(tok, "tokenizer.json");
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, vectors_vocab_merges)
{
    tg_tokenizer *tok = load_gpt2(1);
    check_vectors(tok, "vocab.json + merges.txt");
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, vectors_pair_merges)
{
    /* The newer tokenizer.json form: merges as ["a", "b"] pairs. */
    char *src = data_path("tokenizer/gpt2/tokenizer.json");
    JsonParser *parser = json_parser_new();
    cr_assert(json_parser_load_from_file(parser, src, NULL));
    JsonObject *model =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "model");
    JsonArray *merges = json_object_get_array_member(model, "merges");
    JsonArray *pairs = json_array_new();
    for (guint i = 0; i < json_array_get_length(merges); i++) {
        gchar **ab = g_strsplit(json_array_get_string_element(merges, i), " ", 2);
        JsonArray *pair = json_array_new();
        json_array_add_string_element(pair, ab[0]);
        json_array_add_string_element(pair, ab[1]);
        json_array_add_array_element(pairs, pair);
        g_strfreev(ab);
    }
    json_object_set_array_member(model, "merges", pairs);
    GError *err = NULL;
    char *dir = g_dir_make_tmp("tgtok-XXXXXX", &err);
    cr_assert_not_null(dir);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(parser));
    cr_assert(json_generator_to_file(gen, path, NULL));
    g_object_unref(gen);
    g_object_unref(parser);
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, path, NULL), TG_OK, "%s", tg_error_last());
    check_vectors(tok, "tokenizer.json with pair merges");
    tg_tokenizer_free(tok);
    g_remove(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
    g_free(src);
}

Test(tokenizer_gpt2, add_prefix_space)
{
    /* ByteLevel add_prefix_space: each segment not starting with a space gets one */
    char *src = data_path("tokenizer/gpt2/tokenizer.json");
    char *text = NULL;
    cr_assert(g_file_get_contents(src, &text, NULL, NULL));
    char *at = strstr(text, "\"add_prefix_space\":false");
    cr_assert_not_null(at);
    GString *s = g_string_new_len(text, at - text);
    g_string_append(s, "\"add_prefix_space\":true ");
    g_string_append(s, at + strlen("\"add_prefix_space\":false"));
    GError *err = NULL;
    char *dir = g_dir_make_tmp("tgtok-XXXXXX", &err);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    cr_assert(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, path, NULL), TG_OK, "%s", tg_error_last());
    EXPECT(tok, "hello world", 23748, 995);
    EXPECT(tok, " hello world", 23748, 995);
    const int32_t w[] = {23748, 50256, 23748};
    expect_ids(tok, "hello<|endoftext|>hello", TG_NUL_TERMINATED, TG_ENCODE_ALLOW_SPECIAL, w, 3);
    tg_tokenizer_free(tok);
    g_remove(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
    g_string_free(s, TRUE);
    g_free(text);
    g_free(src);
}

Test(tokenizer_gpt2, published_vectors)
{
    for (int form = 0; form < 2; form++) {
        tg_tokenizer *tok = load_gpt2(form);
        cr_assert_eq(tg_tokenizer_n_vocab(tok), 50257);
        cr_assert_eq(tg_tokenizer_kind(tok), TG_TOKENIZER_BYTE_BPE);
        /* tiktoken tests/test_encoding.py */
        EXPECT(tok, "hello world", 31373, 995);
        EXPECT(tok, "0", 15);
        EXPECT(tok, "00", 405);
        EXPECT(tok, "000", 830);
        EXPECT(tok, "0000", 2388);
        EXPECT(tok, "00000", 20483);
        EXPECT(tok, "000000", 10535);
        EXPECT(tok, "0000000", 24598);
        EXPECT(tok, "00000000", 8269);
        EXPECT(tok, "000000000", 10535, 830);
        EXPECT(tok, "0000000000000000", 25645);
        /* npm gpt-3-encoder */
        EXPECT(tok, " ", 220);
        EXPECT(tok, "\t", 197);
        EXPECT(tok, "This is some text", 1212, 318, 617, 2420);
        EXPECT(tok, "indivisible", 521, 452, 12843);
        EXPECT(tok, "hello 👋 world 🌍", 31373, 50169, 233, 995, 12520, 234, 235);
        EXPECT(tok, "toString constructor hasOwnProperty valueOf", 1462, 10100, 23772, 468, 23858,
               21746, 1988, 5189);
        /* llama.cpp ggml-vocab-gpt-2 */
        EXPECT(tok, "Hello world", 15496, 995);
        EXPECT(tok, " Hello world", 18435, 995);
        EXPECT(tok, "Hello, world!", 15496, 11, 995, 0);
        EXPECT(tok, "\n", 198);
        EXPECT(tok, "\n\n", 628);
        EXPECT(tok, "   ", 220, 220, 220);
        EXPECT(tok, "    Hello\n    Hello", 220, 220, 220, 18435, 198, 220, 220, 220, 18435);
        EXPECT(tok, "33333", 2091, 20370);
        EXPECT(tok, "333333333", 24840, 2091, 20370);
        EXPECT(tok, "Führer", 37, 9116, 71, 11751);
        size_t n = 0;
        int32_t *ids = (int32_t *)1;
        cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "", 0, 0), TG_OK);
        cr_assert_eq(n, 0);
        cr_assert_null(ids);
        tg_tokenizer_free(tok);
    }
}

/* \s is Unicode White_Space (U+0085 yes, U+FEFF no), as in GPT-2's Python regex, tiktoken and
 * HF tokenizers; JavaScript differs on exactly these two, so they are not in the vectors. */
static void expect_split(const tg_tokenizer *tok, const char *text, const char *const *parts)
{
    GArray *want = g_array_new(FALSE, FALSE, sizeof(int32_t));
    for (size_t i = 0; parts[i]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, parts[i], strlen(parts[i]), 0), TG_OK);
        g_array_append_vals(want, ids, (guint)n);
        free(ids);
    }
    expect_ids(tok, text, strlen(text), 0, (int32_t *)want->data, want->len);
    g_array_free(want, TRUE);
}

Test(tokenizer_gpt2, white_space_property)
{
    tg_tokenizer *tok = load_gpt2(0);
    const char *const nel[] = {"x", " ", "\xc2\x85", "y", NULL};
    expect_split(tok, "x \xc2\x85y", nel);
    const char *const bom[] = {"x", " \xef\xbb\xbf", "y", NULL};
    expect_split(tok, "x \xef\xbb\xbfy", bom);
    const char *const vt[] = {"x", " ", "\x0b", "y", NULL};
    expect_split(tok, "x \x0by", vt);
    /* U+001C..U+001F are not White_Space (Python's str.isspace() says they are) */
    const char *const fs[] = {"x", " \x1c", "y", NULL};
    expect_split(tok, "x \x1cy", fs);
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, special_tokens)
{
    tg_tokenizer *tok = load_gpt2(0);
    /* plain text by default: a prompt cannot inject <|endoftext|> */
    const int32_t plain[] = {31373, 1279, 91, 437, 1659, 5239, 91, 29};
    expect_ids(tok, "hello <|endoftext|>", TG_NUL_TERMINATED, 0, plain, 8);
    const int32_t special[] = {31373, 220, 50256};
    expect_ids(tok, "hello <|endoftext|>", TG_NUL_TERMINATED, TG_ENCODE_ALLOW_SPECIAL, special, 3);
    const int32_t bos[] = {50256, 31373};
    expect_ids(tok, "hello", 5, TG_ENCODE_ADD_BOS, bos, 2);
    cr_assert_eq(tg_tokenizer_bos(tok), 50256);
    cr_assert_eq(tg_tokenizer_eos(tok), 50256);
    cr_assert(tg_tokenizer_is_special(tok, 50256));
    cr_assert(!tg_tokenizer_is_special(tok, 50255));
    cr_assert(!tg_tokenizer_is_special(tok, 50257));
    cr_assert(!tg_tokenizer_is_special(tok, -1));
    const int32_t *sp = NULL;
    size_t nsp = 0;
    cr_assert_eq(tg_tokenizer_special_tokens(&sp, &nsp, tok), TG_OK);
    cr_assert_eq(nsp, 1);
    cr_assert_eq(sp[0], 50256);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(tg_tokenizer_decode(&text, &len, tok, special, 3, 0), TG_OK);
    cr_assert_str_eq(text, "hello <|endoftext|>");
    tg_free(text);
    cr_assert_eq(tg_tokenizer_decode(&text, &len, tok, special, 3, TG_DECODE_SKIP_SPECIAL), TG_OK);
    cr_assert_str_eq(text, "hello ");
    cr_assert_eq(len, 6);
    tg_free(text);
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, pieces)
{
    tg_tokenizer *tok = load_gpt2(1);
    const char *p = NULL;
    size_t len = 0;
    cr_assert_eq(tg_tokenizer_token_to_piece(&p, &len, tok, 262), TG_OK);
    cr_assert_str_eq(p, "\xc4\xa0the");
    cr_assert_eq(len, 5);
    cr_assert_eq(tg_tokenizer_token_to_bytes(&p, &len, tok, 262), TG_OK);
    cr_assert_eq(len, 4);
    cr_assert(memcmp(p, " the", 4) == 0);
    int32_t id = -5;
    cr_assert_eq(tg_tokenizer_piece_to_token(&id, tok, "\xc4\xa0the", TG_NUL_TERMINATED), TG_OK);
    cr_assert_eq(id, 262);
    cr_assert_eq(tg_tokenizer_piece_to_token(&id, tok, "<|endoftext|>", 13), TG_OK);
    cr_assert_eq(id, 50256);
    cr_assert_eq(tg_tokenizer_piece_to_token(&id, tok, "no such piece", TG_NUL_TERMINATED),
                 TG_ENOTFOUND);
    cr_assert_eq(id, TG_TOKEN_NONE);
    cr_assert(strstr(tg_error_last(), "no such piece"));
    /* the byte tokens: 0x00 is written U+0100 and decodes to a NUL byte */
    cr_assert_eq(tg_tokenizer_piece_to_token(&id, tok, "\xc4\x80", 2), TG_OK);
    cr_assert_eq(tg_tokenizer_token_to_bytes(&p, &len, tok, id), TG_OK);
    cr_assert_eq(len, 1);
    cr_assert_eq(p[0], '\0');
    tg_tokenizer_free(tok);
}

/* ---- round trips ---- */

static void roundtrip(const tg_tokenizer *tok, const char *s, size_t len, uint32_t dflags)
{
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, s, len, 0), TG_OK, "%s", tg_error_last());
    char *text = NULL;
    size_t tl = 0;
    cr_assert_eq(tg_tokenizer_decode(&text, &tl, tok, ids, n, dflags), TG_OK, "%s",
                 tg_error_last());
    cr_assert_eq(tl, len, "round trip length %zu != %zu", tl, len);
    cr_assert(memcmp(text, s, len) == 0, "round trip differs");
    cr_assert_eq(text[tl], '\0');
    tg_free(text);
    free(ids);
}

Test(tokenizer_gpt2, roundtrip_corpus)
{
    size_t n = 0;
    vcase *v = load_vectors(&n);
    for (int form = 0; form < 2; form++) {
        tg_tokenizer *tok = load_gpt2(form);
        for (size_t i = 0; i < n; i++)
            roundtrip(tok, v[i].text, v[i].len, 0);
        char *path = data_path("tokenizer/shakespeare.txt");
        char *all = NULL;
        gsize len = 0;
        cr_assert(g_file_get_contents(path, &all, &len, NULL));
        roundtrip(tok, all, len, 0);
        g_free(all);
        g_free(path);
        tg_tokenizer_free(tok);
    }
    free_vectors(v, n);
}

Test(tokenizer_gpt2, roundtrip_random_bytes)
{
    tg_tokenizer *tok = load_gpt2(0);
    GRand *r = g_rand_new_with_seed(1234);
    unsigned char buf[600];
    size_t n_valid = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)g_rand_int_range(r, 0, (int)sizeof buf);
        int mode = iter % 4;
        for (size_t i = 0; i < len; i++) {
            if (mode == 0) /* any byte */
                buf[i] = (unsigned char)g_rand_int_range(r, 0, 256);
            else if (mode == 1) /* mostly ASCII, spaces and quotes */
                buf[i] = (unsigned char)" \t\n'aAsStT0 .!"[g_rand_int_range(r, 0, 15)];
            else /* high bytes: lots of (in)valid UTF-8 */
                buf[i] = (unsigned char)g_rand_int_range(r, mode == 2 ? 0x80 : 0x20, 0x100);
        }
        if (mode == 3) { /* make it valid UTF-8 */
            char *valid = g_utf8_make_valid((const char *)buf, (gssize)len);
            size_t vl = strlen(valid);
            if (vl > sizeof buf)
                vl = 0;
            memcpy(buf, valid, vl);
            len = vl;
            g_free(valid);
        }
        roundtrip(tok, (const char *)buf, len, TG_DECODE_RAW_BYTES);
        if (utf8_ok((const char *)buf, len)) {
            roundtrip(tok, (const char *)buf, len, 0);
            n_valid++;
        }
    }
    cr_assert_gt(n_valid, 500);
    g_rand_free(r);
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, long_words)
{
    /* whitespace runs and symbol runs long enough for the heap-based merge */
    tg_tokenizer *tok = load_gpt2(0);
    GString *s = g_string_new("a");
    for (int i = 0; i < 20000; i++)
        g_string_append_c(s, ' ');
    g_string_append(s, "b");
    for (int i = 0; i < 5000; i++)
        g_string_append(s, "=-");
    for (int i = 0; i < 3000; i++)
        g_string_append(s, "\xe6\x97\xa5"); /* 日 */
    roundtrip(tok, s->str, s->len, 0);
    /* 300 spaces then x: 299 spaces form one piece, the last prefixes "x" */
    int32_t *ids = NULL;
    size_t n = 0;
    char sp[302];
    memset(sp, ' ', 300);
    sp[300] = 'x';
    sp[301] = '\0';
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, sp, 301, 0), TG_OK);
    cr_assert_eq(ids[n - 1], 2124); /* "Ġx" */
    free(ids);
    g_string_free(s, TRUE);
    tg_tokenizer_free(tok);
}

/* ---- decoding and streaming ---- */

Test(tokenizer_stream, corpus_and_random_ids)
{
    tg_tokenizer *tok = load_gpt2(0);
    size_t n = 0;
    vcase *v = load_vectors(&n);
    for (size_t i = 0; i < n; i++) {
        check_stream(tok, v[i].ids, v[i].n, 0);
        check_stream(tok, v[i].ids, v[i].n, TG_DECODE_SKIP_SPECIAL);
    }
    free_vectors(v, n);
    /* random ids: the model may produce any sequence, including broken UTF-8 */
    GRand *r = g_rand_new_with_seed(99);
    int32_t ids[64];
    for (int iter = 0; iter < 2000; iter++) {
        size_t k = (size_t)g_rand_int_range(r, 0, 64);
        for (size_t i = 0; i < k; i++)
            ids[i] = iter % 2 ? g_rand_int_range(r, 0, 50257)
                              : g_rand_int_range(r, 0, 400); /* byte tokens and short ones */
        check_stream(tok, ids, k, iter % 3 ? 0 : TG_DECODE_SKIP_SPECIAL);
    }
    g_rand_free(r);
    tg_tokenizer_free(tok);
}

Test(tokenizer_stream, split_character_held_back)
{
    tg_tokenizer *tok = load_gpt2(0);
    /* " 🌍" = 12520 234 235: " \xf0\x9f", "\x8c", "\x8d" (one character over three tokens) */
    const int32_t ids[] = {995, 12520, 234, 235, 0};
    const char *want[] = {" world", " ", "", "\xf0\x9f\x8c\x8d", "!"};
    tg_detokenizer *d = NULL;
    cr_assert_eq(tg_detokenizer_create(&d, tok, 0), TG_OK);
    for (int i = 0; i < 5; i++) {
        const char *c = NULL;
        cr_assert_eq(tg_detokenizer_feed(d, ids[i], &c, NULL), TG_OK);
        cr_assert_str_eq(c, want[i], "step %d", i);
    }
    /* an unfinished character at the end becomes U+FFFD */
    const char *c = NULL;
    size_t cl = 0;
    cr_assert_eq(tg_detokenizer_feed(d, 12520, &c, &cl), TG_OK);
    cr_assert_str_eq(c, " ");
    cr_assert_eq(cl, 1);
    cr_assert_eq(tg_detokenizer_flush(d, &c, &cl), TG_OK);
    cr_assert_str_eq(c, "\xef\xbf\xbd");
    /* a bad id leaves the state untouched */
    cr_assert_eq(tg_detokenizer_feed(d, 12520, &c, &cl), TG_OK);
    cr_assert_eq(tg_detokenizer_feed(d, 50257, &c, &cl), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "50257"), "%s", tg_error_last());
    cr_assert_eq(tg_detokenizer_feed(d, 234, &c, &cl), TG_OK);
    cr_assert_eq(tg_detokenizer_feed(d, 235, &c, &cl), TG_OK);
    cr_assert_str_eq(c, "\xf0\x9f\x8c\x8d");
    /* reset drops held bytes */
    cr_assert_eq(tg_detokenizer_feed(d, 12520, &c, &cl), TG_OK);
    tg_detokenizer_reset(d);
    cr_assert_eq(tg_detokenizer_flush(d, &c, &cl), TG_OK);
    cr_assert_eq(cl, 0);
    tg_detokenizer_free(d);
    tg_tokenizer_free(tok);
}

Test(tokenizer_stream, invalid_bytes_become_replacement)
{
    tg_tokenizer *tok = load_gpt2(0);
    /* byte tokens: 0x80 (a lone continuation byte), 0xF0 0x9F then 'A' */
    int32_t b80 = -1, bf0 = -1, b9f = -1, bA = -1;
    tg_tokenizer_piece_to_token(&b80, tok, "\xc4\xa2", 2); /* U+0122 = byte 0x80 */
    tg_tokenizer_piece_to_token(&bf0, tok, "\xc3\xb0", 2); /* U+00F0 = byte 0xF0 */
    tg_tokenizer_piece_to_token(&b9f, tok, "\xc2\x9f", 2); /* hmm: 0x9F is not printable */
    tg_tokenizer_piece_to_token(&bA, tok, "A", 1);
    const char *bytes = NULL;
    size_t bl = 0;
    cr_assert_eq(tg_tokenizer_token_to_bytes(&bytes, &bl, tok, b80), TG_OK);
    cr_assert(bl == 1 && (unsigned char)bytes[0] == 0x80);
    cr_assert_eq(tg_tokenizer_token_to_bytes(&bytes, &bl, tok, bf0), TG_OK);
    cr_assert(bl == 1 && (unsigned char)bytes[0] == 0xF0);
    /* 0x9F maps to a code point >= 256: find it via the encoder instead */
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "\x9f", 1, 0), TG_OK);
    cr_assert_eq(n, 1);
    b9f = ids[0];
    free(ids);
    const int32_t seq[] = {b80, bA, bf0, b9f, bA};
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(tg_tokenizer_decode(&text, &len, tok, seq, 5, 0), TG_OK);
    /* 0x80 -> FFFD; F0 9F is one maximal subpart -> one FFFD */
    cr_assert_str_eq(text, "\xef\xbf\xbd"
                           "A"
                           "\xef\xbf\xbd"
                           "A");
    tg_free(text);
    cr_assert_eq(tg_tokenizer_decode(&text, &len, tok, seq, 5, TG_DECODE_RAW_BYTES), TG_OK);
    cr_assert_eq(len, 5);
    cr_assert(memcmp(text,
                     "\x80"
                     "A\xf0\x9f"
                     "A",
                     5) == 0);
    tg_free(text);
    check_stream(tok, seq, 5, 0);
    tg_tokenizer_free(tok);
}

/* ---- plain BPE and character vocabularies ---- */

static char *tmpdir_new(void)
{
    GError *err = NULL;
    char *d = g_dir_make_tmp("tgtok-XXXXXX", &err);
    cr_assert_not_null(d, "%s", err ? err->message : "");
    return d;
}

static void rm_rf(char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, name, NULL);
        g_remove(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
    g_free(dir);
}

static char *write_file(const char *dir, const char *name, const char *content)
{
    char *p = g_build_filename(dir, name, NULL);
    cr_assert(g_file_set_contents(p, content, -1, NULL));
    return p;
}

/* The character-level format (docs/tokenizer.md): a plain BPE tokenizer.json, no merges. */
static const char CHAR_JSON_HEAD[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
    "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,"
    "\"decoder\":{\"type\":\"Fuse\"},\"model\":{\"type\":\"BPE\",\"dropout\":null,"
    "\"unk_token\":null,\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
    "\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":";

static char *char_json(const char *chars)
{
    GString *s = g_string_new(CHAR_JSON_HEAD);
    g_string_append_c(s, '{');
    int id = 0;
    for (const char *p = chars; *p; p = g_utf8_next_char(p), id++) {
        char c[8] = {0};
        memcpy(c, p, (size_t)(g_utf8_next_char(p) - p));
        JsonNode *n = json_node_init_string(json_node_alloc(), c);
        char *q = json_to_string(n, FALSE);
        g_string_append_printf(s, "%s%s:%d", id ? "," : "", q, id);
        g_free(q);
        json_node_unref(n);
    }
    g_string_append(s, "},\"merges\":[]}}");
    return g_string_free(s, FALSE);
}

Test(tokenizer_char, shakespeare_vocabulary)
{
    /* nanoGPT shakespeare_char: the 65 characters of the corpus, sorted */
    const char *chars = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char *dir = tmpdir_new();
    char *json = char_json(chars);
    g_free(write_file(dir, "tokenizer.json", json));
    g_free(json);
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 65);
    cr_assert_eq(tg_tokenizer_kind(tok), TG_TOKENIZER_BPE);
    cr_assert_eq(tg_tokenizer_bos(tok), TG_TOKEN_NONE);
    cr_assert_eq(tg_tokenizer_eos(tok), TG_TOKEN_NONE);
    const int32_t want[] = {20, 43, 50, 50, 53, 1, 61, 53, 56, 50, 42, 2, 0};
    expect_ids(tok, "Hello world!\n", TG_NUL_TERMINATED, 0, want, 13);
    char *path = data_path("tokenizer/shakespeare.txt");
    char *all = NULL;
    gsize len = 0;
    cr_assert(g_file_get_contents(path, &all, &len, NULL));
    roundtrip(tok, all, len, 0);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, all, len, 0), TG_OK);
    cr_assert_eq(n, 1115394);
    check_stream(tok, ids, 1000, 0);
    free(ids);
    g_free(all);
    g_free(path);
    /* a character outside the vocabulary is an error naming it and its offset */
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "Hi Zoë", TG_NUL_TERMINATED, 0), TG_EINVAL);
    cr_assert_null(ids);
    cr_assert(strstr(tg_error_last(), "U+00EB") && strstr(tg_error_last(), "'ë'") &&
                  strstr(tg_error_last(), "offset 5"),
              "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "ab\xff", 3, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "not valid UTF-8 at byte offset 2"), "%s", tg_error_last());
    tg_tokenizer_free(tok);
    rm_rf(dir);
}

static tg_tokenizer *load_json_text(const char *json, tg_status want, const char *msg)
{
    char *dir = tmpdir_new();
    char *p = write_file(dir, "tokenizer.json", json);
    tg_tokenizer *tok = NULL;
    tg_status st = tg_tokenizer_load(&tok, p, NULL);
    cr_assert_eq(st, want, "status %d (%s), want %d", st, tg_error_last(), want);
    if (msg) {
        cr_assert(strstr(tg_error_last(), msg), "message \"%s\" lacks \"%s\"", tg_error_last(),
                  msg);
        cr_assert(strstr(tg_error_last(), p), "message \"%s\" does not name the file",
                  tg_error_last());
    }
    if (st != TG_OK)
        cr_assert_null(tok);
    g_free(p);
    rm_rf(dir);
    return tok;
}

#define PLAIN_BPE(vocab, merges)                                                                   \
    "{\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"            \
    "\"model\":{\"type\":\"BPE\",\"vocab\":" vocab ",\"merges\":" merges "}}"

Test(tokenizer_char, plain_bpe_merges)
{
    const char *forms[] = {PLAIN_BPE("{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"bc\":5}",
                                     "[\"a b\",\"ab c\",\"b c\"]"),
                           PLAIN_BPE("{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"bc\":5}",
                                     "[[\"a\",\"b\"],[\"ab\",\"c\"],[\"b\",\"c\"]]")};
    for (int f = 0; f < 2; f++) {
        tg_tokenizer *tok = load_json_text(forms[f], TG_OK, NULL);
        const int32_t w1[] = {4, 3};
        expect_ids(tok, "abcab", 5, 0, w1, 2);
        const int32_t w2[] = {5, 0, 4};
        expect_ids(tok, "bcaabc", 6, 0, w2, 3);
        roundtrip(tok, "abcabcbbcca", 11, 0);
        /* long input goes through the heap merge: same result as the linear one */
        GString *s = g_string_new("");
        for (int i = 0; i < 500; i++)
            g_string_append(s, "abcab");
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, s->str, s->len, 0), TG_OK);
        cr_assert_eq(n, 1000);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(ids[i], w1[i % 2]);
        free(ids);
        g_string_free(s, TRUE);
        tg_tokenizer_free(tok);
    }
}

Test(tokenizer_char, added_tokens)
{
    const char *json = "{\"added_tokens\":["
                       "{\"id\":3,\"content\":\"<eos>\",\"special\":true},"
                       "{\"id\":4,\"content\":\"xyz\",\"special\":false}],"
                       "\"pre_tokenizer\":null,\"decoder\":{\"type\":\"Fuse\"},"
                       "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"<\":1,\">\":2},"
                       "\"merges\":[]}}";
    tg_tokenizer *tok = load_json_text(json, TG_OK, NULL);
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 5);
    cr_assert(tg_tokenizer_is_special(tok, 3));
    cr_assert(!tg_tokenizer_is_special(tok, 4));
    /* non-special added tokens always match (as in HF); special ones only when allowed */
    const int32_t w[] = {0, 4, 0};
    expect_ids(tok, "axyza", 5, 0, w, 3);
    const int32_t w2[] = {0, 3, 0};
    expect_ids(tok, "a<eos>a", 7, TG_ENCODE_ALLOW_SPECIAL, w2, 3);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "a<eos>a", 7, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'e'"), "%s", tg_error_last());
    tg_tokenizer_free(tok);
}

/* ---- bad input ---- */

Test(tokenizer_bad, malformed_files)
{
    load_json_text("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", TG_EFORMAT,
                   "malformed JSON");
    load_json_text("[1, 2]", TG_EFORMAT, "top level must be a JSON object");
    load_json_text("{\"version\": \"1.0\"}", TG_EFORMAT, "missing object \"model\"");
    load_json_text("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", TG_EUNSUPPORTED,
                   "model.type \"WordPiece\"");
    load_json_text(PLAIN_BPE("[\"a\"]", "[]"), TG_EFORMAT, "model.vocab must be an object");
    load_json_text(PLAIN_BPE("{\"a\": \"zero\"}", "[]"), TG_EFORMAT,
                   "the id of \"a\" is not an integer");
    load_json_text(PLAIN_BPE("{\"a\": -1}", "[]"), TG_EFORMAT, "has id -1");
    load_json_text(PLAIN_BPE("{}", "[]"), TG_EFORMAT, "vocabulary is empty");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"a\": 1}", "[]"), TG_EFORMAT, "key \"a\" appears twice");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 0}", "[]"), TG_EFORMAT,
                   "duplicate id 0: given to \"a\" and \"b\"");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 2}", "[]"), TG_EFORMAT, "no token has id 1");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"a b\", \"a q\"]"), TG_EFORMAT,
                   "model.merges[1]: token \"q\" is not in the vocabulary");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[[\"zz\", \"b\"]]"), TG_EFORMAT,
                   "model.merges[0]: token \"zz\" is not in the vocabulary");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1}", "[\"a b\"]"), TG_EFORMAT,
                   "merged token \"ab\" is not in the vocabulary");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"a  b\"]"), TG_EFORMAT,
                   "not two tokens separated by one space");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[7]"), TG_EFORMAT,
                   "model.merges[0] must be a string");
    load_json_text(PLAIN_BPE("{\"a\": 0}", "{}"), TG_EFORMAT, "model.merges must be an array");
    load_json_text("{\"added_tokens\":[{\"id\":0,\"content\":\"x\"}],\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EFORMAT, "added_tokens[0]: duplicate id 0");
    load_json_text("{\"added_tokens\":[{\"content\":\"x\"}],\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_ENOTFOUND, "added_tokens[0]");
    load_json_text("{\"normalizer\":{\"type\":\"Lowercase\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EUNSUPPORTED, "normalizer \"Lowercase\" is not supported");
    load_json_text("{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\","
                   "\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EUNSUPPORTED, "pre_tokenizer \"Whitespace\" is not supported");
    load_json_text("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"a\":0},"
                   "\"merges\":[]}}",
                   TG_EFORMAT, "model.unk_token \"<unk>\" is not in the vocabulary");
    load_json_text("{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                   "\"byte_fallback\":true,\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EUNSUPPORTED, "model.byte_fallback = true with a ByteLevel pre_tokenizer");
}

/* model.vocab and model.merges are read by a scanner of their own (no json-glib tree): the same
 * checks hold there as everywhere else in the file. */
Test(tokenizer_bad, vocab_and_merges_errors_name_the_file_and_place)
{
    /* a key repeated, also when only its escapes differ */
    load_json_text(PLAIN_BPE("{\"a\": 0, \"\\u0061\": 1}", "[]"), TG_EFORMAT,
                   "key \"a\" appears twice in one object");
    load_json_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"vocab\":{\"a\":0},"
                   "\"merges\":[]}}",
                   TG_EFORMAT, "key \"vocab\" appears twice in one object");
    load_json_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],"
                   "\"merges\":[]}}",
                   TG_EFORMAT, "key \"merges\" appears twice in one object");
    load_json_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                   "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EFORMAT, "key \"model\" appears twice in one object");
    /* elsewhere in the file, json-glib's checks as before */
    load_json_text("{\"decoder\":{\"type\":\"Fuse\",\"type\":\"Fuse\"},"
                   "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
                   TG_EFORMAT, "key \"type\" appears twice in one object");
    /* grammar, escapes and UTF-8 inside the vocabulary and the merges, with the byte offset */
    load_json_text(PLAIN_BPE("{\"a\": 0,}", "[]"), TG_EFORMAT,
                   "malformed JSON at byte 111: a member name (a string) was expected");
    load_json_text(PLAIN_BPE("{\"a\xff\": 0}", "[]"), TG_EFORMAT,
                   "malformed JSON at byte 106: invalid UTF-8");
    load_json_text(PLAIN_BPE("{\"\\ud800\": 0}", "[]"), TG_EFORMAT,
                   "malformed JSON at byte 105: a high surrogate");
    load_json_text(PLAIN_BPE("{\"a\": 0}", "[\"a b\" \"c\"]"), TG_EFORMAT,
                   "malformed JSON at byte 128: ',' or ']' was expected");
    load_json_text(PLAIN_BPE("{\"a\": 01}", "[]"), TG_EFORMAT, "malformed JSON at byte 109");
    /* a NUL (\u0000) cannot be part of a token */
    load_json_text(PLAIN_BPE("{\"a\\u0000b\": 0}", "[]"), TG_EFORMAT,
                   "model.vocab: token \"a\" contains a NUL character");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"a\\u0000 b\"]"), TG_EFORMAT,
                   "model.merges[0]: \"a\" is not two tokens separated by one space");
    /* ids: integers only, in range */
    load_json_text(PLAIN_BPE("{\"a\": 1.0}", "[]"), TG_EFORMAT,
                   "the id of \"a\" is not an integer");
    load_json_text(PLAIN_BPE("{\"a\": 1e2}", "[]"), TG_EFORMAT,
                   "the id of \"a\" is not an integer");
    load_json_text(PLAIN_BPE("{\"a\": null}", "[]"), TG_EFORMAT,
                   "the id of \"a\" is not an integer");
    load_json_text(PLAIN_BPE("{\"a\": 99999999999999999999}", "[]"), TG_EFORMAT,
                   "has id 9223372036854775807, outside [0, 16777216)");
    /* pairs: exactly two strings */
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[[\"a\", \"b\", \"c\"]]"),
                   TG_EFORMAT, "model.merges[0] must be a string \"a b\" or a pair [a, b]");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"a b\", [\"a\", 1]]"),
                   TG_EFORMAT, "model.merges[1] must be a pair of strings");
    load_json_text(PLAIN_BPE("{\"a\": 0, \"b\": 1, \"ab\": 2}", "[{\"a\": 1}]"), TG_EFORMAT,
                   "model.merges[0] must be a string \"a b\" or a pair [a, b]");
    /* deep nesting inside the merges is refused before anything is built */
    GString *deep = g_string_new(NULL);
    for (int i = 0; i < 300; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 300; i++)
        g_string_append_c(deep, ']');
    char *text = g_strdup_printf(PLAIN_BPE("{\"a\": 0}", "%s"), deep->str);
    load_json_text(text, TG_EFORMAT, "nested more than 256 levels deep");
    g_free(text);
    g_string_free(deep, TRUE);
    /* the same scanner reads vocab.json (the pair's own messages) */
    char *dir = tmpdir_new();
    g_free(write_file(dir, "merges.txt", "#version: 0.2\n"));
    const struct {
        const char *vocab, *msg;
    } vj[] = {
        {"[1, 2]", "the top level must be a JSON object {token: id}"},
        {"[1, 2", "malformed JSON at byte 5"},
        {"{\"a\": 0} x", "unexpected text after the JSON value (at byte 9)"},
        {"{\"a\": 0, \"a\": 1}", "key \"a\" appears twice in one object"},
        {"{\"a\": \"0\"}", "vocab: the id of \"a\" is not an integer"},
    };
    for (size_t i = 0; i < sizeof vj / sizeof *vj; i++) {
        char *v = write_file(dir, "vocab.json", vj[i].vocab);
        char *m = g_build_filename(dir, "merges.txt", NULL);
        tg_tokenizer *tok = NULL;
        cr_assert_eq(tg_tokenizer_load_vocab_merges(&tok, v, m, NULL), TG_EFORMAT, "%s",
                     vj[i].vocab);
        cr_assert_null(tok);
        cr_assert(strstr(tg_error_last(), vj[i].msg) && strstr(tg_error_last(), v), "%s: %s",
                  vj[i].vocab, tg_error_last());
        g_free(v);
        g_free(m);
    }
    rm_rf(dir);
}

Test(tokenizer_bad, byte_level_must_cover_256_bytes)
{
    /* take GPT-2's tokenizer.json and drop the token of byte 0x0A ("Ċ", id 198) */
    char *p = data_path("tokenizer/gpt2/tokenizer.json");
    char *text = NULL;
    cr_assert(g_file_get_contents(p, &text, NULL, NULL));
    g_free(p);
    const char *pat = "\"\xc4\x8a\":198,";
    char *at = strstr(text, pat);
    cr_assert_not_null(at);
    memmove(at, at + strlen(pat), strlen(at + strlen(pat)) + 1);
    /* renumber: id 198 must still exist, so give it a fresh piece */
    at = strstr(text, "\"vocab\":{");
    cr_assert_not_null(at);
    GString *s = g_string_new_len(text, at + 9 - text);
    g_string_append(s, "\"\xe2\x98\x83\":198,"); /* "☃" */
    g_string_append(s, at + 9);
    g_free(text);
    tg_tokenizer *tok =
        load_json_text(s->str, TG_EFORMAT, "does not cover all 256 bytes: no token for byte 0x0A");
    cr_assert_null(tok);
    g_string_free(s, TRUE);
}

Test(tokenizer_bad, merges_txt)
{
    char *dir = tmpdir_new();
    char *vocab_src = data_path("tokenizer/gpt2/vocab.json");
    char *vocab = NULL;
    cr_assert(g_file_get_contents(vocab_src, &vocab, NULL, NULL));
    g_free(write_file(dir, "vocab.json", vocab));
    g_free(vocab);
    g_free(vocab_src);
    char *m = write_file(dir, "merges.txt", "#version: 0.2\n\xc4\xa0 t\nqq\xc3\xbe zz\n");
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "merges.txt: line 3: token \"qq\xc3\xbe\" is not in the "
                                      "vocabulary"),
              "%s", tg_error_last());
    g_free(write_file(dir, "merges.txt", "#version: 0.2\n\xc4\xa0t\n"));
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "line 2: \"\xc4\xa0t\" is not two tokens"), "%s",
              tg_error_last());
    /* a vocab.json without its merges file */
    g_remove(m);
    g_free(m);
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "'vocab.json' has no 'merges.txt' beside it"), "%s",
              tg_error_last());
    char *v = g_build_filename(dir, "vocab.json", NULL);
    cr_assert_eq(tg_tokenizer_load(&tok, v, NULL), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "no merges.txt or vocab.bpe beside it"), "%s",
              tg_error_last());
    g_remove(v);
    g_free(v);
    /* an empty folder */
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "no tokenizer in"), "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_load(&tok, "/nonexistent/tokenizer.json", NULL), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "/nonexistent/tokenizer.json"));
    rm_rf(dir);
}

Test(tokenizer_bad, ids_outside_vocabulary)
{
    tg_tokenizer *tok = load_gpt2(0);
    const int32_t ids[] = {31373, 50257};
    char *text = (char *)1;
    cr_assert_eq(tg_tokenizer_decode(&text, NULL, tok, ids, 2, 0), TG_EINVAL);
    cr_assert_null(text);
    cr_assert(strstr(tg_error_last(), "ids[1] = 50257 is outside the vocabulary [0, 50257)"), "%s",
              tg_error_last());
    const int32_t neg[] = {-1};
    cr_assert_eq(tg_tokenizer_decode(&text, NULL, tok, neg, 1, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "ids[0] = -1"));
    const char *p = NULL;
    size_t len = 0;
    cr_assert_eq(tg_tokenizer_token_to_piece(&p, &len, tok, 50257), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "token id 50257"));
    cr_assert_eq(tg_tokenizer_token_to_bytes(&p, &len, tok, -7), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "token id -7"));
    tg_tokenizer_free(tok);
}

Test(tokenizer_bad, null_args_and_flags)
{
    tg_tokenizer *tok = load_gpt2(0);
    tg_tokenizer *t2 = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    const char *p = NULL;
    int32_t id;
    cr_assert_eq(tg_tokenizer_load(NULL, "x", NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'out'"));
    cr_assert_eq(tg_tokenizer_load(&t2, NULL, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'path'"));
    cr_assert_eq(tg_tokenizer_load_vocab_merges(&t2, "x", NULL, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'merges_path'"));
    tg_tokenizer_options o = TG_TOKENIZER_OPTIONS_INIT;
    o.struct_size = 2;
    cr_assert_eq(tg_tokenizer_load(&t2, "x", &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_tokenizer_options"));
    cr_assert_eq(tg_tokenizer_options_init(NULL, sizeof(tg_tokenizer_options)), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_encode(NULL, &n, tok, "a", 1, 0), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_encode(&ids, NULL, tok, "a", 1, 0), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, NULL, "a", 1, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'tok'"));
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, NULL, 1, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'text'"));
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, NULL, 0, 0), TG_OK);
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "a", 1, 1u << 7), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "unknown flags 0x80"));
    cr_assert_eq(tg_tokenizer_decode(NULL, &n, tok, NULL, 0, 0), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_decode(&text, &n, NULL, NULL, 0, 0), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_decode(&text, &n, tok, NULL, 3, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'ids'"));
    cr_assert_eq(tg_tokenizer_decode(&text, &n, tok, NULL, 0, 1u << 9), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_decode(&text, &n, tok, NULL, 0, 0), TG_OK);
    cr_assert_str_eq(text, "");
    tg_free(text);
    cr_assert_eq(tg_tokenizer_token_to_piece(NULL, NULL, tok, 1), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_token_to_piece(&p, NULL, NULL, 1), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_token_to_bytes(&p, NULL, tok, 1), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_piece_to_token(NULL, tok, "a", 1), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_piece_to_token(&id, tok, NULL, 1), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_special_tokens(NULL, &n, tok), TG_EINVAL);
    cr_assert_eq(tg_detokenizer_create(NULL, tok, 0), TG_EINVAL);
    tg_detokenizer *d = NULL;
    cr_assert_eq(tg_detokenizer_create(&d, NULL, 0), TG_EINVAL);
    cr_assert_eq(tg_detokenizer_create(&d, tok, TG_DECODE_RAW_BYTES), TG_EINVAL);
    cr_assert_eq(tg_detokenizer_feed(NULL, 1, &p, NULL), TG_EINVAL);
    cr_assert_eq(tg_detokenizer_flush(NULL, &p, NULL), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_n_vocab(NULL), 0);
    cr_assert_eq(tg_tokenizer_bos(NULL), TG_TOKEN_NONE);
    tg_tokenizer_free(NULL);
    tg_detokenizer_free(NULL);
    tg_detokenizer_reset(NULL);
    /* encode_into */
    int32_t buf[2];
    cr_assert_eq(tg_tokenizer_encode_into(buf, 2, &n, tok, "hello world", 11, 0), TG_OK);
    cr_assert(n == 2 && buf[0] == 31373 && buf[1] == 995);
    cr_assert_eq(tg_tokenizer_encode_into(buf, 1, &n, tok, "hello world", 11, 0), TG_ERANGE);
    cr_assert(n == 2 && buf[0] == 31373);
    cr_assert(strstr(tg_error_last(), "encodes to 2 ids, the buffer holds 1"));
    cr_assert_eq(tg_tokenizer_encode_into(NULL, 0, &n, tok, "hello", 5, 0), TG_ERANGE);
    cr_assert_eq(n, 1);
    tg_tokenizer_free(tok);
}

Test(tokenizer_gpt2, options_and_config)
{
    char *dir = tmpdir_new();
    char *src = data_path("tokenizer/gpt2/tokenizer.json");
    char *text = NULL;
    cr_assert(g_file_get_contents(src, &text, NULL, NULL));
    g_free(write_file(dir, "tokenizer.json", text));
    g_free(text);
    g_free(src);
    g_free(write_file(dir, "tokenizer_config.json",
                      "{\"bos_token\": \"!\", \"eos_token\": {\"content\": \"\\\"\"}}"));
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_bos(tok), 0);
    cr_assert_eq(tg_tokenizer_eos(tok), 1);
    tg_tokenizer_free(tok);
    tg_tokenizer_options o;
    cr_assert_eq(tg_tokenizer_options_init(&o, sizeof o), TG_OK);
    cr_assert_eq(o.struct_size, sizeof o);
    cr_assert_eq(o.bos_id, TG_TOKEN_AUTO);
    o.bos_id = TG_TOKEN_NONE;
    o.eos_id = 42;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, &o), TG_OK);
    cr_assert_eq(tg_tokenizer_bos(tok), TG_TOKEN_NONE);
    cr_assert_eq(tg_tokenizer_eos(tok), 42);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "x", 1, TG_ENCODE_ADD_BOS), TG_ESTATE);
    cr_assert(strstr(tg_error_last(), "no bos token"));
    tg_tokenizer_free(tok);
    o.eos_id = 50257;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "eos_id 50257"), "%s", tg_error_last());
    rm_rf(dir);
}

/* A loaded tokenizer is shared by threads. */
typedef struct thread_arg {
    const tg_tokenizer *tok;
    const vcase *v;
    size_t n;
    int bad;
} thread_arg;

static gpointer encode_thread(gpointer p)
{
    thread_arg *a = p;
    for (size_t i = 0; i < a->n; i++) {
        int32_t *ids = NULL;
        size_t k = 0;
        if (tg_tokenizer_encode(&ids, &k, a->tok, a->v[i].text, a->v[i].len,
                                a->v[i].special ? TG_ENCODE_ALLOW_SPECIAL : 0) != TG_OK ||
            k != a->v[i].n || (k && memcmp(ids, a->v[i].ids, k * sizeof *ids)))
            a->bad++;
        free(ids);
    }
    return NULL;
}

Test(tokenizer_gpt2, shared_between_threads)
{
    tg_tokenizer *tok = load_gpt2(0);
    size_t n = 0;
    vcase *v = load_vectors(&n);
    thread_arg args[4];
    GThread *th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){tok, v, n, 0};
        th[i] = g_thread_new("enc", encode_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
        cr_assert_eq(args[i].bad, 0);
    }
    free_vectors(v, n);
    tg_tokenizer_free(tok);
}
