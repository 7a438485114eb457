/* model/safetensors.h — internal: a validated, memory-mapped safetensors file. */
#ifndef TG_MODEL_SAFETENSORS_H
#define TG_MODEL_SAFETENSORS_H

#include "core/fileutil.h"
#include <glib.h>

typedef enum tg_dtype { TG_DT_F32 = 0, TG_DT_F16 = 1, TG_DT_BF16 = 2 } tg_dtype;

#define TG_ST_MAX_DIMS 4

typedef struct tg_st_tensor {
    char *name;
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* inside the mapping; aligned to the element size unless `misaligned` */
    size_t nbytes;
    int misaligned; /* the file's data section is not aligned: read through memcpy */
} tg_st_tensor;

typedef struct tg_safetensors {
    char *path;
    tg_mapped_file file;
    tg_st_tensor *tensors;
    size_t n_tensors;
    GHashTable *by_name; /* name -> tg_st_tensor* */
} tg_safetensors;

/* Open and validate: header bounds, JSON, dtypes, shapes, offsets (in range, aligned,
 * non-overlapping, no holes). Errors name the file and the tensor. Ignored tensors (other
 * dtypes such as buffers) are still validated for bounds. */
tg_status tg__safetensors_open(tg_safetensors *out, const char *path);
void tg__safetensors_close(tg_safetensors *st);
const tg_st_tensor *tg__safetensors_find(const tg_safetensors *st, const char *name);

size_t tg__dtype_size(tg_dtype dt);
const char *tg__dtype_name(tg_dtype dt);

/* Convert `n` elements starting at element `offset` of tensor `t` to f32. */
void tg__tensor_to_f32(float *dst, const tg_st_tensor *t, size_t offset, size_t n);

#endif
