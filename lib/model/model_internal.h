/* model/model_internal.h — internal: the tg_model struct and the tensors a model is built from. */
#ifndef TG_MODEL_INTERNAL_H
#define TG_MODEL_INTERNAL_H

#include "config.h"
#include "generation_config.h"
#include "safetensors.h"
#include <textgen/model.h>

/* Source tensors of one transformer block (biases may be NULL: nanoGPT bias=False). */
typedef struct tg_layer_src {
    const tg_st_tensor *ln1_w, *ln1_b, *qkv_w, *qkv_b, *aproj_w, *aproj_b;
    const tg_st_tensor *ln2_w, *ln2_b, *fc_w, *fc_b, *mproj_w, *mproj_b;
} tg_layer_src;

/* All source tensors, validated against the hyper-parameters. Matrices of blocks are in the
 * Conv1D [in, out] layout; wte and lm_head are [n_vocab, n_embd]. lm_head NULL = tied to wte. */
typedef struct tg_model_src {
    const tg_st_tensor *wte, *wpe, *lnf_w, *lnf_b, *lm_head;
    tg_layer_src *layers;
} tg_model_src;

struct tg_backend_model;
struct tg_tokenizer;

struct tg_model {
    char *path;
    tg_hparams hp;
    tg_safetensors st; /* kept mapped: embedding rows are read from it */
    tg_model_src src;
    struct tg_backend_model *backend;
    struct tg_tokenizer *tokenizer; /* NULL when the folder has none */
    uint32_t weight_type;           /* TG_WEIGHTS_F32 or TG_WEIGHTS_BF16 */
    uint64_t n_params;
    tg_gen_defaults gen; /* generation_config.json */
    /* Ids that end a sequence (tg_model_end_ids): the first n_end_base come from config.json and
     * the tokenizer, the rest up to n_end_all from generation_config.json. */
    int32_t *end_ids;
    size_t n_end_base, n_end_all;
};

#endif
