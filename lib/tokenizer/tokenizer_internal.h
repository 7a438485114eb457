/* tokenizer/ — byte-level BPE (GPT-2), plain BPE over characters (char vocabularies), the
 * tokenizer.json and vocab.json + merges.txt readers, and the streaming UTF-8-safe
 * detokenizer. This header is internal: the model loader uses tg__tokenizer_load_dir(). */
#ifndef TG_TOKENIZER_INTERNAL_H
#define TG_TOKENIZER_INTERNAL_H

#include <textgen/tokenizer.h>

#include <stdint.h>

/* Open-addressing map from a byte string (stored elsewhere, addressed by id) to an id. */
typedef struct tg__strmap {
    int32_t *slots; /* id or -1 */
    uint32_t *hashes;
    uint32_t mask; /* capacity - 1 (capacity a power of two) */
} tg__strmap;

/* Merge table: (left id, right id) -> (rank, merged id). */
typedef struct tg__pairmap {
    uint64_t *keys; /* (left << 32 | right) + 1; 0 = empty */
    uint32_t *ranks;
    int32_t *merged;
    uint32_t mask;
    uint32_t count;
} tg__pairmap;

/* A token matched verbatim in the input before pre-tokenization (HF "added tokens"). */
typedef struct tg__added {
    int32_t id;
    int32_t special;
    const char *text; /* points into the piece arena */
    size_t len;
} tg__added;

struct tg_tokenizer {
    int32_t kind; /* TG_TOKENIZER_BYTE_BPE / TG_TOKENIZER_BPE */
    int32_t n_vocab;
    int32_t bos_id, eos_id;
    int32_t unk_id;           /* plain BPE: id for characters outside the vocabulary, or -1 */
    int32_t add_prefix_space; /* ByteLevel: prepend ' ' to each segment not starting with one */
    int32_t use_regex;        /* ByteLevel: split with the GPT-2 pattern */
    int32_t ignore_merges;    /* a pre-token that is itself in the vocabulary is emitted as is */
    /* byte-level: verified at load time that every token's bytes BPE-encode to that token
     * alone, so a pre-token found whole in the vocabulary needs no merging (same ids, ~3x
     * faster on English text). */
    int32_t whole_piece_exact;

    /* id -> vocabulary form ("Ġthe"), NUL-terminated, in one arena */
    char *pieces;
    uint32_t *piece_off; /* n_vocab + 1 offsets */
    /* id -> decoded bytes (" the"), NUL-terminated, in one arena */
    char *bytes;
    uint32_t *bytes_off;
    uint8_t *is_special; /* n_vocab flags */
    int32_t *special_ids;
    size_t n_special;

    tg__strmap piece_map; /* vocabulary form -> id */
    tg__strmap bytes_map; /* decoded bytes -> id (lowest id wins) */
    tg__pairmap merges;
    int32_t byte_id[256]; /* byte-level: id of each single byte */

    tg__added *added; /* added tokens, longest first */
    size_t n_added;
    size_t n_added_plain;     /* how many of them are not special (always matched) */
    uint8_t added_first[256]; /* bit 0: some added token starts with this byte; bit 1: some
                                 non-special one does */
};

/* Load the tokenizer of a model folder. *found = 0 (and TG_OK, *out NULL) when the folder has
 * no tokenizer files at all, which is not an error for a model; *found = 1 otherwise (then the
 * status tells whether they loaded). `opts` may be NULL. */
tg_status tg__tokenizer_load_dir(tg_tokenizer **out, const char *dir,
                                 const tg_tokenizer_options *opts, int *found);

/* --- shared between the tokenizer's source files --- */

/* BPE-merge sym[0..n) in place (*n_out symbols remain); algo: 0 = as encode does, 1 = plain
 * linear scan, 2 = heap (for tests). Returns 0 when out of memory. */
int tg__bpe_merge(const tg__pairmap *m, int32_t *sym, size_t n, size_t *n_out, int algo);

/* 1 if every non-special token's bytes encode (by BPE merges) to exactly that token. */
int tg__bpe_check_whole_pieces(const tg_tokenizer *tok);

uint32_t tg__tok_hash(const void *data, size_t len);
int32_t tg__strmap_get(const tg__strmap *m, const char *arena, const uint32_t *off, const char *s,
                       size_t len);
tg_status tg__strmap_build(tg__strmap *m, const char *arena, const uint32_t *off, int32_t n,
                           const uint8_t *skip);
void tg__strmap_free(tg__strmap *m);

/* Validate/clean UTF-8: append `in` to `out` (grown with realloc), each maximal ill-formed
 * subsequence replaced by U+FFFD. When `final` is 0 a trailing incomplete but so far valid
 * sequence is not consumed. Returns the number of input bytes consumed, or (size_t)-1 when out
 * of memory. */
typedef struct tg__buf {
    char *data;
    size_t len, cap;
} tg__buf;
int tg__buf_reserve(tg__buf *b, size_t extra);
size_t tg__utf8_sanitize(tg__buf *out, const unsigned char *in, size_t len, int final);

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if it is ill-formed/incomplete;
 * *cp receives the code point. */
size_t tg__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
