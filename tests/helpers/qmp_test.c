/* Test-only QMP client (see qmp_test.h). Not the launcher's QMP client: a
 * test must not share the code it checks. */
#include "qmp_test.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void set_err(QmpTest *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(QmpTest *q, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof(q->err), fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there into q->buf, waiting until DEADLINE at most. */
static int fill(QmpTest *q, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            set_err(q, "no complete QMP message within %d ms", q->timeout_ms);
            return -ETIMEDOUT;
        }
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            set_err(q, "poll on the QMP socket: %s", strerror(errno));
            return -errno;
        }
        if (r == 0) continue;
        if (q->alloc - q->len < 4096) {
            q->alloc = q->alloc ? q->alloc * 2 : 16384;
            char *nb = realloc(q->buf, q->alloc);
            if (!nb) abort();
            q->buf = nb;
        }
        ssize_t n = read(q->fd, q->buf + q->len, q->alloc - q->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) {
            set_err(q, "read from the QMP socket: %s", strerror(errno));
            return -errno;
        }
        if (n == 0) {
            set_err(q, "QEMU closed the QMP socket");
            return -ECONNRESET;
        }
        q->len += (size_t)n;
        return 0;
    }
}

/* The next complete JSON value from the socket (a new reference). The
 * tokener keeps its state between reads, so bytes handed to it are dropped
 * from the buffer; bytes after a complete value stay for the next call. */
static int read_message(QmpTest *q, int64_t deadline, json_object **out) {
    for (;;) {
        if (q->len > 0) {
            json_object *o = json_tokener_parse_ex(q->tok, q->buf, (int)q->len);
            enum json_tokener_error e = json_tokener_get_error(q->tok);
            if (e == json_tokener_success) {
                size_t used = json_tokener_get_parse_end(q->tok);
                memmove(q->buf, q->buf + used, q->len - used);
                q->len -= used;
                json_tokener_reset(q->tok);
                if (!o || !json_object_is_type(o, json_type_object)) {
                    json_object_put(o);
                    set_err(q, "expected a JSON object from QMP, found another value");
                    return -EPROTO;
                }
                *out = o;
                return 0;
            }
            if (e != json_tokener_continue) {
                set_err(q, "QMP sent invalid JSON: %s", json_tokener_error_desc(e));
                return -EPROTO;
            }
            q->len = 0; /* all consumed into the tokener's state */
        }
        int r = fill(q, deadline);
        if (r < 0) return r;
    }
}

static int send_all(QmpTest *q, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            set_err(q, "write to the QMP socket: %s", strerror(errno));
            return -errno;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void describe_error(QmpTest *q, const char *cmd, json_object *error) {
    json_object *cls = NULL, *desc = NULL;
    json_object_object_get_ex(error, "class", &cls);
    json_object_object_get_ex(error, "desc", &desc);
    set_err(q, "%s: %s: %s", cmd, cls ? json_object_get_string(cls) : "?", desc ? json_object_get_string(desc) : "?");
}

int qmp_test_execute(QmpTest *q, const char *cmd, json_object *args, json_object **ret) {
    if (ret) *ret = NULL;
    if (q->fd < 0) {
        json_object_put(args);
        set_err(q, "%s: QMP is not connected", cmd);
        return -ENOTCONN;
    }
    uint64_t id = ++q->next_id;
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "execute", json_object_new_string(cmd));
    if (args) json_object_object_add(msg, "arguments", args);
    json_object_object_add(msg, "id", json_object_new_int64((int64_t)id));
    char *text = NULL;
    if (asprintf(&text, "%s\n", json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN)) < 0) abort();
    json_object_put(msg);
    int r = send_all(q, text);
    free(text);
    if (r < 0) return r;

    int64_t deadline = now_ms() + q->timeout_ms;
    for (;;) {
        json_object *m = NULL;
        r = read_message(q, deadline, &m);
        if (r < 0) {
            char why[sizeof(q->err)];
            memcpy(why, q->err, sizeof(why));
            set_err(q, "%s: %s", cmd, why);
            return r;
        }
        json_object *v = NULL;
        if (json_object_object_get_ex(m, "event", &v)) {
            q->events++;
            json_object_put(m);
            continue;
        }
        json_object *mid = NULL;
        if (!json_object_object_get_ex(m, "id", &mid) || (uint64_t)json_object_get_int64(mid) != id) {
            set_err(q, "%s: expected the reply with id %" PRIu64 ", found %s", cmd, id,
                    json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
            json_object_put(m);
            return -EPROTO;
        }
        if (json_object_object_get_ex(m, "error", &v)) {
            describe_error(q, cmd, v);
            json_object_put(m);
            return -EREMOTEIO;
        }
        if (!json_object_object_get_ex(m, "return", &v)) {
            set_err(q, "%s: expected \"return\" or \"error\", found %s", cmd, json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
            json_object_put(m);
            return -EPROTO;
        }
        if (ret) *ret = json_object_get(v);
        json_object_put(m);
        return 0;
    }
}

int qmp_test_connect(QmpTest *q, int fd, int timeout_ms) {
    q->fd = fd;
    q->timeout_ms = timeout_ms;
    q->tok = json_tokener_new();
    if (!q->tok) abort();
    json_object *m = NULL;
    int r = read_message(q, now_ms() + timeout_ms, &m);
    if (r < 0) return r;
    json_object *g = NULL;
    if (!json_object_object_get_ex(m, "QMP", &g)) {
        set_err(q, "expected the QMP greeting, found %s", json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
        json_object_put(m);
        return -EPROTO;
    }
    q->greeting = json_object_get(g);
    json_object_put(m);
    return qmp_test_execute(q, "qmp_capabilities", NULL, NULL);
}

int qmp_test_qom_get(QmpTest *q, const char *path, const char *property, json_object **ret) {
    json_object *args = json_object_new_object();
    json_object_object_add(args, "path", json_object_new_string(path));
    json_object_object_add(args, "property", json_object_new_string(property));
    int r = qmp_test_execute(q, "qom-get", args, ret);
    if (r == -EREMOTEIO) {
        char why[sizeof(q->err)];
        memcpy(why, q->err, sizeof(why));
        set_err(q, "%s (path %s, property %s)", why, path, property);
    }
    return r;
}

int qmp_test_wait_eof(QmpTest *q) {
    int64_t deadline = now_ms() + q->timeout_ms;
    for (;;) {
        json_object *m = NULL;
        int r = read_message(q, deadline, &m);
        if (r == -ECONNRESET) return 0;
        if (r < 0) return r;
        json_object_put(m); /* SHUTDOWN and other events */
    }
}

void qmp_test_close(QmpTest *q) {
    if (q->fd >= 0) close(q->fd);
    q->fd = -1;
    if (q->tok) json_tokener_free(q->tok);
    q->tok = NULL;
    free(q->buf);
    q->buf = NULL;
    q->len = q->alloc = 0;
    json_object_put(q->greeting);
    q->greeting = NULL;
}
