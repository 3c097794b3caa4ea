/* Reading the host's CPU and NUMA topology (include/topology.h). */
#include "topology.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfiles.h"
#include "util.h"

static int read_int(const HostRoot *hr, const char *path, int64_t *out) {
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return r;
    return kfile_parse_int(text, out);
}

static int read_cpulist(const HostRoot *hr, const char *path, CpuList *out) {
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return r;
    return kfile_parse_cpulist(text, out);
}

/* Keeps only the entries of L that are in ONLINE (a node's cpulist also
 * names offline CPUs). */
static void cpulist_keep_online(CpuList *l, const CpuList *online) {
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (cpulist_contains(online, l->cpu[i])) l->cpu[k++] = l->cpu[i];
    l->n = k;
}

/* "10 21 21\n": one distance per possible node, in node order. */
static int *parse_distances(const char *text, const CpuList *node_ids, const Topology *t) {
    int *d = xcalloc(t->n_nodes ? t->n_nodes : 1, sizeof(int));
    for (size_t i = 0; i < t->n_nodes; i++) d[i] = -1;
    const char *p = text;
    for (size_t i = 0; p && i < node_ids->n; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        for (size_t j = 0; j < t->n_nodes; j++)
            if (t->nodes[j].id == node_ids->cpu[i]) d[j] = (int)v;
        p = end;
    }
    return d;
}

static int cmp_pool(const void *a, const void *b) {
    const TopoHugePool *x = a, *y = b;
    return x->page_kb < y->page_kb ? -1 : x->page_kb > y->page_kb;
}

/* The pools under DIR (hugepages-SIZEkB/ each), by page size; with
 * HOST_WIDE also the files only the host-wide pools have. */
static size_t probe_pools(const HostRoot *hr, const char *dir, bool host_wide, TopoHugePool **out) {
    StrVec names = STRVEC_INIT;
    *out = NULL;
    if (hostroot_list(hr, dir, true, &names) < 0) return 0;
    TopoHugePool *pools = xcalloc(names.n ? names.n : 1, sizeof(TopoHugePool));
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        uint64_t kb;
        char unit[8];
        if (sscanf(names.v[i], "hugepages-%" SCNu64 "%7s", &kb, unit) != 2 || !streq(unit, "kB")) continue;
        TopoHugePool *p = &pools[n++];
        *p = (TopoHugePool){ .page_kb = kb };
        const char *files[] = { "nr_hugepages", "free_hugepages", "surplus_hugepages", "resv_hugepages", "nr_overcommit_hugepages" };
        uint64_t *fields[] = { &p->total, &p->free, &p->surplus, &p->reserved, &p->overcommit };
        size_t n_files = host_wide ? ELEMENTSOF(files) : 3; /* a node's pool has the first three */
        for (size_t f = 0; f < n_files; f++) {
            _cleanup_free_ char *path = xasprintf("%s/%s/%s", dir, names.v[i], files[f]);
            int64_t v;
            if (read_int(hr, path, &v) == 0 && v >= 0) *fields[f] = (uint64_t)v;
        }
    }
    qsort(pools, n, sizeof(TopoHugePool), cmp_pool);
    strvec_clear(&names);
    *out = pools;
    return n;
}

static void probe_node_memory(const HostRoot *hr, TopoNode *n) {
    _cleanup_free_ char *path = xasprintf("/sys/devices/system/node/node%d/meminfo", n->id);
    _cleanup_free_ char *text = NULL;
    if (hostroot_read(hr, path, &text) < 0) return;
    kfile_parse_meminfo(text, "MemTotal", &n->mem_total_kb);
    kfile_parse_meminfo(text, "MemFree", &n->mem_free_kb);
}

static void probe_nodes(const HostRoot *hr, Topology *t) {
    CpuList ids = { 0 }, with_memory = { 0 };
    if (read_cpulist(hr, "/sys/devices/system/node/online", &ids) < 0) {
        /* No NUMA in this kernel: all of the host is node 0. */
        t->numa_synthesized = true;
        t->nodes = xcalloc(1, sizeof(TopoNode));
        t->n_nodes = 1;
        TopoNode *n = &t->nodes[0];
        n->cpus = cpulist_copy(&t->online);
        n->has_memory = true;
        n->distance = xcalloc(1, sizeof(int));
        n->distance[0] = 10;
        _cleanup_free_ char *text = NULL;
        if (hostroot_read(hr, "/proc/meminfo", &text) == 0) {
            kfile_parse_meminfo(text, "MemTotal", &n->mem_total_kb);
            kfile_parse_meminfo(text, "MemFree", &n->mem_free_kb);
        }
        return;
    }
    bool memory_known = read_cpulist(hr, "/sys/devices/system/node/has_memory", &with_memory) == 0;
    CpuList sorted = cpulist_sorted(&ids);
    t->nodes = xcalloc(sorted.n ? sorted.n : 1, sizeof(TopoNode));
    t->n_nodes = sorted.n;
    for (size_t i = 0; i < sorted.n; i++) {
        TopoNode *n = &t->nodes[i];
        n->id = sorted.cpu[i];
        _cleanup_free_ char *path = xasprintf("/sys/devices/system/node/node%d/cpulist", n->id);
        if (read_cpulist(hr, path, &n->cpus) == 0) {
            cpulist_keep_online(&n->cpus, &t->online);
            CpuList s = cpulist_sorted(&n->cpus);
            cpulist_free(&n->cpus);
            n->cpus = s;
        }
        n->has_memory = memory_known ? cpulist_contains(&with_memory, n->id) : true;
        probe_node_memory(hr, n);
        _cleanup_free_ char *pools = xasprintf("/sys/devices/system/node/node%d/hugepages", n->id);
        n->n_pools = probe_pools(hr, pools, false, &n->pools);
    }
    /* The distance file lists every possible node in order; map them onto
     * the online ones. */
    CpuList possible = { 0 };
    if (read_cpulist(hr, "/sys/devices/system/node/possible", &possible) < 0) possible = cpulist_copy(&sorted);
    CpuList possible_sorted = cpulist_sorted(&possible);
    for (size_t i = 0; i < t->n_nodes; i++) {
        _cleanup_free_ char *path = xasprintf("/sys/devices/system/node/node%d/distance", t->nodes[i].id);
        _cleanup_free_ char *text = NULL;
        if (hostroot_read(hr, path, &text) < 0) text = xstrdup("");
        t->nodes[i].distance = parse_distances(text, &possible_sorted, t);
    }
    cpulist_free(&possible);
    cpulist_free(&possible_sorted);
    cpulist_free(&sorted);
    cpulist_free(&ids);
    cpulist_free(&with_memory);
}

static void probe_cpu(const HostRoot *hr, Topology *t, TopoCpu *c) {
    int64_t v;
    _cleanup_free_ char *pkg = xasprintf("/sys/devices/system/cpu/cpu%d/topology/physical_package_id", c->id);
    _cleanup_free_ char *core = xasprintf("/sys/devices/system/cpu/cpu%d/topology/core_id", c->id);
    _cleanup_free_ char *sib = xasprintf("/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c->id);
    c->package = read_int(hr, pkg, &v) == 0 ? (int)v : -1;
    c->core = read_int(hr, core, &v) == 0 ? (int)v : -1;
    if (read_cpulist(hr, sib, &c->siblings) == 0) {
        cpulist_keep_online(&c->siblings, &t->online);
        CpuList s = cpulist_sorted(&c->siblings);
        cpulist_free(&c->siblings);
        c->siblings = s;
    }
    if (c->siblings.n == 0) {
        cpulist_free(&c->siblings);
        c->siblings.cpu = xcalloc(1, sizeof(int));
        c->siblings.cpu[0] = c->id;
        c->siblings.n = 1;
    }
    c->node = -1;
    for (size_t i = 0; i < t->n_nodes; i++)
        if (cpulist_contains(&t->nodes[i].cpus, c->id)) c->node = t->nodes[i].id;
}

int topology_probe_online(const HostRoot *hr, Topology *t) {
    memset(t, 0, sizeof(*t));
    CpuList online = { 0 };
    int r = read_cpulist(hr, "/sys/devices/system/cpu/online", &online);
    if (r < 0) return r;
    t->online = cpulist_sorted(&online);
    cpulist_free(&online);
    return 0;
}

int topology_probe(const HostRoot *hr, Topology *t) {
    int r = topology_probe_online(hr, t);
    if (r < 0) return r;
    probe_nodes(hr, t);
    t->n_pools = probe_pools(hr, "/sys/kernel/mm/hugepages", true, &t->pools);
    _cleanup_free_ char *meminfo = NULL;
    if (hostroot_read(hr, "/proc/meminfo", &meminfo) == 0) kfile_parse_meminfo(meminfo, "Hugepagesize", &t->default_hugepage_kb);
    t->cpus = xcalloc(t->online.n ? t->online.n : 1, sizeof(TopoCpu));
    t->n_cpus = t->online.n;
    for (size_t i = 0; i < t->n_cpus; i++) {
        t->cpus[i].id = t->online.cpu[i];
        probe_cpu(hr, t, &t->cpus[i]);
    }
    return 0;
}

void topology_free(Topology *t) {
    for (size_t i = 0; i < t->n_cpus; i++) cpulist_free(&t->cpus[i].siblings);
    for (size_t i = 0; i < t->n_nodes; i++) {
        cpulist_free(&t->nodes[i].cpus);
        free(t->nodes[i].distance);
        free(t->nodes[i].pools);
    }
    free(t->cpus);
    free(t->nodes);
    free(t->pools);
    cpulist_free(&t->online);
    memset(t, 0, sizeof(*t));
}

const TopoNode *topology_node(const Topology *t, int node) {
    for (size_t i = 0; i < t->n_nodes; i++)
        if (t->nodes[i].id == node) return &t->nodes[i];
    return NULL;
}

const TopoCpu *topology_cpu(const Topology *t, int cpu) {
    for (size_t i = 0; i < t->n_cpus; i++)
        if (t->cpus[i].id == cpu) return &t->cpus[i];
    return NULL;
}

const TopoHugePool *topology_pool(const TopoNode *n, uint64_t page_kb) {
    for (size_t i = 0; i < n->n_pools; i++)
        if (n->pools[i].page_kb == page_kb) return &n->pools[i];
    return NULL;
}

/* Two CPUs share a core when they list each other as siblings (the ids
 * alone may be unknown). */
static bool same_core(const TopoCpu *a, const TopoCpu *b) {
    if (a->package >= 0 && a->core >= 0 && b->package >= 0 && b->core >= 0) return a->package == b->package && a->core == b->core;
    return cpulist_contains(&a->siblings, b->id);
}

size_t topology_count_cores(const Topology *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_cpus; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = same_core(&t->cpus[i], &t->cpus[j]);
        if (!seen) n++;
    }
    return n;
}

size_t topology_count_packages(const Topology *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_cpus; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = t->cpus[i].package == t->cpus[j].package;
        if (!seen) n++;
    }
    return n;
}
