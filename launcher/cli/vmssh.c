/* `kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]`: ssh into a
 * running VM through its `mode = user` forward to guest port 22, as
 * [cloud-init] user with the private half of ssh-key. What it needs comes
 * from the runtime dir: the ssh file the run wrote (cloudinit.h) and the
 * forwards with their real host ports (usernet.h). The guest's
 * host key is accepted the first time and kept in the runtime dir
 * (StrictHostKeyChecking=accept-new): a changed key is refused. So ssh
 * runs only when QEMU itself holds the socket listening on the forward's
 * port (listener_is_qemus): a key kept from another program would be
 * trusted as the guest's from then on. */
#include "vmssh.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caller.h"
#include "cloudinit.h"
#include "exitcode.h"
#include "log.h"
#include "qemucmd.h"
#include "runtime.h"
#include "schema.h"
#include "strvec.h"
#include "supervise.h"
#include "usernet.h"
#include "util.h"
#include "values.h"

#define SSH_BIN "/usr/bin/ssh"
#define KNOWN_HOSTS "known_hosts"
/* One try of --wait: a connect and the first line of sshd. */
#define BANNER_TIMEOUT_MS 2000
#define RETRY_MS 500

/* FD's text to its end (caller frees); NULL with -errno in *ERR. */
#define PROC_NET_TCP_MAX (64u << 20) /* 150 bytes a socket: 400,000 sockets */
static char *read_text(int fd, size_t max, int *err) {
    char *buf = NULL;
    *err = read_fd_all(fd, max, &buf, NULL);
    return buf;
}

/* Reads RUNDIR/NAME/FILE whole (small state files); NULL when absent. */
static char *read_state(const char *name, const char *file, int *err) {
    _cleanup_free_ char *path = xasprintf("%s/%s/%s", runtime_base(), name, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    return read_text(fd, RUNTIME_FILE_MAX, err);
}

const char *vmssh_reach_addr(const char *addr) {
    /* A forward on every address is reached on loopback. */
    return streq(addr, "0.0.0.0") ? "127.0.0.1" : addr;
}

int vmssh_forward_port(const char *name, int guest_port, char *addr, int *host_port) {
    char a[16];
    int r = usernet_host_port(name, guest_port, a, host_port);
    if (r < 0) return r;
    snprintf(addr, VMSSH_ADDR_MAX, "%s", vmssh_reach_addr(a));
    return 0;
}

int vmssh_parse_login(const char *text, char **user, char **key) {
    *user = *key = NULL;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= 5 && !strncmp(p, "user ", 5) && !*user) *user = xstrndup(p + 5, len - 5);
        else if (len > 4 && !strncmp(p, "key ", 4) && !*key) *key = xstrndup(p + 4, len - 4);
        p = nl ? nl + 1 : NULL;
    }
    if (*key) {
        if (!*user) *user = xstrdup("");
        return 0;
    }
    *user = x_free(*user);
    return -EBADMSG;
}

/* One try: does ADDR:PORT answer with an SSH banner within
 * TIMEOUT_MS? Under user networking the connect alone proves nothing:
 * QEMU's slirp accepts it whether or not the guest listens. */
static bool sshd_answers(const char *addr, int port, int timeout_ms) {
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) return false;
    int64_t until = monotonic_ms() + timeout_ms;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) return false;
    char buf[8];
    size_t got = 0;
    while (got < 4) {
        int64_t left = until - monotonic_ms();
        if (left <= 0) return false;
        struct pollfd pfd = { fd, POLLIN, 0 };
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        ssize_t k = read(fd, buf + got, 4 - got);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) return false;
        got += (size_t)k;
    }
    return !memcmp(buf, "SSH-", 4);
}

/* --wait: retries until sshd answers or WAIT_MS passed. */
static bool wait_for_sshd(const char *addr, int port, uint64_t wait_ms) {
    int64_t until = monotonic_ms() + (int64_t)wait_ms;
    for (;;) {
        int64_t left = until - monotonic_ms();
        if (sshd_answers(addr, port, left < BANNER_TIMEOUT_MS ? (left > 0 ? (int)left : 1) : BANNER_TIMEOUT_MS)) return true;
        left = until - monotonic_ms();
        if (left <= 0) return false;
        usleep((useconds_t)(left < RETRY_MS ? left : RETRY_MS) * 1000);
    }
}

size_t vmssh_tcp_listeners(const char *text, uint32_t addr, int port, unsigned long *inodes, size_t max) {
    size_t n = 0;
    /* The first line is the header; then one socket a line:
     * "sl: LOCAL:PORT REMOTE:PORT ST TX:RX TR:WHEN RETR UID TIMEOUT INODE",
     * the address as the kernel's __be32 printed as a number (%08X), so
     * it compares equal to s_addr as this host stores it. */
    const char *p = strchr(text, '\n');
    while (p && *++p) {
        unsigned la, lp, st;
        unsigned long ino;
        if (sscanf(p, " %*u: %8X:%4X %*x:%*x %2X %*s %*s %*s %*s %*s %lu", &la, &lp, &st, &ino) == 4 &&
            st == 0x0A /* TCP_LISTEN */ && (int)lp == port && (la == addr || la == INADDR_ANY)) {
            if (n < max) inodes[n] = ino;
            n++;
        }
        p = strchr(p, '\n');
    }
    return n;
}

/* Is socket INODE among PID's fds? */
static int holds_socket(pid_t pid, unsigned long inode) {
    _cleanup_free_ char *dir = xasprintf("/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d) return -errno;
    char want[64], got[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    int r = -ENOENT;
    struct dirent *e;
    while (r == -ENOENT && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        ssize_t k = readlinkat(dirfd(d), e->d_name, got, sizeof(got) - 1);
        if (k <= 0) continue;
        got[k] = '\0';
        if (streq(got, want)) r = 0;
    }
    closedir(d);
    return r;
}

/* Before ssh runs: is what listens on ADDR:PORT the VM's QEMU (PID)? A
 * port the record names may have been taken by another local user (the
 * forward's port was free at the checks, or QEMU since went away): ssh
 * with accept-new would then keep that program's host key as the guest's.
 * Every listener a connection to ADDR:PORT may reach (bound to ADDR or to
 * 0.0.0.0) in QEMU's network namespace must be a socket QEMU holds. */
static int listener_is_qemus(pid_t pid, const char *addr, int port) {
    struct stat self_ns, qemu_ns;
    _cleanup_free_ char *ns = xasprintf("/proc/%d/ns/net", (int)pid);
    if (stat("/proc/self/ns/net", &self_ns) < 0 || stat(ns, &qemu_ns) < 0)
        return log_error_errno(-errno, "Cannot tell whether %s:%d is QEMU's (%d) forward: %s: %m", addr, port, (int)pid, ns);
    if (self_ns.st_ino != qemu_ns.st_ino || self_ns.st_dev != qemu_ns.st_dev) {
        log_error("QEMU (%d) is in another network namespace than `kvmlaunch ssh`: %s:%d here is not its forward", (int)pid, addr, port);
        return -EXDEV;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1) return -EINVAL;
    _cleanup_free_ char *path = xasprintf("/proc/%d/net/tcp", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r = 0;
    _cleanup_free_ char *text = fd < 0 ? NULL : read_text(fd, PROC_NET_TCP_MAX, &r);
    if (fd < 0 || !text) return log_error_errno(fd < 0 ? -errno : r, "Cannot read %s: %m", path);
    unsigned long ino[8];
    size_t n = vmssh_tcp_listeners(text, a.s_addr, port, ino, 8);
    if (n == 0) {
        log_error("nothing listens on %s:%d, the VM's forward to guest port 22: is QEMU (%d) still up?", addr, port, (int)pid);
        return -ENOENT;
    }
    for (size_t i = 0; i < n; i++) {
        r = i < 8 ? holds_socket(pid, ino[i]) : -ENOENT;
        if (r == -ENOENT) {
            log_error("%s:%d is not the VM's forward: another program listens on it, not QEMU (%d); refusing to log in there", addr, port,
                      (int)pid);
            return -EADDRINUSE;
        }
        if (r < 0) return log_error_errno(r, "Cannot tell whether %s:%d is QEMU's (%d) forward: /proc/%d/fd: %m", addr, port, (int)pid, (int)pid);
    }
    return 0;
}

char **vmssh_argv(const char *ssh, const char *key, const char *addr, int port, const char *known_hosts, const char *user,
                  char *const *command) {
    StrVec v = { 0 };
    strvec_push(&v, ssh);
    /* No ssh_config: the user's or root's (under sudo) would change what
     * this connection is. Only this key, never an agent's others. */
    strvec_push(&v, "-F");
    strvec_push(&v, "none");
    strvec_push(&v, "-i");
    strvec_push(&v, key);
    strvec_push(&v, "-p");
    strvec_pushf(&v, "%d", port);
    strvec_push(&v, "-o");
    strvec_pushf(&v, "UserKnownHostsFile=%s", known_hosts);
    strvec_push(&v, "-o");
    strvec_push(&v, "GlobalKnownHostsFile=/dev/null");
    strvec_push(&v, "-o");
    strvec_push(&v, "StrictHostKeyChecking=accept-new");
    strvec_push(&v, "-o");
    strvec_push(&v, "BatchMode=yes");
    strvec_push(&v, "-o");
    strvec_push(&v, "IdentitiesOnly=yes");
    strvec_push(&v, "-o");
    strvec_push(&v, "LogLevel=ERROR");
    /* "--": the command's words are never read as ssh's options. */
    strvec_push(&v, "--");
    strvec_pushf(&v, "%s@%s", user, addr);
    /* ssh would join the words with spaces for the guest's shell, so
     * `-- sh -c 'uname -r; exit 7'` would run `sh -c uname`: each word is
     * quoted instead and reaches the guest as one argument, as exec
     * passes it. */
    if (command && command[0]) {
        StrVec words = { 0 };
        for (size_t i = 0; command[i]; i++) strvec_push_take(&words, shell_quote(command[i]));
        strvec_push_take(&v, strvec_join(&words, " "));
        strvec_clear(&words);
    }
    return strvec_detach(&v);
}

static volatile sig_atomic_t ssh_child;

static void forward_signal(int sig) {
    if (ssh_child > 0) kill((pid_t)ssh_child, sig);
}

/* Runs ssh (AV) as a child and waits: its exit status, 128+N when signal N
 * ended it. As system() does, ^C and ^\ are ssh's (the terminal sends them
 * to both); a SIGTERM or SIGHUP sent to kvmlaunch is passed on. */
static int run_ssh(const char *ssh, char **av) {
    struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal }, old[4];
    sigaction(SIGINT, &ign, &old[0]);
    sigaction(SIGQUIT, &ign, &old[1]);
    pid_t pid = fork();
    if (pid < 0) return log_error_errno(-errno, "Failed to run %s: %m", ssh), EXIT_RUNTIME;
    if (pid == 0) {
        sigaction(SIGINT, &old[0], NULL);
        sigaction(SIGQUIT, &old[1], NULL);
        execv(ssh, av);
        fprintf(stderr, "kvmlaunch: Failed to run %s: %s\n", ssh, strerror(errno));
        _exit(EXIT_RUNTIME);
    }
    ssh_child = pid;
    sigaction(SIGTERM, &fwd, &old[2]);
    sigaction(SIGHUP, &fwd, &old[3]);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    ssh_child = 0;
    for (int i = 0; i < 4; i++) sigaction((int[]){ SIGINT, SIGQUIT, SIGTERM, SIGHUP }[i], &old[i], NULL);
    if (w < 0) return log_error_errno(-errno, "Failed to wait for %s: %m", ssh), EXIT_RUNTIME;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : EXIT_RUNTIME;
}

static int usage(const char *why) {
    fprintf(stderr, "kvmlaunch ssh: %s\nUsage: kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]\n", why);
    return EXIT_CONFIG;
}

int cmd_ssh_main(int argc, char **argv) {
    if (argc < 2) return usage("expected a VM name");
    const char *name = argv[1];
    uint64_t wait_ms = 0;
    const char *wait_text = NULL;
    char **command = NULL;
    char err[VALUE_ERR_MAX];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (streq(a, "--")) {
            command = argv + i + 1;
            break;
        }
        const char *d = NULL;
        if (streq(a, "--wait")) {
            if (i + 1 == argc) return usage("--wait: expected a duration such as 300s");
            d = argv[++i];
        } else if (!strncmp(a, "--wait=", 7)) {
            d = a + 7;
        } else {
            _cleanup_free_ char *msg = xasprintf("unexpected argument \"%s\" (a command goes after --)", a);
            return usage(msg);
        }
        if (value_parse_duration(d, &wait_ms, err) < 0) {
            _cleanup_free_ char *msg = xasprintf("--wait: %s", err);
            return usage(msg);
        }
        wait_text = d;
    }
    if (schema_check_vm_name(name, err) < 0) {
        fprintf(stderr, "kvmlaunch: NAME: %s\n", err);
        return EXIT_CONFIG;
    }
    /* --wait covers the start too (`kvmlaunch vm.ini & kvmlaunch ssh NAME
     * --wait 10m`, docs/CI.md): until the VM runs, wrote its ssh file and
     * its forwards (written once QEMU greeted on QMP, so its slirp listens
     * on them), each is tried again within DURATION. Without --wait, or
     * once it ran out, each says what is missing at once. */
    int64_t until = monotonic_ms() + (int64_t)wait_ms;
    _cleanup_free_ char *login = NULL, *user = NULL, *key = NULL;
    pid_t qemu = 0;
    int port, r;
    char addr[VMSSH_ADDR_MAX], bound[16];
    for (;; usleep(RETRY_MS * 1000)) {
        bool more = wait_text && monotonic_ms() + RETRY_MS < until;
        r = runtime_query(name, NULL, &qemu);
        if (r < 0) {
            /* A VM root started keeps its runtime dir to root (0700). */
            log_error_errno(r, "Cannot tell whether %s runs (%s/%s): %m", name, runtime_base(), name);
            return EXIT_RUNTIME;
        }
        if (r == 0) {
            if (more) continue;
            log_error("%s is not running", name);
            return EXIT_RUNTIME;
        }
        login = x_free(login);
        login = read_state(name, CLOUDINIT_SSH_FILE, &r);
        if (!login && r != -ENOENT) {
            log_error_errno(r, "Cannot read %s/%s/%s: %m", runtime_base(), name, CLOUDINIT_SSH_FILE);
            return EXIT_RUNTIME;
        }
        if (!login && more) continue;
        if (!login || vmssh_parse_login(login, &user, &key) < 0) {
            log_error("%s has no [cloud-init] ssh-key: `kvmlaunch ssh` logs in with its private half", name);
            return EXIT_CONFIG;
        }
        if (!*user) {
            log_error("%s has no [cloud-init] user: `kvmlaunch ssh` needs the user cloud-init made (the image's default user is not known)", name);
            return EXIT_CONFIG;
        }
        if (usernet_host_port(name, 22, bound, &port) == 0) {
            snprintf(addr, sizeof(addr), "%s", vmssh_reach_addr(bound));
            break;
        }
        if (more && !usernet_state_written(name)) {
            user = x_free(user);
            key = x_free(key);
            continue;
        }
        log_error("%s has no forward to guest port 22: give a [net] with mode = user a forward = tcp:auto:22", name);
        return EXIT_CONFIG;
    }
    /* ssh runs as kvmlaunch's user; under sudo, root: the private key is
     * the caller's, so it must be one they can read themselves. ssh gets
     * this very open file, not the path again (which could be swapped
     * meanwhile for one only root may read): it closes what it inherits
     * at its start, so kvmlaunch keeps the descriptor and ssh, its child,
     * opens it as /proc/KVMLAUNCH/fd/N. */
    _cleanup_free_ char *who = NULL;
    _cleanup_close_ int kfd = caller_open_file(key, &who);
    if (kfd < 0) {
        log_error_errno(kfd, "Cannot read the private key %s%s%s: %m", key, who ? " as " : "", who ? who : "");
        return EXIT_CONFIG;
    }
    if (wait_text) {
        int64_t left = until - monotonic_ms();
        if (!wait_for_sshd(addr, port, left > 0 ? (uint64_t)left : 1)) {
            log_error("the sshd of %s did not answer on %s:%d within %s", name, addr, port, wait_text);
            return VMSSH_EXIT_CONNECT;
        }
    }
    /* $KVMLAUNCH_SSH (the tests' stand-in) only for kvmlaunch's own user:
     * a set-uid start must not run what the caller's environment names.
     * So too $KVMLAUNCH_SSH_LISTENER_PID: the tests' stand-in sshd stands
     * for QEMU in the check of who listens. */
    const char *ssh = who ? NULL : getenv("KVMLAUNCH_SSH");
    if (strempty(ssh)) ssh = SSH_BIN;
    const char *owner = who ? NULL : getenv("KVMLAUNCH_SSH_LISTENER_PID");
    if (!strempty(owner)) qemu = (pid_t)atoi(owner);
    if (qemu <= 0) {
        log_error("%s: QEMU's pid is not known: cannot tell whether %s:%d is its forward", name, addr, port);
        return EXIT_RUNTIME;
    }
    if (listener_is_qemus(qemu, addr, port) < 0) return EXIT_RUNTIME;
    _cleanup_free_ char *known = xasprintf("%s/%s/%s", runtime_base(), name, KNOWN_HOSTS);
    _cleanup_free_ char *keyfd = xasprintf("/proc/%d/fd/%d", (int)getpid(), kfd);
    char **av = vmssh_argv(ssh, keyfd, addr, port, known, user, command);
    r = run_ssh(ssh, av);
    strv_free(av);
    return r;
}
