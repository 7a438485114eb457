/* tsan_glib.c — tells ThreadSanitizer about GLib's locks, in TSan builds of test_concurrency.
 *
 * GLib is not built with TSan, and on Linux its GMutex is a futex word it locks with atomic
 * instructions (no pthread call TSan could intercept) and g_once_init_leave() publishes with an
 * atomic store TSan never sees. Every access libtextgen makes under such a lock then looks
 * unsynchronized, and TSan reports it as a race that is not one (docs/reliability.md). The
 * executable exports these wrappers (export_dynamic), so libtextgen's calls bind to them; each
 * calls GLib's function and marks the acquire/release TSan cannot see. GLib's calls to itself do
 * not come here (they are bound inside libglib), so the slice allocator stays invisible: that is
 * what G_SLICE=always-malloc is for. Nothing here changes what the library does. */
#include <dlfcn.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

static void (*real_lock)(GMutex *);
static void (*real_unlock)(GMutex *);
static gboolean (*real_trylock)(GMutex *);
static gboolean (*real_once_enter)(volatile void *);
static void (*real_once_leave)(volatile void *, gsize);

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "tsan_glib: %s not found\n", name);
        abort();
    }
    return f;
}

/* Before any thread: other libraries' constructors already lock GLib mutexes (so the first
 * wrapper called resolves), and this constructor makes sure it happened before main(). */
__attribute__((constructor)) static void resolve(void)
{
    if (real_lock)
        return;
    real_lock = (void (*)(GMutex *))real("g_mutex_lock");
    real_unlock = (void (*)(GMutex *))real("g_mutex_unlock");
    real_trylock = (gboolean(*)(GMutex *))real("g_mutex_trylock");
    real_once_enter = (gboolean(*)(volatile void *))real("g_once_init_enter");
    real_once_leave = (void (*)(volatile void *, gsize))real("g_once_init_leave");
}

void g_mutex_lock(GMutex *m)
{
    resolve();
    real_lock(m);
    __tsan_acquire(m);
}

void g_mutex_unlock(GMutex *m)
{
    resolve();
    __tsan_release(m);
    real_unlock(m);
}

gboolean g_mutex_trylock(GMutex *m)
{
    resolve();
    gboolean ok = real_trylock(m);
    if (ok)
        __tsan_acquire(m);
    return ok;
}

/* The macros of <glib.h> read the location with an (instrumented) atomic load first, then call
 * these; the parentheses keep the macros from expanding here. */
gboolean(g_once_init_enter)(volatile void *location)
{
    resolve();
    gboolean first = real_once_enter(location);
    if (!first)
        __tsan_acquire((void *)location);
    return first;
}

void(g_once_init_leave)(volatile void *location, gsize result)
{
    resolve();
    __tsan_release((void *)location);
    real_once_leave(location, result);
}
