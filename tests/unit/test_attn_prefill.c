/* The prompt attention kernel (lib/backend/attn_prefill.c) against a double-precision reference
 * of causal softmax attention over the same cache contents: odd row counts (1, 2, 17, 129: part
 * tiles, part groups of 4), prompts that continue a cached prefix, grouped-query heads (Llama /
 * Qwen), head sizes that are not multiples of 32, sequences whose cache blocks are interleaved
 * with another's; f32 and bf16 caches; the AVX-512 loops and the portable ones
 * (TEXTGEN_ATTN_PORTABLE=1);
 * bit-identical results on 1 and 2 threads; nothing written outside the rows' heads. */
#include "backend/attn_prefill.h"
#include "backend/kv_cache.h"
#include "tpool.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand_sym(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 4503599627370496.0 - 1.0);
}

typedef struct shape {
    int32_t H, G, D, n_ctx;
    int32_t bf16; /* the cache's elements in bf16 */
} shape;

/* A cache of 2 sequences x 2 layers, filled for [0, T) of both, block by block alternately (so
 * each sequence's blocks are not contiguous); keys and values kept in plain arrays too:
 * k[seq][l][g][t][d], as the cache holds them (rounded to bf16 in a bf16 cache). */
typedef struct fixture {
    shape s;
    int32_t T;
    tg_kv_cache *kv;
    float *k, *v;
} fixture;

static size_t kv_index(const fixture *f, int32_t seq, int32_t l, int32_t g, int32_t t)
{
    return ((((size_t)seq * 2 + (size_t)l) * (size_t)f->s.G + (size_t)g) * (size_t)f->s.n_ctx +
            (size_t)t) *
           (size_t)f->s.D;
}

static void fixture_init(fixture *f, shape s, int32_t T)
{
    f->s = s;
    f->T = T;
    cr_assert_eq(tg__kvc_create(&f->kv, 2, s.n_ctx, 2, s.G, s.D, s.bf16), TG_OK, "%s",
                 tg_error_last());
    const size_t n = (size_t)2 * 2 * (size_t)s.G * (size_t)s.n_ctx * (size_t)s.D;
    f->k = malloc(n * sizeof *f->k);
    f->v = malloc(n * sizeof *f->v);
    cr_assert(f->k && f->v);
    for (int32_t t0 = 0; t0 < T; t0 += TG_KV_BLOCK)
        for (int32_t seq = 0; seq < 2; seq++) {
            const int32_t n_t = T - t0 < TG_KV_BLOCK ? T - t0 : TG_KV_BLOCK;
            cr_assert_eq(tg__kvc_reserve(f->kv, seq, t0, n_t), TG_OK);
            for (int32_t t = t0; t < t0 + n_t; t++)
                for (int32_t l = 0; l < 2; l++)
                    for (int32_t g = 0; g < s.G; g++) {
                        float *k = f->k + kv_index(f, seq, l, g, t);
                        float *v = f->v + kv_index(f, seq, l, g, t);
                        for (int32_t d = 0; d < s.D; d++) {
                            k[d] = 2.0f * urand_sym();
                            v[d] = urand_sym();
                        }
                        tg__kvc_store(f->kv, seq, t, l, g, k, v);
                        for (int32_t d = 0; s.bf16 && d < s.D; d++) {
                            k[d] = tg__bf16_to_f32(tg__bf16_from_f32(k[d]));
                            v[d] = tg__bf16_to_f32(tg__bf16_from_f32(v[d]));
                        }
                    }
        }
}

static void fixture_free(fixture *f)
{
    tg__kvc_free(f->kv);
    free(f->k);
    free(f->v);
}

/* out[i][h] in double for rows at positions p0 + i, q [m][H D] (unscaled). */
static void reference(const fixture *f, int32_t seq, int32_t l, int32_t p0, int32_t m,
                      const float *q, double *out)
{
    const int32_t H = f->s.H, D = f->s.D, R = H / f->s.G;
    double *p = malloc((size_t)f->s.n_ctx * sizeof *p);
    cr_assert(p);
    for (int32_t i = 0; i < m; i++)
        for (int32_t h = 0; h < H; h++) {
            const float *qi = q + ((size_t)i * (size_t)H + (size_t)h) * (size_t)D;
            const int32_t n = p0 + i + 1;
            double mx = -INFINITY, sum = 0.0;
            for (int32_t t = 0; t < n; t++) {
                const float *k = f->k + kv_index(f, seq, l, h / R, t);
                double dot = 0.0;
                for (int32_t d = 0; d < D; d++)
                    dot += (double)qi[d] * k[d];
                p[t] = dot / sqrt((double)D);
                mx = p[t] > mx ? p[t] : mx;
            }
            for (int32_t t = 0; t < n; t++)
                sum += p[t] = exp(p[t] - mx);
            double *o = out + ((size_t)i * (size_t)H + (size_t)h) * (size_t)D;
            for (int32_t d = 0; d < D; d++) {
                double acc = 0.0;
                for (int32_t t = 0; t < n; t++)
                    acc += p[t] / sum * f->v[kv_index(f, seq, l, h / R, t) + (size_t)d];
                o[d] = acc;
            }
        }
    free(p);
}

#define GUARD 7.5f /* in the stride gap of every output row: must survive */

/* Rows [p0, p0 + m) of sequence `seq`, layer 1, on `pool` (NULL: the caller alone); returns the
 * output ([m][H D], gap stripped) and checks the gaps. */
static float *run(const fixture *f, int32_t seq, int32_t p0, int32_t m, const float *q,
                  tg_tpool *pool)
{
    const size_t HD = (size_t)f->s.H * (size_t)f->s.D, stride = HD + 5;
    float *out = malloc((size_t)m * stride * sizeof *out);
    const int32_t threads = pool ? tg__tpool_size(pool) : 1;
    const size_t sf = tg__attn_prefill_scratch(f->kv);
    float *scratch = malloc((size_t)threads * sf * sizeof *scratch);
    cr_assert(out && scratch);
    for (size_t i = 0; i < (size_t)m * stride; i++)
        out[i] = GUARD;
    tg__attn_prefill(f->kv, seq, 1, f->s.H, p0, m, q, HD, out, stride, scratch, pool);
    float *res = malloc((size_t)m * HD * sizeof *res);
    cr_assert(res);
    for (int32_t i = 0; i < m; i++) {
        memcpy(res + (size_t)i * HD, out + (size_t)i * stride, HD * sizeof *res);
        for (size_t j = HD; j < stride; j++)
            cr_assert_eq(out[(size_t)i * stride + j], GUARD, "row %d: written past its heads",
                         (int)i);
    }
    free(out);
    free(scratch);
    return res;
}

static void check_shape(shape s)
{
    static const int32_t ms[] = {1, 2, 3, 4, 5, 17, 129};
    static const int32_t p0s[] = {0, 5, 16};
    tg_tpool *pool = NULL;
    cr_assert_eq(tg__tpool_create(&pool, 2, 0), TG_OK, "%s", tg_error_last());
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof p0s / sizeof *p0s; b++) {
            const int32_t m = ms[a], p0 = p0s[b];
            if (p0 + m > s.n_ctx)
                continue;
            fixture f;
            fixture_init(&f, s, p0 + m);
            const size_t HD = (size_t)s.H * (size_t)s.D;
            float *q = malloc((size_t)m * HD * sizeof *q);
            double *ref = malloc((size_t)m * HD * sizeof *ref);
            cr_assert(q && ref);
            for (size_t i = 0; i < (size_t)m * HD; i++)
                q[i] = 2.0f * urand_sym();
            reference(&f, 1, 1, p0, m, q, ref);
            float *one = run(&f, 1, p0, m, q, NULL);
            float *two = run(&f, 1, p0, m, q, pool);
            setenv("TEXTGEN_ATTN_PORTABLE", "1", 1); /* the loops for CPUs without AVX-512 */
            float *port = run(&f, 1, p0, m, q, pool);
            unsetenv("TEXTGEN_ATTN_PORTABLE");
            double worst = 0.0, worst_port = 0.0;
            for (size_t i = 0; i < (size_t)m * HD; i++) {
                const double e = fabs(one[i] - ref[i]), ep = fabs(port[i] - ref[i]);
                worst = e > worst ? e : worst;
                worst_port = ep > worst_port ? ep : worst_port;
            }
            cr_expect_lt(worst, 2e-6, "H %d G %d D %d, rows %d at %d: error %g", (int)s.H, (int)s.G,
                         (int)s.D, (int)m, (int)p0, worst);
            cr_expect_lt(worst_port, 2e-6, "portable: H %d G %d D %d, rows %d at %d: error %g",
                         (int)s.H, (int)s.G, (int)s.D, (int)m, (int)p0, worst_port);
            free(port);
            cr_expect_eq(memcmp(one, two, (size_t)m * HD * sizeof *one), 0,
                         "H %d G %d D %d, rows %d at %d: 1 and 2 threads differ", (int)s.H,
                         (int)s.G, (int)s.D, (int)m, (int)p0);
            free(one);
            free(two);
            free(q);
            free(ref);
            fixture_free(&f);
        }
    tg__tpool_free(pool);
}

Test(attn_prefill, gpt2_heads)
{
    check_shape((shape){12, 12, 64, 160, 0});
}

Test(attn_prefill, grouped_query_heads)
{
    check_shape((shape){8, 2, 64, 160, 0});  /* Llama-style groups of 4 */
    check_shape((shape){6, 3, 128, 150, 0}); /* groups of 2, head_dim 128 (Qwen) */
}

/* A bf16 cache: the kernels widen its elements exactly, so the error against the reference over
 * the rounded contents is the f32 cache's. */
Test(attn_prefill, bf16_cache)
{
    check_shape((shape){12, 12, 64, 160, 1});
    check_shape((shape){8, 2, 64, 160, 1});
    check_shape((shape){2, 1, 80, 150, 1});
    check_shape((shape){3, 3, 8, 140, 1});
}

Test(attn_prefill, head_dim_not_a_multiple_of_32)
{
    check_shape((shape){2, 1, 80, 150, 0}); /* 2 x 32 + 16 */
    check_shape((shape){3, 3, 8, 140, 0});
}

/* Rows of the other sequence are not read: the same rows of seq 0 and seq 1 differ. */
Test(attn_prefill, reads_its_own_sequence)
{
    const shape s = {4, 2, 32, 64, 0};
    fixture f;
    fixture_init(&f, s, 40);
    float q[4 * 32 * 8];
    for (size_t i = 0; i < sizeof q / sizeof *q; i++)
        q[i] = urand_sym();
    double ref[4 * 32 * 8];
    reference(&f, 0, 1, 32, 8, q, ref);
    float *got = run(&f, 0, 32, 8, q, NULL);
    for (size_t i = 0; i < sizeof ref / sizeof *ref; i++)
        cr_assert_lt(fabs(got[i] - ref[i]), 2e-6, "element %zu", i);
    free(got);
    fixture_free(&f);
}
