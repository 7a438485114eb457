/* tools/textgen/spec.c — the sampler chain spec: built from the command-line knobs,
 * and split back into stages from tg_chain_print(). */
#include "cli.h"

#include <string.h>

static void append_num(GString *s, const char *fmt, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(s, fmt, g_ascii_formatd(buf, sizeof buf, "%.9g", v));
}

char *cli_spec_from_options(const cli_options *o)
{
    if (o->samplers)
        return g_strdup(o->samplers);
    if (!o->temperature.set && !o->top_k.set && !o->top_p.set && !o->min_p.set && !o->repeat.set)
        return NULL;
    GString *s = g_string_new(NULL);
    if (o->repeat.set)
        append_num(s, "repetition_penalty(penalty=%s) ", o->repeat.value);
    if (o->top_k.set)
        g_string_append_printf(s, "top_k(k=%d) ", (int)o->top_k.value);
    if (o->top_p.set)
        append_num(s, "top_p(p=%s) ", o->top_p.value);
    if (o->min_p.set)
        append_num(s, "min_p(p=%s) ", o->min_p.value);
    if (o->temperature.set && o->temperature.value == 0) {
        g_string_append(s, "greedy");
    } else {
        if (o->temperature.set)
            append_num(s, "temperature(t=%s) ", o->temperature.value);
        g_string_append(s, "dist");
    }
    return g_string_free(s, FALSE);
}

char *cli_scorers_from_options(const cli_options *o)
{
    if (!o->beam_scorers && !o->length_pen.set)
        return NULL;
    GString *s = g_string_new(o->beam_scorers ? o->beam_scorers : "");
    if (o->length_pen.set) /* the last scorer with a final score decides */
        append_num(s, s->len ? " length_penalty(alpha=%s)" : "length_penalty(alpha=%s)",
                   o->length_pen.value);
    return g_string_free(s, FALSE);
}

/* End of a parameter list starting after '(' (at the matching ')', or the end). */
static const char *params_end(const char *p)
{
    int quoted = 0;
    for (; *p; p++) {
        if (quoted && *p == '\\' && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == ')')
            break;
    }
    return p;
}

size_t cli_spec_split(cli_spec_stage **out, const char *spec)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(cli_spec_stage));
    const char *p = spec ? spec : "";
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (g_ascii_isalnum(*p) || *p == '_')
            p++;
        if (p == name) { /* not a spec we understand: stop here */
            break;
        }
        cli_spec_stage st = {g_strndup(name, (gsize)(p - name)), NULL};
        while (*p == ' ')
            p++;
        if (*p == '(') {
            const char *end = params_end(p + 1);
            st.params = g_strndup(p + 1, (gsize)(end - p - 1));
            p = *end ? end + 1 : end;
        } else {
            st.params = g_strdup("");
        }
        g_array_append_val(a, st);
    }
    size_t n = a->len;
    *out = (cli_spec_stage *)g_array_free(a, FALSE);
    return n;
}

void cli_spec_stages_free(cli_spec_stage *stages, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_free(stages[i].name);
        g_free(stages[i].params);
    }
    g_free(stages);
}

/* A quoted value starting after the opening quote, unescaped (g_free() it). */
static char *read_quoted(const char *p)
{
    GString *v = g_string_new(NULL);
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        g_string_append_c(v, *p);
    }
    return g_string_free(v, FALSE);
}

/* Past the current parameter: at the next top-level ',' or the end. */
static const char *next_param(const char *p)
{
    int quoted = 0;
    for (; *p; p++) {
        if (quoted && *p == '\\' && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == ',')
            break;
    }
    return p;
}

char *cli_spec_param(const char *params, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = params; p && *p; p = next_param(p)) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, key, klen) != 0)
            continue;
        const char *q = p + klen;
        while (*q == ' ')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ')
            q++;
        if (*q == '"')
            return read_quoted(q + 1);
        const char *end = q;
        while (*end && *end != ',')
            end++;
        while (end > q && end[-1] == ' ')
            end--;
        return g_strndup(q, (gsize)(end - q));
    }
    return NULL;
}
