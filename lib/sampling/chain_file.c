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

/* GKeyFile merges groups of the same name, so "[stage top_p]" twice would silently become one
 * stage: find repeated group headers in the text first and refuse them. */
static tg_status check_groups_unique(const char *text, const char *path)
{
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    tg_status st = TG_OK;
    char **lines = g_strsplit(text, "\n", -1);
    for (size_t i = 0; lines[i] && st == TG_OK; i++) {
        char *line = g_strstrip(lines[i]);
        size_t n = strlen(line);
        if (n < 2 || line[0] != '[' || line[n - 1] != ']')
            continue;
        char *name = g_strndup(line + 1, n - 2);
        if (!g_hash_table_add(seen, name))
            st = tg__error(TG_ESPEC,
                           "%s: group [%s] appears twice (line %zu); to repeat a stage give the "
                           "second one its own name, e.g. [%s #2]",
                           path, name, i + 1, name);
    }
    g_strfreev(lines);
    g_hash_table_destroy(seen);
    return st;
}

tg_status tg_chain_load_file(tg_chain *chain, const char *path)
{
    tg_error_clear();
    TG_CHECK_ARG(chain, "chain");
    TG_CHECK_ARG(path, "path");
    /* Read with the library's file reader (refuses FIFOs and devices instead of blocking). */
    char *text;
    size_t len;
    tg_status rst = tg__file_read(&text, &len, path);
    if (rst != TG_OK)
        return tg__error_prefix("chain file");
    tg_status dup = check_groups_unique(text, path);
    if (dup != TG_OK) {
        free(text);
        return dup;
    }
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
                guint64 seed = 0; /* no sign, no overflow: "-1" and 2^64 are refused */
                if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT64, &seed, NULL))
                    st = tg__error(TG_ESPEC,
                                   "%s: [chain] seed = '%s' is not an unsigned integer in [0, "
                                   "18446744073709551615]",
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
