/* Test-only: a processor without its required apply callback. */
#include <textgen/plugin.h>
static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *c)
{
    (void)v;
    (void)c;
    *out = 0;
    return TG_OK;
}
static const tg_processor_vtable p = {TG_PROCESSOR_VTABLE_SIZE,
                                      "test_no_apply",
                                      TG_PROC_FILTER,
                                      "no apply",
                                      NULL,
                                      0,
                                      create,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL,
                                      {0},
                                      NULL};
TG_PLUGIN_DEFINE("test-missing-apply", "1.0", "MIT", "missing member", &p)
