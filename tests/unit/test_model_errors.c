/* Every bad model folder gets a clear error — status code and a message naming the file, tensor
 * or field at fault — and never a crash. Broken folders are made from hf_tanh_bias on the fly. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

static char *good_dir;
static char *header; /* the good file's JSON header */
static void *data;
static size_t data_len;
static char *work; /* temp folder holding the broken copy */

static void setup(void)
{
    good_dir = tu_data_path("models/hf_tanh_bias");
    char *st = g_build_filename(good_dir, "model.safetensors", NULL);
    tu_safetensors_split(st, &header, &data, &data_len);
    g_free(st);
    work = tu_copy_model(good_dir);
}

static void teardown(void)
{
    tu_rmtree(work);
    g_free(work);
    g_free(good_dir);
    g_free(header);
    g_free(data);
}

TestSuite(model_errors, .init = setup, .fini = teardown);

/* Load `work` and check the status and that every `needles` substring is in the message. */
static void expect_load_error(tg_status want, const char *const *needles)
{
    tg_model *m = (tg_model *)0x1;
    tg_status st = tg_model_load(&m, work, NULL);
    cr_assert_eq(st, want, "status %d (%s), want %d; message: %s", st, tg_status_str(st), want,
                 tg_error_last());
    cr_assert_null(m, "out must be NULL on failure");
    for (; *needles; needles++)
        cr_assert(strstr(tg_error_last(), *needles) != NULL, "message lacks \"%s\": %s", *needles,
                  tg_error_last());
}
#define EXPECT(status, ...)                                                                        \
    do {                                                                                           \
        const char *const n_[] = {__VA_ARGS__, NULL};                                              \
        expect_load_error(status, n_);                                                             \
    } while (0)

/* Replace the first occurrence of `from` in the good header with `to` and write the file. */
static void write_header_edit(const char *from, const char *to)
{
    char *at = strstr(header, from);
    cr_assert_not_null(at, "test bug: '%s' not in header", from);
    GString *s = g_string_new_len(header, at - header);
    g_string_append(s, to);
    g_string_append(s, at + strlen(from));
    tu_safetensors_write(work, s->str, data, data_len);
    g_string_free(s, TRUE);
}

static void write_config_edit(const char *from, const char *to)
{
    char *p = g_build_filename(good_dir, "config.json", NULL);
    size_t len;
    char *cfg = tu_read_file(p, &len);
    char *at = strstr(cfg, from);
    cr_assert_not_null(at, "test bug: '%s' not in config.json", from);
    GString *s = g_string_new_len(cfg, at - cfg);
    g_string_append(s, to);
    g_string_append(s, at + strlen(from));
    tu_write_file(work, "config.json", s->str, s->len);
    g_string_free(s, TRUE);
    g_free(cfg);
    g_free(p);
}

Test(model_errors, the_good_copy_loads)
{
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, work, NULL), TG_OK, "%s", tg_error_last());
    tg_model_free(m);
}

Test(model_errors, missing_folder)
{
    tu_rmtree(work);
    EXPECT(TG_ENOTFOUND, "does not exist", work);
}

Test(model_errors, folder_is_a_file)
{
    char *f = g_build_filename(work, "config.json", NULL);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, f, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "is not a directory") != NULL, "%s", tg_error_last());
    g_free(f);
}

Test(model_errors, missing_safetensors_file)
{
    char *f = g_build_filename(work, "model.safetensors", NULL);
    remove(f);
    g_free(f);
    EXPECT(TG_ENOTFOUND, "model.safetensors", "cannot open");
}

Test(model_errors, truncated_file_shorter_than_the_length_prefix)
{
    tu_write_file(work, "model.safetensors", "\x10\x00\x00", 3);
    EXPECT(TG_EFORMAT, "model.safetensors", "truncated file (3 bytes");
}

Test(model_errors, truncated_data_section)
{
    tu_safetensors_write(work, header, data, data_len - 100);
    EXPECT(TG_EFORMAT, "model.safetensors", "run past the end of the data");
}

Test(model_errors, header_length_past_end_of_file)
{
    unsigned char buf[16] = {0xff, 0xff, 0x00, 0x00, 0, 0, 0, 0, '{', '}'};
    tu_write_file(work, "model.safetensors", buf, sizeof buf);
    EXPECT(TG_EFORMAT, "header length 65535 runs past the end of the file (16 bytes)");
}

Test(model_errors, header_is_not_json)
{
    tu_safetensors_write(work, "{\"wte.weight\": {\"dtype\": \"F32\",", data, data_len);
    EXPECT(TG_EFORMAT, "model.safetensors", "malformed JSON");
}

Test(model_errors, header_is_not_an_object)
{
    tu_safetensors_write(work, "[1, 2, 3]", data, data_len);
    EXPECT(TG_EFORMAT, "JSON object");
}

Test(model_errors, tensor_offsets_out_of_range)
{
    write_header_edit("\"data_offsets\":[0,36864]", "\"data_offsets\":[0,36864000]");
    EXPECT(TG_EFORMAT, "h.0.attn.bias",
           "data_offsets span 36864000 bytes but shape and dtype need 36864");
}

Test(model_errors, tensor_end_past_the_data)
{
    /* Shift the last tensor (wte) one element past the end, keeping its size right. */
    char *needle = g_strdup_printf("%zu]", data_len);
    char *at = strstr(header, needle);
    cr_assert_not_null(at);
    char *begin = at;
    while (begin > header && begin[-1] != '[')
        begin--;
    unsigned long long b = strtoull(begin, NULL, 10);
    char *from = g_strdup_printf("[%llu,%zu]", b, data_len);
    char *to = g_strdup_printf("[%llu,%zu]", b + 4, data_len + 4);
    write_header_edit(from, to);
    EXPECT(TG_EFORMAT, "run past the end of the data");
    g_free(needle);
    g_free(from);
    g_free(to);
}

Test(model_errors, overlapping_tensors)
{
    /* c_attn.bias moved 4 bytes back into h.0.attn.bias (size unchanged). */
    write_header_edit("\"data_offsets\":[36864,37440]", "\"data_offsets\":[36860,37436]");
    EXPECT(TG_EFORMAT, "overlaps");
}

Test(model_errors, misaligned_tensor)
{
    write_header_edit("\"data_offsets\":[36864,37440]", "\"data_offsets\":[36866,37442]");
    EXPECT(TG_EFORMAT, "h.0.attn.c_attn.bias", "misaligned", "4-byte elements");
}

Test(model_errors, hole_in_the_data)
{
    char *big = g_malloc(data_len + 8);
    memcpy(big, data, data_len);
    g_free(data);
    data = big;
    data_len += 8;
    tu_safetensors_write(work, header, data, data_len);
    EXPECT(TG_EFORMAT, "8 trailing bytes");
}

Test(model_errors, unknown_dtype)
{
    write_header_edit("\"dtype\":\"F32\"", "\"dtype\":\"Q4_K\"");
    EXPECT(TG_EUNSUPPORTED, "unknown dtype \"Q4_K\"");
}

Test(model_errors, duplicate_json_key)
{
    GString *s = g_string_new(header);
    /* Put a second "__metadata__" key in the top-level object. */
    g_string_insert(s, 1, "\"__metadata__\": {\"a\": \"b\"}, ");
    tu_safetensors_write(work, s->str, data, data_len);
    g_string_free(s, TRUE);
    EXPECT(TG_EFORMAT, "key \"__metadata__\" appears twice");
}

Test(model_errors, duplicate_tensor_with_and_without_prefix)
{
    write_header_edit("\"wpe.weight\"", "\"transformer.wte.weight\"");
    EXPECT(TG_EFORMAT, "duplicate tensor", "wte.weight");
}

Test(model_errors, missing_tensor)
{
    write_header_edit("\"h.1.mlp.c_fc.weight\"", "\"h.1.mlp.c_fc.weight_renamed\"");
    EXPECT(TG_ENOTFOUND, "missing tensor 'h.1.mlp.c_fc.weight'");
}

Test(model_errors, shape_disagrees_with_config)
{
    write_config_edit("\"vocab_size\": 97", "\"vocab_size\": 98");
    EXPECT(TG_EFORMAT, "tensor 'wte.weight' has shape [97, 48] but config.json implies [98, 48]");
}

Test(model_errors, wrong_layer_count)
{
    write_config_edit("\"n_layer\": 2", "\"n_layer\": 3");
    EXPECT(TG_ENOTFOUND, "missing tensor 'h.2.ln_1.weight'");
}

/* A config.json that describes fewer layers than the file holds would run with the extra
 * weights unused: refused, naming a tensor of the first unused layer. */
Test(model_errors, file_holds_more_layers_than_the_config)
{
    write_config_edit("\"n_layer\": 2", "\"n_layer\": 1");
    EXPECT(TG_EFORMAT, "model.safetensors: tensor 'h.1.", "is not used by architecture gpt2",
           "unused tensors");
}

Test(model_errors, tensor_of_no_known_role_is_refused)
{
    write_header_edit("\"h.0.attn.masked_bias\"", "\"h.0.attn.rotary\"");
    EXPECT(TG_EFORMAT, "tensor 'h.0.attn.rotary' is not used by architecture gpt2",
           "1 unused tensor;");
}

Test(model_errors, unsupported_config_value_is_refused_by_name)
{
    write_config_edit("\"n_layer\": 2",
                      "\"n_layer\": 2, \"scale_attn_by_inverse_layer_idx\": true");
    EXPECT(TG_EUNSUPPORTED,
           "config.json: \"scale_attn_by_inverse_layer_idx\": true is not supported");
}

/* hf_prefix_erf has its own lm_head.weight: tying it to wte would silently drop it. */
Test(model_errors, tied_config_with_a_different_output_layer)
{
    char *src = tu_data_path("models/hf_prefix_erf");
    char *dir = tu_copy_model(src);
    char *p = g_build_filename(src, "config.json", NULL);
    size_t len;
    char *cfg = tu_read_file(p, &len);
    char *at = strstr(cfg, "\"tie_word_embeddings\": false");
    cr_assert_not_null(at);
    GString *s = g_string_new_len(cfg, at - cfg);
    g_string_append(s, "\"tie_word_embeddings\": true");
    g_string_append(s, at + strlen("\"tie_word_embeddings\": false"));
    tu_write_file(dir, "config.json", s->str, s->len);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_EFORMAT, "%s", tg_error_last());
    cr_assert(strstr(tg_error_last(),
                     "tensor 'lm_head.weight' differs from the token embeddings") != NULL,
              "%s", tg_error_last());
    g_string_free(s, TRUE);
    g_free(cfg);
    g_free(p);
    tu_rmtree(dir);
    g_free(dir);
    g_free(src);
}

Test(model_errors, malformed_config_json)
{
    tu_write_file(work, "config.json", "{\"n_embd\": 48,,}", 16);
    EXPECT(TG_EFORMAT, "config.json", "malformed JSON");
}

Test(model_errors, missing_config_file)
{
    char *f = g_build_filename(work, "config.json", NULL);
    remove(f);
    g_free(f);
    EXPECT(TG_ENOTFOUND, "config.json");
}

Test(model_errors, missing_config_field)
{
    write_config_edit("\"n_head\": 4,", "");
    EXPECT(TG_ENOTFOUND, "config.json", "missing field \"n_head\"");
}

Test(model_errors, config_field_of_wrong_type)
{
    write_config_edit("\"n_embd\": 48", "\"n_embd\": \"48\"");
    EXPECT(TG_EFORMAT, "field \"n_embd\" must be an integer");
}

Test(model_errors, n_embd_not_divisible_by_n_head)
{
    write_config_edit("\"n_head\": 4", "\"n_head\": 5");
    EXPECT(TG_EFORMAT, "n_embd (48) is not divisible by n_head (5)");
}

Test(model_errors, unsupported_architecture)
{
    write_config_edit("\"model_type\": \"gpt2\"", "\"model_type\": \"mamba\"");
    EXPECT(TG_EUNSUPPORTED, "model_type \"mamba\" is not supported",
           "supported: \"gpt2\", \"llama\", \"qwen2\"");
}

Test(model_errors, unsupported_activation)
{
    write_config_edit("\"activation_function\": \"gelu_new\"", "\"activation_function\": \"relu\"");
    EXPECT(TG_EUNSUPPORTED, "activation_function \"relu\"");
}

Test(model_errors, eos_outside_the_vocabulary)
{
    write_config_edit("\"eos_token_id\": 96", "\"eos_token_id\": 97");
    EXPECT(TG_ERANGE, "eos_token_id", "outside the vocabulary");
}

Test(model_errors, bad_options)
{
    tg_model *m;
    tg_model_options o = TG_MODEL_OPTIONS_INIT;
    o.struct_size = 2;
    cr_assert_eq(tg_model_load(&m, work, &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_model_options: struct_size 2") != NULL, "%s",
              tg_error_last());
    o = (tg_model_options)TG_MODEL_OPTIONS_INIT;
    o.weight_type = 9;
    cr_assert_eq(tg_model_load(&m, work, &o), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "weight_type 9") != NULL, "%s", tg_error_last());
    o = (tg_model_options)TG_MODEL_OPTIONS_INIT;
    o.kv_type = 3;
    cr_assert_eq(tg_model_load(&m, work, &o), TG_EINVAL);
    cr_assert(
        strstr(tg_error_last(),
               "tg_model_options.kv_type 3 is not one of TG_KV_AUTO, TG_KV_F32, TG_KV_BF16") !=
            NULL,
        "%s", tg_error_last());
}

/* ---- decode-time errors and NULL arguments ---- */

static tg_model *model;
static tg_session *session;

static void open_session(void)
{
    char *dir = tu_data_path("models/hf_tanh_bias");
    cr_assert_eq(tg_model_load(&model, dir, NULL), TG_OK);
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    o.n_seq = 2;
    o.n_ctx = 16;
    cr_assert_eq(tg_session_create(&session, model, &o), TG_OK);
    g_free(dir);
}

static void close_session(void)
{
    tg_session_free(session);
    tg_model_free(model);
}

TestSuite(decode_errors, .init = open_session, .fini = close_session);

static void expect_decode(const tg_batch_row *rows, size_t n, tg_status want, const char *needle)
{
    tg_status st = tg_session_decode(session, rows, n);
    cr_assert_eq(st, want, "status %d, want %d: %s", st, want, tg_error_last());
    cr_assert(strstr(tg_error_last(), needle) != NULL, "message lacks \"%s\": %s", needle,
              tg_error_last());
}

Test(decode_errors, token_outside_the_vocabulary)
{
    tg_batch_row r = {97, 0, 0, 1};
    expect_decode(&r, 1, TG_ERANGE, "row 0: token id 97 is outside the vocabulary [0, 97)");
    r.token = -1;
    expect_decode(&r, 1, TG_ERANGE, "token id -1");
}

Test(decode_errors, position_past_n_ctx)
{
    tg_batch_row rows[17];
    for (int i = 0; i < 16; i++)
        rows[i] = (tg_batch_row){1, i, 0, 0};
    cr_assert_eq(tg_session_decode(session, rows, 16), TG_OK);
    tg_batch_row r = {1, 16, 0, 1};
    expect_decode(&r, 1, TG_ERANGE, "position 16 is past the context length n_ctx = 16");
}

Test(decode_errors, position_not_next)
{
    tg_batch_row r = {1, 3, 0, 1};
    expect_decode(&r, 1, TG_EINVAL, "position 3 of sequence 0 must be 0");
}

Test(decode_errors, sequence_out_of_range)
{
    tg_batch_row r = {1, 0, 2, 1};
    expect_decode(&r, 1, TG_ERANGE, "sequence 2 is outside the session's [0, 2)");
}

Test(decode_errors, empty_batch_and_too_many_rows)
{
    tg_batch_row r = {1, 0, 0, 1};
    expect_decode(&r, 0, TG_EINVAL, "batch is empty");
    tg_batch_row many[40] = {{0}};
    expect_decode(many, 40, TG_ERANGE, "40 rows exceed the session's n_batch 32");
}

Test(decode_errors, logits_of_a_row_that_did_not_ask)
{
    tg_batch_row rows[2] = {{1, 0, 0, 0}, {2, 1, 0, 1}};
    cr_assert_eq(tg_session_decode(session, rows, 2), TG_OK);
    const float *lg;
    cr_assert_eq(tg_session_logits(&lg, session, 0), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "row 0 did not ask for logits") != NULL);
    cr_assert_eq(tg_session_logits(&lg, session, 2), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "row 2 is not a row of the last decode") != NULL);
    cr_assert_eq(tg_session_logits(&lg, session, 1), TG_OK);
}

Test(decode_errors, sequence_operations_out_of_range)
{
    cr_assert_eq(tg_session_seq_truncate(session, 0, 1), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "n_keep = 1 is outside [0, 0]") != NULL, "%s",
              tg_error_last());
    cr_assert_eq(tg_session_seq_copy(session, 5, 0), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "dst = 5") != NULL, "%s", tg_error_last());
    cr_assert_eq(tg_session_seq_clear(session, -1), TG_ERANGE);
    int32_t len;
    cr_assert_eq(tg_session_seq_length(&len, session, 2), TG_ERANGE);
}

Test(decode_errors, bad_session_options)
{
    tg_session *s;
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    o.n_ctx = 97;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "n_ctx = 97 exceeds the model's context length 96") != NULL,
              "%s", tg_error_last());
    o = (tg_session_options)TG_SESSION_OPTIONS_INIT;
    o.n_seq = 0;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "n_seq = 0") != NULL);
    o = (tg_session_options)TG_SESSION_OPTIONS_INIT;
    o.n_threads = -3;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_ERANGE);
    o.struct_size = 0;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_EINVAL);
}

Test(decode_errors, null_arguments_are_refused_by_name)
{
    struct {
        tg_status st;
        const char *name;
    } calls[] = {
        {tg_model_load(NULL, "x", NULL), "'out'"},
        {tg_model_get_info(NULL, model), "'out'"},
        {tg_session_create(NULL, model, NULL), "'out'"},
        {tg_session_decode(NULL, NULL, 1), "'session'"},
        {tg_session_decode(session, NULL, 1), "'rows'"},
        {tg_session_logits(NULL, session, 0), "'out'"},
        {tg_session_seq_length(NULL, session, 0), "'out'"},
        {tg_session_seq_clear(NULL, 0), "'session'"},
        {tg_session_seq_truncate(NULL, 0, 0), "'session'"},
        {tg_session_seq_copy(NULL, 0, 0), "'session'"},
        {tg_model_options_init(NULL, sizeof(tg_model_options)), "NULL"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        cr_assert_eq(calls[i].st, TG_EINVAL, "call %zu", i);
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, NULL, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'model'") != NULL, "%s", tg_error_last());
    tg_model_info info = TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, NULL), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'model'") != NULL);
    cr_assert_null(tg_model_path(NULL));
    cr_assert_null(tg_session_model(NULL));
    cr_assert_eq(tg_session_model(session), model);
}

/* ---- Llama and Qwen2: unsupported config values are refused by name ---- */

/* Copy `model` (a folder of tests/data/models), replace `from` by `to` in its config.json (and,
 * when `hfrom` is set, in the safetensors header), load it and check status and message. */
static void expect_edited(const char *model, const char *from, const char *to, const char *hfrom,
                          const char *hto, tg_status want, const char *const *needles)
{
    char *rel = g_build_filename("models", model, NULL);
    char *src = tu_data_path(rel);
    char *dir = tu_copy_model(src);
    char *p = g_build_filename(src, "config.json", NULL);
    size_t len;
    char *cfg = tu_read_file(p, &len);
    char *at = strstr(cfg, from);
    cr_assert_not_null(at, "test bug: '%s' not in %s", from, p);
    GString *s = g_string_new_len(cfg, at - cfg);
    g_string_append(s, to);
    g_string_append(s, at + strlen(from));
    tu_write_file(dir, "config.json", s->str, s->len);
    if (hfrom) {
        char *st = g_build_filename(src, "model.safetensors", NULL);
        char *hdr;
        void *dat;
        size_t dlen;
        tu_safetensors_split(st, &hdr, &dat, &dlen);
        char *h = strstr(hdr, hfrom);
        cr_assert_not_null(h, "test bug: '%s' not in the header", hfrom);
        GString *hs = g_string_new_len(hdr, h - hdr);
        g_string_append(hs, hto);
        g_string_append(hs, h + strlen(hfrom));
        tu_safetensors_write(dir, hs->str, dat, dlen);
        g_string_free(hs, TRUE);
        g_free(hdr);
        g_free(dat);
        g_free(st);
    }
    tg_model *m = (tg_model *)0x1;
    tg_status st = tg_model_load(&m, dir, NULL);
    cr_assert_eq(st, want, "%s: status %d, want %d; message: %s", model, st, want, tg_error_last());
    cr_assert_null(m);
    for (; *needles; needles++)
        cr_assert(strstr(tg_error_last(), *needles) != NULL, "message lacks \"%s\": %s", *needles,
                  tg_error_last());
    g_string_free(s, TRUE);
    g_free(cfg);
    g_free(p);
    tu_rmtree(dir);
    g_free(dir);
    g_free(src);
    g_free(rel);
}
#define EXPECT_EDIT(model, from, to, status, ...)                                                  \
    do {                                                                                           \
        const char *const n_[] = {__VA_ARGS__, NULL};                                              \
        expect_edited(model, from, to, NULL, NULL, status, n_);                                    \
    } while (0)

Test(model_errors, llama_copies_load)
{
    const char *names[] = {"llama_gqa2_llama3", "qwen2_gqa2"};
    for (int i = 0; i < 2; i++) {
        char *rel = g_build_filename("models", names[i], NULL);
        char *src = tu_data_path(rel);
        char *dir = tu_copy_model(src);
        tg_model *m;
        cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
        tg_model_free(m);
        tu_rmtree(dir);
        g_free(dir);
        g_free(src);
        g_free(rel);
    }
}

Test(model_errors, llama_unsupported_rope_type)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"",
                TG_EUNSUPPORTED, "rope_scaling", "rope type \"yarn\" is not supported",
                "supported: default, linear, llama3");
}

Test(model_errors, llama_rope_scaling_without_its_keys)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"original_max_position_embeddings\": 32,", "", TG_ENOTFOUND,
                "missing field \"original_max_position_embeddings\"");
}

Test(model_errors, llama_unsupported_activation)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"",
                TG_EUNSUPPORTED, "hidden_act \"gelu\" is not supported");
}

Test(model_errors, llama_partial_rotary_factor)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"hidden_act\"",
                "\"partial_rotary_factor\": 0.5, \"hidden_act\"", TG_EUNSUPPORTED,
                "\"partial_rotary_factor\": 0.5 is not supported");
}

Test(model_errors, llama_heads_not_a_multiple_of_kv_heads)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3",
                TG_EFORMAT, "num_attention_heads (4) is not a multiple of num_key_value_heads (3)");
}

Test(model_errors, llama_kv_heads_disagree_with_the_tensors)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4",
                TG_EFORMAT, "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [32, 64]",
                "implies [64, 64]");
}

Test(model_errors, llama_fewer_layers_than_the_file)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1",
                TG_EFORMAT, "tensor 'model.layers.1.", "is not used by architecture llama");
}

Test(model_errors, llama_untied_output_missing_when_tied_is_false)
{
    EXPECT_EDIT("llama_mha_tied", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false",
                TG_ENOTFOUND, "missing tensor 'lm_head.weight'");
}

Test(model_errors, llama_biases_announced_but_absent)
{
    EXPECT_EDIT("llama_gqa2_llama3", "\"attention_bias\": false", "\"attention_bias\": true",
                TG_ENOTFOUND, "missing tensor 'model.layers.0.self_attn.q_proj.bias'");
}

Test(model_errors, llama_biases_present_but_not_announced)
{
    EXPECT_EDIT("llama_gqa4_bias_linear", "\"mlp_bias\": true", "\"mlp_bias\": false", TG_EFORMAT,
                "mlp.", "_proj.bias' is not used by architecture llama", "6 unused tensors");
}

/* Qwen2 slides the attention window of layers >= max_window_layers when use_sliding_window
 * is true: no such layer loads, one such layer is refused. */
Test(model_errors, qwen2_sliding_window)
{
    char *src = tu_data_path("models/qwen2_gqa2");
    char *p = g_build_filename(src, "config.json", NULL);
    size_t len;
    char *cfg = tu_read_file(p, &len);
    for (int slide = 0; slide < 2; slide++) {
        char *dir = tu_copy_model(src);
        char **a = g_strsplit(cfg, "\"use_sliding_window\": false", 2);
        char *c1 = g_strjoinv("\"use_sliding_window\": true", a);
        char **b = g_strsplit(c1, "\"max_window_layers\": 3", 2);
        char *c2 = g_strjoinv(slide ? "\"max_window_layers\": 1" : "\"max_window_layers\": 3", b);
        tu_write_file(dir, "config.json", c2, strlen(c2));
        tg_model *m = NULL;
        tg_status st = tg_model_load(&m, dir, NULL);
        if (!slide) {
            cr_assert_eq(st, TG_OK, "%s", tg_error_last());
            tg_model_free(m);
        } else {
            cr_assert_eq(st, TG_EUNSUPPORTED, "%s", tg_error_last());
            cr_assert(strstr(tg_error_last(), "use_sliding_window true") != NULL, "%s",
                      tg_error_last());
        }
        g_strfreev(a);
        g_strfreev(b);
        g_free(c1);
        g_free(c2);
        tu_rmtree(dir);
        g_free(dir);
    }
    g_free(cfg);
    g_free(p);
    g_free(src);
}

Test(model_errors, qwen2_sliding_layer_types)
{
    EXPECT_EDIT("qwen2_gqa2", "\"use_cache\": true",
                "\"use_cache\": true, \"layer_types\": [\"full_attention\", \"sliding_attention\", "
                "\"full_attention\"]",
                TG_EUNSUPPORTED, "layer_types[1] \"sliding_attention\" is not supported");
}

Test(model_errors, qwen2_missing_qkv_bias)
{
    const char *const n[] = {"missing tensor 'model.layers.0.self_attn.k_proj.bias'", NULL};
    expect_edited("qwen2_gqa2", "\"use_cache\": true", "\"use_cache\": true",
                  "\"model.layers.0.self_attn.k_proj.bias\"",
                  "\"model.layers.0.self_attn.k_proj.bais\"", TG_ENOTFOUND, n);
}

/* Old Llama checkpoints hold rotary frequency buffers: recomputed, so they are skipped. */
Test(model_errors, llama_rotary_buffers_are_skipped)
{
    char *src = tu_data_path("models/llama_mha_tied");
    char *dir = tu_copy_model(src);
    char *st = g_build_filename(src, "model.safetensors", NULL);
    char *hdr;
    void *dat;
    size_t dlen;
    tu_safetensors_split(st, &hdr, &dat, &dlen);
    /* Append an 8-byte I64 buffer at the end of the data. */
    GString *hs = g_string_new(hdr);
    g_strchomp(hs->str);
    hs->len = strlen(hs->str);
    cr_assert_eq(hs->str[hs->len - 1], '}');
    g_string_truncate(hs, hs->len - 1);
    g_string_append_printf(hs,
                           ",\"model.layers.0.self_attn.rotary_emb.inv_freq\":{\"dtype\":\"I64\","
                           "\"shape\":[1],\"data_offsets\":[%zu,%zu]}}",
                           dlen, dlen + 8);
    char *big = g_malloc0(dlen + 8);
    memcpy(big, dat, dlen);
    tu_safetensors_write(dir, hs->str, big, dlen + 8);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    tg_model_free(m);
    g_string_free(hs, TRUE);
    g_free(big);
    g_free(hdr);
    g_free(dat);
    g_free(st);
    tu_rmtree(dir);
    g_free(dir);
    g_free(src);
}
