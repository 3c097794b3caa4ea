/* The loader and validator on in-memory files: defaults, derived values,
 * how errors are collected, and the schema table's own invariants. */
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

#include "config_test.h"
#include "check.h"
#include "schema.h"
#include "util.h"
#include "vmconf.h"

#define MINIMAL "[vm]\nname = t1\nmemory = 1G\nvcpus = 2\n"

static void test_defaults(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "[disk \"root\"]\nfile = /img\n[net \"lan\"]\n", &cfg, &el), 0);
    assert_string_equal(cfg.vm.name, "t1");
    assert_int_equal(cfg.vm.memory, UINT64_C(1) << 30);
    assert_int_equal(cfg.vm.machine, MACHINE_Q35);
    assert_int_equal(cfg.vm.accel, ACCEL_AUTO);
    assert_int_equal(cfg.vm.shutdown_timeout_ms, 60000);
    assert_int_equal(cfg.vm.timeout_ms, 0);
    assert_false(cfg.vm.exit_device);
    assert_null(cfg.vm.firmware);
    assert_int_equal(cfg.vm.serial.kind, SERIAL_DEFAULT);
    /* No topology written: one socket of vcpus cores. */
    assert_int_equal(cfg.vm.sockets, 1);
    assert_int_equal(cfg.vm.cores, 2);
    assert_int_equal(cfg.vm.threads, 1);
    assert_int_equal(cfg.cpu.pin.kind, CPUSPEC_NONE);
    assert_int_equal(cfg.cpu.vhost.kind, CPUSPEC_EMULATOR);
    assert_int_equal(cfg.cpu.emulator.kind, CPUSPEC_UNSET);
    assert_int_equal(cfg.cpu.scheduler.kind, SCHED_KIND_OTHER);
    assert_int_equal(cfg.memory.backing, BACKING_ANONYMOUS);
    assert_int_equal(cfg.memory.hugepage_size, UINT64_C(2) << 20);
    assert_true(cfg.memory.merge);
    assert_false(vmconf_prealloc(&cfg));
    assert_int_equal(cfg.memory.policy, POLICY_DEFAULT);
    assert_true(cfg.balloon.enabled);
    assert_true(cfg.balloon.deflate_on_oom);
    assert_int_equal(cfg.balloon.stats_period_ms, 10000);
    assert_int_equal(cfg.host.thp, THP_KEEP);
    assert_int_equal(cfg.host.ksm, TRISTATE_UNSET);
    assert_int_equal(cfg.host.ksm_merge_across_nodes, TRISTATE_UNSET);
    assert_int_equal(cfg.host.ksm_pages_to_scan, -1);
    assert_int_equal(cfg.host.zone_reclaim, TRISTATE_UNSET);
    assert_int_equal(cfg.host.irqbalance, IRQBALANCE_WARN);
    assert_int_equal(cfg.n_disks, 1);
    DiskSection *d = &cfg.disks[0];
    assert_int_equal(d->format, FORMAT_AUTO);
    assert_int_equal(d->cache, CACHE_NONE);
    assert_int_equal(d->aio, AIO_NATIVE); /* derived from cache = none */
    assert_true(d->iothread);
    assert_int_equal(d->scheduler, IOSCHED_KEEP);
    assert_int_equal(vmconf_disk_queues(&cfg, d), 2);
    NetSection *n = &cfg.nets[0];
    assert_int_equal(vmconf_net_queues(&cfg, n), 2);
    assert_int_equal(n->vhost, VHOST_AUTO);
    assert_false(vmconf_net_steering(&cfg, n));
    _cleanup_free_ char *tap = vmconf_net_tap_name(&cfg, n);
    assert_string_equal(tap, "kl-t1-lan");
    vmconf_free(&cfg);
    errlist_clear(&el);
}

static void test_derived(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load("[vm]\nname = a-very-long-vm-name\nmemory = 2G\nvcpus = 32\n"
                          "[cpu]\npin = 0-31\n[memory]\nbacking = hugepages\n"
                          "[disk \"d\"]\nfile = /i\ncache = writeback\n[net \"uplink\"]\n[net \"b\"]\nqueues = 1\n", &cfg, &el), 0);
    assert_int_equal(vmconf_net_queues(&cfg, &cfg.nets[0]), 16); /* capped at 16 */
    assert_int_equal(vmconf_net_queues(&cfg, &cfg.nets[1]), 1);
    assert_true(vmconf_net_steering(&cfg, &cfg.nets[0]));      /* pinned */
    assert_true(vmconf_prealloc(&cfg));                         /* hugepages */
    assert_int_equal(cfg.disks[0].aio, AIO_THREADS);
    _cleanup_free_ char *tap = vmconf_net_tap_name(&cfg, &cfg.nets[0]);
    _cleanup_free_ char *tap2 = vmconf_net_tap_name(&cfg, &cfg.nets[1]);
    /* Cut to IFNAMSIZ with a hash of the whole, so the two stay apart. */
    assert_int_equal(strlen(tap), 15);
    assert_int_equal(strlen(tap2), 15);
    assert_memory_equal(tap, "kl-a-very-", 10);
    assert_string_not_equal(tap, tap2);
    /* Derived MACs: locally administered, unicast, stable, distinct. */
    MacAddr m1 = vmconf_net_mac(&cfg, &cfg.nets[0]), m2 = vmconf_net_mac(&cfg, &cfg.nets[1]);
    MacAddr again = vmconf_net_mac(&cfg, &cfg.nets[0]);
    assert_int_equal(m1.b[0] & 3, 2);
    assert_int_equal(m2.b[0] & 3, 2);
    assert_memory_equal(&m1, &again, sizeof(m1));
    assert_memory_not_equal(&m1, &m2, sizeof(m1));
    vmconf_free(&cfg);
    errlist_clear(&el);
}

static void test_topology(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load("[vm]\nname = t\nmemory = 1G\nvcpus = 8\nsockets = 2\nthreads = 2\n", &cfg, &el), 0);
    assert_int_equal(cfg.vm.cores, 2);
    vmconf_free(&cfg);
    config_expect_error("[vm]\nname = t\nmemory = 1G\nvcpus = 6\nsockets = 4\n", "vm.ini:5: [vm] sockets: expected sockets*cores*threads = vcpus = 6");
    config_expect_error("[vm]\nname = t\nmemory = 1G\nvcpus = 4\nsockets = 2\ncores = 2\nthreads = 2\n", "found 2*2*2 = 8");
    /* A refused topology key is reported once, not divided by (found by
     * fuzzing: tests/fuzz/regress/config/crash-topology-*). */
    config_expect_error("[vm]\nname = t\nmemory = 1G\nvcpus = 2\nthreads = bad\ncores = 1\n", "vm.ini:5: [vm] threads: expected a whole number");
    config_expect_error("[vm]\nname = t\nmemory = 0G\nvcpus = 1\n", "vm.ini:3: [vm] memory: expected a multiple of 1M of at least 16M, found 0");
}

static void test_multiline(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "kernel = /k\nappend = console=ttyS0\n   root=/dev/vda ; comment\n\tquiet # another\n", &cfg, &el), 0);
    assert_string_equal(cfg.vm.append, "console=ttyS0 root=/dev/vda quiet");
    vmconf_free(&cfg);
    config_expect_error(MINIMAL "machine = q35\n  pc\n", "vm.ini:6: expected a key at the start of the line");
}

static void test_all_errors_reported(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    const char *text = "[vm]\nname = bad name\nmemory = 1X\nvcpus = 0\nmachnie = q35\n[cpus]\npin = 1\n[disk \"a\"]\ncache = fast\n";
    assert_int_equal(config_load(text, &cfg, &el), -EINVAL);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    assert_non_null(strstr(msgs, "vm.ini:2: [vm] name: expected"));
    assert_non_null(strstr(msgs, "vm.ini:3: [vm] memory: expected a size"));
    assert_non_null(strstr(msgs, "vm.ini:4: [vm] vcpus: expected a number from 1 to 288, found \"0\""));
    assert_non_null(strstr(msgs, "vm.ini:5: [vm] machnie: unknown key (did you mean machine?)"));
    assert_non_null(strstr(msgs, "vm.ini:6: [cpus]: unknown section (did you mean [cpu]?)"));
    assert_non_null(strstr(msgs, "vm.ini:9: [disk \"a\"] cache: expected none, writeback, writethrough, directsync or unsafe, found \"fast\""));
    /* In line order. */
    for (size_t i = 1; i < el.n; i++) assert_true(el.e[i - 1].line <= el.e[i].line);
    errlist_clear(&el);
}

static void test_line_limits(void **state) {
    (void)state;
    /* 198 characters is the longest line inih reads whole. */
    char line[300];
    memset(line, 0, sizeof(line));
    strcpy(line, "append = ");
    memset(line + 9, 'x', 198 - 9);
    _cleanup_free_ char *ok = xasprintf(MINIMAL "kernel = /k\n%s\n", line);
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(ok, &cfg, &el), 0);
    assert_int_equal(strlen(cfg.vm.append), 198 - 9);
    vmconf_free(&cfg);
    line[198] = 'x';
    _cleanup_free_ char *bad = xasprintf(MINIMAL "kernel = /k\n%s\n", line);
    config_expect_error(bad, "vm.ini:6: expected lines of at most 198 bytes, found 199");

    static const char nul[] = "[vm]\nname = t\nmem\0ory = 1G\nvcpus = 1\n";
    assert_int_equal(vmconf_load_buffer("vm.ini", nul, sizeof(nul) - 1, &cfg, &el), -EINVAL);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    assert_non_null(strstr(msgs, "vm.ini:3: expected text, found a NUL byte at column 4"));
    errlist_clear(&el);
}

static void test_error_cap(void **state) {
    (void)state;
    /* A large file of garbage gives a bounded list. */
    size_t n = 200000;
    char *text = xmalloc(n * 4 + 1);
    for (size_t i = 0; i < n; i++) memcpy(text + i * 4, "xx\n\n", 4);
    text[n * 4] = 0;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(text, &cfg, &el), -EINVAL);
    assert_int_equal(el.n, ERRLIST_MAX);
    assert_true(el.full);
    free(text);
    errlist_clear(&el);
}

static void test_file_kinds(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(vmconf_load_file(dir, &cfg, &el), -EINVAL);
    assert_non_null(strstr(el.e[0].msg, "expected a regular file, found a directory"));
    errlist_clear(&el);

    _cleanup_free_ char *fifo = xasprintf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(vmconf_load_file(fifo, &cfg, &el), -EINVAL);
    assert_non_null(strstr(el.e[0].msg, "found a FIFO"));
    errlist_clear(&el);

    _cleanup_free_ char *missing = xasprintf("%s/none.ini", dir);
    assert_int_equal(vmconf_load_file(missing, &cfg, &el), -ENOENT);
    assert_non_null(strstr(el.e[0].msg, "cannot open the VM definition: No such file or directory"));
    errlist_clear(&el);

    _cleanup_free_ char *good = xasprintf("%s/vm.ini", dir);
    FILE *f = fopen(good, "w");
    assert_non_null(f);
    fputs("\xEF\xBB\xBF" MINIMAL, f); /* a BOM at the start is fine */
    fclose(f);
    assert_int_equal(vmconf_load_file(good, &cfg, &el), 0);
    assert_string_equal(cfg.path, good);
    vmconf_free(&cfg);

    unlink(good);
    unlink(fifo);
    rmdir(dir);
}

static void test_schema_table(void **state) {
    (void)state;
    /* Each default parses (schema_apply_defaults aborts otherwise), each
     * section's keys fit key_line[], and names are unique per section. */
    size_t per_section[SECTION__MAX] = { 0 };
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *k = &schema_keys[i];
        per_section[k->section]++;
        assert_non_null(k->help);
        int idx;
        assert_ptr_equal(schema_key_find(k->section, k->name, &idx), k);
        assert_int_equal(idx, schema_key_index(k));
        if (k->type == VT_ENUM) assert_non_null(k->words);
    }
    for (size_t s = 0; s < SECTION__MAX; s++) {
        assert_true(per_section[s] > 0);
        assert_true(per_section[s] <= SECTION_KEYS_MAX);
    }
    assert_string_equal(schema_key_suggest(SECTION_MEMORY, "hugepagesize"), "hugepage-size");
    assert_null(schema_key_suggest(SECTION_MEMORY, "zzz"));
}

static void test_checks_after_refused_lines(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    /* A refused value and an unrelated cross-key problem: both reported;
     * the refused key's default does not add a third, misleading one. */
    const char *text = MINIMAL "machine = big\n[cpu]\npin = 0-3\n[disk \"a\"]\nfile = /x\ncache = fast\naio = native\n";
    assert_int_equal(config_load(text, &cfg, &el), -EINVAL);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    assert_non_null(strstr(msgs, "vm.ini:5: [vm] machine: expected q35, pc, microvm, or a versioned type"));
    assert_non_null(strstr(msgs, "vm.ini:7: [cpu] pin: expected 2 CPUs"));
    assert_non_null(strstr(msgs, "vm.ini:10: [disk \"a\"] cache: expected none"));
    assert_null(strstr(msgs, "with aio = native"));
    assert_int_equal(el.n, 3);
    errlist_clear(&el);
}

static void test_notes(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "[disk \"a\"]\nfile = /x\nscheduler = cfq\n", &cfg, &el), 0);
    assert_int_equal(cfg.disks[0].scheduler, IOSCHED_BFQ);
    assert_int_equal(cfg.notes.n, 1);
    assert_non_null(strstr(cfg.notes.e[0].msg, "vm.ini:7: [disk \"a\"] scheduler: legacy scheduler name cfq"));
    vmconf_free(&cfg);
}

static void test_cross_key(void **state) {
    (void)state;
    config_expect_error(MINIMAL "[cpu]\npin = 0-3\n", "vm.ini:6: [cpu] pin: expected 2 CPUs (one per vCPU, vcpus = 2), found 4");
    config_expect_error(MINIMAL "[cpu]\nvcpu.2 = 1\n", "[cpu] vcpu.2: expected a vCPU number below vcpus = 2");
    config_expect_error(MINIMAL "[memory]\nbacking = hugepages\nhugepage-size = 1G\n[vm]\n", "section repeated");
    config_expect_error("[vm]\nname = t\nmemory = 1536M\nvcpus = 1\n[memory]\nbacking = hugepages\nhugepage-size = 1G\n",
                 "vm.ini:7: [memory] hugepage-size: expected a huge page size that divides memory = 1536M, found 1G");
    config_expect_error(MINIMAL "[memory]\nhugepage-size = 1G\n", "expected backing = hugepages with this key");
    config_expect_error(MINIMAL "[disk \"a\"]\nfile = /x\ncache = writeback\naio = native\n", "expected cache = none or directsync with aio = native");
    config_expect_error(MINIMAL "[disk \"a\"]\nfile = /x\n[disk \"a\"]\nfile = /y\n", "vm.ini:7: [disk \"a\"]: section repeated, first at line 5");
    config_expect_error(MINIMAL "[disk \"a\"]\nfile = /x\n[disk \"b\"]\nfile = /x\n", "found the file of [disk \"a\"]");
    config_expect_error(MINIMAL "[net \"a\"]\ntap = t0\n[net \"b\"]\ntap = t0\n", "found t0, the tap of [net \"a\"]");
    config_expect_error(MINIMAL "[net \"a\"]\nmac = 52:54:00:00:00:01\n[net \"b\"]\nmac = 52:54:00:00:00:01\n", "expected a MAC no other NIC");
    config_expect_error(MINIMAL "[memory]\npolicy = interleave\n", "expected nodes to be set too");
    config_expect_error(MINIMAL "initrd = /i\n", "expected kernel to be set too, found initrd alone");
    config_expect_error(MINIMAL "machine = microvm\n", "with machine = microvm");
    config_expect_error(MINIMAL "[net \"a\"]\nsteering = yes\n", "expected pinned vCPUs");
    config_expect_error("[vm]\nname = t\nvcpus = 1\n", "vm.ini:1: [vm] memory: required key missing");
    config_expect_error("[cpu]\npin = none\n", "[vm]: required section missing");
    config_expect_error("name = t\n", "vm.ini:1: name: expected a [section] header before the first key");
    config_expect_error(MINIMAL "name = u\n", "vm.ini:5: [vm] name: duplicate key, first set on line 2");
    config_expect_error(MINIMAL "user = root\n", "a user other than root");
    config_expect_error(MINIMAL "[disk \"1a\"]\nfile = /x\n", "[disk]: expected an ID of a letter");
    config_expect_error(MINIMAL "[disk a]\nfile = /x\n", "with the ID in double quotes");
    config_expect_error(MINIMAL "[vm \"x\"]\n", "expected a section without an ID");
    config_expect_error(MINIMAL "[hostnic \"eth0/x\"]\n", "an interface name");
    config_expect_error(MINIMAL "append = a\x01" "b\n", "found byte 0x01");
    config_expect_error(MINIMAL "cpu-model = host,,x\n", "expected a CPU model");
    config_expect_error(MINIMAL "cpu-model = max,+x2apic,kvm=off\n[vm", "no closing ]");
    config_expect_error(MINIMAL "memory: 1G\n", "vm.ini:5: expected KEY = VALUE, found a colon");
    config_expect_error(MINIMAL "exit-device ;old = yes\n", "vm.ini:5: expected KEY = VALUE, found a comment before the =");
    config_expect_error(MINIMAL "kernel = /k\nappend = quiet\n  initrd = /i\n", "vm.ini:7: expected more of append, found an indented key");
    config_expect_error(MINIMAL "kernel = /k\nappend = quiet\n  [disk \"a\"]\n", "found an indented section header");
    config_expect_error(MINIMAL "a\rb = c\n", "found a carriage return at column 2");
    config_expect_error(MINIMAL "\xEF\xBB\xBF[cpu]\npin = 9\n", "vm.ini:5: expected text, found a byte-order mark");
    config_expect_error("[VM]\nname = t\n", "[VM]: unknown section (did you mean [vm]?)");
    /* pin is a sequence (a CPU may repeat); the other lists are sets. */
    config_expect_error(MINIMAL "[cpu]\npin = 0,1\nemulator = 0-3,2\n", "2 is listed twice");
    config_expect_error(MINIMAL "[cpu]\npin = 0,1\niothreads = 1,1\n", "1 is listed twice");
    config_expect_error(MINIMAL "[cpu]\npin = 0,1\nvcpu.0 = 2,2\n", "2 is listed twice");
    config_expect_error(MINIMAL "[cpu]\npin = 0,1,0\n", "expected 2 CPUs (one per vCPU, vcpus = 2), found 3");
    config_expect_error(MINIMAL "append = a\x1b[31m\n", "found byte 0x1b");
    /* Raw text in a message has its control characters escaped. */
    config_expect_error(MINIMAL "[cpu]\x1b[2J\n", "found \"\\x1b[2J\"");
    config_expect_error(MINIMAL "\x1b]0;x\x07\n", "found \"\\x1b]0;x\\x07\"");
}

/* kvmlaunch.ini(5) is generated from the table: each character must come out
 * as itself, whatever roff would make of it. */
static char *roff(const char *in, bool at_line_start) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    schema_roff_escape(f, in, at_line_start);
    fclose(f);
    return buf;
}

static void test_roff_escape(void **state) {
    (void)state;
    static const struct { const char *in; bool bol; const char *out; } cases[] = {
        { "cpu-model", false, "cpu\\-model" },
        { "a\\b", false, "a\\eb" },
        { ".hidden", true, "\\&.hidden" },
        { "'quote", true, "\\&'quote" },
        { ".mid", false, ".mid" },
        { "x\n.y\n'z", false, "x\n\\&.y\n\\&'z" },
        { "[disk \"ID\"]", false, "[disk \\(dqID\\(dq]" },
        { "a `code` b", true, "a \\fBcode\\fR b" },
        { "open `end", true, "open \\fBend\\fR" },
        { "\xe2\x89\xa5 1", false, "\\[u2265] 1" },
        { "bad\xff", false, "bad\\[u00FF]" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *got = roff(cases[i].in, cases[i].bol);
        assert_string_equal(got, cases[i].out);
    }
}

/* X_to_string takes its enum type: called through an int, as a table loop needs. */
#define TO_INT(name, type) \
    static const char *name##_to(int v) { return name##_to_string((type)v); }
TO_INT(machine_type, MachineType) TO_INT(accel_kind, AccelKind) TO_INT(serial_kind, SerialKind) TO_INT(mem_backing, MemBacking)
TO_INT(mem_policy, MemPolicy) TO_INT(sched_kind, SchedKind) TO_INT(thp_mode, ThpMode) TO_INT(thp_defrag, ThpDefrag)
TO_INT(irqbalance_mode, IrqbalanceMode) TO_INT(disk_format, DiskFormat) TO_INT(disk_bus, DiskBus) TO_INT(cache_mode, CacheMode)
TO_INT(aio_mode, AioMode) TO_INT(discard_mode, DiscardMode) TO_INT(io_scheduler, IoScheduler) TO_INT(vhost_mode, VhostMode)
TO_INT(xps_mode, XpsMode) TO_INT(offloads_mode, OffloadsMode) TO_INT(cpu_spec_kind, CpuSpecKind)
TO_INT(net_mode, NetMode) TO_INT(fwd_proto, FwdProto)
#undef TO_INT

/* One table per enum, and the lookups both ways agree with it. */
static void test_enum_tables(void **state) {
    (void)state;
    static const struct { const EnumName *table; const char *(*to)(int); int (*from)(const char *); } tables[] = {
#define T(name) { name##_table, name##_to, name##_from_string }
        T(machine_type), T(accel_kind), T(serial_kind), T(mem_backing), T(mem_policy), T(sched_kind), T(thp_mode),
        T(thp_defrag), T(irqbalance_mode), T(disk_format), T(disk_bus), T(cache_mode), T(aio_mode), T(discard_mode),
        T(io_scheduler), T(vhost_mode), T(xps_mode), T(offloads_mode), T(cpu_spec_kind), T(net_mode), T(fwd_proto),
#undef T
    };
    for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
        size_t words = 0;
        for (const EnumName *w = tables[i].table; w->name; w++, words++) {
            assert_int_equal(tables[i].from(w->name), w->value);
            /* An alias is read, never printed. */
            if (!w->note) assert_string_equal(tables[i].to(w->value), w->name);
            else assert_string_not_equal(tables[i].to(w->value), w->name);
        }
        assert_true(words >= 2);
        assert_int_equal(tables[i].from("no such word"), -EINVAL);
        assert_int_equal(tables[i].from(""), -EINVAL);
    }
    assert_int_equal(io_scheduler_from_string("noop"), IOSCHED_NONE);
    assert_string_equal(io_scheduler_to_string(IOSCHED_NONE), "none");
    assert_int_equal(thp_mode_from_string("keep"), THP_KEEP);
    assert_null(aio_mode_to_string(AIO_DEFAULT));
    assert_null(disk_format_to_string(FORMAT_AUTO));

    /* Every enumerated key reads a table of the schema's own. */
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *def = &schema_keys[i];
        if (def->type == VT_CPULIST) {
            assert_true(def->words == NULL || def->words == cpu_spec_kind_table);
            assert_true((def->words != NULL) == (def->words_mask != 0));
        }
    }

    /* A cpulist key takes only its own words of the shared table. */
    config_expect_error(MINIMAL "[cpu]\npin = emulator\n", "vm.ini:6: [cpu] pin: expected a CPU list such as 0-3,8, auto or none, found \"emulator\"");
    config_expect_error(MINIMAL "[cpu]\nvhost = auto\n", "[cpu] vhost: expected a CPU list such as 0-3,8, emulator or none, found \"auto\"");
    config_expect_error(MINIMAL "[hostnic \"eth0\"]\nirq-cpus = off\n", "irq-cpus: expected a CPU list such as 0-3,8, local or keep, found \"off\"");
    config_expect_error(MINIMAL "[cpu]\nemulator = none\n", "[cpu] emulator: expected a CPU list such as 0-3,8,10-11, found \"none\"");
    config_expect_error(MINIMAL "[vm]\n", "section repeated");
    config_expect_error(MINIMAL "serial = file\n", "serial: expected stdout, file:PATH, pty or none, found \"file\"");
    config_expect_error(MINIMAL "[cpu]\nscheduler = other:5\n", "scheduler: expected other, fifo:PRIO or rr:PRIO");
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "serial = pty\n[cpu]\nscheduler = rr:7\nvhost = none\n[hostnic \"eth0\"]\nrps-cpus = off\n", &cfg, &el), 0);
    assert_int_equal(cfg.vm.serial.kind, SERIAL_PTY);
    assert_int_equal(cfg.cpu.scheduler.kind, SCHED_KIND_RR);
    assert_int_equal(cfg.cpu.scheduler.priority, 7);
    assert_int_equal(cfg.cpu.vhost.kind, CPUSPEC_NONE);
    assert_int_equal(cfg.hostnics[0].rps_cpus.kind, CPUSPEC_OFF);
    vmconf_free(&cfg);
}

/* [cpu] pin may repeat a CPU: 4 vCPUs on 0,1,0,1, vCPU i on the i-th. */
static void test_pin_repeats(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    static const char ini[] = "[vm]\nname = t1\nmemory = 1G\nvcpus = 4\n[cpu]\npin = 0,1,0,1\n";
    assert_int_equal(config_load(ini, &cfg, &el), 0);
    assert_int_equal(cfg.cpu.pin.kind, CPUSPEC_LIST);
    assert_int_equal(cfg.cpu.pin.list.n, 4);
    static const int want[] = { 0, 1, 0, 1 };
    for (size_t i = 0; i < 4; i++) assert_int_equal(cfg.cpu.pin.list.cpu[i], want[i]);
    /* Shown as the set it covers. */
    _cleanup_free_ char *set = cpulist_format(&cfg.cpu.pin.list);
    assert_string_equal(set, "0-1");
    vmconf_free(&cfg);
    assert_int_equal(config_load("[vm]\nname = t1\nmemory = 1G\nvcpus = 3\n[cpu]\npin = 2-3,2\n", &cfg, &el), 0);
    assert_int_equal(cfg.cpu.pin.list.n, 3);
    assert_int_equal(cfg.cpu.pin.list.cpu[2], 2);
    vmconf_free(&cfg);
    errlist_clear(&el);
}

/* Each message says in fields what it is about; `check` picks its topic
 * from them, never from the text. */
static void test_structured_errors(void **state) {
    (void)state;
    static const char ini[] = "[vm]\nname = t1\nmemory = 1G\nvcpus = 2\n"  /* 1-4 */
                              "[cpu]\npin = 0\nvcpu.5 = 1\n"                   /* 5-7 */
                              "[disk \"a\"]\nfile = /x\ncache = bogus\n"        /* 8-10 */
                              "[VM]\n"                                          /* 11 */
                              "[host]\nthp = keep\n";                           /* 12-13 */
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(ini, &cfg, &el), -EINVAL);
    static const struct { int line; const char *section, *key, *start; } want[] = {
        { 6, "cpu", "pin", "vm.ini:6: [cpu] pin: expected 2 CPUs" },
        { 7, "cpu", "vcpu.5", "vm.ini:7: [cpu] vcpu.5: expected a vCPU number below vcpus = 2" },
        { 10, "disk", "cache", "vm.ini:10: [disk \"a\"] cache: expected none," },
        { 11, NULL, NULL, "vm.ini:11: [VM]: unknown section" },
    };
    _cleanup_free_ char *msgs = config_all_errors(&el);
    if (el.n != ELEMENTSOF(want)) fail_msg("expected %zu messages, got:\n%s", ELEMENTSOF(want), msgs);
    for (size_t i = 0; i < ELEMENTSOF(want); i++) {
        const ErrEntry *e = &el.e[i];
        assert_int_equal(e->line, want[i].line);
        if (strncmp(e->msg, want[i].start, strlen(want[i].start))) fail_msg("message %zu: %s", i, e->msg);
        if (want[i].section) assert_string_equal(e->section, want[i].section);
        else assert_null(e->section);
        if (want[i].key) assert_string_equal(e->key, want[i].key);
        else assert_null(e->key);
    }
    errlist_clear(&el);

    /* The topics: a key of its own where it has one, else its section's,
     * else "plan"; a text that looks like another section fools nothing. */
    static const struct { const char *section, *key, *topic; } topics[] = {
        { "disk", "scheduler", "iosched" }, { "disk", "aio", "cache" }, { "disk", "file", "disks" }, { "disk", NULL, "disks" },
        { "memory", "nodes", "nodes" },     { "memory", "backing", "hugepages" }, { "vm", "accel", "kvm" },
        { "vm", "name", "plan" },           { "cpu", "vcpu.3", "cpus" },  { "hostnic", "xps", "hostnic" }, { NULL, NULL, "plan" },
    };
    for (size_t i = 0; i < ELEMENTSOF(topics); i++) {
        ErrEntry e = { 1, topics[i].section, (char *)topics[i].key, (char *)"t.ini:1: [net \"n\"] vhost: as text, another topic" };
        assert_string_equal(check_topic_of(&e), topics[i].topic);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_derived),     cmocka_unit_test(test_topology),
        cmocka_unit_test(test_multiline),  cmocka_unit_test(test_all_errors_reported), cmocka_unit_test(test_line_limits),
        cmocka_unit_test(test_error_cap),  cmocka_unit_test(test_file_kinds),  cmocka_unit_test(test_schema_table),
        cmocka_unit_test(test_notes),      cmocka_unit_test(test_cross_key),  cmocka_unit_test(test_checks_after_refused_lines),
        cmocka_unit_test(test_roff_escape), cmocka_unit_test(test_structured_errors),
        cmocka_unit_test(test_enum_tables), cmocka_unit_test(test_pin_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
