/* model/generation_config.c — generation_config.json to a chain spec, in the order Hugging Face
 * applies them: penalties and constraints, then temperature, top_k, top_p, min_p, typical, then
 * the selector (dist when do_sample, else greedy). */
#include "generation_config.h"
#include "limits.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json_util.h"

#include <textgen/generate.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tg__gen_defaults_clear(tg_gen_defaults *d)
{
    g_free(d->spec);
    g_free(d->eos_ids);
    g_free(d->beam_scorers);
    memset(d, 0, sizeof *d);
}

/* What each numeric field may hold: the ranges of the processors the field becomes, so a
 * value the file holds is refused here, naming the file and the key, never later as a position
 * in a chain spec the user did not write. */
typedef struct field_rule {
    const char *key;
    double min, max;
    int min_open; /* min itself excluded */
    int integer;
    const char *range; /* as a person says it */
} field_rule;

#define TG_STR_(x) #x
#define TG_STR(x) TG_STR_(x)

static const field_rule rules[] = {
    {"temperature", 0, 100, 0, 0, "a number in [0, 100]"},
    {"top_k", 0, 1e9, 0, 1, "an integer in [0, 1000000000] (0 = off)"},
    {"top_p", 1e-9, 1, 0, 0, "a number in [1e-9, 1]"},
    {"min_p", 0, 1, 0, 0, "a number in [0, 1]"},
    {"typical_p", 1e-9, 1, 0, 0, "a number in [1e-9, 1]"},
    {"repetition_penalty", 1e-6, 10, 0, 0, "a number in [0.000001, 10]"},
    {"no_repeat_ngram_size", 0, 64, 0, 1, "an integer in [0, 64] (0 = off)"},
    {"max_new_tokens", 1, 1e9, 0, 1, "an integer in [1, 1000000000]"},
    {"num_beams", 1, TG_MAX_SEQ, 0, 1, "an integer in [1, " TG_STR(TG_MAX_SEQ) "]"},
    {"num_return_sequences", 1, TG_MAX_SEQ, 0, 1, "an integer in [1, " TG_STR(TG_MAX_SEQ) "]"},
    {"length_penalty", -100, 100, 0, 0, "a number in [-100, 100]"},
    {"num_beam_groups", 1, TG_MAX_SEQ, 0, 1, "an integer in [1, " TG_STR(TG_MAX_SEQ) "]"},
    {"diversity_penalty", 0, 1e9, 0, 0, "a number in [0, 1000000000]"},
};

static tg_status get_num(double *out, int *present, JsonObject *o, const char *key,
                         const char *path)
{
    *present = tg__json_has(o, key);
    if (!*present)
        return TG_OK;
    const field_rule *r = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(rules); i++)
        if (strcmp(rules[i].key, key) == 0)
            r = &rules[i];
    double v;
    tg_status st = tg__json_get_double(&v, o, key, path);
    if (st != TG_OK)
        return tg__error(TG_EFORMAT, "%s: \"%s\" must be %s", path, key, r->range);
    if (r->integer && v != floor(v))
        return tg__error(TG_EFORMAT, "%s: \"%s\" is %.17g but must be %s", path, key, v, r->range);
    if (!(v >= r->min && v <= r->max) || (r->min_open && v == r->min))
        return tg__error(TG_ERANGE, "%s: \"%s\" is %.17g but must be %s", path, key, v, r->range);
    *out = v;
    return TG_OK;
}

/* early_stopping: true, false or "never" (Hugging Face's three rules). */
static tg_status get_early_stopping(int32_t *out, JsonObject *o, const char *path)
{
    *out = 0;
    JsonNode *n = json_object_get_member(o, "early_stopping");
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN)
        *out = json_node_get_boolean(n) ? TG_EARLY_STOP_TRUE : TG_EARLY_STOP_FALSE;
    else if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
             strcmp(json_node_get_string(n), "never") == 0)
        *out = TG_EARLY_STOP_NEVER;
    else
        return tg__error(TG_EFORMAT, "%s: \"early_stopping\" must be true, false or \"never\"",
                         path);
    return TG_OK;
}

/* The beam search fields. Kept whatever num_beams says: a caller who asks for beams gets the
 * file's length_penalty, as with Hugging Face's generate(num_beams=...). */
static tg_status parse_beams(tg_gen_defaults *d, JsonObject *o, const char *path)
{
    double beams = 0, ret = 0, alpha = 1, groups = 1, diversity = 0;
    int has_beams, has_ret, has_alpha, has_groups, has_div;
    tg_status st;
    if ((st = get_num(&beams, &has_beams, o, "num_beams", path)) ||
        (st = get_num(&ret, &has_ret, o, "num_return_sequences", path)) ||
        (st = get_num(&alpha, &has_alpha, o, "length_penalty", path)) ||
        (st = get_num(&groups, &has_groups, o, "num_beam_groups", path)) ||
        (st = get_num(&diversity, &has_div, o, "diversity_penalty", path)) ||
        (st = get_early_stopping(&d->early_stopping, o, path)))
        return st;
    d->num_beams = has_beams ? (int32_t)beams : 0;
    d->num_return_sequences = has_ret ? (int32_t)ret : 0;
    /* Hugging Face refuses these at generate(); here they are the file's own contradictions. */
    if (d->num_beams > 1 && d->num_return_sequences > d->num_beams)
        return tg__error(TG_ERANGE,
                         "%s: \"num_return_sequences\" is %d but \"num_beams\" is %d: beam "
                         "search returns at most num_beams sequences",
                         path, (int)d->num_return_sequences, (int)d->num_beams);
    if (d->num_beams > 1 && (int32_t)groups > 1 && d->num_beams % (int32_t)groups != 0)
        return tg__error(TG_ERANGE,
                         "%s: \"num_beam_groups\" is %d but must divide \"num_beams\" (%d)", path,
                         (int)groups, (int)d->num_beams);
    GString *s = g_string_new(NULL);
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (groups > 1)
        g_string_append_printf(s, "diverse_groups(groups=%d, penalty=%s)", (int)groups,
                               g_ascii_formatd(buf, sizeof buf, "%.9g", diversity));
    if (has_alpha)
        g_string_append_printf(s, "%slength_penalty(alpha=%s)", s->len ? " " : "",
                               g_ascii_formatd(buf, sizeof buf, "%.9g", alpha));
    const int any = s->len > 0;
    char *spec = g_string_free(s, !any);
    d->beam_scorers = any ? spec : NULL;
    return TG_OK;
}

static tg_status parse(tg_gen_defaults *d, JsonObject *o, const char *path, int32_t n_vocab)
{
    tg_status st;
    int do_sample = 0;
    if (tg__json_has(o, "do_sample")) {
        JsonNode *n = json_object_get_member(o, "do_sample");
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
            return tg__error(TG_EFORMAT, "%s: field \"do_sample\" must be true or false", path);
        do_sample = json_node_get_boolean(n);
    }
    double t = 1, top_k = 50, top_p = 1, min_p = 0, typical = 1, rep = 1, ngram = 0, mnt = 0;
    int has_t, has_k, has_p, has_minp, has_typ, has_rep, has_ngram, has_mnt;
    if ((st = get_num(&t, &has_t, o, "temperature", path)) ||
        (st = get_num(&top_k, &has_k, o, "top_k", path)) ||
        (st = get_num(&top_p, &has_p, o, "top_p", path)) ||
        (st = get_num(&min_p, &has_minp, o, "min_p", path)) ||
        (st = get_num(&typical, &has_typ, o, "typical_p", path)) ||
        (st = get_num(&rep, &has_rep, o, "repetition_penalty", path)) ||
        (st = get_num(&ngram, &has_ngram, o, "no_repeat_ngram_size", path)) ||
        (st = get_num(&mnt, &has_mnt, o, "max_new_tokens", path)))
        return st;
    if (has_mnt)
        d->max_new_tokens = (int32_t)mnt;
    if ((st = parse_beams(d, o, path)) != TG_OK)
        return st;
    GString *s = g_string_new(NULL);
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
#define NUM(x) g_ascii_formatd(buf, sizeof buf, "%.9g", (x))
    if (has_rep && rep != 1.0)
        g_string_append_printf(s, "repetition_penalty(penalty=%s, last_n=-1) ", NUM(rep));
    if (has_ngram && ngram > 0)
        g_string_append_printf(s, "no_repeat_ngram(n=%d) ", (int)ngram);
    if (do_sample) {
        if (has_t && t != 1.0)
            g_string_append_printf(s, "temperature(t=%s) ", NUM(t));
        if (top_k > 0)
            g_string_append_printf(s, "top_k(k=%d) ", (int)top_k);
        if (has_p && top_p < 1.0)
            g_string_append_printf(s, "top_p(p=%s) ", NUM(top_p));
        if (has_minp && min_p > 0)
            g_string_append_printf(s, "min_p(p=%s) ", NUM(min_p));
        if (has_typ && typical < 1.0)
            g_string_append_printf(s, "typical(p=%s) ", NUM(typical));
        g_string_append(s, "dist");
    } else {
        g_string_append(s, "greedy");
    }
#undef NUM
    d->spec = g_string_free(s, FALSE);
    JsonNode *eos = json_object_get_member(o, "eos_token_id");
    if (eos && !JSON_NODE_HOLDS_NULL(eos)) {
        GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
        JsonArray *arr = JSON_NODE_HOLDS_ARRAY(eos) ? json_node_get_array(eos) : NULL;
        guint n = arr ? json_array_get_length(arr) : 1;
        for (guint i = 0; i < n && st == TG_OK; i++) {
            JsonNode *e = arr ? json_array_get_element(arr, i) : eos;
            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64 ||
                json_node_get_int(e) < 0 || json_node_get_int(e) >= n_vocab)
                st = tg__error(TG_EFORMAT,
                               "%s: eos_token_id must be a token id in [0, %d) or a list of them",
                               path, (int)n_vocab);
            else {
                int32_t id = (int32_t)json_node_get_int(e);
                g_array_append_val(ids, id);
            }
        }
        d->n_eos = ids->len;
        d->eos_ids = (int32_t *)g_array_free(ids, FALSE);
    }
    return st;
}

tg_status tg__gen_defaults_load(tg_gen_defaults *d, const char *dir, int32_t n_vocab)
{
    memset(d, 0, sizeof *d);
    char *path = g_build_filename(dir, "generation_config.json", NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_free(path);
        return TG_OK;
    }
    char *text;
    size_t len;
    tg_status st = tg__file_read(&text, &len, path);
    JsonParser *parser = NULL;
    if (st == TG_OK) {
        st = tg__json_parse(&parser, text, len, path);
        free(text);
    }
    if (st == TG_OK) {
        JsonNode *root = json_parser_get_root(parser);
        st = JSON_NODE_HOLDS_OBJECT(root)
                 ? parse(d, json_node_get_object(root), path, n_vocab)
                 : tg__error(TG_EFORMAT, "%s: the top level must be a JSON object", path);
    }
    if (parser)
        g_object_unref(parser);
    if (st != TG_OK)
        tg__gen_defaults_clear(d);
    g_free(path);
    return st;
}
