/* The VM's UEFI firmware as QEMU gets it (include/firmware.h): the code
 * read-only, and its own vars store in the state dir, copied once from
 * the template and kept from then on. launcher/vm/fwvars.c. */
#ifndef KVMLAUNCH_FWVARS_H
#define KVMLAUNCH_FWVARS_H

#include "spawn.h"
#include "vmconf.h"

/* The largest vars template read: OVMF's 4M vars are 540 KiB. */
#define FWVARS_MAX (UINT64_C(16) << 20)

/* As ID (QEMU's user): opens the code read-only into *CODE_FD and, with a
 * vars template, the vars store FIRMWARE_VARS_FILE in the state dir
 * (DIR_FD, named DIR in messages) read-write into *VARS_FD, after copying
 * the template there when the store is not there yet: through a
 * temporary file, fsync and a rename that never replaces, mode 0600, so
 * a crash leaves either no store or a whole one, and a store the guest
 * wrote is never overwritten. *CODE_FD and *VARS_FD are -1 where there is
 * nothing; on failure both are closed and -errno is returned, logged. */
int fwvars_open(const VmSection *vm, const SpawnIdentity *id, int dir_fd, const char *dir, int *code_fd, int *vars_fd);

#endif
