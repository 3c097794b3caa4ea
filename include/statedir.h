/* The VM's state directory ([vm] state-dir, CONFIG.md): what a VM keeps
 * from one run to the next (UEFI variables, TPM state, the machine type
 * its guest first saw). Made for the VM's user, mode 0700, at each start
 * when missing; kvmlaunch never removes it, `cleanup` included. */
#ifndef KVMLAUNCH_STATEDIR_H
#define KVMLAUNCH_STATEDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "vmconf.h"

/* Where state dirs go by default: $KVMLAUNCH_STATEDIR, else
 * /var/lib/kvmlaunch (ROOT/var/lib/kvmlaunch under a redirected root,
 * $KVMLAUNCH_ROOT). */
const char *statedir_base(void);

/* CFG's state dir: [vm] state-dir, else BASE/NAME. Caller frees. */
char *statedir_path(const VmConfig *cfg);

typedef enum {
    STATEDIR_READY,                 /* there, as it should be */
    STATEDIR_MISSING,               /* not there yet: the run makes it */
    STATEDIR_REFUSED,               /* the run would refuse it: *why says why */
} StateDirVerdict;

/* Looks at PATH as the run will use it, changing nothing: a directory
 * reached through no symbolic link, owned by UID, mode 0700. AS_ROOT:
 * kvmlaunch runs as root (it may create anywhere); otherwise a missing
 * dir needs a parent kvmlaunch's user may write. With REFUSED, *WHY
 * (caller frees) is "expected ..., found ..."; NULL otherwise. */
StateDirVerdict statedir_inspect(const char *path, uid_t uid, bool as_root, char **why);

/* Makes PATH when missing (missing parents 0755, as kvmlaunch's user),
 * gives it to UID:GID with mode 0700 (when AS_ROOT), then opens it,
 * refusing what statedir_inspect refuses. Returns the directory's fd
 * (O_DIRECTORY, close-on-exec), or -errno, said. */
int statedir_open(const char *path, uid_t uid, gid_t gid, bool as_root);

#endif
