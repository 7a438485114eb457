/* load_trace.c — an LD_PRELOAD library that times the calls a model load and the first decode
 * make into oneDNN, the C library and libtextgen's public API, to see where the time from
 * tg_model_load to the first logits goes (docs/performance.md, "Fast start"). Not a test.
 *
 * Usage: LD_PRELOAD=build/bench/libload_trace.so build/bench/peer_worker MODEL fp32 --start 1
 * At exit it prints, per wrapped function, the calls and the wall time spent inside (nested
 * calls, e.g. tg_model_load around dnnl_*, are counted in both). */

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <textgen/textgen.h>
#include <time.h>

enum {
    F_LOAD,
    F_SESS,
    F_DECODE,
    F_PD,
    F_RPD,
    F_PRIM,
    F_EXEC,
    F_WAIT,
    F_MEM,
    F_ENGINE,
    F_MADV,
    F_MMAP,
    N_F
};
static const char *const names[N_F] = {"tg_model_load",
                                       "tg_session_create",
                                       "tg_session_decode",
                                       "dnnl_primitive_desc_create",
                                       "dnnl_reorder_primitive_desc_create",
                                       "dnnl_primitive_create",
                                       "dnnl_primitive_execute",
                                       "dnnl_stream_wait",
                                       "dnnl_memory_create",
                                       "dnnl_engine_create",
                                       "madvise",
                                       "mmap"};
static double total[N_F];
static long calls[N_F];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define WRAP(F, RET, NAME, PARAMS, ARGS)                                                           \
    RET NAME PARAMS                                                                                \
    {                                                                                              \
        static RET(*real) PARAMS;                                                                  \
        if (!real)                                                                                 \
            *(void **)&real = dlsym(RTLD_NEXT, #NAME);                                             \
        const double t0 = now();                                                                   \
        RET ret_ = real ARGS;                                                                      \
        total[F] += now() - t0;                                                                    \
        calls[F]++;                                                                                \
        return ret_;                                                                               \
    }

WRAP(F_LOAD, tg_status, tg_model_load,
     (tg_model * *out, const char *dir, const tg_model_options *o), (out, dir, o))
WRAP(F_SESS, tg_status, tg_session_create,
     (tg_session * *out, const tg_model *m, const tg_session_options *o), (out, m, o))
WRAP(F_DECODE, tg_status, tg_session_decode, (tg_session * s, const tg_batch_row *r, size_t n),
     (s, r, n))
WRAP(F_PD, dnnl_status_t, dnnl_primitive_desc_create,
     (dnnl_primitive_desc_t * pd, const_dnnl_op_desc_t d, const_dnnl_primitive_attr_t a,
      dnnl_engine_t e, const_dnnl_primitive_desc_t h),
     (pd, d, a, e, h))
WRAP(F_RPD, dnnl_status_t, dnnl_reorder_primitive_desc_create,
     (dnnl_primitive_desc_t * pd, const dnnl_memory_desc_t *s, dnnl_engine_t se,
      const dnnl_memory_desc_t *d, dnnl_engine_t de, const_dnnl_primitive_attr_t a),
     (pd, s, se, d, de, a))
WRAP(F_PRIM, dnnl_status_t, dnnl_primitive_create,
     (dnnl_primitive_t * p, const_dnnl_primitive_desc_t pd), (p, pd))
WRAP(F_EXEC, dnnl_status_t, dnnl_primitive_execute,
     (const_dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t *a), (p, s, n, a))
WRAP(F_WAIT, dnnl_status_t, dnnl_stream_wait, (dnnl_stream_t s), (s))
WRAP(F_MEM, dnnl_status_t, dnnl_memory_create,
     (dnnl_memory_t * m, const dnnl_memory_desc_t *d, dnnl_engine_t e, void *h), (m, d, e, h))
WRAP(F_ENGINE, dnnl_status_t, dnnl_engine_create,
     (dnnl_engine_t * e, dnnl_engine_kind_t k, size_t i), (e, k, i))
WRAP(F_MADV, int, madvise, (void *a, size_t l, int adv), (a, l, adv))
WRAP(F_MMAP, void *, mmap, (void *a, size_t l, int p, int f, int fd, off_t o), (a, l, p, f, fd, o))

__attribute__((destructor)) static void report(void)
{
    fprintf(stderr, "load_trace: %-36s %7s %10s\n", "function", "calls", "ms");
    for (int f = 0; f < N_F; f++)
        if (calls[f])
            fprintf(stderr, "load_trace: %-36s %7ld %10.1f\n", names[f], calls[f], total[f] * 1e3);
}
