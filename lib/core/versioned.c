/* core/versioned.c — reading, writing and initialising versioned structs (see versioned.h). */
#include "versioned.h"
#include "error.h"

#include <string.h>

static tg_status too_small(uint32_t size, size_t min_size, const char *what)
{
    return tg__error(TG_EINVAL,
                     "%s: struct_size %u is smaller than the oldest layout this library accepts "
                     "(%zu bytes); set it with the TG_*_INIT macro or the _init() function",
                     what, size, min_size);
}

tg_status tg__struct_read(void *dst, size_t dst_size, const void *src, size_t min_size,
                          const char *what)
{
    uint32_t size;
    memcpy(&size, src, sizeof size);
    if (size < min_size)
        return too_small(size, min_size, what);
    if (size > dst_size) {
        const unsigned char *tail = (const unsigned char *)src + dst_size;
        for (size_t i = 0; i < size - dst_size; i++)
            if (tail[i])
                return tg__error(TG_EUNSUPPORTED,
                                 "%s: struct_size %u is larger than this library's layout (%zu "
                                 "bytes) and a field it does not know is set (byte %zu is not "
                                 "zero): the program was built against newer headers than this "
                                 "library",
                                 what, size, dst_size, dst_size + i);
    }
    memcpy((char *)dst + sizeof size, (const char *)src + sizeof size,
           (size < dst_size ? size : dst_size) - sizeof size);
    return TG_OK;
}

tg_status tg__struct_write(void *dst, const void *src, size_t src_size, size_t min_size,
                           const char *what)
{
    uint32_t size;
    memcpy(&size, dst, sizeof size);
    if (size < min_size)
        return too_small(size, min_size, what);
    size_t n = size < src_size ? size : src_size;
    memcpy((char *)dst + sizeof size, (const char *)src + sizeof size, n - sizeof size);
    if (size > src_size)
        memset((char *)dst + src_size, 0, size - src_size);
    uint32_t filled = (uint32_t)n;
    memcpy(dst, &filled, sizeof filled);
    return TG_OK;
}

tg_status tg__struct_init(void *dst, uint32_t struct_size, const void *defaults, size_t lib_size,
                          size_t min_size, const char *what)
{
    if (!dst)
        return tg__error(TG_EINVAL, "%s: the struct pointer is NULL", what);
    if (struct_size < min_size)
        return too_small(struct_size, min_size, what);
    size_t n = struct_size < lib_size ? struct_size : lib_size;
    memcpy(dst, defaults, n);
    if (struct_size > lib_size)
        memset((char *)dst + lib_size, 0, struct_size - lib_size);
    memcpy(dst, &struct_size, sizeof struct_size);
    return TG_OK;
}
