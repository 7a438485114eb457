/* fuzz_model_util.c — see fuzz_model_util.h. */
#include "fuzz_model_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <string.h>

char *fzm_copy_model(const char *name, const char *sub, unsigned mask)
{
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                        "generation_config.json"};
    char *dst = fz_path(sub);
    g_mkdir_with_parents(dst, 0700);
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        if (!(mask & (1u << i)))
            continue;
        char *rel = g_build_filename("models", name, files[i], NULL);
        char *src = fz_data_path(rel);
        if (g_file_test(src, G_FILE_TEST_IS_REGULAR)) {
            size_t len;
            void *data = fz_read(src, &len);
            char *out = g_build_filename(dst, files[i], NULL);
            fz_write(out, data, len);
            g_free(out);
            g_free(data);
        }
        g_free(src);
        g_free(rel);
    }
    return dst;
}

void fzm_exercise(const tg_model *model)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    if (tg_model_get_info(&info, model) != TG_OK)
        fz_fail("tg_model_get_info of a loaded model");
    if (info.n_vocab < 1 || info.n_ctx < 1 || info.n_params == 0)
        fz_fail("a loaded model describes itself as empty");
    const tg_tokenizer *tok = tg_model_tokenizer(model);
    if (tok && tg_tokenizer_n_vocab(tok) > info.n_vocab)
        fz_fail("a loaded model's tokenizer is larger than its vocabulary");
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_ctx = info.n_ctx < 4 ? (uint32_t)info.n_ctx : 4;
    so.n_threads = 1;
    tg_session *s = NULL;
    if (tg_session_create(&s, model, &so) != TG_OK)
        fz_fail("tg_session_create on a loaded model");
    const tg_batch_row row = {info.n_vocab - 1, 0, 0, 1};
    const float *logits = NULL;
    if (tg_session_decode(s, &row, 1) != TG_OK || tg_session_logits(&logits, s, 0) != TG_OK ||
        !logits)
        fz_fail("decoding one token of a loaded model");
    tg_session_free(s);
}
