/* backend/kernels/cpus.h — how many CPUs this process may really use: the CPUs of its affinity
 * mask (sched_getaffinity: taskset, cpusets, container CPU pinning), capped by a CFS bandwidth
 * quota of its cgroup (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us, the
 * smallest along the path to the root), rounded up. Not the machine's CPU count
 * (sysconf(_SC_NPROCESSORS_ONLN)), which a container with "--cpus 2" on a 64-core host would
 * overstate 32-fold. */
#ifndef TG_KERNELS_CPUS_H
#define TG_KERNELS_CPUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* >= 1. Reads /proc/self/cgroup and the cgroup files under `cgroup_root` (NULL =
 * "/sys/fs/cgroup"). */
int32_t tg__cpus_available(const char *cgroup_root);

/* CPUs in this process's affinity mask (>= 1; the online count if the mask cannot be read). */
int32_t tg__cpus_affinity(void);

/* CPU time that the CPUs of this process's affinity mask spent idle, waiting for I/O or running
 * niced tasks only (a worker at the default priority would take that time), summed over them,
 * in microseconds since boot; -1 if /proc/stat cannot be read. Per-CPU lines only: a host's
 * other CPUs say nothing about the ones this process may use. */
double tg__cpus_idle_us(void);

/* The same read from a /proc/stat-style stream: the "cpuN" lines (they come first) whose N is in
 * `mask` (bit N of byte N / 8; mask_bytes long), fields in ticks of ticks_per_s. -1 if no such
 * line parses. */
double tg__cpus_idle_read(FILE *stat, const unsigned char *mask, size_t mask_bytes,
                          long ticks_per_s);

/* The quota of one cgroup directory in CPUs: > 0 a limit, 0 no limit, -1 no readable file.
 * v2: "<quota|max> <period>" in cpu.max; v1: cpu.cfs_quota_us (-1 = none) and
 * cpu.cfs_period_us. */
double tg__cgroup_quota_v2(const char *cpu_max_text);
double tg__cgroup_quota_v1(const char *quota_text, const char *period_text);

/* The quota (CPUs, 0 = none) of the cgroup of this process, from /proc/self/cgroup-style text
 * `self_cgroup` and the hierarchy mounted at cgroup_root. */
double tg__cgroup_quota(const char *cgroup_root, const char *self_cgroup);

#endif
