/* libFuzzer target for the tokenizer (clang -fsanitize=fuzzer,address,undefined).
 *
 * The first input byte picks a mode:
 *   0: encode the rest with GPT-2 (byte-level): decode must give the bytes back exactly, and
 *      streaming the ids must equal decoding them at once, in valid UTF-8 chunks;
 *   1: read the rest as ids (int32, taken modulo n_vocab + 8 so some are out of range): decode and
 *      stream must agree, and bad ids must fail cleanly;
 *   2: load the rest as a tokenizer.json (errors are fine; crashes and leaks are not), and if it
 *      loads, encode and decode a fixed text with it.
 * GPT-2 is read from $TG_TEST_DATA/tokenizer/gpt2 (default: the source tree's tests/data).
 * Run: bench/fuzz.sh tokenizer SECONDS; the corpus replays under meson test (tests/fuzz/). */
#include "tokenizer/tokenizer_internal.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TG_FUZZ_DATA
#define TG_FUZZ_DATA "tests/data"
#endif

static tg_tokenizer *gpt2;
static char tmp_json[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *root = getenv("TG_TEST_DATA");
    char *dir = g_build_filename(root ? root : TG_FUZZ_DATA, "tokenizer", "gpt2", NULL);
    if (tg_tokenizer_load(&gpt2, dir, NULL) != TG_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", tg_error_last());
        abort();
    }
    g_free(dir);
    snprintf(tmp_json, sizeof tmp_json, "/tmp/fuzz_tokenizer_%d.json", (int)getpid());
    return 0;
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

static void check_stream(const tg_tokenizer *tok, const int32_t *ids, size_t n)
{
    char *whole = NULL;
    size_t wl = 0;
    tg_status st = tg_tokenizer_decode(&whole, &wl, tok, ids, n, 0);
    tg_detokenizer *d = NULL;
    if (tg_detokenizer_create(&d, tok, 0) != TG_OK)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (tg_tokenizer_encode(&ids, &n, gpt2, (const char *)data, size, 0) != TG_OK)
            abort();
        char *text = NULL;
        size_t tl = 0;
        if (tg_tokenizer_decode(&text, &tl, gpt2, ids, n, TG_DECODE_RAW_BYTES) != TG_OK)
            abort();
        if (tl != size || (size && memcmp(text, data, size) != 0))
            abort();
        free(text);
        check_stream(gpt2, ids, n);
        free(ids);
    } else if (mode == 1) {
        size_t n = size / 4;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, data + 4 * i, 4);
            ids[i] = (int32_t)(v % (uint32_t)(tg_tokenizer_n_vocab(gpt2) + 8));
        }
        check_stream(gpt2, ids, n);
        free(ids);
    } else {
        FILE *f = fopen(tmp_json, "wb");
        if (!f)
            return 0;
        fwrite(data, 1, size, f);
        fclose(f);
        tg_tokenizer *tok = NULL;
        if (tg_tokenizer_load(&tok, tmp_json, NULL) == TG_OK) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tg_tokenizer_encode(&ids, &n, tok, "Hello, world! 123", 17, 0) == TG_OK) {
                check_stream(tok, ids, n);
                free(ids);
            }
            tg_tokenizer_free(tok);
        }
        unlink(tmp_json);
    }
    return 0;
}
