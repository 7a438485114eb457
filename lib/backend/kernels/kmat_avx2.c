/* backend/kernels/kmat_avx2.c — AVX2 + FMA kernels (x86-64-v3: the x86 CPUs without AVX-512,
 * most desktops and laptops) for the f32, bf16 and weight-only int8 (S8) panels of kmat.h. The
 * portable C loops read bf16 and int8 panels 3-4x below the memory's rate there, and at 8 rows
 * (beam search, batches) every format 4-30x below what these do.
 *
 * A panel (32 columns) is four ymm registers wide. One row reads its share of the panels as two
 * runs side by side (two memory streams, 8 accumulators); more rows go through each panel two at
 * a time, so a call of M rows reads a panel once from memory and again from the L2 cache for every
 * further pair of rows. Every column is one sum in k order — one FMA per k (bf16:
 * the even k of a pair, then the odd one) — whatever M and the split, so row counts and thread
 * counts give the same bits (tested). Q8 and U8S8 need VNNI: the int8 format on these CPUs is S8
 * (tg__kmat_int8_fmt). */
#include "kmat_impl.h"

#if defined(TG_KERNELS_X86)

#include <immintrin.h>

#define TGT_AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* Load the 8 weights of columns [8q, 8q + 8) of an f32 or S8 panel at step k, as f32. */
INLINE TGT_AVX2 __m256 w8(const uint8_t *panel, int64_t k, int q, const int fmt)
{
    return fmt == TG_KFMT_S8 ? _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                   _mm_loadl_epi64((const __m128i *)(panel + k * 32 + 8 * q))))
                             : _mm256_load_ps((const float *)(panel + k * 128) + 8 * q);
}

/* Two slots of 32 accumulated columns: either two rows of one panel (rows = 1: the weights are
 * loaded once for both), or one row of two panels read side by side (rows = 0: two memory
 * streams, what one row needs to read at the memory's rate). n = 1 or 2 slots. Slot i is row
 * row[i] of the panel starting at column n0[i]. fmt and rows are constants in every
 * instantiation. */
typedef struct slots {
    const uint8_t *panel[2];
    int64_t n0[2], row[2];
} slots;

INLINE TGT_AVX2 void run_slots(const tg_kcall *c, const slots *sl, const int n, const int rows,
                               const int fmt)
{
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int i = 0; i < n; i++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            acc[i][q] = _mm256_setzero_ps();
    const int64_t Kp = c->m->Kp, ld = c->act_ld;
    if (fmt == TG_KFMT_BF16) {
        const __m256i hi = _mm256_set1_epi32((int32_t)0xffff0000u);
        for (int64_t kk = 0; kk < Kp / 2; kk++) {
            __m256 xe[2], xo[2];
#pragma GCC unroll 2
            for (int i = 0; i < n; i++) {
                const uint16_t *x = (const uint16_t *)c->act + sl->row[i] * ld + 2 * kk;
                xe[i] = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)((uint32_t)x[0] << 16)));
                xo[i] = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)((uint32_t)x[1] << 16)));
            }
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                /* 8 columns' k-pairs: the even k in each lane's low half, the odd in its high */
                __m256 e[2], o[2];
                for (int i = 0; i < (rows ? 1 : n); i++) {
                    const __m256i a =
                        _mm256_load_si256((const __m256i *)(sl->panel[i] + kk * 128 + 32 * q));
                    e[i] = _mm256_castsi256_ps(_mm256_slli_epi32(a, 16));
                    o[i] = _mm256_castsi256_ps(_mm256_and_si256(a, hi));
                }
#pragma GCC unroll 2
                for (int i = 0; i < n; i++) {
                    const int j = rows ? 0 : i;
                    acc[i][q] =
                        _mm256_fmadd_ps(xo[i], o[j], _mm256_fmadd_ps(xe[i], e[j], acc[i][q]));
                }
            }
        }
    } else {
        for (int64_t k = 0; k < Kp; k++) {
            __m256 xb[2];
#pragma GCC unroll 2
            for (int i = 0; i < n; i++)
                xb[i] = _mm256_broadcast_ss((const float *)c->act + sl->row[i] * ld + k);
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                __m256 w[2];
                for (int i = 0; i < (rows ? 1 : n); i++)
                    w[i] = w8(sl->panel[i], k, q, fmt);
#pragma GCC unroll 2
                for (int i = 0; i < n; i++)
                    acc[i][q] = _mm256_fmadd_ps(xb[i], w[rows ? 0 : i], acc[i][q]);
            }
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < n; i++) {
        const int64_t n0 = sl->n0[i], nn = c->m->N - n0 < TG_KPANEL ? c->m->N - n0 : TG_KPANEL;
        float *out = c->y + sl->row[i] * c->ldy + n0;
        float v[TG_KPANEL];
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            __m256 a = acc[i][q];
            if (fmt == TG_KFMT_S8)
                a = _mm256_mul_ps(a, _mm256_loadu_ps(c->m->scale + n0 + 8 * q));
            if (nn == TG_KPANEL) {
                if (c->bias)
                    a = _mm256_add_ps(a, _mm256_loadu_ps(c->bias + n0 + 8 * q));
                _mm256_storeu_ps(out + 8 * q, a);
            } else {
                _mm256_storeu_ps(v + 8 * q, a);
            }
        }
        if (nn < TG_KPANEL) /* the last panel: columns past N stay untouched */
            tg__kstore(out, v, c->bias ? c->bias + n0 : NULL, nn);
    }
}

#define PANEL(c, p) ((const uint8_t *)(c)->m->data + (size_t)(p) * (c)->m->panel_bytes)

INLINE TGT_AVX2 void panels(const tg_kcall *c, const int fmt)
{
    if (c->M == 1) { /* two runs of the share read side by side, then the odd panel */
        const int64_t half = (c->p1 - c->p0) / 2;
        for (int64_t p = c->p0; p < c->p0 + half; p++) {
            const slots sl = {
                {PANEL(c, p), PANEL(c, p + half)}, {p * TG_KPANEL, (p + half) * TG_KPANEL}, {0, 0}};
            run_slots(c, &sl, 2, 0, fmt);
        }
        if ((c->p1 - c->p0) % 2) {
            const slots sl = {{PANEL(c, c->p1 - 1), NULL}, {(c->p1 - 1) * TG_KPANEL, 0}, {0, 0}};
            run_slots(c, &sl, 1, 0, fmt);
        }
        return;
    }
    for (int64_t p = c->p0; p < c->p1; p++) { /* rows two at a time, each pair over the panel */
        int64_t r = 0;
        for (; r + 2 <= c->M; r += 2) {
            const slots sl = {{PANEL(c, p), NULL}, {p * TG_KPANEL, p * TG_KPANEL}, {r, r + 1}};
            run_slots(c, &sl, 2, 1, fmt);
        }
        if (r < c->M) {
            const slots sl = {{PANEL(c, p), NULL}, {p * TG_KPANEL, 0}, {r, 0}};
            run_slots(c, &sl, 1, 1, fmt);
        }
    }
}

static TGT_AVX2 void kern_f32(const tg_kcall *c)
{
    panels(c, TG_KFMT_F32);
}

static TGT_AVX2 void kern_bf16(const tg_kcall *c)
{
    panels(c, TG_KFMT_BF16);
}

static TGT_AVX2 void kern_s8(const tg_kcall *c)
{
    panels(c, TG_KFMT_S8);
}

const tg_kern_fn tg__kern_avx2[TG_KFMT_COUNT] = {NULL, kern_f32, kern_bf16, kern_s8,
                                                 NULL, NULL,     NULL,      NULL};

#endif
