/* Test-only: a vtable whose struct_size predates the required members. */
#include <textgen/plugin.h>
static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *c)
{
    (void)v;
    (void)c;
    *out = 0;
    return TG_OK;
}
static const tg_processor_vtable p = {16,
                                      "test_short_vtable",
                                      TG_PROC_FILTER,
                                      "short",
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
TG_PLUGIN_DEFINE("test-short-vtable", "1.0", "MIT", "short vtable", &p)
