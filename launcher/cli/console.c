/* `kvmlaunch console NAME`: the terminal on a running VM's serial console,
 * through NAME/console.sock, which the VM's supervisor serves
 * (include/serialrelay.h). The terminal is raw while attached: every key,
 * Ctrl-C included, goes to the guest; Ctrl-] detaches.
 *
 * The terminal is put back however the command ends: on the way out, from
 * a handler for SIGTERM, SIGHUP, SIGINT and SIGQUIT, and, since SIGKILL
 * cannot be caught, by a guard: a child that waits for the pipe its parent
 * holds to close (it closes whichever way the parent dies) and then
 * restores the settings it was given. The shell may draw its prompt a
 * moment before the guard puts the terminal back; a SIGKILL of the whole
 * process group leaves nothing to restore it. */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "serialrelay.h"
#include "util.h"

#define ESCAPE 0x1d /* Ctrl-] */

static struct termios saved;
static volatile sig_atomic_t raw_on;

static void restore_tty(void) {
    if (raw_on) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    raw_on = 0;
}

/* Async-signal-safe: tcsetattr, signal, raise. */
static void on_signal(int sig) {
    restore_tty();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The guard (see the top); returns the write end of its pipe, or -1. */
static int start_guard(pid_t *pid, int sock) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    *pid = fork();
    if (*pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (*pid == 0) {
        close(p[1]);
        close(sock);
        /* It outlives a killed parent in the background: a tcsetattr
         * from there would stop it with SIGTTOU. The signals that end the
         * parent leave it to do its job. */
        signal(SIGTTOU, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {}
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        _exit(0);
    }
    close(p[0]);
    return p[1];
}

static int write_all(int fd, const char *buf, size_t n) {
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -errno;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Connects and reads the greeting: the socket, or an exit code (negated). */
static int attach(const char *name) {
    pid_t sup, qemu;
    if (runtime_query(name, &sup, &qemu) != 1) {
        log_error("%s is not running", name);
        return -EXIT_RUNTIME;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s/%s", runtime_base(), name, CONSOLE_SOCKET) >= (int)sizeof(sa.sun_path)) {
        log_error("The runtime dir of %s is too long for a socket path", name);
        return -EXIT_RUNTIME;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ENOENT) log_error("%s has no serial console (serial = none, or it is still starting)", name);
        else log_error_errno(-e, "Failed to connect to %s: %m", sa.sun_path);
        return -EXIT_RUNTIME;
    }
    char line[16];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t k = read(fd, line + n, 1);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0 || line[n++] == '\n') break;
    }
    line[n] = '\0';
    if (streq(line, CONSOLE_GREETING_OK)) return fd;
    close(fd);
    if (streq(line, CONSOLE_GREETING_BUSY))
        log_error("The serial console of %s is in use by another `kvmlaunch console` (one client at a time): detach it first (Ctrl-])",
                  name);
    else log_error("The serial console of %s did not answer (the VM is ending?)", name);
    return -EXIT_RUNTIME;
}

/* Keys to the guest, up to Ctrl-]: false once it was typed or stdin ended. */
static bool pass_keys(int sock, bool *ok) {
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    char *esc = memchr(buf, ESCAPE, (size_t)n);
    size_t len = esc ? (size_t)(esc - buf) : (size_t)n;
    if (len && write_all(sock, buf, len) < 0) *ok = false;
    return !esc && *ok;
}

int cmd_console(const char *name) {
    char err[VALUE_ERR_MAX];
    if (schema_check_vm_name(name, err) < 0) {
        fprintf(stderr, "kvmlaunch: NAME: %s\n", err);
        return EXIT_CONFIG;
    }
    int sock = attach(name);
    if (sock < 0) return -sock;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    pid_t guard = 0;
    int guard_fd = -1;
    if (tty) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        int sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) sigaction(sigs[i], &sa, NULL);
        guard_fd = start_guard(&guard, sock);
        struct termios t = saved;
        cfmakeraw(&t);
        raw_on = 1;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) raw_on = 0;
    }
    fprintf(stderr, "Connected to the serial console of %s; Ctrl-] detaches.%s\n", name, tty ? "\r" : "");
    bool ok = true, vm_ended = false;
    for (;;) {
        struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            ok = false;
            break;
        }
        if (p[1].revents) {
            char buf[4096];
            ssize_t n = read(sock, buf, sizeof(buf));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                vm_ended = true;
                break;
            }
            if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
                ok = false;
                break;
            }
        }
        if (p[0].revents && !pass_keys(sock, &ok)) break;
    }
    restore_tty();
    if (guard_fd >= 0) {
        close(guard_fd);
        waitpid(guard, NULL, 0);
    }
    close(sock);
    if (vm_ended) fprintf(stderr, "\nThe serial console of %s closed: the VM ended.\n", name);
    else fprintf(stderr, "\nDetached from %s.\n", name);
    return ok ? EXIT_OK : EXIT_RUNTIME;
}
