/* vCPU threads of a running QEMU (include/vmthreads.h). */
#include "vmthreads.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostroot.h"
#include "kfiles.h"
#include "util.h"

int vmthreads_parse_comm(const char *comm, int *index) {
    if (strncmp(comm, "CPU ", 4) != 0 || !isdigit((unsigned char)comm[4])) return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(comm + 4, &end, 10);
    if (errno || v > CPULIST_MAX_CPU || *end != '/') return -EINVAL;
    *index = (int)v;
    return 0;
}

/* The real root, whatever KVMLAUNCH_ROOT says (see the header). */
static int open_real_root(HostRoot *hr) {
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    *hr = (HostRoot){ fd, xstrdup("/"), false, &hostroot_kernel_ops, NULL };
    return 0;
}

/* Fills V from /proc/QEMU/task/TID; -ENOENT (or -ESRCH) when the thread
 * is gone, -EINVAL when it is no vCPU. */
static int read_vcpu(const HostRoot *hr, pid_t qemu, const char *tid, VmVcpu *v) {
    _cleanup_free_ char *cpath = xasprintf("/proc/%ld/task/%s/comm", (long)qemu, tid);
    _cleanup_free_ char *spath = xasprintf("/proc/%ld/task/%s/status", (long)qemu, tid);
    _cleanup_free_ char *comm = NULL, *status = NULL, *allowed = NULL;
    int r = hostroot_read(hr, cpath, &comm);
    if (r < 0) return r;
    if (vmthreads_parse_comm(comm, &v->index) < 0) return -EINVAL;
    r = hostroot_read(hr, spath, &status);
    if (r < 0) return r;
    CpuList l = { 0 };
    if (kfile_parse_field(status, "Cpus_allowed_list", ':', &allowed) < 0 || kfile_parse_cpulist(allowed, &l) < 0) return -EINVAL;
    v->allowed = cpulist_sorted(&l);
    cpulist_free(&l);
    v->tid = (pid_t)atol(tid);
    return 0;
}

static int cmp_vcpu(const void *a, const void *b) {
    const VmVcpu *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int vmthreads_vcpus(pid_t qemu, VmVcpu **out, size_t *n) {
    HostRoot hr = HOSTROOT_INIT;
    StrVec tids = STRVEC_INIT;
    *out = NULL;
    *n = 0;
    int r = open_real_root(&hr);
    if (r < 0) return r;
    _cleanup_free_ char *dir = xasprintf("/proc/%ld/task", (long)qemu);
    r = hostroot_list(&hr, dir, true, &tids);
    VmVcpu *v = xcalloc(tids.n ? tids.n : 1, sizeof(VmVcpu));
    size_t k = 0;
    for (size_t i = 0; r >= 0 && i < tids.n; i++)
        if (read_vcpu(&hr, qemu, tids.v[i], &v[k]) == 0) k++;
    strvec_clear(&tids);
    hostroot_close(&hr);
    if (r < 0) {
        free(v);
        return r;
    }
    qsort(v, k, sizeof(VmVcpu), cmp_vcpu);
    *out = v;
    *n = k;
    return 0;
}

void vmthreads_free(VmVcpu *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) cpulist_free(&v[i].allowed);
    free(v);
}

CpuList vmthreads_cpus(const VmVcpu *v, size_t n) {
    CpuList all = { 0 };
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < v[i].allowed.n; c++) {
            all.cpu = xrealloc(all.cpu, (all.n + 1) * sizeof(int));
            all.cpu[all.n++] = v[i].allowed.cpu[c];
        }
    CpuList s = cpulist_sorted(&all);
    cpulist_free(&all);
    return s;
}
