/* dist — sample a token from the softmax of the live logits by inverse CDF.
 * (The module is dist_selector.so because "dist" is a reserved Meson target name; the
 * processor and the plugin are called "dist".)
 *
 *   p = softmax(live logits);  u = tg_rng_uniform(seed, sequence, step, 0)
 *   select the first i (in candidate order) with p_1 + ... + p_i > u * (p_1 + ... + p_n)
 *
 * seed = -1 uses the chain's seed (step->seed); another value fixes this stage's seed. Counter 0
 * is the selector's draw. Tokens with probability 0 (logit -inf) are never selected.
 */
#include "../builtin_util.h"

#define DIST_COUNTER 0u

typedef struct {
    int64_t seed;
} dist_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    dist_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->seed = values[0].integer;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    const dist_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    tg_status st = tg_candidates_softmax(c);
    if (st != TG_OK)
        return st;
    const uint64_t seed = s->seed >= 0 ? (uint64_t)s->seed : (step ? step->seed : 0);
    const double u = tg_rng_uniform(seed, step ? (uint64_t)step->sequence : 0,
                                    step ? (uint64_t)step->step : 0, DIST_COUNTER);
    double total = 0;
    for (size_t i = 0; i < c->size; i++)
        total += c->probs[i];
    const double target = u * total;
    double cum = 0;
    size_t pick = c->size;
    for (size_t i = 0; i < c->size; i++) {
        cum += c->probs[i];
        if (cum > target && c->probs[i] > 0) {
            pick = i;
            break;
        }
    }
    if (pick == c->size) { /* rounding at the very end: the last token with a probability */
        for (size_t i = c->size; i-- > 0;)
            if (c->probs[i] > 0) {
                pick = i;
                break;
            }
        if (pick == c->size)
            return tgp_fail(TG_ESTATE, "no candidate has a probability above 0");
    }
    c->selected = (int32_t)pick;
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(dist_state));
}

static const tg_param_spec params[] = {
    {"seed", TG_PARAM_INT, "-1", -1, 9007199254740992.0,
     "seed of this stage's draws (-1 = the chain's seed)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "dist",
    .kind = TG_PROC_SELECTOR,
    .doc = "sample a token from the softmax of the remaining candidates",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("dist", "0.1.0", "MIT", "built-in sampling selector", &vtable)
