/* core/json_scan.c — a strict pull scanner over JSON text (see json_scan.h). */
#include "json_scan.h"
#include "alloc.h"
#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void tg__json_scan_init(tg__json_scan *s, const char *data, size_t len, const char *what)
{
    memset(s, 0, sizeof *s);
    s->data = data;
    s->len = len;
    s->what = what;
}

void tg__json_scan_clear(tg__json_scan *s)
{
    free(s->key.data);
    free(s->str.data);
    s->key = (tg__buf){0};
    s->str = (tg__buf){0};
}

static tg_status bad(const tg__json_scan *s, size_t at, const char *why)
{
    if (at >= s->len)
        return tg__error(TG_EFORMAT, "%s: malformed JSON at byte %zu: the text ends early (%s)",
                         s->what, s->len, why);
    return tg__error(TG_EFORMAT, "%s: malformed JSON at byte %zu: %s", s->what, at, why);
}

static void skip_blanks(tg__json_scan *s)
{
    while (s->pos < s->len) {
        char c = s->data[s->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        s->pos++;
    }
}

/* Room for `extra` bytes and the NUL after them. */
static int text_reserve(tg__buf *t, size_t extra)
{
    return extra < SIZE_MAX && tg__buf_reserve(t, extra + 1);
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid, as in RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 1;
}

/* Read the string at s->pos (its opening quote) into t. */
static tg_status read_string(tg__json_scan *s, tg__buf *t)
{
    const char *d = s->data;
    size_t i = s->pos + 1, n = s->len;
    t->len = 0;
    for (;;) {
        size_t run = i; /* copy plain bytes in runs */
        while (i < n && d[i] != '"' && d[i] != '\\' && (unsigned char)d[i] >= 0x20 &&
               (unsigned char)d[i] < 0x80)
            i++;
        if (i > run) {
            if (!text_reserve(t, i - run))
                return tg__enomem(s->what, i - run);
            memcpy(t->data + t->len, d + run, i - run);
            t->len += i - run;
        }
        if (i >= n)
            return bad(s, n, "inside a string");
        unsigned char c = (unsigned char)d[i];
        if (c == '"') {
            if (!text_reserve(t, 0))
                return tg__enomem(s->what, 1);
            t->data[t->len] = '\0';
            s->pos = i + 1;
            return TG_OK;
        }
        if (c < 0x20)
            return bad(s, i, "a control character inside a string must be escaped");
        if (c >= 0x80) {
            size_t k = utf8_len((const unsigned char *)d + i, n - i);
            if (!k)
                return bad(s, i, "invalid UTF-8");
            if (!text_reserve(t, k))
                return tg__enomem(s->what, k);
            memcpy(t->data + t->len, d + i, k);
            t->len += k;
            i += k;
            continue;
        }
        /* an escape */
        if (i + 1 >= n)
            return bad(s, n, "inside an escape");
        char e = d[i + 1], out = 0;
        switch (e) {
        case '"':
            out = '"';
            break;
        case '\\':
            out = '\\';
            break;
        case '/':
            out = '/';
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'n':
            out = '\n';
            break;
        case 'r':
            out = '\r';
            break;
        case 't':
            out = '\t';
            break;
        case 'u':
            break;
        default:
            return bad(s, i, "an unknown escape (only \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
        }
        if (!text_reserve(t, 4))
            return tg__enomem(s->what, 4);
        if (e != 'u') {
            t->data[t->len++] = out;
            i += 2;
            continue;
        }
        uint32_t cp;
        if (n - i < 6 || !hex4(d + i + 2, &cp))
            return bad(s, i, "\\u must be followed by four hex digits");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return bad(s, i, "a low surrogate \\uDC00-\\uDFFF without a high one before it");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (n - i < 12 || d[i + 6] != '\\' || d[i + 7] != 'u' || !hex4(d + i + 8, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                return bad(s, i, "a high surrogate \\uD800-\\uDBFF without a low one after it");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        t->len += put_utf8(t->data + t->len, cp);
        i += 6;
    }
}

tg_status tg__json_scan_peek(tg__json_scan *s, int *kind)
{
    skip_blanks(s);
    if (s->pos >= s->len)
        return bad(s, s->len, "where a value was expected");
    switch (s->data[s->pos]) {
    case '{':
        *kind = TG__JSON_OBJECT;
        return TG_OK;
    case '[':
        *kind = TG__JSON_ARRAY;
        return TG_OK;
    case '"':
        *kind = TG__JSON_STRING;
        return TG_OK;
    case 't':
    case 'f':
        *kind = TG__JSON_BOOL;
        return TG_OK;
    case 'n':
        *kind = TG__JSON_NULL;
        return TG_OK;
    default:
        if (s->data[s->pos] == '-' || (s->data[s->pos] >= '0' && s->data[s->pos] <= '9')) {
            *kind = TG__JSON_NUMBER;
            return TG_OK;
        }
        return bad(s, s->pos, "a value was expected");
    }
}

static tg_status open_container(tg__json_scan *s, char c, int obj)
{
    skip_blanks(s);
    if (s->pos >= s->len || s->data[s->pos] != c)
        return bad(s, s->pos, obj ? "an object was expected" : "an array was expected");
    if (s->depth >= TG_JSON_MAX_DEPTH)
        return tg__error(TG_EFORMAT, "%s: JSON nested more than %d levels deep (at byte %zu)",
                         s->what, TG_JSON_MAX_DEPTH, s->pos);
    s->depth++;
    s->first[s->depth] = 1;
    s->is_obj[s->depth] = (unsigned char)obj;
    s->pos++;
    return TG_OK;
}

tg_status tg__json_scan_object(tg__json_scan *s)
{
    return open_container(s, '{', 1);
}

tg_status tg__json_scan_array(tg__json_scan *s)
{
    return open_container(s, '[', 0);
}

/* After a member or element: ',' (another follows) or the closing bracket (*more = 0). */
static tg_status next_item(tg__json_scan *s, int obj, int *more)
{
    const char close = obj ? '}' : ']';
    *more = 0;
    if (s->depth == 0 || s->is_obj[s->depth] != obj)
        return tg__error(TG_ESTATE, "%s: JSON scanner used out of order", s->what);
    skip_blanks(s);
    if (s->pos >= s->len)
        return bad(s, s->len, obj ? "inside an object" : "inside an array");
    char c = s->data[s->pos];
    if (c == close && s->first[s->depth]) {
        s->pos++;
        s->depth--;
        return TG_OK;
    }
    if (!s->first[s->depth]) {
        if (c == close) {
            s->pos++;
            s->depth--;
            return TG_OK;
        }
        if (c != ',')
            return bad(s, s->pos, obj ? "',' or '}' was expected" : "',' or ']' was expected");
        s->pos++;
        skip_blanks(s);
    }
    s->first[s->depth] = 0;
    *more = 1;
    if (!obj)
        return TG_OK;
    if (s->pos >= s->len || s->data[s->pos] != '"')
        return bad(s, s->pos, "a member name (a string) was expected");
    tg_status st = read_string(s, &s->key);
    if (st != TG_OK)
        return st;
    skip_blanks(s);
    if (s->pos >= s->len || s->data[s->pos] != ':')
        return bad(s, s->pos, "':' was expected after the member name");
    s->pos++;
    return TG_OK;
}

tg_status tg__json_scan_member(tg__json_scan *s, int *more)
{
    return next_item(s, 1, more);
}

tg_status tg__json_scan_element(tg__json_scan *s, int *more)
{
    return next_item(s, 0, more);
}

tg_status tg__json_scan_string(tg__json_scan *s)
{
    skip_blanks(s);
    if (s->pos >= s->len || s->data[s->pos] != '"')
        return bad(s, s->pos, "a string was expected");
    return read_string(s, &s->str);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

tg_status tg__json_scan_number(tg__json_scan *s, int64_t *out, int *is_int)
{
    skip_blanks(s);
    const char *d = s->data;
    size_t i = s->pos, n = s->len, start = s->pos;
    int neg = 0, sat = 0;
    uint64_t mag = 0;
    if (i < n && d[i] == '-')
        neg = 1, i++;
    if (i >= n || !is_digit(d[i]))
        return bad(s, i, "a number was expected");
    if (d[i] == '0') {
        i++;
    } else {
        for (; i < n && is_digit(d[i]); i++) {
            unsigned dig = (unsigned)(d[i] - '0');
            if (mag > (UINT64_MAX - dig) / 10)
                sat = 1;
            else
                mag = mag * 10 + dig;
        }
    }
    int integral = 1;
    if (i < n && d[i] == '.') {
        integral = 0;
        if (++i >= n || !is_digit(d[i]))
            return bad(s, i, "a digit must follow the decimal point");
        while (i < n && is_digit(d[i]))
            i++;
    }
    if (i < n && (d[i] == 'e' || d[i] == 'E')) {
        integral = 0;
        if (++i < n && (d[i] == '+' || d[i] == '-'))
            i++;
        if (i >= n || !is_digit(d[i]))
            return bad(s, i, "a digit must follow the exponent");
        while (i < n && is_digit(d[i]))
            i++;
    }
    if (i < n &&
        (is_digit(d[i]) || d[i] == '.' || d[i] == 'e' || d[i] == 'E' || d[i] == '-' || d[i] == '+'))
        return bad(s, start, "a malformed number (a leading zero?)");
    *is_int = integral;
    if (neg)
        *out = sat || mag > (uint64_t)INT64_MAX + 1 ? INT64_MIN : (int64_t)(0 - mag);
    else
        *out = sat || mag > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mag;
    s->pos = i;
    return TG_OK;
}

static tg_status literal(tg__json_scan *s, const char *word)
{
    size_t k = strlen(word);
    if (s->len - s->pos < k || memcmp(s->data + s->pos, word, k) != 0)
        return bad(s, s->pos, "a value was expected");
    s->pos += k;
    return TG_OK;
}

/* One scalar, or the opening bracket of a container. */
static tg_status begin_value(tg__json_scan *s)
{
    int kind;
    tg_status st = tg__json_scan_peek(s, &kind);
    if (st != TG_OK)
        return st;
    int64_t v;
    int is_int;
    switch (kind) {
    case TG__JSON_OBJECT:
        return tg__json_scan_object(s);
    case TG__JSON_ARRAY:
        return tg__json_scan_array(s);
    case TG__JSON_STRING:
        return tg__json_scan_string(s);
    case TG__JSON_NUMBER:
        return tg__json_scan_number(s, &v, &is_int);
    case TG__JSON_NULL:
        return literal(s, "null");
    default:
        return literal(s, s->data[s->pos] == 't' ? "true" : "false");
    }
}

tg_status tg__json_scan_skip(tg__json_scan *s)
{
    const int base = s->depth;
    for (;;) {
        tg_status st = begin_value(s);
        if (st != TG_OK)
            return st;
        /* Find the next value inside what was opened, closing finished containers. */
        for (;;) {
            if (s->depth == base)
                return TG_OK;
            int more;
            st = next_item(s, s->is_obj[s->depth], &more);
            if (st != TG_OK)
                return st;
            if (more)
                break;
        }
    }
}

tg_status tg__json_scan_end(tg__json_scan *s)
{
    skip_blanks(s);
    if (s->pos < s->len)
        return tg__error(TG_EFORMAT, "%s: unexpected text after the JSON value (at byte %zu)",
                         s->what, s->pos);
    return TG_OK;
}
