/* tools/textgen/explain_text.c — the --explain tables: per step, the stages with how many
 * candidates each left, then the candidate table (token, probability, cumulative probability,
 * a text bar, and per stage whether it kept or cut the token), fitted to `width` columns. */
#include "cli.h"

#include <math.h>
#include <string.h>

#define MAX_ROWS 12
#define TOKEN_COLS 12

static const char *const eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};

typedef struct colors {
    const char *kept, *cut, *dim, *bold, *off;
} colors;

/* `s` padded (or cut with "…") to exactly `cols` display columns. */
static void put_fitted(GString *out, const char *s, size_t cols, int right)
{
    size_t w = cli_display_width(s);
    if (w > cols) {
        size_t used = 0;
        const char *p = s;
        while (*p) {
            gunichar u = g_utf8_get_char(p);
            size_t cw = g_unichar_iswide(u) ? 2 : 1;
            if (used + cw > cols - 1)
                break;
            used += cw;
            p = g_utf8_next_char(p);
        }
        g_string_append_len(out, s, p - s);
        g_string_append(out, "…");
        for (; used + 1 < cols; used++)
            g_string_append_c(out, ' ');
        return;
    }
    if (right)
        for (size_t i = w; i < cols; i++)
            g_string_append_c(out, ' ');
    g_string_append(out, s);
    if (!right)
        for (size_t i = w; i < cols; i++)
            g_string_append_c(out, ' ');
}

/* 'token' in `cols` columns, shortened inside the quotes when too long. */
static void put_token(GString *out, const char *text, size_t cols)
{
    GString *inner = g_string_new(NULL);
    put_fitted(inner, text, cols - 2, 0);
    while (inner->len && inner->str[inner->len - 1] == ' ' &&
           cli_display_width(inner->str) > cli_display_width(text))
        g_string_truncate(inner, inner->len - 1);
    char *quoted = g_strdup_printf("'%s'", inner->str);
    put_fitted(out, quoted, cols, 0);
    g_free(quoted);
    g_string_free(inner, TRUE);
}

static void put_percent(GString *out, double p)
{
    char buf[16];
    if (isnan(p))
        g_snprintf(buf, sizeof buf, "?");
    else if (p > 0 && p < 0.0005)
        g_snprintf(buf, sizeof buf, "<0.1%%");
    else
        g_snprintf(buf, sizeof buf, "%.1f%%", 100.0 * p);
    put_fitted(out, buf, 6, 1);
}

/* A bar of `cols` columns for fraction `f` of the full width: eighth blocks when kept, shaded
 * blocks when cut. */
static void put_bar(GString *out, double f, size_t cols, int kept)
{
    if (isnan(f) || f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    size_t used;
    if (kept) {
        size_t units = (size_t)lround(f * (double)cols * 8);
        for (size_t i = 0; i < units / 8; i++)
            g_string_append(out, "█");
        g_string_append(out, eighths[units % 8]);
        used = units / 8 + (units % 8 ? 1 : 0);
    } else {
        used = (size_t)lround(f * (double)cols);
        if (used == 0 && f > 0)
            used = 1;
        for (size_t i = 0; i < used; i++)
            g_string_append(out, "░");
    }
    for (; used < cols; used++)
        g_string_append_c(out, ' ');
}

static void print_stages(GString *out, const ex_step *s, const ex_view *v, const ex_trace *t,
                         int width)
{
    size_t spec_cols = (size_t)(width > 40 ? width - 24 : 16);
    g_string_append(out, "   # ");
    put_fitted(out, "stage", spec_cols, 0);
    g_string_append(out, " before → after\n");
    for (size_t k = 0; k < s->n_stages; k++) {
        const ex_stage *st = &s->stages[k];
        char *text =
            *st->params ? g_strdup_printf("%s(%s)", st->name, st->params) : g_strdup(st->name);
        g_string_append_printf(out, "  %2zu ", k + 1);
        put_fitted(out, text, spec_cols, 0);
        if (st->kind == TG_PROC_SELECTOR) {
            char *tok = cli_token_text(t->tok, s->token);
            g_string_append_printf(out, " %6zu → '%s'\n", st->size_before, tok);
            g_free(tok);
        } else {
            g_string_append_printf(out, " %6zu → %zu\n", st->size_before, st->size_after);
        }
        g_free(text);
    }
    if (v->has_top_p)
        g_string_append_printf(out,
                               "  p, cum: the distribution entering stage %zu, top_p, which keeps "
                               "tokens\n          up to the first whose cum reaches %g\n",
                               v->ref + 1, v->top_p);
    else
        g_string_append(out, "  p, cum: the model's distribution (entering stage 1)\n");
}

static void print_table(GString *out, const ex_step *s, const ex_view *v, int width,
                        const colors *c)
{
    size_t n_marks = s->n_stages - 1; /* the selector gets the "chosen" column */
    long bar_cols = (long)width - 53 - 2 * (long)n_marks;
    if (bar_cols < 8)
        bar_cols = 8;
    if (bar_cols > 40)
        bar_cols = 40;
    double top = 0;
    for (size_t i = 0; i < v->n_rows; i++)
        if (!isnan(v->rows[i].p) && v->rows[i].p > top)
            top = v->rows[i].p;

    g_string_append(out, "\n    #  token             p    cum  ");
    put_fitted(out, "bar", (size_t)bar_cols, 0);
    g_string_append(out, "  ");
    for (size_t k = 0; k < n_marks; k++)
        g_string_append_printf(out, "%zu%s", (k + 1) % 10, k + 1 < n_marks ? " " : "");
    g_string_append(out, "   final\n");

    for (size_t i = 0; i < v->n_rows; i++) {
        const ex_row *r = &v->rows[i];
        int kept = r->cut_by < 0;
        if (r->gap_before)
            g_string_append(out, "    …\n");
        if (r->rank)
            g_string_append_printf(out, "  %3zu  ", r->rank);
        else
            g_string_append(out, "    ?  ");
        put_token(out, r->text, TOKEN_COLS);
        g_string_append_c(out, ' ');
        put_percent(out, r->p);
        g_string_append_c(out, ' ');
        put_percent(out, r->cum);
        g_string_append(out, "  ");
        g_string_append(out, kept ? c->kept : c->dim);
        put_bar(out, top > 0 ? r->p / top : 0, (size_t)bar_cols, kept);
        g_string_append(out, c->off);
        g_string_append(out, "  ");
        for (size_t k = 0; k < n_marks; k++) {
            const char *m = r->state[k] == EX_KEPT ? "✓" : r->state[k] == EX_CUT ? "✗" : "·";
            const char *col = r->state[k] == EX_CUT ? c->cut : r->state[k] == EX_GONE ? c->dim : "";
            g_string_append_printf(out, "%s%s%s%s", col, m, *col ? c->off : "",
                                   k + 1 < n_marks ? " " : "");
        }
        g_string_append(out, "  ");
        if (kept)
            put_percent(out, r->p_final);
        else
            put_fitted(out, "—", 6, 1);
        if (r->chosen)
            g_string_append_printf(out, " %s◀ chosen%s", c->bold, c->off);
        g_string_append_c(out, '\n');
    }
    if (v->n_more) {
        char buf[48];
        g_snprintf(buf, sizeof buf, "… %zu more", v->n_more);
        g_string_append(out, "       ");
        put_fitted(out, buf, TOKEN_COLS, 0);
        g_string_append_c(out, ' ');
        put_percent(out, v->p_more);
        g_string_append_c(out, '\n');
    }
}

/* "chain: <spec>", wrapped between stages to `width` columns. */
static void put_wrapped_chain(GString *out, const char *spec, int width)
{
    cli_spec_stage *st;
    size_t n = cli_spec_split(&st, spec);
    size_t col = 6;
    g_string_append(out, "chain:");
    for (size_t i = 0; i < n; i++) {
        char *text = *st[i].params ? g_strdup_printf("%s(%s)", st[i].name, st[i].params)
                                   : g_strdup(st[i].name);
        size_t w = cli_display_width(text);
        if (i > 0 && col + 1 + w > (size_t)width) {
            g_string_append(out, "\n      ");
            col = 6;
        }
        g_string_append_printf(out, " %s", text);
        col += 1 + w;
        g_free(text);
    }
    g_string_append_c(out, '\n');
    cli_spec_stages_free(st, n);
}

void cli_explain_print(FILE *f, const ex_trace *t, int width, int color)
{
    const colors plain = {"", "", "", "", ""};
    const colors ansi = {"\033[32m", "\033[31m", "\033[2m", "\033[1m", "\033[0m"};
    const colors *c = color ? &ansi : &plain;
    GString *out = g_string_new(NULL);
    put_wrapped_chain(out, t->spec ? t->spec : "", width);
    for (size_t i = 0; i < t->n_steps; i++) {
        const ex_step *s = &t->steps[i];
        ex_view v;
        ex_view_build(&v, t, s, MAX_ROWS);
        char *tok = cli_token_text(t->tok, s->token);
        g_string_append_printf(out, "\n%sstep %zu of %zu: chose '%s' (log-probability %.3f)%s\n",
                               c->bold, i + 1, t->n_steps, tok, (double)s->logprob, c->off);
        g_free(tok);
        print_stages(out, s, &v, t, width);
        print_table(out, s, &v, width, c);
        ex_view_clear(&v);
    }
    g_string_append(out, "\n✓ kept  ✗ cut by this stage  · cut earlier  "
                         "final: probability at the selector\n");
    fputs(out->str, f);
    g_string_free(out, TRUE);
}
