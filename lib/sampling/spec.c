/* sampling/spec.c — the chain spec language:
 *
 *   spec   := stage*                 stages separated by spaces (or commas)
 *   stage  := name [ '(' [param (',' param)*] ')' ]
 *   param  := key '=' value          value: "quoted \" text" or bare text up to ',' or ')';
 *                                    inside quotes only \" and \\ are escapes
 *
 * Positions in error messages are 1-based character columns of the spec. */
#include "core/error.h"
#include "sampling_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg__kv_free(tg_kv *kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_free(kvs[i].key);
        g_free(kvs[i].value);
    }
    g_free(kvs);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Read a value at p: quoted or bare (up to ',' or ')' or end). */
static tg_status read_value(char **out, const char **pp, const char *spec, size_t pos)
{
    const char *p = *pp;
    GString *v = g_string_new(NULL);
    if (*p == '"') {
        p++;
        for (; *p && *p != '"'; p++) {
            /* only \" and \\ are escapes: other backslashes reach the plugin as written */
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            g_string_append_c(v, *p);
        }
        if (*p != '"') {
            g_string_free(v, TRUE);
            return tg__error(TG_ESPEC, "spec position %zu: unterminated quoted value in \"%s\"",
                             pos, spec);
        }
        p++;
    } else {
        const char *start = p;
        while (*p && *p != ',' && *p != ')')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        g_string_append_len(v, start, end - start);
    }
    *pp = p;
    *out = g_string_free(v, FALSE);
    return TG_OK;
}

tg_status tg__split_params(tg_kv **out, size_t *n_out, const char *text, size_t base,
                           const char *spec)
{
    GArray *kvs = g_array_new(FALSE, TRUE, sizeof(tg_kv));
    const char *p = skip_ws(text);
    tg_status st = TG_OK;
    while (*p && st == TG_OK) {
        const char *key = p;
        while (g_ascii_isalnum(*p) || *p == '_')
            p++;
        size_t key_pos = base + (size_t)(key - text) + 1;
        if (p == key) {
            st = tg__error(TG_ESPEC,
                           "spec position %zu: expected a parameter name=value, found '%c' in "
                           "\"%s\"",
                           key_pos, *p, spec);
            break;
        }
        tg_kv kv = {g_strndup(key, p - key), NULL, key_pos};
        p = skip_ws(p);
        if (*p != '=') {
            st = tg__error(TG_ESPEC,
                           "spec position %zu: parameter '%s' needs a value: write %s=VALUE in "
                           "\"%s\"",
                           key_pos, kv.key, kv.key, spec);
            g_free(kv.key);
            break;
        }
        p = skip_ws(p + 1);
        if ((st = read_value(&kv.value, &p, spec, base + (size_t)(p - text) + 1)) != TG_OK) {
            g_free(kv.key);
            break;
        }
        g_array_append_val(kvs, kv);
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p) {
            st = tg__error(TG_ESPEC, "spec position %zu: expected ',' between parameters in \"%s\"",
                           base + (size_t)(p - text) + 1, spec);
        }
    }
    *n_out = kvs->len;
    *out = (tg_kv *)g_array_free(kvs, FALSE);
    if (st != TG_OK) {
        tg__kv_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
    }
    return st;
}

/* Find the ')' closing the '(' at *open, skipping quoted text. NULL when there is none; then
 * *open_quote is the quote left open, if that is why. */
static const char *closing_paren(const char *open, const char **open_quote)
{
    *open_quote = NULL;
    for (const char *p = open + 1; *p; p++) {
        if (*p == '"') {
            const char *quote = p;
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
            if (!*p) {
                *open_quote = quote;
                return NULL;
            }
        } else if (*p == ')') {
            return p;
        } else if (*p == '(') {
            return NULL;
        }
    }
    return NULL;
}

static tg_status parse_into(tg_chain *chain, const char *spec)
{
    const char *p = spec;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
            p++;
        if (!*p)
            return TG_OK;
        const char *name = p;
        size_t pos = (size_t)(p - spec) + 1;
        while (g_ascii_isalnum(*p) || *p == '_')
            p++;
        if (p == name)
            return tg__error(TG_ESPEC,
                             "spec position %zu: expected a processor name, found '%c' in \"%s\"",
                             pos, *p, spec);
        char *nm = g_strndup(name, p - name);
        const char *q = skip_ws(p);
        tg_kv *kvs = NULL;
        size_t n = 0;
        tg_status st = TG_OK;
        if (*q == '(') {
            const char *quote;
            const char *close = closing_paren(q, &quote);
            if (!close && quote) {
                st = tg__error(TG_ESPEC,
                               "spec position %zu: the quote opened here is not closed (a '\"' "
                               "inside a value is written \\\") in \"%s\"",
                               (size_t)(quote - spec) + 1, spec);
            } else if (!close) {
                st = tg__error(TG_ESPEC,
                               "spec position %zu: '(' after '%s' is not closed by ')' in \"%s\"",
                               (size_t)(q - spec) + 1, nm, spec);
            } else {
                char *inner = g_strndup(q + 1, close - q - 1);
                st = tg__split_params(&kvs, &n, inner, (size_t)(q + 1 - spec), spec);
                g_free(inner);
                p = close + 1;
            }
        }
        if (st == TG_OK) {
            char where[64];
            snprintf(where, sizeof where, "spec position %zu", pos);
            st = tg__chain_add_kv(chain, nm, kvs, n, where);
        }
        tg__kv_free(kvs, n);
        g_free(nm);
        if (st != TG_OK)
            return st;
    }
}

tg_status tg_chain_parse(tg_chain **out, const char *spec, const tg_chain_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(spec, "spec");
    tg_chain *c;
    tg_status st = tg_chain_create(&c, opts);
    if (st != TG_OK)
        return st;
    st = parse_into(c, spec);
    if (st == TG_OK && tg_chain_validate(c) != TG_OK)
        st = tg__error(TG_ESPEC,
                       "spec \"%s\" has no selector; end it with one, e.g. 'greedy' or 'dist'",
                       spec);
    if (st != TG_OK) {
        tg_chain_free(c);
        return st;
    }
    *out = c;
    return TG_OK;
}

tg_status tg__chain_parse_scorers(tg_chain **out, const char *spec, const tg_chain_options *opts)
{
    *out = NULL;
    tg_chain *c;
    tg_status st = tg_chain_create(&c, opts);
    if (st != TG_OK)
        return st;
    tg__chain_set_scorers_only(c);
    if ((st = parse_into(c, spec)) != TG_OK) {
        tg_chain_free(c);
        return st;
    }
    *out = c;
    return TG_OK;
}
