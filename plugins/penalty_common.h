/* penalty_common.h — what repetition_penalty, frequency_penalty and presence_penalty share:
 * the state (penalty, window, id counts), create/clone/destroy, and an apply that counts every
 * token of the window and rewrites the logits of those still among the candidates.
 *
 * Include it after defining, in the plugin's .c file:
 *   #define PENALTY_NEUTRAL <value of `penalty` that changes nothing>
 *   static float penalize(float logit, double penalty, double count);
 * where count is how often the token occurs in the window (>= 1). Parameters must be, in order,
 * penalty (FLOAT), last_n (INT), include_prompt (BOOL). */
#ifndef TG_PLUGINS_PENALTY_COMMON_H
#define TG_PLUGINS_PENALTY_COMMON_H

#include "builtin_util.h"

typedef struct pen_state {
    double penalty;
    int64_t last_n;
    int include_prompt;
    tgp_idmap map; /* token -> occurrences in the window */
} pen_state;

static tg_status pen_make(void **out, double penalty, int64_t last_n, int include_prompt,
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

static tg_status pen_create(void **state_out, const tg_param_value *values,
                            const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    return pen_make(state_out, values[0].number, values[1].integer, values[2].integer != 0,
                    ctx->n_vocab);
}

static void pen_destroy(void *state)
{
    pen_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status pen_clone(void **state_out, const void *state)
{
    const pen_state *src = state;
    return pen_make(state_out, src->penalty, src->last_n, src->include_prompt, src->map.n_vocab);
}

static tg_status pen_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    pen_state *s = state;
    if (s->penalty == PENALTY_NEUTRAL)
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
        c->logits[i] = penalize(c->logits[i], s->penalty, s->map.val[k]);
        changed++;
    }
    tgp_idmap_clear(&s->map);
    if (changed) {
        c->sorted = 0;
        c->probs_valid = 0;
    }
    return TG_OK;
}

#endif
