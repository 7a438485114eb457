/* sampling/chain.c — an ordered list of processor instances and the per-sequence state they run
 * on: history, step counter, candidates buffer (allocated once per chain), trace. */
#include "core/alloc.h"
#include "backend/simd.h"
#include "core/error.h"
#include "core/versioned.h"
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
    void *user_data; /* what the processor's plugin was registered with */
    void *state;
    tg_param_slot *slots; /* parallel to vt->params */
    tg_param_value *values;
} stage;

struct tg_chain {
    int32_t n_vocab;
    int32_t n_live; /* ids >= n_live (a padded vocabulary beyond the tokenizer) never compete */
    int32_t *eos;
    size_t n_eos;
    const tg_tokenizer *tokenizer;
    uint64_t seed;
    int32_t sequence;
    GArray *stages; /* stage */
    int32_t *history;
    size_t n_hist, cap_hist, n_prompt;
    int32_t step;
    tg_candidates cand;
    int32_t scorers_only; /* a beam-scorer set (tg__chain_parse_scorers), not a sampler chain */
    float last_logprob;   /* of the last tg_chain_sample() (read by trace callbacks) */
    /* trace */
    tg_trace_fn trace_fn;
    void *trace_user;
    size_t trace_top;
};

tg_status tg_chain_options_init(tg_chain_options *opts, uint32_t struct_size)
{
    tg_error_clear();
    const tg_chain_options d = TG_CHAIN_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_CHAIN_OPTIONS_V1_SIZE,
                           "tg_chain_options");
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
    tg_error_clear();
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(opts, "opts");
    tg_chain_options copy = TG_CHAIN_OPTIONS_INIT;
    tg_status st =
        tg__struct_read(&copy, sizeof copy, opts, TG_CHAIN_OPTIONS_V1_SIZE, "tg_chain_options");
    if (st != TG_OK)
        return st;
    opts = &copy; /* from here on, the library's layout with defaults for what the caller lacks */
    int32_t n_vocab = opts->n_vocab;
    const int32_t *eos = opts->eos_ids;
    size_t n_eos = opts->n_eos;
    const tg_tokenizer *tokenizer = NULL;
    if (opts->model) {
        n_vocab = tg__model_n_vocab(opts->model);
        if (!eos && !n_eos &&
            (st = tg_model_end_ids(&eos, &n_eos, opts->model, 0)) != TG_OK) /* the one policy */
            return st;
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
    tg_chain *c = tg__calloc(1, sizeof *c);
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
    c->eos = tg__malloc((n_eos ? n_eos : 1) * sizeof *c->eos);
    c->cand.ids = tg__malloc((size_t)n_vocab * sizeof *c->cand.ids);
    c->cand.logits = tg__malloc((size_t)n_vocab * sizeof *c->cand.logits);
    c->cand.probs = tg__malloc((size_t)n_vocab * sizeof *c->cand.probs);
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

static tg_proc_context context_of(const tg_chain *c, void *user_data)
{
    tg_proc_context ctx = {sizeof ctx, c->n_vocab, c->eos, c->n_eos, c->tokenizer, user_data};
    return ctx;
}

/* A plugin's message about its own failure often starts with its name ("ban: ..."), and the
 * host names the stage too; say the name once. Prefixes the thread's error with `prefix` and
 * `name`, dropping a leading "<name>: " from the plugin's message. */
static tg_status plugin_error_prefix(const char *prefix, const char *name)
{
    const char *msg = tg_error_last();
    const size_t n = strlen(name);
    if (strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') {
        char rest[1024];
        g_strlcpy(rest, msg + n + 2, sizeof rest);
        tg__error(tg_error_last_status(), "%s", rest);
    }
    return tg__error_prefix("%s", prefix);
}

static tg_step_info step_of(const tg_chain *c)
{
    tg_step_info s = {sizeof s, c->seed, c->sequence, c->step, c->history, c->n_hist, c->n_prompt};
    return s;
}

/* Where may a stage of `kind` go, given the stages already there? */
static tg_status check_position(const tg_chain *c, const tg_processor_vtable *vt, const char *where)
{
    if (c->scorers_only)
        return vt->kind == TG_PROC_BEAM_SCORER
                   ? TG_OK
                   : tg__error(TG_ESPEC,
                               "%s: '%s' is a %s, not a beam scorer; the beam scorer spec takes "
                               "only beam scorers (length_penalty, diverse_groups, ...)",
                               where, vt->name, tg__proc_kind_name(vt->kind));
    if (vt->kind == TG_PROC_BEAM_SCORER)
        return tg__error(TG_ESPEC,
                         "%s: '%s' is a beam scorer; beam scorers belong to beam search, not to a "
                         "sampler chain: give it in the beam scorer spec "
                         "(tg_generate_options.beam_scorers, textgen --beam-scorers)",
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
                         "stage — move '%s' before '%s'",
                         where, vt->name, o->name, vt->name, o->name);
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
    void *user_data = NULL;
    const tg_processor_vtable *vt = tg__registry_lookup(name, &user_data, &known);
    if (!vt) {
        tg_status st = tg__error(TG_ESPEC, "%s: unknown processor '%s'; known processors: %s",
                                 where, name, known);
        g_free(known);
        return st;
    }
    tg_status st = check_position(c, vt, where);
    if (st != TG_OK)
        return st;
    stage s = {vt, user_data, NULL, g_new0(tg_param_slot, vt->n_params + 1),
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
        tg_proc_context ctx = context_of(c, user_data);
        tg_error_clear();
        st = vt->create(&s.state, s.values, &ctx);
        if (st != TG_OK) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "%s: %s", where, name);
            if (tg_error_last()[0])
                plugin_error_prefix(prefix, name);
            else
                tg__error(st, "%s: processor '%s' failed to start (status %d)", where, name,
                          (int)st);
            /* A processor that refuses its parameters (a bias entry that is no id:value, an id
             * outside the vocabulary) makes a bad spec: the caller gets TG_ESPEC as documented,
             * whatever status the plugin chose; only running out of memory stays what it is. */
            if (st != TG_ENOMEM) {
                char msg[1024];
                g_strlcpy(msg, tg_error_last(), sizeof msg);
                st = tg__error(TG_ESPEC, "%s", msg);
            }
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
    tg_error_clear();
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
    tg_error_clear();
    TG_CHECK_ARG(c, "chain");
    for (guint i = 0; i < c->stages->len; i++)
        if (g_array_index(c->stages, stage, i).vt->kind == TG_PROC_SELECTOR)
            return TG_OK;
    return tg__error(TG_ESPEC,
                     "the chain has no selector; end it with one, e.g. 'greedy' or 'dist'");
}

tg_status tg_chain_print(char **out, const tg_chain *c)
{
    tg_error_clear();
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
    tg_error_clear();
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
    int32_t *h = tg__realloc(c->history, cap * sizeof *h);
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
    tg_error_clear();
    TG_CHECK_ARG(c, "chain");
    c->n_hist = c->n_prompt = 0;
    c->step = 0;
    reset_stages(c);
    return TG_OK;
}

tg_status tg_chain_set_prompt(tg_chain *c, const int32_t *ids, size_t n)
{
    tg_error_clear();
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
    tg_error_clear();
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

/* Fill the candidates with `values` (n_vocab logits or log-probabilities) in id order; the
 * padding ids beyond the tokenizer are left out. */
/* Copy n values to dst and fill ids with 0..n-1; returns whether a value is NaN. 8 at a time
 * (GCC does not vectorize the scalar loops at -O2): this runs over the whole vocabulary every
 * step, once per beam in beam search. */
TG_CLONES
static int load_values(float *dst, int32_t *ids, const float *values, int32_t n)
{
    v8i nan = {0}, id = {0, 1, 2, 3, 4, 5, 6, 7};
    v8f x;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8, id += 8) {
        memcpy(&x, values + i, sizeof x);
        nan |= x != x;
        memcpy(dst + i, &x, sizeof x);
        memcpy(ids + i, &id, sizeof id);
    }
    int any = 0;
    for (int k = 0; k < 8; k++)
        any |= nan[k] != 0;
    for (; i < n; i++) {
        any |= values[i] != values[i];
        dst[i] = values[i];
        ids[i] = i;
    }
    return any;
}

static tg_status load_candidates(tg_chain *c, const float *values)
{
    tg_candidates *cand = &c->cand;
    if (load_values(cand->logits, cand->ids, values, c->n_vocab))
        for (int32_t i = 0; i < c->n_vocab; i++)
            if (isnan(values[i]))
                return tg__error(TG_ERANGE, "logit of token %d is NaN", (int)i);
    cand->size = (size_t)c->n_live;
    cand->sorted = 0;
    cand->probs_valid = 0;
    cand->selected = -1;
    return TG_OK;
}

/* Whether an id is outside [0, n_vocab) or a logit NaN or +inf, 8 entries at a time (GCC does
 * not vectorize the scalar loop at -O2; beam search checks 200k entries per drawn candidate). */
TG_CLONES
static int any_invalid(const int32_t *ids, const float *logits, size_t n, int32_t n_vocab)
{
    const v8u limit = (v8u){0} + (uint32_t)n_vocab;
    const v8f inf = {INFINITY, INFINITY, INFINITY, INFINITY,
                     INFINITY, INFINITY, INFINITY, INFINITY};
    v8i bad = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8u id;
        v8f l;
        memcpy(&id, ids + i, sizeof id);
        memcpy(&l, logits + i, sizeof l);
        bad |= (v8i)(id >= limit) | ~(l < inf); /* l < inf is false for NaN and +inf */
    }
    int any = 0;
    for (int k = 0; k < 8; k++)
        any |= bad[k] != 0;
    for (; i < n; i++)
        any |= (uint32_t)ids[i] >= (uint32_t)n_vocab || !(logits[i] < INFINITY);
    return any;
}

/* The first thing wrong with what a stage left in `c` (docs/reliability.md, "Plugins"): ids
 * outside the vocabulary, NaN or +inf logits (-inf is a ban and fine), a `sorted` claim that is
 * false, or probabilities marked valid that are not a distribution. 0 and *why empty when all is
 * well. One fused vectorised pass over the live entries (any_invalid), plus passes over the
 * sorted prefix and the probabilities only when a stage claims them. */
static int check_output(char *why, size_t why_len, const tg_candidates *c)
{
    const size_t n = c->size;
    if (any_invalid(c->ids, c->logits, n, c->n_vocab)) {
        for (size_t i = 0; i < n; i++) {
            if ((uint32_t)c->ids[i] >= (uint32_t)c->n_vocab) {
                snprintf(why, why_len, "candidate %zu has id %d, outside the vocabulary [0, %d)", i,
                         (int)c->ids[i], (int)c->n_vocab);
                return 1;
            }
            if (!(c->logits[i] < INFINITY)) {
                snprintf(why, why_len, "the logit of token %d is %s", (int)c->ids[i],
                         isnan(c->logits[i]) ? "NaN" : "+inf");
                return 1;
            }
        }
    }
    if (c->sorted > n) {
        snprintf(why, why_len, "it claims %zu sorted candidates of %zu", c->sorted, n);
        return 1;
    }
    if (c->sorted) {
        for (size_t i = 1; i < c->sorted; i++)
            if (c->logits[i] > c->logits[i - 1]) {
                snprintf(why, why_len,
                         "it claims the first %zu candidates are sorted, but candidate %zu (%g) "
                         "is above candidate %zu (%g)",
                         c->sorted, i, (double)c->logits[i], i - 1, (double)c->logits[i - 1]);
                return 1;
            }
        const float floor_of_sorted = c->logits[c->sorted - 1];
        float rest_max = -INFINITY;
        for (size_t i = c->sorted; i < n; i++)
            rest_max = c->logits[i] > rest_max ? c->logits[i] : rest_max;
        if (rest_max > floor_of_sorted) {
            snprintf(why, why_len,
                     "it claims the first %zu candidates are the largest, but a later one has "
                     "logit %g above %g",
                     c->sorted, (double)rest_max, (double)floor_of_sorted);
            return 1;
        }
    }
    if (c->probs_valid) {
        double sum = 0;
        int bad_p = 0;
        for (size_t i = 0; i < n; i++) {
            bad_p |= !(c->probs[i] >= 0.0f && c->probs[i] <= 1.0f); /* NaN fails both */
            sum += c->probs[i];
        }
        if (bad_p || !(fabs(sum - 1.0) <= 1e-3)) {
            for (size_t i = 0; bad_p && i < n; i++)
                if (!(c->probs[i] >= 0.0f && c->probs[i] <= 1.0f)) {
                    snprintf(why, why_len,
                             "it marks the probabilities valid, but token %d has probability %g",
                             (int)c->ids[i], (double)c->probs[i]);
                    return 1;
                }
            snprintf(why, why_len, "it marks the probabilities valid, but they sum to %.9g", sum);
            return 1;
        }
    }
    return 0;
}

/* 1 if `st` is one of the status codes <textgen/common.h> defines. */
static int is_tg_status(tg_status st)
{
    return st <= TG_OK && st >= TG_ESPEC;
}

/* Run one stage on `cand`, naming it in errors; checks what every stage must leave. A plugin is
 * code in the process, so nothing stops it from corrupting memory, but what it hands back is
 * checked: a status that is no tg_status, an empty or grown set, or any output check_output()
 * refuses fails the step with TG_EPLUGIN naming the stage. */
static tg_status run_stage(stage *s, guint index, tg_candidates *cand, const tg_step_info *step)
{
    const size_t before = cand->size;
    tg_error_clear();
    tg_status st = s->vt->apply(s->state, cand, step);
    if (st != TG_OK) {
        if (!is_tg_status(st)) {
            char said[512]; /* copied: tg__error writes the buffer tg_error_last() points to */
            g_strlcpy(said, tg_error_last(), sizeof said);
            return tg__error(TG_EPLUGIN,
                             "stage %u '%s' failed with %d, which is not a tg_status code%s%s",
                             index + 1, s->vt->name, (int)st, said[0] ? ": " : "", said);
        }
        if (tg_error_last()[0]) {
            char prefix[160];
            snprintf(prefix, sizeof prefix, "stage %u '%s' failed", index + 1, s->vt->name);
            return plugin_error_prefix(prefix, s->vt->name);
        }
        return tg__error(st, "stage %u '%s' failed with status %d", index + 1, s->vt->name,
                         (int)st);
    }
    if (cand->size == 0 || cand->size > before)
        return tg__error(TG_EPLUGIN, "stage %u '%s' left %zu candidates (had %zu)", index + 1,
                         s->vt->name, cand->size, before);
    char why[256];
    if (check_output(why, sizeof why, cand))
        return tg__error(TG_EPLUGIN, "stage %u '%s' left invalid candidates: %s", index + 1,
                         s->vt->name, why);
    if (s->vt->kind == TG_PROC_SELECTOR &&
        (cand->selected < 0 || (size_t)cand->selected >= cand->size))
        return tg__error(TG_EPLUGIN, "selector '%s' selected no valid candidate (index %d of %zu)",
                         s->vt->name, (int)cand->selected, cand->size);
    return TG_OK;
}

/* Run the stages in order (all but stop criteria; the selector only when `with_selector`),
 * tracing them when a trace is set. */
static tg_status run_stages(tg_chain *c, int with_selector)
{
    tg_candidates *cand = &c->cand;
    const tg_step_info step = step_of(c);
    const guint n_stages = c->stages->len;
    tg_trace_stage *tr = NULL;
    tg_trace_entry *entries = NULL;
    tg_candidates tmp = {0};
    if (c->trace_fn) {
        tr = tg__calloc(n_stages, sizeof *tr);
        entries = tg__calloc(2 * (size_t)n_stages * c->trace_top + 1, sizeof *entries);
        tmp.ids = tg__malloc_array((size_t)c->n_vocab, sizeof *tmp.ids);
        tmp.logits = tg__malloc_array((size_t)c->n_vocab, sizeof *tmp.logits);
        tmp.probs = tg__malloc_array((size_t)c->n_vocab, sizeof *tmp.probs);
        if (!tr || !entries || !tmp.ids || !tmp.logits || !tmp.probs) {
            free(tr);
            free(entries);
            free(tmp.ids);
            free(tmp.logits);
            free(tmp.probs);
            return tg__enomem("the sampler trace", (size_t)c->n_vocab * 12);
        }
        tmp.capacity = (size_t)c->n_vocab;
        tmp.n_vocab = c->n_vocab;
        tmp.struct_size = sizeof tmp;
    }
    guint n_traced = 0;
    tg_status st = TG_OK;
    for (guint i = 0; i < n_stages && st == TG_OK; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (s->vt->kind == TG_PROC_STOP || (!with_selector && s->vt->kind == TG_PROC_SELECTOR))
            continue;
        tg_trace_stage *t = tr ? &tr[n_traced++] : NULL;
        if (t) {
            t->struct_size = sizeof *t;
            t->name = s->vt->name;
            t->kind = s->vt->kind;
            t->size_before = cand->size;
            t->before = entries + 2 * (t - tr) * c->trace_top;
            t->n_before = trace_top((tg_trace_entry *)t->before, c->trace_top, cand, &tmp);
        }
        uint64_t t0 = t ? now_ns() : 0;
        st = run_stage(s, i, cand, &step);
        if (t) {
            t->time_ns = now_ns() - t0;
            t->size_after = cand->size;
            t->after = entries + (2 * (t - tr) + 1) * c->trace_top;
            t->n_after = trace_top((tg_trace_entry *)t->after, c->trace_top, cand, &tmp);
        }
    }
    if (st == TG_OK && with_selector) {
        const size_t sel = (size_t)cand->selected;
        /* log-softmax of the chosen logit over the candidates the selector saw */
        c->last_logprob =
            (float)((double)cand->logits[sel] - tg__log_sum_exp(cand->logits, cand->size));
        if (c->trace_fn)
            c->trace_fn(tr, n_traced, cand->ids[sel], c->step, c->trace_user);
    }
    if (tr) {
        free(tr);
        free(entries);
        free(tmp.ids);
        free(tmp.logits);
        free(tmp.probs);
    }
    return st;
}

tg_status tg_chain_sample(int32_t *token_out, float *logprob_out, tg_chain *c, const float *logits)
{
    tg_error_clear();
    TG_CHECK_ARG(token_out, "token_out");
    *token_out = -1;
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(logits, "logits");
    tg_status st = tg_chain_validate(c);
    if (st == TG_OK)
        st = load_candidates(c, logits);
    if (st == TG_OK)
        st = run_stages(c, 1);
    if (st != TG_OK)
        return st;
    *token_out = c->cand.ids[c->cand.selected];
    if (logprob_out)
        *logprob_out = c->last_logprob;
    return TG_OK;
}

/* ---- what beam search needs (sampling_internal.h) ---- */

tg_status tg__chain_process(const tg_candidates **out, tg_chain *c, const float *logprobs)
{
    *out = NULL;
    tg_status st = load_candidates(c, logprobs);
    if (st == TG_OK)
        st = run_stages(c, 0);
    if (st == TG_OK)
        *out = &c->cand;
    return st;
}

static const stage *find_selector(const tg_chain *c)
{
    for (guint i = 0; i < c->stages->len; i++)
        if (g_array_index(c->stages, stage, i).vt->kind == TG_PROC_SELECTOR)
            return &g_array_index(c->stages, stage, i);
    return NULL;
}

static void swap_entries(tg_candidates *c, size_t i, size_t j)
{
    int32_t id = c->ids[i];
    c->ids[i] = c->ids[j];
    c->ids[j] = id;
    float l = c->logits[i];
    c->logits[i] = c->logits[j];
    c->logits[j] = l;
}

tg_status tg__chain_select_k(size_t *n_picked, tg_chain *c, tg_candidates *cands, size_t k,
                             int32_t step)
{
    *n_picked = 0;
    const stage *sel = find_selector(c);
    if (!sel)
        return tg__error(TG_ESPEC,
                         "the chain has no selector; end it with one, e.g. 'greedy' or 'dist'");
    if (sel->vt->accept)
        return tg__error(TG_EUNSUPPORTED,
                         "beam search: the selector '%s' learns from each chosen token, so it "
                         "cannot draw the candidates of several beams at once; use 'greedy' or "
                         "'dist'",
                         sel->vt->name);
    const guint index = (guint)(sel - &g_array_index(c->stages, stage, 0));
    size_t picked = 0;
    for (size_t j = 0; j < k && picked < cands->size; j++) {
        /* the entries not picked yet, at the back of the arrays */
        tg_candidates rest = *cands;
        rest.ids += picked;
        rest.logits += picked;
        rest.probs += picked;
        rest.size -= picked;
        rest.capacity -= picked;
        rest.sorted = 0;
        rest.probs_valid = 0;
        rest.selected = -1;
        tg_step_info si = step_of(c);
        si.sequence = (int32_t)j; /* draw j: its own randomness key */
        si.step = step;
        tg_status st = run_stage((stage *)sel, index, &rest, &si);
        if (st != TG_OK)
            return st;
        swap_entries(cands, picked, picked + (size_t)rest.selected);
        picked++;
    }
    cands->sorted = 0;
    cands->probs_valid = 0;
    *n_picked = picked;
    return TG_OK;
}

/* A stage whose state changes as tokens are accepted (its state is not just its parameters). */
static int is_stateful(const tg_processor_vtable *vt);

tg_status tg__chain_copy_state(tg_chain *dst, const tg_chain *src)
{
    if (dst == src)
        return TG_OK;
    if (dst->stages->len != src->stages->len)
        return tg__error(TG_EINVAL, "copying a chain's state: %u stages vs %u", dst->stages->len,
                         src->stages->len);
    tg_status st = reserve_history(dst, src->n_hist);
    if (st != TG_OK)
        return st;
    if (src->n_hist)
        memcpy(dst->history, src->history, src->n_hist * sizeof *src->history);
    dst->n_hist = src->n_hist;
    dst->n_prompt = src->n_prompt;
    dst->step = src->step;
    for (guint i = 0; i < src->stages->len; i++) {
        const stage *s = &g_array_index(src->stages, stage, i);
        stage *d = &g_array_index(dst->stages, stage, i);
        if (d->vt != s->vt)
            return tg__error(TG_EINVAL, "copying a chain's state: stage %u differs", i + 1);
        if (!is_stateful(s->vt))
            continue; /* its state is its parameters, the same in both chains */
        void *state = NULL;
        if (s->vt->clone) {
            st = s->state ? s->vt->clone(&state, s->state) : TG_OK;
        } else {
            tg_proc_context ctx = context_of(dst, d->user_data);
            st = s->vt->create(&state, d->values, &ctx);
        }
        if (st != TG_OK)
            return tg_error_last()[0] ? tg__error_prefix("copying stage '%s'", s->vt->name)
                                      : tg__error(st, "copying stage '%s' failed", s->vt->name);
        if (d->state && d->vt->destroy)
            d->vt->destroy(d->state);
        d->state = state;
    }
    return TG_OK;
}

float tg__chain_last_logprob(const tg_chain *c)
{
    return c->last_logprob;
}

size_t tg__chain_n_stages(const tg_chain *c)
{
    return c->stages->len;
}

void tg__chain_stage_at(const tg_processor_vtable **vt, void **state, const tg_chain *c, size_t i)
{
    const stage *s = &g_array_index(c->stages, stage, i);
    *vt = s->vt;
    *state = s->state;
}

void tg__chain_set_scorers_only(tg_chain *c)
{
    c->scorers_only = 1;
}

tg_status tg_chain_accept(tg_chain *c, int32_t token)
{
    tg_error_clear();
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
            char prefix[160];
            snprintf(prefix, sizeof prefix, "stage %u '%s' failed to accept token %d", i + 1,
                     s->vt->name, (int)token);
            if (tg_error_last()[0])
                return plugin_error_prefix(prefix, s->vt->name);
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
    tg_error_clear();
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
        if (st != TG_OK) {
            char prefix[128];
            snprintf(prefix, sizeof prefix, "stop criterion '%s' failed", s->vt->name);
            return tg_error_last()[0] ? plugin_error_prefix(prefix, s->vt->name)
                                      : tg__error(st, "%s", prefix);
        }
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
    tg_error_clear();
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
        stage n = {s->vt, s->user_data, NULL, g_new0(tg_param_slot, s->vt->n_params + 1),
                   g_new0(tg_param_value, s->vt->n_params + 1)};
        for (size_t k = 0; k < s->vt->n_params; k++) {
            tg__param_copy(&n.slots[k], &s->slots[k]);
            n.values[k] = n.slots[k].value;
        }
        if (s->vt->clone) {
            st = s->state ? s->vt->clone(&n.state, s->state) : TG_OK;
        } else {
            tg_proc_context ctx = context_of(d, s->user_data);
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
    tg_error_clear();
    TG_CHECK_ARG(c, "chain");
    if (fn && (top_n == 0 || top_n > 1000))
        return tg__error(TG_ERANGE, "tg_chain_set_trace: top_n = %zu is outside [1, 1000]", top_n);
    c->trace_fn = fn;
    c->trace_top = top_n;
    c->trace_user = user_data;
    return TG_OK;
}

/* ---- snapshots: "TGC2" | n_stages | step | n_prompt | n_hist | history |
 *      per stage: name length, name, state length, state | FNV-1a 64 of everything before ----
 * The checksum makes a damaged snapshot an error instead of a quietly different state. */

#define SNAP_MAGIC 0x32434754u /* "TGC2" little-endian */

static int is_stateful(const tg_processor_vtable *vt)
{
    return vt->accept != NULL || vt->reset != NULL;
}

static void put(GByteArray *b, const void *p, size_t n)
{
    g_byte_array_append(b, p, (guint)n);
}

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

tg_status tg_chain_save(void **buf_out, size_t *len_out, const tg_chain *c)
{
    tg_error_clear();
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
                if (!(state = tg__malloc(sl)))
                    st = tg__enomem("a stage's saved state", sl);
                else
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
    uint64_t sum = fnv1a64(b->data, b->len);
    put(b, &sum, sizeof sum);
    void *out = tg__malloc(b->len);
    if (!out) {
        g_byte_array_free(b, TRUE);
        return tg__enomem("a chain snapshot", b->len);
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

/* A fresh state for stage `s` equal to its current one (clone, or create from its parameters),
 * to load a snapshot into without touching the live state. */
static tg_status spare_state(void **out, const tg_chain *c, const stage *s)
{
    *out = NULL;
    if (s->vt->clone)
        return s->state ? s->vt->clone(out, s->state) : TG_OK;
    tg_proc_context ctx = context_of(c, s->user_data);
    return s->vt->create(out, s->values, &ctx);
}

tg_status tg_chain_restore(tg_chain *c, const void *buf, size_t len)
{
    tg_error_clear();
    TG_CHECK_ARG(c, "chain");
    TG_CHECK_ARG(buf, "buf");
    uint64_t sum;
    if (len < 2 * sizeof(uint32_t) + 3 * sizeof(uint64_t) + sizeof sum)
        return tg__error(TG_EFORMAT, "tg_chain_restore: not a chain snapshot (%zu bytes)", len);
    memcpy(&sum, (const unsigned char *)buf + len - sizeof sum, sizeof sum);
    reader r = {buf, len - sizeof sum};
    uint32_t head[2];
    uint64_t nums[3];
    if (!take(&r, head, sizeof head) || head[0] != SNAP_MAGIC)
        return tg__error(TG_EFORMAT, "tg_chain_restore: not a chain snapshot (or one written by "
                                     "another version of libtextgen)");
    if (fnv1a64(buf, len - sizeof sum) != sum)
        return tg__error(TG_EFORMAT,
                         "tg_chain_restore: the snapshot is damaged (its checksum does not match)");
    if (head[1] != c->stages->len)
        return tg__error(TG_EINVAL,
                         "tg_chain_restore: the snapshot has %u stages, this chain has %u", head[1],
                         c->stages->len);
    if (!take(&r, nums, sizeof nums) || nums[1] > nums[2] || nums[2] > r.left / sizeof(int32_t))
        return tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
    if (nums[0] > (uint64_t)INT32_MAX)
        return tg__error(TG_EFORMAT, "tg_chain_restore: step %llu is out of range",
                         (unsigned long long)nums[0]);
    /* Validate everything, and load every stage's state into a spare one, before changing the
     * chain: a failed restore leaves it as it was. */
    const unsigned char *hist = r.p;
    for (uint64_t i = 0; i < nums[2]; i++) {
        int32_t id;
        memcpy(&id, hist + i * sizeof id, sizeof id);
        if (id < 0 || id >= c->n_vocab)
            return tg__error(TG_EFORMAT,
                             "tg_chain_restore: history token %llu is %d, outside the "
                             "vocabulary [0, %d)",
                             (unsigned long long)i, (int)id, (int)c->n_vocab);
    }
    take(&r, NULL, nums[2] * sizeof(int32_t));
    const guint n_stages = c->stages->len;
    void **spare = g_new0(void *, n_stages + 1);
    int *loaded = g_new0(int, n_stages + 1);
    tg_status st = TG_OK;
    for (guint i = 0; i < n_stages && st == TG_OK; i++) {
        const stage *s = &g_array_index(c->stages, stage, i);
        uint64_t nl, sl;
        char name[128];
        if (!take(&r, &nl, sizeof nl) || nl >= sizeof name || !take(&r, name, nl)) {
            st = tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
            break;
        }
        name[nl] = '\0';
        if (strcmp(name, s->vt->name) != 0) {
            st = tg__is_identifier(name)
                     ? tg__error(TG_EINVAL,
                                 "tg_chain_restore: stage %u is '%s' in the snapshot but '%s' "
                                 "here",
                                 i + 1, name, s->vt->name)
                     : tg__error(TG_EFORMAT,
                                 "tg_chain_restore: stage %u of the snapshot has no valid "
                                 "processor name (this chain's is '%s')",
                                 i + 1, s->vt->name);
            break;
        }
        if (!take(&r, &sl, sizeof sl) || sl > r.left) {
            st = tg__error(TG_EFORMAT, "tg_chain_restore: truncated snapshot");
            break;
        }
        if (sl && !s->vt->load) {
            st = tg__error(TG_EUNSUPPORTED, "stage %u '%s' cannot load a saved state", i + 1,
                           s->vt->name);
            break;
        }
        if (sl) {
            tg_error_clear();
            if ((st = spare_state(&spare[i], c, s)) == TG_OK)
                st = s->vt->load(spare[i], r.p, sl);
            char prefix[160];
            snprintf(prefix, sizeof prefix, "tg_chain_restore: stage %u '%s'", i + 1, s->vt->name);
            if (st != TG_OK)
                st = tg_error_last()[0] ? plugin_error_prefix(prefix, s->vt->name)
                                        : tg__error(st,
                                                    "tg_chain_restore: stage %u '%s' failed to "
                                                    "load its state",
                                                    i + 1, s->vt->name);
            else
                loaded[i] = 1;
        }
        take(&r, NULL, sl);
    }
    if (st == TG_OK && r.left)
        st = tg__error(TG_EFORMAT, "tg_chain_restore: %zu unexpected bytes after the last stage",
                       r.left);
    if (st == TG_OK)
        st = reserve_history(c, nums[2]);
    for (guint i = 0; i < n_stages; i++) {
        stage *s = &g_array_index(c->stages, stage, i);
        if (!spare[i])
            continue;
        if (st == TG_OK && loaded[i]) { /* commit: the loaded spare becomes the state */
            void *old = s->state;
            s->state = spare[i];
            spare[i] = old;
        }
        if (spare[i] && s->vt->destroy)
            s->vt->destroy(spare[i]);
    }
    g_free(spare);
    g_free(loaded);
    if (st != TG_OK)
        return st;
    if (nums[2])
        memcpy(c->history, hist, nums[2] * sizeof(int32_t));
    c->n_hist = nums[2];
    c->n_prompt = nums[1];
    c->step = (int32_t)nums[0];
    return TG_OK;
}
