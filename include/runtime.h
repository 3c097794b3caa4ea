/* The runtime state of a running VM: /run/kvmlaunch/NAME/ (mode 0700) with a
 * pid file held under a lock for as long as the supervisor lives, so a second
 * start of the same VM fails at once, also when two starts race. */
#ifndef KVMLAUNCH_RUNTIME_H
#define KVMLAUNCH_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct Runtime {
    char *dir;                      /* owned: BASE/NAME */
    int dir_fd;                     /* owned */
    int pid_fd;                     /* owned, locked */
} Runtime;

#define RUNTIME_INIT { NULL, -1, -1 }

/* The most a small state file of a runtime dir (forwards.json, live.json,
 * ssh) is read into memory: far past any real one, short of a runaway. */
#define RUNTIME_FILE_MAX (1u << 20)

/* $KVMLAUNCH_ROOT when it names a tree other than "/" (as hostroot_open),
 * else NULL. */
const char *runtime_redirected_root(void);

/* BASE is $KVMLAUNCH_RUNDIR, else /run/kvmlaunch. Under a redirected root
 * ($KVMLAUNCH_ROOT names another tree) never the host's /run/kvmlaunch:
 * without a private $KVMLAUNCH_RUNDIR it is ROOT/run/kvmlaunch. */
const char *runtime_base(void);
/* -EPERM (said) when $KVMLAUNCH_ROOT is redirected and $KVMLAUNCH_RUNDIR
 * names the host's run dir: such a run is refused (hostroot_open). */
int runtime_check_base(void);
/* Creates BASE when missing (with the tree's /run for a derived one). */
int runtime_make_base(void);

/* Creates BASE/NAME and takes the lock of its pid file. -EBUSY when another
 * kvmlaunch holds it (*holder: its supervisor pid, or 0 when unknown). */
int runtime_acquire(const char *name, Runtime *rt, pid_t *holder);
/* Writes "SUPERVISOR QEMU\n" into the locked pid file. */
int runtime_write_pids(Runtime *rt, pid_t supervisor, pid_t qemu);
/* Removes the files kvmlaunch made in the dir, the pid file last, then the
 * dir, and drops the lock. */
void runtime_release(Runtime *rt);

/* What a pid file says, trusted only while its lock is held by someone:
 * returns 1 (running, pids filled), 0 (not running), or -errno. */
int runtime_query(const char *name, pid_t *supervisor, pid_t *qemu);

/* Removes what a dead kvmlaunch left of NAME's runtime dir. -EBUSY while the
 * VM runs. */
int runtime_cleanup(const char *name);

#endif
