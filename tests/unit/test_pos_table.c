/* The learned-position table at the weights' precision (lib/backend/pos_table.c), white-box:
 * every row of the int8 (blocks of 32 with a scale) and bf16 tables against the f32 source within
 * the format's bound, the f32 table bit for bit, odd sizes (a part block), the last row. */
#include "pos_table.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/common.h>

/* Deterministic values of mixed magnitude: some blocks with an outlier, one all-zero row. */
static float *make_rows(int64_t R, int64_t C)
{
    float *v = malloc((size_t)(R * C) * sizeof *v);
    uint32_t s = 12345;
    for (int64_t i = 0; i < R * C; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) / 16777216.0f - 0.5f; /* [-0.5, 0.5) */
        v[i] = i % 97 == 13 ? u * 40.0f : u * 0.3f;
    }
    memset(v + 2 * C, 0, (size_t)C * sizeof *v); /* row 2: zeros */
    return v;
}

static tg_tensor view(float *data, int64_t R, int64_t C)
{
    tg_tensor t = {.name = "wpe.weight",
                   .dtype = TG_DT_F32,
                   .ndim = 2,
                   .shape = {R, C},
                   .numel = R * C,
                   .data = data,
                   .nbytes = (size_t)(R * C) * sizeof(float)};
    return t;
}

/* Row r added onto a base of 1.0 + k (the table adds, it does not overwrite). */
static void row_of(const tg_pos_table *t, int64_t r, float *out)
{
    for (int64_t k = 0; k < t->cols; k++)
        out[k] = 1.0f + (float)k;
    tg__pos_table_add(t, r, out);
    for (int64_t k = 0; k < t->cols; k++)
        out[k] -= 1.0f + (float)k;
}

Test(pos_table, the_format_follows_the_weights_precision)
{
    cr_assert_eq(tg__pos_fmt_for(TG_PREC_F32), TG_POS_FMT_F32);
    cr_assert_eq(tg__pos_fmt_for(TG_PREC_BF16), TG_POS_FMT_BF16);
    cr_assert_eq(tg__pos_fmt_for(TG_PREC_INT8), TG_POS_FMT_Q8);
}

Test(pos_table, int8_rows_are_within_half_a_block_scale_of_f32)
{
    static const int64_t shapes[][2] = {{9, 77}, {1024, 768}, {3, 32}, {4, 5}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        const int64_t R = shapes[c][0], C = shapes[c][1];
        float *src = make_rows(R, C), *got = malloc((size_t)C * sizeof *got);
        tg_tensor t = view(src, R, C);
        tg_pos_table pt;
        cr_assert_eq(tg__pos_table_init(&pt, &t, TG_POS_FMT_Q8), TG_OK);
        const size_t nb = (size_t)(C + 31) / 32;
        cr_assert_eq(tg__pos_table_bytes(&pt), (size_t)R * ((nb * 4 + (size_t)C + 3) & ~3u));
        size_t exact = 0;
        for (int64_t r = 0; r < R; r++) { /* every row: odd ones, the last one */
            row_of(&pt, r, got);
            for (int64_t b0 = 0; b0 < C; b0 += 32) {
                const int64_t n = C - b0 < 32 ? C - b0 : 32;
                float amax = 0;
                for (int64_t k = b0; k < b0 + n; k++)
                    amax = fmaxf(amax, fabsf(src[r * C + k]));
                /* the bound of rounding to the nearest of 255 steps of amax / 127, plus the
                 * f32 rounding of 1 + k + value - (1 + k) (k < 768: an ulp of 1024) */
                const float bound = amax / 254.0f * 1.0001f + 1.3e-4f;
                for (int64_t k = b0; k < b0 + n; k++) {
                    const float e = fabsf(got[k] - src[r * C + k]);
                    cr_assert_leq(e, bound, "%lldx%lld row %lld col %lld: %g vs %g", (long long)R,
                                  (long long)C, (long long)r, (long long)k, got[k], src[r * C + k]);
                    exact += got[k] == src[r * C + k];
                }
            }
        }
        if (R > 2) { /* the zero row stays exactly zero */
            row_of(&pt, 2, got);
            for (int64_t k = 0; k < C; k++)
                cr_assert_eq(got[k], 0.0f);
        }
        cr_assert_lt(exact, (size_t)(R * C), "nothing was quantized");
        tg__pos_table_clear(&pt);
        cr_assert_null(pt.data);
        free(got);
        free(src);
    }
}

Test(pos_table, int8_blocks_keep_their_own_scale)
{
    /* The value of largest magnitude in a block is +-127 steps: it comes back exactly (up to the
     * scale's f32 rounding); a second block of other magnitude keeps its own scale. */
    const int64_t C = 64;
    float src[64], got[64];
    for (int k = 0; k < 32; k++)
        src[k] = 0.001f * (float)(k - 16);
    for (int k = 32; k < 64; k++)
        src[k] = 100.0f * (float)(k - 48);
    tg_tensor t = view(src, 1, C);
    tg_pos_table pt;
    cr_assert_eq(tg__pos_table_init(&pt, &t, TG_POS_FMT_Q8), TG_OK);
    memset(got, 0, sizeof got);
    tg__pos_table_add(&pt, 0, got);
    cr_assert_float_eq(got[0], src[0], 1e-9f);   /* -0.016: block 0's absmax */
    cr_assert_float_eq(got[32], src[32], 2e-3f); /* -1600: block 1's absmax */
    cr_assert_float_eq(got[63], src[63], 1600.0f / 254.0f * 1.0001f);
    cr_assert_float_eq(got[17], src[17], 0.016f / 254.0f * 1.0001f);
    tg__pos_table_clear(&pt);
}

Test(pos_table, bf16_rows_round_to_nearest_and_f32_rows_are_exact)
{
    const int64_t R = 7, C = 45;
    float *src = make_rows(R, C), got[45];
    tg_tensor t = view(src, R, C);
    tg_pos_table b, f;
    cr_assert_eq(tg__pos_table_init(&b, &t, TG_POS_FMT_BF16), TG_OK);
    cr_assert_eq(tg__pos_table_init(&f, &t, TG_POS_FMT_F32), TG_OK);
    cr_assert_eq(tg__pos_table_bytes(&b), (size_t)R * 92);
    cr_assert_eq(tg__pos_table_bytes(&f), (size_t)(R * C) * 4);
    for (int64_t r = R - 1; r >= 0; r -= 2) {
        memset(got, 0, sizeof got);
        tg__pos_table_add(&b, r, got);
        for (int64_t k = 0; k < C; k++) {
            uint16_t h;
            tg__f32_to_bf16(&h, &src[r * C + k], 1);
            cr_assert_eq(got[k], tg__bf16_to_f32(h), "row %lld col %lld", (long long)r,
                         (long long)k);
            cr_assert_leq(fabsf(got[k] - src[r * C + k]), fabsf(src[r * C + k]) / 256.0f);
        }
        memset(got, 0, sizeof got);
        tg__pos_table_add(&f, r, got);
        cr_assert(memcmp(got, src + r * C, sizeof got) == 0, "f32 row %lld", (long long)r);
    }
    tg__pos_table_clear(&b);
    tg__pos_table_clear(&f);
    free(src);
}

Test(pos_table, a_table_that_is_not_a_matrix_is_refused_by_name)
{
    float v[4] = {0};
    tg_tensor t = view(v, 1, 4);
    t.ndim = 1;
    tg_pos_table pt;
    cr_assert_eq(tg__pos_table_init(&pt, &t, TG_POS_FMT_Q8), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "'wpe.weight'"), "%s", tg_error_last());
    cr_assert_null(pt.data);
}
