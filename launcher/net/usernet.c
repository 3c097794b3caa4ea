/* [net "ID"] mode = user on the host side (include/usernet.h). */
#include "usernet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kfiles.h"
#include "log.h"
#include "netforward.h"
#include "runtime.h"
#include "schema.h"
#include "util.h"

int usernet_try_port(const char *addr, int proto, int port, int *got) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) return -EINVAL;
    _cleanup_close_ int fd = socket(AF_INET, (proto == FWD_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    /* As slirp does: a port left in TIME_WAIT by an earlier run is free to
     * it, and so it is here. */
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -errno;
    if (proto == FWD_TCP && listen(fd, 1) < 0) return -errno;
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return -errno;
    *got = ntohs(sa.sin_port);
    return 0;
}

void usernet_probe(const HostRoot *hr, const VmConfig *cfg, UserNetFacts **out, int *unpriv_port_start) {
    *out = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(UserNetFacts));
    *unpriv_port_start = -1;
    bool any = false;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode != NET_MODE_USER || !n->forward.n) continue;
        UserNetFacts *u = &(*out)[i];
        u->n = n->forward.n;
        u->fwd = xcalloc(u->n, sizeof(FwdFact));
        for (size_t k = 0; k < u->n; k++) {
            const NetForward *f = &n->forward.v[k];
            /* auto: the kernel picks a free port, which is closed again
             * for QEMU to listen on. Until QEMU does, another program may
             * take it (a small race, as with every "pick a free port"):
             * then QEMU's hostfwd fails, QEMU exits at start saying so,
             * and the run ends with the host put back. A written port is
             * tried the same way, so a taken one fails the checks before
             * the host is touched. */
            int got = 0;
            u->fwd[k].err = usernet_try_port(f->addr, f->proto, f->host_port, &got);
            u->fwd[k].port = f->host_port ? f->host_port : u->fwd[k].err ? 0 : got;
            any = true;
        }
    }
    _cleanup_free_ char *text = NULL;
    int64_t v;
    if (any && hr->fd >= 0 && hostroot_read(hr, "/proc/sys/net/ipv4/ip_unprivileged_port_start", &text) == 0 && kfile_parse_int(text, &v) == 0)
        *unpriv_port_start = (int)v;
}

void usernet_facts_free(UserNetFacts *f, size_t n) {
    for (size_t i = 0; f && i < n; i++) free(f[i].fwd);
    free(f);
}

void usernet_explain_start_failure(const VmConfig *cfg) {
    for (size_t i = 0; i < cfg->n_nets; i++)
        if (cfg->nets[i].mode == NET_MODE_USER && cfg->nets[i].forward.n) {
            log_error("where QEMU said \"Could not set up host forwarding rule\": another program took that host port after the checks "
                      "found it free; start again (an auto port is chosen anew)");
            return;
        }
}

json_object *usernet_forwards_json(const VmConfig *cfg, const UserNetFacts *facts) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode != NET_MODE_USER) continue;
        for (size_t k = 0; k < n->forward.n; k++) {
            const NetForward *f = &n->forward.v[k];
            int port = facts && k < facts[i].n ? facts[i].fwd[k].port : f->host_port;
            json_object *o = json_object_new_object();
            json_object_object_add(o, "net", json_object_new_string(n->head.id));
            json_object_object_add(o, "proto", json_object_new_string(fwd_proto_to_string(f->proto)));
            json_object_object_add(o, "address", json_object_new_string(f->addr));
            json_object_object_add(o, "host_port", json_object_new_int(port));
            json_object_object_add(o, "guest_port", json_object_new_int(f->guest_port));
            json_object_object_add(o, "auto", json_object_new_boolean(f->host_port == 0));
            json_object_array_add(a, o);
        }
    }
    return a;
}

int usernet_state_write(int dir_fd, const VmConfig *cfg, const UserNetFacts *facts) {
    json_object *a = usernet_forwards_json(cfg, facts);
    int r = 0;
    if (json_object_array_length(a)) {
        const char *text = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN);
        static const char tmp[] = USERNET_STATE_FILE ".new";
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        size_t len = strlen(text);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1) r = -errno;
        if (fd >= 0 && close(fd) < 0 && !r) r = -errno;
        if (!r && renameat(dir_fd, tmp, dir_fd, USERNET_STATE_FILE) < 0) r = -errno;
        if (r < 0) {
            unlinkat(dir_fd, tmp, 0);
            log_error_errno(r, "Failed to write %s in the runtime dir: %m", USERNET_STATE_FILE);
        }
    }
    json_object_put(a);
    return r;
}

json_object *usernet_state_read(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s/%s", runtime_base(), name, USERNET_STATE_FILE);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return json_object_new_array();
    if (fd < 0) {
        log_warning_errno(-errno, "Failed to open %s: %m", path);
        return NULL;
    }
    /* To its end: a long record (many forwards) is never cut short. */
    _cleanup_free_ char *buf = NULL;
    int r = read_fd_all(fd, RUNTIME_FILE_MAX, &buf, NULL);
    if (r < 0) {
        log_warning_errno(r, "Failed to read %s: %m", path);
        return NULL;
    }
    json_object *a = json_tokener_parse(buf);
    if (!a || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        log_warning("%s holds no forward record", path);
        return NULL;
    }
    return a;
}

bool usernet_state_written(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s/%s", runtime_base(), name, USERNET_STATE_FILE);
    return access(path, F_OK) == 0;
}

int usernet_host_port(const char *name, int guest_port, char *addr, int *port) {
    json_object *a = usernet_state_read(name);
    if (!a) return -EIO;
    int r = -ENOENT;
    for (size_t i = 0; i < json_object_array_length(a) && r == -ENOENT; i++) {
        json_object *o = json_object_array_get_idx(a, i), *v;
        const char *proto = json_object_object_get_ex(o, "proto", &v) ? json_object_get_string(v) : NULL;
        const char *address = json_object_object_get_ex(o, "address", &v) ? json_object_get_string(v) : NULL;
        int gp = json_object_object_get_ex(o, "guest_port", &v) ? json_object_get_int(v) : 0;
        int hp = json_object_object_get_ex(o, "host_port", &v) ? json_object_get_int(v) : 0;
        if (!proto || !streq(proto, "tcp") || gp != guest_port || hp <= 0 || !address || strlen(address) > 15) continue;
        snprintf(addr, 16, "%s", address);
        *port = hp;
        r = 0;
    }
    json_object_put(a);
    return r;
}
