/* make_gpt2_model.c — write a GPT-2 124M-shaped model folder with random weights, for benchmarks.
 *
 * Usage: make_gpt2_model OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N]
 *                                [--vocab N] [--ctx N]
 *
 * Writes OUT_DIR/config.json and OUT_DIR/model.safetensors with Hugging Face GPT-2 tensor names
 * (wte, wpe, h.N.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj}, ln_f; Conv1D weights
 * stored [in, out]; lm_head tied to wte). Matrices and embeddings ~ N(0, 0.02) as in GPT-2's
 * initialisation, LayerNorm weights 1, all biases 0. F32 by default, BF16 with --bf16.
 * Defaults are GPT-2 small: 12 layers, n_embd 768, 12 heads, vocab 50257, 1024 positions.
 *
 * safetensors layout: 8-byte little-endian header length N, a JSON header of N bytes padded with
 * spaces to a multiple of 8, then the tensors' bytes back to back (offsets relative to the data
 * start, no holes). Only the C standard library and POSIX mkdir are used. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char name[64];
    int ndim;
    int64_t shape[2];
    enum { INIT_NORMAL, INIT_ONE, INIT_ZERO } init;
} tensor;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

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

static int64_t numel(const tensor *t)
{
    return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "make_gpt2_model: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s OUT_DIR [--bf16] [--seed N] [--layers N] [--embd N] [--heads N] "
            "[--vocab N] [--ctx N]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int bf16 = 0;
    long layers = 12, embd = 768, heads = 12, vocab = 50257, ctx = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *num = NULL;
        if (strcmp(a, "--bf16") == 0)
            bf16 = 1;
        else if (strcmp(a, "--seed") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 0) * 0x9E3779B97F4A7C15ull | 1u;
        else if (strcmp(a, "--layers") == 0)
            num = &layers;
        else if (strcmp(a, "--embd") == 0)
            num = &embd;
        else if (strcmp(a, "--heads") == 0)
            num = &heads;
        else if (strcmp(a, "--vocab") == 0)
            num = &vocab;
        else if (strcmp(a, "--ctx") == 0)
            num = &ctx;
        else if (a[0] == '-' || dir)
            usage(argv[0]);
        else
            dir = a;
        if (num) {
            if (i + 1 >= argc)
                usage(argv[0]);
            *num = strtol(argv[++i], NULL, 10);
            if (*num < 1)
                usage(argv[0]);
        }
    }
    if (!dir || embd % heads != 0)
        usage(argv[0]);

    /* Tensor list in file order. */
    const size_t n_t = 2 + (size_t)layers * 12 + 2;
    tensor *ts = calloc(n_t, sizeof *ts);
    if (!ts)
        return 1;
    size_t k = 0;
#define T1(nm, n, in)                                                                              \
    do {                                                                                           \
        tensor *t_ = &ts[k++];                                                                     \
        snprintf(t_->name, sizeof t_->name, "%s", nm);                                             \
        t_->ndim = 1;                                                                              \
        t_->shape[0] = (n);                                                                        \
        t_->init = (in);                                                                           \
    } while (0)
#define T2(nm, r, c)                                                                               \
    do {                                                                                           \
        tensor *t_ = &ts[k++];                                                                     \
        snprintf(t_->name, sizeof t_->name, "%s", nm);                                             \
        t_->ndim = 2;                                                                              \
        t_->shape[0] = (r);                                                                        \
        t_->shape[1] = (c);                                                                        \
        t_->init = INIT_NORMAL;                                                                    \
    } while (0)
    T2("wte.weight", vocab, embd);
    T2("wpe.weight", ctx, embd);
    for (long l = 0; l < layers; l++) {
        char nm[64];
#define NM(suffix) (snprintf(nm, sizeof nm, "h.%ld.%s", l, suffix), nm)
        T1(NM("ln_1.weight"), embd, INIT_ONE);
        T1(NM("ln_1.bias"), embd, INIT_ZERO);
        T2(NM("attn.c_attn.weight"), embd, 3 * embd);
        T1(NM("attn.c_attn.bias"), 3 * embd, INIT_ZERO);
        T2(NM("attn.c_proj.weight"), embd, embd);
        T1(NM("attn.c_proj.bias"), embd, INIT_ZERO);
        T1(NM("ln_2.weight"), embd, INIT_ONE);
        T1(NM("ln_2.bias"), embd, INIT_ZERO);
        T2(NM("mlp.c_fc.weight"), embd, 4 * embd);
        T1(NM("mlp.c_fc.bias"), 4 * embd, INIT_ZERO);
        T2(NM("mlp.c_proj.weight"), 4 * embd, embd);
        T1(NM("mlp.c_proj.bias"), embd, INIT_ZERO);
#undef NM
    }
    T1("ln_f.weight", embd, INIT_ONE);
    T1("ln_f.bias", embd, INIT_ZERO);

    /* Header JSON. */
    const size_t esz = bf16 ? 2 : 4;
    size_t cap = 256 + n_t * 160, len = 0;
    char *hdr = malloc(cap);
    if (!hdr)
        return 1;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0, n_params = 0;
    for (size_t i = 0; i < n_t; i++) {
        const tensor *t = &ts[i];
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
        die("cannot create", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write", path);
    fprintf(f,
            "{\n"
            "  \"architectures\": [\"GPT2LMHeadModel\"],\n"
            "  \"model_type\": \"gpt2\",\n"
            "  \"activation_function\": \"gelu_new\",\n"
            "  \"vocab_size\": %ld,\n"
            "  \"n_positions\": %ld,\n"
            "  \"n_ctx\": %ld,\n"
            "  \"n_embd\": %ld,\n"
            "  \"n_layer\": %ld,\n"
            "  \"n_head\": %ld,\n"
            "  \"layer_norm_epsilon\": 1e-05,\n"
            "  \"initializer_range\": 0.02,\n"
            "  \"bos_token_id\": %ld,\n"
            "  \"eos_token_id\": %ld,\n"
            "  \"tie_word_embeddings\": true,\n"
            "  \"torch_dtype\": \"%s\"\n"
            "}\n",
            vocab, ctx, ctx, embd, layers, heads, vocab - 1, vocab - 1,
            bf16 ? "bfloat16" : "float32");
    if (fclose(f) != 0)
        die("cannot write", path);

    /* Write to a temporary name and rename, so an interrupted run never leaves a valid-looking
     * but truncated file behind. */
    char tmp[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.tmp", dir);
    f = fopen(tmp, "wb");
    if (!f)
        die("cannot write", tmp);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)len >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(hdr, 1, len, f);
    enum { CHUNK = 1 << 16 };
    float *buf = malloc(CHUNK * sizeof(float));
    uint16_t *buf16 = malloc(CHUNK * sizeof(uint16_t));
    if (!buf || !buf16)
        return 1;
    for (size_t i = 0; i < n_t; i++) {
        const tensor *t = &ts[i];
        for (int64_t done = 0, n = numel(t); done < n;) {
            const size_t c = (size_t)(n - done < CHUNK ? n - done : CHUNK);
            if (t->init == INIT_NORMAL) {
                for (size_t j = 0; j + 1 < c; j += 2)
                    normal_pair(0.02f, &buf[j], &buf[j + 1]);
                if (c % 2) {
                    float spare;
                    normal_pair(0.02f, &buf[c - 1], &spare);
                }
            } else {
                const float v = t->init == INIT_ONE ? 1.0f : 0.0f;
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
                die("cannot write", tmp);
            done += (int64_t)c;
        }
    }
    if (fclose(f) != 0)
        die("cannot write", tmp);
    if (rename(tmp, path) != 0)
        die("cannot rename to", path);
    printf("wrote %s: %zu tensors, %llu parameters, %s, %.1f MB\n", path, n_t,
           (unsigned long long)n_params, bf16 ? "BF16" : "F32", (double)(8 + len + off) / 1e6);
    free(buf);
    free(buf16);
    free(hdr);
    free(ts);
    return 0;
}
