/* backend/kernels/kmat.c — choosing the kernels for the CPU, and running a product over row
 * blocks. The CPU is asked once (__builtin_cpu_supports); the library is never built with
 * -march flags, so the vector kernels live in kmat_x86.c behind target attributes. */
#include "kmat_impl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_isa = -1;    /* level in force, -1 = not chosen yet */
static atomic_int g_streams = 4; /* tuning, see tg__kmat_set_tuning */
static atomic_int g_pf = -1;     /* -1: each format's default (pf_default) */

static int32_t cpu_level(void)
{
#if defined(TG_KERNELS_X86)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? TG_KISA_AVX2
                                                                               : TG_KISA_PORTABLE;
    if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni"))
        return TG_KISA_AVX512_BF16_VNNI;
    return TG_KISA_AVX512;
#else
    return TG_KISA_PORTABLE;
#endif
}

/* The level $TEXTGEN_KERNELS caps the CPU's at (unset or unknown: no cap). */
static int32_t env_level(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512", "avx512-bf16-vnni"};
    const char *e = getenv("TEXTGEN_KERNELS");
    for (int32_t i = 0; e && i < (int32_t)(sizeof names / sizeof names[0]); i++)
        if (strcmp(e, names[i]) == 0)
            return i;
    return TG_KISA_AVX512_BF16_VNNI;
}

int32_t tg__kmat_set_isa(int32_t max_level)
{
    const int32_t cpu = cpu_level();
    const int32_t lvl = max_level < 0 ? 0 : max_level < cpu ? max_level : cpu;
    atomic_store(&g_isa, lvl);
    return lvl;
}

int32_t tg__kmat_isa(void)
{
    int32_t lvl = atomic_load(&g_isa);
    if (lvl < 0) {
        const int32_t cap = env_level();
        lvl = cpu_level();
        lvl = lvl < cap ? lvl : cap;
        atomic_store(&g_isa, lvl);
    }
    return lvl;
}

void tg__kmat_set_tuning(int32_t streams, int32_t prefetch_bytes)
{
    atomic_store(&g_streams, streams < 1 ? 1 : streams);
    atomic_store(&g_pf, prefetch_bytes < 0 ? -1 : prefetch_bytes);
}

/* The software prefetch distance of a format when no tuning sets one. f32 panels stream 128
 * bytes a k-step at one row: a non-temporal prefetch 256 bytes ahead of each run made one-thread
 * f32 decode faster in 23 of 32 alternating process pairs (medians x1.01-x1.10 over four sets)
 * and steadier on this project's machine (docs/performance.md, "Issue 12, phase 7"); the same
 * distance in the Q8 tiles made int8 x0.77 slower, and bf16 showed no clear change: they keep
 * none. */
static int32_t pf_default(int32_t fmt)
{
    return fmt == TG_KFMT_F32 ? 256 : 0;
}

static tg_kern_fn kernel_for(int32_t fmt, int32_t *level_used)
{
    int32_t lvl = tg__kmat_isa();
#if defined(TG_KERNELS_X86)
    /* A format a level has no kernel for (U8S8 and Q8 without VNNI, the f32 views on AVX2) takes
     * the best lower level's. */
    for (; lvl > TG_KISA_PORTABLE; lvl--) {
        const tg_kern_fn *t = lvl == TG_KISA_AVX2     ? tg__kern_avx2
                              : lvl == TG_KISA_AVX512 ? tg__kern_avx512
                                                      : tg__kern_avx512_bf16_vnni;
        if (t[fmt]) {
            *level_used = lvl;
            return t[fmt];
        }
    }
#endif
    *level_used = TG_KISA_PORTABLE;
    return tg__kern_portable[fmt];
}

const char *tg__kmat_kernel_name(int32_t fmt)
{
    if (fmt < TG_KFMT_F32 || fmt >= TG_KFMT_COUNT)
        return "none";
    int32_t lvl;
    kernel_for(fmt, &lvl);
    if (lvl == TG_KISA_PORTABLE)
        return "portable";
    if (lvl == TG_KISA_AVX2)
        return "avx2";
    if (lvl == TG_KISA_AVX512)
        return fmt == TG_KFMT_BF16 ? "avx512 (bf16 via fma)" : "avx512";
    return fmt == TG_KFMT_BF16                        ? "avx512bf16"
           : fmt == TG_KFMT_U8S8 || fmt == TG_KFMT_Q8 ? "avx512vnni"
                                                      : "avx512";
}

int32_t tg__kmat_int8_fmt(void)
{
    const char *e = getenv("TEXTGEN_INT8");
    if (e && strcmp(e, "weight-only") == 0)
        return TG_KFMT_S8;
    int32_t lvl;
    kernel_for(TG_KFMT_Q8, &lvl);
    return lvl == TG_KISA_PORTABLE ? TG_KFMT_S8 : TG_KFMT_Q8;
}

void tg__kmat_mul(const tg_kmat *m, const void *act, int64_t M, const float *bias, float *y,
                  int64_t ldy, int64_t p0, int64_t p1)
{
    int32_t lvl;
    const tg_kern_fn fn = kernel_for(m->fmt, &lvl);
    const size_t eb = tg__kact_elem_bytes(m);
    const uint8_t *rows = (const uint8_t *)act + tg__kact_scales_bytes(m, M);
    const int32_t pf = atomic_load_explicit(&g_pf, memory_order_relaxed);
    for (int64_t r0 = 0; r0 < M; r0 += TG_KMAX_M) {
        tg_kcall c = {
            .m = m,
            .act = rows + (size_t)r0 * (size_t)m->Kp * eb,
            .act_ld = m->Kp,
            .xscale = m->fmt == TG_KFMT_U8S8 ? (const float *)act + r0 : NULL,
            .xblk = m->fmt == TG_KFMT_Q8 ? (const tg_kq8blk *)act + r0 * (m->Kp / TG_KQBLK) : NULL,
            .M = M - r0 < TG_KMAX_M ? M - r0 : TG_KMAX_M,
            .bias = bias,
            .y = y + r0 * ldy,
            .ldy = ldy,
            .p0 = p0,
            .p1 = p1,
            .streams = atomic_load_explicit(&g_streams, memory_order_relaxed),
            .pf = pf < 0 ? pf_default(m->fmt) : pf,
        };
        fn(&c);
    }
}
