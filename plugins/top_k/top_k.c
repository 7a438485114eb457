/* top_k — keep the k most likely candidates (k = 0 or k >= size keeps all).
 * Partial sort (tg_candidates_sort: O(size + k log k)) then truncation; ties go to the lower id.
 */
#include "../builtin_util.h"

typedef struct {
    int64_t k;
} top_k_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    top_k_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->k = values[0].integer;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    const top_k_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->k <= 0 || (uint64_t)s->k >= c->size)
        return TG_OK;
    return tgp_keep_top(c, (size_t)s->k);
}

static tg_status clone(void **state_out, const void *state)
{
    return tgp_dup(state_out, state, sizeof(top_k_state));
}

static const tg_param_spec params[] = {
    {"k", TG_PARAM_INT, "40", 0, 1e9, "number of most likely tokens kept (0 = keep all)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "top_k",
    .kind = TG_PROC_FILTER,
    .doc = "keep the k most likely tokens",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("top_k", "0.1.0", "MIT", "built-in top-k filter", &vtable)
