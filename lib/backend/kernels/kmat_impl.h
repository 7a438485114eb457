/* backend/kernels/kmat_impl.h — internal to the kmat kernels: the kernel signature, the
 * activation buffer layout, and the per-ISA kernel tables. */
#ifndef TG_KERNELS_KMAT_IMPL_H
#define TG_KERNELS_KMAT_IMPL_H

#include "kmat.h"

#include <string.h>

/* One kernel call: rows [0, M) of a prepared activation block (M <= TG_KMAX_M), panels
 * [p0, p1), each thread's share read as `streams` concurrent runs, software prefetch `pf` bytes
 * ahead (0 = none). `act` points at the block's first row; act_ld is the row stride in elements
 * (floats, bf16 or u8 by format); `xscale` (U8S8 only) holds the rows' activation scales. */
typedef struct tg_kcall {
    const tg_kmat *m;
    const void *act;
    int64_t act_ld;
    const float *xscale;
    const struct tg_kq8blk *xblk; /* Q8: the rows' per-block records (row r: xblk[r * Kp/32]) */
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
extern const tg_kern_fn tg__kern_avx2[TG_KFMT_COUNT];
extern const tg_kern_fn tg__kern_avx512[TG_KFMT_COUNT];
extern const tg_kern_fn tg__kern_avx512_bf16_vnni[TG_KFMT_COUNT];
/* Q8's activation quantization with AVX-512 (tg__kmat_prepare_rows: rows [r0, r1) of M), the
 * same bits as the C loop. */
void tg__kq8_prepare_avx512(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act,
                            int64_t r0, int64_t r1);
/* Q8's load-time quantization with AVX-512 (kmat_pack.c's pack_q8 and q8_unit's max pass), the
 * same bytes as the C loops: the largest |w[i]| of n values (NaN ignored, 0 for none), and one
 * panel's blocks from its float tile [Kp][32]. */
float tg__kq8_absmax_avx512(const float *w, size_t n);
void tg__kq8_pack_avx512(const tg_kmat *m, const float *tile, uint8_t *panel);
#define TG_KERNELS_X86 1
#endif

/* Q8 activations, per row and block of 32 k: x ~ scale * q with 16-bit q = 256 hi + lo, held
 * as two int8 planes per row ([Kp] hi, then [Kp] lo), and corr = -128 * sum(q) undoes the +128
 * of the u8 weights (vpdpbusd multiplies u8 by s8). `scale` already holds the matrix's
 * q8_unit, so a block adds (float)(256 dot(w, hi) + dot(w, lo) + corr) * (f16 w scale * scale). */
#define TG_KQ8_XMAX 32512.0f /* max |q|: 127 * 256, so hi stays in [-127, 127] */
typedef struct tg_kq8blk {
    float scale;
    int32_t corr;
} tg_kq8blk;

/* Bytes of one Q8 block in a panel: 32 k x 32 columns of u8, then 32 f16 column scales. */
#define TG_KQ8_BLOCK_BYTES (TG_KQBLK * TG_KPANEL + TG_KPANEL * 2)

/* Rows from which a Q8 product is bound by the VNNI unit rather than by memory, and kern_q8's
 * tiles prefetch the next panel. 2 rows consume a panel faster than memory delivers it (4
 * vpdpbusd per 128 bytes): there the prefetch only competed with the demand loads
 * (bench_kernels' 2-row sweep 5.1 -> 6.3 ms), from 3 rows on it gained. tg__kmat_chunks cuts
 * such products into few chunks. */
#define TG_KQ8_PREFETCH_M 3

/* Activation buffer: for U8S8 the M row scales first, for Q8 the M x Kp/32 block records (each
 * padded to 64 bytes), then the rows. */
static inline size_t tg__kact_scales_bytes(const tg_kmat *m, int64_t M)
{
    const size_t b = m->fmt == TG_KFMT_U8S8 ? (size_t)M * sizeof(float)
                     : m->fmt == TG_KFMT_Q8
                         ? (size_t)M * (size_t)(m->Kp / TG_KQBLK) * sizeof(tg_kq8blk)
                         : 0;
    return (b + 63) / 64 * 64;
}
static inline size_t tg__kact_elem_bytes(const tg_kmat *m)
{
    return m->fmt == TG_KFMT_BF16 || m->fmt == TG_KFMT_Q8 ? 2 /* Q8: hi and lo bytes */
           : m->fmt == TG_KFMT_U8S8                       ? 1
                                                          : 4;
}

/* IEEE half -> float, exact (Q8's block scales; the vector kernels use vcvtph2ps). */
static inline float tg__f16_to_f32(uint16_t h)
{
    const uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    float f;
    if (e == 0) {
        f = (float)mant * 5.9604644775390625e-8f; /* subnormal: mant * 2^-24 */
    } else {
        const uint32_t b = (e == 31 ? 0x7f800000u : (e + 112u) << 23) | (mant << 13);
        memcpy(&f, &b, 4);
    }
    return (h & 0x8000u) ? -f : f;
}

/* Store a finished column block of one row: out[j] = acc[j] (+ bias), j < n. */
static inline void tg__kstore(float *out, const float *acc, const float *bias, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        out[j] = acc[j] + (bias ? bias[j] : 0.0f);
}

#endif
