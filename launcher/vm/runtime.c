/* The runtime dir and its pid file (include/runtime.h). The lock is an OFD
 * lock on the pid file: it belongs to the open file, dies with the process,
 * and a stale file from a crashed kvmlaunch is simply unlocked. As libvirt's
 * pidfile code does, after locking we check that the path still names the
 * file we locked, since the previous holder unlinks it on its way out. */
#include "runtime.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PIDFILE "pid"

#define HOST_RUNDIR "/run/kvmlaunch"

/* $KVMLAUNCH_ROOT when it names a tree other than "/" (as hostroot_open). */
const char *runtime_redirected_root(void) {
    const char *root = getenv("KVMLAUNCH_ROOT");
    return root && *root && !streq(root, "/") ? root : NULL;
}

/* Whether A and B are the same file (both there). */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Whether DIR is the host's own run dir, by another spelling or through a
 * link too. stat, not realpath: the supervisor's filter allows newfstatat,
 * not readlink. Not there yet: its parent is the host's /run and its last
 * name "kvmlaunch". */
static bool is_host_rundir(const char *dir) {
    if (same_file(dir, HOST_RUNDIR)) return true;
    struct stat st;
    if (stat(dir, &st) == 0) return false;
    char d[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof(d)) return false;
    memcpy(d, dir, n + 1);
    while (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    char *slash = strrchr(d, '/');
    if (!slash || !streq(slash + 1, "kvmlaunch")) return false;
    if (slash == d) return false; /* "/kvmlaunch" */
    *slash = '\0';
    return same_file(d, "/run");
}

/* A redirected root never shares the host's run dir: the journal there
 * would name its tree's paths, and a start or cleanup on the real host
 * would put them back on the host. Without a private $KVMLAUNCH_RUNDIR it
 * is the tree's own, ROOT/run/kvmlaunch. */
static char derived[PATH_MAX];

const char *runtime_base(void) {
    const char *b = getenv("KVMLAUNCH_RUNDIR"), *root = runtime_redirected_root();
    if (b && *b && !(root && is_host_rundir(b))) return b;
    if (!root) return HOST_RUNDIR;
    snprintf(derived, sizeof(derived), "%s/run/kvmlaunch", root);
    return derived;
}

int runtime_check_base(void) {
    const char *b = getenv("KVMLAUNCH_RUNDIR"), *root = runtime_redirected_root();
    if (root && b && *b && is_host_rundir(b))
        return log_error_errno(-EPERM, "KVMLAUNCH_ROOT=%s must not share the host's run dir %s: unset KVMLAUNCH_RUNDIR (the tree's own "
                                       "%s/run/kvmlaunch is used) or name a private one", root, b, root);
    /* The tree's own may lead there too: a link to it, or a root that is
     * "/" by another name ("//", "/."). */
    if (root && is_host_rundir(runtime_base()))
        return log_error_errno(-EPERM, "KVMLAUNCH_ROOT=%s leads to the host's run dir %s (%s): name a private KVMLAUNCH_RUNDIR", root,
                               HOST_RUNDIR, runtime_base());
    return 0;
}

int runtime_make_base(void) {
    const char *base = runtime_base();
    /* stat first: after lockdown the supervisor may not call mkdir. */
    struct stat st;
    if (stat(base, &st) == 0) return 0;
    if (base == derived) {
        /* The tree's /run may be missing. */
        _cleanup_free_ char *run = xasprintf("%s/run", runtime_redirected_root());
        if (mkdir(run, 0755) < 0 && errno != EEXIST) return log_error_errno(-errno, "Failed to create %s: %m", run);
    }
    if (mkdir(base, 0755) < 0 && errno != EEXIST) return log_error_errno(-errno, "Failed to create %s: %m", base);
    return 0;
}

static int lock_fd(int fd, short type, bool wait) {
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) return -errno;
    return 0;
}

/* Reads "SUP QEMU" from FD; 0 on success. */
static int read_pids(int fd, pid_t *sup, pid_t *qemu) {
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return -ENODATA;
    buf[n] = 0;
    long a = 0, b = 0;
    if (sscanf(buf, "%ld %ld", &a, &b) < 1 || a <= 0) return -EBADMSG;
    if (sup) *sup = (pid_t)a;
    if (qemu) *qemu = (pid_t)b;
    return 0;
}

/* What a failed start made goes again: a dir with another start's pid file
 * in it is not empty and stays (a start that raced us retries on ENOENT). */
static void rmdir_if_empty(const char *dir) {
    if (rmdir(dir) < 0 && errno != ENOTEMPTY && errno != ENOENT && errno != EEXIST)
        log_warning_errno(-errno, "Failed to remove %s: %m", dir);
}

int runtime_acquire(const char *name, Runtime *rt, pid_t *holder) {
    const char *base = runtime_base();
    if (holder) *holder = 0;
    int rb = runtime_make_base();
    if (rb < 0) return rb;
    _cleanup_free_ char *dir = xasprintf("%s/%s", base, name);
    /* A racing start may remove the dir between our steps: try again. */
    for (int attempt = 0; attempt < 20; attempt++) {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) return log_error_errno(-errno, "Failed to create %s: %m", dir);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0) {
            if (errno == ENOENT) continue;
            int r = log_error_errno(-errno, "Failed to open %s: %m", dir);
            rmdir_if_empty(dir);
            return r;
        }
        struct stat dst;
        if (fstat(dfd, &dst) < 0) return -errno;
        if (dst.st_uid != geteuid() || (dst.st_mode & 077))
            return log_error_errno(-EPERM, "%s is not a private directory of this user (mode %o); remove it", dir, dst.st_mode & 07777);
        _cleanup_close_ int fd = openat(dfd, PIDFILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == ENOENT) continue;
            int r = log_error_errno(-errno, "Failed to open %s/%s: %m", dir, PIDFILE);
            rmdir_if_empty(dir);
            return r;
        }
        int r = lock_fd(fd, F_WRLCK, false);
        if (r == -EAGAIN || r == -EACCES) {
            if (holder) read_pids(fd, holder, NULL);
            return -EBUSY;
        }
        if (r < 0) return log_error_errno(r, "Failed to lock %s/%s: %m", dir, PIDFILE);
        struct stat a, b;
        if (fstat(fd, &a) < 0) return -errno;
        if (fstatat(dfd, PIDFILE, &b, AT_SYMLINK_NOFOLLOW) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) continue;
        rt->dir = TAKE_PTR(dir);
        rt->dir_fd = TAKE_FD(dfd);
        rt->pid_fd = TAKE_FD(fd);
        r = runtime_write_pids(rt, getpid(), 0);
        /* A full /run: the lock is ours, so the dir can go as at the end. */
        if (r < 0) runtime_release(rt);
        return r;
    }
    return log_error_errno(-EAGAIN, "Gave up taking %s/%s: it keeps changing under us", dir, PIDFILE);
}

int runtime_write_pids(Runtime *rt, pid_t supervisor, pid_t qemu) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%ld %ld\n", (long)supervisor, (long)qemu);
    /* Written over, then cut: a reader never sees an empty file. */
    if (pwrite(rt->pid_fd, buf, (size_t)n, 0) != n || ftruncate(rt->pid_fd, n) < 0)
        return log_error_errno(-errno, "Failed to write %s/%s: %m", rt->dir, PIDFILE);
    return 0;
}

/* Removes every entry of the dir but the pid file. */
static void empty_dir(int dfd) {
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, PIDFILE)) continue;
        /* A share's vfs-N.root is an (empty) directory: a mountpoint in
         * its virtiofsd's namespace alone. */
        if (unlinkat(dfd, de->d_name, 0) < 0 && (errno != EISDIR || unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0) && errno != ENOENT)
            log_warning_errno(-errno, "Failed to remove %s from the runtime dir: %m", de->d_name);
    }
    closedir(d);
}

void runtime_release(Runtime *rt) {
    if (rt->dir_fd >= 0) {
        empty_dir(rt->dir_fd);
        /* Unlink while still holding the lock: a start that opened the old
         * file sees the inode change and starts over. */
        unlinkat(rt->dir_fd, PIDFILE, 0);
        if (rmdir(rt->dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
            log_warning_errno(-errno, "Failed to remove %s: %m", rt->dir);
        close(rt->dir_fd);
    }
    if (rt->pid_fd >= 0) close(rt->pid_fd);
    free(rt->dir);
    *rt = (Runtime)RUNTIME_INIT;
}

int runtime_query(const char *name, pid_t *supervisor, pid_t *qemu) {
    _cleanup_free_ char *path = xasprintf("%s/%s/%s", runtime_base(), name, PIDFILE);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) return -errno;
    /* Unlocked: whatever the file says is stale, not to be trusted. */
    if (fl.l_type == F_UNLCK) return 0;
    int r = read_pids(fd, supervisor, qemu);
    return r < 0 ? r : 1;
}

int runtime_cleanup(const char *name) {
    Runtime rt = RUNTIME_INIT;
    pid_t holder;
    int r = runtime_acquire(name, &rt, &holder);
    if (r == -EBUSY) return r;
    if (r < 0) return r;
    runtime_release(&rt);
    return 0;
}
