/* bench_stream.c — how fast can ONE core read memory on this machine, and in which pattern?
 * Not a test. The question behind it (issue 12, goal 2): bf16 decode at 1 thread streams its
 * weights at ~22 GB/s; beating llama.cpp's f16 by x1.3 would need ~25 GB/s from one core.
 *
 * Usage: bench_stream [--mb 256] [--passes 7] [--streams 1,2,4,8,16] [--pf
 * 0,256,512,1024,2048,4096]
 *                     [--hints t0,t1,t2,nta] [--widths 256,512] [--pages 4k,huge] [--no-kernel]
 *                     [--populate]
 *
 * One buffer of --mb MiB per page kind, populated (written) before any timing:
 *   4k    mmap + MADV_NOHUGEPAGE: 4 KiB pages (a 247 MB model is 60k of them);
 *   huge  mmap aligned to 2 MiB + MADV_HUGEPAGE: transparent huge pages where the kernel has them
 *         (the share it got is printed: AnonHugePages of the buffer from /proc/self/smaps).
 * The pages are faulted in by the first write, page by page, or with --populate by one
 * madvise(MADV_POPULATE_WRITE) first, as the library allocates its panels.
 * A read variant sums the whole buffer on the calling thread (nothing else runs in this process):
 *   streams S  the buffer is cut into S equal contiguous parts read side by side, 128 bytes of
 *              each part per loop step (as the bf16 kernel reads S panel runs, 128 B per k-pair);
 *   width      2 x 512-bit or 4 x 256-bit loads per 128 bytes;
 *   prefetch   none, or a software prefetch (prefetcht0/t1/t2/nta) of both cache lines `pf`
 *              bytes ahead in every stream.
 * Unless --no-kernel, the library's bf16 kernel (lib/backend/kernels, M = 1, the one decode
 * runs) also reads the same buffers as a K = 768 bf16 matrix, at its tunings (streams 1/2/4 x
 * prefetch): the kernel against the best plain read, on the same pages in the same minute.
 * Passes are interleaved (pass 1 of every variant, then pass 2, ...) so drift in what the rest
 * of the machine does hits all variants alike. Printed per variant: median GB/s (1e9 B/s) over
 * the passes [min-max], the share of wall time the thread got the CPU (thread CPU clock; on a
 * shared machine other sessions' autogroups take CPU time whatever their nice level), and the
 * median of GB/s per second of that CPU time (what the pattern gives while it runs). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kmat.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx2")))
#define ALWAYS static inline __attribute__((always_inline))

enum { H_NONE, H_T0, H_T1, H_T2, H_NTA, N_HINTS };
static const char *const hint_name[N_HINTS] = {"none", "t0", "t1", "t2", "nta"};

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ALWAYS TGT void pf_line(const uint8_t *p, const int H)
{
    switch (H) {
    case H_T0:
        _mm_prefetch((const char *)p, _MM_HINT_T0);
        break;
    case H_T1:
        _mm_prefetch((const char *)p, _MM_HINT_T1);
        break;
    case H_T2:
        _mm_prefetch((const char *)p, _MM_HINT_T2);
        break;
    case H_NTA:
        _mm_prefetch((const char *)p, _MM_HINT_NTA);
        break;
    default:
        break;
    }
}

/* Sum `per` bytes (a multiple of 128) of each of S streams starting `per` apart. */
ALWAYS TGT uint64_t read_body(const uint8_t *buf, size_t per, size_t pf, const int S, const int W,
                              const int H)
{
    const uint8_t *b[16];
    for (int s = 0; s < S; s++)
        b[s] = buf + (size_t)s * per;
    __m512i z0 = _mm512_setzero_si512(), z1 = z0;
    __m256i y0 = _mm256_setzero_si256(), y1 = y0, y2 = y0, y3 = y0;
    for (size_t i = 0; i < per; i += 128) {
#pragma GCC unroll 16
        for (int s = 0; s < S; s++) {
            const uint8_t *q = b[s] + i;
            if (H != H_NONE) {
                pf_line(q + pf, H);
                pf_line(q + pf + 64, H);
            }
            if (W == 512) {
                z0 = _mm512_add_epi64(z0, _mm512_load_si512((const void *)q));
                z1 = _mm512_add_epi64(z1, _mm512_load_si512((const void *)(q + 64)));
            } else {
                y0 = _mm256_add_epi64(y0, _mm256_load_si256((const __m256i *)q));
                y1 = _mm256_add_epi64(y1, _mm256_load_si256((const __m256i *)(q + 32)));
                y2 = _mm256_add_epi64(y2, _mm256_load_si256((const __m256i *)(q + 64)));
                y3 = _mm256_add_epi64(y3, _mm256_load_si256((const __m256i *)(q + 96)));
            }
        }
    }
    y0 = _mm256_add_epi64(_mm256_add_epi64(y0, y1), _mm256_add_epi64(y2, y3));
    z0 = _mm512_add_epi64(_mm512_add_epi64(z0, z1), _mm512_castsi256_si512(y0));
    return (uint64_t)_mm512_reduce_add_epi64(z0);
}

typedef uint64_t (*read_fn)(const uint8_t *, size_t, size_t);

#define INST(S, W, H)                                                                              \
    TGT static uint64_t rd_##S##_##W##_##H(const uint8_t *b, size_t per, size_t pf)                \
    {                                                                                              \
        return read_body(b, per, pf, S, W, H);                                                     \
    }
#define INST_H(S, W) INST(S, W, 0) INST(S, W, 1) INST(S, W, 2) INST(S, W, 3) INST(S, W, 4)
#define INST_W(S) INST_H(S, 256) INST_H(S, 512)
INST_W(1)
INST_W(2)
INST_W(4)
INST_W(8)
INST_W(16)

#define ROW_H(S, W)                                                                                \
    {                                                                                              \
        rd_##S##_##W##_0, rd_##S##_##W##_1, rd_##S##_##W##_2, rd_##S##_##W##_3, rd_##S##_##W##_4   \
    }
#define ROW_W(S)                                                                                   \
    {                                                                                              \
        ROW_H(S, 256), ROW_H(S, 512)                                                               \
    }
#define N_SCOUNTS 5
static const int stream_counts[N_SCOUNTS] = {1, 2, 4, 8, 16};
static const read_fn readers[N_SCOUNTS][2][N_HINTS] = {ROW_W(1), ROW_W(2), ROW_W(4), ROW_W(8),
                                                       ROW_W(16)};

static volatile uint64_t sink;

/* ---- buffers ---- */

typedef struct {
    const char *name;
    uint8_t *p;
    size_t bytes;
    size_t huge_kb; /* AnonHugePages of the mapping */
} buffer;

/* AnonHugePages (kB) of the mapping that starts at p, from /proc/self/smaps. */
static size_t huge_kb_of(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    int in = 0;
    size_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
            strchr(line, '-') == line + strspn(line, "0123456789abcdef"))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
            break;
    }
    fclose(f);
    return in ? kb : 0;
}

static int g_populate; /* --populate: fault the pages in with one madvise, as the library does */

/* bytes of memory, 2 MiB aligned, with 4 KiB or transparent huge pages, written once (bf16
 * values of small magnitude, so that the kernel variant computes on ordinary numbers). */
static int buffer_make(buffer *b, const char *name, size_t bytes, int huge)
{
    const size_t align = (size_t)2 << 20;
    uint8_t *raw =
        mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        perror("bench_stream: mmap");
        return -1;
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        perror("bench_stream: madvise");
    const double t0 = now_s(CLOCK_MONOTONIC);
    if (g_populate && madvise(p, bytes, MADV_POPULATE_WRITE) != 0)
        perror("bench_stream: madvise(MADV_POPULATE_WRITE)");
    uint16_t *h = (uint16_t *)p;
    for (size_t i = 0; i < bytes / 2; i++)
        h[i] = (uint16_t)(0x3c00u + (uint16_t)((i * 2654435761u) >> 22)); /* ~[0.0078, 0.03] */
    b->name = name;
    b->p = p;
    b->bytes = bytes;
    b->huge_kb = huge_kb_of(p);
    fprintf(stderr, "# buffer %-4s %zu MiB populated in %.0f ms, AnonHugePages %zu kB (%.0f %%)\n",
            name, bytes >> 20, 1e3 * (now_s(CLOCK_MONOTONIC) - t0), b->huge_kb,
            100.0 * (double)b->huge_kb * 1024.0 / (double)bytes);
    return 0;
}

/* ---- variants ---- */

typedef struct {
    int page;           /* buffer index */
    int kernel;         /* 0: plain read, 1: the library's bf16 M = 1 kernel */
    int streams, width; /* width: 256 or 512 (reads) */
    int hint, pf;
    double gbs[64], cpu_share[64], gbs_cpu[64];
} variant;

static double run_variant(const variant *v, const buffer *b, double *cpu_share)
{
    const double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), t0 = now_s(CLOCK_MONOTONIC);
    size_t bytes;
    if (!v->kernel) {
        int si = 0;
        while (stream_counts[si] != v->streams)
            si++;
        const size_t per = b->bytes / (size_t)v->streams / 128 * 128;
        sink += readers[si][v->width == 512][v->hint](b->p, per, (size_t)v->pf);
        bytes = per * (size_t)v->streams;
    } else {
        static float y[1 << 20]; /* N of a 1024 MiB matrix: 699,040 columns */
        static uint16_t act[768] __attribute__((aligned(64)));
        for (int k = 0; k < 768; k++)
            act[k] = 0x3f80; /* 1.0 */
        tg_kmat m = {
            .fmt = TG_KFMT_BF16, .K = 768, .Kp = 768, .panel_bytes = 768 * 32 * 2, .data = b->p};
        m.n_panels = (int64_t)(b->bytes / m.panel_bytes);
        m.N = m.n_panels * TG_KPANEL;
        tg__kmat_set_tuning(v->streams, v->pf);
        tg__kmat_mul(&m, act, 1, NULL, y, m.N, 0, m.n_panels);
        sink += (uint64_t)y[m.N - 1];
        bytes = (size_t)m.n_panels * m.panel_bytes;
    }
    const double dt = now_s(CLOCK_MONOTONIC) - t0;
    *cpu_share = (now_s(CLOCK_THREAD_CPUTIME_ID) - c0) / dt;
    return (double)bytes / dt / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n, double *lo, double *hi)
{
    double s[64];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    *lo = s[0];
    *hi = s[n - 1];
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* A comma list of integers (or names, matched against `names`) into out[]; returns the count. */
static int parse_list(const char *arg, int *out, int max, const char *const *names, int n_names)
{
    int n = 0;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", arg);
    for (char *sv = NULL, *t = strtok_r(tmp, ",", &sv); t && n < max;
         t = strtok_r(NULL, ",", &sv)) {
        if (names) {
            int k = 0;
            while (k < n_names && strcmp(names[k], t) != 0)
                k++;
            if (k == n_names) {
                fprintf(stderr, "bench_stream: unknown name '%s' in '%s'\n", t, arg);
                exit(2);
            }
            out[n++] = k;
        } else {
            char *end;
            const long v = strtol(t, &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "bench_stream: '%s' in '%s' is not a count\n", t, arg);
                exit(2);
            }
            out[n++] = (int)v;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    int mb = 256, passes = 7, kernel = 1;
    int sc[N_SCOUNTS] = {1, 2, 4, 8, 16}, n_sc = 5;
    int pfs[16] = {0, 256, 512, 1024, 2048, 4096}, n_pf = 6;
    int hints[4] = {H_T0, H_T1, H_T2, H_NTA}, n_hints = 4;
    int widths[2] = {256, 512}, n_w = 2;
    static const char *const page_names[2] = {"4k", "huge"};
    int pages[2] = {0, 1}, n_pages = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-kernel")) {
            kernel = 0;
            continue;
        }
        if (!strcmp(a, "--populate")) {
            g_populate = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_stream: unknown or incomplete argument '%s' (see the header)\n",
                    a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--mb"))
            mb = atoi(v);
        else if (!strcmp(a, "--passes"))
            passes = atoi(v);
        else if (!strcmp(a, "--streams"))
            n_sc = parse_list(v, sc, N_SCOUNTS, NULL, 0);
        else if (!strcmp(a, "--pf"))
            n_pf = parse_list(v, pfs, 16, NULL, 0);
        else if (!strcmp(a, "--hints"))
            n_hints = parse_list(v, hints, 4, hint_name, N_HINTS);
        else if (!strcmp(a, "--widths"))
            n_w = parse_list(v, widths, 2, NULL, 0);
        else if (!strcmp(a, "--pages"))
            n_pages = parse_list(v, pages, 2, page_names, 2);
        else {
            fprintf(stderr, "bench_stream: unknown argument '%s' (see the header)\n", a);
            return 2;
        }
    }
    if (mb < 64 || mb > 1024 || passes < 1 || passes > 64) {
        fprintf(stderr, "bench_stream: --mb must be 64..1024 and --passes 1..64\n");
        return 2;
    }
    for (int i = 0; i < n_sc; i++)
        if (sc[i] != 1 && sc[i] != 2 && sc[i] != 4 && sc[i] != 8 && sc[i] != 16) {
            fprintf(stderr, "bench_stream: --streams takes 1, 2, 4, 8, 16 (not %d)\n", sc[i]);
            return 2;
        }
    for (int i = 0; i < n_w; i++)
        if (widths[i] != 256 && widths[i] != 512) {
            fprintf(stderr, "bench_stream: --widths takes 256, 512 (not %d)\n", widths[i]);
            return 2;
        }
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) {
        fprintf(stderr, "bench_stream: needs AVX-512 (F, BW)\n");
        return 2;
    }

    buffer bufs[2];
    for (int i = 0; i < n_pages; i++)
        if (buffer_make(&bufs[i], page_names[pages[i]], (size_t)mb << 20, pages[i]) != 0)
            return 1;

    /* Every variant: pages x (reads: streams x width x (none + pf x hints); kernel: 1/2/4 x pf). */
    const int max_v = 2 * (N_SCOUNTS * 2 * (1 + 16 * 4) + 3 * 16);
    variant *vs = calloc((size_t)max_v, sizeof *vs);
    int nv = 0;
    for (int pg = 0; pg < n_pages; pg++) {
        for (int s = 0; s < n_sc; s++)
            for (int w = 0; w < n_w; w++)
                for (int d = 0; d < n_pf; d++)
                    for (int h = 0; h < (pfs[d] ? n_hints : 1); h++)
                        vs[nv++] = (variant){.page = pg,
                                             .streams = sc[s],
                                             .width = widths[w],
                                             .hint = pfs[d] ? hints[h] : H_NONE,
                                             .pf = pfs[d]};
        if (kernel)
            for (int s = 1; s <= 4; s *= 2)
                for (int d = 0; d < n_pf; d++)
                    vs[nv++] = (variant){.page = pg,
                                         .kernel = 1,
                                         .streams = s,
                                         .width = 512,
                                         .hint = pfs[d] ? H_T0 : H_NONE,
                                         .pf = pfs[d]};
    }
    fprintf(stderr, "# %d variants x %d passes of %d MiB, 1 thread; bf16 kernel: %s\n", nv, passes,
            mb, tg__kmat_kernel_name(TG_KFMT_BF16));
    for (int v = 0; v < nv; v++) /* warm-up: code, TLB structures, frequency */
        run_variant(&vs[v], &bufs[vs[v].page], &vs[v].cpu_share[0]);
    for (int p = 0; p < passes; p++)
        for (int v = 0; v < nv; v++) {
            const int vi = p % 2 ? nv - 1 - v : v; /* alternate the order between passes */
            vs[vi].gbs[p] = run_variant(&vs[vi], &bufs[vs[vi].page], &vs[vi].cpu_share[p]);
            vs[vi].gbs_cpu[p] = vs[vi].gbs[p] / vs[vi].cpu_share[p];
        }

    printf("pages\twhat\tstreams\twidth\tprefetch\thint\tGB/s median\tmin\tmax\tcpu share"
           "\tGB/s per CPU s\n");
    for (int v = 0; v < nv; v++) {
        double lo, hi, clo, chi;
        const double m = median(vs[v].gbs, passes, &lo, &hi);
        const double c = median(vs[v].cpu_share, passes, &clo, &chi);
        const double mc = median(vs[v].gbs_cpu, passes, &clo, &chi);
        printf("%s\t%s\t%d\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", bufs[vs[v].page].name,
               vs[v].kernel ? "kernel" : "read", vs[v].streams, vs[v].width, vs[v].pf,
               hint_name[vs[v].hint], m, lo, hi, c, mc);
    }
    free(vs);
    return 0;
}
