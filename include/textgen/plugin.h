/**
 * @file textgen/plugin.h
 * @brief Everything a logit-processor plugin needs, and nothing more.
 *
 * A plugin is a shared module that exports one symbol, `tg_plugin_get_desc`, returning a
 * ::tg_plugin_desc that lists its processors. Write it with TG_PLUGIN_DEFINE():
 *
 * @code
 * static tg_status apply(void *state, tg_candidates *c, const tg_step_info *step) { ... }
 * static const tg_param_spec params[] = {
 *     {"k", TG_PARAM_INT, "40", 1, 1e9, "number of candidates kept"},
 * };
 * static const tg_processor_vtable top_k = {
 *     TG_PROCESSOR_VTABLE_SIZE, "top_k", TG_PROC_FILTER, "keep the k most likely tokens",
 *     params, 1, create, apply, NULL, NULL, NULL, destroy};
 * TG_PLUGIN_DEFINE("my-samplers", "1.0", "MIT", "my samplers", &top_k)
 * @endcode
 *
 * The host checks the descriptor before registering anything: ABI version, struct sizes,
 * required members, parameter schemas, unique names. A callback that fails returns a status
 * (and may describe the failure with tg_plugin_set_error()); the host then fails that step with
 * the plugin's message and stays usable. Callbacks must not abort or exit the process.
 *
 * Lifetime: a plugin module stays loaded for the life of the process once registered, so the
 * descriptor, vtables, names and parameter schemas may be static data.
 *
 * Thread safety: a processor *state* (what `create` returns) is used by one thread at a time;
 * distinct states may be used by different threads concurrently, so callbacks must not share
 * mutable globals without locking.
 */
#ifndef TEXTGEN_PLUGIN_H
#define TEXTGEN_PLUGIN_H

#include <textgen/common.h>

TG_BEGIN_DECLS

/** Version of this plugin ABI; a plugin built against another version is refused. */
#define TG_PLUGIN_ABI_VERSION 1u

#if defined(_WIN32)
#define TG_PLUGIN_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define TG_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TG_PLUGIN_EXPORT
#endif

/* ---- candidates: the probability map a processor reads and rewrites ---- */

/**
 * The candidate tokens of one step, owned by the host. `ids`, `logits` and `probs` are parallel
 * arrays of `capacity` (= n_vocab) entries of which the first `size` are live.
 *
 * - A transform rewrites `logits`: it must clear `probs_valid` (or recompute the probs), and set
 *   `sorted` to 0 unless it keeps the order (a positive scale does).
 * - A filter removes candidates by reordering the arrays and lowering `size`; it never grows it
 *   and never needs to copy the vocabulary. tg_candidates_sort() and tg_candidates_softmax()
 *   do the usual work without a full sort. Any stage may lower `size` (temperature 0 does), never
 *   to 0; the host fails the step if one does.
 * - A selector sets `selected` to the index (into the first `size` entries) of the chosen token.
 * - The host does not touch the candidates between a stage's `apply` and the next stage, nor
 *   between the selector's `apply` and the `accept` calls of that step.
 */
typedef struct tg_candidates {
    uint32_t struct_size; /**< sizeof(tg_candidates) as the host knows it */
    int32_t n_vocab;      /**< vocabulary size */
    int32_t *ids;         /**< token ids */
    float *logits;        /**< logits (log-probabilities up to a constant) */
    float *probs;         /**< softmax of logits over the live entries, when probs_valid */
    size_t size;          /**< live entries */
    size_t capacity;      /**< allocated entries (n_vocab) */
    size_t sorted;        /**< the first `sorted` entries are in descending logit order and are
                               the largest of all live entries */
    int32_t probs_valid;  /**< non-zero: probs[] is the softmax of the live logits */
    int32_t selected;     /**< set by a selector: index of the chosen entry; -1 before */
} tg_candidates;

/**
 * @brief Partially sort: afterwards the first min(k, size) entries are the largest logits in
 * descending order (c->sorted >= that). Costs O(size + k log k), never a full sort for small k.
 */
TG_API tg_status tg_candidates_sort(tg_candidates *c, size_t k);

/** @brief Compute probs[] = softmax(logits[]) over the live entries; sets probs_valid. */
TG_API tg_status tg_candidates_softmax(tg_candidates *c);

/** @brief Keep the first `n` entries (1 <= n <= size); keeps `sorted` and renormalizes probs. */
TG_API tg_status tg_candidates_truncate(tg_candidates *c, size_t n);

/** A question about live entry `index` of `c` (its id, logit and prob are at that index). */
typedef int32_t (*tg_candidate_pred)(const tg_candidates *c, size_t index, void *user_data);

/**
 * @brief Filter helpers: keep the live entries for which `keep` returns non-zero (keep_if), or
 * drop those for which `remove` does (remove_if), or keep those whose byte `keep[i]` is non-zero
 * (tg_candidates_keep; `keep` has `size` bytes, indexed by position before the call).
 *
 * The predicate is called once per live entry, in increasing index order, before that entry
 * moves. Survivors keep their relative order, `sorted` stays truthful (the kept part of the
 * sorted prefix) and probs are renormalized when valid; the arrays stay a permutation of what
 * they held. Keeping nothing is refused with TG_ERANGE and leaves `c` unchanged (a step never
 * runs out of candidates).
 */
TG_API tg_status tg_candidates_keep_if(tg_candidates *c, tg_candidate_pred keep, void *user_data);
TG_API tg_status tg_candidates_remove_if(tg_candidates *c, tg_candidate_pred remove,
                                         void *user_data);
TG_API tg_status tg_candidates_keep(tg_candidates *c, const uint8_t *keep);

/* ---- randomness from the host ---- */

/**
 * @brief A uniform double in [0, 1) from a counter-based generator keyed by
 * (seed, sequence, step, counter). The same key always gives the same number, whatever the
 * thread count or batch composition, so sampling is reproducible.
 *
 * Counters: 0 belongs to the chain's selector (a chain has one); other processors that need
 * randomness use a fixed counter derived from their name (e.g. the bytes of a short tag, as
 * xtc does with 0x787463) so two stages never draw the same number.
 */
TG_API double tg_rng_uniform(uint64_t seed, uint64_t sequence, uint64_t step, uint64_t counter);

/* ---- errors from plugins ---- */

/**
 * @brief Describe why a callback fails (copied into the calling thread's last error). Call it
 * right before returning `status` from a callback; returns `status`.
 */
TG_API tg_status tg_plugin_set_error(tg_status status, const char *message);

/* ---- parameters ---- */

/** Parameter types of a processor's schema. */
enum {
    TG_PARAM_FLOAT = 1,  /**< a number; range [min, max] */
    TG_PARAM_INT = 2,    /**< an integer; range [min, max] */
    TG_PARAM_BOOL = 3,   /**< true/false (also 1/0, yes/no) */
    TG_PARAM_STRING = 4, /**< free text, parsed by the plugin; "quoted" when it has spaces */
    TG_PARAM_IDS = 5     /**< token ids: "1 2 3"; ';' separates sequences: "1 2; 3" */
};

/** One parameter of a processor's schema (static data of the plugin). */
typedef struct tg_param_spec {
    const char *name;          /**< [a-z_][a-z0-9_]* */
    uint32_t type;             /**< TG_PARAM_* */
    const char *default_value; /**< text, parsed like a user value; NULL = required */
    double min, max;           /**< inclusive range for FLOAT and INT */
    const char *doc;           /**< one line */
} tg_param_spec;

/** A parsed parameter value given to `create`, parallel to the schema. */
typedef struct tg_param_value {
    double number;          /**< FLOAT, INT and BOOL (0 or 1) */
    int64_t integer;        /**< INT and BOOL */
    const char *string;     /**< STRING: the text; IDS: the text as written (borrowed) */
    const int32_t *ids;     /**< IDS: all ids, sequences concatenated (borrowed) */
    size_t n_ids;           /**< IDS: number of ids */
    const size_t *seq_ends; /**< IDS: end offset in `ids` of each ';'-separated sequence */
    size_t n_seqs;          /**< IDS: number of sequences */
} tg_param_value;

/* ---- what a processor sees ---- */

struct tg_tokenizer;

/**
 * Facts fixed for the life of a processor state (given to `create`). It grows at the end:
 * code built against newer headers reads a member only when `struct_size` covers it.
 */
typedef struct tg_proc_context {
    uint32_t struct_size;
    int32_t n_vocab;        /**< vocabulary size */
    const int32_t *eos_ids; /**< end-of-sequence ids of the model (may be empty) */
    size_t n_eos;
    /** The model's tokenizer, or NULL (use it with <textgen/tokenizer.h>; immutable, shared). */
    const struct tg_tokenizer *tokenizer;
    /** The user data the processor's plugin was registered with (tg_plugin_register()); NULL
     *  for plugin files. Shared by every state of the plugin's processors, on any thread. */
    void *user_data;
} tg_proc_context;

/** The step being decided (given to `apply`, `accept`, `check_stop`). */
typedef struct tg_step_info {
    uint32_t struct_size;
    uint64_t seed;         /**< the chain's seed, for tg_rng_uniform() */
    int32_t sequence;      /**< which sequence of a batch or beam */
    int32_t step;          /**< tokens generated so far in this sequence (0 at the first) */
    const int32_t *tokens; /**< history: prompt then generated tokens */
    size_t n_tokens;       /**< length of history */
    size_t n_prompt;       /**< how many of `tokens` are the prompt */
} tg_step_info;

/** Kinds of processors; a chain is transforms and filters in any order, then one selector. */
enum {
    TG_PROC_TRANSFORM = 1,  /**< rewrites logits (penalties, temperature, bias) */
    TG_PROC_FILTER = 2,     /**< removes candidates (top_k, top_p, ...) */
    TG_PROC_SELECTOR = 3,   /**< picks the token (greedy, dist); exactly one, last */
    TG_PROC_STOP = 4,       /**< decides after each token whether generation ends */
    TG_PROC_BEAM_SCORER = 5 /**< ranks beam hypotheses (see ::tg_beam_scorer) */
};

/* ---- beam scorers: what beam search asks of a TG_PROC_BEAM_SCORER ---- */

/**
 * One group of beams at one step of beam search, as a scorer's `adjust` sees it.
 *
 * Row b, column t of `scores` is the score beam b would have after token t: the beam's running
 * score plus t's log-probability after the chain's processors, or -inf where a processor removed
 * t. The scorer may rewrite any entry; beam search then ranks the (beam, token) candidates by
 * these values, and a candidate's value becomes its running score.
 */
typedef struct tg_beam_step {
    uint32_t struct_size;         /**< sizeof(tg_beam_step) as the host knows it */
    int32_t step;                 /**< tokens each live beam has generated (0 at the first step) */
    int32_t group;                /**< the group being expanded, 0 <= group < n_groups */
    int32_t n_groups;             /**< groups of this search (1 unless a scorer asked for more) */
    int32_t n_beams;              /**< live beams of this group: the rows of `scores` */
    int32_t n_vocab;              /**< the columns of `scores` */
    float *scores;                /**< n_beams x n_vocab, row-major (see above) */
    const double *running;        /**< per beam: its running score before this step */
    const int32_t *const *tokens; /**< per beam: its `step` generated tokens */
    const int32_t *chosen;        /**< the tokens earlier groups chose at this step for their beams
                                       that go on (none for group 0) */
    size_t n_chosen;
} tg_beam_step;

/** A hypothesis to score (given to `score`). */
typedef struct tg_beam_hypothesis {
    uint32_t struct_size;  /**< sizeof(tg_beam_hypothesis) as the host knows it */
    int32_t length;        /**< generated tokens, the one that ended it (end id, stop) included */
    double sum;            /**< its running score: the sum of its tokens' step scores */
    int32_t max_length;    /**< == length for a finished hypothesis. For a live beam (early
                                stopping asks how good it could still get) the longest it may
                                grow to: score the best it could reach at any length in
                                [length, max_length], assuming its sum does not improve */
    int32_t group;         /**< its group */
    const int32_t *tokens; /**< its `length` generated tokens */
} tg_beam_hypothesis;

/**
 * The callbacks of a beam scorer (static data of the plugin), pointed to by the `scorer` member of
 * its ::tg_processor_vtable. Grows only at the end; the host reads only what `struct_size` covers.
 * Every callback is optional, but a scorer has at least one. `state` is what `create` made.
 *
 * Beam search runs the scorers of its scorer spec (e.g. "diverse_groups(groups=2, penalty=0.5)
 * length_penalty(alpha=1.2)"): at most one may ask for groups; every `adjust` runs, in spec
 * order; the last scorer with a `score` gives the final scores (length_penalty when none has).
 */
typedef struct tg_beam_scorer {
    uint32_t struct_size; /**< TG_BEAM_SCORER_SIZE */
    /** Split the search's `n_beams` beams into `*n_groups_out` groups of n_beams / n_groups
     *  beams that search side by side, each keeping its own finished hypotheses; groups expand
     *  in order at every step. Fail (tg_plugin_set_error) when n_beams does not suit. */
    tg_status (*groups)(void *state, int32_t n_beams, int32_t *n_groups_out);
    /** Rewrite the candidate scores of one group at one step (diversity, constraints, ...). */
    tg_status (*adjust)(void *state, tg_beam_step *step);
    /** The final score of a hypothesis; finished hypotheses are ranked by it. */
    tg_status (*score)(void *state, const tg_beam_hypothesis *hyp, double *score_out);
} tg_beam_scorer;

/** Size of the first scorer layout the host accepts. */
#define TG_BEAM_SCORER_MIN_SIZE ((uint32_t)sizeof(tg_beam_scorer))
#define TG_BEAM_SCORER_SIZE ((uint32_t)sizeof(tg_beam_scorer))

/**
 * A processor's vtable (static data of the plugin). Grows only at the end; the host reads
 * only the members that `struct_size` covers.
 *
 * Required: struct_size, name, kind, doc, create, and `apply` (`check_stop` for TG_PROC_STOP,
 * `scorer` for TG_PROC_BEAM_SCORER). Optional (may be NULL): accept, reset, clone (NULL: the host
 * creates a fresh state from the same parameters and calls nothing else, so stateful processors
 * should provide it), destroy, save/load (state snapshots; NULL for stateless processors).
 */
typedef struct tg_processor_vtable {
    uint32_t struct_size; /**< TG_PROCESSOR_VTABLE_SIZE */
    const char *name;     /**< [a-z_][a-z0-9_]*, unique among loaded processors */
    uint32_t kind;        /**< TG_PROC_* */
    const char *doc;      /**< one line */
    const tg_param_spec *params;
    size_t n_params;
    /** Make a state from parsed parameters. `*state_out` may stay NULL for stateless ones. */
    tg_status (*create)(void **state_out, const tg_param_value *values, const tg_proc_context *ctx);
    /** Transform, filter or select. */
    tg_status (*apply)(void *state, tg_candidates *cands, const tg_step_info *step);
    /** A token was chosen (`step` still describes the step that chose it). */
    tg_status (*accept)(void *state, int32_t token, const tg_step_info *step);
    /** Forget everything learned since `create`. */
    void (*reset)(void *state);
    /** Deep copy of a state. */
    tg_status (*clone)(void **state_out, const void *state);
    void (*destroy)(void *state);
    /** Serialize the mutable state. With buf NULL: set *len to the size needed. With a buffer:
     *  *len is its size on entry and the bytes written on return; return TG_ERANGE (and the
     *  size needed in *len) when it is too small. */
    tg_status (*save)(const void *state, void *buf, size_t *len);
    /** Restore what save() wrote. */
    tg_status (*load)(void *state, const void *buf, size_t len);
    /** TG_PROC_STOP only: set *stop non-zero to end generation after the accepted token. */
    tg_status (*check_stop)(void *state, const tg_step_info *step, int32_t *stop);
    void *reserved[4];
    /** TG_PROC_BEAM_SCORER only (required for that kind, which needs no `apply`). */
    const tg_beam_scorer *scorer;
} tg_processor_vtable;

/** Size of the first vtable layout the host accepts. */
#define TG_PROCESSOR_VTABLE_MIN_SIZE TG_U32(offsetof(tg_processor_vtable, check_stop))
#define TG_PROCESSOR_VTABLE_SIZE (TG_U32(sizeof(tg_processor_vtable)))

/** The plugin descriptor returned by `tg_plugin_get_desc`. */
typedef struct tg_plugin_desc {
    uint32_t abi_version;    /**< TG_PLUGIN_ABI_VERSION */
    uint32_t struct_size;    /**< sizeof(tg_plugin_desc) */
    const char *name;        /**< plugin name */
    const char *version;     /**< plugin version text */
    const char *license;     /**< SPDX id */
    const char *description; /**< one line */
    const tg_processor_vtable *const *processors;
    size_t n_processors;
    void *reserved[4];
} tg_plugin_desc;

#define TG_PLUGIN_DESC_MIN_SIZE TG_U32(offsetof(tg_plugin_desc, reserved))

/** Signature of the entry symbol `tg_plugin_get_desc`. */
typedef const tg_plugin_desc *(*tg_plugin_get_desc_fn)(void);

#ifdef __cplusplus
#define TG_PLUGIN_EXTERN_C extern "C"
#else
#define TG_PLUGIN_EXTERN_C
#endif

/** Define the plugin's descriptor and entry point; the trailing arguments are
 * `const tg_processor_vtable *` pointers. Works in C and C++ (the entry point has C linkage). */
#define TG_PLUGIN_DEFINE(name_, version_, license_, description_, ...)                             \
    static const tg_processor_vtable *const tg_plugin_procs_[] = {__VA_ARGS__};                    \
    static const tg_plugin_desc tg_plugin_desc_ = {TG_PLUGIN_ABI_VERSION,                          \
                                                   TG_U32(sizeof(tg_plugin_desc)),                 \
                                                   name_,                                          \
                                                   version_,                                       \
                                                   license_,                                       \
                                                   description_,                                   \
                                                   tg_plugin_procs_,                               \
                                                   sizeof tg_plugin_procs_ /                       \
                                                       sizeof tg_plugin_procs_[0],                 \
                                                   {TG_NULL, TG_NULL, TG_NULL, TG_NULL}};          \
    TG_PLUGIN_EXTERN_C TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void);            \
    TG_PLUGIN_EXTERN_C TG_PLUGIN_EXPORT const tg_plugin_desc *tg_plugin_get_desc(void)             \
    {                                                                                              \
        return &tg_plugin_desc_;                                                                   \
    }

TG_END_DECLS

#endif /* TEXTGEN_PLUGIN_H */
