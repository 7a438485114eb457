/* backend/weights.c — build the backend's model from a tg_net: every linear through the linear
 * seam in the compute precision, norms as f32, the token embedding table in the compute
 * precision (or the tied output layer's columns), learned positions at the weights' precision
 * (pos_table.h) and the rotary frequencies. The output layer is prepared first: it is the largest
 * matrix, and converting it while little else is resident keeps the peak of loading (prepared
 * weights plus one source tensor) low. */
#include "core/alloc.h"
#include "backend_internal.h"
#include "core/error.h"
#include "kernels/cpus.h"
#include "kernels/panel_mem.h"
#include "kernels/tpool.h"
#include "rope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_parts(const tg_net_linear *l)
{
    int n = 0;
    while (n < TG_NET_MAX_PARTS && l->w[n])
        n++;
    return n;
}

static tg_status make_linear(tg_linear **out, const tg_backend_model *bm, const tg_net_linear *src,
                             int64_t K, int gated, tg_mat_layout layout, const char *name)
{
    tg_linear_desc d = {
        .name = name,
        .parts = src->w,
        .bias = src->b,
        .n_parts = n_parts(src),
        .layout = layout,
        .K = K,
        .gated = gated,
        .precision = bm->precision,
        .pool = bm->load_pool,
    };
    return tg__linear_create(out, &d);
}

void tg__backend_model_free(tg_backend_model *bm)
{
    if (!bm)
        return;
    for (int32_t i = 0; bm->blocks && i < bm->hp.n_layer; i++) {
        tg_block *b = &bm->blocks[i];
        tg__norm_clear(&b->attn_norm);
        tg__norm_clear(&b->ffn_norm);
        for (int r = 0; r < TG_N_BLOCK_ROLES; r++)
            tg__linear_free(b->lin[r]);
    }
    free(bm->blocks);
    tg__norm_clear(&bm->out_norm);
    tg__linear_free(bm->output);
    free(bm->tok_rows);
    tg__pos_table_clear(&bm->pos);
    free(bm->inv_freq);
    free(bm);
}

static tg_status build_embeddings(tg_backend_model *bm, const tg_net *net)
{
    const tg_net_hparams *hp = &net->hp;
    const size_t C = (size_t)hp->n_embd;
    /* bf16 weights keep a bf16 table (half the memory); f32 and int8 an exact f32 one. */
    bm->tok_type = bm->precision == TG_PREC_BF16 ? TG_ACT_BF16 : TG_ACT_F32;
    if (net->output) { /* untied: a table of our own, in the compute precision */
        const size_t V = (size_t)hp->n_vocab, es = bm->tok_type == TG_ACT_BF16 ? 2 : 4;
        bm->tok_rows = tg__malloc(V * C * es);
        float *row = tg__malloc(C * sizeof *row);
        if (!bm->tok_rows || !row) {
            free(row);
            return tg__error(TG_ENOMEM, "out of memory copying '%s'", net->tok_embd->name);
        }
        for (size_t v = 0; v < V; v++) {
            tg__tensor_to_f32(row, net->tok_embd, v * C, C);
            if (bm->tok_type == TG_ACT_BF16)
                tg__f32_to_bf16((uint16_t *)bm->tok_rows + v * C, row, C);
            else
                memcpy((float *)bm->tok_rows + v * C, row, C * sizeof *row);
        }
        free(row);
    }
    if (hp->pos == TG_POS_LEARNED) {
        tg_status st = tg__pos_table_init(&bm->pos, net->pos_embd, tg__pos_fmt_for(bm->precision));
        if (st != TG_OK)
            return st;
        tg__tensor_release_pages(net->pos_embd); /* converted: its file pages can go now */
    } else {
        bm->inv_freq = tg__malloc((size_t)(hp->head_dim / 2) * sizeof(float));
        if (!bm->inv_freq)
            return tg__error(TG_ENOMEM, "out of memory");
        tg__rope_inv_freq(bm->inv_freq, &hp->rope, hp->head_dim);
    }
    return TG_OK;
}

static tg_status build_block(tg_backend_model *bm, const tg_net *net, int32_t i)
{
    const tg_net_hparams *hp = &net->hp;
    const tg_net_layer *L = &net->layers[i];
    tg_block *b = &bm->blocks[i];
    const int64_t C = hp->n_embd, HD = (int64_t)hp->n_head * hp->head_dim;
    const int64_t K[TG_N_BLOCK_ROLES] = {C, HD, C, hp->n_ff};
    const tg_net_linear *src[TG_N_BLOCK_ROLES] = {&L->qkv, &L->attn_out, &L->ffn_up, &L->ffn_down};
    tg_status st;
    if ((st = tg__norm_init(&b->attn_norm, hp->norm, hp->norm_eps, L->attn_norm_w,
                            L->attn_norm_b)) != TG_OK ||
        (st = tg__norm_init(&b->ffn_norm, hp->norm, hp->norm_eps, L->ffn_norm_w, L->ffn_norm_b)) !=
            TG_OK)
        return st;
    for (int r = 0; r < TG_N_BLOCK_ROLES; r++) {
        const int gated = r == TG_ROLE_FFN_UP && hp->ffn == TG_FFN_SILU_GATED;
        if ((st = make_linear(&b->lin[r], bm, src[r], K[r], gated, hp->layout,
                              net->role_names[r])) != TG_OK)
            return st;
        if (i > 0 && !tg__linear_same_class(b->lin[r], bm->blocks[0].lin[r]))
            return tg__error(TG_EFORMAT, "%s of layer %d differs in shape or biases from layer 0",
                             net->role_names[r], (int)i);
        bm->weight_bytes += b->lin[r]->bytes;
    }
    return TG_OK;
}

static tg_status build(tg_backend_model *bm, const tg_net *net)
{
    const tg_net_hparams *hp = &net->hp;
    tg_status st;
    /* [n_vocab, n_embd] either way: nn.Linear layout of a K = n_embd, N = n_vocab matrix */
    tg_net_linear out = {{net->output ? net->output : net->tok_embd}, {NULL}};
    if ((st = make_linear(&bm->output, bm, &out, hp->n_embd, 0, TG_MAT_OUT_IN,
                          net->role_names[TG_ROLE_OUTPUT])) != TG_OK ||
        (st = tg__norm_init(&bm->out_norm, hp->norm, hp->norm_eps, net->out_norm_w,
                            net->out_norm_b)) != TG_OK ||
        (st = build_embeddings(bm, net)) != TG_OK)
        return st;
    bm->weight_bytes += bm->output->bytes;
    for (int32_t i = 0; i < hp->n_layer; i++)
        if ((st = build_block(bm, net, i)) != TG_OK)
            return tg__error_prefix("layer %d", (int)i);
    return TG_OK;
}

tg_status tg__backend_model_create(tg_backend_model **out, const tg_net *net,
                                   tg_precision precision)
{
    *out = NULL;
    tg_backend_model *bm = tg__calloc(1, sizeof *bm);
    if (!bm)
        return tg__error(TG_ENOMEM, "out of memory preparing weights");
    bm->hp = net->hp;
    bm->precision = precision;
    bm->blocks = tg__calloc((size_t)net->hp.n_layer, sizeof *bm->blocks);
    /* Weights are packed on every CPU this process may use, by threads that live for the load. */
    tg_status st = bm->blocks ? tg__tpool_create(&bm->load_pool, tg__cpus_available(NULL), 0)
                              : tg__error(TG_ENOMEM, "out of memory");
    tg__panel_mem_hold(); /* huge pages once the model is loaded (panel_mem.h) */
    if (st == TG_OK)
        st = build(bm, net);
    tg__panel_mem_release();
    tg__tpool_free(bm->load_pool);
    bm->load_pool = NULL;
    if (st != TG_OK) {
        tg__backend_model_free(bm);
        return st;
    }
    *out = bm;
    return TG_OK;
}

uint64_t tg__backend_model_weight_bytes(const tg_backend_model *bm)
{
    return bm->weight_bytes;
}

void tg__backend_embed(const tg_backend_model *bm, int32_t token, float *out)
{
    const size_t C = (size_t)bm->hp.n_embd;
    if (!bm->tok_rows)
        tg__linear_read_column(bm->output, token, out);
    else if (bm->tok_type == TG_ACT_BF16)
        for (size_t k = 0; k < C; k++)
            out[k] = tg__bf16_to_f32(((const uint16_t *)bm->tok_rows)[(size_t)token * C + k]);
    else
        memcpy(out, (const float *)bm->tok_rows + (size_t)token * C, C * sizeof *out);
}
