/* backend/attention.c — decode kernel over cache blocks, and oneDNN prefill over gathered K/V.
 * Scale 1/sqrt(head_dim) is folded into q; the softmax is a C loop. */
#include "attention.h"
#include "core/error.h"
#include "dnnl_util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ATT_CHUNK 64 /* most query rows per prefill matmul: bounds the scores buffer */

struct tg_attn {
    const tg_net_hparams *hp;
    tg_kv_cache *kv;
    int32_t n_ctx, n_threads;
    dnnl_stream_t stream;
    dnnl_primitive_t qk, pv;  /* batched matmuls with runtime sizes, created once */
    int64_t t_pad;            /* staging rows per KV head (n_ctx, off power-of-two strides) */
    float *k_stage, *v_stage; /* [kv_head][t_pad][head_dim] */
    float *q, *o;             /* prefill chunk [head][chunk][head_dim] */
    float *scores;            /* prefill chunk [head][chunk][n_ctx] */
    float *row_scores;        /* decode: [thread][heads per KV head][n_ctx] */
    int32_t *dec;             /* decode rows of the current layer */
};

static const dnnl_data_type_t F32 = dnnl_f32;

/* ---- vector helpers (GCC/Clang vector extensions: SSE or wider, by target) ---- */
typedef float v8f __attribute__((vector_size(32)));

/* Loads through memcpy: unaligned, no aliasing assumptions, no vector-typed returns (whose ABI
 * depends on the target). */
static inline __attribute__((always_inline)) float dot(const float *a, const float *b, int64_t n)
{
    v8f s0 = {0}, s1 = {0}, x0, y0, x1, y1;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        memcpy(&x0, a + i, sizeof x0);
        memcpy(&y0, b + i, sizeof y0);
        memcpy(&x1, a + i + 8, sizeof x1);
        memcpy(&y1, b + i + 8, sizeof y1);
        s0 += x0 * y0;
        s1 += x1 * y1;
    }
    for (; i + 8 <= n; i += 8) {
        memcpy(&x0, a + i, sizeof x0);
        memcpy(&y0, b + i, sizeof y0);
        s0 += x0 * y0;
    }
    s0 += s1;
    float r = ((s0[0] + s0[4]) + (s0[1] + s0[5])) + ((s0[2] + s0[6]) + (s0[3] + s0[7]));
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* y += a * x */
static inline __attribute__((always_inline)) void axpy(float *y, float a, const float *x, int64_t n)
{
    v8f v, w;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, y + i, sizeof v);
        memcpy(&w, x + i, sizeof w);
        v += a * w;
        memcpy(y + i, &v, sizeof v);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Softmax of s[0..n) in place. */
static void softmax(float *s, int64_t n)
{
    float mx = s[0];
    for (int64_t j = 1; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++)
        s[j] *= inv;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TG_CLONES
#endif

/* One row's attention for the R q heads of KV head g: q [R][D] (scaled), out [R][D], over
 * positions [0, T) of `seq` in layer l, reading the cache blocks in place. s: R x T scratch. */
TG_CLONES
static void decode_group(const tg_kv_cache *kv, int32_t seq, int32_t l, int32_t g, int64_t T,
                         int64_t R, int64_t D, const float *q, float *out, float *s)
{
    const int64_t nb = (T + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
    const size_t koff = tg__kvc_offset(kv, l, 0, g), voff = tg__kvc_offset(kv, l, 1, g);
    for (int64_t b = 0; b < nb; b++) {
        const float *kb = tg__kvc_block(kv, seq, (int32_t)b) + koff;
        const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
        for (int64_t t = 0; t < n; t++)
            for (int64_t j = 0; j < R; j++)
                s[j * T + t0 + t] = dot(q + j * D, kb + t * D, D);
    }
    for (int64_t j = 0; j < R; j++)
        softmax(s + j * T, T);
    memset(out, 0, (size_t)(R * D) * sizeof *out);
    for (int64_t b = 0; b < nb; b++) {
        const float *vb = tg__kvc_block(kv, seq, (int32_t)b) + voff;
        const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
        for (int64_t t = 0; t < n; t++)
            for (int64_t j = 0; j < R; j++)
                axpy(out + j * D, s[j * T + t0 + t], vb + t * D, D);
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
    dnnl_status_t s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    TG_DNNL(s, name);
    return TG_OK;
}

/* q.K^T and p.V over the KV heads, with runtime row counts and lengths; K and V are read from
 * the staging buffers (strides fixed by t_pad). Runtime dims with strides only on K and V keep
 * oneDNN 2.6 on gemm:jit; runtime dst strides or an output scale fall back to ref:any. */
static tg_status prims_create(tg_attn *a)
{
    const int64_t G = a->hp->n_kv_head, D = a->hp->head_dim, R = DNNL_RUNTIME_DIM_VAL;
    dnnl_memory_desc_t q, k, s, v, o;
    dnnl_dims_t qd = {G, R, D}, kd = {G, D, R}, sd = {G, R, R}, vd = {G, R, D};
    dnnl_dims_t ks = {a->t_pad * D, 1, D}, vs = {a->t_pad * D, D, 1};
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

/* Softmax over the visible prefix of each score row; positions after it get probability 0. */
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
    /* gather K and V of positions [0, T) from the blocks */
    for (int64_t b = 0; b * TG_KV_BLOCK < T; b++) {
        const float *blk = tg__kvc_block(a->kv, seq, (int32_t)b);
        const int64_t t0 = b * TG_KV_BLOCK, n = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
        for (int64_t g = 0; g < G; g++) {
            memcpy(a->k_stage + (g * tp + t0) * D, blk + tg__kvc_offset(a->kv, l, 0, (int32_t)g),
                   (size_t)(n * D) * sizeof(float));
            memcpy(a->v_stage + (g * tp + t0) * D, blk + tg__kvc_offset(a->kv, l, 1, (int32_t)g),
                   (size_t)(n * D) * sizeof(float));
        }
    }
    tg_status st;
    {
        dnnl_dims_t ad = {G, R * m, D}, as = {R * m * D, D, 1};
        dnnl_dims_t bd = {G, D, T}, bs = {tp * D, 1, D};
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

/* Decode rows: one task per (row, KV head), spread over the threads when there is enough. */
static void decode_rows(tg_attn *a, int32_t l, const tg_batch_row *rows, const int32_t *idx,
                        int64_t n, const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, R = H / G, D = hp->head_dim,
                  QKV = (H + 2 * G) * D, tasks = n * G;
    const float scale = 1.0f / sqrtf((float)D);
    int64_t work = 0;
    for (int64_t i = 0; i < n; i++)
        work += (int64_t)rows[idx[i]].pos + 1;
    work *= H * D;
    const int threads = a->n_threads > 1 && work >= 32768 ? a->n_threads : 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t k = 0; k < tasks; k++) {
        const int64_t r = idx[k / G], g = k % G;
        float q[R * D];
        const float *src = qkv + (size_t)r * (size_t)QKV + g * R * D;
        for (int64_t i = 0; i < R * D; i++)
            q[i] = src[i] * scale;
        float *s = a->row_scores + (size_t)omp_get_thread_num() * (size_t)(R * a->n_ctx);
        decode_group(a->kv, rows[r].seq, l, (int32_t)g, (int64_t)rows[r].pos + 1, R, D, q,
                     att + (size_t)r * (size_t)(H * D) + g * R * D, s);
    }
}

tg_status tg__attn_layer(tg_attn *a, int32_t l, const tg_batch_row *rows, size_t M,
                         const float *qkv, float *att)
{
    const tg_net_hparams *hp = a->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, QKV = (H + 2 * G) * D;
    for (size_t r = 0; r < M; r++) { /* cache every row's k and v first */
        const float *src = qkv + r * (size_t)QKV;
        for (int32_t g = 0; g < (int32_t)G; g++) {
            memcpy(tg__kvc_at(a->kv, rows[r].seq, rows[r].pos, l, 0, g), src + (H + g) * D,
                   (size_t)D * sizeof(float));
            memcpy(tg__kvc_at(a->kv, rows[r].seq, rows[r].pos, l, 1, g), src + (H + G + g) * D,
                   (size_t)D * sizeof(float));
        }
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
                          int32_t n_batch, int32_t n_threads)
{
    *out = NULL;
    tg_attn *a = calloc(1, sizeof *a);
    if (!a)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    a->hp = hp;
    a->kv = kv;
    a->n_ctx = n_ctx;
    a->n_threads = n_threads;
    const size_t H = (size_t)hp->n_head, G = (size_t)hp->n_kv_head, D = (size_t)hp->head_dim,
                 B = (size_t)n_batch, chunk = B < ATT_CHUNK ? B : ATT_CHUNK;
    /* Power-of-two strides between heads alias in the caches; pad them away. */
    a->t_pad = n_ctx;
    while (is_pow2((uint64_t)a->t_pad * D * sizeof(float)) || (a->t_pad * D * 4) % 4096 == 0)
        a->t_pad++;
    /* Buffers sized for the longest sequence are touched only as far as sequences grow. */
    a->k_stage = malloc(G * (size_t)a->t_pad * D * sizeof(float));
    a->v_stage = malloc(G * (size_t)a->t_pad * D * sizeof(float));
    a->q = malloc(H * chunk * D * sizeof(float));
    a->o = malloc(H * chunk * D * sizeof(float));
    a->scores = malloc(H * chunk * (size_t)n_ctx * sizeof(float));
    a->row_scores = malloc((size_t)n_threads * (H / G) * (size_t)n_ctx * sizeof(float));
    a->dec = malloc(B * sizeof *a->dec);
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
