/**
 * @file textgen/sampler.h
 * @brief The plugin registry and the sampler chain.
 *
 * Every logit processor — built-in or third-party — lives in a plugin (see <textgen/plugin.h>).
 * Plugins are found on the search path: directories added with tg_plugin_add_dir(), then the
 * directories of the `TEXTGEN_PLUGIN_PATH` environment variable (':'-separated), then the
 * installed `pluginsdir` (pkg-config variable; tg_plugins_dir()). The registry is process-wide and
 * thread-safe; a registered plugin stays loaded until the process exits.
 *
 * A chain is an ordered list of processor instances, written as a spec a person can read:
 *
 *     repetition_penalty(penalty=1.2, last_n=64) top_k(k=40) top_p(p=0.9) temperature(t=0.8) dist
 *
 * Stages run in that order at every step; the last stage must be the only selector. A chain
 * holds the state of one sequence (its history and each stage's state): it belongs to one
 * thread at a time; use tg_chain_clone() for more sequences.
 */
#ifndef TEXTGEN_SAMPLER_H
#define TEXTGEN_SAMPLER_H

#include <textgen/common.h>
#include <textgen/model.h>
#include <textgen/plugin.h>

TG_BEGIN_DECLS

/* ---- registry ---- */

/**
 * @brief The installed plugin folder (`pluginsdir`: `<libdir>/textgen-0/plugins`), found
 * relative to the loaded library itself, so a moved or unpacked prefix still finds its plugins.
 * It is the last folder of the search path (unless `$TEXTGEN_PLUGIN_NO_DEFAULT` is set).
 * @param[out] dir_out  borrowed, valid for the process; set even when the folder is missing.
 * @return TG_OK; TG_ENOTFOUND (naming the folder) when it is not there, e.g. in a build tree.
 */
TG_API tg_status tg_plugins_dir(const char **dir_out);

/** @brief Put `dir` first on the plugin search path (it is scanned at the next lookup). */
TG_API tg_status tg_plugin_add_dir(const char *dir);

/**
 * @brief Load and register one plugin file now.
 * @return TG_OK; TG_EPLUGIN when the file is refused (not a plugin, wrong ABI version, struct
 *         too small, required member missing, writable by group or others), TG_EEXISTS when
 *         a processor name is already registered — the message names the file and the reason.
 *         Loading a file that is already registered is a no-op.
 */
TG_API tg_status tg_plugin_load(const char *path);

/**
 * @brief Register a plugin from memory: no file, no module. This is how a processor written in
 * the host program's language (C++, Rust, Go, Python through their bindings) joins chains next
 * to the built-in ones.
 *
 * `desc` is checked exactly like a plugin file's descriptor (ABI version, struct sizes, required
 * members, parameter schemas, unique names) and then copied deeply — descriptor, vtables, names,
 * docs and schemas — so the caller's structs and strings may be freed once this returns. The
 * callbacks and `user_data` must stay valid for the life of the process: like plugin files, a
 * registered plugin is never unloaded. Every `create` of its processors gets `user_data` in
 * tg_proc_context.user_data; callbacks may run on any thread that uses a chain.
 * @return TG_OK; TG_EPLUGIN (refused, the message names `memory:<plugin name>` and the reason);
 *         TG_EEXISTS when a processor name is already registered; TG_EINVAL.
 */
TG_API tg_status tg_plugin_register(const tg_plugin_desc *desc, void *user_data);

/**
 * @brief Load every plugin (`*.so`) on the search path that is not loaded yet. Files that are
 * refused are skipped with a warning in the log; the first such error is returned as
 * TG_EPLUGIN after all others were loaded. Chains call this on their first lookup.
 */
TG_API tg_status tg_plugin_scan(void);

/** @brief Number of registered processors (after the scans done so far). */
TG_API size_t tg_processor_count(void);

/** What the registry knows about one processor (borrowed; valid for the process). */
typedef struct tg_processor_info {
    uint32_t struct_size;              /**< set by the caller; on return, the bytes filled */
    const tg_processor_vtable *vtable; /**< name, kind, doc, parameter schema */
    const tg_plugin_desc *plugin;      /**< the plugin that provides it */
    const char *path;                  /**< file it was loaded from */
} tg_processor_info;

#define TG_PROCESSOR_INFO_INIT                                                                     \
    {                                                                                              \
        TG_U32(sizeof(tg_processor_info)), TG_NULL, TG_NULL, TG_NULL                               \
    }

/** @brief Describe registered processor number `index` (0 <= index < tg_processor_count()),
 * in name order. */
TG_API tg_status tg_processor_at(tg_processor_info *out, size_t index);

/** @brief Describe the processor called `name` (scans the search path first).
 * @return TG_ENOTFOUND with the list of known names. */
TG_API tg_status tg_processor_find(tg_processor_info *out, const char *name);

/* ---- chains ---- */

typedef struct tg_chain tg_chain;

/** Options for tg_chain_create(). */
typedef struct tg_chain_options {
    uint32_t struct_size;   /**< sizeof(tg_chain_options) */
    int32_t n_vocab;        /**< vocabulary size (required unless `model` is set) */
    const tg_model *model;  /**< when set: n_vocab and tokenizer come from it, and the end ids
                                 too (tg_model_end_ids()) unless eos_ids is given */
    const int32_t *eos_ids; /**< end ids (copied); NULL with n_eos 0: the model's, or none */
    size_t n_eos;
    uint64_t seed; /**< randomness key for tg_rng_uniform() */
} tg_chain_options;

#define TG_CHAIN_OPTIONS_INIT                                                                      \
    {                                                                                              \
        TG_U32(sizeof(tg_chain_options)), 0, TG_NULL, TG_NULL, 0, 0                                \
    }

/**
 * @brief Fill the first `struct_size` bytes of `opts` with the defaults (what TG_CHAIN_OPTIONS_INIT
 * gives) and set opts->struct_size; never writes past `struct_size`. Pass sizeof(*opts).
 * @return TG_EINVAL when `opts` is NULL or struct_size is smaller than the first layout.
 */
TG_API tg_status tg_chain_options_init(tg_chain_options *opts, uint32_t struct_size);

/** @brief An empty chain (transfer full; release with tg_chain_free()). */
TG_API tg_status tg_chain_create(tg_chain **out, const tg_chain_options *opts);

/**
 * @brief A chain built from a spec string, e.g. "top_k(k=40) temperature(t=0.8) dist".
 * Errors (TG_ESPEC) name the position in the spec and the fix: unknown processor (with the
 * known ones), unknown parameter (with that processor's), value out of range, no selector,
 * two selectors, a selector not last.
 */
TG_API tg_status tg_chain_parse(tg_chain **out, const char *spec, const tg_chain_options *opts);

/**
 * @brief Append processor `name` with parameters written "k=40, min_keep=1" (NULL or "" for
 * defaults). Fails (TG_ESPEC) on an unknown name or parameter, a bad value, or a stage after
 * the selector; the chain is unchanged then.
 */
TG_API tg_status tg_chain_add(tg_chain *chain, const char *name, const char *params);

/**
 * @brief Append the stages of a GKeyFile-style config file: one group per stage, in order,
 * named `[stage NAME]` (or `[stage NAME #2]` to repeat a processor), whose keys are its
 * parameters; an optional `[chain]` group may set `seed`. See docs/sampling.md.
 */
TG_API tg_status tg_chain_load_file(tg_chain *chain, const char *path);

/** @brief Check the chain is complete: exactly one selector, and it is last. */
TG_API tg_status tg_chain_validate(const tg_chain *chain);

/** @brief The chain as a spec with every parameter written out (tg_free() the string).
 * tg_chain_parse() of it gives the same chain. */
TG_API tg_status tg_chain_print(char **out, const tg_chain *chain);

/** @brief Number of stages. */
TG_API size_t tg_chain_length(const tg_chain *chain);

/** @brief The processor of stage `index` (borrowed). */
TG_API tg_status tg_chain_stage(const tg_processor_vtable **out, const tg_chain *chain,
                                size_t index);

/** @brief Set the prompt tokens (history start) and forget generated ones; resets stages. */
TG_API tg_status tg_chain_set_prompt(tg_chain *chain, const int32_t *ids, size_t n);

/**
 * @brief Run every stage on `logits` (n_vocab floats, not modified) and pick a token.
 * Does not accept it: call tg_chain_accept() with the token actually used.
 * @param[out] token_out  the chosen token id.
 * @param[out] logprob_out if not NULL: log-probability of the token under the distribution the
 *                         selector saw (after all transforms and filters).
 * A failing stage fails the step (its message is in tg_error_last()); the chain stays usable.
 */
TG_API tg_status tg_chain_sample(int32_t *token_out, float *logprob_out, tg_chain *chain,
                                 const float *logits);

/** @brief Append `token` to the history and let every stage learn it. */
TG_API tg_status tg_chain_accept(tg_chain *chain, int32_t token);

/**
 * @brief Ask the chain's TG_PROC_STOP stages whether generation should end after the tokens
 * accepted so far. @param[out] stop_out non-zero to stop.
 */
TG_API tg_status tg_chain_check_stop(int32_t *stop_out, tg_chain *chain);

/** @brief The candidates as the last tg_chain_sample() left them (borrowed). */
TG_API const tg_candidates *tg_chain_candidates(const tg_chain *chain);

/** @brief Forget history and every stage's learned state; keeps stages and seed. */
TG_API tg_status tg_chain_reset(tg_chain *chain);

/** @brief A deep copy with the same stages, states, history and seed (transfer full). */
TG_API tg_status tg_chain_clone(tg_chain **out, const tg_chain *chain);

/** @brief Change the seed and the sequence number used as randomness keys. */
TG_API tg_status tg_chain_set_seed(tg_chain *chain, uint64_t seed, int32_t sequence);

/**
 * @brief Snapshot the mutable state (history, step, every stage's saved state) into a buffer
 * (tg_free() it). Fails with TG_EUNSUPPORTED naming a stateful stage that cannot save.
 */
TG_API tg_status tg_chain_save(void **buf_out, size_t *len_out, const tg_chain *chain);

/** @brief Restore a snapshot taken from a chain with the same spec. */
TG_API tg_status tg_chain_restore(tg_chain *chain, const void *buf, size_t len);

/** @brief Release a chain. NULL is a no-op. */
TG_API void tg_chain_free(tg_chain *chain);

/* ---- trace: what each stage did to the candidates ---- */

/** One candidate in a trace. */
typedef struct tg_trace_entry {
    int32_t id;
    float logit;
    float prob; /**< softmax over the candidates live at that point */
} tg_trace_entry;

/** What one stage did at one step (all pointers borrowed for the callback's duration). */
typedef struct tg_trace_stage {
    uint32_t struct_size;
    const char *name; /**< processor name */
    uint32_t kind;    /**< TG_PROC_* */
    size_t size_before, size_after;
    const tg_trace_entry *before; /**< top candidates before the stage, most likely first */
    size_t n_before;
    const tg_trace_entry *after; /**< top candidates after the stage */
    size_t n_after;
    uint64_t time_ns; /**< time the stage took */
} tg_trace_stage;

/** Called after every tg_chain_sample() with one record per stage. */
typedef void (*tg_trace_fn)(const tg_trace_stage *stages, size_t n_stages, int32_t token,
                            int32_t step, void *user_data);

/** @brief Trace each step's `top_n` candidates per stage (fn NULL: stop tracing). Tracing
 * costs a partial sort per stage; leave it off when not needed. */
TG_API tg_status tg_chain_set_trace(tg_chain *chain, tg_trace_fn fn, size_t top_n, void *user_data);

TG_END_DECLS

#endif /* TEXTGEN_SAMPLER_H */
