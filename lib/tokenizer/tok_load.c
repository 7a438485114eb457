/* tokenizer/tok_load.c — reading tokenizer.json (HF), vocab.json + merges.txt (GPT-2) and
 * tokenizer_config.json; building the immutable tg_tokenizer. */
#include "tokenizer_internal.h"
#include "core/error.h"
#include "core/versioned.h"
#include "core/fileutil.h"
#include "core/json_util.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 bytes_to_unicode() ---- */

static uint16_t byte_to_cp[256];
static int16_t cp_to_byte[324]; /* code points used are all < 324 */

static void init_byte_map_once(void)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        byte_to_cp[b] = (uint16_t)(printable ? b : 256 + n++);
    }
    for (int c = 0; c < 324; c++)
        cp_to_byte[c] = -1;
    for (int b = 0; b < 256; b++)
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
}

static void init_byte_map(void)
{
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        init_byte_map_once();
        g_once_init_leave(&once, 1);
    }
}

/* ---- the builder: pieces by id, merges as strings, then freeze into a tg_tokenizer ---- */

typedef struct builder {
    const char *what;     /* file named in messages */
    GPtrArray *pieces;    /* id -> char* (owned) or NULL */
    GByteArray *added;    /* id -> 0 / 1 added / 2 added+special (grown with pieces) */
    GHashTable *by_piece; /* piece -> id+1 (keys borrowed from pieces) */
} builder;

static void builder_init(builder *b, const char *what)
{
    b->what = what;
    b->pieces = g_ptr_array_new_with_free_func(g_free);
    b->added = g_byte_array_new();
    b->by_piece = g_hash_table_new(g_str_hash, g_str_equal);
}

static void builder_clear(builder *b)
{
    g_hash_table_unref(b->by_piece);
    g_ptr_array_unref(b->pieces);
    g_byte_array_unref(b->added);
}

#define TG_MAX_VOCAB (1 << 24)

/* A printable excerpt of a piece for messages. */
static const char *show(const char *s, char *buf, size_t cap)
{
    size_t n = strlen(s);
    if (n + 1 <= cap) {
        memcpy(buf, s, n + 1);
    } else {
        size_t k = cap - 4;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        memcpy(buf, s, k);
        memcpy(buf + k, "...", 4);
    }
    return buf;
}

static tg_status builder_set(builder *b, int64_t id, const char *piece, int added, int special,
                             const char *field)
{
    char sb[64], ob[64];
    if (id < 0 || id >= TG_MAX_VOCAB)
        return tg__error(TG_EFORMAT, "%s: %s: token \"%s\" has id %lld, outside [0, %d)", b->what,
                         field, show(piece, sb, sizeof sb), (long long)id, TG_MAX_VOCAB);
    if (piece[0] == '\0')
        return tg__error(TG_EFORMAT, "%s: %s: id %lld has an empty token", b->what, field,
                         (long long)id);
    gpointer prev = g_hash_table_lookup(b->by_piece, piece);
    if (prev) {
        int64_t pid = GPOINTER_TO_INT(prev) - 1;
        if (pid == id && added) { /* an added token restating a vocabulary entry */
            b->added->data[id] = (guint8)(special ? 2 : 1);
            return TG_OK;
        }
        return tg__error(TG_EFORMAT, "%s: %s: token \"%s\" appears twice (ids %lld and %lld)",
                         b->what, field, show(piece, sb, sizeof sb), (long long)pid, (long long)id);
    }
    if ((guint)id < b->pieces->len && g_ptr_array_index(b->pieces, id))
        return tg__error(TG_EFORMAT, "%s: %s: duplicate id %lld: given to \"%s\" and \"%s\"",
                         b->what, field, (long long)id,
                         show(g_ptr_array_index(b->pieces, id), ob, sizeof ob),
                         show(piece, sb, sizeof sb));
    if ((guint)id >= b->pieces->len) {
        guint old = b->pieces->len;
        g_ptr_array_set_size(b->pieces, (gint)id + 1);
        g_byte_array_set_size(b->added, (guint)id + 1);
        memset(b->added->data + old, 0, (guint)id + 1 - old);
    }
    char *copy = g_strdup(piece);
    g_ptr_array_index(b->pieces, id) = copy;
    b->added->data[id] = (guint8)(added ? (special ? 2 : 1) : 0);
    g_hash_table_insert(b->by_piece, copy, GINT_TO_POINTER((gint)id + 1));
    return TG_OK;
}

static int32_t builder_find(builder *b, const char *piece)
{
    gpointer p = g_hash_table_lookup(b->by_piece, piece);
    return p ? GPOINTER_TO_INT(p) - 1 : -1;
}

/* Decode a byte-level piece ("Ġthe") into bytes (" the"). Characters outside the byte alphabet
 * are kept as their UTF-8 (as HF's decoder does). */
static size_t byte_level_decode(const char *piece, char *out)
{
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)piece;
    size_t len = strlen(piece);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = tg__utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            out[n++] = (char)s[i++];
            continue;
        }
        if (cp < 324 && cp_to_byte[cp] >= 0) {
            out[n++] = (char)cp_to_byte[cp];
        } else {
            memcpy(out + n, s + i, k);
            n += k;
        }
        i += k;
    }
    return n;
}

static void pairmap_free(tg__pairmap *m)
{
    free(m->keys);
    free(m->ranks);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

static tg_status pairmap_init(tg__pairmap *m, size_t n, const char *what)
{
    uint32_t cap = 16;
    while ((size_t)cap < n * 2 + 1)
        cap <<= 1;
    m->mask = cap - 1;
    m->count = 0;
    m->keys = calloc(cap, sizeof *m->keys);
    m->ranks = malloc(sizeof *m->ranks * cap);
    m->merged = malloc(sizeof *m->merged * cap);
    if (!m->keys || !m->ranks || !m->merged) {
        pairmap_free(m);
        return tg__error(TG_ENOMEM, "%s: out of memory for %zu merges", what, n);
    }
    return TG_OK;
}

static inline uint32_t pair_slot(uint64_t key, uint32_t mask)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* Insert unless present (a repeated merge keeps its first rank). */
static void pairmap_put(tg__pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = pair_slot(key, m->mask);
    while (m->keys[i]) {
        if (m->keys[i] == key)
            return;
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->ranks[i] = rank;
    m->merged[i] = merged;
    m->count++;
}

void tg_tokenizer_free(tg_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->pieces);
    free(tok->piece_off);
    free(tok->bytes);
    free(tok->bytes_off);
    free(tok->is_special);
    free(tok->special_ids);
    free(tok->added);
    tg__strmap_free(&tok->piece_map);
    tg__strmap_free(&tok->bytes_map);
    pairmap_free(&tok->merges);
    free(tok);
}

/* Freeze the builder into `tok` (kind, flags already set). */
static tg_status builder_freeze(tg_tokenizer *tok, builder *b)
{
    const char *what = b->what;
    guint n = b->pieces->len;
    if (n == 0)
        return tg__error(TG_EFORMAT, "%s: the vocabulary is empty", what);
    for (guint id = 0; id < n; id++)
        if (!g_ptr_array_index(b->pieces, id))
            return tg__error(TG_EFORMAT,
                             "%s: no token has id %u (ids must run from 0 to %u without gaps)",
                             what, id, n - 1);
    tok->n_vocab = (int32_t)n;
    size_t total = 0;
    for (guint id = 0; id < n; id++)
        total += strlen(g_ptr_array_index(b->pieces, id)) + 1;
    if (total > UINT32_MAX)
        return tg__error(TG_EFORMAT, "%s: the vocabulary is too large", what);
    tok->pieces = malloc(total);
    tok->piece_off = malloc(sizeof *tok->piece_off * (n + 1));
    tok->bytes = malloc(total); /* decoded bytes are never longer than the piece */
    tok->bytes_off = malloc(sizeof *tok->bytes_off * (n + 1));
    tok->is_special = calloc(n, 1);
    if (!tok->pieces || !tok->piece_off || !tok->bytes || !tok->bytes_off || !tok->is_special)
        return tg__error(TG_ENOMEM, "%s: out of memory for %u tokens", what, n);
    size_t po = 0, bo = 0, n_added = 0;
    for (guint id = 0; id < n; id++) {
        const char *p = g_ptr_array_index(b->pieces, id);
        size_t len = strlen(p);
        tok->piece_off[id] = (uint32_t)po;
        memcpy(tok->pieces + po, p, len + 1);
        po += len + 1;
        tok->bytes_off[id] = (uint32_t)bo;
        int added = b->added->data[id];
        if (added)
            n_added++;
        if (added == 2)
            tok->is_special[id] = 1;
        if (tok->kind == TG_TOKENIZER_BYTE_BPE && !added) {
            bo += byte_level_decode(p, tok->bytes + bo);
        } else {
            memcpy(tok->bytes + bo, p, len);
            bo += len;
        }
        tok->bytes[bo++] = '\0';
    }
    tok->piece_off[n] = (uint32_t)po;
    tok->bytes_off[n] = (uint32_t)bo;

    tg_status st = tg__strmap_build(&tok->piece_map, tok->pieces, tok->piece_off, (int32_t)n, NULL);
    if (st == TG_OK)
        st = tg__strmap_build(&tok->bytes_map, tok->bytes, tok->bytes_off, (int32_t)n,
                              tok->is_special);
    if (st != TG_OK)
        return st;

    /* Special tokens and added tokens (matched in the text before pre-tokenization). */
    size_t n_special = 0;
    for (guint id = 0; id < n; id++)
        n_special += tok->is_special[id];
    if (n_special) {
        tok->special_ids = malloc(sizeof *tok->special_ids * n_special);
        if (!tok->special_ids)
            return tg__error(TG_ENOMEM, "%s: out of memory", what);
        for (guint id = 0; id < n; id++)
            if (tok->is_special[id])
                tok->special_ids[tok->n_special++] = (int32_t)id;
    }
    if (n_added) {
        tok->added = malloc(sizeof *tok->added * n_added);
        if (!tok->added)
            return tg__error(TG_ENOMEM, "%s: out of memory", what);
        for (guint id = 0; id < n; id++) {
            if (!b->added->data[id])
                continue;
            tg__added *a = &tok->added[tok->n_added++];
            a->id = (int32_t)id;
            a->special = tok->is_special[id];
            a->text = tok->pieces + tok->piece_off[id];
            a->len = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
            tok->added_first[(unsigned char)a->text[0]] |= (uint8_t)(a->special ? 1 : 3);
            if (!a->special)
                tok->n_added_plain++;
        }
        /* Longest first, so that the longest match at a position wins. */
        for (size_t i = 1; i < tok->n_added; i++) {
            tg__added x = tok->added[i];
            size_t j = i;
            while (j > 0 && tok->added[j - 1].len < x.len) {
                tok->added[j] = tok->added[j - 1];
                j--;
            }
            tok->added[j] = x;
        }
    }

    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        for (int by = 0; by < 256; by++) {
            char utf8[8];
            int k = g_unichar_to_utf8(byte_to_cp[by], utf8);
            utf8[k] = '\0';
            int32_t id = builder_find(b, utf8);
            if (id < 0 || b->added->data[id])
                return tg__error(TG_EFORMAT,
                                 "%s: byte-level vocabulary does not cover all 256 bytes: no "
                                 "token for byte 0x%02X (written \"%s\")",
                                 what, by, utf8);
            tok->byte_id[by] = id;
        }
    }
    return TG_OK;
}

static tg_status add_merge(tg_tokenizer *tok, builder *b, const char *l, const char *r,
                           uint32_t rank, const char *where)
{
    char sb[64];
    int32_t a = builder_find(b, l);
    if (a < 0)
        return tg__error(TG_EFORMAT, "%s: %s: token \"%s\" is not in the vocabulary", b->what,
                         where, show(l, sb, sizeof sb));
    int32_t c = builder_find(b, r);
    if (c < 0)
        return tg__error(TG_EFORMAT, "%s: %s: token \"%s\" is not in the vocabulary", b->what,
                         where, show(r, sb, sizeof sb));
    char *cat = g_strconcat(l, r, NULL);
    int32_t m = builder_find(b, cat);
    if (m < 0) {
        tg__error(TG_EFORMAT, "%s: %s: merged token \"%s\" is not in the vocabulary", b->what,
                  where, show(cat, sb, sizeof sb));
        g_free(cat);
        return TG_EFORMAT;
    }
    g_free(cat);
    pairmap_put(&tok->merges, a, c, rank, m);
    return TG_OK;
}

/* ---- tokenizer_config.json (bos_token / eos_token) ---- */

static int32_t config_token(JsonObject *cfg, const char *key, tg_tokenizer *tok)
{
    JsonNode *n = json_object_get_member(cfg, key);
    const char *s = NULL;
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
        s = json_node_get_string(n);
    else if (n && JSON_NODE_HOLDS_OBJECT(n)) {
        JsonNode *c = json_object_get_member(json_node_get_object(n), "content");
        if (c && JSON_NODE_HOLDS_VALUE(c) && json_node_get_value_type(c) == G_TYPE_STRING)
            s = json_node_get_string(c);
    }
    if (!s)
        return TG_TOKEN_AUTO;
    return tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, s, strlen(s));
}

static tg_status resolve_bos_eos(tg_tokenizer *tok, const char *dir,
                                 const tg_tokenizer_options *opts)
{
    int32_t bos = TG_TOKEN_AUTO, eos = TG_TOKEN_AUTO;
    if (dir) {
        char *cfg_path = g_build_filename(dir, "tokenizer_config.json", NULL);
        if (g_file_test(cfg_path, G_FILE_TEST_IS_REGULAR)) {
            char *data = NULL;
            size_t len = 0;
            JsonParser *parser = NULL;
            tg_status st = tg__file_read(&data, &len, cfg_path);
            if (st == TG_OK)
                st = tg__json_parse(&parser, data, len, cfg_path);
            free(data);
            if (st != TG_OK) {
                g_free(cfg_path);
                return st;
            }
            JsonNode *root = json_parser_get_root(parser);
            if (JSON_NODE_HOLDS_OBJECT(root)) {
                bos = config_token(json_node_get_object(root), "bos_token", tok);
                eos = config_token(json_node_get_object(root), "eos_token", tok);
            }
            g_object_unref(parser);
        }
        g_free(cfg_path);
    }
    int32_t eot = tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, "<|endoftext|>", 13);
    if (eot >= 0 && !tok->is_special[eot])
        eot = -1;
    tok->bos_id = bos >= 0 ? bos : eot;
    tok->eos_id = eos >= 0 ? eos : eot;
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
    return TG_OK;
}

/* Read {piece: id} in file order (so messages name the first duplicate). In vocab.json,
 * GPT-2's <|endoftext|> is the one special token (eot_special). */
static tg_status read_vocab(builder *b, JsonObject *obj, const char *field, int eot_special)
{
    GList *names = json_object_get_members(obj);
    tg_status st = TG_OK;
    for (GList *l = names; l && st == TG_OK; l = l->next) {
        const char *key = l->data;
        JsonNode *val = json_object_get_member(obj, key);
        if (!JSON_NODE_HOLDS_VALUE(val) || json_node_get_value_type(val) != G_TYPE_INT64) {
            char sb[64];
            st = tg__error(TG_EFORMAT, "%s: %s: the id of \"%s\" is not an integer", b->what, field,
                           show(key, sb, sizeof sb));
            break;
        }
        int special = eot_special && strcmp(key, "<|endoftext|>") == 0;
        st = builder_set(b, json_node_get_int(val), key, special, special, field);
    }
    g_list_free(names);
    return st;
}

/* ---- tokenizer.json ---- */

static const char *node_type_name(JsonNode *n)
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

static int get_bool(JsonObject *o, const char *key, int dflt)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return dflt;
    return json_node_get_boolean(n) ? 1 : 0;
}

static tg_status from_hf(tg_tokenizer *tok, JsonNode *rootn, builder *b)
{
    const char *what = b->what;
    if (!JSON_NODE_HOLDS_OBJECT(rootn))
        return tg__error(TG_EFORMAT, "%s: the top level must be a JSON object", what);
    JsonObject *root = json_node_get_object(rootn);
    JsonNode *modeln = json_object_get_member(root, "model");
    if (!modeln || !JSON_NODE_HOLDS_OBJECT(modeln))
        return tg__error(TG_EFORMAT, "%s: missing object \"model\"", what);
    JsonObject *model = json_node_get_object(modeln);
    const char *mtype = node_type_name(modeln);
    if (mtype && *mtype && strcmp(mtype, "BPE") != 0)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: model.type \"%s\" is not supported (only \"BPE\" models are)", what,
                         mtype);

    /* normalizer: none supported */
    const char *norm = node_type_name(json_object_get_member(root, "normalizer"));
    if (norm)
        return tg__error(TG_EUNSUPPORTED, "%s: normalizer \"%s\" is not supported (only null)",
                         what, norm);

    /* pre_tokenizer: ByteLevel (GPT-2) or null (plain BPE over characters) */
    JsonNode *pren = json_object_get_member(root, "pre_tokenizer");
    const char *pre = node_type_name(pren);
    if (!pre) {
        tok->kind = TG_TOKENIZER_BPE;
    } else if (strcmp(pre, "ByteLevel") == 0) {
        JsonObject *p = json_node_get_object(pren);
        tok->kind = TG_TOKENIZER_BYTE_BPE;
        tok->add_prefix_space = get_bool(p, "add_prefix_space", 1);
        tok->use_regex = get_bool(p, "use_regex", 1);
    } else {
        return tg__error(TG_EUNSUPPORTED,
                         "%s: pre_tokenizer \"%s\" is not supported (only \"ByteLevel\" or null)",
                         what, pre);
    }
    const char *dec = node_type_name(json_object_get_member(root, "decoder"));
    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        if (dec && strcmp(dec, "ByteLevel") != 0)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: decoder \"%s\" does not match the ByteLevel pre_tokenizer "
                             "(expected \"ByteLevel\")",
                             what, dec);
    } else if (dec && strcmp(dec, "Fuse") != 0) {
        return tg__error(TG_EUNSUPPORTED,
                         "%s: decoder \"%s\" is not supported without a ByteLevel pre_tokenizer "
                         "(only \"Fuse\" or null)",
                         what, dec);
    }

    /* model options */
    JsonNode *n;
    n = json_object_get_member(model, "byte_fallback");
    if (get_bool(model, "byte_fallback", 0))
        return tg__error(TG_EUNSUPPORTED, "%s: model.byte_fallback = true is not supported", what);
    const char *sfx[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        n = json_object_get_member(model, sfx[i]);
        if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
            json_node_get_string(n)[0])
            return tg__error(TG_EUNSUPPORTED, "%s: model.%s is not supported", what, sfx[i]);
    }
    n = json_object_get_member(model, "dropout");
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_double(n) > 0.0)
        return tg__error(TG_EUNSUPPORTED, "%s: model.dropout > 0 is not supported", what);
    tok->ignore_merges = get_bool(model, "ignore_merges", 0);

    /* vocab */
    JsonNode *vocabn = json_object_get_member(model, "vocab");
    if (!vocabn || !JSON_NODE_HOLDS_OBJECT(vocabn))
        return tg__error(TG_EFORMAT, "%s: model.vocab must be an object {token: id}", what);
    tg_status st = read_vocab(b, json_node_get_object(vocabn), "model.vocab", 0);
    if (st != TG_OK)
        return st;

    /* added_tokens */
    JsonNode *addn = json_object_get_member(root, "added_tokens");
    if (addn && !JSON_NODE_HOLDS_NULL(addn)) {
        if (!JSON_NODE_HOLDS_ARRAY(addn))
            return tg__error(TG_EFORMAT, "%s: added_tokens must be an array", what);
        JsonArray *arr = json_node_get_array(addn);
        guint na = json_array_get_length(arr);
        for (guint i = 0; i < na; i++) {
            char field[64];
            snprintf(field, sizeof field, "added_tokens[%u]", i);
            JsonNode *e = json_array_get_element(arr, i);
            if (!JSON_NODE_HOLDS_OBJECT(e))
                return tg__error(TG_EFORMAT, "%s: %s must be an object", what, field);
            JsonObject *o = json_node_get_object(e);
            int64_t id;
            const char *content;
            tg_status st = tg__json_get_int(&id, o, "id", what);
            if (st == TG_OK)
                st = tg__json_get_string(&content, o, "content", what);
            if (st != TG_OK)
                return tg__error_prefix("%s", field);
            st = builder_set(b, id, content, 1, get_bool(o, "special", 0), field);
            if (st != TG_OK)
                return st;
        }
    }

    /* unk_token */
    tok->unk_id = -1;
    n = json_object_get_member(model, "unk_token");
    if (n && !JSON_NODE_HOLDS_NULL(n)) {
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
            return tg__error(TG_EFORMAT, "%s: model.unk_token must be a string or null", what);
        tok->unk_id = builder_find(b, json_node_get_string(n));
        if (tok->unk_id < 0)
            return tg__error(TG_EFORMAT, "%s: model.unk_token \"%s\" is not in the vocabulary",
                             what, json_node_get_string(n));
    }

    st = builder_freeze(tok, b);
    if (st != TG_OK)
        return st;

    /* merges: "a b" strings or [a, b] pairs */
    JsonNode *mergen = json_object_get_member(model, "merges");
    guint nm = 0;
    JsonArray *marr = NULL;
    if (mergen && !JSON_NODE_HOLDS_NULL(mergen)) {
        if (!JSON_NODE_HOLDS_ARRAY(mergen))
            return tg__error(TG_EFORMAT, "%s: model.merges must be an array", what);
        marr = json_node_get_array(mergen);
        nm = json_array_get_length(marr);
    }
    st = pairmap_init(&tok->merges, nm, what);
    if (st != TG_OK)
        return st;
    for (guint i = 0; i < nm; i++) {
        char where[64];
        snprintf(where, sizeof where, "model.merges[%u]", i);
        JsonNode *e = json_array_get_element(marr, i);
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING) {
            const char *s = json_node_get_string(e);
            const char *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
                return tg__error(TG_EFORMAT,
                                 "%s: %s: \"%s\" is not two tokens separated by one space", what,
                                 where, s);
            char *l = g_strndup(s, (gsize)(sp - s));
            st = add_merge(tok, b, l, sp + 1, i, where);
            g_free(l);
        } else if (JSON_NODE_HOLDS_ARRAY(e) && json_array_get_length(json_node_get_array(e)) == 2) {
            JsonArray *pa = json_node_get_array(e);
            JsonNode *l = json_array_get_element(pa, 0), *r = json_array_get_element(pa, 1);
            if (!JSON_NODE_HOLDS_VALUE(l) || json_node_get_value_type(l) != G_TYPE_STRING ||
                !JSON_NODE_HOLDS_VALUE(r) || json_node_get_value_type(r) != G_TYPE_STRING)
                return tg__error(TG_EFORMAT, "%s: %s must be a pair of strings", what, where);
            st = add_merge(tok, b, json_node_get_string(l), json_node_get_string(r), i, where);
        } else {
            return tg__error(TG_EFORMAT, "%s: %s must be a string \"a b\" or a pair [a, b]", what,
                             where);
        }
        if (st != TG_OK)
            return st;
    }
    return TG_OK;
}

/* ---- vocab.json + merges.txt ---- */

static tg_status from_vocab_merges(tg_tokenizer *tok, JsonNode *rootn, builder *b,
                                   const char *merges_path)
{
    const char *what = b->what;
    tok->kind = TG_TOKENIZER_BYTE_BPE;
    tok->use_regex = 1;
    tok->unk_id = -1;
    if (!JSON_NODE_HOLDS_OBJECT(rootn))
        return tg__error(TG_EFORMAT, "%s: the top level must be a JSON object {token: id}", what);
    tg_status st = read_vocab(b, json_node_get_object(rootn), "vocab", 1);
    if (st != TG_OK)
        return st;
    st = builder_freeze(tok, b);
    if (st != TG_OK)
        return st;

    char *data = NULL;
    size_t len = 0;
    st = tg__file_read(&data, &len, merges_path);
    if (st != TG_OK)
        return st;
    if (strlen(data) != len) {
        free(data);
        return tg__error(TG_EFORMAT, "%s: contains a NUL byte", merges_path);
    }
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += data[i] == '\n';
    st = pairmap_init(&tok->merges, n_lines, merges_path);
    b->what = merges_path;
    char *line = data;
    uint32_t rank = 0;
    for (size_t lineno = 1; st == TG_OK && line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        char *next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (ll == 0 || (lineno == 1 && line[0] == '#')) {
            line = next;
            continue;
        }
        char where[48];
        snprintf(where, sizeof where, "line %zu", lineno);
        char *sp = strchr(line, ' ');
        if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' ')) {
            st = tg__error(TG_EFORMAT, "%s: %s: \"%s\" is not two tokens separated by one space",
                           merges_path, where, line);
            break;
        }
        *sp = '\0';
        st = add_merge(tok, b, line, sp + 1, rank++, where);
        line = next;
    }
    b->what = what;
    free(data);
    return st;
}

/* ---- entry points ---- */

static tg_status read_json(JsonParser **out, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    tg_status st = tg__file_read(&data, &len, path);
    if (st != TG_OK)
        return st;
    st = tg__json_parse(out, data, len, path);
    free(data);
    return st;
}

static tg_status check_opts(const tg_tokenizer_options *opts)
{
    if (!opts)
        return TG_OK;
    /* Every field is of the first layout, so once checked the caller's struct is read as is. */
    tg_tokenizer_options o = TG_TOKENIZER_OPTIONS_INIT;
    return tg__struct_read(&o, sizeof o, opts, TG_TOKENIZER_OPTIONS_V1_SIZE,
                           "tg_tokenizer_options");
}

/* Load from an HF tokenizer.json (merges_path NULL) or a vocab.json + merges.txt pair. */
static tg_status load_files(tg_tokenizer **out, const char *json_path, const char *merges_path,
                            const tg_tokenizer_options *opts)
{
    init_byte_map();
    JsonParser *parser = NULL;
    tg_status st = read_json(&parser, json_path);
    if (st != TG_OK)
        return st;
    tg_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        g_object_unref(parser);
        return tg__error(TG_ENOMEM, "%s: out of memory", json_path);
    }
    builder b;
    builder_init(&b, json_path);
    JsonNode *root = json_parser_get_root(parser);
    if (merges_path)
        st = from_vocab_merges(tok, root, &b, merges_path);
    else
        st = from_hf(tok, root, &b);
    builder_clear(&b);
    g_object_unref(parser);
    if (st == TG_OK) {
        char *dir = g_path_get_dirname(json_path);
        st = resolve_bos_eos(tok, dir, opts);
        g_free(dir);
    }
    if (st != TG_OK) {
        tg_tokenizer_free(tok);
        return st;
    }
    if (tok->kind == TG_TOKENIZER_BYTE_BPE)
        tok->whole_piece_exact = tg__bpe_check_whole_pieces(tok);
    tg__log(TG_LOG_INFO, "tokenizer: loaded %s (%d tokens, %u merges, %s%s)", json_path,
            tok->n_vocab, tok->merges.count,
            tok->kind == TG_TOKENIZER_BYTE_BPE ? "byte-level BPE" : "BPE",
            tok->whole_piece_exact ? ", whole-piece lookup exact" : "");
    *out = tok;
    return TG_OK;
}

tg_status tg_tokenizer_options_init(tg_tokenizer_options *opts, uint32_t struct_size)
{
    const tg_tokenizer_options d = TG_TOKENIZER_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_TOKENIZER_OPTIONS_V1_SIZE,
                           "tg_tokenizer_options");
}

tg_status tg_tokenizer_load_vocab_merges(tg_tokenizer **out, const char *vocab_path,
                                         const char *merges_path, const tg_tokenizer_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(vocab_path, "vocab_path");
    TG_CHECK_ARG(merges_path, "merges_path");
    tg_status st = check_opts(opts);
    if (st != TG_OK)
        return st;
    return load_files(out, vocab_path, merges_path, opts);
}

/* 1 if dir/name exists (whatever it is: a FIFO or a folder there is an error for the reader to
 * report, not a reason to load the model without its tokenizer). */
static int is_file(const char *dir, const char *name, char **path_out)
{
    char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_EXISTS)) {
        *path_out = p;
        return 1;
    }
    g_free(p);
    *path_out = NULL;
    return 0;
}

tg_status tg__tokenizer_load_dir(tg_tokenizer **out, const char *dir,
                                 const tg_tokenizer_options *opts, int *found)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    if (found)
        *found = 0;
    TG_CHECK_ARG(dir, "dir");
    tg_status st = check_opts(opts);
    if (st != TG_OK)
        return st;
    char *json = NULL, *vocab = NULL, *merges = NULL;
    if (is_file(dir, "tokenizer.json", &json)) {
        if (found)
            *found = 1;
        st = load_files(out, json, NULL, opts);
        g_free(json);
        return st;
    }
    static const char *const pairs[2][2] = {{"vocab.json", "merges.txt"},
                                            {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        int hv = is_file(dir, pairs[i][0], &vocab);
        int hm = is_file(dir, pairs[i][1], &merges);
        if (hv || hm) {
            if (found)
                *found = 1;
            if (hv && hm)
                st = load_files(out, vocab, merges, opts);
            else
                st = tg__error(TG_ENOTFOUND, "tokenizer in '%s': '%s' has no '%s' beside it", dir,
                               hv ? pairs[i][0] : pairs[i][1], hv ? pairs[i][1] : pairs[i][0]);
            g_free(vocab);
            g_free(merges);
            return st;
        }
    }
    return TG_OK;
}

tg_status tg_tokenizer_load(tg_tokenizer **out, const char *path, const tg_tokenizer_options *opts)
{
    TG_CHECK_ARG(out, "out");
    *out = NULL;
    TG_CHECK_ARG(path, "path");
    tg_status st = check_opts(opts);
    if (st != TG_OK)
        return st;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        int found = 0;
        st = tg__tokenizer_load_dir(out, path, opts, &found);
        if (st == TG_OK && !found)
            return tg__error(TG_ENOTFOUND,
                             "no tokenizer in '%s': expected tokenizer.json, or vocab.json + "
                             "merges.txt, or encoder.json + vocab.bpe",
                             path);
        return st;
    }
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return tg__error(TG_ENOTFOUND, "tokenizer '%s' does not exist", path);
    /* A single file: tokenizer.json, or a vocab.json / encoder.json with its merges beside it. */
    char *base = g_path_get_basename(path);
    int is_vocab = strcmp(base, "vocab.json") == 0 || strcmp(base, "encoder.json") == 0;
    g_free(base);
    if (!is_vocab)
        return load_files(out, path, NULL, opts);
    char *dir = g_path_get_dirname(path);
    char *merges = NULL;
    if (!is_file(dir, "merges.txt", &merges) && !is_file(dir, "vocab.bpe", &merges))
        st = tg__error(TG_ENOTFOUND, "'%s' has no merges.txt or vocab.bpe beside it", path);
    else
        st = load_files(out, path, merges, opts);
    g_free(merges);
    g_free(dir);
    return st;
}
