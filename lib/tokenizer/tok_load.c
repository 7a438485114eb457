/* tokenizer/tok_load.c — reading tokenizer.json (HF: the model, its vocabulary, merges and
 * added tokens here; the other components in tok_hf.c) and vocab.json + merges.txt (GPT-2);
 * building the immutable tg_tokenizer; the loading entry points. */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"
#include "core/versioned.h"
#include "core/fileutil.h"
#include "core/json_scan.h"
#include "core/json_util.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the builder: pieces by id, merges as strings, then freeze into a tg_tokenizer ---- */

/* Flags of an id in the builder (HF's AddedToken fields). */
enum {
    ADDED = 1,
    SPECIAL = 2,
    LSTRIP = 4,
    RSTRIP = 8,
    NORMALIZED = 16 /* matched in the normalized text */
};

typedef struct builder {
    const char *what;     /* file named in messages */
    GPtrArray *pieces;    /* id -> char* (owned) or NULL */
    GByteArray *added;    /* id -> flags (grown with pieces) */
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

/* Give `piece` the id (flags: 0 for a vocabulary entry, else ADDED | ...). */
static tg_status builder_set(builder *b, int64_t id, const char *piece, int flags,
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
        if (pid == id && flags) { /* an added token restating a vocabulary entry */
            b->added->data[id] = (guint8)flags;
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
    b->added->data[id] = (guint8)flags;
    g_hash_table_insert(b->by_piece, copy, GINT_TO_POINTER((gint)id + 1));
    return TG_OK;
}

static int32_t builder_find(builder *b, const char *piece)
{
    gpointer p = g_hash_table_lookup(b->by_piece, piece);
    return p ? GPOINTER_TO_INT(p) - 1 : -1;
}

static void pairmap_free(tg__pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static tg_status pairmap_init(tg__pairmap *m, size_t n, const char *what)
{
    const uint32_t cap = tg__tok_table_cap(n, TG_TOK_PAIRMAP_FILL);
    m->cap = cap;
    m->count = 0;
    m->slots = cap ? tg__calloc(cap, sizeof *m->slots) : NULL;
    if (!m->slots) {
        pairmap_free(m);
        return tg__error(TG_ENOMEM, "%s: out of memory for %zu merges", what, n);
    }
    return TG_OK;
}

/* Insert unless present (a repeated merge keeps its first rank). */
static void pairmap_put(tg__pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = tg__pair_slot(key, m->cap);
    while (m->slots[i].key) {
        if (m->slots[i].key == key)
            return;
        if (++i == m->cap)
            i = 0;
    }
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].merged = merged;
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
    free(tok->is_added);
    free(tok->is_fallback);
    free(tok->special_ids);
    free(tok->added_raw.tok);
    free(tok->added_norm.tok);
    free(tok->added_text);
    tg__strmap_free(&tok->piece_map);
    tg__strmap_free(&tok->bytes_map);
    pairmap_free(&tok->merges);
    tg__tokenizer_free_components(tok);
    free(tok);
}

/* Each token's bytes: its piece through the decoder's per-token steps. */
static tg_status build_bytes(tg_tokenizer *tok, builder *b)
{
    guint n = (guint)tok->n_vocab;
    tg__buf arena = {0}, one = {0}, scratch = {0};
    tok->bytes_off = tg__malloc(sizeof *tok->bytes_off * (n + 1));
    if (!tok->bytes_off)
        return tg__error(TG_ENOMEM, "%s: out of memory for %u tokens", b->what, n);
    for (guint id = 0; id < n; id++) {
        const char *p = tok->pieces + tok->piece_off[id];
        size_t len = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
        tg_status st = tg__decode_token(tok, p, len, 0, &one, &scratch);
        if (st == TG_OK && (arena.len + one.len + 1 > UINT32_MAX ||
                            !tg__buf_append(&arena, one.data, one.len + 1)))
            st = tg__error(TG_ENOMEM, "%s: out of memory for %u tokens", b->what, n);
        if (st != TG_OK) {
            free(arena.data);
            free(one.data);
            free(scratch.data);
            return st;
        }
        tok->bytes_off[id] = (uint32_t)(arena.len - one.len - 1);
    }
    tok->bytes_off[n] = (uint32_t)arena.len;
    free(one.data);
    free(scratch.data);
    tok->bytes = arena.data;
    if (!tok->bytes && !(tok->bytes = tg__calloc(1, 1)))
        return tg__error(TG_ENOMEM, "%s: out of memory", b->what);
    return TG_OK;
}

static int added_longer(const void *a, const void *b)
{
    const tg__added *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void added_set_finish(tg__added_set *set)
{
    /* Longest first, so that the longest match at a position wins. */
    if (set->n)
        qsort(set->tok, set->n, sizeof *set->tok, added_longer);
    for (size_t i = 0; i < set->n; i++) {
        const tg__added *a = &set->tok[i];
        set->first[(unsigned char)a->text[0]] |= (uint8_t)(a->special ? 1 : 3);
        if (!a->special)
            set->n_plain++;
    }
}

/* The two sets of added tokens: matched in the raw text (normalized: false), or in each
 * normalized stretch, as their normalized text (normalized: true). */
static tg_status build_added(tg_tokenizer *tok, builder *b)
{
    size_t n_raw = 0, n_norm = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        int f = b->added->data[id];
        if (f & ADDED)
            (f & NORMALIZED) ? n_norm++ : n_raw++;
    }
    tok->added_raw.tok = n_raw ? tg__calloc(n_raw, sizeof(tg__added)) : NULL;
    tok->added_norm.tok = n_norm ? tg__calloc(n_norm, sizeof(tg__added)) : NULL;
    if ((n_raw && !tok->added_raw.tok) || (n_norm && !tok->added_norm.tok))
        return tg__error(TG_ENOMEM, "%s: out of memory", b->what);
    /* Normalized texts first into an arena (offsets), then pointers into it. */
    tg__buf arena = {0}, norm = {0};
    size_t *off = n_norm ? tg__calloc(n_norm, sizeof *off) : NULL;
    if (n_norm && !off)
        return tg__error(TG_ENOMEM, "%s: out of memory", b->what);
    tg_status st = TG_OK;
    for (int32_t id = 0; id < tok->n_vocab && st == TG_OK; id++) {
        int f = b->added->data[id];
        if (!(f & ADDED))
            continue;
        const char *p = tok->pieces + tok->piece_off[id];
        size_t len = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
        tg__added a = {id, (f & SPECIAL) != 0, (f & LSTRIP) != 0, (f & RSTRIP) != 0, p, len};
        if (!(f & NORMALIZED)) {
            tok->added_raw.tok[tok->added_raw.n++] = a;
            continue;
        }
        const unsigned char *t;
        size_t m;
        st = tg__normalize(tok, (const unsigned char *)p, len, &norm, &t, &m);
        if (st == TG_OK && m == 0)
            st = tg__error(TG_EFORMAT, "%s: added token %d \"%s\" normalizes to nothing", b->what,
                           id, p);
        if (st == TG_OK) {
            off[tok->added_norm.n] = arena.len;
            a.len = m;
            if (!tg__buf_append(&arena, t, m))
                st = tg__error(TG_ENOMEM, "%s: out of memory", b->what);
            tok->added_norm.tok[tok->added_norm.n++] = a;
        }
    }
    free(norm.data);
    if (st == TG_OK) {
        tok->added_text = arena.data;
        for (size_t i = 0; i < tok->added_norm.n; i++)
            tok->added_norm.tok[i].text = tok->added_text + off[i];
        added_set_finish(&tok->added_raw);
        added_set_finish(&tok->added_norm);
    } else {
        free(arena.data);
    }
    free(off);
    return st;
}

/* Freeze the builder into `tok` (kind and components already read). */
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
    tok->pieces = tg__malloc(total);
    tok->piece_off = tg__malloc(sizeof *tok->piece_off * (n + 1));
    tok->is_special = tg__calloc(n, 1);
    tok->is_added = tg__calloc(n, 1);
    if (!tok->pieces || !tok->piece_off || !tok->is_special || !tok->is_added)
        return tg__error(TG_ENOMEM, "%s: out of memory for %u tokens", what, n);
    size_t po = 0;
    for (guint id = 0; id < n; id++) {
        const char *p = g_ptr_array_index(b->pieces, id);
        size_t len = strlen(p);
        tok->piece_off[id] = (uint32_t)po;
        memcpy(tok->pieces + po, p, len + 1);
        po += len + 1;
        int f = b->added->data[id];
        tok->is_added[id] = (f & ADDED) != 0;
        tok->is_special[id] = (f & SPECIAL) != 0;
    }
    tok->piece_off[n] = (uint32_t)po;
    tg_status st = build_bytes(tok, b);
    if (st != TG_OK)
        return st;

    st = tg__strmap_build(&tok->piece_map, tok->pieces, tok->piece_off, (int32_t)n, NULL);
    if (st == TG_OK)
        st = tg__strmap_build(&tok->bytes_map, tok->bytes, tok->bytes_off, (int32_t)n,
                              tok->is_added);
    if (st != TG_OK)
        return st;

    size_t n_special = 0;
    for (guint id = 0; id < n; id++)
        n_special += tok->is_special[id];
    if (n_special) {
        tok->special_ids = tg__malloc(sizeof *tok->special_ids * n_special);
        if (!tok->special_ids)
            return tg__error(TG_ENOMEM, "%s: out of memory", what);
        for (guint id = 0; id < n; id++)
            if (tok->is_special[id])
                tok->special_ids[tok->n_special++] = (int32_t)id;
    }
    if ((st = build_added(tok, b)) != TG_OK)
        return st;

    if (!(tok->is_fallback = tg__calloc(n, 1)))
        return tg__error(TG_ENOMEM, "%s: out of memory", what);
    for (int by = 0; by < 256; by++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", by);
        int32_t id = builder_find(b, name);
        tok->fallback_id[by] = id >= 0 && !(b->added->data[id] & ADDED) ? id : -1;
        if (tok->fallback_id[by] >= 0 && tok->byte_fallback)
            tok->is_fallback[id] = 1;
    }
    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        for (int by = 0; by < 256; by++) {
            char utf8[8];
            int k = g_unichar_to_utf8(tg__byte_to_cp[by], utf8);
            utf8[k] = '\0';
            int32_t id = builder_find(b, utf8);
            if (id < 0 || (b->added->data[id] & ADDED))
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

/* Read the object {piece: id} at the scanner's position, in file order (so messages name the
 * first duplicate), straight into the builder: no tree of 50k nodes. In vocab.json, GPT-2's
 * <|endoftext|> is the one special token (eot_special). A key repeated in the object is refused
 * with the message every other JSON object of the library gives (tg__json_parse). */
static tg_status read_vocab(builder *b, tg__json_scan *s, const char *field, int eot_special)
{
    char sb[64];
    int more;
    tg_status st = tg__json_scan_object(s);
    while (st == TG_OK && (st = tg__json_scan_member(s, &more)) == TG_OK && more) {
        const char *key = s->key.data;
        if (strlen(key) != s->key.len)
            return tg__error(TG_EFORMAT, "%s: %s: token \"%s\" contains a NUL character", b->what,
                             field, show(key, sb, sizeof sb));
        if (builder_find(b, key) >= 0)
            return tg__error(TG_EFORMAT, "%s: key \"%s\" appears twice in one object", b->what,
                             show(key, sb, sizeof sb));
        int kind, is_int = 0;
        int64_t id = 0;
        if ((st = tg__json_scan_peek(s, &kind)) != TG_OK)
            return st;
        if (kind == TG__JSON_NUMBER && (st = tg__json_scan_number(s, &id, &is_int)) != TG_OK)
            return st;
        if (!is_int)
            return tg__error(TG_EFORMAT, "%s: %s: the id of \"%s\" is not an integer", b->what,
                             field, show(key, sb, sizeof sb));
        int special = eot_special && strcmp(key, "<|endoftext|>") == 0;
        st = builder_set(b, id, key, special ? ADDED | SPECIAL : 0, field);
    }
    return st;
}

/* One merge "a b" (a string) or ["a", "b"] (a pair) at the scanner's position. */
static tg_status read_merge(tg_tokenizer *tok, builder *b, tg__json_scan *s, tg__buf *left,
                            uint32_t i)
{
    const char *what = b->what;
    char where[64];
    snprintf(where, sizeof where, "model.merges[%u]", i);
    int kind;
    tg_status st = tg__json_scan_peek(s, &kind);
    if (st != TG_OK)
        return st;
    if (kind == TG__JSON_STRING) {
        if ((st = tg__json_scan_string(s)) != TG_OK)
            return st;
        char *str = s->str.data;
        char *sp = strchr(str, ' ');
        if (strlen(str) != s->str.len || !sp || sp == str || !sp[1] || strchr(sp + 1, ' '))
            return tg__error(TG_EFORMAT, "%s: %s: \"%s\" is not two tokens separated by one space",
                             what, where, str);
        *sp = '\0';
        return add_merge(tok, b, str, sp + 1, i, where);
    }
    if (kind != TG__JSON_ARRAY)
        return tg__error(TG_EFORMAT, "%s: %s must be a string \"a b\" or a pair [a, b]", what,
                         where);
    /* [a, b]: the left string is kept in `left` while the right one is read */
    int n = 0, strings = 0, more;
    if ((st = tg__json_scan_array(s)) != TG_OK)
        return st;
    while ((st = tg__json_scan_element(s, &more)) == TG_OK && more) {
        if ((st = tg__json_scan_peek(s, &kind)) != TG_OK)
            return st;
        if (kind == TG__JSON_STRING && n < 2) {
            if ((st = tg__json_scan_string(s)) != TG_OK)
                return st;
            strings += strlen(s->str.data) == s->str.len;
            if (n == 0) {
                left->len = 0;
                if (!tg__buf_append(left, s->str.data, s->str.len + 1))
                    return tg__error(TG_ENOMEM, "%s: out of memory", what);
            }
        } else if ((st = tg__json_scan_skip(s)) != TG_OK) {
            return st;
        }
        n++;
    }
    if (st != TG_OK)
        return st;
    if (n != 2)
        return tg__error(TG_EFORMAT, "%s: %s must be a string \"a b\" or a pair [a, b]", what,
                         where);
    if (strings != 2)
        return tg__error(TG_EFORMAT, "%s: %s must be a pair of strings", what, where);
    return add_merge(tok, b, left->data, s->str.data, i, where);
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

/* Optional boolean: absent or null -> dflt; another type is an error naming the field. */
static tg_status get_bool(int *out, JsonObject *o, const char *key, int dflt, const char *what,
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

/* added_tokens: {id, content, special, lstrip, rstrip, normalized, single_word}. */
static tg_status read_added_tokens(builder *b, JsonObject *root)
{
    const char *what = b->what;
    JsonNode *addn = json_object_get_member(root, "added_tokens");
    if (!addn || JSON_NODE_HOLDS_NULL(addn))
        return TG_OK;
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
        int special, lstrip, rstrip, normalized, single_word;
        if ((st = get_bool(&special, o, "special", 0, what, field)) != TG_OK ||
            (st = get_bool(&lstrip, o, "lstrip", 0, what, field)) != TG_OK ||
            (st = get_bool(&rstrip, o, "rstrip", 0, what, field)) != TG_OK ||
            (st = get_bool(&normalized, o, "normalized", !special, what, field)) != TG_OK ||
            (st = get_bool(&single_word, o, "single_word", 0, what, field)) != TG_OK)
            return st;
        if (single_word)
            return tg__error(TG_EUNSUPPORTED,
                             "%s: %s (\"%s\"): single_word = true is not supported", what, field,
                             content);
        int flags = ADDED | (special ? SPECIAL : 0) | (lstrip ? LSTRIP : 0) |
                    (rstrip ? RSTRIP : 0) | (normalized ? NORMALIZED : 0);
        if ((st = builder_set(b, id, content, flags, field)) != TG_OK)
            return st;
    }
    return TG_OK;
}

/* model: type, options, vocab, unk_token (merges come after the vocabulary is frozen). */
static tg_status read_model_options(tg_tokenizer *tok, JsonObject *model, const char *what)
{
    tg_status st;
    int byte_fallback, fuse_unk, ignore_merges;
    if ((st = get_bool(&byte_fallback, model, "byte_fallback", 0, what, "model")) != TG_OK ||
        (st = get_bool(&fuse_unk, model, "fuse_unk", 0, what, "model")) != TG_OK ||
        (st = get_bool(&ignore_merges, model, "ignore_merges", 0, what, "model")) != TG_OK)
        return st;
    tok->byte_fallback = byte_fallback;
    tok->fuse_unk = fuse_unk;
    tok->ignore_merges = ignore_merges;
    if (byte_fallback && tok->kind == TG_TOKENIZER_BYTE_BPE)
        return tg__error(TG_EUNSUPPORTED,
                         "%s: model.byte_fallback = true with a ByteLevel pre_tokenizer is not "
                         "supported",
                         what);
    const char *sfx[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        JsonNode *n = json_object_get_member(model, sfx[i]);
        if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
            json_node_get_string(n)[0])
            return tg__error(TG_EUNSUPPORTED, "%s: model.%s is not supported", what, sfx[i]);
    }
    JsonNode *n = json_object_get_member(model, "dropout");
    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_double(n) > 0.0)
        return tg__error(TG_EUNSUPPORTED, "%s: model.dropout > 0 is not supported", what);
    return TG_OK;
}

/* Where model.vocab and model.merges are in tokenizer.json's text: read by the scanner, while
 * the rest of the file (small) goes through json-glib without them. */
typedef struct big_members {
    const char *data;
    size_t len;
    size_t at[2], end[2]; /* [0] model.vocab, [1] model.merges: the value's bytes */
    int kind[2];          /* TG__JSON_*, 0 when absent */
    uint32_t n_merges;    /* elements of model.merges when it is an array */
} big_members;

static tg_status from_hf(tg_tokenizer *tok, JsonNode *rootn, builder *b, const big_members *big)
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

    /* normalizer, pre_tokenizer (which makes the tokenizer byte-level or not), decoder */
    tg_status st;
    if ((st = tg__hf_read_normalizer(tok, json_object_get_member(root, "normalizer"), what)) !=
            TG_OK ||
        (st = tg__hf_read_pre_tokenizer(tok, json_object_get_member(root, "pre_tokenizer"),
                                        what)) != TG_OK ||
        (st = tg__hf_read_decoder(tok, json_object_get_member(root, "decoder"), what)) != TG_OK ||
        (st = read_model_options(tok, model, what)) != TG_OK)
        return st;

    /* vocab */
    JsonNode *vocabn = json_object_get_member(model, "vocab");
    if (!vocabn || !JSON_NODE_HOLDS_OBJECT(vocabn))
        return tg__error(TG_EFORMAT, "%s: model.vocab must be an object {token: id}", what);
    tg__json_scan s;
    tg__json_scan_init(&s, big->data, big->len, what);
    s.pos = big->at[0];
    st = read_vocab(b, &s, "model.vocab", 0);
    tg__json_scan_clear(&s);
    if (st != TG_OK || (st = read_added_tokens(b, root)) != TG_OK)
        return st;

    /* unk_token */
    tok->unk_id = -1;
    JsonNode *n = json_object_get_member(model, "unk_token");
    if (n && !JSON_NODE_HOLDS_NULL(n)) {
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
            return tg__error(TG_EFORMAT, "%s: model.unk_token must be a string or null", what);
        tok->unk_id = builder_find(b, json_node_get_string(n));
        if (tok->unk_id < 0)
            return tg__error(TG_EFORMAT, "%s: model.unk_token \"%s\" is not in the vocabulary",
                             what, json_node_get_string(n));
    }

    if ((st = builder_freeze(tok, b)) != TG_OK ||
        (st = tg__hf_read_post_processor(tok, json_object_get_member(root, "post_processor"),
                                         what)) != TG_OK)
        return st;

    /* merges: "a b" strings or [a, b] pairs */
    JsonNode *mergen = json_object_get_member(model, "merges");
    uint32_t nm = 0;
    if (mergen && !JSON_NODE_HOLDS_NULL(mergen)) {
        if (!JSON_NODE_HOLDS_ARRAY(mergen))
            st = tg__error(TG_EFORMAT, "%s: model.merges must be an array", what);
        nm = big->n_merges;
    }
    if (st == TG_OK)
        st = pairmap_init(&tok->merges, nm, what);
    if (st == TG_OK && nm) {
        tg__buf left = {0};
        int more;
        tg__json_scan_init(&s, big->data, big->len, what);
        s.pos = big->at[1];
        st = tg__json_scan_array(&s);
        for (uint32_t i = 0; st == TG_OK && i < nm; i++)
            if ((st = tg__json_scan_element(&s, &more)) == TG_OK)
                st = read_merge(tok, b, &s, &left, i);
        free(left.data);
    }
    tg__json_scan_clear(&s);
    return st;
}

/* Find model.vocab and model.merges (checking the whole text's grammar on the way) and count
 * the merges. A second "model", or a second "vocab" or "merges" in it, is refused here: the
 * rest of the checks (json-glib's) only see the text without them. */
static tg_status find_big_members(big_members *big, const char *data, size_t len, const char *what)
{
    static const char *const names[2] = {"vocab", "merges"};
    memset(big, 0, sizeof *big);
    big->data = data;
    big->len = len;
    tg__json_scan s;
    tg__json_scan_init(&s, data, len, what);
    int kind, more, seen_model = 0;
    tg_status st = tg__json_scan_peek(&s, &kind);
    if (st == TG_OK && kind != TG__JSON_OBJECT)
        st = tg__json_scan_skip(&s); /* not a tokenizer: from_hf says so */
    else if (st == TG_OK)
        st = tg__json_scan_object(&s);
    while (st == TG_OK && kind == TG__JSON_OBJECT &&
           (st = tg__json_scan_member(&s, &more)) == TG_OK && more) {
        int mkind;
        if (strcmp(s.key.data, "model") != 0 || (st = tg__json_scan_peek(&s, &mkind)) != TG_OK ||
            mkind != TG__JSON_OBJECT) {
            if (st == TG_OK)
                st = tg__json_scan_skip(&s);
            continue;
        }
        if (seen_model++) {
            st = tg__error(TG_EFORMAT, "%s: key \"model\" appears twice in one object", what);
            break;
        }
        st = tg__json_scan_object(&s);
        while (st == TG_OK && (st = tg__json_scan_member(&s, &more)) == TG_OK && more) {
            int w = strcmp(s.key.data, names[0]) == 0   ? 0
                    : strcmp(s.key.data, names[1]) == 0 ? 1
                                                        : -1;
            if (w < 0) {
                st = tg__json_scan_skip(&s);
                continue;
            }
            if (big->kind[w]) {
                st = tg__error(TG_EFORMAT, "%s: key \"%s\" appears twice in one object", what,
                               names[w]);
                break;
            }
            if ((st = tg__json_scan_peek(&s, &big->kind[w])) != TG_OK)
                break;
            big->at[w] = s.pos;
            if (w == 1 && big->kind[w] == TG__JSON_ARRAY) {
                st = tg__json_scan_array(&s);
                while (st == TG_OK && (st = tg__json_scan_element(&s, &more)) == TG_OK && more) {
                    if (big->n_merges == UINT32_MAX - 1)
                        st = tg__error(TG_EFORMAT, "%s: model.merges is too long", what);
                    else if ((st = tg__json_scan_skip(&s)) == TG_OK)
                        big->n_merges++;
                }
            } else {
                st = tg__json_scan_skip(&s);
            }
            big->end[w] = s.pos;
        }
    }
    if (st == TG_OK)
        st = tg__json_scan_end(&s);
    tg__json_scan_clear(&s);
    return st;
}

/* tokenizer.json: json-glib reads the text with model.vocab and model.merges replaced by {} and
 * [] (when they are an object and an array; anything else is left for from_hf to refuse), the
 * scanner reads those two where they are. */
static tg_status load_hf(tg_tokenizer *tok, builder *b, const char *data, size_t len)
{
    big_members big;
    tg_status st = find_big_members(&big, data, len, b->what);
    if (st != TG_OK)
        return st;
    static const char *const empty[2] = {"{}", "[]"};
    static const int want[2] = {TG__JSON_OBJECT, TG__JSON_ARRAY};
    int first = big.at[0] <= big.at[1] ? 0 : 1;
    char *rest = tg__malloc(len + 1); /* {} and [] are no longer than the values they stand for */
    if (!rest)
        return tg__enomem(b->what, len + 1);
    size_t from = 0, n = 0;
    for (int k = 0; k < 2; k++) {
        int w = k == 0 ? first : 1 - first;
        if (big.kind[w] != want[w])
            continue;
        memcpy(rest + n, data + from, big.at[w] - from);
        n += big.at[w] - from;
        memcpy(rest + n, empty[w], 2);
        n += 2;
        from = big.end[w];
    }
    memcpy(rest + n, data + from, len - from);
    n += len - from;
    rest[n] = '\0';
    JsonParser *parser = NULL;
    st = tg__json_parse(&parser, rest, n, b->what);
    free(rest);
    if (st != TG_OK)
        return st;
    st = from_hf(tok, json_parser_get_root(parser), b, &big);
    g_object_unref(parser);
    return st;
}

/* ---- vocab.json + merges.txt ---- */

static tg_status from_vocab_merges(tg_tokenizer *tok, const char *data, size_t len, builder *b,
                                   const char *merges_path)
{
    const char *what = b->what;
    /* GPT-2: ByteLevel pre-tokenizer (its regex, no prefix space) and decoder */
    tok->kind = TG_TOKENIZER_BYTE_BPE;
    tok->unk_id = -1;
    tok->pre = tg__calloc(1, sizeof *tok->pre);
    tok->dec = tg__calloc(1, sizeof *tok->dec);
    if (!tok->pre || !tok->dec)
        return tg__error(TG_ENOMEM, "%s: out of memory", what);
    tok->pre[tok->n_pre++] = (tg__pretok){.kind = TG__PRE_BYTELEVEL, .use_regex = 1};
    tok->dec[tok->n_dec++].kind = TG__DEC_BYTELEVEL;
    tg__json_scan s;
    tg__json_scan_init(&s, data, len, what);
    int kind;
    tg_status st = tg__json_scan_peek(&s, &kind);
    if (st == TG_OK && kind != TG__JSON_OBJECT && (st = tg__json_scan_skip(&s)) == TG_OK &&
        (st = tg__json_scan_end(&s)) == TG_OK)
        st = tg__error(TG_EFORMAT, "%s: the top level must be a JSON object {token: id}", what);
    if (st == TG_OK && (st = read_vocab(b, &s, "vocab", 1)) == TG_OK)
        st = tg__json_scan_end(&s);
    tg__json_scan_clear(&s);
    if (st != TG_OK)
        return st;
    st = builder_freeze(tok, b);
    if (st != TG_OK)
        return st;

    char *mdata = NULL;
    size_t mlen = 0;
    st = tg__file_read(&mdata, &mlen, merges_path);
    if (st != TG_OK)
        return st;
    if (strlen(mdata) != mlen) {
        free(mdata);
        return tg__error(TG_EFORMAT, "%s: contains a NUL byte", merges_path);
    }
    size_t n_lines = 1;
    for (size_t i = 0; i < mlen; i++)
        n_lines += mdata[i] == '\n';
    st = pairmap_init(&tok->merges, n_lines, merges_path);
    b->what = merges_path;
    char *line = mdata;
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
    free(mdata);
    return st;
}

/* ---- entry points ---- */

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
    tg__byte_map_init();
    char *data = NULL;
    size_t len = 0;
    tg_status st = tg__file_read(&data, &len, json_path);
    if (st != TG_OK)
        return st;
    tg_tokenizer *tok = tg__calloc(1, sizeof *tok);
    if (!tok) {
        free(data);
        return tg__error(TG_ENOMEM, "%s: out of memory", json_path);
    }
    builder b;
    builder_init(&b, json_path);
    if (merges_path)
        st = from_vocab_merges(tok, data, len, &b, merges_path);
    else
        st = load_hf(tok, &b, data, len);
    builder_clear(&b);
    free(data);
    if (st == TG_OK) {
        char *dir = g_path_get_dirname(json_path);
        st = tg__config_apply(tok, dir, opts);
        g_free(dir);
    }
    if (st != TG_OK) {
        tg_tokenizer_free(tok);
        return st;
    }
    tok->whole_piece_exact = tg__bpe_check_whole_pieces(tok);
    tg__bpe_find_word_cut(tok);
    tg__log(TG_LOG_INFO, "tokenizer: loaded %s (%d tokens, %u merges, %s%s)", json_path,
            tok->n_vocab, tok->merges.count,
            tok->kind == TG_TOKENIZER_BYTE_BPE ? "byte-level BPE" : "BPE",
            tok->whole_piece_exact ? ", whole-piece lookup exact" : "");
    *out = tok;
    return TG_OK;
}

tg_status tg_tokenizer_options_init(tg_tokenizer_options *opts, uint32_t struct_size)
{
    tg_error_clear();
    const tg_tokenizer_options d = TG_TOKENIZER_OPTIONS_INIT;
    return tg__struct_init(opts, struct_size, &d, sizeof d, TG_TOKENIZER_OPTIONS_V1_SIZE,
                           "tg_tokenizer_options");
}

tg_status tg_tokenizer_load_vocab_merges(tg_tokenizer **out, const char *vocab_path,
                                         const char *merges_path, const tg_tokenizer_options *opts)
{
    tg_error_clear();
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
    tg_error_clear();
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
