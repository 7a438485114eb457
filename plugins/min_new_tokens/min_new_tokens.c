/* min_new_tokens — Hugging Face MinNewTokensLengthLogitsProcessor semantics: the end of
 * sequence cannot come before n tokens were generated.
 *
 *   while step < n:  logit_e <- -inf  for every eos id e of the model (tg_proc_context)
 *
 * No eos ids in the context: nothing to do.
 */
#include "../builtin_util.h"

typedef struct {
    int64_t n;
    tgp_idmap map; /* the eos ids */
} mnt_state;

static tg_status make(mnt_state **out, int64_t n, int32_t n_vocab, const int32_t *eos, size_t n_eos)
{
    mnt_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->n = n;
    tg_status st = tgp_idmap_init(&s->map, n_vocab);
    if (st != TG_OK) {
        free(s);
        return st;
    }
    for (size_t i = 0; i < n_eos; i++) {
        if (eos[i] < 0 || eos[i] >= n_vocab) {
            st = tgp_fail(TG_ERANGE, "eos id %d is outside the vocabulary [0, %d)", (int)eos[i],
                          (int)n_vocab);
            tgp_idmap_free(&s->map);
            free(s);
            return st;
        }
        if (tgp_idmap_add(&s->map, eos[i]) == -2) {
            tgp_idmap_free(&s->map);
            free(s);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
    }
    *out = s;
    return TG_OK;
}

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    return make((mnt_state **)state_out, values[0].integer, ctx->n_vocab, ctx->eos_ids,
                ctx->eos_ids ? ctx->n_eos : 0);
}

static void destroy(void *state)
{
    mnt_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    mnt_state *s = state;
    const int64_t generated = step ? step->step : 0;
    if (generated >= s->n || s->map.n == 0)
        return TG_OK;
    tgp_idmap_ban(&s->map, c);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const mnt_state *src = state;
    return make((mnt_state **)state_out, src->n, src->map.n_vocab, src->map.ids, src->map.n);
}

static const tg_param_spec params[] = {
    {"n", TG_PARAM_INT, "1", 0, 1e9, "end-of-sequence ids are banned until this many new tokens"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "min_new_tokens",
    .kind = TG_PROC_TRANSFORM,
    .doc = "ban the end-of-sequence ids until n tokens were generated",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("min_new_tokens", "0.1.0", "MIT", "built-in minimum-length EOS mask", &vtable)
