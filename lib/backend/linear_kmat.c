/* backend/linear_kmat.c — the hand-written implementation of the linear seam (backend/kernels).
 *
 * Weights are packed once into panels of 32 output columns (kernels/kmat.h): f32, bf16 or
 * per-column int8 (weight-only: f32 activations). Decode is bound by how fast the weights stream,
 * and these kernels read each thread's share as several concurrent runs, which oneDNN's brgemm does
 * not (docs/performance.md). A product runs on the session's thread pool (kernels/tpool.h): its
 * panels are cut into chunks that the threads claim, and each chunk applies the epilogue (GELU,
 * SiLU gate, residual add) to its own columns while they are in cache. Activations are always
 * f32 in and out of the seam; the kernels convert them once per product (kernels/kmat.h). */
#include "core/alloc.h"
#include "core/error.h"
#include "kernels/kmat.h"
#include "kernels/tpool.h"
#include "linear.h"
#include "linear_prefill.h"
#include "simd.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kmat_linear {
    tg_linear base;
    int n_mats;     /* 2 when gated: gate then up */
    tg_kmat w[2];   /* [K, N] each */
    float *bias[2]; /* N floats each, or NULL */
} kmat_linear;

typedef struct kmat_plan {
    tg_linear_plan base;
    tg_tpool *pool;
    tg_prefill *prefill; /* many rows: oneDNN on the same panels (linear_prefill.h) */
    size_t act_bytes;    /* scratch: the prepared activations, then f32 tmp buffers */
    int n_tmp;           /* [M][N] f32 buffers after the activations */
} kmat_plan;

static const tg_linear_ops kmat_ops;

/* int8: Q8 (weights and activations in int8, scales per block of 32) where the CPU has VNNI,
 * else weight-only S8 (tg__kmat_int8_fmt). */
static int32_t fmt_of(tg_precision p)
{
    return p == TG_PREC_BF16 ? TG_KFMT_BF16 : p == TG_PREC_INT8 ? tg__kmat_int8_fmt() : TG_KFMT_F32;
}

/* One matrix as a plain f32 source: the data itself for one aligned f32 part, else a
 * temporary (*tmp, to free) with the parts converted and concatenated in the same layout. */
static tg_status f32_source(const float **src, float **tmp, const tg_tensor *const *parts, int n,
                            tg_mat_layout layout, int64_t K, int64_t N)
{
    *tmp = NULL;
    if (n == 1 && parts[0]->dtype == TG_DT_F32 && !parts[0]->misaligned) {
        *src = parts[0]->data;
        return TG_OK;
    }
    float *buf = tg__malloc((size_t)K * (size_t)N * sizeof *buf);
    if (!buf)
        return tg__error(TG_ENOMEM, "out of memory converting tensor '%s'", parts[0]->name);
    int64_t col = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = parts[i];
        const int64_t w = t->numel / K;
        if (layout == TG_MAT_OUT_IN) /* rows of [N, K]: the parts stack */
            tg__tensor_to_f32(buf + (size_t)col * (size_t)K, t, 0, (size_t)t->numel);
        else /* [K, N]: each row of the result takes a row of every part */
            for (int64_t k = 0; k < K; k++)
                tg__tensor_to_f32(buf + (size_t)k * (size_t)N + (size_t)col, t, (size_t)(k * w),
                                  (size_t)w);
        col += w;
    }
    *src = buf;
    *tmp = buf;
    return TG_OK;
}

static tg_status load_matrix(tg_kmat *out, const tg_tensor *const *parts, int n,
                             tg_mat_layout layout, int64_t K, int64_t N, int32_t fmt,
                             tg_tpool *pool, const char *name)
{
    const float *src = NULL;
    float *tmp = NULL;
    tg_status st = f32_source(&src, &tmp, parts, n, layout, K, N);
    if (st != TG_OK)
        return st;
    /* The tensor's own (mapped) data is released as it is packed, a converted copy is freed. */
    st = tmp ? tg__kmat_pack(out, src, K, N, layout == TG_MAT_OUT_IN, fmt, pool)
             : tg__kmat_pack_mapped(out, src, K, N, layout == TG_MAT_OUT_IN, fmt, pool);
    free(tmp);
    if (st != TG_OK)
        return tg__error_prefix("%s", name);
    for (int i = 0; i < n; i++)
        tg__tensor_release_pages(parts[i]);
    return TG_OK;
}

static void linear_destroy(tg_linear *base)
{
    kmat_linear *l = (kmat_linear *)base;
    for (int i = 0; i < 2; i++) {
        tg__kmat_free(&l->w[i]);
        free(l->bias[i]);
    }
    free(l);
}

tg_status tg__linear_kmat_create(tg_linear **out, const tg_linear_desc *d)
{
    *out = NULL;
    kmat_linear *l = tg__calloc(1, sizeof *l);
    if (!l)
        return tg__error(TG_ENOMEM, "out of memory preparing %s", d->name);
    int64_t N = 0;
    for (int i = 0; i < d->n_parts; i++)
        N += d->parts[i]->numel / d->K;
    l->n_mats = d->gated ? 2 : 1;
    tg_linear *b = &l->base;
    b->ops = &kmat_ops;
    b->K = d->K;
    b->N = d->gated ? N / 2 : N;
    b->gated = d->gated;
    b->precision = d->precision;
    b->src = TG_ACT_F32;
    snprintf(b->name, sizeof b->name, "%s", d->name);
    int any_bias = 0;
    for (int i = 0; d->bias && i < d->n_parts; i++)
        any_bias |= d->bias[i] != NULL;
    b->has_bias = any_bias;
    tg_status st = TG_OK;
    for (int m = 0; m < l->n_mats; m++) {
        const tg_tensor *const *parts = d->gated ? d->parts + m : d->parts;
        const tg_tensor *const *bias = d->bias ? (d->gated ? d->bias + m : d->bias) : NULL;
        const int n = d->gated ? 1 : d->n_parts;
        if ((st = load_matrix(&l->w[m], parts, n, d->layout, d->K, b->N, fmt_of(d->precision),
                              d->pool, d->name)) != TG_OK ||
            (any_bias && (st = tg__linear_load_bias(&l->bias[m], parts, bias, n, d->K, b->N,
                                                    d->name)) != TG_OK))
            goto fail;
        b->bytes += l->w[m].bytes;
    }
    *out = b;
    return TG_OK;
fail:
    linear_destroy(b);
    return st;
}

/* ---- plans and products ---- */

static void linear_plan_free(tg_linear_plan *base)
{
    kmat_plan *p = (kmat_plan *)base;
    tg__prefill_free(p->prefill);
    free(p);
}

static tg_status linear_plan_create(tg_linear_plan **out, const tg_linear *base,
                                    const tg_linear_cfg *cfg)
{
    *out = NULL;
    if ((cfg->epi == TG_EPI_SILU_GATE) != (base->gated != 0) ||
        (cfg->accumulate && (cfg->dst != TG_ACT_F32 || cfg->epi != TG_EPI_NONE)) || cfg->M < 1)
        return tg__error(TG_EINVAL,
                         "%s: epilogue %d (accumulate %d, %lld rows) does not fit this "
                         "matrix",
                         base->name, (int)cfg->epi, cfg->accumulate, (long long)cfg->M);
    const kmat_linear *l = (const kmat_linear *)base;
    kmat_plan *p = tg__calloc(1, sizeof *p);
    if (!p)
        return tg__error(TG_ENOMEM, "out of memory planning %s", base->name);
    p->base.ops = base->ops;
    p->base.cfg = *cfg;
    p->pool = cfg->pool;
    p->act_bytes = tg__kmat_act_bytes(&l->w[0], cfg->M);
    /* Where results go before the epilogue writes dst: accumulate and bf16 need one f32 buffer,
     * the gate another. */
    p->n_tmp = (cfg->accumulate || cfg->dst == TG_ACT_BF16) + (base->gated != 0);
    p->base.scratch_size =
        p->act_bytes + (size_t)p->n_tmp * (size_t)cfg->M * (size_t)base->N * sizeof(float);
    if (cfg->M >= TG_PREFILL_MIN_M && tg__prefill_fits(&l->w[0])) {
        tg_status st = tg__prefill_create(&p->prefill, l->w, l->bias, base->gated, cfg, base->name,
                                          &p->base.scratch_size);
        if (st != TG_OK)
            free(p);
        else
            *out = &p->base;
        return st;
    }
    /* The same words as oneDNN's plans (dnnl_util.c), so one log line says what runs where. */
    tg__log(TG_LOG_DEBUG, "primitive %s (M=%lld): kmat:%s", base->name, (long long)cfg->M,
            tg__kmat_kernel_name(l->w[0].fmt));
    *out = &p->base;
    return TG_OK;
}

typedef struct job {
    const kmat_linear *l;
    const kmat_plan *p;
    const float *src; /* the f32 rows that `act` is prepared from */
    void *act;
    float *y;    /* [M][N] f32: the result, or the up half when gated */
    float *gate; /* gated: [M][N] */
    void *dst;
    int64_t M, N, n_panels, chunks;
    int64_t prep_parts; /* chunks [0, prep_parts) prepare act (tg__kmat_prep_parts), when > 1 */
    _Atomic int64_t prepped; /* of them, done */
} job;

static inline float gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

static inline float gelu_erf(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}

static inline float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* The epilogues over columns [n0, n1) of one row, 8 at a time with the vectorised exp of
 * simd.h (libm's tanhf on every element cost ~15 % of a batched decode step). n0 is a multiple
 * of 32 (a panel), so which columns take the vector path does not depend on the split: the
 * same bits at every thread count. tanh(u) = sign(u) (1 - e) / (1 + e), e = exp(-2|u|). */
TG_CLONES
static void gelu_tanh_cols(float *y, int64_t n0, int64_t n1)
{
    int64_t n = n0;
    for (; n + 8 <= n1; n += 8) {
        v8f x, u, a, e;
        memcpy(&x, y + n, sizeof x);
        u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        a = (v8f)((v8i)u & 0x7fffffff);
        e = -2.0f * a;
        tg__exp_nonpositive(&e);
        v8f t = (1.0f - e) / (1.0f + e);
        t = (v8f)((v8i)t | ((v8i)u & (int32_t)0x80000000));
        x = 0.5f * x * (1.0f + t);
        memcpy(y + n, &x, sizeof x);
    }
    for (; n < n1; n++)
        y[n] = gelu_tanh(y[n]);
}

TG_CLONES
static void silu_gate_cols(float *y, const float *g, int64_t n0, int64_t n1)
{
    int64_t n = n0;
    for (; n + 8 <= n1; n += 8) { /* sigmoid(g) = 1 / (1 + e) for g >= 0, e / (1 + e) below */
        v8f x, gv, e;
        memcpy(&x, y + n, sizeof x);
        memcpy(&gv, g + n, sizeof gv);
        e = -(v8f)((v8i)gv & 0x7fffffff);
        tg__exp_nonpositive(&e);
        const v8i neg = gv < 0.0f;
        const v8f num = (v8f)(((v8i)e & neg) | ((v8i)(e * 0.0f + 1.0f) & ~neg));
        x = x * gv * (num / (1.0f + e));
        memcpy(y + n, &x, sizeof x);
    }
    for (; n < n1; n++)
        y[n] *= silu(g[n]);
}

static void run_chunk(void *arg, int64_t c, int32_t worker)
{
    (void)worker;
    job *j = arg;
    if (j->prep_parts > 1) { /* the first chunks prepare act; the products wait for all of it */
        if (c < j->prep_parts) {
            tg__kmat_prepare_rows(&j->l->w[0], j->src, j->M, j->l->base.K, j->act,
                                  j->M * c / j->prep_parts, j->M * (c + 1) / j->prep_parts);
            atomic_fetch_add_explicit(&j->prepped, 1, memory_order_release);
            return;
        }
        c -= j->prep_parts;
        tg__tpool_wait_count(&j->prepped, j->prep_parts);
    }
    const int64_t p0 = j->n_panels * c / j->chunks, p1 = j->n_panels * (c + 1) / j->chunks;
    if (p0 == p1)
        return;
    const int64_t n0 = p0 * TG_KPANEL, n1 = p1 * TG_KPANEL < j->N ? p1 * TG_KPANEL : j->N;
    const kmat_linear *l = j->l;
    const tg_linear_cfg *cfg = &j->p->base.cfg;
    if (j->gate)
        tg__kmat_mul(&l->w[0], j->act, j->M, l->bias[0], j->gate, j->N, p0, p1);
    tg__kmat_mul(&l->w[j->gate ? 1 : 0], j->act, j->M, l->bias[j->gate ? 1 : 0], j->y, j->N, p0,
                 p1);
    for (int64_t r = 0; r < j->M; r++) {
        float *y = j->y + r * j->N;
        const float *g = j->gate ? j->gate + r * j->N : NULL;
        switch (cfg->epi) {
        case TG_EPI_GELU_TANH:
            gelu_tanh_cols(y, n0, n1);
            break;
        case TG_EPI_GELU_ERF:
            for (int64_t n = n0; n < n1; n++)
                y[n] = gelu_erf(y[n]);
            break;
        case TG_EPI_SILU_GATE:
            silu_gate_cols(y, g, n0, n1);
            break;
        case TG_EPI_NONE:
            break;
        }
        if (cfg->accumulate) {
            float *d = (float *)j->dst + r * j->N;
            for (int64_t n = n0; n < n1; n++)
                d[n] += y[n];
        } else if (cfg->dst == TG_ACT_BF16) {
            tg__f32_to_bf16((uint16_t *)j->dst + r * j->N + n0, y + n0, (size_t)(n1 - n0));
        }
    }
}

/* Chunks of one product: what the kernels want on the threads the job will run on
 * (tg__kmat_chunks), and for more rows than one register block, small enough that a chunk's
 * panels stay in the L2 cache while every row block reads them (a prompt would otherwise stream
 * the whole matrix from memory once per 8 rows). */
static int64_t chunk_count(const kmat_linear *l, const kmat_plan *p, int32_t threads)
{
    const int64_t np = l->w[0].n_panels;
    int64_t c = tg__kmat_chunks(&l->w[0], p->base.cfg.M, threads);
    if (p->base.cfg.M > TG_KMAX_M) {
        const int64_t l2_part = 256 * 1024;
        const int64_t want = (int64_t)(l->base.bytes / (size_t)l2_part) + 1;
        if (want > c)
            c = want < np ? want : np;
    }
    return c;
}

static tg_status linear_forward(tg_linear_plan *base, const tg_linear *lb, const void *src,
                                void *dst, void *scratch)
{
    kmat_plan *p = (kmat_plan *)base;
    const kmat_linear *l = (const kmat_linear *)lb;
    const int64_t M = base->cfg.M, N = lb->N;
    if (p->prefill)
        return tg__prefill_run(p->prefill, l->w, l->bias, src, dst, scratch);
    const int32_t threads = tg__tpool_threads_next(p->pool);
    const int64_t prep_parts = tg__kmat_prep_parts(&l->w[0], M, threads);
    if (prep_parts == 1)
        tg__kmat_prepare(&l->w[0], src, M, lb->K, scratch);
    float *tmp = (float *)((unsigned char *)scratch + p->act_bytes);
    const int direct = !base->cfg.accumulate && base->cfg.dst == TG_ACT_F32;
    job j = {
        .l = l,
        .p = p,
        .src = src,
        .act = scratch,
        .y = direct ? dst : tmp,
        .gate = lb->gated ? tmp + (direct ? 0 : M * N) : NULL,
        .dst = dst,
        .M = M,
        .N = N,
        .n_panels = l->w[0].n_panels,
        .chunks = chunk_count(l, p, threads),
        .prep_parts = prep_parts,
    };
    tg__tpool_run(p->pool, (prep_parts > 1 ? prep_parts : 0) + j.chunks, run_chunk, &j);
    return TG_OK;
}

/* ---- a tied output layer read as the embedding table ---- */

static void linear_read_column(const tg_linear *lb, int64_t n, float *out)
{
    const kmat_linear *l = (const kmat_linear *)lb;
    tg__kmat_read_column(&l->w[0], n, out);
}

static const tg_linear_ops kmat_ops = {
    .impl = "kmat",
    .plan_create = linear_plan_create,
    .plan_free = linear_plan_free,
    .forward = linear_forward,
    .read_column = linear_read_column,
    .destroy = linear_destroy,
};
