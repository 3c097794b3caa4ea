/* The guest agent's client (include/agent.h). */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"
#include "util.h"
#include "vmlive.h"

/* How long a second client waits for the lock before it is told busy. */
#define AGENT_BUSY_WAIT_MS 2000

#define say(quiet, r, ...) ((quiet) ? (r) : log_error_errno((r), __VA_ARGS__))

static int take_lock(int dir_fd, AgentClient *a, bool quiet) {
    a->lock_fd = openat(dir_fd, AGENT_LOCK, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (a->lock_fd < 0) return errno == ENOENT ? -ENOENT : say(quiet, -errno, "Failed to open %s: %m", AGENT_LOCK);
    int64_t until = monotonic_ms() + AGENT_BUSY_WAIT_MS;
    while (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) return say(quiet, -errno, "Failed to lock %s: %m", AGENT_LOCK);
        if (monotonic_ms() >= until) {
            if (!quiet) log_error("the guest agent is busy: another `kvmlaunch status`, `stop` or `qmp --agent` is using it");
            return -EBUSY;
        }
        usleep(20 * 1000);
    }
    return 0;
}

static int write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* guest-sync-delimited: bytes up to a 0xFF are stale; the JSON after one
 * is a sync reply, ours when it returns ID. What follows stays in the
 * QmpClient's buffer for the commands. */
static int sync_agent(QmpClient *q, int timeout_ms) {
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) rnd = (uint32_t)(monotonic_us() ^ getpid());
    long id = (long)(rnd & 0x7fffffff);
    char req[128];
    int n = snprintf(req, sizeof(req), "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%ld}}\n", id);
    int r = write_all(q->fd, req, (size_t)n);
    if (r < 0) return r;
    int64_t deadline = monotonic_ms() + timeout_ms;
    bool marked = false;            /* the buffer starts just after a 0xFF */
    for (;;) {
        if (!marked) {
            char *ff = memchr(q->buf, 0xff, q->len);
            size_t drop = ff ? (size_t)(ff - q->buf) + 1 : q->len;
            memmove(q->buf, q->buf + drop, q->len - drop);
            q->len -= drop;
            marked = ff != NULL;
        }
        while (marked && q->len && strchr(" \t\r\n", q->buf[0])) memmove(q->buf, q->buf + 1, --q->len);
        if (marked && q->len) {
            struct json_tokener *tok = json_tokener_new();
            if (!tok) die_oom();
            json_object *o = json_tokener_parse_ex(tok, q->buf, (int)q->len);
            enum json_tokener_error e = json_tokener_get_error(tok);
            size_t used = json_tokener_get_parse_end(tok);
            json_tokener_free(tok);
            if (o) {
                json_object *v = NULL;
                bool ours = json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "return", &v) &&
                            json_object_is_type(v, json_type_int) && json_object_get_int64(v) == id;
                json_object_put(o);
                memmove(q->buf, q->buf + used, q->len - used);
                q->len -= used;
                marked = false;
                if (ours) return 0;
                continue;
            }
            if (e != json_tokener_continue) {
                marked = false;     /* garbage: look for the next 0xFF */
                continue;
            }
            if (q->len == sizeof(q->buf)) return -EPROTO;
        }
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -ETIMEDOUT;
        ssize_t k = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) return -ECONNRESET;
        if (k < 0) return -errno;
        q->len += (size_t)k;
    }
}

int agent_open(const char *dir, int dir_fd, AgentClient *a, int timeout_ms, bool quiet) {
    memset(a, 0, sizeof(*a));
    a->lock_fd = -1;
    qmp_init(&a->q, -1);
    int r = take_lock(dir_fd, a, quiet);
    if (r < 0) return r;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, AGENT_SOCKET) >= (int)sizeof(sa.sun_path))
        return say(quiet, -ENAMETOOLONG, "%s is too long for a socket path", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return say(quiet, -errno, "Failed to create a socket: %m");
    a->q.fd = fd;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return errno == ENOENT ? -ENOENT : say(quiet, -errno, "Failed to connect to %s: %m", sa.sun_path);
    r = sync_agent(&a->q, timeout_ms);
    if (r == -ETIMEDOUT && !quiet) log_error("the guest agent did not answer within %d ms (is qemu-guest-agent running in the guest?)", timeout_ms);
    else if (r < 0 && !quiet) log_error_errno(r, "the guest agent's channel failed: %m");
    return r;
}

int agent_execute(AgentClient *a, const char *command, json_object *args, json_object **ret, int timeout_ms) {
    return qmp_execute(&a->q, command, args, ret, timeout_ms);
}

int agent_shutdown(AgentClient *a, int timeout_ms) {
    json_object *args = json_object_new_object();
    json_object_object_add(args, "mode", json_object_new_string("powerdown"));
    int64_t id;
    int r = qmp_send(&a->q, "guest-shutdown", args, &id);
    if (r < 0) return r;
    r = qmp_reply(&a->q, id, "guest-shutdown", NULL, timeout_ms);
    /* Obeyed: no reply, or the agent gone with the guest's shutdown. */
    return r == -ETIMEDOUT || r == -ECONNRESET ? 0 : r == 0 ? 0 : r;
}

void agent_close(AgentClient *a) {
    if (a->q.tok) qmp_close(&a->q);
    if (a->lock_fd >= 0) close(a->lock_fd);
    a->lock_fd = -1;
}

static const char *str_of(json_object *o, const char *key) {
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

char *agent_os_text(json_object *osinfo) {
    const char *pretty = str_of(osinfo, "pretty-name");
    if (pretty) return xstrdup(pretty);
    const char *name = str_of(osinfo, "name"), *version = str_of(osinfo, "version");
    if (!name) return NULL;
    return version ? xasprintf("%s %s", name, version) : xstrdup(name);
}

int agent_stop_delay_ms(int dir_fd) {
    struct stat st;
    if (fstatat(dir_fd, AGENT_SOCKET, &st, AT_SYMLINK_NOFOLLOW) < 0) return -1;
    int64_t delay = AGENT_STOP_AFTER_MS;
    json_object *live = vmlive_load(dir_fd), *v;
    /* shutdown-timeout = 0: the supervisor quits QEMU at once, no turn for the agent. */
    if (live && json_object_object_get_ex(live, "shutdown_timeout_ms", &v) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) == 0) {
        json_object_put(live);
        return -1;
    }
    /* Before the supervisor's own quit, whatever shutdown-timeout says. */
    if (live && json_object_object_get_ex(live, "shutdown_timeout_ms", &v) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) / 2 < delay)
        delay = json_object_get_int64(v) / 2;
    json_object_put(live);
    return (int)delay;
}

int agent_stop_try(const char *name, const char *dir, int dir_fd) {
    AgentClient a;
    int r = agent_open(dir, dir_fd, &a, AGENT_STATUS_TIMEOUT_MS, true);
    if (r == 0) r = agent_shutdown(&a, AGENT_STATUS_TIMEOUT_MS);
    agent_close(&a);
    if (r == 0) log_notice("%s: the guest ignored the ACPI power-down; asked its guest agent to shut it down", name);
    else log_notice("%s: the guest ignored the ACPI power-down and its guest agent did not answer (%s)", name,
                    r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
    return r;
}
