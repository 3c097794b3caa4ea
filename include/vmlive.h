/* What the commands that change a running VM share (`qmp`, `balloon`,
 * `pin`): the VM's control monitor and its live state.
 *
 * The control monitor is QEMU's third monitor, on the listening socket
 * NAME/control.sock in the runtime dir (mode 0700, root's: only root may
 * connect), apart from the supervisor's and from status' (NAME/qmp.sock),
 * so `status` keeps working while a control client is connected. QEMU
 * serves one client at a time on it; the clients take NAME/control.lock
 * (flock) first, so a second one waits a little and is then told the
 * monitor is busy, never left hanging.
 *
 * The live state, NAME/live.json, replaced atomically (write, rename):
 *   {"vcpus": N, "vhost_open": bool,
 *    "placement": {"vcpu": ["CPULIST", ...], "emulator": "CPULIST",
 *                  "iothreads": "CPULIST", "vhost": "CPULIST"},   "" = not pinned
 *    "steering": [{"path": ".../queues/rx-0/rps_cpus", "vcpu": 0, "mask": "2"}, ...],
 *    "vhost_follows_emulator": bool,   [cpu] vhost = emulator, until `pin vhost=...`
 *    "balloon_target_bytes": BYTES,                                 absent: never set
 *    "shutdown_timeout_ms": MS}                                      [vm] shutdown-timeout (agent.h)
 * The supervisor writes it once the guest runs; `pin` and `balloon`
 * rewrite it under control.lock; `status` reads it; the supervisor's
 * steering refresh follows its masks, so a re-pin is not undone. */
#ifndef KVMLAUNCH_VMLIVE_H
#define KVMLAUNCH_VMLIVE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "qmp.h"
#include "tap.h"
#include "vmconf.h"

#define VMLIVE_SOCKET "control.sock"
#define VMLIVE_LOCK "control.lock"
#define VMLIVE_STATE "live.json"
/* How long a second client waits for the monitor before it is told busy. */
#define VMLIVE_BUSY_WAIT_MS 2000
/* QEMU answers a connected client's greeting at once; a longer silence
 * is a monitor taken by someone who bypassed the lock. */
#define VMLIVE_HANDSHAKE_MS 5000

typedef struct VmControl {
    char *name;                     /* owned */
    char *dir;                      /* owned: BASE/NAME */
    int dir_fd;                     /* owned */
    int lock_fd;                    /* owned, flock'ed */
    pid_t supervisor, qemu;
    QmpClient qmp;                  /* connected, capabilities negotiated */
    json_object *state;             /* owned: live.json as it was when opened */
} VmControl;

/* Connects to NAME's control monitor under its lock and loads its live
 * state. Says why it fails: -EINVAL bad name, -ESRCH not running,
 * -EAGAIN still starting (no live state yet), -EBUSY another client holds
 * it, else -errno. */
int vmcontrol_open(const char *name, VmControl *c);
void vmcontrol_close(VmControl *c);

/* The live state of the runtime dir DIR_FD: a new object (empty when there
 * is none), or NULL (said) when it cannot be read. */
json_object *vmlive_load(int dir_fd);
/* Replaces it atomically. */
int vmlive_save(int dir_fd, json_object *state);
/* The same for another FILE of the runtime dir (restarts.json). */
json_object *vmlive_load_file(int dir_fd, const char *file);
int vmlive_save_file(int dir_fd, const char *file, json_object *state);

/* Supervisor, once the guest runs: the placement CFG asked for, the taps'
 * steering ST, and an empty control.lock for clients to take. */
int vmlive_record_start(int dir_fd, const VmConfig *cfg, bool vhost_open, const Steering *st);

/* Pure: the steering entries of ST as live.json keeps them (the vCPU of
 * queue i is i mod VCPUS). */
json_object *vmlive_steering_json(const Steering *st, long vcpus);

/* Supervisor: when live.json changed since *STAMP, the masks it lists for
 * ST's files replace ST's. Returns 1 when they were reloaded, 0 when
 * nothing changed, -errno when it could not be read (ST is kept). */
typedef struct VmLiveStamp {
    ino_t ino;
    struct timespec mtime;
    bool known;
} VmLiveStamp;
int vmlive_steering_follow(int dir_fd, Steering *st, VmLiveStamp *stamp);

/* The member KEY of O when it is a string, else NULL. */
const char *vmlive_str(json_object *o, const char *key);

#endif
