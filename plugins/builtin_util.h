/* plugins/builtin_util.h — small helpers shared by the built-in processors (header-only, so that
 * each processor stays one self-contained module built from one .c file).
 *
 * Conventions of the built-in processors (see docs/processors.md):
 * - "Banning" a token: transforms set its logit to -INFINITY and keep it in the live set; filters
 *   remove candidates (compacting the arrays and lowering `size`). A banned token has
 *   probability 0, is never chosen by greedy or dist, and tg_candidates_softmax() works as long
 *   as one candidate is finite.
 * - A transform that changes logits clears `probs_valid`, and clears `sorted` unless the change
 *   keeps the order (temperature > 0).
 * - A filter keeps at least one candidate, keeps `sorted` truthful and renormalizes `probs`
 *   when they were valid. */
#ifndef TG_PLUGINS_BUILTIN_UTIL_H
#define TG_PLUGINS_BUILTIN_UTIL_H

#include <textgen/plugin.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tolerance for "the cumulative probability reaches p" (top_p, typical): float rounding of a
 * softmax is ~1e-7 per entry, so probabilities that add up to p exactly in decimal reach it. */
#define TGP_CUM_EPS 1e-6

/* Fail with a formatted message (returns `status`). */
static inline tg_status tgp_fail(tg_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline tg_status tgp_fail(tg_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_plugin_set_error(status, msg);
}

static inline void tgp_swap(tg_candidates *c, size_t i, size_t j)
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

/* Rescale probs[] of the live set to sum to 1 (when they are valid). */
static inline void tgp_renormalize(tg_candidates *c)
{
    if (!c->probs_valid)
        return;
    double sum = 0;
    for (size_t i = 0; i < c->size; i++)
        sum += c->probs[i];
    if (sum <= 0) {
        c->probs_valid = 0;
        return;
    }
    const double inv = 1.0 / sum;
    for (size_t i = 0; i < c->size; i++)
        c->probs[i] = (float)(c->probs[i] * inv);
}

/* Stable compaction: keep the entries whose flag keep[i] is non-zero (keep is indexed by the
 * positions before compaction) or, with keep NULL, whose logit is >= threshold; lower `size`,
 * keep `sorted` truthful and renormalize probs. Entries are swapped, never overwritten, so the
 * arrays stay a permutation of what the host filled. The caller guarantees at least one entry
 * is kept. */
static inline void tgp_compact_if(tg_candidates *c, const unsigned char *keep, double threshold)
{
    size_t w = 0, sorted_kept = 0;
    for (size_t i = 0; i < c->size; i++) {
        if (keep ? !keep[i] : !((double)c->logits[i] >= threshold))
            continue;
        if (i < c->sorted)
            sorted_kept++;
        if (w != i)
            tgp_swap(c, w, i); /* positions < i only ever hold rejected entries here */
        w++;
    }
    /* Kept entries of the old sorted prefix stay first, in order, and are still larger than
     * every kept entry that was outside it. */
    c->sorted = sorted_kept;
    c->size = w;
    tgp_renormalize(c);
}

static inline void tgp_compact(tg_candidates *c, const unsigned char *keep)
{
    tgp_compact_if(c, keep, 0.0);
}

/* Number of live entries whose logit is >= threshold. */
static inline size_t tgp_count_at_least(const tg_candidates *c, double threshold)
{
    size_t n = 0;
    for (size_t i = 0; i < c->size; i++)
        n += (double)c->logits[i] >= threshold;
    return n;
}

/* Clone of a state that is a plain struct (no pointers): a copy of its bytes. */
static inline tg_status tgp_dup(void **state_out, const void *state, size_t size)
{
    void *s = malloc(size);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    memcpy(s, state, size);
    *state_out = s;
    return TG_OK;
}

/* Keep the `n` largest logits (1 <= n); n >= size keeps everything. */
static inline tg_status tgp_keep_top(tg_candidates *c, size_t n)
{
    if (n >= c->size)
        return TG_OK;
    tg_status st = tg_candidates_sort(c, n);
    if (st != TG_OK)
        return st;
    return tg_candidates_truncate(c, n);
}

/* The penalty window: the last `last_n` tokens (-1: all, 0: none) of the history, counting the
 * prompt only when include_prompt. */
static inline void tgp_window(const tg_step_info *step, int64_t last_n, int include_prompt,
                              const int32_t **out, size_t *n_out)
{
    size_t n_tokens = step && step->tokens ? step->n_tokens : 0;
    size_t start = include_prompt ? 0 : (step ? step->n_prompt : 0);
    if (start > n_tokens)
        start = n_tokens;
    size_t avail = n_tokens - start;
    size_t n = avail;
    if (last_n == 0)
        n = 0;
    else if (last_n > 0 && (uint64_t)last_n < avail)
        n = (size_t)last_n;
    *out = n ? step->tokens + (n_tokens - n) : NULL;
    *n_out = n;
}

/* ---- a sparse set of token ids with one value each, located among the candidates ---- */

typedef struct tgp_idmap {
    int32_t n_vocab;
    int32_t *slot; /* n_vocab entries: index in ids[] or -1 */
    int32_t *ids;  /* distinct ids, first-seen order */
    double *val;   /* a value per id (count, bias, max length, ...) */
    long *pos;     /* after tgp_idmap_locate(): index among the candidates or -1 */
    size_t n, cap;
} tgp_idmap;

static inline tg_status tgp_idmap_init(tgp_idmap *m, int32_t n_vocab)
{
    memset(m, 0, sizeof *m);
    m->n_vocab = n_vocab > 0 ? n_vocab : 0;
    m->slot = malloc(((size_t)m->n_vocab + 1) * sizeof *m->slot);
    if (!m->slot)
        return tgp_fail(TG_ENOMEM, "out of memory (%d-entry id map)", n_vocab);
    for (int32_t i = 0; i < m->n_vocab; i++)
        m->slot[i] = -1;
    return TG_OK;
}

static inline void tgp_idmap_free(tgp_idmap *m)
{
    free(m->slot);
    free(m->ids);
    free(m->val);
    free(m->pos);
    memset(m, 0, sizeof *m);
}

/* Forget every id (O(number of ids)). */
static inline void tgp_idmap_clear(tgp_idmap *m)
{
    for (size_t k = 0; k < m->n; k++)
        m->slot[m->ids[k]] = -1;
    m->n = 0;
}

/* Index of `id` in the map, adding it with value 0 if new; -1 for ids outside the vocabulary;
 * -2 when out of memory. */
static inline long tgp_idmap_add(tgp_idmap *m, int32_t id)
{
    if (id < 0 || id >= m->n_vocab)
        return -1;
    if (m->slot[id] >= 0)
        return m->slot[id];
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        int32_t *ids = realloc(m->ids, cap * sizeof *ids);
        if (!ids)
            return -2;
        m->ids = ids;
        double *val = realloc(m->val, cap * sizeof *val);
        if (!val)
            return -2;
        m->val = val;
        long *pos = realloc(m->pos, cap * sizeof *pos);
        if (!pos)
            return -2;
        m->pos = pos;
        m->cap = cap;
    }
    m->ids[m->n] = id;
    m->val[m->n] = 0;
    m->slot[id] = (int32_t)m->n;
    return (long)m->n++;
}

static inline tg_status tgp_idmap_copy(tgp_idmap *dst, const tgp_idmap *src)
{
    tg_status st = tgp_idmap_init(dst, src->n_vocab);
    if (st != TG_OK)
        return st;
    for (size_t k = 0; k < src->n; k++) {
        long j = tgp_idmap_add(dst, src->ids[k]);
        if (j < 0) {
            tgp_idmap_free(dst);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
        dst->val[j] = src->val[k];
    }
    return TG_OK;
}

/* Set pos[k] to the candidate index of ids[k] (or -1 when not live). Fast path: the host fills
 * candidates in id order, so ids[t] == t is checked first; otherwise one scan of the live set. */
static inline void tgp_idmap_locate(tgp_idmap *m, const tg_candidates *c)
{
    int miss = 0;
    for (size_t k = 0; k < m->n; k++) {
        int32_t t = m->ids[k];
        if ((size_t)t < c->size && c->ids[t] == t) {
            m->pos[k] = t;
        } else {
            m->pos[k] = -1;
            miss = 1;
        }
    }
    if (!miss)
        return;
    for (size_t i = 0; i < c->size; i++) {
        int32_t id = c->ids[i];
        if (id >= 0 && id < m->n_vocab && m->slot[id] >= 0)
            m->pos[m->slot[id]] = (long)i;
    }
}

/* Set the logits of every located id to -inf; returns how many changed. Clears sorted and
 * probs_valid when something changed. */
static inline size_t tgp_idmap_ban(tgp_idmap *m, tg_candidates *c)
{
    size_t changed = 0;
    tgp_idmap_locate(m, c);
    for (size_t k = 0; k < m->n; k++) {
        long i = m->pos[k];
        if (i >= 0 && !(isinf(c->logits[i]) && c->logits[i] < 0)) {
            c->logits[i] = -INFINITY;
            changed++;
        }
    }
    if (changed) {
        c->sorted = 0;
        c->probs_valid = 0;
    }
    return changed;
}

#endif /* TG_PLUGINS_BUILTIN_UTIL_H */
