/* `kvmlaunch check vm.ini` (as virt-host-validate, for one VM): one
 * PASS/WARN/FAIL line per need, judged from what load, probe and plan found
 * (include/vmplan.h) plus the few looks that need no change to the host:
 * the disk files opened as QEMU's user, an O_DIRECT open for cache=none,
 * the emulator's version. A run makes the same checks first and refuses
 * to start on a FAIL. */
#ifndef KVMLAUNCH_CHECK_H
#define KVMLAUNCH_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "vmplan.h"

typedef enum { CHECK_PASS, CHECK_WARN, CHECK_FAIL } CheckLevel;

typedef struct CheckItem {
    CheckLevel level;
    const char *topic;              /* static: "cpus", "hugepages", "kvm", ... */
    char *msg;                      /* owned; "FILE:LINE: [section] key: ..." when about a key */
} CheckItem;

typedef struct CheckReport {
    CheckItem *v;                   /* owned */
    size_t n;
    size_t fails, warns;
} CheckReport;

/* Judges CFG against the host as P found it. WITH_VERSION runs the emulator
 * once (`-version`): `check` does, a run does not (QEMU says soon enough). */
void check_vm(const VmConfig *cfg, const VmPlan *p, bool with_version, CheckReport *out);
void check_report_free(CheckReport *r);
/* "PASS  cpus       ..." lines. */
void check_report_print(FILE *f, const CheckReport *r);

/* The topic a plan message is about, from the section and key it names. */
const char *check_topic_of(const ErrEntry *e);

#endif
