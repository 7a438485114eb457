/* tokenizer/tok_decode.c — ids -> text, id <-> piece queries, and the streaming detokenizer
 * that holds back the bytes of a character split across tokens. */
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

int32_t tg_tokenizer_n_vocab(const tg_tokenizer *tok)
{
    return tok ? tok->n_vocab : 0;
}

int32_t tg_tokenizer_kind(const tg_tokenizer *tok)
{
    return tok ? tok->kind : 0;
}

int32_t tg_tokenizer_bos(const tg_tokenizer *tok)
{
    return tok ? tok->bos_id : TG_TOKEN_NONE;
}

int32_t tg_tokenizer_eos(const tg_tokenizer *tok)
{
    return tok ? tok->eos_id : TG_TOKEN_NONE;
}

int32_t tg_tokenizer_is_special(const tg_tokenizer *tok, int32_t id)
{
    return tok && id >= 0 && id < tok->n_vocab && tok->is_special[id];
}

tg_status tg_tokenizer_special_tokens(const int32_t **ids_out, size_t *n_out,
                                      const tg_tokenizer *tok)
{
    TG_CHECK_ARG(ids_out, "ids_out");
    *ids_out = NULL;
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(tok, "tok");
    *ids_out = tok->n_special ? tok->special_ids : NULL;
    *n_out = tok->n_special;
    return TG_OK;
}

static tg_status bad_id(const char *fn, int32_t id, const tg_tokenizer *tok)
{
    return tg__error(TG_EINVAL, "%s: token id %d is outside the vocabulary [0, %d)", fn, id,
                     tok->n_vocab);
}

tg_status tg_tokenizer_token_to_piece(const char **piece_out, size_t *len_out,
                                      const tg_tokenizer *tok, int32_t id)
{
    TG_CHECK_ARG(piece_out, "piece_out");
    *piece_out = NULL;
    if (len_out)
        *len_out = 0;
    TG_CHECK_ARG(tok, "tok");
    if (id < 0 || id >= tok->n_vocab)
        return bad_id(__func__, id, tok);
    *piece_out = tok->pieces + tok->piece_off[id];
    if (len_out)
        *len_out = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
    return TG_OK;
}

tg_status tg_tokenizer_token_to_bytes(const char **bytes_out, size_t *len_out,
                                      const tg_tokenizer *tok, int32_t id)
{
    TG_CHECK_ARG(bytes_out, "bytes_out");
    *bytes_out = NULL;
    TG_CHECK_ARG(len_out, "len_out");
    *len_out = 0;
    TG_CHECK_ARG(tok, "tok");
    if (id < 0 || id >= tok->n_vocab)
        return bad_id(__func__, id, tok);
    *bytes_out = tok->bytes + tok->bytes_off[id];
    *len_out = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
    return TG_OK;
}

tg_status tg_tokenizer_piece_to_token(int32_t *id_out, const tg_tokenizer *tok, const char *piece,
                                      size_t len)
{
    TG_CHECK_ARG(id_out, "id_out");
    *id_out = TG_TOKEN_NONE;
    TG_CHECK_ARG(tok, "tok");
    TG_CHECK_ARG(piece, "piece");
    if (len == TG_NUL_TERMINATED)
        len = strlen(piece);
    int32_t id = tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, piece, len);
    if (id < 0)
        return tg__error(TG_ENOTFOUND, "tg_tokenizer_piece_to_token: no token \"%.*s\"",
                         len > 64 ? 64 : (int)len, piece);
    *id_out = id;
    return TG_OK;
}

#define DECODE_FLAGS (TG_DECODE_SKIP_SPECIAL | TG_DECODE_RAW_BYTES)

tg_status tg_tokenizer_decode(char **text_out, size_t *len_out, const tg_tokenizer *tok,
                              const int32_t *ids, size_t n, uint32_t flags)
{
    TG_CHECK_ARG(text_out, "text_out");
    *text_out = NULL;
    if (len_out)
        *len_out = 0;
    TG_CHECK_ARG(tok, "tok");
    TG_CHECK_ARG(ids || n == 0, "ids");
    if (flags & ~(uint32_t)DECODE_FLAGS)
        return tg__error(TG_EINVAL, "tg_tokenizer_decode: unknown flags 0x%x",
                         flags & ~(uint32_t)DECODE_FLAGS);
    int skip = (flags & TG_DECODE_SKIP_SPECIAL) != 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab)
            return tg__error(TG_EINVAL,
                             "tg_tokenizer_decode: ids[%zu] = %d is outside the vocabulary "
                             "[0, %d)",
                             i, id, tok->n_vocab);
        if (!(skip && tok->is_special[id]))
            total += tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
    }
    tg__buf raw = {0};
    if (!tg__buf_reserve(&raw, total + 1))
        return tg__error(TG_ENOMEM, "tg_tokenizer_decode: out of memory (%zu bytes)", total);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip && tok->is_special[id])
            continue;
        size_t k = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
        memcpy(raw.data + raw.len, tok->bytes + tok->bytes_off[id], k);
        raw.len += k;
    }
    if (!(flags & TG_DECODE_RAW_BYTES)) {
        tg__buf clean = {0};
        if (tg__utf8_sanitize(&clean, (const unsigned char *)raw.data, raw.len, 1) == (size_t)-1) {
            free(raw.data);
            free(clean.data);
            return tg__error(TG_ENOMEM, "tg_tokenizer_decode: out of memory (%zu bytes)", total);
        }
        free(raw.data);
        raw = clean;
    }
    raw.data[raw.len] = '\0';
    *text_out = raw.data;
    if (len_out)
        *len_out = raw.len;
    return TG_OK;
}

/* ---- streaming ---- */

struct tg_detokenizer {
    const tg_tokenizer *tok;
    uint32_t flags;
    unsigned char held[4]; /* the start of a character not complete yet (at most 3 bytes) */
    size_t n_held;
    tg__buf work; /* held bytes + the new token's bytes */
    tg__buf out;  /* the chunk handed to the caller */
};

tg_status tg_detokenizer_create(tg_detokenizer **out, const tg_tokenizer *tok, uint32_t flags)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(tok, "tok");
    if (flags & ~(uint32_t)TG_DECODE_SKIP_SPECIAL)
        return tg__error(TG_EINVAL,
                         "tg_detokenizer_create: unknown flags 0x%x (only "
                         "TG_DECODE_SKIP_SPECIAL is allowed)",
                         flags);
    tg_detokenizer *d = calloc(1, sizeof *d);
    if (!d || !tg__buf_reserve(&d->out, 64) || !tg__buf_reserve(&d->work, 64)) {
        tg_detokenizer_free(d);
        return tg__error(TG_ENOMEM, "tg_detokenizer_create: out of memory");
    }
    d->tok = tok;
    d->flags = flags;
    d->out.data[0] = '\0';
    *out = d;
    return TG_OK;
}

static tg_status detok_emit(tg_detokenizer *d, const unsigned char *bytes, size_t k, int final,
                            const char **text_out, size_t *len_out)
{
    d->work.len = 0;
    d->out.len = 0;
    if (!tg__buf_reserve(&d->work, d->n_held + k))
        return tg__error(TG_ENOMEM, "tg_detokenizer: out of memory");
    memcpy(d->work.data, d->held, d->n_held);
    if (k)
        memcpy(d->work.data + d->n_held, bytes, k);
    d->work.len = d->n_held + k;
    size_t used =
        tg__utf8_sanitize(&d->out, (const unsigned char *)d->work.data, d->work.len, final);
    if (used == (size_t)-1)
        return tg__error(TG_ENOMEM, "tg_detokenizer: out of memory");
    d->n_held = d->work.len - used;
    memcpy(d->held, d->work.data + used, d->n_held);
    d->out.data[d->out.len] = '\0';
    *text_out = d->out.data;
    if (len_out)
        *len_out = d->out.len;
    return TG_OK;
}

tg_status tg_detokenizer_feed(tg_detokenizer *d, int32_t id, const char **text_out, size_t *len_out)
{
    TG_CHECK_ARG(text_out, "text_out");
    *text_out = "";
    if (len_out)
        *len_out = 0;
    TG_CHECK_ARG(d, "detok");
    const tg_tokenizer *tok = d->tok;
    if (id < 0 || id >= tok->n_vocab)
        return tg__error(TG_EINVAL,
                         "tg_detokenizer_feed: token id %d is outside the vocabulary "
                         "[0, %d)",
                         id, tok->n_vocab);
    const unsigned char *b = (const unsigned char *)tok->bytes + tok->bytes_off[id];
    size_t k = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
    if ((d->flags & TG_DECODE_SKIP_SPECIAL) && tok->is_special[id])
        k = 0;
    return detok_emit(d, b, k, 0, text_out, len_out);
}

tg_status tg_detokenizer_flush(tg_detokenizer *d, const char **text_out, size_t *len_out)
{
    TG_CHECK_ARG(text_out, "text_out");
    *text_out = "";
    if (len_out)
        *len_out = 0;
    TG_CHECK_ARG(d, "detok");
    return detok_emit(d, NULL, 0, 1, text_out, len_out);
}

void tg_detokenizer_reset(tg_detokenizer *d)
{
    if (d)
        d->n_held = 0;
}

void tg_detokenizer_free(tg_detokenizer *d)
{
    if (!d)
        return;
    free(d->work.data);
    free(d->out.data);
    free(d);
}
