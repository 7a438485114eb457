/* no_repeat_ngram — Hugging Face NoRepeatNGramLogitsProcessor semantics: never generate an
 * n-gram that already occurs in the history (prompt + generated tokens).
 *
 *   h = history, L = |h|, prefix = h[L-n+1 .. L-1] (the last n - 1 tokens)
 *   for every i with h[i .. i+n-2] == prefix:  ban h[i+n-1]   (logit <- -inf)
 *
 * n = 1 bans every token of the history. O(L * n) per step, no state.
 */
#include "../builtin_util.h"

typedef struct {
    int64_t n;
    tgp_idmap map;
} nrn_state;

static tg_status make(nrn_state **out, int64_t n, int32_t n_vocab)
{
    nrn_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->n = n < 1 ? 1 : n;
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
    return make((nrn_state **)state_out, values[0].integer, ctx->n_vocab);
}

static void destroy(void *state)
{
    nrn_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    nrn_state *s = state;
    if (!step || !step->tokens)
        return TG_OK;
    const int32_t *h = step->tokens;
    const size_t len = step->n_tokens, n = (size_t)s->n;
    if (len < n) /* no n-gram in the history yet */
        return TG_OK;
    const int32_t *prefix = h + len - (n - 1);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(h + i, prefix, (n - 1) * sizeof *h) != 0)
            continue;
        if (tgp_idmap_add(&s->map, h[i + n - 1]) == -2) {
            tgp_idmap_clear(&s->map);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
    }
    tgp_idmap_ban(&s->map, c);
    tgp_idmap_clear(&s->map);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const nrn_state *src = state;
    return make((nrn_state **)state_out, src->n, src->map.n_vocab);
}

static const tg_param_spec params[] = {
    {"n", TG_PARAM_INT, "3", 1, 64, "size of the n-grams that may occur only once"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "no_repeat_ngram",
    .kind = TG_PROC_TRANSFORM,
    .doc = "ban tokens that would repeat an n-gram of the history",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("no_repeat_ngram", "0.1.0", "MIT", "built-in no-repeat-n-gram ban", &vtable)
