/* diverse_groups — diverse beam search (Vijayakumar et al. 2016, "Diverse Beam Search"), as
 * Hugging Face's group beam search with its Hamming diversity penalty:
 *
 * - the B beams form `groups` groups of B / groups beams (B must be divisible by groups); each
 *   group searches on its own (its own candidates and finished hypotheses), the groups expanding
 *   in order at every step;
 * - at each step, a token that earlier groups chose for their continuing beams costs
 *   `penalty` x (how many times they chose it) in every beam of the later group:
 *
 *       scores[b][t] -= penalty * count(t among the tokens groups 0..g-1 chose at this step)
 *
 * It gives no final score: the hypotheses are ranked by the spec's scorer that does
 * (length_penalty by default). */
#include "../builtin_util.h"

typedef struct dg_state {
    int64_t groups;
    double penalty;
} dg_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    if (!isfinite(values[1].number))
        return tgp_fail(TG_ERANGE, "penalty = %g is not a finite number", values[1].number);
    dg_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->groups = values[0].integer;
    s->penalty = values[1].number;
    *state_out = s;
    return TG_OK;
}

static tg_status groups(void *state, int32_t n_beams, int32_t *n_groups_out)
{
    const dg_state *s = state;
    if (s->groups > n_beams || n_beams % s->groups != 0)
        return tgp_fail(TG_ERANGE,
                        "groups = %lld does not divide num_beams = %d (each group needs "
                        "num_beams / groups beams)",
                        (long long)s->groups, (int)n_beams);
    *n_groups_out = (int32_t)s->groups;
    return TG_OK;
}

static tg_status adjust(void *state, tg_beam_step *step)
{
    const dg_state *s = state;
    const size_t V = (size_t)step->n_vocab;
    for (size_t k = 0; k < step->n_chosen; k++) {
        const int32_t t = step->chosen[k];
        if (t < 0 || (size_t)t >= V)
            continue;
        for (int32_t b = 0; b < step->n_beams; b++)
            step->scores[(size_t)b * V + (size_t)t] -= (float)s->penalty;
    }
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(dg_state));
}

static const tg_param_spec params[] = {
    {"groups", TG_PARAM_INT, "2", 1, 4096, "number of groups; must divide num_beams"},
    {"penalty", TG_PARAM_FLOAT, "1.0", 0, 1e9,
     "subtracted from a token's score once for each time an earlier group chose it this step"},
};

static const tg_beam_scorer scorer = {
    .struct_size = TG_BEAM_SCORER_SIZE,
    .groups = groups,
    .adjust = adjust,
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "diverse_groups",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "diverse beam search: groups of beams, tokens earlier groups chose cost a penalty",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .clone = clone,
    .destroy = free,
    .scorer = &scorer,
};

TG_PLUGIN_DEFINE("diverse_groups", "0.1.0", "MIT", "built-in beam scorer: diverse beam search",
                 &vtable)
