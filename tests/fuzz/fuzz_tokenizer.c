/* libFuzzer target for the tokenizer (clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks a mode and, for modes 0 and 1, a tokenizer: GPT-2, or one of the
 * small tokenizers of tests/data/tokenizer/tiny in the formats of Llama 3 (Split regex +
 * ByteLevel, NFKC, added tokens with lstrip/rstrip/normalized, a template), Llama 2 (Prepend /
 * Replace normalizer, byte fallback, Strip decoder) and Metaspace:
 *   0: encode the rest (with and without special tokens and the template). It never fails (the
 *      four accept any bytes); GPT-2 decodes them back exactly, the others when the text is
 *      plain printable ASCII; streaming the ids equals decoding them at once, in valid UTF-8
 *      chunks, with and without TG_DECODE_SKIP_SPECIAL;
 *   1: read the rest as ids (int32, taken modulo n_vocab + 8 so some are out of range): decode and
 *      stream must agree, and bad ids must fail cleanly;
 *   2: load the rest as a tokenizer.json (errors are fine; crashes and leaks are not), and if it
 *      loads, encode and decode a fixed text with it.
 * The data is read from $TG_TEST_DATA/tokenizer (default: the source tree's tests/data).
 * Run: bench/fuzz.sh tokenizer SECONDS (or tests/fuzz/run_fuzz_tokenizer.sh [SECONDS]); the
 * corpus replays under meson test (tests/fuzz/). */
#include "tokenizer/tokenizer_internal.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TG_FUZZ_DATA
#define TG_FUZZ_DATA "tests/data"
#endif

enum { N_TOKS = 4 };
static const char *const tok_dirs[N_TOKS] = {"gpt2", "tiny/bytelevel", "tiny/sentencepiece",
                                             "tiny/metaspace"};
static tg_tokenizer *toks[N_TOKS];
static char tmp_json[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *root = getenv("TG_TEST_DATA");
    for (int t = 0; t < N_TOKS; t++) {
        char *dir = g_build_filename(root ? root : TG_FUZZ_DATA, "tokenizer", tok_dirs[t], NULL);
        if (tg_tokenizer_load(&toks[t], dir, NULL) != TG_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", tg_error_last());
            abort();
        }
        g_free(dir);
    }
    snprintf(tmp_json, sizeof tmp_json, "/tmp/fuzz_tokenizer_%d.json", (int)getpid());
    return 0;
}

/* Printable ASCII without '<' and "fix" (the added tokens of tiny/bytelevel, which lose or
 * change text), and not starting with a space (Metaspace does not prepend "▁" to a text that
 * starts with one, and the decoder strips one: HF loses that space too): what every tokenizer
 * here must give back exactly. */
static int plain_ascii(const uint8_t *s, size_t n)
{
    if (n && s[0] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7E || s[i] == '<')
            return 0;
    return !memmem(s, n, "fix", 3);
}

static int utf8_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        const char *nul = memchr(s + i, '\0', n - i);
        size_t seg = nul ? (size_t)(nul - (s + i)) : n - i;
        if (!g_utf8_validate_len(s + i, seg, NULL))
            return 0;
        i += seg + (nul ? 1 : 0);
    }
    return 1;
}

static void check_stream_flags(const tg_tokenizer *tok, const int32_t *ids, size_t n,
                               uint32_t flags)
{
    char *whole = NULL;
    size_t wl = 0;
    tg_status st = tg_tokenizer_decode(&whole, &wl, tok, ids, n, flags);
    tg_detokenizer *d = NULL;
    if (tg_detokenizer_create(&d, tok, flags) != TG_OK)
        abort();
    GString *acc = g_string_new("");
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c;
        size_t cl;
        if (tg_detokenizer_feed(d, ids[i], &c, &cl) != TG_OK) {
            failed = 1;
            continue;
        }
        if (!utf8_ok(c, cl))
            abort();
        g_string_append_len(acc, c, (gssize)cl);
    }
    const char *c;
    size_t cl;
    if (tg_detokenizer_flush(d, &c, &cl) != TG_OK || !utf8_ok(c, cl))
        abort();
    g_string_append_len(acc, c, (gssize)cl);
    if ((st == TG_OK) == failed) /* decode fails exactly when some id is bad */
        abort();
    if (st == TG_OK && (acc->len != wl || memcmp(acc->str, whole, wl) != 0 || !utf8_ok(whole, wl)))
        abort();
    free(whole); /* tg_free() is free() */
    g_string_free(acc, TRUE);
    tg_detokenizer_free(d);
}

static void check_stream(const tg_tokenizer *tok, const int32_t *ids, size_t n)
{
    check_stream_flags(tok, ids, n, 0);
    check_stream_flags(tok, ids, n, TG_DECODE_SKIP_SPECIAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    const tg_tokenizer *tok = toks[(data[0] / 3) % N_TOKS];
    int exact = tok == toks[0]; /* GPT-2 gives any bytes back */
    data++;
    size--;
    if (mode == 0) {
        static const uint32_t flag_sets[] = {0, TG_ENCODE_ALLOW_SPECIAL,
                                             TG_ENCODE_ALLOW_SPECIAL | TG_ENCODE_ADD_SPECIAL};
        for (int f = 0; f < 3; f++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tg_tokenizer_encode(&ids, &n, tok, (const char *)data, size, flag_sets[f]) != TG_OK)
                abort();
            if (f == 0 && (exact || plain_ascii(data, size))) {
                char *text = NULL;
                size_t tl = 0;
                if (tg_tokenizer_decode(&text, &tl, tok, ids, n, TG_DECODE_RAW_BYTES) != TG_OK)
                    abort();
                if (tl != size || (size && memcmp(text, data, size) != 0))
                    abort();
                free(text);
            }
            check_stream(tok, ids, n);
            free(ids);
        }
    } else if (mode == 1) {
        size_t n = size / 4;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, data + 4 * i, 4);
            ids[i] = (int32_t)(v % (uint32_t)(tg_tokenizer_n_vocab(tok) + 8));
        }
        check_stream(tok, ids, n);
        free(ids);
    } else {
        FILE *f = fopen(tmp_json, "wb");
        if (!f)
            return 0;
        fwrite(data, 1, size, f);
        fclose(f);
        tg_tokenizer *loaded = NULL;
        if (tg_tokenizer_load(&loaded, tmp_json, NULL) == TG_OK) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tg_tokenizer_encode(&ids, &n, loaded, "Hello, world! 123 <s>\xff", 22,
                                    TG_ENCODE_ALLOW_SPECIAL | TG_ENCODE_ADD_SPECIAL) == TG_OK) {
                check_stream(loaded, ids, n);
                free(ids);
            }
            tg_tokenizer_free(loaded);
        }
        unlink(tmp_json);
    }
    return 0;
}
