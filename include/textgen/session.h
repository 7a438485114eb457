/**
 * @file textgen/session.h
 * @brief A session: the KV cache of up to `n_seq` sequences and the forward pass.
 *
 * Rows of a batch are (sequence, token, position) triples. Each row's position must be the next
 * free position of its sequence (the sequence's current length, counting earlier rows of the
 * same batch), so a sequence is always a contiguous prefix; rewind with tg_session_seq_truncate().
 *
 * Thread safety: a session belongs to one thread at a time. Several sessions may share one model.
 */
#ifndef TEXTGEN_SESSION_H
#define TEXTGEN_SESSION_H

#include <textgen/common.h>
#include <textgen/model.h>

TG_BEGIN_DECLS

/** A KV cache plus scratch buffers for one model (opaque). */
typedef struct tg_session tg_session;

/** Options for tg_session_create(). */
typedef struct tg_session_options {
    uint32_t struct_size; /**< sizeof(tg_session_options) */
    uint32_t n_seq;       /**< sequences held at once (default 1) */
    uint32_t n_ctx;       /**< positions per sequence; 0 = the model's n_ctx */
    int32_t n_threads;    /**< compute threads; 0 = the CPUs this process may run on (affinity
                               mask, capped by a cgroup CPU quota). Results do not depend on it */
    uint32_t n_batch;     /**< most rows one decode call takes; 0 = n_ctx */
} tg_session_options;

#define TG_SESSION_OPTIONS_INIT                                                                    \
    {                                                                                              \
        TG_U32(sizeof(tg_session_options)), 1, 0, 0, 0                                             \
    }

/**
 * @brief Fill the first `struct_size` bytes of `opts` with the defaults (what
 * TG_SESSION_OPTIONS_INIT gives) and set opts->struct_size; never writes past `struct_size`. Pass
 * sizeof(*opts).
 * @return TG_EINVAL when `opts` is NULL or struct_size is smaller than the first layout.
 */
TG_API tg_status tg_session_options_init(tg_session_options *opts, uint32_t struct_size);

/**
 * @brief Create a session on `model`.
 * @param[out] out  receives the session (transfer full; release with tg_session_free()).
 * @param model     a loaded model, borrowed; it must outlive the session.
 * @param opts      options or NULL for defaults.
 */
TG_API tg_status tg_session_create(tg_session **out, const tg_model *model,
                                   const tg_session_options *opts);

/** @brief Release a session. NULL is a no-op. */
TG_API void tg_session_free(tg_session *session);

/** One row of a batch. */
typedef struct tg_batch_row {
    int32_t token;  /**< token id, 0 <= token < n_vocab */
    int32_t pos;    /**< position; must equal the sequence's current length */
    int32_t seq;    /**< sequence index, 0 <= seq < n_seq */
    int32_t logits; /**< non-zero: compute this row's logits */
} tg_batch_row;

/**
 * @brief Run the forward pass over `n_rows` rows and append them to their sequences' caches.
 *
 * Rows of one sequence must be in increasing position order. On failure nothing is appended.
 * Logits of the rows that asked for them are read with tg_session_logits().
 */
TG_API tg_status tg_session_decode(tg_session *session, const tg_batch_row *rows, size_t n_rows);

/**
 * @brief Logits of row `row` of the last tg_session_decode() call.
 * @param[out] out  receives a pointer to n_vocab floats (borrowed; valid until the next decode,
 *                  truncate, clear or free of this session).
 * @return TG_EINVAL if that row did not ask for logits or is out of range.
 */
TG_API tg_status tg_session_logits(const float **out, const tg_session *session, size_t row);

/** @brief Current length (positions cached) of sequence `seq`. */
TG_API tg_status tg_session_seq_length(int32_t *out, const tg_session *session, int32_t seq);

/** @brief Empty sequence `seq`. */
TG_API tg_status tg_session_seq_clear(tg_session *session, int32_t seq);

/** @brief Keep only the first `n_keep` positions of sequence `seq` (n_keep <= length). */
TG_API tg_status tg_session_seq_truncate(tg_session *session, int32_t seq, int32_t n_keep);

/**
 * @brief Make sequence `dst` an exact copy of sequence `src` (cache and length).
 *
 * Cheap: the KV cache is paged and `dst` shares `src`'s blocks (reference-counted); the cost is
 * proportional to the number of blocks, not their contents, and the first decode into a shared,
 * partly filled block copies that one block. Beam search can fork sequences every step.
 */
TG_API tg_status tg_session_seq_copy(tg_session *session, int32_t dst, int32_t src);

/** Facts about a session and its KV cache (tg_session_get_info()). */
typedef struct tg_session_info {
    uint32_t struct_size;        /**< set by the caller to sizeof(tg_session_info) */
    uint32_t n_seq;              /**< sequences held at once */
    uint32_t n_ctx;              /**< positions per sequence */
    uint32_t n_batch;            /**< most rows one decode call takes */
    int32_t n_threads;           /**< compute threads (the resolved count, never 0) */
    uint32_t kv_block_positions; /**< positions per KV cache block */
    uint64_t kv_block_bytes;     /**< bytes of one block (K and V of every layer) */
    uint64_t kv_bytes_in_use;    /**< blocks holding positions of at least one sequence; a block
                                      shared by several (tg_session_seq_copy) counts once */
    uint64_t kv_bytes_allocated; /**< blocks in use plus released ones kept for reuse */
} tg_session_info;

#define TG_SESSION_INFO_INIT                                                                       \
    {                                                                                              \
        TG_U32(sizeof(tg_session_info)), 0, 0, 0, 0, 0, 0, 0, 0                                    \
    }

/**
 * @brief Describe a session and the memory its KV cache holds now.
 * @param[out] out  caller-owned struct whose struct_size is set (at least its first layout,
 *                  48 bytes); nothing past that size is written, and fields this library does
 *                  not know are zeroed.
 */
TG_API tg_status tg_session_get_info(tg_session_info *out, const tg_session *session);

/** @brief The model this session runs (borrowed). */
TG_API const tg_model *tg_session_model(const tg_session *session);

TG_END_DECLS

#endif /* TEXTGEN_SESSION_H */
