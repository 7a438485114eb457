/* logit_bias — add a fixed bias to the logits of chosen tokens (OpenAI `logit_bias`).
 *
 *   bias = "id:value id:value ..."   e.g. "50256:-100 198:2.5 13:-inf"
 *   logit_id <- logit_id + value     (value -inf bans the token)
 *
 * Entries are separated by spaces or commas; a value is a finite number or -inf; a repeated id
 * takes its last value. An id outside [0, n_vocab) or a malformed entry is refused at create
 * time with a message naming it (TG_ERANGE / TG_EINVAL).
 */
#include "../builtin_util.h"

#include <ctype.h>
#include <errno.h>

typedef struct {
    tgp_idmap map; /* ids with their bias in val[] */
} lb_state;

static void destroy(void *state)
{
    lb_state *s = state;
    if (!s)
        return;
    tgp_idmap_free(&s->map);
    free(s);
}

static tg_status parse(tgp_idmap *m, const char *text)
{
    const char *p = text ? text : "";
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        if (!*p)
            return TG_OK;
        const char *entry = p;
        size_t elen = strcspn(entry, " \t\r\n,");
        char *end;
        errno = 0;
        long long id = strtoll(p, &end, 10);
        if (end == p || *end != ':' || errno)
            return tgp_fail(TG_EINVAL, "entry '%.*s' is not id:value (e.g. \"50256:-100\")",
                            (int)elen, entry);
        if (id < 0 || id >= m->n_vocab)
            return tgp_fail(TG_ERANGE, "token id %lld is outside the vocabulary [0, %d)", id,
                            (int)m->n_vocab);
        p = end + 1;
        double v = strtod(p, &end);
        if (end == p || (*end && !isspace((unsigned char)*end) && *end != ','))
            return tgp_fail(TG_EINVAL, "entry '%.*s' has no valid value (a number or -inf)",
                            (int)elen, entry);
        if (isnan(v) || (isinf(v) && v > 0))
            return tgp_fail(TG_ERANGE, "value of token %lld must be finite or -inf", id);
        long k = tgp_idmap_add(m, (int32_t)id);
        if (k < 0)
            return tgp_fail(TG_ENOMEM, "out of memory");
        m->val[k] = v;
        p = end;
    }
}

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    lb_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    tg_status st = tgp_idmap_init(&s->map, ctx->n_vocab);
    if (st == TG_OK)
        st = parse(&s->map, values[0].string);
    if (st != TG_OK) {
        destroy(s);
        return st;
    }
    *state_out = s;
    return TG_OK;
}

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    lb_state *s = state;
    if (s->map.n == 0)
        return TG_OK;
    tgp_idmap_locate(&s->map, c);
    size_t changed = 0;
    for (size_t k = 0; k < s->map.n; k++) {
        long i = s->map.pos[k];
        if (i < 0 || s->map.val[k] == 0)
            continue;
        c->logits[i] = (float)((double)c->logits[i] + s->map.val[k]);
        changed++;
    }
    if (changed) {
        c->sorted = 0;
        c->probs_valid = 0;
    }
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const lb_state *src = state;
    lb_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    tg_status st = tgp_idmap_copy(&s->map, &src->map);
    if (st != TG_OK) {
        free(s);
        return st;
    }
    *state_out = s;
    return TG_OK;
}

static const tg_param_spec params[] = {
    {"bias", TG_PARAM_STRING, NULL, 0, 0,
     "\"id:value id:value ...\" added to those logits; value may be -inf (required)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "logit_bias",
    .kind = TG_PROC_TRANSFORM,
    .doc = "add a fixed bias to the logits of chosen token ids",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("logit_bias", "0.1.0", "MIT", "built-in per-token logit bias", &vtable)
