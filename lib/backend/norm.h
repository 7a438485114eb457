/* backend/norm.h — internal: LayerNorm and RMSNorm over the rows of the f32 residual stream,
 * written in the element type the next linear reads. */
#ifndef TG_BACKEND_NORM_H
#define TG_BACKEND_NORM_H

#include "linear.h"

typedef struct tg_norm {
    int32_t kind; /* enum tg_norm_kind */
    float eps;
    int64_t n;
    float *w, *b; /* b NULL: no shift */
} tg_norm;

/* Copy the parameters (any dtype) as f32. */
tg_status tg__norm_init(tg_norm *out, int32_t kind, float eps, const tg_tensor *w,
                        const tg_tensor *b);
void tg__norm_clear(tg_norm *n);

/* dst[i] = norm(x[i]) for M rows of n values; dst holds `type` elements. */
void tg__norm_rows(const tg_norm *nm, const float *x, size_t M, void *dst, tg_act_type type);

#endif
