/* make_restore_seeds.c — writes the seed corpus of fuzz_chain_restore: real snapshots of each of
 * its specs after 0, 1 and 3 steps, once as saved (flag bit 2 clear) and once without the
 * checksum (bit 2 set). Run from the source root after a build:
 *     build/tests/fuzz/make_restore_seeds tests/fuzz/corpus/chain_restore */
#include "fuzz_chain_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <textgen/textgen.h>

extern const char *const fz_restore_specs[4];

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    fz_init();
    static const int32_t prompt[] = {10, 20, 30, 20};
    for (unsigned spec = 0; spec < 4; spec++) {
        tg_chain_options o;
        fzc_options(&o);
        tg_chain *c = NULL;
        if (tg_chain_parse(&c, fz_restore_specs[spec], &o) != TG_OK)
            fz_fail("parsing a fixed spec");
        tg_chain_set_prompt(c, prompt, 4);
        for (int steps = 0; steps <= 3; steps++) {
            if (steps != 2) {
                void *snap = NULL;
                size_t len = 0;
                if (tg_chain_save(&snap, &len, c) != TG_OK)
                    fz_fail("tg_chain_save");
                for (unsigned with_sum = 0; with_sum < 2; with_sum++) {
                    uint8_t flag = (uint8_t)(spec | (with_sum ? 0 : 4u));
                    size_t body = with_sum ? len : len - 8;
                    char name[64];
                    snprintf(name, sizeof name, "seed-spec%u-step%d%s", spec, steps,
                             with_sum ? "-as-saved" : "-sum-appended");
                    char *path = g_build_filename(argv[1], name, NULL);
                    FILE *f = fopen(path, "wb");
                    if (!f || fwrite(&flag, 1, 1, f) != 1 || fwrite(snap, 1, body, f) != body ||
                        fclose(f) != 0)
                        fz_fail("writing a seed");
                    g_free(path);
                }
                tg_free(snap);
            }
            int32_t token;
            float lp;
            if (tg_chain_sample(&token, &lp, c, fzc_logits(steps)) != TG_OK ||
                tg_chain_accept(c, token) != TG_OK)
                fz_fail("sampling a fixed spec");
        }
        tg_chain_free(c);
    }
    return 0;
}
