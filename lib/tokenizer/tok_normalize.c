/* tokenizer/tok_normalize.c — normalizers (tokenizer.json "normalizer"), in order: the Unicode
 * forms NFC / NFD / NFKC / NFKD (GLib's tables), Prepend (before a non-empty text) and Replace
 * (a literal or a regex, every non-overlapping occurrence from the left), as HF applies them to
 * each stretch of text between added tokens.
 *
 * A byte that is not part of well-formed UTF-8 (only byte-level and byte-fallback tokenizers
 * accept such text) and a NUL byte pass through unchanged: the forms and regexes apply to the
 * valid runs between them (GLib and PCRE2 need valid, NUL-free UTF-8). */
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* Text that a form leaves unchanged for sure: below U+0300 everything is NFC (the first
 * character with NFC_Quick_Check != Yes is U+0300, lead byte 0xCC); ASCII is unchanged by all
 * four forms. */
static int form_is_identity(int32_t kind, const unsigned char *s, size_t n)
{
    unsigned char limit = kind == TG__NORM_NFC ? 0xCC : 0x80;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= limit)
            return 0;
    return 1;
}

static GNormalizeMode form_mode(int32_t kind)
{
    switch (kind) {
    case TG__NORM_NFC:
        return G_NORMALIZE_NFC;
    case TG__NORM_NFD:
        return G_NORMALIZE_NFD;
    case TG__NORM_NFKC:
        return G_NORMALIZE_NFKC;
    default:
        return G_NORMALIZE_NFKD;
    }
}

/* g_utf8_normalize() is quadratic in the length of its input when it composes (it moves the
 * rest of its buffer for each composition: 1.2 s for 800 kB of mixed scripts). Text is cut into
 * chunks of about CHUNK bytes, each normalized alone, at characters no normalization form joins
 * with what comes before: combining class 0, not the second of any composition pair, and not
 * decomposing (even compatibly) into something that starts with a non-starter. Below U+0900
 * every character of class 0 qualifies (the first exceptions are Bengali's U+09BE and U+09D7);
 * so do CJK, kana (but the voicing marks) and Hangul syllables. A run without such a character
 * stays whole. */
enum { CHUNK = 1024 };

static int safe_cut(uint32_t c)
{
    if (c < 0x80)
        return 1;
    if (g_unichar_combining_class(c) != 0)
        return 0;
    return c < 0x0900 || (c >= 0x3040 && c <= 0x9FFF && c != 0x3099 && c != 0x309A) ||
           (c >= 0xAC00 && c <= 0xD7A3);
}

static int form_chunk(const tg__norm *nm, tg__buf *out, const unsigned char *s, size_t n)
{
    if (form_is_identity(nm->kind, s, n))
        return tg__buf_append(out, s, n);
    char *r = g_utf8_normalize((const char *)s, (gssize)n, form_mode(nm->kind));
    if (!r)
        return 0;
    int ok = tg__buf_append(out, r, strlen(r));
    g_free(r);
    return ok;
}

/* Apply one step to the valid run s[0..n) (no invalid bytes, no NUL) into out. */
static int run_step(const tg__norm *nm, tg__buf *out, const unsigned char *s, size_t n)
{
    if (nm->kind == TG__NORM_REPLACE && nm->re) {
        GError *err = NULL;
        char *r = g_regex_replace_literal(nm->re, (const char *)s, (gssize)n, 0, nm->with, 0, &err);
        if (!r) {
            g_clear_error(&err);
            return 0;
        }
        int ok = tg__buf_append(out, r, strlen(r));
        g_free(r);
        return ok;
    }
    size_t start = 0, i = 0;
    while (i < n) {
        uint32_t c;
        size_t k = tg__utf8_decode(s + i, n - i, &c);
        if (i - start >= CHUNK && safe_cut(c)) {
            if (!form_chunk(nm, out, s + start, i - start))
                return 0;
            start = i;
        }
        i += k;
    }
    return form_chunk(nm, out, s + start, n - start);
}

/* A form or a regex Replace over the valid runs of s; other bytes are copied. */
static int by_runs(const tg__norm *nm, tg__buf *out, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t v = tg__utf8_valid_prefix(s + i, n - i);
        if (v && !run_step(nm, out, s + i, v))
            return 0;
        i += v;
        if (i < n) {
            if (!tg__buf_append(out, s + i, 1))
                return 0;
            i++;
        }
    }
    return 1;
}

static int replace_literal(const tg__norm *nm, tg__buf *out, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char *hit = nm->len <= n - i ? memmem(s + i, n - i, nm->str, nm->len) : NULL;
        size_t end = hit ? (size_t)(hit - s) : n;
        if (!tg__buf_append(out, s + i, end - i))
            return 0;
        if (!hit)
            break;
        if (!tg__buf_append(out, nm->with, nm->with_len))
            return 0;
        i = end + nm->len;
    }
    return 1;
}

static int apply(const tg__norm *nm, tg__buf *out, const unsigned char *s, size_t n)
{
    out->len = 0;
    if (!tg__buf_reserve(out, n + 1))
        return 0;
    out->data[0] = '\0';
    switch (nm->kind) {
    case TG__NORM_PREPEND:
        if (n && !tg__buf_append(out, nm->str, nm->len))
            return 0;
        return tg__buf_append(out, s, n);
    case TG__NORM_REPLACE:
        if (!nm->re)
            return replace_literal(nm, out, s, n);
        return by_runs(nm, out, s, n);
    default:
        return by_runs(nm, out, s, n);
    }
}

tg_status tg__normalize(const tg_tokenizer *tok, const unsigned char *s, size_t n, tg__buf *out,
                        const unsigned char **res, size_t *res_len)
{
    *res = s;
    *res_len = n;
    if (tok->n_norms == 0)
        return TG_OK;
    tg__buf tmp = {0};
    tg__buf *bufs[2] = {out, &tmp};
    int cur = -1; /* which buffer holds the text so far; -1: still s */
    for (size_t k = 0; k < tok->n_norms; k++) {
        int dst = cur == 0 ? 1 : 0;
        const unsigned char *src = cur < 0 ? s : (const unsigned char *)bufs[cur]->data;
        size_t src_len = cur < 0 ? n : bufs[cur]->len;
        if (!apply(&tok->norms[k], bufs[dst], src, src_len)) {
            free(tmp.data);
            return tg__error(TG_ENOMEM, "tg_tokenizer_encode: out of memory normalizing %zu bytes",
                             n);
        }
        cur = dst;
    }
    if (cur == 1) {
        out->len = 0;
        if (!tg__buf_append(out, tmp.data, tmp.len)) {
            free(tmp.data);
            return tg__error(TG_ENOMEM, "tg_tokenizer_encode: out of memory normalizing %zu bytes",
                             n);
        }
    }
    free(tmp.data);
    *res = (const unsigned char *)out->data;
    *res_len = out->len;
    return TG_OK;
}
