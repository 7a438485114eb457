/* A beam scorer whose processor vtable predates the `scorer` member (struct_size too small). */
#include <stddef.h>
#include <textgen/plugin.h>

static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}

static const tg_processor_vtable vt = {
    .struct_size = (uint32_t)offsetof(tg_processor_vtable, scorer),
    .name = "short_scorer",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "a scorer built against the header before beam scorers",
    .create = create,
};

TG_PLUGIN_DEFINE("short-scorer", "1", "MIT", "x", &vt)
