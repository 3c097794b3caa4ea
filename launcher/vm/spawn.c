/* Starting QEMU (include/spawn.h). Every string is prepared before fork;
 * the child makes system calls and libcap-ng calls only (the supervisor is
 * single-threaded, so that is safe), and reports a failure to the parent
 * through a close-on-exec pipe. */
#include "spawn.h"
#include <grp.h>

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "strvec.h"
#include "supervise.h"
#include "util.h"

/* Steps of the child, for the parent's message. */
enum { STEP_SIGNALS = 1, STEP_PGRP, STEP_FDS, STEP_IDS, STEP_NNP, STEP_PDEATHSIG, STEP_PARENT, STEP_EXEC, STEP_AFFINITY };
static const char *const step_names[] = {
    [STEP_SIGNALS] = "reset signals", [STEP_PGRP] = "new process group", [STEP_FDS] = "pass descriptors",
    [STEP_IDS] = "drop to the VM's user", [STEP_NNP] = "set no_new_privs", [STEP_PDEATHSIG] = "set PDEATHSIG",
    [STEP_PARENT] = "check the parent", [STEP_EXEC] = "exec the emulator", [STEP_AFFINITY] = "go onto its CPUs",
};

char **spawn_clean_env(void) {
    StrVec env = STRVEC_INIT;
    strvec_push(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
    strvec_push(&env, "HOME=/");
    strvec_push(&env, "LC_ALL=C.UTF-8");
    return strvec_detach(&env);
}

static _Noreturn void child_fail_rc(int pipe_fd, int step, int detail) {
    int msg[3] = { step, errno, detail };
    ssize_t r = write(pipe_fd, msg, sizeof(msg));
    (void)r;
    _exit(127);
}

static _Noreturn void child_fail(int pipe_fd, int step) { child_fail_rc(pipe_fd, step, 0); }

static void child(const SpawnSpec *s, pid_t parent, int report, int *moved) {
    sigset_t all;
    sigemptyset(&all);
    /* The supervisor blocks the signals it reads from a signalfd; QEMU must
     * start with none blocked and every handler at its default. */
    if (sigprocmask(SIG_SETMASK, &all, NULL) < 0) child_fail(report, STEP_SIGNALS);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        signal(sig, SIG_DFL);
    }
    if (s->new_process_group && setpgid(0, 0) < 0) child_fail(report, STEP_PGRP);

    /* Move every passed fd above all targets first, so no dup2 overwrites a
     * source still to be moved; then to its target. */
    int high = 3;
    for (size_t i = 0; i < s->n_fds; i++)
        if (s->fds[i].target >= high) high = s->fds[i].target + 1;
    if (report >= high) high = report + 1;
    for (size_t i = 0; i < s->n_fds; i++) {
        /* Any free fd from HIGH up: asking for more headroom would fail
         * with EINVAL under a tight RLIMIT_NOFILE that the targets fit. */
        moved[i] = fcntl(s->fds[i].fd, F_DUPFD_CLOEXEC, high);
        if (moved[i] < 0 && errno == EINVAL) errno = EMFILE; /* HIGH is past RLIMIT_NOFILE */
        if (moved[i] < 0) child_fail(report, STEP_FDS);
    }
    for (size_t i = 0; i < s->n_fds; i++)
        if (dup2(moved[i], s->fds[i].target) < 0) child_fail(report, STEP_FDS); /* dup2 clears CLOEXEC */
    /* Everything else from 3 up closes at exec. */
    for (int fd = 3; fd < high; fd++) {
        bool keep = false;
        for (size_t i = 0; i < s->n_fds; i++) keep |= s->fds[i].target == fd;
        if (!keep && fd != report) close(fd);
    }
    if (close_range((unsigned)high, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        /* Before Linux 5.11 there is no CLOSE_RANGE_CLOEXEC: mark each. */
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = high; fd < (max > 0 ? max : 65536); fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    }
    if (report < high) fcntl(report, F_SETFD, FD_CLOEXEC);

    /* Before exec, so every thread it makes inherits them. */
    if (s->affinity && sched_setaffinity(0, sizeof(*s->affinity), s->affinity) < 0) child_fail(report, STEP_AFFINITY);
    if (s->memlock_unlimited || s->memlock_bytes) {
        /* -overcommit mem-lock=on: QEMU, without CAP_IPC_LOCK, may lock only
         * what RLIMIT_MEMLOCK allows; root raises it before dropping. VFIO
         * pins the guest's memory for the device's DMA, and counts it there
         * too. */
        rlim_t v = s->memlock_unlimited ? RLIM_INFINITY : (rlim_t)s->memlock_bytes;
        struct rlimit rl = { v, v };
        if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0) child_fail(report, STEP_IDS);
    }
    if (!s->change_id) {
        /* Not root: no ids to change, but capabilities handed to us
         * (ambient ones from a service manager, inheritable ones) must not
         * reach QEMU either. Dropping needs no privilege. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) child_fail(report, STEP_IDS);
        capng_clear(CAPNG_SELECT_CAPS);
        if (capng_apply(CAPNG_SELECT_CAPS) < 0) {
            errno = EPERM;
            child_fail(report, STEP_IDS);
        }
    }
    if (s->change_id) {
        /* Exactly the groups the plan gives QEMU (the group database's for
         * its user, as libvirt does: a user in group kvm reaches
         * /dev/kvm), none of kvmlaunch's own; set while still root. The
         * raw call: nothing but system calls here. */
        if (syscall(SYS_setgroups, s->n_groups, s->n_groups ? s->groups : NULL) < 0) child_fail(report, STEP_IDS);
        /* libcap-ng forgets its state across fork (an atfork handler), so
         * the empty set is prepared here; capng_change_id applies it with
         * the new ids (leaving the groups as set), bounding set emptied. */
        capng_clear(CAPNG_SELECT_ALL);
        errno = 0;
        int rc = capng_change_id((int)s->uid, (int)s->gid, CAPNG_CLEAR_BOUNDING);
        if (rc < 0) {
            /* libcap-ng says which step failed (-4 setgid, -6 setuid, -8
             * bounding set...); errno tells why when it was set. */
            if (!errno) errno = EPERM;
            child_fail_rc(report, STEP_IDS, rc);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(report, STEP_NNP);
    /* After the id change, which clears PDEATHSIG. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(report, STEP_PDEATHSIG);
    /* The supervisor may have died before PDEATHSIG was armed. */
    if (getppid() != parent) {
        errno = ESRCH;
        child_fail(report, STEP_PARENT);
    }
    execve(s->argv[0], s->argv, s->envp);
    child_fail(report, STEP_EXEC);
}

int spawn_qemu_start(const SpawnSpec *s, pid_t *pid, int *report) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return log_error_errno(-errno, "Failed to create a pipe: %m");
    pid_t parent = getpid();
    /* Allocated here: the child only makes system calls. */
    _cleanup_free_ int *moved = xcalloc(s->n_fds ? s->n_fds : 1, sizeof(int));
    pid_t c = fork();
    if (c < 0) {
        int r = -errno;
        close(p[0]);
        close(p[1]);
        return log_error_errno(r, "Failed to fork: %m");
    }
    if (c == 0) {
        close(p[0]);
        child(s, parent, p[1], moved);
    }
    close(p[1]);
    *pid = c;
    *report = p[0];
    return 0;
}

int spawn_qemu_finish(pid_t pid, int report, const char *binary) { return spawn_finish_named(pid, report, binary, "QEMU"); }

int spawn_finish_named(pid_t pid, int report, const char *binary, const char *who) {
    int msg[3];
    ssize_t n;
    do n = read(report, msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    close(report);
    if (n != (ssize_t)sizeof(msg)) return 0;
    waitpid(pid, NULL, 0);
    const char *what = msg[0] > 0 && msg[0] < (int)ELEMENTSOF(step_names) ? step_names[msg[0]] : "start";
    if (msg[0] == STEP_EXEC) return log_error_errno(-msg[1], "Failed to exec %s: %m", binary);
    if (msg[2]) return log_error_errno(-msg[1], "%s's child process could not %s (libcap-ng step %d): %m", who, what, -msg[2]);
    return log_error_errno(-msg[1], "%s's child process could not %s: %m", who, what);
}

/* Work on files as another user, in a thread of our own: Linux credentials
 * belong to a thread, and raw system calls (glibc's setgroups would change
 * every thread's) give only this short-lived thread QEMU's file-system
 * identity: fsuid, fsgid, QEMU's supplementary groups, no effective
 * capabilities. Its real and saved uid stay 0, so QEMU's user never gets
 * to signal it (with a full setresuid it could kill or stop kvmlaunch
 * through the thread's id). A thread costs tens of microseconds where a
 * fork cost a millisecond of each start (docs/BENCHMARKS.md). */
typedef struct AsJob {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;            /* the supplementary groups to take, or none */
    size_t n_groups;
    int (*fn)(void *);
    void *arg;
    int r;
    bool identity;                  /* the ids were taken, FN ran */
} AsJob;

static void *as_thread(void *arg) {
    AsJob *j = arg;
    /* setfs[ug]id answer with the old id; asking again with -1 says
     * whether the change took. Leaving fsuid 0 drops the file-system
     * capabilities from the effective set; capset drops the others (the
     * thread's own: libcap-ng's state is the process's). */
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
    syscall(SYS_setfsgid, j->gid);
    syscall(SYS_setfsuid, j->uid);
    if (syscall(SYS_setgroups, j->n_groups, j->groups) < 0 || syscall(SYS_setfsgid, (gid_t)-1) != (long)j->gid ||
        syscall(SYS_setfsuid, (uid_t)-1) != (long)j->uid || syscall(SYS_capget, &hdr, caps) < 0) {
        j->r = -EPERM;
        return NULL;
    }
    for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) caps[i].effective = 0;
    if (syscall(SYS_capset, &hdr, caps) < 0) {
        j->r = -EPERM;
        return NULL;
    }
    j->identity = true;
    j->r = j->fn(j->arg);
    return NULL;
}

int spawn_call_as_groups(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, int (*fn)(void *arg), void *arg, bool *identity) {
    /* A thread changing its file-system ids makes the whole process
     * non-dumpable; it is put back once the thread is gone. */
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    AsJob job = { uid, gid, groups, n_groups, fn, arg, 0, false };
    pthread_t t;
    int e = pthread_create(&t, NULL, as_thread, &job);
    if (identity) *identity = false;
    if (e) return -e;
    pthread_join(t, NULL);
    if (dumpable > 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable) (void)prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
    if (identity) *identity = job.identity;
    return job.r;
}

int spawn_call_as(bool change_id, uid_t uid, gid_t gid, int (*fn)(void *arg), void *arg) {
    if (!change_id) return fn(arg);
    return spawn_call_as_groups(uid, gid, NULL, 0, fn, arg, NULL);
}

typedef struct OpenAsJob {
    const char *path;
    int flags;
} OpenAsJob;

static int open_and_close(void *arg) {
    const OpenAsJob *j = arg;
    int fd = open(j->path, j->flags | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -errno;
    close(fd);
    return 0;
}

int spawn_open_as(bool change_id, uid_t uid, gid_t gid, const char *path, int flags) {
    OpenAsJob job = { path, flags };
    return spawn_call_as(change_id, uid, gid, open_and_close, &job);
}

int spawn_open_as_id(const SpawnIdentity *id, const char *path, int flags) {
    OpenAsJob job = { path, flags };
    if (!id || !id->change_id) return open_and_close(&job);
    return spawn_call_as_groups(id->uid, id->gid, id->groups, id->n_groups, open_and_close, &job, NULL);
}

char *spawn_capture(const char *binary, const char *const *args, size_t max, int timeout_ms) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        /* Not past a kvmlaunch killed while it waits. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) dup2(null, STDIN_FILENO);
        const char *argv[16] = { binary };
        for (size_t i = 0; args[i] && i + 2 < ELEMENTSOF(argv); i++) argv[i + 1] = args[i];
        execve(binary, (char **)argv, spawn_clean_env());
        _exit(127);
    }
    close(fds[1]);
    char *buf = xmalloc(max + 1);
    size_t n = 0;
    int64_t until = monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = until - monotonic_ms();
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t k = read(fds[0], buf + n, max - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        if (n == max) break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    buf[n] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
