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

/* char_tiny copied to a temp folder, tokenizer included. */
static char *copy_char_tiny(void)
{
    char *src = tu_data_path("models/char_tiny");
    char *dir = tu_copy_model(src);
    const char *extra[] = {"tokenizer.json", "generation_config.json"};
    for (size_t i = 0; i < 2; i++) {
        char *p = g_build_filename(src, extra[i], NULL);
        size_t len;
        void *data = tu_read_file(p, &len);
        tu_write_file(dir, extra[i], data, len);
        g_free(data);
        g_free(p);
    }
    g_free(src);
    return dir;
}

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
            char *dir = copy_char_tiny();
            char *text = nested("{\"x\": ", depth, "}");
            tu_write_file(dir, files[f], text, strlen(text));
            expect_load_fails(dir, TG_EFORMAT, files[f], "nested more than 256 levels deep");
            g_free(text);
            tu_rmtree(dir);
            g_free(dir);
        }
    }
    /* brackets inside strings do not count; 200 levels is fine for the parser */
    char *dir = copy_char_tiny();
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
    char *dir = copy_char_tiny();
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
        char *dir = copy_char_tiny();
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
