/* backend/linear_dnnl.c — the oneDNN implementation of the linear seam.
 *
 * Weights are reordered once into the layout oneDNN's matmul prefers for M = 1 (format_tag_any,
 * queried from an M = 1 primitive); the same layout serves every row count (oneDNN 2.6 picks
 * brg:avx512_core for M = 1, 7 and 128 with it, while a runtime-M primitive falls back to
 * ref:any), so a plan is a primitive made for one M. Epilogues are fused post-ops: bias, GELU
 * (tanh or erf), sum (accumulate into the residual). A gated linear keeps gate and up as two
 * matrices: the gate matmul fuses swish into an f32 buffer, the up matmul multiplies by it with a
 * binary post-op. bf16 matrices take bf16 inputs (oneDNN 2.6 has no f32 x bf16 matmul). */
#include "core/alloc.h"
#include "core/error.h"
#include "dnnl_util.h"
#include "linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dnnl_linear {
    tg_linear base;
    dnnl_memory_desc_t wmd; /* layout of each matrix: [K, width] */
    int64_t width;          /* output width of each matrix (N, or the gate/up width) */
    int n_mats;             /* 2 when gated */
    dnnl_memory_t w[2];
    float *bias[2];
    dnnl_memory_t bias_mem[2];
    int64_t *col_off; /* [K] offset of element (k, 0) in w[0], for read_column */
} dnnl_linear;

typedef struct dnnl_plan {
    tg_linear_plan base;
    dnnl_stream_t stream;
    tg_prim mm[2];
    float *gate;           /* gated: M x width f32 (silu of the gate) */
    dnnl_memory_t gate_md; /* the same, as the binary post-op's operand */
} dnnl_plan;

static const tg_linear_ops dnnl_ops;

static dnnl_data_type_t dt_of(tg_act_type t)
{
    return t == TG_ACT_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* The parts of one matrix as a plain [K, N] source: the file's data itself when there is one
 * aligned part in a dtype oneDNN reads, else a temporary (*tmp, to free) holding the parts
 * concatenated in the same layout, converted to f32 unless they are all bf16. */
static tg_status gather_source(const void **src, void **tmp, dnnl_data_type_t *dt,
                               const tg_tensor *const *parts, int n, tg_mat_layout layout,
                               int64_t K, int64_t N, dnnl_data_type_t want)
{
    *tmp = NULL;
    int same = 1, aligned = 1;
    for (int i = 0; i < n; i++) {
        same &= parts[i]->dtype == parts[0]->dtype;
        aligned &= !parts[i]->misaligned;
    }
    const tg_dtype d0 = parts[0]->dtype;
    if (n == 1 && aligned && (d0 == TG_DT_F32 || (d0 == TG_DT_BF16 && want == dnnl_bf16))) {
        *src = parts[0]->data;
        *dt = d0 == TG_DT_F32 ? dnnl_f32 : dnnl_bf16;
        return TG_OK;
    }
    const int keep_bf16 = same && aligned && d0 == TG_DT_BF16 && want == dnnl_bf16;
    const size_t esize = keep_bf16 ? 2 : 4;
    unsigned char *buf = tg__malloc((size_t)K * (size_t)N * esize);
    if (!buf)
        return tg__error(TG_ENOMEM, "out of memory converting tensor '%s'", parts[0]->name);
    int64_t col = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = parts[i];
        const int64_t w = t->numel / K; /* this part's output width */
        if (layout == TG_MAT_OUT_IN) {  /* rows of [N, K]: the parts stack */
            unsigned char *dst = buf + (size_t)col * (size_t)K * esize;
            if (keep_bf16)
                memcpy(dst, t->data, t->nbytes);
            else
                tg__tensor_to_f32((float *)dst, t, 0, (size_t)t->numel);
        } else { /* [K, N]: each row of the result takes a row of every part */
            for (int64_t k = 0; k < K; k++) {
                unsigned char *dst = buf + ((size_t)k * (size_t)N + (size_t)col) * esize;
                if (keep_bf16)
                    memcpy(dst, (const unsigned char *)t->data + (size_t)(k * w) * 2,
                           (size_t)w * 2);
                else
                    tg__tensor_to_f32((float *)dst, t, (size_t)(k * w), (size_t)w);
            }
        }
        col += w;
    }
    *src = buf;
    *tmp = buf;
    *dt = keep_bf16 ? dnnl_bf16 : dnnl_f32;
    return TG_OK;
}

/* Reorder parts (one matrix [K, N]) into `dst_md`. */
static tg_status load_matrix(dnnl_memory_t *out, const tg_tensor *const *parts, int n,
                             tg_mat_layout layout, int64_t K, int64_t N,
                             const dnnl_memory_desc_t *dst_md, const char *name)
{
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    const void *src = NULL;
    void *tmp = NULL;
    dnnl_data_type_t sdt = dnnl_f32;
    if ((st = gather_source(&src, &tmp, &sdt, parts, n, layout, K, N, dst_md->data_type)) != TG_OK)
        return st;
    dnnl_memory_desc_t src_md;
    dnnl_dims_t dims = {K, N};
    dnnl_memory_t src_mem = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&src_md, 2, dims, sdt,
                                                   layout == TG_MAT_OUT_IN ? dnnl_ba : dnnl_ab);
    if (s == dnnl_success)
        s = dnnl_memory_create(&src_mem, &src_md, eng, (void *)src);
    if (s == dnnl_success)
        s = dnnl_memory_create(out, dst_md, eng, DNNL_MEMORY_ALLOCATE);
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&pd, &src_md, eng, dst_md, eng, NULL);
    if (s == dnnl_success)
        s = tg__dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success)
        s = dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src_mem}, {DNNL_ARG_TO, *out}};
        s = dnnl_primitive_execute(prim, stream, 2, args);
    }
    if (s == dnnl_success)
        s = dnnl_stream_wait(stream);
    if (stream)
        dnnl_stream_destroy(stream);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src_mem)
        dnnl_memory_destroy(src_mem);
    free(tmp);
    if (s != dnnl_success)
        return tg__dnnl_check(s, name);
    for (int i = 0; i < n; i++)
        tg__tensor_release_pages(parts[i]);
    return TG_OK;
}

/* The biases of `parts` as tg__linear_load_bias reads them, and a oneDNN memory over them; none
 * at all (*out NULL) when `want` is 0. */
static tg_status load_bias(float **out, dnnl_memory_t *mem, const tg_tensor *const *parts,
                           const tg_tensor *const *bias, int n, int64_t K, int64_t N, int want,
                           const char *name)
{
    *out = NULL;
    if (!want)
        return TG_OK;
    tg_status st = tg__linear_load_bias(out, parts, bias, n, K, N, name);
    if (st != TG_OK)
        return st;
    dnnl_engine_t eng;
    if ((st = tg__dnnl_engine(&eng)) != TG_OK)
        return st;
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {1, N};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab), name);
    TG_DNNL(dnnl_memory_create(mem, &md, eng, *out), name);
    return TG_OK;
}

static void linear_destroy(tg_linear *base)
{
    dnnl_linear *l = (dnnl_linear *)base;
    for (int i = 0; i < 2; i++) {
        if (l->w[i])
            dnnl_memory_destroy(l->w[i]);
        if (l->bias_mem[i])
            dnnl_memory_destroy(l->bias_mem[i]);
        free(l->bias[i]);
    }
    free(l->col_off);
    free(l);
}

tg_status tg__linear_dnnl_create(tg_linear **out, const tg_linear_desc *d)
{
    *out = NULL;
    if (d->precision != TG_PREC_F32 && d->precision != TG_PREC_BF16)
        return tg__error(TG_EINVAL, "%s: oneDNN runs f32 and bf16 weights only", d->name);
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    dnnl_linear *l = tg__calloc(1, sizeof *l);
    if (!l)
        return tg__error(TG_ENOMEM, "out of memory preparing %s", d->name);
    int64_t N = 0;
    for (int i = 0; i < d->n_parts; i++)
        N += d->parts[i]->numel / d->K;
    l->n_mats = d->gated ? 2 : 1;
    l->width = d->gated ? N / 2 : N;
    tg_linear *b = &l->base;
    b->ops = &dnnl_ops;
    b->K = d->K;
    b->N = l->width;
    b->gated = d->gated;
    b->precision = d->precision;
    b->src = d->precision == TG_PREC_BF16 ? TG_ACT_BF16 : TG_ACT_F32;
    snprintf(b->name, sizeof b->name, "%s", d->name);
    const dnnl_data_type_t wdt = dt_of(b->src);
    if ((st = tg__matmul_weights_md(&l->wmd, eng, d->K, l->width, wdt)) != TG_OK)
        goto fail;
    /* One bias setting for the whole linear (a plan fuses it): a part without one adds zeros. */
    int any_bias = 0;
    for (int i = 0; d->bias && i < d->n_parts; i++)
        any_bias |= d->bias[i] != NULL;
    b->has_bias = any_bias;
    for (int m = 0; m < l->n_mats; m++) {
        /* gated: matrix m is part m; otherwise all parts form one matrix */
        const tg_tensor *const *parts = d->gated ? d->parts + m : d->parts;
        const tg_tensor *const *bias = d->bias ? (d->gated ? d->bias + m : d->bias) : NULL;
        const int n = d->gated ? 1 : d->n_parts;
        if ((st = load_matrix(&l->w[m], parts, n, d->layout, d->K, l->width, &l->wmd, d->name)) !=
                TG_OK ||
            (st = load_bias(&l->bias[m], &l->bias_mem[m], parts, bias, n, d->K, l->width, any_bias,
                            d->name)) != TG_OK)
            goto fail;
        b->bytes += dnnl_memory_desc_get_size(&l->wmd);
    }
    if (!d->gated) { /* for read_column: a tied output layer doubles as the embedding table */
        l->col_off = tg__malloc((size_t)d->K * sizeof *l->col_off);
        if (!l->col_off) {
            st = tg__error(TG_ENOMEM, "out of memory preparing %s", d->name);
            goto fail;
        }
        for (int64_t k = 0; k < d->K; k++) {
            const int64_t idx[2] = {k, 0};
            l->col_off[k] = tg__dnnl_offset(&l->wmd, idx);
        }
    }
    *out = b;
    return TG_OK;
fail:
    linear_destroy(b);
    return st;
}

static void linear_plan_free(tg_linear_plan *base)
{
    dnnl_plan *p = (dnnl_plan *)base;
    for (int i = 0; i < 2; i++)
        tg__prim_destroy(&p->mm[i]);
    if (p->gate_md)
        dnnl_memory_destroy(p->gate_md);
    if (p->stream)
        dnnl_stream_destroy(p->stream);
    free(p->gate);
    free(p);
}

static tg_status linear_plan_create(tg_linear_plan **out, const tg_linear *base,
                                    const tg_linear_cfg *cfg)
{
    *out = NULL;
    const dnnl_linear *l = (const dnnl_linear *)base;
    if ((cfg->epi == TG_EPI_SILU_GATE) != (base->gated != 0) ||
        (cfg->accumulate && (cfg->dst != TG_ACT_F32 || cfg->epi != TG_EPI_NONE)))
        return tg__error(TG_EINVAL, "%s: epilogue %d (accumulate %d) does not fit this matrix",
                         base->name, (int)cfg->epi, cfg->accumulate);
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    dnnl_plan *p = tg__calloc(1, sizeof *p);
    if (!p)
        return tg__error(TG_ENOMEM, "out of memory planning %s", base->name);
    p->base.ops = base->ops;
    p->base.cfg = *cfg;
    const int64_t M = cfg->M, K = base->K, N = l->width;
    const dnnl_data_type_t in = dt_of(base->src), dst = dt_of(cfg->dst);
    dnnl_status_t s = dnnl_stream_create(&p->stream, eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        st = tg__dnnl_check(s, base->name);
        goto fail;
    }
    if (base->gated) {
        p->gate = tg__malloc((size_t)M * (size_t)N * sizeof *p->gate);
        dnnl_memory_desc_t md;
        dnnl_dims_t dd = {M, N};
        if (!p->gate) {
            st = tg__error(TG_ENOMEM, "out of memory planning %s", base->name);
            goto fail;
        }
        s = dnnl_memory_desc_init_by_tag(&md, 2, dd, dnnl_f32, dnnl_ab);
        if (s == dnnl_success)
            s = dnnl_memory_create(&p->gate_md, &md, eng, p->gate);
        if (s != dnnl_success) {
            st = tg__dnnl_check(s, base->name);
            goto fail;
        }
        if ((st = tg__matmul_create(&p->mm[0], eng, M, K, N, in, &l->wmd, base->has_bias, dnnl_f32,
                                    TG_POST_SWISH, base->name)) != TG_OK ||
            (st = tg__matmul_create(&p->mm[1], eng, M, K, N, in, &l->wmd, base->has_bias, dst,
                                    TG_POST_BINARY_MUL, base->name)) != TG_OK)
            goto fail;
    } else {
        const tg_dnnl_post post = cfg->accumulate                ? TG_POST_SUM
                                  : cfg->epi == TG_EPI_GELU_TANH ? TG_POST_GELU_TANH
                                  : cfg->epi == TG_EPI_GELU_ERF  ? TG_POST_GELU_ERF
                                                                 : TG_POST_NONE;
        if ((st = tg__matmul_create(&p->mm[0], eng, M, K, N, in, &l->wmd, base->has_bias, dst, post,
                                    base->name)) != TG_OK)
            goto fail;
    }
    p->base.scratch_size = p->mm[0].scratch_size > p->mm[1].scratch_size ? p->mm[0].scratch_size
                                                                         : p->mm[1].scratch_size;
    *out = &p->base;
    return TG_OK;
fail:
    linear_plan_free(&p->base);
    return st;
}

static tg_status linear_forward(tg_linear_plan *base, const tg_linear *lb, const void *src,
                                void *dst, void *scratch)
{
    dnnl_plan *p = (dnnl_plan *)base;
    const dnnl_linear *l = (const dnnl_linear *)lb;
    tg_status st;
    if (lb->gated) {
        dnnl_exec_arg_t g[2] = {{DNNL_ARG_WEIGHTS, l->w[0]}, {DNNL_ARG_BIAS, l->bias_mem[0]}};
        dnnl_exec_arg_t u[3] = {{DNNL_ARG_WEIGHTS, l->w[1]},
                                {TG_DNNL_ARG_POST_SRC1, p->gate_md},
                                {DNNL_ARG_BIAS, l->bias_mem[1]}};
        if ((st = tg__prim_exec(&p->mm[0], p->stream, src, p->gate, scratch, g,
                                lb->has_bias ? 2 : 1, lb->name)) != TG_OK ||
            (st = tg__prim_exec(&p->mm[1], p->stream, src, dst, scratch, u, lb->has_bias ? 3 : 2,
                                lb->name)) != TG_OK)
            return st;
    } else {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_WEIGHTS, l->w[0]}, {DNNL_ARG_BIAS, l->bias_mem[0]}};
        if ((st = tg__prim_exec(&p->mm[0], p->stream, src, dst, scratch, a, lb->has_bias ? 2 : 1,
                                lb->name)) != TG_OK)
            return st;
    }
    TG_DNNL(dnnl_stream_wait(p->stream), lb->name);
    return TG_OK;
}

/* A blocked layout's offset is a sum of one term per dimension (each dimension's blocks are
 * independent), so column n is at col_off[k] + (offset of (0, n) - offset of (0, 0)). */
static void linear_read_column(const tg_linear *lb, int64_t n, float *out)
{
    const dnnl_linear *l = (const dnnl_linear *)lb;
    void *h = NULL;
    dnnl_memory_get_data_handle(l->w[0], &h);
    const int64_t z[2] = {0, 0}, at_n[2] = {0, n};
    const int64_t dn = tg__dnnl_offset(&l->wmd, at_n) - tg__dnnl_offset(&l->wmd, z);
    if (lb->src == TG_ACT_BF16)
        for (int64_t k = 0; k < lb->K; k++)
            out[k] = tg__bf16_to_f32(((const uint16_t *)h)[l->col_off[k] + dn]);
    else
        for (int64_t k = 0; k < lb->K; k++)
            out[k] = ((const float *)h)[l->col_off[k] + dn];
}

static const tg_linear_ops dnnl_ops = {
    .impl = "onednn",
    .plan_create = linear_plan_create,
    .plan_free = linear_plan_free,
    .forward = linear_forward,
    .read_column = linear_read_column,
    .destroy = linear_destroy,
};
