/* `kvmlaunch VM.INI`: the whole flow of DESIGN.md in one place, each step
 * undone on the way out. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "cpuclaim.h"
#include "cli.h"
#include "hostfacts.h"
#include "hostnic.h"
#include "hostplan.h"
#include "lockdown.h"
#include "log.h"
#include "notify.h"
#include "numa_place.h"
#include "placement.h"
#include "qemucmd.h"
#include "runtime.h"
#include "spawn.h"
#include "tap.h"
#include "supervise.h"
#include "util.h"
#include "vmplan.h"

#define QMP_START_TIMEOUT_MS 30000
#define STATUS_SOCKET "qmp.sock"

/* The listening socket of the status monitor, in the runtime dir. */
static int open_status_socket(const Runtime *rt) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return log_error_errno(-errno, "Failed to create the status socket: %m");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rt->dir, STATUS_SOCKET);
    if (n >= (int)sizeof(sa.sun_path)) {
        close(fd);
        return log_error_errno(-ENAMETOOLONG, "The runtime dir %s is too long for a socket path", rt->dir);
    }
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int r = -errno;
        close(fd);
        return log_error_errno(r, "Failed to listen on %s: %m", sa.sun_path);
    }
    return fd;
}

typedef struct Started {
    pid_t qemu;
    QmpClient qmp;
    bool qmp_open;
    CgroupVm cgroups;               /* what was created; torn down once QEMU is dead */
    Steering steering;              /* the taps' queue files to keep steered */
} Started;

/* Where a start's time goes: kvmlaunch's own steps against the wait for
 * QEMU to come up. One debug line once the guest runs (`-v`); bench/run
 * reads it (docs/BENCHMARKS.md). */
typedef enum { MARK_START, MARK_CHECKED, MARK_HOST, MARK_SPAWNED, MARK_QMP, MARK_PLACED, MARK_CONT, MARK_N } StartMark;
typedef struct StartTimes {
    int64_t us[MARK_N];
} StartTimes;

static void mark(StartTimes *t, StartMark m) {
    t->us[m] = monotonic_us();
}

static void log_start_times(const StartTimes *t) {
    double ms[MARK_N];
    for (int m = 1; m < MARK_N; m++) ms[m] = (double)(t->us[m] - t->us[m - 1]) / 1000.0;
    double total = (double)(t->us[MARK_CONT] - t->us[MARK_START]) / 1000.0;
    log_debug("start took %.1f ms: checks %.1f, host %.1f, taps and fork %.1f, QEMU up %.1f, placement %.1f, cont %.1f; "
              "kvmlaunch's own %.1f ms",
              total, ms[MARK_CHECKED], ms[MARK_HOST], ms[MARK_SPAWNED], ms[MARK_QMP], ms[MARK_PLACED], ms[MARK_CONT], total - ms[MARK_QMP]);
}

/* Stops a QEMU that never got to run the guest. */
static void kill_qemu(Started *st) {
    if (st->qemu <= 0) return;
    kill(st->qemu, SIGKILL);
    waitpid(st->qemu, NULL, 0);
    st->qemu = 0;
}

/* How long a QMP wait while starting may take: QMP_START_TIMEOUT_MS, or
 * less when the [vm] timeout, which counts from the start, comes sooner. */
static int start_wait_ms(const VmConfig *cfg, int64_t t0) {
    if (!cfg->vm.timeout_ms) return QMP_START_TIMEOUT_MS;
    int64_t left = t0 + (int64_t)cfg->vm.timeout_ms - monotonic_ms();
    return left <= 0 ? 0 : left < QMP_START_TIMEOUT_MS ? (int)left : QMP_START_TIMEOUT_MS;
}

static bool past_timeout(const VmConfig *cfg, int64_t t0) {
    return cfg->vm.timeout_ms && monotonic_ms() >= t0 + (int64_t)cfg->vm.timeout_ms;
}

/* A SIGTERM or SIGINT that came while QEMU was starting: the guest has not
 * run yet, so there is nothing to power down; the start is abandoned. */
static bool stop_requested(int sigfd) {
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (si.ssi_signo != SIGCHLD) stop = true;
    return stop;
}

static int start_and_place(const VmConfig *cfg, HostFacts *facts, char **argv, const Runtime *rt, const struct passwd *pw, bool change_id,
                           Started *st, int64_t t0, int sigfd, const HostRoot *hr, const CgroupLayout *cgl, StartTimes *times) {
    int r;
    int sv[2] = { -1, -1 }, devnull = -1, status_fd = -1, serial_fd = -1, report = -1;
    /* Up here: the early gotos to out must not skip its initialization
     * (its cleanup would free stack garbage). */
    _cleanup_free_ char *serial_path = NULL;
    SpawnFd *fds = NULL;
    TapQueues *taps = NULL;
    char **env = spawn_clean_env();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r = log_error_errno(-errno, "Failed to create the QMP socket pair: %m");
        goto out;
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    status_fd = open_status_socket(rt);
    if (devnull < 0 || status_fd < 0) {
        r = devnull < 0 ? log_error_errno(-errno, "Failed to open /dev/null: %m") : status_fd;
        goto out;
    }
    if (hostfacts_serial(cfg, facts, &serial_path) == SERIAL_FILE) {
        /* Opened as root, written by the guest: never through a symlink
         * swapped in after the checks, never into a device or FIFO. */
        serial_fd = open(serial_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0640);
        struct stat sst;
        if (serial_fd < 0) {
            r = log_error_errno(-errno, "Failed to open the serial log %s: %m", serial_path);
            goto out;
        }
        if (fstat(serial_fd, &sst) < 0 || !S_ISREG(sst.st_mode)) {
            r = log_error_errno(-EINVAL, "Refusing the serial log %s: not a regular file", serial_path);
            goto out;
        }
    }
    /* Taps and vhost-net, opened here as root; QEMU gets the fds. */
    size_t max_fds = 4;
    for (size_t i = 0; i < cfg->n_nets; i++) max_fds += 2 * facts->nets[i].queues;
    fds = xcalloc(max_fds, sizeof(SpawnFd));
    taps = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(TapQueues));
    size_t n_fds = 0;
    fds[n_fds++] = (SpawnFd){ devnull, 0 };
    fds[n_fds++] = (SpawnFd){ sv[1], facts->qmp_fd };
    fds[n_fds++] = (SpawnFd){ status_fd, facts->status_fd };
    if (serial_fd >= 0) fds[n_fds++] = (SpawnFd){ serial_fd, facts->serial_fd };
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetFds *nf = &facts->nets[i];
        r = tap_open(cfg, &cfg->nets[i], nf->vhost != NULL, &taps[i]);
        if (r < 0) goto out;
        for (size_t q = 0; q < nf->queues; q++) {
            fds[n_fds++] = (SpawnFd){ taps[i].fds[q], nf->tap[q] };
            if (nf->vhost) fds[n_fds++] = (SpawnFd){ taps[i].vhost[q], nf->vhost[q] };
        }
        if (vmconf_net_steering(cfg, &cfg->nets[i]) && cfg->cpu.pin.kind != CPUSPEC_AUTO && (r = tap_steer(&taps[i], cfg, &st->steering)) < 0)
            goto out;
    }
    SpawnSpec spec = { .argv = argv, .envp = env, .change_id = change_id, .uid = pw->pw_uid, .gid = pw->pw_gid,
                       .fds = fds, .n_fds = n_fds, .new_process_group = true, .memlock_unlimited = cfg->memory.lock };
    r = spawn_qemu_start(&spec, &st->qemu, &report);
    if (r < 0) goto out;
    mark(times, MARK_SPAWNED);
    close(sv[1]);
    sv[1] = -1;
    qmp_init(&st->qmp, TAKE_FD(sv[0]));
    st->qmp_open = true;
    /* While the child gets to exec. Not the cgroups: made while QEMU starts
     * up, they slowed its start more than they took (docs/BENCHMARKS.md). */
    r = runtime_write_pids((Runtime *)rt, getpid(), st->qemu);
    if (r < 0) goto out;

    r = qmp_handshake(&st->qmp, start_wait_ms(cfg, t0));
    mark(times, MARK_QMP);
    /* QEMU greeted, so exec happened; if not, the child may say why. */
    int rs = spawn_qemu_finish(st->qemu, TAKE_FD(report), argv[0]);
    if (rs < 0) {
        st->qemu = 0; /* reaped */
        r = rs;
        goto out;
    }
    if (r < 0) {
        log_error("QEMU did not come up: %s", st->qmp.error ? st->qmp.error : strerror(-r));
        goto out;
    }
    Placement pl;
    bool vhost_open = false;
    for (size_t i = 0; i < cfg->n_nets; i++) vhost_open |= facts->nets[i].vhost != NULL;
    r = placement_discover(cfg, &st->qmp, st->qemu, vhost_open, &pl);
    /* Cgroups first: joining a cpuset resets a thread's affinity. */
    if (r == 0 && cgl->version != CGROUP_NONE) r = cgroup_setup_vm(hr, cgl, cfg, &pl, st->qemu, &st->cgroups);
    if (r == 0) r = placement_apply(&pl);
    placement_free(&pl);
    if (r < 0) goto out;
    mark(times, MARK_PLACED);
    if (stop_requested(sigfd)) {
        r = log_error_errno(-ECANCELED, "stopped before the guest ran: %s is not started", cfg->vm.name);
        goto out;
    }
    r = qmp_execute(&st->qmp, "cont", NULL, NULL, start_wait_ms(cfg, t0));
    if (r < 0) {
        log_error("cont failed: %s", st->qmp.error);
        goto out;
    }
    mark(times, MARK_CONT);
    log_start_times(times);
    log_info("%s runs: QEMU pid %ld, %lld ms from start to cont", cfg->vm.name, (long)st->qemu, (long long)(monotonic_ms() - t0));
    /* Before lockdown: migrate_pages is not on the supervisor's list. */
    if (cfg->memory.migrate && cfg->memory.nodes.n) numa_place_migrate(st->qemu, &cfg->memory.nodes);
    if (cfg->memory.nodes.n) numa_place_report(hr, st->qemu);
out:
    /* QEMU holds the taps now (or nobody does, and they vanish). */
    for (size_t i = 0; taps && i < cfg->n_nets; i++) tap_close(&taps[i]);
    free(taps);
    free(fds);
    strv_free(env);
    if (sv[0] >= 0) close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    if (devnull >= 0) close(devnull);
    if (status_fd >= 0) close(status_fd);
    if (serial_fd >= 0) close(serial_fd);
    if (report >= 0) close(report);
    return r;
}

/* The checks of `kvmlaunch check`, before anything changes: FAIL lines
 * are errors (exit 2), WARN lines warnings. */
static int run_checks(const VmConfig *cfg, const VmPlan *p) {
    CheckReport rep;
    check_vm(cfg, p, false, &rep);
    for (size_t i = 0; i < rep.n; i++) {
        if (rep.v[i].level == CHECK_FAIL) fprintf(stderr, "%s\n", rep.v[i].msg);
        else if (rep.v[i].level == CHECK_WARN) fprintf(stderr, "warning: %s\n", rep.v[i].msg);
    }
    int r = rep.fails ? -EINVAL : 0;
    check_report_free(&rep);
    return r;
}

/* The CPUs this VM's vCPUs are pinned to, for the host-wide record. */
static CpuList vcpu_cpus(const VmConfig *cfg) {
    const CpuSection *cpu = &cfg->cpu;
    CpuList all = cpu->pin.kind == CPUSPEC_LIST ? cpulist_copy(&cpu->pin.list) : (CpuList){ 0 };
    for (size_t i = 0; i < cpu->n_vcpu_override; i++)
        for (size_t j = 0; j < cpu->vcpu_override[i].n; j++) {
            all.cpu = xrealloc(all.cpu, (all.n + 1) * sizeof(int));
            all.cpu[all.n++] = cpu->vcpu_override[i].cpu[j];
        }
    CpuList s = cpulist_sorted(&all);
    cpulist_free(&all);
    return s;
}

/* Records this VM's vCPU CPUs under the host-wide lock, after its runtime
 * lock is held. Another VM may have claimed CPUs since the checks: pin =
 * auto chooses again (and the plan follows the new node); a fixed list
 * that now overlaps is refused. *claimed says whether there is a record to
 * drop at the end. */
static int claim_cpus(VmConfig *cfg, VmPlan *p, bool *claimed, bool *config_error) {
    *claimed = false;
    CpuClaimTxn txn;
    int r = cpuclaim_begin(&txn);
    if (r < 0) return r;
    CpuList held = cpuclaims_held(&txn.claims, cfg->vm.name);
    CpuList mine = vcpu_cpus(cfg);
    const char *taken_by = NULL;
    for (size_t i = 0; i < mine.n && !taken_by; i++) taken_by = cpuclaims_holder(&txn.claims, mine.cpu[i], cfg->vm.name);
    if (taken_by && p->auto_pin) {
        log_info("%s: CPUs chosen by pin = auto were just taken by %s; choosing again", cfg->vm.name, taken_by);
        errlist_clear(&p->errors);
        errlist_clear(&p->notes);
        r = vmplan_place(cfg, p, &held);
        if (r == 0) r = vmplan_build(cfg, p);
        for (size_t i = 0; i < p->errors.n; i++) fprintf(stderr, "%s\n", p->errors.e[i].msg);
        if (r < 0) *config_error = true;
        cpulist_free(&mine);
        mine = vcpu_cpus(cfg);
    } else if (taken_by) {
        r = log_error_errno(-EBUSY, "%s: its pinned CPUs were just claimed by %s, which started at the same time", cfg->vm.name, taken_by);
    }
    if (r == 0 && mine.n) {
        r = cpuclaim_commit(&txn, cfg->vm.name, &mine);
        *claimed = r == 0;
    } else {
        cpuclaim_abort(&txn);
    }
    cpulist_free(&held);
    cpulist_free(&mine);
    return r;
}

int run_vm(const char *path) {
    StartTimes times = { { 0 } };
    mark(&times, MARK_START);
    int64_t t0 = times.us[MARK_START] / 1000; /* ms, for the [vm] timeout */
    /* Before anything else: the variable must not reach a child. */
    int notify_fd = notify_open();
    VmConfig cfg;
    int rc = cli_load_config(path, &cfg, stderr);
    if (rc) {
        notify_send(notify_fd, "STATUS=%s: bad configuration", path);
        if (notify_fd >= 0) close(notify_fd);
        return rc;
    }
    notify_send(notify_fd, "STATUS=%s: checking the host", cfg.vm.name);
    VmPlan p;
    memset(&p, 0, sizeof(p));
    p.hr = (HostRoot)HOSTROOT_INIT;
    /* What dead VMs left is put back first, so the probe reads the host as
     * it really is; then the checks and the plan, before anything is
     * created. */
    HostRoot hr = HOSTROOT_INIT;
    int r = hostroot_open(&hr);
    if (r == 0 && (hostplan_replay_dead(&hr) < 0 || hostnic_offloads_replay_dead(&hr) < 0)) r = -EIO;
    hostroot_close(&hr);
    if (r < 0 || vmplan_probe(&cfg, &p) < 0) {
        rc = EXIT_RUNTIME;
        goto out_plan;
    }
    CpuList held = cpuclaims_held(&p.claims, cfg.vm.name);
    vmplan_place(&cfg, &p, &held);
    cpulist_free(&held);
    vmplan_build(&cfg, &p);
    if (run_checks(&cfg, &p) < 0) {
        rc = EXIT_CONFIG;
        goto out_plan;
    }
    mark(&times, MARK_CHECKED);
    if (p.auto_pin) log_info("%s: pin = auto: %s", cfg.vm.name, p.choice.why);
    HostFacts *facts = &p.facts;
    struct passwd pw = { 0 };
    bool change_id = false;
    if (cfg.vm.user) {
        struct passwd *pp = getpwnam(cfg.vm.user);
        if (pp) pw = *pp;
        change_id = pp && facts->running_as_root;
    }

    sigset_t oldmask;
    int sigfd = supervise_signals_setup(&oldmask);
    if (sigfd < 0) {
        rc = EXIT_RUNTIME;
        goto out_plan;
    }
    Runtime rt = RUNTIME_INIT;
    pid_t holder = 0;
    r = runtime_acquire(cfg.vm.name, &rt, &holder);
    if (r == -EBUSY) {
        /* The holder may have locked its pid file and not yet written it. */
        if (holder) log_error("%s is already running (kvmlaunch pid %ld); `kvmlaunch stop %s` stops it", cfg.vm.name, (long)holder, cfg.vm.name);
        else log_error("%s is already running (its kvmlaunch is starting); `kvmlaunch stop %s` stops it", cfg.vm.name, cfg.vm.name);
        rc = EXIT_RUNTIME;
        goto out_signals;
    }
    if (r < 0) {
        rc = EXIT_RUNTIME;
        goto out_signals;
    }
    bool claimed = false, config_error = false;
    if (claim_cpus(&cfg, &p, &claimed, &config_error) < 0) {
        rc = config_error ? EXIT_CONFIG : EXIT_RUNTIME;
        runtime_release(&rt);
        goto out_signals;
    }
    if (hostplan_apply(&p.hr, cfg.vm.name, &p.plan) < 0 || (cfg.n_hostnics && hostnic_offloads_apply(&p.hr, &cfg) < 0 &&
                                                            (hostplan_restore(&p.hr, cfg.vm.name), true))) {
        log_error("the host could not be prepared for %s; what was changed is back", cfg.vm.name);
        rc = EXIT_RUNTIME;
        if (claimed) cpuclaim_release(cfg.vm.name);
        runtime_release(&rt);
        goto out_signals;
    }
    mark(&times, MARK_HOST);
    notify_send(notify_fd, "STATUS=%s: starting QEMU paused", cfg.vm.name);
    Started st = { 0 };
    r = start_and_place(&cfg, facts, p.argv.v, &rt, &pw, change_id, &st, t0, sigfd, &p.hr, &p.cgl, &times);
    if (r < 0) {
        kill_qemu(&st);
        rc = EXIT_RUNTIME;
        if (r == -ETIMEDOUT && past_timeout(&cfg, t0)) {
            log_error("%s ran past its timeout of %llus while starting: stopped", cfg.vm.name, (unsigned long long)(cfg.vm.timeout_ms / 1000));
            rc = EXIT_TIMEOUT;
        }
    } else {
        if (facts->running_as_root && lockdown_supervisor() < 0) {
            log_error("Failed to lock the supervisor down: stopping the VM");
            kill_qemu(&st);
            rc = EXIT_RUNTIME;
        } else {
            notify_send(notify_fd, "READY=1\nSTATUS=%s runs: QEMU pid %ld, every thread pinned", cfg.vm.name, (long)st.qemu);
            /* The [vm] timeout counts from the start, not from cont. */
            Supervisor sup = { .cfg = &cfg, .qmp = &st.qmp, .qemu = st.qemu, .sigfd = sigfd, .steering = &st.steering, .notify_fd = notify_fd,
                               .timeout_at_ms = cfg.vm.timeout_ms ? t0 + (int64_t)cfg.vm.timeout_ms : 0 };
            rc = supervise(&sup);
            st.qemu = 0;
        }
    }
    notify_send(notify_fd, "STOPPING=1\nSTATUS=%s: QEMU ended, putting the host back", cfg.vm.name);
    if (st.qmp_open) qmp_close(&st.qmp);
    steering_free(&st.steering);
    /* QEMU is dead: its cgroups are empty and go, its CPUs are free. */
    if (cgroup_teardown_vm(&p.hr, &st.cgroups) < 0)
        log_warning("the cgroups of %s could not all be removed; `kvmlaunch cleanup %s` tries again", cfg.vm.name, cfg.vm.name);
    cgroup_vm_free(&st.cgroups);
    if (claimed && cpuclaim_release(cfg.vm.name) < 0) log_warning("the CPUs of %s stay recorded until its runtime dir is gone", cfg.vm.name);
    if (hostplan_restore(&p.hr, cfg.vm.name) < 0 || hostnic_offloads_restore(&p.hr, cfg.vm.name) < 0) {
        log_error("some host settings could not be put back; `kvmlaunch cleanup %s` tries again", cfg.vm.name);
        if (rc == EXIT_OK) rc = EXIT_RUNTIME;
    }
    runtime_release(&rt);
out_signals:
    /* The mask stays: a SIGTERM that came during teardown must not kill
     * kvmlaunch now and replace its exit code; the process ends next. */
    close(sigfd);
    (void)oldmask;
out_plan:
    if (rc) notify_send(notify_fd, "STATUS=%s: ended with exit code %d", cfg.vm.name, rc);
    if (notify_fd >= 0) close(notify_fd);
    vmplan_free(&p);
    vmconf_free(&cfg);
    return rc;
}
