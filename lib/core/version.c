/* core/version.c — run-time version and tg_free. */
#include <stdlib.h>
#include <textgen/version.h>

uint32_t tg_version_number(void)
{
    return TG_VERSION_NUMBER;
}

const char *tg_version_string(void)
{
    return TG_VERSION_STRING;
}

void tg_free(void *ptr)
{
    free(ptr);
}
