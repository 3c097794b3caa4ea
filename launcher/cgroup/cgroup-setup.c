/* Carrying out a VM's cgroup plan: the directories and values, the check
 * of what the kernel gave, the thread moves (include/cgroup.h). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfiles.h"
#include "log.h"
#include "util.h"

/* A retried pass may find cpuset on where an earlier pass did not (another
 * VM turned it on between): what this VM ever turned on stays its own. */
static void record_enable(CgroupVm *vm, const char *dir, bool was) {
    for (size_t i = 0; i < vm->n_enabled; i++)
        if (streq(vm->enabled[i].path, dir)) {
            vm->enabled[i].was_enabled &= was;
            return;
        }
    vm->enabled = xrealloc(vm->enabled, (vm->n_enabled + 1) * sizeof(*vm->enabled));
    vm->enabled[vm->n_enabled++] = (CgroupEnable){ xstrdup(dir), was };
}

/* The shared kvmlaunch/'s cpuset.cpus or .mems (v1) NOW, widened by WANT:
 * v1 takes a CPU that goes offline out of every cpuset and gives it back
 * to the root alone when it comes back, so kvmlaunch/, which stays, would
 * refuse that CPU to every later VM (EINVAL: a child wider than its
 * parent). Never narrowed: other VMs may use what it has. NULL when NOW
 * holds WANT already (or either does not parse: the write's check says). */
static char *widen_list(const char *now, const char *want) {
    CpuList a = { 0 }, b = { 0 };
    char *out = NULL;
    if (kfile_parse_cpulist(now, &a) >= 0 && kfile_parse_cpulist(want, &b) >= 0) {
        bool grows = false;
        for (size_t i = 0; i < b.n; i++) {
            if (cpulist_contains(&a, b.cpu[i])) continue;
            a.cpu = xrealloc(a.cpu, (a.n + 1) * sizeof(int));
            a.cpu[a.n++] = b.cpu[i];
            grows = true;
        }
        if (grows) {
            CpuList sorted = cpulist_sorted(&a);
            out = cpulist_format(&sorted);
            cpulist_free(&sorted);
        }
    }
    cpulist_free(&a);
    cpulist_free(&b);
    return out;
}

/* One configuration step; returns -errno without logging, so the caller
 * can retry quietly. */
static int exec_op(const HostRoot *hr, const CgroupOp *op, CgroupVm *vm) {
    switch (op->kind) {
    case CGROUP_OP_MKDIR: {
        int r = hostroot_mkdir(hr, op->path, 0755);
        return r == -EEXIST && (op->flags & CGROUP_OP_SHARED) ? 0 : r;
    }
    case CGROUP_OP_ENABLE: {
        _cleanup_free_ char *text = NULL, *dir = NULL;
        const char *base;
        cg_path_split(op->path, &dir, &base);
        int r = hostroot_read(hr, op->path, &text);
        if (r < 0) return r;
        bool was = cgroup_list_has(text, "cpuset");
        if (!was) r = hostroot_write(hr, op->path, op->value);
        if (r >= 0) record_enable(vm, dir, was);
        return r;
    }
    case CGROUP_OP_WRITE:
        if (op->flags & CGROUP_OP_SHARED) {
            _cleanup_free_ char *text = NULL, *widened = NULL;
            int r = hostroot_read(hr, op->path, &text);
            if (r < 0) return r;
            if (cg_text_set(text)) {
                widened = widen_list(text, op->value);
                return widened ? hostroot_write(hr, op->path, widened) : 0;
            }
        }
        return hostroot_write(hr, op->path, op->value);
    case CGROUP_OP_ATTACH:
        break;
    }
    return -EINVAL;
}

/* One pass over the steps before the thread moves; *failed: the step that
 * failed, SIZE_MAX when the failure is logged already. A VM dir a previous
 * run left is replaced. */
static int config_once(const HostRoot *hr, const CgroupPlan *plan, CgroupVm *vm, size_t *failed) {
    int r = 0;
    for (size_t i = 0; i < plan->n && plan->op[i].kind != CGROUP_OP_ATTACH; i++) {
        const CgroupOp *op = &plan->op[i];
        bool is_dir = op->kind == CGROUP_OP_MKDIR && streq(op->path, plan->dir);
        *failed = i;
        r = exec_op(hr, op, vm);
        if (r == -EEXIST && is_dir) {
            log_notice("Removing the cgroup %s that a previous run left", op->path);
            r = cg_remove_vm_dir(hr, op->path);
            if (r < 0) {
                *failed = SIZE_MAX;
                return r;
            }
            r = exec_op(hr, op, vm);
        }
        if (r < 0) return r;
        if (op->kind == CGROUP_OP_MKDIR && streq(op->path, plan->top) && !vm->top) vm->top = xstrdup(plan->top);
        if (is_dir) vm->dir = xstrdup(plan->dir);
    }
    return 0;
}

/* ENOENT is retried: kvmlaunch/ (shared, never removed by us, but an
 * admin may) vanished before the VM dir was made, or a VM that just ended
 * turned cpuset off in kvmlaunch/ (its last user, as it thought) between
 * our "+cpuset" there and the VM dir's. The VM dir made so far goes first. */
int cg_exec_config(const HostRoot *hr, const CgroupPlan *plan, CgroupVm *vm) {
    for (int attempt = 0;; attempt++) {
        size_t i = 0;
        int r = config_once(hr, plan, vm, &i);
        if (r == -ENOENT && attempt < 3) {
            if (vm->dir && cg_remove_vm_dir(hr, vm->dir) < 0) return r;
            vm->dir = x_free(vm->dir);
            continue;
        }
        if (r < 0 && i == SIZE_MAX) return r;
        if (r < 0) {
            const CgroupOp *op = &plan->op[i];
            if (op->kind == CGROUP_OP_MKDIR) return log_error_errno(r, "Failed to create the cgroup %s: %m", op->path);
            return log_error_errno(r, "Failed to write %s to %s: %m", op->value, op->path);
        }
        return r;
    }
}

int cg_verify_groups(const HostRoot *hr, const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *gs, const char *vmdir) {
    static const char *const which[] = { "cpus", "mems" };
    for (size_t i = 0; i < gs->n; i++) {
        const CgroupGroup *g = &gs->g[i];
        _cleanup_free_ char *dir = cg_path_join(vmdir, g->name);
        for (size_t k = 0; k < ELEMENTSOF(which); k++) {
            const CpuList *asked = k == 0 ? (g->cpus.n ? &g->cpus : &l->cpus) : (cfg->memory.nodes.n ? &cfg->memory.nodes : &l->mems);
            _cleanup_free_ char *file = cg_check_file(l->version, l->noprefix, which[k]);
            CpuList got;
            int r = cg_read_cpulist(hr, dir, file, &got);
            if (r < 0) return r;
            bool same = cpulist_same_set(&got, asked);
            _cleanup_free_ char *a = cg_cpus_text(asked, asked), *b = cpulist_format(&got);
            _cleanup_free_ char *avail = k == 0 ? cg_cpus_text(&l->cpus, &l->cpus) : cg_cpus_text(&l->mems, &l->mems);
            cpulist_free(&got);
            if (!same)
                return log_error_errno(-EXDEV, "%s: the cgroup %s got %s %s, not %s as asked (%s has %s); the VM is not started",
                                       g->name, dir, k == 0 ? "CPUs" : "memory nodes", b, a, l->base, avail);
        }
    }
    return 0;
}

int cg_exec_attach(const HostRoot *hr, const CgroupPlan *plan, const CgroupGroups *gs, const Placement *p, pid_t qemu_pid) {
    for (size_t i = 0; i < plan->n; i++) {
        const CgroupOp *op = &plan->op[i];
        if (op->kind != CGROUP_OP_ATTACH) continue;
        const CgroupGroup *g = &gs->g[op->group];
        if (g->role == THREAD_EMULATOR) {
            char id[24];
            snprintf(id, sizeof(id), "%ld", (long)qemu_pid);
            int r = hostroot_write(hr, op->path, id);
            if (r < 0) return log_error_errno(r, "Failed to move QEMU (pid %ld) into %s: %m", (long)qemu_pid, op->path);
            /* Kernel threads of its own that work for it (kvm-pit/PID). */
            for (size_t k = 0; k < p->n && r >= 0; k++) {
                if (p->t[k].role != THREAD_EMULATOR || !p->t[k].process) continue;
                snprintf(id, sizeof(id), "%ld", (long)p->t[k].tid);
                if ((r = hostroot_write(hr, op->path, id)) < 0 && r != -ESRCH)
                    return log_error_errno(r, "Failed to move %s (pid %ld) into %s: %m", p->t[k].name, (long)p->t[k].tid, op->path);
                log_info("%s=pid %ld -> %s", p->t[k].name, (long)p->t[k].tid, op->path);
            }
            continue;
        }
        for (size_t k = 0; k < p->n; k++) {
            const ThreadPlace *t = &p->t[k];
            if (t->role != g->role || t->index != g->index) continue;
            char id[24];
            snprintf(id, sizeof(id), "%ld", (long)t->tid);
            int r = hostroot_write(hr, op->path, id);
            if (r < 0) return log_error_errno(r, "Failed to move %s (tid %ld) into %s: %m", t->name, (long)t->tid, op->path);
        }
    }
    return 0;
}
