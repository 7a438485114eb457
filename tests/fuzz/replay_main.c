/* replay_main.c — the main() that replaces libFuzzer for regression runs: feeds every file named
 * on the command line (folders: every file inside, in name order) to LLVMFuzzerTestOneInput,
 * once, each in a buffer of exactly its size so a sanitizer sees any read past the end. Used by
 * the `fuzz-replay-<target>` tests with any compiler. An empty corpus fails: a replay that ran
 * nothing must not pass. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_file(const char *path, size_t *count)
{
    char *data = NULL;
    gsize len = 0;
    GError *err = NULL;
    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "replay: %s\n", err->message);
        exit(2);
    }
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    memcpy(exact, data, len);
    g_free(data);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, (size_t)len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    (*count)++;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            run_file(argv[i], &count);
            continue;
        }
        GDir *d = g_dir_open(argv[i], 0, NULL);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *n;
        while ((n = g_dir_read_name(d)))
            g_ptr_array_add(names, g_build_filename(argv[i], n, NULL));
        g_dir_close(d);
        g_ptr_array_sort(names, cmp_names);
        for (guint k = 0; k < names->len; k++)
            if (g_file_test(g_ptr_array_index(names, k), G_FILE_TEST_IS_REGULAR))
                run_file(g_ptr_array_index(names, k), &count);
        g_ptr_array_unref(names);
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replayed %zu inputs\n", count);
    return 0;
}
