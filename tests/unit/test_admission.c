/* Admission (issue 20, items 3 and 4): the memory figures read through a
 * HostRoot, the verdict for each overcommit mode, what other running VMs may
 * still take, the parsers of /proc/PID/{cmdline,status,fdinfo}, which disk
 * uses clash, the probe of a running VM found through its runtime dir, and
 * `check` on a test tree whose MemAvailable is too small. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admission.h"
#include "check.h"
#include "fake_root.h"
#include "hostfacts.h"
#include "peervms.h"
#include "runtime.h"
#include "util.h"
#include "vmconf.h"
#include "vmplan.h"

#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

static void load(const char *text, VmConfig *cfg) {
    ErrList el = { 0 };
    int r = vmconf_load_buffer("t.ini", text, strlen(text), cfg, &el);
    if (r < 0) fail_msg("%s", el.n ? el.e[0].msg : "load failed");
}

static const char meminfo_24g[] = "MemTotal:       24683620 kB\n"
                                  "MemFree:        24234448 kB\n"
                                  "MemAvailable:   24338028 kB\n"
                                  "SwapTotal:       2097148 kB\n"
                                  "CommitLimit:    14439956 kB\n"
                                  "Committed_AS:     651236 kB\n"
                                  "Hugepagesize:       2048 kB\n";

static void test_meminfo(void **state) {
    (void)state;
    MemFacts m;
    assert_int_equal(memfacts_parse_meminfo(meminfo_24g, &m), 0);
    assert_true(m.known);
    assert_int_equal(m.total, (uint64_t)24683620 << 10);
    assert_int_equal(m.available, (uint64_t)24338028 << 10);
    assert_int_equal(m.commit_limit, (uint64_t)14439956 << 10);
    assert_int_equal(m.committed, (uint64_t)651236 << 10);
    /* A kernel before 3.14 has no MemAvailable: not known, not guessed. */
    assert_int_equal(memfacts_parse_meminfo("MemTotal:  1000 kB\nMemFree:  900 kB\n", &m), -ENOENT);
    assert_false(m.known);
}

/* Through the HostRoot: the test tree decides, overcommit mode and all. */
static void test_probe_memory_tree(void **state) {
    (void)state;
    FakeRoot e;
    assert_int_equal(fake_root_setup(&e, "cgroup1"), 0);
    assert_int_equal(fake_root_write(&e, "/proc/meminfo", "MemTotal:  4194304 kB\nMemAvailable:  1048576 kB\nCommitLimit:  2097152 kB\n"
                                                          "Committed_AS:  1572864 kB\n"), 0);
    assert_int_equal(fake_root_write(&e, "/proc/sys/vm/overcommit_memory", "2\n"), 0);
    HostRoot hr = HOSTROOT_INIT;
    assert_int_equal(hostroot_open(&hr), 0);
    MemFacts m;
    hostfacts_probe_memory(&hr, &m);
    assert_true(m.known);
    assert_int_equal(m.available, GiB);
    assert_int_equal(m.total, 4 * GiB);
    assert_true(m.overcommit_known);
    assert_int_equal(m.overcommit, 2);
    assert_int_equal(m.commit_limit - m.committed, 512 * MiB);
    /* No overcommit file: the kernel's default, 0, and said unknown. */
    assert_int_equal(test_sh("rm %s/proc/sys/vm/overcommit_memory", e.root), 0);
    hostfacts_probe_memory(&hr, &m);
    assert_false(m.overcommit_known);
    assert_int_equal(m.overcommit, 0);
    hostroot_close(&hr);
    fake_root_teardown(&e);
}

static MemFacts facts(uint64_t available, int mode) {
    MemFacts m = { .known = true, .total = 2 * available, .available = available, .overcommit = mode, .overcommit_known = true };
    return m;
}

static void test_memory_verdict(void **state) {
    (void)state;
    VmConfig cfg;
    PeerVms none = { 0 };
    MemVerdict v;
    load("[vm]\nname = t\nmemory = 8G\nvcpus = 1\n", &cfg);
    MemAsk ask = admission_memory_ask(&cfg, true, 0);
    assert_int_equal(ask.guest, 8 * GiB);
    assert_int_equal(ask.overhead, ADMIT_QEMU_OVERHEAD);
    assert_int_equal(ask.commit, 8 * GiB + ADMIT_QEMU_OVERHEAD + ADMIT_TCG_CODE_BUFFER);
    assert_false(ask.touches_all);

    /* Fits, near (less than 10 % left), over: 8G + 128M against 20G, 9G, 8G. */
    MemFacts m = facts(20 * GiB, 0);
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_FITS);
    assert_int_equal(v.need, 8 * GiB + ADMIT_QEMU_OVERHEAD);
    assert_int_equal(v.limit, 20 * GiB);
    m = facts(9 * GiB, 0);
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_NEAR);
    m = facts(8 * GiB, 0);
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_OVER);
    /* The case: 64G on a 24 GiB host. */
    vmconf_free(&cfg);
    load("[vm]\nname = t\nmemory = 64G\nvcpus = 1\n", &cfg);
    ask = admission_memory_ask(&cfg, false, 0);
    m = facts((uint64_t)24338028 << 10, 0);
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_OVER);
    /* overcommit_memory = 1: the admin's choice, a warning... */
    m.overcommit = 1;
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_OVERCOMMITTED);
    /* ...unless every page is touched at start. */
    vmconf_free(&cfg);
    load("[vm]\nname = t\nmemory = 64G\nvcpus = 1\n[memory]\nprealloc = yes\n", &cfg);
    ask = admission_memory_ask(&cfg, false, 0);
    assert_true(ask.touches_all);
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_OVER);
    /* No MemAvailable: not counted. */
    m.known = false;
    admission_memory(&ask, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_UNKNOWN);
    vmconf_free(&cfg);
}

/* overcommit_memory = 2: the commit room, when tighter, is the limit; it
 * counts TCG's code buffer, and no huge pages. */
static void test_memory_strict(void **state) {
    (void)state;
    VmConfig cfg;
    PeerVms none = { 0 };
    MemVerdict v;
    load("[vm]\nname = t\nmemory = 2G\nvcpus = 1\n", &cfg);
    MemFacts m = facts(20 * GiB, 2);
    m.commit_limit = 12 * GiB;
    m.committed = 10 * GiB; /* 2 GiB of room: 2G + 128M + 1G under TCG does not fit */
    MemAsk tcg = admission_memory_ask(&cfg, true, 0), kvm = admission_memory_ask(&cfg, false, 0);
    admission_memory(&tcg, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_OVER);
    assert_true(v.by_commit);
    assert_int_equal(v.limit, 2 * GiB);
    assert_int_equal(v.need, 3 * GiB + ADMIT_QEMU_OVERHEAD);
    m.committed = 9 * GiB; /* 3 GiB: without TCG 2G + 128M fits, with 30 % spare */
    admission_memory(&kvm, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_FITS);
    assert_true(v.by_commit); /* 2.1 of 3 is a tighter share than 2.1 of 20 */
    /* The same under heuristic overcommit: CommitLimit plays no part. */
    m.overcommit = 0;
    m.committed = 12 * GiB;
    admission_memory(&tcg, &m, &none, &v);
    assert_int_equal(v.level, ADMIT_FITS);
    assert_false(v.by_commit);
    vmconf_free(&cfg);
}

/* backing = hugepages: the pool holds the guest RAM; only the pages still
 * to reserve come out of MemAvailable, and none count for commit. */
static void test_memory_hugepages(void **state) {
    (void)state;
    VmConfig cfg;
    load("[vm]\nname = t\nmemory = 1G\nvcpus = 1\n[memory]\nbacking = hugepages\nhugepage-size = 2M\nreserve-hugepages = yes\n", &cfg);
    MemAsk a = admission_memory_ask(&cfg, false, 412); /* 512 needed */
    assert_int_equal(a.hugepages_to_reserve, 100 * 2 * MiB);
    assert_int_equal(a.guest, 200 * MiB);
    assert_int_equal(a.commit, ADMIT_QEMU_OVERHEAD);
    a = admission_memory_ask(&cfg, false, 600);
    assert_int_equal(a.guest, 0);
    vmconf_free(&cfg);
    load("[vm]\nname = t\nmemory = 1G\nvcpus = 1\n[memory]\nbacking = hugepages\nhugepage-size = 2M\n", &cfg);
    a = admission_memory_ask(&cfg, false, 0); /* no reserve: the plan refuses it, not this */
    assert_int_equal(a.guest, 0);
    assert_true(a.touches_all); /* prealloc is the default with huge pages */
    vmconf_free(&cfg);
}

/* Other VMs: what they may still take is their claim less what is resident. */
static void test_memory_peers(void **state) {
    (void)state;
    PeerVm v[4] = {
        { .name = (char *)"half", .qemu = 100, .memory = 4 * GiB, .rss = 2 * GiB },
        { .name = (char *)"full", .qemu = 101, .memory = 1 * GiB, .rss = 2 * GiB },
        { .name = (char *)"huge", .qemu = 102, .memory = 8 * GiB, .hugetlb = 8 * GiB, .rss = 28 * MiB },
        { .name = (char *)"unread", .qemu = 103, .err = -EACCES, .memory = 0 },
    };
    assert_int_equal(admission_peer_outstanding(&v[0]), 2 * GiB + ADMIT_QEMU_OVERHEAD);
    assert_int_equal(admission_peer_outstanding(&v[1]), 0);
    assert_int_equal(admission_peer_outstanding(&v[2]), ADMIT_QEMU_OVERHEAD - 28 * MiB);
    assert_int_equal(admission_peer_outstanding(&v[3]), 0);
    PeerVms peers = { v, 4 };
    VmConfig cfg;
    load("[vm]\nname = t\nmemory = 6G\nvcpus = 1\n", &cfg);
    MemAsk ask = admission_memory_ask(&cfg, false, 0);
    MemFacts m = facts(9 * GiB, 0);
    MemVerdict out;
    admission_memory(&ask, &m, &peers, &out);
    assert_int_equal(out.n_others, 3);
    assert_int_equal(out.others, 2 * GiB + 2 * ADMIT_QEMU_OVERHEAD - 28 * MiB);
    assert_int_equal(out.limit, 9 * GiB - out.others);
    assert_int_equal(out.level, ADMIT_NEAR); /* 6.1 of 6.8 GiB */
    m = facts(8 * GiB, 0);
    admission_memory(&ask, &m, &peers, &out);
    assert_int_equal(out.level, ADMIT_OVER); /* 6.1 of 5.8 GiB: alone it would fit */
    vmconf_free(&cfg);
}

static void test_parse_proc(void **state) {
    (void)state;
    static const char cmd[] = "/usr/bin/qemu-system-x86_64\0-name\0guest=kla,debug-threads=on\0-m\0256M\0-object\0"
                              "{\"qom-type\":\"memory-backend-ram\",\"id\":\"ram-node0\",\"size\":268435456,\"share\":false}\0"
                              "-object\0{\"qom-type\":\"iothread\",\"id\":\"io0\"}\0";
    uint64_t mem, huge;
    assert_int_equal(peervm_parse_cmdline(cmd, sizeof(cmd) - 1, "kla", &mem, &huge), 0);
    assert_int_equal(mem, 256 * MiB);
    assert_int_equal(huge, 0);
    /* A pid reused by another VM's QEMU, or by anything else. */
    assert_int_equal(peervm_parse_cmdline(cmd, sizeof(cmd) - 1, "kl", &mem, &huge), -ESRCH);
    assert_int_equal(peervm_parse_cmdline(cmd, sizeof(cmd) - 1, "klab", &mem, &huge), -ESRCH);
    assert_int_equal(peervm_parse_cmdline("sleep\0" "100\0", 10, "kla", &mem, &huge), -ESRCH);
    static const char nomem[] = "qemu\0-name\0guest=kla\0";
    assert_int_equal(peervm_parse_cmdline(nomem, sizeof(nomem) - 1, "kla", &mem, &huge), -ENOENT);
    static const char hugetlb[] = "qemu\0-name\0guest=klh,debug-threads=on\0-object\0"
                                  "{\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"size\":1073741824,\"hugetlb\":true,\"hugetlbsize\":2097152}";
    assert_int_equal(peervm_parse_cmdline(hugetlb, sizeof(hugetlb) - 1, "klh", &mem, &huge), 0);
    assert_int_equal(huge, GiB);
    static const char mempath[] = "qemu\0-name\0guest=klp\0-object\0"
                                  "{\"qom-type\":\"memory-backend-file\",\"id\":\"ram-node0\",\"size\":2147483648,\"mem-path\":\"/dev/hugepages\"}\0";
    assert_int_equal(peervm_parse_cmdline(mempath, sizeof(mempath) - 1, "klp", &mem, &huge), 0);
    assert_int_equal(mem, 2 * GiB);
    assert_int_equal(huge, 2 * GiB);

    int flags;
    assert_int_equal(peervm_parse_fdinfo_flags("pos:\t16777216\nflags:\t02100002\nmnt_id:\t31\nino:\t42\n", &flags), 0);
    assert_int_equal(flags & O_ACCMODE, O_RDWR);
    assert_int_equal(peervm_parse_fdinfo_flags("pos:\t0\nflags:\t02100000\n", &flags), 0);
    assert_int_equal(flags & O_ACCMODE, O_RDONLY);
    assert_int_equal(peervm_parse_fdinfo_flags("pos:\t0\n", &flags), -EINVAL);

    uint64_t rss;
    assert_int_equal(peervm_parse_rss("Name:\tqemu\nVmHWM:\t  230000 kB\nVmRSS:\t  224932 kB\nRssAnon:\t  200744 kB\n", &rss), 0);
    assert_int_equal(rss, (uint64_t)224932 << 10);
    assert_int_equal(peervm_parse_rss("Name:\tzombie\nState:\tZ (zombie)\n", &rss), -ENOENT);
}

static void test_disk_holder(void **state) {
    (void)state;
    PeerFile a_files[] = { { .dev = 8, .ino = 42, .writable = true }, { .dev = 8, .ino = 43, .writable = false } };
    PeerFile b_files[] = { { .dev = 8, .ino = 43, .writable = false }, { .rdev = makedev(8, 16), .writable = true } };
    PeerVm v[2] = { { .name = (char *)"a", .qemu = 10, .files = a_files, .n_files = 2 }, { .name = (char *)"b", .qemu = 11, .files = b_files, .n_files = 2 } };
    PeerVms peers = { v, 2 };
    struct stat written = { .st_mode = S_IFREG | 0644, .st_dev = 8, .st_ino = 42 }, shared = { .st_mode = S_IFREG | 0644, .st_dev = 8, .st_ino = 43 },
                other = { .st_mode = S_IFREG | 0644, .st_dev = 9, .st_ino = 42 }, blk = { .st_mode = S_IFBLK | 0660, .st_dev = 5, .st_ino = 42, .st_rdev = makedev(8, 16) };
    bool w = false;
    /* Written there: refused to a writer and to a reader here. */
    assert_ptr_equal(admission_disk_holder(&peers, &written, true, &w), &v[0]);
    assert_true(w);
    assert_ptr_equal(admission_disk_holder(&peers, &written, false, &w), &v[0]);
    /* Read there by two VMs: a reader here shares, a writer is refused. */
    assert_null(admission_disk_holder(&peers, &shared, false, &w));
    assert_ptr_equal(admission_disk_holder(&peers, &shared, true, &w), &v[0]);
    assert_false(w);
    /* Same inode number on another filesystem: another file. */
    assert_null(admission_disk_holder(&peers, &other, true, &w));
    /* A block device is known by its device number, whatever node names it. */
    assert_ptr_equal(admission_disk_holder(&peers, &blk, false, &w), &v[1]);
    PeerVms none = { 0 };
    assert_null(admission_disk_holder(&none, &written, true, &w));
}

/* A running VM as the runtime dir records it: our own lock, and a child
 * whose command line is a QEMU's and which holds a file read-write. */
static void test_probe_peer(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-admit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *run = xasprintf("%s/run", dir), *img = xasprintf("%s/disk.img", dir);
    setenv("KVMLAUNCH_RUNDIR", run, 1);
    assert_int_equal(test_sh("truncate -s 1M %s", img), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* exec 3<> opens it read-write and keeps it; the arguments after
         * the script are what /proc/PID/cmdline shows. */
        execl("/bin/sh", "sh", "-c", "exec 3<>\"$1\"; exec 4<\"$1\"; while :; do sleep 1; done", "sh", img, "-name", "guest=klpeer,debug-threads=on",
              "-object", "{\"qom-type\":\"memory-backend-ram\",\"id\":\"ram-node0\",\"size\":67108864}", (char *)NULL);
        _exit(127);
    }
    Runtime rt = RUNTIME_INIT;
    assert_int_equal(runtime_acquire("klpeer", &rt, NULL), 0);
    assert_int_equal(runtime_write_pids(&rt, getpid(), child), 0);
    /* The shell opens the file after the fork: wait until it holds it. */
    PeerVms peers = { 0 };
    struct stat st;
    assert_int_equal(stat(img, &st), 0);
    bool w = false;
    const PeerVm *holder = NULL;
    for (int i = 0; i < 100 && !holder; i++) {
        peervms_free(&peers);
        assert_int_equal(peervms_probe(NULL, &peers), 0);
        holder = admission_disk_holder(&peers, &st, false, &w);
        if (!holder) usleep(20000);
    }
    assert_non_null(holder);
    assert_string_equal(holder->name, "klpeer");
    assert_int_equal(holder->qemu, child);
    assert_int_equal(holder->err, 0);
    assert_true(w);
    assert_int_equal(holder->memory, 64 * MiB);
    assert_true(holder->rss > 0);
    /* EXCEPT leaves the VM itself out: a run does not meet its own name. */
    peervms_free(&peers);
    assert_int_equal(peervms_probe("klpeer", &peers), 0);
    assert_int_equal(peers.n, 0);
    /* Its pid file naming a process that is no QEMU of it: gone. */
    assert_int_equal(runtime_write_pids(&rt, getpid(), getpid()), 0);
    assert_int_equal(peervms_probe(NULL, &peers), 0);
    assert_int_equal(peers.n, 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    runtime_release(&rt);
    peervms_free(&peers);
    test_sh("rm -rf %s", dir);
    unsetenv("KVMLAUNCH_RUNDIR");
}

static bool has_line(const CheckReport *r, CheckLevel level, const char *topic, const char *part) {
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].level == level && streq(r->v[i].topic, topic) && strstr(r->v[i].msg, part)) return true;
    return false;
}

static void print_report(const CheckReport *r) { check_report_print(stderr, r); }

/* `check` on a test tree: MemAvailable 1 GiB refuses 2G, naming the
 * figures, warns at 900M, passes 256M. */
static void test_check_on_tree(void **state) {
    (void)state;
    FakeRoot e;
    assert_int_equal(fake_root_setup(&e, "cgroup1"), 0);
    assert_int_equal(fake_root_write(&e, "/proc/meminfo", "MemTotal:  4194304 kB\nMemFree:  1048576 kB\nMemAvailable:  1048576 kB\n"), 0);
    static const char huge[] = "\n[memory]\nbacking = hugepages\nhugepage-size = 2M\nreserve-hugepages = yes\n";
    static const struct { const char *mem, *more; CheckLevel level; const char *part; } cases[] = {
        { "2G", "", CHECK_FAIL, "t.ini:3: [vm] memory: expected at most what this host can give, found 2G: with QEMU's own 128 MiB it needs 2.1 GiB, "
                            "and this host can give 1.0 GiB (MemAvailable 1.0 GiB, no other VM running)" },
        { "832M", "", CHECK_WARN, "t.ini:3: [vm] memory: 832M leaves less than 10% to spare: with QEMU's own 128 MiB it needs 960 MiB" },
        { "256M", "", CHECK_PASS, "256M fits: with QEMU's own 128 MiB it needs 384 MiB, and this host can give 1.0 GiB" },
        /* The tree has no free huge page: all 1G would be reserved from free memory. */
        { "1G", huge, CHECK_FAIL, "found 1G of huge pages (1.0 GiB of them still to reserve): with QEMU's own 128 MiB it needs 1.1 GiB" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        VmConfig cfg;
        _cleanup_free_ char *ini = xasprintf("[vm]\nname = t\nmemory = %s\nvcpus = 1\naccel = tcg\nserial = none\nuser = nobody\n%s", cases[i].mem,
                                          cases[i].more);
        load(ini, &cfg);
        VmPlan p;
        if (vmplan_make(&cfg, &p) < 0) fail_msg("plan: %s", p.errors.n ? p.errors.e[0].msg : "?");
        CheckReport r;
        check_vm(&cfg, &p, false, &r);
        if (!has_line(&r, cases[i].level, "memory", cases[i].part)) {
            print_report(&r);
            fail_msg("memory = %s: no line with %s", cases[i].mem, cases[i].part);
        }
        assert_int_equal(r.fails, cases[i].level == CHECK_FAIL ? 1 : 0);
        check_report_free(&r);
        vmplan_free(&p);
        vmconf_free(&cfg);
    }
    fake_root_teardown(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meminfo),        cmocka_unit_test(test_probe_memory_tree), cmocka_unit_test(test_memory_verdict),
        cmocka_unit_test(test_memory_strict),  cmocka_unit_test(test_memory_hugepages),  cmocka_unit_test(test_memory_peers),
        cmocka_unit_test(test_parse_proc),     cmocka_unit_test(test_disk_holder),       cmocka_unit_test(test_probe_peer),
        cmocka_unit_test(test_check_on_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
