/* model/generation_config.h — internal: defaults from a model folder's generation_config.json,
 * turned into a sampler-chain spec and beam search options (Hugging Face semantics). */
#ifndef TG_MODEL_GENERATION_CONFIG_H
#define TG_MODEL_GENERATION_CONFIG_H

#include <textgen/common.h>

typedef struct tg_gen_defaults {
    char *spec;             /* chain spec; NULL when the file is absent */
    int32_t max_new_tokens; /* 0 when not given */
    int32_t *eos_ids;       /* extra end ids from the file */
    size_t n_eos;
    /* Beam search: num_beams, num_return_sequences, early_stopping (TG_EARLY_STOP_*), and the
     * beam scorer spec that length_penalty, num_beam_groups and diversity_penalty make
     * ("diverse_groups(groups=2, penalty=0.5) length_penalty(alpha=2)"); 0 / NULL when the file
     * does not give them. */
    int32_t num_beams;
    int32_t num_return_sequences;
    int32_t early_stopping;
    char *beam_scorers;
} tg_gen_defaults;

/* Read `dir`/generation_config.json if it exists (absent = all zero, not an error). Errors name
 * the file and the field. */
tg_status tg__gen_defaults_load(tg_gen_defaults *out, const char *dir, int32_t n_vocab);
void tg__gen_defaults_clear(tg_gen_defaults *d);

#endif
