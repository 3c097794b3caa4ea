/* The host plan (include/hostplan.h): pure, from VmConfig and HostState. */
#include "hostplan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "strvec.h"
#include "util.h"

typedef struct Planner {
    const VmConfig *cfg;
    HostPlan *plan;
    ErrList *errors, *notes;
} Planner;

/* An error about one key, worded with its file:line. */
#define plan_error(p, ...) errlist_add_key((p)->errors, (p)->cfg->path, __VA_ARGS__)

HostChange *hostplan_add(HostPlan *plan, const char *path, const char *old, const char *new, const char *why) {
    plan->c = xrealloc(plan->c, (plan->n + 1) * sizeof(HostChange));
    HostChange *c = &plan->c[plan->n++];
    *c = (HostChange){ .path = xstrdup(path), .old = xstrdup(old ? old : ""), .new = xstrdup(new), .why = xstrdup(why) };
    return c;
}

static bool offered(const Knob *k, const char *word) {
    if (!k->offered) return true;
    for (char **w = k->offered; *w; w++)
        if (streq(*w, word)) return true;
    return false;
}

static char *offered_list(const Knob *k) {
    size_t len = 1;
    for (char **w = k->offered; w && *w; w++) len += strlen(*w) + 2;
    char *s = xcalloc(1, len);
    for (char **w = k->offered; w && *w; w++) {
        if (w != k->offered) strcat(s, ", ");
        strcat(s, *w);
    }
    return s;
}

/* A knob set to WANT: nothing when it already is, an error when the kernel
 * lacks the file or the word. */
static HostChange *plan_knob(Planner *p, const Knob *k, SectionKind kind, const SectionHead *head, const char *key, const char *want,
                             const char *why) {
    if (!k->value) {
        plan_error(p, kind, head, key, "expected %s to exist on this host, found none (%s)", k->path ? k->path : "its kernel file",
                   k->error ? strerror(-k->error) : "not found");
        return NULL;
    }
    if (!offered(k, want)) {
        _cleanup_free_ char *list = offered_list(k);
        plan_error(p, kind, head, key, "expected a value this kernel offers in %s (%s), found %s", k->path, list, want);
        return NULL;
    }
    /* Already so: still planned, so this VM is counted among those relying
     * on the value and another VM's exit or wish cannot change it under
     * us; writing it is harmless. */
    HostChange *c = hostplan_add(p->plan, k->path, k->value, want, why);
    c->already = streq(k->value, want);
    return c;
}

/* The [host] knobs. */
static void plan_host_knobs(Planner *p, const HostState *st) {
    const HostSection *h = &p->cfg->host;
    const SectionHead *hd = &h->head;
    /* vm.ini's words for thp, thp-defrag and a disk's scheduler are the
     * kernel's own: the schema's tables spell what is written there. */
    if (h->thp != THP_KEEP) plan_knob(p, &st->thp, SECTION_HOST, hd, "thp", thp_mode_to_string(h->thp), "[host] thp (seed: THP modes)");
    if (h->thp_defrag != THP_DEFRAG_KEEP)
        plan_knob(p, &st->thp_defrag, SECTION_HOST, hd, "thp-defrag", thp_defrag_to_string(h->thp_defrag), "[host] thp-defrag");
    if (h->ksm_merge_across_nodes != TRISTATE_UNSET) {
        /* The kernel takes a new merge_across_nodes only while no pages are
         * merged: run = 2 unmerges them first (and again on restore). */
        HostChange *c = plan_knob(p, &st->ksm_merge, SECTION_HOST, hd, "ksm-merge-across-nodes", h->ksm_merge_across_nodes ? "1" : "0",
                                  "[host] ksm-merge-across-nodes (seed: KSM for NUMA)");
        if (c) {
            c->prep_path = xstrdup(st->ksm_run.path);
            c->prep_value = xstrdup("2");
        }
    }
    if (h->ksm != TRISTATE_UNSET) plan_knob(p, &st->ksm_run, SECTION_HOST, hd, "ksm", h->ksm ? "1" : "0", "[host] ksm (seed: KSM run)");
    char num[32];
    if (h->ksm_pages_to_scan >= 0) {
        snprintf(num, sizeof(num), "%" PRId64, h->ksm_pages_to_scan);
        plan_knob(p, &st->ksm_pages, SECTION_HOST, hd, "ksm-pages-to-scan", num, "[host] ksm-pages-to-scan");
    }
    if (h->ksm_sleep_ms >= 0) {
        snprintf(num, sizeof(num), "%" PRId64, h->ksm_sleep_ms);
        plan_knob(p, &st->ksm_sleep, SECTION_HOST, hd, "ksm-sleep-ms", num, "[host] ksm-sleep-ms");
    }
    if (h->zone_reclaim != TRISTATE_UNSET)
        plan_knob(p, &st->zone_reclaim, SECTION_HOST, hd, "zone-reclaim", h->zone_reclaim ? "1" : "0", "[host] zone-reclaim (seed: NUMA reclaim)");
}

/* The NUMA nodes memory is bound to exist and have memory; hugepage-path
 * must be a hugetlbfs mount of the page size asked for. */
static void plan_memory_checks(Planner *p, const HostState *st) {
    const MemorySection *m = &p->cfg->memory;
    for (size_t i = 0; i < m->nodes.n && st->nodes_known; i++) {
        int node = m->nodes.cpu[i];
        _cleanup_free_ char *have = cpulist_format(&st->nodes_online);
        if (!cpulist_contains(&st->nodes_online, node)) {
            plan_error(p, SECTION_MEMORY, &m->head, "nodes", "expected NUMA nodes this host has (%s), found node %d", have, node);
            break;
        }
        if (!cpulist_contains(&st->nodes_with_memory, node)) {
            plan_error(p, SECTION_MEMORY, &m->head, "nodes", "expected nodes with memory, found node %d without any (a CPU-only node)", node);
            break;
        }
    }
    if (m->backing == BACKING_HUGEPAGES && m->hugepage_path && st->mounts) {
        _cleanup_free_ char *hp = size_format(m->hugepage_size);
        if (!st->hugetlbfs_mount)
            plan_error(p, SECTION_MEMORY, &m->head, "hugepage-path", "expected a hugetlbfs mount of %s pages, found none in /proc/mounts", hp);
        else if (!streq(st->hugetlbfs_mount, m->hugepage_path))
            plan_error(p, SECTION_MEMORY, &m->head, "hugepage-path", "expected a hugetlbfs mount of %s pages, found %s is none (%s is)",
                       hp, m->hugepage_path, st->hugetlbfs_mount);
    }
}

/* Huge pages: enough free on the nodes, or reserve the difference. */
static void plan_hugepages(Planner *p, const HostState *st) {
    const MemorySection *m = &p->cfg->memory;
    char num[32];
    if (m->backing == BACKING_HUGEPAGES && st->n_pools) {
        uint64_t pages = p->cfg->vm.memory / m->hugepage_size;
        _cleanup_free_ char *hp = size_format(m->hugepage_size);
        for (size_t i = 0; i < st->n_pools; i++) {
            const HugePool *pool = &st->pools[i];
            /* Each node carries its share; the first takes the remainder. */
            uint64_t share = pages / st->n_pools + (i == 0 ? pages % st->n_pools : 0);
            char where[32] = "this host";
            if (pool->node >= 0) snprintf(where, sizeof(where), "node %d", pool->node);
            if (!pool->nr.value) {
                plan_error(p, SECTION_MEMORY, &m->head, "hugepage-size", "expected %s huge pages on %s, found no pool (%s)", hp, where,
                           pool->nr.path);
                continue;
            }
            if (pool->free >= share) continue;
            uint64_t missing = share - pool->free;
            if (!m->reserve_hugepages) {
                plan_error(p, SECTION_MEMORY, &m->head, "backing",
                           "expected %" PRIu64 " free %s huge pages on %s, found %" PRIu64 " (set reserve-hugepages = yes, or raise %s by %" PRIu64 ")",
                           share, hp, where, pool->free, pool->nr.path, missing);
                continue;
            }
            uint64_t nr = strtoull(pool->nr.value, NULL, 10);
            snprintf(num, sizeof(num), "%" PRIu64, nr + missing);
            _cleanup_free_ char *why = xasprintf("[memory] reserve-hugepages: %" PRIu64 " more %s pages on %s", missing, hp, where);
            HostChange *c = hostplan_add(p->plan, pool->nr.path, pool->nr.value, num, why);
            c->additive = true;
            c->add = missing;
        }
    }
}

/* I/O schedulers of the disks that hold the images. */
static void plan_disk_schedulers(Planner *p, const HostState *st) {
    const VmConfig *cfg = p->cfg;
    for (size_t i = 0; i < cfg->n_disks && i < st->n_disks; i++) {
        const DiskSection *d = &cfg->disks[i];
        if (d->scheduler == IOSCHED_KEEP) continue;
        const Knob *k = &st->disk_sched[i];
        if (!k->path && k->error == -ENOENT) {
            /* Not there yet (a --dry-run of a VM to be): said, not fatal; a
             * run refuses a missing disk before it plans. */
            errlist_add_key(p->notes, cfg->path, SECTION_DISK, &d->head, "scheduler", "%s does not exist: its disk's scheduler cannot be planned",
                            d->file);
            continue;
        }
        if (!k->path) {
            plan_error(p, SECTION_DISK, &d->head, "scheduler", "expected %s on a block device to set the scheduler of, found none (%s)",
                       d->file, k->error ? strerror(-k->error) : "no device");
            continue;
        }
        _cleanup_free_ char *why = xasprintf("[disk \"%s\"] scheduler (seed: I/O scheduler)", d->head.id);
        plan_knob(p, k, SECTION_DISK, &d->head, "scheduler", io_scheduler_to_string(d->scheduler), why);
    }
}

int hostplan_build(const VmConfig *cfg, const HostState *st, HostPlan *plan, ErrList *errors, ErrList *notes) {
    Planner p = { cfg, plan, errors, notes };
    memset(plan, 0, sizeof(*plan));
    size_t before = errors->n;
    plan_host_knobs(&p, st);
    plan_memory_checks(&p, st);
    plan_hugepages(&p, st);
    plan_disk_schedulers(&p, st);
    errlist_sort(errors);
    return errors->n > before ? -EINVAL : 0;
}

void hostplan_free(HostPlan *plan) {
    for (size_t i = 0; i < plan->n; i++) {
        HostChange *c = &plan->c[i];
        free(c->path);
        free(c->old);
        free(c->new);
        free(c->why);
        free(c->prep_path);
        free(c->prep_value);
    }
    free(plan->c);
    memset(plan, 0, sizeof(*plan));
}

char *hostplan_render(const HostPlan *plan) {
    StrVec lines = STRVEC_INIT;
    if (!plan->n) strvec_push(&lines, "# host plan: nothing to change\n");
    else strvec_push(&lines, "# host plan (each value is put back when the VM ends):\n");
    for (size_t i = 0; i < plan->n; i++) {
        const HostChange *c = &plan->c[i];
        if (c->prep_path) strvec_pushf(&lines, "#   %s: %s first, and again before it is put back\n", c->prep_path, c->prep_value);
        if (c->already) strvec_pushf(&lines, "#   %s: %s already, held while the VM runs   (%s)\n", c->path, c->new, c->why);
        else strvec_pushf(&lines, "#   %s: %s -> %s   (%s)\n", c->path, c->old, c->new, c->why);
    }
    size_t len = 1;
    for (size_t i = 0; i < lines.n; i++) len += strlen(lines.v[i]);
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < lines.n; i++) strcat(out, lines.v[i]);
    strvec_clear(&lines);
    return out;
}
