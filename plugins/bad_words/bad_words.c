/* bad_words — Hugging Face NoBadWordsLogitsProcessor semantics: token sequences that must never
 * be generated.
 *
 *   ids = "s1; s2; ..." with s = t_1 t_2 ... t_m (token ids)
 *   for each s: if the history (prompt + generated) ends with t_1 .. t_{m-1}, ban t_m
 *   (a single-token sequence, m = 1, is banned at every step). Banned: logit <- -inf.
 *
 * Ids outside the vocabulary are refused at create time (TG_ERANGE naming the id).
 */
#include "../builtin_util.h"

typedef struct {
    int32_t *ids; /* all sequences, concatenated */
    size_t *ends; /* end offset of each sequence */
    size_t n_ids, n_seqs;
    tgp_idmap map;
} bw_state;

static void destroy(void *state)
{
    bw_state *s = state;
    if (!s)
        return;
    free(s->ids);
    free(s->ends);
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status make(bw_state **out, const int32_t *ids, size_t n_ids, const size_t *ends,
                      size_t n_seqs, int32_t n_vocab)
{
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return tgp_fail(TG_ERANGE, "token id %d is outside the vocabulary [0, %d)", (int)ids[i],
                            (int)n_vocab);
    bw_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->ids = malloc((n_ids ? n_ids : 1) * sizeof *s->ids);
    s->ends = malloc((n_seqs ? n_seqs : 1) * sizeof *s->ends);
    if (!s->ids || !s->ends || tgp_idmap_init(&s->map, n_vocab) != TG_OK) {
        destroy(s);
        return tgp_fail(TG_ENOMEM, "out of memory");
    }
    if (n_ids)
        memcpy(s->ids, ids, n_ids * sizeof *ids);
    size_t prev = 0;
    for (size_t q = 0; q < n_seqs; q++) {
        size_t e = ends[q] < prev ? prev : ends[q] > n_ids ? n_ids : ends[q];
        s->ends[q] = e;
        prev = e;
    }
    s->n_ids = n_ids;
    s->n_seqs = n_seqs;
    *out = s;
    return TG_OK;
}

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    const tg_param_value *v = &values[0];
    size_t one_end = v->n_ids;
    const size_t *ends = v->seq_ends;
    size_t n_seqs = v->n_seqs;
    if (!ends || n_seqs == 0) { /* no ';': one sequence */
        ends = &one_end;
        n_seqs = v->n_ids ? 1 : 0;
    }
    return make((bw_state **)state_out, v->ids, v->ids ? v->n_ids : 0, ends, n_seqs, ctx->n_vocab);
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    bw_state *s = state;
    const int32_t *h = step && step->tokens ? step->tokens : NULL;
    const size_t len = h ? step->n_tokens : 0;
    size_t begin = 0;
    for (size_t q = 0; q < s->n_seqs; q++) {
        const size_t end = s->ends[q], m = end - begin;
        const int32_t *seq = s->ids + begin;
        begin = end;
        if (m == 0)
            continue;
        const size_t pre = m - 1;
        if (pre > len || (pre && memcmp(h + len - pre, seq, pre * sizeof *seq) != 0))
            continue;
        if (tgp_idmap_add(&s->map, seq[pre]) == -2) {
            tgp_idmap_clear(&s->map);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
    }
    if (s->map.n)
        tgp_idmap_ban(&s->map, c);
    tgp_idmap_clear(&s->map);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const bw_state *src = state;
    return make((bw_state **)state_out, src->ids, src->n_ids, src->ends, src->n_seqs,
                src->map.n_vocab);
}

static const tg_param_spec params[] = {
    {"ids", TG_PARAM_IDS, NULL, 0, 0,
     "banned token sequences, ';'-separated, e.g. \"50256; 11 22 33\" (required)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "bad_words",
    .kind = TG_PROC_TRANSFORM,
    .doc = "ban the last token of any listed sequence whose other tokens end the history",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("bad_words", "0.1.0", "MIT", "built-in banned token sequences", &vtable)
