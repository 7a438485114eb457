/* White-box tests of lib/tokenizer: compiled together with the tokenizer's sources (its
 * internal symbols are not exported by libtextgen.so). */
#include <criterion/criterion.h>
#include <glib.h>
#include <glib/gstdio.h>
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
