/* The journal of host changes (launcher/host/journal.c) on test trees with
 * the fake kernel (tests/helpers/fake_kernel.h): settling and its restore
 * callback, a restore that fails keeping its record and users until a later
 * cleanup puts the original back byte for byte (knobs and NIC offloads),
 * and a redirected root's run dir, never the host's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "fake_root.h"
#include "hostnic.h"
#include "hostplan.h"
#include "journal.h"
#include "runtime.h"
#include "util.h"
#include "vmconf.h"

#define THP "/sys/kernel/mm/transparent_hugepage/enabled"
#define VM_INI "[vm]\nname = %s\nmemory = 1G\nvcpus = 1\n"

static bool file_there(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s", runtime_base(), name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The text of the run dir's FILE ("" when missing); caller frees. */
static char *state_text(const char *name) {
    _cleanup_free_ char *path = xasprintf("%s/%s", runtime_base(), name);
    FILE *f = fopen(path, "re");
    if (!f) return xstrdup("");
    char *buf = NULL;
    size_t cap = 0;
    if (getdelim(&buf, &cap, '\0', f) < 0) {
        free(buf);
        buf = xstrdup("");
    }
    fclose(f);
    return buf;
}

static void plan_for(const char *ini, VmConfig *cfg, HostRoot *hr, HostPlan *plan) {
    ErrList el = { 0 }, errors = { 0 }, notes = { 0 };
    if (vmconf_load_buffer("t.ini", ini, strlen(ini), cfg, &el) < 0) fail_msg("%s", el.e[0].msg);
    assert_int_equal(hostroot_open(hr), 0);
    HostState st;
    hoststate_probe(hr, cfg, &st);
    assert_int_equal(hostplan_build(cfg, &st, plan, &errors, &notes), 0);
    errlist_clear(&notes);
    hoststate_free(&st);
}

/* ---- settling ---- */

static int cb_calls;

/* "keep" records stay without a failure, "fail" ones fail, others go. */
static int fake_restore(json_object *rec, const void *ctx) {
    (void)ctx;
    cb_calls++;
    const char *id = journal_str(rec, "id");
    if (streq(id, "keep")) return JOURNAL_KEEP;
    if (streq(id, "fail")) return -EIO;
    return JOURNAL_RESTORED;
}

static json_object *record(Journal *j, const char *id, const char *user) {
    json_object *rec = json_object_new_object();
    json_object_object_add(rec, "id", json_object_new_string(id));
    journal_add(j, rec);
    if (user) journal_add_user(rec, user);
    return rec;
}

static void test_settle(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("live", &rt, NULL), 0);
    Journal j = JOURNAL_INIT;
    assert_int_equal(journal_open(&j, "test.state", "records"), 0);
    record(&j, "shared", "live");
    journal_add_user(journal_find(&j, "id", "shared", NULL), "gone");
    record(&j, "keep", "gone");
    record(&j, "fail", "gone");
    record(&j, "done", "gone");
    assert_true(journal_has_user(journal_find(&j, "id", "shared", NULL), "gone"));
    assert_string_equal(journal_running_user(journal_find(&j, "id", "shared", NULL), NULL), "live");
    assert_null(journal_running_user(journal_find(&j, "id", "done", NULL), NULL));
    assert_true(journal_vm_gone("gone"));
    assert_false(journal_vm_gone("live"));

    /* "gone" no longer counts: three restores; the failed one stays whole. */
    cb_calls = 0;
    assert_int_equal(journal_settle(&j, NULL, fake_restore, NULL), -EIO);
    assert_int_equal(cb_calls, 3);
    assert_int_equal(json_object_array_length(j.records), 3);
    json_object *shared = journal_find(&j, "id", "shared", NULL), *kept = journal_find(&j, "id", "keep", NULL);
    json_object *failed = journal_find(&j, "id", "fail", NULL);
    assert_non_null(shared);
    assert_false(journal_has_user(shared, "gone"));
    assert_true(journal_has_user(shared, "live"));
    assert_non_null(kept);
    assert_false(journal_has_user(kept, "gone"));
    assert_non_null(failed);
    assert_true(journal_has_user(failed, "gone")); /* its users stay */
    assert_null(journal_find(&j, "id", "done", NULL));
    assert_int_equal(journal_save(&j), 0);
    journal_close(&j);

    /* Saved as settled; "live" leaving restores the shared record (and
     * the one without users), not the failed one: only "live" leaves. */
    assert_true(file_there("test.state"));
    cb_calls = 0;
    assert_int_equal(journal_release("test.state", "records", false, "live", fake_restore, NULL), 0);
    assert_int_equal(cb_calls, 2);
    assert_int_equal(journal_open(&j, "test.state", "records"), 0);
    assert_null(journal_find(&j, "id", "shared", NULL));
    assert_true(journal_has_user(journal_find(&j, "id", "fail", NULL), "gone"));
    journal_remove(&j, journal_find(&j, "id", "fail", NULL));
    journal_remove(&j, journal_find(&j, "id", "keep", NULL));
    assert_int_equal(journal_save(&j), 0);
    journal_close(&j);
    assert_false(file_there("test.state")); /* empty: no file */
    assert_int_equal(journal_release("test.state", "records", false, NULL, fake_restore, NULL), 0);
    runtime_release(&rt);
    fake_root_teardown(&f);
}

/* ---- a restore that fails ---- */

static void test_knob_restore_fails(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    VmConfig cfg, cfg_b;
    HostRoot hr = HOSTROOT_INIT, hr_b = HOSTROOT_INIT;
    HostPlan plan, plan_b;
    _cleanup_free_ char *ini = xasprintf(VM_INI "[host]\nthp = never\nksm = on\n", "a");
    plan_for(ini, &cfg, &hr, &plan);
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("a", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&hr, "a", &plan), 0);
    _cleanup_free_ char *thp = fake_root_read(&f, THP);
    assert_string_equal(thp, "always madvise [never]\n");

    /* Writing THP's original back fails: its record and user stay, the
     * other knob is put back. */
    fake_kernel_fail(THP, -EROFS);
    assert_int_equal(hostplan_restore(&hr, "a"), -EROFS);
    _cleanup_free_ char *st = state_text(HOSTPLAN_STATE_FILE);
    assert_non_null(strstr(st, THP));
    assert_non_null(strstr(st, "\"a\""));
    assert_null(strstr(st, "/sys/kernel/mm/ksm/run"));
    _cleanup_free_ char *ksm = fake_root_read(&f, "/sys/kernel/mm/ksm/run");
    assert_string_equal(ksm, "0\n");
    runtime_release(&rt); /* the VM is gone */
    /* A cleanup while it still fails changes nothing. */
    assert_int_equal(hostplan_replay_dead(&hr), -EROFS);
    assert_true(file_there(HOSTPLAN_STATE_FILE));

    /* Another VM wanting another value takes the knob over (no VM that
     * runs relies on it) and the recorded original stays. */
    _cleanup_free_ char *ini_b = xasprintf(VM_INI "[host]\nthp = always\n", "b");
    plan_for(ini_b, &cfg_b, &hr_b, &plan_b);
    fake_kernel_fail(NULL, 0);
    Runtime rt_b = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("b", &rt_b, NULL), 0);
    fake_kernel_fail(THP, -EROFS); /* a's leftover cannot be put back before b starts */
    assert_int_equal(hostplan_apply(&hr_b, "b", &plan_b), -EROFS);
    fake_kernel_fail(NULL, 0);
    assert_int_equal(hostplan_apply(&hr_b, "b", &plan_b), 0);
    _cleanup_free_ char *thp_b = fake_root_read(&f, THP);
    assert_string_equal(thp_b, "[always] madvise never\n");
    assert_int_equal(hostplan_restore(&hr_b, "b"), 0);
    runtime_release(&rt_b);
    assert_true(fake_root_unchanged(&f));
    assert_false(file_there(HOSTPLAN_STATE_FILE));

    /* A start that fails half-way and cannot put back what it changed:
     * -ENOTRECOVERABLE, and the record stays for cleanup. */
    assert_int_equal(runtime_acquire("a", &rt, NULL), 0);
    fake_kernel_fail_after(THP, -EIO, 1);
    fake_kernel_fail_after("/sys/kernel/mm/ksm/run", -EIO, 0);
    assert_int_equal(hostplan_apply(&hr, "a", &plan), -ENOTRECOVERABLE);
    _cleanup_free_ char *kept = state_text(HOSTPLAN_STATE_FILE);
    assert_non_null(strstr(kept, THP));
    assert_null(strstr(kept, "/sys/kernel/mm/ksm/run"));
    runtime_release(&rt);
    fake_kernel_fail(NULL, 0);
    assert_int_equal(hostplan_replay_dead(&hr), 0);
    assert_true(fake_root_unchanged(&f));
    assert_false(file_there(HOSTPLAN_STATE_FILE));

    /* The same with `cleanup NAME`: the name's restore is tried again. */
    assert_int_equal(runtime_acquire("a", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&hr, "a", &plan), 0);
    fake_kernel_fail(THP, -EIO);
    assert_int_equal(hostplan_restore(&hr, "a"), -EIO);
    runtime_release(&rt);
    assert_false(fake_root_unchanged(&f));
    fake_kernel_fail(NULL, 0);
    assert_int_equal(hostplan_restore(&hr, "a"), 0);
    assert_true(fake_root_unchanged(&f));
    assert_false(file_there(HOSTPLAN_STATE_FILE));

    hostplan_free(&plan);
    hostplan_free(&plan_b);
    hostroot_close(&hr);
    hostroot_close(&hr_b);
    vmconf_free(&cfg);
    vmconf_free(&cfg_b);
    fake_root_teardown(&f);
}

/* ---- NIC offloads on the fake kernel's NIC ---- */

#define NIC_FEATURES "/sys/class/net/klnic0/" FAKE_KERNEL_FEATURES
static const char nic_before[] = "tx-tcp-segmentation off\ntx-tcp6-segmentation off\ntx-generic-segmentation off\n"
                                 "rx-gro off fixed\nrx-lro off\n";

static void test_offloads(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    assert_int_equal(fake_root_write(&f, NIC_FEATURES, nic_before), 0);
    static const char ini[] = "[vm]\nname = nicvm\nmemory = 1G\nvcpus = 1\n[hostnic \"klnic0\"]\noffloads = on\n";
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    NicOffloads o;
    assert_int_equal(hostnic_offloads_read(&hr, "klnic0", &o), 0);
    assert_string_equal(hostnic_offload_state(&o, NIC_OFFLOAD_TSO), "off");
    free(o.dev);

    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("nicvm", &rt, NULL), 0);
    assert_int_equal(hostnic_offloads_apply(&hr, &cfg), 0);
    _cleanup_free_ char *on = fake_root_read(&f, NIC_FEATURES);
    assert_string_equal(on, "tx-tcp-segmentation on\ntx-tcp6-segmentation on\ntx-generic-segmentation on\nrx-gro off fixed\nrx-lro off\n");
    _cleanup_free_ char *st = state_text(HOSTNIC_OFFLOADS_STATE_FILE);
    assert_non_null(strstr(st, "\"nicvm\""));
    assert_non_null(strstr(st, "tx-generic-segmentation"));
    assert_int_equal(hostnic_offloads_restore(&hr, "nicvm"), 0);
    _cleanup_free_ char *back = fake_root_read(&f, NIC_FEATURES);
    assert_string_equal(back, nic_before);
    assert_false(file_there(HOSTNIC_OFFLOADS_STATE_FILE));

    /* The device refuses the restore: the records stay until it works. */
    assert_int_equal(hostnic_offloads_apply(&hr, &cfg), 0);
    fake_kernel_fail(NIC_FEATURES, -EBUSY);
    assert_int_equal(hostnic_offloads_restore(&hr, "nicvm"), -EBUSY);
    runtime_release(&rt);
    assert_true(file_there(HOSTNIC_OFFLOADS_STATE_FILE));
    assert_int_equal(hostnic_offloads_replay_dead(&hr), -EBUSY);
    fake_kernel_fail(NULL, 0);
    assert_int_equal(hostnic_offloads_replay_dead(&hr), 0);
    _cleanup_free_ char *again = fake_root_read(&f, NIC_FEATURES);
    assert_string_equal(again, nic_before);
    assert_false(file_there(HOSTNIC_OFFLOADS_STATE_FILE));

    /* A NIC that is gone: its records go without an error. */
    assert_int_equal(runtime_acquire("nicvm", &rt, NULL), 0);
    assert_int_equal(hostnic_offloads_apply(&hr, &cfg), 0);
    assert_int_equal(test_sh("rm -r %s/sys/class/net/klnic0", f.root), 0);
    assert_int_equal(hostnic_offloads_restore(&hr, "nicvm"), 0);
    assert_false(file_there(HOSTNIC_OFFLOADS_STATE_FILE));
    runtime_release(&rt);
    hostroot_close(&hr);
    vmconf_free(&cfg);
    fake_root_teardown(&f);
}

/* ---- a redirected root's run dir ---- */

static void test_redirected_rundir(void **state) {
    (void)state;
    FakeRoot f;
    assert_int_equal(fake_root_setup(&f, "cgroup2-numa2"), 0);
    _cleanup_free_ char *own = xasprintf("%s/run/kvmlaunch", f.root);
    unsetenv("KVMLAUNCH_RUNDIR");
    assert_string_equal(runtime_base(), own);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    hostroot_close(&hr);

    /* The host's run dir, however spelled, is refused, and never used. */
    static const char *const host[] = { "/run/kvmlaunch", "/run/kvmlaunch/", "/run//kvmlaunch" };
    for (size_t i = 0; i < 3; i++) {
        setenv("KVMLAUNCH_RUNDIR", host[i], 1);
        assert_string_equal(runtime_base(), own);
        assert_int_equal(hostroot_open(&hr), -EPERM);
    }

    /* Nor through the tree: its run/ a link to the host's /run, or a root
     * that is "/" by another name. */
    unsetenv("KVMLAUNCH_RUNDIR");
    assert_int_equal(test_sh("mv %s/run %s/run.saved 2>/dev/null; ln -s /run %s/run", f.root, f.root, f.root), 0);
    assert_int_equal(hostroot_open(&hr), -EPERM);
    assert_int_equal(test_sh("rm %s/run; mv %s/run.saved %s/run 2>/dev/null; true", f.root, f.root, f.root), 0);
    _cleanup_free_ char *tree = xstrdup(getenv("KVMLAUNCH_ROOT"));
    static const char *const slash[] = { "//", "/.", "/./" };
    for (size_t i = 0; i < 3; i++) {
        setenv("KVMLAUNCH_ROOT", slash[i], 1);
        assert_int_equal(hostroot_open(&hr), -EPERM);
    }
    setenv("KVMLAUNCH_ROOT", tree, 1);
    assert_int_equal(hostroot_open(&hr), 0);
    hostroot_close(&hr);

    /* A start's journal goes to the tree's own run dir. */
    VmConfig cfg;
    HostPlan plan;
    _cleanup_free_ char *ini = xasprintf(VM_INI "[host]\nthp = never\n", "redir");
    plan_for(ini, &cfg, &hr, &plan);
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("redir", &rt, NULL), 0);
    assert_int_equal(hostplan_apply(&hr, "redir", &plan), 0);
    _cleanup_free_ char *journal = xasprintf("%s/%s", own, HOSTPLAN_STATE_FILE);
    struct stat st;
    assert_int_equal(stat(journal, &st), 0);
    assert_int_equal(hostplan_restore(&hr, "redir"), 0);
    runtime_release(&rt);
    assert_int_not_equal(stat(journal, &st), 0);
    hostplan_free(&plan);
    hostroot_close(&hr);
    vmconf_free(&cfg);

    /* A private one is used as named; the real root keeps /run/kvmlaunch. */
    _cleanup_free_ char *priv = xasprintf("%s/private", f.dir);
    setenv("KVMLAUNCH_RUNDIR", priv, 1);
    assert_string_equal(runtime_base(), priv);
    const char *root = getenv("KVMLAUNCH_ROOT");
    _cleanup_free_ char *saved = xstrdup(root);
    unsetenv("KVMLAUNCH_RUNDIR");
    unsetenv("KVMLAUNCH_ROOT");
    assert_string_equal(runtime_base(), "/run/kvmlaunch");
    setenv("KVMLAUNCH_ROOT", "/", 1);
    assert_string_equal(runtime_base(), "/run/kvmlaunch");
    setenv("KVMLAUNCH_ROOT", saved, 1);
    fake_root_teardown(&f);
}

int main(void) {
    if (geteuid() != 0) {
        printf("SKIP: needs root (the test trees keep root-owned modes)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle),
        cmocka_unit_test(test_knob_restore_fails),
        cmocka_unit_test(test_offloads),
        cmocka_unit_test(test_redirected_rundir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
