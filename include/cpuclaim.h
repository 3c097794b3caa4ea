/* Which CPUs the vCPUs of running VMs are pinned to, host-wide: records of
 * the journal (include/journal.h) in BASE/cpus.state (BASE =
 * runtime_base()), {"vm", "cpus", "users": [vm]}. A VM records its CPUs
 * after taking its runtime lock and before its threads are pinned, and
 * drops them when QEMU is gone; an entry whose VM is not running (its
 * runtime lock is free: a crash) is dropped by the next reader. So two
 * starts at once never get the same CPUs from `pin = auto`, and `check`
 * sees CPUs another VM pinned. */
#ifndef KVMLAUNCH_CPUCLAIM_H
#define KVMLAUNCH_CPUCLAIM_H

#include <stdbool.h>
#include <stddef.h>

#include "journal.h"
#include "values.h"

typedef struct CpuClaim {
    char *vm;                       /* owned */
    CpuList cpus;                   /* owned */
} CpuClaim;

typedef struct CpuClaims {
    CpuClaim *v;                    /* owned */
    size_t n;
} CpuClaims;

/* The claims of running VMs (a snapshot: the lock is dropped again). */
int cpuclaim_read(CpuClaims *out);
void cpuclaims_free(CpuClaims *c);
/* The union of the CPUs claimed by VMs other than EXCEPT (may be NULL). */
CpuList cpuclaims_held(const CpuClaims *c, const char *except);
/* The VM other than EXCEPT that claims CPU, or NULL. */
const char *cpuclaims_holder(const CpuClaims *c, int cpu, const char *except);

/* Choosing and claiming under one lock: begin reads the claims of running
 * VMs (CLAIMS), the caller decides, commit records NAME's CPUs (replacing an
 * entry of the same name) and drops the lock; abort only drops it. */
typedef struct CpuClaimTxn {
    Journal j;
    CpuClaims claims;
    bool locked;
} CpuClaimTxn;
int cpuclaim_begin(CpuClaimTxn *txn);
int cpuclaim_commit(CpuClaimTxn *txn, const char *name, const CpuList *cpus);
void cpuclaim_abort(CpuClaimTxn *txn);

/* Drops NAME's entry (teardown, cleanup), and those of VMs no longer
 * running; NAME NULL: only those. */
int cpuclaim_release(const char *name);

#endif
