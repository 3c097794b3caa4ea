/* HostRoot (include/hostroot.h). */
#include "hostroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define HOSTROOT_MAX_FILE (1u << 20)

int hostroot_open(HostRoot *hr) {
    const char *root = getenv("KVMLAUNCH_ROOT");
    bool fake = root && *root && !streq(root, "/");
    if (!fake) root = "/";
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_PATH);
    if (fd < 0) return log_error_errno(-errno, "Failed to open the host root %s: %m", root);
    hr->fd = fd;
    hr->path = xstrdup(root);
    hr->fake = fake;
    return 0;
}

void hostroot_close(HostRoot *hr) {
    if (hr->fd >= 0) close(hr->fd);
    free(hr->path);
    *hr = (HostRoot)HOSTROOT_INIT;
}

int hostroot_openat(const HostRoot *hr, const char *path, int flags, mode_t mode) {
    while (*path == '/') path++;
    if (!*path) path = ".";
    int fd;
    if (hr->fake) {
        /* openat2 is in no glibc wrapper this old; the syscall is in Linux 5.6+. */
        struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = (flags & O_CREAT) ? mode : 0,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        fd = (int)syscall(SYS_openat2, hr->fd, path, &how, sizeof(how));
    } else {
        fd = openat(hr->fd, path, flags | O_CLOEXEC, mode);
    }
    return fd < 0 ? -errno : fd;
}

int hostroot_read(const HostRoot *hr, const char *path, char **out) {
    int fd = hostroot_openat(hr, path, O_RDONLY | O_NOCTTY, 0);
    if (fd < 0) return fd;
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= HOSTROOT_MAX_FILE) {
                close(fd);
                free(buf);
                return -EFBIG;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int r = -errno;
            close(fd);
            free(buf);
            return r;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* A fake tree is plain files, but the kernel's list files ("always
 * [madvise] never") answer a write of one word by moving the brackets; a
 * fake tree does the same, so a restore can be checked byte for byte. */
static char *fake_list_write(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *old = NULL;
    if (hostroot_read(hr, path, &old) < 0 || !strchr(old, '[')) return NULL;
    size_t vl = strlen(value);
    char *out = xcalloc(1, strlen(old) + 3);
    bool found = false;
    for (const char *p = old; *p;) {
        if (*p == ' ' || *p == '\n') {
            strncat(out, p++, 1);
            continue;
        }
        size_t n = strcspn(p, " \n");
        const char *w = p;
        size_t wl = n;
        if (w[0] == '[' && wl >= 2 && w[wl - 1] == ']') {
            w++;
            wl -= 2;
        }
        bool sel = wl == vl && !memcmp(w, value, vl);
        found |= sel;
        if (sel) strcat(out, "[");
        strncat(out, w, wl);
        if (sel) strcat(out, "]");
        p += n;
    }
    if (!found) {
        free(out);
        return NULL;
    }
    return out;
}

int hostroot_write(const HostRoot *hr, const char *path, const char *value) {
    _cleanup_free_ char *emulated = hr->fake ? fake_list_write(hr, path, value) : NULL;
    /* ...and a kernel file reads back with a newline after the value. */
    if (hr->fake && !emulated && *value && value[strlen(value) - 1] != '\n') emulated = xasprintf("%s\n", value);
    if (emulated) value = emulated;
    int fd = hostroot_openat(hr, path, O_WRONLY | O_TRUNC | O_NOCTTY, 0);
    if (fd < 0) return fd;
    size_t n = strlen(value);
    /* sysfs takes one write: a value split in two writes is two values. */
    ssize_t w = write(fd, value, n);
    int r = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    if (close(fd) < 0 && r == 0) r = -errno;
    return r;
}

bool hostroot_exists(const HostRoot *hr, const char *path) {
    int fd = hostroot_openat(hr, path, O_PATH, 0);
    if (fd < 0) return false;
    close(fd);
    return true;
}

int hostroot_list(const HostRoot *hr, const char *path, bool dirs_only, StrVec *out) {
    int fd = hostroot_openat(hr, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (streq(de->d_name, ".") || streq(de->d_name, "..")) continue;
        if (dirs_only && de->d_type != DT_DIR) continue;
        strvec_push(out, de->d_name);
    }
    closedir(d);
    return 0;
}
