/* temperature — divide every logit by t; t = 0 means greedy (keep only the most likely token).
 *
 *   logit_i <- logit_i / t                      (t > 0; order and `sorted` are kept)
 *   t = 0:   keep only argmax (ties: lowest id)  (size becomes 1)
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
    const float inv = (float)(1.0 / s->t);
    for (size_t i = 0; i < c->size; i++)
        c->logits[i] *= inv; /* -inf stays -inf; a positive scale keeps the order */
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
