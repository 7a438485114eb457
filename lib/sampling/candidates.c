/* sampling/candidates.c — helpers every processor uses: partial sort (quickselect + sort of the
 * prefix, never a full sort of the vocabulary for small k), softmax, truncation, and the
 * filter helpers (keep_if / remove_if / keep: one stable compaction). */
#include "core/alloc.h"
#include "core/error.h"
#include <textgen/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sort keys: one uint64 per candidate ordering by logit descending, then id ascending, so that
 * plain integer comparisons give the candidates' order (no float compares, no ties). */
typedef struct keyed {
    uint64_t key;
    uint32_t pos; /* position in the candidate arrays */
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

/* Partition around a median-of-three pivot; returns the pivot's final index. */
static size_t partition(keyed *a, size_t lo, size_t hi)
{
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (a[mid].key < a[lo].key)
        kswap(a, mid, lo);
    if (a[last].key < a[lo].key)
        kswap(a, last, lo);
    if (a[mid].key < a[last].key)
        kswap(a, mid, last);
    const uint64_t pivot = a[last].key;
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (a[i].key < pivot)
            kswap(a, i, store++);
    kswap(a, store, last);
    return store;
}

/* Afterwards a[lo..k) holds the k-lo smallest keys of a[lo..hi) (in any order). */
static void select_smallest(keyed *a, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1 && k > lo && k < hi) {
        size_t p = partition(a, lo, hi);
        if (p == k || p + 1 == k)
            return;
        if (p > k)
            hi = p;
        else
            lo = p + 1;
    }
}

static void sort_keys(keyed *a, size_t lo, size_t hi)
{
    while (hi - lo > 16) {
        size_t p = partition(a, lo, hi);
        /* recurse into the smaller side, loop on the larger: O(log n) stack */
        if (p - lo < hi - p - 1) {
            sort_keys(a, lo, p);
            lo = p + 1;
        } else {
            sort_keys(a, p + 1, hi);
            hi = p;
        }
    }
    for (size_t i = lo + 1; i < hi; i++)
        for (size_t j = i; j > lo && a[j].key < a[j - 1].key; j--)
            kswap(a, j, j - 1);
}

/* Bounded max-heap of the m smallest keys seen (root = largest kept). */
static void heap_sift_down(keyed *h, size_t m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, big = i;
        if (l < m && h[l].key > h[big].key)
            big = l;
        if (l + 1 < m && h[l + 1].key > h[big].key)
            big = l + 1;
        if (big == i)
            return;
        kswap(h, i, big);
        i = big;
    }
}

/* The m smallest keys of positions [lo, hi), sorted ascending, into out[0..m). */
static void smallest_sorted(keyed *out, size_t m, const tg_candidates *c, size_t lo, size_t hi)
{
    if (m * 8 < hi - lo) { /* few wanted: one pass with a bounded heap */
        for (size_t i = 0; i < m; i++)
            out[i] = (keyed){key_of(c->logits[lo + i], c->ids[lo + i]), (uint32_t)(lo + i)};
        for (size_t i = m / 2; i-- > 0;)
            heap_sift_down(out, m, i);
        for (size_t i = lo + m; i < hi; i++) {
            const uint64_t k = key_of(c->logits[i], c->ids[i]);
            if (k < out[0].key) {
                out[0] = (keyed){k, (uint32_t)i};
                heap_sift_down(out, m, 0);
            }
        }
        sort_keys(out, 0, m);
        return;
    }
    /* many wanted: key everything, select, sort the prefix */
    keyed *all = tg__malloc((hi - lo) * sizeof *all);
    if (!all) { /* degrade gracefully: the heap path needs no extra memory */
        for (size_t i = 0; i < m; i++)
            out[i] = (keyed){key_of(c->logits[lo + i], c->ids[lo + i]), (uint32_t)(lo + i)};
        sort_keys(out, 0, m);
        for (size_t i = lo + m; i < hi; i++) {
            const uint64_t k = key_of(c->logits[i], c->ids[i]);
            if (k < out[m - 1].key) {
                size_t j = m - 1;
                for (; j > 0 && out[j - 1].key > k; j--)
                    out[j] = out[j - 1];
                out[j] = (keyed){k, (uint32_t)i};
            }
        }
        return;
    }
    for (size_t i = lo; i < hi; i++)
        all[i - lo] = (keyed){key_of(c->logits[i], c->ids[i]), (uint32_t)i};
    select_smallest(all, 0, hi - lo, m);
    sort_keys(all, 0, m);
    memcpy(out, all, m * sizeof *out);
    free(all);
}

tg_status tg_candidates_sort(tg_candidates *c, size_t k)
{
    tg_error_clear();
    if (!c)
        return tg__error(TG_EINVAL, "tg_candidates_sort: invalid argument 'c'");
    if (k > c->size)
        k = c->size;
    if (k <= c->sorted)
        return TG_OK;
    const size_t lo = c->sorted, hi = c->size, m = k - lo;
    keyed *top = tg__malloc(m * sizeof *top);
    unsigned char *chosen = tg__calloc(hi - lo, 1);
    int32_t *ids = tg__malloc(m * sizeof *ids);
    float *logits = tg__malloc(m * sizeof *logits), *probs = tg__malloc(m * sizeof *probs);
    tg_status st = TG_OK;
    if (!top || !chosen || !ids || !logits || !probs) {
        st = tg__error(TG_ENOMEM, "tg_candidates_sort: out of memory");
        goto done;
    }
    smallest_sorted(top, m, c, lo, hi);
    for (size_t j = 0; j < m; j++) {
        const size_t p = top[j].pos;
        chosen[p - lo] = 1;
        ids[j] = c->ids[p];
        logits[j] = c->logits[p];
        probs[j] = c->probs_valid ? c->probs[p] : 0.0f;
    }
    /* Entries of [lo, k) that were not chosen move into the holes the chosen ones leave in
     * [k, hi); then the chosen ones fill [lo, k) in order. */
    size_t hole = k;
    for (size_t p = lo; p < k; p++) {
        if (chosen[p - lo])
            continue;
        while (!chosen[hole - lo])
            hole++;
        c->ids[hole] = c->ids[p];
        c->logits[hole] = c->logits[p];
        if (c->probs_valid)
            c->probs[hole] = c->probs[p];
        hole++;
    }
    memcpy(c->ids + lo, ids, m * sizeof *ids);
    memcpy(c->logits + lo, logits, m * sizeof *logits);
    if (c->probs_valid)
        memcpy(c->probs + lo, probs, m * sizeof *probs);
    c->sorted = k;
    if (k + 1 == c->size) /* the last one is necessarily the smallest */
        c->sorted = c->size;
done:
    free(top);
    free(chosen);
    free(ids);
    free(logits);
    free(probs);
    return st;
}

tg_status tg_candidates_softmax(tg_candidates *c)
{
    tg_error_clear();
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
    tg_error_clear();
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

/* ---- filter helpers: one stable compaction behind keep_if, remove_if and keep ---- */

typedef struct keep_query {
    tg_candidate_pred pred;
    void *user_data;
    int32_t want; /* the predicate's answer that keeps an entry: 1 (keep_if) or 0 (remove_if) */
    const uint8_t *mask;
} keep_query;

static int keeps(const keep_query *q, const tg_candidates *c, size_t i)
{
    if (q->mask)
        return q->mask[i] != 0;
    return (q->pred(c, i, q->user_data) != 0) == q->want;
}

static void swap_entries(tg_candidates *c, size_t i, size_t j)
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

/* Entry i is asked about before anything moves it: swaps only exchange it with a position below
 * i, which holds a rejected entry. Nothing moves until an entry is kept, so keeping nothing
 * leaves the candidates as they were. */
static tg_status compact(tg_candidates *c, const keep_query *q, const char *fn)
{
    if (!c)
        return tg__error(TG_EINVAL, "%s: invalid argument 'c'", fn);
    if (!q->pred && !q->mask)
        return tg__error(TG_EINVAL, "%s: invalid argument '%s'", fn, q->want ? "keep" : "remove");
    size_t w = 0, sorted_kept = 0;
    for (size_t i = 0; i < c->size; i++) {
        if (!keeps(q, c, i))
            continue;
        if (i < c->sorted)
            sorted_kept++;
        if (w != i)
            swap_entries(c, w, i);
        w++;
    }
    if (w == 0)
        return tg__error(TG_ERANGE, "%s: no candidate would be left (of %zu)", fn, c->size);
    /* Kept entries of the old sorted prefix stay first, in order, and are still larger than
     * every kept entry that was outside it. */
    c->sorted = sorted_kept;
    if (w < c->size) {
        c->size = w;
        if (c->probs_valid) {
            double sum = 0;
            for (size_t i = 0; i < w; i++)
                sum += c->probs[i];
            if (sum > 0) {
                const float inv = (float)(1.0 / sum);
                for (size_t i = 0; i < w; i++)
                    c->probs[i] *= inv;
            } else {
                c->probs_valid = 0;
            }
        }
    }
    return TG_OK;
}

tg_status tg_candidates_keep_if(tg_candidates *c, tg_candidate_pred keep, void *user_data)
{
    tg_error_clear();
    const keep_query q = {keep, user_data, 1, NULL};
    return compact(c, &q, "tg_candidates_keep_if");
}

tg_status tg_candidates_remove_if(tg_candidates *c, tg_candidate_pred remove, void *user_data)
{
    tg_error_clear();
    const keep_query q = {remove, user_data, 0, NULL};
    return compact(c, &q, "tg_candidates_remove_if");
}

tg_status tg_candidates_keep(tg_candidates *c, const uint8_t *keep)
{
    tg_error_clear();
    const keep_query q = {NULL, NULL, 1, keep};
    if (!keep)
        return tg__error(TG_EINVAL, "tg_candidates_keep: invalid argument 'keep'");
    return compact(c, &q, "tg_candidates_keep");
}
