/* relocated.c — built by relocation_check.sh against a prefix that was installed and then moved:
 * prints the folders the library reports (they must be inside the moved prefix), the number of
 * processors a scan of the default search path registers, and a greedy continuation of the
 * bundled model. Usage: relocated */
#include <stdio.h>
#include <textgen/textgen.h>

int main(void)
{
    const char *plugins = NULL, *model_dir = NULL;
    if (tg_plugins_dir(&plugins) != TG_OK || tg_default_model_dir(&model_dir) != TG_OK) {
        fprintf(stderr, "relocated: %s\n", tg_error_last());
        return 1;
    }
    tg_status st = tg_plugin_scan();
    printf("plugins %s\nmodel %s\nprocessors %zu\n", plugins, model_dir, tg_processor_count());
    if (st != TG_OK) {
        fprintf(stderr, "relocated: scan: %s\n", tg_error_last());
        return 1;
    }
    tg_model *m;
    if (tg_model_load_default(&m, NULL) != TG_OK) {
        fprintf(stderr, "relocated: %s\n", tg_error_last());
        return 1;
    }
    tg_generate_options o = TG_GENERATE_OPTIONS_INIT;
    o.samplers = "greedy";
    o.max_new_tokens = 12;
    tg_result *r;
    if (tg_generate(&r, m, "ROMEO:", &o) != TG_OK) {
        fprintf(stderr, "relocated: %s\n", tg_error_last());
        tg_model_free(m);
        return 1;
    }
    printf("text %s\n", tg_result_text(r, NULL));
    tg_result_free(r);
    tg_model_free(m);
    return 0;
}
