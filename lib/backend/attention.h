/* backend/attention.h — internal: causal self-attention of one layer over the paged KV cache.
 *
 * Rows that decode (runs of fewer than TG_ATTN_PREFILL_MIN rows of a sequence) use a vectorised
 * C kernel that reads K and V in place from the cache blocks; the q heads that share a KV head
 * read it once. Longer runs (prefill) go to attn_prefill.h's kernel, which also reads the cache
 * in place, a tile of query rows per K/V block. Neither uses oneDNN. */
#ifndef TG_BACKEND_ATTENTION_H
#define TG_BACKEND_ATTENTION_H

#include "kernels/tpool.h"
#include "kv_cache.h"
#include "net.h"
#include <textgen/session.h>

#define TG_ATTN_PREFILL_MIN 4

typedef struct tg_attn tg_attn;

/* For rows of up to n_batch, sequences of up to n_ctx positions; decode rows run on `pool`
 * (the session's, which must outlive `a`). */
tg_status tg__attn_create(tg_attn **out, const tg_net_hparams *hp, tg_kv_cache *kv, int32_t n_ctx,
                          int32_t n_batch, tg_tpool *pool);
void tg__attn_free(tg_attn *a);

/* Layer `l` for `M` rows: stores each row's k and v (from qkv, [M][(H + 2 Hkv) D], rotary
 * embeddings applied) in the cache, then writes att [M][H D]. The cache is reserved for the
 * rows' positions; rows of one sequence are at consecutive positions, in order. */
tg_status tg__attn_layer(tg_attn *a, int32_t l, const tg_batch_row *rows, size_t M,
                         const float *qkv, float *att);

#endif
