/* A small synchronous QMP client for tests only: greeting, qmp_capabilities,
 * commands with an "id", events skipped, every wait bounded by a timeout.
 * Replies are parsed with json-c's json_tokener incrementally, so a reply
 * split over several reads, or several replies in one read, both work. */
#ifndef KVMLAUNCH_QMP_TEST_H
#define KVMLAUNCH_QMP_TEST_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

typedef struct QmpTest {
    int fd;                         /* owned: our end of the QMP socket; -1 when closed */
    int timeout_ms;                 /* for each wait: greeting, each reply */
    json_tokener *tok;              /* owned */
    char *buf;                      /* owned: bytes read and not yet parsed */
    size_t len, alloc;
    uint64_t next_id;
    size_t events;                  /* events skipped so far */
    json_object *greeting;          /* owned: the "QMP" member of the greeting */
    char err[512];                  /* what went wrong last: "Class: desc" or the I/O error */
} QmpTest;

#define QMP_TEST_INIT { .fd = -1 }

/* Takes FD (a connected stream socket), reads the greeting and sends
 * qmp_capabilities. Returns 0, or -ETIMEDOUT, -ECONNRESET (EOF), -EPROTO
 * (not QMP), -EREMOTEIO (an error reply) or another -errno; q->err says more. */
int qmp_test_connect(QmpTest *q, int fd, int timeout_ms);

/* Sends {"execute": CMD, "arguments": ARGS, "id": N} and waits for the reply
 * with that id. ARGS (may be NULL) is taken. On success returns 0 and, if RET
 * is not NULL, a reference to the "return" member that the caller puts.
 * An error reply gives -EREMOTEIO with q->err = "Class: desc". */
int qmp_test_execute(QmpTest *q, const char *cmd, json_object *args, json_object **ret);

/* qom-get PATH PROPERTY. */
int qmp_test_qom_get(QmpTest *q, const char *path, const char *property, json_object **ret);

/* Waits until the peer closes the socket (after `quit`), skipping events. */
int qmp_test_wait_eof(QmpTest *q);

void qmp_test_close(QmpTest *q);

#endif
