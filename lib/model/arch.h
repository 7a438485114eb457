/* model/arch.h — internal: architectures. An architecture is one file (arch_<name>.c) holding a
 * tg_arch: how to read its config.json into hyper-parameters and block wiring, and its
 * tensor-name table (role -> name, when it must be present). The binder (arch.c) turns a table
 * and a safetensors file into the backend's tg_net, checking every shape and refusing tensors
 * the architecture does not use. Register a new tg_arch in arch.c's list. */
#ifndef TG_MODEL_ARCH_H
#define TG_MODEL_ARCH_H

#include "config.h"
#include "safetensors.h"

/* What a tensor is. Roles from TG_T_ATTN_NORM on exist once per layer ("%d" in the name). */
typedef enum tg_tensor_role {
    TG_T_TOK_EMBD = 0, /* [n_vocab, n_embd] */
    TG_T_POS_EMBD,     /* [n_ctx, n_embd] */
    TG_T_OUT_NORM,
    TG_T_OUT_NORM_B,
    TG_T_OUTPUT, /* [n_vocab, n_embd] */
    TG_T_ATTN_NORM,
    TG_T_ATTN_NORM_B,
    TG_T_ATTN_QKV, /* fused q | k | v */
    TG_T_ATTN_QKV_B,
    TG_T_ATTN_Q,
    TG_T_ATTN_Q_B,
    TG_T_ATTN_K,
    TG_T_ATTN_K_B,
    TG_T_ATTN_V,
    TG_T_ATTN_V_B,
    TG_T_ATTN_OUT,
    TG_T_ATTN_OUT_B,
    TG_T_FFN_NORM,
    TG_T_FFN_NORM_B,
    TG_T_FFN_GATE, /* gated MLP: silu(gate) * up */
    TG_T_FFN_GATE_B,
    TG_T_FFN_UP, /* GELU MLP: the only input matrix */
    TG_T_FFN_UP_B,
    TG_T_FFN_DOWN,
    TG_T_FFN_DOWN_B,
    TG_T_N_ROLES
} tg_tensor_role;

/* When a table entry must be in the file (otherwise it must not be). */
typedef enum tg_need {
    TG_NEED_ALWAYS = 0,
    TG_NEED_QKV_BIAS,  /* tg_model_config.qkv_bias */
    TG_NEED_OUT_BIAS,  /* .out_bias */
    TG_NEED_FFN_BIAS,  /* .ffn_bias */
    TG_NEED_NORM_BIAS, /* .norm_bias */
    TG_NEED_UNTIED     /* !.tied; when tied, a copy equal to the embeddings is accepted */
} tg_need;

typedef struct tg_tensor_name {
    tg_tensor_role role;
    const char *name; /* printf pattern with one %d for per-layer roles */
    tg_need need;
} tg_tensor_name;

/* A file's tensors for the binder: by name (after stripping prefixes). */
typedef struct tg_tensor_index tg_tensor_index;
int tg__index_has(const tg_tensor_index *ix, const char *name);

/* config.json's names for the dimensions tensor shapes are made of (for error messages). */
typedef struct tg_dim_names {
    const char *vocab, *hidden, *heads, *kv_heads, *head_dim, *ff, *positions;
} tg_dim_names;

typedef struct tg_arch {
    const char *model_type;             /* config.json "model_type" */
    const char *const *strip_prefixes;  /* removed from file names, in order (NULL-terminated) */
    const char *alt_prefix;             /* named in "missing tensor" errors, or NULL */
    const char *const *buffer_suffixes; /* non-weight buffers a file may hold: skipped */
    const tg_tensor_name *names; /* globals first, then one layer's roles; ends with name NULL */
    const char *role_names[TG_N_ROLES]; /* the linear layers in the architecture's words */
    tg_dim_names dims;
    /* Fill hyper-parameters, wiring, token ids and flags from config.json. */
    tg_status (*read_config)(tg_model_config *out, JsonObject *o, const char *path);
    /* Optional: settle what the config leaves to the file (GPT-2: whether biases exist). */
    void (*probe)(tg_model_config *cfg, const tg_tensor_index *ix);
} tg_arch;

const tg_arch *tg__arch_find(const char *model_type);
/* "\"gpt2\", \"llama\", ..." into buf. */
void tg__arch_list(char *buf, size_t size);

/* What binding produces: the net (its tensors point into the file) and the parameter count. */
typedef struct tg_bound {
    tg_net net;
    uint64_t n_params; /* tensors used, a tied matrix counted once */
} tg_bound;

/* Bind `st`'s tensors to `arch`'s table under `cfg` (probe may update cfg). Errors name the
 * file and the tensor: missing (TG_ENOTFOUND), wrong shape or unused (TG_EFORMAT). */
tg_status tg__arch_bind(tg_bound *out, const tg_arch *arch, tg_model_config *cfg,
                        const tg_safetensors *st);
void tg__bound_clear(tg_bound *b);

/* Llama-family config.json (arch_llama.c), for architectures that differ from Llama only in
 * defaults and biases (Qwen2). */
typedef struct tg_llama_variant {
    int32_t max_positions;  /* max_position_embeddings when absent */
    int32_t bos_id, eos_id; /* defaults when absent (-1: none) */
    int32_t fixed_qkv_bias; /* -1: attention_bias decides; else q/k/v biases are this */
    int32_t fixed_out_bias; /* -1: attention_bias decides */
} tg_llama_variant;
tg_status tg__llama_read_config(tg_model_config *c, JsonObject *o, const char *path,
                                const tg_llama_variant *v);
extern const tg_tensor_name tg__llama_names[];

extern const tg_arch tg__arch_gpt2;
extern const tg_arch tg__arch_llama;
extern const tg_arch tg__arch_qwen2;

#endif
