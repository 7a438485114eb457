/* sampling/registry.c — the process-wide plugin registry. Plugins are shared modules opened with
 * GModule (local binding), checked field by field before anything is registered, then kept
 * resident. Search path: tg_plugin_add_dir() dirs, $TEXTGEN_PLUGIN_PATH, the installed
 * pluginsdir found relative to the library (core/paths.c; skipped when
 * $TEXTGEN_PLUGIN_NO_DEFAULT is set, as the tests do). */
#include "core/error.h"
#include "core/paths.h"
#include "core/versioned.h"
#include "sampling_internal.h"

#include <errno.h>
#include <gmodule.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct reg_plugin {
    char *path;      /* the file, or "memory:<name>" for tg_plugin_register() */
    GModule *module; /* NULL for a plugin registered from memory */
    const tg_plugin_desc *desc;
    void *user_data; /* given to every `create` of its processors (tg_proc_context.user_data) */
} reg_plugin;

typedef struct reg_proc {
    const tg_processor_vtable *vt;
    reg_plugin *plugin;
} reg_proc;

static GMutex lock;
static GPtrArray *plugins;    /* reg_plugin* */
static GHashTable *by_name;   /* name -> reg_proc* */
static GPtrArray *sorted;     /* reg_proc* in name order */
static GHashTable *loaded;    /* real path -> reg_plugin* */
static GPtrArray *extra_dirs; /* char*, most recent first */
static int scanned;

static void ensure_init(void)
{
    if (plugins)
        return;
    plugins = g_ptr_array_new();
    by_name = g_hash_table_new(g_str_hash, g_str_equal);
    sorted = g_ptr_array_new();
    loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    extra_dirs = g_ptr_array_new_with_free_func(g_free);
}

tg_status tg_plugin_add_dir(const char *dir)
{
    tg_error_clear();
    TG_CHECK_ARG(dir && *dir, "dir");
    g_mutex_lock(&lock);
    ensure_init();
    g_ptr_array_insert(extra_dirs, 0, g_strdup(dir));
    scanned = 0;
    g_mutex_unlock(&lock);
    return TG_OK;
}

static tg_status refuse(const char *path, const char *fmt, const char *a, const char *b)
{
    char why[512];
    snprintf(why, sizeof why, fmt, a ? a : "", b ? b : "");
    return tg__error(TG_EPLUGIN, "refusing plugin '%s': %s", path, why);
}

static tg_status check_param(const char *path, const tg_processor_vtable *vt,
                             const tg_param_spec *p, size_t index)
{
    char what[160];
    snprintf(what, sizeof what, "processor '%s' parameter %zu", vt->name, index);
    if (!tg__is_identifier(p->name))
        return refuse(path, "%s has an invalid name (want [a-z_][a-z0-9_]*)", what, NULL);
    if (p->type < TG_PARAM_FLOAT || p->type > TG_PARAM_IDS)
        return refuse(path, "%s ('%s') has an unknown type", what, p->name);
    if ((p->type == TG_PARAM_FLOAT || p->type == TG_PARAM_INT) && !(p->min <= p->max))
        return refuse(path, "%s ('%s') has min > max", what, p->name);
    if (!p->doc)
        return refuse(path, "%s ('%s') has no doc line", what, p->name);
    for (size_t j = 0; j < index; j++)
        if (strcmp(vt->params[j].name, p->name) == 0)
            return refuse(path, "processor '%s' declares parameter '%s' twice", vt->name, p->name);
    if (p->default_value) {
        tg_param_slot slot;
        memset(&slot, 0, sizeof slot);
        char why[256];
        if (tg__param_parse(&slot, p, p->default_value, why, sizeof why) != TG_OK) {
            char full[400];
            snprintf(full, sizeof full, "default of '%s': %s", p->name, why);
            return refuse(path, "processor '%s': %s", vt->name, full);
        }
        tg__param_clear(&slot);
    }
    return TG_OK;
}

/* A beam scorer: a vtable that reaches `scorer`, and a scorer table of a known size with at
 * least one callback. */
static tg_status check_scorer(const char *path, const tg_processor_vtable *vt)
{
    char why[256];
    const size_t need = offsetof(tg_processor_vtable, scorer) + sizeof vt->scorer;
    if (vt->struct_size < need) {
        snprintf(why, sizeof why,
                 "processor '%s' is a beam scorer, but its vtable (struct_size %u) ends before "
                 "the member 'scorer' (%zu bytes needed)",
                 vt->name, vt->struct_size, need);
        return refuse(path, "%s: rebuild it against this libtextgen's <textgen/plugin.h>", why,
                      NULL);
    }
    if (!vt->scorer)
        return refuse(path, "processor '%s' is a beam scorer but lacks the required member '%s'",
                      vt->name, "scorer");
    const tg_beam_scorer *sc = vt->scorer;
    if (sc->struct_size < TG_BEAM_SCORER_MIN_SIZE) {
        snprintf(why, sizeof why, "processor '%s': beam scorer struct_size %u is smaller than %u",
                 vt->name, sc->struct_size, (unsigned)TG_BEAM_SCORER_MIN_SIZE);
        return refuse(path, "%s (built against an incompatible <textgen/plugin.h>?)", why, NULL);
    }
    if (!sc->groups && !sc->adjust && !sc->score)
        return refuse(path, "processor '%s' is a beam scorer without a callback (%s)", vt->name,
                      "groups, adjust or score");
    return TG_OK;
}

static tg_status check_vtable(const char *path, const tg_processor_vtable *vt, size_t index)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", index);
    if (!vt)
        return refuse(path, "processor %s is NULL", idx, NULL);
    if (vt->struct_size < TG_PROCESSOR_VTABLE_MIN_SIZE) {
        char why[160];
        snprintf(why, sizeof why, "processor %zu: vtable struct_size %u is smaller than %u", index,
                 vt->struct_size, (unsigned)TG_PROCESSOR_VTABLE_MIN_SIZE);
        return refuse(path, "%s (built against an incompatible <textgen/plugin.h>?)", why, NULL);
    }
    if (!tg__is_identifier(vt->name))
        return refuse(path, "processor %s has a missing or invalid name (want [a-z_][a-z0-9_]*)",
                      idx, NULL);
    if (vt->kind < TG_PROC_TRANSFORM || vt->kind > TG_PROC_BEAM_SCORER)
        return refuse(path, "processor '%s' has an unknown kind", vt->name, NULL);
    if (!vt->doc)
        return refuse(path, "processor '%s' lacks the required member 'doc'", vt->name, NULL);
    if (!vt->create)
        return refuse(path, "processor '%s' lacks the required member 'create'", vt->name, NULL);
    int has_stop = vt->struct_size > offsetof(tg_processor_vtable, check_stop) && vt->check_stop;
    if (vt->kind == TG_PROC_BEAM_SCORER) {
        tg_status st = check_scorer(path, vt);
        if (st != TG_OK)
            return st;
    } else if (vt->kind == TG_PROC_STOP ? !has_stop : !vt->apply) {
        return refuse(path, "processor '%s' lacks the required member '%s'", vt->name,
                      vt->kind == TG_PROC_STOP ? "check_stop" : "apply");
    }
    if (vt->n_params && !vt->params)
        return refuse(path, "processor '%s' has n_params > 0 but params is NULL", vt->name, NULL);
    for (size_t i = 0; i < vt->n_params; i++) {
        tg_status st = check_param(path, vt, &vt->params[i], i);
        if (st != TG_OK)
            return st;
    }
    return TG_OK;
}

static tg_status check_desc(const char *path, const tg_plugin_desc *d)
{
    if (!d)
        return refuse(path, "tg_plugin_get_desc() returned NULL", NULL, NULL);
    tg_status probed = tg__plugin_probe(path, d); /* every read below is of readable memory */
    if (probed != TG_OK)
        return probed;
    if (d->abi_version != TG_PLUGIN_ABI_VERSION) {
        char why[200];
        snprintf(why, sizeof why,
                 "it was built for plugin ABI version %u, this libtextgen speaks version %u",
                 d->abi_version, TG_PLUGIN_ABI_VERSION);
        return refuse(path, "%s; rebuild it against this version's <textgen/plugin.h>", why, NULL);
    }
    if (d->struct_size < TG_PLUGIN_DESC_MIN_SIZE) {
        char why[160];
        snprintf(why, sizeof why, "descriptor struct_size %u is smaller than %u", d->struct_size,
                 (unsigned)TG_PLUGIN_DESC_MIN_SIZE);
        return refuse(path, "%s", why, NULL);
    }
    if (!d->name || !*d->name)
        return refuse(path, "the descriptor lacks the required member 'name'", NULL, NULL);
    if (!d->processors || d->n_processors == 0)
        return refuse(path, "the descriptor lists no processors", NULL, NULL);
    for (size_t i = 0; i < d->n_processors; i++) {
        tg_status st = check_vtable(path, d->processors[i], i);
        if (st != TG_OK)
            return st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->processors[j]->name, d->processors[i]->name) == 0)
                return refuse(path, "it lists processor '%s' twice", d->processors[i]->name, NULL);
    }
    return TG_OK;
}

static int cmp_proc(gconstpointer a, gconstpointer b)
{
    const reg_proc *x = *(reg_proc *const *)a, *y = *(reg_proc *const *)b;
    return strcmp(x->vt->name, y->vt->name);
}

/* A descriptor's processor names that are taken already: TG_EEXISTS naming the first. */
static tg_status check_names_free(const char *path, const tg_plugin_desc *desc)
{
    for (size_t i = 0; i < desc->n_processors; i++) {
        reg_proc *other = g_hash_table_lookup(by_name, desc->processors[i]->name);
        if (other)
            return tg__error(TG_EEXISTS,
                             "refusing plugin '%s': processor '%s' is already registered by '%s'",
                             path, desc->processors[i]->name, other->plugin->path);
    }
    return TG_OK;
}

/* Register a checked descriptor whose names are free. Called with the lock held. */
static reg_plugin *add_locked(const char *path, GModule *module, const tg_plugin_desc *desc,
                              void *user_data)
{
    reg_plugin *p = g_new0(reg_plugin, 1);
    p->path = g_strdup(path);
    p->module = module;
    p->desc = desc;
    p->user_data = user_data;
    g_ptr_array_add(plugins, p);
    for (size_t i = 0; i < desc->n_processors; i++) {
        reg_proc *rp = g_new0(reg_proc, 1);
        rp->vt = desc->processors[i];
        rp->plugin = p;
        g_hash_table_insert(by_name, (gpointer)rp->vt->name, rp);
        g_ptr_array_add(sorted, rp);
    }
    g_ptr_array_sort(sorted, cmp_proc);
    tg__log(TG_LOG_INFO, "registered plugin %s (%s %s, %zu processors)", path, desc->name,
            desc->version ? desc->version : "", desc->n_processors);
    return p;
}

/* Called with the lock held. */
static tg_status load_locked(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return tg__error(TG_ENOTFOUND, "cannot load plugin '%s': %s", path, g_strerror(errno));
    if (g_hash_table_contains(loaded, real))
        return TG_OK;
    struct stat stbuf;
    if (stat(real, &stbuf) != 0 || !S_ISREG(stbuf.st_mode))
        return refuse(path, "not a regular file", NULL, NULL);
    if (stbuf.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[64];
        snprintf(mode, sizeof mode, "0%o", (unsigned)(stbuf.st_mode & 07777));
        return refuse(path,
                      "it is writable by group or others (mode %s): anyone who can write it "
                      "could run code in this process; fix with chmod go-w",
                      mode, NULL);
    }
    GModule *module = g_module_open(real, G_MODULE_BIND_LOCAL);
    if (!module)
        return refuse(path, "not a loadable module: %s", g_module_error(), NULL);
    gpointer sym = NULL;
    if (!g_module_symbol(module, "tg_plugin_get_desc", &sym) || !sym) {
        g_module_close(module);
        return refuse(path, "not a libtextgen plugin: it has no symbol tg_plugin_get_desc", NULL,
                      NULL);
    }
    const tg_plugin_desc *desc = ((tg_plugin_get_desc_fn)sym)();
    tg_status st = check_desc(path, desc);
    if (st == TG_OK)
        st = check_names_free(path, desc);
    if (st != TG_OK) {
        g_module_close(module);
        return st;
    }
    g_module_make_resident(module);
    reg_plugin *p = add_locked(real, module, desc, NULL);
    g_hash_table_insert(loaded, g_strdup(real), p);
    return TG_OK;
}

tg_status tg_plugin_load(const char *path)
{
    tg_error_clear();
    TG_CHECK_ARG(path && *path, "path");
    g_mutex_lock(&lock);
    ensure_init();
    tg_status st = load_locked(path);
    g_mutex_unlock(&lock);
    return st;
}

/* ---- plugins registered from memory: deep copies, so the caller's data may go away ---- */

static const char *dup_str(const char *s)
{
    return s ? g_strdup(s) : NULL;
}

static const tg_processor_vtable *copy_vtable(const tg_processor_vtable *src)
{
    tg_processor_vtable *vt = g_new0(tg_processor_vtable, 1);
    /* only what the caller's struct_size covers; later members stay NULL */
    memcpy(vt, src, src->struct_size < sizeof *vt ? src->struct_size : sizeof *vt);
    vt->name = dup_str(src->name);
    vt->doc = dup_str(src->doc);
    tg_param_spec *params = g_new0(tg_param_spec, src->n_params + 1);
    for (size_t i = 0; i < src->n_params; i++) {
        params[i] = src->params[i];
        params[i].name = dup_str(src->params[i].name);
        params[i].default_value = dup_str(src->params[i].default_value);
        params[i].doc = dup_str(src->params[i].doc);
    }
    vt->params = params;
    return vt;
}

static const tg_plugin_desc *copy_desc(const tg_plugin_desc *src)
{
    tg_plugin_desc *d = g_new0(tg_plugin_desc, 1);
    memcpy(d, src, src->struct_size < sizeof *d ? src->struct_size : sizeof *d);
    d->name = dup_str(src->name);
    d->version = dup_str(src->version);
    d->license = dup_str(src->license);
    d->description = dup_str(src->description);
    const tg_processor_vtable **procs = g_new0(const tg_processor_vtable *, src->n_processors);
    for (size_t i = 0; i < src->n_processors; i++)
        procs[i] = copy_vtable(src->processors[i]);
    d->processors = procs;
    return d;
}

tg_status tg_plugin_register(const tg_plugin_desc *desc, void *user_data)
{
    tg_error_clear();
    TG_CHECK_ARG(desc, "desc");
    char label[160];
    snprintf(label, sizeof label, "memory:%s",
             desc->struct_size >= TG_PLUGIN_DESC_MIN_SIZE && desc->name ? desc->name : "?");
    g_mutex_lock(&lock);
    ensure_init();
    tg_status st = check_desc(label, desc);
    if (st == TG_OK)
        st = check_names_free(label, desc);
    if (st == TG_OK)
        add_locked(label, NULL, copy_desc(desc), user_data);
    g_mutex_unlock(&lock);
    return st;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every *.so of `dir` in name order; remember the first failure in *first. */
static void scan_dir(const char *dir, tg_status *first, char *first_msg, size_t msg_len)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d)
        return;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    while ((n = g_dir_read_name(d)))
        if (g_str_has_suffix(n, ".so"))
            g_ptr_array_add(names, g_strdup(n));
    g_dir_close(d);
    g_ptr_array_sort(names, cmp_str);
    for (guint i = 0; i < names->len; i++) {
        char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        tg_status st = load_locked(path);
        if (st != TG_OK) {
            tg__log(TG_LOG_WARN, "%s", tg_error_last());
            if (*first == TG_OK) {
                *first = st;
                g_strlcpy(first_msg, tg_error_last(), msg_len);
            }
        }
        g_free(path);
    }
    g_ptr_array_unref(names);
}

static tg_status scan_locked(void)
{
    ensure_init();
    tg_status first = TG_OK;
    char msg[1024] = "";
    for (guint i = 0; i < extra_dirs->len; i++)
        scan_dir(g_ptr_array_index(extra_dirs, i), &first, msg, sizeof msg);
    const char *env = g_getenv("TEXTGEN_PLUGIN_PATH");
    if (env && *env) {
        gchar **dirs = g_strsplit(env, G_SEARCHPATH_SEPARATOR_S, -1);
        for (gchar **dir = dirs; *dir; dir++)
            if (**dir)
                scan_dir(*dir, &first, msg, sizeof msg);
        g_strfreev(dirs);
    }
    if (!g_getenv("TEXTGEN_PLUGIN_NO_DEFAULT"))
        scan_dir(tg__plugins_dir(), &first, msg, sizeof msg);
    scanned = 1;
    if (first != TG_OK)
        return tg__error(TG_EPLUGIN, "%s", msg);
    return TG_OK;
}

tg_status tg_plugin_scan(void)
{
    tg_error_clear();
    g_mutex_lock(&lock);
    tg_status st = scan_locked();
    g_mutex_unlock(&lock);
    return st;
}

size_t tg_processor_count(void)
{
    g_mutex_lock(&lock);
    size_t n = sorted ? sorted->len : 0;
    g_mutex_unlock(&lock);
    return n;
}

static tg_status fill_info(tg_processor_info *out, const reg_proc *rp)
{
    const tg_processor_info info = {sizeof info, rp->vt, rp->plugin->desc, rp->plugin->path};
    return tg__struct_write(out, &info, sizeof info, TG_PROCESSOR_INFO_V1_SIZE,
                            "tg_processor_info");
}

tg_status tg_processor_at(tg_processor_info *out, size_t index)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    g_mutex_lock(&lock);
    ensure_init();
    tg_status st;
    if (index >= sorted->len)
        st = tg__error(TG_ERANGE, "tg_processor_at: index %zu >= %u registered processors", index,
                       sorted->len);
    else
        st = fill_info(out, g_ptr_array_index(sorted, index));
    g_mutex_unlock(&lock);
    return st;
}

static char *known_names_locked(void)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < sorted->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               ((reg_proc *)g_ptr_array_index(sorted, i))->vt->name);
    if (!sorted->len)
        g_string_append(s, "(none: no plugins found; set TEXTGEN_PLUGIN_PATH or add a directory)");
    return g_string_free(s, FALSE);
}

const tg_processor_vtable *tg__registry_lookup(const char *name, void **user_data_out, char **known)
{
    g_mutex_lock(&lock);
    ensure_init();
    reg_proc *rp = g_hash_table_lookup(by_name, name);
    if (!rp && !scanned) {
        scan_locked(); /* refused files were logged; a lookup only cares about the name */
        rp = g_hash_table_lookup(by_name, name);
    }
    if (!rp && known)
        *known = known_names_locked();
    if (user_data_out)
        *user_data_out = rp ? rp->plugin->user_data : NULL;
    g_mutex_unlock(&lock);
    return rp ? rp->vt : NULL;
}

tg_status tg_processor_find(tg_processor_info *out, const char *name)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(name, "name");
    char *known = NULL;
    const tg_processor_vtable *vt = tg__registry_lookup(name, NULL, &known);
    if (!vt) {
        tg_status st = tg__error(TG_ENOTFOUND, "unknown processor '%s'; known: %s", name, known);
        g_free(known);
        return st;
    }
    g_mutex_lock(&lock);
    tg_status st = fill_info(out, g_hash_table_lookup(by_name, name));
    g_mutex_unlock(&lock);
    return st;
}
