/* sampling/params.c — parameter values: parse text by schema type with range checks, print them
 * back so that a printed spec parses to the same values. */
#include "core/error.h"
#include "sampling_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tg__param_type_name(uint32_t type)
{
    switch (type) {
    case TG_PARAM_FLOAT:
        return "float";
    case TG_PARAM_INT:
        return "int";
    case TG_PARAM_BOOL:
        return "bool";
    case TG_PARAM_STRING:
        return "string";
    case TG_PARAM_IDS:
        return "token ids";
    }
    return "?";
}

const char *tg__proc_kind_name(uint32_t kind)
{
    switch (kind) {
    case TG_PROC_TRANSFORM:
        return "transform";
    case TG_PROC_FILTER:
        return "filter";
    case TG_PROC_SELECTOR:
        return "selector";
    case TG_PROC_STOP:
        return "stop criterion";
    case TG_PROC_BEAM_SCORER:
        return "beam scorer";
    }
    return "?";
}

int tg__is_identifier(const char *s)
{
    if (!s || !(g_ascii_islower(*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(g_ascii_islower(*s) || g_ascii_isdigit(*s) || *s == '_'))
            return 0;
    return 1;
}

void tg__param_clear(tg_param_slot *slot)
{
    g_free(slot->text);
    g_free(slot->string);
    g_free(slot->ids);
    g_free(slot->seq_ends);
    memset(slot, 0, sizeof *slot);
}

static int parse_double(double *out, const char *s)
{
    if (g_ascii_strcasecmp(s, "inf") == 0 || g_ascii_strcasecmp(s, "+inf") == 0) {
        *out = INFINITY;
        return 1;
    }
    if (g_ascii_strcasecmp(s, "-inf") == 0) {
        *out = -INFINITY;
        return 1;
    }
    char *end;
    errno = 0;
    double d = g_ascii_strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || isnan(d))
        return 0;
    *out = d;
    return 1;
}

static int parse_int(int64_t *out, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return 0;
    *out = v;
    return 1;
}

static void fmt_range(char *buf, size_t n, const tg_param_spec *spec)
{
    if (spec->type == TG_PARAM_INT)
        snprintf(buf, n, "[%.0f, %.0f]", spec->min, spec->max);
    else
        snprintf(buf, n, "[%g, %g]", spec->min, spec->max);
}

static tg_status parse_ids(tg_param_slot *slot, const char *text, char *why, size_t why_len)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    GArray *ends = g_array_new(FALSE, FALSE, sizeof(size_t));
    gchar **seqs = g_strsplit(text, ";", -1);
    tg_status st = TG_OK;
    for (gchar **s = seqs; *s && st == TG_OK; s++) {
        gchar **toks = g_strsplit_set(*s, " \t,", -1);
        size_t before = ids->len;
        for (gchar **t = toks; *t; t++) {
            if (!**t)
                continue;
            int64_t v;
            if (!parse_int(&v, *t) || v < 0 || v > INT32_MAX) {
                snprintf(why, why_len, "'%s' is not a token id (ids are written \"1 2 3; 4 5\")",
                         *t);
                st = TG_ESPEC;
                break;
            }
            int32_t id = (int32_t)v;
            g_array_append_val(ids, id);
        }
        g_strfreev(toks);
        if (st == TG_OK && ids->len > before) {
            size_t e = ids->len;
            g_array_append_val(ends, e);
        }
    }
    g_strfreev(seqs);
    if (st != TG_OK) {
        g_array_free(ids, TRUE);
        g_array_free(ends, TRUE);
        return st;
    }
    slot->value.n_ids = ids->len;
    slot->value.n_seqs = ends->len;
    slot->ids = (int32_t *)g_array_free(ids, FALSE);
    slot->seq_ends = (size_t *)g_array_free(ends, FALSE);
    slot->value.ids = slot->ids;
    slot->value.seq_ends = slot->seq_ends;
    /* canonical text: "1 2; 3" */
    GString *canon = g_string_new(NULL);
    for (size_t s = 0, i = 0; s < slot->value.n_seqs; s++) {
        if (s)
            g_string_append(canon, "; ");
        for (size_t first = i; i < slot->seq_ends[s]; i++)
            g_string_append_printf(canon, "%s%d", i == first ? "" : " ", (int)slot->ids[i]);
    }
    slot->string = g_string_free(canon, FALSE);
    slot->value.string = slot->string;
    slot->text = g_strdup(slot->string);
    return TG_OK;
}

tg_status tg__param_parse(tg_param_slot *slot, const tg_param_spec *spec, const char *text,
                          char *why, size_t why_len)
{
    tg_param_slot s;
    memset(&s, 0, sizeof s);
    char range[96];
    fmt_range(range, sizeof range, spec);
    switch (spec->type) {
    case TG_PARAM_FLOAT: {
        double d;
        if (!parse_double(&d, text)) {
            snprintf(why, why_len, "'%s' is not a number", text);
            return TG_ESPEC;
        }
        if (d < spec->min || d > spec->max) {
            snprintf(why, why_len, "%s is out of range %s", text, range);
            return TG_ESPEC;
        }
        s.value.number = d;
        s.value.integer = (int64_t)d;
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        s.text = g_strdup(isinf(d) ? (d > 0 ? "inf" : "-inf")
                                   : g_ascii_formatd(buf, sizeof buf, "%.9g", d));
        break;
    }
    case TG_PARAM_INT: {
        int64_t v;
        if (!parse_int(&v, text)) {
            snprintf(why, why_len, "'%s' is not an integer", text);
            return TG_ESPEC;
        }
        if ((double)v < spec->min || (double)v > spec->max) {
            snprintf(why, why_len, "%s is out of range %s", text, range);
            return TG_ESPEC;
        }
        s.value.integer = v;
        s.value.number = (double)v;
        s.text = g_strdup_printf("%lld", (long long)v);
        break;
    }
    case TG_PARAM_BOOL: {
        int b;
        if (!g_ascii_strcasecmp(text, "true") || !strcmp(text, "1") ||
            !g_ascii_strcasecmp(text, "yes") || !g_ascii_strcasecmp(text, "on"))
            b = 1;
        else if (!g_ascii_strcasecmp(text, "false") || !strcmp(text, "0") ||
                 !g_ascii_strcasecmp(text, "no") || !g_ascii_strcasecmp(text, "off"))
            b = 0;
        else {
            snprintf(why, why_len, "'%s' is not true or false", text);
            return TG_ESPEC;
        }
        s.value.integer = b;
        s.value.number = b;
        s.text = g_strdup(b ? "true" : "false");
        break;
    }
    case TG_PARAM_STRING:
        s.string = g_strdup(text);
        s.value.string = s.string;
        s.text = g_strdup(text);
        break;
    case TG_PARAM_IDS:
        if (parse_ids(&s, text, why, why_len) != TG_OK)
            return TG_ESPEC;
        break;
    default:
        snprintf(why, why_len, "has an unknown type %u", spec->type);
        return TG_ESPEC;
    }
    *slot = s;
    return TG_OK;
}

tg_status tg__param_copy(tg_param_slot *dst, const tg_param_slot *src)
{
    *dst = *src;
    dst->text = g_strdup(src->text);
    dst->string = g_strdup(src->string);
    dst->ids = src->ids ? g_new0(int32_t, src->value.n_ids + 1) : NULL;
    if (src->value.n_ids)
        memcpy(dst->ids, src->ids, src->value.n_ids * sizeof *src->ids);
    dst->seq_ends = src->seq_ends ? g_new0(size_t, src->value.n_seqs + 1) : NULL;
    if (src->value.n_seqs)
        memcpy(dst->seq_ends, src->seq_ends, src->value.n_seqs * sizeof(size_t));
    dst->value.string = dst->string;
    dst->value.ids = dst->ids;
    dst->value.seq_ends = dst->seq_ends;
    return TG_OK;
}

static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (; *s; s++)
        if (!(g_ascii_isalnum(*s) || strchr("_.+-:", *s)))
            return 1;
    return 0;
}

void tg__param_print(GString *out, const tg_param_spec *spec, const tg_param_slot *slot)
{
    const char *t = slot->text ? slot->text : "";
    if ((spec->type != TG_PARAM_STRING && spec->type != TG_PARAM_IDS) || !needs_quotes(t)) {
        g_string_append(out, t);
        return;
    }
    g_string_append_c(out, '"');
    for (; *t; t++) {
        if (*t == '"' || *t == '\\')
            g_string_append_c(out, '\\');
        g_string_append_c(out, *t);
    }
    g_string_append_c(out, '"');
}
