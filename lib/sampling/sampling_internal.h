/* sampling/sampling_internal.h — internal: registry lookups, parameter parsing and printing
 * shared by the registry (schema checks), the spec parser and the chain. */
#ifndef TG_SAMPLING_INTERNAL_H
#define TG_SAMPLING_INTERNAL_H

#include <glib.h>
#include <textgen/sampler.h>

/* ---- registry ---- */

/* Find a processor by name, scanning the search path first if it is not known yet. Returns
 * NULL when unknown; then *known (if non-NULL) gets a newly allocated ", "-joined list of the
 * known names (g_free). *user_data_out (if non-NULL) gets the user data its plugin was
 * registered with (NULL for plugin files). */
const tg_processor_vtable *tg__registry_lookup(const char *name, void **user_data_out,
                                               char **known);

/* Refuse (TG_EPLUGIN, naming `path`) a descriptor whose counts or pointers would make the
 * registry read unreadable memory (plugin_probe.c); TG_OK when every byte the registry's checks
 * read is readable. */
tg_status tg__plugin_probe(const char *path, const tg_plugin_desc *d);

/* ---- parameters ---- */

/* A parsed value plus the storage it points into. */
typedef struct tg_param_slot {
    tg_param_value value;
    char *text;       /* canonical text, as printed back */
    char *string;     /* STRING / IDS: owned copy of the text */
    int32_t *ids;     /* IDS */
    size_t *seq_ends; /* IDS */
} tg_param_slot;

/* Parse `text` for parameter `spec` into `slot` (which must be zeroed or cleared). On failure
 * writes a reason ("must be a number", "is out of range [0, 1]") to `why` and returns
 * TG_ESPEC without touching slot. */
tg_status tg__param_parse(tg_param_slot *slot, const tg_param_spec *spec, const char *text,
                          char *why, size_t why_len);
void tg__param_clear(tg_param_slot *slot);
tg_status tg__param_copy(tg_param_slot *dst, const tg_param_slot *src);

/* Text of a value for printing a spec: numbers as round-trip decimals, strings quoted when they
 * contain anything but [A-Za-z0-9_.+-]. Appends to `out`. */
void tg__param_print(GString *out, const tg_param_spec *spec, const tg_param_slot *slot);

const char *tg__param_type_name(uint32_t type);
const char *tg__proc_kind_name(uint32_t kind);
int tg__is_identifier(const char *s);

/* ---- chain internals used by the spec parser and the file loader ---- */

typedef struct tg_kv {
    char *key;
    char *value;
    size_t pos; /* byte offset in the spec where the key starts (for messages) */
} tg_kv;

/* Append a stage from already-split key/value pairs. `where` prefixes error messages
 * ("spec position 12", "chain.ini [stage top_k]"). */
tg_status tg__chain_add_kv(tg_chain *chain, const char *name, const tg_kv *kvs, size_t n_kvs,
                           const char *where);

/* Parse "k=40, min_keep=1" into pairs (g_free keys/values with tg__kv_free). */
tg_status tg__split_params(tg_kv **out, size_t *n_out, const char *text, size_t base_pos,
                           const char *spec_for_msgs);
void tg__kv_free(tg_kv *kvs, size_t n);

/* ---- beam search (lib/search) ---- */

/* Run the chain's stages except the selector and stop criteria on `logprobs` (n_vocab values),
 * with the chain's history; *out is the chain's candidates (borrowed until the next call). */
tg_status tg__chain_process(const tg_candidates **out, tg_chain *chain, const float *logprobs);

/* Let the chain's selector draw up to `k` entries of `cands` without replacement: draw j runs
 * the selector on the entries not drawn yet, with step info (sequence j, step `step`), so each
 * draw has its own randomness key. The drawn entries end up first, in draw order; *n_picked of
 * them (fewer than k only when `cands` runs out). The selector must not learn from tokens. */
tg_status tg__chain_select_k(size_t *n_picked, tg_chain *chain, tg_candidates *cands, size_t k,
                             int32_t step);

/* Make `dst` (a clone of the same chain) hold `src`'s history, step and learned states. */
tg_status tg__chain_copy_state(tg_chain *dst, const tg_chain *src);

/* Log-probability of the token the last tg_chain_sample() chose (also during its trace). */
float tg__chain_last_logprob(const tg_chain *chain);

/* The stages and their states (for beam scorers). */
size_t tg__chain_n_stages(const tg_chain *chain);
void tg__chain_stage_at(const tg_processor_vtable **vt, void **state, const tg_chain *chain,
                        size_t index);

/* A set of beam scorers written like a chain spec ("diverse_groups(groups=2) length_penalty"):
 * only TG_PROC_BEAM_SCORER stages, no selector. */
tg_status tg__chain_parse_scorers(tg_chain **out, const char *spec, const tg_chain_options *opts);
void tg__chain_set_scorers_only(tg_chain *chain);

/* log(sum of e^x[i]) over x[0..n), n >= 1 (logsumexp.c): the normaliser of a log-softmax.
 * -inf entries count as nothing; when no entry is finite, the largest one (-inf) is returned. */
double tg__log_sum_exp(const float *x, size_t n);

#endif
