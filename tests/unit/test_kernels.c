/* The kernels of lib/backend/kernels: packed small-M products in f32, bf16 and int8 against a
 * double-precision reference of the same operands, on every ISA level the CPU has; bit-identical
 * results for every panel split, stream count and thread count; int8/bf16 error against f32 on
 * random data; panel memory on huge pages; the thread pool; the CPU count. Then the linear seam:
 * the kmat implementation (these kernels, and oneDNN on their panels for many rows) against the
 * oneDNN one. */
#include "backend/linear.h"
#include "backend/tensor.h"
#include "core/fileutil.h"
#include "cpus.h"
#include "huge_scan.h"
#include "kmat.h"
#include "panel_mem.h"
#include "tpool.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <textgen/textgen.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static uint64_t rng = 88172645463325252ull;
static double urand(void) /* (0, 1] */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)((rng >> 11) + 1) / 9007199254740992.0;
}
static float gauss(void)
{
    return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()));
}
static float *randv(size_t n, float sd)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = sd * gauss();
    return v;
}

static float bf16_round(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &b, 4);
    return f;
}

static float q8(float v, float scale) /* quantize-dequantize as the packer and prepare do */
{
    if (scale <= 0)
        return 0;
    float q = nearbyintf(v * (1.0f / scale));
    q = q > 127 ? 127 : q < -127 ? -127 : q;
    return q * scale;
}

static float q16(float v, float scale) /* Q8's 16-bit activations */
{
    if (scale <= 0)
        return 0;
    float q = nearbyintf(v * (1.0f / scale));
    q = q > 32512 ? 32512 : q < -32512 ? -32512 : q;
    return q * scale;
}

/* The operands each format really multiplies: W (K x N, [K][N]) and x (M x K) after rounding or
 * quantization, so that the kernels can be held to float round-off. */
static void effective(int32_t fmt, const float *w, const float *x, int64_t K, int64_t N, int64_t M,
                      const tg_kmat *pk, double *we, double *xe)
{
    float *col = malloc(sizeof(float) * (size_t)K);
    for (int64_t n = 0; n < N; n++) {
        if (fmt == TG_KFMT_Q8) /* per-block scales: checked against w in q8_weights_... */
            tg__kmat_read_column(pk, n, col);
        for (int64_t k = 0; k < K; k++) {
            const float v = w[k * N + n];
            we[k * N + n] = fmt == TG_KFMT_BF16  ? bf16_round(v)
                            : fmt == TG_KFMT_F32 ? v
                            : fmt == TG_KFMT_Q8  ? col[k]
                                                 : q8(v, pk->scale[n]);
        }
    }
    free(col);
    for (int64_t r = 0; r < M; r++) {
        float amax = 0;
        for (int64_t k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf(x[r * K + k]));
        for (int64_t k = 0; k < K; k++) {
            const float v = x[r * K + k];
            float bmax = 0; /* Q8: 16-bit steps of the max over the value's block of 32 */
            for (int64_t i = k / 32 * 32; i < K && i < k / 32 * 32 + 32; i++)
                bmax = fmaxf(bmax, fabsf(x[r * K + i]));
            xe[r * K + k] = fmt == TG_KFMT_BF16   ? bf16_round(v)
                            : fmt == TG_KFMT_U8S8 ? q8(v, amax / 127.0f)
                            : fmt == TG_KFMT_Q8   ? q16(v, bmax / 32512.0f)
                                                  : v;
        }
    }
}

static float *transpose(const float *w, int64_t K, int64_t N)
{
    float *t = malloc((size_t)K * (size_t)N * sizeof *t);
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++)
            t[n * K + k] = w[k * N + n];
    return t;
}

/* y (M x ldy) = x . W (+ bias) with the packed kernels over panels [p0, p1). */
static void product(const tg_kmat *pk, const float *x, int64_t M, const float *bias, float *y,
                    int64_t ldy, int64_t p0, int64_t p1)
{
    void *act = aligned_alloc(64, tg__kmat_act_bytes(pk, M));
    tg__kmat_prepare(pk, x, M, pk->K, act);
    tg__kmat_mul(pk, act, M, bias, y, ldy, p0, p1);
    free(act);
}

/* The packed formats, then "view" = f32 used in place ([K][N] or, transposed, [N][K]). */
#define FMT_VIEW 99
static const int32_t all_fmts[] = {TG_KFMT_F32,  TG_KFMT_BF16, TG_KFMT_S8,
                                   TG_KFMT_U8S8, TG_KFMT_Q8,   FMT_VIEW};
#define N_FMTS 6
static const char *fmt_name(int32_t f)
{
    return f == TG_KFMT_F32    ? "f32"
           : f == TG_KFMT_BF16 ? "bf16"
           : f == TG_KFMT_S8   ? "s8"
           : f == TG_KFMT_U8S8 ? "u8s8"
           : f == TG_KFMT_Q8   ? "q8"
                               : "f32 view";
}

/* Pack (or view) w, stored [K][N], or [N][K] when transposed. */
static tg_status make(tg_kmat *pk, const float *w, int64_t K, int64_t N, int transposed, int32_t f)
{
    return f == FMT_VIEW ? tg__kmat_view_f32(pk, w, K, N, transposed)
                         : tg__kmat_pack(pk, w, K, N, transposed, f, NULL);
}

/* Every kernel level the CPU has, every format, several shapes (N with a partial last panel,
 * odd K that needs padding), M from 1 to 11 (two row blocks), both source layouts, with and
 * without bias; columns past N must stay untouched. */
static void check_against_reference(int32_t level)
{
    static const int64_t shapes[][2] = {{37, 45}, {64, 96}, {130, 33}, {768, 70}};
    static const int64_t Ms[] = {1, 2, 3, 4, 5, 8, 11};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t fi = 0; fi < N_FMTS; fi++)
            for (int tr = 0; tr < 2; tr++) {
                const int64_t K = shapes[si][0], N = shapes[si][1], fmt = all_fmts[fi];
                float *w = randv((size_t)(K * N), 0.02f), *bias = randv((size_t)N, 0.1f);
                float *src = tr ? transpose(w, K, N) : w;
                tg_kmat pk;
                cr_assert_eq(make(&pk, src, K, N, tr, (int32_t)fmt), TG_OK, "%s", tg_error_last());
                if (fmt == FMT_VIEW)
                    cr_assert_eq(pk.fmt, tr ? TG_KFMT_F32_NK : TG_KFMT_F32_KN);
                for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
                    const int64_t M = Ms[mi], ldy = N + 5;
                    float *x = randv((size_t)(M * K), 1.0f);
                    double *we = malloc(sizeof(double) * (size_t)(K * N));
                    double *xe = malloc(sizeof(double) * (size_t)(M * K));
                    effective(fmt == FMT_VIEW ? TG_KFMT_F32 : (int32_t)fmt, w, x, K, N, M, &pk, we,
                              xe);
                    float *y = malloc(sizeof(float) * (size_t)(M * ldy));
                    for (int64_t i = 0; i < M * ldy; i++)
                        y[i] = -777.0f;
                    const int use_bias = (int)(mi % 2);
                    product(&pk, x, M, use_bias ? bias : NULL, y, ldy, 0, pk.n_panels);
                    for (int64_t r = 0; r < M; r++) {
                        for (int64_t n = 0; n < N; n++) {
                            double ref = use_bias ? bias[n] : 0, mag = fabs(ref);
                            for (int64_t k = 0; k < K; k++) {
                                ref += xe[r * K + k] * we[k * N + n];
                                mag += fabs(xe[r * K + k] * we[k * N + n]);
                            }
                            const double got = y[r * ldy + n];
                            /* recursive summation: |error| <= (K + 3) u sum|x w| */
                            cr_assert(fabs(got - ref) <= (double)(K + 3) * 6e-8 * mag + 1e-7,
                                      "level %d %s K=%lld N=%lld M=%lld tr=%d row %lld col %lld: "
                                      "%.9g vs reference %.9g",
                                      level, fmt_name((int32_t)fmt), (long long)K, (long long)N,
                                      (long long)M, tr, (long long)r, (long long)n, got, ref);
                        }
                        for (int64_t n = N; n < ldy; n++)
                            cr_assert_eq(y[r * ldy + n], -777.0f, "column %lld past N written",
                                         (long long)n);
                    }
                    free(x);
                    free(we);
                    free(xe);
                    free(y);
                }
                tg__kmat_free(&pk);
                if (tr)
                    free(src);
                free(w);
                free(bias);
            }
}

Test(kernels, portable_kernels_match_the_reference)
{
    tg__kmat_set_isa(TG_KISA_PORTABLE);
    check_against_reference(TG_KISA_PORTABLE);
    tg__kmat_set_isa(99);
}

Test(kernels, avx512_kernels_match_the_reference)
{
    if (tg__kmat_set_isa(TG_KISA_AVX512) < TG_KISA_AVX512)
        cr_skip_test("no AVX-512 on this CPU");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_BF16), "avx512 (bf16 via fma)");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_U8S8), "portable");
    check_against_reference(TG_KISA_AVX512);
    tg__kmat_set_isa(99);
}

Test(kernels, avx512_bf16_vnni_kernels_match_the_reference)
{
    if (tg__kmat_set_isa(TG_KISA_AVX512_BF16_VNNI) < TG_KISA_AVX512_BF16_VNNI)
        cr_skip_test("no AVX512-BF16 + VNNI on this CPU");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_BF16), "avx512bf16");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_U8S8), "avx512vnni");
    check_against_reference(TG_KISA_AVX512_BF16_VNNI);
}

Test(kernels, avx2_kernels_match_the_reference)
{
    if (tg__kmat_set_isa(TG_KISA_AVX2) < TG_KISA_AVX2)
        cr_skip_test("no AVX2 + FMA on this CPU");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_F32), "avx2");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_BF16), "avx2");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_S8), "avx2");
    cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_Q8), "portable");
    cr_assert_eq(tg__kmat_int8_fmt(), TG_KFMT_S8, "no VNNI: int8 is weight-only");
    check_against_reference(TG_KISA_AVX2);
    tg__kmat_set_isa(99);
}

/* The AVX2 kernels take rows two at a time: row r of an M-row product must be the bits of that
 * row alone, for every M and panel split (beam search and batches decode several rows). */
Test(kernels, avx2_rows_and_splits_give_the_bits_of_one_row)
{
    if (tg__kmat_set_isa(TG_KISA_AVX2) < TG_KISA_AVX2)
        cr_skip_test("no AVX2 + FMA on this CPU");
    const int64_t K = 200, N = 32 * 9 + 5;
    const int32_t fmts[] = {TG_KFMT_F32, TG_KFMT_BF16, TG_KFMT_S8};
    float *w = randv((size_t)(K * N), 0.02f), *bias = randv((size_t)N, 0.1f);
    for (size_t fi = 0; fi < 3; fi++) {
        tg_kmat pk;
        cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 0, fmts[fi], NULL), TG_OK);
        const int64_t M = 11;
        float *x = randv((size_t)(M * K), 1.0f);
        float *all = calloc((size_t)(M * N), sizeof(float)), *one = calloc((size_t)N, 4);
        const int64_t cuts[] = {0, 2, 3, 7, pk.n_panels};
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
            product(&pk, x, M, bias, all, N, cuts[c], cuts[c + 1]);
        for (int64_t r = 0; r < M; r++) {
            product(&pk, x + r * K, 1, bias, one, N, 0, pk.n_panels);
            cr_assert(memcmp(one, all + r * N, sizeof(float) * (size_t)N) == 0,
                      "format %d: row %lld of %lld rows differs from the row alone", fmts[fi],
                      (long long)r, (long long)M);
        }
        free(x);
        free(all);
        free(one);
        tg__kmat_free(&pk);
    }
    free(w);
    free(bias);
    tg__kmat_set_isa(99);
}

/* $TEXTGEN_KERNELS caps the level the CPU would get. Every test runs in a process of its own, and
 * the level is chosen at the first question: here. */
Test(kernels, the_environment_caps_the_kernel_level)
{
    setenv("TEXTGEN_KERNELS", "avx2", 1);
    const int32_t capped = tg__kmat_isa();
    const int32_t cpu = tg__kmat_set_isa(99);
    cr_assert_eq(capped, cpu < TG_KISA_AVX2 ? cpu : TG_KISA_AVX2, "level %d, the CPU's %d", capped,
                 cpu);
    if (cpu >= TG_KISA_AVX2) {
        tg__kmat_set_isa(capped);
        cr_assert_str_eq(tg__kmat_kernel_name(TG_KFMT_BF16), "avx2");
    }
    unsetenv("TEXTGEN_KERNELS");
    tg__kmat_set_isa(99);
}

/* Greedy output must not depend on the thread count: every panel split and stream count gives
 * the same bits (the vector kernels; the portable one has no streams). */
Test(kernels, every_split_and_stream_count_gives_identical_bits)
{
    const int64_t K = 200, N = 32 * 13 + 7;
    float *w = randv((size_t)(K * N), 0.02f);
    for (size_t fi = 0; fi < N_FMTS + 1; fi++) { /* the last: the [N][K] view */
        tg_kmat pk;
        cr_assert_eq(make(&pk, w, K, N, fi == N_FMTS, fi == N_FMTS ? FMT_VIEW : all_fmts[fi]),
                     TG_OK);
        for (int64_t M = 1; M <= 8; M++) {
            float *x = randv((size_t)(M * K), 1.0f);
            float *y0 = calloc((size_t)(M * N), sizeof(float));
            float *y1 = calloc((size_t)(M * N), sizeof(float));
            tg__kmat_set_tuning(1, 0);
            product(&pk, x, M, NULL, y0, N, 0, pk.n_panels);
            const int32_t tunings[][2] = {{2, 0}, {4, 0}, {4, 512}, {2, 2048}};
            for (size_t t = 0; t < 4; t++) {
                tg__kmat_set_tuning(tunings[t][0], tunings[t][1]);
                const int64_t cuts[] = {0, 3, 5, 6, 13, pk.n_panels}; /* uneven pieces */
                for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
                    product(&pk, x, M, NULL, y1, N, cuts[c], cuts[c + 1]);
                cr_assert(memcmp(y0, y1, sizeof(float) * (size_t)(M * N)) == 0,
                          "format %d M=%lld streams %d: results depend on the split", pk.fmt,
                          (long long)M, tunings[t][0]);
            }
            free(x);
            free(y0);
            free(y1);
        }
        tg__kmat_free(&pk);
    }
    tg__kmat_set_tuning(4, 0);
    free(w);
}

/* Error of each format against exact f32 products on GPT-2-like random data (weights
 * N(0, 0.02), activations N(0, 1)): relative RMS over all outputs. Expected: bf16 ~2^-9
 * rounding of both operands (~0.3 %), per-column int8 weights a step of max|w|/127 (~0.7 %),
 * plus per-row int8 activations (~1 %); q8: per-block weights, 16-bit activations (~0.5 %). */
Test(kernels, bf16_and_int8_error_against_f32)
{
    const int64_t K = 768, N = 2304, M = 4;
    float *w = randv((size_t)(K * N), 0.02f), *x = randv((size_t)(M * K), 1.0f);
    double *exact = calloc((size_t)(M * N), sizeof(double));
    for (int64_t r = 0; r < M; r++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++)
                exact[r * N + n] += (double)x[r * K + k] * w[k * N + n];
    const double limit[] = {1e-6, 0.006, 0.012, 0.018, 0.012};
    for (size_t fi = 0; fi < 5; fi++) {
        tg_kmat pk;
        cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 0, all_fmts[fi], NULL), TG_OK);
        float *y = malloc(sizeof(float) * (size_t)(M * N));
        product(&pk, x, M, NULL, y, N, 0, pk.n_panels);
        double se = 0, ss = 0;
        for (int64_t i = 0; i < M * N; i++) {
            se += (y[i] - exact[i]) * (y[i] - exact[i]);
            ss += exact[i] * exact[i];
        }
        const double rel = sqrt(se / ss);
        cr_log_info("%s: relative RMS error vs f32 %.5f", fmt_name(all_fmts[fi]), rel);
        cr_assert(rel < limit[fi], "%s: relative RMS error %.5f >= %.5f", fmt_name(all_fmts[fi]),
                  rel, limit[fi]);
        cr_assert(rel > limit[fi] / 100 || fi == 0, "%s: error %.2g suspiciously small",
                  fmt_name(all_fmts[fi]), rel);
        free(y);
        tg__kmat_free(&pk);
    }
    free(exact);
    free(w);
    free(x);
}

Test(kernels, int8_scales_are_per_column_and_zero_columns_stay_zero)
{
    const int64_t K = 8, N = 3;
    float w[8 * 3] = {0};
    for (int64_t k = 0; k < K; k++) {
        w[k * N + 0] = (float)(k - 4);    /* max |w| 4 */
        w[k * N + 1] = 0.001f * (float)k; /* max 0.007 */
    }                                     /* column 2 all zero */
    tg_kmat pk;
    cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 0, TG_KFMT_S8, NULL), TG_OK);
    cr_assert_float_eq(pk.scale[0], 4.0f / 127, 1e-9);
    cr_assert_float_eq(pk.scale[1], 0.007f / 127, 1e-9);
    cr_assert_eq(pk.scale[2], 0.0f);
    const float x[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    float y[3];
    product(&pk, x, 1, NULL, y, N, 0, pk.n_panels);
    cr_assert_float_eq(y[0], -4.0f, 1e-5);  /* -4-3-2-1+0+1+2+3 */
    cr_assert_float_eq(y[1], 0.028f, 1e-5); /* 0.001 * 28 */
    cr_assert_eq(y[2], 0.0f);
    tg__kmat_free(&pk);
}

/* Q8 keeps a scale per block of 32 k and column: a block of tiny weights next to a block of
 * large ones keeps its own precision (a per-column scale would round it to zero), all-zero
 * blocks and columns stay zero, and K = 40 pads the second block with zeros. */
Test(kernels, q8_scales_are_per_block_and_column)
{
    const int64_t K = 40, N = 3;
    float w[40 * 3] = {0};
    for (int64_t k = 0; k < K; k++) {
        w[k * N + 0] = k < 32 ? 1e-4f * (float)(k - 16) : (float)(k - 36); /* 1.6e-3, then 4 */
        w[k * N + 1] = k < 32 ? 0.0f : 0.5f;                               /* zero block */
    }                                                                      /* column 2 all zero */
    tg_kmat pk;
    cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 0, TG_KFMT_Q8, NULL), TG_OK);
    cr_assert_eq(pk.Kp, 64);
    cr_assert_eq(pk.panel_bytes, 2 * (32 * 32 + 64));
    float col[40];
    for (int64_t n = 0; n < N; n++) {
        tg__kmat_read_column(&pk, n, col);
        for (int64_t k = 0; k < K; k++) {
            const float bmax = n == 0 ? (k < 32 ? 1.6e-3f : 4.0f) : n == 1 ? 0.5f : 0.0f;
            /* half a step of the block's scale, plus the f16 rounding of the scale (2^-11) */
            cr_assert(fabsf(col[k] - w[k * N + n]) <= bmax / 127 * (0.5f + 127.0f / 2048),
                      "column %lld k %lld: %g dequantized to %g", (long long)n, (long long)k,
                      (double)w[k * N + n], (double)col[k]);
            if (w[k * N + n] == 0)
                cr_assert_eq(col[k], 0.0f);
        }
    }
    float x[40];
    for (int64_t k = 0; k < K; k++)
        x[k] = k < 32 ? 1.0f : 0.0f;
    float y[3];
    product(&pk, x, 1, NULL, y, N, 0, pk.n_panels);
    cr_assert_float_eq(y[0], -1.6e-3f, 2e-6); /* 1e-4 * (-16 ... 15) */
    cr_assert_eq(y[1], 0.0f);
    cr_assert_eq(y[2], 0.0f);
    tg__kmat_free(&pk);
}

/* The portable Q8 kernel does the vector kernel's arithmetic (integer dots, then one fmaf per
 * block): the same bits. */
Test(kernels, q8_portable_and_vnni_kernels_give_identical_bits)
{
    if (tg__kmat_set_isa(TG_KISA_AVX512_BF16_VNNI) < TG_KISA_AVX512_BF16_VNNI)
        cr_skip_test("no AVX512-VNNI on this CPU");
    const int64_t K = 200, N = 32 * 5 + 3;
    float *w = randv((size_t)(K * N), 0.02f);
    tg_kmat pk;
    cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 1, TG_KFMT_Q8, NULL), TG_OK);
    for (int64_t M = 1; M <= 11; M++) {
        float *x = randv((size_t)(M * K), 1.0f), *bias = randv((size_t)N, 0.1f);
        float *y0 = calloc((size_t)(M * N), sizeof(float)), *y1 = calloc((size_t)(M * N), 4);
        tg__kmat_set_isa(TG_KISA_PORTABLE);
        product(&pk, x, M, bias, y0, N, 0, pk.n_panels);
        tg__kmat_set_isa(99);
        product(&pk, x, M, bias, y1, N, 0, pk.n_panels);
        cr_assert(memcmp(y0, y1, sizeof(float) * (size_t)(M * N)) == 0, "M=%lld", (long long)M);
        free(x);
        free(bias);
        free(y0);
        free(y1);
    }
    tg__kmat_free(&pk);
    free(w);
}

/* Q8's load-time quantization with AVX-512 writes the bytes of the C loops: on odd shapes in both
 * layouts, with block maxima from zero through f16 subnormals to overflow, NaN, infinities and
 * values halfway between two steps. */
Test(kernels, q8_packing_with_avx512_gives_the_bytes_of_the_c_loops)
{
    if (tg__kmat_set_isa(TG_KISA_AVX512) < TG_KISA_AVX512)
        cr_skip_test("no AVX-512 on this CPU");
    static const int64_t shapes[][2] = {{40, 3}, {200, 163}, {777, 65}, {1, 33}, {64, 32}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int tr = 0; tr < 2; tr++)
            for (int special = 0; special < 3; special++) {
                const int64_t K = shapes[sh][0], N = shapes[sh][1];
                float *w = randv((size_t)(K * N), 0.05f);
                for (int64_t e = 0; e < K * N; e++) {
                    const int64_t blk = (tr ? e % K : e / N) / 32, col = tr ? e / K : e % N;
                    /* a scale per block and column spanning 2^-40 .. 2^20 of the largest */
                    w[e] *= ldexpf(1.0f, (int)((blk * 7 + col * 3) % 61) - 40);
                    if (special == 1 && e % 97 == 5)
                        w[e] = e % 2 ? NAN : -INFINITY;
                    if (special == 2 && e % 13 == 0) /* exactly halfway between two steps */
                        w[e] = ldexpf(1.0f, -6) * ((float)(e % 255 - 127) + 0.5f);
                }
                tg_kmat a, b;
                tg__kmat_set_isa(TG_KISA_PORTABLE);
                cr_assert_eq(tg__kmat_pack(&a, w, K, N, tr, TG_KFMT_Q8, NULL), TG_OK);
                tg__kmat_set_isa(TG_KISA_AVX512);
                cr_assert_eq(tg__kmat_pack(&b, w, K, N, tr, TG_KFMT_Q8, NULL), TG_OK);
                cr_assert_eq(a.q8_unit, b.q8_unit, "%lld x %lld", (long long)K, (long long)N);
                cr_assert_eq(a.panel_bytes, b.panel_bytes);
                cr_assert(memcmp(a.data, b.data, a.panel_bytes * (size_t)a.n_panels) == 0,
                          "%lld x %lld transposed %d special %d", (long long)K, (long long)N, tr,
                          special);
                tg__kmat_free(&a);
                tg__kmat_free(&b);
                free(w);
            }
    tg__kmat_set_isa(99);
}

/* int8 runs Q8 where VNNI is, S8 where not or when $TEXTGEN_INT8=weight-only. */
Test(kernels, int8_format_follows_the_cpu_and_the_environment)
{
    const int vnni = tg__kmat_set_isa(99) >= TG_KISA_AVX512_BF16_VNNI;
    cr_assert_eq(tg__kmat_int8_fmt(), vnni ? TG_KFMT_Q8 : TG_KFMT_S8);
    setenv("TEXTGEN_INT8", "weight-only", 1);
    cr_assert_eq(tg__kmat_int8_fmt(), TG_KFMT_S8);
    unsetenv("TEXTGEN_INT8");
    tg__kmat_set_isa(TG_KISA_AVX512);
    cr_assert_eq(tg__kmat_int8_fmt(), TG_KFMT_S8);
    tg__kmat_set_isa(99);
}

Test(kernels, pack_rejects_bad_arguments_with_a_message)
{
    float w[4] = {1, 2, 3, 4};
    tg_kmat pk;
    cr_assert_eq(tg__kmat_pack(&pk, w, 2, 2, 0, 9, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "unknown format 9"), "%s", tg_error_last());
    cr_assert_eq(tg__kmat_pack(&pk, w, 0, 2, 0, TG_KFMT_F32, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "invalid matrix 0 x 2"), "%s", tg_error_last());
    cr_assert_eq(tg__kmat_pack(&pk, NULL, 2, 2, 0, TG_KFMT_F32, NULL), TG_EINVAL);
    cr_assert_null(pk.data);
    cr_assert_eq(tg__kmat_view_f32(&pk, w, 2, -1, 1), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "f32 weight view: invalid matrix 2 x -1"), "%s",
              tg_error_last());
    cr_assert_eq(tg__kmat_view_f32(&pk, w, 2, 2, 1), TG_OK);
    cr_assert_eq(pk.data, (void *)w); /* in place: no copy, and free leaves it alone */
    tg__kmat_free(&pk);
    cr_assert_float_eq(w[3], 4.0f, 0);
    tg__kmat_free(&pk); /* harmless on a failed pack */
}

/* ---- thread pool ---- */

typedef struct {
    _Atomic int *hits;
    _Atomic int bad_worker;
    int32_t n_threads;
} count_job;

static void count_chunk(void *arg, int64_t chunk, int32_t worker)
{
    count_job *j = arg;
    atomic_fetch_add(&j->hits[chunk], 1);
    if (worker < 0 || worker >= j->n_threads)
        atomic_store(&j->bad_worker, 1);
}

Test(tpool, every_chunk_runs_exactly_once_over_many_jobs)
{
    for (int32_t nt = 1; nt <= 4; nt++) {
        tg_tpool *p;
        cr_assert_eq(tg__tpool_create(&p, nt, nt % 2 ? 50 : 0), TG_OK, "%s", tg_error_last());
        cr_assert_eq(tg__tpool_size(p), nt);
        _Atomic int *hits = calloc(1000, sizeof *hits);
        count_job j = {hits, 0, nt};
        const int64_t sizes[] = {1, 2, 3, 7, 64, 1000};
        for (int rep = 0; rep < 3000; rep++) {
            const int64_t n = sizes[rep % 6];
            tg__tpool_run(p, n, count_chunk, &j);
            for (int64_t c = 0; c < n; c++) {
                cr_assert_eq(atomic_load(&hits[c]), 1, "threads %d job %d chunk %lld ran %d times",
                             nt, rep, (long long)c, atomic_load(&hits[c]));
                atomic_store(&hits[c], 0);
            }
        }
        cr_assert_eq(atomic_load(&j.bad_worker), 0);
        tg__tpool_run(p, 0, count_chunk, &j); /* nothing to do: returns */
        free(hits);
        tg__tpool_free(p);
    }
}

/* A worker that sleeps inside every chunk it claims stands for one descheduled by another
 * process: the caller then waits for it, so the pool must fall back to the caller alone. */
static void slow_worker_chunk(void *arg, int64_t chunk, int32_t worker)
{
    count_job *j = arg;
    atomic_fetch_add(&j->hits[chunk], 1);
    /* The caller's chunks take time too (usleep(100) is ~150-200 us), so workers get some; a
     * worker's chunk must outlast all 15 of the caller's by far more than the stall threshold
     * (3 caller chunks): with 3 ms it was a coin flip on a quiet machine. */
    usleep(worker != 0 ? 10000 : 100);
}

/* Run jobs with a sleeping worker until the pool says its next job runs on the caller alone. */
static void make_pool_fall_back(tg_tpool *p)
{
    _Atomic int hits[16] = {0};
    count_job j = {hits, 0, tg__tpool_size(p)};
    for (int tries = 0; tg__tpool_threads_next(p) > 1; tries++) {
        cr_assert_lt(tries, 50, "the pool never fell back");
        tg__tpool_run(p, 16, slow_worker_chunk, &j);
    }
}

Test(tpool, falls_back_to_the_caller_when_workers_keep_it_waiting)
{
    tg_tpool *p;
    cr_assert_eq(tg__tpool_create(&p, 2, 0), TG_OK);
    _Atomic int *hits = calloc(16, sizeof *hits);
    count_job j = {hits, 0, 2};
    for (int rep = 0; rep < 200; rep++) {
        tg__tpool_run(p, 16, slow_worker_chunk, &j);
        for (int c = 0; c < 16; c++) {
            cr_assert_eq(atomic_load(&hits[c]), 1, "job %d chunk %d ran %d times", rep, c,
                         atomic_load(&hits[c]));
            atomic_store(&hits[c], 0);
        }
    }
    int64_t par, solo, stalls, busy;
    double delay;
    tg__tpool_stats(p, &par, &solo);
    tg__tpool_signals(p, &stalls, &busy, &delay);
    cr_assert_eq(par + solo, 200);
    /* A parallel try stalls as soon as the worker gets a chunk (a 10 ms sleep against 100 us
     * chunks); solo periods of 20, 40, 80, 160 ms of 1.6 ms jobs: a few tries in 200 jobs. */
    cr_assert(stalls >= 1 && stalls <= par, "parallel %lld, stalls %lld", (long long)par,
              (long long)stalls);
    cr_assert(solo >= 180 && par <= 20, "parallel %lld, solo %lld", (long long)par,
              (long long)solo);
    /* while solo, the next job is planned for one thread */
    cr_assert_eq(tg__tpool_threads_next(p), 1);
    cr_assert_eq(tg__tpool_chunks_next(p, 1000), 1);
    cr_assert_eq(tg__tpool_chunks(p, 1000), 16);
    free(hits);
    tg__tpool_free(p);
}

/* With the fallback off (benchmarks), the same stalls leave every job on both threads; on again,
 * the pool falls back as before. */
Test(tpool, a_pool_without_fallback_shares_every_job)
{
    tg_tpool *p;
    cr_assert_eq(tg__tpool_create(&p, 2, 0), TG_OK);
    tg__tpool_set_fallback(p, 0);
    _Atomic int *hits = calloc(16, sizeof *hits);
    count_job j = {hits, 0, 2};
    for (int rep = 0; rep < 12; rep++) {
        tg__tpool_run(p, 16, slow_worker_chunk, &j);
        for (int c = 0; c < 16; c++) {
            cr_assert_eq(atomic_load(&hits[c]), 1, "job %d chunk %d ran %d times", rep, c,
                         atomic_load(&hits[c]));
            atomic_store(&hits[c], 0);
        }
        cr_assert_eq(tg__tpool_threads_next(p), 2);
    }
    int64_t par, solo;
    tg__tpool_stats(p, &par, &solo);
    cr_assert(par == 12 && solo == 0, "parallel %lld, solo %lld", (long long)par, (long long)solo);
    tg__tpool_set_fallback(p, 1);
    make_pool_fall_back(p);
    cr_assert_eq(tg__tpool_threads_next(p), 1);
    free(hits);
    tg__tpool_free(p);
}

/* A chunk that keeps its CPU busy for 300 us. */
static void busy_chunk(void *arg, int64_t chunk, int32_t worker)
{
    (void)chunk;
    (void)worker;
    count_job *j = arg;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 300000);
    atomic_fetch_add(&j->hits[0], 1);
}

/* Both threads of the pool on one CPU: whenever the caller computes, the worker is runnable
 * and waiting, and the kernel's run-queue delay the pool reads says so. */
Test(tpool, workers_sharing_a_cpu_show_run_queue_delay_and_the_pool_falls_back)
{
    cpu_set_t saved, one;
    cr_assert_eq(sched_getaffinity(0, sizeof saved, &saved), 0);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0); /* the worker inherits it */
    tg_tpool *p;
    cr_assert_eq(tg__tpool_create(&p, 2, 50), TG_OK);
    int64_t stalls, busy;
    double delay0, delay1;
    tg__tpool_signals(p, &stalls, &busy, &delay0);
    if (delay0 < 0) {
        tg__tpool_free(p);
        sched_setaffinity(0, sizeof saved, &saved);
        cr_skip_test("this kernel has no /proc/thread-self/schedstat");
    }
    _Atomic int hits[1] = {0};
    count_job j = {hits, 0, 2};
    for (int rep = 0; rep < 100; rep++)
        tg__tpool_run(p, 8, busy_chunk, &j);
    cr_assert_eq(atomic_load(&hits[0]), 800);
    int64_t par, solo;
    tg__tpool_stats(p, &par, &solo);
    tg__tpool_signals(p, &stalls, &busy, &delay1);
    tg__tpool_free(p);
    cr_assert_eq(sched_setaffinity(0, sizeof saved, &saved), 0);
    cr_assert_gt(delay1, delay0, "run-queue delay %g -> %g us", delay0, delay1);
    cr_assert(solo > 0 && stalls + busy >= 1, "parallel %lld solo %lld stalls %lld busy %lld",
              (long long)par, (long long)solo, (long long)stalls, (long long)busy);
}

Test(tpool, rejects_bad_sizes_and_chunks_scale_with_threads)
{
    tg_tpool *p = (tg_tpool *)1;
    cr_assert_eq(tg__tpool_create(&p, 0, 0), TG_EINVAL);
    cr_assert_null(p);
    cr_assert(strstr(tg_error_last(), "n_threads must be 1 to 1024, not 0"), "%s", tg_error_last());
    cr_assert_eq(tg__tpool_create(&p, 1025, 0), TG_EINVAL);
    cr_assert_eq(tg__tpool_chunks(NULL, 100), 1);
    cr_assert_eq(tg__tpool_create(&p, 2, 0), TG_OK);
    cr_assert_eq(tg__tpool_chunks(p, 1000), 16);
    cr_assert_eq(tg__tpool_chunks(p, 5), 5);
    tg__tpool_free(p);
}

typedef struct {
    const tg_kmat *pk;
    const void *act;
    int64_t M, n_chunks;
    float *y;
} mul_job;

static void mul_chunk(void *arg, int64_t c, int32_t worker)
{
    mul_job *j = arg;
    const int64_t np = j->pk->n_panels;
    tg__kmat_mul(j->pk, j->act, j->M, NULL, j->y, j->pk->N, np * c / j->n_chunks,
                 np * (c + 1) / j->n_chunks);
}

/* pk's product of the M rows in `act`, cut into `chunks` (0: as the pool wants) on a pool of nt
 * threads, must give y1's bits (one call over all panels). */
static void expect_pool_gives_bits(const tg_kmat *pk, const void *act, int64_t M, const float *y1,
                                   int32_t nt, int64_t chunks, const char *what)
{
    const size_t bytes = sizeof(float) * (size_t)(M * pk->N);
    float *y2 = calloc(1, bytes);
    tg_tpool *p;
    cr_assert_eq(tg__tpool_create(&p, nt, 20), TG_OK);
    mul_job j = {pk, act, M, chunks ? chunks : tg__tpool_chunks(p, pk->n_panels), y2};
    tg__tpool_run(p, j.n_chunks, mul_chunk, &j);
    cr_assert(memcmp(y1, y2, bytes) == 0, "%s M %lld: %d threads differ from 1", what, (long long)M,
              nt);
    tg__tpool_free(p);
    free(y2);
}

Test(tpool, threaded_products_equal_single_threaded_bits)
{
    const int64_t K = 768, N = 3072, M = 3;
    float *w = randv((size_t)(K * N), 0.02f), *x = randv((size_t)(M * K), 1.0f);
    for (size_t fi = 0; fi < N_FMTS; fi++) {
        tg_kmat pk;
        cr_assert_eq(make(&pk, w, K, N, 0, all_fmts[fi]), TG_OK);
        void *act = aligned_alloc(64, tg__kmat_act_bytes(&pk, M));
        tg__kmat_prepare(&pk, x, M, K, act);
        float *y1 = malloc(sizeof(float) * (size_t)(M * N));
        tg__kmat_mul(&pk, act, M, NULL, y1, N, 0, pk.n_panels);
        for (int32_t nt = 2; nt <= 3; nt++)
            expect_pool_gives_bits(&pk, act, M, y1, nt, 0, fmt_name(all_fmts[fi]));
        free(act);
        free(y1);
        tg__kmat_free(&pk);
    }
    free(w);
    free(x);
}

/* Products the VNNI unit bounds (Q8, 3 to 8 rows) are cut into 2 chunks a thread, the others
 * as the pool wants; a cut that does not divide the panels evenly, at 2 and 3 threads, gives
 * the bits of one call over all panels, with the portable and the VNNI kernels. */
Test(tpool, vnni_bound_products_in_few_chunks_equal_single_threaded_bits)
{
    const int64_t K = 200, Ns[] = {32 * 6 + 5, 32 * 9 + 17, 40};
    float *wbig = randv((size_t)(K * 32 * 100), 0.02f);
    tg_kmat big, bigbf;
    cr_assert_eq(tg__kmat_pack(&big, wbig, K, 32 * 100, 0, TG_KFMT_Q8, NULL), TG_OK);
    cr_assert_eq(tg__kmat_pack(&bigbf, wbig, K, 32 * 100, 0, TG_KFMT_BF16, NULL), TG_OK);
    cr_assert_eq(tg__kmat_chunks(&big, 8, 2), 4);
    cr_assert_eq(tg__kmat_chunks(&big, 3, 3), 6);
    cr_assert_eq(tg__kmat_chunks(&big, 8, 1), 1);
    cr_assert_eq(tg__kmat_chunks(&big, 2, 2), 16); /* memory-bound: the pool's 8 a thread */
    cr_assert_eq(tg__kmat_chunks(&big, 1, 2), 16);
    cr_assert_eq(tg__kmat_chunks(&big, 9, 2), 16); /* more than one register block */
    cr_assert_eq(tg__kmat_chunks(&bigbf, 8, 2), 16);
    tg__kmat_free(&big);
    tg__kmat_free(&bigbf);
    free(wbig);
    const int32_t levels[] = {TG_KISA_PORTABLE, 99};
    for (size_t li = 0; li < 2; li++) {
        tg__kmat_set_isa(levels[li]);
        for (size_t ni = 0; ni < 3; ni++) {
            const int64_t N = Ns[ni];
            float *w = randv((size_t)(K * N), 0.02f);
            tg_kmat pk;
            cr_assert_eq(tg__kmat_pack(&pk, w, K, N, 1, TG_KFMT_Q8, NULL), TG_OK);
            for (int64_t M = 3; M <= 8; M++) {
                float *x = randv((size_t)(M * K), 1.0f);
                void *act = aligned_alloc(64, tg__kmat_act_bytes(&pk, M));
                tg__kmat_prepare(&pk, x, M, K, act);
                float *y1 = malloc(sizeof(float) * (size_t)(M * N));
                tg__kmat_mul(&pk, act, M, NULL, y1, N, 0, pk.n_panels);
                for (int32_t nt = 2; nt <= 3; nt++) {
                    const int64_t chunks = tg__kmat_chunks(&pk, M, nt);
                    cr_assert_eq(chunks, 2 * nt < pk.n_panels ? 2 * nt : pk.n_panels);
                    char what[64];
                    snprintf(what, sizeof what, "level %d N %lld", (int)levels[li], (long long)N);
                    expect_pool_gives_bits(&pk, act, M, y1, nt, chunks, what);
                }
                free(act);
                free(x);
                free(y1);
            }
            tg__kmat_free(&pk);
            free(w);
        }
    }
    tg__kmat_set_isa(99);
}

/* A product's activations prepared in parts (rows [M i / parts, M (i + 1) / parts)) are the bytes
 * of one tg__kmat_prepare, for every format and kernel level; the parts a product is prepared in
 * follow tg__kmat_chunks: one a thread where the VNNI unit bounds it (Q8, 3 to 8 rows), else 1. */
Test(tpool, activations_prepared_in_parts_equal_one_preparation)
{
    const int64_t K = 200, N = 72;
    float *w = randv((size_t)(K * N), 0.02f);
    const int32_t levels[] = {TG_KISA_PORTABLE, 99};
    for (size_t li = 0; li < 2; li++) {
        tg__kmat_set_isa(levels[li]);
        for (size_t fi = 0; fi < N_FMTS; fi++) {
            tg_kmat pk;
            cr_assert_eq(make(&pk, w, K, N, 0, all_fmts[fi]), TG_OK);
            for (int64_t M = 1; M <= 9; M++) {
                float *x = randv((size_t)(M * (K + 3)), 1.0f); /* row stride K + 3 */
                const size_t bytes = tg__kmat_act_bytes(&pk, M);
                uint8_t *a1 = aligned_alloc(64, bytes), *a2 = aligned_alloc(64, bytes);
                memset(a1, 0x5a, bytes);
                memset(a2, 0x5a, bytes);
                tg__kmat_prepare(&pk, x, M, K + 3, a1);
                for (int64_t parts = 2; parts <= 3; parts++) {
                    for (int64_t i = parts - 1; i >= 0; i--) /* any order */
                        tg__kmat_prepare_rows(&pk, x, M, K + 3, a2, M * i / parts,
                                              M * (i + 1) / parts);
                    cr_assert(memcmp(a1, a2, bytes) == 0, "level %d %s M %lld in %lld parts",
                              (int)levels[li], fmt_name(all_fmts[fi]), (long long)M,
                              (long long)parts);
                }
                free(a1);
                free(a2);
                free(x);
            }
            tg__kmat_free(&pk);
        }
    }
    tg__kmat_set_isa(99);
    tg_kmat q, bf;
    cr_assert_eq(tg__kmat_pack(&q, w, K, N, 0, TG_KFMT_Q8, NULL), TG_OK);
    cr_assert_eq(tg__kmat_pack(&bf, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    for (int64_t M = 1; M <= 9; M++)
        for (int32_t t = 1; t <= 3; t++) {
            const int64_t want = M >= 3 && M <= 8 && t > 1 ? t : 1;
            cr_assert_eq(tg__kmat_prep_parts(&q, M, t), want, "Q8 M %lld, %d threads", (long long)M,
                         (int)t);
            cr_assert_eq(tg__kmat_prep_parts(&bf, M, t), 1);
        }
    tg__kmat_free(&q);
    tg__kmat_free(&bf);
    free(w);
}

Test(tpool, packing_on_a_pool_gives_the_same_bytes)
{
    const int64_t K = 130, N = 32 * 9 + 5;
    float *w = randv((size_t)(K * N), 0.02f);
    tg_tpool *p;
    cr_assert_eq(tg__tpool_create(&p, 3, 0), TG_OK);
    for (size_t fi = 0; fi < 5; fi++)
        for (int tr = 0; tr < 2; tr++) {
            tg_kmat a, b;
            cr_assert_eq(tg__kmat_pack(&a, w, K, N, tr, all_fmts[fi], NULL), TG_OK);
            cr_assert_eq(tg__kmat_pack(&b, w, K, N, tr, all_fmts[fi], p), TG_OK);
            cr_assert(memcmp(a.data, b.data, a.panel_bytes * (size_t)a.n_panels) == 0, "%s",
                      fmt_name(all_fmts[fi]));
            if (a.scale)
                cr_assert(memcmp(a.scale, b.scale, sizeof(float) * 32 * (size_t)a.n_panels) == 0);
            if (a.comp)
                cr_assert(memcmp(a.comp, b.comp, sizeof(int32_t) * 32 * (size_t)a.n_panels) == 0);
            tg__kmat_free(&a);
            tg__kmat_free(&b);
        }
    tg__tpool_free(p);
    free(w);
}

/* Resident kB of the mapping that starts at `start` (/proc/self/smaps), -1 if not found. */
static long mapping_rss_kb(const void *start)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long rss = -1;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = a == (unsigned long)(uintptr_t)start;
        else if (in && sscanf(line, "Rss: %ld kB", &rss) == 1)
            break;
    }
    if (f)
        fclose(f);
    return rss;
}

/* tg__kmat_pack_mapped on a real file mapping: the same bytes as packing a copy, an [N][K]
 * source leaves memory as it is packed (a [K][N] one stays: every panel reads every row), and
 * the mapping still reads the file's values afterwards (the page cache maps them again). The
 * floats start 64 bytes into the file, as safetensors data does, so panels straddle pages. */
Test(kernels, packing_a_mapped_file_drops_its_pages_and_gives_the_same_bytes)
{
    const int64_t K = 256, N = 32 * 40 + 7;
    const size_t n = (size_t)(K * N), head = 64;
    float *w = randv(n, 0.02f);
    char path[] = "/tmp/tg_kmat_mappedXXXXXX";
    const int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char zeros[64] = {0};
    cr_assert_eq(write(fd, zeros, head), (ssize_t)head);
    cr_assert_eq(write(fd, w, n * sizeof *w), (ssize_t)(n * sizeof *w));
    close(fd);
    tg_tpool *pool;
    cr_assert_eq(tg__tpool_create(&pool, 3, 0), TG_OK);
    const long file_kb = (long)((head + n * sizeof *w) / 1024);
    const int32_t fmts[] = {TG_KFMT_F32, TG_KFMT_BF16, TG_KFMT_S8};
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++)
        for (int tr = 0; tr < 2; tr++) {
            tg_mapped_file mf;
            cr_assert_eq(tg__file_map(&mf, path), TG_OK);
            const float *src = (const float *)(mf.data + head);
            cr_assert(memcmp(src, w, n * sizeof *w) == 0); /* every page resident */
            cr_assert_geq(mapping_rss_kb(mf.data), file_kb - 4);
            tg_kmat a, b;
            cr_assert_eq(tg__kmat_pack(&a, w, K, N, tr, fmts[fi], NULL), TG_OK);
            cr_assert_eq(tg__kmat_pack_mapped(&b, src, K, N, tr, fmts[fi], pool), TG_OK);
            cr_assert(memcmp(a.data, b.data, a.panel_bytes * (size_t)a.n_panels) == 0, "%s %d",
                      fmt_name(fmts[fi]), tr);
            if (a.scale)
                cr_assert(memcmp(a.scale, b.scale, sizeof(float) * 32 * (size_t)a.n_panels) == 0);
            const long rss = mapping_rss_kb(mf.data);
            if (tr) /* left: the pages that chunk boundaries and both ends straddle (< 42 x 4 kB) */
                cr_assert_leq(rss, 42 * 4, "%s: %ld of %ld kB still resident", fmt_name(fmts[fi]),
                              rss, file_kb);
            else
                cr_assert_geq(rss, file_kb - 4, "%s: [K][N] source released early",
                              fmt_name(fmts[fi]));
            cr_assert(memcmp(src, w, n * sizeof *w) == 0, "the file reads back after release");
            tg__kmat_free(&a);
            tg__kmat_free(&b);
            tg__file_unmap(&mf);
        }
    tg__tpool_free(pool);
    unlink(path);
    free(w);
}

/* ---- panel memory: huge pages after packing (panel_mem.c) ---- */

/* A field (kB) of the mapping that contains `addr` (/proc/self/smaps), -1 if not found. */
static long vma_field_kb(const void *addr, const char *field)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kb = -1;
    int in = 0;
    const size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = a <= (unsigned long)(uintptr_t)addr && (unsigned long)(uintptr_t)addr < b;
        else if (in && strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    if (f)
        fclose(f);
    return kb;
}

/* Whether this kernel can collapse anonymous memory into huge pages (transparent huge pages not
 * "never", MADV_COLLAPSE known: Linux >= 6.1): probed on 2 MiB of our own. */
static int huge_pages_available(void)
{
    const size_t H = (size_t)2 << 20;
    uint8_t *raw = mmap(NULL, 2 * H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return 0;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + H - 1) & ~(H - 1));
    memset(p, 1, H);
    const int ok = madvise(p, H, MADV_HUGEPAGE) == 0 && madvise(p, H, 25 /* MADV_COLLAPSE */) == 0;
    munmap(raw, 2 * H);
    return ok;
}

/* A bf16 matrix of ~10 MB and a small one packed after it (each test runs in a process of its
 * own, so the arena starts empty): the first starts a 2 MiB-aligned chunk, the second follows
 * on the next 4 KiB page. Products right after packing (while the background collapse may run)
 * and after it has ended give the same bits from the same bytes, and every whole 2 MiB page of
 * the two is then a huge page where the kernel has them — the one holding the end of the first
 * and the start of the second too; with $TEXTGEN_PANEL_PAGES=4k they stay on 4 KiB pages. */
Test(kernels, large_panels_move_to_huge_pages_after_packing_with_the_same_products)
{
    const int64_t K = 768, N = 32 * 200 + 5, N2 = 32 * 20, M = 2;
    float *w = randv((size_t)(K * N), 0.02f), *x = randv((size_t)(M * K), 1.0f);
    float *y0 = calloc((size_t)(M * N), sizeof(float)),
          *y1 = calloc((size_t)(M * N), sizeof(float));
    const int huge = huge_pages_available();
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            setenv("TEXTGEN_PANEL_PAGES", "4k", 1);
        tg_kmat m, m2;
        cr_assert_eq(tg__kmat_pack(&m, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
        cr_assert_eq(tg__kmat_pack(&m2, w, K, N2, 0, TG_KFMT_BF16, NULL), TG_OK);
        const size_t bytes = m.panel_bytes * (size_t)m.n_panels,
                     bytes2 = m2.panel_bytes * (size_t)m2.n_panels;
        cr_assert_eq(m.owned, 2, "a %zu-byte matrix is in the arena, not on the heap", bytes);
        cr_assert_eq(m2.owned, 2, "a %zu-byte matrix is in the arena, not on the heap", bytes2);
        cr_assert_eq((uintptr_t)m.data % ((uintptr_t)2 << 20), 0, "a chunk starts on 2 MiB");
        cr_assert_eq((uint8_t *)m2.data, (uint8_t *)m.data + (bytes + 4095) / 4096 * 4096,
                     "the second matrix follows the first on the next 4 KiB page");
        uint8_t *copy = malloc(bytes);
        memcpy(copy, m.data, bytes);
        product(&m, x, M, NULL, y0, N, 0, m.n_panels);
        tg__panel_mem_settle();
        cr_assert(memcmp(copy, m.data, bytes) == 0, "the panels' bytes survive the collapse");
        product(&m, x, M, NULL, y1, N, 0, m.n_panels);
        cr_assert(memcmp(y0, y1, sizeof(float) * (size_t)(M * N)) == 0);
        const long hp = vma_field_kb(m.data, "AnonHugePages");
        const long whole = (long)((bytes + 4095) / 4096 * 4096 + bytes2) / (2048 * 1024) * 2048;
        if (pass)
            cr_assert_eq(hp, 0, "TEXTGEN_PANEL_PAGES=4k: %ld kB on huge pages", hp);
        else if (huge)
            cr_assert_eq(hp, whole, "whole 2 MiB pages collapsed: %ld of %ld kB", hp, whole);
        else
            cr_log_info("no transparent huge pages / MADV_COLLAPSE here: %ld kB", hp);
        free(copy);
        tg__kmat_free(&m2);
        tg__kmat_free(&m);
    }
    unsetenv("TEXTGEN_PANEL_PAGES");
    free(w);
    free(x);
    free(y0);
    free(y1);
}

/* A model load holds the collapse back (tg__panel_mem_hold, around the whole load), so that it
 * neither competes with the packing nor with the first token: nothing moves to huge pages until
 * the last hold is released; then every whole page does. */
Test(kernels, panels_packed_during_a_load_wait_for_its_end)
{
    if (!huge_pages_available())
        cr_skip_test("no transparent huge pages / MADV_COLLAPSE here");
    const int64_t K = 768, N = 32 * 200;
    float *w = randv((size_t)(K * N), 0.02f);
    tg__panel_mem_hold();
    tg__panel_mem_hold(); /* nested, as two loads in two threads */
    tg_kmat m;
    cr_assert_eq(tg__kmat_pack(&m, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    tg__panel_mem_settle(); /* no worker: returns at once */
    cr_assert_eq(vma_field_kb(m.data, "AnonHugePages"), 0);
    tg__panel_mem_release();
    tg__panel_mem_settle();
    cr_assert_eq(vma_field_kb(m.data, "AnonHugePages"), 0, "one hold is left");
    tg__panel_mem_release();
    tg__panel_mem_settle();
    const long whole = (long)(m.panel_bytes * (size_t)m.n_panels) / (2048 * 1024) * 2048;
    cr_assert_eq(vma_field_kb(m.data, "AnonHugePages"), whole);
    tg__kmat_free(&m);
    free(w);
}

/* Matrices freed while queued for the collapse, or while one of their 2 MiB steps is being
 * collapsed, leave the queue (no use after free under ASan, no hang); the ones kept give the
 * products of a fresh pack afterwards. */
/* A bf16 matrix of 3 whole 2 MiB pages and its operands, for the tests of the collapse. */
typedef struct {
    int64_t K, N;
    float *w, *x, *ya, *yb; /* weights, one row, two outputs */
} collapse_case;

static collapse_case collapse_case_new(void)
{
    collapse_case c = {768, 32 * 120, NULL, NULL, NULL, NULL};
    c.w = randv((size_t)(c.K * c.N), 0.02f);
    c.x = randv((size_t)c.K, 1.0f);
    c.ya = calloc((size_t)c.N, sizeof(float));
    c.yb = calloc((size_t)c.N, sizeof(float));
    return c;
}

static void collapse_case_free(collapse_case *c)
{
    free(c->w);
    free(c->x);
    free(c->ya);
    free(c->yb);
}

Test(kernels, panels_freed_while_waiting_for_huge_pages)
{
    collapse_case t = collapse_case_new();
    const int64_t K = t.K, N = t.N, M = 1;
    float *w = t.w, *x = t.x, *ya = t.ya, *yb = t.yb;
    tg_kmat keep[4];
    for (int round = 0; round < 4; round++) {
        tg_kmat m[3];
        for (int i = 0; i < 3; i++)
            cr_assert_eq(tg__kmat_pack(&m[i], w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
        tg__kmat_free(&m[2]); /* most likely still queued */
        struct timespec ts = {0, 2000000 * round};
        nanosleep(&ts, NULL);
        tg__kmat_free(&m[0]); /* most likely being collapsed, or done */
        keep[round] = m[1];
    }
    tg__panel_mem_settle();
    tg_kmat fresh;
    setenv("TEXTGEN_PANEL_PAGES", "4k", 1);
    cr_assert_eq(tg__kmat_pack(&fresh, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    unsetenv("TEXTGEN_PANEL_PAGES");
    product(&fresh, x, M, NULL, ya, N, 0, fresh.n_panels);
    for (int round = 0; round < 4; round++) {
        product(&keep[round], x, M, NULL, yb, N, 0, keep[round].n_panels);
        cr_assert(memcmp(ya, yb, sizeof(float) * (size_t)N) == 0, "kept matrix %d", round);
        tg__kmat_free(&keep[round]);
    }
    tg__kmat_free(&fresh);
    collapse_case_free(&t);
}

/* A process forked while matrices wait for the collapse (Python's multiprocessing does this with
 * a loaded model): the child has no worker, so it must drop the queue — its products are those
 * of the parent and it frees every matrix without waiting (a hang fails by SIGALRM, a wrong
 * product by the exit code). */
Test(kernels, a_child_forked_while_panels_wait_for_huge_pages_frees_them)
{
    collapse_case t = collapse_case_new();
    const int64_t K = t.K, N = t.N, M = 1;
    float *w = t.w, *x = t.x, *ya = t.ya, *yb = t.yb;
    tg_kmat m[6];
    for (int i = 0; i < 6; i++)
        cr_assert_eq(tg__kmat_pack(&m[i], w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    product(&m[0], x, M, NULL, ya, N, 0, m[0].n_panels);
    const pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(30); /* a hung child must not outlive the test (it holds the test's output pipe) */
        int bad = 0;
        for (int i = 5; i >= 0; i--) {
            product(&m[i], x, M, NULL, yb, N, 0, m[i].n_panels);
            bad |= memcmp(ya, yb, sizeof(float) * (size_t)N) != 0;
            tg__kmat_free(&m[i]);
        }
        tg__panel_mem_settle();
        _exit(bad ? 3 : 0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    for (int i = 0; i < 6; i++)
        tg__kmat_free(&m[i]);
    collapse_case_free(&t);
}

/* tg__huge_bytes against ranges whose pages we know: 2 MiB collapsed, 2 MiB left on 4 KiB pages,
 * a range that straddles both, and an unmapped hole (counts as not huge). */
Test(kernels, huge_bytes_measures_the_pages_of_a_range)
{
    const size_t H = (size_t)2 << 20;
    if (!huge_pages_available())
        cr_skip_test("no transparent huge pages / MADV_COLLAPSE here");
    uint8_t *raw = mmap(NULL, 4 * H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(raw, MAP_FAILED);
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + H - 1) & ~(H - 1));
    memset(p, 7, 2 * H);
    cr_assert_eq(madvise(p, H, 25 /* MADV_COLLAPSE */), 0);
    if (tg__huge_bytes(p, H) < 0) {
        munmap(raw, 4 * H);
        cr_skip_test("no PAGEMAP_SCAN (Linux < 6.7)");
    }
    cr_assert_eq(tg__huge_bytes(p, H), (long long)H);
    cr_assert_eq(tg__huge_bytes(p + H, H), 0, "written, never collapsed: 4 KiB pages");
    cr_assert_eq(tg__huge_bytes(p + 4096, H), (long long)(H - 4096), "the straddling range");
    munmap(p + H, H);
    cr_assert_eq(tg__huge_bytes(p, 2 * H), (long long)H, "the unmapped half counts as 0");
    munmap(raw, (size_t)(p - raw) + H);
}

/* The coverage of two matrices side by side (each test runs in a process of its own: the arena
 * and the counters start empty): their bytes, the whole 2 MiB pages among them, every one of
 * those measured on huge pages after the collapse, one MADV_COLLAPSE per whole page and no
 * failure; a freed matrix leaves the totals with the pages wholly its own, and the page it
 * shared is no longer huge; the one-line report says the same numbers. */
Test(kernels, coverage_counts_the_panels_and_their_huge_pages)
{
    const int64_t K = 768, N = 32 * 200 + 5, N2 = 32 * 20;
    float *w = randv((size_t)(K * N), 0.02f);
    tg_kmat m, m2;
    cr_assert_eq(tg__kmat_pack(&m, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    cr_assert_eq(tg__kmat_pack(&m2, w, K, N2, 0, TG_KFMT_BF16, NULL), TG_OK);
    tg__panel_mem_settle();
    const size_t H = (size_t)2 << 20;
    const size_t b1 = (m.panel_bytes * (size_t)m.n_panels + 4095) / 4096 * 4096,
                 b2 = (m2.panel_bytes * (size_t)m2.n_panels + 4095) / 4096 * 4096;
    tg_panel_coverage cv;
    tg__panel_mem_coverage(&cv);
    cr_assert_eq(cv.panel_bytes, b1 + b2);
    cr_assert_eq(cv.whole_bytes, (b1 + b2) / H * H, "the chunk's last page is partly used");
    cr_assert_eq(cv.waiting, 0);
    if (huge_pages_available() && cv.huge_bytes >= 0) {
        cr_assert_eq(cv.tried, (b1 + b2) / H, "one collapse per whole page");
        cr_assert_eq(cv.failed, 0);
        cr_assert_eq(cv.huge_bytes, (long long)cv.whole_bytes, "every whole page is huge");
        char line[512], want[128];
        tg__panel_mem_report(line, sizeof line);
        snprintf(want, sizeof want, "panels on huge pages: %.1f of %.1f MB",
                 (double)cv.whole_bytes / 1e6, (double)(b1 + b2) / 1e6);
        cr_assert(strstr(line, want) && strstr(line, "collapses failed: 0 of "), "%s", line);
    } else {
        cr_log_info("no huge pages / PAGEMAP_SCAN here: %lld bytes measured", cv.huge_bytes);
    }
    tg__kmat_free(&m);
    tg__panel_mem_coverage(&cv);
    cr_assert_eq(cv.panel_bytes, b2, "the freed matrix no longer counts");
    cr_assert_eq(cv.whole_bytes, ((b1 + b2) / H - b1 / H) * H,
                 "only the whole pages that hold some of m2 are left");
    if (cv.huge_bytes >= 0)
        cr_assert_eq(cv.huge_bytes, 0, "m's pages went back, the one it shared with m2 split");
    tg__kmat_free(&m2);
    tg__panel_mem_coverage(&cv);
    cr_assert_eq(cv.panel_bytes, 0);
    free(w);
}

/* A page whose collapse fails, honestly: one of its 4 KiB pages is made read-only, which splits
 * the mapping there, and MADV_COLLAPSE refuses a 2 MiB range that spans two mappings (EINVAL).
 * The failure is counted with its errno, the page stays on 4 KiB pages and the others do not. */
Test(kernels, a_failed_collapse_is_counted_with_its_errno)
{
    if (!huge_pages_available())
        cr_skip_test("no transparent huge pages / MADV_COLLAPSE here");
    const size_t H = (size_t)2 << 20;
    int32_t owned;
    size_t map_bytes;
    tg__panel_mem_hold(); /* nothing is collapsed before the page is protected */
    uint8_t *p = tg__panel_mem_alloc(3 * H, &owned, &map_bytes);
    cr_assert(p && owned == 2 && map_bytes == 3 * H);
    cr_assert_eq((uintptr_t)p % H, 0);
    memset(p, 3, 3 * H);
    tg__panel_mem_ready(p, owned, map_bytes);
    cr_assert_eq(mprotect(p + H + 8192, 4096, PROT_READ), 0);
    tg__panel_mem_release();
    tg__panel_mem_settle();
    tg_panel_coverage cv;
    tg__panel_mem_coverage(&cv);
    cr_assert_eq(cv.tried, 3);
    cr_assert_eq(cv.failed, 1);
    cr_assert_eq(cv.failed_einval, 1);
    cr_assert_eq(cv.failed_eagain + cv.failed_enomem + cv.failed_other, 0);
    if (cv.huge_bytes >= 0)
        cr_assert_eq(cv.huge_bytes, (long long)(2 * H), "pages 0 and 2 are huge, page 1 not");
    char line[512];
    tg__panel_mem_report(line, sizeof line);
    cr_assert(strstr(line, "collapses failed: 1 of 3 (EAGAIN 0, ENOMEM 0, EINVAL 1, other 0)"),
              "%s", line);
    cr_assert_eq(p[H + 8192], 3, "the bytes are intact");
    cr_assert_eq(mprotect(p + H + 8192, 4096, PROT_READ | PROT_WRITE), 0);
    tg__panel_mem_free(p, owned, map_bytes);
}

/* The threads of this process (their ids), at most n; returns how many there are. */
static int thread_ids(long *ids, int n)
{
    DIR *d = opendir("/proc/self/task");
    int k = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && k < n)
            ids[k++] = strtol(e->d_name, NULL, 10);
    if (d)
        closedir(d);
    return k;
}

/* Field `field` (3: state, 19: nice) of /proc/self/task/TID/stat, as a number (the state as its
 * letter); -1000 if unreadable. */
static long thread_stat_field(long tid, int field)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    const size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    for (int i = 3; p && i <= field; i++) {
        p = strchr(p + 1, ' ');
        if (p && i == field)
            return field == 3 ? (long)p[1] : strtol(p + 1, NULL, 10);
    }
    return -1000;
}

/* The collapse worker runs at the priority of the thread that started it, not at nice 19: a
 * worker preempted inside MADV_COLLAPSE holds up every decode thread (panel_mem.c,
 * collapse_worker). Checked while it waits its second after the end of a load (asleep). */
Test(kernels, the_collapse_worker_runs_at_the_programs_priority)
{
    if (!huge_pages_available())
        cr_skip_test("no transparent huge pages / MADV_COLLAPSE here");
    errno = 0;
    const int own = getpriority(PRIO_PROCESS, 0);
    cr_assert_eq(errno, 0);
    const int nice = own < 19 ? own + 1 : own - 1; /* not 19, and not what a worker would set */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0)
        cr_skip_test("cannot change this thread's nice value to %d", nice);
    long before[64], after[64];
    const int nb = thread_ids(before, 64);
    const int64_t K = 768, N = 32 * 120;
    float *w = randv((size_t)(K * N), 0.02f);
    tg__panel_mem_hold();
    tg_kmat m;
    cr_assert_eq(tg__kmat_pack(&m, w, K, N, 0, TG_KFMT_BF16, NULL), TG_OK);
    tg__panel_mem_release(); /* the worker starts and waits a second before the first collapse */
    const int na = thread_ids(after, 64);
    cr_assert_eq(na, nb + 1, "the worker exists");
    long worker = -1;
    for (int i = 0; i < na; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= after[i] == before[j];
        worker = old ? worker : after[i];
    }
    /* Until it sleeps in that wait it may not have set its priority yet (the old code did). */
    for (int i = 0; i < 500 && thread_stat_field(worker, 3) != 'S'; i++) {
        const struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    const long wn = thread_stat_field(worker, 19);
    cr_assert_eq(wn, nice, "the worker runs at nice %ld, the thread that started it at %d", wn,
                 nice);
    tg__panel_mem_settle();
    tg__kmat_free(&m);
    free(w);
}

/* ---- CPUs this process may use ---- */

Test(cpus, cgroup_quota_files_parse)
{
    cr_assert_eq(tg__cgroup_quota_v2("max 100000\n"), 0.0);
    cr_assert_float_eq(tg__cgroup_quota_v2("150000 100000\n"), 1.5, 1e-12);
    cr_assert_eq(tg__cgroup_quota_v2("lots 100000"), -1.0);
    cr_assert_eq(tg__cgroup_quota_v2("100000 0"), -1.0);
    cr_assert_eq(tg__cgroup_quota_v2(""), -1.0);
    cr_assert_eq(tg__cgroup_quota_v1("-1\n", "100000\n"), 0.0);
    cr_assert_float_eq(tg__cgroup_quota_v1("50000\n", "100000\n"), 0.5, 1e-12);
    cr_assert_eq(tg__cgroup_quota_v1("x", "100000"), -1.0);
}

/* /proc/stat's cpu lines: only the CPUs in the mask count, the "cpu " sum line and the lines
 * after the cpu block do not, and nice + idle + iowait is what counts as free. */
Test(cpus, idle_time_of_the_cpus_in_the_mask)
{
    static const char stat[] = "cpu  900 80 70 6000 40 0 5 0 0 0\n"
                               "cpu0 100 10 20 1000 5 0 1 0 0 0\n"
                               "cpu1 200 20 10 2000 7 0 2 0 0 0\n"
                               "cpu9 300 30 30 3000 9 0 2 0 0 0\n"
                               "intr 12345 1 2 3\n"
                               "cpu3 1 1 1 1000000 1 0 0 0 0 0\n";
    unsigned char mask[2] = {0x03, 0x02}; /* cpus 0, 1 and 9 */
    FILE *f = fmemopen((void *)stat, sizeof stat - 1, "r");
    cr_assert_float_eq(tg__cpus_idle_read(f, mask, sizeof mask, 100),
                       (1015.0 + 2027.0 + 3039.0) * 1e4, 1e-3);
    fclose(f);
    mask[0] = 0x02, mask[1] = 0; /* cpu 1 alone, at 250 ticks a second */
    f = fmemopen((void *)stat, sizeof stat - 1, "r");
    cr_assert_float_eq(tg__cpus_idle_read(f, mask, sizeof mask, 250), 2027.0 * 4e3, 1e-3);
    fclose(f);
    mask[0] = 0x08; /* cpu 3 comes after the cpu block: not read */
    f = fmemopen((void *)stat, sizeof stat - 1, "r");
    cr_assert_eq(tg__cpus_idle_read(f, mask, sizeof mask, 100), -1.0);
    fclose(f);
    static const char bad[] = "cpu0 1 2 3\n";
    mask[0] = 0x01;
    f = fmemopen((void *)bad, sizeof bad - 1, "r");
    cr_assert_eq(tg__cpus_idle_read(f, mask, sizeof mask, 100), -1.0);
    fclose(f);
    cr_assert_eq(tg__cpus_idle_read(NULL, mask, sizeof mask, 100), -1.0);
    /* this machine's: it grows, and by no more than wall time x CPUs */
    const double a = tg__cpus_idle_us();
    cr_assert_geq(a, 0);
    struct timespec nap = {0, 30 * 1000 * 1000};
    nanosleep(&nap, NULL);
    const double b = tg__cpus_idle_us();
    cr_assert_geq(b, a);
    cr_assert_leq(b - a, 1e6 * tg__cpus_affinity());
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(cpus, the_tightest_quota_on_the_path_counts)
{
    char root[] = "/tmp/tg_cgroup_XXXXXX", d[600];
    cr_assert_not_null(mkdtemp(root));
    /* v2: /a/b has no limit, /a allows 2.5 CPUs, the root 4. */
    snprintf(d, sizeof d, "%s/a", root);
    mkdir(d, 0700);
    put(d, "cpu.max", "250000 100000\n");
    snprintf(d, sizeof d, "%s/a/b", root);
    mkdir(d, 0700);
    put(d, "cpu.max", "max 100000\n");
    put(root, "cpu.max", "400000 100000\n");
    cr_assert_float_eq(tg__cgroup_quota(root, "0::/a/b\n"), 2.5, 1e-12);
    cr_assert_float_eq(tg__cgroup_quota(root, "0::/\n"), 4.0, 1e-12);
    /* v1: the cpu controller mounted as cpu,cpuacct; other controllers are ignored. */
    snprintf(d, sizeof d, "%s/cpu,cpuacct", root);
    mkdir(d, 0700);
    snprintf(d, sizeof d, "%s/cpu,cpuacct/job", root);
    mkdir(d, 0700);
    put(d, "cpu.cfs_quota_us", "150000\n");
    put(d, "cpu.cfs_period_us", "100000\n");
    cr_assert_float_eq(tg__cgroup_quota(root, "5:memory:/a\n3:cpu,cpuacct:/job\n"), 1.5, 1e-12);
    cr_assert_eq(tg__cgroup_quota(root, "3:cpuacct:/job\n"), 0.0); /* not the cpu controller */
    cr_assert_eq(tg__cgroup_quota(root, "3:cpu:/nowhere\n"), 0.0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

Test(cpus, affinity_matches_the_kernel_s_allowed_list)
{
    /* Count Cpus_allowed_list ("0-3,8") from /proc/self/status: an independent reading. */
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        cr_skip_test("no /proc/self/status");
    char line[512];
    int count = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            count = 0;
            for (char *s = line + 18; *s;) {
                char *end;
                const long a = strtol(s, &end, 10);
                if (end == s) {
                    s++;
                    continue;
                }
                long b = a;
                if (*end == '-')
                    b = strtol(end + 1, &end, 10);
                count += (int)(b - a + 1);
                s = end;
            }
        }
    fclose(f);
    cr_assert_gt(count, 0);
    cr_assert_eq(tg__cpus_affinity(), count);
    const int32_t avail = tg__cpus_available(NULL);
    cr_assert(avail >= 1 && avail <= count, "available %d of %d", avail, count);
    /* Restricting the affinity is seen at once. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((int)sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    cpu_set_t old;
    sched_getaffinity(0, sizeof old, &old);
    if (sched_setaffinity(0, sizeof one, &one) == 0) {
        cr_assert_eq(tg__cpus_affinity(), 1);
        cr_assert_eq(tg__cpus_available(NULL), 1);
        sched_setaffinity(0, sizeof old, &old);
    }
}

/* ---- the linear seam: the kmat implementation against oneDNN's ---- */

/* A tensor view of f32 data (the seam's input, as the model layer builds it from a file). */
static tg_tensor view_of(float *data, int64_t rows, int64_t cols, char *name)
{
    tg_tensor t = {.name = name, .dtype = TG_DT_F32, .ndim = 2, .data = data};
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.numel = rows * cols;
    t.nbytes = (size_t)t.numel * sizeof(float);
    return t;
}

/* A private mapping of a (memory) file holding bytes [0, n) of src, as a model's weights are
 * mapped: pages dropped with madvise come back from the file. */
static float *file_copy(const float *src, size_t n)
{
    const int fd = memfd_create("weights", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, src, n), (ssize_t)n);
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert_neq(p, MAP_FAILED);
    close(fd);
    return p;
}

/* Relative RMS difference of b against a. */
static double rel_rms(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)a[i] * a[i];
    }
    return sqrt(d / (s > 0 ? s : 1));
}

typedef struct seam_case {
    tg_precision prec;
    tg_mat_layout layout;
    tg_epilogue epi;
    int accumulate, bias;
} seam_case;

/* One matrix through both implementations (kmat's weights packed on `pool`, products run on it):
 * the same results for every row count (M = 20 runs kmat's oneDNN prefill path on the packed
 * panels), and the same columns for read_column. */
static void seam_compare(const seam_case *c, int64_t K, int64_t N, tg_tpool *pool, double tol)
{
    const int gated = c->epi == TG_EPI_SILU_GATE, n_parts = gated ? 2 : 1;
    char wname[2][8] = {"w0", "w1"}, bname[2][8] = {"b0", "b1"};
    float *wd[2], *bd[2];
    tg_tensor wt[2], bt[2];
    const tg_tensor *parts[2], *biases[2];
    for (int i = 0; i < n_parts; i++) {
        wd[i] = randv((size_t)K * (size_t)N, 0.05f);
        bd[i] = randv((size_t)N, 0.5f);
        wt[i] = c->layout == TG_MAT_OUT_IN ? view_of(wd[i], N, K, wname[i])
                                           : view_of(wd[i], K, N, wname[i]);
        bt[i] = view_of(bd[i], 1, N, bname[i]);
        bt[i].ndim = 1;
        bt[i].shape[0] = N;
        parts[i] = &wt[i];
        biases[i] = &bt[i];
    }
    tg_linear_desc d = {.name = "seam",
                        .parts = parts,
                        .bias = c->bias ? biases : NULL,
                        .n_parts = n_parts,
                        .layout = c->layout,
                        .K = K,
                        .gated = gated,
                        .precision = c->prec,
                        .pool = pool};
    tg_linear *ref = NULL, *ours = NULL;
    tg_linear_desc dref = d;
    if (c->prec == TG_PREC_INT8)
        dref.precision = TG_PREC_F32; /* oneDNN has no weight-only int8: compare with exact f32 */
    /* Both release the source pages (madvise DONTNEED: a file's pages come back, anonymous
     * memory reads as zeros afterwards), kmat even before it is done reading them (Q8's scale
     * pass), as the model layer's tensors are file mappings: kmat gets a private mapping of a
     * file with a copy, as a model's weights are. */
    float *copy[2] = {NULL, NULL};
    const size_t wbytes = (size_t)K * (size_t)N * sizeof(float);
    for (int i = 0; i < n_parts; i++)
        copy[i] = file_copy(wd[i], wbytes);
    cr_assert_eq(tg__linear_dnnl_create(&ref, &dref), TG_OK, "%s", tg_error_last());
    for (int i = 0; i < n_parts; i++)
        wt[i].data = copy[i];
    cr_assert_eq(tg__linear_kmat_create(&ours, &d), TG_OK, "%s", tg_error_last());
    cr_assert_eq(ours->N, N);
    cr_assert(strcmp(ours->ops->impl, "kmat") == 0);
    const int64_t Ms[] = {1, 5, 20};
    for (size_t mi = 0; mi < 3; mi++) {
        const int64_t M = Ms[mi];
        float *x = randv((size_t)(M * K), 1.0f);
        float *ya = randv((size_t)(M * N), 1.0f), *yb = malloc((size_t)(M * N) * sizeof(float));
        memcpy(yb, ya, (size_t)(M * N) * sizeof(float)); /* accumulate adds to equal contents */
        tg_linear_cfg cfg = {M, c->epi, c->accumulate, TG_ACT_F32, pool};
        tg_linear_plan *pa, *pb;
        cr_assert_eq(tg__linear_plan_create(&pa, ref, &cfg), TG_OK, "%s", tg_error_last());
        cr_assert_eq(tg__linear_plan_create(&pb, ours, &cfg), TG_OK, "%s", tg_error_last());
        void *sa = malloc(pa->scratch_size + 64), *sb = malloc(pb->scratch_size + 64);
        void *xa = x;
        uint16_t *xbf = NULL;
        if (ref->src == TG_ACT_BF16) { /* oneDNN's bf16 matrices read bf16 rows */
            xbf = malloc((size_t)(M * K) * 2);
            tg__f32_to_bf16(xbf, x, (size_t)(M * K));
            xa = xbf;
        }
        cr_assert_eq(ours->src, TG_ACT_F32);
        cr_assert_eq(tg__linear_forward(pa, ref, xa, ya, sa), TG_OK, "%s", tg_error_last());
        cr_assert_eq(tg__linear_forward(pb, ours, x, yb, sb), TG_OK, "%s", tg_error_last());
        const double e = rel_rms(ya, yb, (size_t)(M * N));
        cr_assert_leq(e, tol, "prec %d layout %d epi %d acc %d bias %d M %lld: rel RMS %g",
                      (int)c->prec, (int)c->layout, (int)c->epi, c->accumulate, c->bias,
                      (long long)M, e);
        tg__linear_plan_free(pa);
        tg__linear_plan_free(pb);
        free(sa);
        free(sb);
        free(xbf);
        free(x);
        free(ya);
        free(yb);
    }
    if (!gated) {
        float *ca = malloc((size_t)K * sizeof(float)), *cb = malloc((size_t)K * sizeof(float));
        for (int64_t n = 0; n < N; n += N / 7 + 1) {
            tg__linear_read_column(ref, n, ca);
            tg__linear_read_column(ours, n, cb);
            const double e = rel_rms(ca, cb, (size_t)K);
            cr_assert_leq(e, c->prec == TG_PREC_INT8 ? 0.02 : 1e-7, "column %lld: %g", (long long)n,
                          e);
        }
        free(ca);
        free(cb);
    }
    tg__linear_free(ref);
    tg__linear_free(ours);
    for (int i = 0; i < n_parts; i++) {
        free(wd[i]);
        munmap(copy[i], wbytes);
        free(bd[i]);
    }
}

static void seam_all(tg_precision prec, double tol)
{
    tg_tpool *pool;
    cr_assert_eq(tg__tpool_create(&pool, 2, 50), TG_OK);
    const tg_epilogue epis[] = {TG_EPI_NONE, TG_EPI_GELU_TANH, TG_EPI_GELU_ERF, TG_EPI_SILU_GATE};
    for (int layout = 0; layout < 2; layout++)
        for (int bias = 0; bias < 2; bias++) {
            for (int e = 0; e < 4; e++) {
                const seam_case c = {prec, (tg_mat_layout)layout, epis[e], 0, bias};
                /* K 96 fits oneDNN's blocked layouts (prefill path); N 200 ends in a partial
                 * panel. K 40 stays on kmat at every M. */
                seam_compare(&c, 96, 200, layout ? pool : NULL, tol);
                seam_compare(&c, 40, 72, pool, tol);
            }
            const seam_case acc = {prec, (tg_mat_layout)layout, TG_EPI_NONE, 1, bias};
            seam_compare(&acc, 64, 96, pool, tol);
        }
    tg__tpool_free(pool);
}

/* n random K x N weight matrices (w0, w1: a gated pair) as tensor views, for a linear desc. */
static void random_parts(int64_t K, int64_t N, int n, float *wd[2], tg_tensor wt[2],
                         const tg_tensor *parts[2])
{
    static char names[2][3] = {"w0", "w1"};
    for (int i = 0; i < n; i++) {
        wd[i] = randv((size_t)(K * N), 0.05f);
        wt[i] = view_of(wd[i], K, N, names[i]);
        parts[i] = &wt[i];
    }
}

/* A prompt's product on a pool that has fallen back to the caller alone runs one primitive
 * over all rows instead of the pool's blocks: the same bits as the blocks, and as 1 thread. */
static void prefill_solo_same_bits(tg_precision prec, tg_epilogue epi)
{
    const int64_t K = 96, N = 200, M = 64;
    const int gated = epi == TG_EPI_SILU_GATE;
    float *wd[2] = {NULL, NULL};
    tg_tensor wt[2];
    const tg_tensor *parts[2];
    random_parts(K, N, 1 + gated, wd, wt, parts);
    tg_tpool *pool;
    cr_assert_eq(tg__tpool_create(&pool, 2, 50), TG_OK);
    /* Packed on the caller (no .pool): a stall while packing on a busy machine would already
     * send the pool's jobs to the caller alone before case 1. */
    tg_linear_desc d = {.name = "solo",
                        .parts = parts,
                        .n_parts = 1 + gated,
                        .layout = TG_MAT_IN_OUT,
                        .K = K,
                        .gated = gated,
                        .precision = prec};
    tg_linear *lin = NULL;
    cr_assert_eq(tg__linear_kmat_create(&lin, &d), TG_OK, "%s", tg_error_last());
    float *x = randv((size_t)(M * K), 1.0f);
    float *y[3];
    tg_tpool *pools[3] = {NULL, pool, pool}; /* 1 thread, 2 threads, 2 threads fallen back */
    for (int k = 0; k < 3; k++) {
        y[k] = malloc((size_t)(M * N) * sizeof(float));
        tg_linear_cfg cfg = {M, epi, 0, TG_ACT_F32, pools[k]};
        tg_linear_plan *plan;
        cr_assert_eq(tg__linear_plan_create(&plan, lin, &cfg), TG_OK, "%s", tg_error_last());
        void *sc = malloc(plan->scratch_size + 64);
        if (k == 2)
            make_pool_fall_back(pool);
        const int32_t next = tg__tpool_threads_next(pool);
        cr_assert_eq(next, k == 2 ? 1 : 2, "case %d: the next job would run on %d threads", k,
                     (int)next);
        int64_t par0, par1, solo;
        tg__tpool_stats(pool, &par0, &solo);
        cr_assert_eq(tg__linear_forward(plan, lin, x, y[k], sc), TG_OK, "%s", tg_error_last());
        tg__tpool_stats(pool, &par1, &solo);
        cr_assert_eq(par1 - par0, k == 1 ? 1 : 0, "case %d: parallel jobs %lld", k,
                     (long long)(par1 - par0)); /* the fallback ran no pool job at all */
        tg__linear_plan_free(plan);
        free(sc);
    }
    for (int k = 1; k < 3; k++)
        cr_assert(memcmp(y[0], y[k], (size_t)(M * N) * sizeof(float)) == 0,
                  "prec %d epi %d: case %d differs from 1 thread", (int)prec, (int)epi, k);
    for (int k = 0; k < 3; k++)
        free(y[k]);
    free(x);
    tg__linear_free(lin);
    tg__tpool_free(pool);
    free(wd[0]);
    free(wd[1]);
}

/* int8 decode products of 3 to 8 rows on a pool prepare their activations in parts, in the job's
 * first chunks (tg__kmat_prep_parts): with every epilogue and accumulate, the bits of 1 thread,
 * and the pool shared the job (when it did not fall back: the machine is shared). */
static void int8_rows_same_bits(tg_epilogue epi, int accumulate)
{
    const int64_t K = 200, N = 32 * 7 + 9;
    const int gated = epi == TG_EPI_SILU_GATE;
    float *wd[2] = {NULL, NULL};
    tg_tensor wt[2];
    const tg_tensor *parts[2];
    random_parts(K, N, 1 + gated, wd, wt, parts);
    tg_linear_desc d = {.name = "rows",
                        .parts = parts,
                        .n_parts = 1 + gated,
                        .layout = TG_MAT_IN_OUT,
                        .K = K,
                        .gated = gated,
                        .precision = TG_PREC_INT8};
    tg_linear *lin = NULL;
    cr_assert_eq(tg__linear_kmat_create(&lin, &d), TG_OK, "%s", tg_error_last());
    for (int32_t nt = 2; nt <= 3; nt++) {
        tg_tpool *pool;
        cr_assert_eq(tg__tpool_create(&pool, nt, 50), TG_OK);
        for (int64_t M = 3; M <= 8; M++) {
            float *x = randv((size_t)(M * K), 1.0f), *y[2];
            float *base = randv((size_t)(M * N), 1.0f);
            tg_tpool *pools[2] = {NULL, pool};
            int64_t par0, par1, solo;
            int32_t next = 0; /* threads the pool offered the pooled run: 1 once it fell back */
            for (int k = 0; k < 2; k++) {
                y[k] = malloc((size_t)(M * N) * sizeof(float));
                memcpy(y[k], base, (size_t)(M * N) * sizeof(float)); /* accumulate adds to it */
                tg_linear_cfg cfg = {M, epi, accumulate, TG_ACT_F32, pools[k]};
                tg_linear_plan *plan;
                cr_assert_eq(tg__linear_plan_create(&plan, lin, &cfg), TG_OK, "%s",
                             tg_error_last());
                void *sc = malloc(plan->scratch_size + 64);
                tg__tpool_stats(pool, &par0, &solo);
                if (k == 1)
                    next = tg__tpool_threads_next(pool);
                cr_assert_eq(tg__linear_forward(plan, lin, x, y[k], sc), TG_OK, "%s",
                             tg_error_last());
                tg__tpool_stats(pool, &par1, &solo);
                tg__linear_plan_free(plan);
                free(sc);
            }
            cr_assert(memcmp(y[0], y[1], (size_t)(M * N) * sizeof(float)) == 0,
                      "epi %d accumulate %d M %lld: %d threads differ from 1", (int)epi, accumulate,
                      (long long)M, (int)nt);
            /* A pool that has fallen back cuts the product for one thread: one chunk, run
             * inline and counted nowhere. */
            if (tg__kmat_int8_fmt() == TG_KFMT_Q8 && nt == 2 && next > 1)
                cr_assert(par1 - par0 == 1 || solo > 0, "M %lld: the pool ran no job",
                          (long long)M);
            free(y[0]);
            free(y[1]);
            free(base);
            free(x);
        }
        tg__tpool_free(pool);
    }
    tg__linear_free(lin);
    free(wd[0]);
    free(wd[1]);
}

Test(linear, int8_rows_prepared_in_parts_give_the_bits_of_one_thread)
{
    int8_rows_same_bits(TG_EPI_NONE, 0);
    int8_rows_same_bits(TG_EPI_NONE, 1);
    int8_rows_same_bits(TG_EPI_GELU_TANH, 0);
    int8_rows_same_bits(TG_EPI_SILU_GATE, 0);
}

Test(linear, prefill_on_a_fallen_back_pool_gives_the_same_bits)
{
    prefill_solo_same_bits(TG_PREC_F32, TG_EPI_NONE);
    prefill_solo_same_bits(TG_PREC_F32, TG_EPI_SILU_GATE);
    prefill_solo_same_bits(TG_PREC_BF16, TG_EPI_GELU_TANH);
}

Test(linear, kmat_equals_onednn_in_f32)
{
    seam_all(TG_PREC_F32, 2e-6);
}

Test(linear, kmat_equals_onednn_in_bf16)
{
    /* Both round the rows and weights to bf16 and accumulate in f32: only the order differs. */
    seam_all(TG_PREC_BF16, 2e-5);
}

Test(linear, kmat_int8_is_within_quantization_error_of_onednn_f32)
{
    /* Per-column int8 weights and per-row u8 activations: ~1 % relative RMS (section above). */
    seam_all(TG_PREC_INT8, 0.025);
}

Test(linear, onednn_refuses_int8_and_kmat_refuses_a_mismatched_epilogue)
{
    float *w = randv(64 * 32, 0.05f);
    char name[] = "w";
    tg_tensor t = view_of(w, 64, 32, name);
    const tg_tensor *parts[1] = {&t};
    tg_linear_desc d = {.name = "mat",
                        .parts = parts,
                        .n_parts = 1,
                        .layout = TG_MAT_IN_OUT,
                        .K = 64,
                        .precision = TG_PREC_INT8};
    tg_linear *l = NULL;
    cr_assert_eq(tg__linear_dnnl_create(&l, &d), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "mat: oneDNN runs f32 and bf16 weights only"));
    cr_assert_null(l);
    cr_assert_eq(tg__linear_kmat_create(&l, &d), TG_OK);
    tg_linear_cfg cfg = {1, TG_EPI_SILU_GATE, 0, TG_ACT_F32, NULL};
    tg_linear_plan *p = NULL;
    cr_assert_eq(tg__linear_plan_create(&p, l, &cfg), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "mat: epilogue 3"), "%s", tg_error_last());
    cr_assert_null(p);
    tg__linear_free(l);
    free(w);
}

/* A plan is made from one layer's matrix and serves the same role in every layer: run with
 * another matrix of the class, it must use that matrix (kmat rows and the oneDNN prefill path). */
Test(linear, a_plan_runs_every_matrix_of_its_class)
{
    enum { K = 64, N = 96 };
    char name[2][4] = {"a", "b"};
    float *w[2] = {randv(K * N, 0.05f), randv(K * N, 0.05f)};
    tg_tensor t[2] = {view_of(w[0], K, N, name[0]), view_of(w[1], K, N, name[1])};
    tg_linear *l[2];
    for (int i = 0; i < 2; i++) {
        const tg_tensor *parts[1] = {&t[i]};
        tg_linear_desc d = {.name = name[i],
                            .parts = parts,
                            .n_parts = 1,
                            .layout = TG_MAT_IN_OUT,
                            .K = K,
                            .precision = TG_PREC_F32};
        cr_assert_eq(tg__linear_kmat_create(&l[i], &d), TG_OK);
    }
    cr_assert(tg__linear_same_class(l[0], l[1]));
    const int64_t Ms[2] = {3, 24};
    for (int mi = 0; mi < 2; mi++) {
        const int64_t M = Ms[mi];
        float *x = randv((size_t)(M * K), 1.0f), *y0 = malloc((size_t)(M * N) * sizeof(float)),
              *y1 = malloc((size_t)(M * N) * sizeof(float));
        tg_linear_cfg cfg = {M, TG_EPI_NONE, 0, TG_ACT_F32, NULL};
        tg_linear_plan *p0, *p1;
        cr_assert_eq(tg__linear_plan_create(&p0, l[0], &cfg), TG_OK);
        cr_assert_eq(tg__linear_plan_create(&p1, l[1], &cfg), TG_OK);
        void *sc = malloc(p0->scratch_size + p1->scratch_size + 64);
        cr_assert_eq(tg__linear_forward(p0, l[1], x, y0, sc), TG_OK); /* plan of a, matrix b */
        cr_assert_eq(tg__linear_forward(p1, l[1], x, y1, sc), TG_OK);
        cr_assert(memcmp(y0, y1, (size_t)(M * N) * sizeof(float)) == 0, "M %lld", (long long)M);
        tg__linear_plan_free(p0);
        tg__linear_plan_free(p1);
        free(sc);
        free(x);
        free(y0);
        free(y1);
    }
    for (int i = 0; i < 2; i++) {
        tg__linear_free(l[i]);
        free(w[i]);
    }
}
