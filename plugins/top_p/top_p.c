/* top_p — nucleus sampling: keep the smallest set of most likely tokens whose probabilities add
 * up to at least p (and at least min_keep tokens), then renormalize.
 *
 *   sort by prob descending: p_(1) >= p_(2) >= ...
 *   keep the first n = max(min_keep, min{ j : p_(1) + ... + p_(j) >= p })
 *
 * Peaked distributions are settled by sorting the top 64 (one heap pass). When the nucleus is
 * larger, the boundary is found without sorting: a quickselect that partitions by order and
 * recurses into the side holding the boundary, using the probability mass of each side — O(n)
 * expected, where a sort of a flat nucleus of thousands of tokens was the dominant cost. The
 * kept set is then the candidates that come before the boundary in the usual order (logit
 * descending, id ascending). p >= 1 keeps everything. A tolerance of 1e-6 on the cumulative sum
 * absorbs float rounding (0.4 + 0.3 + 0.2 reaches 0.9).
 */
#include "../builtin_util.h"

#define TOP_P_FIRST 64

/* Order key: logit descending, then id ascending, as one integer (smaller = first). */
typedef struct keyed {
    uint64_t key;
    float prob;
} keyed;

static uint64_t key_of(float logit, int32_t id)
{
    uint32_t b;
    memcpy(&b, &logit, sizeof b);
    const uint32_t ascending = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((uint64_t)~ascending << 32) | (uint32_t)id;
}

static void kswap(keyed *a, size_t i, size_t j)
{
    keyed t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Key of the candidate at which the running mass of a[0..n) in order first reaches `target`
 * (`*rank_out` = its 0-based rank), or UINT64_MAX when the whole mass stays below it. */
static uint64_t mass_boundary(keyed *a, size_t n, double target, size_t *rank_out)
{
    size_t lo = 0, hi = n, rank = 0;
    while (hi > lo) {
        /* median-of-three pivot moved to hi-1 */
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (a[mid].key < a[lo].key)
            kswap(a, mid, lo);
        if (a[last].key < a[lo].key)
            kswap(a, last, lo);
        if (a[mid].key < a[last].key)
            kswap(a, mid, last);
        const uint64_t pivot = a[last].key;
        size_t store = lo;
        double mass = 0; /* of the entries that come before the pivot */
        for (size_t i = lo; i < last; i++)
            if (a[i].key < pivot) {
                mass += a[i].prob;
                kswap(a, i, store++);
            }
        kswap(a, store, last);
        if (mass >= target) { /* the boundary is before the pivot */
            hi = store;
        } else if (mass + a[store].prob >= target) {
            *rank_out = rank + (store - lo);
            return pivot;
        } else {
            target -= mass + a[store].prob;
            rank += store - lo + 1;
            lo = store + 1;
        }
    }
    return UINT64_MAX;
}

typedef struct {
    double p;
    int64_t min_keep;
    keyed *work; /* scratch for the boundary search, `cap` entries */
    size_t cap;
} top_p_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    top_p_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->p = values[0].number;
    s->min_keep = values[1].integer < 1 ? 1 : values[1].integer;
    s->work = NULL;
    s->cap = 0;
    *state_out = s;
    return TG_OK;
}

static void destroy(void *state)
{
    top_p_state *s = state;
    if (!s)
        return;
    free(s->work);
    free(s);
}

/* Large nucleus: find the boundary by mass, then keep what comes before it (unsorted). */
static tg_status select_by_mass(top_p_state *s, tg_candidates *c, double target, size_t min_keep)
{
    if (c->size > s->cap) {
        keyed *w = realloc(s->work, c->size * sizeof *w);
        if (!w)
            return tgp_fail(TG_ENOMEM, "out of memory");
        s->work = w;
        s->cap = c->size;
    }
    for (size_t i = 0; i < c->size; i++)
        s->work[i] = (keyed){key_of(c->logits[i], c->ids[i]), c->probs[i]};
    size_t rank = 0;
    const uint64_t boundary = mass_boundary(s->work, c->size, target, &rank);
    if (boundary == UINT64_MAX || rank + 1 >= c->size)
        return TG_OK; /* rounding: the whole set never reached p; keep it all */
    if (rank + 1 < min_keep) {
        tg_status st = tg_candidates_sort(c, min_keep);
        return st != TG_OK ? st : tg_candidates_truncate(c, min_keep);
    }
    size_t w = 0; /* swap-compaction keeps the arrays a permutation */
    for (size_t i = 0; i < c->size; i++)
        if (key_of(c->logits[i], c->ids[i]) <= boundary) {
            if (w != i)
                tgp_swap(c, w, i);
            w++;
        }
    c->size = w;
    c->sorted = 0;
    tgp_renormalize(c);
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
    /* Peaked: the boundary is among the 64 most likely. */
    const size_t k = TOP_P_FIRST < c->size ? TOP_P_FIRST : c->size;
    if ((st = tg_candidates_sort(c, k)) != TG_OK)
        return st;
    double cum = 0;
    for (size_t i = 0; i < k; i++) {
        cum += c->probs[i];
        if (cum >= target && i + 1 >= min_keep)
            return i + 1 >= c->size ? TG_OK : tg_candidates_truncate(c, i + 1);
    }
    if (k == c->size)
        return TG_OK; /* rounding: the whole set never reached p; keep it all */
    return select_by_mass((top_p_state *)state, c, target, min_keep);
}

static tg_status clone(void **state_out, const void *state)
{
    top_p_state *s = malloc(sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    *s = *(const top_p_state *)state;
    s->work = NULL; /* scratch is per state, never shared */
    s->cap = 0;
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
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("top_p", "0.1.0", "MIT", "built-in top-p (nucleus) filter", &vtable)
