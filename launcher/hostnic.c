/* The host's NIC (include/hostnic.h): pure parsers and planning first, then
 * the reading through the HostRoot, then the ethtool offloads with their
 * host-wide state file. */
#include "hostnic.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "kfiles.h"
#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "strvec.h"
#include "tap.h"
#include "statefile.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* Pure: /proc/interrupts                                              */

void nicirqlist_free(NicIrqList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static bool name_is_dev(const char *name, const char *dev) {
    size_t n = strlen(dev);
    if (!n || strncmp(name, dev, n)) return false;
    unsigned char c = (unsigned char)name[n];
    /* "eth0-TxRx-0", "eth0@pci:..", "eth0": yes; "eth01", "eth0.100": another interface. */
    return c == '\0' || !(isalnum(c) || c == '_' || c == '.');
}

/* Whether any of the ", "-separated handler names in NAMES is DEV's. */
static bool names_have_dev(const char *names, const char *dev) {
    _cleanup_free_ char *copy = xstrdup(names);
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (name_is_dev(t, dev)) return true;
    return false;
}

/* The token that ends the chip part of a line: "IR-PCI-MSI-edge" (old
 * kernels), "0-edge" (hwirq and flow), or "Edge"/"Level" where the
 * architecture shows the trigger. */
static bool is_flow_token(const char *t, size_t len) {
    static const char *const flows[] = { "edge", "level", "fasteoi", "simple", "percpu", "percpu_devid", "edge-irq", "fasteoi-irq" };
    if ((len == 4 && !strncmp(t, "Edge", 4)) || (len == 5 && !strncmp(t, "Level", 5))) return true;
    for (size_t i = 0; i < ELEMENTSOF(flows); i++) {
        size_t fl = strlen(flows[i]);
        if (len > fl + 1 && t[len - fl - 1] == '-' && !strncmp(t + len - fl, flows[i], fl)) return true;
    }
    return false;
}

static bool int_in(const int *v, size_t n, int x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

/* REST: what follows the counts of a line. *names points at the handler
 * names (possibly empty). */
static const char *line_names(const char *rest, const char *end, size_t *len) {
    const char *p = rest, *after_flow = NULL;
    const char *first_end = NULL, *second = NULL, *second_end = NULL;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p >= end) break;
        const char *t = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        if (!first_end) first_end = p;
        else if (!second) {
            second = t;
            second_end = p;
        }
        if (is_flow_token(t, (size_t)(p - t))) {
            after_flow = p;
            break;
        }
    }
    const char *s = after_flow;
    if (!s) {
        /* No flow word: the chip, an optional hwirq number, then names. */
        s = first_end ? first_end : end;
        if (second) {
            bool num = true;
            for (const char *q = second; q < second_end; q++) num &= isdigit((unsigned char)*q) != 0;
            if (num) s = second_end;
        }
    }
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    const char *e = end;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *len = (size_t)(e - s);
    return s;
}

static int cmp_irq(const void *a, const void *b) {
    const NicIrq *x = a, *y = b;
    return (x->irq > y->irq) - (x->irq < y->irq);
}

int hostnic_parse_interrupts(const char *text, const char *dev, const int *msi, size_t n_msi, NicIrqList *out) {
    const char *p = text;
    const char *eol = strchr(p, '\n');
    if (!eol) return -EINVAL;
    size_t ncpus = 0;
    for (const char *q = p; q < eol;) {
        while (q < eol && *q == ' ') q++;
        if (q >= eol) break;
        if (strncmp(q, "CPU", 3) != 0) return -EINVAL;
        ncpus++;
        while (q < eol && *q != ' ') q++;
    }
    if (!ncpus) return -EINVAL;
    NicIrqList l = { 0 };
    for (p = eol + 1; *p; p = eol + 1) {
        eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        const char *q = p;
        while (q < eol && *q == ' ') q++;
        if (q < eol && isdigit((unsigned char)*q)) {
            char *colon;
            errno = 0;
            long irq = strtol(q, &colon, 10);
            if (errno || *colon != ':' || irq > INT_MAX) {
                nicirqlist_free(&l);
                return -EINVAL;
            }
            q = colon + 1;
            /* The per-CPU counts: digits only, at most ncpus of them. */
            for (size_t c = 0; c < ncpus; c++) {
                const char *s = q;
                while (s < eol && *s == ' ') s++;
                const char *t = s;
                while (t < eol && isdigit((unsigned char)*t)) t++;
                if (t == s || (t < eol && *t != ' ')) break;
                q = t;
            }
            size_t nlen;
            const char *names = line_names(q, eol, &nlen);
            _cleanup_free_ char *nm = xstrndup(names, nlen);
            if (int_in(msi, n_msi, (int)irq) || names_have_dev(nm, dev)) {
                l.v = xrealloc(l.v, (l.n + 1) * sizeof(NicIrq));
                l.v[l.n++] = (NicIrq){ (int)irq, TAKE_PTR(nm) };
            }
        }
        if (!*eol) break;
    }
    if (l.n) qsort(l.v, l.n, sizeof(NicIrq), cmp_irq);
    *out = l;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pure: masks and CPU sets                                            */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int hostnic_parse_cpumask(const char *text, CpuList *out) {
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n') len--;
    if (!len) return -EINVAL;
    /* Groups of 8 hex digits, most significant first; the first may be shorter. */
    size_t groups = 1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ',') groups++;
        else if (!isxdigit((unsigned char)text[i])) return -EINVAL;
    }
    CpuList l = { 0 };
    size_t g = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != ',') continue;
        size_t glen = i - start;
        if (glen == 0 || glen > 8 || (g > 0 && glen != 8)) {
            cpulist_free(&l);
            return -EINVAL;
        }
        size_t word = groups - 1 - g; /* 32-bit word number */
        for (size_t k = 0; k < glen; k++) {
            char c = text[start + k];
            unsigned v = (unsigned)(isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10);
            for (unsigned b = 0; b < 4; b++) {
                if (!(v & (1u << b))) continue;
                size_t cpu = word * 32 + (glen - 1 - k) * 4 + b;
                if (cpu > CPULIST_MAX_CPU) {
                    cpulist_free(&l);
                    return -ERANGE;
                }
                l.cpu = xrealloc(l.cpu, (l.n + 1) * sizeof(int));
                l.cpu[l.n++] = (int)cpu;
            }
        }
        g++;
        start = i + 1;
    }
    if (l.n) qsort(l.cpu, l.n, sizeof(int), cmp_int);
    *out = l;
    return 0;
}

/* Sorted, without duplicates. */
static CpuList cpus_sorted(const CpuList *in) {
    CpuList l = cpulist_copy(in);
    if (!l.n) return l;
    qsort(l.cpu, l.n, sizeof(int), cmp_int);
    size_t k = 1;
    for (size_t i = 1; i < l.n; i++)
        if (l.cpu[i] != l.cpu[k - 1]) l.cpu[k++] = l.cpu[i];
    l.n = k;
    return l;
}

static bool same_cpus(const CpuList *a, const CpuList *b) {
    CpuList x = cpus_sorted(a), y = cpus_sorted(b);
    bool same = x.n == y.n && (!x.n || !memcmp(x.cpu, y.cpu, x.n * sizeof(int)));
    cpulist_free(&x);
    cpulist_free(&y);
    return same;
}

static CpuList one_cpu(int cpu) {
    CpuList l = { xmalloc(sizeof(int)), 1 };
    l.cpu[0] = cpu;
    return l;
}

/* ------------------------------------------------------------------ */
/* Pure: ethtool feature bits                                          */

static const char *const feature_names[NIC_F__MAX] = {
    [NIC_F_TSO] = "tx-tcp-segmentation", [NIC_F_TSO6] = "tx-tcp6-segmentation",
    [NIC_F_GSO] = "tx-generic-segmentation", [NIC_F_GRO] = "rx-gro",
};
static const NicOffload feature_offload[NIC_F__MAX] = {
    [NIC_F_TSO] = NIC_OFFLOAD_TSO, [NIC_F_TSO6] = NIC_OFFLOAD_TSO, [NIC_F_GSO] = NIC_OFFLOAD_GSO, [NIC_F_GRO] = NIC_OFFLOAD_GRO,
};
static const char *const offload_names[NIC_OFFLOAD__MAX] = { [NIC_OFFLOAD_TSO] = "TSO", [NIC_OFFLOAD_GSO] = "GSO", [NIC_OFFLOAD_GRO] = "GRO" };

const char *hostnic_feature_name(NicFeature f) { return f < NIC_F__MAX ? feature_names[f] : NULL; }
NicOffload hostnic_feature_offload(NicFeature f) { return feature_offload[f]; }
const char *hostnic_offload_name(NicOffload o) { return o < NIC_OFFLOAD__MAX ? offload_names[o] : NULL; }

static int feature_index(char *const *names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (names[i] && streq(names[i], name)) return (int)i;
    return -ENOENT;
}

static NicFeature feature_by_name(const char *name) {
    for (int f = 0; f < NIC_F__MAX; f++)
        if (streq(feature_names[f], name)) return (NicFeature)f;
    return NIC_F__MAX;
}

int hostnic_features_decode(char *const *names, size_t n_names, const struct ethtool_get_features_block *blocks, size_t n_blocks,
                            NicOffloads *out) {
    if (n_blocks * 32 < n_names) return -EINVAL;
    for (int f = 0; f < NIC_F__MAX; f++) {
        NicFeatureState *s = &out->f[f];
        *s = (NicFeatureState){ 0 };
        int i = feature_index(names, n_names, feature_names[f]);
        if (i < 0) continue;
        uint32_t bit = UINT32_C(1) << (i % 32);
        const struct ethtool_get_features_block *b = &blocks[i / 32];
        *s = (NicFeatureState){ true, (b->available & bit) != 0, (b->requested & bit) != 0, (b->active & bit) != 0 };
    }
    out->error = 0;
    return 0;
}

int hostnic_features_request(char *const *names, size_t n_names, NicFeature f, bool on, struct ethtool_set_features_block *blocks,
                             size_t n_blocks) {
    if (f >= NIC_F__MAX) return -EINVAL;
    int i = feature_index(names, n_names, feature_names[f]);
    if (i < 0) return i;
    if ((size_t)i / 32 >= n_blocks) return -EINVAL;
    uint32_t bit = UINT32_C(1) << (i % 32);
    blocks[i / 32].valid |= bit;
    if (on) blocks[i / 32].requested |= bit;
    else blocks[i / 32].requested &= ~bit;
    return 0;
}

const char *hostnic_offload_state(const NicOffloads *o, NicOffload off) {
    size_t present = 0, active = 0;
    for (int f = 0; f < NIC_F__MAX; f++) {
        if (feature_offload[f] != off || !o->f[f].present) continue;
        present++;
        active += o->f[f].active;
    }
    if (!present) return "absent";
    return active == present ? "on" : active ? "partly on" : "off";
}

/* The lines of SV joined with SEP, and SV cleared. Caller frees. */
static char *join_clear(StrVec *sv, const char *sep) {
    size_t len = 1;
    for (size_t i = 0; i < sv->n; i++) len += strlen(sv->v[i]) + strlen(sep);
    char *s = xcalloc(1, len);
    for (size_t i = 0; i < sv->n; i++) {
        if (i) strcat(s, sep);
        strcat(s, sv->v[i]);
    }
    strvec_clear(sv);
    return s;
}

/* Whether every present feature of OFF may be changed. */
static bool offload_changeable(const NicOffloads *o, NicOffload off) {
    bool any = false;
    for (int f = 0; f < NIC_F__MAX; f++) {
        if (feature_offload[f] != off || !o->f[f].present) continue;
        if (!o->f[f].changeable) return false;
        any = true;
    }
    return any;
}

/* "TSO off -> on, GSO on already, GRO fixed off" (ON) or "TSO on, GSO on,
 * GRO off" (a reading). With AFTER, the state reached instead of the
 * state planned. */
static char *offloads_summary(const NicOffloads *before, const NicOffloads *after, bool on) {
    StrVec parts = STRVEC_INIT;
    for (int o = 0; o < NIC_OFFLOAD__MAX; o++) {
        const char *was = hostnic_offload_state(before, (NicOffload)o);
        if (!on || streq(was, "absent")) {
            strvec_pushf(&parts, "%s %s", offload_names[o], streq(was, "absent") ? "absent on this device" : was);
            continue;
        }
        if (streq(was, "on")) {
            strvec_pushf(&parts, "%s on already", offload_names[o]);
            continue;
        }
        if (!after) {
            if (offload_changeable(before, (NicOffload)o)) strvec_pushf(&parts, "%s %s -> on", offload_names[o], was);
            else strvec_pushf(&parts, "%s %s, fixed (the device cannot change it)", offload_names[o], was);
            continue;
        }
        const char *now = hostnic_offload_state(after, (NicOffload)o);
        if (streq(now, "on")) strvec_pushf(&parts, "%s %s -> on", offload_names[o], was);
        else if (!offload_changeable(before, (NicOffload)o))
            strvec_pushf(&parts, "%s %s, fixed (the device cannot change it)", offload_names[o], now);
        else
            strvec_pushf(&parts, "%s asked on, still %s (the driver keeps it off: a feature it needs, such as scatter-gather or checksumming, is off)",
                         offload_names[o], now);
    }
    return join_clear(&parts, ", ");
}

char *hostnic_render_offloads(const VmConfig *cfg, const NicOffloads *read, size_t n) {
    StrVec lines = STRVEC_INIT;
    if (cfg->n_hostnics) strvec_push(&lines, "# NIC offloads (ethtool features; each is put back when the VM ends):\n");
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        const HostNicSection *h = &cfg->hostnics[i];
        bool on = h->offloads == OFFLOADS_ON;
        const NicOffloads *o = read && i < n ? &read[i] : NULL;
        if (!o || o->error) {
            const char *why = !o ? "not read" : o->error == -EOPNOTSUPP ? "not read under a fake host root" : strerror(-o->error);
            if (on) strvec_pushf(&lines, "#   %s: TSO, GSO, GRO -> on (current state unknown: %s)\n", h->head.id, why);
            else strvec_pushf(&lines, "#   %s: kept (current state unknown: %s)\n", h->head.id, why);
            continue;
        }
        _cleanup_free_ char *s = offloads_summary(o, NULL, on);
        strvec_pushf(&lines, "#   %s: %s%s\n", h->head.id, on ? "" : "kept: ", s);
    }
    return join_clear(&lines, "");
}

/* ------------------------------------------------------------------ */
/* Pure: the plan                                                      */

typedef struct NicPlanner {
    const VmConfig *cfg;
    const HostNicFacts *facts;
    HostPlan *plan;
    ErrList *errors, *notes;
} NicPlanner;

/* "FILE:LINE: [hostnic "DEV"] KEY: ..." into EL; the header's line without KEY. */
static void nic_say(NicPlanner *p, ErrList *el, const HostNicSection *h, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void nic_say(NicPlanner *p, ErrList *el, const HostNicSection *h, const char *key, const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    int line = key ? section_key_line(SECTION_HOSTNIC, &h->head, key) : h->head.line;
    if (line <= 0) line = 1;
    _cleanup_free_ char *label = section_label(SECTION_HOSTNIC, &h->head);
    errlist_addf(el, line, "%s:%d: %s%s%s: %s", p->cfg->path, line, label, key ? " " : "", key ? key : "", buf);
}
#define nic_error(p, ...) nic_say((p), (p)->errors, __VA_ARGS__)
#define nic_note(p, ...) nic_say((p), (p)->notes, __VA_ARGS__)

static HostChange *nic_change(NicPlanner *p, const char *path, const char *old, const char *new, const char *why) {
    p->plan->c = xrealloc(p->plan->c, (p->plan->n + 1) * sizeof(HostChange));
    HostChange *c = &p->plan->c[p->plan->n++];
    *c = (HostChange){ .path = xstrdup(path), .old = xstrdup(old ? old : ""), .new = xstrdup(new), .why = xstrdup(why) };
    return c;
}

/* A cpulist key's CPUs must be online: the kernel refuses the rest. */
static bool check_online(NicPlanner *p, const HostNicSection *h, const char *key, const CpuList *l) {
    if (!p->facts->online_known) return true;
    for (size_t i = 0; i < l->n; i++) {
        if (cpulist_contains(&p->facts->online, l->cpu[i])) continue;
        _cleanup_free_ char *have = cpulist_format(&p->facts->online);
        nic_error(p, h, key, "expected CPUs that are online on this host (%s), found CPU %d", have, l->cpu[i]);
        return false;
    }
    return true;
}

/* The CPUs `local` and `spread` use: the NIC's node's online CPUs, or every
 * online CPU (said once) when the node is unknown or has none online. */
static CpuList local_cpus(NicPlanner *p, const HostNicSection *h, const NicFacts *f, const char *key, bool *noted) {
    CpuList out = { 0 };
    if (f->numa_node >= 0) {
        for (size_t i = 0; i < f->node_cpus.n; i++)
            if (!p->facts->online_known || cpulist_contains(&p->facts->online, f->node_cpus.cpu[i])) {
                out.cpu = xrealloc(out.cpu, (out.n + 1) * sizeof(int));
                out.cpu[out.n++] = f->node_cpus.cpu[i];
            }
        if (out.n) {
            CpuList s = cpus_sorted(&out);
            cpulist_free(&out);
            return s;
        }
    }
    CpuList all = cpus_sorted(&p->facts->online);
    if (!*noted) {
        _cleanup_free_ char *list = cpulist_format(&all);
        if (f->numa_node < 0)
            nic_note(p, h, key, "the NUMA node of %s is unknown (its device/numa_node is -1 or absent): all online CPUs (%s) are used", f->dev,
                     list);
        else
            nic_note(p, h, key, "node %d of %s has no online CPUs: all online CPUs (%s) are used", f->numa_node, f->dev, list);
        *noted = true;
    }
    return all;
}

static void plan_irqs(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool *noted) {
    const char *key = "irq-cpus";
    if (!f->irqs.n) {
        nic_note(p, h, key, "found no queue IRQs of %s (neither device/msi_irqs nor a /proc/interrupts name): nothing to pin", f->dev);
        return;
    }
    if (f->n_msi && !f->msix)
        nic_note(p, h, key, "%s uses MSI, not MSI-X: its queues share %zu vector%s (seed: make sure MSI-X is enabled)", f->dev, f->n_msi,
                 f->n_msi == 1 ? "" : "s");
    const HostSection *host = &p->cfg->host;
    if (p->facts->irqbalance_pid > 0 && host->irqbalance == IRQBALANCE_WARN)
        nic_note(p, h, key, "irqbalance runs (pid %d) and may move these IRQs again; stop it, or set [host] irqbalance = ignore",
                 p->facts->irqbalance_pid);
    CpuList cpus = { 0 };
    if (h->irq_cpus.kind == CPUSPEC_LIST) {
        if (!check_online(p, h, key, &h->irq_cpus.list)) return;
        cpus = cpus_sorted(&h->irq_cpus.list);
    } else {
        cpus = local_cpus(p, h, f, key, noted);
    }
    if (!cpus.n) {
        nic_error(p, h, key, "expected CPUs to pin the IRQs of %s to, found none online", f->dev);
        return;
    }
    for (size_t i = 0; i < f->irqs.n; i++) {
        int irq = f->irqs.v[i].irq;
        _cleanup_free_ char *path = xasprintf("/proc/irq/%d/smp_affinity_list", irq);
        if (!f->irq_affinity[i]) {
            nic_error(p, h, key, "expected %s to exist, found none (%s)", path, strerror(-f->irq_affinity_error[i]));
            continue;
        }
        /* A list: each IRQ may go to any of them. local: one CPU per IRQ, round robin. */
        CpuList want = h->irq_cpus.kind == CPUSPEC_LIST ? cpulist_copy(&cpus) : one_cpu(cpus.cpu[i % cpus.n]);
        _cleanup_free_ char *value = cpulist_format(&want);
        _cleanup_free_ char *why = xasprintf("[hostnic \"%s\"] irq-cpus: IRQ %d %s (seed: IRQ affinity)", h->head.id, irq, f->irqs.v[i].name);
        HostChange *c = nic_change(p, path, f->irq_affinity[i], value, why);
        CpuList old = { 0 };
        c->already = kfile_parse_cpulist(f->irq_affinity[i], &old) == 0 && same_cpus(&old, &want);
        cpulist_free(&old);
        cpulist_free(&want);
    }
    cpulist_free(&cpus);
}

/* rx-i/rps_cpus (RX) or tx-i/xps_cpus: MASKS[i] for queue i. */
static void plan_queues(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool rx, char **masks, CpuList *sets) {
    const char *key = rx ? "rps-cpus" : "xps";
    size_t n = rx ? f->n_rx : f->n_tx;
    char **now = rx ? f->rps : f->xps;
    const char *file = rx ? "rps_cpus" : "xps_cpus";
    if (!n) {
        nic_error(p, h, key, "expected /sys/class/net/%s/queues/%s-0/%s, found no %s queues", f->dev, rx ? "rx" : "tx", file,
                  rx ? "rx" : "tx");
        return;
    }
    for (size_t q = 0; q < n; q++) {
        _cleanup_free_ char *path = xasprintf("/sys/class/net/%s/queues/%s-%zu/%s", f->dev, rx ? "rx" : "tx", q, file);
        if (!now[q]) {
            nic_error(p, h, key, "expected %s to exist, found none (a kernel without CONFIG_%s?)", path, rx ? "RPS" : "XPS");
            return;
        }
        _cleanup_free_ char *why = rx ? xasprintf("[hostnic \"%s\"] rps-cpus: rx queue %zu (seed: RPS)", h->head.id, q)
                                      : xasprintf("[hostnic \"%s\"] xps: tx queue %zu (seed: XPS)", h->head.id, q);
        HostChange *c = nic_change(p, path, now[q], masks[q], why);
        CpuList old = { 0 };
        c->already = hostnic_parse_cpumask(now[q], &old) == 0 && same_cpus(&old, &sets[q]);
        cpulist_free(&old);
    }
}

static void plan_rps(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool *noted) {
    CpuList cpus = { 0 };
    if (h->rps_cpus.kind == CPUSPEC_LIST) {
        if (!check_online(p, h, "rps-cpus", &h->rps_cpus.list)) return;
        cpus = cpus_sorted(&h->rps_cpus.list);
    } else if (h->rps_cpus.kind == CPUSPEC_LOCAL) {
        cpus = local_cpus(p, h, f, "rps-cpus", noted);
        if (!cpus.n) {
            nic_error(p, h, "rps-cpus", "expected the online CPUs of this host, found none (/sys/devices/system/cpu/online unreadable)");
            return;
        }
    } /* off: no CPUs, mask 0 */
    size_t n = f->n_rx ? f->n_rx : 1;
    char **masks = xcalloc(n, sizeof(char *));
    CpuList *sets = xcalloc(n, sizeof(CpuList));
    for (size_t q = 0; q < n; q++) {
        sets[q] = cpulist_copy(&cpus);
        masks[q] = cpumask_format(&cpus);
    }
    plan_queues(p, h, f, true, masks, sets);
    for (size_t q = 0; q < n; q++) {
        free(masks[q]);
        cpulist_free(&sets[q]);
    }
    free(masks);
    free(sets);
    cpulist_free(&cpus);
}

static void plan_xps(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool *noted) {
    CpuList cpus = { 0 };
    if (h->xps == XPS_SPREAD) {
        cpus = local_cpus(p, h, f, "xps", noted);
        if (!cpus.n) {
            nic_error(p, h, "xps", "expected the online CPUs of this host, found none (/sys/devices/system/cpu/online unreadable)");
            return;
        }
    }
    size_t n = f->n_tx ? f->n_tx : 1;
    char **masks = xcalloc(n, sizeof(char *));
    CpuList *sets = xcalloc(n, sizeof(CpuList));
    for (size_t q = 0; q < n; q++) {
        /* tx queue i -> one CPU each, round robin; off: no CPU. */
        sets[q] = cpus.n ? one_cpu(cpus.cpu[q % cpus.n]) : (CpuList){ 0 };
        masks[q] = cpumask_format(&sets[q]);
    }
    plan_queues(p, h, f, false, masks, sets);
    for (size_t q = 0; q < n; q++) {
        free(masks[q]);
        cpulist_free(&sets[q]);
    }
    free(masks);
    free(sets);
    cpulist_free(&cpus);
}

int hostnic_plan_build(const VmConfig *cfg, const HostNicFacts *facts, HostPlan *plan, ErrList *errors, ErrList *notes) {
    NicPlanner p = { cfg, facts, plan, errors, notes };
    size_t before = errors->n;
    for (size_t i = 0; i < cfg->n_hostnics && i < facts->n; i++) {
        const HostNicSection *h = &cfg->hostnics[i];
        const NicFacts *f = &facts->nics[i];
        if (!f->exists) {
            nic_error(&p, h, NULL, "expected a network interface of this host, found no /sys/class/net/%s (`ip link` lists them)", h->head.id);
            continue;
        }
        bool noted = false;
        if (h->irq_cpus.kind == CPUSPEC_LIST || h->irq_cpus.kind == CPUSPEC_LOCAL) plan_irqs(&p, h, f, &noted);
        if (h->rps_cpus.kind == CPUSPEC_LIST || h->rps_cpus.kind == CPUSPEC_LOCAL || h->rps_cpus.kind == CPUSPEC_OFF)
            plan_rps(&p, h, f, &noted);
        if ((h->xps == XPS_SPREAD || h->xps == XPS_OFF) && f->xps_single)
            nic_note(&p, h, "xps", "%s has a single tx queue, and the kernel keeps XPS for multi-queue devices: nothing to set", f->dev);
        else if (h->xps == XPS_SPREAD || h->xps == XPS_OFF)
            plan_xps(&p, h, f, &noted);
    }
    errlist_sort(errors);
    return errors->n > before ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* Reading the host                                                    */

/* The names in directory PATH, without "." and "..". */
static int list_dir(const HostRoot *hr, const char *path, StrVec *out) {
    int fd = hostroot_openat(hr, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return r;
    }
    for (struct dirent *de; (de = readdir(d));)
        if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) strvec_push(out, de->d_name);
    closedir(d);
    return 0;
}

/* "123" -> 123; anything else -1. */
static long parse_number(const char *s) {
    if (!*s) return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    return errno || v > INT_MAX ? -1 : v;
}

static char *read_first_line(const HostRoot *hr, const char *path, int *error) {
    char *text = NULL;
    int r = hostroot_read(hr, path, &text);
    if (r < 0) {
        if (error) *error = r;
        return NULL;
    }
    text[strcspn(text, "\n")] = '\0';
    return text;
}

/* DEV's device/NAME; for a device that is not a PCI function itself but
 * sits on one (virtio-net's virtioN), the function's. Only then: the parent
 * of a PCI NIC is a bridge, whose vectors are not the NIC's. */
static char *device_path(const HostRoot *hr, const char *dev, const char *name) {
    char *p = xasprintf("/sys/class/net/%s/device/%s", dev, name);
    if (hostroot_exists(hr, p)) return p;
    free(p);
    _cleanup_free_ char *own = xasprintf("/sys/class/net/%s/device/config", dev);
    _cleanup_free_ char *parent = xasprintf("/sys/class/net/%s/device/../config", dev);
    if (hostroot_exists(hr, own) || !hostroot_exists(hr, parent)) return NULL;
    p = xasprintf("/sys/class/net/%s/device/../%s", dev, name);
    if (hostroot_exists(hr, p)) return p;
    free(p);
    return NULL;
}

static void probe_msi(const HostRoot *hr, NicFacts *f, int **msi) {
    _cleanup_free_ char *dir = device_path(hr, f->dev, "msi_irqs");
    StrVec names = STRVEC_INIT;
    if (!dir || list_dir(hr, dir, &names) < 0) return;
    *msi = xcalloc(names.n ? names.n : 1, sizeof(int));
    for (size_t i = 0; i < names.n; i++) {
        long irq = parse_number(names.v[i]);
        if (irq < 0) continue;
        (*msi)[f->n_msi++] = (int)irq;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names.v[i]);
        _cleanup_free_ char *mode = read_first_line(hr, path, NULL);
        if (mode && streq(mode, "msix")) f->msix = true;
    }
    strvec_clear(&names);
}

static size_t count_queues(const StrVec *names, const char *prefix) {
    size_t n = 0;
    for (size_t i = 0; i < names->n; i++)
        if (!strncmp(names->v[i], prefix, strlen(prefix)) && parse_number(names->v[i] + strlen(prefix)) >= 0) n++;
    return n;
}

static void probe_nic(const HostRoot *hr, const HostNicSection *h, NicFacts *f) {
    f->dev = xstrdup(h->head.id);
    f->numa_node = -1;
    _cleanup_free_ char *base = xasprintf("/sys/class/net/%s", f->dev);
    f->exists = hostroot_exists(hr, base);
    if (!f->exists) return;

    _cleanup_free_ char *np = device_path(hr, f->dev, "numa_node");
    _cleanup_free_ char *nt = NULL;
    int64_t node;
    if (np && hostroot_read(hr, np, &nt) == 0 && kfile_parse_int(nt, &node) == 0 && node >= 0 && node <= CPULIST_MAX_CPU) {
        f->numa_node = (int)node;
        _cleanup_free_ char *cp = xasprintf("/sys/devices/system/node/node%d/cpulist", f->numa_node);
        _cleanup_free_ char *ct = NULL;
        if (hostroot_read(hr, cp, &ct) == 0) kfile_parse_cpulist(ct, &f->node_cpus);
    }

    if (h->irq_cpus.kind == CPUSPEC_LIST || h->irq_cpus.kind == CPUSPEC_LOCAL) {
        _cleanup_free_ int *msi = NULL;
        probe_msi(hr, f, &msi);
        _cleanup_free_ char *text = NULL;
        if (hostroot_read(hr, "/proc/interrupts", &text) == 0 && hostnic_parse_interrupts(text, f->dev, msi, f->n_msi, &f->irqs) < 0)
            log_warning("/proc/interrupts: unexpected format; the IRQs of %s are not known", f->dev);
        f->irq_affinity = xcalloc(f->irqs.n ? f->irqs.n : 1, sizeof(char *));
        f->irq_affinity_error = xcalloc(f->irqs.n ? f->irqs.n : 1, sizeof(int));
        for (size_t i = 0; i < f->irqs.n; i++) {
            _cleanup_free_ char *path = xasprintf("/proc/irq/%d/smp_affinity_list", f->irqs.v[i].irq);
            f->irq_affinity[i] = read_first_line(hr, path, &f->irq_affinity_error[i]);
        }
    }

    _cleanup_free_ char *qdir = xasprintf("%s/queues", base);
    StrVec q = STRVEC_INIT;
    list_dir(hr, qdir, &q);
    f->n_rx = count_queues(&q, "rx-");
    f->n_tx = count_queues(&q, "tx-");
    strvec_clear(&q);
    f->rps = xcalloc(f->n_rx ? f->n_rx : 1, sizeof(char *));
    f->xps = xcalloc(f->n_tx ? f->n_tx : 1, sizeof(char *));
    for (size_t i = 0; i < f->n_rx; i++) {
        _cleanup_free_ char *path = xasprintf("%s/rx-%zu/rps_cpus", qdir, i);
        f->rps[i] = read_first_line(hr, path, NULL);
    }
    for (size_t i = 0; i < f->n_tx; i++) {
        _cleanup_free_ char *path = xasprintf("%s/tx-%zu/xps_cpus", qdir, i);
        int err = 0;
        f->xps[i] = read_first_line(hr, path, &err);
        /* A device with one tx queue has the file, but no map behind it. */
        if (f->n_tx == 1 && err == -ENOENT && hostroot_exists(hr, path)) f->xps_single = true;
    }
}

/* A process whose /proc/PID/comm is "irqbalance", or 0. */
static int find_irqbalance(const HostRoot *hr) {
    StrVec names = STRVEC_INIT;
    int found = 0;
    if (list_dir(hr, "/proc", &names) < 0) return 0;
    for (size_t i = 0; i < names.n && !found; i++) {
        long pid = parse_number(names.v[i]);
        if (pid <= 0) continue;
        _cleanup_free_ char *path = xasprintf("/proc/%ld/comm", pid);
        _cleanup_free_ char *comm = read_first_line(hr, path, NULL);
        if (comm && streq(comm, "irqbalance")) found = (int)pid;
    }
    strvec_clear(&names);
    return found;
}

void hostnic_probe(const HostRoot *hr, const VmConfig *cfg, HostNicFacts *facts) {
    memset(facts, 0, sizeof(*facts));
    _cleanup_free_ char *online = NULL;
    if (hostroot_read(hr, "/sys/devices/system/cpu/online", &online) == 0 && kfile_parse_cpulist(online, &facts->online) == 0)
        facts->online_known = true;
    facts->nics = xcalloc(cfg->n_hostnics ? cfg->n_hostnics : 1, sizeof(NicFacts));
    facts->n = cfg->n_hostnics;
    bool irqs = false;
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        probe_nic(hr, &cfg->hostnics[i], &facts->nics[i]);
        CpuSpecKind k = cfg->hostnics[i].irq_cpus.kind;
        irqs |= k == CPUSPEC_LIST || k == CPUSPEC_LOCAL;
    }
    if (irqs && cfg->host.irqbalance == IRQBALANCE_WARN) facts->irqbalance_pid = find_irqbalance(hr);
}

void hostnic_facts_free(HostNicFacts *facts) {
    for (size_t i = 0; i < facts->n; i++) {
        NicFacts *f = &facts->nics[i];
        for (size_t k = 0; f->irq_affinity && k < f->irqs.n; k++) free(f->irq_affinity[k]);
        free(f->irq_affinity);
        free(f->irq_affinity_error);
        nicirqlist_free(&f->irqs);
        for (size_t k = 0; f->rps && k < f->n_rx; k++) free(f->rps[k]);
        for (size_t k = 0; f->xps && k < f->n_tx; k++) free(f->xps[k]);
        free(f->rps);
        free(f->xps);
        cpulist_free(&f->node_cpus);
        free(f->dev);
    }
    free(facts->nics);
    cpulist_free(&facts->online);
    memset(facts, 0, sizeof(*facts));
}

int hostnic_plan(const HostRoot *hr, const VmConfig *cfg, HostPlan *plan, ErrList *errors, ErrList *notes) {
    if (!cfg->n_hostnics) return 0;
    HostNicFacts facts;
    hostnic_probe(hr, cfg, &facts);
    int r = hostnic_plan_build(cfg, &facts, plan, errors, notes);
    hostnic_facts_free(&facts);
    return r;
}

/* ------------------------------------------------------------------ */
/* Offloads: the ethtool ioctl                                         */

/* What the kernel says of one NIC: its feature names and their state. */
typedef struct EthFeatures {
    char **names;                   /* owned */
    size_t n_names;
    struct ethtool_get_features_block *blocks; /* owned */
    size_t n_blocks;
} EthFeatures;

static void eth_features_free(EthFeatures *e) {
    for (size_t i = 0; i < e->n_names; i++) free(e->names[i]);
    free(e->names);
    free(e->blocks);
    memset(e, 0, sizeof(*e));
}

static int ethtool_socket(void) {
    /* The lockdown filter allows exactly this socket (launcher/lockdown.c). */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

static int ethtool_call(int fd, const char *dev, void *cmd) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (strlen(dev) >= sizeof(ifr.ifr_name)) return -EINVAL;
    memcpy(ifr.ifr_name, dev, strlen(dev));
    ifr.ifr_data = cmd;
    int r = ioctl(fd, SIOCETHTOOL, &ifr);
    return r < 0 ? -errno : r;
}

static int eth_features_read(int fd, const char *dev, EthFeatures *out) {
    memset(out, 0, sizeof(*out));
    struct {
        struct ethtool_sset_info info;
        uint32_t count;
    } sset = { .info = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = UINT64_C(1) << ETH_SS_FEATURES } };
    int r = ethtool_call(fd, dev, &sset);
    if (r < 0) return r;
    if (!(sset.info.sset_mask & (UINT64_C(1) << ETH_SS_FEATURES)) || sset.count == 0 || sset.count > 4096) return -EOPNOTSUPP;
    size_t n = sset.count;
    struct ethtool_gstrings *gs = xcalloc(1, sizeof(*gs) + n * ETH_GSTRING_LEN);
    *gs = (struct ethtool_gstrings){ .cmd = ETHTOOL_GSTRINGS, .string_set = ETH_SS_FEATURES, .len = (uint32_t)n };
    r = ethtool_call(fd, dev, gs);
    if (r >= 0 && gs->len != n) r = -EIO; /* the set changed between the calls */
    if (r < 0) {
        free(gs);
        return r;
    }
    out->names = xcalloc(n, sizeof(char *));
    out->n_names = n;
    for (size_t i = 0; i < n; i++) out->names[i] = xstrndup((const char *)gs->data + i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
    free(gs);
    size_t nb = (n + 31) / 32;
    struct ethtool_gfeatures *gf = xcalloc(1, sizeof(*gf) + nb * sizeof(struct ethtool_get_features_block));
    *gf = (struct ethtool_gfeatures){ .cmd = ETHTOOL_GFEATURES, .size = (uint32_t)nb };
    r = ethtool_call(fd, dev, gf);
    if (r < 0) {
        free(gf);
        eth_features_free(out);
        return r;
    }
    out->blocks = xcalloc(nb, sizeof(struct ethtool_get_features_block));
    memcpy(out->blocks, gf->features, nb * sizeof(struct ethtool_get_features_block));
    out->n_blocks = nb;
    free(gf);
    return 0;
}

/* Sends the set blocks; returns the kernel's ETHTOOL_F_* flags. */
static int eth_features_write(int fd, const char *dev, const struct ethtool_set_features_block *blocks, size_t n_blocks) {
    struct ethtool_sfeatures *sf = xcalloc(1, sizeof(*sf) + n_blocks * sizeof(struct ethtool_set_features_block));
    *sf = (struct ethtool_sfeatures){ .cmd = ETHTOOL_SFEATURES, .size = (uint32_t)n_blocks };
    memcpy(sf->features, blocks, n_blocks * sizeof(struct ethtool_set_features_block));
    int r = ethtool_call(fd, dev, sf);
    free(sf);
    return r;
}

static int offloads_read_fd(int fd, NicOffloads *out) {
    EthFeatures e;
    int r = eth_features_read(fd, out->dev, &e);
    if (r < 0) return out->error = r;
    r = hostnic_features_decode(e.names, e.n_names, e.blocks, e.n_blocks, out);
    eth_features_free(&e);
    if (r < 0) out->error = r;
    return r;
}

int hostnic_offloads_read(const HostRoot *hr, const char *dev, NicOffloads *out) {
    memset(out, 0, sizeof(*out));
    out->dev = xstrdup(dev);
    if (hr->fake) return out->error = -EOPNOTSUPP;
    int fd = ethtool_socket();
    if (fd < 0) return out->error = fd;
    int r = offloads_read_fd(fd, out);
    close(fd);
    return r;
}

NicOffloads *hostnic_offloads_read_all(const HostRoot *hr, const VmConfig *cfg) {
    NicOffloads *o = xcalloc(cfg->n_hostnics ? cfg->n_hostnics : 1, sizeof(NicOffloads));
    for (size_t i = 0; i < cfg->n_hostnics; i++) hostnic_offloads_read(hr, cfg->hostnics[i].head.id, &o[i]);
    return o;
}

void hostnic_offloads_free(NicOffloads *o, size_t n) {
    for (size_t i = 0; o && i < n; i++) free(o[i].dev);
    free(o);
}

/* ------------------------------------------------------------------ */
/* Offloads: the host-wide state                                       */

#define OFFLOADS_STATE "host.offloads"

/* stat, not access(): the supervisor's filter allows newfstatat only. */
static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *jstr(json_object *o, const char *key) {
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The network namespace we run in: ethtool reaches the devices of that one
 * only, so an entry is put back from the same namespace. */
static char *netns_id(void) {
    struct stat st;
    if (stat("/proc/self/ns/net", &st) < 0) return xstrdup("unknown");
    return xasprintf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
}

static json_object *off_find(json_object *list, const char *dev, const char *netns, const char *feature) {
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *d = jstr(e, "dev"), *n = jstr(e, "netns"), *f = jstr(e, "feature");
        if (d && n && f && streq(d, dev) && streq(n, netns) && streq(f, feature)) return e;
    }
    return NULL;
}

static void off_add_user(json_object *e, const char *name) {
    json_object *users = json_object_object_get(e, "users");
    for (size_t i = 0; users && i < json_object_array_length(users); i++)
        if (streq(json_object_get_string(json_object_array_get_idx(users, i)), name)) return;
    json_object_array_add(users, json_object_new_string(name));
}

static void off_remove_user(json_object *list, const char *name) {
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *users = json_object_object_get(json_object_array_get_idx(list, i), "users");
        for (size_t j = users ? json_object_array_length(users) : 0; j-- > 0;)
            if (streq(json_object_get_string(json_object_array_get_idx(users, j)), name)) json_object_array_del_idx(users, j, 1);
    }
}

static void off_drop_dead(json_object *list) {
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *users = json_object_object_get(json_object_array_get_idx(list, i), "users");
        for (size_t j = users ? json_object_array_length(users) : 0; j-- > 0;) {
            const char *u = json_object_get_string(json_object_array_get_idx(users, j));
            if (runtime_query(u, NULL, NULL) != 1) json_object_array_del_idx(users, j, 1);
        }
    }
}

/* Puts back entry E. 1: done (or nothing left to do), drop it; 0: keep it
 * (another namespace); -errno: failed, keep it for a later cleanup. */
static int off_restore_one(int fd, json_object *e, const char *netns) {
    const char *dev = jstr(e, "dev"), *ns = jstr(e, "netns"), *feature = jstr(e, "feature");
    json_object *orig_o = json_object_object_get(e, "original");
    if (!dev || !ns || !feature || !orig_o) return 1;
    bool orig = json_object_get_boolean(orig_o);
    if (!streq(ns, netns) && !streq(ns, "unknown") && !streq(netns, "unknown")) {
        log_notice("%s %s: recorded in another network namespace; `kvmlaunch cleanup` from there puts it back", dev, feature);
        return 0;
    }
    NicFeature f = feature_by_name(feature);
    if (f == NIC_F__MAX) return 1;
    if (fd < 0) return log_error_errno(fd, "Failed to open a socket to put %s %s back: %m", dev, feature);
    EthFeatures ef;
    int r = eth_features_read(fd, dev, &ef);
    if (r == -ENODEV) {
        log_notice("%s is gone: its %s needs no putting back", dev, feature);
        return 1;
    }
    if (r < 0) return log_error_errno(r, "Failed to read the features of %s: %m", dev);
    NicOffloads now = { .dev = (char *)dev };
    r = hostnic_features_decode(ef.names, ef.n_names, ef.blocks, ef.n_blocks, &now);
    if (r == 0 && (!now.f[f].present || now.f[f].requested == orig)) {
        eth_features_free(&ef);
        return 1; /* as it was: nothing to write */
    }
    struct ethtool_set_features_block *sb = xcalloc(ef.n_blocks, sizeof(*sb));
    if (r == 0) r = hostnic_features_request(ef.names, ef.n_names, f, orig, sb, ef.n_blocks);
    if (r == 0) r = eth_features_write(fd, dev, sb, ef.n_blocks);
    free(sb);
    eth_features_free(&ef);
    if (r == -ENOENT) return 1;
    if (r < 0) return log_error_errno(r, "Failed to put %s %s back to %s: %m", dev, feature, orig ? "on" : "off");
    log_info("restored %s %s to %s", dev, feature, orig ? "on" : "off");
    return 1;
}

/* Puts back and drops every entry nobody relies on any more, newest first. */
static int off_settle(json_object *list) {
    bool any = false;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *users = json_object_object_get(json_object_array_get_idx(list, i), "users");
        any |= !users || json_object_array_length(users) == 0;
    }
    if (!any) return 0;
    _cleanup_free_ char *netns = netns_id();
    int fd = ethtool_socket();
    int result = 0;
    for (size_t i = json_object_array_length(list); i-- > 0;) {
        json_object *e = json_object_array_get_idx(list, i);
        json_object *users = json_object_object_get(e, "users");
        if (users && json_object_array_length(users) > 0) continue;
        int r = off_restore_one(fd, e, netns);
        if (r < 0 && !result) result = r;
        if (r == 1) json_object_array_del_idx(list, i, 1);
    }
    if (fd >= 0) close(fd);
    return result;
}

static int off_restore_locked(const char *name) {
    StateFile l = { -1, NULL, NULL };
    int r = statefile_lock(&l, OFFLOADS_STATE, "features");
    if (r < 0) return r;
    json_object *list = statefile_load(&l);
    if (name) off_remove_user(list, name);
    else off_drop_dead(list);
    r = off_settle(list);
    int r2 = statefile_save(&l, list);
    json_object_put(list);
    statefile_unlock(&l);
    return r < 0 ? r : r2;
}

int hostnic_offloads_restore(const HostRoot *hr, const char *name) {
    if (hr->fake) return 0;
    _cleanup_free_ char *path = xasprintf("%s/%s", runtime_base(), OFFLOADS_STATE);
    if (!file_exists(path)) return 0; /* nothing was ever recorded */
    return off_restore_locked(name);
}

int hostnic_offloads_replay_dead(const HostRoot *hr) {
    if (hr->fake) return 0;
    _cleanup_free_ char *path = xasprintf("%s/%s", runtime_base(), OFFLOADS_STATE);
    if (!file_exists(path)) return 0;
    return off_restore_locked(NULL);
}

/* Records and turns on the offloads of one NIC. */
static int offloads_on(int fd, json_object *list, const StateFile *l, const char *name, const char *netns, const char *dev) {
    EthFeatures ef;
    int r = eth_features_read(fd, dev, &ef);
    if (r < 0) return log_error_errno(r, "Failed to read the ethtool features of %s: %m", dev);
    NicOffloads before = { .dev = (char *)dev };
    r = hostnic_features_decode(ef.names, ef.n_names, ef.blocks, ef.n_blocks, &before);
    struct ethtool_set_features_block *sb = xcalloc(ef.n_blocks, sizeof(*sb));
    bool change = false;
    for (int f = 0; f < NIC_F__MAX && r >= 0; f++) {
        const NicFeatureState *s = &before.f[f];
        if (!s->present) continue;
        json_object *e = off_find(list, dev, netns, feature_names[f]);
        if (!e) {
            e = json_object_new_object();
            json_object_object_add(e, "dev", json_object_new_string(dev));
            json_object_object_add(e, "netns", json_object_new_string(netns));
            json_object_object_add(e, "feature", json_object_new_string(feature_names[f]));
            json_object_object_add(e, "original", json_object_new_boolean(s->requested));
            json_object_object_add(e, "users", json_object_new_array());
            json_object_array_add(list, e);
        }
        off_add_user(e, name);
        if (s->changeable && !s->requested) {
            r = hostnic_features_request(ef.names, ef.n_names, (NicFeature)f, true, sb, ef.n_blocks);
            change = true;
        }
    }
    /* The originals are on disk before the device changes. */
    if (r >= 0) r = statefile_save(l, list);
    if (r >= 0 && change) {
        r = eth_features_write(fd, dev, sb, ef.n_blocks);
        if (r < 0) log_error_errno(r, "Failed to turn on the offloads of %s (ETHTOOL_SFEATURES): %m", dev);
    }
    free(sb);
    eth_features_free(&ef);
    if (r < 0) return r;
    NicOffloads after = { .dev = (char *)dev };
    int ra = offloads_read_fd(fd, &after);
    _cleanup_free_ char *s = offloads_summary(&before, ra >= 0 ? &after : NULL, true);
    log_info("%s offloads: %s", dev, s);
    return 0;
}

int hostnic_offloads_apply(const HostRoot *hr, const VmConfig *cfg) {
    bool any_on = false;
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        const HostNicSection *h = &cfg->hostnics[i];
        if (h->offloads == OFFLOADS_ON) {
            any_on = true;
            if (hr->fake) log_notice("%s offloads: not changed under the fake host root %s", h->head.id, hr->path);
            continue;
        }
        /* keep: reported, untouched. */
        NicOffloads o;
        if (hostnic_offloads_read(hr, h->head.id, &o) == 0) {
            _cleanup_free_ char *s = offloads_summary(&o, NULL, false);
            log_info("%s offloads (kept): %s", h->head.id, s);
        } else if (o.error != -EOPNOTSUPP) {
            log_notice("%s offloads (kept): unknown (%s)", h->head.id, strerror(-o.error));
        }
        free(o.dev);
    }
    if (!any_on || hr->fake) return 0;

    StateFile l = { -1, NULL, NULL };
    int r = statefile_lock(&l, OFFLOADS_STATE, "features");
    if (r < 0) return r;
    json_object *list = statefile_load(&l);
    off_drop_dead(list);
    off_settle(list);
    _cleanup_free_ char *netns = netns_id();
    int fd = ethtool_socket();
    if (fd < 0) r = log_error_errno(fd, "Failed to open a socket for the ethtool ioctl: %m");
    for (size_t i = 0; i < cfg->n_hostnics && r >= 0; i++)
        if (cfg->hostnics[i].offloads == OFFLOADS_ON) r = offloads_on(fd, list, &l, cfg->vm.name, netns, cfg->hostnics[i].head.id);
    if (fd >= 0) close(fd);
    if (r < 0) {
        /* Nothing half-done: what this call changed goes back now. */
        off_remove_user(list, cfg->vm.name);
        off_settle(list);
    }
    int r2 = statefile_save(&l, list);
    json_object_put(list);
    statefile_unlock(&l);
    return r < 0 ? r : r2;
}
