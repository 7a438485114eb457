/* core/fileutil.c — mmap and whole-file reads. */
#include "alloc.h"
#include "fileutil.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

tg_status tg__file_map(tg_mapped_file *out, const char *path)
{
    out->data = NULL;
    out->size = 0;
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the type is checked
     * right after, and a regular file ignores the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return tg__error(errno == ENOENT ? TG_ENOTFOUND : TG_EIO, "cannot open '%s': %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tg__error(TG_EIO, "cannot read '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tg__error(TG_EIO, "cannot read '%s': not a regular file (%s)", path,
                         S_ISDIR(st.st_mode)    ? "a directory"
                         : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISCHR(st.st_mode)  ? "a character device"
                         : S_ISBLK(st.st_mode)  ? "a block device"
                         : S_ISSOCK(st.st_mode) ? "a socket"
                                                : "a special file");
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return tg__error(TG_EIO, "cannot map '%s': %s", path, strerror(e));
        }
        out->data = p;
        out->size = (size_t)st.st_size;
    }
    close(fd);
    return TG_OK;
}

void tg__file_unmap(tg_mapped_file *file)
{
    if (file->data)
        munmap((void *)file->data, file->size);
    file->data = NULL;
    file->size = 0;
}

void tg__file_release(const void *p, size_t n)
{
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0)
        return;
    const uintptr_t a = (uintptr_t)p, mask = (uintptr_t)page - 1;
    const uintptr_t b = (a + mask) & ~mask, e = (a + n) & ~mask;
    if (e > b)
        madvise((void *)b, e - b, MADV_DONTNEED);
}

tg_status tg__file_read(char **out, size_t *size_out, const char *path)
{
    *out = NULL;
    tg_mapped_file f;
    tg_status st = tg__file_map(&f, path);
    if (st != TG_OK)
        return st;
    char *buf = tg__malloc(f.size + 1);
    if (!buf) {
        tg__file_unmap(&f);
        return tg__error(TG_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, f.size);
    }
    if (f.size)
        memcpy(buf, f.data, f.size);
    buf[f.size] = '\0';
    if (size_out)
        *size_out = f.size;
    tg__file_unmap(&f);
    *out = buf;
    return TG_OK;
}
