/* model/config.h — internal: hyper-parameters read from a Hugging Face config.json. */
#ifndef TG_MODEL_CONFIG_H
#define TG_MODEL_CONFIG_H

#include <textgen/common.h>

typedef enum tg_activation { TG_ACT_GELU_TANH = 0, TG_ACT_GELU_ERF = 1 } tg_activation;

typedef struct tg_hparams {
    int32_t n_vocab, n_ctx, n_embd, n_head, n_layer, n_inner;
    float ln_eps;
    tg_activation act;
    int32_t bos_id, eos_id; /* -1 when absent */
} tg_hparams;

/* Read and validate `path` (a config.json). Errors name the file and the field. */
tg_status tg__config_load(tg_hparams *out, const char *path);

#endif
