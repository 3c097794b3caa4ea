/* [hostdev]: what the host has for each device (hostdev.h), read through
 * the HostRoot; pure facts, no change. The binding is hostdev_bind.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostdev.h"
#include "strvec.h"
#include "util.h"

char *hostdev_link_base(const HostRoot *hr, const char *path) {
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = xstrndup(path, (size_t)(slash - path));
    _cleanup_close_ int dfd = hostroot_openat(hr, dir, O_PATH | O_DIRECTORY, 0);
    if (dfd < 0) return NULL;
    char buf[4096];
    ssize_t n = readlinkat(dfd, slash + 1, buf, sizeof(buf) - 1);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    const char *b = strrchr(buf, '/');
    return xstrdup(b ? b + 1 : buf);
}

static long read_long(const HostRoot *hr, const char *path, int base, long dflt) {
    _cleanup_free_ char *s = NULL;
    if (hostroot_read(hr, path, &s) < 0) return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, base);
    return errno || end == s ? dflt : v;
}

static bool is_pci_address(const char *s) {
    unsigned d, b, sl, f;
    char tail;
    return s && strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &tail) == 4;
}

/* Whether IFACE carries a route (IPv4) or a global address (IPv6): the
 * host reaches something through it. */
static bool iface_carries(const HostRoot *hr, const char *iface) {
    _cleanup_free_ char *route = NULL, *inet6 = NULL;
    if (hostroot_read(hr, "/proc/net/route", &route) >= 0) {
        for (char *line = strchr(route, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
            size_t n = strcspn(line + 1, "\t ");
            if (n == strlen(iface) && !strncmp(line + 1, iface, n)) return true;
        }
    }
    if (hostroot_read(hr, "/proc/net/if_inet6", &inet6) >= 0) {
        char *save = NULL;
        for (char *line = strtok_r(inet6, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char addr[40], name[64];
            unsigned idx, plen, scope, flags;
            if (sscanf(line, "%39s %x %x %x %x %63s", addr, &idx, &plen, &scope, &flags, name) == 6 && scope == 0 && streq(name, iface))
                return true;
        }
    }
    return false;
}

/* The entries of every folder named WHAT ("block", "net") below DIR, up
 * to a few levels down (host*, target*, virtio*, nvme*...). */
static void find_below(const HostRoot *hr, const char *dir, const char *what, int depth, StrVec *out) {
    StrVec sub = STRVEC_INIT;
    if (depth > 5 || hostroot_list(hr, dir, true, &sub) < 0) return;
    for (size_t i = 0; i < sub.n; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, sub.v[i]);
        if (streq(sub.v[i], what)) {
            StrVec found = STRVEC_INIT;
            if (hostroot_list(hr, p, false, &found) >= 0)
                for (size_t k = 0; k < found.n; k++) strvec_push(out, found.v[k]);
            strvec_clear(&found);
        } else if (!streq(sub.v[i], "subsystem") && !streq(sub.v[i], "driver") && !streq(sub.v[i], "power")) {
            find_below(hr, p, what, depth + 1, out);
        }
    }
    strvec_clear(&sub);
}

/* "disk sda is mounted (/dev/sda1 on /)" when one of DISKS (or a
 * partition of it) is mounted, swapped on or held (device mapper, md). */
static char *disk_in_use(const HostRoot *hr, const StrVec *disks) {
    _cleanup_free_ char *mounts = NULL, *swaps = NULL;
    (void)hostroot_read(hr, "/proc/mounts", &mounts);
    (void)hostroot_read(hr, "/proc/swaps", &swaps);
    for (size_t i = 0; i < disks->n; i++) {
        _cleanup_free_ char *dev = xasprintf("/dev/%s", disks->v[i]);
        const char *texts[] = { mounts, swaps };
        for (size_t t = 0; t < 2; t++) {
            for (const char *line = texts[t]; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (strncmp(line, dev, strlen(dev))) continue;
                size_t n = strcspn(line, " \t\n");
                _cleanup_free_ char *what = xstrndup(line, n);
                const char *rest = line + n + strspn(line + n, " \t");
                _cleanup_free_ char *on = xstrndup(rest, strcspn(rest, " \t\n"));
                return t == 0 ? xasprintf("disk %s is mounted (%s on %s)", disks->v[i], what, on) : xasprintf("disk %s is swap (%s)", disks->v[i], what);
            }
        }
        _cleanup_free_ char *holders = xasprintf("/sys/block/%s/holders", disks->v[i]);
        StrVec h = STRVEC_INIT;
        if (hostroot_list(hr, holders, false, &h) >= 0 && h.n) {
            char *why = xasprintf("disk %s is held by %s", disks->v[i], h.v[0]);
            strvec_clear(&h);
            return why;
        }
        strvec_clear(&h);
    }
    return NULL;
}

/* What of the host relies on the device at DIR (bound to DRIVER), or NULL. */
static char *member_in_use(const HostRoot *hr, const char *dir, const char *driver, unsigned class_code) {
    if (!driver || streq(driver, "vfio-pci")) return NULL;
    /* A NIC's interfaces: DIR/net/IF, or below a virtio child. */
    StrVec ifs = STRVEC_INIT;
    char *why = NULL;
    find_below(hr, dir, "net", 0, &ifs);
    for (size_t i = 0; i < ifs.n && !why; i++)
        if (iface_carries(hr, ifs.v[i])) why = xasprintf("NIC %s carries the host's own traffic (a route or an address)", ifs.v[i]);
    strvec_clear(&ifs);
    if (!why && class_code >> 16 == 0x01) {
        StrVec disks = STRVEC_INIT;
        find_below(hr, dir, "block", 0, &disks);
        why = disk_in_use(hr, &disks);
        strvec_clear(&disks);
    }
    return why;
}

static void probe_member(const HostRoot *hr, const char *addr, PciMember *m) {
    _cleanup_free_ char *dir = xasprintf("/sys/bus/pci/devices/%s", addr), *drv = xasprintf("%s/driver", dir),
                        *cls = xasprintf("%s/class", dir);
    m->addr = xstrdup(addr);
    m->driver = hostdev_link_base(hr, drv);
    m->class_code = (unsigned)read_long(hr, cls, 16, 0);
    m->bridge = m->class_code >> 8 == 0x0604;
    m->in_use = m->bridge ? NULL : member_in_use(hr, dir, m->driver, m->class_code);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The group of F->addr and its members; a problem when it has none or the
 * host uses one of them. */
static void probe_group(const HostRoot *hr, const HostdevProbe *p, HostdevFacts *f) {
    _cleanup_free_ char *glink = xasprintf("/sys/bus/pci/devices/%s/iommu_group", f->addr);
    _cleanup_free_ char *g = hostdev_link_base(hr, glink);
    if (!g) {
        f->problem = xasprintf("expected a device in an IOMMU group, found %s in none: the IOMMU is off (kernel parameter %s)", f->addr, p->iommu_param);
        return;
    }
    f->group = (int)strtol(g, NULL, 10);
    _cleanup_free_ char *gdir = xasprintf("/sys/kernel/iommu_groups/%d/devices", f->group);
    StrVec names = STRVEC_INIT;
    (void)hostroot_list(hr, gdir, false, &names);
    /* In address order, whatever the directory's. */
    if (names.n > 1) qsort(names.v, names.n, sizeof(char *), cmp_str);
    f->members = xcalloc(names.n ? names.n : 1, sizeof(PciMember));
    for (size_t i = 0; i < names.n; i++) probe_member(hr, names.v[i], &f->members[f->n_members++]);
    strvec_clear(&names);
    for (size_t i = 0; i < f->n_members && !f->problem; i++)
        if (f->members[i].in_use)
            f->problem = xasprintf("expected an IOMMU group the host does not use, found %s in group %d (%s): %s", f->members[i].addr, f->group,
                                   f->members[i].driver, f->members[i].in_use);
}

/* vf = DEV:N: the physical function, the counts, and the VF's address:
 * its virtfnN link, or computed from the PF's routing ID, offset and
 * stride when it is still to be made. */
static void probe_vf(const HostRoot *hr, const HostdevSection *d, HostdevFacts *f) {
    _cleanup_free_ char *net = xasprintf("/sys/class/net/%s", d->vf_dev), *devlink = xasprintf("%s/device", net);
    if (!hostroot_exists(hr, net)) {
        f->problem = xasprintf("expected a NIC of this host, found no %s", d->vf_dev);
        return;
    }
    _cleanup_free_ char *sub = xasprintf("%s/device/subsystem", net);
    _cleanup_free_ char *bus = hostdev_link_base(hr, sub);
    f->pf_addr = hostdev_link_base(hr, devlink);
    if (!bus || !streq(bus, "pci") || !is_pci_address(f->pf_addr)) {
        f->problem = xasprintf("expected a PCI NIC with SR-IOV, found %s on no PCI device (%s)", d->vf_dev, bus ? bus : "virtual");
        return;
    }
    _cleanup_free_ char *pf = xasprintf("/sys/bus/pci/devices/%s", f->pf_addr), *tot = xasprintf("%s/sriov_totalvfs", pf),
                        *num = xasprintf("%s/sriov_numvfs", pf);
    f->vf_total = (int)read_long(hr, tot, 10, 0);
    f->vf_num = (int)read_long(hr, num, 10, 0);
    if (f->vf_total <= 0) {
        f->problem = xasprintf("expected a NIC with SR-IOV, found %s (%s) without virtual functions (no sriov_totalvfs)", d->vf_dev, f->pf_addr);
        return;
    }
    if (d->vf_index >= f->vf_total) {
        f->problem = xasprintf("expected a VF number below %s's sriov_totalvfs, %d, found %lld", d->vf_dev, f->vf_total, (long long)d->vf_index);
        return;
    }
    if (d->vf_index < f->vf_num) {
        _cleanup_free_ char *vfl = xasprintf("%s/virtfn%lld", pf, (long long)d->vf_index);
        f->addr = hostdev_link_base(hr, vfl);
        if (!is_pci_address(f->addr)) f->problem = xasprintf("expected %s to have VF %lld, found no virtfn%lld link", d->vf_dev, (long long)d->vf_index, (long long)d->vf_index);
        return;
    }
    if (f->vf_num > 0) {
        f->problem = xasprintf("expected VF %lld of %s, found %d VFs: the kernel raises sriov_numvfs only from 0, which would remove those "
                               "(set it to %lld yourself, or take a VF below %d)", (long long)d->vf_index, d->vf_dev, f->vf_num,
                               (long long)d->vf_index + 1, f->vf_num);
        return;
    }
    _cleanup_free_ char *off = xasprintf("%s/sriov_offset", pf), *str = xasprintf("%s/sriov_stride", pf);
    long offset = read_long(hr, off, 10, -1), stride = read_long(hr, str, 10, -1);
    unsigned dom, b, sl, fn;
    if (offset < 0 || stride < 0 || sscanf(f->pf_addr, "%4x:%2x:%2x.%1x", &dom, &b, &sl, &fn) != 4) {
        f->problem = xasprintf("expected %s's sriov_offset and sriov_stride, found none: the VF's address cannot be known", d->vf_dev);
        return;
    }
    unsigned rid = (b << 8 | sl << 3 | fn) + (unsigned)offset + (unsigned)(stride * d->vf_index);
    f->addr = xasprintf("%04x:%02x:%02x.%x", dom, (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 7);
    f->vf_make = true;
}

void hostdev_probe_iommu(const HostRoot *hr, HostdevProbe *p) {
    memset(p, 0, sizeof(*p));
    StrVec groups = STRVEC_INIT;
    p->iommu_on = hostroot_list(hr, "/sys/kernel/iommu_groups", true, &groups) >= 0 && groups.n > 0;
    strvec_clear(&groups);
    _cleanup_free_ char *cpuinfo = NULL;
    (void)hostroot_read(hr, "/proc/cpuinfo", &cpuinfo);
    p->iommu_param = cpuinfo && strstr(cpuinfo, "AuthenticAMD") ? "amd_iommu=on iommu=pt" : "intel_iommu=on iommu=pt";
    /* Interrupt remapping: Intel's extended capability bit 3 (IR). */
    p->intremap = -1;
    StrVec units = STRVEC_INIT;
    (void)hostroot_list(hr, "/sys/class/iommu", false, &units);
    for (size_t i = 0; i < units.n; i++) {
        _cleanup_free_ char *ecap = xasprintf("/sys/class/iommu/%s/intel-iommu/ecap", units.v[i]);
        long v = read_long(hr, ecap, 16, -1);
        if (v >= 0) p->intremap = (v & 0x8) && p->intremap != 0 ? 1 : 0;
    }
    strvec_clear(&units);
    p->vfio_loaded = hostroot_exists(hr, "/sys/bus/pci/drivers/vfio-pci");
}

void hostdev_probe(const HostRoot *hr, const VmConfig *cfg, HostdevProbe *p) {
    memset(p, 0, sizeof(*p));
    if (!cfg->n_hostdevs) return;
    hostdev_probe_iommu(hr, p);
    p->n = cfg->n_hostdevs;
    p->devs = xcalloc(p->n, sizeof(HostdevFacts));
    for (size_t i = 0; i < p->n; i++) {
        const HostdevSection *d = &cfg->hostdevs[i];
        HostdevFacts *f = &p->devs[i];
        f->group = -1;
        f->numa_node = -1;
        if (d->vf) {
            if (!d->vf_dev) continue; /* refused by vmconf */
            probe_vf(hr, d, f);
        } else {
            f->addr = xstrdup(d->address);
        }
        if (f->problem || !f->addr) continue;
        _cleanup_free_ char *dir = xasprintf("/sys/bus/pci/devices/%s", f->addr), *node = xasprintf("%s/numa_node", dir);
        if (f->vf_make) {
            /* Made at the start: its group is known only then (the run probes it again). */
            if (!p->iommu_on) f->problem = xasprintf("expected an IOMMU, found none on: turn it on with the kernel parameter %s", p->iommu_param);
            continue;
        }
        if (!hostroot_exists(hr, dir)) {
            f->problem = xasprintf("expected a PCI device of this host, found no %s", dir);
            continue;
        }
        f->numa_node = (int)read_long(hr, node, 10, -1);
        if (f->numa_node >= 0) {
            _cleanup_free_ char *cpus_path = xasprintf("/sys/devices/system/node/node%d/cpulist", f->numa_node), *cpus = NULL;
            char err[VALUE_ERR_MAX];
            if (hostroot_read(hr, cpus_path, &cpus) >= 0) {
                cpus[strcspn(cpus, "\n")] = '\0';
                if (value_parse_cpulist(cpus, &f->node_cpus, err) < 0) f->node_cpus = (CpuList){ 0 };
            }
        }
        if (!p->iommu_on) {
            f->problem = xasprintf("expected an IOMMU, found none on (no /sys/kernel/iommu_groups): turn it on with the kernel parameter %s", p->iommu_param);
            continue;
        }
        probe_group(hr, p, f);
    }
}

void hostdev_probe_free(HostdevProbe *p) {
    for (size_t i = 0; i < p->n; i++) {
        HostdevFacts *f = &p->devs[i];
        for (size_t k = 0; k < f->n_members; k++) {
            free(f->members[k].addr);
            free(f->members[k].driver);
            free(f->members[k].in_use);
        }
        free(f->members);
        cpulist_free(&f->node_cpus);
        free(f->addr);
        free(f->pf_addr);
        free(f->problem);
    }
    free(p->devs);
    memset(p, 0, sizeof(*p));
}

char *hostdev_members_text(const HostdevFacts *f) {
    StrVec parts = STRVEC_INIT;
    for (size_t i = 0; i < f->n_members; i++) {
        const PciMember *m = &f->members[i];
        strvec_pushf(&parts, "%s (%s%s)", m->addr, m->driver ? m->driver : "no driver", m->bridge ? ", a bridge, left as it is" : "");
    }
    char *s = parts.n ? strvec_join(&parts, ", ") : xstrdup("none");
    strvec_clear(&parts);
    return s;
}

uint64_t hostdev_memlock(const VmConfig *cfg) {
    return cfg->vm.memory + (UINT64_C(1) << 30);
}
