/* The fastest path to a working guest, and its timeline (issue 18).
 *
 * Plan side (pure): what kvmlaunch adds to QEMU's argv for a quicker boot
 * (launcher/plan/qemucmd_boot.c). Run side: the boot timeline of every run,
 * from kvmlaunch's exec through QMP up and cont to the first byte on the
 * serial console and the guest's init (the kernel's "Run /init as init
 * process" line, or a line holding BOOT_READY_MARK that the guest prints
 * itself), kept by the supervisor in RUNDIR/boot.json for `status` and
 * `metrics`, logged with -v, and held against [vm] boot-budget
 * (launcher/vm/boottime.c). */
#ifndef KVMLAUNCH_BOOTTIME_H
#define KVMLAUNCH_BOOTTIME_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostfacts.h"
#include "strvec.h"
#include "vmconf.h"

/* ---- plan (pure) ---- */

/* The host's TSC rate in kHz from a /proc/cpuinfo text: its first "cpu MHz"
 * where the flags say the TSC is constant and nonstop (else that figure is
 * the clock of the moment, not the TSC's). 0 when it cannot say. */
unsigned bootfacts_parse_tsc_khz(const char *cpuinfo);
/* The same from the host (hostfacts_probe_in). */
unsigned bootfacts_probe_tsc_khz(const HostRoot *hr);

/* -append for [vm] append, with what the boot needs added: under TCG a
 * microvm guest has no HPET or ACPI PM timer to calibrate its TSC against,
 * and a PIT calibration that fails on a loaded host leaves it hung
 * ("tsc: Unable to calibrate against PIT"); tsc_early_khz= (the host's TSC
 * rate: TCG's guest TSC is the host's) skips that calibration. Pushes
 * nothing without a kernel. */
void qemucmd_boot_append(const VmConfig *cfg, const HostFacts *facts, bool kvm, StrVec *argv);
/* Whether a PCI virtio NIC goes without its option ROM (romfile=""): with a
 * direct kernel boot no firmware ever runs its iPXE. */
bool qemucmd_boot_rom_off(const VmConfig *cfg, bool pci);

/* ---- run ---- */

#define BOOT_STATE_FILE "boot.json"
/* A guest whose kernel is quiet can print this line itself once it is up. */
#define BOOT_READY_MARK "KVMLAUNCH-READY"
#define BOOT_INIT_MARK " as init process"

typedef struct BootTimeline {
    int64_t start_us;               /* monotonic: kvmlaunch's start (its exec) */
    int64_t qmp_us, cont_us;        /* QMP answered; cont answered */
    int64_t serial_us, init_us;     /* the first byte on the console; the init line; 0: not yet */
    bool relayed;                   /* kvmlaunch sees the console (serial is not none) */
    char tail[24];                  /* the output's last bytes: a mark split across reads */
    size_t tail_len;
    int dir_fd;                     /* the runtime dir, for boot.json; -1: none */
    uint64_t budget_ms;             /* [vm] boot-budget; 0: none */
    int action;                     /* BOOT_BUDGET_WARN or _FAIL */
    bool budget_missed;
    bool budget_told;               /* the deadline passed and was reported */
} BootTimeline;

void boottime_init(BootTimeline *b, const VmConfig *cfg, int64_t start_us, int64_t qmp_us, int64_t cont_us, bool relayed, int dir_fd);
/* Guest output as the relay reads it (the relay's hook: ARG is the
 * BootTimeline). Marks the first byte and the init line. */
void boottime_output(void *arg, const char *data, size_t n);
/* The monotonic ms by which the init line must come, or -1 (no budget,
 * seen, or told already). */
int64_t boottime_deadline_ms(const BootTimeline *b);
/* At or past the deadline: warns, or errors; returns true when the VM
 * must be stopped (boot-budget-action = fail). */
bool boottime_budget_passed(BootTimeline *b);
/* The timeline as status and metrics show it: ms from kvmlaunch's start,
 * null where not reached. */
json_object *boottime_json(const BootTimeline *b);
/* RUNDIR/boot.json of NAME, or NULL when it has none. */
json_object *boottime_load(const char *name);

#endif
