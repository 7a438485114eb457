/* tools/textgen/plugins_list.c — --list-plugins: every registered processor, its kind, the plugin
 * that provides it, and its parameters with type, default, range and doc line. The search path
 * was scanned by cli_setup_plugins(). */
#include "cli.h"

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case TG_PROC_TRANSFORM:
        return "transform";
    case TG_PROC_FILTER:
        return "filter";
    case TG_PROC_SELECTOR:
        return "selector";
    case TG_PROC_STOP:
        return "stop criterion";
    case TG_PROC_BEAM_SCORER:
        return "beam scorer";
    }
    return "unknown kind";
}

static const char *type_name(uint32_t type)
{
    switch (type) {
    case TG_PARAM_FLOAT:
        return "float";
    case TG_PARAM_INT:
        return "int";
    case TG_PARAM_BOOL:
        return "bool";
    case TG_PARAM_STRING:
        return "string";
    case TG_PARAM_IDS:
        return "ids";
    }
    return "?";
}

static void format_bound(char *buf, size_t len, double v, uint32_t type)
{
    if (type == TG_PARAM_INT && v >= -1e16 && v <= 1e16)
        g_snprintf(buf, len, "%.0f", v);
    else
        g_snprintf(buf, len, "%g", v);
}

/* "    name  type, default D, range [lo, hi]" then the doc line, indented. */
static void print_param(const tg_param_spec *p)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "    %s  %s", p->name, type_name(p->type));
    if (p->default_value)
        g_string_append_printf(s, ", default %s", *p->default_value ? p->default_value : "\"\"");
    else
        g_string_append(s, ", required");
    if (p->type == TG_PARAM_FLOAT || p->type == TG_PARAM_INT) {
        char lo[40], hi[40];
        format_bound(lo, sizeof lo, p->min, p->type);
        format_bound(hi, sizeof hi, p->max, p->type);
        g_string_append_printf(s, ", range [%s, %s]", lo, hi);
    }
    printf("%s\n        %s\n", s->str, p->doc ? p->doc : "");
    g_string_free(s, TRUE);
}

int cli_list_plugins(void)
{
    size_t n = tg_processor_count();
    if (n == 0) {
        cli_error("no sampler plugins found: set TEXTGEN_PLUGIN_PATH or use --plugin-dir");
        return CLI_EXIT_RUNTIME;
    }
    printf("%zu processors (chain spec: name(param=value, ...), stages in order, one selector "
           "last; beam scorers go in --beam-scorers)\n",
           n);
    for (size_t i = 0; i < n; i++) {
        tg_processor_info info = TG_PROCESSOR_INFO_INIT;
        if (tg_processor_at(&info, i) != TG_OK)
            continue;
        const tg_processor_vtable *vt = info.vtable;
        const tg_plugin_desc *pl = info.plugin;
        printf("\n%s (%s): %s\n", vt->name, kind_name(vt->kind), vt->doc ? vt->doc : "");
        printf("    plugin %s %s%s%s, %s\n", pl->name, pl->version ? pl->version : "",
               pl->license ? ", " : "", pl->license ? pl->license : "", info.path);
        if (vt->n_params == 0)
            printf("    (no parameters)\n");
        for (size_t k = 0; k < vt->n_params; k++)
            print_param(&vt->params[k]);
    }
    return CLI_EXIT_OK;
}
