/* ABI test 6: the growth rule of versioned structs (docs/abi.md, "Structs that grow").
 *
 * - An "old caller": a program built against the first released layouts. Its structs are
 *   declared here as frozen copies (old_*), so they stay the 0.1 layout when the headers grow;
 *   the library must serve them, with defaults for the fields they lack, and never write past
 *   their struct_size.
 * - A "newer caller": structs larger than the library's (new fields appended). Accepted when the
 *   fields the library does not know are zero, refused by name otherwise; info structs get those
 *   bytes zeroed.
 * - tg_x_options_init(opts, size) for every size from the first layout to beyond the library's:
 *   defaults within the size, not one byte past it. */
#include "core/error.h"
#include "core/versioned.h"

#include <criterion/criterion.h>
#include <glib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

/* ---- the first released layouts (0.1), frozen: never edit these ---- */

typedef struct old_model_options {
    uint32_t struct_size;
    uint32_t weight_type;
} old_model_options;

typedef struct old_model_info {
    uint32_t struct_size;
    int32_t n_vocab, n_ctx, n_layer, n_head, n_embd, n_inner, bos_id, eos_id;
    uint32_t weight_type;
} old_model_info;

typedef struct old_session_options {
    uint32_t struct_size;
    uint32_t n_seq, n_ctx;
    int32_t n_threads;
    uint32_t n_batch;
} old_session_options;

typedef struct old_generate_options {
    uint32_t struct_size;
    const char *samplers;
    int32_t max_new_tokens;
    const char *const *stop_strings;
    size_t n_stop_strings;
    const int32_t *stop_tokens;
    size_t n_stop_tokens;
    double max_time_s;
    uint64_t seed;
    int32_t n_threads;
    uint32_t flags;
    tg_stream_fn on_text;
    void *user_data;
} old_generate_options;

typedef struct old_timing {
    uint32_t struct_size;
    double prompt_s, generate_s, sample_s;
    int32_t n_prompt, n_generated;
} old_timing;

typedef struct old_chain_options {
    uint32_t struct_size;
    int32_t n_vocab;
    const tg_model *model;
    const int32_t *eos_ids;
    size_t n_eos;
    uint64_t seed;
} old_chain_options;

typedef struct old_processor_info {
    uint32_t struct_size;
    const tg_processor_vtable *vtable;
    const tg_plugin_desc *plugin;
    const char *path;
} old_processor_info;

typedef struct old_tokenizer_options {
    uint32_t struct_size;
    int32_t bos_id, eos_id;
} old_tokenizer_options;

typedef struct old_session_info { /* first released in 0.1 with the paged KV cache */
    uint32_t struct_size;
    uint32_t n_seq, n_ctx, n_batch;
    int32_t n_threads;
    uint32_t kv_block_positions;
    uint64_t kv_block_bytes, kv_bytes_in_use, kv_bytes_allocated;
} old_session_info;

/* A struct as a newer program sees it: the library's layout plus fields appended. */
#define NEWER(T)                                                                                   \
    struct {                                                                                       \
        T cur;                                                                                     \
        uint64_t future[4];                                                                        \
    }

#define CANARY 0xC5

static tg_model *model;
static char *model_dir;

static void setup(void)
{
    model_dir = g_build_filename(getenv("TG_TEST_DATA"), "models", "char_tiny", NULL);
    cr_assert_eq(tg_model_load(&model, model_dir, NULL), TG_OK, "%s", tg_error_last());
}

static void teardown(void)
{
    tg_model_free(model);
    g_free(model_dir);
}

TestSuite(struct_growth, .init = setup, .fini = teardown);

/* 1 if every byte of p[from, to) is `v`. */
static int bytes_are(const void *p, size_t from, size_t to, unsigned v)
{
    for (size_t i = from; i < to; i++)
        if (((const unsigned char *)p)[i] != v)
            return 0;
    return 1;
}

/* ---- old callers ---- */

Test(struct_growth, an_old_caller_generates_like_a_current_one)
{
    old_generate_options old;
    memset(&old, 0, sizeof old);
    old.struct_size = sizeof old;
    old.samplers = "top_k(k=20) dist";
    old.max_new_tokens = 12;
    old.seed = 3;
    tg_result *a, *b;
    cr_assert_eq(tg_generate(&a, model, "ROMEO:", (const tg_generate_options *)&old), TG_OK, "%s",
                 tg_error_last());
    tg_generate_options cur = TG_GENERATE_OPTIONS_INIT;
    cur.samplers = "top_k(k=20) dist";
    cur.max_new_tokens = 12;
    cur.seed = 3;
    cr_assert_eq(tg_generate(&b, model, "ROMEO:", &cur), TG_OK);
    cr_assert_str_eq(tg_result_text(a, NULL), tg_result_text(b, NULL));
    /* exactly as before: one sequence (no beams), the same tokens and log-probabilities */
    cr_assert_eq(tg_result_n_sequences(a), 1);
    size_t na, nb;
    const int32_t *ta = tg_result_tokens(a, &na), *tb = tg_result_tokens(b, &nb);
    cr_assert(na == 12 && nb == 12 && memcmp(ta, tb, na * sizeof *ta) == 0);
    const float *la = tg_result_logprobs(a, &na), *lb = tg_result_logprobs(b, &nb);
    cr_assert_eq(memcmp(la, lb, na * sizeof *la), 0);
    /* the old caller's timing struct: filled up to its size, nothing past it */
    struct {
        old_timing t;
        unsigned char after[32];
    } tm;
    memset(&tm, CANARY, sizeof tm);
    tm.t.struct_size = sizeof tm.t;
    cr_assert_eq(tg_result_timing((tg_timing *)&tm.t, a), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tm.t.n_generated, 12);
    cr_assert_eq(tm.t.struct_size, sizeof tm.t);
    cr_assert(bytes_are(tm.after, 0, sizeof tm.after, CANARY), "written past the old struct");
    tg_result_free(a);
    tg_result_free(b);
}

Test(struct_growth, old_option_structs_are_served)
{
    old_model_options mo = {sizeof mo, TG_WEIGHTS_F32};
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, model_dir, (const tg_model_options *)&mo), TG_OK, "%s",
                 tg_error_last());
    old_session_options so = {sizeof so, 2, 32, 1, 0};
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, m, (const tg_session_options *)&so), TG_OK, "%s",
                 tg_error_last());
    tg_session_free(s);
    old_chain_options co = {sizeof co, 0, m, NULL, 0, 7};
    tg_chain *c;
    cr_assert_eq(tg_chain_parse(&c, "top_k(k=3) dist", (const tg_chain_options *)&co), TG_OK, "%s",
                 tg_error_last());
    tg_chain_free(c);
    old_tokenizer_options to = {sizeof to, TG_TOKEN_AUTO, TG_TOKEN_AUTO};
    tg_tokenizer *t;
    cr_assert_eq(tg_tokenizer_load(&t, model_dir, (const tg_tokenizer_options *)&to), TG_OK, "%s",
                 tg_error_last());
    tg_tokenizer_free(t);
    tg_model_free(m);
}

Test(struct_growth, old_info_structs_are_filled_up_to_their_size)
{
    struct {
        old_model_info info;
        unsigned char after[32];
    } mi;
    memset(&mi, CANARY, sizeof mi);
    mi.info.struct_size = sizeof mi.info;
    cr_assert_eq(tg_model_get_info((tg_model_info *)&mi.info, model), TG_OK, "%s", tg_error_last());
    cr_assert_eq(mi.info.n_vocab, 97);
    cr_assert_eq(mi.info.weight_type, TG_WEIGHTS_F32);
    cr_assert_eq(mi.info.struct_size, sizeof mi.info);
    cr_assert(bytes_are(mi.after, 0, sizeof mi.after, CANARY), "written past the old struct");
    struct {
        old_processor_info info;
        unsigned char after[32];
    } pi;
    memset(&pi, CANARY, sizeof pi);
    pi.info.struct_size = sizeof pi.info;
    cr_assert_eq(tg_processor_find((tg_processor_info *)&pi.info, "top_k"), TG_OK, "%s",
                 tg_error_last());
    cr_assert_str_eq(pi.info.vtable->name, "top_k");
    cr_assert(bytes_are(pi.after, 0, sizeof pi.after, CANARY), "written past the old struct");
}

Test(struct_growth, a_struct_smaller_than_the_first_layout_is_refused)
{
    old_generate_options old;
    memset(&old, 0, sizeof old);
    old.struct_size = offsetof(old_generate_options, user_data); /* one member short */
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:", (const tg_generate_options *)&old), TG_EINVAL);
    char want[160];
    snprintf(want, sizeof want,
             "tg_generate_options: struct_size %zu is smaller than the oldest layout this library "
             "accepts (%zu bytes)",
             offsetof(old_generate_options, user_data), sizeof(old_generate_options));
    cr_assert(strstr(tg_error_last(), want), "%s", tg_error_last());
    old_session_options so = {4, 1, 0, 0, 0};
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, (const tg_session_options *)&so), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_session_options: struct_size 4"), "%s", tg_error_last());
    tg_timing t = TG_TIMING_INIT;
    t.struct_size = 8;
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.max_new_tokens = 1;
    cr_assert_eq(tg_generate(&r, model, "A", &o), TG_OK);
    cr_assert_eq(tg_result_timing(&t, r), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_timing"), "%s", tg_error_last());
    tg_result_free(r);
}

/* ---- newer callers ---- */

Test(struct_growth, a_newer_caller_with_its_new_fields_unset_is_served)
{
    NEWER(tg_generate_options) g;
    memset(&g, 0, sizeof g);
    g.cur = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    g.cur.struct_size = sizeof g;
    g.cur.samplers = "greedy";
    g.cur.max_new_tokens = 4;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:", &g.cur), TG_OK, "%s", tg_error_last());
    size_t n;
    tg_result_tokens(r, &n);
    cr_assert_eq(n, 4);
    tg_result_free(r);
    NEWER(tg_session_options) so;
    memset(&so, 0, sizeof so);
    so.cur = (tg_session_options)TG_SESSION_OPTIONS_INIT;
    so.cur.struct_size = sizeof so;
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, &so.cur), TG_OK, "%s", tg_error_last());
    tg_session_free(s);
}

Test(struct_growth, a_newer_caller_using_a_field_this_library_lacks_is_refused_by_name)
{
    NEWER(tg_generate_options) g;
    memset(&g, 0, sizeof g);
    g.cur = (tg_generate_options)TG_GENERATE_OPTIONS_INIT;
    g.cur.struct_size = sizeof g;
    g.future[1] = 3;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:", &g.cur), TG_EUNSUPPORTED);
    char want[160];
    snprintf(want, sizeof want, "tg_generate_options: struct_size %zu is larger than this library",
             sizeof g);
    cr_assert(strstr(tg_error_last(), want), "%s", tg_error_last());
    snprintf(want, sizeof want, "(byte %zu is not zero)", offsetof(__typeof__(g), future[1]));
    cr_assert(strstr(tg_error_last(), want), "%s", tg_error_last());
    NEWER(tg_model_options) mo;
    memset(&mo, 0, sizeof mo);
    mo.cur.struct_size = sizeof mo;
    mo.future[3] = 1;
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, model_dir, &mo.cur), TG_EUNSUPPORTED);
    cr_assert(strstr(tg_error_last(), "tg_model_options"), "%s", tg_error_last());
}

Test(struct_growth, a_newer_callers_info_struct_gets_the_unknown_fields_zeroed)
{
    struct {
        NEWER(tg_model_info) info;
        unsigned char after[16];
    } mi;
    memset(&mi, CANARY, sizeof mi);
    mi.info.cur.struct_size = sizeof mi.info;
    cr_assert_eq(tg_model_get_info(&mi.info.cur, model), TG_OK, "%s", tg_error_last());
    cr_assert_eq(mi.info.cur.n_vocab, 97);
    cr_assert_eq(mi.info.cur.struct_size, sizeof(tg_model_info),
                 "struct_size says what was filled");
    cr_assert(bytes_are(&mi.info, sizeof(tg_model_info), sizeof mi.info, 0), "tail not zeroed");
    cr_assert(bytes_are(mi.after, 0, sizeof mi.after, CANARY), "written past the struct");
}

/* ---- a newer caller on an older library: the zero-tail rule for the beam search fields ----
 *
 * A program built with beam search's headers may run on a 0.1 library, which knows only the
 * first layout of tg_generate_options. That library reads the caller's struct with
 * tg__struct_read() and its own (first-layout) size; lib/core/versioned.c is compiled into this
 * test to be that reader, with the first layout's size. Its errors go through tg__error(),
 * defined here (the library's own is internal to the library). */

static char older_error[1024];

tg_status tg__error(tg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(older_error, sizeof older_error, fmt, ap);
    va_end(ap);
    return status;
}

/* The 0.1 library reading a current caller's options. */
static tg_status read_as_0_1(const tg_generate_options *cur)
{
    old_generate_options lib;
    memset(&lib, 0, sizeof lib);
    older_error[0] = '\0';
    return tg__struct_read(&lib, sizeof lib, cur, TG_GENERATE_OPTIONS_V1_SIZE,
                           "tg_generate_options");
}

Test(struct_growth, the_beam_fields_default_to_zero_so_older_libraries_serve_them)
{
    cr_assert_eq(TG_GENERATE_OPTIONS_V1_SIZE, sizeof(old_generate_options));
    const tg_generate_options cur = TG_GENERATE_OPTIONS_INIT;
    cr_assert(bytes_are(&cur, sizeof(old_generate_options), sizeof cur, 0),
              "a field added after 0.1 has a non-zero default: older libraries would refuse "
              "every caller");
    cr_assert_eq(read_as_0_1(&cur), TG_OK, "%s", older_error);
}

#define EXPECT_REFUSED_BY_0_1(field, value)                                                        \
    do {                                                                                           \
        tg_generate_options cur = TG_GENERATE_OPTIONS_INIT;                                        \
        cur.field = value;                                                                         \
        cr_assert_eq(read_as_0_1(&cur), TG_EUNSUPPORTED, #field);                                  \
        char want[64];                                                                             \
        snprintf(want, sizeof want, "(byte %zu is not zero)",                                      \
                 offsetof(tg_generate_options, field));                                            \
        cr_assert(strstr(older_error, want), #field ": %s", older_error);                          \
        cr_assert(strstr(older_error, "built against newer headers"), "%s", older_error);          \
    } while (0)

static void on_trace(const tg_step_trace *t, void *user)
{
    (void)t;
    (void)user;
}

Test(struct_growth, a_beam_request_is_refused_by_a_0_1_library_not_run_as_greedy)
{
    EXPECT_REFUSED_BY_0_1(num_beams, 4);
    EXPECT_REFUSED_BY_0_1(num_return_sequences, 2);
    EXPECT_REFUSED_BY_0_1(early_stopping, TG_EARLY_STOP_NEVER);
    EXPECT_REFUSED_BY_0_1(beam_scorers, "length_penalty(alpha=2)");
    EXPECT_REFUSED_BY_0_1(on_trace, on_trace);
    EXPECT_REFUSED_BY_0_1(trace_top_n, 5);
    EXPECT_REFUSED_BY_0_1(trace_steps, 3);
    /* and this library serves the same request */
    tg_generate_options cur = TG_GENERATE_OPTIONS_INIT;
    cur.samplers = "greedy";
    cur.max_new_tokens = 5;
    cur.num_beams = 4;
    cur.num_return_sequences = 2;
    tg_result *r;
    cr_assert_eq(tg_generate(&r, model, "ROMEO:", &cur), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_result_n_sequences(r), 2);
    tg_result_free(r);
}

/* ---- tg_x_options_init(opts, size) ---- */

/* For every size from the first layout to 32 bytes beyond the library's: defaults for the
 * fields the size covers (equal to the INIT macro's), zero beyond the library's layout, and not
 * one byte past `size`. Sizes below the first layout are refused without writing anything. */
#define CHECK_INIT(T, INIT, fn, first_size)                                                        \
    do {                                                                                           \
        const T want = INIT;                                                                       \
        unsigned char buf[sizeof(T) + 64];                                                         \
        for (size_t size = 0; size <= sizeof(T) + 32; size++) {                                    \
            memset(buf, CANARY, sizeof buf);                                                       \
            tg_status st = fn((T *)(void *)buf, (uint32_t)size);                                   \
            if (size < (first_size)) {                                                             \
                cr_assert_eq(st, TG_EINVAL, #fn "(%zu)", size);                                    \
                cr_assert(strstr(tg_error_last(), "smaller than the oldest layout"));              \
                cr_assert(bytes_are(buf, 0, sizeof buf, CANARY), #fn "(%zu) wrote", size);         \
                continue;                                                                          \
            }                                                                                      \
            cr_assert_eq(st, TG_OK, #fn "(%zu): %s", size, tg_error_last());                       \
            uint32_t got_size;                                                                     \
            memcpy(&got_size, buf, sizeof got_size);                                               \
            cr_assert_eq(got_size, size, #fn "(%zu) struct_size", size);                           \
            size_t covered = size < sizeof(T) ? size : sizeof(T);                                  \
            cr_assert_eq(memcmp(buf + 4, (const char *)&want + 4, covered - 4), 0,                 \
                         #fn "(%zu): not the defaults", size);                                     \
            cr_assert(bytes_are(buf, sizeof(T), size, 0), #fn "(%zu): newer tail not zero", size); \
            cr_assert(bytes_are(buf, size, sizeof buf, CANARY), #fn "(%zu) wrote past the size",   \
                      size);                                                                       \
        }                                                                                          \
        cr_assert_eq(fn(NULL, sizeof(T)), TG_EINVAL);                                              \
    } while (0)

Test(struct_growth, init_functions_never_write_past_the_size_they_are_given)
{
    CHECK_INIT(tg_model_options, TG_MODEL_OPTIONS_INIT, tg_model_options_init,
               sizeof(old_model_options));
    CHECK_INIT(tg_session_options, TG_SESSION_OPTIONS_INIT, tg_session_options_init,
               sizeof(old_session_options));
    CHECK_INIT(tg_generate_options, TG_GENERATE_OPTIONS_INIT, tg_generate_options_init,
               sizeof(old_generate_options));
    CHECK_INIT(tg_chain_options, TG_CHAIN_OPTIONS_INIT, tg_chain_options_init,
               sizeof(old_chain_options));
    CHECK_INIT(tg_tokenizer_options, TG_TOKENIZER_OPTIONS_INIT, tg_tokenizer_options_init,
               sizeof(old_tokenizer_options));
}

/* The frozen copies above really are the prefixes of today's layouts (a guard against editing
 * one side only): same offsets for every first-layout member. */
Test(struct_growth, frozen_layouts_are_prefixes_of_the_current_ones)
{
    cr_assert_eq(offsetof(old_generate_options, user_data),
                 offsetof(tg_generate_options, user_data));
    cr_assert_eq(offsetof(old_generate_options, seed), offsetof(tg_generate_options, seed));
    cr_assert_eq(offsetof(old_session_options, n_batch), offsetof(tg_session_options, n_batch));
    cr_assert_eq(offsetof(old_model_info, weight_type), offsetof(tg_model_info, weight_type));
    cr_assert_eq(offsetof(old_timing, n_generated), offsetof(tg_timing, n_generated));
    cr_assert_eq(offsetof(old_chain_options, seed), offsetof(tg_chain_options, seed));
    cr_assert_eq(offsetof(old_processor_info, path), offsetof(tg_processor_info, path));
    cr_assert_eq(offsetof(old_tokenizer_options, eos_id), offsetof(tg_tokenizer_options, eos_id));
    cr_assert_geq(sizeof(tg_generate_options), sizeof(old_generate_options));
    cr_assert_geq(sizeof(tg_model_info), sizeof(old_model_info));
    cr_assert_eq(offsetof(old_session_info, kv_bytes_allocated),
                 offsetof(tg_session_info, kv_bytes_allocated));
    cr_assert_geq(sizeof(tg_session_info), sizeof(old_session_info));
}

/* tg_session_info follows the same rule: its first layout is served, a newer caller's unknown
 * tail is zeroed, a smaller struct is refused. */
Test(struct_growth, session_info_follows_the_rule)
{
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, NULL), TG_OK, "%s", tg_error_last());
    struct {
        old_session_info info;
        unsigned char after[32];
    } oi;
    memset(&oi, CANARY, sizeof oi);
    oi.info.struct_size = sizeof oi.info;
    cr_assert_eq(tg_session_get_info((tg_session_info *)&oi.info, s), TG_OK, "%s", tg_error_last());
    cr_assert_eq(oi.info.n_seq, 1);
    cr_assert_eq(oi.info.kv_block_positions, 16);
    cr_assert(bytes_are(oi.after, 0, sizeof oi.after, CANARY), "written past the old struct");
    struct {
        NEWER(tg_session_info) info;
        unsigned char after[16];
    } ni;
    memset(&ni, CANARY, sizeof ni);
    ni.info.cur.struct_size = sizeof ni.info;
    cr_assert_eq(tg_session_get_info(&ni.info.cur, s), TG_OK, "%s", tg_error_last());
    cr_assert_eq(ni.info.cur.struct_size, sizeof(tg_session_info));
    cr_assert(bytes_are(&ni.info, sizeof(tg_session_info), sizeof ni.info, 0), "tail not zeroed");
    cr_assert(bytes_are(ni.after, 0, sizeof ni.after, CANARY), "written past the struct");
    tg_session_info small = TG_SESSION_INFO_INIT;
    small.struct_size = offsetof(tg_session_info, kv_bytes_allocated);
    cr_assert_eq(tg_session_get_info(&small, s), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_session_info"), "%s", tg_error_last());
    tg_session_free(s);
}
