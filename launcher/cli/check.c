/* `kvmlaunch check` and the checks a run makes first (include/check.h). */
#include "check.h"
#include "boottime.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admission.h"
#include "caller.h"
#include "cloudinit.h"
#include "cpuuse.h"
#include "firmware.h"
#include "netforward.h"
#include "placement.h"
#include "schema.h"
#include "seriallog.h"
#include "machinetype.h"
#include "statedir.h"
#include "share.h"
#include "spawn.h"
#include "tpm.h"
#include "tap.h"
#include "util.h"
#include "userdb.h"

static void add(CheckReport *r, CheckLevel level, const char *topic, char *msg) {
    r->v = xrealloc(r->v, (r->n + 1) * sizeof(CheckItem));
    r->v[r->n++] = (CheckItem){ level, topic, msg };
    if (level == CHECK_FAIL) r->fails++;
    if (level == CHECK_WARN) r->warns++;
}

static void addf(CheckReport *r, CheckLevel level, const char *topic, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void addf(CheckReport *r, CheckLevel level, const char *topic, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    add(r, level, topic, msg);
}

/* A line about a key, "FILE:LINE: [section] key: ...", as errors read. */
static void add_key(CheckReport *r, CheckLevel level, const char *topic, const VmConfig *cfg, SectionKind kind, const SectionHead *head,
                    const char *key, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static void add_key(CheckReport *r, CheckLevel level, const char *topic, const VmConfig *cfg, SectionKind kind, const SectionHead *head,
                    const char *key, const char *fmt, ...) {
    ErrList el = { 0 };
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(&el, cfg->path, kind, head, key, fmt, ap);
    va_end(ap);
    add(r, level, topic, TAKE_PTR(el.e[0].msg));
    errlist_clear(&el);
}

const char *check_topic_of(const ErrEntry *e) {
    static const struct { const char *section, *key, *topic; } map[] = {
        { "cpu", NULL, "cpus" },
        { "memory", "nodes", "nodes" },    { "memory", "policy", "nodes" }, { "memory", "migrate", "nodes" },
        { "memory", "share", "shares" },
        { "memory", NULL, "hugepages" },
        { "vm", "accel", "kvm" },          { "vm", "qemu", "qemu" },        { "vm", "user", "user" },
        { "net", "vhost", "vhost" },       { "net", NULL, "network" },
        { "disk", "cache", "cache" },      { "disk", "aio", "cache" },      { "disk", "scheduler", "iosched" },
        { "disk", NULL, "disks" },
        { "hostnic", NULL, "hostnic" },
        { "share", NULL, "shares" },
        { "host", NULL, "host" },
        { "tpm", NULL, "tpm" },
    };
    if (!e->section) return "plan";
    for (size_t i = 0; i < ELEMENTSOF(map); i++) {
        if (!streq(map[i].section, e->section)) continue;
        /* A NULL key takes every message about the section not taken above. */
        if (!map[i].key || (e->key && streq(map[i].key, e->key))) return map[i].topic;
    }
    return "plan";
}

/* The plan's errors and notes about TOPIC as FAIL and WARN lines; how many. */
static size_t add_plan_lines(CheckReport *r, const VmPlan *p, const char *topic) {
    size_t n = 0;
    for (size_t i = 0; i < p->errors.n; i++)
        if (streq(check_topic_of(&p->errors.e[i]), topic)) add(r, CHECK_FAIL, topic, xstrdup(p->errors.e[i].msg)), n++;
    for (size_t i = 0; i < p->notes.n; i++)
        if (streq(check_topic_of(&p->notes.e[i]), topic)) add(r, CHECK_WARN, topic, xstrdup(p->notes.e[i].msg)), n++;
    return n;
}

/* Issue 22: a CPU outside what kvmlaunch was given (its affinity, its
 * cpuset cgroup) would take the VM out of its scheduler's allocation. */
static bool check_cpu_allowed(CheckReport *r, const VmConfig *cfg, const AllocFacts *a, const char *key, int line, int c) {
    if (!a->cpus_known || cpulist_contains(&a->cpus, c)) return true;
    _cleanup_free_ char *have = cpulist_format(&a->cpus);
    addf(r, CHECK_FAIL, "cpus", "%s:%d: [cpu] %s: expected CPUs kvmlaunch may use (%s: %s), found CPU %d", cfg->path, line, key,
         a->cpus.n ? have : "none", a->cpus_from, c);
    return false;
}

/* [memory] nodes outside the nodes kvmlaunch may use fail; the allocation
 * itself is said once. */
static void check_allocation(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const AllocFacts *a = &p->facts.alloc;
    const CpuList *nodes = &cfg->memory.nodes;
    for (size_t i = 0; a->mems_known && i < nodes->n; i++) {
        if (cpulist_contains(&a->mems, nodes->cpu[i])) continue;
        _cleanup_free_ char *have = cpulist_format(&a->mems);
        addf(r, CHECK_FAIL, "memory", "%s:%d: [memory] nodes: expected memory nodes kvmlaunch may use (%s: %s), found node %d", cfg->path,
             section_key_line(SECTION_MEMORY, &cfg->memory.head, "nodes"), a->mems.n ? have : "none", a->mems_from, nodes->cpu[i]);
        break;
    }
    if (a->cpus_known || a->mems_known) {
        _cleanup_free_ char *d = allocfacts_describe(a);
        addf(r, CHECK_PASS, "cpus", "allocation: %s", d);
    }
}

/* CPUs of one key that this host lacks or another VM's vCPUs hold. LINE is
 * the key's line: vcpu.N is no key of the schema table, so the usual lookup
 * by name (section_key_line) cannot find it. */
static bool check_cpu_list(CheckReport *r, const VmConfig *cfg, const VmPlan *p, const CpuList *online, const char *key, int line,
                           const CpuList *l, bool vcpus) {
    _cleanup_free_ char *have = cpulist_format(online);
    for (size_t i = 0; i < l->n; i++) {
        int c = l->cpu[i];
        if (!cpulist_contains(online, c)) {
            addf(r, CHECK_FAIL, "cpus", "%s:%d: [cpu] %s: expected CPUs this host has online (%s), found CPU %d", cfg->path, line, key, have, c);
            return false;
        }
        if (!check_cpu_allowed(r, cfg, &p->facts.alloc, key, line, c)) return false;
        const char *holder = vcpus ? cpuclaims_holder(&p->claims, c, cfg->vm.name) : NULL;
        if (holder) {
            addf(r, CHECK_FAIL, "cpus", "%s:%d: [cpu] %s: CPU %d is pinned by the running VM %s; choose CPUs no other VM holds, or pin = auto",
                 cfg->path, line, key, c, holder);
            return false;
        }
    }
    return true;
}

static CpuList online_cpus(const VmPlan *p) {
    if (p->topo_known) return cpulist_copy(&p->topo.online);
    cpu_set_t set;
    CpuList l = { 0 };
    if (sched_getaffinity(0, sizeof(set), &set) < 0) return l;
    l.cpu = xcalloc(CPU_SETSIZE, sizeof(int));
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) l.cpu[l.n++] = c;
    return l;
}

/* vCPUs that share a CPU ([cpu] pin may repeat one, vcpu.N may overlap):
 * allowed, and a small host's everyday case, but each of them runs only
 * while the others on its CPU wait, which a guest cannot see. */
static void check_cpus_shared(CheckReport *r, const VmConfig *cfg) {
    const CpuSection *cpu = &cfg->cpu;
    size_t n = (size_t)cfg->vm.vcpus;
    CpuList *of = xcalloc(n ? n : 1, sizeof(CpuList));
    int top = -1;
    for (size_t i = 0; i < n; i++) {
        of[i] = placement_vcpu_cpus(cfg, i);
        for (size_t j = 0; j < of[i].n; j++) top = of[i].cpu[j] > top ? of[i].cpu[j] : top;
    }
    _cleanup_free_ char *text = xstrdup("");
    size_t shared = 0;
    for (int c = 0; c <= top && shared < 8; c++) {
        char *who = NULL;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!cpulist_contains(&of[i], c)) continue;
            char *next = xasprintf("%s%s%zu", who ? who : "", who ? ", " : "", i);
            free(who);
            who = next;
            k++;
        }
        if (k > 1) {
            char *next = xasprintf("%s%svCPUs %s on CPU %d", text, *text ? "; " : "", who, c);
            free(text);
            text = next;
            shared++;
        }
        free(who);
    }
    for (size_t i = 0; i < n; i++) cpulist_free(&of[i]);
    free(of);
    if (shared)
        add_key(r, CHECK_WARN, "cpus", cfg, SECTION_CPU, &cpu->head, "pin",
                "vCPUs share a CPU (%s): each runs only while the others there wait; give each vCPU a CPU of its own where the host has enough",
                text);
}

static void check_cpus(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const CpuSection *cpu = &cfg->cpu;
    size_t before = r->fails;
    add_plan_lines(r, p, "cpus");
    CpuList online = online_cpus(p);
    bool ok = r->fails == before;
    const SectionHead *h = &cpu->head;
    if (cpu->pin.kind == CPUSPEC_LIST)
        ok &= check_cpu_list(r, cfg, p, &online, "pin", section_key_line(SECTION_CPU, h, "pin"), &cpu->pin.list, true);
    if (cpu->emulator.kind == CPUSPEC_LIST)
        ok &= check_cpu_list(r, cfg, p, &online, "emulator", section_key_line(SECTION_CPU, h, "emulator"), &cpu->emulator.list, false);
    if (cpu->iothreads.kind == CPUSPEC_LIST)
        ok &= check_cpu_list(r, cfg, p, &online, "iothreads", section_key_line(SECTION_CPU, h, "iothreads"), &cpu->iothreads.list, false);
    for (size_t i = 0; i < cpu->n_vcpu_override; i++) {
        if (!cpu->vcpu_override_line[i]) continue;
        char key[32];
        snprintf(key, sizeof(key), "vcpu.%zu", i);
        ok &= check_cpu_list(r, cfg, p, &online, key, cpu->vcpu_override_line[i], &cpu->vcpu_override[i], true);
    }
    cpulist_free(&online);
    if (!ok) return;
    _cleanup_free_ char *pins = cpulist_format(&cpu->pin.list);
    if (p->auto_pin) addf(r, CHECK_PASS, "cpus", "pin = auto: %s", p->choice.why);
    else if (cpu->pin.kind == CPUSPEC_LIST) addf(r, CHECK_PASS, "cpus", "vCPUs pinned to %s: online, pinned by no other running VM", pins);
    else addf(r, CHECK_PASS, "cpus", "pin = none: the %" PRId64 " vCPUs float over every CPU", cfg->vm.vcpus);
    if (cpu->pin.kind == CPUSPEC_LIST || cpu->n_vcpu_override) check_cpus_shared(r, cfg);
}

/* The vCPUs that CPU carries, "vCPU 0" or "vCPUs 0, 2". */
static char *vcpus_on(const VmConfig *cfg, int cpu) {
    char buf[256] = "";
    size_t len = 0, k = 0;
    for (int64_t i = 0; i < cfg->vm.vcpus && len < sizeof(buf); i++) {
        CpuList l = placement_vcpu_cpus(cfg, (size_t)i);
        if (cpulist_contains(&l, cpu)) len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%" PRId64, k++ ? ", " : "", i);
        cpulist_free(&l);
    }
    return xasprintf("vCPU%s %s", k > 1 ? "s" : "", buf);
}

/* The vCPUs' CPUs that something else uses too (include/cpuuse.h): a host
 * NIC's queue interrupts are delivered there, or, for `check` (SAMPLE: a
 * run does not wait CPUUSE_SAMPLE_MS at every start), other tasks keep it
 * busy. Each costs the guest time it does not see (run delay). */
static void check_cpu_neighbours(CheckReport *r, const VmConfig *cfg, const VmPlan *p, bool sample) {
    CpuList all = { 0 };
    for (int64_t i = 0; i < cfg->vm.vcpus; i++) {
        CpuList l = placement_vcpu_cpus(cfg, (size_t)i);
        for (size_t c = 0; c < l.n; c++)
            if (!cpulist_contains(&all, l.cpu[c])) {
                all.cpu = xrealloc(all.cpu, (all.n + 1) * sizeof(int));
                all.cpu[all.n++] = l.cpu[c];
            }
        cpulist_free(&l);
    }
    CpuList cpus = cpulist_sorted(&all);
    cpulist_free(&all);
    if (!cpus.n) return;
    CpuIrqHits hits;
    /* One line per CPU and NIC, naming its IRQs there. */
    if (cpuuse_nic_irq_hits(&p->hr, &cpus, &hits) < 0) hits = (CpuIrqHits){ 0 };
    for (size_t i = 0, j; i < hits.n; i = j) {
        char irqs[512] = "";
        size_t len = 0;
        for (j = i; j < hits.n && hits.v[j].cpu == hits.v[i].cpu && streq(hits.v[j].dev, hits.v[i].dev); j++)
            if (len < sizeof(irqs)) len += (size_t)snprintf(irqs + len, sizeof(irqs) - len, "%s%d %s", j > i ? ", " : "", hits.v[j].irq, hits.v[j].name);
        _cleanup_free_ char *who = vcpus_on(cfg, hits.v[i].cpu);
        addf(r, CHECK_WARN, "cpus",
             "CPU %d (%s) takes interrupts of host NIC %s (IRQ%s %s): each packet there stops the vCPU; pin the vCPU elsewhere or move the "
             "IRQ ([hostnic] irq-cpus)",
             hits.v[i].cpu, who, hits.v[i].dev, j - i > 1 ? "s" : "", irqs);
    }
    cpuuse_hits_free(&hits);
    _cleanup_free_ char *before = NULL, *after = NULL;
    if (sample && cpuuse_sample(&p->hr, CPUUSE_SAMPLE_MS, &before, &after) == 0)
        for (size_t i = 0; i < cpus.n; i++) {
            double share;
            if (cpuuse_busy_share(before, after, cpus.cpu[i], &share) < 0 || share < CPUUSE_BUSY_SHARE) continue;
            _cleanup_free_ char *who = vcpus_on(cfg, cpus.cpu[i]);
            addf(r, CHECK_WARN, "cpus", "CPU %d (%s) was %.0f%% busy with other tasks in a %d ms sample: the vCPU will wait for it; pin it to a quieter CPU",
                 cpus.cpu[i], who, share * 100, CPUUSE_SAMPLE_MS);
        }
    cpulist_free(&cpus);
}

/* A memory figure as people read it: "23.4 GiB", "640 MiB". */
static char *mem_figure(uint64_t bytes) {
    if (bytes >= (uint64_t)1 << 30) return xasprintf("%.1f GiB", (double)bytes / (double)((uint64_t)1 << 30));
    return xasprintf("%" PRIu64 " MiB", (bytes + ((1 << 20) - 1)) >> 20);
}

/* What the other running VMs may still take, by name: "less 1.2 GiB the
 * 2 other running VMs may still take: kla 1.0 GiB, klb 224 MiB". */
static char *others_figure(const PeerVms *peers, uint64_t total, size_t n) {
    if (!n) return xstrdup("no other VM running");
    _cleanup_free_ char *t = mem_figure(total);
    char *s = xasprintf("less %s the %zu other running VM%s may still take:", t, n, n == 1 ? "" : "s");
    size_t shown = 0;
    for (size_t i = 0; i < peers->n; i++) {
        const PeerVm *vm = &peers->v[i];
        if (vm->err || !vm->qemu) continue;
        if (shown++ == 4) {
            char *more = xasprintf("%s, ...", s);
            free(s);
            return more;
        }
        _cleanup_free_ char *f = mem_figure(admission_peer_outstanding(vm));
        char *next = xasprintf("%s%s %s %s", s, shown > 1 ? "," : "", vm->name, f);
        free(s);
        s = next;
    }
    return s;
}

/* Memory admission (include/admission.h): this VM against what the host
 * can give and the other running VMs may still take. */
static void check_memory_admission(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const MemFacts *m = &p->facts.mem;
    uint64_t free_pages = 0;
    for (size_t i = 0; i < p->st.n_pools; i++) free_pages += p->st.pools[i].free;
    bool tcg = cfg->vm.accel == ACCEL_TCG || (cfg->vm.accel == ACCEL_AUTO && !p->facts.kvm_usable);
    MemAsk ask = admission_memory_ask(cfg, tcg, free_pages);
    MemVerdict v;
    admission_memory(&ask, m, &p->peers, &v);
    if (v.level == ADMIT_UNKNOWN) {
        addf(r, CHECK_WARN, "memory", "/proc/meminfo has no MemAvailable: the memory of %s is not counted", cfg->vm.name);
        return;
    }
    _cleanup_free_ char *asked = size_format(cfg->vm.memory), *over = mem_figure(ask.overhead), *reserve = mem_figure(ask.hugepages_to_reserve);
    _cleanup_free_ char *need = mem_figure(v.need), *limit = mem_figure(v.limit), *avail = mem_figure(m->available);
    _cleanup_free_ char *others = others_figure(&p->peers, v.others, v.n_others);
    _cleanup_free_ char *what = cfg->memory.backing == BACKING_HUGEPAGES
                                    ? xasprintf("%s of huge pages (%s%s still to reserve)", asked, ask.hugepages_to_reserve ? reserve : "none",
                                                ask.hugepages_to_reserve ? " of them" : "")
                                    : xstrdup(asked);
    _cleanup_free_ char *host = NULL;
    if (v.by_commit) {
        _cleanup_free_ char *cl = mem_figure(m->commit_limit), *ca = mem_figure(m->committed);
        host = xasprintf("with QEMU's own mappings it commits %s, and overcommit_memory = 2 leaves %s (CommitLimit %s less Committed_AS %s)", need,
                         limit, cl, ca);
    } else {
        host = xasprintf("with QEMU's own %s it needs %s, and this host can give %s (MemAvailable %s, %s)", over, need, limit, avail, others);
    }
    switch (v.level) {
    case ADMIT_OVER:
        add_key(r, CHECK_FAIL, "memory", cfg, SECTION_VM, &cfg->vm.head, "memory", "expected at most what this host can give, found %s: %s; lower memory or stop a VM",
                what, host);
        break;
    case ADMIT_OVERCOMMITTED:
        add_key(r, CHECK_WARN, "memory", cfg, SECTION_VM, &cfg->vm.head, "memory",
                "%s is more than this host can give: %s; overcommit_memory = 1 lets it start, and the host swaps or kills a process when the guest "
                "uses it all", what, host);
        break;
    case ADMIT_NEAR:
        add_key(r, CHECK_WARN, "memory", cfg, SECTION_VM, &cfg->vm.head, "memory", "%s leaves less than 10%% to spare: %s", what, host);
        break;
    default:
        addf(r, CHECK_PASS, "memory", "%s fits: %s", what, host);
    }
}

static void check_memory(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const MemorySection *m = &cfg->memory;
    check_memory_admission(r, cfg, p);
    if (m->nodes.n && !add_plan_lines(r, p, "nodes")) {
        _cleanup_free_ char *nodes = cpulist_format(&m->nodes);
        addf(r, CHECK_PASS, "nodes", "memory on node%s %s: present, with memory", m->nodes.n > 1 ? "s" : "", nodes);
    }
    if (m->backing != BACKING_HUGEPAGES || add_plan_lines(r, p, "hugepages")) return;
    uint64_t need = cfg->vm.memory / m->hugepage_size, have = 0;
    for (size_t i = 0; i < p->st.n_pools; i++) have += p->st.pools[i].free;
    _cleanup_free_ char *ps = size_format(m->hugepage_size);
    _cleanup_free_ char *where = m->nodes.n ? cpulist_format(&m->nodes) : NULL;
    if (have >= need)
        addf(r, CHECK_PASS, "hugepages", "%" PRIu64 " free %s pages %s%s, %" PRIu64 " needed", have, ps, where ? "on node " : "host-wide",
             where ? where : "", need);
    else
        addf(r, CHECK_PASS, "hugepages", "%" PRIu64 " free %s pages %s%s, %" PRIu64 " needed: the rest is reserved at start (reserve-hugepages)",
             have, ps, where ? "on node " : "host-wide", where ? where : "", need);
}

static void check_accel(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    if (!add_plan_lines(r, p, "kvm")) {
        if (cfg->vm.accel == ACCEL_TCG) addf(r, CHECK_PASS, "kvm", "accel = tcg: /dev/kvm is not needed");
        else if (p->facts.kvm_checked_as) {
            _cleanup_free_ char *who = hostfacts_qemu_identity_text(&p->facts, p->facts.kvm_checked_as);
            addf(r, CHECK_PASS, "kvm", "/dev/kvm opens read-write as %s", who);
        } else addf(r, CHECK_PASS, "kvm", "/dev/kvm opens read-write as kvmlaunch's user (QEMU's)");
    }
    if (!cfg->n_nets) return;
    bool wants_vhost = false;
    for (size_t i = 0; i < cfg->n_nets; i++) wants_vhost |= cfg->nets[i].mode == NET_MODE_TAP && cfg->nets[i].vhost != VHOST_OFF;
    if (wants_vhost && !add_plan_lines(r, p, "vhost")) addf(r, CHECK_PASS, "vhost", "/dev/vhost-net opens read-write");
}

static void check_network(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    if (!cfg->n_nets) return;
    ErrList el = { 0 }, warn = { 0 };
    tap_preflight(cfg, &el);
    /* A tap another VM or process holds, a MAC another VM has on the bridge. */
    tap_judge(cfg, p->facts.tap_links, &p->facts.other_nics, &el, &warn);
    for (size_t i = 0; i < el.n; i++) add(r, CHECK_FAIL, "network", TAKE_PTR(el.e[i].msg));
    for (size_t i = 0; i < warn.n; i++) add(r, CHECK_WARN, "network", TAKE_PTR(warn.e[i].msg));
    size_t bad = el.n + add_plan_lines(r, p, "network");
    errlist_clear(&el);
    errlist_clear(&warn);
    if (bad) return;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode == NET_MODE_USER) continue; /* check_user_nets */
        const TapLink *l = p->facts.tap_links ? &p->facts.tap_links[i] : NULL;
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, n);
        _cleanup_free_ char *how = !l ? xstrdup("") : !l->exists ? xasprintf("; tap %s is made at start, for this VM alone", tap)
                                   : l->queues_known ? xasprintf("; tap %s exists, no queue attached", tap) : xstrdup("");
        if (n->bridge) addf(r, CHECK_PASS, "network", "net \"%s\": bridge %s exists%s", n->head.id, n->bridge, how);
        else addf(r, CHECK_PASS, "network", "net \"%s\": a tap of its own, no bridge%s", n->head.id, how);
    }
}

/* The host ports of mode = user's forwards, which QEMU's slirp listens on
 * as QEMU's user: each written one must be free now (the probe bound it
 * and let go), and allowed to that user. An auto one that found no port
 * is the plan's error (the network lines above). */
static void check_user_nets(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const HostFacts *facts = &p->facts;
    /* QEMU drops root: a port below ip_unprivileged_port_start would be
     * refused to it, whatever root could bind here. */
    bool unprivileged = facts->running_as_root && facts->qemu_uid != 0;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        if (n->mode != NET_MODE_USER) continue;
        const UserNetFacts *u = facts->user_nets ? &facts->user_nets[i] : NULL;
        _cleanup_free_ char *all = xstrdup("");
        bool ok = true;
        for (size_t k = 0; k < n->forward.n; k++) {
            const NetForward *f = &n->forward.v[k];
            const FwdFact *ff = u && k < u->n ? &u->fwd[k] : NULL;
            const char *proto = fwd_proto_to_string(f->proto);
            if (!ff || (!f->host_port && !ff->port)) {
                ok = false;
                continue;
            }
            if (ff->err) {
                add_key(r, CHECK_FAIL, "network", cfg, SECTION_NET, &n->head, "forward", "expected a free host port, found %s port %d on %s %s%s",
                        proto, ff->port, f->addr, ff->err == -EADDRINUSE ? "taken" : "refused: ", ff->err == -EADDRINUSE ? "" : strerror(-ff->err));
                ok = false;
            } else if (unprivileged && facts->unpriv_port_start > 0 && ff->port < facts->unpriv_port_start) {
                add_key(r, CHECK_FAIL, "network", cfg, SECTION_NET, &n->head, "forward",
                        "expected a host port QEMU's user may listen on, found %s port %d on %s, below net.ipv4.ip_unprivileged_port_start = %d",
                        proto, ff->port, f->addr, facts->unpriv_port_start);
                ok = false;
            }
            _cleanup_free_ char *one = netforward_format(f, ff->port);
            char *next = xasprintf("%s%s%s%s", all, *all ? ", " : "", one, f->host_port ? "" : " (auto)");
            free(all);
            all = next;
        }
        if (!ok) continue;
        if (n->forward.n) addf(r, CHECK_PASS, "network", "net \"%s\": user-mode network (slirp), host ports free: %s", n->head.id, all);
        else addf(r, CHECK_PASS, "network", "net \"%s\": user-mode network (slirp), no forward", n->head.id);
    }
}

static int open_as(const SpawnIdentity *id, const char *path, int flags) { return spawn_open_as_id(id, path, flags); }

/* QEMU's identity for opening files as it (NULL: as kvmlaunch's user):
 * the probe's, with the groups QEMU keeps. */
static const SpawnIdentity *qemu_id(const VmPlan *p, SpawnIdentity *buf) {
    *buf = hostfacts_qemu_identity(&p->facts);
    return buf->change_id ? buf : NULL;
}

/* QEMU's user: NULL when kvmlaunch is not root (QEMU runs as kvmlaunch's
 * user) or the user is unknown (then a FAIL line says so). The line names
 * the groups QEMU keeps. */
/* Groups that hand whoever is in them (QEMU, and a guest that escapes
 * it) the host: refused. gid 0 is checked by number, whatever its name. */
static const char *const root_like_groups[] = { "disk" }; /* raw block devices: every filesystem */
/* Groups that hand it much of the host: warned of. */
static const char *const risky_groups[][2] = {
    { "docker", "the docker socket: a root container" }, { "lxd", "the LXD socket: a privileged container" },
    { "libvirt", "libvirt's socket: VMs with host devices" }, { "sudo", "sudo, where the user has a password" },
    { "shadow", "/etc/shadow: every password hash" }, { "adm", "the system logs" },
    { "kmem", "/dev/mem and /dev/kmem" },
};

/* QEMU keeps its user's supplementary groups: a group that opens the host
 * is a FAIL (root's group, disk) or a WARN (the list above), naming the
 * group and how to leave it. */
static void check_user_groups(CheckReport *r, const VmConfig *cfg, const HostFacts *f) {
    for (size_t i = 0; i < f->n_qemu_groups; i++) {
        const char *name = f->qemu_group_names[i];
        bool primary = f->qemu_groups[i] == f->qemu_gid;
        _cleanup_free_ char *fix = primary ? xasprintf("usermod -g GROUP %s (its primary group)", cfg->vm.user)
                                           : xasprintf("gpasswd -d %s %s", cfg->vm.user, name);
        bool fail = f->qemu_groups[i] == 0;
        for (size_t k = 0; k < ELEMENTSOF(root_like_groups); k++) fail |= streq(name, root_like_groups[k]);
        if (fail) {
            add_key(r, CHECK_FAIL, "user", cfg, SECTION_VM, &cfg->vm.head, "user",
                    "%s is in group %s (gid %lu), which QEMU keeps: %s; a guest that escapes QEMU would have it; fix: %s", cfg->vm.user, name,
                    (unsigned long)f->qemu_groups[i], f->qemu_groups[i] == 0 ? "root's group, which owns much of the host" : "raw access to the host's disks",
                    fix);
            continue;
        }
        for (size_t k = 0; k < ELEMENTSOF(risky_groups); k++)
            if (streq(name, risky_groups[k][0]))
                add_key(r, CHECK_WARN, "user", cfg, SECTION_VM, &cfg->vm.head, "user",
                        "%s is in group %s (gid %lu), which QEMU keeps: %s, for a guest that escapes QEMU; fix: %s", cfg->vm.user, name,
                        (unsigned long)f->qemu_groups[i], risky_groups[k][1], fix);
    }
}

static const SpawnIdentity *check_user(CheckReport *r, const VmConfig *cfg, const VmPlan *p, SpawnIdentity *buf) {
    if (add_plan_lines(r, p, "user")) return NULL;
    if (!cfg->vm.user) {
        addf(r, CHECK_PASS, "user", "QEMU runs as kvmlaunch's own user (uid %ld): not root", (long)geteuid());
        return NULL;
    }
    if (!p->facts.user_known) {
        add_key(r, CHECK_FAIL, "user", cfg, SECTION_VM, &cfg->vm.head, "user", "expected a user of this host, found no user \"%s\"", cfg->vm.user);
        return NULL;
    }
    if (p->facts.qemu_uid == 0) {
        add_key(r, CHECK_FAIL, "user", cfg, SECTION_VM, &cfg->vm.head, "user", "%s has uid 0; QEMU never runs as root", cfg->vm.user);
        return NULL;
    }
    _cleanup_free_ char *who = hostfacts_qemu_identity_text(&p->facts, cfg->vm.user);
    addf(r, CHECK_PASS, "user", "QEMU runs as %s, no capabilities%s", who,
         p->facts.running_as_root ? "" : " (when kvmlaunch runs as root; as it is, QEMU stays kvmlaunch's user)");
    check_user_groups(r, cfg, &p->facts);
    return qemu_id(p, buf);
}

/* When QEMU's user was refused PATH and the file's group may have what was
 * asked: the group it lacks, and the fix, " (group G may read it, and USER
 * is not in it: usermod -aG G USER, if it should be)"; else "". */
static char *group_fix(const SpawnIdentity *id, const char *user, const char *path, int err, bool rw) {
    struct stat st;
    if (err != -EACCES || !id || stat(path, &st) < 0) return xstrdup("");
    mode_t need = rw ? 0060 : 0040;
    if ((st.st_mode & need) != need || st.st_gid == id->gid) return xstrdup("");
    for (size_t i = 0; i < id->n_groups; i++)
        if (id->groups[i] == st.st_gid) return xstrdup("");
    struct group *gr = userdb_getgrgid(st.st_gid);
    if (!gr) return xstrdup("");
    return xasprintf(" (group %s may %s it, and %s is not in it: usermod -aG %s %s, if it should be)", gr->gr_name, rw ? "write" : "read", user,
                     gr->gr_name, user);
}

static void check_disk(CheckReport *r, const VmConfig *cfg, const DiskSection *d, const DiskFacts *f,
                       const SpawnIdentity *pw) {
    if (!f->exists) {
        add_key(r, CHECK_FAIL, "disks", cfg, SECTION_DISK, &d->head, "file", "expected an image or block device, found none at %s", d->file);
        return;
    }
    /* snapshot: QEMU only reads the file and writes a temporary overlay. */
    bool rw = !d->readonly && !d->snapshot;
    int e = open_as(pw, d->file, rw ? O_RDWR : O_RDONLY);
    const char *who = pw ? cfg->vm.user : "kvmlaunch's user";
    if (e < 0) {
        _cleanup_free_ char *fix = group_fix(pw, who, d->file, e, rw);
        add_key(r, CHECK_FAIL, "disks", cfg, SECTION_DISK, &d->head, "file", "%s cannot open %s %s: %s%s", who, d->file, rw ? "read-write" : "read-only",
                strerror(-e), fix);
    } else addf(r, CHECK_PASS, "disks", "disk \"%s\": %s opens %s as %s", d->head.id, d->file, rw ? "read-write" : "read-only", who);
    if (d->cache != CACHE_NONE && d->cache != CACHE_DIRECTSYNC) return;
    /* O_DIRECT is the filesystem's to refuse (tmpfs does): root asks. */
    e = open_as(NULL, d->file, O_RDONLY | O_DIRECT);
    const char *cache = cache_mode_to_string(d->cache);
    if (e == -EINVAL)
        add_key(r, CHECK_FAIL, "cache", cfg, SECTION_DISK, &d->head, "cache",
                "%s needs O_DIRECT, which the filesystem holding %s refuses (tmpfs?); use cache = writeback or move the image", cache, d->file);
    else if (e < 0)
        add_key(r, CHECK_WARN, "cache", cfg, SECTION_DISK, &d->head, "cache", "could not try O_DIRECT on %s: %s", d->file, strerror(-e));
    else addf(r, CHECK_PASS, "cache", "disk \"%s\": cache = %s, O_DIRECT works on %s", d->head.id, cache, d->file);
}

/* A disk another running VM's QEMU holds so that their image locks clash
 * (include/admission.h): QEMU would refuse it only once the host is ready. */
static void check_disk_shared(CheckReport *r, const VmConfig *cfg, const DiskSection *d, const DiskFacts *f, const VmPlan *p) {
    struct stat st;
    if (!f->exists || stat(d->file, &st) < 0) return;
    bool rw = !d->readonly && !d->snapshot, there_rw = false;
    const PeerVm *vm = admission_disk_holder(&p->peers, &st, rw, &there_rw);
    if (!vm) return;
    if (rw)
        add_key(r, CHECK_FAIL, "disks", cfg, SECTION_DISK, &d->head, "file",
                "expected a disk no other VM uses, found %s open %s by the running VM %s (QEMU pid %ld); a disk this VM writes must be open in no "
                "other VM: stop %s, or make both uses read-only (readonly = yes or snapshot = yes)",
                d->file, there_rw ? "read-write" : "read-only", vm->name, (long)vm->qemu, vm->name);
    else
        add_key(r, CHECK_FAIL, "disks", cfg, SECTION_DISK, &d->head, "file",
                "expected a disk no running VM writes, found %s open read-write by the running VM %s (QEMU pid %ld); QEMU would not share it: stop %s, "
                "or make its use read-only too", d->file, vm->name, (long)vm->qemu, vm->name);
}

static void check_disks(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    SpawnIdentity buf;
    const SpawnIdentity *pw = check_user(r, cfg, p, &buf);
    add_plan_lines(r, p, "disks");
    add_plan_lines(r, p, "cache");
    for (size_t i = 0; i < cfg->n_disks && i < p->facts.n_disks; i++) {
        check_disk(r, cfg, &cfg->disks[i], &p->facts.disks[i], pw);
        check_disk_shared(r, cfg, &cfg->disks[i], &p->facts.disks[i], p);
    }
    for (size_t i = 0; cfg->n_disks && i < p->peers.n; i++)
        if (p->peers.v[i].err)
            addf(r, CHECK_WARN, "disks", "the files the running VM %s has open could not be read (%s): its disks are not compared with these",
                 p->peers.v[i].name, strerror(-p->peers.v[i].err));
    bool asked = false;
    for (size_t i = 0; i < cfg->n_disks; i++) asked |= cfg->disks[i].scheduler != IOSCHED_KEEP;
    if (!asked || add_plan_lines(r, p, "iosched")) return;
    for (size_t i = 0; i < cfg->n_disks && i < p->st.n_disks; i++) {
        const Knob *k = &p->st.disk_sched[i];
        if (cfg->disks[i].scheduler == IOSCHED_KEEP) continue;
        if (k->path) addf(r, CHECK_PASS, "iosched", "disk \"%s\": the scheduler asked for is offered by %s", cfg->disks[i].head.id, k->path);
        else addf(r, CHECK_PASS, "iosched", "disk \"%s\": no block device of this host holds %s: nothing to set", cfg->disks[i].head.id, cfg->disks[i].file);
    }
}

/* The files QEMU opens by name as its user: kernel, initrd, UEFI code. A
 * missing one would otherwise be found only by QEMU, after the host was
 * prepared, and end the run as a runtime failure. */
static bool check_boot_file(CheckReport *r, const VmConfig *cfg, const char *key, const char *path, const SpawnIdentity *pw) {
    struct stat st;
    if (stat(path, &st) < 0) {
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &cfg->vm.head, key, "expected a file, found none at %s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &cfg->vm.head, key, "expected a regular file, found %s at %s",
                S_ISDIR(st.st_mode) ? "a directory" : "a device or special file", path);
        return false;
    }
    int e = open_as(pw, path, O_RDONLY);
    if (e < 0) {
        const char *who = pw ? cfg->vm.user : "kvmlaunch's user";
        _cleanup_free_ char *fix = group_fix(pw, who, path, e, false);
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &cfg->vm.head, key, "%s cannot open %s read-only: %s%s", who, path, strerror(-e), fix);
        return false;
    }
    return true;
}

/* firmware = uefi or uefi-secure: Debian's OVMF files. One missing means
 * the package is not installed (or not the one this was written for). */
static bool check_ovmf_file(CheckReport *r, const VmConfig *cfg, const char *path, bool *said) {
    const VmSection *vm = &cfg->vm;
    FirmwareKind k = firmware_kind(vm);
    if ((k != FIRMWARE_UEFI && k != FIRMWARE_UEFI_SECURE) || path == vm->firmware_vars || access(path, F_OK) == 0) return true;
    if (*said) return false; /* one line for the package */
    *said = true;
    add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &vm->head, "firmware", "expected OVMF's %s for firmware = %s, found none: %s; install the package " OVMF_PACKAGE " (apt-get install " OVMF_PACKAGE ")",
            path, vm->firmware, strerror(errno));
    return false;
}

/* Boot files. */
/* [vm] boot-budget is judged on the kernel's "Run /init as init process"
 * line (boottime.h), which a kernel booted with quiet does not print. */
static void check_boot_budget(CheckReport *r, const VmConfig *cfg) {
    const VmSection *vm = &cfg->vm;
    const char *q = vm->append ? strstr(vm->append, "quiet") : NULL;
    bool quiet = q && (q == vm->append || q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n') && (!q[5] || q[5] == ' ' || q[5] == '\t' || q[5] == '\n');
    if (vm->boot_budget_ms && vm->kernel && quiet)
        add_key(r, CHECK_WARN, "boot", cfg, SECTION_VM, &vm->head, "boot-budget",
                "judged on the kernel's \"Run /init as init process\" line, which append's quiet hides: the guest must print %s itself, or the budget is missed",
                BOOT_READY_MARK);
}

static void check_boot(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const VmSection *vm = &cfg->vm;
    SpawnIdentity buf;
    const SpawnIdentity *pw = qemu_id(p, &buf);
    if (vm->user && p->facts.running_as_root && !pw) return; /* the user line said so */
    const char *who = pw ? vm->user : "kvmlaunch's user";
    const struct { const char *key, *path; } files[] = { { "kernel", vm->kernel }, { "initrd", vm->initrd }, { "firmware", firmware_code(vm) },
                                                         { "firmware-vars", firmware_vars_template(vm) } };
    char set[96] = "";
    bool ovmf_said = false;
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        if (!files[i].path || !check_ovmf_file(r, cfg, files[i].path, &ovmf_said) || !check_boot_file(r, cfg, files[i].key, files[i].path, pw)) continue;
        snprintf(set + strlen(set), sizeof(set) - strlen(set), "%s%s", *set ? ", " : "", files[i].key);
    }
    if (*set) addf(r, CHECK_PASS, "boot", "%s open%s read-only as %s", set, strchr(set, ',') ? "" : "s", who);
    check_boot_budget(r, cfg);
}

/* The serial log, the one host file the guest writes: asked as the run
 * will open it (seriallog.h), without creating it. */
static void check_serial(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const VmSection *vm = &cfg->vm;
    if (vm->serial.kind != SERIAL_FILE || !vm->serial.path) return;
    bool as_root = p->facts.running_as_root;
    struct passwd *pw = vm->user && as_root ? userdb_getpwnam(vm->user) : NULL;
    if (vm->user && as_root && !pw) return; /* the user line said so */
    SerialLog l;
    seriallog_init(&l, vm->serial.path, vm->user, pw, as_root);
    seriallog_set_groups(&l, p->facts.qemu_groups, p->facts.n_qemu_groups);
    if (seriallog_open(&l) < 0) {
        _cleanup_free_ char *why = seriallog_why(&l);
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &vm->head, "serial", "%s", why);
        return;
    }
    addf(r, CHECK_PASS, "boot", "serial log %s: %s as %s%s", l.path, l.existed ? "opens for appending" : "can be created", l.who,
         l.any_dir ? " (QEMU runs as root)" : ", in a directory no other user can write");
    /* Its old copy, PATH.1, which the cap (serial-log-size) fills, under
     * the same rules: the run opens both. */
    _cleanup_free_ char *old = xasprintf("%s.1", vm->serial.path);
    seriallog_init(&l, old, vm->user, pw, as_root);
    if (seriallog_open(&l) < 0) {
        _cleanup_free_ char *why = seriallog_why(&l);
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &vm->head, "serial", "the rotated copy: %s", why);
    }
}

/* In the thread with QEMU's identity: may it write and enter the directory? */
static int dir_writable(void *path) { return faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) < 0 ? -errno : 0; }

/* virtiofsd serves the share as root from the directory kvmlaunch opened
 * with no symlink followed (virtiofsd.c); a path with one is refused as
 * the run would refuse it, as the user kvmlaunch acts for. */
static bool share_no_symlink(CheckReport *r, const VmConfig *cfg, const ShareSection *sh) {
    _cleanup_free_ char *who = NULL;
    int fd = caller_open_dir(sh->path, &who);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    if (fd == -ELOOP)
        add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path",
                "expected a path without symbolic links (virtiofsd runs as root and none is followed), found one on the way to %s", sh->path);
    else
        add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path", "%s cannot open %s: %s", who ? who : "kvmlaunch", sh->path,
                strerror(-fd));
    return false;
}

/* [share]: each path a directory; 9p is served by QEMU as its user, which
 * must open it (and write it unless readonly); virtiofs by virtiofsd as root. */
static void check_shares(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    if (!cfg->n_shares) return;
    add_plan_lines(r, p, "shares");
    SpawnIdentity buf;
    const SpawnIdentity *pw = qemu_id(p, &buf);
    const char *who = pw ? cfg->vm.user : "kvmlaunch's user";
    for (size_t i = 0; i < cfg->n_shares; i++) {
        const ShareSection *sh = &cfg->shares[i];
        struct stat st;
        if (stat(sh->path, &st) < 0) {
            add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path", "expected a directory, found none at %s: %s", sh->path,
                    strerror(errno));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path", "expected a directory, found %s at %s",
                    S_ISREG(st.st_mode) ? "a regular file" : "a device or special file", sh->path);
            continue;
        }
        if (share_driver(&p->facts, sh) == SHARE_DRIVER_VIRTIOFS) {
            if (!share_no_symlink(r, cfg, sh)) continue;
            if (p->facts.virtiofsd && p->facts.running_as_root)
                addf(r, CHECK_PASS, "shares",
                     "share \"%s\": %s over virtiofs%s, %s as root (sandbox=namespace), the guest's RAM shared (memfd); its files land as the "
                     "guest's uid and gid", sh->head.id, sh->path, sh->readonly ? " read-only" : "", p->facts.virtiofsd);
            continue;
        }
        if (cfg->vm.user && p->facts.running_as_root && !pw) continue; /* the user line said so */
        int e = open_as(pw, sh->path, O_RDONLY | O_DIRECTORY);
        if (e >= 0) close(e);
        if (e >= 0 && !sh->readonly) {
            bool taken = true;
            e = pw ? spawn_call_as_groups(pw->uid, pw->gid, pw->groups, pw->n_groups, dir_writable, (void *)sh->path, &taken)
                   : dir_writable((void *)sh->path);
            if (e < 0) {
                add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path",
                        "%s (who serves 9p: QEMU) cannot write %s: %s (make it writable for that user, or readonly = yes)", who, sh->path,
                        strerror(-e));
                continue;
            }
        } else if (e < 0) {
            add_key(r, CHECK_FAIL, "shares", cfg, SECTION_SHARE, &sh->head, "path", "%s (who serves 9p: QEMU) cannot open %s: %s", who,
                    sh->path, strerror(-e));
            continue;
        }
        addf(r, CHECK_PASS, "shares", "share \"%s\": %s over 9p%s, served by QEMU as %s; files land as that user", sh->head.id, sh->path,
             sh->readonly ? " read-only" : ", writable", who);
    }
}

/* The first line `BINARY -version` prints, or NULL. */
static char *qemu_version(const char *binary) {
    static const char *const args[] = { "-version", NULL };
    char *out = spawn_capture(binary, args, 4096, 10000);
    if (out) out[strcspn(out, "\n")] = '\0';
    return out;
}

static void check_qemu(CheckReport *r, const VmConfig *cfg, const VmPlan *p, bool with_version) {
    if (add_plan_lines(r, p, "qemu")) return;
    const char *bin = p->facts.qemu_binary;
    if (!strchr(bin, '/') || access(bin, X_OK) < 0) {
        add_key(r, CHECK_FAIL, "qemu", cfg, SECTION_VM, &cfg->vm.head, "qemu", "expected an executable emulator, found %s %s", bin,
                strchr(bin, '/') ? "not executable" : "nowhere on PATH");
        return;
    }
    if (!with_version) return;
    _cleanup_free_ char *v = qemu_version(bin);
    unsigned major = 0, minor = 0;
    const char *num = v ? strstr(v, "version ") : NULL;
    if (!num || sscanf(num, "version %u.%u", &major, &minor) != 2) {
        add_key(r, CHECK_FAIL, "qemu", cfg, SECTION_VM, &cfg->vm.head, "qemu", "%s -version printed no QEMU version%s%s", bin, v ? ": " : "",
                v ? v : "");
        return;
    }
    /* JSON -blockdev/-netdev/-object and memory-backend-memfd hugetlb are
     * what kvmlaunch writes; 7.2 is what it is tested with. */
    if (major < 7 || (major == 7 && minor < 2))
        addf(r, CHECK_WARN, "qemu", "%s is QEMU %u.%u; kvmlaunch is tested with 7.2 and later", bin, major, minor);
    else addf(r, CHECK_PASS, "qemu", "%s: %s", bin, num);
}

/* A file [cloud-init] names: kvmlaunch reads it into the seed (or, the
 * private key, hands it to ssh) as the user it runs for, so it is tried
 * as them. A public key must hold one. */
static bool check_cloudinit_file(CheckReport *r, const VmConfig *cfg, const char *key, const char *path, const char *what, bool pubkey) {
    const CloudInitSection *ci = &cfg->cloudinit;
    _cleanup_free_ char *who = NULL;
    _cleanup_close_ int fd = caller_open_file(path, &who);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        _cleanup_free_ char *as = who ? xasprintf(" (read as %s)", who) : xstrdup("");
        add_key(r, CHECK_FAIL, "cloud-init", cfg, SECTION_CLOUDINIT, &ci->head, key, "expected %s, found %s: %s%s", what, path,
                fd < 0 ? strerror(-fd) : "not a regular file", as);
        return false;
    }
    if (!pubkey) return true;
    _cleanup_free_ char *buf = xmalloc(CLOUDINIT_MAX_FILE);
    ssize_t n = read(fd, buf, CLOUDINIT_MAX_FILE);
    Blob b = { buf, n > 0 ? (size_t)n : 0 };
    char **keys = NULL;
    char err[VALUE_ERR_MAX];
    if (cloudinit_parse_pubkeys(&b, &keys, err) < 0) {
        add_key(r, CHECK_FAIL, "cloud-init", cfg, SECTION_CLOUDINIT, &ci->head, key, "%s: %s", path, err);
        return false;
    }
    strv_free(keys);
    return true;
}

static void check_cloudinit(CheckReport *r, const VmConfig *cfg) {
    const CloudInitSection *ci = &cfg->cloudinit;
    if (!cloudinit_wanted(cfg)) return;
    bool ok = true;
    if (ci->ssh_key) {
        _cleanup_free_ char *priv = cloudinit_private_key(ci->ssh_key);
        ok &= check_cloudinit_file(r, cfg, "ssh-key", ci->ssh_key, "a readable public key", true);
        if (priv) ok &= check_cloudinit_file(r, cfg, "ssh-key", priv, "the private key beside it (`kvmlaunch ssh` uses it)", false);
    }
    if (ci->user_data) ok &= check_cloudinit_file(r, cfg, "user-data", ci->user_data, "a readable user-data file", false);
    if (ci->network_config) ok &= check_cloudinit_file(r, cfg, "network-config", ci->network_config, "a readable network-config file", false);
    if (ok) addf(r, CHECK_PASS, "cloud-init", "a NoCloud seed (cidata) is made in the runtime dir and attached read-only");
}

/* [vm] state-dir, as the run will make or open it (statedir.h). */
static void check_state_dir(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    if (cfg->vm.user && !p->facts.user_known) return; /* the user line said so */
    /* Judged as the run makes it: a run is root's (caller.h), which makes
     * the dir for [vm] user; a plain user's check asks the same. */
    uid_t uid = cfg->vm.user ? p->facts.qemu_uid : geteuid();
    _cleanup_free_ char *path = statedir_path(cfg), *why = NULL;
    StateDirVerdict v = statedir_inspect(path, uid, true, &why);
    const char *who = cfg->vm.user ? cfg->vm.user : "kvmlaunch's user";
    if (v == STATEDIR_REFUSED) add_key(r, CHECK_FAIL, "state", cfg, SECTION_VM, &cfg->vm.head, "state-dir", "%s", why);
    else if (v == STATEDIR_READY) addf(r, CHECK_PASS, "state", "state dir %s: there, %s's, mode 0700 (kept across runs)", path, who);
    else addf(r, CHECK_PASS, "state", "state dir %s: made at the start for %s, mode 0700 (kept across runs)", path, who);
}

/* [hostdev]: the IOMMU, each device's group and drivers, and where the
 * device sits against the vCPUs (the seed's NUMA advice). */
static void check_hostdevs(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const HostdevProbe *hp = &p->facts.hostdev;
    if (!cfg->n_hostdevs) return;
    if (hp->iommu_on)
        addf(r, hp->intremap == 0 ? CHECK_WARN : CHECK_PASS, "hostdev", "IOMMU on; interrupt remapping %s", hp->intremap == 1 ? "on"
             : hp->intremap == 0 ? "off: a device's interrupts are not isolated (kernel parameter intremap=on, firmware x2APIC/IR)" : "unknown here");
    if (!hp->vfio_loaded) addf(r, CHECK_WARN, "hostdev", "vfio-pci is not loaded: the run loads it (modprobe vfio-pci)");
    for (size_t i = 0; i < cfg->n_hostdevs && i < hp->n; i++) {
        const HostdevSection *d = &cfg->hostdevs[i];
        const HostdevFacts *f = &hp->devs[i];
        const char *key = d->vf ? "vf" : "address";
        if (f->problem) {
            add_key(r, CHECK_FAIL, "hostdev", cfg, SECTION_HOSTDEV, &d->head, key, "%s", f->problem);
            continue;
        }
        if (f->vf_make) {
            addf(r, CHECK_PASS, "hostdev", "[hostdev \"%s\"] VF %lld of %s (sriov_totalvfs %d): made at the start as %s (sriov_numvfs 0 -> %lld), "
                 "removed when no VM uses it", d->head.id, (long long)d->vf_index, d->vf_dev, f->vf_total, f->addr, (long long)d->vf_index + 1);
            continue;
        }
        _cleanup_free_ char *members = hostdev_members_text(f);
        addf(r, CHECK_PASS, "hostdev", "[hostdev \"%s\"] %s%s%s, IOMMU group %d: %s; on vfio-pci while the VM runs, then back on their drivers",
             d->head.id, f->addr, d->vf ? ", a VF of " : "", d->vf ? d->vf_dev : "", f->group, members);
        if (f->node_cpus.n && cfg->cpu.pin.kind == CPUSPEC_LIST) {
            for (size_t c = 0; c < cfg->cpu.pin.list.n; c++) {
                if (cpulist_contains(&f->node_cpus, cfg->cpu.pin.list.cpu[c])) continue;
                _cleanup_free_ char *nc = cpulist_format(&f->node_cpus), *pin = cpulist_format(&cfg->cpu.pin.list);
                add_key(r, CHECK_WARN, "hostdev", cfg, SECTION_HOSTDEV, &d->head, key,
                        "%s is on NUMA node %d (CPUs %s), the vCPUs on %s: its DMA and interrupts cross nodes; pin the vCPUs on node %d",
                        f->addr, f->numa_node, nc, pin, f->numa_node);
                break;
            }
        }
    }
}

/* [tpm]: swtpm is there, and STATE-DIR/tpm, when it exists, is a
 * directory of the VM's user (swtpm runs as that user and keeps the TPM's
 * secrets there; a symlink or another owner's directory is refused). */
static void check_tpm(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    if (!cfg->tpm.enabled) return;
    add_plan_lines(r, p, "tpm");
    if (!p->facts.swtpm) {
        static const char *const paths[] = TPM_SWTPM_PATHS;
        add_key(r, CHECK_FAIL, "tpm", cfg, SECTION_TPM, &cfg->tpm.head, "enabled",
                "expected swtpm for the guest's TPM, found none at %s or %s (install the Debian package swtpm)", paths[0], paths[1]);
        return;
    }
    _cleanup_free_ char *dir = tpm_state_path(cfg);
    SpawnIdentity buf;
    const SpawnIdentity *id = qemu_id(p, &buf);
    uid_t uid = id ? id->uid : geteuid();
    struct stat st;
    if (lstat(dir, &st) == 0 && (!S_ISDIR(st.st_mode) || st.st_uid != uid)) {
        add_key(r, CHECK_FAIL, "tpm", cfg, SECTION_TPM, &cfg->tpm.head, "enabled", "expected %s to be a directory of uid %ld, found %s of uid %ld",
                dir, (long)uid, S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link" : "a file", (long)st.st_uid);
        return;
    }
    addf(r, CHECK_PASS, "tpm", "TPM 2.0 (%s) from %s as %s, its state in %s", cfg->vm.machine == MACHINE_Q35 ? "tpm-crb" : "tpm-tis",
         p->facts.swtpm, cfg->vm.user ? cfg->vm.user : "kvmlaunch's user", dir);
}

/* [vm] machine: the versioned type q35/pc stands for, recorded or about
 * to be (include/machinetype.h). With WITH_VERSION (`kvmlaunch check`,
 * not a run's own checks: a start costs no QEMU run once recorded), asks
 * QEMU whether it still offers that type. */
static void check_machine(CheckReport *r, const VmConfig *cfg, const VmPlan *p, bool with_version) {
    const HostFacts *f = &p->facts;
    const char *written = vmconf_machine_written(&cfg->vm);
    if (f->machine_source == MACHINE_RECORD_BAD) return; /* the plan's error says it */
    const char *type = f->machine_type ? f->machine_type : written;
    _cleanup_free_ char *state = statedir_path(cfg);
    _cleanup_free_ char *help = with_version && f->qemu_binary && strchr(f->qemu_binary, '/') ? machinetype_help(f->qemu_binary) : NULL;
    _cleanup_free_ char *now = help && vmconf_machine_is_alias(&cfg->vm) ? machinetype_alias_target(help, written) : NULL;
    if (help && !machinetype_offered(help, type)) {
        if (f->machine_source == MACHINE_RECORDED)
            add_key(r, CHECK_WARN, "machine", cfg, SECTION_VM, &cfg->vm.head, "machine",
                    "the recorded type %s (%s/%s: the guest's hardware since its first start) is not offered by %s: the VM will not "
                    "start; to move on deliberately, write machine = %s (what %s is now), or remove %s/%s and the next start records it; "
                    "the guest then sees newer hardware",
                    type, state, MACHINE_STATE_FILE, f->qemu_binary, now ? now : "a type it offers", written, state, MACHINE_STATE_FILE);
        else
            add_key(r, CHECK_WARN, "machine", cfg, SECTION_VM, &cfg->vm.head, "machine", "%s is not offered by %s (see %s -machine help)", type,
                    f->qemu_binary, f->qemu_binary);
        return;
    }
    switch (f->machine_source) {
    case MACHINE_RECORDED: {
        _cleanup_free_ char *aside = now && !streq(now, type) ? xasprintf(" (this QEMU's %s is %s: the guest keeps %s)", written, now, type)
                                                              : xstrdup("");
        addf(r, CHECK_PASS, "machine", "%s is %s, recorded at the VM's first start in %s/%s%s", written, type, state, MACHINE_STATE_FILE, aside);
        break;
    }
    case MACHINE_RESOLVED:
        addf(r, CHECK_PASS, "machine", "%s is %s in this QEMU: the first start records it in %s/%s, later starts keep it", written, type, state,
             MACHINE_STATE_FILE);
        break;
    default:
        if (vmconf_machine_is_alias(&cfg->vm))
            add_key(r, CHECK_WARN, "machine", cfg, SECTION_VM, &cfg->vm.head, "machine",
                    "%s -machine help did not say what %s stands for: it runs unversioned, and a QEMU upgrade may change the guest's hardware",
                    f->qemu_binary, written);
        else addf(r, CHECK_PASS, "machine", "%s, as written", type);
    }
}

/* UEFI: the VM's vars store in the state dir, kept from an earlier start
 * (then QEMU's user must open it read-write) or made at the next one. */
static void check_fwvars(CheckReport *r, const VmConfig *cfg, const VmPlan *p) {
    const char *tmpl = firmware_vars_template(&cfg->vm);
    if (!tmpl || (cfg->vm.user && p->facts.running_as_root && !p->facts.user_known)) return;
    SpawnIdentity buf;
    const SpawnIdentity *id = qemu_id(p, &buf);
    const char *who = id ? cfg->vm.user : "kvmlaunch's user";
    _cleanup_free_ char *dir = statedir_path(cfg);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, FIRMWARE_VARS_FILE);
    struct stat st;
    int e = lstat(path, &st) < 0 ? -errno : 0;
    if (e == -ENOENT) {
        addf(r, CHECK_PASS, "boot", "UEFI vars %s: made from %s at the first start, then kept", path, tmpl);
        return;
    }
    if (e == 0) {
        e = S_ISREG(st.st_mode) ? open_as(id, path, O_RDWR | O_NOFOLLOW) : -EINVAL;
        if (e >= 0) {
            close(e);
            e = 0;
        }
    }
    if (e == -EINVAL)
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &cfg->vm.head, "firmware", "expected the UEFI vars %s to be a regular file, found %s", path,
                S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
    else if (e < 0)
        add_key(r, CHECK_FAIL, "boot", cfg, SECTION_VM, &cfg->vm.head, "firmware", "%s cannot open the UEFI vars %s read-write: %s", who, path, strerror(-e));
    else addf(r, CHECK_PASS, "boot", "UEFI vars %s: kept from an earlier start, opens read-write as %s", path, who);
}

static void check_cgroup(CheckReport *r, const VmPlan *p) {
    if (p->cgl.version == CGROUP_NONE) addf(r, CHECK_WARN, "cgroup", "no usable cpuset cgroup: threads are placed by affinity alone");
    else addf(r, CHECK_PASS, "cgroup", "%s", p->cgl.why ? p->cgl.why : "cpuset usable");
}

void check_vm(const VmConfig *cfg, const VmPlan *p, bool with_version, CheckReport *out) {
    memset(out, 0, sizeof(*out));
    check_cpus(out, cfg, p);
    check_cpu_neighbours(out, cfg, p, with_version);
    check_allocation(out, cfg, p);
    check_memory(out, cfg, p);
    check_accel(out, cfg, p);
    check_network(out, cfg, p);
    check_user_nets(out, cfg, p);
    check_disks(out, cfg, p);
    check_boot(out, cfg, p);
    check_serial(out, cfg, p);
    check_shares(out, cfg, p);
    check_qemu(out, cfg, p, with_version);
    check_cloudinit(out, cfg);
    check_hostdevs(out, cfg, p);
    check_state_dir(out, cfg, p);
    check_tpm(out, cfg, p);
    check_machine(out, cfg, p, with_version);
    check_fwvars(out, cfg, p);
    check_cgroup(out, p);
    /* What no topic above took: [host], [hostnic], the rest of the plan. */
    size_t bad = add_plan_lines(out, p, "host") + add_plan_lines(out, p, "hostnic") + add_plan_lines(out, p, "plan");
    if (bad) return;
    if (p->plan.n)
        addf(out, CHECK_PASS, "host", "%zu kernel setting%s to change, each put back when the last VM relying on it ends", p->plan.n,
             p->plan.n == 1 ? "" : "s");
    else addf(out, CHECK_PASS, "host", "no kernel setting to change");
}

void check_report_free(CheckReport *r) {
    for (size_t i = 0; i < r->n; i++) free(r->v[i].msg);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

void check_report_print(FILE *f, const CheckReport *r) {
    static const char *const level[] = { "PASS", "WARN", "FAIL" };
    for (size_t i = 0; i < r->n; i++) fprintf(f, "%s  %-9s  %s\n", level[r->v[i].level], r->v[i].topic, r->v[i].msg);
}
