/* tools/textgen/explain.c — --explain: tg_generate() does not expose its chain, so the tool drives
 * the first steps itself with the step API (tokenize, session prefill, chain sample/accept,
 * decode) and records what every stage did through the chain's trace callback. With the same
 * spec and seed it picks the same tokens as tg_generate(). */
#include "cli.h"

#include <string.h>

#define TRACE_TOP_MAX 1000 /* tg_chain_set_trace()'s limit */

typedef struct capture {
    ex_trace *t;
    GArray *steps;       /* ex_step */
    char **stage_params; /* per traced (non-stop) stage, from tg_chain_print() */
    size_t n_stage_params;
} capture;

static void on_trace(const tg_trace_stage *stages, size_t n_stages, int32_t token, int32_t step,
                     void *user_data)
{
    capture *c = user_data;
    ex_step s = {token, 0.0f, g_new0(ex_stage, n_stages), n_stages};
    for (size_t i = 0; i < n_stages; i++) {
        const tg_trace_stage *in = &stages[i];
        ex_stage *out = &s.stages[i];
        out->name = g_strdup(in->name);
        out->params = g_strdup(i < c->n_stage_params ? c->stage_params[i] : "");
        out->kind = in->kind;
        out->size_before = in->size_before;
        out->size_after = in->size_after;
        out->before = g_memdup2(in->before, in->n_before * sizeof *in->before);
        out->n_before = in->n_before;
        out->after = g_memdup2(in->after, in->n_after * sizeof *in->after);
        out->n_after = in->n_after;
    }
    (void)step;
    g_array_append_val(c->steps, s);
}

/* The printed parameters of each stage that the trace reports (stop criteria are not traced). */
static void collect_params(capture *c, const tg_chain *chain, const char *printed)
{
    cli_spec_stage *st;
    size_t n = cli_spec_split(&st, printed);
    size_t len = tg_chain_length(chain);
    c->stage_params = g_new0(char *, len + 1);
    for (size_t i = 0; i < len; i++) {
        const tg_processor_vtable *vt;
        if (tg_chain_stage(&vt, chain, i) != TG_OK || vt->kind == TG_PROC_STOP)
            continue;
        c->stage_params[c->n_stage_params++] =
            g_strdup(i < n && strcmp(st[i].name, vt->name) == 0 ? st[i].params : "");
    }
    cli_spec_stages_free(st, n);
}

static int contains(const int32_t *ids, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* Prompt ids as tg_generate() makes them (an empty prompt starts from bos, else eos); *ids is
 * g_free()d. */
static int encode_prompt(int32_t **ids, size_t *n, const tg_model *model, const char *prompt)
{
    const tg_tokenizer *tok = tg_model_tokenizer(model);
    if (!tok) {
        cli_error("model folder '%s' has no tokenizer", tg_model_path(model));
        return CLI_EXIT_RUNTIME;
    }
    int32_t *enc = NULL;
    int rc = cli_encode_prompt(&enc, n, tok, prompt);
    if (rc != CLI_EXIT_OK)
        return rc;
    *ids = g_memdup2(enc, *n * sizeof *enc);
    tg_free(enc);
    if (*n == 0) {
        tg_model_info info = TG_MODEL_INFO_INIT;
        tg_model_get_info(&info, model);
        int32_t start = info.bos_id >= 0 ? info.bos_id : info.eos_id;
        if (start < 0) {
            cli_error("the prompt is empty and the model has no bos or eos token to start from");
            return CLI_EXIT_RUNTIME;
        }
        g_free(*ids);
        *ids = g_new(int32_t, 1);
        (*ids)[0] = start;
        *n = 1;
    }
    return CLI_EXIT_OK;
}

static int run_steps(capture *cap, tg_chain *chain, const tg_model *model, const int32_t *ids,
                     size_t n_ids, const cli_options *o, int n_steps)
{
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, model);
    if (n_ids >= (size_t)info.n_ctx) {
        cli_error("the prompt has %zu tokens but the model's context holds %d", n_ids,
                  (int)info.n_ctx);
        return CLI_EXIT_RUNTIME;
    }
    const int32_t *ends = NULL; /* the same end ids as tg_generate() */
    size_t n_ends = 0;
    if (tg_model_end_ids(&ends, &n_ends, model, 0) != TG_OK) {
        cli_error_tg("cannot read the model's end ids");
        return CLI_EXIT_RUNTIME;
    }
    tg_session_options so = TG_SESSION_OPTIONS_INIT;
    so.n_threads = o->threads.set ? (int32_t)o->threads.value : 0;
    tg_session *session = NULL;
    tg_batch_row *rows = g_new(tg_batch_row, n_ids);
    for (size_t i = 0; i < n_ids; i++)
        rows[i] = (tg_batch_row){ids[i], (int32_t)i, 0, i + 1 == n_ids};
    tg_status st = tg_session_create(&session, model, &so);
    if (st == TG_OK)
        st = tg_session_decode(session, rows, n_ids);
    g_free(rows);
    size_t row = n_ids - 1, pos = n_ids;
    for (int step = 0; st == TG_OK && step < n_steps; step++) {
        const float *logits;
        int32_t token;
        float lp = 0;
        if ((st = tg_session_logits(&logits, session, row)) != TG_OK ||
            (st = tg_chain_sample(&token, &lp, chain, logits)) != TG_OK ||
            (st = tg_chain_accept(chain, token)) != TG_OK)
            break;
        if (cap->steps->len)
            g_array_index(cap->steps, ex_step, cap->steps->len - 1).logprob = lp;
        if (contains(ends, n_ends, token) || pos + 1 >= (size_t)info.n_ctx || step + 1 == n_steps)
            break;
        tg_batch_row r = {token, (int32_t)pos++, 0, 1};
        st = tg_session_decode(session, &r, 1);
        row = 0;
    }
    tg_session_free(session);
    if (st != TG_OK) {
        cli_error_tg("explaining the generation failed");
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

int cli_explain_run(ex_trace *out, const tg_model *model, const char *prompt, const char *spec,
                    const cli_options *o, int n_steps)
{
    memset(out, 0, sizeof *out);
    out->tok = tg_model_tokenizer(model);
    char *own_spec =
        spec ? NULL
             : g_strdup(tg_model_default_samplers(model) ? tg_model_default_samplers(model)
                                                         : "greedy");
    tg_chain_options co = TG_CHAIN_OPTIONS_INIT;
    co.model = model;
    co.seed = o->seed;
    tg_chain *chain = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    capture cap = {out, g_array_new(FALSE, TRUE, sizeof(ex_step)), NULL, 0};
    int rc = CLI_EXIT_OK;
    if (tg_chain_parse(&chain, spec ? spec : own_spec, &co) != TG_OK) {
        cli_error_tg("bad sampler spec");
        rc = CLI_EXIT_RUNTIME;
    }
    if (rc == CLI_EXIT_OK && tg_chain_print(&out->spec, chain) != TG_OK) {
        cli_error_tg("cannot print the sampler chain");
        rc = CLI_EXIT_RUNTIME;
    }
    if (rc == CLI_EXIT_OK)
        rc = encode_prompt(&ids, &n_ids, model, prompt);
    if (rc == CLI_EXIT_OK) {
        collect_params(&cap, chain, out->spec);
        tg_model_info info = TG_MODEL_INFO_INIT;
        tg_model_get_info(&info, model);
        size_t top = info.n_vocab < TRACE_TOP_MAX ? (size_t)info.n_vocab : TRACE_TOP_MAX;
        if (tg_chain_set_prompt(chain, ids, n_ids) != TG_OK ||
            tg_chain_set_trace(chain, on_trace, top, &cap) != TG_OK) {
            cli_error_tg("cannot set up the sampler chain");
            rc = CLI_EXIT_RUNTIME;
        }
    }
    if (rc == CLI_EXIT_OK)
        rc = run_steps(&cap, chain, model, ids, n_ids, o, n_steps);
    out->n_steps = cap.steps->len;
    out->steps = (ex_step *)g_array_free(cap.steps, FALSE);
    g_strfreev(cap.stage_params);
    g_free(ids);
    tg_chain_free(chain);
    g_free(own_spec);
    return rc;
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
    tg_free(t->spec);
    memset(t, 0, sizeof *t);
}
