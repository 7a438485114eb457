/* backend/attention.c — decode kernel over cache blocks, and oneDNN prefill over gathered K/V.
 * Scale 1/sqrt(head_dim) is folded into q; the softmax is a C loop. */
#include "core/alloc.h"
#include "attention.h"
#include "core/error.h"
#include "dnnl_util.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ATT_CHUNK 64 /* most query rows per prefill matmul: bounds the scores buffer */

struct tg_attn {
    const tg_net_hparams *hp;
    tg_kv_cache *kv;
    int32_t n_ctx;
    tg_tpool *pool; /* the session's: decode rows are spread over it */
    dnnl_stream_t stream;
    dnnl_primitive_t qk, pv;  /* batched matmuls with runtime sizes, created once */
    int64_t t_pad;            /* staging rows per KV head (n_ctx, off power-of-two strides) */
    float *k_stage, *v_stage; /* [kv_head][t_pad][head_dim] */
    float *q, *o;             /* prefill chunk [head][chunk][head_dim] */
    float *scores;            /* prefill chunk [head][chunk][n_ctx] */
    float *row_scores;        /* decode: [thread][heads per KV head][n_ctx] */
    int32_t *dec;             /* decode rows of the current layer */
    /* What the staging buffers hold: positions [0, staged_len) of (staged_seq, staged_layer),
     * valid within one forward pass; a prefill run that continues it gathers only the rest. */
    int32_t staged_seq, staged_layer;
    int64_t staged_len;
};

static const dnnl_data_type_t F32 = dnnl_f32;

/* Softmax of s[0..n) in place. */
TG_INLINE void softmax(float *s, int64_t n)
{
    float mx = s[0];
    for (int64_t j = 1; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    v8f acc = {0}, x;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        memcpy(&x, s + j, sizeof x);
        x -= mx;
        tg__exp_nonpositive(&x);
        memcpy(s + j, &x, sizeof x);
        acc += x;
    }
    float sum = tg__hsum8(&acc);
    for (; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (j = 0; j + 8 <= n; j += 8) {
        memcpy(&x, s + j, sizeof x);
        x *= inv;
        memcpy(s + j, &x, sizeof x);
    }
    for (; j < n; j++)
        s[j] *= inv;
}

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
        softmax(s + j * T, T);
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

/* ---- oneDNN prefill ---- */
static tg_status make_prim(dnnl_primitive_t *out, const dnnl_matmul_desc_t *d, const char *name)
{
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    dnnl_primitive_desc_t pd;
    TG_DNNL(dnnl_primitive_desc_create(&pd, d, NULL, eng, NULL), name);
    tg__dnnl_note_impl(pd, name, -1);
    dnnl_status_t s = tg__dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    TG_DNNL(s, name);
    return TG_OK;
}

/* q.K^T and p.V over the KV heads, with runtime row counts and lengths; K ([kv_head][D][t_pad],
 * i.e. K^T) and V ([kv_head][t_pad][D]) are read from the staging buffers (strides fixed by
 * t_pad). Runtime dims with strides only on K and V keep oneDNN 2.6 on gemm:jit; runtime dst
 * strides or an output scale fall back to ref:any. */
static tg_status prims_create(tg_attn *a)
{
    const int64_t G = a->hp->n_kv_head, D = a->hp->head_dim, R = DNNL_RUNTIME_DIM_VAL;
    dnnl_memory_desc_t q, k, s, v, o;
    dnnl_dims_t qd = {G, R, D}, kd = {G, D, R}, sd = {G, R, R}, vd = {G, R, D};
    dnnl_dims_t ks = {D * a->t_pad, a->t_pad, 1}, vs = {a->t_pad * D, D, 1};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&q, 3, qd, F32, dnnl_abc), "attention q");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&k, 3, kd, F32, ks), "attention k");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&s, 3, sd, F32, dnnl_abc), "attention scores");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&v, 3, vd, F32, vs), "attention v");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&o, 3, qd, F32, dnnl_abc), "attention out");
    dnnl_matmul_desc_t d1, d2;
    TG_DNNL(dnnl_matmul_desc_init(&d1, &q, &k, NULL, &s), "attention q.k");
    TG_DNNL(dnnl_matmul_desc_init(&d2, &s, &v, NULL, &o), "attention p.v");
    tg_status st = make_prim(&a->qk, &d1, "attention q.k");
    return st == TG_OK ? make_prim(&a->pv, &d2, "attention p.v") : st;
}

static tg_status run_3d(tg_attn *a, dnnl_primitive_t prim, const dnnl_dims_t ad,
                        const dnnl_dims_t as, void *x, const dnnl_dims_t bd, const dnnl_dims_t bs,
                        void *y, const dnnl_dims_t od, void *o, const char *what)
{
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    dnnl_memory_desc_t amd, bmd, omd;
    dnnl_memory_t am = NULL, bmem = NULL, om = NULL;
    TG_DNNL(dnnl_memory_desc_init_by_strides(&amd, 3, ad, F32, as), what);
    TG_DNNL(dnnl_memory_desc_init_by_strides(&bmd, 3, bd, F32, bs), what);
    TG_DNNL(dnnl_memory_desc_init_by_tag(&omd, 3, od, F32, dnnl_abc), what);
    dnnl_status_t s = dnnl_memory_create(&am, &amd, eng, x);
    if (s == dnnl_success)
        s = dnnl_memory_create(&bmem, &bmd, eng, y);
    if (s == dnnl_success)
        s = dnnl_memory_create(&om, &omd, eng, o);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bmem}, {DNNL_ARG_DST, om}};
        s = dnnl_primitive_execute(prim, a->stream, 3, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(a->stream);
    if (am)
        dnnl_memory_destroy(am);
    if (bmem)
        dnnl_memory_destroy(bmem);
    if (om)
        dnnl_memory_destroy(om);
    return s == dnnl_success ? TG_OK : tg__dnnl_check(s, what);
}

/* K (as K^T: rows of 16 positions per d) and V of positions [from, T) of `seq` in layer l (from
 * the start of from's block), from the cache arrays into the staging buffers. */
TG_CLONES
static void gather(tg_attn *a, int32_t seq, int32_t l, int64_t from, int64_t T)
{
    const int64_t G = a->hp->n_kv_head, D = a->hp->head_dim, tp = a->t_pad;
    for (int64_t b = from / TG_KV_BLOCK; b * TG_KV_BLOCK < T; b++) {
        const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
        for (int32_t g = 0; g < (int32_t)G; g++) {
            const float *kt = tg__kvc_array(a->kv, seq, (int32_t)b, l, 0, g);
            float *ks = a->k_stage + g * D * tp + t0;
            if (n == TG_KV_BLOCK) { /* whole rows of 16: vector copies, not memcpy calls */
                v8f x;
                for (int64_t d = 0; d < D; d++)
                    for (int c = 0; c < TG_KV_BLOCK / 8; c++) {
                        memcpy(&x, kt + d * TG_KV_BLOCK + 8 * c, sizeof x);
                        memcpy(ks + d * tp + 8 * c, &x, sizeof x);
                    }
            } else {
                for (int64_t d = 0; d < D; d++)
                    for (int64_t t = 0; t < n; t++)
                        ks[d * tp + t] = kt[d * TG_KV_BLOCK + t];
            }
            memcpy(a->v_stage + (g * tp + t0) * D, tg__kvc_array(a->kv, seq, (int32_t)b, l, 1, g),
                   (size_t)(n * D) * sizeof(float));
        }
    }
}

/* Softmax over the visible prefix of each score row; positions after it get probability 0. */
TG_CLONES
static void masked_softmax(float *s, int64_t H, int64_t m, int64_t T, int64_t p0)
{
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < m; i++) {
            float *row = s + (h * m + i) * T;
            const int64_t n = p0 + i + 1;
            softmax(row, n);
            for (int64_t j = n; j < T; j++)
                row[j] = 0.0f;
        }
}

/* Rows [i0, i1) of one sequence at consecutive positions (their K and V already cached). The q
 * heads of KV head g are heads g*R .. g*R+R-1: laid out [head][row][D] they form the [R*m, D]
 * rows of batch g of the matmuls. */
static tg_status prefill(tg_attn *a, int32_t l, const tg_batch_row *rows, size_t i0, size_t i1,
                         const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, R = H / G, D = hp->head_dim,
                  m = (int64_t)(i1 - i0), QKV = (H + 2 * G) * D, tp = a->t_pad;
    const int32_t seq = rows[i0].seq;
    const int64_t p0 = rows[i0].pos, T = p0 + m;
    const float scale = 1.0f / sqrtf((float)D);
    for (int64_t i = 0; i < m; i++) {
        const float *src = qkv + (i0 + (size_t)i) * (size_t)QKV;
        for (int64_t h = 0; h < H; h++)
            for (int64_t d = 0; d < D; d++)
                a->q[(h * m + i) * D + d] = src[h * D + d] * scale;
    }
    /* A long prompt is cut into runs of ATT_CHUNK rows: each run after the first finds the
     * earlier positions staged already (gathering all of them again would cost O(T^2)). */
    const int64_t from =
        a->staged_seq == seq && a->staged_layer == l && a->staged_len == p0 ? p0 : 0;
    gather(a, seq, l, from, T);
    a->staged_seq = seq;
    a->staged_layer = l;
    a->staged_len = T;
    tg_status st;
    {
        dnnl_dims_t ad = {G, R * m, D}, as = {R * m * D, D, 1};
        dnnl_dims_t bd = {G, D, T}, bs = {D * tp, tp, 1};
        dnnl_dims_t od = {G, R * m, T};
        if ((st = run_3d(a, a->qk, ad, as, a->q, bd, bs, a->k_stage, od, a->scores,
                         "attention q.k")) != TG_OK)
            return st;
    }
    masked_softmax(a->scores, H, m, T, p0);
    {
        dnnl_dims_t ad = {G, R * m, T}, as = {R * m * T, T, 1};
        dnnl_dims_t bd = {G, T, D}, bs = {tp * D, D, 1};
        dnnl_dims_t od = {G, R * m, D};
        if ((st = run_3d(a, a->pv, ad, as, a->scores, bd, bs, a->v_stage, od, a->o,
                         "attention p.v")) != TG_OK)
            return st;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t h = 0; h < H; h++)
            memcpy(att + (i0 + (size_t)i) * (size_t)(H * D) + h * D, a->o + (h * m + i) * D,
                   (size_t)D * sizeof(float));
    return TG_OK;
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

void tg__attn_begin(tg_attn *a)
{
    a->staged_seq = -1;
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
        while (i1 < M && i1 - i0 < ATT_CHUNK && rows[i1].seq == rows[i0].seq &&
               rows[i1].pos == rows[i1 - 1].pos + 1)
            i1++;
        if (i1 - i0 >= TG_ATTN_PREFILL_MIN) {
            tg_status st = prefill(a, l, rows, i0, i1, qkv, att);
            if (st != TG_OK)
                return st;
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
    if (a->qk)
        dnnl_primitive_destroy(a->qk);
    if (a->pv)
        dnnl_primitive_destroy(a->pv);
    if (a->stream)
        dnnl_stream_destroy(a->stream);
    free(a->k_stage);
    free(a->v_stage);
    free(a->q);
    free(a->o);
    free(a->scores);
    free(a->row_scores);
    free(a->dec);
    free(a);
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
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
    a->staged_seq = -1;
    a->n_ctx = n_ctx;
    a->pool = pool;
    const int32_t n_threads = tg__tpool_size(pool);
    const size_t H = (size_t)hp->n_head, G = (size_t)hp->n_kv_head, D = (size_t)hp->head_dim,
                 B = (size_t)n_batch, chunk = B < ATT_CHUNK ? B : ATT_CHUNK;
    /* Power-of-two strides between heads alias in the caches; pad them away. */
    a->t_pad = n_ctx;
    while (is_pow2((uint64_t)a->t_pad * D * sizeof(float)) || (a->t_pad * D * 4) % 4096 == 0)
        a->t_pad++;
    /* Buffers sized for the longest sequence are touched only as far as sequences grow. */
    a->k_stage = tg__malloc(G * (size_t)a->t_pad * D * sizeof(float));
    a->v_stage = tg__malloc(G * (size_t)a->t_pad * D * sizeof(float));
    a->q = tg__malloc(H * chunk * D * sizeof(float));
    a->o = tg__malloc(H * chunk * D * sizeof(float));
    a->scores = tg__malloc(H * chunk * (size_t)n_ctx * sizeof(float));
    a->row_scores = tg__malloc((size_t)n_threads * (H / G) * (size_t)n_ctx * sizeof(float));
    a->dec = tg__malloc(B * sizeof *a->dec);
    if (!a->k_stage || !a->v_stage || !a->q || !a->o || !a->scores || !a->row_scores || !a->dec) {
        tg__attn_free(a);
        return tg__error(TG_ENOMEM, "out of memory creating a session (n_ctx %d)", (int)n_ctx);
    }
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st == TG_OK) {
        dnnl_status_t s = dnnl_stream_create(&a->stream, eng, dnnl_stream_default_flags);
        st = s == dnnl_success ? prims_create(a) : tg__dnnl_check(s, "stream creation");
    }
    if (st != TG_OK) {
        tg__attn_free(a);
        return st;
    }
    *out = a;
    return TG_OK;
}
