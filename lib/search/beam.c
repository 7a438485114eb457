/* search/beam.c — beam search, Hugging Face's semantics (docs/design.md, "Beam search"):
 *
 *   per live beam:  scores = log_softmax(logits), then the chain's non-selecting stages on them
 *                   (with the beam's own history), plus the beam's running score;
 *   per group:      the scorers' adjust; the chain's selector draws the best max(2, 1 + n_end) x
 *                   group_size (beam, token) candidates (greedy: the top ones; dist: sampled
 *                   without replacement); in rank order, a candidate that ends (end id, stop
 *                   token or string, max_new_tokens, ...) becomes a finished hypothesis when it
 *                   ranks among the first group_size, and the first group_size that do not end
 *                   are the next live beams;
 *   done:           a group is done when it has no live beam, or group_size finished ones and
 *                   early stopping says so; the search ends when every group is done.
 *
 * Every hypothesis is a tg_hyp; a candidate is made by copying its parent and pushing the token,
 * so stop strings, the detokenizer and the chain's stop criteria work exactly as in greedy
 * generation. Live beams keep their KV cache in the session's sequences: after each step a beam
 * whose parent has no other child keeps the parent's sequence, the others get the sequences of
 * parents that left no child (tg_session_seq_copy), and all live beams decode as one batch. */
#include "core/alloc.h"
#include "beam.h"
#include "core/error.h"
#include "model/model_access.h"
#include "sampling/sampling_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct scorer_ref {
    const tg_processor_vtable *vt; /* NULL: none */
    const tg_beam_scorer *sc;
    void *state;
} scorer_ref;

typedef struct group {
    GPtrArray *live;     /* tg_hyp*, best running score first */
    GPtrArray *finished; /* tg_hyp*, best final score first, at most group_size */
    int32_t done;
} group;

struct tg_beam {
    int32_t n_beams, n_groups, group_size, n_keep, n_return, early_stopping;
    int32_t n_vocab, n_prompt, step, over;
    const tg_stop_rules *rules;
    tg_chain *chain; /* the prompt's chain: its selector draws the candidates */
    tg_session *session;
    tg_chain *scorers;
    scorer_ref grouper, final;
    scorer_ref *adjusters;
    size_t n_adjusters;
    group *groups;
    GPtrArray *pool;   /* spare hypotheses */
    GPtrArray *ranked; /* once over: every finished hypothesis, best first */
    float *rows;       /* group_size x n_vocab candidate scores of one group */
    float *lp;         /* one beam's log-probabilities */
    double *running;
    const int32_t **hist;
    tg_candidates flat; /* the finite entries of `rows`, id = beam * n_vocab + token */
    GArray *chosen;     /* tokens chosen at this step by the groups expanded so far */
    int32_t *claimed;   /* per sequence of the session */
    tg_batch_row *batch;
};

static void drop_all(GPtrArray *a)
{
    if (!a)
        return;
    for (guint i = 0; i < a->len; i++)
        tg__hyp_free(g_ptr_array_index(a, i));
    g_ptr_array_free(a, TRUE);
}

void tg__beam_free(tg_beam *b)
{
    if (!b)
        return;
    for (int32_t g = 0; b->groups && g < b->n_groups; g++) {
        drop_all(b->groups[g].live);
        drop_all(b->groups[g].finished);
    }
    free(b->groups);
    drop_all(b->pool);
    if (b->ranked)
        g_ptr_array_free(b->ranked, TRUE); /* borrowed from the groups */
    tg_chain_free(b->scorers);
    free(b->adjusters);
    free(b->rows);
    free(b->lp);
    free(b->running);
    free(b->hist);
    free(b->flat.ids);
    free(b->flat.logits);
    free(b->flat.probs);
    if (b->chosen)
        g_array_free(b->chosen, TRUE);
    free(b->claimed);
    free(b->batch);
    free(b);
}

/* ---- hypotheses ---- */

static tg_status take(tg_hyp **out, tg_beam *b)
{
    if (b->pool->len) {
        *out = g_ptr_array_steal_index_fast(b->pool, b->pool->len - 1);
        return TG_OK;
    }
    return tg__hyp_new(out, b->chain, b->rules->tok);
}

static void give_back(tg_beam *b, tg_hyp *h)
{
    g_ptr_array_add(b->pool, h);
}

static tg_status score_of(double *out, const tg_beam *b, const tg_hyp *h, int32_t group,
                          int32_t length, int32_t max_length)
{
    tg_beam_hypothesis hy = {sizeof hy,  length, h->sum,
                             max_length, group,  (const int32_t *)h->tokens->data};
    tg_error_clear();
    tg_status st = b->final.sc->score(b->final.state, &hy, out);
    if (st != TG_OK)
        return tg_error_last()[0]
                   ? tg__error_prefix("beam scorer '%s' failed to score", b->final.vt->name)
                   : tg__error(st, "beam scorer '%s' failed to score (status %d)",
                               b->final.vt->name, (int)st);
    if (isnan(*out))
        return tg__error(TG_EPLUGIN, "beam scorer '%s' scored a hypothesis NaN", b->final.vt->name);
    return TG_OK;
}

/* Add a finished hypothesis to its group's kept ones (the best group_size, best first; a newcomer
 * must beat the worst to enter a full set). Takes `h`. */
static tg_status add_finished(tg_beam *b, int32_t gi, tg_hyp *h)
{
    const int32_t len = (int32_t)h->tokens->len;
    tg_status st = score_of(&h->score, b, h, gi, len, len);
    if (st != TG_OK) {
        give_back(b, h);
        return st;
    }
    GPtrArray *f = b->groups[gi].finished;
    guint at = f->len;
    while (at > 0 && ((tg_hyp *)g_ptr_array_index(f, at - 1))->score < h->score)
        at--;
    if (f->len >= (guint)b->group_size && at == f->len) {
        give_back(b, h); /* not better than the worst kept */
        return TG_OK;
    }
    g_ptr_array_insert(f, (gint)at, h);
    if (f->len > (guint)b->group_size)
        give_back(b, g_ptr_array_steal_index(f, f->len - 1));
    return TG_OK;
}

/* ---- one group's step ---- */

/* log_softmax over the whole vocabulary (as Hugging Face normalizes). */
static void log_softmax(float *out, const float *logits, int32_t n)
{
    /* out = logit - shift, with shift split in two floats so that little of its double is lost */
    const double shift = tg__log_sum_exp(logits, (size_t)n);
    const float hi = (float)shift, lo = (float)(shift - (double)hi);
    for (int32_t i = 0; i < n; i++)
        out[i] = (logits[i] - hi) - lo;
}

/* rows[b] = the running score of live beam b plus each token's processed log-probability. */
static tg_status fill_rows(tg_beam *b, group *g)
{
    const int32_t V = b->n_vocab;
    for (guint i = 0; i < g->live->len; i++) {
        tg_hyp *h = g_ptr_array_index(g->live, i);
        const float *logits;
        tg_status st = tg_session_logits(&logits, b->session, h->row);
        if (st != TG_OK)
            return st;
        log_softmax(b->lp, logits, V);
        const tg_candidates *c;
        if ((st = tg__chain_process(&c, h->chain, b->lp)) != TG_OK)
            return st;
        float *row = b->rows + (size_t)i * (size_t)V;
        for (int32_t t = 0; t < V; t++)
            row[t] = -INFINITY;
        for (size_t k = 0; k < c->size; k++)
            row[c->ids[k]] = (float)((double)c->logits[k] + h->sum);
        b->running[i] = h->sum;
        b->hist[i] = (const int32_t *)h->tokens->data;
    }
    return TG_OK;
}

static tg_status adjust(tg_beam *b, group *g, int32_t gi)
{
    for (size_t k = 0; k < b->n_adjusters; k++) {
        const scorer_ref *s = &b->adjusters[k];
        tg_beam_step step = {
            sizeof step,   b->step, gi,         b->n_groups, (int32_t)g->live->len,
            b->n_vocab,    b->rows, b->running, b->hist,     (const int32_t *)b->chosen->data,
            b->chosen->len};
        tg_error_clear();
        tg_status st = s->sc->adjust(s->state, &step);
        if (st != TG_OK)
            return tg_error_last()[0]
                       ? tg__error_prefix("beam scorer '%s' failed", s->vt->name)
                       : tg__error(st, "beam scorer '%s' failed (status %d)", s->vt->name, (int)st);
    }
    return TG_OK;
}

/* The finite entries of rows, for the selector. */
static tg_status flatten(tg_beam *b, group *g)
{
    const int32_t V = b->n_vocab;
    const size_t n_entries = (size_t)g->live->len * (size_t)V;
    size_t n = 0;
    for (size_t i = 0; i < n_entries; i++) {
        const float v = b->rows[i];
        if (isnan(v))
            return tg__error(TG_ERANGE, "beam search: the score of token %d of beam %zu is NaN",
                             (int)(i % (size_t)V), i / (size_t)V);
        if (v == -INFINITY)
            continue;
        b->flat.ids[n] = (int32_t)i;
        b->flat.logits[n] = v;
        n++;
    }
    if (n == 0)
        return tg__error(TG_ESTATE, "beam search: every token of every live beam has score -inf "
                                    "(the chain or a beam scorer removed them all)");
    b->flat.size = n;
    b->flat.sorted = 0;
    b->flat.probs_valid = 0;
    b->flat.selected = -1;
    return TG_OK;
}

/* Rank the drawn candidates by score, best first (ties keep the draw order). */
static void rank_picked(tg_candidates *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const int32_t id = c->ids[i];
        const float v = c->logits[i];
        size_t j = i;
        while (j > 0 && c->logits[j - 1] < v) {
            c->ids[j] = c->ids[j - 1];
            c->logits[j] = c->logits[j - 1];
            j--;
        }
        c->ids[j] = id;
        c->logits[j] = v;
    }
}

static tg_status check_done(tg_beam *b, group *g, int32_t gi)
{
    if (g->live->len == 0) {
        g->done = 1;
        return TG_OK;
    }
    if (g->finished->len < (guint)b->group_size)
        return TG_OK;
    if (b->early_stopping == TG_EARLY_STOP_TRUE) {
        g->done = 1;
        return TG_OK;
    }
    /* Could the best live beam still beat the worst kept hypothesis? */
    const tg_hyp *best = g_ptr_array_index(g->live, 0);
    const int32_t len = b->step + 1;
    int32_t max_len = len;
    if (b->early_stopping == TG_EARLY_STOP_NEVER) {
        const tg_stop_rules *r = b->rules;
        max_len = r->max_new >= 0 && r->max_new < r->room ? r->max_new : r->room;
    }
    double bound;
    tg_status st = score_of(&bound, b, best, gi, len, max_len);
    if (st != TG_OK)
        return st;
    const tg_hyp *worst = g_ptr_array_index(g->finished, g->finished->len - 1);
    if (!(bound > worst->score))
        g->done = 1;
    return TG_OK;
}

static tg_status expand_group(tg_beam *b, int32_t gi)
{
    group *g = &b->groups[gi];
    const int32_t V = b->n_vocab;
    tg_status st = fill_rows(b, g);
    if (st == TG_OK)
        st = adjust(b, g, gi);
    if (st == TG_OK)
        st = flatten(b, g);
    size_t picked = 0;
    const size_t k = (size_t)b->n_keep < b->flat.size ? (size_t)b->n_keep : b->flat.size;
    if (st == TG_OK)
        st = tg__chain_select_k(&picked, b->chain, &b->flat, k, b->step);
    if (st != TG_OK)
        return st;
    rank_picked(&b->flat, picked);
    GPtrArray *next = g_ptr_array_new();
    const guint want = (guint)b->group_size;
    for (size_t r = 0; r < picked && st == TG_OK; r++) {
        if (r >= want && next->len == want)
            break;
        const tg_hyp *parent = g_ptr_array_index(g->live, (guint)(b->flat.ids[r] / V));
        const int32_t token = b->flat.ids[r] % V;
        tg_hyp *child;
        if ((st = take(&child, b)) != TG_OK)
            break;
        st = tg__hyp_assign(child, parent);
        if (st == TG_OK)
            st = tg__hyp_push(child, b->rules, token,
                              (float)((double)b->flat.logits[r] - parent->sum), NULL);
        if (st == TG_OK && child->stop && r < want)
            st = add_finished(b, gi, child); /* an end among the first group_size */
        else if (st == TG_OK && !child->stop && next->len < want)
            g_ptr_array_add(next, child);
        else
            give_back(b, child);
    }
    for (guint i = 0; i < g->live->len; i++)
        give_back(b, g_ptr_array_index(g->live, i));
    g_ptr_array_free(g->live, TRUE);
    g->live = next;
    if (st != TG_OK)
        return st;
    for (guint i = 0; i < next->len; i++) {
        const tg_hyp *h = g_ptr_array_index(next, i);
        g_array_append_val(b->chosen, g_array_index(h->tokens, int32_t, h->tokens->len - 1));
    }
    if ((st = check_done(b, g, gi)) != TG_OK)
        return st;
    if (g->done) { /* a done group's live beams cannot win any more */
        for (guint i = 0; i < g->live->len; i++)
            give_back(b, g_ptr_array_index(g->live, i));
        g_ptr_array_set_size(g->live, 0);
    }
    return TG_OK;
}

/* ---- the session's sequences ---- */

/* Give every live beam a sequence holding its parent's cache, then decode them as one batch. */
static tg_status reorder_and_decode(tg_beam *b)
{
    memset(b->claimed, 0, (size_t)b->n_beams * sizeof *b->claimed);
    size_t n = 0;
    /* First pass: a parent's first child keeps its sequence. The others are marked (-1). */
    for (int32_t gi = 0; gi < b->n_groups; gi++) {
        GPtrArray *live = b->groups[gi].live;
        for (guint i = 0; i < live->len; i++) {
            tg_hyp *h = g_ptr_array_index(live, i);
            b->batch[n].seq = h->seq;
            if (b->claimed[h->seq])
                b->batch[n].seq = -1;
            b->claimed[h->seq] = 1;
            n++;
        }
    }
    /* Second pass: the others copy their parent's cache into a sequence no beam keeps. */
    int32_t free_seq = 0;
    size_t k = 0;
    tg_status st = TG_OK;
    for (int32_t gi = 0; gi < b->n_groups && st == TG_OK; gi++) {
        GPtrArray *live = b->groups[gi].live;
        for (guint i = 0; i < live->len && st == TG_OK; i++, k++) {
            tg_hyp *h = g_ptr_array_index(live, i);
            if (b->batch[k].seq < 0) {
                while (b->claimed[free_seq])
                    free_seq++;
                st = tg_session_seq_copy(b->session, free_seq, h->seq);
                h->seq = free_seq;
                b->claimed[free_seq] = 1;
            }
            b->batch[k] = (tg_batch_row){g_array_index(h->tokens, int32_t, h->tokens->len - 1),
                                         b->n_prompt + (int32_t)h->tokens->len - 1, h->seq, 1};
            h->row = k;
        }
    }
    /* Sequences no live beam uses: empty them (a paged cache frees their blocks). */
    for (int32_t s = 0; s < b->n_beams && st == TG_OK; s++)
        if (!b->claimed[s])
            st = tg_session_seq_truncate(b->session, s, 0);
    if (st == TG_OK)
        st = tg_session_decode(b->session, b->batch, n);
    return st;
}

/* ---- the search ---- */

static int cmp_score(gconstpointer a, gconstpointer c)
{
    const double x = (*(tg_hyp *const *)a)->score, y = (*(tg_hyp *const *)c)->score;
    return x > y ? -1 : x < y;
}

/* The search is over: every group's kept hypotheses, best first. */
static void conclude(tg_beam *b)
{
    b->over = 1;
    b->ranked = g_ptr_array_new();
    for (int32_t gi = 0; gi < b->n_groups; gi++) {
        group *g = &b->groups[gi];
        for (guint i = 0; i < g->live->len; i++)
            give_back(b, g_ptr_array_index(g->live, i));
        g_ptr_array_set_size(g->live, 0);
        for (guint i = 0; i < g->finished->len; i++)
            g_ptr_array_add(b->ranked, g_ptr_array_index(g->finished, i));
    }
    /* stable: equal scores keep group order, then each group's order */
    g_ptr_array_sort(b->ranked, cmp_score);
}

tg_status tg__beam_step(tg_beam *b, int32_t *done_out)
{
    *done_out = b->over;
    if (b->over)
        return TG_OK;
    g_array_set_size(b->chosen, 0);
    tg_status st = TG_OK;
    for (int32_t gi = 0; gi < b->n_groups && st == TG_OK; gi++)
        if (!b->groups[gi].done)
            st = expand_group(b, gi);
    if (st != TG_OK)
        return st;
    b->step++;
    int32_t all_done = 1;
    for (int32_t gi = 0; gi < b->n_groups; gi++)
        all_done &= b->groups[gi].done;
    if (all_done) {
        conclude(b);
        *done_out = 1;
        return TG_OK;
    }
    return reorder_and_decode(b);
}

tg_status tg__beam_stop(tg_beam *b, int32_t reason)
{
    if (b->over)
        return TG_OK;
    tg_status st = TG_OK;
    for (int32_t gi = 0; gi < b->n_groups; gi++) {
        group *g = &b->groups[gi];
        if (g->done)
            continue;
        for (guint i = 0; i < g->live->len; i++) {
            tg_hyp *h = g_ptr_array_index(g->live, i);
            tg__hyp_end(h, b->rules, reason, NULL);
            tg_status s2 = add_finished(b, gi, h);
            if (st == TG_OK)
                st = s2;
        }
        g_ptr_array_set_size(g->live, 0);
        g->done = 1;
    }
    conclude(b);
    return st;
}

/* ---- what can be streamed, and the results ---- */

static size_t common_bytes(const GString *a, const GString *c)
{
    size_t n = a->len < c->len ? a->len : c->len, i = 0;
    while (i < n && a->str[i] == c->str[i])
        i++;
    return i;
}

static size_t common_ids(const GArray *a, const GArray *c)
{
    size_t n = a->len < c->len ? a->len : c->len, i = 0;
    while (i < n && g_array_index(a, int32_t, i) == g_array_index(c, int32_t, i))
        i++;
    return i;
}

void tg__beam_common(const tg_beam *b, const char **text, size_t *text_len, const int32_t **tokens,
                     size_t *n_tokens)
{
    static const int32_t none[1] = {0};
    const tg_hyp *first = NULL;
    size_t tl = 0, nt = 0;
    if (b->over) {
        first = b->ranked->len ? g_ptr_array_index(b->ranked, 0) : NULL;
        tl = first ? first->text->len : 0;
        nt = first ? first->tokens->len : 0;
    } else {
        for (int32_t gi = 0; gi < b->n_groups; gi++) {
            const group *g = &b->groups[gi];
            for (int pass = 0; pass < 2; pass++) {
                const GPtrArray *a = pass ? g->finished : g->live;
                for (guint i = 0; i < a->len; i++) {
                    const tg_hyp *h = g_ptr_array_index(a, i);
                    if (!first) {
                        first = h;
                        tl = h->text->len;
                        nt = h->tokens->len;
                        continue;
                    }
                    size_t c = common_bytes(first->text, h->text);
                    tl = c < tl ? c : tl;
                    c = common_ids(first->tokens, h->tokens);
                    nt = c < nt ? c : nt;
                }
            }
        }
        /* whole characters only: never stop inside a multi-byte UTF-8 sequence */
        while (first && tl > 0 && tl < first->text->len &&
               ((unsigned char)first->text->str[tl] & 0xC0) == 0x80)
            tl--;
    }
    *text = first ? first->text->str : "";
    *text_len = tl;
    *tokens = first && first->tokens->len ? (const int32_t *)first->tokens->data : none;
    *n_tokens = nt;
}

size_t tg__beam_results(const tg_beam *b, const tg_hyp *const **out)
{
    *out = b->over ? (const tg_hyp *const *)b->ranked->pdata : NULL;
    if (!b->over)
        return 0;
    return b->ranked->len < (guint)b->n_return ? b->ranked->len : (size_t)b->n_return;
}

int32_t tg__beam_steps(const tg_beam *b)
{
    return b->step;
}

tg_status tg__beam_scorers_print(char **out, const tg_beam *b)
{
    return tg_chain_print(out, b->scorers);
}

/* ---- setup ---- */

/* Find the scorers' roles: at most one asks for groups, every adjust runs, the last score
 * decides (length_penalty when none gives one). */
static tg_status collect_scorers(tg_beam *b)
{
    tg_status st = TG_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        const size_t n = tg__chain_n_stages(b->scorers);
        free(b->adjusters);
        b->adjusters = tg__calloc(n + 1, sizeof *b->adjusters);
        if (!b->adjusters)
            return tg__error(TG_ENOMEM, "out of memory");
        b->n_adjusters = 0;
        b->grouper.vt = b->final.vt = NULL;
        for (size_t i = 0; i < n; i++) {
            scorer_ref r;
            tg__chain_stage_at(&r.vt, &r.state, b->scorers, i);
            r.sc = r.vt->scorer;
            if (r.sc->groups) {
                if (b->grouper.vt)
                    return tg__error(TG_ESPEC,
                                     "beam scorers '%s' and '%s' both split the beams into "
                                     "groups; use one",
                                     b->grouper.vt->name, r.vt->name);
                b->grouper = r;
            }
            if (r.sc->adjust)
                b->adjusters[b->n_adjusters++] = r;
            if (r.sc->score)
                b->final = r;
        }
        if (b->final.vt)
            return TG_OK;
        if ((st = tg_chain_add(b->scorers, "length_penalty", NULL)) != TG_OK)
            return tg__error_prefix("beam search needs a beam scorer that gives final scores "
                                    "(length_penalty by default)");
    }
    return tg__error(TG_EPLUGIN, "beam scorer 'length_penalty' gives no final score");
}

static tg_status make_groups(tg_beam *b)
{
    int32_t n_groups = 1;
    if (b->grouper.vt) {
        tg_error_clear();
        tg_status st = b->grouper.sc->groups(b->grouper.state, b->n_beams, &n_groups);
        if (st != TG_OK)
            return tg_error_last()[0] ? tg__error_prefix("beam scorer '%s'", b->grouper.vt->name)
                                      : tg__error(st, "beam scorer '%s' refused num_beams = %d",
                                                  b->grouper.vt->name, (int)b->n_beams);
        if (n_groups < 1 || n_groups > b->n_beams || b->n_beams % n_groups != 0)
            return tg__error(TG_ERANGE,
                             "beam scorer '%s' asked for %d groups, which does not divide "
                             "num_beams = %d",
                             b->grouper.vt->name, (int)n_groups, (int)b->n_beams);
    }
    b->n_groups = n_groups;
    b->group_size = b->n_beams / n_groups;
    b->groups = tg__calloc((size_t)n_groups, sizeof *b->groups);
    if (!b->groups)
        return tg__error(TG_ENOMEM, "out of memory");
    for (int32_t gi = 0; gi < n_groups; gi++) {
        b->groups[gi].live = g_ptr_array_new();
        b->groups[gi].finished = g_ptr_array_new();
    }
    return TG_OK;
}

tg_status tg__beam_create(tg_beam **out, const tg_beam_config *cfg)
{
    *out = NULL;
    tg_beam *b = tg__calloc(1, sizeof *b);
    if (!b)
        return tg__error(TG_ENOMEM, "out of memory");
    b->n_beams = cfg->n_beams;
    b->n_return = cfg->n_return;
    b->early_stopping = cfg->early_stopping;
    b->rules = cfg->rules;
    b->chain = cfg->chain;
    b->session = cfg->session;
    b->n_vocab = tg__model_n_vocab(cfg->model);
    b->pool = g_ptr_array_new();
    b->chosen = g_array_new(FALSE, FALSE, sizeof(int32_t));
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = cfg->model;
    const char *spec = cfg->scorers ? cfg->scorers : "";
    tg_status st = tg__chain_parse_scorers(&b->scorers, spec, &co);
    if (st != TG_OK)
        st = tg__error_prefix("beam scorers \"%s\"", spec);
    if (st == TG_OK)
        st = collect_scorers(b);
    if (st == TG_OK)
        st = make_groups(b);
    if (st != TG_OK) {
        tg__beam_free(b);
        return st;
    }
    const tg_stop_rules *r = cfg->rules;
    const int32_t n_end = (int32_t)(r->n_end + r->n_stop_ids);
    b->n_keep = (1 + n_end > 2 ? 1 + n_end : 2) * b->group_size;
    const size_t cells = (size_t)b->group_size * (size_t)b->n_vocab;
    b->rows = tg__malloc(cells * sizeof *b->rows);
    b->lp = tg__malloc((size_t)b->n_vocab * sizeof *b->lp);
    b->running = tg__calloc((size_t)b->group_size, sizeof *b->running);
    b->hist = tg__calloc((size_t)b->group_size, sizeof *b->hist);
    b->flat.ids = tg__malloc(cells * sizeof *b->flat.ids);
    b->flat.logits = tg__malloc(cells * sizeof *b->flat.logits);
    b->flat.probs = tg__malloc(cells * sizeof *b->flat.probs);
    b->claimed = tg__calloc((size_t)b->n_beams, sizeof *b->claimed);
    b->batch = tg__calloc((size_t)b->n_beams, sizeof *b->batch);
    if (!b->rows || !b->lp || !b->running || !b->hist || !b->flat.ids || !b->flat.logits ||
        !b->flat.probs || !b->claimed || !b->batch) {
        st = tg__error(TG_ENOMEM, "out of memory for beam search (%d beams of %d tokens)",
                       (int)b->n_beams, (int)b->n_vocab);
        tg__beam_free(b);
        return st;
    }
    b->flat.struct_size = sizeof b->flat;
    b->flat.n_vocab = (int32_t)(cells < INT32_MAX ? cells : INT32_MAX);
    b->flat.capacity = cells;
    /* Every group starts from the prompt: the prompt's cache is sequence 0. */
    for (int32_t gi = 0; gi < b->n_groups && st == TG_OK; gi++) {
        tg_hyp *h;
        if ((st = tg__hyp_new(&h, cfg->chain, r->tok)) != TG_OK)
            break;
        h->seq = 0;
        h->row = cfg->prompt_row;
        g_ptr_array_add(b->groups[gi].live, h);
    }
    int32_t n_prompt;
    if (st == TG_OK)
        st = tg_session_seq_length(&n_prompt, cfg->session, 0);
    if (st != TG_OK) {
        tg__beam_free(b);
        return st;
    }
    b->n_prompt = n_prompt;
    *out = b;
    return TG_OK;
}
