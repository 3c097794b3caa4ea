#include "util.h"

#include <errno.h>
#include <unistd.h>

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

int read_fd_all(int fd, size_t max, char **out, size_t *len_out) {
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= max) {
                free(buf);
                return -EFBIG;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    if (len_out) *len_out = len;
    return 0;
}
