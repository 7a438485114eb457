/* epsilon_cutoff.c — an out-of-tree libtextgen plugin: Hewitt et al.'s epsilon sampling
 * ("Truncation Sampling as Language Model Desmoothing", 2022): drop every token whose
 * probability is below a fixed epsilon, keeping at least min_keep.
 *
 * Build against an installed libtextgen:   make, or meson (meson.build; both use pkg-config)
 * Use it:   TEXTGEN_PLUGIN_PATH=$PWD textgen --samplers "epsilon_cutoff(epsilon=3e-4) dist" ...
 */
#include <stdlib.h>
#include <textgen/plugin.h>

typedef struct eps_state {
    double epsilon;
    size_t min_keep;
} eps_state;

static tg_status eps_create(void **state_out, const tg_param_value *values,
                            const tg_proc_context *ctx)
{
    (void)ctx;
    eps_state *s = malloc(sizeof *s);
    if (!s)
        return tg_plugin_set_error(TG_ENOMEM, "epsilon_cutoff: out of memory");
    s->epsilon = values[0].number;           /* parameters arrive parsed and range-checked, */
    s->min_keep = (size_t)values[1].integer; /* in the order of the schema below */
    *state_out = s;
    return TG_OK;
}

static tg_status eps_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    const eps_state *s = state;
    tg_status st = tg_candidates_softmax(c);
    if (st != TG_OK)
        return st;
    /* Move the survivors to the front; order does not matter for a filter. */
    size_t keep = 0;
    for (size_t i = 0; i < c->size; i++)
        if (c->probs[i] >= s->epsilon) {
            int32_t id = c->ids[i];
            float logit = c->logits[i], p = c->probs[i];
            c->ids[i] = c->ids[keep];
            c->logits[i] = c->logits[keep];
            c->probs[i] = c->probs[keep];
            c->ids[keep] = id;
            c->logits[keep] = logit;
            c->probs[keep] = p;
            keep++;
        }
    c->sorted = 0;
    if (keep < s->min_keep) { /* too few: take the min_keep most likely instead */
        if ((st = tg_candidates_sort(c, s->min_keep)) != TG_OK)
            return st;
        keep = s->min_keep < c->size ? s->min_keep : c->size;
    }
    return tg_candidates_truncate(c, keep); /* also renormalizes probs */
}

static const tg_param_spec eps_params[] = {
    {"epsilon", TG_PARAM_FLOAT, "0.0003", 0.0, 1.0, "drop tokens with probability below this"},
    {"min_keep", TG_PARAM_INT, "1", 1, 1e9, "always keep at least this many tokens"},
};

static const tg_processor_vtable epsilon_cutoff = {
    TG_PROCESSOR_VTABLE_SIZE,
    "epsilon_cutoff",
    TG_PROC_FILTER,
    "drop tokens whose probability is below epsilon (epsilon sampling)",
    eps_params,
    sizeof eps_params / sizeof eps_params[0],
    eps_create,
    eps_apply,
    NULL, /* accept: stateless */
    NULL, /* reset */
    NULL, /* clone: NULL means "create again from the same parameters" */
    free, /* destroy */
    NULL, /* save */
    NULL, /* load */
    NULL, /* check_stop: only for TG_PROC_STOP */
    {0},
    NULL, /* scorer: only for TG_PROC_BEAM_SCORER */
};

TG_PLUGIN_DEFINE("epsilon-cutoff", "1.0", "MIT", "epsilon sampling for libtextgen", &epsilon_cutoff)
