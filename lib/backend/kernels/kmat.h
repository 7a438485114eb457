/* backend/kernels/kmat.h — weight matrices packed at load for small-M products (decode: 1 to 8
 * rows), in four formats, with kernels chosen at run time for the CPU.
 *
 * y[M][N] = x[M][K] . W[K][N] (+ bias[N]) for a weight W read once per product. Decode is
 * bound by how fast W streams from memory, so the layout serves one thing: every thread reads
 * its share of W front to back in large contiguous runs. W is cut into panels of TG_KPANEL (32)
 * output columns; a panel holds all K rows of its 32 columns, contiguous:
 *   F32   [K][32] float                              (one k-step = 128 bytes)
 *   BF16  [Kp/2][32][2] bf16, pairs of k per column  (vdpbf16ps takes k-pairs)
 *   S8    [K][32] int8, a float scale per column     (weight-only int8: x stays f32)
 *   U8S8  [Kp/4][32][4] int8, a scale per column     (vpdpbusd: x quantized per row to u8)
 *   Q8    per block of 32 k: [8][32][4] u8 = int8 + 128, then 32 f16 scales (one per column)
 *         (vpdpbusd: x quantized per row and block of 32 k to 16 bits, held as two int8
 *         planes, kmat_impl.h; llama.cpp's Q8_0 x Q8_0 keeps 8)
 * or, for f32 only, the caller's matrix used where it lies (a mapped file), no copy:
 *   F32_KN  [K][N] as Hugging Face Conv1D stores it: each k-step reads a contiguous run of the
 *           row k (up to 128 columns at M = 1), rows N floats apart
 *   F32_NK  [N][K] as nn.Linear and the tied embedding store it: dot products of whole rows,
 *           four rows side by side
 * Kp = K rounded up to the pair/quad/block size (the padding holds zeros). Columns past N in the
 * last panel are zero and never written to y. Per-column int8 scales: scale[n] =
 * max_k |W[k][n]| / 127, q = round(W / scale).
 *
 * A product may be split by panel ranges among threads ([p0, p1) of n_panels): each column's sum
 * is accumulated in k order whatever the split, so every split and thread count gives the same
 * bits. */
#ifndef TG_KERNELS_KMAT_H
#define TG_KERNELS_KMAT_H

#include <textgen/common.h>

#include <stddef.h>
#include <stdint.h>

#define TG_KPANEL 32 /* output columns per panel */
#define TG_KMAX_M 8  /* rows one kernel call keeps in registers; more rows loop over blocks */

enum tg_kfmt {
    TG_KFMT_F32 = 1,
    TG_KFMT_BF16 = 2,
    TG_KFMT_S8 = 3,     /* int8 weights, f32 activations (weight-only) */
    TG_KFMT_U8S8 = 4,   /* int8 weights, activations quantized per row to u8 (VNNI) */
    TG_KFMT_F32_KN = 5, /* f32 used in place, stored [K][N] (Conv1D): no packing */
    TG_KFMT_F32_NK = 6, /* f32 used in place, stored [N][K] (nn.Linear, tied embeddings) */
    TG_KFMT_Q8 = 7,     /* int8 weights and activations, scales per block of 32 k (VNNI) */
};
#define TG_KFMT_COUNT 8
/* Q8: k values per block (one weight scale per column, one activation scale per row) */
#define TG_KQBLK 32

typedef struct tg_kmat {
    int32_t fmt; /* enum tg_kfmt */
    int64_t K, N, Kp, n_panels;
    size_t panel_bytes;
    void *data;       /* n_panels * panel_bytes, 64-byte aligned */
    float *scale;     /* S8, U8S8: n_panels * 32 column scales (0 for padding columns) */
    int32_t *comp;    /* U8S8: 128 * sum_k q[k][n], undoes the +128 of the u8 activations */
    size_t bytes;     /* bytes a product reads from this matrix (data + scales + comp) */
    int32_t owned;    /* data allocated by tg__kmat_pack: 1 heap, 2 panel arena (0: a view) */
    size_t map_bytes; /* owned == 2: the length taken from the arena (panel_mem.h) */
    float q8_unit;    /* Q8: a block's scale is its f16 times q8_unit (a power of two that keeps
                         every f16 scale of the matrix a normal number) */
} tg_kmat;

typedef struct tg_tpool tg_tpool;

/* Pack W (K x N floats). `transposed` = 0: W is stored [K][N] (row k holds the N outputs' weights
 * of input k; Hugging Face Conv1D); 1: stored [N][K] (nn.Linear). `fmt` is an enum tg_kfmt.
 * Panels are packed in parallel on `pool` (NULL: the calling thread). Errors: TG_EINVAL (bad
 * sizes or format), TG_ENOMEM. */
tg_status tg__kmat_pack(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                        int32_t fmt, tg_tpool *pool);
/* tg__kmat_pack for a W inside a file mapping (core/fileutil.h) that nothing reads afterwards:
 * when W is [N][K], the pages of each chunk of panels' rows leave this process's memory as soon
 * as the chunk is packed, so a large matrix (GPT-2's 154 MB output layer) is never resident twice.
 */
tg_status tg__kmat_pack_mapped(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed,
                               int32_t fmt, tg_tpool *pool);
void tg__kmat_free(tg_kmat *m);

/* An f32 matrix used in place (F32_KN when transposed = 0, F32_NK when 1): nothing is copied,
 * `w` must outlive the view and stay unchanged. Work is still split in units of 32 columns
 * (n_panels). Errors: TG_EINVAL. */
tg_status tg__kmat_view_f32(tg_kmat *out, const float *w, int64_t K, int64_t N, int transposed);

/* Column n of W (K values) as f32, dequantized for int8: a tied output layer doubles as the
 * embedding table. */
void tg__kmat_read_column(const tg_kmat *m, int64_t n, float *out);

/* The int8 format the library runs: Q8 where the CPU has VNNI (integer dot products, activations
 * quantized per block of 32), else S8 (weight-only, f32 activations); S8 also when
 * $TEXTGEN_INT8=weight-only, the reference Q8 is tested against. */
int32_t tg__kmat_int8_fmt(void);

/* Bytes of the per-product activation buffer for M rows (see tg__kmat_prepare). */
size_t tg__kmat_act_bytes(const tg_kmat *m, int64_t M);

/* Convert the M rows of x (row stride ldx floats) into what the kernels read: a copy for F32
 * and S8 (x itself would do, but one layout keeps one code path), bf16 pairs for BF16, for
 * U8S8 per-row scales followed by u8 quads, for Q8 a {scale, -128 sum} per row and block followed
 * by the int8 rows. `act` has tg__kmat_act_bytes(m, M) bytes, 64-byte
 * aligned. Done once per product, before the panels are shared out. */
void tg__kmat_prepare(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act);
/* Rows [r0, r1) of tg__kmat_prepare's act for M rows: the same bytes, each row's (and for Q8 each
 * row's blocks') conversion depends on that row alone, so parts of a product's preparation can
 * run on several threads (tg__kmat_prep_parts). */
void tg__kmat_prepare_rows(const tg_kmat *m, const float *x, int64_t M, int64_t ldx, void *act,
                           int64_t r0, int64_t r1);

/* y[M][N] (row stride ldy) for the columns of panels [p0, p1): y = act . W (+ bias when non-NULL).
 * Any M >= 1 (row blocks of TG_KMAX_M). */
void tg__kmat_mul(const tg_kmat *m, const void *act, int64_t M, const float *bias, float *y,
                  int64_t ldy, int64_t p0, int64_t p1);

/* Chunks of panels a product of M rows should be cut into on `threads` threads (the pool's
 * tg__tpool_run; 1 for 1 thread). Where the weights stream from memory, the pool's choice
 * (tg__tpool_chunks_for: 8 a thread, so a descheduled thread holds back little). Where the VNNI
 * unit bounds the product (Q8 from 3 to TG_KMAX_M rows), 2 a thread: a chunk's time is then
 * predictable, so few chunks balance, and the tiles' prefetch of the next panel stays inside
 * a chunk, so every chunk's first panel waits for memory (at 16 chunks the 24-panel products
 * had 1 or 2 panels a chunk: they barely gained from a second thread). Any cut gives the same
 * bits. */
int64_t tg__kmat_chunks(const tg_kmat *m, int64_t M, int32_t threads);

/* Parts a product's activation preparation is shared into on `threads` threads: 1 (the caller
 * prepares before the job) where the weights stream from memory, and where the VNNI unit bounds
 * the product (as in tg__kmat_chunks) one part a thread, rows split evenly (part i: rows
 * [M i / parts, M (i + 1) / parts)), run as the job's first chunks: the caller alone took
 * 7-25 us of a 2-thread 8-row product while the other thread waited (0.3-0.6 ms of a ~9.4 ms
 * step, docs/performance.md "int8 at 2 threads"), and the job reaches the workers at once. */
int64_t tg__kmat_prep_parts(const tg_kmat *m, int64_t M, int32_t threads);

/* Which kernels run: the best the CPU supports (the default; $TEXTGEN_KERNELS = portable, avx2,
 * avx512 or avx512-bf16-vnni caps it: the matrix products run as on a CPU without AVX-512, say),
 * or a lower level, for tests and benchmarks. Levels: 0 portable C, 1 AVX2 + FMA (f32, bf16, S8), 2
 * AVX-512F (+BW, VL, DQ), 3 AVX-512 with BF16 and VNNI where the CPU has them. Returns the level
 * now in force (never above what the CPU has). */
enum { TG_KISA_PORTABLE = 0, TG_KISA_AVX2 = 1, TG_KISA_AVX512 = 2, TG_KISA_AVX512_BF16_VNNI = 3 };
int32_t tg__kmat_set_isa(int32_t max_level);
int32_t tg__kmat_isa(void);
/* A name of the kernel a format uses at the current level, e.g. "avx512bf16". */
const char *tg__kmat_kernel_name(int32_t fmt);

/* Tuning (benchmarks): concurrent streams each thread reads its panels as (1, 2 or 4; fewer
 * when M leaves too few registers), and a software prefetch distance in bytes (0 = none, -1 =
 * each format's default: 256 for f32, none for the others). */
void tg__kmat_set_tuning(int32_t streams, int32_t prefetch_bytes);

#endif
