/* frequency_penalty — OpenAI semantics: lower the logit of each token in proportion to how often it
 * occurs in the window.
 *
 *   logit_t <- logit_t - count_t * penalty        (count_t = occurrences of t in the window)
 *
 * Window: the last `last_n` tokens (-1: all, 0: off) of the generated tokens, and of the prompt
 * too when include_prompt. penalty = 0 does nothing. -inf logits stay -inf.
 */
#define PENALTY_NEUTRAL 0.0
static float penalize(float logit, double penalty, double count)
{
    return logit - (float)(penalty * count);
}

#include "../penalty_common.h"

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
    .create = pen_create,
    .apply = pen_apply,
    .clone = pen_clone,
    .destroy = pen_destroy,
};

TG_PLUGIN_DEFINE("frequency_penalty", "0.1.0", "MIT", "built-in OpenAI frequency penalty", &vtable)
