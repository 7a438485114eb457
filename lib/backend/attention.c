/* backend/attention.c — decode kernel over cache blocks; runs of prompt rows go to the prefill
 * kernel (attn_prefill.c). Scale 1/sqrt(head_dim) is folded into q; the softmax is softmax.h's. */
#include "core/alloc.h"
#include "attention.h"
#include "attn_prefill.h"
#include "core/error.h"
#include "simd.h"
#include "softmax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tg_attn {
    const tg_net_hparams *hp;
    tg_kv_cache *kv;
    int32_t n_ctx;
    tg_tpool *pool;    /* the session's: decode rows and prefill tiles are spread over it */
    float *row_scores; /* decode: [thread][heads per KV head][n_ctx] */
    float *tiles;      /* prefill: [thread][tg__attn_prefill_scratch] */
    int32_t *dec;      /* decode rows of the current layer */
};

/* One row's attention for the R q heads of KV head g: q [R][D] (scaled), out [R][D], over
 * positions [0, T) of `seq` in layer l, reading the cache arrays in place. s: R x T scratch.
 * A K array is [D][16]: a block's 16 scores are sums over d of q[d] times a row of 16, two
 * 8-wide multiply-adds per d. The weighted sum of V keeps 64 outputs in registers per pass. */
TG_CLONES
static void decode_group(const tg_kv_cache *kv, int32_t seq, int32_t l, int32_t g, int64_t T,
                         int64_t R, int64_t D, const float *q, float *out, float *s)
{
    const int64_t nb = (T + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    for (int64_t b = 0; b < nb; b++) {
        const float *kb = tg__kvc_array(kv, seq, (int32_t)b, l, 0, g);
        const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
        for (int64_t j = 0; j < R; j++) {
            const float *qj = q + j * D;
            v8f acc[TG_KV_BLOCK / 8] = {{0}}, k;
            for (int64_t d = 0; d < D; d++)
                for (int c = 0; c < TG_KV_BLOCK / 8; c++) {
                    memcpy(&k, kb + d * TG_KV_BLOCK + 8 * c, sizeof k);
                    acc[c] += qj[d] * k;
                }
            float sc[TG_KV_BLOCK]; /* lanes past n hold unused positions: dropped */
            memcpy(sc, acc, sizeof sc);
            memcpy(s + j * T + t0, sc, (size_t)n * sizeof *sc);
        }
    }
    for (int64_t j = 0; j < R; j++)
        tg__softmax(s + j * T, T);
    for (int64_t j = 0; j < R; j++) {
        const float *p = s + j * T;
        for (int64_t d0 = 0; d0 < D; d0 += 64) { /* 64 outputs (8 registers) at a time */
            const int64_t w = D - d0 < 64 ? D - d0 : 64, nv = w / 8;
            v8f acc[8] = {{0}}, v;
            float tail[8] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const float *vb = tg__kvc_array(kv, seq, (int32_t)b, l, 1, g) + d0;
                const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
                for (int64_t t = 0; t < n; t++) {
                    const float pt = p[t0 + t], *vt = vb + t * D;
                    for (int64_t c = 0; c < nv; c++) {
                        memcpy(&v, vt + 8 * c, sizeof v);
                        acc[c] += pt * v;
                    }
                    for (int64_t i = 8 * nv; i < w; i++)
                        tail[i - 8 * nv] += pt * vt[i];
                }
            }
            memcpy(out + j * D + d0, acc, (size_t)(8 * nv) * sizeof(float));
            memcpy(out + j * D + d0 + 8 * nv, tail, (size_t)(w - 8 * nv) * sizeof(float));
        }
    }
}

/* Rows [i0, i1) of one sequence at consecutive positions (their K and V already cached). */
static void prefill(tg_attn *a, int32_t l, const tg_batch_row *rows, size_t i0, size_t i1,
                    const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, QKV = (H + 2 * G) * D;
    tg__attn_prefill(a->kv, rows[i0].seq, l, H, rows[i0].pos, (int64_t)(i1 - i0),
                     qkv + i0 * (size_t)QKV, (size_t)QKV, att + i0 * (size_t)(H * D),
                     (size_t)(H * D), a->tiles, a->pool);
}

typedef struct dec_job {
    tg_attn *a;
    int32_t l;
    const tg_batch_row *rows;
    const int32_t *idx;
    const float *qkv;
    float *att;
    float scale;
    int64_t G, n;
} dec_job;

/* One (KV head, row) of decode_rows; `worker` picks the thread's score buffer. Tasks go head by
 * head, each head's rows one after the other: rows that share cache blocks (beam search's beams
 * all share the prompt's) then find a head's K and V in L2, read from memory once instead of
 * once per row. */
static void decode_task(void *arg, int64_t k, int32_t worker)
{
    const dec_job *j = arg;
    const tg_net_hparams *hp = j->a->hp;
    const int64_t H = hp->n_head, G = j->G, R = H / G, D = hp->head_dim, QKV = (H + 2 * G) * D;
    const int64_t r = j->idx[k % j->n], g = k / j->n;
    float q[R * D];
    const float *src = j->qkv + (size_t)r * (size_t)QKV + g * R * D;
    for (int64_t i = 0; i < R * D; i++)
        q[i] = src[i] * j->scale;
    float *s = j->a->row_scores + (size_t)worker * (size_t)(R * j->a->n_ctx);
    decode_group(j->a->kv, j->rows[r].seq, j->l, (int32_t)g, (int64_t)j->rows[r].pos + 1, R, D, q,
                 j->att + (size_t)r * (size_t)(H * D) + g * R * D, s);
}

/* Decode rows: one task per (row, KV head), spread over the pool's threads when there is
 * enough. */
static void decode_rows(tg_attn *a, int32_t l, const tg_batch_row *rows, const int32_t *idx,
                        int64_t n, const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, tasks = n * G;
    const float scale = 1.0f / sqrtf((float)D);
    int64_t work = 0;
    for (int64_t i = 0; i < n; i++)
        work += (int64_t)rows[idx[i]].pos + 1;
    work *= H * D;
    dec_job j = {a, l, rows, idx, qkv, att, scale, G, n};
    /* Below ~32k multiply-adds a task costs less than handing it to another thread. */
    tg__tpool_run(work >= 32768 ? a->pool : NULL, tasks, decode_task, &j);
}

tg_status tg__attn_layer(tg_attn *a, int32_t l, const tg_batch_row *rows, size_t M,
                         const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, QKV = (H + 2 * G) * D;
    for (size_t r = 0; r < M; r++) { /* cache every row's k and v first */
        const float *src = qkv + r * (size_t)QKV;
        for (int32_t g = 0; g < (int32_t)G; g++)
            tg__kvc_store(a->kv, rows[r].seq, rows[r].pos, l, g, src + (H + g) * D,
                          src + (H + G + g) * D);
    }
    int64_t n_dec = 0;
    for (size_t i0 = 0; i0 < M;) {
        size_t i1 = i0 + 1;
        while (i1 < M && rows[i1].seq == rows[i0].seq && rows[i1].pos == rows[i1 - 1].pos + 1)
            i1++;
        if (i1 - i0 >= TG_ATTN_PREFILL_MIN) {
            prefill(a, l, rows, i0, i1, qkv, att);
        } else {
            for (size_t r = i0; r < i1; r++)
                a->dec[n_dec++] = (int32_t)r;
        }
        i0 = i1;
    }
    if (n_dec)
        decode_rows(a, l, rows, a->dec, n_dec, qkv, att);
    return TG_OK;
}

void tg__attn_free(tg_attn *a)
{
    if (!a)
        return;
    free(a->row_scores);
    free(a->tiles);
    free(a->dec);
    free(a);
}

tg_status tg__attn_create(tg_attn **out, const tg_net_hparams *hp, tg_kv_cache *kv, int32_t n_ctx,
                          int32_t n_batch, tg_tpool *pool)
{
    *out = NULL;
    tg_attn *a = tg__calloc(1, sizeof *a);
    if (!a)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    a->hp = hp;
    a->kv = kv;
    a->n_ctx = n_ctx;
    a->pool = pool;
    const int32_t n_threads = tg__tpool_size(pool);
    const size_t H = (size_t)hp->n_head, G = (size_t)hp->n_kv_head, B = (size_t)n_batch;
    /* Buffers sized for the longest sequence are touched only as far as sequences grow. */
    a->row_scores = tg__malloc((size_t)n_threads * (H / G) * (size_t)n_ctx * sizeof(float));
    a->tiles = tg__malloc((size_t)n_threads * tg__attn_prefill_scratch(kv) * sizeof(float));
    a->dec = tg__malloc(B * sizeof *a->dec);
    if (!a->row_scores || !a->tiles || !a->dec) {
        tg__attn_free(a);
        return tg__error(TG_ENOMEM, "out of memory creating a session (n_ctx %d)", (int)n_ctx);
    }
    tg__log(TG_LOG_DEBUG, "attention: decode kernel, prefill kernel %s (no oneDNN)",
            tg__attn_prefill_kernel());
    *out = a;
    return TG_OK;
}
