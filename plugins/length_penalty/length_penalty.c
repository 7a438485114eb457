/* length_penalty — the default beam scorer, Hugging Face's final score of a beam hypothesis:
 *
 *   score = sum / length^alpha
 *
 * sum: the hypothesis' running score (the sum of its tokens' log-probabilities after the chain's
 * processors); length: its generated tokens, the one that ended it included (not the prompt).
 * alpha > 0 favours longer hypotheses, alpha < 0 shorter ones, alpha = 0 ranks by the sum alone.
 *
 * For a live beam that early stopping asks about (max_length > length), the best it could reach,
 * as Hugging Face estimates it: with alpha > 0, its sum at max_length tokens; otherwise at its
 * current length. A hypothesis of no tokens (the search was stopped before its first step) scores
 * its sum. */
#include "../builtin_util.h"

typedef struct lp_state {
    double alpha;
} lp_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    if (!isfinite(values[0].number))
        return tgp_fail(TG_ERANGE, "alpha = %g is not a finite number", values[0].number);
    lp_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->alpha = values[0].number;
    *state_out = s;
    return TG_OK;
}

static tg_status score(void *state, const tg_beam_hypothesis *h, double *out)
{
    const lp_state *s = state;
    int32_t len = s->alpha > 0 && h->max_length > h->length ? h->max_length : h->length;
    *out = len < 1 ? h->sum : h->sum / pow((double)len, s->alpha);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(lp_state));
}

static const tg_param_spec params[] = {
    {"alpha", TG_PARAM_FLOAT, "1.0", -100, 100,
     "exponent of the length: score = sum of log-probabilities / length^alpha (0: the sum)"},
};

static const tg_beam_scorer scorer = {
    .struct_size = TG_BEAM_SCORER_SIZE,
    .score = score,
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "length_penalty",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "beam score: sum of log-probabilities / length^alpha (Hugging Face's)",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .clone = clone,
    .destroy = free,
    .scorer = &scorer,
};

TG_PLUGIN_DEFINE("length_penalty", "0.1.0", "MIT", "built-in beam scorer: length penalty", &vtable)
