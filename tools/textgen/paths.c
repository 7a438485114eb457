/* tools/textgen/paths.c — where the default model and the plugins are.
 *
 * Installed, the library says where (tg_default_model_dir(): $TEXTGEN_MODEL or the bundled
 * model; tg_plugins_dir() on the search path), both found relative to the installed library,
 * so a moved prefix keeps working. Run from the build tree (<builddir>/tools/textgen/textgen,
 * recognised by <builddir>/meson-private), the tool uses the source tree's bundled model and
 * the build tree's plugins, which no installed layout describes. */
#include "cli.h"

#include <string.h>

#ifndef TG_CLI_SOURCE_DIR
#error "TG_CLI_SOURCE_DIR must be defined by the build"
#endif

#ifndef TG_CLI_BUNDLED_MODEL
#error "TG_CLI_BUNDLED_MODEL must be defined by the build"
#endif

/* <builddir> when this executable runs from a Meson build tree, else NULL (g_free() it). */
static char *build_root(void)
{
    char *exe = g_file_read_link("/proc/self/exe", NULL);
    if (!exe)
        return NULL;
    char *dir = g_path_get_dirname(exe);
    char *root = g_build_filename(dir, "..", "..", NULL);
    char *marker = g_build_filename(root, "meson-private", NULL);
    int ok = g_file_test(marker, G_FILE_TEST_IS_DIR);
    g_free(marker);
    g_free(dir);
    g_free(exe);
    if (!ok) {
        g_free(root);
        return NULL;
    }
    return root;
}

static char *check_dir(const char *dir, const char *what)
{
    if (!g_file_test(dir, G_FILE_TEST_EXISTS)) {
        cli_error("%s '%s' does not exist", what, dir);
        return NULL;
    }
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        cli_error("%s '%s' is not a folder", what, dir);
        return NULL;
    }
    return g_strdup(dir);
}

char *cli_model_dir(const cli_options *o)
{
    if (o->model_dir)
        return check_dir(o->model_dir, "model folder");
    const char *env = g_getenv("TEXTGEN_MODEL");
    if (env && *env)
        return check_dir(env, "model folder (from TEXTGEN_MODEL)");
    char *root = build_root();
    if (root) {
        g_free(root);
        char *source_model =
            g_build_filename(TG_CLI_SOURCE_DIR, "models", TG_CLI_BUNDLED_MODEL, NULL);
        if (g_file_test(source_model, G_FILE_TEST_IS_DIR))
            return source_model;
        g_free(source_model);
    }
    const char *dir = NULL;
    if (tg_default_model_dir(&dir) == TG_OK)
        return g_strdup(dir);
    cli_error("no model: the bundled model is not at '%s'; pass -m DIR or set TEXTGEN_MODEL",
              dir ? dir : "(unknown)");
    return NULL;
}

static int cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Put `dir` on the search path and load its plugins now, so that a refused file is an error. */
static int load_plugin_dir(const char *dir)
{
    char *ok = check_dir(dir, "plugin folder");
    if (!ok)
        return -1;
    g_free(ok);
    GError *err = NULL;
    GDir *d = g_dir_open(dir, 0, &err);
    if (!d) {
        cli_error("cannot read plugin folder '%s': %s", dir, err->message);
        g_error_free(err);
        return -1;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    while ((n = g_dir_read_name(d)))
        if (g_str_has_suffix(n, ".so"))
            g_ptr_array_add(names, g_build_filename(dir, n, NULL));
    g_dir_close(d);
    g_ptr_array_sort(names, cmp_names);
    int rc = tg_plugin_add_dir(dir) == TG_OK ? 0 : -1;
    if (rc)
        cli_error_tg("cannot add plugin folder '%s'", dir);
    for (guint i = 0; rc == 0 && i < names->len; i++)
        if (tg_plugin_load(g_ptr_array_index(names, i)) != TG_OK) {
            cli_error_tg("cannot load a plugin of '%s'", dir);
            rc = -1;
        }
    g_ptr_array_unref(names);
    return rc;
}

int cli_setup_plugins(const cli_options *o)
{
    char *root = build_root();
    if (root) {
        char *dir = g_build_filename(root, "plugins", NULL);
        if (g_file_test(dir, G_FILE_TEST_IS_DIR))
            tg_plugin_add_dir(dir);
        g_free(dir);
        g_free(root);
    }
    for (guint i = 0; o->plugin_dirs && o->plugin_dirs[i]; i++)
        if (load_plugin_dir(o->plugin_dirs[i]) != 0)
            return -1;
    /* the rest of the search path: a refused file there is worth a warning, not a failure */
    if (tg_plugin_scan() != TG_OK)
        fprintf(stderr, "textgen: warning: %s\n", tg_error_last());
    return 0;
}
