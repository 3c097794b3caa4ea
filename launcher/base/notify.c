/* sd_notify without libsystemd (include/notify.h). */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int notify_open(void) {
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name) return -1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path)) {
        log_warning("NOTIFY_SOCKET=%s is neither a path nor an abstract name: the service manager is not told anything", name);
        unsetenv("NOTIFY_SOCKET");
        return -EINVAL;
    }
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@') sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return log_warning_errno(-errno, "Failed to create the notification socket: %m");
    if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
        int r = -errno;
        close(fd);
        return log_warning_errno(r, "Failed to reach the service manager at %s: %m", name);
    }
    unsetenv("NOTIFY_SOCKET");
    return fd;
}

void notify_send(int fd, const char *fmt, ...) {
    if (fd < 0) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    if ((size_t)n >= sizeof(buf)) n = sizeof(buf) - 1;
    int saved = errno;
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
    errno = saved;
}
