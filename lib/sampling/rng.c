/* sampling/rng.c — counter-based randomness: a pure function of (seed, sequence, step, counter)
 * built from the SplitMix64 finalizer, so results do not depend on threads, batching or call
 * order. 53 random bits become a double in [0, 1). */
#include "core/error.h"
#include <textgen/plugin.h>

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tg_rng_uniform(uint64_t seed, uint64_t sequence, uint64_t step, uint64_t counter)
{
    uint64_t h = mix(seed);
    h = mix(h ^ sequence);
    h = mix(h ^ step);
    h = mix(h ^ counter);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

tg_status tg_plugin_set_error(tg_status status, const char *message)
{
    if (status == TG_OK)
        status = TG_ERROR;
    return tg__error(status, "%s", message ? message : "plugin error");
}
