/* fuzz_common.c — the private tmpfs folder, data paths and plugin path of the fuzz targets. */
#include "fuzz_common.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>
#include <unistd.h>

#ifndef TG_FUZZ_DATA
#define TG_FUZZ_DATA "tests/data"
#endif
#ifndef TG_FUZZ_PLUGINS
#define TG_FUZZ_PLUGINS "plugins"
#endif

static char *private_dir;

static void remove_private_dir(void)
{
    if (!private_dir)
        return;
    GDir *d = g_dir_open(private_dir, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d))) {
            char *p = g_build_filename(private_dir, n, NULL);
            g_remove(p); /* files only: targets write no sub-folders */
            g_free(p);
        }
        g_dir_close(d);
    }
    g_rmdir(private_dir);
    g_free(private_dir);
    private_dir = NULL;
}

void fz_init(void)
{
    if (private_dir)
        return;
    if (!g_getenv("TEXTGEN_PLUGIN_PATH")) {
        g_setenv("TEXTGEN_PLUGIN_PATH", TG_FUZZ_PLUGINS, TRUE);
        g_setenv("TEXTGEN_PLUGIN_NO_DEFAULT", "1", TRUE);
    }
    /* Every input rewrites files: keep that in memory (tmpfs), not on a disk. */
    const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : g_get_tmp_dir();
    char *tmpl = g_build_filename(base, "textgen-fuzz-XXXXXX", NULL);
    if (!g_mkdtemp(tmpl)) {
        fprintf(stderr, "fuzz: cannot create a folder in %s\n", base);
        abort();
    }
    private_dir = tmpl;
    atexit(remove_private_dir);
}

const char *fz_dir(void)
{
    fz_init();
    return private_dir;
}

char *fz_path(const char *name)
{
    return g_build_filename(fz_dir(), name, NULL);
}

char *fz_data_path(const char *rel)
{
    const char *root = g_getenv("TG_TEST_DATA");
    return g_build_filename(root && *root ? root : TG_FUZZ_DATA, rel, NULL);
}

void *fz_read(const char *path, size_t *len)
{
    char *data = NULL;
    gsize n = 0;
    GError *err = NULL;
    if (!g_file_get_contents(path, &data, &n, &err)) {
        fprintf(stderr, "fuzz: cannot read test data: %s\n", err->message);
        abort();
    }
    *len = n;
    return data;
}

void fz_write2(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
    FILE *f = fopen(path, "wb");
    if (!f || (alen && fwrite(a, 1, alen, f) != alen) || (blen && fwrite(b, 1, blen, f) != blen) ||
        fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

void fz_write(const char *path, const void *data, size_t len)
{
    fz_write2(path, data, len, NULL, 0);
}

char *fz_strndup(const uint8_t *data, size_t size)
{
    char *s = g_malloc(size + 1);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz: invariant broken: %s\nfuzz: last error (%d): %s\n", what,
            (int)tg_error_last_status(), tg_error_last());
    abort();
}
