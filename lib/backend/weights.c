/* backend/weights.c — turn the model's source tensors into oneDNN weights: matrices reordered once
 * into the layout oneDNN's matmul prefers (f32 or bf16), biases and LayerNorm parameters as f32.
 * After a matrix is reordered its pages of the mapped file are released, so peak memory stays
 * near the size of the prepared weights. */
#include "backend_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Tell the kernel we are done with the file pages behind [p, p+n). */
static void release_pages(const void *p, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0)
        return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (e > b)
        madvise((void *)b, e - b, MADV_DONTNEED);
}

static tg_status f32_copy(float **out, const tg_st_tensor *t)
{
    *out = malloc((size_t)t->numel * sizeof(float));
    if (!*out)
        return tg__error(TG_ENOMEM, "out of memory converting tensor '%s'", t->name);
    tg__tensor_to_f32(*out, t, 0, (size_t)t->numel);
    return TG_OK;
}

static tg_status vec_mem(dnnl_memory_t *out, dnnl_engine_t eng, float *data, int64_t n, int as_row)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t d1 = {n}, d2 = {1, n};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&md, as_row ? 2 : 1, as_row ? d2 : d1, dnnl_f32,
                                         as_row ? dnnl_ab : dnnl_a),
            "vector memory");
    TG_DNNL(dnnl_memory_create(out, &md, eng, data), "vector memory");
    return TG_OK;
}

/* Reorder matrix `t` (K x N; transposed = stored as [N, K]) into `dst_md`. */
static tg_status load_matrix(tg_bmat *m, dnnl_engine_t eng, dnnl_stream_t stream,
                             const tg_st_tensor *t, const tg_st_tensor *bias, int64_t K, int64_t N,
                             int transposed, const dnnl_memory_desc_t *dst_md)
{
    dnnl_memory_desc_t src_md;
    dnnl_dims_t dims = {K, N};
    TG_DNNL(
        dnnl_memory_desc_init_by_tag(&src_md, 2, dims, dnnl_f32, transposed ? dnnl_ba : dnnl_ab),
        t->name);
    float *tmp = NULL;
    const void *src = t->data;
    if (t->dtype != TG_DT_F32 || t->misaligned) {
        tg_status st = f32_copy(&tmp, t);
        if (st != TG_OK)
            return st;
        src = tmp;
    }
    dnnl_memory_t src_mem = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_status_t s = dnnl_memory_create(&src_mem, &src_md, eng, (void *)src);
    if (s == dnnl_success)
        s = dnnl_memory_create(&m->w, dst_md, eng, DNNL_MEMORY_ALLOCATE);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, &src_md, eng, dst_md, eng, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src_mem}, {DNNL_ARG_TO, m->w}};
        s = dnnl_primitive_execute(prim, stream, 2, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(stream);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src_mem)
        dnnl_memory_destroy(src_mem);
    free(tmp);
    if (s != dnnl_success)
        return tg__dnnl_check(s, t->name);
    if (!tmp)
        release_pages(t->data, t->nbytes);
    m->bytes = dnnl_memory_desc_get_size(dst_md);
    if (bias) {
        tg_status st = f32_copy(&m->bias, bias);
        if (st == TG_OK)
            st = vec_mem(&m->bias_mem, eng, m->bias, N, 1);
        if (st != TG_OK)
            return st;
    }
    return TG_OK;
}

static tg_status load_norm(tg_bnorm *n, dnnl_engine_t eng, const tg_st_tensor *w,
                           const tg_st_tensor *b)
{
    tg_status st = f32_copy(&n->scale, w);
    if (st == TG_OK)
        st = vec_mem(&n->scale_mem, eng, n->scale, w->numel, 0);
    if (st == TG_OK && b) {
        st = f32_copy(&n->shift, b);
        if (st == TG_OK)
            st = vec_mem(&n->shift_mem, eng, n->shift, b->numel, 0);
    }
    return st;
}

static void free_mat(tg_bmat *m)
{
    if (m->w)
        dnnl_memory_destroy(m->w);
    if (m->bias_mem)
        dnnl_memory_destroy(m->bias_mem);
    free(m->bias);
}

static void free_norm(tg_bnorm *n)
{
    if (n->scale_mem)
        dnnl_memory_destroy(n->scale_mem);
    if (n->shift_mem)
        dnnl_memory_destroy(n->shift_mem);
    free(n->scale);
    free(n->shift);
}

void tg__backend_model_free(tg_backend_model *bm)
{
    if (!bm)
        return;
    for (int32_t i = 0; bm->layers && i < bm->n_layer; i++) {
        tg_blayer *L = &bm->layers[i];
        free_norm(&L->ln1);
        free_norm(&L->ln2);
        free_mat(&L->qkv);
        free_mat(&L->aproj);
        free_mat(&L->fc);
        free_mat(&L->mproj);
    }
    free(bm->layers);
    free_norm(&bm->lnf);
    free_mat(&bm->lm);
    if (bm->engine)
        dnnl_engine_destroy(bm->engine);
    free(bm);
}

static tg_status build(tg_backend_model *bm, const struct tg_model *m, dnnl_stream_t stream)
{
    const tg_hparams *hp = &m->hp;
    const int64_t C = hp->n_embd, I = hp->n_inner, V = hp->n_vocab;
    dnnl_engine_t eng = bm->engine;
    tg_status st;
    if ((st = tg__matmul_weights_md(&bm->md_qkv, eng, C, 3 * C, bm->wdt)) != TG_OK ||
        (st = tg__matmul_weights_md(&bm->md_aproj, eng, C, C, bm->wdt)) != TG_OK ||
        (st = tg__matmul_weights_md(&bm->md_fc, eng, C, I, bm->wdt)) != TG_OK ||
        (st = tg__matmul_weights_md(&bm->md_mproj, eng, I, C, bm->wdt)) != TG_OK ||
        (st = tg__matmul_weights_md(&bm->md_lm, eng, C, V, bm->wdt)) != TG_OK)
        return st;
    /* The output layer first: it is the largest matrix, and converting it while little else is
     * resident keeps the peak (prepared weights + one source tensor) low. */
    const tg_st_tensor *lm = m->src.lm_head ? m->src.lm_head : m->src.wte;
    if ((st = load_matrix(&bm->lm, eng, stream, lm, NULL, C, V, 1, &bm->md_lm)) != TG_OK ||
        (st = load_norm(&bm->lnf, eng, m->src.lnf_w, m->src.lnf_b)) != TG_OK)
        return st;
    bm->weight_bytes += bm->lm.bytes;
    for (int32_t i = 0; i < hp->n_layer; i++) {
        const tg_layer_src *s = &m->src.layers[i];
        tg_blayer *L = &bm->layers[i];
        if ((st = load_norm(&L->ln1, eng, s->ln1_w, s->ln1_b)) != TG_OK ||
            (st = load_norm(&L->ln2, eng, s->ln2_w, s->ln2_b)) != TG_OK ||
            (st = load_matrix(&L->qkv, eng, stream, s->qkv_w, s->qkv_b, C, 3 * C, 0,
                              &bm->md_qkv)) != TG_OK ||
            (st = load_matrix(&L->aproj, eng, stream, s->aproj_w, s->aproj_b, C, C, 0,
                              &bm->md_aproj)) != TG_OK ||
            (st = load_matrix(&L->fc, eng, stream, s->fc_w, s->fc_b, C, I, 0, &bm->md_fc)) !=
                TG_OK ||
            (st = load_matrix(&L->mproj, eng, stream, s->mproj_w, s->mproj_b, I, C, 0,
                              &bm->md_mproj)) != TG_OK)
            return st;
        bm->weight_bytes += L->qkv.bytes + L->aproj.bytes + L->fc.bytes + L->mproj.bytes;
    }
    return TG_OK;
}

tg_status tg__backend_model_create(tg_backend_model **out, const struct tg_model *m, int use_bf16)
{
    *out = NULL;
    tg_backend_model *bm = calloc(1, sizeof *bm);
    if (!bm)
        return tg__error(TG_ENOMEM, "out of memory preparing weights");
    bm->wdt = use_bf16 ? dnnl_bf16 : dnnl_f32;
    bm->n_layer = m->hp.n_layer;
    bm->layers = calloc((size_t)m->hp.n_layer, sizeof *bm->layers);
    if (!bm->layers) {
        free(bm);
        return tg__error(TG_ENOMEM, "out of memory preparing weights");
    }
    dnnl_status_t s = dnnl_engine_create(&bm->engine, dnnl_cpu, 0);
    if (s != dnnl_success) {
        tg__backend_model_free(bm);
        return tg__dnnl_check(s, "CPU engine creation");
    }
    dnnl_stream_t stream;
    s = dnnl_stream_create(&stream, bm->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        tg__backend_model_free(bm);
        return tg__dnnl_check(s, "stream creation");
    }
    tg_status st = build(bm, m, stream);
    dnnl_stream_destroy(stream);
    if (st != TG_OK) {
        tg__error_prefix("%s", m->path);
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
