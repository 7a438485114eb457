/* backend/decode_prof.h — internal: where a decoded token's time goes, stage by stage.
 *
 * Off unless $TEXTGEN_DECODE_PROFILE is set (to a file path, or "-" for stderr): then every
 * decode step — a forward pass whose rows are each the next token of a different sequence: one
 * row for a decoded token, M rows for M sequences decoded together; prompts are not counted —
 * reads the wall clock and the calling thread's CPU clock at the end of each stage, and when the
 * session is freed the totals are written as one table per row count (fewest rows first): per
 * stage, calls, ms per step (wall, the caller's CPU and the process's CPU: the pool's workers
 * too), share of the forward pass, and for the weight products the GB/s they streamed. A benchmark
 * switch, not an API: what it costs when on (three clock reads per stage, ~110 stages a token) is
 * printed with the table; when off, a NULL test per stage. A file that cannot be written is a
 * warning in the log (tg_log_set), not an error. */
#ifndef TG_BACKEND_DECODE_PROF_H
#define TG_BACKEND_DECODE_PROF_H

#include <stddef.h>
#include <stdint.h>

enum tg_dprof_stage {
    TG_DP_EMBED,     /* token + position embeddings */
    TG_DP_ATTN_NORM, /* norm before attention */
    TG_DP_QKV,       /* q, k, v product */
    TG_DP_ROPE,      /* rotary embeddings (RoPE models) */
    TG_DP_ATTN,      /* K/V into the cache, attention over it */
    TG_DP_ATTN_ACT,  /* attention output into the next product's input type */
    TG_DP_ATTN_OUT,  /* output projection + residual */
    TG_DP_FFN_NORM,  /* norm before the MLP */
    TG_DP_FFN_UP,    /* up (+ gate) product + activation */
    TG_DP_FFN_DOWN,  /* down product + residual */
    TG_DP_OUT_NORM,  /* final norm (and the gather of rows that want logits) */
    TG_DP_OUTPUT,    /* output layer: the logits */
    TG_DP_COUNT
};

typedef struct tg_dprof tg_dprof;

/* Row counts kept apart; steps of further row counts are not recorded. */
#define TG_DPROF_ROW_COUNTS 8

/* NULL when the switch is off (or out of memory: profiling is never an error). */
tg_dprof *tg__dprof_create(void);
/* Writes the table (if any token was profiled) and frees. */
void tg__dprof_free(tg_dprof *p);
/* Weight bytes one call of a product stage streams (per layer for block stages), for GB/s. */
void tg__dprof_set_bytes(tg_dprof *p, int stage, size_t bytes);
/* What the session's thread pool did over its life (prompts included), printed with the tables:
 * jobs shared out / run on the caller alone, and the policy's stalls and busy windows. */
void tg__dprof_set_pool(tg_dprof *p, int64_t parallel, int64_t solo, int64_t stalls,
                        int64_t busy_windows);
/* A forward pass of M rows begins / ends: only decode steps (every row another sequence's) are
 * recorded, each row count in its own table. */
void tg__dprof_begin(tg_dprof *p, size_t M, int decode_step);
void tg__dprof_end(tg_dprof *p);
/* `stage` ended now (it began where the last mark, or begin, was). */
void tg__dprof_mark(tg_dprof *p, int stage);

#endif
