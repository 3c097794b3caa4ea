/* Running a VM end to end: load, plan, spawn QEMU paused, place its
 * threads, cont, supervise, tear down. */
#ifndef KVMLAUNCH_SUPERVISE_H
#define KVMLAUNCH_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "crashpolicy.h"
#include "qmp.h"
#include "vmconf.h"
#include "vmlive.h"

/* STOP_CRASH: a panic or a watchdog ended it as [vm] on-crash,
 * watchdog-action or restart-limit say (exit 1). */
typedef enum { STOP_NONE, STOP_SIGNAL, STOP_TIMEOUT, STOP_BOOT_BUDGET, STOP_CRASH } StopReason;

typedef struct Supervisor {
    const VmConfig *cfg;
    QmpClient *qmp;                 /* NULL once QEMU closed it */
    pid_t qemu;
    int sigfd;
    int64_t timeout_at_ms;          /* 0: no [vm] timeout */
    int64_t quit_at_ms;             /* graceful shutdown gives way to quit */
    int64_t kill_at_ms;             /* quit gives way to SIGKILL */
    StopReason stop;
    bool killed;
    unsigned resets;                /* RESET events seen */
    struct Steering *steering;      /* tap queue files to keep steered, or NULL */
    int64_t steer_at_ms;            /* next check of them */
    int rundir_fd;                  /* the runtime dir: its live.json may re-steer them (`kvmlaunch pin`); -1: none */
    VmLiveStamp live;               /* the live.json the masks were last taken from */
    int notify_fd;                  /* the service manager's socket (include/notify.h), or -1 */
    struct SerialRelay *serial;     /* the serial console to relay (serialrelay.h), or NULL */
    void (*reap_helpers)(void *arg); /* on each wake-up: reap and report helpers (virtiofsd, swtpm) that ended; or NULL */
    void *helpers;
    struct BootTimeline *boot;      /* the boot timeline, held against [vm] boot-budget (boottime.h), or NULL */
    struct PlaceWatch *watch;       /* the placement to keep (placewatch.h), or NULL */
    CrashWatch crash;               /* set up by supervise itself (include/crashpolicy.h) */
} Supervisor;

/* Blocks the signals the supervisor reads from a signalfd (before fork, so
 * none is lost) and returns that fd. */
int supervise_signals_setup(sigset_t *old);

/* Supervises until QEMU is gone; returns kvmlaunch's exit code. */
int supervise(Supervisor *s);

/* The exit code for QEMU's wait status (CONFIG.md "Exit codes"). */
int supervise_exit_code(const VmConfig *cfg, int wait_status, StopReason stop, bool killed);

int64_t monotonic_ms(void);
int64_t monotonic_us(void);

#endif
