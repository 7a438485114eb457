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
 * When the caller gives no chain spec, the model folder's generation_config.json provides the
 * defaults (do_sample, temperature, top_k, top_p, repetition_penalty, max_new_tokens, ...);
 * without it, generation is greedy.
 *
 * Thread safety: a generator belongs to one thread; tg_generate() may run concurrently on one
 * model from several threads.
 */
#ifndef TEXTGEN_GENERATE_H
#define TEXTGEN_GENERATE_H

#include <textgen/common.h>
#include <textgen/model.h>

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
 * output, `ids` the tokens completed since the last call (may be empty when only held-back text
 * is released). Return non-zero to stop generation (reason TG_STOP_CALLBACK).
 */
typedef int32_t (*tg_stream_fn)(const char *text, size_t len, const int32_t *ids, size_t n_ids,
                                void *user_data);

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
} tg_generate_options;

#define TG_GENERATE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        TG_U32(sizeof(tg_generate_options)), TG_NULL, 0, TG_NULL, 0, TG_NULL, 0, 0.0, 0, 0, 0,     \
            TG_NULL, TG_NULL                                                                       \
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

/** @brief The generated text, NUL-terminated, without the prompt or a stop string. */
TG_API const char *tg_result_text(const tg_result *result, size_t *len_out);

/** @brief Generated token ids (borrowed; *n_out of them). */
TG_API const int32_t *tg_result_tokens(const tg_result *result, size_t *n_out);

/** @brief Per generated token: its log-probability under the distribution it was drawn from. */
TG_API const float *tg_result_logprobs(const tg_result *result, size_t *n_out);

/** @brief The prompt's token ids (borrowed). */
TG_API const int32_t *tg_result_prompt_tokens(const tg_result *result, size_t *n_out);

/** @brief TG_STOP_* reason. */
TG_API int32_t tg_result_stop_reason(const tg_result *result);

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
 * @brief Produce the next token.
 * @param[out] token_out  the token (-1 when generation had already ended).
 * @param[out] text_out   text released by this step (borrowed until the next call; may be "",
 *                        when bytes are held back).
 * @param[out] len_out    its length.
 * @param[out] stop_out   TG_STOP_* once generation has ended (then the remaining held-back text
 *                        is in text_out), else TG_STOP_NONE.
 */
TG_API tg_status tg_generator_next(int32_t *token_out, const char **text_out, size_t *len_out,
                                   int32_t *stop_out, tg_generator *gen);

/** @brief The result so far (transfer full; valid after the generator is freed). */
TG_API tg_status tg_generator_result(tg_result **out, const tg_generator *gen);

/** @brief Release a generator. NULL is a no-op. */
TG_API void tg_generator_free(tg_generator *gen);

TG_END_DECLS

#endif /* TEXTGEN_GENERATE_H */
