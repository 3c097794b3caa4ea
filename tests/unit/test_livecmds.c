/* The pure parts of `kvmlaunch qmp`, `balloon` and `pin`: a request from the
 * command line or a line of stdin, the balloon's floor and ceiling, KEY=CPULIST
 * arguments, the steering entries live.json keeps, and the live state
 * written and read back (vmlive_save/vmlive_load, atomically in a temp dir)
 * with the supervisor's steering following it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "livecmds.h"
#include "util.h"
#include "vmlive.h"

#define MIB (UINT64_C(1) << 20)

static void assert_request(const char *line, const char *command, const char *args) {
    char err[VALUE_ERR_MAX] = "";
    char *cmd = NULL;
    json_object *a = NULL;
    int r = qmpcmd_parse_line(line, &cmd, &a, err);
    if (r != 1) fail_msg("\"%s\": %d %s", line, r, err);
    assert_string_equal(cmd, command);
    if (args) assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN), args);
    else assert_null(a);
    free(cmd);
    json_object_put(a);
}

static void assert_bad_line(const char *line, const char *msg) {
    char err[VALUE_ERR_MAX] = "";
    char *cmd = NULL;
    json_object *a = NULL;
    assert_int_equal(qmpcmd_parse_line(line, &cmd, &a, err), -EINVAL);
    assert_null(cmd);
    assert_null(a);
    if (!strstr(err, msg)) fail_msg("\"%s\": expected \"%s\" in \"%s\"", line, msg, err);
}

static void test_qmp_lines(void **state) {
    (void)state;
    assert_request("query-status", "query-status", NULL);
    assert_request("  query-status  \n", "query-status", NULL);
    assert_request("balloon {\"value\": 134217728}\n", "balloon", "{\"value\":134217728}");
    assert_request("{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine\", \"property\": \"type\"}}", "qom-get",
                   "{\"path\":\"\\/machine\",\"property\":\"type\"}");
    assert_request("{\"execute\": \"query-kvm\"}", "query-kvm", NULL);
    char err[VALUE_ERR_MAX];
    char *cmd = NULL;
    json_object *a = NULL;
    assert_int_equal(qmpcmd_parse_line("", &cmd, &a, err), 0);
    assert_int_equal(qmpcmd_parse_line("   \n", &cmd, &a, err), 0);
    assert_int_equal(qmpcmd_parse_line("# a comment", &cmd, &a, err), 0);
    assert_null(cmd);

    assert_bad_line("query-status [1]", "as a JSON object");
    assert_bad_line("query-status {\"a\": 1} junk", "as a JSON object");
    assert_bad_line("query-status {\"a\":", "as a JSON object");
    assert_bad_line("query;status", "expected a QMP command name");
    assert_bad_line("{\"execute\": \"quit\", \"id\": 7}", "expected only \"execute\" and \"arguments\"");
    assert_bad_line("{\"arguments\": {}}", "expected \"execute\"");
    assert_bad_line("{\"execute\": 3}", "expected \"execute\"");
    assert_bad_line("{\"execute\": \"balloon\", \"arguments\": [1]}", "\"arguments\" as a JSON object");
    assert_bad_line("{\"execute\": \"x y\"}", "expected a QMP command name");
    assert_bad_line("[1, 2]", "expected a QMP command name");
}

static void test_qmp_request(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    char *cmd = NULL;
    json_object *a = NULL;
    assert_int_equal(qmpcmd_parse_request("query-cpus-fast", NULL, &cmd, &a, err), 0);
    assert_string_equal(cmd, "query-cpus-fast");
    assert_null(a);
    free(cmd);
    assert_int_equal(qmpcmd_parse_request("balloon", "{\"value\": 1}", &cmd, &a, err), 0);
    assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN), "{\"value\":1}");
    free(cmd);
    json_object_put(a);
    assert_int_equal(qmpcmd_parse_request("balloon", "1", &cmd, &a, err), -EINVAL);
    assert_non_null(strstr(err, "found another JSON value"));
    assert_int_equal(qmpcmd_parse_request("", NULL, &cmd, &a, err), -EINVAL);
    assert_int_equal(qmpcmd_parse_request("quit\n", NULL, &cmd, &a, err), -EINVAL);
    assert_null(cmd);
}

static void test_balloon_limits(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    assert_int_equal(balloon_floor(256 * MIB), 128 * MIB);
    assert_int_equal(balloon_floor(4096 * MIB), 512 * MIB);
    assert_int_equal(balloon_floor(64 * MIB), 64 * MIB); /* never above memory */
    assert_int_equal(balloon_check_target(128 * MIB, 256 * MIB, err), 0);
    assert_int_equal(balloon_check_target(256 * MIB, 256 * MIB, err), 0);
    assert_int_equal(balloon_check_target(256 * MIB + 1, 256 * MIB, err), -EINVAL);
    assert_string_equal(err, "expected at most the VM's memory (256M), found 268435457");
    assert_int_equal(balloon_check_target(128 * MIB - 4096, 256 * MIB, err), -EINVAL);
    assert_string_equal(err, "expected at least 128M (the larger of 128M and memory/8, memory = 256M), found 131068K");
    assert_int_equal(balloon_check_target(511 * MIB, 4096 * MIB, err), -EINVAL);
    assert_int_equal(balloon_check_target(512 * MIB, 4096 * MIB, err), 0);
}

static CpuList online(const char *s) {
    CpuList l;
    char err[VALUE_ERR_MAX];
    assert_int_equal(value_parse_cpulist(s, &l, err), 0);
    return l;
}

static void assert_pin_bad(const char *arg1, const char *arg2, const char *msg) {
    char *args[] = { (char *)arg1, (char *)arg2 };
    CpuList on = online("0-3");
    LivePinRequest r;
    char err[VALUE_ERR_MAX] = "";
    assert_int_equal(livepin_parse(args, arg2 ? 2 : 1, 2, &on, &r, err), -EINVAL);
    assert_int_equal(r.n, 0);
    assert_null(r.v);
    if (!strstr(err, msg)) fail_msg("%s %s: expected \"%s\" in \"%s\"", arg1, arg2 ? arg2 : "", msg, err);
    cpulist_free(&on);
}

static void test_pin_parse(void **state) {
    (void)state;
    char *args[] = { "vcpu.1=3,2", "emulator=0-1", "iothreads=0", "vhost=1" };
    CpuList on = online("0-3");
    LivePinRequest r;
    char err[VALUE_ERR_MAX];
    assert_int_equal(livepin_parse(args, 4, 2, &on, &r, err), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.v[0].key, LIVEPIN_VCPU);
    assert_int_equal(r.v[0].vcpu, 1);
    _cleanup_free_ char *l0 = cpulist_format(&r.v[0].cpus);
    assert_string_equal(l0, "2-3");
    assert_int_equal(r.v[1].key, LIVEPIN_EMULATOR);
    assert_int_equal(r.v[2].key, LIVEPIN_IOTHREADS);
    assert_int_equal(r.v[3].key, LIVEPIN_VHOST);
    livepin_request_free(&r);
    cpulist_free(&on);

    assert_pin_bad("vcpu.2=0", NULL, "vcpu.2: expected a vCPU number from 0 to 1 (the VM has 2 vCPUs)");
    assert_pin_bad("vcpu.-1=0", NULL, "expected a vCPU number");
    assert_pin_bad("vcpu.x=0", NULL, "expected a vCPU number");
    assert_pin_bad("vcpu=0", NULL, "with KEY vcpu.N, emulator, iothreads or vhost, found \"vcpu\"");
    assert_pin_bad("emulators=0", NULL, "found \"emulators\"");
    assert_pin_bad("emulator", NULL, "expected KEY=CPULIST, found \"emulator\"");
    assert_pin_bad("emulator=", NULL, "emulator: expected a CPU list");
    assert_pin_bad("vcpu.0=4", NULL, "vcpu.0: expected CPUs this host has online (0-3), found CPU 4");
    assert_pin_bad("vcpu.0=1", "vcpu.0=2", "vcpu.0: given twice");
    assert_pin_bad("emulator=1", "vcpu.0=x", "vcpu.0: expected a CPU list");
    /* The first argument was good: nothing of it is kept. */
    assert_pin_bad("vcpu.0=1", "bogus=2", "found \"bogus\"");
    LivePinRequest none;
    assert_int_equal(livepin_parse(args, 0, 2, NULL, &none, err), -EINVAL);
    assert_string_equal(err, "expected at least one KEY=CPULIST");
}

static void test_steering_json(void **state) {
    (void)state;
    struct SteerEntry e[] = {
        { "/sys/class/net/t0/queues/rx-0/rps_cpus", "2" }, { "/sys/class/net/t0/queues/tx-0/xps_cpus", "2" },
        { "/sys/class/net/t0/queues/rx-3/rps_cpus", "1" }, { "/sys/class/net/t0/queues/tx-3/xps_cpus", "1" },
        { "/sys/class/net/t0/other", "1" },
    };
    Steering st = { e, ELEMENTSOF(e) };
    json_object *a = vmlive_steering_json(&st, 2);
    assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                        "[{\"path\":\"/sys/class/net/t0/queues/rx-0/rps_cpus\",\"vcpu\":0,\"mask\":\"2\"},"
                        "{\"path\":\"/sys/class/net/t0/queues/tx-0/xps_cpus\",\"vcpu\":0,\"mask\":\"2\"},"
                        "{\"path\":\"/sys/class/net/t0/queues/rx-3/rps_cpus\",\"vcpu\":1,\"mask\":\"1\"},"
                        "{\"path\":\"/sys/class/net/t0/queues/tx-3/xps_cpus\",\"vcpu\":1,\"mask\":\"1\"}]");
    json_object_put(a);
}

/* The supervisor's side: masks follow live.json once it changes, and only
 * then (an unchanged file is not read again). */
static void test_state_and_follow(void **state) {
    (void)state;
    char dir[] = "/tmp/kl-livecmds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    json_object *empty = vmlive_load(dfd);
    assert_string_equal(json_object_to_json_string_ext(empty, JSON_C_TO_STRING_PLAIN), "{}");
    json_object_put(empty);

    Steering st = { xcalloc(2, sizeof(struct SteerEntry)), 2 };
    st.e[0] = (struct SteerEntry){ xstrdup("/q/rx-0/rps_cpus"), xstrdup("2") };
    st.e[1] = (struct SteerEntry){ xstrdup("/q/rx-1/rps_cpus"), xstrdup("1") };
    VmLiveStamp stamp = { 0 };
    assert_int_equal(vmlive_steering_follow(dfd, &st, &stamp), 0); /* no file: nothing */
    json_object *o = json_tokener_parse("{\"vcpus\":2,\"steering\":[{\"path\":\"/q/rx-0/rps_cpus\",\"vcpu\":0,\"mask\":\"1\"}]}");
    assert_int_equal(vmlive_save(dfd, o), 0);
    assert_int_equal(vmlive_steering_follow(dfd, &st, &stamp), 1);
    assert_string_equal(st.e[0].mask, "1");
    assert_string_equal(st.e[1].mask, "1");
    assert_int_equal(vmlive_steering_follow(dfd, &st, &stamp), 0);
    json_object *back = vmlive_load(dfd);
    assert_string_equal(json_object_to_json_string(back), json_object_to_json_string(o));
    json_object_put(back);
    json_object_put(o);
    /* No temp file is left behind. */
    assert_int_equal(faccessat(dfd, VMLIVE_STATE ".tmp", F_OK, 0), -1);
    /* A garbled file: an error, and the masks stay. */
    int fd = openat(dfd, VMLIVE_STATE, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "{nope", 5), 5);
    close(fd);
    stamp.known = false;
    assert_int_equal(vmlive_steering_follow(dfd, &st, &stamp), -EBADMSG);
    assert_string_equal(st.e[0].mask, "1");
    steering_free(&st);
    unlinkat(dfd, VMLIVE_STATE, 0);
    close(dfd);
    assert_int_equal(rmdir(dir), 0);
}

/* [cpu] vhost = emulator: emulator=LIST moves the vhost-net workers too,
 * unless vhost=... is given or the VM's vhost does not follow. */
static void test_pin_follow_emulator(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    char *emu[] = { "emulator=2-3", "vcpu.0=1" };
    LivePinRequest r;
    assert_int_equal(livepin_parse(emu, 2, 2, NULL, &r, err), 0);
    assert_int_equal(livepin_follow_emulator(&r, true), 1);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.v[2].key, LIVEPIN_VHOST);
    assert_true(r.v[2].follows);
    assert_false(r.v[0].follows);
    _cleanup_free_ char *l = cpulist_format(&r.v[2].cpus);
    assert_string_equal(l, "2-3");
    /* Once is enough: a second call finds a vhost item. */
    assert_int_equal(livepin_follow_emulator(&r, true), 0);
    assert_int_equal(r.n, 3);
    livepin_request_free(&r);

    assert_int_equal(livepin_parse(emu, 2, 2, NULL, &r, err), 0);
    assert_int_equal(livepin_follow_emulator(&r, false), 0); /* vhost = LIST, auto, none */
    assert_int_equal(r.n, 2);
    livepin_request_free(&r);

    char *both[] = { "emulator=2", "vhost=0" };
    assert_int_equal(livepin_parse(both, 2, 2, NULL, &r, err), 0);
    assert_int_equal(livepin_follow_emulator(&r, true), 0); /* asked for: kept */
    assert_int_equal(r.n, 2);
    _cleanup_free_ char *v = cpulist_format(&r.v[1].cpus);
    assert_string_equal(v, "0");
    livepin_request_free(&r);

    char *vcpu[] = { "vcpu.1=0" };
    assert_int_equal(livepin_parse(vcpu, 1, 2, NULL, &r, err), 0);
    assert_int_equal(livepin_follow_emulator(&r, true), 0); /* no emulator: nothing moves */
    assert_int_equal(r.n, 1);
    livepin_request_free(&r);
}

/* live.json says whether the vhost-net workers follow the emulator. */
static void test_record_follows(void **state) {
    (void)state;
    char dir[] = "/tmp/kl-livecmds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    int emu_cpus[] = { 3 };
    VmConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.vm.vcpus = 1;
    cfg.cpu.pin.kind = CPUSPEC_NONE;
    cfg.cpu.iothreads.kind = CPUSPEC_NONE;
    cfg.cpu.emulator = (CpuSpec){ .kind = CPUSPEC_LIST, .list = { emu_cpus, 1 } };
    for (int follows = 0; follows < 2; follows++) {
        cfg.cpu.vhost.kind = follows ? CPUSPEC_EMULATOR : CPUSPEC_NONE;
        assert_int_equal(vmlive_record_start(dfd, &cfg, false, NULL), 0);
        json_object *o = vmlive_load(dfd), *v, *pl;
        assert_non_null(o);
        assert_true(json_object_object_get_ex(o, "vhost_follows_emulator", &v));
        assert_int_equal(json_object_get_boolean(v), follows);
        assert_true(json_object_object_get_ex(o, "placement", &pl));
        assert_string_equal(vmlive_str(pl, "vhost"), follows ? "3" : "");
        json_object_put(o);
    }
    unlinkat(dfd, VMLIVE_STATE, 0);
    unlinkat(dfd, VMLIVE_LOCK, 0);
    close(dfd);
    assert_int_equal(rmdir(dir), 0);
}

/* A short write (here: the file size limit, which leaves errno alone) is
 * an error, -EIO, with no file left: never 0 for a state not saved. */
static void test_save_short_write(void **state) {
    (void)state;
    char dir[] = "/tmp/kl-livecmds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 16, 16 };
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0) _exit(3);
        json_object *o = json_tokener_parse("{\"vcpus\":2,\"balloon_target_bytes\":1073741824}");
        errno = 0;
        int r = vmlive_save(dfd, o);
        json_object_put(o);
        _exit(r == -EIO ? 0 : r == 0 ? 1 : 2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(faccessat(dfd, VMLIVE_STATE ".tmp", F_OK, 0), -1);
    assert_int_equal(faccessat(dfd, VMLIVE_STATE, F_OK, 0), -1);
    close(dfd);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qmp_lines),     cmocka_unit_test(test_qmp_request),      cmocka_unit_test(test_balloon_limits),
        cmocka_unit_test(test_pin_parse),     cmocka_unit_test(test_steering_json),    cmocka_unit_test(test_state_and_follow),
        cmocka_unit_test(test_save_short_write),
        cmocka_unit_test(test_pin_follow_emulator),
        cmocka_unit_test(test_record_follows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
