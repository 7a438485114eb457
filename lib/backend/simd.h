/* backend/simd.h — internal: what the hand-written kernels share. GCC/Clang vector extensions
 * (8 floats: SSE pairs on a baseline build, one AVX register in an x86-64-v3/v4 clone) and
 * target_clones, so one source runs at the width of the CPU without compiler flags. Vectors go
 * through memcpy (unaligned, no aliasing assumptions) and are never returned by value (their
 * ABI would depend on the target). */
#ifndef TG_BACKEND_SIMD_H
#define TG_BACKEND_SIMD_H

#include <stdint.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8u16 __attribute__((vector_size(16)));
/* 16 floats: one zmm register in the x86-64-v4 clone, two or four narrower ones elsewhere; lane
 * by lane the same arithmetic as v8f. */
typedef float v16f __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef uint16_t v16u16 __attribute__((vector_size(32)));

#define TG_INLINE static inline __attribute__((always_inline))

/* Not under ThreadSanitizer: its runtime is not ready when the ifunc resolvers that
 * target_clones creates run (at relocation), and an instrumented resolver crashes the process. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TG_CLONES
#endif

/* n elements at p into *out: floats, or bf16 (BF, a constant where this is inlined) widened
 * exactly. For the KV cache's two element types (backend/kv_cache.h): tg__load16 (v16f) and
 * tg__load8 (v8f). */
#define TG_DEFINE_KV_LOAD(NAME, VF, VU, VU16)                                                      \
    TG_INLINE void NAME(VF *out, const void *p, const int BF)                                      \
    {                                                                                              \
        if (BF) {                                                                                  \
            VU16 h;                                                                                \
            memcpy(&h, p, sizeof h);                                                               \
            const VU w = __builtin_convertvector(h, VU) << 16;                                     \
            memcpy(out, &w, sizeof *out);                                                          \
        } else {                                                                                   \
            memcpy(out, p, sizeof *out);                                                           \
        }                                                                                          \
    }
TG_DEFINE_KV_LOAD(tg__load16, v16f, v16u, v16u16)
TG_DEFINE_KV_LOAD(tg__load8, v8f, v8u, v8u16)

/* Element i of p (floats, or bf16 when BF). */
TG_INLINE float tg__load1(const void *p, int64_t i, const int BF)
{
    if (BF) {
        const uint32_t w = (uint32_t)((const uint16_t *)p)[i] << 16;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    return ((const float *)p)[i];
}

/* Sum of the 8 lanes (in a fixed order: results do not depend on the target). */
TG_INLINE float tg__hsum8(const v8f *v)
{
    return (((*v)[0] + (*v)[4]) + ((*v)[1] + (*v)[5])) +
           (((*v)[2] + (*v)[6]) + ((*v)[3] + (*v)[7]));
}

/* e^x for x <= 0 (Cephes' expf: range reduction by ln 2, degree-5 polynomial; relative error
 * about 1e-7; inputs below -87 give e^-87 instead of smaller values). */
TG_INLINE void tg__exp_nonpositive(v8f *xp) /* in place: no vector-typed return (ABI by target) */
{
    v8f x = *xp;
    const v8f lo = x * 0.0f - 87.0f;
    const v8i below = x < lo;
    x = (v8f)(((v8i)x & ~below) | ((v8i)lo & below));
    const v8i n = __builtin_convertvector(x * 1.44269504088896341f - 0.5f, v8i); /* round */
    const v8f nf = __builtin_convertvector(n, v8f);
    const v8f r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
    v8f p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    *xp = p * (v8f)((n + 127) << 23);
}

#endif
