/* Placing QEMU's threads before the guest runs: each vCPU thread on its pin,
 * each I/O thread on [cpu] iothreads, every other thread on emulator. */
#ifndef KVMLAUNCH_PLACEMENT_H
#define KVMLAUNCH_PLACEMENT_H

#include <stddef.h>
#include <sys/types.h>

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
} ThreadPlace;

typedef struct Placement {
    ThreadPlace *t;                 /* owned */
    size_t n;
} Placement;

/* Pure: the CPUs of vCPU I from pin and vcpu.N, or an empty list. */
CpuList placement_vcpu_cpus(const VmConfig *cfg, size_t i);

/* Asks QMP for the vCPU and I/O thread ids, lists QEMU's other threads
 * from /proc/PID/task, and plans every one. */
int placement_discover(const VmConfig *cfg, QmpClient *qmp, pid_t qemu_pid, bool vhost_open, Placement *out);
/* Sets affinity (and scheduler) of each planned thread, reads it back and
 * fails naming the first thread whose CPUs differ. Logs one line a thread. */
int placement_apply(const Placement *p);
void placement_free(Placement *p);

#endif
