/* A well-formed test-only plugin with one processor of each kind, including a stateful one and
 * one whose apply fails. Loaded by explicit path in tests, never from the search path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/plugin.h>

/* test_scale(factor): logits *= factor */
static tg_status scale_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)ctx;
    double *f = malloc(sizeof *f);
    if (!f)
        return TG_ENOMEM;
    *f = v[0].number;
    *out = f;
    return TG_OK;
}
static tg_status scale_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    for (size_t i = 0; i < c->size; i++)
        c->logits[i] *= (float)*(double *)state;
    c->probs_valid = 0;
    return TG_OK;
}
static const tg_param_spec scale_params[] = {
    {"factor", TG_PARAM_FLOAT, "2.0", -100, 100, "multiply every logit"}};
static const tg_processor_vtable scale = {TG_PROCESSOR_VTABLE_SIZE,
                                          "test_scale",
                                          TG_PROC_TRANSFORM,
                                          "multiply logits",
                                          scale_params,
                                          1,
                                          scale_create,
                                          scale_apply,
                                          NULL,
                                          NULL,
                                          NULL,
                                          free,
                                          NULL,
                                          NULL,
                                          NULL,
                                          {0},
                                          NULL};

/* test_top(n): keep the n largest */
static tg_status top_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)ctx;
    *out = (void *)(intptr_t)v[0].integer;
    return TG_OK;
}
static tg_status top_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    size_t n = (size_t)(intptr_t)state;
    tg_status st = tg_candidates_sort(c, n);
    if (st == TG_OK && n < c->size)
        st = tg_candidates_truncate(c, n);
    return st;
}
static const tg_param_spec top_params[] = {
    {"n", TG_PARAM_INT, "2", 1, 1000000, "candidates kept"},
    {"note", TG_PARAM_STRING, "hello, world", 0, 0, "free text that is printed back"},
    {"ids", TG_PARAM_IDS, "", 0, 0, "token id sequences (unused)"},
    {"flag", TG_PARAM_BOOL, "false", 0, 1, "a boolean (unused)"}};
static const tg_processor_vtable top = {TG_PROCESSOR_VTABLE_SIZE,
                                        "test_top",
                                        TG_PROC_FILTER,
                                        "keep the n best",
                                        top_params,
                                        4,
                                        top_create,
                                        top_apply,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        {0},
                                        NULL};

/* test_first: select the first live candidate */
static tg_status first_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}
static tg_status first_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state;
    (void)step;
    tg_candidates_sort(c, 1);
    c->selected = 0;
    return TG_OK;
}
static const tg_processor_vtable first = {TG_PROCESSOR_VTABLE_SIZE,
                                          "test_first",
                                          TG_PROC_SELECTOR,
                                          "pick the best",
                                          NULL,
                                          0,
                                          first_create,
                                          first_apply,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          {0},
                                          NULL};

/* test_fail: always fails with a message */
static tg_status fail_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state;
    (void)c;
    (void)step;
    return tg_plugin_set_error(TG_EUSER, "test_fail: the plugin refused this step on purpose");
}
static const tg_processor_vtable fail = {TG_PROCESSOR_VTABLE_SIZE,
                                         "test_fail",
                                         TG_PROC_TRANSFORM,
                                         "always fails",
                                         NULL,
                                         0,
                                         first_create,
                                         fail_apply,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         {0},
                                         NULL};

/* test_count: stateful; bans every token it has accepted (a tiny "no repeat") and counts */
typedef struct count_state {
    int32_t n_seen;
    int32_t seen[64];
} count_state;
static tg_status count_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = calloc(1, sizeof(count_state));
    return *out ? TG_OK : TG_ENOMEM;
}
static tg_status count_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    count_state *s = state;
    for (size_t i = 0; i < c->size; i++)
        for (int32_t k = 0; k < s->n_seen; k++)
            if (c->ids[i] == s->seen[k])
                c->logits[i] = -INFINITY;
    c->probs_valid = 0;
    return TG_OK;
}
static tg_status count_accept(void *state, int32_t token, const tg_step_info *step)
{
    (void)step;
    count_state *s = state;
    if (s->n_seen < 64)
        s->seen[s->n_seen++] = token;
    return TG_OK;
}
static void count_reset(void *state)
{
    ((count_state *)state)->n_seen = 0;
}
static tg_status count_clone(void **out, const void *state)
{
    *out = malloc(sizeof(count_state));
    if (!*out)
        return TG_ENOMEM;
    memcpy(*out, state, sizeof(count_state));
    return TG_OK;
}
static tg_status count_save(const void *state, void *buf, size_t *len)
{
    if (buf)
        memcpy(buf, state, sizeof(count_state));
    *len = sizeof(count_state);
    return TG_OK;
}
static tg_status count_load(void *state, const void *buf, size_t len)
{
    if (len != sizeof(count_state))
        return tg_plugin_set_error(TG_EFORMAT, "test_count: bad state size");
    memcpy(state, buf, len);
    return TG_OK;
}
static const tg_processor_vtable count = {TG_PROCESSOR_VTABLE_SIZE,
                                          "test_count",
                                          TG_PROC_TRANSFORM,
                                          "ban accepted tokens",
                                          NULL,
                                          0,
                                          count_create,
                                          count_apply,
                                          count_accept,
                                          count_reset,
                                          count_clone,
                                          free,
                                          count_save,
                                          count_load,
                                          NULL,
                                          {0},
                                          NULL};

/* test_stop_after(n): stop once n tokens were generated */
static tg_status stop_check(void *state, const tg_step_info *step, int32_t *stop)
{
    *stop = step->step >= (int32_t)(intptr_t)state;
    return TG_OK;
}
static const tg_param_spec stop_params[] = {{"n", TG_PARAM_INT, "3", 0, 1000, "tokens"}};
static const tg_processor_vtable stop = {TG_PROCESSOR_VTABLE_SIZE,
                                         "test_stop_after",
                                         TG_PROC_STOP,
                                         "stop after n tokens",
                                         stop_params,
                                         1,
                                         top_create,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         stop_check,
                                         {0},
                                         NULL};

TG_PLUGIN_DEFINE("test-good", "1.0", "MIT", "test-only processors", &scale, &top, &first, &fail,
                 &count, &stop)
