/* bench_startup.c — the pieces a model load is made of, timed alone on the bench model's file,
 * to plan a load under 0.5 s (docs/performance.md, "Fast start"). Not a test.
 *
 * Usage: bench_startup MODEL_DIR [--reps N]
 *
 * With the file in the page cache (it is read once first), median over repetitions, ms:
 *   map+touch     mmap the safetensors file and read one byte per 4 KiB page (the minor page
 *                 faults that the first pass over a mapped file pays), and the same with
 *                 MAP_POPULATE (the kernel maps every page in one call)
 *   anon write    write every byte of a fresh 494 MB allocation (page faults + the kernel's
 *                 zeroing), 4 KiB pages and with MADV_HUGEPAGE
 *   read mapped   sum the mapped file once more (pages already mapped): pure read bandwidth
 *   f32->bf16     convert the file's floats to bf16 into a fresh buffer
 *   pack f32/bf16 tg__kmat_pack of every matrix (the kernels' panels), 1 and 2 threads
 * These bound what a loader that uses the mapped f32 weights in place, or converts them once,
 * can reach. */
#include "bw_probe.h"
#include "kmat.h"
#include "tpool.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPS 32

static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static volatile uint64_t sink;

static const void *map_file(int fd, size_t len, int populate)
{
    const void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_startup MODEL_DIR [--reps N]\n");
        return 2;
    }
    int reps = 5;
    if (argc >= 4 && strcmp(argv[2], "--reps") == 0)
        reps = atoi(argv[3]);
    if (reps < 1 || reps > MAX_REPS)
        return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
    const int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "bench_startup: cannot open %s\n", path);
        return 1;
    }
    const size_t len = (size_t)st.st_size;
    { /* bring the file into the page cache */
        const uint8_t *p = map_file(fd, len, 1);
        uint64_t s = 0;
        for (size_t i = 0; i < len; i += 4096)
            s += p[i];
        sink += s;
        munmap((void *)p, len);
    }
    double t_touch[MAX_REPS], t_pop[MAX_REPS], t_anon[MAX_REPS], t_huge[MAX_REPS], t_read[MAX_REPS],
        t_bf16[MAX_REPS], t_pack32[MAX_REPS], t_pack16[MAX_REPS];
    double t_pack32_2[MAX_REPS], t_pack16_2[MAX_REPS];
    tg_tpool *pool2;
    if (tg__tpool_create(&pool2, 2, 50) != TG_OK)
        return 1;
    /* the matrices of GPT-2 124M as [K][N] float views of the first bytes of the file's data
     * (values do not matter for speed; offsets stay inside the file) */
    static const int64_t mk[5] = {768, 768, 768, 3072, 768}, mn[5] = {2304, 768, 3072, 768, 50257};
    for (int r = 0; r < reps; r++) {
        double t0 = bw_now();
        const uint8_t *p = map_file(fd, len, 0);
        uint64_t s = 0;
        for (size_t i = 0; i < len; i += 4096)
            s += p[i];
        t_touch[r] = bw_now() - t0;
        t0 = bw_now();
        const size_t nv = len / 64;
        bw_v8u64 acc = {0};
        for (size_t i = 0; i < nv; i++)
            acc += ((const bw_v8u64 *)p)[i];
        t_read[r] = bw_now() - t0;
        for (int k = 0; k < 8; k++)
            s += acc[k];
        /* f32 -> bf16 into fresh memory (what a bf16 load must do at least once) */
        const size_t nf = (len - 4096) / 4;
        t0 = bw_now();
        uint16_t *b = malloc(nf * 2);
        const float *f = (const float *)(p + 4096);
        for (size_t i = 0; i < nf; i++) {
            uint32_t u;
            memcpy(&u, &f[i], 4);
            b[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        }
        t_bf16[r] = bw_now() - t0;
        s += b[nf / 2];
        free(b);
        /* pack every matrix as the kernels want them, on 1 and on 2 threads */
        for (int fmt = 0; fmt < 4; fmt++) {
            t0 = bw_now();
            size_t off = 0; /* consecutive views, like the file's own matrices */
            for (int i = 0; i < 49; i++) {
                const int sh = i == 48 ? 4 : i % 4;
                tg_kmat km;
                if (tg__kmat_pack(&km, (const float *)(p + 4096 + off), mk[sh], mn[sh], 0,
                                  fmt % 2 ? TG_KFMT_BF16 : TG_KFMT_F32,
                                  fmt / 2 ? pool2 : NULL) != TG_OK)
                    return 1;
                s += ((const uint8_t *)km.data)[0];
                tg__kmat_free(&km);
                off += (size_t)(mk[sh] * mn[sh]) * 4;
            }
            (fmt == 0   ? t_pack32
             : fmt == 1 ? t_pack16
             : fmt == 2 ? t_pack32_2
                        : t_pack16_2)[r] = bw_now() - t0;
        }
        munmap((void *)p, len);
        t0 = bw_now();
        p = map_file(fd, len, 1);
        for (size_t i = 0; i < len; i += 4096)
            s += p[i];
        t_pop[r] = bw_now() - t0;
        munmap((void *)p, len);
        for (int huge = 0; huge < 2; huge++) {
            t0 = bw_now();
            uint8_t *a =
                mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (a == MAP_FAILED)
                return 1;
            if (huge)
                madvise(a, len, MADV_HUGEPAGE);
            memset(a, 1, len);
            (huge ? t_huge : t_anon)[r] = bw_now() - t0;
            s += a[len / 2];
            munmap(a, len);
        }
        sink += s;
        fprintf(stderr, "bench_startup: repetition %d/%d\n", r + 1, reps);
    }
    const double mb = (double)len / 1e6;
    printf("bench_startup: %s, %.1f MB, page cache warm, median of %d, ms (GB/s of file size)\n",
           path, mb, reps);
#define ROW(label, v)                                                                              \
    do {                                                                                           \
        const double m_ = median(v, reps);                                                         \
        printf("  %-46s %8.1f ms  (%5.2f GB/s)\n", label, m_ * 1e3, mb / 1e3 / m_);                \
    } while (0)
    ROW("mmap + touch every 4 KiB page", t_touch);
    ROW("mmap MAP_POPULATE + touch", t_pop);
    ROW("read the mapped file once more (mapped)", t_read);
    ROW("fresh anonymous memory, write all (4 KiB pages)", t_anon);
    ROW("fresh anonymous memory, MADV_HUGEPAGE, write all", t_huge);
    ROW("f32 -> bf16 of all floats into fresh memory", t_bf16);
    ROW("pack all 49 matrices, f32 panels (1 thread)", t_pack32);
    ROW("pack all 49 matrices, bf16 panels (1 thread)", t_pack16);
    ROW("pack all 49 matrices, f32 panels (2 threads)", t_pack32_2);
    ROW("pack all 49 matrices, bf16 panels (2 threads)", t_pack16_2);
    tg__tpool_free(pool2);
    close(fd);
    return 0;
}
