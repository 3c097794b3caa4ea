/* `kvmlaunch host`: the vCPU threads of a running VM (vmthreads.h) read
 * for real from this process's own threads, named and pinned as QEMU's
 * would be; the VMs list of hostinfo_probe() with this process standing in
 * for a running VM (its runtime dir locked, its threads as vCPUs); the
 * host-wide huge page pools from topology.h; and the human form of JSON
 * that the fake trees' golden files (tests/cli/test_host_report.sh) do not
 * cover: unknown values, a VM, a single-queue NIC. Run from the repository
 * root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fake_root.h"
#include "hostinfo.h"
#include "hostreport.h"
#include "hostroot.h"
#include "runtime.h"
#include "util.h"
#include "vmthreads.h"

/* ---- pure: comm ---- */

static void test_parse_comm(void **state) {
    (void)state;
    int i = -1;
    assert_int_equal(vmthreads_parse_comm("CPU 0/KVM\n", &i), 0);
    assert_int_equal(i, 0);
    assert_int_equal(vmthreads_parse_comm("CPU 12/TCG", &i), 0);
    assert_int_equal(i, 12);
    i = -1;
    static const char *const others[] = { "qemu-system-x86\n", "IO iothread0\n", "CPU x/KVM\n", "CPU 3\n", "CPU -1/KVM\n",
                                          "CPU 99999/KVM\n", "CPU/KVM\n", "cpu 0/KVM\n", "", "CPU  1/KVM\n" };
    for (size_t k = 0; k < ELEMENTSOF(others); k++) {
        if (vmthreads_parse_comm(others[k], &i) != -EINVAL) fail_msg("\"%s\" was taken for a vCPU", others[k]);
        assert_int_equal(i, -1);
    }
}

/* ---- threads of this process playing QEMU's ---- */

typedef struct Actor {
    const char *name;
    int cpu;
    pid_t tid;
} Actor;

static pthread_barrier_t ready, done;

static void *actor_main(void *arg) {
    Actor *a = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(a->cpu, &set);
    a->tid = gettid();
    if (pthread_setname_np(pthread_self(), a->name) != 0 || sched_setaffinity(0, sizeof(set), &set) != 0) a->tid = -1;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    return NULL;
}

#define N_ACTORS 3

/* vCPU 1 and vCPU 0 (started in that order) on the last and the first CPU
 * this process may use, and an I/O thread on the first, which must not
 * count. Returns the two CPUs. */
static void actors_start(pthread_t *th, Actor *a, int *first, int *last) {
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    *first = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            if (*first < 0) *first = c;
            *last = c;
        }
    a[0] = (Actor){ "CPU 1/TCG", *last, 0 };
    a[1] = (Actor){ "CPU 0/TCG", *first, 0 };
    a[2] = (Actor){ "IO iothread0", *first, 0 };
    pthread_barrier_init(&ready, NULL, N_ACTORS + 1);
    pthread_barrier_init(&done, NULL, N_ACTORS + 1);
    for (int i = 0; i < N_ACTORS; i++) assert_int_equal(pthread_create(&th[i], NULL, actor_main, &a[i]), 0);
    pthread_barrier_wait(&ready);
    for (int i = 0; i < N_ACTORS; i++) assert_true(a[i].tid > 0);
}

static void actors_stop(pthread_t *th) {
    pthread_barrier_wait(&done);
    for (int i = 0; i < N_ACTORS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&done);
}

static void test_vcpus_real(void **state) {
    (void)state;
    pthread_t th[N_ACTORS];
    Actor a[N_ACTORS];
    int first, last;
    actors_start(th, a, &first, &last);
    VmVcpu *v = NULL;
    size_t n = 0;
    int r = vmthreads_vcpus(getpid(), &v, &n);
    actors_stop(th);
    assert_int_equal(r, 0);
    assert_int_equal(n, 2);
    /* By index, whatever order the threads started in. */
    assert_int_equal(v[0].index, 0);
    assert_int_equal(v[0].tid, a[1].tid);
    assert_int_equal(v[0].allowed.n, 1);
    assert_int_equal(v[0].allowed.cpu[0], first);
    assert_int_equal(v[1].index, 1);
    assert_int_equal(v[1].tid, a[0].tid);
    assert_int_equal(v[1].allowed.n, 1);
    assert_int_equal(v[1].allowed.cpu[0], last);
    CpuList all = vmthreads_cpus(v, n);
    assert_int_equal(all.n, first == last ? 1 : 2);
    assert_int_equal(all.cpu[0], first);
    assert_int_equal(all.cpu[all.n - 1], last);
    cpulist_free(&all);
    vmthreads_free(v, n);
    /* A process that is gone. */
    assert_int_equal(vmthreads_vcpus(0x3ffffff, &v, &n), -ENOENT);
    assert_null(v);
    assert_int_equal(n, 0);
}

/* ---- the probe: this process as a running VM ---- */

static json_object *get(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
    return v;
}

static void test_probe_vms(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "host-2x8"), 0);
    /* A VM whose supervisor (this process) holds its lock, one that died
     * (its pid file unlocked), and a file that is no VM's. */
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("klvm-live", &rt, NULL), 0);
    assert_int_equal(runtime_write_pids(&rt, getpid(), getpid()), 0);
    assert_int_equal(test_sh("mkdir -m 0700 %s/run/klvm-dead && echo '1 1' > %s/run/klvm-dead/pid && touch %s/run/host.offloads", f.dir,
                             f.dir, f.dir),
                     0);
    pthread_t th[N_ACTORS];
    Actor a[N_ACTORS];
    int first, last;
    actors_start(th, a, &first, &last);
    HostRoot hr = HOSTROOT_INIT;
    json_object *host = NULL;
    assert_int_equal(hostroot_open(&hr), 0);
    int r = hostinfo_probe(&hr, &host);
    actors_stop(th);
    hostroot_close(&hr);
    runtime_release(&rt);
    assert_int_equal(r, 0);

    json_object *vms = get(host, "vms");
    assert_int_equal(json_object_array_length(vms), 1);
    json_object *vm = json_object_array_get_idx(vms, 0);
    assert_string_equal(json_object_get_string(get(vm, "name")), "klvm-live");
    assert_int_equal(json_object_get_int(get(vm, "kvmlaunch_pid")), getpid());
    assert_int_equal(json_object_get_int(get(vm, "qemu_pid")), getpid());
    assert_int_equal(json_object_get_int(get(vm, "vcpus")), 2);
    _cleanup_free_ char *want = first == last ? xasprintf("%d", first) : xasprintf(last == first + 1 ? "%d-%d" : "%d,%d", first, last);
    assert_string_equal(json_object_get_string(get(vm, "cpus")), want);

    /* The host-wide pools (topology.h), with what only they have. */
    json_object *hp = get(host, "hugepages");
    assert_int_equal(json_object_get_int(get(hp, "default_size_kib")), 2048);
    json_object *pools = get(hp, "pools");
    assert_int_equal(json_object_array_length(pools), 2);
    json_object *big = json_object_array_get_idx(pools, 1);
    assert_int_equal(json_object_get_int(get(big, "size_kib")), 1048576);
    assert_int_equal(json_object_get_int(get(big, "total")), 4);
    assert_int_equal(json_object_get_int(get(big, "reserved")), 0);
    assert_int_equal(json_object_get_int(get(big, "overcommit")), 0);
    assert_true(fake_root_unchanged(&f));
    json_object_put(host);
    fake_root_teardown(&f);
}

/* ---- the human form of what the golden files lack ---- */

static char *render(const char *json) {
    json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    char *text = hostreport_render(o);
    json_object_put(o);
    assert_non_null(text);
    return text;
}

static void expect_line(const char *text, const char *line) {
    _cleanup_free_ char *want = xasprintf("\n%s\n", line);
    _cleanup_free_ char *hay = xasprintf("\n%s", text);
    if (!strstr(hay, want)) fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void test_render_unknown(void **state) {
    (void)state;
    _cleanup_free_ char *text = render("{}");
    expect_line(text, "CPU         model unknown (no \"model name\" in /proc/cpuinfo)");
    expect_line(text, "            ? CPUs online (?): ? sockets, ? cores, ? threads per core");
    expect_line(text, "NODE  CPUS  MEMORY  FREE  DISTANCES");
    expect_line(text, "THP           not in this kernel (no /sys/kernel/mm/transparent_hugepage)");
    expect_line(text, "cgroup        unknown (the error above says why)");
    expect_line(text, "devices       ? missing, ? missing, ? missing");
    expect_line(text, "VM          none running");
}

static void test_render_vms_and_nic(void **state) {
    (void)state;
    _cleanup_free_ char *text = render(
        "{\"cpu\": {\"online\": \"0-15\"},"
        " \"nics\": [{\"name\": \"eth9\", \"driver\": \"virtio_net\", \"numa_node\": null, \"rx_queues\": 1, \"tx_queues\": 1,"
        "   \"interrupts\": \"msix\", \"vectors\": 3, \"irqs\": [], \"rps_cpus\": [\"0-1\"], \"xps_cpus\": [null],"
        "   \"offloads\": {\"tso\": \"partly on\", \"gso\": \"absent\", \"gro\": \"off\"}}],"
        " \"vms\": [{\"name\": \"web\", \"kvmlaunch_pid\": 10, \"qemu_pid\": 11, \"vcpus\": 16, \"cpus\": \"0-15\"},"
        "          {\"name\": \"db\", \"kvmlaunch_pid\": 20, \"qemu_pid\": 21, \"vcpus\": 2, \"cpus\": \"4,12\"},"
        "          {\"name\": \"new\", \"kvmlaunch_pid\": 30, \"qemu_pid\": null, \"vcpus\": 0, \"cpus\": \"\"}]}");
    expect_line(text, "NIC   DRIVER      NODE  RX/TX  VECTORS  TSO        GSO  GRO");
    expect_line(text, "eth9  virtio_net  ?     1/1    3 MSI-X  partly on  -    off");
    expect_line(text, "  IRQ:CPUs  no IRQs found");
    expect_line(text, "  RPS       1 queue: 0-1");
    expect_line(text, "  XPS       none (one tx queue: the kernel keeps XPS for multi-queue devices)");
    expect_line(text, "VM   KVMLAUNCH  QEMU      VCPUS  CPUS");
    expect_line(text, "web  10         11        16     0-15 (all: not pinned)");
    expect_line(text, "db   20         21        2      4,12");
    expect_line(text, "new  30         starting  0      -");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_comm),
        cmocka_unit_test(test_vcpus_real),
        cmocka_unit_test(test_probe_vms),
        cmocka_unit_test(test_render_unknown),
        cmocka_unit_test(test_render_vms_and_nic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
