/* The virtiofsds of a run (include/share.h): started before QEMU, one per
 * virtiofs share, placed with the emulator, reaped and reported by the
 * supervisor, killed with the VM on every way out (run_session.c). */
#include "share.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caller.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

/* After SIGTERM, how long a virtiofsd gets before SIGKILL. */
#define VIRTIOFSD_GRACE_MS 2000

/* What failed in the child before exec, written to the report pipe. */
enum { VSTEP_SIGNALS = 1, VSTEP_FDS, VSTEP_AFFINITY, VSTEP_MOUNTNS, VSTEP_BIND, VSTEP_READONLY, VSTEP_PDEATHSIG, VSTEP_EXEC };
static const char *const vstep_what[] = {
    [VSTEP_SIGNALS] = "reset signals", [VSTEP_FDS] = "arrange its descriptors", [VSTEP_AFFINITY] = "go onto the emulator's CPUs",
    [VSTEP_MOUNTNS] = "get a mount namespace of its own", [VSTEP_BIND] = "bind-mount the share",
    [VSTEP_READONLY] = "make the share's bind mount nosuid, nodev (and read-only when asked)", [VSTEP_PDEATHSIG] = "set PDEATHSIG", [VSTEP_EXEC] = "exec",
};

static _Noreturn void child_fail(int report, int step) {
    int msg[2] = { step, errno };
    (void)!write(report, msg, sizeof(msg));
    _exit(127);
}

/* "-o source=PATH" is split by libfuse at commas: those are escaped. */
static char *fuse_opt_escape(const char *s) {
    char *out = xmalloc(2 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == ',' || *s == '\\') *o++ = '\\';
        *o++ = *s;
    }
    *o = 0;
    return out;
}

/* The descriptor of the share's directory in the child, until mounted. */
#define CHILD_DIR_FD 5

/* In the child: signals as a fresh process has them, the listening socket
 * at 3, /dev/null at 0, nothing else; on the emulator CPUs; in a private
 * mount namespace where ROOT (root's, in the runtime dir) is a bind mount
 * of the directory DIR_FD holds, opened without following a symlink:
 * nosuid, nodev, read-only for a readonly share. virtiofsd serves ROOT
 * (its sandbox pivots into it), so nothing done to the share's path by
 * name after the open (a symlink, a directory renamed) reaches it. The
 * namespace is private: nothing of it shows on the host. */
static _Noreturn void child(const VmConfig *cfg, const ShareSection *sh, const char *bin, const char *root, int listen_fd, int dir_fd,
                            int report) {
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(report, VSTEP_SIGNALS);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    /* Terminal signals reach kvmlaunch alone, which stops it in order. */
    (void)setpgid(0, 0);
    /* A detached copy of the directory's mount, taken in the host's
     * namespace: a bind of the descriptor itself after unshare would be
     * refused (EINVAL: its mount is in another namespace). Not
     * AT_RECURSIVE: a mount below the share would keep its own flags; it is
     * not shown. */
    dir_fd = (int)syscall(SYS_open_tree, dir_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (dir_fd < 0) child_fail(report, VSTEP_BIND);
    /* Out of the way of 0, 3, 4 and 5 first: dup2 onto a slot another of
     * them holds would close it. */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int lfd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 10), rfd = fcntl(report, F_DUPFD_CLOEXEC, 10), dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 10);
    if (null < 0 || lfd < 0 || rfd < 0 || dfd < 0) child_fail(report, VSTEP_FDS);
    report = rfd;
    if (dup2(null, 0) < 0 || dup2(lfd, 3) < 0 || dup2(rfd, 4) < 0 || dup2(dfd, CHILD_DIR_FD) < 0) child_fail(report, VSTEP_FDS);
    report = 4;
    if (fcntl(report, F_SETFD, FD_CLOEXEC) < 0 || fcntl(CHILD_DIR_FD, F_SETFD, FD_CLOEXEC) < 0 || close_range(CHILD_DIR_FD + 1, ~0U, 0) < 0)
        child_fail(report, VSTEP_FDS);
    const CpuSpec *emu = &cfg->cpu.emulator;
    if (emu->kind == CPUSPEC_LIST && emu->list.n) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (size_t i = 0; i < emu->list.n; i++)
            if (emu->list.cpu[i] < CPU_SETSIZE) CPU_SET(emu->list.cpu[i], &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) child_fail(report, VSTEP_AFFINITY);
    }
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(report, VSTEP_MOUNTNS);
    /* The directory opened, not a path looked up again. */
    if (syscall(SYS_move_mount, CHILD_DIR_FD, "", AT_FDCWD, root, MOVE_MOUNT_F_EMPTY_PATH) < 0) child_fail(report, VSTEP_BIND);
    /* nodev: a device node in the share opens nothing through virtiofsd;
     * nosuid: nor does a set-uid file gain anything here. */
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (sh->readonly ? MS_RDONLY : 0);
    if (mount(NULL, root, NULL, flags, NULL) < 0) child_fail(report, VSTEP_READONLY);
    close(CHILD_DIR_FD);
    /* kvmlaunch gone, virtiofsd goes (it arms the same for its own child). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(report, VSTEP_PDEATHSIG);
    if (getppid() == 1) _exit(0);
    _cleanup_free_ char *src = fuse_opt_escape(root);
    _cleanup_free_ char *source = xasprintf("source=%s", src);
    char **env = spawn_clean_env();
    /* -mknod: a guest's root could otherwise make a block device in the
     * share, which the host's users could then open (docs/SECURITY.md). */
    char *argv[] = { (char *)bin, (char *)"--fd=3", (char *)"-o", source, (char *)"-o", (char *)"sandbox=namespace", (char *)"-o",
                     (char *)"cache=auto", (char *)"-o", (char *)"log_level=warn", (char *)"-o", (char *)"modcaps=-mknod", NULL };
    execve(bin, argv, env);
    child_fail(report, VSTEP_EXEC);
}

/* The listening socket RUNTIME_DIR/vfs-N.sock, and our connection to it,
 * which QEMU gets. */
static int open_socket(const char *path, int *listen_fd, int *conn_fd) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) return log_error_errno(-ENAMETOOLONG, "The socket path %s is too long", path);
    strcpy(sa.sun_path, path);
    *listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*listen_fd < 0) return log_error_errno(-errno, "Failed to create virtiofsd's socket: %m");
    unlink(path);
    if (bind(*listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(*listen_fd, 1) < 0)
        return log_error_errno(-errno, "Failed to listen on %s: %m", path);
    /* A connection waits in the backlog until virtiofsd accepts it. */
    *conn_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*conn_fd < 0 || connect(*conn_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) return log_error_errno(-errno, "Failed to connect to %s: %m", path);
    return 0;
}

static int start_one(const VmConfig *cfg, const HostFacts *facts, size_t index, Virtiofsd *d) {
    const ShareSection *sh = &cfg->shares[index];
    _cleanup_free_ char *path = share_socket_path(facts->runtime_dir, index);
    int listen_fd = -1, report[2] = { -1, -1 };
    _cleanup_free_ char *who = NULL;
    /* Once, with no symlink followed, as the user kvmlaunch acts for. */
    _cleanup_close_ int dir_fd = caller_open_dir(sh->path, &who);
    if (dir_fd < 0)
        return log_error_errno(dir_fd, "[share \"%s\"] %s cannot be opened%s%s without following a symlink: %m", sh->head.id, sh->path,
                               who ? " as " : "", who ? who : "");
    d->root = share_root_path(facts->runtime_dir, index);
    /* Root's, 0700, in the runtime dir: no one else can put anything there. */
    (void)rmdir(d->root);
    if (mkdir(d->root, 0700) < 0) return log_error_errno(-errno, "Failed to create %s: %m", d->root);
    int r = open_socket(path, &listen_fd, &d->qemu_fd);
    if (r == 0 && pipe2(report, O_CLOEXEC) < 0) r = log_error_errno(-errno, "Failed to create a pipe: %m");
    if (r == 0) {
        pid_t pid = fork();
        if (pid < 0) r = log_error_errno(-errno, "Failed to fork virtiofsd: %m");
        else if (pid == 0) child(cfg, sh, facts->virtiofsd, d->root, listen_fd, dir_fd, report[1]);
        else d->pid = pid;
    }
    if (listen_fd >= 0) close(listen_fd);
    if (report[1] >= 0) close(report[1]);
    if (r == 0) {
        int msg[2];
        ssize_t n;
        while ((n = read(report[0], msg, sizeof(msg))) < 0 && errno == EINTR)
            ;
        if (n == (ssize_t)sizeof(msg)) {
            int step = msg[0] > 0 && msg[0] <= VSTEP_EXEC ? msg[0] : VSTEP_EXEC;
            r = log_error_errno(-msg[1], "virtiofsd for [share \"%s\"] could not %s: %m", sh->head.id, vstep_what[step]);
            waitpid(d->pid, NULL, 0);
            d->pid = 0;
        } else {
            log_info("virtiofsd for [share \"%s\"]: pid %ld, %s%s, socket %s", sh->head.id, (long)d->pid, sh->path,
                     sh->readonly ? " (read-only bind mount)" : "", path);
            log_debug("virtiofsd for [share \"%s\"] serves %s, bound there from the directory opened", sh->head.id, d->root);
        }
    }
    if (report[0] >= 0) close(report[0]);
    return r;
}

int virtiofsd_start(const VmConfig *cfg, const HostFacts *facts, VirtiofsdSet *set) {
    memset(set, 0, sizeof(*set));
    set->d = xcalloc(cfg->n_shares ? cfg->n_shares : 1, sizeof(Virtiofsd));
    for (size_t i = 0; i < cfg->n_shares; i++) {
        const ShareSection *sh = &cfg->shares[i];
        if (share_driver(facts, sh) != SHARE_DRIVER_VIRTIOFS) continue;
        Virtiofsd *d = &set->d[set->n++];
        *d = (Virtiofsd){ .tag = sh->head.id, .qemu_fd = -1 };
        int r = start_one(cfg, facts, i, d);
        if (r < 0) return r;
    }
    return 0;
}

/* PID and the processes it forked (virtiofsd's sandboxed child). */
static size_t family(pid_t pid, pid_t *out, size_t max) {
    size_t n = 0;
    out[n++] = pid;
    _cleanup_free_ char *path = xasprintf("/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    FILE *f = fopen(path, "re");
    long c;
    while (f && n < max && fscanf(f, "%ld", &c) == 1) out[n++] = (pid_t)c;
    if (f) fclose(f);
    return n;
}

int virtiofsd_place(const HostRoot *hr, const VirtiofsdSet *set, const char *emulator_cgroup) {
    if (!emulator_cgroup) return 0;
    _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", emulator_cgroup);
    for (size_t i = 0; i < set->n; i++) {
        if (!set->d[i].pid) continue;
        pid_t pids[8];
        size_t n = family(set->d[i].pid, pids, ELEMENTSOF(pids));
        for (size_t k = 0; k < n; k++) {
            char id[24];
            snprintf(id, sizeof(id), "%ld", (long)pids[k]);
            int r = hostroot_write(hr, procs, id);
            /* It may end between listing and moving; the supervisor says so. */
            if (r == -ESRCH) continue;
            if (r < 0) return log_error_errno(r, "Failed to move virtiofsd of [share \"%s\"] (pid %ld) into %s: %m", set->d[i].tag, (long)pids[k], procs);
            log_info("virtiofsd of [share \"%s\"]=pid %ld -> %s", set->d[i].tag, (long)pids[k], emulator_cgroup);
        }
    }
    return 0;
}

static void report_end(Virtiofsd *d, int status) {
    d->pid = 0;
    if (d->reported) return;
    d->reported = true;
    if (WIFSIGNALED(status))
        log_error("virtiofsd of [share \"%s\"] was killed by signal %d (%s): the guest lost the share", d->tag, WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status))
        log_error("virtiofsd of [share \"%s\"] exited with status %d: the guest lost the share", d->tag, WEXITSTATUS(status));
    else log_info("virtiofsd of [share \"%s\"] ended", d->tag);
}

void virtiofsd_reap(VirtiofsdSet *set) {
    for (size_t i = 0; set && i < set->n; i++) {
        Virtiofsd *d = &set->d[i];
        int status;
        if (d->pid && waitpid(d->pid, &status, WNOHANG) == d->pid) report_end(d, status);
    }
}

/* Pidfds of the processes PID forked (its sandbox's child), taken while
 * PID lives: signalled later, they reach these processes or none, even
 * once PID is gone and its pids are free for reuse. */
static size_t children_pidfds(pid_t pid, int *out, size_t max) {
    pid_t pids[8];
    size_t n = family(pid, pids, ELEMENTSOF(pids)), k = 0;
    for (size_t i = 1; i < n && k < max; i++) {
        int fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
        if (fd >= 0) out[k++] = fd;
    }
    return k;
}

/* What is left of a virtiofsd's family once it is reaped: killed, and
 * waited for a while (it is not our child: its pidfd says when it ends). */
static void kill_rest(int *fds, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (syscall(SYS_pidfd_send_signal, fds[i], SIGKILL, NULL, 0) == 0) {
            struct pollfd p = { .fd = fds[i], .events = POLLIN };
            (void)poll(&p, 1, VIRTIOFSD_GRACE_MS);
        }
        close(fds[i]);
    }
}

void virtiofsd_stop(VirtiofsdSet *set) {
    bool any = false;
    /* One that ended already (before the supervisor ran, say) is told. */
    virtiofsd_reap(set);
    int rest[32];
    size_t n_rest = 0;
    for (size_t i = 0; i < set->n; i++)
        if (set->d[i].pid) n_rest += children_pidfds(set->d[i].pid, rest + n_rest, ELEMENTSOF(rest) - n_rest);
    for (size_t i = 0; i < set->n; i++) {
        Virtiofsd *d = &set->d[i];
        if (d->qemu_fd >= 0) close(TAKE_FD(d->qemu_fd));
        /* Its end now is ours: not reported. */
        d->reported = true;
        if (d->pid && kill(d->pid, SIGTERM) == 0) any = true;
    }
    for (int waited = 0; any && waited < VIRTIOFSD_GRACE_MS; waited += 20) {
        any = false;
        for (size_t i = 0; i < set->n; i++) {
            Virtiofsd *d = &set->d[i];
            int status;
            if (d->pid && waitpid(d->pid, &status, WNOHANG) == d->pid) d->pid = 0;
            any |= d->pid != 0;
        }
        if (any) poll(NULL, 0, 20);
    }
    for (size_t i = 0; i < set->n; i++) {
        Virtiofsd *d = &set->d[i];
        if (!d->pid) continue;
        log_warning("virtiofsd of [share \"%s\"] (pid %ld) did not end on SIGTERM: killed", d->tag, (long)d->pid);
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    kill_rest(rest, n_rest);
    for (size_t i = 0; i < set->n; i++) {
        Virtiofsd *d = &set->d[i];
        /* A mountpoint in virtiofsd's namespace alone, gone with it: here,
         * an empty directory. */
        if (d->root && rmdir(d->root) < 0 && errno != ENOENT) log_warning_errno(-errno, "Failed to remove %s: %m", d->root);
        free(d->root);
    }
    free(set->d);
    memset(set, 0, sizeof(*set));
}
