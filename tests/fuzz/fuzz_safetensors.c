/* fuzz_safetensors.c — the safetensors header of model.safetensors, through tg_model_load().
 *
 * Input: one flag byte, then the header. The target writes <folder>/model.safetensors as
 * [8-byte little-endian header length][header][data section of a real model], beside that
 * model's config.json, and loads the folder. Flag bits:
 *   0-2  which test model gives config.json and the data section (index mod 7)
 *   3    "raw": the input after the flag byte is the file's beginning as is, its own first
 *        8 bytes being the length field (lying lengths); otherwise the length is the header's
 *   4    drop the last (flag >> 5) + 1 bytes of the data section (a truncated file)
 * A model that loads must describe itself and decode a token (fzm_exercise). */
#include "fuzz_common.h"
#include "fuzz_model_util.h"

#include <glib.h>
#include <string.h>
#include <textgen/textgen.h>

static const char *const models[] = {"char_tiny",     "hf_bf16",           "hf_f16",      "nobias",
                                     "hf_prefix_erf", "gelu_pytorch_tanh", "hf_tanh_bias"};
#define N_MODELS (sizeof models / sizeof models[0])

static char *dirs[N_MODELS];
static char *weights[N_MODELS];
static unsigned char *blob[N_MODELS]; /* the data section of each model's file */
static size_t blob_len[N_MODELS];
static unsigned char *file_buf;
static size_t file_cap;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    for (size_t i = 0; i < N_MODELS; i++) {
        char sub[16];
        g_snprintf(sub, sizeof sub, "m%zu", i);
        dirs[i] = fzm_copy_model(models[i], sub, FZM_CONFIG);
        weights[i] = g_build_filename(dirs[i], "model.safetensors", NULL);
        char *rel = g_build_filename("models", models[i], "model.safetensors", NULL);
        char *src = fz_data_path(rel);
        size_t len;
        unsigned char *file = fz_read(src, &len);
        uint64_t hlen = 0;
        for (int b = 7; b >= 0; b--)
            hlen = (hlen << 8) | file[b];
        if (len < 8 || hlen > len - 8)
            fz_fail("test data: a model.safetensors with a bad header length");
        blob_len[i] = len - 8 - (size_t)hlen;
        blob[i] = g_memdup2(file + 8 + hlen, blob_len[i]);
        g_free(file);
        g_free(src);
        g_free(rel);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned flag = data[0];
    const size_t m = (flag & 7u) % N_MODELS;
    data++;
    size--;
    size_t keep = blob_len[m];
    if (flag & 16u)
        keep -= keep < (flag >> 5) + 1u ? keep : (flag >> 5) + 1u;
    size_t need = 8 + size;
    if (need > file_cap) {
        file_buf = g_realloc(file_buf, need);
        file_cap = need;
    }
    size_t n = 0;
    if (!(flag & 8u)) {
        for (int b = 0; b < 8; b++)
            file_buf[n++] = (unsigned char)((uint64_t)size >> (8 * b));
    }
    if (size)
        memcpy(file_buf + n, data, size);
    n += size;
    fz_write2(weights[m], file_buf, n, blob[m], keep);

    tg_model *model = NULL;
    tg_status st = tg_model_load(&model, dirs[m], NULL);
    if (st == TG_OK) {
        fzm_exercise(model);
        tg_model_free(model);
    } else if (model || !tg_error_last()[0]) {
        fz_fail("a failed load must leave *out NULL and say why");
    }
    return 0;
}
