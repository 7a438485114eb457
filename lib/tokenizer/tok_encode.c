/* tokenizer/tok_encode.c — text -> ids: added/special token matching, GPT-2 pre-tokenization
 * over GLib's Unicode categories, and BPE merging by rank. */
#include "tokenizer_internal.h"
#include "core/error.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable id vector ---- */

typedef struct idvec {
    int32_t *data;
    size_t len, cap;
    int oom;
} idvec;

static int idvec_grow(idvec *v, size_t extra)
{
    if (v->cap - v->len >= extra)
        return 1;
    size_t cap = v->cap ? v->cap : 64;
    while (cap - v->len < extra) {
        if (cap > SIZE_MAX / (2 * sizeof(int32_t))) {
            v->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    int32_t *p = realloc(v->data, cap * sizeof *p);
    if (!p) {
        v->oom = 1;
        return 0;
    }
    v->data = p;
    v->cap = cap;
    return 1;
}

static inline void idvec_push(idvec *v, int32_t id)
{
    if (v->len < v->cap || idvec_grow(v, 1))
        v->data[v->len++] = id;
}

/* ---- merge lookup ---- */

static inline int pair_find(const tg__pairmap *m, int32_t a, int32_t b, uint32_t *rank,
                            int32_t *merged)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key) {
            *rank = m->ranks[i];
            *merged = m->merged[i];
            return 1;
        }
        if (!k)
            return 0;
        i = (i + 1) & m->mask;
    }
}

#define NO_RANK UINT32_MAX

/* BPE over the symbols sym[0..n): repeatedly merge the adjacent pair with the lowest rank (the
 * leftmost on ties), as GPT-2's encoder.py, tiktoken and HF tokenizers do. Small words: a
 * linear scan per merge (with cached pair ranks). Returns the new count. */
static size_t bpe_small(const tg__pairmap *m, int32_t *sym, size_t n)
{
    uint32_t rank[64];
    int32_t merged[64];
    for (size_t i = 0; i + 1 < n; i++)
        if (!pair_find(m, sym[i], sym[i + 1], &rank[i], &merged[i]))
            rank[i] = NO_RANK;
    while (n > 1) {
        uint32_t best = NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        if (best == NO_RANK)
            break;
        sym[bi] = merged[bi];
        /* remove symbol bi+1 and pair slot bi (the pair bi/bi+1 no longer exists) */
        memmove(sym + bi + 1, sym + bi + 2, (n - bi - 2) * sizeof *sym);
        if (bi + 2 < n) {
            memmove(rank + bi + 1, rank + bi + 2, (n - bi - 3) * sizeof *rank);
            memmove(merged + bi + 1, merged + bi + 2, (n - bi - 3) * sizeof *merged);
        }
        n--;
        if (bi + 1 < n && !pair_find(m, sym[bi], sym[bi + 1], &rank[bi], &merged[bi]))
            rank[bi] = NO_RANK;
        if (bi > 0 && !pair_find(m, sym[bi - 1], sym[bi], &rank[bi - 1], &merged[bi - 1]))
            rank[bi - 1] = NO_RANK;
    }
    return n;
}

/* Large words (long whitespace runs, whole char-level texts): a binary heap of candidate
 * merges over a doubly linked list, O(n log n). Entries are validated lazily when popped. */
typedef struct heap_ent {
    uint32_t rank;
    uint32_t pos; /* index of the left symbol (its start position orders ties leftmost) */
    int32_t left, right;
} heap_ent;

static inline int ent_less(const heap_ent *a, const heap_ent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, size_t *n, heap_ent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ent_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n)
{
    heap_ent top = h[0];
    heap_ent last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && ent_less(&h[c + 1], &h[c]))
            c++;
        if (!ent_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

static int bpe_large(const tg__pairmap *m, int32_t *sym, size_t n, size_t *n_out)
{
    /* Each merge pushes at most 2 entries: n - 1 initial + 2 (n - 1) later. */
    int32_t *prev = malloc(n * sizeof *prev);
    int32_t *next = malloc(n * sizeof *next);
    heap_ent *heap = malloc(3 * n * sizeof *heap);
    if (!prev || !next || !heap) {
        free(prev);
        free(next);
        free(heap);
        return 0;
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r;
        int32_t mg;
        if (pair_find(m, sym[i], sym[i + 1], &r, &mg))
            heap_push(heap, &hn, (heap_ent){r, (uint32_t)i, sym[i], sym[i + 1]});
    }
    while (hn) {
        heap_ent e = heap_pop(heap, &hn);
        int32_t i = (int32_t)e.pos, j = next[i];
        if (sym[i] != e.left || j < 0 || sym[j] != e.right)
            continue; /* stale: one side changed since it was pushed */
        uint32_t r = 0;
        int32_t mg = -1;
        pair_find(m, e.left, e.right, &r, &mg);
        sym[i] = mg;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0)
            prev[next[j]] = i;
        if (prev[i] >= 0 && pair_find(m, sym[prev[i]], sym[i], &r, &mg))
            heap_push(heap, &hn, (heap_ent){r, (uint32_t)prev[i], sym[prev[i]], sym[i]});
        if (next[i] >= 0 && pair_find(m, sym[i], sym[next[i]], &r, &mg))
            heap_push(heap, &hn, (heap_ent){r, (uint32_t)i, sym[i], sym[next[i]]});
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        sym[k++] = sym[i];
    free(prev);
    free(next);
    free(heap);
    *n_out = k;
    return 1;
}

/* For tests: 0 = as encode does, 1 = plain linear scan (any length), 2 = heap. */
int tg__bpe_merge(const tg__pairmap *m, int32_t *sym, size_t n, size_t *n_out, int algo)
{
    if (algo == 2 || (algo == 0 && n > 64))
        return bpe_large(m, sym, n, n_out);
    if (algo == 0) {
        *n_out = n < 2 ? n : bpe_small(m, sym, n);
        return 1;
    }
    for (;;) {
        uint32_t best = NO_RANK, r;
        int32_t mg, best_mg = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (pair_find(m, sym[i], sym[i + 1], &r, &mg) && r < best) {
                best = r;
                best_mg = mg;
                bi = i;
            }
        if (best == NO_RANK)
            break;
        sym[bi] = best_mg;
        memmove(sym + bi + 1, sym + bi + 2, (n - bi - 2) * sizeof *sym);
        n--;
    }
    *n_out = n;
    return 1;
}

/* Run BPE on the symbols just pushed at out[start..]; compacts them in place. */
static void bpe_tail(const tg_tokenizer *tok, idvec *out, size_t start)
{
    size_t n = out->len - start;
    if (n < 2 || tok->merges.count == 0)
        return;
    int32_t *sym = out->data + start;
    if (n <= 64) {
        out->len = start + bpe_small(&tok->merges, sym, n);
        return;
    }
    size_t k;
    if (n > (size_t)INT32_MAX || !bpe_large(&tok->merges, sym, n, &k)) {
        out->oom = 1;
        return;
    }
    out->len = start + k;
}

/* ---- byte-level: one pre-token ---- */

static inline void encode_piece_bytes(const tg_tokenizer *tok, idvec *out, const unsigned char *s,
                                      size_t n)
{
    if (n == 1) {
        idvec_push(out, tok->byte_id[s[0]]);
        return;
    }
    if (tok->ignore_merges || tok->whole_piece_exact) {
        int32_t id =
            tg__strmap_get(&tok->bytes_map, tok->bytes, tok->bytes_off, (const char *)s, n);
        if (id >= 0) {
            idvec_push(out, id);
            return;
        }
    }
    if (!idvec_grow(out, n))
        return;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++)
        out->data[out->len++] = tok->byte_id[s[i]];
    bpe_tail(tok, out, start);
}

int tg__bpe_check_whole_pieces(const tg_tokenizer *tok)
{
    idvec v = {0};
    int ok = 1;
    for (int32_t id = 0; id < tok->n_vocab && ok; id++) {
        if (tok->is_special[id])
            continue;
        const unsigned char *b = (const unsigned char *)tok->bytes + tok->bytes_off[id];
        size_t n = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
        v.len = 0;
        if (!idvec_grow(&v, n)) {
            ok = 0;
            break;
        }
        for (size_t i = 0; i < n; i++)
            v.data[v.len++] = tok->byte_id[b[i]];
        bpe_tail(tok, &v, 0);
        ok = !v.oom && v.len == 1 && v.data[0] == id;
    }
    free(v.data);
    return ok;
}

/* ---- GPT-2 pre-tokenization ----
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * \p{L}, \p{N}: GLib general categories. \s: the Unicode White_Space property (as Python's
 * `regex`, Rust's `regex`/tiktoken and Oniguruma/HF tokenizers define it) =
 * g_unichar_isspace() (Zs, Zl, Zp, \t \n \f \r) plus U+000B and U+0085. A byte that is not part
 * of well-formed UTF-8 counts as one "other" character. */

enum { C_OTHER = 0, C_LETTER = 1, C_NUMBER = 2, C_SPACE = 3 };

static uint8_t ascii_class[128];

static void init_ascii_class_once(void)
{
    for (int c = 0; c < 128; c++) {
        uint8_t k = C_OTHER;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            k = C_LETTER;
        else if (c >= '0' && c <= '9')
            k = C_NUMBER;
        else if (c == ' ' || (c >= 0x09 && c <= 0x0D))
            k = C_SPACE;
        ascii_class[c] = k;
    }
}

static void init_ascii_class(void)
{
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        init_ascii_class_once();
        g_once_init_leave(&once, 1);
    }
}

static uint8_t unichar_class(uint32_t cp)
{
    switch (g_unichar_type(cp)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
        return C_LETTER;
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
        return C_NUMBER;
    case G_UNICODE_SPACE_SEPARATOR:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return C_SPACE;
    default:
        return cp == 0x85 ? C_SPACE : C_OTHER;
    }
}

/* Class of the character at s[i] (i < n); *len receives its byte length. */
static inline uint8_t class_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = s[i];
    if (c < 0x80) {
        *len = 1;
        return ascii_class[c];
    }
    uint32_t cp;
    size_t k = tg__utf8_decode(s + i, n - i, &cp);
    if (k == 0) {
        *len = 1;
        return C_OTHER;
    }
    *len = k;
    return unichar_class(cp);
}

/* End of the run of characters of class `cls` starting at i. */
static inline size_t run_end(const unsigned char *s, size_t n, size_t i, uint8_t cls)
{
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (ascii_class[c] != cls)
                break;
            i++;
            continue;
        }
        size_t k;
        if (class_at(s, n, i, &k) != cls)
            break;
        i += k;
    }
    return i;
}

typedef void (*piece_fn)(const tg_tokenizer *tok, idvec *out, const unsigned char *s, size_t n);

static void pretokenize_gpt2(const tg_tokenizer *tok, idvec *out, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !out->oom) {
        size_t start = i, k;
        unsigned char c = s[i];
        if (c == '\'' && i + 1 < n) {
            unsigned char d = s[i + 1];
            size_t m = 0;
            if (d == 's' || d == 't' || d == 'm' || d == 'd')
                m = 2;
            else if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') ||
                                   (d == 'l' && s[i + 2] == 'l')))
                m = 3;
            if (m) {
                encode_piece_bytes(tok, out, s + i, m);
                i += m;
                continue;
            }
        }
        uint8_t cls = class_at(s, n, i, &k);
        if (cls == C_SPACE) {
            if (c == ' ' && i + 1 < n) {
                size_t k2;
                uint8_t next = class_at(s, n, i + 1, &k2);
                if (next != C_SPACE) {
                    /* " ?\p{L}+" and friends: the space prefixes the run */
                    i = run_end(s, n, i + 1 + k2, next);
                    encode_piece_bytes(tok, out, s + start, i - start);
                    continue;
                }
            }
            /* a whitespace run: \s+(?!\S) leaves its last character to the next piece */
            size_t last = i, j = i + k, nchars = 1;
            while (j < n) {
                size_t kk;
                if (class_at(s, n, j, &kk) != C_SPACE)
                    break;
                last = j;
                j += kk;
                nchars++;
            }
            if (j < n && nchars > 1)
                j = last;
            encode_piece_bytes(tok, out, s + start, j - start);
            i = j;
            continue;
        }
        i = run_end(s, n, i + k, cls);
        encode_piece_bytes(tok, out, s + start, i - start);
    }
}

/* Byte-level: encode one segment (no added tokens inside). */
static void encode_byte_segment(const tg_tokenizer *tok, idvec *out, const unsigned char *s,
                                size_t n)
{
    if (n == 0)
        return;
    unsigned char *tmp = NULL;
    if (tok->add_prefix_space && s[0] != ' ') {
        tmp = malloc(n + 1);
        if (!tmp) {
            out->oom = 1;
            return;
        }
        tmp[0] = ' ';
        memcpy(tmp + 1, s, n);
        s = tmp;
        n++;
    }
    if (tok->use_regex)
        pretokenize_gpt2(tok, out, s, n);
    else
        encode_piece_bytes(tok, out, s, n);
    free(tmp);
}

/* Plain BPE: the segment is one word of Unicode characters. */
static tg_status encode_char_segment(const tg_tokenizer *tok, idvec *out, const unsigned char *s,
                                     size_t n, size_t base)
{
    if (n == 0)
        return TG_OK;
    if (tok->ignore_merges) {
        int32_t id =
            tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, (const char *)s, n);
        if (id >= 0 && !tok->is_special[id]) {
            idvec_push(out, id);
            return TG_OK;
        }
    }
    if (!idvec_grow(out, n))
        return TG_OK;
    size_t start = out->len;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = tg__utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return tg__error(TG_EINVAL,
                             "tg_tokenizer_encode: text is not valid UTF-8 at byte offset %zu "
                             "(byte 0x%02X)",
                             base + i, s[i]);
        int32_t id =
            tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, (const char *)s + i, k);
        if (id < 0 || tok->is_special[id]) {
            if (tok->unk_id < 0) {
                char shown[8];
                memcpy(shown, s + i, k);
                shown[k] = '\0';
                return tg__error(TG_EINVAL,
                                 "tg_tokenizer_encode: character U+%04X '%s' at byte offset %zu "
                                 "is not in the vocabulary (and there is no unk_token)",
                                 (unsigned)cp, cp >= 0x20 && cp != 0x7F ? shown : "", base + i);
            }
            id = tok->unk_id;
        }
        out->data[out->len++] = id;
        i += k;
    }
    bpe_tail(tok, out, start);
    return TG_OK;
}

static tg_status encode_segment(const tg_tokenizer *tok, idvec *out, const unsigned char *s,
                                size_t n, size_t base)
{
    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        encode_byte_segment(tok, out, s, n);
        return TG_OK;
    }
    return encode_char_segment(tok, out, s, n, base);
}

static tg_status encode_all(const tg_tokenizer *tok, idvec *out, const char *text, size_t len,
                            uint32_t flags)
{
    init_ascii_class();
    const unsigned char *s = (const unsigned char *)text;
    if (flags & TG_ENCODE_ADD_BOS) {
        if (tok->bos_id < 0)
            return tg__error(TG_ESTATE, "tg_tokenizer_encode: TG_ENCODE_ADD_BOS given but the "
                                        "tokenizer has no bos token");
        idvec_push(out, tok->bos_id);
    }
    int allow_special = (flags & TG_ENCODE_ALLOW_SPECIAL) != 0;
    size_t n_match = allow_special ? tok->n_added : tok->n_added_plain;
    uint8_t first_mask = allow_special ? 1 : 2;
    size_t seg = 0;
    if (n_match) {
        for (size_t i = 0; i < len; i++) {
            if (!(tok->added_first[s[i]] & first_mask))
                continue;
            const tg__added *hit = NULL;
            for (size_t a = 0; a < tok->n_added; a++) {
                const tg__added *t = &tok->added[a];
                if ((t->special && !allow_special) || t->len > len - i)
                    continue;
                if (memcmp(s + i, t->text, t->len) == 0) {
                    hit = t;
                    break;
                }
            }
            if (!hit)
                continue;
            tg_status st = encode_segment(tok, out, s + seg, i - seg, seg);
            if (st != TG_OK)
                return st;
            idvec_push(out, hit->id);
            i += hit->len - 1;
            seg = i + 1;
        }
    }
    tg_status st = encode_segment(tok, out, s + seg, len - seg, seg);
    if (st != TG_OK)
        return st;
    if (out->oom)
        return tg__error(TG_ENOMEM, "tg_tokenizer_encode: out of memory (%zu bytes of text)", len);
    return TG_OK;
}

#define ENCODE_FLAGS (TG_ENCODE_ALLOW_SPECIAL | TG_ENCODE_ADD_BOS)

tg_status tg_tokenizer_encode(int32_t **ids_out, size_t *n_out, const tg_tokenizer *tok,
                              const char *text, size_t len, uint32_t flags)
{
    TG_CHECK_ARG(ids_out, "ids_out");
    *ids_out = NULL;
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(tok, "tok");
    TG_CHECK_ARG(text || len == 0, "text");
    if (flags & ~(uint32_t)ENCODE_FLAGS)
        return tg__error(TG_EINVAL, "tg_tokenizer_encode: unknown flags 0x%x",
                         flags & ~(uint32_t)ENCODE_FLAGS);
    if (len == TG_NUL_TERMINATED)
        len = strlen(text);
    idvec v = {0};
    tg_status st = encode_all(tok, &v, text, len, flags);
    if (st != TG_OK) {
        free(v.data);
        return st;
    }
    if (v.len == 0) {
        free(v.data);
        v.data = NULL;
    }
    *ids_out = v.data;
    *n_out = v.len;
    return TG_OK;
}

tg_status tg_tokenizer_encode_into(int32_t *ids, size_t capacity, size_t *n_out,
                                   const tg_tokenizer *tok, const char *text, size_t len,
                                   uint32_t flags)
{
    TG_CHECK_ARG(n_out, "n_out");
    *n_out = 0;
    TG_CHECK_ARG(ids || capacity == 0, "ids");
    int32_t *tmp = NULL;
    size_t n = 0;
    tg_status st = tg_tokenizer_encode(&tmp, &n, tok, text, len, flags);
    if (st != TG_OK)
        return st;
    *n_out = n;
    if (n && capacity)
        memcpy(ids, tmp, (n < capacity ? n : capacity) * sizeof *ids);
    free(tmp);
    if (n > capacity)
        return tg__error(TG_ERANGE,
                         "tg_tokenizer_encode_into: the text encodes to %zu ids, the buffer "
                         "holds %zu",
                         n, capacity);
    return TG_OK;
}
