/* tokenizer/tok_pretok.c — pre-tokenization: the steps of tokenizer.json's "pre_tokenizer" (Split
 * by a regex or a literal with HF's five delimiter behaviors and `invert`, ByteLevel, Metaspace),
 * each run over every piece the step before it produced, as HF does; the last step's pieces are
 * the words the model encodes. GPT-2's pattern has a hand-written scanner (no regex engine). */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- GPT-2's pattern ----
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * \p{L}, \p{N}: GLib general categories. \s: the Unicode White_Space property (as Python's
 * `regex`, Rust's `regex`/tiktoken and Oniguruma/HF tokenizers define it) =
 * g_unichar_isspace() (Zs, Zl, Zp, \t \n \f \r) plus U+000B and U+0085. A byte that is not part
 * of well-formed UTF-8 counts as one "other" character. */

const char tg__gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum { C_OTHER = 0, C_LETTER = 1, C_NUMBER = 2, C_SPACE = 3 };

static uint8_t ascii_class[128];

static void init_ascii_class_once(void)
{
    for (int c = 0; c < 128; c++) {
        uint8_t k = C_OTHER;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            k = C_LETTER;
        else if (c >= '0' && c <= '9')
            k = C_NUMBER;
        else if (c == ' ' || (c >= 0x09 && c <= 0x0D))
            k = C_SPACE;
        ascii_class[c] = k;
    }
}

static void init_ascii_class(void)
{
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        init_ascii_class_once();
        g_once_init_leave(&once, 1);
    }
}

static uint8_t unichar_class(uint32_t cp)
{
    switch (g_unichar_type(cp)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
        return C_LETTER;
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
        return C_NUMBER;
    case G_UNICODE_SPACE_SEPARATOR:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return C_SPACE;
    default:
        return cp == 0x85 ? C_SPACE : C_OTHER;
    }
}

/* Class of the character at s[i] (i < n); *len receives its byte length. */
static inline uint8_t class_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = s[i];
    if (c < 0x80) {
        *len = 1;
        return ascii_class[c];
    }
    uint32_t cp;
    size_t k = tg__utf8_decode(s + i, n - i, &cp);
    if (k == 0) {
        *len = 1;
        return C_OTHER;
    }
    *len = k;
    return unichar_class(cp);
}

/* End of the run of characters of class `cls` starting at i. */
static inline size_t run_end(const unsigned char *s, size_t n, size_t i, uint8_t cls)
{
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (ascii_class[c] != cls)
                break;
            i++;
            continue;
        }
        size_t k;
        if (class_at(s, n, i, &k) != cls)
            break;
        i += k;
    }
    return i;
}

/* The scanner, inlined where it is used so that a constant `fn` becomes a direct call (GPT-2's
 * pieces go straight to the model: measured 10% of the encode time otherwise). */
/* `bytes_only`: fn is the byte-level model, which fails only by running out of memory (a
 * constant where inlined: one test less per piece). */
static inline __attribute__((always_inline)) void scan_gpt2(tg__enc *e, const unsigned char *s,
                                                            size_t n, int first, tg__piece_fn fn,
                                                            void *ctx, int bytes_only)
{
    init_ascii_class();
    size_t i = 0;
    while (i < n && (bytes_only ? !e->out.oom : tg__enc_ok(e))) {
        size_t start = i, k;
        unsigned char c = s[i];
        if (c == '\'' && i + 1 < n) {
            unsigned char d = s[i + 1];
            size_t m = 0;
            if (d == 's' || d == 't' || d == 'm' || d == 'd')
                m = 2;
            else if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') ||
                                   (d == 'l' && s[i + 2] == 'l')))
                m = 3;
            if (m) {
                fn(ctx, s + i, m, first && i == 0);
                i += m;
                continue;
            }
        }
        uint8_t cls = class_at(s, n, i, &k);
        if (cls == C_SPACE) {
            if (c == ' ' && i + 1 < n) {
                size_t k2;
                uint8_t next = class_at(s, n, i + 1, &k2);
                if (next != C_SPACE) {
                    /* " ?\p{L}+" and friends: the space prefixes the run */
                    i = run_end(s, n, i + 1 + k2, next);
                    fn(ctx, s + start, i - start, first && start == 0);
                    continue;
                }
            }
            /* a whitespace run: \s+(?!\S) leaves its last character to the next piece */
            size_t last = i, j = i + k, nchars = 1;
            while (j < n) {
                size_t kk;
                if (class_at(s, n, j, &kk) != C_SPACE)
                    break;
                last = j;
                j += kk;
                nchars++;
            }
            if (j < n && nchars > 1)
                j = last;
            fn(ctx, s + start, j - start, first && start == 0);
            i = j;
            continue;
        }
        i = run_end(s, n, i + k, cls);
        fn(ctx, s + start, i - start, first && start == 0);
    }
}

void tg__scan_gpt2(tg__enc *e, const unsigned char *s, size_t n, int first, tg__piece_fn fn,
                   void *ctx)
{
    scan_gpt2(e, s, n, first, fn, ctx, 0);
}

/* ---- Llama 3's and Qwen2's pattern ----
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+        (Qwen2/2.5/3: \p{N} instead of \p{N}{1,3})
 * with the classes of GPT-2's scanner. What each alternative matches, tried in order at i:
 *   1. ' and s, t, m, d, re, ve, ll in any case (also U+017F, which folds to s);
 *   2. a letter run, with one character before it that is not \r, \n, a letter or a number;
 *   3. up to `digits` numbers;
 *   4. a run of "other" characters, with a space before it, and the \r and \n after it;
 *   5. in a whitespace run holding \r or \n: up to its last \r or \n;
 *   6. a whitespace run at the end, or all of it but its last character (which then starts
 *      the next piece, as in GPT-2's);
 *   7. a single whitespace character. */

const char tg__llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char tg__qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static inline int is_crlf(unsigned char c)
{
    return c == '\r' || c == '\n';
}

/* Length of a contraction at s[i] == '\'', case-insensitive, or 0. */
static inline size_t contraction(const unsigned char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0;
    unsigned char d = s[i + 1];
    if (d >= 'A' && d <= 'Z')
        d = (unsigned char)(d + 32);
    if (d == 's' || d == 't' || d == 'm' || d == 'd')
        return 2;
    if (d == 0xC5 && i + 2 < n && s[i + 2] == 0xBF) /* U+017F: s under Unicode case folding */
        return 3;
    if (i + 2 >= n)
        return 0;
    unsigned char e2 = s[i + 2];
    if (e2 >= 'A' && e2 <= 'Z')
        e2 = (unsigned char)(e2 + 32);
    if (((d == 'r' || d == 'v') && e2 == 'e') || (d == 'l' && e2 == 'l'))
        return 3;
    return 0;
}

static inline __attribute__((always_inline)) void scan_llama3(tg__enc *e, const unsigned char *s,
                                                              size_t n, int first, int digits,
                                                              tg__piece_fn fn, void *ctx,
                                                              int bytes_only)
{
    init_ascii_class();
    size_t i = 0;
    while (i < n && (bytes_only ? !e->out.oom : tg__enc_ok(e))) {
        size_t start = i, k, j;
        unsigned char c = s[i];
        if (c == '\'') {
            size_t m = contraction(s, n, i);
            if (m) {
                fn(ctx, s + i, m, first && i == 0);
                i += m;
                continue;
            }
        }
        uint8_t cls = class_at(s, n, i, &k);
        if (cls == C_LETTER) { /* 2, without the character before */
            j = run_end(s, n, i + k, C_LETTER);
            goto piece;
        }
        if (cls != C_NUMBER && !is_crlf(c) && i + k < n) { /* 2, with it */
            size_t k2;
            if (class_at(s, n, i + k, &k2) == C_LETTER) {
                j = run_end(s, n, i + k + k2, C_LETTER);
                goto piece;
            }
        }
        if (cls == C_NUMBER) { /* 3 */
            j = i + k;
            for (int d = 1; d < digits && j < n; d++) {
                size_t k3;
                if (class_at(s, n, j, &k3) != C_NUMBER)
                    break;
                j += k3;
            }
            goto piece;
        }
        size_t p = i; /* 4 */
        if (c == ' ' && i + 1 < n) {
            size_t k4;
            if (class_at(s, n, i + 1, &k4) == C_OTHER)
                p = i + 1;
        }
        size_t kp = k;
        if (p == i + 1 || cls == C_OTHER) {
            if (p == i + 1)
                class_at(s, n, p, &kp);
            j = run_end(s, n, p + kp, C_OTHER);
            while (j < n && is_crlf(s[j]))
                j++;
            goto piece;
        }
        { /* 5, 6, 7: cls is C_SPACE */
            size_t last = i, nl = SIZE_MAX, nchars = 0;
            j = i;
            while (j < n) {
                size_t kk;
                if (class_at(s, n, j, &kk) != C_SPACE)
                    break;
                if (is_crlf(s[j]))
                    nl = j;
                last = j;
                j += kk;
                nchars++;
            }
            if (nl != SIZE_MAX)
                j = nl + 1;
            else if (j < n && nchars > 1)
                j = last;
        }
    piece:
        fn(ctx, s + start, j - start, first && start == 0);
        i = j;
    }
}

void tg__scan_llama3(tg__enc *e, const unsigned char *s, size_t n, int first, int digits,
                     tg__piece_fn fn, void *ctx)
{
    scan_llama3(e, s, n, first, digits, fn, ctx, 0);
}

static void to_model(void *ctx, const unsigned char *s, size_t n, int first)
{
    tg__encode_word(ctx, s, n);
}

/* always_inline: inlined into the scanners' loops (a call per piece otherwise: 2.9 M more
 * instructions per MB of English with GPT-2, measured with callgrind). */
static inline __attribute__((always_inline)) void to_bytes_model(void *ctx, const unsigned char *s,
                                                                 size_t n, int first)
{
    tg__enc *e = ctx;
    tg__encode_bytes_word(e->tok, &e->out, s, n);
}

/* GPT-2's pieces as the model's words. */
static void scan_gpt2_words(tg__enc *e, const unsigned char *s, size_t n)
{
    if (e->tok->kind == TG_TOKENIZER_BYTE_BPE)
        scan_gpt2(e, s, n, 0, to_bytes_model, e, 1);
    else
        scan_gpt2(e, s, n, 0, to_model, e, 0);
}

/* Llama 3's pieces as the model's words. */
static void scan_llama3_words(tg__enc *e, const unsigned char *s, size_t n, int digits)
{
    if (e->tok->kind == TG_TOKENIZER_BYTE_BPE)
        scan_llama3(e, s, n, 0, digits, to_bytes_model, e, 1);
    else
        scan_llama3(e, s, n, 0, digits, to_model, e, 0);
}

/* 1 when what steps [step, n_pre) do to a piece is nothing: the model gets it as it is (a last
 * ByteLevel without prefix space or regex only says the model is byte-level). */
static int steps_are_identity(const tg_tokenizer *tok, size_t step)
{
    for (; step < tok->n_pre; step++) {
        const tg__pretok *p = &tok->pre[step];
        if (p->kind != TG__PRE_BYTELEVEL || p->add_prefix_space || p->use_regex)
            return 0;
    }
    return 1;
}

/* ---- Split: from matches to pieces ----
 * The text is cut into spans, each a match of the pattern or the text between two matches. With
 * `invert` matches and gaps swap roles. Then HF's behaviors:
 *   Removed            gaps only;
 *   Isolated           every span;
 *   MergedWithPrevious a match joins the span before it, unless that span is a match too;
 *   MergedWithNext     a match joins the span after it, unless that span is a match too;
 *   Contiguous         consecutive spans of the same kind form one piece (consecutive
 *                      matches; with `invert`, what were consecutive matches). */

typedef struct splitter {
    tg__enc *e;
    size_t step; /* where the pieces go */
    int direct;  /* ... straight to the model (steps_are_identity()) */
    const unsigned char *s;
    int first;
    int behavior, invert;
    size_t pend_start, pend_end; /* a piece that may still grow */
    int pend, pend_match;
} splitter;

static void emit(splitter *sp, size_t a, size_t b)
{
    if (sp->direct)
        tg__encode_word(sp->e, sp->s + a, b - a);
    else
        tg__pretokenize(sp->e, sp->step, sp->s + a, b - a, sp->first && a == 0);
}

static void flush(splitter *sp)
{
    if (sp->pend)
        emit(sp, sp->pend_start, sp->pend_end);
    sp->pend = 0;
}

static void span(splitter *sp, size_t a, size_t b, int is_match)
{
    if (b <= a || !tg__enc_ok(sp->e))
        return;
    if (sp->invert)
        is_match = !is_match;
    switch (sp->behavior) {
    case TG__SPLIT_REMOVED:
        if (!is_match)
            emit(sp, a, b);
        return;
    case TG__SPLIT_ISOLATED:
        emit(sp, a, b);
        return;
    case TG__SPLIT_MERGED_PREVIOUS:
        if (is_match && sp->pend && !sp->pend_match) {
            sp->pend_end = b;
            sp->pend_match = 1; /* a match follows a merged piece as a piece of its own */
            return;
        }
        break;
    case TG__SPLIT_MERGED_NEXT:
        if (!is_match && sp->pend && sp->pend_match) {
            sp->pend_end = b;
            sp->pend_match = 0;
            flush(sp);
            return;
        }
        break;
    default: /* CONTIGUOUS */
        if (sp->pend && is_match == sp->pend_match) {
            sp->pend_end = b;
            return;
        }
        break;
    }
    flush(sp);
    sp->pend = 1;
    sp->pend_start = a;
    sp->pend_end = b;
    sp->pend_match = is_match;
}

/* Length of the well-formed UTF-8 prefix (NUL allowed). */
static size_t valid_len(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = tg__utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

/* Run the regex over s and report its matches and the gaps between them. GRegex needs valid
 * UTF-8: each byte that is not part of a well-formed sequence is given to it as U+FFFD (one
 * "other" character, as GPT-2's scanner counts it) and the offsets are mapped back. */
static void regex_spans(splitter *sp, GRegex *re, const unsigned char *s, size_t n)
{
    tg__enc *e = sp->e;
    if (n > (size_t)G_MAXINT / 4) {
        e->st = tg__error(TG_EINVAL,
                          "tg_tokenizer_encode: a text of %zu bytes is too long for a Split "
                          "regex (GRegex counts in int)",
                          n);
        return;
    }
    const unsigned char *t = s;
    size_t m = n;
    size_t *map = NULL; /* offset in t -> offset in s */
    unsigned char *copy = NULL;
    size_t v = valid_len(s, n);
    if (v < n) {
        copy = tg__malloc(3 * n + 1);
        map = tg__malloc(sizeof *map * (3 * n + 1));
        if (!copy || !map) {
            free(copy);
            free(map);
            e->out.oom = 1;
            return;
        }
        size_t i = 0, o = 0;
        while (i < n) {
            size_t k = valid_len(s + i, n - i);
            for (size_t q = 0; q < k; q++) {
                map[o] = i + q;
                copy[o++] = s[i + q];
            }
            i += k;
            if (i < n) {
                static const unsigned char fffd[3] = {0xEF, 0xBF, 0xBD};
                for (int q = 0; q < 3; q++) {
                    map[o] = i;
                    copy[o++] = fffd[q];
                }
                i++;
            }
        }
        map[o] = n;
        t = copy;
        m = o;
    }
    GMatchInfo *mi = NULL;
    GError *err = NULL;
    size_t prev = 0;
    g_regex_match_full(re, (const char *)t, (gssize)m, 0, 0, &mi, &err);
    while (!err && g_match_info_matches(mi) && tg__enc_ok(e)) {
        int a = 0, b = 0;
        g_match_info_fetch_pos(mi, 0, &a, &b);
        if (b > a) {
            size_t sa = map ? map[a] : (size_t)a, sb = map ? map[b] : (size_t)b;
            span(sp, prev, sa, 0);
            span(sp, sa, sb, 1);
            prev = sb;
        }
        g_match_info_next(mi, &err);
    }
    g_match_info_free(mi);
    if (err) {
        if (e->st == TG_OK)
            e->st = tg__error(TG_EINVAL, "tg_tokenizer_encode: matching a Split regex failed: %s",
                              err->message);
        g_clear_error(&err);
    } else {
        span(sp, prev, n, 0);
    }
    free(copy);
    free(map);
}

static void literal_spans(splitter *sp, const char *lit, size_t len, const unsigned char *s,
                          size_t n)
{
    size_t i = 0;
    while (i < n && tg__enc_ok(sp->e)) {
        const unsigned char *hit = len <= n - i ? memmem(s + i, n - i, lit, len) : NULL;
        if (!hit)
            break;
        size_t a = (size_t)(hit - s);
        span(sp, i, a, 0);
        span(sp, a, a + len, 1);
        i = a + len;
    }
    span(sp, i, n, 0);
}

/* A hand-written scanner with a behavior other than plain Isolated: its pieces are matches. */
static void gpt2_match(void *ctx, const unsigned char *s, size_t n, int first)
{
    splitter *sp = ctx;
    span(sp, (size_t)(s - sp->s), (size_t)(s - sp->s) + n, 1);
}

/* A piece goes on to the next step. */
typedef struct next_step {
    tg__enc *e;
    size_t step;
} next_step;

static void to_next_step(void *ctx, const unsigned char *s, size_t n, int first)
{
    next_step *k = ctx;
    tg__pretokenize(k->e, k->step, s, n, first);
}

static void split(tg__enc *e, size_t step, const tg__pretok *p, const unsigned char *s, size_t n,
                  int first)
{
    int direct = steps_are_identity(e->tok, step + 1);
    if (p->behavior == TG__SPLIT_ISOLATED && !p->invert) {
        next_step k = {e, step + 1};
        if (p->scanner == TG__SCAN_GPT2) {
            if (direct)
                scan_gpt2_words(e, s, n);
            else
                scan_gpt2(e, s, n, first, to_next_step, &k, 0);
            return;
        }
        if (p->scanner == TG__SCAN_LLAMA3) {
            if (direct)
                scan_llama3_words(e, s, n, p->digits);
            else
                scan_llama3(e, s, n, first, p->digits, to_next_step, &k, 0);
            return;
        }
    }
    splitter sp = {e, step + 1, direct, s, first, p->behavior, p->invert, 0, 0, 0, 0};
    if (p->scanner == TG__SCAN_REGEX) {
        regex_spans(&sp, p->re, s, n);
    } else if (p->scanner == TG__SCAN_LITERAL) {
        literal_spans(&sp, p->literal, p->literal_len, s, n);
    } else if (p->scanner == TG__SCAN_LLAMA3) {
        scan_llama3(e, s, n, first, p->digits, gpt2_match, &sp, 0);
    } else {
        scan_gpt2(e, s, n, first, gpt2_match, &sp, 0);
    }
    flush(&sp);
}

/* ---- ByteLevel and Metaspace ---- */

static void byte_level(tg__enc *e, size_t step, const tg__pretok *p, const unsigned char *s,
                       size_t n, int first)
{
    unsigned char *tmp = NULL;
    if (p->add_prefix_space && s[0] != ' ') {
        tmp = tg__malloc(n + 1);
        if (!tmp) {
            e->out.oom = 1;
            return;
        }
        tmp[0] = ' ';
        memcpy(tmp + 1, s, n);
        s = tmp;
        n++;
    }
    if (p->use_regex && step + 1 == e->tok->n_pre) {
        scan_gpt2_words(e, s, n);
    } else if (p->use_regex) {
        next_step k = {e, step + 1};
        scan_gpt2(e, s, n, first, to_next_step, &k, 0);
    } else {
        tg__pretokenize(e, step + 1, s, n, first);
    }
    free(tmp);
}

/* Spaces become the replacement character (U+2581 "▁"), which is prepended as the scheme says
 * unless the text starts with it; with `split`, each word keeps the "▁" before it
 * (MergedWithNext on the replacement). */
static void metaspace(tg__enc *e, size_t step, const tg__pretok *p, const unsigned char *s,
                      size_t n, int first)
{
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++)
        spaces += s[i] == ' ';
    size_t cap = n + (spaces + 1) * p->rep_len;
    unsigned char *t = tg__malloc(cap);
    if (!t) {
        e->out.oom = 1;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(t + m, p->rep, p->rep_len);
            m += p->rep_len;
        } else {
            t[m++] = s[i];
        }
    }
    int prepend = p->prepend_scheme == TG__PREPEND_ALWAYS ||
                  (p->prepend_scheme == TG__PREPEND_FIRST && first);
    if (prepend && !(m >= p->rep_len && memcmp(t, p->rep, p->rep_len) == 0)) {
        memmove(t + p->rep_len, t, m);
        memcpy(t, p->rep, p->rep_len);
        m += p->rep_len;
    }
    if (p->split) {
        splitter sp = {e, step + 1, 0, t, first, TG__SPLIT_MERGED_NEXT, 0, 0, 0, 0, 0};
        literal_spans(&sp, p->rep, p->rep_len, t, m);
        flush(&sp);
    } else {
        tg__pretokenize(e, step + 1, t, m, first);
    }
    free(t);
}

void tg__pretokenize(tg__enc *e, size_t step, const unsigned char *s, size_t n, int first)
{
    if (n == 0 || !tg__enc_ok(e))
        return; /* HF drops empty pieces */
    const tg_tokenizer *tok = e->tok;
    if (step == tok->n_pre) {
        tg__encode_word(e, s, n);
        return;
    }
    const tg__pretok *p = &tok->pre[step];
    switch (p->kind) {
    case TG__PRE_SPLIT:
        split(e, step, p, s, n, first);
        break;
    case TG__PRE_BYTELEVEL:
        byte_level(e, step, p, s, n, first);
        break;
    default:
        metaspace(e, step, p, s, n, first);
        break;
    }
}
