/* Per-VM cpuset cgroups, v2 and v1 (include/cgroup.h): the entry points,
 * each a sequence of the steps in the files beside this one
 * (cgroup-internal.h lists them). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* "cgroups of NAME in DIR (cgroup vN): emulator=0 vcpu0=1 ...". */
static void log_placed(const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *gs, const char *dir) {
    char *line = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&line, &size);
    if (!f) die_oom();
    for (size_t i = 0; i < gs->n; i++) {
        _cleanup_free_ char *c = cg_cpus_text(&gs->g[i].cpus, &l->cpus);
        fprintf(f, " %s=%s", gs->g[i].name, c);
    }
    fclose(f);
    log_info("cgroups of %s in %s (cgroup v%d):%s", cfg->vm.name, dir, l->version == CGROUP_V2 ? 2 : 1, line);
    free(line);
}

int cgroup_setup_vm(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const Placement *p, pid_t qemu_pid,
                    CgroupVm *out) {
    memset(out, 0, sizeof(*out));
    out->version = l->version;
    out->nested = l->nested;
    if (l->version == CGROUP_NONE) return log_error_errno(-EOPNOTSUPP, "Cannot give QEMU's threads cgroups: %s", l->why ? l->why : "no cpuset hierarchy");
    CgroupGroups gs;
    cgroup_groups_from_placement(p, &gs);
    CgroupPlan plan;
    int r = cgroup_plan_vm(l, cfg, &gs, &plan);
    if (r < 0) {
        cgroup_groups_free(&gs);
        return log_error_errno(r, "Cannot plan the cgroups of \"%s\": %m", cfg->vm.name);
    }
    r = cg_exec_config(hr, &plan, out);
    if (r >= 0) r = cg_verify_groups(hr, l, cfg, &gs, plan.dir);
    if (r >= 0) r = cg_exec_attach(hr, &plan, &gs, p, qemu_pid);
    if (r >= 0) log_placed(l, cfg, &gs, plan.dir);
    cgroup_plan_free(&plan);
    cgroup_groups_free(&gs);
    return r;
}

int cgroup_teardown_vm(const HostRoot *hr, CgroupVm *vm) {
    int r = 0;
    if (vm->dir) r = cg_remove_vm_dir(hr, vm->dir);
    /* Nested, kvmlaunch/ is the caller's cgroup's child: it goes with the
     * last VM, or the caller's cgroup could not be removed. */
    if (r >= 0 && vm->nested && vm->top && vm->dir) (void)cg_remove_top(hr, vm->top);
    /* Bottom-up: kvmlaunch/ gives cpuset back first (it is ours, whoever
     * turned it on, and stays for the next VM), so that BASE, where this
     * VM turned it on, sees no user left in kvmlaunch/. */
    for (size_t i = vm->n_enabled; r >= 0 && i-- > 0;) {
        const CgroupEnable *e = &vm->enabled[i];
        bool top = vm->top && streq(e->path, vm->top);
        if ((e->was_enabled && !top) || !hostroot_exists(hr, e->path)) continue;
        r = cgroup_release_cpuset(hr, e->path);
    }
    cgroup_vm_free(vm);
    return r;
}

int cgroup_cleanup(const HostRoot *hr, const CgroupLayout *l, const char *name) {
    if (l->version == CGROUP_NONE) return 0;
    if (!cg_name_ok(name)) return log_error_errno(-EINVAL, "\"%s\" is no VM name", name);
    _cleanup_free_ char *top = cg_path_join(l->base, CGROUP_TOP);
    _cleanup_free_ char *dir = cg_path_join(top, name);
    int r = cg_remove_vm_dir(hr, dir);
    if (r >= 0 && l->nested && cg_remove_top(hr, top)) return 0;
    if (r < 0 || l->version != CGROUP_V2) return r;
    return cgroup_release_cpuset(hr, top);
}

int cgroup_cleanup_dead(const HostRoot *hr, const CgroupLayout *l, bool (*running)(const char *name)) {
    if (l->version == CGROUP_NONE) return 0;
    _cleanup_free_ char *top = cg_path_join(l->base, CGROUP_TOP);
    StrVec names = STRVEC_INIT;
    int r = hostroot_list(hr, top, true, &names);
    if (r == -ENOENT) return 0;
    if (r < 0) return log_error_errno(r, "Failed to list the cgroup %s: %m", top);
    for (size_t i = 0; i < names.n; i++) {
        const char *name = names.v[i];
        _cleanup_free_ char *dir = cg_path_join(top, name);
        if (!cg_name_ok(name) || running(name)) continue;
        /* A VM of another runtime dir ($KVMLAUNCH_RUNDIR), or a QEMU that
         * outlived its supervisor: its threads say it is not dead. */
        if (cg_dir_in_use(hr, dir)) {
            log_info("%s: the cgroup %s has threads: left as it is", name, dir);
            continue;
        }
        int k = cgroup_cleanup(hr, l, name);
        if (k < 0 && r >= 0) r = k;
        else if (k >= 0) log_info("%s: cgroup %s removed", name, dir);
    }
    strvec_clear(&names);
    return r < 0 ? r : 0;
}
