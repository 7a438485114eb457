/* core/error.h — internal: set the thread-local error, log through the user's callback. */
#ifndef TG_CORE_ERROR_H
#define TG_CORE_ERROR_H

#include <textgen/common.h>

/* Bytes of the thread-local error message, with its terminating NUL. */
#define TG_ERROR_MAX 1024

#if defined(__GNUC__)
#define TG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TG_PRINTF(f, a)
#endif

/* Record `status` with a formatted message for tg_error_last(); returns `status` so callers can
 * write `return tg__error(TG_EINVAL, "...")`. The message is also logged at debug level. */
tg_status tg__error(tg_status status, const char *fmt, ...) TG_PRINTF(2, 3);

/* Prefix the current thread-local message with "<prefix>: ", keeping its status. */
tg_status tg__error_prefix(const char *fmt, ...) TG_PRINTF(1, 2);

void tg__log(int32_t level, const char *fmt, ...) TG_PRINTF(2, 3);
int tg__log_enabled(int32_t level);

#define TG_CHECK_ARG(cond, name)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return tg__error(TG_EINVAL, "%s: invalid argument '%s'", __func__, name);              \
    } while (0)

#endif
