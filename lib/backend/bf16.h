/* backend/bf16.h — internal: the backend's one f32 <-> bf16 rule. Narrowing rounds to nearest
 * even and keeps a NaN a (quiet) NaN; widening is exact. tensor.c's vector loop applies the same
 * rule 8 lanes at a time. */
#ifndef TG_BACKEND_BF16_H
#define TG_BACKEND_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint16_t tg__bf16_from_f32(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x40);                   /* quiet NaN */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16); /* round to nearest even */
}

static inline float tg__bf16_to_f32(uint16_t h)
{
    const uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

#endif
