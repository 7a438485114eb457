/* downstream_consumer.c — a program built by downstream_check.sh against an installed prefix with
 * nothing but `pkg-config --cflags --libs textgen`. It uses the defaults an installed library
 * provides: the bundled model (tg_model_load_default) and the installed pluginsdir, where the
 * out-of-tree example plugin was installed with its own meson.build; a chain spec names it.
 * Prints the generated ids; exits 1 with the library's message on any failure. */
#include <stdio.h>
#include <string.h>
#include <textgen/textgen.h>

static int fail(const char *what)
{
    fprintf(stderr, "downstream_consumer: %s: %s\n", what, tg_error_last());
    return 1;
}

int main(void)
{
    tg_model *model;
    if (tg_model_load_default(&model, NULL) != TG_OK)
        return fail("loading the bundled model");
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    if (tg_processor_find(&info, "epsilon_cutoff") != TG_OK) {
        tg_model_free(model);
        return fail("finding the installed plugin");
    }
    const char *pluginsdir = NULL;
    if (tg_plugins_dir(&pluginsdir) != TG_OK ||
        strncmp(info.path, pluginsdir, strlen(pluginsdir))) {
        fprintf(stderr, "downstream_consumer: epsilon_cutoff came from '%s', not from '%s'\n",
                info.path, pluginsdir ? pluginsdir : "?");
        tg_model_free(model);
        return 1;
    }
    tg_generate_options opts = TG_GENERATE_OPTIONS_INIT;
    opts.samplers = "epsilon_cutoff(epsilon=0.01) top_k(k=20) dist";
    opts.max_new_tokens = 30;
    opts.seed = 11;
    tg_result *r;
    if (tg_generate(&r, model, "ROMEO:", &opts) != TG_OK) {
        tg_model_free(model);
        return fail("generating");
    }
    size_t n;
    const int32_t *ids = tg_result_tokens(r, &n);
    for (size_t i = 0; i < n; i++)
        printf("%d%s", ids[i], i + 1 < n ? " " : "\n");
    int ok = n == 30;
    tg_result_free(r);
    tg_model_free(model);
    return ok ? 0 : 1;
}
