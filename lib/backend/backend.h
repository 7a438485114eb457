/* backend/backend.h — internal: the only interface to the oneDNN code. Nothing outside
 * lib/backend includes dnnl.h. */
#ifndef TG_BACKEND_H
#define TG_BACKEND_H

#include "model/model_internal.h"
#include <textgen/session.h>

typedef struct tg_backend_model tg_backend_model;
typedef struct tg_backend_ctx tg_backend_ctx;

/* Prepare the weights of `m` (hparams and src filled) in oneDNN's preferred layout. */
tg_status tg__backend_model_create(tg_backend_model **out, const struct tg_model *m, int use_bf16);
void tg__backend_model_free(tg_backend_model *bm);
/* Bytes of the matrices read once per decoded token (blocks and the output layer). */
uint64_t tg__backend_model_weight_bytes(const tg_backend_model *bm);

/* A per-session context: stream, KV cache for n_seq x n_ctx, scratch for n_batch rows. */
tg_status tg__backend_ctx_create(tg_backend_ctx **out, const struct tg_model *m, int32_t n_seq,
                                 int32_t n_ctx, int32_t n_batch, int32_t n_threads);
void tg__backend_ctx_free(tg_backend_ctx *ctx);

/* Forward `n` validated rows (positions already checked contiguous per sequence). Writes the
 * logits of the rows with `logits` set, in row order, to `logits_out` (n_out x n_vocab). */
tg_status tg__backend_forward(tg_backend_ctx *ctx, const tg_batch_row *rows, size_t n,
                              float *logits_out);

/* Copy the first `len` cached positions of sequence src to dst. */
void tg__backend_kv_copy(tg_backend_ctx *ctx, int32_t dst, int32_t src, int32_t len);

/* Bytes of the KV cache that a full session holds. */
uint64_t tg__backend_kv_bytes(const tg_backend_ctx *ctx);

#endif
