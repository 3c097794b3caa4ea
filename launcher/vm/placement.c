/* Thread placement (include/placement.h). */
#include "placement.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define QMP_TIMEOUT_MS 10000

CpuList placement_vcpu_cpus(const VmConfig *cfg, size_t i) {
    const CpuSection *cpu = &cfg->cpu;
    if (i < cpu->n_vcpu_override && cpu->vcpu_override_line[i]) return cpulist_copy(&cpu->vcpu_override[i]);
    if (cpu->pin.kind == CPUSPEC_LIST && i < cpu->pin.list.n) {
        CpuList l = { xmalloc(sizeof(int)), 1 };
        l.cpu[0] = cpu->pin.list.cpu[i];
        return l;
    }
    return (CpuList){ NULL, 0 };
}

static void add(Placement *p, ThreadRole role, int index, char *name, pid_t tid, CpuList cpus) {
    p->t = xrealloc(p->t, (p->n + 1) * sizeof(*p->t));
    p->t[p->n++] = (ThreadPlace){ role, index, name, tid, cpus, SCHED_OTHER, 0, false };
}

static bool known_tid(const Placement *p, pid_t tid) {
    for (size_t i = 0; i < p->n; i++)
        if (p->t[i].tid == tid) return true;
    return false;
}

static int64_t get_int(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

/* The first line of a /proc comm file, without its newline ("" when it
 * cannot be read: the task is gone). */
static void read_comm(const HostRoot *proc, const char *path, char comm[static 32]) {
    _cleanup_free_ char *text = NULL;
    comm[0] = 0;
    if (hostroot_read(proc, path, &text) < 0) return;
    snprintf(comm, 32, "%.*s", (int)strcspn(text, "\n"), text);
}

static CpuList copy_if_list(const CpuSpec *spec) {
    return spec && spec->kind == CPUSPEC_LIST ? cpulist_copy(&spec->list) : (CpuList){ NULL, 0 };
}

/* The vCPU threads of query-cpus-fast's answer CPUS. */
static int add_vcpus(const VmConfig *cfg, json_object *cpus, Placement *out) {
    size_t n = json_object_array_length(cpus);
    if ((int64_t)n != cfg->vm.vcpus) return log_error_errno(-EPROTO, "QEMU reports %zu vCPUs, the VM has %lld", n, (long long)cfg->vm.vcpus);
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cpus, i);
        /* The host TID is the top-level thread-id; props.thread-id is the
         * guest topology's thread number. */
        int64_t index = get_int(c, "cpu-index"), tid = get_int(c, "thread-id");
        if (index < 0 || tid <= 0) return log_error_errno(-EPROTO, "query-cpus-fast: an entry without cpu-index or thread-id");
        Sched s = cfg->cpu.scheduler;
        add(out, THREAD_VCPU, (int)index, xasprintf("vcpu%lld", (long long)index), (pid_t)tid, placement_vcpu_cpus(cfg, (size_t)index));
        out->t[out->n - 1].policy = s.kind == SCHED_KIND_FIFO ? SCHED_FIFO : s.kind == SCHED_KIND_RR ? SCHED_RR : SCHED_OTHER;
        out->t[out->n - 1].priority = s.priority;
    }
    return 0;
}

static void add_iothreads(const VmConfig *cfg, json_object *iothreads, Placement *out) {
    for (size_t i = 0; i < json_object_array_length(iothreads); i++) {
        json_object *t = json_object_array_get_idx(iothreads, i), *id;
        int64_t tid = get_int(t, "thread-id");
        const char *name = json_object_object_get_ex(t, "id", &id) ? json_object_get_string(id) : "iothread";
        add(out, THREAD_IOTHREAD, (int)i, xstrdup(name), (pid_t)tid, copy_if_list(&cfg->cpu.iothreads));
    }
}

pid_t placement_parent_of(const HostRoot *proc, pid_t pid) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/stat", (long)pid), *text = NULL;
    if (hostroot_read(proc, path, &text) < 0) return 0;
    const char *p = strrchr(text, ')');
    long ppid = 0;
    char state;
    return p && sscanf(p + 1, " %c %ld", &state, &ppid) == 2 ? (pid_t)ppid : 0;
}

/* Kernel threads of their own that work for QEMU, found by name in one
 * walk over /proc: vhost-net workers named vhost-PID (before Linux 6.4;
 * tasks of QEMU since, found with the rest) with [cpu] vhost, and, under
 * KVM, the PIT's worker kvm-pit/PID with the emulator (CONFIG.md). */
static void add_kernel_threads(const HostRoot *proc, const VmConfig *cfg, pid_t qemu_pid, unsigned walk, const CpuSpec *vh_cpus, Placement *out) {
    _cleanup_free_ char *vhost_comm = xasprintf("vhost-%ld", (long)qemu_pid), *pit_comm = xasprintf("kvm-pit/%ld", (long)qemu_pid);
    StrVec all = STRVEC_INIT;
    hostroot_list(proc, "/proc", true, &all);
    for (size_t i = 0; i < all.n; i++) {
        char *end;
        long pid = strtol(all.v[i], &end, 10);
        if (*end || pid <= 0 || pid == qemu_pid) continue;
        _cleanup_free_ char *comm_path = xasprintf("/proc/%ld/comm", pid);
        char comm[32];
        read_comm(proc, comm_path, comm);
        if ((walk & PLACEMENT_WALK_VHOST) && streq(comm, vhost_comm)) add(out, THREAD_VHOST, -1, xstrdup(comm), (pid_t)pid, copy_if_list(vh_cpus));
        else if ((walk & PLACEMENT_WALK_KVM_PIT) && streq(comm, pit_comm)) add(out, THREAD_EMULATOR, -1, xstrdup("kvm-pit"), (pid_t)pid, copy_if_list(&cfg->cpu.emulator));
        else continue;
        /* kthreadd's child, not a process of some user that named itself so. */
        if (placement_parent_of(proc, (pid_t)pid) != 2) {
            ThreadPlace *t = &out->t[--out->n];
            free(t->name);
            cpulist_free(&t->cpus);
            continue;
        }
        out->t[out->n - 1].process = true;
    }
    strvec_clear(&all);
}

/* Everything else QEMU runs: main loop, RCU, workers, vhost tasks. */
static int add_other_threads(const HostRoot *proc, const VmConfig *cfg, pid_t qemu_pid, const CpuSpec *vh_cpus, Placement *out) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/task", (long)qemu_pid);
    StrVec tids = STRVEC_INIT;
    int r = hostroot_list(proc, path, true, &tids);
    if (r < 0) return log_error_errno(r, "Failed to list %s: %m", path);
    for (size_t i = 0; i < tids.n; i++) {
        char *end;
        long tid = strtol(tids.v[i], &end, 10);
        if (*end || tid <= 0 || known_tid(out, (pid_t)tid)) continue;
        _cleanup_free_ char *comm_path = xasprintf("%s/%ld/comm", path, tid);
        char comm[32];
        read_comm(proc, comm_path, comm);
        if (!strncmp(comm, "vhost-", 6)) add(out, THREAD_VHOST, -1, xstrdup("vhost"), (pid_t)tid, copy_if_list(vh_cpus));
        else add(out, THREAD_EMULATOR, -1, xstrdup("emulator"), (pid_t)tid, copy_if_list(&cfg->cpu.emulator));
    }
    strvec_clear(&tids);
    return 0;
}

int placement_discover_tasks(const HostRoot *proc, const VmConfig *cfg, pid_t qemu_pid, unsigned walk, Placement *out) {
    /* [cpu] vhost says where the vhost-net workers go. */
    const CpuSpec *vh = &cfg->cpu.vhost;
    const CpuSpec *vh_cpus = vh->kind == CPUSPEC_LIST ? vh : vh->kind == CPUSPEC_EMULATOR ? &cfg->cpu.emulator : NULL;
    /* Only when a vhost-net fd was really handed over or KVM runs: walking
     * every process's comm costs a few ms per hundred processes on a busy
     * host (docs/BENCHMARKS.md), for nothing when vhost = auto fell back
     * and TCG makes no PIT thread. */
    if (walk) add_kernel_threads(proc, cfg, qemu_pid, walk, vh_cpus, out);
    return add_other_threads(proc, cfg, qemu_pid, vh_cpus, out);
}

int placement_discover(const VmConfig *cfg, QmpClient *qmp, pid_t qemu_pid, unsigned walk, Placement *out) {
    memset(out, 0, sizeof(*out));
    json_object *cpus = NULL, *iothreads = NULL;
    /* Both questions at once: one round trip to QEMU instead of two. */
    int64_t id_cpus, id_iothreads;
    int r = qmp_send(qmp, "query-cpus-fast", NULL, &id_cpus);
    if (r == 0) r = qmp_send(qmp, "query-iothreads", NULL, &id_iothreads);
    if (r == 0) r = qmp_reply(qmp, id_cpus, "query-cpus-fast", &cpus, QMP_TIMEOUT_MS);
    if (r < 0) return log_error_errno(r, "query-cpus-fast failed: %s", qmp->error ? qmp->error : strerror(-r));
    r = add_vcpus(cfg, cpus, out);
    json_object_put(cpus);
    if (r < 0) return r;
    r = qmp_reply(qmp, id_iothreads, "query-iothreads", &iothreads, QMP_TIMEOUT_MS);
    if (r < 0) return log_error_errno(r, "query-iothreads failed: %s", qmp->error ? qmp->error : strerror(-r));
    add_iothreads(cfg, iothreads, out);
    json_object_put(iothreads);
    HostRoot proc;
    r = hostroot_open_real(&proc);
    if (r < 0) return log_error_errno(r, "Failed to open /: %m");
    r = placement_discover_tasks(&proc, cfg, qemu_pid, walk, out);
    hostroot_close(&proc);
    return r;
}

int placement_apply_on(const HostRoot *proc, const Placement *p) {
    for (size_t i = 0; i < p->n; i++) {
        const ThreadPlace *t = &p->t[i];
        if (t->role == THREAD_VCPU && t->policy != SCHED_OTHER) {
            struct sched_param sp = { .sched_priority = t->priority };
            if (sched_setscheduler(t->tid, t->policy, &sp) < 0)
                return log_error_errno(-errno, "Failed to set the scheduler of %s (tid %ld): %m", t->name, (long)t->tid);
        }
        if (!t->cpus.n) continue;
        _cleanup_free_ char *list = cpulist_format(&t->cpus);
        for (size_t k = 0; k < t->cpus.n; k++)
            if (t->cpus.cpu[k] >= CPU_SETSIZE) return log_error_errno(-EINVAL, "%s: CPU %d is beyond what this build supports", t->name, t->cpus.cpu[k]);
        CpuList got = { 0 };
        int r = hostroot_affinity(proc, t->tid, &t->cpus, &got);
        /* A helper thread may end between listing and pinning. */
        if (r == -ESRCH && (t->role == THREAD_EMULATOR || t->role == THREAD_VHOST)) continue;
        if (r < 0) return log_error_errno(r, "Failed to pin %s (tid %ld) to CPUs %s: %m", t->name, (long)t->tid, list);
        if (!cpulist_same_set(&got, &t->cpus)) {
            _cleanup_free_ char *a = cpulist_format(&got);
            cpulist_free(&got);
            return log_error_errno(-EXDEV, "%s (tid %ld) runs on CPUs %s, not %s as asked; the VM is not started", t->name, (long)t->tid, a, list);
        }
        cpulist_free(&got);
        log_info("%s=tid %ld -> cpu %s", t->name, (long)t->tid, list);
    }
    return 0;
}

int placement_apply(const Placement *p) {
    HostRoot proc;
    int r = hostroot_open_real(&proc);
    if (r < 0) return log_error_errno(r, "Failed to open /: %m");
    r = placement_apply_on(&proc, p);
    hostroot_close(&proc);
    return r;
}

void placement_free(Placement *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->t[i].name);
        cpulist_free(&p->t[i].cpus);
    }
    free(p->t);
    memset(p, 0, sizeof(*p));
}
