/* A fake kernel for test trees (tests/hostroot/SCENARIO): HostRoot ops that
 * behave as the kernel's files and NICs do, so the program's own apply and
 * restore paths run on a plain directory tree.
 *
 * - write: a list file ("always [madvise] never") answers a write of one of
 *   its words by moving the brackets; any other value reads back with a
 *   trailing newline, as sysfs and procfs files do.
 * - mkdir, rmdir: the kernel's (hostroot_kernel_*).
 * - ethtool: a NIC's features are the test-only file
 *   /sys/class/net/DEV/test-ethtool-features of the tree, one feature a
 *   line, "NAME on|off" and " fixed" when the device cannot change it, e.g.
 *       tx-tcp-segmentation off
 *       tx-generic-segmentation off
 *       rx-gro on fixed
 *   GSSET_INFO, GSTRINGS and GFEATURES read it, SFEATURES rewrites it; a
 *   device without the file is -ENODEV.
 *
 * - affinity: Cpus_allowed_list of the task's status file(s) in the tree
 *   (/proc/TID/status, /proc/PID/task/TID/status) is rewritten; -ESRCH when
 *   the tree has none.
 * - migrate_pages: the tree's /proc/PID/numa_maps has its pages of the
 *   nodes not asked for moved onto the first asked node; a fail rule on
 *   that file with ERR > 0 moves nothing and answers ERR pages unmoved.
 *
 * The functions are exported so that ops for other parts (cgroups) can
 * chain to them. fake_root_setup() installs fake_kernel_ops. */
#ifndef KVMLAUNCH_FAKE_KERNEL_H
#define KVMLAUNCH_FAKE_KERNEL_H

#include "hostroot.h"

#define FAKE_KERNEL_FEATURES "test-ethtool-features"

extern const HostRootOps fake_kernel_ops;

int fake_kernel_write(const HostRoot *hr, const char *path, const char *value);
int fake_kernel_mkdir(const HostRoot *hr, const char *path, mode_t mode);
int fake_kernel_rmdir(const HostRoot *hr, const char *path);
int fake_kernel_ethtool(const HostRoot *hr, const char *dev, void *cmd);
int fake_kernel_affinity(const HostRoot *hr, pid_t tid, const CpuList *want, CpuList *got);
int fake_kernel_migrate_pages(const HostRoot *hr, pid_t pid, const CpuList *nodes);

/* From now on a write to PATH (or an ETHTOOL_SFEATURES of DEV when PATH is
 * /sys/class/net/DEV/test-ethtool-features) fails with ERR (-errno) and
 * changes nothing; NULL: no failure. */
void fake_kernel_fail(const char *path, int err);
/* Besides what fails already: PASSES writes to PATH go through, every one
 * after fails with ERR (a knob that can be set but not put back). */
void fake_kernel_fail_after(const char *path, int err, int passes);

#endif
