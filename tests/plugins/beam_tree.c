/* Test-only plugin for beam search: `test_tree`, a transform that replaces every score with a
 * hand-built distribution over a tiny tree of continuations (the textbook example of beam search:
 * greedy takes "nice woman", probability 0.5 x 0.4 = 0.20, while a beam of width 2 keeps "dog"
 * and finds "dog has", 0.4 x 0.9 = 0.36), and `test_fail_scorer`, a beam scorer whose score
 * fails. Characters of char_tiny's vocabulary stand for the words; after two words the end id is
 * certain. Loaded by explicit path in tests, never from the search path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/plugin.h>

typedef struct branch {
    char after; /* the previous word ('\0': the first step) */
    const char *words;
    double probs[3];
} branch;

static const branch tree[] = {
    {'\0', "ndc", {0.5, 0.4, 0.1}},  /* nice, dog, car */
    {'n', "whg", {0.4, 0.3, 0.3}},   /* nice woman / house / guy */
    {'d', "ar&", {0.9, 0.05, 0.05}}, /* dog has / runs / and */
    {'c', "ivt", {0.3, 0.5, 0.2}},   /* car is / drives / turns */
};

/* char_tiny's id of an ASCII character: "\n" is 0, then ' ' (32) is 1, ... */
static int32_t id_of(char ch)
{
    return (int32_t)(ch - ' ' + 1);
}

static tg_status tree_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    int32_t *eos = malloc(sizeof *eos);
    if (!eos)
        return TG_ENOMEM;
    *eos = ctx->n_eos ? ctx->eos_ids[0] : -1;
    *out = eos;
    return TG_OK;
}

static tg_status tree_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    const int32_t eos = *(const int32_t *)state;
    const size_t n_gen = step->n_tokens - step->n_prompt;
    const int32_t *gen = step->tokens + step->n_prompt;
    for (size_t i = 0; i < c->size; i++)
        c->logits[i] = -INFINITY;
    c->probs_valid = 0;
    c->sorted = 0;
    if (n_gen >= 2) {
        for (size_t i = 0; i < c->size; i++)
            if (c->ids[i] == eos)
                c->logits[i] = 0.0f; /* log 1 */
        return TG_OK;
    }
    for (size_t b = 0; b < sizeof tree / sizeof tree[0]; b++) {
        if (n_gen == 0 ? tree[b].after != '\0' : id_of(tree[b].after) != gen[0])
            continue;
        for (size_t w = 0; w < 3; w++)
            for (size_t i = 0; i < c->size; i++)
                if (c->ids[i] == id_of(tree[b].words[w]))
                    c->logits[i] = (float)log(tree[b].probs[w]);
    }
    return TG_OK;
}

static const tg_processor_vtable tree_vt = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "test_tree",
    .kind = TG_PROC_TRANSFORM,
    .doc = "replace the scores with the textbook beam search tree",
    .create = tree_create,
    .apply = tree_apply,
    .destroy = free,
};

static tg_status noop_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}

static tg_status fail_score(void *state, const tg_beam_hypothesis *h, double *out)
{
    (void)state;
    (void)h;
    *out = 0;
    return tg_plugin_set_error(TG_EUSER, "this scorer refuses every hypothesis on purpose");
}

static const tg_beam_scorer fail_scorer = {
    .struct_size = TG_BEAM_SCORER_SIZE,
    .score = fail_score,
};

static const tg_processor_vtable fail_vt = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "test_fail_scorer",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "a beam scorer whose score always fails",
    .create = noop_create,
    .scorer = &fail_scorer,
};

TG_PLUGIN_DEFINE("beam-tree", "1", "MIT", "test-only beam search pieces", &tree_vt, &fail_vt)
