/* model/arch_qwen2.c — Qwen2 (Hugging Face Qwen2ForCausalLM: Qwen2, Qwen2.5): Llama's block with
 * biases on q, k and v (never on o_proj or the MLP), the same tensor names, and sliding-window
 * attention, which is refused when a layer would use it. */
#include "arch.h"
#include "core/error.h"

#include <string.h>

static tg_status read_config(tg_model_config *c, JsonObject *o, const char *path)
{
    /* Qwen2Config's defaults: 32768 positions, no bos/eos, q/k/v biases, none on o_proj. */
    static const tg_llama_variant qwen2 = {32768, -1, -1, 1, 0};
    tg_status st = tg__llama_read_config(c, o, path, &qwen2);
    if (st != TG_OK)
        return st;
    int32_t sliding, max_window_layers;
    if ((st = tg__cfg_bool_or(&sliding, o, "use_sliding_window", 0, path)) != TG_OK ||
        (st = tg__cfg_int_or(&max_window_layers, o, "max_window_layers", 28, 0, 1 << 12, path)) !=
            TG_OK)
        return st;
    if (sliding && max_window_layers < c->hp.n_layer)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: use_sliding_window true (layers from max_window_layers = %d on use "
                         "sliding-window attention) is not supported",
                         path, max_window_layers);
    JsonNode *lt = json_object_get_member(o, "layer_types");
    if (lt && JSON_NODE_HOLDS_ARRAY(lt)) {
        JsonArray *a = json_node_get_array(lt);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            const char *t = json_node_get_string(json_array_get_element(a, i));
            if (t && strcmp(t, "full_attention") != 0)
                return tg__error(TG_EUNSUPPORTED,
                                 "%s: layer_types[%u] \"%s\" is not supported (supported: "
                                 "full_attention)",
                                 path, i, t);
        }
    }
    return TG_OK;
}

static const char *const buffers[] = {".rotary_emb.inv_freq", NULL};

const tg_arch tg__arch_qwen2 = {
    .model_type = "qwen2",
    .buffer_suffixes = buffers,
    .names = tg__llama_names, /* Qwen2 names its tensors as Llama does */
    .role_names = {"self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj",
                   "lm_head"},
    .dims = {"vocab_size", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
             "intermediate_size", "max_position_embeddings"},
    .read_config = read_config,
};
