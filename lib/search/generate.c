/* search/generate.c — the autoregressive loop: tokenize, prefill, then sample / accept / decode
 * one token at a time, streaming text that is always valid UTF-8 and never the start of a stop
 * string that might still complete. */
#include "core/error.h"
#include "model/model_access.h"
#include <textgen/generate.h>
#include <textgen/sampler.h>
#include <textgen/session.h>
#include <textgen/tokenizer.h>

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_NEW 128

struct tg_result {
    char *text;
    size_t text_len;
    int32_t *tokens, *prompt;
    float *logprobs;
    size_t n_tokens, n_prompt;
    int32_t stop;
    tg_timing timing;
};

struct tg_generator {
    const tg_model *model;
    const tg_tokenizer *tok;
    tg_session *session;
    tg_chain *chain;
    tg_detokenizer *detok;
    int32_t *prompt;
    size_t n_prompt;
    GArray *tokens;   /* int32_t */
    GArray *logprobs; /* float */
    GString *text;    /* emitted so far */
    GString *pending; /* decoded but held back (could start a stop string) */
    GString *chunk;   /* what the last next() released */
    char **stops;
    size_t n_stops;
    int32_t *end_ids; /* eos ids (reason EOS) */
    size_t n_end;
    int32_t *stop_ids; /* caller's stop tokens (reason TOKEN) */
    size_t n_stop_ids;
    int32_t max_new;
    double max_time, t_start, t_first;
    double sample_s;
    uint32_t flags;
    int32_t stop;
    int32_t n_ctx;
    size_t logits_row; /* row of the last decode holding the next logits */
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

tg_status tg_generate_options_default(tg_generate_options *out)
{
    TG_CHECK_ARG(out, "out");
    *out = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    return TG_OK;
}

void tg_generator_free(tg_generator *g)
{
    if (!g)
        return;
    tg_session_free(g->session);
    tg_chain_free(g->chain);
    tg_detokenizer_free(g->detok);
    free(g->prompt);
    if (g->tokens)
        g_array_free(g->tokens, TRUE);
    if (g->logprobs)
        g_array_free(g->logprobs, TRUE);
    if (g->text)
        g_string_free(g->text, TRUE);
    if (g->pending)
        g_string_free(g->pending, TRUE);
    if (g->chunk)
        g_string_free(g->chunk, TRUE);
    for (size_t i = 0; i < g->n_stops; i++)
        g_free(g->stops[i]);
    g_free(g->stops);
    g_free(g->end_ids);
    g_free(g->stop_ids);
    free(g);
}

static int contains(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static tg_status setup(tg_generator *g, const char *prompt, const tg_generate_options *o)
{
    const tg_model *m = g->model;
    const tg_gen_defaults *gen = tg__model_gen_defaults(m);
    tg_status st;
    /* prompt */
    uint32_t enc = (o->flags & TG_GEN_ALLOW_SPECIAL) ? TG_ENCODE_ALLOW_SPECIAL : 0;
    if ((st = tg_tokenizer_encode(&g->prompt, &g->n_prompt, g->tok, prompt, TG_NUL_TERMINATED,
                                  enc)) != TG_OK)
        return tg__error_prefix("tokenizing the prompt");
    if (g->n_prompt == 0) {
        int32_t start = tg__model_bos_id(m) >= 0 ? tg__model_bos_id(m) : tg__model_eos_id(m);
        if (start < 0)
            return tg__error(TG_EINVAL, "the prompt is empty and the model has no bos or eos "
                                        "token to start from");
        free(g->prompt);
        g->prompt = malloc(sizeof *g->prompt);
        if (!g->prompt)
            return tg__error(TG_ENOMEM, "out of memory");
        g->prompt[0] = start;
        g->n_prompt = 1;
    }
    g->n_ctx = tg__model_n_ctx(m);
    if (g->n_prompt >= (size_t)g->n_ctx)
        return tg__error(TG_ERANGE,
                         "the prompt has %zu tokens but the model's context holds %d (leave room "
                         "for at least one new token)",
                         g->n_prompt, (int)g->n_ctx);
    /* limits and stops */
    int32_t mx = o->max_new_tokens;
    if (mx < -1)
        return tg__error(TG_ERANGE, "max_new_tokens = %d (use -1 for no limit but the context)",
                         (int)mx);
    const int use_config = !(o->flags & TG_GEN_NO_CONFIG);
    if (mx == 0)
        mx = use_config && gen->max_new_tokens > 0 ? gen->max_new_tokens : DEFAULT_MAX_NEW;
    g->max_new = mx;
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
        g->stops[g->n_stops++] = g_strdup(s);
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
    g->n_stop_ids = o->n_stop_tokens;
    g->end_ids = g_new0(int32_t, gen->n_eos + 2);
    if (tg__model_eos_id(m) >= 0)
        g->end_ids[g->n_end++] = tg__model_eos_id(m);
    int32_t tok_eos = tg_tokenizer_eos(g->tok);
    if (tok_eos >= 0 && !contains(g->end_ids, g->n_end, tok_eos))
        g->end_ids[g->n_end++] = tok_eos;
    for (size_t i = 0; use_config && i < gen->n_eos; i++)
        if (!contains(g->end_ids, g->n_end, gen->eos_ids[i]))
            g->end_ids[g->n_end++] = gen->eos_ids[i];
    /* chain */
    const char *spec = o->samplers;
    if (!spec)
        spec = use_config && gen->spec ? gen->spec : "greedy";
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = m;
    co.seed = o->seed;
    if ((st = tg_chain_parse(&g->chain, spec, &co)) != TG_OK ||
        (st = tg_chain_set_prompt(g->chain, g->prompt, g->n_prompt)) != TG_OK)
        return st;
    if ((st = tg_detokenizer_create(&g->detok, g->tok, 0)) != TG_OK)
        return st;
    /* session and prefill */
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_threads = o->n_threads;
    if ((st = tg_session_create(&g->session, m, &so)) != TG_OK)
        return st;
    tg_batch_row *rows = malloc(g->n_prompt * sizeof *rows);
    if (!rows)
        return tg__error(TG_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_prompt; i++)
        rows[i] = (tg_batch_row){g->prompt[i], (int32_t)i, 0, i + 1 == g->n_prompt};
    st = tg_session_decode(g->session, rows, g->n_prompt);
    free(rows);
    g->logits_row = g->n_prompt - 1;
    g->t_first = now_s();
    return st;
}

tg_status tg_generator_create(tg_generator **out, const tg_model *model, const char *prompt,
                              const tg_generate_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(model, "model");
    TG_CHECK_ARG(prompt, "prompt");
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    if (opts) {
        tg_status st = tg__check_struct_size(opts->struct_size, sizeof(tg_generate_options),
                                             "tg_generate_options");
        if (st != TG_OK)
            return st;
        o = *opts;
    }
    if (!tg_model_tokenizer(model))
        return tg__error(TG_ESTATE,
                         "model folder '%s' has no tokenizer (tokenizer.json or vocab.json + "
                         "merges.txt); generate from token ids with tg_session_decode instead",
                         tg_model_path(model));
    if (!g_utf8_validate(prompt, -1, NULL))
        return tg__error(TG_EINVAL, "the prompt is not valid UTF-8");
    tg_generator *g = calloc(1, sizeof *g);
    if (!g)
        return tg__error(TG_ENOMEM, "out of memory");
    g->model = model;
    g->tok = tg_model_tokenizer(model);
    g->flags = o.flags;
    g->t_start = now_s();
    g->tokens = g_array_new(FALSE, FALSE, sizeof(int32_t));
    g->logprobs = g_array_new(FALSE, FALSE, sizeof(float));
    g->text = g_string_new(NULL);
    g->pending = g_string_new(NULL);
    g->chunk = g_string_new(NULL);
    tg_status st = setup(g, prompt, &o);
    if (st != TG_OK) {
        tg_generator_free(g);
        return st;
    }
    *out = g;
    return TG_OK;
}

/* Length of the longest suffix of `s` that is a proper prefix of some stop string. */
static size_t held_back(const tg_generator *g, const char *s, size_t len)
{
    size_t best = 0;
    for (size_t k = 0; k < g->n_stops; k++) {
        size_t sl = strlen(g->stops[k]);
        size_t max = sl - 1 < len ? sl - 1 : len;
        for (size_t n = max; n > best; n--)
            if (memcmp(s + len - n, g->stops[k], n) == 0) {
                best = n;
                break;
            }
    }
    return best;
}

/* Move what is safe from pending to the chunk; detect stop strings. */
static void release(tg_generator *g, int final)
{
    GString *p = g->pending;
    size_t cut = p->len, keep_from = p->len;
    for (size_t k = 0; k < g->n_stops; k++) {
        const char *hit = g_strstr_len(p->str, (gssize)p->len, g->stops[k]);
        if (hit && (size_t)(hit - p->str) < cut) {
            cut = (size_t)(hit - p->str);
            g->stop = TG_STOP_STRING;
        }
    }
    if (g->stop == TG_STOP_STRING) {
        keep_from = p->len; /* the stop string and what follows are dropped */
    } else if (!final) {
        cut = p->len - held_back(g, p->str, p->len);
        keep_from = cut;
    }
    g_string_append_len(g->chunk, p->str, (gssize)cut);
    g_string_append_len(g->text, p->str, (gssize)cut);
    g_string_erase(p, 0, (gssize)keep_from);
}

static void finish(tg_generator *g, int32_t reason)
{
    if (!g->stop)
        g->stop = reason;
    const char *tail;
    size_t n;
    if (g->stop != TG_STOP_STRING && tg_detokenizer_flush(g->detok, &tail, &n) == TG_OK)
        g_string_append_len(g->pending, tail, (gssize)n);
    if (g->stop != TG_STOP_STRING)
        release(g, 1);
    g_string_truncate(g->pending, 0);
}

tg_status tg_generator_next(int32_t *token_out, const char **text_out, size_t *len_out,
                            int32_t *stop_out, tg_generator *g)
{
    TG_CHECK_ARG(token_out && text_out && len_out && stop_out, "out");
    TG_CHECK_ARG(g, "gen");
    *token_out = -1;
    g_string_truncate(g->chunk, 0);
    *text_out = g->chunk->str;
    *len_out = 0;
    *stop_out = g->stop;
    if (g->stop)
        return TG_OK;
    if (g->max_time > 0 && now_s() - g->t_start >= g->max_time) {
        finish(g, TG_STOP_TIME);
    } else if (g->max_new >= 0 && (int32_t)g->tokens->len >= g->max_new) {
        finish(g, TG_STOP_MAX_TOKENS);
    } else {
        const float *logits;
        int32_t tok;
        float lp;
        tg_status st = tg_session_logits(&logits, g->session, g->logits_row);
        double t0 = now_s();
        if (st == TG_OK)
            st = tg_chain_sample(&tok, &lp, g->chain, logits);
        if (st == TG_OK)
            st = tg_chain_accept(g->chain, tok);
        g->sample_s += now_s() - t0;
        if (st != TG_OK)
            return st;
        g_array_append_val(g->tokens, tok);
        g_array_append_val(g->logprobs, lp);
        *token_out = tok;
        int32_t stop = 0;
        if (!(g->flags & TG_GEN_IGNORE_EOS) && contains(g->end_ids, g->n_end, tok)) {
            finish(g, TG_STOP_EOS);
        } else if (contains(g->stop_ids, g->n_stop_ids, tok)) {
            finish(g, TG_STOP_TOKEN);
        } else {
            const char *piece;
            size_t n;
            if ((st = tg_detokenizer_feed(g->detok, tok, &piece, &n)) != TG_OK)
                return st;
            g_string_append_len(g->pending, piece, (gssize)n);
            release(g, 0);
            if (g->stop == TG_STOP_STRING)
                finish(g, TG_STOP_STRING);
            else if ((st = tg_chain_check_stop(&stop, g->chain)) != TG_OK)
                return st;
            else if (stop)
                finish(g, TG_STOP_CRITERION);
            else if (g->max_new >= 0 && (int32_t)g->tokens->len >= g->max_new)
                finish(g, TG_STOP_MAX_TOKENS);
            else if (g->n_prompt + g->tokens->len >= (size_t)g->n_ctx)
                finish(g, TG_STOP_CONTEXT);
            else {
                tg_batch_row r = {tok, (int32_t)(g->n_prompt + g->tokens->len - 1), 0, 1};
                if ((st = tg_session_decode(g->session, &r, 1)) != TG_OK)
                    return st;
                g->logits_row = 0;
            }
        }
    }
    *text_out = g->chunk->str;
    *len_out = g->chunk->len;
    *stop_out = g->stop;
    return TG_OK;
}

tg_status tg_generator_result(tg_result **out, const tg_generator *g)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(g, "gen");
    tg_result *r = calloc(1, sizeof *r);
    if (!r)
        return tg__error(TG_ENOMEM, "out of memory");
    r->text = malloc(g->text->len + 1);
    r->tokens = malloc((g->tokens->len + 1) * sizeof(int32_t));
    r->logprobs = malloc((g->logprobs->len + 1) * sizeof(float));
    r->prompt = malloc((g->n_prompt + 1) * sizeof(int32_t));
    if (!r->text || !r->tokens || !r->logprobs || !r->prompt) {
        tg_result_free(r);
        return tg__error(TG_ENOMEM, "out of memory");
    }
    memcpy(r->text, g->text->str, g->text->len + 1);
    r->text_len = g->text->len;
    if (g->tokens->len) {
        memcpy(r->tokens, g->tokens->data, g->tokens->len * sizeof(int32_t));
        memcpy(r->logprobs, g->logprobs->data, g->logprobs->len * sizeof(float));
    }
    r->n_tokens = g->tokens->len;
    memcpy(r->prompt, g->prompt, g->n_prompt * sizeof(int32_t));
    r->n_prompt = g->n_prompt;
    r->stop = g->stop;
    r->timing = (tg_timing)TG_TIMING_INIT;
    r->timing.prompt_s = g->t_first - g->t_start;
    r->timing.generate_s = now_s() - g->t_first;
    r->timing.sample_s = g->sample_s;
    r->timing.n_prompt = (int32_t)g->n_prompt;
    r->timing.n_generated = (int32_t)g->tokens->len;
    *out = r;
    return TG_OK;
}

tg_status tg_generate(tg_result **out, const tg_model *model, const char *prompt,
                      const tg_generate_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    tg_generator *g;
    tg_status st = tg_generator_create(&g, model, prompt, opts);
    if (st != TG_OK)
        return st;
    tg_stream_fn cb = opts ? opts->on_text : NULL;
    void *user = opts ? opts->user_data : NULL;
    size_t reported = 0;
    for (;;) {
        int32_t tok, stop;
        const char *text;
        size_t len;
        if ((st = tg_generator_next(&tok, &text, &len, &stop, g)) != TG_OK)
            break;
        if (cb && (len || g->tokens->len > reported)) {
            const int32_t *ids = (const int32_t *)g->tokens->data + reported;
            size_t n_ids = g->tokens->len - reported;
            reported = g->tokens->len;
            if (cb(text, len, ids, n_ids, user) && !stop) {
                finish(g, TG_STOP_CALLBACK);
                /* release whatever finishing flushed */
                if (g->chunk->len)
                    cb(g->chunk->str, g->chunk->len, NULL, 0, user);
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

const char *tg_result_text(const tg_result *r, size_t *len_out)
{
    if (len_out)
        *len_out = r ? r->text_len : 0;
    return r ? r->text : NULL;
}

const int32_t *tg_result_tokens(const tg_result *r, size_t *n_out)
{
    if (n_out)
        *n_out = r ? r->n_tokens : 0;
    return r ? r->tokens : NULL;
}

const float *tg_result_logprobs(const tg_result *r, size_t *n_out)
{
    if (n_out)
        *n_out = r ? r->n_tokens : 0;
    return r ? r->logprobs : NULL;
}

const int32_t *tg_result_prompt_tokens(const tg_result *r, size_t *n_out)
{
    if (n_out)
        *n_out = r ? r->n_prompt : 0;
    return r ? r->prompt : NULL;
}

int32_t tg_result_stop_reason(const tg_result *r)
{
    return r ? r->stop : TG_STOP_NONE;
}

tg_status tg_result_timing(tg_timing *out, const tg_result *r)
{
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(r, "result");
    tg_status st = tg__check_struct_size(out->struct_size, sizeof(tg_timing), "tg_timing");
    if (st != TG_OK)
        return st;
    uint32_t size = out->struct_size;
    *out = r->timing;
    out->struct_size = size;
    return TG_OK;
}

void tg_result_free(tg_result *r)
{
    if (!r)
        return;
    free(r->text);
    free(r->tokens);
    free(r->logprobs);
    free(r->prompt);
    free(r);
}
