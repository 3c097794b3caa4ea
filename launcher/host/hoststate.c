/* Reading the host for the plan (hoststate_probe in include/hostplan.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "hostplan.h"
#include "kfiles.h"
#include "util.h"

/* LIST: a file offering words with one in brackets ("always [madvise] never"). */
static void read_knob(const HostRoot *hr, const char *path, bool list, Knob *k) {
    *k = (Knob){ .path = xstrdup(path) };
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) {
        k->error = r;
        return;
    }
    if (list) {
        StrVec offered = STRVEC_INIT;
        char *sel = NULL;
        r = kfile_parse_selected(text, &sel, &offered);
        if (r < 0) {
            strvec_clear(&offered);
            k->error = r;
            return;
        }
        k->value = sel;
        k->offered = strvec_detach(&offered);
        return;
    }
    text[strcspn(text, "\n")] = '\0';
    k->value = TAKE_PTR(text);
}

int knob_read_value(const HostRoot *hr, const char *path, char **value) {
    _cleanup_free_ char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) return r;
    if (!strchr(text, '[')) {
        text[strcspn(text, "\n")] = '\0';
        *value = TAKE_PTR(text);
        return 0;
    }
    StrVec offered = STRVEC_INIT;
    r = kfile_parse_selected(text, value, &offered);
    strvec_clear(&offered);
    return r;
}

static void free_knob(Knob *k) {
    free(k->path);
    free(k->value);
    strv_free(k->offered);
    memset(k, 0, sizeof(*k));
}

/* The scheduler file of the whole disk that holds FILE: its device number
 * names /sys/dev/block/MAJ:MIN, a partition's parent is the disk. */
static void probe_disk_scheduler(const HostRoot *hr, const char *file, Knob *k) {
    struct stat st;
    memset(k, 0, sizeof(*k));
    if (stat(file, &st) < 0) {
        k->error = -errno;
        return;
    }
    dev_t dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
    if (major(dev) == 0) {
        k->error = -ENODEV; /* tmpfs, overlay, NFS: no block device */
        return;
    }
    _cleanup_free_ char *base = xasprintf("/sys/dev/block/%u:%u", major(dev), minor(dev));
    _cleanup_free_ char *part = xasprintf("%s/partition", base);
    _cleanup_free_ char *path = xasprintf("%s%s/queue/scheduler", base, hostroot_exists(hr, part) ? "/.." : "");
    read_knob(hr, path, true, k);
}

void hoststate_probe(const HostRoot *hr, const VmConfig *cfg, HostState *st) {
    memset(st, 0, sizeof(*st));
    read_knob(hr, "/sys/kernel/mm/transparent_hugepage/enabled", true, &st->thp);
    read_knob(hr, "/sys/kernel/mm/transparent_hugepage/defrag", true, &st->thp_defrag);
    read_knob(hr, "/sys/kernel/mm/ksm/run", false, &st->ksm_run);
    read_knob(hr, "/sys/kernel/mm/ksm/merge_across_nodes", false, &st->ksm_merge);
    read_knob(hr, "/sys/kernel/mm/ksm/pages_to_scan", false, &st->ksm_pages);
    read_knob(hr, "/sys/kernel/mm/ksm/sleep_millisecs", false, &st->ksm_sleep);
    read_knob(hr, "/proc/sys/vm/zone_reclaim_mode", false, &st->zone_reclaim);

    _cleanup_free_ char *online = NULL, *mem = NULL;
    if (hostroot_read(hr, "/sys/devices/system/node/online", &online) == 0 && kfile_parse_cpulist(online, &st->nodes_online) == 0) {
        st->nodes_known = true;
        if (hostroot_read(hr, "/sys/devices/system/node/has_memory", &mem) < 0 || kfile_parse_cpulist(mem, &st->nodes_with_memory) < 0)
            st->nodes_with_memory = cpulist_copy(&st->nodes_online);
    }

    const MemorySection *m = &cfg->memory;
    if (m->backing == BACKING_HUGEPAGES && m->hugepage_path && hostroot_read(hr, "/proc/mounts", &st->mounts) == 0) {
        /* The default huge page size, for a mount without pagesize=. */
        _cleanup_free_ char *meminfo = NULL;
        uint64_t dflt_kb = 2048;
        if (hostroot_read(hr, "/proc/meminfo", &meminfo) == 0) kfile_parse_meminfo(meminfo, "Hugepagesize", &dflt_kb);
        /* The first matching mount is kept for messages; hugepage-path may be
         * any of them, so look on past mounts that are not it. */
        const char *text = st->mounts;
        char *mp = NULL;
        while (kfile_find_hugetlbfs(text, m->hugepage_size, dflt_kb << 10, &mp) == 0) {
            if (!st->hugetlbfs_mount || streq(mp, m->hugepage_path)) {
                free(st->hugetlbfs_mount);
                st->hugetlbfs_mount = mp;
            } else {
                free(mp);
            }
            if (streq(st->hugetlbfs_mount, m->hugepage_path)) break;
            /* Next line after the one that matched. */
            const char *at = strstr(text, " hugetlbfs ");
            const char *nl = at ? strchr(at, '\n') : NULL;
            if (!nl) break;
            text = nl + 1;
            mp = NULL;
        }
    }
    if (m->backing == BACKING_HUGEPAGES) {
        size_t n = m->nodes.n ? m->nodes.n : 1;
        st->pools = xcalloc(n, sizeof(HugePool));
        st->n_pools = n;
        uint64_t kb = m->hugepage_size >> 10;
        for (size_t i = 0; i < n; i++) {
            HugePool *p = &st->pools[i];
            p->node = m->nodes.n ? m->nodes.cpu[i] : -1;
            _cleanup_free_ char *dir = p->node >= 0 ? xasprintf("/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB", p->node, kb)
                                                    : xasprintf("/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB", kb);
            _cleanup_free_ char *nr = xasprintf("%s/nr_hugepages", dir), *fr = xasprintf("%s/free_hugepages", dir);
            read_knob(hr, nr, false, &p->nr);
            Knob f;
            read_knob(hr, fr, false, &f);
            p->free = f.value ? strtoull(f.value, NULL, 10) : 0;
            free_knob(&f);
        }
    }
    st->n_disks = cfg->n_disks;
    st->disk_sched = xcalloc(cfg->n_disks ? cfg->n_disks : 1, sizeof(Knob));
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (cfg->disks[i].scheduler != IOSCHED_KEEP) probe_disk_scheduler(hr, cfg->disks[i].file, &st->disk_sched[i]);
}

void hoststate_free(HostState *st) {
    Knob *knobs[] = { &st->thp, &st->thp_defrag, &st->ksm_run, &st->ksm_merge, &st->ksm_pages, &st->ksm_sleep, &st->zone_reclaim };
    for (size_t i = 0; i < ELEMENTSOF(knobs); i++) free_knob(knobs[i]);
    for (size_t i = 0; i < st->n_pools; i++) free_knob(&st->pools[i].nr);
    free(st->pools);
    for (size_t i = 0; i < st->n_disks; i++) free_knob(&st->disk_sched[i]);
    free(st->disk_sched);
    free(st->hugetlbfs_mount);
    free(st->mounts);
    cpulist_free(&st->nodes_online);
    cpulist_free(&st->nodes_with_memory);
    memset(st, 0, sizeof(*st));
}
