/* tokenizer/tok_decode.c — ids -> text, id <-> piece queries, and the streaming detokenizer
 * that holds back the bytes of a character split across tokens.
 *
 * HF decodes a list of tokens with a chain of decoders. Here that chain is split in two: the
 * steps that act on each token alone (ByteLevel, Replace, Metaspace, ByteFallback, a Strip
 * before Fuse) are applied once at load time to every token (tok->bytes), and what depends on
 * the position is applied while concatenating: the first token of a text under a Metaspace
 * decoder (which drops its "▁" there), and a Strip after Fuse (the start of the whole text). */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- the per-token decoder steps ---- */

static int replace_all(tg__buf *out, const char *s, size_t n, const char *from, size_t from_len,
                       const char *to, size_t to_len)
{
    size_t i = 0;
    while (i < n) {
        const char *hit = from_len <= n - i ? memmem(s + i, n - i, from, from_len) : NULL;
        size_t end = hit ? (size_t)(hit - s) : n;
        if (!tg__buf_append(out, s + i, end - i))
            return 0;
        if (!hit)
            break;
        if (!tg__buf_append(out, to, to_len))
            return 0;
        i = end + from_len;
    }
    return 1;
}

static int hexdig(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* GPT-2's byte alphabet back to bytes; a token with a character outside it keeps its UTF-8 as
 * it is (HF's ByteLevel decoder does so for the whole token). */
static int byte_level(tg__buf *out, const char *s, size_t n)
{
    size_t start = out->len;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = tg__utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int b = k ? tg__cp_to_byte(cp) : -1;
        if (b < 0) {
            out->len = start;
            return tg__buf_append(out, s, n);
        }
        unsigned char c = (unsigned char)b;
        if (!tg__buf_append(out, &c, 1))
            return 0;
        i += k;
    }
    return 1;
}

static int apply_step(const tg__dec *d, tg__buf *out, const char *s, size_t n, int first)
{
    switch (d->kind) {
    case TG__DEC_REPLACE:
        return replace_all(out, s, n, d->from, d->from_len, d->to, d->to_len);
    case TG__DEC_METASPACE:
        return replace_all(out, s, n, d->from, d->from_len, " ", first && d->first_drop ? 0 : 1);
    case TG__DEC_STRIP: {
        size_t a = 0, b = n;
        for (int32_t k = 0;
             k < d->start && b - a >= d->from_len && memcmp(s + a, d->from, d->from_len) == 0; k++)
            a += d->from_len;
        for (int32_t k = 0; k < d->stop && b - a >= d->from_len &&
                            memcmp(s + b - d->from_len, d->from, d->from_len) == 0;
             k++)
            b -= d->from_len;
        return tg__buf_append(out, s + a, b - a);
    }
    case TG__DEC_BYTEFALLBACK:
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexdig(s[3]) >= 0 &&
            hexdig(s[4]) >= 0) {
            unsigned char c = (unsigned char)(hexdig(s[3]) * 16 + hexdig(s[4]));
            return tg__buf_append(out, &c, 1);
        }
        return tg__buf_append(out, s, n);
    default:
        return byte_level(out, s, n);
    }
}

tg_status tg__decode_token(const tg_tokenizer *tok, const char *piece, size_t len, int first,
                           tg__buf *out, tg__buf *scratch)
{
    out->len = 0;
    if (!tg__buf_append(out, piece, len))
        return tg__error(TG_ENOMEM, "tokenizer: out of memory decoding a token");
    for (size_t k = 0; k < tok->n_dec; k++) {
        scratch->len = 0;
        if (!tg__buf_reserve(scratch, out->len + 1) ||
            !apply_step(&tok->dec[k], scratch, out->data, out->len, first))
            return tg__error(TG_ENOMEM, "tokenizer: out of memory decoding a token");
        tg__buf swap = *out;
        *out = *scratch;
        *scratch = swap;
    }
    if (!tg__buf_reserve(out, 1))
        return tg__error(TG_ENOMEM, "tokenizer: out of memory decoding a token");
    out->data[out->len] = '\0';
    return TG_OK;
}

/* The position-dependent part of decoding, shared by tg_tokenizer_decode() and the stream. */
typedef struct decode_pos {
    int first;          /* no token written yet */
    int32_t strip_left; /* Strip after Fuse: how many more leading copies may go */
} decode_pos;

static void decode_pos_init(decode_pos *p, const tg_tokenizer *tok)
{
    p->first = 1;
    p->strip_left = tok->dec_strip_n;
}

/* The bytes of `id` at this position (*b borrowed from the tokenizer or from tmp). */
static tg_status token_bytes(const tg_tokenizer *tok, decode_pos *p, int32_t id, tg__buf *tmp,
                             const char **b, size_t *k)
{
    *b = tok->bytes + tok->bytes_off[id];
    *k = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
    if (p->first && tok->dec_first_differs) {
        tg__buf scratch = {0};
        tg_status st =
            tg__decode_token(tok, tok->pieces + tok->piece_off[id],
                             tok->piece_off[id + 1] - tok->piece_off[id] - 1, 1, tmp, &scratch);
        free(scratch.data);
        if (st != TG_OK)
            return st;
        *b = tmp->data;
        *k = tmp->len;
    }
    p->first = 0;
    while (p->strip_left > 0 && *k > 0 && (unsigned char)(*b)[0] == tok->dec_strip_char) {
        (*b)++;
        (*k)--;
        p->strip_left--;
    }
    if (*k > 0)
        p->strip_left = 0;
    return TG_OK;
}

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
    tg_error_clear();
    TG_CHECK_ARG(ids_out, "ids_out");
    *ids_out = NULL;
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(tok, "tok");
    *ids_out = tok->n_special ? tok->special_ids : NULL;
    *n_out = tok->n_special;
    return TG_OK;
}

tg_status tg_tokenizer_template(const int32_t **prefix_out, size_t *n_prefix_out,
                                const int32_t **suffix_out, size_t *n_suffix_out,
                                const tg_tokenizer *tok)
{
    tg_error_clear();
    TG_CHECK_ARG(prefix_out, "prefix_out");
    *prefix_out = NULL;
    TG_CHECK_ARG(n_prefix_out, "n_prefix_out");
    *n_prefix_out = 0;
    TG_CHECK_ARG(suffix_out, "suffix_out");
    *suffix_out = NULL;
    TG_CHECK_ARG(n_suffix_out, "n_suffix_out");
    *n_suffix_out = 0;
    TG_CHECK_ARG(tok, "tok");
    *prefix_out = tok->n_prefix ? tok->prefix_ids : NULL;
    *n_prefix_out = tok->n_prefix;
    *suffix_out = tok->n_suffix ? tok->suffix_ids : NULL;
    *n_suffix_out = tok->n_suffix;
    return TG_OK;
}

int32_t tg_tokenizer_adds_bos(const tg_tokenizer *tok)
{
    return tok && tok->n_prefix > 0 && tok->bos_id >= 0 && tok->prefix_ids[0] == tok->bos_id;
}

static tg_status bad_id(const char *fn, int32_t id, const tg_tokenizer *tok)
{
    return tg__error(TG_EINVAL, "%s: token id %d is outside the vocabulary [0, %d)", fn, id,
                     tok->n_vocab);
}

tg_status tg_tokenizer_token_to_piece(const char **piece_out, size_t *len_out,
                                      const tg_tokenizer *tok, int32_t id)
{
    tg_error_clear();
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
    tg_error_clear();
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
    tg_error_clear();
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
    tg_error_clear();
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
    tg__buf raw = {0}, first = {0};
    if (!tg__buf_reserve(&raw, total + 1))
        return tg__error(TG_ENOMEM, "tg_tokenizer_decode: out of memory (%zu bytes)", total);
    decode_pos pos;
    decode_pos_init(&pos, tok);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip && tok->is_special[id])
            continue;
        const char *b;
        size_t k;
        tg_status st = token_bytes(tok, &pos, id, &first, &b, &k);
        if (st != TG_OK || !tg__buf_append(&raw, b, k)) {
            free(raw.data);
            free(first.data);
            return st != TG_OK ? st : tg__error(TG_ENOMEM, "tg_tokenizer_decode: out of memory");
        }
    }
    free(first.data);
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
    tg__buf work;  /* held bytes + the new token's bytes */
    tg__buf out;   /* the chunk handed to the caller */
    tg__buf first; /* the first token's bytes when they differ */
    decode_pos pos;
};

tg_status tg_detokenizer_create(tg_detokenizer **out, const tg_tokenizer *tok, uint32_t flags)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(tok, "tok");
    if (flags & ~(uint32_t)TG_DECODE_SKIP_SPECIAL)
        return tg__error(TG_EINVAL,
                         "tg_detokenizer_create: unknown flags 0x%x (only "
                         "TG_DECODE_SKIP_SPECIAL is allowed)",
                         flags);
    tg_detokenizer *d = tg__calloc(1, sizeof *d);
    if (!d || !tg__buf_reserve(&d->out, 64) || !tg__buf_reserve(&d->work, 64)) {
        tg_detokenizer_free(d);
        return tg__error(TG_ENOMEM, "tg_detokenizer_create: out of memory");
    }
    d->tok = tok;
    d->flags = flags;
    d->out.data[0] = '\0';
    decode_pos_init(&d->pos, tok);
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
    tg_error_clear();
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
    if ((d->flags & TG_DECODE_SKIP_SPECIAL) && tok->is_special[id])
        return detok_emit(d, NULL, 0, 0, text_out, len_out);
    decode_pos saved = d->pos;
    const char *b;
    size_t k;
    tg_status st = token_bytes(tok, &d->pos, id, &d->first, &b, &k);
    if (st == TG_OK)
        st = detok_emit(d, (const unsigned char *)b, k, 0, text_out, len_out);
    if (st != TG_OK)
        d->pos = saved;
    return st;
}

tg_status tg_detokenizer_flush(tg_detokenizer *d, const char **text_out, size_t *len_out)
{
    tg_error_clear();
    TG_CHECK_ARG(text_out, "text_out");
    *text_out = "";
    if (len_out)
        *len_out = 0;
    TG_CHECK_ARG(d, "detok");
    tg_status st = detok_emit(d, NULL, 0, 1, text_out, len_out);
    decode_pos_init(&d->pos, d->tok); /* what comes next is a new text */
    return st;
}

void tg_detokenizer_reset(tg_detokenizer *d)
{
    if (d) {
        d->n_held = 0;
        decode_pos_init(&d->pos, d->tok);
    }
}

void tg_detokenizer_free(tg_detokenizer *d)
{
    if (!d)
        return;
    free(d->work.data);
    free(d->out.data);
    free(d->first.data);
    free(d);
}
