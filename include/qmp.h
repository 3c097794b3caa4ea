/* A QMP client: QEMU's JSON control protocol over a stream socket. One
 * command at a time (or several sent together), replies matched by "id",
 * events that arrive in between queued in order, and a deadline on every
 * wait. */
#ifndef KVMLAUNCH_QMP_H
#define KVMLAUNCH_QMP_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/* Events queued at most: more than QEMU sends while one command waits
 * for its reply in normal life. */
#define QMP_EVENTS_MAX 256

typedef struct QmpClient {
    int fd;                         /* owned */
    struct json_tokener *tok;       /* owned */
    char buf[8192];                 /* bytes read, not yet parsed */
    size_t len;
    int64_t next_id;
    /* Events wait here until read, oldest first, at most QMP_EVENTS_MAX:
     * a guest can make QEMU send them without end, and only the newest
     * are dropped (counted, logged once) while the queue is full. */
    json_object *events[QMP_EVENTS_MAX]; /* owned: a ring from events_head */
    size_t events_head, n_events;
    uint64_t events_dropped;        /* since qmp_init */
    uint64_t events_dropped_told;   /* of those, how many were logged */
    json_object *greeting;          /* owned; the "QMP" object */
    char *error;                    /* owned: the last failure, for messages */
} QmpClient;

/* Takes FD (a connected stream socket). */
void qmp_init(QmpClient *q, int fd);
void qmp_close(QmpClient *q);

/* Waits for the greeting and negotiates capabilities. 0 or -errno
 * (-ETIMEDOUT, -ECONNRESET when the peer closed, -EPROTO for garbage). */
int qmp_handshake(QmpClient *q, int timeout_ms);

/* Runs COMMAND with ARGS (taken; may be NULL). On success *ret (if not NULL)
 * holds the "return" value (owned by the caller). When QEMU answers with an
 * error, returns -EIO and q->error holds "Class: desc". */
int qmp_execute(QmpClient *q, const char *command, json_object *args, json_object **ret, int timeout_ms);
/* qmp_execute in two halves, so commands can be in flight together (QEMU
 * answers them in order; each wait is a round trip saved): qmp_send
 * writes COMMAND and gives its *id; qmp_reply waits for that id's answer,
 * dropping replies to earlier ids, and returns as qmp_execute does. */
int qmp_send(QmpClient *q, const char *command, json_object *args, int64_t *id);
int qmp_reply(QmpClient *q, int64_t id, const char *command, json_object **ret, int timeout_ms);

/* The oldest queued event, or the next one to arrive within timeout_ms
 * (0: only what is already queued or readable). *event is the caller's.
 * Once the queue is empty after events were dropped, a warning says how
 * many (later drops are debug lines). */
int qmp_next_event(QmpClient *q, json_object **event, int timeout_ms);

/* The name of an event object ("SHUTDOWN"), or "". */
const char *qmp_event_name(json_object *event);

#endif
