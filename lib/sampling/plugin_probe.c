/* sampling/plugin_probe.c — before the registry reads a plugin's descriptor, make sure every byte
 * it will read is readable memory and every count is sane, so a descriptor whose counts lie
 * (n_processors 1000 for an array of one, n_params 64 for a schema of one) is refused with a
 * message instead of crashing every program that scans the plugin path.
 *
 * What this can and cannot do (docs/reliability.md, "Plugins"): a plugin is code in the
 * process, so its callbacks can do anything; but its descriptor is data the host checks before
 * calling any of them. Reads go through process_vm_readv on our own process (or, where that is
 * not allowed, a write into a pipe), which fail with EFAULT on an unmapped or unreadable address
 * instead of raising SIGSEGV. A lying count that still lands in readable memory reads garbage,
 * which the registry's checks then refuse (a vtable with a bad struct_size, a name that is no
 * identifier, ...). */
#include "core/error.h"
#include "sampling_internal.h"

#include <stdint.h>
#include <stdio.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PROCESSORS 1024 /* per descriptor */
#define MAX_PARAMS 256      /* per processor */
#define MAX_NAME 256        /* bytes of a name, NUL included */
#define MAX_TEXT 65536      /* bytes of a doc line or a default value, NUL included */

/* Copy n bytes from `src` (any address) into `dst`: 1 if they were all readable, else 0. */
static int safe_read(void *dst, const void *src, size_t n)
{
    if (n == 0)
        return 1;
    if (!src)
        return 0;
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got == (ssize_t)n)
        return 1;
    if (got >= 0 || errno == EFAULT)
        return 0;
    /* process_vm_readv not allowed here (ENOSYS, EPERM under some sandboxes): write() into a
     * pipe also fails with EFAULT instead of faulting. */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return 0;
    int ok = 1;
    for (size_t off = 0; ok && off < n;) {
        size_t chunk = n - off < 4096 ? n - off : 4096;
        ok = write(fds[1], (const char *)src + off, chunk) == (ssize_t)chunk &&
             read(fds[0], (char *)dst + off, chunk) == (ssize_t)chunk;
        off += chunk;
    }
    close(fds[0]);
    close(fds[1]);
    return ok;
}

/* 1 if `s` is a readable NUL-terminated string of fewer than `cap` bytes (NULL counts: the
 * registry's own checks say whether it may be NULL). */
static int safe_string(const char *s, size_t cap)
{
    if (!s)
        return 1;
    char buf[64];
    for (size_t off = 0; off < cap;) {
        /* never past the end of a 4 KiB page in one read: the next page may be unmapped */
        size_t n = 4096 - ((uintptr_t)(s + off) & 4095u);
        n = n < sizeof buf ? n : sizeof buf;
        n = n < cap - off ? n : cap - off;
        if (!safe_read(buf, s + off, n))
            return 0;
        if (memchr(buf, '\0', n))
            return 1;
        off += n;
    }
    return 0;
}

static tg_status unreadable(const char *path, const char *what, size_t n_processors, int is_text)
{
    char hint[160] = "";
    if (n_processors > 1)
        snprintf(hint, sizeof hint, " (does n_processors = %zu exceed the array?)", n_processors);
    return tg__error(TG_EPLUGIN, "refusing plugin '%s': %s points to unreadable memory%s%s", path,
                     what, is_text ? " or is not a NUL-terminated string" : "", hint);
}

static tg_status probe_param(const char *path, const tg_param_spec *p, size_t vt_i, size_t i,
                             size_t n_params)
{
    char what[160];
    tg_param_spec copy;
    snprintf(what, sizeof what, "processor %zu parameter %zu", vt_i, i);
    if (!safe_read(&copy, p, sizeof copy)) {
        snprintf(what, sizeof what,
                 "processor %zu's parameter %zu (does n_params = %zu exceed the schema?)", vt_i, i,
                 n_params);
        return unreadable(path, what, 0, 0);
    }
    if (!safe_string(copy.name, MAX_NAME) || !safe_string(copy.default_value, MAX_TEXT) ||
        !safe_string(copy.doc, MAX_TEXT))
        return unreadable(path, what, 0, 1);
    return TG_OK;
}

static tg_status probe_vtable(const char *path, const tg_processor_vtable *vt, size_t i,
                              size_t n_processors)
{
    char what[96];
    snprintf(what, sizeof what, "processor %zu's vtable", i);
    tg_processor_vtable v;
    memset(&v, 0, sizeof v);
    if (!vt)
        return TG_OK; /* check_vtable names it */
    if (!safe_read(&v, vt, TG_PROCESSOR_VTABLE_MIN_SIZE))
        return unreadable(path, what, n_processors, 0);
    if (v.struct_size > TG_PROCESSOR_VTABLE_MIN_SIZE) {
        size_t n = v.struct_size < sizeof v ? v.struct_size : sizeof v;
        if (!safe_read(&v, vt, n))
            return unreadable(path, what, n_processors, 0);
    }
    snprintf(what, sizeof what, "processor %zu's name or doc", i);
    if (!safe_string(v.name, MAX_NAME) || !safe_string(v.doc, MAX_TEXT))
        return unreadable(path, what, n_processors, 1);
    if (v.n_params > MAX_PARAMS)
        return tg__error(TG_EPLUGIN,
                         "refusing plugin '%s': processor %zu declares %zu parameters, more than "
                         "the %d a processor may have",
                         path, i, v.n_params, MAX_PARAMS);
    for (size_t k = 0; v.params && k < v.n_params; k++) {
        tg_status st = probe_param(path, &v.params[k], i, k, v.n_params);
        if (st != TG_OK)
            return st;
    }
    if (v.kind == TG_PROC_BEAM_SCORER &&
        v.struct_size >= offsetof(tg_processor_vtable, scorer) + sizeof v.scorer && v.scorer) {
        tg_beam_scorer sc;
        snprintf(what, sizeof what, "processor %zu's beam scorer table", i);
        if (!safe_read(&sc, v.scorer, TG_BEAM_SCORER_MIN_SIZE))
            return unreadable(path, what, n_processors, 0);
    }
    return TG_OK;
}

tg_status tg__plugin_probe(const char *path, const tg_plugin_desc *d)
{
    tg_plugin_desc copy;
    memset(&copy, 0, sizeof copy);
    if (!d)
        return TG_OK; /* check_desc names it */
    if (!safe_read(&copy, d, TG_PLUGIN_DESC_MIN_SIZE))
        return unreadable(path, "the descriptor", 0, 0);
    if (!safe_string(copy.name, MAX_NAME) || !safe_string(copy.version, MAX_TEXT) ||
        !safe_string(copy.license, MAX_TEXT) || !safe_string(copy.description, MAX_TEXT))
        return unreadable(path, "the descriptor's name, version, license or description", 0, 1);
    if (copy.n_processors > MAX_PROCESSORS)
        return tg__error(TG_EPLUGIN,
                         "refusing plugin '%s': its descriptor lists %zu processors, more than "
                         "the %d a plugin may have",
                         path, copy.n_processors, MAX_PROCESSORS);
    if (!copy.processors)
        return TG_OK;
    const tg_processor_vtable *vts[MAX_PROCESSORS];
    if (!safe_read(vts, copy.processors, copy.n_processors * sizeof vts[0]))
        return unreadable(path, "the descriptor's processor array", copy.n_processors, 0);
    for (size_t i = 0; i < copy.n_processors; i++) {
        tg_status st = probe_vtable(path, vts[i], i, copy.n_processors);
        if (st != TG_OK)
            return st;
    }
    return TG_OK;
}
