/* Placement that checks itself: while the VM runs, the supervisor looks at
 * every thread of QEMU, of its helper daemons (virtiofsd, swtpm, ...) and of
 * the kernel threads that work for it (kvm-pit/PID, vhost-PID), and puts
 * back what drifted off its CPUs or out of its cgroup: threads QEMU starts
 * later inherit the CPUs and cgroup of whichever thread made them (an I/O
 * worker a vCPU spawned lands on that vCPU's CPU), and an admin's taskset
 * or a cgroup move undoes the start's placement.
 *
 * When: QEMU's task directory is listed every PLACEWATCH_LIST_MS (one
 * getdents, a few µs) and everything is checked when its thread count
 * changed or PLACEWATCH_FULL_MS passed since the last full check (two small
 * /proc reads per thread: status and cgroup, about 20 µs a thread). New
 * threads are so caught within a second; a drift that keeps the thread
 * count within five. A `kvmlaunch pin`, `qmp` or `balloon` client holding
 * control.lock postpones the check: the placement it changes is in
 * live.json afterwards, and that is what is kept from then on.
 *
 * What is expected of a thread: a vCPU ("CPU N/...") its vcpu.N CPUs and
 * cgroup vcpuN; an I/O thread known at the start its iothreads CPUs and
 * iothreadN; a vhost task or kernel thread the vhost CPUs (cgroup: vhost
 * when the VM has that group, else emulator); every other thread, the
 * kernel threads of the emulator and each helper's threads (and those of
 * its children), the emulator's CPUs and cgroup. An empty CPU list is not
 * checked (not pinned); the cgroup is checked when the VM has cgroups.
 *
 * A repair is logged once per task and kind (CPUs, cgroup), at most
 * PLACEWATCH_LOG_MAX lines in all (then one line says the rest are only
 * counted), and counted (a failed one is said once, as a warning, and not
 * counted); the counts go to NAME/placement.json in the
 * runtime dir, which `status` and `metrics` show:
 *   {"checks": N, "repairs": N, "affinity_repairs": N, "cgroup_repairs": N,
 *    "threads": N, "helpers": [{"pid": N, "role": "virtiofsd"}, ...]} */
#ifndef KVMLAUNCH_PLACEWATCH_H
#define KVMLAUNCH_PLACEWATCH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cgroup.h"
#include "hostroot.h"
#include "placement.h"
#include "vmconf.h"

#define PLACEWATCH_LIST_MS 1000
#define PLACEWATCH_FULL_MS 5000
#define PLACEWATCH_LOG_MAX 16
#define PLACEWATCH_FILE "placement.json"

typedef struct PlaceWatchTask {
    pid_t tid;
    ThreadRole role;
    int index;                      /* I/O thread number; -1 */
    bool process;                   /* a process of its own (kvm-pit, vhost-PID kernel thread) */
    char name[32];                  /* its comm as found at the start, to know it again */
} PlaceWatchTask;

typedef struct PlaceWatchHelper {
    pid_t pid;                      /* a child of the supervisor */
    char role[16];                  /* "virtiofsd", "swtpm" */
} PlaceWatchHelper;

typedef struct PlaceWatch {
    const char *vm;                 /* borrowed: the VM's name */
    const HostRoot *proc;           /* borrowed: where /proc is read and CPUs are set (the real root, or a test's tree) */
    const HostRoot *cg;             /* borrowed: where the cgroups are written (the run's HostRoot) */
    CgroupVersion cg_version;       /* CGROUP_NONE: cgroups not checked */
    char *cg_dir;                   /* owned: BASE/kvmlaunch/NAME as a host path */
    char *cg_rel;                   /* owned: the same as /proc/TID/cgroup names it */
    bool vhost_group;               /* the VM has a vhost group */
    int rundir_fd;                  /* borrowed: live.json, control.lock, placement.json; -1: none */
    pid_t qemu;
    PlaceWatchTask *known;          /* owned: tasks placed at the start that their name cannot tell */
    size_t n_known;
    PlaceWatchHelper *helpers;      /* owned */
    size_t n_helpers;
    CpuList *vcpu;                  /* owned: each vCPU's CPUs */
    size_t n_vcpu;
    CpuList emulator, iothreads, vhost; /* owned */
    ino_t live_ino;                 /* live.json as last read */
    struct timespec live_mtime;
    size_t threads;                 /* QEMU's thread count at the last listing */
    int64_t list_at_ms, full_at_ms; /* the next listing and full check */
    uint64_t checks, affinity_repairs, cgroup_repairs;
    struct { pid_t tid; int kind; } logged[PLACEWATCH_LOG_MAX];
    size_t n_logged;
    bool quiet_said;
} PlaceWatch;

/* From the start's placement P of CFG (QEMU's pid QEMU): the CPUs it
 * expects of each thread and the tasks it placed. CG_DIR: the VM's cgroup
 * dir (NULL: none), in the hierarchy at CG_MOUNT. */
void placewatch_init(PlaceWatch *w, const VmConfig *cfg, const Placement *p, pid_t qemu, const HostRoot *proc, const HostRoot *cg,
                     CgroupVersion cg_version, const char *cg_mount, const char *cg_dir, int rundir_fd);
/* A helper daemon to watch with its children: one line per kind of helper
 * where it is started (virtiofsd.c, swtpm). */
void placewatch_add_helper(PlaceWatch *w, pid_t pid, const char *role);
/* One full check; the repairs it made (>= 0), -EAGAIN when a control
 * client holds the VM's placement, -ESRCH when QEMU is gone. */
int placewatch_check(PlaceWatch *w);
/* The supervisor's hook: lists or checks when due; *NEXT lowered to the
 * next time it wants to run (ms, monotonic_ms()). */
void placewatch_tick(PlaceWatch *w, int64_t now, int64_t *next);
/* Writes NAME/placement.json (see above). */
int placewatch_save(const PlaceWatch *w);
void placewatch_free(PlaceWatch *w);

/* A small JSON file of the runtime dir DIR_FD, replaced atomically (also
 * NAME/migrate.json, numa_place.h), and read back (NULL: none, or not a
 * JSON object). */
int placewatch_json_save(int dir_fd, const char *name, json_object *o);
json_object *placewatch_json_load(int dir_fd, const char *name);

#endif
