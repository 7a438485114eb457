/* tools/textgen/stream.c — run tg_generate() and stream the continuation to stdout as it is
 * produced (with --beams, the text every hypothesis that can still win shares, then the best
 * one's rest); Ctrl-C ends generation cleanly; --explain's tables come first, from the same run's
 * trace hook; statistics go to stderr. */
#include "cli.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct stream_state {
    const cli_run *run;
    int print; /* write the text to stdout */
    int write_failed;
    GString *held; /* output waiting for --explain's tables (NULL: write at once) */
} stream_state;

static void out(stream_state *s, const char *text, size_t len)
{
    if (!s->print || !len)
        return;
    if (s->held) {
        g_string_append_len(s->held, text, (gssize)len);
        return;
    }
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
        s->write_failed = 1;
}

/* --explain's tables, then what was held back for them. */
static void print_tables(stream_state *s)
{
    if (!s->held)
        return;
    int color =
        isatty(STDOUT_FILENO) && !g_getenv("NO_COLOR") && g_strcmp0(g_getenv("TERM"), "dumb") != 0;
    cli_explain_print(stdout, s->run->explain, 80, color);
    fputs("\n", stdout);
    GString *held = s->held;
    s->held = NULL;
    out(s, held->str, held->len);
    g_string_free(held, TRUE);
}

static int32_t on_text(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                       void *user_data)
{
    stream_state *s = user_data;
    (void)ids;
    (void)n_ids;
    out(s, text, len);
    return interrupted || s->write_failed;
}

static void on_trace(const tg_step_trace *step, void *user_data)
{
    stream_state *s = user_data;
    cli_explain_record(s->run->explain, step);
    if ((int)s->run->explain->n_steps == s->run->explain_steps)
        print_tables(s);
}

int cli_generate(cli_run *run)
{
    const cli_options *o = run->opts;
    tg_generate_options go = TG_GENERATE_OPTIONS_INIT;
    go.samplers = run->spec;
    go.max_new_tokens = o->max_new.set ? (int32_t)o->max_new.value : 0;
    go.stop_strings = (const char *const *)o->stops;
    go.n_stop_strings = o->stops ? g_strv_length(o->stops) : 0;
    go.seed = o->seed;
    go.n_threads = o->threads.set ? (int32_t)o->threads.value : 0;
    go.num_beams = o->beams.set ? (int32_t)o->beams.value : 0;
    go.num_return_sequences = o->num_return.set ? (int32_t)o->num_return.value : 0;
    go.early_stopping = o->early_stop;
    go.beam_scorers = run->scorers;
    stream_state s = {run, !o->json, 0, NULL};
    go.on_text = on_text;
    go.user_data = &s;
    if (run->explain) {
        tg_model_info info = TG_MODEL_INFO_INIT;
        tg_model_get_info(&info, run->model);
        go.on_trace = on_trace;
        go.trace_user_data = &s;
        go.trace_steps = run->explain_steps;
        go.trace_top_n = info.n_vocab < 1000 ? (uint32_t)info.n_vocab : 1000;
        run->explain->tok = tg_model_tokenizer(run->model);
        if (o->explain && s.print)
            s.held = g_string_new(NULL);
    }

    if (o->echo)
        out(&s, run->prompt, strlen(run->prompt));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    tg_status st = tg_generate(&run->result, run->model, run->prompt, &go);
    sigaction(SIGINT, &old, NULL);
    if (st != TG_OK) {
        if (s.held)
            g_string_free(s.held, TRUE);
        else if (s.print)
            fflush(stdout);
        cli_error_tg(st == TG_ESPEC ? "bad sampler spec" : "generation failed");
        return CLI_EXIT_RUNTIME;
    }
    print_tables(&s); /* generation ended before the last explained step */
    if (s.write_failed) {
        cli_error("cannot write the output to stdout");
        return CLI_EXIT_RUNTIME;
    }
    /* keep the shell prompt off the last line of text on a terminal */
    if (s.print && isatty(STDOUT_FILENO))
        fputs("\n", stdout);
    fflush(stdout);
    return CLI_EXIT_OK;
}

void cli_print_stats(const cli_run *run)
{
    const tg_result *r = run->result;
    const size_t n_seq = r ? tg_result_n_sequences(r) : 0;
    if (!run->opts->verbose && !isatty(STDERR_FILENO))
        return;
    tg_timing t = TG_TIMING_INIT;
    if (!r || tg_result_timing(&t, r) != TG_OK)
        return;
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, run->model);
    fprintf(stderr,
            "\ntextgen: model %s: %.2f M parameters, %s weights, %s KV cache, loaded in %.1f ms\n",
            tg_model_path(run->model), (double)info.n_params / 1e6,
            info.weight_type == TG_WEIGHTS_BF16   ? "bf16"
            : info.weight_type == TG_WEIGHTS_INT8 ? "int8"
                                                  : "f32",
            info.kv_type == TG_KV_BF16 ? "bf16" : "f32", run->load_s * 1e3);
    fprintf(stderr, "textgen: prompt: %d tokens in %.1f ms (%.1f tokens/s)\n", (int)t.n_prompt,
            t.prompt_s * 1e3, t.prompt_s > 0 ? t.n_prompt / t.prompt_s : 0.0);
    const int beams = (int)tg_result_num_beams(r); /* --beams, else generation_config.json's */
    if (beams > 1)
        fprintf(stderr,
                "textgen: beam search: %d beams, %d steps in %.1f ms (%.1f steps/s); stop: %s\n",
                beams, (int)t.n_generated, t.generate_s * 1e3,
                t.generate_s > 0 ? t.n_generated / t.generate_s : 0.0,
                tg_stop_reason_str(tg_result_stop_reason(r)));
    else
        fprintf(stderr,
                "textgen: generation: %d tokens in %.1f ms (%.1f tokens/s), sampling %.1f%% of "
                "it; stop: %s\n",
                (int)t.n_generated, t.generate_s * 1e3,
                t.generate_s > 0 ? t.n_generated / t.generate_s : 0.0,
                t.generate_s > 0 ? 100.0 * t.sample_s / t.generate_s : 0.0,
                tg_stop_reason_str(tg_result_stop_reason(r)));
    fprintf(stderr, "textgen: sampler chain: %s; seed %" G_GUINT64_FORMAT "\n",
            run->spec ? run->spec : "the model's defaults (generation_config.json)",
            (guint64)run->opts->seed);
    if (beams > 1)
        fprintf(stderr, "textgen: beam scorers: %s\n", tg_result_beam_scorers(r));
    /* with beams: every sequence returned, best first (the best is the text on stdout) */
    for (size_t i = 0; beams > 1 && i < n_seq; i++) {
        size_t len;
        const char *text = tg_result_sequence_text(r, i, &len);
        char *esc = cli_escape_bytes(text, len);
        fprintf(stderr, "textgen: sequence %zu of %zu%s: score %.6f, %s: '%s'\n", i + 1, n_seq,
                i ? "" : " (stdout)", tg_result_sequence_score(r, i),
                tg_stop_reason_str(tg_result_sequence_stop_reason(r, i)), esc);
        g_free(esc);
    }
}
