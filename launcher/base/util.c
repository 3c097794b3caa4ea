#include "util.h"

#include <stdarg.h>
#include <stdio.h>

void die_oom(void) {
    static const char msg[] = "kvmlaunch: out of memory\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die_oom();
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die_oom();
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) die_oom();
    return p;
}

char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) die_oom();
    return p;
}

char *xstrndup(const char *s, size_t n) {
    char *p = strndup(s, n);
    if (!p) die_oom();
    return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0) die_oom();
    return p;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}
