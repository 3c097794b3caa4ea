/* A cpuset cgroup per VM, one child per thread group, as libvirt lays them
 * out (DESIGN.md flow: "place every thread (affinity + its own cgroup)"):
 *
 *     BASE/kvmlaunch/NAME/emulator      QEMU's main loop, RCU, workers
 *     BASE/kvmlaunch/NAME/vcpu0 .. N-1   one vCPU thread each
 *     BASE/kvmlaunch/NAME/iothread0 ..   one I/O thread each (only if any)
 *     BASE/kvmlaunch/NAME/vhost          vhost-net workers (only if any)
 *
 * Each child carries cpuset.cpus (the thread's pin; without one, BASE's
 * effective CPUs) and cpuset.mems ([memory] nodes; without them, BASE's
 * effective nodes).
 *
 * BASE, chosen by cgroup_detect():
 * - cgroup v2 (a cgroup2 mount whose cgroup.controllers lists cpuset):
 *   the cgroup kvmlaunch runs in when it is delegated, else the hierarchy's
 *   root. Delegated means what systemd's own cg_is_delegated() checks: the
 *   directory carries the xattr trusted.delegate (or user.delegate, set by
 *   user managers) with a true value; systemd sets it on the cgroup of every
 *   unit with Delegate= (a systemd too old to set it is seen as not
 *   delegating: the tree goes to the root, as without systemd). The
 *   owner uid is no sign (every cgroup of a root unit belongs to root) and a writable
 *   cgroup.subtree_control is none either (root may write any). The
 *   delegated cgroup must also offer cpuset (Delegate=yes or
 *   Delegate=cpuset); when it does not, BASE is the root, and `why` says so.
 *   The root of a cgroup namespace (our cgroup "/") is the root case.
 * - cgroup v1 (a "cgroup" mount with the cpuset option; "noprefix" mounts
 *   name the files cpus/mems): kvmlaunch's own cpuset cgroup (issue 22: a
 *   Slurm job's, a container's, one an admin made), so that its limits and
 *   accounting cover QEMU; the hierarchy's root only when kvmlaunch runs
 *   there. v1 knows no delegation: whoever may write the cgroup may nest.
 * - neither: version CGROUP_NONE; the caller decides (warn and pin with
 *   affinity only, or refuse).
 *
 * v2 setup: "+cpuset" into cgroup.subtree_control of BASE, kvmlaunch/ and
 * NAME (each read first: CgroupVm.enabled says which were already on);
 * children get cgroup.type = threaded (NAME becomes a thread root), then
 * cpuset.cpus and cpuset.mems; cpuset.{cpus,mems}.effective are read back
 * and must equal what was asked, before any thread moves; then QEMU's pid
 * goes to emulator/cgroup.procs (moving every thread, also ones started
 * since the Placement was made) and each vCPU and I/O thread id to its
 * child's cgroup.threads.
 * v1 setup: cpuset.cpus and cpuset.mems of kvmlaunch/ (when still empty:
 * kvmlaunch/ is shared by all VMs) and of NAME copy BASE's values (v1
 * refuses a task, ENOSPC, in a cpuset without CPUs or nodes); each child
 * gets its values; cpuset.cpus and cpuset.mems are read back; QEMU's pid
 * goes to emulator/cgroup.procs, then each vCPU and I/O thread id to its
 * child's tasks, one id per write.
 *
 * Teardown moves nothing (QEMU is dead by then): rmdir the children, then
 * NAME. kvmlaunch/ stays once made, shared by every VM as systemd's
 * machine.slice is: removing it would need write access to BASE, which a
 * v1 hierarchy's root (mode 0555) denies to a root without
 * CAP_DAC_OVERRIDE, and the supervisor keeps no such capability. Nested
 * under kvmlaunch's own cgroup (CgroupLayout.nested), kvmlaunch/ goes with
 * the last VM instead: a Slurm job's or a unit's cgroup cannot be removed
 * while a child of it is left (its owner, root, may rmdir there). EBUSY
 * (threads of a dying process) is retried CGROUP_RMDIR_TRIES times,
 * CGROUP_RMDIR_DELAY_MS apart; ENOENT is success. Then, on v2, "-cpuset"
 * in kvmlaunch/ (ours, whoever turned it on) and in BASE where this VM
 * wrote "+cpuset", bottom-up, each only when no child of it uses cpuset
 * (cgroup_release_cpuset): the last VM to leave hands cpuset back.
 *
 * Every int function returns >= 0 or -errno; the I/O ones log their
 * failure once, the pure ones leave that to the caller. */
#ifndef KVMLAUNCH_CGROUP_H
#define KVMLAUNCH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hostroot.h"
#include "placement.h"
#include "strvec.h"
#include "values.h"
#include "vmconf.h"

#define CGROUP_TOP "kvmlaunch"
#define CGROUP_RMDIR_TRIES 10
#define CGROUP_RMDIR_DELAY_MS 50

typedef enum { CGROUP_NONE, CGROUP_V1, CGROUP_V2 } CgroupVersion;

typedef struct CgroupLayout {
    CgroupVersion version;
    bool noprefix;                  /* v1 mounted with noprefix: "cpus", not "cpuset.cpus" */
    char *mount;                    /* owned: the hierarchy's mount point, "/sys/fs/cgroup" */
    char *base;                     /* owned: where kvmlaunch/ lives (host path, no trailing '/') */
    bool delegated;                 /* base is our own, delegated, cgroup */
    bool nested;                    /* base is our own cgroup, below the mount (v2 delegated, or v1) */
    char *own;                      /* owned: kvmlaunch's own cgroup in this hierarchy (host path), or NULL when unknown */
    CpuList cpus;                   /* owned: base's effective CPUs (v1: its cpuset.cpus) */
    CpuList mems;                   /* owned: base's effective memory nodes (v1: its cpuset.mems) */
    char *why;                      /* owned: one line for logs and --dry-run: what was found, why this base */
} CgroupLayout;

/* ---- pure parts ---- */

/* The cgroup mounts in /proc/self/mounts (or /proc/mounts) text. Mount
 * points have the kernel's octal escapes undone. */
typedef struct CgroupMounts {
    StrVec v2;                      /* every cgroup2 mount point, in file order */
    char *v1_cpuset;                /* owned: the first v1 mount with the cpuset option, or NULL */
    bool v1_noprefix;
} CgroupMounts;
/* -EINVAL on a line with fewer than four fields or a bad escape. */
int cgroup_parse_mounts(const char *text, CgroupMounts *out);
void cgroup_mounts_free(CgroupMounts *m);

/* The path in /proc/self/cgroup text of the v2 line ("0::/a/b") or of the
 * v1 line whose controllers include cpuset ("3:cpu,cpuset:/"). *path is
 * owned by the caller. -ENOENT when there is no such line, -EINVAL on a
 * malformed line. */
int cgroup_parse_self(const char *text, CgroupVersion version, char **path);

/* Whether WORD is one of the space-separated words of TEXT
 * (cgroup.controllers, cgroup.subtree_control). */
bool cgroup_list_has(const char *text, const char *word);

/* One child cgroup: a thread group and the CPUs it asks for. */
typedef struct CgroupGroup {
    char *name;                     /* owned: "emulator", "vcpu0", "iothread0" */
    ThreadRole role;
    int index;                      /* vCPU or iothread number; -1 for emulator */
    CpuList cpus;                   /* owned; empty: the base's effective CPUs */
} CgroupGroup;

typedef struct CgroupGroups {
    CgroupGroup *g;                 /* owned */
    size_t n;
} CgroupGroups;

/* From vm.ini, for --dry-run and check: emulator ([cpu] emulator),
 * vcpu0..vcpus-1 (placement_vcpu_cpus), one iothreadN per disk with
 * iothread = yes ([cpu] iothreads). */
void cgroup_groups_from_config(const VmConfig *cfg, CgroupGroups *out);
/* From a discovered Placement: emulator always, one vcpuN per vCPU thread,
 * one iothreadN per I/O thread (N: its place in query-iothreads; they all
 * carry [cpu] iothreads). Ordered emulator, vCPUs, I/O threads. */
void cgroup_groups_from_placement(const Placement *p, CgroupGroups *out);
void cgroup_groups_free(CgroupGroups *gs);

typedef enum {
    CGROUP_OP_MKDIR,                /* path: the cgroup dir */
    CGROUP_OP_ENABLE,               /* path: cgroup.subtree_control; value "+cpuset" (v2) */
    CGROUP_OP_WRITE,                /* path: the file; value */
    CGROUP_OP_ATTACH,               /* path: cgroup.procs, cgroup.threads or tasks; group: which */
} CgroupOpKind;

/* On kvmlaunch/, which every VM shares: MKDIR accepts an existing dir,
 * WRITE leaves a file that holds a value already. */
#define CGROUP_OP_SHARED 1u

typedef struct CgroupOp {
    CgroupOpKind kind;
    char *path;                     /* owned: host path */
    char *value;                    /* owned; NULL for MKDIR and ATTACH */
    size_t group;                   /* ATTACH: index into the CgroupGroups */
    unsigned flags;
} CgroupOp;

typedef struct CgroupPlan {
    CgroupOp *op;                   /* owned, in the order they are done */
    size_t n;
    char *top;                      /* owned: BASE/kvmlaunch */
    char *dir;                      /* owned: BASE/kvmlaunch/NAME */
} CgroupPlan;

/* Pure: every mkdir, write and thread move cgroup_setup_vm() does for
 * cfg->vm.name with GROUPS (cpus/mems resolved against the layout, in
 * normalized cpulist form). -EINVAL for a name that is no plain directory
 * name, -EOPNOTSUPP for CGROUP_NONE. */
int cgroup_plan_vm(const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *groups, CgroupPlan *out);
/* One line per step for --dry-run: "mkdir DIR", "PATH: VALUE",
 * "PATH: <thread id of vcpu0>", "(unless it exists)" on shared steps;
 * the caller frees it. */
char *cgroup_plan_render(const CgroupPlan *plan, const CgroupGroups *groups);
void cgroup_plan_free(CgroupPlan *plan);

/* ---- I/O ---- */

/* Finds the cpuset hierarchy and the base as described above, reading
 * /proc/self/mounts (/proc/mounts where that is missing, as in a test's
 * tree),
 * the cgroup2 mounts' cgroup.controllers, /proc/self/cgroup (missing: our
 * cgroup counts as the root), the delegation xattrs and the base's
 * effective CPUs and nodes. No cpuset hierarchy is not an error: version
 * CGROUP_NONE, `why` says what was seen. */
int cgroup_detect(const HostRoot *hr, CgroupLayout *out);
void cgroup_layout_free(CgroupLayout *l);

/* One "+cpuset" written or found in a cgroup.subtree_control by setup. */
typedef struct CgroupEnable {
    char *path;                     /* owned: the cgroup dir */
    bool was_enabled;               /* cpuset was listed before: never undone */
} CgroupEnable;

/* What setup made, for teardown; can be journaled as strings. */
typedef struct CgroupVm {
    CgroupVersion version;
    char *top;                      /* owned: BASE/kvmlaunch */
    char *dir;                      /* owned: BASE/kvmlaunch/NAME; NULL: nothing to remove */
    bool nested;                    /* BASE is kvmlaunch's own cgroup: kvmlaunch/ goes with the last VM */
    CgroupEnable *enabled;          /* owned, v2: top-down, BASE first */
    size_t n_enabled;
} CgroupVm;

/* Creates and configures the VM's cgroups, checks the effective CPUs and
 * nodes (-EXDEV naming the group, asked and got, before any thread moved),
 * then moves every thread of P (QEMU stopped with -S, before cont).
 * A stale BASE/kvmlaunch/NAME from a dead run is removed first. Whatever
 * the result, *out records what exists: after QEMU is dead, call
 * cgroup_teardown_vm(out) on success and failure alike. */
int cgroup_setup_vm(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const Placement *p, pid_t qemu_pid,
                    CgroupVm *out);
/* Removes what setup made (see above; kvmlaunch/ stays) and frees *vm; a
 * zeroed CgroupVm is a no-op. Every child is tried; when one stays (-EBUSY
 * while threads remain) the VM dir and cpuset are left as they are and the
 * error returned; `kvmlaunch cleanup NAME` can try again. */
int cgroup_teardown_vm(const HostRoot *hr, CgroupVm *vm);
/* Writes "-cpuset" into DIR/cgroup.subtree_control unless cpuset is off
 * there already or a child of DIR uses it (lists it in its own
 * subtree_control or has cpuset.cpus or cpuset.mems set): then returns 0
 * and leaves it, so a cpuset someone else configured meanwhile keeps
 * working. For replaying a journaled CgroupEnable with was_enabled false. */
int cgroup_release_cpuset(const HostRoot *hr, const char *dir);
/* What a crashed run of NAME left: removes BASE/kvmlaunch/NAME with its
 * children (kvmlaunch/ stays), then on v2 releases cpuset in kvmlaunch/
 * as teardown does; 0 when there is nothing. It cannot know whether that
 * run enabled cpuset in BASE, so it leaves BASE's cgroup.subtree_control
 * alone (journal CgroupVm.enabled for that). */
int cgroup_cleanup(const HostRoot *hr, const CgroupLayout *l, const char *name);
/* cgroup_cleanup() for every VM dir in BASE/kvmlaunch/ whose NAME
 * RUNNING(NAME) does not claim and that holds no thread (a VM of another
 * runtime dir, or a QEMU that outlived its supervisor, is not dead). Logs
 * each removal; the first error, after trying them all. */
int cgroup_cleanup_dead(const HostRoot *hr, const CgroupLayout *l, bool (*running)(const char *name));
void cgroup_vm_free(CgroupVm *vm);

/* Where NAME's tree is, recorded host-wide (runtime_base()/cgroups.state,
 * a journal: include/journal.h) once setup made its dir: a nested tree
 * (under the cgroup the run was started in) is found by no later detect.
 * cgroup_record_release drops NAME's record (NULL: those of VMs that are
 * gone), removing what it names first (teardown, `cleanup`). */
int cgroup_record(const CgroupVm *vm, const char *name);
int cgroup_record_release(const HostRoot *hr, const char *name);
/* The dir NAME's run recorded (caller frees), or NULL: `kvmlaunch pin`
 * finds a tree nested under another cgroup than its own this way. */
char *cgroup_record_dir(const char *name);

/* A running VM's group (`kvmlaunch pin`, launcher/cgroup/cgroup-live.c):
 * GROUP's cpuset.cpus under BASE/kvmlaunch/VM as written (*text, caller
 * frees; -ENOENT when there is no such group), and a new VALUE for it,
 * read back as setup does (-EXDEV naming asked and got). Threads in it
 * move with it (v1 rebinds their affinity; v2 too). */
int cgroup_group_cpus_read(const HostRoot *hr, const CgroupLayout *l, const char *vm, const char *group, char **text);
int cgroup_group_cpus_write(const HostRoot *hr, const CgroupLayout *l, const char *vm, const char *group, const char *value);

#endif
