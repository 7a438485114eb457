/* tools/textgen/stream.c — run tg_generate() and stream the continuation to stdout as it is
 * produced; Ctrl-C ends generation cleanly; statistics go to stderr. */
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
    int print; /* write the text to stdout */
    int write_failed;
} stream_state;

static int32_t on_text(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                       void *user_data)
{
    stream_state *s = user_data;
    if (s->print && len) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
            s->write_failed = 1;
    }
    return interrupted || s->write_failed;
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
    stream_state s = {!o->json, 0};
    go.on_text = on_text;
    go.user_data = &s;

    if (s.print && o->echo) {
        fputs(run->prompt, stdout);
        fflush(stdout);
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    tg_status st = tg_generate(&run->result, run->model, run->prompt, &go);
    sigaction(SIGINT, &old, NULL);
    if (st != TG_OK) {
        if (s.print)
            fflush(stdout);
        cli_error_tg(st == TG_ESPEC ? "bad sampler spec" : "generation failed");
        return CLI_EXIT_RUNTIME;
    }
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
    if (!run->opts->verbose && !isatty(STDERR_FILENO))
        return;
    tg_timing t = TG_TIMING_INIT;
    if (!run->result || tg_result_timing(&t, run->result) != TG_OK)
        return;
    tg_model_info info = TG_MODEL_INFO_INIT;
    tg_model_get_info(&info, run->model);
    fprintf(stderr, "\ntextgen: model %s: %.2f M parameters, %s, loaded in %.1f ms\n",
            tg_model_path(run->model), (double)info.n_params / 1e6,
            info.weight_type == TG_WEIGHTS_BF16 ? "bf16" : "f32", run->load_s * 1e3);
    fprintf(stderr, "textgen: prompt: %d tokens in %.1f ms (%.1f tokens/s)\n", (int)t.n_prompt,
            t.prompt_s * 1e3, t.prompt_s > 0 ? t.n_prompt / t.prompt_s : 0.0);
    fprintf(stderr,
            "textgen: generation: %d tokens in %.1f ms (%.1f tokens/s), sampling %.1f%% of it; "
            "stop: %s\n",
            (int)t.n_generated, t.generate_s * 1e3,
            t.generate_s > 0 ? t.n_generated / t.generate_s : 0.0,
            t.generate_s > 0 ? 100.0 * t.sample_s / t.generate_s : 0.0,
            tg_stop_reason_str(tg_result_stop_reason(run->result)));
    fprintf(stderr, "textgen: sampler chain: %s; seed %" G_GUINT64_FORMAT "\n",
            run->spec ? run->spec : "the model's defaults (generation_config.json)",
            (guint64)run->opts->seed);
}
