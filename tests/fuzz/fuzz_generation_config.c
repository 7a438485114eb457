/* fuzz_generation_config.c — generation_config.json, through tg_model_load() of the char_tiny
 * test model. Input: the whole generation_config.json. When the folder loads, what the file
 * implies must work: the default sampler spec parses into a chain, the end ids are in the
 * vocabulary, and tg_generate() with those defaults makes three tokens. */
#include "fuzz_common.h"
#include "fuzz_model_util.h"

#include <glib.h>
#include <textgen/textgen.h>

static char *dir, *genconfig;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    dir = fzm_copy_model("char_tiny", "model", FZM_ALL & ~FZM_GENCONFIG);
    genconfig = g_build_filename(dir, "generation_config.json", NULL);
    return 0;
}

static void check_defaults(const tg_model *model)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    if (tg_model_get_info(&info, model) != TG_OK)
        fz_fail("tg_model_get_info");
    const int32_t *ids = NULL;
    size_t n = 0;
    if (tg_model_end_ids(&ids, &n, model, 0) != TG_OK)
        fz_fail("tg_model_end_ids");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= info.n_vocab)
            fz_fail("an end id outside the vocabulary");
    const char *spec = tg_model_default_samplers(model);
    if (spec) {
        tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
        co.model = model;
        tg_chain *chain = NULL;
        if (tg_chain_parse(&chain, spec, &co) != TG_OK)
            fz_fail("the spec generation_config.json implies does not parse");
        tg_chain_free(chain);
    }
    tg_generate_options go = TG_GENERATE_OPTIONS_INIT;
    go.max_new_tokens = 3;
    go.seed = 7;
    go.n_threads = 1;
    tg_result *res = NULL;
    if (tg_generate(&res, model, "ROMEO:", &go) != TG_OK)
        fz_fail("tg_generate with the defaults of an accepted generation_config.json");
    size_t n_tokens = 0;
    tg_result_tokens(res, &n_tokens);
    if (n_tokens > 3)
        fz_fail("more tokens than max_new_tokens");
    tg_result_free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(genconfig, data, size);
    tg_model *model = NULL;
    tg_status st = tg_model_load(&model, dir, NULL);
    if (st == TG_OK) {
        check_defaults(model);
        tg_model_free(model);
    } else if (model || !tg_error_last()[0]) {
        fz_fail("a failed load must leave *out NULL and say why");
    }
    return 0;
}
