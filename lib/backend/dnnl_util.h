/* backend/dnnl_util.h — internal: oneDNN 2.6 helpers (the process-wide CPU engine, status
 * mapping, matmul construction with implementation checks, element offsets in blocked layouts).
 * Only lib/backend includes dnnl.h. */
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

/* The CPU engine every weight and primitive of the process uses (created once, never freed). */
tg_status tg__dnnl_engine(dnnl_engine_t *out);

/* dnnl_primitive_create, serialised process-wide: every primitive of the library is created
 * through this (oneDNN 2.6's primitive cache under concurrent creation: dnnl_util.c). */
dnnl_status_t tg__dnnl_primitive_create(dnnl_primitive_t *out, const_dnnl_primitive_desc_t pd);

/* Fused post-operation of a matmul. */
typedef enum tg_dnnl_post {
    TG_POST_NONE = 0,
    TG_POST_GELU_TANH,
    TG_POST_GELU_ERF,
    TG_POST_SWISH,      /* x * sigmoid(x) */
    TG_POST_SUM,        /* dst += result */
    TG_POST_BINARY_MUL, /* dst = result * src1, src1 an f32 [M, N] passed at execution */
} tg_dnnl_post;

/* Argument under which a TG_POST_BINARY_MUL operand is passed to tg__prim_exec. */
#define TG_DNNL_ARG_POST_SRC1 (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1)

/* A primitive plus the memory objects that are re-pointed at each execution. */
typedef struct tg_prim {
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, scratch;
    size_t scratch_size;
} tg_prim;

/* Create dst[M,N] = src[M,K] x W + bias (W's memory descriptor is `wmd`, already in its final
 * layout), with a fused post-op. src is `src_dt`; dst is `dst_dt`. `name` is used in logs. */
tg_status tg__matmul_create(tg_prim *out, dnnl_engine_t eng, int64_t M, int64_t K, int64_t N,
                            dnnl_data_type_t src_dt, const dnnl_memory_desc_t *wmd, int has_bias,
                            dnnl_data_type_t dst_dt, tg_dnnl_post post, const char *name);

/* Query the layout oneDNN prefers for the weights of an M=1 matmul K x N (f32 or bf16). */
tg_status tg__matmul_weights_md(dnnl_memory_desc_t *out, dnnl_engine_t eng, int64_t K, int64_t N,
                                dnnl_data_type_t dt);

/* Element offset of logical index `idx` in a (possibly blocked) memory descriptor. */
int64_t tg__dnnl_offset(const dnnl_memory_desc_t *md, const int64_t *idx);

void tg__prim_destroy(tg_prim *p);

/* Execute with extra (weights, bias, ...) args; src/dst/scratch handles are set here. */
tg_status tg__prim_exec(tg_prim *p, dnnl_stream_t stream, const void *src, void *dst, void *scratch,
                        const dnnl_exec_arg_t *extra, int n_extra, const char *what);

/* Log a primitive descriptor's implementation: debug, or a warning for a "ref:" kernel (tens to
 * hundreds of times slower: the descriptor needs fixing). */
void tg__dnnl_note_impl(dnnl_primitive_desc_t pd, const char *name, int64_t M);

#endif
