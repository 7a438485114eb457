/* backend/attn_prefill.h — internal: causal attention of many query rows of one sequence (a
 * prompt), read in place from the paged KV cache; no oneDNN, no staging copy of K and V.
 *
 * Work is cut into tiles of TG_ATTN_TILE query rows of one KV head: a tile's scores (TG_ATTN_TILE
 * rows x the positions they see) stay in L1/L2 while they are computed, normalised (an exact
 * two-pass softmax, the decode kernel's) and multiplied by V, and the q heads of a KV head share
 * its K and V blocks in cache. Tiles run on the session's thread pool. */
#ifndef TG_BACKEND_ATTN_PREFILL_H
#define TG_BACKEND_ATTN_PREFILL_H

#include "kernels/tpool.h"
#include "kv_cache.h"

#include <stddef.h>
#include <stdint.h>

#define TG_ATTN_TILE 16 /* query rows per tile (a multiple of 4) */

/* Floats of scratch one thread needs for the sequences of `kv`. */
size_t tg__attn_prefill_scratch(const tg_kv_cache *kv);

/* Rows i = 0 .. m-1 of `seq` at positions p0 + i (their K and V already in `kv`), layer l, H q
 * heads over the cache's KV heads (head_dim D): q head h of row i at q + i * q_stride + h * D
 * (unscaled), its output to out + i * out_stride + h * D. Each row sees positions [0, p0 + i].
 * scratch: one tg__attn_prefill_scratch(kv) floats per thread of `pool` (NULL pool: the caller
 * alone). */
void tg__attn_prefill(const tg_kv_cache *kv, int32_t seq, int32_t l, int64_t H, int64_t p0,
                      int64_t m, const float *q, size_t q_stride, float *out, size_t out_stride,
                      float *scratch, tg_tpool *pool);

/* Which loops tg__attn_prefill runs now: "avx512" (AVX-512 with FMA) or "portable". */
const char *tg__attn_prefill_kernel(void);

#endif
