/* typical — locally typical sampling (Meister et al. 2022), Hugging Face TypicalLogitsWarper
 * semantics: keep the tokens whose surprise is closest to the entropy, until their
 * probabilities add up to p.
 *
 *   H = -sum_i p_i ln p_i                  (entropy of the live distribution, nats)
 *   s_i = | -ln p_i - H |                  (distance of the surprise from the entropy)
 *   order by s ascending; j* = first position where the cumulative probability >= p
 *   keep i iff s_i <= s_(j*), plus the first min_keep of that order; renormalize.
 *
 * The order is built incrementally (64 smallest first, growing 4x) so that a peaked
 * distribution does not need a full sort. p >= 1 keeps everything; a tolerance of 1e-6 on the
 * cumulative sum absorbs float rounding.
 */
#include "../builtin_util.h"

#define TYPICAL_FIRST 64
#define TYPICAL_GROWTH 4

typedef struct {
    double key;  /* s_i */
    int32_t id;  /* tie break: lower id first */
    uint32_t at; /* candidate index */
} typical_item;

typedef struct {
    double p;
    int64_t min_keep;
    typical_item *items;
    unsigned char *keep;
    size_t cap;
} typical_state;

static tg_status reserve(typical_state *s, size_t n)
{
    if (n <= s->cap)
        return TG_OK;
    typical_item *it = realloc(s->items, n * sizeof *it);
    if (!it)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->items = it;
    unsigned char *k = realloc(s->keep, n);
    if (!k)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->keep = k;
    s->cap = n;
    return TG_OK;
}

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    typical_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->p = values[0].number;
    s->min_keep = values[1].integer < 1 ? 1 : values[1].integer;
    tg_status st = reserve(s, ctx && ctx->n_vocab > 0 ? (size_t)ctx->n_vocab : 1);
    if (st != TG_OK) {
        free(s);
        return st;
    }
    *state_out = s;
    return TG_OK;
}

static void destroy(void *state)
{
    typical_state *s = state;
    if (!s)
        return;
    free(s->items);
    free(s->keep);
    free(s);
}

static int item_before(const typical_item *a, const typical_item *b)
{
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static int item_cmp(const void *pa, const void *pb)
{
    const typical_item *a = pa, *b = pb;
    return item_before(a, b) ? -1 : item_before(b, a) ? 1 : 0;
}

static void item_swap(typical_item *v, size_t i, size_t j)
{
    typical_item t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Rearrange v[lo, hi) so that v[lo, k) holds the (k - lo) smallest items (unordered). */
static void select_smallest(typical_item *v, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1 && k > lo && k < hi) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (item_before(&v[mid], &v[lo]))
            item_swap(v, mid, lo);
        if (item_before(&v[last], &v[lo]))
            item_swap(v, last, lo);
        if (item_before(&v[mid], &v[last]))
            item_swap(v, mid, last);
        size_t store = lo;
        for (size_t i = lo; i < last; i++)
            if (item_before(&v[i], &v[last]))
                item_swap(v, i, store++);
        item_swap(v, store, last);
        if (store == k || store + 1 == k)
            return;
        if (store > k)
            hi = store;
        else
            lo = store + 1;
    }
}

/* Make v[0, want) the `want` smallest items in ascending order, given v[0, *have) already is. */
static void extend_sorted(typical_item *v, size_t n, size_t *have, size_t want)
{
    if (want > n)
        want = n;
    if (want <= *have)
        return;
    select_smallest(v, *have, n, want);
    qsort(v + *have, want - *have, sizeof *v, item_cmp);
    *have = want;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    typical_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    if (s->p >= 1.0 || c->size == 1)
        return TG_OK;
    tg_status st = tg_candidates_softmax(c);
    if (st == TG_OK)
        st = reserve(s, c->size);
    if (st != TG_OK)
        return st;
    const size_t n = c->size;
    double entropy = 0;
    for (size_t i = 0; i < n; i++)
        if (c->probs[i] > 0)
            entropy -= (double)c->probs[i] * log((double)c->probs[i]);
    typical_item *v = s->items;
    for (size_t i = 0; i < n; i++) {
        const double p = c->probs[i];
        v[i].key = p > 0 ? fabs(-log(p) - entropy) : INFINITY;
        v[i].id = c->ids[i];
        v[i].at = (uint32_t)i;
    }
    const double target = s->p - TGP_CUM_EPS;
    size_t have = 0, done = 0, last = n - 1, want = TYPICAL_FIRST;
    double cum = 0;
    for (;;) {
        extend_sorted(v, n, &have, want);
        for (; done < have; done++) {
            cum += c->probs[v[done].at];
            if (cum >= target) {
                last = done;
                goto found;
            }
        }
        if (have == n)
            break;
        want = have > n / TYPICAL_GROWTH ? n : have * TYPICAL_GROWTH;
    }
found:;
    const size_t min_keep = (uint64_t)s->min_keep < n ? (size_t)s->min_keep : n;
    extend_sorted(v, n, &have, min_keep);
    const double threshold = v[last].key;
    size_t n_keep = 0;
    for (size_t j = 0; j < n; j++) {
        unsigned char k = v[j].key <= threshold || j < min_keep;
        s->keep[v[j].at] = k;
        n_keep += k;
    }
    if (n_keep < n)
        tgp_compact(c, s->keep);
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const typical_state *src = state;
    tg_param_value v[2] = {{.number = src->p}, {.integer = src->min_keep}};
    tg_proc_context ctx = {sizeof ctx, (int32_t)src->cap, NULL, 0, NULL, NULL};
    return create(state_out, v, &ctx);
}

static const tg_param_spec params[] = {
    {"p", TG_PARAM_FLOAT, "1.0", 1e-9, 1,
     "probability mass of the most typical tokens kept, in (0, 1]; 1 = keep all"},
    {"min_keep", TG_PARAM_INT, "1", 1, 1e9, "keep at least this many tokens"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "typical",
    .kind = TG_PROC_FILTER,
    .doc = "locally typical: keep tokens whose surprise is closest to the entropy, up to mass p",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("typical", "0.1.0", "MIT", "built-in locally typical filter", &vtable)
