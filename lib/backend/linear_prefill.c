/* backend/linear_prefill.c — see linear_prefill.h.
 *
 * Threads: the rows are cut into blocks that the session's pool claims (kernels/tpool.h), and
 * each thread runs a single-threaded oneDNN primitive on its block. OpenMP's static split would
 * make every product wait for a thread that another process keeps off its CPU (the 7-9x
 * collapse of docs/performance.md); the pool's chunks and fallback do not. */
#include "core/alloc.h"
#include "linear_prefill.h"
#include "core/error.h"
#include "dnnl_util.h"
#include "kernels/tpool.h"
#include "tensor.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The primitives one thread runs: for a full block of rows, for the last, shorter one, and (the
 * caller only, when there are several blocks) for all rows at once: what runs when the pool
 * falls back to the caller alone, as fast as a 1-thread session's single block. */
enum { SIZE_BLOCK, SIZE_LAST, SIZE_ALL, N_SIZES };
typedef struct worker_prims {
    dnnl_stream_t stream;
    tg_prim mm[N_SIZES][2];          /* [size][matrix] */
    dnnl_memory_t gate_mem[N_SIZES]; /* [size]: the gate rows, the up matmul's post-op operand */
} worker_prims;

struct tg_prefill {
    int gated;
    int bf16; /* weights bf16: the f32 rows are converted first (oneDNN 2.6 has no f32 x bf16) */
    int64_t M, K, N;
    int64_t rb, n_blocks, last; /* rows per block, blocks, rows of the last block */
    size_t dst_es;              /* bytes of a dst element */
    const char *name;
    tg_tpool *pool;
    int32_t n_workers;
    worker_prims *w;
    dnnl_memory_t wmem[2], bias[2];          /* shared, read-only while a job runs */
    size_t src_bytes, gate_bytes, own_bytes; /* scratch: bf16 rows, gate, one region per thread */
};

/* A panel of each type in oneDNN's words (linear_prefill.h). */
static dnnl_format_tag_t panel_tag(int bf16)
{
    return bf16 ? dnnl_BA16a32b2a : dnnl_BA16a32b;
}

/* Whether oneDNN has a kernel other than its reference one for a matmul over such panels on this
 * CPU (and under $DNNL_MAX_CPU_ISA): oneDNN 2.6 has no bf16 matmul below AVX-512, so a bf16
 * model's prompt failed there at its first product. A 16 x 64 x 64 matmul is asked (brgemm and
 * gemm take any shape: the types and the ISA decide), once per type. */
static int onednn_has_kernel(int bf16)
{
    static atomic_int known[2]; /* 0 = not asked yet, 1 = no, 2 = yes */
    const int k = atomic_load(&known[bf16]);
    if (k)
        return k == 2;
    const dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_engine_t eng;
    dnnl_memory_desc_t src_md, w_md, dst_md;
    dnnl_dims_t sd = {16, 64}, wd = {64, 64}, dd = {16, 64};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = "none";
    if (tg__dnnl_engine(&eng) == TG_OK &&
        dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab) == dnnl_success &&
        dnnl_memory_desc_init_by_tag(&w_md, 2, wd, dt, panel_tag(bf16)) == dnnl_success &&
        dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success &&
        dnnl_matmul_desc_init(&md, &src_md, &w_md, NULL, &dst_md) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) == dnnl_success)
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    const int fast = pd && strncmp(impl, "ref", 3) != 0;
    tg__log(TG_LOG_DEBUG, "prompts of %s panels: %s (oneDNN's matmul: %s)", bf16 ? "bf16" : "f32",
            fast ? "oneDNN" : "kmat", impl);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    atomic_store(&known[bf16], fast ? 2 : 1);
    return fast;
}

int tg__prefill_fits(const tg_kmat *w)
{
    if (w->fmt == TG_KFMT_F32)
        return w->K % 16 == 0 && onednn_has_kernel(0);
    if (w->fmt == TG_KFMT_BF16)
        return w->K % 32 == 0 && w->Kp == w->K && onednn_has_kernel(1);
    return 0;
}

void tg__prefill_free(tg_prefill *p)
{
    if (!p)
        return;
    for (int32_t t = 0; p->w && t < p->n_workers; t++) {
        worker_prims *w = &p->w[t];
        for (int s = 0; s < N_SIZES; s++) {
            for (int m = 0; m < 2; m++)
                tg__prim_destroy(&w->mm[s][m]);
            if (w->gate_mem[s])
                dnnl_memory_destroy(w->gate_mem[s]);
        }
        if (w->stream)
            dnnl_stream_destroy(w->stream);
    }
    free(p->w);
    for (int i = 0; i < 2; i++) {
        if (p->wmem[i])
            dnnl_memory_destroy(p->wmem[i]);
        if (p->bias[i])
            dnnl_memory_destroy(p->bias[i]);
    }
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

/* The primitives of one thread for blocks of `rows` rows. */
static tg_status make_prims(tg_prefill *p, worker_prims *w, int size, int64_t rows,
                            dnnl_engine_t eng, const dnnl_memory_desc_t *wmd,
                            const tg_linear_cfg *cfg)
{
    const dnnl_data_type_t wdt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_data_type_t dst = cfg->dst == TG_ACT_BF16 ? dnnl_bf16 : dnnl_f32;
    const int has_bias = p->bias[0] != NULL;
    tg_status st;
    if (p->gated) {
        dnnl_status_t s =
            wrap(&w->gate_mem[size], eng, rows, p->N, dnnl_f32, dnnl_ab, DNNL_MEMORY_NONE);
        if (s != dnnl_success)
            return tg__dnnl_check(s, p->name);
        if ((st = tg__matmul_create(&w->mm[size][0], eng, rows, p->K, p->N, wdt, wmd, has_bias,
                                    dnnl_f32, TG_POST_SWISH, p->name)) != TG_OK)
            return st;
        return tg__matmul_create(&w->mm[size][1], eng, rows, p->K, p->N, wdt, wmd, has_bias, dst,
                                 TG_POST_BINARY_MUL, p->name);
    }
    const tg_dnnl_post post = cfg->accumulate                ? TG_POST_SUM
                              : cfg->epi == TG_EPI_GELU_TANH ? TG_POST_GELU_TANH
                              : cfg->epi == TG_EPI_GELU_ERF  ? TG_POST_GELU_ERF
                                                             : TG_POST_NONE;
    return tg__matmul_create(&w->mm[size][0], eng, rows, p->K, p->N, wdt, wmd, has_bias, dst, post,
                             p->name);
}

static tg_status create(tg_prefill *p, const tg_kmat *w, float *const *bias,
                        const tg_linear_cfg *cfg)
{
    dnnl_engine_t eng;
    tg_status st = tg__dnnl_engine(&eng);
    if (st != TG_OK)
        return st;
    const dnnl_data_type_t wdt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_format_tag_t tag = panel_tag(p->bf16);
    dnnl_status_t s = dnnl_success;
    for (int i = 0; s == dnnl_success && i < 1 + p->gated; i++) {
        s = wrap(&p->wmem[i], eng, p->K, p->N, wdt, tag, w[i].data);
        if (s == dnnl_success && bias && bias[i])
            s = wrap(&p->bias[i], eng, 1, p->N, dnnl_f32, dnnl_ab, bias[i]);
    }
    dnnl_memory_desc_t wmd;
    dnnl_dims_t wd = {p->K, p->N};
    if (s == dnnl_success)
        s = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, wdt, tag);
    if (s != dnnl_success)
        return tg__dnnl_check(s, p->name);
    for (int32_t t = 0; t < p->n_workers; t++) {
        worker_prims *wp = &p->w[t];
        if ((s = dnnl_stream_create(&wp->stream, eng, dnnl_stream_default_flags)) != dnnl_success)
            return tg__dnnl_check(s, p->name);
        for (int size = 0; size < N_SIZES; size++) {
            if ((size == SIZE_LAST && p->last == p->rb) ||
                (size == SIZE_ALL && (t > 0 || p->n_blocks == 1)))
                continue;
            const int64_t rows = size == SIZE_BLOCK ? p->rb : size == SIZE_LAST ? p->last : p->M;
            if ((st = make_prims(p, wp, size, rows, eng, &wmd, cfg)) != TG_OK)
                return st;
            for (int m = 0; m < 2; m++)
                if (wp->mm[size][m].scratch_size > p->own_bytes)
                    p->own_bytes = wp->mm[size][m].scratch_size;
        }
    }
    p->own_bytes = round64(p->own_bytes);
    return TG_OK;
}

tg_status tg__prefill_create(tg_prefill **out, const tg_kmat *w, float *const *bias, int gated,
                             const tg_linear_cfg *cfg, const char *name, size_t *scratch_size)
{
    *out = NULL;
    tg_prefill *p = tg__calloc(1, sizeof *p);
    if (!p)
        return tg__error(TG_ENOMEM, "out of memory planning %s", name);
    p->gated = gated;
    p->bf16 = w[0].fmt == TG_KFMT_BF16;
    p->M = cfg->M;
    p->K = w[0].K;
    p->N = w[0].N;
    p->name = name;
    p->pool = cfg->pool;
    p->n_workers = tg__tpool_size(cfg->pool);
    p->dst_es = cfg->dst == TG_ACT_BF16 ? 2 : 4;
    /* Blocks of at least 16 rows (brgemm's efficiency drops below), enough for every thread. */
    const int64_t blocks = tg__tpool_chunks(cfg->pool, p->M / TG_PREFILL_MIN_M);
    p->rb = (p->M + blocks - 1) / blocks;
    p->n_blocks = (p->M + p->rb - 1) / p->rb;
    p->last = p->M - (p->n_blocks - 1) * p->rb;
    p->src_bytes = p->bf16 ? round64((size_t)p->M * (size_t)p->K * 2) : 0;
    p->gate_bytes = gated ? round64((size_t)p->M * (size_t)p->N * sizeof(float)) : 0;
    p->w = tg__calloc((size_t)p->n_workers, sizeof *p->w);
    if (!p->w) {
        free(p);
        return tg__error(TG_ENOMEM, "out of memory planning %s", name);
    }
    /* oneDNN fixes a primitive's thread count when it is made: one, the pool splits the rows. */
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    tg_status st = create(p, w, bias, cfg);
    omp_set_num_threads(saved);
    if (st != TG_OK) {
        tg__prefill_free(p);
        return st;
    }
    *scratch_size = p->src_bytes + p->gate_bytes + (size_t)p->n_workers * p->own_bytes;
    *out = p;
    return TG_OK;
}

typedef struct run_job {
    tg_prefill *p;
    const void *src; /* f32 or bf16 rows */
    size_t src_es;
    void *dst;
    float *gate;
    unsigned char *own;
    _Atomic tg_status status;
} run_job;

/* Rows from r0 on, as many as primitive `size` takes. */
static tg_status run_rows(tg_prefill *p, const run_job *j, int64_t r0, int size, int32_t worker)
{
    worker_prims *w = &p->w[worker];
    const void *in = (const unsigned char *)j->src + (size_t)(r0 * p->K) * j->src_es;
    void *dst = (unsigned char *)j->dst + (size_t)(r0 * p->N) * p->dst_es;
    void *own = j->own + (size_t)worker * p->own_bytes;
    tg_status st;
    if (p->gated) {
        float *gate = j->gate + r0 * p->N;
        dnnl_exec_arg_t g[2] = {{DNNL_ARG_WEIGHTS, p->wmem[0]}, {DNNL_ARG_BIAS, p->bias[0]}};
        dnnl_exec_arg_t u[3] = {{DNNL_ARG_WEIGHTS, p->wmem[1]},
                                {TG_DNNL_ARG_POST_SRC1, w->gate_mem[size]},
                                {DNNL_ARG_BIAS, p->bias[1]}};
        TG_DNNL(dnnl_memory_set_data_handle(w->gate_mem[size], gate), p->name);
        if ((st = tg__prim_exec(&w->mm[size][0], w->stream, in, gate, own, g, p->bias[0] ? 2 : 1,
                                p->name)) != TG_OK ||
            (st = tg__prim_exec(&w->mm[size][1], w->stream, in, dst, own, u, p->bias[1] ? 3 : 2,
                                p->name)) != TG_OK)
            return st;
    } else {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_WEIGHTS, p->wmem[0]}, {DNNL_ARG_BIAS, p->bias[0]}};
        if ((st = tg__prim_exec(&w->mm[size][0], w->stream, in, dst, own, a, p->bias[0] ? 2 : 1,
                                p->name)) != TG_OK)
            return st;
    }
    TG_DNNL(dnnl_stream_wait(w->stream), p->name);
    return TG_OK;
}

static void run_chunk(void *arg, int64_t b, int32_t worker)
{
    run_job *j = arg;
    if (worker > 0)
        omp_set_num_threads(1); /* a pool thread: nothing it runs may fork an OpenMP team */
    tg_prefill *p = j->p;
    const int size = b == p->n_blocks - 1 && p->last != p->rb ? SIZE_LAST : SIZE_BLOCK;
    const tg_status st = run_rows(p, j, b * p->rb, size, worker);
    if (st != TG_OK) {
        tg_status ok = TG_OK;
        atomic_compare_exchange_strong(&j->status, &ok, st);
    }
}

/* The pool runs jobs on the caller alone for now: all rows through one primitive. */
static void run_all_rows(void *arg, int64_t chunk, int32_t worker)
{
    (void)chunk;
    run_job *j = arg;
    const tg_status st = run_rows(j->p, j, 0, SIZE_ALL, worker);
    if (st != TG_OK)
        atomic_store(&j->status, st);
}

tg_status tg__prefill_run(tg_prefill *p, const tg_kmat *w, float *const *bias, const float *src,
                          void *dst, void *scratch)
{
    for (int i = 0; i < 1 + p->gated; i++) { /* the plan serves every layer's matrix */
        TG_DNNL(dnnl_memory_set_data_handle(p->wmem[i], w[i].data), p->name);
        if (p->bias[i])
            TG_DNNL(dnnl_memory_set_data_handle(p->bias[i], bias[i]), p->name);
    }
    unsigned char *sc = scratch;
    run_job j = {.p = p, .src = src, .src_es = 4, .dst = dst};
    if (p->bf16) {
        tg__f32_to_bf16((uint16_t *)sc, src, (size_t)p->M * (size_t)p->K);
        j.src = sc;
        j.src_es = 2;
    }
    j.gate = (float *)(sc + p->src_bytes);
    j.own = sc + p->src_bytes + p->gate_bytes;
    atomic_init(&j.status, TG_OK);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    if (p->n_blocks > 1 && tg__tpool_threads_next(p->pool) == 1)
        tg__tpool_run(p->pool, 1, run_all_rows, &j); /* one chunk: the caller, timed by the pool */
    else
        tg__tpool_run(p->pool, p->n_blocks, run_chunk, &j);
    omp_set_num_threads(saved);
    const tg_status st = atomic_load(&j.status);
    return st == TG_OK ? TG_OK : tg__error_prefix("%s", p->name);
}
