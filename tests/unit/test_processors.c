/* Built-in logit processors (plugins/<name>/<name>.c): numeric tests against hand-computed
 * values, order effects, min_keep and edge cases, and a chi-square test of dist's frequencies.
 *
 * Each processor is exercised twice over:
 * - directly through its vtable: the module is loaded from $TEXTGEN_PLUGIN_PATH (the build
 *   tree's plugins/) with dlopen — RTLD_LOCAL, as the registry's GModule G_MODULE_BIND_LOCAL —
 *   and create/apply/accept run on candidates filled by hand;
 * - through the chain API (tg_chain_parse / tg_chain_sample) for the textbook top_p case, the
 *   order tests and the chi-square test.
 *
 * Probabilities and logits are compared to 1e-6 unless a comment says otherwise. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/plugin.h>
#include <textgen/sampler.h>
#include <textgen/textgen.h>
#include <textgen/tokenizer.h>

#define EPS 1e-6

/* ---- loading a module and calling its vtable ---- */

static const tg_processor_vtable *load_vtable(const char *module)
{
    const char *dir = getenv("TEXTGEN_PLUGIN_PATH");
    cr_assert_not_null(dir, "TEXTGEN_PLUGIN_PATH is not set (run through meson test)");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.so", dir, module);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL); /* stays loaded: vtables are static data */
    cr_assert_not_null(h, "dlopen %s: %s", path, dlerror());
    tg_plugin_get_desc_fn get = (tg_plugin_get_desc_fn)dlsym(h, "tg_plugin_get_desc");
    cr_assert_not_null(get, "%s has no tg_plugin_get_desc", path);
    const tg_plugin_desc *d = get();
    cr_assert_eq(d->abi_version, TG_PLUGIN_ABI_VERSION);
    cr_assert_eq(d->struct_size, sizeof(tg_plugin_desc));
    cr_assert_eq(d->n_processors, 1);
    const tg_processor_vtable *vt = d->processors[0];
    cr_assert_eq(vt->struct_size, TG_PROCESSOR_VTABLE_SIZE);
    return vt;
}

/* Parameter values parallel to the schema: the defaults, overridden by "name=value; ..."
 * (';' separates overrides so that IDS values may contain spaces; IDS sequences are then
 * separated by '/'). */
typedef struct {
    tg_param_value v[16];
    char text[16][256];
    int32_t ids[16][64];
    size_t ends[16][16];
} param_set;

static void parse_value(param_set *ps, size_t i, const tg_param_spec *spec, const char *text,
                        int ids_sep_slash)
{
    tg_param_value *v = &ps->v[i];
    memset(v, 0, sizeof *v);
    snprintf(ps->text[i], sizeof ps->text[i], "%s", text);
    char *end;
    switch (spec->type) {
    case TG_PARAM_FLOAT:
        v->number = strtod(text, &end);
        cr_assert(end != text && *end == '\0', "%s: '%s' is not a number", spec->name, text);
        v->integer = (int64_t)v->number;
        cr_assert(v->number >= spec->min && v->number <= spec->max, "%s=%s out of range",
                  spec->name, text);
        break;
    case TG_PARAM_INT:
        v->integer = strtoll(text, &end, 10);
        cr_assert(end != text && *end == '\0', "%s: '%s' is not an integer", spec->name, text);
        v->number = (double)v->integer;
        cr_assert(v->number >= spec->min && v->number <= spec->max, "%s=%s out of range",
                  spec->name, text);
        break;
    case TG_PARAM_BOOL:
        v->integer = !strcmp(text, "true") || !strcmp(text, "1");
        cr_assert(v->integer || !strcmp(text, "false") || !strcmp(text, "0"));
        v->number = (double)v->integer;
        break;
    case TG_PARAM_STRING:
        v->string = ps->text[i];
        break;
    case TG_PARAM_IDS: {
        v->string = ps->text[i];
        const char sep = ids_sep_slash ? '/' : ';';
        size_t n = 0, ns = 0, before = 0;
        for (const char *p = text;;) {
            while (*p == ' ')
                p++;
            if (*p == sep || *p == '\0') {
                if (n > before)
                    ps->ends[i][ns++] = n;
                before = n;
                if (*p == '\0')
                    break;
                p++;
                continue;
            }
            long id = strtol(p, &end, 10);
            cr_assert(end != p, "%s: bad ids '%s'", spec->name, text);
            ps->ids[i][n++] = (int32_t)id;
            p = end;
        }
        v->ids = ps->ids[i];
        v->n_ids = n;
        v->seq_ends = ps->ends[i];
        v->n_seqs = ns;
        break;
    }
    default:
        cr_assert_fail("unknown type");
    }
}

static void make_values(param_set *ps, const tg_processor_vtable *vt, const char *overrides)
{
    memset(ps, 0, sizeof *ps);
    cr_assert_leq(vt->n_params, 16);
    int given[16] = {0};
    if (overrides) {
        char *copy = strdup(overrides), *save = NULL;
        for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
            while (*tok == ' ')
                tok++;
            char *eq = strchr(tok, '=');
            cr_assert_not_null(eq, "override '%s'", tok);
            *eq = '\0';
            size_t i = 0;
            while (i < vt->n_params && strcmp(vt->params[i].name, tok) != 0)
                i++;
            cr_assert_lt(i, vt->n_params, "%s has no parameter '%s'", vt->name, tok);
            parse_value(ps, i, &vt->params[i], eq + 1, 1);
            given[i] = 1;
        }
        free(copy);
    }
    for (size_t i = 0; i < vt->n_params; i++)
        if (!given[i]) {
            cr_assert_not_null(vt->params[i].default_value, "%s.%s is required", vt->name,
                               vt->params[i].name);
            parse_value(ps, i, &vt->params[i], vt->params[i].default_value, 0);
        }
}

typedef struct {
    const tg_processor_vtable *vt;
    void *state;
} proc;

static int32_t no_eos[1];

static tg_proc_context context(int32_t n_vocab)
{
    tg_proc_context ctx = {sizeof ctx, n_vocab, no_eos, 0, NULL, NULL};
    return ctx;
}

static tg_status proc_try(proc *p, const char *module, const char *overrides,
                          const tg_proc_context *ctx)
{
    p->vt = load_vtable(module);
    param_set ps;
    make_values(&ps, p->vt, overrides);
    p->state = NULL;
    return p->vt->create(&p->state, ps.v, ctx);
}

static proc proc_new_ctx(const char *module, const char *overrides, const tg_proc_context *ctx)
{
    proc p;
    tg_status st = proc_try(&p, module, overrides, ctx);
    cr_assert_eq(st, TG_OK, "%s(%s): %s", module, overrides ? overrides : "", tg_error_last());
    return p;
}

static proc proc_new(const char *module, const char *overrides, int32_t n_vocab)
{
    tg_proc_context ctx = context(n_vocab);
    return proc_new_ctx(module, overrides, &ctx);
}

static void proc_free(proc *p)
{
    if (p->vt->destroy)
        p->vt->destroy(p->state);
    p->state = NULL;
}

/* ---- candidates ---- */

typedef struct {
    tg_candidates c;
    int32_t ids[64];
    float logits[64];
    float probs[64];
} small_cands;

static void fill_logits(small_cands *s, const float *logits, size_t n)
{
    cr_assert_leq(n, 64);
    memset(s, 0, sizeof *s);
    s->c.struct_size = sizeof s->c;
    s->c.n_vocab = (int32_t)n;
    s->c.ids = s->ids;
    s->c.logits = s->logits;
    s->c.probs = s->probs;
    s->c.size = n;
    s->c.capacity = n;
    s->c.sorted = 0;
    s->c.probs_valid = 0;
    s->c.selected = -1;
    for (size_t i = 0; i < n; i++) {
        s->ids[i] = (int32_t)i;
        s->logits[i] = logits[i];
    }
}

static void fill_probs(small_cands *s, const double *probs, size_t n)
{
    float l[64];
    for (size_t i = 0; i < n; i++)
        l[i] = probs[i] > 0 ? (float)log(probs[i]) : -INFINITY;
    fill_logits(s, l, n);
}

/* Reverse the candidate order (ids no longer equal positions: exercises the slow lookups). */
static void reverse(small_cands *s)
{
    for (size_t i = 0, j = s->c.size - 1; i < j; i++, j--) {
        int32_t id = s->ids[i];
        s->ids[i] = s->ids[j];
        s->ids[j] = id;
        float l = s->logits[i];
        s->logits[i] = s->logits[j];
        s->logits[j] = l;
        float p = s->probs[i];
        s->probs[i] = s->probs[j];
        s->probs[j] = p;
    }
}

static long index_of(const tg_candidates *c, int32_t id)
{
    for (size_t i = 0; i < c->size; i++)
        if (c->ids[i] == id)
            return (long)i;
    return -1;
}

static float logit_of(const tg_candidates *c, int32_t id)
{
    long i = index_of(c, id);
    cr_assert_geq(i, 0, "token %d is not live", (int)id);
    return c->logits[i];
}

static float prob_of(const tg_candidates *c, int32_t id)
{
    long i = index_of(c, id);
    cr_assert_geq(i, 0, "token %d is not live", (int)id);
    cr_assert(c->probs_valid, "probs are not valid");
    return c->probs[i];
}

/* The live set is exactly `want` (any order). */
static void assert_live(const tg_candidates *c, const int32_t *want, size_t n)
{
    cr_assert_eq(c->size, n, "live size %zu, expected %zu", c->size, n);
    for (size_t k = 0; k < n; k++)
        cr_assert_geq(index_of(c, want[k]), 0, "token %d should be live", (int)want[k]);
}

static void assert_probs_sum_to_one(const tg_candidates *c)
{
    cr_assert(c->probs_valid);
    double sum = 0;
    for (size_t i = 0; i < c->size; i++)
        sum += c->probs[i];
    cr_assert_float_eq(sum, 1.0, EPS);
}

/* `sorted` is truthful: the first `sorted` entries are descending and >= every other one. */
static void assert_sorted_truthful(const tg_candidates *c)
{
    for (size_t i = 1; i < c->sorted; i++)
        cr_assert_geq(c->logits[i - 1], c->logits[i], "sorted prefix out of order at %zu", i);
    if (c->sorted > 0)
        for (size_t i = c->sorted; i < c->size; i++)
            cr_assert_geq(c->logits[c->sorted - 1], c->logits[i], "entry %zu beats the prefix", i);
}

static tg_step_info step_info(const int32_t *tokens, size_t n_tokens, size_t n_prompt, int32_t step)
{
    tg_step_info s = {sizeof s, 42, 0, step, tokens, n_tokens, n_prompt};
    return s;
}

static void apply_ok(proc *p, tg_candidates *c, const tg_step_info *step)
{
    tg_status st = p->vt->apply(p->state, c, step);
    cr_assert_eq(st, TG_OK, "%s apply: %s", p->vt->name, tg_error_last());
    cr_assert_geq(c->size, 1, "%s left no candidate", p->vt->name);
    assert_sorted_truthful(c);
}

/* One-shot: make, apply, free. */
static void run(const char *module, const char *overrides, tg_candidates *c,
                const tg_step_info *step)
{
    proc p = proc_new(module, overrides, c->n_vocab);
    apply_ok(&p, c, step);
    proc_free(&p);
}

/* ====================================================================================== */

static const struct {
    const char *module, *name;
    uint32_t kind;
} builtins[] = {
    {"temperature", "temperature", TG_PROC_TRANSFORM},
    {"top_k", "top_k", TG_PROC_FILTER},
    {"top_p", "top_p", TG_PROC_FILTER},
    {"min_p", "min_p", TG_PROC_FILTER},
    {"typical", "typical", TG_PROC_FILTER},
    {"top_n_sigma", "top_n_sigma", TG_PROC_FILTER},
    {"xtc", "xtc", TG_PROC_FILTER},
    {"mirostat_v2", "mirostat_v2", TG_PROC_SELECTOR},
    {"repetition_penalty", "repetition_penalty", TG_PROC_TRANSFORM},
    {"frequency_penalty", "frequency_penalty", TG_PROC_TRANSFORM},
    {"presence_penalty", "presence_penalty", TG_PROC_TRANSFORM},
    {"dry", "dry", TG_PROC_TRANSFORM},
    {"no_repeat_ngram", "no_repeat_ngram", TG_PROC_TRANSFORM},
    {"logit_bias", "logit_bias", TG_PROC_TRANSFORM},
    {"bad_words", "bad_words", TG_PROC_TRANSFORM},
    {"min_new_tokens", "min_new_tokens", TG_PROC_TRANSFORM},
    {"greedy", "greedy", TG_PROC_SELECTOR},
    {"dist_selector", "dist", TG_PROC_SELECTOR},
};

Test(processors, every_builtin_has_a_documented_schema)
{
    for (size_t b = 0; b < sizeof builtins / sizeof builtins[0]; b++) {
        const tg_processor_vtable *vt = load_vtable(builtins[b].module);
        cr_assert_str_eq(vt->name, builtins[b].name);
        cr_assert_eq(vt->kind, builtins[b].kind, "%s kind", vt->name);
        cr_assert(vt->doc && vt->doc[0], "%s has no doc", vt->name);
        cr_assert_not_null(vt->create);
        cr_assert_not_null(vt->apply);
        for (size_t i = 0; i < vt->n_params; i++) {
            const tg_param_spec *p = &vt->params[i];
            cr_assert(p->doc && p->doc[0], "%s.%s has no doc", vt->name, p->name);
            cr_assert(!strchr(p->doc, '\n'), "%s.%s doc is not one line", vt->name, p->name);
            if (p->type == TG_PARAM_FLOAT || p->type == TG_PARAM_INT)
                cr_assert_leq(p->min, p->max, "%s.%s range", vt->name, p->name);
            if (p->default_value) { /* defaults parse and lie in range */
                param_set ps;
                parse_value(&ps, 0, p, p->default_value, 0);
            }
        }
    }
}

/* ---- temperature ---- */

Test(processors, temperature_divides_logits)
{
    small_cands s;
    const float l[] = {2, 1, -1, -INFINITY};
    fill_logits(&s, l, 4);
    tg_candidates_softmax(&s.c);
    run("temperature", "t=2", &s.c, NULL);
    cr_assert_eq(s.c.size, 4);
    cr_assert_not(s.c.probs_valid, "a transform must clear probs_valid");
    cr_assert_float_eq(logit_of(&s.c, 0), 1.0, EPS);
    cr_assert_float_eq(logit_of(&s.c, 1), 0.5, EPS);
    cr_assert_float_eq(logit_of(&s.c, 2), -0.5, EPS);
    cr_assert(isinf(logit_of(&s.c, 3)) && logit_of(&s.c, 3) < 0);
    /* softmax of [1, .5, -.5, -inf] */
    tg_candidates_softmax(&s.c);
    double z = exp(1.0) + exp(0.5) + exp(-0.5);
    cr_assert_float_eq(prob_of(&s.c, 0), exp(1.0) / z, EPS);
    cr_assert_float_eq(prob_of(&s.c, 3), 0.0, EPS);
}

Test(processors, temperature_keeps_the_sorted_prefix)
{
    small_cands s;
    const float l[] = {0.1f, 3, 2, 1};
    fill_logits(&s, l, 4);
    tg_candidates_sort(&s.c, 2);
    size_t sorted = s.c.sorted;
    run("temperature", "t=0.5", &s.c, NULL);
    cr_assert_eq(s.c.sorted, sorted);
    cr_assert_float_eq(s.c.logits[0], 6.0, EPS);
    cr_assert_float_eq(s.c.logits[1], 4.0, EPS);
}

Test(processors, temperature_zero_is_greedy)
{
    small_cands s;
    const float l[] = {1, 3, 3, 2};
    fill_logits(&s, l, 4);
    run("temperature", "t=0", &s.c, NULL);
    const int32_t want[] = {1}; /* tie between 1 and 2: lowest id */
    assert_live(&s.c, want, 1);
    cr_assert_float_eq(s.c.logits[0], 3.0, EPS);
}

Test(processors, temperature_one_changes_nothing)
{
    small_cands s;
    const float l[] = {1, -2, 0.25f};
    fill_logits(&s, l, 3);
    run("temperature", NULL, &s.c, NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(s.logits[i], l[i], 0);
}

Test(processors, temperature_far_below_one_stays_a_distribution)
{
    /* 1 / 1e-40 overflows a float: the logits are shifted by their maximum instead, so the
     * softmax is exact (the most likely token alone) and nothing is NaN. */
    const char *ts[] = {"t=1e-40", "t=1e-30", "t=1e-7"};
    for (size_t k = 0; k < 3; k++) {
        small_cands s;
        const float l[] = {2, 1, -1, -INFINITY, 2 - 1e-3f};
        fill_logits(&s, l, 5);
        run("temperature", ts[k], &s.c, NULL);
        for (size_t i = 0; i < s.c.size; i++)
            cr_assert(!isnan(s.c.logits[i]) && !(isinf(s.c.logits[i]) && s.c.logits[i] > 0),
                      "%s: logit %zu = %g", ts[k], i, s.c.logits[i]);
        cr_assert_eq(tg_candidates_softmax(&s.c), TG_OK, "%s", ts[k]);
        cr_assert_float_eq(prob_of(&s.c, 0), 1.0, 1e-6, "%s", ts[k]);
        cr_assert_float_eq(prob_of(&s.c, 3), 0.0, 0, "%s", ts[k]);
    }
    /* an ordinary t is still a plain division (no shift) */
    small_cands s;
    const float l[] = {2, 1};
    fill_logits(&s, l, 2);
    run("temperature", "t=0.5", &s.c, NULL);
    cr_assert_float_eq(logit_of(&s.c, 0), 4.0, EPS);
}

/* ---- top_k ---- */

Test(processors, top_k_keeps_the_k_largest)
{
    small_cands s;
    const float l[] = {0.5f, 3, 1, 2, -1};
    fill_logits(&s, l, 5);
    run("top_k", "k=2", &s.c, NULL);
    const int32_t want[] = {1, 3};
    assert_live(&s.c, want, 2);
    cr_assert_eq(s.c.ids[0], 1); /* partial sort: largest first */
    cr_assert_eq(s.c.ids[1], 3);
    cr_assert_float_eq(logit_of(&s.c, 3), 2.0, EPS);
}

Test(processors, top_k_ties_go_to_the_lower_id_and_probs_renormalize)
{
    small_cands s;
    const double p[] = {0.25, 0.25, 0.25, 0.25};
    fill_probs(&s, p, 4);
    reverse(&s);
    tg_candidates_softmax(&s.c);
    run("top_k", "k=2", &s.c, NULL);
    const int32_t want[] = {0, 1};
    assert_live(&s.c, want, 2);
    cr_assert_float_eq(prob_of(&s.c, 0), 0.5, EPS);
    cr_assert_float_eq(prob_of(&s.c, 1), 0.5, EPS);
}

Test(processors, top_k_edge_cases_keep_everything)
{
    const char *cases[] = {"k=0", "k=5", "k=100", "k=1000000000"};
    for (size_t i = 0; i < 4; i++) {
        small_cands s;
        const float l[] = {0.5f, 3, 1, 2, -1};
        fill_logits(&s, l, 5);
        run("top_k", cases[i], &s.c, NULL);
        cr_assert_eq(s.c.size, 5, "%s", cases[i]);
    }
}

/* ---- top_p ---- */

enum { THE, A, THIS, THAT, MY, YOUR };
static const double textbook[] = {0.40, 0.30, 0.20, 0.05, 0.03, 0.02};

Test(processors, top_p_textbook_case)
{
    small_cands s;
    fill_probs(&s, textbook, 6);
    run("top_p", "p=0.9", &s.c, NULL);
    const int32_t want[] = {THE, A, THIS};
    assert_live(&s.c, want, 3);
    cr_assert_float_eq(prob_of(&s.c, THE), 4.0 / 9, EPS);
    cr_assert_float_eq(prob_of(&s.c, A), 3.0 / 9, EPS);
    cr_assert_float_eq(prob_of(&s.c, THIS), 2.0 / 9, EPS);
    assert_probs_sum_to_one(&s.c);
}

Test(processors, top_p_textbook_case_in_any_candidate_order)
{
    small_cands s;
    fill_probs(&s, textbook, 6);
    reverse(&s);
    run("top_p", "p=0.9", &s.c, NULL);
    const int32_t want[] = {THE, A, THIS};
    assert_live(&s.c, want, 3);
    cr_assert_float_eq(prob_of(&s.c, THIS), 2.0 / 9, EPS);
}

Test(processors, top_p_thresholds)
{
    /* cumulative: .40 .70 .90 .95 .98 1 */
    const struct {
        const char *params;
        size_t n;
    } cases[] = {
        {"p=0.3", 1},
        {"p=0.4", 1},
        {"p=0.41", 2},
        {"p=0.7", 2},
        {"p=0.71", 3},
        {"p=0.95", 4},
        {"p=0.99", 6},
        {"p=1", 6},
        {"p=0.000000001", 1},
        {"p=0.5; min_keep=4", 4},
        {"p=0.9; min_keep=100", 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        small_cands s;
        fill_probs(&s, textbook, 6);
        run("top_p", cases[i].params, &s.c, NULL);
        cr_assert_eq(s.c.size, cases[i].n, "top_p(%s) kept %zu, expected %zu", cases[i].params,
                     s.c.size, cases[i].n);
        for (size_t k = 0; k < cases[i].n; k++) /* always the most likely ones */
            cr_assert_geq(index_of(&s.c, (int32_t)k), 0, "%s: token %zu", cases[i].params, k);
    }
}

/* A large vocabulary: the result equals a brute-force nucleus computed by full sort, both when
 * the nucleus is inside the first 64 and when it is larger (found by mass, without a sort). */
static int desc_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void top_p_large(double spread, double p, size_t *kept_out)
{
    const size_t n = 50257;
    tg_candidates c = {0};
    c.struct_size = sizeof c;
    c.n_vocab = (int32_t)n;
    c.ids = malloc(n * sizeof *c.ids);
    c.logits = malloc(n * sizeof *c.logits);
    c.probs = malloc(n * sizeof *c.probs);
    c.size = c.capacity = n;
    c.selected = -1;
    double *ref = malloc(n * sizeof *ref);
    uint64_t x = 88172645463325252ull;
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c.ids[i] = (int32_t)i;
        c.logits[i] = (float)(spread * ((double)(x >> 11) / 9007199254740992.0));
        mx = c.logits[i] > mx ? c.logits[i] : mx;
    }
    double z = 0;
    for (size_t i = 0; i < n; i++)
        z += exp((double)c.logits[i] - mx);
    for (size_t i = 0; i < n; i++)
        ref[i] = exp((double)c.logits[i] - mx) / z;
    qsort(ref, n, sizeof *ref, desc_double);
    size_t want = 0;
    for (double cum = 0; want < n && cum < p - 1e-6;)
        cum += ref[want++];
    float *orig = malloc(n * sizeof *orig);
    memcpy(orig, c.logits, n * sizeof *orig);

    char buf[64];
    snprintf(buf, sizeof buf, "p=%.17g", p);
    proc pr = proc_new("top_p", buf, (int32_t)n);
    apply_ok(&pr, &c, NULL);
    proc_free(&pr);
    cr_assert_eq(c.size, want, "spread %g: kept %zu, brute force %zu", spread, c.size, want);
    assert_probs_sum_to_one(&c);
    /* the kept ones are the `want` largest: each kept logit >= every removed one */
    float min_kept = INFINITY;
    for (size_t i = 0; i < c.size; i++)
        min_kept = c.logits[i] < min_kept ? c.logits[i] : min_kept;
    size_t at_least = 0;
    for (size_t i = 0; i < n; i++)
        at_least += orig[i] >= min_kept;
    cr_assert_eq(at_least, want);
    *kept_out = c.size;
    /* no full sort: far beyond the nucleus the (dead) entries are still unsorted */
    size_t inversions = 0;
    for (size_t i = 16384 + 1; i < n; i++)
        inversions += c.logits[i - 1] < c.logits[i];
    cr_assert_gt(inversions, 0, "the whole vocabulary was sorted");
    free(c.ids);
    free(c.logits);
    free(c.probs);
    free(ref);
    free(orig);
}

Test(processors, top_p_large_vocabulary_matches_brute_force)
{
    size_t kept;
    /* logits uniform in [0, spread]: the top 90% of the mass is the tokens within ln 10 of the
     * max, about 50257 * 2.3 / spread of them */
    top_p_large(3000.0, 0.9, &kept); /* peaked: ~40 tokens, inside the first 64 sorted */
    cr_assert_lt(kept, 64);
    top_p_large(200.0, 0.9, &kept); /* flatter: ~580 tokens, beyond the first 64 */
    cr_assert_gt(kept, 256);
    top_p_large(5.0, 0.9, &kept); /* nearly flat: a nucleus of most of the vocabulary */
    cr_assert_gt(kept, 10000);
}

/* ---- min_p ---- */

Test(processors, min_p_keeps_tokens_near_the_top)
{
    const double p[] = {0.5, 0.25, 0.15, 0.06, 0.04};
    small_cands s;
    fill_probs(&s, p, 5);
    tg_candidates_softmax(&s.c);
    run("min_p", "p=0.2", &s.c, NULL); /* threshold 0.2 * 0.5 = 0.1 */
    const int32_t want[] = {0, 1, 2};
    assert_live(&s.c, want, 3);
    cr_assert_float_eq(prob_of(&s.c, 0), 0.5 / 0.9, EPS);
    cr_assert_float_eq(prob_of(&s.c, 2), 0.15 / 0.9, EPS);
    cr_assert_float_eq(logit_of(&s.c, 1), (float)log(0.25), EPS);

    fill_probs(&s, p, 5);
    run("min_p", "p=0.4", &s.c, NULL); /* threshold 0.2 */
    const int32_t want2[] = {0, 1};
    assert_live(&s.c, want2, 2);
}

Test(processors, min_p_min_keep_and_edges)
{
    const double p[] = {0.5, 0.25, 0.15, 0.06, 0.04};
    small_cands s;
    fill_probs(&s, p, 5);
    reverse(&s);
    run("min_p", "p=0.9; min_keep=3", &s.c, NULL);
    const int32_t want[] = {0, 1, 2};
    assert_live(&s.c, want, 3);

    fill_probs(&s, p, 5);
    run("min_p", "p=0", &s.c, NULL);
    cr_assert_eq(s.c.size, 5);

    fill_probs(&s, p, 5);
    run("min_p", "p=1", &s.c, NULL);
    const int32_t top[] = {0};
    assert_live(&s.c, top, 1);
}

/* ---- typical ---- */

/* p = 1/2 1/4 1/8 1/16 1/16: H = 1.875 ln 2; -ln p = (1 2 3 4 4) ln 2;
 * s = |(-ln p) - H| = (0.875 0.125 1.125 2.125 2.125) ln 2
 * order by s: id1 (.25) id0 (.5) id2 (.125) id3 id4 (.0625 each); cumulative .25 .75 .875 .9375 1
 */
static const double dyadic[] = {0.5, 0.25, 0.125, 0.0625, 0.0625};

Test(processors, typical_hand_computed)
{
    small_cands s;
    fill_probs(&s, dyadic, 5);
    run("typical", "p=0.5", &s.c, NULL); /* reached at id0 (cum .75) */
    const int32_t want[] = {1, 0};
    assert_live(&s.c, want, 2);
    cr_assert_float_eq(prob_of(&s.c, 1), 1.0 / 3, EPS);
    cr_assert_float_eq(prob_of(&s.c, 0), 2.0 / 3, EPS);

    fill_probs(&s, dyadic, 5);
    run("typical", "p=0.2", &s.c, NULL); /* the most typical token alone: id1, not the argmax */
    const int32_t want1[] = {1};
    assert_live(&s.c, want1, 1);

    fill_probs(&s, dyadic, 5);
    run("typical", "p=0.8", &s.c, NULL); /* cum .875 at id2 */
    const int32_t want3[] = {1, 0, 2};
    assert_live(&s.c, want3, 3);
    cr_assert_float_eq(prob_of(&s.c, 2), 0.125 / 0.875, EPS);
    cr_assert_float_eq(prob_of(&s.c, 0), 0.5 / 0.875, EPS);
}

Test(processors, typical_keeps_ties_and_min_keep)
{
    small_cands s;
    fill_probs(&s, dyadic, 5);
    run("typical", "p=0.9", &s.c, NULL); /* reached at id3; id4 ties with it (HF keeps ties) */
    cr_assert_eq(s.c.size, 5);

    fill_probs(&s, dyadic, 5);
    reverse(&s);
    run("typical", "p=0.2; min_keep=2", &s.c, NULL);
    const int32_t want[] = {1, 0};
    assert_live(&s.c, want, 2);

    fill_probs(&s, dyadic, 5);
    run("typical", "p=1", &s.c, NULL);
    cr_assert_eq(s.c.size, 5);
}

/* ---- top_n_sigma ---- */

Test(processors, top_n_sigma_hand_computed)
{
    /* finite logits 4 3 1 0: mean 2, population variance (4+1+1+4)/4 = 2.5, sigma 1.5811 */
    const float l[] = {4, 3, 1, 0, -INFINITY};
    small_cands s;
    fill_logits(&s, l, 5);
    run("top_n_sigma", "n=1", &s.c, NULL); /* threshold 2.4189 */
    const int32_t want[] = {0, 1};
    assert_live(&s.c, want, 2);

    fill_logits(&s, l, 5);
    reverse(&s);
    run("top_n_sigma", "n=2", &s.c, NULL); /* threshold 0.8377 */
    const int32_t want2[] = {0, 1, 2};
    assert_live(&s.c, want2, 3);

    fill_logits(&s, l, 5);
    run("top_n_sigma", "n=0", &s.c, NULL); /* disabled */
    cr_assert_eq(s.c.size, 5);

    const float flat[] = {1, 1, 1};
    fill_logits(&s, flat, 3);
    run("top_n_sigma", "n=1", &s.c, NULL); /* sigma 0: all equal to the max stay */
    cr_assert_eq(s.c.size, 3);
}

/* ---- xtc ---- */

Test(processors, xtc_removes_top_choices_but_the_least_likely)
{
    const double p[] = {0.4, 0.3, 0.2, 0.05, 0.05};
    small_cands s;
    fill_probs(&s, p, 5);
    tg_step_info st = step_info(NULL, 0, 0, 0);
    run("xtc", "probability=1; threshold=0.1", &s.c, &st);
    const int32_t want[] = {2, 3, 4}; /* .4 .3 .2 are above .1: .2 stays */
    assert_live(&s.c, want, 3);
    cr_assert_float_eq(prob_of(&s.c, 2), 0.2 / 0.3, EPS);
    cr_assert_float_eq(prob_of(&s.c, 3), 0.05 / 0.3, EPS);
    assert_probs_sum_to_one(&s.c);
}

Test(processors, xtc_no_ops)
{
    const double p[] = {0.4, 0.3, 0.2, 0.05, 0.05};
    tg_step_info st = step_info(NULL, 0, 0, 0);
    const char *cases[] = {
        "probability=0",                            /* never */
        "probability=1; threshold=0.35",            /* only one above the threshold */
        "probability=1; threshold=0.5",             /* none above */
        "probability=1; threshold=0.1; min_keep=4", /* 3 would remain */
    };
    for (size_t i = 0; i < 4; i++) {
        small_cands s;
        fill_probs(&s, p, 5);
        run("xtc", cases[i], &s.c, &st);
        cr_assert_eq(s.c.size, 5, "xtc(%s)", cases[i]);
    }
    /* threshold 0: everything is a top choice; only the least likely stays */
    small_cands s;
    fill_probs(&s, p, 5);
    reverse(&s);
    run("xtc", "probability=1; threshold=0", &s.c, &st);
    cr_assert_eq(s.c.size, 1);
    cr_assert(s.c.ids[0] == 3 || s.c.ids[0] == 4);
}

Test(processors, xtc_never_keeps_a_banned_token_alone)
{
    /* threshold 0 after a -inf ban: the banned token is not a "top choice"; the least likely
     * of the possible tokens stays, and the ban keeps probability 0. */
    small_cands s;
    const float l[] = {3, 2, -INFINITY, 1};
    fill_logits(&s, l, 4);
    tg_step_info st = step_info(NULL, 0, 0, 0);
    run("xtc", "probability=1; threshold=0", &s.c, &st);
    cr_assert_eq(tg_candidates_softmax(&s.c), TG_OK);
    cr_assert_float_eq(prob_of(&s.c, 3), 1.0, EPS);
    cr_assert(index_of(&s.c, 0) < 0 && index_of(&s.c, 1) < 0);
}

Test(processors, xtc_coin_uses_the_documented_counter)
{
    /* probability 0.5: fires exactly when tg_rng_uniform(seed, seq, step, 0x787463) < 0.5 */
    const double p[] = {0.4, 0.3, 0.2, 0.05, 0.05};
    proc x = proc_new("xtc", "probability=0.5; threshold=0.1", 5);
    size_t fired = 0;
    const size_t n = 4000;
    for (size_t k = 0; k < n; k++) {
        small_cands s;
        fill_probs(&s, p, 5);
        tg_step_info st = step_info(NULL, 0, 0, (int32_t)k);
        apply_ok(&x, &s.c, &st);
        int expect = tg_rng_uniform(42, 0, k, 0x787463u) < 0.5;
        cr_assert_eq(s.c.size == 3, expect, "step %zu", k);
        fired += expect;
    }
    proc_free(&x);
    /* binomial(4000, .5): sd 31.6; 5 sd */
    cr_assert(fired > n / 2 - 160 && fired < n / 2 + 160, "fired %zu of %zu", fired, n);
}

/* ---- mirostat_v2 ---- */

typedef struct {
    uint32_t magic, reserved;
    double mu;
} miro_snapshot; /* the layout documented in plugins/mirostat_v2/mirostat_v2.c */

static double miro_mu(proc *p)
{
    size_t len = 0;
    cr_assert_eq(p->vt->save(p->state, NULL, &len), TG_OK);
    cr_assert_eq(len, sizeof(miro_snapshot));
    miro_snapshot snap;
    cr_assert_eq(p->vt->save(p->state, &snap, &len), TG_OK);
    return snap.mu;
}

Test(processors, mirostat_v2_truncates_samples_and_learns)
{
    const double p[] = {0.4, 0.3, 0.2, 0.1};
    proc m = proc_new("mirostat_v2", "tau=1; eta=0.1", 4);
    cr_assert_float_eq(miro_mu(&m), 2.0, EPS); /* mu starts at 2 tau */
    /* mu = 2: keep p >= 2^-2 = .25, i.e. .4 and .3, renormalized 4/7 3/7 */
    small_cands s;
    fill_probs(&s, p, 4);
    tg_step_info st = step_info(NULL, 0, 0, 3);
    cr_assert_eq(m.vt->apply(m.state, &s.c, &st), TG_OK, "%s", tg_error_last());
    const int32_t want[] = {0, 1};
    assert_live(&s.c, want, 2);
    cr_assert_float_eq(prob_of(&s.c, 0), 4.0 / 7, EPS);
    cr_assert_float_eq(prob_of(&s.c, 1), 3.0 / 7, EPS);
    /* inverse CDF in candidate order with u = tg_rng_uniform(seed, seq, step, 0) */
    double u = tg_rng_uniform(42, 0, 3, 0);
    size_t expect_idx = u < s.c.probs[0] ? 0 : 1;
    cr_assert_eq(s.c.selected, (int32_t)expect_idx);
    int32_t tok = s.c.ids[s.c.selected];
    double q = tok == 0 ? 4.0 / 7 : 3.0 / 7;
    cr_assert_eq(m.vt->accept(m.state, tok, &st), TG_OK);
    const double mu1 = 2.0 - 0.1 * (-log2(q) - 1.0);
    cr_assert_float_eq(miro_mu(&m), mu1, EPS);

    /* clone copies mu; reset restores 2 tau; load restores a snapshot */
    proc c2 = {m.vt, NULL};
    cr_assert_eq(m.vt->clone(&c2.state, m.state), TG_OK);
    cr_assert_float_eq(miro_mu(&c2), mu1, EPS);
    miro_snapshot snap = {0x3276524du, 0, 7.5};
    cr_assert_eq(m.vt->load(m.state, &snap, sizeof snap), TG_OK);
    cr_assert_float_eq(miro_mu(&m), 7.5, EPS);
    cr_assert_float_eq(miro_mu(&c2), mu1, EPS); /* the clone is independent */
    m.vt->reset(m.state);
    cr_assert_float_eq(miro_mu(&m), 2.0, EPS);
    cr_assert_eq(m.vt->load(m.state, "junk", 4), TG_EFORMAT);
    proc_free(&c2);
    proc_free(&m);
}

Test(processors, mirostat_v2_keeps_at_least_the_top_token)
{
    const double p[] = {0.3, 0.4, 0.2, 0.1};
    proc m = proc_new("mirostat_v2", "tau=0", 4); /* mu = 0: every surprise is above it */
    small_cands s;
    fill_probs(&s, p, 4);
    tg_step_info st = step_info(NULL, 0, 0, 0);
    cr_assert_eq(m.vt->apply(m.state, &s.c, &st), TG_OK);
    const int32_t want[] = {1};
    assert_live(&s.c, want, 1);
    cr_assert_eq(s.c.selected, 0);
    cr_assert_float_eq(s.c.probs[0], 1.0, EPS);
    /* surprise 0, tau 0: mu unchanged */
    cr_assert_eq(m.vt->accept(m.state, 1, &st), TG_OK);
    cr_assert_float_eq(miro_mu(&m), 0.0, EPS);
    proc_free(&m);
}

/* ---- penalties ---- */

/* history: prompt [0 1], generated [1 4] */
static const int32_t hist[] = {0, 1, 1, 4};
static const float pen_logits[] = {2, -1, 0.5f, 3, -2};

static void pen_case(const char *module, const char *params, const float *want, int rev)
{
    small_cands s;
    fill_logits(&s, pen_logits, 5);
    if (rev)
        reverse(&s);
    tg_candidates_sort(&s.c, 2);
    tg_candidates_softmax(&s.c);
    tg_step_info st = step_info(hist, 4, 2, 2);
    run(module, params, &s.c, &st);
    cr_assert_eq(s.c.size, 5);
    for (int32_t id = 0; id < 5; id++)
        cr_assert_float_eq(logit_of(&s.c, id), want[id], EPS, "%s(%s): token %d: %g vs %g", module,
                           params, (int)id, logit_of(&s.c, id), want[id]);
    int changed = 0;
    for (int32_t id = 0; id < 5; id++)
        changed |= want[id] != pen_logits[id];
    if (changed)
        cr_assert_not(s.c.probs_valid, "%s: probs must be invalidated", module);
}

Test(processors, repetition_penalty_ctrl_semantics)
{
    /* distinct {0, 1, 4}: 2 -> 2/2, -1 -> -1*2, -2 -> -2*2 (once, though 1 occurs twice) */
    const float all[] = {1, -2, 0.5f, 3, -4};
    pen_case("repetition_penalty", "penalty=2; last_n=-1", all, 0);
    pen_case("repetition_penalty", "penalty=2; last_n=-1", all, 1);
    const float last2[] = {2, -2, 0.5f, 3, -4}; /* window [1 4] */
    pen_case("repetition_penalty", "penalty=2; last_n=2", last2, 0);
    const float gen[] = {2, -2, 0.5f, 3, -4}; /* generated only: [1 4] */
    pen_case("repetition_penalty", "penalty=2; include_prompt=false", gen, 0);
    pen_case("repetition_penalty", "penalty=2; last_n=0", pen_logits, 0);
    pen_case("repetition_penalty", "penalty=1", pen_logits, 0);
    const float inv[] = {4, -0.5f, 0.5f, 3, -1}; /* penalty < 1 encourages */
    pen_case("repetition_penalty", "penalty=0.5; last_n=-1", inv, 0);
}

Test(processors, frequency_penalty_openai_semantics)
{
    /* generated [1 4]: counts 1:1, 4:1; with the prompt: 0:1, 1:2, 4:1 */
    const float gen[] = {2, -1.5f, 0.5f, 3, -2.5f};
    pen_case("frequency_penalty", "penalty=0.5", gen, 0);
    pen_case("frequency_penalty", "penalty=0.5", gen, 1);
    const float all[] = {1.5f, -2, 0.5f, 3, -2.5f};
    pen_case("frequency_penalty", "penalty=0.5; include_prompt=true", all, 0);
    const float last3[] = {2, -2, 0.5f, 3, -2.5f}; /* window [1 1 4] */
    pen_case("frequency_penalty", "penalty=0.5; include_prompt=true; last_n=3", last3, 0);
    const float neg[] = {2, 0, 0.5f, 3, -1}; /* penalty -1 */
    pen_case("frequency_penalty", "penalty=-1", neg, 0);
    pen_case("frequency_penalty", "penalty=0", pen_logits, 0);
}

Test(processors, presence_penalty_openai_semantics)
{
    const float gen[] = {2, -1.5f, 0.5f, 3, -2.5f};
    pen_case("presence_penalty", "penalty=0.5", gen, 0);
    const float all[] = {1.5f, -1.5f, 0.5f, 3, -2.5f}; /* 1 occurs twice: still -0.5 once */
    pen_case("presence_penalty", "penalty=0.5; include_prompt=true", all, 1);
    const float last1[] = {2, -1, 0.5f, 3, -2.5f};
    pen_case("presence_penalty", "penalty=0.5; last_n=1", last1, 0);
}

Test(processors, penalties_leave_minus_infinity_alone)
{
    const float l[] = {-INFINITY, 1};
    const int32_t h[] = {0, 0};
    const char *mods[] = {"repetition_penalty", "frequency_penalty", "presence_penalty"};
    for (int m = 0; m < 3; m++) {
        small_cands s;
        fill_logits(&s, l, 2);
        tg_step_info st = step_info(h, 2, 0, 2);
        run(mods[m], m == 0 ? "penalty=2" : "penalty=1", &s.c, &st);
        cr_assert(isinf(s.logits[0]) && s.logits[0] < 0, "%s", mods[m]);
        cr_assert_eq(tg_candidates_softmax(&s.c), TG_OK);
        cr_assert_float_eq(prob_of(&s.c, 1), 1.0, EPS);
    }
}

/* ---- dry ---- */

static void dry_case(const char *params, const int32_t *h, size_t n, const float *want_delta,
                     size_t n_vocab, const tg_proc_context *ctx)
{
    small_cands s;
    float zero[64] = {0};
    fill_logits(&s, zero, n_vocab);
    tg_step_info st = step_info(h, n, 0, (int32_t)n);
    tg_proc_context c0 = context((int32_t)n_vocab);
    proc p = proc_new_ctx("dry", params, ctx ? ctx : &c0);
    apply_ok(&p, &s.c, &st);
    proc_free(&p);
    for (int32_t id = 0; id < (int32_t)n_vocab; id++)
        cr_assert_float_eq(logit_of(&s.c, id), -want_delta[id], 1e-5, "dry(%s) token %d: %g",
                           params, (int)id, logit_of(&s.c, id));
}

Test(processors, dry_hand_computed)
{
    float d[10] = {0};
    /* 1 2 3 4 1 2 3: the suffix "1 2 3" occurred before, followed by 4: L = 3 -> 0.8 * 1.75 */
    const int32_t h1[] = {1, 2, 3, 4, 1, 2, 3};
    d[4] = 0.8f * 1.75f;
    dry_case("multiplier=0.8; base=1.75; allowed_length=2", h1, 7, d, 10, NULL);

    /* 7 8 9 1 7 8 9 2 7 8 9: "7 8 9" was followed by 1 and by 2: both get L = 3 */
    const int32_t h2[] = {7, 8, 9, 1, 7, 8, 9, 2, 7, 8, 9};
    memset(d, 0, sizeof d);
    d[1] = d[2] = 0.8f * 1.75f;
    dry_case("multiplier=0.8", h2, 11, d, 10, NULL);

    /* 1 2 3 4 5 6 1 2 3 4: L = 4 -> 0.8 * 1.75^2 on 5 */
    const int32_t h3[] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4};
    memset(d, 0, sizeof d);
    d[5] = 0.8f * 1.75f * 1.75f;
    dry_case("multiplier=0.8", h3, 10, d, 10, NULL);
    /* a 5-token window "6 1 2 3 4" has no repeat */
    memset(d, 0, sizeof d);
    dry_case("multiplier=0.8; last_n=5", h3, 10, d, 10, NULL);
    dry_case("multiplier=0", h3, 10, d, 10, NULL);

    /* 1 2 9 1 2: L = 2 = allowed_length -> base^0; allowed_length 3: nothing */
    const int32_t h4[] = {1, 2, 9, 1, 2};
    memset(d, 0, sizeof d);
    d[9] = 0.8f;
    dry_case("multiplier=0.8", h4, 5, d, 10, NULL);
    memset(d, 0, sizeof d);
    dry_case("multiplier=0.8; allowed_length=3", h4, 5, d, 10, NULL);
    /* multiplier 2, base 3, allowed 1: on h3, L=4 -> 2 * 3^3 = 54 */
    memset(d, 0, sizeof d);
    d[5] = 54;
    dry_case("multiplier=2; base=3; allowed_length=1", h3, 10, d, 10, NULL);
}

/* Naive O(N^2) reference of the DRY penalty without breakers. */
static void dry_naive(const int32_t *w, size_t N, size_t allowed, double mult, double base,
                      double *delta, size_t n_vocab)
{
    for (size_t t = 0; t < n_vocab; t++)
        delta[t] = 0;
    if (N <= allowed)
        return;
    size_t best[64] = {0};
    for (size_t i = 0; i + 1 < N; i++) {
        size_t L = 0;
        while (L <= i && w[i - L] == w[N - 1 - L])
            L++;
        if (L >= allowed && L > best[w[i + 1]])
            best[w[i + 1]] = L;
    }
    for (size_t t = 0; t < n_vocab; t++)
        if (best[t])
            delta[t] = mult * pow(base, (double)best[t] - (double)allowed);
}

Test(processors, dry_matches_a_naive_reference_on_random_histories)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int trial = 0; trial < 300; trial++) {
        int32_t h[200];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = 1 + (size_t)(x % 200);
        size_t alphabet = 2 + (size_t)((x >> 20) % 4); /* small: many repeats */
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            h[i] = (int32_t)(x % alphabet);
        }
        size_t allowed = 1 + (size_t)((x >> 33) % 3);
        double ref[8];
        dry_naive(h, n, allowed, 0.5, 1.1, ref, 8); /* base 1.1: finite even for L ~ 200 */
        float want[8];
        for (int t = 0; t < 8; t++)
            want[t] = (float)ref[t];
        char params[128];
        snprintf(params, sizeof params, "multiplier=0.5; base=1.1; allowed_length=%zu", allowed);
        small_cands s;
        float zero[8] = {0};
        fill_logits(&s, zero, 8);
        tg_step_info st = step_info(h, n, 0, (int32_t)n);
        run("dry", params, &s.c, &st);
        for (int32_t t = 0; t < 8; t++)
            cr_assert_float_eq(-logit_of(&s.c, t), want[t], 1e-4 * (1 + want[t]),
                               "trial %d (n %zu, allowed %zu) token %d: %g vs %g", trial, n,
                               allowed, (int)t, -logit_of(&s.c, t), want[t]);
    }
}

static tg_tokenizer *gpt2(void)
{
    char *dir = tu_data_path("tokenizer/gpt2");
    tg_tokenizer *tok = NULL;
    cr_assert_eq(tg_tokenizer_load(&tok, dir, NULL), TG_OK, "%s", tg_error_last());
    g_free(dir);
    return tok;
}

static int32_t one_token(const tg_tokenizer *tok, const char *text)
{
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(tg_tokenizer_encode(&ids, &n, tok, text, TG_NUL_TERMINATED, 0), TG_OK);
    cr_assert_eq(n, 1, "'%s' is %zu tokens", text, n);
    int32_t id = ids[0];
    tg_free(ids);
    return id;
}

Test(processors, dry_sequence_breakers_from_the_tokenizer)
{
    tg_tokenizer *tok = gpt2();
    const int32_t n_vocab = tg_tokenizer_n_vocab(tok);
    const int32_t a = one_token(tok, " apple"), b = one_token(tok, " banana"),
                  c = one_token(tok, " cherry"), y = one_token(tok, " yellow"),
                  nl = one_token(tok, "\n"), colon = one_token(tok, ":");
    /* a NL b c y a NL b c: without breakers the suffix "a NL b c" repeats (L = 4) before y;
     * with NL a breaker no repeat may run across it: L is capped to 2 ("b c") */
    const int32_t h[] = {a, nl, b, c, y, a, nl, b, c};
    tg_candidates cand = {0};
    cand.struct_size = sizeof cand;
    cand.n_vocab = n_vocab;
    cand.ids = malloc((size_t)n_vocab * sizeof *cand.ids);
    cand.logits = malloc((size_t)n_vocab * sizeof *cand.logits);
    cand.probs = malloc((size_t)n_vocab * sizeof *cand.probs);
    cand.capacity = (size_t)n_vocab;
    tg_step_info st = step_info(h, 9, 0, 9);
    const float expect_plain = 0.8f * 1.75f * 1.75f, expect_broken = 0.8f;
    for (int with_tok = 0; with_tok < 2; with_tok++) {
        for (int32_t i = 0; i < n_vocab; i++) {
            cand.ids[i] = i;
            cand.logits[i] = 0;
        }
        cand.size = (size_t)n_vocab;
        cand.sorted = 0;
        cand.probs_valid = 0;
        tg_proc_context ctx = context(n_vocab);
        ctx.tokenizer = with_tok ? tok : NULL;
        proc p = proc_new_ctx("dry", NULL, &ctx); /* default breakers: \n : " * */
        apply_ok(&p, &cand, &st);
        proc_free(&p);
        cr_assert_float_eq(-cand.logits[y], with_tok ? expect_broken : expect_plain, 1e-5,
                           "with tokenizer %d: %g", with_tok, -cand.logits[y]);
        for (int32_t i = 0; i < n_vocab; i++)
            if (i != y)
                cr_assert_float_eq(cand.logits[i], 0, 0, "token %d", (int)i);
    }
    /* a single-token breaker is never penalized: "x : x" then "x" -> ':' would repeat */
    const int32_t h2[] = {a, b, colon, y, a, b};
    st = step_info(h2, 6, 0, 6);
    for (int with_tok = 0; with_tok < 2; with_tok++) {
        for (int32_t i = 0; i < n_vocab; i++) {
            cand.ids[i] = i;
            cand.logits[i] = 0;
        }
        cand.size = (size_t)n_vocab;
        cand.sorted = 0;
        cand.probs_valid = 0;
        tg_proc_context ctx = context(n_vocab);
        ctx.tokenizer = with_tok ? tok : NULL;
        proc p = proc_new_ctx("dry", NULL, &ctx);
        apply_ok(&p, &cand, &st);
        proc_free(&p);
        cr_assert_float_eq(-cand.logits[colon], with_tok ? 0 : 0.8f, 1e-6, "with tokenizer %d",
                           with_tok);
    }
    free(cand.ids);
    free(cand.logits);
    free(cand.probs);
    tg_tokenizer_free(tok);
}

Test(processors, dry_breaker_syntax)
{
    tg_proc_context ctx = context(10);
    proc p;
    cr_assert_eq(proc_try(&p, "dry", "breakers=a|b\\|c|\\x41\\n\\t\\r\\\\\\\"", &ctx), TG_OK, "%s",
                 tg_error_last());
    proc_free(&p);
    cr_assert_eq(proc_try(&p, "dry", "breakers=\\q", &ctx), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "\\q"), "%s", tg_error_last());
    cr_assert_eq(proc_try(&p, "dry", "breakers=abc\\", &ctx), TG_EINVAL);
    cr_assert_eq(proc_try(&p, "dry", "breakers=\\xZZ", &ctx), TG_EINVAL);
}

/* ---- no_repeat_ngram ---- */

static void nrn_case(const char *params, const int32_t *h, size_t n, const int32_t *banned,
                     size_t n_banned)
{
    small_cands s;
    const float l[] = {1, 2, 3, 4, 5, 6};
    fill_logits(&s, l, 6);
    reverse(&s);
    tg_step_info st = step_info(h, n, 1, (int32_t)n - 1);
    run("no_repeat_ngram", params, &s.c, &st);
    cr_assert_eq(s.c.size, 6);
    for (int32_t id = 0; id < 6; id++) {
        int is_banned = 0;
        for (size_t k = 0; k < n_banned; k++)
            is_banned |= banned[k] == id;
        float v = logit_of(&s.c, id);
        if (is_banned)
            cr_assert(isinf(v) && v < 0, "no_repeat_ngram(%s): %d should be banned", params, id);
        else
            cr_assert_float_eq(v, l[id], 0, "no_repeat_ngram(%s): %d", params, id);
    }
}

Test(processors, no_repeat_ngram_hf_semantics)
{
    const int32_t h1[] = {1, 2, 3, 1}; /* bigrams 12 23 31; last token 1 -> 2 is banned */
    const int32_t b1[] = {2};
    nrn_case("n=2", h1, 4, b1, 1);
    const int32_t h2[] = {1, 2, 3, 1, 2}; /* trigram 1 2 3 exists; suffix 1 2 -> ban 3 */
    const int32_t b2[] = {3};
    nrn_case("n=3", h2, 5, b2, 1);
    const int32_t h3[] = {1, 2, 1, 4, 1}; /* bigrams after 1: 2 and 4 */
    const int32_t b3[] = {2, 4};
    nrn_case("n=2", h3, 5, b3, 2);
    const int32_t b4[] = {1, 2, 4}; /* n = 1: every token of the history */
    nrn_case("n=1", h3, 5, b4, 3);
    nrn_case("n=6", h3, 5, NULL, 0); /* no 6-gram yet */
    nrn_case("n=4", h2, 5, NULL, 0); /* suffix 3 1 2 never seen before */
}

/* ---- logit_bias ---- */

Test(processors, logit_bias_adds_and_bans)
{
    const float l[] = {0, 1, 2, 3, 4};
    small_cands s;
    fill_logits(&s, l, 5);
    reverse(&s);
    run("logit_bias", "bias=1:2.5, 3:-inf 0:-1 0:-2", &s.c, NULL); /* repeated id: last wins */
    cr_assert_float_eq(logit_of(&s.c, 0), -2, EPS);
    cr_assert_float_eq(logit_of(&s.c, 1), 3.5, EPS);
    cr_assert_float_eq(logit_of(&s.c, 2), 2, EPS);
    cr_assert(isinf(logit_of(&s.c, 3)) && logit_of(&s.c, 3) < 0);
    cr_assert_float_eq(logit_of(&s.c, 4), 4, EPS);
    cr_assert_eq(tg_candidates_softmax(&s.c), TG_OK);
    cr_assert_float_eq(prob_of(&s.c, 3), 0, 0);
}

Test(processors, logit_bias_refuses_bad_entries)
{
    tg_proc_context ctx = context(5);
    proc p;
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=1:2 9:1.5", &ctx), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "9"), "message names the id: %s", tg_error_last());
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=-1:2", &ctx), TG_ERANGE);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=1:+inf", &ctx), TG_ERANGE);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=1:nan", &ctx), TG_ERANGE);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=one:2", &ctx), TG_EINVAL);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=1:", &ctx), TG_EINVAL);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=1:2x", &ctx), TG_EINVAL);
    cr_assert_eq(proc_try(&p, "logit_bias", "bias=", &ctx), TG_OK); /* nothing to add */
    proc_free(&p);
}

/* ---- bad_words ---- */

Test(processors, bad_words_hf_semantics)
{
    const float l[] = {0, 1, 2, 3, 4};
    const struct {
        int32_t h[3];
        size_t n;
        int32_t banned[3];
        size_t nb;
    } cases[] = {
        {{4, 1}, 2, {3, 2, 0}, 3}, /* "3" always; "1 2": ends with 1; "4 1 0": ends with 4 1 */
        {{1, 4}, 2, {3}, 1},
        {{0}, 0, {3}, 1}, /* empty history: only single-token sequences */
    };
    for (size_t k = 0; k < 3; k++) {
        small_cands s;
        fill_logits(&s, l, 5);
        tg_step_info st = step_info(cases[k].h, cases[k].n, 0, 0);
        run("bad_words", "ids=3 / 1 2 / 4 1 0", &s.c, &st);
        cr_assert_eq(s.c.size, 5);
        for (int32_t id = 0; id < 5; id++) {
            int banned = 0;
            for (size_t j = 0; j < cases[k].nb; j++)
                banned |= cases[k].banned[j] == id;
            float v = logit_of(&s.c, id);
            cr_assert(banned ? (isinf(v) && v < 0) : v == l[id], "case %zu token %d: %g", k,
                      (int)id, v);
        }
    }
    tg_proc_context ctx = context(5);
    proc p;
    cr_assert_eq(proc_try(&p, "bad_words", "ids=1 2 / 7", &ctx), TG_ERANGE);
    cr_assert(strstr(tg_error_last(), "7"), "%s", tg_error_last());
}

/* ---- min_new_tokens ---- */

Test(processors, min_new_tokens_masks_eos)
{
    const int32_t eos[] = {4, 2};
    tg_proc_context ctx = {sizeof ctx, 5, eos, 2, NULL, NULL};
    proc p = proc_new_ctx("min_new_tokens", "n=2", &ctx);
    const float l[] = {0, 1, 2, 3, 4};
    for (int32_t step = 0; step < 4; step++) {
        small_cands s;
        fill_logits(&s, l, 5);
        tg_step_info st = step_info(NULL, 0, 0, step);
        apply_ok(&p, &s.c, &st);
        int masked = step < 2;
        cr_assert_eq(isinf(logit_of(&s.c, 4)) != 0, masked, "step %d", step);
        cr_assert_eq(isinf(logit_of(&s.c, 2)) != 0, masked, "step %d", step);
        cr_assert_float_eq(logit_of(&s.c, 3), 3, 0);
        cr_assert_eq(tg_candidates_softmax(&s.c), TG_OK);
        if (masked) {
            double z = 1 + exp(1.0) + exp(3.0);
            cr_assert_float_eq(prob_of(&s.c, 3), exp(3.0) / z, EPS);
        }
    }
    proc_free(&p);
    /* no eos ids: nothing to do; an eos id outside the vocabulary is refused */
    small_cands s;
    fill_logits(&s, l, 5);
    tg_step_info st = step_info(NULL, 0, 0, 0);
    run("min_new_tokens", "n=5", &s.c, &st);
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(s.logits[i], l[i], 0);
    const int32_t bad[] = {9};
    tg_proc_context ctx2 = {sizeof ctx2, 5, bad, 1, NULL, NULL};
    cr_assert_eq(proc_try(&p, "min_new_tokens", NULL, &ctx2), TG_ERANGE);
}

/* ---- greedy ---- */

Test(processors, greedy_argmax_lowest_id_on_ties)
{
    const float l[] = {1, 5, 5, -INFINITY, 2};
    small_cands s;
    fill_logits(&s, l, 5);
    reverse(&s); /* id 2 now comes before id 1 */
    run("greedy", NULL, &s.c, NULL);
    cr_assert_eq(s.c.ids[s.c.selected], 1);

    const float none[] = {-INFINITY, -INFINITY};
    fill_logits(&s, none, 2);
    proc g = proc_new("greedy", NULL, 2);
    cr_assert_eq(g.vt->apply(g.state, &s.c, NULL), TG_ESTATE);
    proc_free(&g);
}

/* The vectorised scan: ties spread over lanes, blocks and the scalar tail, ids out of order,
 * NaN entries (which never win), and a maximum that lives only in the tail. */
Test(processors, greedy_vector_scan_ties_and_tail)
{
    enum { N = 61 }; /* 7 blocks of 8 and a tail of 5 */
    small_cands s;
    float l[N];
    for (int i = 0; i < N; i++)
        l[i] = (float)(i % 7) - 3.0f;
    fill_logits(&s, l, N);
    for (int i = 0; i < N; i++)
        s.ids[i] = (int32_t)((i * 37 + 11) % N); /* a permutation of 0..60 */
    s.logits[3] = NAN;
    s.logits[58] = NAN;
    s.logits[9] = 7.5f;  /* id (9 * 37 + 11) % 61 = 39 */
    s.logits[20] = 7.5f; /* id 19 */
    s.logits[44] = 7.5f; /* id 53 */
    s.logits[57] = 7.5f; /* in the tail: id 46 */
    run("greedy", NULL, &s.c, NULL);
    cr_assert_eq(s.c.ids[s.c.selected], 19);
    s.logits[20] = 0;
    run("greedy", NULL, &s.c, NULL);
    cr_assert_eq(s.c.ids[s.c.selected], 39);
    s.logits[9] = 0;
    run("greedy", NULL, &s.c, NULL);
    cr_assert_eq(s.c.ids[s.c.selected], 46, "a tie in the tail with a lower id wins: got %d",
                 s.c.ids[s.c.selected]);
    s.logits[59] = 8.0f; /* only in the tail */
    run("greedy", NULL, &s.c, NULL);
    cr_assert_eq(s.c.selected, 59);
    /* NaN and -inf only: nothing to select */
    for (int i = 0; i < N; i++)
        s.logits[i] = i % 2 ? NAN : -INFINITY;
    proc g = proc_new("greedy", NULL, N);
    cr_assert_eq(g.vt->apply(g.state, &s.c, NULL), TG_ESTATE);
    proc_free(&g);
}

/* ---- dist ---- */

Test(processors, dist_inverse_cdf_with_the_documented_key)
{
    const double p[] = {0.5, 0.0, 0.3, 0.2};
    proc d = proc_new("dist_selector", NULL, 4);
    for (int32_t step = 0; step < 200; step++) {
        small_cands s;
        fill_probs(&s, p, 4);
        tg_step_info st = step_info(NULL, 0, 0, step);
        st.seed = 1234;
        st.sequence = 3;
        apply_ok(&d, &s.c, &st);
        double u = tg_rng_uniform(1234, 3, (uint64_t)step, 0);
        int32_t want = u < 0.5 ? 0 : u < 0.8 ? 2 : 3;
        cr_assert_eq(s.c.ids[s.c.selected], want, "step %d u %g", step, u);
    }
    proc_free(&d);
    /* a fixed seed ignores the chain's */
    proc f = proc_new("dist_selector", "seed=7", 4);
    for (int32_t step = 0; step < 50; step++) {
        small_cands s1, s2;
        fill_probs(&s1, p, 4);
        fill_probs(&s2, p, 4);
        tg_step_info a = step_info(NULL, 0, 0, step), b = a;
        b.seed = 999;
        apply_ok(&f, &s1.c, &a);
        apply_ok(&f, &s2.c, &b);
        cr_assert_eq(s1.c.selected, s2.c.selected);
        double u = tg_rng_uniform(7, 0, (uint64_t)step, 0);
        cr_assert_eq(s1.c.ids[s1.c.selected], u < 0.5 ? 0 : u < 0.8 ? 2 : 3);
    }
    proc_free(&f);
}

/* Chi-square goodness of fit of dist after top_p.
 *
 * Distribution (8 tokens): .30 .25 .15 .10 .08 .06 .04 .02. top_p(p=0.85) keeps the 5 most
 * likely (cumulative .30 .55 .70 .80 .88): renormalized q = (.30 .25 .15 .10 .08) / .88.
 * 20,000 draws, each keyed by a different step (so each uses an independent uniform).
 * Statistic X^2 = sum_k (O_k - E_k)^2 / E_k over the k = 5 kept tokens, E_k = 20000 q_k; the
 * removed tokens must have O = 0 (checked separately). With all probabilities given (none
 * estimated from the data) X^2 follows a chi-square law with k - 1 = 4 degrees of freedom; the
 * test fails when X^2 > 18.467, the 0.999 quantile (p-value < 0.001). The draws are
 * deterministic, so this is not flaky; and the threshold has power: sampling from the
 * un-renormalized distribution gives X^2 in the thousands, and one shifted by two percentage
 * points between two tokens gives about 50 (both checked below). */
#define CHI2_DF4_999 18.467

static double chi_square(const size_t *obs, const double *q, size_t k, size_t n)
{
    double x2 = 0;
    for (size_t i = 0; i < k; i++) {
        double e = (double)n * q[i];
        x2 += ((double)obs[i] - e) * ((double)obs[i] - e) / e;
    }
    return x2;
}

static const double chi_p[] = {0.30, 0.25, 0.15, 0.10, 0.08, 0.06, 0.04, 0.02};

static void chi_check(const size_t *counts, size_t n_draws)
{
    for (size_t i = 5; i < 8; i++)
        cr_assert_eq(counts[i], 0, "token %zu was removed by top_p but drawn", i);
    double q[5];
    for (size_t i = 0; i < 5; i++)
        q[i] = chi_p[i] / 0.88;
    double x2 = chi_square(counts, q, 5, n_draws);
    cr_log_info("chi-square: X^2 = %.3f (4 df, reject above %.3f); counts %zu %zu %zu %zu %zu", x2,
                CHI2_DF4_999, counts[0], counts[1], counts[2], counts[3], counts[4]);
    cr_assert_lt(x2, CHI2_DF4_999, "X^2 = %g with 4 df: dist is biased", x2);
    /* power: a distribution off by two percentage points between two tokens is rejected
     * (non-centrality 20000 * 0.02^2 * (1/q0 + 1/q1) = 52) */
    double qb[5];
    memcpy(qb, q, sizeof q);
    qb[0] += 0.02;
    qb[1] -= 0.02;
    cr_assert_gt(chi_square(counts, qb, 5, n_draws), CHI2_DF4_999);
    /* and so is sampling without top_p's renormalization (the original probs of the kept 5) */
    size_t all[5];
    memcpy(all, counts, sizeof all);
    cr_assert_gt(chi_square(all, chi_p, 5, n_draws), CHI2_DF4_999);
}

Test(processors, dist_after_top_p_passes_chi_square)
{
    const size_t n_draws = 20000;
    size_t counts[8] = {0};
    proc tp = proc_new("top_p", "p=0.85", 8);
    proc d = proc_new("dist_selector", NULL, 8);
    for (size_t k = 0; k < n_draws; k++) {
        small_cands s;
        fill_probs(&s, chi_p, 8);
        tg_step_info st = step_info(NULL, 0, 0, (int32_t)k);
        st.seed = 20240601;
        apply_ok(&tp, &s.c, &st);
        cr_assert_eq(s.c.size, 5);
        apply_ok(&d, &s.c, &st);
        counts[s.c.ids[s.c.selected]]++;
    }
    proc_free(&tp);
    proc_free(&d);
    chi_check(counts, n_draws);
}

/* ---- order matters ---- */

Test(processors, order_top_k_then_top_p_differs_from_top_p_then_top_k)
{
    /* .4 .3 .2 .1: top_k(3) renormalizes to 4/9 3/9 2/9, so top_p(.75) then stops at 7/9 (2
     * tokens); top_p(.75) first keeps 3 (.4 .7 .9) and top_k(3) keeps those. */
    const double p[] = {0.4, 0.3, 0.2, 0.1};
    small_cands s;
    fill_probs(&s, p, 4);
    run("top_k", "k=3", &s.c, NULL);
    run("top_p", "p=0.75", &s.c, NULL);
    const int32_t kp[] = {0, 1};
    assert_live(&s.c, kp, 2);
    cr_assert_float_eq(prob_of(&s.c, 0), 4.0 / 7, EPS);

    fill_probs(&s, p, 4);
    run("top_p", "p=0.75", &s.c, NULL);
    run("top_k", "k=3", &s.c, NULL);
    const int32_t pk[] = {0, 1, 2};
    assert_live(&s.c, pk, 3);
    cr_assert_float_eq(prob_of(&s.c, 2), 2.0 / 9, EPS);
}

Test(processors, order_temperature_then_min_p_differs_from_min_p_then_temperature)
{
    /* logits 0 -2 -3; min_p(0.1) keeps logit >= max + ln 0.1 = -2.303: {0, 1}.
     * temperature(2) first: 0 -1 -1.5, all above -2.303: {0, 1, 2}. */
    const float l[] = {0, -2, -3};
    small_cands s;
    fill_logits(&s, l, 3);
    run("min_p", "p=0.1", &s.c, NULL);
    run("temperature", "t=2", &s.c, NULL);
    const int32_t mt[] = {0, 1};
    assert_live(&s.c, mt, 2);
    cr_assert_float_eq(logit_of(&s.c, 1), -1, EPS);

    fill_logits(&s, l, 3);
    run("temperature", "t=2", &s.c, NULL);
    run("min_p", "p=0.1", &s.c, NULL);
    cr_assert_eq(s.c.size, 3);
    cr_assert_float_eq(logit_of(&s.c, 2), -1.5, EPS);
}

/* ---- clone gives an equivalent, independent state ---- */

Test(processors, clones_behave_like_their_originals)
{
    const struct {
        const char *module, *params;
    } cases[] = {
        {"temperature", "t=0.7"},
        {"top_k", "k=3"},
        {"top_p", "p=0.8"},
        {"min_p", "p=0.2"},
        {"typical", "p=0.5"},
        {"top_n_sigma", "n=1"},
        {"xtc", "probability=1; threshold=0.1"},
        {"repetition_penalty", "penalty=1.5"},
        {"frequency_penalty", "penalty=0.3; include_prompt=true"},
        {"presence_penalty", "penalty=0.3; include_prompt=true"},
        {"dry", "multiplier=1"},
        {"no_repeat_ngram", "n=2"},
        {"logit_bias", "bias=1:3 2:-inf"},
        {"bad_words", "ids=3 / 1 4"},
        {"dist_selector", "seed=5"},
    };
    const double p[] = {0.35, 0.25, 0.2, 0.12, 0.08};
    const int32_t h[] = {1, 4, 1, 4, 1};
    tg_step_info st = step_info(h, 5, 2, 3);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        proc a = proc_new(cases[k].module, cases[k].params, 5);
        proc b = {a.vt, NULL};
        cr_assert_not_null(a.vt->clone, "%s has no clone", cases[k].module);
        cr_assert_eq(a.vt->clone(&b.state, a.state), TG_OK, "%s", cases[k].module);
        small_cands s1, s2;
        fill_probs(&s1, p, 5);
        fill_probs(&s2, p, 5);
        apply_ok(&a, &s1.c, &st);
        proc_free(&a); /* the clone must not depend on the original */
        apply_ok(&b, &s2.c, &st);
        proc_free(&b);
        cr_assert_eq(s1.c.size, s2.c.size, "%s", cases[k].module);
        cr_assert_eq(s1.c.selected, s2.c.selected, "%s", cases[k].module);
        for (size_t i = 0; i < s1.c.size; i++) {
            cr_assert_eq(s1.ids[i], s2.ids[i], "%s", cases[k].module);
            cr_assert(s1.logits[i] == s2.logits[i], "%s: %g vs %g", cases[k].module, s1.logits[i],
                      s2.logits[i]);
        }
    }
}

/* ====================================================================================== */
/* Through the chain API: the spec parser, the registry (GModule) and tg_chain_sample.      */

static tg_chain *chain(const char *spec, int32_t n_vocab, uint64_t seed)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = n_vocab;
    o.seed = seed;
    tg_chain *c = NULL;
    cr_assert_eq(tg_chain_parse(&c, spec, &o), TG_OK, "%s: %s", spec, tg_error_last());
    return c;
}

static void logits_of(float *out, const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] > 0 ? (float)log(p[i]) : -INFINITY;
}

Test(processors_chain, textbook_top_p_then_greedy)
{
    tg_chain *c = chain("top_p(p=0.9) greedy", 6, 0);
    float l[6];
    logits_of(l, textbook, 6);
    int32_t tok = -1;
    float lp = 0;
    cr_assert_eq(tg_chain_sample(&tok, &lp, c, l), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tok, THE);
    cr_assert_float_eq(lp, log(4.0 / 9), 1e-5); /* the log-prob under the renormalized set */
    const tg_candidates *cand = tg_chain_candidates(c);
    const int32_t want[] = {THE, A, THIS};
    assert_live(cand, want, 3);
    cr_assert_float_eq(prob_of(cand, THE), 4.0 / 9, EPS);
    cr_assert_float_eq(prob_of(cand, A), 3.0 / 9, EPS);
    cr_assert_float_eq(prob_of(cand, THIS), 2.0 / 9, EPS);
    tg_chain_free(c);
}

static size_t chain_live(const char *spec, const float *l, int32_t n_vocab)
{
    tg_chain *c = chain(spec, n_vocab, 0);
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK, "%s: %s", spec, tg_error_last());
    size_t n = tg_chain_candidates(c)->size;
    tg_chain_free(c);
    return n;
}

Test(processors_chain, order_of_stages_changes_the_candidate_set)
{
    const double p[] = {0.4, 0.3, 0.2, 0.1};
    float l[4];
    logits_of(l, p, 4);
    cr_assert_eq(chain_live("top_k(k=3) top_p(p=0.75) greedy", l, 4), 2);
    cr_assert_eq(chain_live("top_p(p=0.75) top_k(k=3) greedy", l, 4), 3);

    const float l2[] = {0, -2, -3};
    cr_assert_eq(chain_live("min_p(p=0.1) temperature(t=2) greedy", l2, 3), 2);
    cr_assert_eq(chain_live("temperature(t=2) min_p(p=0.1) greedy", l2, 3), 3);
}

Test(processors_chain, every_builtin_is_registered_with_its_schema)
{
    for (size_t b = 0; b < sizeof builtins / sizeof builtins[0]; b++) {
        tg_processor_info info = TG_PROCESSOR_INFO_INIT;
        cr_assert_eq(tg_processor_find(&info, builtins[b].name), TG_OK, "%s: %s", builtins[b].name,
                     tg_error_last());
        cr_assert_eq(info.vtable->kind, builtins[b].kind);
    }
}

Test(processors_chain, spec_values_reach_the_processors)
{
    /* parameters of every type through the spec parser: FLOAT, INT, BOOL, STRING, IDS */
    const float l[] = {0, 1, 2, 3, 4};
    tg_chain *c = chain("logit_bias(bias=\"4:-inf 0:10\") bad_words(ids=\"3; 1 2\") "
                        "repetition_penalty(penalty=2, last_n=-1, include_prompt=false) "
                        "top_k(k=2) greedy",
                        5, 0);
    const int32_t prompt[] = {0};
    cr_assert_eq(tg_chain_set_prompt(c, prompt, 1), TG_OK);
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tok, 0); /* 0 + 10; the prompt does not count for the penalty */
    cr_assert_eq(tg_chain_accept(c, 1), TG_OK);
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK, "%s", tg_error_last());
    const tg_candidates *cand = tg_chain_candidates(c);
    /* now 2 is banned (after 1), 3 banned, 4 banned, 1 penalized 1 -> 0.5: top 2 = {0, 1} */
    const int32_t want[] = {0, 1};
    assert_live(cand, want, 2);
    cr_assert_float_eq(logit_of(cand, 1), 0.5, EPS);
    tg_chain_free(c);
    /* an out-of-vocabulary logit_bias id fails at parse time, naming the id */
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 5;
    tg_chain *bad = NULL;
    cr_assert_neq(tg_chain_parse(&bad, "logit_bias(bias=\"77:1\") greedy", &o), TG_OK);
    cr_assert(strstr(tg_error_last(), "77"), "%s", tg_error_last());
    cr_assert_null(bad);
}

Test(processors_chain, dist_after_top_p_passes_chi_square_over_seeds)
{
    /* The same statistic as processors/dist_after_top_p_passes_chi_square, with 20,000
     * different chain seeds at step 0 instead of 20,000 steps. */
    const size_t n_draws = 20000;
    size_t counts[8] = {0};
    float l[8];
    logits_of(l, chi_p, 8);
    tg_chain *c = chain("top_p(p=0.85) dist", 8, 0);
    for (size_t k = 0; k < n_draws; k++) {
        cr_assert_eq(tg_chain_set_seed(c, 1000003u * k + 17, 0), TG_OK);
        int32_t tok;
        cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK, "%s", tg_error_last());
        counts[tok]++;
    }
    tg_chain_free(c);
    chi_check(counts, n_draws);
}

Test(processors_chain, mirostat_and_penalties_keep_state_through_the_chain)
{
    const double p[] = {0.4, 0.3, 0.2, 0.1};
    float l[4];
    logits_of(l, p, 4);
    tg_chain *c = chain("frequency_penalty(penalty=0.1) mirostat_v2(tau=1, eta=0.1)", 4, 9);
    for (int i = 0; i < 20; i++) {
        int32_t tok;
        cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK, "%s", tg_error_last());
        cr_assert(tok >= 0 && tok < 4);
        cr_assert_eq(tg_chain_accept(c, tok), TG_OK, "%s", tg_error_last());
    }
    /* a snapshot restores mu: the restored chain draws what the original draws */
    void *buf = NULL;
    size_t len = 0;
    cr_assert_eq(tg_chain_save(&buf, &len, c), TG_OK, "%s", tg_error_last());
    tg_chain *d = chain("frequency_penalty(penalty=0.1) mirostat_v2(tau=1, eta=0.1)", 4, 9);
    cr_assert_eq(tg_chain_restore(d, buf, len), TG_OK, "%s", tg_error_last());
    tg_free(buf);
    for (int i = 0; i < 20; i++) {
        int32_t t1, t2;
        cr_assert_eq(tg_chain_sample(&t1, NULL, c, l), TG_OK);
        cr_assert_eq(tg_chain_sample(&t2, NULL, d, l), TG_OK);
        cr_assert_eq(t1, t2, "draw %d", i);
        cr_assert_eq(tg_chain_candidates(c)->size, tg_chain_candidates(d)->size);
        tg_chain_accept(c, t1);
        tg_chain_accept(d, t2);
    }
    tg_chain_free(c);
    tg_chain_free(d);
}

Test(processors_chain, every_builtin_prints_and_parses_back)
{
    const char *specs[] = {
        "temperature greedy",
        "top_k greedy",
        "top_p greedy",
        "min_p greedy",
        "typical greedy",
        "top_n_sigma greedy",
        "xtc greedy",
        "mirostat_v2",
        "repetition_penalty greedy",
        "frequency_penalty greedy",
        "presence_penalty greedy",
        "dry greedy",
        "dry(breakers=\\n|a\\|b|\\x22) greedy",
        "no_repeat_ngram greedy",
        "logit_bias(bias=\"1:-inf 2:0.5\") greedy",
        "bad_words(ids=\"1; 2 3\") greedy",
        "min_new_tokens greedy",
        "dist",
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        tg_chain *c = chain(specs[k], 8, 0);
        char *p1 = NULL, *p2 = NULL;
        cr_assert_eq(tg_chain_print(&p1, c), TG_OK);
        tg_chain *d = chain(p1, 8, 0);
        cr_assert_eq(tg_chain_print(&p2, d), TG_OK);
        cr_assert_str_eq(p1, p2, "%s", specs[k]);
        tg_free(p1);
        tg_free(p2);
        tg_chain_free(c);
        tg_chain_free(d);
    }
}

/* FNV-1a 64, as the chain snapshot's trailer (lib/sampling/chain.c): lets a test forge a
 * snapshot whose checksum is right but whose content is not. */
static uint64_t snap_fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void snap_reseal(unsigned char *buf, size_t len)
{
    uint64_t sum = snap_fnv(buf, len - 8);
    memcpy(buf + len - 8, &sum, 8);
}

/* A snapshot of `c` must be byte-identical to `want`. */
static void assert_snapshot_is(tg_chain *c, const void *want, size_t want_len)
{
    void *buf;
    size_t len;
    cr_assert_eq(tg_chain_save(&buf, &len, c), TG_OK, "%s", tg_error_last());
    cr_assert(len == want_len && memcmp(buf, want, len) == 0, "the chain changed");
    tg_free(buf);
}

Test(processors_chain, damaged_snapshots_are_refused_and_leave_the_chain_as_it_was)
{
    const double p[] = {0.4, 0.3, 0.2, 0.1};
    float l[4];
    logits_of(l, p, 4);
    const char *spec = "frequency_penalty(penalty=0.1) mirostat_v2(tau=1, eta=0.1)";
    tg_chain *c = chain(spec, 4, 9);
    for (int i = 0; i < 5; i++) {
        int32_t tok;
        cr_assert_eq(tg_chain_sample(&tok, NULL, c, l), TG_OK);
        cr_assert_eq(tg_chain_accept(c, tok), TG_OK);
    }
    unsigned char *snap;
    size_t len;
    cr_assert_eq(tg_chain_save((void **)&snap, &len, c), TG_OK, "%s", tg_error_last());
    tg_chain *d = chain(spec, 4, 9);
    cr_assert_eq(tg_chain_accept(d, 2), TG_OK);
    void *before;
    size_t before_len;
    cr_assert_eq(tg_chain_save(&before, &before_len, d), TG_OK);
    unsigned char *bad = g_memdup2(snap, len);
    /* every single flipped byte is caught by the checksum */
    for (size_t i = 0; i < len; i++) {
        bad[i] ^= 0x20;
        tg_status st = tg_chain_restore(d, bad, len);
        cr_assert_eq(st, TG_EFORMAT, "byte %zu flipped: %s", i, tg_error_last());
        bad[i] ^= 0x20;
    }
    cr_assert(strstr(tg_error_last(), "damaged") || strstr(tg_error_last(), "not a chain"), "%s",
              tg_error_last());
    assert_snapshot_is(d, before, before_len);
    /* a forged mu (checksum right) is refused by the plugin, named, and nothing changes */
    const size_t mu_at = len - 8 - sizeof(double);
    double mu = 1e300;
    memcpy(bad + mu_at, &mu, sizeof mu);
    snap_reseal(bad, len);
    cr_assert_eq(tg_chain_restore(d, bad, len), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "stage 2 'mirostat_v2': snapshot holds mu = 1e+300"), "%s",
              tg_error_last());
    assert_snapshot_is(d, before, before_len);
    /* a forged history id outside the vocabulary */
    memcpy(bad, snap, len);
    int32_t id = 7;
    memcpy(bad + 8 + 24, &id, sizeof id);
    snap_reseal(bad, len);
    cr_assert_eq(tg_chain_restore(d, bad, len), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "history token 0 is 7, outside the vocabulary [0, 4)"), "%s",
              tg_error_last());
    /* a stage name of raw bytes is not echoed */
    memcpy(bad, snap, len);
    const size_t name_at = 8 + 24 + 5 * 4 + 8; /* first stage's name */
    memcpy(bad + name_at, "\xff\xfe\x01", 3);
    snap_reseal(bad, len);
    cr_assert_eq(tg_chain_restore(d, bad, len), TG_EFORMAT);
    cr_assert(strstr(tg_error_last(), "stage 1 of the snapshot has no valid processor name"), "%s",
              tg_error_last());
    cr_assert(g_utf8_validate(tg_error_last(), -1, NULL));
    assert_snapshot_is(d, before, before_len);
    /* the intact snapshot still restores */
    cr_assert_eq(tg_chain_restore(d, snap, len), TG_OK, "%s", tg_error_last());
    assert_snapshot_is(d, snap, len);
    g_free(bad);
    tg_free(before);
    tg_free(snap);
    tg_chain_free(c);
    tg_chain_free(d);
}
