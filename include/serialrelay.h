/* The guest's serial console, relayed by the supervisor. QEMU's serial
 * chardev is one end of a socket pair; the supervisor holds the other and
 * copies:
 *   guest output -> where [vm] serial sends it (its stdout, a pty it opened
 *                   itself, or a file: log capped at serial-log-size)
 *                -> the attached `kvmlaunch console` client, if any;
 *   client input (and what is typed into the pty) -> the guest.
 * The guest never waits on a reader: the supervisor always reads QEMU's
 * end, writes without blocking, and what a slow or absent reader cannot
 * take is dropped (and counted) in a bounded queue per reader. Clients
 * connect to NAME/console.sock in the runtime dir; one is attached at a
 * time, a second one is told "busy" and closed. */
#ifndef KVMLAUNCH_SERIALRELAY_H
#define KVMLAUNCH_SERIALRELAY_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONSOLE_SOCKET "console.sock"
/* The pty's path, for `status`, in the runtime dir (serial = pty). */
#define CONSOLE_PTY_FILE "console.pty"
/* What a client reads first: one of these lines, then the stream. */
#define CONSOLE_GREETING_OK "ok\n"
#define CONSOLE_GREETING_BUSY "busy\n"
/* Each reader's queue: about a screenful many times over, small enough
 * that a stuck reader costs little. */
#define RELAY_QUEUE_SIZE 65536

/* A bounded byte queue: what does not fit is dropped and counted. */
typedef struct ByteQueue {
    char *buf;
    size_t cap, len;
    uint64_t dropped;               /* bytes refused since the start */
} ByteQueue;

void bq_init(ByteQueue *q, size_t cap);
void bq_free(ByteQueue *q);
/* Appends what fits of DATA; the rest is counted in dropped. Returns the
 * bytes taken. */
size_t bq_push(ByteQueue *q, const void *data, size_t n);
size_t bq_room(const ByteQueue *q);
/* Writes what FD takes without blocking (FD is nonblocking). Returns the
 * bytes written, or -errno when FD failed for good (EAGAIN is 0). */
ssize_t bq_flush(ByteQueue *q, int fd);
void bq_clear(ByteQueue *q);

/* A file: log capped at CAP bytes, with one old copy. Both files are
 * opened by the run under the log's rules (seriallog.h) and held; a
 * rotation copies the log into the old copy and truncates the log, so the
 * supervisor never opens or renames a path after it dropped its
 * privileges (it keeps no CAP_DAC_OVERRIDE to reach the user's directory,
 * and a path resolved later could have been swapped for a symbolic link;
 * copytruncate, as logrotate calls it, needs neither). A copy costs at most
 * CAP bytes per CAP bytes the guest wrote. */
typedef struct CappedLog {
    int fd, old_fd;                 /* owned; -1 when none */
    uint64_t cap, size;
    unsigned rotations;
} CappedLog;

void capped_log_init(CappedLog *l, int fd, int old_fd, uint64_t cap);
/* Appends DATA, rotating first when it would pass the cap; neither file
 * ever holds more than CAP bytes. -errno when a write failed. */
int capped_log_write(CappedLog *l, const void *data, size_t n);
void capped_log_close(CappedLog *l);

typedef struct SerialRelay {
    int qemu_fd;                    /* ours of the serial socket pair; -1 once QEMU closed it */
    int listen_fd;                  /* NAME/console.sock, or -1 */
    int client_fd;                  /* the attached console client, or -1 */
    int out_fd;                     /* serial = stdout or pty: where guest output goes, or -1 */
    bool out_reads;                 /* out_fd is a pty master: what is typed there goes to the guest */
    int pty_slave;                  /* held open, so the master never hangs up with nobody on it */
    CappedLog log;                  /* serial = file: */
    ByteQueue to_out, to_client, to_qemu;
    uint64_t clients, refused;      /* clients attached, clients told busy */
    void (*on_output)(void *arg, const char *data, size_t n); /* sees guest output first (boottime.h), or NULL */
    void *on_output_arg;
} SerialRelay;

#define SERIAL_RELAY_POLLFDS 4

/* Takes the fds (each may be -1; they are made nonblocking). */
void serial_relay_init(SerialRelay *r, int qemu_fd, int listen_fd, int out_fd, bool out_reads, int pty_slave, int log_fd, int log_old_fd,
                       uint64_t log_cap);
/* Fills up to SERIAL_RELAY_POLLFDS entries of P; returns how many. */
size_t serial_relay_pollfds(const SerialRelay *r, struct pollfd *p);
/* Acts on what poll found for the entries serial_relay_pollfds filled. */
void serial_relay_handle(SerialRelay *r, const struct pollfd *p, size_t n);
/* After QEMU was reaped: the output it left in the socket (its last
 * words: a panic, a poweroff) read to the end and relayed, then one
 * flush of each reader's queue, without blocking. */
void serial_relay_drain(SerialRelay *r);
/* Guest output that arrived, as the relay handles it (tests). */
void serial_relay_output(SerialRelay *r, const char *data, size_t n);
/* Says what was dropped, closes everything. */
void serial_relay_close(SerialRelay *r);

#endif
