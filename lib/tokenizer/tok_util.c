/* tokenizer/tok_util.c — hashing, the piece -> id map, growable id vectors, UTF-8 decoding, the
 * replacement (U+FFFD) policy shared by decode and the streaming detokenizer, White_Space, and
 * GPT-2's byte alphabet. */
#include "core/alloc.h"
#include "tokenizer_internal.h"
#include "core/error.h"

#include <glib.h>

#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 bytes_to_unicode() ---- */

uint16_t tg__byte_to_cp[256];
static int16_t cp_to_byte[324]; /* the code points used are all < 324 */

static void byte_map_init_once(void)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        tg__byte_to_cp[b] = (uint16_t)(printable ? b : 256 + n++);
    }
    for (int c = 0; c < 324; c++)
        cp_to_byte[c] = -1;
    for (int b = 0; b < 256; b++)
        cp_to_byte[tg__byte_to_cp[b]] = (int16_t)b;
}

void tg__byte_map_init(void)
{
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        byte_map_init_once();
        g_once_init_leave(&once, 1);
    }
}

int tg__cp_to_byte(uint32_t cp)
{
    return cp < 324 ? cp_to_byte[cp] : -1;
}

int tg__is_white_space(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (g_unichar_type(cp)) {
    case G_UNICODE_SPACE_SEPARATOR:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return 1;
    default:
        return cp == 0x85;
    }
}

uint32_t tg__tok_hash(const void *data, size_t len)
{
    /* FNV-1a, 32 bit, with a final avalanche: keys are short (1-30 bytes). */
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

tg_status tg__strmap_build(tg__strmap *m, const char *arena, const uint32_t *off, int32_t n,
                           const uint8_t *skip)
{
    const uint32_t cap = tg__tok_table_cap(n > 0 ? (uint64_t)n : 0, TG_TOK_STRMAP_FILL);
    m->cap = cap;
    m->slots = cap ? tg__malloc_array(cap, sizeof *m->slots) : NULL;
    if (!m->slots) {
        tg__strmap_free(m);
        return tg__error(TG_ENOMEM, "tokenizer: out of memory building the vocabulary index");
    }
    for (uint32_t i = 0; i < cap; i++)
        m->slots[i].id = -1;
    for (int32_t id = 0; id < n; id++) {
        if (skip && skip[id])
            continue;
        const char *s = arena + off[id];
        size_t len = off[id + 1] - off[id] - 1;
        uint32_t h = tg__tok_hash(s, len);
        uint32_t i = tg__tok_table_slot(h, cap);
        for (;;) {
            tg__strslot *sl = &m->slots[i];
            const int32_t o = sl->id;
            if (o < 0) {
                sl->id = id;
                sl->hash = h;
                break;
            }
            if (sl->hash == h && off[o + 1] - off[o] - 1 == len &&
                memcmp(arena + off[o], s, len) == 0)
                break; /* same string: keep the first (lowest) id */
            if (++i == cap)
                i = 0;
        }
    }
    return TG_OK;
}

int32_t tg__strmap_get(const tg__strmap *m, const char *arena, const uint32_t *off, const char *s,
                       size_t len)
{
    uint32_t h = tg__tok_hash(s, len);
    uint32_t i = tg__tok_table_slot(h, m->cap);
    for (;;) {
        const tg__strslot *sl = &m->slots[i];
        const int32_t o = sl->id;
        if (o < 0)
            return -1;
        if (sl->hash == h && off[o + 1] - off[o] - 1 == len && memcmp(arena + off[o], s, len) == 0)
            return o;
        if (++i == m->cap)
            i = 0;
    }
}

void tg__strmap_free(tg__strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}

int tg__idvec_grow(tg__idvec *v, size_t extra)
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
    int32_t *p = tg__realloc(v->data, cap * sizeof *p);
    if (!p) {
        v->oom = 1;
        return 0;
    }
    v->data = p;
    v->cap = cap;
    return 1;
}

/* Well-formed UTF-8 (Unicode table 3-7). For the lead byte: the number of continuation bytes
 * and the allowed range of the first continuation byte. */
static int utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80)
        return 0;
    if (b < 0xC2)
        return -1;
    if (b < 0xE0)
        return 1;
    if (b < 0xF0) {
        if (b == 0xE0)
            *lo = 0xA0;
        else if (b == 0xED)
            *hi = 0x9F;
        return 2;
    }
    if (b < 0xF5) {
        if (b == 0xF0)
            *lo = 0x90;
        else if (b == 0xF4)
            *hi = 0x8F;
        return 3;
    }
    return -1;
}

size_t tg__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char lo, hi;
    int k = utf8_lead(s[0], &lo, &hi);
    if (k == 0) {
        *cp = s[0];
        return 1;
    }
    if (k < 0 || n < (size_t)k + 1 || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t c = s[0] & (0x3F >> k);
    c = (c << 6) | (s[1] & 0x3F);
    for (int i = 2; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return (size_t)k + 1;
}

size_t tg__utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            if (s[i] == 0)
                break;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = tg__utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            break;
        i += k;
    }
    return i;
}

size_t tg__utf8_sanitize(tg__buf *out, const unsigned char *in, size_t len, int final)
{
    /* Room for the input as is (+1 for the NUL callers add); each U+FFFD replaces at least one
     * byte with three, so grow when one is written. */
    if (len > SIZE_MAX - 4 || !tg__buf_reserve(out, len + 1))
        return (size_t)-1;
    size_t o = out->len;
    size_t i = 0;
    while (i < len) {
        /* Fast path: a run of ASCII. */
        size_t j = i;
        while (j < len && in[j] < 0x80)
            j++;
        if (j > i) {
            memcpy(out->data + o, in + i, j - i);
            o += j - i;
            i = j;
            if (i == len)
                break;
        }
        unsigned char lo, hi;
        int k = utf8_lead(in[i], &lo, &hi);
        size_t got = 1; /* bytes of the sequence that are well-formed so far */
        int ok = k > 0;
        for (int c = 1; ok && c <= k; c++) {
            if (i + (size_t)c >= len) {
                /* Incomplete at the end of the input. */
                if (!final) {
                    out->len = o;
                    return i;
                }
                ok = 0;
                break;
            }
            unsigned char b = in[i + (size_t)c];
            if (c == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) {
                ok = 0;
                break;
            }
            got++;
        }
        if (ok) {
            memcpy(out->data + o, in + i, got);
            o += got;
        } else {
            /* A maximal subpart of an ill-formed sequence: one U+FFFD. */
            out->len = o;
            if (!tg__buf_reserve(out, 3 + (len - i - got) + 1))
                return (size_t)-1;
            out->data[o++] = (char)0xEF;
            out->data[o++] = (char)0xBF;
            out->data[o++] = (char)0xBD;
        }
        i += got;
    }
    out->len = o;
    return len;
}
