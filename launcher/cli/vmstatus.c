/* `kvmlaunch status NAME` (include/vmstatus.h): the pure builders of the
 * report's parts and its human form first, then the reading. The JSON
 * fields are documented in docs/STATUS.md: a change there is a change of
 * contract. */
#include "vmstatus.h"

#include <ctype.h>
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
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "crashpolicy.h"
#include "hostnic.h"
#include "hostplan.h"
#include "hostroot.h"
#include "kfiles.h"
#include "log.h"
#include "numa_place.h"
#include "placewatch.h"
#include "qmp.h"
#include "runtime.h"
#include "statefile.h"
#include "serialrelay.h"
#include "usernet.h"
#include "util.h"
#include "vmlive.h"
#include "boottime.h"
#include "vmthreads.h"

#define QMP_TIMEOUT_MS 5000
#define BALLOON_PATH "/machine/peripheral/balloon0"

/* ------------------------------------------------------------------ */
/* Pure: JSON helpers                                                  */

static const char *jstr(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The member KEY when it is a number, else NULL (absent or null). */
static json_object *jnum(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ? v : NULL;
}

static bool has_user(json_object *entry, const char *name) {
    json_object *users;
    if (!json_object_object_get_ex(entry, "users", &users) || !json_object_is_type(users, json_type_array)) return false;
    for (size_t i = 0; i < json_object_array_length(users); i++) {
        const char *u = json_object_get_string(json_object_array_get_idx(users, i));
        if (u && streq(u, name)) return true;
    }
    return false;
}

/* A kernel integer file's number, or null when the file is absent (TEXT
 * NULL) or holds something else. */
static json_object *kernel_int(const char *text) {
    int64_t v;
    return text && kfile_parse_int(text, &v) == 0 ? json_object_new_int64(v) : NULL;
}

/* ------------------------------------------------------------------ */
/* Pure: the parts of the report                                       */

int vmstatus_memory_json(const char *numa_maps, json_object **out) {
    NumaPages np;
    int r = kfile_parse_numa_maps(numa_maps, &np);
    if (r < 0) return r;
    uint64_t total = 0, huge = 0;
    json_object *nodes = json_object_new_array();
    for (int n = 0; n <= np.max_node; n++) {
        if (!np.bytes[n]) continue;
        if (__builtin_add_overflow(total, np.bytes[n], &total) || __builtin_add_overflow(huge, np.huge_bytes[n], &huge)) {
            json_object_put(nodes);
            return -ERANGE;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "node", json_object_new_int(n));
        json_object_object_add(o, "bytes", json_object_new_uint64(np.bytes[n]));
        json_object_object_add(o, "huge_bytes", json_object_new_uint64(np.huge_bytes[n]));
        json_object_array_add(nodes, o);
    }
    json_object *m = json_object_new_object();
    json_object_object_add(m, "nodes", nodes);
    json_object_object_add(m, "total_bytes", json_object_new_uint64(total));
    json_object_object_add(m, "huge_bytes", json_object_new_uint64(huge));
    *out = m;
    return 0;
}

/* QEMU's guest-stats names (virtio's VIRTIO_BALLOON_S_*) and ours: the
 * units said in the name where they are bytes; the rest are counts. */
static const struct {
    const char *qemu, *key;
} balloon_stats[] = {
    { "stat-swap-in", "swap_in_bytes" },        { "stat-swap-out", "swap_out_bytes" },
    { "stat-major-faults", "major_faults" },    { "stat-minor-faults", "minor_faults" },
    { "stat-free-memory", "free_bytes" },       { "stat-total-memory", "total_bytes" },
    { "stat-available-memory", "available_bytes" }, { "stat-disk-caches", "disk_caches_bytes" },
    { "stat-htlb-pgalloc", "hugetlb_allocations" }, { "stat-htlb-pgfail", "hugetlb_failures" },
};

/* QEMU keeps -1 (as uint64) for every stat the guest has not reported:
 * before the first update all of them, after it those the guest's driver
 * does not know. That is null here, not 18446744073709551615 bytes. */
static json_object *balloon_stat(json_object *qstats, const char *qname) {
    json_object *v;
    if (!json_object_object_get_ex(qstats, qname, &v) || !json_object_is_type(v, json_type_int)) return NULL;
    uint64_t u = json_object_get_uint64(v);
    return u == UINT64_MAX ? NULL : json_object_new_uint64(u);
}

/* "stats_updated" and "stats": only once the guest has sent stats
 * (last-update, in seconds since the epoch, is 0 until then). */
static void add_balloon_stats(json_object *o, json_object *stats) {
    json_object *last = stats ? jnum(stats, "last-update") : NULL;
    json_object *qstats = NULL;
    if (last && json_object_get_int64(last) > 0 && json_object_object_get_ex(stats, "stats", &qstats) &&
        json_object_is_type(qstats, json_type_object)) {
        json_object *s = json_object_new_object();
        for (size_t i = 0; i < ELEMENTSOF(balloon_stats); i++)
            json_object_object_add(s, balloon_stats[i].key, balloon_stat(qstats, balloon_stats[i].qemu));
        json_object_object_add(o, "stats_updated", json_object_new_int64(json_object_get_int64(last)));
        json_object_object_add(o, "stats", s);
    } else {
        json_object_object_add(o, "stats_updated", NULL);
        json_object_object_add(o, "stats", NULL);
    }
}

json_object *vmstatus_balloon_json(json_object *balloon, const char *error, json_object *period, json_object *stats) {
    json_object *o = json_object_new_object();
    json_object *actual = balloon ? jnum(balloon, "actual") : NULL;
    /* QEMU answers DeviceNotActive when the VM has no balloon device
     * ([balloon] enabled = no); any other failure leaves it unknown. */
    bool absent = !balloon && error && !strncmp(error, "DeviceNotActive:", strlen("DeviceNotActive:"));
    json_object_object_add(o, "enabled", balloon ? json_object_new_boolean(true) : absent ? json_object_new_boolean(false) : NULL);
    json_object_object_add(o, "actual_bytes", actual ? json_object_new_int64(json_object_get_int64(actual)) : NULL);
    bool has_period = balloon && period && json_object_is_type(period, json_type_int);
    json_object_object_add(o, "stats_period_s", has_period ? json_object_new_int64(json_object_get_int64(period)) : NULL);
    add_balloon_stats(o, balloon ? stats : NULL);
    json_object_object_add(o, "error", !balloon && !absent && error ? json_object_new_string(error) : NULL);
    return o;
}

/* /proc/PID/ksm_stat: "ksm_rmap_items 0" and "ksm_merge_any: no" lines. A
 * number becomes a number, a word stays a string; the kernel adds lines
 * over time, so every line is kept. */
static json_object *ksm_stat_json(const char *text) {
    json_object *o = json_object_new_object();
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        _cleanup_free_ char *line = xstrndup(p, len);
        p += len + (p[len] == '\n');
        size_t klen = strcspn(line, ": ");
        const char *v = line + klen + strspn(line + klen, ": ");
        if (!klen || !*v) continue;
        line[klen] = '\0';
        _cleanup_free_ char *num = xasprintf("%s\n", v);
        json_object *n = kernel_int(num);
        json_object_object_add(o, line, n ? n : json_object_new_string(v));
    }
    return o;
}

json_object *vmstatus_ksm_json(const char *pages_sharing, const char *pages_shared, const char *merging_pages,
                               const char *ksm_stat, int64_t page_bytes) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "page_bytes", json_object_new_int64(page_bytes));
    json_object_object_add(o, "pages_sharing", kernel_int(pages_sharing));
    json_object_object_add(o, "pages_shared", kernel_int(pages_shared));
    json_object_object_add(o, "vm_merging_pages", kernel_int(merging_pages));
    json_object_object_add(o, "vm_stat", ksm_stat ? ksm_stat_json(ksm_stat) : NULL);
    return o;
}

json_object *vmstatus_knobs_json(json_object *knobs, const char *name) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; knobs && i < json_object_array_length(knobs); i++) {
        json_object *k = json_object_array_get_idx(knobs, i);
        const char *path = jstr(k, "path"), *orig = jstr(k, "original"), *set = jstr(k, "value");
        if (!path || !orig || !has_user(k, name)) continue;
        json_object *e = json_object_new_object();
        json_object_object_add(e, "path", json_object_new_string(path));
        json_object_object_add(e, "original", json_object_new_string(orig));
        json_object_object_add(e, "set", set ? json_object_new_string(set) : NULL);
        json_object_array_add(a, e);
    }
    return a;
}

json_object *vmstatus_offloads_json(json_object *features, const char *name) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; features && i < json_object_array_length(features); i++) {
        json_object *f = json_object_array_get_idx(features, i), *orig;
        const char *dev = jstr(f, "dev"), *feature = jstr(f, "feature");
        if (!dev || !feature || !json_object_object_get_ex(f, "original", &orig) || !json_object_is_type(orig, json_type_boolean) ||
            !has_user(f, name))
            continue;
        json_object *e = json_object_new_object();
        json_object_object_add(e, "dev", json_object_new_string(dev));
        json_object_object_add(e, "feature", json_object_new_string(feature));
        json_object_object_add(e, "original", json_object_new_boolean(json_object_get_boolean(orig)));
        json_object_array_add(a, e);
    }
    return a;
}

/* ------------------------------------------------------------------ */
/* Pure: the human form                                                */

typedef struct Text {
    char *s;                        /* owned */
    size_t len;
} Text;

static void text_addf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_addf(Text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *piece = xvasprintf(fmt, ap);
    va_end(ap);
    size_t n = strlen(piece);
    t->s = xrealloc(t->s, t->len + n + 1);
    memcpy(t->s + t->len, piece, n + 1);
    t->len += n;
    free(piece);
}

/* "212 MiB": whole units, the largest that is not zero; "?" for null. */
static const char *fmt_bytes(char buf[32], json_object *v) {
    if (!v) return "?";
    uint64_t b = json_object_get_uint64(v);
    if (b >= (UINT64_C(1) << 30)) snprintf(buf, 32, "%.1f GiB", (double)b / (double)(UINT64_C(1) << 30));
    else if (b >= (UINT64_C(1) << 20)) snprintf(buf, 32, "%" PRIu64 " MiB", b >> 20);
    else if (b >= 1024) snprintf(buf, 32, "%" PRIu64 " KiB", b >> 10);
    else snprintf(buf, 32, "%" PRIu64 " B", b);
    return buf;
}

static const char *fmt_int(char buf[32], json_object *v) {
    if (!v) return "n/a";
    snprintf(buf, 32, "%" PRId64, json_object_get_int64(v));
    return buf;
}

static json_object *member(json_object *o, const char *key) {
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* "  run delay 12.3 ms  involuntary switches 45", then the line's end. */
static void render_vcpu_waits(Text *t, json_object *c) {
    json_object *d = member(c, "run_delay_ns"), *n = member(c, "involuntary_switches");
    if (d) text_addf(t, "  run delay %.1f ms", (double)json_object_get_uint64(d) / 1e6);
    if (n) text_addf(t, "  involuntary switches %" PRIu64, json_object_get_uint64(n));
    text_addf(t, "\n");
}

/* The supervisor's placement watch (placewatch.h) and what migrate = yes
 * moved (numa_place.h). */
static void render_watch(Text *t, json_object *w, json_object *m) {
    if (w)
        text_addf(t, "  placement: %" PRIu64 " repairs (%" PRIu64 " CPUs, %" PRIu64 " cgroup) in %" PRIu64 " checks of %" PRIu64 " threads\n",
                  json_object_get_uint64(member(w, "repairs")), json_object_get_uint64(member(w, "affinity_repairs")),
                  json_object_get_uint64(member(w, "cgroup_repairs")), json_object_get_uint64(member(w, "checks")),
                  json_object_get_uint64(member(w, "threads")));
    if (!m) return;
    text_addf(t, "  migrate onto node(s) %s:", json_object_get_string(member(m, "nodes")));
    const char *part[] = { "before", "after" };
    for (size_t i = 0; i < 2; i++) {
        text_addf(t, " %s", part[i]);
        json_object *nodes = member(m, part[i]);
        if (!json_object_is_type(nodes, json_type_object)) continue; /* not kvmlaunch's own file */
        json_object_object_foreach(nodes, node, bytes) text_addf(t, " node%s %" PRIu64 " MiB", node, json_object_get_uint64(bytes) >> 20);
        text_addf(t, i ? ";" : ",");
    }
    text_addf(t, " %" PRIu64 " MiB moved\n", json_object_get_uint64(member(m, "moved_bytes")) >> 20);
}

static void render_vcpus(Text *t, json_object *vcpus) {
    for (size_t i = 0; vcpus && i < json_object_array_length(vcpus); i++) {
        json_object *c = json_object_array_get_idx(vcpus, i);
        text_addf(t, "  vcpu%d  tid %d  allowed %s  last cpu %d", json_object_get_int(member(c, "vcpu")),
                  json_object_get_int(member(c, "tid")), json_object_get_string(member(c, "allowed_cpus")),
                  json_object_get_int(member(c, "last_cpu")));
        render_vcpu_waits(t, c);
    }
}

static void render_memory(Text *t, json_object *m) {
    char b1[32], b2[32];
    json_object *nodes = member(m, "nodes");
    if (!nodes) {
        text_addf(t, "  memory by node: unknown\n");
        return;
    }
    text_addf(t, "  memory by node:");
    for (size_t i = 0; i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i);
        text_addf(t, "%s node%d %s (%s huge)", i ? "," : "", json_object_get_int(member(n, "node")), fmt_bytes(b1, member(n, "bytes")),
                  fmt_bytes(b2, member(n, "huge_bytes")));
    }
    if (!json_object_array_length(nodes)) text_addf(t, " none resident yet");
    text_addf(t, "; huge pages in use %s\n", fmt_bytes(b1, member(m, "huge_bytes")));
}

static void render_balloon(Text *t, json_object *b) {
    char b1[32], b2[32], b3[32];
    json_object *enabled = member(b, "enabled"), *stats = member(b, "stats"), *period = member(b, "stats_period_s");
    if (!enabled) {
        json_object *err = member(b, "error");
        text_addf(t, "  balloon: unknown (%s)\n", err ? json_object_get_string(err) : "the status monitor did not answer");
        return;
    }
    if (!json_object_get_boolean(enabled)) {
        text_addf(t, "  balloon: not enabled\n");
        return;
    }
    text_addf(t, "  balloon: %s", fmt_bytes(b1, member(b, "actual_bytes")));
    if (member(b, "target_bytes")) text_addf(t, " (target %s)", fmt_bytes(b2, member(b, "target_bytes")));
    if (stats)
        text_addf(t, "; guest: %s free, %s available of %s (stats every %" PRId64 "s)\n", fmt_bytes(b1, member(stats, "free_bytes")),
                  fmt_bytes(b2, member(stats, "available_bytes")), fmt_bytes(b3, member(stats, "total_bytes")),
                  period ? json_object_get_int64(period) : 0);
    else if (period && json_object_get_int64(period) > 0)
        text_addf(t, "; no guest stats yet (every %" PRId64 "s)\n", json_object_get_int64(period));
    else text_addf(t, "; guest stats off\n");
}

/* The placement `kvmlaunch pin` keeps (live.json): "-" where nothing is pinned. */
static void render_placement(Text *t, json_object *pl) {
    if (!pl) return;
    json_object *v = member(pl, "vcpu");
    text_addf(t, "  pinned:");
    for (size_t i = 0; v && i < json_object_array_length(v); i++) {
        const char *l = json_object_get_string(json_object_array_get_idx(v, i));
        text_addf(t, "%s vcpu%zu %s", i ? "," : "", i, strempty(l) ? "-" : l);
    }
    static const char *const keys[] = { "emulator", "iothreads", "vhost" };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        const char *l = jstr(pl, keys[i]);
        text_addf(t, "%s %s %s", i ? "," : ";", keys[i], strempty(l) ? "-" : l);
    }
    text_addf(t, "\n");
}

static void render_ksm(Text *t, json_object *k) {
    char b1[32], b2[32], b3[32];
    json_object *sharing = member(k, "pages_sharing"), *shared = member(k, "pages_shared"), *vm = member(k, "vm_merging_pages");
    if (!sharing && !shared && !vm) {
        text_addf(t, "  ksm: n/a\n");
        return;
    }
    text_addf(t, "  ksm: host %s pages sharing, %s shared; this VM %s%s\n", fmt_int(b1, sharing), fmt_int(b2, shared), fmt_int(b3, vm),
              vm ? " pages merged" : "");
}

static void render_changes(Text *t, json_object *knobs, json_object *offloads) {
    for (size_t i = 0; knobs && i < json_object_array_length(knobs); i++) {
        json_object *k = json_object_array_get_idx(knobs, i), *now = member(k, "current");
        text_addf(t, "  %s: now %s (was %s)\n", json_object_get_string(member(k, "path")), now ? json_object_get_string(now) : "unreadable",
                  json_object_get_string(member(k, "original")));
    }
    for (size_t i = 0; offloads && i < json_object_array_length(offloads); i++) {
        json_object *o = json_object_array_get_idx(offloads, i), *now = member(o, "current");
        text_addf(t, "  %s %s: now %s (was %s)\n", json_object_get_string(member(o, "dev")), json_object_get_string(member(o, "feature")),
                  now ? (json_object_get_boolean(now) ? "on" : "off") : "unknown",
                  json_object_get_boolean(member(o, "original")) ? "on" : "off");
    }
}

/* Where the serial console is (status_console). */
static void render_console(Text *t, json_object *c) {
    json_object *sock = member(c, "socket"), *pty = member(c, "pty");
    if (!c) return; /* a report without it (older, or a test's) */
    if (!sock) {
        text_addf(t, "  console: none (serial = none)\n");
        return;
    }
    text_addf(t, "  console: %s", json_object_get_string(sock));
    if (pty) text_addf(t, "; pty %s", json_object_get_string(pty));
    text_addf(t, "\n");
}

/* mode = user's forwards, with the host port each got. */
static void render_forwards(Text *t, json_object *fwds) {
    for (size_t i = 0; fwds && i < json_object_array_length(fwds); i++) {
        json_object *f = json_object_array_get_idx(fwds, i);
        text_addf(t, "  forward %s %s:%d -> guest port %d (net \"%s\"%s)\n", json_object_get_string(member(f, "proto")),
                  json_object_get_string(member(f, "address")), json_object_get_int(member(f, "host_port")),
                  json_object_get_int(member(f, "guest_port")), json_object_get_string(member(f, "net")),
                  json_object_get_boolean(member(f, "auto")) ? ", auto" : "");
    }
}

/* The boot timeline (boottime.h), ms from kvmlaunch's start. */
static void render_boot(Text *t, json_object *b) {
    if (!b) return;
    static const char *const steps[][2] = { { "QMP up", "qmp_ms" }, { "cont", "cont_ms" }, { "first serial byte", "first_serial_ms" }, { "init", "init_ms" } };
    text_addf(t, "  boot (ms from kvmlaunch's start):");
    for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
        json_object *v = member(b, steps[i][1]);
        if (v) text_addf(t, "%s %s %.1f", i ? "," : "", steps[i][0], json_object_get_double(v));
        else text_addf(t, "%s %s -", i ? "," : "", steps[i][0]);
    }
    if (json_object_get_boolean(member(b, "budget_missed"))) text_addf(t, "; boot-budget missed");
    text_addf(t, "\n");
}

/* The guest agent's answer; its strings are the guest's: escaped. */
static void render_agent(Text *t, json_object *g) {
    if (!g) return; /* a report without it (older, or a test's) */
    if (!json_object_get_boolean(member(g, "answered"))) {
        text_addf(t, "  guest agent: no agent (%s)\n", json_object_get_string(member(g, "why")));
        return;
    }
    const char *os = json_object_get_string(member(g, "os"));
    _cleanup_free_ char *shown = value_escape(os ? os : "OS unknown", strlen(os ? os : "OS unknown"));
    text_addf(t, "  guest agent: %s\n", shown);
    json_object *ifs = member(g, "interfaces");
    for (size_t i = 0; ifs && i < json_object_array_length(ifs); i++) {
        json_object *ifc = json_object_array_get_idx(ifs, i), *al = member(ifc, "addresses");
        const char *n = json_object_get_string(member(ifc, "name"));
        if (!n || streq(n, "lo") || !al || !json_object_array_length(al)) continue;
        _cleanup_free_ char *line = value_escape(n, strlen(n));
        for (size_t k = 0; k < json_object_array_length(al); k++) {
            const char *ad = json_object_get_string(json_object_array_get_idx(al, k));
            _cleanup_free_ char *e = value_escape(ad, strlen(ad));
            char *l2 = xasprintf("%s %s", line, e);
            free(line);
            line = l2;
        }
        text_addf(t, "  guest address %s\n", line);
    }
}

/* The guest resets of [vm] on-crash and watchdog-action. */
static void render_restarts(Text *t, json_object *r) {
    json_object *count = member(r, "count"), *reason = member(r, "last_reason"), *at = member(r, "last_time");
    if (!count) return; /* a report without it (older, or a test's) */
    text_addf(t, "  restarts: %" PRId64, json_object_get_int64(count));
    if (reason && at) {
        char when[64];
        time_t tt = (time_t)json_object_get_int64(at);
        struct tm tm;
        if (!localtime_r(&tt, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm)) snprintf(when, sizeof(when), "?");
        text_addf(t, ", the last after a %s at %s", json_object_get_string(reason), when);
    }
    text_addf(t, "\n");
}

char *vmstatus_render(json_object *report) {
    Text t = { xstrdup(""), 0 };
    json_object *up = member(report, "uptime_s");
    char b1[32];
    text_addf(&t, "%s: %s, kvmlaunch pid %d, QEMU pid %d, up %s%s\n", json_object_get_string(member(report, "name")),
              json_object_get_string(member(report, "state")), json_object_get_int(member(report, "kvmlaunch_pid")),
              json_object_get_int(member(report, "qemu_pid")), up ? fmt_int(b1, up) : "?", up ? "s" : "");
    if (member(report, "machine")) text_addf(&t, "  machine: %s\n", json_object_get_string(member(report, "machine")));
    render_vcpus(&t, member(report, "vcpus"));
    render_placement(&t, member(report, "placement"));
    render_watch(&t, member(report, "placement_watch"), member(report, "migrate"));
    render_memory(&t, member(report, "memory"));
    render_balloon(&t, member(report, "balloon"));
    render_ksm(&t, member(report, "ksm"));
    render_changes(&t, member(report, "host_knobs"), member(report, "nic_offloads"));
    render_console(&t, member(report, "console"));
    render_forwards(&t, member(report, "forwards"));
    render_boot(&t, member(report, "boot"));
    render_agent(&t, member(report, "guest_agent"));
    render_restarts(&t, member(report, "restarts"));
    return t.s;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/* A whole /proc file of QEMU's, read directly: status reports on a real
 * process even under a redirected KVMLAUNCH_ROOT. -ENOENT when the process is
 * gone or the kernel lacks the file. */
static int read_proc(const char *path, char **out) {
    FILE *f = fopen(path, "re");
    if (!f) return -errno;
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (size_t n; (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (len + 1 == cap) buf = xrealloc(buf, cap *= 2);
    }
    int r = ferror(f) ? -EIO : 0;
    fclose(f);
    if (r < 0) return r;
    buf[len] = '\0';
    *out = TAKE_PTR(buf);
    return 0;
}

/* read_proc where a missing file is simply no answer. */
static char *proc_text(const char *path) {
    char *text = NULL;
    return read_proc(path, &text) < 0 ? NULL : text;
}

/* "Cpus_allowed_list:\t0-1" from /proc/.../status. */
static char *status_field(const char *status, const char *field) {
    const char *p = status;
    size_t fl = strlen(field);
    while (p && *p) {
        if (!strncmp(p, field, fl) && p[fl] == ':') {
            p += fl + 1;
            while (*p == ' ' || *p == '\t') p++;
            return xstrndup(p, strcspn(p, "\n"));
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return xstrdup("?");
}

/* Field N (1-based, as in proc(5)) of a /proc stat line, counted after the
 * command name, which may hold spaces and parentheses itself. */
static const char *stat_field(const char *stat, int n) {
    const char *p = stat ? strrchr(stat, ')') : NULL;
    if (!p) return NULL;
    int field = 2;
    for (p++; *p && field < n; p++)
        if (*p == ' ') field++;
    return *p ? p : NULL;
}

static json_object *qemu_uptime(pid_t qemu) {
    _cleanup_free_ char *spath = xasprintf("/proc/%ld/stat", (long)qemu);
    _cleanup_free_ char *stat = proc_text(spath);
    _cleanup_free_ char *uptime = proc_text("/proc/uptime");
    const char *start = stat_field(stat, 22); /* starttime, in clock ticks after boot */
    if (!start || !uptime) return NULL;
    double started = strtod(start, NULL) / (double)sysconf(_SC_CLK_TCK);
    return json_object_new_int64((int64_t)(strtod(uptime, NULL) - started));
}

/* The measured cost of a bad placement: the time the vCPU thread was
 * runnable but waited for a CPU (schedstat's 2nd field, ns) and the times
 * it was taken off one (nonvoluntary_ctxt_switches); null when unreadable. */
static void add_vcpu_waits(json_object *c, const char *taskdir, const char *tid, const char *tstatus) {
    _cleanup_free_ char *spath = xasprintf("%s/%s/schedstat", taskdir, tid);
    _cleanup_free_ char *sched = proc_text(spath), *invol = status_field(tstatus, "nonvoluntary_ctxt_switches");
    unsigned long long on_cpu, delay;
    bool have = sched && sscanf(sched, "%llu %llu", &on_cpu, &delay) == 2;
    json_object_object_add(c, "run_delay_ns", have ? json_object_new_uint64(delay) : NULL);
    json_object_object_add(c, "involuntary_switches", invol ? json_object_new_uint64(strtoull(invol, NULL, 10)) : NULL);
}

static json_object *vcpu_json(const char *taskdir, const char *tid) {
    _cleanup_free_ char *cpath = xasprintf("%s/%s/comm", taskdir, tid);
    _cleanup_free_ char *comm = proc_text(cpath);
    int index;
    if (!comm || vmthreads_parse_comm(comm, &index) < 0) return NULL;
    _cleanup_free_ char *stpath = xasprintf("%s/%s/status", taskdir, tid);
    _cleanup_free_ char *tstatus = proc_text(stpath);
    _cleanup_free_ char *tsp = xasprintf("%s/%s/stat", taskdir, tid);
    _cleanup_free_ char *tstat = proc_text(tsp);
    _cleanup_free_ char *allowed = status_field(tstatus, "Cpus_allowed_list");
    const char *last = stat_field(tstat, 39); /* processor: the CPU it last ran on */
    json_object *c = json_object_new_object();
    json_object_object_add(c, "vcpu", json_object_new_int(index));
    json_object_object_add(c, "tid", json_object_new_int(atoi(tid)));
    json_object_object_add(c, "allowed_cpus", json_object_new_string(allowed));
    json_object_object_add(c, "last_cpu", json_object_new_int(last ? atoi(last) : -1));
    add_vcpu_waits(c, taskdir, tid, tstatus);
    return c;
}

static int by_vcpu(const void *a, const void *b) {
    int x = json_object_get_int(json_object_object_get(*(json_object *const *)a, "vcpu"));
    int y = json_object_get_int(json_object_object_get(*(json_object *const *)b, "vcpu"));
    return (x > y) - (x < y);
}

static json_object *qemu_vcpus(pid_t qemu) {
    json_object *vcpus = json_object_new_array();
    _cleanup_free_ char *tpath = xasprintf("/proc/%ld/task", (long)qemu);
    DIR *d = opendir(tpath);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        json_object *c = vcpu_json(tpath, de->d_name);
        if (c) json_object_array_add(vcpus, c);
    }
    if (d) closedir(d);
    json_object_array_sort(vcpus, by_vcpu);
    return vcpus;
}

static json_object *qemu_memory(pid_t qemu) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/numa_maps", (long)qemu);
    _cleanup_free_ char *text = NULL;
    json_object *m = NULL;
    int r = read_proc(path, &text);
    if (r < 0) log_warning_errno(r, "Failed to read %s: %m", path);
    else if ((r = vmstatus_memory_json(text, &m)) < 0) log_warning_errno(r, "Failed to parse %s: %m", path);
    return m;
}

/* The VM's status monitor (run_start.c listens on NAME/qmp.sock). */
static int status_qmp_open(const char *name, QmpClient *q) {
    _cleanup_free_ char *path = xasprintf("%s/%s/qmp.sock", runtime_base(), name);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    qmp_init(q, fd);
    int r = qmp_handshake(q, QMP_TIMEOUT_MS);
    if (r < 0) qmp_close(q);
    return r;
}

/* qom-get of balloon0's PROPERTY; NULL when it fails. */
static json_object *balloon_prop(QmpClient *q, const char *property) {
    json_object *args = json_object_new_object(), *ret = NULL;
    json_object_object_add(args, "path", json_object_new_string(BALLOON_PATH));
    json_object_object_add(args, "property", json_object_new_string(property));
    if (qmp_execute(q, "qom-get", args, &ret, QMP_TIMEOUT_MS) < 0) return NULL;
    return ret;
}

static json_object *qemu_balloon(QmpClient *q) {
    if (!q) return vmstatus_balloon_json(NULL, "the status monitor did not answer", NULL, NULL);
    json_object *ret = NULL, *period = NULL, *stats = NULL;
    _cleanup_free_ char *error = NULL;
    if (qmp_execute(q, "query-balloon", NULL, &ret, QMP_TIMEOUT_MS) < 0) error = xstrdup(q->error ? q->error : "no answer");
    else {
        period = balloon_prop(q, "guest-stats-polling-interval");
        stats = balloon_prop(q, "guest-stats");
    }
    json_object *b = vmstatus_balloon_json(ret, error, period, stats);
    json_object_put(ret);
    json_object_put(period);
    json_object_put(stats);
    return b;
}

static json_object *host_ksm(const HostRoot *hr, pid_t qemu) {
    _cleanup_free_ char *sharing = NULL, *shared = NULL;
    /* A kernel without CONFIG_KSM has no such files: null in the report. */
    (void)hostroot_read(hr, "/sys/kernel/mm/ksm/pages_sharing", &sharing);
    (void)hostroot_read(hr, "/sys/kernel/mm/ksm/pages_shared", &shared);
    _cleanup_free_ char *mpath = xasprintf("/proc/%ld/ksm_merging_pages", (long)qemu);
    _cleanup_free_ char *spath = xasprintf("/proc/%ld/ksm_stat", (long)qemu);
    _cleanup_free_ char *merging = proc_text(mpath);
    _cleanup_free_ char *stat = proc_text(spath);
    return vmstatus_ksm_json(sharing, shared, merging, stat, sysconf(_SC_PAGESIZE));
}

/* The array of a host-wide state file, read under its lock and let go at
 * once: status only reads, and must not hold up a VM that is starting. */
static json_object *state_load(const char *file, const char *key) {
    StateFile sf = { -1, NULL, NULL };
    if (statefile_lock(&sf, file, key) < 0) return NULL;
    json_object *a = statefile_load(&sf);
    statefile_unlock(&sf);
    return a;
}

static json_object *knob_now(const HostRoot *hr, json_object *k) {
    _cleanup_free_ char *now = NULL;
    return knob_read_value(hr, jstr(k, "path"), &now) >= 0 ? json_object_new_string(now) : NULL;
}

/* Whether an offload's feature is requested on now; null when it cannot be
 * read (the NIC is gone, or lives in another network namespace). */
static json_object *offload_now(const HostRoot *hr, json_object *e) {
    const char *feature = jstr(e, "feature");
    NicOffloads o;
    int r = hostnic_offloads_read(hr, jstr(e, "dev"), &o);
    free(o.dev);
    for (int f = 0; r >= 0 && f < NIC_F__MAX; f++)
        if (streq(hostnic_feature_name((NicFeature)f), feature) && o.f[f].present) return json_object_new_boolean(o.f[f].requested);
    return NULL;
}

/* NAME's entries of a host-wide state file (PICK chooses them), each with
 * "current": what NOW reads on the host. */
static json_object *recorded_with_now(const HostRoot *hr, const char *name, const char *file, const char *key,
                                      json_object *(*pick)(json_object *, const char *),
                                      json_object *(*now)(const HostRoot *, json_object *)) {
    json_object *all = state_load(file, key);
    if (!all) return NULL;
    json_object *mine = pick(all, name);
    json_object_put(all);
    for (size_t i = 0; i < json_object_array_length(mine); i++) {
        json_object *e = json_object_array_get_idx(mine, i);
        json_object_object_add(e, "current", now(hr, e));
    }
    return mine;
}

/* Where the serial console is: the socket `kvmlaunch console` attaches
 * to (none with serial = none), and with serial = pty the pty the
 * supervisor opened (serialrelay.h: it names it in the runtime dir). */
static json_object *status_console(const char *name) {
    json_object *c = json_object_new_object();
    _cleanup_free_ char *sock = xasprintf("%s/%s/%s", runtime_base(), name, CONSOLE_SOCKET);
    _cleanup_free_ char *ptyfile = xasprintf("%s/%s/%s", runtime_base(), name, CONSOLE_PTY_FILE);
    struct stat st;
    json_object_object_add(c, "socket", stat(sock, &st) == 0 ? json_object_new_string(sock) : NULL);
    FILE *f = fopen(ptyfile, "re");
    char line[256];
    if (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        json_object_object_add(c, "pty", json_object_new_string(line));
    } else {
        json_object_object_add(c, "pty", NULL);
    }
    if (f) fclose(f);
    return c;
}

/* The VM's live state (include/vmlive.h): an empty object when it has none. */
static json_object *live_state(const char *name) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    json_object *o = fd >= 0 ? vmlive_load(fd) : NULL;
    return o ? o : json_object_new_object();
}

/* The target `kvmlaunch balloon` set (null: none, the full memory). */
static void add_balloon_target(json_object *balloon, json_object *live) {
    json_object *v;
    bool enabled = json_object_get_boolean(member(balloon, "enabled"));
    json_object_object_add(balloon, "target_bytes",
                           enabled && json_object_object_get_ex(live, "balloon_target_bytes", &v) ? json_object_get(v) : NULL);
}

/* The balloon's target, and the placement as started or as `kvmlaunch
 * pin` changed it. */
static void add_live(json_object *out, json_object *balloon, const char *name) {
    json_object *live = live_state(name), *v;
    add_balloon_target(balloon, live);
    json_object_object_add(out, "placement", json_object_object_get_ex(live, "placement", &v) ? json_object_get(v) : NULL);
    json_object_put(live);
}

/* What the supervisor's placement watch counted and what migrate = yes
 * moved: files of the runtime dir, null when absent. */
static void add_watch(json_object *out, const char *name) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    json_object_object_add(out, "placement_watch", fd >= 0 ? placewatch_json_load(fd, PLACEWATCH_FILE) : NULL);
    json_object_object_add(out, "migrate", fd >= 0 ? placewatch_json_load(fd, NUMA_MIGRATE_FILE) : NULL);
}

json_object *vmstatus_read_watch(const char *name) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    return fd >= 0 ? placewatch_json_load(fd, PLACEWATCH_FILE) : NULL;
}

int vmstatus_collect(const char *name, pid_t sup, pid_t qemu, json_object **report) {
    HostRoot hr = HOSTROOT_INIT;
    int r = hostroot_open(&hr);
    if (r < 0) return r;
    QmpClient q;
    r = status_qmp_open(name, &q);
    if (r < 0) log_warning_errno(r, "%s: the status monitor did not answer: %m", name);
    QmpClient *qp = r >= 0 ? &q : NULL;

    json_object *out = json_object_new_object(), *st = NULL;
    json_object_object_add(out, "name", json_object_new_string(name));
    json_object_object_add(out, "kvmlaunch_pid", json_object_new_int(sup));
    json_object_object_add(out, "qemu_pid", json_object_new_int(qemu));
    r = qp ? qmp_execute(qp, "query-status", NULL, &st, QMP_TIMEOUT_MS) : -ENOTCONN;
    if (r < 0 && r != -EIO && qp) {
        /* Not an answer but a timeout or a closed socket: asking the
         * balloon would only wait as long again. */
        log_warning("%s: %s", name, q.error ? q.error : "the status monitor did not answer");
        qmp_close(qp);
        qp = NULL;
    }
    const char *state = st ? jstr(st, "status") : NULL;
    json_object_object_add(out, "state", json_object_new_string(state ? state : "unknown"));
    json_object_put(st);
    json_object_object_add(out, "uptime_s", qemu_uptime(qemu));
    json_object_object_add(out, "vcpus", qemu_vcpus(qemu));
    json_object_object_add(out, "memory", qemu_memory(qemu));
    json_object *balloon = qemu_balloon(qp);
    json_object_object_add(out, "balloon", balloon);
    add_live(out, balloon, name);
    json_object_object_add(out, "ksm", host_ksm(&hr, qemu));
    json_object_object_add(out, "host_knobs", recorded_with_now(&hr, name, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY, vmstatus_knobs_json, knob_now));
    json_object_object_add(out, "nic_offloads",
                           recorded_with_now(&hr, name, HOSTNIC_OFFLOADS_STATE_FILE, HOSTNIC_OFFLOADS_STATE_KEY, vmstatus_offloads_json, offload_now));
    json_object_object_add(out, "console", status_console(name));
    json_object_object_add(out, "forwards", usernet_state_read(name));
    json_object_object_add(out, "boot", boottime_load(name));
    add_watch(out, name);
    json_object_object_add(out, "guest_agent", vmstatus_read_agent(name));
    json_object_object_add(out, "machine", vmstatus_read_machine(qemu));
    json_object_object_add(out, "restarts", crashpolicy_read_state(name));
    if (qp) qmp_close(qp);
    hostroot_close(&hr);
    *report = out;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The same readers for `kvmlaunch metrics` (metrics.c)                */

int vmstatus_qmp_open(const char *name, QmpClient *q) { return status_qmp_open(name, q); }

json_object *vmstatus_read_vcpus(pid_t qemu) { return qemu_vcpus(qemu); }

json_object *vmstatus_read_memory(pid_t qemu) { return qemu_memory(qemu); }

json_object *vmstatus_read_balloon(QmpClient *q, const char *name) {
    json_object *balloon = qemu_balloon(q), *live = live_state(name);
    add_balloon_target(balloon, live);
    json_object_put(live);
    return balloon;
}

json_object *vmstatus_read_knobs(const HostRoot *hr, const char *name) {
    return recorded_with_now(hr, name, HOSTPLAN_STATE_FILE, HOSTPLAN_STATE_KEY, vmstatus_knobs_json, knob_now);
}

char *vmstatus_proc_text(const char *path) { return proc_text(path); }
