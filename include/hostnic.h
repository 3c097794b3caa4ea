/* The host's own NIC, [hostnic "DEV"] (CONFIG.md; seed: "Interrupt
 * handling", "Large Segment offload"): its queue IRQs pinned
 * (/proc/irq/N/smp_affinity_list), RPS masks per rx queue, XPS one CPU per
 * tx queue, and TSO/GSO/GRO turned on through the ethtool ioctl.
 *
 * The sysfs and procfs writes are ordinary HostChange entries appended to
 * the host plan: hostplan_apply records their originals in the host-wide
 * state file and hostplan_restore puts them back when the last VM relying
 * on them is gone. Offloads are not files, so they have their own
 * apply/restore pair, records of the journal (include/journal.h) in
 * BASE/host.offloads (BASE = runtime_base()), with the same rules:
 * original recorded and saved before the device changes, one user list per
 * feature, the last VM relying on a feature puts its original back; a
 * restore that fails keeps its record for `kvmlaunch cleanup`.
 *
 * How the run flow uses it (launcher/vm/run.c, cli.c, commands.c):
 *
 *   probe     with the other probes (vmplan_probe), before planning:
 *               hostnic_probe(&hr, cfg, &nics);
 *   plan      after hostplan_build(cfg, &hst, &plan, &errors, &notes):
 *               hostnic_plan_build(cfg, &nics, &plan, &errors, &notes);
 *             (appends to PLAN; a negative return, like hostplan_build's,
 *             is exit 2 with ERRORS printed)
 *   dry-run   after hostplan_render(&plan):
 *               NicOffloads *o = hostnic_offloads_read_all(&hr, cfg);
 *               char *t = hostnic_render_offloads(cfg, o, cfg->n_hostnics);
 *               hostnic_offloads_free(o, cfg->n_hostnics);
 *   run       right after hostplan_apply() succeeded (so, like it, after
 *             runtime_acquire: users whose runtime lock is not held count
 *             as dead and their entries are put back):
 *               if (hostnic_offloads_apply(&hr, cfg) < 0)
 *                   { hostplan_restore(&hr, name); fail as for hostplan_apply }
 *             at teardown, next to hostplan_restore(&hr, name) (after
 *             lockdown: it needs only socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC),
 *             ioctl(SIOCETHTOOL) and CAP_NET_ADMIN, which lockdown keeps):
 *               hostnic_offloads_restore(&hr, name);
 *   replay    wherever hostplan_replay_dead(&hr) is called (run before
 *             probing, `kvmlaunch cleanup`):
 *               hostnic_offloads_replay_dead(&hr);
 *             and `cleanup NAME` also calls hostnic_offloads_restore(&hr, NAME).
 *   check     hostnic_plan_build's errors are FAIL lines, its notes WARN lines.
 *   host      for each physical NIC, hostnic_probe_dev(hr, dev, true, &f)
 *             fills NicFacts (driver, NUMA node, queue IRQs and their
 *             affinity, MSI or MSI-X and vector count, rx/tx queues with
 *             their RPS/XPS masks) and hostnic_offloads_read() its
 *             TSO/GSO/GRO; hostnic_find_irqbalance() (launcher/host/hostinfo.c).
 *
 * Every ethtool request goes through hostroot_ethtool(): under a redirected
 * root (KVMLAUNCH_ROOT) no real NIC is asked (the request answers
 * -EOPNOTSUPP, said, nothing changed), and tests put their own ops there. */
#ifndef KVMLAUNCH_HOSTNIC_H
#define KVMLAUNCH_HOSTNIC_H

#include <linux/ethtool.h>
#include <stdbool.h>
#include <stddef.h>

#include "hostplan.h"
#include "hostroot.h"
#include "values.h"
#include "vmconf.h"

/* ---- pure: parsers ---- */

/* One IRQ line of /proc/interrupts that belongs to a NIC. */
typedef struct NicIrq {
    int irq;
    char *name;                     /* owned: the handler names as listed ("eth0-TxRx-0") */
} NicIrq;

typedef struct NicIrqList {
    NicIrq *v;                      /* owned, by IRQ number */
    size_t n;
} NicIrqList;

/* The IRQs of DEV in /proc/interrupts: those with a handler named DEV or
 * DEV followed by a character that cannot continue an interface name's
 * word ("eth0", "eth0-TxRx-0", "eth0@pci:..."; not "eth01"), and those whose
 * number is one of MSI (DEV's device/msi_irqs; drivers such as virtio-net
 * and mlx5 name their vectors after the device, not the interface).
 * Lines that are not numbered IRQs (NMI:, LOC:, ERR:) are skipped; the first
 * line must be the header of CPUs ("CPU0 CPU1 ..."). -EINVAL on a numbered
 * line that is malformed. An empty result is not an error. */
int hostnic_parse_interrupts(const char *text, const char *dev, const int *msi, size_t n_msi, NicIrqList *out);
void nicirqlist_free(NicIrqList *l);

/* A cpumask file as the kernel writes it (rps_cpus, xps_cpus,
 * smp_affinity): "f\n", "0000000f\n", "00000001,00000000\n". OUT holds the
 * CPUs set, ascending. -EINVAL otherwise. */
int hostnic_parse_cpumask(const char *text, CpuList *out);

/* The kernel features an offload stands for: TSO is tx-tcp-segmentation and
 * tx-tcp6-segmentation; GSO tx-generic-segmentation; GRO rx-gro.
 * (`ethtool -K tso on` also turns on tx-tcp-ecn-segmentation and
 * tx-tcp-mangleid-segmentation; kvmlaunch leaves those alone: the first
 * changes how ECN packets are cut, the second lets IP IDs be rewritten.) */
typedef enum { NIC_F_TSO, NIC_F_TSO6, NIC_F_GSO, NIC_F_GRO, NIC_F__MAX } NicFeature;
typedef enum { NIC_OFFLOAD_TSO, NIC_OFFLOAD_GSO, NIC_OFFLOAD_GRO, NIC_OFFLOAD__MAX } NicOffload;

/* The kernel's name of feature F ("rx-gro"), and the offload it belongs to. */
const char *hostnic_feature_name(NicFeature f);
NicOffload hostnic_feature_offload(NicFeature f);
const char *hostnic_offload_name(NicOffload o); /* "TSO" */

/* What ETHTOOL_GFEATURES says of one feature. */
typedef struct NicFeatureState {
    bool present;                   /* the kernel has the feature (in ETH_SS_FEATURES) */
    bool changeable;                /* "available": ETHTOOL_SFEATURES may change it */
    bool requested;                 /* what was asked for last */
    bool active;                    /* what holds now */
} NicFeatureState;

/* The offloads of one NIC as read. */
typedef struct NicOffloads {
    char *dev;                      /* owned */
    int error;                      /* -errno of the reading; 0: f[] is valid */
    NicFeatureState f[NIC_F__MAX];
} NicOffloads;

/* Pure: fills OUT->f from the feature names (ETH_SS_FEATURES strings, in
 * the kernel's order, N_NAMES of them) and the ETHTOOL_GFEATURES blocks
 * (feature i is bit i % 32 of block i / 32). -EINVAL when the blocks are too
 * few for the names. A name the kernel lacks is present = false. */
int hostnic_features_decode(char *const *names, size_t n_names, const struct ethtool_get_features_block *blocks,
                            size_t n_blocks, NicOffloads *out);
/* Pure: the ETHTOOL_SFEATURES blocks that set feature F's requested state to
 * ON (valid bit and requested bit), OR'ed into BLOCKS. -ENOENT when F is not
 * among NAMES, -EINVAL when BLOCKS is too short. */
int hostnic_features_request(char *const *names, size_t n_names, NicFeature f, bool on,
                             struct ethtool_set_features_block *blocks, size_t n_blocks);
/* "on", "off", or "partly on" (TSO on for IPv4, off for IPv6): the offload's
 * features that are present, by their active state. "absent" when the
 * kernel has none of them. */
const char *hostnic_offload_state(const NicOffloads *o, NicOffload off);

/* ---- the plan ---- */

/* What the plan needs of one NIC, read through the HostRoot. */
typedef struct NicFacts {
    char *dev;                      /* owned */
    bool exists;                    /* /sys/class/net/DEV */
    char *driver;                   /* owned: DRIVER= of device/uevent; NULL without one (virtual devices) */
    int numa_node;                  /* device/numa_node (or its parent's, for virtio); -1: unknown */
    CpuList node_cpus;              /* owned: nodeN/cpulist; empty when unknown */
    NicIrqList irqs;                /* owned: the queue IRQs */
    char **irq_affinity;            /* owned, irqs.n entries: smp_affinity_list's first line, NULL when unreadable */
    int *irq_affinity_error;        /* owned, irqs.n entries */
    size_t n_msi;                   /* vectors listed in msi_irqs */
    bool msix;                      /* they are MSI-X (else MSI, when n_msi > 0) */
    char **rps;                     /* owned, n_rx entries: queues/rx-i/rps_cpus first line, NULL when missing */
    char **xps;                     /* owned, n_tx entries: queues/tx-i/xps_cpus */
    size_t n_rx, n_tx;
    bool xps_single;                /* one tx queue, whose xps_cpus the kernel refuses to read (-ENOENT): no XPS there */
} NicFacts;

typedef struct HostNicFacts {
    NicFacts *nics;                 /* owned: one per [hostnic], in cfg order */
    size_t n;
    CpuList online;                 /* owned: /sys/devices/system/cpu/online */
    bool online_known;
    int irqbalance_pid;             /* a process whose comm is "irqbalance"; 0: none */
} HostNicFacts;

/* Reads every [hostnic] of CFG (and looks for irqbalance when one sets
 * irq-cpus). Missing files are recorded, not fatal. */
void hostnic_probe(const HostRoot *hr, const VmConfig *cfg, HostNicFacts *facts);
void hostnic_facts_free(HostNicFacts *facts);
/* One NIC, as hostnic_probe reads it: exists, driver, NUMA node, queues
 * with their RPS/XPS masks, and with IRQS also the MSI vectors, the queue
 * IRQs and each one's smp_affinity_list (`kvmlaunch host` asks for them
 * all; the plan only when irq-cpus is set). Frees with nicfacts_free(). */
void hostnic_probe_dev(const HostRoot *hr, const char *dev, bool irqs, NicFacts *f);
void nicfacts_free(NicFacts *f);
/* The pid of a process whose /proc/PID/comm is "irqbalance", or 0. Reads
 * /proc through the HostRoot, so a test tree decides. */
int hostnic_find_irqbalance(const HostRoot *hr);

/* Pure: appends to PLAN the writes [hostnic] asks for. Errors (file:line):
 * a NIC that does not exist, CPUs that are not online, rps/xps files the
 * kernel lacks. Notes: `local` on a NIC whose node is unknown (all online
 * CPUs then), a NIC without queue IRQs, irqbalance running with irq-cpus
 * set and [host] irqbalance = warn, the MSI/MSI-X state. Returns -EINVAL
 * when it added errors. */
int hostnic_plan_build(const VmConfig *cfg, const HostNicFacts *facts, HostPlan *plan, ErrList *errors, ErrList *notes);


/* ---- offloads: ethtool ioctls on the caller's network namespace ---- */

/* The host-wide offload state file under the run dir and the member holding
 * its array: {"dev", "netns", "feature", "original" (a boolean), "users"}. */
#define HOSTNIC_OFFLOADS_STATE_FILE "host.offloads"
#define HOSTNIC_OFFLOADS_STATE_KEY "features"

/* Reads DEV's TSO/GSO/GRO state (no privilege needed) through
 * hostroot_ethtool(): under a redirected root out->error = -EOPNOTSUPP and
 * no real NIC is asked. */
int hostnic_offloads_read(const HostRoot *hr, const char *dev, NicOffloads *out);
/* One NicOffloads per [hostnic] of CFG (errors recorded inside). */
NicOffloads *hostnic_offloads_read_all(const HostRoot *hr, const VmConfig *cfg);
void hostnic_offloads_free(NicOffloads *o, size_t n);

/* Pure: the dry-run lines of the offloads: a heading line ("# NIC offloads
 * (ethtool features; ...):"), then one line per [hostnic]
 * ("#   eth0: TSO off -> on, GSO on already, GRO off -> on"; with
 * offloads = keep "#   eth0: kept: TSO on, GSO on, GRO off"). READ has N
 * entries in cfg order, or is NULL (not read: "current state unknown").
 * Empty string without [hostnic]. Caller frees. */
char *hostnic_render_offloads(const VmConfig *cfg, const NicOffloads *read, size_t n);

/* For VM NAME = cfg->vm.name: for each [hostnic] with offloads = on, records
 * each present feature's requested state in BASE/host.offloads (saved first)
 * with NAME as a user, then turns TSO, GSO and GRO on with one
 * ETHTOOL_SFEATURES (a device that answers no ethtool request is said and
 * left alone); logs one report line per [hostnic] (offloads = keep
 * included: their state, unchanged). A feature the device cannot change or
 * whose dependencies keep it off is reported, not an error. On failure what
 * this call changed is put back; -ENOTRECOVERABLE when some of it could not
 * be (it stays recorded for cleanup). */
int hostnic_offloads_apply(const HostRoot *hr, const VmConfig *cfg);
/* Drops NAME from every feature; a feature nobody relies on any more gets
 * its recorded requested state back. Safe after lockdown. A device that is
 * gone, or lives in another network namespace than the one recorded, is
 * said and its entry dropped (gone) or kept for a cleanup from there; one
 * whose restore fails is kept with its users for a later try. */
int hostnic_offloads_restore(const HostRoot *hr, const char *name);
/* Puts back what VMs that are no longer running left behind. */
int hostnic_offloads_replay_dead(const HostRoot *hr);

#endif
