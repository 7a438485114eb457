/* search/generate.c — the generation loop: tokenize, prefill once, then step until the end,
 * streaming text that is always valid UTF-8 and never the start of a stop string that might still
 * complete. One loop for every kind of generation: a step either extends the one hypothesis
 * (greedy or sampled, through the chain's selector) or runs one step of beam search (beam.c); both
 * work on the same hypothesis unit (hyp.c), which owns stops, hold-back and detokenizing. */
#include "core/alloc.h"
#include "beam.h"
#include "core/error.h"
#include "core/versioned.h"
#include "hyp.h"
#include "model/model_access.h"
#include "result.h"
#include "sampling/sampling_internal.h"
#include <textgen/generate.h>
#include <textgen/sampler.h>
#include <textgen/session.h>
#include <textgen/tokenizer.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_NEW 128
#define DEFAULT_TRACE_TOP 10
#define MAX_TRACE_TOP 1000 /* tg_chain_set_trace()'s limit */

struct tg_generator {
    const tg_model *model;
    const tg_tokenizer *tok;
    tg_session *session;
    tg_chain *chain; /* the prompt's chain, as parsed */
    char *samplers;  /* the chain printed (traces) */
    int32_t *prompt;
    size_t n_prompt;
    tg_stop_rules rules;
    char **stops;
    int32_t *end_ids; /* tg_model_end_ids() under the options' flags */
    size_t n_end;
    int32_t *stop_ids;
    tg_hyp *hyp;   /* one sequence */
    tg_beam *beam; /* or beam search */
    int32_t n_beams, n_return;
    GString *chunk;  /* what the last next() released */
    size_t streamed; /* beam search: bytes of the shared text released so far */
    double max_time, t_start, t_first;
    double sample_s;
    int32_t stop;
    tg_step_trace_fn on_trace;
    void *trace_user;
    int32_t trace_steps;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *tg_stop_reason_str(int32_t reason)
{
    switch (reason) {
    case TG_STOP_NONE:
        return "none";
    case TG_STOP_MAX_TOKENS:
        return "max_tokens";
    case TG_STOP_EOS:
        return "eos";
    case TG_STOP_TOKEN:
        return "stop_token";
    case TG_STOP_STRING:
        return "stop_string";
    case TG_STOP_TIME:
        return "time_limit";
    case TG_STOP_CALLBACK:
        return "callback";
    case TG_STOP_CONTEXT:
        return "context_full";
    case TG_STOP_CRITERION:
        return "stop_criterion";
    }
    return "unknown";
}

tg_status tg_generate_options_init(tg_generate_options *opts, uint32_t struct_size)
{
    tg_error_clear();
    const tg_generate_options d = TG_GENERATE_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_GENERATE_OPTIONS_V1_SIZE,
                           "tg_generate_options");
}

/* The caller's options in the library's layout (defaults for what an older caller lacks). */
static tg_status read_options(tg_generate_options *o, const tg_generate_options *opts)
{
    *o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    if (!opts)
        return TG_OK;
    return tg__struct_read(o, sizeof *o, opts, TG_GENERATE_OPTIONS_V1_SIZE, "tg_generate_options");
}

void tg_generator_free(tg_generator *g)
{
    if (!g)
        return;
    tg__beam_free(g->beam);
    tg__hyp_free(g->hyp);
    tg_session_free(g->session);
    tg_chain_free(g->chain);
    free(g->samplers);
    free(g->prompt);
    if (g->chunk)
        g_string_free(g->chunk, TRUE);
    for (size_t i = 0; i < g->rules.n_stops; i++)
        g_free(g->stops[i]);
    g_free(g->stops);
    g_free(g->end_ids);
    g_free(g->stop_ids);
    free(g);
}

/* ---- options ---- */

static tg_status check_search_options(const tg_generate_options *o)
{
    if (o->num_beams < 0)
        return tg__error(TG_ERANGE, "num_beams = %d must not be negative (0 or 1: no beam search)",
                         (int)o->num_beams);
    const int32_t beams = o->num_beams > 1 ? o->num_beams : 1;
    if (o->num_return_sequences < 0)
        return tg__error(TG_ERANGE, "num_return_sequences = %d must not be negative",
                         (int)o->num_return_sequences);
    if (o->num_return_sequences > beams)
        return beams == 1 ? tg__error(TG_ERANGE,
                                      "num_return_sequences = %d needs beam search with at least "
                                      "that many beams (num_beams = %d)",
                                      (int)o->num_return_sequences, (int)o->num_beams)
                          : tg__error(TG_ERANGE,
                                      "num_return_sequences = %d is more than num_beams = %d: "
                                      "the search keeps only num_beams hypotheses",
                                      (int)o->num_return_sequences, (int)o->num_beams);
    if (o->early_stopping < TG_EARLY_STOP_DEFAULT || o->early_stopping > TG_EARLY_STOP_NEVER)
        return tg__error(TG_ERANGE,
                         "early_stopping = %d is not one of TG_EARLY_STOP_DEFAULT (0), _FALSE "
                         "(1), _TRUE (2), _NEVER (3)",
                         (int)o->early_stopping);
    if (beams == 1 && o->early_stopping)
        return tg__error(TG_EINVAL, "early_stopping applies to beam search: set num_beams > 1");
    if (beams == 1 && o->beam_scorers && *o->beam_scorers)
        return tg__error(TG_EINVAL, "beam_scorers \"%s\" apply to beam search: set num_beams > 1",
                         o->beam_scorers);
    if (o->on_trace && beams > 1)
        return tg__error(TG_EUNSUPPORTED,
                         "on_trace follows one sequence's chain; it does not work with beam "
                         "search (num_beams = %d)",
                         (int)o->num_beams);
    if (o->trace_top_n > MAX_TRACE_TOP)
        return tg__error(TG_ERANGE, "trace_top_n = %u is outside [1, %d] (0: %d)", o->trace_top_n,
                         MAX_TRACE_TOP, DEFAULT_TRACE_TOP);
    if (o->trace_steps < 0)
        return tg__error(TG_ERANGE, "trace_steps = %d must not be negative (0: every step)",
                         (int)o->trace_steps);
    return TG_OK;
}

/* Stop strings, stop tokens, end ids, limits. */
static tg_status setup_rules(tg_generator *g, const tg_generate_options *o)
{
    const tg_model *m = g->model;
    tg_status st;
    int32_t mx = o->max_new_tokens;
    if (mx < -1)
        return tg__error(TG_ERANGE, "max_new_tokens = %d (use -1 for no limit but the context)",
                         (int)mx);
    const int use_config = !(o->flags & TG_GEN_NO_CONFIG);
    if (mx == 0)
        mx = use_config && tg__model_gen_defaults(m)->max_new_tokens > 0
                 ? tg__model_gen_defaults(m)->max_new_tokens
                 : DEFAULT_MAX_NEW;
    if (o->max_time_s < 0)
        return tg__error(TG_ERANGE, "max_time_s = %g must not be negative", o->max_time_s);
    g->max_time = o->max_time_s;
    if (o->n_stop_strings && !o->stop_strings)
        return tg__error(TG_EINVAL, "n_stop_strings = %zu but stop_strings is NULL",
                         o->n_stop_strings);
    g->stops = g_new0(char *, o->n_stop_strings + 1);
    for (size_t i = 0; i < o->n_stop_strings; i++) {
        const char *s = o->stop_strings[i];
        if (!s || !*s)
            return tg__error(TG_EINVAL, "stop_strings[%zu] is %s", i, s ? "empty" : "NULL");
        if (!g_utf8_validate(s, -1, NULL))
            return tg__error(TG_EINVAL, "stop_strings[%zu] is not valid UTF-8", i);
        g->stops[g->rules.n_stops++] = g_strdup(s);
    }
    if (o->n_stop_tokens && !o->stop_tokens)
        return tg__error(TG_EINVAL, "n_stop_tokens = %zu but stop_tokens is NULL",
                         o->n_stop_tokens);
    for (size_t i = 0; i < o->n_stop_tokens; i++)
        if (o->stop_tokens[i] < 0 || o->stop_tokens[i] >= tg__model_n_vocab(m))
            return tg__error(TG_ERANGE, "stop_tokens[%zu] = %d is outside the vocabulary [0, %d)",
                             i, (int)o->stop_tokens[i], (int)tg__model_n_vocab(m));
    g->stop_ids = g_new0(int32_t, o->n_stop_tokens + 1);
    if (o->n_stop_tokens)
        memcpy(g->stop_ids, o->stop_tokens, o->n_stop_tokens * sizeof(int32_t));
    /* Which ids end a sequence: one policy, shared with the chain (min_new_tokens, ...). */
    const int32_t *ends;
    if ((st = tg_model_end_ids(&ends, &g->n_end, m,
                               use_config ? 0 : TG_END_IDS_NO_GENERATION_CONFIG)) != TG_OK)
        return st;
    g->end_ids = g_new0(int32_t, g->n_end + 1);
    if (g->n_end)
        memcpy(g->end_ids, ends, g->n_end * sizeof *ends);
    g->rules.stops = g->stops;
    g->rules.end_ids = g->end_ids;
    g->rules.n_end = (o->flags & TG_GEN_IGNORE_EOS) ? 0 : g->n_end;
    g->rules.stop_ids = g->stop_ids;
    g->rules.n_stop_ids = o->n_stop_tokens;
    g->rules.max_new = mx;
    g->rules.room = tg__model_n_ctx(m) - (int32_t)g->n_prompt;
    g->rules.tok = g->tok;
    return TG_OK;
}

static tg_status tokenize_prompt(tg_generator *g, const char *prompt, uint32_t flags)
{
    const tg_model *m = g->model;
    /* As transformers' tokenizer(text) does: the tokenizer's template (Llama's bos) around the
     * text; special-token text in the prompt stays plain text unless the caller allows it. */
    uint32_t enc = TG_ENCODE_ADD_SPECIAL;
    if (flags & TG_GEN_ALLOW_SPECIAL)
        enc |= TG_ENCODE_ALLOW_SPECIAL;
    if (tg_tokenizer_encode(&g->prompt, &g->n_prompt, g->tok, prompt, TG_NUL_TERMINATED, enc) !=
        TG_OK)
        return tg__error_prefix("tokenizing the prompt");
    if (g->n_prompt == 0) {
        int32_t start = tg__model_bos_id(m) >= 0 ? tg__model_bos_id(m) : tg__model_eos_id(m);
        if (start < 0)
            return tg__error(TG_EINVAL, "the prompt is empty and the model has no bos or eos "
                                        "token to start from");
        free(g->prompt);
        g->prompt = tg__malloc(sizeof *g->prompt);
        if (!g->prompt)
            return tg__error(TG_ENOMEM, "out of memory");
        g->prompt[0] = start;
        g->n_prompt = 1;
    }
    if (g->n_prompt >= (size_t)tg__model_n_ctx(m))
        return tg__error(TG_ERANGE,
                         "the prompt has %zu tokens but the model's context holds %d (leave room "
                         "for at least one new token)",
                         g->n_prompt, (int)tg__model_n_ctx(m));
    return TG_OK;
}

/* The trace hook: the chain's per-stage record plus what the loop knows. */
static void on_chain_trace(const tg_trace_stage *stages, size_t n_stages, int32_t token,
                           int32_t step, void *user_data)
{
    tg_generator *g = user_data;
    const tg_step_trace t = {sizeof t,    step,   token,   tg__chain_last_logprob(g->hyp->chain),
                             g->samplers, stages, n_stages};
    g->on_trace(&t, g->trace_user);
}

/* The options in force: the caller's, and for each search option left at zero
 * generation_config.json's (unless TG_GEN_NO_CONFIG), as Hugging Face's generate() merges its
 * arguments over the file's. The file's beam-only fields apply when the search has beams; the
 * file's num_beams does not apply to a traced generation (on_trace follows one chain). */
static tg_status merge_config(tg_generate_options *eff, const tg_generate_options *o,
                              const tg_model *m)
{
    *eff = *o;
    if (o->flags & TG_GEN_NO_CONFIG)
        return TG_OK;
    const tg_gen_defaults *d = tg__model_gen_defaults(m);
    if (!eff->num_beams && !eff->on_trace) /* a trace follows one sequence unless asked */
        eff->num_beams = d->num_beams;
    if (eff->num_beams <= 1)
        return TG_OK;
    if (!eff->num_return_sequences && d->num_return_sequences) {
        if (d->num_return_sequences > eff->num_beams)
            return tg__error(TG_ERANGE,
                             "%s/generation_config.json asks for num_return_sequences = %d, more "
                             "than num_beams = %d: set num_return_sequences (or TG_GEN_NO_CONFIG)",
                             tg_model_path(m), (int)d->num_return_sequences, (int)eff->num_beams);
        eff->num_return_sequences = d->num_return_sequences;
    }
    if (!eff->early_stopping)
        eff->early_stopping = d->early_stopping;
    if (!eff->beam_scorers)
        eff->beam_scorers = d->beam_scorers;
    return TG_OK;
}

static tg_status setup(tg_generator *g, const char *prompt, const tg_generate_options *user)
{
    const tg_model *m = g->model;
    tg_generate_options merged;
    const tg_generate_options *o = &merged;
    tg_status st;
    if ((st = merge_config(&merged, user, m)) != TG_OK || (st = check_search_options(o)) != TG_OK ||
        (st = tokenize_prompt(g, prompt, o->flags)) != TG_OK || (st = setup_rules(g, o)) != TG_OK)
        return st;
    g->n_beams = o->num_beams > 1 ? o->num_beams : 1;
    g->n_return = o->num_return_sequences ? o->num_return_sequences : 1;
    /* the chain: the spec given, else generation_config.json's, else greedy */
    const char *spec = o->samplers;
    if (!spec)
        spec = !(o->flags & TG_GEN_NO_CONFIG) && tg__model_gen_defaults(m)->spec
                   ? tg__model_gen_defaults(m)->spec
                   : "greedy";
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = m;
    co.seed = o->seed;
    co.eos_ids = g->end_ids; /* the same end ids as the loop's */
    co.n_eos = g->n_end;
    if ((st = tg_chain_parse(&g->chain, spec, &co)) != TG_OK) {
        if (!o->samplers &&
            spec == tg__model_gen_defaults(m)->spec) /* name the file, not a spec nobody wrote */
            return tg__error_prefix("the sampler chain that %s/generation_config.json implies "
                                    "(\"%s\") cannot be built",
                                    tg_model_path(m), spec);
        return st;
    }
    if ((st = tg_chain_set_prompt(g->chain, g->prompt, g->n_prompt)) != TG_OK ||
        (st = tg_chain_print(&g->samplers, g->chain)) != TG_OK)
        return st;
    /* one session: the prompt is decoded once, into sequence 0 */
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_threads = o->n_threads;
    so.n_seq = (uint32_t)g->n_beams;
    if ((st = tg_session_create(&g->session, m, &so)) != TG_OK)
        return g->n_beams > 1 ? tg__error_prefix("beam search with num_beams = %d", g->n_beams)
                              : st;
    tg_batch_row *rows = tg__malloc(g->n_prompt * sizeof *rows);
    if (!rows)
        return tg__error(TG_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_prompt; i++)
        rows[i] = (tg_batch_row){g->prompt[i], (int32_t)i, 0, i + 1 == g->n_prompt};
    st = tg_session_decode(g->session, rows, g->n_prompt);
    free(rows);
    g->t_first = now_s();
    if (st != TG_OK)
        return st;
    if (g->n_beams > 1) {
        const tg_beam_config bc = {g->n_beams, g->n_return, o->early_stopping, o->beam_scorers, m,
                                   g->chain,   &g->rules,   g->session,        g->n_prompt - 1};
        st = tg__beam_create(&g->beam, &bc);
        if (st != TG_OK && !user->beam_scorers && o->beam_scorers) /* the file's scorers */
            return tg__error_prefix("the beam scorers that %s/generation_config.json implies "
                                    "(\"%s\")",
                                    tg_model_path(m), o->beam_scorers);
        return st;
    }
    st = tg__hyp_adopt(&g->hyp, g->chain, g->tok);
    g->chain = NULL; /* the hypothesis owns it now */
    if (st != TG_OK)
        return st;
    g->hyp->row = g->n_prompt - 1;
    if (o->on_trace) {
        g->on_trace = o->on_trace;
        g->trace_user = o->trace_user_data;
        g->trace_steps = o->trace_steps;
        st = tg_chain_set_trace(g->hyp->chain, on_chain_trace,
                                o->trace_top_n ? o->trace_top_n : DEFAULT_TRACE_TOP, g);
    }
    return st;
}

tg_status tg_generator_create(tg_generator **out, const tg_model *model, const char *prompt,
                              const tg_generate_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(model, "model");
    TG_CHECK_ARG(prompt, "prompt");
    tg_generate_options o;
    tg_status st = read_options(&o, opts);
    if (st != TG_OK)
        return st;
    if (!tg_model_tokenizer(model))
        return tg__error(TG_ESTATE,
                         "model folder '%s' has no tokenizer (tokenizer.json or vocab.json + "
                         "merges.txt); generate from token ids with tg_session_decode instead",
                         tg_model_path(model));
    if (!g_utf8_validate(prompt, -1, NULL))
        return tg__error(TG_EINVAL, "the prompt is not valid UTF-8");
    tg_generator *g = tg__calloc(1, sizeof *g);
    if (!g)
        return tg__error(TG_ENOMEM, "out of memory");
    g->model = model;
    g->tok = tg_model_tokenizer(model);
    g->t_start = now_s();
    g->chunk = g_string_new(NULL);
    st = setup(g, prompt, &o);
    if (st != TG_OK) {
        tg_generator_free(g);
        return st;
    }
    *out = g;
    return TG_OK;
}

/* ---- stepping ---- */

/* Beam search: release the text every hypothesis that can still win now shares (at the end, the
 * rest of the best one). */
static void release_shared(tg_generator *g)
{
    const char *text;
    size_t len, n;
    const int32_t *ids;
    tg__beam_common(g->beam, &text, &len, &ids, &n);
    if (len > g->streamed) {
        g_string_append_len(g->chunk, text + g->streamed, (gssize)(len - g->streamed));
        g->streamed = len;
    }
}

/* End generation now for `reason` (time limit, callback). */
static tg_status stop_now(tg_generator *g, int32_t reason)
{
    tg_status st = TG_OK;
    if (g->beam) {
        st = tg__beam_stop(g->beam, reason);
        release_shared(g);
    } else {
        tg__hyp_end(g->hyp, &g->rules, reason, g->chunk);
    }
    g->stop = reason;
    return st;
}

static tg_status step_one(tg_generator *g, int32_t *token_out)
{
    tg_hyp *h = g->hyp;
    const float *logits;
    int32_t tok;
    float lp;
    tg_status st = tg_session_logits(&logits, g->session, h->row);
    double t0 = now_s();
    if (st == TG_OK)
        st = tg_chain_sample(&tok, &lp, h->chain, logits);
    if (st == TG_OK)
        st = tg__hyp_push(h, &g->rules, tok, lp, g->chunk);
    g->sample_s += now_s() - t0;
    if (st != TG_OK)
        return st;
    *token_out = tok;
    if (g->on_trace && g->trace_steps && (int32_t)h->tokens->len >= g->trace_steps) {
        g->on_trace = NULL; /* traced enough: tracing costs a sort per stage */
        tg_chain_set_trace(h->chain, NULL, 0, NULL);
    }
    if (h->stop) {
        g->stop = h->stop;
        return TG_OK;
    }
    tg_batch_row r = {tok, (int32_t)(g->n_prompt + h->tokens->len - 1), 0, 1};
    if ((st = tg_session_decode(g->session, &r, 1)) != TG_OK)
        return st;
    h->row = 0;
    return TG_OK;
}

static tg_status step_beams(tg_generator *g)
{
    int32_t done = 0;
    double t0 = now_s();
    tg_status st = tg__beam_step(g->beam, &done);
    g->sample_s += now_s() - t0; /* includes the batch's decode: a beam step is one unit */
    if (st != TG_OK)
        return st;
    if (done) {
        const tg_hyp *const *best;
        g->stop = tg__beam_results(g->beam, &best) ? best[0]->stop : TG_STOP_MAX_TOKENS;
    }
    release_shared(g);
    return TG_OK;
}

tg_status tg_generator_next(int32_t *token_out, const char **text_out, size_t *len_out,
                            int32_t *stop_out, tg_generator *g)
{
    tg_error_clear();
    TG_CHECK_ARG(token_out && text_out && len_out && stop_out, "out");
    TG_CHECK_ARG(g, "gen");
    *token_out = -1;
    g_string_truncate(g->chunk, 0);
    *text_out = g->chunk->str;
    *len_out = 0;
    *stop_out = g->stop;
    if (g->stop)
        return TG_OK;
    tg_status st = TG_OK;
    if (g->max_time > 0 && now_s() - g->t_start >= g->max_time)
        st = stop_now(g, TG_STOP_TIME);
    else if (g->beam)
        st = step_beams(g);
    else if ((int32_t)g->hyp->tokens->len >= g->rules.max_new && g->rules.max_new >= 0)
        st = stop_now(g, TG_STOP_MAX_TOKENS);
    else
        st = step_one(g, token_out);
    if (st != TG_OK)
        return st;
    *text_out = g->chunk->str;
    *len_out = g->chunk->len;
    *stop_out = g->stop;
    return TG_OK;
}

/* The tokens the stream has given so far, or may give now: the one sequence's, or (beam search)
 * those every hypothesis that can still win shares. */
static void stream_tokens(const tg_generator *g, const int32_t **ids, size_t *n)
{
    static const int32_t none[1] = {0};
    if (g->beam) {
        const char *text;
        size_t len;
        tg__beam_common(g->beam, &text, &len, ids, n);
        return;
    }
    *n = g->hyp->tokens->len;
    *ids = *n ? (const int32_t *)g->hyp->tokens->data : none;
}

/* ---- results ---- */

tg_status tg_generator_result(tg_result **out, const tg_generator *g)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(g, "gen");
    const tg_hyp *const *hyps = (const tg_hyp *const *)&g->hyp;
    size_t n = 1;
    if (g->beam) {
        n = tg__beam_results(g->beam, &hyps);
        if (!g->stop)
            return tg__error(TG_ESTATE, "beam search is still running: its sequences exist once "
                                        "tg_generator_next() reports the end");
    }
    tg_result *r;
    tg_status st = tg__result_new(&r, n, g->prompt, g->n_prompt);
    for (size_t i = 0; i < n && st == TG_OK; i++)
        st = tg__result_set(r, i, hyps[i], g->beam ? hyps[i]->score : hyps[i]->sum);
    char *scorers = NULL;
    if (st == TG_OK && g->beam && (st = tg__beam_scorers_print(&scorers, g->beam)) == TG_OK)
        tg__result_set_search(r, g->n_beams, scorers);
    if (st != TG_OK) {
        tg_result_free(r);
        return st;
    }
    tg_timing t = TG_TIMING_INIT;
    t.prompt_s = g->t_first - g->t_start;
    t.generate_s = now_s() - g->t_first;
    t.sample_s = g->sample_s;
    t.n_prompt = (int32_t)g->n_prompt;
    t.n_generated = g->beam ? tg__beam_steps(g->beam) : (int32_t)g->hyp->tokens->len;
    tg__result_finish(r, g->stop, &t);
    *out = r;
    return TG_OK;
}

tg_status tg_generate(tg_result **out, const tg_model *model, const char *prompt,
                      const tg_generate_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    tg_generate_options o;
    tg_status st = read_options(&o, opts);
    if (st != TG_OK)
        return st;
    tg_generator *g;
    if ((st = tg_generator_create(&g, model, prompt, &o)) != TG_OK)
        return st;
    tg_stream_fn cb = o.on_text;
    void *user = o.user_data;
    size_t reported = 0; /* tokens given to the callback */
    for (;;) {
        int32_t tok, stop;
        const char *text;
        size_t len, n;
        const int32_t *ids;
        if ((st = tg_generator_next(&tok, &text, &len, &stop, g)) != TG_OK)
            break;
        stream_tokens(g, &ids, &n);
        if (cb && (len || n > reported)) {
            const size_t from = reported;
            reported = n;
            if (cb(text, len, ids + from, n - from, user) && !stop) {
                g_string_truncate(g->chunk, 0); /* delivered */
                if ((st = stop_now(g, TG_STOP_CALLBACK)) != TG_OK)
                    break;
                /* one last call with what finishing released, if anything */
                stream_tokens(g, &ids, &n);
                if (g->chunk->len || n > reported)
                    cb(g->chunk->str, g->chunk->len, ids + reported, n - reported, user);
                break;
            }
        }
        if (stop)
            break;
    }
    if (st == TG_OK)
        st = tg_generator_result(out, g);
    tg_generator_free(g);
    return st;
}
