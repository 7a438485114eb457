/* model/model.c — tg_model_load: config.json (its architecture reads it) + model.safetensors
 * (bound to the architecture's tensor-name table) -> the backend's prepared weights. The file is
 * closed once the backend holds its copy. */
#include "core/alloc.h"
#include "model_access.h"
#include "model_internal.h"
#include "core/error.h"
#include "core/versioned.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

tg_status tg_model_options_init(tg_model_options *opts, uint32_t struct_size)
{
    tg_error_clear();
    const tg_model_options d = TG_MODEL_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_MODEL_OPTIONS_V1_SIZE,
                           "tg_model_options");
}

static void add_end_id(struct tg_model *m, int32_t id)
{
    if (id < 0)
        return;
    for (size_t i = 0; i < m->n_end_all; i++)
        if (m->end_ids[i] == id)
            return;
    m->end_ids[m->n_end_all++] = id;
}

/* The one place that decides which ids end a sequence (see tg_model_end_ids). */
static tg_status collect_end_ids(struct tg_model *m)
{
    m->end_ids = tg__malloc((m->gen.n_eos + 2) * sizeof *m->end_ids);
    if (!m->end_ids)
        return tg__error(TG_ENOMEM, "out of memory");
    add_end_id(m, m->cfg.eos_id);
    add_end_id(m, m->tokenizer ? tg_tokenizer_eos(m->tokenizer) : -1);
    m->n_end_base = m->n_end_all;
    for (size_t i = 0; i < m->gen.n_eos; i++)
        add_end_id(m, m->gen.eos_ids[i]);
    return TG_OK;
}

tg_status tg_model_end_ids(const int32_t **ids_out, size_t *n_out, const tg_model *model,
                           uint32_t flags)
{
    tg_error_clear();
    TG_CHECK_ARG(ids_out, "ids_out");
    TG_CHECK_ARG(n_out, "n_out");
    *ids_out = NULL;
    *n_out = 0;
    TG_CHECK_ARG(model, "model");
    if (flags & ~(uint32_t)TG_END_IDS_NO_GENERATION_CONFIG)
        return tg__error(TG_EINVAL, "tg_model_end_ids: unknown flags 0x%x", (unsigned)flags);
    size_t n = (flags & TG_END_IDS_NO_GENERATION_CONFIG) ? model->n_end_base : model->n_end_all;
    *ids_out = n ? model->end_ids : NULL;
    *n_out = n;
    return TG_OK;
}

void tg_model_free(tg_model *model)
{
    if (!model)
        return;
    free(model->end_ids);
    tg__backend_model_free(model->backend);
    tg_tokenizer_free(model->tokenizer);
    tg__gen_defaults_clear(&model->gen);
    g_free(model->path);
    free(model);
}

/* Weights and tensors -> backend, then the file can go. */
/* The KV cache's element type for `requested` (TG_KV_*) with weights of `weight_type`: AUTO
 * keeps f32 weights exact (an f32 cache) and gives bf16 and int8 weights a bf16 cache, which
 * halves what decode reads besides the weights (at long contexts a third of a bf16 token's bytes,
 * half of an int8 one's) for less error than the weights' own rounding: measured, int8's golden
 * argmax agreement 1060 of 1072 with it, 1059 without (docs/performance.md). */
static uint32_t kv_type_for(uint32_t requested, uint32_t weight_type)
{
    if (requested != TG_KV_AUTO)
        return requested;
    return weight_type == TG_WEIGHTS_F32 ? TG_KV_F32 : TG_KV_BF16;
}

static tg_status load_weights(struct tg_model *m, const char *file, uint32_t weight_type,
                              uint32_t kv_type)
{
    tg_safetensors st;
    tg_bound b;
    tg_status rc = tg__safetensors_open(&st, file);
    if (rc != TG_OK)
        return rc;
    rc = tg__arch_bind(&b, m->arch, &m->cfg, &st);
    if (rc == TG_OK) {
        m->n_params = b.n_params;
        if (weight_type == TG_WEIGHTS_AUTO)
            weight_type = b.net.tok_embd->dtype == TG_DT_BF16 ? TG_WEIGHTS_BF16 : TG_WEIGHTS_F32;
        m->weight_type = weight_type;
        m->kv_type = kv_type_for(kv_type, weight_type);
        rc = tg__backend_model_create(&m->backend, &b.net,
                                      weight_type == TG_WEIGHTS_BF16   ? TG_PREC_BF16
                                      : weight_type == TG_WEIGHTS_INT8 ? TG_PREC_INT8
                                                                       : TG_PREC_F32);
        if (rc != TG_OK)
            tg__error_prefix("%s", m->path);
        tg__bound_clear(&b);
    }
    tg__safetensors_close(&st);
    return rc;
}

#define TOKENIZER_BUDGET_BASE (1u << 20)
#define TOKENIZER_BUDGET_PER_TOKEN 4096u

/* A tokenizer file far larger than the model's vocabulary can need is refused before it is
 * parsed: parsing builds the whole vocabulary first (a 40 MB tokenizer.json of 2M entries took
 * 700 MB before it could be compared with vocab_size 12). The budget is generous — 1 MiB plus
 * 4 KiB per token; real files use 20-80 bytes per token (GPT-2 2 MB for 50,257 tokens, Llama 3
 * 9 MB for 128,256) — so only a file that cannot belong to this model hits it. */
static tg_status check_tokenizer_size(const char *dir, int32_t n_vocab)
{
    static const char *const files[] = {"tokenizer.json", "vocab.json", "merges.txt",
                                        "encoder.json",   "vocab.bpe",  "tokenizer_config.json"};
    const uint64_t budget = TOKENIZER_BUDGET_BASE + (uint64_t)n_vocab * TOKENIZER_BUDGET_PER_TOKEN;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *p = g_build_filename(dir, files[i], NULL);
        struct stat sb;
        int big = stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > budget;
        g_free(p);
        if (big)
            return tg__error(TG_EFORMAT,
                             "%s/%s is %llu bytes, more than a vocabulary of %d tokens can need "
                             "(at most %llu bytes): it does not belong to this model's "
                             "config.json (vocab_size)",
                             dir, files[i], (unsigned long long)sb.st_size, (int)n_vocab,
                             (unsigned long long)budget);
    }
    return TG_OK;
}

/* The tokenizer is read after the weights are prepared, not on a thread of its own alongside
 * them: parsing tokenizer.json (GPT-2: 50,257 tokens, 50,000 merges, ~50 ms) holds ~8.5 MB of
 * parse buffers for a moment, and next to the weights' own packing transient that was the int8
 * load's peak RSS (160.2 MB against 152.9 after the weights, measured; docs/performance.md,
 * "Quiet rerun after phase 8"). The overlap saved ~30-60 ms of an int8 load and nothing of an
 * fp32 one, whose packing keeps both CPUs busy. */
static tg_status load_tokenizer_and_weights(struct tg_model *m, const char *dir, const char *wts,
                                            uint32_t weight_type, uint32_t kv_type)
{
    tg_status st = load_weights(m, wts, weight_type, kv_type);
    char weights_msg[TG_ERROR_MAX] = "";
    if (st != TG_OK) /* the tokenizer's load sets or clears the thread's message */
        snprintf(weights_msg, sizeof weights_msg, "%s", tg_error_last());
    int found = 0;
    const tg_status tst = tg__tokenizer_load_dir(&m->tokenizer, dir, NULL, &found);
    if (tst != TG_OK) /* a tokenizer error wins, as when the tokenizer was read first */
        return tst;
    if (st != TG_OK)
        return tg__error(st, "%s", weights_msg);
    if (m->tokenizer && tg_tokenizer_n_vocab(m->tokenizer) > m->cfg.hp.n_vocab)
        return tg__error(TG_EFORMAT,
                         "%s: the tokenizer has %d tokens but the model only %d (vocab_size)", dir,
                         (int)tg_tokenizer_n_vocab(m->tokenizer), (int)m->cfg.hp.n_vocab);
    return collect_end_ids(m);
}

tg_status tg_model_load(tg_model **out, const char *dir, const tg_model_options *opts)
{
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(dir, "dir");
    tg_model_options o = TG_MODEL_OPTIONS_INIT;
    if (opts) {
        tg_status st =
            tg__struct_read(&o, sizeof o, opts, TG_MODEL_OPTIONS_V1_SIZE, "tg_model_options");
        if (st != TG_OK)
            return st;
    }
    if (o.weight_type > TG_WEIGHTS_INT8)
        return tg__error(TG_EINVAL, "tg_model_options.weight_type %u is not one of TG_WEIGHTS_*",
                         o.weight_type);
    if (o.kv_type > TG_KV_BF16)
        return tg__error(TG_EINVAL,
                         "tg_model_options.kv_type %u is not one of TG_KV_AUTO, TG_KV_F32, "
                         "TG_KV_BF16",
                         o.kv_type);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return errno == ENOENT ? tg__error(TG_ENOTFOUND, "model folder '%s' does not exist", dir)
                               : tg__error(TG_EIO, "model folder '%s' cannot be opened: %s", dir,
                                           strerror(errno)); /* a symlink loop: ELOOP */
    if (!S_ISDIR(sb.st_mode))
        return tg__error(TG_EINVAL, "model folder '%s' is not a directory", dir);
    struct tg_model *m = tg__calloc(1, sizeof *m);
    if (!m)
        return tg__error(TG_ENOMEM, "out of memory");
    m->path = g_strdup(dir);
    char *cfg = g_build_filename(dir, "config.json", NULL);
    char *wts = g_build_filename(dir, "model.safetensors", NULL);
    tg_status st = tg__config_load(&m->cfg, &m->arch, cfg);
    if (st == TG_OK)
        st = tg__gen_defaults_load(&m->gen, dir, m->cfg.hp.n_vocab);
    if (st == TG_OK)
        st = check_tokenizer_size(dir, m->cfg.hp.n_vocab);
    if (st == TG_OK)
        st = load_tokenizer_and_weights(m, dir, wts, o.weight_type, o.kv_type);
    g_free(cfg);
    g_free(wts);
    if (st != TG_OK) {
        tg_model_free(m);
        return st;
    }
    tg__heap_trim();
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
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(model, "model");
    const tg_net_hparams *hp = &model->cfg.hp;
    tg_model_info full = {
        .struct_size = sizeof full,
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
        .kv_type = model->kv_type,
    };
    return tg__struct_write(out, &full, sizeof full, TG_MODEL_INFO_V1_SIZE, "tg_model_info");
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
