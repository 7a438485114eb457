/* Helpers shared by the tokenizer unit tests (test_tokenizer.c, test_tokenizer_internal.c). */
#ifndef TG_TESTS_TOK_TESTUTIL_H
#define TG_TESTS_TOK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <textgen/tokenizer.h>

/* One GPT-2 reference vector (tests/data/tokenizer/gpt2_vectors.json). */
typedef struct vcase {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
    int special;
} vcase;

/* $TG_TEST_DATA/rel (g_free). */
char *data_path(const char *rel);
/* GPT-2 from tokenizer.json (form 0) or vocab.json + merges.txt (form 1); asserts success. */
tg_tokenizer *load_gpt2(int form);
vcase *load_vectors(size_t *n_out);
void free_vectors(vcase *v, size_t n);
/* Assert encode(text) == want. */
void expect_ids(const tg_tokenizer *tok, const char *text, size_t len, uint32_t flags,
                const int32_t *want, size_t n_want);
/* Assert that `tok` reproduces every GPT-2 vector. */
void check_vectors(const tg_tokenizer *tok, const char *label);
/* Streaming ids one by one gives valid UTF-8 chunks that concatenate to decode(ids, flags). */
void check_stream(const tg_tokenizer *tok, const int32_t *ids, size_t n, uint32_t flags);
/* Valid UTF-8, NUL bytes allowed (g_utf8_validate() refuses them). */
int utf8_ok(const char *s, size_t n);

#endif
