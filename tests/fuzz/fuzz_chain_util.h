/* fuzz_chain_util.h — the chain targets' shared model and the checks every valid chain must
 * pass. */
#ifndef TG_FUZZ_CHAIN_UTIL_H
#define TG_FUZZ_CHAIN_UTIL_H

#include <textgen/textgen.h>

/* The char_tiny test model (loaded once; its tokenizer and end ids feed dry, min_new_tokens...). */
const tg_model *fzc_model(void);

/* Chain options on fzc_model() with a fixed seed. */
void fzc_options(tg_chain_options *opts);

/* Logits of step `step` (deterministic, n_vocab of them; some ties, one -inf). */
const float *fzc_logits(int step);

/* Aborts unless the complete chain `c`: prints to a spec that parses back to the same text; runs
 * up to four steps whose tokens lie in the vocabulary with a log-probability that is a number
 * <= 0 (a failing step must say why); and a clone and a save/restore copy made midway both
 * choose the next token as the chain does. */
void fzc_exercise(tg_chain *c);

#endif
