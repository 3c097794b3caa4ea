/* Admission (issue 20): does this VM fit beside the VMs already running?
 * Pure: judged from the probed facts (hostfacts.h MemFacts, peervms.h);
 * `check` words the verdicts (launcher/cli/check.c), and a run makes the
 * same checks before it changes anything. docs/RELIABILITY.md, "Admission",
 * says how the figures were measured and what each overcommit mode means.
 *
 * Memory. What this VM takes out of the host's free memory (NEED) is its
 * guest RAM (for backing = hugepages only the pages still to reserve: the
 * rest is in the pool already, outside MemAvailable) plus QEMU's own
 * resident memory. What the host can give (LIMIT) is MemAvailable less
 * what the other running VMs may still take: each one's guest RAM (not
 * from a huge page pool) plus QEMU's overhead, less what its QEMU holds
 * resident already (that is out of MemAvailable). By vm.overcommit_memory:
 *   0 (heuristic, the kernel's default): NEED over LIMIT is refused. The
 *     kernel itself refuses only a mapping larger than RAM plus swap; one
 *     that fits there but not in MemAvailable would start and then push the
 *     host into swap or the OOM killer as the guest uses its memory.
 *   2 (strict): also CommitLimit - Committed_AS against what QEMU commits
 *     (its guest RAM but huge pages, and its own mappings, TCG's code buffer
 *     among them), whichever is tighter; over it QEMU's mmap fails.
 *   1 (always): the admin chose to overcommit: over LIMIT is a warning,
 *     unless the VM touches every page at start (prealloc, lock), which
 *     would fail or OOM at once.
 * Within 10 % of the limit is a warning. */
#ifndef KVMLAUNCH_ADMISSION_H
#define KVMLAUNCH_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hostfacts.h"
#include "peervms.h"
#include "vmconf.h"

/* QEMU's own resident memory beside the guest's RAM, measured on the
 * development host (QEMU 7.2, TCG, no KVM): VmRSS less the guest RAM
 * mapping's Rss (/proc/PID/smaps) of a booted test guest was 104 MiB with
 * 1 vCPU, 107 MiB with 2 and 108 MiB with 4 (256M and 1G of RAM alike), 38
 * MiB for a VM sitting in its BIOS. Rounded up: TCG's translated code and
 * the per-thread malloc arenas grow with what the guest runs. KVM needs
 * less (no translated code). docs/RELIABILITY.md, "Admission". */
#define ADMIT_QEMU_OVERHEAD ((uint64_t)128 << 20)
/* What strict overcommit counts beside that under TCG: QEMU 7.2 maps a
 * 1 GiB code buffer (tb-size) writable and private, whatever the guest's
 * size (its VmData was 1.37 GiB for 256M of guest RAM, 1.14 GiB for 64M). */
#define ADMIT_TCG_CODE_BUFFER ((uint64_t)1 << 30)

typedef enum {
    ADMIT_FITS,
    ADMIT_NEAR,                     /* fits, with less than 10 % of the limit to spare: WARN */
    ADMIT_OVER,                     /* FAIL */
    ADMIT_OVERCOMMITTED,            /* over, but overcommit_memory = 1 and nothing touches every page at start: WARN */
    ADMIT_UNKNOWN,                  /* no MemAvailable: not counted, WARN */
} AdmitLevel;

typedef struct MemAsk {
    uint64_t guest;                 /* guest RAM out of free memory: MEMORY, or for hugepages the pages still to reserve */
    uint64_t overhead;              /* ADMIT_QEMU_OVERHEAD */
    uint64_t commit;                /* what strict overcommit counts: guest RAM but huge pages, the overhead, TCG's code buffer */
    uint64_t hugepages_to_reserve;  /* bytes, part of GUEST (backing = hugepages) */
    bool touches_all;               /* prealloc or lock: every page at start */
} MemAsk;

typedef struct MemVerdict {
    AdmitLevel level;
    uint64_t need;                  /* compared with LIMIT */
    uint64_t limit;
    uint64_t others;                /* what the other running VMs may still take */
    size_t n_others;                /* how many running VMs count (those whose /proc was read) */
    bool by_commit;                 /* LIMIT is CommitLimit - Committed_AS (overcommit_memory = 2) */
} MemVerdict;

/* What CFG asks. TCG: QEMU runs under TCG (its code buffer counts for
 * strict overcommit). FREE_HUGEPAGES: the free pages of the pools it uses
 * (backing = hugepages; the pages it needs beyond them are reserved at
 * start when reserve-hugepages = yes, else the plan refuses it already). */
MemAsk admission_memory_ask(const VmConfig *cfg, bool tcg, uint64_t free_hugepages);
/* What a running VM may still take out of MemAvailable. */
uint64_t admission_peer_outstanding(const PeerVm *vm);
void admission_memory(const MemAsk *ask, const MemFacts *m, const PeerVms *peers, MemVerdict *out);

/* The running VM whose QEMU holds the file ST names (stat of a disk file)
 * so that QEMU's image locks would clash: WRITABLE here and any use there,
 * or any use here and writable there (a writer takes the "write" lock, and
 * a reader, as QEMU opens it without share-rw, refuses to share writing).
 * Two readers share. *THERE_WRITABLE: how the holder has it open. NULL
 * when none. */
const PeerVm *admission_disk_holder(const PeerVms *peers, const struct stat *st, bool writable, bool *there_writable);

#endif
