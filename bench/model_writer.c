/* model_writer.c — random tensors to a safetensors folder, for the bench model makers. Values:
 * xorshift64 + Box-Muller N(0, 0.02) (GPT-2's initialisation scale), ones for norm weights,
 * zeros for biases. Assumes a little-endian host. */
#include "model_writer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void mw_seed(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull | 1u;
}

static uint64_t xorshift64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Uniform in (0, 1]: 53 random bits, never 0 (log() needs it). */
static double uniform01(void)
{
    return (double)((xorshift64() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* Two independent N(0, sd) samples (Box-Muller). */
static void normal_pair(float sd, float *a, float *b)
{
    const double r = sqrt(-2.0 * log(uniform01())) * sd;
    const double t = 6.283185307179586 * uniform01();
    *a = (float)(r * cos(t));
    *b = (float)(r * sin(t));
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); /* round to nearest even */
}

static int64_t numel(const mw_tensor *t)
{
    return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

static void die(const mw_model *m, const char *what, const char *path)
{
    fprintf(stderr, "%s: %s %s: %s\n", m->prog, what, path, strerror(errno));
    exit(1);
}

static mw_tensor *add(mw_model *m)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->t = realloc(m->t, m->cap * sizeof *m->t);
        if (!m->t) {
            fprintf(stderr, "%s: out of memory\n", m->prog);
            exit(1);
        }
    }
    mw_tensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    return t;
}

void mw_add1(mw_model *m, const char *name, int64_t n, int init)
{
    mw_tensor *t = add(m);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = 1;
    t->shape[0] = n;
    t->init = init;
}

void mw_add2(mw_model *m, const char *name, int64_t rows, int64_t cols)
{
    mw_tensor *t = add(m);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = 2;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->init = MW_NORMAL;
}

void mw_write(const mw_model *m, const char *dir, int bf16, const char *config_json)
{
    const size_t esz = bf16 ? 2 : 4;
    size_t cap = 256 + m->n * 200, len = 0;
    char *hdr = malloc(cap);
    if (!hdr)
        exit(1);
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0, n_params = 0;
    for (size_t i = 0; i < m->n; i++) {
        const mw_tensor *t = &m->t[i];
        const uint64_t nb = (uint64_t)numel(t) * esz;
        len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                t->name, bf16 ? "BF16" : "F32");
        if (t->ndim == 1)
            len += (size_t)snprintf(hdr + len, cap - len, "%lld", (long long)t->shape[0]);
        else
            len += (size_t)snprintf(hdr + len, cap - len, "%lld,%lld", (long long)t->shape[0],
                                    (long long)t->shape[1]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                                (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
        n_params += (uint64_t)numel(t);
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8)
        hdr[len++] = ' ';

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        die(m, "cannot create", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die(m, "cannot write", path);
    fputs(config_json, f);
    if (fclose(f) != 0)
        die(m, "cannot write", path);

    /* Write to a temporary name and rename, so an interrupted run never leaves a valid-looking
     * but truncated file behind. */
    char tmp[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.tmp", dir);
    f = fopen(tmp, "wb");
    if (!f)
        die(m, "cannot write", tmp);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)len >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, len, f);
    enum { CHUNK = 1 << 16 };
    float *buf = malloc(CHUNK * sizeof(float));
    uint16_t *buf16 = malloc(CHUNK * sizeof(uint16_t));
    if (!buf || !buf16)
        exit(1);
    for (size_t i = 0; i < m->n; i++) {
        const mw_tensor *t = &m->t[i];
        for (int64_t done = 0, n = numel(t); done < n;) {
            const size_t c = (size_t)(n - done < CHUNK ? n - done : CHUNK);
            if (t->init == MW_NORMAL) {
                for (size_t j = 0; j + 1 < c; j += 2)
                    normal_pair(0.02f, &buf[j], &buf[j + 1]);
                if (c % 2) {
                    float spare;
                    normal_pair(0.02f, &buf[c - 1], &spare);
                }
            } else {
                const float v = t->init == MW_ONE ? 1.0f : 0.0f;
                for (size_t j = 0; j < c; j++)
                    buf[j] = v;
            }
            size_t w;
            if (bf16) {
                for (size_t j = 0; j < c; j++)
                    buf16[j] = to_bf16(buf[j]);
                w = fwrite(buf16, 2, c, f);
            } else {
                w = fwrite(buf, 4, c, f);
            }
            if (w != c)
                die(m, "cannot write", tmp);
            done += (int64_t)c;
        }
    }
    if (fclose(f) != 0)
        die(m, "cannot write", tmp);
    if (rename(tmp, path) != 0)
        die(m, "cannot rename to", path);
    printf("wrote %s: %zu tensors, %llu parameters, %s, %.1f MB\n", path, m->n,
           (unsigned long long)n_params, bf16 ? "BF16" : "F32", (double)(8 + len + off) / 1e6);
    free(buf);
    free(buf16);
    free(hdr);
}
