/* fuzz_config.c — config.json, through tg_model_load() of a folder whose other files are the
 * char_tiny test model's (weights, tokenizer.json, generation_config.json). Input: the whole
 * config.json. A model that loads must describe itself and decode a token (fzm_exercise). */
#include "fuzz_common.h"
#include "fuzz_model_util.h"

#include <glib.h>
#include <textgen/textgen.h>

static char *dir, *config;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    dir = fzm_copy_model("char_tiny", "model", FZM_ALL & ~FZM_CONFIG);
    config = g_build_filename(dir, "config.json", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(config, data, size);
    tg_model *model = NULL;
    tg_status st = tg_model_load(&model, dir, NULL);
    if (st == TG_OK) {
        fzm_exercise(model);
        tg_model_free(model);
    } else if (model || !tg_error_last()[0]) {
        fz_fail("a failed load must leave *out NULL and say why");
    }
    return 0;
}
