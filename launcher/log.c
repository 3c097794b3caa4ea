#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static LogLevel max_level = LOG_INFO;

void log_set_max_level(LogLevel level) { max_level = level; }

static const char *level_name(LogLevel level) {
    switch (level) {
    case LOG_ERR: return "error: ";
    case LOG_WARNING: return "warning: ";
    case LOG_NOTICE: return "note: ";
    default: return "";
    }
}

int log_full_errno(LogLevel level, int r, const char *fmt, ...) {
    if (level > max_level) return r;
    int saved = errno;
    /* %m must print the error we were handed, not whatever errno holds now. */
    errno = r < 0 ? -r : r;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "kvmlaunch: %s%s\n", level_name(level), buf);
    errno = saved;
    return r;
}
