/* Who else uses a VM's CPUs (include/cpuuse.h). */
#include "cpuuse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostnic.h"
#include "kfiles.h"
#include "util.h"

static void hit_add(CpuIrqHits *h, int cpu, int irq, const char *dev, const char *name) {
    h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
    h->v[h->n++] = (CpuIrqHit){ cpu, irq, xstrdup(dev), xstrdup(name ? name : "") };
}

static int by_cpu(const void *a, const void *b) {
    const CpuIrqHit *x = a, *y = b;
    if (x->cpu != y->cpu) return x->cpu - y->cpu;
    int d = strcmp(x->dev, y->dev);
    return d ? d : x->irq - y->irq;
}

static bool covers(const CpuList *l, const CpuList *all) {
    for (size_t i = 0; i < all->n; i++)
        if (!cpulist_contains(l, all->cpu[i])) return false;
    return all->n > 0;
}

/* Where IRQ goes: effective_affinity_list; else smp_affinity_list, unless
 * that is every online CPU (ONLINE), the default, which says nothing of
 * where the kernel delivers it. */
static int irq_targets(const HostRoot *hr, int irq, const CpuList *online, CpuList *out) {
    static const char *const files[] = { "effective_affinity_list", "smp_affinity_list" };
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        _cleanup_free_ char *path = xasprintf("/proc/irq/%d/%s", irq, files[i]), *text = NULL;
        if (hostroot_read(hr, path, &text) < 0) continue;
        *out = (CpuList){ 0 };
        if (kfile_parse_cpulist(text, out) == 0 && out->n && (i == 0 || !covers(out, online))) return 0;
        cpulist_free(out);
        if (i == 0) break; /* an effective list that does not parse: the other says no more */
    }
    return -ENOENT;
}

int cpuuse_nic_irq_hits(const HostRoot *hr, const CpuList *cpus, CpuIrqHits *out) {
    memset(out, 0, sizeof(*out));
    StrVec devs = STRVEC_INIT;
    int r = hostroot_list(hr, "/sys/class/net", false, &devs);
    if (r < 0) return r;
    _cleanup_free_ char *ot = NULL;
    CpuList online = { 0 };
    if (hostroot_read(hr, "/sys/devices/system/cpu/online", &ot) == 0) kfile_parse_cpulist(ot, &online);
    for (size_t d = 0; d < devs.n; d++) {
        if (streq(devs.v[d], "lo")) continue;
        NicFacts f;
        hostnic_probe_dev(hr, devs.v[d], true, &f);
        for (size_t i = 0; i < f.irqs.n; i++) {
            /* A virtio device's config vector fires on a link change, not per packet. */
            const char *nm = f.irqs.v[i].name ? f.irqs.v[i].name : "";
            size_t nl = strlen(nm);
            if (nl >= 7 && streq(nm + nl - 7, "-config")) continue;
            CpuList to;
            if (irq_targets(hr, f.irqs.v[i].irq, &online, &to) < 0) continue;
            for (size_t c = 0; c < cpus->n; c++)
                if (cpulist_contains(&to, cpus->cpu[c])) hit_add(out, cpus->cpu[c], f.irqs.v[i].irq, devs.v[d], f.irqs.v[i].name);
            cpulist_free(&to);
        }
        nicfacts_free(&f);
    }
    strvec_clear(&devs);
    cpulist_free(&online);
    if (out->n) qsort(out->v, out->n, sizeof(*out->v), by_cpu);
    return 0;
}

void cpuuse_hits_free(CpuIrqHits *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].dev);
        free(h->v[i].name);
    }
    free(h->v);
    memset(h, 0, sizeof(*h));
}

/* The "cpuN" line's busy and total jiffies. */
static int cpu_times(const char *stat, int cpu, unsigned long long *busy, unsigned long long *total) {
    char want[24];
    int n = snprintf(want, sizeof(want), "cpu%d ", cpu);
    for (const char *line = stat; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, want, (size_t)n)) continue;
        unsigned long long v[8] = { 0 };
        /* user nice system idle iowait irq softirq steal (guest time is in user already) */
        if (sscanf(line + n, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4) return -EINVAL;
        *total = 0;
        for (int i = 0; i < 8; i++) *total += v[i];
        *busy = *total - v[3] - v[4];
        return 0;
    }
    return -ENOENT;
}

int cpuuse_busy_share(const char *before, const char *after, int cpu, double *share) {
    unsigned long long b0, t0, b1, t1;
    if (!before || !after || cpu_times(before, cpu, &b0, &t0) < 0 || cpu_times(after, cpu, &b1, &t1) < 0 || t1 <= t0 || b1 < b0) return -ENOENT;
    *share = (double)(b1 - b0) / (double)(t1 - t0);
    return 0;
}

int cpuuse_sample(const HostRoot *hr, int ms, char **before, char **after) {
    *before = *after = NULL;
    int r = hostroot_read(hr, "/proc/stat", before);
    if (r < 0) return r;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    r = hostroot_read(hr, "/proc/stat", after);
    if (r < 0) *before = x_free(*before);
    return r;
}
