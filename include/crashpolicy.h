/* [vm] on-crash, on-reboot, watchdog, watchdog-action and restart-limit,
 * carried out by the supervisor, so that a guest reset keeps everything
 * kvmlaunch set up: the host stays prepared, the CPUs claimed, QEMU's
 * threads where they were placed.
 *
 * QEMU is told to pause, never to act by itself (-action panic=pause, and
 * watchdog=pause for every watchdog-action but none): a GUEST_PANICKED or
 * WATCHDOG event then leaves the guest stopped, and the supervisor decides.
 * A reset is system_reset, then cont once QEMU's RESET event says it is
 * done. on-reboot = stop is QEMU's own reboot=shutdown (a guest reboot
 * ends QEMU with status 0); for a reset of its own the supervisor sets
 * reboot=reset first (set-action), since QEMU would otherwise turn it into
 * a shutdown too, and back to shutdown once the firmware is past it:
 * SeaBIOS (firmware = bios) answers every reset with a hard reboot of its
 * own (it puts its ROM copy back, then resets through port 0xcf9), a
 * guest reset that must not end the VM; OVMF does not, and gets
 * reboot=shutdown back at once.
 *
 * The decisions are pure (crashpolicy_decide), tested on a clock of the
 * test's own. The counts go to NAME/restarts.json in the runtime dir,
 * written by the supervisor alone (write, rename), read by `status` and
 * `metrics`:
 *   {"count": N, "last_reason": "panic" | "watchdog" | null,
 *    "last_time": UNIX-SECONDS | null} */
#ifndef KVMLAUNCH_CRASHPOLICY_H
#define KVMLAUNCH_CRASHPOLICY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "qmp.h"
#include "vmconf.h"

#define CRASH_STATE_FILE "restarts.json"

/* What an event of QEMU's says about the guest. */
typedef enum { TROUBLE_NONE, TROUBLE_PANIC, TROUBLE_WATCHDOG } Trouble;

typedef enum {
    CRASH_IGNORE,                   /* logged, nothing done (watchdog-action = none) */
    CRASH_RESET,                    /* reset the guest and let it run again */
    CRASH_HOLD,                     /* keep it paused for inspection */
    CRASH_STOP,                     /* end the VM, exit 1 */
    CRASH_LIMIT,                    /* a reset past restart-limit: end the VM, exit 1 */
} CrashDecision;

typedef struct CrashWatch {
    const VmSection *vm;
    int rundir_fd;                  /* where restarts.json goes; -1: nowhere */
    int64_t *reset_ms;              /* owned: a ring of the last restart_limit.count resets (monotonic ms) */
    size_t ring_cap, ring_next, ring_n;
    uint64_t restarts;              /* resets made so far */
    Trouble last;                   /* the reason of the last one */
    int64_t last_time;              /* when, in seconds since the epoch */
    Trouble held;                   /* kept paused for inspection after this; TROUBLE_NONE: not held */
    bool cont_pending;              /* system_reset sent: cont when QEMU's RESET event comes */
    int64_t cont_at_ms;             /* or at this time, whatever came */
    bool reboot_pending;            /* on-reboot = stop: reboot=shutdown again after SeaBIOS's own reset */
    int64_t reboot_at_ms;           /* or at this time, whatever came */
} CrashWatch;

void crashwatch_init(CrashWatch *w, const VmSection *vm, int rundir_fd);
void crashwatch_free(CrashWatch *w);

/* Pure: the trouble an event reports (GUEST_PANICKED, WATCHDOG), or
 * TROUBLE_NONE. */
Trouble crashpolicy_trouble(json_object *event);
/* "panic", "watchdog" or NULL. */
const char *crashpolicy_trouble_name(Trouble t);

/* Pure: what to do about T at NOW_MS (monotonic). CRASH_RESET is counted
 * in W (the ring, restarts, last: the caller fills last_time); CRASH_LIMIT
 * when that reset would be one more than restart-limit allows. */
CrashDecision crashpolicy_decide(CrashWatch *w, Trouble t, int64_t now_ms);

/* Pure: restart-limit as written, "5/10m". Caller frees. */
char *crashpolicy_limit_text(const RestartLimit *l);

/* Pure: QEMU's -action value for VM: "reboot=reset,panic=pause" and so on. */
char *crashpolicy_qemu_action(const VmSection *vm);

/* Pure: the restarts.json object of W. */
json_object *crashpolicy_state_json(const CrashWatch *w);

/* Supervisor: the reset itself (set-action reboot=reset first with
 * on-reboot = stop, system_reset). 0 or -errno (said). */
int crashwatch_reset(CrashWatch *w, QmpClient *q, int64_t now_ms);
/* Supervisor, for each event: the cont and the reboot=shutdown that a
 * reset waits for. 0, or -errno (said) when the guest cannot run on. */
int crashwatch_event(CrashWatch *w, QmpClient *q, json_object *event);
/* Supervisor, on each wake-up: the same when their events did not come in
 * time. Returns NEXT, or an earlier deadline of W's. */
int64_t crashwatch_tick(CrashWatch *w, QmpClient *q, int64_t now_ms, int64_t next, int *error);
/* Writes restarts.json (when W has a runtime dir). */
int crashwatch_save(const CrashWatch *w);

/* `status` and `metrics`: the "restarts" object of NAME's runtime dir
 * (count 0, nulls when the file is not there). */
json_object *crashpolicy_read_state(const char *name);

#endif
