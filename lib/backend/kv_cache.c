/* backend/kv_cache.c — block pool, per-sequence block tables, copy-on-write. */
#include "core/alloc.h"
#include "kv_cache.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

void tg__kvc_free(tg_kv_cache *kv)
{
    if (!kv)
        return;
    for (int32_t i = 0; kv->slab && i < (kv->n_alloc + TG_KV_SLAB - 1) / TG_KV_SLAB; i++)
        free(kv->slab[i]);
    for (int32_t q = 0; kv->table && q < kv->n_seq; q++)
        free(kv->table[q]);
    free(kv->slab);
    free(kv->ref);
    free(kv->free_id);
    free(kv->table);
    free(kv->n_blocks);
    free(kv->table_cap);
    free(kv);
}

tg_status tg__kvc_create(tg_kv_cache **out, int32_t n_seq, int32_t n_ctx, int32_t n_layer,
                         int32_t n_kv_head, int32_t head_dim, int32_t bf16)
{
    *out = NULL;
    tg_kv_cache *kv = tg__calloc(1, sizeof *kv);
    if (!kv)
        return tg__error(TG_ENOMEM, "out of memory creating the KV cache");
    kv->n_seq = n_seq;
    kv->n_layer = n_layer;
    kv->n_kv_head = n_kv_head;
    kv->head_dim = head_dim;
    kv->max_blocks = (n_ctx + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    kv->bf16 = bf16 != 0;
    kv->elem_bytes = bf16 ? 2 : 4;
    kv->array_elems = (size_t)TG_KV_BLOCK * (size_t)head_dim;
    kv->n_planes = (size_t)n_layer * 2 * (size_t)n_kv_head;
    kv->table = tg__calloc((size_t)n_seq, sizeof *kv->table);
    kv->n_blocks = tg__calloc((size_t)n_seq, sizeof *kv->n_blocks);
    kv->table_cap = tg__calloc((size_t)n_seq, sizeof *kv->table_cap);
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
                     (int)kv->n_alloc, tg__kvc_block_bytes(kv));
}

/* Room for the pool to hold one more block. */
static tg_status pool_grow(tg_kv_cache *kv)
{
    if (kv->n_alloc < kv->pool_cap)
        return TG_OK;
    const int32_t cap = kv->pool_cap ? 2 * kv->pool_cap : 4 * TG_KV_SLAB; /* slab multiple */
    uint8_t **slab = tg__realloc(kv->slab, (size_t)(cap / TG_KV_SLAB) * sizeof *slab);
    if (slab)
        kv->slab = slab;
    int32_t *ref = slab ? tg__realloc(kv->ref, (size_t)cap * sizeof *ref) : NULL;
    if (ref)
        kv->ref = ref;
    int32_t *fr = ref ? tg__realloc(kv->free_id, (size_t)cap * sizeof *fr) : NULL;
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
    int32_t *t = tg__realloc(kv->table[seq], (size_t)cap * sizeof *t);
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
        if (kv->n_alloc % TG_KV_SLAB == 0) { /* a new slab; its pages are touched as used */
            const size_t bytes = (TG_KV_SLAB * tg__kvc_block_bytes(kv) + 4095) & ~(size_t)4095;
            uint8_t *m = tg__aligned_alloc(4096, bytes);
            if (!m)
                return oom(kv);
            kv->slab[kv->n_alloc / TG_KV_SLAB] = m;
        }
        *id = kv->n_alloc++;
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

/* Every plane's array of block `from` into block `to`. */
static void block_copy(const tg_kv_cache *kv, int32_t to, int32_t from)
{
    for (int32_t l = 0; l < kv->n_layer; l++)
        for (int32_t v = 0; v < 2; v++)
            for (int32_t h = 0; h < kv->n_kv_head; h++)
                memcpy(tg__kvc_array_of(kv, to, l, v, h), tg__kvc_array_of(kv, from, l, v, h),
                       kv->array_elems * kv->elem_bytes);
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
        } else if (kv->ref[table[i]] > 1) { /* shared: copy it, then write the copy */
            tg_status st = block_new(kv, &id);
            if (st != TG_OK)
                return st;
            if (p0 > i * TG_KV_BLOCK) /* anything filled (K arrays are transposed: copy all) */
                block_copy(kv, id, table[i]);
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
    for (int32_t i = kv->n_blocks[seq] - 1; i >= keep; i--) /* last first: reused lowest first */
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
    for (int32_t i = kv->n_blocks[dst] - 1; i >= 0; i--)
        block_release(kv, to[i]);
    if (n)
        memcpy(to, from, (size_t)n * sizeof *to);
    kv->n_blocks[dst] = n;
    return TG_OK;
}
