/* backend/dnnl_util.h — internal: oneDNN 2.6 helpers (status mapping, matmul and layer-norm
 * primitive construction with implementation checks). */
#ifndef TG_BACKEND_DNNL_UTIL_H
#define TG_BACKEND_DNNL_UTIL_H

#include <oneapi/dnnl/dnnl.h>
#include <textgen/common.h>

/* Map a oneDNN status to TG_EBACKEND (or TG_ENOMEM) with a message naming `what`. */
tg_status tg__dnnl_check(dnnl_status_t s, const char *what);

#define TG_DNNL(call, what)                                                                        \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success)                                                                    \
            return tg__dnnl_check(s_, what);                                                       \
    } while (0)

/* Fused epilogue of a matmul. */
typedef enum tg_epilogue {
    TG_EPI_NONE = 0,
    TG_EPI_GELU_TANH,
    TG_EPI_GELU_ERF,
    TG_EPI_SUM /* dst += result: accumulate into the residual stream */
} tg_epilogue;

/* A primitive plus the memory objects that are re-pointed at each execution. */
typedef struct tg_prim {
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, scratch;
    size_t scratch_size;
} tg_prim;

/* Create dst[M,N] = src[M,K] x W + bias (W's memory descriptor is `wmd`, already in its final
 * layout), with a fused epilogue. src is `src_dt`; dst is `dst_dt`. `name` is used in logs. */
tg_status tg__matmul_create(tg_prim *out, dnnl_engine_t eng, int64_t M, int64_t K, int64_t N,
                            dnnl_data_type_t src_dt, const dnnl_memory_desc_t *wmd, int has_bias,
                            dnnl_data_type_t dst_dt, tg_epilogue epi, const char *name);

/* Query the layout oneDNN prefers for the weights of an M=1 matmul K x N (f32 or bf16). */
tg_status tg__matmul_weights_md(dnnl_memory_desc_t *out, dnnl_engine_t eng, int64_t K, int64_t N,
                                dnnl_data_type_t dt);

/* Layer normalisation over the last dim of an f32 [M, C] tensor, with scale and optional shift. */
tg_status tg__layernorm_create(tg_prim *out, dnnl_engine_t eng, int64_t M, int64_t C, float eps,
                               int has_shift, const char *name);

void tg__prim_destroy(tg_prim *p);

/* Execute with extra (weights, bias, ...) args; src/dst/scratch handles are set here. */
tg_status tg__prim_exec(tg_prim *p, dnnl_stream_t stream, void *src, void *dst, void *scratch,
                        const dnnl_exec_arg_t *extra, int n_extra, const char *what);

#endif
