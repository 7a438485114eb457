/* model/safetensors.h — internal: a validated, memory-mapped safetensors file. */
#ifndef TG_MODEL_SAFETENSORS_H
#define TG_MODEL_SAFETENSORS_H

#include "backend/tensor.h"
#include "core/fileutil.h"
#include <glib.h>

/* A tensor of the file: a view into the mapping (backend/tensor.h). */
typedef tg_tensor tg_st_tensor;
#define TG_ST_MAX_DIMS TG_TENSOR_MAX_DIMS

typedef struct tg_safetensors {
    char *path;
    tg_mapped_file file;
    tg_st_tensor *tensors;
    size_t n_tensors;
    GHashTable *by_name; /* name -> tg_st_tensor* */
    char **other;        /* names of tensors of other dtypes (I64, BOOL, ...): not computed with */
    char **other_dtype;  /* their dtypes */
    size_t n_other;
} tg_safetensors;

/* Open and validate: header bounds, JSON, dtypes, shapes, offsets (in range, aligned,
 * non-overlapping, no holes). Errors name the file and the tensor. Ignored tensors (other
 * dtypes such as buffers) are still validated for bounds. */
tg_status tg__safetensors_open(tg_safetensors *out, const char *path);
void tg__safetensors_close(tg_safetensors *st);
const tg_st_tensor *tg__safetensors_find(const tg_safetensors *st, const char *name);

#endif
