/* plugin_host.c — built against the INSTALLED headers by install_check.sh: loads the out-of-tree
 * example plugin and checks it filters as documented. Usage: plugin_host PLUGIN.so PLUGINSDIR */
#include <math.h>
#include <stdio.h>
#include <textgen/textgen.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    if (tg_plugin_add_dir(argv[2]) != TG_OK || tg_plugin_load(argv[1]) != TG_OK) {
        fprintf(stderr, "load: %s\n", tg_error_last());
        return 1;
    }
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 4;
    tg_chain *c;
    if (tg_chain_parse(&c, "epsilon_cutoff(epsilon=0.2) greedy", &o) != TG_OK) {
        fprintf(stderr, "parse: %s\n", tg_error_last());
        return 1;
    }
    const float logits[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    int32_t tok;
    if (tg_chain_sample(&tok, NULL, c, logits) != TG_OK) {
        fprintf(stderr, "sample: %s\n", tg_error_last());
        return 1;
    }
    const tg_candidates *cand = tg_chain_candidates(c);
    int ok = tok == 0 && cand->size == 2;
    printf("%s: token %d, %zu candidates kept\n", ok ? "ok" : "WRONG", tok, cand->size);
    tg_chain_free(c);
    return ok ? 0 : 1;
}
