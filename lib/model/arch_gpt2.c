/* model/arch_gpt2.c — GPT-2 (Hugging Face GPT2LMHeadModel, nanoGPT exports): learned positions,
 * LayerNorm, fused qkv, GELU MLP, Conv1D [in, out] matrices, biases everywhere or nowhere
 * (nanoGPT bias=False), output layer tied to wte unless lm_head.weight is given. */
#include "arch.h"
#include "core/error.h"

#include <string.h>

static tg_status read_config(tg_model_config *c, JsonObject *o, const char *path)
{
    static const char *const k_vocab[] = {"vocab_size", NULL};
    static const char *const k_ctx[] = {"n_positions", "max_position_embeddings", "n_ctx", NULL};
    static const char *const k_embd[] = {"n_embd", "hidden_size", NULL};
    static const char *const k_head[] = {"n_head", "num_attention_heads", NULL};
    static const char *const k_layer[] = {"n_layer", "num_hidden_layers", NULL};
    tg_net_hparams *hp = &c->hp;
    tg_status st;
    if ((st = tg__cfg_int(&hp->n_vocab, o, k_vocab, 1, 1 << 24, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_ctx, o, k_ctx, 1, 1 << 20, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_embd, o, k_embd, 1, 1 << 16, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_head, o, k_head, 1, 1 << 12, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_layer, o, k_layer, 1, 1 << 12, path)) != TG_OK)
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return tg__error(TG_EFORMAT, "%s: n_embd (%d) is not divisible by n_head (%d)", path,
                         hp->n_embd, hp->n_head);
    hp->n_kv_head = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    double eps;
    const char *act;
    if ((st = tg__cfg_int_or(&hp->n_ff, o, "n_inner", 4 * hp->n_embd, 1, 1 << 20, path)) != TG_OK ||
        (st = tg__cfg_num_or(&eps, o, "layer_norm_epsilon", 1e-5, 0, 1, path)) != TG_OK ||
        (st = tg__cfg_string_or(&act, o, "activation_function", "gelu_new", path)) != TG_OK ||
        (st = tg__cfg_bool_or(&c->tied, o, "tie_word_embeddings", 1, path)) != TG_OK ||
        (st = tg__cfg_token_id(&c->bos_id, o, "bos_token_id", -1, hp->n_vocab, path)) != TG_OK ||
        (st = tg__cfg_token_id(&c->eos_id, o, "eos_token_id", -1, hp->n_vocab, path)) != TG_OK)
        return st;
    /* What this wiring cannot express is refused by name. */
    if ((st = tg__cfg_require(o, "scale_attn_weights", 1, "true", path)) != TG_OK ||
        (st = tg__cfg_require(o, "scale_attn_by_inverse_layer_idx", 0, "false", path)) != TG_OK ||
        (st = tg__cfg_require(o, "add_cross_attention", 0, "false", path)) != TG_OK)
        return st;
    if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0 ||
        strcmp(act, "gelu_fast") == 0)
        hp->ffn = TG_FFN_GELU_TANH;
    else if (strcmp(act, "gelu") == 0)
        hp->ffn = TG_FFN_GELU_ERF;
    else
        return tg__error(TG_EUNSUPPORTED,
                         "%s: activation_function \"%s\" is not supported (supported: gelu_new, "
                         "gelu_pytorch_tanh, gelu)",
                         path, act);
    hp->norm = TG_NORM_LAYER;
    hp->norm_eps = (float)eps;
    hp->pos = TG_POS_LEARNED;
    hp->layout = TG_MAT_IN_OUT;
    return TG_OK;
}

/* nanoGPT's bias=False drops every bias, LayerNorm's too; HF GPT-2 has them all. */
static void probe(tg_model_config *c, const tg_tensor_index *ix)
{
    const int bias = tg__index_has(ix, "h.0.attn.c_attn.bias");
    c->qkv_bias = c->out_bias = c->ffn_bias = c->norm_bias = bias;
}

static const tg_tensor_name names[] = {
    {TG_T_TOK_EMBD, "wte.weight", TG_NEED_ALWAYS},
    {TG_T_POS_EMBD, "wpe.weight", TG_NEED_ALWAYS},
    {TG_T_OUT_NORM, "ln_f.weight", TG_NEED_ALWAYS},
    {TG_T_OUTPUT, "lm_head.weight", TG_NEED_UNTIED},
    {TG_T_OUT_NORM_B, "ln_f.bias", TG_NEED_NORM_BIAS},
    {TG_T_ATTN_NORM, "h.%d.ln_1.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_NORM_B, "h.%d.ln_1.bias", TG_NEED_NORM_BIAS},
    {TG_T_ATTN_QKV, "h.%d.attn.c_attn.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_QKV_B, "h.%d.attn.c_attn.bias", TG_NEED_QKV_BIAS},
    {TG_T_ATTN_OUT, "h.%d.attn.c_proj.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_OUT_B, "h.%d.attn.c_proj.bias", TG_NEED_OUT_BIAS},
    {TG_T_FFN_NORM, "h.%d.ln_2.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_NORM_B, "h.%d.ln_2.bias", TG_NEED_NORM_BIAS},
    {TG_T_FFN_UP, "h.%d.mlp.c_fc.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_UP_B, "h.%d.mlp.c_fc.bias", TG_NEED_FFN_BIAS},
    {TG_T_FFN_DOWN, "h.%d.mlp.c_proj.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_DOWN_B, "h.%d.mlp.c_proj.bias", TG_NEED_FFN_BIAS},
    {TG_T_N_ROLES, NULL, TG_NEED_ALWAYS},
};

static const char *const prefixes[] = {"_orig_mod.", "transformer.", NULL};
static const char *const buffers[] = {".attn.bias", ".attn.masked_bias", NULL};

const tg_arch tg__arch_gpt2 = {
    .model_type = "gpt2",
    .strip_prefixes = prefixes,
    .alt_prefix = "transformer.",
    .buffer_suffixes = buffers,
    .names = names,
    .role_names = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "lm_head"},
    .dims = {"vocab_size", "n_embd", "n_head", "n_head", "n_embd / n_head", "n_inner",
             "n_positions"},
    .read_config = read_config,
    .probe = probe,
};
