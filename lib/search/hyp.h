/* search/hyp.h — internal: one hypothesis of a generation, the unit greedy, sampled and beam
 * generation all run on: the tokens it generated and what each added to its score, its sampling
 * state (a chain: history and stage states), its text (streaming detokenizer, the decided text,
 * the held-back tail that could start a stop string) and why it ended. tg__hyp_push() is the one
 * place that decides whether a token ends a hypothesis. */
#ifndef TG_SEARCH_HYP_H
#define TG_SEARCH_HYP_H

#include <glib.h>
#include <textgen/generate.h>
#include <textgen/sampler.h>
#include <textgen/tokenizer.h>

/* What ends a hypothesis, shared by all hypotheses of a generation. */
typedef struct tg_stop_rules {
    char **stops; /* stop strings */
    size_t n_stops;
    const int32_t *end_ids; /* the model's end ids (reason EOS); none with TG_GEN_IGNORE_EOS */
    size_t n_end;
    const int32_t *stop_ids; /* the caller's stop tokens (reason TOKEN) */
    size_t n_stop_ids;
    int32_t max_new; /* most tokens to generate; -1: no limit but the context */
    int32_t room;    /* most tokens the context leaves after the prompt */
    const tg_tokenizer *tok;
} tg_stop_rules;

typedef struct tg_hyp {
    tg_chain *chain;  /* history (prompt + tokens) and the stages' learned states */
    GArray *tokens;   /* int32_t: generated tokens */
    GArray *logprobs; /* float: what each token added to `sum` */
    double sum;       /* running score */
    double score;     /* final score, once finished (beam search) */
    tg_detokenizer *detok;
    size_t clean_from; /* the detokenizer held nothing after tokens[0, clean_from) */
    GString *text;     /* decided text: what the stream may show */
    GString *pending;  /* decoded but held back: it could start a stop string */
    int32_t stop;      /* TG_STOP_* once ended */
    int32_t seq;       /* its sequence in the session (live beams) */
    size_t row;        /* row of the last decode holding its next logits */
} tg_hyp;

/* A hypothesis at the start of generation: a clone of `chain` (which holds the prompt). */
tg_status tg__hyp_new(tg_hyp **out, const tg_chain *chain, const tg_tokenizer *tok);
/* The same, taking ownership of `chain` instead of cloning it (even on failure): one sequence
 * needs no copy, and a chain whose stages cannot clone (processors written in other languages
 * may not) still generates. */
tg_status tg__hyp_adopt(tg_hyp **out, tg_chain *chain, const tg_tokenizer *tok);
void tg__hyp_free(tg_hyp *h);

/* Make `dst` (made from the same chain) an exact copy of `src`. */
tg_status tg__hyp_assign(tg_hyp *dst, const tg_hyp *src);

/* Append `token`, which adds `score` to the running score (its log-probability): every chain
 * stage learns it, then the rules decide whether it ends the hypothesis (end id, stop token, stop
 * string, a stop criterion of the chain, max_new_tokens, the context). Text that became decided
 * is appended to `released` (may be NULL). */
tg_status tg__hyp_push(tg_hyp *h, const tg_stop_rules *rules, int32_t token, float score,
                       GString *released);

/* End the hypothesis for `reason` (time limit, callback, ...) unless it has ended: held-back text
 * is decided then (appended to `released`, which may be NULL). */
void tg__hyp_end(tg_hyp *h, const tg_stop_rules *rules, int32_t reason, GString *released);

#endif
