/* backend/tensor.c — element types of weight tensors and the conversions between them. */
#include "tensor.h"
#include "core/fileutil.h"
#include "simd.h"

#include <string.h>

size_t tg__dtype_size(tg_dtype dt)
{
    return dt == TG_DT_F32 ? 4 : 2;
}

const char *tg__dtype_name(tg_dtype dt)
{
    switch (dt) {
    case TG_DT_F32:
        return "F32";
    case TG_DT_F16:
        return "F16";
    case TG_DT_BF16:
        return "BF16";
    }
    return "?";
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void tg__tensor_to_f32(float *dst, const tg_tensor *t, size_t offset, size_t n)
{
    const unsigned char *src = (const unsigned char *)t->data + offset * tg__dtype_size(t->dtype);
    switch (t->dtype) {
    case TG_DT_F32:
        memcpy(dst, src, n * 4);
        break;
    case TG_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        break;
    case TG_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = tg__bf16_to_f32(h);
        }
        break;
    }
}

/* Static: a target_clones function becomes an ifunc, which must not be exported. */
TG_CLONES
static void to_bf16(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { /* bf16.h's rule, 8 lanes at a time */
        v8u b;
        memcpy(&b, src + i, sizeof b);
        const v8u nan = (v8u)((b & 0x7fffffffu) > 0x7f800000u); /* all ones where NaN */
        const v8u r = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16, q = (b >> 16) | 0x40u;
        const v8u16 h = __builtin_convertvector((r & ~nan) | (q & nan), v8u16);
        memcpy(dst + i, &h, sizeof h);
    }
    for (; i < n; i++)
        dst[i] = tg__bf16_from_f32(src[i]);
}

void tg__f32_to_bf16(uint16_t *dst, const float *src, size_t n)
{
    to_bf16(dst, src, n);
}

void tg__tensor_release_pages(const tg_tensor *t)
{
    tg__file_release(t->data, t->nbytes);
}
