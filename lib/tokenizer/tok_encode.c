/* tokenizer/tok_encode.c — text -> ids, in HF's order: added tokens are found in the raw text
 * (those with normalized=false); each stretch between them is normalized, and searched for the
 * added tokens with normalized=true; each remaining stretch is pre-tokenized into words
 * (tok_pretok.c) that the BPE model encodes (tok_bpe.c). TG_ENCODE_ADD_SPECIAL then puts the
 * post-processor's ids around the result. */
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* Length of the White_Space run that ends at s[n] (going left) / starts at s[0]. */
static size_t spaces_before(const unsigned char *s, size_t n)
{
    size_t i = n;
    while (i > 0) {
        size_t j = i - 1;
        while (j > 0 && (s[j] & 0xC0) == 0x80 && i - j < 4)
            j--;
        uint32_t cp;
        size_t k = tg__utf8_decode(s + j, i - j, &cp);
        if (k != i - j || !tg__is_white_space(cp))
            break;
        i = j;
    }
    return n - i;
}

static size_t spaces_after(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = tg__utf8_decode(s + i, n - i, &cp);
        if (k == 0 || !tg__is_white_space(cp))
            break;
        i += k;
    }
    return i;
}

typedef void (*segment_fn)(tg__enc *e, const unsigned char *s, size_t n, size_t base);

/* Split s[0..n) at the added tokens of `set` (the longest match at the leftmost position wins;
 * special ones only when allowed): the text between them goes to seg_fn, the tokens' ids to the
 * output. lstrip / rstrip tokens take the White_Space next to them. `base`: offset of s in the
 * text seg_fn sees as a whole. */
static void split_added(tg__enc *e, const tg__added_set *set, int allow_special,
                        const unsigned char *s, size_t n, size_t base, segment_fn seg_fn)
{
    size_t n_match = allow_special ? set->n : set->n_plain;
    uint8_t first_mask = allow_special ? 1 : 2;
    size_t seg = 0;
    if (n_match) {
        for (size_t i = 0; i < n && tg__enc_ok(e); i++) {
            if (!(set->first[s[i]] & first_mask))
                continue;
            const tg__added *hit = NULL;
            for (size_t a = 0; a < set->n; a++) {
                const tg__added *t = &set->tok[a];
                if ((t->special && !allow_special) || t->len > n - i)
                    continue;
                if (memcmp(s + i, t->text, t->len) == 0) {
                    hit = t;
                    break;
                }
            }
            if (!hit)
                continue;
            size_t start = i, stop = i + hit->len;
            if (hit->lstrip)
                start -= spaces_before(s + seg, i - seg);
            if (hit->rstrip)
                stop += spaces_after(s + stop, n - stop);
            seg_fn(e, s + seg, start - seg, base + seg);
            tg__idvec_push(&e->out, hit->id);
            seg = stop;
            i = stop - 1;
        }
    }
    if (tg__enc_ok(e))
        seg_fn(e, s + seg, n - seg, base + seg);
}

/* A stretch of normalized text: the normalized added tokens, then pre-tokenization. `base` is
 * 0 when the stretch starts the caller's text. */
static void normalized_segment(tg__enc *e, const unsigned char *s, size_t n, size_t base)
{
    tg__pretokenize(e, 0, s, n, base == 0);
}

/* A stretch of the caller's text between added tokens: normalize it, then the second pass. */
static void raw_segment(tg__enc *e, const unsigned char *s, size_t n, size_t base)
{
    if (n == 0)
        return;
    const tg_tokenizer *tok = e->tok;
    tg__buf norm = {0};
    const unsigned char *t;
    size_t m;
    tg_status st = tg__normalize(tok, s, n, &norm, &t, &m);
    if (st != TG_OK) {
        e->st = st;
        free(norm.data);
        return;
    }
    /* Offsets after normalization are not the caller's, but "starts the text" carries over. */
    split_added(e, &tok->added_norm, e->allow_special, t, m, base == 0 ? 0 : 1, normalized_segment);
    free(norm.data);
}

static tg_status encode_all(const tg_tokenizer *tok, tg__enc *e, uint32_t flags)
{
    if ((flags & TG_ENCODE_ADD_BOS) && (flags & TG_ENCODE_ADD_SPECIAL))
        return tg__error(TG_EINVAL, "tg_tokenizer_encode: give TG_ENCODE_ADD_BOS or "
                                    "TG_ENCODE_ADD_SPECIAL, not both (the template may add bos "
                                    "itself)");
    if (flags & TG_ENCODE_ADD_BOS) {
        if (tok->bos_id < 0)
            return tg__error(TG_ESTATE, "tg_tokenizer_encode: TG_ENCODE_ADD_BOS given but the "
                                        "tokenizer has no bos token");
        tg__idvec_push(&e->out, tok->bos_id);
    }
    if (flags & TG_ENCODE_ADD_SPECIAL)
        for (size_t i = 0; i < tok->n_prefix; i++)
            tg__idvec_push(&e->out, tok->prefix_ids[i]);
    /* A plain BPE tokenizer without byte fallback encodes characters: the text must be UTF-8
     * (checked here, where the offset of a bad byte is still the caller's). */
    if (tok->kind == TG_TOKENIZER_BPE && !tok->byte_fallback) {
        size_t i = 0;
        while (i < e->text_len) {
            uint32_t cp;
            size_t k = tg__utf8_decode(e->text + i, e->text_len - i, &cp);
            if (k == 0)
                return tg__error(TG_EINVAL,
                                 "tg_tokenizer_encode: text is not valid UTF-8 at byte offset "
                                 "%zu (byte 0x%02X)",
                                 i, e->text[i]);
            i += k;
        }
    }
    split_added(e, &tok->added_raw, e->allow_special, e->text, e->text_len, 0, raw_segment);
    if (e->st != TG_OK)
        return e->st;
    if (flags & TG_ENCODE_ADD_SPECIAL)
        for (size_t i = 0; i < tok->n_suffix; i++)
            tg__idvec_push(&e->out, tok->suffix_ids[i]);
    if (e->out.oom)
        return tg__error(TG_ENOMEM, "tg_tokenizer_encode: out of memory (%zu bytes of text)",
                         e->text_len);
    return TG_OK;
}

#define ENCODE_FLAGS (TG_ENCODE_ALLOW_SPECIAL | TG_ENCODE_ADD_BOS | TG_ENCODE_ADD_SPECIAL)

tg_status tg_tokenizer_encode(int32_t **ids_out, size_t *n_out, const tg_tokenizer *tok,
                              const char *text, size_t len, uint32_t flags)
{
    tg_error_clear();
    TG_CHECK_ARG(ids_out, "ids_out");
    *ids_out = NULL;
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(tok, "tok");
    TG_CHECK_ARG(text || len == 0, "text");
    if (flags & ~(uint32_t)ENCODE_FLAGS)
        return tg__error(TG_EINVAL, "tg_tokenizer_encode: unknown flags 0x%x",
                         flags & ~(uint32_t)ENCODE_FLAGS);
    if (len == TG_NUL_TERMINATED)
        len = strlen(text);
    tg__enc e = {tok,   {0},
                 TG_OK, (const unsigned char *)(text ? text : ""),
                 len,   (flags & TG_ENCODE_ALLOW_SPECIAL) != 0};
    tg_status st = encode_all(tok, &e, flags);
    if (st != TG_OK) {
        free(e.out.data);
        return st;
    }
    if (e.out.len == 0) {
        free(e.out.data);
        e.out.data = NULL;
    }
    *ids_out = e.out.data;
    *n_out = e.out.len;
    return TG_OK;
}

tg_status tg_tokenizer_encode_into(int32_t *ids, size_t capacity, size_t *n_out,
                                   const tg_tokenizer *tok, const char *text, size_t len,
                                   uint32_t flags)
{
    tg_error_clear();
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(ids || capacity == 0, "ids");
    int32_t *tmp = NULL;
    size_t n = 0;
    tg_status st = tg_tokenizer_encode(&tmp, &n, tok, text, len, flags);
    if (st != TG_OK)
        return st;
    *n_out = n;
    if (n && capacity)
        memcpy(ids, tmp, (n < capacity ? n : capacity) * sizeof *ids);
    free(tmp);
    if (n > capacity)
        return tg__error(TG_ERANGE,
                         "tg_tokenizer_encode_into: the text encodes to %zu ids, the buffer "
                         "holds %zu",
                         n, capacity);
    return TG_OK;
}
