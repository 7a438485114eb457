/* tokenizer/tok_config.c — tokenizer_config.json (transformers' file beside tokenizer.json):
 * bos_token / eos_token, and add_bos_token / add_eos_token, which decide what
 * TG_ENCODE_ADD_SPECIAL adds the way transformers 5 decides it: when the file names either of
 * them, the template becomes [bos if add_bos_token] text [eos if add_eos_token] in place of
 * tokenizer.json's post_processor; otherwise the post_processor's template stays. Then the
 * caller's options override bos and eos. */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json_util.h"

#include <stdlib.h>
#include <string.h>

enum { ABSENT = -3 };

/* bos_token / eos_token: a string, an {"content": ...} object, or null (no such token). */
static tg_status config_token(int32_t *out, JsonObject *cfg, const char *key,
                              const tg_tokenizer *tok, const char *path)
{
    JsonNode *n = json_object_get_member(cfg, key);
    *out = ABSENT;
    if (!n)
        return TG_OK;
    if (JSON_NODE_HOLDS_NULL(n)) {
        *out = TG_TOKEN_NONE;
        return TG_OK;
    }
    const char *s = NULL;
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        s = json_node_get_string(n);
    } else if (JSON_NODE_HOLDS_OBJECT(n)) {
        JsonNode *c = json_object_get_member(json_node_get_object(n), "content");
        if (c && JSON_NODE_HOLDS_VALUE(c) && json_node_get_value_type(c) == G_TYPE_STRING)
            s = json_node_get_string(c);
    }
    if (!s)
        return tg__error(TG_EFORMAT,
                         "%s: %s must be a string, an object with a string \"content\", or null",
                         path, key);
    int32_t id = tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, s, strlen(s));
    if (id < 0)
        return tg__error(TG_EFORMAT, "%s: %s \"%s\" is not in the vocabulary", path, key, s);
    *out = id;
    return TG_OK;
}

static tg_status config_flag(int *out, JsonObject *cfg, const char *key, const char *path)
{
    JsonNode *n = json_object_get_member(cfg, key);
    *out = ABSENT;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return tg__error(TG_EFORMAT, "%s: %s must be true or false", path, key);
    *out = json_node_get_boolean(n) ? 1 : 0;
    return TG_OK;
}

typedef struct config {
    int32_t bos, eos;
    int add_bos, add_eos;
} config;

static tg_status read_config(config *c, const tg_tokenizer *tok, const char *dir)
{
    c->bos = c->eos = ABSENT;
    c->add_bos = c->add_eos = ABSENT;
    if (!dir)
        return TG_OK;
    char *path = g_build_filename(dir, "tokenizer_config.json", NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_free(path);
        return TG_OK;
    }
    char *data = NULL;
    size_t len = 0;
    JsonParser *parser = NULL;
    tg_status st = tg__file_read(&data, &len, path);
    if (st == TG_OK)
        st = tg__json_parse(&parser, data, len, path);
    free(data);
    if (st == TG_OK) {
        JsonNode *root = json_parser_get_root(parser);
        if (!JSON_NODE_HOLDS_OBJECT(root)) {
            st = tg__error(TG_EFORMAT, "%s: the top level must be a JSON object", path);
        } else {
            JsonObject *cfg = json_node_get_object(root);
            if ((st = config_token(&c->bos, cfg, "bos_token", tok, path)) == TG_OK &&
                (st = config_token(&c->eos, cfg, "eos_token", tok, path)) == TG_OK &&
                (st = config_flag(&c->add_bos, cfg, "add_bos_token", path)) == TG_OK)
                st = config_flag(&c->add_eos, cfg, "add_eos_token", path);
        }
        g_object_unref(parser);
    }
    g_free(path);
    return st;
}

static tg_status set_template(tg_tokenizer *tok, int add_bos, int add_eos)
{
    free(tok->prefix_ids);
    free(tok->suffix_ids);
    tok->prefix_ids = tok->suffix_ids = NULL;
    tok->n_prefix = tok->n_suffix = 0;
    /* transformers drops add_bos_token when there is no bos token (and so for eos). */
    if (add_bos == 1 && tok->bos_id >= 0) {
        if (!(tok->prefix_ids = tg__malloc(sizeof *tok->prefix_ids)))
            return tg__error(TG_ENOMEM, "tokenizer: out of memory");
        tok->prefix_ids[tok->n_prefix++] = tok->bos_id;
    }
    if (add_eos == 1 && tok->eos_id >= 0) {
        if (!(tok->suffix_ids = tg__malloc(sizeof *tok->suffix_ids)))
            return tg__error(TG_ENOMEM, "tokenizer: out of memory");
        tok->suffix_ids[tok->n_suffix++] = tok->eos_id;
    }
    return TG_OK;
}

tg_status tg__config_apply(tg_tokenizer *tok, const char *dir, const tg_tokenizer_options *opts)
{
    config c;
    tg_status st = read_config(&c, tok, dir);
    if (st != TG_OK)
        return st;
    /* Without a config naming them, GPT-2's convention: <|endoftext|> is both. */
    int32_t eot = tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, "<|endoftext|>", 13);
    if (eot >= 0 && !tok->is_special[eot])
        eot = TG_TOKEN_NONE;
    tok->bos_id = c.bos != ABSENT ? c.bos : eot;
    tok->eos_id = c.eos != ABSENT ? c.eos : eot;
    if (opts) {
        if (opts->bos_id != TG_TOKEN_AUTO)
            tok->bos_id = opts->bos_id;
        if (opts->eos_id != TG_TOKEN_AUTO)
            tok->eos_id = opts->eos_id;
    }
    if (tok->bos_id < -1 || tok->bos_id >= tok->n_vocab)
        return tg__error(TG_EINVAL,
                         "tokenizer options: bos_id %d is outside the vocabulary [0, %d)",
                         tok->bos_id, tok->n_vocab);
    if (tok->eos_id < -1 || tok->eos_id >= tok->n_vocab)
        return tg__error(TG_EINVAL,
                         "tokenizer options: eos_id %d is outside the vocabulary [0, %d)",
                         tok->eos_id, tok->n_vocab);
    if (c.add_bos != ABSENT || c.add_eos != ABSENT)
        return set_template(tok, c.add_bos, c.add_eos);
    return TG_OK;
}
