/* Test-only: a descriptor that claims a future plugin ABI version. */
#include <textgen/plugin.h>
static const tg_processor_vtable *const procs[1] = {0};
static const tg_plugin_desc desc = {
    99, sizeof(tg_plugin_desc), "bad-abi", "1", "MIT", "x", procs, 1, {0}};
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void);
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void)
{
    return &desc;
}
