/* [net] mode = user and forward: the value parser, the checks across keys,
 * the status record, the free-port probe (on 127.0.0.1 only) and the
 * render of the forwards in status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_test.h"
#include "netforward.h"
#include "schema.h"
#include "usernet.h"
#include "util.h"
#include "vmconf.h"
#include "vmstatus.h"

#define MINIMAL "[vm]\nname = t1\nmemory = 1G\nvcpus = 2\n"

static void expect_parse(const char *s, size_t n, const char *formatted) {
    NetForwards f = { 0 };
    char err[VALUE_ERR_MAX] = "";
    if (netforwards_parse(s, &f, err) < 0) fail_msg("\"%s\" refused: %s", s, err);
    assert_int_equal(f.n, n);
    _cleanup_free_ char *all = xstrdup("");
    for (size_t i = 0; i < f.n; i++) {
        _cleanup_free_ char *one = netforward_format(&f.v[i], 0);
        char *next = xasprintf("%s%s%s", all, i ? " " : "", one);
        free(all);
        all = next;
    }
    assert_string_equal(all, formatted);
    netforwards_free(&f);
}

static void expect_refused(const char *s, const char *phrase) {
    NetForwards f = { 0 };
    char err[VALUE_ERR_MAX] = "";
    if (netforwards_parse(s, &f, err) == 0) fail_msg("\"%s\" accepted", s);
    if (!strstr(err, phrase)) fail_msg("\"%s\": expected \"%s\" in: %s", s, phrase, err);
    assert_int_equal(f.n, 0);
}

static void test_parse(void **state) {
    (void)state;
    expect_parse("tcp:2222:22", 1, "tcp:127.0.0.1:2222:22");
    expect_parse("tcp:auto:22", 1, "tcp:127.0.0.1:auto:22");
    expect_parse("udp:0.0.0.0:5353:53", 1, "udp:0.0.0.0:5353:53");
    /* Commas, spaces or both between entries; tabs too. */
    expect_parse("tcp:1:2,tcp:3:4", 2, "tcp:127.0.0.1:1:2 tcp:127.0.0.1:3:4");
    expect_parse("tcp:1:2 tcp:10.0.0.1:auto:4", 2, "tcp:127.0.0.1:1:2 tcp:10.0.0.1:auto:4");
    expect_parse(" tcp:1:2 ,\ttcp:65535:65535, ", 2, "tcp:127.0.0.1:1:2 tcp:127.0.0.1:65535:65535");

    expect_refused("", "at least one");
    expect_refused(" , ", "at least one");
    expect_refused("sctp:1:2", "expected tcp:[ADDR:]HOSTPORT:GUESTPORT");
    expect_refused("TCP:1:2", "expected tcp:");
    expect_refused("tcp:22", "expected tcp:");
    expect_refused("tcp:1.2.3.4:5:6:7", "expected tcp:");
    expect_refused("tcp:0:22", "HOSTPORT from 1 to 65535, or auto");
    expect_refused("tcp:65536:22", "HOSTPORT from 1 to 65535");
    expect_refused("tcp:+22:22", "HOSTPORT from 1 to 65535");
    expect_refused("tcp:022222:22", "HOSTPORT from 1 to 65535");
    expect_refused("tcp:22:auto", "GUESTPORT from 1 to 65535");
    expect_refused("tcp:22:0", "GUESTPORT");
    expect_refused("tcp:22:", "GUESTPORT");
    expect_refused("tcp:localhost:22:22", "an IPv4 address");
    expect_refused("tcp:::1:22:22", "expected tcp:");
    expect_refused("tcp:0x7f.1:22:22", "an IPv4 address");
    expect_refused("tcp:256.0.0.1:22:22", "an IPv4 address");
    /* QEMU's own separators cannot slip through. */
    expect_refused("tcp:1:2-:3", "an IPv4 address");
    expect_refused("tcp:2-:3", "HOSTPORT from 1 to 65535");
    expect_refused("tcp:1:2;tcp:3:4", "expected tcp:[ADDR:]HOSTPORT");

    _cleanup_free_ char *many = xstrdup("");
    for (int i = 1; i <= NETFORWARD_MAX + 1; i++) {
        char *next = xasprintf("%s tcp:%d:1", many, i);
        free(many);
        many = next;
    }
    expect_refused(many, "at most 64 forwards");
}

static void test_load(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "[net \"a\"]\nmode = user\nforward = tcp:auto:22, udp:5353:53\nmac = 52:54:00:00:00:07\n[net \"b\"]\n", &cfg, &el),
                     0);
    assert_int_equal(cfg.nets[0].mode, NET_MODE_USER);
    assert_int_equal(cfg.nets[0].forward.n, 2);
    assert_int_equal(cfg.nets[0].forward.v[0].host_port, 0);
    assert_int_equal(cfg.nets[0].forward.v[1].proto, FWD_UDP);
    assert_int_equal(cfg.nets[1].mode, NET_MODE_TAP); /* the default */
    assert_int_equal(cfg.nets[1].forward.n, 0);

    /* The record status shows, with the ports of no probe: as written. */
    json_object *a = usernet_forwards_json(&cfg, NULL);
    assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                        "[{\"net\":\"a\",\"proto\":\"tcp\",\"address\":\"127.0.0.1\",\"host_port\":0,\"guest_port\":22,\"auto\":true},"
                        "{\"net\":\"a\",\"proto\":\"udp\",\"address\":\"127.0.0.1\",\"host_port\":5353,\"guest_port\":53,\"auto\":false}]");
    json_object_put(a);
    /* ... and with the probe's. */
    FwdFact fwd[2] = { { 41000, 0 }, { 5353, 0 } };
    UserNetFacts facts[2] = { { fwd, 2 }, { NULL, 0 } };
    a = usernet_forwards_json(&cfg, facts);
    assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(a, 0), "host_port")), 41000);
    json_object_put(a);
    vmconf_free(&cfg);
}

static void test_cross_key(void **state) {
    (void)state;
    static const char *const tap_keys[][2] = { { "bridge", "br0" }, { "tap", "t0" },  { "queues", "2" },
                                               { "vhost", "on" },    { "mtu", "1500" }, { "steering", "no" } };
    for (size_t i = 0; i < ELEMENTSOF(tap_keys); i++) {
        _cleanup_free_ char *text = xasprintf(MINIMAL "[net \"a\"]\nmode = user\n%s = %s\n", tap_keys[i][0], tap_keys[i][1]);
        _cleanup_free_ char *want = xasprintf("vm.ini:7: [net \"a\"] %s: expected mode = tap with this key, found mode = user", tap_keys[i][0]);
        config_expect_error(text, want);
    }
    /* A refused value is said once, not again as a tap key. */
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(MINIMAL "[net \"a\"]\nmode = user\nqueues = 99\n", &cfg, &el), -EINVAL);
    assert_int_equal(el.n, 1);
    errlist_clear(&el);

    config_expect_error(MINIMAL "[net \"a\"]\nforward = tcp:1:2\n", "vm.ini:6: [net \"a\"] forward: expected mode = user with this key, found mode = tap");
    config_expect_error(MINIMAL "[net \"a\"]\nmode = slirp\n", "vm.ini:6: [net \"a\"] mode: expected tap or user");
    config_expect_error(MINIMAL "[net \"a\"]\nmode = user\nforward = tcp:8080:80 tcp:8080:81\n",
                 "[net \"a\"] forward: expected each host port once, found tcp:127.0.0.1:8080:80 and tcp:127.0.0.1:8080:81");
    /* 0.0.0.0 takes the port on every address. */
    config_expect_error(MINIMAL "[net \"a\"]\nmode = user\nforward = tcp:0.0.0.0:8080:80\n[net \"b\"]\nmode = user\nforward = tcp:8080:80\n",
                 "vm.ini:10: [net \"b\"] forward: expected a host port no other NIC forwards, found tcp:127.0.0.1:8080:80, and "
                 "tcp:0.0.0.0:8080:80 in [net \"a\"] (line 7)");
    /* Not a clash: another protocol, another address, auto. */
    assert_int_equal(config_load(MINIMAL "[net \"a\"]\nmode = user\nforward = tcp:8080:80 udp:8080:80 tcp:10.0.0.1:8080:80 tcp:auto:1 tcp:auto:1\n", &cfg, &el),
                     0);
    vmconf_free(&cfg);
    /* Two user NICs share no tap name, whatever their names derive. */
    assert_int_equal(config_load(MINIMAL "[net \"a\"]\nmode = user\n[net \"b\"]\nmode = user\n", &cfg, &el), 0);
    vmconf_free(&cfg);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

static int port_of(int fd) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void test_ports(void **state) {
    (void)state;
    int got = 0;
    assert_int_equal(usernet_try_port("127.0.0.1", FWD_TCP, 0, &got), 0);
    assert_true(got > 0 && got < 65536);
    /* A port someone listens on is taken, for TCP; UDP is another space. */
    int fd = listen_on(0), taken = port_of(fd);
    assert_int_equal(usernet_try_port("127.0.0.1", FWD_TCP, taken, &got), -EADDRINUSE);
    assert_int_equal(usernet_try_port("0.0.0.0", FWD_TCP, taken, &got), -EADDRINUSE);
    assert_int_equal(usernet_try_port("127.0.0.1", FWD_UDP, taken, &got), 0);
    /* An address this host does not have. */
    assert_int_equal(usernet_try_port("192.0.2.1", FWD_TCP, 0, &got), -EADDRNOTAVAIL);

    /* The probe: a written taken port is recorded as such, auto gets one. */
    _cleanup_free_ char *text = xasprintf(MINIMAL "[net \"a\"]\nmode = user\nforward = tcp:%d:22 tcp:auto:80\n[net \"b\"]\n", taken);
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(config_load(text, &cfg, &el), 0);
    HostRoot hr = HOSTROOT_INIT;
    UserNetFacts *u = NULL;
    int start = 0;
    usernet_probe(&hr, &cfg, &u, &start);
    assert_int_equal(u[0].n, 2);
    assert_int_equal(u[0].fwd[0].port, taken);
    assert_int_equal(u[0].fwd[0].err, -EADDRINUSE);
    assert_int_equal(u[0].fwd[1].err, 0);
    assert_true(u[0].fwd[1].port > 0);
    assert_int_equal(u[1].n, 0);
    assert_int_equal(start, -1); /* no host root open: unknown */
    close(fd);

    /* The runtime dir's record, as status and `kvmlaunch ssh` read it. */
    char base[] = "/tmp/kl-usernet-XXXXXX";
    assert_non_null(mkdtemp(base));
    setenv("KVMLAUNCH_RUNDIR", base, 1);
    _cleanup_free_ char *dir = xasprintf("%s/t1", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(usernet_state_write(dfd, &cfg, u), 0);
    char addr[16];
    int port = 0;
    assert_int_equal(usernet_host_port("t1", 80, addr, &port), 0);
    assert_int_equal(port, u[0].fwd[1].port);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(usernet_host_port("t1", 23, addr, &port), -ENOENT);
    json_object *rec = usernet_state_read("t1");
    assert_int_equal(json_object_array_length(rec), 2);
    json_object_put(rec);
    /* No record (a VM without forwards): an empty list, not an error. */
    rec = usernet_state_read("nosuchvm");
    assert_int_equal(json_object_array_length(rec), 0);
    json_object_put(rec);
    _cleanup_free_ char *file = xasprintf("%s/%s", dir, USERNET_STATE_FILE);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(base), 0);
    close(dfd);
    usernet_facts_free(u, cfg.n_nets);
    vmconf_free(&cfg);
}

static void test_render(void **state) {
    (void)state;
    json_object *r = json_tokener_parse("{\"name\":\"ci\",\"state\":\"running\",\"kvmlaunch_pid\":1,\"qemu_pid\":2,\"forwards\":["
                                        "{\"net\":\"n\",\"proto\":\"tcp\",\"address\":\"127.0.0.1\",\"host_port\":40000,\"guest_port\":22,\"auto\":true},"
                                        "{\"net\":\"n\",\"proto\":\"udp\",\"address\":\"0.0.0.0\",\"host_port\":53,\"guest_port\":53,\"auto\":false}]}");
    _cleanup_free_ char *text = vmstatus_render(r);
    if (!strstr(text, "  forward tcp 127.0.0.1:40000 -> guest port 22 (net \"n\", auto)\n") ||
        !strstr(text, "  forward udp 0.0.0.0:53 -> guest port 53 (net \"n\")\n"))
        fail_msg("render:\n%s", text);
    json_object_put(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse), cmocka_unit_test(test_load), cmocka_unit_test(test_cross_key),
        cmocka_unit_test(test_ports), cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
