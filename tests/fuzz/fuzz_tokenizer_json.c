/* fuzz_tokenizer_json.c — tokenizer.json (and tokenizer_config.json), through
 * tg_tokenizer_load() of a folder. Input: tokenizer.json, optionally followed by a NUL byte and
 * a tokenizer_config.json (JSON text holds no NUL byte, so the split is unambiguous). A tokenizer
 * that loads must pass fzt_exercise(). (fuzz_tokenizer.c fuzzes encode/decode/streaming with
 * GPT-2 itself.) */
#include "fuzz_common.h"
#include "fuzz_tok_util.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <textgen/textgen.h>

static char *dir, *json_path, *config_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    dir = fz_path("tok");
    g_mkdir_with_parents(dir, 0700);
    json_path = g_build_filename(dir, "tokenizer.json", NULL);
    config_path = g_build_filename(dir, "tokenizer_config.json", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    fz_write(json_path, data, json_len);
    if (nul)
        fz_write(config_path, nul + 1, size - json_len - 1);
    else
        g_remove(config_path);
    tg_tokenizer *tok = NULL;
    if (tg_tokenizer_load(&tok, dir, NULL) == TG_OK) {
        fzt_exercise(tok);
        tg_tokenizer_free(tok);
    } else if (tok || !tg_error_last()[0]) {
        fz_fail("a failed load must leave *out NULL and say why");
    }
    return 0;
}
