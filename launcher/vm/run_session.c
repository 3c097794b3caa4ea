/* A start as a session (include/run_session.h): the steps it reached and
 * the one way back from them. */
#include "run_session.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpuclaim.h"
#include "exitcode.h"
#include "hostnic.h"
#include "hostplan.h"
#include "log.h"
#include "notify.h"
#include "supervise.h"

void run_session_open(RunSession *s) {
    memset(s, 0, sizeof(*s));
    run_session_mark(s, MARK_START);
    s->t0 = s->us[MARK_START] / 1000;
    s->notify_fd = notify_open();
    s->p.hr = (HostRoot)HOSTROOT_INIT;
    s->sigfd = -1;
    s->rt = (Runtime)RUNTIME_INIT;
    s->qmp.fd = -1;
    s->state_fd = -1;
}

void run_session_reach(RunSession *s, RunStep step) { s->reached |= 1u << step; }
void run_session_leave(RunSession *s, RunStep step) { s->reached &= ~(1u << step); }
bool run_session_reached(const RunSession *s, RunStep step) { return s->reached & (1u << step); }

void run_session_mark(RunSession *s, StartMark m) { s->us[m] = monotonic_us(); }

void run_session_log_times(const RunSession *s) {
    double ms[MARK_N];
    for (int m = 1; m < MARK_N; m++) ms[m] = (double)(s->us[m] - s->us[m - 1]) / 1000.0;
    double total = (double)(s->us[MARK_CONT] - s->us[MARK_START]) / 1000.0;
    log_debug("start took %.1f ms: checks %.1f, host %.1f, taps and fork %.1f, QEMU up %.1f, placement %.1f, cont %.1f; "
              "kvmlaunch's own %.1f ms",
              total, ms[MARK_CHECKED], ms[MARK_HOST], ms[MARK_SPAWNED], ms[MARK_QMP], ms[MARK_PLACED], ms[MARK_CONT], total - ms[MARK_QMP]);
}

/* Undoes STEP. Returns false where something of the host could not be put
 * back (the exit code then says so). */
static bool undo(RunSession *s, RunStep step, int rc) {
    const char *name = s->cfg.vm.name;
    switch (step) {
    case RUN_QEMU:
        /* A QEMU the supervisor did not reap never got to run the guest, or
         * has to go because the supervisor cannot watch it. */
        kill(s->qemu, SIGKILL);
        waitpid(s->qemu, NULL, 0);
        s->qemu = 0;
        return true;
    case RUN_ANNOUNCED: notify_send(s->notify_fd, "STOPPING=1\nSTATUS=%s: QEMU ended, putting the host back", name); return true;
    case RUN_QMP: qmp_close(&s->qmp); return true;
    case RUN_VIRTIOFSD: virtiofsd_stop(&s->vfs); return true;
    case RUN_CGROUPS:
        /* QEMU is dead: its cgroups are empty and go. */
        if (cgroup_teardown_vm(&s->p.hr, &s->cgroups) < 0)
            log_warning("the cgroups of %s could not all be removed; `kvmlaunch cleanup %s` tries again", name, name);
        cgroup_vm_free(&s->cgroups);
        return true;
    case RUN_OFFLOADS: return hostnic_offloads_restore(&s->p.hr, name) >= 0;
    case RUN_HOSTPLAN: return hostplan_restore(&s->p.hr, name) >= 0;
    case RUN_CPUS:
        if (cpuclaim_release(name) < 0) log_warning("the CPUs of %s stay recorded until its runtime dir is gone", name);
        return true;
    case RUN_RUNTIME:
        /* `kvmlaunch pin` records CPUs for a VM that started with none. */
        if (!run_session_reached(s, RUN_CPUS) && cpuclaim_release(name) < 0)
            log_warning("the CPUs of %s stay recorded until its runtime dir is gone", name);
        runtime_release(&s->rt);
        return true;
    case RUN_SIGNALS:
        /* The mask stays: a SIGTERM that came during teardown must not kill
         * kvmlaunch now and replace its exit code; the process ends next. */
        close(s->sigfd);
        return true;
    case RUN_LOADED:
        if (rc) notify_send(s->notify_fd, "STATUS=%s: ended with exit code %d", name, rc);
        vmplan_free(&s->p);
        vmconf_free(&s->cfg);
        return true;
    case RUN_N: break;
    }
    return true;
}

int run_session_end(RunSession *s, int rc) {
    bool host_back = true;
    for (int step = RUN_N - 1; step >= 0; step--) {
        if (!run_session_reached(s, (RunStep)step)) continue;
        host_back &= undo(s, (RunStep)step, rc);
        run_session_leave(s, (RunStep)step);
        /* The last of the host's steps: a host left changed fails a run that
         * went well, before the exit code is told. */
        if (step == RUN_HOSTPLAN && !host_back) {
            log_error("some host settings could not be put back; `kvmlaunch cleanup %s` tries again", s->cfg.vm.name);
            if (rc == EXIT_OK) rc = EXIT_RUNTIME;
        }
    }
    steering_free(&s->steering);
    if (s->serial_on) serial_relay_close(&s->serial);
    s->serial_on = false;
    if (s->notify_fd >= 0) close(s->notify_fd);
    s->notify_fd = -1;
    if (s->state_fd >= 0) close(s->state_fd);
    s->state_fd = -1;
    return rc;
}
