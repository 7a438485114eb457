/* backend/forward.c — the forward pass of a pre-norm decoder for a batch of (sequence, token,
 * position) rows, over the session's paged KV cache.
 *
 * Per block: norm -> qkv linear -> rotary embeddings (RoPE models) -> attention (backend/
 * attention.c: K and V cached, then decode rows read the cache blocks in place and prefill runs
 * use oneDNN) -> output projection accumulating into the residual stream -> norm -> MLP (GELU,
 * or SiLU-gated) -> down projection accumulating into the residual. Only rows that asked for
 * logits go through the final norm and the output layer. Linear plans are made per row count M,
 * lazily, and kept for the last few row counts. */
#include "core/alloc.h"
#include "attention.h"
#include "backend_internal.h"
#include "core/error.h"
#include "decode_prof.h"
#include "kernels/tpool.h"
#include "rope.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_CACHE 6 /* row counts whose plans are kept */
/* How long an idle pool thread polls for the next product before sleeping: decode issues the
 * next one within microseconds (docs/performance.md, "Threads"). */
#define TG_POOL_SPIN_US 100

typedef struct row_plans {
    int64_t M; /* 0 = empty slot */
    uint64_t last_use;
    tg_linear_plan *blk[TG_N_BLOCK_ROLES];
    tg_linear_plan *out;
} row_plans;

struct tg_backend_ctx {
    const tg_backend_model *bm;
    const tg_net_hparams *hp;
    int32_t n_seq, n_ctx, n_batch, n_threads;
    tg_tpool *pool; /* n_threads threads, the caller's included: products and attention */
    tg_kv_cache *kv;
    tg_attn *attn;
    row_plans plans[PLAN_CACHE];
    uint64_t clock;
    /* scratch for n_batch rows */
    float *x;                   /* residual stream [B][C] */
    void *h;                    /* norm output, in the next linear's input type [B][C] */
    float *qkv;                 /* [B][(H + 2 Hkv) D] */
    float *att;                 /* attention output [B][H D], in h's memory */
    void *att_in;               /* att in the output projection's input type (== att for f32) */
    void *ff;                   /* MLP hidden [B][F] (down proj. input type), in qkv's memory */
    float *rope_cos, *rope_sin; /* [B][head_dim / 2] of each row's position, once per forward */
    int32_t *res_p0, *res_n;    /* [n_seq] first position and rows of each sequence in a batch */
    int32_t *res_seqs;          /* [n_batch] the sequences of a batch */
    void *scratch;
    size_t scratch_size;
    tg_dprof *prof; /* $TEXTGEN_DECODE_PROFILE: per-stage times of decoded tokens, or NULL */
};

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
    void *n = tg__realloc(c->scratch, p->scratch_size);
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
        return (tg_linear_cfg){M, TG_EPI_NONE, 1, TG_ACT_F32, c->pool};
    case TG_ROLE_FFN_UP: {
        const int32_t f = c->hp->ffn;
        const tg_epilogue e = f == TG_FFN_GELU_TANH  ? TG_EPI_GELU_TANH
                              : f == TG_FFN_GELU_ERF ? TG_EPI_GELU_ERF
                                                     : TG_EPI_SILU_GATE;
        return (tg_linear_cfg){M, e, 0, b0->lin[TG_ROLE_FFN_DOWN]->src, c->pool};
    }
    default: /* qkv, output */
        return (tg_linear_cfg){M, TG_EPI_NONE, 0, TG_ACT_F32, c->pool};
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
    if (c->prof) {
        int64_t par, solo, stalls, busy;
        double delay_us;
        tg__tpool_stats(c->pool, &par, &solo);
        tg__tpool_signals(c->pool, &stalls, &busy, &delay_us);
        tg__dprof_set_pool(c->prof, par, solo, stalls, busy);
    }
    tg__dprof_free(c->prof);
    tg__attn_free(c->attn);
    tg__kvc_free(c->kv);
    tg__tpool_free(c->pool);
    free(c->x);
    free(c->h);   /* c->att too */
    free(c->qkv); /* c->ff too */
    if (c->att_in != c->att)
        free(c->att_in);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->res_p0);
    free(c->res_n);
    free(c->res_seqs);
    free(c->scratch);
    free(c);
}

tg_status tg__backend_ctx_create(tg_backend_ctx **out, const tg_backend_model *bm, int32_t n_seq,
                                 int32_t n_ctx, int32_t n_batch, int32_t n_threads, int32_t kv_bf16)
{
    *out = NULL;
    const tg_net_hparams *hp = &bm->hp;
    const size_t C = (size_t)hp->n_embd, F = (size_t)hp->n_ff, H = (size_t)hp->n_head,
                 G = (size_t)hp->n_kv_head, D = (size_t)hp->head_dim, B = (size_t)n_batch,
                 HD = H * D, QKV = (H + 2 * G) * D;
    tg_backend_ctx *c = tg__calloc(1, sizeof *c);
    if (!c)
        return tg__error(TG_ENOMEM, "out of memory creating a session");
    c->bm = bm;
    c->hp = hp;
    c->n_seq = n_seq;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->n_threads = n_threads;
    c->x = tg__malloc(B * C * sizeof(float));
    /* Buffers whose lives do not overlap within a block share memory (a 128-row GPT-2 prompt
     * touches 1.6 MB less): qkv dies when attention has run, before the up-projection writes ff;
     * att is written after the qkv projection has read h, and read before the ffn norm writes h. */
    c->h = tg__malloc(B * (C > HD ? C : HD) * sizeof(float));
    c->att = c->h;
    c->qkv = tg__malloc(B * (QKV > F ? QKV : F) * sizeof(float));
    c->ff = c->qkv;
    c->att_in = bm->blocks[0].lin[TG_ROLE_ATTN_OUT]->src == TG_ACT_F32 ? (void *)c->att
                                                                       : tg__malloc(B * HD * 2);
    c->rope_cos = tg__malloc(B * (D / 2 + 1) * sizeof(float));
    c->rope_sin = tg__malloc(B * (D / 2 + 1) * sizeof(float));
    c->res_p0 = tg__calloc((size_t)n_seq, sizeof *c->res_p0);
    c->res_n = tg__calloc((size_t)n_seq, sizeof *c->res_n);
    c->res_seqs = tg__malloc(B * sizeof *c->res_seqs);
    if (!c->x || !c->h || !c->qkv || !c->att || !c->att_in || !c->ff || !c->rope_cos ||
        !c->rope_sin || !c->res_p0 || !c->res_n || !c->res_seqs) {
        tg__backend_ctx_free(c);
        return tg__error(TG_ENOMEM, "out of memory creating a session (n_batch %d)", (int)n_batch);
    }
    tg_status st = tg__tpool_create(&c->pool, n_threads, TG_POOL_SPIN_US);
    if (st == TG_OK)
        st =
            tg__kvc_create(&c->kv, n_seq, n_ctx, hp->n_layer, hp->n_kv_head, hp->head_dim, kv_bf16);
    if (st == TG_OK) {
        st = tg__attn_create(&c->attn, hp, c->kv, n_ctx, n_batch, c->pool);
    }
    if (st != TG_OK) {
        tg__backend_ctx_free(c);
        return st;
    }
    if ((c->prof = tg__dprof_create())) {
        const tg_linear *const *lin = (const tg_linear *const *)bm->blocks[0].lin;
        tg__dprof_set_bytes(c->prof, TG_DP_QKV, lin[TG_ROLE_QKV]->bytes);
        tg__dprof_set_bytes(c->prof, TG_DP_ATTN_OUT, lin[TG_ROLE_ATTN_OUT]->bytes);
        tg__dprof_set_bytes(c->prof, TG_DP_FFN_UP, lin[TG_ROLE_FFN_UP]->bytes);
        tg__dprof_set_bytes(c->prof, TG_DP_FFN_DOWN, lin[TG_ROLE_FFN_DOWN]->bytes);
        tg__dprof_set_bytes(c->prof, TG_DP_OUTPUT, bm->output->bytes);
    }
    *out = c;
    return TG_OK;
}

tg_status tg__backend_seq_copy(tg_backend_ctx *c, int32_t dst, int32_t src, int32_t len)
{
    return tg__kvc_copy(c->kv, dst, src, len);
}

void tg__backend_seq_truncate(tg_backend_ctx *c, int32_t seq, int32_t n_keep)
{
    tg__kvc_truncate(c->kv, seq, n_keep);
}

void tg__backend_kv_stats(const tg_backend_ctx *c, tg_kv_stats *out)
{
    const tg_kv_cache *kv = c->kv;
    out->block_positions = TG_KV_BLOCK;
    out->block_bytes = tg__kvc_block_bytes(kv);
    out->blocks_in_use = (uint64_t)kv->n_used;
    out->blocks_allocated = (uint64_t)kv->n_alloc;
}

/* Rotary embeddings on the q and k heads of every row (angles from rope_tables). */
static void rope_rows(tg_backend_ctx *c, size_t M)
{
    const tg_net_hparams *hp = c->hp;
    const int64_t H = hp->n_head, G = hp->n_kv_head, D = hp->head_dim, QKV = (H + 2 * G) * D;
    const size_t half = (size_t)D / 2;
    for (size_t r = 0; r < M; r++) /* q heads then k heads: contiguous at the start of a row */
        tg__rope_apply(c->qkv + r * (size_t)QKV, H + G, D, c->rope_cos + r * half,
                       c->rope_sin + r * half);
}

/* cos and sin of every row's position, shared by all layers. */
static void rope_tables(tg_backend_ctx *c, const tg_batch_row *rows, size_t M)
{
    const int32_t half = c->hp->head_dim / 2;
    for (size_t r = 0; r < M; r++)
        tg__rope_angles(c->rope_cos + r * (size_t)half, c->rope_sin + r * (size_t)half,
                        c->bm->inv_freq, half, rows[r].pos);
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
    tg_dprof *pr = c->prof;
    tg_status st;
    tg__norm_rows(&b->attn_norm, c->x, M, c->h, lin[TG_ROLE_QKV]->src);
    tg__dprof_mark(pr, TG_DP_ATTN_NORM);
    if ((st = linear(c, TG_ROLE_QKV, lin[TG_ROLE_QKV], M, c->h, c->qkv)) != TG_OK)
        return st;
    tg__dprof_mark(pr, TG_DP_QKV);
    if (c->hp->pos == TG_POS_ROPE_HALF) {
        rope_rows(c, M);
        tg__dprof_mark(pr, TG_DP_ROPE);
    }
    if ((st = tg__attn_layer(c->attn, l, rows, M, c->qkv, c->att)) != TG_OK)
        return st;
    tg__dprof_mark(pr, TG_DP_ATTN);
    to_act(c->att_in, c->att, M * HD, lin[TG_ROLE_ATTN_OUT]->src);
    tg__dprof_mark(pr, TG_DP_ATTN_ACT);
    if ((st = linear(c, TG_ROLE_ATTN_OUT, lin[TG_ROLE_ATTN_OUT], M, c->att_in, c->x)) != TG_OK)
        return st;
    tg__dprof_mark(pr, TG_DP_ATTN_OUT);
    tg__norm_rows(&b->ffn_norm, c->x, M, c->h, lin[TG_ROLE_FFN_UP]->src);
    tg__dprof_mark(pr, TG_DP_FFN_NORM);
    if ((st = linear(c, TG_ROLE_FFN_UP, lin[TG_ROLE_FFN_UP], M, c->h, c->ff)) != TG_OK)
        return st;
    tg__dprof_mark(pr, TG_DP_FFN_UP);
    if ((st = linear(c, TG_ROLE_FFN_DOWN, lin[TG_ROLE_FFN_DOWN], M, c->ff, c->x)) != TG_OK)
        return st;
    tg__dprof_mark(pr, TG_DP_FFN_DOWN);
    return TG_OK;
}

static tg_status forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M, float *logits_out)
{
    const tg_backend_model *bm = c->bm;
    const size_t C = (size_t)c->hp->n_embd;
    for (size_t i = 0; i < M; i++) {
        float *x = c->x + i * C;
        tg__backend_embed(bm, rows[i].token, x);
        if (bm->pos.data)
            tg__pos_table_add(&bm->pos, rows[i].pos, x);
    }
    if (c->hp->pos == TG_POS_ROPE_HALF)
        rope_tables(c, rows, M);
    tg__dprof_mark(c->prof, TG_DP_EMBED);
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
        tg__dprof_mark(c->prof, TG_DP_OUT_NORM);
        if ((st = linear(c, TG_N_BLOCK_ROLES, bm->output, n_out, c->h, logits_out)) != TG_OK)
            return st;
        tg__dprof_mark(c->prof, TG_DP_OUTPUT);
    }
    return TG_OK;
}

/* Room in the cache for every row, before anything is computed: a failure leaves the cached
 * contents as they were. A sequence's rows are at consecutive positions from its length. */
static tg_status reserve(tg_backend_ctx *c, const tg_batch_row *rows, size_t M)
{
    size_t n_touched = 0;
    for (size_t i = 0; i < M; i++) {
        const int32_t q = rows[i].seq;
        if (c->res_n[q]++ == 0) {
            c->res_p0[q] = rows[i].pos;
            c->res_seqs[n_touched++] = q;
        }
    }
    tg_status st = TG_OK;
    for (size_t k = 0; k < n_touched; k++) {
        const int32_t q = c->res_seqs[k];
        if (st == TG_OK)
            st = tg__kvc_reserve(c->kv, q, c->res_p0[q], c->res_n[q]);
        c->res_n[q] = 0;
    }
    return st;
}

/* Whether every row is the next token of another sequence (a decode step, what the decode
 * profile records). Quadratic, but only asked when profiling; a prompt answers at its 2nd row. */
static int is_decode_step(const tg_batch_row *rows, size_t M)
{
    for (size_t i = 1; i < M; i++)
        for (size_t j = 0; j < i; j++)
            if (rows[j].seq == rows[i].seq)
                return 0;
    return 1;
}

tg_status tg__backend_forward(tg_backend_ctx *c, const tg_batch_row *rows, size_t M,
                              float *logits_out)
{
    /* oneDNN primitives made during this call (plans) run on one thread each; the caller's
     * OpenMP setting is restored. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    tg__dprof_begin(c->prof, M, c->prof && is_decode_step(rows, M));
    tg_status st = reserve(c, rows, M);
    if (st == TG_OK)
        st = forward(c, rows, M, logits_out);
    tg__dprof_end(c->prof);
    omp_set_num_threads(saved_threads);
    return st;
}
