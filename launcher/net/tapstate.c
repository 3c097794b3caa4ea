/* Who uses a tap, and which MACs the other running VMs have (include/tap.h).
 *
 * Raw rtnetlink rather than libmnl: one RTM_GETLINK request and one answer,
 * whose few attributes a short parser reads (unit-tested on captured bytes);
 * a library would add a build and a package dependency for that. */
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "runtime.h"
#include "schema.h"
#include "util.h"

/* --- rtnetlink --- */

/* The attributes in P..P+LEN whose type is at most MAX, by type (the last
 * of a type wins); the nested and byte-order flags are not part of it. */
static int parse_attrs(const uint8_t *p, size_t len, const uint8_t **data, uint16_t *size, size_t max) {
    for (size_t i = 0; i <= max; i++) data[i] = NULL, size[i] = 0;
    while (len >= sizeof(struct rtattr)) {
        struct rtattr a;
        memcpy(&a, p, sizeof(a));
        if (a.rta_len < sizeof(a) || a.rta_len > len) return -EBADMSG;
        unsigned type = a.rta_type & NLA_TYPE_MASK;
        if (type <= max) {
            data[type] = p + RTA_LENGTH(0);
            size[type] = (uint16_t)(a.rta_len - RTA_LENGTH(0));
        }
        size_t step = RTA_ALIGN(a.rta_len);
        if (step >= len) break;
        p += step;
        len -= step;
    }
    return 0;
}

static bool attr_u8(const uint8_t *d, uint16_t n, uint8_t *v) {
    if (!d || n < 1) return false;
    *v = d[0];
    return true;
}

static bool attr_u32(const uint8_t *d, uint16_t n, uint32_t *v) {
    if (!d || n < sizeof(uint32_t)) return false;
    memcpy(v, d, sizeof(*v));
    return true;
}

/* IFLA_LINKINFO: the kind, and for "tun" its IFLA_INFO_DATA. */
static int parse_linkinfo(const uint8_t *p, size_t len, TapLink *out) {
    const uint8_t *info[IFLA_INFO_MAX + 1];
    uint16_t isz[IFLA_INFO_MAX + 1];
    if (parse_attrs(p, len, info, isz, IFLA_INFO_MAX) < 0) return -EBADMSG;
    const uint8_t *kind = info[IFLA_INFO_KIND];
    out->is_tun = kind && isz[IFLA_INFO_KIND] >= 3 && !memcmp(kind, "tun", 3) && (isz[IFLA_INFO_KIND] == 3 || kind[3] == 0);
    if (!out->is_tun || !info[IFLA_INFO_DATA]) return 0;
    out->tun_info = true;
    const uint8_t *tun[IFLA_TUN_MAX + 1];
    uint16_t tsz[IFLA_TUN_MAX + 1];
    if (parse_attrs(info[IFLA_INFO_DATA], isz[IFLA_INFO_DATA], tun, tsz, IFLA_TUN_MAX) < 0) return -EBADMSG;
    uint8_t b;
    if (attr_u8(tun[IFLA_TUN_PERSIST], tsz[IFLA_TUN_PERSIST], &b)) out->persist = b;
    if (attr_u8(tun[IFLA_TUN_MULTI_QUEUE], tsz[IFLA_TUN_MULTI_QUEUE], &b)) out->multi_queue = b;
    uint32_t q = 0, dq = 0;
    out->queues_known = attr_u32(tun[IFLA_TUN_NUM_QUEUES], tsz[IFLA_TUN_NUM_QUEUES], &q);
    /* Queues QEMU detached (TUNSETQUEUE) keep their descriptor: still held. */
    attr_u32(tun[IFLA_TUN_NUM_DISABLED_QUEUES], tsz[IFLA_TUN_NUM_DISABLED_QUEUES], &dq);
    out->queues = q + dq;
    return 0;
}

int tap_link_parse(const void *buf, size_t len, TapLink *out) {
    memset(out, 0, sizeof(*out));
    const uint8_t *p = buf;
    while (len >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr nh;
        memcpy(&nh, p, sizeof(nh));
        if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > len) return -EBADMSG;
        const uint8_t *body = p + NLMSG_HDRLEN;
        size_t blen = nh.nlmsg_len - NLMSG_HDRLEN;
        if (nh.nlmsg_type == NLMSG_ERROR) {
            int error;
            if (blen < sizeof(error)) return -EBADMSG;
            memcpy(&error, body, sizeof(error));
            if (error > 0 || error < -4095) return -EBADMSG;
            if (error < 0) return error; /* -ENODEV: no such interface */
        } else if (nh.nlmsg_type == RTM_NEWLINK) {
            if (blen < NLMSG_ALIGN(sizeof(struct ifinfomsg))) return -EBADMSG;
            const uint8_t *attr[IFLA_MAX + 1];
            uint16_t asz[IFLA_MAX + 1];
            size_t off = NLMSG_ALIGN(sizeof(struct ifinfomsg));
            if (parse_attrs(body + off, blen - off, attr, asz, IFLA_MAX) < 0) return -EBADMSG;
            out->exists = true;
            uint32_t master;
            if (attr_u32(attr[IFLA_MASTER], asz[IFLA_MASTER], &master) && master <= INT32_MAX) out->master = (int)master;
            return attr[IFLA_LINKINFO] ? parse_linkinfo(attr[IFLA_LINKINFO], asz[IFLA_LINKINFO], out) : 0;
        } else if (nh.nlmsg_type == NLMSG_DONE) {
            break;
        }
        size_t step = NLMSG_ALIGN(nh.nlmsg_len);
        if (step >= len) break;
        p += step;
        len -= step;
    }
    return -EBADMSG;
}

int tap_link_query(const char *name, TapLink *out) {
    memset(out, 0, sizeof(*out));
    size_t nl = strlen(name);
    if (nl >= IFNAMSIZ) return -ENAMETOOLONG;
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
        char attrs[RTA_SPACE(IFNAMSIZ) + RTA_SPACE(sizeof(uint32_t))];
    } req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_type = RTM_GETLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST;
    req.nh.nlmsg_seq = 1;
    req.ifi.ifi_family = AF_UNSPEC;
    struct rtattr *rta = (struct rtattr *)req.attrs;
    rta->rta_type = IFLA_IFNAME;
    rta->rta_len = (unsigned short)RTA_LENGTH(nl + 1);
    memcpy(RTA_DATA(rta), name, nl + 1);
    /* Without the statistics, which nobody here reads (older kernels
     * ignore the flag and send them). */
    struct rtattr *mask = (struct rtattr *)(req.attrs + RTA_ALIGN(rta->rta_len));
    mask->rta_type = IFLA_EXT_MASK;
    mask->rta_len = RTA_LENGTH(sizeof(uint32_t));
    uint32_t filter = RTEXT_FILTER_SKIP_STATS;
    memcpy(RTA_DATA(mask), &filter, sizeof(filter));
    req.nh.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(req.ifi)) + RTA_ALIGN(rta->rta_len) + RTA_ALIGN(mask->rta_len));

    _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    /* The kernel answers at once; a bound on the wait all the same. */
    struct timeval tv = { .tv_sec = 5 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) return -errno;
    /* One link's answer is a few KiB (its statistics included). */
    static _Alignas(struct nlmsghdr) uint8_t buf[65536];
    for (;;) {
        struct sockaddr_nl from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        /* Only the kernel's answer to this request counts. */
        struct nlmsghdr nh;
        if (from.nl_pid != 0 || (size_t)n < sizeof(nh)) continue;
        memcpy(&nh, buf, sizeof(nh));
        if (nh.nlmsg_seq != req.nh.nlmsg_seq) continue;
        int r = tap_link_parse(buf, (size_t)n, out);
        return r == -ENODEV ? 0 : r;
    }
}

/* --- the other running VMs --- */

char *tap_fdinfo_iff(const char *fdinfo) {
    for (const char *l = fdinfo; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, "iff:", 4)) continue;
        l += 4;
        l += strspn(l, " \t");
        size_t n = strcspn(l, "\n");
        /* An interface name: never empty, no '/', shorter than IFNAMSIZ. */
        if (!n || n >= IFNAMSIZ || memchr(l, '/', n)) return NULL;
        return xstrndup(l, n);
    }
    return NULL;
}

static const char *jstr(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

size_t tap_qemu_nets(const char *cmdline, size_t len, QemuNet **out) {
    *out = NULL;
    size_t n = 0;
    StrVec args = STRVEC_INIT;
    for (size_t i = 0; i < len;) {
        size_t k = strnlen(cmdline + i, len - i);
        strvec_push_take(&args, xstrndup(cmdline + i, k));
        i += k + 1;
    }
    /* -netdev first, then the -device that names each. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i + 1 < args.n; i++) {
            if (!streq(args.v[i], pass ? "-device" : "-netdev") || args.v[i + 1][0] != '{') continue;
            json_object *o = json_tokener_parse(args.v[i + 1]);
            if (!o) continue;
            const char *id = jstr(o, "id"), *type = jstr(o, "type"), *fds = jstr(o, "fds");
            const char *netdev = jstr(o, "netdev"), *mac = jstr(o, "mac");
            if (!pass && id && type && streq(type, "tap")) {
                *out = xrealloc(*out, (n + 1) * sizeof(QemuNet));
                QemuNet *q = &(*out)[n++];
                *q = (QemuNet){ .id = xstrdup(id), .first_fd = -1 };
                char *end;
                long fd = fds ? strtol(fds, &end, 10) : -1;
                if (fds && end != fds && (*end == ':' || !*end) && fd >= 0 && fd < 1 << 20) q->first_fd = (int)fd;
            } else if (pass && netdev && mac) {
                char err[VALUE_ERR_MAX];
                for (size_t j = 0; j < n; j++)
                    if (streq((*out)[j].id, netdev) && value_parse_mac(mac, &(*out)[j].mac, err) == 0) (*out)[j].mac_known = true;
            }
            json_object_put(o);
        }
    strvec_clear(&args);
    return n;
}

void qemu_nets_free(QemuNet *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].id);
    free(v);
}

/* The whole of a file through HR, with its length (cmdline has NULs). */
static ssize_t read_all(const HostRoot *hr, const char *path, char **out) {
    size_t len = 0;
    int r = hostroot_read_len(hr, path, out, &len);
    return r < 0 ? r : (ssize_t)len;
}

/* The bridge TAP is a port of, or NULL. */
static char *tap_bridge_of(const char *tap) {
    TapLink l;
    char name[IFNAMSIZ];
    if (tap_link_query(tap, &l) < 0 || !l.master || !if_indextoname((unsigned)l.master, name)) return NULL;
    return xstrdup(name);
}

/* The NIC of VM on TAP, added when new. */
static VmNic *nic_of(VmNics *out, size_t first, const char *vm, const char *tap) {
    for (size_t i = first; i < out->n; i++)
        if (streq(out->v[i].tap, tap)) return &out->v[i];
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(VmNic));
    out->v[out->n] = (VmNic){ .vm = xstrdup(vm), .tap = xstrdup(tap) };
    return &out->v[out->n++];
}

static void probe_vm(const HostRoot *hr, const char *vm, pid_t sup, pid_t qemu, VmNics *out) {
    size_t first = out->n;
    /* QEMU's descriptor numbers, for its -netdev fds. */
    int *fd_of = NULL;
    size_t n_fd = 0;
    const pid_t pids[2] = { qemu, sup };
    for (int k = 0; k < 2; k++) {
        if (pids[k] <= 0) continue;
        _cleanup_free_ char *dir = xasprintf("/proc/%ld/fd", (long)pids[k]);
        StrVec fds = STRVEC_INIT;
        if (hostroot_list(hr, dir, false, &fds) < 0) {
            out->unreadable = true;
            continue;
        }
        for (size_t i = 0; i < fds.n; i++) {
            _cleanup_free_ char *path = xasprintf("/proc/%ld/fdinfo/%s", (long)pids[k], fds.v[i]);
            _cleanup_free_ char *info = NULL, *tap = NULL;
            if (hostroot_read(hr, path, &info) < 0 || !(tap = tap_fdinfo_iff(info))) continue;
            VmNic *nic = nic_of(out, first, vm, tap);
            if (k == 0) {
                fd_of = xrealloc(fd_of, (n_fd + 1) * 2 * sizeof(int));
                fd_of[2 * n_fd] = atoi(fds.v[i]);
                fd_of[2 * n_fd + 1] = (int)(nic - out->v);
                n_fd++;
            }
        }
        strvec_clear(&fds);
    }
    if (qemu > 0) {
        _cleanup_free_ char *path = xasprintf("/proc/%ld/cmdline", (long)qemu), *cmdline = NULL;
        ssize_t len = read_all(hr, path, &cmdline);
        QemuNet *nets = NULL;
        size_t n = len > 0 ? tap_qemu_nets(cmdline, (size_t)len, &nets) : 0;
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < n_fd; i++) {
                if (fd_of[2 * i] != nets[j].first_fd) continue;
                VmNic *nic = &out->v[fd_of[2 * i + 1]];
                /* kvmlaunch names the netdev of [net "ID"] net-ID. */
                if (!nic->net) nic->net = xstrdup(strncmp(nets[j].id, "net-", 4) ? nets[j].id : nets[j].id + 4);
                nic->mac = nets[j].mac;
                nic->mac_known = nets[j].mac_known;
            }
        qemu_nets_free(nets, n);
    }
    free(fd_of);
    for (size_t i = first; i < out->n; i++) out->v[i].bridge = tap_bridge_of(out->v[i].tap);
}

void tap_probe_others(const HostRoot *hr, const char *except, VmNics *out) {
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(runtime_base());
    for (struct dirent *de; d && (de = readdir(d));) {
        char err[VALUE_ERR_MAX];
        if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) || schema_check_vm_name(de->d_name, err) < 0) continue;
        if (except && streq(de->d_name, except)) continue;
        pid_t sup = 0, qemu = 0;
        int r = runtime_query(de->d_name, &sup, &qemu);
        /* Locked but its pids not written yet: running, taps unknown. */
        if (r == 0) continue;
        strvec_push(&out->running, de->d_name);
        if (r == 1) probe_vm(hr, de->d_name, sup, qemu, out);
        else out->unreadable = true;
    }
    if (d) closedir(d);
}

void vmnics_free(VmNics *nics) {
    for (size_t i = 0; i < nics->n; i++) {
        free(nics->v[i].vm);
        free(nics->v[i].net);
        free(nics->v[i].tap);
        free(nics->v[i].bridge);
    }
    free(nics->v);
    strvec_clear(&nics->running);
    memset(nics, 0, sizeof(*nics));
}

/* --- judging --- */

/* The running VM whose taps kvmlaunch names like TAP (kl-VM-ID), or NULL:
 * the holder's best guess when its descriptors could not be read. */
static const char *holder_by_name(const VmNics *others, const char *tap) {
    for (size_t i = 0; i < others->running.n; i++) {
        const char *vm = others->running.v[i];
        size_t n = strlen(vm);
        if (!strncmp(tap, "kl-", 3) && !strncmp(tap + 3, vm, n) && tap[3 + n] == '-') return vm;
    }
    return NULL;
}

/* Net N's tap TAP, as the kernel has it (L, NULL when not probed). */
static void judge_tap(const VmConfig *cfg, const NetSection *n, const char *tap, const TapLink *l, const VmNics *others, ErrList *errors,
                      ErrList *warnings) {
    /* None here (another namespace's of that name is no matter), or no
     * tap: tap_preflight says so. */
    if (l && (!l->exists || !l->is_tun)) return;
    const VmNic *held = NULL;
    for (size_t k = 0; k < others->n && !held; k++)
        if (streq(others->v[k].tap, tap)) held = &others->v[k];
    if (held) {
        errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                        "expected a tap no other VM uses, found %s held by the running VM %s%s%s%s: it would get part of %s's traffic", tap,
                        held->vm, held->net ? " (its net \"" : "", held->net ? held->net : "", held->net ? "\")" : "", held->vm);
        return;
    }
    if (!l) return;
    const char *vm = holder_by_name(others, tap);
    if (l->queues_known && l->queues > 0) {
        if (vm)
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                            "expected a tap no other VM uses, found %s with %u queue%s attached, named as the running VM %s's taps are: "
                            "it would get part of %s's traffic", tap, l->queues, l->queues == 1 ? "" : "s", vm, vm);
        else if (others->unreadable)
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                            "expected a tap no other process uses, found %s with %u queue%s attached by another process (a running VM's "
                            "descriptors could not be read: as root, check names the holder): it would get part of that one's traffic",
                            tap, l->queues, l->queues == 1 ? "" : "s");
        else
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                            "expected a tap no other process uses, found %s with %u queue%s attached by a process that is no running "
                            "kvmlaunch VM: it would get part of that one's traffic", tap, l->queues, l->queues == 1 ? "" : "s");
    } else if (l->tun_info && !l->multi_queue) {
        /* A single-queue tap: the kernel lets one process attach, and
         * tap_preflight refuses it (tap_open attaches multi-queue). */
    } else if (!l->queues_known) {
        if (vm)
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap", "expected a tap no other VM uses, found %s, named as the running VM %s's taps are",
                            tap, vm);
        else
            errlist_add_key(warnings, cfg->path, SECTION_NET, &n->head, "tap",
                            "cannot tell whether another process uses %s: the kernel did not say how many queues are attached "
                            "(Linux 4.19 and later say)", tap);
    }
}

static bool same_mac(const MacAddr *a, const MacAddr *b) {
    return !memcmp(a->b, b->b, sizeof(a->b));
}

void tap_judge(const VmConfig *cfg, const TapLink *links, const VmNics *others, ErrList *errors, ErrList *warnings) {
    static const VmNics none = { 0 };
    if (!others) others = &none;
    /* This VM runs already: its start stops at its runtime lock ("already
     * running"); its own taps and MACs are no other VM's. */
    for (size_t k = 0; cfg->vm.name && k < others->running.n; k++)
        if (streq(others->running.v[k], cfg->vm.name)) return;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode == NET_MODE_USER) continue; /* no tap, no bridge */
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, n);
        judge_tap(cfg, n, tap, links ? &links[i] : NULL, others, errors, warnings);
        if (!n->bridge) continue;
        MacAddr mac = vmconf_net_mac(cfg, n);
        for (size_t k = 0; k < others->n; k++) {
            const VmNic *o = &others->v[k];
            if (!o->mac_known || !o->bridge || !streq(o->bridge, n->bridge) || !same_mac(&o->mac, &mac)) continue;
            _cleanup_free_ char *m = mac_format(&mac);
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "mac",
                            "expected a MAC no other VM on bridge %s uses, found %s, the MAC of the running VM %s%s%s%s", n->bridge, m, o->vm,
                            o->net ? " (its net \"" : "", o->net ? o->net : "", o->net ? "\")" : "");
            break;
        }
    }
}
