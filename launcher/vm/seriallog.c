/* The serial log (include/seriallog.h). Every step happens as the user
 * QEMU will be, in one spawn_call_as thread, on one directory descriptor:
 * the directory judged is the directory the log is created in, so nothing
 * swapped in between the look and the open is followed. */
#include "seriallog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include "spawn.h"
#include "util.h"

/* Kernel interfaces, where a write is a command to the kernel. */
static bool pseudo_fs(long type) {
    static const long types[] = { PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC,
                                  CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC, DEVPTS_SUPER_MAGIC, EFIVARFS_MAGIC };
    for (size_t i = 0; i < ELEMENTSOF(types); i++)
        if (type == types[i]) return true;
    return false;
}

const char *seriallog_dir_shared(const struct stat *dir, uid_t uid) {
    if (dir->st_uid != 0 && dir->st_uid != uid) return "owned by another user";
    /* The sticky bit stops others from removing or renaming what is
     * there, not from taking the log's name before kvmlaunch does. */
    if (dir->st_mode & S_IWOTH) return "writable by every user";
    /* Who is in the group is for NSS to say, and an ACL's mask shows here:
     * either way users other than these two may write. */
    if (dir->st_mode & S_IWGRP) return "writable by its group";
    return NULL;
}

void seriallog_init(SerialLog *l, const char *path, const char *user, const struct passwd *pw, bool running_as_root) {
    *l = (SerialLog){ .path = path, .dir_fd = -1 };
    if (running_as_root && pw) {
        l->change_id = true;
        l->uid = pw->pw_uid;
        l->gid = pw->pw_gid;
        l->who = user;
    } else if (running_as_root) {
        /* QEMU runs as root and could write anywhere itself. */
        l->any_dir = true;
        l->who = "root";
    } else {
        l->uid = geteuid();
        l->who = "kvmlaunch's user";
    }
}

void seriallog_set_groups(SerialLog *l, const gid_t *groups, size_t n_groups) {
    l->groups = groups;
    l->n_groups = n_groups;
}

void seriallog_init_private(SerialLog *l, const char *path, int dir_fd) {
    *l = (SerialLog){ .path = path, .dir_fd = dir_fd, .uid = geteuid(), .who = "kvmlaunch" };
}

static int fault(SerialLog *l, SerialLogFault f, int err) {
    l->fault = f;
    l->err = err;
    return err ? -err : -EPERM;
}

/* Where openat2 is missing (Linux before 5.6, valgrind 3.19): the same
 * rule, one component at a time, each opened with O_NOFOLLOW relative to
 * the one before, so no symlink is followed anywhere. PATH is absolute
 * (DFD = AT_FDCWD) or one name beneath DFD. Sets errno as openat2 would
 * (ELOOP for a symlink). */
static int walk_nofollow(int dfd, const char *path, int flags, mode_t mode) {
    if (!strchr(path, '/')) {
        if (streq(path, "..")) return errno = EXDEV, -1;
        return openat(dfd, path, flags | O_CLOEXEC | O_NOFOLLOW, mode);
    }
    if (dfd != AT_FDCWD || path[0] != '/') return errno = EINVAL, -1;
    int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *comp = strtok_r(copy, "/", &save); comp && cur >= 0;) {
        char *next = strtok_r(NULL, "/", &save);
        struct stat st;
        int fd;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP, fd = -1;
        else fd = openat(cur, comp, (next ? O_PATH | O_DIRECTORY : flags) | O_CLOEXEC | O_NOFOLLOW, next ? 0 : mode);
        int e = errno;
        close(cur);
        errno = e;
        cur = fd;
        comp = next;
        if (!next) return cur;
    }
    return cur; /* "/" itself */
}

static int openat2_fd(int dfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = (flags & O_CREAT) ? mode : 0, .resolve = resolve };
    int fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) fd = walk_nofollow(dfd, path, flags, (flags & O_CREAT) ? mode : 0);
    return fd;
}

int open_no_symlinks(const char *path, int flags) {
    return openat2_fd(AT_FDCWD, path, flags, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

/* Where faccessat2 is missing (Linux before 5.8, valgrind 3.19): whether
 * the identity this thread has (L's uid, gid and groups, no
 * capability; root with every one when it stays root) may create in the
 * directory L->st describes, by its mode bits. */
static bool dir_writable(const SerialLog *l) {
    uid_t uid = l->change_id ? l->uid : geteuid();
    gid_t gid = l->change_id ? l->gid : getegid();
    if (uid == 0 && !l->change_id) return true;
    mode_t m = l->st.st_mode;
    if (l->st.st_uid == uid) return (m & 0300) == 0300;
    bool in_group = l->st.st_gid == gid;
    for (size_t i = 0; l->change_id && i < l->n_groups; i++) in_group |= l->groups[i] == l->st.st_gid;
    if (in_group) return (m & 0030) == 0030;
    return (m & 0003) == 0003;
}

/* In the thread with the user's identity: system calls and malloc only. */
static int look_and_open(void *arg) {
    SerialLog *l = arg;
    const char *slash = strrchr(l->path, '/');
    const char *name = slash ? slash + 1 : l->path;
    _cleanup_close_ int own = -1;
    int dfd = l->dir_fd;
    if (dfd < 0) {
        _cleanup_free_ char *dir = slash && slash != l->path ? xstrndup(l->path, (size_t)(slash - l->path)) : xstrdup("/");
        own = dfd = openat2_fd(AT_FDCWD, dir, O_PATH | O_DIRECTORY, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (dfd < 0)
            return fault(l, errno == ELOOP ? SERIALLOG_SYMLINK : errno == ENOENT || errno == ENOTDIR ? SERIALLOG_NO_DIR : SERIALLOG_DIR_DENIED,
                         errno);
    }
    struct statfs sf;
    if (fstat(dfd, &l->st) < 0 || fstatfs(dfd, &sf) < 0) return fault(l, SERIALLOG_DIR_DENIED, errno);
    if (pseudo_fs(sf.f_type)) return fault(l, SERIALLOG_KERNEL_FS, 0);
    if (!l->any_dir && seriallog_dir_shared(&l->st, l->uid)) return fault(l, SERIALLOG_SHARED_DIR, 0);
    /* "/tmp/": the path names the directory itself. */
    if (!*name) return fault(l, SERIALLOG_NOT_FILE, 0);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        l->existed = true;
        if (!S_ISREG(st.st_mode)) {
            l->st = st;
            return fault(l, SERIALLOG_NOT_FILE, 0);
        }
    } else if (errno != ENOENT) {
        /* An O_PATH descriptor needs no search right on the directory. */
        return fault(l, SERIALLOG_DIR_DENIED, errno);
    }
    if (!l->create && !l->existed) {
        /* Could it be created? Asked with this thread's identity
         * (AT_EACCESS), of the directory already judged. */
        if (syscall(SYS_faccessat2, dfd, "", W_OK | X_OK, AT_EACCESS | AT_EMPTY_PATH) < 0) {
            if (errno != ENOSYS) return fault(l, SERIALLOG_DENIED, errno);
            if (!dir_writable(l)) return fault(l, SERIALLOG_DENIED, EACCES);
        }
        return 0;
    }
    /* O_NONBLOCK: a FIFO swapped in after the look must not hang us; it is
     * refused by the fstat below. The run reads it too: the supervisor
     * rotates it by copying it into PATH.1 (serialrelay.h). */
    int fd = openat2_fd(dfd, name, (l->create ? O_RDWR | O_CREAT : O_WRONLY) | O_APPEND | O_NOCTTY | O_NONBLOCK, 0640,
                        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return fault(l, errno == ELOOP ? SERIALLOG_SYMLINK : SERIALLOG_DENIED, errno);
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fault(l, SERIALLOG_DENIED, e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        l->st = st;
        return fault(l, SERIALLOG_NOT_FILE, 0);
    }
    if (!l->create) {
        close(fd);
        return 0;
    }
    return fd;
}

int seriallog_open(SerialLog *l) {
    l->fault = SERIALLOG_OK;
    l->err = 0;
    l->existed = false;
    int r = l->change_id ? spawn_call_as_groups(l->uid, l->gid, l->groups, l->n_groups, look_and_open, l, NULL) : look_and_open(l);
    /* The identity could not be taken: nothing was tried. */
    if (r < 0 && l->fault == SERIALLOG_OK) fault(l, SERIALLOG_DENIED, -r);
    return r;
}

static const char *kind_of(mode_t mode) {
    return S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a directory" : "a device or special file";
}

char *seriallog_why(const SerialLog *l) {
    const char *slash = strrchr(l->path, '/');
    _cleanup_free_ char *dir = slash && slash != l->path ? xstrndup(l->path, (size_t)(slash - l->path)) : xstrdup("/");
    switch (l->fault) {
    case SERIALLOG_OK: break;
    case SERIALLOG_NO_DIR: return xasprintf("expected the log's directory to exist, found no directory %s", dir);
    case SERIALLOG_SYMLINK:
        return xasprintf("expected a path without symbolic links (none is followed), found one on the way to %s", l->path);
    case SERIALLOG_DIR_DENIED: return xasprintf("%s cannot reach the log's directory %s: %s", l->who, dir, strerror(l->err));
    case SERIALLOG_KERNEL_FS:
        return xasprintf("expected the log on a disk's filesystem, found %s in a kernel filesystem (proc, sysfs, ...)", l->path);
    case SERIALLOG_SHARED_DIR:
        return xasprintf("expected a directory only root and %s can write, found %s (owner uid %u, mode %04o) %s", l->who, dir,
                         (unsigned)l->st.st_uid, (unsigned)(l->st.st_mode & 07777), seriallog_dir_shared(&l->st, l->uid));
    case SERIALLOG_NOT_FILE:
        return xasprintf("expected a regular file (or none: it is created), found %s at %s", kind_of(l->st.st_mode), l->path);
    case SERIALLOG_DENIED:
        return xasprintf("%s cannot %s %s: %s", l->who, l->existed ? "append to" : "create", l->path, strerror(l->err));
    }
    return xasprintf("no fault with %s", l->path);
}
