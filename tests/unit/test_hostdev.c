/* [hostdev] on a test tree (issue 19): the probe (groups, drivers, what the
 * host uses, no IOMMU, VFs and their addresses), the binding to vfio-pci
 * and back through the journal (a stop, and a dead VM's replay), and the
 * netlink request for a VF's MAC and VLAN. The tree's PCI bus is emulated
 * by this file's write op: driver_override, unbind, bind, drivers_probe
 * and /dev/vfio/N do what the kernel's do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_root.h"
#include "hostdev.h"
#include "hostroot.h"
#include "runtime.h"
#include "util.h"
#include "vmconf.h"

static char tree[64];
static char *root;

static char *at(const char *path) { return xasprintf("%s%s", root, path); }
static void put(const char *path, const char *text) {
    _cleanup_free_ char *p = at(path);
    _cleanup_free_ char *dir = xstrndup(p, (size_t)(strrchr(p, '/') - p));
    assert_int_equal(test_sh("mkdir -p '%s'", dir), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}
static char *get(const char *path) {
    _cleanup_free_ char *p = at(path);
    FILE *f = fopen(p, "r");
    if (!f) return xstrdup("(missing)");
    char buf[256] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return xstrdup(buf);
}
static void link_to(const char *target, const char *path) {
    _cleanup_free_ char *p = at(path);
    _cleanup_free_ char *dir = xstrndup(p, (size_t)(strrchr(p, '/') - p));
    assert_int_equal(test_sh("mkdir -p '%s' && ln -sfn '%s' '%s'", dir, target, p), 0);
}
/* The driver ADDR is bound to, or "" */
static char *drv(const char *addr) {
    _cleanup_free_ char *p = xasprintf("%s/sys/bus/pci/devices/%s/driver", root, addr);
    char buf[256];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    if (n < 0) return xstrdup("");
    buf[n] = '\0';
    return xstrdup(strrchr(buf, '/') + 1);
}

/* A device ADDR of CLASS in GROUP on DRIVER, whose own driver is NATIVE. */
static void device(const char *addr, const char *class, int group, const char *driver) {
    _cleanup_free_ char *dev = xasprintf("/sys/devices/pci0000:00/%s", addr), *bus = xasprintf("/sys/bus/pci/devices/%s", addr),
                        *cls = xasprintf("%s/class", dev), *ovr = xasprintf("%s/driver_override", dev), *nat = xasprintf("%s/native", dev),
                        *node = xasprintf("%s/numa_node", dev), *g = xasprintf("../../../kernel/iommu_groups/%d", group),
                        *gl = xasprintf("%s/iommu_group", dev), *gm = xasprintf("/sys/kernel/iommu_groups/%d/devices/%s", group, addr),
                        *target = xasprintf("../../../devices/pci0000:00/%s", addr);
    put(cls, class);
    put(ovr, "(null)\n");
    put(nat, driver);
    put(node, "0\n");
    link_to(target, bus);
    link_to(g, gl);
    link_to(target, gm);
    _cleanup_free_ char *d = xasprintf("../../../bus/pci/drivers/%s", driver), *dl = xasprintf("%s/driver", dev);
    link_to(d, dl);
}

/* The kernel's PCI bus, as far as the binding goes. */
static int group_of(const char *addr) {
    _cleanup_free_ char *p = xasprintf("%s/sys/bus/pci/devices/%s/iommu_group", root, addr);
    char buf[256];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    if (n < 0) return -1;
    buf[n] = '\0';
    return atoi(strrchr(buf, '/') + 1);
}
static void bind_to(const char *addr, const char *driver) {
    _cleanup_free_ char *d = xasprintf("../../../bus/pci/drivers/%s", driver), *dl = xasprintf("/sys/devices/pci0000:00/%s/driver", addr);
    link_to(d, dl);
    if (streq(driver, "vfio-pci")) {
        _cleanup_free_ char *n = xasprintf("/dev/vfio/%d", group_of(addr));
        put(n, "");
    }
}
static void unbind(const char *addr) {
    _cleanup_free_ char *was = drv(addr), *dl = xasprintf("%s/sys/devices/pci0000:00/%s/driver", root, addr);
    unlink(dl);
    if (!streq(was, "vfio-pci")) return;
    /* The node goes with the group's last device on vfio-pci. */
    int g = group_of(addr);
    _cleanup_free_ char *members = xasprintf("%s/sys/kernel/iommu_groups/%d/devices", root, g);
    _cleanup_free_ char *cmd = xasprintf("for m in $(ls %s); do readlink %s/sys/bus/pci/devices/$m/driver; done | grep -q vfio-pci", members, root);
    if (test_sh("%s", cmd) != 0) {
        _cleanup_free_ char *n = xasprintf("%s/dev/vfio/%d", root, g);
        unlink(n);
    }
}
/* PATH is PREFIX ADDR SUFFIX: ADDR into OUT (32 bytes). */
static bool path_is(const char *path, const char *prefix, const char *suffix, char *out) {
    size_t lp = strlen(prefix), ls = strlen(suffix), n = strlen(path);
    if (n <= lp + ls || strncmp(path, prefix, lp) || strcmp(path + n - ls, suffix)) return false;
    size_t la = n - lp - ls;
    if (la >= 32 || memchr(path + lp, '/', la)) return false;
    memcpy(out, path + lp, la);
    out[la] = '\0';
    return true;
}
static int writes;
static int bus_write(const HostRoot *hr, const char *path, const char *value) {
    (void)hr;
    writes++;
    char addr[32];
    _cleanup_free_ char *v = xstrndup(value, strcspn(value, "\n"));
    if (path_is(path, "/sys/bus/pci/devices/", "/driver/unbind", addr)) {
        _cleanup_free_ char *d = drv(addr);
        if (!*d) return -ENODEV;
        unbind(v);
        return 0;
    }
    if (path_is(path, "/sys/bus/pci/devices/", "/driver_override", addr)) {
        _cleanup_free_ char *p = xasprintf("/sys/devices/pci0000:00/%s/driver_override", addr), *t = xasprintf("%s\n", *v ? v : "(null)");
        put(p, t);
        return 0;
    }
    if (streq(path, "/sys/bus/pci/drivers_probe")) {
        _cleanup_free_ char *d = drv(v);
        if (*d) return 0;
        _cleanup_free_ char *op = xasprintf("/sys/devices/pci0000:00/%s/driver_override", v), *np = xasprintf("/sys/devices/pci0000:00/%s/native", v);
        _cleanup_free_ char *o = get(op), *n = get(np);
        o[strcspn(o, "\n")] = '\0';
        bind_to(v, streq(o, "(null)") ? n : o);
        return 0;
    }
    char driver[32];
    if (path_is(path, "/sys/bus/pci/drivers/", "/bind", driver)) {
        bind_to(v, driver);
        return 0;
    }
    if (path_is(path, "/sys/bus/pci/devices/", "/sriov_numvfs", addr)) {
        _cleanup_free_ char *p = xasprintf("/sys/devices/pci0000:00/%s/sriov_numvfs", addr), *t = xasprintf("%s\n", v);
        put(p, t);
        return 0;
    }
    return hostroot_kernel_write(hr, path, value);
}
static const HostRootOps bus_ops = { .write = bus_write, .mkdir = hostroot_kernel_mkdir, .rmdir = hostroot_kernel_rmdir };

static int setup(void **state) {
    (void)state;
    snprintf(tree, sizeof(tree), "/tmp/kl-hostdev.XXXXXX");
    assert_non_null(mkdtemp(tree));
    root = xasprintf("%s/root", tree);
    put("/proc/cpuinfo", "vendor_id\t: GenuineIntel\n");
    put("/proc/net/route", "Iface\tDestination\tGateway\n");
    put("/proc/net/if_inet6", "");
    put("/proc/mounts", "proc /proc proc rw 0 0\n");
    put("/proc/swaps", "Filename\tType\n");
    put("/sys/class/iommu/dmar0/intel-iommu/ecap", "f00f5e\n");
    put("/sys/devices/system/node/node0/cpulist", "0-3\n");
    put("/sys/bus/pci/drivers_probe", "");
    assert_int_equal(test_sh("mkdir -p %s/sys/bus/pci/drivers/e1000e %s/sys/bus/pci/drivers/vfio-pci %s/sys/bus/pci/drivers/ahci %s/dev/vfio",
                             root, root, root, root), 0);
    device("0000:03:00.0", "0x020000\n", 7, "e1000e");
    device("0000:03:00.1", "0x020000\n", 7, "e1000e");
    put("/sys/devices/pci0000:00/0000:03:00.0/net/eth5/address", "52:54:00:00:00:05\n");
    device("0000:00:1c.0", "0x060400\n", 7, "pcieport");
    device("0000:00:1f.2", "0x010601\n", 8, "ahci");
    put("/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/size", "100\n");
    setenv("KVMLAUNCH_ROOT", root, 1);
    _cleanup_free_ char *run = xasprintf("%s/run", tree);
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    hostroot_set_ops_override(&bus_ops, NULL);
    writes = 0;
    return 0;
}
static int teardown(void **state) {
    (void)state;
    test_sh("rm -rf %s", tree);
    unsetenv("KVMLAUNCH_ROOT");
    unsetenv("KVMLAUNCH_RUNDIR");
    hostroot_set_ops_override(NULL, NULL);
    free(root);
    root = NULL;
    return 0;
}

static void load(const char *body, VmConfig *cfg) {
    _cleanup_free_ char *ini = xasprintf("[vm]\nname = hd\nmemory = 1G\nvcpus = 2\n%s", body);
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", ini, strlen(ini), cfg, &el) < 0) fail_msg("%s", el.e[0].msg);
    errlist_clear(&el);
}
static void probe(const char *body, VmConfig *cfg, HostdevProbe *p) {
    load(body, cfg);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    hostdev_probe(&hr, cfg, p);
    hostroot_close(&hr);
}

static void test_probe_group(void **state) {
    (void)state;
    VmConfig cfg;
    HostdevProbe p;
    probe("[hostdev \"nic\"]\naddress = 0000:03:00.0\n", &cfg, &p);
    assert_true(p.iommu_on);
    assert_int_equal(p.intremap, 1);
    assert_true(p.vfio_loaded);
    assert_int_equal(p.n, 1);
    assert_null(p.devs[0].problem);
    assert_int_equal(p.devs[0].group, 7);
    assert_int_equal(p.devs[0].n_members, 3);
    assert_int_equal(p.devs[0].numa_node, 0);
    _cleanup_free_ char *m = hostdev_members_text(&p.devs[0]);
    assert_string_equal(m, "0000:00:1c.0 (pcieport, a bridge, left as it is), 0000:03:00.0 (e1000e), 0000:03:00.1 (e1000e)");
    hostdev_probe_free(&p);
    vmconf_free(&cfg);
}

/* Refusals name the device and why; nothing is written. */
static void expect_problem(const char *body, const char *want) {
    VmConfig cfg;
    HostdevProbe p;
    probe(body, &cfg, &p);
    assert_non_null(p.devs[0].problem);
    if (!strstr(p.devs[0].problem, want)) fail_msg("problem \"%s\" lacks \"%s\"", p.devs[0].problem, want);
    hostdev_probe_free(&p);
    vmconf_free(&cfg);
    assert_int_equal(writes, 0);
}

static void test_refusals(void **state) {
    (void)state;
    expect_problem("[hostdev \"x\"]\naddress = 0000:09:00.0\n", "found no /sys/bus/pci/devices/0000:09:00.0");
    /* The NIC carries a route: the group is the host's. */
    put("/proc/net/route", "Iface\tDestination\tGateway\neth5\t0000000A\t00000000\n");
    expect_problem("[hostdev \"x\"]\naddress = 0000:03:00.1\n",
                   "found 0000:03:00.0 in group 7 (e1000e): NIC eth5 carries the host's own traffic");
    put("/proc/net/route", "Iface\tDestination\tGateway\n");
    put("/proc/net/if_inet6", "20010db8000000000000000000000001 05 40 00 80 eth5\n");
    expect_problem("[hostdev \"x\"]\naddress = 0000:03:00.1\n", "NIC eth5 carries");
    put("/proc/net/if_inet6", "fe800000000000000000000000000001 05 40 20 80 eth5\n");
    {
        VmConfig cfg;
        HostdevProbe p;
        probe("[hostdev \"x\"]\naddress = 0000:03:00.1\n", &cfg, &p);
        assert_null(p.devs[0].problem); /* a link-local address carries nothing */
        hostdev_probe_free(&p);
        vmconf_free(&cfg);
    }
    /* A disk controller whose disk is mounted. */
    put("/proc/mounts", "/dev/sda1 / ext4 rw 0 0\n");
    expect_problem("[hostdev \"x\"]\naddress = 0000:00:1f.2\n", "found 0000:00:1f.2 in group 8 (ahci): disk sda is mounted (/dev/sda1 on /)");
    put("/proc/mounts", "proc /proc proc rw 0 0\n");
    put("/proc/swaps", "Filename\tType\n/dev/sda2 partition\n");
    expect_problem("[hostdev \"x\"]\naddress = 0000:00:1f.2\n", "disk sda is swap (/dev/sda2)");
    /* No IOMMU. */
    assert_int_equal(test_sh("rm -rf %s/sys/kernel/iommu_groups %s/sys/devices/pci0000:00/0000:03:00.0/iommu_group", root, root), 0);
    expect_problem("[hostdev \"x\"]\naddress = 0000:03:00.0\n", "expected an IOMMU, found none on (no /sys/kernel/iommu_groups): turn it on with the kernel parameter intel_iommu=on");
}

static void test_vf_probe(void **state) {
    (void)state;
    device("0000:05:00.0", "0x020000\n", 9, "ixgbe");
    link_to("../../../devices/pci0000:00/0000:05:00.0", "/sys/class/net/enp5/device");
    link_to("../../../bus/pci", "/sys/devices/pci0000:00/0000:05:00.0/subsystem");
    put("/sys/devices/pci0000:00/0000:05:00.0/sriov_totalvfs", "4\n");
    put("/sys/devices/pci0000:00/0000:05:00.0/sriov_numvfs", "0\n");
    put("/sys/devices/pci0000:00/0000:05:00.0/sriov_offset", "128\n");
    put("/sys/devices/pci0000:00/0000:05:00.0/sriov_stride", "2\n");
    VmConfig cfg;
    HostdevProbe p;
    probe("[hostdev \"v\"]\nvf = enp5:1\nmac = 02:00:00:00:00:01\nvlan = 5\n", &cfg, &p);
    if (p.devs[0].problem) fail_msg("%s", p.devs[0].problem);
    assert_true(p.devs[0].vf_make);
    assert_int_equal(p.devs[0].vf_total, 4);
    /* RID 0x500 + 128 + 1 * 2 = 0x582: bus 05, device 0x10, function 2. */
    assert_string_equal(p.devs[0].addr, "0000:05:10.2");
    assert_string_equal(p.devs[0].pf_addr, "0000:05:00.0");
    hostdev_probe_free(&p);
    vmconf_free(&cfg);
    expect_problem("[hostdev \"v\"]\nvf = enp5:4\n", "expected a VF number below enp5's sriov_totalvfs, 4, found 4");
    put("/sys/devices/pci0000:00/0000:05:00.0/sriov_numvfs", "2\n");
    link_to("../0000:05:10.0", "/sys/devices/pci0000:00/0000:05:00.0/virtfn0");
    expect_problem("[hostdev \"v\"]\nvf = enp5:3\n", "the kernel raises sriov_numvfs only from 0");
    expect_problem("[hostdev \"v\"]\nvf = nosuch:0\n", "expected a NIC of this host, found no nosuch");
    assert_int_equal(test_sh("mkdir -p %s/sys/class/net/veth0", root), 0);
    expect_problem("[hostdev \"v\"]\nvf = veth0:0\n", "expected a PCI NIC with SR-IOV, found veth0 on no PCI device");
}

/* Bound to vfio-pci with the node given to QEMU's user, then back. */
static void test_bind_and_back(void **state) {
    (void)state;
    VmConfig cfg;
    HostdevProbe p;
    probe("[hostdev \"nic\"]\naddress = 0000:03:00.0\n", &cfg, &p);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    assert_int_equal(hostdev_apply(&hr, &cfg, &p, 4321, 4322), 0);
    _cleanup_free_ char *a = drv("0000:03:00.0"), *b = drv("0000:03:00.1"), *br = drv("0000:00:1c.0");
    assert_string_equal(a, "vfio-pci");
    assert_string_equal(b, "vfio-pci");
    assert_string_equal(br, "pcieport");
    _cleanup_free_ char *node = at("/dev/vfio/7");
    struct stat st;
    assert_int_equal(stat(node, &st), 0);
    assert_int_equal(st.st_uid, 4321);
    assert_int_equal(st.st_mode & 07777, 0600);
    _cleanup_free_ char *journal = xasprintf("%s/%s", runtime_base(), HOSTDEV_STATE_FILE);
    assert_int_equal(access(journal, F_OK), 0);

    assert_int_equal(hostdev_restore(&hr, "hd"), 0);
    _cleanup_free_ char *a2 = drv("0000:03:00.0"), *b2 = drv("0000:03:00.1"), *o = get("/sys/devices/pci0000:00/0000:03:00.0/driver_override");
    assert_string_equal(a2, "e1000e");
    assert_string_equal(b2, "e1000e");
    assert_string_equal(o, "(null)\n");
    assert_int_not_equal(access(node, F_OK), 0);
    assert_int_not_equal(access(journal, F_OK), 0); /* nothing left recorded */
    hostroot_close(&hr);
    hostdev_probe_free(&p);
    vmconf_free(&cfg);
}

/* A VM that died with its devices on vfio-pci: the next start's replay
 * (or cleanup) binds them back. A device whose driver_override was set
 * gets that back, byte for byte. */
static void test_dead_replay(void **state) {
    (void)state;
    put("/sys/devices/pci0000:00/0000:03:00.1/driver_override", "e1000e\n");
    VmConfig cfg;
    HostdevProbe p;
    probe("[hostdev \"nic\"]\naddress = 0000:03:00.1\n", &cfg, &p);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    assert_int_equal(hostdev_apply(&hr, &cfg, &p, 4321, 4322), 0);
    _cleanup_free_ char *a = drv("0000:03:00.1");
    assert_string_equal(a, "vfio-pci");
    /* "hd" holds no runtime lock: it is gone. */
    assert_int_equal(hostdev_replay_dead(&hr), 0);
    _cleanup_free_ char *a2 = drv("0000:03:00.1"), *o = get("/sys/devices/pci0000:00/0000:03:00.1/driver_override");
    assert_string_equal(a2, "e1000e");
    assert_string_equal(o, "e1000e\n");
    hostroot_close(&hr);
    hostdev_probe_free(&p);
    vmconf_free(&cfg);
}

/* RTM_SETLINK on the PF with IFLA_VFINFO_LIST > IFLA_VF_INFO > MAC, VLAN. */
static void test_vf_request(void **state) {
    (void)state;
    char buf[256];
    const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    int n = hostdev_vf_request(buf, sizeof(buf), 7, 12, 1, mac, 5);
    assert_true(n > 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    assert_int_equal(nh->nlmsg_len, (uint32_t)n);
    assert_int_equal(nh->nlmsg_type, RTM_SETLINK);
    assert_int_equal(nh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    assert_int_equal(nh->nlmsg_seq, 7);
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    assert_int_equal(ifi->ifi_index, 12);
    struct nlattr *list = (struct nlattr *)(buf + NLMSG_LENGTH(sizeof(*ifi)));
    assert_int_equal(list->nla_type, IFLA_VFINFO_LIST | NLA_F_NESTED);
    assert_int_equal((char *)list + list->nla_len, buf + n);
    struct nlattr *info = (struct nlattr *)((char *)list + NLA_HDRLEN);
    assert_int_equal(info->nla_type, IFLA_VF_INFO | NLA_F_NESTED);
    assert_int_equal(info->nla_len, list->nla_len - NLA_HDRLEN);
    struct nlattr *m = (struct nlattr *)((char *)info + NLA_HDRLEN);
    assert_int_equal(m->nla_type, IFLA_VF_MAC);
    struct ifla_vf_mac *vm = (struct ifla_vf_mac *)((char *)m + NLA_HDRLEN);
    assert_int_equal(vm->vf, 1);
    assert_memory_equal(vm->mac, mac, 6);
    struct nlattr *v = (struct nlattr *)((char *)m + NLA_ALIGN(m->nla_len));
    assert_int_equal(v->nla_type, IFLA_VF_VLAN);
    struct ifla_vf_vlan *vv = (struct ifla_vf_vlan *)((char *)v + NLA_HDRLEN);
    assert_int_equal(vv->vf, 1);
    assert_int_equal(vv->vlan, 5);
    assert_int_equal(vv->qos, 0);
    /* Only the MAC: no VLAN attribute. */
    int n2 = hostdev_vf_request(buf, sizeof(buf), 8, 12, 1, mac, -1);
    assert_int_equal(n2, n - NLA_ALIGN(NLA_HDRLEN + sizeof(struct ifla_vf_vlan)));
    assert_int_equal(hostdev_vf_request(buf, 20, 1, 12, 1, mac, 5), -ENOSPC);
}

/* vmconf: one of address and vf, well formed, mac and vlan with vf only,
 * no device twice, no microvm. */
static void test_config_errors(void **state) {
    (void)state;
    static const struct { const char *body, *want; } cases[] = {
        { "[hostdev \"a\"]\n", "[hostdev \"a\"]: expected one of address and vf, found neither" },
        { "[hostdev \"a\"]\naddress = 0000:03:00.0\nvf = eth0:1\n", "vf: expected one of address and vf, found both" },
        { "[hostdev \"a\"]\naddress = 03:00.0\n", "address: expected a PCI address DDDD:BB:DD.F" },
        { "[hostdev \"a\"]\naddress = 0000:03:20.0\n", "address: expected a PCI address" },
        { "[hostdev \"a\"]\nvf = eth0\n", "vf: expected DEV:N" },
        { "[hostdev \"a\"]\nvf = eth0:256\n", "vf: expected DEV:N" },
        { "[hostdev \"a\"]\naddress = 0000:03:00.0\nvlan = 3\n", "vlan: expected vf with this key" },
        { "[hostdev \"a\"]\nvf = eth0:1\nvlan = 4095\n", "vlan: expected" },
        { "[hostdev \"a\"]\naddress = 0000:03:00.0\n[hostdev \"b\"]\naddress = 0000:03:00.0\n", "expected a device of its own, found the one of [hostdev \"a\"]" },
        { "[hostdev \"a\"]\nvf = eth0:1\n[hostdev \"b\"]\nvf = eth0:1\n", "[hostdev \"b\"] vf: expected a device of its own" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *ini = xasprintf("[vm]\nname = hd\nmemory = 1G\nvcpus = 2\n%s", cases[i].body);
        VmConfig cfg;
        ErrList el = { 0 };
        assert_true(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el) < 0);
        bool found = false;
        for (size_t k = 0; k < el.n; k++) found |= strstr(el.e[k].msg, cases[i].want) != NULL;
        if (!found) fail_msg("case %zu: no \"%s\" in %s", i, cases[i].want, el.n ? el.e[0].msg : "(none)");
        errlist_clear(&el);
    }
    VmConfig cfg;
    load("[hostdev \"a\"]\naddress = 0000:0A:1f.7\n", &cfg);
    assert_string_equal(cfg.hostdevs[0].address, "0000:0a:1f.7");
    vmconf_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_probe_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vf_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_replay, setup, teardown),
        cmocka_unit_test(test_vf_request),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
