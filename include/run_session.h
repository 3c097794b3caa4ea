/* One start of a VM (include/run.h) as a session: what it holds, and which
 * of its steps it reached, so that one function, run_session_end, undoes
 * exactly those, for a start that failed half way and for a VM that ended
 * alike. Private to launcher/vm/run*.c. */
#ifndef KVMLAUNCH_RUN_SESSION_H
#define KVMLAUNCH_RUN_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "hostroot.h"
#include "placewatch.h"
#include "qmp.h"
#include "runtime.h"
#include "serialrelay.h"
#include "share.h"
#include "tap.h"
#include "tpm.h"
#include "vmconf.h"
#include "vmplan.h"

/* The steps a start reaches, in the order run_session_end undoes them,
 * last first. That is the order a start reaches them, except where undoing
 * needs another order: QEMU must be dead before its cgroups can go, and
 * systemd hears that the host is being put back as soon as QEMU is gone. */
typedef enum RunStep {
    RUN_LOADED,                     /* cfg and plan held; undo: "ended with exit code" when not 0, free */
    RUN_SIGNALS,                    /* signals go to sigfd; undo: close it (the mask stays) */
    RUN_RUNTIME,                    /* the runtime dir is ours, locked */
    RUN_CPUS,                       /* this VM's CPUs are in the host-wide record */
    RUN_HOSTPLAN,                   /* the host plan is applied */
    RUN_OFFLOADS,                   /* the NICs' offloads are applied (none to apply counts) */
    RUN_HOSTDEVS,                   /* [hostdev] devices are on vfio-pci (none counts); undo after QEMU closed them */
    RUN_CGROUPS,                    /* cgroups asked for: cgroups records what was made */
    RUN_VIRTIOFSD,                  /* virtiofsds started (vfs); undo: kill and reap them, after QEMU, before the cgroups go */
    RUN_SWTPM,                      /* swtpm started (tpm); undo: stop and reap it, after QEMU, before the cgroups go */
    RUN_QMP,                        /* qmp is open */
    RUN_ANNOUNCED,                  /* systemd heard "starting QEMU"; undo: STOPPING=1 */
    RUN_QEMU,                       /* QEMU is alive and ours to kill (not yet reaped) */
    RUN_N
} RunStep;

/* Where a start's time goes: kvmlaunch's own steps against the wait for
 * QEMU to come up. One debug line once the guest runs (`-v`); bench/run
 * reads it (docs/BENCHMARKS.md). */
typedef enum { MARK_START, MARK_CHECKED, MARK_HOST, MARK_SPAWNED, MARK_QMP, MARK_PLACED, MARK_CONT, MARK_N } StartMark;

typedef struct RunSession {
    unsigned reached;               /* 1 << RunStep for each step reached */
    int64_t us[MARK_N];             /* monotonic_us() at each StartMark */
    int64_t t0;                     /* ms at the start, for the [vm] timeout */
    int notify_fd;                  /* owned, or -1 */
    VmConfig cfg;
    VmPlan p;
    int sigfd;
    sigset_t oldmask;
    Runtime rt;
    pid_t qemu;
    QmpClient qmp;
    CgroupVm cgroups;
    Steering steering;              /* the taps' queue files to keep steered */
    SerialRelay serial;             /* the serial console, when serial_on */
    bool serial_on;
    VirtiofsdSet vfs;               /* one virtiofsd per virtiofs [share] */
    Swtpm tpm;                      /* the swtpm of [tpm] enabled */
    int state_fd;                   /* owned: the VM's state dir (statedir.h) while QEMU starts, or -1 */
    HostRoot proc;                  /* the real /proc, for the placement and its watch */
    PlaceWatch watch;               /* the placement the supervisor keeps, when watch_on */
    bool watch_on;
} RunSession;

/* Marks the start, opens the notify socket (before anything else: its
 * variable must not reach a child); nothing reached yet. */
void run_session_open(RunSession *s);
void run_session_reach(RunSession *s, RunStep step);
/* The step is undone already (QEMU reaped by the supervisor). */
void run_session_leave(RunSession *s, RunStep step);
bool run_session_reached(const RunSession *s, RunStep step);
void run_session_mark(RunSession *s, StartMark m);
void run_session_log_times(const RunSession *s);

/* Undoes every step reached, last first, and returns the exit code: RC,
 * or EXIT_RUNTIME where RC is 0 and the host could not all be put back. */
int run_session_end(RunSession *s, int rc);

/* Opens what QEMU gets, spawns it paused, waits for QMP, places its
 * threads and lets the guest run (launcher/vm/run_start.c). */
int run_start_qemu(RunSession *s);

#endif
