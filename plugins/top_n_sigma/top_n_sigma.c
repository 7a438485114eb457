/* top_n_sigma — keep the tokens whose logit is within n standard deviations of the largest
 * (Tang et al. 2024, llama.cpp semantics):
 *
 *   mu = mean of the finite logits, sigma = sqrt(mean of (logit - mu)^2)   (population stddev)
 *   keep i  iff  logit_i >= max_j logit_j - n * sigma
 *
 * -inf logits are left out of mu and sigma (and are removed). n = 0 disables the filter (as in
 * llama.cpp); use temperature(t=0) or greedy for argmax. One pass, no sort.
 */
#include "../builtin_util.h"

typedef struct {
    double n;
} top_n_sigma_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    top_n_sigma_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->n = values[0].number;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    top_n_sigma_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->n <= 0 || c->size == 1)
        return TG_OK;
    double mx = -INFINITY, sum = 0;
    size_t n_finite = 0;
    for (size_t i = 0; i < c->size; i++) {
        const double l = c->logits[i];
        if (isinf(l) && l < 0)
            continue;
        mx = l > mx ? l : mx;
        sum += l;
        n_finite++;
    }
    if (n_finite == 0)
        return tgp_fail(TG_ESTATE, "every candidate has logit -inf");
    const double mean = sum / (double)n_finite;
    double acc = 0;
    for (size_t i = 0; i < c->size; i++) {
        const double l = c->logits[i];
        if (!(isinf(l) && l < 0))
            acc += (l - mean) * (l - mean);
    }
    const double sigma = sqrt(acc / (double)n_finite);
    const double threshold = mx - s->n * sigma;
    if (tgp_count_at_least(c, threshold) < c->size)
        tgp_compact_if(c, NULL, threshold); /* the max always passes: one is kept */
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(top_n_sigma_state));
}

static const tg_param_spec params[] = {
    {"n", TG_PARAM_FLOAT, "1.0", 0, 100,
     "keep logits within n standard deviations of the largest (0 = disabled)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "top_n_sigma",
    .kind = TG_PROC_FILTER,
    .doc = "keep tokens whose logit is within n standard deviations of the largest",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("top_n_sigma", "0.1.0", "MIT", "built-in top-n-sigma filter", &vtable)
