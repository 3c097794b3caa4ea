/* The serial relay (include/serialrelay.h). Everything here runs in the
 * supervisor's loop after lockdown: read, write, accept4, ftruncate,
 * pread, close, and nothing that blocks on a reader. */
#include "serialrelay.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* One read from QEMU or a client; a few per wakeup, so that a flooding
 * guest cannot starve QMP and the signals in the same loop. */
#define CHUNK 4096
#define READS_PER_WAKEUP 16

void bq_init(ByteQueue *q, size_t cap) { *q = (ByteQueue){ .buf = xmalloc(cap), .cap = cap }; }

void bq_free(ByteQueue *q) {
    free(q->buf);
    *q = (ByteQueue){ 0 };
}

size_t bq_room(const ByteQueue *q) { return q->cap - q->len; }

void bq_clear(ByteQueue *q) { q->len = 0; }

size_t bq_push(ByteQueue *q, const void *data, size_t n) {
    size_t k = n < bq_room(q) ? n : bq_room(q);
    if (k) memcpy(q->buf + q->len, data, k);
    q->len += k;
    /* The newest bytes go: what is queued is already on its way, and a
     * reader that catches up sees a gap, not a reordering. */
    q->dropped += n - k;
    return k;
}

ssize_t bq_flush(ByteQueue *q, int fd) {
    size_t done = 0;
    while (done < q->len) {
        ssize_t w = write(fd, q->buf + done, q->len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            q->len = 0;
            return -e;
        }
        done += (size_t)w;
    }
    memmove(q->buf, q->buf + done, q->len - done);
    q->len -= done;
    return (ssize_t)done;
}

void capped_log_init(CappedLog *l, int fd, int old_fd, uint64_t cap) {
    *l = (CappedLog){ .fd = fd, .old_fd = old_fd, .cap = cap };
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) l->size = (uint64_t)st.st_size;
}

/* The log into the old copy (its last CAP bytes: a log from a run with a
 * larger cap may be longer), then the log emptied. */
static int rotate(CappedLog *l) {
    if (l->old_fd >= 0) {
        if (ftruncate(l->old_fd, 0) < 0) return -errno;
        char buf[65536];
        uint64_t off = l->size > l->cap ? l->size - l->cap : 0;
        for (;;) {
            ssize_t n = pread(l->fd, buf, sizeof(buf), (off_t)off);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return -errno;
            if (n == 0) break;
            /* O_APPEND: the old copy was just emptied, so it fills in order. */
            for (ssize_t done = 0; done < n;) {
                ssize_t w = write(l->old_fd, buf + done, (size_t)(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) return w < 0 ? -errno : -EIO;
                done += w;
            }
            off += (uint64_t)n;
        }
    }
    if (ftruncate(l->fd, 0) < 0) return -errno;
    l->size = 0;
    l->rotations++;
    return 0;
}

int capped_log_write(CappedLog *l, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        if (l->size >= l->cap) {
            int r = rotate(l);
            if (r < 0) return r;
        }
        uint64_t room = l->cap - l->size;
        size_t k = n < room ? n : (size_t)room;
        ssize_t w = write(l->fd, p, k);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? -errno : -EIO;
        l->size += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void capped_log_close(CappedLog *l) {
    if (l->fd >= 0) close(l->fd);
    if (l->old_fd >= 0) close(l->old_fd);
    l->fd = l->old_fd = -1;
}

static void set_nonblock(int fd) {
    int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void serial_relay_init(SerialRelay *r, int qemu_fd, int listen_fd, int out_fd, bool out_reads, int pty_slave, int log_fd, int log_old_fd,
                       uint64_t log_cap) {
    *r = (SerialRelay){ .qemu_fd = qemu_fd, .listen_fd = listen_fd, .client_fd = -1, .out_fd = out_fd, .out_reads = out_reads,
                        .pty_slave = pty_slave };
    set_nonblock(qemu_fd);
    set_nonblock(listen_fd);
    set_nonblock(out_fd);
    capped_log_init(&r->log, log_fd, log_old_fd, log_cap);
    bq_init(&r->to_out, RELAY_QUEUE_SIZE);
    bq_init(&r->to_client, RELAY_QUEUE_SIZE);
    bq_init(&r->to_qemu, RELAY_QUEUE_SIZE);
}

static void drop_client(SerialRelay *r) {
    if (r->client_fd < 0) return;
    close(r->client_fd);
    r->client_fd = -1;
    bq_clear(&r->to_client);
    log_debug("console client detached");
}

static void stop_out(SerialRelay *r, int err) {
    log_warning_errno(err, "The serial console's output failed: %m; the guest's output goes on to console clients only");
    close(r->out_fd);
    r->out_fd = -1;
    bq_clear(&r->to_out);
}

void serial_relay_output(SerialRelay *r, const char *data, size_t n) {
    if (r->log.fd >= 0) {
        int e = capped_log_write(&r->log, data, n);
        if (e < 0) {
            /* A full disk: the log stops, the guest does not. */
            log_warning_errno(e, "Failed to write the serial log: %m; it stops here");
            capped_log_close(&r->log);
        }
    }
    if (r->out_fd >= 0) {
        bq_push(&r->to_out, data, n);
        ssize_t w = bq_flush(&r->to_out, r->out_fd);
        if (w < 0) stop_out(r, (int)w);
    }
    if (r->client_fd >= 0) {
        bq_push(&r->to_client, data, n);
        if (bq_flush(&r->to_client, r->client_fd) < 0) drop_client(r);
    }
    /* Last: what the hook logs (the boot line, on stderr) must not land in
     * the middle of a console line on a shared pipe. */
    if (r->on_output) r->on_output(r->on_output_arg, data, n);
}

/* Input for the guest from FD, as much as the queue to QEMU has room for:
 * a typist faster than the guest waits, the guest does not. Returns false
 * when FD is done. */
static bool take_input(SerialRelay *r, int fd) {
    char buf[CHUNK];
    size_t room = bq_room(&r->to_qemu);
    if (!room) return true;
    ssize_t n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;
    bq_push(&r->to_qemu, buf, (size_t)n);
    if (r->qemu_fd >= 0 && bq_flush(&r->to_qemu, r->qemu_fd) < 0) bq_clear(&r->to_qemu);
    return true;
}

static void accept_client(SerialRelay *r) {
    int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    /* A fresh socket's buffer takes the greeting whole. */
    if (r->client_fd >= 0) {
        if (write(fd, CONSOLE_GREETING_BUSY, strlen(CONSOLE_GREETING_BUSY)) < 0) log_debug("console: telling a second client failed: %m");
        close(fd);
        r->refused++;
        return;
    }
    if (write(fd, CONSOLE_GREETING_OK, strlen(CONSOLE_GREETING_OK)) < 0) {
        close(fd);
        return;
    }
    r->client_fd = fd;
    r->clients++;
    log_debug("console client attached");
}

enum { SLOT_QEMU, SLOT_LISTEN, SLOT_CLIENT, SLOT_OUT };

size_t serial_relay_pollfds(const SerialRelay *r, struct pollfd *p) {
    bool room = bq_room(&r->to_qemu) > 0;
    p[SLOT_QEMU] = (struct pollfd){ .fd = r->qemu_fd, .events = POLLIN | (r->to_qemu.len ? POLLOUT : 0) };
    p[SLOT_LISTEN] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
    p[SLOT_CLIENT] = (struct pollfd){ .fd = r->client_fd, .events = (room ? POLLIN : 0) | (r->to_client.len ? POLLOUT : 0) };
    p[SLOT_OUT] = (struct pollfd){ .fd = r->out_fd, .events = (r->out_reads && room ? POLLIN : 0) | (r->to_out.len ? POLLOUT : 0) };
    return SERIAL_RELAY_POLLFDS;
}

/* Up to MAX reads of the guest's output from QEMU's end, each relayed;
 * false once that end is done (EOF or error) and closed. */
static bool read_qemu(SerialRelay *r, unsigned max) {
    char buf[CHUNK];
    for (unsigned i = 0; i < max; i++) {
        ssize_t k = read(r->qemu_fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) break;
        if (k <= 0) {
            /* QEMU is on its way out. */
            close(r->qemu_fd);
            r->qemu_fd = -1;
            return false;
        }
        serial_relay_output(r, buf, (size_t)k);
    }
    return true;
}

void serial_relay_handle(SerialRelay *r, const struct pollfd *p, size_t n) {
    if (n < SERIAL_RELAY_POLLFDS) return;
    short ev = r->qemu_fd >= 0 ? p[SLOT_QEMU].revents : 0;
    if (ev & (POLLIN | POLLHUP | POLLERR)) read_qemu(r, READS_PER_WAKEUP);
    if (r->qemu_fd >= 0 && (ev & POLLOUT) && bq_flush(&r->to_qemu, r->qemu_fd) < 0) bq_clear(&r->to_qemu);
    if (r->listen_fd >= 0 && (p[SLOT_LISTEN].revents & POLLIN)) accept_client(r);
    ev = r->client_fd >= 0 && p[SLOT_CLIENT].fd == r->client_fd ? p[SLOT_CLIENT].revents : 0;
    if (ev & POLLOUT && bq_flush(&r->to_client, r->client_fd) < 0) drop_client(r);
    /* A client that hung up while the guest's queue is full could not be
     * read to its end: poll would report the hangup at once, each time. */
    if (r->client_fd >= 0 && (ev & (POLLHUP | POLLERR)) && !bq_room(&r->to_qemu)) drop_client(r);
    if (r->client_fd >= 0 && (ev & (POLLIN | POLLHUP | POLLERR)) && !take_input(r, r->client_fd)) drop_client(r);
    ev = r->out_fd >= 0 ? p[SLOT_OUT].revents : 0;
    if (ev & POLLOUT) {
        ssize_t w = bq_flush(&r->to_out, r->out_fd);
        if (w < 0) stop_out(r, (int)w);
    }
    if (r->out_fd < 0) return;
    if (!r->out_reads) {
        /* Its reader went away (poll says so whatever was asked): as a
         * failed write would, the output stops, or poll says it again at
         * once, each time. */
        if (ev & (POLLHUP | POLLERR)) stop_out(r, -EPIPE);
        return;
    }
    /* The pty: its slave is ours too, so it never hangs up while we run;
     * a hangup or an error there is the end of it (kept, it would be
     * reported at once, each time). */
    if (ev & (POLLHUP | POLLERR)) stop_out(r, -EIO);
    else if ((ev & POLLIN) && !take_input(r, r->out_fd)) stop_out(r, -EIO);
}

void serial_relay_drain(SerialRelay *r) {
    /* QEMU is gone: what it wrote is all there, and its end gives EOF
     * after it. No bound: nothing writes there any more. */
    while (r->qemu_fd >= 0 && read_qemu(r, READS_PER_WAKEUP)) {
        struct pollfd p = { .fd = r->qemu_fd, .events = POLLIN };
        /* EAGAIN with QEMU dead: someone else holds its end; done. */
        if (poll(&p, 1, 0) <= 0) break;
    }
    ssize_t w = r->out_fd >= 0 ? bq_flush(&r->to_out, r->out_fd) : 0;
    if (w < 0) stop_out(r, (int)w);
    if (r->client_fd >= 0 && bq_flush(&r->to_client, r->client_fd) < 0) drop_client(r);
}

void serial_relay_close(SerialRelay *r) {
    if (r->to_out.dropped)
        log_notice("serial console: %llu bytes of guest output dropped on the way to %s (a slow or absent reader)",
                   (unsigned long long)r->to_out.dropped, r->out_reads ? "the pty" : "stdout");
    if (r->to_client.dropped)
        log_notice("serial console: %llu bytes of guest output dropped on the way to console clients (too slow)",
                   (unsigned long long)r->to_client.dropped);
    if (r->log.rotations) log_debug("serial log rotated %u times", r->log.rotations);
    drop_client(r);
    int *fds[] = { &r->qemu_fd, &r->listen_fd, &r->out_fd, &r->pty_slave };
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        if (*fds[i] >= 0) close(*fds[i]);
    capped_log_close(&r->log);
    bq_free(&r->to_out);
    bq_free(&r->to_client);
    bq_free(&r->to_qemu);
    *fds[0] = *fds[1] = *fds[2] = *fds[3] = -1;
}
