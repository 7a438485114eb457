/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tu_data_path(const char *rel)
{
    const char *root = g_getenv("TG_TEST_DATA");
    cr_assert_not_null(root, "TG_TEST_DATA is not set (run through meson test)");
    return g_build_filename(root, rel, NULL);
}

JsonParser *tu_json_load(const char *path)
{
    JsonParser *p = json_parser_new();
    GError *err = NULL;
    if (!json_parser_load_from_file(p, path, &err))
        cr_assert_fail("cannot parse %s: %s", path, err->message);
    return p;
}

JsonObject *tu_json_root_object(JsonParser *p)
{
    return json_node_get_object(json_parser_get_root(p));
}

float *tu_json_floats(JsonArray *a, size_t *n)
{
    *n = json_array_get_length(a);
    float *v = malloc(*n * sizeof *v + 1);
    for (size_t i = 0; i < *n; i++)
        v[i] = (float)json_array_get_double_element(a, (guint)i);
    return v;
}

int32_t *tu_json_ints(JsonArray *a, size_t *n)
{
    *n = json_array_get_length(a);
    int32_t *v = malloc(*n * sizeof *v + 1);
    for (size_t i = 0; i < *n; i++)
        v[i] = (int32_t)json_array_get_int_element(a, (guint)i);
    return v;
}

char *tu_tmpdir(void)
{
    GError *err = NULL;
    char *d = g_dir_make_tmp("tgtest-XXXXXX", &err);
    cr_assert_not_null(d, "mkdtemp: %s", err ? err->message : "?");
    return d;
}

void tu_rmtree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            tu_rmtree(p);
        else
            g_unlink(p);
        g_free(p);
    }
    g_dir_close(d);
    g_rmdir(dir);
}

void tu_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    if (!g_file_set_contents(p, data, (gssize)len, &err))
        cr_assert_fail("write %s: %s", p, err->message);
    g_free(p);
}

void *tu_read_file(const char *path, size_t *len)
{
    gchar *buf;
    gsize n;
    GError *err = NULL;
    if (!g_file_get_contents(path, &buf, &n, &err))
        cr_assert_fail("read %s: %s", path, err->message);
    *len = n;
    return buf;
}

void tu_safetensors_split(const char *path, char **header, void **data, size_t *data_len)
{
    size_t len;
    unsigned char *buf = tu_read_file(path, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    *header = g_strndup((const char *)buf + 8, n);
    *data_len = len - 8 - n;
    *data = g_memdup2(buf + 8 + n, *data_len ? *data_len : 1);
    g_free(buf);
}

void tu_safetensors_write(const char *dir, const char *header, const void *data, size_t len)
{
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    size_t total = 8 + padded + len;
    unsigned char *buf = g_malloc(total);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, h);
    memset(buf + 8 + h, ' ', padded - h);
    if (len)
        memcpy(buf + 8 + padded, data, len);
    tu_write_file(dir, "model.safetensors", buf, total);
    g_free(buf);
}

char *tu_copy_model(const char *src_dir)
{
    char *dst = tu_tmpdir();
    const char *names[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *p = g_build_filename(src_dir, names[i], NULL);
        size_t len;
        void *buf = tu_read_file(p, &len);
        tu_write_file(dst, names[i], buf, len);
        g_free(buf);
        g_free(p);
    }
    return dst;
}

char *tu_copy_char_tiny(const char *gen_config)
{
    char *src = tu_data_path("models/char_tiny");
    char *dir = tu_copy_model(src);
    const char *names[] = {"tokenizer.json", "generation_config.json"};
    for (int i = 0; i < 2; i++) {
        char *p = g_build_filename(src, names[i], NULL);
        size_t len;
        void *data = i == 1 && gen_config ? NULL : tu_read_file(p, &len);
        if (!data) {
            data = g_strdup(gen_config);
            len = strlen(gen_config);
        }
        tu_write_file(dir, names[i], data, len);
        g_free(data);
        g_free(p);
    }
    g_free(src);
    return dir;
}

double tu_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

int tu_argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int)best;
}
