/* core/json_util.h — internal: strict JSON parsing (json-glib) with duplicate-key detection
 * and typed member getters whose errors name the file and the field. */
#ifndef TG_CORE_JSON_UTIL_H
#define TG_CORE_JSON_UTIL_H

#include <json-glib/json-glib.h>
#include <textgen/common.h>

/* Deepest nesting of arrays and objects a JSON file may have. */
#define TG_JSON_MAX_DEPTH 256

/* Parse `len` bytes of JSON. Fails with TG_EFORMAT naming `what` (a file name) on a syntax
 * error, nesting deeper than TG_JSON_MAX_DEPTH, or a key repeated inside one object. On success
 * *out owns the parser (its root is json_parser_get_root()); release with g_object_unref. */
tg_status tg__json_parse(JsonParser **out, const char *data, size_t len, const char *what);

/* Typed getters: TG_ENOTFOUND/TG_EFORMAT name `what` and `key`. An explicit JSON null counts as
 * missing. */
tg_status tg__json_get_int(int64_t *out, JsonObject *obj, const char *key, const char *what);
tg_status tg__json_get_double(double *out, JsonObject *obj, const char *key, const char *what);
tg_status tg__json_get_string(const char **out, JsonObject *obj, const char *key, const char *what);

/* 1 if `key` is present and not null. */
int tg__json_has(JsonObject *obj, const char *key);

#endif
