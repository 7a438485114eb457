/* fuzz_chain_spec.c — the sampler-chain spec language, through tg_chain_parse() on the char_tiny
 * model (every built-in processor is on the plugin path). Input: the spec text (up to the first
 * NUL byte). A spec that parses must survive fzc_exercise(). */
#include "fuzz_chain_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <textgen/textgen.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    fzc_model();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = fz_strndup(data, size);
    tg_chain_options o;
    fzc_options(&o);
    tg_chain *c = NULL;
    tg_status st = tg_chain_parse(&c, spec, &o);
    if (st == TG_OK) {
        fzc_exercise(c);
        tg_chain_free(c);
    } else if (c || !tg_error_last()[0]) {
        fz_fail("a refused spec must leave *out NULL and say why");
    }
    g_free(spec);
    return 0;
}
