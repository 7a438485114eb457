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

#define TG_INLINE static inline __attribute__((always_inline))

/* Not under ThreadSanitizer: its runtime is not ready when the ifunc resolvers that
 * target_clones creates run (at relocation), and an instrumented resolver crashes the process. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TG_CLONES
#endif

/* Sum of the 8 lanes (in a fixed order: results do not depend on the target). */
TG_INLINE float tg__hsum8(const v8f *v)
{
    return (((*v)[0] + (*v)[4]) + ((*v)[1] + (*v)[5])) +
           (((*v)[2] + (*v)[6]) + ((*v)[3] + (*v)[7]));
}

#endif
