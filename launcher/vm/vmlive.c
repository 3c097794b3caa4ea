/* The control monitor and the live state of a running VM (include/vmlive.h). */
#include "vmlive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "placement.h"
#include "runtime.h"
#include "schema.h"
#include "supervise.h"
#include "util.h"

const char *vmlive_str(json_object *o, const char *key) {
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *vmlive_load(int dir_fd) { return vmlive_load_file(dir_fd, VMLIVE_STATE); }

json_object *vmlive_load_file(int dir_fd, const char *file) {
    _cleanup_close_ int fd = openat(dir_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) return json_object_new_object();
    if (fd < 0) {
        log_error_errno(-errno, "Failed to open the live state %s: %m", file);
        return NULL;
    }
    _cleanup_free_ char *buf = NULL;
    int r = read_fd_all(fd, RUNTIME_FILE_MAX, &buf, NULL);
    if (r < 0) {
        log_error_errno(r, "Failed to read the live state %s: %m", file);
        return NULL;
    }
    json_object *o = json_tokener_parse(buf);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        log_error("The live state %s is garbled: not a JSON object", file);
        return NULL;
    }
    return o;
}

int vmlive_save(int dir_fd, json_object *state) { return vmlive_save_file(dir_fd, VMLIVE_STATE, state); }

int vmlive_save_file(int dir_fd, const char *file, json_object *state) {
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", file);
    const char *text = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    unlinkat(dir_fd, tmp, 0);
    _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return log_error_errno(-errno, "Failed to create %s: %m", tmp);
    size_t len = strlen(text);
    /* A short write leaves errno as it was (maybe 0): -EIO then, never 0
     * after the file is gone. */
    int r = 0;
    ssize_t n = write(fd, text, len);
    if (n != (ssize_t)len) r = n < 0 ? -errno : -EIO;
    else if ((n = write(fd, "\n", 1)) != 1) r = n < 0 ? -errno : -EIO;
    if (r < 0) {
        log_error_errno(r, "Failed to write %s: %m", tmp);
        unlinkat(dir_fd, tmp, 0);
        return r;
    }
    if (renameat(dir_fd, tmp, dir_fd, file) < 0) {
        r = log_error_errno(-errno, "Failed to replace %s: %m", file);
        unlinkat(dir_fd, tmp, 0);
        return r;
    }
    return 0;
}

static json_object *list_json(CpuList l) {
    _cleanup_free_ char *s = l.n ? cpulist_format(&l) : xstrdup("");
    cpulist_free(&l);
    return json_object_new_string(s);
}

static CpuList spec_list(const CpuSpec *s) { return s->kind == CPUSPEC_LIST ? cpulist_copy(&s->list) : (CpuList){ NULL, 0 }; }

/* "rx-3" or "tx-3" in a queue file's path: its queue number, or -1. */
static long queue_of(const char *path) {
    const char *q = strstr(path, "/queues/");
    long n;
    char kind[3];
    if (!q || sscanf(q, "/queues/%2[rtx]-%ld/", kind, &n) != 2 || n < 0) return -1;
    return n;
}

json_object *vmlive_steering_json(const Steering *st, long vcpus) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; st && i < st->n; i++) {
        long q = queue_of(st->e[i].path);
        if (q < 0 || vcpus <= 0) continue;
        json_object *e = json_object_new_object();
        json_object_object_add(e, "path", json_object_new_string(st->e[i].path));
        json_object_object_add(e, "vcpu", json_object_new_int64(q % vcpus));
        json_object_object_add(e, "mask", json_object_new_string(st->e[i].mask));
        json_object_array_add(a, e);
    }
    return a;
}

int vmlive_record_start(int dir_fd, const VmConfig *cfg, bool vhost_open, const Steering *st) {
    json_object *o = json_object_new_object(), *pl = json_object_new_object(), *v = json_object_new_array();
    for (int64_t i = 0; i < cfg->vm.vcpus; i++) json_object_array_add(v, list_json(placement_vcpu_cpus(cfg, (size_t)i)));
    json_object_object_add(pl, "vcpu", v);
    json_object_object_add(pl, "emulator", list_json(spec_list(&cfg->cpu.emulator)));
    json_object_object_add(pl, "iothreads", list_json(spec_list(&cfg->cpu.iothreads)));
    /* As placement_discover places them: [cpu] vhost = emulator follows it. */
    const CpuSpec *vh = cfg->cpu.vhost.kind == CPUSPEC_EMULATOR ? &cfg->cpu.emulator : &cfg->cpu.vhost;
    json_object_object_add(pl, "vhost", list_json(spec_list(vh)));
    /* So `pin emulator=...` moves them along, as [cpu] vhost = emulator means. */
    json_object_object_add(o, "vhost_follows_emulator", json_object_new_boolean(cfg->cpu.vhost.kind == CPUSPEC_EMULATOR));
    json_object_object_add(o, "vcpus", json_object_new_int64(cfg->vm.vcpus));
    /* For `kvmlaunch stop`: when to try the guest agent (include/agent.h). */
    json_object_object_add(o, "shutdown_timeout_ms", json_object_new_int64((int64_t)cfg->vm.shutdown_timeout_ms));
    json_object_object_add(o, "vhost_open", json_object_new_boolean(vhost_open));
    json_object_object_add(o, "placement", pl);
    json_object_object_add(o, "steering", vmlive_steering_json(st, (long)cfg->vm.vcpus));
    int r = vmlive_save(dir_fd, o);
    json_object_put(o);
    if (r < 0) return r;
    /* Clients create nothing in the runtime dir: the lock is made here. */
    int fd = openat(dir_fd, VMLIVE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return log_error_errno(-errno, "Failed to create %s: %m", VMLIVE_LOCK);
    close(fd);
    return 0;
}

int vmlive_steering_follow(int dir_fd, Steering *st, VmLiveStamp *stamp) {
    struct stat sb;
    if (fstatat(dir_fd, VMLIVE_STATE, &sb, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -errno;
    if (stamp->known && stamp->ino == sb.st_ino && stamp->mtime.tv_sec == sb.st_mtim.tv_sec && stamp->mtime.tv_nsec == sb.st_mtim.tv_nsec)
        return 0;
    json_object *o = vmlive_load(dir_fd);
    if (!o) return -EBADMSG;
    stamp->ino = sb.st_ino;
    stamp->mtime = sb.st_mtim;
    stamp->known = true;
    json_object *a;
    int changed = 0;
    if (json_object_object_get_ex(o, "steering", &a) && json_object_is_type(a, json_type_array))
        for (size_t k = 0; k < json_object_array_length(a); k++) {
            json_object *e = json_object_array_get_idx(a, k);
            const char *path = vmlive_str(e, "path"), *mask = vmlive_str(e, "mask");
            if (!path || !mask) continue;
            for (size_t i = 0; i < st->n; i++)
                if (streq(st->e[i].path, path) && !streq(st->e[i].mask, mask)) {
                    free(st->e[i].mask);
                    st->e[i].mask = xstrdup(mask);
                    changed = 1;
                }
        }
    json_object_put(o);
    return changed;
}

/* ---- the client side ---- */

static int take_lock(VmControl *c) {
    c->lock_fd = openat(c->dir_fd, VMLIVE_LOCK, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (c->lock_fd < 0 && errno == ENOENT) {
        log_error("%s is still starting: its control monitor opens once the guest runs; try again", c->name);
        return -EAGAIN;
    }
    if (c->lock_fd < 0) return log_error_errno(-errno, "Failed to open %s/%s: %m", c->dir, VMLIVE_LOCK);
    int64_t until = monotonic_ms() + VMLIVE_BUSY_WAIT_MS;
    while (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) return log_error_errno(-errno, "Failed to lock %s/%s: %m", c->dir, VMLIVE_LOCK);
        if (monotonic_ms() >= until) {
            log_error("%s: the control monitor is busy: another `kvmlaunch qmp`, `balloon` or `pin` is using it; try again when it is done",
                      c->name);
            return -EBUSY;
        }
        usleep(20 * 1000);
    }
    return 0;
}

static int connect_monitor(VmControl *c) {
    _cleanup_free_ char *path = xasprintf("%s/%s", c->dir, VMLIVE_SOCKET);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) return log_error_errno(-ENAMETOOLONG, "%s is too long for a socket path", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return log_error_errno(-errno, "Failed to create a socket: %m");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        /* A VM started by a kvmlaunch without a control monitor. */
        if (r == -ENOENT) return log_error_errno(r, "%s has no control monitor (%s): it was started by an older kvmlaunch", c->name, path);
        return log_error_errno(r, "Failed to connect to %s: %m", path);
    }
    qmp_init(&c->qmp, fd);
    int r = qmp_handshake(&c->qmp, VMLIVE_HANDSHAKE_MS);
    if (r == -ETIMEDOUT) {
        log_error("%s: the control monitor did not greet within %d ms: another client holds it", c->name, VMLIVE_HANDSHAKE_MS);
        return -EBUSY;
    }
    if (r < 0) return log_error_errno(r, "%s: the control monitor failed: %s", c->name, c->qmp.error ? c->qmp.error : strerror(-r));
    return 0;
}

int vmcontrol_open(const char *name, VmControl *c) {
    memset(c, 0, sizeof(*c));
    c->dir_fd = c->lock_fd = c->qmp.fd = -1;
    char err[VALUE_ERR_MAX];
    if (schema_check_vm_name(name, err) < 0) {
        fprintf(stderr, "kvmlaunch: NAME: %s\n", err);
        return -EINVAL;
    }
    c->name = xstrdup(name);
    int q = runtime_query(name, &c->supervisor, &c->qemu);
    /* Not root: the runtime dir (0700 root) cannot be read at all. */
    if (q < 0) return log_error_errno(q, "Failed to read the pid file of %s in %s: %m", name, runtime_base());
    if (q != 1 || c->qemu <= 0) {
        log_error("%s is not running", name);
        return -ESRCH;
    }
    c->dir = xasprintf("%s/%s", runtime_base(), name);
    c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (c->dir_fd < 0) return log_error_errno(-errno, "Failed to open %s: %m", c->dir);
    int r = take_lock(c);
    if (r < 0) return r;
    c->state = vmlive_load(c->dir_fd);
    if (!c->state) return -EBADMSG;
    return connect_monitor(c);
}

void vmcontrol_close(VmControl *c) {
    if (c->qmp.tok) qmp_close(&c->qmp);
    json_object_put(c->state);
    if (c->lock_fd >= 0) close(c->lock_fd);
    if (c->dir_fd >= 0) close(c->dir_fd);
    free(c->name);
    free(c->dir);
    memset(c, 0, sizeof(*c));
    c->dir_fd = c->lock_fd = c->qmp.fd = -1;
}
