/* The host's NIC (include/hostnic.h): pure parsers and planning first, then
 * the reading through the HostRoot. The ethtool offloads live in
 * launcher/net/nicoffload.c. */
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

static CpuList one_cpu(int cpu) {
    CpuList l = { xmalloc(sizeof(int)), 1 };
    l.cpu[0] = cpu;
    return l;
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
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(el, p->cfg->path, SECTION_HOSTNIC, &h->head, key, fmt, ap);
    va_end(ap);
}
#define nic_error(p, ...) nic_say((p), (p)->errors, __VA_ARGS__)
#define nic_note(p, ...) nic_say((p), (p)->notes, __VA_ARGS__)


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
            CpuList s = cpulist_sorted(&out);
            cpulist_free(&out);
            return s;
        }
    }
    CpuList all = cpulist_sorted(&p->facts->online);
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
        cpus = cpulist_sorted(&h->irq_cpus.list);
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
        HostChange *c = hostplan_add(p->plan, path, f->irq_affinity[i], value, why);
        CpuList old = { 0 };
        c->already = kfile_parse_cpulist(f->irq_affinity[i], &old) == 0 && cpulist_same_set(&old, &want);
        cpulist_free(&old);
        cpulist_free(&want);
    }
    cpulist_free(&cpus);
}

/* rx-i/rps_cpus (RX) or tx-i/xps_cpus: MASKS[i] for queue i. */
static void plan_queues_of(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool rx, char **masks, CpuList *sets) {
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
        HostChange *c = hostplan_add(p->plan, path, now[q], masks[q], why);
        CpuList old = { 0 };
        c->already = hostnic_parse_cpumask(now[q], &old) == 0 && cpulist_same_set(&old, &sets[q]);
        cpulist_free(&old);
    }
}

/* plan_queues_of, then MASKS and SETS (one a queue, at least one) go. */
static void plan_queues(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool rx, char **masks, CpuList *sets) {
    plan_queues_of(p, h, f, rx, masks, sets);
    size_t n = (rx ? f->n_rx : f->n_tx) ? (rx ? f->n_rx : f->n_tx) : 1;
    for (size_t q = 0; q < n; q++) {
        free(masks[q]);
        cpulist_free(&sets[q]);
    }
    free(masks);
    free(sets);
}

static void plan_rps(NicPlanner *p, const HostNicSection *h, const NicFacts *f, bool *noted) {
    CpuList cpus = { 0 };
    if (h->rps_cpus.kind == CPUSPEC_LIST) {
        if (!check_online(p, h, "rps-cpus", &h->rps_cpus.list)) return;
        cpus = cpulist_sorted(&h->rps_cpus.list);
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
    if (!dir || hostroot_list(hr, dir, false, &names) < 0) return;
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

/* DRIVER= of device/uevent: the driver's name without following the
 * device/driver symlink, which test trees cannot have. */
static char *probe_driver(const HostRoot *hr, const char *dev) {
    _cleanup_free_ char *path = xasprintf("/sys/class/net/%s/device/uevent", dev), *text = NULL;
    char *driver = NULL;
    if (hostroot_read(hr, path, &text) < 0 || kfile_parse_field(text, "DRIVER", '=', &driver) < 0) return NULL;
    return driver;
}

void hostnic_probe_dev(const HostRoot *hr, const char *dev, bool irqs, NicFacts *f) {
    memset(f, 0, sizeof(*f));
    f->dev = xstrdup(dev);
    f->numa_node = -1;
    _cleanup_free_ char *base = xasprintf("/sys/class/net/%s", f->dev);
    f->exists = hostroot_exists(hr, base);
    if (!f->exists) return;
    f->driver = probe_driver(hr, f->dev);

    _cleanup_free_ char *np = device_path(hr, f->dev, "numa_node");
    _cleanup_free_ char *nt = NULL;
    int64_t node;
    if (np && hostroot_read(hr, np, &nt) == 0 && kfile_parse_int(nt, &node) == 0 && node >= 0 && node <= CPULIST_MAX_CPU) {
        f->numa_node = (int)node;
        _cleanup_free_ char *cp = xasprintf("/sys/devices/system/node/node%d/cpulist", f->numa_node);
        _cleanup_free_ char *ct = NULL;
        if (hostroot_read(hr, cp, &ct) == 0) kfile_parse_cpulist(ct, &f->node_cpus);
    }

    if (irqs) {
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
    hostroot_list(hr, qdir, false, &q);
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

int hostnic_find_irqbalance(const HostRoot *hr) {
    StrVec names = STRVEC_INIT;
    int found = 0;
    if (hostroot_list(hr, "/proc", false, &names) < 0) return 0;
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
        CpuSpecKind k = cfg->hostnics[i].irq_cpus.kind;
        bool pins = k == CPUSPEC_LIST || k == CPUSPEC_LOCAL;
        hostnic_probe_dev(hr, cfg->hostnics[i].head.id, pins, &facts->nics[i]);
        irqs |= pins;
    }
    if (irqs && cfg->host.irqbalance == IRQBALANCE_WARN) facts->irqbalance_pid = hostnic_find_irqbalance(hr);
}

void nicfacts_free(NicFacts *f) {
    for (size_t k = 0; f->irq_affinity && k < f->irqs.n; k++) free(f->irq_affinity[k]);
    free(f->irq_affinity);
    free(f->irq_affinity_error);
    nicirqlist_free(&f->irqs);
    for (size_t k = 0; f->rps && k < f->n_rx; k++) free(f->rps[k]);
    for (size_t k = 0; f->xps && k < f->n_tx; k++) free(f->xps[k]);
    free(f->rps);
    free(f->xps);
    cpulist_free(&f->node_cpus);
    free(f->driver);
    free(f->dev);
    memset(f, 0, sizeof(*f));
}

void hostnic_facts_free(HostNicFacts *facts) {
    for (size_t i = 0; i < facts->n; i++) nicfacts_free(&facts->nics[i]);
    free(facts->nics);
    cpulist_free(&facts->online);
    memset(facts, 0, sizeof(*facts));
}
