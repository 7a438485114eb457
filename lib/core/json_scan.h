/* core/json_scan.h — internal: a strict pull scanner over JSON text (RFC 8259), for the big
 * members of a file that are read once and need no tree (a tokenizer's vocabulary and merges:
 * a json-glib tree of 100k entries costs ~20 MB while it lives and GLib's slice allocator keeps
 * ~9 MB of its freed nodes for the life of the process).
 *
 * The caller walks the document value by value; the scanner checks the grammar as it goes:
 * strings are unescaped to UTF-8 (\uXXXX surrogate pairs joined; lone surrogates, raw control
 * characters and invalid UTF-8 refused), numbers follow the JSON grammar, arrays and objects
 * nest at most TG_JSON_MAX_DEPTH levels. Errors are TG_EFORMAT with a message naming the file
 * and the byte offset ("malformed JSON at byte N: ..." or "nested more than 256 levels deep").
 * Duplicate keys are the caller's to check (it knows which objects are big). */
#ifndef TG_CORE_JSON_SCAN_H
#define TG_CORE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <textgen/common.h>

#include "buf.h"
#include "json_util.h" /* TG_JSON_MAX_DEPTH: one limit for both readers */

/* Kinds of value, as tg__json_scan_peek reports them. */
enum {
    TG__JSON_NULL = 1,
    TG__JSON_BOOL,
    TG__JSON_NUMBER,
    TG__JSON_STRING,
    TG__JSON_ARRAY,
    TG__JSON_OBJECT
};

typedef struct tg__json_scan {
    const char *data;
    size_t len, pos;
    const char *what; /* file named in messages */
    int depth;
    unsigned char first[TG_JSON_MAX_DEPTH + 1]; /* per open container: no member read yet */
    unsigned char is_obj[TG_JSON_MAX_DEPTH + 1];
    /* the key of the last member read and the last string value read: NUL-terminated, and
     * they may hold NULs of \u0000 escapes (len counts them) */
    tg__buf key, str;
} tg__json_scan;

/* Start scanning `len` bytes (not copied: they must outlive the scanner). */
void tg__json_scan_init(tg__json_scan *s, const char *data, size_t len, const char *what);
void tg__json_scan_clear(tg__json_scan *s);

/* The kind of the value at the current position (blanks skipped), without consuming it. */
tg_status tg__json_scan_peek(tg__json_scan *s, int *kind);

/* Enter the object at the current position; then tg__json_scan_member until *more is 0 (the
 * object's '}' consumed). With *more 1 the member's key is in s->key and the position is at its
 * value, which the caller must consume (read or skip). */
tg_status tg__json_scan_object(tg__json_scan *s);
tg_status tg__json_scan_member(tg__json_scan *s, int *more);

/* The same for arrays: with *more 1 the position is at the next element. */
tg_status tg__json_scan_array(tg__json_scan *s);
tg_status tg__json_scan_element(tg__json_scan *s, int *more);

/* Read the string at the current position into s->str. */
tg_status tg__json_scan_string(tg__json_scan *s);

/* Read the number at the current position. *is_int is 1 when it has neither fraction nor
 * exponent; then *out is its value, saturated at INT64_MIN / INT64_MAX. */
tg_status tg__json_scan_number(tg__json_scan *s, int64_t *out, int *is_int);

/* Consume the value at the current position, whatever it is, checking its grammar. */
tg_status tg__json_scan_skip(tg__json_scan *s);

/* Only blanks may follow the top-level value. */
tg_status tg__json_scan_end(tg__json_scan *s);

#endif
