/* backend/linear_prefill.c — see linear_prefill.h. */
#include "linear_prefill.h"
#include "core/error.h"
#include "dnnl_util.h"
#include "tensor.h"

#include <stdlib.h>
#include <string.h>

struct tg_prefill {
    int gated;
    int bf16; /* weights bf16: the f32 rows are converted first (oneDNN 2.6 has no f32 x bf16) */
    int64_t M, K, N;
    const char *name;
    dnnl_stream_t stream;
    dnnl_memory_t w[2], bias[2], gate_mem;
    tg_prim mm[2];
    size_t src_bytes, gate_bytes; /* scratch: bf16 rows, then the gate, then oneDNN's own */
};

int tg__prefill_fits(const tg_kmat *w)
{
    return (w->fmt == TG_KFMT_F32 && w->K % 16 == 0) ||
           (w->fmt == TG_KFMT_BF16 && w->K % 32 == 0 && w->Kp == w->K);
}

void tg__prefill_free(tg_prefill *p)
{
    if (!p)
        return;
    for (int i = 0; i < 2; i++) {
        tg__prim_destroy(&p->mm[i]);
        if (p->w[i])
            dnnl_memory_destroy(p->w[i]);
        if (p->bias[i])
            dnnl_memory_destroy(p->bias[i]);
    }
    if (p->gate_mem)
        dnnl_memory_destroy(p->gate_mem);
    if (p->stream)
        dnnl_stream_destroy(p->stream);
    free(p);
}

static size_t round64(size_t n)
{
    return (n + 63) / 64 * 64;
}

static dnnl_status_t wrap(dnnl_memory_t *out, dnnl_engine_t eng, int64_t r, int64_t c,
                          dnnl_data_type_t dt, dnnl_format_tag_t tag, void *data)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {r, c};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&md, 2, d, dt, tag);
    return s == dnnl_success ? dnnl_memory_create(out, &md, eng, data) : s;
}

tg_status tg__prefill_create(tg_prefill **out, const tg_kmat *w, float *const *bias, int gated,
                             const tg_linear_cfg *cfg, const char *name, size_t *scratch_size)
{
    *out = NULL;
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    tg_prefill *p = calloc(1, sizeof *p);
    if (!p)
        return tg__error(TG_ENOMEM, "out of memory planning %s", name);
    p->gated = gated;
    p->bf16 = w[0].fmt == TG_KFMT_BF16;
    p->M = cfg->M;
    p->K = w[0].K;
    p->N = w[0].N;
    p->name = name;
    const dnnl_data_type_t wdt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_format_tag_t tag = p->bf16 ? dnnl_BA16a32b2a : dnnl_BA16a32b;
    const dnnl_data_type_t dst = cfg->dst == TG_ACT_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_status_t s = dnnl_stream_create(&p->stream, eng, dnnl_stream_default_flags);
    for (int i = 0; s == dnnl_success && i < 1 + gated; i++) {
        s = wrap(&p->w[i], eng, p->K, p->N, wdt, tag, w[i].data);
        if (s == dnnl_success && bias && bias[i])
            s = wrap(&p->bias[i], eng, 1, p->N, dnnl_f32, dnnl_ab, bias[i]);
    }
    p->src_bytes = p->bf16 ? round64((size_t)p->M * (size_t)p->K * 2) : 0;
    p->gate_bytes = gated ? round64((size_t)p->M * (size_t)p->N * sizeof(float)) : 0;
    if (s == dnnl_success && gated)
        s = wrap(&p->gate_mem, eng, p->M, p->N, dnnl_f32, dnnl_ab, DNNL_MEMORY_NONE);
    if (s != dnnl_success) {
        st = tg__dnnl_check(s, name);
        goto fail;
    }
    dnnl_memory_desc_t wmd;
    dnnl_dims_t wd = {p->K, p->N};
    if ((s = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, wdt, tag)) != dnnl_success) {
        st = tg__dnnl_check(s, name);
        goto fail;
    }
    const int has_bias = bias && bias[0];
    if (gated) {
        if ((st = tg__matmul_create(&p->mm[0], eng, p->M, p->K, p->N, wdt, &wmd, has_bias, dnnl_f32,
                                    TG_POST_SWISH, name)) != TG_OK ||
            (st = tg__matmul_create(&p->mm[1], eng, p->M, p->K, p->N, wdt, &wmd, has_bias, dst,
                                    TG_POST_BINARY_MUL, name)) != TG_OK)
            goto fail;
    } else {
        const tg_dnnl_post post = cfg->accumulate                ? TG_POST_SUM
                                  : cfg->epi == TG_EPI_GELU_TANH ? TG_POST_GELU_TANH
                                  : cfg->epi == TG_EPI_GELU_ERF  ? TG_POST_GELU_ERF
                                                                 : TG_POST_NONE;
        if ((st = tg__matmul_create(&p->mm[0], eng, p->M, p->K, p->N, wdt, &wmd, has_bias, dst,
                                    post, name)) != TG_OK)
            goto fail;
    }
    const size_t own = p->mm[0].scratch_size > p->mm[1].scratch_size ? p->mm[0].scratch_size
                                                                     : p->mm[1].scratch_size;
    *scratch_size = p->src_bytes + p->gate_bytes + own;
    *out = p;
    return TG_OK;
fail:
    tg__prefill_free(p);
    return st;
}

tg_status tg__prefill_run(tg_prefill *p, const tg_kmat *w, float *const *bias, const float *src,
                          void *dst, void *scratch)
{
    for (int i = 0; i < 1 + p->gated; i++) { /* the plan serves every layer's matrix */
        TG_DNNL(dnnl_memory_set_data_handle(p->w[i], w[i].data), p->name);
        if (p->bias[i])
            TG_DNNL(dnnl_memory_set_data_handle(p->bias[i], bias[i]), p->name);
    }
    unsigned char *sc = scratch;
    const void *in = src;
    if (p->bf16) {
        tg__f32_to_bf16((uint16_t *)sc, src, (size_t)p->M * (size_t)p->K);
        in = sc;
    }
    float *gate = (float *)(sc + p->src_bytes);
    void *own = sc + p->src_bytes + p->gate_bytes;
    tg_status st;
    if (p->gated) {
        dnnl_exec_arg_t g[2] = {{DNNL_ARG_WEIGHTS, p->w[0]}, {DNNL_ARG_BIAS, p->bias[0]}};
        dnnl_exec_arg_t u[3] = {{DNNL_ARG_WEIGHTS, p->w[1]},
                                {TG_DNNL_ARG_POST_SRC1, p->gate_mem},
                                {DNNL_ARG_BIAS, p->bias[1]}};
        TG_DNNL(dnnl_memory_set_data_handle(p->gate_mem, gate), p->name);
        if ((st = tg__prim_exec(&p->mm[0], p->stream, in, gate, own, g, p->bias[0] ? 2 : 1,
                                p->name)) != TG_OK ||
            (st = tg__prim_exec(&p->mm[1], p->stream, in, dst, own, u, p->bias[1] ? 3 : 2,
                                p->name)) != TG_OK)
            return st;
    } else {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_WEIGHTS, p->w[0]}, {DNNL_ARG_BIAS, p->bias[0]}};
        if ((st = tg__prim_exec(&p->mm[0], p->stream, in, dst, own, a, p->bias[0] ? 2 : 1,
                                p->name)) != TG_OK)
            return st;
    }
    TG_DNNL(dnnl_stream_wait(p->stream), p->name);
    return TG_OK;
}
