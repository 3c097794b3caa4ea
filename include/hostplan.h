/* The host side of a VM: what kvmlaunch reads of the host (HostState), the
 * writes it plans from that and vm.ini (HostPlan, pure), and applying them
 * with a journal so every one is undone when the VM ends or after a crash. */
#ifndef KVMLAUNCH_HOSTPLAN_H
#define KVMLAUNCH_HOSTPLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "hostroot.h"
#include "vmconf.h"

/* A kernel file as it was read: VALUE is what writing back restores (for
 * "always [madvise] never" that is "madvise"), OFFERED the words the
 * kernel accepts where it lists them. */
typedef struct Knob {
    char *path;                     /* owned */
    char *value;                    /* owned; NULL when the file is missing */
    char **offered;                 /* owned, NULL-terminated; NULL when not a list */
    int error;                      /* -errno of the read, 0 when read */
} Knob;

typedef struct HugePool {
    int node;                       /* -1: the host-wide pool */
    Knob nr;                        /* nr_hugepages */
    uint64_t free;                  /* free_hugepages */
} HugePool;

typedef struct HostState {
    Knob thp, thp_defrag, ksm_run, ksm_merge, ksm_pages, ksm_sleep, zone_reclaim;
    HugePool *pools;                /* owned: one per node in [memory] nodes, or the host-wide one */
    size_t n_pools;
    Knob *disk_sched;               /* owned: one per [disk]; path NULL when no block device holds the file */
    size_t n_disks;
    CpuList nodes_online;           /* owned: /sys/devices/system/node/online */
    CpuList nodes_with_memory;      /* owned: has_memory (online when the kernel lacks the file) */
    bool nodes_known;               /* the node files were read */
    char *hugetlbfs_mount;          /* owned: with hugepage-path, the hugetlbfs mount of that page size, or NULL */
    char *mounts;                   /* owned: /proc/mounts as read, NULL when unreadable */
} HostState;

typedef struct HostChange {
    char *path;                     /* owned */
    char *old;                      /* owned: written back on restore */
    char *new;                      /* owned */
    char *why;                      /* owned */
    bool already;                   /* the knob has the value already; planned to hold it */
    bool additive;                  /* a pool grown by each VM: new is computed when applied */
    uint64_t add;                   /* with additive: how many pages this VM adds */
    char *prep_path, *prep_value;   /* owned, optional: written before this change and before its restore */
} HostChange;

typedef struct HostPlan {
    HostChange *c;                  /* owned */
    size_t n;
} HostPlan;

/* The value of a kernel file as writing it back restores it: the bracketed
 * word of a list file ("always [madvise] never" -> "madvise"), else the
 * first line. */
int knob_read_value(const HostRoot *hr, const char *path, char **value);

/* Reads what the plan needs. Missing files are recorded, not fatal. */
void hoststate_probe(const HostRoot *hr, const VmConfig *cfg, HostState *st);
void hoststate_free(HostState *st);

/* Pure: the writes vm.ini asks for, given the host as it is. Impossible
 * asks (a scheduler the kernel lacks, too few free huge pages without
 * reserve-hugepages, a knob the kernel lacks) are file:line errors. */
int hostplan_build(const VmConfig *cfg, const HostState *st, HostPlan *plan, ErrList *errors, ErrList *notes);
void hostplan_free(HostPlan *plan);
/* Appends a change to PLAN (strings copied); for the planners of each part. */
HostChange *hostplan_add(HostPlan *plan, const char *path, const char *old, const char *new, const char *why);
/* "path: old -> new (why)" lines for --dry-run. Caller frees. */
char *hostplan_render(const HostPlan *plan);

/* The host-wide state file under the run dir (BASE/host.state) and the
 * member holding its array of knobs: {"path", "original", "value", "users",
 * and "prep_path"/"prep_value" where a change needs one}. */
#define HOSTPLAN_STATE_FILE "host.state"
#define HOSTPLAN_STATE_KEY "knobs"

/* Applies PLAN for VM NAME. The journal (include/journal.h) records each
 * knob's original value and the VMs relying on it in BASE/host.state,
 * saved before the knob is written. On failure everything this call
 * changed is undone and the error names the file; -ENOTRECOVERABLE when
 * some of it could not be put back (it stays recorded for cleanup). */
int hostplan_apply(const HostRoot *hr, const char *name, const HostPlan *plan);
/* Drops NAME from every knob it relies on; a knob no running VM relies on
 * any more gets its original value back, in reverse order. A knob whose
 * original cannot be written back keeps its record and users: `kvmlaunch
 * cleanup` or the next start tries again (said). */
int hostplan_restore(const HostRoot *hr, const char *name);
/* Restores what VMs that are no longer running left behind. */
int hostplan_replay_dead(const HostRoot *hr);

#endif
