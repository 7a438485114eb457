/* core/buf.h — internal: a growable byte buffer, kept NUL-terminated by tg__buf_append. One
 * implementation for the tokenizer's text and the JSON scanner's strings. */
#ifndef TG_CORE_BUF_H
#define TG_CORE_BUF_H

#include <stddef.h>

typedef struct tg__buf {
    char *data;
    size_t len, cap;
} tg__buf;

/* Room for `extra` more bytes after len (capacity doubles from 64); 0 when memory runs out or
 * the size would overflow. Release data with free(). */
int tg__buf_reserve(tg__buf *b, size_t extra);

/* Appends len bytes and a NUL (not counted in len); 0 when memory runs out. */
int tg__buf_append(tg__buf *b, const void *data, size_t len);

#endif
