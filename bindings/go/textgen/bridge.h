/* bridge.h — the C half of the Go binding: wrappers that read tg_error_last() in the same C
 * call as the failure (a goroutine may move to another thread between two cgo calls, so a
 * second call could read another thread's message), and trampolines from the library's
 * callbacks into exported Go functions (cgo cannot hand Go functions to C). */
#ifndef TEXTGEN_GO_BRIDGE_H
#define TEXTGEN_GO_BRIDGE_H

#include <stdint.h>
#include <stdlib.h>
#include <textgen/textgen.h>

/* Every wrapper returns the status and, on failure, a malloc'ed copy of the message in *msg. */
tg_status tgo_model_load(tg_model **out, const char *dir, char **msg);
tg_status tgo_model_load_default(tg_model **out, char **msg);
tg_status tgo_model_info(tg_model_info *out, const tg_model *m, char **msg);
tg_status tgo_encode(int32_t **ids, size_t *n, const tg_tokenizer *t, const char *text, size_t len,
                     char **msg);
tg_status tgo_decode(char **text, size_t *len, const tg_tokenizer *t, const int32_t *ids, size_t n,
                     char **msg);

/* Generation options, built in C memory so no Go pointer is stored in them; NULL when out of
 * memory. */
typedef struct tgo_options {
    tg_generate_options o;
    char **stops;
    int32_t *stop_tokens;
} tgo_options;
tgo_options *tgo_options_new(const char *samplers, int32_t max_new_tokens, size_t n_stops,
                             size_t n_stop_tokens, double max_time_s, uint64_t seed,
                             int32_t n_threads, uint32_t flags);
/* The setters return 0 when out of memory (the options are then freed by the caller). */
int tgo_options_set_stop(tgo_options *o, size_t i, const char *s);
int tgo_options_set_beams(tgo_options *o, int32_t num_beams, int32_t num_return_sequences,
                          int32_t early_stopping, const char *beam_scorers);
void tgo_options_set_stop_token(tgo_options *o, size_t i, int32_t id);
void tgo_options_free(tgo_options *o);

/* stream != 0: on_text goes to the Go callback registered under `handle`. */
tg_status tgo_generate(tg_result **out, const tg_model *m, const char *prompt, tgo_options *o,
                       uintptr_t handle, int stream, char **msg);
tg_status tgo_generator_create(tg_generator **out, const tg_model *m, const char *prompt,
                               tgo_options *o, char **msg);
tg_status tgo_generator_next(int32_t *token, const char **text, size_t *len, int32_t *stop,
                             tg_generator *g, char **msg);
tg_status tgo_generator_result(tg_result **out, tg_generator *g, char **msg);
tg_status tgo_result_timing(tg_timing *out, const tg_result *r);

tg_status tgo_chain_parse(tg_chain **out, const char *spec, const tg_model *m, int32_t n_vocab,
                          uint64_t seed, char **msg);
tg_status tgo_chain_print(char **out, const tg_chain *c, char **msg);
tg_status tgo_chain_sample(int32_t *token, tg_chain *c, const float *logits, char **msg);
tg_status tgo_chain_accept(tg_chain *c, int32_t token, char **msg);
tg_status tgo_chain_clone(tg_chain **out, const tg_chain *c, char **msg);

tg_status tgo_candidates_keep(tg_candidates *c, const uint8_t *keep, char **msg);
tg_status tgo_candidates_softmax(tg_candidates *c, char **msg);
tg_status tgo_candidates_sort(tg_candidates *c, size_t k, char **msg);

/* A processor written in Go: its plugin's user data is the handle of its Go definition, each
 * state the handle of a Go Processor. */
typedef struct tgo_param {
    const char *name;
    uint32_t type;
    const char *default_value; /* NULL: required */
    double min, max;
    const char *doc;
} tgo_param;
tg_status tgo_register_processor(const char *name, uint32_t kind, const char *doc,
                                 const tgo_param *params, size_t n_params, uintptr_t def_handle,
                                 char **msg);

#endif
