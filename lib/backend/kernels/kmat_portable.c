/* backend/kernels/kmat_portable.c — the kernels in plain C, for any CPU, and the reference the
 * vector kernels are tested against. Same panel walk and the same per-column summation order
 * (k ascending) as the vector kernels, so results differ only by rounding inside the fused
 * instructions. */
#include "kmat_impl.h"

#include <math.h>
#include <string.h>

static float bf16_to_f32(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* In-place f32: element (k, n) of the caller's matrix. */
static void kern_view(const tg_kcall *c)
{
    const tg_kmat *m = c->m;
    const float *w = m->data;
    const int64_t K = m->K, N = m->N, n0 = c->p0 * TG_KPANEL;
    const int64_t n1 = c->p1 * TG_KPANEL < N ? c->p1 * TG_KPANEL : N;
    for (int64_t r = 0; r < c->M; r++) {
        const float *x = (const float *)c->act + r * c->act_ld;
        for (int64_t n = n0; n < n1; n++) {
            float acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += x[k] * (m->fmt == TG_KFMT_F32_KN ? w[k * N + n] : w[n * K + k]);
            tg__kstore(c->y + r * c->ldy + n, &acc, c->bias ? c->bias + n : NULL, 1);
        }
    }
}

/* Q8: an int32 dot product per block of 32 k and column (256 * the hi plane's + the lo plane's),
 * then acc += dot * (w scale * x scale) with one rounding (fmaf), exactly what the VNNI kernel
 * computes. */
static void kern_q8(const tg_kcall *c)
{
    const tg_kmat *m = c->m;
    const int64_t nb = m->Kp / TG_KQBLK;
    for (int64_t p = c->p0; p < c->p1; p++) {
        const uint8_t *panel = (const uint8_t *)m->data + (size_t)p * m->panel_bytes;
        const int64_t n0 = p * TG_KPANEL;
        const int64_t nn = m->N - n0 < TG_KPANEL ? m->N - n0 : TG_KPANEL;
        for (int64_t r = 0; r < c->M; r++) {
            const int8_t *hi = (const int8_t *)c->act + r * 2 * c->act_ld, *lo = hi + m->Kp;
            const tg_kq8blk *rec = c->xblk + r * nb;
            float acc[TG_KPANEL] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = panel + (size_t)b * TG_KQ8_BLOCK_BYTES;
                for (int j = 0; j < TG_KPANEL; j++) {
                    int32_t dh = 0, dl = 0;
                    for (int i = 0; i < TG_KQBLK; i++) {
                        const int32_t w = blk[(i / 4) * 128 + 4 * j + (i & 3)];
                        dh += w * hi[b * TG_KQBLK + i];
                        dl += w * lo[b * TG_KQBLK + i];
                    }
                    const int32_t dot = dh * 256 + rec[b].corr + dl;
                    uint16_t h;
                    memcpy(&h, blk + TG_KQBLK * TG_KPANEL + 2 * j, 2);
                    acc[j] = fmaf((float)dot, tg__f16_to_f32(h) * rec[b].scale, acc[j]);
                }
            }
            tg__kstore(c->y + r * c->ldy + n0, acc, c->bias ? c->bias + n0 : NULL, nn);
        }
    }
}

static void kern_portable(const tg_kcall *c)
{
    const tg_kmat *m = c->m;
    const int64_t Kp = m->Kp, fmt = m->fmt;
    for (int64_t p = c->p0; p < c->p1; p++) {
        const uint8_t *panel = (const uint8_t *)m->data + (size_t)p * m->panel_bytes;
        const int64_t n0 = p * TG_KPANEL;
        const int64_t nn = m->N - n0 < TG_KPANEL ? m->N - n0 : TG_KPANEL;
        for (int64_t r = 0; r < c->M; r++) {
            float acc[TG_KPANEL] = {0};
            int32_t iacc[TG_KPANEL] = {0};
            if (fmt == TG_KFMT_F32) {
                const float *x = (const float *)c->act + r * c->act_ld;
                for (int64_t k = 0; k < Kp; k++)
                    for (int j = 0; j < TG_KPANEL; j++)
                        acc[j] += x[k] * ((const float *)panel)[k * TG_KPANEL + j];
            } else if (fmt == TG_KFMT_S8) {
                const float *x = (const float *)c->act + r * c->act_ld;
                for (int64_t k = 0; k < Kp; k++)
                    for (int j = 0; j < TG_KPANEL; j++)
                        acc[j] += x[k] * (float)((const int8_t *)panel)[k * TG_KPANEL + j];
            } else if (fmt == TG_KFMT_BF16) {
                const uint16_t *x = (const uint16_t *)c->act + r * c->act_ld;
                const uint16_t *w = (const uint16_t *)panel;
                for (int64_t k = 0; k < Kp; k += 2)
                    for (int j = 0; j < TG_KPANEL; j++)
                        acc[j] += bf16_to_f32(x[k]) * bf16_to_f32(w[k * TG_KPANEL + 2 * j]) +
                                  bf16_to_f32(x[k + 1]) * bf16_to_f32(w[k * TG_KPANEL + 2 * j + 1]);
            } else {
                const uint8_t *x = (const uint8_t *)c->act + r * c->act_ld;
                const int8_t *w = (const int8_t *)panel;
                for (int64_t k = 0; k < Kp; k += 4)
                    for (int j = 0; j < TG_KPANEL; j++)
                        for (int i = 0; i < 4; i++)
                            iacc[j] += (int32_t)x[k + i] * (int32_t)w[k * TG_KPANEL + 4 * j + i];
            }
            if (fmt == TG_KFMT_S8)
                for (int j = 0; j < nn; j++)
                    acc[j] *= m->scale[n0 + j];
            else if (fmt == TG_KFMT_U8S8)
                for (int j = 0; j < nn; j++)
                    acc[j] = (float)(iacc[j] - m->comp[n0 + j]) * (c->xscale[r] * m->scale[n0 + j]);
            tg__kstore(c->y + r * c->ldy + n0, acc, c->bias ? c->bias + n0 : NULL, nn);
        }
    }
}

const tg_kern_fn tg__kern_portable[TG_KFMT_COUNT] = {NULL,          kern_portable, kern_portable,
                                                     kern_portable, kern_portable, kern_view,
                                                     kern_view,     kern_q8};
