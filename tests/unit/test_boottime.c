/* The boot path (issue 18): the host's TSC rate from /proc/cpuinfo, the
 * microvm hint on -append, the NIC ROM choice, and the boot timeline's
 * reading of the console (a mark split across reads) and its budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "boottime.h"
#include "util.h"

static const char cpuinfo_ok[] = "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2096.017\n"
                                 "flags\t\t: fpu tsc constant_tsc rep_good nonstop_tsc tsc_known_freq\n\nprocessor\t: 1\ncpu MHz\t\t: 1000.000\n";
static const char cpuinfo_varying[] = "processor\t: 0\ncpu MHz\t\t: 1200.000\nflags\t\t: fpu tsc nonstop_tsc_x constant_tsc\n";

static void test_tsc_khz(void **state) {
    (void)state;
    assert_int_equal(bootfacts_parse_tsc_khz(cpuinfo_ok), 2096017);
    /* Without nonstop_tsc (nonstop_tsc_x is another word) "cpu MHz" is the clock of the moment. */
    assert_int_equal(bootfacts_parse_tsc_khz(cpuinfo_varying), 0);
    assert_int_equal(bootfacts_parse_tsc_khz("processor\t: 0\n"), 0);
    assert_int_equal(bootfacts_parse_tsc_khz(NULL), 0);
}

static char *append_of(int machine, bool kvm, unsigned khz, const char *append) {
    VmConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.vm.kernel = (char *)"/k";
    cfg.vm.append = (char *)append;
    cfg.vm.machine = machine;
    HostFacts f;
    memset(&f, 0, sizeof(f));
    f.tsc_khz = khz;
    StrVec argv = STRVEC_INIT;
    qemucmd_boot_append(&cfg, &f, kvm, &argv);
    char *out = argv.n == 2 && streq(argv.v[0], "-append") ? xstrdup(argv.v[1]) : argv.n ? xstrdup("?") : NULL;
    strvec_clear(&argv);
    return out;
}

static void test_append(void **state) {
    (void)state;
    _cleanup_free_ char *a = append_of(MACHINE_MICROVM, false, 2096017, "console=ttyS0");
    assert_string_equal(a, "console=ttyS0 tsc_early_khz=2096017");
    _cleanup_free_ char *b = append_of(MACHINE_MICROVM, false, 2096017, NULL);
    assert_string_equal(b, "tsc_early_khz=2096017");
    /* KVM has kvm-clock; q35 has an HPET and a PM timer; unknown rate: nothing. */
    _cleanup_free_ char *c = append_of(MACHINE_MICROVM, true, 2096017, "console=ttyS0");
    assert_string_equal(c, "console=ttyS0");
    _cleanup_free_ char *d = append_of(MACHINE_Q35, false, 2096017, "console=ttyS0");
    assert_string_equal(d, "console=ttyS0");
    _cleanup_free_ char *e = append_of(MACHINE_MICROVM, false, 0, "console=ttyS0");
    assert_string_equal(e, "console=ttyS0");
    /* The user's own value stays the only one. */
    _cleanup_free_ char *g = append_of(MACHINE_MICROVM, false, 2096017, "tsc_early_khz=1000 console=ttyS0");
    assert_string_equal(g, "tsc_early_khz=1000 console=ttyS0");
    _cleanup_free_ char *h = append_of(MACHINE_Q35, false, 0, NULL);
    assert_null(h);
}

static void test_rom(void **state) {
    (void)state;
    VmConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_false(qemucmd_boot_rom_off(&cfg, true));
    cfg.vm.kernel = (char *)"/k";
    assert_true(qemucmd_boot_rom_off(&cfg, true));
    assert_false(qemucmd_boot_rom_off(&cfg, false));
}

static BootTimeline timeline(uint64_t budget_ms, int action) {
    VmConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.vm.boot_budget_ms = budget_ms;
    cfg.vm.boot_budget_action = action;
    BootTimeline b;
    boottime_init(&b, &cfg, 1000000, 1100000, 1200000, true, -1);
    return b;
}

static void feed(BootTimeline *b, const char *s) { boottime_output(b, s, strlen(s)); }

static void test_marks(void **state) {
    (void)state;
    BootTimeline b = timeline(0, BOOT_BUDGET_WARN);
    assert_int_equal(b.serial_us, 0);
    feed(&b, "[    1.2] Run /init a");
    assert_true(b.serial_us > 0);
    assert_int_equal(b.init_us, 0);
    /* The kernel's line split across three reads. */
    feed(&b, "s in");
    assert_int_equal(b.init_us, 0);
    feed(&b, "it process\n");
    assert_true(b.init_us > 0);

    BootTimeline r = timeline(0, BOOT_BUDGET_WARN);
    for (const char *p = "x" BOOT_READY_MARK "\n"; *p; p++) boottime_output(&r, p, 1);
    assert_true(r.init_us > 0);

    BootTimeline n = timeline(0, BOOT_BUDGET_WARN);
    feed(&n, "Run /init as init proces");
    feed(&n, "KVMLAUNCH-READ");
    feed(&n, "s\n");
    assert_int_equal(n.init_us, 0);

    json_object *o = boottime_json(&b);
    assert_true(json_object_get_double(json_object_object_get(o, "qmp_ms")) == 100.0);
    assert_true(json_object_get_double(json_object_object_get(o, "cont_ms")) == 200.0);
    assert_non_null(json_object_object_get(o, "init_ms"));
    assert_null(json_object_object_get(o, "budget_ms"));
    /* Tenths of a ms as written, not a double's 17 digits. */
    assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "\"qmp_ms\":100.0,\"cont_ms\":200.0,"));
    json_object_put(o);
    json_object *on = boottime_json(&n);
    assert_null(json_object_object_get(on, "init_ms"));
    json_object_put(on);
}

static void test_budget(void **state) {
    (void)state;
    BootTimeline none = timeline(0, BOOT_BUDGET_WARN);
    assert_true(boottime_deadline_ms(&none) < 0);
    BootTimeline w = timeline(5000, BOOT_BUDGET_WARN);
    assert_int_equal(boottime_deadline_ms(&w), 1000 + 5000);
    assert_false(boottime_budget_passed(&w));
    assert_true(w.budget_missed);
    assert_true(boottime_deadline_ms(&w) < 0);
    BootTimeline f = timeline(5000, BOOT_BUDGET_FAIL);
    assert_true(boottime_budget_passed(&f));
    /* Seen in time: no deadline any more. */
    BootTimeline s = timeline(5000, BOOT_BUDGET_FAIL);
    feed(&s, "Run /init as init process\n");
    assert_true(boottime_deadline_ms(&s) < 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsc_khz), cmocka_unit_test(test_append), cmocka_unit_test(test_rom),
        cmocka_unit_test(test_marks),   cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
