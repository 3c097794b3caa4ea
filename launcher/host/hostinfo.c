/* `kvmlaunch host`: the probe, host -> JSON (include/hostinfo.h; the
 * fields are documented in docs/HOST.md, keep the two together). */
#include "hostdev.h"
#include "hostinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "hostfacts.h"
#include "hostnic.h"
#include "kfiles.h"
#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "strvec.h"
#include "topology.h"
#include "util.h"
#include "vmthreads.h"

/* ---- JSON values ---- */

static void add(json_object *o, const char *key, json_object *v) { json_object_object_add(o, key, v); }
static json_object *jstr(const char *s) { return s ? json_object_new_string(s) : NULL; }
static json_object *jint(int64_t v) { return json_object_new_int64(v); }
/* Kernel counters are unsigned; none comes near 2^63. */
static json_object *ju64(uint64_t v) { return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v); }
/* -1 is how the kernel and topology.h say "unknown". */
static json_object *jid(int v) { return v < 0 ? NULL : json_object_new_int(v); }

static json_object *jcpulist(const CpuList *l) {
    _cleanup_free_ char *s = cpulist_format(l);
    return json_object_new_string(s);
}

static json_object *jstrvec(const StrVec *sv) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < sv->n; i++) json_object_array_add(a, json_object_new_string(sv->v[i]));
    return a;
}

/* ---- reading ---- */

/* An integer file; NULL (JSON null) when missing or not a number. */
static json_object *read_int(const HostRoot *hr, const char *path) {
    _cleanup_free_ char *text = NULL;
    int64_t v;
    if (hostroot_read(hr, path, &text) < 0 || kfile_parse_int(text, &v) < 0) return NULL;
    return jint(v);
}

/* A list file ("always [madvise] never"): the selected word into KEY, every
 * word into KEY_offered; both null when the file is missing or not a list. */
static void add_selected(json_object *o, const char *key, const HostRoot *hr, const char *path) {
    _cleanup_free_ char *text = NULL, *sel = NULL, *offered_key = xasprintf("%s_offered", key);
    StrVec offered = STRVEC_INIT;
    bool ok = hostroot_read(hr, path, &text) == 0 && kfile_parse_selected(text, &sel, &offered) == 0;
    add(o, key, ok ? jstr(sel) : NULL);
    add(o, offered_key, ok ? jstrvec(&offered) : NULL);
    strvec_clear(&offered);
}

static int cmp_names(const void *a, const void *b) { return strverscmp(*(char *const *)a, *(char *const *)b); }

/* The entries of directory PATH in natural order ("loop2" before
 * "loop10"): readdir's order would make the report differ between runs. */
static void list_sorted(const HostRoot *hr, const char *path, bool dirs_only, StrVec *out) {
    if (hostroot_list(hr, path, dirs_only, out) == 0 && out->n) qsort(out->v, out->n, sizeof(char *), cmp_names);
}

/* ---- CPU and NUMA: topology.h ---- */

static json_object *cpu_list_json(const Topology *t) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < t->n_cpus; i++) {
        const TopoCpu *c = &t->cpus[i];
        json_object *o = json_object_new_object();
        add(o, "id", jint(c->id));
        add(o, "node", jid(c->node));
        add(o, "socket", jid(c->package));
        add(o, "core", jid(c->core));
        add(o, "siblings", jcpulist(&c->siblings));
        json_object_array_add(a, o);
    }
    return a;
}

static json_object *probe_cpu(const HostRoot *hr, const Topology *t) {
    _cleanup_free_ char *text = NULL, *model = NULL;
    const char *virt = NULL;
    if (hostroot_read(hr, "/proc/cpuinfo", &text) == 0) kfile_parse_cpuinfo(text, &model, &virt);
    size_t threads = 1;
    for (size_t i = 0; i < t->n_cpus; i++)
        if (t->cpus[i].siblings.n > threads) threads = t->cpus[i].siblings.n;
    json_object *o = json_object_new_object();
    add(o, "model", jstr(model));
    add(o, "virtualization", jstr(virt));
    add(o, "online", jcpulist(&t->online));
    add(o, "count", jint((int64_t)t->n_cpus));
    add(o, "sockets", jint((int64_t)topology_count_packages(t)));
    add(o, "cores", jint((int64_t)topology_count_cores(t)));
    add(o, "threads_per_core", jint((int64_t)threads));
    add(o, "cpus", cpu_list_json(t));
    return o;
}

static json_object *pool_json(const TopoHugePool *p, bool host_wide) {
    json_object *o = json_object_new_object();
    add(o, "size_kib", ju64(p->page_kb));
    add(o, "total", ju64(p->total));
    add(o, "free", ju64(p->free));
    if (host_wide) add(o, "reserved", ju64(p->reserved));
    add(o, "surplus", ju64(p->surplus));
    if (host_wide) add(o, "overcommit", ju64(p->overcommit));
    return o;
}

static json_object *node_json(const Topology *t, const TopoNode *n) {
    json_object *o = json_object_new_object(), *pools = json_object_new_array(), *dist = json_object_new_array();
    for (size_t i = 0; i < n->n_pools; i++) json_object_array_add(pools, pool_json(&n->pools[i], false));
    for (size_t i = 0; i < t->n_nodes; i++) json_object_array_add(dist, jid(n->distance ? n->distance[i] : -1));
    add(o, "id", jint(n->id));
    add(o, "cpus", jcpulist(&n->cpus));
    add(o, "has_memory", json_object_new_boolean(n->has_memory));
    add(o, "mem_total_kib", ju64(n->mem_total_kb));
    add(o, "mem_free_kib", ju64(n->mem_free_kb));
    add(o, "hugepages", pools);
    add(o, "distances", dist);
    return o;
}

static json_object *numa_json(const Topology *t) {
    json_object *o = json_object_new_object(), *nodes = json_object_new_array();
    for (size_t i = 0; i < t->n_nodes; i++) json_object_array_add(nodes, node_json(t, &t->nodes[i]));
    add(o, "synthesized", json_object_new_boolean(t->numa_synthesized));
    add(o, "nodes", nodes);
    return o;
}

static json_object *hugepages_json(const Topology *t) {
    json_object *o = json_object_new_object(), *pools = json_object_new_array();
    for (size_t i = 0; i < t->n_pools; i++) json_object_array_add(pools, pool_json(&t->pools[i], true));
    add(o, "default_size_kib", t->default_hugepage_kb ? ju64(t->default_hugepage_kb) : NULL);
    add(o, "pools", pools);
    return o;
}

/* ---- knobs, devices, cgroup ---- */

static json_object *probe_knobs(const HostRoot *hr) {
    json_object *o = json_object_new_object(), *thp = json_object_new_object(), *ksm = json_object_new_object();
    add_selected(thp, "enabled", hr, "/sys/kernel/mm/transparent_hugepage/enabled");
    add_selected(thp, "defrag", hr, "/sys/kernel/mm/transparent_hugepage/defrag");
    static const char *const ksm_files[] = { "run", "merge_across_nodes", "pages_to_scan", "sleep_millisecs", "pages_shared", "pages_sharing" };
    for (size_t i = 0; i < ELEMENTSOF(ksm_files); i++) {
        _cleanup_free_ char *path = xasprintf("/sys/kernel/mm/ksm/%s", ksm_files[i]);
        add(ksm, ksm_files[i], read_int(hr, path));
    }
    int irqbalance = hostnic_find_irqbalance(hr);
    add(o, "thp", thp);
    add(o, "ksm", ksm);
    add(o, "zone_reclaim_mode", read_int(hr, "/proc/sys/vm/zone_reclaim_mode"));
    add(o, "irqbalance_pid", irqbalance > 0 ? jint(irqbalance) : NULL);
    return o;
}

/* Whether PATH exists and opens read-write, as QEMU and kvmlaunch need
 * it; opening the device creates nothing that outlives the close. */
static json_object *device_json(const HostRoot *hr, const char *path) {
    json_object *o = json_object_new_object();
    int fd = hostroot_openat(hr, path, O_RDWR | O_CLOEXEC | O_NOCTTY, 0);
    if (fd >= 0) close(fd);
    add(o, "path", jstr(path));
    add(o, "present", json_object_new_boolean(fd >= 0 || hostroot_exists(hr, path)));
    add(o, "read_write", json_object_new_boolean(fd >= 0));
    return o;
}

static json_object *probe_devices(const HostRoot *hr) {
    json_object *o = json_object_new_object();
    add(o, "kvm", device_json(hr, "/dev/kvm"));
    add(o, "vhost_net", device_json(hr, "/dev/vhost-net"));
    add(o, "tun", device_json(hr, "/dev/net/tun"));
    return o;
}

static json_object *probe_iommu(const HostRoot *hr) {
    json_object *a = json_object_new_array();
    StrVec groups = STRVEC_INIT;
    list_sorted(hr, "/sys/kernel/iommu_groups", true, &groups);
    for (size_t i = 0; i < groups.n; i++) {
        _cleanup_free_ char *dir = xasprintf("/sys/kernel/iommu_groups/%s/devices", groups.v[i]);
        StrVec devs = STRVEC_INIT;
        list_sorted(hr, dir, false, &devs);
        json_object *g = json_object_new_object();
        add(g, "group", jint(atol(groups.v[i])));
        add(g, "devices", jstrvec(&devs));
        json_object_array_add(a, g);
        strvec_clear(&devs);
    }
    strvec_clear(&groups);
    return a;
}

/* Issue 22: the CPUs and memory nodes kvmlaunch itself was given (its
 * affinity, its cpuset cgroup L), where pin = auto chooses; null members
 * when unknown. */
static json_object *allocation_json(const HostRoot *hr, const CgroupLayout *l) {
    AllocFacts a;
    hostfacts_probe_allocation(hr, l, &a);
    json_object *o = json_object_new_object();
    add(o, "cpus", a.cpus_known ? jcpulist(&a.cpus) : NULL);
    add(o, "cpus_from", jstr(a.cpus_from));
    add(o, "mems", a.mems_known ? jcpulist(&a.mems) : NULL);
    add(o, "mems_from", jstr(a.mems_from));
    allocfacts_free(&a);
    return o;
}

/* NULL (null) when detection failed; it said why on stderr. *alloc: the
 * allocation, read with what detection found. */
static json_object *probe_cgroup(const HostRoot *hr, json_object **alloc) {
    CgroupLayout l;
    if (cgroup_detect(hr, &l) < 0) {
        memset(&l, 0, sizeof(l));
        *alloc = allocation_json(hr, &l);
        return NULL;
    }
    *alloc = allocation_json(hr, &l);
    json_object *o = json_object_new_object();
    bool found = l.version != CGROUP_NONE;
    add(o, "version", found ? jint(l.version == CGROUP_V2 ? 2 : 1) : NULL);
    add(o, "mount", jstr(l.mount));
    add(o, "base", jstr(l.base));
    add(o, "delegated", json_object_new_boolean(l.delegated));
    add(o, "cpus", found ? jcpulist(&l.cpus) : NULL);
    add(o, "mems", found ? jcpulist(&l.mems) : NULL);
    add(o, "why", jstr(l.why));
    cgroup_layout_free(&l);
    return o;
}

/* ---- NICs ---- */

/* A cpumask line (rps_cpus, xps_cpus) as a cpulist; NULL when unreadable. */
static json_object *mask_json(const char *mask) {
    CpuList l = { 0 };
    if (!mask || hostnic_parse_cpumask(mask, &l) < 0) return NULL;
    json_object *o = jcpulist(&l);
    cpulist_free(&l);
    return o;
}

static json_object *nic_irqs_json(const NicFacts *f) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < f->irqs.n; i++) {
        json_object *o = json_object_new_object();
        CpuList l = { 0 };
        bool ok = f->irq_affinity[i] && kfile_parse_cpulist(f->irq_affinity[i], &l) == 0;
        add(o, "irq", jint(f->irqs.v[i].irq));
        add(o, "name", jstr(f->irqs.v[i].name));
        add(o, "affinity", ok ? jcpulist(&l) : NULL);
        cpulist_free(&l);
        json_object_array_add(a, o);
    }
    return a;
}

/* TSO/GSO/GRO through ethtool; NULL where it cannot be asked (a
 * redirected root, a device without ethtool operations). */
static json_object *nic_offloads_json(const HostRoot *hr, const char *dev) {
    NicOffloads off;
    hostnic_offloads_read(hr, dev, &off);
    json_object *o = NULL;
    if (off.error == 0) {
        o = json_object_new_object();
        add(o, "tso", jstr(hostnic_offload_state(&off, NIC_OFFLOAD_TSO)));
        add(o, "gso", jstr(hostnic_offload_state(&off, NIC_OFFLOAD_GSO)));
        add(o, "gro", jstr(hostnic_offload_state(&off, NIC_OFFLOAD_GRO)));
    }
    free(off.dev);
    return o;
}

/* What PCI passthrough needs of the host (hostdev.h): the IOMMU, interrupt
 * remapping, vfio-pci. */
static json_object *probe_passthrough(const HostRoot *hr) {
    HostdevProbe p;
    hostdev_probe_iommu(hr, &p);
    json_object *o = json_object_new_object();
    add(o, "iommu", json_object_new_boolean(p.iommu_on));
    add(o, "interrupt_remapping", p.intremap < 0 ? NULL : json_object_new_boolean(p.intremap == 1));
    add(o, "kernel_parameter", jstr(p.iommu_param));
    add(o, "vfio_pci_loaded", json_object_new_boolean(p.vfio_loaded));
    return o;
}

/* SR-IOV of a NIC: its VFs, made and possible (null without SR-IOV). */
static json_object *sriov_json(const HostRoot *hr, const char *dev) {
    _cleanup_free_ char *tp = xasprintf("/sys/class/net/%s/device/sriov_totalvfs", dev), *np = xasprintf("/sys/class/net/%s/device/sriov_numvfs", dev);
    _cleanup_free_ char *t = NULL, *n = NULL;
    if (hostroot_read(hr, tp, &t) < 0 || atol(t) <= 0) return NULL;
    json_object *o = json_object_new_object();
    add(o, "totalvfs", jint(atol(t)));
    add(o, "numvfs", jint(hostroot_read(hr, np, &n) >= 0 ? atol(n) : 0));
    return o;
}

static json_object *nic_json(const HostRoot *hr, const NicFacts *f) {
    json_object *o = json_object_new_object(), *rps = json_object_new_array(), *xps = json_object_new_array();
    for (size_t q = 0; q < f->n_rx; q++) json_object_array_add(rps, mask_json(f->rps[q]));
    for (size_t q = 0; q < f->n_tx; q++) json_object_array_add(xps, mask_json(f->xps[q]));
    add(o, "name", jstr(f->dev));
    add(o, "driver", jstr(f->driver));
    add(o, "numa_node", jid(f->numa_node));
    add(o, "rx_queues", jint((int64_t)f->n_rx));
    add(o, "tx_queues", jint((int64_t)f->n_tx));
    add(o, "interrupts", f->n_msi ? jstr(f->msix ? "msix" : "msi") : NULL);
    add(o, "vectors", jint((int64_t)f->n_msi));
    add(o, "irqs", nic_irqs_json(f));
    add(o, "rps_cpus", rps);
    add(o, "xps_cpus", xps);
    add(o, "offloads", nic_offloads_json(hr, f->dev));
    add(o, "sriov", sriov_json(hr, f->dev));
    return o;
}

/* The physical NICs: interfaces with a device/ (lo, bridges, taps, veths
 * have none). */
static json_object *probe_nics(const HostRoot *hr) {
    json_object *a = json_object_new_array();
    StrVec names = STRVEC_INIT;
    list_sorted(hr, "/sys/class/net", false, &names);
    for (size_t i = 0; i < names.n; i++) {
        _cleanup_free_ char *dev = xasprintf("/sys/class/net/%s/device", names.v[i]);
        if (!hostroot_exists(hr, dev)) continue;
        NicFacts f;
        hostnic_probe_dev(hr, names.v[i], true, &f);
        json_object_array_add(a, nic_json(hr, &f));
        nicfacts_free(&f);
    }
    strvec_clear(&names);
    return a;
}

/* ---- disks ---- */

static json_object *disk_json(const HostRoot *hr, const char *name) {
    _cleanup_free_ char *sp = xasprintf("/sys/block/%s/queue/scheduler", name), *text = NULL, *sel = NULL;
    _cleanup_free_ char *rp = xasprintf("/sys/block/%s/queue/rotational", name), *zp = xasprintf("/sys/block/%s/size", name);
    StrVec offered = STRVEC_INIT;
    /* No file (zram, dm, md on current kernels) or a bare "none" (older
     * ones): no I/O scheduler can be chosen there. */
    bool sched = hostroot_read(hr, sp, &text) == 0 && kfile_parse_selected(text, &sel, &offered) == 0;
    json_object *o = json_object_new_object(), *rot = read_int(hr, rp), *sectors = read_int(hr, zp);
    add(o, "name", jstr(name));
    add(o, "scheduler", sched ? jstr(sel) : NULL);
    add(o, "schedulers_offered", sched ? jstrvec(&offered) : NULL);
    add(o, "rotational", rot ? json_object_new_boolean(json_object_get_int64(rot) != 0) : NULL);
    /* size counts 512-byte sectors whatever the device's block size. */
    add(o, "size_bytes", sectors ? jint(json_object_get_int64(sectors) * 512) : NULL);
    json_object_put(rot);
    json_object_put(sectors);
    strvec_clear(&offered);
    return o;
}

static json_object *probe_disks(const HostRoot *hr) {
    json_object *a = json_object_new_array();
    StrVec names = STRVEC_INIT;
    list_sorted(hr, "/sys/block", false, &names);
    for (size_t i = 0; i < names.n; i++) json_object_array_add(a, disk_json(hr, names.v[i]));
    strvec_clear(&names);
    return a;
}

/* ---- VMs ---- */

static json_object *vm_json(const char *name, pid_t sup, pid_t qemu) {
    VmVcpu *v = NULL;
    size_t n = 0;
    if (qemu > 0) vmthreads_vcpus(qemu, &v, &n);
    CpuList cpus = vmthreads_cpus(v, n);
    json_object *o = json_object_new_object();
    add(o, "name", jstr(name));
    add(o, "kvmlaunch_pid", jint(sup));
    add(o, "qemu_pid", qemu > 0 ? jint(qemu) : NULL);
    add(o, "vcpus", jint((int64_t)n));
    add(o, "cpus", jcpulist(&cpus));
    cpulist_free(&cpus);
    vmthreads_free(v, n);
    return o;
}

/* The runtime dirs are real directories, not part of the HostRoot (a
 * redirected root has a run dir of its own, runtime.h). */
static json_object *probe_vms(void) {
    json_object *a = json_object_new_array();
    StrVec names = STRVEC_INIT;
    DIR *d = opendir(runtime_base());
    for (struct dirent *de; d && (de = readdir(d));) {
        char err[VALUE_ERR_MAX];
        if (de->d_type == DT_DIR && schema_check_vm_name(de->d_name, err) == 0) strvec_push(&names, de->d_name);
    }
    if (d) closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < names.n; i++) {
        pid_t sup = 0, qemu = 0;
        if (runtime_query(names.v[i], &sup, &qemu) == 1) json_object_array_add(a, vm_json(names.v[i], sup, qemu));
    }
    strvec_clear(&names);
    return a;
}

int hostinfo_probe(const HostRoot *hr, json_object **out) {
    Topology t;
    int r = topology_probe(hr, &t);
    if (r < 0) return log_error_errno(r, "Failed to read /sys/devices/system/cpu/online: %m");
    json_object *o = json_object_new_object();
    add(o, "version", jint(HOSTINFO_VERSION));
    add(o, "cpu", probe_cpu(hr, &t));
    add(o, "numa", numa_json(&t));
    add(o, "hugepages", hugepages_json(&t));
    add(o, "knobs", probe_knobs(hr));
    add(o, "devices", probe_devices(hr));
    add(o, "iommu_groups", probe_iommu(hr));
    add(o, "passthrough", probe_passthrough(hr));
    json_object *alloc = NULL;
    add(o, "cgroup", probe_cgroup(hr, &alloc));
    add(o, "allocation", alloc);
    add(o, "nics", probe_nics(hr));
    add(o, "disks", probe_disks(hr));
    add(o, "vms", probe_vms());
    topology_free(&t);
    *out = o;
    return 0;
}
