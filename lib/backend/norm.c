/* backend/norm.c — LayerNorm (Hugging Face / oneDNN definition: population variance, eps inside
 * the square root) and RMSNorm (Llama: x / sqrt(mean(x^2) + eps) * w), statistics accumulated in
 * double. A row is a few hundred to a few thousand values: this costs far less than a matmul. */
#include "norm.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tg_status copy_f32(float **out, const tg_tensor *t)
{
    *out = malloc((size_t)t->numel * sizeof(float));
    if (!*out)
        return tg__error(TG_ENOMEM, "out of memory copying tensor '%s'", t->name);
    tg__tensor_to_f32(*out, t, 0, (size_t)t->numel);
    return TG_OK;
}

tg_status tg__norm_init(tg_norm *out, int32_t kind, float eps, const tg_tensor *w,
                        const tg_tensor *b)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->eps = eps;
    out->n = w->numel;
    tg_status st = copy_f32(&out->w, w);
    if (st == TG_OK && b)
        st = copy_f32(&out->b, b);
    return st;
}

void tg__norm_clear(tg_norm *n)
{
    free(n->w);
    free(n->b);
    memset(n, 0, sizeof *n);
}

void tg__norm_rows(const tg_norm *nm, const float *x, size_t M, void *dst, tg_act_type type)
{
    const int64_t n = nm->n;
    for (size_t r = 0; r < M; r++) {
        const float *xr = x + r * (size_t)n;
        double mean = 0.0, var = 0.0;
        if (nm->kind == TG_NORM_LAYER) {
            for (int64_t i = 0; i < n; i++)
                mean += xr[i];
            mean /= (double)n;
            for (int64_t i = 0; i < n; i++)
                var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        } else {
            for (int64_t i = 0; i < n; i++)
                var += (double)xr[i] * (double)xr[i];
        }
        const float m = (float)mean, inv = (float)(1.0 / sqrt(var / (double)n + (double)nm->eps));
        if (type == TG_ACT_F32) {
            float *d = (float *)dst + r * (size_t)n;
            for (int64_t i = 0; i < n; i++)
                d[i] = (xr[i] - m) * inv * nm->w[i] + (nm->b ? nm->b[i] : 0.0f);
        } else {
            uint16_t *d = (uint16_t *)dst + r * (size_t)n;
            for (int64_t i = 0; i < n; i += 256) {
                float tmp[256];
                const int64_t k = n - i < 256 ? n - i : 256;
                for (int64_t j = 0; j < k; j++)
                    tmp[j] = (xr[i + j] - m) * inv * nm->w[i + j] + (nm->b ? nm->b[i + j] : 0.0f);
                tg__f32_to_bf16(d + i, tmp, (size_t)k);
            }
        }
    }
}
