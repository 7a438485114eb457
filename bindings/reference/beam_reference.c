/* beam_reference.c — the C library's own beam search result, for the bindings' tests to compare
 * against (ids and scores for the same options).
 *
 * Usage: beam_reference PROMPT NUM_BEAMS NUM_RETURN MAX_NEW EARLY_STOPPING SAMPLERS BEAM_SCORERS
 * (SAMPLERS or BEAM_SCORERS "" for the defaults). Loads the default model (tg_model_load_default:
 * $TEXTGEN_MODEL or the bundled one), generates with TG_GEN_NO_CONFIG and seed 0, and prints one
 * line per sequence, best first: "score stop_reason id id ...", the score with 17 significant
 * digits so it reads back as the same double. */
#include <stdio.h>
#include <stdlib.h>
#include <textgen/textgen.h>

static int fail(const char *what)
{
    fprintf(stderr, "beam_reference: %s: %s\n", what, tg_error_last());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr,
                "usage: %s PROMPT NUM_BEAMS NUM_RETURN MAX_NEW EARLY_STOPPING SAMPLERS "
                "BEAM_SCORERS\n",
                argv[0]);
        return 2;
    }
    tg_model *model;
    if (tg_model_load_default(&model, NULL) != TG_OK)
        return fail("loading the default model");
    tg_generate_options opts = TG_GENERATE_OPTIONS_INIT;
    opts.num_beams = atoi(argv[2]);
    opts.num_return_sequences = atoi(argv[3]);
    opts.max_new_tokens = atoi(argv[4]);
    opts.early_stopping = atoi(argv[5]);
    opts.samplers = argv[6][0] ? argv[6] : NULL;
    opts.beam_scorers = argv[7][0] ? argv[7] : NULL;
    opts.flags = TG_GEN_NO_CONFIG;
    tg_result *result;
    if (tg_generate(&result, model, argv[1], &opts) != TG_OK) {
        int rc = fail("generating");
        tg_model_free(model);
        return rc;
    }
    for (size_t s = 0; s < tg_result_n_sequences(result); s++) {
        size_t n;
        const int32_t *ids = tg_result_sequence_tokens(result, s, &n);
        printf("%.17g %s", tg_result_sequence_score(result, s),
               tg_stop_reason_str(tg_result_sequence_stop_reason(result, s)));
        for (size_t i = 0; i < n; i++)
            printf(" %d", (int)ids[i]);
        printf("\n");
    }
    tg_result_free(result);
    tg_model_free(model);
    return 0;
}
