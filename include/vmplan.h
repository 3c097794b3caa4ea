/* Load → probe → plan, the part of the flow (DESIGN.md) that `--dry-run`,
 * `check` and a run share: what the host is (facts, topology, state, cgroup
 * layout, the [hostnic] NICs, the CPUs running VMs hold), `pin = auto`
 * resolved into vm.ini's terms, and what would be done (QEMU's argv, the
 * host plan), with every problem found on the way as file:line errors and
 * notes. Changes nothing on the host. The probe reads the host once;
 * placing and planning read only what it found, so a run that places
 * again (another VM took its CPUs) plans from the same facts. */
#ifndef KVMLAUNCH_VMPLAN_H
#define KVMLAUNCH_VMPLAN_H

#include <stdbool.h>

#include "autopin.h"
#include "cgroup.h"
#include "cpuclaim.h"
#include "hostfacts.h"
#include "hostnic.h"
#include "hostplan.h"
#include "hostroot.h"
#include "peervms.h"
#include "strvec.h"
#include "topology.h"
#include "vmconf.h"

typedef struct VmPlan {
    HostRoot hr;
    HostFacts facts;
    Topology topo;                  /* whole for pin = auto; else only .online */
    bool topo_known;
    CgroupLayout cgl;
    CpuClaims claims;               /* of running VMs, as probed */
    PeerVms peers;                  /* the other running VMs: their memory and open files (admission) */
    HostState probed;               /* the knobs; with pin = auto, the huge page pools of every node it may choose */
    HostNicFacts nics;              /* the [hostnic] NICs */
    /* The state the plan sees: PROBED with the pools of the VM's nodes as
     * placed. Shares PROBED's strings; only .pools is its own. */
    HostState st;
    /* pin = auto */
    bool auto_pin;                  /* asked for: CFG's pin is the choice now */
    AutoPinChoice choice;
    AutoPinApplied applied;
    /* The plan; rebuilt by vmplan_build. */
    StrVec argv;
    HostPlan plan;
    ErrList errors, notes;
} VmPlan;

/* Probes the host for CFG (read-only): everything the plan reads. -errno
 * only when the host root cannot be opened; everything else is recorded. */
int vmplan_probe(VmConfig *cfg, VmPlan *p);
/* Pure: pin = auto against HELD (CPUs other VMs pinned to): the choice is
 * written into CFG. -ENOSPC (with a file:line error in p->errors) when no
 * node fits. */
int vmplan_place(VmConfig *cfg, VmPlan *p, const CpuList *held);
/* Pure: builds argv and the host plan from CFG as it is now (after
 * placement) and the probed facts. Returns -EINVAL when p->errors holds
 * errors. */
int vmplan_build(VmConfig *cfg, VmPlan *p);
/* Pure: errors and notes cleared, place against HELD, build (also when
 * placing failed, so every problem shows); placing's error first. */
int vmplan_replan(VmConfig *cfg, VmPlan *p, const CpuList *held);
/* Probe, then replan against the probed claims: what --dry-run and check do. */
int vmplan_make(VmConfig *cfg, VmPlan *p);
void vmplan_free(VmPlan *p);

#endif
