/* Pure parts of the network side: CPU masks for rps_cpus/xps_cpus; the
 * kernel's RTM_GETLINK answers about taps (captured bytes, tests/unit/rtnl/,
 * made by its capture.sh); the tap a /proc fdinfo names; the nets in a QEMU
 * command line kvmlaunch wrote; and the verdict on a tap and a MAC that
 * other VMs use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostfacts.h"
#include "netns_test.h"
#include "qemucmd.h"
#include "runtime.h"
#include "skip.h"
#include "tap.h"
#include "util.h"

static char *mask_of(const char *list) {
    CpuList l;
    char err[VALUE_ERR_MAX];
    if (value_parse_cpulist(list, &l, err) < 0) fail_msg("%s", err);
    char *m = cpumask_format(&l);
    cpulist_free(&l);
    return m;
}

static void test_cpumask(void **state) {
    (void)state;
    static const struct { const char *list, *mask; } cases[] = {
        { "0", "1" }, { "1", "2" }, { "0-3", "f" }, { "0-3,8", "10f" }, { "31", "80000000" },
        { "32", "1,00000000" }, { "0,32,64", "1,00000001,00000001" }, { "4-7", "f0" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *m = mask_of(cases[i].list);
        assert_string_equal(m, cases[i].mask);
    }
    CpuList empty = { NULL, 0 };
    _cleanup_free_ char *z = cpumask_format(&empty);
    assert_string_equal(z, "0");
}

/* tests/unit/rtnl/NAME.hex as bytes, in a buffer of exactly their size
 * (so ASan sees a read past the end). */
static uint8_t *captured(const char *name, size_t *len) {
    _cleanup_free_ char *path = xasprintf("tests/unit/rtnl/%s.hex", name);
    FILE *f = fopen(path, "re");
    if (!f) fail_msg("cannot open %s: run from the repository root", path);
    uint8_t *buf = xmalloc(65536);
    size_t n = 0;
    unsigned byte;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') continue;
        ungetc(c, f);
        if (fscanf(f, "%2x", &byte) != 1) fail_msg("%s: not hex at byte %zu", path, n);
        buf[n++] = (uint8_t)byte;
    }
    fclose(f);
    *len = n;
    return xrealloc(buf, n);
}

static void test_link_captured(void **state) {
    (void)state;
    static const struct {
        const char *name;
        int r;
        bool exists, is_tun, tun_info, persist, multi_queue, queues_known;
        uint32_t queues;
        int master;
    } cases[] = {
        { "mq2", 0, true, true, true, false, true, true, 2, 0 },
        /* A port of the bridge (ifindex 5 in the capture's namespace). */
        { "persist0", 0, true, true, true, true, true, true, 0, 5 },
        /* A detached queue keeps its descriptor: still held. */
        { "persist-disabled", 0, true, true, true, true, true, true, 1, 5 },
        /* The kernel reports queues of a multi-queue tap alone. */
        { "single", 0, true, true, true, true, false, false, 0, 0 },
        { "bridge", 0, true, false, false, false, false, false, 0, 0 },
        { "none", -ENODEV, false, false, false, false, false, false, 0, 0 },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        size_t len;
        _cleanup_free_ uint8_t *buf = captured(cases[i].name, &len);
        TapLink l;
        int r = tap_link_parse(buf, len, &l);
        if (r != cases[i].r) fail_msg("%s: returned %d, expected %d", cases[i].name, r, cases[i].r);
        if (l.exists != cases[i].exists || l.is_tun != cases[i].is_tun || l.tun_info != cases[i].tun_info || l.persist != cases[i].persist ||
            l.multi_queue != cases[i].multi_queue || l.queues_known != cases[i].queues_known || l.queues != cases[i].queues ||
            l.master != cases[i].master)
            fail_msg("%s: exists %d tun %d info %d persist %d mq %d known %d queues %u master %d", cases[i].name, l.exists, l.is_tun, l.tun_info,
                     l.persist, l.multi_queue, l.queues_known, l.queues, l.master);
    }
}

/* Cut anywhere, or with a length field bent, the answer is refused or read
 * within its bytes (ASan watches), never taken for a tap nobody uses. */
static void test_link_damaged(void **state) {
    (void)state;
    size_t len;
    _cleanup_free_ uint8_t *whole = captured("mq2", &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = xmalloc(cut ? cut : 1);
        memcpy(part, whole, cut);
        TapLink l;
        int r = tap_link_parse(part, cut, &l);
        free(part);
        if (r == 0 && l.queues_known && l.queues != 2) fail_msg("cut at %zu: %u queues", cut, l.queues);
        if (cut < 16 && r != -EBADMSG) fail_msg("cut at %zu: %d", cut, r);
    }
    for (size_t at = 0; at + 2 <= len; at += 2) {
        _cleanup_free_ uint8_t *bent = xmalloc(len);
        memcpy(bent, whole, len);
        bent[at] ^= 0xff;
        bent[at + 1] ^= 0x7f;
        TapLink l;
        (void)tap_link_parse(bent, len, &l);
    }
    /* No message at all, and a message that claims more than there is. */
    TapLink l;
    assert_int_equal(tap_link_parse(whole, 0, &l), -EBADMSG);
    uint32_t big = (uint32_t)len + 4;
    memcpy(whole, &big, sizeof(big));
    assert_int_equal(tap_link_parse(whole, len, &l), -EBADMSG);
    assert_false(l.exists);
}

static void test_fdinfo(void **state) {
    (void)state;
    /* /proc/PID/fdinfo of a tun descriptor (Linux 6.18). */
    _cleanup_free_ char *a = tap_fdinfo_iff("pos:\t0\nflags:\t02100002\nmnt_id:\t62\nino:\t103\niff:\tkltest0\n");
    assert_non_null(a);
    assert_string_equal(a, "kltest0");
    assert_null(tap_fdinfo_iff("pos:\t0\nflags:\t02\nmnt_id:\t62\nino:\t7\n"));
    assert_null(tap_fdinfo_iff("iff:\t../../etc\n"));
    assert_null(tap_fdinfo_iff("iff:\t\n"));
    assert_null(tap_fdinfo_iff("iff:\tabcdefghijklmnopq\n"));
    _cleanup_free_ char *b = tap_fdinfo_iff("pos:\t0\niff:\tkl-x-lan");
    assert_string_equal(b, "kl-x-lan");
}

static void load(const char *text, VmConfig *cfg) {
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", text, strlen(text), cfg, &el) < 0) fail_msg("%s", el.n ? el.e[0].msg : "load failed");
}

/* The nets of the command line kvmlaunch itself writes, joined with NULs
 * as /proc/PID/cmdline has them. */
static void test_qemu_nets(void **state) {
    (void)state;
    VmConfig cfg;
    load("[vm]\nname = t\nmemory = 1G\nvcpus = 2\n[net \"lan\"]\nqueues = 2\nmac = 02:00:00:00:00:0a\n[net \"b\"]\nqueues = 1\n"
         "vhost = off\n", &cfg);
    HostFacts f = { .vhost_net_usable = true, .stdout_kind = STDOUT_PIPE };
    hostfacts_assign_fds(&cfg, &f);
    StrVec argv = STRVEC_INIT;
    ErrList errors = { 0 }, notes = { 0 };
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);
    size_t len = 0;
    for (size_t i = 0; i < argv.n; i++) len += strlen(argv.v[i]) + 1;
    char *cmdline = xmalloc(len), *p = cmdline;
    for (size_t i = 0; i < argv.n; i++) p = stpcpy(p, argv.v[i]) + 1;
    QemuNet *nets;
    size_t n = tap_qemu_nets(cmdline, len, &nets);
    assert_int_equal(n, 2);
    assert_string_equal(nets[0].id, "net-lan");
    assert_int_equal(nets[0].first_fd, f.nets[0].tap[0]);
    assert_true(nets[0].mac_known);
    MacAddr want = { { 0x02, 0, 0, 0, 0, 0x0a } };
    assert_memory_equal(nets[0].mac.b, want.b, 6);
    assert_string_equal(nets[1].id, "net-b");
    assert_int_equal(nets[1].first_fd, f.nets[1].tap[0]);
    MacAddr derived = vmconf_net_mac(&cfg, &cfg.nets[1]);
    assert_true(nets[1].mac_known);
    assert_memory_equal(nets[1].mac.b, derived.b, 6);
    qemu_nets_free(nets, n);
    /* No nets, a cut JSON and a last argument without its NUL. */
    static const char odd[] = "qemu\0-netdev\0{\"type\":\"tap\",\"id\0-device\0{\"netdev\":\"x\"}\0-netdev";
    assert_int_equal(tap_qemu_nets(odd, sizeof(odd) - 1, &nets), 0);
    free(nets);
    free(cmdline);
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void nic(VmNics *o, const char *vm, const char *net, const char *tap, const char *bridge, const char *mac) {
    o->v = xrealloc(o->v, (o->n + 1) * sizeof(VmNic));
    VmNic *v = &o->v[o->n++];
    *v = (VmNic){ .vm = xstrdup(vm), .net = net ? xstrdup(net) : NULL, .tap = xstrdup(tap), .bridge = bridge ? xstrdup(bridge) : NULL };
    char err[VALUE_ERR_MAX];
    v->mac_known = mac && value_parse_mac(mac, &v->mac, err) == 0;
}

/* The messages tap_judge gives CFG's one net, as "E: ...\nW: ...\n". */
static char *judge(const char *ini, const TapLink *link, const VmNics *others) {
    VmConfig cfg;
    load(ini, &cfg);
    ErrList e = { 0 }, w = { 0 };
    tap_judge(&cfg, link, others, &e, &w);
    StrVec out = STRVEC_INIT;
    for (size_t i = 0; i < e.n; i++) strvec_pushf(&out, "E: %s\n", e.e[i].msg);
    for (size_t i = 0; i < w.n; i++) strvec_pushf(&out, "W: %s\n", w.e[i].msg);
    char *s = strvec_join(&out, "");
    strvec_clear(&out);
    errlist_clear(&e);
    errlist_clear(&w);
    vmconf_free(&cfg);
    return s;
}

#define VMB "[vm]\nname = vmb\nmemory = 1G\nvcpus = 1\n[net \"lan\"]\nbridge = br0\ntap = kl-vma-lan\nmac = 02:00:00:00:00:01\n"

static void test_judge(void **state) {
    (void)state;
    VmNics o = { 0 };
    nic(&o, "vma", "lan", "kl-vma-lan", "br0", "02:00:00:00:00:0a");
    strvec_push(&o.running, "vma");
    const TapLink held = { .exists = true, .is_tun = true, .tun_info = true, .multi_queue = true, .queues_known = true, .queues = 2 };
    _cleanup_free_ char *a = judge(VMB, &held, &o);
    assert_string_equal(a, "E: t.ini:7: [net \"lan\"] tap: expected a tap no other VM uses, found kl-vma-lan held by the running VM vma "
                           "(its net \"lan\"): it would get part of vma's traffic\n");
    /* Not probed (a test's facts): the holder list alone. */
    _cleanup_free_ char *b = judge(VMB, NULL, &o);
    assert_string_equal(a, b);
    /* Its descriptors unreadable: named by its name. */
    VmNics named = { 0 };
    strvec_push(&named.running, "vma");
    _cleanup_free_ char *c = judge(VMB, &held, &named);
    assert_non_null(strstr(c, "found kl-vma-lan with 2 queues attached, named as the running VM vma's taps are"));
    /* A process that is no VM. */
    _cleanup_free_ char *d = judge(VMB, &held, NULL);
    assert_non_null(strstr(d, "E: t.ini:7: [net \"lan\"] tap: expected a tap no other process uses, found kl-vma-lan with 2 queues attached by a "
                              "process that is no running kvmlaunch VM"));
    /* A VM's descriptors could not be read (not root): no guess. */
    named.unreadable = true;
    _cleanup_free_ char *d2 = judge(VMB "[net \"b\"]\ntap = other0\n", (const TapLink[]){ held, held }, &named);
    assert_non_null(strstr(d2, "found other0 with 2 queues attached by another process (a running VM's descriptors could not be read"));
    /* An admin's persistent tap nobody uses; a tap still to be made. */
    const TapLink unused = { .exists = true, .is_tun = true, .tun_info = true, .persist = true, .multi_queue = true, .queues_known = true };
    _cleanup_free_ char *e = judge(VMB, &unused, NULL);
    assert_string_equal(e, "");
    const TapLink absent = { 0 };
    _cleanup_free_ char *f = judge(VMB, &absent, NULL);
    assert_string_equal(f, "");
    /* vma's tap of that name in another namespace is no matter. */
    _cleanup_free_ char *g = judge(VMB, &absent, &o);
    assert_string_equal(g, "");
    /* Without IFLA_INFO_DATA (Linux < 4.19): a warning; a single-queue tap
     * is tap_preflight's to refuse. */
    const TapLink old = { .exists = true, .is_tun = true };
    _cleanup_free_ char *h = judge(VMB, &old, NULL);
    assert_non_null(strstr(h, "W: t.ini:7: [net \"lan\"] tap: cannot tell whether another process uses kl-vma-lan"));
    const TapLink single = { .exists = true, .is_tun = true, .tun_info = true, .persist = true };
    _cleanup_free_ char *i = judge(VMB, &single, NULL);
    assert_string_equal(i, "");
    /* vmb itself runs already: its start stops at its lock, no word here. */
    VmNics self = { 0 };
    nic(&self, "vmb", "lan", "kl-vma-lan", "br0", "02:00:00:00:00:01");
    strvec_push(&self.running, "vmb");
    _cleanup_free_ char *j = judge(VMB, &held, &self);
    assert_string_equal(j, "");
    vmnics_free(&self);
    vmnics_free(&named);
    vmnics_free(&o);
}

#define VMC(bridge, mac) "[vm]\nname = vmc\nmemory = 1G\nvcpus = 1\n[net \"x\"]\n" bridge mac

static void test_judge_mac(void **state) {
    (void)state;
    VmNics o = { 0 };
    nic(&o, "vma", "lan", "kl-vma-lan", "br0", "02:00:00:00:00:0a");
    nic(&o, "vmz", NULL, "kl-vmz-x", "br1", NULL);
    _cleanup_free_ char *a = judge(VMC("bridge = br0\n", "mac = 02:00:00:00:00:0a\n"), NULL, &o);
    assert_string_equal(a, "E: t.ini:7: [net \"x\"] mac: expected a MAC no other VM on bridge br0 uses, found 02:00:00:00:00:0a, the MAC of "
                           "the running VM vma (its net \"lan\")\n");
    /* Another bridge, no bridge, another MAC, a MAC not known. */
    _cleanup_free_ char *b = judge(VMC("bridge = br1\n", "mac = 02:00:00:00:00:0a\n"), NULL, &o);
    assert_string_equal(b, "");
    _cleanup_free_ char *c = judge(VMC("", "mac = 02:00:00:00:00:0a\n"), NULL, &o);
    assert_string_equal(c, "");
    _cleanup_free_ char *d = judge(VMC("bridge = br0\n", "mac = 02:00:00:00:00:0b\n"), NULL, &o);
    assert_string_equal(d, "");
    /* The derived MAC counts as well: vma's net as vmc's would derive it. */
    VmConfig cfg;
    load(VMC("bridge = br1\n", ""), &cfg);
    MacAddr m = vmconf_net_mac(&cfg, &cfg.nets[0]);
    _cleanup_free_ char *ms = mac_format(&m);
    vmconf_free(&cfg);
    nic(&o, "vmy", "y", "kl-vmy-y", "br1", ms);
    _cleanup_free_ char *e = judge(VMC("bridge = br1\n", ""), NULL, &o);
    assert_non_null(strstr(e, "E: t.ini:5: [net \"x\"] mac: expected a MAC no other VM on bridge br1 uses"));
    assert_non_null(strstr(e, "the running VM vmy (its net \"y\")"));
    vmnics_free(&o);
}

/* The queues the kernel counts on NAME; -1 when there is no such tap. */
static int queues_on(const char *name) {
    TapLink l;
    if (tap_link_query(name, &l) < 0 || !l.exists) return -1;
    return l.queues_known ? (int)l.queues : -2;
}

#define VM_NET(name, tap, queues) "[vm]\nname = " name "\nmemory = 64M\nvcpus = 2\n[net \"lan\"]\nbridge = br0\ntap = " tap "\nqueues = " queues "\n"

/* In a forked child, in a network namespace of its own: the tap a VM made
 * is refused to a second one and the kernel's count stays the first VM's;
 * the probe finds the holder by its descriptors and the tap's bridge; an
 * admin's persistent tap is joined while unused (a port of the bridge
 * already), refused while another process has a queue of it, and stays. */
static void open_child(const char *run) {
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    unsetenv("KVMLAUNCH_ROOT");
    if (netns_test_unshare() < 0) _exit(77);
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "child %s:%d: %s\n", __FILE__, __LINE__, #c); _exit(1); } } while (0)
    VmConfig a, b, p;
    ErrList el = { 0 };
    static const char ia[] = VM_NET("vma", "kla0", "2"), ib[] = VM_NET("vmb", "kla0", "1"), ip[] = VM_NET("vmp", "klp0", "2");
    CHECK(vmconf_load_buffer("a.ini", ia, strlen(ia), &a, &el) == 0);
    CHECK(vmconf_load_buffer("b.ini", ib, strlen(ib), &b, &el) == 0);
    CHECK(vmconf_load_buffer("p.ini", ip, strlen(ip), &p, &el) == 0);
    int fds[1];
    CHECK(netns_test_tap_open("klx0", 1, fds) == 0);
    CHECK(netns_test_bridge_attach("br0", "klx0") == 0);
    close(fds[0]);

    TapQueues ta, tb, tp;
    CHECK(queues_on("kla0") == -1);
    CHECK(tap_open(&a, &a.nets[0], false, &ta) == 0);
    CHECK(queues_on("kla0") == 2);
    CHECK(tap_open(&b, &b.nets[0], false, &tb) == -EBUSY);
    CHECK(tb.fds == NULL); /* closed again */
    CHECK(queues_on("kla0") == 2);

    /* This process is vma's supervisor. */
    Runtime rt = RUNTIME_INIT;
    CHECK(runtime_acquire("vma", &rt, NULL) == 0);
    CHECK(runtime_write_pids(&rt, getpid(), 0) == 0);
    HostRoot hr = HOSTROOT_INIT;
    CHECK(hostroot_open(&hr) == 0);
    VmNics o;
    tap_probe_others(&hr, "vmb", &o);
    CHECK(o.running.n == 1 && streq(o.running.v[0], "vma"));
    CHECK(o.n == 1 && streq(o.v[0].vm, "vma") && streq(o.v[0].tap, "kla0") && o.v[0].bridge && streq(o.v[0].bridge, "br0"));
    CHECK(!o.v[0].mac_known); /* no QEMU command line to read it from */
    ErrList e = { 0 }, w = { 0 };
    TapLink lb;
    CHECK(tap_link_query("kla0", &lb) == 0);
    tap_judge(&b, &lb, &o, &e, &w);
    CHECK(e.n == 1 && strstr(e.e[0].msg, "found kla0 held by the running VM vma"));
    errlist_clear(&e);
    vmnics_free(&o);
    tap_probe_others(&hr, "vma", &o);
    CHECK(o.n == 0 && o.running.n == 0);
    vmnics_free(&o);
    runtime_release(&rt);
    tap_close(&ta);
    CHECK(queues_on("kla0") == -1); /* made by vma, gone with it */

    /* An admin's: persistent, multi-queue, a port of br0. */
    int fd = -1;
    CHECK(netns_test_tap_open("klp0", 1, &fd) == 0);
    CHECK(ioctl(fd, TUNSETPERSIST, 1) == 0);
    close(fd);
    CHECK(netns_test_bridge_attach("br0", "klp0") == 0);
    CHECK(queues_on("klp0") == 0);
    CHECK(netns_test_tap_open("klp0", 1, &fd) == 0); /* a process that is no VM */
    CHECK(tap_open(&p, &p.nets[0], false, &tp) == -EBUSY);
    CHECK(queues_on("klp0") == 1);
    close(fd);
    CHECK(tap_open(&p, &p.nets[0], false, &tp) == 0);
    CHECK(queues_on("klp0") == 2);
    tap_close(&tp);
    CHECK(queues_on("klp0") == 0);
    hostroot_close(&hr);
    vmconf_free(&a);
    vmconf_free(&b);
    vmconf_free(&p);
#undef CHECK
    _exit(0);
}

static void test_open_real(void **state) {
    (void)state;
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) < 0) skip_because("needs root and /dev/net/tun (a network namespace with taps)");
    char dir[] = "/tmp/kvmlaunch-tap-run-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) open_child(dir);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    _cleanup_free_ char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0) fail_msg("%s failed", rm);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) skip_because("cannot make a network namespace with a tap here");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_cpumask), cmocka_unit_test(test_link_captured), cmocka_unit_test(test_link_damaged),
                                        cmocka_unit_test(test_fdinfo), cmocka_unit_test(test_qemu_nets), cmocka_unit_test(test_judge),
                                        cmocka_unit_test(test_judge_mac), cmocka_unit_test(test_open_real) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
