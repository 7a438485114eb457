/* search/result.h — internal: building a tg_result from finished hypotheses. */
#ifndef TG_SEARCH_RESULT_H
#define TG_SEARCH_RESULT_H

#include "hyp.h"

/* A result with room for `n_seqs` sequences, the prompt copied in. */
tg_status tg__result_new(tg_result **out, size_t n_seqs, const int32_t *prompt, size_t n_prompt);

/* Fill sequence `index` from a hypothesis, with its score and stop reason. */
tg_status tg__result_set(tg_result *r, size_t index, const tg_hyp *h, double score);

/* The search that ran: its beams (1: none) and its beam scorer spec (NULL without beams; the
 * result takes it, malloc'ed). */
void tg__result_set_search(tg_result *r, int32_t n_beams, char *beam_scorers);

/* Why generation ended, and its timing. */
void tg__result_finish(tg_result *r, int32_t stop, const tg_timing *timing);

#endif
