/**
 * @file textgen/model.h
 * @brief Loading a model folder (Hugging Face layout) and querying it.
 *
 * A folder holds `config.json` and `model.safetensors` in the Hugging Face layout. Architectures
 * (config.json `model_type`): `gpt2` (HF or nanoGPT tensor names, with or without the
 * `transformer.` prefix), `llama` and `qwen2`; F32, F16 or BF16 tensors. docs/models.md lists
 * what is read and what is refused.
 *
 * Thread safety: a loaded ::tg_model is immutable; it may be shared by any number of threads
 * and sessions. It must outlive every session created from it.
 */
#ifndef TEXTGEN_MODEL_H
#define TEXTGEN_MODEL_H

#include <textgen/common.h>

TG_BEGIN_DECLS

/** An immutable, loaded model (opaque). */
typedef struct tg_model tg_model;

/** Weight precision used for computation (tg_model_options.weight_type). */
enum {
    TG_WEIGHTS_AUTO = 0, /**< BF16 files compute in bf16; F32 and F16 files in f32 (exact) */
    TG_WEIGHTS_F32 = 1,  /**< convert everything to f32 (most exact) */
    TG_WEIGHTS_BF16 = 2, /**< matrices in bf16 (half the memory traffic) */
    TG_WEIGHTS_INT8 = 3  /**< matrices in int8, quantized at load from F32/F16/BF16 (about a
                              quarter of f32's traffic): a scale per output column and block of
                              32 weights, activations quantized to 16 bits per row and block
                              (CPUs with AVX-512 VNNI), else a scale per output column and f32
                              activations; norms stay f32, an untied embedding table too (a tied
                              one is the output layer's columns) */
};

/** Element type of every session's KV cache (tg_model_options.kv_type). */
enum {
    TG_KV_AUTO = 0, /**< f32 with f32 weights, bf16 with bf16 and int8 weights */
    TG_KV_F32 = 1,  /**< keys and values in f32 (exact) */
    TG_KV_BF16 = 2  /**< keys and values rounded to bf16: half the bytes a decoded token's
                         attention reads and half the cache's memory */
};

/** Options for tg_model_load(). */
typedef struct tg_model_options {
    uint32_t struct_size; /**< sizeof(tg_model_options) */
    uint32_t weight_type; /**< TG_WEIGHTS_* (default TG_WEIGHTS_AUTO) */
    uint32_t kv_type;     /**< TG_KV_* (default TG_KV_AUTO) */
} tg_model_options;

#define TG_MODEL_OPTIONS_INIT                                                                      \
    {                                                                                              \
        TG_U32(sizeof(tg_model_options)), 0, 0                                                     \
    }

/**
 * @brief Fill the first `struct_size` bytes of `opts` with the defaults (what TG_MODEL_OPTIONS_INIT
 * gives) and set opts->struct_size; never writes past `struct_size`. Pass sizeof(*opts).
 * @return TG_EINVAL when `opts` is NULL or struct_size is smaller than the first layout.
 */
TG_API tg_status tg_model_options_init(tg_model_options *opts, uint32_t struct_size);

/**
 * @brief Load a model folder.
 * @param[out] out  receives the model (transfer full; release with tg_model_free()).
 * @param dir       path of the folder holding config.json and model.safetensors.
 * @param opts      options, or NULL for defaults.
 * @return TG_OK; TG_EIO, TG_EFORMAT, TG_EUNSUPPORTED, TG_ENOTFOUND, TG_EINVAL, TG_EBACKEND,
 *         TG_ENOMEM with a message naming the file, tensor or field at fault.
 */
TG_API tg_status tg_model_load(tg_model **out, const char *dir, const tg_model_options *opts);

/** @brief Release a model. NULL is a no-op. No session may still use it. */
TG_API void tg_model_free(tg_model *model);

/** Facts about a loaded model (tg_model_get_info()). */
typedef struct tg_model_info {
    uint32_t struct_size;  /**< set by the caller to sizeof(tg_model_info); on return, the bytes
                                filled (docs/abi.md) */
    int32_t n_vocab;       /**< vocabulary size (rows of the output layer) */
    int32_t n_ctx;         /**< maximum positions (n_positions) */
    int32_t n_layer;       /**< transformer blocks */
    int32_t n_head;        /**< attention heads */
    int32_t n_embd;        /**< embedding width */
    int32_t n_inner;       /**< MLP hidden width */
    int32_t bos_id;        /**< beginning-of-sequence id, -1 if none */
    int32_t eos_id;        /**< end-of-sequence id, -1 if none */
    uint32_t weight_type;  /**< TG_WEIGHTS_F32, _BF16 or _INT8: what computation uses */
    uint64_t n_params;     /**< parameters in the file (tied matrices counted once) */
    uint64_t weight_bytes; /**< bytes of matrices streamed per decoded token */
    uint32_t kv_type;      /**< TG_KV_F32 or TG_KV_BF16: the KV cache of every session */
} tg_model_info;

#define TG_MODEL_INFO_INIT                                                                         \
    {                                                                                              \
        TG_U32(sizeof(tg_model_info)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0                          \
    }

/**
 * @brief Describe a model.
 * @param[out] out  caller-owned struct whose struct_size is set; nothing past that size is
 *                  written, and fields this library does not know are zeroed.
 */
TG_API tg_status tg_model_get_info(tg_model_info *out, const tg_model *model);

struct tg_tokenizer;

/**
 * @brief The tokenizer loaded from the model folder (tokenizer.json, or vocab.json +
 * merges.txt), or NULL when the folder has none. Borrowed: lives as long as the model; like the
 * model it is immutable and may be shared between threads.
 */
TG_API const struct tg_tokenizer *tg_model_tokenizer(const tg_model *model);

/**
 * @brief The sampler-chain spec that the folder's generation_config.json implies (what
 * tg_generate() uses when the caller gives none), or NULL when the folder has no such file.
 * Borrowed; lives as long as the model.
 */
TG_API const char *tg_model_default_samplers(const tg_model *model);

/** Flags of tg_model_end_ids(). */
enum {
    TG_END_IDS_NO_GENERATION_CONFIG = 1u << 0 /**< leave out generation_config.json's ids */
};

/**
 * @brief The token ids that end a sequence — the one answer every part of libtextgen uses (the
 * generation loop, the sampler chain's stages such as min_new_tokens, beam search).
 *
 * In order, each id once: config.json's `eos_token_id`, the tokenizer's eos token, then
 * generation_config.json's `eos_token_id` (one id or a list), unless `flags` has
 * TG_END_IDS_NO_GENERATION_CONFIG.
 * @param[out] ids_out  borrowed array, valid as long as the model (NULL when *n_out is 0).
 * @param[out] n_out    number of ids.
 * @param flags         TG_END_IDS_* bits.
 */
TG_API tg_status tg_model_end_ids(const int32_t **ids_out, size_t *n_out, const tg_model *model,
                                  uint32_t flags);

/** @brief The folder the model was loaded from (borrowed, lives as long as the model). */
TG_API const char *tg_model_path(const tg_model *model);

/**
 * @brief The bundled model installed with libtextgen (`<datadir>/textgen/models/...`), found
 * relative to the loaded library itself, so a moved or unpacked prefix still finds it.
 * @param[out] dir_out  borrowed, valid for the process; set even when the folder is missing.
 * @return TG_OK; TG_ENOTFOUND (naming the folder) when it is not there, e.g. in a build tree.
 */
TG_API tg_status tg_bundled_model_dir(const char **dir_out);

/**
 * @brief The model folder used when the caller names none: `$TEXTGEN_MODEL` when it is set and
 * not empty, else tg_bundled_model_dir().
 * @param[out] dir_out  borrowed (the environment's string, or as tg_bundled_model_dir()); set
 *                      even when the folder is missing.
 * @return TG_OK; TG_ENOTFOUND naming the folder and where it came from.
 */
TG_API tg_status tg_default_model_dir(const char **dir_out);

/** @brief tg_model_load() of tg_default_model_dir(). */
TG_API tg_status tg_model_load_default(tg_model **out, const tg_model_options *opts);

TG_END_DECLS

#endif /* TEXTGEN_MODEL_H */
