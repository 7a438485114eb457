/* bridge.c — see bridge.h. */
#include "bridge.h"
#include "_cgo_export.h"

#include <string.h>

static tg_status fail(tg_status st, char **msg)
{
    if (st != TG_OK && msg)
        *msg = strdup(tg_error_last());
    return st;
}

tg_status tgo_model_load(tg_model **out, const char *dir, char **msg)
{
    return fail(tg_model_load(out, dir, NULL), msg);
}

tg_status tgo_model_load_default(tg_model **out, char **msg)
{
    return fail(tg_model_load_default(out, NULL), msg);
}

tg_status tgo_model_info(tg_model_info *out, const tg_model *m, char **msg)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_status st = tg_model_get_info(&info, m);
    *out = info;
    return fail(st, msg);
}

tg_status tgo_encode(int32_t **ids, size_t *n, const tg_tokenizer *t, const char *text, size_t len,
                     char **msg)
{
    return fail(tg_tokenizer_encode(ids, n, t, text, len, 0), msg);
}

tg_status tgo_decode(char **text, size_t *len, const tg_tokenizer *t, const int32_t *ids, size_t n,
                     char **msg)
{
    return fail(tg_tokenizer_decode(text, len, t, ids, n, 0), msg);
}

tgo_options *tgo_options_new(const char *samplers, int32_t max_new_tokens, size_t n_stops,
                             size_t n_stop_tokens, double max_time_s, uint64_t seed,
                             int32_t n_threads, uint32_t flags)
{
    tgo_options *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    tg_generate_options_init(&o->o, sizeof o->o);
    o->o.samplers = samplers ? strdup(samplers) : NULL;
    o->o.max_new_tokens = max_new_tokens;
    o->stops = calloc(n_stops + 1, sizeof *o->stops);
    o->stop_tokens = calloc(n_stop_tokens + 1, sizeof *o->stop_tokens);
    if ((samplers && !o->o.samplers) || !o->stops || !o->stop_tokens) {
        tgo_options_free(o); /* n_stop_strings is still 0: frees only what exists */
        return NULL;
    }
    o->o.stop_strings = n_stops ? (const char *const *)o->stops : NULL;
    o->o.n_stop_strings = n_stops;
    o->o.stop_tokens = n_stop_tokens ? o->stop_tokens : NULL;
    o->o.n_stop_tokens = n_stop_tokens;
    o->o.max_time_s = max_time_s;
    o->o.seed = seed;
    o->o.n_threads = n_threads;
    o->o.flags = flags;
    return o;
}

int tgo_options_set_stop(tgo_options *o, size_t i, const char *s)
{
    o->stops[i] = strdup(s);
    return o->stops[i] != NULL;
}

int tgo_options_set_beams(tgo_options *o, int32_t num_beams, int32_t num_return_sequences,
                          int32_t early_stopping, const char *beam_scorers)
{
    o->o.num_beams = num_beams;
    o->o.num_return_sequences = num_return_sequences;
    o->o.early_stopping = early_stopping;
    o->o.beam_scorers = beam_scorers ? strdup(beam_scorers) : NULL;
    return !beam_scorers || o->o.beam_scorers;
}

void tgo_options_set_stop_token(tgo_options *o, size_t i, int32_t id)
{
    o->stop_tokens[i] = id;
}

void tgo_options_free(tgo_options *o)
{
    if (!o)
        return;
    free((char *)o->o.samplers);
    free((char *)o->o.beam_scorers);
    for (size_t i = 0; o->stops && i < o->o.n_stop_strings; i++)
        free(o->stops[i]);
    free(o->stops);
    free(o->stop_tokens);
    free(o);
}

static int32_t stream_trampoline(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                                 void *user)
{
    return goStream((uintptr_t)user, (char *)text, len, (int32_t *)ids, n_ids);
}

tg_status tgo_generate(tg_result **out, const tg_model *m, const char *prompt, tgo_options *o,
                       uintptr_t handle, int stream, char **msg)
{
    tg_generate_options opts = o->o;
    if (stream) {
        opts.on_text = stream_trampoline;
        opts.user_data = (void *)handle;
    }
    return fail(tg_generate(out, m, prompt, &opts), msg);
}

tg_status tgo_generator_create(tg_generator **out, const tg_model *m, const char *prompt,
                               tgo_options *o, char **msg)
{
    return fail(tg_generator_create(out, m, prompt, &o->o), msg);
}

tg_status tgo_generator_next(int32_t *token, const char **text, size_t *len, int32_t *stop,
                             tg_generator *g, char **msg)
{
    return fail(tg_generator_next(token, text, len, stop, g), msg);
}

tg_status tgo_generator_result(tg_result **out, tg_generator *g, char **msg)
{
    return fail(tg_generator_result(out, g), msg);
}

tg_status tgo_result_timing(tg_timing *out, const tg_result *r)
{
    tg_timing t = TG_TIMING_INIT;
    tg_status st = tg_result_timing(&t, r);
    *out = t;
    return st;
}

tg_status tgo_chain_parse(tg_chain **out, const char *spec, const tg_model *m, int32_t n_vocab,
                          uint64_t seed, char **msg)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.model = m;
    o.n_vocab = n_vocab;
    o.seed = seed;
    return fail(tg_chain_parse(out, spec, &o), msg);
}

tg_status tgo_chain_print(char **out, const tg_chain *c, char **msg)
{
    return fail(tg_chain_print(out, c), msg);
}

tg_status tgo_chain_sample(int32_t *token, tg_chain *c, const float *logits, char **msg)
{
    return fail(tg_chain_sample(token, NULL, c, logits), msg);
}

tg_status tgo_chain_accept(tg_chain *c, int32_t token, char **msg)
{
    return fail(tg_chain_accept(c, token), msg);
}

tg_status tgo_chain_clone(tg_chain **out, const tg_chain *c, char **msg)
{
    return fail(tg_chain_clone(out, c), msg);
}

tg_status tgo_candidates_keep(tg_candidates *c, const uint8_t *keep, char **msg)
{
    return fail(tg_candidates_keep(c, keep), msg);
}

tg_status tgo_candidates_softmax(tg_candidates *c, char **msg)
{
    return fail(tg_candidates_softmax(c), msg);
}

tg_status tgo_candidates_sort(tg_candidates *c, size_t k, char **msg)
{
    return fail(tg_candidates_sort(c, k), msg);
}

/* ---- processors written in Go ---- */

static tg_status proc_create(void **out, const tg_param_value *values, const tg_proc_context *ctx)
{
    uintptr_t state = 0;
    tg_status st =
        goProcCreate((uintptr_t)ctx->user_data, (tg_param_value *)values, ctx->n_vocab, &state);
    *out = (void *)state;
    return st;
}

static tg_status proc_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    return goProcApply((uintptr_t)state, c, (tg_step_info *)step);
}

static tg_status proc_accept(void *state, int32_t token, const tg_step_info *step)
{
    return goProcAccept((uintptr_t)state, token, (tg_step_info *)step);
}

static void proc_reset(void *state)
{
    goProcReset((uintptr_t)state);
}

static tg_status proc_clone(void **out, const void *state)
{
    uintptr_t copy = 0;
    tg_status st = goProcClone((uintptr_t)state, &copy);
    *out = (void *)copy;
    return st;
}

static void proc_destroy(void *state)
{
    goProcDestroy((uintptr_t)state);
}

tg_status tgo_register_processor(const char *name, uint32_t kind, const char *doc,
                                 const tgo_param *params, size_t n_params, uintptr_t def_handle,
                                 char **msg)
{
    tg_param_spec *specs = calloc(n_params + 1, sizeof *specs);
    if (!specs)
        return fail(tg_plugin_set_error(TG_ENOMEM, "out of memory"), msg);
    for (size_t i = 0; i < n_params; i++)
        specs[i] = (tg_param_spec){params[i].name, params[i].type, params[i].default_value,
                                   params[i].min,  params[i].max,  params[i].doc};
    tg_processor_vtable vt = {TG_PROCESSOR_VTABLE_SIZE,
                              name,
                              kind,
                              doc,
                              n_params ? specs : NULL,
                              n_params,
                              proc_create,
                              proc_apply,
                              proc_accept,
                              proc_reset,
                              proc_clone,
                              proc_destroy,
                              NULL,
                              NULL,
                              NULL,
                              {NULL, NULL, NULL, NULL}};
    const tg_processor_vtable *list[] = {&vt};
    tg_plugin_desc desc = {
        TG_PLUGIN_ABI_VERSION,   sizeof desc, name, tg_version_string(), "MIT", doc, list, 1,
        {NULL, NULL, NULL, NULL}};
    /* the library copies every struct and string */
    tg_status st = tg_plugin_register(&desc, (void *)def_handle);
    free(specs);
    return fail(st, msg);
}
