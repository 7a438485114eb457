/* fuzz_tok_util.c — see fuzz_tok_util.h. */
#include "fuzz_tok_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_facts(const tg_tokenizer *tok)
{
    const int32_t n = tg_tokenizer_n_vocab(tok);
    if (n < 1)
        fz_fail("a loaded tokenizer has no tokens");
    const int32_t kind = tg_tokenizer_kind(tok);
    if (kind != TG_TOKENIZER_BYTE_BPE && kind != TG_TOKENIZER_BPE)
        fz_fail("unknown tokenizer kind");
    const int32_t special_ids[2] = {tg_tokenizer_bos(tok), tg_tokenizer_eos(tok)};
    for (int i = 0; i < 2; i++)
        if (special_ids[i] != TG_TOKEN_NONE && (special_ids[i] < 0 || special_ids[i] >= n))
            fz_fail("bos or eos outside the vocabulary");
    const int32_t *ids = NULL;
    size_t n_special = 0;
    if (tg_tokenizer_special_tokens(&ids, &n_special, tok) != TG_OK)
        fz_fail("tg_tokenizer_special_tokens");
    for (size_t i = 0; i < n_special; i++)
        if (ids[i] < 0 || ids[i] >= n || (i && ids[i] <= ids[i - 1]) ||
            !tg_tokenizer_is_special(tok, ids[i]))
            fz_fail("special tokens not increasing, outside the vocabulary, or not special");
    for (int32_t id = 0; id < n && id < 4096; id++) {
        const char *piece = NULL, *bytes = NULL;
        size_t plen = 0, blen = 0;
        if (tg_tokenizer_token_to_bytes(&bytes, &blen, tok, id) != TG_OK)
            fz_fail("token_to_bytes of an id inside the vocabulary");
        if (tg_tokenizer_token_to_piece(&piece, &plen, tok, id) != TG_OK)
            fz_fail("token_to_piece of an id inside the vocabulary");
        if (plen == 0)
            continue; /* an id no entry uses */
        int32_t back = -1;
        if (tg_tokenizer_piece_to_token(&back, tok, piece, plen) != TG_OK)
            fz_fail("piece_to_token of a vocabulary entry");
        const char *other = NULL;
        size_t olen = 0;
        if (tg_tokenizer_token_to_piece(&other, &olen, tok, back) != TG_OK || olen != plen ||
            memcmp(other, piece, plen) != 0)
            fz_fail("piece_to_token gives an id with another piece");
    }
}

static void check_round_trip(const tg_tokenizer *tok, const char *text, size_t len)
{
    const int byte_level = tg_tokenizer_kind(tok) == TG_TOKENIZER_BYTE_BPE;
    int32_t *ids = NULL;
    size_t n = 0;
    tg_status st = tg_tokenizer_encode(&ids, &n, tok, text, len, 0);
    if (st != TG_OK) {
        if (byte_level)
            fz_fail("a byte-level tokenizer failed to encode");
        if (!tg_error_last()[0])
            fz_fail("encode failed without a message");
        return;
    }
    char *back = NULL;
    size_t blen = 0;
    if (tg_tokenizer_decode(&back, &blen, tok, ids, n, TG_DECODE_RAW_BYTES) != TG_OK)
        fz_fail("decoding what encode produced");
    /* A ByteLevel pre-tokenizer with add_prefix_space (its default) adds one space in front,
     * and decoding keeps it, as Hugging Face does. */
    const int prefixed = blen == len + 1 && back[0] == ' ' && memcmp(back + 1, text, len) == 0;
    if (!prefixed && (blen != len || memcmp(back, text, len) != 0)) {
        char *a = g_strescape(text, NULL), *b = g_strescape(back, NULL);
        fprintf(stderr, "fuzz: text    \"%s\"\nfuzz: decoded \"%s\" (%zu ids)\n", a, b, n);
        g_free(a);
        g_free(b);
        fz_fail("decode(encode(text)) differs from the text");
    }
    tg_free(back);
    tg_free(ids);
}

void fzt_exercise(const tg_tokenizer *tok)
{
    static const char *const samples[] = {
        "Hello, world! 123",
        "ROMEO:\nWhat say'st thou?  \t end",
        "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac",
        "<|endoftext|> the end",
        "\xff\xfe a\x80 \xc3",
    };
    check_facts(tok);
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        if (i == 4 && tg_tokenizer_kind(tok) != TG_TOKENIZER_BYTE_BPE)
            continue; /* only a byte-level tokenizer takes invalid UTF-8 */
        check_round_trip(tok, samples[i], strlen(samples[i]));
    }
}
