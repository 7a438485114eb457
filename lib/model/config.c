/* model/config.c — config.json (architecture gpt2) to tg_hparams. Accepts the Hugging Face
 * attribute aliases (hidden_size, num_hidden_layers, ...). */
#include "config.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json_util.h"

#include <stdlib.h>
#include <string.h>

/* First present key of `keys` (NULL-terminated) as an int in [lo, hi]. */
static tg_status get_int_alias(int32_t *out, JsonObject *o, const char *const *keys, int64_t lo,
                               int64_t hi, const char *path)
{
    for (const char *const *k = keys; *k; k++) {
        if (!tg__json_has(o, *k))
            continue;
        int64_t v;
        tg_status st = tg__json_get_int(&v, o, *k, path);
        if (st != TG_OK)
            return st;
        if (v < lo || v > hi)
            return tg__error(TG_ERANGE, "%s: field \"%s\" = %lld is out of range [%lld, %lld]",
                             path, *k, (long long)v, (long long)lo, (long long)hi);
        *out = (int32_t)v;
        return TG_OK;
    }
    return tg__error(TG_ENOTFOUND, "%s: missing field \"%s\"", path, keys[0]);
}

static tg_status get_token_id(int32_t *out, JsonObject *o, const char *key, int32_t n_vocab,
                              const char *path)
{
    *out = -1;
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (JSON_NODE_HOLDS_ARRAY(n)) { /* newer configs allow a list: take the first */
        JsonArray *a = json_node_get_array(n);
        if (json_array_get_length(a) == 0)
            return TG_OK;
        n = json_array_get_element(a, 0);
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return tg__error(TG_EFORMAT, "%s: field \"%s\" must be a token id", path, key);
    int64_t v = json_node_get_int(n);
    if (v < 0 || v >= n_vocab)
        return tg__error(TG_ERANGE, "%s: field \"%s\" = %lld is outside the vocabulary [0, %d)",
                         path, key, (long long)v, n_vocab);
    *out = (int32_t)v;
    return TG_OK;
}

static tg_status parse(tg_hparams *hp, JsonObject *o, const char *path)
{
    if (tg__json_has(o, "model_type")) {
        const char *mt;
        tg_status st = tg__json_get_string(&mt, o, "model_type", path);
        if (st != TG_OK)
            return st;
        if (strcmp(mt, "gpt2") != 0)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: model_type \"%s\" is not supported (supported: \"gpt2\")", path,
                             mt);
    }
    static const char *const k_vocab[] = {"vocab_size", NULL};
    static const char *const k_ctx[] = {"n_positions", "max_position_embeddings", "n_ctx", NULL};
    static const char *const k_embd[] = {"n_embd", "hidden_size", NULL};
    static const char *const k_head[] = {"n_head", "num_attention_heads", NULL};
    static const char *const k_layer[] = {"n_layer", "num_hidden_layers", NULL};
    tg_status st;
    if ((st = get_int_alias(&hp->n_vocab, o, k_vocab, 1, 1 << 24, path)) != TG_OK ||
        (st = get_int_alias(&hp->n_ctx, o, k_ctx, 1, 1 << 20, path)) != TG_OK ||
        (st = get_int_alias(&hp->n_embd, o, k_embd, 1, 1 << 16, path)) != TG_OK ||
        (st = get_int_alias(&hp->n_head, o, k_head, 1, 1 << 12, path)) != TG_OK ||
        (st = get_int_alias(&hp->n_layer, o, k_layer, 1, 1 << 12, path)) != TG_OK)
        return st;
    if (hp->n_embd % hp->n_head != 0)
        return tg__error(TG_EFORMAT, "%s: n_embd (%d) is not divisible by n_head (%d)", path,
                         hp->n_embd, hp->n_head);
    hp->n_inner = 4 * hp->n_embd;
    if (tg__json_has(o, "n_inner")) {
        static const char *const k_inner[] = {"n_inner", NULL};
        if ((st = get_int_alias(&hp->n_inner, o, k_inner, 1, 1 << 20, path)) != TG_OK)
            return st;
    }
    hp->ln_eps = 1e-5f;
    if (tg__json_has(o, "layer_norm_epsilon")) {
        double eps;
        if ((st = tg__json_get_double(&eps, o, "layer_norm_epsilon", path)) != TG_OK)
            return st;
        if (!(eps > 0 && eps < 1))
            return tg__error(TG_ERANGE, "%s: layer_norm_epsilon %g must be in (0, 1)", path, eps);
        hp->ln_eps = (float)eps;
    }
    hp->act = TG_ACT_GELU_TANH;
    if (tg__json_has(o, "activation_function")) {
        const char *a;
        if ((st = tg__json_get_string(&a, o, "activation_function", path)) != TG_OK)
            return st;
        if (strcmp(a, "gelu_new") == 0 || strcmp(a, "gelu_pytorch_tanh") == 0 ||
            strcmp(a, "gelu_fast") == 0)
            hp->act = TG_ACT_GELU_TANH;
        else if (strcmp(a, "gelu") == 0)
            hp->act = TG_ACT_GELU_ERF;
        else
            return tg__error(TG_EUNSUPPORTED,
                             "%s: activation_function \"%s\" is not supported (supported: "
                             "gelu_new, gelu_pytorch_tanh, gelu)",
                             path, a);
    }
    if ((st = get_token_id(&hp->bos_id, o, "bos_token_id", hp->n_vocab, path)) != TG_OK ||
        (st = get_token_id(&hp->eos_id, o, "eos_token_id", hp->n_vocab, path)) != TG_OK)
        return st;
    return TG_OK;
}

tg_status tg__config_load(tg_hparams *hp, const char *path)
{
    memset(hp, 0, sizeof *hp);
    char *text;
    size_t len;
    tg_status st = tg__file_read(&text, &len, path);
    if (st != TG_OK)
        return st;
    JsonParser *parser;
    st = tg__json_parse(&parser, text, len, path);
    free(text);
    if (st != TG_OK)
        return st;
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root))
        st = tg__error(TG_EFORMAT, "%s: the top level must be a JSON object", path);
    else
        st = parse(hp, json_node_get_object(root), path);
    g_object_unref(parser);
    return st;
}
