/* tools/textgen/svg.c — --explain-svg: one panel per explained step. Bars are the candidates'
 * probabilities (green: kept to the selector, red: cut, with the stage that cut it under the
 * token; the chosen token outlined), the blue line is the cumulative probability on the right
 * axis, and the dashed orange line is top_p's threshold when the chain has a top_p stage. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define MAX_ROWS 20
#define WIDTH 960
#define PANEL_H 360
#define LEFT 70
#define RIGHT 80
#define CHART_TOP 78 /* from the panel's top */
#define CHART_H 190

#define KEPT_COLOR "#2e7d32"
#define CUT_COLOR "#e57373"
#define CUM_COLOR "#1565c0"
#define TOPP_COLOR "#ef6c00"

static void put_escaped(GString *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            g_string_append(out, "&amp;");
            break;
        case '<':
            g_string_append(out, "&lt;");
            break;
        case '>':
            g_string_append(out, "&gt;");
            break;
        case '"':
            g_string_append(out, "&quot;");
            break;
        case '\'':
            g_string_append(out, "&apos;");
            break;
        default:
            g_string_append_c(out, *s);
        }
    }
}

/* `s` cut to `n` characters with "…". g_free() it. */
static char *shorten(const char *s, glong n)
{
    if (g_utf8_strlen(s, -1) <= n)
        return g_strdup(s);
    char *head = g_utf8_substring(s, 0, n - 1);
    char *r = g_strconcat(head, "…", NULL);
    g_free(head);
    return r;
}

/* A round upper bound for the probability axis. */
static double axis_max(double top)
{
    static const double steps[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.8, 1.0};
    for (size_t i = 0; i < G_N_ELEMENTS(steps); i++)
        if (top <= steps[i] + 1e-12)
            return steps[i];
    return 1.0;
}

static void text(GString *out, double x, double y, const char *anchor, const char *style,
                 const char *s)
{
    g_string_append_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor,
                           style);
    put_escaped(out, s);
    g_string_append(out, "</text>\n");
}

static void axes(GString *out, double y0, double ymax, int with_cum)
{
    const double x0 = LEFT, x1 = WIDTH - RIGHT, yb = y0 + CHART_H;
    for (int i = 0; i <= 4; i++) {
        double y = yb - CHART_H * i / 4.0;
        char lbl[32];
        g_snprintf(lbl, sizeof lbl, "%g%%", 100.0 * ymax * i / 4.0);
        g_string_append_printf(out,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e0e0e0\"/>\n",
                               x0, y, x1, y);
        text(out, x0 - 6, y + 4, "end", "class=\"ax\"", lbl);
        if (with_cum) {
            g_snprintf(lbl, sizeof lbl, "%g%%", 25.0 * i);
            text(out, x1 + 6, y + 4, "start", "class=\"ax cum\"", lbl);
        }
    }
    g_string_append_printf(out,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                           "stroke=\"#616161\"/>\n",
                           x0, yb, x1, yb);
    g_string_append_printf(out,
                           "<text class=\"ax\" transform=\"translate(%.1f %.1f) rotate(-90)\" "
                           "text-anchor=\"middle\">probability</text>\n",
                           x0 - 48, y0 + CHART_H / 2.0);
    if (with_cum)
        g_string_append_printf(out,
                               "<text class=\"ax cum\" transform=\"translate(%.1f %.1f) "
                               "rotate(90)\" text-anchor=\"middle\">cumulative</text>\n",
                               x1 + 50, y0 + CHART_H / 2.0);
}

static void legend(GString *out, double y, int has_top_p)
{
    double x = LEFT;
    g_string_append_printf(
        out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"" KEPT_COLOR "\"/>\n",
        x, y - 10);
    text(out, x + 17, y, "start", "class=\"lg\"", "kept (to the selector)");
    x += 170;
    g_string_append_printf(
        out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"" CUT_COLOR "\"/>\n", x,
        y - 10);
    text(out, x + 17, y, "start", "class=\"lg\"", "cut (by the stage named below)");
    x += 215;
    g_string_append_printf(out,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"none\" "
                           "stroke=\"#000\" stroke-width=\"2\"/>\n",
                           x, y - 10);
    text(out, x + 17, y, "start", "class=\"lg\"", "chosen");
    x += 75;
    g_string_append_printf(
        out,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" CUM_COLOR
        "\" stroke-width=\"2\"/>\n",
        x, y - 4, x + 20, y - 4);
    text(out, x + 25, y, "start", "class=\"lg\"", "cumulative");
    if (has_top_p) {
        x += 105;
        g_string_append_printf(out,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"" TOPP_COLOR "\" stroke-width=\"2\" "
                               "stroke-dasharray=\"6 4\"/>\n",
                               x, y - 4, x + 20, y - 4);
        text(out, x + 25, y, "start", "class=\"lg\"", "top_p threshold");
    }
}

static void panel(GString *out, const ex_trace *t, size_t index, double top)
{
    const ex_step *s = &t->steps[index];
    ex_view v;
    ex_view_build(&v, t, s, MAX_ROWS);
    const double y0 = top + CHART_TOP, yb = y0 + CHART_H;
    const double x0 = LEFT, x1 = WIDTH - RIGHT;

    char *tok = cli_token_text(t->tok, s->token);
    char *title = g_strdup_printf("Step %zu of %zu: chose '%s' (log-probability %.3f)", index + 1,
                                  t->n_steps, tok, (double)s->logprob);
    text(out, LEFT, top + 24, "start", "class=\"title\"", title);
    g_free(title);
    g_free(tok);
    GString *chain = g_string_new(NULL);
    for (size_t k = 0; k < s->n_stages; k++) {
        const ex_stage *st = &s->stages[k];
        g_string_append_printf(chain, "%s%zu %s ", k ? "  ·  " : "", k + 1, st->name);
        if (st->kind == TG_PROC_SELECTOR)
            g_string_append_printf(chain, "%zu → 1", st->size_before);
        else
            g_string_append_printf(chain, "%zu → %zu", st->size_before, st->size_after);
    }
    text(out, LEFT, top + 44, "start", "class=\"sub\"", chain->str);
    g_string_free(chain, TRUE);
    char *what = v.has_top_p
                     ? g_strdup_printf("bars: probability entering stage %zu (top_p); line: its "
                                       "cumulative sum, which top_p compares with p = %g",
                                       v.ref + 1, v.top_p)
                     : g_strdup("bars: the model's probability; line: its cumulative sum");
    text(out, LEFT, top + 61, "start", "class=\"sub\"", what);
    g_free(what);

    double pmax = 0;
    for (size_t i = 0; i < v.n_rows; i++)
        if (!isnan(v.rows[i].p) && v.rows[i].p > pmax)
            pmax = v.rows[i].p;
    const double ymax = axis_max(pmax);
    axes(out, y0, ymax, 1);

    /* one slot per row, half a slot (with "…") where ranks were skipped */
    double *xs = g_new(double, v.n_rows + 1);
    double units = 0;
    for (size_t i = 0; i < v.n_rows; i++) {
        units += v.rows[i].gap_before ? 0.5 : 0.0;
        xs[i] = units + 0.5;
        units += 1.0;
    }
    const double slot = (x1 - x0) / (units > 0 ? units : 1.0), bw = slot * 0.7;
    GString *cum = g_string_new(NULL);
    for (size_t i = 0; i < v.n_rows; i++) {
        const ex_row *r = &v.rows[i];
        const double cx = x0 + slot * xs[i];
        const double p = isnan(r->p) ? 0 : r->p;
        double h = CHART_H * p / ymax;
        if (p > 0 && h < 2)
            h = 2; /* keep the colour of tiny bars visible */
        const int kept = r->cut_by < 0;
        if (r->gap_before) {
            text(out, cx - slot * 0.75, yb - 6, "middle", "class=\"gap\"", "…");
            if (cum->len) { /* the line does not run across skipped ranks */
                g_string_append_printf(out,
                                       "<polyline points=\"%s\" fill=\"none\" "
                                       "stroke=\"" CUM_COLOR "\" stroke-width=\"2\"/>\n",
                                       cum->str);
                g_string_truncate(cum, 0);
            }
        }
        g_string_append_printf(out,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                               "fill=\"%s\"%s><title>",
                               cx - bw / 2, yb - h, bw, h, kept ? KEPT_COLOR : CUT_COLOR,
                               r->chosen ? " stroke=\"#000\" stroke-width=\"2.5\"" : "");
        char *tip =
            g_strdup_printf("#%zu '%s': p %.4f, cumulative %.4f, %s%s", r->rank, r->text, p, r->cum,
                            kept ? "kept" : "cut by ", kept ? "" : s->stages[r->cut_by].name);
        put_escaped(out, tip);
        g_free(tip);
        g_string_append(out, "</title></rect>\n");
        char pct[16];
        g_snprintf(pct, sizeof pct, p >= 0.001 ? "%.1f%%" : "<0.1%%", 100 * p);
        text(out, cx, yb - h - (r->chosen ? 16 : 4), "middle", "class=\"val\"", pct);
        if (r->chosen)
            text(out, cx, yb - h - 4, "middle", "class=\"val chosen\"", "▼");
        char *short_tok = shorten(r->text, (glong)(slot / 7.5) - 2);
        char *quoted = g_strdup_printf("'%s'", short_tok);
        text(out, cx, yb + 16, "middle", "class=\"tok\"", quoted);
        g_free(quoted);
        g_free(short_tok);
        char rank[24];
        g_snprintf(rank, sizeof rank, "#%zu", r->rank);
        if (r->rank)
            text(out, cx, yb + 29, "middle", "class=\"rank\"", rank);
        if (!kept) {
            char *who = shorten(s->stages[r->cut_by].name, (glong)(slot / 6.2));
            text(out, cx, yb + 42, "middle", "class=\"cut\"", who);
            g_free(who);
        }
        if (!isnan(r->cum)) {
            double cy = yb - CHART_H * r->cum;
            g_string_append_printf(cum, "%s%.1f,%.1f", cum->len ? " " : "", cx, cy);
            g_string_append_printf(
                out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"" CUM_COLOR "\"/>\n", cx, cy);
        }
    }
    if (cum->len)
        g_string_append_printf(out,
                               "<polyline points=\"%s\" fill=\"none\" stroke=\"" CUM_COLOR
                               "\" stroke-width=\"2\"/>\n",
                               cum->str);
    g_string_free(cum, TRUE);
    g_free(xs);
    if (v.has_top_p && !isnan(v.top_p)) {
        const double y = yb - CHART_H * v.top_p;
        g_string_append_printf(out,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"" TOPP_COLOR "\" stroke-width=\"1.5\" "
                               "stroke-dasharray=\"6 4\"/>\n",
                               x0, y, x1, y);
        char lbl[48];
        g_snprintf(lbl, sizeof lbl, "top_p p = %g", v.top_p);
        /* right end, under the line: the curve is above it there and the bars are low */
        text(out, x1 - 4, y + 14, "end", "class=\"topp\"", lbl);
    }
    legend(out, top + PANEL_H - 22, v.has_top_p);
    ex_view_clear(&v);
}

int cli_explain_svg(const char *path, const ex_trace *t)
{
    const size_t n = t->n_steps;
    const double height = (double)(n ? n : 1) * PANEL_H + 10;
    GString *out = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    g_string_append_printf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
        "viewBox=\"0 0 %d %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n",
        WIDTH, height, WIDTH, height);
    g_string_append(out, "<title>textgen --explain: ");
    put_escaped(out, t->spec ? t->spec : "");
    g_string_append(out, "</title>\n<style>\n"
                         ".title{font-size:16px;font-weight:bold;fill:#212121}\n"
                         ".sub{font-size:12px;fill:#616161}\n"
                         ".ax{font-size:11px;fill:#616161}\n"
                         ".cum{fill:" CUM_COLOR "}\n"
                         ".val{font-size:10px;fill:#424242}\n"
                         ".chosen{font-weight:bold;fill:#000}\n"
                         ".tok{font-size:12px;font-family:'DejaVu Sans Mono',monospace;"
                         "fill:#212121;white-space:pre}\n"
                         ".cut{font-size:10px;fill:#c62828}\n"
                         ".rank{font-size:9px;fill:#9e9e9e}\n"
                         ".gap{font-size:16px;fill:#616161}\n"
                         ".topp{font-size:11px;fill:" TOPP_COLOR "}\n"
                         ".lg{font-size:11px;fill:#424242}\n"
                         "</style>\n"
                         "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    for (size_t i = 0; i < n; i++) {
        if (i)
            g_string_append_printf(out,
                                   "<line x1=\"20\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                                   "stroke=\"#bdbdbd\"/>\n",
                                   (double)i * PANEL_H, WIDTH - 20, (double)i * PANEL_H);
        panel(out, t, i, (double)i * PANEL_H);
    }
    if (n == 0)
        text(out, LEFT, 40, "start", "class=\"title\"", "no step was generated");
    g_string_append(out, "</svg>\n");
    int rc = CLI_EXIT_OK;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(out->str, 1, out->len, f) == out->len;
    int err = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        cli_error("cannot write the SVG '%s': %s", path, g_strerror(err));
        rc = CLI_EXIT_RUNTIME;
    }
    g_string_free(out, TRUE);
    return rc;
}
