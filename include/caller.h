/* Who asked for this run, and reading VM.INI as them (docs/SECURITY.md,
 * "Under sudo"). kvmlaunch runs as root to prepare the host; the VM
 * definition alone is read with the identity of the user root acts for,
 * so `sudo kvmlaunch check /etc/shadow` cannot show a file that user
 * could not read. Everything else a run does stays root's work. */
#ifndef KVMLAUNCH_CALLER_H
#define KVMLAUNCH_CALLER_H

#include <stdbool.h>
#include <sys/types.h>

#include "vmconf.h"

typedef struct Caller {
    bool other;                     /* root acts for another user: read as them */
    bool sudo;                      /* ... named by SUDO_UID (else: a set-uid root start) */
    uid_t uid;
    gid_t gid;
    char *name;                     /* owned: the user's name, or "uid N" */
    gid_t *groups;                  /* owned: their supplementary groups */
    int n_groups;
} Caller;

/* Fills C: other is true when the process is root (effective uid 0) and
 * either its real uid is another user's (a set-uid install), or its real
 * uid is 0 and SUDO_UID names a user other than root (sudo, run0). The
 * variable is trusted because only root's own environment can carry it
 * into a root process, and all it can do is take rights away. */
void caller_identify(Caller *c);
void caller_free(Caller *c);

/* Opens the VM definition PATH read-only (O_NONBLOCK, close-on-exec) as
 * the caller: with their fsuid, fsgid and supplementary groups and no
 * effective capabilities, in a short-lived thread (credentials are per
 * thread in Linux), so the kernel answers as it would them. Without
 * another caller, a plain open. Returns the fd, or -errno with one
 * message in ERRORS naming the file (and the user, under sudo). */
int caller_open_config(const char *path, ErrList *errors);

/* Opens PATH read-only (O_NONBLOCK, close-on-exec) as the caller, as
 * caller_open_config does, for the other files a user's vm.ini makes
 * kvmlaunch read into the guest ([cloud-init]'s keys and user-data).
 * Returns the fd or -errno; *WHO (caller frees; NULL when kvmlaunch acts
 * for no other user) names the user it was opened as, for messages. */
int caller_open_file(const char *path, char **who);

/* Opens the directory PATH with O_PATH, following no symbolic link on
 * the way (open_no_symlinks), as the caller when kvmlaunch acts for
 * another user (as caller_open_file does), else as itself: a [share]'s
 * directory, which virtiofsd then serves as root from this very fd, so a
 * path swapped after the open changes nothing. Returns the fd or -errno
 * (-ELOOP: a symlink on the way); *WHO as caller_open_file says. */
int caller_open_dir(const char *path, char **who);

/* A run that failed before QEMU was up, by a plain user (not root, no
 * effective capabilities): says once that preparing the host needs root.
 * Such a run is not refused up front: a non-root start with the
 * capabilities it needs (or a delegated cgroup) is a way kvmlaunch runs,
 * and a user without either changes nothing on the host before it fails. */
void caller_explain_unprivileged(void);

#endif
