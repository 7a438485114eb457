/* test_register.c — what bindings and plugin authors rely on: processors registered from memory
 * with user data (and deep-copied, so the caller's structs may go), the typed tokenizer in the
 * processor context, the candidate filter helpers, error messages that name a stage once, and
 * the folders the library finds relative to itself. */
#include <criterion/criterion.h>
#include <glib.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>

/* ---- a processor family registered from memory ---- */

typedef struct mem_plugin_data {
    int32_t banned;        /* mem_ban bans this id */
    int n_created;         /* how many states were created */
    const void *tokenizer; /* what the last create saw */
} mem_plugin_data;

static tg_status ban_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)v;
    cr_assert_geq(ctx->struct_size, sizeof *ctx, "the host's context has user_data");
    mem_plugin_data *d = ctx->user_data;
    d->n_created++;
    d->tokenizer = ctx->tokenizer;
    *out = d;
    return TG_OK;
}

static tg_status ban_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)step;
    const mem_plugin_data *d = state;
    for (size_t i = 0; i < c->size; i++)
        if (c->ids[i] == d->banned)
            c->logits[i] = -INFINITY;
    c->sorted = 0;
    c->probs_valid = 0;
    return TG_OK;
}

static tg_status fail_create(void **out, const tg_param_value *v, const tg_proc_context *ctx)
{
    (void)ctx;
    *out = NULL;
    if (v[0].integer == 1)
        return tg_plugin_set_error(TG_EINVAL, "mem_fail: when=1 is refused at create");
    return TG_OK;
}

static tg_status fail_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state, (void)c, (void)step;
    return tg_plugin_set_error(TG_EUSER, "mem_fail: the step is refused");
}

static tg_status pick_apply(void *state, tg_candidates *c, const tg_step_info *step)
{
    (void)state, (void)step;
    tg_status st = tg_candidates_sort(c, 1);
    c->selected = 0;
    return st;
}

static tg_status stateless_create(void **out, const tg_param_value *v, const tg_proc_context *c)
{
    (void)v, (void)c;
    *out = NULL;
    return TG_OK;
}

static mem_plugin_data plugin_data = {3, 0, NULL};

/* Registered once per test process, from heap copies that are freed right away: the registry
 * must have copied every string, schema and vtable (ASan would see a use after free). */
static void register_mem_plugin(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    tg_param_spec *fail_params = calloc(1, sizeof *fail_params);
    fail_params[0] = (tg_param_spec){strdup("when"),
                                     TG_PARAM_INT,
                                     strdup("0"),
                                     0,
                                     1,
                                     strdup("1: fail at create; 0: fail at apply")};
    tg_processor_vtable *vts = calloc(3, sizeof *vts);
    vts[0] = (tg_processor_vtable){.struct_size = TG_PROCESSOR_VTABLE_SIZE,
                                   .name = strdup("mem_ban"),
                                   .kind = TG_PROC_TRANSFORM,
                                   .doc = strdup("ban the id in the user data"),
                                   .create = ban_create,
                                   .apply = ban_apply};
    vts[1] = (tg_processor_vtable){.struct_size = TG_PROCESSOR_VTABLE_SIZE,
                                   .name = strdup("mem_fail"),
                                   .kind = TG_PROC_FILTER,
                                   .doc = strdup("fail"),
                                   .params = fail_params,
                                   .n_params = 1,
                                   .create = fail_create,
                                   .apply = fail_apply};
    vts[2] = (tg_processor_vtable){.struct_size = TG_PROCESSOR_VTABLE_SIZE,
                                   .name = strdup("mem_pick"),
                                   .kind = TG_PROC_SELECTOR,
                                   .doc = strdup("greedy, from memory"),
                                   .create = stateless_create,
                                   .apply = pick_apply};
    const tg_processor_vtable **list = calloc(3, sizeof *list);
    for (int i = 0; i < 3; i++)
        list[i] = &vts[i];
    tg_plugin_desc *d = calloc(1, sizeof *d);
    *d = (tg_plugin_desc){.abi_version = TG_PLUGIN_ABI_VERSION,
                          .struct_size = sizeof *d,
                          .name = strdup("mem"),
                          .version = strdup("1.0"),
                          .license = strdup("MIT"),
                          .description = strdup("test processors from memory"),
                          .processors = list,
                          .n_processors = 3};
    cr_assert_eq(tg_plugin_register(d, &plugin_data), TG_OK, "%s", tg_error_last());
    for (int i = 0; i < 3; i++) {
        free((char *)vts[i].name);
        free((char *)vts[i].doc);
    }
    free((char *)fail_params[0].name);
    free((char *)fail_params[0].default_value);
    free((char *)fail_params[0].doc);
    free(fail_params);
    free(vts);
    free(list);
    free((char *)d->name);
    free((char *)d->version);
    free((char *)d->license);
    free((char *)d->description);
    memset(d, 0xab, sizeof *d);
    free(d);
}

static tg_chain *parse(const char *spec, int32_t n_vocab)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = n_vocab;
    tg_chain *c = NULL;
    cr_assert_eq(tg_chain_parse(&c, spec, &o), TG_OK, "%s: %s", spec, tg_error_last());
    return c;
}

static void expect_error(const char *spec, tg_status want, const char *text)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 8;
    tg_chain *c = NULL;
    cr_assert_eq(tg_chain_parse(&c, spec, &o), want, "%s", tg_error_last());
    cr_assert_null(c);
    cr_assert(strstr(tg_error_last(), text), "'%s' lacks '%s'", tg_error_last(), text);
}

TestSuite(register_mem, .init = register_mem_plugin);

Test(register_mem, processors_join_a_chain_next_to_builtins_and_get_the_user_data)
{
    const int before = plugin_data.n_created;
    tg_chain *c = parse("mem_ban top_k(k=3) mem_pick", 8);
    cr_assert_eq(plugin_data.n_created, before + 1);
    const float logits[8] = {0, 1, 2, 9, 4, 5, 0, 0}; /* id 3 is the best but banned */
    int32_t tok = -1;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tok, 5);
    tg_chain *d;
    cr_assert_eq(tg_chain_clone(&d, c), TG_OK, "%s", tg_error_last());
    cr_assert_eq(plugin_data.n_created, before + 2, "a clone creates with the same user data");
    cr_assert_eq(tg_chain_sample(&tok, NULL, d, logits), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tok, 5);
    tg_chain_free(d);
    tg_chain_free(c);
}

Test(register_mem, the_registry_describes_them)
{
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    cr_assert_eq(tg_processor_find(&info, "mem_fail"), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(info.path, "memory:mem");
    cr_assert_str_eq(info.plugin->name, "mem");
    cr_assert_str_eq(info.plugin->description, "test processors from memory");
    cr_assert_str_eq(info.vtable->doc, "fail");
    cr_assert_eq(info.vtable->n_params, 1);
    cr_assert_str_eq(info.vtable->params[0].name, "when");
    cr_assert_str_eq(info.vtable->params[0].default_value, "0");
    char *printed = NULL;
    tg_chain *c = parse("mem_fail mem_pick", 8);
    cr_assert_eq(tg_chain_print(&printed, c), TG_OK);
    cr_assert_str_eq(printed, "mem_fail(when=0) mem_pick");
    tg_free(printed);
    tg_chain_free(c);
}

Test(register_mem, a_name_taken_or_a_bad_descriptor_is_refused)
{
    static const tg_processor_vtable dup = {TG_PROCESSOR_VTABLE_SIZE,
                                            "mem_pick",
                                            TG_PROC_SELECTOR,
                                            "again",
                                            NULL,
                                            0,
                                            stateless_create,
                                            pick_apply,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL,
                                            {0},
                                            NULL};
    static const tg_processor_vtable *const list[] = {&dup};
    tg_plugin_desc d = {TG_PLUGIN_ABI_VERSION, sizeof d, "mem2", "1", "MIT", "dup", list, 1, {0}};
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EEXISTS);
    cr_assert_str_eq(tg_error_last(), "refusing plugin 'memory:mem2': processor 'mem_pick' is "
                                      "already registered by 'memory:mem'");
    d.abi_version = 99;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "refusing plugin 'memory:mem2': it was built for plugin ABI "
                                      "version 99"),
              "%s", tg_error_last());
    d.abi_version = TG_PLUGIN_ABI_VERSION;
    d.n_processors = 0;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "lists no processors"), "%s", tg_error_last());
    cr_assert_eq(tg_plugin_register(NULL, NULL), TG_EINVAL);
}

Test(register_mem, a_plugin_message_names_the_stage_once)
{
    expect_error("mem_fail(when=1) mem_pick", TG_ESPEC,
                 "spec position 1: mem_fail: when=1 is refused at create");
    cr_assert_null(strstr(tg_error_last(), "mem_fail: mem_fail"), "%s", tg_error_last());
    tg_chain *c = parse("mem_fail mem_pick", 8);
    const float logits[8] = {0};
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits), TG_EUSER);
    cr_assert_str_eq(tg_error_last(), "stage 1 'mem_fail' failed: the step is refused");
    tg_chain_free(c);
}

Test(register_mem, a_stage_after_the_selector_is_told_to_move_before_it)
{
    expect_error("mem_pick mem_ban", TG_ESPEC,
                 "'mem_ban' comes after the selector 'mem_pick'; the selector must be the last "
                 "stage — move 'mem_ban' before 'mem_pick'");
}

Test(register_mem, create_sees_the_models_tokenizer)
{
    char *dir = g_build_filename(getenv("TG_SOURCE_ROOT"), "models", "shakespeare-char", NULL);
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK, "%s", tg_error_last());
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.model = m;
    tg_chain *c;
    cr_assert_eq(tg_chain_parse(&c, "mem_ban mem_pick", &o), TG_OK, "%s", tg_error_last());
    cr_assert_not_null(plugin_data.tokenizer);
    cr_assert_eq(plugin_data.tokenizer, tg_model_tokenizer(m));
    const tg_tokenizer *tok = plugin_data.tokenizer; /* typed: no cast needed */
    cr_assert_eq(tg_tokenizer_n_vocab(tok), 65);
    tg_chain_free(c);
    tg_model_free(m);
    g_free(dir);
}

/* ---- candidate filter helpers ---- */

typedef struct cands {
    int32_t ids[8];
    float logits[8], probs[8];
    tg_candidates c;
} cands;

static void cands_init(cands *k, size_t n)
{
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < n; i++) {
        k->ids[i] = (int32_t)(10 + i);
        k->logits[i] = (float)(n - i); /* descending: fully sorted */
    }
    k->c = (tg_candidates){sizeof k->c, 20, k->ids, k->logits, k->probs, n, 8, n, 0, -1};
}

static int32_t even_id(const tg_candidates *c, size_t i, void *user)
{
    (*(int *)user)++;
    return c->ids[i] % 2 == 0;
}

static int32_t never(const tg_candidates *c, size_t i, void *user)
{
    (void)c, (void)i, (void)user;
    return 0;
}

Test(candidates, keep_if_is_stable_and_keeps_sorted_and_probs_truthful)
{
    cands k;
    cands_init(&k, 6);
    cr_assert_eq(tg_candidates_softmax(&k.c), TG_OK);
    int calls = 0;
    cr_assert_eq(tg_candidates_keep_if(&k.c, even_id, &calls), TG_OK);
    cr_assert_eq(calls, 6, "asked once per live entry");
    cr_assert_eq(k.c.size, 3);
    cr_assert_eq(k.c.sorted, 3);
    const int32_t want[] = {10, 12, 14};
    double sum = 0;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(k.ids[i], want[i]);
        cr_assert_float_eq(k.logits[i], (float)(6 - 2 * i), 0);
        sum += k.probs[i];
    }
    cr_assert_float_eq(sum, 1.0, 1e-6);
    cr_assert_float_eq(k.probs[0] / k.probs[1], expf(2.0f), 1e-4, "ratios are unchanged");
    /* the removed entries are still in the arrays (a permutation) */
    int seen[20] = {0};
    for (size_t i = 0; i < 6; i++)
        seen[k.ids[i]]++;
    for (int id = 10; id < 16; id++)
        cr_assert_eq(seen[id], 1);
}

Test(candidates, remove_if_and_mask_are_the_same_compaction)
{
    cands a, b;
    cands_init(&a, 7);
    cands_init(&b, 7);
    a.c.sorted = 4; /* only a prefix is known sorted */
    b.c.sorted = 4;
    int calls = 0;
    cr_assert_eq(tg_candidates_remove_if(&a.c, even_id, &calls), TG_OK);
    const uint8_t mask[7] = {0, 1, 0, 1, 0, 1, 0};
    cr_assert_eq(tg_candidates_keep(&b.c, mask), TG_OK);
    cr_assert_eq(a.c.size, 3);
    cr_assert_eq(b.c.size, 3);
    cr_assert_eq(a.c.sorted, 2, "odd ids 11 and 13 were in the sorted prefix");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(a.ids[i], (int32_t)(11 + 2 * i));
        cr_assert_eq(b.ids[i], a.ids[i]);
    }
    cr_assert_eq(a.c.probs_valid, 0, "invalid probs stay invalid");
}

Test(candidates, keeping_nothing_is_refused_and_changes_nothing)
{
    cands k, orig;
    cands_init(&k, 5);
    cr_assert_eq(tg_candidates_softmax(&k.c), TG_OK);
    orig = k;
    cr_assert_eq(tg_candidates_keep_if(&k.c, never, NULL), TG_ERANGE);
    cr_assert_str_eq(tg_error_last(), "tg_candidates_keep_if: no candidate would be left (of 5)");
    cr_assert_eq(memcmp(k.ids, orig.ids, sizeof k.ids), 0);
    cr_assert_eq(memcmp(k.probs, orig.probs, sizeof k.probs), 0);
    cr_assert_eq(k.c.size, 5);
    const uint8_t none[5] = {0};
    cr_assert_eq(tg_candidates_keep(&k.c, none), TG_ERANGE);
    cr_assert_eq(tg_candidates_keep(&k.c, NULL), TG_EINVAL);
    cr_assert_eq(tg_candidates_keep_if(&k.c, NULL, NULL), TG_EINVAL);
    cr_assert_eq(tg_candidates_remove_if(NULL, never, NULL), TG_EINVAL);
}

/* ---- folders found relative to the library ---- */

Test(paths, plugins_and_bundled_model_are_beside_the_loaded_library)
{
    /* From the build tree: <build>/lib/libtextgen.so.0, so the folders are under <build>/lib
     * and do not exist there (the tests use TEXTGEN_PLUGIN_PATH). */
    char *libdir = g_build_filename(getenv("TG_BUILD_ROOT"), "lib", NULL);
    char *real = realpath(libdir, NULL);
    const char *dir = NULL;
    tg_status st = tg_plugins_dir(&dir);
    char *want = g_build_filename(real, "textgen-0", "plugins", NULL);
    cr_assert_str_eq(dir, want);
    cr_assert_eq(st, TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), want), "%s", tg_error_last());
    g_free(want);
    st = tg_bundled_model_dir(&dir);
    cr_assert_eq(st, TG_ENOTFOUND);
    cr_assert(g_str_has_suffix(dir, "/share/textgen/models/shakespeare-char"), "%s", dir);
    cr_assert_eq(tg_plugins_dir(NULL), TG_EINVAL);
    free(real);
    g_free(libdir);
}

Test(paths, the_default_model_is_textgen_model_and_load_default_reads_it)
{
    char *bundled = g_build_filename(getenv("TG_SOURCE_ROOT"), "models", "shakespeare-char", NULL);
    cr_assert_eq(setenv("TEXTGEN_MODEL", bundled, 1), 0);
    const char *dir = NULL;
    cr_assert_eq(tg_default_model_dir(&dir), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(dir, bundled);
    tg_model *m = NULL;
    cr_assert_eq(tg_model_load_default(&m, NULL), TG_OK, "%s", tg_error_last());
    cr_assert_str_eq(tg_model_path(m), bundled);
    tg_model_free(m);
    cr_assert_eq(setenv("TEXTGEN_MODEL", "/no/such/model", 1), 0);
    cr_assert_eq(tg_model_load_default(&m, NULL), TG_ENOTFOUND);
    cr_assert_null(m);
    cr_assert_str_eq(tg_error_last(),
                     "$TEXTGEN_MODEL names '/no/such/model', which is not a folder");
    unsetenv("TEXTGEN_MODEL");
    cr_assert_eq(tg_default_model_dir(&dir), TG_ENOTFOUND, "the build tree has no installed model");
    cr_assert(g_str_has_suffix(dir, "shakespeare-char"));
    g_free(bundled);
}

/* ---- a plugin written in C++ (tests/plugins/cpp_plugin.cpp) ---- */

Test(cpp_plugin, loads_by_its_plain_entry_symbol_and_filters_in_a_chain)
{
#ifndef TG_HAVE_CPP
    cr_skip_test("no C++ compiler: the C++ test plugin was not built");
#else
    char *path = g_build_filename(getenv("TG_TEST_PLUGINS"), "cpp_plugin.so", NULL);
    cr_assert_eq(tg_plugin_load(path), TG_OK, "%s", tg_error_last());
    tg_chain *c = parse("cpp_keep_mod(m=3, r=1) greedy", 8);
    const float logits[8] = {7, 6, 5, 4, 3, 2, 1, 0}; /* best with id % 3 == 1: id 1 */
    int32_t tok = -1;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tok, 1);
    const tg_candidates *cands = tg_chain_candidates(c);
    cr_assert_eq(cands->size, 3, "ids 1, 4 and 7 survive");
    cr_assert_eq(tg_chain_accept(c, tok), TG_OK);
    tg_chain *d;
    cr_assert_eq(tg_chain_clone(&d, c), TG_OK, "%s", tg_error_last());
    tg_chain_free(d);
    tg_chain_free(c);
    expect_error("cpp_keep_mod(m=2, r=5) greedy", TG_ESPEC,
                 "spec position 1: cpp_keep_mod: r must be smaller than m");
    g_free(path);
#endif
}

/* ---- descriptors that lie: refused, never read past what is readable ---- */

Test(probe, lying_pointers_and_counts_are_refused_without_a_crash)
{
    static const tg_param_spec one_param[] = {{"x", TG_PARAM_INT, "1", 0, 9, "a parameter"}};
    tg_processor_vtable vt = {TG_PROCESSOR_VTABLE_SIZE,
                              "probe_ok",
                              TG_PROC_SELECTOR,
                              "doc",
                              one_param,
                              1,
                              stateless_create,
                              pick_apply,
                              NULL,
                              NULL,
                              NULL,
                              NULL,
                              NULL,
                              NULL,
                              NULL,
                              {0},
                              NULL};
    const tg_processor_vtable *list[] = {&vt};
    tg_plugin_desc d = {TG_PLUGIN_ABI_VERSION, sizeof d, "probe", "1", "MIT", "d", list, 1, {0}};
    /* the processor array at an address nothing maps */
    d.processors = (const tg_processor_vtable *const *)(uintptr_t)0x10;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "the descriptor's processor array points to unreadable "
                                      "memory"),
              "%s", tg_error_last());
    d.processors = list;
    /* a count far beyond the array, and beyond any plugin */
    d.n_processors = 5000;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "lists 5000 processors, more than the 1024"), "%s",
              tg_error_last());
    d.n_processors = 1;
    /* a vtable name that points nowhere */
    vt.name = (const char *)(uintptr_t)0x20;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "processor 0's name or doc points to unreadable memory or "
                                      "is not a NUL-terminated string"),
              "%s", tg_error_last());
    vt.name = "probe_ok";
    /* a schema pointer that points nowhere, and a count beyond any processor */
    vt.params = (const tg_param_spec *)(uintptr_t)0x30;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "processor 0's parameter 0 (does n_params = 1 exceed"), "%s",
              tg_error_last());
    vt.params = one_param;
    vt.n_params = 100000;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "declares 100000 parameters, more than the 256"), "%s",
              tg_error_last());
    /* told the truth, the same descriptor registers */
    vt.n_params = 1;
    cr_assert_eq(tg_plugin_register(&d, NULL), TG_OK, "%s", tg_error_last());
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    cr_assert_eq(tg_processor_find(&info, "probe_ok"), TG_OK);
}
