/* model_writer.h — what the bench model makers share: a tensor list with random initial values
 * written as config.json + model.safetensors (8-byte little-endian header length, JSON header
 * padded with spaces to a multiple of 8, then the tensors back to back). Plain C and POSIX. */
#ifndef TG_BENCH_MODEL_WRITER_H
#define TG_BENCH_MODEL_WRITER_H

#include <stddef.h>
#include <stdint.h>

enum { MW_NORMAL, MW_ONE, MW_ZERO }; /* N(0, 0.02), 1, 0 */

typedef struct mw_tensor {
    char name[96];
    int ndim;
    int64_t shape[2];
    int init;
} mw_tensor;

typedef struct mw_model {
    const char *prog; /* for error messages */
    mw_tensor *t;
    size_t n, cap;
} mw_model;

/* Seed the xorshift64 generator (the default seed is used when never called). */
void mw_seed(uint64_t seed);
void mw_add1(mw_model *m, const char *name, int64_t n, int init);
void mw_add2(mw_model *m, const char *name, int64_t rows, int64_t cols); /* MW_NORMAL */
/* Write DIR/config.json (the text given) and DIR/model.safetensors (F32 or BF16, through a
 * temporary name). Exits with a message on failure. Prints a summary line. */
void mw_write(const mw_model *m, const char *dir, int bf16, const char *config_json);

#endif
