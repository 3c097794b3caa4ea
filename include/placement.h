/* Placing QEMU's threads before the guest runs: each vCPU thread on its pin,
 * each I/O thread on [cpu] iothreads, every other thread on emulator. */
#ifndef KVMLAUNCH_PLACEMENT_H
#define KVMLAUNCH_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hostroot.h"
#include "qmp.h"
#include "vmconf.h"

typedef enum { THREAD_VCPU, THREAD_IOTHREAD, THREAD_EMULATOR, THREAD_VHOST } ThreadRole;

typedef struct ThreadPlace {
    ThreadRole role;
    int index;                      /* vCPU number or iothread number; -1 for emulator threads */
    char *name;                     /* owned: "vcpu0", "iothread-root", "emulator" */
    pid_t tid;
    CpuList cpus;                   /* owned; empty: not placed */
    int policy, priority;           /* SCHED_* for vCPUs with [cpu] scheduler */
    bool process;                   /* a process of its own, not a thread of QEMU (kvm-pit/PID, vhost-PID): moves by cgroup.procs */
} ThreadPlace;

typedef struct Placement {
    ThreadPlace *t;                 /* owned */
    size_t n;
} Placement;

/* Pure: the CPUs of vCPU I from pin and vcpu.N, or an empty list. */
CpuList placement_vcpu_cpus(const VmConfig *cfg, size_t i);

/* What placement_discover walks all of /proc for (a few ms per hundred
 * processes, so only when there can be something): */
#define PLACEMENT_WALK_VHOST 1u         /* vhost-net fds were handed over: kernel threads vhost-PID (before Linux 6.4) */
#define PLACEMENT_WALK_KVM_PIT 2u       /* QEMU runs under KVM: the PIT's kernel thread kvm-pit/PID, with the emulator */

/* Asks QMP for the vCPU and I/O thread ids, lists QEMU's other threads
 * from /proc/PID/task (and the kernel threads WALK asks for), and plans
 * every one. */
int placement_discover(const VmConfig *cfg, QmpClient *qmp, pid_t qemu_pid, unsigned walk, Placement *out);
/* Its /proc part, on PROC's /proc (a test's tree): the kernel threads, then
 * every thread of QEMU not in OUT yet as emulator (or vhost, by name). */
int placement_discover_tasks(const HostRoot *proc, const VmConfig *cfg, pid_t qemu_pid, unsigned walk, Placement *out);
/* Sets affinity (and scheduler) of each planned thread, reads it back and
 * fails naming the first thread whose CPUs differ. Logs one line a thread.
 * placement_apply_on sets them through PROC's ops (a test's fake kernel). */
int placement_apply(const Placement *p);
int placement_apply_on(const HostRoot *proc, const Placement *p);
void placement_free(Placement *p);
/* PID's parent from PROC's /proc/PID/stat; 0 when unreadable. Kernel
 * threads are kthreadd's (2). */
pid_t placement_parent_of(const HostRoot *proc, pid_t pid);

#endif
