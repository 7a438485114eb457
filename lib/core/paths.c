/* core/paths.c — where the installed plugins and the bundled model are, found relative to the
 * loaded libtextgen itself (dladdr on one of its own symbols), so that a whole prefix can be
 * moved or unpacked anywhere: <libdir>/textgen-0/plugins and
 * <datadir>/textgen/models/<bundled model>, with the relative path from libdir to each computed
 * by the build (TG_REL_*). Only when the library cannot locate itself (dladdr fails) do the
 * configured absolute paths (TG_ABS_*) serve. $TEXTGEN_MODEL names the default model. */
#include "core/error.h"
#include "core/paths.h"
#include <textgen/model.h>
#include <textgen/sampler.h>

#include <dlfcn.h>
#include <glib.h>
#include <stdlib.h>

#if !defined(TG_REL_PLUGINSDIR) || !defined(TG_REL_MODELSDIR) || !defined(TG_ABS_PLUGINSDIR) ||    \
    !defined(TG_ABS_MODELSDIR) || !defined(TG_BUNDLED_MODEL)
#error "the build must define TG_REL_PLUGINSDIR, TG_REL_MODELSDIR, TG_ABS_* and TG_BUNDLED_MODEL"
#endif

typedef struct install_dirs {
    char *plugins;
    char *bundled_model;
} install_dirs;

/* The folder holding the loaded libtextgen (g_free), or NULL when it cannot be told. */
static char *library_dir(void)
{
    Dl_info info;
    if (!dladdr((void *)&tg_plugins_dir, &info) || !info.dli_fname || !*info.dli_fname)
        return NULL;
    char *real = realpath(info.dli_fname, NULL);
    if (!real)
        return NULL;
    char *dir = g_path_get_dirname(real);
    free(real);
    return dir;
}

static gpointer compute_dirs(gpointer unused)
{
    (void)unused;
    static install_dirs dirs;
    char *libdir = library_dir();
    if (libdir) {
        char *p = g_build_filename(libdir, TG_REL_PLUGINSDIR, NULL);
        char *m = g_build_filename(libdir, TG_REL_MODELSDIR, TG_BUNDLED_MODEL, NULL);
        dirs.plugins = g_canonicalize_filename(p, "/");
        dirs.bundled_model = g_canonicalize_filename(m, "/");
        g_free(p);
        g_free(m);
        g_free(libdir);
    } else {
        dirs.plugins = g_strdup(TG_ABS_PLUGINSDIR);
        dirs.bundled_model = g_build_filename(TG_ABS_MODELSDIR, TG_BUNDLED_MODEL, NULL);
    }
    return &dirs;
}

static const install_dirs *dirs_get(void)
{
    static GOnce once = G_ONCE_INIT;
    return g_once(&once, compute_dirs, NULL);
}

const char *tg__plugins_dir(void)
{
    return dirs_get()->plugins;
}

/* An installed folder: TG_ENOTFOUND when the library is not installed (a build tree). */
static tg_status report_installed(const char **dir_out, const char *dir, const char *what)
{
    *dir_out = dir;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return tg__error(TG_ENOTFOUND,
                         "%s '%s' does not exist (this libtextgen is not installed with it)", what,
                         dir);
    return TG_OK;
}

tg_status tg_plugins_dir(const char **dir_out)
{
    tg_error_clear();
    TG_CHECK_ARG(dir_out, "dir_out");
    return report_installed(dir_out, tg__plugins_dir(), "the installed plugin folder");
}

tg_status tg_bundled_model_dir(const char **dir_out)
{
    tg_error_clear();
    TG_CHECK_ARG(dir_out, "dir_out");
    return report_installed(dir_out, dirs_get()->bundled_model, "the bundled model folder");
}

tg_status tg_default_model_dir(const char **dir_out)
{
    tg_error_clear();
    TG_CHECK_ARG(dir_out, "dir_out");
    const char *env = g_getenv("TEXTGEN_MODEL");
    if (env && *env) {
        *dir_out = env;
        if (!g_file_test(env, G_FILE_TEST_IS_DIR))
            return tg__error(TG_ENOTFOUND, "$TEXTGEN_MODEL names '%s', which is not a folder", env);
        return TG_OK;
    }
    return tg_bundled_model_dir(dir_out);
}

tg_status tg_model_load_default(tg_model **out, const tg_model_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    const char *dir;
    tg_status st = tg_default_model_dir(&dir);
    if (st != TG_OK)
        return st;
    return tg_model_load(out, dir, opts);
}
