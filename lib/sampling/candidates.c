/* sampling/candidates.c — helpers every processor uses: partial sort (quickselect + sort of the
 * prefix, never a full sort of the vocabulary for small k), softmax, truncation. */
#include "core/error.h"
#include <textgen/plugin.h>

#include <math.h>
#include <stdlib.h>

static void swap(tg_candidates *c, size_t i, size_t j)
{
    int32_t id = c->ids[i];
    c->ids[i] = c->ids[j];
    c->ids[j] = id;
    float l = c->logits[i];
    c->logits[i] = c->logits[j];
    c->logits[j] = l;
    if (c->probs_valid) {
        float p = c->probs[i];
        c->probs[i] = c->probs[j];
        c->probs[j] = p;
    }
}

/* "a before b": larger logit first, ties by smaller id (deterministic order). */
static int before(const tg_candidates *c, size_t a, size_t b)
{
    return c->logits[a] > c->logits[b] || (c->logits[a] == c->logits[b] && c->ids[a] < c->ids[b]);
}

/* Rearrange [lo, hi) so that the first (k - lo) of it are the ones that come first. */
static void select_top(tg_candidates *c, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1 && k > lo && k < hi) {
        /* median of three pivot, moved to hi-1 */
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (before(c, mid, lo))
            swap(c, mid, lo);
        if (before(c, last, lo))
            swap(c, last, lo);
        if (before(c, mid, last))
            swap(c, mid, last);
        size_t store = lo;
        for (size_t i = lo; i < last; i++)
            if (before(c, i, last))
                swap(c, i, store++);
        swap(c, store, last);
        if (store == k || store + 1 == k)
            return;
        if (store > k)
            hi = store;
        else
            lo = store + 1;
    }
}

/* Insertion sort for small ranges, heap sort otherwise (no recursion, O(n log n)). */
static void sift(tg_candidates *c, size_t base, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        /* min-heap on "before" so that popping gives the last element first */
        if (child + 1 < n && before(c, base + child + 1, base + child))
            child++;
        if (!before(c, base + child, base + root))
            return;
        swap(c, base + child, base + root);
        root = child;
    }
}

static void sort_range(tg_candidates *c, size_t lo, size_t hi)
{
    size_t n = hi - lo;
    if (n < 24) {
        for (size_t i = lo + 1; i < hi; i++)
            for (size_t j = i; j > lo && before(c, j, j - 1); j--)
                swap(c, j, j - 1);
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift(c, lo, i, n);
    for (size_t end = n; end-- > 1;) {
        swap(c, lo, lo + end); /* the "first" element goes to the back... */
        sift(c, lo, 0, end);
    }
    /* ...so the range is now in reverse order: flip it. */
    for (size_t i = lo, j = hi - 1; i < j; i++, j--)
        swap(c, i, j);
}

tg_status tg_candidates_sort(tg_candidates *c, size_t k)
{
    if (!c)
        return tg__error(TG_EINVAL, "tg_candidates_sort: invalid argument 'c'");
    if (k > c->size)
        k = c->size;
    if (k <= c->sorted)
        return TG_OK;
    select_top(c, c->sorted, c->size, k);
    sort_range(c, c->sorted, k);
    c->sorted = k;
    if (k + 1 == c->size) /* the last one is necessarily the smallest */
        c->sorted = c->size;
    return TG_OK;
}

tg_status tg_candidates_softmax(tg_candidates *c)
{
    if (!c)
        return tg__error(TG_EINVAL, "tg_candidates_softmax: invalid argument 'c'");
    if (c->size == 0)
        return tg__error(TG_ESTATE, "tg_candidates_softmax: no candidates left");
    float mx = c->logits[0];
    for (size_t i = 1; i < c->size; i++)
        mx = c->logits[i] > mx ? c->logits[i] : mx;
    if (isinf(mx) && mx < 0)
        return tg__error(TG_ESTATE, "tg_candidates_softmax: every candidate has logit -inf");
    double sum = 0;
    for (size_t i = 0; i < c->size; i++) {
        c->probs[i] = expf(c->logits[i] - mx);
        sum += c->probs[i];
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < c->size; i++)
        c->probs[i] *= inv;
    c->probs_valid = 1;
    return TG_OK;
}

tg_status tg_candidates_truncate(tg_candidates *c, size_t n)
{
    if (!c)
        return tg__error(TG_EINVAL, "tg_candidates_truncate: invalid argument 'c'");
    if (n == 0 || n > c->size)
        return tg__error(TG_ERANGE, "tg_candidates_truncate: n = %zu is outside [1, %zu]", n,
                         c->size);
    c->size = n;
    if (c->sorted > n)
        c->sorted = n;
    if (c->probs_valid) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += c->probs[i];
        const float inv = (float)(1.0 / sum);
        for (size_t i = 0; i < n; i++)
            c->probs[i] *= inv;
    }
    return TG_OK;
}
