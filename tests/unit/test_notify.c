/* The service manager's notifications (launcher/base/notify.c) and the journal's
 * priority prefixes (launcher/base/log.c).
 *
 * Run with arguments it is the service manager of tests/cli/test_systemd.sh:
 *   test_notify --listen SOCKET -- CMD...
 *       binds a datagram socket at SOCKET, runs CMD with NOTIFY_SOCKET set,
 *       prints "child: PID", then each message as "notify: A | B", and
 *       "exit: N" when CMD ends (as systemd reads a Type=notify service). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "util.h"

/* A datagram socket bound at NAME ('@' first: abstract). */
static int bind_dgram(const char *name) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@') sa.sun_path[0] = '\0';
    else unlink(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) return -errno;
    return fd;
}

static char *recv_text(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 2000) != 1) return NULL;
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) return NULL;
    buf[n] = 0;
    return xstrdup(buf);
}

static void check_roundtrip(const char *name) {
    int server = bind_dgram(name);
    assert_true(server >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    int fd = notify_open();
    assert_true(fd >= 0);
    /* Children must not find it. */
    assert_null(getenv("NOTIFY_SOCKET"));
    notify_send(fd, "READY=1\nSTATUS=%s runs", "web");
    _cleanup_free_ char *got = recv_text(server);
    assert_non_null(got);
    assert_string_equal(got, "READY=1\nSTATUS=web runs");
    close(fd);
    close(server);
}

static void test_path_socket(void **state) {
    (void)state;
    char dir[] = "/tmp/klnotify.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/notify", dir);
    check_roundtrip(path);
    unlink(path);
    rmdir(dir);
}

static void test_abstract_socket(void **state) {
    (void)state;
    _cleanup_free_ char *name = xasprintf("@kvmlaunch-test-notify-%ld", (long)getpid());
    check_roundtrip(name);
}

static void test_no_manager(void **state) {
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_open(), -1);
    notify_send(-1, "READY=1");     /* nothing, no crash */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(notify_open(), -EINVAL);
    assert_null(getenv("NOTIFY_SOCKET"));
    setenv("NOTIFY_SOCKET", "/nonexistent/kvmlaunch/notify", 1);
    assert_true(notify_open() < 0);
    unsetenv("NOTIFY_SOCKET");
}

/* stderr into a file: with JOURNAL_STREAM naming that file, "<N>" first. */
static char *log_line_with(const char *journal_stream_of, bool same) {
    char path[] = "/tmp/kllog.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    _cleanup_free_ char *js = xasprintf("%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + (same ? 0 : 1));
    if (journal_stream_of) setenv("JOURNAL_STREAM", js, 1);
    else unsetenv("JOURNAL_STREAM");
    log_setup();
    log_set_vm_name("web");
    log_warning("disk %s is slow", "root");
    log_set_vm_name(NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[256] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    unsetenv("JOURNAL_STREAM");
    log_setup();
    return xstrdup(buf);
}

static void test_journal_prefix(void **state) {
    (void)state;
    _cleanup_free_ char *journal = log_line_with("yes", true);
    assert_string_equal(journal, "<4>kvmlaunch[web]: warning: disk root is slow\n");
    _cleanup_free_ char *other = log_line_with("yes", false);
    assert_string_equal(other, "kvmlaunch[web]: warning: disk root is slow\n");
    _cleanup_free_ char *plain = log_line_with(NULL, false);
    assert_string_equal(plain, "kvmlaunch[web]: warning: disk root is slow\n");
}

/* ---- the service manager of tests/cli/test_systemd.sh ---- */
static int listen_and_run(const char *sock, char **cmd) {
    int fd = bind_dgram(sock);
    if (fd < 0) {
        fprintf(stderr, "bind %s: %s\n", sock, strerror(-fd));
        return 90;
    }
    setenv("NOTIFY_SOCKET", sock, 1);
    pid_t pid = fork();
    if (pid == 0) {
        execv(cmd[0], cmd);
        _exit(127);
    }
    printf("child: %ld\n", (long)pid);
    fflush(stdout);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 200) == 1) {
            char buf[1024];
            ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
            if (n > 0) {
                buf[n] = 0;
                for (char *c = buf; *c; c++)
                    if (*c == '\n') *c = '|';
                printf("notify: %s\n", buf);
                fflush(stdout);
            }
            continue;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            printf("exit: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            fflush(stdout);
            close(fd);
            unlink(sock);
            return 0;
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 4 && streq(argv[1], "--listen") && streq(argv[3], "--")) return listen_and_run(argv[2], argv + 4);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_manager),
        cmocka_unit_test(test_journal_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
