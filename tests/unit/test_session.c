/* Sessions: sequence copy / truncate / clear, thread counts, model info, kernel selection. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static tg_model *model;
static tg_model_info info;
static const int32_t prompt[] = {82, 61, 56, 0, 1, 56, 58, 74, 81, 46, 64, 40};
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

static void load(void)
{
    char *dir = tu_data_path("models/hf_tanh_bias");
    cr_assert_eq(tg_model_load(&model, dir, NULL), TG_OK, "%s", tg_error_last());
    info = (tg_model_info)TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, model), TG_OK);
    g_free(dir);
}

static void unload(void)
{
    tg_model_free(model);
}

TestSuite(session, .init = load, .fini = unload);

static tg_session *make(uint32_t n_seq, int32_t threads)
{
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    o.n_seq = n_seq;
    o.n_threads = threads;
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_OK, "%s", tg_error_last());
    return s;
}

static void feed(tg_session *s, int32_t seq, int32_t pos0, const int32_t *ids, size_t n)
{
    tg_batch_row rows[64];
    for (size_t i = 0; i < n; i++)
        rows[i] = (tg_batch_row){ids[i], pos0 + (int32_t)i, seq, i + 1 == n};
    cr_assert_eq(tg_session_decode(s, rows, n), TG_OK, "%s", tg_error_last());
}

static float *last_logits(tg_session *s, size_t row)
{
    const float *lg;
    cr_assert_eq(tg_session_logits(&lg, s, row), TG_OK, "%s", tg_error_last());
    return g_memdup2(lg, (size_t)info.n_vocab * sizeof(float));
}

Test(session, model_info_reports_the_config)
{
    cr_assert_eq(info.n_vocab, 97);
    cr_assert_eq(info.n_ctx, 96);
    cr_assert_eq(info.n_layer, 2);
    cr_assert_eq(info.n_head, 4);
    cr_assert_eq(info.n_embd, 48);
    cr_assert_eq(info.n_inner, 192);
    cr_assert_eq(info.bos_id, 96);
    cr_assert_eq(info.eos_id, 96);
    cr_assert_eq(info.weight_type, TG_WEIGHTS_F32);
    /* wte 97*48 + wpe 96*48 + 2 layers * (4*48 LN + 48*144+144 + 48*48+48 + 48*192+192 +
     * 192*48+48) + ln_f 2*48 (tied output layer counted once, buffers excluded) */
    uint64_t per_layer = 4 * 48 + 48 * 144 + 144 + 48 * 48 + 48 + 48 * 192 + 192 + 192 * 48 + 48;
    cr_assert_eq(info.n_params, 97 * 48 + 96 * 48 + 2 * per_layer + 2 * 48);
    cr_assert_geq(info.weight_bytes,
                  (uint64_t)(2 * (48 * 144 + 48 * 48 + 2 * 48 * 192) + 48 * 97) * 4);
    cr_assert_str_neq(tg_model_path(model), "");
}

Test(session, info_struct_size_limits_what_is_written)
{
    tg_model_info small;
    memset(&small, 0xAB, sizeof small);
    small.struct_size = (uint32_t)offsetof(tg_model_info, n_params);
    cr_assert_eq(tg_model_get_info(&small, model), TG_OK);
    cr_assert_eq(small.n_vocab, 97);
    uint64_t untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    cr_assert_eq(memcmp(&small.n_params, &untouched, sizeof untouched), 0);
    small.struct_size = 4;
    cr_assert_eq(tg_model_get_info(&small, model), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "struct_size") != NULL);
}

Test(session, copied_sequence_continues_like_the_original)
{
    tg_session *s = make(3, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    cr_assert_eq(tg_session_seq_copy(s, 2, 0), TG_OK);
    int32_t len;
    cr_assert_eq(tg_session_seq_length(&len, s, 2), TG_OK);
    cr_assert_eq(len, (int32_t)N_PROMPT);
    tg_batch_row rows[2] = {{5, N_PROMPT, 0, 1}, {5, N_PROMPT, 2, 1}};
    cr_assert_eq(tg_session_decode(s, rows, 2), TG_OK, "%s", tg_error_last());
    float *a = last_logits(s, 0), *b = last_logits(s, 1);
    cr_assert_leq(tu_max_abs_diff(a, b, (size_t)info.n_vocab), 1e-6);
    g_free(a);
    g_free(b);
    tg_session_free(s);
}

Test(session, truncate_rewinds_and_redecoding_reproduces_logits)
{
    tg_session *s = make(1, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    float *before = last_logits(s, N_PROMPT - 1);
    /* Continue with other tokens, then rewind to 8 and redo the tail. */
    const int32_t junk[] = {3, 4, 5};
    feed(s, 0, N_PROMPT, junk, 3);
    cr_assert_eq(tg_session_seq_truncate(s, 0, 8), TG_OK);
    const float *lg;
    cr_assert_eq(tg_session_logits(&lg, s, 0), TG_EINVAL, "logits are invalid after truncate");
    feed(s, 0, 8, prompt + 8, N_PROMPT - 8);
    float *after = last_logits(s, N_PROMPT - 9);
    cr_assert_leq(tu_max_abs_diff(before, after, (size_t)info.n_vocab), 2e-5);
    cr_assert_eq(tg_session_seq_clear(s, 0), TG_OK);
    int32_t len;
    cr_assert_eq(tg_session_seq_length(&len, s, 0), TG_OK);
    cr_assert_eq(len, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    float *again = last_logits(s, N_PROMPT - 1);
    cr_assert_leq(tu_max_abs_diff(before, again, (size_t)info.n_vocab), 1e-6);
    g_free(before);
    g_free(after);
    g_free(again);
    tg_session_free(s);
}

Test(session, two_threads_give_the_same_logits_as_one)
{
    tg_session *one = make(1, 1), *two = make(1, 2);
    feed(one, 0, 0, prompt, N_PROMPT);
    feed(two, 0, 0, prompt, N_PROMPT);
    float *a = last_logits(one, N_PROMPT - 1), *b = last_logits(two, N_PROMPT - 1);
    cr_assert_leq(tu_max_abs_diff(a, b, (size_t)info.n_vocab), 1e-5);
    g_free(a);
    g_free(b);
    tg_session_free(one);
    tg_session_free(two);
}

Test(session, a_failed_decode_appends_nothing)
{
    tg_session *s = make(2, 0);
    feed(s, 0, 0, prompt, 4);
    tg_batch_row rows[2] = {{1, 4, 0, 1}, {1000, 0, 1, 1}};
    cr_assert_eq(tg_session_decode(s, rows, 2), TG_ERANGE);
    int32_t len;
    tg_session_seq_length(&len, s, 0);
    cr_assert_eq(len, 4);
    tg_session_seq_length(&len, s, 1);
    cr_assert_eq(len, 0);
    tg_session_free(s);
}

static GString *log_text;
static void capture(int32_t level, const char *msg, void *user)
{
    (void)user;
    g_string_append_printf(log_text, "%d %s\n", (int)level, msg);
}

/* Every primitive on the hot path must be an optimized kernel: a "ref:" implementation is 10 to
 * 300 times slower and means a descriptor needs fixing. */
Test(session, no_primitive_runs_on_a_reference_kernel)
{
    log_text = g_string_new(NULL);
    tg_log_set(capture, TG_LOG_DEBUG, NULL);
    tg_model *m;
    char *dir = tu_data_path("models/hf_tanh_bias");
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK);
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    o.n_seq = 2;
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, m, &o), TG_OK);
    tg_batch_row rows[3] = {{1, 0, 0, 1}, {2, 1, 0, 1}, {3, 0, 1, 1}};
    cr_assert_eq(tg_session_decode(s, rows, 3), TG_OK);
    tg_batch_row one = {4, 2, 0, 1};
    cr_assert_eq(tg_session_decode(s, &one, 1), TG_OK);
    tg_log_set(NULL, 0, NULL);
    cr_assert(strstr(log_text->str, "primitive attn.c_attn") != NULL, "log:\n%s", log_text->str);
    cr_assert(strstr(log_text->str, "primitive attention q.k") != NULL);
    cr_assert(strstr(log_text->str, "primitive lm_head") != NULL);
    cr_assert(strstr(log_text->str, "ref:") == NULL, "a reference kernel was chosen:\n%s",
              log_text->str);
    tg_session_free(s);
    tg_model_free(m);
    g_free(dir);
    g_string_free(log_text, TRUE);
}
