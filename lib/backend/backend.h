/* backend/backend.h — internal: the backend's interface. It is built from a tg_net
 * (hyper-parameters and tensors, backend/net.h) and knows nothing of tg_model; the model layer
 * (lib/model) calls it, never the other way round. */
#ifndef TG_BACKEND_H
#define TG_BACKEND_H

#include "linear.h"
#include "net.h"
#include <textgen/session.h>

typedef struct tg_backend_model tg_backend_model;
typedef struct tg_backend_ctx tg_backend_ctx;

/* Prepare every weight of `net` in `precision`. Copies what it keeps: the tensors may be
 * unmapped afterwards. Errors name the tensor or layer. */
tg_status tg__backend_model_create(tg_backend_model **out, const tg_net *net,
                                   tg_precision precision);
void tg__backend_model_free(tg_backend_model *bm);
/* Bytes of the matrices read once per decoded token (blocks and the output layer). */
uint64_t tg__backend_model_weight_bytes(const tg_backend_model *bm);

/* A per-session context: KV cache for n_seq sequences of up to n_ctx positions (bf16 elements
 * when kv_bf16, else f32), scratch for n_batch rows, primitives made for n_threads. */
tg_status tg__backend_ctx_create(tg_backend_ctx **out, const tg_backend_model *bm, int32_t n_seq,
                                 int32_t n_ctx, int32_t n_batch, int32_t n_threads,
                                 int32_t kv_bf16);
void tg__backend_ctx_free(tg_backend_ctx *ctx);

/* Forward `n` validated rows (each row's position is its sequence's next one). Writes the
 * logits of the rows with `logits` set, in row order, to `logits_out` (n_out x n_vocab). On
 * failure the sequences are unchanged. */
tg_status tg__backend_forward(tg_backend_ctx *ctx, const tg_batch_row *rows, size_t n,
                              float *logits_out);

/* Sequence operations on the KV cache (arguments already validated). A failed copy
 * (TG_ENOMEM) leaves dst as it was. */
tg_status tg__backend_seq_copy(tg_backend_ctx *ctx, int32_t dst, int32_t src, int32_t len);
void tg__backend_seq_truncate(tg_backend_ctx *ctx, int32_t seq, int32_t n_keep);

/* KV cache accounting. */
typedef struct tg_kv_stats {
    uint32_t block_positions; /* positions per block */
    uint64_t block_bytes;     /* bytes of one block */
    uint64_t blocks_in_use;   /* referenced by at least one sequence */
    uint64_t blocks_allocated;
} tg_kv_stats;
void tg__backend_kv_stats(const tg_backend_ctx *ctx, tg_kv_stats *out);

#endif
