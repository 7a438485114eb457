/* backend/kv_cache.h — internal: the paged KV cache of a session.
 *
 * Keys and values live in blocks of TG_KV_BLOCK positions; a block holds those positions for
 * every layer, K and V, every KV head: one array of 16 x head_dim elements per such "plane"
 * (layer, K/V, KV head). Elements are f32, or bf16 (half the bytes a decoded token's attention
 * reads: at 1k positions GPT-2 124M's K and V are 75 MB a token in f32, a third of its bf16
 * weights); stored rounded to nearest even, read back exactly. A K array is stored transposed,
 * [head_dim][16] (the decode kernel then scores 16 positions with vector multiply-adds and no
 * horizontal sums); a V array is [16][head_dim]. Memory comes in slabs of TG_KV_SLAB blocks laid
 * out plane-major, so the arrays of one plane of consecutive blocks are contiguous: a sequence
 * whose blocks were handed out in order is read as long streams, as the hardware prefetcher likes
 * (block-sized pieces cost up to 10 % of decode time at 1k positions, measured).
 *
 * Each sequence has a table of block ids (position p is in its block p / TG_KV_BLOCK). Blocks are
 * reference-counted: copying a sequence copies its table and shares every block (O(blocks)
 * integer work, no data), and the first write into a shared block copies that one block first
 * (copy-on-write). Only a sequence's last block can be partly filled, so a fork costs at most
 * one block copy, whatever the prompt length. Released blocks are kept for reuse (lowest ids
 * first) until the cache is freed. */
#ifndef TG_BACKEND_KV_CACHE_H
#define TG_BACKEND_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <textgen/common.h>

#include "bf16.h"

#define TG_KV_BLOCK 16 /* positions per block */
#define TG_KV_SLAB 16  /* blocks per slab */

typedef struct tg_kv_cache {
    int32_t n_seq, n_layer, n_kv_head, head_dim;
    int32_t max_blocks; /* per sequence: ceil(n_ctx / TG_KV_BLOCK) */
    int32_t bf16;       /* elements are bf16, else f32 */
    size_t elem_bytes;  /* 2 or 4 */
    size_t array_elems; /* TG_KV_BLOCK * head_dim */
    size_t n_planes;    /* n_layer * 2 * n_kv_head */
    /* the pool: grows as blocks are first needed, never shrinks */
    uint8_t **slab;   /* [n_alloc / TG_KV_SLAB rounded up] */
    int32_t *ref;     /* [n_alloc] sequences referencing each block */
    int32_t *free_id; /* stack of allocated blocks nobody references */
    int32_t n_free, n_alloc, n_used, pool_cap;
    /* the sequences */
    int32_t **table;   /* [n_seq] block ids, grown as the sequence grows */
    int32_t *n_blocks; /* [n_seq] entries of each table */
    int32_t *table_cap;
} tg_kv_cache;

/* `bf16`: elements in bf16 rather than f32. */
tg_status tg__kvc_create(tg_kv_cache **out, int32_t n_seq, int32_t n_ctx, int32_t n_layer,
                         int32_t n_kv_head, int32_t head_dim, int32_t bf16);
void tg__kvc_free(tg_kv_cache *kv);

/* Bytes of one block (every plane). */
static inline size_t tg__kvc_block_bytes(const tg_kv_cache *kv)
{
    return kv->n_planes * kv->array_elems * kv->elem_bytes;
}

/* Make positions [p0, p0 + n) of `seq` writable (p0 = its length): add blocks, and copy a
 * shared block before it is written. On failure (TG_ENOMEM) the cached contents are unchanged. */
tg_status tg__kvc_reserve(tg_kv_cache *kv, int32_t seq, int32_t p0, int32_t n);

/* Keep positions [0, n_keep) of `seq`; blocks past them are released. */
void tg__kvc_truncate(tg_kv_cache *kv, int32_t seq, int32_t n_keep);

/* Make `dst` share the first `len` positions of `src` (dst's own blocks are released). Fails
 * only when dst's table cannot grow (TG_ENOMEM), leaving dst as it was. */
tg_status tg__kvc_copy(tg_kv_cache *kv, int32_t dst, int32_t src, int32_t len);

/* The array of block `id` for (layer, K = 0 / V = 1, kv head): float or uint16_t (bf16)
 * elements as kv->bf16 says. */
static inline void *tg__kvc_array_of(const tg_kv_cache *kv, int32_t id, int32_t layer, int32_t v,
                                     int32_t head)
{
    const size_t plane = (size_t)(layer * 2 + v) * (size_t)kv->n_kv_head + (size_t)head;
    return kv->slab[id / TG_KV_SLAB] +
           (plane * TG_KV_SLAB + (size_t)(id % TG_KV_SLAB)) * kv->array_elems * kv->elem_bytes;
}

/* The array of block `b` of `seq` (reserved) for (layer, K/V, kv head). */
static inline void *tg__kvc_array(const tg_kv_cache *kv, int32_t seq, int32_t b, int32_t layer,
                                  int32_t v, int32_t head)
{
    return tg__kvc_array_of(kv, kv->table[seq][b], layer, v, head);
}

/* Store position `pos` of `seq` for (layer, kv head): k and v, head_dim floats each (rounded to
 * nearest even in a bf16 cache). */
static inline void tg__kvc_store(const tg_kv_cache *kv, int32_t seq, int32_t pos, int32_t layer,
                                 int32_t head, const float *k, const float *v)
{
    const int32_t b = pos / TG_KV_BLOCK, t = pos % TG_KV_BLOCK, D = kv->head_dim;
    void *ka = tg__kvc_array(kv, seq, b, layer, 0, head),
         *va = tg__kvc_array(kv, seq, b, layer, 1, head);
    if (kv->bf16) {
        uint16_t *kt = (uint16_t *)ka + t, *vt = (uint16_t *)va + (size_t)t * (size_t)D;
        for (int32_t d = 0; d < D; d++)
            kt[(size_t)d * TG_KV_BLOCK] = tg__bf16_from_f32(k[d]);
        for (int32_t d = 0; d < D; d++)
            vt[d] = tg__bf16_from_f32(v[d]);
        return;
    }
    float *kt = (float *)ka + t, *vt = (float *)va + (size_t)t * (size_t)D;
    for (int32_t d = 0; d < D; d++)
        kt[(size_t)d * TG_KV_BLOCK] = k[d];
    for (int32_t d = 0; d < D; d++)
        vt[d] = v[d];
}

#endif
