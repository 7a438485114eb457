/* backend/kernels/kmat_impl.h — internal to the kmat kernels: the kernel signature, the
 * activation buffer layout, and the per-ISA kernel tables. */
#ifndef TG_KERNELS_KMAT_IMPL_H
#define TG_KERNELS_KMAT_IMPL_H

#include "kmat.h"

/* One kernel call: rows [0, M) of a prepared activation block (M <= TG_KMAX_M), panels
 * [p0, p1), each thread's share read as `streams` concurrent runs, software prefetch `pf` bytes
 * ahead (0 = none). `act` points at the block's first row; act_ld is the row stride in elements
 * (floats, bf16 or u8 by format); `xscale` (U8S8 only) holds the rows' activation scales. */
typedef struct tg_kcall {
    const tg_kmat *m;
    const void *act;
    int64_t act_ld;
    const float *xscale;
    int64_t M;
    const float *bias;
    float *y;
    int64_t ldy;
    int64_t p0, p1;
    int32_t streams, pf;
} tg_kcall;

typedef void (*tg_kern_fn)(const tg_kcall *c);

/* Kernels by format (index = enum tg_kfmt; NULL = not available at this level). */
extern const tg_kern_fn tg__kern_portable[TG_KFMT_COUNT];
#if defined(__x86_64__) && defined(__GNUC__)
extern const tg_kern_fn tg__kern_avx512[TG_KFMT_COUNT];
extern const tg_kern_fn tg__kern_avx512_bf16_vnni[TG_KFMT_COUNT];
#define TG_KERNELS_X86 1
#endif

/* Activation buffer: for U8S8 the M row scales first (padded to 64 bytes), then the rows. */
static inline size_t tg__kact_scales_bytes(const tg_kmat *m, int64_t M)
{
    return m->fmt == TG_KFMT_U8S8 ? ((size_t)M * sizeof(float) + 63) / 64 * 64 : 0;
}
static inline size_t tg__kact_elem_bytes(const tg_kmat *m)
{
    return m->fmt == TG_KFMT_BF16 ? 2 : m->fmt == TG_KFMT_U8S8 ? 1 : 4;
}

/* Store a finished column block of one row: out[j] = acc[j] (+ bias), j < n. */
static inline void tg__kstore(float *out, const float *acc, const float *bias, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        out[j] = acc[j] + (bias ? bias[j] : 0.0f);
}

#endif
