/* model/model_internal.h — internal to lib/model: the tg_model struct. Other modules use the
 * public API or model_access.h, never this. */
#ifndef TG_MODEL_INTERNAL_H
#define TG_MODEL_INTERNAL_H

#include "arch.h"
#include "backend/backend.h"
#include "config.h"
#include "generation_config.h"
#include <textgen/model.h>

struct tg_tokenizer;

struct tg_model {
    char *path;
    const tg_arch *arch;
    tg_model_config cfg;
    tg_backend_model *backend;      /* owns every weight: the file is closed after loading */
    struct tg_tokenizer *tokenizer; /* NULL when the folder has none */
    uint32_t weight_type;           /* TG_WEIGHTS_F32, _BF16 or _INT8 */
    uint32_t kv_type;               /* TG_KV_F32 or TG_KV_BF16: every session's cache */
    uint64_t n_params;
    tg_gen_defaults gen; /* generation_config.json */
    /* Ids that end a sequence (tg_model_end_ids): the first n_end_base come from config.json and
     * the tokenizer, the rest up to n_end_all from generation_config.json. */
    int32_t *end_ids;
    size_t n_end_base, n_end_all;
};

#endif
