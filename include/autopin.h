/* `[cpu] pin = auto` (CONFIG.md): pick one NUMA node with enough free CPUs
 * and memory, pin vCPU i 1:1 onto distinct physical cores of it (siblings
 * only when the cores run out), the emulator onto the node's other CPUs,
 * memory onto the node. Pure: the host's topology and the CPUs other
 * running VMs hold in, a choice out; the same inputs give the same choice. */
#ifndef KVMLAUNCH_AUTOPIN_H
#define KVMLAUNCH_AUTOPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "topology.h"
#include "values.h"
#include "vmconf.h"

typedef struct AutoPinAsk {
    size_t vcpus;
    uint64_t memory_bytes;
    uint64_t hugepage_kb;           /* 0: ordinary pages */
    bool reserve;                   /* reserve-hugepages: a node's free memory may become pages */
    const CpuList *nodes;           /* [memory] nodes: only these; empty: any node */
    /* What kvmlaunch was given (AllocFacts): only these CPUs and nodes;
     * NULL: any. */
    const CpuList *cpus_allowed;
    const CpuList *mems_allowed;
} AutoPinAsk;

typedef struct AutoPinChoice {
    int node;
    CpuList vcpus;                  /* owned: vCPU i runs on vcpus.cpu[i] */
    CpuList emulator;               /* owned: the node's other CPUs (all of its CPUs when none is left) */
    char *why;                      /* owned: one line, for the log and --dry-run */
} AutoPinChoice;

/* The ask of CFG (vcpus, memory, huge pages, [memory] nodes). */
AutoPinAsk autopin_ask(const VmConfig *cfg);
/* Chooses among the nodes that fit: the most wholly free cores, then the
 * most free CPUs, then the lowest node number. HELD: CPUs the vCPUs of
 * other running VMs are pinned to. -ENOSPC when no node fits, with
 * *why_not (owned) giving each node's numbers. */
int autopin_choose(const Topology *t, const CpuList *held, const AutoPinAsk *ask, AutoPinChoice *out, char **why_not);
void autopin_choice_free(AutoPinChoice *c);

/* What autopin_apply filled in, so that a second choice can replace it. */
typedef struct AutoPinApplied {
    bool emulator, nodes, policy;
} AutoPinApplied;
/* Writes CHOICE into CFG: pin becomes the list; emulator (when not set) the
 * node's other CPUs; [memory] nodes (when not set) the node, bound. A
 * second call replaces what the first filled in (APPLIED). */
void autopin_apply(VmConfig *cfg, const AutoPinChoice *choice, AutoPinApplied *applied);

#endif
