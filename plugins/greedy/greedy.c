/* greedy — select the most likely candidate: argmax of the logits, ties to the lowest id.
 * Two vectorised passes over the live set (the maximum, then the lowest id holding it); no softmax,
 * no sort. Fails (TG_ESTATE) when every logit is -inf (or NaN). */
#include "../builtin_util.h"

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)values;
    (void)ctx;
    *state_out = NULL;
    return TG_OK;
}

/* 4-float vectors: the width every x86-64 (SSE2) and AArch64 (NEON) CPU has natively, so the
 * loops below compile to vector compares and blends without target flags. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* The largest logit of l[0..n) that is not NaN (-inf when there is none), 8 lanes at a time:
 * beam search draws several candidates from all beams' scores (4 beams: 200k entries per draw),
 * where a branchy scalar scan was the largest part of a step's own work. */
static float max_logit(const float *l, size_t n)
{
    const v4f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    v4f m0 = ninf, m1 = ninf, x0, x1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x0, l + i, sizeof x0);
        memcpy(&x1, l + i + 4, sizeof x1);
        const v4i g0 = x0 > m0, g1 = x1 > m1; /* false for NaN */
        m0 = (v4f)(((v4i)x0 & g0) | ((v4i)m0 & ~g0));
        m1 = (v4f)(((v4i)x1 & g1) | ((v4i)m1 & ~g1));
    }
    float best = -INFINITY;
    for (int k = 0; k < 4; k++) {
        best = m0[k] > best ? m0[k] : best;
        best = m1[k] > best ? m1[k] : best;
    }
    for (; i < n; i++)
        best = l[i] > best ? l[i] : best;
    return best;
}

/* The index of the lowest id among the candidates whose logit is `top` (one of them is). */
static size_t lowest_id_at(const tg_candidates *c, float top)
{
    const v4f t = {top, top, top, top};
    size_t best = c->size, i = 0;
    for (; i + 8 <= c->size; i += 8) {
        v4f x0, x1;
        memcpy(&x0, c->logits + i, sizeof x0);
        memcpy(&x1, c->logits + i + 4, sizeof x1);
        const v4i eq = (x0 == t) | (x1 == t);
        uint64_t any[2];
        memcpy(any, &eq, sizeof any);
        if (!(any[0] | any[1]))
            continue;
        for (size_t k = i; k < i + 8; k++)
            if (c->logits[k] == top && (best == c->size || c->ids[k] < c->ids[best]))
                best = k;
    }
    for (; i < c->size; i++)
        if (c->logits[i] == top && (best == c->size || c->ids[i] < c->ids[best]))
            best = i;
    return best;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state;
    (void)step;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    /* Always a full scan (`sorted` does not promise the tie order): the largest logit, then the
     * lowest id holding it. */
    const float top = max_logit(c->logits, c->size);
    if (isinf(top) && top < 0)
        return tgp_fail(TG_ESTATE, "every candidate has logit -inf or NaN");
    c->selected = (int32_t)lowest_id_at(c, top);
    return TG_OK;
}

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "greedy",
    .kind = TG_PROC_SELECTOR,
    .doc = "select the most likely token (argmax; ties: lowest id)",
    .params = NULL,
    .n_params = 0,
    .create = create,
    .apply = apply,
};

TG_PLUGIN_DEFINE("greedy", "0.1.0", "MIT", "built-in greedy selector", &vtable)
