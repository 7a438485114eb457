/* export_gguf.c — convert a GPT-2 model folder (config.json + model.safetensors, Hugging Face
 * names, as bench/make_gpt2_model writes it) to a GGUF file that llama.cpp loads, so that
 * llama.cpp and libtextgen can be benchmarked on the same weights.
 *
 * Usage: export_gguf MODEL_DIR OUT.gguf --type f32|f16|q8_0 --vocab VOCAB_JSON --merges MERGES_TXT
 *
 * GGUF v3 (little-endian): "GGUF", version, tensor count, metadata count; metadata key/values;
 * tensor infos (name, dims innermost first, ggml type, offset from the data start); then the
 * tensor data, each aligned to 32 bytes. llama.cpp's gpt2 names: token_embd, position_embd,
 * blk.N.{attn_norm,attn_qkv,attn_output,ffn_norm,ffn_up,ffn_down}, output_norm (output layer
 * tied to token_embd when the source has no lm_head). ggml stores a linear layer's weight as
 * [out][in] rows (ne0 = in), so the Conv1D [in, out] matrices are transposed on the way.
 * Types: 1-D tensors (norms, biases) stay F32 as llama.cpp's converter keeps them; 2-D tensors
 * become the requested type. Q8_0 = blocks of 32 weights, one fp16 scale (max |w| / 127) and 32
 * int8 values round(w / scale). The tokenizer (GPT-2 byte-level BPE, vocab.json and merges.txt
 * as in a Hugging Face folder) is embedded because llama.cpp refuses a model without one. */
#include <glib.h>
#include <json-glib/json-glib.h>

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_STRING = 8, GGUF_ARRAY = 9 };
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8 };
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_Q8_0 = 7 };
#define ALIGN 32
#define QK 32

static _Noreturn void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "export_gguf: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

/* ---- the source: safetensors ---- */

typedef struct {
    char *name;
    int dtype; /* 0 F32, 1 F16, 2 BF16 */
    int ndim;
    int64_t shape[2];
    const uint8_t *data;
} src_tensor;

typedef struct {
    src_tensor *t;
    int n;
} src_model;

static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
    uint32_t u;
    if (exp == 0) {
        float f = ldexpf((float)man, -24);
        memcpy(&u, &f, 4);
        u |= sign;
    } else if (exp == 31)
        u = sign | 0x7f800000u | (man << 13);
    else
        u = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* float -> IEEE half, round to nearest even (overflow to inf, NaN kept quiet). */
static uint16_t float_to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* rounds to >= 65520: inf */
        return sign | 0x7c00u;
    if (a < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        const float m = fabsf(f) * 16777216.0f; /* in units of 2^-24 */
        return sign | (uint16_t)lrintf(m);      /* lrintf rounds to nearest even */
    }
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round mantissa to 10 bits */
    return sign | (uint16_t)((r - 0x38000000u) >> 13);
}

static float src_get(const src_tensor *t, size_t i)
{
    if (t->dtype == 0) {
        float f;
        memcpy(&f, t->data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, t->data + 2 * i, 2);
    if (t->dtype == 1)
        return half_to_float(h);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void load_safetensors(src_model *m, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8)
        die("%s: not a safetensors file (too short)", path);
    const uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        die("cannot map %s", path);
    uint64_t hlen;
    memcpy(&hlen, map, 8);
    if (hlen > (uint64_t)st.st_size - 8)
        die("%s: header length beyond the end of the file", path);
    JsonParser *p = json_parser_new();
    if (!json_parser_load_from_data(p, (const char *)map + 8, (gssize)hlen, NULL))
        die("%s: the header is not valid JSON", path);
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    if (!root)
        die("%s: the header is not a JSON object", path);
    GList *keys = json_object_get_members(root);
    m->t = calloc(g_list_length(keys), sizeof *m->t);
    const uint8_t *base = map + 8 + hlen;
    const uint64_t data_len = (uint64_t)st.st_size - 8 - hlen;
    for (GList *k = keys; k; k = k->next) {
        const char *name = k->data;
        if (strcmp(name, "__metadata__") == 0)
            continue;
        JsonObject *o = json_object_get_object_member(root, name);
        const char *dt = o ? json_object_get_string_member_with_default(o, "dtype", "") : "";
        JsonArray *shape = o ? json_object_get_array_member(o, "shape") : NULL;
        JsonArray *off = o ? json_object_get_array_member(o, "data_offsets") : NULL;
        if (!shape || !off || json_array_get_length(off) != 2 || json_array_get_length(shape) > 2)
            die("%s: tensor entry is not a 1-D or 2-D tensor with data_offsets", name);
        src_tensor *t = &m->t[m->n++];
        t->name = g_strdup(name);
        t->dtype = strcmp(dt, "F32") == 0    ? 0
                   : strcmp(dt, "F16") == 0  ? 1
                   : strcmp(dt, "BF16") == 0 ? 2
                                             : -1;
        if (t->dtype < 0)
            die("%s: dtype must be F32, F16 or BF16", name);
        t->ndim = (int)json_array_get_length(shape);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++)
            numel *= (uint64_t)(t->shape[d] = json_array_get_int_element(shape, (guint)d));
        const uint64_t b = (uint64_t)json_array_get_int_element(off, 0);
        const uint64_t e = (uint64_t)json_array_get_int_element(off, 1);
        if (e < b || e > data_len || e - b != numel * (t->dtype ? 2u : 4u))
            die("%s: data_offsets do not match its shape and dtype", name);
        t->data = base + b;
    }
    g_list_free(keys);
    g_object_unref(p);
}

/* The tensor `name`, with or without a "transformer." prefix; NULL if absent. */
static const src_tensor *find(const src_model *m, const char *name)
{
    for (int i = 0; i < m->n; i++) {
        const char *n = m->t[i].name;
        if (g_str_has_prefix(n, "transformer."))
            n += strlen("transformer.");
        if (strcmp(n, name) == 0)
            return &m->t[i];
    }
    return NULL;
}

static const src_tensor *need(const src_model *m, const char *name)
{
    const src_tensor *t = find(m, name);
    if (!t)
        die("model.safetensors has no tensor '%s'", name);
    return t;
}

/* ---- the output: GGUF ---- */

typedef struct {
    char name[96];
    const src_tensor *src;
    int transpose; /* source is [in, out]: emit its transpose */
    int64_t ne0, ne1;
    int ndim, type;
    uint64_t offset, nbytes;
} out_tensor;

static uint64_t tensor_bytes(int type, int64_t ne0, int64_t ne1)
{
    const uint64_t n = (uint64_t)ne0 * (uint64_t)ne1;
    return type == GGML_F32 ? 4 * n : type == GGML_F16 ? 2 * n : n / QK * (2 + QK);
}

static void w_u32(FILE *f, uint32_t v)
{
    fwrite(&v, 4, 1, f);
}
static void w_u64(FILE *f, uint64_t v)
{
    fwrite(&v, 8, 1, f);
}
static void w_str(FILE *f, const char *s)
{
    w_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}
static void kv_u32(FILE *f, const char *k, uint32_t v)
{
    w_str(f, k);
    w_u32(f, GGUF_U32);
    w_u32(f, v);
}
static void kv_f32(FILE *f, const char *k, float v)
{
    w_str(f, k);
    w_u32(f, GGUF_F32);
    fwrite(&v, 4, 1, f);
}
static void kv_str(FILE *f, const char *k, const char *v)
{
    w_str(f, k);
    w_u32(f, GGUF_STRING);
    w_str(f, v);
}

/* One row (ne0 values) of an output tensor, as floats. */
static void get_row(const out_tensor *o, int64_t r, float *row)
{
    for (int64_t i = 0; i < o->ne0; i++)
        row[i] =
            src_get(o->src, o->transpose ? (size_t)(i * o->ne1 + r) : (size_t)(r * o->ne0 + i));
}

static void write_tensor(FILE *f, const out_tensor *o)
{
    float *row = malloc((size_t)o->ne0 * sizeof *row);
    uint8_t *buf = malloc((size_t)tensor_bytes(o->type, o->ne0, 1));
    for (int64_t r = 0; r < o->ne1; r++) {
        get_row(o, r, row);
        uint8_t *p = buf;
        if (o->type == GGML_F32)
            memcpy(p, row, (size_t)o->ne0 * 4);
        else if (o->type == GGML_F16)
            for (int64_t i = 0; i < o->ne0; i++) {
                const uint16_t h = float_to_half(row[i]);
                memcpy(p + 2 * i, &h, 2);
            }
        else
            for (int64_t b = 0; b < o->ne0 / QK; b++, p += 2 + QK) {
                float amax = 0;
                for (int i = 0; i < QK; i++)
                    amax = fmaxf(amax, fabsf(row[b * QK + i]));
                const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
                const uint16_t dh = float_to_half(d);
                memcpy(p, &dh, 2);
                for (int i = 0; i < QK; i++)
                    p[2 + i] = (uint8_t)(int8_t)lrintf(row[b * QK + i] * id);
            }
        fwrite(buf, 1, (size_t)tensor_bytes(o->type, o->ne0, 1), f);
    }
    free(buf);
    free(row);
}

static JsonObject *read_json(JsonParser *p, const char *path)
{
    GError *err = NULL;
    if (!json_parser_load_from_file(p, path, &err))
        die("cannot read %s as JSON", path);
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        die("%s: not a JSON object", path);
    return json_node_get_object(root);
}

static uint32_t cfg_int(JsonObject *cfg, const char *a, const char *b)
{
    if (json_object_has_member(cfg, a))
        return (uint32_t)json_object_get_int_member(cfg, a);
    if (b && json_object_has_member(cfg, b))
        return (uint32_t)json_object_get_int_member(cfg, b);
    die("config.json has no '%s'", a);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *type_s = NULL, *vocab = NULL, *merges = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
            type_s = argv[++i];
        else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc)
            vocab = argv[++i];
        else if (strcmp(argv[i], "--merges") == 0 && i + 1 < argc)
            merges = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else
            die("unknown or misplaced argument '%s'", argv[i]);
    }
    if (!dir || !out || !type_s || !vocab || !merges) {
        fprintf(stderr, "usage: export_gguf MODEL_DIR OUT.gguf --type f32|f16|q8_0 --vocab "
                        "vocab.json --merges merges.txt\n");
        return 2;
    }
    const int mtype = strcmp(type_s, "f32") == 0   ? GGML_F32
                      : strcmp(type_s, "f16") == 0 ? GGML_F16
                      : strcmp(type_s, "q8_0") == 0
                          ? GGML_Q8_0
                          : (die("--type must be f32, f16 or q8_0, not '%s'", type_s), 0);

    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    JsonParser *cp = json_parser_new();
    JsonObject *cfg = read_json(cp, path);
    const uint32_t n_layer = cfg_int(cfg, "n_layer", "num_hidden_layers");
    const uint32_t n_embd = cfg_int(cfg, "n_embd", "hidden_size");
    const uint32_t n_head = cfg_int(cfg, "n_head", "num_attention_heads");
    const uint32_t n_ctx = cfg_int(cfg, "n_positions", "n_ctx");
    const uint32_t n_vocab = cfg_int(cfg, "vocab_size", NULL);
    const uint32_t n_ff = json_object_has_member(cfg, "n_inner") &&
                                  !JSON_NODE_HOLDS_NULL(json_object_get_member(cfg, "n_inner"))
                              ? (uint32_t)json_object_get_int_member(cfg, "n_inner")
                              : 4 * n_embd;
    const float eps =
        (float)json_object_get_double_member_with_default(cfg, "layer_norm_epsilon", 1e-5);
    const char *act =
        json_object_get_string_member_with_default(cfg, "activation_function", "gelu_new");
    if (strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
        die("activation_function '%s': llama.cpp's gpt2 uses the tanh GELU only", act);
    if (mtype == GGML_Q8_0 && (n_embd % QK || n_ff % QK))
        die("q8_0 needs n_embd and the MLP width to be multiples of 32 (%s)", dir);

    src_model sm = {0};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    load_safetensors(&sm, path);

    /* The tensors in llama.cpp's names, in file order. */
    const int max_t = 4 + 12 * (int)n_layer + 1;
    out_tensor *ot = calloc((size_t)max_t, sizeof *ot);
    int nt = 0;
#define ADD(NAME, SRC, TRANSPOSED)                                                                 \
    do {                                                                                           \
        out_tensor *o = &ot[nt++];                                                                 \
        snprintf(o->name, sizeof o->name, "%s", NAME);                                             \
        o->src = (SRC);                                                                            \
        o->transpose = (TRANSPOSED);                                                               \
        o->ndim = o->src->ndim;                                                                    \
        o->ne0 = o->ndim == 1 ? o->src->shape[0]                                                   \
                 : TRANSPOSED ? o->src->shape[0]                                                   \
                              : o->src->shape[1];                                                  \
        o->ne1 = o->ndim == 1 ? 1 : TRANSPOSED ? o->src->shape[1] : o->src->shape[0];              \
        o->type = o->ndim == 1 ? GGML_F32 : mtype;                                                 \
    } while (0)
    char a[96], b[96];
    ADD("token_embd.weight", need(&sm, "wte.weight"), 0);
    ADD("position_embd.weight", need(&sm, "wpe.weight"), 0);
    if (ot[0].ne0 != n_embd || ot[0].ne1 != n_vocab)
        die("wte.weight is not [vocab_size, n_embd] (%s)", dir);
    static const char *const names[][2] = {
        {"ln_1.weight", "attn_norm.weight"},          {"ln_1.bias", "attn_norm.bias"},
        {"attn.c_attn.weight", "attn_qkv.weight"},    {"attn.c_attn.bias", "attn_qkv.bias"},
        {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
        {"ln_2.weight", "ffn_norm.weight"},           {"ln_2.bias", "ffn_norm.bias"},
        {"mlp.c_fc.weight", "ffn_up.weight"},         {"mlp.c_fc.bias", "ffn_up.bias"},
        {"mlp.c_proj.weight", "ffn_down.weight"},     {"mlp.c_proj.bias", "ffn_down.bias"}};
    for (uint32_t l = 0; l < n_layer; l++)
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            snprintf(a, sizeof a, "h.%u.%s", l, names[k][0]);
            snprintf(b, sizeof b, "blk.%u.%s", l, names[k][1]);
            const src_tensor *s = find(&sm, a);
            if (!s && strstr(a, ".bias"))
                die("'%s' is missing: llama.cpp's gpt2 needs every bias", a);
            ADD(b, need(&sm, a), strstr(a, ".weight") && !strstr(a, "ln_"));
        }
    ADD("output_norm.weight", need(&sm, "ln_f.weight"), 0);
    ADD("output_norm.bias", need(&sm, "ln_f.bias"), 0);
    const src_tensor *lm = find(&sm, "lm_head.weight");
    if (lm)
        ADD("output.weight", lm, 0);
#undef ADD
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        ot[i].offset = off;
        ot[i].nbytes = tensor_bytes(ot[i].type, ot[i].ne0, ot[i].ne1);
        off += (ot[i].nbytes + ALIGN - 1) / ALIGN * ALIGN;
    }

    /* Tokenizer: vocab.json (token -> id) into id order, merges.txt lines after the header. */
    JsonParser *vp = json_parser_new();
    JsonObject *vocab_o = read_json(vp, vocab);
    if (json_object_get_size(vocab_o) != n_vocab)
        die("%s: the tokenizer's size differs from the model's vocab_size", vocab);
    const char **tokens = calloc(n_vocab, sizeof *tokens);
    GList *vk = json_object_get_members(vocab_o);
    for (GList *k = vk; k; k = k->next) {
        const int64_t id = json_object_get_int_member(vocab_o, k->data);
        if (id < 0 || id >= n_vocab || tokens[id])
            die("%s: token ids are not a permutation of 0..vocab_size-1", vocab);
        tokens[id] = k->data;
    }
    g_list_free(vk);
    gchar *mtext = NULL;
    if (!g_file_get_contents(merges, &mtext, NULL, NULL))
        die("cannot read %s", merges);
    gchar **mlines = g_strsplit(mtext, "\n", -1);
    guint n_merges = 0;
    for (gchar **l = mlines; *l; l++)
        if (**l && !g_str_has_prefix(*l, "#version"))
            mlines[n_merges++] = *l;
        else
            g_free(*l);
    mlines[n_merges] = NULL;

    FILE *f = fopen(out, "wb");
    if (!f)
        die("cannot create %s", out);
    fwrite("GGUF", 1, 4, f);
    w_u32(f, 3);
    w_u64(f, (uint64_t)nt);
    w_u64(f, 17); /* metadata entries below */
    kv_str(f, "general.architecture", "gpt2");
    kv_str(f, "general.name", "libtextgen bench export");
    kv_u32(f, "general.file_type",
           mtype == GGML_F32   ? FTYPE_ALL_F32
           : mtype == GGML_F16 ? FTYPE_MOSTLY_F16
                               : FTYPE_MOSTLY_Q8_0);
    kv_u32(f, "general.alignment", ALIGN);
    kv_u32(f, "gpt2.context_length", n_ctx);
    kv_u32(f, "gpt2.embedding_length", n_embd);
    kv_u32(f, "gpt2.feed_forward_length", n_ff);
    kv_u32(f, "gpt2.block_count", n_layer);
    kv_u32(f, "gpt2.attention.head_count", n_head);
    kv_f32(f, "gpt2.attention.layer_norm_epsilon", eps);
    kv_str(f, "tokenizer.ggml.model", "gpt2");
    kv_str(f, "tokenizer.ggml.pre", "gpt-2");
    w_str(f, "tokenizer.ggml.tokens");
    w_u32(f, GGUF_ARRAY);
    w_u32(f, GGUF_STRING);
    w_u64(f, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++)
        w_str(f, tokens[i]);
    w_str(f, "tokenizer.ggml.token_type");
    w_u32(f, GGUF_ARRAY);
    w_u32(f, GGUF_I32);
    w_u64(f, n_vocab);
    for (uint32_t i = 0; i < n_vocab; i++) /* 1 normal, 3 control (<|endoftext|>) */
        w_u32(f, strcmp(tokens[i], "<|endoftext|>") == 0 ? 3 : 1);
    w_str(f, "tokenizer.ggml.merges");
    w_u32(f, GGUF_ARRAY);
    w_u32(f, GGUF_STRING);
    w_u64(f, n_merges);
    for (guint i = 0; i < n_merges; i++)
        w_str(f, mlines[i]);
    kv_u32(f, "tokenizer.ggml.bos_token_id", n_vocab - 1);
    kv_u32(f, "tokenizer.ggml.eos_token_id", n_vocab - 1);
    for (int i = 0; i < nt; i++) {
        w_str(f, ot[i].name);
        w_u32(f, (uint32_t)ot[i].ndim);
        w_u64(f, (uint64_t)ot[i].ne0);
        if (ot[i].ndim == 2)
            w_u64(f, (uint64_t)ot[i].ne1);
        w_u32(f, (uint32_t)ot[i].type);
        w_u64(f, ot[i].offset);
    }
    static const uint8_t zeros[ALIGN];
    long pos = ftell(f);
    fwrite(zeros, 1, (size_t)((ALIGN - pos % ALIGN) % ALIGN), f);
    for (int i = 0; i < nt; i++) {
        write_tensor(f, &ot[i]);
        fwrite(zeros, 1, (size_t)((ALIGN - ot[i].nbytes % ALIGN) % ALIGN), f);
    }
    if (ferror(f) || fclose(f) != 0)
        die("error writing %s", out);
    printf("export_gguf: wrote %s (%s, %d tensors, %.1f MB of tensor data)\n", out, type_s, nt,
           (double)off / 1e6);
    g_strfreev(mlines);
    g_free(mtext);
    free(tokens);
    free(ot);
    g_object_unref(vp);
    g_object_unref(cp);
    return 0;
}
