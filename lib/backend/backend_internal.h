/* backend/backend_internal.h — internal to lib/backend: the prepared model. */
#ifndef TG_BACKEND_INTERNAL_H
#define TG_BACKEND_INTERNAL_H

#include "backend.h"
#include "norm.h"
#include "pos_table.h"

/* Every block's linear of one role is of one class (tg__linear_same_class). */
typedef struct tg_block {
    tg_norm attn_norm, ffn_norm;
    tg_linear *lin[TG_N_BLOCK_ROLES];
} tg_block;

struct tg_backend_model {
    tg_net_hparams hp;
    tg_precision precision;
    tg_block *blocks;
    tg_norm out_norm;
    tg_linear *output; /* K = n_embd, N = n_vocab */
    /* Token embeddings in the compute precision: own rows [n_vocab][n_embd], or NULL when the
     * output layer is tied to them (its columns are the rows). */
    void *tok_rows;
    tg_act_type tok_type;
    tg_pos_table pos; /* learned positions [n_ctx][n_embd] (pos.data NULL: none) */
    float *inv_freq;  /* [head_dim / 2] rotary frequencies, or NULL */
    uint64_t weight_bytes;
    struct tg_tpool *load_pool; /* while the weights are prepared */
};

/* Row `token` of the embedding table as f32. */
void tg__backend_embed(const tg_backend_model *bm, int32_t token, float *out);

#endif
