/* Automatic placement, `[cpu] pin = auto` (include/autopin.h). */
#include "autopin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

AutoPinAsk autopin_ask(const VmConfig *cfg) {
    const MemorySection *m = &cfg->memory;
    return (AutoPinAsk){
        .vcpus = (size_t)cfg->vm.vcpus,
        .memory_bytes = cfg->vm.memory,
        .hugepage_kb = m->backing == BACKING_HUGEPAGES ? m->hugepage_size / 1024 : 0,
        .reserve = m->reserve_hugepages,
        .nodes = &m->nodes,
    };
}

static void cpulist_push(CpuList *l, int cpu) {
    l->cpu = xrealloc(l->cpu, (l->n + 1) * sizeof(int));
    l->cpu[l->n++] = cpu;
}

/* What one node offers. */
typedef struct NodeOffer {
    const TopoNode *node;
    CpuList free;                   /* owned: its CPUs no other VM holds */
    size_t whole_cores;             /* cores none of whose threads is held */
    bool memory_fits;
    char *memory_text;              /* owned: "12 GiB free" or "256 free 2 MiB pages" */
} NodeOffer;

static bool core_wholly_free(const Topology *t, const TopoCpu *c, const CpuList *held) {
    (void)t;
    for (size_t i = 0; i < c->siblings.n; i++)
        if (cpulist_contains(held, c->siblings.cpu[i])) return false;
    return true;
}

/* The lowest CPU of each core counts the core once. */
static bool lowest_of_core(const TopoCpu *c) {
    return c->siblings.n == 0 || c->siblings.cpu[0] == c->id;
}

/* "12.0 GiB", "512 MiB": node memory reads better rounded. */
static char *mem_format(uint64_t kb) {
    if (kb >= 1024 * 1024) return xasprintf("%.1f GiB", (double)kb / (1024.0 * 1024.0));
    return xasprintf("%" PRIu64 " MiB", kb / 1024);
}

static void offer_memory(const TopoNode *n, const AutoPinAsk *ask, NodeOffer *o) {
    if (!n->has_memory || n->mem_total_kb == 0) {
        o->memory_text = xstrdup("no memory");
        return;
    }
    if (!ask->hugepage_kb) {
        o->memory_fits = (uint64_t)n->mem_free_kb * 1024 >= ask->memory_bytes;
        _cleanup_free_ char *f = mem_format(n->mem_free_kb);
        o->memory_text = xasprintf("%s free", f);
        return;
    }
    uint64_t needed = (ask->memory_bytes / 1024 + ask->hugepage_kb - 1) / ask->hugepage_kb;
    const TopoHugePool *p = topology_pool(n, ask->hugepage_kb);
    uint64_t have = p ? p->free : 0;
    _cleanup_free_ char *ps = ask->hugepage_kb >= 1048576 ? xasprintf("%" PRIu64 " GiB", ask->hugepage_kb / 1048576)
                                                           : xasprintf("%" PRIu64 " MiB", ask->hugepage_kb / 1024);
    o->memory_fits = have >= needed || (ask->reserve && p && (needed - have) * ask->hugepage_kb <= n->mem_free_kb);
    _cleanup_free_ char *f = mem_format(n->mem_free_kb);
    o->memory_text = p ? xasprintf("%" PRIu64 " free %s pages, %s free", have, ps, f) : xasprintf("no %s pages", ps);
}

static bool cpu_allowed(const AutoPinAsk *ask, int cpu) {
    return !ask->cpus_allowed || cpulist_contains(ask->cpus_allowed, cpu);
}

static void offer_node(const Topology *t, const TopoNode *n, const CpuList *held, const AutoPinAsk *ask, NodeOffer *o) {
    *o = (NodeOffer){ .node = n };
    for (size_t i = 0; i < n->cpus.n; i++) {
        int cpu = n->cpus.cpu[i];
        if (cpulist_contains(held, cpu) || !cpu_allowed(ask, cpu)) continue;
        cpulist_push(&o->free, cpu);
        const TopoCpu *c = topology_cpu(t, cpu);
        if (c && lowest_of_core(c) && core_wholly_free(t, c, held)) o->whole_cores++;
    }
    offer_memory(n, ask, o);
}

static bool node_allowed(const AutoPinAsk *ask, int node) {
    if (ask->mems_allowed && !cpulist_contains(ask->mems_allowed, node)) return false;
    return !ask->nodes || ask->nodes->n == 0 || cpulist_contains(ask->nodes, node);
}

/* One vCPU per physical core first (the lowest free thread of each core
 * none of whose threads is taken yet), then the remaining free CPUs. */
static void pick_cpus(const Topology *t, const NodeOffer *o, size_t want, CpuList *out) {
    for (size_t i = 0; i < o->free.n && out->n < want; i++) {
        const TopoCpu *c = topology_cpu(t, o->free.cpu[i]);
        bool core_taken = false;
        for (size_t j = 0; c && j < out->n && !core_taken; j++) core_taken = cpulist_contains(&c->siblings, out->cpu[j]);
        if (!core_taken) cpulist_push(out, o->free.cpu[i]);
    }
    for (size_t i = 0; i < o->free.n && out->n < want; i++)
        if (!cpulist_contains(out, o->free.cpu[i])) cpulist_push(out, o->free.cpu[i]);
}

/* Only CPUs kvmlaunch was given: with one CPU, the emulator shares it. */
static void pick_emulator(const NodeOffer *o, const CpuList *held, const CpuList *vcpus, const AutoPinAsk *ask, CpuList *out) {
    const CpuList *cpus = &o->node->cpus;
    for (size_t i = 0; i < cpus->n; i++)
        if (!cpulist_contains(vcpus, cpus->cpu[i]) && !cpulist_contains(held, cpus->cpu[i]) && cpu_allowed(ask, cpus->cpu[i]))
            cpulist_push(out, cpus->cpu[i]);
    for (size_t i = 0; !out->n && i < cpus->n; i++)
        if (!cpulist_contains(vcpus, cpus->cpu[i]) && cpu_allowed(ask, cpus->cpu[i])) cpulist_push(out, cpus->cpu[i]);
    if (!out->n) *out = cpulist_copy(vcpus);
}

static bool better(const NodeOffer *a, const NodeOffer *b) {
    if (a->whole_cores != b->whole_cores) return a->whole_cores > b->whole_cores;
    if (a->free.n != b->free.n) return a->free.n > b->free.n;
    return a->node->id < b->node->id;
}

static char *describe_refusals(const NodeOffer *offers, size_t n, const AutoPinAsk *ask) {
    _cleanup_free_ char *mem = mem_format(ask->memory_bytes / 1024);
    char *text = xasprintf("no NUMA node has %zu free CPUs and %s of memory%s:", ask->vcpus, mem,
                           ask->hugepage_kb ? " in huge pages" : "");
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *free_cpus = cpulist_format(&offers[i].free);
        char *next = xasprintf("%s%s node %d: %zu CPUs free (%s), %s", text, i ? ";" : "", offers[i].node->id, offers[i].free.n,
                               offers[i].free.n ? free_cpus : "none", offers[i].memory_text);
        free(text);
        text = next;
    }
    if (!n) {
        char *next = xasprintf("%s no node is allowed by [memory] nodes%s", text, ask->mems_allowed ? " and the memory nodes kvmlaunch may use" : "");
        free(text);
        text = next;
    }
    if (ask->cpus_allowed) {
        _cleanup_free_ char *c = cpulist_format(ask->cpus_allowed);
        char *next = xasprintf("%s (kvmlaunch may use CPUs %s only)", text, ask->cpus_allowed->n ? c : "none");
        free(text);
        text = next;
    }
    return text;
}

int autopin_choose(const Topology *t, const CpuList *held, const AutoPinAsk *ask, AutoPinChoice *out, char **why_not) {
    NodeOffer *offers = xcalloc(t->n_nodes ? t->n_nodes : 1, sizeof(NodeOffer));
    size_t n = 0;
    const NodeOffer *best = NULL;
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (!node_allowed(ask, t->nodes[i].id)) continue;
        NodeOffer *o = &offers[n++];
        offer_node(t, &t->nodes[i], held, ask, o);
        if (o->free.n >= ask->vcpus && o->memory_fits && (!best || better(o, best))) best = o;
    }
    int r = 0;
    if (!best) {
        *why_not = describe_refusals(offers, n, ask);
        r = -ENOSPC;
    } else {
        *out = (AutoPinChoice){ .node = best->node->id };
        pick_cpus(t, best, ask->vcpus, &out->vcpus);
        pick_emulator(best, held, &out->vcpus, ask, &out->emulator);
        _cleanup_free_ char *v = cpulist_format(&out->vcpus), *e = cpulist_format(&out->emulator);
        size_t cores = best->whole_cores < ask->vcpus ? best->whole_cores : ask->vcpus;
        out->why = xasprintf("node %d (%zu of its %zu CPUs free, %s): vCPUs on %s (%zu on cores of their own%s), emulator on %s", best->node->id,
                             best->free.n, best->node->cpus.n, best->memory_text, v, cores,
                             cores < ask->vcpus ? ", the rest on sibling threads" : "", e);
    }
    for (size_t i = 0; i < n; i++) {
        cpulist_free(&offers[i].free);
        free(offers[i].memory_text);
    }
    free(offers);
    return r;
}

void autopin_choice_free(AutoPinChoice *c) {
    cpulist_free(&c->vcpus);
    cpulist_free(&c->emulator);
    free(c->why);
    memset(c, 0, sizeof(*c));
}

void autopin_apply(VmConfig *cfg, const AutoPinChoice *choice, AutoPinApplied *applied) {
    CpuSection *cpu = &cfg->cpu;
    cpulist_free(&cpu->pin.list);
    cpu->pin.kind = CPUSPEC_LIST;
    cpu->pin.list = cpulist_copy(&choice->vcpus);
    if (applied->emulator || cpu->emulator.kind == CPUSPEC_UNSET) {
        cpulist_free(&cpu->emulator.list);
        cpu->emulator.kind = CPUSPEC_LIST;
        cpu->emulator.list = cpulist_copy(&choice->emulator);
        applied->emulator = true;
    }
    MemorySection *m = &cfg->memory;
    if (applied->nodes || m->nodes.n == 0) {
        cpulist_free(&m->nodes);
        m->nodes.cpu = xcalloc(1, sizeof(int));
        m->nodes.cpu[0] = choice->node;
        m->nodes.n = 1;
        applied->nodes = true;
        if (m->policy == POLICY_DEFAULT) {
            m->policy = POLICY_BIND;
            applied->policy = true;
        }
    }
}
