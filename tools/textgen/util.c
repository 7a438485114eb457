/* tools/textgen/util.c — one-line error messages, printable token text, terminal widths. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

/* "textgen: <msg>[: <detail>]" as one line on stderr. */
static void print_line(const char *msg, const char *detail)
{
    GString *s = g_string_new("textgen: ");
    g_string_append(s, msg);
    if (detail && *detail) {
        g_string_append(s, ": ");
        g_string_append(s, detail);
    }
    /* one line: newlines inside the message become "; " */
    GString *out = g_string_sized_new(s->len + 1);
    for (const char *p = s->str; *p; p++) {
        if (*p == '\n') {
            if (p[1])
                g_string_append(out, "; ");
        } else if (*p != '\r') {
            g_string_append_c(out, *p);
        }
    }
    g_string_append_c(out, '\n');
    fflush(stdout);
    fputs(out->str, stderr);
    fflush(stderr);
    g_string_free(out, TRUE);
    g_string_free(s, TRUE);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    print_line(msg, NULL);
    g_free(msg);
}

void cli_error_tg(const char *fmt, ...)
{
    char *last = g_strdup(tg_error_last());
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    print_line(msg, *last ? last : "unknown error");
    g_free(msg);
    g_free(last);
}

int cli_check_utf8(const char *what, const char *text)
{
    const char *end;
    if (g_utf8_validate(text, -1, &end))
        return 0;
    cli_error("%s is not valid UTF-8: byte 0x%02X at byte offset %zu (text must be UTF-8, "
              "whatever the locale)",
              what, (unsigned)(unsigned char)*end, (size_t)(end - text));
    return -1;
}

char *cli_escape_bytes(const char *bytes, size_t len)
{
    GString *s = g_string_new(NULL);
    const char *p = bytes, *end = bytes + len;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            g_string_append(s, "\\n");
        } else if (c == '\t') {
            g_string_append(s, "\\t");
        } else if (c == '\r') {
            g_string_append(s, "\\r");
        } else if (c == '\\') {
            g_string_append(s, "\\\\");
        } else if (c == '\'') {
            g_string_append(s, "\\'");
        } else if (c < 0x20 || c == 0x7f) {
            g_string_append_printf(s, "\\x%02x", c);
        } else if (c < 0x80) {
            g_string_append_c(s, (char)c);
        } else {
            gunichar u = g_utf8_get_char_validated(p, end - p);
            if (u == (gunichar)-1 || u == (gunichar)-2 || !g_unichar_isprint(u)) {
                g_string_append_printf(s, "\\x%02x", c);
            } else {
                const char *next = g_utf8_next_char(p);
                g_string_append_len(s, p, next - p);
                p = next;
                continue;
            }
        }
        p++;
    }
    return g_string_free(s, FALSE);
}

char *cli_token_text(const tg_tokenizer *tok, int32_t id)
{
    const char *bytes;
    size_t len;
    if (!tok || tg_tokenizer_token_to_bytes(&bytes, &len, tok, id) != TG_OK)
        return g_strdup_printf("<%d>", (int)id);
    if (tg_tokenizer_is_special(tok, id)) {
        const char *piece;
        if (tg_tokenizer_token_to_piece(&piece, NULL, tok, id) == TG_OK)
            return cli_escape_bytes(piece, strlen(piece));
    }
    return cli_escape_bytes(bytes, len);
}

size_t cli_display_width(const char *s)
{
    size_t w = 0;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar u = g_utf8_get_char(p);
        if (g_unichar_iszerowidth(u))
            continue;
        w += g_unichar_iswide(u) ? 2 : 1;
    }
    return w;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
