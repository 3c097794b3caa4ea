/* The swtpm of a run (include/tpm.h): started before QEMU as the VM's
 * user, placed with the emulator, reaped and reported by the supervisor,
 * stopped with the VM on every way out (run_session.c). */
#include "tpm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "util.h"

/* After SIGTERM, how long swtpm gets before SIGKILL. */
#define SWTPM_GRACE_MS 2000

/* As the VM's user: tpm/ in the state dir (which kvmlaunch opened, through
 * no symlink), made 0700 when missing, and a directory of its own either
 * way, not a symlink. */
static int make_tpm_dir(void *arg) {
    int state_fd = *(const int *)arg;
    if (mkdirat(state_fd, TPM_STATE_SUBDIR, 0700) < 0 && errno != EEXIST) return -errno;
    int fd = openat(state_fd, TPM_STATE_SUBDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -errno;
    close(fd);
    return 0;
}

int swtpm_start(const VmConfig *cfg, const HostFacts *facts, int state_fd, Swtpm *t) {
    if (!facts->swtpm) return log_error_errno(-ENOENT, "[tpm] enabled = yes, but there is no swtpm (install the Debian package swtpm)");
    SpawnIdentity id = hostfacts_qemu_identity(facts);
    const char *who = id.change_id && cfg->vm.user ? cfg->vm.user : "kvmlaunch's user";
    _cleanup_free_ char *dir = tpm_state_path(cfg);
    int r = id.change_id ? spawn_call_as_groups(id.uid, id.gid, id.groups, id.n_groups, make_tpm_dir, &state_fd, NULL) : make_tpm_dir(&state_fd);
    if (r < 0) return log_error_errno(r, "Failed to make the TPM's state directory %s as %s: %m", dir, who);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return log_error_errno(-errno, "Failed to create swtpm's socket pair: %m");
    t->qemu_fd = sv[0];
    _cleanup_close_ int ctrl = sv[1];
    _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) return log_error_errno(-errno, "Failed to open /dev/null: %m");
    cpu_set_t set;
    CPU_ZERO(&set);
    const CpuSpec *emu = &cfg->cpu.emulator;
    bool pinned = emu->kind == CPUSPEC_LIST && emu->list.n;
    for (size_t i = 0; pinned && i < emu->list.n; i++)
        if (emu->list.cpu[i] < CPU_SETSIZE) CPU_SET(emu->list.cpu[i], &set);
    StrVec argv = STRVEC_INIT;
    tpm_swtpm_argv(cfg, facts, &argv);
    char **env = spawn_clean_env();
    const SpawnFd fds[] = { { devnull, 0 }, { ctrl, TPM_SWTPM_CTRL_FD } };
    /* What QEMU gets: its ids and groups, no capabilities, no_new_privs,
     * PDEATHSIG; its own process group, so a ^C reaches kvmlaunch alone,
     * which then stops it in order. */
    SpawnSpec spec = { .argv = argv.v, .envp = env, .change_id = id.change_id, .uid = id.uid, .gid = id.gid, .groups = id.groups,
                       .n_groups = id.n_groups, .fds = fds, .n_fds = ELEMENTSOF(fds), .new_process_group = true,
                       .affinity = pinned ? &set : NULL };
    int report = -1;
    r = spawn_qemu_start(&spec, &t->pid, &report);
    if (r == 0) {
        r = spawn_finish_named(t->pid, report, facts->swtpm, "swtpm");
        if (r < 0) t->pid = 0; /* reaped */
    }
    if (r == 0) log_info("swtpm: pid %ld as %s, state in %s", (long)t->pid, who, dir);
    strvec_clear(&argv);
    strv_free(env);
    return r;
}

int swtpm_place(const HostRoot *hr, const Swtpm *t, const char *emulator_cgroup) {
    if (!emulator_cgroup || !t->pid) return 0;
    _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", emulator_cgroup);
    char id[24];
    snprintf(id, sizeof(id), "%ld", (long)t->pid);
    int r = hostroot_write(hr, procs, id);
    /* It may have ended since; the supervisor says so. */
    if (r == -ESRCH) return 0;
    if (r < 0) return log_error_errno(r, "Failed to move swtpm (pid %ld) into %s: %m", (long)t->pid, procs);
    log_info("swtpm=pid %ld -> %s", (long)t->pid, emulator_cgroup);
    return 0;
}

static void report_end(Swtpm *t, int status) {
    t->pid = 0;
    if (t->reported) return;
    t->reported = true;
    if (WIFSIGNALED(status))
        log_error("swtpm was killed by signal %d (%s): the guest lost its TPM", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status)) log_error("swtpm exited with status %d: the guest lost its TPM", WEXITSTATUS(status));
    else log_info("swtpm ended");
}

void swtpm_reap(Swtpm *t) {
    int status;
    if (t && t->pid && waitpid(t->pid, &status, WNOHANG) == t->pid) report_end(t, status);
}

void swtpm_stop(Swtpm *t) {
    /* One that ended already (QEMU gone, --terminate) is told. */
    swtpm_reap(t);
    if (t->qemu_fd >= 0) close(TAKE_FD(t->qemu_fd));
    /* Its end now is ours: not reported. */
    t->reported = true;
    if (!t->pid) return;
    if (kill(t->pid, SIGTERM) == 0) {
        for (int waited = 0; waited < SWTPM_GRACE_MS; waited += 20) {
            if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
                t->pid = 0;
                return;
            }
            poll(NULL, 0, 20);
        }
    }
    log_warning("swtpm (pid %ld) did not end on SIGTERM: killed", (long)t->pid);
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}
