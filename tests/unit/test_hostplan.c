/* The host plan on fake trees (tests/hostroot): what it plans, that applying
 * then restoring leaves the tree byte for byte as it was, knobs shared by two
 * VMs, a failure half-way, and the replay of what a dead VM left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostplan.h"
#include "runtime.h"
#include "fake_root.h"
#include "skip.h"
#include "util.h"
#include "vmconf.h"

typedef FakeRoot Env;

#define VM_INI "[vm]\nname = %s\nmemory = 2G\nvcpus = 2\n"
#define HOST_INI "[host]\nthp = never\nthp-defrag = never\nksm = on\nksm-merge-across-nodes = no\nzone-reclaim = 1\n"

static void plan_for(const char *ini, VmConfig *cfg, HostRoot *hr, HostPlan *plan, ErrList *errors) {
    ErrList el = { 0 };
    int r = vmconf_load_buffer("t.ini", ini, strlen(ini), cfg, &el);
    if (r < 0) fail_msg("%s", el.e[0].msg);
    assert_int_equal(hostroot_open(hr), 0);
    assert_true(hr->redirected);
    HostState st;
    hoststate_probe(hr, cfg, &st);
    ErrList notes = { 0 };
    hostplan_build(cfg, &st, plan, errors, &notes);
    errlist_clear(&notes);
    hoststate_free(&st);
}

static const HostChange *change(const HostPlan *p, const char *path) {
    for (size_t i = 0; i < p->n; i++)
        if (streq(p->c[i].path, path)) return &p->c[i];
    return NULL;
}

static void test_plan_apply_restore(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    VmConfig cfg;
    HostRoot hr = HOSTROOT_INIT;
    HostPlan plan;
    ErrList errors = { 0 };
    _cleanup_free_ char *ini = xasprintf(VM_INI HOST_INI "[memory]\nbacking = hugepages\nnodes = 0-1\nreserve-hugepages = yes\n", "vm1");
    plan_for(ini, &cfg, &hr, &plan, &errors);
    assert_int_equal(errors.n, 0);
    const HostChange *c = change(&plan, "/sys/kernel/mm/transparent_hugepage/enabled");
    assert_non_null(c);
    assert_string_equal(c->old, "madvise");
    assert_string_equal(c->new, "never");
    c = change(&plan, "/sys/kernel/mm/ksm/merge_across_nodes");
    assert_non_null(c);
    assert_string_equal(c->prep_value, "2"); /* KSM must unmerge first */
    /* 1024 pages over two nodes: node 0 has 256 free of its 512 share. */
    c = change(&plan, "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages");
    assert_non_null(c);
    assert_string_equal(c->new, "768");
    c = change(&plan, "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages");
    assert_non_null(c);
    assert_string_equal(c->new, "512");

    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("vm1", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&hr, "vm1", &plan), 0);
    _cleanup_free_ char *thp = fake_root_read(&e, "/sys/kernel/mm/transparent_hugepage/enabled");
    assert_string_equal(thp, "always madvise [never]\n");
    _cleanup_free_ char *ksm = fake_root_read(&e, "/sys/kernel/mm/ksm/run");
    assert_string_equal(ksm, "1\n");
    _cleanup_free_ char *merge = fake_root_read(&e, "/sys/kernel/mm/ksm/merge_across_nodes");
    assert_string_equal(merge, "0\n");
    assert_false(fake_root_unchanged(&e));

    assert_int_equal(hostplan_restore(&hr, "vm1"), 0);
    runtime_release(&rt);
    assert_true(fake_root_unchanged(&e));

    hostplan_free(&plan);
    hostroot_close(&hr);
    vmconf_free(&cfg);
    fake_root_teardown(&e);
}

static void test_shared_and_dead(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    VmConfig c1, c2;
    HostRoot hr1 = HOSTROOT_INIT, hr2 = HOSTROOT_INIT;
    HostPlan p1, p2;
    ErrList errors = { 0 };
    _cleanup_free_ char *ini1 = xasprintf(VM_INI "[host]\nthp = never\n", "a");
    _cleanup_free_ char *ini2 = xasprintf(VM_INI "[host]\nthp = never\nzone-reclaim = 1\n", "b");
    Runtime ra = RUNTIME_INIT, rb = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("a", &ra, NULL), 0);
    assert_int_equal(runtime_acquire("b", &rb, NULL), 0);
    plan_for(ini1, &c1, &hr1, &p1, &errors);
    assert_int_equal(hostplan_apply(&hr1, "a", &p1), 0);
    /* b plans after a changed THP: "already never", and still counts. */
    plan_for(ini2, &c2, &hr2, &p2, &errors);
    assert_int_equal(errors.n, 0);
    assert_true(change(&p2, "/sys/kernel/mm/transparent_hugepage/enabled")->already);
    assert_int_equal(hostplan_apply(&hr2, "b", &p2), 0);

    assert_int_equal(hostplan_restore(&hr1, "a"), 0);
    runtime_release(&ra);
    _cleanup_free_ char *thp = fake_root_read(&e, "/sys/kernel/mm/transparent_hugepage/enabled");
    assert_string_equal(thp, "always madvise [never]\n"); /* b still relies on it */

    /* b dies without restoring: the next replay puts everything back. */
    runtime_release(&rb);
    assert_false(fake_root_unchanged(&e));
    assert_int_equal(hostplan_replay_dead(&hr1), 0);
    assert_true(fake_root_unchanged(&e));

    hostplan_free(&p1);
    hostplan_free(&p2);
    hostroot_close(&hr1);
    hostroot_close(&hr2);
    vmconf_free(&c1);
    vmconf_free(&c2);
    fake_root_teardown(&e);
}

static void test_conflict_and_failure(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    VmConfig c1, c2, c3;
    HostRoot hr = HOSTROOT_INIT, hr2 = HOSTROOT_INIT, hr3 = HOSTROOT_INIT;
    HostPlan p1, p2, p3;
    ErrList errors = { 0 };
    Runtime ra = RUNTIME_INIT, rb = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("a", &ra, NULL), 0);
    assert_int_equal(runtime_acquire("b", &rb, NULL), 0);
    _cleanup_free_ char *ini1 = xasprintf(VM_INI "[host]\nthp = never\n", "a");
    _cleanup_free_ char *ini2 = xasprintf(VM_INI "[host]\nthp = always\n", "b");
    plan_for(ini1, &c1, &hr, &p1, &errors);
    assert_int_equal(hostplan_apply(&hr, "a", &p1), 0);
    /* b wants another THP mode while a runs: refused, nothing changed. */
    plan_for(ini2, &c2, &hr2, &p2, &errors);
    assert_int_equal(hostplan_apply(&hr2, "b", &p2), -EBUSY);
    _cleanup_free_ char *thp = fake_root_read(&e, "/sys/kernel/mm/transparent_hugepage/enabled");
    assert_string_equal(thp, "always madvise [never]\n");
    assert_int_equal(hostplan_restore(&hr, "a"), 0);
    assert_true(fake_root_unchanged(&e));

    /* A write that fails half-way (the file is a directory): what was
     * applied before it goes back, the call fails. */
    _cleanup_free_ char *ini3 = xasprintf(VM_INI "[host]\nthp = never\nksm = on\nksm-pages-to-scan = 500\n", "b");
    plan_for(ini3, &c3, &hr3, &p3, &errors);
    assert_int_equal(errors.n, 0);
    /* Planned while the file was there; gone (a directory) when applied. */
    _cleanup_free_ char *p = xasprintf("%s/sys/kernel/mm/ksm/pages_to_scan", e.root);
    assert_int_equal(test_sh("rm %s && mkdir %s", p, p), 0);
    assert_int_equal(hostplan_apply(&hr3, "b", &p3), -EISDIR);
    _cleanup_free_ char *thp2 = fake_root_read(&e, "/sys/kernel/mm/transparent_hugepage/enabled");
    _cleanup_free_ char *run = fake_root_read(&e, "/sys/kernel/mm/ksm/run");
    assert_string_equal(thp2, "always [madvise] never\n");
    assert_string_equal(run, "0\n");
    runtime_release(&ra);
    runtime_release(&rb);
    hostplan_free(&p1);
    hostplan_free(&p2);
    hostplan_free(&p3);
    hostroot_close(&hr);
    hostroot_close(&hr2);
    hostroot_close(&hr3);
    vmconf_free(&c1);
    vmconf_free(&c2);
    vmconf_free(&c3);
    errlist_clear(&errors);
    fake_root_teardown(&e);
}

static void test_plan_errors(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "missing-files"), 0);
    VmConfig cfg;
    HostRoot hr = HOSTROOT_INIT;
    HostPlan plan;
    ErrList errors = { 0 };
    _cleanup_free_ char *ini = xasprintf(VM_INI "[host]\nthp = never\nksm = on\n[memory]\nbacking = hugepages\nhugepage-size = 1G\nnodes = 1\n", "x");
    plan_for(ini, &cfg, &hr, &plan, &errors);
    assert_true(errors.n >= 3);
    char all[4096] = "";
    for (size_t i = 0; i < errors.n; i++) {
        strncat(all, errors.e[i].msg, sizeof(all) - strlen(all) - 2);
        strcat(all, "\n");
    }
    assert_non_null(strstr(all, "[host] thp: expected /sys/kernel/mm/transparent_hugepage/enabled to exist on this host"));
    assert_non_null(strstr(all, "[host] ksm: expected /sys/kernel/mm/ksm/run to exist"));
    assert_non_null(strstr(all, "[memory] hugepage-size: expected 1G huge pages on node 1, found no pool"));
    hostplan_free(&plan);
    vmconf_free(&cfg);
    errlist_clear(&errors);
    hostroot_close(&hr);
    fake_root_teardown(&e);

    /* A node the host lacks. */
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    _cleanup_free_ char *ini3 = xasprintf(VM_INI "[memory]\nnodes = 1-2\n", "z");
    plan_for(ini3, &cfg, &hr, &plan, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "[memory] nodes: expected NUMA nodes this host has (0-1), found node 2"));
    hostplan_free(&plan);
    vmconf_free(&cfg);
    errlist_clear(&errors);
    hostroot_close(&hr);
    fake_root_teardown(&e);

    /* hugepage-path must be a hugetlbfs mount of that page size. */
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    _cleanup_free_ char *ini4 = xasprintf(VM_INI "[memory]\nbacking = hugepages\nhugepage-size = 1G\nhugepage-path = /dev/hugepages\n"
                                          "reserve-hugepages = yes\n", "w");
    plan_for(ini4, &cfg, &hr, &plan, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "hugepage-path: expected a hugetlbfs mount of 1G pages, found /dev/hugepages is none (/dev/hugepages1G is)"));
    hostplan_free(&plan);
    vmconf_free(&cfg);
    errlist_clear(&errors);
    hostroot_close(&hr);
    _cleanup_free_ char *ini5 = xasprintf(VM_INI "[memory]\nbacking = hugepages\nhugepage-size = 1G\nhugepage-path = /dev/hugepages1G\n"
                                          "reserve-hugepages = yes\n", "w");
    plan_for(ini5, &cfg, &hr, &plan, &errors);
    assert_int_equal(errors.n, 0);
    hostplan_free(&plan);
    vmconf_free(&cfg);
    hostroot_close(&hr);
    fake_root_teardown(&e);

    /* Short of pages without reserve-hugepages: the numbers are given. */
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    _cleanup_free_ char *ini2 = xasprintf(VM_INI "[memory]\nbacking = hugepages\nnodes = 0\n", "y");
    plan_for(ini2, &cfg, &hr, &plan, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "expected 1024 free 2M huge pages on node 0, found 256"));
    hostplan_free(&plan);
    vmconf_free(&cfg);
    errlist_clear(&errors);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* Pure: a scheduler the kernel does not offer is an error naming those it
 * does; a legacy name maps with a note; a missing file is only a note. */
static void test_scheduler_plan(void **state) {
    (void)state;
    static const char ini[] = "[vm]\nname = s\nmemory = 1G\nvcpus = 1\n"
                              "[disk \"a\"]\nfile = /img/a\nformat = raw\nscheduler = bfq\n"
                              "[disk \"b\"]\nfile = /img/b\nformat = raw\nscheduler = deadline\n"
                              "[disk \"c\"]\nfile = /img/c\nformat = raw\nscheduler = none\n";
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(vmconf_load_buffer("s.ini", ini, strlen(ini), &cfg, &el), 0);
    assert_int_equal(cfg.notes.n, 1); /* deadline means mq-deadline */
    char *offered[] = { "mq-deadline", "none", NULL };
    HostState st;
    memset(&st, 0, sizeof(st));
    Knob disks[3] = {
        { .path = "/sys/dev/block/8:0/queue/scheduler", .value = "mq-deadline", .offered = offered },
        { .path = "/sys/dev/block/8:0/queue/scheduler", .value = "mq-deadline", .offered = offered },
        { .error = -ENOENT },
    };
    st.disk_sched = disks;
    st.n_disks = 3;
    HostPlan plan;
    ErrList errors = { 0 }, notes = { 0 };
    assert_int_equal(hostplan_build(&cfg, &st, &plan, &errors, &notes), -EINVAL);
    assert_int_equal(errors.n, 1);
    assert_string_equal(errors.e[0].msg, "s.ini:8: [disk \"a\"] scheduler: expected a value this kernel offers in "
                                         "/sys/dev/block/8:0/queue/scheduler (mq-deadline, none), found bfq");
    assert_int_equal(plan.n, 1); /* b: mq-deadline already, held */
    assert_true(plan.c[0].already);
    assert_int_equal(notes.n, 1);
    assert_non_null(strstr(notes.e[0].msg, "[disk \"c\"] scheduler: /img/c does not exist"));
    hostplan_free(&plan);
    errlist_clear(&errors);
    errlist_clear(&notes);
    vmconf_free(&cfg);
}

/* A dead VM's journal that cannot be read at the moment (EMFILE) is kept,
 * not taken for a missing one: nothing changes, and once it can be read
 * the host goes back. */
static void test_unreadable_state_kept(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    VmConfig cfg;
    HostRoot hr = HOSTROOT_INIT;
    HostPlan plan;
    ErrList errors = { 0 };
    _cleanup_free_ char *ini = xasprintf(VM_INI "[host]\nthp = never\nksm = on\n", "dead");
    plan_for(ini, &cfg, &hr, &plan, &errors);
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("dead", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&hr, "dead", &plan), 0);
    runtime_release(&rt); /* dies without restoring */
    _cleanup_free_ char *journal = xasprintf("%s/%s", getenv("KVMLAUNCH_RUNDIR"), HOSTPLAN_STATE_FILE);
    struct stat st;
    assert_int_equal(stat(journal, &st), 0);

    /* Room for one more fd (the lock on the run dir), not for the journal. */
    int a = dup(0), b = dup(0);
    assert_true(a >= 0 && b > a);
    close(a);
    close(b);
    struct rlimit was, tight;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    tight = was;
    tight.rlim_cur = (rlim_t)b;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    int r = hostplan_replay_dead(&hr);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    assert_int_equal(r, -EIO);
    assert_int_equal(stat(journal, &st), 0);
    assert_false(fake_root_unchanged(&e));

    assert_int_equal(hostplan_replay_dead(&hr), 0);
    assert_true(fake_root_unchanged(&e));
    assert_int_not_equal(stat(journal, &st), 0);
    hostplan_free(&plan);
    hostroot_close(&hr);
    vmconf_free(&cfg);
    errlist_clear(&errors);
    fake_root_teardown(&e);
}

int main(void) {
    if (geteuid() != 0) {
        return skip_program("needs root (runtime dirs and locks under a temp dir are fine, but the fake trees keep root-owned modes)");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_apply_restore), cmocka_unit_test(test_shared_and_dead),
        cmocka_unit_test(test_conflict_and_failure), cmocka_unit_test(test_plan_errors), cmocka_unit_test(test_scheduler_plan),
        cmocka_unit_test(test_unreadable_state_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
