/* model/config.c — config.json: the architecture registry lookup and typed readers. */
#include "config.h"
#include "arch.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tg_status int_in_range(int32_t *out, JsonObject *o, const char *key, int64_t lo, int64_t hi,
                              const char *path)
{
    int64_t v;
    tg_status st = tg__json_get_int(&v, o, key, path);
    if (st != TG_OK)
        return st;
    if (v < lo || v > hi)
        return tg__error(TG_ERANGE, "%s: field \"%s\" = %lld is out of range [%lld, %lld]", path,
                         key, (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return TG_OK;
}

tg_status tg__cfg_int(int32_t *out, JsonObject *o, const char *const *keys, int64_t lo, int64_t hi,
                      const char *path)
{
    for (const char *const *k = keys; *k; k++)
        if (tg__json_has(o, *k))
            return int_in_range(out, o, *k, lo, hi, path);
    return tg__error(TG_ENOTFOUND, "%s: missing field \"%s\"", path, keys[0]);
}

tg_status tg__cfg_int_or(int32_t *out, JsonObject *o, const char *key, int32_t dflt, int64_t lo,
                         int64_t hi, const char *path)
{
    *out = dflt;
    return tg__json_has(o, key) ? int_in_range(out, o, key, lo, hi, path) : TG_OK;
}

tg_status tg__cfg_num_or(double *out, JsonObject *o, const char *key, double dflt, double lo,
                         double hi, const char *path)
{
    *out = dflt;
    if (!tg__json_has(o, key))
        return TG_OK;
    tg_status st = tg__json_get_double(out, o, key, path);
    if (st == TG_OK && !(*out > lo && *out < hi))
        st = tg__error(TG_ERANGE, "%s: field \"%s\" = %g is out of range (%g, %g)", path, key, *out,
                       lo, hi);
    return st;
}

tg_status tg__cfg_bool_or(int32_t *out, JsonObject *o, const char *key, int32_t dflt,
                          const char *path)
{
    *out = dflt;
    if (!tg__json_has(o, key))
        return TG_OK;
    JsonNode *n = json_object_get_member(o, key);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be true or false", path, key);
    *out = json_node_get_boolean(n) ? 1 : 0;
    return TG_OK;
}

tg_status tg__cfg_string_or(const char **out, JsonObject *o, const char *key, const char *dflt,
                            const char *path)
{
    *out = dflt;
    return tg__json_has(o, key) ? tg__json_get_string(out, o, key, path) : TG_OK;
}

tg_status tg__cfg_token_id(int32_t *out, JsonObject *o, const char *key, int32_t dflt,
                           int32_t n_vocab, const char *path)
{
    *out = dflt;
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (JSON_NODE_HOLDS_ARRAY(n)) { /* newer configs allow a list: take the first */
        JsonArray *a = json_node_get_array(n);
        if (json_array_get_length(a) == 0) {
            *out = -1;
            return TG_OK;
        }
        n = json_array_get_element(a, 0);
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be a token id", path, key);
    int64_t v = json_node_get_int(n);
    if (v < 0 || v >= n_vocab)
        return tg__error(TG_ERANGE, "%s: field \"%s\" = %lld is outside the vocabulary [0, %d)",
                         path, key, (long long)v, n_vocab);
    *out = (int32_t)v;
    return TG_OK;
}

tg_status tg__cfg_require(JsonObject *o, const char *key, double supported, const char *what,
                          const char *path)
{
    if (!tg__json_has(o, key))
        return TG_OK;
    JsonNode *n = json_object_get_member(o, key);
    double v = NAN;
    if (JSON_NODE_HOLDS_VALUE(n)) {
        GType t = json_node_get_value_type(n);
        if (t == G_TYPE_BOOLEAN)
            v = json_node_get_boolean(n) ? 1.0 : 0.0;
        else if (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE)
            v = json_node_get_double(n);
    }
    if (v == supported)
        return TG_OK;
    char *text = json_to_string(n, FALSE);
    tg_status st = tg__error(TG_EUNSUPPORTED, "%s: \"%s\": %s is not supported (only %s)", path,
                             key, text, what);
    g_free(text);
    return st;
}

static tg_status parse(tg_model_config *cfg, const tg_arch **arch, JsonObject *o, const char *path)
{
    const char *mt = "gpt2";
    tg_status st = tg__cfg_string_or(&mt, o, "model_type", "gpt2", path);
    if (st != TG_OK)
        return st;
    if (!(*arch = tg__arch_find(mt))) {
        char known[128];
        tg__arch_list(known, sizeof known);
        return tg__error(TG_EUNSUPPORTED, "%s: model_type \"%s\" is not supported (supported: %s)",
                         path, mt, known);
    }
    return (*arch)->read_config(cfg, o, path);
}

tg_status tg__config_load(tg_model_config *cfg, const tg_arch **arch, const char *path)
{
    memset(cfg, 0, sizeof *cfg);
    *arch = NULL;
    char *text;
    size_t len;
    tg_status st = tg__file_read(&text, &len, path);
    if (st != TG_OK)
        return st;
    JsonParser *parser;
    st = tg__json_parse(&parser, text, len, path);
    free(text);
    if (st != TG_OK)
        return st;
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root))
        st = tg__error(TG_EFORMAT, "%s: the top level must be a JSON object", path);
    else
        st = parse(cfg, arch, json_node_get_object(root), path);
    g_object_unref(parser);
    return st;
}
