/* `kvmlaunch host`: the JSON of hostinfo_probe() rendered for people
 * (include/hostreport.h), and the command itself. Unknown values print as
 * "?", absent ones as "-". */
#include "hostreport.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "commands.h"
#include "hostinfo.h"
#include "hostroot.h"
#include "strvec.h"
#include "values.h"
#include "util.h"

/* Lines are wrapped at this width where a list of words would run on. */
#define REPORT_WIDTH 100

/* ---- reading the JSON ---- */

/* The value at PATH ("knobs.thp.enabled"); NULL when missing or null. */
static json_object *get(json_object *o, const char *path) {
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &o)) o = NULL;
    return o;
}

static size_t len_of(json_object *a) { return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0; }
static json_object *at(json_object *a, size_t i) { return json_object_array_get_idx(a, i); }
static bool has(json_object *o, const char *path) { return get(o, path) != NULL; }
static int64_t num(json_object *o, const char *path) { return json_object_get_int64(get(o, path)); }

/* ---- building text: every string made here is kept until the end ---- */

typedef struct Report {
    FILE *f;
    StrVec keep;
} Report;

static const char *keep(Report *r, char *s) {
    strvec_push_take(&r->keep, s);
    return s;
}

static const char *fmt(Report *r, const char *format, ...) __attribute__((format(printf, 2, 3)));
static const char *fmt(Report *r, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    char *s = xvasprintf(format, ap);
    va_end(ap);
    return keep(r, s);
}

/* The string at PATH, or DFLT when it is null or missing. */
static const char *str(json_object *o, const char *path, const char *dflt) {
    json_object *v = get(o, path);
    return v ? json_object_get_string(v) : dflt;
}

/* "1 socket", "2 sockets", "? sockets" (WORD's plural adds an s). */
static const char *count_text(Report *r, json_object *o, const char *path, const char *word) {
    if (!has(o, path)) return fmt(r, "? %ss", word);
    return fmt(r, "%" PRId64 " %s%s", num(o, path), word, num(o, path) == 1 ? "" : "s");
}

/* The integer at PATH as text, or "?" when unknown. */
static const char *int_text(Report *r, json_object *o, const char *path) {
    return has(o, path) ? fmt(r, "%" PRId64, num(o, path)) : "?";
}

/* 16303908 KiB -> "15.5G": binary units, one decimal above KiB. */
static const char *bytes_text(Report *r, uint64_t b) {
    static const char units[] = "KMGTP";
    if (b < 1024) return fmt(r, "%" PRIu64, b);
    double v = (double)b / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) - 1) {
        v /= 1024;
        u++;
    }
    return fmt(r, "%.1f%c", v, units[u]);
}

/* A page size in KiB as "2M", "1G". */
static const char *page_text(Report *r, int64_t kib) {
    return keep(r, size_format((uint64_t)kib * 1024));
}

/* PARTS joined by SEP. */
static const char *join_strv(Report *r, const StrVec *parts, const char *sep) {
    return keep(r, strvec_join(parts, sep));
}

/* The elements of an array of strings (or numbers; null is "?"), joined by SEP. */
static const char *join(Report *r, json_object *a, const char *sep) {
    StrVec parts = STRVEC_INIT;
    for (size_t i = 0; i < len_of(a); i++) strvec_push(&parts, at(a, i) ? json_object_get_string(at(a, i)) : "?");
    const char *s = join_strv(r, &parts, sep);
    strvec_clear(&parts);
    return s;
}

/* LABEL padded to WIDTH, then WORDS, wrapped before REPORT_WIDTH with the
 * continuation lines indented to WIDTH; no final newline. */
static const char *wrap_words(Report *r, int width, const char *label, const StrVec *words) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) die_oom();
    int col = fprintf(f, "%-*s", width, label);
    for (size_t i = 0; i < words->n; i++) {
        int wl = (int)strlen(words->v[i]);
        if (i && col + 1 + wl > REPORT_WIDTH) col = fprintf(f, "\n%*s", width, "") - 1;
        else if (i) col += fprintf(f, " ");
        col += fprintf(f, "%s", words->v[i]);
    }
    fclose(f);
    return keep(r, buf);
}

/* ---- tables ---- */

typedef struct Table {
    size_t cols;
    StrVec cells;                   /* row after row, the header first */
    StrVec lines;                   /* free lines, printed as they are */
    size_t *after;                  /* owned: free line i goes after row after[i] (rows counted from 1) */
} Table;

static void table_init(Table *t, size_t cols) { *t = (Table){ .cols = cols }; }

static void table_cell(Table *t, const char *cell) { strvec_push(&t->cells, cell ? cell : "?"); }

/* One row of t->cols cells. */
static void table_row(Table *t, ...) {
    va_list ap;
    va_start(ap, t);
    for (size_t i = 0; i < t->cols; i++) table_cell(t, va_arg(ap, const char *));
    va_end(ap);
}

/* A line printed as it is, after the rows so far. */
static void table_line(Table *t, const char *line) {
    t->after = xrealloc(t->after, (t->lines.n + 1) * sizeof(size_t));
    t->after[t->lines.n] = t->cells.n / t->cols;
    strvec_push(&t->lines, line);
}

/* Columns two spaces apart, the last one not padded; frees T. */
static void table_print(Report *r, Table *t) {
    size_t *w = xcalloc(t->cols, sizeof(size_t));
    for (size_t i = 0; i < t->cells.n; i++)
        if (strlen(t->cells.v[i]) > w[i % t->cols]) w[i % t->cols] = strlen(t->cells.v[i]);
    size_t line = 0;
    for (size_t row = 0; row < t->cells.n / t->cols; row++) {
        for (size_t c = 0; c < t->cols; c++) {
            const char *cell = t->cells.v[row * t->cols + c];
            if (c + 1 < t->cols) fprintf(r->f, "%-*s  ", (int)w[c], cell);
            else fprintf(r->f, "%s\n", cell);
        }
        for (; line < t->lines.n && t->after[line] == row + 1; line++) fprintf(r->f, "%s\n", t->lines.v[line]);
    }
    free(w);
    free(t->after);
    strvec_clear(&t->cells);
    strvec_clear(&t->lines);
}

/* ---- CPU & NUMA ---- */

/* Appends the distinct sibling sets of more than one CPU, in CPU order. */
static void sibling_groups(json_object *cpus, StrVec *out) {
    size_t first = out->n;
    for (size_t i = 0; i < len_of(cpus); i++) {
        const char *s = str(at(cpus, i), "siblings", "");
        bool seen = !strpbrk(s, ",-");
        for (size_t k = first; k < out->n && !seen; k++) seen = streq(out->v[k], s);
        if (!seen) strvec_push(out, s);
    }
}

static void render_cpu(Report *r, json_object *h) {
    json_object *cpu = get(h, "cpu");
    const char *virt = str(cpu, "virtualization", NULL);
    fprintf(r->f, "%-12s%s\n", "CPU", str(cpu, "model", "model unknown (no \"model name\" in /proc/cpuinfo)"));
    fprintf(r->f, "%-12s%s\n", "",
            virt ? fmt(r, "virtualization: %s (%s)", virt, streq(virt, "vmx") ? "Intel VT-x" : "AMD-V")
                 : "virtualization: none (neither vmx nor svm in /proc/cpuinfo)");
    fprintf(r->f, "%-12s%s online (%s): %s, %s, %s per core\n", "", count_text(r, cpu, "count", "CPU"), str(cpu, "online", "?"),
            count_text(r, cpu, "sockets", "socket"), count_text(r, cpu, "cores", "core"), count_text(r, cpu, "threads_per_core", "thread"));
    StrVec words = STRVEC_INIT;
    strvec_push(&words, "siblings:");
    sibling_groups(get(cpu, "cpus"), &words);
    if (words.n == 1) strvec_push(&words, "none (one thread per core)");
    fprintf(r->f, "%s\n", wrap_words(r, 12, "", &words));
    strvec_clear(&words);
}

/* The page sizes any node has a pool of, ascending. */
static void node_page_sizes(json_object *nodes, int64_t *sizes, size_t *n, size_t max) {
    *n = 0;
    for (size_t i = 0; i < len_of(nodes); i++) {
        json_object *pools = get(at(nodes, i), "hugepages");
        for (size_t p = 0; p < len_of(pools); p++) {
            int64_t kb = num(at(pools, p), "size_kib");
            size_t k = 0;
            while (k < *n && sizes[k] < kb) k++;
            if ((k < *n && sizes[k] == kb) || *n == max) continue;
            memmove(&sizes[k + 1], &sizes[k], (*n - k) * sizeof(int64_t));
            sizes[k] = kb;
            (*n)++;
        }
    }
}

/* "total/free", "+N surplus" when there is any; "-" without such a pool. */
static const char *node_pool_text(Report *r, json_object *node, int64_t kb) {
    json_object *pools = get(node, "hugepages");
    for (size_t p = 0; p < len_of(pools); p++) {
        json_object *pl = at(pools, p);
        if (num(pl, "size_kib") != kb) continue;
        if (num(pl, "surplus")) return fmt(r, "%" PRId64 "/%" PRId64 " +%" PRId64, num(pl, "total"), num(pl, "free"), num(pl, "surplus"));
        return fmt(r, "%" PRId64 "/%" PRId64, num(pl, "total"), num(pl, "free"));
    }
    return "-";
}

#define MAX_PAGE_SIZES 4

static void render_nodes(Report *r, json_object *h) {
    json_object *nodes = get(h, "numa.nodes");
    int64_t sizes[MAX_PAGE_SIZES];
    size_t n_sizes;
    node_page_sizes(nodes, sizes, &n_sizes, MAX_PAGE_SIZES);
    /* NODE CPUS MEMORY FREE, a column per page size, DISTANCES. */
    Table t;
    table_init(&t, 4 + n_sizes + 1);
    const char *head[] = { "NODE", "CPUS", "MEMORY", "FREE" };
    for (size_t i = 0; i < ELEMENTSOF(head); i++) table_cell(&t, head[i]);
    for (size_t s = 0; s < n_sizes; s++) table_cell(&t, fmt(r, "%s PAGES", page_text(r, sizes[s])));
    table_cell(&t, "DISTANCES");
    for (size_t i = 0; i < len_of(nodes); i++) {
        json_object *n = at(nodes, i);
        bool mem = json_object_get_boolean(get(n, "has_memory"));
        const char *cpus = str(n, "cpus", "?");
        table_cell(&t, int_text(r, n, "id"));
        table_cell(&t, *cpus ? cpus : "-");
        /* A node with memory and MemTotal 0: its meminfo was unreadable. */
        bool known = num(n, "mem_total_kib") > 0;
        table_cell(&t, !mem ? "none" : known ? bytes_text(r, (uint64_t)num(n, "mem_total_kib") * 1024) : "?");
        table_cell(&t, !mem ? "-" : known ? bytes_text(r, (uint64_t)num(n, "mem_free_kib") * 1024) : "?");
        for (size_t s = 0; s < n_sizes; s++) table_cell(&t, node_pool_text(r, n, sizes[s]));
        table_cell(&t, join(r, get(n, "distances"), " "));
    }
    if (json_object_get_boolean(get(h, "numa.synthesized")))
        table_line(&t, "(no NUMA in this kernel: all CPUs and /proc/meminfo's memory stand in as node 0)");
    if (n_sizes) table_line(&t, "(huge pages: total/free on each node; +N: surplus pages)");
    table_print(r, &t);
}

static void render_pools(Report *r, json_object *h) {
    json_object *pools = get(h, "hugepages.pools");
    if (!len_of(pools)) {
        fprintf(r->f, "%-12s%s\n", "HUGE PAGES", "none (no /sys/kernel/mm/hugepages)");
        return;
    }
    int64_t dflt = has(h, "hugepages.default_size_kib") ? num(h, "hugepages.default_size_kib") : -1;
    Table t;
    table_init(&t, 6);
    table_row(&t, "HUGE PAGES", "TOTAL", "FREE", "RESERVED", "SURPLUS", "OVERCOMMIT");
    for (size_t i = 0; i < len_of(pools); i++) {
        json_object *p = at(pools, i);
        int64_t kb = num(p, "size_kib");
        table_row(&t, kb == dflt ? fmt(r, "%s (default)", page_text(r, kb)) : page_text(r, kb), int_text(r, p, "total"),
                  int_text(r, p, "free"), int_text(r, p, "reserved"), int_text(r, p, "surplus"), int_text(r, p, "overcommit"));
    }
    table_print(r, &t);
}

/* ---- knobs and devices ---- */

static const char *device_text(Report *r, json_object *d) {
    const char *path = str(d, "path", "?");
    if (!json_object_get_boolean(get(d, "present"))) return fmt(r, "%s missing", path);
    return fmt(r, "%s %s", path, json_object_get_boolean(get(d, "read_write")) ? "rw" : "present, does not open rw");
}

static const char *ksm_text(Report *r, json_object *k) {
    static const char *const keys[] = { "run", "merge_across_nodes", "pages_to_scan", "sleep_millisecs", "pages_shared", "pages_sharing" };
    if (!has(k, "run")) return "not in this kernel (no /sys/kernel/mm/ksm)";
    StrVec parts = STRVEC_INIT;
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) strvec_pushf(&parts, "%s %s", keys[i], int_text(r, k, keys[i]));
    const char *s = join_strv(r, &parts, ", ");
    strvec_clear(&parts);
    return s;
}

/* The cgroup module's own sentence: where cpuset is, where VMs go, and
 * whether that is a delegated cgroup. */
static const char *cgroup_text(json_object *h) {
    json_object *c = get(h, "cgroup");
    if (!c) return "unknown (the error above says why)";
    return str(c, "why", "?");
}

/* Issue 22: what kvmlaunch may use, and where that comes from. */
static const char *allocation_text(Report *r, json_object *h) {
    json_object *a = get(h, "allocation");
    if (!has(a, "cpus") && !has(a, "mems")) return "unknown";
    const char *c = has(a, "cpus") ? fmt(r, "CPUs %s (%s)", str(a, "cpus", "?"), str(a, "cpus_from", "?")) : "CPUs unknown";
    const char *m = has(a, "mems") ? fmt(r, "memory nodes %s (%s)", str(a, "mems", "?"), str(a, "mems_from", "?"))
                                   : "memory nodes unknown";
    return fmt(r, "%s; %s", c, m);
}

static void render_knobs(Report *r, json_object *h) {
    json_object *k = get(h, "knobs");
    Table t;
    table_init(&t, 2);
    table_row(&t, "THP", has(k, "thp.enabled") ? fmt(r, "enabled %s, defrag %s", str(k, "thp.enabled", "?"), str(k, "thp.defrag", "?"))
                                              : "not in this kernel (no /sys/kernel/mm/transparent_hugepage)");
    table_row(&t, "KSM", ksm_text(r, get(k, "ksm")));
    table_row(&t, "zone reclaim", has(k, "zone_reclaim_mode") ? fmt(r, "vm.zone_reclaim_mode %s", int_text(r, k, "zone_reclaim_mode")) : "?");
    table_row(&t, "irqbalance",
              has(k, "irqbalance_pid") ? fmt(r, "running (pid %s): it may move IRQs [hostnic] pins", int_text(r, k, "irqbalance_pid"))
                                       : "not running");
    table_row(&t, "cgroup", cgroup_text(h));
    table_row(&t, "allocation", allocation_text(r, h));
    json_object *d = get(h, "devices");
    table_row(&t, "devices",
              fmt(r, "%s, %s, %s", device_text(r, get(d, "kvm")), device_text(r, get(d, "vhost_net")), device_text(r, get(d, "tun"))));
    size_t groups = len_of(get(h, "iommu_groups"));
    json_object *pt = get(h, "passthrough");
    json_object *ir = get(pt, "interrupt_remapping");
    table_row(&t, "IOMMU",
              groups ? fmt(r, "%zu group%s (their devices: --json), interrupt remapping %s, vfio-pci %s", groups, groups == 1 ? "" : "s",
                           ir ? (json_object_get_boolean(ir) ? "on" : "off") : "unknown", json_object_get_boolean(get(pt, "vfio_pci_loaded")) ? "loaded" : "not loaded")
                     : fmt(r, "no groups (IOMMU off or absent; for [hostdev]: kernel parameter %s)", str(pt, "kernel_parameter", "intel_iommu=on")));
    table_print(r, &t);
}

/* ---- NICs ---- */

/* The CPUs of one queue: "" is none (off), null unreadable. */
static const char *queue_value(json_object *v) {
    if (!v) return "?";
    return *json_object_get_string(v) ? json_object_get_string(v) : "off";
}

/* Per queue CPUs: "all 4 queues: off" when they agree, else "0:8 1:9 ...". */
static void queue_words(Report *r, json_object *a, StrVec *out) {
    size_t n = len_of(a);
    bool same = n > 0;
    for (size_t i = 1; i < n && same; i++) same = streq(queue_value(at(a, i)), queue_value(at(a, 0)));
    if (same) {
        strvec_push(out, n == 1 ? fmt(r, "1 queue: %s", queue_value(at(a, 0))) : fmt(r, "all %zu queues: %s", n, queue_value(at(a, 0))));
        return;
    }
    for (size_t i = 0; i < n; i++) strvec_push(out, fmt(r, "%zu:%s", i, queue_value(at(a, i))));
    if (!n) strvec_push(out, "no queues");
}

static void nic_details(Report *r, Table *t, json_object *nic) {
    const char *labels[] = { "IRQ:CPUs", "RPS", "XPS" };
    for (size_t k = 0; k < ELEMENTSOF(labels); k++) {
        StrVec words = STRVEC_INIT;
        if (k == 0) {
            json_object *irqs = get(nic, "irqs");
            for (size_t i = 0; i < len_of(irqs); i++)
                strvec_push(&words, fmt(r, "%s:%s", int_text(r, at(irqs, i), "irq"), str(at(irqs, i), "affinity", "?")));
            if (!words.n) strvec_push(&words, "no IRQs found");
        } else if (k == 2 && num(nic, "tx_queues") == 1 && !at(get(nic, "xps_cpus"), 0)) {
            strvec_push(&words, "none (one tx queue: the kernel keeps XPS for multi-queue devices)");
        } else {
            queue_words(r, get(nic, k == 1 ? "rps_cpus" : "xps_cpus"), &words);
        }
        table_line(t, wrap_words(r, 12, fmt(r, "  %s", labels[k]), &words));
        strvec_clear(&words);
    }
    json_object *sriov = get(nic, "sriov");
    if (sriov) table_line(t, fmt(r, "  SR-IOV    %s of %s VFs made ([hostdev] vf = %s:N)", int_text(r, sriov, "numvfs"), int_text(r, sriov, "totalvfs"),
                                 str(nic, "name", "DEV")));
}

static const char *offload_text(json_object *nic, const char *key) {
    json_object *o = get(nic, "offloads");
    if (!o) return "n/a";
    const char *s = str(o, key, "?");
    return streq(s, "absent") ? "-" : s;
}

static void render_nics(Report *r, json_object *h) {
    json_object *nics = get(h, "nics");
    if (!len_of(nics)) {
        fprintf(r->f, "%-12s%s\n", "NIC", "no physical NICs (no /sys/class/net/*/device)");
        return;
    }
    Table t;
    table_init(&t, 8);
    table_row(&t, "NIC", "DRIVER", "NODE", "RX/TX", "VECTORS", "TSO", "GSO", "GRO");
    for (size_t i = 0; i < len_of(nics); i++) {
        json_object *n = at(nics, i);
        const char *kind = str(n, "interrupts", NULL);
        table_row(&t, str(n, "name", "?"), str(n, "driver", "?"), int_text(r, n, "numa_node"),
                  fmt(r, "%s/%s", int_text(r, n, "rx_queues"), int_text(r, n, "tx_queues")),
                  kind ? fmt(r, "%s %s", int_text(r, n, "vectors"), streq(kind, "msix") ? "MSI-X" : "MSI") : "-",
                  offload_text(n, "tso"), offload_text(n, "gso"), offload_text(n, "gro"));
        nic_details(r, &t, n);
    }
    table_print(r, &t);
}

/* ---- disks and VMs ---- */

static void render_disks(Report *r, json_object *h) {
    json_object *disks = get(h, "disks");
    if (!len_of(disks)) {
        fprintf(r->f, "%-12s%s\n", "DISK", "none (nothing in /sys/block)");
        return;
    }
    Table t;
    table_init(&t, 5);
    table_row(&t, "DISK", "SCHEDULER", "OFFERED", "ROTATIONAL", "SIZE");
    StrVec empty = STRVEC_INIT;
    strvec_push(&empty, "(size 0, not shown:");
    for (size_t i = 0; i < len_of(disks); i++) {
        json_object *d = at(disks, i);
        /* Unattached loop devices and the like: one line for them all. */
        if (has(d, "size_bytes") && num(d, "size_bytes") == 0) {
            strvec_push(&empty, str(d, "name", "?"));
            continue;
        }
        json_object *rot = get(d, "rotational");
        table_row(&t, str(d, "name", "?"), str(d, "scheduler", "-"), has(d, "schedulers_offered") ? join(r, get(d, "schedulers_offered"), " ") : "-",
                  rot ? (json_object_get_boolean(rot) ? "yes" : "no") : "?",
                  has(d, "size_bytes") ? bytes_text(r, (uint64_t)num(d, "size_bytes")) : "?");
    }
    if (empty.n > 1) {
        /* "(size 0, not shown: loop0 ... loop7)" */
        _cleanup_free_ char *last = xasprintf("%s)", empty.v[empty.n - 1]);
        free(empty.v[empty.n - 1]);
        empty.v[empty.n - 1] = TAKE_PTR(last);
        table_line(&t, wrap_words(r, 0, "", &empty));
    }
    table_print(r, &t);
    strvec_clear(&empty);
}

static void render_vms(Report *r, json_object *h) {
    json_object *vms = get(h, "vms");
    if (!len_of(vms)) {
        fprintf(r->f, "%-12s%s\n", "VM", "none running");
        return;
    }
    const char *online = str(h, "cpu.online", "");
    Table t;
    table_init(&t, 5);
    table_row(&t, "VM", "KVMLAUNCH", "QEMU", "VCPUS", "CPUS");
    for (size_t i = 0; i < len_of(vms); i++) {
        json_object *v = at(vms, i);
        const char *cpus = str(v, "cpus", "");
        table_row(&t, str(v, "name", "?"), int_text(r, v, "kvmlaunch_pid"), has(v, "qemu_pid") ? int_text(r, v, "qemu_pid") : "starting",
                  int_text(r, v, "vcpus"), !*cpus ? "-" : streq(cpus, online) ? fmt(r, "%s (all: not pinned)", cpus) : cpus);
    }
    table_print(r, &t);
}

char *hostreport_render(json_object *host) {
    char *buf = NULL;
    size_t size = 0;
    Report r = { open_memstream(&buf, &size), STRVEC_INIT };
    if (!r.f) die_oom();
    void (*const sections[])(Report *, json_object *) = { render_cpu, render_nodes, render_pools, render_knobs, render_nics, render_disks, render_vms };
    for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
        if (i) fputc('\n', r.f);
        sections[i](&r, host);
    }
    fclose(r.f);
    strvec_clear(&r.keep);
    return buf;
}

/* ---- the command ---- */

int cmd_host(bool json) {
    HostRoot hr = HOSTROOT_INIT;
    if (hostroot_open(&hr) < 0) return EXIT_RUNTIME;
    json_object *host = NULL;
    int r = hostinfo_probe(&hr, &host);
    hostroot_close(&hr);
    if (r < 0) return EXIT_RUNTIME;
    if (json) {
        int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;
        printf("%s\n", json_object_to_json_string_ext(host, flags));
    } else {
        _cleanup_free_ char *text = hostreport_render(host);
        fputs(text, stdout);
    }
    json_object_put(host);
    return EXIT_OK;
}

int cmd_host_main(int argc, char **argv) {
    if (argc == 1) return cmd_host(false);
    if (argc == 2 && streq(argv[1], "--json")) return cmd_host(true);
    fprintf(stderr, "kvmlaunch host: expected no argument or --json, found \"%s\"\n", argv[argc == 2 ? 1 : 2]);
    return EXIT_CONFIG;
}
