/* backend/dnnl_util.c — oneDNN 2.6 primitive construction. Every primitive's implementation
 * name is logged (TG_LOG_DEBUG) and a reference ("ref:") kernel is reported as a warning: such a
 * kernel is tens to hundreds of times slower and means the descriptor needs fixing. */
#include "dnnl_util.h"
#include "core/error.h"

#include <pthread.h>
#include <string.h>

tg_status tg__dnnl_check(dnnl_status_t s, const char *what)
{
    if (s == dnnl_out_of_memory)
        return tg__error(TG_ENOMEM, "oneDNN: out of memory in %s", what);
    const char *why = s == dnnl_unimplemented       ? "no implementation for this configuration"
                      : s == dnnl_invalid_arguments ? "invalid arguments"
                                                    : "runtime error";
    return tg__error(TG_EBACKEND, "oneDNN: %s failed (status %d: %s)", what, (int)s, why);
}

static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
}

tg_status tg__dnnl_engine(dnnl_engine_t *out)
{
    pthread_once(&engine_once, engine_init);
    *out = engine;
    return engine_status == dnnl_success ? TG_OK
                                         : tg__dnnl_check(engine_status, "CPU engine creation");
}

/* oneDNN 2.6 looks every new primitive up in its process-wide primitive cache. Sessions created
 * on several threads at once made ThreadSanitizer report a race inside that lookup (a key's bytes
 * compared under the cache's read lock against a block another thread's insertion had just
 * allocated; fdc test, 2026-11-28) that we cannot inspect in the uninstrumented library. Creation
 * is rare (once per session and weight layout) and takes milliseconds of JIT, so it is simply
 * serialised: no two threads are ever inside the cache, whatever its locking does. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

dnnl_status_t tg__dnnl_primitive_create(dnnl_primitive_t *out, const_dnnl_primitive_desc_t pd)
{
    pthread_mutex_lock(&create_lock);
    dnnl_status_t s = dnnl_primitive_create(out, pd);
    pthread_mutex_unlock(&create_lock);
    return s;
}

void tg__dnnl_note_impl(dnnl_primitive_desc_t pd, const char *name, int64_t M)
{
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (strncmp(impl, "ref", 3) == 0)
        tg__log(TG_LOG_WARN, "primitive %s (M=%lld) uses the slow reference kernel %s", name,
                (long long)M, impl);
    else
        tg__log(TG_LOG_DEBUG, "primitive %s (M=%lld): %s", name, (long long)M, impl);
}

static tg_status finish(tg_prim *out, dnnl_primitive_desc_t pd, dnnl_engine_t eng,
                        const dnnl_memory_desc_t *src_md, const dnnl_memory_desc_t *dst_md,
                        const char *name, int64_t M)
{
    tg__dnnl_note_impl(pd, name, M);
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    out->scratch_size = sp ? dnnl_memory_desc_get_size(sp) : 0;
    dnnl_status_t s = tg__dnnl_primitive_create(&out->prim, pd);
    if (s == dnnl_success)
        s = dnnl_memory_create(&out->src, src_md, eng, DNNL_MEMORY_NONE);
    if (s == dnnl_success)
        s = dnnl_memory_create(&out->dst, dst_md, eng, DNNL_MEMORY_NONE);
    if (s == dnnl_success && out->scratch_size)
        s = dnnl_memory_create(&out->scratch, sp, eng, DNNL_MEMORY_NONE);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) {
        tg__prim_destroy(out);
        return tg__dnnl_check(s, name);
    }
    return TG_OK;
}

static dnnl_status_t append_post(dnnl_post_ops_t po, tg_dnnl_post post, int64_t M, int64_t N)
{
    switch (post) {
    case TG_POST_NONE:
        return dnnl_success;
    case TG_POST_SUM:
        return dnnl_post_ops_append_sum(po, 1.0f);
    case TG_POST_GELU_TANH:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_tanh, 0.0f, 0.0f);
    case TG_POST_GELU_ERF:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
    case TG_POST_SWISH:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.0f, 0.0f);
    case TG_POST_BINARY_MUL: {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = {M, N};
        dnnl_status_t s = dnnl_memory_desc_init_by_tag(&md, 2, d, dnnl_f32, dnnl_ab);
        return s == dnnl_success ? dnnl_post_ops_append_binary(po, dnnl_binary_mul, &md) : s;
    }
    }
    return dnnl_invalid_arguments;
}

tg_status tg__matmul_create(tg_prim *out, dnnl_engine_t eng, int64_t M, int64_t K, int64_t N,
                            dnnl_data_type_t src_dt, const dnnl_memory_desc_t *wmd, int has_bias,
                            dnnl_data_type_t dst_dt, tg_dnnl_post post, const char *name)
{
    memset(out, 0, sizeof *out);
    dnnl_memory_desc_t src_md, dst_md, bias_md;
    dnnl_dims_t sd = {M, K}, dd = {M, N}, bd = {1, N};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, src_dt, dnnl_ab), name);
    TG_DNNL(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dst_dt, dnnl_ab), name);
    TG_DNNL(dnnl_memory_desc_init_by_tag(&bias_md, 2, bd, dnnl_f32, dnnl_ab), name);
    dnnl_matmul_desc_t md;
    TG_DNNL(dnnl_matmul_desc_init(&md, &src_md, wmd, has_bias ? &bias_md : NULL, &dst_md), name);

    dnnl_primitive_attr_t attr;
    TG_DNNL(dnnl_primitive_attr_create(&attr), name);
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_post_ops_t po = NULL;
    if (s == dnnl_success && post != TG_POST_NONE) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success)
            s = append_post(po, post, M, N);
        if (s == dnnl_success)
            s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return tg__dnnl_check(s, name);
    return finish(out, pd, eng, &src_md, &dst_md, name, M);
}

tg_status tg__matmul_weights_md(dnnl_memory_desc_t *out, dnnl_engine_t eng, int64_t K, int64_t N,
                                dnnl_data_type_t dt)
{
    dnnl_memory_desc_t src_md, w_md, dst_md;
    dnnl_dims_t sd = {1, K}, wd = {K, N}, dd = {1, N};
    TG_DNNL(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab), "weights layout query");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&w_md, 2, wd, dt, dnnl_format_tag_any),
            "weights layout query");
    TG_DNNL(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab),
            "weights layout query");
    dnnl_matmul_desc_t md;
    TG_DNNL(dnnl_matmul_desc_init(&md, &src_md, &w_md, NULL, &dst_md), "weights layout query");
    dnnl_primitive_desc_t pd;
    TG_DNNL(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL), "weights layout query");
    *out = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    return TG_OK;
}

int64_t tg__dnnl_offset(const dnnl_memory_desc_t *md, const int64_t *idx)
{
    const dnnl_blocking_desc_t *blk = &md->format_desc.blocking;
    int64_t pos[DNNL_MAX_NDIMS];
    for (int d = 0; d < md->ndims; d++)
        pos[d] = idx[d];
    int64_t off = md->offset0, stride = 1;
    for (int i = blk->inner_nblks - 1; i >= 0; i--) { /* innermost block first */
        const int d = (int)blk->inner_idxs[i];
        off += (pos[d] % blk->inner_blks[i]) * stride;
        pos[d] /= blk->inner_blks[i];
        stride *= blk->inner_blks[i];
    }
    for (int d = 0; d < md->ndims; d++)
        off += pos[d] * blk->strides[d];
    return off;
}

void tg__prim_destroy(tg_prim *p)
{
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    if (p->src)
        dnnl_memory_destroy(p->src);
    if (p->dst)
        dnnl_memory_destroy(p->dst);
    if (p->scratch)
        dnnl_memory_destroy(p->scratch);
    memset(p, 0, sizeof *p);
}

tg_status tg__prim_exec(tg_prim *p, dnnl_stream_t stream, const void *src, void *dst, void *scratch,
                        const dnnl_exec_arg_t *extra, int n_extra, const char *what)
{
    dnnl_exec_arg_t args[8];
    int n = 0;
    TG_DNNL(dnnl_memory_set_data_handle(p->src, (void *)src), what);
    TG_DNNL(dnnl_memory_set_data_handle(p->dst, dst), what);
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->src};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->dst};
    if (p->scratch) {
        TG_DNNL(dnnl_memory_set_data_handle(p->scratch, scratch), what);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    }
    for (int i = 0; i < n_extra && n < 8; i++)
        args[n++] = extra[i];
    TG_DNNL(dnnl_primitive_execute(p->prim, stream, n, args), what);
    return TG_OK;
}
