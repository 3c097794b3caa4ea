/* The pure parts of `kvmlaunch metrics`: a VM's parts (as status builds
 * them, and QMP's query-blockstats as QEMU 7.2 answers it) turned into
 * Prometheus' text format, family by family, labels escaped; and the
 * family table against docs/METRICS.md, both ways (run from the repository
 * root, as tests/run-tests.sh does). Every expectation is the whole text,
 * so a changed, missing or extra series fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static json_object *parse(const char *text) {
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static void test_escape(void **state) {
    (void)state;
    _cleanup_free_ char *e = metrics_escape_label("a\"b\\c\nd");
    assert_string_equal(e, "a\\\"b\\\\c\\nd");
    _cleanup_free_ char *plain = metrics_escape_label("/sys/kernel/mm/ksm/run");
    assert_string_equal(plain, "/sys/kernel/mm/ksm/run");
}

/* No VM: one family, 0. */
static void test_no_vm(void **state) {
    (void)state;
    static const char expected[] = "# HELP kvmlaunch_vms Running kvmlaunch VMs.\n# TYPE kvmlaunch_vms gauge\nkvmlaunch_vms 0\n";
    _cleanup_free_ char *a = metrics_render(NULL);
    assert_string_equal(a, expected);
    json_object *empty = json_object_new_array();
    _cleanup_free_ char *b = metrics_render(empty);
    json_object_put(empty);
    assert_string_equal(b, expected);
}

/* Two VMs: "web" with every part (a knob with a number and one with a
 * word, a tap seen and one in another namespace, a virtio-blk disk, a
 * device that is not kvmlaunch's disk-ID, a recorded balloon target), and
 * "db" whose status monitor did not answer. */
static const char two_vms[] =
    "[{\"name\": \"web\", \"state\": \"running\", \"errors\": [],"
    "  \"vcpus\": [{\"vcpu\": 0, \"cpu_ns\": 1500000000, \"run_delay_ns\": 7, \"involuntary_switches\": 40, \"last_cpu\": 1},"
    "             {\"vcpu\": 1, \"cpu_ns\": 0, \"run_delay_ns\": 0, \"involuntary_switches\": 0, \"last_cpu\": 0}],"
    "  \"placement_watch\": {\"checks\": 12, \"repairs\": 3, \"affinity_repairs\": 2, \"cgroup_repairs\": 1, \"threads\": 9, \"helpers\": []},"
    "  \"memory\": {\"nodes\": [{\"node\": 0, \"bytes\": 4096, \"huge_bytes\": 0}, {\"node\": 1, \"bytes\": 2097152, \"huge_bytes\": 2097152}],"
    "             \"total_bytes\": 2101248, \"huge_bytes\": 2097152},"
    "  \"balloon\": {\"enabled\": true, \"actual_bytes\": 268435456, \"target_bytes\": 134217728, \"stats_period_s\": 1,"
    "              \"stats_updated\": 1764970000, \"stats\": {\"swap_in_bytes\": 0, \"swap_out_bytes\": 0, \"major_faults\": 12,"
    "              \"minor_faults\": 3400, \"free_bytes\": 199110656, \"total_bytes\": 227700736, \"available_bytes\": 190000000,"
    "              \"disk_caches_bytes\": 1000, \"hugetlb_allocations\": 5, \"hugetlb_failures\": 0}, \"error\": null},"
    "  \"blockstats\": [{\"device\": \"\", \"node-name\": \"fmt-d0\", \"qdev\": \"/machine/peripheral/disk-d0/virtio-backend\","
    "                   \"stats\": {\"rd_bytes\": 4608, \"wr_bytes\": 0, \"rd_operations\": 2, \"wr_operations\": 0, \"flush_operations\": 0,"
    "                   \"rd_total_time_ns\": 1250000, \"wr_total_time_ns\": 0, \"idle_time_ns\": 5}},"
    "                  {\"device\": \"\", \"node-name\": \"fw-code\", \"qdev\": \"/machine/system.flash0\", \"stats\": {\"rd_bytes\": 1}}],"
    "  \"taps\": [{\"net\": \"lan\", \"tap\": \"kl-web-lan\", \"visible\": true, \"stats\": {\"rx_bytes\": 176, \"tx_bytes\": 0,"
    "             \"rx_packets\": 2, \"tx_packets\": 0, \"rx_dropped\": 0, \"tx_dropped\": 1}},"
    "            {\"net\": \"wan\", \"tap\": \"kl-web-wan\", \"visible\": false, \"stats\": null}],"
    "  \"knobs\": [{\"path\": \"/sys/kernel/mm/ksm/sleep_millisecs\", \"original\": \"20\", \"set\": \"23\", \"current\": \"23\"},"
    "             {\"path\": \"/sys/kernel/mm/transparent_hugepage/enabled\", \"original\": \"always\", \"set\": \"never\", \"current\": \"never\"}],"
    "  \"boot\": {\"qmp_ms\": 120.5, \"cont_ms\": 130.0, \"first_serial_ms\": 400.0, \"init_ms\": null, \"budget_missed\": true},"
    "  \"restarts\": {\"count\": 2, \"last_reason\": \"watchdog\", \"last_time\": 1700000000}},"
    " {\"name\": \"db\", \"errors\": [\"qmp\", \"balloon\", \"blockstats\"],"
    "  \"vcpus\": [{\"vcpu\": 0, \"cpu_ns\": 1, \"run_delay_ns\": 2, \"last_cpu\": -1}],"
    "  \"memory\": null, \"balloon\": {\"enabled\": null, \"actual_bytes\": null, \"error\": \"the status monitor did not answer\"},"
    "  \"blockstats\": null, \"taps\": [], \"knobs\": [], \"restarts\": {\"count\": 0, \"last_reason\": null, \"last_time\": null}}]";

static const char two_vms_text[] =
    "# HELP kvmlaunch_vms Running kvmlaunch VMs.\n"
    "# TYPE kvmlaunch_vms gauge\n"
    "kvmlaunch_vms 2\n"
    "# HELP kvmlaunch_vm_up 1 for each running VM (its QEMU process is known).\n"
    "# TYPE kvmlaunch_vm_up gauge\n"
    "kvmlaunch_vm_up{vm=\"web\"} 1\n"
    "kvmlaunch_vm_up{vm=\"db\"} 1\n"
    "# HELP kvmlaunch_vm_running 1 when QEMU says the guest runs, 0 when it is paused or stopped.\n"
    "# TYPE kvmlaunch_vm_running gauge\n"
    "kvmlaunch_vm_running{vm=\"web\"} 1\n"
    "# HELP kvmlaunch_scrape_error 1 when this part of the VM could not be read this time.\n"
    "# TYPE kvmlaunch_scrape_error gauge\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"qmp\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"vcpus\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"memory\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"balloon\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"blockstats\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"taps\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"web\",part=\"knobs\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"qmp\"} 1\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"vcpus\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"memory\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"balloon\"} 1\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"blockstats\"} 1\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"taps\"} 0\n"
    "kvmlaunch_scrape_error{vm=\"db\",part=\"knobs\"} 0\n"
    "# HELP kvmlaunch_vm_vcpus vCPU threads of QEMU.\n"
    "# TYPE kvmlaunch_vm_vcpus gauge\n"
    "kvmlaunch_vm_vcpus{vm=\"web\"} 2\n"
    "kvmlaunch_vm_vcpus{vm=\"db\"} 1\n"
    "# HELP kvmlaunch_vcpu_cpu_seconds_total Time the vCPU thread ran on a host CPU (schedstat).\n"
    "# TYPE kvmlaunch_vcpu_cpu_seconds_total counter\n"
    "kvmlaunch_vcpu_cpu_seconds_total{vm=\"web\",vcpu=\"0\"} 1.500000000\n"
    "kvmlaunch_vcpu_cpu_seconds_total{vm=\"web\",vcpu=\"1\"} 0.000000000\n"
    "kvmlaunch_vcpu_cpu_seconds_total{vm=\"db\",vcpu=\"0\"} 0.000000001\n"
    "# HELP kvmlaunch_vcpu_run_delay_seconds_total Time the vCPU thread was runnable but waited for a host CPU (schedstat).\n"
    "# TYPE kvmlaunch_vcpu_run_delay_seconds_total counter\n"
    "kvmlaunch_vcpu_run_delay_seconds_total{vm=\"web\",vcpu=\"0\"} 0.000000007\n"
    "kvmlaunch_vcpu_run_delay_seconds_total{vm=\"web\",vcpu=\"1\"} 0.000000000\n"
    "kvmlaunch_vcpu_run_delay_seconds_total{vm=\"db\",vcpu=\"0\"} 0.000000002\n"
    "# HELP kvmlaunch_vcpu_involuntary_switches_total Times the vCPU thread was taken off its CPU while it could still run (nonvoluntary_ctxt_switches).\n"
    "# TYPE kvmlaunch_vcpu_involuntary_switches_total counter\n"
    "kvmlaunch_vcpu_involuntary_switches_total{vm=\"web\",vcpu=\"0\"} 40\n"
    "kvmlaunch_vcpu_involuntary_switches_total{vm=\"web\",vcpu=\"1\"} 0\n"
    "# HELP kvmlaunch_vcpu_last_cpu The host CPU the vCPU thread last ran on.\n"
    "# TYPE kvmlaunch_vcpu_last_cpu gauge\n"
    "kvmlaunch_vcpu_last_cpu{vm=\"web\",vcpu=\"0\"} 1\n"
    "kvmlaunch_vcpu_last_cpu{vm=\"web\",vcpu=\"1\"} 0\n"
    "# HELP kvmlaunch_placement_checks_total Full checks of every thread's CPUs and cgroup by the supervisor.\n"
    "# TYPE kvmlaunch_placement_checks_total counter\n"
    "kvmlaunch_placement_checks_total{vm=\"web\"} 12\n"
    "# HELP kvmlaunch_placement_repairs_total Threads the supervisor put back on their CPUs (kind=cpus) or into their cgroup (kind=cgroup).\n"
    "# TYPE kvmlaunch_placement_repairs_total counter\n"
    "kvmlaunch_placement_repairs_total{vm=\"web\",kind=\"cpus\"} 2\n"
    "kvmlaunch_placement_repairs_total{vm=\"web\",kind=\"cgroup\"} 1\n"
    "# HELP kvmlaunch_memory_resident_bytes QEMU's resident memory on this host NUMA node (numa_maps).\n"
    "# TYPE kvmlaunch_memory_resident_bytes gauge\n"
    "kvmlaunch_memory_resident_bytes{vm=\"web\",node=\"0\"} 4096\n"
    "kvmlaunch_memory_resident_bytes{vm=\"web\",node=\"1\"} 2097152\n"
    "# HELP kvmlaunch_memory_hugetlb_bytes The part of it in hugetlbfs huge pages.\n"
    "# TYPE kvmlaunch_memory_hugetlb_bytes gauge\n"
    "kvmlaunch_memory_hugetlb_bytes{vm=\"web\",node=\"0\"} 0\n"
    "kvmlaunch_memory_hugetlb_bytes{vm=\"web\",node=\"1\"} 2097152\n"
    "# HELP kvmlaunch_balloon_enabled 1 when the VM has a balloon device.\n"
    "# TYPE kvmlaunch_balloon_enabled gauge\n"
    "kvmlaunch_balloon_enabled{vm=\"web\"} 1\n"
    "# HELP kvmlaunch_balloon_actual_bytes The guest's memory as the balloon leaves it.\n"
    "# TYPE kvmlaunch_balloon_actual_bytes gauge\n"
    "kvmlaunch_balloon_actual_bytes{vm=\"web\"} 268435456\n"
    "# HELP kvmlaunch_balloon_target_bytes The balloon target last set with kvmlaunch balloon.\n"
    "# TYPE kvmlaunch_balloon_target_bytes gauge\n"
    "kvmlaunch_balloon_target_bytes{vm=\"web\"} 134217728\n"
    "# HELP kvmlaunch_balloon_stats_updated_timestamp_seconds When the guest last sent its stats.\n"
    "# TYPE kvmlaunch_balloon_stats_updated_timestamp_seconds gauge\n"
    "kvmlaunch_balloon_stats_updated_timestamp_seconds{vm=\"web\"} 1764970000\n"
    "# HELP kvmlaunch_balloon_guest_free_bytes Memory the guest leaves unused.\n"
    "# TYPE kvmlaunch_balloon_guest_free_bytes gauge\n"
    "kvmlaunch_balloon_guest_free_bytes{vm=\"web\"} 199110656\n"
    "# HELP kvmlaunch_balloon_guest_total_bytes Memory the guest's kernel manages.\n"
    "# TYPE kvmlaunch_balloon_guest_total_bytes gauge\n"
    "kvmlaunch_balloon_guest_total_bytes{vm=\"web\"} 227700736\n"
    "# HELP kvmlaunch_balloon_guest_available_bytes The guest's MemAvailable.\n"
    "# TYPE kvmlaunch_balloon_guest_available_bytes gauge\n"
    "kvmlaunch_balloon_guest_available_bytes{vm=\"web\"} 190000000\n"
    "# HELP kvmlaunch_balloon_guest_disk_caches_bytes The guest's page cache that it can drop.\n"
    "# TYPE kvmlaunch_balloon_guest_disk_caches_bytes gauge\n"
    "kvmlaunch_balloon_guest_disk_caches_bytes{vm=\"web\"} 1000\n"
    "# HELP kvmlaunch_balloon_guest_swap_in_bytes_total Memory the guest swapped in.\n"
    "# TYPE kvmlaunch_balloon_guest_swap_in_bytes_total counter\n"
    "kvmlaunch_balloon_guest_swap_in_bytes_total{vm=\"web\"} 0\n"
    "# HELP kvmlaunch_balloon_guest_swap_out_bytes_total Memory the guest swapped out.\n"
    "# TYPE kvmlaunch_balloon_guest_swap_out_bytes_total counter\n"
    "kvmlaunch_balloon_guest_swap_out_bytes_total{vm=\"web\"} 0\n"
    "# HELP kvmlaunch_balloon_guest_major_faults_total The guest's major page faults.\n"
    "# TYPE kvmlaunch_balloon_guest_major_faults_total counter\n"
    "kvmlaunch_balloon_guest_major_faults_total{vm=\"web\"} 12\n"
    "# HELP kvmlaunch_balloon_guest_minor_faults_total The guest's minor page faults.\n"
    "# TYPE kvmlaunch_balloon_guest_minor_faults_total counter\n"
    "kvmlaunch_balloon_guest_minor_faults_total{vm=\"web\"} 3400\n"
    "# HELP kvmlaunch_balloon_guest_hugetlb_allocations_total The guest's huge page allocations.\n"
    "# TYPE kvmlaunch_balloon_guest_hugetlb_allocations_total counter\n"
    "kvmlaunch_balloon_guest_hugetlb_allocations_total{vm=\"web\"} 5\n"
    "# HELP kvmlaunch_balloon_guest_hugetlb_failures_total The guest's failed huge page allocations.\n"
    "# TYPE kvmlaunch_balloon_guest_hugetlb_failures_total counter\n"
    "kvmlaunch_balloon_guest_hugetlb_failures_total{vm=\"web\"} 0\n"
    "# HELP kvmlaunch_block_read_bytes_total Bytes the guest read from the disk.\n"
    "# TYPE kvmlaunch_block_read_bytes_total counter\n"
    "kvmlaunch_block_read_bytes_total{vm=\"web\",disk=\"d0\"} 4608\n"
    "kvmlaunch_block_read_bytes_total{vm=\"web\",disk=\"fw-code\"} 1\n"
    "# HELP kvmlaunch_block_written_bytes_total Bytes the guest wrote to the disk.\n"
    "# TYPE kvmlaunch_block_written_bytes_total counter\n"
    "kvmlaunch_block_written_bytes_total{vm=\"web\",disk=\"d0\"} 0\n"
    "# HELP kvmlaunch_block_read_ops_total Read requests of the guest.\n"
    "# TYPE kvmlaunch_block_read_ops_total counter\n"
    "kvmlaunch_block_read_ops_total{vm=\"web\",disk=\"d0\"} 2\n"
    "# HELP kvmlaunch_block_write_ops_total Write requests of the guest.\n"
    "# TYPE kvmlaunch_block_write_ops_total counter\n"
    "kvmlaunch_block_write_ops_total{vm=\"web\",disk=\"d0\"} 0\n"
    "# HELP kvmlaunch_block_flush_ops_total Flush requests of the guest.\n"
    "# TYPE kvmlaunch_block_flush_ops_total counter\n"
    "kvmlaunch_block_flush_ops_total{vm=\"web\",disk=\"d0\"} 0\n"
    "# HELP kvmlaunch_block_read_seconds_total Time read requests took, summed.\n"
    "# TYPE kvmlaunch_block_read_seconds_total counter\n"
    "kvmlaunch_block_read_seconds_total{vm=\"web\",disk=\"d0\"} 0.001250000\n"
    "# HELP kvmlaunch_block_write_seconds_total Time write requests took, summed.\n"
    "# TYPE kvmlaunch_block_write_seconds_total counter\n"
    "kvmlaunch_block_write_seconds_total{vm=\"web\",disk=\"d0\"} 0.000000000\n"
    "# HELP kvmlaunch_tap_visible 1 when the tap's counters could be read, 0 when it is not in this network namespace.\n"
    "# TYPE kvmlaunch_tap_visible gauge\n"
    "kvmlaunch_tap_visible{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 1\n"
    "kvmlaunch_tap_visible{vm=\"web\",net=\"wan\",tap=\"kl-web-wan\"} 0\n"
    "# HELP kvmlaunch_tap_receive_bytes_total Bytes the host received on the tap (the guest sent).\n"
    "# TYPE kvmlaunch_tap_receive_bytes_total counter\n"
    "kvmlaunch_tap_receive_bytes_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 176\n"
    "# HELP kvmlaunch_tap_transmit_bytes_total Bytes the host sent on the tap (to the guest).\n"
    "# TYPE kvmlaunch_tap_transmit_bytes_total counter\n"
    "kvmlaunch_tap_transmit_bytes_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 0\n"
    "# HELP kvmlaunch_tap_receive_packets_total Packets the host received on the tap.\n"
    "# TYPE kvmlaunch_tap_receive_packets_total counter\n"
    "kvmlaunch_tap_receive_packets_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 2\n"
    "# HELP kvmlaunch_tap_transmit_packets_total Packets the host sent on the tap.\n"
    "# TYPE kvmlaunch_tap_transmit_packets_total counter\n"
    "kvmlaunch_tap_transmit_packets_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 0\n"
    "# HELP kvmlaunch_tap_receive_dropped_total Packets from the guest the host dropped.\n"
    "# TYPE kvmlaunch_tap_receive_dropped_total counter\n"
    "kvmlaunch_tap_receive_dropped_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 0\n"
    "# HELP kvmlaunch_tap_transmit_dropped_total Packets to the guest the host dropped.\n"
    "# TYPE kvmlaunch_tap_transmit_dropped_total counter\n"
    "kvmlaunch_tap_transmit_dropped_total{vm=\"web\",net=\"lan\",tap=\"kl-web-lan\"} 1\n"
    "# HELP kvmlaunch_host_knob A host kernel setting this VM changed, its value now (numeric ones).\n"
    "# TYPE kvmlaunch_host_knob gauge\n"
    "kvmlaunch_host_knob{vm=\"web\",file=\"/sys/kernel/mm/ksm/sleep_millisecs\"} 23\n"
    "# HELP kvmlaunch_host_knob_info A host kernel setting this VM changed: now, as set, and its original value.\n"
    "# TYPE kvmlaunch_host_knob_info gauge\n"
    "kvmlaunch_host_knob_info{vm=\"web\",file=\"/sys/kernel/mm/ksm/sleep_millisecs\",current=\"23\",set=\"23\",original=\"20\"} 1\n"
    "kvmlaunch_host_knob_info{vm=\"web\",file=\"/sys/kernel/mm/transparent_hugepage/enabled\",current=\"never\",set=\"never\",original=\"always\"} 1\n"
    "# HELP kvmlaunch_boot_phase_seconds Time from kvmlaunch's start to each step of the boot: qmp, cont, first_serial, init (those reached).\n"
    "# TYPE kvmlaunch_boot_phase_seconds gauge\n"
    "kvmlaunch_boot_phase_seconds{vm=\"web\",phase=\"qmp\"} 0.1205\n"
    "kvmlaunch_boot_phase_seconds{vm=\"web\",phase=\"cont\"} 0.1300\n"
    "kvmlaunch_boot_phase_seconds{vm=\"web\",phase=\"first_serial\"} 0.4000\n"
    "# HELP kvmlaunch_boot_budget_missed 1 when the guest did not reach its init within [vm] boot-budget.\n"
    "# TYPE kvmlaunch_boot_budget_missed gauge\n"
    "kvmlaunch_boot_budget_missed{vm=\"web\"} 1\n"
    "# HELP kvmlaunch_vm_restarts_total Guest resets kvmlaunch made after a panic or a watchdog expiry (on-crash, watchdog-action).\n"
    "# TYPE kvmlaunch_vm_restarts_total counter\n"
    "kvmlaunch_vm_restarts_total{vm=\"web\"} 2\n"
    "kvmlaunch_vm_restarts_total{vm=\"db\"} 0\n"
    "# HELP kvmlaunch_vm_last_restart_timestamp_seconds When kvmlaunch last reset the guest, and why.\n"
    "# TYPE kvmlaunch_vm_last_restart_timestamp_seconds gauge\n"
    "kvmlaunch_vm_last_restart_timestamp_seconds{vm=\"web\",reason=\"watchdog\"} 1700000000\n";

static char *render_two(void) {
    json_object *vms = parse(two_vms);
    char *text = metrics_render(vms);
    json_object_put(vms);
    return text;
}

static void test_two_vms(void **state) {
    (void)state;
    _cleanup_free_ char *text = render_two();
    if (getenv("METRICS_DUMP")) fputs(text, stderr);
    assert_string_equal(text, two_vms_text);
}

/* What is unknown is left out, never printed as 0: a stat the guest did
 * not send (null, as vmstatus leaves QEMU's -1), a CPU not read (-1), a
 * balloon whose presence is unknown, a VM without a name. */
static void test_unknowns(void **state) {
    (void)state;
    json_object *vms = parse("[{\"name\": \"a\", \"errors\": [\"balloon\"], \"vcpus\": [{\"vcpu\": 0, \"last_cpu\": -1}],"
                             "  \"balloon\": {\"enabled\": true, \"actual_bytes\": null, \"stats_updated\": 9,"
                             "               \"stats\": {\"free_bytes\": null, \"total_bytes\": 8}}}, {\"state\": \"paused\"}]");
    _cleanup_free_ char *text = metrics_render(vms);
    json_object_put(vms);
    assert_null(strstr(text, "kvmlaunch_vcpu_"));
    assert_null(strstr(text, "kvmlaunch_vm_running"));
    assert_null(strstr(text, "actual_bytes"));
    assert_null(strstr(text, "free_bytes"));
    assert_non_null(strstr(text, "\nkvmlaunch_vm_vcpus{vm=\"a\"} 1\n"));
    assert_non_null(strstr(text, "\nkvmlaunch_balloon_guest_total_bytes{vm=\"a\"} 8\n"));
    assert_non_null(strstr(text, "\nkvmlaunch_scrape_error{vm=\"a\",part=\"balloon\"} 1\n"));
    assert_non_null(strstr(text, "\nkvmlaunch_vms 2\n"));
    assert_int_equal(strstr(text, "kvmlaunch_vm_up{") - text, strstr(text, "kvmlaunch_vm_up{vm=\"a\"} 1\n") - text);
    assert_null(strstr(strstr(text, "kvmlaunch_vm_up{vm=\"a\"} 1\n") + 1, "kvmlaunch_vm_up{"));
}

/* Each family is in docs/METRICS.md's table with its type ("| `NAME` |
 * TYPE |"), each row of that table is a family, and the two-VM fixture
 * prints every family (so the whole text above covers each). */
static void test_docs_agree(void **state) {
    (void)state;
    FILE *f = fopen("docs/METRICS.md", "re");
    if (!f) fail_msg("docs/METRICS.md: run from the repository root");
    char *docs = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&docs, &cap, '\0', f);
    fclose(f);
    assert_true(len > 0);
    size_t n;
    const MetricsFamily *fam = metrics_families(&n);
    _cleanup_free_ char *text = render_two();
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *row = xasprintf("\n| `%s` | %s |", fam[i].name, fam[i].type);
        if (!strstr(docs, row)) fail_msg("docs/METRICS.md has no row \"%s\"", row + 1);
        _cleanup_free_ char *type = xasprintf("\n# TYPE %s %s\n", fam[i].name, fam[i].type);
        if (!strstr(text, type)) fail_msg("the fixture prints no %s", fam[i].name);
    }
    size_t rows = 0;
    for (const char *p = docs; (p = strstr(p, "\n| `kvmlaunch_")); p++) {
        p += strlen("\n| `");
        size_t k = strcspn(p, "`");
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) known = strlen(fam[i].name) == k && !strncmp(fam[i].name, p, k);
        if (!known) fail_msg("docs/METRICS.md lists %.*s, which metrics does not print", (int)k, p);
        rows++;
    }
    assert_int_equal(rows, n);
    free(docs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_no_vm),
        cmocka_unit_test(test_two_vms),
        cmocka_unit_test(test_unknowns),
        cmocka_unit_test(test_docs_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
