/* search/hyp.c — one hypothesis: tokens, score, sampling state and text, and the rules that end
 * it (see hyp.h). */
#include "core/alloc.h"
#include "hyp.h"
#include "core/error.h"
#include "sampling/sampling_internal.h"

#include <stdlib.h>
#include <string.h>

void tg__hyp_free(tg_hyp *h)
{
    if (!h)
        return;
    tg_chain_free(h->chain);
    tg_detokenizer_free(h->detok);
    if (h->tokens)
        g_array_free(h->tokens, TRUE);
    if (h->logprobs)
        g_array_free(h->logprobs, TRUE);
    if (h->text)
        g_string_free(h->text, TRUE);
    if (h->pending)
        g_string_free(h->pending, TRUE);
    free(h);
}

/* A hypothesis that owns `chain` (NULL: clone `from`). */
static tg_status hyp_make(tg_hyp **out, tg_chain *chain, const tg_chain *from,
                          const tg_tokenizer *tok)
{
    *out = NULL;
    tg_hyp *h = tg__calloc(1, sizeof *h);
    if (!h) {
        tg_chain_free(chain);
        return tg__error(TG_ENOMEM, "out of memory");
    }
    h->tokens = g_array_new(FALSE, FALSE, sizeof(int32_t));
    h->logprobs = g_array_new(FALSE, FALSE, sizeof(float));
    h->text = g_string_new(NULL);
    h->pending = g_string_new(NULL);
    h->chain = chain;
    tg_status st = chain ? TG_OK : tg_chain_clone(&h->chain, from);
    if (st == TG_OK)
        st = tg_detokenizer_create(&h->detok, tok, 0);
    if (st != TG_OK) {
        tg__hyp_free(h);
        return st;
    }
    *out = h;
    return TG_OK;
}

tg_status tg__hyp_new(tg_hyp **out, const tg_chain *chain, const tg_tokenizer *tok)
{
    return hyp_make(out, NULL, chain, tok);
}

tg_status tg__hyp_adopt(tg_hyp **out, tg_chain *chain, const tg_tokenizer *tok)
{
    return hyp_make(out, chain, NULL, tok);
}

static void set_bytes(GString *dst, const GString *src)
{
    g_string_truncate(dst, 0);
    g_string_append_len(dst, src->str, (gssize)src->len); /* text may hold NUL bytes */
}

static void set_array(GArray *dst, const GArray *src)
{
    g_array_set_size(dst, 0);
    g_array_append_vals(dst, src->data, src->len);
}

tg_status tg__hyp_assign(tg_hyp *dst, const tg_hyp *src)
{
    if (dst == src)
        return TG_OK;
    tg_status st = tg__chain_copy_state(dst->chain, src->chain);
    if (st != TG_OK)
        return st;
    set_array(dst->tokens, src->tokens);
    set_array(dst->logprobs, src->logprobs);
    set_bytes(dst->text, src->text);
    set_bytes(dst->pending, src->pending);
    dst->sum = src->sum;
    dst->score = src->score;
    dst->stop = src->stop;
    dst->seq = src->seq;
    dst->row = src->row;
    /* The detokenizer's state (bytes of an unfinished character) comes from the tokens since the
     * last one that ended in an ASCII byte: replay those into an emptied detokenizer. */
    const char *text;
    size_t len;
    if ((st = tg_detokenizer_flush(dst->detok, &text, &len)) != TG_OK)
        return st;
    const int32_t *ids = (const int32_t *)src->tokens->data;
    for (size_t i = src->clean_from; i < src->tokens->len; i++)
        if ((st = tg_detokenizer_feed(dst->detok, ids[i], &text, &len)) != TG_OK)
            return st;
    dst->clean_from = src->clean_from;
    return TG_OK;
}

static int contains(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Length of the longest suffix of `s` that is a proper prefix of some stop string. */
static size_t held_back(const tg_stop_rules *r, const char *s, size_t len)
{
    size_t best = 0;
    for (size_t k = 0; k < r->n_stops; k++) {
        size_t sl = strlen(r->stops[k]);
        size_t max = sl - 1 < len ? sl - 1 : len;
        for (size_t n = max; n > best; n--)
            if (memcmp(s + len - n, r->stops[k], n) == 0) {
                best = n;
                break;
            }
    }
    return best;
}

static void decide(tg_hyp *h, GString *released, const char *s, size_t n)
{
    g_string_append_len(h->text, s, (gssize)n);
    if (released)
        g_string_append_len(released, s, (gssize)n);
}

/* Move what is decided from `pending` to the text. Returns 1 when a stop string appeared: the
 * text ends before it, and it and what follows are dropped. `final`: nothing more will come. */
static int release(tg_hyp *h, const tg_stop_rules *r, int final, GString *released)
{
    GString *p = h->pending;
    size_t cut = p->len;
    int found = 0;
    for (size_t k = 0; k < r->n_stops; k++) {
        const char *hit = g_strstr_len(p->str, (gssize)p->len, r->stops[k]);
        if (hit && (size_t)(hit - p->str) < cut) {
            cut = (size_t)(hit - p->str);
            found = 1;
        }
    }
    size_t keep_from = p->len;
    if (!found && !final) {
        cut = p->len - held_back(r, p->str, p->len);
        keep_from = cut;
    }
    decide(h, released, p->str, cut);
    g_string_erase(p, 0, (gssize)keep_from);
    return found;
}

static void finish(tg_hyp *h, const tg_stop_rules *r, int32_t reason, GString *released)
{
    h->stop = reason;
    if (reason != TG_STOP_STRING) {
        const char *tail;
        size_t n;
        if (tg_detokenizer_flush(h->detok, &tail, &n) == TG_OK)
            g_string_append_len(h->pending, tail, (gssize)n);
        release(h, r, 1, released);
    }
    g_string_truncate(h->pending, 0);
}

void tg__hyp_end(tg_hyp *h, const tg_stop_rules *r, int32_t reason, GString *released)
{
    if (!h->stop)
        finish(h, r, reason, released);
}

/* After feeding `token`: does the detokenizer hold nothing now? True when its bytes end in an
 * ASCII byte (never part of a multi-byte character), or when it has no bytes and nothing was held
 * before. */
static void track_clean(tg_hyp *h, const tg_stop_rules *r, int32_t token)
{
    const char *bytes;
    size_t n = 0;
    const size_t len = h->tokens->len;
    if (tg_tokenizer_token_to_bytes(&bytes, &n, r->tok, token) != TG_OK)
        return;
    if (n ? (unsigned char)bytes[n - 1] < 0x80 : h->clean_from + 1 == len)
        h->clean_from = len;
}

tg_status tg__hyp_push(tg_hyp *h, const tg_stop_rules *r, int32_t token, float score,
                       GString *released)
{
    tg_status st = tg_chain_accept(h->chain, token);
    if (st != TG_OK)
        return st;
    g_array_append_val(h->tokens, token);
    g_array_append_val(h->logprobs, score);
    h->sum += score;
    if (contains(r->end_ids, r->n_end, token)) {
        finish(h, r, TG_STOP_EOS, released);
        return TG_OK;
    }
    if (contains(r->stop_ids, r->n_stop_ids, token)) {
        finish(h, r, TG_STOP_TOKEN, released);
        return TG_OK;
    }
    const char *piece;
    size_t n;
    if ((st = tg_detokenizer_feed(h->detok, token, &piece, &n)) != TG_OK)
        return st;
    track_clean(h, r, token);
    g_string_append_len(h->pending, piece, (gssize)n);
    int32_t stop = 0;
    const int32_t n_tokens = (int32_t)h->tokens->len;
    if (release(h, r, 0, released))
        finish(h, r, TG_STOP_STRING, released);
    else if ((st = tg_chain_check_stop(&stop, h->chain)) != TG_OK)
        return st;
    else if (stop)
        finish(h, r, TG_STOP_CRITERION, released);
    else if (r->max_new >= 0 && n_tokens >= r->max_new)
        finish(h, r, TG_STOP_MAX_TOKENS, released);
    else if (n_tokens >= r->room)
        finish(h, r, TG_STOP_CONTEXT, released);
    return TG_OK;
}
