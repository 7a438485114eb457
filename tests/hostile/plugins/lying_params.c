/* lying_params.c — a processor whose n_params (64) exceeds its parameter array (1 entry): the
 * host reads the schema when it registers the plugin. Test-only. */
#include <textgen/plugin.h>

static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}
static tg_status apply(void *s, tg_candidates *c, const tg_step_info *step)
{
    (void)s;
    (void)c;
    (void)step;
    return TG_OK;
}
static const tg_param_spec params[] = {{"k", TG_PARAM_INT, "1", 0, 10, "a number"}};
static const tg_processor_vtable lying = {TG_PROCESSOR_VTABLE_SIZE,
                                          "lying_params",
                                          TG_PROC_TRANSFORM,
                                          "too many params",
                                          params,
                                          64,
                                          create,
                                          apply,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          {0},
                                          NULL};
TG_PLUGIN_DEFINE("lying-params", "1.0", "MIT", "n_params larger than its array", &lying)
