/* backend/kernels/huge_scan.c — see huge_scan.h. */
#include "huge_scan.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The PAGEMAP_SCAN interface (include/uapi/linux/fs.h of Linux 6.7; stable ABI), declared here
 * since older kernel headers (Debian 12's 6.1) do not have it. */
typedef struct {
    uint64_t start, end, categories;
} scan_region;

typedef struct {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
} scan_arg;

#define SCAN_IOCTL _IOWR('f', 16, scan_arg)
#define SCAN_PAGE_IS_HUGE ((uint64_t)1 << 6)

long long tg__huge_bytes(const void *p, size_t len)
{
    const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    const uint64_t end = (uint64_t)(uintptr_t)p + len;
    uint64_t at = (uint64_t)(uintptr_t)p;
    long long huge = 0;
    scan_region v[64];
    while (at < end) {
        scan_arg a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.start = at;
        a.end = end;
        a.vec = (uint64_t)(uintptr_t)v;
        a.vec_len = sizeof v / sizeof v[0];
        a.category_mask = SCAN_PAGE_IS_HUGE; /* only the regions on huge pages */
        a.return_mask = SCAN_PAGE_IS_HUGE;
        const int n = ioctl(fd, SCAN_IOCTL, &a);
        if (n < 0) {
            huge = -1;
            break;
        }
        for (int i = 0; i < n; i++)
            huge += (long long)(v[i].end - v[i].start);
        if (a.walk_end <= at) /* no progress: never loop */
            break;
        at = a.walk_end;
    }
    close(fd);
    return huge;
}
