/* Thread groups and the plan of a VM's cgroups (pure). */
#include "cgroup-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- thread groups ---- */

static void group_add(CgroupGroups *gs, ThreadRole role, int index, CpuList cpus) {
    gs->g = xrealloc(gs->g, (gs->n + 1) * sizeof(*gs->g));
    char *name = role == THREAD_EMULATOR ? xstrdup("emulator")
               : role == THREAD_VHOST  ? xstrdup("vhost")
                                       : xasprintf("%s%d", role == THREAD_VCPU ? "vcpu" : "iothread", index);
    gs->g[gs->n++] = (CgroupGroup){ name, role, role == THREAD_EMULATOR ? -1 : index, cpus };
}

static bool group_has(const CgroupGroups *gs, ThreadRole role, int index) {
    for (size_t i = 0; i < gs->n; i++)
        if (gs->g[i].role == role && gs->g[i].index == index) return true;
    return false;
}

void cgroup_groups_from_config(const VmConfig *cfg, CgroupGroups *out) {
    memset(out, 0, sizeof(*out));
    const CpuSection *cpu = &cfg->cpu;
    group_add(out, THREAD_EMULATOR, -1, cpu->emulator.kind == CPUSPEC_LIST ? cpulist_copy(&cpu->emulator.list) : (CpuList){ NULL, 0 });
    for (int64_t i = 0; i < cfg->vm.vcpus; i++) group_add(out, THREAD_VCPU, (int)i, placement_vcpu_cpus(cfg, (size_t)i));
    int k = 0;
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (cfg->disks[i].iothread)
            group_add(out, THREAD_IOTHREAD, k++, cpu->iothreads.kind == CPUSPEC_LIST ? cpulist_copy(&cpu->iothreads.list) : (CpuList){ NULL, 0 });
}

static int cmp_group(const void *a, const void *b) {
    const CgroupGroup *x = a, *y = b;
    /* emulator, then vCPUs, then I/O threads, each by number, then vhost */
    static const int rank[] = { [THREAD_EMULATOR] = 0, [THREAD_VCPU] = 1, [THREAD_IOTHREAD] = 2, [THREAD_VHOST] = 3 };
    int rx = rank[x->role], ry = rank[y->role];
    if (rx != ry) return rx - ry;
    return (x->index > y->index) - (x->index < y->index);
}

void cgroup_groups_from_placement(const Placement *p, CgroupGroups *out) {
    memset(out, 0, sizeof(*out));
    CpuList emu = { NULL, 0 };
    for (size_t i = 0; i < p->n; i++) {
        const ThreadPlace *t = &p->t[i];
        if (t->role == THREAD_EMULATOR) {
            if (!emu.n && t->cpus.n) emu = cpulist_copy(&t->cpus);
        } else if (!group_has(out, t->role, t->index)) {
            group_add(out, t->role, t->index, cpulist_copy(&t->cpus));
        }
    }
    group_add(out, THREAD_EMULATOR, -1, emu);
    qsort(out->g, out->n, sizeof(*out->g), cmp_group);
}

void cgroup_groups_free(CgroupGroups *gs) {
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->g[i].name);
        cpulist_free(&gs->g[i].cpus);
    }
    free(gs->g);
    memset(gs, 0, sizeof(*gs));
}

/* ---- the plan ---- */

static void op_add(CgroupPlan *p, CgroupOpKind kind, char *path, char *value, size_t group, unsigned flags) {
    p->op = xrealloc(p->op, (p->n + 1) * sizeof(*p->op));
    p->op[p->n++] = (CgroupOp){ kind, path, value, group, flags };
}

static void op_file(CgroupPlan *p, CgroupOpKind kind, const char *dir, const char *file, char *value, unsigned flags) {
    op_add(p, kind, cg_path_join(dir, file), value, 0, flags);
}

static void plan_cpuset(CgroupPlan *p, const CgroupLayout *l, const char *dir, char *cpus, char *mems, unsigned flags) {
    _cleanup_free_ char *fc = cg_cpuset_file(l->version, l->noprefix, "cpus"), *fm = cg_cpuset_file(l->version, l->noprefix, "mems");
    /* v1 needs both before a task may join; the order is libvirt's. */
    op_file(p, CGROUP_OP_WRITE, dir, fm, mems, flags);
    op_file(p, CGROUP_OP_WRITE, dir, fc, cpus, flags);
}

int cgroup_plan_vm(const CgroupLayout *l, const VmConfig *cfg, const CgroupGroups *groups, CgroupPlan *out) {
    memset(out, 0, sizeof(*out));
    if (l->version == CGROUP_NONE) return -EOPNOTSUPP;
    if (!cg_name_ok(cfg->vm.name)) return -EINVAL;
    size_t emu = groups->n;
    for (size_t i = 0; i < groups->n; i++)
        if (groups->g[i].role == THREAD_EMULATOR) emu = i;
    if (emu == groups->n) return -EINVAL;

    bool v2 = l->version == CGROUP_V2;
    out->top = cg_path_join(l->base, CGROUP_TOP);
    out->dir = cg_path_join(out->top, cfg->vm.name);
    if (v2) op_file(out, CGROUP_OP_ENABLE, l->base, "cgroup.subtree_control", xstrdup("+cpuset"), 0);
    op_add(out, CGROUP_OP_MKDIR, xstrdup(out->top), NULL, 0, CGROUP_OP_SHARED);
    if (v2) op_file(out, CGROUP_OP_ENABLE, out->top, "cgroup.subtree_control", xstrdup("+cpuset"), CGROUP_OP_SHARED);
    else plan_cpuset(out, l, out->top, cpulist_format(&l->cpus), cpulist_format(&l->mems), CGROUP_OP_SHARED);
    op_add(out, CGROUP_OP_MKDIR, xstrdup(out->dir), NULL, 0, 0);
    if (v2) op_file(out, CGROUP_OP_ENABLE, out->dir, "cgroup.subtree_control", xstrdup("+cpuset"), 0);
    else plan_cpuset(out, l, out->dir, cpulist_format(&l->cpus), cpulist_format(&l->mems), 0);

    for (size_t i = 0; i < groups->n; i++) {
        const CgroupGroup *g = &groups->g[i];
        _cleanup_free_ char *dir = cg_path_join(out->dir, g->name);
        op_add(out, CGROUP_OP_MKDIR, xstrdup(dir), NULL, 0, 0);
        if (v2) op_file(out, CGROUP_OP_WRITE, dir, "cgroup.type", xstrdup("threaded"), 0);
        plan_cpuset(out, l, dir, cg_cpus_text(&g->cpus, &l->cpus), cg_cpus_text(&cfg->memory.nodes, &l->mems), 0);
    }
    /* The whole process first, so threads QEMU started after the Placement
     * was made land in emulator too; then one thread at a time. */
    _cleanup_free_ char *emu_dir = cg_path_join(out->dir, groups->g[emu].name);
    op_add(out, CGROUP_OP_ATTACH, cg_path_join(emu_dir, "cgroup.procs"), NULL, emu, 0);
    for (size_t i = 0; i < groups->n; i++) {
        if (i == emu) continue;
        _cleanup_free_ char *dir = cg_path_join(out->dir, groups->g[i].name);
        op_add(out, CGROUP_OP_ATTACH, cg_path_join(dir, v2 ? "cgroup.threads" : "tasks"), NULL, i, 0);
    }
    return 0;
}

char *cgroup_plan_render(const CgroupPlan *plan, const CgroupGroups *groups) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) die_oom();
    for (size_t i = 0; i < plan->n; i++) {
        const CgroupOp *op = &plan->op[i];
        bool shared = op->flags & CGROUP_OP_SHARED;
        switch (op->kind) {
        case CGROUP_OP_MKDIR: fprintf(f, "mkdir %s%s\n", op->path, shared ? " (unless it exists)" : ""); break;
        case CGROUP_OP_ENABLE: fprintf(f, "%s: %s (unless listed)\n", op->path, op->value); break;
        case CGROUP_OP_WRITE: fprintf(f, "%s: %s%s\n", op->path, op->value, shared ? " (when empty)" : ""); break;
        case CGROUP_OP_ATTACH:
            if (groups->g[op->group].role == THREAD_EMULATOR) fprintf(f, "%s: <QEMU's pid>\n", op->path);
            else fprintf(f, "%s: <thread id of %s>\n", op->path, groups->g[op->group].name);
            break;
        }
    }
    fclose(f);
    return buf;
}

void cgroup_plan_free(CgroupPlan *plan) {
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->op[i].path);
        free(plan->op[i].value);
    }
    free(plan->op);
    free(plan->top);
    free(plan->dir);
    memset(plan, 0, sizeof(*plan));
}
