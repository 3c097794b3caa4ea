/* Every /sys, /proc, /dev and cgroup path kvmlaunch reads or writes goes
 * through a HostRoot: a directory fd opened once, "/" on a real host or the
 * test tree named by $KVMLAUNCH_ROOT (a redirected root, DESIGN.md). */
#ifndef KVMLAUNCH_HOSTROOT_H
#define KVMLAUNCH_HOSTROOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "strvec.h"
#include "values.h"

typedef struct HostRoot HostRoot;

/* The operations that change the host or ask a device, the seam tests use
 * (DESIGN.md: test doubles live in tests/helpers/, never in the program).
 * Reading goes through hostroot_openat() alone: a redirected root is only
 * another directory. Each returns >= 0 or -errno and logs nothing; PATH is
 * absolute as on a real host. */
typedef struct HostRootOps {
    /* VALUE into an existing file, in one write (O_TRUNC, never O_CREAT). */
    int (*write)(const HostRoot *hr, const char *path, const char *value);
    int (*mkdir)(const HostRoot *hr, const char *path, mode_t mode);
    int (*rmdir)(const HostRoot *hr, const char *path);
    /* One SIOCETHTOOL request (CMD: a struct ethtool_* with its cmd set). */
    int (*ethtool)(const HostRoot *hr, const char *dev, void *cmd);
    /* Task TID's CPUs set to WANT (sched_setaffinity); *GOT (owned by the
     * caller, sorted): what it may run on afterwards. NULL: the kernel's. */
    int (*affinity)(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got);
    /* migrate_pages(2): PID's pages from any node onto NODES; the number
     * of pages that could not be moved. NULL: the kernel's. */
    int (*migrate_pages)(const HostRoot *hr, pid_t pid, const CpuList *nodes);
} HostRootOps;

struct HostRoot {
    int fd;                         /* owned */
    char *path;                     /* owned: "/" or $KVMLAUNCH_ROOT */
    /* $KVMLAUNCH_ROOT names a tree other than "/": paths resolve inside it
     * (RESOLVE_IN_ROOT), no real NIC is asked, and the runtime dir must be
     * a private one (runtime.h). */
    bool redirected;
    const HostRootOps *ops;         /* never NULL once open */
    void *ops_data;                 /* for the ops' own use */
};

#define HOSTROOT_INIT { -1, NULL, false, NULL, NULL }

/* The kernel's operations. A redirected root gets the same, except that
 * ethtool answers -EOPNOTSUPP: the tree's NIC names are not this host's. */
extern const HostRootOps hostroot_kernel_ops;
extern const HostRootOps hostroot_redirected_ops;

/* Tests only: the ops (and their data) that hostroot_open() hands every
 * HostRoot from now on, instead of the two above; NULL restores them. */
void hostroot_set_ops_override(const HostRootOps *ops, void *data);

int hostroot_open(HostRoot *hr);
void hostroot_close(HostRoot *hr);

/* PATH is absolute as on a real host ("/sys/kernel/..."). In a redirected
 * tree, symlinks and ".." cannot leave it (RESOLVE_IN_ROOT). */
int hostroot_openat(const HostRoot *hr, const char *path, int flags, mode_t mode);
/* The whole file (at most 1 MiB), exactly as read. */
int hostroot_read(const HostRoot *hr, const char *path, char **out);
/* The same with its length, for files with NULs in them (cmdline). */
int hostroot_read_len(const HostRoot *hr, const char *path, char **out, size_t *len);
bool hostroot_exists(const HostRoot *hr, const char *path);
/* Appends the names in directory PATH (without . and ..) to OUT; with
 * DIRS_ONLY only its subdirectories. */
int hostroot_list(const HostRoot *hr, const char *path, bool dirs_only, StrVec *out);

/* Through hr->ops. */
int hostroot_write(const HostRoot *hr, const char *path, const char *value);
int hostroot_mkdir(const HostRoot *hr, const char *path, mode_t mode);
int hostroot_rmdir(const HostRoot *hr, const char *path);
int hostroot_ethtool(const HostRoot *hr, const char *dev, void *cmd);
int hostroot_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got);
int hostroot_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes);
/* "/" with the kernel's ops whatever $KVMLAUNCH_ROOT says: VMs are real
 * processes, so their /proc and their threads' CPUs are the real ones. */
int hostroot_open_real(HostRoot *hr);

/* The kernel's operations themselves, for test ops that wrap them. */
int hostroot_kernel_write(const HostRoot *hr, const char *path, const char *value);
int hostroot_kernel_mkdir(const HostRoot *hr, const char *path, mode_t mode);
int hostroot_kernel_rmdir(const HostRoot *hr, const char *path);
int hostroot_kernel_ethtool(const HostRoot *hr, const char *dev, void *cmd);
int hostroot_kernel_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got);
int hostroot_kernel_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes);

#endif
