/* backend/pos_table.c — the learned-position table at the weights' precision (pos_table.h). */
#include "pos_table.h"
#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tg_pos_fmt tg__pos_fmt_for(tg_precision precision)
{
    return precision == TG_PREC_INT8   ? TG_POS_FMT_Q8
           : precision == TG_PREC_BF16 ? TG_POS_FMT_BF16
                                       : TG_POS_FMT_F32;
}

static size_t q8_blocks(int64_t cols)
{
    return (size_t)((cols + TG_POS_Q8_BLOCK - 1) / TG_POS_Q8_BLOCK);
}

static size_t row_bytes(tg_pos_fmt fmt, int64_t cols)
{
    const size_t C = (size_t)cols;
    switch (fmt) {
    case TG_POS_FMT_BF16:
        return (C * 2 + 3) & ~(size_t)3;
    case TG_POS_FMT_Q8: /* the f32 scales first keeps them aligned in every row */
        return (q8_blocks(cols) * sizeof(float) + C + 3) & ~(size_t)3;
    default:
        return C * sizeof(float);
    }
}

/* One row of f32 values to int8 blocks of TG_POS_Q8_BLOCK with a scale of absmax / 127 each
 * (round to nearest): |x - scale * q| <= scale / 2. */
static void q8_row(uint8_t *dst, const float *x, int64_t cols)
{
    float *scale = (float *)(void *)dst;
    int8_t *q = (int8_t *)(dst + q8_blocks(cols) * sizeof(float));
    for (int64_t b0 = 0, i = 0; b0 < cols; b0 += TG_POS_Q8_BLOCK, i++) {
        const int64_t n = cols - b0 < TG_POS_Q8_BLOCK ? cols - b0 : TG_POS_Q8_BLOCK;
        float amax = 0;
        for (int64_t k = 0; k < n; k++)
            amax = fmaxf(amax, fabsf(x[b0 + k]));
        scale[i] = amax / 127.0f;
        /* amax 0: every q is 0; a non-finite amax gives a non-finite row, as the f32 one would */
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        for (int64_t k = 0; k < n; k++) /* fminf/fmaxf first: NaN becomes 127, no UB */
            q[b0 + k] = (int8_t)lrintf(fmaxf(fminf(x[b0 + k] * inv, 127.0f), -127.0f));
    }
}

tg_status tg__pos_table_init(tg_pos_table *t, const tg_tensor *src, tg_pos_fmt fmt)
{
    memset(t, 0, sizeof *t);
    if (src->ndim != 2 || src->shape[0] < 1 || src->shape[1] < 1)
        return tg__error(TG_EFORMAT, "'%s' is not a [positions, n_embd] matrix", src->name);
    const int64_t R = src->shape[0], C = src->shape[1];
    const size_t rb = row_bytes(fmt, C);
    t->data = tg__malloc_array((size_t)R, rb);
    float *row = fmt == TG_POS_FMT_F32 ? NULL : tg__malloc_array((size_t)C, sizeof *row);
    if (!t->data || (fmt != TG_POS_FMT_F32 && !row)) {
        free(row);
        tg__pos_table_clear(t);
        return tg__error(TG_ENOMEM, "out of memory copying '%s'", src->name);
    }
    t->fmt = fmt;
    t->rows = R;
    t->cols = C;
    t->row_bytes = rb;
    for (int64_t r = 0; r < R; r++) {
        uint8_t *dst = t->data + (size_t)r * rb;
        if (fmt == TG_POS_FMT_F32) {
            tg__tensor_to_f32((float *)(void *)dst, src, (size_t)(r * C), (size_t)C);
            continue;
        }
        tg__tensor_to_f32(row, src, (size_t)(r * C), (size_t)C);
        if (fmt == TG_POS_FMT_BF16)
            tg__f32_to_bf16((uint16_t *)(void *)dst, row, (size_t)C);
        else
            q8_row(dst, row, C);
    }
    free(row);
    return TG_OK;
}

void tg__pos_table_clear(tg_pos_table *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

void tg__pos_table_add(const tg_pos_table *t, int64_t pos, float *x)
{
    const uint8_t *src = t->data + (size_t)pos * t->row_bytes;
    const int64_t C = t->cols;
    if (t->fmt == TG_POS_FMT_F32) {
        const float *p = (const float *)(const void *)src;
        for (int64_t k = 0; k < C; k++)
            x[k] += p[k];
    } else if (t->fmt == TG_POS_FMT_BF16) {
        const uint16_t *p = (const uint16_t *)(const void *)src;
        for (int64_t k = 0; k < C; k++)
            x[k] += tg__bf16_to_f32(p[k]);
    } else {
        const float *scale = (const float *)(const void *)src;
        const int8_t *q = (const int8_t *)(src + q8_blocks(C) * sizeof(float));
        for (int64_t b0 = 0, i = 0; b0 < C; b0 += TG_POS_Q8_BLOCK, i++) {
            const int64_t n = C - b0 < TG_POS_Q8_BLOCK ? C - b0 : TG_POS_Q8_BLOCK;
            for (int64_t k = b0; k < b0 + n; k++)
                x[k] += scale[i] * (float)q[k];
        }
    }
}

size_t tg__pos_table_bytes(const tg_pos_table *t)
{
    return (size_t)t->rows * t->row_bytes;
}
