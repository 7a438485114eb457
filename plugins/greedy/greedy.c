/* greedy — select the most likely candidate: argmax of the logits, ties to the lowest id.
 * One pass over the live set; no softmax, no sort. Fails (TG_ESTATE) when every logit is -inf.
 */
#include "../builtin_util.h"

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)values;
    (void)ctx;
    *state_out = NULL;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state;
    (void)step;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    size_t best = 0; /* always a full scan: `sorted` does not promise the tie order */
    for (size_t i = 1; i < c->size; i++) {
        const float l = c->logits[i], b = c->logits[best];
        if (l > b || (l == b && c->ids[i] < c->ids[best]) || (isnan(b) && !isnan(l)))
            best = i;
    }
    if (isinf(c->logits[best]) && c->logits[best] < 0)
        return tgp_fail(TG_ESTATE, "every candidate has logit -inf");
    c->selected = (int32_t)best;
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
