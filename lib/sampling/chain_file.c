/* sampling/chain_file.c — a chain written as a GKeyFile (.ini) file:
 *
 *   [chain]
 *   seed=42
 *
 *   [stage repetition_penalty]
 *   penalty=1.2
 *
 *   [stage top_k]
 *   k=40
 *
 *   [stage dist]
 *
 * Groups are stages in file order; "[stage NAME #2]" repeats a processor (the part after '#' is
 * ignored). Keys are the processor's parameters, values as in a spec but unquoted. */
#include "core/error.h"
#include "core/fileutil.h"
#include "sampling_internal.h"

#include <stdlib.h>
#include <string.h>

tg_status tg_chain_load_file(tg_chain *chain, const char *path)
{
    TG_CHECK_ARG(chain, "chain");
    TG_CHECK_ARG(path, "path");
    /* Read with the library's file reader (refuses FIFOs and devices instead of blocking). */
    char *text;
    size_t len;
    tg_status rst = tg__file_read(&text, &len, path);
    if (rst != TG_OK)
        return tg__error_prefix("chain file");
    GKeyFile *kf = g_key_file_new();
    GError *err = NULL;
    gboolean loaded = g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &err);
    free(text);
    if (!loaded) {
        tg_status st = tg__error(TG_EFORMAT, "%s: cannot read chain file: %s", path, err->message);
        g_error_free(err);
        g_key_file_free(kf);
        return st;
    }
    gsize n_groups;
    gchar **groups = g_key_file_get_groups(kf, &n_groups);
    tg_status st = TG_OK;
    for (gsize g = 0; g < n_groups && st == TG_OK; g++) {
        const char *grp = groups[g];
        if (strcmp(grp, "chain") == 0) {
            if (g_key_file_has_key(kf, grp, "seed", NULL)) {
                char *v = g_key_file_get_value(kf, grp, "seed", NULL);
                char *end;
                guint64 seed = g_ascii_strtoull(v, &end, 10);
                if (!*v || *end)
                    st = tg__error(TG_ESPEC, "%s: [chain] seed = '%s' is not an unsigned integer",
                                   path, v);
                else
                    st = tg_chain_set_seed(chain, seed, 0);
                g_free(v);
            }
            continue;
        }
        if (strncmp(grp, "stage ", 6) != 0) {
            st = tg__error(TG_ESPEC, "%s: group [%s] is neither [chain] nor [stage NAME]", path,
                           grp);
            break;
        }
        char *name = g_strstrip(g_strdup(grp + 6));
        char *hash = strchr(name, '#');
        if (hash) {
            *hash = '\0';
            g_strstrip(name);
        }
        gsize n_keys;
        gchar **keys = g_key_file_get_keys(kf, grp, &n_keys, NULL);
        tg_kv *kvs = g_new0(tg_kv, n_keys + 1);
        for (gsize k = 0; k < n_keys; k++) {
            kvs[k].key = g_strdup(keys[k]);
            kvs[k].value = g_key_file_get_value(kf, grp, keys[k], NULL);
        }
        char *where = g_strdup_printf("%s [%s]", path, grp);
        st = tg__chain_add_kv(chain, name, kvs, n_keys, where);
        g_free(where);
        tg__kv_free(kvs, n_keys);
        g_strfreev(keys);
        g_free(name);
    }
    g_strfreev(groups);
    g_key_file_free(kf);
    return st;
}
