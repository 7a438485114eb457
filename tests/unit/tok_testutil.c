/* Helpers shared by the tokenizer unit tests: data paths, the GPT-2 vectors, assertions. */
#include "tok_testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

char *data_path(const char *rel)
{
    const char *root = getenv("TG_TEST_DATA");
    cr_assert(root != NULL, "TG_TEST_DATA is not set");
    return g_build_filename(root, rel, NULL);
}

tg_tokenizer *load_gpt2(int form)
{
    tg_tokenizer *tok = NULL;
    tg_status st;
    if (form == 0) {
        char *p = data_path("tokenizer/gpt2/tokenizer.json");
        st = tg_tokenizer_load(&tok, p, NULL);
        g_free(p);
    } else {
        char *v = data_path("tokenizer/gpt2/vocab.json");
        char *m = data_path("tokenizer/gpt2/merges.txt");
        st = tg_tokenizer_load_vocab_merges(&tok, v, m, NULL);
        g_free(v);
        g_free(m);
    }
    cr_assert_eq(st, TG_OK, "load GPT-2 (form %d): %s", form, tg_error_last());
    cr_assert_not_null(tok);
    return tok;
}

vcase *load_vectors(size_t *n_out)
{
    char *p = data_path("tokenizer/gpt2_vectors.json");
    JsonParser *parser = json_parser_new();
    GError *err = NULL;
    cr_assert(json_parser_load_from_file(parser, p, &err), "%s: %s", p, err ? err->message : "");
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    JsonArray *cases = json_object_get_array_member(root, "cases");
    guint n = json_array_get_length(cases);
    vcase *v = calloc(n, sizeof *v);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(cases, i);
        v[i].text = g_strdup(json_object_get_string_member(o, "text"));
        v[i].len = strlen(v[i].text);
        JsonArray *ids = json_object_get_array_member(o, "ids");
        v[i].n = json_array_get_length(ids);
        v[i].ids = malloc(sizeof(int32_t) * (v[i].n + 1));
        for (guint k = 0; k < v[i].n; k++)
            v[i].ids[k] = (int32_t)json_array_get_int_element(ids, k);
        v[i].special = json_object_has_member(o, "allow_special") &&
                       json_object_get_boolean_member(o, "allow_special");
    }
    g_object_unref(parser);
    g_free(p);
    *n_out = n;
    return v;
}

void free_vectors(vcase *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_free(v[i].text);
        free(v[i].ids);
    }
    free(v);
}

void expect_ids(const tg_tokenizer *tok, const char *text, size_t len, uint32_t flags,
                const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, text, len, flags), TG_OK, "%s",
                 tg_error_last());
    int same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        GString *got = g_string_new("");
        for (size_t i = 0; i < n; i++)
            g_string_append_printf(got, "%d ", ids[i]);
        cr_assert(same, "encode(\"%s\"): got [%s]", text, got->str);
    }
    free(ids);
}

/* Valid UTF-8 (NUL bytes allowed, which g_utf8_validate() refuses). */
int utf8_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *nul = memchr(s + i, '\0', n - i);
        size_t seg = nul ? (size_t)(nul - (s + i)) : n - i;
        if (!g_utf8_validate_len(s + i, seg, NULL))
            return 0;
        i += seg + (nul ? 1 : 0);
    }
    return 1;
}

void check_vectors(const tg_tokenizer *tok, const char *label)
{
    size_t n = 0;
    vcase *v = load_vectors(&n);
    cr_assert_geq(n, 2000, "only %zu vectors", n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t k = 0;
        tg_status st = tg_tokenizer_encode(&ids, &k, tok, v[i].text, v[i].len,
                                           v[i].special ? TG_ENCODE_ALLOW_SPECIAL : 0);
        cr_assert_eq(st, TG_OK, "%s", tg_error_last());
        if (k != v[i].n || (k && memcmp(ids, v[i].ids, k * sizeof *ids) != 0)) {
            if (bad < 10) {
                GString *got = g_string_new(""), *want = g_string_new("");
                for (size_t j = 0; j < k; j++)
                    g_string_append_printf(got, "%d ", ids[j]);
                for (size_t j = 0; j < v[i].n; j++)
                    g_string_append_printf(want, "%d ", v[i].ids[j]);
                cr_log_error("case %zu \"%s\": got [%s] want [%s]", i, v[i].text, got->str,
                             want->str);
                g_string_free(got, TRUE);
                g_string_free(want, TRUE);
            }
            bad++;
        }
        free(ids);
    }
    cr_assert_eq(bad, 0, "%zu of %zu vectors differ (%s)", bad, n, label);
    free_vectors(v, n);
}

/* Streaming the ids one by one gives valid UTF-8 chunks that concatenate to decode(ids). */
void check_stream(const tg_tokenizer *tok, const int32_t *ids, size_t n, uint32_t flags)
{
    tg_detokenizer *d = NULL;
    cr_assert_eq(tg_detokenizer_create(&d, tok, flags), TG_OK);
    GString *acc = g_string_new("");
    for (size_t i = 0; i < n; i++) {
        const char *chunk = NULL;
        size_t cl = 99;
        cr_assert_eq(tg_detokenizer_feed(d, ids[i], &chunk, &cl), TG_OK, "%s", tg_error_last());
        cr_assert_eq(chunk[cl], '\0'); /* NUL-terminated (a 0x00 byte token may be inside) */
        cr_assert(utf8_ok(chunk, cl), "chunk %zu is not valid UTF-8", i);
        g_string_append_len(acc, chunk, (gssize)cl);
    }
    const char *chunk = NULL;
    size_t cl = 0;
    cr_assert_eq(tg_detokenizer_flush(d, &chunk, &cl), TG_OK);
    cr_assert(utf8_ok(chunk, cl));
    g_string_append_len(acc, chunk, (gssize)cl);
    char *whole = NULL;
    size_t wl = 0;
    cr_assert_eq(tg_tokenizer_decode(&whole, &wl, tok, ids, n, flags), TG_OK);
    cr_assert(utf8_ok(whole, wl));
    cr_assert_eq(acc->len, wl, "stream %zu bytes, decode %zu", acc->len, wl);
    cr_assert(memcmp(acc->str, whole, wl) == 0, "stream differs from decode");
    tg_free(whole);
    g_string_free(acc, TRUE);
    tg_detokenizer_free(d);
}
