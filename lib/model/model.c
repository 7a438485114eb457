/* model/model.c — tg_model_load: config.json + model.safetensors -> validated tensors -> backend
 * weights. Tensor names follow Hugging Face GPT-2, with or without the "transformer." prefix. */
#include "model_internal.h"
#include "backend/backend.h"
#include "core/error.h"
#include "core/versioned.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tg_status tg_model_options_init(tg_model_options *opts, uint32_t struct_size)
{
    const tg_model_options d = TG_MODEL_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_MODEL_OPTIONS_V1_SIZE,
                           "tg_model_options");
}

/* Canonical name: strip "_orig_mod." and "transformer." prefixes. */
static const char *canonical(const char *name)
{
    if (strncmp(name, "_orig_mod.", 10) == 0)
        name += 10;
    if (strncmp(name, "transformer.", 12) == 0)
        name += 12;
    return name;
}

static int is_ignored_buffer(const char *cname)
{
    return g_str_has_suffix(cname, ".attn.bias") || g_str_has_suffix(cname, ".attn.masked_bias");
}

typedef struct loader {
    const char *file;
    GHashTable *by_cname; /* canonical name -> tensor */
    GHashTable *used;     /* set of tensors consumed */
    uint64_t n_params;
} loader;

static tg_status shape_error(const loader *ld, const tg_st_tensor *t, int64_t d0, int64_t d1,
                             int nd, const char *why)
{
    char have[96] = "", *p = have;
    for (int i = 0; i < t->ndim; i++)
        p += snprintf(p, (size_t)(have + sizeof have - p), "%s%lld", i ? ", " : "",
                      (long long)t->shape[i]);
    if (nd == 1)
        return tg__error(TG_EFORMAT,
                         "%s: tensor '%s' has shape [%s] but config.json implies [%lld] (%s)",
                         ld->file, t->name, have, (long long)d0, why);
    return tg__error(TG_EFORMAT,
                     "%s: tensor '%s' has shape [%s] but config.json implies [%lld, %lld] (%s)",
                     ld->file, t->name, have, (long long)d0, (long long)d1, why);
}

/* Find tensor `name`, check its shape ([d0] when nd == 1). Optional tensors may be absent. */
static tg_status take(const tg_st_tensor **out, loader *ld, const char *name, int nd, int64_t d0,
                      int64_t d1, int optional, const char *why)
{
    *out = NULL;
    const tg_st_tensor *t = g_hash_table_lookup(ld->by_cname, name);
    if (!t) {
        if (optional)
            return TG_OK;
        return tg__error(TG_ENOTFOUND, "%s: missing tensor '%s' (or 'transformer.%s')", ld->file,
                         name, name);
    }
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1))
        return shape_error(ld, t, d0, d1, nd, why);
    g_hash_table_add(ld->used, (gpointer)t);
    ld->n_params += (uint64_t)t->numel;
    *out = t;
    return TG_OK;
}

static tg_status map_tensors(struct tg_model *m, loader *ld)
{
    const tg_hparams *hp = &m->hp;
    const int64_t C = hp->n_embd, I = hp->n_inner, V = hp->n_vocab, P = hp->n_ctx;
    tg_model_src *s = &m->src;
    tg_status st;
    if ((st = take(&s->wte, ld, "wte.weight", 2, V, C, 0, "vocab_size x n_embd")) ||
        (st = take(&s->wpe, ld, "wpe.weight", 2, P, C, 0, "n_positions x n_embd")) ||
        (st = take(&s->lnf_w, ld, "ln_f.weight", 1, C, 0, 0, "n_embd")) ||
        (st = take(&s->lm_head, ld, "lm_head.weight", 2, V, C, 1, "vocab_size x n_embd")))
        return st;
    int has_bias = g_hash_table_contains(ld->by_cname, "h.0.attn.c_attn.bias");
    if ((st = take(&s->lnf_b, ld, "ln_f.bias", 1, C, 0, !has_bias, "n_embd")))
        return st;
    s->layers = calloc((size_t)hp->n_layer, sizeof *s->layers);
    if (!s->layers)
        return tg__error(TG_ENOMEM, "out of memory");
    for (int32_t i = 0; i < hp->n_layer; i++) {
        tg_layer_src *L = &s->layers[i];
        char n[12][64];
        static const char *const suffix[12] = {
            "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
            "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
            "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
        for (int k = 0; k < 12; k++)
            snprintf(n[k], sizeof n[k], "h.%d.%s", (int)i, suffix[k]);
        int ob = !has_bias;
        if ((st = take(&L->ln1_w, ld, n[0], 1, C, 0, 0, "n_embd")) ||
            (st = take(&L->ln1_b, ld, n[1], 1, C, 0, ob, "n_embd")) ||
            (st = take(&L->qkv_w, ld, n[2], 2, C, 3 * C, 0, "Conv1D [n_embd, 3*n_embd]")) ||
            (st = take(&L->qkv_b, ld, n[3], 1, 3 * C, 0, ob, "3*n_embd")) ||
            (st = take(&L->aproj_w, ld, n[4], 2, C, C, 0, "Conv1D [n_embd, n_embd]")) ||
            (st = take(&L->aproj_b, ld, n[5], 1, C, 0, ob, "n_embd")) ||
            (st = take(&L->ln2_w, ld, n[6], 1, C, 0, 0, "n_embd")) ||
            (st = take(&L->ln2_b, ld, n[7], 1, C, 0, ob, "n_embd")) ||
            (st = take(&L->fc_w, ld, n[8], 2, C, I, 0, "Conv1D [n_embd, n_inner]")) ||
            (st = take(&L->fc_b, ld, n[9], 1, I, 0, ob, "n_inner")) ||
            (st = take(&L->mproj_w, ld, n[10], 2, I, C, 0, "Conv1D [n_inner, n_embd]")) ||
            (st = take(&L->mproj_b, ld, n[11], 1, C, 0, ob, "n_embd")))
            return st;
    }
    /* Anything left over that is not a known buffer is suspicious but harmless: log it. */
    GHashTableIter it;
    gpointer key, val;
    g_hash_table_iter_init(&it, ld->by_cname);
    while (g_hash_table_iter_next(&it, &key, &val))
        if (!g_hash_table_contains(ld->used, val) && !is_ignored_buffer(key))
            tg__log(TG_LOG_WARN, "%s: tensor '%s' is not used by the gpt2 architecture", ld->file,
                    ((const tg_st_tensor *)val)->name);
    m->n_params = ld->n_params;
    return TG_OK;
}

static tg_status index_names(loader *ld, const tg_safetensors *st)
{
    for (size_t i = 0; i < st->n_tensors; i++) {
        const tg_st_tensor *t = &st->tensors[i];
        const char *c = canonical(t->name);
        const tg_st_tensor *prev = g_hash_table_lookup(ld->by_cname, c);
        if (prev)
            return tg__error(TG_EFORMAT, "%s: duplicate tensor: '%s' and '%s' both name '%s'",
                             ld->file, prev->name, t->name, c);
        g_hash_table_insert(ld->by_cname, (gpointer)c, (gpointer)t);
    }
    return TG_OK;
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
    m->end_ids = malloc((m->gen.n_eos + 2) * sizeof *m->end_ids);
    if (!m->end_ids)
        return tg__error(TG_ENOMEM, "out of memory");
    add_end_id(m, m->hp.eos_id);
    add_end_id(m, m->tokenizer ? tg_tokenizer_eos(m->tokenizer) : -1);
    m->n_end_base = m->n_end_all;
    for (size_t i = 0; i < m->gen.n_eos; i++)
        add_end_id(m, m->gen.eos_ids[i]);
    return TG_OK;
}

tg_status tg_model_end_ids(const int32_t **ids_out, size_t *n_out, const tg_model *model,
                           uint32_t flags)
{
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
    free(model->src.layers);
    tg__safetensors_close(&model->st);
    g_free(model->path);
    free(model);
}

static int file_dtype_is_bf16(const struct tg_model *m)
{
    return m->src.wte->dtype == TG_DT_BF16;
}

tg_status tg_model_load(tg_model **out, const char *dir, const tg_model_options *opts)
{
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
    loader ld = {wts, g_hash_table_new(g_str_hash, g_str_equal), g_hash_table_new(NULL, NULL), 0};
    tg_status st = tg__config_load(&m->hp, cfg);
    if (st == TG_OK)
        st = tg__safetensors_open(&m->st, wts);
    if (st == TG_OK)
        st = index_names(&ld, &m->st);
    if (st == TG_OK)
        st = map_tensors(m, &ld);
    if (st == TG_OK)
        st = tg__gen_defaults_load(&m->gen, dir, m->hp.n_vocab);
    if (st == TG_OK) {
        int found = 0;
        st = tg__tokenizer_load_dir(&m->tokenizer, dir, NULL, &found);
        if (st == TG_OK && m->tokenizer && tg_tokenizer_n_vocab(m->tokenizer) > m->hp.n_vocab)
            st = tg__error(TG_EFORMAT,
                           "%s: the tokenizer has %d tokens but the model only %d (vocab_size)",
                           dir, (int)tg_tokenizer_n_vocab(m->tokenizer), (int)m->hp.n_vocab);
    }
    if (st == TG_OK)
        st = collect_end_ids(m);
    if (st == TG_OK) {
        int bf16 = o.weight_type == TG_WEIGHTS_BF16 ||
                   (o.weight_type == TG_WEIGHTS_AUTO && file_dtype_is_bf16(m));
        m->weight_type = bf16 ? TG_WEIGHTS_BF16 : TG_WEIGHTS_F32;
        st = tg__backend_model_create(&m->backend, m, bf16);
    }
    g_hash_table_destroy(ld.by_cname);
    g_hash_table_destroy(ld.used);
    g_free(cfg);
    g_free(wts);
    if (st != TG_OK) {
        tg_model_free(m);
        return st;
    }
    tg__log(TG_LOG_INFO, "loaded %s: %d layers, %d heads, n_embd %d, vocab %d, %llu parameters",
            dir, m->hp.n_layer, m->hp.n_head, m->hp.n_embd, m->hp.n_vocab,
            (unsigned long long)m->n_params);
    *out = m;
    return TG_OK;
}

tg_status tg_model_get_info(tg_model_info *out, const tg_model *model)
{
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(model, "model");
    tg_model_info full = {
        .struct_size = sizeof full,
        .n_vocab = model->hp.n_vocab,
        .n_ctx = model->hp.n_ctx,
        .n_layer = model->hp.n_layer,
        .n_head = model->hp.n_head,
        .n_embd = model->hp.n_embd,
        .n_inner = model->hp.n_inner,
        .bos_id = model->hp.bos_id,
        .eos_id = model->hp.eos_id,
        .weight_type = model->weight_type,
        .n_params = model->n_params,
        .weight_bytes = tg__backend_model_weight_bytes(model->backend),
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
