/* Spawn → place of a run (include/run_session.h): the fds QEMU gets,
 * QEMU started paused, QMP, its threads placed, then cont. What outlives
 * this step (QEMU, QMP, cgroups) is in the session; the fds handed to QEMU
 * are closed here on every way out. */
#include "run_session.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "cloudinit.h"
#include "hostdev.h"
#include "hostfacts.h"
#include "fwvars.h"
#include "log.h"
#include "machinetype.h"
#include "numa_place.h"
#include "placement.h"
#include "seriallog.h"
#include "statedir.h"
#include "serialrelay.h"
#include "spawn.h"
#include "strvec.h"
#include "supervise.h"
#include "usernet.h"
#include "util.h"
#include "vmlive.h"
#include "userdb.h"

#define QMP_START_TIMEOUT_MS 30000
#define STATUS_SOCKET "qmp.sock"

/* What QEMU is handed, ours until the spawn and closed after it. */
typedef struct SpawnKit {
    int sv[2];                      /* QMP: ours, QEMU's */
    int devnull, status_fd, control_fd, seed_fd, report, agent_fd;
    int fw_code, fw_vars;           /* UEFI code and vars (fwvars.h), or -1 */
    /* The serial console (serialrelay.h): the socket pair (ours, QEMU's),
     * NAME/console.sock, where the output goes (stdout or a pty master),
     * the pty's slave, and the file: log with its old copy. */
    int serial_sv[2], console_fd, serial_out, pty_slave, serial_fd, log_old;
    SpawnFd *fds;
    size_t n_fds;
    TapQueues *taps;
    char **env;
} SpawnKit;

static void kit_close(const VmConfig *cfg, SpawnKit *k) {
    /* QEMU holds the taps now (or nobody does, and they vanish). */
    for (size_t i = 0; k->taps && i < cfg->n_nets; i++) tap_close(&k->taps[i]);
    free(k->taps);
    free(k->fds);
    strv_free(k->env);
    int *fds[] = { &k->sv[0], &k->sv[1], &k->devnull, &k->status_fd, &k->control_fd, &k->seed_fd, &k->report, &k->agent_fd, &k->serial_sv[0], &k->serial_sv[1], &k->console_fd,
                   &k->serial_out, &k->pty_slave, &k->serial_fd, &k->log_old, &k->fw_code, &k->fw_vars };
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        if (*fds[i] >= 0) close(*fds[i]);
}

/* A listening socket in the runtime dir: the status and control
 * monitors' (QEMU serves them) and the console's (the supervisor does). The dir is 0700,
 * so only its owner connects. */
static int open_listen_socket(const Runtime *rt, const char *name) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return log_error_errno(-errno, "Failed to create the socket %s: %m", name);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rt->dir, name);
    if (n >= (int)sizeof(sa.sun_path)) {
        close(fd);
        return log_error_errno(-ENAMETOOLONG, "The runtime dir %s is too long for a socket path", rt->dir);
    }
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int r = -errno;
        close(fd);
        return log_error_errno(r, "Failed to listen on %s: %m", sa.sun_path);
    }
    return fd;
}

/* The serial log, written by the guest: opened as QEMU's user, through no
 * symbolic link, in a directory no third user can write (seriallog.h);
 * the default one inside our own runtime dir. QEMU gets the descriptor.
 * The checks refused a bad path already; what fails here was swapped in
 * since. */
static int open_serial_log(RunSession *s, const char *path) {
    const VmConfig *cfg = &s->cfg;
    SerialLog l;
    if (cfg->vm.serial.kind == SERIAL_DEFAULT) {
        seriallog_init_private(&l, path, s->rt.dir_fd);
    } else {
        bool as_root = s->p.facts.running_as_root;
        struct passwd *pw = cfg->vm.user && as_root ? userdb_getpwnam(cfg->vm.user) : NULL;
        if (cfg->vm.user && as_root && !pw) return log_error_errno(-ENOENT, "Refusing the serial log %s: no user %s", path, cfg->vm.user);
        seriallog_init(&l, path, cfg->vm.user, pw, as_root);
        seriallog_set_groups(&l, s->p.facts.qemu_groups, s->p.facts.n_qemu_groups);
    }
    l.create = true;
    int fd = seriallog_open(&l);
    if (fd < 0) {
        _cleanup_free_ char *why = seriallog_why(&l);
        return log_error_errno(fd, "Refusing the serial log: [vm] serial: %s", why);
    }
    return fd;
}

/* Our own stdout for the guest's output, written without blocking. A pipe
 * or terminal is opened anew (/proc/self/fd/1): O_NONBLOCK on the file
 * description we share would reach the shell that started us too. A
 * regular file never makes a writer wait on a reader, and a socket
 * cannot be opened anew: those are used as they are (the relay makes a
 * socket nonblocking; under systemd it is the service's own stream, which
 * kvmlaunch's stderr may share, and so may QEMU's fds 1 and 2, which it
 * inherits: O_NONBLOCK is on the shared file description, so a line of
 * theirs the journal cannot take at once is then lost rather than the
 * guest held up). */
static int open_stdout(void) {
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) < 0) return log_error_errno(-errno, "Failed to look at stdout for the serial console: %m");
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) return fd;
        log_debug("Reopening stdout failed (%m): the serial console makes it nonblocking");
    }
    int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return log_error_errno(-errno, "Failed to duplicate stdout for the serial console: %m");
    return fd;
}

/* serial = pty: a pty of the supervisor's own, raw, its slave root's and
 * 0600 (not the VM's user's: VMs may share one user, and a QEMU broken
 * into could then open another VM's console; QEMU never needs the pty,
 * the supervisor relays it), its path told (stderr, and NAME/console.pty
 * for `status`). The supervisor keeps the slave open too, so that the
 * master never hangs up while nobody has it. */
static int open_pty(RunSession *s, SpawnKit *k) {
    k->serial_out = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char path[128];
    if (k->serial_out < 0 || grantpt(k->serial_out) < 0 || unlockpt(k->serial_out) < 0 || ptsname_r(k->serial_out, path, sizeof(path)) != 0)
        return log_error_errno(-errno, "Failed to open a pty for the serial console: %m");
    k->pty_slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (k->pty_slave < 0 || tcgetattr(k->pty_slave, &t) < 0) return log_error_errno(-errno, "Failed to open %s: %m", path);
    cfmakeraw(&t);
    if (tcsetattr(k->pty_slave, TCSANOW, &t) < 0) return log_error_errno(-errno, "Failed to make %s raw: %m", path);
    /* grantpt made it ours, group tty, 0620 (for write(1)): ours alone. */
    if (fchmod(k->pty_slave, 0600) < 0) return log_error_errno(-errno, "Failed to make %s private: %m", path);
    _cleanup_close_ int fd = openat(s->rt.dir_fd, CONSOLE_PTY_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || dprintf(fd, "%s\n", path) < 0) return log_error_errno(-errno, "Failed to write %s/%s: %m", s->rt.dir, CONSOLE_PTY_FILE);
    log_notice("%s: serial console on %s", s->cfg.vm.name, path);
    return 0;
}

/* The serial console: the socket pair QEMU's serial writes into, the
 * console socket, and where the output goes. */
static int open_serial(RunSession *s, SpawnKit *k) {
    _cleanup_free_ char *path = NULL;
    SerialKind kind = hostfacts_serial(&s->cfg, &s->p.facts, &path);
    if (kind == SERIAL_NONE) return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k->serial_sv) < 0)
        return log_error_errno(-errno, "Failed to create the serial socket pair: %m");
    k->console_fd = open_listen_socket(&s->rt, CONSOLE_SOCKET);
    if (k->console_fd < 0) return k->console_fd;
    if (kind == SERIAL_STDOUT) {
        k->serial_out = open_stdout();
        return k->serial_out < 0 ? k->serial_out : 0;
    }
    if (kind == SERIAL_PTY) return open_pty(s, k);
    /* The log and its old copy, each under the log's rules. */
    _cleanup_free_ char *old = xasprintf("%s.1", path);
    k->serial_fd = open_serial_log(s, path);
    if (k->serial_fd < 0) return k->serial_fd;
    k->log_old = open_serial_log(s, old);
    return k->log_old < 0 ? k->log_old : 0;
}

/* [vm] guest-agent: the socket QEMU serves the agent's channel on, and
 * the lock its clients take (include/agent.h); clients create nothing in
 * the runtime dir. */
static int open_agent(RunSession *s, SpawnKit *k) {
    if (!s->cfg.vm.guest_agent) return 0;
    int fd = openat(s->rt.dir_fd, AGENT_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return log_error_errno(-errno, "Failed to create %s/%s: %m", s->rt.dir, AGENT_LOCK);
    close(fd);
    k->agent_fd = open_listen_socket(&s->rt, AGENT_SOCKET);
    return k->agent_fd < 0 ? k->agent_fd : 0;
}

/* UEFI: the code, and the VM's vars in its state dir (made from the
 * template at the first start), opened as QEMU's user (fwvars.h). */
static int open_firmware(RunSession *s, SpawnKit *k) {
    const HostFacts *facts = &s->p.facts;
    if (facts->fw_code_fd < 0) return 0;
    SpawnIdentity id = hostfacts_qemu_identity(facts);
    _cleanup_free_ char *dir = statedir_path(&s->cfg);
    int r = fwvars_open(&s->cfg.vm, &id, s->state_fd, dir, &k->fw_code, &k->fw_vars);
    if (r < 0) return r;
    k->fds[k->n_fds++] = (SpawnFd){ k->fw_code, facts->fw_code_fd };
    if (facts->fw_vars_fd >= 0) k->fds[k->n_fds++] = (SpawnFd){ k->fw_vars, facts->fw_vars_fd };
    return 0;
}

/* The QMP pair, /dev/null, the status monitor and the serial console. */
static int open_kit(RunSession *s, SpawnKit *k) {
    const HostFacts *facts = &s->p.facts;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k->sv) < 0) return log_error_errno(-errno, "Failed to create the QMP socket pair: %m");
    k->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (k->devnull < 0) return log_error_errno(-errno, "Failed to open /dev/null: %m");
    k->status_fd = open_listen_socket(&s->rt, STATUS_SOCKET);
    if (k->status_fd < 0) return k->status_fd;
    k->control_fd = open_listen_socket(&s->rt, VMLIVE_SOCKET);
    if (k->control_fd < 0) return k->control_fd;
    int r = open_serial(s, k);
    if (r < 0) return r;
    if ((r = open_agent(s, k)) < 0) return r;
    size_t max_fds = 9 + s->cfg.n_shares + (s->cfg.tpm.enabled ? 1 : 0);
    for (size_t i = 0; i < s->cfg.n_nets; i++) max_fds += 2 * facts->nets[i].queues;
    k->fds = xcalloc(max_fds, sizeof(SpawnFd));
    k->fds[k->n_fds++] = (SpawnFd){ k->devnull, 0 };
    k->fds[k->n_fds++] = (SpawnFd){ k->sv[1], facts->qmp_fd };
    k->fds[k->n_fds++] = (SpawnFd){ k->status_fd, facts->status_fd };
    k->fds[k->n_fds++] = (SpawnFd){ k->control_fd, facts->control_fd };
    if (k->serial_sv[1] >= 0) k->fds[k->n_fds++] = (SpawnFd){ k->serial_sv[1], facts->serial_fd };
    if (cloudinit_wanted(&s->cfg)) {
        if ((k->seed_fd = cloudinit_seed_prepare(&s->cfg, facts, &s->rt)) < 0) return k->seed_fd;
        k->fds[k->n_fds++] = (SpawnFd){ k->seed_fd, facts->seed_fd };
    }
    if (k->agent_fd >= 0) k->fds[k->n_fds++] = (SpawnFd){ k->agent_fd, facts->agent_fd };
    return open_firmware(s, k);
}

/* Taps and vhost-net, opened here as root; QEMU gets the fds. */
static int open_taps(RunSession *s, SpawnKit *k) {
    const VmConfig *cfg = &s->cfg;
    k->taps = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(TapQueues));
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetFds *nf = &s->p.facts.nets[i];
        if (cfg->nets[i].mode == NET_MODE_USER) continue; /* QEMU's own slirp: nothing to open */
        int r = tap_open(cfg, &cfg->nets[i], nf->vhost != NULL, &k->taps[i]);
        if (r < 0) return r;
        for (size_t q = 0; q < nf->queues; q++) {
            k->fds[k->n_fds++] = (SpawnFd){ k->taps[i].fds[q], nf->tap[q] };
            if (nf->vhost) k->fds[k->n_fds++] = (SpawnFd){ k->taps[i].vhost[q], nf->vhost[q] };
        }
        if (vmconf_net_steering(cfg, &cfg->nets[i]) && cfg->cpu.pin.kind != CPUSPEC_AUTO && (r = tap_steer(&k->taps[i], cfg, &s->steering)) < 0)
            return r;
    }
    return 0;
}

/* A virtiofsd per virtiofs share, before QEMU, which gets the connected
 * ends (include/share.h). */
static int start_virtiofsd(RunSession *s, SpawnKit *k) {
    run_session_reach(s, RUN_VIRTIOFSD);
    int r = virtiofsd_start(&s->cfg, &s->p.facts, &s->vfs);
    if (r < 0) return r;
    for (size_t i = 0, v = 0; i < s->cfg.n_shares; i++)
        if (s->p.facts.share_fd[i] >= 0) k->fds[k->n_fds++] = (SpawnFd){ s->vfs.d[v++].qemu_fd, s->p.facts.share_fd[i] };
    return 0;
}

/* QEMU holds them now: ours go. */
static void close_virtiofsd_fds(RunSession *s) {
    for (size_t i = 0; i < s->vfs.n; i++)
        if (s->vfs.d[i].qemu_fd >= 0) close(TAKE_FD(s->vfs.d[i].qemu_fd));
}

/* swtpm for [tpm], before QEMU, which gets its control connection
 * (include/tpm.h). */
static int start_swtpm(RunSession *s, SpawnKit *k) {
    run_session_reach(s, RUN_SWTPM);
    int r = swtpm_start(&s->cfg, &s->p.facts, s->state_fd, &s->tpm);
    if (r < 0) return r;
    k->fds[k->n_fds++] = (SpawnFd){ s->tpm.qemu_fd, s->p.facts.tpm_fd };
    return 0;
}

/* How long a QMP wait while starting may take: QMP_START_TIMEOUT_MS, or
 * less when the [vm] timeout, which counts from the start, comes sooner. */
static int start_wait_ms(const RunSession *s) {
    if (!s->cfg.vm.timeout_ms) return QMP_START_TIMEOUT_MS;
    int64_t left = s->t0 + (int64_t)s->cfg.vm.timeout_ms - monotonic_ms();
    return left <= 0 ? 0 : left < QMP_START_TIMEOUT_MS ? (int)left : QMP_START_TIMEOUT_MS;
}

/* QEMU, paused, as the VM's user; done once it greeted on QMP. */
static int spawn(RunSession *s, SpawnKit *k) {
    const VmConfig *cfg = &s->cfg;
    /* The ids and groups the probe found and the checks used. */
    SpawnIdentity id = hostfacts_qemu_identity(&s->p.facts);
    char **argv = s->p.argv.v;
    SpawnSpec spec = { .argv = argv, .envp = k->env, .change_id = id.change_id, .uid = id.uid, .gid = id.gid,
                       .groups = id.groups, .n_groups = id.n_groups,
                       .fds = k->fds, .n_fds = k->n_fds, .new_process_group = true, .memlock_unlimited = cfg->memory.lock,
                       .memlock_bytes = cfg->n_hostdevs ? hostdev_memlock(cfg) : 0 };
    int r = spawn_qemu_start(&spec, &s->qemu, &k->report);
    if (r < 0) return r;
    run_session_reach(s, RUN_QEMU);
    run_session_mark(s, MARK_SPAWNED);
    close(TAKE_FD(k->sv[1]));
    qmp_init(&s->qmp, TAKE_FD(k->sv[0]));
    run_session_reach(s, RUN_QMP);
    /* While the child gets to exec. Not the cgroups: made while QEMU starts
     * up, they slowed its start more than they took (docs/BENCHMARKS.md). */
    r = runtime_write_pids(&s->rt, getpid(), s->qemu);
    if (r < 0) return r;

    r = qmp_handshake(&s->qmp, start_wait_ms(s));
    run_session_mark(s, MARK_QMP);
    /* QEMU greeted, so exec happened; if not, the child may say why. */
    int rs = spawn_qemu_finish(s->qemu, TAKE_FD(k->report), argv[0]);
    if (rs < 0) {
        run_session_leave(s, RUN_QEMU); /* reaped */
        s->qemu = 0;
        return rs;
    }
    if (r < 0) log_error("QEMU did not come up: %s", s->qmp.error ? s->qmp.error : strerror(-r));
    return r;
}

/* A SIGTERM or SIGINT that came while QEMU was starting: the guest has not
 * run yet, so there is nothing to power down; the start is abandoned. */
static bool stop_requested(int sigfd) {
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (si.ssi_signo != SIGCHLD) stop = true;
    return stop;
}

/* The placement just made, for the supervisor to keep (placewatch.h),
 * with the helper daemons beside QEMU: one add_helper line per kind. */
static void start_watch(RunSession *s, const Placement *pl) {
    placewatch_init(&s->watch, &s->cfg, pl, s->qemu, &s->proc, &s->p.hr, s->p.cgl.version, s->p.cgl.mount, s->cgroups.dir, s->rt.dir_fd);
    s->watch_on = true;
    for (size_t i = 0; i < s->vfs.n; i++) placewatch_add_helper(&s->watch, s->vfs.d[i].pid, "virtiofsd");
    if (s->tpm.pid) placewatch_add_helper(&s->watch, s->tpm.pid, "swtpm");
    placewatch_save(&s->watch);
}

/* QEMU's threads into their cgroups and onto their CPUs, then cont. */
static int place_and_cont(RunSession *s) {
    const VmConfig *cfg = &s->cfg;
    Placement pl;
    bool vhost_open = false;
    for (size_t i = 0; i < cfg->n_nets; i++) vhost_open |= s->p.facts.nets[i].vhost != NULL;
    /* As qemucmd.c chooses the accelerator: the PIT's thread only under KVM. */
    bool kvm = cfg->vm.accel == ACCEL_KVM || (cfg->vm.accel == ACCEL_AUTO && s->p.facts.kvm_usable);
    unsigned walk = (vhost_open ? PLACEMENT_WALK_VHOST : 0) | (kvm ? PLACEMENT_WALK_KVM_PIT : 0);
    int r = hostroot_open_real(&s->proc);
    if (r < 0) return log_error_errno(r, "Failed to open /: %m");
    r = placement_discover(cfg, &s->qmp, s->qemu, walk, &pl);
    /* Cgroups first: joining a cpuset resets a thread's affinity. What
     * setup made is recorded even when it fails, to be torn down. */
    if (r == 0 && s->p.cgl.version != CGROUP_NONE) {
        run_session_reach(s, RUN_CGROUPS);
        r = cgroup_setup_vm(&s->p.hr, &s->p.cgl, cfg, &pl, s->qemu, &s->cgroups);
        /* A nested tree is where this run's cgroup was: `cleanup` finds it
         * through the record only. */
        if (s->cgroups.dir && cgroup_record(&s->cgroups, cfg->vm.name) < 0)
            log_warning("where the cgroups of %s are could not be recorded; `kvmlaunch cleanup` after a crash may miss %s", cfg->vm.name,
                        s->cgroups.dir);
        if (r == 0 && s->vfs.n && s->cgroups.dir) {
            _cleanup_free_ char *emulator = xasprintf("%s/emulator", s->cgroups.dir);
            r = virtiofsd_place(&s->p.hr, &s->vfs, emulator);
        }
        if (r == 0 && s->tpm.pid && s->cgroups.dir) {
            _cleanup_free_ char *emulator = xasprintf("%s/emulator", s->cgroups.dir);
            r = swtpm_place(&s->p.hr, &s->tpm, emulator);
        }
    }
    if (r == 0) r = placement_apply_on(&s->proc, &pl);
    if (r == 0) start_watch(s, &pl);
    placement_free(&pl);
    if (r < 0) return r;
    run_session_mark(s, MARK_PLACED);
    if (stop_requested(s->sigfd)) return log_error_errno(-ECANCELED, "stopped before the guest ran: %s is not started", cfg->vm.name);
    r = qmp_execute(&s->qmp, "cont", NULL, NULL, start_wait_ms(s));
    if (r < 0) {
        log_error("cont failed: %s", s->qmp.error);
        return r;
    }
    run_session_mark(s, MARK_CONT);
    run_session_log_times(s);
    /* Without it the VM runs all the same; only qmp, balloon and pin refuse it. */
    if (vmlive_record_start(s->rt.dir_fd, cfg, vhost_open, &s->steering) < 0)
        log_warning("%s: no live state: `kvmlaunch qmp`, `balloon` and `pin` will not work on it", cfg->vm.name);
    log_info("%s runs: QEMU pid %ld, %lld ms from start to cont", cfg->vm.name, (long)s->qemu, (long long)(monotonic_ms() - s->t0));
    /* Before lockdown: migrate_pages is not on the supervisor's list. */
    MigrateResult mr;
    if (cfg->memory.migrate && cfg->memory.nodes.n) numa_place_migrate_report(&s->proc, s->rt.dir_fd, s->qemu, &cfg->memory.nodes, &mr);
    else if (cfg->memory.nodes.n) numa_place_report(&s->p.hr, s->qemu);
    return 0;
}

/* The VM's state dir, made for QEMU's user when missing, before anything
 * that keeps state in it (UEFI vars, TPM) is opened. Never undone. */
static int open_state_dir(RunSession *s) {
    _cleanup_free_ char *path = statedir_path(&s->cfg);
    SpawnIdentity id = hostfacts_qemu_identity(&s->p.facts);
    s->state_fd = statedir_open(path, id.change_id ? id.uid : geteuid(), id.change_id ? id.gid : getegid(), s->p.facts.running_as_root);
    return s->state_fd < 0 ? s->state_fd : 0;
}

/* The first start of a q35/pc VM: the versioned type QEMU accepted (it
 * greeted on QMP) is recorded, and every later start runs it
 * (include/machinetype.h). */
static void record_machine(RunSession *s) {
    const HostFacts *f = &s->p.facts;
    if (f->machine_source != MACHINE_RESOLVED || s->state_fd < 0) return;
    if (machinetype_write(s->state_fd, f->machine_type) < 0) {
        log_warning("%s: machine %s is %s now, but not recorded: a later QEMU may give the guest other hardware", s->cfg.vm.name,
                    vmconf_machine_written(&s->cfg.vm), f->machine_type);
        return;
    }
    log_notice("%s: machine %s is %s in this QEMU: recorded in the state dir, later starts keep it", s->cfg.vm.name,
               vmconf_machine_written(&s->cfg.vm), f->machine_type);
}

int run_start_qemu(RunSession *s) {
    SpawnKit k = { .sv = { -1, -1 }, .devnull = -1, .status_fd = -1, .control_fd = -1, .seed_fd = -1, .agent_fd = -1, .fw_code = -1, .fw_vars = -1, .report = -1, .serial_sv = { -1, -1 }, .console_fd = -1, .serial_out = -1,
                   .pty_slave = -1, .serial_fd = -1, .log_old = -1, .env = spawn_clean_env() };
    int r = open_state_dir(s);
    if (r == 0) r = open_kit(s, &k);
    if (r == 0) r = open_taps(s, &k);
    if (r == 0 && s->cfg.n_shares) r = start_virtiofsd(s, &k);
    if (r == 0 && s->cfg.tpm.enabled) r = start_swtpm(s, &k);
    if (r == 0 && (r = spawn(s, &k)) < 0) usernet_explain_start_failure(&s->cfg);
    /* Only now: QEMU greeted on QMP, so its slirp has bound the forwards
     * (at netdev creation, before the monitor answers). Written earlier,
     * the record named ports nobody held yet, and another local user
     * could take one for `kvmlaunch ssh` to log in to. */
    if (r == 0) r = usernet_state_write(s->rt.dir_fd, &s->cfg, s->p.facts.user_nets);
    if (r == 0) record_machine(s);
    if (r == 0 && k.serial_sv[0] >= 0) {
        /* QEMU runs: the relay takes over the console. (A reader that
         * went away gives EPIPE: kvmlaunch ignores SIGPIPE, cli.c.) */
        /* Before the call: its arguments are evaluated in no set order,
         * and TAKE_FD(k.pty_slave) sets it to -1. */
        bool pty = k.pty_slave >= 0;
        serial_relay_init(&s->serial, TAKE_FD(k.serial_sv[0]), TAKE_FD(k.console_fd), TAKE_FD(k.serial_out), pty,
                          TAKE_FD(k.pty_slave), TAKE_FD(k.serial_fd), TAKE_FD(k.log_old), s->cfg.vm.serial_log_size);
        s->serial_on = true;
    }
    kit_close(&s->cfg, &k);
    close_virtiofsd_fds(s);
    /* QEMU holds swtpm's control connection now (or nobody does, and
     * swtpm ends: --terminate). */
    if (s->tpm.qemu_fd >= 0) close(TAKE_FD(s->tpm.qemu_fd));
    /* What keeps state there has it open or written by now; a failed
     * start's undo path needs the descriptor more (test_faults' EMFILE). */
    if (s->state_fd >= 0) close(TAKE_FD(s->state_fd));
    return r < 0 ? r : place_and_cont(s);
}
