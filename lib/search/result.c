/* search/result.c — the outcome of a generation: one or more sequences (text, tokens, per-token
 * scores, score, stop reason), the prompt, why it ended and how long it took. */
#include "core/alloc.h"
#include "result.h"
#include "core/error.h"
#include "core/versioned.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tg_sequence {
    char *text;
    size_t text_len;
    int32_t *tokens;
    float *logprobs;
    size_t n_tokens;
    double score;
    int32_t stop;
} tg_sequence;

struct tg_result {
    tg_sequence *seqs;
    size_t n_seqs;
    int32_t *prompt;
    size_t n_prompt;
    int32_t stop;
    tg_timing timing;
    int32_t n_beams;
    char *beam_scorers;
};

void tg_result_free(tg_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_seqs; i++) {
        free(r->seqs[i].text);
        free(r->seqs[i].tokens);
        free(r->seqs[i].logprobs);
    }
    free(r->seqs);
    free(r->prompt);
    free(r->beam_scorers);
    free(r);
}

tg_status tg__result_new(tg_result **out, size_t n_seqs, const int32_t *prompt, size_t n_prompt)
{
    *out = NULL;
    tg_result *r = tg__calloc(1, sizeof *r);
    if (!r)
        return tg__error(TG_ENOMEM, "out of memory");
    r->seqs = tg__calloc(n_seqs + 1, sizeof *r->seqs);
    r->prompt = tg__malloc((n_prompt + 1) * sizeof *r->prompt);
    if (!r->seqs || !r->prompt) {
        tg_result_free(r);
        return tg__error(TG_ENOMEM, "out of memory");
    }
    r->n_seqs = n_seqs;
    if (n_prompt)
        memcpy(r->prompt, prompt, n_prompt * sizeof *prompt);
    r->n_prompt = n_prompt;
    r->timing = (tg_timing)TG_TIMING_INIT;
    r->n_beams = 1;
    *out = r;
    return TG_OK;
}

tg_status tg__result_set(tg_result *r, size_t index, const tg_hyp *h, double score)
{
    tg_sequence *s = &r->seqs[index];
    const size_t n = h->tokens->len;
    s->text = tg__malloc(h->text->len + 1);
    s->tokens = tg__malloc((n + 1) * sizeof *s->tokens);
    s->logprobs = tg__malloc((n + 1) * sizeof *s->logprobs);
    if (!s->text || !s->tokens || !s->logprobs)
        return tg__error(TG_ENOMEM, "out of memory");
    memcpy(s->text, h->text->str, h->text->len + 1);
    s->text_len = h->text->len;
    if (n) {
        memcpy(s->tokens, h->tokens->data, n * sizeof *s->tokens);
        memcpy(s->logprobs, h->logprobs->data, n * sizeof *s->logprobs);
    }
    s->n_tokens = n;
    s->score = score;
    s->stop = h->stop;
    return TG_OK;
}

void tg__result_finish(tg_result *r, int32_t stop, const tg_timing *timing)
{
    r->stop = stop;
    r->timing = *timing;
}

static const tg_sequence *seq_at(const tg_result *r, size_t index)
{
    return r && index < r->n_seqs ? &r->seqs[index] : NULL;
}

const char *tg_result_sequence_text(const tg_result *r, size_t index, size_t *len_out)
{
    const tg_sequence *s = seq_at(r, index);
    if (len_out)
        *len_out = s ? s->text_len : 0;
    return s ? s->text : NULL;
}

const int32_t *tg_result_sequence_tokens(const tg_result *r, size_t index, size_t *n_out)
{
    const tg_sequence *s = seq_at(r, index);
    if (n_out)
        *n_out = s ? s->n_tokens : 0;
    return s ? s->tokens : NULL;
}

const float *tg_result_sequence_logprobs(const tg_result *r, size_t index, size_t *n_out)
{
    const tg_sequence *s = seq_at(r, index);
    if (n_out)
        *n_out = s ? s->n_tokens : 0;
    return s ? s->logprobs : NULL;
}

double tg_result_sequence_score(const tg_result *r, size_t index)
{
    const tg_sequence *s = seq_at(r, index);
    return s ? s->score : NAN;
}

int32_t tg_result_sequence_stop_reason(const tg_result *r, size_t index)
{
    const tg_sequence *s = seq_at(r, index);
    return s ? s->stop : TG_STOP_NONE;
}

size_t tg_result_n_sequences(const tg_result *r)
{
    return r ? r->n_seqs : 0;
}

void tg__result_set_search(tg_result *r, int32_t n_beams, char *beam_scorers)
{
    r->n_beams = n_beams;
    free(r->beam_scorers);
    r->beam_scorers = beam_scorers;
}

int32_t tg_result_num_beams(const tg_result *r)
{
    return r ? r->n_beams : 0;
}

const char *tg_result_beam_scorers(const tg_result *r)
{
    return r ? r->beam_scorers : NULL;
}

const char *tg_result_text(const tg_result *r, size_t *len_out)
{
    return tg_result_sequence_text(r, 0, len_out);
}

const int32_t *tg_result_tokens(const tg_result *r, size_t *n_out)
{
    return tg_result_sequence_tokens(r, 0, n_out);
}

const float *tg_result_logprobs(const tg_result *r, size_t *n_out)
{
    return tg_result_sequence_logprobs(r, 0, n_out);
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
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(r, "result");
    return tg__struct_write(out, &r->timing, sizeof r->timing, TG_TIMING_V1_SIZE, "tg_timing");
}
