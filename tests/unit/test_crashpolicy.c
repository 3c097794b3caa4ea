/* Crash and reboot policy (include/crashpolicy.h): the [vm] keys as
 * loaded (defaults, restart-limit's parser and its messages, microvm
 * refused), the supervisor's decisions on a clock of the test's own
 * (restart-limit's window), QEMU's -action and devices, the events read,
 * and the state record for status and metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"
#include "crashpolicy.h"
#include "qemucmd.h"
#include "schema.h"
#include "util.h"
#include "vmconf.h"
#include "vmconf_internal.h"

#define MINIMAL "[vm]\nname = t1\nmemory = 1G\nvcpus = 2\n"

static void load_ok(const char *text, VmConfig *cfg) {
    ErrList el;
    int r = config_load(text, cfg, &el);
    _cleanup_free_ char *msgs = config_all_errors(&el);
    errlist_clear(&el);
    if (r < 0) fail_msg("refused (%d):\n%s", r, msgs);
}

static void test_defaults(void **state) {
    (void)state;
    VmConfig cfg;
    load_ok(MINIMAL, &cfg);
    assert_int_equal(cfg.vm.on_reboot, ON_REBOOT_RESET);
    assert_int_equal(cfg.vm.on_crash, ON_CRASH_STOP);
    assert_int_equal(cfg.vm.watchdog, WATCHDOG_NONE);
    assert_int_equal(cfg.vm.watchdog_action, WATCHDOG_DO_RESET);
    assert_int_equal(cfg.vm.restart_limit.count, 5);
    assert_int_equal(cfg.vm.restart_limit.window_ms, 600000);
    vmconf_free(&cfg);
    load_ok(MINIMAL "on-reboot = stop\non-crash = pause\nwatchdog = i6300esb\nwatchdog-action = poweroff\nrestart-limit = 3/90s\n", &cfg);
    assert_int_equal(cfg.vm.on_reboot, ON_REBOOT_STOP);
    assert_int_equal(cfg.vm.on_crash, ON_CRASH_PAUSE);
    assert_int_equal(cfg.vm.watchdog, WATCHDOG_I6300ESB);
    assert_int_equal(cfg.vm.watchdog_action, WATCHDOG_DO_POWEROFF);
    assert_int_equal(cfg.vm.restart_limit.count, 3);
    assert_int_equal(cfg.vm.restart_limit.window_ms, 90000);
    vmconf_free(&cfg);
}

static void expect_limit(const char *s, int64_t count, uint64_t window_ms) {
    RestartLimit l = { 0, 0 };
    char err[VALUE_ERR_MAX] = "";
    if (vmconf_parse_restart_limit(s, &l, err) < 0) fail_msg("\"%s\" refused: %s", s, err);
    assert_int_equal(l.count, count);
    assert_int_equal(l.window_ms, window_ms);
}

static void expect_limit_refused(const char *s) {
    RestartLimit l = { 7, 7 };
    char err[VALUE_ERR_MAX] = "";
    if (vmconf_parse_restart_limit(s, &l, err) == 0) fail_msg("\"%s\" accepted", s);
    if (!strstr(err, "expected N/DURATION such as 5/10m")) fail_msg("\"%s\": %s", s, err);
    assert_int_equal(l.count, 7); /* untouched */
}

static void test_restart_limit_parse(void **state) {
    (void)state;
    expect_limit("5/10m", 5, 600000);
    expect_limit("1/1h", 1, 3600000);
    expect_limit("1000/500ms", 1000, 500);
    expect_limit("2/30", 2, 30000); /* a bare duration is seconds */
    static const char *const bad[] = { "", "5", "/10m", "5/", "0/10m", "1001/10m", "-1/10m", "+5/10m", " 5/10m", "5/0s", "5/10x",
                                       "5/10m/1", "a/10m", "12345/1m", "5 /10m" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) expect_limit_refused(bad[i]);
    /* In a file: FILE:LINE, the key, what was written. */
    config_expect_error(MINIMAL "restart-limit = 0/10m\n", "vm.ini:5: [vm] restart-limit: expected N/DURATION such as 5/10m");
    config_expect_error(MINIMAL "restart-limit = 0/10m\n", "found \"0/10m\"");
    config_expect_error(MINIMAL "on-crash = reboot\n", "vm.ini:5: [vm] on-crash: expected stop, restart or pause");
    config_expect_error(MINIMAL "watchdog-action = shutdown\n", "expected reset, poweroff, pause or none");
}

static void test_microvm(void **state) {
    (void)state;
    config_expect_error(MINIMAL "machine = microvm\nkernel = /k\non-crash = restart\n", "vm.ini:7: [vm] on-crash: expected stop with machine = microvm");
    config_expect_error(MINIMAL "machine = microvm\nkernel = /k\nwatchdog = i6300esb\n", "vm.ini:7: [vm] watchdog: expected none with machine = microvm");
    VmConfig cfg;
    /* The defaults, and what needs neither pvpanic nor PCI, are fine. */
    load_ok(MINIMAL "machine = microvm\nkernel = /k\non-crash = stop\nwatchdog = none\non-reboot = stop\n", &cfg);
    vmconf_free(&cfg);
}

static VmSection policy(int on_crash, int watchdog_action, int64_t count, uint64_t window_ms) {
    VmSection vm;
    memset(&vm, 0, sizeof(vm));
    vm.on_crash = on_crash;
    vm.watchdog = WATCHDOG_I6300ESB;
    vm.watchdog_action = watchdog_action;
    vm.restart_limit = (RestartLimit){ count, window_ms };
    return vm;
}

static void test_decide(void **state) {
    (void)state;
    CrashWatch w;
    VmSection vm = policy(ON_CRASH_STOP, WATCHDOG_DO_NONE, 5, 600000);
    crashwatch_init(&w, &vm, -1);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 0), CRASH_STOP);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 0), CRASH_IGNORE);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_NONE, 0), CRASH_IGNORE);
    vm.on_crash = ON_CRASH_PAUSE;
    vm.watchdog_action = WATCHDOG_DO_PAUSE;
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 0), CRASH_HOLD);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 0), CRASH_HOLD);
    vm.watchdog_action = WATCHDOG_DO_POWEROFF;
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 0), CRASH_STOP);
    /* None of these is a reset: nothing counted. */
    assert_int_equal(w.restarts, 0);
    assert_int_equal(w.last, TROUBLE_NONE);
    crashwatch_free(&w);
}

/* More than COUNT resets within WINDOW: the one past it is refused; resets
 * that left the window no longer count; panics and watchdogs count
 * together. */
static void test_limit_window(void **state) {
    (void)state;
    CrashWatch w;
    VmSection vm = policy(ON_CRASH_RESTART, WATCHDOG_DO_RESET, 3, 10000);
    crashwatch_init(&w, &vm, -1);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 1000), CRASH_RESET);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 2000), CRASH_RESET);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 3000), CRASH_RESET);
    assert_int_equal(w.restarts, 3);
    assert_int_equal(w.last, TROUBLE_PANIC);
    /* A fourth within 10 s of the first: refused, and not counted. */
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 10999), CRASH_LIMIT);
    assert_int_equal(w.restarts, 3);
    assert_int_equal(w.last, TROUBLE_PANIC);
    /* At 11000 the first left the window (it is 10 s old): room for one. */
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 11000), CRASH_RESET);
    assert_int_equal(w.last, TROUBLE_WATCHDOG);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 11500), CRASH_LIMIT);
    /* Long after: the ring of the last three decides, all of them old. */
    for (int i = 0; i < 3; i++) assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 100000 + i), CRASH_RESET);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 100003), CRASH_LIMIT);
    assert_int_equal(w.restarts, 7);
    crashwatch_free(&w);
    /* 1/DURATION: one reset, the next within it stops. */
    vm.restart_limit = (RestartLimit){ 1, 600000 };
    crashwatch_init(&w, &vm, -1);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 5), CRASH_RESET);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 600004), CRASH_LIMIT);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 600005), CRASH_RESET);
    crashwatch_free(&w);
    /* A model that was never loaded (count 0) resets nothing. */
    vm.restart_limit = (RestartLimit){ 0, 0 };
    crashwatch_init(&w, &vm, -1);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_PANIC, 5), CRASH_LIMIT);
    crashwatch_free(&w);
}

static void test_limit_text(void **state) {
    (void)state;
    static const struct { RestartLimit l; const char *text; } cases[] = {
        { { 5, 600000 }, "5/10m" }, { { 1, 3600000 }, "1/1h" }, { { 2, 90000 }, "2/90s" }, { { 3, 1500 }, "3/1500ms" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *t = crashpolicy_limit_text(&cases[i].l);
        assert_string_equal(t, cases[i].text);
    }
}

static json_object *event(const char *text) {
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static void test_trouble(void **state) {
    (void)state;
    static const struct { const char *ev; Trouble t; } cases[] = {
        { "{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}", TROUBLE_PANIC },
        { "{\"event\": \"WATCHDOG\", \"data\": {\"action\": \"pause\"}}", TROUBLE_WATCHDOG },
        { "{\"event\": \"WATCHDOG\", \"data\": {\"action\": \"none\"}}", TROUBLE_WATCHDOG },
        { "{\"event\": \"RESET\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}", TROUBLE_NONE },
        { "{\"event\": \"GUEST_CRASHLOADED\", \"data\": {\"action\": \"run\"}}", TROUBLE_NONE },
        { "{\"return\": {}}", TROUBLE_NONE },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        json_object *o = event(cases[i].ev);
        assert_int_equal(crashpolicy_trouble(o), cases[i].t);
        json_object_put(o);
    }
    assert_string_equal(crashpolicy_trouble_name(TROUBLE_PANIC), "panic");
    assert_string_equal(crashpolicy_trouble_name(TROUBLE_WATCHDOG), "watchdog");
    assert_null(crashpolicy_trouble_name(TROUBLE_NONE));
}

/* QEMU pauses; it acts by itself only on a guest reboot with on-reboot =
 * stop (reboot=shutdown), and watchdog-action = none stays QEMU's none. */
static void test_qemu_action(void **state) {
    (void)state;
    VmSection vm;
    memset(&vm, 0, sizeof(vm));
    static const struct { int reboot, watchdog, action; const char *text; } cases[] = {
        { ON_REBOOT_RESET, WATCHDOG_NONE, WATCHDOG_DO_RESET, "reboot=reset,panic=pause" },
        { ON_REBOOT_STOP, WATCHDOG_NONE, WATCHDOG_DO_RESET, "reboot=shutdown,panic=pause" },
        { ON_REBOOT_RESET, WATCHDOG_I6300ESB, WATCHDOG_DO_RESET, "reboot=reset,panic=pause,watchdog=pause" },
        { ON_REBOOT_RESET, WATCHDOG_I6300ESB, WATCHDOG_DO_POWEROFF, "reboot=reset,panic=pause,watchdog=pause" },
        { ON_REBOOT_STOP, WATCHDOG_I6300ESB, WATCHDOG_DO_PAUSE, "reboot=shutdown,panic=pause,watchdog=pause" },
        { ON_REBOOT_RESET, WATCHDOG_I6300ESB, WATCHDOG_DO_NONE, "reboot=reset,panic=pause,watchdog=none" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        vm.on_reboot = cases[i].reboot;
        vm.watchdog = cases[i].watchdog;
        vm.watchdog_action = cases[i].action;
        _cleanup_free_ char *t = crashpolicy_qemu_action(&vm);
        assert_string_equal(t, cases[i].text);
    }
}

static char *argv_of(const char *text) {
    VmConfig cfg;
    load_ok(text, &cfg);
    StrVec argv = STRVEC_INIT;
    qemucmd_crash(&cfg, &argv);
    char *joined = strvec_join(&argv, " ");
    strvec_clear(&argv);
    vmconf_free(&cfg);
    return joined;
}

static void test_devices(void **state) {
    (void)state;
    _cleanup_free_ char *q35 = argv_of(MINIMAL);
    assert_string_equal(q35, "-action reboot=reset,panic=pause -device {\"driver\":\"pvpanic\",\"id\":\"pvpanic0\"}");
    _cleanup_free_ char *pc = argv_of(MINIMAL "machine = pc\nwatchdog = i6300esb\n");
    assert_string_equal(pc, "-action reboot=reset,panic=pause,watchdog=pause -device {\"driver\":\"pvpanic\",\"id\":\"pvpanic0\"} "
                            "-device {\"driver\":\"i6300esb\",\"id\":\"watchdog0\"}");
    /* microvm: no pvpanic. */
    _cleanup_free_ char *micro = argv_of(MINIMAL "machine = microvm\nkernel = /k\non-reboot = stop\n");
    assert_string_equal(micro, "-action reboot=shutdown,panic=pause");
}

static void test_state_json(void **state) {
    (void)state;
    CrashWatch w;
    VmSection vm = policy(ON_CRASH_RESTART, WATCHDOG_DO_RESET, 5, 600000);
    crashwatch_init(&w, &vm, -1);
    json_object *o = crashpolicy_state_json(&w);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "{\"count\":0,\"last_reason\":null,\"last_time\":null}");
    json_object_put(o);
    assert_int_equal(crashpolicy_decide(&w, TROUBLE_WATCHDOG, 1), CRASH_RESET);
    w.last_time = 1700000000;
    o = crashpolicy_state_json(&w);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"count\":1,\"last_reason\":\"watchdog\",\"last_time\":1700000000}");
    json_object_put(o);
    /* Without a runtime dir nothing is written, and that is no error. */
    assert_int_equal(crashwatch_save(&w), 0);
    crashwatch_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_restart_limit_parse),
        cmocka_unit_test(test_microvm),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_limit_window),
        cmocka_unit_test(test_limit_text),
        cmocka_unit_test(test_trouble),
        cmocka_unit_test(test_qemu_action),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_state_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
