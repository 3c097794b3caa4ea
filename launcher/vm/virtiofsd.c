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
#include <sys/wait.h>
#include <unistd.h>

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
    [VSTEP_READONLY] = "make the share's bind mount read-only", [VSTEP_PDEATHSIG] = "set PDEATHSIG", [VSTEP_EXEC] = "exec",
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

/* In the child: signals as a fresh process has them, the listening socket
 * at 3, /dev/null at 0, nothing else; on the emulator CPUs; for a read-only
 * share, a private mount namespace where PATH is a read-only bind mount,
 * which virtiofsd's own sandbox then pivots into. */
static _Noreturn void child(const VmConfig *cfg, const ShareSection *sh, const char *bin, int listen_fd, int report) {
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(report, VSTEP_SIGNALS);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    /* Terminal signals reach kvmlaunch alone, which stops it in order. */
    (void)setpgid(0, 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(listen_fd, 3) < 0 || dup2(report, 4) < 0) child_fail(report, VSTEP_FDS);
    report = 4;
    if (fcntl(report, F_SETFD, FD_CLOEXEC) < 0 || close_range(5, ~0U, 0) < 0) child_fail(report, VSTEP_FDS);
    const CpuSpec *emu = &cfg->cpu.emulator;
    if (emu->kind == CPUSPEC_LIST && emu->list.n) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (size_t i = 0; i < emu->list.n; i++)
            if (emu->list.cpu[i] < CPU_SETSIZE) CPU_SET(emu->list.cpu[i], &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) child_fail(report, VSTEP_AFFINITY);
    }
    if (sh->readonly) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(report, VSTEP_MOUNTNS);
        /* Not MS_REC: a mount below PATH would stay writable; it is not shown. */
        if (mount(sh->path, sh->path, NULL, MS_BIND, NULL) < 0) child_fail(report, VSTEP_BIND);
        if (mount(NULL, sh->path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) child_fail(report, VSTEP_READONLY);
    }
    /* kvmlaunch gone, virtiofsd goes (it arms the same for its own child). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) child_fail(report, VSTEP_PDEATHSIG);
    if (getppid() == 1) _exit(0);
    _cleanup_free_ char *src = fuse_opt_escape(sh->path);
    _cleanup_free_ char *source = xasprintf("source=%s", src);
    char **env = spawn_clean_env();
    char *argv[] = { (char *)bin, (char *)"--fd=3", (char *)"-o", source, (char *)"-o", (char *)"sandbox=namespace",
                     (char *)"-o", (char *)"cache=auto", (char *)"-o", (char *)"log_level=warn", NULL };
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
    int r = open_socket(path, &listen_fd, &d->qemu_fd);
    if (r == 0 && pipe2(report, O_CLOEXEC) < 0) r = log_error_errno(-errno, "Failed to create a pipe: %m");
    if (r == 0) {
        pid_t pid = fork();
        if (pid < 0) r = log_error_errno(-errno, "Failed to fork virtiofsd: %m");
        else if (pid == 0) child(cfg, sh, facts->virtiofsd, listen_fd, report[1]);
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

void virtiofsd_stop(VirtiofsdSet *set) {
    bool any = false;
    /* One that ended already (before the supervisor ran, say) is told. */
    virtiofsd_reap(set);
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
    free(set->d);
    memset(set, 0, sizeof(*set));
}
