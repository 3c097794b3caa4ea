/* Starting QEMU: fork, and in the child put the passed descriptors at their
 * numbers, close the rest, drop to the VM's user with no capabilities and
 * no_new_privs, arm PDEATHSIG, and exec. */
#ifndef KVMLAUNCH_SPAWN_H
#define KVMLAUNCH_SPAWN_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct SpawnFd {
    int fd;                         /* in the parent */
    int target;                     /* where the child finds it */
} SpawnFd;

typedef struct SpawnSpec {
    char *const *argv;
    char *const *envp;
    bool change_id;                 /* drop to uid/gid (as root) */
    uid_t uid;
    gid_t gid;
    /* With change_id: QEMU's supplementary groups, exactly these (the
     * group database's for the user, as libvirt gives its qemu user:
     * HostFacts.qemu_groups); none when n_groups is 0. */
    const gid_t *groups;
    size_t n_groups;
    const SpawnFd *fds;             /* target 0 is stdin; 1 and 2 stay as they are unless listed */
    size_t n_fds;
    bool new_process_group;         /* terminal signals reach only kvmlaunch */
    bool memlock_unlimited;         /* [memory] lock: QEMU may lock all its memory */
    uint64_t memlock_bytes;         /* else, when not 0: RLIMIT_MEMLOCK ([hostdev]: VFIO pins guest memory) */
    const cpu_set_t *affinity;      /* the CPUs to exec on (a helper such as swtpm: the emulator's), or NULL: kvmlaunch's */
} SpawnSpec;

/* Forks and execs QEMU in two halves, so the parent works while the child
 * gets to exec (a few ms of each start): _start forks and returns *pid and
 * *report, a pipe the child closes by exec'ing or writes its failure to;
 * _finish waits on it (closing it) and returns 0, or -errno with what
 * failed logged (e.g. the emulator is missing) and the child reaped. */
int spawn_qemu_start(const SpawnSpec *spec, pid_t *pid, int *report);
int spawn_qemu_finish(pid_t pid, int report, const char *binary);
/* The same for another program spawned this way (a helper such as swtpm):
 * WHO names it in the messages. */
int spawn_finish_named(pid_t pid, int report, const char *binary, const char *who);

/* Who QEMU will be: the ids and groups spawn_qemu_start gives it. */
typedef struct SpawnIdentity {
    bool change_id;                 /* as root, QEMU takes these ids; false: it stays kvmlaunch's user */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;            /* its supplementary groups */
    size_t n_groups;
} SpawnIdentity;

/* Opens PATH with FLAGS as QEMU will be: as ID's uid, gid and groups (in
 * a short-lived thread with those ids, so the answer is the kernel's, ACLs
 * and all), or as kvmlaunch itself when ID is NULL or does not change ids.
 * 0 or -errno. */
int spawn_open_as_id(const SpawnIdentity *id, const char *path, int flags);
/* The same as UID/GID with no supplementary groups. */
int spawn_open_as(bool change_id, uid_t uid, gid_t gid, const char *path, int flags);
/* Runs FN(ARG) with that identity (in such a thread; in this one when
 * CHANGE_ID is false) and returns what FN returns, or -errno when the
 * identity could not be taken. FN makes system calls only; an fd it opens
 * is the process's. */
int spawn_call_as(bool change_id, uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg);
/* The same with GROUPS as the thread's supplementary groups (a caller's
 * own, include/caller.h); *IDENTITY (when given): the ids were taken and
 * FN ran, so a negative result is FN's. */
int spawn_call_as_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, int (*fn)(void *arg), void *arg, bool *identity);

/* A clean environment for QEMU: PATH, HOME=/, LC_ALL=C.UTF-8; caller frees. */
char **spawn_clean_env(void);

/* Runs BINARY with the NULL-terminated ARGS (at most 14), a clean
 * environment and /dev/null for stdin, and returns what it printed on
 * stdout (at most MAX bytes, NUL-terminated; "" when nothing), or NULL
 * when it did not exit 0. Past TIMEOUT_MS it is killed: a wedged emulator
 * must not hang `check` (QEMU's -version, -machine help; modprobe). */
char *spawn_capture(const char *binary, const char *const *args, size_t max, int timeout_ms);

#endif
