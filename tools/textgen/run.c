/* tools/textgen/run.c — the modes that use a model: --tokenize, and generation with its
 * companions --explain / --explain-svg (recorded during it), --json and the statistics (after
 * it). */
#include "cli.h"

int cli_encode_prompt(int32_t **ids_out, size_t *n_out, const tg_tokenizer *tok, const char *prompt)
{
    int32_t *ids = NULL;
    size_t n = 0;
    /* the ids tg_generate() runs: the tokenizer's template (e.g. Llama's bos) around the text */
    if (tg_tokenizer_encode(&ids, &n, tok, prompt, TG_NUL_TERMINATED, TG_ENCODE_ADD_SPECIAL) !=
        TG_OK) {
        cli_error_tg("cannot tokenize the prompt");
        return CLI_EXIT_RUNTIME;
    }
    if (ids_out)
        *ids_out = ids;
    else
        tg_free(ids);
    if (n_out)
        *n_out = n;
    return CLI_EXIT_OK;
}

int cli_run_tokenize(const char *model_dir, const char *prompt)
{
    tg_tokenizer *tok;
    if (tg_tokenizer_load(&tok, model_dir, NULL) != TG_OK) {
        cli_error_tg("cannot load the tokenizer of '%s'", model_dir);
        return CLI_EXIT_RUNTIME;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = cli_encode_prompt(&ids, &n, tok, prompt);
    if (rc == CLI_EXIT_OK)
        cli_print_ids_json(ids, n);
    tg_free(ids);
    tg_tokenizer_free(tok);
    return rc;
}

/* Check the spec against the model before anything is printed. */
static int check_spec(const tg_model *model, const char *spec)
{
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = model;
    tg_chain *chain;
    if (tg_chain_parse(&chain, spec, &co) != TG_OK) {
        cli_error_tg("bad sampler spec");
        return CLI_EXIT_RUNTIME;
    }
    tg_chain_free(chain);
    return CLI_EXIT_OK;
}

int cli_run_model(const cli_options *o, const char *model_dir, const char *prompt)
{
    char *spec = cli_spec_from_options(o);
    char *scorers = cli_scorers_from_options(o);
    double t0 = cli_now();
    tg_model *model = NULL;
    int rc = CLI_EXIT_OK;
    tg_model_options mo = TG_MODEL_OPTIONS_INIT;
    mo.weight_type = o->weights;
    mo.kv_type = o->kv_type;
    if (tg_model_load(&model, model_dir, &mo) != TG_OK) {
        cli_error_tg("cannot load model '%s'", model_dir);
        rc = CLI_EXIT_RUNTIME;
    }
    ex_trace explained = {0};
    cli_run run = {o,    model,   prompt,
                   spec, scorers, cli_now() - t0,
                   NULL, NULL,    o->explain ? o->explain : CLI_EXPLAIN_DEFAULT_STEPS};
    if (o->explain || o->explain_svg)
        run.explain = &explained;
    /* A prompt the tokenizer cannot take fails here, with the same message and exit code as
     * --tokenize, before anything is printed. */
    if (rc == CLI_EXIT_OK && tg_model_tokenizer(model))
        rc = cli_encode_prompt(NULL, NULL, tg_model_tokenizer(model), prompt);
    if (rc == CLI_EXIT_OK && spec)
        rc = check_spec(model, spec);
    if (rc == CLI_EXIT_OK)
        rc = cli_generate(&run);
    if (rc == CLI_EXIT_OK && o->explain_svg)
        rc = cli_explain_svg(o->explain_svg, &explained);
    if (rc == CLI_EXIT_OK && o->json)
        rc = cli_print_json(&run);
    if (rc == CLI_EXIT_OK)
        cli_print_stats(&run);
    cli_explain_free(&explained);
    tg_result_free(run.result);
    tg_model_free(model);
    g_free(scorers);
    g_free(spec);
    return rc;
}
