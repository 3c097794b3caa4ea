/* The QMP client against a scripted fake QEMU on a socketpair: split and
 * coalesced reads, events between replies, replies without or with stale
 * ids, two commands in flight, garbage, a peer that closes or never greets,
 * a flood of events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": [\"oob\"]}}\r\n"

typedef enum { SEND, RECV, SLEEP, HOLD, FLOOD } Op;
typedef struct Step { Op op; const char *text; int ms; } Step;

/* Runs SCRIPT as the peer in a child; RECV fails the child (exit 3) when
 * the request lacks text; FLOOD sends text (a format with one %d, given
 * 0, 1, ...) ms times. Returns the child's pid; *fd is our end. */
static pid_t start_peer(const Step *script, size_t n, int *fd) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        for (size_t i = 0; i < n; i++) {
            const Step *s = &script[i];
            if (s->op == SEND) {
                if (write(sv[1], s->text, strlen(s->text)) < 0) _exit(2);
            } else if (s->op == RECV) {
                char buf[4096];
                size_t len = 0;
                while (len < sizeof(buf) - 1) {
                    ssize_t k = read(sv[1], buf + len, 1);
                    if (k <= 0) _exit(4);
                    len++;
                    if (buf[len - 1] == '\n') break;
                }
                buf[len] = 0;
                if (!strstr(buf, s->text)) _exit(3);
            } else if (s->op == FLOOD) {
                for (int k = 0; k < s->ms; k++) {
                    char buf[256];
                    int len = snprintf(buf, sizeof(buf), s->text, k);
                    if (write(sv[1], buf, (size_t)len) != len) _exit(2);
                }
            } else if (s->op == SLEEP) {
                usleep((useconds_t)s->ms * 1000);
            } else {
                sleep(30);
            }
        }
        _exit(0);
    }
    close(sv[1]);
    *fd = sv[0];
    return pid;
}

static int finish_peer(pid_t pid) {
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* start_peer, with Q reading our end. */
static pid_t connect_peer(const Step *script, size_t n, QmpClient *q) {
    int fd;
    pid_t pid = start_peer(script, n, &fd);
    qmp_init(q, fd);
    return pid;
}

static void test_split_reads_and_events(void **state) {
    (void)state;
    const Step script[] = {
        { SEND, "{\"QMP\": {\"version\"", 0 }, { SLEEP, NULL, 20 }, { SEND, ": {}, \"capabilities\": []}}\r", 0 },
        { SLEEP, NULL, 20 }, { SEND, "\n", 0 },
        { RECV, "\"execute\":\"qmp_capabilities\"", 0 }, { SEND, "{\"return\": {}, \"id\": 1}\r\n", 0 },
        { RECV, "\"execute\":\"cont\"", 0 },
        /* RESUME comes before the reply to cont. */
        { SEND, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n{\"return\": {}, ", 0 },
        { SLEEP, NULL, 20 }, { SEND, "\"id\": 2}\r\n", 0 },
        { RECV, "query-status", 0 },
        { SEND, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 3}\r\n{\"event\": \"STOP\"}\r\n", 0 },
        { HOLD, NULL, 0 },
    };
    QmpClient q;
    pid_t pid = connect_peer(script, ELEMENTSOF(script), &q);
    assert_int_equal(qmp_handshake(&q, 2000), 0);
    assert_non_null(q.greeting);
    assert_int_equal(qmp_execute(&q, "cont", NULL, NULL, 2000), 0);
    assert_int_equal(q.n_events, 1);
    json_object *ret = NULL;
    assert_int_equal(qmp_execute(&q, "query-status", NULL, &ret, 2000), 0);
    json_object *st;
    assert_true(json_object_object_get_ex(ret, "status", &st));
    assert_string_equal(json_object_get_string(st), "running");
    json_object_put(ret);
    json_object *ev;
    assert_int_equal(qmp_next_event(&q, &ev, 1000), 0);
    assert_string_equal(qmp_event_name(ev), "RESUME");
    json_object_put(ev);
    assert_int_equal(qmp_next_event(&q, &ev, 1000), 0);
    assert_string_equal(qmp_event_name(ev), "STOP");
    json_object_put(ev);
    assert_int_equal(qmp_next_event(&q, &ev, 50), -ETIMEDOUT);
    qmp_close(&q);
    assert_int_equal(finish_peer(pid), -1); /* killed while holding: it got every request it expected */
}

static void test_coalesced_and_ids(void **state) {
    (void)state;
    const Step script[] = {
        /* The reply to qmp_capabilities arrives with the greeting. */
        { SEND, GREETING "{\"return\": {}, \"id\": 1}\r\n", 0 },
        { RECV, "qmp_capabilities", 0 },
        { RECV, "query-name", 0 },
        /* A stale reply to an earlier command, then ours. */
        { SEND, "{\"return\": {\"name\": \"old\"}, \"id\": 99}\r\n{\"return\": {\"name\": \"vm1\"}, \"id\": 2}\r\n", 0 },
        { RECV, "bogus", 0 },
        /* An error without id: QEMU could not parse the request. */
        { SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n", 0 },
        { RECV, "device_del", 0 },
        { SEND, "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'x' not found\"}, \"id\": 4}\r\n", 0 },
        { HOLD, NULL, 0 },
    };
    QmpClient q;
    pid_t pid = connect_peer(script, ELEMENTSOF(script), &q);
    assert_int_equal(qmp_handshake(&q, 2000), 0);
    json_object *ret;
    assert_int_equal(qmp_execute(&q, "query-name", NULL, &ret, 2000), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "name")), "vm1");
    json_object_put(ret);
    assert_int_equal(qmp_execute(&q, "bogus", NULL, NULL, 2000), -EIO);
    assert_string_equal(q.error, "GenericError: JSON parse error");
    json_object *args = json_object_new_object();
    json_object_object_add(args, "id", json_object_new_string("x"));
    assert_int_equal(qmp_execute(&q, "device_del", args, NULL, 2000), -EIO);
    assert_string_equal(q.error, "DeviceNotFound: Device 'x' not found");
    qmp_close(&q);
    finish_peer(pid);
}

/* Two commands in flight: both requests reach the peer before it answers,
 * one reply arrives split around an event, and each id gets its own. */
static void test_pipelined(void **state) {
    (void)state;
    const Step script[] = {
        { SEND, GREETING, 0 },
        { RECV, "qmp_capabilities", 0 },
        { SEND, "{\"return\": {}, \"id\": 1}\r\n", 0 },
        /* The peer reads both requests before it says anything. */
        { RECV, "query-cpus-fast", 0 },
        { RECV, "query-iothreads", 0 },
        { SEND, "{\"return\": [{\"thread-id\": 11}], \"id\": 2}\r\n{\"event\": \"RESUME\", \"data\": {}}\r\n{\"return\": [", 0 },
        { SLEEP, NULL, 20 },
        { SEND, "{\"thread-id\": 12}], \"id\": 3}\r\n", 0 },
        { HOLD, NULL, 0 },
    };
    QmpClient q;
    pid_t pid = connect_peer(script, ELEMENTSOF(script), &q);
    assert_int_equal(qmp_handshake(&q, 2000), 0);
    int64_t a, b;
    assert_int_equal(qmp_send(&q, "query-cpus-fast", NULL, &a), 0);
    assert_int_equal(qmp_send(&q, "query-iothreads", NULL, &b), 0);
    assert_int_equal(b, a + 1);
    json_object *ra, *rb, *ev;
    assert_int_equal(qmp_reply(&q, a, "query-cpus-fast", &ra, 2000), 0);
    assert_int_equal(qmp_reply(&q, b, "query-iothreads", &rb, 2000), 0);
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(ra, 0), "thread-id")), 11);
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(rb, 0), "thread-id")), 12);
    json_object_put(ra);
    json_object_put(rb);
    assert_int_equal(qmp_next_event(&q, &ev, 0), 0);
    assert_string_equal(qmp_event_name(ev), "RESUME");
    json_object_put(ev);
    qmp_close(&q);
    assert_int_equal(finish_peer(pid), -1); /* killed while holding: both requests arrived */
}

static void test_broken_peers(void **state) {
    (void)state;
    QmpClient q;

    const Step garbage[] = { { SEND, "Hello, I am not QEMU\r\n", 0 }, { HOLD, NULL, 0 } };
    pid_t pid = connect_peer(garbage, ELEMENTSOF(garbage), &q);
    assert_int_equal(qmp_handshake(&q, 1000), -EPROTO);
    qmp_close(&q);
    finish_peer(pid);

    const Step closes[] = { { SEND, "{\"QMP\": {", 0 } };
    pid = connect_peer(closes, ELEMENTSOF(closes), &q);
    assert_int_equal(qmp_handshake(&q, 1000), -ECONNRESET);
    assert_non_null(strstr(q.error, "closed"));
    qmp_close(&q);
    finish_peer(pid);

    /* Greets, then closes with qmp_capabilities unread (a reset) or before
     * it is sent (EPIPE): both are "closed", as an EOF is. */
    const Step greets_closes[] = { { SEND, GREETING, 0 }, { SLEEP, NULL, 100 } };
    pid = connect_peer(greets_closes, ELEMENTSOF(greets_closes), &q);
    assert_int_equal(qmp_handshake(&q, 1000), -ECONNRESET);
    assert_non_null(strstr(q.error, "closed the connection"));
    qmp_close(&q);
    finish_peer(pid);

    const Step silent[] = { { HOLD, NULL, 0 } };
    pid = connect_peer(silent, ELEMENTSOF(silent), &q);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(qmp_handshake(&q, 200), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 190 && ms < 2000);
    qmp_close(&q);
    finish_peer(pid);

    const Step array[] = { { SEND, "[1, 2]\r\n", 0 }, { HOLD, NULL, 0 } };
    pid = connect_peer(array, ELEMENTSOF(array), &q);
    assert_int_equal(qmp_handshake(&q, 1000), -EPROTO);
    qmp_close(&q);
    finish_peer(pid);

    /* A reply to a command that never comes: the wait ends. */
    const Step stalls[] = { { SEND, GREETING "{\"return\": {}, \"id\": 1}\r\n", 0 }, { HOLD, NULL, 0 } };
    pid = connect_peer(stalls, ELEMENTSOF(stalls), &q);
    assert_int_equal(qmp_handshake(&q, 1000), 0);
    assert_int_equal(qmp_execute(&q, "query-status", NULL, NULL, 100), -ETIMEDOUT);
    qmp_close(&q);
    finish_peer(pid);
}

/* Runs FN(Q) with stderr in a file; returns what was written there. */
static char *capture_stderr(void (*fn)(QmpClient *), QmpClient *q) {
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn(q);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    off_t n = lseek(fileno(tmp), 0, SEEK_END);
    assert_true(n >= 0);
    char *text = xcalloc(1, (size_t)n + 1);
    assert_int_equal(pread(fileno(tmp), text, (size_t)n, 0), n);
    fclose(tmp);
    return text;
}

#define FLOOD_EVENTS 1000
#define FLOOD_EVENT "{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": %d}}\r\n"

static int next_offset(QmpClient *q) {
    json_object *ev, *data;
    if (qmp_next_event(q, &ev, 0) < 0) return -1;
    int n = json_object_object_get_ex(ev, "data", &data) ? json_object_get_int(json_object_object_get(data, "offset")) : -2;
    json_object_put(ev);
    return n;
}

/* Reads every queued event, checking they are the oldest, in order. */
static void drain_in_order(QmpClient *q) {
    for (int i = 0; i < QMP_EVENTS_MAX; i++) assert_int_equal(next_offset(q), i);
    json_object *ev;
    assert_int_equal(qmp_next_event(q, &ev, 0), -ETIMEDOUT);
}

/* A guest that makes QEMU send events without end: the queue stays at
 * QMP_EVENTS_MAX (the oldest, in order), the rest is counted and told
 * once, and the reply behind the flood gets through. */
static void test_event_flood(void **state) {
    (void)state;
    const Step script[] = {
        { SEND, GREETING, 0 }, { RECV, "qmp_capabilities", 0 }, { SEND, "{\"return\": {}, \"id\": 1}\r\n", 0 },
        { RECV, "query-status", 0 }, { FLOOD, FLOOD_EVENT, FLOOD_EVENTS },
        { SEND, "{\"return\": {\"status\": \"running\"}, \"id\": 2}\r\n", 0 },
        { RECV, "query-name", 0 }, { FLOOD, FLOOD_EVENT, FLOOD_EVENTS }, { SEND, "{\"return\": {}, \"id\": 3}\r\n", 0 },
        { HOLD, NULL, 0 },
    };
    QmpClient q;
    pid_t pid = connect_peer(script, ELEMENTSOF(script), &q);
    assert_int_equal(qmp_handshake(&q, 2000), 0);
    json_object *ret;
    assert_int_equal(qmp_execute(&q, "query-status", NULL, &ret, 5000), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "status")), "running");
    json_object_put(ret);
    assert_int_equal(q.n_events, QMP_EVENTS_MAX);
    assert_int_equal(q.events_dropped, FLOOD_EVENTS - QMP_EVENTS_MAX);
    _cleanup_free_ char *told = capture_stderr(drain_in_order, &q);
    assert_non_null(strstr(told, "QMP: 744 events from QEMU were dropped"));
    assert_null(strstr(strstr(told, "were dropped") + 1, "were dropped"));

    /* A second flood: counted on, not told again. */
    assert_int_equal(qmp_execute(&q, "query-name", NULL, NULL, 5000), 0);
    assert_int_equal(q.n_events, QMP_EVENTS_MAX);
    assert_int_equal(q.events_dropped, 2 * (FLOOD_EVENTS - QMP_EVENTS_MAX));
    _cleanup_free_ char *again = capture_stderr(drain_in_order, &q);
    assert_null(strstr(again, "dropped"));
    qmp_close(&q);
    assert_int_equal(finish_peer(pid), -1); /* killed while holding: it got both requests */
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_reads_and_events),
        cmocka_unit_test(test_coalesced_and_ids),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_broken_peers),
        cmocka_unit_test(test_event_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
