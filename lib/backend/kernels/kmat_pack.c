/* backend/kernels/kmat_pack.c — packing weights into panels (f32, bf16, int8), preparing each
 * product's activations, and how many chunks a product is cut into. Plain C: this runs once at
 * load (weights) or once per product on M x K values (activations). */
#include "core/alloc.h"
#include "core/error.h"
#include "backend/bf16.h"
#include "core/fileutil.h"
#include "kmat_impl.h"
#include "panel_mem.h"
#include "tpool.h"

#include <stdatomic.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int8_t quant_s8(float v, float inv_scale)
{
    float q = nearbyintf(v * inv_scale);
    if (q != q) /* NaN */
        return 0;
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    return (int8_t)q;
}

/* f32 >= 0 -> IEEE half, rounding to nearest even; values below 2^-14 become subnormals. Only
 * Q8's block scales go through here, kept below 2^15 by q8_unit. */
static uint16_t f32_to_f16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    if (b >= 0x477ff000u) /* rounds to 65536 or more (or inf/NaN): clamp to the largest half */
        return 0x7bff;
    if (b < 0x38800000u) /* below 2^-14: a multiple of 2^-24 */
        return (uint16_t)nearbyintf(f * 16777216.0f);
    b += 0xfffu + ((b >> 13) & 1u);
    return (uint16_t)((b - 0x38000000u) >> 13);
}

static int64_t k_step(int32_t fmt)
{
    return fmt == TG_KFMT_BF16 ? 2 : fmt == TG_KFMT_U8S8 ? 4 : fmt == TG_KFMT_Q8 ? TG_KQBLK : 1;
}

static size_t panel_bytes(int32_t fmt, int64_t Kp)
{
    if (fmt == TG_KFMT_Q8)
        return (size_t)(Kp / TG_KQBLK) * TG_KQ8_BLOCK_BYTES;
    return (size_t)Kp * TG_KPANEL * (fmt == TG_KFMT_F32 ? 4 : fmt == TG_KFMT_BF16 ? 2 : 1);
}

/* Q8: blocks of 32 k of every column, each with its own scale max|w| / 127 stored as an f16
 * (divided by the matrix's q8_unit), weights quantized against the stored scale; with AVX-512,
 * tg__kq8_pack_avx512 writes the same bytes. (Scales that
 * minimise the squared error instead, max|w| / 127 * f for f in [0.85, 1], changed 0-1 of the
 * golden folders' 1,072 argmax positions: not kept.) */
static void pack_q8(const tg_kmat *m, const float *tile, uint8_t *panel)
{
#if defined(TG_KERNELS_X86)
    if (tg__kmat_isa() >= TG_KISA_AVX512) {
        tg__kq8_pack_avx512(m, tile, panel);
        return;
    }
#endif
    for (int64_t b = 0; b < m->Kp / TG_KQBLK; b++) {
        uint8_t *blk = panel + (size_t)b * TG_KQ8_BLOCK_BYTES;
        const float *t = tile + b * TG_KQBLK * TG_KPANEL;
        for (int64_t j = 0; j < TG_KPANEL; j++) {
            float amax = 0;
            for (int64_t i = 0; i < TG_KQBLK; i++)
                amax = fmaxf(amax, fabsf(t[i * TG_KPANEL + j]));
            const uint16_t h = f32_to_f16(amax / 127.0f / m->q8_unit);
            memcpy(blk + TG_KQBLK * TG_KPANEL + 2 * j, &h, 2);
            const float s = tg__f16_to_f32(h) * m->q8_unit, inv = s > 0 ? 1.0f / s : 0.0f;
            for (int64_t i = 0; i < TG_KQBLK; i++)
                blk[(i / 4) * 128 + 4 * j + (i & 3)] =
                    (uint8_t)(128 + quant_s8(t[i * TG_KPANEL + j], inv));
        }
    }
}

/* Q8's q8_unit: the power of two that puts the largest block scale of the matrix, max|w| / 127,
 * in [2^14, 2^15) (f16 holds up to 65504), so that scales down to 2^-10 of it stay normal.
 * `release`: a mapped file's pages are dropped 8 MiB at a time as they are read (packing maps
 * them again from the page cache a chunk at a time), or this pass alone would make the whole
 * source resident next to the packed weights: the int8 load's peak RSS. */
static float q8_unit(const float *w, int64_t K, int64_t N, int release)
{
    const size_t n = (size_t)K * (size_t)N, step = ((size_t)8 << 20) / sizeof(float);
    float amax = 0;
    for (size_t i0 = 0; i0 < n; i0 += step) {
        const size_t i1 = n - i0 < step ? n : i0 + step;
#if defined(TG_KERNELS_X86)
        if (tg__kmat_isa() >= TG_KISA_AVX512)
            amax = fmaxf(amax, tg__kq8_absmax_avx512(w + i0, i1 - i0));
        else
#endif
            for (size_t i = i0; i < i1; i++)
                amax = fmaxf(amax, fabsf(w[i]));
        if (release)
            tg__file_release(w + i0, (i1 - i0) * sizeof(float));
    }
    int e;
    frexpf(amax / 127.0f, &e);
    return amax > 0 && isfinite(amax) ? ldexpf(1.0f, e - 15) : 1.0f;
}

void tg__kmat_free(tg_kmat *m)
{
    if (!m)
        return;
    tg__panel_mem_free(m->data, m->owned, m->map_bytes);
    free(m->scale);
    free(m->comp);
    memset(m, 0, sizeof *m);
}

/* Panel p of m from w: gather its 32 columns into a float tile [Kp][32] (zero padded; for f32
 * the tile is the panel itself), then convert the tile into the panel's format. Reading the
 * source a tile at a time keeps both layouts cache friendly: [K][N] rows give 128-byte runs,
 * [N][K] rows are read whole. */
static void pack_panel(tg_kmat *m, const float *w, int transposed, int64_t p, float *tile)
{
    const int64_t K = m->K, N = m->N, Kp = m->Kp, n0 = p * TG_KPANEL;
    const int64_t nn = N - n0 < TG_KPANEL ? N - n0 : TG_KPANEL;
    uint8_t *panel = (uint8_t *)m->data + (size_t)p * m->panel_bytes;
    if (m->fmt == TG_KFMT_F32)
        tile = (float *)panel;
    if (!transposed) {
        for (int64_t k = 0; k < K; k++) {
            memcpy(tile + k * TG_KPANEL, w + k * N + n0, (size_t)nn * sizeof(float));
            memset(tile + k * TG_KPANEL + nn, 0, (size_t)(TG_KPANEL - nn) * sizeof(float));
        }
    } else {
        for (int64_t j = 0; j < TG_KPANEL; j++) {
            const float *row = w + (n0 + j) * K;
            for (int64_t k = 0; k < K; k++)
                tile[k * TG_KPANEL + j] = j < nn ? row[k] : 0.0f;
        }
    }
    memset(tile + K * TG_KPANEL, 0, (size_t)(Kp - K) * TG_KPANEL * sizeof(float));
    if (m->fmt == TG_KFMT_Q8) {
        pack_q8(m, tile, panel);
    } else if (m->fmt == TG_KFMT_BF16) {
        uint16_t *o = (uint16_t *)panel;
        for (int64_t kk = 0; kk < Kp / 2; kk++)
            for (int64_t j = 0; j < TG_KPANEL; j++) {
                o[kk * 64 + 2 * j] = tg__bf16_from_f32(tile[(2 * kk) * TG_KPANEL + j]);
                o[kk * 64 + 2 * j + 1] = tg__bf16_from_f32(tile[(2 * kk + 1) * TG_KPANEL + j]);
            }
    } else if (m->fmt == TG_KFMT_S8 || m->fmt == TG_KFMT_U8S8) {
        float amax[TG_KPANEL] = {0}, inv[TG_KPANEL];
        int32_t qsum[TG_KPANEL] = {0};
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < TG_KPANEL; j++)
                amax[j] = fmaxf(amax[j], fabsf(tile[k * TG_KPANEL + j]));
        for (int64_t j = 0; j < TG_KPANEL; j++) {
            m->scale[n0 + j] = amax[j] / 127.0f;
            inv[j] = amax[j] > 0 ? 1.0f / m->scale[n0 + j] : 0.0f;
        }
        int8_t *o = (int8_t *)panel;
        if (m->fmt == TG_KFMT_S8)
            for (int64_t k = 0; k < Kp; k++)
                for (int64_t j = 0; j < TG_KPANEL; j++)
                    o[k * TG_KPANEL + j] = quant_s8(tile[k * TG_KPANEL + j], inv[j]);
        else {
            for (int64_t kq = 0; kq < Kp / 4; kq++)
                for (int64_t j = 0; j < TG_KPANEL; j++)
                    for (int64_t i = 0; i < 4; i++) {
                        const int8_t q = quant_s8(tile[(4 * kq + i) * TG_KPANEL + j], inv[j]);
                        o[kq * 128 + 4 * j + i] = q;
                        qsum[j] += q;
                    }
            for (int64_t j = 0; j < TG_KPANEL; j++)
                m->comp[n0 + j] = 128 * qsum[j];
        }
    }
}

typedef struct {
    tg_kmat *m;
    const float *w;
    int transposed;
    int release; /* drop each panel's source rows once packed (tg__kmat_pack_mapped) */
    int64_t chunks;
    atomic_int failed;
} pack_job;

static void pack_chunk(void *arg, int64_t c, int32_t worker)
{
    (void)worker;
    pack_job *j = arg;
    const int64_t np = j->m->n_panels, p0 = np * c / j->chunks, p1 = np * (c + 1) / j->chunks;
    float *tile = NULL;
    if (j->m->fmt != TG_KFMT_F32 &&
        !(tile = tg__malloc((size_t)j->m->Kp * TG_KPANEL * sizeof(float)))) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t p = p0; p < p1; p++)
        pack_panel(j->m, j->w, j->transposed, p, tile);
    /* A chunk at a time: one madvise (and its TLB shootdown on the pool's CPUs) per chunk, and
     * at most a chunk per thread of the source resident. */
    if (j->release && j->transposed && p1 > p0) {
        const int64_t K = j->m->K, N = j->m->N, n0 = p0 * TG_KPANEL;
        const int64_t n1 = p1 * TG_KPANEL < N ? p1 * TG_KPANEL : N;
        tg__file_release(j->w + n0 * K, (size_t)((n1 - n0) * K) * sizeof(float));
    }
    free(tile);
}

static tg_status pack(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                      int32_t fmt, tg_tpool *pool, int release)
{
    memset(out, 0, sizeof *out);
    if (fmt < TG_KFMT_F32 || (fmt > TG_KFMT_U8S8 && fmt != TG_KFMT_Q8))
        return tg__error(TG_EINVAL, "packing weights: unknown format %d", (int)fmt);
    if (!w || K < 1 || N < 1 || K > (INT64_C(1) << 24) || N > (INT64_C(1) << 24))
        return tg__error(TG_EINVAL, "packing weights: invalid matrix %lld x %lld", (long long)K,
                         (long long)N);
    const int64_t ks = k_step(fmt), Kp = (K + ks - 1) / ks * ks;
    const int64_t np = (N + TG_KPANEL - 1) / TG_KPANEL;
    out->fmt = fmt;
    out->K = K;
    out->N = N;
    out->Kp = Kp;
    out->n_panels = np;
    out->panel_bytes = panel_bytes(fmt, Kp);
    out->q8_unit = fmt == TG_KFMT_Q8 ? q8_unit(w, K, N, release && transposed) : 1.0f;
    const size_t data_bytes = out->panel_bytes * (size_t)np;
    out->data = tg__panel_mem_alloc(data_bytes, &out->owned, &out->map_bytes);
    const int quant = fmt == TG_KFMT_S8 || fmt == TG_KFMT_U8S8;
    if (quant)
        out->scale = tg__calloc((size_t)np * TG_KPANEL, sizeof(float));
    if (fmt == TG_KFMT_U8S8)
        out->comp = tg__calloc((size_t)np * TG_KPANEL, sizeof(int32_t));
    if (!out->data || (quant && !out->scale) || (fmt == TG_KFMT_U8S8 && !out->comp)) {
        tg__kmat_free(out);
        return tg__error(TG_ENOMEM, "out of memory packing a %lld x %lld matrix", (long long)K,
                         (long long)N);
    }
    out->bytes = data_bytes + (quant ? (size_t)np * TG_KPANEL * 4 : 0) +
                 (fmt == TG_KFMT_U8S8 ? (size_t)np * TG_KPANEL * 4 : 0);
    pack_job j = {out, w, transposed, release, tg__tpool_chunks(pool, np), 0};
    if (release && transposed) { /* chunks of at most ~8 MiB of source, whatever the pool */
        const int64_t want = (int64_t)((size_t)(K * N) * sizeof(float) / ((size_t)8 << 20)) + 1;
        if (want > j.chunks)
            j.chunks = want < np ? want : np;
    }
    tg__tpool_run(pool, j.chunks, pack_chunk, &j);
    if (atomic_load(&j.failed)) {
        tg__kmat_free(out);
        return tg__error(TG_ENOMEM, "out of memory packing a %lld x %lld matrix", (long long)K,
                         (long long)N);
    }
    tg__panel_mem_ready(out->data, out->owned, out->map_bytes);
    return TG_OK;
}

tg_status tg__kmat_pack(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                        int32_t fmt, tg_tpool *pool)
{
    return pack(out, w, K, N, transposed, fmt, pool, 0);
}

tg_status tg__kmat_pack_mapped(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                               int32_t fmt, tg_tpool *pool)
{
    return pack(out, w, K, N, transposed, fmt, pool, 1);
}

tg_status tg__kmat_view_f32(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed)
{
    memset(out, 0, sizeof *out);
    if (!w || K < 1 || N < 1 || K > (INT64_C(1) << 24) || N > (INT64_C(1) << 24))
        return tg__error(TG_EINVAL, "f32 weight view: invalid matrix %lld x %lld", (long long)K,
                         (long long)N);
    out->fmt = transposed ? TG_KFMT_F32_NK : TG_KFMT_F32_KN;
    out->K = out->Kp = K;
    out->N = N;
    out->n_panels = (N + TG_KPANEL - 1) / TG_KPANEL;
    out->data = (void *)w;
    out->bytes = (size_t)K * (size_t)N * sizeof(float);
    return TG_OK;
}

void tg__kmat_read_column(const tg_kmat *m, int64_t n, float *out)
{
    const int64_t K = m->K, j = n % TG_KPANEL;
    const uint8_t *panel = (const uint8_t *)m->data + (size_t)(n / TG_KPANEL) * m->panel_bytes;
    switch (m->fmt) {
    case TG_KFMT_F32:
        for (int64_t k = 0; k < K; k++)
            out[k] = ((const float *)panel)[k * TG_KPANEL + j];
        break;
    case TG_KFMT_BF16:
        for (int64_t k = 0; k < K; k++) {
            const uint32_t b = (uint32_t)((const uint16_t *)panel)[(k / 2) * 64 + 2 * j + (k & 1)]
                               << 16;
            memcpy(&out[k], &b, 4);
        }
        break;
    case TG_KFMT_S8:
        for (int64_t k = 0; k < K; k++)
            out[k] = (float)((const int8_t *)panel)[k * TG_KPANEL + j] * m->scale[n];
        break;
    case TG_KFMT_U8S8:
        for (int64_t k = 0; k < K; k++)
            out[k] = (float)((const int8_t *)panel)[(k / 4) * 128 + 4 * j + (k & 3)] * m->scale[n];
        break;
    case TG_KFMT_Q8:
        for (int64_t k = 0; k < K; k++) {
            const uint8_t *blk = panel + (size_t)(k / TG_KQBLK) * TG_KQ8_BLOCK_BYTES;
            const int64_t i = k % TG_KQBLK;
            uint16_t h;
            memcpy(&h, blk + TG_KQBLK * TG_KPANEL + 2 * j, 2);
            out[k] = (float)((int)blk[(i / 4) * 128 + 4 * j + (i & 3)] - 128) *
                     (tg__f16_to_f32(h) * m->q8_unit);
        }
        break;
    case TG_KFMT_F32_KN:
        for (int64_t k = 0; k < K; k++)
            out[k] = ((const float *)m->data)[k * m->N + n];
        break;
    case TG_KFMT_F32_NK:
        memcpy(out, (const float *)m->data + n * K, (size_t)K * sizeof(float));
        break;
    }
}

size_t tg__kmat_act_bytes(const tg_kmat *m, int64_t M)
{
    return tg__kact_scales_bytes(m, M) +
           ((size_t)M * (size_t)m->Kp * tg__kact_elem_bytes(m) + 63) / 64 * 64;
}

/* Q8: each block of 32 values of a row quantized symmetrically to 16 bits, q = round(x / s) with
 * s = max|x| / 32512, stored as two int8 planes, q = 256 hi + lo (lo in [-128, 127], hi in
 * [-127, 127]): the kernels take two vpdpbusd per quad, and the activations add no error worth
 * counting (8-bit activations flipped the golden folders' argmax twice as often as 8-bit
 * weights, docs/performance.md). The rounding adds and subtracts 1.5 * 2^23 (round to nearest
 * even for |v| < 2^22) so that the loop vectorises; NaN becomes -32512 (fmaxf). */
static void prepare_q8(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act,
                       int64_t r0, int64_t r1)
{
    const int64_t K = m->K, Kp = m->Kp, nb = Kp / TG_KQBLK;
    tg_kq8blk *rec = act;
    int8_t *rows = (int8_t *)act + tg__kact_scales_bytes(m, M);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t b = 0; b < nb; b++) {
            float v[TG_KQBLK];
            const int64_t k0 = b * TG_KQBLK, n = K - k0 < TG_KQBLK ? K - k0 : TG_KQBLK;
            memcpy(v, x + r * ldx + k0, (size_t)n * sizeof(float));
            memset(v + n, 0, (size_t)(TG_KQBLK - n) * sizeof(float));
            float amax = 0;
            for (int i = 0; i < TG_KQBLK; i++)
                amax = fmaxf(amax, fabsf(v[i]));
            const float s = amax / TG_KQ8_XMAX, inv = s > 0 ? 1.0f / s : 0.0f;
            int8_t *hi = rows + r * 2 * Kp + k0, *lo = hi + Kp;
            int32_t sum = 0;
            for (int i = 0; i < TG_KQBLK; i++) {
                float qf = (v[i] * inv + 12582912.0f) - 12582912.0f;
                qf = fminf(fmaxf(qf, -TG_KQ8_XMAX), TG_KQ8_XMAX);
                const int32_t q = (int32_t)qf, l = (int32_t)(int8_t)(uint8_t)(q & 0xff);
                lo[i] = (int8_t)l;
                hi[i] = (int8_t)((q - l) / 256);
                sum += q;
            }
            rec[r * nb + b].scale = s * m->q8_unit;
            rec[r * nb + b].corr = -128 * sum;
        }
}

void tg__kmat_prepare(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act)
{
    tg__kmat_prepare_rows(m, x, M, ldx, act, 0, M);
}

void tg__kmat_prepare_rows(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act,
                           int64_t r0, int64_t r1)
{
    if (m->fmt == TG_KFMT_Q8) {
#if defined(TG_KERNELS_X86)
        if (tg__kmat_isa() >= TG_KISA_AVX512) {
            tg__kq8_prepare_avx512(m, x, M, ldx, act, r0, r1);
            return;
        }
#endif
        prepare_q8(m, x, M, ldx, act, r0, r1);
        return;
    }
    const int64_t K = m->K, Kp = m->Kp;
    uint8_t *rows = (uint8_t *)act + tg__kact_scales_bytes(m, M);
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * ldx;
        if (m->fmt == TG_KFMT_F32 || m->fmt == TG_KFMT_S8 || m->fmt == TG_KFMT_F32_KN ||
            m->fmt == TG_KFMT_F32_NK) {
            memcpy((float *)rows + r * Kp, xr, (size_t)K * sizeof(float));
        } else if (m->fmt == TG_KFMT_BF16) {
            uint16_t *o = (uint16_t *)rows + r * Kp;
            for (int64_t k = 0; k < Kp; k++)
                o[k] = k < K ? tg__bf16_from_f32(xr[k]) : 0;
        } else {
            /* Symmetric per-row quantization, shifted by 128 into u8 for vpdpbusd. */
            float amax = 0;
            for (int64_t k = 0; k < K; k++)
                amax = fmaxf(amax, fabsf(xr[k]));
            const float s = amax / 127.0f, inv = s > 0 ? 1.0f / s : 0.0f;
            ((float *)act)[r] = s;
            uint8_t *o = rows + r * Kp;
            for (int64_t k = 0; k < Kp; k++)
                o[k] = (uint8_t)(128 + (k < K ? quant_s8(xr[k], inv) : 0));
        }
    }
}

/* Q8 from 3 rows on more than one thread: the VNNI unit bounds the product. */
static int vnni_bound(const tg_kmat *m, int64_t M, int32_t threads)
{
    return m->fmt == TG_KFMT_Q8 && M >= TG_KQ8_PREFETCH_M && M <= TG_KMAX_M && threads > 1;
}

int64_t tg__kmat_chunks(const tg_kmat *m, int64_t M, int32_t threads)
{
    if (vnni_bound(m, M, threads)) {
        const int64_t want = 2 * (int64_t)threads;
        return want < m->n_panels ? want : m->n_panels;
    }
    return tg__tpool_chunks_for(threads, m->n_panels);
}

int64_t tg__kmat_prep_parts(const tg_kmat *m, int64_t M, int32_t threads)
{
    return vnni_bound(m, M, threads) ? (threads < M ? threads : M) : 1;
}
