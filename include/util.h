/* Small helpers shared by every module: cleanup attributes, ownership hand-off,
 * string helpers. Types and inline helpers only. */
#ifndef KVMLAUNCH_UTIL_H
#define KVMLAUNCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void *x_free(void *p) { free(p); return NULL; }
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership on: returns the value and clears the variable so its cleanup
 * does nothing. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool strempty(const char *s) { return !s || !*s; }

/* Out of memory is handled one way: a line on stderr and abort(). kvmlaunch
 * cannot do anything useful without a few kilobytes, and every caller
 * checking would hide the real logic; the x* allocators below call it,
 * and so does any other allocation that fails (open_memstream, say). */
_Noreturn void die_oom(void);

/* malloc that never returns NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* FD's bytes to its end, NUL-terminated (*OUT: the caller frees; *LEN, when
 * not NULL, the byte count, NULs included). -EFBIG once it would need a
 * buffer of MAX bytes or more, -errno
 * on a read error. FD stays open. */
int read_fd_all(int fd, size_t max, char **out, size_t *len);

#endif
