/* temperature — divide every logit by t; t = 0 means greedy (keep only the most likely token).
 *
 *   logit_i <- logit_i / t                      (t > 0; order and `sorted` are kept)
 *   t = 0:   keep only argmax (ties: lowest id)  (size becomes 1)
 *
 * A tiny t (say 1e-40) would overflow logit / t to +inf, and inf - inf is NaN in the softmax;
 * then the logits are shifted by their maximum first, logit_i <- (logit_i - max) / t, in
 * double: the same distribution (softmax ignores a shift), the most likely tokens at 0 and the
 * rest at large negative values or -inf, never NaN.
 */
#include "../builtin_util.h"

typedef struct {
    double t;
} temperature_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    temperature_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->t = values[0].number;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    const temperature_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->t <= 0)
        return tgp_keep_top(c, 1);
    if (s->t == 1.0)
        return TG_OK;
    float max = -INFINITY;
    for (size_t i = 0; i < c->size; i++)
        max = c->logits[i] > max ? c->logits[i] : max;
    const double inv = 1.0 / s->t;
    if (isfinite(max) && isfinite((double)max * inv) && isfinite((float)((double)max * inv))) {
        for (size_t i = 0; i < c->size; i++)
            c->logits[i] = (float)(c->logits[i] * inv); /* -inf stays -inf; order is kept */
    } else if (isfinite(max)) {
        for (size_t i = 0; i < c->size; i++)
            c->logits[i] = (float)(((double)c->logits[i] - max) / s->t);
    }
    c->probs_valid = 0;
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(temperature_state));
}

static const tg_param_spec params[] = {
    {"t", TG_PARAM_FLOAT, "1.0", 0, 100,
     "logits are divided by t; below 1 sharpens, above 1 flattens, 0 = greedy"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "temperature",
    .kind = TG_PROC_TRANSFORM,
    .doc = "divide logits by t (t = 0 keeps only the most likely token)",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("temperature", "0.1.0", "MIT", "built-in temperature transform", &vtable)
