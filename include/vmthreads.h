/* The vCPU threads of a running QEMU and the CPUs they may run on, as
 * /proc shows them: what `kvmlaunch host` reports as the CPUs each VM holds.
 * QEMU runs with debug-threads=on (qemucmd.c), so each vCPU thread's comm
 * is "CPU N/KVM" or "CPU N/TCG". */
#ifndef KVMLAUNCH_VMTHREADS_H
#define KVMLAUNCH_VMTHREADS_H

#include <stddef.h>
#include <sys/types.h>

#include "values.h"

typedef struct VmVcpu {
    int index;                      /* N of "CPU N/..." */
    pid_t tid;
    CpuList allowed;                /* owned: Cpus_allowed_list of /proc/QEMU/task/TID/status, sorted */
} VmVcpu;

/* Pure: N of a vCPU thread's comm ("CPU 3/KVM\n", trailing newline
 * optional); -EINVAL for any other thread ("qemu-system-x86", "IO
 * iothread0", "CPU x/KVM"). */
int vmthreads_parse_comm(const char *comm, int *index);

/* The vCPU threads of process QEMU, by index. Always the real /proc, also
 * under a redirected HostRoot: VMs are real processes. A thread that ends while
 * it is read is left out; -ENOENT when QEMU itself is gone. */
int vmthreads_vcpus(pid_t qemu, VmVcpu **out, size_t *n);
void vmthreads_free(VmVcpu *v, size_t n);

/* The union of the vCPUs' allowed CPUs, sorted. */
CpuList vmthreads_cpus(const VmVcpu *v, size_t n);

#endif
