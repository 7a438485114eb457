/* xtc — "exclude top choices" (llama.cpp semantics): with probability `probability`, remove
 * every token whose probability is >= threshold except the least likely of them, so that the
 * text avoids its most predictable continuations without losing coherence.
 *
 *   u = tg_rng_uniform(seed, sequence, step, XTC_COUNTER)    XTC_COUNTER = 0x787463 ("xtc")
 *   if u < probability and  m = #{ i : p_i >= threshold, p_i > 0 } >= 2
 *                      and  size - (m - 1) >= min_keep:
 *       remove the m - 1 most likely tokens; renormalize
 *
 * The counter differs from the selectors' (0), so xtc's coin flip is independent of the draw
 * that picks the token with the same seed.
 */
#include "../builtin_util.h"

#define XTC_COUNTER 0x787463u

typedef struct {
    double probability, threshold;
    int64_t min_keep;
} xtc_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    xtc_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->probability = values[0].number;
    s->threshold = values[1].number;
    s->min_keep = values[2].integer < 1 ? 1 : values[2].integer;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    const xtc_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->probability <= 0 || c->size < 2)
        return TG_OK;
    const double u = tg_rng_uniform(step ? step->seed : 0, step ? (uint64_t)step->sequence : 0,
                                    step ? (uint64_t)step->step : 0, XTC_COUNTER);
    if (u >= s->probability)
        return TG_OK;
    tg_status st = tg_candidates_softmax(c);
    if (st != TG_OK)
        return st;
    const float threshold = (float)s->threshold;
    size_t m = 0;
    /* A banned token (probability 0) is never a "top choice", even at threshold 0. */
    for (size_t i = 0; i < c->size; i++)
        m += c->probs[i] >= threshold && c->probs[i] > 0;
    if (m < 2)
        return TG_OK;
    const size_t r = m - 1, q = c->size - r;
    if (q < (uint64_t)s->min_keep)
        return TG_OK;
    st = tg_candidates_sort(c, m); /* the m above the threshold, most likely first */
    if (st != TG_OK)
        return st;
    /* Move the r removed entries (positions [0, r)) out of the live range [0, q). */
    const size_t n_swap = r < q ? r : q;
    for (size_t i = 0; i < n_swap; i++)
        tgp_swap(c, i, c->size - 1 - i);
    c->size = q;
    c->sorted = 0;
    tgp_renormalize(c);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(xtc_state));
}

static const tg_param_spec params[] = {
    {"probability", TG_PARAM_FLOAT, "0.5", 0, 1,
     "chance per step that the top choices are removed (0 = never, 1 = always)"},
    {"threshold", TG_PARAM_FLOAT, "0.1", 0, 0.5,
     "tokens at least this likely are top choices; all but the least likely of them go"},
    {"min_keep", TG_PARAM_INT, "1", 1, 1e9, "do nothing if fewer tokens than this would remain"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "xtc",
    .kind = TG_PROC_FILTER,
    .doc = "exclude top choices: sometimes remove all likely tokens but the least likely of them",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("xtc", "0.1.0", "MIT", "built-in XTC filter", &vtable)
