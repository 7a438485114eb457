/* backend/linear.h — internal: the seam every weight matrix of the forward pass goes through.
 *
 * A tg_linear is a weight matrix W [K, N] (with an optional bias) prepared once, from a tensor
 * view of any source dtype and layout, in one precision. It is immutable and shared by every
 * session of a model. A tg_linear_plan runs such a matrix over M rows with one epilogue; plans
 * belong to one session (they fix its thread count) and serve every linear of the same class
 * (tg__linear_same_class), so the blocks of a model share one plan per role and row count.
 *
 * Implementations sit behind tg_linear_ops and choose their own weight layout and kernels:
 * hand-written small-M kernels on packed panels (linear_kmat.c, the default) and oneDNN matmuls
 * (linear_dnnl.c), picked by tg__linear_create. */
#ifndef TG_BACKEND_LINEAR_H
#define TG_BACKEND_LINEAR_H

#include "net.h"
#include <textgen/common.h>

/* Precision the weights are kept and multiplied in. */
typedef enum tg_precision {
    TG_PREC_F32 = 0,
    TG_PREC_BF16 = 1,
    TG_PREC_INT8 = 2 /* int8 weights, a scale per output column; hand-written kernels only */
} tg_precision;

struct tg_tpool;

/* Element type of an activation buffer (inputs and outputs of a linear). */
typedef enum tg_act_type { TG_ACT_F32 = 0, TG_ACT_BF16 = 1 } tg_act_type;

typedef enum tg_epilogue {
    TG_EPI_NONE = 0,
    TG_EPI_GELU_TANH = 1,
    TG_EPI_GELU_ERF = 2,
    TG_EPI_SILU_GATE = 3 /* gated linears only: y = silu(x Wg + bg) * (x Wu + bu) */
} tg_epilogue;

typedef struct tg_linear_desc {
    const char *name;              /* for logs and errors ("attn.c_attn", "lm_head") */
    const tg_tensor *const *parts; /* n_parts matrices, concatenated along the output dimension */
    const tg_tensor *const *bias;  /* n_parts biases (each may be NULL), or NULL: no bias */
    int n_parts;
    tg_mat_layout layout; /* of every part: [K, N_i] (Conv1D) or [N_i, K] (nn.Linear) */
    int64_t K;            /* input features */
    int gated;            /* two parts of equal width, gate then up, for TG_EPI_SILU_GATE */
    tg_precision precision;
    struct tg_tpool *pool; /* threads that may prepare the weights (NULL: the caller alone) */
} tg_linear_desc;

/* How a plan runs: rows, epilogue and output. */
typedef struct tg_linear_cfg {
    int64_t M;
    tg_epilogue epi;
    int accumulate;        /* dst += result: adds into the (f32) residual stream */
    tg_act_type dst;       /* element type written; must be TG_ACT_F32 with accumulate */
    struct tg_tpool *pool; /* the session's threads (NULL: the caller alone); oneDNN uses OpenMP */
} tg_linear_cfg;

typedef struct tg_linear tg_linear;
typedef struct tg_linear_plan tg_linear_plan;

typedef struct tg_linear_ops {
    const char *impl;
    tg_status (*plan_create)(tg_linear_plan **out, const tg_linear *l, const tg_linear_cfg *cfg);
    void (*plan_free)(tg_linear_plan *p);
    /* dst [M, N] = epilogue(src [M, K] W + b); src in l->src, dst as the plan's cfg says. */
    tg_status (*forward)(tg_linear_plan *p, const tg_linear *l, const void *src, void *dst,
                         void *scratch);
    /* W[:, n] as f32 (K values): a tied output layer doubles as the embedding table. */
    void (*read_column)(const tg_linear *l, int64_t n, float *out);
    void (*destroy)(tg_linear *l);
} tg_linear_ops;

/* What every implementation shares (implementations embed it as their first member). */
struct tg_linear {
    const tg_linear_ops *ops;
    int64_t K, N; /* N as callers see it: half the parts' width when gated */
    int has_bias, gated;
    tg_precision precision;
    tg_act_type src; /* element type forward() reads */
    size_t bytes;    /* prepared weights: what one forward streams */
    char name[40];
};

struct tg_linear_plan {
    const tg_linear_ops *ops;
    tg_linear_cfg cfg;
    size_t scratch_size; /* bytes of the caller's scratch one forward needs */
};

/* Prepare a matrix; the one place that decides which implementation runs a precision. Reads
 * the tensors and copies what it keeps: the views may go away afterwards. */
tg_status tg__linear_create(tg_linear **out, const tg_linear_desc *d);
void tg__linear_free(tg_linear *l);

/* Plans of `a` also run `b` (same implementation, shape, bias and gating). */
int tg__linear_same_class(const tg_linear *a, const tg_linear *b);

static inline tg_status tg__linear_plan_create(tg_linear_plan **out, const tg_linear *l,
                                               const tg_linear_cfg *cfg)
{
    return l->ops->plan_create(out, l, cfg);
}

static inline void tg__linear_plan_free(tg_linear_plan *p)
{
    if (p)
        p->ops->plan_free(p);
}

static inline tg_status tg__linear_forward(tg_linear_plan *p, const tg_linear *l, const void *src,
                                           void *dst, void *scratch)
{
    return l->ops->forward(p, l, src, dst, scratch);
}

static inline void tg__linear_read_column(const tg_linear *l, int64_t n, float *out)
{
    l->ops->read_column(l, n, out);
}

/* The biases of the n `parts` ([K][width] or [width][K] each) concatenated as N f32 values,
 * absent ones (bias NULL, or bias[i] NULL) as zeros; the caller frees *out. Both
 * implementations load biases this way. */
tg_status tg__linear_load_bias(float **out, const tg_tensor *const *parts,
                               const tg_tensor *const *bias, int n, int64_t K, int64_t N,
                               const char *name);

/* The implementations: oneDNN matmuls (linear_dnnl.c; f32 and bf16), and the hand-written
 * kernels of backend/kernels (linear_kmat.c; f32, bf16 and int8). Tests and benchmarks call them
 * directly to compare the two. */
tg_status tg__linear_dnnl_create(tg_linear **out, const tg_linear_desc *d);
tg_status tg__linear_kmat_create(tg_linear **out, const tg_linear_desc *d);

#endif
