/* lying_count.c — a plugin descriptor whose n_processors (1000) exceeds its array (1 entry): the
 * host must not read past the array it can check, and one such file on the plugin path must not
 * take down a program that scans the path (issue 11, item 7). Test-only. */
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
static const tg_processor_vtable one = {TG_PROCESSOR_VTABLE_SIZE,
                                        "lying_count_one",
                                        TG_PROC_TRANSFORM,
                                        "does nothing",
                                        NULL,
                                        0,
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
/* The array holds one pointer, followed in memory by whatever the linker put there. */
static const tg_processor_vtable *const procs[] = {&one};
static const tg_plugin_desc desc = {TG_PLUGIN_ABI_VERSION,
                                    (uint32_t)sizeof(tg_plugin_desc),
                                    "lying-count",
                                    "1.0",
                                    "MIT",
                                    "n_processors larger than its array",
                                    procs,
                                    1000,
                                    {0, 0, 0, 0}};
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void);
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void)
{
    return &desc;
}
