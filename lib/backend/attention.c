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
    float *row_scores; /* decode: [thread][DEC_HEADS x heads per KV head][n_ctx] */
    float *tiles;      /* prefill: [thread][tg__attn_prefill_scratch] */
    int32_t *dec;      /* decode rows of the current layer */
};

/* Most KV heads one decode task reads side by side. Each head's K (and V) of a row is one short
 * run of memory (T x head_dim floats: 40 KB at 160 positions); one such run at a time reads at
 * ~15 GB/s on this project's machine, four side by side at ~24 (docs/performance.md, "Issue 12,
 * phase 5"): the hardware prefetcher ramps up once per run, and runs this short are mostly
 * ramp. */
#define DEC_HEADS 4
/* Query rows (q heads) scored in one loop, and outputs of each that the weighted sum of V keeps
 * in registers per pass (4 rows x 4 vectors of 16). */
#define DEC_ROWS 4
#define DEC_VW 64

/* What one decode task computes (up to 32 query rows per call of decode_rows_attn): row i is a
 * q head of KV head kvh[i]; q[i] scaled, out[i] its [D] output, s[i] T floats of scratch. */
typedef struct dec_rows {
    const tg_kv_cache *kv;
    int32_t seq, l;
    int64_t T, D;
    const float *q[DEC_HEADS * 8];
    float *out[DEC_HEADS * 8], *s[DEC_HEADS * 8];
    int32_t kvh[DEC_HEADS * 8];
} dec_rows;

/* Element bytes of the cache: f32, or bf16 when BF (a constant in every kernel below, which is
 * compiled once per element type). */
#define ESZ(BF) ((BF) ? 2 : 4)

/* Scores of rows [r0, r0 + NR) over block b: for each row a sum over d in order of q[d] times
 * a row of the K array ([D][16], a row = one v16f); the rows in one loop so that their heads'
 * arrays stream side by side. */
TG_INLINE void k_scores(const dec_rows *w, int64_t r0, int64_t b, const int BF, const int NR)
{
    const int64_t t0 = b * TG_KV_BLOCK, n = w->T - t0 < TG_KV_BLOCK ? w->T - t0 : TG_KV_BLOCK;
    const uint8_t *k[DEC_ROWS];
    for (int i = 0; i < NR; i++)
        k[i] = tg__kvc_array(w->kv, w->seq, (int32_t)b, w->l, 0, w->kvh[r0 + i]);
    const float *q[DEC_ROWS];
    for (int i = 0; i < NR; i++)
        q[i] = w->q[r0 + i];
    v16f acc[DEC_ROWS] = {{0}}, kv;
    for (int64_t d = 0; d < w->D; d++)
        _Pragma("GCC unroll 4") for (int i = 0; i < NR; i++)
        {
            tg__load16(&kv, k[i] + d * TG_KV_BLOCK * ESZ(BF), BF);
            acc[i] += q[i][d] * kv;
        }
    for (int i = 0; i < NR; i++) {
        float sc[TG_KV_BLOCK]; /* lanes past n hold unused positions: dropped */
        memcpy(sc, &acc[i], sizeof sc);
        memcpy(w->s[r0 + i] + t0, sc, (size_t)n * sizeof *sc);
    }
}

/* out[r][d0, d0 + DEC_VW) for rows [r0, r0 + NR): sums over positions t < T in order of
 * p[t] * V[t][d], the rows' V arrays read side by side. */
TG_INLINE void v_sums(const dec_rows *w, int64_t r0, int64_t d0, const int BF, const int NR)
{
    v16f acc[DEC_ROWS][DEC_VW / 16] = {{{0}}}, v;
    for (int64_t b = 0; b * TG_KV_BLOCK < w->T; b++) {
        const int64_t t0 = b * TG_KV_BLOCK, n = w->T - t0 < TG_KV_BLOCK ? w->T - t0 : TG_KV_BLOCK;
        const uint8_t *vb[DEC_ROWS];
        const float *p[DEC_ROWS];
        for (int i = 0; i < NR; i++) {
            vb[i] =
                (const uint8_t *)tg__kvc_array(w->kv, w->seq, (int32_t)b, w->l, 1, w->kvh[r0 + i]) +
                d0 * ESZ(BF);
            p[i] = w->s[r0 + i] + t0;
        }
        for (int64_t t = 0; t < n; t++)
            _Pragma("GCC unroll 4") for (int i = 0; i < NR; i++)
            {
                const float pt = p[i][t];
                const uint8_t *vt = vb[i] + t * w->D * ESZ(BF);
                _Pragma("GCC unroll 4") for (int c = 0; c < DEC_VW / 16; c++)
                {
                    tg__load16(&v, vt + 16 * c * ESZ(BF), BF);
                    acc[i][c] += pt * v;
                }
            }
    }
    for (int i = 0; i < NR; i++)
        memcpy(w->out[r0 + i] + d0, acc[i], sizeof acc[i]);
}

/* out[r][d0, D) for head dims that are not a multiple of DEC_VW: 8 outputs at a time (each the
 * same sum in the same order as in v_sums), the last few one by one. */
TG_INLINE void v_tail(const dec_rows *w, int64_t r, int64_t d0, const int BF)
{
    for (; d0 < w->D; d0 += 8) {
        const int64_t m = w->D - d0 < 8 ? w->D - d0 : 8;
        v8f acc = {0}, v;
        float acc1[8] = {0};
        for (int64_t b = 0; b * TG_KV_BLOCK < w->T; b++) {
            const int64_t t0 = b * TG_KV_BLOCK,
                          n = w->T - t0 < TG_KV_BLOCK ? w->T - t0 : TG_KV_BLOCK;
            const uint8_t *vb =
                (const uint8_t *)tg__kvc_array(w->kv, w->seq, (int32_t)b, w->l, 1, w->kvh[r]) +
                d0 * ESZ(BF);
            for (int64_t t = 0; t < n; t++) {
                const float pt = w->s[r][t0 + t];
                if (m == 8) {
                    tg__load8(&v, vb + t * w->D * ESZ(BF), BF);
                    acc += pt * v;
                } else {
                    for (int64_t i = 0; i < m; i++)
                        acc1[i] += pt * tg__load1(vb, t * w->D + i, BF);
                }
            }
        }
        if (m == 8)
            memcpy(w->out[r] + d0, &acc, sizeof acc);
        else
            memcpy(w->out[r] + d0, acc1, (size_t)m * sizeof *acc1);
    }
}

#define BY_ROWS(call, nr, ...)                                                                     \
    switch (nr) {                                                                                  \
    case 1:                                                                                        \
        call(__VA_ARGS__, 1);                                                                      \
        break;                                                                                     \
    case 2:                                                                                        \
        call(__VA_ARGS__, 2);                                                                      \
        break;                                                                                     \
    case 3:                                                                                        \
        call(__VA_ARGS__, 3);                                                                      \
        break;                                                                                     \
    default:                                                                                       \
        call(__VA_ARGS__, 4);                                                                      \
        break;                                                                                     \
    }

/* The attention of the nq rows of `w` over positions [0, T): scores block by block (up to
 * DEC_ROWS rows at a time, so a block's K arrays are read from memory once), softmax, then the
 * weighted sums of V. Every output is the sum the one-row loop would compute, in the same order:
 * the same bits however rows are grouped. */
TG_INLINE void decode_rows_attn(const dec_rows *w, int64_t nq, const int BF)
{
    for (int64_t b = 0; b * TG_KV_BLOCK < w->T; b++)
        for (int64_t r0 = 0; r0 < nq; r0 += DEC_ROWS) {
            const int64_t nr = nq - r0 < DEC_ROWS ? nq - r0 : DEC_ROWS;
            BY_ROWS(k_scores, nr, w, r0, b, BF)
        }
    for (int64_t r = 0; r < nq; r++)
        tg__softmax(w->s[r], w->T);
    for (int64_t r0 = 0; r0 < nq; r0 += DEC_ROWS) {
        const int64_t nr = nq - r0 < DEC_ROWS ? nq - r0 : DEC_ROWS;
        int64_t d0 = 0;
        for (; d0 + DEC_VW <= w->D; d0 += DEC_VW)
            BY_ROWS(v_sums, nr, w, r0, d0, BF)
        if (d0 < w->D)
            for (int64_t r = r0; r < r0 + nr; r++)
                v_tail(w, r, d0, BF);
    }
}

TG_CLONES
static void decode_rows_f32(const dec_rows *w, int64_t nq)
{
    decode_rows_attn(w, nq, 0);
}

TG_CLONES
static void decode_rows_bf16(const dec_rows *w, int64_t nq)
{
    decode_rows_attn(w, nq, 1);
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
    int32_t heads; /* KV heads per task, <= DEC_HEADS */
} dec_job;

/* One (group of KV heads, row) of decode_rows; `worker` picks the thread's score buffer. Tasks
 * go head group by head group, each group's rows one after the other: rows that share cache
 * blocks (beam search's beams all share the prompt's) then find the heads' K and V in L2, read
 * from memory once instead of once per row. */
static void decode_task(void *arg, int64_t k, int32_t worker)
{
    const dec_job *j = arg;
    const tg_net_hparams *hp = j->a->hp;
    const int64_t H = hp->n_head, G = j->G, R = H / G, D = hp->head_dim, QKV = (H + 2 * G) * D;
    const int64_t r = j->idx[k % j->n], g0 = (k / j->n) * j->heads;
    const int64_t nh = G - g0 < j->heads ? G - g0 : j->heads, nq = nh * R;
    float q[nq * D];
    const float *src = j->qkv + (size_t)r * (size_t)QKV + g0 * R * D;
    for (int64_t i = 0; i < nq * D; i++)
        q[i] = src[i] * j->scale;
    float *s = j->a->row_scores + (size_t)worker * (size_t)(DEC_HEADS * R * j->a->n_ctx);
    float *out = j->att + (size_t)r * (size_t)(H * D) + g0 * R * D;
    dec_rows w = {
        .kv = j->a->kv, .seq = j->rows[r].seq, .l = j->l, .T = (int64_t)j->rows[r].pos + 1, .D = D};
    for (int64_t i = 0; i < nq; i += sizeof w.q / sizeof *w.q) {
        const int64_t m = nq - i < (int64_t)(sizeof w.q / sizeof *w.q)
                              ? nq - i
                              : (int64_t)(sizeof w.q / sizeof *w.q);
        for (int64_t x = 0; x < m; x++) { /* q head i + x: of KV head g0 + (i + x) / R */
            w.q[x] = q + (i + x) * D;
            w.out[x] = out + (i + x) * D;
            w.s[x] = s + (size_t)(i + x) * (size_t)j->a->n_ctx;
            w.kvh[x] = (int32_t)(g0 + (i + x) / R);
        }
        if (w.kv->bf16)
            decode_rows_bf16(&w, m);
        else
            decode_rows_f32(&w, m);
    }
}

/* Decode rows: one task per (row, group of KV heads), spread over the pool's threads when there
 * is enough. Groups of DEC_HEADS heads; smaller when that would leave threads without tasks. */
static void decode_rows(tg_attn *a, int32_t l, const tg_batch_row *rows, const int32_t *idx,
                        int64_t n, const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim;
    const float scale = 1.0f / sqrtf((float)D);
    int64_t work = 0;
    for (int64_t i = 0; i < n; i++)
        work += (int64_t)rows[idx[i]].pos + 1;
    work *= H * D;
    tg_tpool *pool = tg__tpool_for_work(a->pool, work);
    const int64_t threads = pool ? tg__tpool_threads_next(pool) : 1;
    int32_t heads = DEC_HEADS;
    while (heads > 1 && n * ((G + heads - 1) / heads) < 3 * threads)
        heads /= 2;
    dec_job j = {a, l, rows, idx, qkv, att, scale, G, n, heads};
    tg__tpool_run(pool, n * ((G + heads - 1) / heads), decode_task, &j);
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
    a->row_scores =
        tg__malloc((size_t)n_threads * DEC_HEADS * (H / G) * (size_t)n_ctx * sizeof(float));
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
