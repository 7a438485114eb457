/* tg_error_last() is cleared by every successful call (issue 10): after a failure, each public
 * call that returns tg_status and succeeds leaves tg_error_last() == "" and
 * tg_error_last_status() == TG_OK; and a failure's message survives its own cleanup. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static tg_model *model; /* models/char_tiny: a character tokenizer */
static char *model_dir;

static void setup(void)
{
    model_dir = tu_data_path("models/char_tiny");
    cr_assert_eq(tg_model_load(&model, model_dir, NULL), TG_OK, "%s", tg_error_last());
}

static void teardown(void)
{
    tg_model_free(model);
    g_free(model_dir);
}

TestSuite(error_clear, .init = setup, .fini = teardown);

/* Leave a failure behind on this thread: a folder that does not exist. */
static void fail_first(void)
{
    tg_model *m = NULL;
    cr_assert_eq(tg_model_load(&m, "/no/such/folder-error-clear", NULL), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "/no/such/folder-error-clear") != NULL, "%s",
              tg_error_last());
    cr_assert_eq(tg_error_last_status(), TG_ENOTFOUND);
}

/* `call` succeeds after a failure and clears what the failure left. */
#define EXPECT_CLEARS(call)                                                                        \
    do {                                                                                           \
        fail_first();                                                                              \
        tg_status st_ = (call);                                                                    \
        cr_assert_eq(st_, TG_OK, "%s: %s", #call, tg_error_last());                                \
        cr_assert_str_eq(tg_error_last(), "", "%s left the message of an earlier failure", #call); \
        cr_assert_eq(tg_error_last_status(), TG_OK, "%s left an earlier status", #call);           \
    } while (0)

Test(error_clear, model_and_session_calls)
{
    tg_model_options mo;
    EXPECT_CLEARS(tg_model_options_init(&mo, sizeof mo));
    tg_model *m = NULL;
    EXPECT_CLEARS(tg_model_load(&m, model_dir, &mo));
    tg_model_free(m);
    tg_model_info info = TG_MODEL_INFO_INIT;
    EXPECT_CLEARS(tg_model_get_info(&info, model));
    const int32_t *ends;
    size_t n_ends;
    EXPECT_CLEARS(tg_model_end_ids(&ends, &n_ends, model, 0));

    tg_session_options so;
    EXPECT_CLEARS(tg_session_options_init(&so, sizeof so));
    so.n_seq = 2;
    tg_session *s;
    EXPECT_CLEARS(tg_session_create(&s, model, &so));
    tg_batch_row rows[2] = {{1, 0, 0, 0}, {2, 1, 0, 1}};
    EXPECT_CLEARS(tg_session_decode(s, rows, 2));
    const float *logits;
    EXPECT_CLEARS(tg_session_logits(&logits, s, 1));
    int32_t len;
    EXPECT_CLEARS(tg_session_seq_length(&len, s, 0));
    cr_assert_eq(len, 2);
    EXPECT_CLEARS(tg_session_seq_copy(s, 1, 0));
    EXPECT_CLEARS(tg_session_seq_truncate(s, 1, 1));
    EXPECT_CLEARS(tg_session_seq_clear(s, 1));
    tg_session_info si = TG_SESSION_INFO_INIT;
    EXPECT_CLEARS(tg_session_get_info(&si, s));
    tg_session_free(s);
}

Test(error_clear, tokenizer_calls)
{
    const tg_tokenizer *tok = tg_model_tokenizer(model);
    cr_assert_not_null(tok);
    int32_t *ids;
    size_t n;
    EXPECT_CLEARS(tg_tokenizer_encode(&ids, &n, tok, "ROMEO:", TG_NUL_TERMINATED, 0));
    cr_assert_eq(n, 6);
    int32_t buf[16];
    EXPECT_CLEARS(tg_tokenizer_encode_into(buf, 16, &n, tok, "ROMEO:", TG_NUL_TERMINATED, 0));
    char *text;
    size_t text_len;
    EXPECT_CLEARS(tg_tokenizer_decode(&text, &text_len, tok, ids, n, 0));
    cr_assert_str_eq(text, "ROMEO:");
    tg_free(text);
    const char *piece;
    EXPECT_CLEARS(tg_tokenizer_token_to_piece(&piece, &text_len, tok, ids[0]));
    EXPECT_CLEARS(tg_tokenizer_token_to_bytes(&piece, &text_len, tok, ids[0]));
    int32_t id;
    EXPECT_CLEARS(tg_tokenizer_piece_to_token(&id, tok, "R", 1));
    cr_assert_eq(id, ids[0]);
    const int32_t *special, *prefix, *suffix;
    size_t n_special, n_prefix, n_suffix;
    EXPECT_CLEARS(tg_tokenizer_special_tokens(&special, &n_special, tok));
    EXPECT_CLEARS(tg_tokenizer_template(&prefix, &n_prefix, &suffix, &n_suffix, tok));
    tg_detokenizer *d;
    EXPECT_CLEARS(tg_detokenizer_create(&d, tok, 0));
    EXPECT_CLEARS(tg_detokenizer_feed(d, ids[0], &piece, &text_len));
    EXPECT_CLEARS(tg_detokenizer_flush(d, &piece, &text_len));
    tg_detokenizer_free(d);
    tg_free(ids);

    tg_tokenizer_options to;
    EXPECT_CLEARS(tg_tokenizer_options_init(&to, sizeof to));
    char *json = tu_data_path("tokenizer/gpt2/tokenizer.json");
    char *vocab = tu_data_path("tokenizer/gpt2/vocab.json");
    char *merges = tu_data_path("tokenizer/gpt2/merges.txt");
    tg_tokenizer *t;
    EXPECT_CLEARS(tg_tokenizer_load(&t, json, &to));
    tg_tokenizer_free(t);
    EXPECT_CLEARS(tg_tokenizer_load_vocab_merges(&t, vocab, merges, &to));
    tg_tokenizer_free(t);
    g_free(json);
    g_free(vocab);
    g_free(merges);
}

static int32_t odd_id(const tg_candidates *c, size_t i, void *user)
{
    (void)user;
    return c->ids[i] % 2;
}

static int32_t even_id(const tg_candidates *c, size_t i, void *user)
{
    (void)user;
    return c->ids[i] % 2 == 0;
}

Test(error_clear, candidate_helpers)
{
    int32_t ids[6] = {0, 1, 2, 3, 4, 5};
    float logits[6] = {0.5f, 3, 1, 2, 0, 4};
    float probs[6];
    tg_candidates c = {sizeof c, 6, ids, logits, probs, 6, 6, 0, 0, -1};
    EXPECT_CLEARS(tg_candidates_softmax(&c));
    EXPECT_CLEARS(tg_candidates_sort(&c, 3));
    cr_assert_eq(c.ids[0], 5);
    EXPECT_CLEARS(tg_candidates_truncate(&c, 5));
    EXPECT_CLEARS(tg_candidates_remove_if(&c, odd_id, NULL)); /* 5, 1, 3 go */
    cr_assert_eq(c.size, 2);
    EXPECT_CLEARS(tg_candidates_keep_if(&c, even_id, NULL)); /* keeps both */
    cr_assert_eq(c.size, 2);
    const uint8_t keep[2] = {1, 0};
    EXPECT_CLEARS(tg_candidates_keep(&c, keep));
    cr_assert_eq(c.size, 1);
}

static void on_trace(const tg_trace_stage *stages, size_t n, int32_t token, int32_t step,
                     void *user)
{
    (void)stages, (void)n, (void)token, (void)step;
    ++*(int *)user;
}

Test(error_clear, chain_and_registry_calls)
{
    tg_chain_options co;
    EXPECT_CLEARS(tg_chain_options_init(&co, sizeof co));
    co.model = model;
    tg_chain *c;
    EXPECT_CLEARS(tg_chain_create(&c, &co));
    EXPECT_CLEARS(tg_chain_add(c, "top_k", "k=5"));
    EXPECT_CLEARS(tg_chain_add(c, "dist", NULL));
    EXPECT_CLEARS(tg_chain_validate(c));
    char *printed;
    EXPECT_CLEARS(tg_chain_print(&printed, c));
    tg_free(printed);
    const tg_processor_vtable *vt;
    EXPECT_CLEARS(tg_chain_stage(&vt, c, 0));
    const int32_t prompt[3] = {1, 2, 3};
    EXPECT_CLEARS(tg_chain_set_prompt(c, prompt, 3));
    int traced = 0;
    EXPECT_CLEARS(tg_chain_set_trace(c, on_trace, 3, &traced));
    EXPECT_CLEARS(tg_chain_set_seed(c, 7, 0));
    tg_model_info info = TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, model), TG_OK);
    float *logits = g_new(float, (size_t)info.n_vocab);
    for (int32_t i = 0; i < info.n_vocab; i++)
        logits[i] = (float)(i % 7);
    int32_t tok;
    float lp;
    EXPECT_CLEARS(tg_chain_sample(&tok, &lp, c, logits));
    cr_assert_eq(traced, 1);
    EXPECT_CLEARS(tg_chain_accept(c, tok));
    int32_t stop;
    EXPECT_CLEARS(tg_chain_check_stop(&stop, c));
    void *saved;
    size_t saved_len;
    EXPECT_CLEARS(tg_chain_save(&saved, &saved_len, c));
    tg_chain *copy;
    EXPECT_CLEARS(tg_chain_clone(&copy, c));
    EXPECT_CLEARS(tg_chain_restore(copy, saved, saved_len));
    EXPECT_CLEARS(tg_chain_reset(c));
    tg_free(saved);
    g_free(logits);
    tg_chain_free(copy);
    tg_chain_free(c);
    tg_chain *parsed;
    EXPECT_CLEARS(tg_chain_parse(&parsed, "dry(multiplier=0.8) top_p(p=0.9) greedy", &co));
    tg_chain_free(parsed);

    char *dir = tu_tmpdir();
    const char *ini = "[chain]\nseed=3\n\n[stage top_k]\nk=4\n\n[stage greedy]\n";
    tu_write_file(dir, "chain.ini", ini, strlen(ini));
    char *path = g_build_filename(dir, "chain.ini", NULL);
    EXPECT_CLEARS(tg_chain_create(&c, &co));
    EXPECT_CLEARS(tg_chain_load_file(c, path));
    tg_chain_free(c);
    g_free(path);

    tg_processor_info pi = TG_PROCESSOR_INFO_INIT;
    EXPECT_CLEARS(tg_processor_find(&pi, "top_k"));
    EXPECT_CLEARS(tg_processor_at(&pi, 0));
    EXPECT_CLEARS(tg_plugin_add_dir(dir)); /* an empty folder: nothing to load, no failure */
    EXPECT_CLEARS(tg_plugin_scan());
    char *good = g_build_filename(getenv("TG_TEST_PLUGINS"), "good.so", NULL);
    EXPECT_CLEARS(tg_plugin_load(good));
    g_free(good);
    tu_rmtree(dir);
    g_free(dir);
}

static tg_status noop_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state, (void)c, (void)step;
    return TG_OK;
}

static tg_status noop_create(void **state, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v, (void)ctx;
    *state = NULL;
    return TG_OK;
}

Test(error_clear, plugin_register)
{
    static const tg_processor_vtable vt = {
        .struct_size = TG_PROCESSOR_VTABLE_SIZE,
        .name = "error_clear_noop",
        .kind = TG_PROC_TRANSFORM,
        .doc = "does nothing",
        .create = noop_create,
        .apply = noop_apply,
    };
    static const tg_processor_vtable *const list[] = {&vt};
    static const tg_plugin_desc desc = {TG_PLUGIN_ABI_VERSION,
                                        sizeof desc,
                                        "error_clear_noop",
                                        "1",
                                        "MIT",
                                        "a test",
                                        list,
                                        1,
                                        {NULL}};
    EXPECT_CLEARS(tg_plugin_register(&desc, NULL));
}

Test(error_clear, generation_calls)
{
    tg_generate_options o;
    EXPECT_CLEARS(tg_generate_options_init(&o, sizeof o));
    o.samplers = "dry top_k(k=5) dist";
    o.max_new_tokens = 6;
    o.seed = 1;
    tg_result *r;
    EXPECT_CLEARS(tg_generate(&r, model, "ROMEO:", &o));
    tg_timing t = TG_TIMING_INIT;
    EXPECT_CLEARS(tg_result_timing(&t, r));
    tg_result_free(r);
    o.samplers = NULL;
    o.num_beams = 3;
    o.num_return_sequences = 2;
    EXPECT_CLEARS(tg_generate(&r, model, "ROMEO:", &o));
    cr_assert_eq(tg_result_n_sequences(r), 2);
    tg_result_free(r);

    tg_generator *g;
    EXPECT_CLEARS(tg_generator_create(&g, model, "ROMEO:", &o));
    int32_t tok, stop = 0;
    const char *text;
    size_t len;
    EXPECT_CLEARS(tg_generator_next(&tok, &text, &len, &stop, g));
    while (!stop) /* beam search has its sequences once it ends */
        cr_assert_eq(tg_generator_next(&tok, &text, &len, &stop, g), TG_OK, "%s", tg_error_last());
    EXPECT_CLEARS(tg_generator_result(&r, g));
    cr_assert_eq(tg_result_n_sequences(r), 2);
    tg_result_free(r);
    tg_generator_free(g);
}

/* ---- a failure's message survives the cleanup that follows it ---- */

static tg_status refuse_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state, (void)c;
    if (step->step < 2)
        return TG_OK;
    tg_plugin_set_error(TG_EUSER, "refused at step 2");
    return TG_EUSER;
}

Test(error_clear, a_failing_stage_keeps_its_message_through_cleanup)
{
    static const tg_processor_vtable vt = {
        .struct_size = TG_PROCESSOR_VTABLE_SIZE,
        .name = "error_clear_refuse",
        .kind = TG_PROC_TRANSFORM,
        .doc = "fails at the third step",
        .create = noop_create,
        .apply = refuse_apply,
    };
    static const tg_processor_vtable *const list[] = {&vt};
    static const tg_plugin_desc desc = {TG_PLUGIN_ABI_VERSION,
                                        sizeof desc,
                                        "error_clear_refuse",
                                        "1",
                                        "MIT",
                                        "a test",
                                        list,
                                        1,
                                        {NULL}};
    cr_assert_eq(tg_plugin_register(&desc, NULL), TG_OK, "%s", tg_error_last());
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "error_clear_refuse greedy";
    o.max_new_tokens = 8;
    o.flags = TG_GEN_NO_CONFIG;
    for (int32_t beams = 1; beams <= 3; beams += 2) {
        o.num_beams = beams; /* the loop of one sequence, and beam search */
        tg_result *r = (tg_result *)0x1;
        cr_assert_eq(tg_generate(&r, model, "ROMEO:", &o), TG_EUSER, "%s", tg_error_last());
        cr_assert_null(r);
        cr_assert(strstr(tg_error_last(), "'error_clear_refuse' failed: refused at step 2") != NULL,
                  "beams %d: %s", beams, tg_error_last());
        cr_assert_eq(tg_error_last_status(), TG_EUSER);
    }
}

Test(error_clear, a_bad_beam_option_keeps_its_message)
{
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.num_beams = 2;
    o.beam_scorers = "length_penalty(alpha=1) no_such_scorer";
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:", &o), TG_ESPEC);
    cr_assert(strstr(tg_error_last(), "no_such_scorer") != NULL, "%s", tg_error_last());
    cr_assert_eq(tg_error_last_status(), TG_ESPEC);
}

/* The installed folders exist only once installed: in the build tree these fail, and then keep
 * their own message, never the earlier failure's; installed, they succeed and clear it. */
static void expect_clears_or_own_message(tg_status (*fn)(const char **), const char *own)
{
    const char *dir;
    fail_first();
    if (fn(&dir) == TG_OK) {
        cr_assert_str_eq(tg_error_last(), "");
        cr_assert_eq(tg_error_last_status(), TG_OK);
    } else {
        cr_assert(strstr(tg_error_last(), own) != NULL, "%s", tg_error_last());
        cr_assert(strstr(tg_error_last(), "folder-error-clear") == NULL, "%s", tg_error_last());
    }
}

Test(error_clear, folder_calls)
{
    expect_clears_or_own_message(tg_plugins_dir, "plugin folder");
    expect_clears_or_own_message(tg_bundled_model_dir, "bundled model");
    const char *dir;
    setenv("TEXTGEN_MODEL", model_dir, 1); /* names the default model */
    EXPECT_CLEARS(tg_default_model_dir(&dir));
    cr_assert_str_eq(dir, model_dir);
    tg_model *m = NULL;
    EXPECT_CLEARS(tg_model_load_default(&m, NULL));
    tg_model_free(m);
    unsetenv("TEXTGEN_MODEL");
}
