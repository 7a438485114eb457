/* backend/rope.h — internal: rotary position embeddings in Hugging Face's rotate-half convention
 * (dimension i pairs with i + head_dim/2), with inverse frequencies computed as transformers does
 * (float32), including its "linear" and "llama3" scalings. */
#ifndef TG_BACKEND_ROPE_H
#define TG_BACKEND_ROPE_H

#include "net.h"

/* inv_freq[i], i < head_dim/2. */
void tg__rope_inv_freq(float *inv_freq, const tg_rope_params *r, int32_t head_dim);

/* cos and sin of pos * inv_freq[i] (head_dim/2 values each). */
void tg__rope_angles(float *cos_out, float *sin_out, const float *inv_freq, int32_t half,
                     int32_t pos);

/* Rotate n_heads consecutive heads of head_dim values in place. */
void tg__rope_apply(float *x, int64_t n_heads, int64_t head_dim, const float *cos_v,
                    const float *sin_v);

#endif
