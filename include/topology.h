/* The host's CPUs and NUMA nodes as the kernel describes them in
 * /sys/devices/system/{cpu,node}: which CPUs are online, which node and
 * physical core each belongs to, each node's memory, huge-page pools and
 * distances. Read through a HostRoot, so test trees stand in for it in
 * tests. `kvmlaunch host` reports it; `[cpu] pin = auto` places from it. */
#ifndef KVMLAUNCH_TOPOLOGY_H
#define KVMLAUNCH_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostroot.h"
#include "values.h"

typedef struct TopoCpu {
    int id;
    int node;                       /* -1: not in any node's cpulist */
    int package;                    /* topology/physical_package_id; -1 unknown */
    int core;                       /* topology/core_id (per package); -1 unknown */
    CpuList siblings;               /* owned: topology/thread_siblings_list (itself included) */
} TopoCpu;

/* One page size's pool on one node (nodeN/hugepages/hugepages-SIZEkB), or
 * host-wide (/sys/kernel/mm/hugepages/hugepages-SIZEkB). */
typedef struct TopoHugePool {
    uint64_t page_kb;
    uint64_t total, free, surplus;  /* pages: nr_, free_, surplus_hugepages */
    /* Host-wide pools only (the kernel keeps no per-node count; 0 there):
     * resv_hugepages, pages promised to mappings but not yet faulted in, so
     * free minus reserved is what a new VM can have; nr_overcommit_hugepages,
     * how many surplus pages the pool may grow by on demand. */
    uint64_t reserved, overcommit;
} TopoHugePool;

typedef struct TopoNode {
    int id;
    CpuList cpus;                   /* owned: nodeN/cpulist, online CPUs only */
    bool has_memory;                /* in node/has_memory (online when the kernel lacks the file) */
    uint64_t mem_total_kb, mem_free_kb; /* nodeN/meminfo MemTotal, MemFree */
    int *distance;                  /* owned: n_nodes entries, to each node of Topology.nodes in order; -1 unknown */
    TopoHugePool *pools;            /* owned: by page size, ascending */
    size_t n_pools;
} TopoNode;

typedef struct Topology {
    CpuList online;                 /* owned: cpu/online */
    TopoCpu *cpus;                  /* owned: the online CPUs, ascending */
    size_t n_cpus;
    TopoNode *nodes;                /* owned: the online nodes, ascending */
    size_t n_nodes;
    /* No node/ directory (a kernel without CONFIG_NUMA): one node 0 with
     * every online CPU and /proc/meminfo's memory stands in. */
    bool numa_synthesized;
    TopoHugePool *pools;            /* owned: host-wide, by page size, ascending */
    size_t n_pools;
    uint64_t default_hugepage_kb;   /* /proc/meminfo Hugepagesize; 0: unknown */
} Topology;

/* Reads the topology. Files a kernel may lack (topology/, distance, a
 * node's hugepages/) leave -1 or nothing; only a missing cpu/online fails. */
int topology_probe(const HostRoot *hr, Topology *t);
/* Only cpu/online (t->online; nothing else filled): what a VM with a fixed
 * pin needs. The full probe reads three files per CPU, milliseconds on a
 * host with hundreds of them, for pin = auto alone. */
int topology_probe_online(const HostRoot *hr, Topology *t);
void topology_free(Topology *t);

const TopoNode *topology_node(const Topology *t, int node);
const TopoCpu *topology_cpu(const Topology *t, int cpu);
/* The pool of PAGE_KB pages on NODE, or NULL when the node has none. */
const TopoHugePool *topology_pool(const TopoNode *n, uint64_t page_kb);
/* Physical cores and sockets: distinct (package, core) and package ids over
 * the online CPUs (a CPU whose ids are unknown counts as a core of its own). */
size_t topology_count_cores(const Topology *t);
size_t topology_count_packages(const Topology *t);

#endif
