/* core/error.c — thread-local last error, status names, the log callback. */
#include "error.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char tls_message[TG_ERROR_MAX];
static _Thread_local tg_status tls_status;

static tg_log_fn log_fn;
static void *log_user;
static int32_t log_max = -1;

const char *tg_error_last(void)
{
    return tls_message;
}

tg_status tg_error_last_status(void)
{
    return tls_status;
}

void tg_error_clear(void)
{
    tls_message[0] = '\0';
    tls_status = TG_OK;
}

const char *tg_status_str(tg_status status)
{
    switch (status) {
    case TG_OK:
        return "TG_OK: success";
    case TG_ERROR:
        return "TG_ERROR: failure";
    case TG_EINVAL:
        return "TG_EINVAL: invalid argument";
    case TG_ENOMEM:
        return "TG_ENOMEM: out of memory";
    case TG_EIO:
        return "TG_EIO: input/output error";
    case TG_EFORMAT:
        return "TG_EFORMAT: malformed file";
    case TG_EUNSUPPORTED:
        return "TG_EUNSUPPORTED: not supported";
    case TG_ENOTFOUND:
        return "TG_ENOTFOUND: not found";
    case TG_ERANGE:
        return "TG_ERANGE: out of range";
    case TG_EBACKEND:
        return "TG_EBACKEND: compute backend failure";
    case TG_ESTATE:
        return "TG_ESTATE: invalid state";
    case TG_EPLUGIN:
        return "TG_EPLUGIN: plugin refused or failed";
    case TG_EEXISTS:
        return "TG_EEXISTS: already exists";
    case TG_ECANCELLED:
        return "TG_ECANCELLED: cancelled";
    case TG_EUSER:
        return "TG_EUSER: user callback error";
    case TG_ESPEC:
        return "TG_ESPEC: invalid sampler specification";
    default:
        return "unknown status";
    }
}

/* Messages quote paths, file contents and plugin text, any of which may hold bytes that are not
 * UTF-8; bindings decode messages as UTF-8, so every message is made valid: each byte of an
 * ill-formed sequence becomes the four characters \xHH. */
static void make_utf8(char *msg, size_t cap)
{
    if (g_utf8_validate(msg, -1, NULL))
        return;
    char out[TG_ERROR_MAX];
    size_t o = 0;
    const char *p = msg;
    while (*p) {
        const char *end;
        g_utf8_validate(p, -1, &end); /* end: the first ill-formed byte, or the NUL */
        size_t good = (size_t)(end - p);
        if (o + good > sizeof out - 1) {
            good = sizeof out - 1 - o;
            while (good && ((unsigned char)p[good] & 0xC0) == 0x80) /* whole characters only */
                good--;
            memcpy(out + o, p, good);
            o += good;
            break;
        }
        memcpy(out + o, p, good);
        o += good;
        p = end;
        if (!*p || o + 4 > sizeof out - 1)
            break;
        o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02X", (unsigned)(unsigned char)*p);
        p++;
    }
    out[o] = '\0';
    g_strlcpy(msg, out, cap);
}

tg_status tg__error(tg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_message, sizeof tls_message, fmt, ap);
    va_end(ap);
    make_utf8(tls_message, sizeof tls_message);
    tls_status = status;
    tg__log(TG_LOG_DEBUG, "error %d: %s", (int)status, tls_message);
    return status;
}

tg_status tg__error_prefix(const char *fmt, ...)
{
    char prefix[TG_ERROR_MAX], old[TG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_message, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof tls_message - 3)
        n = sizeof tls_message - 3;
    memcpy(tls_message, prefix, n);
    memcpy(tls_message + n, ": ", 2);
    size_t rest = sizeof tls_message - n - 3;
    size_t ol = strlen(old);
    if (ol > rest)
        ol = rest;
    memcpy(tls_message + n + 2, old, ol);
    tls_message[n + 2 + ol] = '\0';
    make_utf8(tls_message, sizeof tls_message);
    return tls_status;
}

void tg_log_set(tg_log_fn fn, int32_t max_level, void *user_data)
{
    log_fn = fn;
    log_user = user_data;
    log_max = fn ? max_level : -1;
}

int tg__log_enabled(int32_t level)
{
    return log_fn != NULL && level <= log_max;
}

void tg__log(int32_t level, const char *fmt, ...)
{
    if (!tg__log_enabled(level))
        return;
    char line[TG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_fn(level, line, log_user);
}
