/* tools/textgen/explain_view.c — turn one traced step into the rows both renderers draw.
 *
 * The rows are the most likely candidates entering the *reference* stage — top_p when the chain
 * has one (so that the cumulative column is the very sum top_p compares with its p), else the
 * first stage (the model's own distribution) — with the boundary where the cuts start, and the
 * chosen token if it is not among them.
 * For every row and stage: kept, cut by that stage, or gone (cut earlier). */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static const tg_trace_entry *find(const tg_trace_entry *e, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].id == id)
            return &e[i];
    return NULL;
}

static void fill_states(ex_row *r, const ex_step *s)
{
    r->state = g_new0(uint8_t, s->n_stages);
    r->cut_by = -1;
    int alive = 1;
    for (size_t k = 0; k < s->n_stages; k++) {
        const ex_stage *st = &s->stages[k];
        if (!alive) {
            r->state[k] = EX_GONE;
        } else if (st->kind != TG_PROC_SELECTOR && st->size_after < st->size_before &&
                   !find(st->after, st->n_after, r->id)) {
            /* filters only remove candidates, so a survivor ranked this high is always among
             * the traced top entries after the stage */
            r->state[k] = EX_CUT;
            r->cut_by = (int)k;
            alive = 0;
        } else {
            r->state[k] = EX_KEPT;
        }
    }
    const ex_stage *sel = &s->stages[s->n_stages - 1];
    const tg_trace_entry *e = alive ? find(sel->before, sel->n_before, r->id) : NULL;
    r->p_final = e ? e->prob : 0.0;
}

/* Index of the first candidate of `ref` (most likely first) that does not reach the selector,
 * or -1. */
static long first_cut(const ex_stage *ref, const ex_stage *sel)
{
    if (ref == sel)
        return -1;
    for (size_t i = 0; i < ref->n_before; i++)
        if (!find(sel->before, sel->n_before, ref->before[i].id))
            return (long)i;
    return -1;
}

/* By rank, unknown ranks (0) last. */
static gint cmp_rank(gconstpointer a, gconstpointer b, gpointer user_data)
{
    size_t x = ((const ex_row *)a)->rank, y = ((const ex_row *)b)->rank;
    (void)user_data;
    x = x ? x : SIZE_MAX;
    y = y ? y : SIZE_MAX;
    return x < y ? -1 : x > y;
}

static void add_row(ex_view *v, const ex_stage *ref, const double *cum, size_t i)
{
    ex_row *r = &v->rows[v->n_rows++];
    r->id = ref->before[i].id;
    r->rank = i + 1;
    r->p = ref->before[i].prob;
    r->cum = cum[i];
}

void ex_view_build(ex_view *v, const ex_trace *t, const ex_step *s, size_t max_rows)
{
    memset(v, 0, sizeof *v);
    if (s->n_stages == 0)
        return;
    for (size_t k = 0; k < s->n_stages; k++)
        if (strcmp(s->stages[k].name, "top_p") == 0) {
            char *p = cli_spec_param(s->stages[k].params, "p");
            v->ref = k;
            v->has_top_p = 1;
            v->top_p = p ? g_ascii_strtod(p, NULL) : NAN;
            g_free(p);
            break;
        }
    const ex_stage *ref = &s->stages[v->ref], *sel = &s->stages[s->n_stages - 1];
    const size_t n_list = ref->n_before;
    double *cum = g_new(double, n_list + 1);
    for (size_t i = 0; i < n_list; i++)
        cum[i] = (i ? cum[i - 1] : 0.0) + ref->before[i].prob;
    v->rows = g_new0(ex_row, max_rows + 6);
    /* the most likely rows; when the first cut lies further down, fewer of them and a window
     * around that boundary (the last kept rows and the first cut ones) */
    const long cut = first_cut(ref, sel);
    size_t head = n_list < max_rows ? n_list : max_rows;
    size_t win_lo = 0, win_hi = 0;
    if (cut >= 0 && (size_t)cut + 2 > head && head > 6) {
        win_lo = (size_t)cut >= 2 ? (size_t)cut - 2 : 0;
        win_hi = (size_t)cut + 3 < n_list ? (size_t)cut + 3 : n_list;
        head = max_rows - (win_hi - win_lo);
        if (win_lo < head)
            head = win_lo;
    }
    for (size_t i = 0; i < head; i++)
        add_row(v, ref, cum, i);
    for (size_t i = win_lo; i < win_hi; i++)
        add_row(v, ref, cum, i);
    int shown = 0;
    for (size_t i = 0; i < v->n_rows; i++)
        shown |= v->rows[i].id == s->token;
    if (!shown) {
        /* the chosen token ranks lower: show it too, after a gap */
        size_t i = 0;
        while (i < n_list && ref->before[i].id != s->token)
            i++;
        if (i < n_list) {
            add_row(v, ref, cum, i);
        } else {
            ex_row *r = &v->rows[v->n_rows++];
            r->id = s->token;
            r->p = r->cum = NAN;
        }
    }
    g_qsort_with_data(v->rows, (gint)v->n_rows, sizeof *v->rows, cmp_rank, NULL);
    double p_shown = 0;
    for (size_t i = 0; i < v->n_rows; i++) {
        v->rows[i].gap_before =
            i > 0 && (v->rows[i].rank == 0 || v->rows[i].rank != v->rows[i - 1].rank + 1);
        ex_row *r = &v->rows[i];
        p_shown += isnan(r->p) ? 0 : r->p;
        r->chosen = r->id == s->token;
        r->text = cli_token_text(t->tok, r->id);
        fill_states(r, s);
    }
    v->n_more = ref->size_before > v->n_rows ? ref->size_before - v->n_rows : 0;
    v->p_more = 1.0 - p_shown > 0 ? 1.0 - p_shown : 0.0;
    g_free(cum);
}

void ex_view_clear(ex_view *v)
{
    for (size_t i = 0; i < v->n_rows; i++) {
        g_free(v->rows[i].text);
        g_free(v->rows[i].state);
    }
    g_free(v->rows);
    memset(v, 0, sizeof *v);
}
