/* backend/forward.c — the GPT-2 forward pass on oneDNN for a batch of (sequence, token,
 * position) rows, with a per-sequence KV cache.
 *
 * Per layer: LayerNorm -> qkv matmul (+bias) -> K,V appended to the cache -> attention per
 * sequence run (q.K^T and p.V as batched matmuls over heads with runtime sizes, reading K and V in
 * place from the cache; masked softmax in C) -> projection matmul that accumulates into the
 * residual stream (sum post-op) -> LayerNorm -> fc matmul with fused GELU -> projection matmul
 * accumulating into the residual. Only rows that asked for logits go through ln_f and the output
 * layer. Fixed-shape primitives are created once per row count M and cached in the context. */
#include "backend_internal.h"
#include "core/error.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ATT_CHUNK 64 /* most query rows per attention matmul: bounds the scores buffer */
#define PRIM_CACHE 6 /* row counts whose primitives are kept */

typedef struct shape_prims {
    int64_t M; /* 0 = empty slot */
    uint64_t last_use;
    int ready_block;
    tg_prim ln, qkv, aproj, fc, mproj; /* per-layer work, M rows */
    tg_prim lm;                        /* output layer, M rows */
} shape_prims;

struct tg_backend_ctx {
    const struct tg_model *model;
    const tg_backend_model *bm;
    dnnl_stream_t stream;
    int32_t n_seq, n_ctx, n_batch, n_threads;
    int64_t t_pad; /* cache rows per head (n_ctx rounded to avoid power-of-two strides) */
    float *kv;     /* [seq][layer][2][head][t_pad][head_dim] */
    size_t kv_seq_floats, kv_layer_floats, kv_head_floats;
    /* attention primitives with runtime sizes, created once */
    dnnl_primitive_t qk, pv;
    size_t qk_scratch, pv_scratch;
    shape_prims prims[PRIM_CACHE];
    uint64_t use_clock;
    /* scratch buffers sized for n_batch rows */
    float *x, *h, *qkv, *att, *ff, *q, *scores, *o;
    uint16_t *h16, *ff16, *att16; /* bf16 matmul inputs (bf16 weights only) */
    void *scratch;
    size_t scratch_size;
};

static const dnnl_data_type_t F32 = dnnl_f32;

/* ---- bf16 conversion (round to nearest even) ---- */
static void to_bf16(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &src[i], 4);
        if ((b & 0x7fffffffu) > 0x7f800000u)
            dst[i] = (uint16_t)((b >> 16) | 0x40); /* quiet NaN */
        else
            dst[i] = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
    }
}

/* ---- attention primitives (runtime M and T; K and V read in place from the cache) ---- */
static tg_status att_create(tg_backend_ctx *c)
{
    const tg_hparams *hp = &c->model->hp;
    const int64_t H = hp->n_head, D = hp->n_embd / hp->n_head, R = DNNL_RUNTIME_DIM_VAL;
    dnnl_memory_desc_t q, k, s, v, o;
    dnnl_dims_t qd = {H, R, D}, kd = {H, D, R}, sd = {H, R, R}, vd = {H, R, D};
    dnnl_dims_t ks = {c->t_pad * D, 1, D}, vs = {c->t_pad * D, D, 1};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&q, 3, qd, F32, dnnl_abc), "attention q");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&k, 3, kd, F32, ks), "attention k");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&s, 3, sd, F32, dnnl_abc), "attention scores");
    TG_DNNL(dnnl_memory_desc_init_by_strides(&v, 3, vd, F32, vs), "attention v");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&o, 3, qd, F32, dnnl_abc), "attention out");
    dnnl_matmul_desc_t d1, d2;
    TG_DNNL(dnnl_matmul_desc_init(&d1, &q, &k, NULL, &s), "attention q.k");
    TG_DNNL(dnnl_matmul_desc_init(&d2, &s, &v, NULL, &o), "attention p.v");
    dnnl_primitive_desc_t pd;
    const char *impl = "?";
    TG_DNNL(dnnl_primitive_desc_create(&pd, &d1, NULL, c->bm->engine, NULL), "attention q.k");
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    tg__log(strncmp(impl, "ref", 3) ? TG_LOG_DEBUG : TG_LOG_WARN, "primitive attention q.k: %s",
            impl);
    dnnl_status_t st = dnnl_primitive_create(&c->qk, pd);
    dnnl_primitive_desc_destroy(pd);
    TG_DNNL(st, "attention q.k");
    TG_DNNL(dnnl_primitive_desc_create(&pd, &d2, NULL, c->bm->engine, NULL), "attention p.v");
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    tg__log(strncmp(impl, "ref", 3) ? TG_LOG_DEBUG : TG_LOG_WARN, "primitive attention p.v: %s",
            impl);
    st = dnnl_primitive_create(&c->pv, pd);
    dnnl_primitive_desc_destroy(pd);
    TG_DNNL(st, "attention p.v");
    return TG_OK;
}

static tg_status run_3d(dnnl_primitive_t prim, tg_backend_ctx *c, const dnnl_dims_t ad,
                        const dnnl_dims_t as, void *a, const dnnl_dims_t bd, const dnnl_dims_t bs,
                        void *b, const dnnl_dims_t od, void *o, const char *what)
{
    dnnl_memory_desc_t amd, bmd, omd;
    dnnl_memory_t am = NULL, bmem = NULL, om = NULL;
    TG_DNNL(dnnl_memory_desc_init_by_strides(&amd, 3, ad, F32, as), what);
    TG_DNNL(dnnl_memory_desc_init_by_strides(&bmd, 3, bd, F32, bs), what);
    TG_DNNL(dnnl_memory_desc_init_by_tag(&omd, 3, od, F32, dnnl_abc), what);
    dnnl_status_t s = dnnl_memory_create(&am, &amd, c->bm->engine, a);
    if (s == dnnl_success)
        s = dnnl_memory_create(&bmem, &bmd, c->bm->engine, b);
    if (s == dnnl_success)
        s = dnnl_memory_create(&om, &omd, c->bm->engine, o);
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

/* ---- per-M primitive cache ---- */
static void shape_free(shape_prims *p)
{
    tg__prim_destroy(&p->ln);
    tg__prim_destroy(&p->qkv);
    tg__prim_destroy(&p->aproj);
    tg__prim_destroy(&p->fc);
    tg__prim_destroy(&p->mproj);
    tg__prim_destroy(&p->lm);
    memset(p, 0, sizeof *p);
}

static tg_status grow_scratch(tg_backend_ctx *c, const tg_prim *p)
{
    if (p->scratch_size <= c->scratch_size)
        return TG_OK;
    void *n = realloc(c->scratch, p->scratch_size);
    if (!n)
        return tg__error(TG_ENOMEM, "out of memory for oneDNN scratch (%zu bytes)",
                         p->scratch_size);
    c->scratch = n;
    c->scratch_size = p->scratch_size;
    return TG_OK;
}

static tg_status shape_get(shape_prims **out, tg_backend_ctx *c, int64_t M, int for_output)
{
    shape_prims *slot = NULL, *lru = &c->prims[0];
    for (int i = 0; i < PRIM_CACHE; i++) {
        if (c->prims[i].M == M) {
            slot = &c->prims[i];
            break;
        }
        if (c->prims[i].last_use < lru->last_use)
            lru = &c->prims[i];
    }
    if (!slot) {
        slot = lru;
        shape_free(slot);
        slot->M = M;
    }
    slot->last_use = ++c->use_clock;
    const tg_backend_model *bm = c->bm;
    const tg_hparams *hp = &c->model->hp;
    const int64_t C = hp->n_embd, I = hp->n_inner, V = hp->n_vocab;
    const dnnl_data_type_t in = bm->wdt; /* matmul src type follows the weights */
    const int bias = bm->layers[0].qkv.bias != NULL;
    const int has_shift = bm->lnf.shift != NULL;
    tg_status st = TG_OK;
    if (!slot->ln.prim && (st = tg__layernorm_create(&slot->ln, bm->engine, M, C, hp->ln_eps,
                                                     has_shift, "layer_norm")) != TG_OK)
        goto fail;
    if (!for_output && !slot->ready_block) {
        const tg_epilogue gelu = hp->act == TG_ACT_GELU_ERF ? TG_EPI_GELU_ERF : TG_EPI_GELU_TANH;
        if ((st = tg__matmul_create(&slot->qkv, bm->engine, M, C, 3 * C, in, &bm->md_qkv, bias, F32,
                                    TG_EPI_NONE, "attn.c_attn")) ||
            (st = tg__matmul_create(&slot->aproj, bm->engine, M, C, C, in, &bm->md_aproj, bias, F32,
                                    TG_EPI_SUM, "attn.c_proj")) ||
            (st = tg__matmul_create(&slot->fc, bm->engine, M, C, I, in, &bm->md_fc, bias, in, gelu,
                                    "mlp.c_fc")) ||
            (st = tg__matmul_create(&slot->mproj, bm->engine, M, I, C, in, &bm->md_mproj, bias, F32,
                                    TG_EPI_SUM, "mlp.c_proj")))
            goto fail;
        slot->ready_block = 1;
    }
    if (for_output && !slot->lm.prim &&
        (st = tg__matmul_create(&slot->lm, bm->engine, M, C, V, in, &bm->md_lm, 0, F32, TG_EPI_NONE,
                                "lm_head")) != TG_OK)
        goto fail;
    const tg_prim *all[] = {&slot->ln, &slot->qkv,   &slot->aproj,
                            &slot->fc, &slot->mproj, &slot->lm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if ((st = grow_scratch(c, all[i])) != TG_OK)
            goto fail;
    *out = slot;
    return TG_OK;
fail:
    shape_free(slot);
    return st;
}

/* ---- context ---- */
void tg__backend_ctx_free(tg_backend_ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < PRIM_CACHE; i++)
        shape_free(&c->prims[i]);
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
    free(c->ff);
    free(c->q);
    free(c->scores);
    free(c->o);
    free(c->h16);
    free(c->ff16);
    free(c->att16);
    free(c->scratch);
    free(c);
}

static int is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

tg_status tg__backend_ctx_create(tg_backend_ctx **out, const struct tg_model *m, int32_t n_seq,
                                 int32_t n_ctx, int32_t n_batch, int32_t n_threads)
{
    *out = NULL;
    const tg_hparams *hp = &m->hp;
    const size_t C = (size_t)hp->n_embd, I = (size_t)hp->n_inner, H = (size_t)hp->n_head, D = C / H,
                 L = (size_t)hp->n_layer, B = (size_t)n_batch;
    tg_backend_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    c->model = m;
    c->bm = m->backend;
    c->n_seq = n_seq;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->n_threads = n_threads;
    /* Power-of-two strides between heads alias in the cache; pad them away. */
    c->t_pad = n_ctx;
    while (is_pow2((uint64_t)c->t_pad * D * sizeof(float)) || (c->t_pad * D * 4) % 4096 == 0)
        c->t_pad++;
    c->kv_head_floats = (size_t)c->t_pad * D;
    c->kv_layer_floats = 2 * H * c->kv_head_floats;
    c->kv_seq_floats = L * c->kv_layer_floats;
    const size_t chunk = B < ATT_CHUNK ? B : ATT_CHUNK;
    /* The KV cache is touched only as sequences grow, so its untouched pages cost nothing. */
    c->kv = malloc((size_t)n_seq * c->kv_seq_floats * sizeof(float));
    c->x = malloc(B * C * sizeof(float));
    c->h = malloc(B * C * sizeof(float));
    c->qkv = malloc(B * 3 * C * sizeof(float));
    c->att = malloc(B * C * sizeof(float));
    c->ff = malloc(B * I * sizeof(float));
    c->q = malloc(H * chunk * D * sizeof(float));
    c->o = malloc(H * chunk * D * sizeof(float));
    c->scores = malloc(H * chunk * (size_t)n_ctx * sizeof(float));
    int bf16 = c->bm->wdt == dnnl_bf16;
    if (bf16) {
        c->h16 = malloc(B * C * 2);
        c->ff16 = malloc(B * I * 2);
        c->att16 = malloc(B * C * 2);
    }
    if (!c->kv || !c->x || !c->h || !c->qkv || !c->att || !c->ff || !c->q || !c->o || !c->scores ||
        (bf16 && (!c->h16 || !c->ff16 || !c->att16))) {
        tg__backend_ctx_free(c);
        return tg__error(TG_ENOMEM, "out of memory creating a session (n_seq %d, n_ctx %d)",
                         (int)n_seq, (int)n_ctx);
    }
    /* oneDNN fixes a primitive's thread count when it is created: create with the session's. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(n_threads);
    dnnl_status_t s = dnnl_stream_create(&c->stream, c->bm->engine, dnnl_stream_default_flags);
    tg_status st = s == dnnl_success ? att_create(c) : tg__dnnl_check(s, "stream creation");
    omp_set_num_threads(saved_threads);
    if (st != TG_OK) {
        tg__backend_ctx_free(c);
        return st;
    }
    *out = c;
    return TG_OK;
}

uint64_t tg__backend_kv_bytes(const tg_backend_ctx *c)
{
    return (uint64_t)c->n_seq * c->kv_seq_floats * sizeof(float);
}

static float *kv_at(tg_backend_ctx *c, int32_t seq, int32_t layer, int which, int64_t head)
{
    return c->kv + (size_t)seq * c->kv_seq_floats + (size_t)layer * c->kv_layer_floats +
           ((size_t)which * (size_t)c->model->hp.n_head + (size_t)head) * c->kv_head_floats;
}

void tg__backend_kv_copy(tg_backend_ctx *c, int32_t dst, int32_t src, int32_t len)
{
    if (dst == src || len <= 0)
        return;
    const int64_t H = c->model->hp.n_head, D = c->model->hp.n_embd / H;
    for (int32_t l = 0; l < c->model->hp.n_layer; l++)
        for (int which = 0; which < 2; which++)
            for (int64_t h = 0; h < H; h++)
                memcpy(kv_at(c, dst, l, which, h), kv_at(c, src, l, which, h),
                       (size_t)len * (size_t)D * sizeof(float));
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

/* Attention of layer `l` for rows [i0, i1) of one sequence at consecutive positions. */
static tg_status attend(tg_backend_ctx *c, int32_t l, const tg_batch_row *rows, size_t i0,
                        size_t i1)
{
    const tg_hparams *hp = &c->model->hp;
    const int64_t C = hp->n_embd, H = hp->n_head, D = C / H, m = (int64_t)(i1 - i0);
    const int32_t seq = rows[i0].seq;
    const int64_t p0 = rows[i0].pos, T = p0 + m;
    const float scale = 1.0f / sqrtf((float)D);
    for (size_t r = i0; r < i1; r++) {
        const float *src = c->qkv + r * 3 * (size_t)C;
        const int64_t i = (int64_t)(r - i0), pos = rows[r].pos;
        for (int64_t h = 0; h < H; h++) {
            memcpy(kv_at(c, seq, l, 0, h) + pos * D, src + C + h * D, (size_t)D * sizeof(float));
            memcpy(kv_at(c, seq, l, 1, h) + pos * D, src + 2 * C + h * D,
                   (size_t)D * sizeof(float));
            float *q = c->q + (h * m + i) * D;
            for (int64_t d = 0; d < D; d++)
                q[d] = src[h * D + d] * scale;
        }
    }
    const int64_t tp = c->t_pad;
    tg_status st;
    {
        dnnl_dims_t ad = {H, m, D}, as = {m * D, D, 1};
        dnnl_dims_t bd = {H, D, T}, bs = {tp * D, 1, D};
        dnnl_dims_t od = {H, m, T};
        if ((st = run_3d(c->qk, c, ad, as, c->q, bd, bs, kv_at(c, seq, l, 0, 0), od, c->scores,
                         "attention q.k")) != TG_OK)
            return st;
    }
    masked_softmax(c->scores, H, m, T, p0);
    {
        dnnl_dims_t ad = {H, m, T}, as = {m * T, T, 1};
        dnnl_dims_t bd = {H, T, D}, bs = {tp * D, D, 1};
        dnnl_dims_t od = {H, m, D};
        if ((st = run_3d(c->pv, c, ad, as, c->scores, bd, bs, kv_at(c, seq, l, 1, 0), od, c->o,
                         "attention p.v")) != TG_OK)
            return st;
    }
    for (size_t r = i0; r < i1; r++) {
        const int64_t i = (int64_t)(r - i0);
        for (int64_t h = 0; h < H; h++)
            memcpy(c->att + r * (size_t)C + h * D, c->o + (h * m + i) * D,
                   (size_t)D * sizeof(float));
    }
    return TG_OK;
}

static tg_status layer_norm(tg_backend_ctx *c, tg_prim *ln, const tg_bnorm *n, float *src,
                            float *dst)
{
    dnnl_exec_arg_t extra[2] = {{DNNL_ARG_SCALE, n->scale_mem}, {DNNL_ARG_SHIFT, n->shift_mem}};
    return tg__prim_exec(ln, c->stream, src, dst, c->scratch, extra, n->shift_mem ? 2 : 1,
                         "layer_norm");
}

static tg_status matmul(tg_backend_ctx *c, tg_prim *p, const tg_bmat *w, void *src, void *dst,
                        const char *what)
{
    dnnl_exec_arg_t extra[2] = {{DNNL_ARG_WEIGHTS, w->w}, {DNNL_ARG_BIAS, w->bias_mem}};
    return tg__prim_exec(p, c->stream, src, dst, c->scratch, extra, w->bias_mem ? 2 : 1, what);
}

static tg_status block(tg_backend_ctx *c, shape_prims *sp, int32_t l, const tg_batch_row *rows,
                       size_t M)
{
    const tg_blayer *L = &c->bm->layers[l];
    const size_t C = (size_t)c->model->hp.n_embd, I = (size_t)c->model->hp.n_inner;
    const int bf16 = c->bm->wdt == dnnl_bf16;
    tg_status st;
    if ((st = layer_norm(c, &sp->ln, &L->ln1, c->x, c->h)) != TG_OK)
        return st;
    if (bf16)
        to_bf16(c->h16, c->h, M * C);
    if ((st = matmul(c, &sp->qkv, &L->qkv, bf16 ? (void *)c->h16 : c->h, c->qkv, "attn.c_attn")) !=
        TG_OK)
        return st;
    for (size_t i0 = 0; i0 < M;) {
        size_t i1 = i0 + 1;
        while (i1 < M && i1 - i0 < ATT_CHUNK && rows[i1].seq == rows[i0].seq &&
               rows[i1].pos == rows[i1 - 1].pos + 1)
            i1++;
        if ((st = attend(c, l, rows, i0, i1)) != TG_OK)
            return st;
        i0 = i1;
    }
    if (bf16)
        to_bf16(c->att16, c->att, M * C);
    if ((st = matmul(c, &sp->aproj, &L->aproj, bf16 ? (void *)c->att16 : c->att, c->x,
                     "attn.c_proj")) != TG_OK ||
        (st = layer_norm(c, &sp->ln, &L->ln2, c->x, c->h)) != TG_OK)
        return st;
    if (bf16)
        to_bf16(c->h16, c->h, M * C);
    void *ff = bf16 ? (void *)c->ff16 : c->ff;
    (void)I;
    if ((st = matmul(c, &sp->fc, &L->fc, bf16 ? (void *)c->h16 : c->h, ff, "mlp.c_fc")) != TG_OK ||
        (st = matmul(c, &sp->mproj, &L->mproj, ff, c->x, "mlp.c_proj")) != TG_OK)
        return st;
    return TG_OK;
}

static tg_status forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M, float *logits_out);

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

static tg_status forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M, float *logits_out)
{
    const struct tg_model *m = c->model;
    const size_t C = (size_t)m->hp.n_embd;
    /* Embeddings: token row + position row, read from the mapped file. */
    for (size_t i = 0; i < M; i++) {
        float *x = c->x + i * C, *tmp = c->h + i * C;
        tg__tensor_to_f32(x, m->src.wte, (size_t)rows[i].token * C, C);
        tg__tensor_to_f32(tmp, m->src.wpe, (size_t)rows[i].pos * C, C);
        for (size_t k = 0; k < C; k++)
            x[k] += tmp[k];
    }
    shape_prims *sp;
    tg_status st = shape_get(&sp, c, (int64_t)M, 0);
    if (st != TG_OK)
        return st;
    for (int32_t l = 0; l < m->hp.n_layer; l++)
        if ((st = block(c, sp, l, rows, M)) != TG_OK)
            return tg__error_prefix("layer %d", (int)l);
    size_t n_out = 0;
    for (size_t i = 0; i < M; i++)
        if (rows[i].logits)
            memcpy(c->h + (n_out++) * C, c->x + i * C, C * sizeof(float));
    if (n_out) {
        if ((st = shape_get(&sp, c, (int64_t)n_out, 1)) != TG_OK ||
            (st = layer_norm(c, &sp->ln, &c->bm->lnf, c->h, c->h)) != TG_OK)
            return st;
        void *src = c->h;
        if (c->bm->wdt == dnnl_bf16) {
            to_bf16(c->h16, c->h, n_out * C);
            src = c->h16;
        }
        if ((st = matmul(c, &sp->lm, &c->bm->lm, src, logits_out, "lm_head")) != TG_OK)
            return st;
    }
    TG_DNNL(dnnl_stream_wait(c->stream), "stream wait");
    return TG_OK;
}
