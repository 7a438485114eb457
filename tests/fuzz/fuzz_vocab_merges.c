/* fuzz_vocab_merges.c — the GPT-2 pair vocab.json + merges.txt, through
 * tg_tokenizer_load_vocab_merges(). Input: vocab.json, then a NUL byte, then merges.txt (no NUL
 * byte: merges.txt is empty). A tokenizer that loads must pass fzt_exercise(). */
#include "fuzz_common.h"
#include "fuzz_tok_util.h"

#include <glib.h>
#include <string.h>
#include <textgen/textgen.h>

static char *vocab_path, *merges_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    vocab_path = fz_path("vocab.json");
    merges_path = fz_path("merges.txt");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t vocab_len = nul ? (size_t)(nul - data) : size;
    fz_write(vocab_path, data, vocab_len);
    fz_write(merges_path, nul ? nul + 1 : data, nul ? size - vocab_len - 1 : 0);
    tg_tokenizer *tok = NULL;
    if (tg_tokenizer_load_vocab_merges(&tok, vocab_path, merges_path, NULL) == TG_OK) {
        fzt_exercise(tok);
        tg_tokenizer_free(tok);
    } else if (tok || !tg_error_last()[0]) {
        fz_fail("a failed load must leave *out NULL and say why");
    }
    return 0;
}
