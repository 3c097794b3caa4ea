/* Stable machine types ([vm] machine, issue 21). QEMU's q35 and pc are
 * aliases of its newest versioned type (q35 = pc-q35-7.2 in QEMU 7.2), and
 * an upgraded QEMU moves them: the guest would see other hardware (PCI
 * layout, ACPI tables, defaults). So the alias is resolved once, at the
 * VM's first start, from `QEMU -machine help` ("q35 ... (alias of
 * pc-q35-7.2)"), and the versioned type is recorded in the VM's state dir
 * (STATE/machine, one line, replaced through a temporary file and a
 * rename); every later start reads it and runs that type, with no QEMU run
 * to ask. A versioned type in vm.ini is taken as is and the record is
 * neither read nor written. To move on deliberately: write the new
 * versioned type in vm.ini, or remove STATE/machine (the next start
 * records what the alias points at then). `check` warns when the recorded
 * type is no longer offered by this QEMU. */
#ifndef KVMLAUNCH_MACHINETYPE_H
#define KVMLAUNCH_MACHINETYPE_H

#include <stdbool.h>

#include "vmconf.h"

#define MACHINE_STATE_FILE "machine"

typedef enum {
    MACHINE_AS_WRITTEN,             /* microvm, a versioned type, or an alias QEMU could not resolve */
    MACHINE_RECORDED,               /* the state dir's record */
    MACHINE_RESOLVED,               /* resolved now (first start): the run records it */
    MACHINE_RECORD_BAD,             /* the record cannot be read or is garbled: the plan refuses to guess */
} MachineSource;

/* For CFG: *TYPE (caller frees; NULL: as written) and *SOURCE. An alias
 * reads the state dir's record; without one, asks QEMU_BINARY (a path)
 * once. Reads only. */
void machinetype_probe(const VmConfig *cfg, const char *qemu_binary, char **type, int *source);

/* What `BINARY -machine help` prints (run as kvmlaunch's user, clean
 * environment, at most a few seconds), or NULL. Caller frees. */
char *machinetype_help(const char *binary);
/* Pure: the versioned type ALIAS is an alias of in HELP, or NULL. Caller frees. */
char *machinetype_alias_target(const char *help, const char *alias);
/* Pure: whether HELP lists NAME. */
bool machinetype_offered(const char *help, const char *name);
/* Pure: NAME could be a machine type QEMU names (letters, digits, . _ -). */
bool machinetype_name_ok(const char *name);

/* The record in the state dir STATE_PATH: 1 with *type (caller frees),
 * 0 when there is none, -errno (said) when it cannot be read or holds no
 * type. */
int machinetype_read(const char *state_path, char **type);
/* Writes TYPE into the state dir STATE_FD (temporary file, rename). */
int machinetype_write(int state_fd, const char *type);

#endif
