/* Load → probe → plan, the part of the flow (DESIGN.md) that `--dry-run`,
 * `check` and a run share: what the host is (facts, topology, state, cgroup
 * layout, the CPUs running VMs hold), `pin = auto` resolved into vm.ini's
 * terms, and what would be done (QEMU's argv, the host plan), with every
 * problem found on the way as file:line errors and notes. Changes nothing
 * on the host. */
#ifndef KVMLAUNCH_VMPLAN_H
#define KVMLAUNCH_VMPLAN_H

#include <stdbool.h>

#include "autopin.h"
#include "cgroup.h"
#include "cpuclaim.h"
#include "hostfacts.h"
#include "hostplan.h"
#include "hostroot.h"
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

/* Probes the host for CFG (read-only). -errno only when the host root cannot
 * be opened; everything else is recorded. */
int vmplan_probe(VmConfig *cfg, VmPlan *p);
/* pin = auto against HELD (CPUs other VMs pinned to): the choice is written
 * into CFG. -ENOSPC (with a file:line error in p->errors) when no node fits. */
int vmplan_place(VmConfig *cfg, VmPlan *p, const CpuList *held);
/* Builds argv and the host plan from CFG as it is now (after placement).
 * Returns -EINVAL when p->errors holds errors. */
int vmplan_build(VmConfig *cfg, VmPlan *p);
/* Probe, place against the probed claims, build: what --dry-run and check do. */
int vmplan_make(VmConfig *cfg, VmPlan *p);
void vmplan_free(VmPlan *p);

#endif
