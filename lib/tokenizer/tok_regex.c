/* tokenizer/tok_regex.c — Split patterns. tokenizer.json files are written for Hugging Face's
 * Rust library, whose regex engine is Oniguruma (Ruby syntax); GLib's GRegex is PCRE2 with
 * Unicode properties. The two agree on what the tokenizers of today use (\p{L}, \p{N}, (?i:...),
 * lookahead, classes, {m,n}) except a few escapes, which are rewritten to what Oniguruma means:
 *   \s, \S   Oniguruma: the White_Space property; PCRE2 adds U+180E  -> \p{White_Space}
 *   \v       Oniguruma: U+000B; PCRE2: any vertical space            -> \x0B
 *   \uHHHH   Oniguruma only                                          -> \x{HHHH}
 *   .        any character but \n                                   -> [^\n]
 *   ^, $     always line anchors (Ruby)                              -> (?<![^\n]), (?![^\n])
 *   {,n}     Oniguruma: {0,n}; PCRE2 10.42: literal text              -> {0,n}
 * Constructs whose meaning differs and that no known tokenizer uses are refused by name
 * (TG_EUNSUPPORTED): \w \W \b \B \h \H \G \X \N \O \y \Y, POSIX brackets and nested classes
 * ([[:alpha:]], [a[b]]), class intersection (&&), option groups other than (?i...), and
 * Oniguruma's absent operator (?~...). */
#include "tokenizer_internal.h"
#include "core/error.h"

#include <string.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static tg_status refuse(GString *o, const char *what, const char *pattern, size_t at,
                        const char *construct)
{
    g_string_free(o, TRUE);
    return tg__error(TG_EUNSUPPORTED,
                     "%s: regex \"%s\": %s at offset %zu is not supported (its meaning differs "
                     "between Oniguruma, which the file was written for, and PCRE2)",
                     what, pattern, construct, at);
}

/* An escape at p[i] == '\\'; appends its translation and returns the index of its last char. */
static tg_status escape(GString *o, const char *p, size_t n, size_t *i, const char *what)
{
    size_t at = *i;
    if (at + 1 >= n) {
        g_string_free(o, TRUE);
        return tg__error(TG_EFORMAT, "%s: regex \"%s\" ends with a lone backslash", what, p);
    }
    char e = p[at + 1];
    *i = at + 1;
    switch (e) {
    case 's':
        g_string_append(o, "\\p{White_Space}");
        return TG_OK;
    case 'S':
        g_string_append(o, "\\P{White_Space}");
        return TG_OK;
    case 'v':
        g_string_append(o, "\\x0B");
        return TG_OK;
    case 'u':
        if (at + 5 < n && is_hex(p[at + 2]) && is_hex(p[at + 3]) && is_hex(p[at + 4]) &&
            is_hex(p[at + 5])) {
            g_string_append_printf(o, "\\x{%.4s}", p + at + 2);
            *i = at + 5;
            return TG_OK;
        }
        g_string_free(o, TRUE);
        return tg__error(TG_EFORMAT, "%s: regex \"%s\": \\u at offset %zu needs 4 hex digits", what,
                         p, at);
    case 'p':
    case 'P':
    case 'x':
        /* \p{Name}, \xHH, \x{HHHH}: the same in both */
        g_string_append_c(o, '\\');
        g_string_append_c(o, e);
        if (at + 2 < n && p[at + 2] == '{') {
            const char *close = memchr(p + at + 2, '}', n - (at + 2));
            if (!close) {
                g_string_free(o, TRUE);
                return tg__error(TG_EFORMAT, "%s: regex \"%s\": unterminated \\%c{ at offset %zu",
                                 what, p, e, at);
            }
            size_t end = (size_t)(close - p);
            g_string_append_len(o, p + at + 2, (gssize)(end - (at + 2) + 1));
            *i = end;
        }
        return TG_OK;
    case 'w':
    case 'W':
    case 'b':
    case 'B':
    case 'h':
    case 'H':
    case 'G':
    case 'X':
    case 'N':
    case 'O':
    case 'y':
    case 'Y':
    case 'Q':
    case 'E': {
        char name[4] = {'\\', e, 0, 0};
        return refuse(o, what, p, at, name);
    }
    default:
        break;
    }
    /* Escapes that mean the same in both: \d \D \t \n \r \f \a \e \A \z \Z \R \K \k<> \g<>
     * \c, octal/back-references, and any escaped non-letter. */
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
        if (!strchr("dDtnrfaeAzZRKkgc", e)) {
            char name[4] = {'\\', e, 0, 0};
            return refuse(o, what, p, at, name);
        }
    }
    g_string_append_c(o, '\\');
    g_string_append_c(o, e);
    return TG_OK;
}

tg_status tg__regex_translate(char **out, const char *p, const char *what)
{
    *out = NULL;
    size_t n = strlen(p);
    GString *o = g_string_sized_new(n + 32);
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\') {
            tg_status st = escape(o, p, n, &i, what);
            if (st != TG_OK)
                return st;
            continue;
        }
        if (in_class) {
            if (c == ']') {
                in_class = 0;
            } else if (c == '[') {
                return refuse(o, what, p, i, "a nested class or POSIX bracket inside [...]");
            } else if (c == '&' && i + 1 < n && p[i + 1] == '&') {
                return refuse(o, what, p, i, "class intersection &&");
            }
            g_string_append_c(o, c);
            continue;
        }
        switch (c) {
        case '[':
            in_class = 1;
            g_string_append_c(o, '[');
            if (i + 1 < n && p[i + 1] == '^')
                g_string_append_c(o, p[++i]);
            if (i + 1 < n && p[i + 1] == ']') /* a leading ']' is literal */
                g_string_append_c(o, p[++i]);
            break;
        case '.':
            g_string_append(o, "[^\\n]");
            break;
        case '^':
            g_string_append(o, "(?<![^\\n])");
            break;
        case '$':
            g_string_append(o, "(?![^\\n])");
            break;
        case '{':
            if (i + 1 < n && p[i + 1] == ',') {
                size_t j = i + 2;
                while (j < n && p[j] >= '0' && p[j] <= '9')
                    j++;
                if (j > i + 2 && j < n && p[j] == '}') {
                    g_string_append(o, "{0");
                    break; /* the ",n}" follows as is */
                }
            }
            g_string_append_c(o, '{');
            break;
        case '(':
            g_string_append_c(o, '(');
            if (i + 1 < n && p[i + 1] == '?') {
                /* (?: (?= (?! (?<= (?<! (?> (?<name> (?# ... pass; options: only i */
                size_t j = i + 2;
                if (j < n && p[j] == '~')
                    return refuse(o, what, p, i, "the absent operator (?~...)");
                if (j < n && (p[j] == '-' || (p[j] >= 'a' && p[j] <= 'z'))) {
                    size_t k = j;
                    while (k < n && (p[k] == '-' || (p[k] >= 'a' && p[k] <= 'z')))
                        k++;
                    for (size_t q = j; q < k; q++)
                        if (p[q] != 'i' && p[q] != '-')
                            return refuse(o, what, p, i, "an option group other than (?i)");
                }
            }
            break;
        default:
            g_string_append_c(o, c);
        }
    }
    if (in_class) {
        g_string_free(o, TRUE);
        return tg__error(TG_EFORMAT, "%s: regex \"%s\": unterminated character class", what, p);
    }
    *out = g_string_free(o, FALSE);
    return TG_OK;
}

tg_status tg__regex_compile(GRegex **out, const char *pattern, const char *what)
{
    *out = NULL;
    char *pcre = NULL;
    tg_status st = tg__regex_translate(&pcre, pattern, what);
    if (st != TG_OK)
        return st;
    GError *err = NULL;
    /* OPTIMIZE: PCRE2's JIT (measured 100x faster than the interpreter here, which also
     * re-validates the whole subject at each match). Subjects are always valid UTF-8. */
    GRegex *re = g_regex_new(pcre, G_REGEX_OPTIMIZE | G_REGEX_NEWLINE_LF, 0, &err);
    if (!re) {
        st = tg__error(TG_EUNSUPPORTED, "%s: regex \"%s\" does not compile with PCRE2: %s", what,
                       pattern, err ? err->message : "?");
        g_clear_error(&err);
        g_free(pcre);
        return st;
    }
    g_free(pcre);
    /* GLib compiles the JIT code at the first match, writing into the GRegex: do it now, while
     * the tokenizer is still private to the loading thread (encoding threads share it). */
    g_regex_match(re, "", 0, NULL);
    *out = re;
    return TG_OK;
}
