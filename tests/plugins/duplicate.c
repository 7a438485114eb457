/* Test-only: registers a processor name that good.so already uses. */
#include <textgen/plugin.h>
static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *c)
{
    (void)v;
    (void)c;
    *out = 0;
    return TG_OK;
}
static tg_status apply(void *s, tg_candidates *c, const tg_step_info *st)
{
    (void)s;
    (void)c;
    (void)st;
    return TG_OK;
}
static const tg_processor_vtable dup = {TG_PROCESSOR_VTABLE_SIZE,
                                        "test_scale",
                                        TG_PROC_TRANSFORM,
                                        "same name as good.so",
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
TG_PLUGIN_DEFINE("test-duplicate", "1.0", "MIT", "duplicate name", &dup)
