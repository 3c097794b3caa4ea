/* `kvmlaunch VM.INI`: the whole flow of DESIGN.md in one place. Each step
 * it reaches is recorded in a session (include/run_session.h), and
 * run_session_end undoes them on the way out, whichever way that is. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "caller.h"
#include "cgroup.h"
#include "check.h"
#include "cpuclaim.h"
#include "hostnic.h"
#include "hostdev.h"
#include "hostplan.h"
#include "boottime.h"
#include "lockdown.h"
#include "log.h"
#include "notify.h"
#include "run_session.h"
#include "supervise.h"
#include "util.h"
#include "vmplan.h"

void run_print_errlist(FILE *f, const ErrList *el, const char *prefix) {
    for (size_t i = 0; i < el->n; i++) fprintf(f, "%s%s\n", prefix, el->e[i].msg);
    if (el->full) fprintf(f, "%sstopped after %d messages; fix these first\n", prefix, ERRLIST_MAX);
}

int run_load_config(const char *path, VmConfig *cfg, FILE *err) {
    ErrList errors = { 0 };
    /* Read as the user kvmlaunch runs for (under sudo: SUDO_UID), so its
     * messages never show a file that user could not read. */
    memset(cfg, 0, sizeof(*cfg));
    _cleanup_close_ int fd = caller_open_config(path, &errors);
    int r = fd < 0 ? fd : vmconf_load_fd(fd, path, cfg, &errors);
    run_print_errlist(err, &errors, "");
    errlist_clear(&errors);
    if (r < 0) return EXIT_CONFIG;
    log_set_vm_name(cfg->vm.name);
    run_print_errlist(err, &cfg->notes, "note: ");
    return EXIT_OK;
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
 * that now overlaps is refused. Returns 0 or an exit code. */
static int claim_cpus(RunSession *s) {
    VmConfig *cfg = &s->cfg;
    VmPlan *p = &s->p;
    CpuClaimTxn txn;
    int r = cpuclaim_begin(&txn);
    if (r < 0) return EXIT_RUNTIME;
    CpuList held = cpuclaims_held(&txn.claims, cfg->vm.name);
    CpuList mine = vcpu_cpus(cfg);
    const char *taken_by = NULL;
    int rc = EXIT_RUNTIME;
    for (size_t i = 0; i < mine.n && !taken_by; i++) taken_by = cpuclaims_holder(&txn.claims, mine.cpu[i], cfg->vm.name);
    if (taken_by && p->auto_pin) {
        log_info("%s: CPUs chosen by pin = auto were just taken by %s; choosing again", cfg->vm.name, taken_by);
        r = vmplan_replan(cfg, p, &held);
        for (size_t i = 0; i < p->errors.n; i++) fprintf(stderr, "%s\n", p->errors.e[i].msg);
        if (r < 0) rc = EXIT_CONFIG;
        cpulist_free(&mine);
        mine = vcpu_cpus(cfg);
    } else if (taken_by) {
        r = log_error_errno(-EBUSY, "%s: its pinned CPUs were just claimed by %s, which started at the same time", cfg->vm.name, taken_by);
    }
    if (r == 0 && mine.n) {
        r = cpuclaim_commit(&txn, cfg->vm.name, &mine);
        if (r == 0) run_session_reach(s, RUN_CPUS);
    } else {
        cpuclaim_abort(&txn);
    }
    cpulist_free(&held);
    cpulist_free(&mine);
    return r < 0 ? rc : EXIT_OK;
}

/* What dead VMs left is put back first, so the probe reads the host as it
 * really is; then the plan and the checks, before anything is created. */
static int probe_and_plan(RunSession *s) {
    HostRoot hr = HOSTROOT_INIT;
    int r = hostroot_open(&hr);
    if (r == 0 && (hostplan_replay_dead(&hr) < 0 || hostnic_offloads_replay_dead(&hr) < 0 || hostdev_replay_dead(&hr) < 0)) r = -EIO;
    hostroot_close(&hr);
    if (r < 0 || vmplan_probe(&s->cfg, &s->p) < 0) return EXIT_RUNTIME;
    CpuList held = cpuclaims_held(&s->p.claims, s->cfg.vm.name);
    vmplan_replan(&s->cfg, &s->p, &held);
    cpulist_free(&held);
    if (run_checks(&s->cfg, &s->p) < 0) return EXIT_CONFIG;
    run_session_mark(s, MARK_CHECKED);
    if (s->p.auto_pin) log_info("%s: pin = auto: %s", s->cfg.vm.name, s->p.choice.why);
    return EXIT_OK;
}

/* The VM's own: its signals, its runtime dir, its CPUs. */
static int take_vm(RunSession *s) {
    const char *name = s->cfg.vm.name;
    s->sigfd = supervise_signals_setup(&s->oldmask);
    if (s->sigfd < 0) return EXIT_RUNTIME;
    run_session_reach(s, RUN_SIGNALS);
    pid_t holder = 0;
    int r = runtime_acquire(name, &s->rt, &holder);
    if (r == -EBUSY) {
        /* The holder may have locked its pid file and not yet written it. */
        if (holder) log_error("%s is already running (kvmlaunch pid %ld); `kvmlaunch stop %s` stops it", name, (long)holder, name);
        else log_error("%s is already running (its kvmlaunch is starting); `kvmlaunch stop %s` stops it", name, name);
    }
    if (r < 0) return EXIT_RUNTIME;
    run_session_reach(s, RUN_RUNTIME);
    return claim_cpus(s);
}

/* The host plan and the NICs' offloads; each undoes itself when it fails. */
static int prepare_host(RunSession *s) {
    int r = hostplan_apply(&s->p.hr, s->cfg.vm.name, &s->p.plan);
    if (r == 0) {
        run_session_reach(s, RUN_HOSTPLAN);
        if (s->cfg.n_hostnics) r = hostnic_offloads_apply(&s->p.hr, &s->cfg);
    }
    if (r == -ENOTRECOVERABLE) {
        log_error("the host could not be prepared for %s, and some of what was changed could not be put back; `kvmlaunch cleanup %s` "
                  "tries again", s->cfg.vm.name, s->cfg.vm.name);
        return EXIT_RUNTIME;
    }
    if (r < 0) {
        log_error("the host could not be prepared for %s; what was changed is back", s->cfg.vm.name);
        return EXIT_RUNTIME;
    }
    run_session_reach(s, RUN_OFFLOADS);
    if (s->cfg.n_hostdevs) {
        SpawnIdentity id = hostfacts_qemu_identity(&s->p.facts);
        r = hostdev_apply(&s->p.hr, &s->cfg, &s->p.facts.hostdev, id.change_id ? id.uid : geteuid(), id.change_id ? id.gid : getegid());
        if (r < 0) {
            log_error("the devices of %s could not be handed to vfio-pci; %s", s->cfg.vm.name,
                      r == -ENOTRECOVERABLE ? "some could not be put back: `kvmlaunch cleanup NAME` tries again" : "what was changed is back");
            return EXIT_RUNTIME;
        }
    }
    run_session_reach(s, RUN_HOSTDEVS);
    run_session_mark(s, MARK_HOST);
    return EXIT_OK;
}

static bool past_timeout(const RunSession *s) {
    return s->cfg.vm.timeout_ms && monotonic_ms() >= s->t0 + (int64_t)s->cfg.vm.timeout_ms;
}

/* The helpers QEMU relies on: virtiofsds and swtpm. */
static void reap_helpers(void *arg) {
    RunSession *s = arg;
    virtiofsd_reap(&s->vfs);
    swtpm_reap(&s->tpm);
}

/* QEMU started, the supervisor locked down, then supervised until QEMU
 * ends. Returns the exit code. */
static int start_and_supervise(RunSession *s) {
    VmConfig *cfg = &s->cfg;
    notify_send(s->notify_fd, "STATUS=%s: starting QEMU paused", cfg->vm.name);
    run_session_reach(s, RUN_ANNOUNCED);
    int r = run_start_qemu(s);
    if (r == -ETIMEDOUT && past_timeout(s)) {
        log_error("%s ran past its timeout of %llus while starting: stopped", cfg->vm.name, (unsigned long long)(cfg->vm.timeout_ms / 1000));
        return EXIT_TIMEOUT;
    }
    if (r < 0) return EXIT_RUNTIME;
    if (s->cfg.n_hostdevs) lockdown_allow_hostdevs();
    if (s->p.facts.running_as_root && lockdown_supervisor() < 0) {
        log_error("Failed to lock the supervisor down: stopping the VM");
        return EXIT_RUNTIME;
    }
    notify_send(s->notify_fd, "READY=1\nSTATUS=%s runs: QEMU pid %ld, every thread pinned", cfg->vm.name, (long)s->qemu);
    BootTimeline boot;
    boottime_init(&boot, cfg, s->us[MARK_START], s->us[MARK_QMP], s->us[MARK_CONT], s->serial_on, s->rt.dir_fd);
    if (s->serial_on) {
        s->serial.on_output = boottime_output;
        s->serial.on_output_arg = &boot;
    }
    /* The [vm] timeout counts from the start, not from cont. */
    Supervisor sup = { .cfg = cfg, .qmp = &s->qmp, .qemu = s->qemu, .sigfd = s->sigfd, .steering = &s->steering, .notify_fd = s->notify_fd,
                       .serial = s->serial_on ? &s->serial : NULL, .rundir_fd = s->rt.dir_fd,
                       .timeout_at_ms = cfg->vm.timeout_ms ? s->t0 + (int64_t)cfg->vm.timeout_ms : 0,
                       .reap_helpers = reap_helpers, .helpers = s, .boot = &boot, .watch = s->watch_on ? &s->watch : NULL };
    int rc = supervise(&sup);
    s->serial.on_output = NULL;
    /* The supervisor reaped QEMU. */
    run_session_leave(s, RUN_QEMU);
    s->qemu = 0;
    return rc;
}

int run_vm(const char *path) {
    RunSession s;
    run_session_open(&s);
    int rc = run_load_config(path, &s.cfg, stderr);
    if (rc) {
        notify_send(s.notify_fd, "STATUS=%s: bad configuration", path);
        return run_session_end(&s, rc);
    }
    run_session_reach(&s, RUN_LOADED);
    notify_send(s.notify_fd, "STATUS=%s: checking the host", s.cfg.vm.name);
    rc = probe_and_plan(&s);
    if (rc == EXIT_OK) rc = take_vm(&s);
    if (rc == EXIT_OK) rc = prepare_host(&s);
    if (rc == EXIT_OK) rc = start_and_supervise(&s);
    if (rc == EXIT_RUNTIME && !run_session_reached(&s, RUN_QMP)) caller_explain_unprivileged();
    return run_session_end(&s, rc);
}
