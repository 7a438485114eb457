/* bench_kernels.c — the standalone small-M kernels (lib/backend/kernels) against oneDNN 2.6's
 * matmul and against the read-bandwidth roofline, on GPT-2 124M's weight shapes. Not a test.
 *
 * Usage: bench_kernels [--reps N] [--threads 1,2] [--m 1,8] [--prec f32,bf16,s8,u8s8,f32view,q8]
 *                      [--no-onednn] [--tune] [--hot] [--streams S] [--prefetch BYTES] [--spin-us
 * US]
 *                      [--gate SECONDS] [--no-fallback] [--prep-ab]
 *
 * One "sweep" runs the products of one decoded token of GPT-2 124M in forward order: for each of
 * 12 layers qkv 768x2304, attn proj 768x768, fc 768x3072, mlp proj 3072x768, then the output
 * layer 768x50257; every matrix is a distinct copy (like the model's), so the 494 MB (f32) never
 * fit the caches. Each product is timed alone; the activation conversion (f32 -> bf16, or the
 * per-row u8 quantization) is inside the timing for both engines. Every repetition measures the
 * bandwidth (best of 1 and 8 streams per thread), then every (threads, engine, M) once, orders
 * alternating. Reported: median over repetitions of each shape's time per product, its weight
 * GB/s, and that over the best bandwidth at the same thread count (the roofline).
 * Precisions: f32; bf16 (ours: vdpbf16ps; oneDNN: bf16 x bf16 -> f32); s8 = our weight-only int8
 * (f32 activations) vs oneDNN u8 x s8; u8s8 = our VNNI u8 x s8 vs the same oneDNN u8 x s8;
 * q8 = the library's int8 (block scales, 16-bit activations, VNNI) vs the same oneDNN u8 x s8.
 * Our kernels run on tpool (dynamic chunks, as many as the library cuts: tg__kmat_chunks), oneDNN
 * on its OpenMP threads.
 * --tune: our kernels only, M = 1, every stream count (1, 2, 4) x prefetch distance.
 * --hot: what a kernel costs in instructions rather than bytes: our kernels only, one matrix of
 * each block shape (the output layer left out: it never fits a cache) multiplied over and over
 * on the calling thread, so the matrix stays in L2/L3; time per product on the thread's CPU clock
 * (other processes do not count), in cycles of a clock measured by a chain of dependent adds,
 * and for q8 against the VNNI bound: M rows x 2 planes x K x N / 64 MACs per vpdpbusd, one per
 * cycle. The activation preparation is timed apart.
 * --no-fallback: the pools never run jobs on the caller alone (tg__tpool_set_fallback), so that a
 * "2 threads" line measures two threads even while other processes run (at nice 19, say).
 * --prep-ab: instead of oneDNN, the second engine is ours with the activations prepared on the
 * caller before each job (as before tg__kmat_prep_parts), alternating with the library's way
 * in every repetition: a paired A/B inside one process.
 * --gate S: before each repetition wait up to S seconds for a quiet moment (other processes
 * below 0.2 CPUs for 0.5 s) and print what was seen: on a shared machine, the figures of the
 * repetitions that got one are the ones to trust. */
#include "bw_probe.h"
#include "kmat.h"
#include "panel_mem.h"
#include "tpool.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SHAPES 5
#define N_LAYERS 12
#define N_MATS (4 * N_LAYERS + 1)
#define MAX_REPS 64
#define MAX_T 4
#define MAX_MS 4

static const int64_t shape_k[N_SHAPES] = {768, 768, 768, 3072, 768};
static const int64_t shape_n[N_SHAPES] = {2304, 768, 3072, 768, 50257};
static const char *const shape_name[N_SHAPES] = {"qkv 768x2304", "attn.proj 768x768", "fc 768x3072",
                                                 "mlp.proj 3072x768", "lm_head 768x50257"};
static int mat_shape(int i)
{
    return i == N_MATS - 1 ? 4 : i % 4;
}

/* f32view: our f32 kernels on the matrices where they lie, unpacked: the blocks [K][N] as
 * Conv1D stores them, the output layer [N][K] as the tied embedding (oneDNN: see f32). */
enum { P_F32, P_BF16, P_S8, P_U8S8, P_F32V, P_Q8, N_PREC };
static const char *const prec_name[N_PREC] = {"f32", "bf16", "s8", "u8s8", "f32view", "q8"};
static const int32_t prec_fmt[N_PREC] = {TG_KFMT_F32,  TG_KFMT_BF16,   TG_KFMT_S8,
                                         TG_KFMT_U8S8, TG_KFMT_F32_KN, TG_KFMT_Q8};

#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            fprintf(stderr, "bench_kernels: %s failed (%d) at line %d\n", #call, (int)s_,          \
                    __LINE__);                                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) /* uniform [-0.05, 0.05): speed does not depend on the values */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 40) / 16777216.0 - 0.5) * 0.1f;
}

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* ---- our kernels, on the pool ---- */

typedef struct {
    const tg_kmat *m;
    void *act;
    int64_t M, chunks;
    float *y;
    const float *x;
    int64_t prep_parts; /* as linear_kmat.c: the first chunks prepare act when > 1 */
    _Atomic int64_t prepped;
} mul_job;

static void mul_chunk(void *arg, int64_t c, int32_t worker)
{
    (void)worker;
    mul_job *j = arg;
    if (j->prep_parts > 1) {
        if (c < j->prep_parts) {
            tg__kmat_prepare_rows(j->m, j->x, j->M, j->m->K, j->act, j->M * c / j->prep_parts,
                                  j->M * (c + 1) / j->prep_parts);
            atomic_fetch_add_explicit(&j->prepped, 1, memory_order_release);
            return;
        }
        c -= j->prep_parts;
        tg__tpool_wait_count(&j->prepped, j->prep_parts);
    }
    const int64_t np = j->m->n_panels;
    tg__kmat_mul(j->m, j->act, j->M, NULL, j->y, j->m->N, np * c / j->chunks,
                 np * (c + 1) / j->chunks);
}

/* caller_prep: the activations prepared on the caller before the job (the library's way
 * before tg__kmat_prep_parts; --prep-ab). */
static void ours_product(tg_tpool *pool, const tg_kmat *m, const float *x, int64_t M, void *act,
                         float *y, int caller_prep)
{
    const int32_t threads = tg__tpool_size(pool);
    mul_job j = {m,
                 act,
                 M,
                 tg__kmat_chunks(m, M, threads),
                 y,
                 x,
                 caller_prep ? 1 : tg__kmat_prep_parts(m, M, threads),
                 0};
    if (j.prep_parts == 1)
        tg__kmat_prepare(m, x, M, m->K, act);
    tg__tpool_run(pool, (j.prep_parts > 1 ? j.prep_parts : 0) + j.chunks, mul_chunk, &j);
}

/* ---- oneDNN ---- */

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_memory_t w[N_MATS];
    dnnl_memory_desc_t wmd[N_SHAPES];
    dnnl_primitive_t prim[N_SHAPES][MAX_MS][MAX_T]; /* per shape, M index, thread index */
    float *scales[N_SHAPES];                        /* int8: per-column output scales */
} onednn;

static dnnl_data_type_t dn_src_dt(int prec)
{
    return prec == P_F32 ? dnnl_f32 : prec == P_BF16 ? dnnl_bf16 : dnnl_u8;
}
static dnnl_data_type_t dn_wei_dt(int prec)
{
    return prec == P_F32 ? dnnl_f32 : prec == P_BF16 ? dnnl_bf16 : dnnl_s8;
}

static dnnl_primitive_desc_t dn_pd(onednn *d, int prec, int s, int64_t M)
{
    dnnl_memory_desc_t src, wei, dst;
    dnnl_dims_t sd = {M, shape_k[s]}, wd = {shape_k[s], shape_n[s]}, dd = {M, shape_n[s]};
    DN(dnnl_memory_desc_init_by_tag(&src, 2, sd, dn_src_dt(prec), dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&wei, 2, wd, dn_wei_dt(prec), dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &src, &wei, NULL, &dst));
    dnnl_primitive_attr_t attr;
    DN(dnnl_primitive_attr_create(&attr));
    if (prec >= P_S8)
        DN(dnnl_primitive_attr_set_output_scales(attr, shape_n[s], 1 << 1, d->scales[s]));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &md, attr, d->eng, NULL));
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

static const char *dn_impl(dnnl_primitive_t p)
{
    const_dnnl_primitive_desc_t pd;
    const char *impl = "?";
    dnnl_primitive_get_primitive_desc(p, &pd);
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return impl;
}

/* Weights of matrix i (K x N floats, [K][N]) reordered into the primitive's layout. */
static void dn_weights(onednn *d, int prec, int i, const float *w)
{
    const int s = mat_shape(i);
    const int64_t K = shape_k[s], N = shape_n[s];
    dnnl_memory_desc_t src_md;
    dnnl_dims_t wd = {K, N};
    void *src = (void *)w;
    int8_t *q = NULL;
    if (prec >= P_S8) { /* per-column int8, as ours */
        q = malloc((size_t)(K * N));
        for (int64_t n = 0; n < N; n++) {
            float amax = 0;
            for (int64_t k = 0; k < K; k++)
                amax = fmaxf(amax, fabsf(w[k * N + n]));
            const float inv = amax > 0 ? 127.0f / amax : 0;
            for (int64_t k = 0; k < K; k++)
                q[k * N + n] = (int8_t)nearbyintf(w[k * N + n] * inv);
        }
        src = q;
    }
    DN(dnnl_memory_desc_init_by_tag(&src_md, 2, wd, prec >= P_S8 ? dnnl_s8 : dnnl_f32, dnnl_ab));
    dnnl_memory_t sm;
    DN(dnnl_memory_create(&sm, &src_md, d->eng, src));
    DN(dnnl_memory_create(&d->w[i], &d->wmd[s], d->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    DN(dnnl_reorder_primitive_desc_create(&rpd, &src_md, d->eng, &d->wmd[s], d->eng, NULL));
    DN(dnnl_primitive_create(&r, rpd));
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, sm}, {DNNL_ARG_TO, d->w[i]}};
    DN(dnnl_primitive_execute(r, d->st, 2, a));
    DN(dnnl_stream_wait(d->st));
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(sm);
    free(q);
}

/* The activation conversion the library does before a bf16 / int8 matmul. */
static void dn_convert(int prec, const float *x, int64_t n, void *out, float *scale)
{
    if (prec == P_BF16) {
        uint16_t *o = out;
        for (int64_t i = 0; i < n; i++) {
            uint32_t b;
            memcpy(&b, &x[i], 4);
            o[i] = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
        }
    } else if (prec >= P_S8) {
        float amax = 0;
        for (int64_t i = 0; i < n; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        const float inv = amax > 0 ? 127.0f / amax : 0;
        uint8_t *o = out;
        for (int64_t i = 0; i < n; i++)
            o[i] = (uint8_t)(128 + (int)nearbyintf(x[i] * inv));
        *scale = amax / 127.0f;
    }
}

static void dn_product(onednn *d, int prec, int i, int mi, int ti, int64_t M, const float *x,
                       void *xconv, float *y)
{
    const int s = mat_shape(i);
    float sc;
    const void *src = x;
    if (prec != P_F32) {
        dn_convert(prec, x, M * shape_k[s], xconv, &sc);
        src = xconv;
    }
    const_dnnl_primitive_desc_t pd;
    dnnl_primitive_get_primitive_desc(d->prim[s][mi][ti], &pd);
    dnnl_memory_t sm, dm;
    DN(dnnl_memory_create(&sm, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), d->eng,
                          (void *)src));
    DN(dnnl_memory_create(&dm, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), d->eng, y));
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, d->w[i]}, {DNNL_ARG_DST, dm}};
    DN(dnnl_primitive_execute(d->prim[s][mi][ti], d->st, 3, a));
    DN(dnnl_stream_wait(d->st));
    dnnl_memory_destroy(sm);
    dnnl_memory_destroy(dm);
}

/* ---- the benchmark ---- */

typedef struct {
    int reps, n_t, n_m, onednn, tune, hot, spin_us, streams, prefetch, gate, no_fallback, prep_ab;
    int threads[MAX_T];
    int64_t ms[MAX_MS];
    int prec_on[N_PREC];
} options;

static int parse_list(const char *s, int64_t *out, int max)
{
    int n = 0;
    for (char *p = (char *)s; *p && n < max;) {
        out[n++] = strtol(p, &p, 10);
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_kernels [--reps N] [--threads 1,2] [--m 1,8] "
            "[--prec f32,bf16,s8,u8s8,f32view,q8] [--no-onednn] [--tune] [--hot] [--streams S] "
            "[--prefetch BYTES] [--spin-us US] [--gate S] [--no-fallback] [--prep-ab]\n");
    exit(2);
}

static double bw_best_t[MAX_T + 1];

/* ---- --hot: kernel cost on the thread's CPU clock, matrix in cache ---- */

static double thread_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The core's clock in GHz: a chain of dependent 1-cycle adds (8 per iteration, so the loop's
 * own compare and branch run beside them), timed on the thread's CPU clock. */
static double core_ghz(void)
{
    const long iters = 20 * 1000 * 1000;
    double best = 0;
    for (int t = 0; t < 5; t++) {
        uint64_t v = 0;
        const double t0 = thread_now();
        for (long i = 0; i < iters; i++) {
#if defined(__x86_64__) && defined(__GNUC__)
            __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                             "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                             : "+r"(v));
#else
            v += 8;
#endif
        }
        const double g = (double)iters * 8 / (thread_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

static void run_hot(const options *o, int prec)
{
    const double ghz = core_ghz();
    const int64_t maxM = 8;
    printf("\n== %s hot: ours %s, one thread, matrix in cache, thread CPU clock; core clock %.2f "
           "GHz (dependent adds) ==\n",
           prec_name[prec], tg__kmat_kernel_name(prec_fmt[prec]), ghz);
    printf("per product, median of %d (each the mean of a batch of products): µs, cycles", o->reps);
    if (prec == P_Q8)
        printf(", VNNI bound cycles (M x 2 x Kp x 32 x panels / 64), cycles / bound");
    printf("; prepare = the activation conversion alone\n");
    double sum_t[MAX_MS] = {0}, sum_b[MAX_MS] = {0}, sum_p[MAX_MS] = {0};
    for (int s = 0; s < 4; s++) {
        const int64_t K = shape_k[s], N = shape_n[s];
        float *w = malloc(sizeof(float) * (size_t)(K * N));
        for (int64_t e = 0; e < K * N; e++)
            w[e] = frand();
        tg_kmat m;
        if ((prec == P_F32V ? tg__kmat_view_f32(&m, w, K, N, 0)
                            : tg__kmat_pack(&m, w, K, N, 0, prec_fmt[prec], NULL)) != TG_OK) {
            fprintf(stderr, "bench_kernels: packing failed\n");
            exit(1);
        }
        float *x = malloc(sizeof(float) * (size_t)(maxM * K));
        for (int64_t e = 0; e < maxM * K; e++)
            x[e] = 20.0f * frand();
        float *y = malloc(sizeof(float) * (size_t)(maxM * N));
        void *act = aligned_alloc(64, (tg__kmat_act_bytes(&m, maxM) + 63) / 64 * 64);
        /* a batch of products lasts about 2 ms at M = 1 */
        const int batch = (int)(2e-3 * ghz * 1e9 / (double)(m.n_panels * 32 * m.Kp / 8)) + 1;
        for (int mi = 0; mi < o->n_m; mi++) {
            const int64_t M = o->ms[mi];
            double tk[MAX_REPS], tp[MAX_REPS];
            tg__kmat_prepare(&m, x, M, K, act);
            for (int i = 0; i < batch; i++) /* warm: the matrix into the caches */
                tg__kmat_mul(&m, act, M, NULL, y, N, 0, m.n_panels);
            for (int r = 0; r < o->reps; r++) {
                double t0 = thread_now();
                for (int i = 0; i < batch; i++)
                    tg__kmat_prepare(&m, x, M, K, act);
                tp[r] = (thread_now() - t0) / batch;
                t0 = thread_now();
                for (int i = 0; i < batch; i++)
                    tg__kmat_mul(&m, act, M, NULL, y, N, 0, m.n_panels);
                tk[r] = (thread_now() - t0) / batch;
            }
            const double t = median(tk, o->reps), tpp = median(tp, o->reps);
            const double cyc = t * ghz * 1e9;
            const double bound = (double)M * 2 * (double)m.Kp * 32 * (double)m.n_panels / 64;
            sum_t[mi] += t;
            sum_b[mi] += bound;
            sum_p[mi] += tpp;
            printf("  %-18s M=%lld %9.2f µs %10.0f cycles", shape_name[s], (long long)M, t * 1e6,
                   cyc);
            if (prec == P_Q8)
                printf(" | bound %9.0f  x%.2f", bound, cyc / bound);
            printf(" | prepare %6.2f µs\n", tpp * 1e6);
        }
        tg__kmat_free(&m);
        free(w);
        free(x);
        free(y);
        free(act);
    }
    for (int mi = 0; mi < o->n_m; mi++) {
        printf("  one layer (4 shapes) M=%lld: %8.2f µs %10.0f cycles", (long long)o->ms[mi],
               sum_t[mi] * 1e6, sum_t[mi] * ghz * 1e9);
        if (prec == P_Q8)
            printf(" | bound %9.0f  x%.2f", sum_b[mi], sum_t[mi] * ghz * 1e9 / sum_b[mi]);
        printf(" | prepare %6.2f µs", sum_p[mi] * 1e6);
        if (mi > 0)
            printf(" | M=%lld / M=%lld: x%.2f of the time", (long long)o->ms[mi],
                   (long long)o->ms[0], sum_t[mi] / sum_t[0]);
        printf("\n");
    }
}

static void run_precision(const options *o, int prec, tg_tpool **pools, const void *bwbuf,
                          size_t bwbytes)
{
    /* pack our 49 matrices and, if asked, oneDNN's */
    static tg_kmat km[N_MATS];
    static float *viewed[N_MATS];
    onednn d = {0};
    const int use_dn = o->onednn && !o->tune && !o->prep_ab && prec != P_F32V;
    const int two = use_dn || o->prep_ab; /* a second engine: oneDNN, or ours prepared apart */
    const char *second = use_dn ? "oneDNN" : "caller-prep";
    if (use_dn) {
        DN(dnnl_engine_create(&d.eng, dnnl_cpu, 0));
        DN(dnnl_stream_create(&d.st, d.eng, dnnl_stream_default_flags));
        for (int s = 0; s < N_SHAPES; s++) {
            d.scales[s] = malloc(sizeof(float) * (size_t)shape_n[s]);
            for (int64_t n = 0; n < shape_n[s]; n++)
                d.scales[s][n] = 1e-3f;
            for (int mi = 0; mi < o->n_m; mi++)
                for (int ti = 0; ti < o->n_t; ti++) {
                    omp_set_num_threads(o->threads[ti]); /* fixed at primitive creation */
                    dnnl_primitive_desc_t pd = dn_pd(&d, prec, s, o->ms[mi]);
                    const dnnl_memory_desc_t *w =
                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
                    if (mi == 0 && ti == 0)
                        d.wmd[s] = *w;
                    else if (!dnnl_memory_desc_equal(w, &d.wmd[s]))
                        fprintf(stderr,
                                "bench_kernels: warning: oneDNN wants another weight "
                                "layout for %s M=%lld\n",
                                shape_name[s], (long long)o->ms[mi]);
                    DN(dnnl_primitive_create(&d.prim[s][mi][ti], pd));
                    dnnl_primitive_desc_destroy(pd);
                }
        }
    }
    size_t ours_bytes[N_SHAPES] = {0}, dn_bytes[N_SHAPES] = {0};
    tg_tpool *pool_pack = pools[o->n_t - 1];
    for (int i = 0; i < N_MATS; i++) {
        const int s = mat_shape(i);
        const int64_t K = shape_k[s], N = shape_n[s];
        float *w = malloc(sizeof(float) * (size_t)(K * N));
        for (int64_t e = 0; e < K * N; e++)
            w[e] = frand();
        const int nk = prec == P_F32V && s == 4; /* the tied output layer is [N][K] */
        if ((prec == P_F32V
                 ? tg__kmat_view_f32(&km[i], w, K, N, nk)
                 : tg__kmat_pack(&km[i], w, K, N, 0, prec_fmt[prec], pool_pack)) != TG_OK) {
            fprintf(stderr, "bench_kernels: packing failed\n");
            exit(1);
        }
        ours_bytes[s] = km[i].bytes;
        if (use_dn) {
            dn_weights(&d, prec, i, w);
            dn_bytes[s] = dnnl_memory_desc_get_size(&d.wmd[s]);
        }
        if (prec == P_F32V)
            viewed[i] = w; /* the view reads it: freed at the end */
        else
            free(w);
    }
    tg__panel_mem_settle(); /* time the panels on the pages decode reads them from */
    const int64_t maxM = 8, maxK = 3072, maxN = 50257;
    float *x = malloc(sizeof(float) * (size_t)(maxM * maxK));
    for (int64_t e = 0; e < maxM * maxK; e++)
        x[e] = 20.0f * frand();
    float *y = malloc(sizeof(float) * (size_t)(maxM * maxN));
    void *act = aligned_alloc(64, 64 + sizeof(float) * (size_t)(maxM * maxK));
    void *xconv = malloc(sizeof(float) * (size_t)(maxM * maxK));

    printf("\n== %s: ours %s%s", prec_name[prec], tg__kmat_kernel_name(prec_fmt[prec]),
           prec == P_F32V ? " (blocks [K][N], output layer [N][K], in place)" : "");
    if (use_dn) {
        printf("; oneDNN");
        for (int s = 0; s < N_SHAPES; s++)
            printf(" %s%s", s ? "/ " : "", dn_impl(d.prim[s][0][0]));
    }
    printf(" ==\n");

    if (o->tune) {
        static const int streams[] = {1, 2, 4}, pfs[] = {0, 512, 2048};
        printf("M=1, whole token sweep, weight GB/s median of %d (efficiency vs best bandwidth at "
               "that thread count)\n",
               o->reps);
        printf("%-22s", "streams x prefetch");
        for (int ti = 0; ti < o->n_t; ti++)
            printf("| %d thread%s        ", o->threads[ti], o->threads[ti] > 1 ? "s" : " ");
        printf("\n");
        for (int si = 0; si < 3; si++)
            for (int pi = 0; pi < 3; pi++) {
                tg__kmat_set_tuning(streams[si], pfs[pi]);
                const double quiet = o->gate > 0 ? bench_wait_quiet(o->gate) : -1;
                printf("%d x %-18d", streams[si], pfs[pi]);
                for (int ti = 0; ti < o->n_t; ti++) {
                    double gbs[MAX_REPS];
                    for (int r = 0; r < o->reps; r++) {
                        double bytes = 0;
                        const double t0 = bw_now();
                        for (int i = 0; i < N_MATS; i++) {
                            ours_product(pools[ti], &km[i], x, 1, act, y, 0);
                            bytes += (double)km[i].bytes;
                        }
                        gbs[r] = bytes / (bw_now() - t0) / 1e9;
                    }
                    const double g = median(gbs, o->reps);
                    printf("| %6.2f (%5.3f)    ", g, g / bw_best_t[o->threads[ti]]);
                }
                if (quiet >= 0)
                    printf("| busy before: %.2f CPUs", quiet);
                printf("\n");
            }
        tg__kmat_set_tuning(o->streams, o->prefetch);
    } else {
        /* t[engine][ti][mi][shape][rep]: summed product time of that shape in the sweep */
        static double t[2][MAX_T][MAX_MS][N_SHAPES][MAX_REPS];
        static double tot[2][MAX_T][MAX_MS][MAX_REPS];
        memset(t, 0, sizeof t);
        memset(tot, 0, sizeof tot);
        for (int warm = 0; warm < 1; warm++) /* warm-up: first-touch of buffers, thread start */
            for (int ti = 0; ti < o->n_t; ti++)
                for (int i = 0; i < N_MATS; i++) {
                    ours_product(pools[ti], &km[i], x, 1, act, y, 0);
                    if (use_dn) {
                        omp_set_num_threads(o->threads[ti]);
                        dn_product(&d, prec, i, 0, ti, o->ms[0], x, xconv, y);
                    }
                }
        double others[MAX_REPS];
        for (int r = 0; r < o->reps; r++) {
            others[r] = o->gate > 0 ? bench_wait_quiet(o->gate) : -1;
            for (int tk = 0; tk < o->n_t; tk++) {
                const int ti = r % 2 ? o->n_t - 1 - tk : tk;
                const double bw = bw_best(bwbuf, bwbytes, o->threads[ti]);
                if (bw > bw_best_t[o->threads[ti]])
                    bw_best_t[o->threads[ti]] = bw;
                omp_set_num_threads(o->threads[ti]);
                for (int ek = 0; ek < 1 + two; ek++) {
                    const int e = (r + tk) % 2 && two ? 1 - ek : ek;
                    for (int mi = 0; mi < o->n_m; mi++) {
                        const double t0 = bw_now();
                        for (int i = 0; i < N_MATS; i++) {
                            const double a = bw_now();
                            if (e == 0 || !use_dn)
                                ours_product(pools[ti], &km[i], x, o->ms[mi], act, y, e);
                            else
                                dn_product(&d, prec, i, mi, ti, o->ms[mi], x, xconv, y);
                            t[e][ti][mi][mat_shape(i)][r] += bw_now() - a;
                        }
                        tot[e][ti][mi][r] = bw_now() - t0;
                    }
                }
            }
            fprintf(stderr, "bench_kernels: %s repetition %d/%d\n", prec_name[prec], r + 1,
                    o->reps);
        }
        if (o->gate > 0) {
            printf("CPUs busy just before each repetition (waited up to %d s for < 0.2):", o->gate);
            for (int r = 0; r < o->reps; r++)
                printf(" %.2f", others[r]);
            printf("\n");
        }
        printf("best read bandwidth so far:");
        for (int ti = 0; ti < o->n_t; ti++)
            printf(" %d thread%s %.2f GB/s;", o->threads[ti], o->threads[ti] > 1 ? "s" : "",
                   bw_best_t[o->threads[ti]]);
        printf("\nper product: µs (weight GB/s, efficiency = GB/s / bandwidth), median of %d\n",
               o->reps);
        for (int ti = 0; ti < o->n_t; ti++)
            for (int mi = 0; mi < o->n_m; mi++) {
                const double bw = bw_best_t[o->threads[ti]];
                printf("-- %d thread%s, M=%lld --\n", o->threads[ti], o->threads[ti] > 1 ? "s" : "",
                       (long long)o->ms[mi]);
                for (int s = 0; s <= N_SHAPES; s++) {
                    printf("  %-18s", s < N_SHAPES ? shape_name[s] : "whole token");
                    for (int e = 0; e < 1 + two; e++) {
                        const int cnt = s == 4 ? 1 : s < N_SHAPES ? N_LAYERS : 1;
                        double bytes = 0;
                        if (s < N_SHAPES)
                            bytes = (double)(e && use_dn ? dn_bytes[s] : ours_bytes[s]);
                        else
                            for (int k = 0; k < N_SHAPES; k++)
                                bytes += (double)(e && use_dn ? dn_bytes[k] : ours_bytes[k]) *
                                         (k == 4 ? 1 : N_LAYERS);
                        const double sec = (s < N_SHAPES ? median(t[e][ti][mi][s], o->reps)
                                                         : median(tot[e][ti][mi], o->reps)) /
                                           cnt;
                        const double gbs = bytes / sec / 1e9;
                        printf(" | %s %8.1f µs %6.2f GB/s %5.3f", e ? second : "ours  ", sec * 1e6,
                               gbs, gbs / bw);
                    }
                    if (two) {
                        const double a = s < N_SHAPES ? median(t[0][ti][mi][s], o->reps)
                                                      : median(tot[0][ti][mi], o->reps);
                        const double b = s < N_SHAPES ? median(t[1][ti][mi][s], o->reps)
                                                      : median(tot[1][ti][mi], o->reps);
                        printf(" | %s/ours x%.2f", second, b / a);
                    }
                    printf("\n");
                }
            }
        if (o->n_m > 1) {
            printf("M=%lld vs M=%lld, whole token, ours:", (long long)o->ms[o->n_m - 1],
                   (long long)o->ms[0]);
            for (int ti = 0; ti < o->n_t; ti++)
                printf(" %d thread%s x%.2f of the time;", o->threads[ti],
                       o->threads[ti] > 1 ? "s" : "",
                       median(tot[0][ti][o->n_m - 1], o->reps) / median(tot[0][ti][0], o->reps));
            printf("\n");
        }
    }
    for (int i = 0; i < N_MATS; i++) {
        tg__kmat_free(&km[i]);
        free(viewed[i]);
        viewed[i] = NULL;
        if (use_dn)
            dnnl_memory_destroy(d.w[i]);
    }
    if (use_dn) {
        for (int s = 0; s < N_SHAPES; s++) {
            for (int mi = 0; mi < o->n_m; mi++)
                for (int ti = 0; ti < o->n_t; ti++)
                    dnnl_primitive_destroy(d.prim[s][mi][ti]);
            free(d.scales[s]);
        }
        dnnl_stream_destroy(d.st);
        dnnl_engine_destroy(d.eng);
    }
    free(x);
    free(y);
    free(act);
    free(xconv);
}

int main(int argc, char **argv)
{
    options o = {.reps = 7,
                 .n_t = 2,
                 .n_m = 2,
                 .onednn = 1,
                 .spin_us = 100,
                 .streams = 4,
                 .prefetch = -1, /* the library's per-format default */
                 .threads = {1, 2},
                 .ms = {1, 8},
                 .prec_on = {1, 1, 1, 1, 1}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        int64_t l[8];
        if (strcmp(a, "--reps") == 0 && more)
            o.reps = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && more) {
            o.n_t = parse_list(argv[++i], l, MAX_T);
            for (int k = 0; k < o.n_t; k++)
                o.threads[k] = (int)l[k];
        } else if (strcmp(a, "--m") == 0 && more)
            o.n_m = parse_list(argv[++i], o.ms, MAX_MS);
        else if (strcmp(a, "--prec") == 0 && more) {
            memset(o.prec_on, 0, sizeof o.prec_on);
            for (int p = 0; p < N_PREC; p++) { /* whole items of the comma-separated list */
                char list[256];
                snprintf(list, sizeof list, ",%s,", argv[i + 1]);
                char item[32];
                snprintf(item, sizeof item, ",%s,", prec_name[p]);
                o.prec_on[p] = strstr(list, item) != NULL;
            }
            i++;
        } else if (strcmp(a, "--no-onednn") == 0)
            o.onednn = 0;
        else if (strcmp(a, "--tune") == 0)
            o.tune = 1;
        else if (strcmp(a, "--hot") == 0)
            o.hot = 1;
        else if (strcmp(a, "--no-fallback") == 0)
            o.no_fallback = 1;
        else if (strcmp(a, "--prep-ab") == 0)
            o.prep_ab = 1;
        else if (strcmp(a, "--streams") == 0 && more)
            o.streams = atoi(argv[++i]);
        else if (strcmp(a, "--prefetch") == 0 && more)
            o.prefetch = atoi(argv[++i]);
        else if (strcmp(a, "--spin-us") == 0 && more)
            o.spin_us = atoi(argv[++i]);
        else if (strcmp(a, "--gate") == 0 && more)
            o.gate = atoi(argv[++i]);
        else
            usage();
    }
    if (o.reps < 1 || o.reps > MAX_REPS || o.n_t < 1 || o.n_m < 1)
        usage();
    for (int k = 0; k < o.n_t; k++)
        if (o.threads[k] < 1 || o.threads[k] > MAX_T)
            usage();
    for (int k = 0; k < o.n_m; k++)
        if (o.ms[k] < 1 || o.ms[k] > 8)
            usage();
    tg__kmat_set_tuning(o.streams, o.prefetch);
    setvbuf(stdout, NULL, _IOLBF, 0);
    tg_tpool *pools[MAX_T];
    for (int k = 0; k < o.n_t; k++)
        if (tg__tpool_create(&pools[k], o.threads[k], o.spin_us) != TG_OK)
            return 1;
        else if (o.no_fallback)
            tg__tpool_set_fallback(pools[k], 0);
    const size_t bwbytes = (size_t)1 << 30;
    void *bwbuf = o.hot ? NULL : bw_buffer(bwbytes); /* --hot reads no memory bandwidth */
    if (!o.hot && !bwbuf)
        return 1;
    FILE *la = fopen("/proc/loadavg", "r");
    char load[128] = "?";
    if (la) {
        if (!fgets(load, sizeof load, la))
            load[0] = 0;
        fclose(la);
    }
    printf("bench_kernels: kernel level %d, streams %d, prefetch %d B, pool spin %d µs; "
           "loadavg %s",
           tg__kmat_isa(), o.streams, o.prefetch, o.spin_us, load);
    for (int k = 0; k < o.n_t && !o.hot; k++)
        bw_best_t[o.threads[k]] = bw_best(bwbuf, bwbytes, o.threads[k]);
    for (int p = 0; p < N_PREC; p++)
        if (o.prec_on[p]) {
            if (o.hot)
                run_hot(&o, p);
            else
                run_precision(&o, p, pools, bwbuf, bwbytes);
        }
    /* Whether the pools shared their jobs: with another process busy, the pool's fallback runs
     * them on the caller alone, and a "2 threads" figure then measures one. */
    for (int k = 0; k < o.n_t; k++) {
        int64_t par, solo, stalls, busy;
        double delay_us;
        tg__tpool_stats(pools[k], &par, &solo);
        tg__tpool_signals(pools[k], &stalls, &busy, &delay_us);
        if (o.threads[k] > 1 && !o.hot)
            printf("pool of %d threads: %lld jobs shared out, %lld on the caller alone (stalls "
                   "%lld, busy windows %lld)\n",
                   o.threads[k], (long long)par, (long long)solo, (long long)stalls,
                   (long long)busy);
        tg__tpool_free(pools[k]);
    }
    free(bwbuf);
    return 0;
}
