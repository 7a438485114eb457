/* model/arch_llama.c — Llama (Hugging Face LlamaForCausalLM: Llama 2/3, TinyLlama, SmolLM):
 * RMSNorm, rotary embeddings (rotate-half, optional linear or llama3 scaling), grouped-query
 * attention, SiLU-gated MLP, nn.Linear [out, in] matrices, optional attention and MLP biases,
 * tied or untied output layer. */
#include "arch.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

/* rope_scaling (or the newer rope_parameters) -> params. */
static tg_status read_rope(tg_rope_params *r, JsonObject *o, const char *path)
{
    tg_status st;
    JsonObject *rs = NULL;
    const char *key = NULL;
    if (tg__json_has(o, "rope_parameters"))
        key = "rope_parameters";
    else if (tg__json_has(o, "rope_scaling"))
        key = "rope_scaling";
    if ((st = tg__cfg_num_or(&r->theta, o, "rope_theta", 10000.0, 0, 1e12, path)) != TG_OK)
        return st;
    r->scaling = TG_ROPE_NONE;
    if (!key)
        return TG_OK;
    JsonNode *n = json_object_get_member(o, key);
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be an object", path, key);
    rs = json_node_get_object(n);
    char where[64];
    snprintf(where, sizeof where, "%s (in \"%s\")", path, key);
    const char *type = "default";
    if ((st = tg__cfg_string_or(&type, rs, "rope_type", NULL, where)) != TG_OK)
        return st;
    if (!type && (st = tg__cfg_string_or(&type, rs, "type", "default", where)) != TG_OK)
        return st;
    if (tg__json_has(rs, "rope_theta") &&
        (st = tg__cfg_num_or(&r->theta, rs, "rope_theta", 10000.0, 0, 1e12, where)) != TG_OK)
        return st;
    if ((st = tg__cfg_require(rs, "partial_rotary_factor", 1, "1", where)) != TG_OK)
        return st;
    if (strcmp(type, "default") == 0)
        return TG_OK;
    if (strcmp(type, "linear") == 0 || strcmp(type, "llama3") == 0) {
        if (!tg__json_has(rs, "factor"))
            return tg__error(TG_ENOTFOUND, "%s: missing field \"factor\"", where);
        if ((st = tg__cfg_num_or(&r->factor, rs, "factor", 1.0, 0, 1e6, where)) != TG_OK)
            return st;
        r->scaling = TG_ROPE_LINEAR;
        if (strcmp(type, "linear") == 0)
            return TG_OK;
        r->scaling = TG_ROPE_LLAMA3;
        static const char *const k_orig[] = {"original_max_position_embeddings", NULL};
        int32_t orig;
        if ((st = tg__cfg_num_or(&r->low_freq_factor, rs, "low_freq_factor", 1.0, 0, 1e6, where)) !=
                TG_OK ||
            (st = tg__cfg_num_or(&r->high_freq_factor, rs, "high_freq_factor", 4.0, 0, 1e6,
                                 where)) != TG_OK ||
            (st = tg__cfg_int(&orig, rs, k_orig, 1, 1 << 30, where)) != TG_OK)
            return st;
        if (!(r->high_freq_factor > r->low_freq_factor))
            return tg__error(TG_ERANGE, "%s: high_freq_factor %g must exceed low_freq_factor %g",
                             where, r->high_freq_factor, r->low_freq_factor);
        r->original_ctx = orig;
        return TG_OK;
    }
    return tg__error(TG_EUNSUPPORTED,
                     "%s: rope type \"%s\" is not supported (supported: default, linear, llama3)",
                     where, type);
}

tg_status tg__llama_read_config(tg_model_config *c, JsonObject *o, const char *path,
                                const tg_llama_variant *v)
{
    static const char *const k_vocab[] = {"vocab_size", NULL};
    static const char *const k_embd[] = {"hidden_size", NULL};
    static const char *const k_ff[] = {"intermediate_size", NULL};
    static const char *const k_layer[] = {"num_hidden_layers", NULL};
    static const char *const k_head[] = {"num_attention_heads", NULL};
    tg_net_hparams *hp = &c->hp;
    tg_status st;
    if ((st = tg__cfg_int(&hp->n_vocab, o, k_vocab, 1, 1 << 24, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_embd, o, k_embd, 1, 1 << 16, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_ff, o, k_ff, 1, 1 << 20, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_layer, o, k_layer, 1, 1 << 12, path)) != TG_OK ||
        (st = tg__cfg_int(&hp->n_head, o, k_head, 1, 1 << 12, path)) != TG_OK)
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return tg__error(TG_EFORMAT,
                         "%s: hidden_size (%d) is not divisible by num_attention_heads (%d)", path,
                         hp->n_embd, hp->n_head);
    double eps;
    const char *act;
    int32_t attn_bias, mlp_bias;
    if ((st = tg__cfg_int_or(&hp->n_kv_head, o, "num_key_value_heads", hp->n_head, 1, hp->n_head,
                             path)) != TG_OK ||
        (st = tg__cfg_int_or(&hp->head_dim, o, "head_dim", hp->n_embd / hp->n_head, 2, 1 << 12,
                             path)) != TG_OK ||
        (st = tg__cfg_int_or(&hp->n_ctx, o, "max_position_embeddings", v->max_positions, 1, 1 << 24,
                             path)) != TG_OK ||
        (st = tg__cfg_num_or(&eps, o, "rms_norm_eps", 1e-6, 0, 1, path)) != TG_OK ||
        (st = tg__cfg_string_or(&act, o, "hidden_act", "silu", path)) != TG_OK ||
        (st = tg__cfg_bool_or(&c->tied, o, "tie_word_embeddings", 0, path)) != TG_OK ||
        (st = tg__cfg_bool_or(&attn_bias, o, "attention_bias", 0, path)) != TG_OK ||
        (st = tg__cfg_bool_or(&mlp_bias, o, "mlp_bias", 0, path)) != TG_OK ||
        (st = read_rope(&hp->rope, o, path)) != TG_OK)
        return st;
    const int32_t bos = v->bos_id < hp->n_vocab ? v->bos_id : -1,
                  eos = v->eos_id < hp->n_vocab ? v->eos_id : -1;
    if ((st = tg__cfg_token_id(&c->bos_id, o, "bos_token_id", bos, hp->n_vocab, path)) != TG_OK ||
        (st = tg__cfg_token_id(&c->eos_id, o, "eos_token_id", eos, hp->n_vocab, path)) != TG_OK)
        return st;
    if (hp->n_head % hp->n_kv_head != 0)
        return tg__error(TG_EFORMAT,
                         "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads "
                         "(%d)",
                         path, hp->n_head, hp->n_kv_head);
    if (hp->head_dim % 2 != 0)
        return tg__error(TG_EFORMAT, "%s: head_dim (%d) must be even for rotary embeddings", path,
                         hp->head_dim);
    if (strcmp(act, "silu") != 0)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: hidden_act \"%s\" is not supported (supported: silu)", path, act);
    if ((st = tg__cfg_require(o, "partial_rotary_factor", 1, "1", path)) != TG_OK)
        return st;
    hp->norm = TG_NORM_RMS;
    hp->norm_eps = (float)eps;
    hp->ffn = TG_FFN_SILU_GATED;
    hp->pos = TG_POS_ROPE_HALF;
    hp->layout = TG_MAT_OUT_IN;
    c->qkv_bias = v->fixed_qkv_bias >= 0 ? v->fixed_qkv_bias : attn_bias;
    c->out_bias = v->fixed_out_bias >= 0 ? v->fixed_out_bias : attn_bias;
    c->ffn_bias = mlp_bias;
    c->norm_bias = 0;
    return TG_OK;
}

const tg_tensor_name tg__llama_names[] = {
    {TG_T_TOK_EMBD, "model.embed_tokens.weight", TG_NEED_ALWAYS},
    {TG_T_OUT_NORM, "model.norm.weight", TG_NEED_ALWAYS},
    {TG_T_OUTPUT, "lm_head.weight", TG_NEED_UNTIED},
    {TG_T_ATTN_NORM, "model.layers.%d.input_layernorm.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_Q, "model.layers.%d.self_attn.q_proj.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_Q_B, "model.layers.%d.self_attn.q_proj.bias", TG_NEED_QKV_BIAS},
    {TG_T_ATTN_K, "model.layers.%d.self_attn.k_proj.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_K_B, "model.layers.%d.self_attn.k_proj.bias", TG_NEED_QKV_BIAS},
    {TG_T_ATTN_V, "model.layers.%d.self_attn.v_proj.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_V_B, "model.layers.%d.self_attn.v_proj.bias", TG_NEED_QKV_BIAS},
    {TG_T_ATTN_OUT, "model.layers.%d.self_attn.o_proj.weight", TG_NEED_ALWAYS},
    {TG_T_ATTN_OUT_B, "model.layers.%d.self_attn.o_proj.bias", TG_NEED_OUT_BIAS},
    {TG_T_FFN_NORM, "model.layers.%d.post_attention_layernorm.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_GATE, "model.layers.%d.mlp.gate_proj.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_GATE_B, "model.layers.%d.mlp.gate_proj.bias", TG_NEED_FFN_BIAS},
    {TG_T_FFN_UP, "model.layers.%d.mlp.up_proj.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_UP_B, "model.layers.%d.mlp.up_proj.bias", TG_NEED_FFN_BIAS},
    {TG_T_FFN_DOWN, "model.layers.%d.mlp.down_proj.weight", TG_NEED_ALWAYS},
    {TG_T_FFN_DOWN_B, "model.layers.%d.mlp.down_proj.bias", TG_NEED_FFN_BIAS},
    {TG_T_N_ROLES, NULL, TG_NEED_ALWAYS},
};

static tg_status read_config(tg_model_config *c, JsonObject *o, const char *path)
{
    /* LlamaConfig's defaults: 2048 positions, bos 1, eos 2, attention_bias decides. */
    static const tg_llama_variant llama = {2048, 1, 2, -1, -1};
    return tg__llama_read_config(c, o, path, &llama);
}

/* Old checkpoints saved the rotary frequencies; they are recomputed from config.json. */
static const char *const buffers[] = {".rotary_emb.inv_freq", NULL};

const tg_arch tg__arch_llama = {
    .model_type = "llama",
    .buffer_suffixes = buffers,
    .names = tg__llama_names,
    .role_names = {"self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj",
                   "lm_head"},
    .dims = {"vocab_size", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
             "intermediate_size", "max_position_embeddings"},
    .read_config = read_config,
};
