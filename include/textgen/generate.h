/**
 * @file textgen/generate.h
 * @brief The generation loop: prompt text in, streamed text out.
 *
 * tg_generate() does everything in one call; a ::tg_generator lets the caller drive the loop
 * one token at a time. Both tokenize the prompt with the model's tokenizer, run the sampler
 * chain at every step, and stop on the first of: max_new_tokens, an end-of-sequence token (the
 * model's eos ids and the caller's stop tokens), a stop string, the time limit, the full context,
 * a TG_PROC_STOP stage, or the stream callback asking to stop.
 *
 * Stop strings are never emitted in part: text that could be the start of a stop string is
 * held back until it is decided, and the stop string itself is not part of the output.
 *
 * With `num_beams` = B > 1 the same loop runs beam search (docs/design.md, "Beam search"): B
 * hypotheses decoded as one batch per step, the best `num_return_sequences` of them in the result,
 * best first. The defaults give Hugging Face's `generate(num_beams=B, do_sample=False)`; a
 * chain whose selector samples (`dist`) gives its beam sampling.
 *
 * When the caller gives no chain spec, the model folder's generation_config.json provides the
 * defaults (do_sample, temperature, top_k, top_p, repetition_penalty, max_new_tokens, ...);
 * without it, generation is greedy. Its beam search fields (num_beams, num_return_sequences,
 * early_stopping, length_penalty, num_beam_groups, diversity_penalty) fill the options the
 * caller leaves at zero, field by field. TG_GEN_NO_CONFIG ignores the file.
 *
 * Thread safety: a generator belongs to one thread; tg_generate() may run concurrently on one
 * model from several threads.
 */
#ifndef TEXTGEN_GENERATE_H
#define TEXTGEN_GENERATE_H

#include <textgen/common.h>
#include <textgen/model.h>
#include <textgen/sampler.h>

TG_BEGIN_DECLS

/** Why generation ended. */
enum {
    TG_STOP_NONE = 0,       /**< not finished */
    TG_STOP_MAX_TOKENS = 1, /**< max_new_tokens reached */
    TG_STOP_EOS = 2,        /**< the model produced an end-of-sequence token */
    TG_STOP_TOKEN = 3,      /**< one of the caller's stop tokens */
    TG_STOP_STRING = 4,     /**< one of the stop strings appeared */
    TG_STOP_TIME = 5,       /**< max_time_s elapsed */
    TG_STOP_CALLBACK = 6,   /**< the stream callback returned non-zero */
    TG_STOP_CONTEXT = 7,    /**< the context window is full */
    TG_STOP_CRITERION = 8   /**< a TG_PROC_STOP stage of the chain */
};

/** @brief Static name of a stop reason ("max_tokens", "eos", "stop_string", ...). */
TG_API const char *tg_stop_reason_str(int32_t reason);

/**
 * Stream callback: `text` (len bytes, valid UTF-8, not NUL-terminated) is the next piece of
 * output, `ids` the tokens completed since the last call. `ids` is never NULL: with n_ids 0 it
 * points at an empty array (only held-back text is released). The concatenation of every `text`
 * equals tg_result_text(), and of every `ids` tg_result_tokens().
 *
 * Return non-zero to stop generation (reason TG_STOP_CALLBACK). After that the callback is called
 * at most once more: a final call that delivers what was held back (text that could have started
 * a stop string, an unfinished UTF-8 character; with beam search, the rest of the best sequence),
 * made only when there is such text or such ids. Its return value is ignored.
 *
 * With beam search the callback receives text as soon as every hypothesis that can still win
 * (the live beams and the finished ones kept so far) shares it, and the best sequence's remainder
 * at the end.
 */
typedef int32_t (*tg_stream_fn)(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                                void *user_data);

/** What one step of the generation loop did (all pointers borrowed for the call). */
typedef struct tg_step_trace {
    uint32_t struct_size;         /**< sizeof(tg_step_trace) as the library knows it */
    int32_t step;                 /**< 0 for the first generated token */
    int32_t token;                /**< the token chosen */
    float logprob;                /**< its log-probability under the distribution it was drawn
                                       from (after every transform and filter) */
    const char *samplers;         /**< the chain as tg_chain_print() writes it */
    const tg_trace_stage *stages; /**< what each stage did (stop criteria are not traced) */
    size_t n_stages;
} tg_step_trace;

/** Trace hook of the generation loop (tg_generate_options.on_trace). */
typedef void (*tg_step_trace_fn)(const tg_step_trace *trace, void *user_data);

/** Early-stopping rules of beam search (tg_generate_options.early_stopping; Hugging Face's
 *  `early_stopping`). B finished hypotheses are kept per group, best first. */
enum {
    TG_EARLY_STOP_DEFAULT = 0, /**< TG_EARLY_STOP_FALSE */
    /** HF `False`: stop once B are finished and the best live beam's score at its current length
     *  cannot beat the worst finished one */
    TG_EARLY_STOP_FALSE = 1,
    TG_EARLY_STOP_TRUE = 2, /**< HF `True`: stop as soon as B hypotheses are finished */
    /** HF "never": like FALSE, but a live beam is credited with the best score it could reach
     *  by max_new_tokens (with length_penalty > 0: its sum at that length) */
    TG_EARLY_STOP_NEVER = 3
};

/** Flags of tg_generate_options. */
enum {
    TG_GEN_IGNORE_EOS = 1u << 0,    /**< do not stop on the model's eos ids */
    TG_GEN_ALLOW_SPECIAL = 1u << 1, /**< special tokens written in the prompt are special */
    TG_GEN_NO_CONFIG = 1u << 2      /**< ignore generation_config.json */
};

/** Options of tg_generate() and tg_generator_create(). */
typedef struct tg_generate_options {
    uint32_t struct_size;            /**< sizeof(tg_generate_options) */
    const char *samplers;            /**< chain spec; NULL: generation_config.json or greedy */
    int32_t max_new_tokens;          /**< 0: generation_config.json's, else 128; -1: no limit
                                          but the context */
    const char *const *stop_strings; /**< texts that end generation (copied) */
    size_t n_stop_strings;
    const int32_t *stop_tokens; /**< extra token ids that end generation (copied) */
    size_t n_stop_tokens;
    double max_time_s;    /**< wall-clock limit; 0 = none */
    uint64_t seed;        /**< randomness key of the chain */
    int32_t n_threads;    /**< compute threads; 0 = library default */
    uint32_t flags;       /**< TG_GEN_* */
    tg_stream_fn on_text; /**< stream callback or NULL */
    void *user_data;      /**< passed to on_text */
    /* Beam search and tracing. Their zero values mean "as before": one sequence, no trace. */
    int32_t num_beams;            /**< B > 1: beam search with B beams; 1: one sequence,
                                       greedy or sampled by the chain; 0: generation_config.json's
                                       num_beams (not with on_trace), else 1 */
    int32_t num_return_sequences; /**< sequences in the result, best first: 1..B; 0:
                                       generation_config.json's (beam search), else 1 */
    int32_t early_stopping;       /**< TG_EARLY_STOP_* (beam search); DEFAULT:
                                       generation_config.json's, else FALSE */
    uint32_t trace_top_n;         /**< candidates per stage in a trace, 1..1000; 0 = 10 */
    const char *beam_scorers;  /**< beam scorers, written like a chain spec, e.g. "diverse_groups(
                                    groups=2, penalty=0.5) length_penalty(alpha=2)"; NULL: what
                                    generation_config.json's length_penalty, num_beam_groups and
                                    diversity_penalty say; NULL without those, or "":
                                    length_penalty(alpha=1), Hugging Face's default. A spec
                                    without a final score gets length_penalty (alpha 1) too */
    tg_step_trace_fn on_trace; /**< called after each of the first trace_steps steps with what
                                    every chain stage did; one sequence only (not with beams) */
    void *trace_user_data;     /**< passed to on_trace */
    int32_t trace_steps;       /**< steps traced; 0 = every step */
} tg_generate_options;

#define TG_GENERATE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        TG_U32(sizeof(tg_generate_options)), TG_NULL, 0, TG_NULL, 0, TG_NULL, 0, 0.0, 0, 0, 0,     \
            TG_NULL, TG_NULL, 0, 0, 0, 0, TG_NULL, TG_NULL, TG_NULL, 0                             \
    }

/**
 * @brief Fill the first `struct_size` bytes of `opts` with the defaults (what
 * TG_GENERATE_OPTIONS_INIT gives) and set opts->struct_size; never writes past `struct_size`. Pass
 * sizeof(*opts).
 * @return TG_EINVAL when `opts` is NULL or struct_size is smaller than the first layout.
 */
TG_API tg_status tg_generate_options_init(tg_generate_options *opts, uint32_t struct_size);

/** The outcome of a generation (opaque). */
typedef struct tg_result tg_result;

/**
 * @brief Generate a continuation of `prompt` (UTF-8).
 * @param[out] out  the result (transfer full; tg_result_free()). Also filled when the
 *                  generation stops early on a time limit or callback (those are not errors).
 * @return TG_OK, or an error (bad spec, prompt longer than the context, a failing stage, ...).
 */
TG_API tg_status tg_generate(tg_result **out, const tg_model *model, const char *prompt,
                             const tg_generate_options *opts);

/** @brief The generated text of the best sequence (sequence 0), NUL-terminated, without the
 * prompt or a stop string. */
TG_API const char *tg_result_text(const tg_result *result, size_t *len_out);

/** @brief Generated token ids of the best sequence (borrowed; *n_out of them); an end id or stop
 * token that ended it is the last one. */
TG_API const int32_t *tg_result_tokens(const tg_result *result, size_t *n_out);

/** @brief Per generated token of the best sequence: its log-probability under the distribution
 * it was drawn from (beam search: the score it added to its hypothesis, see
 * tg_result_sequence_logprobs()). */
TG_API const float *tg_result_logprobs(const tg_result *result, size_t *n_out);

/** @brief The prompt's token ids (borrowed). */
TG_API const int32_t *tg_result_prompt_tokens(const tg_result *result, size_t *n_out);

/** @brief TG_STOP_* reason the generation ended (beam search: why the search ended). */
TG_API int32_t tg_result_stop_reason(const tg_result *result);

/* ---- several sequences (beam search); sequence 0 is what the accessors above describe ---- */

/** @brief Sequences in the result: 1 without beam search, up to num_return_sequences with it
 * (fewer only when the search ended before that many hypotheses existed). 0 for NULL. */
TG_API size_t tg_result_n_sequences(const tg_result *result);

/** @brief Beams the search ran with (the caller's num_beams, else generation_config.json's): 1
 * without beam search; 0 for NULL. */
TG_API int32_t tg_result_num_beams(const tg_result *result);

/** @brief The beam scorers the search ran with, as a spec with every parameter written out (e.g.
 * "length_penalty(alpha=1)"; tg_chain_print's form), owned by the result; NULL without beam
 * search. */
TG_API const char *tg_result_beam_scorers(const tg_result *result);

/** @brief Text of sequence `index` (best first), NUL-terminated; NULL when index is out of range.
 */
TG_API const char *tg_result_sequence_text(const tg_result *result, size_t index, size_t *len_out);

/** @brief Token ids of sequence `index` (borrowed); NULL (and *n_out 0) when out of range. */
TG_API const int32_t *tg_result_sequence_tokens(const tg_result *result, size_t index,
                                                size_t *n_out);

/** @brief Per token of sequence `index`: the score the token added to it (its log-probability
 * after the chain's processors and the beam scorers' adjustments; they add up to the sequence's
 * running score). Without beam search: as tg_result_logprobs(). */
TG_API const float *tg_result_sequence_logprobs(const tg_result *result, size_t index,
                                                size_t *n_out);

/** @brief Score of sequence `index`: with beam search the final score its scorer gave (with the
 * default length_penalty(alpha): sum of its token scores / length^alpha); without, the sum of its
 * tokens' log-probabilities. NAN when out of range. */
TG_API double tg_result_sequence_score(const tg_result *result, size_t index);

/** @brief TG_STOP_* reason sequence `index` ended (eos, stop_string, max_tokens, ...);
 * TG_STOP_NONE when out of range. */
TG_API int32_t tg_result_sequence_stop_reason(const tg_result *result, size_t index);

/** Timing of a generation. */
typedef struct tg_timing {
    uint32_t struct_size; /**< set by the caller; on return, the bytes filled (docs/abi.md) */
    double prompt_s;      /**< time to process the prompt (first logits) */
    double generate_s;    /**< time from the first logits to the end */
    double sample_s;      /**< part of generate_s spent in the chain */
    int32_t n_prompt;     /**< prompt tokens */
    int32_t n_generated;  /**< generated tokens */
} tg_timing;

#define TG_TIMING_INIT                                                                             \
    {                                                                                              \
        TG_U32(sizeof(tg_timing)), 0.0, 0.0, 0.0, 0, 0                                             \
    }

/** @brief Timing of the generation that produced `result`. */
TG_API tg_status tg_result_timing(tg_timing *out, const tg_result *result);

/** @brief Release a result. NULL is a no-op. */
TG_API void tg_result_free(tg_result *result);

/* ---- step by step ---- */

typedef struct tg_generator tg_generator;

/** @brief Tokenize `prompt`, build the chain and run the prompt through the model. */
TG_API tg_status tg_generator_create(tg_generator **out, const tg_model *model, const char *prompt,
                                     const tg_generate_options *opts);

/**
 * @brief Produce the next token (with beam search: run one step of the search).
 * @param[out] token_out  the token (-1 when generation had already ended; always -1 with beam
 *                        search, whose tokens are in the result's sequences).
 * @param[out] text_out   text released by this step (borrowed until the next call; may be "",
 *                        when bytes are held back or, with beams, not shared by every hypothesis
 *                        that can still win).
 * @param[out] len_out    its length.
 * @param[out] stop_out   TG_STOP_* once generation has ended (then the remaining held-back text,
 *                        with beams the rest of the best sequence, is in text_out), else
 *                        TG_STOP_NONE.
 */
TG_API tg_status tg_generator_next(int32_t *token_out, const char **text_out, size_t *len_out,
                                   int32_t *stop_out, tg_generator *gen);

/** @brief The result so far (transfer full; valid after the generator is freed). */
TG_API tg_status tg_generator_result(tg_result **out, const tg_generator *gen);

/** @brief Release a generator. NULL is a no-op. */
TG_API void tg_generator_free(tg_generator *gen);

TG_END_DECLS

#endif /* TEXTGEN_GENERATE_H */
