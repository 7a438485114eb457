/* Model folders built to hurt the loader: JSON nested deep enough to overflow a recursive
 * parser, and special files (FIFOs, devices, directories) where regular files belong. Each must
 * fail at once with the file named, never crash or block. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <textgen/textgen.h>
#include <unistd.h>

/* `n` levels of '[' (and their ']'), inside `prefix` ... `suffix`. */
static char *nested(const char *prefix, size_t n, const char *suffix)
{
    GString *s = g_string_new(prefix);
    for (size_t i = 0; i < n; i++)
        g_string_append_c(s, '[');
    for (size_t i = 0; i < n; i++)
        g_string_append_c(s, ']');
    g_string_append(s, suffix);
    return g_string_free(s, FALSE);
}

static void expect_load_fails(const char *dir, tg_status want, const char *needle1,
                              const char *needle2)
{
    tg_model *m = NULL;
    tg_status st = tg_model_load(&m, dir, NULL);
    cr_assert_eq(st, want, "status %d (%s), wanted %d", st, tg_error_last(), want);
    cr_assert_null(m);
    cr_assert(strstr(tg_error_last(), needle1), "'%s' not in: %s", needle1, tg_error_last());
    if (needle2)
        cr_assert(strstr(tg_error_last(), needle2), "'%s' not in: %s", needle2, tg_error_last());
}

Test(hostile_files, deeply_nested_json_is_refused_in_every_file_of_a_folder)
{
    const char *files[] = {"config.json", "generation_config.json", "tokenizer.json"};
    for (size_t f = 0; f < 3; f++) {
        for (size_t depth = 300; depth <= 200000; depth *= 25) {
            char *dir = tu_copy_char_tiny(NULL);
            char *text = nested("{\"x\": ", depth, "}");
            tu_write_file(dir, files[f], text, strlen(text));
            expect_load_fails(dir, TG_EFORMAT, files[f], "nested more than 256 levels deep");
            g_free(text);
            tu_rmtree(dir);
            g_free(dir);
        }
    }
    /* brackets inside strings do not count; 200 levels is fine for the parser */
    char *dir = tu_copy_char_tiny(NULL);
    char *text = nested("{\"note\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\", \"x\": ", 200, "}");
    tu_write_file(dir, "generation_config.json", text, strlen(text));
    tg_model *m = NULL;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    tg_model_free(m);
    g_free(text);
    tu_rmtree(dir);
    g_free(dir);
}

Test(hostile_files, a_deep_safetensors_header_is_refused)
{
    char *dir = tu_copy_char_tiny(NULL);
    char *path = g_build_filename(dir, "model.safetensors", NULL);
    char *hdr = nested("{\"__metadata__\": {\"a\": ", 200000, "}}");
    tu_safetensors_write(dir, hdr, "", 0);
    expect_load_fails(dir, TG_EFORMAT, "model.safetensors", "nested more than 256 levels deep");
    g_free(hdr);
    g_free(path);
    tu_rmtree(dir);
    g_free(dir);
}

Test(hostile_files, special_files_are_refused_without_blocking)
{
    const char *files[] = {"config.json", "model.safetensors", "generation_config.json",
                           "tokenizer.json"};
    for (size_t f = 0; f < 4; f++) {
        char *dir = tu_copy_char_tiny(NULL);
        char *path = g_build_filename(dir, files[f], NULL);
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(mkfifo(path, 0600), 0);
        expect_load_fails(dir, TG_EIO, path, "not a regular file (a FIFO)");
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(symlink("/dev/zero", path), 0);
        expect_load_fails(dir, TG_EIO, path, "not a regular file (a character device)");
        cr_assert_eq(unlink(path), 0);
        cr_assert_eq(mkdir(path, 0700), 0);
        expect_load_fails(dir, TG_EIO, path, "not a regular file (a directory)");
        cr_assert_eq(rmdir(path), 0);
        g_free(path);
        tu_rmtree(dir);
        g_free(dir);
    }
}

/* generation_config.json numbers are checked against the ranges of the processors they become,
 * and refused naming the file and the key (never "spec position 1" of a spec nobody wrote,
 * never a silent cast or drop). */
Test(hostile_files, generation_config_numbers_are_checked_by_key)
{
    static const struct {
        const char *json;
        tg_status st;
        const char *needle;
    } cases[] = {
        {"{\"do_sample\": true, \"top_k\": 3e9}", TG_ERANGE,
         "\"top_k\" is 3000000000 but must be an integer in [0, 1000000000]"},
        {"{\"no_repeat_ngram_size\": 3e9}", TG_ERANGE, "\"no_repeat_ngram_size\" is 3000000000"},
        {"{\"do_sample\": true, \"top_p\": 2}", TG_ERANGE, "\"top_p\" is 2 but must be"},
        {"{\"do_sample\": true, \"top_p\": 0}", TG_ERANGE, "\"top_p\" is 0 but must be"},
        {"{\"do_sample\": true, \"top_k\": -5}", TG_ERANGE, "\"top_k\" is -5 but must be"},
        {"{\"do_sample\": true, \"top_k\": 2.7}", TG_EFORMAT,
         "\"top_k\" is 2.7000000000000002 but must be an integer"},
        {"{\"max_new_tokens\": 2.5}", TG_EFORMAT, "\"max_new_tokens\" is 2.5"},
        {"{\"max_new_tokens\": 0}", TG_ERANGE, "\"max_new_tokens\" is 0"},
        {"{\"temperature\": \"hot\"}", TG_EFORMAT, "\"temperature\" must be a number in [0, 100]"},
        {"{\"temperature\": 1e308, \"do_sample\": true}", TG_ERANGE, "\"temperature\" is"},
        {"{\"repetition_penalty\": 0}", TG_ERANGE, "\"repetition_penalty\" is 0"},
        {"{\"min_p\": -0.1}", TG_ERANGE, "\"min_p\" is -0.10000000000000001"},
        {"{\"num_beams\": 0}", TG_ERANGE, "\"num_beams\" is 0 but must be an integer in [1, 4096]"},
        {"{\"num_beams\": 2.5}", TG_EFORMAT, "\"num_beams\" is 2.5 but must be an integer"},
        {"{\"num_beams\": 1e9}", TG_ERANGE, "\"num_beams\" is 1000000000 but must be"},
        {"{\"num_return_sequences\": -1}", TG_ERANGE, "\"num_return_sequences\" is -1"},
        {"{\"length_penalty\": 1e9}", TG_ERANGE,
         "\"length_penalty\" is 1000000000 but must be a number in [-100, 100]"},
        {"{\"length_penalty\": \"long\"}", TG_EFORMAT, "\"length_penalty\" must be a number"},
        {"{\"diversity_penalty\": -1}", TG_ERANGE, "\"diversity_penalty\" is -1"},
        {"{\"early_stopping\": \"sometimes\"}", TG_EFORMAT,
         "\"early_stopping\" must be true, false or \"never\""},
        {"{\"early_stopping\": 1}", TG_EFORMAT, "\"early_stopping\" must be true"},
        {"{\"num_beams\": 2, \"num_return_sequences\": 3}", TG_ERANGE,
         "\"num_return_sequences\" is 3 but \"num_beams\" is 2"},
        {"{\"num_beams\": 4, \"num_beam_groups\": 3}", TG_ERANGE,
         "\"num_beam_groups\" is 3 but must divide \"num_beams\" (4)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *dir = tu_copy_char_tiny(NULL);
        tu_write_file(dir, "generation_config.json", cases[i].json, strlen(cases[i].json));
        expect_load_fails(dir, cases[i].st, "generation_config.json: ", cases[i].needle);
        tu_rmtree(dir);
        g_free(dir);
    }
    /* in range: the chain says exactly what the file says */
    char *dir = tu_copy_char_tiny(NULL);
    const char *ok = "{\"do_sample\": true, \"top_k\": 1000000000, \"top_p\": 1, \"temperature\": "
                     "0.5, \"no_repeat_ngram_size\": 64, \"repetition_penalty\": 1.5}";
    tu_write_file(dir, "generation_config.json", ok, strlen(ok));
    tg_model *m = NULL;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(tg_model_default_samplers(m),
                     "repetition_penalty(penalty=1.5, last_n=-1) no_repeat_ngram(n=64) "
                     "temperature(t=0.5) top_k(k=1000000000) dist");
    tg_model_free(m);
    tu_rmtree(dir);
    g_free(dir);
}

/* The tokenizer is read on another thread while the weights load (model.c): its error still
 * reaches the caller's thread, and wins over a broken weights file as it did when the two ran
 * one after the other; a good tokenizer leaves the weights' own error. */
Test(hostile_files, a_broken_tokenizer_is_reported_before_broken_weights)
{
    static const char bad_json[] = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,";
    static const char bad_weights[] = "\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}";
    for (int broken_weights = 0; broken_weights < 2; broken_weights++) {
        char *dir = tu_copy_char_tiny(NULL);
        tu_write_file(dir, "tokenizer.json", bad_json, sizeof bad_json - 1);
        if (broken_weights)
            tu_write_file(dir, "model.safetensors", bad_weights, sizeof bad_weights - 1);
        expect_load_fails(dir, TG_EFORMAT, "tokenizer.json", NULL);
        tu_rmtree(dir);
        g_free(dir);
    }
    char *dir = tu_copy_char_tiny(NULL);
    tu_write_file(dir, "model.safetensors", bad_weights, sizeof bad_weights - 1);
    expect_load_fails(dir, TG_EFORMAT, "model.safetensors", NULL);
    tu_rmtree(dir);
    g_free(dir);
}
