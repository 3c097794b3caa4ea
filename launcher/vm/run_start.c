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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostfacts.h"
#include "log.h"
#include "numa_place.h"
#include "placement.h"
#include "seriallog.h"
#include "spawn.h"
#include "strvec.h"
#include "supervise.h"
#include "util.h"

#define QMP_START_TIMEOUT_MS 30000
#define STATUS_SOCKET "qmp.sock"

/* What QEMU is handed, ours until the spawn and closed after it. */
typedef struct SpawnKit {
    int sv[2];                      /* QMP: ours, QEMU's */
    int devnull, status_fd, serial_fd, report;
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
    int *fds[] = { &k->sv[0], &k->sv[1], &k->devnull, &k->status_fd, &k->serial_fd, &k->report };
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        if (*fds[i] >= 0) close(*fds[i]);
}

/* The listening socket of the status monitor, in the runtime dir. */
static int open_status_socket(const Runtime *rt) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return log_error_errno(-errno, "Failed to create the status socket: %m");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", rt->dir, STATUS_SOCKET);
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
        struct passwd *pw = cfg->vm.user && as_root ? getpwnam(cfg->vm.user) : NULL;
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

/* The QMP pair, /dev/null, the status monitor and the serial log. */
static int open_kit(RunSession *s, SpawnKit *k) {
    const HostFacts *facts = &s->p.facts;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k->sv) < 0) return log_error_errno(-errno, "Failed to create the QMP socket pair: %m");
    k->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (k->devnull < 0) return log_error_errno(-errno, "Failed to open /dev/null: %m");
    k->status_fd = open_status_socket(&s->rt);
    if (k->status_fd < 0) return k->status_fd;
    _cleanup_free_ char *serial_path = NULL;
    if (hostfacts_serial(&s->cfg, facts, &serial_path) == SERIAL_FILE && (k->serial_fd = open_serial_log(s, serial_path)) < 0) return k->serial_fd;
    size_t max_fds = 4 + s->cfg.n_shares;
    for (size_t i = 0; i < s->cfg.n_nets; i++) max_fds += 2 * facts->nets[i].queues;
    k->fds = xcalloc(max_fds, sizeof(SpawnFd));
    k->fds[k->n_fds++] = (SpawnFd){ k->devnull, 0 };
    k->fds[k->n_fds++] = (SpawnFd){ k->sv[1], facts->qmp_fd };
    k->fds[k->n_fds++] = (SpawnFd){ k->status_fd, facts->status_fd };
    if (k->serial_fd >= 0) k->fds[k->n_fds++] = (SpawnFd){ k->serial_fd, facts->serial_fd };
    return 0;
}

/* Taps and vhost-net, opened here as root; QEMU gets the fds. */
static int open_taps(RunSession *s, SpawnKit *k) {
    const VmConfig *cfg = &s->cfg;
    k->taps = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(TapQueues));
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetFds *nf = &s->p.facts.nets[i];
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
                       .fds = k->fds, .n_fds = k->n_fds, .new_process_group = true, .memlock_unlimited = cfg->memory.lock };
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

/* QEMU's threads into their cgroups and onto their CPUs, then cont. */
static int place_and_cont(RunSession *s) {
    const VmConfig *cfg = &s->cfg;
    Placement pl;
    bool vhost_open = false;
    for (size_t i = 0; i < cfg->n_nets; i++) vhost_open |= s->p.facts.nets[i].vhost != NULL;
    int r = placement_discover(cfg, &s->qmp, s->qemu, vhost_open, &pl);
    /* Cgroups first: joining a cpuset resets a thread's affinity. What
     * setup made is recorded even when it fails, to be torn down. */
    if (r == 0 && s->p.cgl.version != CGROUP_NONE) {
        run_session_reach(s, RUN_CGROUPS);
        r = cgroup_setup_vm(&s->p.hr, &s->p.cgl, cfg, &pl, s->qemu, &s->cgroups);
        if (r == 0 && s->vfs.n && s->cgroups.dir) {
            _cleanup_free_ char *emulator = xasprintf("%s/emulator", s->cgroups.dir);
            r = virtiofsd_place(&s->p.hr, &s->vfs, emulator);
        }
    }
    if (r == 0) r = placement_apply(&pl);
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
    log_info("%s runs: QEMU pid %ld, %lld ms from start to cont", cfg->vm.name, (long)s->qemu, (long long)(monotonic_ms() - s->t0));
    /* Before lockdown: migrate_pages is not on the supervisor's list. */
    if (cfg->memory.migrate && cfg->memory.nodes.n) numa_place_migrate(s->qemu, &cfg->memory.nodes);
    if (cfg->memory.nodes.n) numa_place_report(&s->p.hr, s->qemu);
    return 0;
}

int run_start_qemu(RunSession *s) {
    SpawnKit k = { .sv = { -1, -1 }, .devnull = -1, .status_fd = -1, .serial_fd = -1, .report = -1, .env = spawn_clean_env() };
    int r = open_kit(s, &k);
    if (r == 0) r = open_taps(s, &k);
    if (r == 0 && s->cfg.n_shares) r = start_virtiofsd(s, &k);
    if (r == 0) r = spawn(s, &k);
    kit_close(&s->cfg, &k);
    close_virtiofsd_fds(s);
    return r < 0 ? r : place_and_cont(s);
}
