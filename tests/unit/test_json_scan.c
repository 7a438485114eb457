/* White-box tests of lib/core/json_scan.c, the strict pull scanner that reads a tokenizer's
 * vocabulary and merges: strings and their escapes, UTF-8 checks, numbers, grammar, depth,
 * truncation, and the messages (file name and byte offset). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

#include "core/json_scan.h"

/* Read one string value of `json` (its whole text); returns the status, the string in *out. */
static tg_status scan_string(const char *json, size_t len, char **out, size_t *out_len)
{
    tg__json_scan s;
    tg__json_scan_init(&s, json, len, "t.json");
    tg_status st = tg__json_scan_string(&s);
    if (st == TG_OK)
        st = tg__json_scan_end(&s);
    if (st == TG_OK && out) {
        *out = malloc(s.str.len + 1);
        memcpy(*out, s.str.data, s.str.len + 1);
        *out_len = s.str.len;
    }
    tg__json_scan_clear(&s);
    return st;
}

/* Skip the whole text as one value (then only blanks may follow). */
static tg_status scan_all(const char *json, size_t len)
{
    tg__json_scan s;
    tg__json_scan_init(&s, json, len, "t.json");
    tg_status st = tg__json_scan_skip(&s);
    if (st == TG_OK)
        st = tg__json_scan_end(&s);
    tg__json_scan_clear(&s);
    return st;
}

static void expect_string(const char *json, const char *want, size_t want_len)
{
    char *got = NULL;
    size_t n = 0;
    tg_status st = scan_string(json, strlen(json), &got, &n);
    cr_assert_eq(st, TG_OK, "%s: %s", json, tg_error_last());
    cr_assert_eq(n, want_len, "%s: length %zu, wanted %zu", json, n, want_len);
    cr_assert(memcmp(got, want, n) == 0, "%s: wrong bytes", json);
    cr_assert_eq(got[n], '\0');
    free(got);
}

/* The text fails with TG_EFORMAT and a message holding both needles. */
static void expect_bad(const char *json, size_t len, const char *needle1, const char *needle2)
{
    tg_status st = scan_all(json, len);
    cr_assert_eq(st, TG_EFORMAT, "'%.*s': status %d", (int)len, json, st);
    const char *msg = tg_error_last();
    cr_assert(strstr(msg, "t.json: "), "no file name in: %s", msg);
    cr_assert(strstr(msg, needle1), "'%s' not in: %s", needle1, msg);
    if (needle2)
        cr_assert(strstr(msg, needle2), "'%s' not in: %s", needle2, msg);
}

Test(json_scan, escapes_are_unescaped_to_utf8)
{
    expect_string("\"plain\"", "plain", 5);
    expect_string("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\" \\ / \b \f \n \r \t", 15);
    expect_string("\"\\u00e9\\u00E9\"", "\xc3\xa9\xc3\xa9", 4);
    expect_string("\"\\u0120the\"", "\xc4\xa0the", 5); /* GPT-2's space mark */
    expect_string("\"\\u20ac\"", "\xe2\x82\xac", 3);
    expect_string("\"\\uffff\"", "\xef\xbf\xbf", 3);
    /* a surrogate pair is one code point: U+1F600 */
    expect_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    expect_string("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
    /* \u0000 is kept: the length counts it, the caller decides */
    expect_string("\"a\\u0000b\"", "a\0b", 3);
    /* raw UTF-8 passes through, 2, 3 and 4 bytes */
    expect_string("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    expect_string("\"\"", "", 0);
}

Test(json_scan, lone_surrogates_are_refused)
{
    expect_bad("\"\\ud800\"", 8, "at byte 1", "without a low one after it");
    expect_bad("\"ab\\ud800x\"", 11, "at byte 3", "without a low one after it");
    expect_bad("\"\\ud800\\u0041\"", 14, "at byte 1", "without a low one after it");
    expect_bad("\"\\ud800\\ud800\"", 14, "at byte 1", "without a low one after it");
    expect_bad("\"\\udc00\"", 8, "at byte 1", "low surrogate");
    expect_bad("\"\\ude00\\ud83d\"", 14, "at byte 1", "low surrogate"); /* reversed pair */
}

Test(json_scan, bad_escapes_are_refused)
{
    expect_bad("\"\\x41\"", 6, "at byte 1", "unknown escape");
    expect_bad("\"\\u12\"", 6, "at byte 1", "four hex digits");
    expect_bad("\"\\u12g4\"", 8, "at byte 1", "four hex digits");
    expect_bad("\"\\'\"", 4, "at byte 1", "unknown escape");
}

Test(json_scan, invalid_utf8_and_control_characters_are_refused)
{
    const char *bad[] = {
        "\"a\xff\"",             /* never valid */
        "\"a\xc0\x80\"",         /* overlong NUL */
        "\"a\xe0\x80\xaf\"",     /* overlong '/' */
        "\"a\xed\xa0\x80\"",     /* an encoded surrogate */
        "\"a\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"a\xe2\x82\"",         /* truncated sequence */
        "\"a\x80\"",             /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_bad(bad[i], strlen(bad[i]), "at byte 2", "invalid UTF-8");
    expect_bad("\"a\nb\"", 5, "at byte 2", "control character");
    expect_bad("\"a\tb\"", 5, "at byte 2", "control character");
    expect_bad("\"a\0b\"", 5, "at byte 2", "control character");
}

Test(json_scan, numbers_follow_the_grammar)
{
    static const struct {
        const char *text;
        int is_int;
        int64_t value;
    } ok[] = {
        {"0", 1, 0},
        {"-0", 1, 0},
        {"50256", 1, 50256},
        {"-17", 1, -17},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"99999999999999999999999", 1, INT64_MAX}, /* saturated */
        {"-99999999999999999999999", 1, INT64_MIN},
        {"1.0", 0, 0},
        {"1e3", 0, 0},
        {"-2.5E-7", 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        tg__json_scan s;
        tg__json_scan_init(&s, ok[i].text, strlen(ok[i].text), "t.json");
        int64_t v = 12345;
        int is_int = -1;
        cr_assert_eq(tg__json_scan_number(&s, &v, &is_int), TG_OK, "%s: %s", ok[i].text,
                     tg_error_last());
        cr_assert_eq(tg__json_scan_end(&s), TG_OK, "%s", ok[i].text);
        cr_assert_eq(is_int, ok[i].is_int, "%s", ok[i].text);
        if (is_int)
            cr_assert_eq(v, ok[i].value, "%s: %lld", ok[i].text, (long long)v);
        tg__json_scan_clear(&s);
    }
    const char *bad[] = {"01", "-01", "1.", ".5", "-", "1e", "1e+", "+1", "--1", "1.5.2", "[0x10]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_bad(bad[i], strlen(bad[i]), "malformed JSON at byte", NULL);
    expect_bad("01", 2, "at byte 0", "a malformed number");
    expect_bad("[1.]", 4, "at byte 3", "a digit must follow the decimal point");
    expect_bad("1e", 2, "at byte 2", "the text ends early (a digit must follow the exponent)");
}

Test(json_scan, grammar_errors_name_the_byte)
{
    expect_bad("[1,]", 4, "at byte 3", "a value was expected");
    expect_bad("{\"a\":1,}", 8, "at byte 7", "a member name");
    expect_bad("{\"a\" 1}", 7, "at byte 5", "':' was expected");
    expect_bad("{'a':1}", 7, "at byte 1", "a member name");
    expect_bad("{a:1}", 5, "at byte 1", "a member name");
    expect_bad("[1 2]", 5, "at byte 3", "',' or ']'");
    expect_bad("{\"a\":1 \"b\":2}", 13, "at byte 7", "',' or '}'");
    expect_bad("[tru]", 5, "at byte 1", "a value was expected");
    expect_bad("[nul]", 5, "at byte 1", "a value was expected");
    expect_bad("", 0, "at byte 0", "where a value was expected");
    expect_bad("  ", 2, "at byte 2", NULL);
    cr_assert_eq(scan_all("{} x", 4), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "unexpected text after the JSON value (at byte 3)"), "%s",
              tg_error_last());
    cr_assert_eq(scan_all(" {\"a\" : [1, -2.5e3, \"x\", true, false, null, {}, []]}\n ", 54), TG_OK,
                 "%s", tg_error_last());
}

Test(json_scan, every_truncation_of_a_document_is_refused)
{
    const char *doc = "{\"model\": {\"vocab\": {\"a\\u00e9\": 0, \"\\ud83d\\ude00\": 1}, "
                      "\"merges\": [\"a b\", [\"c\", \"d\"]], \"x\": [true, false, null, -1.5e2]}}";
    size_t n = strlen(doc);
    cr_assert_eq(scan_all(doc, n), TG_OK, "%s", tg_error_last());
    for (size_t k = 0; k < n; k++) {
        tg_status st = scan_all(doc, k);
        cr_assert_eq(st, TG_EFORMAT, "prefix of %zu bytes: status %d", k, st);
        cr_assert(strstr(tg_error_last(), "t.json: malformed JSON at byte "), "%zu: %s", k,
                  tg_error_last());
    }
}

/* Nesting: TG_JSON_MAX_DEPTH levels pass, one more is refused where it opens. */
Test(json_scan, depth_is_limited)
{
    for (int extra = 0; extra < 2; extra++) {
        int depth = TG_JSON_MAX_DEPTH + extra;
        char *doc = malloc((size_t)depth * 2 + 1);
        for (int i = 0; i < depth; i++) {
            doc[i] = '[';
            doc[depth * 2 - 1 - i] = ']';
        }
        doc[depth * 2] = '\0';
        tg_status st = scan_all(doc, (size_t)depth * 2);
        if (!extra) {
            cr_assert_eq(st, TG_OK, "%s", tg_error_last());
        } else {
            cr_assert_eq(st, TG_EFORMAT);
            cr_assert(strstr(tg_error_last(),
                             "t.json: JSON nested more than 256 levels deep (at byte 256)"),
                      "%s", tg_error_last());
        }
        free(doc);
    }
    /* brackets inside strings do not count */
    char doc[1200] = "[\"";
    for (int i = 0; i < 1000; i++)
        strcat(doc, "[");
    strcat(doc, "\"]");
    cr_assert_eq(scan_all(doc, strlen(doc)), TG_OK, "%s", tg_error_last());
}

/* Walking an object member by member: keys unescaped, values where they are. */
Test(json_scan, members_and_elements_in_order)
{
    const char *doc = "{\"a\": 1, \"\\u00e9\": [\"x\", 2], \"c\": {\"d\": null}}";
    tg__json_scan s;
    tg__json_scan_init(&s, doc, strlen(doc), "t.json");
    int more = -1, kind = 0, is_int = 0;
    int64_t v = 0;
    cr_assert_eq(tg__json_scan_object(&s), TG_OK);
    cr_assert_eq(tg__json_scan_member(&s, &more), TG_OK);
    cr_assert(more && strcmp(s.key.data, "a") == 0);
    cr_assert_eq(tg__json_scan_number(&s, &v, &is_int), TG_OK);
    cr_assert(is_int && v == 1);
    cr_assert_eq(tg__json_scan_member(&s, &more), TG_OK);
    cr_assert(more && strcmp(s.key.data, "\xc3\xa9") == 0 && s.key.len == 2);
    cr_assert_eq(tg__json_scan_peek(&s, &kind), TG_OK);
    cr_assert_eq(kind, TG__JSON_ARRAY);
    cr_assert_eq(tg__json_scan_array(&s), TG_OK);
    cr_assert_eq(tg__json_scan_element(&s, &more), TG_OK);
    cr_assert(more);
    cr_assert_eq(tg__json_scan_string(&s), TG_OK);
    cr_assert_str_eq(s.str.data, "x");
    cr_assert_eq(tg__json_scan_element(&s, &more), TG_OK);
    cr_assert(more);
    cr_assert_eq(tg__json_scan_skip(&s), TG_OK);
    cr_assert_eq(tg__json_scan_element(&s, &more), TG_OK);
    cr_assert(!more);
    cr_assert_eq(tg__json_scan_member(&s, &more), TG_OK);
    cr_assert(more && strcmp(s.key.data, "c") == 0);
    cr_assert_eq(tg__json_scan_skip(&s), TG_OK);
    cr_assert_eq(tg__json_scan_member(&s, &more), TG_OK);
    cr_assert(!more);
    cr_assert_eq(s.depth, 0);
    cr_assert_eq(tg__json_scan_end(&s), TG_OK);
    /* asking for the wrong kind is an error, not a misread */
    cr_assert_eq(tg__json_scan_string(&s), TG_EFORMAT);
    tg__json_scan_clear(&s);
}
