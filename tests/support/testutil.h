/* testutil.h — helpers shared by the Criterion tests: data paths, JSON reference files,
 * temporary folders, and building (possibly broken) model folders on the fly. */
#ifndef TG_TESTUTIL_H
#define TG_TESTUTIL_H

#include <json-glib/json-glib.h>
#include <stddef.h>
#include <stdint.h>

/* $TG_TEST_DATA/<rel> (g_free the result). */
char *tu_data_path(const char *rel);

/* Parse a JSON file; aborts the test on failure. Unref the parser when done. */
JsonParser *tu_json_load(const char *path);
JsonObject *tu_json_root_object(JsonParser *p);
/* Array of numbers -> malloc'ed floats / ints (count in *n). */
float *tu_json_floats(JsonArray *a, size_t *n);
int32_t *tu_json_ints(JsonArray *a, size_t *n);

/* A fresh empty temporary folder (g_free); tu_rmtree removes it and its files. */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);

void tu_write_file(const char *dir, const char *name, const void *data, size_t len);
void *tu_read_file(const char *path, size_t *len);

/* Split a safetensors file into its header JSON text and data section. */
void tu_safetensors_split(const char *path, char **header, void **data, size_t *data_len);
/* Write <dir>/model.safetensors from a header JSON text (padded here) and a data section. */
void tu_safetensors_write(const char *dir, const char *header, const void *data, size_t len);

/* Copy a model folder's config.json and model.safetensors into a new temp dir (g_free). */
char *tu_copy_model(const char *src_dir);
/* models/char_tiny copied with its tokenizer into a new temp dir (g_free), with `gen_config` as
 * its generation_config.json (NULL: char_tiny's own). */
char *tu_copy_char_tiny(const char *gen_config);

/* Max |a - b| over n values. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);
int tu_argmax(const float *v, size_t n);

#endif
