/**
 * @file textgen/tokenizer.h
 * @brief Text <-> token ids: GPT-2 byte-level BPE, plain BPE and character vocabularies, and a
 *        streaming detokenizer whose output is valid UTF-8 at every moment.
 *
 * Formats read (see docs/tokenizer.md):
 * - Hugging Face `tokenizer.json` with a `BPE` model: byte-level (ByteLevel pre-tokenizer and
 *   decoder, as GPT-2 ships it) or plain (no pre-tokenizer; the vocabulary holds Unicode
 *   characters, e.g. a character-level vocabulary with an empty merge list).
 * - The original GPT-2 pair `vocab.json` + `merges.txt` (a.k.a. `encoder.json` + `vocab.bpe`),
 *   always byte-level.
 *
 * Thread safety: a loaded ::tg_tokenizer is immutable; any number of threads may encode and
 * decode with it at once. A ::tg_detokenizer belongs to one thread at a time. The tokenizer must
 * outlive every detokenizer created from it.
 */
#ifndef TEXTGEN_TOKENIZER_H
#define TEXTGEN_TOKENIZER_H

#include <textgen/common.h>

TG_BEGIN_DECLS

/** An immutable, loaded tokenizer (opaque). */
typedef struct tg_tokenizer tg_tokenizer;

/** A streaming detokenizer (opaque): ids in, valid UTF-8 chunks out. */
typedef struct tg_detokenizer tg_detokenizer;

/** Special-id value of tg_tokenizer_options.bos_id / eos_id: take it from the files. */
#define TG_TOKEN_AUTO (-2)
/** "No such token" (bos/eos ids of a tokenizer that has none). */
#define TG_TOKEN_NONE (-1)

/** Options for tg_tokenizer_load(). */
typedef struct tg_tokenizer_options {
    uint32_t struct_size; /**< sizeof(tg_tokenizer_options) */
    /** Beginning-of-sequence id: TG_TOKEN_AUTO (default) takes `bos_token` from a
     *  `tokenizer_config.json` beside the files, else `<|endoftext|>` when it is a special token,
     *  else none; TG_TOKEN_NONE forces none; an id >= 0 must exist in the vocabulary. */
    int32_t bos_id;
    /** End-of-sequence id, same rules as bos_id (`eos_token` in tokenizer_config.json). */
    int32_t eos_id;
} tg_tokenizer_options;

#define TG_TOKENIZER_OPTIONS_INIT                                                                  \
    {                                                                                              \
        TG_U32(sizeof(tg_tokenizer_options)), TG_TOKEN_AUTO, TG_TOKEN_AUTO                         \
    }

/**
 * @brief Fill the first `struct_size` bytes of `opts` with the defaults (what
 * TG_TOKENIZER_OPTIONS_INIT gives) and set opts->struct_size; never writes past `struct_size`. Pass
 * sizeof(*opts).
 * @return TG_EINVAL when `opts` is NULL or struct_size is smaller than the first layout.
 */
TG_API tg_status tg_tokenizer_options_init(tg_tokenizer_options *opts, uint32_t struct_size);

/** Kinds of tokenizer (tg_tokenizer_kind()). */
enum {
    TG_TOKENIZER_BYTE_BPE = 1, /**< byte-level BPE (GPT-2 style): every byte string encodes */
    TG_TOKENIZER_BPE = 2       /**< plain BPE over Unicode characters (character vocabularies) */
};

/**
 * @brief Load a tokenizer.
 * @param[out] out  receives the tokenizer (transfer full; release with tg_tokenizer_free()).
 * @param path      a folder holding `tokenizer.json`, or else `vocab.json` + `merges.txt`
 *                  (or `encoder.json` + `vocab.bpe`); or the path of a `tokenizer.json` file;
 *                  or the path of a `vocab.json`/`encoder.json` whose merges file is beside it.
 * @param opts      options, or NULL for defaults.
 * @return TG_OK; TG_ENOTFOUND (no tokenizer files), TG_EIO, TG_EFORMAT (malformed file: the
 *         message names the file and the field, token or line at fault), TG_EUNSUPPORTED (a
 *         valid tokenizer.json of a kind not supported, e.g. a WordPiece model), TG_EINVAL,
 *         TG_ENOMEM.
 */
TG_API tg_status tg_tokenizer_load(tg_tokenizer **out, const char *path,
                                   const tg_tokenizer_options *opts);

/**
 * @brief Load the GPT-2 pair of files (byte-level BPE) from explicit paths.
 * @param[out] out     receives the tokenizer (release with tg_tokenizer_free()).
 * @param vocab_path   `vocab.json` / `encoder.json`: a JSON object piece -> id.
 * @param merges_path  `merges.txt` / `vocab.bpe`: one "A B" merge per line, rank = line order;
 *                     a first line starting with `#` is skipped.
 * @param opts         options, or NULL for defaults.
 */
TG_API tg_status tg_tokenizer_load_vocab_merges(tg_tokenizer **out, const char *vocab_path,
                                                const char *merges_path,
                                                const tg_tokenizer_options *opts);

/** @brief Release a tokenizer. NULL is a no-op. No detokenizer may still use it. */
TG_API void tg_tokenizer_free(tg_tokenizer *tok);

/** @brief Number of ids (the largest id + 1); 0 for NULL. */
TG_API int32_t tg_tokenizer_n_vocab(const tg_tokenizer *tok);

/** @brief TG_TOKENIZER_BYTE_BPE or TG_TOKENIZER_BPE; 0 for NULL. */
TG_API int32_t tg_tokenizer_kind(const tg_tokenizer *tok);

/** @brief Beginning-of-sequence id, or TG_TOKEN_NONE. */
TG_API int32_t tg_tokenizer_bos(const tg_tokenizer *tok);

/** @brief End-of-sequence id, or TG_TOKEN_NONE. */
TG_API int32_t tg_tokenizer_eos(const tg_tokenizer *tok);

/** @brief 1 if `id` is a special token (an added token marked special, such as
 *  `<|endoftext|>`), 0 otherwise (including ids outside the vocabulary). */
TG_API int32_t tg_tokenizer_is_special(const tg_tokenizer *tok, int32_t id);

/**
 * @brief The special tokens' ids, in increasing order.
 * @param[out] ids_out  borrowed array, valid as long as the tokenizer (NULL when n is 0).
 * @param[out] n_out    number of ids.
 */
TG_API tg_status tg_tokenizer_special_tokens(const int32_t **ids_out, size_t *n_out,
                                             const tg_tokenizer *tok);

/** Flags of the encode functions. */
enum {
    /** Match the special tokens' text (e.g. `<|endoftext|>`) in the input and emit their ids.
     *  Without it special tokens in the input are plain text, so a prompt cannot inject them. */
    TG_ENCODE_ALLOW_SPECIAL = 1u << 0,
    /** Prepend the bos id (TG_ESTATE if the tokenizer has none). */
    TG_ENCODE_ADD_BOS = 1u << 1
};

/** Pass as `len` to mean "`text` is NUL-terminated". */
#define TG_NUL_TERMINATED TG_SIZE(-1)

/**
 * @brief Encode text into token ids.
 * @param[out] ids_out  receives a malloc'ed array (transfer full; release with tg_free()); NULL
 *                      when the result is empty.
 * @param[out] n_out    number of ids.
 * @param text          the bytes to encode (not necessarily NUL-terminated). A byte-level
 *                      tokenizer accepts any bytes (invalid UTF-8 bytes encode as themselves);
 *                      a plain BPE tokenizer needs valid UTF-8.
 * @param len           byte length of `text`, or TG_NUL_TERMINATED.
 * @param flags         TG_ENCODE_* bits.
 * @return TG_OK; TG_EINVAL (NULL argument, unknown flag, invalid UTF-8 or a character with no
 *         token in a plain BPE vocabulary: the message names the character and its byte offset),
 *         TG_ESTATE, TG_ENOMEM.
 */
TG_API tg_status tg_tokenizer_encode(int32_t **ids_out, size_t *n_out, const tg_tokenizer *tok,
                                     const char *text, size_t len, uint32_t flags);

/**
 * @brief Encode into a caller buffer.
 * @param[out] ids    caller array of `capacity` ids (may be NULL when capacity is 0).
 * @param capacity    size of `ids`.
 * @param[out] n_out  number of ids the text encodes to (also when it does not fit).
 * @return as tg_tokenizer_encode(); TG_ERANGE when *n_out > capacity (then `ids` holds the
 *         first `capacity` ids).
 */
TG_API tg_status tg_tokenizer_encode_into(int32_t *ids, size_t capacity, size_t *n_out,
                                          const tg_tokenizer *tok, const char *text, size_t len,
                                          uint32_t flags);

/** Flags of the decode functions. */
enum {
    TG_DECODE_SKIP_SPECIAL = 1u << 0, /**< leave special tokens out of the text */
    /** Return the tokens' bytes as they are, even when they do not form valid UTF-8
     *  (tg_tokenizer_decode() only; without it invalid sequences become U+FFFD). */
    TG_DECODE_RAW_BYTES = 1u << 1
};

/**
 * @brief Decode ids into text.
 * @param[out] text_out  receives a malloc'ed, NUL-terminated string (transfer full; release
 *                       with tg_free()). It is valid UTF-8: each maximal invalid byte sequence
 *                       is replaced by U+FFFD (as Python's `errors="replace"` and the WHATWG
 *                       decoder do), unless TG_DECODE_RAW_BYTES is given.
 * @param[out] len_out   byte length without the NUL (may be NULL).
 * @param ids            the ids (may be NULL when n is 0).
 * @param flags          TG_DECODE_* bits.
 * @return TG_OK; TG_EINVAL (NULL argument, or an id outside [0, n_vocab): the message names the
 *         id and its index); TG_ENOMEM.
 */
TG_API tg_status tg_tokenizer_decode(char **text_out, size_t *len_out, const tg_tokenizer *tok,
                                     const int32_t *ids, size_t n, uint32_t flags);

/**
 * @brief The vocabulary entry of an id, as written in the tokenizer files (for GPT-2 the
 *        byte-level form, e.g. "Ġthe" for " the").
 * @param[out] piece_out  borrowed, NUL-terminated, valid as long as the tokenizer.
 * @param[out] len_out    its byte length (may be NULL).
 * @return TG_OK; TG_EINVAL for an id outside the vocabulary.
 */
TG_API tg_status tg_tokenizer_token_to_piece(const char **piece_out, size_t *len_out,
                                             const tg_tokenizer *tok, int32_t id);

/**
 * @brief The bytes an id decodes to (for GPT-2 " the"; may be part of a UTF-8 character).
 * @param[out] bytes_out  borrowed, NUL-terminated, valid as long as the tokenizer.
 * @param[out] len_out    byte length (required: the bytes may contain NUL).
 */
TG_API tg_status tg_tokenizer_token_to_bytes(const char **bytes_out, size_t *len_out,
                                             const tg_tokenizer *tok, int32_t id);

/**
 * @brief The id of a vocabulary entry (the form tg_tokenizer_token_to_piece() returns).
 * @param[out] id_out  the id.
 * @param piece        the entry's bytes; `len` may be TG_NUL_TERMINATED.
 * @return TG_OK; TG_ENOTFOUND when no token has that piece; TG_EINVAL.
 */
TG_API tg_status tg_tokenizer_piece_to_token(int32_t *id_out, const tg_tokenizer *tok,
                                             const char *piece, size_t len);

/**
 * @brief Create a streaming detokenizer.
 * @param[out] out  receives it (transfer full; release with tg_detokenizer_free()).
 * @param tok       the tokenizer (borrowed; must outlive the detokenizer).
 * @param flags     TG_DECODE_SKIP_SPECIAL or 0.
 */
TG_API tg_status tg_detokenizer_create(tg_detokenizer **out, const tg_tokenizer *tok,
                                       uint32_t flags);

/**
 * @brief Feed one id; get the text that is now complete.
 * @param[out] text_out  borrowed NUL-terminated chunk (possibly empty), valid until the next
 *                       call on this detokenizer. Always complete, valid UTF-8: bytes of a
 *                       character split across tokens are held back until it is complete;
 *                       invalid sequences come out as U+FFFD.
 * @param[out] len_out   chunk length in bytes (may be NULL).
 * @return TG_OK; TG_EINVAL for an id outside the vocabulary (the state is unchanged).
 * The concatenation of every chunk and of tg_detokenizer_flush() equals tg_tokenizer_decode()
 * of the same ids.
 */
TG_API tg_status tg_detokenizer_feed(tg_detokenizer *detok, int32_t id, const char **text_out,
                                     size_t *len_out);

/**
 * @brief End of stream: held-back bytes of an unfinished character come out as U+FFFD.
 * Output as tg_detokenizer_feed(). The detokenizer is then empty and can be fed again.
 */
TG_API tg_status tg_detokenizer_flush(tg_detokenizer *detok, const char **text_out,
                                      size_t *len_out);

/** @brief Drop any held-back bytes (start a new stream). NULL is a no-op. */
TG_API void tg_detokenizer_reset(tg_detokenizer *detok);

/** @brief Release a detokenizer. NULL is a no-op. */
TG_API void tg_detokenizer_free(tg_detokenizer *detok);

TG_END_DECLS

#endif /* TEXTGEN_TOKENIZER_H */
