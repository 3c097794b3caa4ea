/* [cpu] pin = auto (launcher/plan/autopin.c) and what it stands on: the
 * topology read from whole fake hosts (tests/hostroot/host-2x8, host-numa4,
 * cgroup2-numa2), the choices for a set of asks (golden:
 * tests/autopin/choices.txt, KVMLAUNCH_TEST_REGENERATE=1 rewrites it), and
 * the host-wide record of pinned CPUs (launcher/host/cpuclaim.c) that keeps two
 * VMs side by side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autopin.h"
#include "cpuclaim.h"
#include "fake_root.h"
#include "runtime.h"
#include "topology.h"
#include "util.h"

#define GOLDEN "tests/autopin/choices.txt"
#define GIB (UINT64_C(1) << 30)

static char *golden_text;           /* what the choice cases printed, in order */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    assert_true(vasprintf(&line, fmt, ap) >= 0);
    va_end(ap);
    char *next = xasprintf("%s%s\n", golden_text ? golden_text : "", line);
    free(golden_text);
    free(line);
    golden_text = next;
}

typedef struct Host {
    FakeRoot fr;
    HostRoot hr;
    Topology t;
} Host;

static void host_open(Host *h, const char *scenario) {
    assert_int_equal(fake_root_setup(&h->fr, scenario), 0);
    h->hr = (HostRoot)HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&h->hr), 0);
    assert_int_equal(topology_probe(&h->hr, &h->t), 0);
}

static void host_close(Host *h) {
    topology_free(&h->t);
    hostroot_close(&h->hr);
    fake_root_teardown(&h->fr);
}

static CpuList list_of(const char *text) {
    CpuList l = { 0 };
    char err[VALUE_ERR_MAX];
    if (*text) assert_int_equal(value_parse_cpulist(text, &l, err), 0);
    return l;
}

/* One ask on SCENARIO with HELD taken: the golden line, and the choice
 * itself checked against what any choice must be. Returns 0 or -ENOSPC. */
static int choose(const char *scenario, const char *label, const char *held_text, AutoPinAsk ask, AutoPinChoice *keep) {
    Host h;
    host_open(&h, scenario);
    CpuList held = list_of(held_text);
    AutoPinChoice c;
    char *why_not = NULL;
    int r = autopin_choose(&h.t, &held, &ask, &c, &why_not);
    if (r == 0) {
        say("%s: %s: %s", scenario, label, c.why);
        const TopoNode *n = topology_node(&h.t, c.node);
        assert_non_null(n);
        assert_true(n->has_memory);
        assert_int_equal(c.vcpus.n, ask.vcpus);
        for (size_t i = 0; i < c.vcpus.n; i++) {
            assert_true(cpulist_contains(&n->cpus, c.vcpus.cpu[i]));
            assert_false(cpulist_contains(&held, c.vcpus.cpu[i]));
            for (size_t j = 0; j < i; j++) assert_int_not_equal(c.vcpus.cpu[i], c.vcpus.cpu[j]);
        }
        for (size_t i = 0; i < c.emulator.n; i++) assert_true(cpulist_contains(&n->cpus, c.emulator.cpu[i]));
        if (keep) *keep = c;
        else autopin_choice_free(&c);
    } else {
        assert_int_equal(r, -ENOSPC);
        say("%s: %s: refused: %s", scenario, label, why_not);
        free(why_not);
    }
    cpulist_free(&held);
    host_close(&h);
    return r;
}

static void test_topology_2x8(void **state) {
    (void)state;
    Host h;
    host_open(&h, "host-2x8");
    assert_int_equal(h.t.n_cpus, 16);
    assert_int_equal(h.t.n_nodes, 2);
    assert_int_equal(topology_count_cores(&h.t), 8);
    assert_int_equal(topology_count_packages(&h.t), 2);
    const TopoCpu *c = topology_cpu(&h.t, 13);
    assert_int_equal(c->node, 1);
    assert_int_equal(c->package, 1);
    assert_int_equal(c->siblings.n, 2);
    assert_int_equal(c->siblings.cpu[0], 9);
    const TopoNode *n1 = topology_node(&h.t, 1);
    assert_int_equal(n1->distance[0], 21);
    assert_int_equal(n1->distance[1], 10);
    assert_int_equal(n1->mem_free_kb, 14680064);
    assert_non_null(topology_pool(n1, 1048576));
    assert_int_equal(topology_pool(n1, 1048576)->free, 4);
    assert_int_equal(topology_pool(topology_node(&h.t, 0), 2048)->free, 1024);
    host_close(&h);
}

static void test_topology_numa4(void **state) {
    (void)state;
    Host h;
    host_open(&h, "host-numa4");
    assert_int_equal(h.t.n_nodes, 4);
    static const int seed[4][4] = { { 10, 16, 16, 22 }, { 16, 10, 22, 16 }, { 16, 22, 10, 16 }, { 22, 16, 16, 10 } };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) assert_int_equal(h.t.nodes[i].distance[j], seed[i][j]);
    assert_false(topology_node(&h.t, 3)->has_memory);
    assert_true(topology_node(&h.t, 2)->has_memory);
    assert_int_equal(topology_count_cores(&h.t), 16);
    assert_int_equal(topology_count_packages(&h.t), 4);
    host_close(&h);
}

static void test_choices(void **state) {
    (void)state;
    CpuList none = { 0 }, node1 = list_of("1");
    /* Cores first: with Intel numbering the first four are 0-3. */
    choose("host-2x8", "4 vCPUs, 1 GiB", "", (AutoPinAsk){ 4, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* Past the cores of a node: the siblings of its first cores. */
    choose("host-2x8", "6 vCPUs, 1 GiB", "", (AutoPinAsk){ 6, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* Another VM on 0-3: node 1 has more whole cores. */
    choose("host-2x8", "2 vCPUs, 0-3 held", "0-3", (AutoPinAsk){ 2, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* Half of node 1 held: node 0 has more. */
    choose("host-2x8", "2 vCPUs, 8-11 held", "8-11", (AutoPinAsk){ 2, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* 1 GiB pages only on node 1. */
    choose("host-2x8", "2 vCPUs, 2 GiB in 1 GiB pages", "", (AutoPinAsk){ 2, 2 * GIB, 1048576, false, &none, NULL, NULL }, NULL);
    /* 2 GiB of 2 MiB pages: node 0 has 1024 free. */
    choose("host-2x8", "2 vCPUs, 2 GiB in 2 MiB pages", "", (AutoPinAsk){ 2, 2 * GIB, 2048, false, &none, NULL, NULL }, NULL);
    choose("host-2x8", "2 vCPUs, 4 GiB in 2 MiB pages", "", (AutoPinAsk){ 2, 4 * GIB, 2048, false, &none, NULL, NULL }, NULL);
    choose("host-2x8", "2 vCPUs, 4 GiB in 2 MiB pages, reserve", "", (AutoPinAsk){ 2, 4 * GIB, 2048, true, &none, NULL, NULL }, NULL);
    /* [memory] nodes = 1 limits the choice. */
    choose("host-2x8", "2 vCPUs, nodes = 1", "", (AutoPinAsk){ 2, GIB, 0, false, &node1, NULL, NULL }, NULL);
    choose("host-2x8", "12 vCPUs", "", (AutoPinAsk){ 12, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* AMD numbering: siblings are adjacent, so cores are 0, 2, ... */
    choose("cgroup2-numa2", "2 vCPUs, 1 GiB", "", (AutoPinAsk){ 2, GIB, 0, false, &none, NULL, NULL }, NULL);
    /* The memory-less node 3 never hosts a VM, however free its CPUs. */
    choose("host-numa4", "4 vCPUs, 0-11 held", "0-11", (AutoPinAsk){ 4, GIB, 0, false, &none, NULL, NULL }, NULL);
    choose("host-numa4", "2 vCPUs, 5 GiB", "", (AutoPinAsk){ 2, 5 * GIB, 0, false, &none, NULL, NULL }, NULL);
    choose("host-numa4", "2 vCPUs, 5 GiB, 0-1 held", "0-1", (AutoPinAsk){ 2, 5 * GIB, 0, false, &none, NULL, NULL }, NULL);
    cpulist_free(&node1);
}

/* Issue 22: only the CPUs and nodes kvmlaunch was given (taskset, a
 * scheduler's cpuset). Node 0 is the best on an idle host-2x8; given
 * 12-13, both the vCPUs and the emulator stay there; given node 0's
 * memory only with node 1's CPUs, nothing fits, and the refusal says why. */
static void test_allocation(void **state) {
    (void)state;
    Host h;
    host_open(&h, "host-2x8");
    CpuList none = { 0 }, cpus = list_of("12-13"), mems0 = list_of("0");
    AutoPinChoice c;
    char *why_not = NULL;
    AutoPinAsk ask = { 1, GIB, 0, false, &none, &cpus, NULL };
    assert_int_equal(autopin_choose(&h.t, &none, &ask, &c, &why_not), 0);
    assert_int_equal(c.node, 1);
    assert_int_equal(c.vcpus.n, 1);
    assert_true(cpulist_contains(&cpus, c.vcpus.cpu[0]));
    assert_true(c.emulator.n > 0);
    for (size_t i = 0; i < c.emulator.n; i++) assert_true(cpulist_contains(&cpus, c.emulator.cpu[i]));
    autopin_choice_free(&c);
    /* One CPU given, and held by nobody: the emulator shares it. */
    CpuList one = list_of("5");
    ask.cpus_allowed = &one;
    assert_int_equal(autopin_choose(&h.t, &none, &ask, &c, &why_not), 0);
    assert_int_equal(c.vcpus.cpu[0], 5);
    assert_int_equal(c.emulator.n, 1);
    assert_int_equal(c.emulator.cpu[0], 5);
    autopin_choice_free(&c);
    ask.cpus_allowed = &cpus;
    ask.mems_allowed = &mems0;
    assert_int_equal(autopin_choose(&h.t, &none, &ask, &c, &why_not), -ENOSPC);
    assert_non_null(strstr(why_not, "kvmlaunch may use CPUs 12-13 only"));
    free(why_not);
    cpulist_free(&cpus);
    cpulist_free(&one);
    cpulist_free(&mems0);
    host_close(&h);
}

/* Two VMs on the same host, the first recorded as running: the second is
 * placed beside it, never on its CPUs; once the first is gone (its
 * runtime lock free), its record no longer counts. */
static void test_side_by_side(void **state) {
    (void)state;
    Host h;
    host_open(&h, "host-2x8");
    CpuList none = { 0 };
    AutoPinAsk ask = { 6, GIB, 0, false, &none, NULL, NULL };
    Runtime rt = RUNTIME_INIT;
    pid_t holder;
    assert_int_equal(runtime_acquire("vm-a", &rt, &holder), 0);
    assert_int_equal(runtime_write_pids(&rt, getpid(), getpid()), 0);
    AutoPinChoice a, b;
    char *why_not = NULL;
    assert_int_equal(autopin_choose(&h.t, &none, &ask, &a, &why_not), 0);
    say("host-2x8: side by side, vm-a: %s", a.why);
    CpuClaimTxn txn;
    assert_int_equal(cpuclaim_begin(&txn), 0);
    assert_int_equal(cpuclaim_commit(&txn, "vm-a", &a.vcpus), 0);
    /* vm-b reads the record as a start does. */
    CpuClaims claims;
    assert_int_equal(cpuclaim_read(&claims), 0);
    CpuList held = cpuclaims_held(&claims, "vm-b");
    assert_true(cpulist_same_set(&held, &a.vcpus));
    assert_string_equal(cpuclaims_holder(&claims, a.vcpus.cpu[0], "vm-b"), "vm-a");
    assert_null(cpuclaims_holder(&claims, a.vcpus.cpu[0], "vm-a"));
    assert_int_equal(autopin_choose(&h.t, &held, &ask, &b, &why_not), 0);
    say("host-2x8: side by side, vm-b: %s", b.why);
    for (size_t i = 0; i < b.vcpus.n; i++) assert_false(cpulist_contains(&a.vcpus, b.vcpus.cpu[i]));
    assert_int_not_equal(a.node, b.node);
    cpuclaims_free(&claims);
    cpulist_free(&held);
    /* A third of the same size fits nowhere now. */
    Runtime rt_b = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("vm-b", &rt_b, &holder), 0);
    assert_int_equal(cpuclaim_begin(&txn), 0);
    assert_int_equal(cpuclaim_commit(&txn, "vm-b", &b.vcpus), 0);
    assert_int_equal(cpuclaim_read(&claims), 0);
    assert_int_equal(claims.n, 2);
    held = cpuclaims_held(&claims, "vm-c");
    AutoPinChoice c;
    assert_int_equal(autopin_choose(&h.t, &held, &ask, &c, &why_not), -ENOSPC);
    say("host-2x8: side by side, vm-c: refused: %s", why_not);
    free(why_not);
    cpuclaims_free(&claims);
    cpulist_free(&held);
    /* Both end without dropping their records (a crash): they no longer
     * count. */
    runtime_release(&rt);
    runtime_release(&rt_b);
    assert_int_equal(cpuclaim_read(&claims), 0);
    assert_int_equal(claims.n, 0);
    cpuclaims_free(&claims);
    _cleanup_free_ char *state_file = xasprintf("%s/cpus.state", runtime_base());
    assert_int_equal(access(state_file, F_OK), 0);
    assert_int_equal(cpuclaim_release(NULL), 0);
    assert_int_equal(access(state_file, F_OK), -1);
    autopin_choice_free(&a);
    autopin_choice_free(&b);
    host_close(&h);
}

static void test_golden(void **state) {
    (void)state;
    const char *regen = getenv("KVMLAUNCH_TEST_REGENERATE");
    if (regen && *regen && !streq(regen, "0")) {
        FILE *f = fopen(GOLDEN, "we");
        assert_non_null(f);
        fputs(golden_text, f);
        fclose(f);
        fprintf(stderr, "rewrote %s\n", GOLDEN);
    }
    FILE *f = fopen(GOLDEN, "re");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (!streq(buf, golden_text)) {
        fprintf(stderr, "expected (%s):\n%s\nfound:\n%s\n", GOLDEN, buf, golden_text);
        fail_msg("the choices differ from %s (KVMLAUNCH_TEST_REGENERATE=1 rewrites it)", GOLDEN);
    }
    free(golden_text);
    golden_text = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology_2x8), cmocka_unit_test(test_topology_numa4), cmocka_unit_test(test_choices), cmocka_unit_test(test_allocation),
        cmocka_unit_test(test_side_by_side), cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
