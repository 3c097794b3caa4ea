/* Who else uses a VM's CPUs (include/cpuuse.h): a host NIC's queue IRQs
 * on a fake tree (tests/hostroot/nic-msix: eth0's IRQs 71-75 by name, eth1's
 * 80, eth01's 90), each IRQ's target from effective_affinity_list, else
 * smp_affinity_list; and the busy share of a CPU between two /proc/stat
 * texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpuuse.h"
#include "fake_root.h"
#include "util.h"

static void test_irq_hits(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "nic-msix"), 0);
    /* eth0-TxRx-0 delivered to CPU 3 (allowed on all); eth0-TxRx-2 only
     * allowed on 0 (no effective file); eth1 on 5; eth01 on 3 too; the
     * rest allowed on every CPU with no effective file: unknown, none. */
    assert_int_equal(fake_root_write(&f, "/proc/irq/72/smp_affinity_list", "0-7\n"), 0);
    assert_int_equal(fake_root_write(&f, "/proc/irq/72/effective_affinity_list", "3\n"), 0);
    assert_int_equal(fake_root_write(&f, "/proc/irq/74/smp_affinity_list", "0\n"), 0);
    assert_int_equal(fake_root_write(&f, "/proc/irq/80/effective_affinity_list", "5\n"), 0);
    assert_int_equal(fake_root_write(&f, "/proc/irq/90/effective_affinity_list", "3\n"), 0);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    CpuList cpus = { xmalloc(3 * sizeof(int)), 3 };
    cpus.cpu[0] = 1, cpus.cpu[1] = 3, cpus.cpu[2] = 0;
    CpuIrqHits h;
    assert_int_equal(cpuuse_nic_irq_hits(&hr, &cpus, &h), 0);
    char got[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < h.n; i++) len += (size_t)snprintf(got + len, sizeof(got) - len, "%d:%s:%d:%s ", h.v[i].cpu, h.v[i].dev, h.v[i].irq, h.v[i].name);
    assert_string_equal(got, "0:eth0:74:eth0-TxRx-2 3:eth0:72:eth0-TxRx-0 3:eth01:90:eth01-TxRx-0 ");
    cpuuse_hits_free(&h);

    /* CPUs no IRQ targets: none. */
    cpus.n = 1;
    cpus.cpu[0] = 6;
    assert_int_equal(cpuuse_nic_irq_hits(&hr, &cpus, &h), 0);
    assert_int_equal(h.n, 0);
    cpuuse_hits_free(&h);
    cpulist_free(&cpus);
    hostroot_close(&hr);
    fake_root_teardown(&f);
}

static void test_busy_share(void **state) {
    (void)state;
    const char *a = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n";
    /* cpu0: 20 busy of 25; cpu1: 2 busy (1 user, 1 softirq) of 25 with 3 iowait. */
    const char *b = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 60 5 55 405 0 0 0 0 0 0\ncpu1 51 0 50 420 3 0 1 0 0 0\nintr 1\n";
    double s;
    assert_int_equal(cpuuse_busy_share(a, b, 0, &s), 0);
    assert_true(s > 0.79 && s < 0.81);
    assert_int_equal(cpuuse_busy_share(a, b, 1, &s), 0);
    assert_true(s > 0.07 && s < 0.09);
    assert_int_equal(cpuuse_busy_share(a, b, 2, &s), -ENOENT);
    assert_int_equal(cpuuse_busy_share(a, a, 0, &s), -ENOENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_irq_hits),
        cmocka_unit_test(test_busy_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
