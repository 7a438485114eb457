/* Status strings, thread-local errors, version agreement, option defaults. */
#include <criterion/criterion.h>
#include <glib.h>
#include <pthread.h>
#include <string.h>
#include <textgen/textgen.h>

Test(core, version_macros_agree_with_library)
{
    cr_assert_eq(tg_version_number(), (uint32_t)TG_VERSION_NUMBER);
    cr_assert_str_eq(tg_version_string(), TG_VERSION_STRING);
    cr_assert(TG_VERSION_CHECK(0, 0, 1));
    cr_assert_not(TG_VERSION_CHECK(TG_VERSION_MAJOR + 1, 0, 0));
}

Test(core, status_strings_are_distinct_and_named)
{
    const tg_status all[] = {TG_OK,      TG_ERROR,      TG_EINVAL,       TG_ENOMEM,
                             TG_EIO,     TG_EFORMAT,    TG_EUNSUPPORTED, TG_ENOTFOUND,
                             TG_ERANGE,  TG_EBACKEND,   TG_ESTATE,       TG_EPLUGIN,
                             TG_EEXISTS, TG_ECANCELLED, TG_EUSER,        TG_ESPEC};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(all[i], -(tg_status)i, "codes are fixed: index %zu", i);
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(tg_status_str(all[i]), tg_status_str(all[j]));
    }
    cr_assert_str_eq(tg_status_str(TG_EINVAL), "TG_EINVAL: invalid argument");
    cr_assert_str_eq(tg_status_str(12345), "unknown status");
}

Test(core, error_last_is_never_null_and_thread_local)
{
    tg_error_clear();
    cr_assert_not_null(tg_error_last());
    cr_assert_str_eq(tg_error_last(), "");
    tg_model *m;
    cr_assert_eq(tg_model_load(&m, NULL, NULL), TG_EINVAL);
    cr_assert_eq(tg_error_last_status(), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "'dir'") != NULL, "message: %s", tg_error_last());
}

static void *other_thread(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)(tg_error_last()[0] == '\0' && tg_error_last_status() == TG_OK);
}

Test(core, errors_do_not_leak_across_threads)
{
    tg_model *m;
    tg_model_load(&m, NULL, NULL);
    pthread_t t;
    void *clean;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, &clean);
    cr_assert(clean);
    cr_assert_neq(tg_error_last()[0], '\0');
}

static int log_calls;
static void on_log(int32_t level, const char *msg, void *user)
{
    (void)level;
    (void)msg;
    *(int *)user += 1;
}

Test(core, log_callback_receives_messages_and_can_be_removed)
{
    log_calls = 0;
    tg_log_set(on_log, TG_LOG_DEBUG, &log_calls);
    tg_model *m;
    tg_model_load(&m, "/nonexistent/folder", NULL);
    cr_assert_gt(log_calls, 0);
    tg_log_set(NULL, 0, NULL);
    int before = log_calls;
    tg_model_load(&m, "/nonexistent/folder", NULL);
    cr_assert_eq(log_calls, before);
}

Test(core, option_defaults_match_initializers)
{
    tg_model_options mo;
    cr_assert_eq(tg_model_options_init(&mo, sizeof mo), TG_OK);
    cr_assert_eq(mo.struct_size, sizeof mo);
    tg_session_options so;
    cr_assert_eq(tg_session_options_init(&so, sizeof so), TG_OK);
    cr_assert_eq(so.struct_size, sizeof so);
    cr_assert_eq(so.n_seq, 1);
    cr_assert_eq(tg_session_options_init(NULL, sizeof so), TG_EINVAL);
    tg_free(NULL);
    tg_model_free(NULL);
    tg_session_free(NULL);
}

Test(core, error_messages_are_always_valid_utf8)
{
    /* bytes that are not UTF-8 (from paths, file contents, plugins) are escaped as \xHH */
    cr_assert_eq(tg_plugin_set_error(TG_EINVAL, "bad \xff byte, caf\xc3 and \xe2\x82 end"),
                 TG_EINVAL);
    cr_assert_str_eq(tg_error_last(), "bad \\xFF byte, caf\\xC3 and \\xE2\\x82 end");
    /* valid text, any script, is untouched */
    cr_assert_eq(tg_plugin_set_error(TG_EINVAL, "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
                 TG_EINVAL);
    cr_assert_str_eq(tg_error_last(), "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
    /* a message at the size limit is cut between characters, never inside one */
    char long_msg[3000];
    size_t n = 0;
    while (n + 3 < sizeof long_msg - 1) {
        memcpy(long_msg + n, "\xe2\x82\xac", 3); /* the euro sign */
        n += 3;
    }
    long_msg[n] = '\0';
    long_msg[7] = (char)0xff; /* one bad byte forces the rewrite */
    tg_plugin_set_error(TG_EINVAL, long_msg);
    cr_assert(g_utf8_validate(tg_error_last(), -1, NULL));
    cr_assert_gt(strlen(tg_error_last()), 900);
}
