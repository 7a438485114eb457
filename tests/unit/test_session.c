/* Sessions: sequence copy / truncate / clear, thread counts, model info, kernel selection, the
 * decode profile switch. */
#include "../support/testutil.h"

#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <textgen/textgen.h>
#include <unistd.h>

static tg_model *model;
static tg_model_info info;
static const int32_t prompt[] = {82, 61, 56, 0, 1, 56, 58, 74, 81, 46, 64, 40};
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

static void load(void)
{
    char *dir = tu_data_path("models/hf_tanh_bias");
    cr_assert_eq(tg_model_load(&model, dir, NULL), TG_OK, "%s", tg_error_last());
    info = (tg_model_info)TG_MODEL_INFO_INIT;
    cr_assert_eq(tg_model_get_info(&info, model), TG_OK);
    g_free(dir);
}

static void unload(void)
{
    tg_model_free(model);
}

TestSuite(session, .init = load, .fini = unload);

static tg_session *make(uint32_t n_seq, int32_t threads)
{
    tg_session_options o = TG_SESSION_OPTIONS_INIT;
    o.n_seq = n_seq;
    o.n_threads = threads;
    tg_session *s;
    cr_assert_eq(tg_session_create(&s, model, &o), TG_OK, "%s", tg_error_last());
    return s;
}

static void feed(tg_session *s, int32_t seq, int32_t pos0, const int32_t *ids, size_t n)
{
    tg_batch_row rows[64];
    for (size_t i = 0; i < n; i++)
        rows[i] = (tg_batch_row){ids[i], pos0 + (int32_t)i, seq, i + 1 == n};
    cr_assert_eq(tg_session_decode(s, rows, n), TG_OK, "%s", tg_error_last());
}

static float *last_logits(tg_session *s, size_t row)
{
    const float *lg;
    cr_assert_eq(tg_session_logits(&lg, s, row), TG_OK, "%s", tg_error_last());
    return g_memdup2(lg, (size_t)info.n_vocab * sizeof(float));
}

Test(session, model_info_reports_the_config)
{
    cr_assert_eq(info.n_vocab, 97);
    cr_assert_eq(info.n_ctx, 96);
    cr_assert_eq(info.n_layer, 2);
    cr_assert_eq(info.n_head, 4);
    cr_assert_eq(info.n_embd, 48);
    cr_assert_eq(info.n_inner, 192);
    cr_assert_eq(info.bos_id, 96);
    cr_assert_eq(info.eos_id, 96);
    cr_assert_eq(info.weight_type, TG_WEIGHTS_F32);
    /* wte 97*48 + wpe 96*48 + 2 layers * (4*48 LN + 48*144+144 + 48*48+48 + 48*192+192 +
     * 192*48+48) + ln_f 2*48 (tied output layer counted once, buffers excluded) */
    uint64_t per_layer = 4 * 48 + 48 * 144 + 144 + 48 * 48 + 48 + 48 * 192 + 192 + 192 * 48 + 48;
    cr_assert_eq(info.n_params, 97 * 48 + 96 * 48 + 2 * per_layer + 2 * 48);
    cr_assert_geq(info.weight_bytes,
                  (uint64_t)(2 * (48 * 144 + 48 * 48 + 2 * 48 * 192) + 48 * 97) * 4);
    cr_assert_str_neq(tg_model_path(model), "");
}

Test(session, info_struct_size_limits_what_is_written)
{
    tg_model_info small;
    memset(&small, 0xAB, sizeof small);
    small.struct_size = (uint32_t)offsetof(tg_model_info, n_params);
    cr_assert_eq(tg_model_get_info(&small, model), TG_OK);
    cr_assert_eq(small.n_vocab, 97);
    uint64_t untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    cr_assert_eq(memcmp(&small.n_params, &untouched, sizeof untouched), 0);
    small.struct_size = 4;
    cr_assert_eq(tg_model_get_info(&small, model), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "struct_size") != NULL);
}

Test(session, copied_sequence_continues_like_the_original)
{
    tg_session *s = make(3, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    cr_assert_eq(tg_session_seq_copy(s, 2, 0), TG_OK);
    int32_t len;
    cr_assert_eq(tg_session_seq_length(&len, s, 2), TG_OK);
    cr_assert_eq(len, (int32_t)N_PROMPT);
    tg_batch_row rows[2] = {{5, N_PROMPT, 0, 1}, {5, N_PROMPT, 2, 1}};
    cr_assert_eq(tg_session_decode(s, rows, 2), TG_OK, "%s", tg_error_last());
    float *a = last_logits(s, 0), *b = last_logits(s, 1);
    cr_assert_leq(tu_max_abs_diff(a, b, (size_t)info.n_vocab), 1e-6);
    g_free(a);
    g_free(b);
    tg_session_free(s);
}

Test(session, truncate_rewinds_and_redecoding_reproduces_logits)
{
    tg_session *s = make(1, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    float *before = last_logits(s, N_PROMPT - 1);
    /* Continue with other tokens, then rewind to 8 and redo the tail. */
    const int32_t junk[] = {3, 4, 5};
    feed(s, 0, N_PROMPT, junk, 3);
    cr_assert_eq(tg_session_seq_truncate(s, 0, 8), TG_OK);
    const float *lg;
    cr_assert_eq(tg_session_logits(&lg, s, 0), TG_EINVAL, "logits are invalid after truncate");
    feed(s, 0, 8, prompt + 8, N_PROMPT - 8);
    float *after = last_logits(s, N_PROMPT - 9);
    cr_assert_leq(tu_max_abs_diff(before, after, (size_t)info.n_vocab), 2e-5);
    cr_assert_eq(tg_session_seq_clear(s, 0), TG_OK);
    int32_t len;
    cr_assert_eq(tg_session_seq_length(&len, s, 0), TG_OK);
    cr_assert_eq(len, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    float *again = last_logits(s, N_PROMPT - 1);
    cr_assert_leq(tu_max_abs_diff(before, again, (size_t)info.n_vocab), 1e-6);
    g_free(before);
    g_free(after);
    g_free(again);
    tg_session_free(s);
}

Test(session, two_threads_give_the_same_logits_as_one)
{
    tg_session *one = make(1, 1), *two = make(1, 2);
    feed(one, 0, 0, prompt, N_PROMPT);
    feed(two, 0, 0, prompt, N_PROMPT);
    float *a = last_logits(one, N_PROMPT - 1), *b = last_logits(two, N_PROMPT - 1);
    cr_assert_leq(tu_max_abs_diff(a, b, (size_t)info.n_vocab), 1e-5);
    g_free(a);
    g_free(b);
    tg_session_free(one);
    tg_session_free(two);
}

static int32_t resolved_threads(tg_session *s)
{
    tg_session_info si = TG_SESSION_INFO_INIT;
    cr_assert_eq(tg_session_get_info(&si, s), TG_OK);
    return si.n_threads;
}

/* n_threads 0 = the CPUs this process may run on: all of its affinity mask here (no cgroup quota
 * can raise it), and 1 once the process is pinned to one CPU. */
Test(session, default_threads_are_the_cpus_this_process_may_use)
{
    cpu_set_t all;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    tg_session *s = make(1, 0);
    const int32_t n = resolved_threads(s);
    cr_assert(n >= 1 && n <= CPU_COUNT(&all), "%d threads, affinity %d", n, CPU_COUNT(&all));
    tg_session_free(s);
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    s = make(1, 0);
    cr_assert_eq(resolved_threads(s), 1);
    tg_session_free(s);
    sched_setaffinity(0, sizeof all, &all);
}

/* Greedy continuations: identical tokens and bit-identical decode logits at 1, 2 and 3 threads
 * (each output column is one sum in k order whatever the split, kernels/kmat.h). */
Test(session, greedy_output_is_identical_at_every_thread_count)
{
    enum { GEN = 24 };
    int32_t toks[3][GEN];
    float *step_logits[3];
    for (int t = 0; t < 3; t++) {
        tg_session *s = make(1, t + 1);
        cr_assert_eq(resolved_threads(s), t + 1);
        feed(s, 0, 0, prompt, N_PROMPT);
        float *lg = last_logits(s, N_PROMPT - 1);
        for (int i = 0; i < GEN; i++) {
            int32_t best = 0;
            for (int32_t v = 1; v < info.n_vocab; v++)
                if (lg[v] > lg[best])
                    best = v;
            toks[t][i] = best;
            g_free(lg);
            feed(s, 0, (int32_t)N_PROMPT + i, &best, 1);
            lg = last_logits(s, 0);
        }
        step_logits[t] = lg;
        tg_session_free(s);
    }
    for (int t = 1; t < 3; t++) {
        cr_assert(memcmp(toks[0], toks[t], sizeof toks[0]) == 0, "%d threads", t + 1);
        cr_assert(memcmp(step_logits[0], step_logits[t], (size_t)info.n_vocab * sizeof(float)) == 0,
                  "%d threads: decode logits differ", t + 1);
    }
    for (int t = 0; t < 3; t++)
        g_free(step_logits[t]);
}

Test(session, a_failed_decode_appends_nothing)
{
    tg_session *s = make(2, 0);
    feed(s, 0, 0, prompt, 4);
    tg_batch_row rows[2] = {{1, 4, 0, 1}, {1000, 0, 1, 1}};
    cr_assert_eq(tg_session_decode(s, rows, 2), TG_ERANGE);
    int32_t len;
    tg_session_seq_length(&len, s, 0);
    cr_assert_eq(len, 4);
    tg_session_seq_length(&len, s, 1);
    cr_assert_eq(len, 0);
    tg_session_free(s);
}

static GString *log_text;
static void capture(int32_t level, const char *msg, void *user)
{
    (void)user;
    g_string_append_printf(log_text, "%d %s\n", (int)level, msg);
}

/* What a log must not show for either linear implementation: oneDNN's "ref:" kernels (10 to
 * 300 times slower: a descriptor needs fixing), or the portable C kernels of kmat on a CPU with
 * AVX-512. */
static void assert_no_slow_kernel(const char *log)
{
    cr_assert(strstr(log, "ref:") == NULL, "a reference kernel was chosen:\n%s", log);
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        cr_assert(strstr(log, "kmat:portable") == NULL, "a portable kernel was chosen:\n%s", log);
#endif
}

/* The linear implementations: the default (kmat) and oneDNN ($TEXTGEN_LINEAR, linear.c). */
static const char *const linear_impls[] = {NULL, "onednn"};

static void use_linear_impl(const char *impl)
{
    if (impl)
        setenv("TEXTGEN_LINEAR", impl, 1);
    else
        unsetenv("TEXTGEN_LINEAR");
}

/* Every primitive on the hot path must be an optimized kernel, in either implementation. */
Test(session, no_primitive_runs_on_a_reference_kernel)
{
    for (size_t impl = 0; impl < 2; impl++) {
        use_linear_impl(linear_impls[impl]);
        log_text = g_string_new(NULL);
        tg_log_set(capture, TG_LOG_DEBUG, NULL);
        tg_model *m;
        char *dir = tu_data_path("models/hf_tanh_bias");
        cr_assert_eq(tg_model_load(&m, dir, NULL), TG_OK);
        tg_session_options o = TG_SESSION_OPTIONS_INIT;
        o.n_seq = 2;
        tg_session *s;
        cr_assert_eq(tg_session_create(&s, m, &o), TG_OK);
        tg_batch_row rows[3] = {{1, 0, 0, 1}, {2, 1, 0, 1}, {3, 0, 1, 1}};
        cr_assert_eq(tg_session_decode(s, rows, 3), TG_OK);
        tg_batch_row one = {4, 2, 0, 1};
        cr_assert_eq(tg_session_decode(s, &one, 1), TG_OK);
        tg_batch_row many[20]; /* a prompt: kmat hands it to oneDNN on its packed panels */
        for (int i = 0; i < 20; i++)
            many[i] = (tg_batch_row){i, 1 + i, 1, i == 19};
        cr_assert_eq(tg_session_decode(s, many, 20), TG_OK, "%s", tg_error_last());
        tg_log_set(NULL, 0, NULL);
        cr_assert(strstr(log_text->str, "primitive attn.c_attn") != NULL, "log:\n%s",
                  log_text->str);
        cr_assert(strstr(log_text->str, "primitive mlp.c_proj (M=20): brg") != NULL, "log:\n%s",
                  log_text->str);
        cr_assert(strstr(log_text->str, impl ? "(M=1): brg" : "(M=1): kmat:") != NULL, "log:\n%s",
                  log_text->str);
        /* attention is ours at every row count: no oneDNN primitive */
        cr_assert(strstr(log_text->str, "attention: decode kernel, prefill kernel") != NULL,
                  "log:\n%s", log_text->str);
        cr_assert(strstr(log_text->str, "primitive attention") == NULL, "log:\n%s", log_text->str);
        cr_assert(strstr(log_text->str, "primitive lm_head") != NULL);
        assert_no_slow_kernel(log_text->str);
        tg_session_free(s);
        tg_model_free(m);
        g_free(dir);
        g_string_free(log_text, TRUE);
    }
    use_linear_impl(NULL);
}

/* ---- the paged KV cache: forks share blocks, writes copy at most one ---- */

static tg_session_info info_of(const tg_session *s)
{
    tg_session_info si = TG_SESSION_INFO_INIT;
    cr_assert_eq(tg_session_get_info(&si, s), TG_OK, "%s", tg_error_last());
    return si;
}

static uint64_t blocks_in_use(const tg_session *s)
{
    tg_session_info si = info_of(s);
    cr_assert_eq(si.kv_bytes_in_use % si.kv_block_bytes, 0);
    return si.kv_bytes_in_use / si.kv_block_bytes;
}

/* Logits after feeding `ids` to a fresh one-sequence session. */
static float *fresh_logits(const int32_t *ids, size_t n)
{
    tg_session *s = make(1, 0);
    feed(s, 0, 0, ids, n);
    float *lg = last_logits(s, n - 1);
    tg_session_free(s);
    return lg;
}

Test(session, info_describes_the_session_and_its_cache)
{
    tg_session *s = make(3, 2);
    tg_session_info si = info_of(s);
    cr_assert_eq(si.n_seq, 3);
    cr_assert_eq(si.n_ctx, 96);
    cr_assert_eq(si.n_batch, 288);
    cr_assert_eq(si.n_threads, 2);
    cr_assert_eq(si.kv_block_positions, 16);
    /* 2 layers x K and V x 4 heads x 16 positions x 12 floats */
    cr_assert_eq(si.kv_block_bytes, 2 * 2 * 4 * 16 * 12 * 4);
    cr_assert_eq(si.kv_bytes_in_use, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    cr_assert_eq(blocks_in_use(s), 1);
    tg_session_info small;
    memset(&small, 0xAB, sizeof small);
    small.struct_size = 40;
    cr_assert_eq(tg_session_get_info(&small, s), TG_EINVAL);
    cr_assert(strstr(tg_error_last(), "tg_session_info") != NULL, "%s", tg_error_last());
    cr_assert_eq(tg_session_get_info(NULL, s), TG_EINVAL);
    cr_assert_eq(tg_session_get_info(&si, NULL), TG_EINVAL);
    tg_session_free(s);
}

/* Three forks of a 20-position prompt (one full block and one partial) share both blocks; one
 * decoded token each copies only the partial block, and each fork continues exactly like a
 * session that was fed its whole history. */
Test(session, forks_share_the_prompt_and_copy_one_partial_block_on_write)
{
    const int32_t p20[20] = {82, 61, 56, 0, 1,  56, 58, 74, 81, 46,
                             64, 40, 7,  9, 33, 21, 70, 5,  12, 90};
    tg_session *s = make(4, 0);
    feed(s, 0, 0, p20, 20);
    cr_assert_eq(blocks_in_use(s), 2);
    for (int32_t q = 1; q < 4; q++)
        cr_assert_eq(tg_session_seq_copy(s, q, 0), TG_OK, "%s", tg_error_last());
    cr_assert_eq(blocks_in_use(s), 2, "forks share every block");
    tg_batch_row rows[3];
    for (int32_t q = 1; q < 4; q++)
        rows[q - 1] = (tg_batch_row){10 + q, 20, q, 1};
    cr_assert_eq(tg_session_decode(s, rows, 3), TG_OK, "%s", tg_error_last());
    cr_assert_eq(blocks_in_use(s), 2 + 3, "each fork copied the partial block only");
    for (int32_t q = 1; q < 4; q++) {
        int32_t hist[21];
        memcpy(hist, p20, sizeof p20);
        hist[20] = 10 + q;
        float *want = fresh_logits(hist, 21), *got = last_logits(s, (size_t)(q - 1));
        cr_assert_leq(tu_max_abs_diff(got, want, (size_t)info.n_vocab), 1e-5, "fork %d", q);
        g_free(want);
        g_free(got);
    }
    /* the original is untouched by its forks' writes */
    tg_batch_row r0 = {3, 20, 0, 1};
    cr_assert_eq(tg_session_decode(s, &r0, 1), TG_OK);
    int32_t hist0[21];
    memcpy(hist0, p20, sizeof p20);
    hist0[20] = 3;
    float *want = fresh_logits(hist0, 21), *got = last_logits(s, 0);
    cr_assert_leq(tu_max_abs_diff(got, want, (size_t)info.n_vocab), 1e-5);
    cr_assert_eq(blocks_in_use(s), 2 + 3, "the last owner of the partial block writes in place");
    g_free(want);
    g_free(got);
    tg_session_free(s);
}

/* Beam-search shape: B sequences forked from one 32-position prompt, each decoding 16 new
 * tokens, hold exactly prompt + B x new positions. */
Test(session, beams_forked_from_a_prompt_hold_prompt_plus_new_positions)
{
    enum { B = 4, PROMPT = 32, NEW = 16 };
    int32_t ids[PROMPT];
    for (int i = 0; i < PROMPT; i++)
        ids[i] = (i * 37 + 11) % 96;
    tg_session *s = make(B, 0);
    feed(s, 0, 0, ids, PROMPT);
    for (int32_t q = 1; q < B; q++)
        cr_assert_eq(tg_session_seq_copy(s, q, 0), TG_OK);
    for (int32_t t = 0; t < NEW; t++) {
        tg_batch_row rows[B];
        for (int32_t q = 0; q < B; q++)
            rows[q] = (tg_batch_row){(q * 7 + t) % 96, PROMPT + t, q, 1};
        cr_assert_eq(tg_session_decode(s, rows, B), TG_OK, "%s", tg_error_last());
    }
    tg_session_info si = info_of(s);
    const uint64_t per_position = si.kv_block_bytes / si.kv_block_positions;
    cr_assert_eq(si.kv_bytes_in_use, (PROMPT + (uint64_t)B * NEW) * per_position);
    tg_session_free(s);
}

/* Truncating a fork rewinds it alone; the original keeps its positions. */
Test(session, truncating_a_fork_leaves_the_original_intact)
{
    tg_session *s = make(2, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    cr_assert_eq(tg_session_seq_copy(s, 1, 0), TG_OK);
    cr_assert_eq(tg_session_seq_truncate(s, 1, 5), TG_OK);
    const int32_t tail[3] = {44, 45, 46};
    feed(s, 1, 5, tail, 3);
    int32_t h1[8];
    memcpy(h1, prompt, 5 * sizeof *h1);
    memcpy(h1 + 5, tail, sizeof tail);
    float *want1 = fresh_logits(h1, 8), *got1 = last_logits(s, 2);
    cr_assert_leq(tu_max_abs_diff(got1, want1, (size_t)info.n_vocab), 1e-5);
    const int32_t next = 50;
    feed(s, 0, N_PROMPT, &next, 1);
    int32_t h0[N_PROMPT + 1];
    memcpy(h0, prompt, sizeof prompt);
    h0[N_PROMPT] = next;
    float *want0 = fresh_logits(h0, N_PROMPT + 1), *got0 = last_logits(s, 0);
    cr_assert_leq(tu_max_abs_diff(got0, want0, (size_t)info.n_vocab), 1e-5);
    g_free(want1);
    g_free(got1);
    g_free(want0);
    g_free(got0);
    tg_session_free(s);
}

/* Copy onto itself is a no-op; copying an empty sequence empties the destination and frees
 * its blocks; clearing every sequence leaves no block in use (but keeps them for reuse). */
Test(session, copy_of_self_or_of_an_empty_sequence_and_clear)
{
    tg_session *s = make(2, 0);
    feed(s, 0, 0, prompt, N_PROMPT);
    cr_assert_eq(tg_session_seq_copy(s, 0, 0), TG_OK);
    int32_t len;
    tg_session_seq_length(&len, s, 0);
    cr_assert_eq(len, (int32_t)N_PROMPT);
    cr_assert_eq(blocks_in_use(s), 1);
    cr_assert_eq(tg_session_seq_copy(s, 0, 1), TG_OK);
    tg_session_seq_length(&len, s, 0);
    cr_assert_eq(len, 0);
    cr_assert_eq(blocks_in_use(s), 0);
    feed(s, 1, 0, prompt, N_PROMPT);
    cr_assert_eq(tg_session_seq_copy(s, 0, 1), TG_OK);
    cr_assert_eq(tg_session_seq_clear(s, 1), TG_OK);
    cr_assert_eq(blocks_in_use(s), 1, "still held by sequence 0");
    cr_assert_eq(tg_session_seq_clear(s, 0), TG_OK);
    tg_session_info si = info_of(s);
    cr_assert_eq(si.kv_bytes_in_use, 0);
    cr_assert_geq(si.kv_bytes_allocated, si.kv_block_bytes);
    tg_session_free(s);
}

/* Many random forks, rewinds, clears and decodes over 4 sequences: every sequence's logits stay
 * those of a fresh session fed its history, and block accounting never drifts. Leaks would show
 * under ASan (scripts/setup.sh sanitize). */
Test(session, random_forks_and_frees_keep_every_sequence_exact)
{
    enum { NS = 4, STEPS = 300 };
    int32_t hist[NS][96];
    int32_t len[NS] = {0};
    tg_session *s = make(NS, 0);
    uint32_t rng = 12345;
#define NEXT() (rng = rng * 1103515245u + 12345u, (rng >> 16) & 0x7fff)
    int checked = 0;
    for (int step = 0; step < STEPS; step++) {
        const int32_t q = (int32_t)(NEXT() % NS), op = (int32_t)(NEXT() % 10);
        if (op < 2) { /* fork */
            const int32_t src = (int32_t)(NEXT() % NS);
            cr_assert_eq(tg_session_seq_copy(s, q, src), TG_OK);
            memcpy(hist[q], hist[src], sizeof hist[q]);
            len[q] = len[src];
        } else if (op < 3) { /* rewind */
            const int32_t keep = len[q] ? (int32_t)(NEXT() % (uint32_t)(len[q] + 1)) : 0;
            cr_assert_eq(tg_session_seq_truncate(s, q, keep), TG_OK);
            len[q] = keep;
        } else if (op < 4 && NEXT() % 3 == 0) { /* clear */
            cr_assert_eq(tg_session_seq_clear(s, q), TG_OK);
            len[q] = 0;
        } else { /* decode 1 to 5 tokens */
            int32_t n = 1 + (int32_t)(NEXT() % 5);
            if (len[q] + n > 95) {
                cr_assert_eq(tg_session_seq_clear(s, q), TG_OK);
                len[q] = 0;
            }
            tg_batch_row rows[5];
            for (int32_t i = 0; i < n; i++) {
                hist[q][len[q] + i] = (int32_t)(NEXT() % 96);
                rows[i] = (tg_batch_row){hist[q][len[q] + i], len[q] + i, q, i + 1 == n};
            }
            cr_assert_eq(tg_session_decode(s, rows, (size_t)n), TG_OK, "%s", tg_error_last());
            len[q] += n;
            if (step % 10 == 0) {
                float *want = fresh_logits(hist[q], (size_t)len[q]),
                      *got = last_logits(s, (size_t)n - 1);
                cr_assert_leq(tu_max_abs_diff(got, want, (size_t)info.n_vocab), 1e-5,
                              "step %d sequence %d", step, q);
                g_free(want);
                g_free(got);
                checked++;
            }
        }
        tg_session_info si = info_of(s);
        cr_assert_leq(si.kv_bytes_in_use, si.kv_bytes_allocated);
        uint64_t most = 0; /* no sharing: the sum of every sequence's own blocks */
        for (int32_t k = 0; k < NS; k++)
            most += (uint64_t)(len[k] + 15) / 16;
        cr_assert_leq(si.kv_bytes_in_use / si.kv_block_bytes, most + NS, "step %d", step);
    }
#undef NEXT
    cr_assert_geq(checked, 10);
    for (int32_t q = 0; q < NS; q++)
        cr_assert_eq(tg_session_seq_clear(s, q), TG_OK);
    cr_assert_eq(info_of(s).kv_bytes_in_use, 0);
    tg_session_free(s);
}

/* The Llama block's own primitives (fused q|k|v, the SiLU-gated MLP's swish and binary-multiply
 * post-ops) keep optimized kernels too, in f32 and in bf16. */
Test(session, llama_primitives_avoid_reference_kernels_in_f32_and_bf16)
{
    for (size_t impl = 0; impl < 2; impl++)
        for (uint32_t wt = TG_WEIGHTS_F32; wt <= TG_WEIGHTS_BF16; wt++) {
            use_linear_impl(linear_impls[impl]);
            log_text = g_string_new(NULL);
            tg_log_set(capture, TG_LOG_DEBUG, NULL);
            tg_model *m;
            char *dir = tu_data_path("models/llama_gqa2_llama3");
            tg_model_options mo = TG_MODEL_OPTIONS_INIT;
            mo.weight_type = wt;
            cr_assert_eq(tg_model_load(&m, dir, &mo), TG_OK, "%s", tg_error_last());
            tg_session *s;
            cr_assert_eq(tg_session_create(&s, m, NULL), TG_OK);
            tg_batch_row rows[6];
            for (int i = 0; i < 6; i++)
                rows[i] = (tg_batch_row){i, i, 0, i == 5};
            cr_assert_eq(tg_session_decode(s, rows, 6), TG_OK, "%s", tg_error_last());
            tg_batch_row one = {7, 6, 0, 1};
            cr_assert_eq(tg_session_decode(s, &one, 1), TG_OK);
            tg_log_set(NULL, 0, NULL);
            cr_assert(strstr(log_text->str, "primitive mlp.gate_up_proj (M=1)") != NULL, "log:\n%s",
                      log_text->str);
            cr_assert(strstr(log_text->str, "primitive self_attn.qkv_proj (M=6)") != NULL);
            assert_no_slow_kernel(log_text->str);
            tg_session_free(s);
            tg_model_free(m);
            g_free(dir);
            g_string_free(log_text, TRUE);
        }
    use_linear_impl(NULL);
}

/* A prompt longer than one prefill run (64 rows) is attended in runs that reuse the K and V the
 * earlier runs staged: every row's logits equal one-token-at-a-time decoding (the C kernel). */
Test(session, long_prefill_in_runs_equals_token_by_token)
{
    enum { N = 90 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = (i * 29 + 7) % 96;
    tg_session *whole = make(1, 0), *step = make(1, 0);
    tg_batch_row rows[N];
    for (int i = 0; i < N; i++)
        rows[i] = (tg_batch_row){ids[i], i, 0, 1};
    cr_assert_eq(tg_session_decode(whole, rows, N), TG_OK, "%s", tg_error_last());
    for (int i = 0; i < N; i++) {
        tg_batch_row r = {ids[i], i, 0, 1};
        cr_assert_eq(tg_session_decode(step, &r, 1), TG_OK, "%s", tg_error_last());
        const float *a, *b;
        cr_assert_eq(tg_session_logits(&a, whole, (size_t)i), TG_OK);
        cr_assert_eq(tg_session_logits(&b, step, 0), TG_OK);
        cr_assert_leq(tu_max_abs_diff(a, b, (size_t)info.n_vocab), 2e-5, "position %d", i);
    }
    tg_session_free(whole);
    tg_session_free(step);
}

/* The fields of a stage's line of the decode profile: calls per step, wall ms per step, share,
 * caller CPU ms per step, process CPU ms per step, GB/s (0 when the line has none). 0 if the
 * line is missing. */
static int profile_line(const char *text, const char *stage, double f[6])
{
    const char *at = strstr(text, stage);
    if (!at)
        return 0;
    f[5] = 0;
    return sscanf(at + strlen(stage), "%lf %lf %lf%% %lf %lf %lf", &f[0], &f[1], &f[2], &f[3],
                  &f[4], &f[5]) >= 5;
}

/* The per-layer lines of one table of the decode profile (`text` from its header on): every
 * block stage once per layer and step. */
static void assert_layer_lines(const char *text)
{
    double f[6];
    const char *per_layer[] = {"attention norm",      "qkv product",  "attention  ",
                               "attn out + residual", "mlp up + act", "mlp down + residual"};
    for (size_t i = 0; i < sizeof per_layer / sizeof *per_layer; i++) {
        cr_assert(profile_line(text, per_layer[i], f), "no line '%s' in:\n%s", per_layer[i], text);
        cr_assert_float_eq(f[0], (double)info.n_layer, 1e-9, "%s: %g calls a step", per_layer[i],
                           f[0]);
        cr_assert(f[1] >= 0 && f[2] >= 0 && f[2] <= 100 && f[4] >= 0, "%s", text);
    }
    cr_assert(profile_line(text, "output layer (logits)", f), "%s", text);
    cr_assert_float_eq(f[0], 1.0, 1e-9);
    cr_assert(f[1] > 0 && f[5] > 0, "the output layer's time and GB/s:\n%s", text);
}

/* $TEXTGEN_DECODE_PROFILE (lib/backend/decode_prof.c): a session created with it writes, when
 * freed, one table per row count of its decode steps (passes whose rows are each another
 * sequence's next token), fewest rows first: here 3 one-row tokens and 2 steps of 2 sequences;
 * the prompts and a pass with two rows of one sequence are not counted. Each block stage once
 * per layer and step, the output layer once, the products with a GB/s figure; a session created
 * without it writes nothing. */
Test(session, decode_profile_counts_decoded_tokens_stage_by_stage)
{
    char *dir = g_dir_make_tmp("tg_dprof_XXXXXX", NULL);
    cr_assert(dir);
    char *path = g_build_filename(dir, "profile.txt", NULL);
    setenv("TEXTGEN_DECODE_PROFILE", path, 1);
    tg_session *s = make(2, 1);
    unsetenv("TEXTGEN_DECODE_PROFILE");
    feed(s, 0, 0, prompt, N_PROMPT);
    feed(s, 1, 0, prompt, N_PROMPT);
    for (int32_t i = 0; i < 3; i++)
        feed(s, 0, (int32_t)N_PROMPT + i, &prompt[i], 1);
    for (int32_t i = 0; i < 2; i++) {
        const tg_batch_row step[2] = {{prompt[i], (int32_t)N_PROMPT + 3 + i, 0, 1},
                                      {prompt[i], (int32_t)N_PROMPT + i, 1, 1}};
        cr_assert_eq(tg_session_decode(s, step, 2), TG_OK, "%s", tg_error_last());
    }
    const tg_batch_row mixed[3] = {{prompt[0], (int32_t)N_PROMPT + 5, 0, 1},
                                   {prompt[1], (int32_t)N_PROMPT + 2, 1, 1},
                                   {prompt[2], (int32_t)N_PROMPT + 3, 1, 1}};
    cr_assert_eq(tg_session_decode(s, mixed, 3), TG_OK, "%s", tg_error_last());
    cr_assert(!g_file_test(path, G_FILE_TEST_EXISTS), "written before the session ends");
    tg_session_free(s);
    char *text = NULL;
    cr_assert(g_file_get_contents(path, &text, NULL, NULL), "no profile at %s", path);
    const char *one = strstr(text, "decode profile: 3 one-row forward passes");
    const char *two = strstr(text, "decode profile: 2 forward passes of 2 rows");
    cr_assert(one && two && one < two, "a one-row table, then a 2-row one:\n%s", text);
    cr_assert(!strstr(text, "of 3 rows") && !strstr(text, "of 12 rows"),
              "prompts and a pass with two rows of one sequence are no decode steps:\n%s", text);
    assert_layer_lines(one);
    assert_layer_lines(two);
    cr_assert(strstr(text, "forward pass"), "%s", text);
    g_free(text);
    cr_assert_eq(remove(path), 0);
    s = make(1, 1);
    feed(s, 0, 0, prompt, 2);
    feed(s, 0, 2, prompt, 1);
    tg_session_free(s);
    cr_assert(!g_file_test(path, G_FILE_TEST_EXISTS), "written without the variable");
    cr_assert_eq(rmdir(dir), 0);
    g_free(path);
    g_free(dir);
}

/* A profile file that cannot be written is a warning in the log naming it; the session is
 * freed normally. */
Test(session, an_unwritable_decode_profile_is_a_logged_warning)
{
    const char *path = "/nonexistent-textgen-dir/profile.txt";
    log_text = g_string_new(NULL);
    tg_log_set(capture, TG_LOG_WARN, NULL);
    setenv("TEXTGEN_DECODE_PROFILE", path, 1);
    tg_session *s = make(1, 1);
    unsetenv("TEXTGEN_DECODE_PROFILE");
    feed(s, 0, 0, prompt, 1);
    tg_session_free(s);
    tg_log_set(NULL, 0, NULL);
    char want[128];
    snprintf(want, sizeof want, "1 TEXTGEN_DECODE_PROFILE: cannot write '%s': ", path);
    cr_assert(strstr(log_text->str, want), "log:\n%s", log_text->str);
    g_string_free(log_text, TRUE);
}
