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
    free(kv->mem);
    free(kv->ref);
    free(kv->free_id);
    free(kv->table);
    free(kv->n_blocks);
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
    kv->cap = n_seq * kv->max_blocks;
    kv->mem = calloc((size_t)kv->cap, sizeof *kv->mem);
    kv->ref = calloc((size_t)kv->cap, sizeof *kv->ref);
    kv->free_id = malloc((size_t)kv->cap * sizeof *kv->free_id);
    kv->table = malloc((size_t)kv->cap * sizeof *kv->table);
    kv->n_blocks = calloc((size_t)n_seq, sizeof *kv->n_blocks);
    if (!kv->mem || !kv->ref || !kv->free_id || !kv->table || !kv->n_blocks) {
        tg__kvc_free(kv);
        return tg__error(TG_ENOMEM, "out of memory creating the KV cache (%d sequences)",
                         (int)n_seq);
    }
    *out = kv;
    return TG_OK;
}

static tg_status block_new(tg_kv_cache *kv, int32_t *id)
{
    if (kv->n_free > 0) {
        *id = kv->free_id[--kv->n_free];
    } else {
        /* Sequences reference at most cap distinct blocks, so the pool never runs dry. */
        const size_t bytes = (kv->block_floats * sizeof(float) + 63) & ~(size_t)63;
        float *m = aligned_alloc(64, bytes);
        if (!m)
            return tg__error(TG_ENOMEM, "out of memory for a KV cache block (%zu bytes)", bytes);
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
    int32_t *table = kv->table + (size_t)seq * (size_t)kv->max_blocks;
    const int32_t first = p0 / TG_KV_BLOCK, last = (p0 + n - 1) / TG_KV_BLOCK;
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
    int32_t *table = kv->table + (size_t)seq * (size_t)kv->max_blocks;
    const int32_t keep = (n_keep + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    for (int32_t i = keep; i < kv->n_blocks[seq]; i++)
        block_release(kv, table[i]);
    if (kv->n_blocks[seq] > keep)
        kv->n_blocks[seq] = keep;
}

void tg__kvc_copy(tg_kv_cache *kv, int32_t dst, int32_t src, int32_t len)
{
    if (dst == src)
        return;
    const int32_t *from = kv->table + (size_t)src * (size_t)kv->max_blocks;
    int32_t *to = kv->table + (size_t)dst * (size_t)kv->max_blocks;
    const int32_t n = (len + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    for (int32_t i = 0; i < n; i++) /* take the new references before dropping the old ones */
        kv->ref[from[i]]++;
    for (int32_t i = 0; i < kv->n_blocks[dst]; i++)
        block_release(kv, to[i]);
    memcpy(to, from, (size_t)n * sizeof *to);
    kv->n_blocks[dst] = n;
}
