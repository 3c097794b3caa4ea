/* Thread placement (include/placement.h). */
#include "placement.h"

#include <dirent.h>
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
    p->t[p->n++] = (ThreadPlace){ role, index, name, tid, cpus, SCHED_OTHER, 0 };
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
static void read_comm(const char *path, char comm[static 32]) {
    comm[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f) return;
    if (!fgets(comm, 32, f)) comm[0] = 0;
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
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

/* vhost-net workers that are processes of their own, named vhost-PID
 * (kernel threads before Linux 6.4; tasks of QEMU since, found with the
 * rest). */
static void add_vhost_processes(pid_t qemu_pid, const CpuSpec *vh_cpus, Placement *out) {
    _cleanup_free_ char *vhost_comm = xasprintf("vhost-%ld", (long)qemu_pid);
    DIR *all = opendir("/proc");
    struct dirent *pe;
    while (all && (pe = readdir(all))) {
        char *end;
        long pid = strtol(pe->d_name, &end, 10);
        if (*end || pid <= 0 || pid == qemu_pid) continue;
        _cleanup_free_ char *comm_path = xasprintf("/proc/%ld/comm", pid);
        char comm[32];
        read_comm(comm_path, comm);
        if (streq(comm, vhost_comm)) add(out, THREAD_VHOST, -1, xstrdup(comm), (pid_t)pid, copy_if_list(vh_cpus));
    }
    if (all) closedir(all);
}

/* Everything else QEMU runs: main loop, RCU, workers, vhost tasks. */
static int add_other_threads(const VmConfig *cfg, pid_t qemu_pid, const CpuSpec *vh_cpus, Placement *out) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/task", (long)qemu_pid);
    DIR *d = opendir(path);
    if (!d) return log_error_errno(-errno, "Failed to list %s: %m", path);
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (*end || tid <= 0 || known_tid(out, (pid_t)tid)) continue;
        _cleanup_free_ char *comm_path = xasprintf("%s/%ld/comm", path, tid);
        char comm[32];
        read_comm(comm_path, comm);
        if (!strncmp(comm, "vhost-", 6)) add(out, THREAD_VHOST, -1, xstrdup("vhost"), (pid_t)tid, copy_if_list(vh_cpus));
        else add(out, THREAD_EMULATOR, -1, xstrdup("emulator"), (pid_t)tid, copy_if_list(&cfg->cpu.emulator));
    }
    closedir(d);
    return 0;
}

int placement_discover(const VmConfig *cfg, QmpClient *qmp, pid_t qemu_pid, bool vhost_open, Placement *out) {
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
    /* [cpu] vhost says where the vhost-net workers go. */
    const CpuSpec *vh = &cfg->cpu.vhost;
    const CpuSpec *vh_cpus = vh->kind == CPUSPEC_LIST ? vh : vh->kind == CPUSPEC_EMULATOR ? &cfg->cpu.emulator : NULL;
    /* Only when a vhost-net fd was really handed over: walking every
     * process's comm costs a few ms per hundred processes on a busy host
     * (docs/BENCHMARKS.md), for nothing when vhost = auto fell back. */
    if (vhost_open) add_vhost_processes(qemu_pid, vh_cpus, out);
    return add_other_threads(cfg, qemu_pid, vh_cpus, out);
}

static void to_cpuset(const CpuList *l, cpu_set_t *set) {
    CPU_ZERO(set);
    for (size_t i = 0; i < l->n; i++)
        if (l->cpu[i] < CPU_SETSIZE) CPU_SET(l->cpu[i], set);
}

int placement_apply(const Placement *p) {
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
        cpu_set_t want, got;
        to_cpuset(&t->cpus, &want);
        if (sched_setaffinity(t->tid, sizeof(want), &want) < 0) {
            /* A helper thread may end between listing and pinning. */
            if (errno == ESRCH && (t->role == THREAD_EMULATOR || t->role == THREAD_VHOST)) continue;
            return log_error_errno(-errno, "Failed to pin %s (tid %ld) to CPUs %s: %m", t->name, (long)t->tid, list);
        }
        if (sched_getaffinity(t->tid, sizeof(got), &got) < 0)
            return log_error_errno(-errno, "Failed to read back the CPUs of %s (tid %ld): %m", t->name, (long)t->tid);
        if (!CPU_EQUAL(&want, &got)) {
            CpuList actual = { xmalloc(CPU_SETSIZE * sizeof(int)), 0 };
            for (int c = 0; c < CPU_SETSIZE; c++)
                if (CPU_ISSET(c, &got)) actual.cpu[actual.n++] = c;
            _cleanup_free_ char *a = cpulist_format(&actual);
            cpulist_free(&actual);
            return log_error_errno(-EXDEV, "%s (tid %ld) runs on CPUs %s, not %s as asked; the VM is not started", t->name, (long)t->tid, a, list);
        }
        log_info("%s=tid %ld -> cpu %s", t->name, (long)t->tid, list);
    }
    return 0;
}

void placement_free(Placement *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->t[i].name);
        cpulist_free(&p->t[i].cpus);
    }
    free(p->t);
    memset(p, 0, sizeof(*p));
}
