/* test_attention.c — white-box: the decode attention of backend/attention.c (rows read their K
 * and V in place from the cache blocks, several KV heads side by side) against a double-precision
 * reference of the same operands, bit-identical whatever the pool's thread count (which
 * changes how many heads one task reads together), and bit-identical to the plain one-row loop
 * (so that a faster kernel or cache layout cannot change a single output unnoticed). */
#include "attention.h"
#include "kv_cache.h"
#include "kernels/tpool.h"
#include "softmax.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int32_t H, G, D; /* q heads, KV heads, head dim */
} shape;

/* GPT-2's heads (the 64-wide V sums); grouped-query heads with a head dim that ends in a group
 * of 8 (40) and one that ends in fewer (12). */
static const shape shapes[] = {{12, 12, 64}, {8, 2, 40}, {6, 3, 12}};
#define N_CTX 200 /* > 12 blocks of 16 and a partial one; H D T >= 32768: the pool is used */

/* A reproducible value in [-1, 1). */
static float rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* Decodes positions 0 .. N_CTX - 1 one row at a time with a pool of n_threads, writing every
 * row's attention output into att_all [N_CTX][H D], and the qkv rows fed into qkv_all. */
static void run(const shape *sh, int32_t n_threads, float *qkv_all, float *att_all)
{
    tg_net_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_ctx = N_CTX;
    hp.n_layer = 1;
    hp.n_head = sh->H;
    hp.n_kv_head = sh->G;
    hp.head_dim = sh->D;
    hp.n_embd = sh->H * sh->D;
    const int64_t QKV = (int64_t)(sh->H + 2 * sh->G) * sh->D;
    tg_tpool *pool;
    tg_kv_cache *kv;
    tg_attn *a;
    cr_assert_eq(tg__tpool_create(&pool, n_threads, 100), TG_OK);
    cr_assert_eq(tg__kvc_create(&kv, 1, N_CTX, 1, sh->G, sh->D, 0), TG_OK);
    cr_assert_eq(tg__attn_create(&a, &hp, kv, N_CTX, 1, pool), TG_OK);
    uint64_t seed = 42;
    for (int32_t p = 0; p < N_CTX; p++) {
        float *qkv = qkv_all + (size_t)p * (size_t)QKV;
        for (int64_t i = 0; i < QKV; i++)
            qkv[i] = rnd(&seed);
        cr_assert_eq(tg__kvc_reserve(kv, 0, p, 1), TG_OK);
        const tg_batch_row row = {0, p, 0, 1};
        cr_assert_eq(tg__attn_layer(a, 0, &row, 1, qkv, att_all + (size_t)p * sh->H * sh->D),
                     TG_OK);
    }
    tg__attn_free(a);
    tg__kvc_free(kv);
    tg__tpool_free(pool);
}

/* softmax(q k / sqrt(D)) v over positions [0, p] for every q head, in double. */
static void reference(const shape *sh, const float *qkv_all, int32_t p, double *out)
{
    const int64_t H = sh->H, G = sh->G, D = sh->D, R = H / G, QKV = (H + 2 * G) * D;
    double *s = malloc((size_t)(p + 1) * sizeof *s);
    for (int64_t h = 0; h < H; h++) {
        const float *q = qkv_all + (size_t)p * (size_t)QKV + h * D;
        const int64_t g = h / R;
        double mx = -INFINITY, sum = 0;
        for (int32_t t = 0; t <= p; t++) {
            const float *k = qkv_all + (size_t)t * (size_t)QKV + (H + g) * D;
            double d = 0;
            for (int64_t i = 0; i < D; i++)
                d += (double)q[i] * (double)k[i];
            s[t] = d / sqrt((double)D);
            mx = s[t] > mx ? s[t] : mx;
        }
        for (int32_t t = 0; t <= p; t++)
            sum += (s[t] = exp(s[t] - mx));
        for (int64_t i = 0; i < D; i++) {
            double o = 0;
            for (int32_t t = 0; t <= p; t++)
                o += s[t] / sum * (double)qkv_all[(size_t)t * (size_t)QKV + (H + G + g) * D + i];
            out[h * D + i] = o;
        }
    }
    free(s);
}

Test(attention, decode_rows_match_a_double_reference_and_every_thread_count_gives_the_same_bits)
{
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        const shape *sh = &shapes[c];
        const size_t QKV = (size_t)(sh->H + 2 * sh->G) * (size_t)sh->D,
                     HD = (size_t)sh->H * (size_t)sh->D;
        float *qkv[3], *att[3];
        for (int t = 0; t < 3; t++) {
            qkv[t] = malloc(N_CTX * QKV * sizeof(float));
            att[t] = malloc(N_CTX * HD * sizeof(float));
            run(sh, t + 1, qkv[t], att[t]);
        }
        double *want = malloc(HD * sizeof *want);
        const int32_t checked[] = {0, 1, 15, 16, 17, 63, 130, N_CTX - 1};
        for (size_t k = 0; k < sizeof checked / sizeof *checked; k++) {
            const int32_t p = checked[k];
            reference(sh, qkv[0], p, want);
            for (size_t i = 0; i < HD; i++)
                cr_assert(fabs(att[0][(size_t)p * HD + i] - want[i]) <= 2e-6 + 2e-5 * fabs(want[i]),
                          "shape %zu, position %d, output %zu: %.9g, want %.9g", c, (int)p, i,
                          (double)att[0][(size_t)p * HD + i], want[i]);
        }
        for (int t = 1; t < 3; t++)
            cr_assert(memcmp(att[0], att[t], N_CTX * HD * sizeof(float)) == 0,
                      "shape %zu: %d threads give other bits than 1", c, t + 1);
        free(want);
        for (int t = 0; t < 3; t++) {
            free(qkv[t]);
            free(att[t]);
        }
    }
}

/* The decode kernel's arithmetic, written as the plain one-row loop: q scaled by 1/sqrt(D) in
 * float, each score summed over d in order, softmax.h's softmax, each output summed over t in
 * order. k(t) and v(t) are position t's K and V rows of the row's KV head. */
static void scalar_head(const float *q, int64_t D, int64_t T, const float *const *k,
                        const float *const *v, float *s, float *out)
{
    const float scale = 1.0f / sqrtf((float)D);
    for (int64_t t = 0; t < T; t++) {
        float acc = 0;
        for (int64_t d = 0; d < D; d++)
            acc += q[d] * scale * k[t][d];
        s[t] = acc;
    }
    tg__softmax(s, T);
    for (int64_t d = 0; d < D; d++) {
        float acc = 0;
        for (int64_t t = 0; t < T; t++)
            acc += s[t] * v[t][d];
        out[d] = acc;
    }
}

#define SEQS 3
#define PROMPT 37 /* two full blocks and a partial one, shared by every sequence */
#define STEPS 30

/* Two layers, three sequences: sequence 0 decodes a prompt row by row, sequences 1 and 2 copy
 * it (sharing its blocks, the partial one copied on the first write), then every step decodes
 * one row of each sequence in one call. Every output must be exactly the one-row loop's:
 * whatever the pool, the grouping of heads into tasks, or the cache's layout, the sums are the
 * same operations in the same order. */
static void check_bits_against_the_one_row_loop(const shape *sh, int32_t n_threads, int32_t bf16)
{
    const int64_t H = sh->H, G = sh->G, D = sh->D, R = H / G, QKV = (H + 2 * G) * D;
    const int32_t L = 2, N = PROMPT + STEPS;
    tg_net_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_ctx = N;
    hp.n_layer = L;
    hp.n_head = (int32_t)H;
    hp.n_kv_head = (int32_t)G;
    hp.head_dim = (int32_t)D;
    hp.n_embd = (int32_t)(H * D);
    tg_tpool *pool;
    tg_kv_cache *kv;
    tg_attn *a;
    cr_assert_eq(tg__tpool_create(&pool, n_threads, 100), TG_OK);
    cr_assert_eq(tg__kvc_create(&kv, SEQS, N, L, (int32_t)G, (int32_t)D, bf16), TG_OK);
    cr_assert_eq(tg__attn_create(&a, &hp, kv, N, SEQS, pool), TG_OK);
    /* qkv rows fed, [layer][seq][pos][QKV]; the copies' prompt rows are sequence 0's */
    float *hist = malloc((size_t)L * SEQS * (size_t)N * (size_t)QKV * sizeof *hist);
    float *att = malloc(SEQS * (size_t)(H * D) * sizeof *att);
    float *want = malloc((size_t)D * sizeof *want), *s = malloc((size_t)N * sizeof *s);
    const float **k = malloc((size_t)N * sizeof *k), **v = malloc((size_t)N * sizeof *v);
    uint64_t seed = 7;
    int64_t checked = 0;
#define HIST(l, q, p)                                                                              \
    (hist + (((size_t)(l)*SEQS + (size_t)(q)) * (size_t)N + (size_t)(p)) * (size_t)QKV)
    for (int32_t p = 0; p < N; p++) {
        tg_batch_row rows[SEQS];
        size_t M = 0;
        for (int32_t q = 0; q < SEQS; q++)
            if (q == 0 || p >= PROMPT)
                rows[M++] = (tg_batch_row){0, p, q, 1};
        if (p == PROMPT)
            for (int32_t q = 1; q < SEQS; q++)
                cr_assert_eq(tg__kvc_copy(kv, q, 0, PROMPT), TG_OK);
        for (size_t r = 0; r < M; r++)
            cr_assert_eq(tg__kvc_reserve(kv, rows[r].seq, p, 1), TG_OK);
        for (int32_t l = 0; l < L; l++) {
            float qkv[SEQS * QKV];
            for (size_t r = 0; r < M; r++) {
                for (int64_t i = 0; i < QKV; i++)
                    qkv[r * (size_t)QKV + i] = rnd(&seed);
                float *h = HIST(l, rows[r].seq, p);
                memcpy(h, qkv + r * (size_t)QKV, (size_t)QKV * sizeof *qkv);
                for (int64_t i = H * D; bf16 && i < QKV;
                     i++) /* K and V as a bf16 cache holds them */
                    h[i] = tg__bf16_to_f32(tg__bf16_from_f32(h[i]));
            }
            cr_assert_eq(tg__attn_layer(a, l, rows, M, qkv, att), TG_OK);
            for (size_t r = 0; r < M; r++)
                for (int64_t h = 0; h < H; h++) {
                    const int64_t g = h / R;
                    for (int32_t t = 0; t <= p; t++) {
                        const float *src = HIST(l, t < PROMPT ? 0 : rows[r].seq, t);
                        k[t] = src + (H + g) * D;
                        v[t] = src + (H + G + g) * D;
                    }
                    scalar_head(qkv + r * (size_t)QKV + h * D, D, p + 1, k, v, s, want);
                    cr_assert(memcmp(att + (r * (size_t)H + (size_t)h) * (size_t)D, want,
                                     (size_t)D * sizeof *want) == 0,
                              "H %d G %d D %d, %d threads, %s cache: layer %d, sequence %d, "
                              "position %d, head %d differs from the one-row loop",
                              (int)H, (int)G, (int)D, (int)n_threads, bf16 ? "bf16" : "f32", (int)l,
                              (int)rows[r].seq, (int)p, (int)h);
                    checked++;
                }
        }
    }
#undef HIST
    cr_assert_eq(checked, (int64_t)L * (PROMPT + SEQS * STEPS) * H);
    free(k);
    free(v);
    free(s);
    free(want);
    free(att);
    free(hist);
    tg__attn_free(a);
    tg__kvc_free(kv);
    tg__tpool_free(pool);
}

Test(attention, rows_of_sequences_sharing_blocks_give_the_one_row_loops_bits_on_every_layer)
{
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
        for (int32_t t = 1; t <= 2; t++)
            check_bits_against_the_one_row_loop(&shapes[c], t, 0);
}

/* The same with a bf16 cache: the kernel widens each element exactly, so its outputs are the
 * one-row loop's over the rounded K and V, bit for bit. */
Test(attention, a_bf16_cache_gives_the_one_row_loops_bits_over_the_rounded_keys_and_values)
{
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++)
        for (int32_t t = 1; t <= 2; t++)
            check_bits_against_the_one_row_loop(&shapes[c], t, 1);
}

/* What a bf16 cache stores: each K and V element rounded to nearest even (ties to the even
 * neighbour, NaN kept a NaN, infinities kept), read back exactly by the kernels. */
Test(attention, a_bf16_cache_stores_keys_and_values_rounded_to_nearest_even)
{
    tg_kv_cache *kv;
    cr_assert_eq(tg__kvc_create(&kv, 1, 32, 1, 1, 8, 1), TG_OK);
    cr_assert_eq(tg__kvc_block_bytes(kv), (size_t)2 * 16 * 8 * 2, "K and V, 16 positions x 8, 2 B");
    cr_assert_eq(tg__kvc_reserve(kv, 0, 0, 18), TG_OK);
    const uint32_t in[8] = {0x3f808000u,  /* 1 + 2^-8: a tie, to the even 1.0 */
                            0x3f818000u,  /* 1 + 3 * 2^-8: a tie, to the even 1 + 2^-6 */
                            0x3f808001u,  /* just above the tie: up */
                            0xbf807fffu,  /* just below the tie, negative: down to -1.0 */
                            0x7f7fffffu,  /* FLT_MAX: rounds to infinity */
                            0x7fc00001u,  /* a NaN */
                            0x00000001u,  /* the smallest subnormal: to +0 */
                            0xff800000u}; /* -infinity */
    const uint16_t want[8] = {0x3f80, 0x3f82, 0x3f81, 0xbf80, 0x7f80, 0x7fc0, 0x0000, 0xff80};
    float k[8], v[8];
    memcpy(k, in, sizeof k);
    for (int i = 0; i < 8; i++)
        v[i] = -k[i];
    tg__kvc_store(kv, 0, 17, 0, 0, k, v); /* block 1, position 1 */
    const uint16_t *ka = tg__kvc_array(kv, 0, 1, 0, 0, 0), *va = tg__kvc_array(kv, 0, 1, 0, 1, 0);
    for (int d = 0; d < 8; d++) {
        cr_assert_eq(ka[d * 16 + 1], want[d], "K[%d]: %#06x, want %#06x", d, ka[d * 16 + 1],
                     want[d]);
        const uint16_t wv = d == 5 ? 0xffc0 : (uint16_t)(want[d] ^ 0x8000u); /* -NaN stays NaN */
        cr_assert_eq(va[8 + d], wv, "V[%d]: %#06x, want %#06x", d, va[8 + d], wv);
    }
    tg__kvc_free(kv);
}
