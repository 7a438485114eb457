// cpp_plugin.cpp — a test-only plugin written in C++17: TG_PLUGIN_DEFINE must give the entry
// point C linkage (the host looks up the plain name tg_plugin_get_desc), and <textgen/plugin.h>
// must compile under the strict warnings a C++ project uses. One stateful filter:
// cpp_keep_mod(m, r) keeps the ids with id % m == r and counts the tokens it has seen.
#include <cstdint>
#include <new>
#include <textgen/plugin.h>

namespace
{

struct keep_mod {
    int64_t m;
    int64_t r;
    int64_t seen = 0;
};

tg_status create(void **state_out, const tg_param_value *values, const tg_proc_context *ctx)
{
    if (ctx->n_vocab < 1)
        return tg_plugin_set_error(TG_EINVAL, "cpp_keep_mod: no vocabulary");
    if (values[1].integer >= values[0].integer)
        return tg_plugin_set_error(TG_ERANGE, "cpp_keep_mod: r must be smaller than m");
    auto *s = new (std::nothrow) keep_mod{values[0].integer, values[1].integer};
    if (!s)
        return tg_plugin_set_error(TG_ENOMEM, "cpp_keep_mod: out of memory");
    *state_out = s;
    return TG_OK;
}

tg_status apply(void *state, tg_candidates *c, const tg_step_info *)
{
    // a captureless lambda is a plain C function pointer
    return tg_candidates_keep_if(
        c,
        [](const tg_candidates *cands, size_t i, void *user) -> int32_t {
            const auto *s = static_cast<const keep_mod *>(user);
            return cands->ids[i] % s->m == s->r;
        },
        state);
}

tg_status accept(void *state, int32_t, const tg_step_info *)
{
    static_cast<keep_mod *>(state)->seen++;
    return TG_OK;
}

void reset(void *state)
{
    static_cast<keep_mod *>(state)->seen = 0;
}

tg_status clone(void **state_out, const void *state)
{
    auto *s = new (std::nothrow) keep_mod(*static_cast<const keep_mod *>(state));
    if (!s)
        return tg_plugin_set_error(TG_ENOMEM, "cpp_keep_mod: out of memory");
    *state_out = s;
    return TG_OK;
}

void destroy(void *state)
{
    delete static_cast<keep_mod *>(state);
}

const tg_param_spec params[] = {
    {"m", TG_PARAM_INT, "2", 1, 1000000, "modulus"},
    {"r", TG_PARAM_INT, "0", 0, 1000000, "remainder kept"},
};

const tg_processor_vtable keep_mod_vtable = {TG_PROCESSOR_VTABLE_SIZE,
                                             "cpp_keep_mod",
                                             TG_PROC_FILTER,
                                             "keep the ids whose remainder modulo m is r (C++)",
                                             params,
                                             2,
                                             create,
                                             apply,
                                             accept,
                                             reset,
                                             clone,
                                             destroy,
                                             nullptr,
                                             nullptr,
                                             nullptr,
                                             {nullptr, nullptr, nullptr, nullptr},
                                             nullptr};

} // namespace

TG_PLUGIN_DEFINE("cpp_test", "1.0", "MIT", "a test plugin written in C++", &keep_mod_vtable)
