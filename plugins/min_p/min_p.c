/* min_p — keep the tokens at least p times as likely as the most likely one (and at least
 * min_keep tokens), then renormalize.
 *
 *   keep i  iff  prob_i >= p * max_j prob_j   <=>   logit_i >= max_j logit_j + ln(p)
 *
 * Done on logits in one pass (no softmax, no sort). p = 0 keeps everything. When fewer than
 * min_keep pass, the min_keep most likely are kept.
 */
#include "../builtin_util.h"

typedef struct {
    double p;
    int64_t min_keep;
} min_p_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    min_p_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->p = values[0].number;
    s->min_keep = values[1].integer < 1 ? 1 : values[1].integer;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    min_p_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->p <= 0 || c->size == 1)
        return TG_OK;
    float mx = c->logits[0];
    for (size_t i = 1; i < c->size; i++)
        mx = c->logits[i] > mx ? c->logits[i] : mx;
    if (isinf(mx) && mx < 0)
        return tgp_fail(TG_ESTATE, "every candidate has logit -inf");
    const double threshold = (double)mx + log(s->p);
    const size_t n_keep = tgp_count_at_least(c, threshold);
    const size_t min_keep = (uint64_t)s->min_keep < c->size ? (size_t)s->min_keep : c->size;
    if (n_keep < min_keep)
        return tgp_keep_top(c, min_keep);
    if (n_keep == c->size)
        return TG_OK;
    tgp_compact_if(c, NULL, threshold);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(min_p_state));
}

static const tg_param_spec params[] = {
    {"p", TG_PARAM_FLOAT, "0.05", 0, 1,
     "keep tokens whose probability is at least p times the top probability (0 = keep all)"},
    {"min_keep", TG_PARAM_INT, "1", 1, 1e9, "keep at least this many tokens"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "min_p",
    .kind = TG_PROC_FILTER,
    .doc = "keep tokens at least p times as likely as the most likely one",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("min_p", "0.1.0", "MIT", "built-in min-p filter", &vtable)
