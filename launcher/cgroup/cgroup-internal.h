/* What the files of launcher/cgroup/ share (include/cgroup.h is the
 * module's interface):
 *   cgroup-util.c      paths, cpuset file names, reading cgroup files
 *   cgroup-parse.c     /proc/self/mounts and /proc/self/cgroup text
 *   cgroup-plan.c      thread groups and the plan (pure)
 *   cgroup-detect.c    which hierarchy and which base
 *   cgroup-setup.c     carrying a plan out, checking, moving threads
 *   cgroup-teardown.c  removing a VM's cgroups, releasing cpuset
 *   cgroup.c           the entry points that run a VM's cgroups through
 *                      those steps */
#ifndef KVMLAUNCH_CGROUP_INTERNAL_H
#define KVMLAUNCH_CGROUP_INTERNAL_H

#include <stdbool.h>

#include "cgroup.h"

/* ---- cgroup-util.c ---- */

/* DIR/NAME, without doubling a '/'. */
char *cg_path_join(const char *dir, const char *name);
/* PATH's parent and its last component; PATH is absolute and not "/". */
void cg_path_split(const char *path, char **parent, const char **base);
/* NAME may be a cgroup directory of ours: no '/', no leading '.', no
 * control character, at most 64 bytes. */
bool cg_name_ok(const char *name);
/* The normalized cpulist text of L, or of FALLBACK when L is empty. */
char *cg_cpus_text(const CpuList *l, const CpuList *fallback);
/* cpuset file NAME ("cpus") as this hierarchy names it. */
char *cg_cpuset_file(CgroupVersion v, bool noprefix, const char *name);
/* What to read back: the effective set on v2, the set itself on v1 (where
 * the kernel refuses what the parent lacks). */
char *cg_check_file(CgroupVersion v, bool noprefix, const char *name);
/* A file of DIR as text; "" when it cannot be read. */
char *cg_read_or_empty(const HostRoot *hr, const char *dir, const char *name);
/* The cpulist in DIR/FILE; logs its failure. */
int cg_read_cpulist(const HostRoot *hr, const char *dir, const char *file, CpuList *out);
/* Whether TEXT holds anything but blanks and newlines. */
bool cg_text_set(const char *text);

/* ---- cgroup-parse.c ---- */

/* Whether WORD is one of the words of [s, end) separated by any of SEPS. */
bool cg_words_have(const char *s, const char *end, const char *seps, const char *word);

/* ---- cgroup-setup.c ---- */

/* Every step of PLAN before the thread moves, recording in VM what exists;
 * logs its failure. */
int cg_exec_config(const HostRoot *hr, const CgroupPlan *plan, CgroupVm *vm);
/* The kernel's answer for each group equals what was asked (-EXDEV). */
int cg_verify_groups(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *gs, const char *vmdir);
/* QEMU's pid and each thread of P into its group. */
int cg_exec_attach(const HostRoot *hr, const CgroupPlan *plan, const CgroupGroups *gs, const Placement *p, pid_t qemu_pid);

/* ---- cgroup-teardown.c ---- */

/* A VM's dir: its children, then itself (EBUSY retried, ENOENT success);
 * logs its failure. */
int cg_remove_vm_dir(const HostRoot *hr, const char *dir);
/* Nested trees: removes kvmlaunch/ (TOP) unless another VM is in it;
 * whether it is gone. Quiet: a busy TOP is the ordinary case. */
bool cg_remove_top(const HostRoot *hr, const char *top);
/* Whether DIR or one of its children holds a thread (or cannot be listed). */
bool cg_dir_in_use(const HostRoot *hr, const char *dir);

#endif
