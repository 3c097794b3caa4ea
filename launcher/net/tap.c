/* Taps and vhost-net (include/tap.h). */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "placement.h"
#include "schema.h"
#include "util.h"

static int ifreq_for(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof(*ifr));
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    memcpy(ifr->ifr_name, name, strlen(name) + 1);
    return 0;
}

static char *sysfs_read(const char *fmt, const char *name) {
    _cleanup_free_ char *path = xasprintf(fmt, name);
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char buf[64] = "";
    if (!fgets(buf, sizeof(buf), f)) buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return xstrdup(buf);
}

static bool is_dir(const char *fmt, const char *name) {
    _cleanup_free_ char *path = xasprintf(fmt, name);
    return access(path, F_OK) == 0;
}

void tap_preflight(const VmConfig *cfg, ErrList *errors) {
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode == NET_MODE_USER) continue; /* no tap, no bridge */
        if (n->bridge) {
            if (!if_nametoindex(n->bridge))
                errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "bridge", "expected a bridge of this host, found no interface %s",
                                n->bridge);
            else if (!is_dir("/sys/class/net/%s/bridge", n->bridge))
                errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "bridge", "expected a bridge, found %s is another kind of interface",
                                n->bridge);
        }
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, n);
        if (!if_nametoindex(tap)) continue;
        _cleanup_free_ char *flags = sysfs_read("/sys/class/net/%s/tun_flags", tap);
        if (!flags) {
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap", "expected a tap device or a free name, found %s, which is no tap",
                            tap);
        } else if (!(strtoul(flags, NULL, 16) & IFF_MULTI_QUEUE) && vmconf_net_queues(cfg, n) > 1) {
            /* QEMU would say "Unable to create multiple fds". */
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                            "expected a multi-queue tap for %lld queues, found %s without IFF_MULTI_QUEUE "
                            "(recreate it with `ip tuntap add %s mode tap multi_queue`)", (long long)vmconf_net_queues(cfg, n), tap, tap);
        } else if (!(strtoul(flags, NULL, 16) & IFF_MULTI_QUEUE)) {
            /* tap_open attaches with IFF_MULTI_QUEUE, which the kernel
             * refuses (EINVAL) on a tap made without it. */
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "tap",
                            "expected a multi-queue tap (kvmlaunch attaches its queues so), found %s without IFF_MULTI_QUEUE "
                            "(recreate it with `ip tuntap add %s mode tap multi_queue`)", tap, tap);
        }
    }
}

int tap_bridge_mtu(const char *bridge) {
    _cleanup_free_ char *mtu = sysfs_read("/sys/class/net/%s/mtu", bridge);
    return mtu ? atoi(mtu) : 0;
}

/* Whether interface NAME is a port of BRIDGE now. */
static bool port_of(const char *name, const char *bridge) {
    TapLink l;
    unsigned br = if_nametoindex(bridge);
    return br && tap_link_query(name, &l) == 0 && l.master == (int)br;
}

static int if_ioctl(unsigned long req, struct ifreq *ifr) {
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    int r = ioctl(s, req, ifr) < 0 ? -errno : 0;
    close(s);
    return r;
}

int tap_open(const VmConfig *cfg, const NetSection *n, bool want_vhost, TapQueues *out) {
    memset(out, 0, sizeof(*out));
    out->name = vmconf_net_tap_name(cfg, n);
    out->queues = (size_t)vmconf_net_queues(cfg, n);
    out->fds = xcalloc(out->queues, sizeof(int));
    for (size_t q = 0; q < out->queues; q++) out->fds[q] = -1;
    int r;
    /* An admin's tap is joined only while nobody uses it (check said so
     * too; this is the last look before attaching). */
    TapLink link;
    bool existed = if_nametoindex(out->name) != 0;
    if (existed && tap_link_query(out->name, &link) == 0 && link.exists && link.queues_known && link.queues > 0) {
        r = log_error_errno(-EBUSY, "Refusing tap %s: %u queue%s attached by another process", out->name, link.queues,
                            link.queues == 1 ? " is" : "s are");
        goto fail;
    }
    for (size_t q = 0; q < out->queues; q++) {
        struct ifreq ifr;
        if ((r = ifreq_for(&ifr, out->name)) < 0) goto fail;
        /* vnet_hdr for offloads to the guest; no IFF_ONE_QUEUE. */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
        /* The first queue of a new tap creates it, exclusively: the kernel
         * answers EBUSY when the name exists by then, rather than attaching
         * to a tap another start made meanwhile. The rest attach to it
         * (with IFF_TUN_EXCL they would get EBUSY too: the tap exists). */
        if (q == 0 && !existed) ifr.ifr_flags |= IFF_TUN_EXCL;
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            r = log_error_errno(-errno, "Failed to open /dev/net/tun: %m");
            goto fail;
        }
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            r = -errno;
            if (r == -EBUSY && q == 0 && !existed)
                log_error_errno(r, "Refusing tap %s: it appeared since the check (another VM starting with it?)", out->name);
            else log_error_errno(r, "Failed to attach queue %zu of tap %s: %m", q, out->name);
            close(fd);
            goto fail;
        }
        out->fds[q] = fd;
    }
    /* Nobody else may have joined between the look and the last queue: the
     * kernel's count is ours alone, or the tap is shared and refused. */
    if (tap_link_query(out->name, &link) == 0 && link.queues_known && link.queues != out->queues) {
        r = log_error_errno(-EBUSY, "Refusing tap %s: another process attached to it while its %zu queue%s were opened (%u attached)", out->name,
                            out->queues, out->queues == 1 ? "" : "s", link.queues);
        goto fail;
    }
    int mtu = (int)n->mtu;
    if (!mtu && n->bridge) mtu = tap_bridge_mtu(n->bridge);
    struct ifreq ifr;
    ifreq_for(&ifr, out->name);
    if (mtu) {
        ifr.ifr_mtu = mtu;
        if ((r = if_ioctl(SIOCSIFMTU, &ifr)) < 0) {
            log_error_errno(r, "Failed to set the MTU of %s to %d: %m", out->name, mtu);
            goto fail;
        }
        out->mtu = mtu;
    }
    ifreq_for(&ifr, out->name);
    if ((r = if_ioctl(SIOCGIFFLAGS, &ifr)) == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = if_ioctl(SIOCSIFFLAGS, &ifr);
    }
    if (r < 0) {
        log_error_errno(r, "Failed to set %s up: %m", out->name);
        goto fail;
    }
    if (n->bridge && port_of(out->name, n->bridge)) {
        /* An admin's persistent tap put on the bridge beforehand (or by an
         * earlier VM: a persistent tap stays a port): SIOCBRADDIF would
         * say EBUSY. */
        log_debug("tap %s is a port of bridge %s already", out->name, n->bridge);
    } else if (n->bridge) {
        ifreq_for(&ifr, n->bridge);
        ifr.ifr_ifindex = (int)if_nametoindex(out->name);
        if ((r = if_ioctl(SIOCBRADDIF, &ifr)) < 0) {
            log_error_errno(r, "Failed to attach %s to bridge %s: %m", out->name, n->bridge);
            goto fail;
        }
    }
    if (want_vhost) {
        out->vhost = xcalloc(out->queues, sizeof(int));
        for (size_t q = 0; q < out->queues; q++) out->vhost[q] = -1;
        for (size_t q = 0; q < out->queues; q++) {
            out->vhost[q] = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
            if (out->vhost[q] < 0) {
                r = log_error_errno(-errno, "Failed to open /dev/vhost-net: %m");
                goto fail;
            }
        }
    }
    log_info("tap %s: %zu queue%s%s%s%s", out->name, out->queues, out->queues == 1 ? "" : "s", want_vhost ? ", vhost-net" : "",
             n->bridge ? " on bridge " : "", n->bridge ? n->bridge : "");
    return 0;
fail:
    tap_close(out);
    return r;
}

char *cpumask_format(const CpuList *l) {
    int max = -1;
    for (size_t i = 0; i < l->n; i++)
        if (l->cpu[i] > max) max = l->cpu[i];
    if (max < 0) return xstrdup("0");
    size_t words = (size_t)max / 32 + 1;
    uint32_t *w = xcalloc(words, sizeof(uint32_t));
    for (size_t i = 0; i < l->n; i++) w[l->cpu[i] / 32] |= UINT32_C(1) << (l->cpu[i] % 32);
    char *out = xcalloc(words, 10);
    size_t len = 0;
    for (size_t i = words; i-- > 0;)
        len += (size_t)sprintf(out + len, i == words - 1 ? "%x" : ",%08x", w[i]);
    free(w);
    return out;
}

int tap_steer(const TapQueues *t, const VmConfig *cfg, Steering *st) {
    for (size_t q = 0; q < t->queues; q++) {
        CpuList cpus = placement_vcpu_cpus(cfg, q % (size_t)cfg->vm.vcpus);
        if (!cpus.n) continue;
        _cleanup_free_ char *mask = cpumask_format(&cpus);
        cpulist_free(&cpus);
        /* RPS alone: the tun driver picks a packet's tx queue itself
         * (tun_select_queue: the queue the guest last sent the flow on, or
         * a steering eBPF program) and never asks XPS, so tx-i/xps_cpus
         * would be written for nothing. tests/cli/test_steering.sh
         * measures both (docs/TUNING.md). The tap dies with the VM, and
         * these files with it: nothing to put back. */
        st->e = xrealloc(st->e, (st->n + 1) * sizeof(*st->e));
        st->e[st->n++] = (struct SteerEntry){ xasprintf("/sys/class/net/%s/queues/rx-%zu/rps_cpus", t->name, q), xstrdup(mask) };
    }
    steering_refresh(st);
    log_info("tap %s: rx queue i steered to the CPU of vCPU i (RPS)", t->name);
    return 0;
}

/* "00000001,00000000" and "100000000" name the same CPUs. */
static bool same_mask(const char *a, const char *b) {
    while (*a == '0' || *a == ',') a++;
    while (*b == '0' || *b == ',') b++;
    for (;; a++, b++) {
        while (*a == ',') a++;
        while (*b == ',') b++;
        if (*a == '\n') a = "";
        if (*b == '\n') b = "";
        if (*a != *b) return false;
        if (!*a) return true;
    }
}

bool cpumask_same(const char *a, const char *b) { return same_mask(a, b); }

int steering_refresh(const Steering *st) {
    int written = 0;
    for (size_t i = 0; i < st->n; i++) {
        int fd = open(st->e[i].path, O_RDWR | O_CLOEXEC);
        if (fd < 0) continue; /* a queue the guest has not enabled */
        char buf[256];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        if (!same_mask(buf, st->e[i].mask)) {
            if (pwrite(fd, st->e[i].mask, strlen(st->e[i].mask), 0) < 0) log_warning_errno(-errno, "Failed to steer %s: %m", st->e[i].path);
            else written++;
        }
        close(fd);
    }
    return written;
}

void steering_free(Steering *st) {
    for (size_t i = 0; i < st->n; i++) {
        free(st->e[i].path);
        free(st->e[i].mask);
    }
    free(st->e);
    memset(st, 0, sizeof(*st));
}

void tap_close(TapQueues *t) {
    for (size_t q = 0; t->fds && q < t->queues; q++)
        if (t->fds[q] >= 0) close(t->fds[q]);
    for (size_t q = 0; t->vhost && q < t->queues; q++)
        if (t->vhost[q] >= 0) close(t->vhost[q]);
    free(t->fds);
    free(t->vhost);
    free(t->name);
    memset(t, 0, sizeof(*t));
}
