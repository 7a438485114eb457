/* backend/net.h — internal: what the backend is built from — hyper-parameters, the wiring choices
 * of a pre-norm decoder block, and the weight tensors by role. An architecture file of lib/model
 * fills a tg_net from config.json and the tensor-name table; the backend never sees the model. */
#ifndef TG_BACKEND_NET_H
#define TG_BACKEND_NET_H

#include "tensor.h"

/* How a weight matrix is stored: GPT-2's Conv1D keeps [in, out]; nn.Linear keeps [out, in]. */
typedef enum tg_mat_layout { TG_MAT_IN_OUT = 0, TG_MAT_OUT_IN = 1 } tg_mat_layout;

#define TG_NET_MAX_PARTS 3

/* One linear layer y = x W (+ b): W is the concatenation of up to three parts along the output
 * dimension (q | k | v, gate | up), each part with its bias or none. */
typedef struct tg_net_linear {
    const tg_tensor *w[TG_NET_MAX_PARTS]; /* NULL after the last part */
    const tg_tensor *b[TG_NET_MAX_PARTS]; /* NULL = no bias for that part */
} tg_net_linear;

typedef struct tg_net_layer {
    const tg_tensor *attn_norm_w, *attn_norm_b; /* b NULL: no shift (RMSNorm, bias-free models) */
    tg_net_linear qkv;                          /* n_head q heads | n_kv_head k | n_kv_head v */
    tg_net_linear attn_out;                     /* n_head * head_dim -> n_embd */
    const tg_tensor *ffn_norm_w, *ffn_norm_b;
    tg_net_linear ffn_up;   /* GELU MLP: one part (fc); gated MLP: gate | up */
    tg_net_linear ffn_down; /* n_ff -> n_embd */
} tg_net_layer;

enum tg_norm_kind { TG_NORM_LAYER = 0, TG_NORM_RMS = 1 };
enum tg_ffn_kind { TG_FFN_GELU_TANH = 0, TG_FFN_GELU_ERF = 1, TG_FFN_SILU_GATED = 2 };
/* Position information: learned rows added to the embeddings (GPT-2), or rotary embeddings in
 * Hugging Face's rotate-half convention (pairs (i, i + head_dim/2)) applied to q and k. */
enum tg_pos_kind { TG_POS_LEARNED = 0, TG_POS_ROPE_HALF = 1 };
enum tg_rope_scaling { TG_ROPE_NONE = 0, TG_ROPE_LINEAR = 1, TG_ROPE_LLAMA3 = 2 };

typedef struct tg_rope_params {
    double theta;            /* base of the inverse frequencies */
    int32_t scaling;         /* enum tg_rope_scaling */
    double factor;           /* linear and llama3 */
    double low_freq_factor;  /* llama3 */
    double high_freq_factor; /* llama3 */
    double original_ctx;     /* llama3: original_max_position_embeddings */
} tg_rope_params;

typedef struct tg_net_hparams {
    int32_t n_vocab, n_ctx, n_embd, n_layer;
    int32_t n_head, n_kv_head, head_dim; /* n_head % n_kv_head == 0 (grouped-query attention) */
    int32_t n_ff;                        /* MLP hidden width */
    int32_t norm;                        /* enum tg_norm_kind */
    float norm_eps;
    int32_t ffn; /* enum tg_ffn_kind */
    int32_t pos; /* enum tg_pos_kind */
    tg_rope_params rope;
    tg_mat_layout layout; /* of every block matrix; the output layer is [n_vocab, n_embd] */
} tg_net_hparams;

/* The linear layers of a block by role, then the output layer. */
enum tg_linear_role {
    TG_ROLE_QKV = 0,
    TG_ROLE_ATTN_OUT,
    TG_ROLE_FFN_UP,
    TG_ROLE_FFN_DOWN,
    TG_N_BLOCK_ROLES,
    TG_ROLE_OUTPUT = TG_N_BLOCK_ROLES,
    TG_N_ROLES
};

typedef struct tg_net {
    tg_net_hparams hp;
    const char *role_names[TG_N_ROLES];       /* for logs and errors, in the architecture's words */
    const tg_tensor *tok_embd;                /* [n_vocab, n_embd] */
    const tg_tensor *pos_embd;                /* [n_ctx, n_embd] (TG_POS_LEARNED only) */
    const tg_tensor *out_norm_w, *out_norm_b; /* final norm */
    const tg_tensor *output;                  /* [n_vocab, n_embd]; NULL = tied to tok_embd */
    tg_net_layer *layers;                     /* n_layer */
} tg_net;

#endif
