/* tools/textgen/main.c — the `textgen` command line: options (GLib's GOptionContext), then the
 * mode they ask for (run.c). Exit codes: 0 ok, 2 usage error, 1 runtime error (one line on
 * stderr). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPLAIN_MAX_STEPS 1000

/* A number option: where it goes, its range, and how to say it. */
typedef struct num_opt {
    const char *long_name;
    char short_name;
    size_t offset; /* of the cli_num in cli_options */
    int integer;
    double min, max;
    int min_open; /* min itself is excluded */
    const char *range;
} num_opt;

#define NUM_OPT(l, s, field, integer, min, max, open, range)                                       \
    {                                                                                              \
        l, s, offsetof(cli_options, field), integer, min, max, open, range                         \
    }

static const num_opt num_opts[] = {
    NUM_OPT("max-new-tokens", 'n', max_new, 1, -1, 1e9, 0,
            "an integer >= 1, or -1 (until the context is full)"),
    NUM_OPT("temperature", 0, temperature, 0, 0, 100, 0, "a number in [0, 100] (0 = greedy)"),
    NUM_OPT("top-k", 0, top_k, 1, 0, 1e9, 0, "an integer >= 0 (0 = keep all)"),
    NUM_OPT("top-p", 0, top_p, 0, 1e-9, 1, 0, "a number in [1e-9, 1]"),
    NUM_OPT("min-p", 0, min_p, 0, 0, 1, 0, "a number in [0, 1]"),
    NUM_OPT("repeat-penalty", 0, repeat, 0, 1e-6, 10, 0, "a number in [1e-6, 10] (1 = off)"),
    NUM_OPT("threads", 0, threads, 1, 0, 1024, 0, "an integer in [0, 1024] (0 = default)"),
    NUM_OPT("beams", 0, beams, 1, 1, 1e6, 0, "an integer >= 1 (1 = no beam search)"),
    NUM_OPT("num-return", 0, num_return, 1, 1, 1e6, 0, "an integer >= 1"),
    NUM_OPT("length-penalty", 0, length_pen, 0, -100, 100, 0, "a number in [-100, 100]"),
};

static const num_opt *find_num_opt(const char *option_name)
{
    const char *name = option_name + (option_name[1] == '-' ? 2 : 1);
    for (size_t i = 0; i < G_N_ELEMENTS(num_opts); i++)
        if (option_name[1] == '-' ? strcmp(name, num_opts[i].long_name) == 0
                                  : num_opts[i].short_name == name[0])
            return &num_opts[i];
    return NULL;
}

/* Parse a whole string as a number; 0 on failure. */
static int parse_number(double *out, const char *s, int integer)
{
    if (!s || !*s)
        return 0;
    if (integer) {
        gint64 v;
        if (!g_ascii_string_to_signed(s, 10, G_MININT64, G_MAXINT64, &v, NULL))
            return 0;
        *out = (double)v;
        return 1;
    }
    char *end;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static gboolean on_number(const gchar *option_name, const gchar *value, gpointer data,
                          GError **error)
{
    cli_options *o = data;
    const num_opt *n = find_num_opt(option_name);
    if (!n) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unhandled option %s",
                    option_name);
        return FALSE;
    }
    double v = 0;
    int ok = parse_number(&v, value, n->integer) && v >= n->min && v <= n->max &&
             !(n->min_open && v == n->min);
    if (ok && n->offset == offsetof(cli_options, max_new) && v == 0)
        ok = 0;
    if (!ok) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s wants %s, not '%s'",
                    option_name, n->range, value);
        return FALSE;
    }
    cli_num *dst = (cli_num *)((char *)o + n->offset);
    dst->value = v;
    dst->set = 1;
    return TRUE;
}

static gboolean on_seed(const gchar *option_name, const gchar *value, gpointer data, GError **error)
{
    cli_options *o = data;
    guint64 v;
    if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXINT64, &v, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s wants an integer in [0, %" G_GINT64_FORMAT "], not '%s'", option_name,
                    G_MAXINT64, value);
        return FALSE;
    }
    o->seed = v;
    o->seed_set = 1;
    return TRUE;
}

static gboolean on_explain(const gchar *option_name, const gchar *value, gpointer data,
                           GError **error)
{
    cli_options *o = data;
    if (!value) {
        o->explain = CLI_EXPLAIN_DEFAULT_STEPS;
        return TRUE;
    }
    guint64 v;
    if (!g_ascii_string_to_unsigned(value, 10, 1, EXPLAIN_MAX_STEPS, &v, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s wants a number of steps in [1, %d], not '%s'", option_name,
                    EXPLAIN_MAX_STEPS, value);
        return FALSE;
    }
    o->explain = (int)v;
    return TRUE;
}

static gboolean on_early_stopping(const gchar *option_name, const gchar *value, gpointer data,
                                  GError **error)
{
    cli_options *o = data;
    if (g_strcmp0(value, "false") == 0)
        o->early_stop = TG_EARLY_STOP_FALSE;
    else if (g_strcmp0(value, "true") == 0)
        o->early_stop = TG_EARLY_STOP_TRUE;
    else if (g_strcmp0(value, "never") == 0)
        o->early_stop = TG_EARLY_STOP_NEVER;
    else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s wants true, false or never, not '%s'", option_name, value);
        return FALSE;
    }
    return TRUE;
}

/* Set *out to the index of `value` in names (the enum's values in order), or report the
 * names the option wants. */
static gboolean pick_name(const gchar *option_name, const gchar *value, const char *const *names,
                          uint32_t n, const char *wanted, uint32_t *out, GError **error)
{
    for (uint32_t i = 0; i < n; i++)
        if (g_strcmp0(value, names[i]) == 0) {
            *out = i;
            return TRUE;
        }
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s wants %s, not '%s'",
                option_name, wanted, value);
    return FALSE;
}

static gboolean on_weights(const gchar *option_name, const gchar *value, gpointer data,
                           GError **error)
{
    static const char *const names[] = {"auto", "f32", "bf16", "int8"}; /* = TG_WEIGHTS_* */
    return pick_name(option_name, value, names, G_N_ELEMENTS(names), "auto, f32, bf16 or int8",
                     &((cli_options *)data)->weights, error);
}

static gboolean on_kv_type(const gchar *option_name, const gchar *value, gpointer data,
                           GError **error)
{
    static const char *const names[] = {"auto", "f32", "bf16"}; /* = TG_KV_* */
    return pick_name(option_name, value, names, G_N_ELEMENTS(names), "auto, f32 or bf16",
                     &((cli_options *)data)->kv_type, error);
}

static gboolean on_version(const gchar *option_name, const gchar *value, gpointer data,
                           GError **error)
{
    uint32_t v = tg_version_number();
    printf("textgen %s (libtextgen %u.%u.%u)\n", TG_VERSION_STRING, v / 10000, v / 100 % 100,
           v % 100);
    exit(CLI_EXIT_OK);
}

/* "--explain N" takes N when it is a plain number; a bare "--explain" means 3 steps and never
 * takes the next argument (GOption would: it could be the prompt). */
static char **normalize_argv(int argc, char **argv)
{
    char **out = g_new0(char *, argc + 1);
    int j = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (; i < argc; i++)
                out[j++] = g_strdup(argv[i]);
            break;
        }
        if (strcmp(argv[i], "--explain") != 0) {
            out[j++] = g_strdup(argv[i]);
        } else if (i + 1 < argc && argv[i + 1][0] &&
                   strspn(argv[i + 1], "0123456789") == strlen(argv[i + 1])) {
            out[j++] = g_strconcat("--explain=", argv[i + 1], NULL);
            i++;
        } else {
            out[j++] = g_strdup_printf("--explain=%d", CLI_EXPLAIN_DEFAULT_STEPS);
        }
    }
    out[j] = NULL;
    return out;
}

/* The prompt from stdin, byte for byte. A prompt is NUL-terminated text for the library, so a
 * NUL byte inside it is refused rather than silently cutting the prompt short. */
static int read_stdin(char **out)
{
    GString *s = g_string_new(NULL);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        g_string_append_len(s, buf, (gssize)n);
    *out = NULL;
    if (ferror(stdin)) {
        cli_error("cannot read the prompt from stdin: %s", g_strerror(errno));
        g_string_free(s, TRUE);
        return CLI_EXIT_RUNTIME;
    }
    const char *nul = memchr(s->str, '\0', s->len);
    if (nul) {
        cli_error("the prompt read from stdin holds a NUL byte at offset %zu; a prompt is text "
                  "without NUL bytes",
                  (size_t)(nul - s->str));
        g_string_free(s, TRUE);
        return CLI_EXIT_USAGE;
    }
    if (cli_check_utf8("the prompt read from stdin", s->str) != 0) {
        g_string_free(s, TRUE);
        return CLI_EXIT_USAGE;
    }
    *out = g_string_free(s, FALSE);
    return CLI_EXIT_OK;
}

static const char *summary =
    "Continue PROMPT with a GPT model, streaming the text to stdout.\n"
    "\n"
    "The prompt comes from the argument, -p, or stdin (when it is not a terminal).\n"
    "Sampling: --samplers takes a full chain spec; otherwise the knobs (--temperature,\n"
    "--top-k, --top-p, --min-p, --repeat-penalty) build one; with neither, the model's\n"
    "generation_config.json decides.";

static const char *description =
    "Examples:\n"
    "  textgen \"ROMEO:\"\n"
    "  textgen -n 200 --temperature 0.8 --top-k 40 \"To be, or not\"\n"
    "  textgen --samplers \"top_p(p=0.9) temperature(t=0.7) dist\" --seed 7 \"KING:\"\n"
    "  textgen --beams 4 --num-return 2 --length-penalty 1.5 \"ROMEO:\"\n"
    "  textgen --explain 3 --explain-svg steps.svg \"ROMEO:\"\n"
    "  textgen --list-plugins\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n"
    "Environment: TEXTGEN_MODEL (default model folder), TEXTGEN_PLUGIN_PATH.\n"
    "Docs: docs/cli.md";

/* The beam search options go together: they need --beams B > 1, and R <= B. (Without --beams
 * the model's generation_config.json may still ask for beam search, with its own options.) */
static int check_beam_options(const cli_options *o)
{
    const int beams = o->beams.set ? (int)o->beams.value : 1;
    const char *needs = o->num_return.set && o->num_return.value > 1 ? "--num-return"
                        : o->length_pen.set                          ? "--length-penalty"
                        : o->early_stop                              ? "--early-stopping"
                        : o->beam_scorers                            ? "--beam-scorers"
                                                                     : NULL;
    if (beams == 1 && needs) {
        cli_error("%s needs beam search: add --beams B with B > 1 (see textgen --help)", needs);
        return CLI_EXIT_USAGE;
    }
    if (o->num_return.set && o->num_return.value > beams) {
        cli_error("--num-return %d is more than --beams %d: the search keeps only B hypotheses "
                  "(see textgen --help)",
                  (int)o->num_return.value, beams);
        return CLI_EXIT_USAGE;
    }
    if (beams > 1 && o->explain) {
        cli_error("--explain follows one sequence's sampler chain; it does not work with --beams "
                  "(see textgen --help)");
        return CLI_EXIT_USAGE;
    }
    if (beams > 1 && o->explain_svg) {
        cli_error("--explain-svg follows one sequence's sampler chain; it does not work with "
                  "--beams (see textgen --help)");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

int cli_parse_options(cli_options *o, int argc, char **argv)
{
    char **rest = NULL;
    gboolean list_plugins = FALSE, echo = FALSE, json = FALSE, tokenize = FALSE, verbose = FALSE;
    char **stops = NULL;
    const GOptionEntry entries[] = {
        {"model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model_dir,
         "Model folder (default: $TEXTGEN_MODEL, else the bundled shakespeare-char)", "DIR"},
        {"prompt", 'p', 0, G_OPTION_ARG_FILENAME, &o->prompt, "The prompt", "TEXT"},
        {"max-new-tokens", 'n', G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Tokens to generate (-1: until the context is full; default: the model's)", "N"},
        {"temperature", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Divide logits by T (0 = greedy)", "T"},
        {"top-k", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Keep the K most likely tokens", "K"},
        {"top-p", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Keep the most likely tokens up to cumulative probability P", "P"},
        {"min-p", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Keep tokens at least P times as likely as the best", "P"},
        {"repeat-penalty", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Penalize tokens seen in the last 64 (1 = off)", "R"},
        {"seed", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_seed,
         "Randomness seed (default: a random one)", "S"},
        {"samplers", 0, 0, G_OPTION_ARG_FILENAME, &o->samplers,
         "Sampler chain spec, e.g. \"top_k(k=40) temperature(t=0.8) dist\" (overrides the "
         "knobs)",
         "SPEC"},
        {"stop", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &stops,
         "Stop when STR appears (repeatable; \\n and other C escapes work)", "STR"},
        {"threads", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Compute threads (default: the CPUs this process may use)", "N"},
        {"weights", 0, 0, G_OPTION_ARG_CALLBACK, (void *)on_weights,
         "Weight precision: auto (the file's; default), f32, bf16 or int8 (quantized at load)",
         "TYPE"},
        {"kv-type", 0, 0, G_OPTION_ARG_CALLBACK, (void *)on_kv_type,
         "KV cache elements: auto (f32 with f32 weights, else bf16; default), f32 or bf16", "TYPE"},
        {"beams", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Beam search with B beams (the sampler chain's selector draws the candidates)", "B"},
        {"num-return", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Sequences to return with --beams, best first (<= B; the others go to --json and "
         "--verbose)",
         "R"},
        {"length-penalty", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)on_number,
         "Beam score = sum of log-probabilities / length^X (default 1)", "X"},
        {"early-stopping", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK,
         (void *)on_early_stopping,
         "When beam search stops: true, false (default) or never (Hugging Face's)", "WHEN"},
        {"beam-scorers", 0, 0, G_OPTION_ARG_FILENAME, &o->beam_scorers,
         "Beam scorer spec, e.g. \"diverse_groups(groups=2, penalty=0.5)\"", "SPEC"},
        {"plugin-dir", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->plugin_dirs,
         "Load the plugins of DIR too (repeatable)", "DIR"},
        {"list-plugins", 0, 0, G_OPTION_ARG_NONE, &list_plugins,
         "List every sampler processor with its parameters and exit", NULL},
        {"echo", 0, 0, G_OPTION_ARG_NONE, &echo, "Print the prompt before the continuation", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object with the result", NULL},
        {"tokenize", 0, 0, G_OPTION_ARG_NONE, &tokenize,
         "Print the prompt's token ids as a JSON array and exit", NULL},
        {"explain", 0, G_OPTION_FLAG_OPTIONAL_ARG | G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK,
         (void *)on_explain, "Show the candidate table of the first N steps (default 3)", "[N]"},
        {"explain-svg", 0, 0, G_OPTION_ARG_FILENAME, &o->explain_svg,
         "Draw the explained steps as an SVG picture", "FILE"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Statistics and library messages", NULL},
        {"version", 0, G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (void *)on_version,
         "Print the version and exit", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx = g_option_context_new("[PROMPT]");
    GOptionGroup *group =
        g_option_group_new("textgen", "textgen options", "Show textgen options", o, NULL);
    g_option_group_add_entries(group, entries);
    g_option_context_set_main_group(ctx, group);
    g_option_context_set_summary(ctx, summary);
    g_option_context_set_description(ctx, description);

    char **args = normalize_argv(argc, argv);
    GError *err = NULL;
    int rc = -1;
    if (!g_option_context_parse_strv(ctx, &args, &err)) {
        cli_error("%s (see textgen --help)", err->message);
        g_error_free(err);
        rc = CLI_EXIT_USAGE;
    }
    o->list_plugins = list_plugins;
    o->echo = echo;
    o->json = json;
    o->tokenize = tokenize;
    o->verbose = verbose;
    if (stops) {
        o->stops = g_new0(char *, g_strv_length(stops) + 1);
        for (guint i = 0; stops[i]; i++)
            o->stops[i] = g_strcompress(stops[i]);
        g_strfreev(stops);
    }
    for (guint i = 0; rc < 0 && o->stops && o->stops[i]; i++)
        if (!o->stops[i][0]) {
            cli_error("--stop wants a non-empty string (see textgen --help)");
            rc = CLI_EXIT_USAGE;
        }
    guint n_rest = rest ? g_strv_length(rest) : 0;
    if (rc < 0 && n_rest > 1) {
        cli_error("one prompt argument expected, got %u: quote the prompt (see textgen --help)",
                  n_rest);
        rc = CLI_EXIT_USAGE;
    } else if (rc < 0 && n_rest == 1 && o->prompt) {
        cli_error("the prompt is given twice (argument and -p); use one (see textgen --help)");
        rc = CLI_EXIT_USAGE;
    } else if (rc < 0 && n_rest == 1) {
        o->prompt = g_strdup(rest[0]);
    }
    /* Arguments arrive as the bytes the user typed, whatever the locale (GOption's FILENAME
     * types do not convert them); text ones must be UTF-8. */
    if (rc < 0 && o->prompt &&
        cli_check_utf8(n_rest == 1 ? "the prompt argument" : "the prompt (-p)", o->prompt) != 0)
        rc = CLI_EXIT_USAGE;
    if (rc < 0 && o->samplers && cli_check_utf8("--samplers", o->samplers) != 0)
        rc = CLI_EXIT_USAGE;
    for (guint i = 0; rc < 0 && o->stops && o->stops[i]; i++) {
        char *what = g_strdup_printf("--stop #%u", i + 1);
        if (cli_check_utf8(what, o->stops[i]) != 0)
            rc = CLI_EXIT_USAGE;
        g_free(what);
    }
    if (rc < 0 && o->json && o->explain) {
        cli_error("--explain prints tables, --json an object: use one, or --explain-svg with "
                  "--json (see textgen --help)");
        rc = CLI_EXIT_USAGE;
    }
    if (rc < 0 && o->beam_scorers && cli_check_utf8("--beam-scorers", o->beam_scorers) != 0)
        rc = CLI_EXIT_USAGE;
    rc = rc < 0 ? check_beam_options(o) : rc;
    if (rc < 0 && o->samplers && !*o->samplers) {
        cli_error("--samplers wants a chain spec such as \"top_k(k=40) dist\" (see textgen "
                  "--help)");
        rc = CLI_EXIT_USAGE;
    }
    g_strfreev(rest);
    g_strfreev(args);
    g_option_context_free(ctx);
    return rc;
}

void cli_options_clear(cli_options *o)
{
    g_free(o->model_dir);
    g_free(o->prompt);
    g_free(o->samplers);
    g_free(o->beam_scorers);
    g_strfreev(o->stops);
    g_strfreev(o->plugin_dirs);
    g_free(o->explain_svg);
    memset(o, 0, sizeof *o);
}

/* Library messages are shown with --verbose only: failures come back as statuses and are
 * reported as one line; a refused plugin is reported by cli_setup_plugins(). */
static void log_to_stderr(int32_t level, const char *message, void *user_data)
{
    fprintf(stderr, "textgen: %s%s\n", level <= TG_LOG_WARN ? "warning: " : "", message);
}

int main(int argc, char **argv)
{
    cli_options o;
    memset(&o, 0, sizeof o);
    int rc = cli_parse_options(&o, argc, argv);
    if (rc >= 0) {
        cli_options_clear(&o);
        return rc;
    }
    if (!o.seed_set)
        o.seed = ((uint64_t)g_random_int() << 21) ^ g_random_int(); /* < 2^53: exact in JSON */
    if (o.verbose)
        tg_log_set(log_to_stderr, TG_LOG_INFO, NULL);
    rc = cli_setup_plugins(&o) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    if (rc == CLI_EXIT_OK && o.list_plugins) {
        rc = cli_list_plugins();
        cli_options_clear(&o);
        return rc;
    }
    char *model_dir = rc == CLI_EXIT_OK ? cli_model_dir(&o) : NULL;
    if (!model_dir)
        rc = CLI_EXIT_RUNTIME;
    if (rc == CLI_EXIT_OK && !o.prompt) {
        if (isatty(STDIN_FILENO))
            o.prompt = g_strdup("");
        else
            rc = read_stdin(&o.prompt);
    }
    if (rc == CLI_EXIT_OK && o.tokenize)
        rc = cli_run_tokenize(model_dir, o.prompt);
    else if (rc == CLI_EXIT_OK)
        rc = cli_run_model(&o, model_dir, o.prompt);
    g_free(model_dir);
    cli_options_clear(&o);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        cli_error("cannot write the output: %s", g_strerror(errno));
        rc = CLI_EXIT_RUNTIME;
    }
    return rc;
}
