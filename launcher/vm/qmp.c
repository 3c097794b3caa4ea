/* QMP client (include/qmp.h). json-c's incremental tokener reads the stream:
 * a message may arrive in pieces, several may arrive in one read. */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "values.h"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_error(QmpClient *q, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_error(QmpClient *q, int r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    free(q->error);
    /* QEMU's error text is logged to a terminal, and a QEMU the guest took
     * over may send escape sequences in it. */
    q->error = value_escape(msg, strlen(msg));
    free(msg);
    return r;
}

/* One warning for the drops of this client's life, when the first run of
 * them is over and its count known; later ones are debug lines. */
static void report_dropped(QmpClient *q) {
    uint64_t n = q->events_dropped - q->events_dropped_told;
    if (!n) return;
    if (!q->events_dropped_told)
        log_warning("QMP: %llu events from QEMU were dropped: more than %d came in before they were read (a guest that makes QEMU "
                    "send events without end?)",
                    (unsigned long long)n, QMP_EVENTS_MAX);
    else log_debug("QMP: %llu more events from QEMU were dropped", (unsigned long long)n);
    q->events_dropped_told = q->events_dropped;
}

void qmp_init(QmpClient *q, int fd) {
    memset(q, 0, sizeof(*q));
    q->fd = fd;
    q->tok = json_tokener_new();
    if (!q->tok) die_oom();
    q->next_id = 1;
}

void qmp_close(QmpClient *q) {
    if (q->fd >= 0) close(q->fd);
    if (q->tok) json_tokener_free(q->tok);
    report_dropped(q);
    for (size_t i = 0; i < q->n_events; i++) json_object_put(q->events[(q->events_head + i) % QMP_EVENTS_MAX]);
    json_object_put(q->greeting);
    free(q->error);
    memset(q, 0, sizeof(*q));
    q->fd = -1;
}

static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* One whole message from what is buffered, or NULL when more bytes are
 * needed (*r = 0) or the stream is broken (*r < 0). */
static json_object *parse_buffered(QmpClient *q, int *r) {
    *r = 0;
    /* Whitespace between messages goes; inside one (the tokener holds the
     * start of it) it may be part of a string, cut by a read. */
    bool inside = json_tokener_get_error(q->tok) == json_tokener_continue;
    size_t skip = 0;
    while (!inside && skip < q->len && is_json_space(q->buf[skip])) skip++;
    if (skip) {
        memmove(q->buf, q->buf + skip, q->len - skip);
        q->len -= skip;
    }
    if (!q->len) return NULL;
    json_object *obj = json_tokener_parse_ex(q->tok, q->buf, (int)q->len);
    enum json_tokener_error e = json_tokener_get_error(q->tok);
    if (!obj && e == json_tokener_continue) {
        /* The tokener keeps what it saw; hand it only new bytes next time. */
        q->len = 0;
        return NULL;
    }
    if (!obj) {
        *r = set_error(q, -EPROTO, "QMP: not JSON: %s", json_tokener_error_desc(e));
        return NULL;
    }
    size_t used = json_tokener_get_parse_end(q->tok);
    json_tokener_reset(q->tok);
    memmove(q->buf, q->buf + used, q->len - used);
    q->len -= used;
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        *r = set_error(q, -EPROTO, "QMP: expected a JSON object");
        return NULL;
    }
    return obj;
}

/* The next message, waiting until DEADLINE (a now_ms() value). */
static int read_message(QmpClient *q, int64_t deadline, json_object **out) {
    for (;;) {
        int r;
        json_object *obj = parse_buffered(q, &r);
        if (r < 0) return r;
        if (obj) {
            *out = obj;
            return 0;
        }
        int64_t left = deadline - now_ms();
        if (left < 0) left = 0;
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return set_error(q, -errno, "QMP: poll: %s", strerror(errno));
        if (r == 0) {
            if (now_ms() >= deadline) return set_error(q, -ETIMEDOUT, "QMP: no answer in time");
            continue;
        }
        ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        /* A close with our command unread reaches us as a reset. */
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return set_error(q, -ECONNRESET, "QMP: QEMU closed the connection");
        if (n < 0) return set_error(q, -errno, "QMP: read: %s", strerror(errno));
        q->len += (size_t)n;
    }
}

/* A full queue keeps its oldest events and drops the newest: the order
 * of what is kept stays true, and a reply still gets through. */
static void queue_event(QmpClient *q, json_object *ev) {
    if (q->n_events == QMP_EVENTS_MAX) {
        q->events_dropped++;
        log_debug("QMP event %s dropped: %d are queued already", qmp_event_name(ev), QMP_EVENTS_MAX);
        json_object_put(ev);
        return;
    }
    q->events[(q->events_head + q->n_events++) % QMP_EVENTS_MAX] = ev;
    log_debug("QMP event %s", qmp_event_name(ev));
}

const char *qmp_event_name(json_object *event) {
    json_object *name;
    if (event && json_object_object_get_ex(event, "event", &name) && json_object_is_type(name, json_type_string))
        return json_object_get_string(name);
    return "";
}

static int write_all(QmpClient *q, const char *s, size_t n) {
    while (n) {
        ssize_t k = write(q->fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) return set_error(q, -ECONNRESET, "QMP: QEMU closed the connection");
        if (k < 0) return set_error(q, -errno, "QMP: write: %s", strerror(errno));
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

int qmp_handshake(QmpClient *q, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    json_object *msg;
    for (;;) {
        int r = read_message(q, deadline, &msg);
        if (r < 0) return r;
        json_object *v;
        if (json_object_object_get_ex(msg, "QMP", &v)) break;
        if (json_object_object_get_ex(msg, "event", &v)) {
            queue_event(q, msg);
            continue;
        }
        json_object_put(msg);
        return set_error(q, -EPROTO, "QMP: expected the greeting first");
    }
    json_object_put(q->greeting);
    q->greeting = msg;
    return qmp_execute(q, "qmp_capabilities", NULL, NULL, (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0));
}

int qmp_send(QmpClient *q, const char *command, json_object *args, int64_t *id) {
    *id = q->next_id++;
    json_object *req = json_object_new_object();
    json_object_object_add(req, "execute", json_object_new_string(command));
    if (args) json_object_object_add(req, "arguments", args);
    json_object_object_add(req, "id", json_object_new_int64(*id));
    const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    int r = write_all(q, text, strlen(text));
    if (r == 0) r = write_all(q, "\n", 1);
    json_object_put(req);
    return r;
}

int qmp_execute(QmpClient *q, const char *command, json_object *args, json_object **ret, int timeout_ms) {
    int64_t id;
    if (ret) *ret = NULL;
    int r = qmp_send(q, command, args, &id);
    return r < 0 ? r : qmp_reply(q, id, command, ret, timeout_ms);
}

int qmp_reply(QmpClient *q, int64_t id, const char *command, json_object **ret, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    int r;
    if (ret) *ret = NULL;
    for (;;) {
        json_object *msg, *v;
        r = read_message(q, deadline, &msg);
        if (r < 0) return r;
        if (json_object_object_get_ex(msg, "event", &v)) {
            queue_event(q, msg);
            continue;
        }
        bool has_return = json_object_object_get_ex(msg, "return", NULL);
        json_object *err = NULL;
        bool has_error = json_object_object_get_ex(msg, "error", &err);
        if (!has_return && !has_error) {
            json_object_put(msg);
            return set_error(q, -EPROTO, "QMP: expected a reply or an event to %s", command);
        }
        json_object *idv;
        if (json_object_object_get_ex(msg, "id", &idv)) {
            if (!json_object_is_type(idv, json_type_int) || json_object_get_int64(idv) != id) {
                /* A late answer to a command that timed out before. */
                log_debug("QMP: dropping a reply to an earlier command");
                json_object_put(msg);
                continue;
            }
        } else if (!has_error) {
            json_object_put(msg);
            return set_error(q, -EPROTO, "QMP: a reply to %s without its id", command);
        }
        /* An error without id answers a request QEMU could not parse: ours. */
        if (has_error) {
            json_object *cls = NULL, *desc = NULL;
            json_object_object_get_ex(err, "class", &cls);
            json_object_object_get_ex(err, "desc", &desc);
            set_error(q, -EIO, "%s: %s", cls ? json_object_get_string(cls) : "Error", desc ? json_object_get_string(desc) : "(no description)");
            json_object_put(msg);
            return -EIO;
        }
        if (ret) *ret = json_object_get(json_object_object_get(msg, "return"));
        json_object_put(msg);
        return 0;
    }
}

int qmp_next_event(QmpClient *q, json_object **event, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (!q->n_events) {
        json_object *msg, *v;
        int r = read_message(q, deadline, &msg);
        if (r < 0) return r;
        if (json_object_object_get_ex(msg, "event", &v)) {
            queue_event(q, msg);
        } else {
            log_debug("QMP: dropping a reply nobody waits for");
            json_object_put(msg);
        }
    }
    *event = q->events[q->events_head];
    q->events_head = (q->events_head + 1) % QMP_EVENTS_MAX;
    if (!--q->n_events) report_dropped(q);
    return 0;
}
