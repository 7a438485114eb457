/* backend/kernels/kmat_x86.c — AVX-512 kernels for the packed panels (see kmat.h), compiled with
 * per-function target attributes so that the library itself needs no -m flags; kmat.c picks them
 * at run time with __builtin_cpu_supports.
 *
 * One call walks panels [p0, p1). Its share is cut into S equal runs read side by side (panel i
 * of every run in the same loop), so the memory system sees S sequential streams instead of one
 * (more hardware prefetch streams in flight); the remainder goes one panel at a time. For M rows
 * and S runs the accumulators are M x S x 2 zmm registers, so S shrinks as M grows (M <= 2: up
 * to 4 runs, M <= 4: 2, M <= 8: 1). An optional software prefetch reads `pf` bytes ahead in
 * each run, non-temporal: the panel is read once per product. Columns past N in the last panel are
 * masked off on store. */
#include "kmat_impl.h"

#if defined(TG_KERNELS_X86)

#include <immintrin.h>
#include <string.h>

#define TGT_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define TGT_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))
#define TGT_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

/* Masks of the valid columns of the two 16-column halves of a panel starting at column n0. */
#define HALF_MASKS(c, n0, m0, m1)                                                                  \
    const int64_t nn_ = (c)->m->N - (n0) < TG_KPANEL ? (c)->m->N - (n0) : TG_KPANEL;               \
    const __mmask16 m0 = nn_ >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nn_) - 1);             \
    const __mmask16 m1 = nn_ >= 32  ? (__mmask16)0xffff                                            \
                         : nn_ > 16 ? (__mmask16)((1u << (nn_ - 16)) - 1)                          \
                                    : (__mmask16)0

/* y = acc (* colscale) (+ bias) for one row's 16-column half. */
#define STORE_HALF(c, r, n0, h, mask, accv)                                                        \
    do {                                                                                           \
        __m512 v_ = (accv);                                                                        \
        if ((c)->bias)                                                                             \
            v_ = _mm512_add_ps(v_, _mm512_maskz_loadu_ps(mask, (c)->bias + (n0) + 16 * (h)));      \
        _mm512_mask_storeu_ps((c)->y + (r) * (c)->ldy + (n0) + 16 * (h), mask, v_);                \
    } while (0)

#define PANEL_PTR(c, p) ((const uint8_t *)(c)->m->data + (size_t)(p) * (c)->m->panel_bytes)

/* A kernel's start: `wp`, the S panels' first bytes, and `acc`, M x S x 2 accumulators of
 * `type` set to zero() (unrolled: M and S are constants in every instantiation). */
#define PANELS_BEGIN(c, p, stride, M, S, type, zero)                                               \
    const uint8_t *wp[4];                                                                          \
    for (int s_ = 0; s_ < (S); s_++)                                                               \
        wp[s_] = PANEL_PTR(c, (p) + s_ * (stride));                                                \
    type acc[TG_KMAX_M][4][2];                                                                     \
    _Pragma("GCC unroll 8") for (int r_ = 0; r_ < (M); r_++)                                       \
        _Pragma("GCC unroll 4") for (int s_ = 0; s_ < (S); s_++) acc[r_][s_][0] = acc[r_][s_][1] = \
            zero()

/* A kernel's end: the f32 accumulators `acc` of PANELS_BEGIN, plus the bias, stored as the output.
 */
#define PANELS_STORE(c, p, stride, M, S, acc)                                                      \
    _Pragma("GCC unroll 4") for (int s_ = 0; s_ < (S); s_++)                                       \
    {                                                                                              \
        const int64_t n0_ = ((p) + s_ * (stride)) * TG_KPANEL;                                     \
        HALF_MASKS(c, n0_, mk0_, mk1_);                                                            \
        _Pragma("GCC unroll 8") for (int r_ = 0; r_ < (M); r_++)                                   \
        {                                                                                          \
            STORE_HALF(c, r_, n0_, 0, mk0_, (acc)[r_][s_][0]);                                     \
            STORE_HALF(c, r_, n0_, 1, mk1_, (acc)[r_][s_][1]);                                     \
        }                                                                                          \
    }

#define PREFETCH_RUNS(c, wp, S, off)                                                               \
    do {                                                                                           \
        if ((c)->pf)                                                                               \
            for (int s_ = 0; s_ < (S); s_++) {                                                     \
                _mm_prefetch((const char *)(wp)[s_] + (off) + (c)->pf, _MM_HINT_NTA);              \
                _mm_prefetch((const char *)(wp)[s_] + (off) + (c)->pf + 64, _MM_HINT_NTA);         \
            }                                                                                      \
    } while (0)

/* ---- f32 and weight-only int8: one k per step, 32 columns = 2 zmm ---- */

INLINE TGT_512 void f32_panels(const tg_kcall *c, int64_t p, int64_t stride, const int M,
                               const int S, const int s8)
{
    PANELS_BEGIN(c, p, stride, M, S, __m512, _mm512_setzero_ps);
    const float *x = c->act;
    const int64_t K = c->m->Kp, ld = c->act_ld, step = s8 ? 32 : 128;
    for (int64_t k = 0; k < K; k++) {
        __m512 w0[4], w1[4];
        PREFETCH_RUNS(c, wp, S, k * step);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            if (s8) {
                const __m128i *q = (const __m128i *)(wp[s] + k * 32);
                w0[s] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q)));
                w1[s] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(q + 1)));
            } else {
                w0[s] = _mm512_load_ps((const float *)(wp[s] + k * 128));
                w1[s] = _mm512_load_ps((const float *)(wp[s] + k * 128 + 64));
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            const __m512 xb = _mm512_set1_ps(x[r * ld + k]);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                acc[r][s][0] = _mm512_fmadd_ps(xb, w0[s], acc[r][s][0]);
                acc[r][s][1] = _mm512_fmadd_ps(xb, w1[s], acc[r][s][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        const int64_t n0 = (p + s * stride) * TG_KPANEL;
        HALF_MASKS(c, n0, mk0, mk1);
        __m512 sc0 = _mm512_set1_ps(1.0f), sc1 = sc0;
        if (s8) {
            sc0 = _mm512_loadu_ps(c->m->scale + n0);
            sc1 = _mm512_loadu_ps(c->m->scale + n0 + 16);
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            STORE_HALF(c, r, n0, 0, mk0, s8 ? _mm512_mul_ps(acc[r][s][0], sc0) : acc[r][s][0]);
            STORE_HALF(c, r, n0, 1, mk1, s8 ? _mm512_mul_ps(acc[r][s][1], sc1) : acc[r][s][1]);
        }
    }
}

/* ---- bf16: k-pairs; with AVX512-BF16 one vdpbf16ps per pair, else two FMAs ---- */

INLINE TGT_BF16 void bf16dp_panels(const tg_kcall *c, int64_t p, int64_t stride, const int M,
                                   const int S)
{
    PANELS_BEGIN(c, p, stride, M, S, __m512, _mm512_setzero_ps);
    const uint16_t *x = c->act;
    const int64_t K2 = c->m->Kp / 2, ld = c->act_ld;
    for (int64_t kk = 0; kk < K2; kk++) {
        __m512i w0[4], w1[4];
        PREFETCH_RUNS(c, wp, S, kk * 128);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            w0[s] = _mm512_load_si512((const void *)(wp[s] + kk * 128));
            w1[s] = _mm512_load_si512((const void *)(wp[s] + kk * 128 + 64));
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            int32_t pair;
            memcpy(&pair, x + r * ld + 2 * kk, 4);
            const __m512bh xb = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                acc[r][s][0] = _mm512_dpbf16_ps(acc[r][s][0], xb, (__m512bh)w0[s]);
                acc[r][s][1] = _mm512_dpbf16_ps(acc[r][s][1], xb, (__m512bh)w1[s]);
            }
        }
    }
    PANELS_STORE(c, p, stride, M, S, acc);
}

INLINE TGT_512 void bf16fma_panels(const tg_kcall *c, int64_t p, int64_t stride, const int M,
                                   const int S)
{
    PANELS_BEGIN(c, p, stride, M, S, __m512, _mm512_setzero_ps);
    const uint16_t *x = c->act;
    const int64_t K2 = c->m->Kp / 2, ld = c->act_ld;
    const __m512i hi = _mm512_set1_epi32((int32_t)0xffff0000u);
    for (int64_t kk = 0; kk < K2; kk++) {
        __m512 e0[4], o0[4], e1[4], o1[4];
        PREFETCH_RUNS(c, wp, S, kk * 128);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            const __m512i a = _mm512_load_si512((const void *)(wp[s] + kk * 128));
            const __m512i b = _mm512_load_si512((const void *)(wp[s] + kk * 128 + 64));
            e0[s] = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16));
            o0[s] = _mm512_castsi512_ps(_mm512_and_si512(a, hi));
            e1[s] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
            o1[s] = _mm512_castsi512_ps(_mm512_and_si512(b, hi));
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            const uint32_t ev = (uint32_t)x[r * ld + 2 * kk] << 16;
            const uint32_t od = (uint32_t)x[r * ld + 2 * kk + 1] << 16;
            float fe, fo;
            memcpy(&fe, &ev, 4);
            memcpy(&fo, &od, 4);
            const __m512 xe = _mm512_set1_ps(fe), xo = _mm512_set1_ps(fo);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                acc[r][s][0] = _mm512_fmadd_ps(xo, o0[s], _mm512_fmadd_ps(xe, e0[s], acc[r][s][0]));
                acc[r][s][1] = _mm512_fmadd_ps(xo, o1[s], _mm512_fmadd_ps(xe, e1[s], acc[r][s][1]));
            }
        }
    }
    PANELS_STORE(c, p, stride, M, S, acc);
}

/* ---- u8 x s8 with VNNI: k-quads, one vpdpbusd per quad and 16 columns ---- */

INLINE TGT_VNNI void u8s8_panels(const tg_kcall *c, int64_t p, int64_t stride, const int M,
                                 const int S)
{
    PANELS_BEGIN(c, p, stride, M, S, __m512i, _mm512_setzero_si512);
    const uint8_t *x = c->act;
    const int64_t K4 = c->m->Kp / 4, ld = c->act_ld;
    for (int64_t kq = 0; kq < K4; kq++) {
        __m512i w0[4], w1[4];
        PREFETCH_RUNS(c, wp, S, kq * 128);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            w0[s] = _mm512_load_si512((const void *)(wp[s] + kq * 128));
            w1[s] = _mm512_load_si512((const void *)(wp[s] + kq * 128 + 64));
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            int32_t quad;
            memcpy(&quad, x + r * ld + 4 * kq, 4);
            const __m512i xb = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                acc[r][s][0] = _mm512_dpbusd_epi32(acc[r][s][0], xb, w0[s]);
                acc[r][s][1] = _mm512_dpbusd_epi32(acc[r][s][1], xb, w1[s]);
            }
        }
    }
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        const int64_t n0 = (p + s * stride) * TG_KPANEL;
        HALF_MASKS(c, n0, mk0, mk1);
        const __m512i cp0 = _mm512_loadu_si512((const void *)(c->m->comp + n0));
        const __m512i cp1 = _mm512_loadu_si512((const void *)(c->m->comp + n0 + 16));
        const __m512 sc0 = _mm512_loadu_ps(c->m->scale + n0);
        const __m512 sc1 = _mm512_loadu_ps(c->m->scale + n0 + 16);
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            const __m512 xs = _mm512_set1_ps(c->xscale[r]);
            const __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][s][0], cp0));
            const __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][s][1], cp1));
            STORE_HALF(c, r, n0, 0, mk0, _mm512_mul_ps(v0, _mm512_mul_ps(xs, sc0)));
            STORE_HALF(c, r, n0, 1, mk1, _mm512_mul_ps(v1, _mm512_mul_ps(xs, sc1)));
        }
    }
}

/* ---- Q8 with VNNI, one row (kern_q8 sends 2 to 8 rows to the tiles below): per block of 32 k,
 * an int32 dot product per column, the activations' hi plane times 256 plus the lo plane plus
 * the row's -128 * sum(q) that undoes the u8 weights' +128; then one FMA into f32 with the
 * block's weight scales (f16) times the row's block scale. hi and lo have their own int32
 * accumulators (lo starting at -128 * sum(q)), so each weight line is loaded once for both
 * planes, and a quad's two 64-byte halves are read together: each run's block is read line
 * after line, with few instructions per line, so the loads run far enough ahead to stream at
 * the memory's rate (docs/performance.md, "int8: one row streams its weights"). ---- */

INLINE TGT_VNNI void q8_panels(const tg_kcall *c, int64_t p, int64_t stride, const int M,
                               const int S)
{
    (void)M; /* always 1: DRIVER instantiates every M, kern_q8 calls this for one row only */
    PANELS_BEGIN(c, p, stride, 1, S, __m512, _mm512_setzero_ps);
    const int64_t Kp = c->m->Kp, nb = Kp / TG_KQBLK;
    for (int64_t b = 0; b < nb; b++) {
        const size_t bo = (size_t)b * TG_KQ8_BLOCK_BYTES;
        const int8_t *xh = (const int8_t *)c->act + b * TG_KQBLK, *xl = xh + Kp;
        if (c->pf)
            for (int q = 0; q < TG_KQ8_BLOCK_BYTES / 128; q++)
                PREFETCH_RUNS(c, wp, S, bo + (size_t)q * 128);
        __m512i hi[4][2], lo[4][2];
        const __m512i corr = _mm512_set1_epi32(c->xblk[b].corr);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            hi[s][0] = hi[s][1] = _mm512_setzero_si512();
            lo[s][0] = lo[s][1] = corr;
        }
#pragma GCC unroll 8
        for (int q = 0; q < TG_KQBLK / 4; q++) {
            int32_t qh, ql;
            memcpy(&qh, xh + 4 * q, 4);
            memcpy(&ql, xl + 4 * q, 4);
            const __m512i bh = _mm512_set1_epi32(qh), bl = _mm512_set1_epi32(ql);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++)
                for (int h = 0; h < 2; h++) {
                    const __m512i w =
                        _mm512_load_si512((const void *)(wp[s] + bo + (size_t)q * 128 + 64 * h));
                    hi[s][h] = _mm512_dpbusd_epi32(hi[s][h], w, bh);
                    lo[s][h] = _mm512_dpbusd_epi32(lo[s][h], w, bl);
                }
        }
        const __m512 xs = _mm512_set1_ps(c->xblk[b].scale);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++)
            for (int h = 0; h < 2; h++) {
                const __m512i dot = _mm512_add_epi32(_mm512_slli_epi32(hi[s][h], 8), lo[s][h]);
                const __m512 ws = _mm512_cvtph_ps(_mm256_load_si256(
                    (const __m256i *)(wp[s] + bo + TG_KQBLK * TG_KPANEL + 32 * h)));
                acc[0][s][h] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(ws, xs), acc[0][s][h]);
            }
    }
    PANELS_STORE(c, p, stride, 1, S, acc);
}

/* ---- Q8 activations: prepare_q8 of kmat_pack.c, 16 values per instruction, the same bits
 * (max is exact; roundscale rounds to nearest even like the scalar 1.5 * 2^23 trick; max_ps
 * returns its second operand for NaN, as fmaxf ignores it) ---- */

TGT_512 void tg__kq8_prepare_avx512(const tg_kmat *m, const float *x, int64_t M, int64_t ldx,
                                    void *act, int64_t r0, int64_t r1)
{
    const int64_t K = m->K, Kp = m->Kp, nb = Kp / TG_KQBLK;
    tg_kq8blk *rec = act;
    int8_t *rows = (int8_t *)act + tg__kact_scales_bytes(m, M);
    const __m512 lim = _mm512_set1_ps(TG_KQ8_XMAX), nlim = _mm512_set1_ps(-TG_KQ8_XMAX);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t b = 0; b < nb; b++) {
            const int64_t k0 = b * TG_KQBLK, n = K - k0 < TG_KQBLK ? K - k0 : TG_KQBLK;
            const __mmask16 m0 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
            const __mmask16 m1 = n >= 32  ? (__mmask16)0xffff
                                 : n > 16 ? (__mmask16)((1u << (n - 16)) - 1)
                                          : (__mmask16)0;
            const float *xr = x + r * ldx + k0;
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, xr),
                         v1 = _mm512_maskz_loadu_ps(m1, xr + 16);
            const __m512 a = _mm512_max_ps(_mm512_abs_ps(v1),
                                           _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
            const float amax = _mm512_reduce_max_ps(a), s = amax / TG_KQ8_XMAX,
                        inv = s > 0 ? 1.0f / s : 0.0f;
            const __m512 iv = _mm512_set1_ps(inv);
            int8_t *hi = rows + r * 2 * Kp + k0, *lo = hi + Kp;
            __m512i sum = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(h ? v1 : v0, iv),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q = _mm512_min_ps(_mm512_max_ps(q, nlim), lim);
                const __m512i qi = _mm512_cvtps_epi32(q);
                const __m512i l = _mm512_srai_epi32(_mm512_slli_epi32(qi, 24), 24);
                const __m512i hh = _mm512_srai_epi32(_mm512_sub_epi32(qi, l), 8);
                _mm_storeu_si128((__m128i *)(lo + 16 * h), _mm512_cvtepi32_epi8(l));
                _mm_storeu_si128((__m128i *)(hi + 16 * h), _mm512_cvtepi32_epi8(hh));
                sum = _mm512_add_epi32(sum, qi);
            }
            rec[r * nb + b].scale = s * m->q8_unit;
            rec[r * nb + b].corr = -128 * _mm512_reduce_add_epi32(sum);
        }
}

/* ---- Q8 weights at load: pack_q8 and q8_unit of kmat_pack.c, 16 columns (or values) per
 * instruction, the same bytes: max_ps(|v|, amax) returns amax for a NaN v as fmaxf does, the
 * divisions are the same IEEE operations, f32_to_f16 is the scalar's integer rounding on 16
 * lanes, and quant_s8's nearbyintf / NaN -> 0 / clamp become roundscale, a mask and min/max. */

TGT_512 float tg__kq8_absmax_avx512(const float *w, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(w + i)), a0);
        a1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(w + i + 16)), a1);
        a2 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(w + i + 32)), a2);
        a3 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(w + i + 48)), a3);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        a0 = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(k, w + i)), a0);
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(a0, a1), _mm512_max_ps(a2, a3)));
}

/* f32 >= 0 (never NaN) -> IEEE half bits in 16 int32 lanes, as kmat_pack.c's f32_to_f16. */
INLINE TGT_512 __m512i q8_f32_to_f16(__m512 f)
{
    const __m512i b = _mm512_castps_si512(f);
    const __m512i sub = _mm512_cvtps_epi32(_mm512_mul_ps(f, _mm512_set1_ps(16777216.0f)));
    const __m512i rnd =
        _mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0xfff)),
                         _mm512_and_si512(_mm512_srli_epi32(b, 13), _mm512_set1_epi32(1)));
    __m512i h = _mm512_srli_epi32(_mm512_sub_epi32(rnd, _mm512_set1_epi32(0x38000000)), 13);
    h = _mm512_mask_mov_epi32(h, _mm512_cmplt_epi32_mask(b, _mm512_set1_epi32(0x38800000)), sub);
    return _mm512_mask_mov_epi32(h, _mm512_cmpge_epi32_mask(b, _mm512_set1_epi32(0x477ff000)),
                                 _mm512_set1_epi32(0x7bff));
}

TGT_512 void tg__kq8_pack_avx512(const tg_kmat *m, const float *tile, uint8_t *panel)
{
    const __m512 unit = _mm512_set1_ps(m->q8_unit), d127 = _mm512_set1_ps(127.0f);
    const __m512 lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f);
    for (int64_t b = 0; b < m->Kp / TG_KQBLK; b++) {
        uint8_t *blk = panel + (size_t)b * TG_KQ8_BLOCK_BYTES;
        const float *t = tile + b * TG_KQBLK * TG_KPANEL;
        for (int h = 0; h < 2; h++) {
            __m512 amax = _mm512_setzero_ps();
            for (int i = 0; i < TG_KQBLK; i++)
                amax =
                    _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(t + i * TG_KPANEL + 16 * h)), amax);
            const __m512i hb = q8_f32_to_f16(_mm512_div_ps(_mm512_div_ps(amax, d127), unit));
            _mm256_storeu_si256((__m256i *)(blk + TG_KQBLK * TG_KPANEL + 32 * h),
                                _mm512_cvtepi32_epi16(hb));
            const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(hb)), unit);
            const __m512 inv = _mm512_maskz_div_ps(
                _mm512_cmp_ps_mask(sc, _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(1.0f), sc);
            for (int qd = 0; qd < TG_KQBLK / 4; qd++) {
                __m512i quad = _mm512_setzero_si512();
                for (int i = 0; i < 4; i++) {
                    const __m512 v = _mm512_loadu_ps(t + (4 * qd + i) * TG_KPANEL + 16 * h);
                    const __m512 r = _mm512_roundscale_ps(
                        _mm512_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    const __mmask16 ok = _mm512_cmp_ps_mask(r, r, _CMP_ORD_Q); /* NaN -> 0 */
                    const __m512i q =
                        _mm512_maskz_cvtps_epi32(ok, _mm512_min_ps(_mm512_max_ps(r, nlim), lim));
                    const __m512i u = _mm512_and_si512(_mm512_add_epi32(q, _mm512_set1_epi32(128)),
                                                       _mm512_set1_epi32(0xff));
                    quad = _mm512_or_si512(quad, _mm512_slli_epi32(u, 8 * i));
                }
                _mm512_storeu_si512((void *)(blk + qd * 128 + 64 * h), quad);
            }
        }
    }
}

/* ---- drivers: M and S become constants in each case so the accumulators live in registers ---- */

static int runs_for(int64_t M, int32_t want)
{
    const int cap = M <= 2 ? 4 : M <= 4 ? 2 : 1;
    const int w = want >= 4 ? 4 : want >= 2 ? 2 : 1;
    return w < cap ? w : cap;
}

#define CALL_MS(PANELS, c, p, g, ...)                                                              \
    switch ((c)->M * 8 + S) {                                                                      \
    case 1 * 8 + 1:                                                                                \
        PANELS(c, p, g, 1, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 1 * 8 + 2:                                                                                \
        PANELS(c, p, g, 1, 2 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 1 * 8 + 4:                                                                                \
        PANELS(c, p, g, 1, 4 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 2 * 8 + 1:                                                                                \
        PANELS(c, p, g, 2, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 2 * 8 + 2:                                                                                \
        PANELS(c, p, g, 2, 2 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 2 * 8 + 4:                                                                                \
        PANELS(c, p, g, 2, 4 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 3 * 8 + 1:                                                                                \
        PANELS(c, p, g, 3, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 3 * 8 + 2:                                                                                \
        PANELS(c, p, g, 3, 2 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 4 * 8 + 1:                                                                                \
        PANELS(c, p, g, 4, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 4 * 8 + 2:                                                                                \
        PANELS(c, p, g, 4, 2 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 5 * 8 + 1:                                                                                \
        PANELS(c, p, g, 5, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 6 * 8 + 1:                                                                                \
        PANELS(c, p, g, 6, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    case 7 * 8 + 1:                                                                                \
        PANELS(c, p, g, 7, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    default:                                                                                       \
        PANELS(c, p, g, 8, 1 __VA_ARGS__);                                                         \
        break;                                                                                     \
    }

#define DRIVER(NAME, TGT, PANELS, ...)                                                             \
    TGT static void NAME(const tg_kcall *c)                                                        \
    {                                                                                              \
        const int S0 = runs_for(c->M, c->streams);                                                 \
        const int64_t g = (c->p1 - c->p0) / S0;                                                    \
        int S = S0;                                                                                \
        for (int64_t i = 0; i < g; i++)                                                            \
            CALL_MS(PANELS, c, c->p0 + i, g, __VA_ARGS__)                                          \
        S = 1;                                                                                     \
        for (int64_t p = c->p0 + g * S0; p < c->p1; p++)                                           \
            CALL_MS(PANELS, c, p, 0, __VA_ARGS__)                                                  \
    }

DRIVER(kern_f32, TGT_512, f32_panels, , 0)
DRIVER(kern_s8, TGT_512, f32_panels, , 1)
DRIVER(kern_bf16_fma, TGT_512, bf16fma_panels)
DRIVER(kern_bf16_dp, TGT_BF16, bf16dp_panels)
DRIVER(kern_u8s8, TGT_VNNI, u8s8_panels)
DRIVER(kern_q8_rows, TGT_VNNI, q8_panels)

/* ---- Q8 for 2 to 8 rows, where the VNNI unit rather than memory bounds the product: a tile
 * of up to 4 rows x the panel's 32 columns, the hi and the lo plane in their own int32
 * accumulators (4 x 2 x 2), so each weight quad is loaded once for both planes and each row's
 * two broadcasts serve both 16-column halves: 16 independent vpdpbusd per quad and 2 loads + 8
 * broadcasts, nothing spilled (28 zmm). Per block, (hi << 8) + (corr + lo) gives the int32 dot
 * product of q8_panels (the same sum modulo 2^32, and no partial sum wraps: |dot| < 2^28),
 * then the same cvt and FMA, so the bits are those of q8_panels and the portable kernel. ---- */

INLINE TGT_VNNI void q8_tile(const tg_kcall *c, int64_t p, int64_t r0, const int M,
                             const uint8_t *next, int64_t part, int64_t parts)
{
    const int64_t Kp = c->m->Kp, nb = Kp / TG_KQBLK, ld2 = 2 * c->act_ld;
    const uint8_t *wp = PANEL_PTR(c, p);
    const int8_t *x = (const int8_t *)c->act + r0 * ld2;
    const tg_kq8blk *rec = c->xblk + r0 * nb;
    __m512 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < M; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = wp + (size_t)b * TG_KQ8_BLOCK_BYTES;
        const int8_t *xb = x + b * TG_KQBLK;
        if (c->pf)
            for (int q = 0; q < TG_KQ8_BLOCK_BYTES / 128; q++)
                _mm_prefetch((const char *)blk + q * 128 + c->pf, _MM_HINT_T0);
        if (next) { /* this tile's share of the next panel, block b's part of it */
            const int64_t len = TG_KQ8_BLOCK_BYTES / parts, at = (part * nb + b) * len;
            for (int64_t o = 0; o < len; o += 64)
                _mm_prefetch((const char *)next + at + o, _MM_HINT_T1);
        }
        __m512i ih[4][2], il[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) { /* the lo sums start at the row's corr: one add less */
            ih[r][0] = ih[r][1] = _mm512_setzero_si512();
            il[r][0] = il[r][1] = _mm512_set1_epi32(rec[r * nb + b].corr);
        }
#pragma GCC unroll 8
        for (int q = 0; q < TG_KQBLK / 4; q++) {
            const __m512i w0 = _mm512_load_si512((const void *)(blk + q * 128));
            const __m512i w1 = _mm512_load_si512((const void *)(blk + q * 128 + 64));
#pragma GCC unroll 4
            for (int r = 0; r < M; r++) {
                int32_t qh, ql;
                memcpy(&qh, xb + r * ld2 + 4 * q, 4);
                memcpy(&ql, xb + r * ld2 + Kp + 4 * q, 4);
                const __m512i bh = _mm512_set1_epi32(qh), bl = _mm512_set1_epi32(ql);
                ih[r][0] = _mm512_dpbusd_epi32(ih[r][0], w0, bh);
                ih[r][1] = _mm512_dpbusd_epi32(ih[r][1], w1, bh);
                il[r][0] = _mm512_dpbusd_epi32(il[r][0], w0, bl);
                il[r][1] = _mm512_dpbusd_epi32(il[r][1], w1, bl);
            }
        }
        const __m512 ws0 =
            _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(blk + TG_KQBLK * TG_KPANEL)));
        const __m512 ws1 =
            _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(blk + TG_KQBLK * TG_KPANEL + 32)));
#pragma GCC unroll 4
        for (int r = 0; r < M; r++) {
            const __m512 xs = _mm512_set1_ps(rec[r * nb + b].scale);
            const __m512i d0 = _mm512_add_epi32(_mm512_slli_epi32(ih[r][0], 8), il[r][0]);
            const __m512i d1 = _mm512_add_epi32(_mm512_slli_epi32(ih[r][1], 8), il[r][1]);
            acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_mul_ps(ws0, xs), acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_mul_ps(ws1, xs), acc[r][1]);
        }
    }
    const int64_t n0 = p * TG_KPANEL;
    HALF_MASKS(c, n0, mk0, mk1);
#pragma GCC unroll 4
    for (int r = 0; r < M; r++) {
        STORE_HALF(c, r0 + r, n0, 0, mk0, acc[r][0]);
        STORE_HALF(c, r0 + r, n0, 1, mk1, acc[r][1]);
    }
}

/* Rows [r0, r0 + n) of panel p, 2 <= n <= 4, as a tile with constant M. */
INLINE TGT_VNNI void q8_tile_rows(const tg_kcall *c, int64_t p, int64_t r0, int64_t n,
                                  const uint8_t *next, int64_t part, int64_t parts)
{
    switch (n) {
    case 2:
        q8_tile(c, p, r0, 2, next, part, parts);
        break;
    case 3:
        q8_tile(c, p, r0, 3, next, part, parts);
        break;
    default:
        q8_tile(c, p, r0, 4, next, part, parts);
        break;
    }
}

/* One row streams the weights from memory (q8_panels with up to 4 runs); more rows walk a panel
 * at a time, rows 0-3 then the rest while the panel is in cache (the weights stream from memory
 * once). Rows split as evenly as the tiles allow (5 = 3 + 2, 8 = 4 + 4). From 3 rows the tiles
 * prefetch the next panel into L2 as they go, evenly over the panel's tiles, so that no tile
 * waits for memory: the first tile of a panel otherwise asked for it at twice the rate the two
 * together consume it, and a decode step's products ran ~1.5x the VNNI bound against ~1.15x hot
 * in cache (docs/performance.md, "int8 at 8 sequences"). */
TGT_VNNI static void kern_q8(const tg_kcall *c)
{
    if (c->M == 1) {
        kern_q8_rows(c);
        return;
    }
    const int64_t first = c->M <= 4 ? c->M : (c->M + 1) / 2, parts = c->M > first ? 2 : 1;
    for (int64_t p = c->p0; p < c->p1; p++) {
        const uint8_t *next =
            c->M >= TG_KQ8_PREFETCH_M && p + 1 < c->p1 ? PANEL_PTR(c, p + 1) : NULL;
        q8_tile_rows(c, p, 0, first, next, 0, parts);
        if (c->M > first)
            q8_tile_rows(c, p, first, c->M - first, next, 1, parts);
    }
}

/* ---- f32 in place, [K][N]: a block of 16 B columns (B zmm) of row k per step ---- */

INLINE TGT_512 void kn_cols(const tg_kcall *c, int64_t n0, int64_t nn, const int M, const int B)
{
    const int64_t K = c->m->K, N = c->m->N, ld = c->act_ld;
    const float *w = (const float *)c->m->data + n0, *x = c->act;
    __mmask16 mk[8];
#pragma GCC unroll 8
    for (int b = 0; b < B; b++) {
        const int64_t v = nn - 16 * b;
        mk[b] = v >= 16 ? (__mmask16)0xffff : v > 0 ? (__mmask16)((1u << v) - 1) : (__mmask16)0;
    }
    __m512 acc[TG_KMAX_M][8];
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 8
        for (int b = 0; b < B; b++)
            acc[r][b] = _mm512_setzero_ps();
    /* Every row is in another 4 KiB page, where hardware prefetchers stop: always prefetch
     * the block a few rows ahead (8 by default; pf bytes' worth of rows when set). */
    const int64_t ahead = c->pf / (64 * B) > 0 ? c->pf / (64 * B) : 8;
    for (int64_t k = 0; k < K; k++) {
        const float *row = w + k * N;
        if (k + ahead < K)
#pragma GCC unroll 8
            for (int b = 0; b < B; b++)
                _mm_prefetch((const char *)(row + ahead * N + 16 * b), _MM_HINT_T0);
        __m512 wv[8];
#pragma GCC unroll 8
        for (int b = 0; b < B; b++)
            wv[b] = _mm512_maskz_loadu_ps(mk[b], row + 16 * b);
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            const __m512 xb = _mm512_set1_ps(x[r * ld + k]);
#pragma GCC unroll 8
            for (int b = 0; b < B; b++)
                acc[r][b] = _mm512_fmadd_ps(xb, wv[b], acc[r][b]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 8
        for (int b = 0; b < B; b++)
            STORE_HALF(c, r, n0, b, mk[b], acc[r][b]);
}

TGT_512 static void kern_f32_kn(const tg_kcall *c)
{
    const int64_t n1 = c->p1 * TG_KPANEL < c->m->N ? c->p1 * TG_KPANEL : c->m->N;
    const int64_t width = c->M == 1 ? 128 : c->M == 2 ? 64 : 32;
    for (int64_t n = c->p0 * TG_KPANEL; n < n1; n += width) {
        const int64_t nn = n1 - n < width ? n1 - n : width;
        switch (c->M) {
        case 1:
            kn_cols(c, n, nn, 1, 8);
            break;
        case 2:
            kn_cols(c, n, nn, 2, 4);
            break;
        case 3:
            kn_cols(c, n, nn, 3, 2);
            break;
        case 4:
            kn_cols(c, n, nn, 4, 2);
            break;
        case 5:
            kn_cols(c, n, nn, 5, 2);
            break;
        case 6:
            kn_cols(c, n, nn, 6, 2);
            break;
        case 7:
            kn_cols(c, n, nn, 7, 2);
            break;
        default:
            kn_cols(c, n, nn, 8, 2);
            break;
        }
    }
}

/* ---- f32 in place, [N][K]: C rows of W (= C output columns) as dot products ---- */

INLINE TGT_512 void nk_rows(const tg_kcall *c, int64_t n0, const int M, const int C)
{
    const int64_t K = c->m->K, ld = c->act_ld;
    const float *w[4], *x = c->act;
#pragma GCC unroll 4
    for (int j = 0; j < C; j++)
        w[j] = (const float *)c->m->data + (n0 + j) * K;
    __m512 acc[TG_KMAX_M][4];
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
        const __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            if (c->pf)
                _mm_prefetch((const char *)(w[j] + k) + c->pf, _MM_HINT_T0);
            wv[j] = _mm512_maskz_loadu_ps(mk, w[j] + k);
        }
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mk, x + r * ld + k);
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < M; r++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            const float v = _mm512_reduce_add_ps(acc[r][j]);
            tg__kstore(c->y + r * c->ldy + n0 + j, &v, c->bias ? c->bias + n0 + j : NULL, 1);
        }
}

TGT_512 static void kern_f32_nk(const tg_kcall *c)
{
    const int64_t n1 = c->p1 * TG_KPANEL < c->m->N ? c->p1 * TG_KPANEL : c->m->N;
    const int64_t C = c->M <= 4 ? 4 : 2;
    int64_t n = c->p0 * TG_KPANEL;
    for (; n + C <= n1; n += C)
        switch (c->M) {
        case 1:
            nk_rows(c, n, 1, 4);
            break;
        case 2:
            nk_rows(c, n, 2, 4);
            break;
        case 3:
            nk_rows(c, n, 3, 4);
            break;
        case 4:
            nk_rows(c, n, 4, 4);
            break;
        case 5:
            nk_rows(c, n, 5, 2);
            break;
        case 6:
            nk_rows(c, n, 6, 2);
            break;
        case 7:
            nk_rows(c, n, 7, 2);
            break;
        default:
            nk_rows(c, n, 8, 2);
            break;
        }
    for (; n < n1; n++)
        switch (c->M) {
        case 1:
            nk_rows(c, n, 1, 1);
            break;
        case 2:
            nk_rows(c, n, 2, 1);
            break;
        case 3:
            nk_rows(c, n, 3, 1);
            break;
        case 4:
            nk_rows(c, n, 4, 1);
            break;
        case 5:
            nk_rows(c, n, 5, 1);
            break;
        case 6:
            nk_rows(c, n, 6, 1);
            break;
        case 7:
            nk_rows(c, n, 7, 1);
            break;
        default:
            nk_rows(c, n, 8, 1);
            break;
        }
}

const tg_kern_fn tg__kern_avx512[TG_KFMT_COUNT] = {NULL, kern_f32,    kern_bf16_fma, kern_s8,
                                                   NULL, kern_f32_kn, kern_f32_nk,   NULL};
const tg_kern_fn tg__kern_avx512_bf16_vnni[TG_KFMT_COUNT] = {
    NULL, kern_f32, kern_bf16_dp, kern_s8, kern_u8s8, kern_f32_kn, kern_f32_nk, kern_q8};

#endif
