/* Test-only: a shared module without the entry symbol. */
int tg_test_not_a_plugin(void);
__attribute__((visibility("default"))) int tg_test_not_a_plugin(void)
{
    return 42;
}
