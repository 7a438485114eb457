/* dry — "Don't Repeat Yourself" (p-e-w, llama.cpp / koboldcpp semantics): penalize the tokens
 * that would extend a sequence which already occurred earlier in the history, growing
 * exponentially with the length of the repeat.
 *
 *   w = the last `last_n` tokens of the history (prompt + generated; -1 = all of it)
 *   for each earlier position i of w: L_i = length of the longest common suffix of w[..i] and
 *       of w (capped by the distance from the end to the last sequence breaker)
 *   if L_i >= allowed_length, the token w[i+1] would extend a repeat of length L_i:
 *       logit_t <- logit_t - multiplier * base^(max_i L_i - allowed_length)   (t = w[i+1])
 *   (exponent capped so the penalty stays finite; single-token breakers are never penalized)
 *
 * Sequence breakers end a repeat: no match runs across one. `breakers` is a list of strings
 * separated by '|', with escapes \n \t \r \\ \| \" and \xHH (a byte), e.g. the default
 *   \n|:|\x22|*      = newline, colon, double quote, asterisk.
 * With a tokenizer in the context, each string is mapped to token sequences the way llama.cpp
 * does: every token whose text contains the string is a single-token breaker, and a token whose
 * text ends with a prefix of the string starts a breaker whose tail is the encoding of the
 * rest. Without a tokenizer there are no breakers.
 *
 * The matches are found with the Z-algorithm run backwards over the window: O(|w|) per step.
 */
#include "../builtin_util.h"

#include <textgen/tokenizer.h>

#define DRY_MAX_BREAKER_BYTES 40
#define DRY_MAX_TAIL 20
#define DRY_FLOAT_MAX_LOG 88.7228391

typedef struct {
    int32_t head;
    int32_t *tail; /* tokens after the head (may be empty) */
    size_t n_tail;
} dry_breaker;

typedef struct {
    double multiplier, base;
    int64_t allowed_length, last_n;
    char *breakers_text;
    dry_breaker *breakers; /* sorted by head */
    size_t n_breakers, cap_breakers;
    int *repeat; /* scratch: repeat length per window position */
    size_t cap_repeat;
    tgp_idmap map; /* token -> longest repeat it would extend */
} dry_state;

static void destroy(void *state)
{
    dry_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_breakers; i++)
        free(s->breakers[i].tail);
    free(s->breakers);
    free(s->breakers_text);
    free(s->repeat);
    tgp_idmap_free(&s->map);
    free(s);
}

/* ---- breakers ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Split `text` into breakers: calls fn(str, len, ud) for each non-empty one. */
static tg_status split_breakers(const char *text, tg_status (*fn)(const char *, size_t, void *),
                                void *ud)
{
    size_t n = text ? strlen(text) : 0;
    char *buf = malloc(n + 1);
    if (!buf)
        return tgp_fail(TG_ENOMEM, "out of memory");
    size_t len = 0;
    tg_status st = TG_OK;
    for (size_t i = 0; i <= n && st == TG_OK; i++) {
        char ch = i < n ? text[i] : '|';
        if (ch == '|') {
            if (len)
                st = fn(buf, len, ud);
            len = 0;
            continue;
        }
        if (ch != '\\') {
            buf[len++] = ch;
            continue;
        }
        if (++i >= n) {
            st = tgp_fail(TG_EINVAL, "breakers: '\\' at the end of \"%s\"", text);
            break;
        }
        switch (text[i]) {
        case 'n':
            buf[len++] = '\n';
            break;
        case 't':
            buf[len++] = '\t';
            break;
        case 'r':
            buf[len++] = '\r';
            break;
        case '\\':
            buf[len++] = '\\';
            break;
        case '|':
            buf[len++] = '|';
            break;
        case '"':
            buf[len++] = '"';
            break;
        case 'x': {
            int hi = i + 1 < n ? hexval(text[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(text[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                st = tgp_fail(TG_EINVAL, "breakers: \\x needs two hex digits (not 00) in \"%s\"",
                              text);
                break;
            }
            buf[len++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            st = tgp_fail(TG_EINVAL,
                          "breakers: unknown escape '\\%c' in \"%s\" (use \\n \\t \\r \\\\ "
                          "\\| \\\" or \\xHH)",
                          text[i], text);
        }
    }
    free(buf);
    return st;
}

static tg_status add_breaker(dry_state *s, int32_t head, const int32_t *tail, size_t n_tail)
{
    if (s->n_breakers == s->cap_breakers) {
        size_t cap = s->cap_breakers ? 2 * s->cap_breakers : 64;
        dry_breaker *nb = realloc(s->breakers, cap * sizeof *nb);
        if (!nb)
            return tgp_fail(TG_ENOMEM, "out of memory");
        s->breakers = nb;
        s->cap_breakers = cap;
    }
    dry_breaker *b = &s->breakers[s->n_breakers];
    b->head = head;
    b->n_tail = n_tail;
    b->tail = NULL;
    if (n_tail) {
        b->tail = malloc(n_tail * sizeof *tail);
        if (!b->tail)
            return tgp_fail(TG_ENOMEM, "out of memory");
        memcpy(b->tail, tail, n_tail * sizeof *tail);
    }
    s->n_breakers++;
    return TG_OK;
}

typedef struct {
    dry_state *s;
    const tg_tokenizer *tok;
    int32_t n_vocab;
} map_ctx;

static const void *find_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0)
            return hay + i;
    return NULL;
}

/* One breaker string -> the token sequences that spell it (koboldcpp/llama.cpp method). */
static tg_status map_breaker(const char *str, size_t len, void *ud)
{
    map_ctx *m = ud;
    if (len > DRY_MAX_BREAKER_BYTES)
        len = DRY_MAX_BREAKER_BYTES;
    int32_t n = tg_tokenizer_n_vocab(m->tok);
    if (n > m->n_vocab)
        n = m->n_vocab;
    for (int32_t id = 0; id < n; id++) {
        const char *word;
        size_t wlen;
        if (tg_tokenizer_token_to_bytes(&word, &wlen, m->tok, id) != TG_OK || wlen == 0)
            continue;
        if (find_bytes(word, wlen, str, len)) {
            tg_status st = add_breaker(m->s, id, NULL, 0);
            if (st != TG_OK)
                return st;
            continue;
        }
        /* the token ends with a proper prefix of the breaker: the rest is the tail */
        for (size_t pos = 0; pos < wlen; pos++) {
            size_t matched = wlen - pos;
            if (matched >= len || memcmp(word + pos, str, matched) != 0)
                continue;
            int32_t *tail = NULL;
            size_t n_tail = 0;
            tg_status st =
                tg_tokenizer_encode(&tail, &n_tail, m->tok, str + matched, len - matched, 0);
            if (st != TG_OK) { /* the rest cannot be encoded: no such breaker */
                tg_free(tail);
                continue;
            }
            if (n_tail > DRY_MAX_TAIL)
                n_tail = DRY_MAX_TAIL;
            int in_range = 1;
            for (size_t t = 0; t < n_tail; t++)
                in_range &= tail[t] >= 0 && tail[t] < m->n_vocab;
            st = in_range ? add_breaker(m->s, id, tail, n_tail) : TG_OK;
            tg_free(tail);
            if (st != TG_OK)
                return st;
        }
    }
    return TG_OK;
}

static tg_status count_breaker(const char *str, size_t len, void *ud)
{
    (void)str;
    (void)len;
    (void)ud;
    return TG_OK;
}

/* Order: head, then tail length, then tail tokens (so duplicates end up side by side). */
static int breaker_cmp(const void *pa, const void *pb)
{
    const dry_breaker *a = pa, *b = pb;
    if (a->head != b->head)
        return a->head < b->head ? -1 : 1;
    if (a->n_tail != b->n_tail)
        return a->n_tail < b->n_tail ? -1 : 1;
    for (size_t i = 0; i < a->n_tail; i++)
        if (a->tail[i] != b->tail[i])
            return a->tail[i] < b->tail[i] ? -1 : 1;
    return 0;
}

static void sort_unique_breakers(dry_state *s)
{
    if (s->n_breakers < 2)
        return;
    qsort(s->breakers, s->n_breakers, sizeof *s->breakers, breaker_cmp);
    size_t w = 1;
    for (size_t i = 1; i < s->n_breakers; i++) {
        if (breaker_cmp(&s->breakers[i], &s->breakers[w - 1]) == 0)
            free(s->breakers[i].tail);
        else
            s->breakers[w++] = s->breakers[i];
    }
    s->n_breakers = w;
}

/* First breaker with this head (breakers sorted by head), or NULL. */
static const dry_breaker *first_breaker(const dry_state *s, int32_t head)
{
    size_t lo = 0, hi = s->n_breakers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->breakers[mid].head < head)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_breakers && s->breakers[lo].head == head ? &s->breakers[lo] : NULL;
}

static int is_single_token_breaker(const dry_state *s, int32_t id)
{
    const dry_breaker *b = first_breaker(s, id);
    for (; b && b < s->breakers + s->n_breakers && b->head == id; b++)
        if (b->n_tail == 0)
            return 1;
    return 0;
}

/* ---- create / clone ---- */

static tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (!ctx || ctx->n_vocab <= 0)
        return tgp_fail(TG_EINVAL, "the context has no vocabulary size");
    dry_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->multiplier = values[0].number;
    s->base = values[1].number;
    s->allowed_length = values[2].integer < 1 ? 1 : values[2].integer;
    s->last_n = values[3].integer;
    const char *text = values[4].string ? values[4].string : "";
    s->breakers_text = strdup(text);
    tg_status st = s->breakers_text ? tgp_idmap_init(&s->map, ctx->n_vocab)
                                    : tgp_fail(TG_ENOMEM, "out of memory");
    if (st == TG_OK) /* check the syntax even when there is no tokenizer */
        st = split_breakers(text, count_breaker, NULL);
    if (st == TG_OK && ctx->tokenizer && s->multiplier != 0) {
        map_ctx m = {s, (const tg_tokenizer *)ctx->tokenizer, ctx->n_vocab};
        st = split_breakers(text, map_breaker, &m);
    }
    if (st != TG_OK) {
        destroy(s);
        return st;
    }
    sort_unique_breakers(s);
    *state_out = s;
    return TG_OK;
}

static tg_status clone(void **state_out, const void *state)
{
    const dry_state *src = state;
    dry_state *s = calloc(1, sizeof *s);
    if (!s)
        return tgp_fail(TG_ENOMEM, "out of memory");
    s->multiplier = src->multiplier;
    s->base = src->base;
    s->allowed_length = src->allowed_length;
    s->last_n = src->last_n;
    s->breakers_text = strdup(src->breakers_text);
    tg_status st = s->breakers_text ? tgp_idmap_init(&s->map, src->map.n_vocab)
                                    : tgp_fail(TG_ENOMEM, "out of memory");
    for (size_t i = 0; i < src->n_breakers && st == TG_OK; i++)
        st = add_breaker(s, src->breakers[i].head, src->breakers[i].tail, src->breakers[i].n_tail);
    if (st != TG_OK) {
        destroy(s);
        return st;
    }
    *state_out = s;
    return TG_OK;
}

/* ---- apply ---- */

static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    dry_state *s = state;
    if (s->multiplier == 0 || s->last_n == 0)
        return TG_OK;
    const int32_t *w;
    size_t N;
    tgp_window(step, s->last_n, 1, &w, &N);
    const size_t allowed = (size_t)s->allowed_length;
    if (N <= allowed)
        return TG_OK;
#define RAT(i) w[N - 1 - (i)] /* i-th token from the end */

    /* 1. The most recent breaker caps the length of any repeat. */
    size_t rep_limit = N;
    for (size_t i = 0; i < N && s->n_breakers; i++) {
        const dry_breaker *b = first_breaker(s, RAT(i));
        if (!b)
            continue;
        long longest = -1;
        for (; b < s->breakers + s->n_breakers && b->head == RAT(i); b++) {
            if ((long)b->n_tail <= longest || b->n_tail > i)
                continue;
            size_t off = 0;
            while (off < b->n_tail && b->tail[off] == RAT(i - off - 1))
                off++;
            if (off == b->n_tail)
                longest = (long)b->n_tail;
        }
        if (longest >= 0) {
            rep_limit = i - (size_t)longest;
            break;
        }
    }
    if (rep_limit < allowed)
        return TG_OK;

    /* 2. repeat[N-1-k] = length of the common suffix of w and w[..N-1-k] (Z-algorithm on the
     *    reversed window), capped by rep_limit. */
    if (N > s->cap_repeat) {
        int *r = realloc(s->repeat, N * sizeof *r);
        if (!r)
            return tgp_fail(TG_ENOMEM, "out of memory");
        s->repeat = r;
        s->cap_repeat = N;
    }
    int *repeat = s->repeat;
    memset(repeat, 0, N * sizeof *repeat);
    const size_t last = N - 1;
    size_t lt = 0, rt = 0;
    for (size_t k = 1; k < N; k++) {
        size_t len;
        if (k > rt) {
            len = 0;
            while (len + k < N && RAT(len) == RAT(len + k))
                len++;
            if (len > 0) {
                lt = k;
                rt = k + len - 1;
            }
        } else {
            const size_t p = k - lt, right = rt - k + 1;
            if ((size_t)repeat[last - p] < right) {
                len = (size_t)repeat[last - p];
            } else {
                size_t i = rt + 1;
                while (i < N && RAT(i) == RAT(i - k))
                    i++;
                len = i - k;
                lt = k;
                rt = i - 1;
            }
        }
        repeat[last - k] = (int)(len < rep_limit ? len : rep_limit);
    }

    /* 3. The token after each long-enough repeat would extend it: keep the longest per token. */
    for (size_t i = 0; i + 1 < N; i++) {
        if ((size_t)repeat[i] < allowed)
            continue;
        long k = tgp_idmap_add(&s->map, w[i + 1]);
        if (k == -2) {
            tgp_idmap_clear(&s->map);
            return tgp_fail(TG_ENOMEM, "out of memory");
        }
        if (k >= 0 && s->map.val[k] < repeat[i])
            s->map.val[k] = repeat[i];
    }
#undef RAT
    if (s->map.n == 0)
        return TG_OK;

    /* 4. Penalize. */
    double max_exponent = 0;
    if (s->base > 1.000001)
        max_exponent = floor(DRY_FLOAT_MAX_LOG / log(s->base));
    tgp_idmap_locate(&s->map, c);
    size_t changed = 0;
    for (size_t k = 0; k < s->map.n; k++) {
        long i = s->map.pos[k];
        if (i < 0 || is_single_token_breaker(s, s->map.ids[k]))
            continue;
        double e = s->map.val[k] - (double)allowed;
        if (max_exponent > 0 && e > max_exponent)
            e = max_exponent;
        c->logits[i] -= (float)(s->multiplier * pow(s->base, e));
        changed++;
    }
    tgp_idmap_clear(&s->map);
    if (changed) {
        c->sorted = 0;
        c->probs_valid = 0;
    }
    return TG_OK;
}

static const tg_param_spec params[] = {
    {"multiplier", TG_PARAM_FLOAT, "0.8", 0, 100, "strength of the penalty (0 = off)"},
    {"base", TG_PARAM_FLOAT, "1.75", 1, 10, "growth of the penalty per extra repeated token"},
    {"allowed_length", TG_PARAM_INT, "2", 1, 1000, "repeats up to this length are not penalized"},
    {"last_n", TG_PARAM_INT, "-1", -1, 1e9,
     "window: the last n tokens of the history (-1 = all of it, 0 = off)"},
    {"breakers", TG_PARAM_STRING, "\\n|:|\\x22|*", 0, 0,
     "sequence breakers separated by '|' (escapes \\n \\t \\r \\\\ \\| \\\" \\xHH)"},
};

static const tg_processor_vtable vtable = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "dry",
    .kind = TG_PROC_TRANSFORM,
    .doc = "DRY: penalize tokens that extend a repeat, exponentially in its length",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .create = create,
    .apply = apply,
    .clone = clone,
    .destroy = destroy,
};

TG_PLUGIN_DEFINE("dry", "0.1.0", "MIT", "built-in DRY repetition penalty", &vtable)
