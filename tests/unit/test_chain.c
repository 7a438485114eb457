/* The plugin loader, the registry, the chain spec language and the chain's life cycle, using the
 * test-only plugins of tests/plugins (loaded by explicit path). */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <textgen/textgen.h>

static char *plugin_path(const char *name)
{
    const char *dir = g_getenv("TG_TEST_PLUGINS");
    cr_assert_not_null(dir, "TG_TEST_PLUGINS is not set (run through meson test)");
    char *file = g_strconcat(name, ".so", NULL);
    char *p = g_build_filename(dir, file, NULL);
    g_free(file);
    return p;
}

static void load_good(void)
{
    char *p = plugin_path("good");
    cr_assert_eq(tg_plugin_load(p), TG_OK, "%s", tg_error_last());
    g_free(p);
}

static void expect_refused(const char *name, tg_status want, const char *needle)
{
    char *p = plugin_path(name);
    tg_status st = tg_plugin_load(p);
    cr_assert_eq(st, want, "%s: status %d, want %d: %s", name, st, want, tg_error_last());
    cr_assert(strstr(tg_error_last(), p) != NULL, "message does not name the file: %s",
              tg_error_last());
    cr_assert(strstr(tg_error_last(), needle) != NULL, "message lacks \"%s\": %s", needle,
              tg_error_last());
    g_free(p);
}

static tg_chain *parse(const char *spec, int32_t n_vocab)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = n_vocab;
    o.seed = 7;
    tg_chain *c;
    cr_assert_eq(tg_chain_parse(&c, spec, &o), TG_OK, "%s: %s", spec, tg_error_last());
    return c;
}

static void expect_spec_error(const char *spec, const char *needle)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 6;
    tg_chain *c = (tg_chain *)0x1;
    tg_status st = tg_chain_parse(&c, spec, &o);
    cr_assert_eq(st, TG_ESPEC, "%s: status %d: %s", spec, st, tg_error_last());
    cr_assert_null(c);
    cr_assert(strstr(tg_error_last(), needle) != NULL, "%s: message lacks \"%s\": %s", spec, needle,
              tg_error_last());
}

/* ---- loader ---- */

Test(loader, refuses_a_wrong_abi_version)
{
    expect_refused("bad_abi", TG_EPLUGIN, "built for plugin ABI version 99");
}

Test(loader, refuses_a_short_descriptor)
{
    expect_refused("short_struct", TG_EPLUGIN, "descriptor struct_size 12 is smaller than");
}

Test(loader, refuses_a_module_without_the_entry_symbol)
{
    expect_refused("no_symbol", TG_EPLUGIN, "no symbol tg_plugin_get_desc");
}

Test(loader, refuses_a_missing_required_member)
{
    expect_refused("missing_apply", TG_EPLUGIN, "lacks the required member 'apply'");
}

Test(loader, refuses_a_short_vtable)
{
    expect_refused("short_vtable", TG_EPLUGIN, "vtable struct_size 16 is smaller than");
}

Test(loader, refuses_a_name_already_registered)
{
    load_good();
    expect_refused("duplicate", TG_EEXISTS, "processor 'test_scale' is already registered by");
    cr_assert(strstr(tg_error_last(), "good.so") != NULL, "%s", tg_error_last());
}

Test(loader, loading_the_same_file_twice_is_a_no_op)
{
    load_good();
    size_t n = tg_processor_count();
    load_good();
    cr_assert_eq(tg_processor_count(), n);
}

Test(loader, refuses_a_file_that_is_not_a_module)
{
    char *dir = tu_tmpdir();
    tu_write_file(dir, "fake.so", "not an ELF file\n", 16);
    char *p = g_build_filename(dir, "fake.so", NULL);
    chmod(p, 0644);
    cr_assert_eq(tg_plugin_load(p), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "not a loadable module") != NULL, "%s", tg_error_last());
    g_free(p);
    tu_rmtree(dir);
    g_free(dir);
}

Test(loader, refuses_a_plugin_writable_by_others)
{
    char *src = plugin_path("good");
    size_t len;
    void *bytes = tu_read_file(src, &len);
    char *dir = tu_tmpdir();
    tu_write_file(dir, "open.so", bytes, len);
    char *p = g_build_filename(dir, "open.so", NULL);
    chmod(p, 0666);
    cr_assert_eq(tg_plugin_load(p), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "writable by group or others (mode 0666)") != NULL, "%s",
              tg_error_last());
    chmod(p, 0620);
    cr_assert_eq(tg_plugin_load(p), TG_EPLUGIN);
    g_free(p);
    g_free(bytes);
    g_free(src);
    tu_rmtree(dir);
    g_free(dir);
}

Test(loader, missing_file)
{
    cr_assert_eq(tg_plugin_load("/nonexistent/plugin.so"), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "/nonexistent/plugin.so") != NULL);
    cr_assert_eq(tg_plugin_load(NULL), TG_EINVAL);
}

Test(loader, a_search_directory_is_scanned_and_refusals_are_reported)
{
    /* A directory holding one good and one bad plugin: the good one registers, the scan
     * reports the bad one. */
    char *dir = tu_tmpdir();
    const char *names[] = {"good", "bad_abi"};
    for (int i = 0; i < 2; i++) {
        char *src = plugin_path(names[i]);
        size_t len;
        void *bytes = tu_read_file(src, &len);
        char *file = g_strconcat(names[i], ".so", NULL);
        tu_write_file(dir, file, bytes, len);
        char *p = g_build_filename(dir, file, NULL);
        chmod(p, 0755);
        g_free(p);
        g_free(file);
        g_free(bytes);
        g_free(src);
    }
    cr_assert_eq(tg_plugin_add_dir(dir), TG_OK);
    cr_assert_eq(tg_plugin_scan(), TG_EPLUGIN);
    cr_assert(strstr(tg_error_last(), "bad_abi.so") != NULL, "%s", tg_error_last());
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    cr_assert_eq(tg_processor_find(&info, "test_top"), TG_OK, "%s", tg_error_last());
    cr_assert(strstr(info.path, dir) != NULL || strstr(info.path, "good.so") != NULL);
    tu_rmtree(dir);
    g_free(dir);
}

/* ---- registry introspection ---- */

Test(registry, lists_processors_with_kind_parameters_and_docs)
{
    load_good();
    tg_processor_info info = TG_PROCESSOR_INFO_INIT;
    cr_assert_eq(tg_processor_find(&info, "test_top"), TG_OK);
    cr_assert_str_eq(info.vtable->name, "test_top");
    cr_assert_eq(info.vtable->kind, TG_PROC_FILTER);
    cr_assert_eq(info.vtable->n_params, 4);
    cr_assert_str_eq(info.vtable->params[0].name, "n");
    cr_assert_str_eq(info.vtable->params[0].doc, "candidates kept");
    cr_assert_str_eq(info.plugin->name, "test-good");
    cr_assert(g_str_has_suffix(info.path, "good.so"));
    size_t n = tg_processor_count();
    cr_assert_geq(n, 6);
    const char *prev = "";
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tg_processor_at(&info, i), TG_OK);
        cr_assert_gt(strcmp(info.vtable->name, prev), 0, "sorted by name");
        prev = info.vtable->name;
    }
    cr_assert_eq(tg_processor_at(&info, n), TG_ERANGE);
    cr_assert_eq(tg_processor_find(&info, "no_such_thing"), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "known: ") != NULL);
    cr_assert(strstr(tg_error_last(), "test_top") != NULL);
}

/* ---- spec language ---- */

TestSuite(spec, .init = load_good);

Test(spec, print_writes_every_parameter_and_parses_back_to_the_same_chain)
{
    tg_chain *c = parse("test_scale(factor=0.5) test_top test_first", 6);
    char *printed;
    cr_assert_eq(tg_chain_print(&printed, c), TG_OK);
    cr_assert_str_eq(printed, "test_scale(factor=0.5) test_top(n=2, note=\"hello, world\", "
                              "ids=\"\", flag=false) test_first");
    tg_chain *again = parse(printed, 6);
    char *printed2;
    cr_assert_eq(tg_chain_print(&printed2, again), TG_OK);
    cr_assert_str_eq(printed, printed2);
    cr_assert_eq(tg_chain_length(again), 3);
    tg_free(printed);
    tg_free(printed2);
    tg_chain_free(c);
    tg_chain_free(again);
}

Test(spec, values_can_be_quoted_and_ids_are_canonicalised)
{
    tg_chain *c = parse("test_top(n = 3, note=\"a \\\"quoted\\\" (text), yes\", ids=1 2 ;3, "
                        "flag=yes), test_first",
                        6);
    char *printed;
    cr_assert_eq(tg_chain_print(&printed, c), TG_OK);
    cr_assert_str_eq(printed, "test_top(n=3, note=\"a \\\"quoted\\\" (text), yes\", ids=\"1 2; "
                              "3\", flag=true) test_first");
    tg_free(printed);
    tg_chain_free(c);
}

Test(spec, unknown_processor_lists_the_known_ones)
{
    expect_spec_error("test_scale test_topp(n=1) test_first",
                      "spec position 12: unknown processor 'test_topp'; known processors: ");
    cr_assert(strstr(tg_error_last(), "test_top") != NULL, "%s", tg_error_last());
}

Test(spec, unknown_parameter_lists_the_valid_ones)
{
    expect_spec_error("test_top(k=3) test_first",
                      "spec position 1: processor 'test_top' has no parameter 'k'; its "
                      "parameters: n (int), note (string), ids (token ids), flag (bool)");
}

Test(spec, out_of_range_value_names_the_range)
{
    expect_spec_error("test_top(n=0) test_first",
                      "test_top(n=...): 0 is out of range [1, 1000000] — candidates kept");
    expect_spec_error("test_scale(factor=abc) test_first", "'abc' is not a number");
    expect_spec_error("test_top(flag=maybe) test_first", "'maybe' is not true or false");
    expect_spec_error("test_top(ids=1 x) test_first", "'x' is not a token id");
}

Test(spec, no_selector)
{
    expect_spec_error("test_scale test_top", "has no selector; end it with one");
}

Test(spec, two_selectors)
{
    expect_spec_error("test_first test_first", "spec position 12: two selectors");
}

Test(spec, selector_not_last)
{
    expect_spec_error("test_first test_top",
                      "'test_top' comes after the selector 'test_first'; the selector must be "
                      "the last stage");
}

Test(spec, syntax_errors_point_at_the_position)
{
    expect_spec_error("test_top(n=2 test_first", "spec position 9: '(' after 'test_top' is not "
                                                 "closed");
    expect_spec_error("test_top(n) test_first", "parameter 'n' needs a value");
    expect_spec_error("test_top(note=\"open) test_first", "not closed");
    expect_spec_error("test_top(n=2, n=3) test_first", "parameter 'n' of 'test_top' is given "
                                                       "twice");
    expect_spec_error("test_top! test_first", "spec position 9: expected a processor name");
}

Test(spec, add_by_name_validates_like_the_parser)
{
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 6;
    tg_chain *c;
    cr_assert_eq(tg_chain_create(&c, &o), TG_OK);
    cr_assert_eq(tg_chain_add(c, "test_top", "n=4"), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_chain_validate(c), TG_ESPEC);
    cr_assert_eq(tg_chain_add(c, "test_first", NULL), TG_OK);
    cr_assert_eq(tg_chain_validate(c), TG_OK);
    cr_assert_eq(tg_chain_add(c, "test_scale", ""), TG_ESPEC);
    cr_assert(strstr(tg_error_last(), "stage 3: 'test_scale' comes after the selector") != NULL,
              "%s", tg_error_last());
    cr_assert_eq(tg_chain_length(c), 2, "a refused stage is not added");
    tg_chain_free(c);
}

Test(spec, chain_from_a_key_file)
{
    char *dir = tu_tmpdir();
    const char *ini = "# sampling settings\n[chain]\nseed=99\n\n[stage test_scale]\nfactor=3\n\n"
                      "[stage test_top]\nn=3\nnote=two words\n\n[stage test_top #2]\nn=2\n\n"
                      "[stage test_first]\n";
    tu_write_file(dir, "chain.ini", ini, strlen(ini));
    char *p = g_build_filename(dir, "chain.ini", NULL);
    tg_chain_options o = TG_CHAIN_OPTIONS_INIT;
    o.n_vocab = 6;
    tg_chain *c;
    cr_assert_eq(tg_chain_create(&c, &o), TG_OK);
    cr_assert_eq(tg_chain_load_file(c, p), TG_OK, "%s", tg_error_last());
    char *printed;
    tg_chain_print(&printed, c);
    cr_assert_str_eq(printed, "test_scale(factor=3) test_top(n=3, note=\"two words\", ids=\"\", "
                              "flag=false) test_top(n=2, note=\"hello, world\", ids=\"\", "
                              "flag=false) test_first");
    tg_free(printed);
    tg_chain_free(c);
    const char *bad = "[stage test_top]\nk=1\n";
    tu_write_file(dir, "bad.ini", bad, strlen(bad));
    char *pb = g_build_filename(dir, "bad.ini", NULL);
    cr_assert_eq(tg_chain_create(&c, &o), TG_OK);
    cr_assert_eq(tg_chain_load_file(c, pb), TG_ESPEC);
    cr_assert(strstr(tg_error_last(), "bad.ini [stage test_top]: processor 'test_top' has no "
                                      "parameter 'k'") != NULL,
              "%s", tg_error_last());
    cr_assert_eq(tg_chain_load_file(c, "/nonexistent.ini"), TG_ENOTFOUND);
    cr_assert(strstr(tg_error_last(), "chain file: cannot open '/nonexistent.ini'"), "%s",
              tg_error_last());
    /* a FIFO (or any special file) is refused at once instead of blocking the read */
    char *fifo = g_build_filename(dir, "chain.fifo", NULL);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(tg_chain_load_file(c, fifo), TG_EIO);
    cr_assert(strstr(tg_error_last(), "not a regular file (a FIFO)"), "%s", tg_error_last());
    cr_assert_eq(tg_chain_load_file(c, "/dev/zero"), TG_EIO);
    cr_assert(strstr(tg_error_last(), "a character device"), "%s", tg_error_last());
    g_free(fifo);
    tg_chain_free(c);
    g_free(p);
    g_free(pb);
    tu_rmtree(dir);
    g_free(dir);
}

/* ---- running a chain ---- */

TestSuite(run, .init = load_good);

static const float logits6[6] = {1.0f, 3.0f, 2.0f, 0.5f, 2.5f, -1.0f};

Test(run, stages_run_in_order_and_the_selector_picks)
{
    tg_chain *c = parse("test_scale(factor=-1) test_top(n=3) test_first", 6);
    int32_t tok;
    float lp;
    cr_assert_eq(tg_chain_sample(&tok, &lp, c, logits6), TG_OK, "%s", tg_error_last());
    /* negated: {-1,-3,-2,-0.5,-2.5,1}: best three are ids 5 (1), 3 (-0.5), 0 (-1) */
    cr_assert_eq(tok, 5);
    const tg_candidates *cand = tg_chain_candidates(c);
    cr_assert_eq(cand->size, 3);
    cr_assert_eq(cand->ids[0], 5);
    cr_assert_eq(cand->ids[1], 3);
    cr_assert_eq(cand->ids[2], 0);
    double z = exp(1.0) + exp(-0.5) + exp(-1.0);
    cr_assert_float_eq(lp, (float)(1.0 - log(z)), 1e-6);
    tg_chain_free(c);
}

/* The chosen token's log-probability over a vocabulary long enough for the vectorised
 * normaliser's every path (blocks of 8, partial sums of 256, a scalar tail), with bans (-inf)
 * among the logits, against a double-precision reference. */
Test(run, the_logprob_of_a_large_vocabulary_matches_a_double_reference)
{
    enum { V = 1003 };
    static float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (i % 13 == 5) ? -INFINITY : (float)sin(i * 0.37) * 6.0f + (float)(i % 5);
    tg_chain *c = parse("test_first", V);
    int32_t tok;
    float lp;
    cr_assert_eq(tg_chain_sample(&tok, &lp, c, l), TG_OK, "%s", tg_error_last());
    int best = 0; /* test_first takes the largest */
    for (int i = 1; i < V; i++)
        best = l[i] > l[best] ? i : best;
    cr_assert_eq(tok, best);
    double z = 0;
    for (int i = 0; i < V; i++)
        z += exp((double)l[i] - l[best]);
    const double want = -log(z);
    cr_assert(fabs((double)lp - want) < 2e-6 * fabs(want) + 1e-6, "logprob %.9g, want %.9g",
              (double)lp, want);
    tg_chain_free(c);
}

Test(run, a_failing_stage_fails_the_step_with_its_message_and_the_chain_stays_usable)
{
    tg_chain *c = parse("test_scale test_fail test_first", 6);
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_EUSER);
    cr_assert_eq(tok, -1);
    cr_assert_str_eq(tg_error_last(), /* the stage's name once, though the plugin wrote it too */
                     "stage 2 'test_fail' failed: the plugin refused this step on purpose");
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_EUSER, "same again, no crash");
    tg_chain *ok = parse("test_scale test_first", 6);
    cr_assert_eq(tg_chain_sample(&tok, NULL, ok, logits6), TG_OK);
    cr_assert_eq(tok, 1);
    tg_chain_free(c);
    tg_chain_free(ok);
}

Test(run, nan_logits_are_refused)
{
    tg_chain *c = parse("test_first", 6);
    float bad[6] = {0, 1, NAN, 0, 0, 0};
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, bad), TG_ERANGE);
    cr_assert_str_eq(tg_error_last(), "logit of token 2 is NaN");
    tg_chain_free(c);
}

Test(run, accept_clone_reset_and_snapshots_carry_state)
{
    tg_chain *c = parse("test_count test_first", 6);
    int32_t prompt[2] = {0, 1};
    cr_assert_eq(tg_chain_set_prompt(c, prompt, 2), TG_OK);
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(tok, 1);
    cr_assert_eq(tg_chain_accept(c, tok), TG_OK);
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(tok, 4, "1 is banned after being accepted");
    /* snapshot with 1 banned */
    void *snap;
    size_t snap_len;
    cr_assert_eq(tg_chain_save(&snap, &snap_len, c), TG_OK, "%s", tg_error_last());
    tg_chain *d;
    cr_assert_eq(tg_chain_clone(&d, c), TG_OK);
    cr_assert_eq(tg_chain_accept(c, 4), TG_OK);
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(tok, 2);
    cr_assert_eq(tg_chain_sample(&tok, NULL, d, logits6), TG_OK);
    cr_assert_eq(tok, 4, "the clone did not see the original's later accept");
    cr_assert_eq(tg_chain_restore(c, snap, snap_len), TG_OK, "%s", tg_error_last());
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(tok, 4, "restored to the snapshot");
    cr_assert_eq(tg_chain_reset(c), TG_OK);
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(tok, 1, "reset forgets");
    /* snapshot of another chain shape is refused */
    tg_chain *other = parse("test_scale test_first", 6);
    cr_assert_eq(tg_chain_restore(other, snap, snap_len), TG_EINVAL);
    cr_assert_eq(tg_chain_restore(other, "junk", 4), TG_EFORMAT);
    cr_assert_eq(tg_chain_restore(c, snap, snap_len - 3), TG_EFORMAT);
    tg_free(snap);
    tg_chain_free(c);
    tg_chain_free(d);
    tg_chain_free(other);
}

Test(run, stop_criteria_decide_after_accept)
{
    tg_chain *c = parse("test_first test_stop_after(n=2)", 6);
    int32_t stop;
    cr_assert_eq(tg_chain_check_stop(&stop, c), TG_OK);
    cr_assert_eq(stop, 0);
    tg_chain_accept(c, 1);
    cr_assert_eq(tg_chain_check_stop(&stop, c), TG_OK);
    cr_assert_eq(stop, 0);
    tg_chain_accept(c, 1);
    cr_assert_eq(tg_chain_check_stop(&stop, c), TG_OK);
    cr_assert_eq(stop, 1);
    cr_assert_eq(tg_chain_accept(c, 6), TG_ERANGE);
    tg_chain_free(c);
}

typedef struct trace_log {
    int calls;
    size_t n_stages;
    char names[4][32];
    size_t before[4], after[4];
    int32_t top_after_first[4];
    float top_prob_after_first[4];
    int32_t token;
} trace_log;

static void on_trace(const tg_trace_stage *st, size_t n, int32_t token, int32_t step, void *user)
{
    (void)step;
    trace_log *t = user;
    t->calls++;
    t->n_stages = n;
    t->token = token;
    for (size_t i = 0; i < n && i < 4; i++) {
        g_strlcpy(t->names[i], st[i].name, sizeof t->names[i]);
        t->before[i] = st[i].size_before;
        t->after[i] = st[i].size_after;
        t->top_after_first[i] = st[i].n_after ? st[i].after[0].id : -1;
        t->top_prob_after_first[i] = st[i].n_after ? st[i].after[0].prob : -1;
    }
}

Test(run, trace_reports_each_stage)
{
    tg_chain *c = parse("test_scale(factor=1) test_top(n=2) test_first", 6);
    trace_log t = {0};
    cr_assert_eq(tg_chain_set_trace(c, on_trace, 3, &t), TG_OK);
    int32_t tok;
    cr_assert_eq(tg_chain_sample(&tok, NULL, c, logits6), TG_OK);
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.n_stages, 3);
    cr_assert_str_eq(t.names[1], "test_top");
    cr_assert_eq(t.before[1], 6);
    cr_assert_eq(t.after[1], 2);
    cr_assert_eq(t.top_after_first[1], 1);
    /* after top 2 of {3, 2.5}: p(1) = 1 / (1 + e^-0.5) */
    cr_assert_float_eq(t.top_prob_after_first[1], (float)(1.0 / (1.0 + exp(-0.5))), 1e-6);
    cr_assert_eq(t.token, 1);
    cr_assert_eq(tg_chain_set_trace(c, on_trace, 0, &t), TG_ERANGE);
    tg_chain_free(c);
}

/* ---- helpers for plugin authors ---- */

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

Test(candidates, partial_sort_gives_the_true_top_k_in_order)
{
    enum { N = 5000 };
    int32_t *ids = malloc(N * sizeof *ids);
    float *lg = malloc(N * sizeof *lg), *pr = malloc(N * sizeof *pr),
          *ref = malloc(N * sizeof *ref);
    const size_t ks[] = {1, 2, 7, 64, 1000, N - 1, N};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        for (int i = 0; i < N; i++) {
            ids[i] = i;
            lg[i] = (float)(tg_rng_uniform(3, t, 0, (uint64_t)i) * 20.0 - 10.0);
            ref[i] = lg[i];
        }
        qsort(ref, N, sizeof *ref, cmp_desc);
        tg_candidates c = {sizeof c, N, ids, lg, pr, N, N, 0, 0, -1};
        cr_assert_eq(tg_candidates_sort(&c, ks[t]), TG_OK);
        cr_assert_geq(c.sorted, ks[t]);
        for (size_t i = 0; i < ks[t]; i++)
            cr_assert_eq(c.logits[i], ref[i], "k=%zu: entry %zu", ks[t], i);
        /* the ids still match their logits */
        for (int i = 0; i < N; i++)
            cr_assert_eq(c.logits[i],
                         (float)(tg_rng_uniform(3, t, 0, (uint64_t)c.ids[i]) * 20.0 - 10.0));
    }
    free(ids);
    free(lg);
    free(pr);
    free(ref);
}

Test(candidates, softmax_and_truncate)
{
    int32_t ids[4] = {0, 1, 2, 3};
    float lg[4] = {0, (float)log(2.0), (float)log(3.0), -INFINITY}, pr[4];
    tg_candidates c = {sizeof c, 4, ids, lg, pr, 4, 4, 0, 0, -1};
    cr_assert_eq(tg_candidates_softmax(&c), TG_OK);
    cr_assert_float_eq(pr[0], 1.0f / 6, 1e-7);
    cr_assert_float_eq(pr[2], 3.0f / 6, 1e-7);
    cr_assert_eq(pr[3], 0.0f);
    cr_assert_eq(tg_candidates_sort(&c, 4), TG_OK);
    cr_assert_eq(tg_candidates_truncate(&c, 2), TG_OK);
    cr_assert_float_eq(pr[0], 3.0f / 5, 1e-6);
    cr_assert_float_eq(pr[1], 2.0f / 5, 1e-6);
    cr_assert_eq(tg_candidates_truncate(&c, 0), TG_ERANGE);
    float all_inf[2] = {-INFINITY, -INFINITY};
    tg_candidates d = {sizeof d, 2, ids, all_inf, pr, 2, 2, 0, 0, -1};
    cr_assert_eq(tg_candidates_softmax(&d), TG_ESTATE);
}

Test(candidates, rng_is_a_pure_function_of_its_key)
{
    cr_assert_eq(tg_rng_uniform(1, 2, 3, 4), tg_rng_uniform(1, 2, 3, 4));
    cr_assert_neq(tg_rng_uniform(1, 2, 3, 4), tg_rng_uniform(1, 2, 3, 5));
    cr_assert_neq(tg_rng_uniform(1, 2, 3, 4), tg_rng_uniform(2, 2, 3, 4));
    double sum = 0, sq = 0;
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        double u = tg_rng_uniform(42, 0, (uint64_t)i, 0);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
        sq += u * u;
    }
    /* mean 1/2 and variance 1/12; 5 standard errors */
    cr_assert_float_eq(sum / N, 0.5, 5 * sqrt(1.0 / 12 / N));
    cr_assert_float_eq(sq / N - (sum / N) * (sum / N), 1.0 / 12, 0.002);
}
