/* model/model.c — tg_model_load: config.json (its architecture reads it) + model.safetensors
 * (bound to the architecture's tensor-name table) -> the backend's prepared weights. The file is
 * closed once the backend holds its copy. */
#include "model_access.h"
#include "model_internal.h"
#include "core/error.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tg_status tg_model_options_default(tg_model_options *out)
{
    TG_CHECK_ARG(out, "out");
    *out = (tg_model_options)TG_MODEL_OPTIONS_INIT;
    return TG_OK;
}

void tg_model_free(tg_model *model)
{
    if (!model)
        return;
    tg__backend_model_free(model->backend);
    tg_tokenizer_free(model->tokenizer);
    tg__gen_defaults_clear(&model->gen);
    g_free(model->path);
    free(model);
}

/* Weights and tensors -> backend, then the file can go. */
static tg_status load_weights(struct tg_model *m, const char *file, uint32_t weight_type)
{
    tg_safetensors st;
    tg_bound b;
    tg_status rc = tg__safetensors_open(&st, file);
    if (rc != TG_OK)
        return rc;
    rc = tg__arch_bind(&b, m->arch, &m->cfg, &st);
    if (rc == TG_OK) {
        m->n_params = b.n_params;
        const int bf16 = weight_type == TG_WEIGHTS_BF16 ||
                         (weight_type == TG_WEIGHTS_AUTO && b.net.tok_embd->dtype == TG_DT_BF16);
        m->weight_type = bf16 ? TG_WEIGHTS_BF16 : TG_WEIGHTS_F32;
        rc = tg__backend_model_create(&m->backend, &b.net, bf16 ? TG_PREC_BF16 : TG_PREC_F32);
        if (rc != TG_OK)
            tg__error_prefix("%s", m->path);
        tg__bound_clear(&b);
    }
    tg__safetensors_close(&st);
    return rc;
}

tg_status tg_model_load(tg_model **out, const char *dir, const tg_model_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(dir, "dir");
    tg_model_options o = TG_MODEL_OPTIONS_INIT;
    if (opts) {
        tg_status st =
            tg__check_struct_size(opts->struct_size, sizeof(tg_model_options), "tg_model_options");
        if (st != TG_OK)
            return st;
        o = *opts;
    }
    if (o.weight_type > TG_WEIGHTS_BF16)
        return tg__error(TG_EINVAL, "tg_model_options.weight_type %u is not one of TG_WEIGHTS_*",
                         o.weight_type);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return tg__error(
            g_file_test(dir, G_FILE_TEST_EXISTS) ? TG_EINVAL : TG_ENOTFOUND, "model folder '%s' %s",
            dir, g_file_test(dir, G_FILE_TEST_EXISTS) ? "is not a directory" : "does not exist");
    struct tg_model *m = calloc(1, sizeof *m);
    if (!m)
        return tg__error(TG_ENOMEM, "out of memory");
    m->path = g_strdup(dir);
    char *cfg = g_build_filename(dir, "config.json", NULL);
    char *wts = g_build_filename(dir, "model.safetensors", NULL);
    tg_status st = tg__config_load(&m->cfg, &m->arch, cfg);
    if (st == TG_OK)
        st = tg__gen_defaults_load(&m->gen, dir, m->cfg.hp.n_vocab);
    if (st == TG_OK) {
        int found = 0;
        st = tg__tokenizer_load_dir(&m->tokenizer, dir, NULL, &found);
        if (st == TG_OK && m->tokenizer && tg_tokenizer_n_vocab(m->tokenizer) > m->cfg.hp.n_vocab)
            st = tg__error(TG_EFORMAT,
                           "%s: the tokenizer has %d tokens but the model only %d (vocab_size)",
                           dir, (int)tg_tokenizer_n_vocab(m->tokenizer), (int)m->cfg.hp.n_vocab);
    }
    if (st == TG_OK)
        st = load_weights(m, wts, o.weight_type);
    g_free(cfg);
    g_free(wts);
    if (st != TG_OK) {
        tg_model_free(m);
        return st;
    }
    const tg_net_hparams *hp = &m->cfg.hp;
    tg__log(TG_LOG_INFO,
            "loaded %s: %s, %d layers, %d heads (%d kv), n_embd %d, vocab %d, %llu parameters", dir,
            m->arch->model_type, hp->n_layer, hp->n_head, hp->n_kv_head, hp->n_embd, hp->n_vocab,
            (unsigned long long)m->n_params);
    *out = m;
    return TG_OK;
}

tg_status tg_model_get_info(tg_model_info *out, const tg_model *model)
{
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(model, "model");
    tg_status st =
        tg__check_struct_size(out->struct_size, offsetof(tg_model_info, n_params), "tg_model_info");
    if (st != TG_OK)
        return st;
    const tg_net_hparams *hp = &model->cfg.hp;
    tg_model_info full = {
        .struct_size = out->struct_size,
        .n_vocab = hp->n_vocab,
        .n_ctx = hp->n_ctx,
        .n_layer = hp->n_layer,
        .n_head = hp->n_head,
        .n_embd = hp->n_embd,
        .n_inner = hp->n_ff,
        .bos_id = model->cfg.bos_id,
        .eos_id = model->cfg.eos_id,
        .weight_type = model->weight_type,
        .n_params = model->n_params,
        .weight_bytes = tg__backend_model_weight_bytes(model->backend),
    };
    size_t n = out->struct_size < sizeof full ? out->struct_size : sizeof full;
    memcpy(out, &full, n);
    return TG_OK;
}

const tg_tokenizer *tg_model_tokenizer(const tg_model *model)
{
    return model ? model->tokenizer : NULL;
}

const char *tg_model_default_samplers(const tg_model *model)
{
    return model ? model->gen.spec : NULL;
}

const char *tg_model_path(const tg_model *model)
{
    return model ? model->path : NULL;
}

/* ---- model_access.h ---- */
int32_t tg__model_n_vocab(const tg_model *m)
{
    return m->cfg.hp.n_vocab;
}

int32_t tg__model_n_ctx(const tg_model *m)
{
    return m->cfg.hp.n_ctx;
}

int32_t tg__model_bos_id(const tg_model *m)
{
    return m->cfg.bos_id;
}

int32_t tg__model_eos_id(const tg_model *m)
{
    return m->cfg.eos_id;
}

const tg_gen_defaults *tg__model_gen_defaults(const tg_model *m)
{
    return &m->gen;
}
