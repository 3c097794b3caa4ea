#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static LogLevel max_level = LOG_INFO;
static bool to_journal;
static char vm_name[64];

void log_set_max_level(LogLevel level) { max_level = level; }

/* systemd sets JOURNAL_STREAM=DEV:INODE for a unit whose stderr goes to the
 * journal; only when stderr is still that stream do "<N>" prefixes mean a
 * priority (a redirected stderr would show them as text). */
void log_setup(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                 (unsigned long long)st.st_ino == ino;
}

void log_set_vm_name(const char *name) {
    snprintf(vm_name, sizeof(vm_name), "%s", name ? name : "");
}

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
    char prio[8] = "";
    if (to_journal) snprintf(prio, sizeof(prio), "<%d>", (int)level);
    if (vm_name[0]) fprintf(stderr, "%skvmlaunch[%s]: %s%s\n", prio, vm_name, level_name(level), buf);
    else fprintf(stderr, "%skvmlaunch: %s%s\n", prio, level_name(level), buf);
    errno = saved;
    return r;
}
