/* fuzz_chain_file.c — chain files (GKeyFile: [chain] and [stage NAME] groups), through
 * tg_chain_load_file() of a file on tmpfs. Input: the whole file. A file that loads into a
 * complete chain must survive fzc_exercise(); one that fails must leave the chain as it was. */
#include "fuzz_chain_util.h"
#include "fuzz_common.h"

#include <glib.h>
#include <textgen/textgen.h>

static char *path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init();
    fzc_model();
    path = fz_path("chain.ini");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(path, data, size);
    tg_chain_options o;
    fzc_options(&o);
    tg_chain *c = NULL;
    if (tg_chain_create(&c, &o) != TG_OK)
        fz_fail("tg_chain_create");
    tg_status st = tg_chain_load_file(c, path);
    if (st == TG_OK) {
        if (tg_chain_validate(c) == TG_OK)
            fzc_exercise(c);
    } else if (!tg_error_last()[0]) {
        fz_fail("a refused chain file must say why");
    }
    tg_chain_free(c);
    return 0;
}
