/* tokenizer/tok_hf.c — the components of a Hugging Face tokenizer.json: normalizer,
 * pre_tokenizer, decoder and post_processor, read into the tokenizer's steps with the meaning HF's
 * Rust library gives them. A component or option the library does not implement is refused by
 * name (TG_EUNSUPPORTED), never ignored; a malformed one is TG_EFORMAT naming the field. */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON helpers: messages name the file (what) and the field ---- */

static const char *type_of(JsonNode *n)
{
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(n))
        return "";
    JsonNode *t = json_object_get_member(json_node_get_object(n), "type");
    if (!t || !JSON_NODE_HOLDS_VALUE(t) || json_node_get_value_type(t) != G_TYPE_STRING)
        return "";
    return json_node_get_string(t);
}

static tg_status need_type(const char **type, JsonNode *n, const char *what, const char *field)
{
    *type = type_of(n);
    if (*type && !**type)
        return tg__error(TG_EFORMAT, "%s: %s must be an object with a string \"type\"", what,
                         field);
    return TG_OK;
}

/* Optional boolean: absent or null -> dflt; another type is an error. */
static tg_status opt_bool(int32_t *out, JsonObject *o, const char *key, int dflt, const char *what,
                          const char *field)
{
    JsonNode *n = json_object_get_member(o, key);
    *out = dflt;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return tg__error(TG_EFORMAT, "%s: %s.%s must be true or false", what, field, key);
    *out = json_node_get_boolean(n) ? 1 : 0;
    return TG_OK;
}

/* Optional string: absent or null -> *out = NULL. */
static tg_status opt_str(const char **out, JsonObject *o, const char *key, const char *what,
                         const char *field)
{
    JsonNode *n = json_object_get_member(o, key);
    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return tg__error(TG_EFORMAT, "%s: %s.%s must be a string", what, field, key);
    *out = json_node_get_string(n);
    return TG_OK;
}

static tg_status req_str(const char **out, JsonObject *o, const char *key, const char *what,
                         const char *field)
{
    tg_status st = opt_str(out, o, key, what, field);
    if (st == TG_OK && !*out)
        return tg__error(TG_EFORMAT, "%s: %s.%s is missing", what, field, key);
    return st;
}

static tg_status opt_int(int64_t *out, JsonObject *o, const char *key, int64_t dflt,
                         const char *what, const char *field)
{
    JsonNode *n = json_object_get_member(o, key);
    *out = dflt;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TG_OK;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return tg__error(TG_EFORMAT, "%s: %s.%s must be an integer", what, field, key);
    *out = json_node_get_int(n);
    return TG_OK;
}

/* A pattern: {"String": "..."} or {"Regex": "..."}. */
static tg_status get_pattern(const char **str, int *is_regex, JsonObject *o, const char *what,
                             const char *field)
{
    JsonNode *n = json_object_get_member(o, "pattern");
    if (!n || !JSON_NODE_HOLDS_OBJECT(n))
        return tg__error(TG_EFORMAT,
                         "%s: %s.pattern must be an object {\"String\": ...} or {\"Regex\": ...}",
                         what, field);
    JsonObject *p = json_node_get_object(n);
    const char *s = NULL, *r = NULL;
    tg_status st = opt_str(&s, p, "String", what, field);
    if (st == TG_OK)
        st = opt_str(&r, p, "Regex", what, field);
    if (st != TG_OK)
        return st;
    if ((s == NULL) == (r == NULL))
        return tg__error(TG_EFORMAT,
                         "%s: %s.pattern must hold exactly one of \"String\" and \"Regex\"", what,
                         field);
    *is_regex = r != NULL;
    *str = r ? r : s;
    if (!**str)
        return tg__error(TG_EFORMAT, "%s: %s.pattern is empty", what, field);
    return TG_OK;
}

static JsonArray *get_array(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* One character, as HF's `char` options (replacement, Strip content) are. */
static tg_status one_char(const char *s, const char *what, const char *field, const char *key)
{
    const char *end = s + strlen(s);
    if (!*s || !g_utf8_validate(s, -1, NULL) || g_utf8_next_char(s) != end)
        return tg__error(TG_EFORMAT, "%s: %s.%s must be a single character", what, field, key);
    return TG_OK;
}

#define GROW(arr, n)                                                                               \
    do {                                                                                           \
        void *p_ = tg__realloc((arr), sizeof *(arr) * ((n) + 1));                                  \
        if (!p_)                                                                                   \
            return tg__error(TG_ENOMEM, "tokenizer: out of memory");                               \
        (arr) = p_;                                                                                \
        memset(&(arr)[(n)], 0, sizeof *(arr));                                                     \
    } while (0)

/* A "Sequence" component: read each element of o[key] with `fn` (the reader of its kind, called
 * with `ctx`), naming the element "FIELD.KEY[i]" in messages; with `no_nulls`, a null element is
 * refused here. */
typedef tg_status (*component_reader)(tg_tokenizer *tok, JsonNode *n, void *ctx, const char *what,
                                      const char *field);

static tg_status read_sequence(tg_tokenizer *tok, JsonObject *o, const char *key, int no_nulls,
                               component_reader fn, void *ctx, const char *what, const char *field)
{
    JsonArray *a = get_array(o, key);
    if (!a)
        return tg__error(TG_EFORMAT, "%s: %s.%s must be an array", what, field, key);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        char sub[128];
        snprintf(sub, sizeof sub, "%s.%s[%u]", field, key, i);
        JsonNode *e = json_array_get_element(a, i);
        if (no_nulls && !type_of(e))
            return tg__error(TG_EFORMAT, "%s: %s is null", what, sub);
        tg_status st = fn(tok, e, ctx, what, sub);
        if (st != TG_OK)
            return st;
    }
    return TG_OK;
}

/* ---- normalizer ---- */

static tg_status read_norm(tg_tokenizer *tok, JsonNode *n, void *unused, const char *what,
                           const char *field)
{
    (void)unused;
    const char *type;
    tg_status st = need_type(&type, n, what, field);
    if (st != TG_OK || !type)
        return st;
    JsonObject *o = json_node_get_object(n);
    if (strcmp(type, "Sequence") == 0)
        return read_sequence(tok, o, "normalizers", 1, read_norm, NULL, what, field);
    static const char *const forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int k = 0; k < 4; k++) {
        if (strcmp(type, forms[k]) == 0) {
            GROW(tok->norms, tok->n_norms);
            tok->norms[tok->n_norms++].kind = TG__NORM_NFC + k;
            return TG_OK;
        }
    }
    if (strcmp(type, "Prepend") == 0) {
        const char *s;
        if ((st = req_str(&s, o, "prepend", what, field)) != TG_OK)
            return st;
        GROW(tok->norms, tok->n_norms);
        tg__norm *nm = &tok->norms[tok->n_norms++];
        nm->kind = TG__NORM_PREPEND;
        nm->str = g_strdup(s);
        nm->len = strlen(s);
        return TG_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *pat, *content;
        int is_regex;
        if ((st = get_pattern(&pat, &is_regex, o, what, field)) != TG_OK ||
            (st = req_str(&content, o, "content", what, field)) != TG_OK)
            return st;
        char where[256];
        snprintf(where, sizeof where, "%s: %s", what, field);
        GROW(tok->norms, tok->n_norms);
        tg__norm *nm = &tok->norms[tok->n_norms];
        if (is_regex && (st = tg__regex_compile(&nm->re, pat, where)) != TG_OK)
            return st;
        tok->n_norms++;
        nm->kind = TG__NORM_REPLACE;
        if (!is_regex) {
            nm->str = g_strdup(pat);
            nm->len = strlen(pat);
        }
        nm->with = g_strdup(content);
        nm->with_len = strlen(content);
        return TG_OK;
    }
    return tg__error(TG_EUNSUPPORTED,
                     "%s: %s \"%s\" is not supported (supported: NFC, NFD, NFKC, NFKD, Prepend, "
                     "Replace, Sequence of them)",
                     what, field, type);
}

tg_status tg__hf_read_normalizer(tg_tokenizer *tok, JsonNode *node, const char *what)
{
    return read_norm(tok, node, NULL, what, "normalizer");
}

/* ---- pre_tokenizer ---- */

static tg_status read_behavior(int32_t *out, JsonObject *o, const char *what, const char *field)
{
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    const char *b;
    tg_status st = req_str(&b, o, "behavior", what, field);
    if (st != TG_OK)
        return st;
    for (int k = 0; k < 5; k++)
        if (strcmp(b, names[k]) == 0) {
            *out = TG__SPLIT_REMOVED + k;
            return TG_OK;
        }
    return tg__error(TG_EFORMAT,
                     "%s: %s.behavior \"%s\" is not one of Removed, Isolated, MergedWithPrevious, "
                     "MergedWithNext, Contiguous",
                     what, field, b);
}

/* Metaspace's prepend_scheme; older files say add_prefix_space instead. */
static tg_status read_prepend_scheme(int32_t *out, JsonObject *o, const char *what,
                                     const char *field)
{
    const char *s;
    tg_status st = opt_str(&s, o, "prepend_scheme", what, field);
    if (st != TG_OK)
        return st;
    if (!s) {
        int32_t aps;
        if ((st = opt_bool(&aps, o, "add_prefix_space", 1, what, field)) != TG_OK)
            return st;
        *out = aps ? TG__PREPEND_ALWAYS : TG__PREPEND_NEVER;
        return TG_OK;
    }
    if (strcmp(s, "always") == 0)
        *out = TG__PREPEND_ALWAYS;
    else if (strcmp(s, "first") == 0)
        *out = TG__PREPEND_FIRST;
    else if (strcmp(s, "never") == 0)
        *out = TG__PREPEND_NEVER;
    else
        return tg__error(TG_EFORMAT,
                         "%s: %s.prepend_scheme \"%s\" is not one of always, first, never", what,
                         field, s);
    return TG_OK;
}

static tg_status read_replacement(char *rep, size_t *rep_len, JsonObject *o, const char *what,
                                  const char *field)
{
    const char *r;
    tg_status st = opt_str(&r, o, "replacement", what, field);
    if (st != TG_OK)
        return st;
    if (!r)
        r = "\xE2\x96\x81"; /* U+2581 */
    if ((st = one_char(r, what, field, "replacement")) != TG_OK)
        return st;
    *rep_len = strlen(r);
    memcpy(rep, r, *rep_len + 1);
    return TG_OK;
}

static tg_status read_pre(tg_tokenizer *tok, JsonNode *n, void *unused, const char *what,
                          const char *field)
{
    (void)unused;
    const char *type;
    tg_status st = need_type(&type, n, what, field);
    if (st != TG_OK || !type)
        return st;
    JsonObject *o = json_node_get_object(n);
    if (strcmp(type, "Sequence") == 0)
        return read_sequence(tok, o, "pretokenizers", 1, read_pre, NULL, what, field);
    GROW(tok->pre, tok->n_pre); /* room first: nothing to free if that fails */
    tg__pretok p = {0};
    if (strcmp(type, "Split") == 0) {
        const char *pat;
        int is_regex;
        p.kind = TG__PRE_SPLIT;
        if ((st = get_pattern(&pat, &is_regex, o, what, field)) != TG_OK ||
            (st = read_behavior(&p.behavior, o, what, field)) != TG_OK ||
            (st = opt_bool(&p.invert, o, "invert", 0, what, field)) != TG_OK)
            return st;
        if (!is_regex) {
            p.scanner = TG__SCAN_LITERAL;
            p.literal = g_strdup(pat);
            p.literal_len = strlen(pat);
        } else if (strcmp(pat, tg__gpt2_pattern) == 0) {
            p.scanner = TG__SCAN_GPT2;
        } else if (strcmp(pat, tg__llama3_pattern) == 0 || strcmp(pat, tg__qwen2_pattern) == 0) {
            p.scanner = TG__SCAN_LLAMA3;
            p.digits = strcmp(pat, tg__llama3_pattern) == 0 ? 3 : 1;
        } else {
            p.scanner = TG__SCAN_REGEX;
            char where[256];
            snprintf(where, sizeof where, "%s: %s", what, field);
            if ((st = tg__regex_compile(&p.re, pat, where)) != TG_OK)
                return st;
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        p.kind = TG__PRE_BYTELEVEL;
        if ((st = opt_bool(&p.add_prefix_space, o, "add_prefix_space", 1, what, field)) != TG_OK ||
            (st = opt_bool(&p.use_regex, o, "use_regex", 1, what, field)) != TG_OK)
            return st;
    } else if (strcmp(type, "Metaspace") == 0) {
        p.kind = TG__PRE_METASPACE;
        if ((st = read_replacement(p.rep, &p.rep_len, o, what, field)) != TG_OK ||
            (st = read_prepend_scheme(&p.prepend_scheme, o, what, field)) != TG_OK ||
            (st = opt_bool(&p.split, o, "split", 1, what, field)) != TG_OK)
            return st;
    } else {
        return tg__error(TG_EUNSUPPORTED,
                         "%s: %s \"%s\" is not supported (supported: ByteLevel, Split, Metaspace, "
                         "Sequence of them)",
                         what, field, type);
    }
    tok->pre[tok->n_pre++] = p;
    return TG_OK;
}

tg_status tg__hf_read_pre_tokenizer(tg_tokenizer *tok, JsonNode *node, const char *what)
{
    tg_status st = read_pre(tok, node, NULL, what, "pre_tokenizer");
    if (st != TG_OK)
        return st;
    /* ByteLevel turns text into the byte alphabet the model's vocabulary is written in: it
     * makes a byte-level tokenizer, and nothing may split after it (a Split would see "Ġ"). */
    tok->kind = TG_TOKENIZER_BPE;
    for (size_t k = 0; k < tok->n_pre; k++) {
        if (tok->pre[k].kind != TG__PRE_BYTELEVEL)
            continue;
        if (k + 1 != tok->n_pre)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: pre_tokenizer: a step after ByteLevel is not supported "
                             "(ByteLevel must be the last pre-tokenizer)",
                             what);
        tok->kind = TG_TOKENIZER_BYTE_BPE;
    }
    return TG_OK;
}

/* ---- decoder ----
 * Byte-level tokenizers: ByteLevel (or null). Otherwise a chain read in three phases:
 *   per token:  Replace (String pattern), Strip, Metaspace   (any number, in order)
 *               ByteFallback                                  (at most once, last of them)
 *   Fuse        (the tokens are concatenated anyway)
 *   after Fuse: Strip with stop = 0 and an ASCII content      (the start of the whole text) */

enum { PH_TOKENS, PH_AFTER_BYTES, PH_FUSED };

static tg_status read_dec(tg_tokenizer *tok, JsonNode *n, void *phase_ctx, const char *what,
                          const char *field)
{
    int *phase = phase_ctx; /* PH_*: where in the order of decoder steps we are */
    const char *type;
    tg_status st = need_type(&type, n, what, field);
    if (st != TG_OK || !type)
        return st;
    JsonObject *o = json_node_get_object(n);
    if (strcmp(type, "Sequence") == 0)
        return read_sequence(tok, o, "decoders", 1, read_dec, phase, what, field);
    if (strcmp(type, "Fuse") == 0) {
        *phase = PH_FUSED;
        return TG_OK;
    }
    int per_token = strcmp(type, "Replace") == 0 || strcmp(type, "Metaspace") == 0 ||
                    strcmp(type, "ByteFallback") == 0;
    if (strcmp(type, "Strip") == 0) {
        const char *content;
        int64_t start, stop;
        if ((st = req_str(&content, o, "content", what, field)) != TG_OK ||
            (st = one_char(content, what, field, "content")) != TG_OK ||
            (st = opt_int(&start, o, "start", 0, what, field)) != TG_OK ||
            (st = opt_int(&stop, o, "stop", 0, what, field)) != TG_OK)
            return st;
        if (start < 0 || stop < 0 || start > 1000000 || stop > 1000000)
            return tg__error(TG_EFORMAT, "%s: %s.start and .stop must be in [0, 1000000]", what,
                             field);
        if (*phase == PH_FUSED) {
            if (stop > 0 || (unsigned char)content[0] >= 0x80 || tok->dec_strip_n > 0)
                return tg__error(TG_EUNSUPPORTED,
                                 "%s: %s: after Fuse only one Strip of an ASCII character from "
                                 "the start (stop = 0) is supported",
                                 what, field);
            tok->dec_strip_char = (unsigned char)content[0];
            tok->dec_strip_n = (int32_t)start;
            return TG_OK;
        }
        if (*phase == PH_AFTER_BYTES)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: %s: a Strip after ByteFallback (before Fuse) is not supported",
                             what, field);
        GROW(tok->dec, tok->n_dec);
        tg__dec *d = &tok->dec[tok->n_dec++];
        d->kind = TG__DEC_STRIP;
        d->from = g_strdup(content);
        d->from_len = strlen(content);
        d->start = (int32_t)start;
        d->stop = (int32_t)stop;
        return TG_OK;
    }
    if (!per_token)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: %s \"%s\" is not supported (supported without a ByteLevel "
                         "pre_tokenizer: Replace, Strip, Metaspace, ByteFallback, Fuse, Sequence "
                         "of them)",
                         what, field, type);
    if (*phase != PH_TOKENS)
        return tg__error(TG_EUNSUPPORTED, "%s: %s: a %s after %s is not supported", what, field,
                         type, *phase == PH_FUSED ? "Fuse" : "ByteFallback");
    GROW(tok->dec, tok->n_dec);
    tg__dec d = {0};
    if (strcmp(type, "ByteFallback") == 0) {
        d.kind = TG__DEC_BYTEFALLBACK;
        *phase = PH_AFTER_BYTES;
    } else if (strcmp(type, "Replace") == 0) {
        const char *pat, *content;
        int is_regex;
        if ((st = get_pattern(&pat, &is_regex, o, what, field)) != TG_OK ||
            (st = req_str(&content, o, "content", what, field)) != TG_OK)
            return st;
        if (is_regex)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: %s: a Replace decoder with a Regex pattern is not supported",
                             what, field);
        d.kind = TG__DEC_REPLACE;
        d.from = g_strdup(pat);
        d.from_len = strlen(pat);
        d.to = g_strdup(content);
        d.to_len = strlen(content);
    } else { /* Metaspace: HF drops the replacement from the first token (not "never") */
        char rep[8];
        size_t rep_len;
        int32_t scheme;
        if ((st = read_replacement(rep, &rep_len, o, what, field)) != TG_OK ||
            (st = read_prepend_scheme(&scheme, o, what, field)) != TG_OK)
            return st;
        d.kind = TG__DEC_METASPACE;
        d.from = g_strdup(rep);
        d.from_len = rep_len;
        d.first_drop = scheme != TG__PREPEND_NEVER;
        if (d.first_drop)
            tok->dec_first_differs = 1;
    }
    tok->dec[tok->n_dec++] = d;
    return TG_OK;
}

tg_status tg__hf_read_decoder(tg_tokenizer *tok, JsonNode *node, const char *what)
{
    const char *type;
    tg_status st = need_type(&type, node, what, "decoder");
    if (st != TG_OK)
        return st;
    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        if (type && strcmp(type, "ByteLevel") != 0)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: decoder \"%s\" does not match the ByteLevel pre_tokenizer "
                             "(expected \"ByteLevel\")",
                             what, type);
        GROW(tok->dec, tok->n_dec);
        tok->dec[tok->n_dec++].kind = TG__DEC_BYTELEVEL;
        return TG_OK;
    }
    if (type && strcmp(type, "ByteLevel") == 0)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: decoder \"ByteLevel\" is not supported without a ByteLevel "
                         "pre_tokenizer",
                         what);
    int phase = PH_TOKENS;
    return read_dec(tok, node, &phase, what, "decoder");
}

/* ---- post_processor ---- */

static tg_status push_ids(int32_t **arr, size_t *n, JsonArray *ids, const tg_tokenizer *tok,
                          const char *what, const char *name)
{
    for (guint i = 0; i < json_array_get_length(ids); i++) {
        JsonNode *e = json_array_get_element(ids, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_INT64)
            return tg__error(TG_EFORMAT,
                             "%s: post_processor.special_tokens[\"%s\"].ids must be integers", what,
                             name);
        int64_t id = json_node_get_int(e);
        if (id < 0 || id >= tok->n_vocab)
            return tg__error(TG_EFORMAT,
                             "%s: post_processor.special_tokens[\"%s\"]: id %lld is outside the "
                             "vocabulary [0, %d)",
                             what, name, (long long)id, tok->n_vocab);
        GROW(*arr, *n);
        (*arr)[(*n)++] = (int32_t)id;
    }
    return TG_OK;
}

static tg_status read_template(tg_tokenizer *tok, JsonObject *o, const char *what,
                               const char *field)
{
    JsonArray *single = get_array(o, "single");
    JsonNode *specn = json_object_get_member(o, "special_tokens");
    if (!single)
        return tg__error(TG_EFORMAT, "%s: %s.single must be an array", what, field);
    JsonObject *spec = specn && JSON_NODE_HOLDS_OBJECT(specn) ? json_node_get_object(specn) : NULL;
    int seen_a = 0;
    for (guint i = 0; i < json_array_get_length(single); i++) {
        JsonNode *e = json_array_get_element(single, i);
        JsonObject *item = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonNode *sp = item ? json_object_get_member(item, "SpecialToken") : NULL;
        JsonNode *sq = item ? json_object_get_member(item, "Sequence") : NULL;
        const char *id = NULL;
        JsonNode *inner = sp ? sp : sq;
        if (inner && JSON_NODE_HOLDS_OBJECT(inner)) {
            JsonNode *idn = json_object_get_member(json_node_get_object(inner), "id");
            if (idn && JSON_NODE_HOLDS_VALUE(idn) && json_node_get_value_type(idn) == G_TYPE_STRING)
                id = json_node_get_string(idn);
        }
        if (!id)
            return tg__error(TG_EFORMAT,
                             "%s: %s.single[%u] must be {\"SpecialToken\": {\"id\": ...}} or "
                             "{\"Sequence\": {\"id\": ...}}",
                             what, field, i);
        if (sq) {
            if (strcmp(id, "A") != 0 || seen_a)
                return tg__error(TG_EUNSUPPORTED,
                                 "%s: %s.single[%u]: only one sequence \"A\" is supported in a "
                                 "single-text template (found \"%s\")",
                                 what, field, i, id);
            seen_a = 1;
            continue;
        }
        JsonNode *entry = spec ? json_object_get_member(spec, id) : NULL;
        JsonArray *ids = entry && JSON_NODE_HOLDS_OBJECT(entry)
                             ? get_array(json_node_get_object(entry), "ids")
                             : NULL;
        if (!ids)
            return tg__error(TG_EFORMAT,
                             "%s: %s.single[%u]: special token \"%s\" has no entry with \"ids\" in "
                             "special_tokens",
                             what, field, i, id);
        tg_status st = seen_a ? push_ids(&tok->suffix_ids, &tok->n_suffix, ids, tok, what, id)
                              : push_ids(&tok->prefix_ids, &tok->n_prefix, ids, tok, what, id);
        if (st != TG_OK)
            return st;
    }
    if (!seen_a)
        return tg__error(TG_EFORMAT, "%s: %s.single has no sequence \"A\"", what, field);
    return TG_OK;
}

static tg_status read_post(tg_tokenizer *tok, JsonNode *n, void *templates_ctx, const char *what,
                           const char *field)
{
    int *templates = templates_ctx; /* TemplateProcessing components seen */
    const char *type;
    tg_status st = need_type(&type, n, what, field);
    if (st != TG_OK || !type)
        return st;
    JsonObject *o = json_node_get_object(n);
    if (strcmp(type, "ByteLevel") == 0)
        return TG_OK; /* offsets only */
    if (strcmp(type, "TemplateProcessing") == 0) {
        if ((*templates)++)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: %s: a second TemplateProcessing is not supported", what, field);
        return read_template(tok, o, what, field);
    }
    if (strcmp(type, "Sequence") == 0)
        return read_sequence(tok, o, "processors", 0, read_post, templates, what, field);
    return tg__error(TG_EUNSUPPORTED,
                     "%s: %s \"%s\" is not supported (supported: TemplateProcessing, ByteLevel, "
                     "Sequence of them)",
                     what, field, type);
}

tg_status tg__hf_read_post_processor(tg_tokenizer *tok, JsonNode *node, const char *what)
{
    int templates = 0;
    return read_post(tok, node, &templates, what, "post_processor");
}

void tg__tokenizer_free_components(tg_tokenizer *tok)
{
    for (size_t k = 0; k < tok->n_norms; k++) {
        g_free(tok->norms[k].str);
        g_free(tok->norms[k].with);
        if (tok->norms[k].re)
            g_regex_unref(tok->norms[k].re);
    }
    free(tok->norms);
    for (size_t k = 0; k < tok->n_pre; k++) {
        g_free(tok->pre[k].literal);
        if (tok->pre[k].re)
            g_regex_unref(tok->pre[k].re);
    }
    free(tok->pre);
    for (size_t k = 0; k < tok->n_dec; k++) {
        g_free(tok->dec[k].from);
        g_free(tok->dec[k].to);
    }
    free(tok->dec);
    free(tok->prefix_ids);
    free(tok->suffix_ids);
}
