/* Fuzz harness: QMP byte streams -> the QMP client (launcher/vm/qmp.c).
 *
 * The client talks to the other end of a socketpair, on which the harness
 * has written everything "QEMU" says and then shut its side for writing, so
 * every run ends in EOF instead of a wait, and is deterministic. Each input
 * is used twice:
 *
 *  1. raw: the bytes are the stream. Handshake, a few commands, the queued
 *     events. Checked: every return is 0 or one of the documented -errno
 *     values, a failure leaves a message in q->error without a control
 *     character (it is logged to a terminal, and QEMU's text is not
 *     trusted), a handshake that succeeds kept a greeting, events are
 *     objects, the requests the client wrote are JSON lines with ids 1, 2,
 *     3... in order, and qmp_close() closes the descriptor.
 *
 *  2. conversation: the bytes choose a well-formed conversation (greeting,
 *     events, the capabilities reply, a stale reply, whitespace between
 *     messages, json-c's plain, spaced or pretty layout, and where the
 *     client's 8 KiB reads cut the stream) and a payload string. Checked: the
 *     reply with the right id comes back as sent (json_object_equal), an
 *     error reply is -EIO with its class and text, the events come out in
 *     order and unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "qmp.h"
#include "strvec.h"
#include "values.h"
#include "util.h"

/* Bytes of a raw stream used; the rest is ignored. Small enough that the
 * socket takes all of it before the client reads. */
#define QMP_FUZZ_RAW_MAX (64 * 1024)
/* Bytes of payload in a conversation. */
#define QMP_FUZZ_PAYLOAD_MAX 4096
/* QmpClient.buf: the client reads at most this much at once. */
#define QMP_READ_SIZE ((size_t)sizeof(((QmpClient *)0)->buf))
#define QMP_TIMEOUT_MS 2000

static void qmp_fuzz_socketpair(int sv[2]) {
    static bool once;
    if (!once) {
        /* A client write after the peer is gone must be an error, not death. */
        signal(SIGPIPE, SIG_IGN);
        once = true;
    }
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

/* Writes what fits of DATA to the peer end and ends the stream there.
 * Returns the bytes written. */
static size_t qmp_fuzz_feed(int peer, const char *data, size_t size) {
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(peer, data + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        done += (size_t)k;
    }
    shutdown(peer, SHUT_WR);
    return done;
}

static bool qmp_fuzz_ret_ok(int r) {
    return r == 0 || r == -EPROTO || r == -ECONNRESET || r == -EIO || r == -ETIMEDOUT;
}

static void qmp_fuzz_check_ret(const QmpClient *q, int r, const char *what) {
    FUZZ_CHECK(qmp_fuzz_ret_ok(r), "%s returned %d (%s)", what, r, strerror(r < 0 ? -r : r));
    if (r == 0) return;
    FUZZ_CHECK(q->error != NULL, "%s failed with %d and no message", what, r);
    FUZZ_CHECK(fuzz_find_control(q->error) < 0, "%s: the message holds control character 0x%02x: %s", what,
               (unsigned char)q->error[fuzz_find_control(q->error)], q->error);
}

/* What the client wrote: one JSON object a line, "execute" and "id" 1, 2...
 * Returns how many. */
static int64_t qmp_fuzz_requests(int peer, StrVec *commands) {
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t k = recv(peer, buf + len, cap - len, MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    FUZZ_CHECK(!len || buf[len - 1] == '\n', "the client's last request does not end in a newline");
    int64_t id = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line), *v;
        FUZZ_CHECK(o && json_object_is_type(o, json_type_object), "the client wrote a line that is no JSON object: %s", line);
        FUZZ_CHECK(json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_int) && json_object_get_int64(v) == id + 1,
                   "request %" PRId64 " has not id %" PRId64 ": %s", id + 1, id + 1, line);
        FUZZ_CHECK(json_object_object_get_ex(o, "execute", &v) && json_object_is_type(v, json_type_string), "a request without execute: %s",
                   line);
        if (commands) strvec_push(commands, json_object_get_string(v));
        json_object_put(o);
        id++;
    }
    return id;
}

static void qmp_fuzz_close(QmpClient *q) {
    int fd = q->fd;
    qmp_close(q);
    FUZZ_CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "qmp_close left descriptor %d open", fd);
}

/* ---- 1. the bytes are the stream ---- */

static void qmp_fuzz_raw(const uint8_t *data, size_t size) {
    int sv[2];
    qmp_fuzz_socketpair(sv);
    qmp_fuzz_feed(sv[1], (const char *)data, size < QMP_FUZZ_RAW_MAX ? size : QMP_FUZZ_RAW_MAX);
    QmpClient q;
    qmp_init(&q, sv[0]);
    int calls = 1;
    int r = qmp_handshake(&q, QMP_TIMEOUT_MS);
    qmp_fuzz_check_ret(&q, r, "qmp_handshake");
    if (r == 0) {
        FUZZ_CHECK(q.greeting && json_object_object_get_ex(q.greeting, "QMP", NULL), "a handshake without the greeting kept");
        static const char *const cmds[] = { "query-status", "query-cpus-fast", "cont" };
        for (size_t i = 0; i < ELEMENTSOF(cmds) && (r == 0 || r == -EIO); i++) {
            json_object *ret = NULL;
            r = qmp_execute(&q, cmds[i], i == 1 ? json_object_new_object() : NULL, i == 2 ? NULL : &ret, QMP_TIMEOUT_MS);
            calls++;
            qmp_fuzz_check_ret(&q, r, cmds[i]);
            if (r != 0) FUZZ_CHECK(ret == NULL, "%s failed with %d and handed out a reply", cmds[i], r);
            json_object_put(ret);
        }
        while (r == 0 || r == -EIO) {
            json_object *ev = NULL;
            r = qmp_next_event(&q, &ev, 0);
            qmp_fuzz_check_ret(&q, r, "qmp_next_event");
            if (r != 0) break;
            FUZZ_CHECK(ev && json_object_is_type(ev, json_type_object) && json_object_object_get_ex(ev, "event", NULL),
                       "qmp_next_event handed out %s", ev ? json_object_to_json_string(ev) : "NULL");
            (void)qmp_event_name(ev);
            json_object_put(ev);
        }
    }
    int64_t n = qmp_fuzz_requests(sv[1], NULL);
    FUZZ_CHECK(n <= calls, "the client wrote %" PRId64 " requests for %d calls", n, calls);
    qmp_fuzz_close(&q);
    close(sv[1]);
}

/* ---- 2. a well-formed conversation chosen by the bytes ---- */

typedef struct Bytes {
    const uint8_t *p;
    size_t n;
} Bytes;

static unsigned take8(Bytes *b) {
    if (!b->n) return 0;
    b->n--;
    return *b->p++;
}

static unsigned take16(Bytes *b) {
    unsigned lo = take8(b);
    return lo | take8(b) << 8;
}

typedef struct Stream {
    char *s;
    size_t n, cap;
} Stream;

static void stream_add(Stream *st, const char *text, size_t len) {
    if (st->n + len + 1 > st->cap) {
        while (st->n + len + 1 > st->cap) st->cap = st->cap ? st->cap * 2 : 4096;
        st->s = xrealloc(st->s, st->cap);
    }
    memcpy(st->s + st->n, text, len);
    st->n += len;
    st->s[st->n] = '\0';
}

static void stream_json(Stream *st, json_object *o, int flags) {
    size_t len;
    const char *text = json_object_to_json_string_length(o, flags, &len);
    stream_add(st, text, len);
    stream_add(st, "\r\n", 2);
}

/* N bytes of whitespace of one KIND (a "\r\n" run may end in "\r"). */
static void stream_ws(Stream *st, size_t n, unsigned kind) {
    static const char *const ws[] = { " ", "\t", "\r\n", "\n", " \t\r\n" };
    const char *w = ws[kind % ELEMENTSOF(ws)];
    for (size_t i = 0; i < n; i++) stream_add(st, &w[i % strlen(w)], 1);
}

static json_object *event_object(int i, json_object *payload) {
    json_object *ev = json_object_new_object(), *d = json_object_new_object(), *ts = json_object_new_object();
    char name[16];
    snprintf(name, sizeof(name), "EV%d", i);
    json_object_object_add(ev, "event", json_object_new_string(name));
    json_object_object_add(d, "s", json_object_get(payload));
    json_object_object_add(ev, "data", d);
    json_object_object_add(ts, "seconds", json_object_new_int64(1700000000 + i));
    json_object_object_add(ts, "microseconds", json_object_new_int(i));
    json_object_object_add(ev, "timestamp", ts);
    return ev;
}

static json_object *reply_object(json_object *ret, json_object *id) {
    json_object *r = json_object_new_object();
    json_object_object_add(r, "return", ret);
    json_object_object_add(r, "id", id);
    return r;
}

static void qmp_fuzz_conversation(const uint8_t *data, size_t size) {
    Bytes b = { data, size };
    static const int layouts[] = { JSON_C_TO_STRING_PLAIN, JSON_C_TO_STRING_SPACED, JSON_C_TO_STRING_PRETTY,
                                   JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB };
    int flags = layouts[take8(&b) % ELEMENTSOF(layouts)];
    int n_events = (int)(take8(&b) % 4);
    unsigned ws_kind = take8(&b);
    unsigned stale = take8(&b) % 3;     /* 0 none, 1 an earlier id, 2 an id that is no number */
    bool directed = take8(&b) & 1;      /* cut the stream inside the payload, else pad freely */
    unsigned cut = take16(&b), pad_free = take16(&b) % 9000;
    int64_t number = (int64_t)take16(&b) - 32768;
    size_t plen = b.n < QMP_FUZZ_PAYLOAD_MAX ? b.n : QMP_FUZZ_PAYLOAD_MAX;
    json_object *payload = json_object_new_string_len((const char *)b.p, (int)plen);
    json_object *short_payload = json_object_new_string_len((const char *)b.p, (int)(plen < 256 ? plen : 256));

    /* The value the command returns. */
    json_object *value = json_object_new_object();
    json_object_object_add(value, "s", json_object_get(payload));
    json_object_object_add(value, "n", json_object_new_int64(number));
    json_object_object_add(value, "ok", json_object_new_boolean(number & 1));
    json_object_object_add(value, "none", NULL);

    Stream st = { 0 };
    json_object *greeting = json_tokener_parse(
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}");
    stream_json(&st, greeting, flags);
    json_object_put(greeting);
    for (int i = 0; i < n_events; i++) {
        json_object *ev = event_object(i, short_payload);
        stream_json(&st, ev, flags);
        json_object_put(ev);
    }
    json_object *caps = reply_object(json_object_new_object(), json_object_new_int(1));
    stream_json(&st, caps, flags);
    json_object_put(caps);

    json_object *reply = reply_object(json_object_get(value), json_object_new_int(2));
    const char *reply_text = json_object_to_json_string_ext(reply, flags);
    const char *ptext = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
    const char *at = strstr(reply_text, ptext);
    FUZZ_CHECK(at != NULL, "the payload is not in its reply");
    json_object *stale_reply = stale == 1 ? reply_object(json_object_new_object(), json_object_new_int(1))
                             : stale == 2 ? reply_object(json_object_new_object(), json_object_new_string("2"))
                                          : NULL;
    size_t stale_len = 0;
    if (stale_reply) json_object_to_json_string_length(stale_reply, flags, &stale_len);
    /* Directed: whitespace so that one of the client's reads ends CUT bytes
     * into the payload's JSON text. */
    size_t pad = pad_free;
    if (directed) {
        size_t into = (size_t)(at - reply_text) + cut % (strlen(ptext) + 1);
        size_t before = st.n + (stale_reply ? stale_len + 2 : 0) + into;
        size_t boundary = (before / QMP_READ_SIZE + 1) * QMP_READ_SIZE;
        pad = boundary - before;
    }
    stream_ws(&st, pad, ws_kind);
    if (stale_reply) {
        stream_json(&st, stale_reply, flags);
        json_object_put(stale_reply);
    }
    stream_add(&st, reply_text, strlen(reply_text));
    stream_add(&st, "\r\n", 2);
    json_object_put(reply);

    json_object *err = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "class", json_object_new_string("GenericError"));
    json_object_object_add(e, "desc", json_object_get(short_payload));
    json_object_object_add(err, "error", e);
    json_object_object_add(err, "id", json_object_new_int(3));
    stream_json(&st, err, flags);
    json_object_put(err);

    int sv[2];
    qmp_fuzz_socketpair(sv);
    size_t fed = qmp_fuzz_feed(sv[1], st.s, st.n);
    FUZZ_CHECK(fed == st.n, "the socket took %zu of %zu bytes", fed, st.n);
    free(st.s);

    QmpClient q;
    qmp_init(&q, sv[0]);
    int r = qmp_handshake(&q, QMP_TIMEOUT_MS);
    FUZZ_CHECK(r == 0, "the handshake failed with %d: %s", r, q.error ? q.error : "");
    json_object *ret = NULL;
    r = qmp_execute(&q, "query-fuzz", NULL, &ret, QMP_TIMEOUT_MS);
    FUZZ_CHECK(r == 0, "a valid reply failed with %d: %s", r, q.error ? q.error : "");
    FUZZ_CHECK(json_object_equal(ret, value), "the reply came back changed:\n    sent %s\n    got  %s",
               json_object_to_json_string(value), json_object_to_json_string(ret));
    json_object_put(ret);
    r = qmp_execute(&q, "fail", NULL, NULL, QMP_TIMEOUT_MS);
    qmp_fuzz_check_ret(&q, r, "an error reply");
    /* "Class: desc", desc as far as a C string goes, control characters
     * (C0, DEL, C1) and invalid UTF-8 written \xNN: what is left is
     * printable UTF-8 (checked apart from value_escape's own rules). */
    const char *desc = json_object_get_string(short_payload);
    _cleanup_free_ char *escaped = value_escape(desc, strlen(desc));
    _cleanup_free_ char *message = xasprintf("GenericError: %s", escaped);
    FUZZ_CHECK(value_find_bad_char(escaped) < 0, "an escaped error text still holds a control character or invalid UTF-8: %s", escaped);
    FUZZ_CHECK(r == -EIO && streq(q.error, message), "an error reply gave %d: %s, expected %s", r, q.error, message);
    for (int i = 0; i < n_events; i++) {
        json_object *ev = NULL, *want = event_object(i, short_payload);
        r = qmp_next_event(&q, &ev, 0);
        FUZZ_CHECK(r == 0 && json_object_equal(ev, want), "event %d came back as %s", i, ev ? json_object_to_json_string(ev) : "nothing");
        json_object_put(ev);
        json_object_put(want);
    }
    json_object *ev = NULL;
    r = qmp_next_event(&q, &ev, 0);
    FUZZ_CHECK(r == -ECONNRESET && !ev, "after the last message: %d, not -ECONNRESET", r);

    StrVec commands = STRVEC_INIT;
    FUZZ_CHECK(qmp_fuzz_requests(sv[1], &commands) == 3 && streq(commands.v[0], "qmp_capabilities") && streq(commands.v[1], "query-fuzz") &&
                   streq(commands.v[2], "fail"),
               "the client did not write the three requests");
    strvec_clear(&commands);
    qmp_fuzz_close(&q);
    close(sv[1]);
    json_object_put(value);
    json_object_put(payload);
    json_object_put(short_payload);
}

int fuzz_qmp_one(const uint8_t *data, size_t size) {
    qmp_fuzz_raw(data, size);
    qmp_fuzz_conversation(data, size);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_qmp_one(data, size); }
#endif
