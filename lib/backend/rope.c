/* backend/rope.c — rotary embeddings. The arithmetic follows transformers'
 * modeling_rope_utils.py step by step in float32 (the angles of a model are what its training
 * used), with cos and sin of each float32 angle rounded from double. */
#include "rope.h"

#include <math.h>

void tg__rope_inv_freq(float *inv_freq, const tg_rope_params *r, int32_t head_dim)
{
    const int32_t half = head_dim / 2;
    for (int32_t i = 0; i < half; i++) {
        const float e = (float)(2 * i) / (float)head_dim;
        inv_freq[i] = 1.0f / powf((float)r->theta, e);
    }
    if (r->scaling == TG_ROPE_LINEAR) {
        for (int32_t i = 0; i < half; i++)
            inv_freq[i] /= (float)r->factor;
    } else if (r->scaling == TG_ROPE_LLAMA3) {
        const float factor = (float)r->factor;
        const float low_wavelen = (float)(r->original_ctx / r->low_freq_factor);
        const float high_wavelen = (float)(r->original_ctx / r->high_freq_factor);
        for (int32_t i = 0; i < half; i++) {
            const float f = inv_freq[i], wavelen = (float)(2.0 * M_PI) / f;
            float g = wavelen > low_wavelen ? f / factor : f; /* long waves: interpolate */
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) { /* in between: blend */
                const float smooth =
                    ((float)r->original_ctx / wavelen - (float)r->low_freq_factor) /
                    (float)(r->high_freq_factor - r->low_freq_factor);
                g = (1.0f - smooth) * g / factor + smooth * g;
            }
            inv_freq[i] = g;
        }
    }
}

void tg__rope_angles(float *cos_out, float *sin_out, const float *inv_freq, int32_t half,
                     int32_t pos)
{
    for (int32_t i = 0; i < half; i++) {
        const float a = inv_freq[i] * (float)pos;
        cos_out[i] = (float)cos((double)a);
        sin_out[i] = (float)sin((double)a);
    }
}

void tg__rope_apply(float *x, int64_t n_heads, int64_t head_dim, const float *cos_v,
                    const float *sin_v)
{
    const int64_t half = head_dim / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *a = x + h * head_dim, *b = a + half;
        for (int64_t i = 0; i < half; i++) {
            const float x1 = a[i], x2 = b[i];
            a[i] = x1 * cos_v[i] - x2 * sin_v[i];
            b[i] = x2 * cos_v[i] + x1 * sin_v[i];
        }
    }
}
