/* A beam scorer whose scorer table has a wrong struct_size (built against another header). */
#include <stddef.h>
#include <textgen/plugin.h>

static tg_status create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    (void)ctx;
    *out = NULL;
    return TG_OK;
}

static tg_status score(void *state, const tg_beam_hypothesis *h, double *out)
{
    (void)state;
    *out = h->sum;
    return TG_OK;
}

static const tg_beam_scorer scorer = {4, NULL, NULL, score};

static const tg_processor_vtable vt = {
    .struct_size = TG_PROCESSOR_VTABLE_SIZE,
    .name = "bad_scorer",
    .kind = TG_PROC_BEAM_SCORER,
    .doc = "a scorer table of 4 bytes",
    .create = create,
    .scorer = &scorer,
};

TG_PLUGIN_DEFINE("bad-scorer", "1", "MIT", "x", &vt)
