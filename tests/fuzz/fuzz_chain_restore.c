/* fuzz_chain_restore.c — chain snapshots, through tg_chain_restore() into a chain made from a
 * fixed spec. Input: one flag byte, then the snapshot. Flag bits:
 *   0-1  which spec (below) the chain is made from
 *   2    "sum": the input is a snapshot without its last 8 bytes, and the target appends the
 *        FNV-1a 64 checksum that tg_chain_save() ends a snapshot with — so mutations reach the
 *        checks behind the checksum. This is the only knowledge of the format here; if the
 *        format changes, inputs with the bit clear still test the front door.
 * A snapshot that restores must give a chain that saves again, whose save restores into a fresh
 * chain of the same spec and saves to the same bytes, and both choose the same next token.
 * Seeds: make_restore_seeds.c. */
#include "fuzz_chain_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <string.h>
#include <textgen/textgen.h>

const char *const fz_restore_specs[4] = {
    "repetition_penalty(penalty=1.3) no_repeat_ngram(n=2) top_k(k=20) mirostat_v2(tau=3, eta=0.2)",
    "dry(multiplier=0.8) min_new_tokens(n=2) top_p(p=0.9) dist",
    "mirostat_v2",
    "logit_bias(bias=\"3:-inf 5:2.5\") xtc(threshold=0.2, probability=1) greedy",
};

static tg_chain *make(size_t spec)
{
    tg_chain_options o;
    fzc_options(&o);
    tg_chain *c = NULL;
    if (tg_chain_parse(&c, fz_restore_specs[spec], &o) != TG_OK)
        fz_fail("a fixed spec of fuzz_chain_restore does not parse");
    return c;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    fzc_model();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned flag = data[0];
    const size_t spec = flag & 3u;
    data++;
    size--;
    size_t len = size + ((flag & 4u) ? 8 : 0);
    uint8_t *snap = g_malloc(len ? len : 1);
    if (size)
        memcpy(snap, data, size);
    if (flag & 4u) {
        uint64_t sum = fnv1a64(data, size);
        memcpy(snap + size, &sum, 8);
    }
    tg_chain *c = make(spec);
    tg_status st = tg_chain_restore(c, snap, len);
    if (st == TG_OK) {
        void *s1 = NULL, *s2 = NULL;
        size_t l1 = 0, l2 = 0;
        if (tg_chain_save(&s1, &l1, c) != TG_OK)
            fz_fail("saving a chain restored from a snapshot");
        tg_chain *d = make(spec);
        if (tg_chain_restore(d, s1, l1) != TG_OK)
            fz_fail("restoring the save of a restored chain");
        if (tg_chain_save(&s2, &l2, d) != TG_OK || l1 != l2 || memcmp(s1, s2, l1) != 0)
            fz_fail("save -> restore -> save changes the snapshot");
        float lp;
        int32_t t1 = -1, t2 = -1;
        tg_status a = tg_chain_sample(&t1, &lp, c, fzc_logits(0));
        tg_status b = tg_chain_sample(&t2, &lp, d, fzc_logits(0));
        if (a != b || t1 != t2)
            fz_fail("two chains restored from one snapshot choose differently");
        tg_free(s1);
        tg_free(s2);
        tg_chain_free(d);
    } else if (!tg_error_last()[0]) {
        fz_fail("a refused snapshot must say why");
    }
    tg_chain_free(c);
    g_free(snap);
    return 0;
}
