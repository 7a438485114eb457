/* hostile_stages.c — a plugin whose stages break the candidates contract of <textgen/plugin.h>
 * on purpose, one way each, so the hostile corpus can check what the host does about it (issue
 * 11: the host checks every stage's output and names the stage at fault). Each is stateless;
 * the comment of each says what it breaks. Test-only: loaded by explicit path. */
#include <math.h>
#include <textgen/plugin.h>

static tg_status none(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}

/* NaN for the logit of the first live candidate. */
static tg_status nan_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->logits[0] = NAN;
    c->probs_valid = 0;
    c->sorted = 0;
    return TG_OK;
}

/* +inf for the logit of the second live candidate. */
static tg_status inf_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->logits[c->size > 1 ? 1 : 0] = INFINITY;
    c->probs_valid = 0;
    c->sorted = 0;
    return TG_OK;
}

/* Claims the whole set is sorted (it is not: the host fills it in id order). */
static tg_status sorted_lie_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->sorted = c->size + 1000;
    return TG_OK;
}

/* Claims valid probabilities, and writes negative ones. */
static tg_status probs_lie_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    for (size_t i = 0; i < c->size; i++)
        c->probs[i] = -1.0f;
    c->probs_valid = 1;
    return TG_OK;
}

/* Claims the first two are sorted, in ascending order. */
static tg_status sorted_upside_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->logits[0] = 1.0f;
    c->logits[1] = 2.0f;
    c->sorted = 2;
    return TG_OK;
}

/* Claims the first one is the largest; a later one is larger. */
static tg_status sorted_not_top_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->logits[0] = 1.0f;
    c->logits[c->size - 1] = 5.0f;
    c->sorted = 1;
    return TG_OK;
}

/* Claims valid probabilities that sum to one half. */
static tg_status probs_half_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    for (size_t i = 0; i < c->size; i++)
        c->probs[i] = 0.5f / (float)c->size;
    c->probs_valid = 1;
    return TG_OK;
}

/* Writes an id outside the vocabulary. */
static tg_status bad_id_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->ids[1] = c->n_vocab + 7;
    return TG_OK;
}

/* Leaves no candidate. */
static tg_status empty_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->size = 0;
    return TG_OK;
}

/* Grows the live set past the arrays' capacity. */
static tg_status grow_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->size = c->capacity + 5;
    return TG_OK;
}

/* A selector that selects one past the live set. */
static tg_status select_out_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    c->selected = (int32_t)c->size;
    return TG_OK;
}

/* A selector that selects nothing (leaves -1). */
static tg_status select_none_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)step;
    return TG_OK;
}

/* Fails without saying why. */
static tg_status fail_silent_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)c;
    (void)step;
    return TG_ERROR;
}

/* Fails with a message. */
static tg_status fail_loud_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)c;
    (void)step;
    return tg_plugin_set_error(TG_ERANGE, "hostile_fail_loud: the moon is in the wrong phase");
}

/* Returns a value that is no tg_status at all. */
static tg_status fail_weird_apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)c;
    (void)step;
    return 12345;
}

#define STAGE(var, name, kind, apply, doc)                                                         \
    static const tg_processor_vtable var = {TG_PROCESSOR_VTABLE_SIZE,                              \
                                            name,                                                  \
                                            kind,                                                  \
                                            doc,                                                   \
                                            NULL,                                                  \
                                            0,                                                     \
                                            none,                                                  \
                                            apply,                                                 \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            NULL,                                                  \
                                            {0},                                                   \
                                            NULL};

STAGE(nan_logits, "hostile_nan", TG_PROC_TRANSFORM, nan_apply, "writes a NaN logit")
STAGE(inf_logits, "hostile_inf", TG_PROC_TRANSFORM, inf_apply, "writes a +inf logit")
STAGE(sorted_lie, "hostile_sorted_lie", TG_PROC_FILTER, sorted_lie_apply, "claims a false order")
STAGE(probs_lie, "hostile_probs_lie", TG_PROC_FILTER, probs_lie_apply, "negative probabilities")
STAGE(sorted_upside, "hostile_sorted_upside", TG_PROC_FILTER, sorted_upside_apply,
      "claims an ascending pair is sorted")
STAGE(sorted_not_top, "hostile_sorted_not_top", TG_PROC_FILTER, sorted_not_top_apply,
      "claims a sorted prefix that is not the largest")
STAGE(probs_half, "hostile_probs_half", TG_PROC_FILTER, probs_half_apply,
      "probabilities sum to 0.5")
STAGE(bad_id, "hostile_bad_id", TG_PROC_FILTER, bad_id_apply, "an id outside the vocabulary")
STAGE(empty, "hostile_empty", TG_PROC_FILTER, empty_apply, "leaves no candidate")
STAGE(grow, "hostile_grow", TG_PROC_FILTER, grow_apply, "size past capacity")
STAGE(select_out, "hostile_select_out", TG_PROC_SELECTOR, select_out_apply, "selects past the end")
STAGE(select_none, "hostile_select_none", TG_PROC_SELECTOR, select_none_apply, "selects nothing")
STAGE(fail_silent, "hostile_fail_silent", TG_PROC_TRANSFORM, fail_silent_apply, "fails, no message")
STAGE(fail_loud, "hostile_fail_loud", TG_PROC_TRANSFORM, fail_loud_apply, "fails with a message")
STAGE(fail_weird, "hostile_fail_weird", TG_PROC_TRANSFORM, fail_weird_apply, "returns 12345")

TG_PLUGIN_DEFINE("hostile-stages", "1.0", "MIT", "stages that break the candidates contract",
                 &nan_logits, &inf_logits, &sorted_lie, &probs_lie, &empty, &grow, &select_out,
                 &select_none, &fail_silent, &fail_loud, &fail_weird, &sorted_upside,
                 &sorted_not_top, &probs_half, &bad_id)
