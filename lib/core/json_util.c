/* core/json_util.c — strict JSON parsing on top of json-glib. */
#include "json_util.h"
#include "error.h"

#include <math.h>

typedef struct dup_check {
    GPtrArray *stack; /* one GHashTable of member names per open object */
    char *duplicate;  /* first repeated key seen */
} dup_check;

static void on_object_start(JsonParser *parser, gpointer user)
{
    dup_check *dc = user;
    g_ptr_array_add(dc->stack, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL));
}

static void on_object_end(JsonParser *parser, JsonObject *object, gpointer user)
{
    dup_check *dc = user;
    if (dc->stack->len)
        g_ptr_array_remove_index(dc->stack, dc->stack->len - 1);
}

static void on_object_member(JsonParser *parser, JsonObject *object, const char *name,
                             gpointer user)
{
    dup_check *dc = user;
    if (!dc->stack->len)
        return;
    GHashTable *names = g_ptr_array_index(dc->stack, dc->stack->len - 1);
    if (!g_hash_table_add(names, g_strdup(name)) && !dc->duplicate)
        dc->duplicate = g_strdup(name);
}

/* json-glib's parser recurses once per nesting level, so a file of a few hundred kilobytes of '['
 * overflows the stack. Scan the text first (strings skipped) and refuse deep nesting; no JSON
 * file of a model folder comes anywhere near this depth. json-glib also stops after the first
 * value, so text after the top-level object would be ignored silently: refuse that too. */
static tg_status check_depth(const char *data, size_t len, const char *what)
{
    size_t depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        const char c = data[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > TG_JSON_MAX_DEPTH)
                return tg__error(TG_EFORMAT,
                                 "%s: JSON nested more than %d levels deep (at byte %zu)", what,
                                 TG_JSON_MAX_DEPTH, i);
        } else if ((c == ']' || c == '}') && depth) {
            if (--depth == 0) { /* the top-level object or array ends: only blanks may follow */
                for (size_t j = i + 1; j < len; j++)
                    if (!g_ascii_isspace(data[j]))
                        return tg__error(TG_EFORMAT,
                                         "%s: unexpected text after the JSON value (at byte %zu)",
                                         what, j);
                return TG_OK;
            }
        }
    }
    return TG_OK;
}

tg_status tg__json_parse(JsonParser **out, const char *data, size_t len, const char *what)
{
    *out = NULL;
    if (len > (size_t)G_MAXSSIZE)
        return tg__error(TG_EFORMAT, "%s: JSON text too large", what);
    tg_status depth_st = check_depth(data, len, what);
    if (depth_st != TG_OK)
        return depth_st;
    JsonParser *parser = json_parser_new_immutable();
    dup_check dc = {g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref), NULL};
    g_signal_connect(parser, "object-start", G_CALLBACK(on_object_start), &dc);
    g_signal_connect(parser, "object-end", G_CALLBACK(on_object_end), &dc);
    g_signal_connect(parser, "object-member", G_CALLBACK(on_object_member), &dc);
    GError *err = NULL;
    tg_status st = TG_OK;
    if (!json_parser_load_from_data(parser, data, (gssize)len, &err)) {
        st = tg__error(TG_EFORMAT, "%s: malformed JSON: %s", what, err ? err->message : "?");
        g_clear_error(&err);
    } else if (dc.duplicate) {
        st =
            tg__error(TG_EFORMAT, "%s: key \"%s\" appears twice in one object", what, dc.duplicate);
    } else if (!json_parser_get_root(parser)) {
        st = tg__error(TG_EFORMAT, "%s: empty JSON document", what);
    }
    g_signal_handlers_disconnect_by_data(parser, &dc);
    g_ptr_array_unref(dc.stack);
    g_free(dc.duplicate);
    if (st != TG_OK) {
        g_object_unref(parser);
        return st;
    }
    *out = parser;
    return TG_OK;
}

int tg__json_has(JsonObject *obj, const char *key)
{
    JsonNode *n = json_object_get_member(obj, key);
    return n != NULL && !JSON_NODE_HOLDS_NULL(n);
}

static tg_status get_value(JsonNode **out, JsonObject *obj, const char *key, const char *what)
{
    JsonNode *n = json_object_get_member(obj, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return tg__error(TG_ENOTFOUND, "%s: missing field \"%s\"", what, key);
    if (!JSON_NODE_HOLDS_VALUE(n))
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be a %s", what, key, "scalar value");
    *out = n;
    return TG_OK;
}

tg_status tg__json_get_int(int64_t *out, JsonObject *obj, const char *key, const char *what)
{
    JsonNode *n;
    tg_status st = get_value(&n, obj, key, what);
    if (st != TG_OK)
        return st;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64) {
        *out = json_node_get_int(n);
        return TG_OK;
    }
    if (t == G_TYPE_DOUBLE) {
        double d = json_node_get_double(n);
        if (d == floor(d) && fabs(d) < 9.0e15) {
            *out = (int64_t)d;
            return TG_OK;
        }
    }
    return tg__error(TG_EFORMAT, "%s: field \"%s\" must be an integer", what, key);
}

tg_status tg__json_get_double(double *out, JsonObject *obj, const char *key, const char *what)
{
    JsonNode *n;
    tg_status st = get_value(&n, obj, key, what);
    if (st != TG_OK)
        return st;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE) {
        *out = json_node_get_double(n);
        return TG_OK;
    }
    return tg__error(TG_EFORMAT, "%s: field \"%s\" must be a number", what, key);
}

tg_status tg__json_get_string(const char **out, JsonObject *obj, const char *key, const char *what)
{
    JsonNode *n;
    tg_status st = get_value(&n, obj, key, what);
    if (st != TG_OK)
        return st;
    if (json_node_get_value_type(n) != G_TYPE_STRING)
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be a string", what, key);
    *out = json_node_get_string(n);
    return TG_OK;
}
