/* [hostdev]: the host changes (hostdev.h), each recorded in the journal
 * host.hostdevs before it is made. Records, by "kind":
 *   numvfs  {pf, original}: sriov_numvfs raised to make a VF
 *   vfconf  {pf, ifname, vf}: a VF's MAC or VLAN set (put back to none)
 *   bind    {addr, driver, override}: a device moved to vfio-pci from
 *           DRIVER ("" for none) with driver_override OVERRIDE
 *   node    {group, uid, gid, mode}: /dev/vfio/GROUP given to QEMU's user
 * Restored newest first: the node, the bindings, then the VFs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostdev.h"
#include "journal.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

/* ---- netlink: a VF's MAC and VLAN, set on its PF ---- */

static struct nlattr *nla_put(char *buf, size_t *len, size_t size, uint16_t type, const void *data, size_t n) {
    size_t need = NLA_ALIGN(NLA_HDRLEN + n);
    if (*len + need > size) return NULL;
    struct nlattr *a = (struct nlattr *)(buf + *len);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + n);
    if (n) memcpy((char *)a + NLA_HDRLEN, data, n);
    memset((char *)a + NLA_HDRLEN + n, 0, need - NLA_HDRLEN - n);
    *len += need;
    return a;
}

static void nla_close(char *buf, size_t len, struct nlattr *nest) { nest->nla_len = (uint16_t)(buf + len - (char *)nest); }

int hostdev_vf_request(void *out, size_t size, uint32_t seq, int pf_ifindex, int vf, const uint8_t *mac, int vlan) {
    char *buf = out;
    size_t len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    if (len > size) return -ENOSPC;
    memset(buf, 0, len);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    nh->nlmsg_type = RTM_SETLINK;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nh->nlmsg_seq = seq;
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = pf_ifindex;
    struct nlattr *list = nla_put(buf, &len, size, IFLA_VFINFO_LIST | NLA_F_NESTED, NULL, 0);
    struct nlattr *info = list ? nla_put(buf, &len, size, IFLA_VF_INFO | NLA_F_NESTED, NULL, 0) : NULL;
    if (!info) return -ENOSPC;
    if (mac) {
        struct ifla_vf_mac m = { .vf = (uint32_t)vf };
        memcpy(m.mac, mac, 6);
        if (!nla_put(buf, &len, size, IFLA_VF_MAC, &m, sizeof(m))) return -ENOSPC;
    }
    if (vlan >= 0) {
        struct ifla_vf_vlan v = { .vf = (uint32_t)vf, .vlan = (uint32_t)vlan, .qos = 0 };
        if (!nla_put(buf, &len, size, IFLA_VF_VLAN, &v, sizeof(v))) return -ENOSPC;
    }
    nla_close(buf, len, info);
    nla_close(buf, len, list);
    nh->nlmsg_len = (uint32_t)len;
    return (int)len;
}

/* Sends the request and reads its ack: 0 or the kernel's -errno. */
static int vf_set(const HostRoot *hr, const char *pf, int vf, const uint8_t *mac, int vlan) {
    /* From sysfs: if_nametoindex would open a socket and make an ioctl the
     * locked-down supervisor may not (the restore runs there). */
    _cleanup_free_ char *path = xasprintf("/sys/class/net/%s/ifindex", pf), *text = NULL;
    if (hostroot_read(hr, path, &text) < 0) return -ENODEV;
    int ifindex = atoi(text);
    if (ifindex <= 0) return -ENODEV;
    char req[256];
    int n = hostdev_vf_request(req, sizeof(req), 1, ifindex, vf, mac, vlan);
    if (n < 0) return n;
    _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, req, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) return -errno;
    char ack[512];
    ssize_t got = recv(fd, ack, sizeof(ack), 0);
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) return got < 0 ? -errno : -EIO;
    struct nlmsghdr *nh = (struct nlmsghdr *)ack;
    if (nh->nlmsg_type != NLMSG_ERROR) return -EIO;
    return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
}

/* ---- sysfs binding ---- */

static char *driver_of(const HostRoot *hr, const char *addr) {
    _cleanup_free_ char *link = xasprintf("/sys/bus/pci/devices/%s/driver", addr);
    return hostdev_link_base(hr, link);
}

static int write_addr(const HostRoot *hr, const char *path, const char *value) {
    int r = hostroot_write(hr, path, value);
    if (r < 0) log_debug("write %s > %s: %s", value, path, strerror(-r));
    return r;
}

/* ADDR off its driver and onto vfio-pci. */
static int bind_vfio(const HostRoot *hr, const char *addr, const char *driver) {
    _cleanup_free_ char *dir = xasprintf("/sys/bus/pci/devices/%s", addr), *ovr = xasprintf("%s/driver_override", dir),
                        *unbind = xasprintf("%s/driver/unbind", dir);
    int r = write_addr(hr, ovr, "vfio-pci");
    if (r < 0) return log_error_errno(r, "Failed to set %s's driver_override to vfio-pci: %m", addr);
    if (driver && (r = write_addr(hr, unbind, addr)) < 0) return log_error_errno(r, "Failed to unbind %s from %s: %m", addr, driver);
    (void)write_addr(hr, "/sys/bus/pci/drivers_probe", addr);
    _cleanup_free_ char *now = driver_of(hr, addr);
    if (!now || !streq(now, "vfio-pci"))
        return log_error_errno(-EIO, "%s did not bind to vfio-pci (its driver is %s)", addr, now ? now : "none");
    log_info("%s: %s -> vfio-pci", addr, driver ? driver : "no driver");
    return 0;
}

/* The journal's restore callback. */
static int hd_restore(json_object *rec, const void *ctx) {
    const HostRoot *hr = ctx;
    const char *kind = journal_str(rec, "kind");
    if (!kind) return JOURNAL_RESTORED;
    if (streq(kind, "node")) {
        json_object *o;
        _cleanup_free_ char *path = xasprintf("/dev/vfio/%s", journal_str(rec, "group") ? journal_str(rec, "group") : "?");
        _cleanup_close_ int fd = hostroot_openat(hr, path, O_PATH | O_NOFOLLOW, 0);
        if (fd < 0) return JOURNAL_RESTORED; /* gone with its last vfio device */
        uid_t uid = json_object_object_get_ex(rec, "uid", &o) ? (uid_t)json_object_get_int64(o) : 0;
        gid_t gid = json_object_object_get_ex(rec, "gid", &o) ? (gid_t)json_object_get_int64(o) : 0;
        mode_t mode = json_object_object_get_ex(rec, "mode", &o) ? (mode_t)json_object_get_int64(o) : 0600;
        _cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 || chmod(proc, mode) < 0)
            return log_error_errno(-errno, "Failed to give %s back to uid %lu: %m", path, (unsigned long)uid);
        log_info("restored %s to uid %lu, gid %lu, mode %04o", path, (unsigned long)uid, (unsigned long)gid, (unsigned)mode);
        return JOURNAL_RESTORED;
    }
    if (streq(kind, "bind")) {
        const char *addr = journal_str(rec, "addr"), *orig = journal_str(rec, "driver"), *override = journal_str(rec, "override");
        if (!addr) return JOURNAL_RESTORED;
        _cleanup_free_ char *dir = xasprintf("/sys/bus/pci/devices/%s", addr);
        if (!hostroot_exists(hr, dir)) {
            log_notice("%s is gone: no driver to bind it back to", addr);
            return JOURNAL_RESTORED;
        }
        _cleanup_free_ char *now = driver_of(hr, addr), *unbind = xasprintf("%s/driver/unbind", dir),
                            *ovr = xasprintf("%s/driver_override", dir);
        int r = 0;
        if (now && !(orig && streq(now, orig)) && (r = write_addr(hr, unbind, addr)) < 0)
            return log_error_errno(r, "Failed to unbind %s from %s: %m", addr, now);
        if ((r = write_addr(hr, ovr, override && *override ? override : "\n")) < 0)
            return log_error_errno(r, "Failed to put %s's driver_override back: %m", addr);
        if (orig && *orig && !(now && streq(now, orig))) {
            _cleanup_free_ char *bind = xasprintf("/sys/bus/pci/drivers/%s/bind", orig);
            if (write_addr(hr, bind, addr) < 0) (void)write_addr(hr, "/sys/bus/pci/drivers_probe", addr);
        }
        _cleanup_free_ char *after = driver_of(hr, addr);
        if ((orig && *orig) ? !(after && streq(after, orig)) : after != NULL)
            return log_error_errno(-EIO, "%s is on %s, not back on %s", addr, after ? after : "no driver", orig && *orig ? orig : "no driver");
        log_info("%s: back on %s", addr, orig && *orig ? orig : "no driver");
        return JOURNAL_RESTORED;
    }
    if (streq(kind, "vfconf")) {
        const char *pf = journal_str(rec, "ifname"), *vf = journal_str(rec, "vf");
        if (!pf || !vf) return JOURNAL_RESTORED;
        static const uint8_t zero[6];
        int r = hr->redirected ? -EOPNOTSUPP : vf_set(hr, pf, atoi(vf), zero, 0);
        if (r == -ENODEV || r == -EOPNOTSUPP) return JOURNAL_RESTORED;
        if (r < 0) return log_error_errno(r, "Failed to clear VF %s's MAC and VLAN on %s: %m", vf, pf);
        return JOURNAL_RESTORED;
    }
    if (streq(kind, "numvfs")) {
        const char *pf = journal_str(rec, "pf"), *orig = journal_str(rec, "original");
        if (!pf || !orig) return JOURNAL_RESTORED;
        _cleanup_free_ char *path = xasprintf("/sys/bus/pci/devices/%s/sriov_numvfs", pf);
        int r = write_addr(hr, path, orig);
        if (r == -ENOENT) return JOURNAL_RESTORED;
        if (r < 0) return log_error_errno(r, "Failed to put %s back to %s: %m", path, orig);
        log_info("restored %s to %s", path, orig);
        return JOURNAL_RESTORED;
    }
    return JOURNAL_RESTORED;
}

/* The record of KIND matching ID=VALUE, made with FILL's members when
 * missing; NAME becomes a user. *FRESH: it was made now. */
static json_object *record(Journal *j, const char *name, const char *kind, const char *id, const char *value, bool *fresh) {
    json_object *rec = journal_find(j, "kind", kind, id, value, NULL);
    *fresh = !rec;
    if (!rec) {
        rec = json_object_new_object();
        json_object_object_add(rec, "kind", json_object_new_string(kind));
        json_object_object_add(rec, id, json_object_new_string(value));
        journal_add(j, rec);
    }
    journal_add_user(rec, name);
    return rec;
}

static void put_str(json_object *rec, const char *key, const char *v) { json_object_object_add(rec, key, json_object_new_string(v ? v : "")); }

/* A group member onto vfio-pci, recorded first. */
static int take_member(const HostRoot *hr, Journal *j, const char *name, const PciMember *m) {
    json_object *rec = journal_find(j, "kind", "bind", "addr", m->addr, NULL);
    const char *other = rec ? journal_running_user(rec, name) : NULL;
    if (other) return log_error_errno(-EBUSY, "%s is in use by VM %s (vfio hands a group to one VM)", m->addr, other);
    if (!rec && m->driver && streq(m->driver, "vfio-pci")) return 0; /* bound by the admin: left so */
    bool fresh;
    rec = record(j, name, "bind", "addr", m->addr, &fresh);
    if (fresh) {
        _cleanup_free_ char *ovr_path = xasprintf("/sys/bus/pci/devices/%s/driver_override", m->addr), *ovr = NULL;
        if (hostroot_read(hr, ovr_path, &ovr) >= 0) ovr[strcspn(ovr, "\n")] = '\0';
        put_str(rec, "driver", m->driver);
        put_str(rec, "override", ovr && !streq(ovr, "(null)") ? ovr : "");
    }
    int r = journal_save(j);
    if (r < 0) return r;
    _cleanup_free_ char *now = driver_of(hr, m->addr);
    if (now && streq(now, "vfio-pci")) return 0;
    return bind_vfio(hr, m->addr, now);
}

/* The record of /dev/vfio/GROUP's owner and mode: as they are when the
 * node is there already, else as the kernel makes it (root's, 0600). */
static int record_node(const HostRoot *hr, Journal *j, const char *name, int group) {
    _cleanup_free_ char *g = xasprintf("%d", group), *path = xasprintf("/dev/vfio/%d", group);
    bool fresh;
    json_object *rec = record(j, name, "node", "group", g, &fresh);
    if (fresh) {
        _cleanup_close_ int fd = hostroot_openat(hr, path, O_PATH | O_NOFOLLOW, 0);
        struct stat st = { .st_uid = 0, .st_gid = 0, .st_mode = 0600 };
        if (fd >= 0 && fstat(fd, &st) < 0) return log_error_errno(-errno, "Failed to look at %s: %m", path);
        json_object_object_add(rec, "uid", json_object_new_int64(st.st_uid));
        json_object_object_add(rec, "gid", json_object_new_int64(st.st_gid));
        json_object_object_add(rec, "mode", json_object_new_int64(st.st_mode & 07777));
    }
    return journal_save(j);
}

/* /dev/vfio/GROUP, there once the group is on vfio-pci, to QEMU's user
 * alone (mode 0600). */
static int give_node(const HostRoot *hr, int group, uid_t uid, gid_t gid) {
    _cleanup_free_ char *path = xasprintf("/dev/vfio/%d", group);
    _cleanup_close_ int fd = hostroot_openat(hr, path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) return log_error_errno(fd, "Failed to find %s after binding group %d to vfio-pci: %m", path, group);
    _cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);
    if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 || chmod(proc, 0600) < 0)
        return log_error_errno(-errno, "Failed to give %s to uid %lu: %m", path, (unsigned long)uid);
    log_info("%s: uid %lu, mode 0600 (QEMU's, only this group's node)", path, (unsigned long)uid);
    return 0;
}

/* Makes VF D->vf_index of its PF (sriov_numvfs from 0), recorded first. */
static int make_vf(const HostRoot *hr, Journal *j, const char *name, const HostdevSection *d, const HostdevFacts *f) {
    bool fresh;
    json_object *rec = record(j, name, "numvfs", "pf", f->pf_addr, &fresh);
    if (fresh) put_str(rec, "original", "0");
    int r = journal_save(j);
    if (r < 0) return r;
    _cleanup_free_ char *path = xasprintf("/sys/bus/pci/devices/%s/sriov_numvfs", f->pf_addr), *n = xasprintf("%lld", (long long)d->vf_index + 1);
    if ((r = write_addr(hr, path, n)) < 0) return log_error_errno(r, "Failed to make the VFs of %s (%s > %s): %m", d->vf_dev, n, path);
    log_info("%s: %s VFs made (sriov_numvfs)", d->vf_dev, n);
    return 0;
}

static int apply_one(const HostRoot *hr, Journal *j, const VmConfig *cfg, const HostdevSection *d, const HostdevFacts *pf, uid_t uid,
                     gid_t gid) {
    const char *name = cfg->vm.name;
    int r = 0;
    if (pf->vf_make && (r = make_vf(hr, j, name, d, pf)) < 0) return r;
    if (d->vf && (section_key_set(SECTION_HOSTDEV, &d->head, "mac") || d->vlan)) {
        bool fresh;
        _cleanup_free_ char *key = xasprintf("%s:%lld", d->vf_dev, (long long)d->vf_index), *vf = xasprintf("%lld", (long long)d->vf_index);
        json_object *rec = record(j, name, "vfconf", "id", key, &fresh);
        put_str(rec, "ifname", d->vf_dev);
        put_str(rec, "vf", vf);
        if ((r = journal_save(j)) < 0) return r;
        bool with_mac = section_key_set(SECTION_HOSTDEV, &d->head, "mac");
        r = hr->redirected ? 0 : vf_set(hr, d->vf_dev, (int)d->vf_index, with_mac ? d->mac.b : NULL, d->vlan ? (int)d->vlan : -1);
        if (r < 0) return log_error_errno(r, "Failed to set VF %lld's MAC or VLAN on %s: %m", (long long)d->vf_index, d->vf_dev);
    }
    /* Members: a made VF's group is read now that it exists. */
    HostdevProbe fresh_probe = { 0 };
    const HostdevFacts *g = pf;
    if (pf->vf_make) {
        VmConfig one = *cfg;
        HostdevSection sec = *d;
        sec.vf = NULL;
        sec.address = pf->addr;
        one.hostdevs = &sec;
        one.n_hostdevs = 1;
        hostdev_probe(hr, &one, &fresh_probe);
        g = &fresh_probe.devs[0];
        if (g->problem) r = log_error_errno(-EPERM, "Refusing [hostdev \"%s\"]: %s", d->head.id, g->problem);
    }
    /* The node's record comes before the bindings': restored after them
     * (newest first), when the node is gone with the group's last vfio
     * device, unless one was on vfio-pci before. */
    if (r >= 0 && g->group >= 0) r = record_node(hr, j, name, g->group);
    for (size_t i = 0; r >= 0 && i < g->n_members; i++)
        if (!g->members[i].bridge) r = take_member(hr, j, name, &g->members[i]);
    if (r >= 0 && g->group >= 0) r = give_node(hr, g->group, uid, gid);
    hostdev_probe_free(&fresh_probe);
    return r;
}

int hostdev_apply(const HostRoot *hr, const VmConfig *cfg, const HostdevProbe *p, uid_t uid, gid_t gid) {
    if (!cfg->n_hostdevs) return 0;
    if (!p->vfio_loaded && !hr->redirected) {
        /* As libvirt does for managed devices; with a clean environment
         * (MODPROBE_OPTIONS could name another config and its commands). */
        static const char *const args[] = { "-q", "--", "vfio-pci", NULL };
        char *out = spawn_capture("/sbin/modprobe", args, 4096, 30000);
        bool ran = out != NULL;
        free(out);
        if (!ran || !hostroot_exists(hr, "/sys/bus/pci/drivers/vfio-pci"))
            return log_error_errno(-ENOENT, "vfio-pci is not loaded and `modprobe vfio-pci` failed");
    }
    Journal j = JOURNAL_INIT;
    int r = journal_open(&j, HOSTDEV_STATE_FILE, HOSTDEV_STATE_KEY);
    if (r < 0) return r;
    journal_settle(&j, NULL, hd_restore, hr);
    for (size_t i = 0; i < cfg->n_hostdevs && r >= 0; i++) r = apply_one(hr, &j, cfg, &cfg->hostdevs[i], &p->devs[i], uid, gid);
    if (r < 0 && journal_settle(&j, cfg->vm.name, hd_restore, hr) < 0) r = -ENOTRECOVERABLE;
    int r2 = journal_save(&j);
    journal_close(&j);
    return r < 0 ? r : r2;
}

int hostdev_restore(const HostRoot *hr, const char *name) {
    if (!journal_exists(HOSTDEV_STATE_FILE)) return 0;
    return journal_release(HOSTDEV_STATE_FILE, HOSTDEV_STATE_KEY, false, name, hd_restore, hr);
}

int hostdev_replay_dead(const HostRoot *hr) {
    if (!journal_exists(HOSTDEV_STATE_FILE)) return 0;
    return journal_release(HOSTDEV_STATE_FILE, HOSTDEV_STATE_KEY, true, NULL, hd_restore, hr);
}
