/* Parsers of kernel files: on text captured from a real host (Linux 6.18,
 * 2 CPUs, one node, cgroup v1), on hand-made edge cases, and on every
 * scenario under tests/hostroot, so the fake trees stay what the parsers
 * (and the kernel) agree on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kfiles.h"
#include "strvec.h"
#include "util.h"
#include "values.h"

/* ---- captured text ---- */

static const char real_meminfo[] =
    "MemTotal:       24683620 kB\n"
    "MemFree:        24234448 kB\n"
    "MemAvailable:   24338028 kB\n"
    "Buffers:            2300 kB\n"
    "Cached:           287672 kB\n"
    "SwapCached:            0 kB\n"
    "Active:           184296 kB\n"
    "Inactive:         102148 kB\n"
    "Active(anon):       1520 kB\n"
    "Inactive(anon):     3904 kB\n"
    "Active(file):     182776 kB\n"
    "Inactive(file):    98244 kB\n"
    "Unevictable:       11088 kB\n"
    "Mlocked:           10120 kB\n"
    "SwapTotal:             0 kB\n"
    "SwapFree:              0 kB\n"
    "Zswap:                 0 kB\n"
    "Zswapped:              0 kB\n"
    "Dirty:               196 kB\n"
    "Writeback:             0 kB\n"
    "AnonPages:          7664 kB\n"
    "Mapped:            10792 kB\n"
    "Shmem:              8952 kB\n"
    "KReclaimable:      65604 kB\n"
    "Slab:              89448 kB\n"
    "SReclaimable:      65604 kB\n"
    "SUnreclaim:        23844 kB\n"
    "KernelStack:        1412 kB\n"
    "PageTables:         1164 kB\n"
    "SecPageTables:         0 kB\n"
    "NFS_Unstable:          0 kB\n"
    "Bounce:                0 kB\n"
    "WritebackTmp:          0 kB\n"
    "CommitLimit:    12341808 kB\n"
    "Committed_AS:      52064 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "VmallocUsed:       14172 kB\n"
    "VmallocChunk:          0 kB\n"
    "Percpu:              736 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemHugePages:        0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FileHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Balloon:               0 kB\n"
    "HugePages_Total:       8\n"
    "HugePages_Free:        7\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:           16384 kB\n"
    "DirectMap4k:       30720 kB\n"
    "DirectMap2M:    25135104 kB\n";

/* sys/devices/system/node/node0/meminfo, shortened */
static const char real_node_meminfo[] =
    "Node 0 MemTotal:        5465888 kB\n"
    "Node 0 MemFree:         5016860 kB\n"
    "Node 0 MemUsed:          449028 kB\n"
    "Node 0 Active(anon):       1520 kB\n"
    "Node 0 FilePmdMapped:         0 kB\n"
    "Node 0 HugePages_Total:     0\n"
    "Node 0 HugePages_Free:      0\n"
    "Node 0 HugePages_Surp:      0\n";

/* /proc/self/numa_maps of a program with 2 MiB hugetlb pages (MAP_HUGETLB and
 * a file on a hugetlbfs mounted at "/tmp/kfcap/hp dir") and a THP-advised
 * anonymous region. */
static const char real_numa_maps[] =
    "55ca35549000 default file=/tmp/kfcap/cap dirty=1 N0=1 kernelpagesize_kB=4\n"
    "55ca3554a000 default file=/tmp/kfcap/cap dirty=1 N0=1 kernelpagesize_kB=4\n"
    "55ca3554b000 default file=/tmp/kfcap/cap dirty=1 N0=1 kernelpagesize_kB=4\n"
    "55ca3554c000 default file=/tmp/kfcap/cap anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4\n"
    "55ca3554d000 default file=/tmp/kfcap/cap anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4\n"
    "7fdc6e200000 default file=/tmp/kfcap/hp\\040dir/f huge dirty=1 N0=1 kernelpagesize_kB=2048\n"
    "7fdc6e400000 default anon=2048 dirty=2048 active=0 N0=2048 kernelpagesize_kB=4\n"
    "7fdc6ec00000 default file=/anon_hugepage\\040(deleted) huge anon=2 dirty=2 N0=2 kernelpagesize_kB=2048\n"
    "7fdc6f021000 default anon=2 dirty=2 active=0 N0=2 kernelpagesize_kB=4\n"
    "7fdc6f024000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 mapped=38 mapmax=8 N0=38 kernelpagesize_kB=4\n"
    "7fdc6f04a000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 mapped=182 mapmax=12 N0=182 kernelpagesize_kB=4\n"
    "7fdc6f1a0000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "7fdc6f1f3000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 anon=4 dirty=4 active=0 N0=4 kernelpagesize_kB=4\n"
    "7fdc6f1f7000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 anon=2 dirty=2 active=0 N0=2 kernelpagesize_kB=4\n"
    "7fdc6f1f9000 default anon=5 dirty=5 active=0 N0=5 kernelpagesize_kB=4\n"
    "7fdc6f214000 default anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4\n"
    "7fdc6f216000 default\n"
    "7fdc6f21a000 default\n"
    "7fdc6f21c000 default\n"
    "7fdc6f21e000 default file=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 mapped=1 mapmax=8 N0=1 kernelpagesize_kB=4\n"
    "7fdc6f21f000 default file=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 mapped=38 mapmax=8 N0=38 kernelpagesize_kB=4\n"
    "7fdc6f245000 default file=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 mapped=10 mapmax=8 N0=10 kernelpagesize_kB=4\n"
    "7fdc6f24f000 default file=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 anon=2 dirty=2 active=0 N0=2 kernelpagesize_kB=4\n"
    "7fdc6f251000 default file=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 anon=2 dirty=2 active=0 N0=2 kernelpagesize_kB=4\n"
    "7ffede995000 default stack anon=5 dirty=5 active=1 N0=5 kernelpagesize_kB=4\n";

/* /proc/mounts of this machine, cgroup v1, no hugetlbfs */
static const char real_mounts[] =
    "proc /proc proc rw,relatime 0 0\n"
    "sysfs /sys sysfs rw,relatime 0 0\n"
    "devtmpfs /dev devtmpfs rw,relatime,size=12334416k,nr_inodes=3083604,mode=755 0 0\n"
    "tmpfs /dev/shm tmpfs rw,relatime,size=24683620k 0 0\n"
    "devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0\n"
    "/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0\n"
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";

/* The same with two hugetlbfs mounts as the kernel lists them; the second
 * was mounted without pagesize= and still shows it. */
static const char real_mounts_hugetlbfs[] =
    "/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0\n"
    "none /tmp/kfcap/hp\\040dir hugetlbfs rw,relatime,pagesize=2M 0 0\n"
    "none /tmp/kfcap/hp2 hugetlbfs rw,relatime,pagesize=2M 0 0\n";

/* ---- "always [madvise] never" ---- */

static void expect_selected(const char *text, const char *want, const char *const *offered, size_t n) {
    _cleanup_free_ char *sel = NULL;
    StrVec words = STRVEC_INIT;
    assert_int_equal(kfile_parse_selected(text, &sel, &words), 0);
    assert_string_equal(sel, want);
    assert_int_equal(words.n, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(words.v[i], offered[i]);
    assert_null(words.v[n]);
    assert_true(kfile_is_offered(&words, want));
    strvec_clear(&words);
}

static void test_selected_real(void **state) {
    (void)state;
    const char *thp[] = { "always", "madvise", "never" };
    expect_selected("always [madvise] never\n", "madvise", thp, 3);
    const char *defrag[] = { "always", "defer", "defer+madvise", "madvise", "never" };
    expect_selected("always defer defer+madvise [madvise] never\n", "madvise", defrag, 5);
    /* current kernels: "none" first, a space before the newline */
    const char *sched[] = { "none", "mq-deadline", "kyber", "bfq" };
    expect_selected("none [mq-deadline] kyber bfq \n", "mq-deadline", sched, 4);
    expect_selected("[none] mq-deadline kyber bfq \n", "none", sched, 4);
    /* older kernels: "none" last, no trailing space */
    const char *old[] = { "mq-deadline", "kyber", "bfq", "none" };
    expect_selected("mq-deadline kyber [bfq] none\n", "bfq", old, 4);
    const char *nobfq[] = { "mq-deadline", "none" };
    expect_selected("[mq-deadline] none\n", "mq-deadline", nobfq, 2);
    const char *ksm[] = { "none", "scan-time" };
    expect_selected("[none] scan-time\n", "none", ksm, 2);
    /* without the newline, and with only the selection */
    expect_selected("always [madvise] never", "madvise", thp, 3);
    const char *one[] = { "never" };
    expect_selected("[never]\n", "never", one, 1);
}

static void test_selected_offered(void **state) {
    (void)state;
    _cleanup_free_ char *sel = NULL;
    StrVec words = STRVEC_INIT;
    assert_int_equal(kfile_parse_selected("[mq-deadline] none\n", &sel, &words), 0);
    assert_true(kfile_is_offered(&words, "none"));
    assert_false(kfile_is_offered(&words, "bfq"));
    assert_false(kfile_is_offered(&words, "[mq-deadline]"));
    assert_false(kfile_is_offered(&words, "mq"));
    /* OFFERED is replaced, not appended to */
    sel = x_free(sel);
    assert_int_equal(kfile_parse_selected("a [b]\n", &sel, &words), 0);
    assert_int_equal(words.n, 2);
    assert_string_equal(words.v[0], "a");
    strvec_clear(&words);
    /* OFFERED may be NULL */
    sel = x_free(sel);
    assert_int_equal(kfile_parse_selected("always [madvise] never\n", &sel, NULL), 0);
    assert_string_equal(sel, "madvise");
}

static void test_selected_bad(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",                         /* empty file */
        "\n",
        "   \n",
        "none\n",                   /* an old kernel's bio-based device: nothing selectable */
        "always madvise never\n",   /* no brackets */
        "[always] madvise [never]\n",
        "[a] [a]\n",
        "[]\n",
        "[ ]\n",
        "a [b c]\n",                /* a bracket around two words */
        "[a\n",
        "a]\n",
        "a [b]c\n",
        "[[a]]\n",
        "a[b]\n",
        "a\t[b]\n",                 /* a tab is no separator */
        "[a]\n\n",                  /* one newline only */
        "[a]\r\n",
        "[a]\nb\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char *sel = (char *)"untouched";
        StrVec words = STRVEC_INIT;
        strvec_push(&words, "kept");
        int r = kfile_parse_selected(bad[i], &sel, &words);
        if (r != -EINVAL) fail_msg("case %zu \"%s\": %d", i, bad[i], r);
        assert_string_equal(sel, "untouched");
        assert_int_equal(words.n, 1);
        assert_string_equal(words.v[0], "kept");
        strvec_clear(&words);
    }
}

static void test_selected_huge_line(void **state) {
    (void)state;
    /* 100000 words, the selected one in the middle: no fixed buffers */
    size_t n = 100000, len = 0;
    char *text = xmalloc(n * 12 + 16);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, i == n / 2 ? "[w%zu] " : "w%zu ", i);
    strcpy(text + len, "\n");
    _cleanup_free_ char *sel = NULL;
    StrVec words = STRVEC_INIT;
    assert_int_equal(kfile_parse_selected(text, &sel, &words), 0);
    assert_string_equal(sel, "w50000");
    assert_int_equal(words.n, n);
    assert_string_equal(words.v[n - 1], "w99999");
    assert_true(kfile_is_offered(&words, "w12345"));
    strvec_clear(&words);
    /* one word of a megabyte */
    memset(text, 'x', n * 10);
    text[0] = '[';
    text[n * 10 - 1] = ']';
    strcpy(text + n * 10, " \n");
    sel = x_free(sel);
    assert_int_equal(kfile_parse_selected(text, &sel, NULL), 0);
    assert_int_equal(strlen(sel), n * 10 - 2);
    free(text);
}

/* ---- integers ---- */

static void test_int(void **state) {
    (void)state;
    int64_t v = 42;
    assert_int_equal(kfile_parse_int("1\n", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(kfile_parse_int("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(kfile_parse_int("-1\n", &v), 0);   /* cpuset.sched_relax_domain_level */
    assert_int_equal(v, -1);
    assert_int_equal(kfile_parse_int("34359738367\n", &v), 0);
    assert_int_equal(v, INT64_C(34359738367));
    assert_int_equal(kfile_parse_int("9223372036854775807\n", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(kfile_parse_int("-9223372036854775808\n", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(kfile_parse_int("007\n", &v), 0);
    assert_int_equal(v, 7);

    v = 42;
    assert_int_equal(kfile_parse_int("9223372036854775808\n", &v), -ERANGE);
    assert_int_equal(kfile_parse_int("-9223372036854775809\n", &v), -ERANGE);
    assert_int_equal(kfile_parse_int("99999999999999999999999999\n", &v), -ERANGE);
    static const char *const bad[] = {
        "", "\n", "-", "-\n", " 1\n", "1 \n", "1\t\n", "+1\n", "1\n\n", "\n1", "0x10\n", "1x\n",
        "1.5\n", "--1\n", "1-\n", "99999999999999999999999999x\n", "[1]\n", "1\r\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = kfile_parse_int(bad[i], &v);
        if (r != -EINVAL) fail_msg("case %zu \"%s\": %d", i, bad[i], r);
    }
    assert_int_equal(v, 42);
}

/* ---- meminfo ---- */

static void test_meminfo(void **state) {
    (void)state;
    uint64_t v = 42;
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "MemTotal", &v), 0);
    assert_int_equal(v, 24683620);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "MemFree", &v), 0);
    assert_int_equal(v, 24234448);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "HugePages_Total", &v), 0);
    assert_int_equal(v, 8);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "HugePages_Free", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "Hugepagesize", &v), 0);
    assert_int_equal(v, 2048);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "Active(anon)", &v), 0);
    assert_int_equal(v, 1520);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "VmallocTotal", &v), 0); /* wider than its column */
    assert_int_equal(v, UINT64_C(34359738367));
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "DirectMap2M", &v), 0); /* the last line */
    assert_int_equal(v, 25135104);

    assert_int_equal(kfile_parse_meminfo(real_node_meminfo, "MemFree", &v), 0);
    assert_int_equal(v, 5016860);
    assert_int_equal(kfile_parse_meminfo(real_node_meminfo, "HugePages_Free", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(kfile_parse_meminfo("Node 12 HugePages_Total:   512\n", "HugePages_Total", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(kfile_parse_meminfo("MemFree:12 kB", "MemFree", &v), 0);   /* no newline, no padding */
    assert_int_equal(v, 12);

    v = 42;
    /* whole keys only */
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "MemFre", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "Mem", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "memfree", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "HugePages_Tota", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "Hugetlbx", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "Node 0 MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("", "MemFree", &v), -ENOENT);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo(real_meminfo, "MemFree:", &v), -EINVAL);
    /* the matching line must be well formed; others are not checked */
    assert_int_equal(kfile_parse_meminfo("MemFree:   x kB\n", "MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("MemFree:   12 MB\n", "MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("MemFree:   12 kB \n", "MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("MemFree:\n", "MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("MemFree:   -12 kB\n", "MemFree", &v), -EINVAL);
    assert_int_equal(kfile_parse_meminfo("MemFree:   99999999999999999999999 kB\n", "MemFree", &v), -ERANGE);
    assert_int_equal(v, 42);
    assert_int_equal(kfile_parse_meminfo("Garbage line\nMemFree: 5 kB\n", "MemFree", &v), 0);
    assert_int_equal(v, 5);
    /* the first of two */
    assert_int_equal(kfile_parse_meminfo("MemFree: 1 kB\nMemFree: 2 kB\n", "MemFree", &v), 0);
    assert_int_equal(v, 1);
}

/* ---- numa_maps ---- */

static void test_numa_maps_real(void **state) {
    (void)state;
    NumaPages np;
    assert_int_equal(kfile_parse_numa_maps(real_numa_maps, &np), 0);
    assert_int_equal(np.max_node, 0);
    assert_int_equal(np.pages[0], 2345 + 3);
    assert_int_equal(np.huge_pages[0], 3);
    assert_int_equal(np.bytes[0], UINT64_C(2345) * 4096 + UINT64_C(3) * 2097152);
    assert_int_equal(np.huge_bytes[0], UINT64_C(3) * 2097152);
    for (int n = 1; n < KFILE_NUMA_NODES; n++) assert_int_equal(np.bytes[n] | np.pages[n], 0);

    /* a kernel thread's file is empty */
    assert_int_equal(kfile_parse_numa_maps("", &np), 0);
    assert_int_equal(np.max_node, -1);
    assert_int_equal(np.pages[0], 0);
}

static void test_numa_maps_nodes(void **state) {
    (void)state;
    NumaPages np;
    /* a guest bound to two nodes: 1 GiB pages on node 1, interleaved small
     * pages, node 63 the highest counted */
    static const char text[] =
        "7f4000000000 bind:1 file=/dev/hugepages1G/vm huge dirty=2 N1=2 kernelpagesize_kB=1048576\n"
        "7f5000000000 interleave:0-1 anon=1024 dirty=1024 N0=512 N1=512 kernelpagesize_kB=4\n"
        "7f6000000000 prefer:0 anon=3 dirty=3 active=0 N0=1 N63=2 kernelpagesize_kB=4\n"
        "7f7000000000 bind=static:0-1 file=/dev/hugepages/vm huge dirty=4 N0=4 kernelpagesize_kB=2048\n"
        "7f8000000000 default anon=0 N5=0 kernelpagesize_kB=4\n";
    assert_int_equal(kfile_parse_numa_maps(text, &np), 0);
    assert_int_equal(np.max_node, 63);
    assert_int_equal(np.pages[0], 512 + 1 + 4);
    assert_int_equal(np.pages[1], 2 + 512);
    assert_int_equal(np.pages[63], 2);
    assert_int_equal(np.pages[5], 0);
    assert_int_equal(np.huge_pages[0], 4);
    assert_int_equal(np.huge_pages[1], 2);
    assert_int_equal(np.bytes[0], UINT64_C(513) * 4096 + UINT64_C(4) * 2097152);
    assert_int_equal(np.bytes[1], (UINT64_C(2) << 30) + UINT64_C(512) * 4096);
    assert_int_equal(np.huge_bytes[1], UINT64_C(2) << 30);
    assert_int_equal(np.huge_bytes[0], UINT64_C(4) * 2097152);
    assert_int_equal(np.bytes[63], 2 * 4096);
}

static void test_numa_maps_bad(void **state) {
    (void)state;
    NumaPages np;
    memset(&np, 0x5a, sizeof(np));
    static const struct { const char *text; int r; } cases[] = {
        /* node 64 and beyond: refused, never skipped */
        { "7f00 default anon=1 N64=1 kernelpagesize_kB=4\n", -ERANGE },
        { "7f00 default anon=1 N0=1 N1023=1 kernelpagesize_kB=4\n", -ERANGE },
        { "7f00 default anon=1 N99999999999999999999999=1 kernelpagesize_kB=4\n", -ERANGE },
        { "7f00 default anon=1 N0=99999999999999999999999 kernelpagesize_kB=4\n", -ERANGE },
        /* more bytes than 64 bits hold */
        { "7f00 default N0=18446744073709551615 kernelpagesize_kB=4\n", -ERANGE },
        { "7f00 default N0=1 kernelpagesize_kB=18446744073709551615\n", -ERANGE },
        { "7f00 default N0=9007199254740992 kernelpagesize_kB=1\n"          /* 2^63 bytes, twice */
          "7f01 default N0=9007199254740992 kernelpagesize_kB=1\n", -ERANGE },
        /* pages without a page size */
        { "7f00 default anon=1 N0=1\n", -EINVAL },
        { "7f00 default anon=1 N0=1 kernelpagesize_kB=0\n", -EINVAL },
        { "7f00 default anon=1 N0=1 kernelpagesize_kB=4k\n", -EINVAL },
        { "7f00 default anon=1 N0=1 kernelpagesize_kB=\n", -EINVAL },
        /* malformed node fields */
        { "7f00 default N0= kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N0 kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N0=x kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N0=1x kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N0x=1 kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N0=-1 kernelpagesize_kB=4\n", -EINVAL },
        { "7f00 default N1=1 N1=2 kernelpagesize_kB=4\n", -EINVAL },
        /* lines */
        { "7f00\n", -EINVAL },
        { "zz00 default\n", -EINVAL },
        { "7f00 default\n\n7f01 default\n", -EINVAL },
        { "\n", -EINVAL },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        int r = kfile_parse_numa_maps(cases[i].text, &np);
        if (r != cases[i].r) fail_msg("case %zu \"%s\": %d, expected %d", i, cases[i].text, r, cases[i].r);
    }
    assert_int_equal(np.max_node, 0x5a5a5a5a);   /* untouched */

    /* a field that only starts with N is no node field */
    assert_int_equal(kfile_parse_numa_maps("7f00 default file=/x Nfoo=1 N0=1 kernelpagesize_kB=4\n", &np), 0);
    assert_int_equal(np.pages[0], 1);
    /* no trailing newline, runs of spaces */
    assert_int_equal(kfile_parse_numa_maps("7f00  default  N2=3  kernelpagesize_kB=4", &np), 0);
    assert_int_equal(np.pages[2], 3);
}

static void test_numa_maps_long(void **state) {
    (void)state;
    /* one line with every node 0-63 and a 100000-line file */
    char line[64 * 16 + 64];
    size_t len = (size_t)sprintf(line, "7f00 interleave:0-63 anon=64");
    for (int n = 0; n < KFILE_NUMA_NODES; n++) len += (size_t)sprintf(line + len, " N%d=1", n);
    strcpy(line + len, " kernelpagesize_kB=4\n");
    len = strlen(line);
    size_t lines = 100000;
    char *text = xmalloc(len * lines + 1);
    for (size_t i = 0; i < lines; i++) memcpy(text + i * len, line, len);
    text[len * lines] = 0;
    NumaPages np;
    assert_int_equal(kfile_parse_numa_maps(text, &np), 0);
    assert_int_equal(np.max_node, 63);
    for (int n = 0; n < KFILE_NUMA_NODES; n++) {
        assert_int_equal(np.pages[n], lines);
        assert_int_equal(np.bytes[n], lines * 4096);
    }
    free(text);
}

/* ---- /proc/mounts ---- */

#define M2 (UINT64_C(2) << 20)
#define G1 (UINT64_C(1) << 30)

static void test_hugetlbfs(void **state) {
    (void)state;
    char *mp = NULL;
    assert_int_equal(kfile_find_hugetlbfs(real_mounts, M2, M2, &mp), -ENOENT);
    assert_int_equal(kfile_find_hugetlbfs("", M2, M2, &mp), -ENOENT);
    assert_null(mp);

    assert_int_equal(kfile_find_hugetlbfs(real_mounts_hugetlbfs, M2, M2, &mp), 0);
    assert_string_equal(mp, "/tmp/kfcap/hp dir");
    mp = x_free(mp);
    assert_int_equal(kfile_find_hugetlbfs(real_mounts_hugetlbfs, G1, M2, &mp), -ENOENT);

    /* 1 GiB pages show as 1024M; a mount without pagesize= (old kernels)
     * has the default size */
    static const char mixed[] =
        "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
        "hugetlbfs /dev/hugepages hugetlbfs rw,relatime 0 0\n"
        "hugetlbfs /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M,size=4294967296 0 0\n"
        "none /mnt/a\\134b\\011c hugetlbfs rw,pagesize=2048K 0 0\n";
    assert_int_equal(kfile_find_hugetlbfs(mixed, G1, M2, &mp), 0);
    assert_string_equal(mp, "/dev/hugepages1G");
    mp = x_free(mp);
    assert_int_equal(kfile_find_hugetlbfs(mixed, M2, M2, &mp), 0);
    assert_string_equal(mp, "/dev/hugepages");
    mp = x_free(mp);
    /* with 1 GiB the default, the bare mount is 1 GiB and 2048K is next */
    assert_int_equal(kfile_find_hugetlbfs(mixed, G1, G1, &mp), 0);
    assert_string_equal(mp, "/dev/hugepages");
    mp = x_free(mp);
    assert_int_equal(kfile_find_hugetlbfs(mixed, M2, G1, &mp), 0);
    assert_string_equal(mp, "/mnt/a\\b\tc");
    mp = x_free(mp);
    assert_int_equal(kfile_find_hugetlbfs("x /a\\012b hugetlbfs pagesize=1G 0 0\n", G1, M2, &mp), 0);
    assert_string_equal(mp, "/a\nb");
    mp = x_free(mp);
    assert_int_equal(kfile_find_hugetlbfs("x /b hugetlbfs pagesize=2097152 0 0", M2, G1, &mp), 0);
    assert_string_equal(mp, "/b");
    mp = x_free(mp);
    /* a type that merely contains the word */
    assert_int_equal(kfile_find_hugetlbfs("x /c hugetlbfs2 pagesize=2M 0 0\nx /d xhugetlbfs pagesize=2M 0 0\n",
                                          M2, M2, &mp), -ENOENT);

    static const char *const bad[] = {
        "x /a\\04 hugetlbfs pagesize=2M 0 0\n",
        "x /a\\04x hugetlbfs pagesize=2M 0 0\n",
        "x /a\\000 hugetlbfs pagesize=2M 0 0\n",
        "x /a\\ hugetlbfs pagesize=2M 0 0\n",
        "x /a\\400 hugetlbfs pagesize=2M 0 0\n",
        "x /a hugetlbfs rw,pagesize=2X 0 0\n",
        "x /a hugetlbfs rw,pagesize= 0 0\n",
        "x /a hugetlbfs rw,pagesize=M 0 0\n",
        "x /a hugetlbfs\n",
        "only three fields\n",
        "\n",
        "proc /proc proc rw 0 0\n\nx /a hugetlbfs pagesize=2M 0 0\n",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = kfile_find_hugetlbfs(bad[i], M2, M2, &mp);
        if (r != -EINVAL) fail_msg("case %zu \"%s\": %d", i, bad[i], r);
        assert_null(mp);
    }
}

/* ---- cpulists ---- */

static void test_cpulist(void **state) {
    (void)state;
    CpuList l = { NULL, 0 };
    assert_int_equal(kfile_parse_cpulist("0-1\n", &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.cpu[1], 1);
    cpulist_free(&l);
    assert_int_equal(kfile_parse_cpulist("0-3,8,10-11\n", &l), 0);
    _cleanup_free_ char *s = cpulist_format(&l);
    assert_string_equal(s, "0-3,8,10-11");
    cpulist_free(&l);
    assert_int_equal(kfile_parse_cpulist("5", &l), 0);
    assert_int_equal(l.n, 1);
    cpulist_free(&l);
    /* a cgroup with no CPUs set yet, has_generic_initiator */
    l.n = 99;
    assert_int_equal(kfile_parse_cpulist("\n", &l), 0);
    assert_int_equal(l.n, 0);
    assert_null(l.cpu);
    assert_int_equal(kfile_parse_cpulist("", &l), 0);
    assert_int_equal(l.n, 0);

    static const char *const bad[] = {
        "0-1\n\n", " 0\n", "0-1 \n", "0,\n", "1-0\n", "0,0\n", "8192\n", "a\n", "0\r\n", " \n",
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        int r = kfile_parse_cpulist(bad[i], &l);
        if (r != -EINVAL) fail_msg("case %zu \"%s\": %d", i, bad[i], r);
        assert_null(l.cpu);
    }
}

/* ---- tests/hostroot ---- */

static char *hostroot_dir;

/* tests/hostroot below the working directory (the repository root, where
 * tests/run-tests.sh runs us), else below the repository that holds this
 * program (build/VARIANT/tests/unit/). */
static char *find_hostroot_dir(void) {
    char resolved[PATH_MAX];
    if (realpath("tests/hostroot", resolved)) return xstrdup(resolved);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) return NULL;
        *slash = '\0';
    }
    _cleanup_free_ char *cand = xasprintf("%s/tests/hostroot", exe);
    return realpath(cand, resolved) ? xstrdup(resolved) : NULL;
}

/* The file's text, or NULL with errno set. */
static char *read_text(const char *scenario, const char *path) {
    _cleanup_free_ char *full = xasprintf("%s/%s/%s", hostroot_dir, scenario, path);
    FILE *f = fopen(full, "re");
    if (!f) return NULL;
    char *buf = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    assert_int_equal(strlen(buf), size);        /* no NUL bytes */
    return buf;
}

static char *must_read(const char *scenario, const char *path) {
    char *t = read_text(scenario, path);
    if (!t) fail_msg("tests/hostroot/%s/%s: %s", scenario, path, strerror(errno));
    return t;
}

static int64_t read_int(const char *scenario, const char *path) {
    _cleanup_free_ char *t = must_read(scenario, path);
    int64_t v;
    if (kfile_parse_int(t, &v) < 0) fail_msg("tests/hostroot/%s/%s: not an integer", scenario, path);
    return v;
}

static uint64_t read_meminfo(const char *scenario, const char *path, const char *key) {
    _cleanup_free_ char *t = must_read(scenario, path);
    uint64_t v;
    if (kfile_parse_meminfo(t, key, &v) < 0) fail_msg("tests/hostroot/%s/%s: no %s", scenario, path, key);
    return v;
}

static CpuList read_cpulist(const char *scenario, const char *path) {
    _cleanup_free_ char *t = must_read(scenario, path);
    CpuList l;
    if (kfile_parse_cpulist(t, &l) < 0) fail_msg("tests/hostroot/%s/%s: not a cpulist", scenario, path);
    return l;
}

static char *read_selected(const char *scenario, const char *path, StrVec *offered) {
    _cleanup_free_ char *t = must_read(scenario, path);
    char *sel;
    if (kfile_parse_selected(t, &sel, offered) < 0) fail_msg("tests/hostroot/%s/%s: no [selection]", scenario, path);
    return sel;
}

static void expect_missing(const char *scenario, const char *path) {
    char *t = read_text(scenario, path);
    int e = errno;
    bool found = t != NULL;
    free(t);
    if (found || e != ENOENT) fail_msg("tests/hostroot/%s/%s: expected to be missing", scenario, path);
}

static const char *walk_failure;
static char walk_msg[PATH_MAX + 64];

/* Each file is empty or ends in one newline, as the kernel writes them
 * (proc/cpuinfo in two). */
static int check_file(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (type == FTW_SL) {
        snprintf(walk_msg, sizeof(walk_msg), "%s: a symlink (README.md: plain files only)", path);
        walk_failure = walk_msg;
        return 1;
    }
    if (type != FTW_F || strstr(path, "/README.md")) return 0;
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n == sizeof(buf)) {
        snprintf(walk_msg, sizeof(walk_msg), "%s: over 64 KiB, keep the trees small", path);
        walk_failure = walk_msg;
        return 1;
    }
    /* /proc/cpuinfo ends each CPU's block with an empty line, the last too. */
    bool blank_end = strstr(path, "/proc/cpuinfo") != NULL;
    if (n && (buf[n - 1] != '\n' || (n > 1 && (buf[n - 2] == '\n') != blank_end))) {
        snprintf(walk_msg, sizeof(walk_msg), "%s: must end in exactly %s newline%s", path, blank_end ? "two" : "one", blank_end ? "s" : "");
        walk_failure = walk_msg;
        return 1;
    }
    return 0;
}

static void test_hostroot_files(void **state) {
    (void)state;
    walk_failure = NULL;
    int r = nftw(hostroot_dir, check_file, 16, FTW_PHYS);
    if (walk_failure) fail_msg("%s", walk_failure);
    assert_int_equal(r, 0);
}

/* Pools, meminfo and sysctls of a scenario agree with each other. */
static void check_hugepages(const char *sc, int nodes, bool with_1g) {
    int64_t nr2 = 0, free2 = 0, nr1g = 0;
    for (int n = 0; n < nodes; n++) {
        char p[128];
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", n);
        int64_t nr = read_int(sc, p);
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/free_hugepages", n);
        int64_t fr = read_int(sc, p);
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/surplus_hugepages", n);
        assert_int_equal(read_int(sc, p), 0);
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/meminfo", n);
        assert_int_equal(read_meminfo(sc, p, "HugePages_Total"), nr);
        assert_int_equal(read_meminfo(sc, p, "HugePages_Free"), fr);
        nr2 += nr;
        free2 += fr;
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/hugepages/hugepages-1048576kB/nr_hugepages", n);
        if (with_1g) nr1g += read_int(sc, p);
        else expect_missing(sc, p);
    }
    assert_int_equal(read_int(sc, "proc/sys/vm/nr_hugepages"), nr2);
    assert_int_equal(read_int(sc, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), nr2);
    assert_int_equal(read_int(sc, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"), free2);
    assert_int_equal(read_meminfo(sc, "proc/meminfo", "HugePages_Total"), nr2);
    assert_int_equal(read_meminfo(sc, "proc/meminfo", "HugePages_Free"), free2);
    assert_int_equal(read_meminfo(sc, "proc/meminfo", "Hugepagesize"), 2048);
    assert_int_equal(read_meminfo(sc, "proc/meminfo", "Hugetlb"), nr2 * 2048 + nr1g * 1048576);
    if (with_1g) assert_int_equal(read_int(sc, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"), nr1g);
    else expect_missing(sc, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
}

/* The nodes' CPUs partition cpu/online. */
static void check_nodes(const char *sc, int nodes, int cpus) {
    CpuList online = read_cpulist(sc, "sys/devices/system/cpu/online");
    assert_int_equal(online.n, cpus);
    CpuList nl = read_cpulist(sc, "sys/devices/system/node/online");
    assert_int_equal(nl.n, nodes);
    size_t seen = 0;
    for (int n = 0; n < nodes; n++) {
        char p[128];
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/cpulist", n);
        CpuList l = read_cpulist(sc, p);
        for (size_t i = 0; i < l.n; i++) assert_true(cpulist_contains(&online, l.cpu[i]));
        seen += l.n;
        cpulist_free(&l);
        snprintf(p, sizeof(p), "sys/devices/system/node/node%d/meminfo", n);
        assert_true(read_meminfo(sc, p, "MemFree") < read_meminfo(sc, p, "MemTotal"));
    }
    assert_int_equal(seen, online.n);
    for (size_t i = 0; i < online.n; i++) {
        char p[128];
        snprintf(p, sizeof(p), "sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", online.cpu[i]);
        CpuList sib = read_cpulist(sc, p);
        assert_true(cpulist_contains(&sib, online.cpu[i]));
        cpulist_free(&sib);
    }
    cpulist_free(&online);
    cpulist_free(&nl);
}

static void check_thp_ksm(const char *sc) {
    StrVec offered = STRVEC_INIT;
    _cleanup_free_ char *thp = read_selected(sc, "sys/kernel/mm/transparent_hugepage/enabled", &offered);
    assert_string_equal(thp, "madvise");
    assert_true(kfile_is_offered(&offered, "never"));
    _cleanup_free_ char *defrag = read_selected(sc, "sys/kernel/mm/transparent_hugepage/defrag", &offered);
    assert_true(kfile_is_offered(&offered, "defer+madvise"));
    strvec_clear(&offered);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/run"), 0);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/merge_across_nodes"), 1);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/pages_to_scan"), 100);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/sleep_millisecs"), 20);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/pages_shared"), 0);
    assert_int_equal(read_int(sc, "sys/kernel/mm/ksm/pages_sharing"), 0);
}

/* sys/block/vda and sys/dev/block/254:0 hold the same files. */
static char *check_disk(const char *sc, StrVec *offered) {
    static const char *const files[] = { "dev", "queue/scheduler", "queue/rotational" };
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        _cleanup_free_ char *pa = xasprintf("sys/block/vda/%s", files[i]);
        _cleanup_free_ char *pb = xasprintf("sys/dev/block/254:0/%s", files[i]);
        _cleanup_free_ char *a = must_read(sc, pa), *b = must_read(sc, pb);
        assert_string_equal(a, b);
    }
    _cleanup_free_ char *dev = must_read(sc, "sys/block/vda/dev");
    assert_string_equal(dev, "254:0\n");
    int64_t rot = read_int(sc, "sys/block/vda/queue/rotational");
    assert_true(rot == 0 || rot == 1);
    return read_selected(sc, "sys/block/vda/queue/scheduler", offered);
}

static void check_cgroup2_root(const char *sc) {
    _cleanup_free_ char *mounts = must_read(sc, "proc/mounts");
    assert_non_null(strstr(mounts, "\ncgroup2 /sys/fs/cgroup cgroup2 "));
    assert_null(strstr(mounts, " cgroup rw"));
    _cleanup_free_ char *ctl = must_read(sc, "sys/fs/cgroup/cgroup.controllers");
    assert_non_null(strstr(ctl, "cpuset"));
    CpuList cpus = read_cpulist(sc, "sys/fs/cgroup/cpuset.cpus.effective");
    CpuList online = read_cpulist(sc, "sys/devices/system/cpu/online");
    _cleanup_free_ char *a = cpulist_format(&cpus), *b = cpulist_format(&online);
    assert_string_equal(a, b);
    cpulist_free(&cpus);
    cpulist_free(&online);
    CpuList mems = read_cpulist(sc, "sys/fs/cgroup/cpuset.mems.effective");
    assert_int_equal(mems.n, 2);
    cpulist_free(&mems);
    _cleanup_free_ char *procs = must_read(sc, "sys/fs/cgroup/cgroup.procs");
    assert_int_equal(strncmp(procs, "1\n", 2), 0);
}

static void test_scenario_cgroup2_numa2(void **state) {
    (void)state;
    const char *sc = "cgroup2-numa2";
    check_nodes(sc, 2, 8);
    check_hugepages(sc, 2, true);
    check_thp_ksm(sc);
    check_cgroup2_root(sc);
    CpuList n0 = read_cpulist(sc, "sys/devices/system/node/node0/cpulist");
    _cleanup_free_ char *s0 = cpulist_format(&n0);
    assert_string_equal(s0, "0-3");
    cpulist_free(&n0);
    assert_int_equal(read_int(sc, "sys/devices/system/node/node1/hugepages/hugepages-1048576kB/free_hugepages"), 2);
    assert_int_equal(read_int(sc, "proc/sys/vm/zone_reclaim_mode"), 0);

    _cleanup_free_ char *mounts = must_read(sc, "proc/mounts");
    _cleanup_free_ char *mp2 = NULL, *mp1 = NULL;
    assert_int_equal(kfile_find_hugetlbfs(mounts, M2, M2, &mp2), 0);
    assert_string_equal(mp2, "/dev/hugepages");
    assert_int_equal(kfile_find_hugetlbfs(mounts, G1, M2, &mp1), 0);
    assert_string_equal(mp1, "/dev/hugepages1G");

    StrVec offered = STRVEC_INIT;
    _cleanup_free_ char *sched = check_disk(sc, &offered);
    assert_string_equal(sched, "mq-deadline");
    assert_true(kfile_is_offered(&offered, "bfq"));
    assert_true(kfile_is_offered(&offered, "none"));
    strvec_clear(&offered);
}

static void test_scenario_cgroup1(void **state) {
    (void)state;
    const char *sc = "cgroup1";
    check_nodes(sc, 1, 2);
    check_hugepages(sc, 1, false);
    check_thp_ksm(sc);
    _cleanup_free_ char *mounts = must_read(sc, "proc/mounts");
    assert_non_null(strstr(mounts, "\ncgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n"));
    assert_non_null(strstr(mounts, "\ncgroup2 /sys/fs/cgroup/unified cgroup2 "));
    char *mp = NULL;
    assert_int_equal(kfile_find_hugetlbfs(mounts, M2, M2, &mp), -ENOENT);

    CpuList cpus = read_cpulist(sc, "sys/fs/cgroup/cpuset/cpuset.cpus");
    _cleanup_free_ char *c = cpulist_format(&cpus);
    assert_string_equal(c, "0-1");
    cpulist_free(&cpus);
    CpuList mems = read_cpulist(sc, "sys/fs/cgroup/cpuset/cpuset.mems");
    assert_int_equal(mems.n, 1);
    cpulist_free(&mems);
    cpus = read_cpulist(sc, "sys/fs/cgroup/cpuset/cpuset.effective_cpus");
    assert_int_equal(cpus.n, 2);
    cpulist_free(&cpus);
    assert_int_equal(read_int(sc, "sys/fs/cgroup/cpuset/cpuset.cpu_exclusive"), 1);
    assert_int_equal(read_int(sc, "sys/fs/cgroup/cpuset/cpuset.sched_relax_domain_level"), -1);
    _cleanup_free_ char *tasks = must_read(sc, "sys/fs/cgroup/cpuset/tasks");
    _cleanup_free_ char *procs = must_read(sc, "sys/fs/cgroup/cpuset/cgroup.procs");
    assert_int_equal(strncmp(tasks, "1\n", 2), 0);
    assert_int_equal(strncmp(procs, "1\n", 2), 0);
    _cleanup_free_ char *sub = must_read(sc, "sys/fs/cgroup/unified/cgroup.subtree_control");
    assert_string_equal(sub, "");
    expect_missing(sc, "sys/fs/cgroup/cgroup.controllers");

    StrVec offered = STRVEC_INIT;
    _cleanup_free_ char *sched = check_disk(sc, &offered);
    assert_string_equal(sched, "mq-deadline");
    strvec_clear(&offered);
}

static void test_scenario_missing_files(void **state) {
    (void)state;
    const char *sc = "missing-files";
    check_nodes(sc, 2, 8);
    check_hugepages(sc, 2, false);
    check_cgroup2_root(sc);
    expect_missing(sc, "sys/kernel/mm/transparent_hugepage/enabled");
    expect_missing(sc, "sys/kernel/mm/transparent_hugepage/defrag");
    expect_missing(sc, "sys/kernel/mm/ksm/run");
    expect_missing(sc, "sys/kernel/mm/ksm/merge_across_nodes");
    _cleanup_free_ char *mounts = must_read(sc, "proc/mounts");
    char *mp = NULL;
    assert_int_equal(kfile_find_hugetlbfs(mounts, G1, M2, &mp), -ENOENT);
    StrVec offered = STRVEC_INIT;
    _cleanup_free_ char *sched = check_disk(sc, &offered);
    strvec_clear(&offered);
}

static void test_scenario_no_bfq(void **state) {
    (void)state;
    const char *sc = "no-bfq";
    check_nodes(sc, 2, 8);
    check_hugepages(sc, 2, true);
    check_thp_ksm(sc);
    check_cgroup2_root(sc);
    StrVec offered = STRVEC_INIT;
    _cleanup_free_ char *sched = check_disk(sc, &offered);
    assert_string_equal(sched, "mq-deadline");
    assert_int_equal(offered.n, 2);
    assert_false(kfile_is_offered(&offered, "bfq"));
    assert_true(kfile_is_offered(&offered, "none"));
    strvec_clear(&offered);
}

/* ---- "KEY: VALUE" and "KEY=VALUE" lines ---- */

/* The head of this machine's /proc/cpuinfo (Linux 6.18, 2 CPUs, no
 * hardware virtualization offered to it): its flags line has a run of
 * spaces in it, and "power management:" has no value. */
static const char real_cpuinfo[] =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC\n"
    "flags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm pti        vmmcall bmi1 avx2\n"
    "bugs\t\t: cpu_meltdown spectre_v1\n"
    "power management:\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: AuthenticAMD\n"
    "model name\t: AMD EPYC\n"
    "flags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm pti        vmmcall bmi1 avx2\n"
    "power management:\n"
    "\n";

static void expect_field(const char *text, const char *key, char sep, const char *want) {
    char *v = NULL;
    int r = kfile_parse_field(text, key, sep, &v);
    if (!want) {
        assert_int_equal(r, -ENOENT);
        assert_null(v);
        return;
    }
    assert_int_equal(r, 0);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void test_field(void **state) {
    (void)state;
    /* cpuinfo: keys padded with tabs, the first CPU's line wins. */
    expect_field("model name\t: First\nmodel name\t: Second\n", "model name", ':', "First");
    expect_field(real_cpuinfo, "model", ':', "2");
    expect_field(real_cpuinfo, "cpu family", ':', "26");
    expect_field(real_cpuinfo, "power management", ':', "");
    /* A key is matched whole: "model" is not "model name", "name" neither. */
    expect_field("model name\t: X\n", "model", ':', NULL);
    expect_field("model name\t: X\n", "name", ':', NULL);
    expect_field("vmx flags\t: vnmi ept\nflags\t\t: fpu vmx\n", "flags", ':', "fpu vmx");
    /* /proc/PID/status; the value's own inner spaces stay, a CR goes. */
    const char *status = "Name:\tqemu-system-x86\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n";
    expect_field(status, "Cpus_allowed_list", ':', "0-1");
    expect_field(status, "Cpus_allowed", ':', "3");
    expect_field("State:\tS (sleeping) \r\n", "State", ':', "S (sleeping)");
    /* uevent; no final newline; a line without SEP is skipped. */
    const char *uevent = "DRIVER=ixgbe\nPCI_CLASS=20000\nPCI_SLOT_NAME=0000:5e:00.0";
    expect_field(uevent, "DRIVER", '=', "ixgbe");
    expect_field(uevent, "PCI_SLOT_NAME", '=', "0000:5e:00.0");
    expect_field(uevent, "PCI_ID", '=', NULL);
    expect_field("junk line\nDRIVER=\n", "DRIVER", '=', "");
    /* The separator decides: "=" is no separator of a ':' file. */
    expect_field("DRIVER=ixgbe\n", "DRIVER", ':', NULL);
    expect_field("", "DRIVER", '=', NULL);
    char *v = NULL;
    assert_int_equal(kfile_parse_field("=x\n", "", '=', &v), -EINVAL);
    assert_null(v);
}

static void expect_cpuinfo(const char *text, const char *model, const char *virt) {
    char *m = NULL;
    const char *v = "unset";
    assert_int_equal(kfile_parse_cpuinfo(text, &m, &v), 0);
    if (model) assert_string_equal(m, model);
    else assert_null(m);
    if (virt) assert_string_equal(v, virt);
    else assert_null(v);
    free(m);
}

static void test_cpuinfo(void **state) {
    (void)state;
    expect_cpuinfo(real_cpuinfo, "AMD EPYC", NULL);
    expect_cpuinfo("model name\t: Intel(R) Xeon(R)\nflags\t\t: fpu vmx ept\n", "Intel(R) Xeon(R)", "vmx");
    expect_cpuinfo("model name\t: AMD EPYC 7302\nflags\t\t: fpu svm npt\n", "AMD EPYC 7302", "svm");
    /* First and last word, and after a run of spaces. */
    expect_cpuinfo("flags\t\t: vmx fpu\n", NULL, "vmx");
    expect_cpuinfo("flags\t\t: fpu   svm\n", NULL, "svm");
    /* Words that only contain the name are other flags. */
    expect_cpuinfo("flags\t\t: vmxe avmx svm_lock nsvm\n", NULL, NULL);
    /* "vmx flags" (Intel's VMX features, Linux 5.8+) is not "flags". */
    expect_cpuinfo("vmx flags\t: vnmi ept\nflags\t\t: fpu\n", NULL, NULL);
    /* arm64: no model name, no flags line. */
    expect_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n", NULL, NULL);
}

/* The whole hosts of `kvmlaunch host` agree with the parsers. */
static void test_scenario_host_trees(void **state) {
    (void)state;
    _cleanup_free_ char *intel = must_read("host-2x8", "proc/cpuinfo");
    _cleanup_free_ char *amd = must_read("host-numa4", "proc/cpuinfo");
    _cleanup_free_ char *uevent = must_read("host-2x8", "sys/class/net/eth0/device/uevent");
    expect_cpuinfo(intel, "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", "vmx");
    expect_cpuinfo(amd, "AMD EPYC 7302 16-Core Processor", "svm");
    expect_field(uevent, "DRIVER", '=', "ixgbe");
    assert_int_equal(read_int("host-2x8", "sys/block/sda/size"), 7814037168);
    assert_int_equal(read_int("host-2x8", "sys/block/loop0/size"), 0);
    expect_missing("host-2x8", "sys/block/zram0/queue/scheduler");
}

int main(void) {
    hostroot_dir = find_hostroot_dir();
    if (!hostroot_dir) {
        fprintf(stderr, "test_kfiles: cannot find tests/hostroot (run from the repository root)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selected_real),
        cmocka_unit_test(test_selected_offered),
        cmocka_unit_test(test_selected_bad),
        cmocka_unit_test(test_selected_huge_line),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_meminfo),
        cmocka_unit_test(test_numa_maps_real),
        cmocka_unit_test(test_numa_maps_nodes),
        cmocka_unit_test(test_numa_maps_bad),
        cmocka_unit_test(test_numa_maps_long),
        cmocka_unit_test(test_hugetlbfs),
        cmocka_unit_test(test_cpulist),
        cmocka_unit_test(test_hostroot_files),
        cmocka_unit_test(test_scenario_cgroup2_numa2),
        cmocka_unit_test(test_scenario_cgroup1),
        cmocka_unit_test(test_scenario_missing_files),
        cmocka_unit_test(test_scenario_no_bfq),
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_cpuinfo),
        cmocka_unit_test(test_scenario_host_trees),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free(hostroot_dir);
    return r;
}
