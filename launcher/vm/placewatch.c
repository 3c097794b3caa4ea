/* Placement that checks itself (include/placewatch.h). */
#include "placewatch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"
#include "vmlive.h"
#include "vmthreads.h"

enum { KIND_CPUS, KIND_CGROUP };

static CpuList spec_cpus(const CpuSpec *s) { return s && s->kind == CPUSPEC_LIST ? cpulist_copy(&s->list) : (CpuList){ NULL, 0 }; }

void placewatch_init(PlaceWatch *w, const VmConfig *cfg, const Placement *p, pid_t qemu, const HostRoot *proc, const HostRoot *cg,
                     CgroupVersion cg_version, const char *cg_mount, const char *cg_dir, int rundir_fd) {
    memset(w, 0, sizeof(*w));
    w->vm = cfg->vm.name;
    w->proc = proc;
    w->cg = cg;
    w->qemu = qemu;
    w->rundir_fd = rundir_fd;
    /* Cgroups written in a redirected tree ($KVMLAUNCH_ROOT) while the
     * threads are real ones: /proc/TID/cgroup never names them. */
    bool cg_real = cg && proc && cg->redirected == proc->redirected;
    size_t ml = cg_mount ? strlen(cg_mount) : 0;
    if (cg_version != CGROUP_NONE && cg_dir && cg_real && ml && !strncmp(cg_dir, cg_mount, ml) && (cg_dir[ml] == '/' || !cg_dir[ml])) {
        w->cg_version = cg_version;
        w->cg_dir = xstrdup(cg_dir);
        w->cg_rel = xstrdup(cg_dir[ml] ? cg_dir + ml : "/");
    }
    w->n_vcpu = cfg->vm.vcpus > 0 ? (size_t)cfg->vm.vcpus : 0;
    w->vcpu = xcalloc(w->n_vcpu ? w->n_vcpu : 1, sizeof(CpuList));
    for (size_t i = 0; i < w->n_vcpu; i++) w->vcpu[i] = placement_vcpu_cpus(cfg, i);
    w->emulator = spec_cpus(&cfg->cpu.emulator);
    w->iothreads = spec_cpus(&cfg->cpu.iothreads);
    /* As placement_discover places them: [cpu] vhost = emulator follows it. */
    w->vhost = spec_cpus(cfg->cpu.vhost.kind == CPUSPEC_EMULATOR ? &cfg->cpu.emulator : &cfg->cpu.vhost);
    for (size_t i = 0; p && i < p->n; i++) {
        const ThreadPlace *t = &p->t[i];
        if (t->role == THREAD_VHOST && !t->process) w->vhost_group = true;
        if (t->role != THREAD_IOTHREAD && !t->process) continue;
        w->known = xrealloc(w->known, (w->n_known + 1) * sizeof(*w->known));
        PlaceWatchTask *k = &w->known[w->n_known++];
        *k = (PlaceWatchTask){ t->tid, t->role, t->role == THREAD_IOTHREAD ? t->index : -1, t->process, "" };
        _cleanup_free_ char *path = t->process ? xasprintf("/proc/%ld/comm", (long)t->tid) : xasprintf("/proc/%ld/task/%ld/comm", (long)qemu, (long)t->tid);
        _cleanup_free_ char *comm = NULL;
        if (proc && hostroot_read(proc, path, &comm) >= 0) snprintf(k->name, sizeof(k->name), "%.*s", (int)strcspn(comm, "\n"), comm);
    }
}

void placewatch_add_helper(PlaceWatch *w, pid_t pid, const char *role) {
    if (pid <= 0) return;
    w->helpers = xrealloc(w->helpers, (w->n_helpers + 1) * sizeof(*w->helpers));
    PlaceWatchHelper *h = &w->helpers[w->n_helpers++];
    h->pid = pid;
    snprintf(h->role, sizeof(h->role), "%s", role);
}

void placewatch_free(PlaceWatch *w) {
    for (size_t i = 0; i < w->n_vcpu; i++) cpulist_free(&w->vcpu[i]);
    free(w->vcpu);
    cpulist_free(&w->emulator);
    cpulist_free(&w->iothreads);
    cpulist_free(&w->vhost);
    free(w->known);
    free(w->helpers);
    free(w->cg_dir);
    free(w->cg_rel);
    memset(w, 0, sizeof(*w));
}

/* ---- what is expected: live.json's placement once `kvmlaunch pin` changed it ---- */

static void set_from_text(CpuList *l, const char *text) {
    CpuList n = { 0 };
    if (!text || (*text && kfile_parse_cpulist(text, &n) < 0)) return; /* unreadable: the old one stays */
    cpulist_free(l);
    *l = n;
}

/* Reloads the expected CPUs when live.json changed since it was read. */
static void follow_live(PlaceWatch *w) {
    struct stat sb;
    if (w->rundir_fd < 0 || fstatat(w->rundir_fd, VMLIVE_STATE, &sb, AT_SYMLINK_NOFOLLOW) < 0) return;
    if (sb.st_ino == w->live_ino && sb.st_mtim.tv_sec == w->live_mtime.tv_sec && sb.st_mtim.tv_nsec == w->live_mtime.tv_nsec) return;
    json_object *o = vmlive_load(w->rundir_fd), *pl, *v;
    if (!o) return;
    w->live_ino = sb.st_ino;
    w->live_mtime = sb.st_mtim;
    if (json_object_object_get_ex(o, "placement", &pl) && json_object_is_type(pl, json_type_object)) {
        if (json_object_object_get_ex(pl, "vcpu", &v) && json_object_is_type(v, json_type_array))
            for (size_t i = 0; i < w->n_vcpu && i < json_object_array_length(v); i++)
                set_from_text(&w->vcpu[i], json_object_get_string(json_object_array_get_idx(v, i)));
        set_from_text(&w->emulator, vmlive_str(pl, "emulator"));
        set_from_text(&w->iothreads, vmlive_str(pl, "iothreads"));
        set_from_text(&w->vhost, vmlive_str(pl, "vhost"));
    }
    json_object_put(o);
}

/* ---- one task ---- */

typedef struct Want {
    const CpuList *cpus;
    char group[32];                 /* the cgroup under the VM's dir */
    char name[48];                  /* for the log */
    bool process;                   /* moved by cgroup.procs (v2) */
    pid_t tgid;                     /* the process it belongs to */
} Want;

static bool logged_before(PlaceWatch *w, pid_t tid, int kind) {
    for (size_t i = 0; i < w->n_logged; i++)
        if (w->logged[i].tid == tid && w->logged[i].kind == kind) return true;
    if (w->n_logged < PLACEWATCH_LOG_MAX) {
        w->logged[w->n_logged].tid = tid;
        w->logged[w->n_logged++].kind = kind;
        return false;
    }
    if (!w->quiet_said) log_notice("further placement repairs are counted (kvmlaunch status), not logged");
    w->quiet_said = true;
    return true;
}

/* The cgroup TASKDIR's task is in, in the VM's hierarchy; NULL when it
 * cannot be read (gone). */
static char *task_cgroup(const PlaceWatch *w, const char *taskdir) {
    _cleanup_free_ char *path = xasprintf("%s/cgroup", taskdir), *text = NULL;
    char *rel = NULL;
    if (hostroot_read(w->proc, path, &text) < 0 || cgroup_parse_self(text, w->cg_version, &rel) < 0) return NULL;
    return rel;
}

static int fix_cgroup(PlaceWatch *w, const char *taskdir, pid_t tid, const Want *want) {
    _cleanup_free_ char *rel = task_cgroup(w, taskdir);
    if (!rel) return 0;
    _cleanup_free_ char *expect = xasprintf("%s/%s", streq(w->cg_rel, "/") ? "" : w->cg_rel, want->group);
    if (streq(rel, expect)) return 0;
    /* v2 moves a thread of QEMU alone (cgroup.threads: the VM's dir is a
     * thread root), a process of its own whole; v1 moves one task. */
    const char *file = w->cg_version == CGROUP_V1 ? "tasks" : want->process ? "cgroup.procs" : "cgroup.threads";
    _cleanup_free_ char *dst = xasprintf("%s/%s/%s", w->cg_dir, want->group, file);
    char id[24];
    snprintf(id, sizeof(id), "%ld", (long)(want->process && w->cg_version != CGROUP_V1 ? want->tgid : tid));
    int r = hostroot_write(w->cg, dst, id);
    if (r == -ESRCH) return 0;
    /* Only what was put back counts; a failure is said once. */
    if (r < 0) {
        if (!logged_before(w, tid, KIND_CGROUP)) log_warning_errno(r, "%s (tid %ld) is in cgroup %s, not %s, and could not be moved back: %m", want->name, (long)tid, rel, expect);
        return 0;
    }
    w->cgroup_repairs++;
    if (!logged_before(w, tid, KIND_CGROUP)) log_notice("placement drift: %s (tid %ld) was in cgroup %s, not %s: moved back", want->name, (long)tid, rel, expect);
    return 1;
}

static int fix_cpus(PlaceWatch *w, const char *taskdir, pid_t tid, const Want *want) {
    if (!want->cpus || !want->cpus->n) return 0;
    _cleanup_free_ char *path = xasprintf("%s/status", taskdir), *status = NULL, *allowed = NULL;
    CpuList have = { 0 };
    if (hostroot_read(w->proc, path, &status) < 0 || kfile_parse_field(status, "Cpus_allowed_list", ':', &allowed) < 0 ||
        kfile_parse_cpulist(allowed, &have) < 0) {
        cpulist_free(&have);
        return 0; /* gone meanwhile */
    }
    bool same = cpulist_same_set(&have, want->cpus);
    _cleanup_free_ char *had = cpulist_format(&have), *list = cpulist_format(want->cpus);
    cpulist_free(&have);
    if (same) return 0;
    CpuList got = { 0 };
    int r = hostroot_affinity(w->proc, tid, want->cpus, &got);
    if (r == -ESRCH) return 0;
    bool ok = r >= 0 && cpulist_same_set(&got, want->cpus);
    w->affinity_repairs += ok;
    cpulist_free(&got);
    if (logged_before(w, tid, KIND_CPUS)) return ok;
    if (!ok) log_warning("%s (tid %ld) runs on CPUs %s, not %s, and could not be put back: %s", want->name, (long)tid, had, list,
                         r < 0 ? strerror(-r) : "the kernel gave other CPUs");
    else log_notice("placement drift: %s (tid %ld) ran on CPUs %s, not %s: put back", want->name, (long)tid, had, list);
    return ok;
}

/* Cgroup first: joining a cpuset resets a task's CPUs. */
static int check_task(PlaceWatch *w, const char *taskdir, pid_t tid, const Want *want) {
    int n = 0;
    if (w->cg_dir) n += fix_cgroup(w, taskdir, tid, want);
    return n + fix_cpus(w, taskdir, tid, want);
}

static const PlaceWatchTask *known(const PlaceWatch *w, pid_t tid, bool process) {
    for (size_t i = 0; i < w->n_known; i++)
        if (w->known[i].tid == tid && w->known[i].process == process) return &w->known[i];
    return NULL;
}

static void want_emulator(const PlaceWatch *w, Want *o, const char *what) {
    o->cpus = &w->emulator;
    snprintf(o->group, sizeof(o->group), "emulator");
    snprintf(o->name, sizeof(o->name), "%s", what);
}

/* What a thread of QEMU should be, from its name (vCPUs, vhost tasks) or
 * from the start (I/O threads). */
static void want_for_thread(const PlaceWatch *w, pid_t tid, const char *comm, Want *o) {
    int index;
    const PlaceWatchTask *k = known(w, tid, false);
    o->process = false;
    o->tgid = w->qemu;
    if (vmthreads_parse_comm(comm, &index) == 0 && index >= 0 && (size_t)index < w->n_vcpu) {
        o->cpus = &w->vcpu[index];
        snprintf(o->group, sizeof(o->group), "vcpu%d", index);
        snprintf(o->name, sizeof(o->name), "vcpu%d", index);
    } else if (k && k->role == THREAD_IOTHREAD) {
        o->cpus = &w->iothreads;
        snprintf(o->group, sizeof(o->group), "iothread%d", k->index);
        snprintf(o->name, sizeof(o->name), "iothread%d", k->index);
    } else if (!strncmp(comm, "vhost-", 6)) {
        o->cpus = &w->vhost;
        snprintf(o->group, sizeof(o->group), "%s", w->vhost_group ? "vhost" : "emulator");
        snprintf(o->name, sizeof(o->name), "vhost worker");
    } else {
        want_emulator(w, o, "");
        snprintf(o->name, sizeof(o->name), "emulator thread \"%.20s\"", comm);
    }
}

/* The first line of FILE, without its newline; "" when unreadable. */
static void read_line(const HostRoot *hr, const char *path, char *out, size_t size) {
    _cleanup_free_ char *text = NULL;
    out[0] = 0;
    if (hostroot_read(hr, path, &text) >= 0) snprintf(out, size, "%.*s", (int)strcspn(text, "\n"), text);
}

/* Every thread of process PID against WANT (or, for QEMU, each its own). */
static int check_process(PlaceWatch *w, pid_t pid, const Want *fixed, size_t *threads) {
    _cleanup_free_ char *dir = xasprintf("/proc/%ld/task", (long)pid);
    StrVec tids = STRVEC_INIT;
    int r = hostroot_list(w->proc, dir, true, &tids);
    if (r < 0) return r == -ENOENT ? -ESRCH : r;
    if (threads) *threads = tids.n;
    int n = 0;
    for (size_t i = 0; i < tids.n; i++) {
        char *end;
        long tid = strtol(tids.v[i], &end, 10);
        if (*end || tid <= 0) continue;
        _cleanup_free_ char *taskdir = xasprintf("%s/%ld", dir, tid), *cpath = xasprintf("%s/comm", taskdir);
        Want want;
        if (fixed) {
            want = *fixed;
        } else {
            char comm[32];
            read_line(w->proc, cpath, comm, sizeof(comm));
            want_for_thread(w, (pid_t)tid, comm, &want);
        }
        n += check_task(w, taskdir, (pid_t)tid, &want);
    }
    strvec_clear(&tids);
    return n;
}

/* A helper and its children (virtiofsd's sandbox), all with the emulator.
 * Only while it is still our child: a pid reaped and reused by another
 * process must not be moved. */
static int check_helper(PlaceWatch *w, const PlaceWatchHelper *h) {
    if (placement_parent_of(w->proc, h->pid) != getpid()) return 0;
    Want want = { .process = true, .tgid = h->pid };
    want_emulator(w, &want, h->role);
    int n = check_process(w, h->pid, &want, NULL);
    _cleanup_free_ char *cpath = xasprintf("/proc/%ld/task/%ld/children", (long)h->pid, (long)h->pid), *children = NULL;
    if (hostroot_read(w->proc, cpath, &children) < 0) return n < 0 ? 0 : n;
    for (char *save = NULL, *tok = strtok_r(children, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        pid_t c = (pid_t)atol(tok);
        if (c <= 0) continue;
        Want cw = want;
        cw.tgid = c;
        int k = check_process(w, c, &cw, NULL);
        if (k > 0) n += k;
    }
    return n < 0 ? 0 : n;
}

/* A kernel thread placed at the start, while it still has its name. */
static int check_kernel_thread(PlaceWatch *w, const PlaceWatchTask *k) {
    char comm[32];
    _cleanup_free_ char *cpath = xasprintf("/proc/%ld/comm", (long)k->tid);
    read_line(w->proc, cpath, comm, sizeof(comm));
    if (!*comm || !streq(comm, k->name) || placement_parent_of(w->proc, k->tid) != 2) return 0;
    Want want = { .process = true, .tgid = k->tid };
    if (k->role == THREAD_VHOST) {
        want.cpus = &w->vhost;
        snprintf(want.group, sizeof(want.group), "%s", w->vhost_group ? "vhost" : "emulator");
        snprintf(want.name, sizeof(want.name), "%s", k->name);
    } else {
        want_emulator(w, &want, k->name);
    }
    _cleanup_free_ char *taskdir = xasprintf("/proc/%ld", (long)k->tid);
    /* A vhost-PID kernel thread of an old kernel is in no VM group: CPUs only. */
    if (k->role == THREAD_VHOST && !w->vhost_group) return fix_cpus(w, taskdir, k->tid, &want);
    return check_task(w, taskdir, k->tid, &want);
}

/* Shared, and not blocking: a control client (`pin`) holds it exclusively
 * while it changes the placement. -1: held, try later. */
static int take_lock(const PlaceWatch *w) {
    if (w->rundir_fd < 0) return -ENOENT;
    int fd = openat(w->rundir_fd, VMLIVE_LOCK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        int r = -errno;
        close(fd);
        return r == -EWOULDBLOCK ? -EAGAIN : r;
    }
    return fd;
}

int placewatch_check(PlaceWatch *w) {
    int lock = take_lock(w);
    if (lock == -EAGAIN) return -EAGAIN;
    follow_live(w);
    uint64_t before = w->affinity_repairs + w->cgroup_repairs;
    size_t threads = 0;
    int r = check_process(w, w->qemu, NULL, &threads);
    if (r >= 0) {
        w->threads = threads;
        for (size_t i = 0; i < w->n_known; i++)
            if (w->known[i].process) check_kernel_thread(w, &w->known[i]);
        for (size_t i = 0; i < w->n_helpers; i++) check_helper(w, &w->helpers[i]);
        w->checks++;
    }
    if (lock >= 0) close(lock);
    if (r < 0) return r;
    /* Every check: the count of checks says to `status` that it runs. */
    placewatch_save(w);
    return (int)(w->affinity_repairs + w->cgroup_repairs - before);
}

void placewatch_tick(PlaceWatch *w, int64_t now, int64_t *next) {
    if (now >= w->list_at_ms) {
        bool due = now >= w->full_at_ms;
        if (!due) {
            /* The cheap look: has QEMU a thread more or less? */
            _cleanup_free_ char *dir = xasprintf("/proc/%ld/task", (long)w->qemu);
            StrVec tids = STRVEC_INIT;
            if (hostroot_list(w->proc, dir, true, &tids) >= 0 && tids.n != w->threads) due = true;
            strvec_clear(&tids);
        }
        if (due) {
            int r = placewatch_check(w);
            /* Postponed by a control client: again at the next listing. */
            if (r != -EAGAIN) w->full_at_ms = now + PLACEWATCH_FULL_MS;
        }
        w->list_at_ms = now + PLACEWATCH_LIST_MS;
    }
    if (*next < 0 || w->list_at_ms < *next) *next = w->list_at_ms;
}

int placewatch_save(const PlaceWatch *w) {
    if (w->rundir_fd < 0) return 0;
    json_object *o = json_object_new_object(), *hs = json_object_new_array();
    json_object_object_add(o, "checks", json_object_new_uint64(w->checks));
    json_object_object_add(o, "repairs", json_object_new_uint64(w->affinity_repairs + w->cgroup_repairs));
    json_object_object_add(o, "affinity_repairs", json_object_new_uint64(w->affinity_repairs));
    json_object_object_add(o, "cgroup_repairs", json_object_new_uint64(w->cgroup_repairs));
    json_object_object_add(o, "threads", json_object_new_uint64(w->threads));
    for (size_t i = 0; i < w->n_helpers; i++) {
        json_object *h = json_object_new_object();
        json_object_object_add(h, "pid", json_object_new_int64(w->helpers[i].pid));
        json_object_object_add(h, "role", json_object_new_string(w->helpers[i].role));
        json_object_array_add(hs, h);
    }
    json_object_object_add(o, "helpers", hs);
    int r = placewatch_json_save(w->rundir_fd, PLACEWATCH_FILE, o);
    json_object_put(o);
    return r;
}

int placewatch_json_save(int dir_fd, const char *name, json_object *o) {
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", name);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    unlinkat(dir_fd, tmp, 0);
    _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return log_full_errno(LOG_DEBUG, -errno, "Failed to create %s: %m", tmp);
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int r = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0) r = -errno;
    if (r < 0) {
        unlinkat(dir_fd, tmp, 0);
        return log_full_errno(LOG_DEBUG, r, "Failed to write %s: %m", name);
    }
    return 0;
}

json_object *placewatch_json_load(int dir_fd, const char *name) {
    _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_free_ char *buf = NULL;
    if (fd < 0 || read_fd_all(fd, 1 << 16, &buf, NULL) < 0) return NULL;
    json_object *o = json_tokener_parse(buf);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}
