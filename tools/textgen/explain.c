/* tools/textgen/explain.c — --explain and --explain-svg ride on the generation itself: the
 * library's trace hook (tg_generate_options.on_trace) reports, for each of the first steps, what
 * every chain stage did, and this file keeps a copy for the renderers. The explained steps are the
 * first steps of the very generation whose text is printed. */
#include "cli.h"

#include <string.h>

/* The printed parameters of the traced stages, in order: the trace leaves out stop criteria, the
 * printed chain does not, so each traced stage takes the next printed stage of its name. */
static char **stage_params(const ex_trace *t, const tg_step_trace *step)
{
    cli_spec_stage *st;
    size_t n = cli_spec_split(&st, t->spec);
    char **out = g_new0(char *, step->n_stages + 1);
    size_t k = 0;
    for (size_t i = 0; i < step->n_stages; i++) {
        size_t j = k;
        while (j < n && strcmp(st[j].name, step->stages[i].name) != 0)
            j++;
        out[i] = g_strdup(j < n ? st[j].params : "");
        k = j < n ? j + 1 : k;
    }
    cli_spec_stages_free(st, n);
    return out;
}

void cli_explain_record(ex_trace *t, const tg_step_trace *step)
{
    if (!t->spec)
        t->spec = g_strdup(step->samplers);
    char **params = stage_params(t, step);
    ex_step s = {step->token, step->logprob, g_new0(ex_stage, step->n_stages), step->n_stages};
    for (size_t i = 0; i < step->n_stages; i++) {
        const tg_trace_stage *in = &step->stages[i];
        ex_stage *out = &s.stages[i];
        out->name = g_strdup(in->name);
        out->params = params[i];
        out->kind = in->kind;
        out->size_before = in->size_before;
        out->size_after = in->size_after;
        out->before = g_memdup2(in->before, in->n_before * sizeof *in->before);
        out->n_before = in->n_before;
        out->after = g_memdup2(in->after, in->n_after * sizeof *in->after);
        out->n_after = in->n_after;
    }
    g_free(params); /* the strings moved into the stages */
    t->steps = g_renew(ex_step, t->steps, t->n_steps + 1);
    t->steps[t->n_steps++] = s;
}

void cli_explain_free(ex_trace *t)
{
    for (size_t i = 0; i < t->n_steps; i++) {
        ex_step *s = &t->steps[i];
        for (size_t k = 0; k < s->n_stages; k++) {
            g_free(s->stages[k].name);
            g_free(s->stages[k].params);
            g_free(s->stages[k].before);
            g_free(s->stages[k].after);
        }
        g_free(s->stages);
    }
    g_free(t->steps);
    g_free(t->spec);
    memset(t, 0, sizeof *t);
}
