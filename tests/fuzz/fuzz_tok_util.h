/* fuzz_tok_util.h — what every tokenizer that loads must do, for the tokenizer-file targets. */
#ifndef TG_FUZZ_TOK_UTIL_H
#define TG_FUZZ_TOK_UTIL_H

#include <textgen/textgen.h>

/* Aborts unless: the facts (n_vocab, kind, bos/eos, special tokens) are consistent; every id's
 * piece (of the first 4096) maps back to an id with the same piece; and sample texts encode
 * and decode back to themselves (any bytes for a byte-level tokenizer; valid UTF-8 that
 * encodes, for a plain one), but for the one leading space a ByteLevel pre-tokenizer's
 * add_prefix_space adds. */
void fzt_exercise(const tg_tokenizer *tok);

#endif
