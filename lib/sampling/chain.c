/* sampling/chain.c — an ordered list of processor instances and the per-sequence state they run
 * on: history, step counter, candidates buffer (allocated once per chain), trace. */
#include "core/error.h"
#include "model/model_access.h"
#include "sampling_internal.h"
#include <textgen/tokenizer.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct stage {
    const tg_processor_vtable *vt;
    void *state;
    tg_param_slot *slots; /* parallel to vt->params */
    tg_param_value *values;
} stage;

struct tg_chain {
    int32_t n_vocab;
    int32_t n_live; /* ids >= n_live (a padded vocabulary beyond the tokenizer) never compete */
    int32_t *eos;
    size_t n_eos;
    const void *tokenizer;
    uint64_t seed;
    int32_t sequence;
    GArray *stages; /* stage */
    int32_t *history;
    size_t n_hist, cap_hist, n_prompt;
    int32_t step;
    tg_candidates cand;
    /* trace */
    tg_trace_fn trace_fn;
    void *trace_user;
    size_t trace_top;
};

tg_status tg_chain_options_default(tg_chain_options *out)
{
    TG_CHECK_ARG(out, "out");
    *out = (tg_chain_options)TG_CHAIN_OPTIONS_INIT;
    return TG_OK;
}

static void stage_clear(stage *s)
{
    if (s->state && s->vt->destroy)
        s->vt->destroy(s->state);
    for (size_t i = 0; s->slots && i < s->vt->n_params; i++)
        tg__param_clear(&s->slots[i]);
    g_free(s->slots);
    g_free(s->values);
    memset(s, 0, sizeof *s);
}

void tg_chain_free(tg_chain *c)
{
    if (!c)
        return;
    for (guint i = 0; c->stages && i < c->stages->len; i++)
        stage_clear(&g_array_index(c->stages, stage, i));
    if (c->stages)
        g_array_free(c->stages, TRUE);
    free(c->eos);
    free(c->history);
    free(c->cand.ids);
    free(c->cand.logits);
    free(c->cand.probs);
    free(c);
}

tg_status tg_chain_create(tg_chain **out, const tg_chain_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(opts, "opts");
    tg_status st =
        tg__check_struct_size(opts->struct_size, sizeof(tg_chain_options), "tg_chain_options");
    if (st != TG_OK)
        return st;
    int32_t n_vocab = opts->n_vocab;
    const int32_t *eos = opts->eos_ids;
    size_t n_eos = opts->n_eos;
    int32_t model_eos;
    const void *tokenizer = NULL;
    if (opts->model) {
        n_vocab = tg__model_n_vocab(opts->model);
        model_eos = tg__model_eos_id(opts->model);
        eos = model_eos >= 0 ? &model_eos : NULL;
        n_eos = model_eos >= 0 ? 1 : 0;
        tokenizer = tg_model_tokenizer(opts->model);
    }
    if (n_vocab < 1 || n_vocab > (1 << 24))
        return tg__error(TG_ERANGE,
                         "tg_chain_options.n_vocab = %d is out of range [1, 16777216] (set it or "
                         "set model)",
                         (int)n_vocab);
    if (n_eos && !eos)
        return tg__error(TG_EINVAL, "tg_chain_options: n_eos = %zu but eos_ids is NULL", n_eos);
    for (size_t i = 0; i < n_eos; i++)
        if (eos[i] < 0 || eos[i] >= n_vocab)
            return tg__error(TG_ERANGE, "tg_chain_options.eos_ids[%zu] = %d is outside [0, %d)", i,
                             (int)eos[i], (int)n_vocab);
    tg_chain *c = calloc(1, sizeof *c);
    if (!c)
        return tg__error(TG_ENOMEM, "out of memory creating a chain");
    c->n_vocab = n_vocab;
    c->n_live = n_vocab;
    if (tokenizer && tg_tokenizer_n_vocab(tokenizer) < n_vocab)
        c->n_live = tg_tokenizer_n_vocab(tokenizer);
    c->n_eos = n_eos;
    c->tokenizer = tokenizer;
    c->seed = opts->seed;
    c->stages = g_array_new(FALSE, TRUE, sizeof(stage));
    c->eos = malloc((n_eos ? n_eos : 1) * sizeof *c->eos);
    c->cand.ids = malloc((size_t)n_vocab * sizeof *c->cand.ids);
    c->cand.logits = malloc((size_t)n_vocab * sizeof *c->cand.logits);
    c->cand.probs = malloc((size_t)n_vocab * sizeof *c->cand.probs);
    if (!c->eos || !c->cand.ids || !c->cand.logits || !c->cand.probs) {
        tg_chain_free(c);
        return tg__error(TG_ENOMEM, "out of memory creating a chain (n_vocab %d)", (int)n_vocab);
    }
    if (n_eos)
        memcpy(c->eos, eos, n_eos * sizeof *eos);
    c->cand.struct_size = sizeof c->cand;
    c->cand.n_vocab = n_vocab;
    c->cand.capacity = (size_t)n_vocab;
    c->cand.selected = -1;
    *out = c;
    return TG_OK;
}

static tg_proc_context context_of(const tg_chain *c)
{
    tg_proc_context ctx = {sizeof ctx, c->n_vocab, c->eos, c->n_eos, c->tokenizer};
    return ctx;
}

static tg_step_info step_of(const tg_chain *c)
{
    tg_step_info s = {sizeof s, c->seed, c->sequence, c->step, c->history, c->n_hist, c->n_prompt};
    return s;
}

/* Where may a stage of `kind` go, given the stages already there? */
static tg_status check_position(const tg_chain *c, const tg_processor_vtable *vt, const char *where)
{
    if (vt->kind == TG_PROC_BEAM_SCORER)
        return tg__error(TG_ESPEC,
                         "%s: '%s' is a beam scorer; beam scorers belong to beam search, not to a "
                         "sampler chain",
                         where, vt->name);
    if (vt->kind == TG_PROC_STOP)
        return TG_OK;
    for (guint i = 0; i < c->stages->len; i++) {
        const tg_processor_vtable *o = g_array_index(c->stages, stage, i).vt;
        if (o->kind != TG_PROC_SELECTOR)
            continue;
        if (vt->kind == TG_PROC_SELECTOR)
            return tg__error(TG_ESPEC,
                             "%s: two selectors ('%s' and '%s'); a chain ends with exactly one "
                             "selector — remove one",
                             where, o->name, vt->name);
        return tg__error(TG_ESPEC,
                         "%s: '%s' comes after the selector '%s'; the selector must be the last "
                         "stage — move '%s' before it",
                         where, vt->name, o->name, o->name);
    }
    return TG_OK;
}

static void list_params(GString *s, const tg_processor_vtable *vt)
{
    if (!vt->n_params) {
        g_string_append(s, "(it takes none)");
        return;
    }
    for (size_t i = 0; i < vt->n_params; i++)
        g_string_append_printf(s, "%s%s (%s)", i ? ", " : "", vt->params[i].name,
                               tg__param_type_name(vt->params[i].type));
}

tg_status tg__chain_add_kv(tg_chain *c, const char *name, const tg_kv *kvs, size_t n_kvs,
                           const char *where)
{
    char *known = NULL;
    const tg_processor_vtable *vt = tg__registry_lookup(name, &known);
    if (!vt) {
        tg_status st = tg__error(TG_ESPEC, "%s: unknown processor '%s'; known processors: %s",
                                 where, name, known);
        g_free(known);
        return st;
    }
    tg_status st = check_position(c, vt, where);
    if (st != TG_OK)
        return st;
    stage s = {vt, NULL, g_new0(tg_param_slot, vt->n_params + 1),
               g_new0(tg_param_value, vt->n_params + 1)};
    char why[512];
    for (size_t k = 0; k < n_kvs && st == TG_OK; k++) {
        size_t i = 0;
        while (i < vt->n_params && strcmp(vt->params[i].name, kvs[k].key) != 0)
            i++;
        if (i == vt->n_params) {
            GString *l = g_string_new(NULL);
            list_params(l, vt);
            st = tg__error(TG_ESPEC, "%s: processor '%s' has no parameter '%s'; its parameters: %s",
                           where, name, kvs[k].key, l->str);
            g_string_free(l, TRUE);
        } else if (s.slots[i].text) {
            st = tg__error(TG_ESPEC, "%s: parameter '%s' of '%s' is given twice", where, kvs[k].key,
                           name);
        } else if (tg__param_parse(&s.slots[i], &vt->params[i], kvs[k].value, why, sizeof why) !=
                   TG_OK) {
            st = tg__error(TG_ESPEC, "%s: %s(%s=...): %s — %s", where, name, kvs[k].key, why,
                           vt->params[i].doc);
        }
    }
    for (size_t i = 0; i < vt->n_params && st == TG_OK; i++) {
        if (s.slots[i].text)
            continue;
        if (!vt->params[i].default_value)
            st = tg__error(TG_ESPEC, "%s: processor '%s' needs parameter '%s' (%s)", where, name,
                           vt->params[i].name, vt->params[i].doc);
        else if (tg__param_parse(&s.slots[i], &vt->params[i], vt->params[i].default_value, why,
                                 sizeof why) != TG_OK)
            st = tg__error(TG_EPLUGIN, "%s: default of %s(%s): %s", where, name, vt->params[i].name,
                           why);
    }
    if (st == TG_OK) {
        for (size_t i = 0; i < vt->n_params; i++)
            s.values[i] = s.slots[i].value;
        tg_proc_context ctx = context_of(c);
        tg_error_clear();
        st = vt->create(&s.state, s.values, &ctx);
        if (st != TG_OK) {
            if (tg_error_last()[0])
                tg__error_prefix("%s: %s", where, name);
            else
                tg__error(st, "%s: processor '%s' failed to start (status %d)", where, name,
                          (int)st);
        }
    }
    if (st != TG_OK) {
        stage_clear(&s);
        return st;
    }
    g_array_append_val(c->stages, s);
    return TG_OK;
}

tg_status tg_chain_add(tg_chain *c, const char *name, const char *params)
{
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(name, "name");
    tg_kv *kvs = NULL;
    size_t n = 0;
    tg_status st = tg__split_params(&kvs, &n, params ? params : "", 0, params ? params : "");
    if (st != TG_OK)
        return st;
    char where[64];
    snprintf(where, sizeof where, "stage %u", c->stages->len + 1);
    st = tg__chain_add_kv(c, name, kvs, n, where);
    tg__kv_free(kvs, n);
    return st;
}

tg_status tg_chain_validate(const tg_chain *c)
{
    TG_CHECK_ARG(c, "chain");
    for (guint i = 0; i < c->stages->len; i++)
        if (g_array_index(c->stages, stage, i).vt->kind == TG_PROC_SELECTOR)
            return TG_OK;
    return tg__error(TG_ESPEC,
                     "the chain has no selector; end it with one, e.g. 'greedy' or 'dist'");
}

tg_status tg_chain_print(char **out, const tg_chain *c)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(c, "chain");
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < c->stages->len; i++) {
        const stage *st = &g_array_index(c->stages, stage, i);
        g_string_append_printf(s, "%s%s", i ? " " : "", st->vt->name);
        if (st->vt->n_params) {
            g_string_append_c(s, '(');
            for (size_t k = 0; k < st->vt->n_params; k++) {
                g_string_append_printf(s, "%s%s=", k ? ", " : "", st->vt->params[k].name);
                tg__param_print(s, &st->vt->params[k], &st->slots[k]);
            }
            g_string_append_c(s, ')');
        }
    }
    *out = strdup(s->str); /* released with tg_free() = free() */
    g_string_free(s, TRUE);
    return *out ? TG_OK : tg__error(TG_ENOMEM, "out of memory");
}

size_t tg_chain_length(const tg_chain *c)
{
    return c ? c->stages->len : 0;
}

tg_status tg_chain_stage(const tg_processor_vtable **out, const tg_chain *c, size_t index)
{
    TG_CHECK_ARG(out, "out");
    TG_CHECK_ARG(c, "chain");
    if (index >= c->stages->len)
        return tg__error(TG_ERANGE, "stage %zu does not exist (the chain has %u)", index,
                         c->stages->len);
    *out = g_array_index(c->stages, stage, index).vt;
    return TG_OK;
}

static tg_status reserve_history(tg_chain *c, size_t n)
{
    if (n <= c->cap_hist)
        return TG_OK;
    size_t cap = c->cap_hist ? c->cap_hist : 64;
    while (cap < n)
        cap *= 2;
    int32_t *h = realloc(c->history, cap * sizeof *h);
    if (!h)
        return tg__error(TG_ENOMEM, "out of memory growing the chain history");
    c->history = h;
    c->cap_hist = cap;
    return TG_OK;
}

static void reset_stages(tg_chain *c)
{
    for (guint i = 0; i < c->stages->len; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (s->vt->reset)
            s->vt->reset(s->state);
    }
}

tg_status tg_chain_reset(tg_chain *c)
{
    TG_CHECK_ARG(c, "chain");
    c->n_hist = c->n_prompt = 0;
    c->step = 0;
    reset_stages(c);
    return TG_OK;
}

tg_status tg_chain_set_prompt(tg_chain *c, const int32_t *ids, size_t n)
{
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(ids || n == 0, "ids");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return tg__error(TG_ERANGE, "prompt token %zu = %d is outside the vocabulary [0, %d)",
                             i, (int)ids[i], (int)c->n_vocab);
    tg_status st = reserve_history(c, n);
    if (st != TG_OK)
        return st;
    if (n)
        memcpy(c->history, ids, n * sizeof *ids);
    c->n_hist = c->n_prompt = n;
    c->step = 0;
    reset_stages(c);
    return TG_OK;
}

tg_status tg_chain_set_seed(tg_chain *c, uint64_t seed, int32_t sequence)
{
    TG_CHECK_ARG(c, "chain");
    c->seed = seed;
    c->sequence = sequence;
    return TG_OK;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Top `n` candidates of `c` with probabilities, computed on a scratch copy. */
static size_t trace_top(tg_trace_entry *out, size_t n, const tg_candidates *c, tg_candidates *tmp)
{
    tmp->size = c->size;
    tmp->sorted = 0;
    tmp->probs_valid = 0;
    memcpy(tmp->ids, c->ids, c->size * sizeof *c->ids);
    memcpy(tmp->logits, c->logits, c->size * sizeof *c->logits);
    if (c->size == 0 || tg_candidates_softmax(tmp) != TG_OK)
        return 0;
    tg_candidates_sort(tmp, n);
    size_t k = n < tmp->size ? n : tmp->size;
    for (size_t i = 0; i < k; i++)
        out[i] = (tg_trace_entry){tmp->ids[i], tmp->logits[i], tmp->probs[i]};
    return k;
}

tg_status tg_chain_sample(int32_t *token_out, float *logprob_out, tg_chain *c, const float *logits)
{
    TG_CHECK_ARG(token_out, "token_out");
    *token_out = -1;
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(logits, "logits");
    tg_status st = tg_chain_validate(c);
    if (st != TG_OK)
        return st;
    tg_candidates *cand = &c->cand;
    /* Plain loops the compiler vectorizes: this runs over the whole vocabulary every step. */
    int any_nan = 0;
    for (int32_t i = 0; i < c->n_vocab; i++)
        any_nan |= logits[i] != logits[i];
    if (any_nan)
        for (int32_t i = 0; i < c->n_vocab; i++)
            if (isnan(logits[i]))
                return tg__error(TG_ERANGE, "logit of token %d is NaN", (int)i);
    memcpy(cand->logits, logits, (size_t)c->n_vocab * sizeof *logits);
    for (int32_t i = 0; i < c->n_vocab; i++)
        cand->ids[i] = i;
    cand->size = (size_t)c->n_live;
    cand->sorted = 0;
    cand->probs_valid = 0;
    cand->selected = -1;
    const tg_step_info step = step_of(c);
    const guint n_stages = c->stages->len;
    tg_trace_stage *tr = NULL;
    tg_trace_entry *entries = NULL;
    tg_candidates tmp = {0};
    if (c->trace_fn) {
        tr = g_new0(tg_trace_stage, n_stages);
        entries = g_new0(tg_trace_entry, 2 * n_stages * c->trace_top + 1);
        tmp.ids = g_new(int32_t, c->n_vocab);
        tmp.logits = g_new(float, c->n_vocab);
        tmp.probs = g_new(float, c->n_vocab);
        tmp.capacity = (size_t)c->n_vocab;
        tmp.n_vocab = c->n_vocab;
        tmp.struct_size = sizeof tmp;
    }
    guint n_traced = 0;
    for (guint i = 0; i < n_stages && st == TG_OK; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (s->vt->kind == TG_PROC_STOP)
            continue;
        const size_t before = cand->size;
        tg_trace_stage *t = tr ? &tr[n_traced++] : NULL;
        if (t) {
            t->struct_size = sizeof *t;
            t->name = s->vt->name;
            t->kind = s->vt->kind;
            t->size_before = before;
            t->before = entries + 2 * (t - tr) * c->trace_top;
            t->n_before = trace_top((tg_trace_entry *)t->before, c->trace_top, cand, &tmp);
        }
        uint64_t t0 = t ? now_ns() : 0;
        tg_error_clear();
        st = s->vt->apply(s->state, cand, &step);
        if (t)
            t->time_ns = now_ns() - t0;
        if (st != TG_OK) {
            if (tg_error_last()[0])
                tg__error_prefix("stage %u '%s' failed", i + 1, s->vt->name);
            else
                tg__error(st, "stage %u '%s' failed with status %d", i + 1, s->vt->name, (int)st);
        } else if (cand->size == 0 || cand->size > before) {
            st = tg__error(TG_EPLUGIN, "stage %u '%s' left %zu candidates (had %zu)", i + 1,
                           s->vt->name, cand->size, before);
        } else if (s->vt->kind == TG_PROC_SELECTOR &&
                   (cand->selected < 0 || (size_t)cand->selected >= cand->size)) {
            st =
                tg__error(TG_EPLUGIN, "selector '%s' selected no valid candidate (index %d of %zu)",
                          s->vt->name, (int)cand->selected, cand->size);
        }
        if (t) {
            t->size_after = cand->size;
            t->after = entries + (2 * (t - tr) + 1) * c->trace_top;
            t->n_after = trace_top((tg_trace_entry *)t->after, c->trace_top, cand, &tmp);
        }
    }
    if (st == TG_OK) {
        const size_t sel = (size_t)cand->selected;
        *token_out = cand->ids[sel];
        if (logprob_out) {
            /* log-softmax of the chosen logit over the candidates the selector saw */
            float mx = cand->logits[0];
            for (size_t i = 1; i < cand->size; i++)
                mx = cand->logits[i] > mx ? cand->logits[i] : mx;
            double sum = 0;
            for (size_t i = 0; i < cand->size; i++)
                sum += exp((double)cand->logits[i] - mx);
            *logprob_out = (float)((double)cand->logits[sel] - mx - log(sum));
        }
        if (c->trace_fn)
            c->trace_fn(tr, n_traced, *token_out, c->step, c->trace_user);
    }
    if (tr) {
        g_free(tr);
        g_free(entries);
        g_free(tmp.ids);
        g_free(tmp.logits);
        g_free(tmp.probs);
    }
    return st;
}

tg_status tg_chain_accept(tg_chain *c, int32_t token)
{
    TG_CHECK_ARG(c, "chain");
    if (token < 0 || token >= c->n_vocab)
        return tg__error(TG_ERANGE, "tg_chain_accept: token %d is outside the vocabulary [0, %d)",
                         (int)token, (int)c->n_vocab);
    tg_status st = reserve_history(c, c->n_hist + 1);
    if (st != TG_OK)
        return st;
    const tg_step_info step = step_of(c);
    for (guint i = 0; i < c->stages->len; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (!s->vt->accept)
            continue;
        tg_error_clear();
        st = s->vt->accept(s->state, token, &step);
        if (st != TG_OK) {
            if (tg_error_last()[0])
                return tg__error_prefix("stage %u '%s' failed to accept token %d", i + 1,
                                        s->vt->name, (int)token);
            return tg__error(st, "stage %u '%s' failed to accept token %d", i + 1, s->vt->name,
                             (int)token);
        }
    }
    c->history[c->n_hist++] = token;
    c->step++;
    return TG_OK;
}

tg_status tg_chain_check_stop(int32_t *stop_out, tg_chain *c)
{
    TG_CHECK_ARG(stop_out, "stop_out");
    *stop_out = 0;
    TG_CHECK_ARG(c, "chain");
    const tg_step_info step = step_of(c);
    for (guint i = 0; i < c->stages->len; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (s->vt->kind != TG_PROC_STOP)
            continue;
        int32_t stop = 0;
        tg_error_clear();
        tg_status st = s->vt->check_stop(s->state, &step, &stop);
        if (st != TG_OK)
            return tg_error_last()[0] ? tg__error_prefix("stop criterion '%s' failed", s->vt->name)
                                      : tg__error(st, "stop criterion '%s' failed", s->vt->name);
        if (stop) {
            *stop_out = 1;
            return TG_OK;
        }
    }
    return TG_OK;
}

const tg_candidates *tg_chain_candidates(const tg_chain *c)
{
    return c ? &c->cand : NULL;
}

tg_status tg_chain_clone(tg_chain **out, const tg_chain *c)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(c, "chain");
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = c->n_vocab;
    o.eos_ids = c->eos;
    o.n_eos = c->n_eos;
    o.seed = c->seed;
    tg_chain *d;
    tg_status st = tg_chain_create(&d, &o);
    if (st != TG_OK)
        return st;
    d->tokenizer = c->tokenizer;
    d->n_live = c->n_live;
    d->sequence = c->sequence;
    d->trace_fn = c->trace_fn;
    d->trace_user = c->trace_user;
    d->trace_top = c->trace_top;
    if ((st = reserve_history(d, c->n_hist)) != TG_OK) {
        tg_chain_free(d);
        return st;
    }
    if (c->n_hist)
        memcpy(d->history, c->history, c->n_hist * sizeof *c->history);
    d->n_hist = c->n_hist;
    d->n_prompt = c->n_prompt;
    d->step = c->step;
    for (guint i = 0; i < c->stages->len && st == TG_OK; i++) {
        const stage *s = &g_array_index(c->stages, stage, i);
        stage n = {s->vt, NULL, g_new0(tg_param_slot, s->vt->n_params + 1),
                   g_new0(tg_param_value, s->vt->n_params + 1)};
        for (size_t k = 0; k < s->vt->n_params; k++) {
            tg__param_copy(&n.slots[k], &s->slots[k]);
            n.values[k] = n.slots[k].value;
        }
        if (s->vt->clone) {
            st = s->state ? s->vt->clone(&n.state, s->state) : TG_OK;
        } else {
            tg_proc_context ctx = context_of(d);
            st = s->vt->create(&n.state, n.values, &ctx);
        }
        if (st != TG_OK) {
            stage_clear(&n);
            if (!tg_error_last()[0])
                tg__error(st, "cloning stage '%s' failed", s->vt->name);
        } else {
            g_array_append_val(d->stages, n);
        }
    }
    if (st != TG_OK) {
        tg_chain_free(d);
        return st;
    }
    *out = d;
    return TG_OK;
}

tg_status tg_chain_set_trace(tg_chain *c, tg_trace_fn fn, size_t top_n, void *user_data)
{
    TG_CHECK_ARG(c, "chain");
    if (fn && (top_n == 0 || top_n > 1000))
        return tg__error(TG_ERANGE, "tg_chain_set_trace: top_n = %zu is outside [1, 1000]", top_n);
    c->trace_fn = fn;
    c->trace_top = top_n;
    c->trace_user = user_data;
    return TG_OK;
}

/* ---- snapshots: "TGCS" v1 | n_stages | step | n_prompt | n_hist | history |
 *      per stage: name length, name, state length, state ---- */

#define SNAP_MAGIC 0x53434754u /* "TGCS" little-endian */

static int is_stateful(const tg_processor_vtable *vt)
{
    return vt->accept != NULL || vt->reset != NULL;
}

static void put(GByteArray *b, const void *p, size_t n)
{
    g_byte_array_append(b, p, (guint)n);
}

tg_status tg_chain_save(void **buf_out, size_t *len_out, const tg_chain *c)
{
    TG_CHECK_ARG(buf_out, "buf_out");
    TG_CHECK_ARG(len_out, "len_out");
    *buf_out = NULL;
    *len_out = 0;
    TG_CHECK_ARG(c, "chain");
    GByteArray *b = g_byte_array_new();
    uint32_t head[2] = {SNAP_MAGIC, c->stages->len};
    uint64_t nums[3] = {(uint64_t)c->step, c->n_prompt, c->n_hist};
    put(b, head, sizeof head);
    put(b, nums, sizeof nums);
    put(b, c->history, c->n_hist * sizeof *c->history);
    tg_status st = TG_OK;
    for (guint i = 0; i < c->stages->len && st == TG_OK; i++) {
        const stage *s = &g_array_index(c->stages, stage, i);
        uint64_t nl = strlen(s->vt->name), sl = 0;
        put(b, &nl, sizeof nl);
        put(b, s->vt->name, nl);
        void *state = NULL;
        if (s->vt->save) {
            if ((st = s->vt->save(s->state, NULL, &sl)) == TG_OK && sl) {
                state = g_malloc(sl);
                st = s->vt->save(s->state, state, &sl);
            }
        } else if (is_stateful(s->vt)) {
            st = tg__error(TG_EUNSUPPORTED,
                           "stage %u '%s' keeps state but cannot save it (no save callback)", i + 1,
                           s->vt->name);
        }
        put(b, &sl, sizeof sl);
        if (st == TG_OK && sl)
            put(b, state, sl);
        g_free(state);
    }
    if (st != TG_OK) {
        g_byte_array_free(b, TRUE);
        return st;
    }
    void *out = malloc(b->len);
    if (!out) {
        g_byte_array_free(b, TRUE);
        return tg__error(TG_ENOMEM, "out of memory");
    }
    memcpy(out, b->data, b->len);
    *buf_out = out;
    *len_out = b->len;
    g_byte_array_free(b, TRUE);
    return TG_OK;
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int take(reader *r, void *dst, size_t n)
{
    if (n > r->left)
        return 0;
    if (dst)
        memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return 1;
}

tg_status tg_chain_restore(tg_chain *c, const void *buf, size_t len)
{
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(buf, "buf");
    reader r = {buf, len};
    uint32_t head[2];
    uint64_t nums[3];
    if (!take(&r, head, sizeof head) || head[0] != SNAP_MAGIC)
        return tg__error(TG_EFORMAT, "tg_chain_restore: not a chain snapshot");
    if (head[1] != c->stages->len)
        return tg__error(TG_EINVAL,
                         "tg_chain_restore: the snapshot has %u stages, this chain has %u", head[1],
                         c->stages->len);
    if (!take(&r, nums, sizeof nums) || nums[1] > nums[2] || nums[2] > r.left / sizeof(int32_t))
        return tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
    /* Validate everything before changing the chain. */
    const unsigned char *hist = r.p;
    take(&r, NULL, nums[2] * sizeof(int32_t));
    reader scan = r;
    for (guint i = 0; i < c->stages->len; i++) {
        const stage *s = &g_array_index(c->stages, stage, i);
        uint64_t nl, sl;
        char name[128];
        if (!take(&scan, &nl, sizeof nl) || nl >= sizeof name || !take(&scan, name, nl))
            return tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
        name[nl] = '\0';
        if (strcmp(name, s->vt->name) != 0)
            return tg__error(TG_EINVAL,
                             "tg_chain_restore: stage %u is '%s' in the snapshot but '%s' here",
                             i + 1, name, s->vt->name);
        if (!take(&scan, &sl, sizeof sl) || !take(&scan, NULL, sl))
            return tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
        if (sl && !s->vt->load)
            return tg__error(TG_EUNSUPPORTED, "stage %u '%s' cannot load a saved state", i + 1,
                             s->vt->name);
    }
    tg_status st = reserve_history(c, nums[2]);
    if (st != TG_OK)
        return st;
    memcpy(c->history, hist, nums[2] * sizeof(int32_t));
    c->n_hist = nums[2];
    c->n_prompt = nums[1];
    c->step = (int32_t)nums[0];
    for (guint i = 0; i < c->stages->len; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        uint64_t nl = 0, sl = 0;
        take(&r, &nl, sizeof nl);
        take(&r, NULL, nl);
        take(&r, &sl, sizeof sl);
        if (sl && (st = s->vt->load(s->state, r.p, sl)) != TG_OK)
            return tg_error_last()[0] ? tg__error_prefix("stage %u '%s'", i + 1, s->vt->name)
                                      : tg__error(st, "stage %u '%s' failed to load its state",
                                                  i + 1, s->vt->name);
        take(&r, NULL, sl);
    }
    return TG_OK;
}
