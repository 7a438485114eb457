/* Test-only: a descriptor whose struct_size is too small (an older or corrupt layout). */
#include <textgen/plugin.h>
static const tg_plugin_desc desc = {TG_PLUGIN_ABI_VERSION, 12, "short", "1", "MIT", "x", 0, 0, {0}};
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void);
TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void)
{
    return &desc;
}
