/* backend/norm.c — LayerNorm (Hugging Face / oneDNN definition: population variance, eps inside
 * the square root) and RMSNorm (Llama: x / sqrt(mean(x^2) + eps) * w). Two passes (mean, then
 * the centred sum of squares) in 8 f32 lanes each combined in double: exact to a few ulp for the
 * row widths of these models, and vectorised (simd.h). */
#include "core/alloc.h"
#include "norm.h"
#include "core/error.h"
#include "simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tg_status copy_f32(float **out, const tg_tensor *t)
{
    *out = tg__malloc((size_t)t->numel * sizeof(float));
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

/* One row: statistics in 8 f32 lanes (then summed in double), the output as f32 or bf16. */
TG_CLONES
static void norm_row(const tg_norm *nm, const float *x, void *dst, tg_act_type type)
{
    const int64_t n = nm->n;
    v8f s = {0}, v;
    int64_t i = 0;
    double mean = 0.0;
    if (nm->kind == TG_NORM_LAYER) {
        for (; i + 8 <= n; i += 8) {
            memcpy(&v, x + i, sizeof v);
            s += v;
        }
        mean = tg__hsum8(&s);
        for (; i < n; i++)
            mean += x[i];
        mean /= (double)n;
    }
    const float m = (float)mean;
    v8f q = {0};
    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&v, x + i, sizeof v);
        v -= m;
        q += v * v;
    }
    double var = tg__hsum8(&q);
    for (; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    const float inv = (float)(1.0 / sqrt(var / (double)n + (double)nm->eps));
    float tmp[256];
    for (int64_t c = 0; c < n; c += 256) {
        const int64_t k = n - c < 256 ? n - c : 256;
        float *o = type == TG_ACT_F32 ? (float *)dst + c : tmp;
        int64_t j = 0;
        for (; j + 8 <= k; j += 8) {
            v8f w, b = {0};
            memcpy(&v, x + c + j, sizeof v);
            memcpy(&w, nm->w + c + j, sizeof w);
            if (nm->b)
                memcpy(&b, nm->b + c + j, sizeof b);
            v = (v - m) * inv * w + b;
            memcpy(o + j, &v, sizeof v);
        }
        for (; j < k; j++)
            o[j] = (x[c + j] - m) * inv * nm->w[c + j] + (nm->b ? nm->b[c + j] : 0.0f);
        if (type == TG_ACT_BF16)
            tg__f32_to_bf16((uint16_t *)dst + c, tmp, (size_t)k);
    }
}

void tg__norm_rows(const tg_norm *nm, const float *x, size_t M, void *dst, tg_act_type type)
{
    const size_t es = type == TG_ACT_BF16 ? 2 : 4;
    for (size_t r = 0; r < M; r++)
        norm_row(nm, x + r * (size_t)nm->n, (char *)dst + r * (size_t)nm->n * es, type);
}
