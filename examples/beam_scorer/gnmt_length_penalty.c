/* gnmt_length_penalty.c — an out-of-tree libtextgen beam scorer: the length penalty of Google's
 * neural machine translation system (Wu et al. 2016, "Google's Neural Machine Translation
 * System", section 7), which many translation toolkits use instead of a plain power of the length:
 *
 *   lp(Y) = ((5 + |Y|) / 6)^alpha          score(Y) = log P(Y) / lp(Y)
 *
 * |Y| counts the generated tokens (the one that ended the hypothesis included), log P(Y) is the
 * sum of their scores as beam search kept it. The +5 makes short hypotheses less favoured than
 * with |Y|^alpha while long ones are ranked alike.
 *
 * Build against an installed libtextgen:   make          (uses pkg-config textgen)
 * Use it:   textgen --plugin-dir $PWD --beams 4 --beam-scorers "gnmt_length_penalty(alpha=0.6)" ...
 */
#include <math.h>
#include <stdlib.h>
#include <textgen/plugin.h>

typedef struct gnmt_state {
    double alpha;
} gnmt_state;

static tg_status gnmt_create(void **state_out, const tg_param_value *values,
                             const tg_proc_context *ctx)
{
    (void)ctx;
    gnmt_state *s = malloc(sizeof *s);
    if (!s)
        return tg_plugin_set_error(TG_ENOMEM, "gnmt_length_penalty: out of memory");
    s->alpha = values[0].number; /* parsed and range-checked by the host (schema below) */
    *state_out = s;
    return TG_OK;
}

static double penalty(double alpha, int32_t length)
{
    return pow((5.0 + length) / 6.0, alpha);
}

/* The final score of a finished hypothesis (max_length == length). For a live beam, early
 * stopping asks for the best score it could still reach at some length in [length, max_length]
 * with its sum as it is: sum / lp is monotonic in the length, so the best is at one end. */
static tg_status gnmt_score(void *state, const tg_beam_hypothesis *h, double *score_out)
{
    const gnmt_state *s = state;
    const double now = h->sum / penalty(s->alpha, h->length);
    const double longest = h->sum / penalty(s->alpha, h->max_length);
    *score_out = now > longest ? now : longest;
    return TG_OK;
}

static const tg_param_spec gnmt_params[] = {
    {"alpha", TG_PARAM_FLOAT, "0.6", 0.0, 10.0, "strength of the length normalization"},
};

/* Only the final score: no groups, no per-step adjustment. */
static const tg_beam_scorer gnmt_scorer = {
    .struct_size = TG_BEAM_SCORER_SIZE,
    .score = gnmt_score,
};

static const tg_processor_vtable gnmt = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "gnmt_length_penalty",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "beam score: log P / ((5 + length) / 6)^alpha (Wu et al. 2016)",
    .params = gnmt_params,
    .n_params = sizeof gnmt_params / sizeof gnmt_params[0],
    .create = gnmt_create,
    .destroy = free,
    .scorer = &gnmt_scorer,
};

TG_PLUGIN_DEFINE("gnmt-length-penalty", "1.0", "MIT", "GNMT length penalty for beam search", &gnmt)
