/* top_p — nucleus sampling: keep the smallest set of most likely tokens whose probabilities add
 * up to at least p (and at least min_keep tokens), then renormalize.
 *
 *   sort by prob descending: p_(1) >= p_(2) >= ...
 *   keep the first n = max(min_keep, min{ j : p_(1) + ... + p_(j) >= p })
 *
 * The sort is incremental: the top 64 are sorted first, and the sorted prefix grows 4x at a
 * time only while the cumulative sum has not reached p — never a full sort of the vocabulary
 * for a peaked distribution. p >= 1 keeps everything. A tolerance of 1e-6 on the cumulative
 * sum absorbs float rounding (0.4 + 0.3 + 0.2 reaches 0.9).
 */
#include "../builtin_util.h"

#define TOP_P_FIRST 64
#define TOP_P_GROWTH 4

typedef struct {
    double p;
    int64_t min_keep;
} top_p_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    top_p_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->p = values[0].number;
    s->min_keep = values[1].integer < 1 ? 1 : values[1].integer;
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    const top_p_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->p >= 1.0 || c->size == 1)
        return TG_OK;
    tg_status st = tg_candidates_softmax(c);
    if (st != TG_OK)
        return st;
    const size_t min_keep = (uint64_t)s->min_keep < c->size ? (size_t)s->min_keep : c->size;
    const double target = s->p - TGP_CUM_EPS;
    size_t k = TOP_P_FIRST, done = 0, keep = c->size;
    double cum = 0;
    for (;;) {
        if (k > c->size)
            k = c->size;
        st = tg_candidates_sort(c, k);
        if (st != TG_OK)
            return st;
        for (; done < k; done++) {
            cum += c->probs[done];
            if (cum >= target && done + 1 >= min_keep) {
                keep = done + 1;
                goto found;
            }
        }
        if (k == c->size)
            break; /* rounding: the whole set never reached p; keep it all */
        k = k > c->size / TOP_P_GROWTH ? c->size : k * TOP_P_GROWTH;
    }
found:
    if (keep >= c->size)
        return TG_OK;
    return tg_candidates_truncate(c, keep); /* renormalizes probs */
}

static tg_status clone(void **state_out, const void *state)
{
    top_p_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    *s = *(const top_p_state *)state;
    *state_out = s;
    return TG_OK;
}

static const tg_param_spec params[] = {
    {"p", TG_PARAM_FLOAT, "0.9", 1e-9, 1,
     "cumulative probability of the most likely tokens kept, in (0, 1]; 1 = keep all"},
    {"min_keep", TG_PARAM_INT, "1", 1, 1e9, "keep at least this many tokens"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "top_p",
    .kind = TG_PROC_FILTER,
    .doc = "nucleus: keep the most likely tokens whose probabilities add up to p",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = free,
};

TG_PLUGIN_DEFINE("top_p", "0.1.0", "MIT", "built-in top-p (nucleus) filter", &vtable)
