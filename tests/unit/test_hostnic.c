/* [hostnic "DEV"] (launcher/net/hostnic.c): the parsers on captured text, the
 * plan on the nic-msix fake tree (IRQ pinning of MSI-X queues, `local` on a
 * two-node host, a node that is unknown, a NIC that does not exist,
 * irqbalance running), applying and restoring it byte for byte, and, as
 * root, the ethtool offloads for real on a tap inside a network namespace of
 * the test's own (tests/helpers/netns_test.c refuses any other).
 *
 * Run with arguments it is the helper of tests/cli/test_hostnic.sh:
 *   test_hostnic --apply VM.INI -- CMD...  plan [hostnic] (and only that),
 *       apply it and the offloads, run CMD, restore; exits with CMD's status
 *       (or 90 + a step when a step of its own failed)
 *   test_hostnic --offloads DEV [on|off]   print "TSO GSO GRO" states, or
 *       first set those three features (the test's own set-up) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostnic.h"
#include "hostplan.h"
#include "netns_test.h"
#include "runtime.h"
#include "tap.h"
#include "fake_root.h"
#include "skip.h"
#include "util.h"

/* Probe and plan the NICs alone, as vmplan does in two steps. */
static int hostnic_plan(const HostRoot *hr, const VmConfig *cfg, HostPlan *plan, ErrList *errors, ErrList *notes) {
    if (!cfg->n_hostnics) return 0;
    HostNicFacts facts;
    hostnic_probe(hr, cfg, &facts);
    int r = hostnic_plan_build(cfg, &facts, plan, errors, notes);
    hostnic_facts_free(&facts);
    return r;
}
#include "vmconf.h"

/* ---- captured text ---- */

/* The seed's "cat /proc/interrupts | grep eth0", with the header line and
 * a few lines of other devices around it, as the whole file reads. */
static const char seed_interrupts[] =
    "           CPU0       CPU1       CPU2       CPU3       CPU4       CPU5       CPU6       CPU7       \n"
    "  0:         44          0          0          0          0          0          0          0   IO-APIC-edge      timer\n"
    "71:    0    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0\n"
    "72:    0    0   213  679058    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-0\n"
    "73:    0    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-1\n"
    "74: 562872    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-2\n"
    "75: 561303    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-3\n"
    "76: 583422    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-4\n"
    "77:   21    5 563963    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-5\n"
    "78:   23    0 548548    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-6\n"
    "79: 567242    0    0    0    0    0    0    0 IR-PCI-MSI-edge  eth0-TxRx-7\n"
    " 80:          0          0          0          0          0          0          0          0   IR-PCI-MSI-edge      eth1, eth0-shared\n"
    "NMI:          0          0          0          0          0          0          0          0   Non-maskable interrupts\n"
    "ERR:          0\n";

/* This machine (Linux 6.18, 2 CPUs, virtio-net as eth0 on virtio2 at PCI
 * 0000:00:03.0, whose msi_irqs are 37-39): the names are the virtio
 * device's, not the interface's. */
static const char virtio_interrupts[] =
    "           CPU0       CPU1       \n"
    " 24:          1          0  IO-APIC   5-edge      ACPI:Ged\n"
    " 26:          0          9  IO-APIC   4-edge      ttyS0\n"
    " 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n"
    " 36:          0     128227 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n"
    " 37:          0          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-config\n"
    " 38:          0       3687 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n"
    " 39:       3026          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0\n"
    " 40:          0          0 PCI-MSIX-0000:00:04.0   0-edge      virtio3-config\n"
    "NMI:          0          0   Non-maskable interrupts\n"
    "LOC:     955632     941564   Local timer interrupts\n"
    "ERR:          0\n"
    "MIS:          0\n";

static void test_parse_interrupts(void **state) {
    (void)state;
    NicIrqList l;
    assert_int_equal(hostnic_parse_interrupts(seed_interrupts, "eth0", NULL, 0, &l), 0);
    assert_int_equal(l.n, 10);
    for (size_t i = 0; i < 9; i++) assert_int_equal(l.v[i].irq, 71 + (int)i);
    assert_string_equal(l.v[0].name, "eth0");
    assert_string_equal(l.v[1].name, "eth0-TxRx-0");
    assert_string_equal(l.v[8].name, "eth0-TxRx-7");
    assert_int_equal(l.v[9].irq, 80); /* a shared line: the second handler is eth0's */
    assert_string_equal(l.v[9].name, "eth1, eth0-shared");
    nicirqlist_free(&l);

    /* "eth01" and "eth0.100" are other interfaces. */
    static const char other[] = "  CPU0\n 5: 0 PCI-MSI 1-edge eth01-TxRx-0\n 6: 0 PCI-MSI 2-edge eth0.100\n 7: 0 PCI-MSI 3-edge eth0@pci:0000:01:00.0\n";
    assert_int_equal(hostnic_parse_interrupts(other, "eth0", NULL, 0, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].irq, 7);
    nicirqlist_free(&l);

    /* virtio-net: found through the device's msi_irqs only. */
    int msi[] = { 39, 37, 38 };
    assert_int_equal(hostnic_parse_interrupts(virtio_interrupts, "eth0", msi, 3, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[0].irq, 37);
    assert_int_equal(l.v[2].irq, 39);
    assert_string_equal(l.v[1].name, "virtio2-input.0");
    nicirqlist_free(&l);
    assert_int_equal(hostnic_parse_interrupts(virtio_interrupts, "eth0", NULL, 0, &l), 0);
    assert_int_equal(l.n, 0);
    nicirqlist_free(&l);

    /* Not /proc/interrupts. */
    assert_int_equal(hostnic_parse_interrupts("", "eth0", NULL, 0, &l), -EINVAL);
    assert_int_equal(hostnic_parse_interrupts("71: 0 0 eth0\n", "eth0", NULL, 0, &l), -EINVAL);
    assert_int_equal(hostnic_parse_interrupts("  CPU0\n7x: 0 PCI-MSI eth0\n", "eth0", NULL, 0, &l), -EINVAL);
}

static char *mask_cpus(const char *text) {
    CpuList l;
    int r = hostnic_parse_cpumask(text, &l);
    if (r < 0) return xasprintf("error %d", r);
    char *s = cpulist_format(&l);
    cpulist_free(&l);
    return s;
}

static void test_parse_cpumask(void **state) {
    (void)state;
    static const struct { const char *text, *cpus; } ok[] = {
        { "0\n", "" }, { "00\n", "" }, { "00000000\n", "" }, { "f\n", "0-3" }, { "f0\n", "4-7" },
        { "0000000f\n", "0-3" }, { "00000001,00000000\n", "32" }, { "1,00000000", "32" },
        { "80000000,00000001\n", "0,63" }, { "FF\n", "0-7" },
    };
    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        _cleanup_free_ char *got = mask_cpus(ok[i].text);
        if (!streq(got, ok[i].cpus)) fail_msg("\"%s\": got %s, expected %s", ok[i].text, got, ok[i].cpus);
    }
    static const char *const bad[] = { "", "\n", "0x3\n", "1,0\n", "g\n", "1,,00000000\n", "3 \n", "-1\n", "123456789\n" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        CpuList l;
        if (hostnic_parse_cpumask(bad[i], &l) >= 0) fail_msg("\"%s\" was accepted", bad[i]);
    }
    /* What cpumask_format writes, this reads. */
    static const char *const lists[] = { "0", "1,5", "4-7", "31-33", "0,40,95" };
    for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
        CpuList l = { 0 };
        char err[VALUE_ERR_MAX];
        assert_int_equal(value_parse_cpulist(lists[i], &l, err), 0);
        _cleanup_free_ char *mask = cpumask_format(&l);
        _cleanup_free_ char *back = mask_cpus(mask);
        assert_string_equal(back, lists[i]);
        cpulist_free(&l);
    }
}

/* ETH_SS_FEATURES of a veth on Linux 6.18 and its ETHTOOL_GFEATURES blocks
 * (GRO off, as veth starts without XDP; TSO, GSO on). */
static char *veth_names[64] = {
    "tx-scatter-gather", "tx-checksum-ipv4", "", "tx-checksum-ip-generic", "tx-checksum-ipv6", "highdma",
    "tx-scatter-gather-fraglist", "tx-vlan-hw-insert", "rx-vlan-hw-parse", "rx-vlan-filter", "vlan-challenged",
    "tx-generic-segmentation", "", "", "rx-gro", "rx-lro", "tx-tcp-segmentation", "tx-gso-robust",
    "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation", "tx-fcoe-segmentation",
    "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation", "tx-ipxip6-segmentation",
    "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation", "tx-gso-partial", "tx-tunnel-remcsum-segmentation",
    "tx-sctp-segmentation", "tx-esp-segmentation", "", "tx-udp-segmentation", "tx-gso-list",
    "tx-tcp-accecn-segmentation", "tx-checksum-fcoe-crc", "tx-checksum-sctp", "rx-ntuple-filter", "rx-hashing",
    "rx-checksum", "tx-nocache-copy", "loopback", "rx-fcs", "rx-all", "tx-vlan-stag-hw-insert",
    "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter", "l2-fwd-offload", "hw-tc-offload", "esp-hw-offload",
    "esp-tx-csum-hw-offload", "rx-udp_tunnel-port-offload", "tls-hw-tx-offload", "tls-hw-rx-offload", "rx-gro-hw",
    "tls-hw-record", "rx-gro-list", "macsec-hw-offload", "rx-udp-gro-forwarding", "hsr-tag-ins-offload",
    "hsr-tag-rm-offload", "hsr-fwd-offload", "hsr-dup-offload",
};
static const struct ethtool_get_features_block veth_blocks[2] = {
    { .available = 0x4fdd49e9, .requested = 0x4fdd09e9, .active = 0x4fdd09e9, .never_changed = 0x00000400 },
    { .available = 0x0a00632e, .requested = 0x0000612e, .active = 0x0000612e, .never_changed = 0 },
};

static void test_feature_bits(void **state) {
    (void)state;
    NicOffloads o = { .dev = (char *)"veth0" };
    assert_int_equal(hostnic_features_decode(veth_names, 64, veth_blocks, 2, &o), 0);
    assert_true(o.f[NIC_F_TSO].present && o.f[NIC_F_TSO].changeable && o.f[NIC_F_TSO].active);
    assert_true(o.f[NIC_F_TSO6].present && o.f[NIC_F_TSO6].active);
    assert_true(o.f[NIC_F_GSO].present && o.f[NIC_F_GSO].active);
    assert_true(o.f[NIC_F_GRO].present && o.f[NIC_F_GRO].changeable);
    assert_false(o.f[NIC_F_GRO].requested || o.f[NIC_F_GRO].active);
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_TSO), "on");
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_GRO), "off");
    /* Too few blocks for the names: refused, not read past the end. */
    assert_int_equal(hostnic_features_decode(veth_names, 64, veth_blocks, 1, &o), -EINVAL);

    /* TSO on IPv4 only: partly on. A kernel without the feature: absent. */
    struct ethtool_get_features_block b[2];
    memcpy(b, veth_blocks, sizeof(b));
    b[0].active &= ~(UINT32_C(1) << 20);
    assert_int_equal(hostnic_features_decode(veth_names, 64, b, 2, &o), 0);
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_TSO), "partly on");
    char *few[] = { "tx-scatter-gather", "rx-gro" };
    assert_int_equal(hostnic_features_decode(few, 2, veth_blocks, 1, &o), 0);
    assert_false(o.f[NIC_F_GSO].present);
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_GSO), "absent");
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_TSO), "absent");

    /* Requests: valid and requested bits at the feature's own index. */
    struct ethtool_set_features_block s[2] = { 0 };
    assert_int_equal(hostnic_features_request(veth_names, 64, NIC_F_GRO, true, s, 2), 0);
    assert_int_equal(s[0].valid, UINT32_C(1) << 14);
    assert_int_equal(s[0].requested, UINT32_C(1) << 14);
    assert_int_equal(hostnic_features_request(veth_names, 64, NIC_F_TSO6, false, s, 2), 0);
    assert_int_equal(s[0].valid, (UINT32_C(1) << 14) | (UINT32_C(1) << 20));
    assert_int_equal(s[0].requested, UINT32_C(1) << 14);
    assert_int_equal(s[1].valid, 0);
    assert_int_equal(hostnic_features_request(few, 2, NIC_F_TSO, true, s, 1), -ENOENT);
    assert_int_equal(hostnic_features_request(veth_names, 64, NIC_F_GRO, true, s, 0), -EINVAL);
    assert_string_equal(hostnic_feature_name(NIC_F_GRO), "rx-gro");
    assert_int_equal(hostnic_feature_offload(NIC_F_TSO6), NIC_OFFLOAD_TSO);
    assert_string_equal(hostnic_offload_name(NIC_OFFLOAD_GSO), "GSO");
}

/* ---- the plan on fake trees ---- */

typedef FakeRoot Env;

#define VM_INI "[vm]\nname = nicvm\nmemory = 1G\nvcpus = 2\n"

typedef struct Planned {
    VmConfig cfg;
    HostRoot hr;
    HostPlan plan;
    ErrList errors, notes;
    int r;
} Planned;

static void plan_nic(const char *ini, Planned *p) {
    memset(p, 0, sizeof(*p));
    p->hr = (HostRoot)HOSTROOT_INIT;
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", ini, strlen(ini), &p->cfg, &el) < 0) fail_msg("%s", el.e[0].msg);
    assert_int_equal(hostroot_open(&p->hr), 0);
    assert_true(p->hr.redirected);
    p->r = hostnic_plan(&p->hr, &p->cfg, &p->plan, &p->errors, &p->notes);
}

static void planned_free(Planned *p) {
    hostplan_free(&p->plan);
    errlist_clear(&p->errors);
    errlist_clear(&p->notes);
    hostroot_close(&p->hr);
    vmconf_free(&p->cfg);
}

static const HostChange *change(const HostPlan *p, const char *path) {
    for (size_t i = 0; i < p->n; i++)
        if (streq(p->c[i].path, path)) return &p->c[i];
    return NULL;
}

static bool notes_have(const ErrList *el, const char *text) {
    for (size_t i = 0; i < el->n; i++)
        if (strstr(el->e[i].msg, text)) return true;
    return false;
}

static void expect_change(const HostPlan *plan, const char *path, const char *old, const char *new) {
    const HostChange *c = change(plan, path);
    if (!c) fail_msg("no change planned for %s", path);
    if (!streq(c->old, old) || !streq(c->new, new)) fail_msg("%s: %s -> %s, expected %s -> %s", path, c->old, c->new, old, new);
}

/* eth0 sits on node 1 (CPUs 4-7) with 5 MSI-X vectors (71-75): `local`
 * spreads them over 4-7, RPS gets the node's mask, XPS one CPU a queue.
 * Applied and restored, the tree is as it was, byte for byte. */
static void test_plan_local_msix(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    Planned p;
    plan_nic(VM_INI "[hostnic \"eth0\"]\nirq-cpus = local\nrps-cpus = local\nxps = spread\n", &p);
    assert_int_equal(p.r, 0);
    assert_int_equal(p.errors.n, 0);
    assert_int_equal(p.notes.n, 0); /* node known, MSI-X, no irqbalance */
    assert_int_equal(p.plan.n, 5 + 4 + 4);
    static const char *const irq_cpu[] = { "4", "5", "6", "7", "4" };
    for (int i = 0; i < 5; i++) {
        _cleanup_free_ char *path = xasprintf("/proc/irq/%d/smp_affinity_list", 71 + i);
        expect_change(&p.plan, path, "0-7", irq_cpu[i]);
        assert_false(change(&p.plan, path)->already);
    }
    assert_non_null(strstr(change(&p.plan, "/proc/irq/72/smp_affinity_list")->why, "eth0-TxRx-0"));
    /* eth01's IRQ 90 and eth1's 80 are not eth0's. */
    assert_null(change(&p.plan, "/proc/irq/90/smp_affinity_list"));
    assert_null(change(&p.plan, "/proc/irq/80/smp_affinity_list"));
    static const char *const xps[] = { "10", "20", "40", "80" };
    for (int q = 0; q < 4; q++) {
        _cleanup_free_ char *rps = xasprintf("/sys/class/net/eth0/queues/rx-%d/rps_cpus", q);
        _cleanup_free_ char *tx = xasprintf("/sys/class/net/eth0/queues/tx-%d/xps_cpus", q);
        expect_change(&p.plan, rps, "00", "f0");
        expect_change(&p.plan, tx, "00", xps[q]);
    }
    _cleanup_free_ char *text = hostplan_render(&p.plan);
    assert_non_null(strstr(text, "/proc/irq/71/smp_affinity_list: 0-7 -> 4   ([hostnic \"eth0\"] irq-cpus: IRQ 71 eth0"));
    assert_non_null(strstr(text, "/sys/class/net/eth0/queues/tx-3/xps_cpus: 00 -> 80"));

    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("nicvm", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&p.hr, "nicvm", &p.plan), 0);
    _cleanup_free_ char *a = fake_root_read(&e, "/proc/irq/75/smp_affinity_list");
    _cleanup_free_ char *r = fake_root_read(&e, "/sys/class/net/eth0/queues/rx-2/rps_cpus");
    _cleanup_free_ char *x = fake_root_read(&e, "/sys/class/net/eth0/queues/tx-1/xps_cpus");
    assert_string_equal(a, "4\n");
    assert_string_equal(r, "f0\n");
    assert_string_equal(x, "20\n");
    /* eth0 keeps its offloads: read (the fake kernel's NIC has no
     * features file here: unknown, said), nothing recorded. */
    assert_int_equal(hostnic_offloads_apply(&p.hr, &p.cfg), 0);
    assert_int_equal(hostnic_offloads_restore(&p.hr, "nicvm"), 0);
    assert_int_equal(hostplan_restore(&p.hr, "nicvm"), 0);
    runtime_release(&rt);
    assert_true(fake_root_unchanged(&e));

    /* Planned again once applied: every change is "already". */
    planned_free(&p);
    plan_nic(VM_INI "[hostnic \"eth0\"]\nrps-cpus = off\n", &p);
    assert_int_equal(p.plan.n, 4);
    assert_true(p.plan.c[0].already);
    assert_string_equal(p.plan.c[0].new, "0");
    planned_free(&p);
    fake_root_teardown(&e);
}

/* A cpulist: every IRQ may use all of it; rps the list's mask. */
static void test_plan_cpulist(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    Planned p;
    plan_nic(VM_INI "[hostnic \"eth0\"]\nirq-cpus = 2-3\nrps-cpus = 0,5\nxps = off\n", &p);
    assert_int_equal(p.errors.n, 0);
    for (int i = 71; i <= 75; i++) {
        _cleanup_free_ char *path = xasprintf("/proc/irq/%d/smp_affinity_list", i);
        expect_change(&p.plan, path, "0-7", "2-3");
    }
    expect_change(&p.plan, "/sys/class/net/eth0/queues/rx-3/rps_cpus", "00", "21");
    expect_change(&p.plan, "/sys/class/net/eth0/queues/tx-0/xps_cpus", "00", "0");
    assert_true(change(&p.plan, "/sys/class/net/eth0/queues/tx-0/xps_cpus")->already);
    planned_free(&p);

    /* A CPU the host does not have: file:line of the key. */
    plan_nic(VM_INI "[hostnic \"eth0\"]\nrps-cpus = 1\nirq-cpus = 6-9\n", &p);
    assert_int_equal(p.r, -EINVAL);
    assert_int_equal(p.errors.n, 1);
    assert_string_equal(p.errors.e[0].msg, "t.ini:7: [hostnic \"eth0\"] irq-cpus: expected CPUs that are online on this host (0-7), found CPU 8");
    planned_free(&p);
    fake_root_teardown(&e);
}

/* eth1: numa_node -1 and plain MSI. `local` means every online CPU, said. */
static void test_plan_unknown_node(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    Planned p;
    plan_nic(VM_INI "[hostnic \"eth1\"]\nirq-cpus = local\nrps-cpus = local\nxps = spread\n", &p);
    assert_int_equal(p.errors.n, 0);
    expect_change(&p.plan, "/proc/irq/80/smp_affinity_list", "0-7", "0");
    expect_change(&p.plan, "/sys/class/net/eth1/queues/rx-0/rps_cpus", "00", "ff");
    expect_change(&p.plan, "/sys/class/net/eth1/queues/tx-0/xps_cpus", "00", "1");
    assert_int_equal(p.plan.n, 3);
    assert_int_equal(p.notes.n, 2);
    assert_true(notes_have(&p.notes, "t.ini:6: [hostnic \"eth1\"] irq-cpus: the NUMA node of eth1 is unknown (its device/numa_node is -1 or absent): all online CPUs (0-7) are used"));
    assert_true(notes_have(&p.notes, "eth1 uses MSI, not MSI-X: its queues share 1 vector"));
    planned_free(&p);

    /* eth01 has no device/ (no numa_node, no msi_irqs): its IRQ is found
     * by its name alone. */
    plan_nic(VM_INI "[hostnic \"eth01\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.errors.n, 0);
    assert_int_equal(p.plan.n, 1);
    expect_change(&p.plan, "/proc/irq/90/smp_affinity_list", "0-7", "0");
    assert_true(notes_have(&p.notes, "the NUMA node of eth01 is unknown"));
    planned_free(&p);

    /* A virtual device: no IRQs at all, said, nothing planned. */
    assert_int_equal(fake_root_write(&e, "/sys/class/net/dummy0/queues/rx-0/rps_cpus", "00\n"), 0);
    plan_nic(VM_INI "[hostnic \"dummy0\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.errors.n, 0);
    assert_int_equal(p.plan.n, 0);
    assert_true(notes_have(&p.notes, "t.ini:6: [hostnic \"dummy0\"] irq-cpus: found no queue IRQs of dummy0"));
    planned_free(&p);
    fake_root_teardown(&e);
}

/* virtio-net: the interface's device is virtioN, whose parent PCI function
 * holds numa_node and msi_irqs (on a real host device/.. resolves through
 * the symlink to that function; in a tree of plain directories it is the
 * interface's own directory, which stands for it here). A PCI NIC's parent
 * is a bridge, whose vectors are never taken. */
static void test_plan_virtio(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    assert_int_equal(fake_root_write(&e, "/proc/interrupts", virtio_interrupts), 0);
    for (int irq = 37; irq <= 39; irq++) {
        _cleanup_free_ char *msi = xasprintf("/sys/class/net/eth2/msi_irqs/%d", irq);
        _cleanup_free_ char *aff = xasprintf("/proc/irq/%d/smp_affinity_list", irq);
        assert_int_equal(fake_root_write(&e, msi, "msix\n"), 0);
        assert_int_equal(fake_root_write(&e, aff, "0-7\n"), 0);
    }
    assert_int_equal(fake_root_write(&e, "/sys/class/net/eth2/config", ""), 0);
    assert_int_equal(fake_root_write(&e, "/sys/class/net/eth2/numa_node", "0\n"), 0);
    assert_int_equal(fake_root_write(&e, "/sys/class/net/eth2/device/features", "1100011111111111111101010000110000000000000000000000000000000000\n"), 0);
    Planned p;
    plan_nic(VM_INI "[hostnic \"eth2\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.errors.n, 0);
    assert_int_equal(p.notes.n, 0);
    assert_int_equal(p.plan.n, 3);
    expect_change(&p.plan, "/proc/irq/37/smp_affinity_list", "0-7", "0"); /* node 0: CPUs 0-3 */
    expect_change(&p.plan, "/proc/irq/38/smp_affinity_list", "0-7", "1");
    expect_change(&p.plan, "/proc/irq/39/smp_affinity_list", "0-7", "2");
    planned_free(&p);
    /* Were device/ a PCI function itself (it has config), the parent's
     * vectors would be a bridge's: not taken. */
    assert_int_equal(fake_root_write(&e, "/sys/class/net/eth2/device/config", ""), 0);
    plan_nic(VM_INI "[hostnic \"eth2\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.plan.n, 0);
    assert_true(notes_have(&p.notes, "found no queue IRQs of eth2"));
    planned_free(&p);
    fake_root_teardown(&e);
}

static void test_plan_missing(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    Planned p;
    plan_nic(VM_INI "\n[hostnic \"eth9\"]\nirq-cpus = local\n[hostnic \"eth0\"]\nxps = spread\n", &p);
    assert_int_equal(p.r, -EINVAL);
    assert_int_equal(p.errors.n, 1);
    assert_string_equal(p.errors.e[0].msg,
                        "t.ini:6: [hostnic \"eth9\"]: expected a network interface of this host, found no /sys/class/net/eth9 (`ip link` lists them)");
    assert_int_equal(p.plan.n, 4); /* eth0's part is still planned, so every problem shows */
    planned_free(&p);

    /* A kernel without CONFIG_RPS: no rps_cpus files. */
    _cleanup_free_ char *gone = xasprintf("%s/sys/class/net/eth0/queues/rx-1/rps_cpus", e.root);
    assert_int_equal(unlink(gone), 0);
    plan_nic(VM_INI "[hostnic \"eth0\"]\nrps-cpus = local\n", &p);
    assert_int_equal(p.errors.n, 1);
    assert_non_null(strstr(p.errors.e[0].msg, "t.ini:6: [hostnic \"eth0\"] rps-cpus: expected /sys/class/net/eth0/queues/rx-1/rps_cpus to exist"));
    planned_free(&p);
    fake_root_teardown(&e);
}

static void test_plan_irqbalance(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "nic-msix"), 0);
    assert_int_equal(fake_root_write(&e, "/proc/4242/comm", "irqbalance\n"), 0);
    Planned p;
    plan_nic(VM_INI "[hostnic \"eth0\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.errors.n, 0);
    assert_int_equal(p.notes.n, 1);
    assert_string_equal(p.notes.e[0].msg, "t.ini:6: [hostnic \"eth0\"] irq-cpus: irqbalance runs (pid 4242) and may move these IRQs again; stop it, or set [host] irqbalance = ignore");
    planned_free(&p);
    /* Told to ignore it, or no IRQs asked for: nothing said. */
    plan_nic(VM_INI "[host]\nirqbalance = ignore\n[hostnic \"eth0\"]\nirq-cpus = local\n", &p);
    assert_int_equal(p.notes.n, 0);
    planned_free(&p);
    plan_nic(VM_INI "[hostnic \"eth0\"]\nrps-cpus = local\n", &p);
    assert_int_equal(p.notes.n, 0);
    planned_free(&p);
    fake_root_teardown(&e);
}

static void test_render_offloads(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    static const char ini[] = VM_INI "[hostnic \"veth0\"]\noffloads = on\n[hostnic \"eth0\"]\n[hostnic \"eth1\"]\noffloads = on\n";
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    NicOffloads o[3] = { { .dev = (char *)"veth0" }, { .dev = (char *)"eth0" }, { .dev = (char *)"eth1", .error = -ENODEV } };
    assert_int_equal(hostnic_features_decode(veth_names, 64, veth_blocks, 2, &o[0]), 0);
    assert_int_equal(hostnic_features_decode(veth_names, 64, veth_blocks, 2, &o[1]), 0);
    o[0].f[NIC_F_GSO].active = false;
    o[0].f[NIC_F_TSO6].changeable = false;
    o[0].f[NIC_F_TSO6].active = false;
    _cleanup_free_ char *text = hostnic_render_offloads(&cfg, o, 3);
    assert_string_equal(text,
                        "# NIC offloads (ethtool features; each is put back when the VM ends):\n"
                        "#   veth0: TSO partly on, fixed (the device cannot change it), GSO off -> on, GRO off -> on\n"
                        "#   eth0: kept: TSO on, GSO on, GRO off\n"
                        "#   eth1: TSO, GSO, GRO -> on (current state unknown: No such device)\n");
    _cleanup_free_ char *none = hostnic_render_offloads(&cfg, NULL, 0);
    assert_non_null(strstr(none, "#   eth0: kept (current state unknown: not read)\n"));
    vmconf_free(&cfg);
}

/* ---- offloads for real: a tap in a namespace of the test's own ---- */

/* TSO (IPv4 and IPv6), GSO, GRO of DEV through the ioctl, written here
 * apart from launcher/net/hostnic.c so each checks the other: ST gets their
 * active states; with SET, all four are first requested ON. */
static int features_io(const char *dev, bool set, bool on, bool st[4]) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    struct {
        struct ethtool_sset_info i;
        uint32_t n;
    } ss = { .i = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = UINT64_C(1) << ETH_SS_FEATURES } };
    ifr.ifr_data = (void *)&ss;
    int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    uint32_t n = ss.n, nb = (n + 31) / 32;
    struct ethtool_gstrings *g = xcalloc(1, sizeof(*g) + (size_t)n * ETH_GSTRING_LEN);
    struct ethtool_gfeatures *gf = xcalloc(1, sizeof(*gf) + nb * sizeof(gf->features[0]));
    struct ethtool_sfeatures *sf = xcalloc(1, sizeof(*sf) + nb * sizeof(sf->features[0]));
    static const char *const want[] = { "tx-tcp-segmentation", "tx-tcp6-segmentation", "tx-generic-segmentation", "rx-gro" };
    if (r == 0) {
        *g = (struct ethtool_gstrings){ .cmd = ETHTOOL_GSTRINGS, .string_set = ETH_SS_FEATURES, .len = n };
        ifr.ifr_data = (void *)g;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    }
    *sf = (struct ethtool_sfeatures){ .cmd = ETHTOOL_SFEATURES, .size = nb };
    for (uint32_t i = 0; r == 0 && i < n; i++)
        for (int k = 0; k < 4; k++)
            if (!strncmp((char *)g->data + i * ETH_GSTRING_LEN, want[k], ETH_GSTRING_LEN)) {
                sf->features[i / 32].valid |= UINT32_C(1) << (i % 32);
                if (on) sf->features[i / 32].requested |= UINT32_C(1) << (i % 32);
            }
    if (r == 0 && set) {
        ifr.ifr_data = (void *)sf;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    }
    if (r == 0) {
        *gf = (struct ethtool_gfeatures){ .cmd = ETHTOOL_GFEATURES, .size = nb };
        ifr.ifr_data = (void *)gf;
        r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
    }
    for (int k = 0; r == 0 && k < 4; k++) {
        st[k] = false;
        for (uint32_t i = 0; i < n; i++)
            if (!strncmp((char *)g->data + i * ETH_GSTRING_LEN, want[k], ETH_GSTRING_LEN))
                st[k] = (gf->features[i / 32].active >> (i % 32)) & 1;
    }
    free(g);
    free(gf);
    free(sf);
    close(fd);
    return r;
}

/* In a forked child: a fresh namespace, a tap with GSO and GRO off;
 * offloads = on turns them on, the state file holds the originals, a
 * restore puts them back; a VM that died is replayed. */
static void offloads_child(const char *run) {
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    unsetenv("KVMLAUNCH_ROOT");
    if (netns_test_unshare() < 0) _exit(77);
    int fds[1];
    if (netns_test_tap_open("kltest0", 1, fds) < 0) _exit(77);
    bool st[4];
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "child %s:%d: %s\n", __FILE__, __LINE__, #c); _exit(1); } } while (0)
    CHECK(features_io("kltest0", true, false, st) == 0);
    CHECK(!st[2] && !st[3]); /* GSO, GRO off: changeable on every device */
    VmConfig cfg;
    ErrList el = { 0 };
    static const char ini[] = VM_INI "[hostnic \"kltest0\"]\noffloads = on\n";
    CHECK(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el) == 0);
    HostRoot hr = HOSTROOT_INIT;
    CHECK(hostroot_open(&hr) == 0 && !hr.redirected);
    NicOffloads o;
    CHECK(hostnic_offloads_read(&hr, "kltest0", &o) == 0);
    CHECK(streq(hostnic_offload_state(&o, NIC_OFFLOAD_GRO), "off"));
    free(o.dev);

    Runtime rt = RUNTIME_INIT;
    CHECK(runtime_acquire("nicvm", &rt, NULL) == 0);
    CHECK(hostnic_offloads_apply(&hr, &cfg) == 0);
    CHECK(features_io("kltest0", false, false, st) == 0);
    CHECK(st[2] && st[3]);
    _cleanup_free_ char *state = xasprintf("%s/host.offloads", run);
    CHECK(access(state, F_OK) == 0);
    CHECK(test_sh("grep -q '\"original\": *false' %s && grep -q '\"nicvm\"' %s", state, state) == 0);
    CHECK(hostnic_offloads_restore(&hr, "nicvm") == 0);
    CHECK(features_io("kltest0", false, false, st) == 0);
    CHECK(!st[2] && !st[3]);
    CHECK(access(state, F_OK) < 0); /* nothing left to put back: no file */

    /* Applied by a VM that then died: the replay puts it back. */
    CHECK(hostnic_offloads_apply(&hr, &cfg) == 0);
    runtime_release(&rt);
    CHECK(features_io("kltest0", false, false, st) == 0 && st[3]);
    CHECK(hostnic_offloads_replay_dead(&hr) == 0);
    CHECK(features_io("kltest0", false, false, st) == 0 && !st[2] && !st[3]);
    /* A device that is gone: its entry goes without error. */
    CHECK(runtime_acquire("nicvm", &rt, NULL) == 0);
    CHECK(hostnic_offloads_apply(&hr, &cfg) == 0);
    close(fds[0]);
    CHECK(hostnic_offloads_restore(&hr, "nicvm") == 0);
    CHECK(access(state, F_OK) < 0);
    runtime_release(&rt);
    hostroot_close(&hr);
    vmconf_free(&cfg);
#undef CHECK
    _exit(0);
}

static void test_offloads_real(void **state) {
    (void)state;
    if (access("/dev/net/tun", R_OK | W_OK) < 0) {
        skip_because("no /dev/net/tun: the offloads are tested on fake data only here");
    }
    char dir[] = "/tmp/kvmlaunch-hostnic-run-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) offloads_child(dir);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    test_sh("rm -rf %s", dir);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        skip_because("cannot make a network namespace with a tap here");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- the helper of tests/cli/test_hostnic.sh ---- */

static int helper_offloads(int argc, char **argv) {
    if (argc < 1) return 2;
    bool st[4];
    int r = features_io(argv[0], argc > 1, argc > 1 && streq(argv[1], "on"), st);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], strerror(-r));
        return 1;
    }
    printf("TSO=%s GSO=%s GRO=%s\n", st[0] && st[1] ? "on" : st[0] || st[1] ? "partly" : "off", st[2] ? "on" : "off", st[3] ? "on" : "off");
    return 0;
}

static int helper_apply(int argc, char **argv) {
    if (argc < 3 || !streq(argv[1], "--")) return 2;
    VmConfig cfg;
    ErrList errors = { 0 }, notes = { 0 };
    if (vmconf_load_file(argv[0], &cfg, &errors) < 0) {
        for (size_t i = 0; i < errors.n; i++) fprintf(stderr, "%s\n", errors.e[i].msg);
        errlist_clear(&errors);
        return 91;
    }
    HostRoot hr = HOSTROOT_INIT;
    HostPlan plan = { 0 };
    Runtime rt = RUNTIME_INIT;
    _cleanup_free_ char *text = NULL, *otext = NULL;
    int rc = 0;
    if (hostroot_open(&hr) < 0) {
        rc = 92;
        goto out;
    }
    int r = hostnic_plan(&hr, &cfg, &plan, &errors, &notes);
    for (size_t i = 0; i < notes.n; i++) fprintf(stderr, "warning: %s\n", notes.e[i].msg);
    for (size_t i = 0; i < errors.n; i++) fprintf(stderr, "%s\n", errors.e[i].msg);
    if (r < 0) {
        rc = 93;
        goto out;
    }
    text = hostplan_render(&plan);
    NicOffloads *o = hostnic_offloads_read_all(&hr, &cfg);
    otext = hostnic_render_offloads(&cfg, o, cfg.n_hostnics);
    hostnic_offloads_free(o, cfg.n_hostnics);
    printf("%s%s", text, otext);
    fflush(stdout);
    if (runtime_acquire(cfg.vm.name, &rt, NULL) < 0) {
        rc = 94;
        goto out;
    }
    if (hostplan_apply(&hr, cfg.vm.name, &plan) < 0) rc = 95;
    else if (hostnic_offloads_apply(&hr, &cfg) < 0) rc = 96;
    if (!rc) {
        pid_t pid = fork();
        if (pid == 0) {
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        rc = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 97;
    }
    if (hostnic_offloads_restore(&hr, cfg.vm.name) < 0 && !rc) rc = 98;
    if (hostplan_restore(&hr, cfg.vm.name) < 0 && !rc) rc = 99;
    runtime_release(&rt);
out:
    hostplan_free(&plan);
    hostroot_close(&hr);
    errlist_clear(&errors);
    errlist_clear(&notes);
    vmconf_free(&cfg);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1 && streq(argv[1], "--apply")) return helper_apply(argc - 2, argv + 2);
    if (argc > 1 && streq(argv[1], "--offloads")) return helper_offloads(argc - 2, argv + 2);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_parse_interrupts), cmocka_unit_test(test_parse_cpumask),
        cmocka_unit_test(test_feature_bits), cmocka_unit_test(test_render_offloads),
    };
    int r = cmocka_run_group_tests_name("hostnic parsers", pure, NULL, NULL);
    if (r) return r;
    if (geteuid() != 0) {
        return skip_program("needs root (the fake trees keep root-owned modes; the offloads need a network namespace)");
    }
    const struct CMUnitTest root[] = {
        cmocka_unit_test(test_plan_local_msix), cmocka_unit_test(test_plan_cpulist),
        cmocka_unit_test(test_plan_unknown_node), cmocka_unit_test(test_plan_virtio), cmocka_unit_test(test_plan_missing),
        cmocka_unit_test(test_plan_irqbalance), cmocka_unit_test(test_offloads_real),
    };
    return cmocka_run_group_tests_name("hostnic on fake trees and a namespace", root, NULL, NULL);
}
