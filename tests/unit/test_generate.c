/* The generation loop end to end on char_tiny (hf_tanh_bias weights + a character tokenizer):
 * greedy parity with PyTorch, streaming, every stop reason, defaults from
 * generation_config.json, seeds and threads, the step API, and errors. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static tg_model *model;
static char *prompt_text; /* the reference prompt as text */
static int32_t *greedy_ref;
static size_t n_greedy;

static const char chars[] = "\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_"
                            "`abcdefghijklmnopqrstuvwxyz{|}~";

static void setup(void)
{
    char *dir = tu_data_path("models/char_tiny");
    cr_assert_eq(tg_model_load(&model, dir, NULL), TG_OK, "%s", tg_error_last());
    char *refp = g_build_filename(dir, "reference.json", NULL);
    JsonParser *p = tu_json_load(refp);
    JsonObject *o = tu_json_root_object(p);
    size_t n;
    int32_t *ids = tu_json_ints(json_object_get_array_member(o, "prompt"), &n);
    prompt_text = g_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        prompt_text[i] = chars[ids[i]];
    prompt_text[n] = '\0';
    greedy_ref = tu_json_ints(json_object_get_array_member(o, "greedy"), &n_greedy);
    free(ids);
    g_object_unref(p);
    g_free(refp);
    g_free(dir);
}

static void teardown(void)
{
    tg_model_free(model);
    g_free(prompt_text);
    free(greedy_ref);
}

TestSuite(generate, .init = setup, .fini = teardown);

static tg_result *run(const char *spec, int32_t max_new, uint32_t flags)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = spec;
    o.max_new_tokens = max_new;
    o.flags = flags;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    return r;
}

static char *ids_to_text(const int32_t *ids, size_t n)
{
    char *s = g_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = ids[i] < 96 ? chars[ids[i]] : '?';
    s[n] = '\0';
    return s;
}

Test(generate, greedy_chain_reproduces_the_pytorch_continuation)
{
    tg_result *r = run("greedy", 50, TG_GEN_IGNORE_EOS);
    size_t n;
    const int32_t *t = tg_result_tokens(r, &n);
    cr_assert_eq(n, n_greedy);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(t[i], greedy_ref[i], "token %zu: %d vs PyTorch %d", i, t[i], greedy_ref[i]);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_MAX_TOKENS);
    size_t np;
    tg_result_prompt_tokens(r, &np);
    cr_assert_eq(np, strlen(prompt_text));
    size_t nl;
    const float *lp = tg_result_logprobs(r, &nl);
    cr_assert_eq(nl, n);
    for (size_t i = 0; i < nl; i++)
        cr_assert(lp[i] <= 0.0f && lp[i] > -20.0f, "logprob %zu = %g", i, lp[i]);
    tg_result_free(r);
}

typedef struct stream_log {
    GString *text;
    GArray *ids;
    int calls, stop_after;
    int valid;
    int null_ids;    /* calls whose ids was NULL (the contract: never) */
    int asked_stop;  /* the call that returned non-zero, 0 if none */
    int calls_after; /* calls after that one */
    size_t last_len; /* text length and ids of the last call */
    size_t last_n_ids;
} stream_log;

static int32_t on_text(const char *text, size_t len, const int32_t *ids, size_t n, void *user)
{
    stream_log *s = user;
    s->calls++;
    if (s->asked_stop)
        s->calls_after++;
    if (!ids)
        s->null_ids++;
    if (!g_utf8_validate(text, (gssize)len, NULL))
        s->valid = 0;
    g_string_append_len(s->text, text, (gssize)len);
    if (ids)
        g_array_append_vals(s->ids, ids, (guint)n);
    s->last_len = len;
    s->last_n_ids = n;
    int32_t stop = s->stop_after && (int)s->ids->len >= s->stop_after;
    if (stop && !s->asked_stop)
        s->asked_stop = s->calls;
    return stop;
}

static tg_result *run_streamed(stream_log *s, const char *const *stops, size_t n_stops,
                               int32_t max_new, int stop_after)
{
    s->text = g_string_new(NULL);
    s->ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    s->valid = 1;
    s->stop_after = stop_after;
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_new_tokens = max_new;
    o.flags = TG_GEN_IGNORE_EOS;
    o.stop_strings = stops;
    o.n_stop_strings = n_stops;
    o.on_text = on_text;
    o.user_data = s;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    return r;
}

static void stream_free(stream_log *s)
{
    g_string_free(s->text, TRUE);
    g_array_free(s->ids, TRUE);
}

Test(generate, stream_chunks_add_up_to_the_result)
{
    stream_log s = {0};
    tg_result *r = run_streamed(&s, NULL, 0, 50, 0);
    cr_assert(s.valid);
    cr_assert_str_eq(s.text->str, tg_result_text(r, NULL));
    char *want = ids_to_text(greedy_ref, n_greedy);
    cr_assert_str_eq(tg_result_text(r, NULL), want);
    cr_assert_eq(s.ids->len, 50);
    cr_assert_eq(memcmp(s.ids->data, greedy_ref, 50 * sizeof(int32_t)), 0);
    g_free(want);
    stream_free(&s);
    tg_result_free(r);
}

Test(generate, stop_strings_end_the_text_and_are_never_streamed_in_part)
{
    char *full = ids_to_text(greedy_ref, n_greedy);
    /* a stop string that appears at offset 10 of the greedy text */
    char stop[5];
    memcpy(stop, full + 10, 4);
    stop[4] = '\0';
    const char *first = strstr(full, stop);
    size_t keep = (size_t)(first - full);
    /* plus a stop string that starts like the text at offset 3 but never completes */
    char near[4] = {full[3], full[4], '\x01', '\0'};
    const char *stops[2] = {near, stop};
    stream_log s = {0};
    tg_result *r = run_streamed(&s, stops, 2, 50, 0);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_STRING);
    size_t len;
    const char *text = tg_result_text(r, &len);
    cr_assert_eq(len, keep);
    cr_assert_eq(strncmp(text, full, keep), 0);
    cr_assert_str_eq(s.text->str, text, "the stream never carried any part of the stop string");
    g_free(full);
    stream_free(&s);
    tg_result_free(r);
}

Test(generate, held_back_text_is_released_when_the_stop_string_fails_to_complete)
{
    char *full = ids_to_text(greedy_ref, n_greedy);
    char near[4] = {full[3], full[4], '\x01', '\0'};
    const char *stops[1] = {near};
    stream_log s = {0};
    tg_result *r = run_streamed(&s, stops, 1, 50, 0);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_MAX_TOKENS);
    cr_assert_str_eq(tg_result_text(r, NULL), full);
    cr_assert_str_eq(s.text->str, full);
    g_free(full);
    stream_free(&s);
    tg_result_free(r);
}

Test(generate, the_callback_can_stop_generation)
{
    stream_log s = {0};
    tg_result *r = run_streamed(&s, NULL, 0, 50, 5);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_CALLBACK);
    size_t n;
    tg_result_tokens(r, &n);
    cr_assert_eq(n, 5);
    /* nothing was held back: the stopping call was the last */
    cr_assert_eq(s.asked_stop, 5);
    cr_assert_eq(s.calls_after, 0);
    cr_assert_eq(s.null_ids, 0);
    cr_assert_str_eq(s.text->str, tg_result_text(r, NULL));
    stream_free(&s);
    tg_result_free(r);
}

/* The stream callback contract (generate.h): ids is never NULL; after a stop request, one final
 * call delivers the held-back text (ids empty, not NULL) and nothing is delivered twice. */
Test(generate, after_a_stop_request_one_final_call_delivers_the_held_back_text)
{
    char *full = ids_to_text(greedy_ref, n_greedy);
    /* a doubled character "cc" of the greedy text, and a stop string "c\x02\x01" that never
     * completes: the call of the second c releases the first and holds the second back */
    size_t i = 0;
    while (i + 1 < n_greedy && full[i] != full[i + 1])
        i++;
    cr_assert_lt(i + 1, n_greedy, "the greedy text has a doubled character");
    char near[4] = {full[i], '\x02', '\x01', '\0'};
    const char *stops[1] = {near};
    stream_log s = {0};
    tg_result *r = run_streamed(&s, stops, 1, 50, (int)i + 2);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_CALLBACK);
    cr_assert_eq(s.calls_after, 1, "one final call (%d)", s.calls_after);
    cr_assert_eq(s.last_n_ids, 0);
    cr_assert_eq(s.last_len, 1, "the held-back character, once");
    cr_assert_eq(s.null_ids, 0, "ids is never NULL");
    cr_assert_str_eq(s.text->str, tg_result_text(r, NULL), "every byte once");
    cr_assert_eq(strlen(s.text->str), i + 2);
    cr_assert_eq(strncmp(s.text->str, full, i + 2), 0);
    size_t n;
    const int32_t *t = tg_result_tokens(r, &n);
    cr_assert_eq(s.ids->len, n);
    cr_assert_eq(memcmp(s.ids->data, t, n * sizeof *t), 0);
    g_free(full);
    stream_free(&s);
    tg_result_free(r);
}

Test(generate, ids_point_at_an_empty_array_when_only_text_is_released)
{
    /* every call of a run with hold-back: some release text without new ids */
    char *full = ids_to_text(greedy_ref, n_greedy);
    char near[4] = {full[3], full[4], '\x01', '\0'};
    const char *stops[1] = {near};
    stream_log s = {0};
    tg_result *r = run_streamed(&s, stops, 1, 50, 0);
    cr_assert_eq(s.null_ids, 0);
    cr_assert_eq(s.asked_stop, 0);
    cr_assert_str_eq(s.text->str, full);
    g_free(full);
    stream_free(&s);
    tg_result_free(r);
}

Test(generate, stop_tokens_and_eos)
{
    /* the 8th greedy token as a stop token: generation ends there, its text is not emitted */
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_new_tokens = 50;
    int32_t stop_tok = greedy_ref[7];
    size_t first = 0;
    while (greedy_ref[first] != stop_tok)
        first++;
    o.stop_tokens = &stop_tok;
    o.n_stop_tokens = 1;
    o.flags = TG_GEN_IGNORE_EOS;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_TOKEN);
    size_t n, len;
    tg_result_tokens(r, &n);
    cr_assert_eq(n, first + 1, "the stop token is the last token");
    tg_result_text(r, &len);
    cr_assert_eq(len, first, "but not part of the text");
    tg_result_free(r);
    /* the model's eos id (96) ends generation: logit_bias makes it certain at once */
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    o.samplers = "logit_bias(bias=\"96:100\") greedy";
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_EOS);
    cr_assert_str_eq(tg_result_text(r, NULL), "");
    tg_result_free(r);
}

Test(generate, time_limit_and_context_limit)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_time_s = 1e-9;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_TIME);
    tg_result_free(r);
    r = run("greedy", -1, TG_GEN_IGNORE_EOS);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_CONTEXT);
    size_t n, np;
    tg_result_tokens(r, &n);
    tg_result_prompt_tokens(r, &np);
    cr_assert_eq(n + np, 96, "the context (n_positions 96) is used up exactly");
    tg_timing t = TG_TIMING_INIT;
    cr_assert_eq(tg_result_timing(&t, r), TG_OK);
    cr_assert_eq(t.n_generated, (int32_t)n);
    cr_assert_eq(t.n_prompt, (int32_t)np);
    cr_assert(t.prompt_s > 0 && t.generate_s > 0 && t.sample_s > 0);
    tg_result_free(r);
}

Test(generate, generation_config_json_gives_the_defaults)
{
    /* char_tiny's generation_config.json: sampling with max_new_tokens = 40 */
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.flags = TG_GEN_IGNORE_EOS;
    o.seed = 1;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    size_t n;
    tg_result_tokens(r, &n);
    cr_assert_eq(n, 40);
    tg_result_free(r);
    /* ignoring the file: greedy, 128 by default but the context ends first (96 - 20 = 76) */
    o.flags |= TG_GEN_NO_CONFIG;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK);
    const int32_t *t = tg_result_tokens(r, &n);
    cr_assert_eq(n, 76, "n = %zu, stop %s", n, tg_stop_reason_str(tg_result_stop_reason(r)));
    cr_assert_eq(memcmp(t, greedy_ref, n_greedy * sizeof *t), 0, "greedy");
    tg_result_free(r);
}

/* char_tiny with a generation_config.json whose eos_token_id lists 96 (config.json's) and 5. */
static tg_model *load_with_extra_eos(char **dir_out)
{
    char *dir = tu_copy_char_tiny("{\"eos_token_id\": [96, 5], \"do_sample\": false}");
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    *dir_out = dir;
    return m;
}

Test(generate, one_set_of_end_ids_for_the_loop_and_the_chain)
{
    char *dir;
    tg_model *m = load_with_extra_eos(&dir);
    const int32_t *ids;
    size_t n;
    cr_assert_eq(tg_model_end_ids(&ids, &n, m, 0), TG_OK);
    cr_assert_eq(n, 2);
    cr_assert(ids[0] == 96 && ids[1] == 5, "%d %d", ids[0], ids[1]);
    cr_assert_eq(tg_model_end_ids(&ids, &n, m, TG_END_IDS_NO_GENERATION_CONFIG), TG_OK);
    cr_assert(n == 1 && ids[0] == 96);
    cr_assert_eq(tg_model_end_ids(&ids, &n, m, 0x10), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "unknown flags"), "%s", tg_error_last());
    /* min_new_tokens bans id 5 too, because generation_config.json says it ends a sequence:
     * 10 tokens, then the biased 5, which ends generation as eos. */
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "logit_bias(bias=\"5:100\") min_new_tokens(n=10) greedy";
    o.max_new_tokens = 50;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, m, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    const int32_t *t = tg_result_tokens(r, &n);
    cr_assert_eq(n, 11, "n = %zu, stop %s", n, tg_stop_reason_str(tg_result_stop_reason(r)));
    for (size_t i = 0; i < 10; i++)
        cr_assert(t[i] != 5 && t[i] != 96, "token %zu is an end id (%d)", i, t[i]);
    cr_assert_eq(t[10], 5);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_EOS);
    tg_result_free(r);
    /* ignoring generation_config.json: 5 is an ordinary token for the loop and the chain */
    o.flags = TG_GEN_NO_CONFIG;
    o.max_new_tokens = 3;
    cr_assert_eq(tg_generate(&r, m, "ROMEO:", &o), TG_OK, "%s", tg_error_last());
    t = tg_result_tokens(r, &n);
    cr_assert(n == 3 && t[0] == 5 && t[1] == 5 && t[2] == 5);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_MAX_TOKENS);
    tg_result_free(r);
    /* a chain made for the model alone knows the same end ids */
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = m;
    tg_chain *c;
    cr_assert_eq(tg_chain_parse(&c, "min_new_tokens(n=2) greedy", &co), TG_OK);
    float logits[97] = {0};
    logits[5] = 10.0f;
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits), TG_OK);
    cr_assert(tok != 5 && tok != 96, "tok %d", tok);
    tg_chain_free(c);
    tg_model_free(m);
    tu_rmtree(dir);
    g_free(dir);
}

static char *sample_text(uint64_t seed, int32_t threads)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "repetition_penalty(penalty=1.3) top_k(k=30) temperature(t=1.5) dist";
    o.max_new_tokens = 60;
    o.seed = seed;
    o.n_threads = threads;
    o.flags = TG_GEN_IGNORE_EOS;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    char *s = g_strdup(tg_result_text(r, NULL));
    tg_result_free(r);
    return s;
}

Test(generate, same_seed_same_text_at_one_and_two_threads)
{
    char *a = sample_text(42, 1), *b = sample_text(42, 2), *c = sample_text(43, 1);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c, "another seed gives another text");
    g_free(a);
    g_free(b);
    g_free(c);
}

Test(generate, the_step_api_gives_what_generate_gives)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_new_tokens = 20;
    o.flags = TG_GEN_IGNORE_EOS;
    tg_generator *g;
    cr_assert_eq(tg_generator_create(&g, model, prompt_text, &o), TG_OK, "%s", tg_error_last());
    GString *text = g_string_new(NULL);
    int32_t tok, stop = 0;
    int steps = 0;
    while (!stop) {
        const char *t;
        size_t len;
        cr_assert_eq(tg_generator_next(&tok, &t, &len, &stop, g), TG_OK, "%s", tg_error_last());
        g_string_append_len(text, t, (gssize)len);
        if (tok >= 0)
            cr_assert_eq(tok, greedy_ref[steps++]);
    }
    cr_assert_eq(steps, 20);
    cr_assert_eq(stop, TG_STOP_MAX_TOKENS);
    const char *t;
    size_t len;
    cr_assert_eq(tg_generator_next(&tok, &t, &len, &stop, g), TG_OK, "after the end: no-op");
    cr_assert_eq(tok, -1);
    tg_result *r;
    cr_assert_eq(tg_generator_result(&r, g), TG_OK);
    tg_generator_free(g);
    cr_assert_str_eq(tg_result_text(r, NULL), text->str);
    tg_result_free(r);
    g_string_free(text, TRUE);
}

Test(generate, a_failing_plugin_fails_generation_and_the_model_stays_usable)
{
    const char *dir = g_getenv("TG_TEST_PLUGINS");
    char *p = g_build_filename(dir, "good.so", NULL);
    cr_assert_eq(tg_plugin_load(p), TG_OK, "%s", tg_error_last());
    g_free(p);
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "test_fail greedy";
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, prompt_text, &o), TG_EUSER);
    cr_assert_null(r);
    cr_assert(strstr(tg_error_last(), "the plugin refused this step on purpose") != NULL, "%s",
              tg_error_last());
    r = run("greedy", 5, 0);
    cr_assert_eq(tg_result_stop_reason(r), TG_STOP_MAX_TOKENS);
    tg_result_free(r);
}

Test(generate, errors_are_named)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    tg_result *r;
    o.samplers = "top_k(k=5)";
    cr_assert_eq(tg_generate(&r, model, "hi", &o), TG_ESPEC);
    cr_assert(strstr(tg_error_last(), "no selector") != NULL, "%s", tg_error_last());
    o.samplers = "greedy";
    char *long_prompt = g_strnfill(200, 'a');
    cr_assert_eq(tg_generate(&r, model, long_prompt, &o), TG_ERANGE);
    cr_assert(strstr(tg_error_last(),
                     "the prompt has 200 tokens but the model's context holds 96") != NULL,
              "%s", tg_error_last());
    g_free(long_prompt);
    cr_assert_eq(tg_generate(&r, model, "caf\xc3", &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "not valid UTF-8") != NULL);
    cr_assert_eq(tg_generate(&r, model, "\xc3\xa9t\xc3\xa9", &o), TG_EINVAL,
                 "not in the vocabulary");
    const char *stops[1] = {""};
    o.stop_strings = stops;
    o.n_stop_strings = 1;
    cr_assert_eq(tg_generate(&r, model, "hi", &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "stop_strings[0] is empty") != NULL);
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    int32_t bad = 97;
    o.stop_tokens = &bad;
    o.n_stop_tokens = 1;
    cr_assert_eq(tg_generate(&r, model, "hi", &o), TG_ERANGE);
    o = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    o.struct_size = 3;
    cr_assert_eq(tg_generate(&r, model, "hi", &o), TG_EINVAL);
    cr_assert_eq(tg_generate(&r, NULL, "hi", NULL), TG_EINVAL);
    cr_assert_eq(tg_generate(&r, model, NULL, NULL), TG_EINVAL);
    cr_assert_eq(tg_generate(NULL, model, "hi", NULL), TG_EINVAL);
    /* a model folder without a tokenizer */
    char *dir = tu_data_path("models/hf_tanh_bias");
    tg_model *bare;
    cr_assert_eq(tg_model_load(&bare, dir, NULL), TG_OK);
    cr_assert_null(tg_model_tokenizer(bare));
    cr_assert_eq(tg_generate(&r, bare, "hi", NULL), TG_ESTATE);
    cr_assert(strstr(tg_error_last(), "has no tokenizer") != NULL, "%s", tg_error_last());
    tg_model_free(bare);
    g_free(dir);
    cr_assert_str_eq(tg_stop_reason_str(TG_STOP_STRING), "stop_string");
}

/* A model whose vocabulary is padded beyond its tokenizer (nanoGPT pads 50257 to 50304): the
 * padding ids can never be chosen, even when a processor favours them. */
Test(generate, padded_vocabulary_ids_are_never_sampled)
{
    char *src = tu_data_path("models/char_tiny");
    char *dir = tu_copy_model(src);
    char *tokp = g_build_filename(src, "tokenizer.json", NULL);
    JsonParser *p = tu_json_load(tokp);
    JsonObject *root = tu_json_root_object(p);
    json_object_set_array_member(root, "added_tokens", json_array_new());
    JsonObject *vocab =
        json_object_get_object_member(json_object_get_object_member(root, "model"), "vocab");
    json_object_remove_member(vocab, "<|endoftext|>");
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(p));
    gsize len;
    gchar *text = json_generator_to_data(gen, &len);
    tu_write_file(dir, "tokenizer.json", text, len);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_tokenizer_n_vocab(tg_model_tokenizer(m)), 96);
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "logit_bias(bias=\"96:100\") greedy";
    o.max_new_tokens = 5;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, m, "hello", &o), TG_OK, "%s", tg_error_last());
    size_t n;
    const int32_t *t = tg_result_tokens(r, &n);
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_lt(t[i], 96, "token %zu = %d is padding", i, t[i]);
    tg_result_free(r);
    tg_model_free(m);
    g_free(text);
    g_object_unref(gen);
    g_object_unref(p);
    g_free(tokp);
    tu_rmtree(dir);
    g_free(dir);
    g_free(src);
}
