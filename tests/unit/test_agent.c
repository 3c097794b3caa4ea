/* The guest agent's client (include/agent.h) against a fake agent on
 * NAME/agent.sock: the sync throws away what a former client left in the
 * channel (stale bytes, an old sync reply) and takes only the reply with
 * its own id after a 0xFF; commands are answered by id; guest-shutdown's
 * silence counts as done; a lock held elsewhere is "busy". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "util.h"

static char dir[] = "/tmp/kltest-agent-XXXXXX";
static int dir_fd = -1;

/* One line (a request) from FD, without the leading 0xFF bytes. */
static json_object *read_request(int fd) {
    char buf[4096];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t k = read(fd, buf + n, 1);
        if (k <= 0) return NULL;
        if (buf[n] == '\n') break;
        if ((unsigned char)buf[n] == 0xff) continue;
        n++;
    }
    buf[n] = '\0';
    return json_tokener_parse(buf);
}

static void say(int fd, const char *s) { assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s)); }

/* The fake agent: one client, then exits. */
static void agent(int lfd) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0) _exit(1);
    json_object *rq = read_request(c), *args, *id;
    if (!rq || !json_object_object_get_ex(rq, "arguments", &args) || !json_object_object_get_ex(args, "id", &id)) _exit(2);
    char out[256];
    /* What a former client left: half a reply, an old sync's answer. */
    say(c, "{\"return\": {\"half");
    say(c, "\xff{\"return\": 12345}\n");
    snprintf(out, sizeof(out), "\xff{\"return\": %lld}\n", (long long)json_object_get_int64(id));
    say(c, out);
    json_object_put(rq);
    for (;;) {
        rq = read_request(c);
        if (!rq) _exit(0);
        json_object *ex, *rid = NULL;
        json_object_object_get_ex(rq, "execute", &ex);
        json_object_object_get_ex(rq, "id", &rid);
        const char *cmd = json_object_get_string(ex);
        if (!strcmp(cmd, "guest-shutdown")) _exit(0); /* no reply: it obeys */
        if (!strcmp(cmd, "guest-ping")) snprintf(out, sizeof(out), "{\"return\": {}, \"id\": %s}\n", json_object_get_string(rid));
        else snprintf(out, sizeof(out), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no %s\"}, \"id\": %s}\n", cmd,
                      json_object_get_string(rid));
        say(c, out);
        json_object_put(rq);
    }
}

static pid_t start_agent(void) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, AGENT_SOCKET);
    unlink(path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    pid_t pid = fork();
    if (pid == 0) agent(lfd);
    close(lfd);
    return pid;
}

static int setup(void **state) {
    (void)state;
    assert_non_null(mkdtemp(dir));
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(dir_fd, AGENT_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    close(fd);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlinkat(dir_fd, AGENT_SOCKET, 0);
    unlinkat(dir_fd, AGENT_LOCK, 0);
    close(dir_fd);
    rmdir(dir);
    return 0;
}

static void sync_then_commands(void **state) {
    (void)state;
    pid_t pid = start_agent();
    AgentClient a;
    assert_int_equal(agent_open(dir, dir_fd, &a, 5000, false), 0);
    json_object *ret = NULL;
    assert_int_equal(agent_execute(&a, "guest-ping", NULL, &ret, 5000), 0);
    assert_non_null(ret);
    assert_true(json_object_is_type(ret, json_type_object));
    json_object_put(ret);
    assert_int_equal(agent_execute(&a, "guest-nothing", NULL, &ret, 5000), -EIO);
    assert_non_null(strstr(a.q.error, "CommandNotFound"));
    assert_int_equal(agent_shutdown(&a, 500), 0);
    agent_close(&a);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void busy_and_absent(void **state) {
    (void)state;
    AgentClient a;
    /* No socket: no channel. */
    unlinkat(dir_fd, AGENT_SOCKET, 0);
    assert_int_equal(agent_open(dir, dir_fd, &a, 500, true), -ENOENT);
    agent_close(&a);
    /* The lock held by another client: busy, after a short wait. */
    int held = openat(dir_fd, AGENT_LOCK, O_RDWR | O_CLOEXEC);
    assert_int_equal(flock(held, LOCK_EX), 0);
    pid_t pid = fork();
    if (pid == 0) {
        AgentClient b;
        _exit(agent_open(dir, dir_fd, &b, 500, true) == -EBUSY ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(held);
}

static void os_text(void **state) {
    (void)state;
    json_object *o = json_tokener_parse("{\"name\": \"Debian GNU/Linux\", \"version\": \"12 (bookworm)\", \"pretty-name\": \"Debian GNU/Linux 12 (bookworm)\"}");
    char *t = agent_os_text(o);
    assert_string_equal(t, "Debian GNU/Linux 12 (bookworm)");
    free(t);
    json_object_put(o);
    o = json_tokener_parse("{\"name\": \"Microsoft Windows\", \"version\": \"10\"}");
    t = agent_os_text(o);
    assert_string_equal(t, "Microsoft Windows 10");
    free(t);
    json_object_put(o);
    o = json_tokener_parse("{}");
    assert_null(agent_os_text(o));
    json_object_put(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sync_then_commands),
        cmocka_unit_test(busy_and_absent),
        cmocka_unit_test(os_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
