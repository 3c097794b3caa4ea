/* The kernel's part of cgroupfs, played on a test's tree (tests/hostroot):
 * HostRootOps for a redirected HostRoot, so that the program's own cgroup
 * code (launcher/cgroup/) runs unchanged and a test sees what the kernel
 * would have made of it.
 *
 * A path is a cgroup's when it lies under a cgroup2 mount or the v1 cpuset
 * mount that the tree's /proc/self/mounts (else /proc/mounts) lists; the
 * mount says v1 or v2, and "noprefix" names v1's files cpus/mems. Any
 * other path, and every path of a HostRoot that is not redirected (the
 * real host), goes to hostroot_kernel_* untouched.
 *
 * What is emulated:
 * - mkdir fills the new directory with the interface files the kernel
 *   would create (v2: cgroup.{procs,threads,type,subtree_control,
 *   controllers,events}, and the cpuset files when the parent's
 *   subtree_control lists cpuset, effective ones copied from the parent;
 *   v1: tasks, cgroup.procs, notify_on_release, cgroup.clone_children,
 *   cpuset.{cpus,mems,effective_cpus,effective_mems});
 * - "+cpuset"/"-cpuset" into cgroup.subtree_control edit the word list in
 *   the order of the cgroup's cgroup.controllers (empty: zero bytes; "+" of
 *   a controller not offered there: ENOENT, as the kernel says);
 * - writes to cgroup.procs, cgroup.threads and tasks append a line
 *   (nothing is removed from the old cgroup);
 * - a v2 cpuset.cpus/mems write sets the .effective file to the asked set
 *   within the parent's effective set, or the parent's when that is empty;
 *   a v1 write copies to effective_cpus/mems;
 * - rmdir fails with EBUSY while the dir has a subdirectory or its
 *   cgroup.events reads "populated 1" (tests write that to play a thread
 *   that is slow to die), else removes the files, then the dir.
 * Nothing else is (a child created before "+cpuset" gets no cpuset files
 * later, "-cpuset" removes none). tests/hostroot/cgroup2-delegated/
 * README.md lists the scenario. */
#ifndef KVMLAUNCH_FAKE_CGROUP_H
#define KVMLAUNCH_FAKE_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "hostroot.h"

/* write, mkdir and rmdir below; ethtool as a redirected root's. */
extern const HostRootOps fake_cgroup_ops;

/* Whether PATH lies in a cgroup hierarchy of HR's tree (see above). */
bool fake_cgroup_owns(const HostRoot *hr, const char *path);

/* The ops themselves, for a test's ops that combine them with others
 * (each falls through to hostroot_kernel_* where it does not own PATH). */
int fake_cgroup_write(const HostRoot *hr, const char *path, const char *value);
int fake_cgroup_mkdir(const HostRoot *hr, const char *path, mode_t mode);
int fake_cgroup_rmdir(const HostRoot *hr, const char *path);

/* hostroot_set_ops_override(&fake_cgroup_ops) for the HostRoots opened
 * from now on, and back to the program's own ops. */
void fake_cgroup_install(void);
void fake_cgroup_uninstall(void);

#endif
