/* Load → probe → plan, shared by --dry-run, check and run (include/vmplan.h). */
#include "vmplan.h"

#include <errno.h>
#include <string.h>

#include "hostnic.h"
#include "log.h"
#include "qemucmd.h"
#include "util.h"

/* The knobs, read for CFG. With pin = auto and no [memory] nodes, the node
 * is chosen later, so the pools of every node it may choose are read. */
static void probe_state(const VmConfig *cfg, VmPlan *p) {
    VmConfig all = *cfg;
    CpuList nodes = { 0 };
    if (p->auto_pin && !cfg->memory.nodes.n && p->topo_known && p->topo.n_nodes) {
        nodes.cpu = xcalloc(p->topo.n_nodes, sizeof(int));
        for (size_t i = 0; i < p->topo.n_nodes; i++) nodes.cpu[nodes.n++] = p->topo.nodes[i].id;
        all.memory.nodes = nodes;
    }
    hoststate_probe(&p->hr, &all, &p->probed);
    cpulist_free(&nodes);
}

int vmplan_probe(VmConfig *cfg, VmPlan *p) {
    memset(p, 0, sizeof(*p));
    p->hr = (HostRoot)HOSTROOT_INIT;
    p->auto_pin = cfg->cpu.pin.kind == CPUSPEC_AUTO;
    hostfacts_probe(cfg, &p->facts);
    int r = hostroot_open(&p->hr);
    if (r < 0) return r;
    p->topo_known = (p->auto_pin ? topology_probe : topology_probe_online)(&p->hr, &p->topo) == 0;
    if (cgroup_detect(&p->hr, &p->cgl) < 0) p->cgl.version = CGROUP_NONE;
    hostfacts_probe_allocation(&p->hr, &p->cgl, &p->facts.alloc);
    if (cpuclaim_read(&p->claims) < 0) log_warning("the CPUs other VMs hold are unknown: %s", "their record could not be read");
    if (peervms_probe(cfg->vm.name, &p->peers) < 0) log_warning("the other running VMs are unknown: %s", "the runtime dir could not be read");
    probe_state(cfg, p);
    if (cfg->n_hostnics) hostnic_probe(&p->hr, cfg, &p->nics);
    return 0;
}

int vmplan_place(VmConfig *cfg, VmPlan *p, const CpuList *held) {
    if (!p->auto_pin) return 0;
    const CpuSection *cpu = &cfg->cpu;
    if (!p->topo_known) {
        errlist_add_key(&p->errors, cfg->path, SECTION_CPU, &cpu->head, "pin",
                        "auto needs the host's CPU topology, found /sys/devices/system/cpu/online unreadable");
        return -ENOSPC;
    }
    AutoPinAsk ask = autopin_ask(cfg);
    /* Only inside what kvmlaunch was given (a scheduler's CPUs and nodes). */
    const AllocFacts *a = &p->facts.alloc;
    if (a->cpus_known) ask.cpus_allowed = &a->cpus;
    if (a->mems_known) ask.mems_allowed = &a->mems;
    AutoPinChoice choice;
    _cleanup_free_ char *why_not = NULL;
    if (autopin_choose(&p->topo, held, &ask, &choice, &why_not) < 0) {
        errlist_add_key(&p->errors, cfg->path, SECTION_CPU, &cpu->head, "pin", "auto: %s", why_not);
        return -ENOSPC;
    }
    autopin_choice_free(&p->choice);
    p->choice = choice;
    autopin_apply(cfg, &p->choice, &p->applied);
    return 0;
}

/* The probed state as the VM placed sees it: the pools of its nodes, in
 * [memory] nodes order (the host-wide pool without nodes). */
static void view_state(const VmConfig *cfg, VmPlan *p) {
    free(p->st.pools);
    p->st = p->probed;
    const CpuList *nodes = &cfg->memory.nodes;
    if (!p->probed.n_pools) return;
    p->st.pools = xcalloc(nodes->n ? nodes->n : 1, sizeof(HugePool));
    p->st.n_pools = 0;
    for (size_t i = 0; i < (nodes->n ? nodes->n : 1); i++) {
        int node = nodes->n ? nodes->cpu[i] : -1;
        for (size_t k = 0; k < p->probed.n_pools; k++)
            if (p->probed.pools[k].node == node) {
                p->st.pools[p->st.n_pools++] = p->probed.pools[k];
                break;
            }
    }
}

int vmplan_build(VmConfig *cfg, VmPlan *p) {
    strvec_clear(&p->argv);
    hostplan_free(&p->plan);
    view_state(cfg, p);
    /* All of them, so every problem shows at once. */
    int r1 = qemucmd_build(cfg, &p->facts, &p->argv, &p->errors, &p->notes);
    int r2 = hostplan_build(cfg, &p->st, &p->plan, &p->errors, &p->notes);
    int r3 = cfg->n_hostnics ? hostnic_plan_build(cfg, &p->nics, &p->plan, &p->errors, &p->notes) : 0;
    errlist_sort(&p->errors);
    return r1 < 0 || r2 < 0 || r3 < 0 || p->errors.n ? -EINVAL : 0;
}

int vmplan_replan(VmConfig *cfg, VmPlan *p, const CpuList *held) {
    errlist_clear(&p->errors);
    errlist_clear(&p->notes);
    int rp = vmplan_place(cfg, p, held);
    int r = vmplan_build(cfg, p);
    return rp < 0 ? rp : r;
}

int vmplan_make(VmConfig *cfg, VmPlan *p) {
    int r = vmplan_probe(cfg, p);
    if (r < 0) return r;
    CpuList held = cpuclaims_held(&p->claims, cfg->vm.name);
    r = vmplan_replan(cfg, p, &held);
    cpulist_free(&held);
    return r;
}

void vmplan_free(VmPlan *p) {
    strvec_clear(&p->argv);
    hostplan_free(&p->plan);
    free(p->st.pools); /* the rest is PROBED's */
    hoststate_free(&p->probed);
    hostnic_facts_free(&p->nics);
    errlist_clear(&p->errors);
    errlist_clear(&p->notes);
    autopin_choice_free(&p->choice);
    cpuclaims_free(&p->claims);
    peervms_free(&p->peers);
    cgroup_layout_free(&p->cgl);
    if (p->topo_known) topology_free(&p->topo);
    hostfacts_free(&p->facts);
    hostroot_close(&p->hr);
}
