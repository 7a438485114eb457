/* backend/pos_table.h — internal: the learned-position table (GPT-2's wpe) kept at the model's
 * weight precision, one row expanded to f32 per token. f32 weights keep an exact f32 table
 * (PyTorch parity), bf16 weights a bf16 one, int8 weights int8 blocks of 32 values with an f32
 * scale each (absmax / 127, as the Q8 matrices): int8's 1024 x 768 table is 0.88 MB instead of
 * 3.15 MB. A row's error is at most half a block's scale per value (bf16: 2^-9 relative). */
#ifndef TG_BACKEND_POS_TABLE_H
#define TG_BACKEND_POS_TABLE_H

#include "linear.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

#define TG_POS_Q8_BLOCK 32

typedef enum tg_pos_fmt { TG_POS_FMT_F32 = 0, TG_POS_FMT_BF16 = 1, TG_POS_FMT_Q8 = 2 } tg_pos_fmt;

typedef struct tg_pos_table {
    tg_pos_fmt fmt;
    int64_t rows, cols;
    size_t row_bytes; /* Q8: cols / 32 rounded up f32 scales, then cols int8, padded to 4 bytes */
    uint8_t *data;    /* rows * row_bytes */
} tg_pos_table;

/* The format that weights of `precision` keep their position table in (the one policy). */
tg_pos_fmt tg__pos_fmt_for(tg_precision precision);

/* Fill `t` from the [rows, cols] tensor `src` (any dtype), converting one row at a time. */
tg_status tg__pos_table_init(tg_pos_table *t, const tg_tensor *src, tg_pos_fmt fmt);
void tg__pos_table_clear(tg_pos_table *t);

/* x[k] += row `pos`[k] for k < cols (pos < rows: the caller keeps positions in range). */
void tg__pos_table_add(const tg_pos_table *t, int64_t pos, float *x);

/* Bytes the table holds (its resident memory). */
size_t tg__pos_table_bytes(const tg_pos_table *t);

#endif
