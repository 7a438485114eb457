/* backend/forward.c — the forward pass of a pre-norm decoder for a batch of (sequence, token,
 * position) rows, with a per-sequence KV cache.
 *
 * Per block: norm -> qkv linear -> rotary embeddings (RoPE models) -> K, V appended to the
 * cache -> attention per run of rows of one sequence (q.K^T and p.V as batched matmuls over the
 * KV heads with runtime sizes, reading K and V in place from the cache; the q heads sharing a KV
 * head form the rows of one matmul; masked softmax in C) -> output projection accumulating into
 * the residual stream -> norm -> MLP (GELU, or SiLU-gated) -> down projection accumulating into
 * the residual. Only rows that asked for logits go through the final norm and the output layer.
 * Linear plans are made per row count M, lazily, and kept for the last few row counts. */
#include "backend_internal.h"
#include "core/error.h"
#include "dnnl_util.h"
#include "rope.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ATT_CHUNK 64 /* most query rows per attention matmul: bounds the scores buffer */
#define PLAN_CACHE 6 /* row counts whose plans are kept */

typedef struct row_plans {
    int64_t M; /* 0 = empty slot */
    uint64_t last_use;
    tg_linear_plan *blk[TG_N_BLOCK_ROLES];
    tg_linear_plan *out;
} row_plans;

struct tg_backend_ctx {
    const tg_backend_model *bm;
    const tg_net_hparams *hp;
    dnnl_stream_t stream; /* attention primitives */
    int32_t n_seq, n_ctx, n_batch, n_threads;
    int64_t t_pad; /* cache rows per head (n_ctx rounded to avoid power-of-two strides) */
    float *kv;     /* [seq][layer][2][kv_head][t_pad][head_dim] */
    size_t kv_seq_floats, kv_layer_floats, kv_head_floats;
    dnnl_primitive_t qk, pv; /* attention matmuls with runtime sizes, created once */
    row_plans plans[PLAN_CACHE];
    uint64_t clock;
    /* scratch for n_batch rows */
    float *x;                   /* residual stream [B][C] */
    void *h;                    /* norm output, in the next linear's input type [B][C] */
    float *qkv;                 /* [B][(H + 2 Hkv) D] */
    float *att;                 /* attention output [B][H D] */
    void *att_in;               /* att in the output projection's input type (== att for f32) */
    void *ff;                   /* MLP hidden [B][F], in the down projection's input type */
    float *q, *o;               /* one attention chunk [H][chunk][D] */
    float *scores;              /* [H][chunk][n_ctx] */
    float *rope_cos, *rope_sin; /* [head_dim / 2] */
    void *scratch;
    size_t scratch_size;
};

static const dnnl_data_type_t F32 = dnnl_f32;

/* ---- attention primitives (runtime M and T; K and V read in place from the cache) ---- */
static tg_status att_prim(dnnl_primitive_t *out, const dnnl_matmul_desc_t *d, const char *name)
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

static tg_status att_create(tg_backend_ctx *c)
{
    const int64_t G = c->hp->n_kv_head, D = c->hp->head_dim, R = DNNL_RUNTIME_DIM_VAL;
    dnnl_memory_desc_t q, k, s, v, o;
    dnnl_dims_t qd = {G, R, D}, kd = {G, D, R}, sd = {G, R, R}, vd = {G, R, D};
    dnnl_dims_t ks = {c->t_pad * D, 1, D}, vs = {c->t_pad * D, D, 1};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&q, 3, qd, F32, dnnl_abc), "attention q");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&k, 3, kd, F32, ks), "attention k");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&s, 3, sd, F32, dnnl_abc), "attention scores");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&v, 3, vd, F32, vs), "attention v");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&o, 3, qd, F32, dnnl_abc), "attention out");
    dnnl_matmul_desc_t d1, d2;
    TG_DNNL(dnnl_matmul_desc_init(&d1, &q, &k, NULL, &s), "attention q.k");
    TG_DNNL(dnnl_matmul_desc_init(&d2, &s, &v, NULL, &o), "attention p.v");
    tg_status st = att_prim(&c->qk, &d1, "attention q.k");
    return st == TG_OK ? att_prim(&c->pv, &d2, "attention p.v") : st;
}

static tg_status run_3d(dnnl_primitive_t prim, tg_backend_ctx *c, const dnnl_dims_t ad,
                        const dnnl_dims_t as, void *a, const dnnl_dims_t bd, const dnnl_dims_t bs,
                        void *b, const dnnl_dims_t od, void *o, const char *what)
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
    dnnl_status_t s = dnnl_memory_create(&am, &amd, eng, a);
    if (s == dnnl_success)
        s = dnnl_memory_create(&bmem, &bmd, eng, b);
    if (s == dnnl_success)
        s = dnnl_memory_create(&om, &omd, eng, o);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bmem}, {DNNL_ARG_DST, om}};
        s = dnnl_primitive_execute(prim, c->stream, 3, args);
    }
    if (am)
        dnnl_memory_destroy(am);
    if (bmem)
        dnnl_memory_destroy(bmem);
    if (om)
        dnnl_memory_destroy(om);
    return s == dnnl_success ? TG_OK : tg__dnnl_check(s, what);
}

/* ---- linear plans per row count ---- */
static void plans_free(row_plans *p)
{
    for (int r = 0; r < TG_N_BLOCK_ROLES; r++)
        tg__linear_plan_free(p->blk[r]);
    tg__linear_plan_free(p->out);
    memset(p, 0, sizeof *p);
}

static tg_status grow_scratch(tg_backend_ctx *c, const tg_linear_plan *p)
{
    if (p->scratch_size <= c->scratch_size)
        return TG_OK;
    void *n = realloc(c->scratch, p->scratch_size);
    if (!n)
        return tg__error(TG_ENOMEM, "out of memory for linear scratch (%zu bytes)",
                         p->scratch_size);
    c->scratch = n;
    c->scratch_size = p->scratch_size;
    return TG_OK;
}

/* How each role runs: the epilogue and the output type are the wiring of a block. */
static tg_linear_cfg role_cfg(const tg_backend_ctx *c, int role, int64_t M)
{
    const tg_block *b0 = &c->bm->blocks[0];
    switch (role) {
    case TG_ROLE_ATTN_OUT:
    case TG_ROLE_FFN_DOWN:
        return (tg_linear_cfg){M, TG_EPI_NONE, 1, TG_ACT_F32};
    case TG_ROLE_FFN_UP: {
        const int32_t f = c->hp->ffn;
        const tg_epilogue e = f == TG_FFN_GELU_TANH  ? TG_EPI_GELU_TANH
                              : f == TG_FFN_GELU_ERF ? TG_EPI_GELU_ERF
                                                     : TG_EPI_SILU_GATE;
        return (tg_linear_cfg){M, e, 0, b0->lin[TG_ROLE_FFN_DOWN]->src};
    }
    default: /* qkv, output */
        return (tg_linear_cfg){M, TG_EPI_NONE, 0, TG_ACT_F32};
    }
}

/* The plan of `role` (TG_N_BLOCK_ROLES = the output layer) for M rows. */
static tg_status plan_get(tg_linear_plan **out, tg_backend_ctx *c, int role, int64_t M)
{
    row_plans *slot = NULL, *lru = &c->plans[0];
    for (int i = 0; i < PLAN_CACHE; i++) {
        if (c->plans[i].M == M) {
            slot = &c->plans[i];
            break;
        }
        if (c->plans[i].last_use < lru->last_use)
            lru = &c->plans[i];
    }
    if (!slot) {
        slot = lru;
        plans_free(slot);
        slot->M = M;
    }
    slot->last_use = ++c->clock;
    tg_linear_plan **p = role == TG_N_BLOCK_ROLES ? &slot->out : &slot->blk[role];
    if (!*p) {
        const tg_linear *l = role == TG_N_BLOCK_ROLES ? c->bm->output : c->bm->blocks[0].lin[role];
        const tg_linear_cfg cfg = role_cfg(c, role, M);
        tg_status st = tg__linear_plan_create(p, l, &cfg);
        if (st == TG_OK)
            st = grow_scratch(c, *p);
        if (st != TG_OK) {
            plans_free(slot);
            return st;
        }
    }
    *out = *p;
    return TG_OK;
}

static tg_status linear(tg_backend_ctx *c, int role, const tg_linear *l, size_t M, const void *src,
                        void *dst)
{
    tg_linear_plan *p;
    tg_status st = plan_get(&p, c, role, (int64_t)M);
    return st == TG_OK ? tg__linear_forward(p, l, src, dst, c->scratch) : st;
}

/* ---- context ---- */
void tg__backend_ctx_free(tg_backend_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < PLAN_CACHE; i++)
        plans_free(&c->plans[i]);
    if (c->qk)
        dnnl_primitive_destroy(c->qk);
    if (c->pv)
        dnnl_primitive_destroy(c->pv);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    free(c->kv);
    free(c->x);
    free(c->h);
    free(c->qkv);
    free(c->att);
    if (c->att_in != c->att)
        free(c->att_in);
    free(c->ff);
    free(c->q);
    free(c->o);
    free(c->scores);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->scratch);
    free(c);
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

tg_status tg__backend_ctx_create(tg_backend_ctx **out, const tg_backend_model *bm, int32_t n_seq,
                                 int32_t n_ctx, int32_t n_batch, int32_t n_threads)
{
    *out = NULL;
    const tg_net_hparams *hp = &bm->hp;
    const size_t C = (size_t)hp->n_embd, F = (size_t)hp->n_ff, H = (size_t)hp->n_head,
                 G = (size_t)hp->n_kv_head, D = (size_t)hp->head_dim, L = (size_t)hp->n_layer,
                 B = (size_t)n_batch, HD = H * D, QKV = (H + 2 * G) * D;
    tg_backend_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    c->bm = bm;
    c->hp = hp;
    c->n_seq = n_seq;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->n_threads = n_threads;
    /* Power-of-two strides between heads alias in the cache; pad them away. */
    c->t_pad = n_ctx;
    while (is_pow2((uint64_t)c->t_pad * D * sizeof(float)) || (c->t_pad * D * 4) % 4096 == 0)
        c->t_pad++;
    c->kv_head_floats = (size_t)c->t_pad * D;
    c->kv_layer_floats = 2 * G * c->kv_head_floats;
    c->kv_seq_floats = L * c->kv_layer_floats;
    const size_t chunk = B < ATT_CHUNK ? B : ATT_CHUNK;
    const size_t wide = C > HD ? C : HD;
    /* The KV cache is touched only as sequences grow, so its untouched pages cost nothing. */
    c->kv = malloc((size_t)n_seq * c->kv_seq_floats * sizeof(float));
    c->x = malloc(B * C * sizeof(float));
    c->h = malloc(B * wide * sizeof(float));
    c->qkv = malloc(B * QKV * sizeof(float));
    c->att = malloc(B * HD * sizeof(float));
    c->att_in = bm->blocks[0].lin[TG_ROLE_ATTN_OUT]->src == TG_ACT_F32 ? (void *)c->att
                                                                       : malloc(B * HD * 2);
    c->ff = malloc(B * F * sizeof(float));
    c->q = malloc(H * chunk * D * sizeof(float));
    c->o = malloc(H * chunk * D * sizeof(float));
    c->scores = malloc(H * chunk * (size_t)n_ctx * sizeof(float));
    c->rope_cos = malloc((D / 2 + 1) * sizeof(float));
    c->rope_sin = malloc((D / 2 + 1) * sizeof(float));
    if (!c->kv || !c->x || !c->h || !c->qkv || !c->att || !c->att_in || !c->ff || !c->q || !c->o ||
        !c->scores || !c->rope_cos || !c->rope_sin) {
        tg__backend_ctx_free(c);
        return tg__error(TG_ENOMEM, "out of memory creating a session (n_seq %d, n_ctx %d)",
                         (int)n_seq, (int)n_ctx);
    }
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK) {
        tg__backend_ctx_free(c);
        return st;
    }
    /* oneDNN fixes a primitive's thread count when it is created: create with the session's. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(n_threads);
    dnnl_status_t s = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    st = s == dnnl_success ? att_create(c) : tg__dnnl_check(s, "stream creation");
    omp_set_num_threads(saved_threads);
    if (st != TG_OK) {
        tg__backend_ctx_free(c);
        return st;
    }
    *out = c;
    return TG_OK;
}

static float *kv_at(tg_backend_ctx *c, int32_t seq, int32_t layer, int which, int64_t head)
{
    return c->kv + (size_t)seq * c->kv_seq_floats + (size_t)layer * c->kv_layer_floats +
           ((size_t)which * (size_t)c->hp->n_kv_head + (size_t)head) * c->kv_head_floats;
}

void tg__backend_seq_copy(tg_backend_ctx *c, int32_t dst, int32_t src, int32_t len)
{
    if (dst == src || len <= 0)
        return;
    const int64_t G = c->hp->n_kv_head, D = c->hp->head_dim;
    for (int32_t l = 0; l < c->hp->n_layer; l++)
        for (int which = 0; which < 2; which++)
            for (int64_t g = 0; g < G; g++)
                memcpy(kv_at(c, dst, l, which, g), kv_at(c, src, l, which, g),
                       (size_t)len * (size_t)D * sizeof(float));
}

void tg__backend_seq_truncate(tg_backend_ctx *c, int32_t seq, int32_t n_keep)
{
    (void)c;
    (void)seq;
    (void)n_keep;
}

void tg__backend_kv_stats(const tg_backend_ctx *c, tg_kv_stats *out)
{
    memset(out, 0, sizeof *out);
    out->block_positions = (uint32_t)c->n_ctx;
    out->block_bytes = c->kv_seq_floats * sizeof(float);
    out->blocks_in_use = (uint64_t)c->n_seq;
    out->blocks_allocated = (uint64_t)c->n_seq;
}

/* Softmax over the visible prefix of each score row; positions after it get probability 0. */
static void masked_softmax(float *s, int64_t H, int64_t m, int64_t T, int64_t p0)
{
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < m; i++) {
            float *row = s + (h * m + i) * T;
            const int64_t n = p0 + i + 1;
            float mx = row[0];
            for (int64_t j = 1; j < n; j++)
                mx = row[j] > mx ? row[j] : mx;
            float sum = 0.0f;
            for (int64_t j = 0; j < n; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < n; j++)
                row[j] *= inv;
            for (int64_t j = n; j < T; j++)
                row[j] = 0.0f;
        }
}

/* Attention of layer `l` for rows [i0, i1) of one sequence at consecutive positions. The q heads
 * of KV head g are heads g*R .. g*R+R-1 (R = n_head / n_kv_head): laid out [head][row][D], they
 * form the [R*m, D] rows of batch g of the matmuls. */
static tg_status attend(tg_backend_ctx *c, int32_t l, const tg_batch_row *rows, size_t i0,
                        size_t i1)
{
    const tg_net_hparams *hp = c->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, R = H / G, D = hp->head_dim,
                  m = (int64_t)(i1 - i0), QKV = (H + 2 * G) * D;
    const int32_t seq = rows[i0].seq;
    const int64_t p0 = rows[i0].pos, T = p0 + m;
    const float scale = 1.0f / sqrtf((float)D);
    for (size_t r = i0; r < i1; r++) {
        const float *src = c->qkv + r * (size_t)QKV;
        const int64_t i = (int64_t)(r - i0), pos = rows[r].pos;
        for (int64_t g = 0; g < G; g++) {
            memcpy(kv_at(c, seq, l, 0, g) + pos * D, src + (H + g) * D, (size_t)D * sizeof(float));
            memcpy(kv_at(c, seq, l, 1, g) + pos * D, src + (H + G + g) * D,
                   (size_t)D * sizeof(float));
        }
        for (int64_t h = 0; h < H; h++) {
            float *q = c->q + (h * m + i) * D;
            for (int64_t d = 0; d < D; d++)
                q[d] = src[h * D + d] * scale;
        }
    }
    const int64_t tp = c->t_pad;
    tg_status st;
    {
        dnnl_dims_t ad = {G, R * m, D}, as = {R * m * D, D, 1};
        dnnl_dims_t bd = {G, D, T}, bs = {tp * D, 1, D};
        dnnl_dims_t od = {G, R * m, T};
        if ((st = run_3d(c->qk, c, ad, as, c->q, bd, bs, kv_at(c, seq, l, 0, 0), od, c->scores,
                         "attention q.k")) != TG_OK)
            return st;
    }
    masked_softmax(c->scores, H, m, T, p0);
    {
        dnnl_dims_t ad = {G, R * m, T}, as = {R * m * T, T, 1};
        dnnl_dims_t bd = {G, T, D}, bs = {tp * D, D, 1};
        dnnl_dims_t od = {G, R * m, D};
        if ((st = run_3d(c->pv, c, ad, as, c->scores, bd, bs, kv_at(c, seq, l, 1, 0), od, c->o,
                         "attention p.v")) != TG_OK)
            return st;
    }
    for (size_t r = i0; r < i1; r++) {
        const int64_t i = (int64_t)(r - i0);
        for (int64_t h = 0; h < H; h++)
            memcpy(c->att + r * (size_t)(H * D) + h * D, c->o + (h * m + i) * D,
                   (size_t)D * sizeof(float));
    }
    return TG_OK;
}

/* Rotary embeddings on the q and k heads of every row. */
static void rope_rows(tg_backend_ctx *c, const tg_batch_row *rows, size_t M)
{
    const tg_net_hparams *hp = c->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, QKV = (H + 2 * G) * D;
    for (size_t r = 0; r < M; r++) {
        tg__rope_angles(c->rope_cos, c->rope_sin, c->bm->inv_freq, hp->head_dim / 2, rows[r].pos);
        /* q heads then k heads: contiguous at the start of the row */
        tg__rope_apply(c->qkv + r * (size_t)QKV, H + G, D, c->rope_cos, c->rope_sin);
    }
}

static void to_act(void *dst, const float *src, size_t n, tg_act_type t)
{
    if (t == TG_ACT_BF16)
        tg__f32_to_bf16(dst, src, n);
    else if (dst != src)
        memcpy(dst, src, n * sizeof(float));
}

static tg_status block(tg_backend_ctx *c, int32_t l, const tg_batch_row *rows, size_t M)
{
    const tg_block *b = &c->bm->blocks[l];
    const tg_linear *const *lin = (const tg_linear *const *)b->lin;
    const size_t HD = (size_t)c->hp->n_head * (size_t)c->hp->head_dim;
    tg_status st;
    tg__norm_rows(&b->attn_norm, c->x, M, c->h, lin[TG_ROLE_QKV]->src);
    if ((st = linear(c, TG_ROLE_QKV, lin[TG_ROLE_QKV], M, c->h, c->qkv)) != TG_OK)
        return st;
    if (c->hp->pos == TG_POS_ROPE_HALF)
        rope_rows(c, rows, M);
    for (size_t i0 = 0; i0 < M;) {
        size_t i1 = i0 + 1;
        while (i1 < M && i1 - i0 < ATT_CHUNK && rows[i1].seq == rows[i0].seq &&
               rows[i1].pos == rows[i1 - 1].pos + 1)
            i1++;
        if ((st = attend(c, l, rows, i0, i1)) != TG_OK)
            return st;
        i0 = i1;
    }
    to_act(c->att_in, c->att, M * HD, lin[TG_ROLE_ATTN_OUT]->src);
    if ((st = linear(c, TG_ROLE_ATTN_OUT, lin[TG_ROLE_ATTN_OUT], M, c->att_in, c->x)) != TG_OK)
        return st;
    tg__norm_rows(&b->ffn_norm, c->x, M, c->h, lin[TG_ROLE_FFN_UP]->src);
    if ((st = linear(c, TG_ROLE_FFN_UP, lin[TG_ROLE_FFN_UP], M, c->h, c->ff)) != TG_OK ||
        (st = linear(c, TG_ROLE_FFN_DOWN, lin[TG_ROLE_FFN_DOWN], M, c->ff, c->x)) != TG_OK)
        return st;
    return TG_OK;
}

static tg_status forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M, float *logits_out)
{
    const tg_backend_model *bm = c->bm;
    const size_t C = (size_t)c->hp->n_embd;
    for (size_t i = 0; i < M; i++) {
        float *x = c->x + i * C;
        tg__backend_embed(bm, rows[i].token, x);
        if (bm->pos_rows) {
            const float *p = bm->pos_rows + (size_t)rows[i].pos * C;
            for (size_t k = 0; k < C; k++)
                x[k] += p[k];
        }
    }
    tg_status st;
    for (int32_t l = 0; l < c->hp->n_layer; l++)
        if ((st = block(c, l, rows, M)) != TG_OK)
            return tg__error_prefix("layer %d", (int)l);
    size_t n_out = 0;
    for (size_t i = 0; i < M; i++)
        if (rows[i].logits) /* gather the rows that want logits (in place: n_out <= i) */
            memmove(c->x + (n_out++) * C, c->x + i * C, C * sizeof(float));
    if (n_out) {
        tg__norm_rows(&bm->out_norm, c->x, n_out, c->h, bm->output->src);
        if ((st = linear(c, TG_N_BLOCK_ROLES, bm->output, n_out, c->h, logits_out)) != TG_OK)
            return st;
    }
    TG_DNNL(dnnl_stream_wait(c->stream), "stream wait");
    return TG_OK;
}

tg_status tg__backend_forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M,
                              float *logits_out)
{
    /* The session's thread count for this call only: the caller's OpenMP setting is restored. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(c->n_threads);
    tg_status st = forward(c, rows, M, logits_out);
    omp_set_num_threads(saved_threads);
    return st;
}
