/* fuzz_common.h — what every fuzz target shares: a private folder on tmpfs for the files a
 * target writes per input, paths into the test data, and the plugin search path.
 *
 * A target is a file defining LLVMFuzzerTestOneInput (and usually LLVMFuzzerInitialize). It is
 * linked twice: with libFuzzer (-fsanitize=fuzzer, clang build dirs made by bench/fuzz.sh), and
 * with replay_main.c (every compiler), which feeds it each committed corpus file under
 * `meson test` (tests fuzz-replay-<target>). Targets go through the public API only, so they
 * survive refactors of lib/. A harness problem (missing test data) aborts: it must never look
 * like a clean run. */
#ifndef TG_FUZZ_COMMON_H
#define TG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Call first from LLVMFuzzerInitialize: points TEXTGEN_PLUGIN_PATH at the build tree's plugins
 * when it is unset (and sets TEXTGEN_PLUGIN_NO_DEFAULT, so installed plugins never mix in), and
 * creates the private folder. */
void fz_init(void);

/* The private folder of this process (on /dev/shm when it exists, else $TMPDIR or /tmp),
 * removed at exit. */
const char *fz_dir(void);

/* <private folder>/<name> (g_free the result). */
char *fz_path(const char *name);

/* $TG_TEST_DATA/<rel>, or the source tree's tests/data when unset (g_free the result). */
char *fz_data_path(const char *rel);

/* Whole file, aborting when it cannot be read (g_free the result). */
void *fz_read(const char *path, size_t *len);

/* Write (truncate or create) a file, aborting on failure. */
void fz_write(const char *path, const void *data, size_t len);

/* Write a file made of two parts (e.g. a header and a data section). */
void fz_write2(const char *path, const void *a, size_t alen, const void *b, size_t blen);

/* A NUL-terminated copy of the input (g_free it). */
char *fz_strndup(const uint8_t *data, size_t size);

/* Report a broken invariant with the library's last error and abort (the fuzzer keeps the
 * input as a crash). */
void fz_fail(const char *what) __attribute__((noreturn));

#endif
