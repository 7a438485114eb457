/* tools/textgen/cli.h — what the pieces of the `textgen` command line share: the parsed options,
 * error reporting (one line on stderr, exit codes), and the entry points of each file. The tool
 * uses only libtextgen's public API. */
#ifndef TEXTGEN_CLI_H
#define TEXTGEN_CLI_H

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <textgen/textgen.h>

/* Exit codes. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

/* Steps --explain and --explain-svg show when no N is given. */
#define CLI_EXPLAIN_DEFAULT_STEPS 3

/* A number option: its value and whether it was given. */
typedef struct cli_num {
    double value;
    int set;
} cli_num;

typedef struct cli_options {
    char *model_dir;     /* -m; NULL: the bundled model */
    char *prompt;        /* -p, the argument or stdin; NULL: none given */
    cli_num max_new;     /* -n */
    cli_num temperature; /* --temperature */
    cli_num top_k;       /* --top-k */
    cli_num top_p;       /* --top-p */
    cli_num min_p;       /* --min-p */
    cli_num repeat;      /* --repeat-penalty */
    cli_num threads;     /* --threads */
    uint32_t weights;    /* --weights: TG_WEIGHTS_* (0 = auto) */
    uint32_t kv_type;    /* --kv-type: TG_KV_* (0 = auto) */
    cli_num beams;       /* --beams */
    cli_num num_return;  /* --num-return */
    cli_num length_pen;  /* --length-penalty */
    int32_t early_stop;  /* --early-stopping: TG_EARLY_STOP_* (0: not given) */
    char *beam_scorers;  /* --beam-scorers */
    uint64_t seed;       /* --seed, else random */
    int seed_set;
    char *samplers;     /* --samplers */
    char **stops;       /* --stop (escapes already expanded), NULL-terminated */
    char **plugin_dirs; /* --plugin-dir, NULL-terminated */
    int list_plugins, echo, json, tokenize, verbose;
    int explain;       /* --explain N: steps to explain (0: off) */
    char *explain_svg; /* --explain-svg FILE */
} cli_options;

/* ---- main.c: options ---- */

/* Parse argv into `o`. On a usage error prints one line and returns CLI_EXIT_USAGE; returns -1
 * when parsing succeeded, or CLI_EXIT_OK after --help. */
int cli_parse_options(cli_options *o, int argc, char **argv);
void cli_options_clear(cli_options *o);

/* ---- run.c ---- */

/* Encode `prompt` as generation does; on failure prints "cannot tokenize the prompt: <why>" and
 * returns CLI_EXIT_RUNTIME. Every mode reports an untokenizable prompt through this. `ids_out`
 * (tg_free() it) and `n_out` may be NULL. */
int cli_encode_prompt(int32_t **ids_out, size_t *n_out, const tg_tokenizer *tok,
                      const char *prompt);
/* --tokenize: the prompt's ids as a JSON array (loads the tokenizer only). */
int cli_run_tokenize(const char *model_dir, const char *prompt);
/* Load the model and generate (with --explain, --explain-svg, --json as asked). */
int cli_run_model(const cli_options *o, const char *model_dir, const char *prompt);

/* ---- util.c ---- */

/* Print "textgen: <message>" as one line on stderr (newlines in the message become "; "). */
void cli_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Same, with ": <tg_error_last()>" appended. */
void cli_error_tg(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* 0 if `text` is valid UTF-8; else prints "<what> is not valid UTF-8: byte 0xHH at byte offset
 * N" and returns -1. */
int cli_check_utf8(const char *what, const char *text);
/* A token's bytes as printable, escaped text (\n, \t, \\, \xHH for control or invalid bytes),
 * without quotes. g_free() it. */
char *cli_escape_bytes(const char *bytes, size_t len);
/* The escaped text of token `id` (g_free() it). */
char *cli_token_text(const tg_tokenizer *tok, int32_t id);
/* Columns a valid UTF-8 string takes in a terminal (wide characters count 2). */
size_t cli_display_width(const char *s);
/* Seconds of a monotonic clock. */
double cli_now(void);

/* ---- paths.c: the default model and the build tree's plugins ---- */

/* The model folder to use: -m, else $TEXTGEN_MODEL, else the bundled model (the source tree's
 * when run from the build tree, else the library's tg_default_model_dir()). Returns NULL with
 * a one-line error printed when none exists. */
char *cli_model_dir(const cli_options *o);
/* Put the build tree's plugins (when run from the build tree) and the --plugin-dir folders on
 * the search path and load the latter's plugins. Returns 0, or -1 after printing the error. */
int cli_setup_plugins(const cli_options *o);

/* ---- spec.c: the sampler chain spec ---- */

/* The spec the options ask for: --samplers, else one built from the sampling knobs, else NULL
 * (the model's generation_config.json applies). g_free() it. */
char *cli_spec_from_options(const cli_options *o);
/* The beam scorer spec: --beam-scorers, then length_penalty(alpha=X) for --length-penalty; NULL
 * when neither is given (the library's default, length_penalty with alpha 1). g_free() it. */
char *cli_scorers_from_options(const cli_options *o);

/* One stage of a printed spec: "top_p" and "p=0.95, min_keep=1". */
typedef struct cli_spec_stage {
    char *name;
    char *params;
} cli_spec_stage;
/* Split tg_chain_print() output into stages. Returns the number; free with
 * cli_spec_stages_free(). */
size_t cli_spec_split(cli_spec_stage **out, const char *spec);
void cli_spec_stages_free(cli_spec_stage *stages, size_t n);
/* The value of parameter `key` in "k=v, k=v" (g_free() it), or NULL. */
char *cli_spec_param(const char *params, const char *key);

/* ---- stream.c: generation with streamed output and statistics ---- */

typedef struct ex_trace ex_trace;

typedef struct cli_run {
    const cli_options *opts;
    const tg_model *model;
    const char *prompt;
    const char *spec;    /* NULL: generation_config.json */
    const char *scorers; /* beam scorer spec; NULL: the library's default */
    double load_s;       /* model load time */
    tg_result *result;   /* filled by cli_generate() */
    ex_trace *explain;   /* --explain / --explain-svg: the steps to record, else NULL */
    int explain_steps;   /* how many */
} cli_run;

/* Generate; unless --json, stream the continuation to stdout as it is produced. With
 * run->explain, record the first explain_steps steps through the generation's trace hook; with
 * --explain, print their tables first (the continuation is held back until they are printed).
 * Returns an exit code. */
int cli_generate(cli_run *run);
/* Statistics on stderr (when it is a terminal or --verbose). */
void cli_print_stats(const cli_run *run);

/* ---- json_out.c ---- */

/* Print the result as one JSON object on stdout. */
int cli_print_json(const cli_run *run);
/* Print token ids as a JSON array and a newline on stdout. */
void cli_print_ids_json(const int32_t *ids, size_t n);

/* ---- plugins_list.c ---- */

/* --list-plugins: every registered processor with its parameters and docs. */
int cli_list_plugins(void);

/* ---- explain.c: what the chain did at each step, from the generation's trace hook ---- */

/* What one stage did at one step (copied out of the trace callback). */
typedef struct ex_stage {
    char *name;
    char *params;  /* from tg_chain_print(), "" when unknown */
    uint32_t kind; /* TG_PROC_* */
    size_t size_before, size_after;
    tg_trace_entry *before, *after; /* most likely first */
    size_t n_before, n_after;
} ex_stage;

typedef struct ex_step {
    int32_t token; /* chosen */
    float logprob; /* of the chosen token at the selector */
    ex_stage *stages;
    size_t n_stages;
} ex_step;

struct ex_trace {
    char *spec; /* the chain as tg_chain_print() writes it */
    ex_step *steps;
    size_t n_steps;
    const tg_tokenizer *tok;
};

/* Record one traced step (the tg_generate_options.on_trace hook's data). */
void cli_explain_record(ex_trace *t, const tg_step_trace *step);
void cli_explain_free(ex_trace *t);

/* ---- explain_view.c: the rows both renderers draw ---- */

enum { EX_KEPT = 0, EX_CUT = 1, EX_GONE = 2 };

typedef struct ex_row {
    int32_t id;
    size_t rank;    /* 1-based rank entering the reference stage; 0 if not known */
    double p;       /* probability entering the reference stage; NAN if not known */
    double cum;     /* cumulative probability up to this row; NAN if not known */
    double p_final; /* probability at the selector; 0 when cut */
    int cut_by;     /* index of the stage that cut it, -1 when kept */
    int chosen;
    int gap_before; /* rows were skipped before this one */
    char *text;     /* escaped token */
    uint8_t *state; /* per stage: EX_KEPT, EX_CUT (cut here) or EX_GONE (cut before) */
} ex_row;

typedef struct ex_view {
    ex_row *rows;
    size_t n_rows;
    size_t ref;    /* stage whose input distribution p and cum describe */
    size_t n_more; /* candidates alive at the reference stage not shown */
    double p_more; /* their probability */
    int has_top_p;
    double top_p; /* top_p's p when has_top_p */
} ex_view;

void ex_view_build(ex_view *v, const ex_trace *t, const ex_step *s, size_t max_rows);
void ex_view_clear(ex_view *v);

/* ---- explain_text.c / svg.c ---- */

/* The candidate tables on `f`, `width` columns wide; `color` uses ANSI colours. */
void cli_explain_print(FILE *f, const ex_trace *t, int width, int color);
/* The same as an SVG picture. Returns an exit code. */
int cli_explain_svg(const char *path, const ex_trace *t);

#endif /* TEXTGEN_CLI_H */
