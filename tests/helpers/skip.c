/* Skips that say why (skip.h). */
#include "skip.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* One line "TEST: REASON" (or "REASON" for a whole program) to
 * $KLTEST_SKIP_LOG when it is set: the runner's count of skips and their
 * reasons. */
static void log_skip(const char *who, const char *reason) {
    const char *path = getenv("KLTEST_SKIP_LOG");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    if (who) fprintf(f, "%s: ", who);
    fprintf(f, "%s\n", reason);
    fclose(f);
}

static void say(const char *tag, const char *who, const char *fmt, va_list ap) {
    char reason[512];
    vsnprintf(reason, sizeof reason, fmt, ap);
    /* stdout, like cmocka's own lines, so they stay in order. */
    printf("%s: %s%s%s\n", tag, who ? who : "", who ? ": " : "", reason);
    fflush(stdout);
    log_skip(who, reason);
}

void skip_say(const char *who, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("skip", who, fmt, ap);
    va_end(ap);
}

int skip_program(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("SKIP", NULL, fmt, ap);
    va_end(ap);
    return 77;
}
