/* backend/kernels/cpus.c — see cpus.h. */
#include "cpus.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int32_t tg__cpus_affinity(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n >= 1)
            return n;
    }
#endif
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int32_t)n : 1;
}

/* One /proc/stat line: if it is "cpuN ..." with N in the mask, adds its nice + idle + iowait
 * ticks and returns 1. ("cpu " without a number is the sum of all CPUs.) */
static int idle_line(const char *line, const unsigned char *mask, size_t mask_bytes, double *ticks)
{
    char *end;
    const unsigned long n = strtoul(line + 3, &end, 10);
    unsigned long long user, nice, system, idle, iowait;
    if (strncmp(line, "cpu", 3) != 0 || end == line + 3 || *end != ' ' || n / 8 >= mask_bytes ||
        !(mask[n / 8] >> (n % 8) & 1) ||
        sscanf(end, "%llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait) != 5)
        return 0;
    *ticks += (double)nice + (double)idle + (double)iowait;
    return 1;
}

double tg__cpus_idle_read(FILE *stat, const unsigned char *mask, size_t mask_bytes,
                          long ticks_per_s)
{
    if (!stat || ticks_per_s <= 0)
        return -1;
    /* The cpu lines come first (each well under 256 bytes); the interrupt counts after them
     * can be long and are not read. */
    char line[256];
    double ticks = 0;
    int seen = 0;
    while (fgets(line, sizeof line, stat) && strncmp(line, "cpu", 3) == 0)
        seen |= idle_line(line, mask, mask_bytes, &ticks);
    return seen ? ticks * 1e6 / (double)ticks_per_s : -1;
}

double tg__cpus_idle_us(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    unsigned char mask[CPU_SETSIZE / 8] = {0};
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            mask[c / 8] |= (unsigned char)(1u << (c % 8));
    FILE *f = fopen("/proc/stat", "r");
    const double us = tg__cpus_idle_read(f, mask, sizeof mask, sysconf(_SC_CLK_TCK));
    if (f)
        fclose(f);
    return us;
#else
    return -1;
#endif
}

double tg__cgroup_quota_v2(const char *text)
{
    char q[32];
    long long period = 0;
    if (!text || sscanf(text, "%31s %lld", q, &period) < 1)
        return -1;
    if (strcmp(q, "max") == 0)
        return 0;
    char *end;
    const long long quota = strtoll(q, &end, 10);
    if (*end || quota <= 0 || period <= 0)
        return -1;
    return (double)quota / (double)period;
}

double tg__cgroup_quota_v1(const char *quota_text, const char *period_text)
{
    long long quota, period;
    if (!quota_text || !period_text || sscanf(quota_text, "%lld", &quota) != 1 ||
        sscanf(period_text, "%lld", &period) != 1)
        return -1;
    if (quota < 0)
        return 0; /* -1: no limit */
    return quota > 0 && period > 0 ? (double)quota / (double)period : -1;
}

static int read_text(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = 0;
    return got > 0;
}

/* Smallest positive quota in dir `base` + path and its ancestors up to `base`. */
static double walk_up(const char *base, const char *cg_path, int v2)
{
    char path[1024], file[1200], a[128], b[128];
    snprintf(path, sizeof path, "%s", cg_path);
    double best = 0;
    for (;;) {
        double q = -1;
        /* A path too long for `file` names no file we could read: it counts as no quota. */
        if (v2) {
            if (snprintf(file, sizeof file, "%s%s/cpu.max", base, path) < (int)sizeof file &&
                read_text(file, a, sizeof a))
                q = tg__cgroup_quota_v2(a);
        } else {
            if (snprintf(file, sizeof file, "%s%s/cpu.cfs_quota_us", base, path) <
                    (int)sizeof file &&
                read_text(file, a, sizeof a) &&
                snprintf(file, sizeof file, "%s%s/cpu.cfs_period_us", base, path) <
                    (int)sizeof file &&
                read_text(file, b, sizeof b))
                q = tg__cgroup_quota_v1(a, b);
        }
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(path, '/');
        if (!slash || path[0] == 0)
            break;
        *slash = 0; /* "/a/b" -> "/a" -> "" (the mount's root) */
    }
    return best;
}

double tg__cgroup_quota(const char *root, const char *self_cgroup)
{
    if (!self_cgroup)
        return 0;
    double best = 0;
    const char *line = self_cgroup;
    while (*line) {
        const char *eol = strchr(line, '\n');
        const size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[1024];
        snprintf(l, sizeof l, "%.*s", (int)(len < sizeof l - 1 ? len : sizeof l - 1), line);
        line += len + (eol ? 1 : 0);
        /* "hierarchy-id:controllers:path"; v2 has id 0 and no controllers. */
        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2)
            continue;
        *c1 = *c2 = 0;
        const char *ctrl = c1 + 1, *path = c2 + 1;
        char base[512];
        double q = 0;
        if (strcmp(l, "0") == 0 && ctrl[0] == 0) {
            snprintf(base, sizeof base, "%s", root);
            q = walk_up(base, strcmp(path, "/") == 0 ? "" : path, 1);
        } else {
            int has_cpu = 0; /* "cpu" as a whole item of the comma-separated list */
            char cl[256];
            snprintf(cl, sizeof cl, "%s", ctrl);
            for (char *save, *t = strtok_r(cl, ",", &save); t; t = strtok_r(NULL, ",", &save))
                has_cpu |= strcmp(t, "cpu") == 0;
            if (!has_cpu)
                continue;
            static const char *const mounts[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
            for (size_t i = 0; i < sizeof mounts / sizeof mounts[0] && q == 0; i++) {
                snprintf(base, sizeof base, "%s/%s", root, mounts[i]);
                q = walk_up(base, strcmp(path, "/") == 0 ? "" : path, 0);
            }
        }
        if (q > 0 && (best == 0 || q < best))
            best = q;
    }
    return best;
}

int32_t tg__cpus_available(const char *cgroup_root)
{
    const int32_t aff = tg__cpus_affinity();
    char self[4096];
    if (!read_text("/proc/self/cgroup", self, sizeof self))
        return aff;
    const double q = tg__cgroup_quota(cgroup_root ? cgroup_root : "/sys/fs/cgroup", self);
    if (q <= 0)
        return aff;
    const int32_t n = (int32_t)ceil(q - 1e-9);
    return n < 1 ? 1 : n < aff ? n : aff;
}
