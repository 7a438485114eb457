/* Unit tests of the tokenizer.json components the real files of the parity tests do not use (or
 * not in every form): Split's five behaviors and invert, Metaspace, the per-token decoders,
 * normalizers, added tokens with lstrip / rstrip / normalized, unk and fuse_unk, the
 * post-processor template and tokenizer_config.json; and the error of each malformed or
 * unsupported component. Expectations follow HF's Rust library (the Split cases are its own
 * tests': tokenizers/src/pre_tokenizers/split.rs).
 *
 * Most tokenizers here have a vocabulary made of the characters of the pieces the test expects
 * plus those pieces, and ignore_merges: a piece is then one token when it is in the vocabulary,
 * so the ids show how the text was split ("How|are|you"). */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/tokenizer.h>

#include "tok_testutil.h"

/* ---- building small tokenizer.json files ---- */

typedef struct spec {
    const char *normalizer, *pre_tokenizer, *decoder, *post_processor; /* JSON or NULL */
    /* JSON array or NULL; an entry without "id" gets the id of its content in the vocabulary,
     * or the next new id */
    const char *added_tokens;
    const char *model_extra;   /* JSON members added to "model", e.g. "\"unk_token\": \"<unk>\"" */
    const char *const *pieces; /* NULL-terminated, ids from 0; their characters follow */
    const char *config;        /* tokenizer_config.json or NULL */
} spec;

static void add_piece(JsonObject *vocab, const char *p)
{
    if (!json_object_has_member(vocab, p))
        json_object_set_int_member(vocab, p, json_object_get_size(vocab));
}

static JsonNode *parse(const char *json)
{
    GError *err = NULL;
    JsonNode *n = json_from_string(json, &err);
    cr_assert_not_null(n, "bad test JSON %s: %s", json, err ? err->message : "");
    return n;
}

static char *write_text(const char *dir, const char *name, const char *text)
{
    char *p = g_build_filename(dir, name, NULL);
    cr_assert(g_file_set_contents(p, text, -1, NULL));
    return p;
}

/* Write the files of `s` into a new temporary folder; returns it (rm with drop_dir()). */
static char *write_spec(const spec *s)
{
    JsonObject *vocab = json_object_new();
    for (const char *const *p = s->pieces; p && *p; p++)
        add_piece(vocab, *p);
    for (const char *const *p = s->pieces; p && *p; p++) {
        const char *c = *p;
        while (*c) {
            const char *next = g_utf8_next_char(c);
            char *ch = g_strndup(c, (gsize)(next - c));
            add_piece(vocab, ch);
            g_free(ch);
            c = next;
        }
    }
    JsonNode *an = parse(s->added_tokens ? s->added_tokens : "[]");
    JsonArray *added = json_node_get_array(an);
    int64_t next = json_object_get_size(vocab);
    for (guint i = 0; i < json_array_get_length(added); i++) {
        JsonObject *t = json_array_get_object_element(added, i);
        if (json_object_has_member(t, "id"))
            continue;
        const char *c = json_object_get_string_member(t, "content");
        json_object_set_int_member(
            t, "id",
            json_object_has_member(vocab, c) ? json_object_get_int_member(vocab, c) : next++);
    }
    char *added_json = json_to_string(an, FALSE);
    json_node_unref(an);
    JsonNode *vn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(vn, vocab);
    char *vocab_json = json_to_string(vn, FALSE);
    json_node_unref(vn);
    char *json = g_strdup_printf(
        "{\"version\":\"1.0\",\"added_tokens\":%s,\"normalizer\":%s,\"pre_tokenizer\":%s,"
        "\"post_processor\":%s,\"decoder\":%s,\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,"
        "%s%s\"vocab\":%s,\"merges\":[]}}",
        added_json, s->normalizer ? s->normalizer : "null",
        s->pre_tokenizer ? s->pre_tokenizer : "null",
        s->post_processor ? s->post_processor : "null", s->decoder ? s->decoder : "null",
        s->model_extra ? s->model_extra : "", s->model_extra ? "," : "", vocab_json);
    json_node_unref(parse(json)); /* the test's own JSON is well-formed */
    char *dir = g_dir_make_tmp("tgfmt-XXXXXX", NULL);
    cr_assert_not_null(dir);
    g_free(write_text(dir, "tokenizer.json", json));
    if (s->config)
        g_free(write_text(dir, "tokenizer_config.json", s->config));
    g_free(json);
    g_free(vocab_json);
    g_free(added_json);
    return dir;
}

static void drop_dir(char *dir)
{
    const char *names[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char *p = g_build_filename(dir, names[i], NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(dir);
    g_free(dir);
}

static tg_tokenizer *load_spec(const spec *s)
{
    char *dir = write_spec(s);
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s", tg_error_last());
    drop_dir(dir);
    return tok;
}

/* Loading fails with `want` and a message holding `msg` and naming the file. */
static void load_fails(const spec *s, tg_status want, const char *msg)
{
    char *dir = write_spec(s);
    tg_tokenizer *tok = NULL;
    tg_status st = tg_tokenizer_load(&tok, dir, NULL);
    cr_assert_eq(st, want, "status %d (%s), want %d (\"%s\")", st, tg_error_last(), want, msg);
    cr_assert_null(tok);
    cr_assert(strstr(tg_error_last(), msg), "message \"%s\" lacks \"%s\"", tg_error_last(), msg);
    cr_assert(strstr(tg_error_last(), dir), "message \"%s\" does not name the file",
              tg_error_last());
    drop_dir(dir);
}

/* The pieces `text` encodes to, joined by '|'. */
static char *pieces_of(const tg_tokenizer *tok, const char *text, uint32_t flags)
{
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, text, TG_NUL_TERMINATED, flags), TG_OK, "%s",
                 tg_error_last());
    GString *s = g_string_new("");
    for (size_t i = 0; i < n; i++) {
        const char *p = NULL;
        cr_assert_eq(tg_tokenizer_token_to_piece(&p, NULL, tok, ids[i]), TG_OK);
        g_string_append_printf(s, "%s%s", i ? "|" : "", p);
    }
    free(ids);
    return g_string_free(s, FALSE);
}

static void expect_pieces(const tg_tokenizer *tok, const char *text, uint32_t flags,
                          const char *want)
{
    char *got = pieces_of(tok, text, flags);
    cr_assert_str_eq(got, want, "\"%s\": got \"%s\", want \"%s\"", text, got, want);
    g_free(got);
}

static void expect_decode(const tg_tokenizer *tok, const char *const *pieces, uint32_t flags,
                          const char *want)
{
    int32_t ids[16];
    size_t n = 0;
    for (; pieces[n]; n++)
        cr_assert_eq(tg_tokenizer_piece_to_token(&ids[n], tok, pieces[n], TG_NUL_TERMINATED), TG_OK,
                     "no piece \"%s\"", pieces[n]);
    char *text = NULL;
    cr_assert_eq(tg_tokenizer_decode(&text, NULL, tok, ids, n, flags), TG_OK, "%s",
                 tg_error_last());
    cr_assert_str_eq(text, want, "decode: got \"%s\", want \"%s\"", text, want);
    tg_free(text);
    check_stream(tok, ids, n, flags);
}

#define SPLIT(pattern, behavior, invert)                                                           \
    "{\"type\":\"Split\",\"pattern\":" pattern ",\"behavior\":\"" behavior "\",\"invert\":" invert \
    "}"
/* \w+|[^\w\s]+ of HF's test, without \w (refused: Oniguruma's and PCRE2's differ) */
#define WORDS "{\"Regex\":\"[\\\\p{L}\\\\p{N}_]+|[^\\\\p{L}\\\\p{N}_\\\\s]+\"}"
#define SPACE "{\"String\":\" \"}"
#define SP "\xE2\x96\x81" /* U+2581 */

/* ---- Split ---- */

Test(tokenizer_formats, split_behaviors_inverted)
{
    /* HF's split.rs "basic": the regex finds the words, invert = true */
    static const char *const pieces[] = {"How",  "are",    "you",    "doing", "?",
                                         " ",    "How ",   "are ",   "you ",  " are",
                                         " you", " doing", "doing?", NULL};
    static const char *const behaviors[] = {"Removed", "Isolated", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
    static const char *const want[] = {"How|are|you|doing|?", "How| |are| |you| |doing|?",
                                       "How |are |you |doing|?", "How| are| you| doing|?",
                                       "How| |are| |you| |doing?"};
    for (int b = 0; b < 5; b++) {
        char *pre = g_strdup_printf("{\"type\":\"Split\",\"pattern\":" WORDS
                                    ",\"behavior\":\"%s\",\"invert\":true}",
                                    behaviors[b]);
        spec s = {.pre_tokenizer = pre, .pieces = pieces};
        tg_tokenizer *tok = load_spec(&s);
        expect_pieces(tok, "How are you doing?", 0, want[b]);
        tg_tokenizer_free(tok);
        g_free(pre);
    }
}

Test(tokenizer_formats, split_behaviors_literal)
{
    static const char *const pieces[] = {"a", "b", " ", "a ", " b", "  ", NULL};
    static const struct {
        const char *behavior, *want;
    } cases[] = {{"Removed", "a|b"},
                 {"Isolated", "a| | |b"},
                 {"MergedWithPrevious", "a | |b"}, /* a match after a match stays alone */
                 {"MergedWithNext", "a| | b"},
                 {"Contiguous", "a|  |b"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *pre = g_strdup_printf("{\"type\":\"Split\",\"pattern\":" SPACE
                                    ",\"behavior\":\"%s\",\"invert\":false}",
                                    cases[k].behavior);
        spec s = {.pre_tokenizer = pre, .pieces = pieces};
        tg_tokenizer *tok = load_spec(&s);
        expect_pieces(tok, "a  b", 0, cases[k].want);
        tg_tokenizer_free(tok);
        g_free(pre);
    }
}

Test(tokenizer_formats, split_regex_equals_literal_and_invert)
{
    /* split.rs "regex_string" and "invert" */
    static const char *const pieces[] = {"Hey,", "man!", "Hello", NULL};
    const char *pres[] = {SPLIT("{\"Regex\":\"\\\\s+\"}", "Removed", "false"),
                          SPLIT(SPACE, "Removed", "false")};
    for (int i = 0; i < 2; i++) {
        spec s = {.pre_tokenizer = pres[i], .pieces = pieces};
        tg_tokenizer *tok = load_spec(&s);
        expect_pieces(tok, "Hey, man!", 0, "Hey,|man!");
        expect_pieces(tok, "Hello Hello Hello", 0, "Hello|Hello|Hello");
        tg_tokenizer_free(tok);
    }
    spec s = {.pre_tokenizer = SPLIT("{\"String\":\"Hello\"}", "Removed", "true"),
              .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    expect_pieces(tok, "Hello Hello Hello", 0, "Hello|Hello|Hello");
    tg_tokenizer_free(tok);
}

Test(tokenizer_formats, split_sequence_and_invalid_utf8)
{
    /* two Splits in a Sequence, then ByteLevel; invalid UTF-8 reaches the regex as U+FFFD (an
     * "other" character) and comes back as its own bytes */
    char *gpt2 = data_path("tokenizer/gpt2/tokenizer.json");
    JsonParser *p = json_parser_new();
    cr_assert(json_parser_load_from_file(p, gpt2, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    json_object_set_member(
        root, "pre_tokenizer",
        parse("{\"type\":\"Sequence\",\"pretokenizers\":["
              "{\"type\":\"Split\",\"pattern\":{\"String\":\"\\n\"},\"behavior\":\"Isolated\","
              "\"invert\":false},"
              "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}+|\\\\p{N}|[^\\\\p{L}\\\\p{N}]+"
              "\"},"
              "\"behavior\":\"Isolated\",\"invert\":false},"
              "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}"));
    char *dir = g_dir_make_tmp("tgfmt-XXXXXX", NULL);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(p));
    cr_assert(json_generator_to_file(gen, path, NULL));
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, path, NULL), TG_OK, "%s", tg_error_last());
    /* the ids are GPT-2's of the words the two Splits make: "\n" alone, then letters, single
     * digits and the rest; invalid bytes are "the rest" */
    tg_tokenizer *gpt2_tok = load_gpt2(0);
    const char bad[] = "ab\xff\xfe"
                       "cd\xe2\x82";
    const struct {
        const char *text;
        const char *words[8];
    } cases[] = {{"hello12 world\n", {"hello", "1", "2", " ", "world", "\n"}},
                 {bad, {"ab", "\xff\xfe", "cd", "\xe2\x82"}}};
    for (int c = 0; c < 2; c++) {
        GArray *want = g_array_new(FALSE, FALSE, sizeof(int32_t));
        for (int w = 0; cases[c].words[w]; w++) {
            int32_t *wi = NULL;
            size_t wn = 0;
            cr_assert_eq(
                tg_tokenizer_encode(&wi, &wn, gpt2_tok, cases[c].words[w], TG_NUL_TERMINATED, 0),
                TG_OK);
            g_array_append_vals(want, wi, (guint)wn);
            free(wi);
        }
        expect_ids(tok, cases[c].text, strlen(cases[c].text), 0, (const int32_t *)want->data,
                   want->len);
        g_array_free(want, TRUE);
    }
    tg_tokenizer_free(gpt2_tok);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, bad, sizeof bad - 1, 0), TG_OK);
    char *text = NULL;
    size_t tl = 0;
    cr_assert_eq(tg_tokenizer_decode(&text, &tl, tok, ids, n, TG_DECODE_RAW_BYTES), TG_OK);
    cr_assert(tl == sizeof bad - 1 && memcmp(text, bad, tl) == 0);
    tg_free(text);
    free(ids);
    tg_tokenizer_free(tok);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
    g_object_unref(gen);
    g_object_unref(p);
    g_free(gpt2);
}

/* ---- Metaspace ---- */

static const char *const meta_pieces[] = {
    SP "Hey", SP "friend!", SP "friend", "Hey", SP, SP "Hey" SP "friend", "friend", "<s>", NULL};
static const char *const meta_added =
    "[{\"content\":\"<s>\",\"special\":true,\"normalized\":false}]";

Test(tokenizer_formats, metaspace_pre_tokenizer)
{
    static const struct {
        const char *pre, *text, *want;
    } cases[] = {
        /* metaspace.rs "basic" and "multiple_spaces" */
        {"{\"type\":\"Metaspace\",\"replacement\":\"" SP "\",\"prepend_scheme\":\"always\","
         "\"split\":true}",
         "Hey friend!", SP "Hey|" SP "friend!"},
        {"{\"type\":\"Metaspace\",\"replacement\":\"" SP "\",\"prepend_scheme\":\"always\","
         "\"split\":true}",
         "Hey   friend!", SP "Hey|" SP "|" SP "|" SP "friend!"},
        /* a text starting with a space is not given a second one */
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"always\",\"split\":true}", " Hey", SP "Hey"},
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"never\",\"split\":true}", "Hey friend!",
         "Hey|" SP "friend!"},
        /* no split: one word */
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"always\",\"split\":false}", "Hey friend",
         SP "Hey" SP "friend"},
        /* older files: add_prefix_space instead of prepend_scheme */
        {"{\"type\":\"Metaspace\",\"add_prefix_space\":false}", "Hey friend!", "Hey|" SP "friend!"},
        /* "first": only the stretch that starts the text; "always": each stretch */
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"first\",\"split\":true}", "Hey<s>friend",
         SP "Hey|<s>|friend"},
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"always\",\"split\":true}", "Hey<s>friend",
         SP "Hey|<s>|" SP "friend"},
        {"{\"type\":\"Metaspace\",\"prepend_scheme\":\"first\",\"split\":true}", "<s>Hey",
         "<s>|Hey"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        spec s = {.pre_tokenizer = cases[k].pre, .pieces = meta_pieces, .added_tokens = meta_added};
        tg_tokenizer *tok = load_spec(&s);
        expect_pieces(tok, cases[k].text, TG_ENCODE_ALLOW_SPECIAL, cases[k].want);
        tg_tokenizer_free(tok);
    }
}

Test(tokenizer_formats, metaspace_decoder)
{
    spec s = {.pre_tokenizer = "{\"type\":\"Metaspace\",\"prepend_scheme\":\"always\"}",
              .decoder = "{\"type\":\"Metaspace\",\"replacement\":\"" SP
                         "\",\"prepend_scheme\":\"always\"}",
              .pieces = meta_pieces,
              .added_tokens = meta_added};
    tg_tokenizer *tok = load_spec(&s);
    const char *const a[] = {SP "Hey", SP "friend!", NULL};
    expect_decode(tok, a, 0, "Hey friend!");
    /* HF drops every "▁" of the first token, not only a leading one */
    const char *const b[] = {SP, SP "Hey", NULL};
    expect_decode(tok, b, 0, " Hey");
    /* the first token is the first one decoded: a special one unless skipped */
    const char *const c[] = {"<s>", SP "Hey", NULL};
    expect_decode(tok, c, 0, "<s> Hey");
    expect_decode(tok, c, TG_DECODE_SKIP_SPECIAL, "Hey");
    tg_tokenizer_free(tok);

    s.decoder = "{\"type\":\"Metaspace\",\"prepend_scheme\":\"never\"}";
    tok = load_spec(&s);
    expect_decode(tok, a, 0, " Hey friend!");
    tg_tokenizer_free(tok);
}

/* ---- decoders ---- */

Test(tokenizer_formats, strip_and_replace_decoders)
{
    static const char *const pieces[] = {"_a_", "b__", "__c", NULL};
    /* per token (before Fuse): strip one "_" from each end, then "_" -> "-" */
    spec s = {.decoder = "{\"type\":\"Sequence\",\"decoders\":["
                         "{\"type\":\"Strip\",\"content\":\"_\",\"start\":1,\"stop\":1},"
                         "{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},\"content\":\"-\"},"
                         "{\"type\":\"Fuse\"}]}",
              .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    const char *const t[] = {"_a_", "b__", "__c", NULL};
    expect_decode(tok, t, 0, "ab--c"); /* "a" "b_" "_c", then "_" -> "-" */
    tg_tokenizer_free(tok);
    /* after Fuse: up to two "_" from the start of the whole text */
    s.decoder = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},"
                "{\"type\":\"Strip\",\"content\":\"_\",\"start\":2,\"stop\":0}]}";
    tok = load_spec(&s);
    const char *const u[] = {"__c", "_a_", NULL};
    expect_decode(tok, u, 0, "c_a_");
    const char *const w[] = {"_a_", "__c", NULL};
    expect_decode(tok, w, 0, "a___c");
    tg_tokenizer_free(tok);
}

Test(tokenizer_formats, byte_fallback_decoder)
{
    /* <0xNN> tokens are bytes: a character split across them comes out whole (also when
     * streaming), a broken sequence as U+FFFD */
    static const char *const pieces[] = {"<0xE2>", "<0x82>", "<0xAC>", "<0x41>", "x", NULL};
    spec s = {.decoder = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                         "{\"type\":\"Fuse\"}]}",
              .model_extra = "\"byte_fallback\":true",
              .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    const char *const euro[] = {"<0xE2>", "<0x82>", "<0xAC>", "<0x41>", NULL};
    expect_decode(tok, euro, 0,
                  "\xE2\x82\xAC"
                  "A");
    const char *const broken[] = {"<0xE2>", "x", "<0x82>", NULL};
    expect_decode(tok, broken, 0,
                  "\xEF\xBF\xBD"
                  "x\xEF\xBF\xBD");
    /* text "<0x41>" is six characters, not the byte token; but ignore_merges looks the whole
     * word up in the vocabulary, byte tokens included, as HF does */
    expect_pieces(tok, "<0x41>x", 0, "<|0|x|4|1|>|x");
    expect_pieces(tok, "<0x41>", 0, "<0x41>");
    tg_tokenizer_free(tok);
}

/* ---- normalizers ---- */

Test(tokenizer_formats, normalizers)
{
    static const char *const pieces[] = {"e\xCC\x81", "\xC3\xA9", "fi", "a_b_c", "x", NULL};
    spec s = {.normalizer = "{\"type\":\"NFD\"}", .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    expect_pieces(tok, "\xC3\xA9", 0, "e\xCC\x81"); /* é -> e + U+0301, one token */
    tg_tokenizer_free(tok);
    s.normalizer = "{\"type\":\"NFKC\"}";
    tok = load_spec(&s);
    expect_pieces(tok, "\xEF\xAC\x81", 0, "fi");    /* ﬁ -> fi */
    expect_pieces(tok, "e\xCC\x81", 0, "\xC3\xA9"); /* composed */
    tg_tokenizer_free(tok);
    s.normalizer = "{\"type\":\"NFKD\"}";
    tok = load_spec(&s);
    expect_pieces(tok, "\xEF\xAC\x81\xC3\xA9", 0, "f|i|e|\xCC\x81");
    tg_tokenizer_free(tok);
    /* a regex Replace, then a literal one, then Prepend (not to an empty text) */
    s.normalizer = "{\"type\":\"Sequence\",\"normalizers\":["
                   "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\"_\"},"
                   "{\"type\":\"Replace\",\"pattern\":{\"String\":\"y\"},\"content\":\"\"},"
                   "{\"type\":\"Prepend\",\"prepend\":\"x\"}]}";
    tok = load_spec(&s);
    expect_pieces(tok, "a \t b\nyc", 0, "x|a|_|b|_|c"); /* "xa_b_c" is not a token */
    expect_pieces(tok, "", 0, "");
    tg_tokenizer_free(tok);
}

/* ---- added tokens ---- */

Test(tokenizer_formats, added_token_strip_flags)
{
    static const char *const pieces[] = {"a", "b", " b", "a ", "<", "r", ">", NULL};
    spec s = {.added_tokens = "[{\"content\":\"<l>\",\"special\":false,\"lstrip\":true,"
                              "\"normalized\":false},{\"content\":\"<r>\",\"special\":true,"
                              "\"rstrip\":true,\"normalized\":false}]",
              .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    /* lstrip takes the spaces before it, rstrip those after it (White_Space: \t, U+3000) */
    expect_pieces(tok, "a \t <l> b", 0, "a|<l>| b");
    expect_pieces(tok, "a <r>\xE3\x80\x80 b", TG_ENCODE_ALLOW_SPECIAL, "a |<r>|b");
    /* a special token that is not allowed is text, and strips nothing (one word: no
     * pre-tokenizer) */
    expect_pieces(tok, "a <r> b", 0, "a| |<|r|>| |b");
    tg_tokenizer_free(tok);
}

Test(tokenizer_formats, added_tokens_raw_pass_first)
{
    /* HF matches tokens with normalized = false in the raw text first, then those with
     * normalized = true in what is left, after normalization: "bc" wins over "abc" */
    static const char *const pieces[] = {"a", "b", "c", "x", NULL};
    spec s = {.added_tokens = "[{\"content\":\"abc\",\"normalized\":true},"
                              "{\"content\":\"bc\",\"normalized\":false}]",
              .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    expect_pieces(tok, "xabc", 0, "x|a|bc");
    expect_pieces(tok, "xab", 0, "x|a|b");
    tg_tokenizer_free(tok);
    /* a normalized token is matched as its normalized text: NFKC makes "ﬁ" of both */
    s.normalizer = "{\"type\":\"NFKC\"}";
    s.added_tokens = "[{\"content\":\"\xEF\xAC\x81\",\"normalized\":true}]";
    static const char *const p2[] = {"f", "i", "x", "y", NULL};
    s.pieces = p2;
    tok = load_spec(&s);
    expect_pieces(tok, "xfiy", 0, "x|\xEF\xAC\x81|y");
    expect_pieces(tok, "x\xEF\xAC\x81y", 0, "x|\xEF\xAC\x81|y");
    tg_tokenizer_free(tok);
}

/* ---- unk and byte fallback ---- */

Test(tokenizer_formats, unk_and_fuse_unk)
{
    static const char *const pieces[] = {"<unk>", "a", "b", "<0x0A>", NULL};
    spec s = {.model_extra = "\"unk_token\":\"<unk>\",\"fuse_unk\":false", .pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    expect_pieces(tok, "azyb", 0, "a|<unk>|<unk>|b"); /* z and y are not in the vocabulary */
    tg_tokenizer_free(tok);
    s.model_extra = "\"unk_token\":\"<unk>\",\"fuse_unk\":true";
    tok = load_spec(&s);
    expect_pieces(tok, "azyb", 0, "a|<unk>|b");
    expect_pieces(tok, "zy", 0, "<unk>");
    tg_tokenizer_free(tok);
    /* byte fallback where the byte tokens exist (\n), unk where not (é); as in HF, a pending
     * unk is written when a known character (or the end) comes, after byte tokens */
    s.model_extra = "\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true";
    tok = load_spec(&s);
    expect_pieces(tok, "a\nb", 0, "a|<0x0A>|b");
    expect_pieces(tok, "a\xC3\xA9\nb", 0, "a|<0x0A>|<unk>|b");
    tg_tokenizer_free(tok);
    /* no unk_token: a character the vocabulary lacks is an error naming it */
    s.model_extra = NULL;
    tok = load_spec(&s);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "ab\xC3\xA9", TG_NUL_TERMINATED, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "character U+00E9 '\xC3\xA9' at byte offset 2 is not in the "
                                      "vocabulary"),
              "%s", tg_error_last());
    tg_tokenizer_free(tok);
}

/* ---- templates and tokenizer_config.json ---- */

static const char *const tpl_pieces[] = {"<bos>", "<eos>", "<x>", "a", NULL};
static const char *const tpl_added =
    "[{\"id\":0,\"content\":\"<bos>\",\"special\":true},{\"id\":1,\"content\":\"<eos>\","
    "\"special\":true},{\"id\":2,\"content\":\"<x>\",\"special\":true}]";
#define TEMPLATE(single)                                                                           \
    "{\"type\":\"TemplateProcessing\",\"single\":" single ",\"pair\":[],\"special_tokens\":{"      \
    "\"<bos>\":{\"id\":\"<bos>\",\"ids\":[0]},\"<eos>\":{\"id\":\"<eos>\",\"ids\":[1]},"           \
    "\"<x>\":{\"id\":\"<x>\",\"ids\":[2,2]}}}"
#define ST(name) "{\"SpecialToken\":{\"id\":\"" name "\",\"type_id\":0}}"
#define SEQ_A "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}"

static void expect_special(const tg_tokenizer *tok, const char *want)
{
    expect_pieces(tok, "a", TG_ENCODE_ADD_SPECIAL, want);
}

Test(tokenizer_formats, template_and_config)
{
    spec s = {.post_processor =
                  TEMPLATE("[" ST("<bos>") "," ST("<x>") "," SEQ_A "," ST("<eos>") "]"),
              .added_tokens = tpl_added,
              .pieces = tpl_pieces};
    tg_tokenizer *tok = load_spec(&s);
    expect_special(tok, "<bos>|<x>|<x>|a|<eos>"); /* an entry may have several ids */
    expect_pieces(tok, "a", 0, "a");
    tg_tokenizer_free(tok);
    /* tokenizer_config.json: add_bos_token / add_eos_token replace the template */
    s.config = "{\"bos_token\":\"<bos>\",\"eos_token\":{\"content\":\"<eos>\"},"
               "\"add_eos_token\":true}";
    tok = load_spec(&s);
    expect_special(tok, "a|<eos>"); /* add_bos_token absent = false */
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 0);
    cr_assert_eq(tg_tokenizer_bos(tok), 0);
    cr_assert_eq(tg_tokenizer_eos(tok), 1);
    tg_tokenizer_free(tok);
    s.config = "{\"bos_token\":\"<bos>\",\"add_bos_token\":true,\"add_eos_token\":true,"
               "\"eos_token\":null}";
    tok = load_spec(&s);
    expect_special(tok, "<bos>|a"); /* no eos token: add_eos_token does nothing */
    cr_assert_eq(tg_tokenizer_adds_bos(tok), 1);
    cr_assert_eq(tg_tokenizer_eos(tok), TG_TOKEN_NONE);
    tg_tokenizer_free(tok);
    /* the options override bos for the config's template */
    char *dir = write_spec(&s);
    tg_tokenizer_options o = TG_TOKENIZER_OPTIONS_INIT;
    o.bos_id = 2;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, &o), TG_OK, "%s", tg_error_last());
    expect_special(tok, "<x>|a");
    tg_tokenizer_free(tok);
    drop_dir(dir);
    /* post_processor null and no config: nothing added */
    s.post_processor = NULL;
    s.config = NULL;
    tok = load_spec(&s);
    expect_special(tok, "a");
    const int32_t *p, *q;
    size_t np, nq;
    cr_assert_eq(tg_tokenizer_template(&p, &np, &q, &nq, tok), TG_OK);
    cr_assert(np == 0 && nq == 0 && !p && !q);
    tg_tokenizer_free(tok);
}

/* ---- malformed and unsupported components ---- */

Test(tokenizer_formats, bad_components)
{
    static const char *const pieces[] = {"a", "b", NULL};
    static const struct {
        spec s;
        tg_status st;
        const char *msg;
    } cases[] = {
        {{.normalizer = "{\"type\":\"BertNormalizer\"}"},
         TG_EUNSUPPORTED,
         "normalizer \"BertNormalizer\" is not supported"},
        {{.normalizer = "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},"
                        "{\"type\":\"Precompiled\"}]}"},
         TG_EUNSUPPORTED,
         "normalizer.normalizers[1] \"Precompiled\" is not supported"},
        {{.normalizer = "{\"type\":\"Sequence\"}"}, TG_EFORMAT, "normalizer.normalizers must be"},
        {{.normalizer = "{\"type\":\"Prepend\"}"}, TG_EFORMAT, "normalizer.prepend is missing"},
        {{.normalizer = "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\",\"Regex\":\"b\"},"
                        "\"content\":\"\"}"},
         TG_EFORMAT,
         "exactly one of \"String\" and \"Regex\""},
        {{.normalizer = "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"x\"}"},
         TG_EFORMAT,
         "normalizer.pattern is empty"},
        {{.normalizer = "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"}}"},
         TG_EFORMAT,
         "normalizer.content is missing"},
        {{.normalizer = "[1]"}, TG_EFORMAT, "normalizer must be an object with a string \"type\""},
        {{.pre_tokenizer = "{\"type\":\"Digits\"}"},
         TG_EUNSUPPORTED,
         "pre_tokenizer \"Digits\" is not supported"},
        {{.pre_tokenizer = SPLIT(SPACE, "Sideways", "false")},
         TG_EFORMAT,
         "pre_tokenizer.behavior \"Sideways\" is not one of"},
        {{.pre_tokenizer = "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},"
                           "\"behavior\":\"Isolated\",\"invert\":1}"},
         TG_EFORMAT,
         "pre_tokenizer.invert must be true or false"},
        {{.pre_tokenizer = "{\"type\":\"Split\",\"behavior\":\"Isolated\"}"},
         TG_EFORMAT,
         "pre_tokenizer.pattern must be an object"},
        {{.pre_tokenizer = SPLIT("{\"Regex\":\"\\\\w+\"}", "Isolated", "false")},
         TG_EUNSUPPORTED,
         "regex \"\\w+\": \\w at offset 0 is not supported"},
        {{.pre_tokenizer = SPLIT("{\"Regex\":\"(a\"}", "Isolated", "false")},
         TG_EUNSUPPORTED,
         "does not compile with PCRE2"},
        {{.pre_tokenizer = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},"
                           "{\"type\":\"Metaspace\"}]}"},
         TG_EUNSUPPORTED,
         "a step after ByteLevel is not supported"},
        {{.pre_tokenizer = "{\"type\":\"Metaspace\",\"prepend_scheme\":\"sometimes\"}"},
         TG_EFORMAT,
         "pre_tokenizer.prepend_scheme \"sometimes\" is not one of always, first, never"},
        {{.pre_tokenizer = "{\"type\":\"Metaspace\",\"replacement\":\"__\"}"},
         TG_EFORMAT,
         "pre_tokenizer.replacement must be a single character"},
        {{.decoder = "{\"type\":\"WordPiece\"}"},
         TG_EUNSUPPORTED,
         "decoder \"WordPiece\" is not supported"},
        {{.decoder = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                     "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"b\"}]}"},
         TG_EUNSUPPORTED,
         "decoder.decoders[1]: a Replace after ByteFallback is not supported"},
        {{.decoder = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},{\"type\":\"Strip\","
                     "\"content\":\" \",\"start\":0,\"stop\":1}]}"},
         TG_EUNSUPPORTED,
         "after Fuse only one Strip of an ASCII character from the start"},
        {{.decoder = "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a\"},\"content\":\"b\"}"},
         TG_EUNSUPPORTED,
         "a Replace decoder with a Regex pattern is not supported"},
        {{.decoder = "{\"type\":\"ByteLevel\"}"},
         TG_EUNSUPPORTED,
         "decoder \"ByteLevel\" is not supported without a ByteLevel pre_tokenizer"},
        {{.post_processor = "{\"type\":\"BertProcessing\",\"sep\":[\"a\",0],\"cls\":[\"b\",1]}"},
         TG_EUNSUPPORTED,
         "post_processor \"BertProcessing\" is not supported"},
        {{.post_processor = "{\"type\":\"TemplateProcessing\",\"single\":[" ST(
              "a") "],"
                   "\"special_tokens\":{\"a\":{\"ids\":[0]}}}"},
         TG_EFORMAT,
         "post_processor.single has no sequence \"A\""},
        {{.post_processor =
              "{\"type\":\"TemplateProcessing\",\"single\":[" ST("q") "," SEQ_A "],"
                                                                      "\"special_tokens\":{}}"},
         TG_EFORMAT,
         "special token \"q\" has no entry with \"ids\" in special_tokens"},
        {{.post_processor = "{\"type\":\"TemplateProcessing\",\"single\":[" ST(
              "a") "," SEQ_A "],"
                   "\"special_tokens\":{\"a\":{\"ids\":[7]}}}"},
         TG_EFORMAT,
         "post_processor.special_tokens[\"a\"]: id 7 is outside the vocabulary [0, 2)"},
        {{.post_processor = "{\"type\":\"TemplateProcessing\",\"single\":[" SEQ_A ","
                            "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],\"special_tokens\":{}}"},
         TG_EUNSUPPORTED,
         "only one sequence \"A\" is supported"},
        {{.added_tokens = "[{\"id\":2,\"content\":\"<w>\",\"single_word\":true}]"},
         TG_EUNSUPPORTED,
         "added_tokens[0] (\"<w>\"): single_word = true is not supported"},
        {{.added_tokens = "[{\"id\":2,\"content\":\"<w>\",\"lstrip\":\"yes\"}]"},
         TG_EFORMAT,
         "added_tokens[0].lstrip must be true or false"},
        {{.model_extra = "\"byte_fallback\":\"yes\""},
         TG_EFORMAT,
         "model.byte_fallback must be true or false"},
        {{.model_extra = "\"continuing_subword_prefix\":\"##\""},
         TG_EUNSUPPORTED,
         "model.continuing_subword_prefix is not supported"},
        {{.config = "{\"bos_token\":\"<nope>\"}"},
         TG_EFORMAT,
         "tokenizer_config.json: bos_token \"<nope>\" is not in the vocabulary"},
        {{.config = "{\"eos_token\":7}"},
         TG_EFORMAT,
         "tokenizer_config.json: eos_token must be a string, an object"},
        {{.config = "{\"add_bos_token\":\"true\"}"},
         TG_EFORMAT,
         "tokenizer_config.json: add_bos_token must be true or false"},
        {{.config = "[]"},
         TG_EFORMAT,
         "tokenizer_config.json: the top level must be a JSON object"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        spec s = cases[k].s;
        s.pieces = pieces;
        load_fails(&s, cases[k].st, cases[k].msg);
    }
}

Test(tokenizer_formats, encode_flags)
{
    static const char *const pieces[] = {"a", NULL};
    spec s = {.pieces = pieces};
    tg_tokenizer *tok = load_spec(&s);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, "a", 1, 1u << 7), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "unknown flags 0x80"), "%s", tg_error_last());
    const int32_t *p, *q;
    size_t np, nq;
    cr_assert_eq(tg_tokenizer_template(NULL, &np, &q, &nq, tok), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_template(&p, &np, &q, &nq, NULL), TG_EINVAL);
    cr_assert_eq(tg_tokenizer_adds_bos(NULL), 0);
    tg_tokenizer_free(tok);
}
