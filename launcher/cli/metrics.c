/* `kvmlaunch metrics` (include/metrics.h): the families and the pure
 * rendering first, then the reading, then the command. The families are
 * documented in docs/METRICS.md. */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crashpolicy.h"
#include "exitcode.h"
#include "kfiles.h"
#include "boottime.h"
#include "log.h"
#include "qmp.h"
#include "runtime.h"
#include "schema.h"
#include "strvec.h"
#include "util.h"
#include "vmstatus.h"

#define QMP_TIMEOUT_MS 5000

/* ------------------------------------------------------------------ */
/* The families, in the order they are printed                        */

enum {
    F_VMS,
    F_VM_UP,
    F_VM_RUNNING,
    F_SCRAPE_ERROR,
    F_VM_VCPUS,
    F_VCPU_CPU,
    F_VCPU_DELAY,
    F_VCPU_INVOL,
    F_VCPU_LAST_CPU,
    F_PLACE_CHECKS,
    F_PLACE_REPAIRS,
    F_MEM_RESIDENT,
    F_MEM_HUGE,
    F_BALLOON_ENABLED,
    F_BALLOON_ACTUAL,
    F_BALLOON_TARGET,
    F_BALLOON_UPDATED,
    /* The guest's stats, in the order of balloon_stats below. */
    F_BALLOON_FREE,
    F_BALLOON_TOTAL,
    F_BALLOON_AVAILABLE,
    F_BALLOON_CACHES,
    F_BALLOON_SWAP_IN,
    F_BALLOON_SWAP_OUT,
    F_BALLOON_MAJOR,
    F_BALLOON_MINOR,
    F_BALLOON_HTLB_ALLOC,
    F_BALLOON_HTLB_FAIL,
    /* Block counters, in the order of block_stats below. */
    F_BLOCK_RD_BYTES,
    F_BLOCK_WR_BYTES,
    F_BLOCK_RD_OPS,
    F_BLOCK_WR_OPS,
    F_BLOCK_FLUSH_OPS,
    F_BLOCK_RD_TIME,
    F_BLOCK_WR_TIME,
    F_TAP_VISIBLE,
    /* Tap counters, in the order of tap_stats below. */
    F_TAP_RX_BYTES,
    F_TAP_TX_BYTES,
    F_TAP_RX_PACKETS,
    F_TAP_TX_PACKETS,
    F_TAP_RX_DROPPED,
    F_TAP_TX_DROPPED,
    F_KNOB,
    F_KNOB_INFO,
    F_BOOT_PHASE,
    F_BOOT_BUDGET_MISSED,
    F_RESTARTS,
    F_LAST_RESTART,
    F__MAX,
};

static const MetricsFamily families[F__MAX] = {
    [F_VMS] = { "kvmlaunch_vms", "gauge", "Running kvmlaunch VMs." },
    [F_VM_UP] = { "kvmlaunch_vm_up", "gauge", "1 for each running VM (its QEMU process is known)." },
    [F_VM_RUNNING] = { "kvmlaunch_vm_running", "gauge", "1 when QEMU says the guest runs, 0 when it is paused or stopped." },
    [F_SCRAPE_ERROR] = { "kvmlaunch_scrape_error", "gauge", "1 when this part of the VM could not be read this time." },
    [F_VM_VCPUS] = { "kvmlaunch_vm_vcpus", "gauge", "vCPU threads of QEMU." },
    [F_VCPU_CPU] = { "kvmlaunch_vcpu_cpu_seconds_total", "counter", "Time the vCPU thread ran on a host CPU (schedstat)." },
    [F_VCPU_DELAY] = { "kvmlaunch_vcpu_run_delay_seconds_total", "counter",
                       "Time the vCPU thread was runnable but waited for a host CPU (schedstat)." },
    [F_VCPU_INVOL] = { "kvmlaunch_vcpu_involuntary_switches_total", "counter",
                       "Times the vCPU thread was taken off its CPU while it could still run (nonvoluntary_ctxt_switches)." },
    [F_PLACE_CHECKS] = { "kvmlaunch_placement_checks_total", "counter", "Full checks of every thread's CPUs and cgroup by the supervisor." },
    [F_PLACE_REPAIRS] = { "kvmlaunch_placement_repairs_total", "counter",
                          "Threads the supervisor put back on their CPUs (kind=cpus) or into their cgroup (kind=cgroup)." },
    [F_VCPU_LAST_CPU] = { "kvmlaunch_vcpu_last_cpu", "gauge", "The host CPU the vCPU thread last ran on." },
    [F_MEM_RESIDENT] = { "kvmlaunch_memory_resident_bytes", "gauge", "QEMU's resident memory on this host NUMA node (numa_maps)." },
    [F_MEM_HUGE] = { "kvmlaunch_memory_hugetlb_bytes", "gauge", "The part of it in hugetlbfs huge pages." },
    [F_BALLOON_ENABLED] = { "kvmlaunch_balloon_enabled", "gauge", "1 when the VM has a balloon device." },
    [F_BALLOON_ACTUAL] = { "kvmlaunch_balloon_actual_bytes", "gauge", "The guest's memory as the balloon leaves it." },
    [F_BALLOON_TARGET] = { "kvmlaunch_balloon_target_bytes", "gauge", "The balloon target last set with kvmlaunch balloon." },
    [F_BALLOON_UPDATED] = { "kvmlaunch_balloon_stats_updated_timestamp_seconds", "gauge", "When the guest last sent its stats." },
    [F_BALLOON_FREE] = { "kvmlaunch_balloon_guest_free_bytes", "gauge", "Memory the guest leaves unused." },
    [F_BALLOON_TOTAL] = { "kvmlaunch_balloon_guest_total_bytes", "gauge", "Memory the guest's kernel manages." },
    [F_BALLOON_AVAILABLE] = { "kvmlaunch_balloon_guest_available_bytes", "gauge", "The guest's MemAvailable." },
    [F_BALLOON_CACHES] = { "kvmlaunch_balloon_guest_disk_caches_bytes", "gauge", "The guest's page cache that it can drop." },
    [F_BALLOON_SWAP_IN] = { "kvmlaunch_balloon_guest_swap_in_bytes_total", "counter", "Memory the guest swapped in." },
    [F_BALLOON_SWAP_OUT] = { "kvmlaunch_balloon_guest_swap_out_bytes_total", "counter", "Memory the guest swapped out." },
    [F_BALLOON_MAJOR] = { "kvmlaunch_balloon_guest_major_faults_total", "counter", "The guest's major page faults." },
    [F_BALLOON_MINOR] = { "kvmlaunch_balloon_guest_minor_faults_total", "counter", "The guest's minor page faults." },
    [F_BALLOON_HTLB_ALLOC] = { "kvmlaunch_balloon_guest_hugetlb_allocations_total", "counter", "The guest's huge page allocations." },
    [F_BALLOON_HTLB_FAIL] = { "kvmlaunch_balloon_guest_hugetlb_failures_total", "counter", "The guest's failed huge page allocations." },
    [F_BLOCK_RD_BYTES] = { "kvmlaunch_block_read_bytes_total", "counter", "Bytes the guest read from the disk." },
    [F_BLOCK_WR_BYTES] = { "kvmlaunch_block_written_bytes_total", "counter", "Bytes the guest wrote to the disk." },
    [F_BLOCK_RD_OPS] = { "kvmlaunch_block_read_ops_total", "counter", "Read requests of the guest." },
    [F_BLOCK_WR_OPS] = { "kvmlaunch_block_write_ops_total", "counter", "Write requests of the guest." },
    [F_BLOCK_FLUSH_OPS] = { "kvmlaunch_block_flush_ops_total", "counter", "Flush requests of the guest." },
    [F_BLOCK_RD_TIME] = { "kvmlaunch_block_read_seconds_total", "counter", "Time read requests took, summed." },
    [F_BLOCK_WR_TIME] = { "kvmlaunch_block_write_seconds_total", "counter", "Time write requests took, summed." },
    [F_TAP_VISIBLE] = { "kvmlaunch_tap_visible", "gauge",
                        "1 when the tap's counters could be read, 0 when it is not in this network namespace." },
    [F_TAP_RX_BYTES] = { "kvmlaunch_tap_receive_bytes_total", "counter", "Bytes the host received on the tap (the guest sent)." },
    [F_TAP_TX_BYTES] = { "kvmlaunch_tap_transmit_bytes_total", "counter", "Bytes the host sent on the tap (to the guest)." },
    [F_TAP_RX_PACKETS] = { "kvmlaunch_tap_receive_packets_total", "counter", "Packets the host received on the tap." },
    [F_TAP_TX_PACKETS] = { "kvmlaunch_tap_transmit_packets_total", "counter", "Packets the host sent on the tap." },
    [F_TAP_RX_DROPPED] = { "kvmlaunch_tap_receive_dropped_total", "counter", "Packets from the guest the host dropped." },
    [F_TAP_TX_DROPPED] = { "kvmlaunch_tap_transmit_dropped_total", "counter", "Packets to the guest the host dropped." },
    [F_KNOB] = { "kvmlaunch_host_knob", "gauge", "A host kernel setting this VM changed, its value now (numeric ones)." },
    [F_KNOB_INFO] = { "kvmlaunch_host_knob_info", "gauge", "A host kernel setting this VM changed: now, as set, and its original value." },
    [F_BOOT_PHASE] = { "kvmlaunch_boot_phase_seconds", "gauge",
                       "Time from kvmlaunch's start to each step of the boot: qmp, cont, first_serial, init (those reached)." },
    [F_BOOT_BUDGET_MISSED] = { "kvmlaunch_boot_budget_missed", "gauge", "1 when the guest did not reach its init within [vm] boot-budget." },
    [F_RESTARTS] = { "kvmlaunch_vm_restarts_total", "counter", "Guest resets kvmlaunch made after a panic or a watchdog expiry (on-crash, watchdog-action)." },
    [F_LAST_RESTART] = { "kvmlaunch_vm_last_restart_timestamp_seconds", "gauge", "When kvmlaunch last reset the guest, and why." },
};

const MetricsFamily *metrics_families(size_t *n) {
    *n = F__MAX;
    return families;
}

/* vmstatus's balloon "stats" keys, from F_BALLOON_FREE on. */
static const char *const balloon_stats[] = {
    "free_bytes", "total_bytes", "available_bytes", "disk_caches_bytes", "swap_in_bytes",
    "swap_out_bytes", "major_faults", "minor_faults", "hugetlb_allocations", "hugetlb_failures",
};
/* query-blockstats' "stats" members, from F_BLOCK_RD_BYTES on; the _ns
 * ones are printed in seconds. */
static const char *const block_stats[] = {
    "rd_bytes", "wr_bytes", "rd_operations", "wr_operations", "flush_operations", "rd_total_time_ns", "wr_total_time_ns",
};
/* /sys/class/net/TAP/statistics files, from F_TAP_RX_BYTES on. */
static const char *const tap_stats[] = {
    "rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_dropped", "tx_dropped",
};

/* ------------------------------------------------------------------ */
/* Pure: rendering                                                     */

typedef struct Text {
    char *s;                        /* owned */
    size_t len;
} Text;

static void text_add(Text *t, const char *piece) {
    size_t n = strlen(piece);
    t->s = xrealloc(t->s, t->len + n + 1);
    memcpy(t->s + t->len, piece, n + 1);
    t->len += n;
}

static void text_addf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_addf(Text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *piece = xvasprintf(fmt, ap);
    va_end(ap);
    text_add(t, piece);
}

char *metrics_escape_label(const char *value) {
    Text t = { xstrdup(""), 0 };
    for (const char *p = value; *p; p++) {
        if (*p == '\\') text_add(&t, "\\\\");
        else if (*p == '"') text_add(&t, "\\\"");
        else if (*p == '\n') text_add(&t, "\\n");
        else {
            char c[2] = { *p, '\0' };
            text_add(&t, c);
        }
    }
    return t.s;
}

/* The samples of every family, gathered VM by VM and printed family by
 * family (the format wants each family's samples together). */
typedef struct Render {
    Text f[F__MAX];
} Render;

/* One sample of family F: LABELS (`vm="a",vcpu="0"`, already escaped) and
 * VALUE as text. */
static void sample(Render *r, int f, const char *labels, const char *value) {
    text_addf(&r->f[f], "%s{%s} %s\n", families[f].name, labels, value);
}

/* `vm="NAME"` followed by the NULL-terminated KEY, VALUE pairs. */
static char *labels(const char *vm, ...) __attribute__((sentinel));
static char *labels(const char *vm, ...) {
    _cleanup_free_ char *v = metrics_escape_label(vm);
    Text t = { xasprintf("vm=\"%s\"", v), 0 };
    t.len = strlen(t.s);
    va_list ap;
    va_start(ap, vm);
    for (const char *k; (k = va_arg(ap, const char *));) {
        _cleanup_free_ char *e = metrics_escape_label(va_arg(ap, const char *));
        text_addf(&t, ",%s=\"%s\"", k, e);
    }
    va_end(ap);
    return t.s;
}

static json_object *member(json_object *o, const char *key) {
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static json_object *num(json_object *o, const char *key) {
    json_object *v = member(o, key);
    return v && json_object_is_type(v, json_type_int) ? v : NULL;
}

static const char *str(json_object *o, const char *key) {
    json_object *v = member(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void sample_u64(Render *r, int f, const char *labels_, uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sample(r, f, labels_, buf);
}

static void sample_i64(Render *r, int f, const char *labels_, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    sample(r, f, labels_, buf);
}

/* Nanoseconds as seconds, exactly: 1.500000000. */
static void sample_ns(Render *r, int f, const char *labels_, uint64_t ns) {
    char buf[48];
    snprintf(buf, sizeof(buf), "%" PRIu64 ".%09" PRIu64, ns / 1000000000, ns % 1000000000);
    sample(r, f, labels_, buf);
}

/* A number member of O, when there and not negative (QEMU and the kernel
 * count up from 0; -1 is "unknown"). */
static bool get_u64(json_object *o, const char *key, uint64_t *out) {
    json_object *v = num(o, key);
    if (!v || json_object_get_int64(v) < 0) return false;
    *out = json_object_get_uint64(v);
    return true;
}

static bool has_error(json_object *vm, const char *part) {
    json_object *errors = member(vm, "errors");
    for (size_t i = 0; errors && json_object_is_type(errors, json_type_array) && i < json_object_array_length(errors); i++) {
        const char *e = json_object_get_string(json_object_array_get_idx(errors, i));
        if (e && streq(e, part)) return true;
    }
    return false;
}

static void render_vcpus(Render *r, const char *name, json_object *vcpus) {
    if (!vcpus || !json_object_is_type(vcpus, json_type_array)) return;
    _cleanup_free_ char *l = labels(name, NULL);
    sample_u64(r, F_VM_VCPUS, l, json_object_array_length(vcpus));
    for (size_t i = 0; i < json_object_array_length(vcpus); i++) {
        json_object *c = json_object_array_get_idx(vcpus, i);
        uint64_t v;
        json_object *idx = num(c, "vcpu");
        if (!idx) continue;
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, json_object_get_int64(idx));
        _cleanup_free_ char *lc = labels(name, "vcpu", id, NULL);
        if (get_u64(c, "cpu_ns", &v)) sample_ns(r, F_VCPU_CPU, lc, v);
        if (get_u64(c, "run_delay_ns", &v)) sample_ns(r, F_VCPU_DELAY, lc, v);
        if (get_u64(c, "involuntary_switches", &v)) sample_u64(r, F_VCPU_INVOL, lc, v);
        if (get_u64(c, "last_cpu", &v)) sample_u64(r, F_VCPU_LAST_CPU, lc, v);
    }
}

/* The supervisor's placement watch (placewatch.h). */
static void render_watch(Render *r, const char *name, json_object *w) {
    uint64_t v;
    if (!w) return;
    _cleanup_free_ char *l = labels(name, NULL), *lc = labels(name, "kind", "cpus", NULL), *lg = labels(name, "kind", "cgroup", NULL);
    if (get_u64(w, "checks", &v)) sample_u64(r, F_PLACE_CHECKS, l, v);
    if (get_u64(w, "affinity_repairs", &v)) sample_u64(r, F_PLACE_REPAIRS, lc, v);
    if (get_u64(w, "cgroup_repairs", &v)) sample_u64(r, F_PLACE_REPAIRS, lg, v);
}

static void render_memory(Render *r, const char *name, json_object *m) {
    json_object *nodes = member(m, "nodes");
    for (size_t i = 0; nodes && json_object_is_type(nodes, json_type_array) && i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);
        uint64_t node, v;
        if (!get_u64(n, "node", &node)) continue;
        char id[24];
        snprintf(id, sizeof(id), "%" PRIu64, node);
        _cleanup_free_ char *l = labels(name, "node", id, NULL);
        if (get_u64(n, "bytes", &v)) sample_u64(r, F_MEM_RESIDENT, l, v);
        if (get_u64(n, "huge_bytes", &v)) sample_u64(r, F_MEM_HUGE, l, v);
    }
}

static void render_balloon(Render *r, const char *name, json_object *b) {
    json_object *enabled = member(b, "enabled");
    if (!enabled || !json_object_is_type(enabled, json_type_boolean)) return;
    _cleanup_free_ char *l = labels(name, NULL);
    sample(r, F_BALLOON_ENABLED, l, json_object_get_boolean(enabled) ? "1" : "0");
    uint64_t v;
    if (get_u64(b, "actual_bytes", &v)) sample_u64(r, F_BALLOON_ACTUAL, l, v);
    if (get_u64(b, "target_bytes", &v)) sample_u64(r, F_BALLOON_TARGET, l, v);
    if (get_u64(b, "stats_updated", &v)) sample_u64(r, F_BALLOON_UPDATED, l, v);
    json_object *stats = member(b, "stats");
    for (size_t i = 0; stats && i < ELEMENTSOF(balloon_stats); i++)
        if (get_u64(stats, balloon_stats[i], &v)) sample_u64(r, F_BALLOON_FREE + (int)i, l, v);
}

/* The disk's [disk "ID"]: kvmlaunch names the device disk-ID and the
 * format node fmt-ID (qemucmd.c); another's name as QEMU has it. */
static char *disk_id(json_object *entry) {
    const char *qdev = str(entry, "qdev"), *node = str(entry, "node-name"), *dev = str(entry, "device");
    static const char peripheral[] = "/machine/peripheral/";
    if (qdev && !strncmp(qdev, peripheral, strlen(peripheral))) {
        const char *id = qdev + strlen(peripheral);
        size_t n = strcspn(id, "/");
        if (!strncmp(id, "disk-", 5) && n > 5) return xstrndup(id + 5, n - 5);
        return xstrndup(id, n);
    }
    const char *name = !strempty(node) ? node : !strempty(dev) ? dev : qdev;
    if (!name) return NULL;
    return xstrdup(!strncmp(name, "fmt-", 4) && name[4] ? name + 4 : name);
}

static void render_blockstats(Render *r, const char *name, json_object *blocks) {
    for (size_t i = 0; blocks && json_object_is_type(blocks, json_type_array) && i < json_object_array_length(blocks); i++) {
        json_object *e = json_object_array_get_idx(blocks, i), *stats = member(e, "stats");
        _cleanup_free_ char *id = disk_id(e);
        if (!id || !stats) continue;
        _cleanup_free_ char *l = labels(name, "disk", id, NULL);
        for (size_t k = 0; k < ELEMENTSOF(block_stats); k++) {
            uint64_t v;
            if (!get_u64(stats, block_stats[k], &v)) continue;
            if (strstr(block_stats[k], "_ns")) sample_ns(r, F_BLOCK_RD_BYTES + (int)k, l, v);
            else sample_u64(r, F_BLOCK_RD_BYTES + (int)k, l, v);
        }
    }
}

static void render_taps(Render *r, const char *name, json_object *taps) {
    for (size_t i = 0; taps && json_object_is_type(taps, json_type_array) && i < json_object_array_length(taps); i++) {
        json_object *t = json_object_array_get_idx(taps, i), *stats = member(t, "stats");
        const char *tap = str(t, "tap"), *net = str(t, "net");
        if (!tap) continue;
        _cleanup_free_ char *l = labels(name, "net", net ? net : "", "tap", tap, NULL);
        sample(r, F_TAP_VISIBLE, l, stats ? "1" : "0");
        for (size_t k = 0; stats && k < ELEMENTSOF(tap_stats); k++) {
            uint64_t v;
            if (get_u64(stats, tap_stats[k], &v)) sample_u64(r, F_TAP_RX_BYTES + (int)k, l, v);
        }
    }
}

static void render_knobs(Render *r, const char *name, json_object *knobs) {
    for (size_t i = 0; knobs && json_object_is_type(knobs, json_type_array) && i < json_object_array_length(knobs); i++) {
        json_object *k = json_object_array_get_idx(knobs, i);
        const char *path = str(k, "path"), *now = str(k, "current"), *set = str(k, "set"), *orig = str(k, "original");
        if (!path) continue;
        _cleanup_free_ char *l = labels(name, "file", path, NULL);
        /* A word (THP's "never") has no number: its _info series says it. */
        int64_t v;
        _cleanup_free_ char *line = now ? xasprintf("%s\n", now) : NULL;
        if (line && kfile_parse_int(line, &v) == 0) sample_i64(r, F_KNOB, l, v);
        _cleanup_free_ char *li = labels(name, "file", path, "current", now ? now : "", "set", set ? set : "", "original", orig ? orig : "", NULL);
        sample(r, F_KNOB_INFO, li, "1");
    }
}

/* The boot timeline (boottime.h): one sample per phase reached. */
static void render_boot(Render *r, const char *name, json_object *boot) {
    if (!boot) return;
    static const char *const phases[][2] = { { "qmp", "qmp_ms" }, { "cont", "cont_ms" }, { "first_serial", "first_serial_ms" }, { "init", "init_ms" } };
    for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
        json_object *v = member(boot, phases[i][1]);
        if (!v) continue;
        _cleanup_free_ char *l = labels(name, "phase", phases[i][0], NULL);
        char value[32];
        snprintf(value, sizeof(value), "%.4f", json_object_get_double(v) / 1000.0);
        sample(r, F_BOOT_PHASE, l, value);
    }
    _cleanup_free_ char *l = labels(name, NULL);
    sample(r, F_BOOT_BUDGET_MISSED, l, json_object_get_boolean(member(boot, "budget_missed")) ? "1" : "0");
}

/* [vm] on-crash and watchdog-action resets (include/crashpolicy.h). */
static void render_restarts(Render *r, const char *name, json_object *restarts) {
    uint64_t count, at;
    if (!get_u64(restarts, "count", &count)) return;
    _cleanup_free_ char *l = labels(name, NULL);
    sample_u64(r, F_RESTARTS, l, count);
    const char *reason = str(restarts, "last_reason");
    if (!reason || !get_u64(restarts, "last_time", &at)) return;
    _cleanup_free_ char *lr = labels(name, "reason", reason, NULL);
    sample_u64(r, F_LAST_RESTART, lr, at);
}

static void render_vm(Render *r, json_object *vm) {
    const char *name = str(vm, "name");
    if (!name) return;
    _cleanup_free_ char *l = labels(name, NULL);
    sample(r, F_VM_UP, l, "1");
    const char *state = str(vm, "state");
    if (state) sample(r, F_VM_RUNNING, l, streq(state, "running") ? "1" : "0");
    static const char *const parts[] = { METRICS_PARTS };
    for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
        _cleanup_free_ char *lp = labels(name, "part", parts[i], NULL);
        sample(r, F_SCRAPE_ERROR, lp, has_error(vm, parts[i]) ? "1" : "0");
    }
    render_vcpus(r, name, member(vm, "vcpus"));
    render_watch(r, name, member(vm, "placement_watch"));
    render_memory(r, name, member(vm, "memory"));
    render_balloon(r, name, member(vm, "balloon"));
    render_blockstats(r, name, member(vm, "blockstats"));
    render_taps(r, name, member(vm, "taps"));
    render_knobs(r, name, member(vm, "knobs"));
    render_boot(r, name, member(vm, "boot"));
    render_restarts(r, name, member(vm, "restarts"));
}

char *metrics_render(json_object *vms) {
    Render r;
    memset(&r, 0, sizeof(r));
    size_t n = vms && json_object_is_type(vms, json_type_array) ? json_object_array_length(vms) : 0;
    char count[24];
    snprintf(count, sizeof(count), "%zu", n);
    text_addf(&r.f[F_VMS], "%s %s\n", families[F_VMS].name, count);
    for (size_t i = 0; i < n; i++) render_vm(&r, json_object_array_get_idx(vms, i));
    Text out = { xstrdup(""), 0 };
    for (int f = 0; f < F__MAX; f++) {
        if (!r.f[f].s) continue;
        /* HELP texts hold no backslash or newline: nothing to escape. */
        text_addf(&out, "# HELP %s %s\n# TYPE %s %s\n%s", families[f].name, families[f].help, families[f].name, families[f].type, r.f[f].s);
        free(r.f[f].s);
    }
    return out.s;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static void add_error(json_object *vm, const char *part) {
    json_object *errors = member(vm, "errors");
    if (!has_error(vm, part)) json_object_array_add(errors, json_object_new_string(part));
}

/* "CPUNS DELAYNS SLICES\n" from /proc/PID/task/TID/schedstat (the kernel's
 * sched_info: time on a CPU, time runnable and waiting). */
static int parse_schedstat(const char *text, uint64_t *cpu_ns, uint64_t *delay_ns) {
    unsigned long long a, b;
    if (!text || sscanf(text, "%llu %llu", &a, &b) != 2) return -EBADMSG;
    *cpu_ns = a;
    *delay_ns = b;
    return 0;
}

/* status's vCPU list, each with its times from schedstat. */
static json_object *collect_vcpus(json_object *vm, pid_t qemu) {
    json_object *status_vcpus = vmstatus_read_vcpus(qemu), *out = json_object_new_array();
    size_t n = json_object_array_length(status_vcpus);
    if (!n) add_error(vm, "vcpus");
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(status_vcpus, i), *o = json_object_new_object();
        json_object_object_add(o, "vcpu", json_object_get(member(c, "vcpu")));
        json_object_object_add(o, "last_cpu", json_object_get(member(c, "last_cpu")));
        _cleanup_free_ char *path = xasprintf("/proc/%ld/task/%d/schedstat", (long)qemu, json_object_get_int(member(c, "tid")));
        _cleanup_free_ char *text = vmstatus_proc_text(path);
        uint64_t cpu, delay;
        if (parse_schedstat(text, &cpu, &delay) == 0) {
            json_object_object_add(o, "cpu_ns", json_object_new_uint64(cpu));
            json_object_object_add(o, "run_delay_ns", json_object_new_uint64(delay));
            json_object_object_add(o, "involuntary_switches", json_object_get(member(c, "involuntary_switches")));
        } else {
            add_error(vm, "vcpus");
        }
        json_object_array_add(out, o);
    }
    json_object_put(status_vcpus);
    return out;
}

/* A tap's counters, or NULL when it is not in this network namespace:
 * kvmlaunch ran the VM in another one (`ip netns exec`), and a tap of that
 * name here, when there is one, is another device. Only a tun device has
 * tun_flags; /sys/class/net is the namespace /sys was mounted in. */
static json_object *tap_counters(const HostRoot *hr, const char *tap) {
    _cleanup_free_ char *flags_path = xasprintf("/sys/class/net/%s/tun_flags", tap);
    if (!hostroot_exists(hr, flags_path)) return NULL;
    json_object *o = json_object_new_object();
    for (size_t k = 0; k < ELEMENTSOF(tap_stats); k++) {
        _cleanup_free_ char *path = xasprintf("/sys/class/net/%s/statistics/%s", tap, tap_stats[k]);
        _cleanup_free_ char *text = NULL;
        int64_t v;
        if (hostroot_read(hr, path, &text) == 0 && kfile_parse_int(text, &v) == 0) json_object_object_add(o, tap_stats[k], json_object_new_int64(v));
    }
    return o;
}

static json_object *collect_taps(const HostRoot *hr, json_object *vm, const char *name, const VmNics *nics) {
    json_object *taps = json_object_new_array();
    /* The descriptors of some VM could not be read (kvmlaunch is not
     * root): its taps are unknown. */
    if (nics->unreadable) add_error(vm, "taps");
    for (size_t i = 0; i < nics->n; i++) {
        const VmNic *nic = &nics->v[i];
        if (!streq(nic->vm, name)) continue;
        json_object *t = json_object_new_object();
        json_object_object_add(t, "net", nic->net ? json_object_new_string(nic->net) : NULL);
        json_object_object_add(t, "tap", json_object_new_string(nic->tap));
        json_object *stats = tap_counters(hr, nic->tap);
        json_object_object_add(t, "visible", json_object_new_boolean(stats != NULL));
        json_object_object_add(t, "stats", stats);
        json_object_array_add(taps, t);
    }
    return taps;
}

json_object *metrics_collect_vm(const HostRoot *hr, const char *name, pid_t qemu, const VmNics *nics) {
    json_object *vm = json_object_new_object();
    json_object_object_add(vm, "name", json_object_new_string(name));
    json_object_object_add(vm, "errors", json_object_new_array());

    /* The status monitor, briefly, as status uses it. */
    QmpClient q;
    int r = vmstatus_qmp_open(name, &q);
    if (r < 0) log_warning_errno(r, "%s: the status monitor did not answer: %m", name);
    QmpClient *qp = r >= 0 ? &q : NULL;
    json_object *st = NULL;
    r = qp ? qmp_execute(qp, "query-status", NULL, &st, QMP_TIMEOUT_MS) : -ENOTCONN;
    if (r < 0 && r != -EIO && qp) {
        /* A timeout or a closed socket: each further question would wait as long. */
        log_warning("%s: %s", name, q.error ? q.error : "the status monitor did not answer");
        qmp_close(qp);
        qp = NULL;
    }
    if (!qp) add_error(vm, "qmp");
    const char *state = str(st, "status");
    if (state) json_object_object_add(vm, "state", json_object_new_string(state));
    json_object_put(st);

    json_object_object_add(vm, "boot", boottime_load(name));
    json_object_object_add(vm, "vcpus", collect_vcpus(vm, qemu));
    json_object_object_add(vm, "placement_watch", vmstatus_read_watch(name));
    json_object *memory = vmstatus_read_memory(qemu);
    if (!memory) add_error(vm, "memory");
    json_object_object_add(vm, "memory", memory);

    json_object *balloon = vmstatus_read_balloon(qp, name);
    if (!member(balloon, "enabled")) add_error(vm, "balloon");
    json_object_object_add(vm, "balloon", balloon);

    json_object *blocks = NULL;
    if (!qp || qmp_execute(qp, "query-blockstats", NULL, &blocks, QMP_TIMEOUT_MS) < 0) {
        if (qp) log_warning("%s: query-blockstats: %s", name, q.error ? q.error : "no answer");
        add_error(vm, "blockstats");
    }
    json_object_object_add(vm, "blockstats", blocks);
    if (qp) qmp_close(qp);

    json_object_object_add(vm, "taps", collect_taps(hr, vm, name, nics));
    json_object *knobs = vmstatus_read_knobs(hr, name);
    if (!knobs) add_error(vm, "knobs");
    json_object_object_add(vm, "knobs", knobs);
    json_object_object_add(vm, "restarts", crashpolicy_read_state(name));
    return vm;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every VM of the run dir, in name order; NULL (said) when the run dir is
 * there but cannot be listed: "kvmlaunch_vms 0" would then be a lie. */
static json_object *collect_all(const HostRoot *hr) {
    DIR *d = opendir(runtime_base());
    if (!d && errno != ENOENT) {
        log_error_errno(-errno, "Failed to list %s: %m", runtime_base());
        return NULL;
    }
    json_object *vms = json_object_new_array();
    if (!d) return vms;
    StrVec names = STRVEC_INIT;
    for (struct dirent *de; (de = readdir(d));) {
        char err[VALUE_ERR_MAX];
        if ((de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) && schema_check_vm_name(de->d_name, err) == 0) strvec_push(&names, de->d_name);
    }
    closedir(d);
    if (names.n) qsort(names.v, names.n, sizeof(char *), by_name);
    VmNics nics;
    tap_probe_others(hr, NULL, &nics);
    size_t unread = 0;
    for (size_t i = 0; i < names.n; i++) {
        pid_t sup = 0, qemu = 0;
        int r = runtime_query(names.v[i], &sup, &qemu);
        /* A VM still starting (locked, its pids not written) is left out
         * until the next time. */
        if (r == -ENODATA || r == -EBADMSG) continue;
        /* One whose pid file cannot be read (not root: each VM's dir is
         * 0700) might be running: leaving it out would count it as none,
         * a false picture, so nothing is printed. */
        if (r < 0) {
            log_error_errno(r, "Failed to read the pid file of %s in %s/%s: %m%s", names.v[i], runtime_base(), names.v[i],
                            r == -EACCES || r == -EPERM ? " (run kvmlaunch metrics as root)" : "");
            unread++;
            continue;
        }
        if (r != 1 || qemu <= 0) continue;
        json_object_array_add(vms, metrics_collect_vm(hr, names.v[i], qemu, &nics));
    }
    vmnics_free(&nics);
    strvec_clear(&names);
    if (unread) {
        json_object_put(vms);
        return NULL;
    }
    return vms;
}

/* TEXT into a new file beside PATH, renamed over PATH: node_exporter reads
 * the old file or the new one, never half of one. The temporary name does
 * not end in .prom, so the textfile collector never reads it. */
static int write_atomic(const char *path, const char *text) {
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return log_error_errno(-errno, "Failed to create a file beside %s: %m", path);
    size_t len = strlen(text), done = 0;
    int r = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        done += (size_t)n;
    }
    /* Readable by node_exporter's own user; mkostemp made it 0600. */
    if (r == 0 && fchmod(fd, 0644) < 0) r = -errno;
    if (r == 0 && fsync(fd) < 0) r = -errno;
    if (close(fd) < 0 && r == 0) r = -errno;
    if (r == 0 && rename(tmp, path) < 0) r = -errno;
    if (r < 0) {
        unlink(tmp);
        return log_error_errno(r, "Failed to write %s: %m", path);
    }
    return 0;
}

int cmd_metrics_main(int argc, char **argv) {
    const char *output = NULL;
    if (argc == 3 && streq(argv[1], "--output")) output = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "kvmlaunch metrics: expected no arguments or --output FILE\n");
        return EXIT_CONFIG;
    }
    if (output && strempty(output)) {
        fprintf(stderr, "kvmlaunch metrics: --output: expected a file name, found \"\"\n");
        return EXIT_CONFIG;
    }
    HostRoot hr = HOSTROOT_INIT;
    if (hostroot_open(&hr) < 0) return EXIT_RUNTIME;
    json_object *vms = collect_all(&hr);
    hostroot_close(&hr);
    if (!vms) return EXIT_RUNTIME;
    _cleanup_free_ char *text = metrics_render(vms);
    json_object_put(vms);
    if (output) return write_atomic(output, text) < 0 ? EXIT_RUNTIME : EXIT_OK;
    if (fputs(text, stdout) < 0 || fflush(stdout) != 0) {
        log_error_errno(-errno, "Failed to write the metrics: %m");
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}
