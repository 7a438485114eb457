/* Beam search end to end: the textbook case on a hand-built distribution, every golden of the
 * PyTorch reference (tests/reference/beam: B = 2, 3, 4, length penalties 0, 1, 2, the three
 * early-stopping modes, a model whose end id the beams reach, a repetition penalty, a stop string,
 * diverse groups), streaming, the step API, beam sampling, num_beams = 1 as before, the search
 * defaults of generation_config.json, and errors. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

#define SCORE_TOL 1e-4

static tg_model *tiny, *eos_model;
static JsonParser *goldens;

static void setup(void)
{
    char *dir = tu_data_path("models/char_tiny");
    cr_assert_eq(tg_model_load(&tiny, dir, NULL), TG_OK, "%s", tg_error_last());
    g_free(dir);
    dir = tu_data_path("models/char_eos");
    cr_assert_eq(tg_model_load(&eos_model, dir, NULL), TG_OK, "%s", tg_error_last());
    g_free(dir);
    char *path = g_build_filename(getenv("TG_SOURCE_ROOT"), "tests", "reference", "beam",
                                  "goldens.json", NULL);
    goldens = tu_json_load(path);
    g_free(path);
}

static void teardown(void)
{
    tg_model_free(tiny);
    tg_model_free(eos_model);
    g_object_unref(goldens);
}

TestSuite(beam, .init = setup, .fini = teardown);

static void load_test_plugin(const char *name)
{
    char *file = g_strconcat(name, ".so", NULL);
    char *p = g_build_filename(getenv("TG_TEST_PLUGINS"), file, NULL);
    cr_assert_eq(tg_plugin_load(p), TG_OK, "%s", tg_error_last());
    g_free(p);
    g_free(file);
}

static tg_generate_options beam_options(int32_t beams, int32_t n_return, const char *scorers)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.num_beams = beams;
    o.num_return_sequences = n_return;
    o.beam_scorers = scorers;
    return o;
}

/* ---- the textbook case ---- */

static char *char_text(const tg_result *r, size_t i)
{
    return g_strdup(tg_result_sequence_text(r, i, NULL));
}

Test(beam, the_textbook_case_keeps_the_two_most_probable_paths)
{
    load_test_plugin("beam_tree");
    /* greedy: "nice" (0.5), then "woman" (0.4): 0.20 */
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "test_tree greedy";
    tg_result *r;
    cr_assert_eq(tg_generate(&r, tiny, "The", &o), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(tg_result_text(r, NULL), "nw");
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_EOS);
    tg_result_free(r);
    /* width 2: step 1 keeps "nice" and "dog"; step 2 expands both and keeps the two best totals,
     * "dog has" (0.4 x 0.9 = 0.36) and "nice woman" (0.20); the sum alone ranks (alpha 0) */
    o = beam_options(2, 2, "length_penalty(alpha=0)");
    o.samplers = "test_tree greedy";
    cr_assert_eq(tg_generate(&r, tiny, "The", &o), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_n_sequences(r), 2);
    char *best = char_text(r, 0), *second = char_text(r, 1);
    cr_assert_str_eq(best, "da");
    cr_assert_str_eq(second, "nw");
    cr_assert_float_eq(tg_result_sequence_score(r, 0), log(0.36), 1e-6);
    cr_assert_float_eq(tg_result_sequence_score(r, 1), log(0.20), 1e-6);
    size_t n;
    const int32_t *t = tg_result_sequence_tokens(r, 0, &n);
    cr_assert_eq(n, 3, "two words and the end id");
    cr_assert_eq(t[2], 96);
    const float *lp = tg_result_sequence_logprobs(r, 0, &n);
    cr_assert_float_eq(lp[0], log(0.4), 1e-6);
    cr_assert_float_eq(lp[1], log(0.9), 1e-6);
    cr_assert_float_eq(lp[2], 0.0, 1e-6);
    cr_assert_eq(tg_result_sequence_stop_reason(r, 0), TG_STOP_EOS);
    cr_assert_str_eq(tg_result_text(r, NULL), "da", "the accessors of old name sequence 0");
    g_free(best);
    g_free(second);
    tg_result_free(r);
    /* HF's default alpha 1 divides by 3 tokens: the same order */
    o.beam_scorers = NULL;
    cr_assert_eq(tg_generate(&r, tiny, "The", &o), TG_OK, "%s", tg_error_last());
    cr_assert_float_eq(tg_result_sequence_score(r, 0), log(0.36) / 3, 1e-6);
    tg_result_free(r);
}

/* ---- the reference goldens ---- */

typedef struct stream_log {
    GString *text;
    GArray *ids;
    int calls, valid, null_ids, stop_after_calls;
} stream_log;

static int32_t on_text(const char *text, size_t len, const int32_t *ids, size_t n, void *user)
{
    stream_log *s = user;
    s->calls++;
    if (!ids)
        s->null_ids++;
    if (!g_utf8_validate(text, (gssize)len, NULL))
        s->valid = 0;
    g_string_append_len(s->text, text, (gssize)len);
    if (ids)
        g_array_append_vals(s->ids, ids, (guint)n);
    return s->stop_after_calls && s->calls >= s->stop_after_calls;
}

static void stream_init(stream_log *s)
{
    memset(s, 0, sizeof *s);
    s->text = g_string_new(NULL);
    s->ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    s->valid = 1;
}

static void stream_free(stream_log *s)
{
    g_string_free(s->text, TRUE);
    g_array_free(s->ids, TRUE);
}

static int32_t early_stopping_of(const char *s)
{
    if (strcmp(s, "true") == 0)
        return TG_EARLY_STOP_TRUE;
    if (strcmp(s, "never") == 0)
        return TG_EARLY_STOP_NEVER;
    return TG_EARLY_STOP_FALSE;
}

/* Run one golden case (streamed) and compare everything. Returns the number of sequences. */
static size_t check_golden(JsonObject *c)
{
    const char *name = json_object_get_string_member(c, "name");
    tg_model *m =
        strcmp(json_object_get_string_member(c, "model"), "char_eos") == 0 ? eos_model : tiny;
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = json_object_get_string_member(c, "samplers");
    o.beam_scorers = json_object_get_string_member(c, "beam_scorers");
    o.num_beams = (int32_t)json_object_get_int_member(c, "num_beams");
    o.num_return_sequences = (int32_t)json_object_get_int_member(c, "num_return_sequences");
    o.early_stopping = early_stopping_of(json_object_get_string_member(c, "early_stopping"));
    o.max_new_tokens = (int32_t)json_object_get_int_member(c, "max_new_tokens");
    JsonArray *stops = json_object_get_array_member(c, "stop_strings");
    const char *stop_strings[4];
    o.n_stop_strings = json_array_get_length(stops);
    for (guint i = 0; i < o.n_stop_strings; i++)
        stop_strings[i] = json_array_get_string_element(stops, i);
    o.stop_strings = stop_strings;
    stream_log s;
    stream_init(&s);
    o.on_text = on_text;
    o.user_data = &s;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, m, json_object_get_string_member(c, "prompt"), &o), TG_OK,
                 "%s: %s", name, tg_error_last());
    JsonArray *seqs = json_object_get_array_member(c, "sequences");
    const size_t n_seqs = json_array_get_length(seqs);
    cr_assert_eq(tg_result_n_sequences(r), n_seqs, "%s: %zu sequences, the reference has %zu", name,
                 tg_result_n_sequences(r), n_seqs);
    for (size_t i = 0; i < n_seqs; i++) {
        JsonObject *want = json_array_get_object_element(seqs, (guint)i);
        size_t n_want, n;
        int32_t *ids = tu_json_ints(json_object_get_array_member(want, "tokens"), &n_want);
        const int32_t *got = tg_result_sequence_tokens(r, i, &n);
        cr_assert_eq(n, n_want, "%s #%zu: %zu tokens, the reference has %zu", name, i, n, n_want);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(got[k], ids[k], "%s #%zu token %zu: %d, the reference %d", name, i, k,
                         got[k], ids[k]);
        cr_assert_str_eq(tg_result_sequence_text(r, i, NULL),
                         json_object_get_string_member(want, "text"), "%s #%zu", name, i);
        const double score = json_object_get_double_member(want, "score");
        cr_assert(fabs(tg_result_sequence_score(r, i) - score) < SCORE_TOL,
                  "%s #%zu: score %.7f, the reference %.7f", name, i,
                  tg_result_sequence_score(r, i), score);
        cr_assert_str_eq(tg_stop_reason_str(tg_result_sequence_stop_reason(r, i)),
                         json_object_get_string_member(want, "stop_reason"), "%s #%zu", name, i);
        size_t n_lp;
        float *lp_want = tu_json_floats(json_object_get_array_member(want, "logprobs"), &n_lp);
        const float *lp = tg_result_sequence_logprobs(r, i, &n);
        cr_assert_eq(n, n_lp);
        for (size_t k = 0; k < n; k++)
            cr_assert(fabsf(lp[k] - lp_want[k]) < SCORE_TOL, "%s #%zu step %zu: %g vs %g", name, i,
                      k, lp[k], lp_want[k]);
        free(lp_want);
        free(ids);
    }
    /* the scores are in order, best first */
    for (size_t i = 1; i < n_seqs; i++)
        cr_assert_geq(tg_result_sequence_score(r, i - 1), tg_result_sequence_score(r, i));
    /* one step per generated position; the search stopped where the reference stopped */
    tg_timing t = TG_TIMING_INIT;
    cr_assert_eq(tg_result_timing(&t, r), TG_OK);
    cr_assert_eq(t.n_generated, (int32_t)json_object_get_int_member(c, "steps"), "%s: steps", name);
    /* the stream adds up to the best sequence */
    cr_assert(s.valid, "%s: a chunk was not valid UTF-8", name);
    cr_assert_eq(s.null_ids, 0, "%s: ids was NULL", name);
    cr_assert_str_eq(s.text->str, tg_result_text(r, NULL), "%s: stream vs result", name);
    size_t n_best;
    const int32_t *best = tg_result_tokens(r, &n_best);
    cr_assert_eq(s.ids->len, n_best, "%s: streamed %u ids", name, s.ids->len);
    cr_assert_eq(memcmp(s.ids->data, best, n_best * sizeof *best), 0, "%s: streamed ids", name);
    stream_free(&s);
    tg_result_free(r);
    return n_seqs;
}

Test(beam, every_golden_of_the_pytorch_reference)
{
    load_test_plugin(
        "beam_tree"); /* not needed by the goldens: proves extra plugins are harmless */
    JsonArray *cases = json_object_get_array_member(tu_json_root_object(goldens), "cases");
    const guint n = json_array_get_length(cases);
    cr_assert_geq(n, 37);
    int modes[4] = {0}, widths[5] = {0}, eos_reached = 0, stops = 0;
    for (guint i = 0; i < n; i++) {
        JsonObject *c = json_array_get_object_element(cases, i);
        check_golden(c);
        modes[early_stopping_of(json_object_get_string_member(c, "early_stopping"))]++;
        widths[json_object_get_int_member(c, "num_beams") < 5
                   ? json_object_get_int_member(c, "num_beams")
                   : 0]++;
        JsonArray *seqs = json_object_get_array_member(c, "sequences");
        for (guint k = 0; k < json_array_get_length(seqs); k++) {
            const char *why = json_object_get_string_member(json_array_get_object_element(seqs, k),
                                                            "stop_reason");
            eos_reached += strcmp(why, "eos") == 0;
            stops += strcmp(why, "stop_string") == 0;
        }
    }
    /* the goldens cover what the issue asks for */
    cr_assert(modes[TG_EARLY_STOP_FALSE] && modes[TG_EARLY_STOP_TRUE] &&
              modes[TG_EARLY_STOP_NEVER]);
    cr_assert(widths[2] && widths[3] && widths[4]);
    cr_assert_gt(eos_reached, 20, "the beams reach char_eos's end id");
    cr_assert_gt(stops, 0);
}

/* A streamed search stopped by its callback: one more call with the rest of the best sequence,
 * and the stream still adds up to the result. */
Test(beam, a_callback_stop_ends_the_search_with_a_final_call)
{
    JsonArray *cases = json_object_get_array_member(tu_json_root_object(goldens), "cases");
    tg_generate_options o = beam_options(3, 3, NULL);
    o.max_new_tokens = 16;
    stream_log s;
    stream_init(&s);
    s.stop_after_calls = 2;
    o.on_text = on_text;
    o.user_data = &s;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, tiny, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    (void)cases;
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_CALLBACK);
    cr_assert_eq(s.calls, 3, "two calls, the stop, one final call (%d)", s.calls);
    cr_assert_str_eq(s.text->str, tg_result_text(r, NULL));
    size_t n;
    tg_result_tokens(r, &n);
    cr_assert_eq(s.ids->len, n);
    cr_assert_eq(s.null_ids, 0);
    cr_assert_eq(tg_result_n_sequences(r), 3, "the live beams joined the finished ones");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(tg_result_sequence_stop_reason(r, i), TG_STOP_CALLBACK);
        tg_result_sequence_tokens(r, i, &n);
        cr_assert_lt(n, 16);
    }
    stream_free(&s);
    tg_result_free(r);
}

Test(beam, the_step_api_runs_one_search_step_per_call)
{
    tg_generate_options o = beam_options(3, 2, "length_penalty(alpha=1)");
    o.max_new_tokens = 16;
    tg_generator *g;
    cr_assert_eq(tg_generator_create(&g, tiny, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    tg_result *r;
    cr_assert_eq(tg_generator_result(&r, g), TG_ESTATE, "no result while the search runs");
    cr_assert(strstr(tg_error_last(), "still running"), "%s", tg_error_last());
    GString *text = g_string_new(NULL);
    int32_t tok, stop = 0, steps = 0;
    while (!stop) {
        const char *t;
        size_t len;
        cr_assert_eq(tg_generator_next(&tok, &t, &len, &stop, g), TG_OK, "%s", tg_error_last());
        cr_assert_eq(tok, -1);
        g_string_append_len(text, t, (gssize)len);
        steps++;
    }
    cr_assert_eq(steps, 16);
    cr_assert_eq(stop, TG_STOP_MAX_TOKENS);
    cr_assert_eq(tg_generator_result(&r, g), TG_OK, "%s", tg_error_last());
    tg_generator_free(g);
    cr_assert_str_eq(text->str, tg_result_text(r, NULL));
    cr_assert_str_eq(tg_result_text(r, NULL), "JJP$KJPP$[)))JJP", "the tiny_b3 golden");
    cr_assert_eq(tg_result_n_sequences(r), 2);
    g_string_free(text, TRUE);
    tg_result_free(r);
}

/* ---- num_beams = 1 is today's generation ---- */

Test(beam, one_beam_is_the_generation_of_before)
{
    tg_generate_options a = TG_GENERATE_OPTIONS_INIT, b = TG_GENERATE_OPTIONS_INIT;
    a.samplers = b.samplers = "repetition_penalty(penalty=1.3) top_k(k=20) dist";
    a.max_new_tokens = b.max_new_tokens = 30;
    a.seed = b.seed = 9;
    b.num_beams = 1;
    b.num_return_sequences = 1;
    tg_result *ra, *rb;
    cr_assert_eq(tg_generate(&ra, tiny, "ROMEO:", &a), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_generate(&rb, tiny, "ROMEO:", &b), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(tg_result_text(ra, NULL), tg_result_text(rb, NULL));
    cr_assert_eq(tg_result_n_sequences(rb), 1);
    size_t n;
    const float *lp = tg_result_logprobs(rb, &n);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lp[i];
    cr_assert_float_eq(tg_result_sequence_score(rb, 0), sum, 1e-4,
                       "without beams the score is the sum of the log-probabilities");
    tg_result_free(ra);
    tg_result_free(rb);
}

/* ---- beam sampling ---- */

static char *sampled(uint64_t seed, int32_t threads, double *score)
{
    tg_generate_options o = beam_options(4, 4, NULL);
    o.samplers = "top_k(k=20) temperature(t=1.2) dist";
    o.max_new_tokens = 20;
    o.seed = seed;
    o.n_threads = threads;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, tiny, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_n_sequences(r), 4);
    for (size_t i = 1; i < 4; i++)
        cr_assert_geq(tg_result_sequence_score(r, i - 1), tg_result_sequence_score(r, i));
    GString *all = g_string_new(NULL);
    for (size_t i = 0; i < 4; i++)
        g_string_append_printf(all, "%s|", tg_result_sequence_text(r, i, NULL));
    *score = tg_result_sequence_score(r, 0);
    tg_result_free(r);
    return g_string_free(all, FALSE);
}

Test(beam, beam_sampling_is_reproducible_per_seed_at_one_and_two_threads)
{
    double s1, s2, s3;
    char *a = sampled(5, 1, &s1), *b = sampled(5, 2, &s2), *c = sampled(6, 1, &s3);
    cr_assert_str_eq(a, b);
    cr_assert_float_eq(s1, s2, 1e-5);
    cr_assert_str_neq(a, c, "another seed draws other candidates");
    char *greedy_beams;
    tg_generate_options o = beam_options(4, 4, NULL);
    o.max_new_tokens = 20;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, tiny, "ROMEO:", &o), TG_OK);
    greedy_beams = g_strdup(tg_result_text(r, NULL));
    tg_result_free(r);
    cr_assert(strncmp(a, greedy_beams, strlen(greedy_beams)) != 0, "sampling is not the search");
    g_free(a);
    g_free(b);
    g_free(c);
    g_free(greedy_beams);
}

/* ---- the search's limits ---- */

Test(beam, the_context_and_the_time_limit_end_every_beam)
{
    tg_generate_options o = beam_options(2, 2, NULL);
    o.max_new_tokens = -1;
    o.flags = TG_GEN_IGNORE_EOS;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, tiny, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    for (size_t i = 0; i < 2; i++) {
        size_t n;
        tg_result_sequence_tokens(r, i, &n);
        cr_assert_eq(n, 96 - 6, "the context (96 positions) is used up");
        cr_assert_eq(tg_result_sequence_stop_reason(r, i), TG_STOP_CONTEXT);
    }
    tg_result_free(r);
    o = beam_options(3, 3, NULL);
    o.max_time_s = 1e-9;
    cr_assert_eq(tg_generate(&r, tiny, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_TIME);
    cr_assert_eq(tg_result_n_sequences(r), 1, "only the prompt existed");
    cr_assert_str_eq(tg_result_text(r, NULL), "");
    tg_result_free(r);
}

/* ---- errors ---- */

static void expect_error(tg_model *m, const tg_generate_options *o, tg_status want,
                         const char *needle)
{
    tg_result *r = (tg_result *)1;
    cr_assert_eq(tg_generate(&r, m, "ROMEO:", o), want, "%s", tg_error_last());
    cr_assert_null(r);
    cr_assert(strstr(tg_error_last(), needle), "'%s' not in: %s", needle, tg_error_last());
}

Test(beam, bad_input_gets_a_clear_error)
{
    tg_generate_options o = beam_options(2, 3, NULL);
    expect_error(tiny, &o, TG_ERANGE, "num_return_sequences = 3 is more than num_beams = 2");
    o = beam_options(0, 2, NULL);
    expect_error(tiny, &o, TG_ERANGE, "num_return_sequences = 2 needs beam search");
    o = beam_options(5000, 1, NULL);
    expect_error(tiny, &o, TG_ERANGE, "beam search with num_beams = 5000");
    cr_assert(strstr(tg_error_last(), "n_seq = 5000 is out of range"), "%s", tg_error_last());
    o = beam_options(4, 1, "diverse_groups(groups=3)");
    expect_error(tiny, &o, TG_ERANGE, "groups = 3 does not divide num_beams = 4");
    cr_assert(strstr(tg_error_last(), "beam scorer 'diverse_groups'"), "%s", tg_error_last());
    o = beam_options(4, 1, "length_penalty(alpha=nan)");
    expect_error(tiny, &o, TG_ESPEC, "length_penalty(alpha=...)");
    cr_assert(strstr(tg_error_last(), "beam scorers \"length_penalty(alpha=nan)\""), "%s",
              tg_error_last());
    o = beam_options(4, 1, "top_k(k=3)");
    expect_error(tiny, &o, TG_ESPEC, "'top_k' is a filter, not a beam scorer");
    o = beam_options(4, 1,
                     "length_penalty(alpha=1) length_penalty(alpha=2) diverse_groups "
                     "diverse_groups");
    expect_error(tiny, &o, TG_ESPEC, "both split the beams into groups");
    o = beam_options(1, 1, NULL);
    o.samplers = "length_penalty greedy";
    expect_error(tiny, &o, TG_ESPEC, "'length_penalty' is a beam scorer");
    o = beam_options(3, 1, NULL);
    o.samplers = "mirostat_v2";
    expect_error(tiny, &o, TG_EUNSUPPORTED, "the selector 'mirostat_v2' learns from each");
    o = beam_options(1, 1, "length_penalty");
    expect_error(tiny, &o, TG_EINVAL, "apply to beam search: set num_beams > 1");
    o = beam_options(1, 1, NULL);
    o.early_stopping = TG_EARLY_STOP_TRUE;
    expect_error(tiny, &o, TG_EINVAL, "early_stopping applies to beam search");
    o = beam_options(2, 1, NULL);
    o.early_stopping = 4;
    expect_error(tiny, &o, TG_ERANGE, "early_stopping = 4 is not one of");
    o = beam_options(-2, 1, NULL);
    expect_error(tiny, &o, TG_ERANGE, "num_beams = -2 must not be negative");
    load_test_plugin("beam_tree");
    o = beam_options(2, 1, "test_fail_scorer");
    o.max_new_tokens = 4;
    expect_error(tiny, &o, TG_EUSER, "refuses every hypothesis on purpose");
    cr_assert(strstr(tg_error_last(), "beam scorer 'test_fail_scorer' failed to score"), "%s",
              tg_error_last());
}

/* A scorer plugin built against a wrong layout is refused when it loads, naming the file. */
/* ---- generation_config.json's search fields ---- */

/* char_tiny (its tokenizer included) with `gen` as its generation_config.json. */
static tg_model *tiny_with_config(const char *gen, char **dir_out)
{
    char *dir = tu_copy_char_tiny(gen);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    *dir_out = dir;
    return m;
}

static void drop_model(tg_model *m, char *dir)
{
    tg_model_free(m);
    tu_rmtree(dir);
    g_free(dir);
}

/* Every sequence of a and b: the same tokens and scores. */
static void expect_same_search(const tg_result *a, const tg_result *b)
{
    cr_assert_eq(tg_result_n_sequences(a), tg_result_n_sequences(b));
    for (size_t i = 0; i < tg_result_n_sequences(a); i++) {
        size_t na, nb;
        const int32_t *ta = tg_result_sequence_tokens(a, i, &na);
        const int32_t *tb = tg_result_sequence_tokens(b, i, &nb);
        cr_assert(na == nb && memcmp(ta, tb, na * sizeof *ta) == 0, "sequence %zu differs", i);
        cr_assert_float_eq(tg_result_sequence_score(a, i), tg_result_sequence_score(b, i), 1e-9);
    }
}

static tg_result *generate_ok(const tg_model *m, const tg_generate_options *o)
{
    tg_result *r;
    cr_assert_eq(tg_generate(&r, m, "ROMEO:", o), TG_OK, "%s", tg_error_last());
    return r;
}

static size_t n_traced;
static void count_steps(const tg_step_trace *t, void *user)
{
    (void)t;
    (void)user;
    n_traced++;
}

Test(beam, generation_config_json_gives_the_search_defaults)
{
    char *dir;
    tg_model *m =
        tiny_with_config("{\"do_sample\": false, \"max_new_tokens\": 12, \"num_beams\": 4, "
                         "\"num_return_sequences\": 3, \"early_stopping\": true, "
                         "\"length_penalty\": 0.5}",
                         &dir);
    /* the file's search, and the same written out with the file ignored */
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    tg_result *from_file = generate_ok(m, &o);
    tg_generate_options e = beam_options(4, 3, "length_penalty(alpha=0.5)");
    e.flags = TG_GEN_NO_CONFIG;
    e.max_new_tokens = 12;
    e.early_stopping = TG_EARLY_STOP_TRUE;
    tg_result *spelt = generate_ok(m, &e);
    cr_assert_eq(tg_result_n_sequences(from_file), 3);
    cr_assert_eq(tg_result_num_beams(from_file), 4, "the result says which search ran");
    cr_assert_str_eq(tg_result_beam_scorers(from_file), "length_penalty(alpha=0.5)");
    expect_same_search(from_file, spelt);
    /* the alpha matters: HF's default 1 scores the same search otherwise */
    e.beam_scorers = NULL;
    tg_result *alpha1 = generate_ok(m, &e);
    cr_assert(fabs(tg_result_sequence_score(alpha1, 0) - tg_result_sequence_score(spelt, 0)) > 1e-3,
              "alpha 0.5 and 1 gave the same score");
    tg_result_free(alpha1);
    /* the caller's fields win, field by field */
    o.beam_scorers = "length_penalty(alpha=1)";
    tg_result *r = generate_ok(m, &o);
    cr_assert_eq(tg_result_n_sequences(r), 3);
    e.beam_scorers = "length_penalty(alpha=1)";
    alpha1 = generate_ok(m, &e);
    expect_same_search(r, alpha1);
    tg_result_free(alpha1);
    tg_result_free(r);
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    o.num_beams = 1; /* one sequence: greedy, as the file's do_sample says */
    r = generate_ok(m, &o);
    cr_assert_eq(tg_result_n_sequences(r), 1);
    tg_generate_options g = TG_GENERATE_OPTIONS_INIT;
    g.flags = TG_GEN_NO_CONFIG;
    g.max_new_tokens = 12;
    tg_result *greedy = generate_ok(m, &g);
    expect_same_search(r, greedy);
    cr_assert_eq(tg_result_num_beams(greedy), 1);
    cr_assert_null(tg_result_beam_scorers(greedy));
    cr_assert_eq(tg_result_num_beams(NULL), 0);
    tg_result_free(r);
    /* a trace follows one sequence: the file's beams do not apply to it */
    o.num_beams = 0;
    o.on_trace = count_steps;
    n_traced = 0;
    r = generate_ok(m, &o);
    cr_assert_eq(tg_result_n_sequences(r), 1);
    cr_assert_eq(n_traced, 12);
    expect_same_search(r, greedy);
    tg_result_free(r);
    tg_result_free(greedy);
    /* fewer beams than the file's num_return_sequences: an error naming the file */
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    o.num_beams = 2;
    expect_error(m, &o, TG_ERANGE, "generation_config.json asks for num_return_sequences = 3");
    tg_result_free(from_file);
    tg_result_free(spelt);
    drop_model(m, dir);

    /* diverse groups from num_beam_groups and diversity_penalty */
    m = tiny_with_config("{\"max_new_tokens\": 10, \"num_beams\": 4, \"num_beam_groups\": 2, "
                         "\"diversity_penalty\": 0.7, \"early_stopping\": \"never\"}",
                         &dir);
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    from_file = generate_ok(m, &o);
    e = beam_options(4, 0, "diverse_groups(groups=2, penalty=0.7)");
    e.flags = TG_GEN_NO_CONFIG;
    e.max_new_tokens = 10;
    e.early_stopping = TG_EARLY_STOP_NEVER;
    spelt = generate_ok(m, &e);
    expect_same_search(from_file, spelt);
    /* no final score given: HF's length_penalty(alpha=1) closes the scorers */
    cr_assert_str_eq(tg_result_beam_scorers(from_file),
                     "diverse_groups(groups=2, penalty=0.7) length_penalty(alpha=1)");
    tg_result_free(from_file);
    tg_result_free(spelt);
    /* the file's groups do not divide the caller's beams: the error names the file */
    o.num_beams = 3;
    expect_error(m, &o, TG_ERANGE,
                 "generation_config.json implies (\"diverse_groups(groups=2, "
                 "penalty=0.7)\")");
    cr_assert(strstr(tg_error_last(), "groups = 2 does not divide num_beams = 3"), "%s",
              tg_error_last());
    drop_model(m, dir);
}

Test(beam, scorer_plugins_with_a_wrong_vtable_size_are_refused)
{
    char *p = g_build_filename(getenv("TG_TEST_PLUGINS"), "bad_scorer.so", NULL);
    cr_assert_eq(tg_plugin_load(p), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "bad_scorer.so"), "%s", tg_error_last());
    cr_assert(strstr(tg_error_last(), "beam scorer struct_size 4 is smaller than"), "%s",
              tg_error_last());
    g_free(p);
    p = g_build_filename(getenv("TG_TEST_PLUGINS"), "short_scorer_vtable.so", NULL);
    cr_assert_eq(tg_plugin_load(p), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "is a beam scorer, but its vtable (struct_size 152) ends "
                                      "before the member 'scorer'"),
              "%s", tg_error_last());
    g_free(p);
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    cr_assert_eq(tg_processor_find(&info, "bad_scorer"), TG_ENOTFOUND);
}
