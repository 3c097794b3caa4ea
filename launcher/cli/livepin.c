/* `kvmlaunch pin NAME KEY=CPULIST...`: a running VM re-pinned, as virsh
 * vcpupin/emulatorpin/iothreadpin do. All of it or nothing: the cgroups,
 * then the threads' affinity, then the live state (which the supervisor's
 * steering follows), then the taps' steering, then the host-wide CPU
 * record; a step that fails puts back every one done before it, as it was
 * read. Each new value is read back. */
#include "livecmds.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cpuclaim.h"
#include "exitcode.h"
#include "hostroot.h"
#include "kfiles.h"
#include "log.h"
#include "placement.h"
#include "supervise.h"
#include "tap.h"
#include "util.h"
#include "vmlive.h"

/* How long a read-back that differs waits before its one retry. */
#define STEER_RETRY_MS 15

static const char *const key_names[] = { [LIVEPIN_VCPU] = "vcpu", [LIVEPIN_EMULATOR] = "emulator", [LIVEPIN_IOTHREADS] = "iothreads",
                                         [LIVEPIN_VHOST] = "vhost" };

void livepin_request_free(LivePinRequest *r) {
    for (size_t i = 0; i < r->n; i++) cpulist_free(&r->v[i].cpus);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static bool same_key(const LivePinItem *a, LivePinKey key, int vcpu) { return a->key == key && (key != LIVEPIN_VCPU || a->vcpu == vcpu); }

/* KEY of "KEY=LIST": its kind and vCPU number. */
static int parse_key(const char *key, size_t len, long vcpus, LivePinKey *k, int *vcpu, char *err) {
    for (int i = LIVEPIN_EMULATOR; i <= LIVEPIN_VHOST; i++)
        if (strlen(key_names[i]) == len && !strncmp(key, key_names[i], len)) {
            *k = (LivePinKey)i;
            *vcpu = -1;
            return 0;
        }
    if (len > 5 && !strncmp(key, "vcpu.", 5)) {
        _cleanup_free_ char *num = xstrndup(key + 5, len - 5);
        int64_t n;
        char e[VALUE_ERR_MAX];
        if (value_parse_int(num, 0, vcpus - 1, &n, e) == 0) {
            *k = LIVEPIN_VCPU;
            *vcpu = (int)n;
            return 0;
        }
        snprintf(err, VALUE_ERR_MAX, "vcpu.%s: expected a vCPU number from 0 to %ld (the VM has %ld vCPUs)", num, vcpus - 1, vcpus);
        return -EINVAL;
    }
    snprintf(err, VALUE_ERR_MAX, "expected KEY=CPULIST with KEY vcpu.N, emulator, iothreads or vhost, found \"%.*s\"", (int)len, key);
    return -EINVAL;
}

int livepin_parse(char **args, size_t n, long vcpus, const CpuList *online, LivePinRequest *out, char *err) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(args[i], '=');
        if (!eq) {
            snprintf(err, VALUE_ERR_MAX, "expected KEY=CPULIST, found \"%.64s\"", args[i]);
            goto fail;
        }
        LivePinKey k;
        int vcpu;
        if (parse_key(args[i], (size_t)(eq - args[i]), vcpus, &k, &vcpu, err) < 0) goto fail;
        for (size_t j = 0; j < out->n; j++)
            if (same_key(&out->v[j], k, vcpu)) {
                snprintf(err, VALUE_ERR_MAX, "%.*s: given twice", (int)(eq - args[i]), args[i]);
                goto fail;
            }
        char e[VALUE_ERR_MAX];
        CpuList l;
        if (value_parse_cpulist(eq + 1, &l, e) < 0) {
            snprintf(err, VALUE_ERR_MAX, "%.*s: %s", (int)(eq - args[i]), args[i], e);
            goto fail;
        }
        for (size_t c = 0; c < l.n; c++)
            if (online && !cpulist_contains(online, l.cpu[c])) {
                _cleanup_free_ char *have = cpulist_format(online);
                snprintf(err, VALUE_ERR_MAX, "%.*s: expected CPUs this host has online (%s), found CPU %d", (int)(eq - args[i]), args[i], have,
                         l.cpu[c]);
                cpulist_free(&l);
                goto fail;
            }
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        out->v[out->n++] = (LivePinItem){ k, vcpu, cpulist_sorted(&l), false };
        cpulist_free(&l);
    }
    if (!n) {
        snprintf(err, VALUE_ERR_MAX, "expected at least one KEY=CPULIST");
        return -EINVAL;
    }
    return 0;
fail:
    livepin_request_free(out);
    return -EINVAL;
}

int livepin_follow_emulator(LivePinRequest *r, bool vhost_follows) {
    const LivePinItem *emu = NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].key == LIVEPIN_VHOST) return 0; /* asked for: that wins */
        if (r->v[i].key == LIVEPIN_EMULATOR) emu = &r->v[i];
    }
    if (!vhost_follows || !emu) return 0;
    CpuList cpus = cpulist_copy(&emu->cpus);
    r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
    r->v[r->n++] = (LivePinItem){ LIVEPIN_VHOST, -1, cpus, true };
    return 1;
}

/* ---- the change ---- */

/* One thing changed, with what it was, for the way back. */
typedef struct Undo {
    enum { UNDO_CGROUP, UNDO_AFFINITY, UNDO_MASK } kind;
    char *what;                     /* owned: the cgroup group or the queue file */
    char *old;                      /* owned: cpuset.cpus or the mask; NULL with affinity */
    pid_t tid;
    cpu_set_t set;
} Undo;

typedef struct Pin {
    VmControl c;
    HostRoot hr;
    CgroupLayout cgl;
    LivePinRequest req;
    long vcpus;
    Placement pl;                   /* QEMU's threads, cpus: the new CPUs of those that move */
    Undo *undo;                     /* owned, in the order done */
    size_t n_undo;
    json_object *old_state;         /* owned: live.json before */
    bool state_saved;               /* live.json holds the new placement */
} Pin;

static const LivePinItem *item_for(const Pin *p, ThreadRole role, int index) {
    for (size_t i = 0; i < p->req.n; i++) {
        const LivePinItem *it = &p->req.v[i];
        if ((role == THREAD_VCPU && it->key == LIVEPIN_VCPU && it->vcpu == index) || (role == THREAD_EMULATOR && it->key == LIVEPIN_EMULATOR) ||
            (role == THREAD_IOTHREAD && it->key == LIVEPIN_IOTHREADS) || (role == THREAD_VHOST && it->key == LIVEPIN_VHOST))
            return it;
    }
    return NULL;
}

static void undo_add(Pin *p, Undo u) {
    p->undo = xrealloc(p->undo, (p->n_undo + 1) * sizeof(*p->undo));
    p->undo[p->n_undo++] = u;
}

static int write_file(const char *path, const char *value) {
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) return -errno;
    return 0;
}

/* Cgroups back first: a thread's old CPUs lie within its old cpuset, not
 * always within the new one, which would refuse them. Then the rest, last
 * done first. */
static void rollback(Pin *p) {
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = p->n_undo; i-- > 0;) {
            Undo *u = &p->undo[i];
            if ((u->kind == UNDO_CGROUP) != (pass == 0)) continue;
            int r = 0;
            if (u->kind == UNDO_CGROUP) r = cgroup_group_cpus_write(&p->hr, &p->cgl, p->c.name, u->what, u->old);
            else if (u->kind == UNDO_AFFINITY) r = sched_setaffinity(u->tid, sizeof(u->set), &u->set) < 0 && errno != ESRCH ? -errno : 0;
            else r = write_file(u->what, u->old);
            if (r < 0) log_warning_errno(r, "Failed to put back %s: %m", u->kind == UNDO_AFFINITY ? "a thread's CPUs" : u->what);
        }
    if (p->state_saved && vmlive_save(p->c.dir_fd, p->old_state) < 0) log_warning("the live state keeps the new placement");
    log_notice("%s: nothing was changed: every step done was put back", p->c.name);
}

static const char *group_name(const ThreadPlace *t, char buf[32]) {
    if (t->role == THREAD_VCPU) snprintf(buf, 32, "vcpu%d", t->index);
    else if (t->role == THREAD_IOTHREAD) snprintf(buf, 32, "iothread%d", t->index);
    else snprintf(buf, 32, "%s", t->role == THREAD_VHOST ? "vhost" : "emulator");
    return buf;
}

static int move_cgroups(Pin *p) {
    if (p->cgl.version == CGROUP_NONE) return 0;
    for (size_t i = 0; i < p->pl.n; i++) {
        const ThreadPlace *t = &p->pl.t[i];
        char g[32];
        bool done = false;
        /* One group per role and index (emulator and vhost: many threads). */
        for (size_t k = 0; k < p->n_undo && !done; k++) done = p->undo[k].kind == UNDO_CGROUP && streq(p->undo[k].what, group_name(t, g));
        if (!t->cpus.n || done) continue;
        group_name(t, g);
        _cleanup_free_ char *old = NULL, *want = cpulist_format(&t->cpus);
        int r = cgroup_group_cpus_read(&p->hr, &p->cgl, p->c.name, g, &old);
        if (r == -ENOENT) continue; /* threads that came after setup (a vhost task, say) */
        if (r < 0) return log_error_errno(r, "Failed to read the cgroup %s of %s: %m", g, p->c.name);
        r = cgroup_group_cpus_write(&p->hr, &p->cgl, p->c.name, g, want);
        undo_add(p, (Undo){ UNDO_CGROUP, xstrdup(g), TAKE_PTR(old), 0, { { 0 } } });
        if (r < 0) return r;
    }
    return 0;
}

static int move_threads(Pin *p) {
    Placement moving = { 0 };
    for (size_t i = 0; i < p->pl.n; i++) {
        const ThreadPlace *t = &p->pl.t[i];
        if (!t->cpus.n) continue;
        Undo u = { .kind = UNDO_AFFINITY, .tid = t->tid };
        if (sched_getaffinity(t->tid, sizeof(u.set), &u.set) < 0) {
            if (errno == ESRCH && t->role != THREAD_VCPU) continue;
            return log_error_errno(-errno, "Failed to read the CPUs of %s (tid %ld): %m", t->name, (long)t->tid);
        }
        undo_add(p, u);
        moving.t = xrealloc(moving.t, (moving.n + 1) * sizeof(*moving.t));
        moving.t[moving.n++] = *t; /* borrowed: not freed below */
    }
    int r = placement_apply(&moving);
    free(moving.t);
    return r;
}

static json_object *placement_of(json_object *state) {
    json_object *pl;
    return json_object_object_get_ex(state, "placement", &pl) && json_object_is_type(pl, json_type_object) ? pl : NULL;
}

/* The vCPUs' CPUs after the change, for the host-wide record. */
static CpuList new_vcpu_cpus(const Pin *p) {
    CpuList all = { 0 };
    json_object *pl = placement_of(p->c.state), *v = NULL;
    if (pl) json_object_object_get_ex(pl, "vcpu", &v);
    for (long i = 0; i < p->vcpus; i++) {
        const LivePinItem *it = item_for(p, THREAD_VCPU, (int)i);
        CpuList l = { 0 };
        if (it) l = cpulist_copy(&it->cpus);
        else if (v && json_object_is_type(v, json_type_array)) {
            const char *text = json_object_get_string(json_object_array_get_idx(v, (size_t)i));
            if (!strempty(text) && kfile_parse_cpulist(text, &l) < 0) cpulist_free(&l);
        }
        all.cpu = xrealloc(all.cpu, (all.n + l.n + 1) * sizeof(int));
        if (l.n) memcpy(all.cpu + all.n, l.cpu, l.n * sizeof(int));
        all.n += l.n;
        cpulist_free(&l);
    }
    CpuList s = cpulist_sorted(&all);
    cpulist_free(&all);
    return s;
}

/* live.json with the new placement and masks; the steering files to write. */
static Steering update_state(Pin *p) {
    Steering st = { 0 };
    json_object *pl = placement_of(p->c.state);
    if (!pl) {
        pl = json_object_new_object();
        json_object_object_add(p->c.state, "placement", pl);
    }
    for (size_t i = 0; i < p->req.n; i++) {
        const LivePinItem *it = &p->req.v[i];
        _cleanup_free_ char *text = cpulist_format(&it->cpus);
        if (it->key != LIVEPIN_VCPU) {
            json_object_object_add(pl, key_names[it->key], json_object_new_string(text));
            /* vhost=... asked for: from now on they stay where put. */
            if (it->key == LIVEPIN_VHOST && !it->follows) json_object_object_add(p->c.state, "vhost_follows_emulator", json_object_new_boolean(false));
            continue;
        }
        json_object *v;
        if (!json_object_object_get_ex(pl, "vcpu", &v) || !json_object_is_type(v, json_type_array)) {
            v = json_object_new_array();
            json_object_object_add(pl, "vcpu", v);
        }
        while (json_object_array_length(v) < (size_t)p->vcpus) json_object_array_add(v, json_object_new_string(""));
        json_object_array_put_idx(v, (size_t)it->vcpu, json_object_new_string(text));
    }
    json_object *steer;
    if (!json_object_object_get_ex(p->c.state, "steering", &steer) || !json_object_is_type(steer, json_type_array)) return st;
    for (size_t k = 0; k < json_object_array_length(steer); k++) {
        json_object *e = json_object_array_get_idx(steer, k), *vc;
        const char *path = vmlive_str(e, "path");
        if (!path || !json_object_object_get_ex(e, "vcpu", &vc)) continue;
        const LivePinItem *it = item_for(p, THREAD_VCPU, json_object_get_int(vc));
        if (!it) continue;
        char *mask = cpumask_format(&it->cpus);
        json_object_object_add(e, "mask", json_object_new_string(mask));
        st.e = xrealloc(st.e, (st.n + 1) * sizeof(*st.e));
        st.e[st.n++] = (struct SteerEntry){ xstrdup(path), mask };
    }
    return st;
}

/* Writes each queue file that exists (a queue the guest has not enabled
 * has none; the supervisor steers it when it comes) and reads it back. */
static int steer(Pin *p, const Steering *st) {
    size_t unseen = 0;
    for (size_t i = 0; i < st->n; i++) {
        char old[256];
        _cleanup_close_ int fd = open(st->e[i].path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            unseen++;
            continue;
        }
        ssize_t n = fd < 0 ? -1 : read(fd, old, sizeof(old) - 1);
        if (n < 0) return log_error_errno(-errno, "Failed to read %s: %m", st->e[i].path);
        old[n] = 0;
        old[strcspn(old, "\n")] = 0;
        if (pwrite(fd, st->e[i].mask, strlen(st->e[i].mask), 0) < 0) return log_error_errno(-errno, "Failed to steer %s: %m", st->e[i].path);
        undo_add(p, (Undo){ UNDO_MASK, xstrdup(st->e[i].path), xstrdup(old), 0, { { 0 } } });
        n = pread(fd, old, sizeof(old) - 1, 0);
        old[n > 0 ? n : 0] = 0;
        if (!cpumask_same(old, st->e[i].mask)) {
            /* The supervisor's refresh may have read live.json just before
             * we saved it and then written its old mask just after ours.
             * That refresh is over within a few ms and its next one follows
             * the new live.json: write once more and read again. */
            usleep(STEER_RETRY_MS * 1000);
            if (pwrite(fd, st->e[i].mask, strlen(st->e[i].mask), 0) < 0)
                return log_error_errno(-errno, "Failed to steer %s: %m", st->e[i].path);
            n = pread(fd, old, sizeof(old) - 1, 0);
            old[n > 0 ? n : 0] = 0;
        }
        if (!cpumask_same(old, st->e[i].mask))
            return log_error_errno(-EXDEV, "%s holds %s, not %s as written", st->e[i].path, old, st->e[i].mask);
    }
    if (unseen)
        log_info("%s: %zu tap queue files are not here (queues the guest has not enabled, or a tap in another network namespace): "
                 "the supervisor steers them within a second",
                 p->c.name, unseen);
    return 0;
}

/* Every thread the request moves exists: I/O threads and vhost workers
 * are there only when the VM has them. */
static int check_threads(const Pin *p, char *err) {
    for (size_t i = 0; i < p->req.n; i++) {
        const LivePinItem *it = &p->req.v[i];
        /* Workers that follow the emulator: a VM without vhost-net has none. */
        if (it->follows) continue;
        bool found = false;
        for (size_t k = 0; k < p->pl.n && !found; k++) found = p->pl.t[k].cpus.n && item_for(p, p->pl.t[k].role, p->pl.t[k].index) == it;
        if (!found) {
            snprintf(err, VALUE_ERR_MAX, "%s: %s has no such thread%s", key_names[it->key], p->c.name,
                     it->key == LIVEPIN_IOTHREADS ? " (no disk with iothread = yes)" : it->key == LIVEPIN_VHOST ? " (no vhost-net)" : "");
            return -EINVAL;
        }
    }
    return 0;
}

static void report(const Pin *p, int64_t us) {
    bool told[THREAD_VHOST + 1] = { false };
    for (size_t i = 0; i < p->pl.n; i++) {
        const ThreadPlace *t = &p->pl.t[i];
        bool many = t->role == THREAD_EMULATOR || t->role == THREAD_VHOST;
        if (!t->cpus.n || (many && told[t->role])) continue;
        told[t->role] = true;
        char g[32];
        _cleanup_free_ char *cg = NULL, *list = cpulist_format(&t->cpus);
        if (p->cgl.version != CGROUP_NONE) cgroup_group_cpus_read(&p->hr, &p->cgl, p->c.name, group_name(t, g), &cg);
        printf("%s: %s (tid %ld) on CPUs %s, cgroup %s\n", p->c.name, t->role == THREAD_VCPU || t->role == THREAD_IOTHREAD ? t->name : group_name(t, g),
               (long)t->tid, list, cg ? cg : "none");
    }
    printf("%s: re-pinned in %.1f ms\n", p->c.name, (double)us / 1000);
}

/* Discover, check, change: 0, or an exit code. Holds the CPU record's lock
 * from the check of other VMs' CPUs to its update. */
static int pin_run(Pin *p, char **args, size_t n) {
    char err[VALUE_ERR_MAX];
    json_object *v;
    p->vcpus = json_object_object_get_ex(p->c.state, "vcpus", &v) ? json_object_get_int(v) : 0;
    if (p->vcpus <= 0) return log_error("%s: its live state does not say how many vCPUs it has", p->c.name), EXIT_RUNTIME;
    _cleanup_free_ char *online_text = NULL;
    CpuList online = { 0 };
    bool have_online = hostroot_read(&p->hr, "/sys/devices/system/cpu/online", &online_text) == 0 && kfile_parse_cpulist(online_text, &online) == 0;
    int r = livepin_parse(args, n, p->vcpus, have_online ? &online : NULL, &p->req, err);
    cpulist_free(&online);
    if (r < 0) return fprintf(stderr, "kvmlaunch pin: %s\n", err), EXIT_CONFIG;
    json_object *fv, *vo;
    if (livepin_follow_emulator(&p->req, json_object_object_get_ex(p->c.state, "vhost_follows_emulator", &fv) && json_object_get_boolean(fv)) &&
        json_object_object_get_ex(p->c.state, "vhost_open", &vo) && json_object_get_boolean(vo))
        log_info("%s: its vhost-net workers follow the emulator ([cpu] vhost = emulator): they move too", p->c.name);

    int64_t t0 = monotonic_us();
    CpuClaimTxn txn;
    if (cpuclaim_begin(&txn) < 0) return EXIT_RUNTIME;
    int rc = EXIT_RUNTIME;
    CpuList claim = new_vcpu_cpus(p);
    for (size_t i = 0; i < p->req.n; i++) {
        const LivePinItem *it = &p->req.v[i];
        for (size_t k = 0; it->key == LIVEPIN_VCPU && k < it->cpus.n; k++) {
            const char *holder = cpuclaims_holder(&txn.claims, it->cpus.cpu[k], p->c.name);
            if (holder) {
                fprintf(stderr, "kvmlaunch pin: vcpu.%d: CPU %d is pinned by the running VM %s; choose CPUs no other VM holds\n", it->vcpu,
                        it->cpus.cpu[k], holder);
                rc = EXIT_CONFIG;
                goto out;
            }
        }
    }
    VmConfig stub;
    memset(&stub, 0, sizeof(stub));
    stub.vm.vcpus = p->vcpus;
    json_object *vh;
    bool vhost_open = json_object_object_get_ex(p->c.state, "vhost_open", &vh) && json_object_get_boolean(vh);
    if (placement_discover(&stub, &p->c.qmp, p->c.qemu, vhost_open ? PLACEMENT_WALK_VHOST : 0, &p->pl) < 0) goto out;
    for (size_t i = 0; i < p->pl.n; i++) {
        const LivePinItem *it = item_for(p, p->pl.t[i].role, p->pl.t[i].index);
        if (it) p->pl.t[i].cpus = cpulist_copy(&it->cpus);
    }
    if (check_threads(p, err) < 0) {
        fprintf(stderr, "kvmlaunch pin: %s\n", err);
        rc = EXIT_CONFIG;
        goto out;
    }
    /* Cgroups first: a cpuset that changes resets its threads' affinity. */
    p->old_state = json_tokener_parse(json_object_to_json_string(p->c.state));
    Steering st = { 0 };
    r = move_cgroups(p);
    if (r == 0) r = move_threads(p);
    if (r == 0) {
        st = update_state(p);
        /* Before the files: the supervisor's refresh must not steer back. */
        r = vmlive_save(p->c.dir_fd, p->c.state);
        p->state_saved = r == 0;
    }
    if (r == 0) r = steer(p, &st);
    steering_free(&st);
    if (r == 0 && claim.n) r = cpuclaim_commit(&txn, p->c.name, &claim);
    else if (r == 0) cpuclaim_abort(&txn);
    if (r < 0) {
        rollback(p);
        goto out;
    }
    report(p, monotonic_us() - t0);
    rc = EXIT_OK;
out:
    cpuclaim_abort(&txn); /* a no-op after commit */
    cpulist_free(&claim);
    return rc;
}

int cmd_pin_main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "kvmlaunch pin: expected NAME KEY=CPULIST... (KEY: vcpu.N, emulator, iothreads, vhost)\n");
        return EXIT_CONFIG;
    }
    Pin p;
    memset(&p, 0, sizeof(p));
    p.hr = (HostRoot)HOSTROOT_INIT;
    int r = vmcontrol_open(argv[1], &p.c);
    int rc = r == -EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
    if (r == 0 && hostroot_open(&p.hr) == 0 && cgroup_detect(&p.hr, &p.cgl) == 0) rc = pin_run(&p, argv + 2, (size_t)argc - 2);
    for (size_t i = 0; i < p.n_undo; i++) {
        free(p.undo[i].what);
        free(p.undo[i].old);
    }
    free(p.undo);
    json_object_put(p.old_state);
    placement_free(&p.pl);
    livepin_request_free(&p.req);
    cgroup_layout_free(&p.cgl);
    hostroot_close(&p.hr);
    vmcontrol_close(&p.c);
    return rc;
}
