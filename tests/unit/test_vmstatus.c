/* The pure parts of `kvmlaunch status`: numa_maps, QMP replies, KSM files
 * and the host state files turned into the report's JSON (whose fields
 * docs/STATUS.md documents), and the report's human form. Inputs are text
 * captured from this host (Linux 6.18, QEMU 7.2.22, the test guest) where
 * there is some; every expectation is the whole JSON or the whole text, so
 * a changed, missing or extra field fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vmstatus.h"

/* ---- helpers ---- */

static json_object *parse(const char *text) {
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

/* O as compact JSON, then O released. */
static void assert_json(json_object *o, const char *expected) {
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), expected);
    json_object_put(o);
}

/* ---- memory by node ---- */

/* Lines of QEMU's numa_maps here (a 256M guest on anonymous RAM), and a
 * hugetlb line as a memfd backend with hugetlb=on writes it, put on node 1. */
static const char qemu_numa_maps[] =
    "559019e9d000 default file=/usr/bin/qemu-system-x86_64 mapped=1031 active=1025 N0=1031 kernelpagesize_kB=4\n"
    "55901ab32000 default file=/usr/bin/qemu-system-x86_64 anon=251 dirty=251 active=0 N0=251 kernelpagesize_kB=4\n"
    "559042081000 default heap anon=1141 dirty=1141 active=0 N0=1141 kernelpagesize_kB=4\n"
    "7f94e7e00000 default anon=24064 dirty=24064 active=0 N0=24064 kernelpagesize_kB=4\n"
    "7f9500000000 bind:1 file=/memfd:pc.ram\\040(deleted) huge dirty=64 N1=64 kernelpagesize_kB=2048\n"
    "7ffd1c5e4000 default stack anon=9 dirty=9 active=0 N0=6 N1=3 kernelpagesize_kB=4\n"
    "7ffd1c5fc000 default\n";

static void test_memory_nodes(void **state) {
    (void)state;
    json_object *m = NULL;
    assert_int_equal(vmstatus_memory_json(qemu_numa_maps, &m), 0);
    /* node0: (1031 + 251 + 1141 + 24064 + 6) x 4 KiB; node1: 64 x 2 MiB + 3 x 4 KiB. */
    assert_json(m, "{\"nodes\":[{\"node\":0,\"bytes\":108515328,\"huge_bytes\":0},"
                   "{\"node\":1,\"bytes\":134230016,\"huge_bytes\":134217728}],"
                   "\"total_bytes\":242745344,\"huge_bytes\":134217728}");
}

static void test_memory_empty_and_bad(void **state) {
    (void)state;
    /* A process with nothing resident: no nodes, zero totals. */
    json_object *m = NULL;
    assert_int_equal(vmstatus_memory_json("", &m), 0);
    assert_json(m, "{\"nodes\":[],\"total_bytes\":0,\"huge_bytes\":0}");
    /* Not numa_maps: the parser's error, nothing handed out. */
    m = NULL;
    assert_int_equal(vmstatus_memory_json("7f00 default anon=1 N0=1\n", &m), -EINVAL);
    assert_null(m);
    assert_int_equal(vmstatus_memory_json("7f00 default N64=1 kernelpagesize_kB=4\n", &m), -ERANGE);
    assert_null(m);
}

/* ---- the balloon ---- */

/* QEMU 7.2.22's answers to the test guest with stats-period = 1s: before the
 * guest's driver sent anything (every stat -1 as uint64, last-update 0)... */
static const char stats_before[] =
    "{\"stats\": {\"stat-htlb-pgalloc\": 18446744073709551615, \"stat-swap-out\": 18446744073709551615, "
    "\"stat-available-memory\": 18446744073709551615, \"stat-htlb-pgfail\": 18446744073709551615, "
    "\"stat-free-memory\": 18446744073709551615, \"stat-minor-faults\": 18446744073709551615, "
    "\"stat-major-faults\": 18446744073709551615, \"stat-total-memory\": 18446744073709551615, "
    "\"stat-swap-in\": 18446744073709551615, \"stat-disk-caches\": 18446744073709551615}, \"last-update\": 0}";
/* ...and after (stat-htlb-pgfail made -1 here: a guest that does not report it). */
static const char stats_after[] =
    "{\"stats\": {\"stat-htlb-pgalloc\": 0, \"stat-swap-out\": 0, \"stat-available-memory\": 202936320, "
    "\"stat-htlb-pgfail\": 18446744073709551615, \"stat-free-memory\": 199585792, \"stat-minor-faults\": 1446, "
    "\"stat-major-faults\": 0, \"stat-total-memory\": 227713024, \"stat-swap-in\": 0, \"stat-disk-caches\": 2646016}, "
    "\"last-update\": 1795616753}";

static json_object *balloon(const char *ret, const char *error, const char *period, const char *stats) {
    json_object *r = ret ? parse(ret) : NULL, *p = period ? parse(period) : NULL, *s = stats ? parse(stats) : NULL;
    json_object *b = vmstatus_balloon_json(r, error, p, s);
    json_object_put(r);
    json_object_put(p);
    json_object_put(s);
    return b;
}

static void test_balloon_stats(void **state) {
    (void)state;
    assert_json(balloon("{\"actual\": 268435456}", NULL, "1", stats_after),
                "{\"enabled\":true,\"actual_bytes\":268435456,\"stats_period_s\":1,\"stats_updated\":1795616753,"
                "\"stats\":{\"swap_in_bytes\":0,\"swap_out_bytes\":0,\"major_faults\":0,\"minor_faults\":1446,"
                "\"free_bytes\":199585792,\"total_bytes\":227713024,\"available_bytes\":202936320,\"disk_caches_bytes\":2646016,"
                "\"hugetlb_allocations\":0,\"hugetlb_failures\":null},\"error\":null}");
}

static void test_balloon_no_stats_yet(void **state) {
    (void)state;
    /* last-update 0: QEMU's -1s are no stats, not 16 EiB of free memory. */
    assert_json(balloon("{\"actual\": 268435456}", NULL, "1", stats_before),
                "{\"enabled\":true,\"actual_bytes\":268435456,\"stats_period_s\":1,\"stats_updated\":null,\"stats\":null,\"error\":null}");
    /* stats-period = 0: the same answer from QEMU, the period says why. */
    assert_json(balloon("{\"actual\": 134217728}", NULL, "0", stats_before),
                "{\"enabled\":true,\"actual_bytes\":134217728,\"stats_period_s\":0,\"stats_updated\":null,\"stats\":null,\"error\":null}");
    /* The qom-gets failed: what query-balloon said is still reported. */
    assert_json(balloon("{\"actual\": 268435456}", NULL, NULL, NULL),
                "{\"enabled\":true,\"actual_bytes\":268435456,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,\"error\":null}");
}

static void test_balloon_absent_or_unknown(void **state) {
    (void)state;
    /* [balloon] enabled = no: QEMU 7.2's answer to query-balloon. */
    assert_json(balloon(NULL, "DeviceNotActive: No balloon device has been activated", NULL, NULL),
                "{\"enabled\":false,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,\"error\":null}");
    /* Any other failure: unknown, and why. */
    assert_json(balloon(NULL, "KVMMissingCap: Using KVM without synchronous MMU, balloon unavailable", NULL, NULL),
                "{\"enabled\":null,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,"
                "\"error\":\"KVMMissingCap: Using KVM without synchronous MMU, balloon unavailable\"}");
    assert_json(balloon(NULL, NULL, NULL, NULL),
                "{\"enabled\":null,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,\"error\":null}");
    /* Stats handed in without a balloon answer are not believed. */
    assert_json(balloon(NULL, "DeviceNotActive: No balloon device has been activated", "1", stats_after),
                "{\"enabled\":false,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,\"error\":null}");
}

/* ---- KSM ---- */

static const char real_ksm_stat[] =
    "ksm_rmap_items 0\n"
    "ksm_zero_pages 0\n"
    "ksm_merging_pages 0\n"
    "ksm_process_profit 0\n"
    "ksm_merge_any: no\n"
    "ksm_mergeable: yes\n";

static void test_ksm(void **state) {
    (void)state;
    assert_json(vmstatus_ksm_json("0\n", "0\n", "0\n", real_ksm_stat, 4096),
                "{\"page_bytes\":4096,\"pages_sharing\":0,\"pages_shared\":0,\"vm_merging_pages\":0,"
                "\"vm_stat\":{\"ksm_rmap_items\":0,\"ksm_zero_pages\":0,\"ksm_merging_pages\":0,\"ksm_process_profit\":0,"
                "\"ksm_merge_any\":\"no\",\"ksm_mergeable\":\"yes\"}}");
    /* Merging under way: the profit goes negative while rmap items cost more
     * than is shared; a line without a value is dropped. */
    assert_json(vmstatus_ksm_json("5120\n", "17\n", "1234\n", "ksm_rmap_items 3000\nksm_process_profit -4096\nksm_weird\n", 4096),
                "{\"page_bytes\":4096,\"pages_sharing\":5120,\"pages_shared\":17,\"vm_merging_pages\":1234,"
                "\"vm_stat\":{\"ksm_rmap_items\":3000,\"ksm_process_profit\":-4096}}");
}

static void test_ksm_absent(void **state) {
    (void)state;
    /* A kernel without KSM, or before 6.1 (no per-process files). */
    assert_json(vmstatus_ksm_json(NULL, NULL, NULL, NULL, 4096),
                "{\"page_bytes\":4096,\"pages_sharing\":null,\"pages_shared\":null,\"vm_merging_pages\":null,\"vm_stat\":null}");
    assert_json(vmstatus_ksm_json("7\n", "3\n", NULL, NULL, 16384),
                "{\"page_bytes\":16384,\"pages_sharing\":7,\"pages_shared\":3,\"vm_merging_pages\":null,\"vm_stat\":null}");
    /* Not a number: null, not 0. */
    assert_json(vmstatus_ksm_json("x\n", "", " 1\n", "", 4096),
                "{\"page_bytes\":4096,\"pages_sharing\":null,\"pages_shared\":null,\"vm_merging_pages\":null,\"vm_stat\":{}}");
}

/* ---- the host state files ---- */

/* The array of host.state as hostapply.c writes it. */
static const char knobs_state[] =
    "[ { \"path\": \"/sys/kernel/mm/transparent_hugepage/enabled\", \"original\": \"always\", \"value\": \"never\","
    "    \"users\": [ \"other\", \"web\" ] },"
    "  { \"path\": \"/sys/kernel/mm/ksm/run\", \"original\": \"0\", \"value\": \"1\", \"users\": [ \"web2\" ] },"
    "  { \"path\": \"/sys/kernel/mm/ksm/merge_across_nodes\", \"original\": \"1\", \"value\": \"0\","
    "    \"prep_path\": \"/sys/kernel/mm/ksm/run\", \"prep_value\": \"2\", \"users\": [ \"web\" ] },"
    "  { \"path\": \"/sys/kernel/mm/ksm/sleep_millisecs\", \"users\": [ \"web\" ] },"
    "  { \"path\": \"/proc/sys/vm/zone_reclaim_mode\", \"original\": \"0\", \"users\": [ \"web\" ] },"
    "  { \"path\": \"/sys/kernel/mm/ksm/pages_to_scan\", \"original\": \"100\", \"value\": \"200\", \"users\": [ ] } ]";

static void test_knobs(void **state) {
    (void)state;
    json_object *all = parse(knobs_state);
    /* web's entries in the file's order; web2's and nobody's are not web's;
     * one without its original is skipped, one without its value says null. */
    assert_json(vmstatus_knobs_json(all, "web"),
                "[{\"path\":\"/sys/kernel/mm/transparent_hugepage/enabled\",\"original\":\"always\",\"set\":\"never\"},"
                "{\"path\":\"/sys/kernel/mm/ksm/merge_across_nodes\",\"original\":\"1\",\"set\":\"0\"},"
                "{\"path\":\"/proc/sys/vm/zone_reclaim_mode\",\"original\":\"0\",\"set\":null}]");
    assert_json(vmstatus_knobs_json(all, "web2"), "[{\"path\":\"/sys/kernel/mm/ksm/run\",\"original\":\"0\",\"set\":\"1\"}]");
    assert_json(vmstatus_knobs_json(all, "we"), "[]");
    json_object_put(all);
    assert_json(vmstatus_knobs_json(NULL, "web"), "[]");
}

static void test_offloads(void **state) {
    (void)state;
    json_object *all = parse("[ { \"dev\": \"eth0\", \"netns\": \"4:4026531840\", \"feature\": \"rx-gro\", \"original\": false,"
                             "    \"users\": [ \"web\" ] },"
                             "  { \"dev\": \"eth0\", \"netns\": \"4:4026531840\", \"feature\": \"tx-tcp-segmentation\", \"original\": true,"
                             "    \"users\": [ \"web\", \"db\" ] },"
                             "  { \"dev\": \"eth1\", \"netns\": \"4:4026531840\", \"feature\": \"rx-gro\", \"original\": \"off\","
                             "    \"users\": [ \"web\" ] },"
                             "  { \"dev\": \"eth1\", \"netns\": \"4:4026531840\", \"feature\": \"rx-gro\", \"original\": true,"
                             "    \"users\": [ \"db\" ] } ]");
    assert_json(vmstatus_offloads_json(all, "web"), "[{\"dev\":\"eth0\",\"feature\":\"rx-gro\",\"original\":false},"
                                                    "{\"dev\":\"eth0\",\"feature\":\"tx-tcp-segmentation\",\"original\":true}]");
    assert_json(vmstatus_offloads_json(all, "db"), "[{\"dev\":\"eth0\",\"feature\":\"tx-tcp-segmentation\",\"original\":true},"
                                                   "{\"dev\":\"eth1\",\"feature\":\"rx-gro\",\"original\":true}]");
    json_object_put(all);
}

/* ---- the human form ---- */

static void assert_render(const char *report, const char *expected) {
    json_object *o = parse(report);
    _cleanup_free_ char *text = vmstatus_render(o);
    json_object_put(o);
    assert_string_equal(text, expected);
}

static void test_render_full(void **state) {
    (void)state;
    /* A report as `status --json` printed it here, with a knob and an
     * offload added. */
    assert_render("{\"name\":\"web\",\"kvmlaunch_pid\":16014,\"qemu_pid\":16016,\"state\":\"running\",\"uptime_s\":6,"
                  "\"vcpus\":[{\"vcpu\":0,\"tid\":16019,\"allowed_cpus\":\"1\",\"last_cpu\":1},"
                  "{\"vcpu\":1,\"tid\":16020,\"allowed_cpus\":\"0\",\"last_cpu\":0}],"
                  "\"memory\":{\"nodes\":[{\"node\":0,\"bytes\":214134784,\"huge_bytes\":0},"
                  "{\"node\":1,\"bytes\":2151677952,\"huge_bytes\":2147483648}],\"total_bytes\":2365812736,\"huge_bytes\":2147483648},"
                  "\"balloon\":{\"enabled\":true,\"actual_bytes\":268435456,\"stats_period_s\":1,\"stats_updated\":1795616962,"
                  "\"stats\":{\"swap_in_bytes\":0,\"swap_out_bytes\":0,\"major_faults\":0,\"minor_faults\":1474,"
                  "\"free_bytes\":200065024,\"total_bytes\":227713024,\"available_bytes\":203411456,\"disk_caches_bytes\":2646016,"
                  "\"hugetlb_allocations\":0,\"hugetlb_failures\":0},\"error\":null},"
                  "\"ksm\":{\"page_bytes\":4096,\"pages_sharing\":5120,\"pages_shared\":17,\"vm_merging_pages\":1234,\"vm_stat\":{}},"
                  "\"host_knobs\":[{\"path\":\"/sys/kernel/mm/ksm/sleep_millisecs\",\"original\":\"20\",\"set\":\"23\",\"current\":\"23\"}],"
                  "\"nic_offloads\":[{\"dev\":\"eth0\",\"feature\":\"rx-gro\",\"original\":false,\"current\":true}]}",
                  "web: running, kvmlaunch pid 16014, QEMU pid 16016, up 6s\n"
                  "  vcpu0  tid 16019  allowed 1  last cpu 1\n"
                  "  vcpu1  tid 16020  allowed 0  last cpu 0\n"
                  "  memory by node: node0 204 MiB (0 B huge), node1 2.0 GiB (2.0 GiB huge); huge pages in use 2.0 GiB\n"
                  "  balloon: 256 MiB; guest: 190 MiB free, 193 MiB available of 217 MiB (stats every 1s)\n"
                  "  ksm: host 5120 pages sharing, 17 shared; this VM 1234 pages merged\n"
                  "  /sys/kernel/mm/ksm/sleep_millisecs: now 23 (was 20)\n"
                  "  eth0 rx-gro: now on (was off)\n");
}

/* Where the console is: the socket, the pty with serial = pty, or none. */
static void test_render_console(void **state) {
    (void)state;
    const char *head = "{\"name\":\"c\",\"kvmlaunch_pid\":1,\"qemu_pid\":2,\"state\":\"running\",\"uptime_s\":1,\"vcpus\":[],"
                       "\"memory\":null,\"balloon\":{\"enabled\":false},\"ksm\":{},";
    const char *lines = "c: running, kvmlaunch pid 1, QEMU pid 2, up 1s\n  memory by node: unknown\n  balloon: not enabled\n  ksm: n/a\n";
    _cleanup_free_ char *j1 = xasprintf("%s\"console\":{\"socket\":\"/run/kvmlaunch/c/console.sock\",\"pty\":\"/dev/pts/7\"}}", head);
    _cleanup_free_ char *t1 = xasprintf("%s  console: /run/kvmlaunch/c/console.sock; pty /dev/pts/7\n", lines);
    assert_render(j1, t1);
    _cleanup_free_ char *j2 = xasprintf("%s\"console\":{\"socket\":\"/run/kvmlaunch/c/console.sock\",\"pty\":null}}", head);
    _cleanup_free_ char *t2 = xasprintf("%s  console: /run/kvmlaunch/c/console.sock\n", lines);
    assert_render(j2, t2);
    _cleanup_free_ char *j3 = xasprintf("%s\"console\":{\"socket\":null,\"pty\":null}}", head);
    _cleanup_free_ char *t3 = xasprintf("%s  console: none (serial = none)\n", lines);
    assert_render(j3, t3);
}

static void test_render_unknowns(void **state) {
    (void)state;
    /* What could not be read says so instead of inventing a value. */
    assert_render("{\"name\":\"ci\",\"kvmlaunch_pid\":1,\"qemu_pid\":2,\"state\":\"unknown\",\"uptime_s\":null,\"vcpus\":[],"
                  "\"memory\":null,"
                  "\"balloon\":{\"enabled\":null,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,\"stats\":null,"
                  "\"error\":\"the status monitor did not answer\"},"
                  "\"ksm\":{\"page_bytes\":4096,\"pages_sharing\":null,\"pages_shared\":null,\"vm_merging_pages\":null,\"vm_stat\":null},"
                  "\"host_knobs\":[{\"path\":\"/proc/sys/vm/zone_reclaim_mode\",\"original\":\"0\",\"set\":\"1\",\"current\":null}],"
                  "\"nic_offloads\":[{\"dev\":\"eth9\",\"feature\":\"rx-gro\",\"original\":true,\"current\":null}]}",
                  "ci: unknown, kvmlaunch pid 1, QEMU pid 2, up ?\n"
                  "  memory by node: unknown\n"
                  "  balloon: unknown (the status monitor did not answer)\n"
                  "  ksm: n/a\n"
                  "  /proc/sys/vm/zone_reclaim_mode: now unreadable (was 0)\n"
                  "  eth9 rx-gro: now unknown (was on)\n");
}

static void test_render_balloon_forms(void **state) {
    (void)state;
    static const char head[] = "{\"name\":\"b\",\"kvmlaunch_pid\":1,\"qemu_pid\":2,\"state\":\"paused\",\"uptime_s\":0,\"vcpus\":[],"
                               "\"memory\":{\"nodes\":[],\"total_bytes\":0,\"huge_bytes\":0},"
                               "\"ksm\":{\"page_bytes\":4096,\"pages_sharing\":0,\"pages_shared\":0,\"vm_merging_pages\":null,\"vm_stat\":null},"
                               "\"host_knobs\":[],\"nic_offloads\":[],\"balloon\":";
    static const char lines[] = "b: paused, kvmlaunch pid 1, QEMU pid 2, up 0s\n"
                                "  memory by node: none resident yet; huge pages in use 0 B\n";
    _cleanup_free_ char *off = xasprintf("%s{\"enabled\":false,\"actual_bytes\":null,\"stats_period_s\":null,\"stats_updated\":null,"
                                         "\"stats\":null,\"error\":null}}", head);
    _cleanup_free_ char *off_text = xasprintf("%s  balloon: not enabled\n  ksm: host 0 pages sharing, 0 shared; this VM n/a\n", lines);
    assert_render(off, off_text);
    _cleanup_free_ char *wait = xasprintf("%s{\"enabled\":true,\"actual_bytes\":1073741824,\"stats_period_s\":10,\"stats_updated\":null,"
                                          "\"stats\":null,\"error\":null}}", head);
    _cleanup_free_ char *wait_text = xasprintf("%s  balloon: 1.0 GiB; no guest stats yet (every 10s)\n"
                                               "  ksm: host 0 pages sharing, 0 shared; this VM n/a\n", lines);
    assert_render(wait, wait_text);
    _cleanup_free_ char *nostats = xasprintf("%s{\"enabled\":true,\"actual_bytes\":536870912,\"stats_period_s\":0,\"stats_updated\":null,"
                                             "\"stats\":null,\"error\":null}}", head);
    _cleanup_free_ char *nostats_text = xasprintf("%s  balloon: 512 MiB; guest stats off\n"
                                                  "  ksm: host 0 pages sharing, 0 shared; this VM n/a\n", lines);
    assert_render(nostats, nostats_text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_nodes),
        cmocka_unit_test(test_memory_empty_and_bad),
        cmocka_unit_test(test_balloon_stats),
        cmocka_unit_test(test_balloon_no_stats_yet),
        cmocka_unit_test(test_balloon_absent_or_unknown),
        cmocka_unit_test(test_ksm),
        cmocka_unit_test(test_ksm_absent),
        cmocka_unit_test(test_knobs),
        cmocka_unit_test(test_offloads),
        cmocka_unit_test(test_render_full),
        cmocka_unit_test(test_render_console),
        cmocka_unit_test(test_render_unknowns),
        cmocka_unit_test(test_render_balloon_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
