/* model/config.h — internal: what a model folder's config.json says (hyper-parameters, the
 * wiring of its blocks, which optional tensors exist), and the typed readers that architecture
 * files use. Errors name the file and the key; unsupported values are TG_EUNSUPPORTED. */
#ifndef TG_MODEL_CONFIG_H
#define TG_MODEL_CONFIG_H

#include "backend/net.h"
#include "core/json_util.h"
#include <textgen/common.h>

typedef struct tg_model_config {
    tg_net_hparams hp;
    int32_t bos_id, eos_id; /* -1 when absent */
    /* Optional tensors the file must hold (and holds nothing else): */
    int32_t qkv_bias, out_bias, ffn_bias, norm_bias;
    int32_t tied; /* the output layer is the token embedding table */
} tg_model_config;

struct tg_arch;

/* Read `path` (a config.json): find the architecture of its model_type (absent: gpt2) and let
 * it read the rest. */
tg_status tg__config_load(tg_model_config *out, const struct tg_arch **arch, const char *path);

/* ---- readers for architecture files ---- */

/* The first present key of `keys` (NULL-terminated) as an int in [lo, hi]; missing is an error
 * naming keys[0]. */
tg_status tg__cfg_int(int32_t *out, JsonObject *o, const char *const *keys, int64_t lo, int64_t hi,
                      const char *path);
/* `key` as an int in [lo, hi], or `dflt` when absent or null. */
tg_status tg__cfg_int_or(int32_t *out, JsonObject *o, const char *key, int32_t dflt, int64_t lo,
                         int64_t hi, const char *path);
/* `key` as a number in the open interval (lo, hi), or `dflt`. */
tg_status tg__cfg_num_or(double *out, JsonObject *o, const char *key, double dflt, double lo,
                         double hi, const char *path);
/* `key` as a JSON boolean, or `dflt`. */
tg_status tg__cfg_bool_or(int32_t *out, JsonObject *o, const char *key, int32_t dflt,
                          const char *path);
/* `key` as a string, or `dflt`. */
tg_status tg__cfg_string_or(const char **out, JsonObject *o, const char *key, const char *dflt,
                            const char *path);
/* A token id (or the first of a list) in [0, n_vocab), or `dflt` when absent or null. */
tg_status tg__cfg_token_id(int32_t *out, JsonObject *o, const char *key, int32_t dflt,
                           int32_t n_vocab, const char *path);
/* TG_EUNSUPPORTED naming `key` unless it is absent, null or equal to `supported` (a JSON
 * boolean or number); `what` says what the supported value means. */
tg_status tg__cfg_require(JsonObject *o, const char *key, double supported, const char *what,
                          const char *path);

#endif
