/* core/fileutil.h — internal: read-only file mapping and whole-file reads with clear errors. */
#ifndef TG_CORE_FILEUTIL_H
#define TG_CORE_FILEUTIL_H

#include <textgen/common.h>

typedef struct tg_mapped_file {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} tg_mapped_file;

/* Map `path` read-only. Errors name the file. */
tg_status tg__file_map(tg_mapped_file *out, const char *path);
void tg__file_unmap(tg_mapped_file *file);

/* Drop the pages wholly inside [p, p + n) of a file mapping from this process's memory (the
 * page cache keeps them; a later read maps them again). Only for ranges of a tg__file_map: on
 * other memory it would discard data. */
void tg__file_release(const void *p, size_t n);

/* Read a whole file into a NUL-terminated malloc'ed buffer (release with free()). */
tg_status tg__file_read(char **out, size_t *size_out, const char *path);

#endif
