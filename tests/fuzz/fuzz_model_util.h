/* fuzz_model_util.h — model folders for the targets that fuzz one file of a folder: copy a
 * folder of the test data into the private folder once, then rewrite one file per input; and
 * the checks every model that loads must pass. */
#ifndef TG_FUZZ_MODEL_UTIL_H
#define TG_FUZZ_MODEL_UTIL_H

#include <textgen/textgen.h>

/* Files of a model folder, for fzm_copy_model(). */
enum {
    FZM_CONFIG = 1,    /* config.json */
    FZM_WEIGHTS = 2,   /* model.safetensors */
    FZM_TOKENIZER = 4, /* tokenizer.json */
    FZM_GENCONFIG = 8, /* generation_config.json */
    FZM_ALL = 15
};

/* Copy the files of tests/data/models/<name>/ chosen by `mask` (those that exist) into
 * <private>/<sub>/; returns that folder (g_free). */
char *fzm_copy_model(const char *name, const char *sub, unsigned mask);

/* What a loaded model must allow: info, its tokenizer's vocabulary fits, and a session that
 * decodes one token into logits. Aborts when any of it fails. */
void fzm_exercise(const tg_model *model);

#endif
