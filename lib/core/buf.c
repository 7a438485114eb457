/* core/buf.c — see buf.h. */
#include "buf.h"
#include "alloc.h"

#include <stdint.h>
#include <string.h>

int tg__buf_reserve(tg__buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 1;
    size_t need = b->len + extra;
    if (need < b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    char *p = tg__realloc(b->data, cap);
    if (!p)
        return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

int tg__buf_append(tg__buf *b, const void *data, size_t len)
{
    if (!tg__buf_reserve(b, len + 1))
        return 0;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 1;
}
