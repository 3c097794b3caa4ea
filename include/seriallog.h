/* The serial log: the one file on the host that the guest writes. It is
 * opened by kvmlaunch, which writes the guest's console into it (QEMU never
 * sees the path nor the file: serialrelay.h), as is its one old copy
 * PATH.1, with the identity QEMU gets ([vm] user), through no symbolic
 * link in any component, in a directory no third user can write, and only
 * as a regular file. `check` asks the same questions without creating it;
 * the run opens it. The rules, in full:
 *
 * - every component of the path is a real directory and the log itself no
 *   symbolic link (openat2 RESOLVE_NO_SYMLINKS), also as root;
 * - with [vm] user (kvmlaunch as root), the directory is reached, and the
 *   log created or opened for appending, as that user (fsuid/fsgid, the
 *   supplementary groups QEMU gets, no capabilities): what it cannot write is
 *   refused, as QEMU would be refused;
 * - the directory belongs to root or to that user and neither its group
 *   nor others may write it (a sticky world-writable /tmp is refused too:
 *   another user can still take the name first; group-writable is refused
 *   whoever is in the group, and an ACL granting writes shows there);
 * - not in a kernel filesystem (proc, sysfs, ...), no device, FIFO or
 *   directory;
 * - kvmlaunch as root without [vm] user (QEMU runs as root): opened as
 *   root, with no symbolic link, and no rule on the directory;
 * - kvmlaunch not root: as itself, with the directory rule for its uid;
 * - the default log, serial.log in the VM's runtime dir, is opened by
 *   kvmlaunch inside that dir (its own, mode 0700, checked when taken). */
#ifndef KVMLAUNCH_SERIALLOG_H
#define KVMLAUNCH_SERIALLOG_H

#include <pwd.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum {
    SERIALLOG_OK,
    SERIALLOG_NO_DIR,               /* the directory is missing, or no directory */
    SERIALLOG_SYMLINK,              /* a symbolic link on the way */
    SERIALLOG_DIR_DENIED,           /* the user cannot reach the directory */
    SERIALLOG_KERNEL_FS,            /* proc, sysfs...: a write there is a command */
    SERIALLOG_SHARED_DIR,           /* another user may write the directory */
    SERIALLOG_NOT_FILE,             /* there, and no regular file */
    SERIALLOG_DENIED,               /* the user cannot create or write it */
} SerialLogFault;

typedef struct SerialLog {
    /* What to open, and as whom (seriallog_init/_private fill these). */
    const char *path;               /* absolute; the log is its last component */
    int dir_fd;                     /* >= 0: the directory, already open (the runtime dir) */
    bool create;                    /* the run: create it and keep it open; else only look */
    bool change_id;                 /* as uid/gid, not as kvmlaunch */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;            /* with change_id: QEMU's supplementary groups */
    size_t n_groups;
    bool any_dir;                   /* no rule on the directory (QEMU as root) */
    const char *who;                /* the user, for messages */
    /* What was found. */
    SerialLogFault fault;
    int err;                        /* errno of the failed step, 0 when none */
    bool existed;                   /* the log was there */
    struct stat st;                 /* the directory (SHARED_DIR) or what is at the path (NOT_FILE) */
} SerialLog;

/* For PATH as the run will open it: as USER (PW, found by the caller)
 * when kvmlaunch runs as root and USER is set; as root with no rule on
 * the directory when USER is not set; as kvmlaunch's own user otherwise. */
void seriallog_init(SerialLog *l, const char *path, const char *user, const struct passwd *pw, bool running_as_root);
/* QEMU's supplementary groups (HostFacts.qemu_groups; not copied), taken
 * with the user's ids. */
void seriallog_set_groups(SerialLog *l, const gid_t *groups, size_t n_groups);
/* For the default log, PATH (BASE/NAME/serial.log) inside the runtime dir
 * DIR_FD, which kvmlaunch took as its own. */
void seriallog_init_private(SerialLog *l, const char *path, int dir_fd);

/* Looks at the log (l->create false): 0 when it would open; or opens it
 * (l->create true): the descriptor, for appending and reading. -errno with l->fault
 * set when refused; nothing is created then. */
int seriallog_open(SerialLog *l);

/* Why L was refused, as "expected ..., found ..." (or "USER cannot ...");
 * caller frees. */
char *seriallog_why(const SerialLog *l);

/* Why a directory with stat DIR is one that a user other than root and
 * UID may write, or NULL when it is not. Pure. */
const char *seriallog_dir_shared(const struct stat *dir, uid_t uid);

/* Opens the absolute PATH (FLAGS, close-on-exec added; no O_CREAT) without
 * following a symbolic link anywhere on the way: openat2 with
 * RESOLVE_NO_SYMLINKS, or where that is missing a walk with O_NOFOLLOW at
 * each component. Returns the fd, or -1 with errno (ELOOP: a symlink).
 * The share's directory is opened this way too (virtiofsd.c). */
int open_no_symlinks(const char *path, int flags);

#endif
