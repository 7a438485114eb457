/* tokenizer/ — BPE tokenizers: byte-level (GPT-2, Llama 3, Qwen2/3) and over Unicode characters
 * (SentencePiece-style with byte fallback: Llama 2, Mistral, TinyLlama; character vocabularies),
 * the tokenizer.json / vocab.json + merges.txt / tokenizer_config.json readers, and the streaming
 * UTF-8-safe detokenizer. This header is internal: the model loader uses
 * tg__tokenizer_load_dir().
 *
 * Files: tok_load.c (vocabulary, merges, entry points), tok_hf.c (tokenizer.json components),
 * tok_config.c (tokenizer_config.json, bos/eos, the template of TG_ENCODE_ADD_SPECIAL),
 * tok_regex.c (Split patterns: Oniguruma syntax to GRegex), tok_normalize.c, tok_pretok.c
 * (pre-tokenizer steps, GPT-2's hand-written scanner), tok_bpe.c (merging, words to ids),
 * tok_encode.c (added tokens, the encode pipeline), tok_decode.c, tok_util.c. */
#ifndef TG_TOKENIZER_INTERNAL_H
#define TG_TOKENIZER_INTERNAL_H

#include <textgen/tokenizer.h>

#include "core/buf.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

/* The tokenizer's open-addressing tables (linear probing) hold at most `fill` keys in 10 slots
 * (any capacity, not a power of two: tg__tok_table_slot scales the hash). Returns the capacity
 * for n keys, or 0 when it would not fit. */
static inline uint32_t tg__tok_table_cap(uint64_t n, uint32_t fill)
{
    const uint64_t cap = n * 10 / fill + 16; /* + 16: never full, even at n = 0 */
    return cap > UINT32_MAX ? 0 : (uint32_t)cap;
}
/* The string indexes are read on hits mostly (a word or piece that is a token): 7 in 10 slots,
 * ~1.5 probes a hit. The merge map is read on misses mostly (pairs without a merge), where linear
 * probing pays 0.5 (1 + 1 / (1 - load)^2) probes: ~6 at 7 in 10 (GPT-2 encoding measured 4-8 %
 * slower), ~2.5 at 5 in 10. GPT-2: 0.57 + 0.57 MB for the pieces, 1.6 MB for 50,000 merges (a
 * power-of-two capacity at load 0.38 took 1.05 + 1.05 + 2.1 MB). */
#define TG_TOK_STRMAP_FILL 7
#define TG_TOK_PAIRMAP_FILL 5
/* The home slot of 32-bit hash h in a table of `cap` slots (its high bits scaled: no modulo). */
static inline uint32_t tg__tok_table_slot(uint32_t h, uint32_t cap)
{
    return (uint32_t)(((uint64_t)h * cap) >> 32);
}

/* Open-addressing map from a byte string (stored elsewhere, addressed by id) to an id. The id
 * and the string's hash share a slot, so that a probe reads one cache line. */
typedef struct tg__strslot {
    int32_t id; /* or -1 */
    uint32_t hash;
} tg__strslot;
typedef struct tg__strmap {
    tg__strslot *slots;
    uint32_t cap; /* tg__tok_table_cap(n, TG_TOK_STRMAP_FILL) */
} tg__strmap;

/* Merge table: (left id, right id) -> (rank, merged id), in one 16-byte slot. */
typedef struct tg__pairslot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    uint32_t rank;
    int32_t merged;
} tg__pairslot;
typedef struct tg__pairmap {
    tg__pairslot *slots;
    uint32_t cap; /* tg__tok_table_cap(n, TG_TOK_PAIRMAP_FILL) */
    uint32_t count;
} tg__pairmap;
/* The home slot of a merge key (one function for the loader and the lookup). */
static inline uint32_t tg__pair_slot(uint64_t key, uint32_t cap)
{
    return tg__tok_table_slot((uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32), cap);
}

/* A token matched verbatim in the text before pre-tokenization (HF "added tokens"). */
typedef struct tg__added {
    int32_t id;
    int32_t special;
    int32_t lstrip, rstrip; /* the match absorbs the White_Space before / after it */
    const char *text;       /* what is matched (a normalized token: its normalized content) */
    size_t len;
} tg__added;

/* The added tokens of one of HF's two matching passes: before normalization (tokens with
 * `normalized: false`) and after it, in each normalized segment (`normalized: true`). */
typedef struct tg__added_set {
    tg__added *tok; /* longest first, so that the longest match at a position wins */
    size_t n;
    size_t n_plain;     /* how many are not special (matched without TG_ENCODE_ALLOW_SPECIAL) */
    uint8_t first[256]; /* bit 0: some token starts with this byte; bit 1: some plain one does */
} tg__added_set;

/* Normalizers (tokenizer.json "normalizer"), applied in order. */
enum {
    TG__NORM_NFC = 1,
    TG__NORM_NFD,
    TG__NORM_NFKC,
    TG__NORM_NFKD,
    TG__NORM_PREPEND, /* str before a non-empty text */
    TG__NORM_REPLACE  /* each str (or match of re) -> with */
};
typedef struct tg__norm {
    int32_t kind;
    char *str; /* PREPEND: the prefix; REPLACE: the literal pattern (NULL with re) */
    size_t len;
    char *with; /* REPLACE: the replacement */
    size_t with_len;
    GRegex *re; /* REPLACE with a Regex pattern */
} tg__norm;

/* Pre-tokenizer steps (tokenizer.json "pre_tokenizer", a Sequence or one of them). */
enum { TG__PRE_SPLIT = 1, TG__PRE_BYTELEVEL, TG__PRE_METASPACE };
/* HF's SplitDelimiterBehavior. */
enum {
    TG__SPLIT_REMOVED = 1,
    TG__SPLIT_ISOLATED,
    TG__SPLIT_MERGED_PREVIOUS,
    TG__SPLIT_MERGED_NEXT,
    TG__SPLIT_CONTIGUOUS
};
/* How a Split finds its matches. */
enum {
    TG__SCAN_REGEX = 1, /* GRegex (PCRE2) */
    TG__SCAN_LITERAL,   /* a String pattern */
    TG__SCAN_GPT2,      /* GPT-2's pattern, hand-written (tok_pretok.c) */
    TG__SCAN_LLAMA3     /* Llama 3's and Qwen2's pattern, hand-written */
};
enum { TG__PREPEND_ALWAYS = 1, TG__PREPEND_FIRST, TG__PREPEND_NEVER };
typedef struct tg__pretok {
    int32_t kind;
    /* SPLIT */
    int32_t scanner;
    int32_t digits; /* TG__SCAN_LLAMA3: \p{N}{1,digits} */
    int32_t behavior;
    int32_t invert;
    GRegex *re;
    char *literal;
    size_t literal_len;
    /* BYTELEVEL */
    int32_t add_prefix_space; /* prepend ' ' to each piece not starting with one */
    int32_t use_regex;        /* split with GPT-2's pattern */
    /* METASPACE */
    char rep[8]; /* the replacement character (UTF-8, NUL-terminated), usually U+2581 */
    size_t rep_len;
    int32_t prepend_scheme;
    int32_t split;
} tg__pretok;

/* Decoder steps applied to each token's string (tokenizer.json "decoder" before its Fuse). */
enum {
    TG__DEC_REPLACE = 1,  /* each `from` -> `to` */
    TG__DEC_STRIP,        /* up to `start` leading and `stop` trailing copies of `from` */
    TG__DEC_METASPACE,    /* `from` (the replacement) -> ' '; in the first token -> nothing when
                             `first_drop` */
    TG__DEC_BYTEFALLBACK, /* "<0xNN>" -> the byte NN */
    TG__DEC_BYTELEVEL     /* GPT-2's byte alphabet -> bytes */
};
typedef struct tg__dec {
    int32_t kind;
    char *from;
    size_t from_len;
    char *to;
    size_t to_len;
    int32_t start, stop;
    int32_t first_drop;
} tg__dec;

struct tg_tokenizer {
    int32_t kind; /* TG_TOKENIZER_BYTE_BPE / TG_TOKENIZER_BPE */
    int32_t n_vocab;
    int32_t bos_id, eos_id;
    int32_t unk_id;        /* id for what the vocabulary lacks (plain BPE), or -1 */
    int32_t fuse_unk;      /* consecutive unknown characters become one unk */
    int32_t byte_fallback; /* a character not in the vocabulary becomes its <0xNN> tokens */
    int32_t ignore_merges; /* a word that is itself in the vocabulary is emitted as is */
    /* verified at load time that every token encodes to that token alone, so a word found
     * whole in the vocabulary needs no merging (same ids, ~3x faster on English text). */
    int32_t whole_piece_exact;
    /* plain BPE: a word may be cut before each `cut` (the "▁" of SentencePiece vocabularies)
     * that follows another character, since no token holds one after another character
     * (verified at load time by tg__bpe_find_word_cut()); cut_len 0: no cutting. */
    char cut[8];
    size_t cut_len;

    /* id -> vocabulary form ("Ġthe", "▁the"), NUL-terminated, in one arena */
    char *pieces;
    uint32_t *piece_off; /* n_vocab + 1 offsets */
    /* id -> decoded bytes (" the"), NUL-terminated, in one arena */
    char *bytes;
    uint32_t *bytes_off;
    uint8_t *is_special;  /* n_vocab flags */
    uint8_t *is_added;    /* n_vocab flags: an added token (never produced by the model) */
    uint8_t *is_fallback; /* n_vocab flags: a <0xNN> token of byte fallback */
    int32_t *special_ids;
    size_t n_special;

    tg__strmap piece_map; /* vocabulary form -> id */
    tg__strmap bytes_map; /* decoded bytes -> id of the model's vocabulary (lowest id wins) */
    tg__pairmap merges;
    int32_t byte_id[256];     /* byte-level: id of each single byte */
    int32_t fallback_id[256]; /* byte fallback: id of "<0xNN>", or -1 */

    tg__norm *norms;
    size_t n_norms;
    tg__pretok *pre;
    size_t n_pre;
    tg__dec *dec;
    size_t n_dec;
    int32_t dec_first_differs; /* the first token of a text decodes differently (Metaspace) */
    int32_t dec_strip_char;    /* after Fuse: this ASCII byte is stripped from the start of the */
    int32_t dec_strip_n;       /* text, up to dec_strip_n times (HF's Strip decoder) */

    tg__added_set added_raw, added_norm;
    char *added_text; /* arena of the normalized texts of normalized added tokens */

    /* TG_ENCODE_ADD_SPECIAL: ids put before and after the text (post-processor template) */
    int32_t *prefix_ids;
    size_t n_prefix;
    int32_t *suffix_ids;
    size_t n_suffix;
};

/* Load the tokenizer of a model folder. *found = 0 (and TG_OK, *out NULL) when the folder has
 * no tokenizer files at all, which is not an error for a model; *found = 1 otherwise (then the
 * status tells whether they loaded). `opts` may be NULL. */
tg_status tg__tokenizer_load_dir(tg_tokenizer **out, const char *dir,
                                 const tg_tokenizer_options *opts, int *found);

/* --- shared between the tokenizer's source files --- */

/* Growable buffers: tg__buf (core/buf.h). */

typedef struct tg__idvec {
    int32_t *data;
    size_t len, cap;
    int oom;
} tg__idvec;
int tg__idvec_grow(tg__idvec *v, size_t extra);
static inline void tg__idvec_push(tg__idvec *v, int32_t id)
{
    if (v->len < v->cap || tg__idvec_grow(v, 1))
        v->data[v->len++] = id;
}

/* The state of one encode call, passed down the pipeline. */
typedef struct tg__enc {
    const tg_tokenizer *tok;
    tg__idvec out;
    tg_status st; /* the first error, TG_OK until one happens */
    const unsigned char *text;
    size_t text_len;   /* the caller's text (for messages) */
    int allow_special; /* TG_ENCODE_ALLOW_SPECIAL */
} tg__enc;

/* 1 while the pipeline should go on (no error, no out-of-memory). */
static inline int tg__enc_ok(const tg__enc *e)
{
    return e->st == TG_OK && !e->out.oom;
}

/* Pre-tokenize s[0..n) from step `step` on; the words go to tg__encode_word(). `first`: the
 * piece starts the caller's text (Metaspace's prepend_scheme "first"). */
void tg__pretokenize(tg__enc *e, size_t step, const unsigned char *s, size_t n, int first);

/* Encode one word (the output of pre-tokenization) with the model. */
void tg__encode_word(tg__enc *e, const unsigned char *s, size_t n);

/* BPE-merge the symbols out->data[start..] in place (out of memory: out->oom). */
void tg__bpe_tail(const tg_tokenizer *tok, tg__idvec *out, size_t start);

/* Apply the normalizers to s[0..n) into *out (emptied first; may be left pointing at s when
 * nothing changes: *res and *res_len receive the result). Invalid UTF-8 bytes pass through. */
tg_status tg__normalize(const tg_tokenizer *tok, const unsigned char *s, size_t n, tg__buf *out,
                        const unsigned char **res, size_t *res_len);

/* Compile a Split pattern written for Oniguruma (HF's regex engine) into GRegex with the same
 * meaning; constructs whose meaning differs are refused (TG_EUNSUPPORTED naming `what`).
 * tg__regex_translate() is the translation alone (for tests); *out is g_free()d. */
tg_status tg__regex_translate(char **out, const char *pattern, const char *what);
tg_status tg__regex_compile(GRegex **out, const char *pattern, const char *what);

/* GPT-2's pre-tokenization pattern, hand-written: calls fn(ctx, ...) for each piece (`first`:
 * the piece starts s and `first` was given); stops early when `e` has failed. */
typedef void (*tg__piece_fn)(void *ctx, const unsigned char *s, size_t n, int first);
void tg__scan_gpt2(tg__enc *e, const unsigned char *s, size_t n, int first, tg__piece_fn fn,
                   void *ctx);
extern const char tg__gpt2_pattern[];

/* Llama 3's pattern (digits 3) and Qwen2's (digits 1), hand-written. */
void tg__scan_llama3(tg__enc *e, const unsigned char *s, size_t n, int first, int digits,
                     tg__piece_fn fn, void *ctx);
extern const char tg__llama3_pattern[], tg__qwen2_pattern[];

/* The decoder steps applied to one token's string (first: it is the first token of the text).
 * `scratch` is working memory the caller keeps across calls and frees. */
tg_status tg__decode_token(const tg_tokenizer *tok, const char *piece, size_t len, int first,
                           tg__buf *out, tg__buf *scratch);

/* Unicode White_Space (as Oniguruma, Rust and Python's `regex` define \s) of a code point. */
int tg__is_white_space(uint32_t cp);

/* BPE-merge sym[0..n) in place (*n_out symbols remain); algo: 0 = as encode does, 1 = plain
 * linear scan, 2 = heap (for tests). Returns 0 when out of memory. */
int tg__bpe_merge(const tg__pairmap *m, int32_t *sym, size_t n, size_t *n_out, int algo);

/* 1 if every token of the model's vocabulary (but byte-fallback tokens) encodes to exactly
 * itself, so that the whole-piece lookup is exact. */
int tg__bpe_check_whole_pieces(tg_tokenizer *tok);

/* Sets tok->cut / cut_len when it is exact for the vocabulary (see tok_bpe.c). */
void tg__bpe_find_word_cut(tg_tokenizer *tok);

uint32_t tg__tok_hash(const void *data, size_t len);
int32_t tg__strmap_get(const tg__strmap *m, const char *arena, const uint32_t *off, const char *s,
                       size_t len);
tg_status tg__strmap_build(tg__strmap *m, const char *arena, const uint32_t *off, int32_t n,
                           const uint8_t *skip);
void tg__strmap_free(tg__strmap *m);

/* A word of a byte-level tokenizer: a single byte, a word that is a token (when that is exact),
 * or its bytes merged. Inline: GPT-2's scanner calls it for each piece. */
static inline void tg__encode_bytes_word(const tg_tokenizer *tok, tg__idvec *out,
                                         const unsigned char *s, size_t n)
{
    if (n == 1) {
        tg__idvec_push(out, tok->byte_id[s[0]]);
        return;
    }
    if (tok->ignore_merges || tok->whole_piece_exact) {
        int32_t id =
            tg__strmap_get(&tok->bytes_map, tok->bytes, tok->bytes_off, (const char *)s, n);
        if (id >= 0) {
            tg__idvec_push(out, id);
            return;
        }
    }
    if (!tg__idvec_grow(out, n))
        return;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++)
        out->data[out->len++] = tok->byte_id[s[i]];
    tg__bpe_tail(tok, out, start);
}

/* Validate/clean UTF-8: append `in` to `out` (grown with realloc), each maximal ill-formed
 * subsequence replaced by U+FFFD. When `final` is 0 a trailing incomplete but so far valid
 * sequence is not consumed. Returns the number of input bytes consumed, or (size_t)-1 when out
 * of memory. */
size_t tg__utf8_sanitize(tg__buf *out, const unsigned char *in, size_t len, int final);

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if it is ill-formed/incomplete;
 * *cp receives the code point. */
size_t tg__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Length of the longest well-formed UTF-8 prefix of s[0..n) without NUL bytes. */
size_t tg__utf8_valid_prefix(const unsigned char *s, size_t n);

/* GPT-2's bytes_to_unicode(): the code point that stands for each byte, and back (-1). */
extern uint16_t tg__byte_to_cp[256];
int tg__cp_to_byte(uint32_t cp);
void tg__byte_map_init(void);

/* tokenizer.json components, read by tok_hf.c into `tok` (messages name the file `what`). */
tg_status tg__hf_read_normalizer(tg_tokenizer *tok, JsonNode *node, const char *what);
tg_status tg__hf_read_pre_tokenizer(tg_tokenizer *tok, JsonNode *node, const char *what);
tg_status tg__hf_read_decoder(tg_tokenizer *tok, JsonNode *node, const char *what);
/* The post_processor's template for one text: tok->prefix_ids / suffix_ids (needs the
 * vocabulary). */
tg_status tg__hf_read_post_processor(tg_tokenizer *tok, JsonNode *node, const char *what);
void tg__tokenizer_free_components(tg_tokenizer *tok);

/* tokenizer_config.json beside the files (dir may be NULL): bos/eos, and add_bos_token /
 * add_eos_token, which replace the template as transformers does; then the options. */
tg_status tg__config_apply(tg_tokenizer *tok, const char *dir, const tg_tokenizer_options *opts);

#endif
