/* backend/kv_cache.c — block pool, per-sequence block tables, copy-on-write. */
#include "kv_cache.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

void tg__kvc_free(tg_kv_cache *kv)
{
    if (!kv)
        return;
    for (int32_t i = 0; kv->mem && i < kv->n_alloc; i++)
        free(kv->mem[i]);
    for (int32_t q = 0; kv->table && q < kv->n_seq; q++)
        free(kv->table[q]);
    free(kv->mem);
    free(kv->ref);
    free(kv->free_id);
    free(kv->table);
    free(kv->n_blocks);
    free(kv->table_cap);
    free(kv);
}

tg_status tg__kvc_create(tg_kv_cache **out, int32_t n_seq, int32_t n_ctx, int32_t n_layer,
                         int32_t n_kv_head, int32_t head_dim)
{
    *out = NULL;
    tg_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv)
        return tg__error(TG_ENOMEM, "out of memory creating the KV cache");
    kv->n_seq = n_seq;
    kv->n_layer = n_layer;
    kv->n_kv_head = n_kv_head;
    kv->head_dim = head_dim;
    kv->max_blocks = (n_ctx + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    kv->block_floats = (size_t)n_layer * 2 * (size_t)n_kv_head * TG_KV_BLOCK * (size_t)head_dim;
    kv->table = calloc((size_t)n_seq, sizeof *kv->table);
    kv->n_blocks = calloc((size_t)n_seq, sizeof *kv->n_blocks);
    kv->table_cap = calloc((size_t)n_seq, sizeof *kv->table_cap);
    if (!kv->table || !kv->n_blocks || !kv->table_cap) {
        tg__kvc_free(kv);
        return tg__error(TG_ENOMEM, "out of memory creating the KV cache (%d sequences)",
                         (int)n_seq);
    }
    *out = kv;
    return TG_OK;
}

static tg_status oom(const tg_kv_cache *kv)
{
    return tg__error(TG_ENOMEM, "out of memory for the KV cache (%d blocks of %zu bytes held)",
                     (int)kv->n_alloc, kv->block_floats * sizeof(float));
}

/* Room for the pool to hold one more block. */
static tg_status pool_grow(tg_kv_cache *kv)
{
    if (kv->n_alloc < kv->pool_cap)
        return TG_OK;
    const int32_t cap = kv->pool_cap ? 2 * kv->pool_cap : 64;
    float **mem = realloc(kv->mem, (size_t)cap * sizeof *mem);
    if (mem)
        kv->mem = mem;
    int32_t *ref = mem ? realloc(kv->ref, (size_t)cap * sizeof *ref) : NULL;
    if (ref)
        kv->ref = ref;
    int32_t *fr = ref ? realloc(kv->free_id, (size_t)cap * sizeof *fr) : NULL;
    if (!fr)
        return oom(kv);
    kv->free_id = fr;
    kv->pool_cap = cap;
    return TG_OK;
}

/* Room in `seq`'s table for `n` entries (n <= max_blocks). */
static tg_status table_grow(tg_kv_cache *kv, int32_t seq, int32_t n)
{
    if (n <= kv->table_cap[seq])
        return TG_OK;
    int32_t cap = kv->table_cap[seq] ? kv->table_cap[seq] : 4;
    while (cap < n)
        cap *= 2;
    if (cap > kv->max_blocks)
        cap = kv->max_blocks;
    int32_t *t = realloc(kv->table[seq], (size_t)cap * sizeof *t);
    if (!t)
        return oom(kv);
    kv->table[seq] = t;
    kv->table_cap[seq] = cap;
    return TG_OK;
}

static tg_status block_new(tg_kv_cache *kv, int32_t *id)
{
    if (kv->n_free > 0) {
        *id = kv->free_id[--kv->n_free];
    } else {
        tg_status st = pool_grow(kv);
        if (st != TG_OK)
            return st;
        const size_t bytes = (kv->block_floats * sizeof(float) + 63) & ~(size_t)63;
        float *m = aligned_alloc(64, bytes);
        if (!m)
            return oom(kv);
        *id = kv->n_alloc;
        kv->mem[kv->n_alloc++] = m;
    }
    kv->ref[*id] = 1;
    kv->n_used++;
    return TG_OK;
}

static void block_release(tg_kv_cache *kv, int32_t id)
{
    if (--kv->ref[id] == 0) {
        kv->free_id[kv->n_free++] = id;
        kv->n_used--;
    }
}

/* Copy positions [0, n) of every (layer, K/V, head) array of block `from` into `to`. */
static void block_copy_prefix(const tg_kv_cache *kv, float *to, const float *from, int32_t n)
{
    const size_t chunk = (size_t)TG_KV_BLOCK * (size_t)kv->head_dim,
                 arrays = (size_t)kv->n_layer * 2 * (size_t)kv->n_kv_head;
    for (size_t a = 0; a < arrays; a++)
        memcpy(to + a * chunk, from + a * chunk, (size_t)n * (size_t)kv->head_dim * sizeof(float));
}

tg_status tg__kvc_reserve(tg_kv_cache *kv, int32_t seq, int32_t p0, int32_t n)
{
    const int32_t first = p0 / TG_KV_BLOCK, last = (p0 + n - 1) / TG_KV_BLOCK;
    tg_status grown = table_grow(kv, seq, last + 1);
    if (grown != TG_OK)
        return grown;
    int32_t *table = kv->table[seq];
    for (int32_t i = first; i <= last; i++) {
        int32_t id;
        if (i >= kv->n_blocks[seq]) { /* a new block (tables grow one block at a time) */
            tg_status st = block_new(kv, &id);
            if (st != TG_OK)
                return st;
            table[i] = id;
            kv->n_blocks[seq] = i + 1;
        } else if (kv->ref[table[i]] > 1) { /* shared: copy what is filled, then write */
            tg_status st = block_new(kv, &id);
            if (st != TG_OK)
                return st;
            const int32_t filled = p0 - i * TG_KV_BLOCK;
            if (filled > 0)
                block_copy_prefix(kv, kv->mem[id], kv->mem[table[i]],
                                  filled < TG_KV_BLOCK ? filled : TG_KV_BLOCK);
            block_release(kv, table[i]);
            table[i] = id;
        }
    }
    return TG_OK;
}

void tg__kvc_truncate(tg_kv_cache *kv, int32_t seq, int32_t n_keep)
{
    int32_t *table = kv->table[seq];
    const int32_t keep = (n_keep + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    for (int32_t i = keep; i < kv->n_blocks[seq]; i++)
        block_release(kv, table[i]);
    if (kv->n_blocks[seq] > keep)
        kv->n_blocks[seq] = keep;
}

tg_status tg__kvc_copy(tg_kv_cache *kv, int32_t dst, int32_t src, int32_t len)
{
    if (dst == src)
        return TG_OK;
    const int32_t n = (len + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    tg_status st = table_grow(kv, dst, n);
    if (st != TG_OK)
        return st;
    const int32_t *from = kv->table[src];
    int32_t *to = kv->table[dst];
    for (int32_t i = 0; i < n; i++) /* take the new references before dropping the old ones */
        kv->ref[from[i]]++;
    for (int32_t i = 0; i < kv->n_blocks[dst]; i++)
        block_release(kv, to[i]);
    if (n)
        memcpy(to, from, (size_t)n * sizeof *to);
    kv->n_blocks[dst] = n;
    return TG_OK;
}
