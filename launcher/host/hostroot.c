/* HostRoot (include/hostroot.h). */
#include "hostroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sockios.h>
#include <numa.h>
#include <sched.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "util.h"

#define HOSTROOT_MAX_FILE (1u << 20)

static const HostRootOps *ops_override;
static void *ops_override_data;

void hostroot_set_ops_override(const HostRootOps *ops, void *data) {
    ops_override = ops;
    ops_override_data = data;
}

int hostroot_open(HostRoot *hr) {
    const char *root = getenv("KVMLAUNCH_ROOT");
    bool redirected = root && *root && !streq(root, "/");
    if (!redirected) root = "/";
    int r = runtime_check_base();
    if (r < 0) return r;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_PATH);
    if (fd < 0) return log_error_errno(-errno, "Failed to open the host root %s: %m", root);
    hr->fd = fd;
    hr->path = xstrdup(root);
    hr->redirected = redirected;
    hr->ops = ops_override ? ops_override : redirected ? &hostroot_redirected_ops : &hostroot_kernel_ops;
    hr->ops_data = ops_override ? ops_override_data : NULL;
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
    if (hr->redirected) {
        /* openat2 is in no glibc wrapper this old; the syscall is in Linux 5.6+. */
        struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = (flags & O_CREAT) ? mode : 0,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        fd = (int)syscall(SYS_openat2, hr->fd, path, &how, sizeof(how));
    } else {
        fd = openat(hr->fd, path, flags | O_CLOEXEC, mode);
    }
    return fd < 0 ? -errno : fd;
}

int hostroot_read_len(const HostRoot *hr, const char *path, char **out, size_t *len_out) {
    int fd = hostroot_openat(hr, path, O_RDONLY | O_NOCTTY, 0);
    if (fd < 0) return fd;
    int r = read_fd_all(fd, HOSTROOT_MAX_FILE, out, len_out);
    close(fd);
    return r;
}

int hostroot_read(const HostRoot *hr, const char *path, char **out) {
    return hostroot_read_len(hr, path, out, NULL);
}

int hostroot_kernel_write(const HostRoot *hr, const char *path, const char *value) {
    int fd = hostroot_openat(hr, path, O_WRONLY | O_TRUNC | O_NOCTTY, 0);
    if (fd < 0) return fd;
    size_t n = strlen(value);
    /* sysfs takes one write: a value split in two writes is two values. */
    ssize_t w = write(fd, value, n);
    int r = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
    if (close(fd) < 0 && r == 0) r = -errno;
    return r;
}

/* PATH's parent, opened as a directory, and PATH's last component. */
static int open_parent(const HostRoot *hr, const char *path, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1]) return -EINVAL;
    *base = slash + 1;
    _cleanup_free_ char *parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    return hostroot_openat(hr, parent, O_PATH | O_DIRECTORY, 0);
}

/* mkdirat (MKDIR) or an rmdir of PATH, relative to its parent. */
static int dir_op(const HostRoot *hr, const char *path, bool mkdir, mode_t mode) {
    const char *base;
    int pfd = open_parent(hr, path, &base);
    if (pfd < 0) return pfd;
    int r = (mkdir ? mkdirat(pfd, base, mode) : unlinkat(pfd, base, AT_REMOVEDIR)) < 0 ? -errno : 0;
    close(pfd);
    return r;
}

int hostroot_kernel_mkdir(const HostRoot *hr, const char *path, mode_t mode) {
    return dir_op(hr, path, true, mode);
}

int hostroot_kernel_rmdir(const HostRoot *hr, const char *path) {
    return dir_op(hr, path, false, 0);
}

int hostroot_kernel_ethtool(const HostRoot *hr, const char *dev, void *cmd) {
    (void)hr;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (strlen(dev) >= sizeof(ifr.ifr_name)) return -EINVAL;
    memcpy(ifr.ifr_name, dev, strlen(dev));
    ifr.ifr_data = cmd;
    /* The lockdown filter allows exactly this socket (launcher/vm/lockdown.c). */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int redirected_ethtool(const HostRoot *hr, const char *dev, void *cmd) {
    (void)hr, (void)dev, (void)cmd;
    return -EOPNOTSUPP;
}

int hostroot_kernel_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got) {
    (void)hr;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (size_t i = 0; i < want->n; i++) {
        if (want->cpu[i] < 0 || want->cpu[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(want->cpu[i], &set);
    }
    if (sched_setaffinity(tid, sizeof(set), &set) < 0 || sched_getaffinity(tid, sizeof(set), &set) < 0) return -errno;
    *got = (CpuList){ xmalloc(CPU_SETSIZE * sizeof(int)), 0 };
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) got->cpu[got->n++] = c;
    return 0;
}

int hostroot_kernel_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes) {
    (void)hr;
    if (numa_available() < 0) return -ENOSYS;
    struct bitmask *to = numa_allocate_nodemask();
    for (size_t i = 0; i < nodes->n; i++) numa_bitmask_setbit(to, (unsigned)nodes->cpu[i]);
    /* From every node the process may use to the asked ones. */
    int r = numa_migrate_pages(pid, numa_all_nodes_ptr, to);
    int saved = errno;
    numa_free_nodemask(to);
    return r < 0 ? -saved : r;
}

const HostRootOps hostroot_kernel_ops = {
    .write = hostroot_kernel_write,
    .mkdir = hostroot_kernel_mkdir,
    .rmdir = hostroot_kernel_rmdir,
    .ethtool = hostroot_kernel_ethtool,
    .affinity = hostroot_kernel_affinity,
    .migrate_pages = hostroot_kernel_migrate_pages,
};

const HostRootOps hostroot_redirected_ops = {
    .write = hostroot_kernel_write,
    .mkdir = hostroot_kernel_mkdir,
    .rmdir = hostroot_kernel_rmdir,
    .ethtool = redirected_ethtool,
    .affinity = hostroot_kernel_affinity,
    .migrate_pages = hostroot_kernel_migrate_pages,
};

int hostroot_write(const HostRoot *hr, const char *path, const char *value) {
    return hr->ops->write(hr, path, value);
}

int hostroot_mkdir(const HostRoot *hr, const char *path, mode_t mode) {
    return hr->ops->mkdir(hr, path, mode);
}

int hostroot_rmdir(const HostRoot *hr, const char *path) {
    return hr->ops->rmdir(hr, path);
}

int hostroot_ethtool(const HostRoot *hr, const char *dev, void *cmd) {
    return hr->ops->ethtool(hr, dev, cmd);
}

int hostroot_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got) {
    return (hr->ops->affinity ? hr->ops->affinity : hostroot_kernel_affinity)(hr, tid, want, got);
}

int hostroot_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes) {
    return (hr->ops->migrate_pages ? hr->ops->migrate_pages : hostroot_kernel_migrate_pages)(hr, pid, nodes);
}

int hostroot_open_real(HostRoot *hr) {
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    *hr = (HostRoot){ fd, xstrdup("/"), false, &hostroot_kernel_ops, NULL };
    return 0;
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
