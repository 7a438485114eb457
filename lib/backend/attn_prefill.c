/* backend/attn_prefill.c — causal attention of a prompt's rows over the paged KV cache
 * (attn_prefill.h). Rows go 4 at a time: their scores against two K blocks (32 positions) are
 * 8 independent 16-wide multiply-add chains, one K load feeding 4 rows; their weighted sums of V
 * are 4 rows x 32 outputs, one V load feeding 4 rows. A 16-float vector is one AVX-512 register
 * in the x86-64-v4 clone, two AVX ones in the v3 clone, four SSE ones in the default build: one
 * source, the same sums in the same order at every width. */
#include "attn_prefill.h"
#include "simd.h"
#include "softmax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TG_ATTN_X86 1
#define TGT_512 __attribute__((target("avx512f,fma")))
#endif

/* Element bytes of the cache: f32, or bf16 when BF (a constant wherever it is used: every
 * kernel below is compiled once per element type). */
#define ESZ(BF) ((BF) ? 2 : 4)

_Static_assert(TG_KV_BLOCK == 16, "a K block row is one 16-float vector");
_Static_assert(TG_ATTN_TILE % 4 == 0, "tiles are whole groups of 4 rows");

/* Score rows of stride sst: past the longest sequence, and off multiples of 4 KiB. */
static int64_t score_stride(int64_t n_ctx)
{
    int64_t s = (n_ctx + TG_KV_BLOCK - 1) / TG_KV_BLOCK * TG_KV_BLOCK;
    return s % 1024 == 0 ? s + TG_KV_BLOCK : s;
}

size_t tg__attn_prefill_scratch(const tg_kv_cache *kv)
{
    return (size_t)(TG_ATTN_TILE * kv->head_dim +
                    4 * score_stride((int64_t)kv->max_blocks * TG_KV_BLOCK));
}

typedef struct job {
    const tg_kv_cache *kv;
    int32_t seq, l;
    int64_t H, G, D, p0, m, n_tiles, sst;
    const float *q;
    size_t q_stride;
    float *out;
    size_t out_stride;
    float *scratch;
    size_t scratch_floats;
    float scale;
    int use512; /* the AVX-512 loops below (FMA: the generic ones compile to multiply + add) */
} job;

/* s[j][16 b + t] = Q[j] . K(position 16 b + t) for 4 rows Q [4][D] (scaled), blocks [0, nb). */
TG_INLINE void scores4(const job *jb, int32_t g, int64_t nb, const float *Q, float *s, const int BF)
{
    const int64_t D = jb->D, sst = jb->sst, row = TG_KV_BLOCK * ESZ(BF);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *k0 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 0, g);
        const uint8_t *k1 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b + 1, jb->l, 0, g);
        v16f a0[4] = {{0}}, a1[4] = {{0}}, x, y;
        for (int64_t d = 0; d < D; d++) {
            tg__load16(&x, k0 + d * row, BF);
            tg__load16(&y, k1 + d * row, BF);
            for (int j = 0; j < 4; j++) {
                const float qd = Q[j * D + d];
                a0[j] += qd * x;
                a1[j] += qd * y;
            }
        }
        for (int j = 0; j < 4; j++) {
            memcpy(s + j * sst + b * TG_KV_BLOCK, &a0[j], sizeof a0[j]);
            memcpy(s + j * sst + (b + 1) * TG_KV_BLOCK, &a1[j], sizeof a1[j]);
        }
    }
    if (b < nb) {
        const uint8_t *k0 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 0, g);
        v16f a0[4] = {{0}}, x;
        for (int64_t d = 0; d < D; d++) {
            tg__load16(&x, k0 + d * row, BF);
            for (int j = 0; j < 4; j++)
                a0[j] += Q[j * D + d] * x;
        }
        for (int j = 0; j < 4; j++)
            memcpy(s + j * sst + b * TG_KV_BLOCK, &a0[j], sizeof a0[j]);
    }
}

/* o[j] = sum over t < L of p[j][t] V(t), for 4 rows of probabilities p (stride sst); rows whose
 * o[j] is NULL are computed and dropped. */
TG_INLINE void weighted4(const job *jb, int32_t g, int64_t L, const float *p, float *const o[4],
                         int64_t d0, const int BF)
{
    const int64_t D = jb->D, sst = jb->sst;
    for (; d0 + 32 <= D; d0 += 32) {
        v16f a[4][2] = {{{0}}}, v0, v1;
        for (int64_t b = 0; b * TG_KV_BLOCK < L; b++) {
            const uint8_t *vb =
                (const uint8_t *)tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 1, g) +
                d0 * ESZ(BF);
            const float *pb = p + b * TG_KV_BLOCK;
            const int64_t n = L - b * TG_KV_BLOCK < TG_KV_BLOCK ? L - b * TG_KV_BLOCK : TG_KV_BLOCK;
            for (int64_t t = 0; t < n; t++) {
                tg__load16(&v0, vb + t * D * ESZ(BF), BF);
                tg__load16(&v1, vb + (t * D + 16) * ESZ(BF), BF);
                for (int j = 0; j < 4; j++) {
                    const float pt = pb[j * sst + t];
                    a[j][0] += pt * v0;
                    a[j][1] += pt * v1;
                }
            }
        }
        for (int j = 0; j < 4; j++)
            if (o[j])
                memcpy(o[j] + d0, a[j], sizeof a[j]);
    }
    for (; d0 < D; d0++) /* head_dim not a multiple of 32: the rest one output at a time */
        for (int j = 0; j < 4; j++) {
            float acc = 0.0f;
            for (int64_t t = 0; t < L; t++)
                acc += p[j * sst + t] *
                       tg__load1(
                           tg__kvc_array(jb->kv, jb->seq, (int32_t)(t / TG_KV_BLOCK), jb->l, 1, g),
                           t % TG_KV_BLOCK * D + d0, BF);
            if (o[j])
                o[j][d0] = acc;
        }
}

#ifdef TG_ATTN_X86
/* scores4 and weighted4 with fused multiply-adds: the same sums in the same order, each product
 * rounded once instead of twice. */
/* The 4 rows' accumulators are named registers: arrays indexed in a loop stay in memory at -O2. */
#define ROWS4(X) X(0) X(1) X(2) X(3)
#define TGT_512_INLINE TGT_512 static inline __attribute__((always_inline))

/* 16 cache elements at p: floats, or bf16 widened exactly. */
TGT_512_INLINE __m512 load16_512(const uint8_t *p, const int BF)
{
    if (BF)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    return _mm512_loadu_ps((const float *)p);
}

TGT_512_INLINE void scores4_512(const job *jb, int32_t g, int64_t nb, const float *Q, float *s,
                                const int BF)
{
    const int64_t D = jb->D, sst = jb->sst, row = TG_KV_BLOCK * ESZ(BF);
    const float *q0 = Q, *q1 = Q + D, *q2 = Q + 2 * D, *q3 = Q + 3 * D;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *k0 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 0, g);
        const uint8_t *k1 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b + 1, jb->l, 0, g);
#define ZERO2(j) __m512 a##j = _mm512_setzero_ps(), c##j = _mm512_setzero_ps();
        ROWS4(ZERO2)
        for (int64_t d = 0; d < D; d++) {
            const __m512 x = load16_512(k0 + d * row, BF);
            const __m512 y = load16_512(k1 + d * row, BF);
#define FMA2(j)                                                                                    \
    {                                                                                              \
        const __m512 qd = _mm512_set1_ps(q##j[d]);                                                 \
        a##j = _mm512_fmadd_ps(qd, x, a##j);                                                       \
        c##j = _mm512_fmadd_ps(qd, y, c##j);                                                       \
    }
            ROWS4(FMA2)
        }
#define STORE2(j)                                                                                  \
    _mm512_storeu_ps(s + j * sst + b * TG_KV_BLOCK, a##j);                                         \
    _mm512_storeu_ps(s + j * sst + (b + 1) * TG_KV_BLOCK, c##j);
        ROWS4(STORE2)
    }
    if (b < nb) {
        const uint8_t *k0 = tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 0, g);
#define ZERO1(j) __m512 a##j = _mm512_setzero_ps();
        ROWS4(ZERO1)
        for (int64_t d = 0; d < D; d++) {
            const __m512 x = load16_512(k0 + d * row, BF);
#define FMA1(j) a##j = _mm512_fmadd_ps(_mm512_set1_ps(q##j[d]), x, a##j);
            ROWS4(FMA1)
        }
#define STORE1(j) _mm512_storeu_ps(s + j * sst + b * TG_KV_BLOCK, a##j);
        ROWS4(STORE1)
    }
}

/* The 32-output passes of weighted4; returns the first output it left (to the generic tail). */
TGT_512_INLINE int64_t weighted4_512(const job *jb, int32_t g, int64_t L, const float *p,
                                     float *const o[4], const int BF)
{
    const int64_t D = jb->D, sst = jb->sst;
    int64_t d0 = 0;
    for (; d0 + 32 <= D; d0 += 32) {
        ROWS4(ZERO2)
        for (int64_t b = 0; b * TG_KV_BLOCK < L; b++) {
            const uint8_t *vb =
                (const uint8_t *)tg__kvc_array(jb->kv, jb->seq, (int32_t)b, jb->l, 1, g) +
                d0 * ESZ(BF);
            const float *pb = p + b * TG_KV_BLOCK;
            const int64_t n = L - b * TG_KV_BLOCK < TG_KV_BLOCK ? L - b * TG_KV_BLOCK : TG_KV_BLOCK;
            for (int64_t t = 0; t < n; t++) {
                const __m512 x = load16_512(vb + t * D * ESZ(BF), BF),
                             y = load16_512(vb + (t * D + 16) * ESZ(BF), BF);
#define PV2(j)                                                                                     \
    {                                                                                              \
        const __m512 pt = _mm512_set1_ps(pb[j * sst + t]);                                         \
        a##j = _mm512_fmadd_ps(pt, x, a##j);                                                       \
        c##j = _mm512_fmadd_ps(pt, y, c##j);                                                       \
    }
                ROWS4(PV2)
            }
        }
#define OUT2(j)                                                                                    \
    if (o[j]) {                                                                                    \
        _mm512_storeu_ps(o[j] + d0, a##j);                                                         \
        _mm512_storeu_ps(o[j] + d0 + 16, c##j);                                                    \
    }
        ROWS4(OUT2)
    }
    return d0;
}

/* The kernels above for each element type (their BF folded). */
TGT_512 static void scores4_512_f32(const job *jb, int32_t g, int64_t nb, const float *Q, float *s)
{
    scores4_512(jb, g, nb, Q, s, 0);
}
TGT_512 static void scores4_512_bf16(const job *jb, int32_t g, int64_t nb, const float *Q, float *s)
{
    scores4_512(jb, g, nb, Q, s, 1);
}
TGT_512 static int64_t weighted4_512_f32(const job *jb, int32_t g, int64_t L, const float *p,
                                         float *const o[4])
{
    return weighted4_512(jb, g, L, p, o, 0);
}
TGT_512 static int64_t weighted4_512_bf16(const job *jb, int32_t g, int64_t L, const float *p,
                                          float *const o[4])
{
    return weighted4_512(jb, g, L, p, o, 1);
}
#endif

/* TEXTGEN_ATTN_PORTABLE=1: the generic loops on an AVX-512 CPU too (tests, benchmarks). */
static int use_avx512(void)
{
#ifdef TG_ATTN_X86
    return __builtin_cpu_supports("avx512f") && !getenv("TEXTGEN_ATTN_PORTABLE");
#else
    return 0;
#endif
}

const char *tg__attn_prefill_kernel(void)
{
    return use_avx512() ? "avx512" : "portable";
}

/* scores4 with the kernel for the CPU and the cache's element type. */
TG_INLINE void scores_group(const job *jb, int32_t g, int64_t nb, const float *Q, float *s)
{
#ifdef TG_ATTN_X86
    if (jb->use512) {
        if (jb->kv->bf16)
            scores4_512_bf16(jb, g, nb, Q, s);
        else
            scores4_512_f32(jb, g, nb, Q, s);
        return;
    }
#endif
    if (jb->kv->bf16)
        scores4(jb, g, nb, Q, s, 1);
    else
        scores4(jb, g, nb, Q, s, 0);
}

/* weighted4 the same way (the AVX-512 loops leave a head_dim past a multiple of 32 to it). */
TG_INLINE void weighted_group(const job *jb, int32_t g, int64_t L, const float *p,
                              float *const o[4])
{
    int64_t d0 = 0;
#ifdef TG_ATTN_X86
    if (jb->use512)
        d0 = jb->kv->bf16 ? weighted4_512_bf16(jb, g, L, p, o) : weighted4_512_f32(jb, g, L, p, o);
#endif
    if (jb->kv->bf16)
        weighted4(jb, g, L, p, o, d0, 1);
    else
        weighted4(jb, g, L, p, o, d0, 0);
}

/* One tile of TG_ATTN_TILE rows for the q heads of one KV head; the last tiles (the rows that
 * see the most positions) come first, so the shortest tasks fill the end of the job. */
TG_CLONES
static void tile_task(void *arg, int64_t k, int32_t worker)
{
    const job *jb = arg;
    const int64_t G = jb->G, D = jb->D, R = jb->H / G, g = k % G;
    const int64_t r0 = (jb->n_tiles - 1 - k / G) * TG_ATTN_TILE;
    const int64_t nr = jb->m - r0 < TG_ATTN_TILE ? jb->m - r0 : TG_ATTN_TILE, nr4 = (nr + 3) & ~3;
    float *Q = jb->scratch + (size_t)worker * jb->scratch_floats, *S = Q + TG_ATTN_TILE * D;
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        for (int64_t i = 0; i < nr; i++) {
            const float *src = jb->q + (size_t)(r0 + i) * jb->q_stride + (size_t)(h * D);
            for (int64_t d = 0; d < D; d++)
                Q[i * D + d] = src[d] * jb->scale;
        }
        memset(Q + nr * D, 0, (size_t)((nr4 - nr) * D) * sizeof *Q); /* padding rows */
        for (int64_t i = 0; i < nr4; i += 4) {
            const int64_t last = (i + 4 < nr ? i + 4 : nr) - 1; /* last real row of the group */
            const int64_t L = jb->p0 + r0 + last + 1;           /* positions it sees */
            const int64_t nb = (L + TG_KV_BLOCK - 1) / TG_KV_BLOCK;
            scores_group(jb, (int32_t)g, nb, Q + i * D, S);
            float *o[4];
            for (int64_t j = 0; j < 4; j++) {
                float *s = S + j * jb->sst;
                if (i + j < nr) {
                    const int64_t n = jb->p0 + r0 + i + j + 1;
                    tg__softmax(s, n);
                    memset(s + n, 0, (size_t)(L - n) * sizeof *s);
                    o[j] = jb->out + (size_t)(r0 + i + j) * jb->out_stride + (size_t)(h * D);
                } else { /* padding row */
                    memset(s, 0, (size_t)L * sizeof *s);
                    o[j] = NULL;
                }
            }
            weighted_group(jb, (int32_t)g, L, S, o);
        }
    }
}

void tg__attn_prefill(const tg_kv_cache *kv, int32_t seq, int32_t l, int64_t H, int64_t p0,
                      int64_t m, const float *q, size_t q_stride, float *out, size_t out_stride,
                      float *scratch, tg_tpool *pool)
{
    const int64_t G = kv->n_kv_head, D = kv->head_dim;
    const int64_t n_tiles = (m + TG_ATTN_TILE - 1) / TG_ATTN_TILE;
    const int64_t n_ctx = (int64_t)kv->max_blocks * TG_KV_BLOCK;
    job jb = {.kv = kv,
              .seq = seq,
              .l = l,
              .H = H,
              .G = G,
              .D = D,
              .p0 = p0,
              .m = m,
              .n_tiles = n_tiles,
              .sst = score_stride(n_ctx),
              .q = q,
              .q_stride = q_stride,
              .out = out,
              .out_stride = out_stride,
              .scratch = scratch,
              .scratch_floats = tg__attn_prefill_scratch(kv),
              .scale = 1.0f / sqrtf((float)D)};
    jb.use512 = use_avx512();
    const int64_t work = (p0 * m + m * (m + 1) / 2) * H * D * 2; /* multiply-adds of q.K, p.V */
    tg__tpool_run(tg__tpool_for_work(pool, work), n_tiles * G, tile_task, &jb);
}
