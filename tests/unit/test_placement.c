/* The seed's placement on a fake host tree (tests/hostroot/cgroup2-numa2
 * with a QEMU and its kernel threads written into its /proc), so that what
 * this host cannot show (no /dev/kvm, no /dev/vhost-net, one node) is
 * still proven:
 * - kvm-pit/PID (KVM's PIT thread, found by name) joins the emulator's
 *   CPUs and cgroup; another VM's kvm-pit and vhost threads, and a user's
 *   process that names itself kvm-pit/PID (not kthreadd's child), are left alone;
 *   without KVM it is not looked for;
 * - the vhost-net workers (vhost-PID kernel threads before Linux 6.4, tasks
 *   of QEMU since) go onto [cpu] vhost;
 * - the supervisor's placement watch puts back a drifted CPU list, a thread
 *   in the wrong cgroup and a helper daemon (virtiofsd) that left its
 *   place, counts them, and finds nothing to do on a clean tree; its tick
 *   checks at once when QEMU's thread count changes, else only lists;
 * - migrate = yes reports the pages per node before and after; with a
 *   kernel that moves nothing it says so (moved 0, a warning).
 * The fake kernel (fake_kernel.h) plays sched_setaffinity on the tree's
 * Cpus_allowed_list and migrate_pages on its numa_maps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fake_kernel.h"
#include "fake_root.h"
#include "numa_place.h"
#include "placement.h"
#include "placewatch.h"
#include "util.h"
#include "vmconf.h"

#define QEMU 4242
#define INI "[vm]\nname = vm1\nmemory = 1G\nvcpus = 1\n[cpu]\npin = 1\nemulator = 2-3\nvhost = 4\n"

static void put(const FakeRoot *f, const char *path, const char *text) { assert_int_equal(fake_root_write(f, path, text), 0); }

static void task(const FakeRoot *f, const char *dir, const char *comm, const char *cgroup) {
    _cleanup_free_ char *c = xasprintf("%s/comm", dir), *s = xasprintf("%s/status", dir), *g = xasprintf("%s/cgroup", dir);
    _cleanup_free_ char *ct = xasprintf("%s\n", comm), *st = xasprintf("Name:\t%s\nCpus_allowed:\tff\nCpus_allowed_list:\t0-7\nvoluntary_ctxt_switches:\t1\n", comm);
    put(f, c, ct);
    put(f, s, st);
    put(f, g, cgroup);
}

/* QEMU 4242 (main loop, vCPU 0, a worker, a vhost task), its kernel
 * threads kvm-pit/4242 (5001) and vhost-4242 (5002), and another VM's
 * (5003, 5004), all on every CPU, in the root cgroup. */
static void qemu_tree(const FakeRoot *f) {
    task(f, "/proc/4242/task/4242", "qemu-system-x86", "0::/\n");
    task(f, "/proc/4242/task/4243", "CPU 0/KVM", "0::/\n");
    task(f, "/proc/4242/task/4244", "worker", "0::/\n");
    task(f, "/proc/4242/task/4250", "vhost-4242", "0::/\n");
    task(f, "/proc/5001", "kvm-pit/4242", "0::/\n");
    task(f, "/proc/5002", "vhost-4242", "0::/\n");
    task(f, "/proc/5003", "kvm-pit/9999", "0::/\n");
    task(f, "/proc/5004", "vhost-9999", "0::/\n");
    /* A user's process that calls itself kvm-pit/4242: not kthreadd's. */
    task(f, "/proc/5005", "kvm-pit/4242", "0::/\n");
    put(f, "/proc/5001/stat", "5001 (kvm-pit/4242) S 2 0 0 0\n");
    put(f, "/proc/5002/stat", "5002 (vhost-4242) S 2 0 0 0\n");
    put(f, "/proc/5003/stat", "5003 (kvm-pit/9999) S 2 0 0 0\n");
    put(f, "/proc/5004/stat", "5004 (vhost-9999) S 2 0 0 0\n");
    put(f, "/proc/5005/stat", "5005 (kvm-pit/4242) S 4242 0 0 0\n");
}

static void load(VmConfig *cfg) {
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", INI, strlen(INI), cfg, &el) < 0) fail_msg("%s", el.n ? el.e[0].msg : "load failed");
}

static const ThreadPlace *find(const Placement *p, pid_t tid) {
    for (size_t i = 0; i < p->n; i++)
        if (p->t[i].tid == tid) return &p->t[i];
    return NULL;
}

static void assert_cpus(const ThreadPlace *t, const char *want) {
    assert_non_null(t);
    _cleanup_free_ char *got = cpulist_format(&t->cpus);
    assert_string_equal(got, want);
}

static char *allowed(const FakeRoot *f, const char *status) {
    _cleanup_free_ char *text = fake_root_read(f, status);
    const char *p = strstr(text, "Cpus_allowed_list:\t");
    return p ? xstrndup(p + 19, strcspn(p + 19, "\n")) : xstrdup("(none)");
}

#define assert_allowed(f, path, want)                  \
    do {                                               \
        _cleanup_free_ char *a_ = allowed((f), (path)); \
        assert_string_equal(a_, (want));               \
    } while (0)

/* vCPU 0 as QMP names it; the rest from the tree's /proc. */
static void discover(const HostRoot *hr, const VmConfig *cfg, unsigned walk, Placement *p) {
    memset(p, 0, sizeof(*p));
    p->t = xcalloc(1, sizeof(*p->t));
    p->t[p->n++] = (ThreadPlace){ THREAD_VCPU, 0, xstrdup("vcpu0"), 4243, placement_vcpu_cpus(cfg, 0), 0, 0, false };
    assert_int_equal(placement_discover_tasks(hr, cfg, QEMU, walk, p), 0);
}

static void test_kernel_threads(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    qemu_tree(&f);
    VmConfig cfg;
    load(&cfg);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);

    /* TCG and no vhost-net fd: no walk over /proc, no kernel thread. */
    Placement p;
    discover(&hr, &cfg, 0, &p);
    assert_null(find(&p, 5001));
    assert_null(find(&p, 5002));
    assert_int_equal(p.n, 4);
    placement_free(&p);

    discover(&hr, &cfg, PLACEMENT_WALK_VHOST | PLACEMENT_WALK_KVM_PIT, &p);
    const ThreadPlace *pit = find(&p, 5001), *vk = find(&p, 5002), *vt = find(&p, 4250);
    assert_cpus(pit, "2-3");
    assert_int_equal(pit->role, THREAD_EMULATOR);
    assert_true(pit->process);
    assert_string_equal(pit->name, "kvm-pit");
    assert_cpus(vk, "4");
    assert_int_equal(vk->role, THREAD_VHOST);
    assert_true(vk->process);
    assert_cpus(vt, "4");
    assert_int_equal(vt->role, THREAD_VHOST);
    assert_false(vt->process);
    assert_cpus(find(&p, 4242), "2-3");
    assert_cpus(find(&p, 4244), "2-3");
    /* Another VM's. */
    assert_null(find(&p, 5003));
    assert_null(find(&p, 5004));
    assert_null(find(&p, 5005));

    /* Onto their CPUs, through the fake kernel's sched_setaffinity. */
    assert_int_equal(placement_apply_on(&hr, &p), 0);
    assert_allowed(&f, "/proc/5001/status", "2-3");
    assert_allowed(&f, "/proc/5002/status", "4");
    assert_allowed(&f, "/proc/4242/task/4250/status", "4");
    assert_allowed(&f, "/proc/4242/task/4243/status", "1");
    assert_allowed(&f, "/proc/4242/task/4242/status", "2-3");
    assert_allowed(&f, "/proc/5003/status", "0-7");
    assert_allowed(&f, "/proc/5004/status", "0-7");

    /* The PIT's thread into the emulator's cgroup, with QEMU. */
    CgroupLayout l;
    CgroupVm vm;
    assert_int_equal(cgroup_detect(&hr, &l), 0);
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, QEMU, &vm), 0);
    _cleanup_free_ char *procs = fake_root_read(&f, "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.procs");
    assert_string_equal(procs, "4242\n5001\n");

    placement_free(&p);
    cgroup_vm_free(&vm);
    cgroup_layout_free(&l);
    vmconf_free(&cfg);
    hostroot_close(&hr);
    fake_root_teardown(&f);
}

static void test_watch(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    qemu_tree(&f);
    VmConfig cfg;
    load(&cfg);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    Placement p;
    discover(&hr, &cfg, PLACEMENT_WALK_VHOST | PLACEMENT_WALK_KVM_PIT, &p);
    assert_int_equal(placement_apply_on(&hr, &p), 0);
    CgroupLayout l;
    CgroupVm vm;
    assert_int_equal(cgroup_detect(&hr, &l), 0);
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, QEMU, &vm), 0);
    /* Where the kernel would now show each task. */
    put(&f, "/proc/4242/task/4242/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/4242/task/4243/cgroup", "0::/kvmlaunch/vm1/vcpu0\n");
    put(&f, "/proc/4242/task/4244/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/4242/task/4250/cgroup", "0::/kvmlaunch/vm1/vhost\n");
    put(&f, "/proc/5001/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/5002/cgroup", "0::/kvmlaunch/vm1/vhost\n");
    /* A helper daemon, our child, with a child of its own, placed. */
    _cleanup_free_ char *stat = xasprintf("6000 (virtiofsd) S %ld 6000 6000 0\n", (long)getpid());
    task(&f, "/proc/6000/task/6000", "virtiofsd", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/6000/stat", stat);
    put(&f, "/proc/6000/task/6000/children", "6001 ");
    task(&f, "/proc/6001/task/6001", "virtiofsd", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/6000/task/6000/status", "Name:\tvirtiofsd\nCpus_allowed_list:\t2-3\n");
    put(&f, "/proc/6001/task/6001/status", "Name:\tvirtiofsd\nCpus_allowed_list:\t2-3\n");

    _cleanup_free_ char *rundir = xasprintf("%s/run", f.dir);
    assert_int_equal(mkdir(rundir, 0700), 0);
    int dfd = open(rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    PlaceWatch w;
    placewatch_init(&w, &cfg, &p, QEMU, &hr, &hr, l.version, l.mount, vm.dir, dfd);
    placewatch_add_helper(&w, 6000, "virtiofsd");
    assert_int_equal(placewatch_check(&w), 0);
    assert_int_equal(w.threads, 4);

    /* Drift: the worker into vCPU 0's cgroup, the PIT's thread and the
     * helper's child onto every CPU, the vCPU onto CPU 0. */
    put(&f, "/proc/4242/task/4244/cgroup", "0::/kvmlaunch/vm1/vcpu0\n");
    put(&f, "/proc/5001/status", "Name:\tkvm-pit/4242\nCpus_allowed_list:\t0-7\n");
    put(&f, "/proc/6001/task/6001/status", "Name:\tvirtiofsd\nCpus_allowed_list:\t0-7\n");
    put(&f, "/proc/6000/task/6000/cgroup", "0::/\n");
    put(&f, "/proc/4242/task/4243/status", "Name:\tCPU 0/KVM\nCpus_allowed_list:\t0\n");
    assert_int_equal(placewatch_check(&w), 5);
    assert_int_equal(w.affinity_repairs, 3);
    assert_int_equal(w.cgroup_repairs, 2);
    assert_allowed(&f, "/proc/5001/status", "2-3");
    assert_allowed(&f, "/proc/6001/task/6001/status", "2-3");
    assert_allowed(&f, "/proc/4242/task/4243/status", "1");
    _cleanup_free_ char *threads = fake_root_read(&f, "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.threads");
    assert_non_null(strstr(threads, "4244\n"));
    _cleanup_free_ char *procs = fake_root_read(&f, "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.procs");
    assert_string_equal(procs, "4242\n5001\n6000\n");
    /* Counted where status reads it. */
    json_object *o = placewatch_json_load(dfd, PLACEWATCH_FILE), *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "repairs", &v));
    assert_int_equal(json_object_get_int(v), 5);
    assert_true(json_object_object_get_ex(o, "cgroup_repairs", &v));
    assert_int_equal(json_object_get_int(v), 2);
    json_object_put(o);

    /* The supervisor's tick: no full check is due, and QEMU's thread count
     * is unchanged: nothing is read but the task list. A new thread (a
     * worker a vCPU started, in its cgroup): checked at once. */
    /* Where the kernel would show the tasks moved back. */
    put(&f, "/proc/4242/task/4244/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/6000/task/6000/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    uint64_t checks = w.checks, repairs = w.cgroup_repairs;
    int64_t next = -1;
    w.list_at_ms = 0;
    w.full_at_ms = INT64_MAX;
    placewatch_tick(&w, 1000, &next);
    assert_int_equal(w.checks, checks);
    assert_int_equal(next, 1000 + PLACEWATCH_LIST_MS);
    task(&f, "/proc/4242/task/4260", "worker", "0::/kvmlaunch/vm1/vcpu0\n");
    placewatch_tick(&w, 1500, &next); /* before its next listing: nothing */
    assert_int_equal(w.checks, checks);
    placewatch_tick(&w, 2000, &next);
    assert_int_equal(w.checks, checks + 1);
    assert_int_equal(w.cgroup_repairs, repairs + 1);
    assert_int_equal(w.threads, 5);
    _cleanup_free_ char *threads2 = fake_root_read(&f, "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.threads");
    assert_non_null(strstr(threads2, "4260\n"));
    put(&f, "/proc/4242/task/4260/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/4242/task/4260/status", "Name:\tworker\nCpus_allowed_list:\t2-3\n");

    /* A pid no longer our child (reaped, reused) is not touched. */
    put(&f, "/proc/6000/task/6000/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    put(&f, "/proc/6000/stat", "6000 (bash) S 1 6000 6000 0\n");
    put(&f, "/proc/6001/task/6001/status", "Name:\tvirtiofsd\nCpus_allowed_list:\t0-7\n");
    put(&f, "/proc/4242/task/4244/cgroup", "0::/kvmlaunch/vm1/emulator\n");
    assert_int_equal(placewatch_check(&w), 0);
    assert_allowed(&f, "/proc/6001/task/6001/status", "0-7");

    placewatch_free(&w);
    close(dfd);
    placement_free(&p);
    cgroup_vm_free(&vm);
    cgroup_layout_free(&l);
    vmconf_free(&cfg);
    hostroot_close(&hr);
    fake_root_teardown(&f);
}

#define MAPS "7f0000000000 default anon=2560 dirty=2560 N0=512 N1=2048 kernelpagesize_kB=4\n" \
             "7f1000000000 default file=/usr/bin/qemu-system-x86_64 mapped=256 N1=256 kernelpagesize_kB=4\n"

static void test_migrate(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    put(&f, "/proc/4242/numa_maps", MAPS);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    _cleanup_free_ char *rundir = xasprintf("%s/run", f.dir);
    assert_int_equal(mkdir(rundir, 0700), 0);
    int dfd = open(rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CpuList node0 = { xmalloc(sizeof(int)), 1 };
    node0.cpu[0] = 0;

    /* Pages move: 9 MiB off node 1 onto node 0. */
    MigrateResult mr;
    assert_int_equal(numa_place_migrate_report(&hr, dfd, QEMU, &node0, &mr), 0);
    assert_int_equal(mr.off_before, (uint64_t)(2048 + 256) * 4096);
    assert_int_equal(mr.off_after, 0);
    assert_int_equal(mr.moved, (uint64_t)(2048 + 256) * 4096);
    json_object *o = placewatch_json_load(dfd, NUMA_MIGRATE_FILE);
    assert_non_null(o);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"nodes\":\"0\",\"before\":{\"0\":2097152,\"1\":9437184},\"after\":{\"0\":11534336},\"moved_bytes\":9437184,"
                        "\"off_nodes_bytes\":0,\"error\":null}");
    json_object_put(o);

    /* A kernel that moves nothing (7 pages stayed): moved 0, said. */
    put(&f, "/proc/4242/numa_maps", MAPS);
    fake_kernel_fail("/proc/4242/numa_maps", 7);
    assert_int_equal(numa_place_migrate_report(&hr, dfd, QEMU, &node0, &mr), 0);
    fake_kernel_fail(NULL, 0);
    assert_int_equal(mr.moved, 0);
    assert_int_equal(mr.off_after, (uint64_t)(2048 + 256) * 4096);
    assert_int_equal(mr.unmoved_pages, 7);

    cpulist_free(&node0);
    close(dfd);
    hostroot_close(&hr);
    fake_root_teardown(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_threads),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_migrate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
