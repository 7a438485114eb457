/* repetition_penalty — CTRL (Keskar et al. 2019) / Hugging Face semantics: make every token that
 * occurs in the window less likely, once, however often it occurs.
 *
 *   for each distinct token t in the window:
 *       logit_t <- logit_t / penalty   if logit_t > 0
 *       logit_t <- logit_t * penalty   otherwise
 *
 * Window: the last `last_n` tokens of the history (-1: all of it, 0: off), the prompt included
 * when include_prompt. penalty = 1 does nothing; penalty < 1 encourages repetition.
 */
#include "../builtin_util.h"

typedef struct {
    double penalty;
    int64_t last_n;
    int include_prompt;
    tgp_idmap map;
} rep_state;

static tg_status make(rep_state **out, double penalty, int64_t last_n, int include_prompt,
                      int32_t n_vocab)
{
    rep_state *s = calloc(1, sizeof *s);
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
    return make((rep_state **)state_out, values[0].number, values[1].integer,
                values[2].integer != 0, ctx->n_vocab);
}

static void destroy(void *state)
{
    rep_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    rep_state *s = state;
    if (s->penalty == 1.0)
        return TG_OK;
    const int32_t *w;
    size_t n;
    tgp_window(step, s->last_n, s->include_prompt, &w, &n);
    if (n == 0)
        return TG_OK;
    for (size_t i = 0; i < n; i++)
        if (tgp_idmap_add(&s->map, w[i]) == -2) {
            tgp_idmap_clear(&s->map);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
    tgp_idmap_locate(&s->map, c);
    const float pen = (float)s->penalty;
    size_t changed = 0;
    for (size_t k = 0; k < s->map.n; k++) {
        long i = s->map.pos[k];
        if (i < 0)
            continue;
        float *l = &c->logits[i];
        *l = *l > 0 ? *l / pen : *l * pen;
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
    const rep_state *src = state;
    return make((rep_state **)state_out, src->penalty, src->last_n, src->include_prompt,
                src->map.n_vocab);
}

static const tg_param_spec params[] = {
    {"penalty", TG_PARAM_FLOAT, "1.1", 1e-6, 10,
     "divide positive logits / multiply negative ones of repeated tokens by this (1 = off)"},
    {"last_n", TG_PARAM_INT, "64", -1, 1e9,
     "window: the last n tokens of the history (-1 = all of it, 0 = off)"},
    {"include_prompt", TG_PARAM_BOOL, "true", 0, 1, "whether prompt tokens count"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "repetition_penalty",
    .kind = TG_PROC_TRANSFORM,
    .doc = "CTRL repetition penalty: shrink the logits of tokens already in the window",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("repetition_penalty", "0.1.0", "MIT", "built-in CTRL repetition penalty", &vtable)
