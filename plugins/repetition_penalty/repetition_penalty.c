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
#define PENALTY_NEUTRAL 1.0
static float penalize(float logit, double penalty, double count)
{
    (void)count;
    const float pen = (float)penalty;
    return logit > 0 ? logit / pen : logit * pen;
}

#include "../penalty_common.h"

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
    .create = pen_create,
    .apply = pen_apply,
    .clone = pen_clone,
    .destroy = pen_destroy,
};

TG_PLUGIN_DEFINE("repetition_penalty", "0.1.0", "MIT", "built-in CTRL repetition penalty", &vtable)
