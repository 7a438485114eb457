/* backend/backend_internal.h — internal to lib/backend: the prepared weights. */
#ifndef TG_BACKEND_INTERNAL_H
#define TG_BACKEND_INTERNAL_H

#include "backend.h"
#include "dnnl_util.h"

/* A matrix in oneDNN's preferred layout plus its optional f32 bias. */
typedef struct tg_bmat {
    dnnl_memory_t w;
    float *bias; /* NULL when the model has none */
    dnnl_memory_t bias_mem;
    size_t bytes;
} tg_bmat;

typedef struct tg_bnorm {
    float *scale, *shift; /* shift NULL when the model has no LayerNorm bias */
    dnnl_memory_t scale_mem, shift_mem;
} tg_bnorm;

typedef struct tg_blayer {
    tg_bnorm ln1, ln2;
    tg_bmat qkv, aproj, fc, mproj;
} tg_blayer;

struct tg_backend_model {
    dnnl_engine_t engine;
    dnnl_data_type_t wdt;                                        /* dnnl_f32 or dnnl_bf16 */
    dnnl_memory_desc_t md_qkv, md_aproj, md_fc, md_mproj, md_lm; /* weight layouts */
    tg_blayer *layers;
    int32_t n_layer;
    tg_bnorm lnf;
    tg_bmat lm; /* output layer, K = n_embd, N = n_vocab */
    uint64_t weight_bytes;
};

#endif
