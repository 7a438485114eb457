/* backend/tensor.h — internal: a read-only view of one weight tensor (the backend's input), its
 * element types, and conversions between them. The model layer fills these views from a file;
 * the backend copies what it needs and never keeps them. */
#ifndef TG_BACKEND_TENSOR_H
#define TG_BACKEND_TENSOR_H

#include "bf16.h" /* tg__bf16_to_f32, used with these tensors */
#include <stddef.h>
#include <stdint.h>

typedef enum tg_dtype { TG_DT_F32 = 0, TG_DT_F16 = 1, TG_DT_BF16 = 2 } tg_dtype;

#define TG_TENSOR_MAX_DIMS 4

typedef struct tg_tensor {
    char *name;
    tg_dtype dtype;
    int ndim;
    int64_t shape[TG_TENSOR_MAX_DIMS];
    int64_t numel;
    const void *data; /* aligned to the element size unless `misaligned` */
    size_t nbytes;
    int misaligned; /* read through memcpy (a file whose data section is not aligned) */
} tg_tensor;

size_t tg__dtype_size(tg_dtype dt);
const char *tg__dtype_name(tg_dtype dt);

/* Convert `n` elements starting at element `offset` of `t` to f32 (exact for every dtype). */
void tg__tensor_to_f32(float *dst, const tg_tensor *t, size_t offset, size_t n);

/* Tell the kernel the backend is done with the (mapped file) pages of `t`: the peak memory of a
 * load stays near the prepared weights plus one source tensor. */
void tg__tensor_release_pages(const tg_tensor *t);

/* f32 -> bf16, rounding to nearest even (NaN stays NaN). */
void tg__f32_to_bf16(uint16_t *dst, const float *src, size_t n);

#endif
