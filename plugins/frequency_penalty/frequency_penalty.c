/* frequency_penalty — OpenAI semantics: lower the logit of each token in proportion to how often it
 * occurs in the window.
 *
 *   logit_t <- logit_t - count_t * penalty        (count_t = occurrences of t in the window)
 *
 * Window: the last `last_n` tokens (-1: all, 0: off) of the generated tokens, and of the prompt
 * too when include_prompt. penalty = 0 does nothing. -inf logits stay -inf.
 */
#include "../builtin_util.h"

typedef struct {
    double penalty;
    int64_t last_n;
    int include_prompt;
    tgp_idmap map;
} pen_state;

static tg_status make(pen_state **out, double penalty, int64_t last_n, int include_prompt,
                      int32_t n_vocab)
{
    pen_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->penalty = penalty;
    s->last_n = last_n;
    s->include_prompt = include_prompt;
    tg_status st = tgp_idmap_init(&s->map, n_vocab);
    if (st != TG_OK) {
        free(s);
        return st;
    }
    *out = s;
    return TG_OK;
}

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    return make((pen_state **)state_out, values[0].number, values[1].integer,
                values[2].integer != 0, ctx->n_vocab);
}

static void destroy(void *state)
{
    pen_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    pen_state *s = state;
    if (s->penalty == 0)
        return TG_OK;
    const int32_t *w;
    size_t n;
    tgp_window(step, s->last_n, s->include_prompt, &w, &n);
    if (n == 0)
        return TG_OK;
    for (size_t i = 0; i < n; i++) {
        long k = tgp_idmap_add(&s->map, w[i]);
        if (k == -2) {
            tgp_idmap_clear(&s->map);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
        if (k >= 0)
            s->map.val[k] += 1;
    }
    tgp_idmap_locate(&s->map, c);
    size_t changed = 0;
    for (size_t k = 0; k < s->map.n; k++) {
        long i = s->map.pos[k];
        if (i < 0)
            continue;
        c->logits[i] -= (float)(s->penalty * s->map.val[k]);
        changed++;
    }
    tgp_idmap_clear(&s->map);
    if (changed) {
        c->sorted = 0;
        c->probs_valid = 0;
    }
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const pen_state *src = state;
    return make((pen_state **)state_out, src->penalty, src->last_n, src->include_prompt,
                src->map.n_vocab);
}

static const tg_param_spec params[] = {
    {"penalty", TG_PARAM_FLOAT, "0.0", -2, 2,
     "subtract penalty times the number of occurrences (negative encourages repetition)"},
    {"last_n", TG_PARAM_INT, "-1", -1, 1e9,
     "window: the last n tokens counted (-1 = all, 0 = off)"},
    {"include_prompt", TG_PARAM_BOOL, "false", 0, 1, "whether prompt tokens count"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "frequency_penalty",
    .kind = TG_PROC_TRANSFORM,
    .doc = "lower logits by penalty x occurrences in the window",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("frequency_penalty", "0.1.0", "MIT", "built-in OpenAI frequency penalty", &vtable)
