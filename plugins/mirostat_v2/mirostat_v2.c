/* mirostat_v2 — Mirostat 2.0 (Basu et al. 2021, llama.cpp semantics): a selector that keeps the
 * surprise of the text near a target tau by learning a surprise cap mu.
 *
 *   state mu, initially 2 tau (reset() restores it)
 *   apply:  p = softmax(live logits); drop every token with -log2 p_i > mu (the most likely one
 *           always stays); renormalize; u = tg_rng_uniform(seed, sequence, step, 0);
 *           select by inverse CDF
 *   accept(token): mu <- mu - eta * (-log2 p'_token - tau), with p' the renormalized
 *           probability the token had in the last apply (mu is unchanged for a token that was
 *           not among the kept candidates)
 *
 * Counter 0 is the selector's draw (the same as dist: a chain has one selector). save/load
 * snapshot mu; clone copies it.
 */
#include "../builtin_util.h"

#define MIROSTAT_COUNTER 0u
#define MIROSTAT_MAGIC 0x3276524du /* "MRv2" */
#define MIROSTAT_MU_LIMIT 1e9

typedef struct {
    double tau, eta, mu;
    /* the candidates kept by the last apply, for accept() */
    int32_t *ids;
    float *probs;
    size_t n, cap;
    int32_t selected_id;
    float selected_prob;
} mirostat_state;

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    (void)ctx;
    mirostat_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->tau = values[0].number;
    s->eta = values[1].number;
    s->mu = 2 * s->tau;
    s->selected_id = -1;
    *state_out = s;
    return TG_OK;
}

static void destroy(void *state)
{
    mirostat_state *s = state;
    if (!s)
        return;
    free(s->ids);
    free(s->probs);
    free(s);
}

static tg_status remember(mirostat_state *s, const tg_candidates *c)
{
    if (c->size > s->cap) {
        int32_t *ids = realloc(s->ids, c->size * sizeof *ids);
        if (!ids)
            return tgp_fail(TG_ENOMEM, "out of memory");
        s->ids = ids;
        float *probs = realloc(s->probs, c->size * sizeof *probs);
        if (!probs)
            return tgp_fail(TG_ENOMEM, "out of memory");
        s->probs = probs;
        s->cap = c->size;
    }
    memcpy(s->ids, c->ids, c->size * sizeof *s->ids);
    memcpy(s->probs, c->probs, c->size * sizeof *s->probs);
    s->n = c->size;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    mirostat_state *s = state;
    if (c->size == 0)
        return tgp_fail(TG_ESTATE, "no candidates");
    tg_status st = tg_candidates_softmax(c);
    if (st != TG_OK)
        return st;
    /* -log2 p > mu  <=>  p < 2^-mu: a probability threshold, compacted in place. */
    const double pmin = exp2(-s->mu);
    size_t w = 0, sorted_kept = 0;
    for (size_t i = 0; i < c->size; i++) {
        if (!((double)c->probs[i] >= pmin))
            continue;
        if (i < c->sorted)
            sorted_kept++;
        if (w != i)
            tgp_swap(c, w, i);
        w++;
    }
    if (w == 0) {
        st = tgp_keep_top(c, 1);
        if (st != TG_OK)
            return st;
    } else {
        c->size = w;
        c->sorted = sorted_kept;
    }
    tgp_renormalize(c);
    const double u = tg_rng_uniform(step ? step->seed : 0, step ? (uint64_t)step->sequence : 0,
                                    step ? (uint64_t)step->step : 0, MIROSTAT_COUNTER);
    double total = 0;
    for (size_t i = 0; i < c->size; i++)
        total += c->probs[i];
    const double target = u * total;
    double cum = 0;
    size_t pick = c->size;
    for (size_t i = 0; i < c->size; i++) {
        cum += c->probs[i];
        if (cum > target && c->probs[i] > 0) {
            pick = i;
            break;
        }
    }
    if (pick == c->size) /* rounding: the last entry with a probability */
        for (size_t i = c->size; i-- > 0;)
            if (c->probs[i] > 0) {
                pick = i;
                break;
            }
    if (pick == c->size)
        pick = 0;
    c->selected = (int32_t)pick;
    s->selected_id = c->ids[pick];
    s->selected_prob = c->probs[pick];
    return remember(s, c);
}

static tg_status accept(void *state, int32_t token, const tg_step_info *step)
{
    (void)step;
    mirostat_state *s = state;
    float p = -1;
    if (token == s->selected_id) {
        p = s->selected_prob;
    } else {
        for (size_t i = 0; i < s->n; i++)
            if (s->ids[i] == token) {
                p = s->probs[i];
                break;
            }
    }
    if (p > 0) {
        const double surprise = -log2((double)p);
        s->mu -= s->eta * (surprise - s->tau);
    }
    s->n = 0;
    s->selected_id = -1;
    return TG_OK;
}

static void reset(void *state)
{
    mirostat_state *s = state;
    s->mu = 2 * s->tau;
    s->n = 0;
    s->selected_id = -1;
}

static tg_status clone(void **state_out, const void *state)
{
    const mirostat_state *src = state;
    tg_param_value v[2] = {{.number = src->tau}, {.number = src->eta}};
    tg_status st = create(state_out, v, NULL);
    if (st != TG_OK)
        return st;
    mirostat_state *s = *state_out;
    s->mu = src->mu;
    if (src->n) {
        tg_candidates view = {.ids = src->ids, .probs = src->probs, .size = src->n};
        st = remember(s, &view);
        if (st != TG_OK) {
            destroy(s);
            *state_out = NULL;
            return st;
        }
    }
    s->selected_id = src->selected_id;
    s->selected_prob = src->selected_prob;
    return TG_OK;
}

typedef struct {
    uint32_t magic;
    uint32_t reserved;
    double mu;
} mirostat_snapshot;

static tg_status save(const void *state, void *buf, size_t *len)
{
    const mirostat_state *s = state;
    if (!len)
        return tgp_fail(TG_EINVAL, "save: invalid argument 'len'");
    if (!buf) {
        *len = sizeof(mirostat_snapshot);
        return TG_OK;
    }
    if (*len < sizeof(mirostat_snapshot)) {
        size_t have = *len;
        *len = sizeof(mirostat_snapshot);
        return tgp_fail(TG_ERANGE, "save needs %zu bytes, got %zu", sizeof(mirostat_snapshot),
                        have);
    }
    mirostat_snapshot snap = {MIROSTAT_MAGIC, 0, s->mu};
    memcpy(buf, &snap, sizeof snap);
    *len = sizeof snap;
    return TG_OK;
}

static tg_status load(void *state, const void *buf, size_t len)
{
    mirostat_state *s = state;
    mirostat_snapshot snap;
    if (!buf || len != sizeof snap)
        return tgp_fail(TG_EFORMAT, "snapshot of %zu bytes, expected %zu", len, sizeof snap);
    memcpy(&snap, buf, sizeof snap);
    if (snap.magic != MIROSTAT_MAGIC || snap.reserved != 0)
        return tgp_fail(TG_EFORMAT, "not a mirostat_v2 snapshot");
    /* mu is a surprise in bits: it starts at 2 tau (<= 200) and moves by at most eta (<= 1)
     * times ~250 bits per step, so a billion is out of reach of any real generation. */
    if (!isfinite(snap.mu) || fabs(snap.mu) > MIROSTAT_MU_LIMIT)
        return tgp_fail(TG_EFORMAT, "snapshot holds mu = %g, outside [-%g, %g]", snap.mu,
                        MIROSTAT_MU_LIMIT, MIROSTAT_MU_LIMIT);
    s->mu = snap.mu;
    s->n = 0;
    s->selected_id = -1;
    return TG_OK;
}

static const tg_param_spec params[] = {
    {"tau", TG_PARAM_FLOAT, "5.0", 0, 100, "target surprise in bits (lower = more focused text)"},
    {"eta", TG_PARAM_FLOAT, "0.1", 0, 1, "learning rate of the surprise cap mu"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "mirostat_v2",
    .kind = TG_PROC_SELECTOR,
    .doc = "Mirostat 2.0: sample below a learned surprise cap that tracks the target tau",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .accept = accept,
    .reset = reset,
    .clone = clone,
    .destroy = destroy,
    .save = save,
    .load = load,
};

TG_PLUGIN_DEFINE("mirostat_v2", "0.1.0", "MIT", "built-in Mirostat 2.0 selector", &vtable)
