/* The serial relay's bookkeeping (include/serialrelay.h): the bounded
 * queue drops and counts what does not fit and never blocks on a full
 * reader; the capped log never holds more than its cap in either file;
 * one console client at a time, a second one told "busy"; the guest's
 * output keeps being read while nobody reads the other side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serialrelay.h"
#include "supervise.h"
#include "util.h"

static void test_queue_drops(void **state) {
    (void)state;
    ByteQueue q;
    bq_init(&q, 8);
    assert_int_equal(bq_push(&q, "abcde", 5), 5);
    assert_int_equal(bq_push(&q, "fghij", 5), 3); /* 2 dropped */
    assert_int_equal(q.len, 8);
    assert_int_equal(q.dropped, 2);
    assert_int_equal(bq_room(&q), 0);
    assert_int_equal(bq_push(&q, "x", 1), 0);
    assert_int_equal(q.dropped, 3);
    assert_memory_equal(q.buf, "abcdefgh", 8);
    bq_free(&q);
}

/* A pipe nobody reads: flushing takes what fits and returns at once. */
static void test_queue_flush_full_reader(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int size = fcntl(p[1], F_GETPIPE_SZ);
    assert_true(size > 0);
    ByteQueue q;
    bq_init(&q, (size_t)size * 2);
    char *junk = xmalloc((size_t)size * 3);
    memset(junk, 'z', (size_t)size * 3);
    assert_int_equal(bq_push(&q, junk, (size_t)size * 3), (size_t)size * 2);
    assert_int_equal(q.dropped, (uint64_t)size);
    ssize_t w = bq_flush(&q, p[1]);
    assert_int_equal(w, size);           /* the pipe is full now */
    assert_int_equal(q.len, (size_t)size); /* the rest waits, in order */
    assert_int_equal(bq_flush(&q, p[1]), 0);
    /* The reader takes some: the queue moves on from where it stopped. */
    char buf[4096];
    assert_int_equal(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
    assert_true(bq_flush(&q, p[1]) > 0);
    /* The reader went away: an error, and the queue is emptied. */
    close(p[0]);
    assert_int_equal(bq_flush(&q, p[1]), -EPIPE);
    assert_int_equal(q.len, 0);
    close(p[1]);
    free(junk);
    bq_free(&q);
}

static int tmpfile_fd(char *path) {
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_APPEND);
    return fd;
}

static off_t size_of(int fd) {
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_size;
}

static void test_capped_log(void **state) {
    (void)state;
    char a[] = "/tmp/kl-relay-logXXXXXX", b[] = "/tmp/kl-relay-oldXXXXXX";
    int fd = tmpfile_fd(a), old = tmpfile_fd(b);
    CappedLog l;
    capped_log_init(&l, dup(fd), dup(old), 100);
    char line[31];
    for (int i = 0; i < 30; i++) {
        snprintf(line, sizeof(line), "%029d\n", i);
        assert_int_equal(capped_log_write(&l, line, 30), 0);
        assert_true(size_of(fd) <= 100);
        assert_true(size_of(old) <= 100);
    }
    /* 900 bytes through a 100-byte cap: 8 rotations, the log holds the
     * last 100, the old copy the 100 before. */
    assert_int_equal(l.rotations, 8);
    assert_int_equal(size_of(fd), 100);
    assert_int_equal(size_of(old), 100);
    char buf[101] = { 0 };
    assert_int_equal(pread(fd, buf, 100, 0), 100);
    snprintf(line, sizeof(line), "%029d\n", 29);
    assert_string_equal(buf + 70, line);
    /* A chunk larger than the cap is split: still no file over it. */
    char big[250];
    memset(big, 'B', sizeof(big));
    assert_int_equal(capped_log_write(&l, big, sizeof(big)), 0);
    assert_true(size_of(fd) <= 100 && size_of(old) <= 100);
    capped_log_close(&l);
    /* A log longer than the cap from an earlier run: the old copy gets
     * its last CAP bytes only. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
    capped_log_init(&l, dup(fd), dup(old), 100);
    assert_int_equal(capped_log_write(&l, "x", 1), 0);
    assert_int_equal(size_of(old), 100);
    assert_int_equal(size_of(fd), 1);
    capped_log_close(&l);
    close(fd);
    close(old);
    unlink(a);
    unlink(b);
}

static int listen_on(char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static int connect_to(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One pass of the supervisor's loop over the relay (no waiting). */
static void turn(SerialRelay *r) {
    struct pollfd p[SERIAL_RELAY_POLLFDS];
    size_t n = serial_relay_pollfds(r, p);
    if (poll(p, n, 50) > 0) serial_relay_handle(r, p, n);
}

static void read_line(int fd, char *buf, size_t size) {
    size_t n = 0;
    while (n < size - 1 && read(fd, buf + n, 1) == 1 && buf[n++] != '\n') {}
    buf[n] = '\0';
}

static void test_relay(void **state) {
    (void)state;
    char sock[] = "/tmp/kl-relay-sockXXXXXX";
    int t = mkstemp(sock);
    close(t);
    int qemu[2], out[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qemu), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    SerialRelay r;
    serial_relay_init(&r, qemu[0], listen_on(sock), out[1], false, -1, -1, -1, 0);

    /* Nobody reads the output pipe and no client is there: the guest's
     * side keeps being read (QEMU never waits), the excess is dropped. */
    char chunk[4096];
    memset(chunk, 'g', sizeof(chunk));
    size_t sent = 0;
    for (int i = 0; i < 200; i++) {
        ssize_t w = write(qemu[1], chunk, sizeof(chunk));
        assert_int_equal(w, (ssize_t)sizeof(chunk)); /* never blocks: the relay read it all */
        sent += (size_t)w;
        turn(&r);
    }
    /* What the pipe took, what waits, and the rest dropped and counted. */
    size_t pipe_size = (size_t)fcntl(out[1], F_GETPIPE_SZ);
    assert_int_equal(r.to_out.len, RELAY_QUEUE_SIZE);
    assert_int_equal(r.to_out.dropped, sent - pipe_size - RELAY_QUEUE_SIZE);

    /* A client attaches: it gets "ok", then the guest's output; what it
     * types reaches the guest. */
    int c1 = connect_to(sock);
    turn(&r);
    char line[16];
    read_line(c1, line, sizeof(line));
    assert_string_equal(line, CONSOLE_GREETING_OK);
    assert_int_equal(r.clients, 1);
    assert_int_equal(write(qemu[1], "hello\n", 6), 6);
    turn(&r);
    read_line(c1, line, sizeof(line));
    assert_string_equal(line, "hello\n");
    assert_int_equal(write(c1, "ls\r", 3), 3);
    turn(&r);
    char in[8] = { 0 };
    assert_int_equal(read(qemu[1], in, sizeof(in)), 3);
    assert_string_equal(in, "ls\r");

    /* A second client is told so and closed; the first stays. */
    int c2 = connect_to(sock);
    turn(&r);
    read_line(c2, line, sizeof(line));
    assert_string_equal(line, CONSOLE_GREETING_BUSY);
    assert_int_equal(read(c2, line, 1), 0);
    assert_int_equal(r.refused, 1);
    assert_true(r.client_fd >= 0);

    /* The first detaches: the next one gets in. */
    close(c1);
    for (int i = 0; i < 5 && r.client_fd >= 0; i++) turn(&r);
    assert_int_equal(r.client_fd, -1);
    int c3 = connect_to(sock);
    turn(&r);
    read_line(c3, line, sizeof(line));
    assert_string_equal(line, CONSOLE_GREETING_OK);

    /* A client that never reads: its queue drops, the guest goes on. */
    uint64_t before = r.to_client.dropped;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(write(qemu[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
        turn(&r);
    }
    assert_true(r.to_client.dropped > before);

    /* QEMU goes: the relay stops reading it. */
    close(qemu[1]);
    for (int i = 0; i < 5 && r.qemu_fd >= 0; i++) turn(&r);
    assert_int_equal(r.qemu_fd, -1);
    serial_relay_close(&r);
    close(c2);
    close(c3);
    close(out[0]);
    unlink(sock);
}

/* The reader of the output went away while nothing waited for it (the
 * relay asked poll for nothing there): poll says so all the same, and the
 * output stops, as a failed write stops it, instead of the loop spinning
 * on a report it ignores. A pipe says POLLERR, a socket POLLHUP. */
static void test_out_reader_gone(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        int qemu[2], out[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qemu), 0);
        if (kind == 0) assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        else assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out), 0);
        SerialRelay r;
        serial_relay_init(&r, qemu[0], -1, out[1], false, -1, -1, -1, 0);
        close(out[0]);
        turn(&r);
        assert_int_equal(r.out_fd, -1);
        /* Nothing left to report: the loop waits again. */
        struct pollfd p[SERIAL_RELAY_POLLFDS];
        size_t n = serial_relay_pollfds(&r, p);
        assert_int_equal(poll(p, n, 0), 0);
        serial_relay_close(&r);
        close(qemu[1]);
    }
}

/* serial = pty: the relay holds the slave, so a terminal program that
 * opens the pty and goes away leaves no hangup on the master to spin on;
 * the pty stays the output, and what is typed there reaches the guest. */
static void test_pty_closed_by_user(void **state) {
    (void)state;
    int qemu[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qemu), 0);
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char path[64];
    assert_int_equal(ptsname_r(master, path, sizeof(path)), 0);
    int slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(slave >= 0);
    SerialRelay r;
    serial_relay_init(&r, qemu[0], -1, master, true, slave, -1, -1, 0);
    int user = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(user >= 0);
    close(user);
    struct pollfd p[SERIAL_RELAY_POLLFDS];
    size_t n = serial_relay_pollfds(&r, p);
    assert_int_equal(poll(p, n, 0), 0);
    turn(&r);
    assert_int_equal(r.out_fd, master);
    user = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(user >= 0);
    assert_int_equal(write(user, "x", 1), 1);
    for (int i = 0; i < 5 && r.to_qemu.len == 0; i++) turn(&r);
    char c = 0;
    assert_int_equal(read(qemu[1], &c, 1), 1);
    assert_int_equal(c, 'x');
    close(user);
    serial_relay_close(&r);
    close(qemu[1]);
}

/* A client hangs up while the queue to the guest is full (a guest that
 * does not read its console): it is dropped all the same, not left for
 * poll to report its hangup again and again. */
static void test_client_gone_queue_full(void **state) {
    (void)state;
    char sock[] = "/tmp/kl-relay-sockXXXXXX";
    int t = mkstemp(sock);
    close(t);
    SerialRelay r;
    serial_relay_init(&r, -1, listen_on(sock), -1, false, -1, -1, -1, 0);
    int c = connect_to(sock);
    turn(&r);
    char line[16];
    read_line(c, line, sizeof(line));
    assert_string_equal(line, CONSOLE_GREETING_OK);
    char *junk = xmalloc(RELAY_QUEUE_SIZE);
    memset(junk, 'k', RELAY_QUEUE_SIZE);
    assert_int_equal(bq_push(&r.to_qemu, junk, RELAY_QUEUE_SIZE), RELAY_QUEUE_SIZE);
    close(c);
    turn(&r);
    assert_int_equal(r.client_fd, -1);
    free(junk);
    serial_relay_close(&r);
    unlink(sock);
}

/* QEMU wrote its last words (a panic, "bye" before poweroff) and exited:
 * more than one wakeup reads is still in the socket when the supervisor
 * reaps it. All of it reaches the log before supervise returns. */
static void test_last_output_kept(void **state) {
    (void)state;
    enum { BLOCKS = 30 };
    int qemu[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qemu), 0);
    assert_int_equal(fcntl(qemu[1], F_SETFL, O_NONBLOCK), 0);
    char chunk[4096];
    memset(chunk, 'g', sizeof(chunk));
    for (int i = 0; i < BLOCKS; i++) assert_int_equal(write(qemu[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
    assert_int_equal(write(qemu[1], "bye\n", 4), 4);
    close(qemu[1]);
    char path[] = "/tmp/kl-relay-lastXXXXXX";
    int log = tmpfile_fd(path);
    SerialRelay r;
    serial_relay_init(&r, qemu[0], -1, -1, false, -1, dup(log), -1, 1 << 20);

    sigset_t old;
    int sigfd = supervise_signals_setup(&old);
    assert_true(sigfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    /* "QEMU" is dead before the supervisor looks: output and SIGCHLD wait together. */
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    static VmConfig cfg;
    Supervisor s = { .cfg = &cfg, .qemu = pid, .sigfd = sigfd, .rundir_fd = -1, .notify_fd = -1, .serial = &r };
    assert_int_equal(supervise(&s), 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sigfd);

    assert_int_equal(size_of(log), BLOCKS * 4096 + 4);
    char tail[5] = { 0 };
    assert_int_equal(pread(log, tail, 4, BLOCKS * 4096), 4);
    assert_string_equal(tail, "bye\n");
    serial_relay_close(&r);
    close(log);
    unlink(path);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* as kvmlaunch does (cli.c) */
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_queue_drops), cmocka_unit_test(test_queue_flush_full_reader),
                                        cmocka_unit_test(test_capped_log), cmocka_unit_test(test_relay),
                                        cmocka_unit_test(test_out_reader_gone), cmocka_unit_test(test_pty_closed_by_user),
                                        cmocka_unit_test(test_client_gone_queue_full), cmocka_unit_test(test_last_output_kept) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
