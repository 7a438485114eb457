/**
 * @file textgen/common.h
 * @brief Export macros, status codes, thread-local errors, logging and memory release.
 *
 * Conventions used by every libtextgen header:
 * - Every fallible function returns a ::tg_status: ::TG_OK (0) on success, a negative code
 *   otherwise. The details of the last failure on the calling thread are in tg_error_last();
 *   every call that returns a ::tg_status clears them first (but tg_error_last_status() and
 *   tg_plugin_set_error()), so after a success they are empty.
 * - Output parameters come first and are named `out`.
 * - Constructors (`_load`, `_create`) hand the caller an owned object that is released with the
 *   matching `_free`; every `_free(NULL)` is a no-op.
 * - Option structs are passed by const pointer and begin with `uint32_t struct_size`; set it
 *   with the `TG_X_OPTIONS_INIT` initializer or `tg_x_options_init(&opts, sizeof opts)`. Structs
 *   grow only at the end and older, smaller layouts keep working (docs/abi.md). A NULL options
 *   pointer means "all defaults".
 * - Strings allocated by the library are released with tg_free().
 * - The library never aborts and never prints; diagnostics go to the log callback.
 */
#ifndef TEXTGEN_COMMON_H
#define TEXTGEN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(TG_BUILDING)
#define TG_API __declspec(dllexport)
#else
#define TG_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#ifdef __cplusplus
#define TG_BEGIN_DECLS extern "C" {
#define TG_END_DECLS }
#else
#define TG_BEGIN_DECLS
#define TG_END_DECLS
#endif

/* Spelled so that the initializer macros (TG_X_OPTIONS_INIT, TG_PLUGIN_DEFINE, ...) compile
 * cleanly as C99 and as C++ under -Wzero-as-null-pointer-constant -Wold-style-cast. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define TG_NULL nullptr
#elif defined(__cplusplus)
#define TG_NULL 0
#else
#define TG_NULL ((void *)0)
#endif
#ifdef __cplusplus
#define TG_U32(x) static_cast<uint32_t>(x)
#define TG_SIZE(x) static_cast<size_t>(x)
#else
#define TG_U32(x) ((uint32_t)(x))
#define TG_SIZE(x) ((size_t)(x))
#endif

TG_BEGIN_DECLS

/** Result of every fallible call. Values are fixed forever and never reused. */
typedef int32_t tg_status;

enum {
    TG_OK = 0,            /**< success */
    TG_ERROR = -1,        /**< unspecified failure */
    TG_EINVAL = -2,       /**< an argument is invalid (NULL, out of range, ...) */
    TG_ENOMEM = -3,       /**< out of memory */
    TG_EIO = -4,          /**< a file could not be opened, read or mapped */
    TG_EFORMAT = -5,      /**< a file's content is malformed */
    TG_EUNSUPPORTED = -6, /**< valid but not supported (dtype, architecture, ...) */
    TG_ENOTFOUND = -7,    /**< a named thing (file, tensor, processor) does not exist */
    TG_ERANGE = -8,       /**< a value is outside its allowed range */
    TG_EBACKEND = -9,     /**< the compute backend (oneDNN) failed */
    TG_ESTATE = -10,      /**< the object is not in a state that allows the call */
    TG_EPLUGIN = -11,     /**< a plugin was refused or failed */
    TG_EEXISTS = -12,     /**< a name is already registered */
    TG_ECANCELLED = -13,  /**< stopped by a user callback */
    TG_EUSER = -14,       /**< reserved for user callbacks; never produced by libtextgen */
    TG_ESPEC = -15        /**< a sampler-chain specification cannot be parsed */
};

/**
 * @brief The last error raised on the calling thread.
 * @return A message naming the file, tensor or argument at fault (borrowed; valid until the next
 *         libtextgen call on this thread). Never NULL: "" when there was no error, and "" again
 *         after any call that returns a ::tg_status and succeeds (each clears it on entry; the
 *         `_free` functions and getters that return no status leave it alone).
 *         Use return codes to detect failure, not this string.
 */
TG_API const char *tg_error_last(void);

/** @brief Status code of the last error on the calling thread (TG_OK if none). */
TG_API tg_status tg_error_last_status(void);

/** @brief Forget the calling thread's last error. */
TG_API void tg_error_clear(void);

/** @brief Static, human-readable name of a status code ("TG_EINVAL: invalid argument"). */
TG_API const char *tg_status_str(tg_status status);

/** Log levels passed to the log callback. */
enum { TG_LOG_ERROR = 0, TG_LOG_WARN = 1, TG_LOG_INFO = 2, TG_LOG_DEBUG = 3 };

/**
 * Log callback: `level` is one of TG_LOG_*, `message` is a NUL-terminated line without a
 * trailing newline (borrowed for the duration of the call).
 */
typedef void (*tg_log_fn)(int32_t level, const char *message, void *user_data);

/**
 * @brief Route the library's diagnostics to `fn` (NULL: drop them, the default).
 * Messages above `max_level` are not formatted at all. Process-wide; the callback may be called
 * from any thread that calls into libtextgen, or from a thread the library runs for the length
 * of such a call (tg_model_load reads the tokenizer on one), and must be thread-safe.
 */
TG_API void tg_log_set(tg_log_fn fn, int32_t max_level, void *user_data);

/** @brief Release memory that libtextgen allocated for the caller. NULL is a no-op. */
TG_API void tg_free(void *ptr);

TG_END_DECLS

#endif /* TEXTGEN_COMMON_H */
