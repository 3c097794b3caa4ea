/* Per-VM cgroups (include/cgroup.h): the parsers on captured text, the
 * pure plan, and setup/teardown on fake trees (tests/hostroot: cgroup2-numa2
 * for v2 at the root, cgroup2-delegated for a systemd unit, cgroup1 for
 * v1) where tests/helpers/fake_cgroup.c plays the kernel, each ending with
 * kvmlaunch/ left bare (it stays) and, once that is removed, the tree byte
 * for byte as it was.
 *
 * `test_cgroup --real` instead places the threads of a real process in real
 * cgroups of this host (root and a cpuset hierarchy needed, else exit 77);
 * tests/cli/test_cgroup.sh runs it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroup.h"
#include "hostfacts.h"
#include "kfiles.h"
#include "fake_cgroup.h"
#include "fake_root.h"
#include "skip.h"
#include "util.h"
#include "vmconf.h"

/* ---- helpers ---- */

static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...) {
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0) abort();
    va_end(ap);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    char *buf = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) fwrite(chunk, 1, got, m);
    pclose(p);
    fclose(m);
    return buf;
}

typedef FakeRoot Env;

#define assert_fake(e, path, want)                     \
    do {                                               \
        _cleanup_free_ char *got_ = fake_root_read((e), (path)); \
        assert_string_equal(got_, (want));             \
    } while (0)

static void fake_put(const Env *e, const char *path, const char *text) {
    _cleanup_free_ char *full = xasprintf("%s%s", e->root, path);
    FILE *f = fopen(full, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* "PATH=TEXT" for every file under DIR of the fake tree, sorted, newlines
 * shown as '|'; files the kernel keeps constant are left out. */
static char *listing(const Env *e, const char *dir) {
    return sh_out("cd %s && find .%s -type f ! -name cgroup.events ! -name cgroup.controllers ! -name notify_on_release "
                  "! -name cgroup.clone_children ! -name 'cpuset.effective_*' | LC_ALL=C sort | "
                  "while IFS= read -r f; do printf '%%s=' \"${f#.}\"; tr '\\n' '|' < \"$f\"; echo; done",
                  e->root, dir);
}

static void load(const char *ini, VmConfig *cfg) {
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", ini, strlen(ini), cfg, &el) < 0) fail_msg("%s", el.n ? el.e[0].msg : "load failed");
}

static void place(Placement *p, ThreadRole role, int index, pid_t tid, int cpu) {
    p->t = xrealloc(p->t, (p->n + 1) * sizeof(*p->t));
    CpuList l = { NULL, 0 };
    if (cpu >= 0) {
        l.cpu = xmalloc(sizeof(int));
        l.cpu[0] = cpu;
        l.n = 1;
    }
    char *name = role == THREAD_EMULATOR ? xstrdup("emulator") : xasprintf("%s%d", role == THREAD_VCPU ? "vcpu" : "iothread", index);
    p->t[p->n++] = (ThreadPlace){ role, index, name, tid, l, 0, 0, false };
}

static void open_root(HostRoot *hr, CgroupLayout *l) {
    assert_int_equal(hostroot_open(hr), 0);
    assert_int_equal(cgroup_detect(hr, l), 0);
}

/* After the last VM: kvmlaunch/ in BASE is still there, with no VM dir in
 * it and (v2) cpuset handed back; removed (as an admin may), the tree is
 * byte for byte as it was. */
static void assert_top_bare(const Env *e, const HostRoot *hr, const char *base) {
    _cleanup_free_ char *top = xasprintf("%s/" CGROUP_TOP, base);
    StrVec sub = STRVEC_INIT;
    assert_int_equal(hostroot_list(hr, top, true, &sub), 0);
    if (sub.n) fail_msg("%s still has %s", top, sub.v[0]);
    strvec_clear(&sub);
    _cleanup_free_ char *ctl = xasprintf("%s/cgroup.subtree_control", top), *type = xasprintf("%s/cgroup.type", top);
    _cleanup_free_ char *v1 = xasprintf("%s/tasks", top);
    if (!hostroot_exists(hr, v1)) {
        assert_fake(e, type, "domain\n");
        assert_fake(e, ctl, "");
    }
    assert_int_equal(hostroot_rmdir(hr, top), 0);
    assert_true(fake_root_unchanged(e));
}

/* Nested under kvmlaunch's own cgroup (issue 22): kvmlaunch/ went with the
 * last VM, so the caller's cgroup can go; the tree is as it was. */
static void assert_top_gone(const Env *e, const HostRoot *hr, const char *base) {
    _cleanup_free_ char *top = xasprintf("%s/" CGROUP_TOP, base);
    if (hostroot_exists(hr, top)) fail_msg("%s is still there", top);
    assert_true(fake_root_unchanged(e));
}

/* What the kernel shows of a VM dir once its threads died: no ids left. */
static void play_dead(const Env *e, const char *dir) {
    assert_int_equal(test_sh("find %s%s \\( -name tasks -o -name cgroup.procs -o -name cgroup.threads \\) -exec truncate -s0 {} +",
                             e->root, dir),
                     0);
}

/* ---- pure parsers ---- */

/* This machine's /proc/self/mounts (cgroup v1, an empty v2 at unified). */
static const char this_mounts[] =
    "proc /proc proc rw,relatime 0 0\n"
    "sysfs /sys sysfs rw,relatime 0 0\n"
    "/dev/vda / ext4 rw,relatime,discard 0 0\n"
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
static const char this_cgroup[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/9c8b574b661c2d38cf96265e57c8377b\n"
                                  "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";
/* A Debian 12 host with systemd, from a login shell. */
static const char systemd_mounts[] =
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
    "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n"
    "systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct 0 0\n";
static const char systemd_cgroup[] = "0::/user.slice/user-1000.slice/session-2.scope\n";

static void test_parse_mounts(void **state) {
    (void)state;
    CgroupMounts m;
    assert_int_equal(cgroup_parse_mounts(this_mounts, &m), 0);
    assert_int_equal(m.v2.n, 1);
    assert_string_equal(m.v2.v[0], "/sys/fs/cgroup/unified");
    assert_string_equal(m.v1_cpuset, "/sys/fs/cgroup/cpuset");
    assert_false(m.v1_noprefix);
    cgroup_mounts_free(&m);

    assert_int_equal(cgroup_parse_mounts(systemd_mounts, &m), 0);
    assert_int_equal(m.v2.n, 1);
    assert_string_equal(m.v2.v[0], "/sys/fs/cgroup");
    assert_null(m.v1_cpuset);
    cgroup_mounts_free(&m);

    /* cpuset shared with cpu, escapes, noprefix; "cpuset_v2_mode" alone is
     * no cpuset; the first cpuset mount wins. */
    assert_int_equal(cgroup_parse_mounts("cgroup /a cgroup rw,cpuset_v2_mode 0 0\n"
                                         "cgroup /dev/cpu\\040set cgroup rw,cpu,cpuset,noprefix 0 0\n"
                                         "cgroup /b cgroup rw,cpuset 0 0\n\n",
                                         &m),
                     0);
    assert_string_equal(m.v1_cpuset, "/dev/cpu set");
    assert_true(m.v1_noprefix);
    assert_int_equal(m.v2.n, 0);
    cgroup_mounts_free(&m);

    assert_int_equal(cgroup_parse_mounts("cgroup2 /sys/fs/cgroup\n", &m), -EINVAL);
    assert_int_equal(cgroup_parse_mounts("cgroup2 /x\\09 cgroup2 rw 0 0\n", &m), -EINVAL);
    assert_int_equal(cgroup_parse_mounts("cgroup2 /x\\0 cgroup2 rw 0 0\n", &m), -EINVAL);
    assert_int_equal(cgroup_parse_mounts("", &m), 0);
    assert_null(m.v1_cpuset);
    cgroup_mounts_free(&m);
}

static void test_parse_self(void **state) {
    (void)state;
    char *p = NULL;
    assert_int_equal(cgroup_parse_self(this_cgroup, CGROUP_V1, &p), 0);
    assert_string_equal(p, "/");
    p = x_free(p);
    assert_int_equal(cgroup_parse_self(this_cgroup, CGROUP_V2, &p), 0);
    assert_string_equal(p, "/");
    p = x_free(p);
    assert_int_equal(cgroup_parse_self(systemd_cgroup, CGROUP_V2, &p), 0);
    assert_string_equal(p, "/user.slice/user-1000.slice/session-2.scope");
    p = x_free(p);
    assert_int_equal(cgroup_parse_self(systemd_cgroup, CGROUP_V1, &p), -ENOENT);
    assert_int_equal(cgroup_parse_self("3:cpu,cpuset:/a/b:c\n", CGROUP_V1, &p), 0);
    assert_string_equal(p, "/a/b:c");
    p = x_free(p);
    /* "cpuset" must be a whole controller name. */
    assert_int_equal(cgroup_parse_self("3:cpusetx:/a\n", CGROUP_V1, &p), -ENOENT);
    assert_int_equal(cgroup_parse_self("garbage\n", CGROUP_V2, &p), -EINVAL);
    assert_int_equal(cgroup_parse_self("0::\n", CGROUP_V2, &p), -EINVAL);

    assert_true(cgroup_list_has("cpuset cpu io\n", "cpuset"));
    assert_true(cgroup_list_has("cpu io cpuset", "cpuset"));
    assert_false(cgroup_list_has("cpu io memory pids\n", "cpuset"));
    assert_false(cgroup_list_has("", "cpuset"));
}

/* ---- pure plan ---- */

#define VM_A "[vm]\nname = vm1\nmemory = 1G\nvcpus = 2\n[cpu]\npin = 1,3\nemulator = 0\n[memory]\nnodes = 1\n"

static CgroupLayout layout_v2(void) {
    CgroupLayout l = { .version = CGROUP_V2, .mount = xstrdup("/sys/fs/cgroup"), .base = xstrdup("/sys/fs/cgroup") };
    assert_int_equal(kfile_parse_cpulist("0-7\n", &l.cpus), 0);
    assert_int_equal(kfile_parse_cpulist("0-1\n", &l.mems), 0);
    return l;
}

static void test_groups_and_plan(void **state) {
    (void)state;
    VmConfig cfg;
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 3\n[cpu]\npin = 1,3,7\nvcpu.2 = 5,4\niothreads = 6\n"
         "[disk \"a\"]\nfile = /a.img\nformat = raw\n[disk \"b\"]\nfile = /b.img\nformat = raw\niothread = no\n"
         "[disk \"c\"]\nfile = /c.img\nformat = raw\n",
         &cfg);
    CgroupGroups gs;
    cgroup_groups_from_config(&cfg, &gs);
    assert_int_equal(gs.n, 6);
    const char *names[] = { "emulator", "vcpu0", "vcpu1", "vcpu2", "iothread0", "iothread1" };
    for (size_t i = 0; i < gs.n; i++) assert_string_equal(gs.g[i].name, names[i]);
    assert_int_equal(gs.g[0].cpus.n, 0);
    assert_int_equal(gs.g[3].cpus.n, 2);

    CgroupLayout l = layout_v2();
    CgroupPlan plan;
    assert_int_equal(cgroup_plan_vm(&l, &cfg, &gs, &plan), 0);
    _cleanup_free_ char *text = cgroup_plan_render(&plan, &gs);
    const char *want =
        "/sys/fs/cgroup/cgroup.subtree_control: +cpuset (unless listed)\n"
        "mkdir /sys/fs/cgroup/kvmlaunch (unless it exists)\n"
        "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control: +cpuset (unless listed)\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.subtree_control: +cpuset (unless listed)\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/emulator\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.cpus: 0-7\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/vcpu0\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus: 1\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/vcpu1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.cpus: 3\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/vcpu2\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu2/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu2/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu2/cpuset.cpus: 4-5\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/iothread0\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cpuset.cpus: 6\n"
        "mkdir /sys/fs/cgroup/kvmlaunch/vm1/iothread1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread1/cgroup.type: threaded\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread1/cpuset.mems: 0-1\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread1/cpuset.cpus: 6\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.procs: <QEMU's pid>\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.threads: <thread id of vcpu0>\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.threads: <thread id of vcpu1>\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu2/cgroup.threads: <thread id of vcpu2>\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cgroup.threads: <thread id of iothread0>\n"
        "/sys/fs/cgroup/kvmlaunch/vm1/iothread1/cgroup.threads: <thread id of iothread1>\n";
    assert_string_equal(text, want);
    cgroup_plan_free(&plan);
    cgroup_groups_free(&gs);
    vmconf_free(&cfg);

    /* v1 with noprefix, [memory] nodes, CPUs out of order: */
    load("[vm]\nname = vm2\nmemory = 1G\nvcpus = 1\n[cpu]\nemulator = 1,0\n[memory]\nnodes = 1\n", &cfg);
    cgroup_groups_from_config(&cfg, &gs);
    l.version = CGROUP_V1;
    l.noprefix = true;
    free(l.base);
    l.base = xstrdup("/dev/cpuset");
    assert_int_equal(cgroup_plan_vm(&l, &cfg, &gs, &plan), 0);
    _cleanup_free_ char *t1 = cgroup_plan_render(&plan, &gs);
    assert_string_equal(t1, "mkdir /dev/cpuset/kvmlaunch (unless it exists)\n"
                            "/dev/cpuset/kvmlaunch/mems: 0-1 (when empty)\n"
                            "/dev/cpuset/kvmlaunch/cpus: 0-7 (when empty)\n"
                            "mkdir /dev/cpuset/kvmlaunch/vm2\n"
                            "/dev/cpuset/kvmlaunch/vm2/mems: 0-1\n"
                            "/dev/cpuset/kvmlaunch/vm2/cpus: 0-7\n"
                            "mkdir /dev/cpuset/kvmlaunch/vm2/emulator\n"
                            "/dev/cpuset/kvmlaunch/vm2/emulator/mems: 1\n"
                            "/dev/cpuset/kvmlaunch/vm2/emulator/cpus: 0-1\n"
                            "mkdir /dev/cpuset/kvmlaunch/vm2/vcpu0\n"
                            "/dev/cpuset/kvmlaunch/vm2/vcpu0/mems: 1\n"
                            "/dev/cpuset/kvmlaunch/vm2/vcpu0/cpus: 0-7\n"
                            "/dev/cpuset/kvmlaunch/vm2/emulator/cgroup.procs: <QEMU's pid>\n"
                            "/dev/cpuset/kvmlaunch/vm2/vcpu0/tasks: <thread id of vcpu0>\n");
    cgroup_plan_free(&plan);

    l.version = CGROUP_NONE;
    assert_int_equal(cgroup_plan_vm(&l, &cfg, &gs, &plan), -EOPNOTSUPP);
    cgroup_groups_free(&gs);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
}

static void test_groups_from_placement(void **state) {
    (void)state;
    Placement p = { 0 };
    place(&p, THREAD_VCPU, 1, 11, 3);
    place(&p, THREAD_EMULATOR, -1, 9, -1);
    place(&p, THREAD_IOTHREAD, 0, 13, 6);
    place(&p, THREAD_VCPU, 0, 10, 2);
    place(&p, THREAD_EMULATOR, -1, 12, -1);
    CgroupGroups gs;
    cgroup_groups_from_placement(&p, &gs);
    assert_int_equal(gs.n, 4);
    assert_string_equal(gs.g[0].name, "emulator");
    assert_int_equal(gs.g[0].cpus.n, 0);
    assert_string_equal(gs.g[1].name, "vcpu0");
    assert_int_equal(gs.g[1].cpus.cpu[0], 2);
    assert_string_equal(gs.g[2].name, "vcpu1");
    assert_string_equal(gs.g[3].name, "iothread0");
    cgroup_groups_free(&gs);
    placement_free(&p);
}

/* ---- fake trees ---- */

static void placement_a(Placement *p) {
    memset(p, 0, sizeof(*p));
    place(p, THREAD_VCPU, 0, 4243, 1);
    place(p, THREAD_VCPU, 1, 4244, 3);
    place(p, THREAD_EMULATOR, -1, 4242, 0);
    place(p, THREAD_EMULATOR, -1, 4245, 0);
}

static void test_v2_root(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    assert_int_equal(l.version, CGROUP_V2);
    assert_string_equal(l.mount, "/sys/fs/cgroup");
    assert_string_equal(l.base, "/sys/fs/cgroup");
    assert_false(l.delegated);
    assert_int_equal(l.cpus.n, 8);
    assert_int_equal(l.mems.n, 2);
    assert_non_null(strstr(l.why, "cgroup v2 at /sys/fs/cgroup"));

    VmConfig cfg;
    load(VM_A, &cfg);
    Placement p;
    placement_a(&p);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    assert_string_equal(vm.dir, "/sys/fs/cgroup/kvmlaunch/vm1");
    assert_int_equal(vm.n_enabled, 3);
    assert_string_equal(vm.enabled[0].path, "/sys/fs/cgroup");
    assert_false(vm.enabled[0].was_enabled);
    assert_string_equal(vm.enabled[2].path, "/sys/fs/cgroup/kvmlaunch/vm1");
    assert_fake(&e, "/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n");
    _cleanup_free_ char *got = listing(&e, "/sys/fs/cgroup/kvmlaunch");
    assert_string_equal(got,
                        "/sys/fs/cgroup/kvmlaunch/cgroup.procs=\n"
                        "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control=cpuset|\n"
                        "/sys/fs/cgroup/kvmlaunch/cgroup.threads=\n"
                        "/sys/fs/cgroup/kvmlaunch/cgroup.type=domain|\n"
                        "/sys/fs/cgroup/kvmlaunch/cpuset.cpus=|\n"
                        "/sys/fs/cgroup/kvmlaunch/cpuset.cpus.effective=0-7|\n"
                        "/sys/fs/cgroup/kvmlaunch/cpuset.mems=|\n"
                        "/sys/fs/cgroup/kvmlaunch/cpuset.mems.effective=0-1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.procs=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.subtree_control=cpuset|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.threads=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.type=domain|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cpuset.cpus=|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cpuset.cpus.effective=0-7|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cpuset.mems=|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/cpuset.mems.effective=0-1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.procs=4242|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.subtree_control=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.threads=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cgroup.type=threaded|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.cpus=0|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.cpus.effective=0|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.mems=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.mems.effective=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.procs=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.subtree_control=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.threads=4243|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.type=threaded|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus.effective=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.mems=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.mems.effective=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.procs=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.subtree_control=\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.threads=4244|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.type=threaded|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.cpus=3|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.cpus.effective=3|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.mems=1|\n"
                        "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cpuset.mems.effective=1|\n");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_null(vm.dir);
    /* The VM's own subtree goes; kvmlaunch/ stays, cpuset handed back. */
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.type", "domain\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control", "");
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    /* Unpinned threads and I/O threads: the root's CPUs and nodes. */
    vmconf_free(&cfg);
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 1\n", &cfg);
    placement_free(&p);
    place(&p, THREAD_EMULATOR, -1, 4242, -1);
    place(&p, THREAD_VCPU, 0, 4243, -1);
    place(&p, THREAD_IOTHREAD, 0, 4244, -1);
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus", "0-7\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cpuset.mems", "0-1\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/iothread0/cgroup.threads", "4244\n");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* `kvmlaunch pin` on v2: a group's cpuset.cpus read, rewritten and read
 * back (the effective set); a group the VM lacks is -ENOENT; CPUs the base
 * lacks are refused. */
static void test_v2_live_repin(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    VmConfig cfg;
    load(VM_A, &cfg);
    Placement p;
    placement_a(&p);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    char *text = NULL;
    assert_int_equal(cgroup_group_cpus_read(&hr, &l, "vm1", "vcpu0", &text), 0);
    assert_string_equal(text, "1");
    free(text);
    assert_int_equal(cgroup_group_cpus_write(&hr, &l, "vm1", "vcpu0", "5-6"), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus", "5-6\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cpuset.cpus.effective", "5-6\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.threads", "4243\n");
    assert_int_equal(cgroup_group_cpus_write(&hr, &l, "vm1", "emulator", "2"), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/emulator/cpuset.cpus", "2\n");
    assert_int_equal(cgroup_group_cpus_read(&hr, &l, "vm1", "iothread0", &text), -ENOENT);
    assert_null(text);
    assert_true(cgroup_group_cpus_write(&hr, &l, "vm1", "vcpu1", "9") < 0);
    assert_int_equal(cgroup_group_cpus_write(&hr, &l, "vm1", "../vm2", "1"), -EINVAL);
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");
    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* Two VMs share kvmlaunch/ and the root's +cpuset; a cgroup of someone
 * else that uses cpuset keeps it enabled. */
static void test_v2_shared(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    VmConfig c1, c2;
    load(VM_A, &c1);
    load("[vm]\nname = vm2\nmemory = 1G\nvcpus = 1\n", &c2);
    Placement p1, p2 = { 0 };
    placement_a(&p1);
    place(&p2, THREAD_EMULATOR, -1, 5000, -1);
    place(&p2, THREAD_VCPU, 0, 5001, -1);
    CgroupVm v1, v2;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &c1, &p1, 4242, &v1), 0);
    assert_int_equal(cgroup_setup_vm(&hr, &l, &c2, &p2, 5000, &v2), 0);
    assert_true(v2.enabled[0].was_enabled);
    assert_true(v2.enabled[1].was_enabled);
    assert_false(v2.enabled[2].was_enabled);
    assert_int_equal(cgroup_teardown_vm(&hr, &v1), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control", "cpuset\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm2/vcpu0/cgroup.threads", "5001\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n");
    /* vm2 found cpuset on at the root: it leaves it there; kvmlaunch/
     * stays, and gives cpuset back (vm2 was its last user). */
    assert_int_equal(cgroup_teardown_vm(&hr, &v2), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm2/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control", "");
    assert_fake(&e, "/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n");
    /* A journal of vm1's enables, replayed: */
    assert_int_equal(cgroup_release_cpuset(&hr, "/sys/fs/cgroup"), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    /* Another cgroup took CPUs from cpuset meanwhile: it stays on. */
    assert_int_equal(cgroup_setup_vm(&hr, &l, &c1, &p1, 4242, &v1), 0);
    assert_int_equal(test_sh("mkdir %s/sys/fs/cgroup/other.slice && printf '0-3\\n' > %s/sys/fs/cgroup/other.slice/cpuset.cpus", e.root, e.root),
                     0);
    assert_int_equal(cgroup_teardown_vm(&hr, &v1), 0);
    assert_fake(&e, "/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n");
    assert_int_equal(test_sh("rm -r %s/sys/fs/cgroup/other.slice", e.root), 0);
    assert_int_equal(cgroup_release_cpuset(&hr, "/sys/fs/cgroup"), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    placement_free(&p1);
    placement_free(&p2);
    vmconf_free(&c1);
    vmconf_free(&c2);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* A crashed run's dir is replaced at the next start; cleanup removes it;
 * threads slow to leave: EBUSY after the retries, then cleanup. */
static void test_v2_stale_busy_cleanup(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    VmConfig cfg;
    load(VM_A, &cfg);
    Placement p;
    placement_a(&p);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    cgroup_vm_free(&vm); /* the run crashed */
    fake_put(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.threads", "1111\n");
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.threads", "4243\n");
    /* cpuset was on at the root when this run came: not undone. */
    assert_true(vm.enabled[0].was_enabled);

    fake_put(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.events", "populated 1\nfrozen 0\n");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), -EBUSY);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu0/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.type", "threaded\n");
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm1"), -EBUSY);
    fake_put(&e, "/sys/fs/cgroup/kvmlaunch/vm1/vcpu1/cgroup.events", "populated 0\nfrozen 0\n");
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm1"), 0);
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm1"), 0); /* nothing left: fine */
    assert_int_equal(cgroup_cleanup(&hr, &l, ".."), -EINVAL);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.type", "domain\n");
    assert_int_equal(cgroup_release_cpuset(&hr, "/sys/fs/cgroup"), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

static void test_v2_delegated(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-delegated"), 0);
    const char *unit = "/sys/fs/cgroup/system.slice/kvmlaunch@vm1.service";
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    /* As checked in: not delegated, so the root. */
    open_root(&hr, &l);
    assert_string_equal(l.base, "/sys/fs/cgroup");
    assert_false(l.delegated);
    assert_non_null(strstr(l.why, "not delegated"));
    cgroup_layout_free(&l);
    hostroot_close(&hr);

    _cleanup_free_ char *unit_dir = xasprintf("%s%s", e.root, unit);
    if (setxattr(unit_dir, "user.delegate", "1", 1, 0) < 0) {
        int err = errno;
        fake_root_teardown(&e);
        skip_because("user xattrs do not work in the temp dir (%s): the delegated case is not tested", strerror(err));
    }
    open_root(&hr, &l);
    assert_true(l.delegated);
    assert_string_equal(l.base, unit);
    assert_string_equal(l.mount, "/sys/fs/cgroup");
    _cleanup_free_ char *cpus = cpulist_format(&l.cpus);
    assert_string_equal(cpus, "2-7");

    VmConfig cfg;
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 2\n[cpu]\npin = 2,5\n", &cfg);
    Placement p = { 0 };
    place(&p, THREAD_EMULATOR, -1, 4300, -1);
    place(&p, THREAD_VCPU, 0, 4301, 2);
    place(&p, THREAD_VCPU, 1, 4302, 5);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4300, &vm), 0);
    _cleanup_free_ char *sc = xasprintf("%s/cgroup.subtree_control", unit);
    assert_fake(&e, sc, "cpuset\n");
    _cleanup_free_ char *emu = xasprintf("%s/kvmlaunch/vm1/emulator/cpuset.cpus", unit);
    assert_fake(&e, emu, "2-7\n");
    _cleanup_free_ char *v1 = xasprintf("%s/kvmlaunch/vm1/vcpu1/cpuset.cpus.effective", unit);
    assert_fake(&e, v1, "5\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.type", "(missing)");
    assert_true(l.nested);
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_top_gone(&e, &hr, unit);

    /* CPU 1 lies outside the slice's 2-7: the kernel gives 2-7, setup
     * fails before moving a thread, teardown still undoes it all. */
    vmconf_free(&cfg);
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 2\n[cpu]\npin = 2,1\n", &cfg);
    p.t[2].cpus.cpu[0] = 1;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4300, &vm), -EXDEV);
    _cleanup_free_ char *procs = xasprintf("%s/kvmlaunch/vm1/emulator/cgroup.procs", unit);
    assert_fake(&e, procs, "");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_top_gone(&e, &hr, unit);
    cgroup_layout_free(&l);
    hostroot_close(&hr);

    /* Delegated without cpuset: back to the root, and why says so. */
    _cleanup_free_ char *ctl = xasprintf("%s/cgroup.controllers", unit);
    fake_put(&e, ctl, "cpu io memory pids\n");
    open_root(&hr, &l);
    assert_false(l.delegated);
    assert_string_equal(l.base, "/sys/fs/cgroup");
    assert_non_null(strstr(l.why, "delegated without cpuset"));

    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

static void test_v1(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup1"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    assert_int_equal(l.version, CGROUP_V1);
    assert_string_equal(l.mount, "/sys/fs/cgroup/cpuset");
    assert_string_equal(l.base, "/sys/fs/cgroup/cpuset");
    _cleanup_free_ char *cpus = cpulist_format(&l.cpus), *mems = cpulist_format(&l.mems);
    assert_string_equal(cpus, "0-1");
    assert_string_equal(mems, "0");

    VmConfig cfg;
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 2\n[cpu]\npin = 1,0\n", &cfg);
    Placement p = { 0 };
    place(&p, THREAD_EMULATOR, -1, 4242, -1);
    place(&p, THREAD_VCPU, 0, 4243, 1);
    place(&p, THREAD_VCPU, 1, 4244, 0);
    place(&p, THREAD_EMULATOR, -1, 4245, -1);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    assert_int_equal(vm.n_enabled, 0);
    _cleanup_free_ char *got = listing(&e, "/sys/fs/cgroup/cpuset/kvmlaunch");
    assert_string_equal(got,
                        "/sys/fs/cgroup/cpuset/kvmlaunch/cgroup.procs=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus=0-1|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.mems=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/tasks=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/cgroup.procs=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/cpuset.cpus=0-1|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/cpuset.mems=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/emulator/cgroup.procs=4242|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/emulator/cpuset.cpus=0-1|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/emulator/cpuset.mems=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/emulator/tasks=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/tasks=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu0/cgroup.procs=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu0/cpuset.cpus=1|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu0/cpuset.mems=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu0/tasks=4243|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu1/cgroup.procs=\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu1/cpuset.cpus=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu1/cpuset.mems=0|\n"
                        "/sys/fs/cgroup/cpuset/kvmlaunch/vm1/vcpu1/tasks=4244|\n");

    /* A second VM leaves kvmlaunch/'s values as they are. */
    fake_put(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus", "0-1\n");
    VmConfig c2;
    load("[vm]\nname = vm2\nmemory = 1G\nvcpus = 1\n", &c2);
    Placement p2 = { 0 };
    place(&p2, THREAD_EMULATOR, -1, 5000, -1);
    place(&p2, THREAD_VCPU, 0, 5001, -1);
    CgroupVm vm2;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &c2, &p2, 5000, &vm2), 0);
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/vm2/vcpu0/tasks", "5001\n");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm2), 0);
    /* v1 keeps kvmlaunch/'s CPUs and nodes for the next VM. */
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus", "0-1\n");
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/vm2/tasks", "(missing)");
    /* CPU 0 went offline and came back: v1 gave it back to the root only.
     * The next VM widens kvmlaunch/ again (its vm dir asks for 0-1). */
    fake_put(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus", "1\n");
    CgroupVm vm3;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &c2, &p2, 5000, &vm3), 0);
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus", "0-1\n");
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/vm2/cpuset.cpus", "0-1\n");
    assert_int_equal(cgroup_teardown_vm(&hr, &vm3), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup/cpuset");

    placement_free(&p);
    placement_free(&p2);
    vmconf_free(&cfg);
    vmconf_free(&c2);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* Issue 22, v1: kvmlaunch runs in a cpuset cgroup of its own (a Slurm
 * job's): the VM's tree goes under it, within its CPUs, and the
 * allocation says where it comes from. A crashed run's tree is found
 * through the record by a cleanup that runs in another cgroup (the root). */
/* The job's cgroup as the test made it, with nothing of ours left in it. */
static void assert_job_bare(const Env *e, const HostRoot *hr, const char *job) {
    StrVec sub = STRVEC_INIT;
    assert_int_equal(hostroot_list(hr, job, true, &sub), 0);
    if (sub.n) fail_msg("%s still has %s", job, sub.v[0]);
    strvec_clear(&sub);
    _cleanup_free_ char *got = listing(e, job);
    _cleanup_free_ char *want = xasprintf("%s/cpuset.cpus=1|\n%s/cpuset.mems=0|\n%s/tasks=4000|\n", job, job, job);
    assert_string_equal(got, want);
}

static void test_v1_nested(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup1"), 0);
    const char *job = "/sys/fs/cgroup/cpuset/slurm/uid_0/job_7";
    _cleanup_free_ char *jc = xasprintf("%s/cpuset.cpus", job), *jm = xasprintf("%s/cpuset.mems", job);
    _cleanup_free_ char *je = xasprintf("%s/cpuset.effective_cpus", job), *jt = xasprintf("%s/tasks", job);
    assert_int_equal(fake_root_write(&e, "/proc/self/cgroup", "4:memory:/x\n3:cpuset:/slurm/uid_0/job_7\n0::/\n"), 0);
    assert_int_equal(fake_root_write(&e, jc, "1\n"), 0);
    assert_int_equal(fake_root_write(&e, jm, "0\n"), 0);
    assert_int_equal(fake_root_write(&e, je, "1\n"), 0);
    assert_int_equal(fake_root_write(&e, jt, "4000\n"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    assert_int_equal(l.version, CGROUP_V1);
    assert_string_equal(l.base, job);
    assert_true(l.nested);
    assert_non_null(strstr(l.why, "own cpuset cgroup /slurm/uid_0/job_7"));
    _cleanup_free_ char *cpus = cpulist_format(&l.cpus);
    assert_string_equal(cpus, "1");
    AllocFacts a;
    hostfacts_probe_allocation(&hr, &l, &a);
    assert_true(a.cpus_known);
    _cleanup_free_ char *ac = cpulist_format(&a.cpus);
    assert_string_equal(ac, "1");
    assert_non_null(strstr(a.cpus_from, job));
    assert_non_null(strstr(a.cpus_from, "cpuset.effective_cpus"));
    allocfacts_free(&a);

    VmConfig cfg;
    load("[vm]\nname = vm1\nmemory = 1G\nvcpus = 1\n[cpu]\npin = 1\n", &cfg);
    Placement p = { 0 };
    place(&p, THREAD_EMULATOR, -1, 4242, -1);
    place(&p, THREAD_VCPU, 0, 4243, 1);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    _cleanup_free_ char *vt = xasprintf("%s/kvmlaunch/vm1/vcpu0/tasks", job), *kc = xasprintf("%s/kvmlaunch/cpuset.cpus", job);
    assert_fake(&e, vt, "4243\n");
    assert_fake(&e, kc, "1\n");
    assert_fake(&e, "/sys/fs/cgroup/cpuset/kvmlaunch/cpuset.cpus", "(missing)");
    /* A clean end: kvmlaunch/ goes too. */
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_job_bare(&e, &hr, job);

    /* A crash: the record leads a cleanup run from the root cgroup there. */
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), 0);
    assert_int_equal(cgroup_record(&vm, "vm1"), 0);
    _cleanup_free_ char *vmdir = xasprintf("%s/kvmlaunch/vm1", job);
    play_dead(&e, vmdir);
    cgroup_vm_free(&vm);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    assert_int_equal(fake_root_write(&e, "/proc/self/cgroup", "3:cpuset:/\n"), 0);
    open_root(&hr, &l);
    assert_string_equal(l.base, "/sys/fs/cgroup/cpuset");
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm1"), 0);
    assert_true(hostroot_exists(&hr, vmdir));
    assert_int_equal(cgroup_record_release(&hr, "vm1"), 0);
    assert_false(hostroot_exists(&hr, vmdir));
    assert_fake(&e, "/proc/self/cgroup", "3:cpuset:/\n");
    assert_job_bare(&e, &hr, job);

    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

static bool running_vm2(const char *name) { return streq(name, "vm2"); }

/* `cleanup --all`: every dead VM's cgroups go, kvmlaunch/ stays; a VM its
 * runtime dir calls running, or whose cgroup still has threads (one of
 * another runtime dir), is left alone. */
static void test_cleanup_dead(void **state) {
    (void)state;
    Env e;
    assert_int_equal(fake_root_setup(&e, "cgroup2-numa2"), 0);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    static const char *const names[] = { "vm1", "vm2", "vm3" };
    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        VmConfig cfg;
        _cleanup_free_ char *ini = xasprintf("[vm]\nname = %s\nmemory = 1G\nvcpus = 1\n", names[i]);
        load(ini, &cfg);
        Placement p = { 0 };
        place(&p, THREAD_EMULATOR, -1, 4000 + 10 * (int)i, -1);
        place(&p, THREAD_VCPU, 0, 4001 + 10 * (int)i, -1);
        CgroupVm vm;
        assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4000 + 10 * (int)i, &vm), 0);
        cgroup_vm_free(&vm); /* every run crashed */
        placement_free(&p);
        vmconf_free(&cfg);
    }
    play_dead(&e, "/sys/fs/cgroup/kvmlaunch/vm1");
    play_dead(&e, "/sys/fs/cgroup/kvmlaunch/vm2");
    /* vm3's threads are still listed: not dead, whatever its runtime says. */
    assert_int_equal(cgroup_cleanup_dead(&hr, &l, running_vm2), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm1/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm2/vcpu0/cgroup.type", "threaded\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm3/vcpu0/cgroup.threads", "4021\n");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/cgroup.subtree_control", "cpuset\n");

    /* Once vm3's threads are gone and vm2 stopped: all of it. */
    play_dead(&e, "/sys/fs/cgroup/kvmlaunch/vm3");
    assert_int_equal(cgroup_cleanup_dead(&hr, &l, running_vm2), 0);
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm3/cgroup.type", "(missing)");
    assert_fake(&e, "/sys/fs/cgroup/kvmlaunch/vm2/cgroup.type", "domain\n");
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm2"), 0);
    assert_int_equal(cgroup_cleanup_dead(&hr, &l, running_vm2), 0); /* nothing left: fine */
    assert_int_equal(cgroup_release_cpuset(&hr, "/sys/fs/cgroup"), 0);
    assert_top_bare(&e, &hr, "/sys/fs/cgroup");

    cgroup_layout_free(&l);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

/* No cpuset anywhere: not an error for detect, refused by setup. */
static void test_none(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-cgroup-none-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(test_sh("mkdir -p %s/proc/self && printf 'proc /proc proc rw 0 0\\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\\n' > %s/proc/mounts"
                        " && mkdir -p %s/sys/fs/cgroup && printf 'cpu io memory\\n' > %s/sys/fs/cgroup/cgroup.controllers",
                        dir, dir, dir, dir),
                     0);
    setenv("KVMLAUNCH_ROOT", dir, 1);
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    open_root(&hr, &l);
    assert_int_equal(l.version, CGROUP_NONE);
    assert_non_null(strstr(l.why, "no cpuset cgroup hierarchy"));
    VmConfig cfg;
    load(VM_A, &cfg);
    Placement p;
    placement_a(&p);
    CgroupVm vm;
    assert_int_equal(cgroup_setup_vm(&hr, &l, &cfg, &p, 4242, &vm), -EOPNOTSUPP);
    assert_int_equal(cgroup_teardown_vm(&hr, &vm), 0);
    assert_int_equal(cgroup_cleanup(&hr, &l, "vm1"), 0);
    assert_int_equal(cgroup_cleanup_dead(&hr, &l, running_vm2), 0);
    /* A bad mounts line is an error. */
    cgroup_layout_free(&l);
    assert_int_equal(test_sh("printf 'cgroup2\\n' > %s/proc/mounts", dir), 0);
    assert_int_equal(cgroup_detect(&hr, &l), -EINVAL);
    placement_free(&p);
    vmconf_free(&cfg);
    hostroot_close(&hr);
    unsetenv("KVMLAUNCH_ROOT");
    test_sh("rm -rf %s", dir);
}

/* ---- for real (--real) ---- */

static int ready_pipe[2], go_pipe[2];

static void *idle_thread(void *arg) {
    (void)arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (write(ready_pipe[1], &tid, sizeof(tid)) != sizeof(tid)) _exit(1);
    for (;;) pause();
    return NULL;
}

/* A process with two threads now ("vcpu0", "vcpu1") and a third one
 * started on request (a thread QEMU starts after the Placement is made). */
static void child_main(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that crashed leaves no process */
    pthread_t t;
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t, NULL, idle_thread, NULL)) _exit(1);
    char c;
    if (read(go_pipe[0], &c, 1) != 1) _exit(0);
    if (pthread_create(&t, NULL, idle_thread, NULL)) _exit(1);
    for (;;) pause();
}

static pid_t read_tid(void) {
    pid_t tid;
    if (read(ready_pipe[0], &tid, sizeof(tid)) != sizeof(tid)) return -1;
    return tid;
}

/* The cgroup of TID in the cpuset hierarchy, from /proc/PID/task/TID/cgroup. */
static char *cgroup_of(pid_t pid, pid_t tid, CgroupVersion v) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/cgroup", (long)pid, (long)tid);
    FILE *f = fopen(path, "r");
    if (!f) return xstrdup("(gone)");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = NULL;
    if (cgroup_parse_self(buf, v, &p) < 0) return xstrdup("(none)");
    return p;
}

static int cpu_of(pid_t tid) {
    cpu_set_t s;
    if (sched_getaffinity(tid, sizeof(s), &s) < 0 || CPU_COUNT(&s) != 1) return -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &s)) return c;
    return -1;
}

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAIL: " __VA_ARGS__);        \
            fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__); \
            failed = true;                                \
        }                                                 \
    } while (0)

static int real_main(void) {
    if (geteuid() != 0) {
        return skip_program("needs root (it creates cgroups)");
    }
    unsetenv("KVMLAUNCH_ROOT");
    HostRoot hr = HOSTROOT_INIT;
    CgroupLayout l;
    if (hostroot_open(&hr) < 0 || cgroup_detect(&hr, &l) < 0) return 1;
    if (l.version == CGROUP_NONE) {
        int rc = skip_program("%s", l.why);
        cgroup_layout_free(&l);
        hostroot_close(&hr);
        return rc;
    }
    /* kvmlaunch/ may be there (it stays once made) and hold other VMs;
     * this test touches only its own kltest-PID. */
    _cleanup_free_ char *top = xasprintf("%s/" CGROUP_TOP, l.base);
    printf("%s\n", l.why);
    bool failed = false;
    int cpu_a = l.cpus.cpu[l.cpus.n - 1], cpu_b = l.cpus.cpu[0];
    if (pipe(ready_pipe) < 0 || pipe(go_pipe) < 0) return 1;
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) child_main();
    pid_t t1 = read_tid(), t2 = read_tid();
    CHECK(t1 > 0 && t2 > 0, "the child's threads did not start");

    _cleanup_free_ char *ini = xasprintf("[vm]\nname = kltest-%ld\nmemory = 64M\nvcpus = 2\n[cpu]\npin = %d,%d\n", (long)getpid(), cpu_a, cpu_b);
    VmConfig cfg;
    ErrList el = { 0 };
    if (vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el) < 0) {
        fprintf(stderr, "FAIL: %s\n", el.n ? el.e[0].msg : "load");
        kill(pid, SIGKILL);
        return 1;
    }
    Placement p = { 0 };
    place(&p, THREAD_EMULATOR, -1, pid, -1);
    place(&p, THREAD_VCPU, 0, t1, cpu_a);
    place(&p, THREAD_VCPU, 1, t2, cpu_b);
    /* A thread started after the Placement: cgroup.procs moves it too. */
    if (write(go_pipe[1], "x", 1) != 1) return 1;
    pid_t t3 = read_tid();

    CgroupVm vm;
    int r = cgroup_setup_vm(&hr, &l, &cfg, &p, pid, &vm);
    CHECK(r == 0, "cgroup_setup_vm: %s", strerror(-r));
    _cleanup_free_ char *rel = xstrdup(vm.dir ? vm.dir + strlen(l.mount) : "?");
    const struct { pid_t tid; const char *group; int cpu; } want[] = {
        { pid, "emulator", -1 }, { t3, "emulator", -1 }, { t1, "vcpu0", cpu_a }, { t2, "vcpu1", cpu_b },
    };
    for (size_t i = 0; r == 0 && i < ELEMENTSOF(want); i++) {
        _cleanup_free_ char *got = cgroup_of(pid, want[i].tid, l.version);
        _cleanup_free_ char *exp = xasprintf("%s/%s", rel, want[i].group);
        CHECK(streq(got, exp), "tid %ld is in %s, expected %s", (long)want[i].tid, got, exp);
        if (want[i].cpu >= 0) CHECK(cpu_of(want[i].tid) == want[i].cpu, "tid %ld runs on CPU %d, expected %d", (long)want[i].tid, cpu_of(want[i].tid),
                                    want[i].cpu);
        printf("tid %ld in %s%s\n", (long)want[i].tid, l.mount, got);
    }
    /* While the threads live, rmdir is refused: EBUSY after the retries. */
    CgroupVm busy = { .version = vm.version, .dir = vm.dir ? xstrdup(vm.dir) : NULL };
    CHECK(!vm.dir || cgroup_teardown_vm(&hr, &busy) == -EBUSY, "teardown with live threads did not fail with EBUSY");
    cgroup_vm_free(&busy);
    CHECK(!vm.dir || hostroot_exists(&hr, vm.dir), "the VM's cgroup went while its threads live");

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    _cleanup_free_ char *vmdir = xasprintf("%s/%s", top, cfg.vm.name);
    r = cgroup_teardown_vm(&hr, &vm);
    CHECK(r == 0, "cgroup_teardown_vm: %s", strerror(-r));
    CHECK(!hostroot_exists(&hr, vmdir), "%s is left", vmdir);
    CHECK(hostroot_exists(&hr, top), "%s went: it stays for the next VM", top);
    /* What a crash leaves, removed by cleanup. */
    pid = fork();
    if (pid == 0) child_main();
    t1 = read_tid();
    t2 = read_tid();
    p.t[0].tid = pid;
    p.t[1].tid = t1;
    p.t[2].tid = t2;
    r = cgroup_setup_vm(&hr, &l, &cfg, &p, pid, &vm);
    CHECK(r == 0, "cgroup_setup_vm again: %s", strerror(-r));
    cgroup_vm_free(&vm);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    r = cgroup_cleanup(&hr, &l, cfg.vm.name);
    CHECK(r == 0, "cgroup_cleanup: %s", strerror(-r));
    CHECK(!hostroot_exists(&hr, vmdir), "%s is left after cleanup", vmdir);
    CHECK(hostroot_exists(&hr, top), "%s went in cleanup: it stays", top);

    placement_free(&p);
    vmconf_free(&cfg);
    cgroup_layout_free(&l);
    hostroot_close(&hr);
    printf("%s\n", failed ? "FAILED" : "ok: threads placed, cgroups removed");
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && streq(argv[1], "--real")) return real_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_mounts), cmocka_unit_test(test_parse_self),
        cmocka_unit_test(test_groups_and_plan), cmocka_unit_test(test_groups_from_placement),
        cmocka_unit_test(test_v2_root), cmocka_unit_test(test_v2_live_repin), cmocka_unit_test(test_v2_shared),
        cmocka_unit_test(test_v2_stale_busy_cleanup), cmocka_unit_test(test_v2_delegated),
        cmocka_unit_test(test_v1), cmocka_unit_test(test_v1_nested), cmocka_unit_test(test_cleanup_dead), cmocka_unit_test(test_none),
    };
    /* Every HostRoot of these tests has the fake kernel's ops (it leaves
     * the real host alone: --real has none). */
    fake_cgroup_install();
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    fake_cgroup_uninstall();
    return r;
}
