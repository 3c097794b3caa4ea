/* Who else uses the CPUs a VM's vCPUs are pinned to (`kvmlaunch check`):
 * a host NIC's queue interrupts, delivered there, and other tasks that keep
 * them busy. Through a HostRoot, so that a test's tree can play the host. */
#ifndef KVMLAUNCH_CPUUSE_H
#define KVMLAUNCH_CPUUSE_H

#include <stddef.h>

#include "hostroot.h"
#include "values.h"

/* How long `check` samples /proc/stat, and the share of that time (user,
 * nice, system, irq, softirq, steal: all but idle and iowait) from which a
 * CPU counts as busy: with another task always runnable there, CFS gives a
 * vCPU about half of the CPU, so from 50% on the vCPU waits about as much
 * as it runs. */
#define CPUUSE_SAMPLE_MS 250
#define CPUUSE_BUSY_SHARE 0.5

typedef struct CpuIrqHit {
    int cpu, irq;
    char *dev;                      /* owned: the NIC */
    char *name;                     /* owned: the IRQ's handler names ("eth0-TxRx-0") */
} CpuIrqHit;

typedef struct CpuIrqHits {
    CpuIrqHit *v;                   /* owned */
    size_t n;
} CpuIrqHits;

/* Each IRQ of each NIC in /sys/class/net (lo and devices without IRQs have
 * none; hostnic_probe_dev finds them) whose target CPUs meet CPUS: its
 * effective_affinity_list (where the kernel delivers it now), or its
 * smp_affinity_list where the kernel shows no effective one and it is not
 * every online CPU (the default says nothing of where it lands). A virtio
 * device's "-config" vector (link changes) is none of them. One hit per
 * CPU and IRQ, by CPU, NIC and IRQ. */
int cpuuse_nic_irq_hits(const HostRoot *hr, const CpuList *cpus, CpuIrqHits *out);
void cpuuse_hits_free(CpuIrqHits *h);

/* Pure: the share of the time between two /proc/stat texts that CPU was
 * busy (see above); -ENOENT when either lacks its "cpuN" line or no time
 * passed. */
int cpuuse_busy_share(const char *before, const char *after, int cpu, double *share);

/* /proc/stat now and MS later. */
int cpuuse_sample(const HostRoot *hr, int ms, char **before, char **after);

#endif
