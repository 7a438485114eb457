/* White-box tests of lib/tokenizer: compiled together with the tokenizer's sources (its
 * internal symbols are not exported by libtextgen.so). */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "tok_testutil.h"
#include "tokenizer/tokenizer_internal.h"

Test(tokenizer_internal, vectors_through_merges_only)
{
    /* Without the whole-piece lookup every pre-token goes through the BPE merges. */
    for (int form = 0; form < 2; form++) {
        tg_tokenizer *tok = load_gpt2(form);
        cr_assert(tok->whole_piece_exact, "GPT-2 should allow the whole-piece lookup");
        tok->whole_piece_exact = 0;
        check_vectors(tok, form ? "vocab.json, merges only" : "tokenizer.json, merges only");
        tg_tokenizer_free(tok);
    }
}

Test(tokenizer_internal, every_token_encodes_to_itself)
{
    tg_tokenizer *tok = load_gpt2(0);
    cr_assert(tg__bpe_check_whole_pieces(tok));
    tg_tokenizer_free(tok);
}

Test(tokenizer_internal, load_dir_found)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("tgtok-XXXXXX", &err);
    cr_assert_not_null(dir);
    tg_tokenizer *tok = (tg_tokenizer *)1;
    int found = -1;
    /* an empty folder: no tokenizer, which is not an error for a model */
    cr_assert_eq(tg__tokenizer_load_dir(&tok, dir, NULL, &found), TG_OK);
    cr_assert_eq(found, 0);
    cr_assert_null(tok);
    /* half a pair: found, and an error naming the missing file */
    char *m = g_build_filename(dir, "merges.txt", NULL);
    cr_assert(g_file_set_contents(m, "#version: 0.2\n", -1, NULL));
    cr_assert_eq(tg__tokenizer_load_dir(&tok, dir, NULL, &found), TG_ENOTFOUND);
    cr_assert_eq(found, 1);
    cr_assert(strstr(tg_error_last(), "'merges.txt' has no 'vocab.json' beside it"), "%s",
              tg_error_last());
    g_remove(m);
    g_free(m);
    g_rmdir(dir);
    g_free(dir);
    /* the GPT-2 folder: tokenizer.json is preferred */
    char *gpt2 = data_path("tokenizer/gpt2");
    cr_assert_eq(tg__tokenizer_load_dir(&tok, gpt2, NULL, &found), TG_OK, "%s", tg_error_last());
    cr_assert_eq(found, 1);
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 50257);
    tg_tokenizer_free(tok);
    g_free(gpt2);
}

static void sanitize_eq(const char *in, size_t n, int final, const char *want, size_t want_used)
{
    tg__buf b = {0};
    size_t used = tg__utf8_sanitize(&b, (const unsigned char *)in, n, final);
    cr_assert_eq(used, want_used);
    cr_assert_eq(b.len, strlen(want));
    cr_assert(memcmp(b.data, want, b.len) == 0);
    free(b.data);
}

#define FFFD "\xef\xbf\xbd"

Test(tokenizer_internal, utf8_maximal_subparts)
{
    /* Unicode §3.9 / WHATWG examples: one U+FFFD per maximal subpart */
    sanitize_eq("a\x80"
                "b",
                3, 1, "a" FFFD "b", 3);
    sanitize_eq("\xe2\x82", 2, 1, FFFD, 2); /* truncated 3-byte: one */
    sanitize_eq("\xe2\x82", 2, 0, "", 0);   /* ... or held when not final */
    sanitize_eq("\xe2\x82"
                "a",
                3, 0, FFFD "a", 3);                                /* broken by 'a' */
    sanitize_eq("\xed\xa0\x80", 3, 1, FFFD FFFD FFFD, 3);          /* surrogate: ED then 2 strays */
    sanitize_eq("\xc0\xaf", 2, 1, FFFD FFFD, 2);                   /* overlong */
    sanitize_eq("\xf4\x90\x80\x80", 4, 1, FFFD FFFD FFFD FFFD, 4); /* > U+10FFFF */
    sanitize_eq("\xf0\x9f\x8c", 3, 0, "", 0);
    sanitize_eq("\xf0\x9f\x8c\x8d", 4, 0, "\xf0\x9f\x8c\x8d", 4);
    sanitize_eq("\xf0\x9f\x8c", 3, 1, FFFD, 3);
    sanitize_eq("\xff\xfe", 2, 0, FFFD FFFD, 2);
    sanitize_eq("ok\xe6\x97", 4, 0, "ok", 2);
}

Test(tokenizer_internal, heap_merge_equals_linear_merge)
{
    /* Encode uses a cached linear scan up to 64 symbols and a heap above; both must give the
     * plain "lowest rank, leftmost" result on any word. */
    tg_tokenizer *tok = load_gpt2(0);
    GRand *r = g_rand_new_with_seed(7);
    const char *bits[] = {"ab", "th", "e", "in", "er", " ", "x", "qu", "ing", "ou", "==", "\n"};
    for (int iter = 0; iter < 600; iter++) {
        GString *s = g_string_new("");
        int n = g_rand_int_range(r, 1, iter < 300 ? 40 : 400);
        for (int i = 0; i < n; i++)
            g_string_append(s, bits[g_rand_int_range(r, 0, 12)]);
        size_t len = s->len;
        int32_t *w[3];
        size_t nw[3];
        for (int algo = 0; algo < 3; algo++) {
            w[algo] = malloc(sizeof(int32_t) * len);
            for (size_t i = 0; i < len; i++)
                w[algo][i] = tok->byte_id[(unsigned char)s->str[i]];
            cr_assert(tg__bpe_merge(&tok->merges, w[algo], len, &nw[algo], algo));
        }
        for (int algo = 1; algo < 3; algo++) {
            cr_assert_eq(nw[algo], nw[0], "algo %d: %zu symbols, auto: %zu", algo, nw[algo], nw[0]);
            cr_assert(memcmp(w[algo], w[0], nw[0] * sizeof(int32_t)) == 0, "algo %d differs", algo);
        }
        for (int algo = 0; algo < 3; algo++)
            free(w[algo]);
        g_string_free(s, TRUE);
    }
    g_rand_free(r);
    tg_tokenizer_free(tok);
}

/* ---- Split regexes: Oniguruma syntax to PCRE2 ---- */

static void translates(const char *onig, const char *pcre)
{
    char *out = NULL;
    cr_assert_eq(tg__regex_translate(&out, onig, "t"), TG_OK, "%s: %s", onig, tg_error_last());
    cr_assert_str_eq(out, pcre, "\"%s\" -> \"%s\", want \"%s\"", onig, out, pcre);
    g_free(out);
}

static void refused(const char *onig, tg_status st, const char *msg)
{
    char *out = NULL;
    cr_assert_eq(tg__regex_translate(&out, onig, "t"), st, "%s", onig);
    cr_assert_null(out);
    cr_assert(strstr(tg_error_last(), msg), "\"%s\": %s", onig, tg_error_last());
}

Test(tokenizer_internal, regex_translation)
{
    /* Llama 3's pattern: only \s changes */
    translates("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
               "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
               "?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*|\\p{White_Space}*[\\r\\n]+|"
               "\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+");
    translates("a.b", "a[^\\n]b");
    translates("[.]", "[.]");
    translates("^x$", "(?<![^\\n])x(?![^\\n])");
    translates("[^a$]", "[^a$]");
    translates("a{,3}b{2,}c{1}", "a{0,3}b{2,}c{1}");
    translates("\\u00e9\\v\\x{1F600}\\p{^L}", "\\x{00e9}\\x0B\\x{1F600}\\p{^L}");
    translates("[]a]", "[]a]");
    translates("\\d+\\.\\\\(?<n>x)\\k<n>(?-i:y)", "\\d+\\.\\\\(?<n>x)\\k<n>(?-i:y)");
    refused("\\w+", TG_EUNSUPPORTED, "\\w at offset 0");
    refused("a\\b", TG_EUNSUPPORTED, "\\b at offset 1");
    refused("\\h", TG_EUNSUPPORTED, "\\h at offset 0");
    refused("[[:alpha:]]", TG_EUNSUPPORTED, "a nested class or POSIX bracket");
    refused("[a-z&&[^q]]", TG_EUNSUPPORTED, "class intersection &&");
    refused("(?m:.)", TG_EUNSUPPORTED, "an option group other than (?i)");
    refused("(?~ab)", TG_EUNSUPPORTED, "the absent operator");
    refused("\\q", TG_EUNSUPPORTED, "\\q at offset 0");
    refused("ab\\", TG_EFORMAT, "ends with a lone backslash");
    refused("[ab", TG_EFORMAT, "unterminated character class");
    refused("\\u12", TG_EFORMAT, "\\u at offset 0 needs 4 hex digits");
    refused("\\p{L", TG_EFORMAT, "unterminated \\p{");
}

/* Characters on which GLib's tables (Unicode 15.0) and PCRE2's (10.42: Unicode 14.0) agree
 * about \p{L}, \p{N} and White_Space. */
typedef struct classes {
    GRegex *l, *n, *s;
} classes;

static int same_class(const classes *c, gunichar ch)
{
    char u[8];
    int k = g_unichar_to_utf8(ch, u);
    GUnicodeType t = g_unichar_type(ch);
    int gl = t == G_UNICODE_LOWERCASE_LETTER || t == G_UNICODE_MODIFIER_LETTER ||
             t == G_UNICODE_OTHER_LETTER || t == G_UNICODE_TITLECASE_LETTER ||
             t == G_UNICODE_UPPERCASE_LETTER;
    int gn = t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER ||
             t == G_UNICODE_OTHER_NUMBER;
    return gl == g_regex_match_full(c->l, u, k, 0, 0, NULL, NULL) &&
           gn == g_regex_match_full(c->n, u, k, 0, 0, NULL, NULL) &&
           tg__is_white_space(ch) == g_regex_match_full(c->s, u, k, 0, 0, NULL, NULL);
}

/* The same tokenizer with its pre-tokenizer's GPT-2 pattern run by GRegex instead. */
static tg_tokenizer *gpt2_through_gregex(void)
{
    tg_tokenizer *tok = load_gpt2(0);
    cr_assert_eq(tok->n_pre, 1);
    tg__pretok *p = &tok->pre[0];
    cr_assert(p->kind == TG__PRE_BYTELEVEL && p->use_regex);
    p->use_regex = 0;
    /* prepend a Split step with the pattern compiled by GRegex */
    tg__pretok *steps = calloc(2, sizeof *steps);
    steps[0].kind = TG__PRE_SPLIT;
    steps[0].scanner = TG__SCAN_REGEX;
    steps[0].behavior = TG__SPLIT_ISOLATED;
    cr_assert_eq(tg__regex_compile(&steps[0].re, tg__gpt2_pattern, "gpt2"), TG_OK, "%s",
                 tg_error_last());
    steps[1] = *p;
    free(tok->pre);
    tok->pre = steps;
    tok->n_pre = 2;
    return tok;
}

Test(tokenizer_internal, gpt2_scanner_equals_gregex)
{
    /* GPT-2's hand-written scanner and its pattern through GRegex (with \s rewritten to
     * White_Space) give the same ids: on every GPT-2 vector, and on random text with invalid
     * UTF-8, U+0085 / U+FEFF / U+180E and characters from all planes. */
    tg_tokenizer *fast = load_gpt2(0), *re = gpt2_through_gregex();
    check_vectors(re, "GPT-2 pattern through GRegex");
    classes c;
    c.l = g_regex_new("^\\p{L}$", G_REGEX_OPTIMIZE, 0, NULL);
    c.n = g_regex_new("^\\p{N}$", G_REGEX_OPTIMIZE, 0, NULL);
    c.s = g_regex_new("^\\p{White_Space}$", G_REGEX_OPTIMIZE, 0, NULL);
    GRand *r = g_rand_new_with_seed(1234);
    const char *bits[] = {" ",
                          "  ",
                          "\t",
                          "\n",
                          "\r\n",
                          "'s",
                          "'LL",
                          "a",
                          "Z",
                          "42",
                          "é",
                          "中",
                          "\xc2\x85",
                          "\xef\xbb\xbf",
                          "\xe1\xa0\x8e",
                          "!?",
                          "\xff",
                          "\xe2\x82",
                          "\xed\xa0\x80",
                          "\xc3"};
    size_t skipped = 0;
    for (int iter = 0; iter < 3000; iter++) {
        GString *s = g_string_new("");
        int n = g_rand_int_range(r, 1, 40);
        for (int i = 0; i < n; i++) {
            if (g_rand_boolean(r)) {
                g_string_append(s, bits[g_rand_int_range(r, 0, G_N_ELEMENTS(bits))]);
                continue;
            }
            gunichar ch = (gunichar)g_rand_int_range(r, 1, 0x30000);
            if (!g_unichar_validate(ch))
                continue;
            if (!same_class(&c, ch)) {
                skipped++;
                continue;
            }
            g_string_append_unichar(s, ch);
        }
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        cr_assert_eq(tg_tokenizer_encode(&a, &na, fast, s->str, s->len, 0), TG_OK);
        cr_assert_eq(tg_tokenizer_encode(&b, &nb, re, s->str, s->len, 0), TG_OK, "%s",
                     tg_error_last());
        cr_assert(na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0),
                  "iteration %d: scanner and GRegex differ", iter);
        free(a);
        free(b);
        g_string_free(s, TRUE);
    }
    cr_log_info("%zu random characters left out: their class differs between GLib's and "
                "PCRE2's Unicode tables",
                skipped);
    g_rand_free(r);
    g_regex_unref(c.l);
    g_regex_unref(c.n);
    g_regex_unref(c.s);
    tg_tokenizer_free(fast);
    tg_tokenizer_free(re);
}

/* ---- SentencePiece words: cut before "▁" ---- */

static tg_tokenizer *load_json(const char *json)
{
    char *dir = g_dir_make_tmp("tgtok-XXXXXX", NULL);
    char *p = g_build_filename(dir, "tokenizer.json", NULL);
    cr_assert(g_file_set_contents(p, json, -1, NULL));
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, p, NULL), TG_OK, "%s", tg_error_last());
    g_remove(p);
    g_rmdir(dir);
    g_free(p);
    g_free(dir);
    return tok;
}

#define SP_JSON(vocab, merges)                                                                     \
    "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96"  \
    "\x81\"},\"model\":{\"type\":\"BPE\",\"vocab\":" vocab ",\"merges\":" merges "}}"

Test(tokenizer_internal, word_cut_only_when_exact)
{
    tg_tokenizer *tok = load_json(SP_JSON("{\"\xE2\x96\x81\":0,\"a\":1,\"\xE2\x96\x81"
                                          "a\":2}",
                                          "[\"\xE2\x96\x81 a\"]"));
    cr_assert_eq(tok->cut_len, 3);
    tg_tokenizer_free(tok);
    /* "a▁" could be merged across the cut: no cutting */
    tok = load_json(
        SP_JSON("{\"\xE2\x96\x81\":0,\"a\":1,\"a\xE2\x96\x81\":2}", "[\"a \xE2\x96\x81\"]"));
    cr_assert_eq(tok->cut_len, 0);
    const int32_t w[] = {2, 2, 1};
    expect_ids(tok, "a a a", 5, 0, w, 3);
    tg_tokenizer_free(tok);
}

/* Cutting words and the whole-piece lookup change nothing: the SentencePiece tokenizers give the
 * same ids with both turned off, on every short corpus string. */
Test(tokenizer_internal, sentencepiece_shortcuts_are_exact)
{
    const char *dirs[] = {"tokenizer/tiny/sentencepiece", "tokenizer/tiny/metaspace"};
    size_t n = 0;
    vcase *v = load_vectors(&n);
    for (int d = 0; d < 2; d++) {
        char *dir = data_path(dirs[d]);
        tg_tokenizer *fast = NULL, *slow = NULL;
        cr_assert_eq(tg_tokenizer_load(&fast, dir, NULL), TG_OK, "%s", tg_error_last());
        cr_assert_eq(tg_tokenizer_load(&slow, dir, NULL), TG_OK);
        cr_assert_eq(fast->cut_len, 3, "%s: no word cut", dirs[d]);
        cr_assert(fast->whole_piece_exact, "%s: whole-piece lookup not exact", dirs[d]);
        slow->cut_len = 0;
        slow->whole_piece_exact = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            cr_assert_eq(tg_tokenizer_encode(&a, &na, fast, v[i].text, v[i].len, 0), TG_OK);
            cr_assert_eq(tg_tokenizer_encode(&b, &nb, slow, v[i].text, v[i].len, 0), TG_OK);
            cr_assert(na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0),
                      "%s: case %zu differs with the shortcuts", dirs[d], i);
            free(a);
            free(b);
        }
        tg_tokenizer_free(fast);
        tg_tokenizer_free(slow);
        g_free(dir);
    }
    free_vectors(v, n);
}

/* ---- normalization in chunks ---- */

Test(tokenizer_internal, normalization_in_chunks_equals_whole)
{
    /* Long texts are normalized in chunks cut where no form joins characters (tok_normalize.c);
     * the result equals GLib's normalization of the whole, for the four forms, on random text
     * dense in what composes, decomposes and reorders. */
    static const char *const bits[] = {"a",
                                       "e\xCC\x81",
                                       "\xC3\xA9",
                                       " ",
                                       "\n",
                                       "\xCC\x81",
                                       "\xCC\xA3",
                                       "\xCC\x88",
                                       "\xE1\x84\x80",
                                       "\xE1\x85\xA1",
                                       "\xE1\x86\xA8",
                                       "\xEA\xB0\x80",
                                       "\xE4\xB8\xAD",
                                       "\xE3\x81\x8B",
                                       "\xE3\x82\x99",
                                       "\xEF\xBE\x9E",
                                       "\xEF\xAC\x81",
                                       "\xE2\x84\xAB",
                                       "\xE0\xA7\x87",
                                       "\xE0\xA6\xBE",
                                       "\xE0\xA4\xA8",
                                       "\xE0\xA4\xBC",
                                       "\xD0\xB0",
                                       "\xD8\xA7",
                                       "\xD9\x93",
                                       "\xC2\xA8",
                                       "\xCD\x84",
                                       "\xE1\xBE\xB3",
                                       "\xF0\x9D\x85\x9E"};
    static const int kinds[] = {TG__NORM_NFC, TG__NORM_NFD, TG__NORM_NFKC, TG__NORM_NFKD};
    static const GNormalizeMode modes[] = {G_NORMALIZE_NFC, G_NORMALIZE_NFD, G_NORMALIZE_NFKC,
                                           G_NORMALIZE_NFKD};
    GRand *r = g_rand_new_with_seed(77);
    for (int iter = 0; iter < 200; iter++) {
        GString *s = g_string_new("");
        int n = g_rand_int_range(r, 100, 4000);
        for (int i = 0; i < n; i++)
            g_string_append(s, bits[g_rand_int_range(r, 0, G_N_ELEMENTS(bits))]);
        for (int k = 0; k < 4; k++) {
            tg__norm nm = {.kind = kinds[k]};
            tg_tokenizer tok = {.norms = &nm, .n_norms = 1};
            tg__buf out = {0};
            const unsigned char *res;
            size_t len;
            cr_assert_eq(
                tg__normalize(&tok, (const unsigned char *)s->str, s->len, &out, &res, &len),
                TG_OK);
            char *want = g_utf8_normalize(s->str, (gssize)s->len, modes[k]);
            cr_assert(len == strlen(want) && memcmp(res, want, len) == 0,
                      "iteration %d, form %d: chunked normalization differs", iter, k);
            g_free(want);
            free(out.data);
        }
        g_string_free(s, TRUE);
    }
    g_rand_free(r);
}

/* Llama 3's and Qwen2's pattern: the hand-written scanner against the same pattern run by
 * GRegex, on the vectors and on random text (invalid UTF-8, \r \n runs, digits, contractions
 * in any case, White_Space, characters from all planes). */
static void scanner_equals_gregex(const char *pattern, int digits)
{
    char *dir = data_path("tokenizer/tiny/bytelevel");
    tg_tokenizer *fast = NULL, *re = NULL;
    cr_assert_eq(tg_tokenizer_load(&fast, dir, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_load(&re, dir, NULL), TG_OK);
    g_free(dir);
    cr_assert_eq(fast->n_pre, 2);
    cr_assert_eq(fast->pre[0].scanner, TG__SCAN_LLAMA3, "Llama 3's pattern is not recognized");
    cr_assert_eq(fast->pre[0].digits, 3);
    fast->pre[0].digits = digits;
    cr_assert_eq(tg__regex_compile(&re->pre[0].re, pattern, "test"), TG_OK, "%s", tg_error_last());
    re->pre[0].scanner = TG__SCAN_REGEX;
    /* both without the NFKC normalizer: it would hide what the classes see */
    fast->n_norms = re->n_norms = 0;
    size_t n = 0;
    vcase *v = load_vectors(&n);
    classes c;
    c.l = g_regex_new("^\\p{L}$", G_REGEX_OPTIMIZE, 0, NULL);
    c.n = g_regex_new("^\\p{N}$", G_REGEX_OPTIMIZE, 0, NULL);
    c.s = g_regex_new("^\\p{White_Space}$", G_REGEX_OPTIMIZE, 0, NULL);
    GRand *r = g_rand_new_with_seed(4321);
    const char *bits[] = {" ",    "  ",           "\t",       "\n",           "\r",
                          "\r\n", " \n ",         "'s",       "'S",           "'Ll",
                          "'rE",  "'ve",          "'m",       "'D",           "'t",
                          "'",    "'\xc5\xbf",    "a",        "Zz",           "1",
                          "2345", "\xd9\xa3",     "\xc2\xbd", "!?",           ",",
                          "...",  "\xe2\x80\x94", "\xc2\x85", "\xef\xbb\xbf", "\xe3\x80\x80",
                          "\xff", "\xe2\x82",     "\xc3",     "\xe4\xb8\xad", "é"};
    for (size_t i = 0; i < n + 4000; i++) {
        GString *s = g_string_new("");
        if (i < n) {
            g_string_append_len(s, v[i].text, (gssize)v[i].len);
        } else {
            int len = g_rand_int_range(r, 1, 40);
            for (int k = 0; k < len; k++) {
                if (g_rand_int_range(r, 0, 4)) {
                    g_string_append(s, bits[g_rand_int_range(r, 0, G_N_ELEMENTS(bits))]);
                    continue;
                }
                gunichar ch = (gunichar)g_rand_int_range(r, 1, 0x30000);
                if (g_unichar_validate(ch) && same_class(&c, ch))
                    g_string_append_unichar(s, ch);
            }
        }
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        cr_assert_eq(tg_tokenizer_encode(&a, &na, fast, s->str, s->len, 0), TG_OK);
        cr_assert_eq(tg_tokenizer_encode(&b, &nb, re, s->str, s->len, 0), TG_OK, "%s",
                     tg_error_last());
        int same = na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
        if (!same) {
            char *esc = g_strescape(s->str, NULL);
            cr_assert(same, "digits %d, case %zu \"%s\": scanner and GRegex differ", digits, i,
                      esc);
        }
        free(a);
        free(b);
        g_string_free(s, TRUE);
    }
    free_vectors(v, n);
    g_rand_free(r);
    g_regex_unref(c.l);
    g_regex_unref(c.n);
    g_regex_unref(c.s);
    tg_tokenizer_free(fast);
    tg_tokenizer_free(re);
}

Test(tokenizer_internal, llama3_scanner_equals_gregex)
{
    scanner_equals_gregex(tg__llama3_pattern, 3);
}

Test(tokenizer_internal, qwen2_scanner_equals_gregex)
{
    scanner_equals_gregex(tg__qwen2_pattern, 1);
}

/* The vocabulary and merges the loader builds (read by lib/core/json_scan.c, no json-glib tree)
 * are exactly those of GPT-2's tokenizer.json as json-glib reads it: every piece at its id,
 * every merge at its rank (the first of a repeated pair), the merged token's id; and
 * vocab.json + merges.txt give the same tables. */
static int32_t piece_id(const tg_tokenizer *tok, const char *s)
{
    return tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, s, strlen(s));
}

Test(tokenizer_internal, scanned_vocab_and_merges_equal_json_glib)
{
    tg_tokenizer *tok = load_gpt2(0), *pair = load_gpt2(1);
    char *p = data_path("tokenizer/gpt2/tokenizer.json");
    JsonParser *parser = json_parser_new();
    GError *err = NULL;
    cr_assert(json_parser_load_from_file(parser, p, &err), "%s", err ? err->message : "?");
    g_free(p);
    JsonObject *model =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "model");
    JsonObject *vocab = json_object_get_object_member(model, "vocab");
    JsonArray *merges = json_object_get_array_member(model, "merges");

    cr_assert_eq(tok->n_vocab, (int32_t)json_object_get_size(vocab));
    cr_assert_eq(tok->n_vocab, 50257);
    GList *names = json_object_get_members(vocab);
    for (GList *l = names; l; l = l->next) {
        int64_t id = json_object_get_int_member(vocab, l->data);
        cr_assert_str_eq(tok->pieces + tok->piece_off[id], (const char *)l->data, "id %lld",
                         (long long)id);
    }
    g_list_free(names);

    /* (left, right) -> rank and merged id from the table, then the file's merges in order */
    GHashTable *seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    GHashTable *table = g_hash_table_new(g_int64_hash, g_int64_equal);
    for (uint32_t k = 0; k < tok->merges.cap; k++)
        if (tok->merges.slots[k].key)
            g_hash_table_insert(table, &tok->merges.slots[k].key, &tok->merges.slots[k]);
    guint nm = json_array_get_length(merges);
    cr_assert_eq(nm, 50000);
    uint32_t unique = 0;
    for (guint i = 0; i < nm; i++) {
        char *m = g_strdup(json_array_get_string_element(merges, i));
        char *sp = strchr(m, ' ');
        cr_assert_not_null(sp);
        *sp = '\0';
        int32_t a = piece_id(tok, m), b = piece_id(tok, sp + 1);
        char *cat = g_strconcat(m, sp + 1, NULL);
        int32_t merged = piece_id(tok, cat);
        cr_assert(a >= 0 && b >= 0 && merged >= 0, "merge %u", i);
        gint64 *key = g_new(gint64, 1);
        *key = (gint64)((((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1);
        if (g_hash_table_contains(seen, key)) {
            g_free(key);
        } else {
            g_hash_table_add(seen, key);
            unique++;
            const tg__pairslot *sl = g_hash_table_lookup(table, key);
            cr_assert_not_null(sl, "merge %u \"%s %s\" is not in the table", i, m, sp + 1);
            cr_assert_eq(sl->rank, i, "merge %u \"%s %s\": rank %u", i, m, sp + 1, sl->rank);
            cr_assert_eq(sl->merged, merged);
        }
        g_free(cat);
        g_free(m);
    }
    cr_assert_eq(tok->merges.count, unique);
    g_hash_table_unref(seen);
    g_object_unref(parser);

    /* vocab.json + merges.txt: the same tables */
    cr_assert_eq(pair->n_vocab, tok->n_vocab);
    cr_assert(memcmp(pair->piece_off, tok->piece_off, sizeof *tok->piece_off * 50258) == 0);
    cr_assert(memcmp(pair->pieces, tok->pieces, tok->piece_off[50257]) == 0);
    /* merges.txt is sized by its line count (a bound), so the tables' capacities may differ:
     * every merge of one is in the other with the same rank and merged id */
    cr_assert_eq(pair->merges.count, tok->merges.count);
    for (uint32_t k = 0; k < pair->merges.cap; k++) {
        const tg__pairslot *ps = &pair->merges.slots[k];
        if (!ps->key)
            continue;
        const tg__pairslot *sl = g_hash_table_lookup(table, &ps->key);
        cr_assert_not_null(sl, "merges.txt pair key %llu is not in tokenizer.json's table",
                           (unsigned long long)ps->key);
        cr_assert(sl->rank == ps->rank && sl->merged == ps->merged, "key %llu",
                  (unsigned long long)ps->key);
    }
    g_hash_table_unref(table);
    tg_tokenizer_free(pair);
    tg_tokenizer_free(tok);
}

/* The vocabulary index at its load factor (TG_TOK_STRMAP_FILL in 10): every string is found at
 * its lowest id (repeats keep the first), strings that are not in it are not found. */
Test(tokenizer_internal, string_index_finds_every_piece_at_its_load_factor)
{
    enum { N = 3000 };
    GString *arena = g_string_new(NULL);
    uint32_t off[N + 1];
    for (int32_t id = 0; id < N; id++) {
        off[id] = (uint32_t)arena->len;
        g_string_append_printf(arena, "w%d", id % 2500); /* ids 2500.. repeat 0..499 */
        g_string_append_c(arena, '\0');
    }
    off[N] = (uint32_t)arena->len;
    tg__strmap m;
    cr_assert_eq(tg__strmap_build(&m, arena->str, off, N, NULL), TG_OK);
    cr_assert_eq(m.cap, N * 10 / TG_TOK_STRMAP_FILL + 16);
    uint32_t used = 0, wrapped = 0;
    for (uint32_t i = 0; i < m.cap; i++)
        if (m.slots[i].id >= 0) {
            used++;
            wrapped += tg__tok_table_slot(m.slots[i].hash, m.cap) > i;
        }
    cr_assert_eq(used, 2500);
    for (int32_t id = 0; id < N; id++) {
        char s[16];
        int n = snprintf(s, sizeof s, "w%d", id % 2500);
        cr_assert_eq(tg__strmap_get(&m, arena->str, off, s, (size_t)n), id % 2500);
    }
    for (int32_t i = 2500; i < 4000; i++) {
        char s[16];
        int n = snprintf(s, sizeof s, "w%d", i);
        cr_assert_eq(tg__strmap_get(&m, arena->str, off, s, (size_t)n), -1, "%s", s);
    }
    cr_assert_eq(tg__strmap_get(&m, arena->str, off, "", 0), -1);
    cr_log_info("string index: %u keys in %u slots, %u wrapped past the last slot", used, m.cap,
                wrapped);
    tg__strmap_free(&m);
    g_string_free(arena, TRUE);
}
