/* The VM's state directory (statedir.h). Every path is opened with no
 * symbolic link followed (open_no_symlinks): the dir is root's to make
 * and the VM user's to keep, and a link swapped into its path must not
 * make kvmlaunch give some other directory to that user. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "seriallog.h"
#include "statedir.h"
#include "util.h"

#define STATEDIR_HOST_BASE "/var/lib/kvmlaunch"

const char *statedir_base(void) {
    static char derived[4096];
    const char *b = getenv("KVMLAUNCH_STATEDIR"), *root = runtime_redirected_root();
    if (b && *b) return b;
    if (!root) return STATEDIR_HOST_BASE;
    snprintf(derived, sizeof(derived), "%s%s", root, STATEDIR_HOST_BASE);
    return derived;
}

char *statedir_path(const VmConfig *cfg) {
    if (cfg->vm.state_dir) return xstrdup(cfg->vm.state_dir);
    return xasprintf("%s/%s", statedir_base(), cfg->vm.name ? cfg->vm.name : "");
}

/* "expected ..., found ..." for the directory FD leads to, or NULL when it
 * is UID's with mode 0700. */
static char *misfit(int fd, uid_t uid) {
    struct stat st;
    if (fstat(fd, &st) < 0) return xasprintf("cannot look at it: %s", strerror(errno));
    if (st.st_uid != uid || (st.st_mode & 07777) != 0700)
        return xasprintf("expected a directory owned by uid %lu with mode 0700, found owner uid %lu, mode %04o", (unsigned long)uid,
                         (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
    return NULL;
}

/* Why opening PATH failed with ERR, as "expected ..., found ...". */
static char *open_fault(const char *path, int err) {
    if (err == ELOOP) return xasprintf("expected a path without symbolic links, found one on the way to %s", path);
    if (err == ENOTDIR) return xasprintf("expected a directory, found something else at %s (or on the way to it)", path);
    return xasprintf("expected a directory kvmlaunch can open, found %s: %s", path, strerror(err));
}

/* The nearest existing ancestor of PATH (PATH itself excluded), opened
 * with no symlink followed: its fd, or -errno. */
static int open_ancestor(const char *path, char **where) {
    _cleanup_free_ char *p = xstrdup(path);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) return -ENOENT;
        if (slash == p) slash[1] = '\0';
        else *slash = '\0';
        int fd = open_no_symlinks(p, O_PATH | O_DIRECTORY);
        if (fd >= 0 || errno != ENOENT || streq(p, "/")) {
            if (fd < 0) return -errno;
            *where = TAKE_PTR(p);
            return fd;
        }
    }
}

StateDirVerdict statedir_inspect(const char *path, uid_t uid, bool as_root, char **why) {
    *why = NULL;
    _cleanup_close_ int fd = open_no_symlinks(path, O_PATH | O_DIRECTORY);
    if (fd >= 0) {
        return (*why = misfit(fd, uid)) ? STATEDIR_REFUSED : STATEDIR_READY;
    }
    if (errno != ENOENT) {
        *why = open_fault(path, errno);
        return STATEDIR_REFUSED;
    }
    _cleanup_free_ char *anc = NULL;
    _cleanup_close_ int afd = open_ancestor(path, &anc);
    if (afd < 0) {
        *why = open_fault(path, -afd);
        return STATEDIR_REFUSED;
    }
    /* Not root: kvmlaunch runs with its own ids, real and effective. */
    if (!as_root && access(anc, W_OK | X_OK) < 0) {
        *why = xasprintf("expected a directory kvmlaunch's user can create, found %s not writable: %s", anc, strerror(errno));
        return STATEDIR_REFUSED;
    }
    return STATEDIR_MISSING;
}

/* mkdir -p for PATH's missing parents (0755) and PATH itself (0700). */
static int make_path(const char *path) {
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        bool last = !*s;
        if (*s != '/' && !last) continue;
        *s = '\0';
        if (mkdir(p, last ? 0700 : 0755) < 0 && errno != EEXIST) return -errno;
        if (last) return 0;
        *s = '/';
    }
}

int statedir_open(const char *path, uid_t uid, gid_t gid, bool as_root) {
    int fd = open_no_symlinks(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
        int r = make_path(path);
        if (r < 0) return log_error_errno(r, "Failed to create the state dir %s ([vm] state-dir): %s", path, strerror(-r));
        fd = open_no_symlinks(path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0 && as_root && (fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0)) {
            r = -errno;
            close(fd);
            return log_error_errno(r, "Failed to give the state dir %s to uid %lu: %m", path, (unsigned long)uid);
        }
        if (fd >= 0) log_info("Made the state dir %s (mode 0700, kept across runs)", path);
    }
    if (fd < 0) {
        int r = -errno;
        _cleanup_free_ char *why = open_fault(path, errno);
        return log_error_errno(r, "Refusing the state dir: [vm] state-dir: %s", why);
    }
    _cleanup_free_ char *why = misfit(fd, uid);
    if (why) {
        close(fd);
        return log_error_errno(-EPERM, "Refusing the state dir %s: [vm] state-dir: %s", path, why);
    }
    return fd;
}
