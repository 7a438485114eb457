/* tokenizer/tok_bpe.c — the BPE model: a word (a piece of pre-tokenized text) becomes symbols
 * (byte-level: its bytes; otherwise its characters, with HF's byte fallback and unk rules), then
 * the adjacent pair with the lowest merge rank (leftmost on ties) is merged until none has a
 * rank, as GPT-2's encoder.py, tiktoken and HF tokenizers do. */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- merge lookup ---- */

static inline int pair_find(const tg__pairmap *m, int32_t a, int32_t b, uint32_t *rank,
                            int32_t *merged)
{
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t i = tg__pair_slot(key, m->cap);
    for (;;) {
        const tg__pairslot *slot = &m->slots[i];
        uint64_t k = slot->key;
        if (k == key) {
            *rank = slot->rank;
            *merged = slot->merged;
            return 1;
        }
        if (!k)
            return 0;
        if (++i == m->cap)
            i = 0;
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
    int32_t *prev = tg__malloc(n * sizeof *prev);
    int32_t *next = tg__malloc(n * sizeof *next);
    heap_ent *heap = tg__malloc(3 * n * sizeof *heap);
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
void tg__bpe_tail(const tg_tokenizer *tok, tg__idvec *out, size_t start)
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

/* ---- plain BPE: characters ---- */

/* The id of a character (or of a word with ignore_merges) in the model's vocabulary; added
 * tokens are matched in the text, never produced by the model. */
static inline int32_t model_piece(const tg_tokenizer *tok, const unsigned char *s, size_t n)
{
    int32_t id = tg__strmap_get(&tok->piece_map, tok->pieces, tok->piece_off, (const char *)s, n);
    return id >= 0 && !tok->is_added[id] ? id : -1;
}

/* A character the vocabulary lacks and there is no unk_token for: name it and where it is. */
static void missing_char(tg__enc *e, const unsigned char *c, size_t k, uint32_t cp)
{
    char shown[8] = "";
    if (k < sizeof shown && cp >= 0x20 && cp != 0x7F) {
        memcpy(shown, c, k);
        shown[k] = '\0';
    }
    const unsigned char *at = memmem(e->text, e->text_len, c, k);
    if (at)
        e->st = tg__error(TG_EINVAL,
                          "tg_tokenizer_encode: character U+%04X '%s' at byte offset %zu is not "
                          "in the vocabulary (and there is no unk_token)",
                          (unsigned)cp, shown, (size_t)(at - e->text));
    else
        e->st = tg__error(TG_EINVAL,
                          "tg_tokenizer_encode: character U+%04X '%s' (written by the normalizer "
                          "or pre-tokenizer) is not in the vocabulary (and there is no unk_token)",
                          (unsigned)cp, shown);
}

/* HF's BPE::merge_word: each character is a symbol; one the vocabulary lacks becomes its
 * <0xNN> byte tokens (byte_fallback, when all exist), else unk (consecutive ones fused into one
 * with fuse_unk). Like HF, a pending unk is written only when a known character or the end
 * follows. A byte that is not part of well-formed UTF-8 (accepted only with byte_fallback) is a
 * character of its own that no vocabulary holds. */
static void encode_char_word(tg__enc *e, const unsigned char *s, size_t n, int lookup)
{
    const tg_tokenizer *tok = e->tok;
    tg__idvec *out = &e->out;
    /* ignore_merges: HF looks the word up in the whole vocabulary (byte tokens too); the
     * whole-piece lookup must give what merging gives, which is never a byte token */
    if ((lookup && tok->ignore_merges) || tok->whole_piece_exact) {
        int32_t id = model_piece(tok, s, n);
        if (id >= 0 && ((lookup && tok->ignore_merges) || !tok->is_fallback[id])) {
            tg__idvec_push(out, id);
            return;
        }
    }
    if (!tg__idvec_grow(out, n))
        return;
    size_t start = out->len;
    int unk_pending = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t k = tg__utf8_decode(s + i, n - i, &cp);
        int32_t id = -1;
        if (k == 0) {
            k = 1;
            cp = s[i];
        } else {
            id = model_piece(tok, s + i, k);
        }
        if (id >= 0) {
            if (unk_pending)
                out->data[out->len++] = tok->unk_id;
            unk_pending = 0;
            out->data[out->len++] = id;
            i += k;
            continue;
        }
        if (tok->byte_fallback) {
            size_t q = 0;
            while (q < k && tok->fallback_id[s[i + q]] >= 0)
                q++;
            if (q == k) {
                for (q = 0; q < k; q++)
                    out->data[out->len++] = tok->fallback_id[s[i + q]];
                i += k;
                continue;
            }
        }
        if (tok->unk_id < 0) {
            missing_char(e, s + i, k, cp);
            return;
        }
        if (unk_pending && !tok->fuse_unk)
            out->data[out->len++] = tok->unk_id;
        unk_pending = 1;
        i += k;
    }
    if (unk_pending)
        out->data[out->len++] = tok->unk_id;
    tg__bpe_tail(tok, out, start);
}

/* SentencePiece-style vocabularies write a space as "▁" (U+2581) and only at the start of a
 * token (or in a run of them): no merge can join a character to a "▁" after it. Then cutting a
 * long word before each "▁" that follows another character gives the same ids (BPE never merges
 * across the cut, and the merge order within each part is the same) in O(n) instead of one heap
 * over the whole text, which is what HF's Llama 2 files give the model without a pre-tokenizer.
 * Verified for the loaded vocabulary, as tg__bpe_check_whole_pieces() is. */
void tg__bpe_find_word_cut(tg_tokenizer *tok)
{
    tok->cut_len = 0;
    if (tok->kind != TG_TOKENIZER_BPE)
        return;
    const char *cut = NULL;
    for (size_t k = 0; k < tok->n_norms; k++)
        if (tok->norms[k].kind == TG__NORM_REPLACE && !tok->norms[k].re &&
            strcmp(tok->norms[k].str, " ") == 0)
            cut = tok->norms[k].with;
    for (size_t k = 0; k < tok->n_pre; k++)
        if (tok->pre[k].kind == TG__PRE_METASPACE)
            cut = tok->pre[k].rep;
    size_t len = cut ? strlen(cut) : 0;
    uint32_t cp;
    if (!len || len >= sizeof tok->cut ||
        tg__utf8_decode((const unsigned char *)cut, len, &cp) != len ||
        model_piece(tok, (const unsigned char *)cut, len) < 0)
        return;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->is_added[id])
            continue;
        const char *p = tok->pieces + tok->piece_off[id];
        size_t n = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
        for (const char *h = memmem(p, n, cut, len); h;
             h = memmem(h + len, n - (size_t)(h + len - p), cut, len))
            if (h > p && (h - p < (ptrdiff_t)len || memcmp(h - len, cut, len) != 0))
                return; /* some token has "x▁" */
    }
    memcpy(tok->cut, cut, len + 1);
    tok->cut_len = len;
}

/* The whole-piece lookup (a word that is itself a token is that token, without merging) is
 * exact when every token of the model's vocabulary encodes to itself: checked once at load time
 * (GPT-2: 8 ms). Byte-fallback tokens are left out: only byte fallback produces them. */
int tg__bpe_check_whole_pieces(tg_tokenizer *tok)
{
    tg__enc e = {tok, {0}, TG_OK, NULL, 0, 0};
    int ok = 1;
    tok->whole_piece_exact = 0; /* merge everything while checking */
    for (int32_t id = 0; id < tok->n_vocab && ok; id++) {
        if (tok->is_added[id] || (tok->kind == TG_TOKENIZER_BPE && tok->is_fallback[id]))
            continue;
        e.out.len = 0;
        if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
            const unsigned char *b = (const unsigned char *)tok->bytes + tok->bytes_off[id];
            size_t n = tok->bytes_off[id + 1] - tok->bytes_off[id] - 1;
            if (!tg__idvec_grow(&e.out, n))
                break;
            for (size_t i = 0; i < n; i++)
                e.out.data[e.out.len++] = tok->byte_id[b[i]];
            tg__bpe_tail(tok, &e.out, 0);
        } else {
            const unsigned char *p = (const unsigned char *)tok->pieces + tok->piece_off[id];
            e.text = p;
            e.text_len = tok->piece_off[id + 1] - tok->piece_off[id] - 1;
            encode_char_word(&e, p, e.text_len, 0);
        }
        ok = e.st == TG_OK && !e.out.oom && e.out.len == 1 && e.out.data[0] == id;
    }
    free(e.out.data);
    return ok && e.st == TG_OK;
}

void tg__encode_word(tg__enc *e, const unsigned char *s, size_t n)
{
    const tg_tokenizer *tok = e->tok;
    if (tok->kind == TG_TOKENIZER_BYTE_BPE) {
        tg__encode_bytes_word(tok, &e->out, s, n);
        return;
    }
    if (!tok->cut_len) {
        encode_char_word(e, s, n, 1);
        return;
    }
    /* ignore_merges looks the whole word up; the parts are then merged, never looked up */
    if (tok->ignore_merges) {
        int32_t id = model_piece(tok, s, n);
        if (id >= 0) {
            tg__idvec_push(&e->out, id);
            return;
        }
    }
    const size_t len = tok->cut_len;
    size_t start = 0;
    const unsigned char *h = memmem(s + 1, n - 1, tok->cut, len);
    while (h && tg__enc_ok(e)) {
        size_t p = (size_t)(h - s);
        if (p > start && (p < len || memcmp(s + p - len, tok->cut, len) != 0)) {
            encode_char_word(e, s + start, p - start, 0);
            start = p;
        }
        h = p + len < n ? memmem(s + p + len, n - p - len, tok->cut, len) : NULL;
    }
    if (tg__enc_ok(e))
        encode_char_word(e, s + start, n - start, 0);
}
