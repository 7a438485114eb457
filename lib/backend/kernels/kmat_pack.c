/* backend/kernels/kmat_pack.c — packing weights into panels (f32, bf16, per-column int8) and
 * preparing each product's activations. Plain C: this runs once at load (weights) or once per
 * product on M x K values (activations). */
#include "core/error.h"
#include "kmat_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint16_t f32_to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((b >> 16) | 0x40);                   /* quiet NaN */
    return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16); /* round to nearest even */
}

static int8_t quant_s8(float v, float inv_scale)
{
    float q = nearbyintf(v * inv_scale);
    if (q != q) /* NaN */
        return 0;
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    return (int8_t)q;
}

static int64_t k_step(int32_t fmt)
{
    return fmt == TG_KFMT_BF16 ? 2 : fmt == TG_KFMT_U8S8 ? 4 : 1;
}

static size_t elem_bytes(int32_t fmt)
{
    return fmt == TG_KFMT_F32 ? 4 : fmt == TG_KFMT_BF16 ? 2 : 1;
}

void tg__kmat_free(tg_kmat *m)
{
    if (!m)
        return;
    if (m->owned)
        free(m->data);
    free(m->scale);
    free(m->comp);
    memset(m, 0, sizeof *m);
}

tg_status tg__kmat_pack(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                        int32_t fmt)
{
    memset(out, 0, sizeof *out);
    if (fmt < TG_KFMT_F32 || fmt > TG_KFMT_U8S8)
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
    out->panel_bytes = (size_t)Kp * TG_KPANEL * elem_bytes(fmt);
    const size_t data_bytes = out->panel_bytes * (size_t)np;
    out->data = aligned_alloc(64, (data_bytes + 63) / 64 * 64);
    out->owned = 1;
    const int quant = fmt == TG_KFMT_S8 || fmt == TG_KFMT_U8S8;
    if (quant)
        out->scale = calloc((size_t)np * TG_KPANEL, sizeof(float));
    if (fmt == TG_KFMT_U8S8)
        out->comp = calloc((size_t)np * TG_KPANEL, sizeof(int32_t));
    if (!out->data || (quant && !out->scale) || (fmt == TG_KFMT_U8S8 && !out->comp)) {
        tg__kmat_free(out);
        return tg__error(TG_ENOMEM, "out of memory packing a %lld x %lld matrix", (long long)K,
                         (long long)N);
    }
    out->bytes = data_bytes + (quant ? (size_t)np * TG_KPANEL * 4 : 0) +
                 (fmt == TG_KFMT_U8S8 ? (size_t)np * TG_KPANEL * 4 : 0);
#define W_AT(k, n)                                                                                 \
    (transposed ? w[(size_t)(n) * (size_t)K + (size_t)(k)]                                         \
                : w[(size_t)(k) * (size_t)N + (size_t)(n)])
    if (quant)
        for (int64_t n = 0; n < N; n++) {
            float amax = 0;
            for (int64_t k = 0; k < K; k++)
                amax = fmaxf(amax, fabsf(W_AT(k, n)));
            out->scale[n] = amax / 127.0f;
        }
    for (int64_t p = 0; p < np; p++) {
        uint8_t *panel = (uint8_t *)out->data + (size_t)p * out->panel_bytes;
        for (int64_t j = 0; j < TG_KPANEL; j++) {
            const int64_t n = p * TG_KPANEL + j;
            const float inv = quant && n < N && out->scale[n] > 0 ? 1.0f / out->scale[n] : 0.0f;
            int32_t qsum = 0;
            for (int64_t k = 0; k < Kp; k++) {
                const float v = n < N && k < K ? W_AT(k, n) : 0.0f;
                /* element (k, j) of the panel: k-groups of ks, 32 columns, ks values each */
                const size_t at = (size_t)(k / ks) * TG_KPANEL * (size_t)ks +
                                  (size_t)j * (size_t)ks + (size_t)(k % ks);
                if (fmt == TG_KFMT_F32)
                    ((float *)panel)[at] = v;
                else if (fmt == TG_KFMT_BF16)
                    ((uint16_t *)panel)[at] = f32_to_bf16(v);
                else {
                    const int8_t q = quant_s8(v, inv);
                    ((int8_t *)panel)[at] = q;
                    qsum += q;
                }
            }
            if (fmt == TG_KFMT_U8S8)
                out->comp[n] = 128 * qsum;
        }
    }
#undef W_AT
    return TG_OK;
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

size_t tg__kmat_act_bytes(const tg_kmat *m, int64_t M)
{
    return tg__kact_scales_bytes(m, M) +
           ((size_t)M * (size_t)m->Kp * tg__kact_elem_bytes(m) + 63) / 64 * 64;
}

void tg__kmat_prepare(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act)
{
    const int64_t K = m->K, Kp = m->Kp;
    uint8_t *rows = (uint8_t *)act + tg__kact_scales_bytes(m, M);
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x + r * ldx;
        if (m->fmt == TG_KFMT_F32 || m->fmt == TG_KFMT_S8 || m->fmt == TG_KFMT_F32_KN ||
            m->fmt == TG_KFMT_F32_NK) {
            memcpy((float *)rows + r * Kp, xr, (size_t)K * sizeof(float));
        } else if (m->fmt == TG_KFMT_BF16) {
            uint16_t *o = (uint16_t *)rows + r * Kp;
            for (int64_t k = 0; k < Kp; k++)
                o[k] = k < K ? f32_to_bf16(xr[k]) : 0;
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
