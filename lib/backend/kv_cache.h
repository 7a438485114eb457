/* backend/kv_cache.h — internal: the paged KV cache of a session.
 *
 * Keys and values live in blocks of TG_KV_BLOCK positions; a block holds those positions for
 * every layer, K and V, every KV head: [layer][k|v][kv_head][TG_KV_BLOCK][head_dim] f32. Each
 * sequence has a table of block ids (position p is in its block p / TG_KV_BLOCK). Blocks are
 * reference-counted: copying a sequence copies its table and shares every block (O(blocks)
 * pointer work, no data), and the first write into a shared block copies the filled part of
 * that one block first (copy-on-write). Only a sequence's last block can be partly filled, so a
 * fork costs at most one partial block, whatever the prompt length. Released blocks are kept
 * for reuse until the cache is freed. */
#ifndef TG_BACKEND_KV_CACHE_H
#define TG_BACKEND_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <textgen/common.h>

#define TG_KV_BLOCK 16

typedef struct tg_kv_cache {
    int32_t n_seq, n_layer, n_kv_head, head_dim;
    int32_t max_blocks; /* per sequence: ceil(n_ctx / TG_KV_BLOCK) */
    size_t block_floats;
    /* the pool: grows as blocks are first needed, never shrinks */
    float **mem;      /* [n_alloc] block memory */
    int32_t *ref;     /* [n_alloc] sequences referencing each block */
    int32_t *free_id; /* stack of allocated blocks nobody references */
    int32_t n_free, n_alloc, n_used, pool_cap;
    /* the sequences */
    int32_t **table;   /* [n_seq] block ids, grown as the sequence grows */
    int32_t *n_blocks; /* [n_seq] entries of each table */
    int32_t *table_cap;
} tg_kv_cache;

tg_status tg__kvc_create(tg_kv_cache **out, int32_t n_seq, int32_t n_ctx, int32_t n_layer,
                         int32_t n_kv_head, int32_t head_dim);
void tg__kvc_free(tg_kv_cache *kv);

/* Make positions [p0, p0 + n) of `seq` writable (p0 = its length): add blocks, and copy a
 * shared block before it is written. On failure (TG_ENOMEM) the cached contents are unchanged. */
tg_status tg__kvc_reserve(tg_kv_cache *kv, int32_t seq, int32_t p0, int32_t n);

/* Keep positions [0, n_keep) of `seq`; blocks past them are released. */
void tg__kvc_truncate(tg_kv_cache *kv, int32_t seq, int32_t n_keep);

/* Make `dst` share the first `len` positions of `src` (dst's own blocks are released). Fails
 * only when dst's table cannot grow (TG_ENOMEM), leaving dst as it was. */
tg_status tg__kvc_copy(tg_kv_cache *kv, int32_t dst, int32_t src, int32_t len);

/* Offset, in a block, of the TG_KV_BLOCK x head_dim array of (layer, K or V, kv head). */
static inline size_t tg__kvc_offset(const tg_kv_cache *kv, int32_t layer, int32_t v, int32_t head)
{
    return ((size_t)(layer * 2 + v) * (size_t)kv->n_kv_head + (size_t)head) * TG_KV_BLOCK *
           (size_t)kv->head_dim;
}

/* Block `i` of `seq` (reserved). */
static inline float *tg__kvc_block(const tg_kv_cache *kv, int32_t seq, int32_t i)
{
    return kv->mem[kv->table[seq][i]];
}

/* Where position `pos` of `seq` keeps (layer, K or V, kv head): head_dim floats. */
static inline float *tg__kvc_at(const tg_kv_cache *kv, int32_t seq, int32_t pos, int32_t layer,
                                int32_t v, int32_t head)
{
    return tg__kvc_block(kv, seq, pos / TG_KV_BLOCK) + tg__kvc_offset(kv, layer, v, head) +
           (size_t)(pos % TG_KV_BLOCK) * (size_t)kv->head_dim;
}

#endif
