/* model/arch.c — the architecture registry and the binder: a tensor-name table plus a
 * safetensors file become the backend's tg_net. Every tensor's shape is checked against the
 * hyper-parameters, and a file may hold nothing the architecture does not use (a config.json
 * that says 2 layers for a file of 4 is refused, not half-run). */
#include "core/alloc.h"
#include "arch.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tg_arch *const registry[] = {&tg__arch_gpt2, &tg__arch_llama, &tg__arch_qwen2};
#define N_ARCH (sizeof registry / sizeof registry[0])

const tg_arch *tg__arch_find(const char *model_type)
{
    for (size_t i = 0; i < N_ARCH; i++)
        if (strcmp(registry[i]->model_type, model_type) == 0)
            return registry[i];
    return NULL;
}

void tg__arch_list(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_ARCH && n < size; i++)
        n +=
            (size_t)snprintf(buf + n, size - n, "%s\"%s\"", i ? ", " : "", registry[i]->model_type);
}

struct tg_tensor_index {
    GHashTable *by_name; /* name without prefixes -> tensor (F32, F16, BF16) */
    GHashTable *others;  /* name without prefixes -> dtype, for the file's other tensors */
};

int tg__index_has(const tg_tensor_index *ix, const char *name)
{
    return g_hash_table_contains(ix->by_name, name) || g_hash_table_contains(ix->others, name);
}

static const char *strip(const tg_arch *a, const char *name)
{
    for (const char *const *p = a->strip_prefixes; p && *p; p++)
        if (strncmp(name, *p, strlen(*p)) == 0)
            name += strlen(*p);
    return name;
}

static int is_buffer(const tg_arch *a, const char *name)
{
    for (const char *const *s = a->buffer_suffixes; s && *s; s++)
        if (g_str_has_suffix(name, *s))
            return 1;
    return 0;
}

typedef struct binder {
    const tg_arch *arch;
    const tg_model_config *cfg;
    const char *file;
    tg_tensor_index ix;
    GHashTable *used; /* tensors consumed */
    tg_bound *out;
} binder;

static int needed(const binder *b, tg_need need)
{
    const tg_model_config *c = b->cfg;
    switch (need) {
    case TG_NEED_ALWAYS:
        return 1;
    case TG_NEED_QKV_BIAS:
        return c->qkv_bias;
    case TG_NEED_OUT_BIAS:
        return c->out_bias;
    case TG_NEED_FFN_BIAS:
        return c->ffn_bias;
    case TG_NEED_NORM_BIAS:
        return c->norm_bias;
    case TG_NEED_UNTIED:
        return !c->tied;
    }
    return 1;
}

/* The shape a role must have ([d0] or [d0, d1]) and what it is made of, in config.json's words
 * (written to why[n]). Returns the rank (0 for no tensor role). */
static int expected(tg_tensor_role role, const tg_net_hparams *hp, const tg_dim_names *k,
                    int64_t *d0, int64_t *d1, char *why, size_t n)
{
    const int64_t C = hp->n_embd, V = hp->n_vocab, F = hp->n_ff,
                  HD = (int64_t)hp->n_head * hp->head_dim,
                  KD = (int64_t)hp->n_kv_head * hp->head_dim, QKV = HD + 2 * KD;
    char q[64], kv[64], qkv[96];
    snprintf(q, sizeof q, "%s x %s", k->heads, k->head_dim);
    snprintf(kv, sizeof kv, "%s x %s", k->kv_heads, k->head_dim);
    snprintf(qkv, sizeof qkv, "(%s + 2 %s) x %s", k->heads, k->kv_heads, k->head_dim);
    int64_t in = C, outw = 0; /* matrices: input and output width */
    const char *in_w = k->hidden, *out_w = "";
    switch (role) {
    case TG_T_TOK_EMBD:
    case TG_T_OUTPUT:
        *d0 = V, *d1 = C;
        snprintf(why, n, "%s x %s", k->vocab, k->hidden);
        return 2;
    case TG_T_POS_EMBD:
        *d0 = hp->n_ctx, *d1 = C;
        snprintf(why, n, "%s x %s", k->positions, k->hidden);
        return 2;
    case TG_T_OUT_NORM:
    case TG_T_OUT_NORM_B:
    case TG_T_ATTN_NORM:
    case TG_T_ATTN_NORM_B:
    case TG_T_FFN_NORM:
    case TG_T_FFN_NORM_B:
    case TG_T_ATTN_OUT_B:
    case TG_T_FFN_DOWN_B:
        *d0 = C;
        snprintf(why, n, "%s", k->hidden);
        return 1;
    case TG_T_ATTN_QKV_B:
        *d0 = QKV;
        snprintf(why, n, "%s", qkv);
        return 1;
    case TG_T_ATTN_Q_B:
        *d0 = HD;
        snprintf(why, n, "%s", q);
        return 1;
    case TG_T_ATTN_K_B:
    case TG_T_ATTN_V_B:
        *d0 = KD;
        snprintf(why, n, "%s", kv);
        return 1;
    case TG_T_FFN_GATE_B:
    case TG_T_FFN_UP_B:
        *d0 = F;
        snprintf(why, n, "%s", k->ff);
        return 1;
    case TG_T_ATTN_QKV:
        outw = QKV, out_w = qkv;
        break;
    case TG_T_ATTN_Q:
        outw = HD, out_w = q;
        break;
    case TG_T_ATTN_K:
    case TG_T_ATTN_V:
        outw = KD, out_w = kv;
        break;
    case TG_T_ATTN_OUT:
        in = HD, in_w = q, outw = C, out_w = k->hidden;
        break;
    case TG_T_FFN_GATE:
    case TG_T_FFN_UP:
        outw = F, out_w = k->ff;
        break;
    case TG_T_FFN_DOWN:
        in = F, in_w = k->ff, outw = C, out_w = k->hidden;
        break;
    case TG_T_N_ROLES:
        return 0;
    }
    if (hp->layout == TG_MAT_IN_OUT) {
        *d0 = in, *d1 = outw;
        snprintf(why, n, "%s x %s, stored [in, out]", in_w, out_w);
    } else {
        *d0 = outw, *d1 = in;
        snprintf(why, n, "%s x %s, stored [out, in]", out_w, in_w);
    }
    return 2;
}

static tg_status shape_error(const binder *b, const tg_tensor *t, int nd, int64_t d0, int64_t d1,
                             const char *why)
{
    char have[96] = "", *p = have;
    for (int i = 0; i < t->ndim; i++)
        p += snprintf(p, (size_t)(have + sizeof have - p), "%s%lld", i ? ", " : "",
                      (long long)t->shape[i]);
    if (nd == 1)
        return tg__error(TG_EFORMAT,
                         "%s: tensor '%s' has shape [%s] but config.json implies [%lld] (%s)",
                         b->file, t->name, have, (long long)d0, why);
    return tg__error(TG_EFORMAT,
                     "%s: tensor '%s' has shape [%s] but config.json implies [%lld, %lld] (%s)",
                     b->file, t->name, have, (long long)d0, (long long)d1, why);
}

/* Where a bound tensor goes in the net. */
static void place(tg_net *net, tg_tensor_role role, int32_t layer, const tg_tensor *t)
{
    tg_net_layer *L = layer >= 0 ? &net->layers[layer] : NULL;
    const int gated = net->hp.ffn == TG_FFN_SILU_GATED;
    switch (role) {
    case TG_T_TOK_EMBD:
        net->tok_embd = t;
        break;
    case TG_T_POS_EMBD:
        net->pos_embd = t;
        break;
    case TG_T_OUT_NORM:
        net->out_norm_w = t;
        break;
    case TG_T_OUT_NORM_B:
        net->out_norm_b = t;
        break;
    case TG_T_OUTPUT:
        net->output = t;
        break;
    case TG_T_ATTN_NORM:
        L->attn_norm_w = t;
        break;
    case TG_T_ATTN_NORM_B:
        L->attn_norm_b = t;
        break;
    case TG_T_ATTN_QKV:
    case TG_T_ATTN_Q:
        L->qkv.w[0] = t;
        break;
    case TG_T_ATTN_QKV_B:
    case TG_T_ATTN_Q_B:
        L->qkv.b[0] = t;
        break;
    case TG_T_ATTN_K:
        L->qkv.w[1] = t;
        break;
    case TG_T_ATTN_K_B:
        L->qkv.b[1] = t;
        break;
    case TG_T_ATTN_V:
        L->qkv.w[2] = t;
        break;
    case TG_T_ATTN_V_B:
        L->qkv.b[2] = t;
        break;
    case TG_T_ATTN_OUT:
        L->attn_out.w[0] = t;
        break;
    case TG_T_ATTN_OUT_B:
        L->attn_out.b[0] = t;
        break;
    case TG_T_FFN_NORM:
        L->ffn_norm_w = t;
        break;
    case TG_T_FFN_NORM_B:
        L->ffn_norm_b = t;
        break;
    case TG_T_FFN_GATE:
        L->ffn_up.w[0] = t;
        break;
    case TG_T_FFN_GATE_B:
        L->ffn_up.b[0] = t;
        break;
    case TG_T_FFN_UP:
        L->ffn_up.w[gated ? 1 : 0] = t;
        break;
    case TG_T_FFN_UP_B:
        L->ffn_up.b[gated ? 1 : 0] = t;
        break;
    case TG_T_FFN_DOWN:
        L->ffn_down.w[0] = t;
        break;
    case TG_T_FFN_DOWN_B:
        L->ffn_down.b[0] = t;
        break;
    case TG_T_N_ROLES:
        break;
    }
}

static int same_contents(const tg_tensor *a, const tg_tensor *b)
{
    return a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes &&
           memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
           memcmp(a->data, b->data, a->nbytes) == 0;
}

static tg_status bind_one(binder *b, const tg_tensor_name *e, int32_t layer)
{
    char name[160];
    if (layer >= 0)
        snprintf(name, sizeof name, e->name, (int)layer);
    else
        snprintf(name, sizeof name, "%s", e->name);
    const tg_tensor *t = g_hash_table_lookup(b->ix.by_name, name);
    const int need = needed(b, e->need);
    if (!need) {
        /* A tied output layer may still be in the file as a copy of the embeddings. */
        if (t && e->need == TG_NEED_UNTIED) {
            const tg_tensor *emb = b->out->net.tok_embd;
            if (!emb || !same_contents(t, emb))
                return tg__error(TG_EFORMAT,
                                 "%s: tensor '%s' differs from the token embeddings but "
                                 "config.json ties them (tie_word_embeddings)",
                                 b->file, t->name);
            g_hash_table_add(b->used, (gpointer)t);
        }
        return TG_OK; /* a present but unneeded tensor is reported as unused */
    }
    if (!t) {
        const char *dt = g_hash_table_lookup(b->ix.others, name);
        if (dt)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16",
                             b->file, name, dt);
        if (b->arch->alt_prefix)
            return tg__error(TG_ENOTFOUND, "%s: missing tensor '%s' (or '%s%s')", b->file, name,
                             b->arch->alt_prefix, name);
        return tg__error(TG_ENOTFOUND, "%s: missing tensor '%s'", b->file, name);
    }
    int64_t d0 = 0, d1 = 0;
    char why[256];
    const int nd = expected(e->role, &b->cfg->hp, &b->arch->dims, &d0, &d1, why, sizeof why);
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1))
        return shape_error(b, t, nd, d0, d1, why);
    g_hash_table_add(b->used, (gpointer)t);
    b->out->n_params += (uint64_t)t->numel;
    place(&b->out->net, e->role, layer, t);
    return TG_OK;
}

static tg_status check_all_used(binder *b, const tg_safetensors *st)
{
    const char *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const tg_tensor *t = &st->tensors[i];
        if (!g_hash_table_contains(b->used, t) && !is_buffer(b->arch, t->name) && n++ == 0)
            first = t->name;
    }
    for (size_t i = 0; i < st->n_other; i++)
        if (!is_buffer(b->arch, st->other[i]) && n++ == 0)
            first = st->other[i];
    if (!n)
        return TG_OK;
    return tg__error(TG_EFORMAT,
                     "%s: tensor '%s' is not used by architecture %s as config.json describes it "
                     "(%zu unused tensor%s; wrong num_hidden_layers/n_layer, bias or "
                     "tie_word_embeddings setting?)",
                     b->file, first, b->arch->model_type, n, n == 1 ? "" : "s");
}

static tg_status index_names(binder *b, const tg_safetensors *st)
{
    for (size_t i = 0; i < st->n_tensors; i++) {
        const tg_tensor *t = &st->tensors[i];
        const char *c = strip(b->arch, t->name);
        const tg_tensor *prev = g_hash_table_lookup(b->ix.by_name, c);
        if (prev)
            return tg__error(TG_EFORMAT, "%s: duplicate tensor: '%s' and '%s' both name '%s'",
                             b->file, prev->name, t->name, c);
        g_hash_table_insert(b->ix.by_name, (gpointer)c, (gpointer)t);
    }
    for (size_t i = 0; i < st->n_other; i++)
        g_hash_table_insert(b->ix.others, (gpointer)strip(b->arch, st->other[i]),
                            st->other_dtype[i]);
    return TG_OK;
}

tg_status tg__arch_bind(tg_bound *out, const tg_arch *arch, tg_model_config *cfg,
                        const tg_safetensors *st)
{
    memset(out, 0, sizeof *out);
    binder b = {.arch = arch,
                .cfg = cfg,
                .file = st->path,
                .ix = {g_hash_table_new(g_str_hash, g_str_equal),
                       g_hash_table_new(g_str_hash, g_str_equal)},
                .used = g_hash_table_new(NULL, NULL),
                .out = out};
    tg_status st_ = index_names(&b, st);
    if (st_ == TG_OK && arch->probe)
        arch->probe(cfg, &b.ix);
    out->net.hp = cfg->hp;
    for (int r = 0; r < TG_N_ROLES; r++)
        out->net.role_names[r] = arch->role_names[r];
    out->net.layers = tg__calloc((size_t)cfg->hp.n_layer, sizeof *out->net.layers);
    if (st_ == TG_OK && !out->net.layers)
        st_ = tg__error(TG_ENOMEM, "out of memory");
    for (size_t k = 0; st_ == TG_OK && arch->names[k].name; k++)
        if (arch->names[k].role < TG_T_ATTN_NORM)
            st_ = bind_one(&b, &arch->names[k], -1);
    for (int32_t l = 0; st_ == TG_OK && l < cfg->hp.n_layer; l++)
        for (size_t k = 0; st_ == TG_OK && arch->names[k].name; k++)
            if (arch->names[k].role >= TG_T_ATTN_NORM)
                st_ = bind_one(&b, &arch->names[k], l);
    if (st_ == TG_OK)
        st_ = check_all_used(&b, st);
    g_hash_table_destroy(b.ix.by_name);
    g_hash_table_destroy(b.ix.others);
    g_hash_table_destroy(b.used);
    if (st_ != TG_OK)
        tg__bound_clear(out);
    return st_;
}

void tg__bound_clear(tg_bound *b)
{
    free(b->net.layers);
    memset(b, 0, sizeof *b);
}
